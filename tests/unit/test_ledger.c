/* The rotation ledger: parsing, the set operations, and a save/load
 * round trip through the atomic rewrite. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "airgap-agent.h"
#include "unit.h"

static void
test_parse(void)
{
	char good[] = "/in/laptop/f1\tbakdisk1\t42\tbakdisk1/s/laptop/fs\n";
	const char *bad[] = {
		"/in/f\tbakdisk1\t0\tds\n",    /* guid 0 */
		"/in/f\tbakdisk1\tx\tds\n",    /* not a number */
		"/in/f\tbakdisk1\t42\n",       /* three fields */
		"/in/f\tbakdisk1\t42\tds\textra\n",
		"\tbakdisk1\t42\tds\n",        /* empty key */
		"",
		NULL
	};
	struct ledger_entry e;
	char line[256];
	int i;

	CHECK(ledger_parse_line(good, &e) == 0);
	CHECK(strcmp(e.key, "/in/laptop/f1") == 0 && e.guid == 42);
	CHECK(strcmp(e.pool, "bakdisk1") == 0);
	CHECK(strcmp(e.dataset, "bakdisk1/s/laptop/fs") == 0);
	free(e.key);
	free(e.pool);
	free(e.dataset);
	for (i = 0; bad[i] != NULL; i++) {
		snprintf(line, sizeof line, "%s", bad[i]);
		CHECK(ledger_parse_line(line, &e) == -1);
	}
}

static void
test_roundtrip(const char *dir)
{
	char *rotation[] = { "bakdisk1", "bakdisk2", NULL };
	const char *missing = NULL;
	struct ledger l, m;

	CHECK(ledger_load(dir, &l) == 0 && l.n == 0); /* no file yet */
	ledger_add(&l, "/in/a", "bakdisk1", 1, "p/ds");
	ledger_add(&l, "/in/a", "bakdisk1", 1, "p/ds"); /* once only */
	ledger_add(&l, "/in/b", "bakdisk2", 2, "p/ds");
	ledger_add(&l, "/in/bad\tkey", "bakdisk2", 2, "p/ds"); /* refused */
	CHECK(l.n == 2);
	CHECK(ledger_has(&l, "/in/a", "bakdisk1"));
	CHECK(!ledger_has(&l, "/in/a", "bakdisk2"));
	CHECK(!ledger_complete(&l, rotation, "/in/a", &missing));
	CHECK(missing != NULL && strcmp(missing, "bakdisk2") == 0);
	ledger_add(&l, "/in/a", "bakdisk2", 1, "p/ds");
	CHECK(ledger_complete(&l, rotation, "/in/a", &missing));
	CHECK(ledger_save(&l) == 0);
	CHECK(ledger_load(dir, &m) == 0 && m.n == 3);
	CHECK(ledger_has(&m, "/in/a", "bakdisk2"));
	ledger_forget(&m, "/in/a");
	CHECK(m.n == 1 && ledger_has(&m, "/in/b", "bakdisk2"));
	ledger_free(&l);
	ledger_free(&m);
}

int
main(void)
{
	char dir[] = "/tmp/test_ledger.XXXXXX";
	char *path;

	if (mkdtemp(dir) == NULL)
		return 2;
	log_init(0, 0);
	test_parse();
	test_roundtrip(dir);
	path = xasprintf("%s/ledger", dir);
	unlink(path);
	free(path);
	rmdir(dir);
	return unit_done("test_ledger");
}
