/*
 * A bounded hand-over of byte chunks from one thread to another, so
 * that reading gpg's output (and feeding it ciphertext) never waits on
 * decompression or on zfs receive: on two cores gpg, the decompressor
 * and the receiver then all make progress at once.  The producer copies
 * each chunk into a free slot; the consumer's function is called with
 * each chunk, in order, on its own thread.  Once the consumer refuses a
 * chunk, every later push is refused too.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "airgap-agent.h"

struct slot {
	unsigned char *data;
	size_t len;
};

struct relay {
	byte_sink fn;
	void *arg;
	struct slot *slots;
	size_t nslots;
	size_t cap;       /* bytes per slot */
	size_t head;      /* next slot to consume */
	size_t count;     /* slots filled */
	int closed;       /* no more input */
	int refused;      /* the consumer said stop */
	pthread_mutex_t lock;
	pthread_cond_t changed;
	pthread_t thread;
};

static void *
relay_loop(void *arg)
{
	struct relay *r = arg;

	pthread_mutex_lock(&r->lock);
	for (;;) {
		struct slot *s;
		int rc;

		while (r->count == 0 && !r->closed)
			pthread_cond_wait(&r->changed, &r->lock);
		if (r->count == 0)
			break;
		s = &r->slots[r->head];
		pthread_mutex_unlock(&r->lock);
		rc = r->refused ? -1 : r->fn(r->arg, s->data, s->len);
		pthread_mutex_lock(&r->lock);
		if (rc == -1)
			r->refused = 1;
		r->head = (r->head + 1) % r->nslots;
		r->count--;
		pthread_cond_broadcast(&r->changed);
	}
	pthread_mutex_unlock(&r->lock);
	return NULL;
}

struct relay *
relay_start(byte_sink fn, void *arg, size_t nslots, size_t cap)
{
	struct relay *r = xcalloc(1, sizeof *r);
	size_t i;

	r->fn = fn;
	r->arg = arg;
	r->nslots = nslots;
	r->cap = cap;
	r->slots = xcalloc(nslots, sizeof *r->slots);
	for (i = 0; i < nslots; i++)
		r->slots[i].data = xmalloc(cap);
	pthread_mutex_init(&r->lock, NULL);
	pthread_cond_init(&r->changed, NULL);
	if (pthread_create(&r->thread, NULL, relay_loop, r) != 0)
		fatal("pthread_create");
	return r;
}

/* Queues a copy of B; waits for a free slot.  -1 once the consumer has
 * refused a chunk. */
int
relay_push(struct relay *r, const void *b, size_t n)
{
	const unsigned char *c = b;

	while (n > 0) {
		size_t take = n < r->cap ? n : r->cap;
		struct slot *s;

		pthread_mutex_lock(&r->lock);
		while (r->count == r->nslots && !r->refused)
			pthread_cond_wait(&r->changed, &r->lock);
		if (r->refused) {
			pthread_mutex_unlock(&r->lock);
			return -1;
		}
		s = &r->slots[(r->head + r->count) % r->nslots];
		pthread_mutex_unlock(&r->lock);
		/* Only this thread fills slots, and the consumer does not
		 * touch a slot before count says it is there. */
		memcpy(s->data, c, take);
		s->len = take;
		pthread_mutex_lock(&r->lock);
		r->count++;
		pthread_cond_broadcast(&r->changed);
		pthread_mutex_unlock(&r->lock);
		c += take;
		n -= take;
	}
	return 0;
}

/* Waits until every queued chunk was consumed, ends the thread, and
 * says whether the consumer took everything (0) or refused (-1). */
int
relay_finish(struct relay *r)
{
	int refused;
	size_t i;

	if (r == NULL)
		return 0;
	pthread_mutex_lock(&r->lock);
	r->closed = 1;
	pthread_cond_broadcast(&r->changed);
	pthread_mutex_unlock(&r->lock);
	pthread_join(r->thread, NULL);
	refused = r->refused;
	for (i = 0; i < r->nslots; i++)
		free(r->slots[i].data);
	free(r->slots);
	pthread_mutex_destroy(&r->lock);
	pthread_cond_destroy(&r->changed);
	free(r);
	return refused ? -1 : 0;
}
