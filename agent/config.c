/*
 * The configuration file: the only user of libconfig.  Every value is
 * checked here, so the rest of the program can trust struct config.
 * Errors name the file, the line and the key.
 */
#include <ctype.h>
#include <fnmatch.h>
#include <sys/stat.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libconfig.h>

#include "airgap-agent.h"

static const char *const top_keys[] = { "state_dir", "mount_dir", "zfs",
	"ingest", "nncp", "media", "status", "timeouts", "retention", NULL };
static const char *const zfs_keys[] = { "zpool", "zfs", "import_args",
	"receive_args", "create_args", NULL };
static const char *const ingest_keys[] = { "incoming", "store", "gnupg_home",
	"hosts", "min_free_mb", "exec_queue", "rotation", "rotation_warn_days",
	NULL };
static const char *const nncp_keys[] = { "user", "bin_dir", "configs",
	"xfer_dir", NULL };
static const char *const media_keys[] = { "label", "role", "power_off",
	"incoming", NULL };
static const char *const status_keys[] = { "leds", "beeper", "console", NULL };
static const char *const host_keys[] = { "name", "signers",
	"require_signature", "nncp_node", "retention", NULL };
static const char *const retention_keys[] = { "schedule", "patterns", NULL };
/* The snapshot names of simplesnap and of the lab's and guide's own
 * senders: only these are ever destroyed by thinning. */
static const char *const default_patterns[] = { "__simplesnap_*__",
	"airgap-*", NULL };
static const char *const timeout_keys[] = { "command", "stall", "nncp",
	"import", "export", "handle", NULL };

/* OpenZFS: -N mounts nothing of the disk; cachefile=none keeps a pool
 * left imported by a failure out of zpool.cache, which the next boot
 * would import and mount.  -x mountpoint: a received dataset inherits
 * mountpoint=none from its parents (create_args) instead of taking a
 * mountpoint a sender put into its stream. */
static const char *const default_import[] = { "-N", "-o", "cachefile=none",
	NULL };
static const char *const default_receive[] = { "-u", "-o", "readonly=on",
	"-x", "mountpoint", NULL };
static const char *const default_create[] = { "-o", "mountpoint=none", NULL };
static const char *const default_nncp_configs[] = { "/etc/nncp/nncp.hjson", NULL };
static const char *const default_leds[] = { "/sys/class/leds/input*::scrolllock",
	NULL };
static const char *const no_strings[] = { NULL };

static int
bad(const char *path, const config_setting_t *s, const char *key,
    const char *why)
{
	int line = s ? config_setting_source_line(s) : 0;

	log_warnx("%s:%d: %s: %s", path, line, key, why);
	return -1;
}

/* Unknown keys are refused: a misspelt key would otherwise silently
 * leave a safety default in place of what the operator meant, or the
 * reverse. */
static int
check_keys(const char *path, const config_setting_t *group,
    const char *prefix, const char *const *allowed)
{
	int i, n = config_setting_length(group);

	for (i = 0; i < n; i++) {
		const config_setting_t *s = config_setting_get_elem(group, i);
		const char *name = config_setting_name(s);

		if (name != NULL && !strv_has(allowed, name)) {
			char key[128];

			snprintf(key, sizeof key, "%s%s", prefix, name);
			return bad(path, s, key, "unknown key");
		}
	}
	return 0;
}

#define STR_PATH 1  /* an absolute path */
#define STR_EMPTY 2 /* "" allowed (it means "none") */

