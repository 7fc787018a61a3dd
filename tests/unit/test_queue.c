/* Queue file names: what is accepted, what is refused, and order; and
 * what happens to a file that leaves the queue: removed or quarantined
 * only where it was found (not through a host folder swapped for a
 * symbolic link), never overwriting an earlier quarantined file, never
 * blocking on a FIFO. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "airgap-agent.h"
#include "unit.h"

static int
parse(const char *host, const char *name, struct queue_name *q)
{
	const char *why = NULL;

	return queue_parse_name(host, name, q, &why);
}

static void
test_good(void)
{
	struct queue_name q;

	CHECK(parse("laptop", "bakfsfmt2-1700000000.123456789.4242_laptop@tank@fs",
	    &q) == 0);
	CHECK(strcmp(q.dest, "laptop/tank/fs") == 0);
	CHECK(strcmp(q.host, "laptop") == 0);
	CHECK(q.seconds == 1700000000 && q.nanos == 123456789 && q.pid == 4242);
	CHECK(q.dest_alt[0] == '\0');
	/* the processing script's spelling */
	CHECK(parse("laptop", "backupsfmt2-1.2.3_laptop@rpool@ROOT@debian", &q) == 0);
	CHECK(strcmp(q.dest, "laptop/rpool/ROOT/debian") == 0);
	/* dataset names may hold _ - . : */
	CHECK(parse("laptop", "bakfsfmt2-1.2.3_laptop@tank@a_b-c.d:e", &q) == 0);
}

static void
test_nncp_suffix(void)
{
	struct queue_name q;

	CHECK(parse("laptop", "bakfsfmt2-1.2.3_laptop@tank@fs.0", &q) == 0);
	CHECK(strcmp(q.dest, "laptop/tank/fs.0") == 0);
	CHECK(strcmp(q.dest_alt, "laptop/tank/fs") == 0);
	CHECK(parse("laptop", "bakfsfmt2-1.2.3_laptop@tank@fs.12", &q) == 0);
	CHECK(strcmp(q.dest_alt, "laptop/tank/fs") == 0);
	CHECK(parse("laptop", "bakfsfmt2-1.2.3_laptop@tank@fs.x1", &q) == 0);
	CHECK(q.dest_alt[0] == '\0');
}

static void
test_bad(void)
{
	const char *bad[] = {
		"bakfsfmt2-1.2.3_laptop@..@x",
		"bakfsfmt2-1.2.3_laptop@.@x",
		"bakfsfmt2-1.2.3_laptop@tank@@fs",
		"bakfsfmt2-1.2.3_laptop@tank@-fs",
		"bakfsfmt2-1.2.3_laptop@tank@fs;touch x",
		"bakfsfmt2-1.2.3_laptop@tank@$(id)",
		"bakfsfmt2-1.2.3_laptop@tank@`id`",
		"bakfsfmt2-1.2.3_laptop@tank@a b",
		"bakfsfmt2-1.2.3_laptop@tank@fs\n",
		"bakfsfmt2-1.2.3_other@tank@fs",
		"bakfsfmt2-1.2.3_laptop",
		"bakfsfmt2-1.2.3_laptop@",
		"bakfsfmt2-1.2.3_",
		"bakfsfmt2-1.2_laptop@tank@fs",
		"bakfsfmt2-x.2.3_laptop@tank@fs",
		"bakfsfmt2-1.1234567890.3_laptop@tank@fs",
		"bakfsfmt2-123456789012345678901.2.3_laptop@tank@fs",
		"bakfsfmt2-9999999999999999999.2.3_laptop@tank@fs",
		"nncpfile0123456789abcdef",
		"",
		NULL
	};
	struct queue_name q;
	char big[400];
	int i;

	for (i = 0; bad[i] != NULL; i++) {
		int rc = parse("laptop", bad[i], &q);

		if (rc != -1)
			fprintf(stderr, "accepted: %s\n", bad[i]);
		CHECK(rc == -1);
	}
	memset(big, 'a', sizeof big);
	memcpy(big, "bakfsfmt2-1.2.3_laptop@", 23);
	big[sizeof big - 1] = '\0';
	CHECK(parse("laptop", big, &q) == -1);
}

