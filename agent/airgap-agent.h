/*
 * airgap-agent: ingest NNCP-delivered, gpg-encrypted, zstd-compressed
 * zfs send streams into backup pools on an offline box.
 *
 * One header for the whole program, one section per source file, in
 * the order of the Makefile's source list.
 */
#ifndef AIRGAP_AGENT_H
#define AIRGAP_AGENT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define AGENT_NAME "airgap-agent"
#define DEFAULT_CONFIG "/etc/airgap-agent.conf"

/* Exit codes, listed in airgap-agent(8). */
#define EXIT_OK 0
#define EXIT_FAILED 1
#define EXIT_USAGE 2
#define EXIT_NOT_OURS 3

#define ATTR_PRINTF(f, a) __attribute__((format(printf, f, a)))

/* log.c */
#define LOG_TO_NOWHERE (-1) /* not even syslog (fuzzing) */
#define LOG_TO_SYSLOG 0     /* syslog only (the daemon) */
#define LOG_TO_ERRORS 1     /* syslog, and errors to stderr too */
#define LOG_TO_STDERR 2     /* syslog, and everything to stderr too */
void log_init(int to_stderr, int verbose);
void log_msg(int pri, int with_errno, const char *, ...) ATTR_PRINTF(3, 4);
void log_fatal(int with_errno, const char *, ...) ATTR_PRINTF(2, 3)
    __attribute__((noreturn));
/* syslog priorities, so that callers need not include syslog.h */
#define log_warn(...) log_msg(3, 1, __VA_ARGS__)  /* LOG_ERR, with errno */
#define log_warnx(...) log_msg(3, 0, __VA_ARGS__) /* LOG_ERR */
#define log_info(...) log_msg(6, 0, __VA_ARGS__)  /* LOG_INFO */
#define log_debug(...) log_msg(7, 0, __VA_ARGS__) /* LOG_DEBUG */
#define fatal(...) log_fatal(1, __VA_ARGS__)
#define fatalx(...) log_fatal(0, __VA_ARGS__)

/* util.c */
struct buf {
	char *data;
	size_t len;
	size_t cap;
};
/* Where a stage of the byte path hands its output: 0 taken, -1 refused. */
typedef int (*byte_sink)(void *arg, const void *, size_t);

void *xmalloc(size_t);
void *xcalloc(size_t, size_t);
void *xreallocarray(void *, size_t, size_t);
char *xstrdup(const char *);
char *xasprintf(const char *, ...) ATTR_PRINTF(1, 2);
void buf_append(struct buf *, const void *, size_t);
void buf_printf(struct buf *, const char *, ...) ATTR_PRINTF(2, 3);
void buf_free(struct buf *);
char **strv_copy(char *const *);
size_t strv_len(char *const *);
void strv_free(char **);
int strv_has(const char *const *, const char *);
double now_seconds(void);
int write_all(int, const void *, size_t);
int mkdir_private(const char *);
int fsync_dir(const char *);
#define ESCAPED_MAX(n) (4 * (n) + 1) /* room for str_escape of n bytes */
char *str_escape(char *, size_t, const char *);
int file_replace(const char *path, const void *, size_t);
int file_lines(const char *path, int (*)(void *, char *), void *);
int dir_names(const char *dir, char ***names);

/* config.c */
struct host_cfg {
	char *name;
	char **signers; /* NULL-terminated, upper-case hex fingerprints */
	int require_signature;
	char *nncp_node; /* the host's NNCP node id, for enqueue; or NULL */
	char *retention; /* its thinning schedule, or NULL: the default */
};

enum media_role {
	ROLE_TRANSPORT,
	ROLE_BACKUP,
};

struct media_cfg {
	char *label; /* fnmatch(3) pattern on the filesystem label */
	enum media_role role;
	char **power_off; /* NULL-terminated; empty: none */
	char *incoming;   /* this disk's own incoming folder, or NULL */
};