static int
get_string(const char *path, const config_setting_t *group, const char *key,
    const char *prefix, const char *def, int flags, char **out)
{
	const config_setting_t *s = group ? config_setting_get_member(group, key) : NULL;
	char full[128];
	const char *v;

	snprintf(full, sizeof full, "%s%s", prefix, key);
	if (s == NULL) {
		if (def == NULL)
			return bad(path, group, full, "missing");
		*out = xstrdup(def);
		return 0;
	}
	if (config_setting_type(s) != CONFIG_TYPE_STRING)
		return bad(path, s, full, "must be a string");
	v = config_setting_get_string(s);
	if (v[0] == '\0' && (flags & STR_EMPTY)) {
		*out = xstrdup(v);
		return 0;
	}
	if ((flags & STR_PATH) && v[0] != '/')
		return bad(path, s, full, "must be an absolute path");
	if (v[0] == '\0')
		return bad(path, s, full, "must not be empty");
	*out = xstrdup(v);
	return 0;
}

static int
get_int(const char *path, const config_setting_t *group, const char *key,
    const char *prefix, int def, int min, int max, int *out)
{
	const config_setting_t *s = group ? config_setting_get_member(group, key) : NULL;
	char full[128];
	int v;

	snprintf(full, sizeof full, "%s%s", prefix, key);
	*out = def;
	if (s == NULL)
		return 0;
	if (config_setting_type(s) != CONFIG_TYPE_INT)
		return bad(path, s, full, "must be an integer");
	v = config_setting_get_int(s);
	if (v < min || v > max)
		return bad(path, s, full, "out of range");
	*out = v;
	return 0;
}

static int
get_bool(const char *path, const config_setting_t *group, const char *key,
    const char *prefix, int def, int *out)
{
	const config_setting_t *s = group ? config_setting_get_member(group, key) : NULL;
	char full[128];

	snprintf(full, sizeof full, "%s%s", prefix, key);
	*out = def;
	if (s == NULL)
		return 0;
	if (config_setting_type(s) != CONFIG_TYPE_BOOL)
		return bad(path, s, full, "must be true or false");
	*out = config_setting_get_bool(s);
	return 0;
}

static int
get_strv(const char *path, const config_setting_t *group, const char *key,
    const char *prefix, const char *const *def, char ***out)
{
	const config_setting_t *s = group ? config_setting_get_member(group, key) : NULL;
	char full[128];
	int i, n;

	snprintf(full, sizeof full, "%s%s", prefix, key);
	if (s == NULL) {
		*out = strv_copy((char *const *)def);
		return 0;
	}
	if (!config_setting_is_array(s) && !config_setting_is_list(s))
		return bad(path, s, full, "must be a list of strings");
	n = config_setting_length(s);
	*out = xcalloc((size_t)n + 1, sizeof **out);
	for (i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(s, i);

		if (config_setting_type(e) != CONFIG_TYPE_STRING)
			return bad(path, s, full, "must be a list of strings");
		(*out)[i] = xstrdup(config_setting_get_string(e));
	}
	return 0;
}

/* -F would let a sender roll the backup back; -s leaves partial state
 * behind a failed stream.  Neither belongs on a backup disk. */
static int
check_receive_args(const char *path, const config_setting_t *s, char **args)
{
	size_t i;

	for (i = 0; args[i] != NULL; i++) {
		const char *a = args[i];

		if (strcmp(a, "-o") == 0 || strcmp(a, "-x") == 0) {
			if (args[i + 1] == NULL)
				return bad(path, s, "zfs.receive_args",
				    "option without a value");
			i++;
			continue;
		}
		if (a[0] == '-' && a[1] != '-' &&
		    (strchr(a + 1, 'F') != NULL || strchr(a + 1, 's') != NULL))
			return bad(path, s, "zfs.receive_args",
			    "-F and -s are refused");
	}
	return 0;
}

static int
normalize_fpr(char *f)
{
	size_t i, n = strlen(f);

	if (n != 40 && n != 64)
		return -1;
	for (i = 0; i < n; i++) {
		if (!isxdigit((unsigned char)f[i]))
			return -1;
		f[i] = (char)toupper((unsigned char)f[i]);
	}
	return 0;
}

static int
valid_node(const char *id)
{
	size_t i;

	if (strlen(id) != 52)
		return 0;
	for (i = 0; id[i] != '\0'; i++)
		if (!(id[i] >= 'A' && id[i] <= 'Z') && !(id[i] >= '2' && id[i] <= '7'))
			return 0;
	return 1;
}

