/*
 * zpool and zfs: argument vectors and the meaning of their output.
 * The binaries and their safety arguments come from the config, so
 * the same code runs against OpenZFS and the lab's zfs-fuse.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "airgap-agent.h"

#define ARGV_MAX 64
/* Marks the parents the agent creates: they may be removed again while
 * empty (see zfs_remove_placeholders). */
#define PLACEHOLDER_PROP "airgap-agent:placeholder"
#define PLACEHOLDER_SET PLACEHOLDER_PROP "=on"

/* Builds BIN FIXED... EXTRA... TAIL... into ARGV. */
static int
build_argv(char **argv, const char *bin, const char *const *fixed,
    char *const *extra, const char *const *tail)
{
	size_t n = 0;

	argv[n++] = (char *)bin;
	for (; fixed && *fixed; fixed++)
		argv[n++] = (char *)*fixed;
	for (; extra && *extra && n < ARGV_MAX - 8; extra++)
		argv[n++] = *extra;
	for (; tail && *tail && n < ARGV_MAX - 1; tail++)
		argv[n++] = (char *)*tail;
	argv[n] = NULL;
	return 0;
}

/* Set once a zfs or zpool command hung in this process: the pool is
 * most likely suspended, and every further command would hang too. */
static int zfs_hung_seen;

void
zfs_mark_hung(void)
{
	if (!zfs_hung_seen)
		log_warnx("zfs: a command hung; the pool is probably suspended");
	zfs_hung_seen = 1;
}

int
zfs_hung(void)
{
	return zfs_hung_seen;
}

/* 0: it worked; 1: it failed; -1: it could not run; ZFS_TIMEOUT: it
 * hung (a suspended pool) and was killed, or could not be. */
static int
run_for(char **argv, struct buf *out, int timeout)
{
	struct child_opts o = { .argv = argv, .stdin_fd = CHILD_NULL,
		.stdout_fd = CHILD_NULL, .timeout = timeout };
	int status;

	if (zfs_hung_seen)
		return ZFS_TIMEOUT;
	if (child_run(&o, out, &status) == -1) {
		if (errno != ETIMEDOUT)
			return -1;
		zfs_mark_hung();
		return ZFS_TIMEOUT;
	}
	return child_ok(status) ? 0 : 1;
}

static int
run_command(const struct config *cfg, char **argv, struct buf *out)
{
	return run_for(argv, out, cfg->timeout_command);
}

/* Runs "zfs FIXED... NAME" and, where it worked, hands each line it
 * printed to EACH with ARG.  Returns what run_command returned. */
static int
zfs_lines(const struct config *cfg, const char *const *fixed,
    const char *name, void (*each)(char *line, void *arg), void *arg)
{
	char *argv[ARGV_MAX], *line, *save = NULL;
	struct buf out = { 0 };
	int rc;

	build_argv(argv, cfg->zfs, fixed, NULL,
	    (const char *const[]){ name, NULL });
	rc = run_command(cfg, argv, &out);
	if (rc == 0 && out.data != NULL)
		for (line = strtok_r(out.data, "\n", &save); line != NULL;
		    line = strtok_r(NULL, "\n", &save))
			each(line, arg);
	buf_free(&out);
	return rc;
}

/* BIN (zpool or zfs, as configured) with ARGS: 0 it worked, 1 it
 * failed, -1 it could not run, ZFS_TIMEOUT it hung. */
int
zfs_command(const struct config *cfg, const char *bin, const char *const *args,
    struct buf *out)
{
	char *argv[ZFS_ARGS_MAX];
	size_t n = 0;

	argv[n++] = (char *)bin;
	for (; *args != NULL && n < ZFS_ARGS_MAX - 1; args++)
		argv[n++] = (char *)*args;
	argv[n] = NULL;
	return run_for(argv, out, cfg->timeout_command);
}

/* What zfs_dataset_get fills in: the dataset named DS into D. */
struct guid_lines {
	const char *ds;
	struct zfs_dataset *d;
};