struct config {
	char *path;
	char *state_dir;
	char *mount_dir;
	char *zpool;
	char *zfs;
	char **import_args;  /* NULL-terminated */
	char **receive_args; /* NULL-terminated */
	char **create_args;  /* NULL-terminated */
	char *incoming;
	char *store;
	char *gnupg_home;
	struct host_cfg *hosts;
	size_t nhosts;
	int min_free_mb;
	char *exec_queue;     /* where enqueue writes */
	char **rotation;      /* pools that must each get every file */
	int rotation_warn_days;
	char *nncp_user;
	char *nncp_bin_dir;
	char **nncp_configs; /* NULL-terminated */
	char *nncp_xfer_dir;
	struct media_cfg *media;
	size_t nmedia;
	char **leds; /* NULL-terminated sysfs LED folders */
	char *beeper; /* evdev node, or "" */
	int console;
	int timeout_command; /* seconds */
	int timeout_stall;
	int timeout_nncp;
	int timeout_import;
	int timeout_export;
	int timeout_handle; /* a whole medium under "watch" */
	char *retention; /* the default thinning schedule, or NULL: none */
	char **retention_patterns; /* fnmatch(3) on snapshot names */
};
int config_load(const char *path, struct config *);
void config_print(const struct config *);
void config_free(struct config *);
const struct host_cfg *config_host(const struct config *, const char *);
int config_host_unsigned_ok(const struct host_cfg *);
const struct media_cfg *config_medium(const struct config *, const char *label);

/* child.c */
#define CHILD_NULL (-1) /* stdin/stdout from/to /dev/null */
#define CHILD_PIPE (-2) /* a pipe the caller reads or writes */

struct child_opts {
	char *const *argv;
	int stdin_fd;       /* CHILD_NULL, CHILD_PIPE or a descriptor */
	int stdout_fd;      /* CHILD_NULL, CHILD_PIPE or a descriptor */
	int timeout;        /* seconds for child_run; 0: none */
	const char *user;   /* drop to this user, or NULL */
	int share_stderr;   /* the child writes to our stderr, not the log */
	int own_group;      /* a process group of its own: child_kill ends
			     * the child's children too */
};
struct child;
struct child *child_start(const struct child_opts *);
int child_stdin(const struct child *);
int child_stdout(const struct child *);
void child_close_stdin(struct child *);
int child_wait(struct child *, int timeout, int *status);
void child_kill(struct child *);
int child_group_left(const struct child *);
void child_free(struct child *);
int child_run(const struct child_opts *, struct buf *out, int *status);
const char *child_status_str(int status, char *, size_t);
int child_ok(int status);

/* state.c */
#define STATE_VALUE_MAX 2100 /* an escaped message (ESCAPED_MAX(512)) fits */
struct state_kv {
	char key[32];
	char value[STATE_VALUE_MAX];
};
struct state_light {
	char state[32];
	long long time;
	char message[STATE_VALUE_MAX];
};
struct state_run {
	long long time;
	char device[ESCAPED_MAX(256)];
	char label[ESCAPED_MAX(256)];
	char role[16];
	char outcome[32];
	char message[STATE_VALUE_MAX];
};
struct state_disk {
	char pool[ESCAPED_MAX(256)];
	char guid[128];
	long long last_seen;
	char result[16]; /* ok, needs-reboot, error */
	int received;
	int waiting;
	int problems;
	char message[STATE_VALUE_MAX];
};
struct state_drill {
	char pool[ESCAPED_MAX(256)];
	char guid[128];
	long long time;
	long long seconds;
	char result[16]; /* ok, damaged, error */
	int datasets;    /* read end to end */
	int failed;      /* could not be read */
	unsigned long long bytes;
	int scrub;
	char message[STATE_VALUE_MAX];
};
char *state_path(const struct config *, const char *name);
int state_lines(const char *state_dir, const char *name, char **path,
    int (*parse)(char *, void *), size_t size, void **recs, size_t *n);
