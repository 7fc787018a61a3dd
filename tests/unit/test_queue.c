/* Queue file names: what is accepted, what is refused, and order. */
#include <string.h>

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
	struct queue q = { files, 4 };
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

int
main(void)
{
	log_init(0, 0);
	test_good();
	test_nncp_suffix();
	test_bad();
	test_names();
	test_order();
	return unit_done("test_queue");
}