/* A thinning schedule (retention.c), or NULL where none is set. */
static int
get_schedule(const char *path, const config_setting_t *group,
    const char *prefix, char **out)
{
	const char *key = strcmp(prefix, "retention.") == 0 ? "schedule" :
	    "retention";
	struct retention_schedule sched;
	char full[128];
	const char *why;

	*out = NULL;
	if (group == NULL || config_setting_get_member(group, key) == NULL)
		return 0;
	if (get_string(path, group, key, prefix, NULL, 0, out) == -1)
		return -1;
	snprintf(full, sizeof full, "%s%s", prefix, key);
	if (retention_parse(*out, &sched, &why) == -1)
		return bad(path, config_setting_get_member(group, key), full, why);
	return 0;
}

static int
load_retention(const char *path, const config_setting_t *r, struct config *c)
{
	if (r != NULL && check_keys(path, r, "retention.", retention_keys) == -1)
		return -1;
	if (get_schedule(path, r, "retention.", &c->retention) == -1 ||
	    get_strv(path, r, "patterns", "retention.", default_patterns,
	    &c->retention_patterns) == -1)
		return -1;
	return 0;
}

static int
load_host(const char *path, const config_setting_t *s, void *out)
{
	struct host_cfg *h = out;
	const config_setting_t *rs;
	size_t i;

	if (config_setting_type(s) != CONFIG_TYPE_GROUP)
		return bad(path, s, "ingest.hosts", "each host must be a group");
	if (check_keys(path, s, "ingest.hosts.", host_keys) == -1)
		return -1;
	if (get_string(path, s, "name", "ingest.hosts.", NULL, 0, &h->name) == -1)
		return -1;
	if (!queue_valid_host(h->name))
		return bad(path, s, "ingest.hosts.name", "not a valid host name");
	if (get_strv(path, s, "signers", "ingest.hosts.",
	    (const char *const[]){ NULL }, &h->signers) == -1)
		return -1;
	for (i = 0; h->signers[i] != NULL; i++)
		if (normalize_fpr(h->signers[i]) == -1)
			return bad(path, s, "ingest.hosts.signers",
			    "not a 40 or 64 digit hex fingerprint");
	h->require_signature = 1;
	rs = config_setting_get_member(s, "require_signature");
	if (rs != NULL) {
		if (config_setting_type(rs) != CONFIG_TYPE_BOOL)
			return bad(path, rs, "ingest.hosts.require_signature",
			    "must be true or false");
		h->require_signature = config_setting_get_bool(rs);
	}
	if (h->require_signature && h->signers[0] == NULL)
		return bad(path, s, "ingest.hosts.signers",
		    "empty, but require_signature is true");
	if (config_setting_get_member(s, "nncp_node") != NULL &&
	    (get_string(path, s, "nncp_node", "ingest.hosts.", NULL, 0,
	    &h->nncp_node) == -1 || !valid_node(h->nncp_node)))
		return bad(path, s, "ingest.hosts.nncp_node",
		    "not an NNCP node id (52 Base32 characters)");
	return get_schedule(path, s, "ingest.hosts.", &h->retention);
}

/* Each group of the list (or array) S through LOAD into a new array
 * *OUT of elements of SIZE bytes; *COUNT counts those loaded, so that
 * config_free frees what a failure left. */
static int
load_groups(const char *path, const config_setting_t *s, const char *key,
    void **out, size_t size, size_t *count,
    int (*load)(const char *, const config_setting_t *, void *))
{
	int i, n;

	if (!config_setting_is_list(s) && !config_setting_is_array(s))
		return bad(path, s, key, "must be a list of groups");
	n = config_setting_length(s);
	*out = xcalloc((size_t)n, size);
	for (i = 0; i < n; i++) {
		*count = (size_t)i + 1;
		if (load(path, config_setting_get_elem(s, i),
		    (char *)*out + (size_t)i * size) == -1)
			return -1;
	}
	return 0;
}