static void
test_names(void)
{
	const char *why;

	CHECK(queue_is_candidate("bakfsfmt2-1"));
	CHECK(queue_is_candidate("backupsfmt2-1"));
	CHECK(!queue_is_candidate("nncpfile1234"));
	CHECK(queue_valid_host("laptop-2.example"));
	CHECK(!queue_valid_host("-x"));
	CHECK(!queue_valid_host(".."));
	CHECK(!queue_valid_host("a/b"));
	CHECK(!queue_valid_host(""));
	CHECK(queue_valid_dataset("simplesnap", &why) == 0);
	CHECK(queue_valid_dataset("a/b/c", &why) == 0);
	CHECK(queue_valid_dataset("/a", &why) == -1);
	CHECK(queue_valid_dataset("a/", &why) == -1);
	CHECK(queue_valid_dataset("a@b", &why) == -1);
}

static void
test_order(void)
{
	struct queue_file files[4];
	struct queue q = { .files = files, .nfiles = 4 };
	const char *names[4] = {
		"bakfsfmt2-20.1.1_h@fs", "bakfsfmt2-10.500000000.1_h@fs",
		"bakfsfmt2-10.2.1_h@fs", "bakfsfmt2-9.999999999.1_h@fs"
	};
	int i;

	memset(files, 0, sizeof files);
	for (i = 0; i < 4; i++) {
		files[i].path = (char *)names[i];
		CHECK(parse("h", names[i], &files[i].qn) == 0);
	}
	queue_sort(&q);
	CHECK(files[0].qn.seconds == 9);
	CHECK(files[1].qn.seconds == 10 && files[1].qn.nanos == 2);
	CHECK(files[2].qn.seconds == 10 && files[2].qn.nanos == 500000000);
	CHECK(files[3].qn.seconds == 20);
}

static void
put(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	CHECK(f != NULL);
	if (f != NULL) {
		fputs(text, f);
		fclose(f);
	}
}

/* A lab: ROOT/incoming/laptop/ and ROOT/state/; F is NAME in it. */
struct qlab {
	char root[64];
	char *incoming, *state, *host;
	struct queue_file f;
};

static void
qlab_init(struct qlab *l, const char *tmp, const char *state_top)
{
	snprintf(l->root, sizeof l->root, "%s/test_queue.XXXXXX", tmp);
	CHECK(mkdtemp(l->root) != NULL);
	l->incoming = xasprintf("%s/incoming", l->root);
	l->host = xasprintf("%s/laptop", l->incoming);
	if (state_top == NULL)
		l->state = xasprintf("%s/state", l->root);
	else {
		l->state = xasprintf("%s/test_queue_state.XXXXXX", state_top);
		CHECK(mkdtemp(l->state) != NULL);
	}
	CHECK(mkdir(l->incoming, 0700) == 0 && mkdir(l->host, 0700) == 0);
	CHECK(state_top != NULL || mkdir(l->state, 0700) == 0);
	memset(&l->f, 0, sizeof l->f);
	l->f.root = l->incoming;
	l->f.host = "laptop";
}

static void
qlab_file(struct qlab *l, const char *name, const char *text)
{
	char *p = xasprintf("%s/%s", l->host, name);

	free(l->f.path);
	l->f.name = (char *)name;
	l->f.path = xasprintf("%s/%s", l->host, name);
	if (text != NULL)
		put(p, text);
	free(p);
}

static void
qlab_free(struct qlab *l)
{
	char *cmd = xasprintf("rm -rf '%s' '%s'", l->root, l->state);

	CHECK(system(cmd) == 0);
	free(cmd);
	free(l->incoming);
	free(l->state);
	free(l->host);
	free(l->f.path);
}

/* In quarantine/laptop/ of the lab: NAME holds TEXT. */
static int
quarantined(const struct qlab *l, const char *name, const char *text)
{
	char *p = xasprintf("%s/quarantine/laptop/%s", l->state, name);
	int ok = access(p, F_OK) == 0 && strcmp(unit_slurp(p), text) == 0;

	free(p);
	return ok;
}

/* "A.reason" and then "A": the second must not overwrite the first
 * (its data, taken for A's reason) nor its reason. */