int state_light_write(const struct config *, const char *state,
    const char *message);
int state_light_read(const struct config *, struct state_light *);
void state_run_append(const struct config *, const struct state_run *);
int state_runs_last(const struct config *, struct state_run *, int max);
int state_disk_read(const struct config *, const char *guid,
    struct state_disk *);
int state_disk_write(const struct config *, const struct state_disk *);
int state_disks(const struct config *, struct state_disk **);
int state_stick_owner(const struct config *, const char *uuid,
    unsigned *uid, unsigned *gid);
int state_stick_owner_save(const struct config *, const char *uuid,
    unsigned uid, unsigned gid);
void state_stick_owner_forget(const struct config *, const char *uuid);
struct state_browse {
	char pool[ESCAPED_MAX(256)];
	char snapshot[1024]; /* a zfs name is at most 255 bytes */
	char folder[1024];
	long long time;
};
int state_browse_write(const struct config *, const char *guid,
    const struct state_browse *);
int state_browse_read(const struct config *, const char *guid,
    struct state_browse *);
int state_browse_forget(const struct config *, const char *guid);
int state_drill_write(const struct config *, const struct state_drill *);
int state_drills(const struct config *, struct state_drill **);
struct state_kept {
	char dataset[1024]; /* escaped */
	long long kept;
	long long oldest, newest; /* creation times */
	unsigned long long bytes; /* the kept snapshots' own (used) bytes */
};
int state_kept_write(const struct config *, const char *pool,
    const struct state_kept *, size_t);
int state_kept_read(const struct config *, const char *pool,
    struct state_kept **);
int state_heads_read(const struct config *, const char *pool_guid,
    struct buf *);
int state_heads_write(const struct config *, const char *pool_guid,
    const struct buf *);
struct state_receipt {
	char host[64];
	char node[128];
	long long time;
	char result[16]; /* queued, failed */
	char summary[512];
};
int state_receipt_write(const struct config *, const struct state_receipt *);
int state_receipt_read(const struct config *, const char *host,
    struct state_receipt *);

/* lock.c */
int lock_take(const char *state_dir, int wait);

/* queue.c */
#define QUEUE_NAME_MAX 255
#define QUEUE_DATASET_MAX 200

struct queue_name {
	char host[64];
	char dest[QUEUE_NAME_MAX + 1];     /* HOST/dataset/path */
	char dest_alt[QUEUE_NAME_MAX + 1]; /* dest without NNCP's ".N", or "" */
	int64_t seconds;
	int64_t nanos;
	int64_t pid;
};

struct queue_file {
	const char *root; /* the folder it was found under */
	int authenticated; /* found in the exec queue: NNCP vouched for it */
	char *host;     /* the incoming sub-folder it was found in */
	char *name;     /* file name inside it */
	char *path;     /* full path */
	struct queue_name qn;
	const char *reject; /* why the name was rejected, or NULL */
	off_t size;
	uint32_t chunks; /* an NNCP chunked set (chunk.c) of this many
			  * chunks, found at NAME.nncp.meta; 0: a plain file */
};

/* An NNCP chunked set or a stray piece, as one scan found it. */
struct chunk_set {
	char *host;
	char *name;   /* the queue file's name; a stray piece's own name */
	uint32_t have; /* chunks present */
	uint32_t want; /* chunks the meta lists; 0: no readable meta yet */
	int64_t bytes; /* of the pieces present */
	time_t since;  /* oldest piece's arrival (mtime) */
	int complete;
	int stray;     /* a name with ".nncp." that is not a piece of ours */
	const char *problem; /* why it is left alone, or NULL */
};

struct queue {
	struct queue_file *files;
	size_t nfiles;
	struct chunk_set *sets; /* every set and stray piece seen */
	size_t nsets;
};
int queue_is_candidate(const char *name);
int queue_parse_name(const char *dir_host, const char *name,
    struct queue_name *, const char **why);