static int
load_hosts(const char *path, const config_setting_t *ingest, struct config *c)
{
	const config_setting_t *hs;
	size_t i, j;

	hs = ingest ? config_setting_get_member(ingest, "hosts") : NULL;
	if (hs == NULL)
		return 0;
	if (load_groups(path, hs, "ingest.hosts", (void **)&c->hosts,
	    sizeof *c->hosts, &c->nhosts, load_host) == -1)
		return -1;
	for (i = 0; i < c->nhosts; i++) {
		for (j = 0; j < i; j++)
			if (strcmp(c->hosts[j].name, c->hosts[i].name) == 0)
				return bad(path, config_setting_get_elem(hs, (int)i),
				    "ingest.hosts.name", "listed twice");
	}
	return 0;
}

static int
load_zfs(const char *path, const config_setting_t *z, struct config *c)
{
	if (z != NULL && check_keys(path, z, "zfs.", zfs_keys) == -1)
		return -1;
	if (get_string(path, z, "zpool", "zfs.", "/sbin/zpool", 1, &c->zpool) == -1 ||
	    get_string(path, z, "zfs", "zfs.", "/sbin/zfs", 1, &c->zfs) == -1 ||
	    get_strv(path, z, "import_args", "zfs.", default_import,
	    &c->import_args) == -1 ||
	    get_strv(path, z, "receive_args", "zfs.", default_receive,
	    &c->receive_args) == -1 ||
	    get_strv(path, z, "create_args", "zfs.", default_create,
	    &c->create_args) == -1)
		return -1;
	return check_receive_args(path, z, c->receive_args);
}

/* PATH without "//", "/./", a trailing "/" and with ".." taken
 * lexically, for comparing folders that may not exist yet. */
static char *
lexical_path(const char *path)
{
	char *out = xmalloc(strlen(path) + 2), *o = out;
	const char *p = path;

	while (*p != '\0') {
		size_t n;

		while (*p == '/')
			p++;
		n = strcspn(p, "/");
		if (n == 0 || (n == 1 && p[0] == '.')) {
			p += n;
			continue;
		}
		if (n == 2 && p[0] == '.' && p[1] == '.') {
			while (o > out && *--o != '/')
				;
			p += n;
			continue;
		}
		*o++ = '/';
		memcpy(o, p, n);
		o += n;
		p += n;
	}
	if (o == out)
		*o++ = '/';
	*o = '\0';
	return out;
}

/* Is A the same folder as B, or inside it? */
static int
path_within(const char *a, const char *b)
{
	size_t n = strlen(b);

	if (strcmp(b, "/") == 0)
		return 1;
	return strncmp(a, b, n) == 0 && (a[n] == '\0' || a[n] == '/');
}

/* PATH as it really is: its deepest existing ancestor through
 * realpath(3), the rest (not created yet) as written. */
static char *
real_path(const char *path)
{
	char *lex = lexical_path(path), *head = xstrdup(lex), *cut, *real, *out;

	while ((real = realpath(head, NULL)) == NULL) {
		if ((cut = strrchr(head, '/')) == NULL || cut == head) {
			free(head);
			return lex;
		}
		*cut = '\0';
	}
	out = xasprintf("%s%s", strcmp(real, "/") == 0 ? "" : real,
	    lex + strlen(head));
	free(real);
	free(head);
	free(lex);
	return out;
}

/* Two folders overlap when one is the other or lies inside it, as
 * written (a trailing "/" or "/./" changes nothing) and as they really
 * are (through symbolic links, as far as they exist). */
static int
folders_overlap(const char *a, const char *b)
{
	char *la = lexical_path(a), *lb = lexical_path(b);
	char *ra = real_path(a), *rb = real_path(b);
	int overlap = path_within(la, lb) || path_within(lb, la) ||
	    path_within(ra, rb) || path_within(rb, ra);

	free(la);
	free(lb);
	free(ra);
	free(rb);
	return overlap;
}