/* One line of "zfs get guid -r": NAME TAB GUID. */
static void
parse_guid_line(char *line, void *arg)
{
	const struct guid_lines *g = arg;
	const char *ds = g->ds;
	struct zfs_dataset *d = g->d;
	size_t dl = strlen(ds);
	char *tab = strchr(line, '\t'), *end;
	uint64_t guid;

	if (tab == NULL)
		return;
	*tab = '\0';
	errno = 0;
	guid = strtoull(tab + 1, &end, 10);
	if (errno || *end != '\0')
		return;
	if (strcmp(line, ds) == 0) {
		d->exists = 1;
		return;
	}
	if (strncmp(line, ds, dl) != 0 || line[dl] != '@')
		return;
	d->snaps = xreallocarray(d->snaps, d->nsnaps + 1, sizeof *d->snaps);
	d->snaps[d->nsnaps].name = xstrdup(line + dl + 1);
	d->snaps[d->nsnaps].guid = guid;
	d->nsnaps++;
}

static int
pool_of(const char *ds, char *pool, size_t len)
{
	size_t n = strcspn(ds, "/@");

	if (n == 0 || n >= len)
		return -1;
	memcpy(pool, ds, n);
	pool[n] = '\0';
	return 0;
}

/* The dataset's snapshots with their guids, oldest first (zfs lists a
 * dataset's snapshots in creation order).  A dataset that does not
 * exist is not an error as long as its pool does. */
int
zfs_dataset_get(const struct config *cfg, const char *ds, struct zfs_dataset *d)
{
	static const char *const fixed[] = { "get", "-H", "-p", "-o",
		"name,value", "guid", "-r", NULL };
	struct guid_lines g;
	char pool[256];
	int rc;

	memset(d, 0, sizeof *d);
	g.ds = ds;
	g.d = d;
	rc = zfs_lines(cfg, fixed, ds, parse_guid_line, &g);
	if (rc == 1 && pool_of(ds, pool, sizeof pool) == 0 &&
	    zfs_pool_exists(cfg, pool))
		rc = 0;
	if (rc != 0) {
		log_warnx("zfs: cannot list snapshots of %s", ds);
		zfs_dataset_free(d);
		return -1;
	}
	return 0;
}

void
zfs_dataset_free(struct zfs_dataset *d)
{
	size_t i;

	for (i = 0; i < d->nsnaps; i++)
		free(d->snaps[i].name);
	free(d->snaps);
	memset(d, 0, sizeof *d);
}

int
zfs_dataset_has_guid(const struct zfs_dataset *d, uint64_t guid)
{
	size_t i;

	for (i = 0; i < d->nsnaps; i++)
		if (d->snaps[i].guid == guid)
			return 1;
	return 0;
}

static int
dataset_exists(const struct config *cfg, const char *ds)
{
	static const char *const fixed[] = { "get", "-H", "-o", "value",
		"type", NULL };
	char *argv[ARGV_MAX];

	build_argv(argv, cfg->zfs, fixed, NULL, (const char *const[]){ ds, NULL });
	return run_command(cfg, argv, NULL) == 0;
}

/* Creates each missing ancestor of DS with create_args (not mounted),
 * one level at a time, so every level gets those arguments.  Mostly
 * they all exist: the nearest is looked at first.  They are made before
 * the stream that needs them proved genuine, so each is marked as a
 * placeholder that may go again while it holds nothing. */
int
zfs_create_parents(const struct config *cfg, const char *ds)
{
	char *path = xstrdup(ds), *slash = strrchr(path, '/');
	char *argv[ARGV_MAX];
	int rc = 0;

	if (slash != NULL) {
		*slash = '\0';
		if (dataset_exists(cfg, path)) {
			free(path);
			return 0;
		}
		*slash = '/';
	}
	slash = strchr(path, '/');
	while (slash != NULL && (slash = strchr(slash + 1, '/')) != NULL) {
		*slash = '\0';
		if (!dataset_exists(cfg, path)) {
			build_argv(argv, cfg->zfs,
			    (const char *const[]){ "create", NULL },
			    cfg->create_args, (const char *const[]){ "-o",
			    PLACEHOLDER_SET, path, NULL });
			if (run_command(cfg, argv, NULL) != 0) {
				log_warnx("zfs: cannot create %s", path);
				rc = -1;
				break;
			}
			log_info("zfs: created %s", path);
		}
		*slash = '/';
	}
	free(path);
	return rc;
}