static void
test_quarantine_names(void)
{
	char *p;
	struct qlab l;
	int i;

	qlab_init(&l, "/tmp", NULL);
	qlab_file(&l, "bakfsfmt2-1.1.1_laptop@x.reason", "first file\n");
	CHECK(queue_quarantine(l.state, &l.f, "first reason") == 0);
	qlab_file(&l, "bakfsfmt2-1.1.1_laptop@x", "second file\n");
	CHECK(queue_quarantine(l.state, &l.f, "second reason") == 0);
	CHECK(quarantined(&l, "bakfsfmt2-1.1.1_laptop@x", "second file\n"));
	CHECK(quarantined(&l, "bakfsfmt2-1.1.1_laptop@x.reason",
	    "second reason\nfile: bakfsfmt2-1.1.1_laptop@x\n"));
	CHECK(quarantined(&l, "bakfsfmt2-1.1.1_laptop@x.reason.q1",
	    "first file\n"));
	CHECK(quarantined(&l, "bakfsfmt2-1.1.1_laptop@x.reason.q1.reason",
	    "first reason\nfile: bakfsfmt2-1.1.1_laptop@x.reason\n"));
	/* NAME, NAME.q1 ... NAME.q999 taken: NAME.q1000, nothing replaced */
	for (i = 0; i < 1000; i++) {
		p = i ? xasprintf("%s/quarantine/laptop/B.q%d", l.state, i) :
		    xasprintf("%s/quarantine/laptop/B", l.state);
		put(p, "old\n");
		free(p);
	}
	qlab_file(&l, "B", "new\n");
	CHECK(queue_quarantine(l.state, &l.f, "again") == 0);
	CHECK(quarantined(&l, "B.q1000", "new\n"));
	CHECK(quarantined(&l, "B.q999", "old\n"));
	CHECK(quarantined(&l, "B", "old\n"));
	qlab_free(&l);
}

/* The host folder replaced by a symbolic link to a victim folder after
 * the scan: neither removing nor quarantining touches the victim. */
static void
test_swapped_host(void)
{
	struct qlab l;
	char *victim, *vfile, *moved;

	qlab_init(&l, "/tmp", NULL);
	qlab_file(&l, "bakfsfmt2-1.1.1_laptop@fs", "queued\n");
	victim = xasprintf("%s/victim", l.root);
	vfile = xasprintf("%s/%s", victim, l.f.name);
	CHECK(mkdir(victim, 0700) == 0);
	put(vfile, "victim\n");
	moved = xasprintf("%s/moved", l.root);
	CHECK(rename(l.host, moved) == 0);
	CHECK(symlink(victim, l.host) == 0);
	CHECK(queue_remove(&l.f) == -1);
	CHECK(strcmp(unit_slurp(vfile), "victim\n") == 0);
	CHECK(queue_quarantine(l.state, &l.f, "swapped") == -1);
	CHECK(strcmp(unit_slurp(vfile), "victim\n") == 0);
	CHECK(queue_open(&l.f) == -1);
	free(victim);
	free(vfile);
	free(moved);
	qlab_free(&l);
}

/* Quarantine on another filesystem than the queue copies the file; a
 * FIFO in its place must not block the copy, and stays where it is. */
static void
test_quarantine_copy(void)
{
	struct qlab l;
	char *fifo;

	qlab_init(&l, "/tmp", "/dev/shm");
	qlab_file(&l, "bakfsfmt2-1.1.1_laptop@fs", "queued\n");
	CHECK(queue_quarantine(l.state, &l.f, "copied") == 0);
	CHECK(quarantined(&l, l.f.name, "queued\n"));
	CHECK(access(l.f.path, F_OK) == -1);
	qlab_file(&l, "bakfsfmt2-1.1.2_laptop@fs", NULL);
	fifo = xstrdup(l.f.path);
	CHECK(mkfifo(fifo, 0600) == 0);
	alarm(30); /* the old copy blocked here for ever */
	CHECK(queue_quarantine(l.state, &l.f, "a fifo") == -1);
	alarm(0);
	CHECK(access(fifo, F_OK) == 0);
	free(fifo);
	qlab_free(&l);
}

int
main(void)
{
	log_init(0, 0);
	test_good();
	test_nncp_suffix();
	test_bad();
	test_names();
	test_order();
	test_quarantine_names();
	test_swapped_host();
	test_quarantine_copy();
	return unit_done("test_queue");
}