static int
load_ingest(const char *path, const config_setting_t *in, struct config *c)
{
	const char *why;
	size_t i;

	if (in != NULL && check_keys(path, in, "ingest.", ingest_keys) == -1)
		return -1;
	if (get_string(path, in, "incoming", "ingest.", "/var/local/nncp-incoming",
	    1, &c->incoming) == -1 ||
	    get_string(path, in, "store", "ingest.", "simplesnap", 0,
	    &c->store) == -1 ||
	    get_string(path, in, "gnupg_home", "ingest.", "/root/.gnupg", 1,
	    &c->gnupg_home) == -1)
		return -1;
	if (queue_valid_dataset(c->store, &why) == -1)
		return bad(path, in, "ingest.store", why);
	if (get_int(path, in, "min_free_mb", "ingest.", 1024, 0, 1 << 30,
	    &c->min_free_mb) == -1 ||
	    get_string(path, in, "exec_queue", "ingest.",
	    "/var/local/nncp-exec-queue", 1, &c->exec_queue) == -1 ||
	    get_strv(path, in, "rotation", "ingest.", no_strings,
	    &c->rotation) == -1 ||
	    get_int(path, in, "rotation_warn_days", "ingest.", 14, 1, 3650,
	    &c->rotation_warn_days) == -1)
		return -1;
	if (folders_overlap(c->exec_queue, c->incoming))
		return bad(path, in, "ingest.exec_queue", "must be apart from "
		    "the incoming folder (not it, not inside it, not around it)");
	for (i = 0; c->rotation[i] != NULL; i++)
		if (queue_valid_dataset(c->rotation[i], &why) == -1 ||
		    strchr(c->rotation[i], '/') != NULL)
			return bad(path, in, "ingest.rotation", "not a pool name");
	return load_hosts(path, in, c);
}

static int
load_nncp(const char *path, const config_setting_t *n, struct config *c)
{
	size_t i;

	if (n != NULL && check_keys(path, n, "nncp.", nncp_keys) == -1)
		return -1;
	if (get_string(path, n, "user", "nncp.", "nncp", 0, &c->nncp_user) == -1 ||
	    get_string(path, n, "bin_dir", "nncp.", "/usr/bin", 1,
	    &c->nncp_bin_dir) == -1 ||
	    get_strv(path, n, "configs", "nncp.", default_nncp_configs,
	    &c->nncp_configs) == -1 ||
	    get_string(path, n, "xfer_dir", "nncp.", "nncp", 0,
	    &c->nncp_xfer_dir) == -1)
		return -1;
	if (strcmp(c->nncp_user, "root") == 0)
		return bad(path, n, "nncp.user", "NNCP never runs as root");
	for (i = 0; c->nncp_configs[i] != NULL; i++)
		if (c->nncp_configs[i][0] != '/')
			return bad(path, n, "nncp.configs", "must be absolute paths");
	if (strchr(c->nncp_xfer_dir, '/') != NULL ||
	    strcmp(c->nncp_xfer_dir, "..") == 0 || c->nncp_xfer_dir[0] == '.')
		return bad(path, n, "nncp.xfer_dir", "must be a plain folder name");
	return 0;
}