/* Was DS made by zfs_create_parents (the mark set on it, not inherited)? */
static int
is_placeholder(const struct config *cfg, const char *ds)
{
	static const char *const fixed[] = { "get", "-H", "-o", "value,source",
		PLACEHOLDER_PROP, NULL };
	char *argv[ARGV_MAX];
	struct buf out = { 0 };
	int yes;

	build_argv(argv, cfg->zfs, fixed, NULL, (const char *const[]){ ds, NULL });
	yes = run_command(cfg, argv, &out) == 0 && out.data != NULL &&
	    strcmp(out.data, "on\tlocal\n") == 0;
	buf_free(&out);
	return yes;
}

/* Destroys DS if it is a placeholder with no children and no snapshots:
 * zfs destroy without -r refuses anything else, so nothing received can
 * go.  0 when it is gone. */
int
zfs_placeholder_remove(const struct config *cfg, const char *ds)
{
	char *argv[ARGV_MAX];

	if (!is_placeholder(cfg, ds))
		return -1;
	build_argv(argv, cfg->zfs, (const char *const[]){ "destroy", NULL },
	    NULL, (const char *const[]){ ds, NULL });
	if (run_command(cfg, argv, NULL) != 0)
		return -1;
	log_info("zfs: removed %s, an empty parent made for a stream", ds);
	return 0;
}

/* After a stream for DS failed: the empty parents made for it go again,
 * deepest first, so that a forged file leaves nothing that could stand
 * in the way of a genuine stream for one of them. */
void
zfs_remove_placeholders(const struct config *cfg, const char *ds)
{
	char *path = xstrdup(ds), *slash;

	while ((slash = strrchr(path, '/')) != NULL) {
		*slash = '\0';
		if (zfs_placeholder_remove(cfg, path) == -1)
			break;
	}
	free(path);
}

struct child *
zfs_receive_start(const struct config *cfg, const char *ds)
{
	char *argv[ARGV_MAX];
	struct child_opts o = { .argv = argv, .stdin_fd = CHILD_PIPE,
		.stdout_fd = CHILD_NULL };

	build_argv(argv, cfg->zfs, (const char *const[]){ "receive", NULL },
	    cfg->receive_args, (const char *const[]){ ds, NULL });
	return child_start(&o);
}

int
zfs_pool_exists(const struct config *cfg, const char *pool)
{
	static const char *const fixed[] = { "list", "-H", "-o", "name", NULL };
	char *argv[ARGV_MAX];

	build_argv(argv, cfg->zpool, fixed, NULL,
	    (const char *const[]){ pool, NULL });
	return run_command(cfg, argv, NULL) == 0;
}

/* Whether POOL is imported and with which guid: 0 yes, 1 no, else an
 * error. */
int
zfs_pool_guid(const struct config *cfg, const char *pool, uint64_t *guid)
{
	static const char *const fixed[] = { "list", "-H", "-o", "name,guid",
		NULL };
	char *argv[ARGV_MAX], *tab;
	struct buf out = { 0 };
	int rc;

	build_argv(argv, cfg->zpool, fixed, NULL,
	    (const char *const[]){ pool, NULL });
	rc = run_command(cfg, argv, &out);
	if (rc == 0) {
		tab = out.data ? strchr(out.data, '\t') : NULL;
		if (tab == NULL || (*guid = strtoull(tab + 1, NULL, 10)) == 0)
			rc = -1;
	}
	buf_free(&out);
	return rc;
}

/* zpool import IMPORT_ARGS GUID: by guid, so two disks whose pools
 * share a name cannot be confused. */
int
zfs_import(const struct config *cfg, const char *guid)
{
	char *argv[ARGV_MAX];

	build_argv(argv, cfg->zpool, (const char *const[]){ "import", NULL },
	    cfg->import_args, (const char *const[]){ guid, NULL });
	return run_for(argv, NULL, cfg->timeout_import);
}