int queue_valid_dataset(const char *path, const char **why);
int queue_valid_host(const char *host);
int queue_scan(const char *root, struct queue *);
int queue_scan_exec(const struct config *, struct queue *);
void queue_sort(struct queue *);
int queue_has(const struct queue *, const char *path);
void queue_free(struct queue *);
int queue_open(const struct queue_file *);
int queue_unencrypted(int fd);
int queue_remove(const struct queue_file *);
int queue_host_dir(const struct queue_file *);
void queue_add_chunked(struct queue *, const char *root, const char *host,
    const char *name, off_t size, uint32_t chunks);
int queue_quarantine(const char *state_dir, const struct queue_file *,
    const char *reason);

/* chunk.c */
#define CHUNK_COUNT_MAX 100000 /* chunks in one set */
enum chunk_kind {
	CHUNK_NONE,
	CHUNK_PIECE,
	CHUNK_META,
};
struct chunk_name {
	enum chunk_kind kind;
	char base[QUEUE_NAME_MAX + 1]; /* the queue file's name */
	uint32_t index;                /* CHUNK_PIECE: N of chunkN */
};
struct chunk_meta {
	uint64_t size;       /* of the whole file */
	uint64_t chunk_size;
	uint32_t count;
};
struct stat;
int chunk_parse_name(const char *dir_host, const char *name,
    struct chunk_name *, const char **why);
int chunk_parse_meta(const unsigned char *, size_t, struct chunk_meta *,
    const char **why);
int chunk_scan(struct queue *, const char *root, const char *host, int dir,
    int exec);
void chunk_sets_free(struct chunk_set *, size_t);
int chunk_stat(const struct queue_file *, struct stat *);
int chunk_remove(const struct queue_file *);
struct child *chunk_open(const struct config *, const struct queue_file *,
    int *fd, char *why, size_t len);
int chunk_close(const struct config *, struct child *, int read_all, char *why,
    size_t len);

/* zstream.c */
#define ZSTREAM_RECORD 312 /* sizeof (dmu_replay_record_t) */
#define ZSTREAM_BEGIN_PAYLOAD_MAX (16u * 1024 * 1024) /* what we accept */
#define ZSTREAM_MAGIC 0x2F5BACBACULL
#define ZSTREAM_SUBSTREAM 1 /* header types, in the begin record */
#define ZSTREAM_COMPOUND 2
enum zstream_record_type {
	DRR_BEGIN,
	DRR_OBJECT,
	DRR_FREEOBJECTS,
	DRR_WRITE,
	DRR_FREE,
	DRR_END,
	DRR_WRITE_BYREF,
	DRR_SPILL,
	DRR_WRITE_EMBEDDED,
	DRR_OBJECT_RANGE,
	DRR_REDACT,
};

struct zstream_begin {
	uint64_t toguid;
	uint64_t fromguid;
	char toname[257];
};

struct zstream_head {
	int compound;
	int swapped; /* the sender had the other byte order */
	struct zstream_begin outer; /* the stream's begin record */
	struct zstream_begin first; /* first inner begin (compound only) */
};
/* A begin record as it is on the wire. */
struct zstream_begin_rec {
	int swap;          /* the sender had the other byte order */
	unsigned hdrtype;  /* ZSTREAM_SUBSTREAM or ZSTREAM_COMPOUND */
	uint32_t features; /* DMU_BACKUP_FEATURE_* bits */
	uint32_t payload;  /* bytes after the record */
	struct zstream_begin b;
};
int zstream_begin_parse(const unsigned char *, struct zstream_begin_rec *,
    const char **why);
#define ZSTREAM_NEED_MORE 1
uint32_t zstream_get32(const unsigned char *, int swap);
uint64_t zstream_get64(const unsigned char *, int swap);
int zstream_parse_head(const unsigned char *, size_t, struct zstream_head *,
    const char **why);
