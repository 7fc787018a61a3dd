/*
 * SHA-256 over a byte stream, with the digest of every prefix the
 * caller asks for: the only user of libgcrypt.  A compound stream is
 * read twice, once to verify it and once to receive it; the digests
 * taken at each of its commit points in the first pass prove, in the
 * second, that the receiver is fed the very bytes that were verified.
 */
#include <stdlib.h>
#include <string.h>

#include <gcrypt.h>

#include "airgap-agent.h"

struct hash {
	gcry_md_hd_t md;
};

/* libgcrypt wants to be told once that nobody needs its secure
 * memory: it only hashes public data here. */
static void
hash_init_library(void)
{
	static int done;

	if (done)
		return;
	if (gcry_check_version(GCRYPT_VERSION) == NULL)
		fatalx("hash: libgcrypt is older than the one built against");
	gcry_control(GCRYCTL_DISABLE_SECMEM, 0);
	gcry_control(GCRYCTL_INITIALIZATION_FINISHED, 0);
	done = 1;
}

struct hash *
hash_new(void)
{
	struct hash *h = xcalloc(1, sizeof *h);

	hash_init_library();
	if (gcry_md_open(&h->md, GCRY_MD_SHA256, 0) != 0)
		fatalx("hash: cannot open a SHA-256 context");
	return h;
}

void
hash_update(struct hash *h, const void *b, size_t n)
{
	gcry_md_write(h->md, b, n);
}

/* The digest of everything so far; the hash goes on afterwards. */
void
hash_peek(const struct hash *h, unsigned char out[HASH_SIZE])
{
	gcry_md_hd_t copy;

	if (gcry_md_copy(&copy, h->md) != 0)
		fatalx("hash: cannot copy a SHA-256 context");
	memcpy(out, gcry_md_read(copy, GCRY_MD_SHA256), HASH_SIZE);
	gcry_md_close(copy);
}

void
hash_free(struct hash *h)
{
	if (h == NULL)
		return;
	gcry_md_close(h->md);
	free(h);
}