int
zfs_export(const struct config *cfg, const char *pool)
{
	char *argv[ARGV_MAX];

	build_argv(argv, cfg->zpool, (const char *const[]){ "export", NULL },
	    NULL, (const char *const[]){ pool, NULL });
	return run_for(argv, NULL, cfg->timeout_export);
}

/* Bytes still free for datasets in POOL. */
int
zfs_available(const struct config *cfg, const char *pool, uint64_t *bytes)
{
	static const char *const fixed[] = { "get", "-H", "-p", "-o", "value",
		"available", NULL };
	char *argv[ARGV_MAX], *end;
	struct buf out = { 0 };
	int rc;

	build_argv(argv, cfg->zfs, fixed, NULL, (const char *const[]){ pool, NULL });
	rc = run_command(cfg, argv, &out);
	if (rc == 0) {
		errno = 0;
		*bytes = strtoull(out.data ? out.data : "", &end, 10);
		if (errno || end == out.data || (*end != '\n' && *end != '\0'))
			rc = -1;
	}
	buf_free(&out);
	if (rc != 0)
		log_warnx("zfs: cannot read the free space of %s", pool);
	return rc == 0 ? 0 : -1;
}

/* After a killed receive into a new dataset: zfs-fuse discards the
 * partial dataset a moment after its receiver died.  Waits up to
 * SECONDS for it to go, so that nothing half-received is left listed
 * when the agent reports. */
int
zfs_wait_absent(const struct config *cfg, const char *ds, int seconds)
{
	struct timespec ts = { 0, 200 * 1000 * 1000 };
	int i;

	for (i = 0; i < seconds * 5; i++) {
		if (!dataset_exists(cfg, ds))
			return 0;
		nanosleep(&ts, NULL);
	}
	log_warnx("zfs: partial receive %s is still listed", ds);
	return -1;
}

/* The snapshots of a dataset, listed once per run and kept up to date
 * as streams are received into it: listing a dataset with many
 * snapshots is the slowest thing zfs does here.  From the cache, or
 * listed now. */
const struct zfs_dataset *
zfs_cache_get(struct zfs_cache *c, const struct config *cfg, const char *ds)
{
	struct zfs_cached *k;
	size_t i;

	for (i = 0; i < c->n; i++)
		if (strcmp(c->e[i].ds, ds) == 0)
			return &c->e[i].d;
	if (c->n == ZFS_CACHE_MAX)
		zfs_dataset_free(&c->e[--c->n].d);
	k = &c->e[c->n];
	if (zfs_dataset_get(cfg, ds, &k->d) == -1)
		return NULL;
	snprintf(k->ds, sizeof k->ds, "%s", ds);
	c->n++;
	return &k->d;
}

/* Forget what was listed: the dataset changed in a way not followed
 * (a failed or compound receive). */
void
zfs_cache_drop(struct zfs_cache *c, const char *ds)
{
	size_t i;

	for (i = 0; i < c->n; i++)
		if (strcmp(c->e[i].ds, ds) == 0) {
			zfs_dataset_free(&c->e[i].d);
			c->e[i] = c->e[--c->n];
			return;
		}
}

/* A snapshot received into DS, if DS is in the cache. */
void
zfs_cache_add(struct zfs_cache *c, const char *ds, const char *snap,
    uint64_t guid)
{
	size_t i;

	for (i = 0; i < c->n; i++)
		if (strcmp(c->e[i].ds, ds) == 0) {
			struct zfs_dataset *d = &c->e[i].d;

			d->exists = 1;
			d->snaps = xreallocarray(d->snaps, d->nsnaps + 1,
			    sizeof *d->snaps);
			d->snaps[d->nsnaps].name = xstrdup(snap);
			d->snaps[d->nsnaps++].guid = guid;
			return;
		}
}

void
zfs_cache_free(struct zfs_cache *c)
{
	while (c->n > 0)
		zfs_dataset_free(&c->e[--c->n].d);
}