uint64_t zstream_base(const struct zstream_head *);
uint64_t zstream_first_guid(const struct zstream_head *);
int zstream_dataset(const struct zstream_head *, char *, size_t);
enum stream_format {
	FORMAT_UNKNOWN,
	FORMAT_ZFS,
	FORMAT_ZSTD,
	FORMAT_OPENPGP,
};
enum stream_format zstream_sniff(const unsigned char *, size_t);

/* hash.c */
#define HASH_SIZE 32 /* SHA-256 */
struct hash;
struct hash *hash_new(void);
void hash_update(struct hash *, const void *, size_t);
void hash_peek(const struct hash *, unsigned char out[HASH_SIZE]);
void hash_free(struct hash *);

/* zwalk.c */
struct zwalk_sub {
	uint64_t fromguid; /* 0 for a full stream */
	uint64_t toguid;
	unsigned char digest[HASH_SIZE]; /* compound: the stream up to its end */
};
struct zwalk;
struct zwalk *zwalk_new(size_t skip, const struct zwalk *verified);
void zwalk_free(struct zwalk *);
int zwalk_feed(struct zwalk *, const unsigned char *, size_t, byte_sink,
    void *);
int zwalk_end(const struct zwalk *);
int zwalk_release(struct zwalk *, byte_sink, void *);
const char *zwalk_error(const struct zwalk *);
const struct zwalk_sub *zwalk_subs(const struct zwalk *, size_t *n);
uint64_t zwalk_final_guid(const struct zwalk *);
int zwalk_compound(const struct zwalk *);
int zwalk_unproven(const struct zwalk *);

/* zfs.c */
struct zfs_snap {
	char *name; /* the part after '@' */
	uint64_t guid;
};
struct zfs_dataset {
	int exists;
	struct zfs_snap *snaps; /* oldest first */
	size_t nsnaps;
};
#define ZFS_ARGS_MAX 40
int zfs_command(const struct config *, const char *bin, const char *const *args,
    struct buf *);
int zfs_dataset_get(const struct config *, const char *ds, struct zfs_dataset *);
void zfs_dataset_free(struct zfs_dataset *);
int zfs_dataset_has_guid(const struct zfs_dataset *, uint64_t);
#define ZFS_CACHE_MAX 16
struct zfs_cached {
	char ds[512];
	struct zfs_dataset d;
};
struct zfs_cache {
	struct zfs_cached e[ZFS_CACHE_MAX];
	size_t n;
};
const struct zfs_dataset *zfs_cache_get(struct zfs_cache *,
    const struct config *, const char *ds);
void zfs_cache_drop(struct zfs_cache *, const char *ds);
void zfs_cache_add(struct zfs_cache *, const char *ds, const char *snap,
    uint64_t guid);
void zfs_cache_free(struct zfs_cache *);
int zfs_create_parents(const struct config *, const char *ds);
int zfs_placeholder_remove(const struct config *, const char *ds);
void zfs_remove_placeholders(const struct config *, const char *ds);
struct child *zfs_receive_start(const struct config *, const char *ds);
int zfs_pool_exists(const struct config *, const char *pool);
#define ZFS_TIMEOUT (-2)
int zfs_pool_guid(const struct config *, const char *pool, uint64_t *);
int zfs_import(const struct config *, const char *guid);
int zfs_export(const struct config *, const char *pool);
int zfs_available(const struct config *, const char *pool, uint64_t *);
int zfs_wait_absent(const struct config *, const char *ds, int seconds);
void zfs_mark_hung(void);
int zfs_snapshot_guids(const struct config *, const char *root, struct buf *);
int zfs_hung(void);
struct zfs_snapinfo {
	char *name; /* dataset@snapshot */
	uint64_t guid;
	int64_t creation; /* seconds; a received one's is the sender's */
	uint64_t used;
	uint64_t userrefs; /* holds, anybody's */
};
int zfs_snapshots(const struct config *, const char *root,
    struct zfs_snapinfo **, size_t *);