static int
load_medium(const char *path, const config_setting_t *s, void *out)
{
	struct media_cfg *m = out;
	char *role = NULL;
	int rc = 0;

	if (config_setting_type(s) != CONFIG_TYPE_GROUP)
		return bad(path, s, "media", "each entry must be a group");
	if (check_keys(path, s, "media.", media_keys) == -1 ||
	    get_string(path, s, "label", "media.", NULL, 0, &m->label) == -1 ||
	    get_string(path, s, "role", "media.", NULL, 0, &role) == -1 ||
	    get_strv(path, s, "power_off", "media.", no_strings,
	    &m->power_off) == -1) {
		free(role);
		return -1;
	}
	if (role == NULL)
		return -1;
	if (strcmp(role, "transport") == 0)
		m->role = ROLE_TRANSPORT;
	else if (strcmp(role, "backup") == 0)
		m->role = ROLE_BACKUP;
	else
		rc = bad(path, s, "media.role", "must be \"transport\" or \"backup\"");
	free(role);
	if (rc == 0 && config_setting_get_member(s, "incoming") != NULL &&
	    get_string(path, s, "incoming", "media.", NULL, 1, &m->incoming) == -1)
		rc = -1;
	if (rc == 0 && m->power_off[0] != NULL && m->power_off[0][0] != '/' &&
	    strcmp(m->power_off[0], "scsi-delete") != 0)
		rc = bad(path, s, "media.power_off",
		    "must start with an absolute path or be [ \"scsi-delete\" ]");
	return rc;
}

static int
load_media(const char *path, const config_setting_t *ms, struct config *c)
{
	static const struct { const char *label; enum media_role role; } def[] = {
		{ "NNCPSTICK*", ROLE_TRANSPORT }, { "bakdisk*", ROLE_BACKUP } };
	size_t i;

	if (ms == NULL) {
		c->nmedia = 2;
		c->media = xcalloc(2, sizeof *c->media);
		for (i = 0; i < 2; i++) {
			c->media[i].label = xstrdup(def[i].label);
			c->media[i].role = def[i].role;
			c->media[i].power_off = strv_copy((char *const *)no_strings);
		}
		return 0;
	}
	return load_groups(path, ms, "media", (void **)&c->media,
	    sizeof *c->media, &c->nmedia, load_medium);
}

static int
load_status(const char *path, const config_setting_t *st, struct config *c)
{
	size_t i;

	if (st != NULL && check_keys(path, st, "status.", status_keys) == -1)
		return -1;
	if (get_strv(path, st, "leds", "status.", default_leds, &c->leds) == -1 ||
	    get_string(path, st, "beeper", "status.",
	    "/dev/input/by-path/platform-pcspkr-event-spkr", STR_EMPTY,
	    &c->beeper) == -1 ||
	    get_bool(path, st, "console", "status.", 0, &c->console) == -1)
		return -1;
	for (i = 0; c->leds[i] != NULL; i++)
		if (c->leds[i][0] != '/')
			return bad(path, st, "status.leds", "must be absolute paths");
	if (c->beeper[0] != '\0' && c->beeper[0] != '/')
		return bad(path, st, "status.beeper",
		    "must be an absolute path or \"\"");
	return 0;
}

static int
load_timeouts(const char *path, const config_setting_t *t, struct config *c)
{
	if (t != NULL && check_keys(path, t, "timeouts.", timeout_keys) == -1)
		return -1;
	if (get_int(path, t, "command", "timeouts.", 120, 1, 86400,
	    &c->timeout_command) == -1 ||
	    get_int(path, t, "stall", "timeouts.", 600, 1, 86400,
	    &c->timeout_stall) == -1 ||
	    get_int(path, t, "nncp", "timeouts.", 1800, 1, 86400,
	    &c->timeout_nncp) == -1 ||
	    get_int(path, t, "import", "timeouts.", 300, 1, 86400,
	    &c->timeout_import) == -1 ||
	    get_int(path, t, "export", "timeouts.", 300, 1, 86400,
	    &c->timeout_export) == -1 ||
	    get_int(path, t, "handle", "timeouts.", 86400, 1, 7 * 86400,
	    &c->timeout_handle) == -1)
		return -1;
	return 0;
}