/* What zfs_snapshots fills in: *V, with *N entries. */
struct snapinfo_lines {
	struct zfs_snapinfo **v;
	size_t *n;
};

/* One snapshot's line of "zfs get -r": NAME PROPERTY VALUE. */
static void
parse_snapinfo_line(char *line, void *arg)
{
	const struct snapinfo_lines *sl = arg;
	struct zfs_snapinfo **v = sl->v;
	size_t *n = sl->n;
	char *prop = strchr(line, '\t'), *val, *end;
	struct zfs_snapinfo *s;
	uint64_t x;

	if (prop == NULL || (val = strchr(prop + 1, '\t')) == NULL)
		return;
	*prop++ = '\0';
	*val++ = '\0';
	if (strchr(line, '@') == NULL)
		return;
	errno = 0;
	x = strtoull(val, &end, 10);
	if (errno || *end != '\0' || end == val)
		return;
	if (*n == 0 || strcmp((*v)[*n - 1].name, line) != 0) {
		*v = xreallocarray(*v, *n + 1, sizeof **v);
		memset(&(*v)[*n], 0, sizeof **v);
		(*v)[(*n)++].name = xstrdup(line);
	}
	s = &(*v)[*n - 1];
	if (strcmp(prop, "guid") == 0)
		s->guid = x;
	else if (strcmp(prop, "creation") == 0)
		s->creation = (int64_t)(x > INT64_MAX ? INT64_MAX : x);
	else if (strcmp(prop, "used") == 0)
		s->used = x;
	else if (strcmp(prop, "userrefs") == 0)
		s->userrefs = x;
}

/* Every snapshot under ROOT (recursively) with what thinning needs,
 * in the order zfs lists them: per dataset, oldest first. */
int
zfs_snapshots(const struct config *cfg, const char *root,
    struct zfs_snapinfo **v, size_t *n)
{
	static const char *const fixed[] = { "get", "-H", "-p", "-r", "-o",
		"name,property,value", "guid,creation,used,userrefs", NULL };
	struct snapinfo_lines sl = { v, n };
	int rc;

	*v = NULL;
	*n = 0;
	rc = zfs_lines(cfg, fixed, root, parse_snapinfo_line, &sl);
	return rc == 0 ? 0 : rc == ZFS_TIMEOUT ? ZFS_TIMEOUT : -1;
}

void
zfs_snapshots_free(struct zfs_snapinfo *v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(v[i].name);
	free(v);
}

/* zfs hold, release or destroy of one snapshot: 0, 1 (refused) or -1. */
static int
snap_command(const struct config *cfg, const char *verb, const char *tag,
    const char *snap)
{
	char *argv[ARGV_MAX];
	const char *tail[] = { verb, tag ? tag : snap, tag ? snap : NULL, NULL };

	build_argv(argv, cfg->zfs, NULL, NULL, tail);
	return run_command(cfg, argv, NULL);
}

int
zfs_hold(const struct config *cfg, const char *tag, const char *snap)
{
	return snap_command(cfg, "hold", tag, snap);
}

int
zfs_release(const struct config *cfg, const char *tag, const char *snap)
{
	return snap_command(cfg, "release", tag, snap);
}

int
zfs_destroy_snapshot(const struct config *cfg, const char *snap)
{
	if (strchr(snap, '@') == NULL)
		return -1; /* never a dataset */
	return snap_command(cfg, "destroy", NULL, snap);
}

/* "DATASET@SNAP TAB GUID" lines for every snapshot under ROOT, each
 * dataset's oldest first, into OUT (what "zfs get -r" prints).  0, or
 * -1 when ROOT cannot be listed. */
int
zfs_snapshot_guids(const struct config *cfg, const char *root, struct buf *out)
{
	static const char *const fixed[] = { "get", "-H", "-p", "-o",
		"name,value", "guid", "-r", NULL };
	char *argv[ARGV_MAX];

	build_argv(argv, cfg->zfs, fixed, NULL, (const char *const[]){ root, NULL });
	return run_command(cfg, argv, out) == 0 ? 0 : -1;
}