void zfs_snapshots_free(struct zfs_snapinfo *, size_t);
int zfs_hold(const struct config *, const char *tag, const char *snap);
int zfs_release(const struct config *, const char *tag, const char *snap);
int zfs_destroy_snapshot(const struct config *, const char *snap);

/* decompress.c */
struct decompress;
struct decompress *decompress_new(byte_sink, void *arg);
const void *decompress_magic(size_t *);
int decompress_feed(struct decompress *, const void *, size_t);
int decompress_end(struct decompress *);
const char *decompress_error(const struct decompress *);
void decompress_free(struct decompress *);

/* gpg.c */
enum gpg_verdict {
	GPG_OK = 0,
	GPG_CORRUPT,    /* bad data, failed MDC, bad signature */
	GPG_UNSIGNED,   /* no signature where one is required */
	GPG_BAD_SIGNER, /* signed, but not by a listed key */
	GPG_WRONG_KEY,  /* encrypted to keys not here, while ours work */
	GPG_ABORTED,    /* the sink asked to stop */
	GPG_LOCAL,      /* backupsvr's own gpg, keys or keyring: mend, retry */
};
struct gpg_result {
	enum gpg_verdict verdict;
	char reason[256];
	char signer[64]; /* fingerprint of the accepted signature, if any */
};
struct gpg_job {
	const char *home;           /* GNUPGHOME */
	int fd;                     /* the OpenPGP message */
	const struct host_cfg *host; /* whose signature policy applies */
	int stall;                  /* seconds without progress */
	const void *magic;          /* what the plaintext starts with */
	size_t magic_len;
	byte_sink sink;
	void *arg;
};
int gpg_init(void);
int gpg_decrypt(const struct gpg_job *, struct gpg_result *);
int gpg_check_signers(const struct config *);
int gpg_clearsign(const char *home, const char *text, size_t len,
    struct buf *out, char *why, size_t whylen);

/* relay.c */
struct relay;
struct relay *relay_start(byte_sink, void *arg, size_t nslots, size_t slot_size);
int relay_push(struct relay *, const void *, size_t);
int relay_finish(struct relay *);

/* pipeline.c */
enum pipe_action {
	PIPE_RECEIVE, /* start the receiver and stream into it */
	PIPE_SCAN,    /* read and verify the whole stream, receive nothing */
	PIPE_DECLINE, /* read no more: on_head has decided the file */
};
typedef enum pipe_action (*pipe_head_fn)(void *arg, const struct zstream_head *);

struct pipe_job {
	const struct config *cfg;
	const struct host_cfg *host;
	const char *path;    /* the queue file, for messages */
	int fd;              /* the queue file, open for reading */
	int authenticated;   /* NNCP vouched for the sender: plain allowed */
	const char *dataset; /* receive into this; on_head may change it */
	struct zwalk *walk;  /* the record walk; NULL: a fresh one (skip 0) */
	pipe_head_fn on_head;
	void *arg;
};

enum pipe_outcome {
	PIPE_DONE,     /* received (or scanned) and verified */
	PIPE_DECLINED, /* on_head declined it (PIPE_DECLINE) */
	PIPE_REJECTED, /* the file can never succeed */
	PIPE_FAILED,   /* may succeed later */
};
struct pipe_result {
	enum pipe_outcome outcome;
	char reason[320];
	struct zstream_head head;
	uint64_t final_guid; /* from the end record, 0 if unknown */
	uint64_t bytes;      /* stream bytes after decompression */
	int genuine;         /* gpg, zstd and the walk vouched for all of it */
};
int pipeline_run(const struct pipe_job *, struct pipe_result *);