static int
load_root(const char *path, config_t *cf, struct config *c)
{
	const config_setting_t *root = config_root_setting(cf);

	if (check_keys(path, root, "", top_keys) == -1)
		return -1;
	if (get_string(path, root, "state_dir", "", "/var/lib/airgap-agent", 1,
	    &c->state_dir) == -1 ||
	    get_string(path, root, "mount_dir", "", "/run/airgap-agent", 1,
	    &c->mount_dir) == -1)
		return -1;
	if (load_zfs(path, config_setting_get_member(root, "zfs"), c) == -1 ||
	    load_ingest(path, config_setting_get_member(root, "ingest"), c) == -1 ||
	    load_nncp(path, config_setting_get_member(root, "nncp"), c) == -1 ||
	    load_media(path, config_setting_get_member(root, "media"), c) == -1 ||
	    load_status(path, config_setting_get_member(root, "status"), c) == -1 ||
	    load_timeouts(path, config_setting_get_member(root, "timeouts"), c) == -1 ||
	    load_retention(path, config_setting_get_member(root, "retention"), c) == -1)
		return -1;
	return 0;
}

/* The config steers what runs as root: nobody else may write it. */
static int
check_file(const char *path)
{
	struct stat st;

	if (stat(path, &st) == -1) {
		log_warn("%s", path);
		return -1;
	}
	if ((st.st_mode & (S_IWGRP | S_IWOTH)) || (st.st_uid != 0 &&
	    st.st_uid != geteuid())) {
		log_warnx("%s: writable by others or owned by another user, "
		    "refusing", path);
		return -1;
	}
	return 0;
}

/* On failure everything is freed again: nothing to clean up. */
int
config_load(const char *path, struct config *c)
{
	config_t cf;
	int rc = -1;

	memset(c, 0, sizeof *c);
	c->path = xstrdup(path);
	if (check_file(path) == -1)
		goto out;
	config_init(&cf);
	if (config_read_file(&cf, path) != CONFIG_TRUE) {
		if (config_error_type(&cf) == CONFIG_ERR_FILE_IO)
			log_warn("%s: cannot read", path);
		else
			log_warnx("%s:%d: %s", config_error_file(&cf) ?
			    config_error_file(&cf) : path,
			    config_error_line(&cf), config_error_text(&cf));
	} else
		rc = load_root(path, &cf, c);
	config_destroy(&cf);
out:
	if (rc == -1)
		config_free(c);
	return rc;
}

static void
print_strv(const char *indent, const char *key, char **v)
{
	size_t i;

	printf("%s%s = [", indent, key);
	for (i = 0; v[i] != NULL; i++)
		printf("%s \"%s\"", i ? "," : "", v[i]);
	printf(" ];\n");
}

static void
print_host(const struct host_cfg *h, int last)
{
	printf("    { name = \"%s\"; require_signature = %s;\n", h->name,
	    h->require_signature ? "true" : "false");
	if (h->nncp_node != NULL)
		printf("      nncp_node = \"%s\";\n", h->nncp_node);
	if (h->retention != NULL)
		printf("      retention = \"%s\";\n", h->retention);
	print_strv("      ", "signers", h->signers);
	printf("    }%s\n", last ? "" : ",");
}

static void
print_hosts(const struct config *c)
{
	size_t i;

	printf("  hosts = (\n");
	for (i = 0; i < c->nhosts; i++)
		print_host(&c->hosts[i], i + 1 == c->nhosts);
	printf("  );\n");
}

static void
print_media(const struct config *c)
{
	size_t i;

	printf("media = (\n");
	for (i = 0; i < c->nmedia; i++) {
		printf("  { label = \"%s\"; role = \"%s\";\n", c->media[i].label,
		    c->media[i].role == ROLE_BACKUP ? "backup" : "transport");
		print_strv("    ", "power_off", c->media[i].power_off);
		if (c->media[i].incoming != NULL)
			printf("    incoming = \"%s\";\n", c->media[i].incoming);
		printf("  }%s\n", i + 1 < c->nmedia ? "," : "");
	}
	printf(");\n");
}