/* report.c */
struct report;
struct report *report_open(const char *state_dir);
void report_add(struct report *, const char *name, const char *outcome,
    uint64_t bytes, double seconds, const char *reason);
int report_close(struct report *);

/* media.c */
struct medium {
	char devnode[256];
	char disk[256]; /* the whole disk it is on (itself for a whole disk) */
	char label[256];
	char fstype[32];
	char uuid[128]; /* for a zfs pool member: the pool guid */
	uint64_t diskseq;
	const struct media_cfg *cfg;
};
struct media_event {
	char action[16];
	char devnode[256];
	char disk[256];   /* the whole disk's devnode (devnode for a disk) */
	int gone;         /* a removal: the medium is no longer there */
	char uuid[128];
	uint64_t diskseq;
	int has_label;
	char label[256];
};
struct media_monitor;
int media_identify(const struct config *, const char *devnode, struct medium *,
    const char **why);
int media_backup_disks(const struct config *, struct medium **, size_t *);
struct media_monitor *media_monitor_open(void);
int media_monitor_fd(const struct media_monitor *);
int media_monitor_next(struct media_monitor *, struct media_event *);
int media_present(struct media_event **, size_t *);
void media_monitor_close(struct media_monitor *);

/* What handling one medium came to: the light and runs.log say it. */
enum medium_status {
	MEDIUM_SAFE,
	MEDIUM_ERROR,
	MEDIUM_REBOOT, /* a command hung: a pool is likely suspended */
};
struct medium_result {
	enum medium_status status;
	char message[512];
};

/* indicator.c */
enum indicator_state {
	IND_IDLE,
	IND_WORKING,
	IND_SAFE,
	IND_ERROR,
	IND_REBOOT,
	IND_NOT_MINE,
	IND_OVERDUE,
};
void indicator_set(const struct config *, enum indicator_state, const char *);
int indicator_is(const struct config *, enum indicator_state);
const char *indicator_name(enum indicator_state);

/* nncp.c */
int nncp_xfer_rx(const struct config *, const char *nncp_cfg, const char *dir);
int nncp_xfer_tx(const struct config *, const char *nncp_cfg, const char *dir);
int nncp_toss(const struct config *, const char *nncp_cfg);
int nncp_pending(const struct config *, const char *nncp_cfg);
int nncp_exec(const struct config *, const char *nncp_cfg, const char *node,
    const char *handle, int stdin_fd);

/* ledger.c */
struct ledger_entry {
	char *key; /* the queue file's path */
	char *pool;
	uint64_t guid; /* the last snapshot the file carried */
	char *dataset;
};
struct ledger {
	char *path;
	struct ledger_entry *e;
	size_t n;
};
int ledger_parse_line(char *, void *);
int ledger_load(const char *state_dir, struct ledger *);
int ledger_save(const struct ledger *);
int ledger_has(const struct ledger *, const char *key, const char *pool);
void ledger_add(struct ledger *, const char *key, const char *pool, uint64_t,
    const char *dataset);
void ledger_drop(struct ledger *, size_t);
void ledger_forget(struct ledger *, const char *key);
int ledger_complete(const struct ledger *, char *const *rotation,
    const char *key, const char **missing);
int ledger_settle(struct ledger *, char *const *rotation, const char *pool,
    const char *key, uint64_t guid, const char *dataset, char *reason,
    size_t len);
void ledger_reconcile(struct ledger *, const struct queue *, const char *pool,
    struct zfs_cache *, const struct config *);
void ledger_free(struct ledger *);

/* verified.c */
struct verified_entry;
struct verified {
	char *path;
	struct verified_entry *e;
	size_t n;
	int dirty;
};
struct stat;
int verified_load(const char *state_dir, struct verified *);
int verified_has(const struct verified *, const char *path, const struct stat *,
    uint64_t first, uint64_t base);
void verified_add(struct verified *, const char *path, const struct stat *,
    uint64_t first, uint64_t base);
void verified_forget(struct verified *, const char *path);
int verified_save(struct verified *, const struct queue *);
void verified_free(struct verified *);

/* ingest.c */
struct ingest_summary {
	int received;
	int duplicate;
	int kept;
	int waiting;
	int held;
	int failed;
	int quarantined;
};
int ingest_run(const struct config *, const char *pool, const char *own_incoming,
    struct ingest_summary *);

/* disk.c */
struct disk_result {
	struct medium_result res;
	int imported; /* its pool came in: the disk was served */
	int exported;
	char pool[256];
	struct ingest_summary sum;
};
int disk_run(const struct config *, const struct medium *, struct disk_result *);

/* stick.c */
void stick_run(const struct config *, const struct medium *,
    struct medium_result *);

/* receipt.c */
#define RECEIPT_HANDLE "airgap-receipt" /* the laptop's exec handle */
void receipt_note_disk(const struct config *, const char *pool,
    const char *pool_guid);
int receipt_send_all(const struct config *, int *failed);
void receipt_status(const struct config *, int json);

/* handle.c */
#define HANDLE_SAFE 0
#define HANDLE_FAILED 1
#define HANDLE_NOT_OURS 3
int handle_device(const struct config *, const char *devnode);
void handle_log_run(const struct config *, const struct medium *,
    const char *outcome, const char *message);

/* enqueue.c */
int enqueue_run(const struct config *, const char *dest);

/* status.c */
int status_show(const struct config *, int json);
int status_overdue(const struct config *, char *which, size_t);

/* verify.c */
int verify_file(const struct config *, const char *path);

/* watch.c */
int watch_run(const struct config *, const char *self, const char *cfg_path,
    int verbose);

/* restore.c */
struct restore_snap {
	char *name; /* the whole name, POOL/store/HOST/dataset@snap */
	long long creation;
	uint64_t guid;
};
struct restore_ds {
	char *name; /* POOL/store/HOST/dataset */
	int volume;
	int encrypted;
	struct restore_snap *snaps; /* newest first */
	size_t nsnaps;
};
struct restore_list {
	char *root; /* POOL/store */
	struct restore_ds *ds;
	size_t n;
};
struct restore_session {
	const struct config *cfg;
	struct medium m;
	int lock;
};
int restore_begin(const struct config *, const char *pool, const char *what,
    struct restore_session *);
int restore_end(struct restore_session *, int ok, const char *message);
int restore_scan(const struct config *, const char *pool, struct restore_list *);
void restore_list_free(struct restore_list *);
int restore_busy(const struct config *, const char *guid);
int restore_read_stream(const struct config *, const char *snap, int raw,
    int fd, uint64_t *bytes, struct hash *);
int restore_command(const struct config *, int argc, char **argv);

/* drill.c */
int drill_run(const struct config *, const char *pool, int scrub);
/* retention.c */
#define RETENTION_RULES_MAX 32
#define RETENTION_DROP (-1)
#define RETENTION_NEWEST (-2)
struct retention_rule {
	int64_t period; /* seconds per bucket */
	int64_t ttl;    /* how far back it applies; INT64_MAX: forever */
};
struct retention_schedule {
	int has_count;
	unsigned keep_newest;
	size_t nrules;
	struct retention_rule rules[RETENTION_RULES_MAX];
};
int retention_parse(const char *, struct retention_schedule *, const char **why);
void retention_decide(const struct retention_schedule *, int64_t now,
    const int64_t *times, size_t n, int *keep);
void retention_rule_text(const struct retention_rule *, char *, size_t);
struct retention_summary {
	size_t kept;
	size_t destroyed;
	int64_t oldest, newest; /* creation times of what is kept */
};
int retention_run(const struct config *, const char *pool,
    const char *own_incoming, int dry_run, struct retention_summary *);
void retention_if_low(const struct config *, const char *pool,
    const char *own_incoming);
void retention_status(const struct config *, int json);

#endif