void
config_print(const struct config *c)
{
	printf("# effective configuration from %s\n", c->path);
	printf("state_dir = \"%s\";\nmount_dir = \"%s\";\n", c->state_dir,
	    c->mount_dir);
	printf("zfs = {\n  zpool = \"%s\";\n  zfs = \"%s\";\n", c->zpool, c->zfs);
	print_strv("  ", "import_args", c->import_args);
	print_strv("  ", "receive_args", c->receive_args);
	print_strv("  ", "create_args", c->create_args);
	printf("};\ningest = {\n  incoming = \"%s\";\n  store = \"%s\";\n"
	    "  gnupg_home = \"%s\";\n  min_free_mb = %d;\n  exec_queue = \"%s\";\n"
	    "  rotation_warn_days = %d;\n", c->incoming, c->store, c->gnupg_home,
	    c->min_free_mb, c->exec_queue, c->rotation_warn_days);
	print_strv("  ", "rotation", c->rotation);
	print_hosts(c);
	printf("};\nnncp = {\n  user = \"%s\";\n  bin_dir = \"%s\";\n",
	    c->nncp_user, c->nncp_bin_dir);
	print_strv("  ", "configs", c->nncp_configs);
	printf("  xfer_dir = \"%s\";\n};\n", c->nncp_xfer_dir);
	print_media(c);
	printf("status = {\n");
	print_strv("  ", "leds", c->leds);
	printf("  beeper = \"%s\";\n  console = %s;\n};\n", c->beeper,
	    c->console ? "true" : "false");
	printf("timeouts = {\n  command = %d;\n  stall = %d;\n  nncp = %d;\n"
	    "  import = %d;\n  export = %d;\n  handle = %d;\n};\n",
	    c->timeout_command, c->timeout_stall, c->timeout_nncp,
	    c->timeout_import, c->timeout_export, c->timeout_handle);
	printf("retention = {\n");
	if (c->retention != NULL)
		printf("  schedule = \"%s\";\n", c->retention);
	print_strv("  ", "patterns", c->retention_patterns);
	printf("};\n");
}

/* The first media entry whose pattern matches LABEL, or NULL. */
const struct media_cfg *
config_medium(const struct config *c, const char *label)
{
	size_t i;

	for (i = 0; i < c->nmedia; i++)
		if (fnmatch(c->media[i].label, label, 0) == 0)
			return &c->media[i];
	return NULL;
}

/* Whether HOST's files that are not OpenPGP (plain or zstd-only streams
 * from the exec queue) may be received: only when NNCP authenticates
 * its sender (nncp_node) and the host does not require a signature.
 * The exec queue alone proves nothing: the NNCP user, who handles
 * hostile sticks, can write there. */
int
config_host_unsigned_ok(const struct host_cfg *h)
{
	return h->nncp_node != NULL && !h->require_signature;
}

const struct host_cfg *
config_host(const struct config *c, const char *name)
{
	size_t i;

	for (i = 0; i < c->nhosts; i++)
		if (strcmp(c->hosts[i].name, name) == 0)
			return &c->hosts[i];
	return NULL;
}

void
config_free(struct config *c)
{
	size_t i;

	for (i = 0; i < c->nhosts; i++) {
		free(c->hosts[i].name);
		strv_free(c->hosts[i].signers);
		free(c->hosts[i].nncp_node);
		free(c->hosts[i].retention);
	}
	free(c->hosts);
	for (i = 0; i < c->nmedia; i++) {
		free(c->media[i].label);
		strv_free(c->media[i].power_off);
		free(c->media[i].incoming);
	}
	free(c->media);
	free(c->mount_dir);
	free(c->nncp_user);
	free(c->nncp_bin_dir);
	strv_free(c->nncp_configs);
	free(c->nncp_xfer_dir);
	strv_free(c->leds);
	free(c->beeper);
	strv_free(c->import_args);
	strv_free(c->receive_args);
	strv_free(c->create_args);
	free(c->path);
	free(c->state_dir);
	free(c->zpool);
	free(c->zfs);
	free(c->incoming);
	free(c->exec_queue);
	strv_free(c->rotation);
	free(c->retention);
	strv_free(c->retention_patterns);
	free(c->store);
	free(c->gnupg_home);
	memset(c, 0, sizeof *c);
}
