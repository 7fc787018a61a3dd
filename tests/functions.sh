# shellcheck shell=bash
#
# tests/functions.sh: shared setup, teardown and checks for the scenario
# tests.  Every tests/tNN-*.sh script sources this file, calls lab_init,
# builds what it needs with the lab_* helpers and checks the result with the
# assert_* helpers.  A failed assertion prints what it expected and what it
# found, shows the log of the last airgap-agent run and ends the script with
# exit status 1.  The EXIT trap installed by lab_init removes everything the
# script created (pools, mounts, loop devices, gpg-agents, the lab
# directory), also when the script fails or is interrupted.
#
# The lab uses real components only: zfs-fuse pools on files, throwaway gpg
# keyrings and zstd, with the queue files made exactly as the sender side
# (simplesnap-queue) makes them:
#   zfs send ... | zstd -8 - | gpg --compress-algo none --cipher-algo AES256 \
#       -e -r BACKUPSVR [-s -u SIGNER] > INCOMING/HOST/bakfsfmt2-S.N.PID_DEST
#
# Variables set by lab_init and the helpers:
#   TOP        repository root
#   AGENT      the program under test (${AIRGAP_AGENT:-$TOP/agent/airgap-agent})
#   TS_NAME    name of the running scenario
#   LAB        scratch directory (/tmp/aga.XXXXXX)
#   STATE      the agent's state_dir ($LAB/state)
#   INCOMING   the agent's incoming dir ($LAB/incoming)
#   CONF       the agent's config file ($LAB/airgap-agent.conf)
#   G_BSVR G_LAP G_OTH                 GNUPGHOMEs of backupsvr, laptop, other
#   BSVR_FPR LAP_FPR OTH_FPR           their primary key fingerprints
#   LAP_POOL LAP_FS LAP_MNT            source pool, dataset, mountpoint
#   BAK_POOL                           the backup pool (receiving side)
#   STORE_ROOT                         $BAK_POOL/simplesnap/laptop/$LAP_FS
#   QF QN                              path and name of the last queue file
#   AGENT_RC AGENT_LOG                 exit status and log of the last run
#   USER_AGENT  a copy of $AGENT that other users can run (lab_user_bin)

set -o errexit -o nounset -o pipefail -o errtrace
shopt -s nullglob

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
AGENT=${AIRGAP_AGENT:-$TOP/agent/airgap-agent}
TS_NAME=$(basename "$0" .sh)

LAB=
LAB_POOLS=()
LAB_LOOPS=()
LAB_GNUPGHOMES=()
LAB_ZFS_PID=
LAB_CLONES=0
LAB_RUNS=0
# Functions lab_cleanup calls first (before the pools) and last (after the
# loop devices), added by the appliance section at the end of this file.
LAB_CLEANUP_FIRST=()
LAB_CLEANUP_LAST=()
AGENT_RC=
AGENT_LOG=
QF=
QN=

# ---------------------------------------------------------------------------
# messages and failure

lab_log() {
	printf '%s: %s\n' "$TS_NAME" "$*"
}

# Show what the last agent run printed and the newest report, to explain a
# failure.
lab_show_last_run() {
	local report

	if [ -n "$AGENT_LOG" ] && [ -f "$AGENT_LOG" ]; then
		printf -- '--- output of the last airgap-agent run (%s, exit %s):\n' \
		    "$AGENT_LOG" "$AGENT_RC"
		tail -n 200 "$AGENT_LOG"
		printf -- '--- end of output\n'
	fi
	report=$(lab_report_file)
	if [ -n "$report" ]; then
		printf -- '--- newest report %s:\n' "$report"
		cat -A "$report" | tail -n 100
		printf -- '--- end of report\n'
	fi
	if [ -n "$LAB" ] && [ -d "$LAB/incoming" ]; then
		printf -- '--- files under %s and %s:\n' "$LAB/incoming" "$LAB/state"
		(cd "$LAB" && find incoming state -mindepth 1 2>/dev/null | sort) || true
		printf -- '--- end of list\n'
	fi
}

# lab_fail MESSAGE...: report a failed check and end the test.
lab_fail() {
	printf '%s: FAILED: %s\n' "$TS_NAME" "$*" >&2
	lab_show_last_run >&2
	exit 1
}

# lab_die MESSAGE...: the lab itself could not be set up.
lab_die() {
	printf '%s: lab setup error: %s\n' "$TS_NAME" "$*" >&2
	exit 1
}

lab_err_trap() {
	local rc=$1 line=$2 cmd=$3

	printf '%s: command failed (exit %s) at line %s: %s\n' \
	    "$TS_NAME" "$rc" "$line" "$cmd" >&2
}

# ---------------------------------------------------------------------------
# setup and teardown

# lab_init: create $LAB, install the cleanup trap, make sure zfs-fuse runs.
lab_init() {
	[ "$(id -u)" = 0 ] || lab_die "must run as root (zfs, mounts)"
	for tool in zpool zfs zstd gpg gpgconf losetup; do
		command -v "$tool" >/dev/null || lab_die "$tool not found in PATH"
	done

	LAB=$(mktemp -d /tmp/aga.XXXXXX) || lab_die "mktemp failed"
	trap lab_cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	trap 'lab_err_trap $? $LINENO "$BASH_COMMAND"' ERR

	STATE=$LAB/state
	INCOMING=$LAB/incoming
	CONF=$LAB/airgap-agent.conf
	mkdir -p "$LAB/outbox" "$LAB/src" "$LAB/logs" "$LAB/run" "$INCOMING"
	lab_log "lab is $LAB"
	# shellcheck disable=SC2034 # for the scenario scripts
	USER_AGENT=$(lab_user_bin "$AGENT")
	lab_zfs_start
}

# lab_user_bin FILE: copy the program FILE into $LAB/bin, print the copy's
# path.  What the lab runs as the unprivileged NNCP user must not depend on
# the checkout: it may sit under a folder only root can enter (root's home,
# 0700 on Debian).  The lab folder is made enterable (0711) by the
# scenarios that need it.
lab_user_bin() {
	local dst

	mkdir -p "$LAB/bin"
	chmod 0755 "$LAB/bin"
	dst=$LAB/bin/$(basename "$1")
	if ! cp "$1" "$dst" || ! chmod 0755 "$dst"; then
		lab_die "cannot copy $1 into $LAB/bin"
	fi
	printf '%s\n' "$dst"
}

# lab_zfs_start: start the zfs-fuse daemon when `zpool list` does not work.
# Only a daemon started here is stopped again by lab_cleanup.
lab_zfs_start() {
	if zpool list >/dev/null 2>&1; then
		return 0
	fi
	command -v zfs-fuse >/dev/null || lab_die "zfs-fuse not found"
	zfs-fuse -p "$LAB/zfs-fuse.pid" || lab_die "zfs-fuse did not start"
	for _ in $(seq 1 100); do
		if [ -z "$LAB_ZFS_PID" ] && [ -s "$LAB/zfs-fuse.pid" ]; then
			LAB_ZFS_PID=$(cat "$LAB/zfs-fuse.pid")
		fi
		if zpool list >/dev/null 2>&1; then
			lab_log "started zfs-fuse (pid ${LAB_ZFS_PID:-?})"
			return 0
		fi
		sleep 0.1
	done
	lab_die "zfs-fuse started but zpool list still fails"
}

lab_zfs_stop() {
	[ -n "$LAB_ZFS_PID" ] || return 0
	kill "$LAB_ZFS_PID" 2>/dev/null || return 0
	for _ in $(seq 1 300); do
		kill -0 "$LAB_ZFS_PID" 2>/dev/null || return 0
		sleep 0.1
	done
	printf '%s: zfs-fuse (pid %s) did not exit\n' "$TS_NAME" "$LAB_ZFS_PID" >&2
}

lab_pool_imported() {
	zpool list -H -o name "$1" >/dev/null 2>&1
}

# The pool caches of zfs-fuse and of OpenZFS.  A pool listed there is
# imported again (and mounted) when zfs-fuse starts next or the box
# boots, even after its image is long gone (then FAULTED): the lab's
# pools never go there (-o cachefile=none on every create and import,
# and in the agent's import_args).
LAB_POOL_CACHES=(/var/lib/zfs/zpool.cache /etc/zfs/zpool.cache)

# lab_cached POOL: POOL is in a pool cache file.
lab_cached() {
	local f

	for f in "${LAB_POOL_CACHES[@]}"; do
		[ -f "$f" ] || continue
		strings -n 3 "$f" | grep -qE -- "(^|[^[:alnum:]_.:-])$1\$" && return 0
	done
	return 1
}

# assert_not_cached POOL: POOL is in no pool cache, and if it is imported
# its cachefile property says none.
assert_not_cached() {
	local cf

	if lab_cached "$1"; then
		lab_fail "pool $1 is in a pool cache (${LAB_POOL_CACHES[*]}): the next start would import it"
	fi
	lab_pool_imported "$1" || return 0
	# zfs-fuse's zpool get has no -H.
	cf=$(zpool get cachefile "$1" 2>/dev/null | awk 'NR == 2 { print $3 }')
	[ "$cf" = none ] || lab_fail "pool $1 is imported with cachefile '$cf', not none"
}

# lab_pool_destroy POOL: destroy POOL if it exists.  zfs-fuse says "pool is
# busy" for a while after heavy writes or an aborted receive: retry.
lab_pool_destroy() {
	local pool=$1 ds

	if ! lab_pool_imported "$pool"; then
		# The program under test may have exported it.
		zpool import -o cachefile=none -d "$LAB" "$pool" >/dev/null 2>&1 || return 0
	fi
	for _ in $(seq 1 60); do
		zfs list -H -r -o name "$pool" 2>/dev/null | sort -r |
		    while read -r ds; do
			zfs unmount "$ds" >/dev/null 2>&1
		done
		zpool destroy -f "$pool" 2>/dev/null && return 0
		sleep 0.5
	done
	zpool destroy -f "$pool" && return 0
	printf '%s: cleanup: zpool destroy %s failed, pool left behind\n' \
	    "$TS_NAME" "$pool" >&2
	return 1
}

# lab_cleanup: the EXIT trap.  Undo everything, whatever state the test
# left behind, then keep the exit status of the test.
lab_cleanup() {
	local rc=$? pool loop home mnt file hook

	set +o errexit
	trap - ERR
	# A TERM or INT now (the runner's timeout signals the whole process
	# group) must not cut the cleanup short.
	trap '' INT TERM
	[ -n "$LAB" ] || exit "$rc"

	for hook in "${LAB_CLEANUP_FIRST[@]}"; do
		"$hook" || rc=1
	done

	for pool in "${LAB_POOLS[@]}"; do
		lab_pool_destroy "$pool" || rc=1
	done

	# Mounts left under $LAB (clones, anything else), deepest first.
	awk -v lab="$LAB" 'index($2, lab "/") == 1 || $2 == lab { print $2 }' \
	    /proc/self/mounts | sort -r | while read -r mnt; do
		umount "$mnt" 2>/dev/null || umount -l "$mnt"
	done

	for loop in "${LAB_LOOPS[@]}"; do
		losetup -d "$loop" 2>/dev/null
	done
	# Loop devices on files of this lab, whoever attached them.
	losetup -n -l -O NAME,BACK-FILE 2>/dev/null | while read -r loop file; do
		case $file in
		"$LAB"/*) losetup -d "$loop" ;;
		esac
	done

	for home in "${LAB_GNUPGHOMES[@]}"; do
		gpgconf --homedir "$home" --kill all 2>/dev/null
	done

	for hook in "${LAB_CLEANUP_LAST[@]}"; do
		"$hook" || rc=1
	done

	for pool in "${LAB_POOLS[@]}" "${LAB_DISK_POOLS[@]%% *}"; do
		if lab_cached "$pool"; then
			printf '%s: cleanup: pool %s left behind in the pool cache\n' \
			    "$TS_NAME" "$pool" >&2
			rc=1
		fi
	done

	lab_zfs_stop

	case $LAB in
	/tmp/aga.*)
		if [ "$rc" != 0 ] && [ -n "${LAB_KEEP:-}" ]; then
			printf '%s: LAB_KEEP set, keeping %s\n' "$TS_NAME" "$LAB" >&2
		else
			rm -rf "$LAB"
		fi
		;;
	esac
	exit "$rc"
}

# lab_loop_attach FILE: attach FILE to a free loop device, print its name.
# The device is detached by lab_cleanup.
lab_loop_attach() {
	local dev

	dev=$(losetup -f --show "$1") || lab_die "losetup $1 failed"
	LAB_LOOPS+=("$dev")
	printf '%s\n' "$dev"
}

# lab_pool NAME: create a zfs-fuse pool NAME on a 128 MiB file in $LAB,
# without a mountpoint.  lab_cleanup destroys it.
lab_pool() {
	local name=$1 img=$LAB/$1.img

	if lab_pool_imported "$name"; then
		lab_die "pool $name already exists"
	fi
	truncate -s 128M "$img"
	LAB_POOLS+=("$name")
	zpool create -o cachefile=none -m none "$name" "$img" || lab_die "zpool create $name failed"
	assert_not_cached "$name"
}

# ---------------------------------------------------------------------------
# gpg: backupsvr decrypts, laptop signs, other signs but is in no config.

lab_gpg() {
	local home=$1

	shift
	gpg --homedir "$home" --batch --no-tty --quiet "$@"
}

lab_gpg_fpr() {
	lab_gpg "$1" --with-colons --list-keys |
	    awk -F: '$1 == "fpr" { print $10; exit }'
}

lab_gpg_home() {
	local home=$1 uid=$2

	mkdir -p "$home"
	chmod 0700 "$home"
	LAB_GNUPGHOMES+=("$home")
	lab_gpg "$home" --passphrase '' --quick-gen-key "$uid" \
	    future-default default never 2>>"$LAB/logs/gpg.log" ||
	    lab_die "gpg key generation in $home failed (see $LAB/logs/gpg.log)"
}

# lab_gpg_copy FROM TO: import the public key of FROM's keyring into TO.
lab_gpg_copy() {
	lab_gpg "$1" --export | lab_gpg "$2" --import 2>>"$LAB/logs/gpg.log" ||
	    lab_die "copying a public key from $1 to $2 failed"
}

# lab_keys: make the three keyrings and exchange the public keys.
lab_keys() {
	mkdir -p "$LAB/g"
	G_BSVR=$LAB/g/bsvr
	G_LAP=$LAB/g/lap
	G_OTH=$LAB/g/oth
	lab_gpg_home "$G_BSVR" 'backupsvr <backupsvr@example.org>'
	lab_gpg_home "$G_LAP" 'laptop <laptop@example.org>'
	lab_gpg_home "$G_OTH" 'other <other@example.org>'
	BSVR_FPR=$(lab_gpg_fpr "$G_BSVR")
	LAP_FPR=$(lab_gpg_fpr "$G_LAP")
	OTH_FPR=$(lab_gpg_fpr "$G_OTH")
	if [ ${#BSVR_FPR} != 40 ] || [ ${#LAP_FPR} != 40 ] || [ ${#OTH_FPR} != 40 ]; then
		lab_die "could not read the key fingerprints"
	fi
	lab_gpg_copy "$G_LAP" "$G_BSVR"
	lab_gpg_copy "$G_OTH" "$G_BSVR"
	lab_gpg_copy "$G_BSVR" "$G_LAP"
	lab_gpg_copy "$G_BSVR" "$G_OTH"
}

# ---------------------------------------------------------------------------
# the laptop: a source pool with a mounted dataset

# lab_laptop: create pool lap$$ with dataset lap$$/fs mounted on $LAB/lapfs.
lab_laptop() {
	LAP_POOL=lap$$
	LAP_FS=$LAP_POOL/fs
	LAP_MNT=$LAB/lapfs
	lab_pool "$LAP_POOL"
	zfs create -o mountpoint="$LAP_MNT" "$LAP_FS" ||
	    lab_die "zfs create $LAP_FS failed"
	if [ "$(zfs get -H -o value mounted "$LAP_FS")" != yes ]; then
		zfs mount "$LAP_FS" || lab_die "zfs mount $LAP_FS failed"
	fi
}

# lab_write PATH TEXT: write TEXT (and a newline) to PATH in the source fs.
lab_write() {
	mkdir -p "$(dirname "$LAP_MNT/$1")"
	printf '%s\n' "$2" >"$LAP_MNT/$1"
}

# lab_write_random PATH KIB: write KIB KiB of random bytes to PATH.
lab_write_random() {
	mkdir -p "$(dirname "$LAP_MNT/$1")"
	head -c "$(($2 * 1024))" /dev/urandom >"$LAP_MNT/$1"
}

# lab_remove PATH: delete PATH from the source fs.
lab_remove() {
	rm -rf "${LAP_MNT:?}/$1"
}

# lab_snap SNAP: snapshot the source dataset as $LAP_FS@SNAP and keep a copy
# of its tree in $LAB/src/SNAP for later comparison.
lab_snap() {
	local snap=$1

	sync
	zfs snapshot "$LAP_FS@$snap" || lab_die "zfs snapshot $LAP_FS@$snap failed"
	mkdir -p "$LAB/src/$snap"
	cp -a "$LAP_MNT/." "$LAB/src/$snap/"
}

# lab_snaps N: snapshots s1..sN of the source dataset, a.txt holding
# "one", "two", ... in each.
lab_snaps() {
	local words=(one two three four five six seven eight nine ten) i

	for ((i = 1; i <= $1; i++)); do
		lab_write a.txt "${words[i - 1]:-$i}"
		lab_snap "s$i"
	done
}

lab_guid() {
	zfs get -Hp -o value guid "$1" 2>/dev/null
}

# ---------------------------------------------------------------------------
# the backup server: pool, config, queue files

# lab_backup_pool: create the receiving pool bak$$ (mountpoint none).
lab_backup_pool() {
	BAK_POOL=bak$$
	lab_pool "$BAK_POOL"
	STORE_ROOT=$BAK_POOL/simplesnap/laptop/$LAP_FS
}

# lab_config [HOSTSPEC...]: write $CONF for this lab.  Each HOSTSPEC is
# "NAME REQUIRE_SIGNATURE [FPR...]", e.g. "laptop false $LAP_FPR".  Without
# arguments the only host is laptop, signed by $LAP_FPR, signature required.
lab_config() {
	local zpool_bin zfs_bin spec name req fpr sep signers hosts=''

	zpool_bin=$(command -v zpool)
	zfs_bin=$(command -v zfs)
	[ $# -gt 0 ] || set -- "laptop true $LAP_FPR"
	for spec in "$@"; do
		# shellcheck disable=SC2086 # split the spec on purpose
		set -- $spec
		name=$1 req=$2
		shift 2
		signers='' sep=''
		for fpr in "$@"; do
			signers="$signers$sep\"$fpr\""
			sep=', '
		done
		[ -z "$hosts" ] || hosts="$hosts,"
		hosts="$hosts
    { name = \"$name\"; signers = [ $signers ]; require_signature = $req; }"
		mkdir -p "$INCOMING/$name"
	done

	mkdir -p "$STATE"
	chmod 0700 "$STATE"
	chown root:root "$STATE"
	cat >"$CONF" <<EOF
# airgap-agent.conf for the test lab $LAB (zfs-fuse)
state_dir = "$STATE";
zfs = {
  zpool = "$zpool_bin";
  zfs = "$zfs_bin";
  import_args = [ "-o", "cachefile=none" ];
  receive_args = [ "-u" ];
  create_args = [ "-o", "mountpoint=none" ];
};
ingest = {
  # the lab's pools are small: only a test of the free-space check sets it
  min_free_mb = 0;
  incoming = "$INCOMING";
  store = "simplesnap";
  gnupg_home = "$G_BSVR";
  hosts = ($hosts
  );
};
timeouts = { command = 60; stall = 60; };
EOF
}

# lab_setup [HOSTSPEC...]: the usual lab in one call: keys, laptop pool,
# backup pool, config.
lab_setup() {
	lab_init
	lab_keys
	lab_laptop
	lab_backup_pool
	lab_config "$@"
}

# lab_dest_name DEST: HOST/dataset/path -> HOST@dataset@path
lab_dest_name() {
	printf '%s\n' "${1//\//@}"
}

# lab_stream [-i FROM | -I FROM] [-s laptop|other|none] [-t SECONDS.NANOS]
#            [-d DEST] [-p PREFIX] [-n NAME] SNAP
# Make a queue file in $LAB/outbox from `zfs send [-i|-I FROM] $LAP_FS@SNAP`,
# the way simplesnap-queue does.  DEST defaults to laptop/$LAP_FS, the
# signer to laptop, the prefix to bakfsfmt2.  -n gives the whole file name.
# Sets QF (path) and QN (file name).
lab_stream() {
	local OPTIND opt incr='' from='' signer=laptop ts='' dest='' name=''
	local prefix=bakfsfmt2 send=()

	while getopts 'i:I:s:t:d:p:n:' opt; do
		case $opt in
		i | I) incr=-$opt from=$OPTARG ;;
		s) signer=$OPTARG ;;
		t) ts=$OPTARG ;;
		d) dest=$OPTARG ;;
		p) prefix=$OPTARG ;;
		n) name=$OPTARG ;;
		*) lab_die "lab_stream: bad option" ;;
		esac
	done
	shift $((OPTIND - 1))
	[ $# = 1 ] || lab_die "lab_stream: need one snapshot"

	[ -n "$ts" ] || ts=$(date +%s.%N)
	[ -n "$dest" ] || dest=laptop/$LAP_FS
	[ -n "$name" ] || name=$prefix-$ts.$$_$(lab_dest_name "$dest")
	send=(zfs send)
	[ -z "$incr" ] || send+=("$incr" "$LAP_FS@$from")
	send+=("$LAP_FS@$1")

	QN=$name
	QF=$LAB/outbox/$name
	"${send[@]}" 2>>"$LAB/logs/send.log" | lab_seal "$signer" >"$QF" ||
	    lab_die "making the stream ${send[*]} failed (see $LAB/logs/send.log)"
}

# lab_seal SIGNER: stdin (a zfs send stream) compressed and encrypted to
# backupsvr as the sender does, onto stdout; signed by SIGNER (laptop,
# other) or not (none).
lab_seal() {
	local home sign=()

	case $1 in
	laptop) home=$G_LAP sign=(-s -u "$LAP_FPR") ;;
	other) home=$G_OTH sign=(-s -u "$OTH_FPR") ;;
	none) home=$G_LAP ;;
	*) lab_die "lab_seal: unknown signer $1" ;;
	esac
	zstd -8 - 2>>"$LAB/logs/send.log" |
	    gpg --homedir "$home" --batch --no-tty --trust-model always \
	        --compress-algo none --cipher-algo AES256 \
	        -e -r "$BSVR_FPR" "${sign[@]}" 2>>"$LAB/logs/send.log"
}

# lab_queue_raw SIGNER RAW N [DEST]: the zfs send stream in the file RAW,
# sealed by SIGNER (lab_seal), into $INCOMING/laptop/ named by lab_qname N
# DEST.  Sets QF and QN.
lab_queue_raw() {
	QN=$(lab_qname "$3" "${4:-}")
	QF=$INCOMING/laptop/$QN
	mkdir -p "$INCOMING/laptop"
	lab_seal "$1" <"$2" >"$QF" || lab_die "sealing $2 failed"
}

# lab_qname N [DEST]: a queue file name for DEST (default laptop/$LAP_FS),
# the Nth of this second (N orders files made in the same second).
lab_qname() {
	local dest=${2:-}

	printf 'bakfsfmt2-%s.%09d.%s_%s\n' "$(date +%s)" "$1" $$ \
	    "$(lab_dest_name "${dest:-laptop/$LAP_FS}")"
}

# lab_deliver [-h HOST] [PATH [NAME]]: move a file from the outbox into
# $INCOMING/HOST/ (default laptop, default PATH $QF), as NAME if given.
# Sets QF and QN to the delivered file.
lab_deliver() {
	local OPTIND opt host=laptop src name

	while getopts 'h:' opt; do
		case $opt in
		h) host=$OPTARG ;;
		*) lab_die "lab_deliver: bad option" ;;
		esac
	done
	shift $((OPTIND - 1))
	src=${1:-$QF}
	name=${2:-$(basename "$src")}
	mkdir -p "$INCOMING/$host"
	mv "$src" "$INCOMING/$host/$name"
	QF=$INCOMING/$host/$name
	# shellcheck disable=SC2034 # for the scenario scripts
	QN=$name
}

# lab_queue [lab_stream options] SNAP: lab_stream, then lab_deliver to laptop.
lab_queue() {
	lab_stream "$@"
	lab_deliver
}

# ---------------------------------------------------------------------------
# running the program

# What the program under strace runs with: the sanitizer build's leak
# check cannot work under ptrace and would end the run with exit 134.
# shellcheck disable=SC2034 # for the scenario scripts
LAB_PTRACE_ASAN=ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0

# lab_agent ARGS...: run `airgap-agent -c $CONF -v ARGS` in $LAB/run with
# stdout and stderr in a log of its own.  Sets AGENT_RC and AGENT_LOG; never
# fails by itself.
lab_agent() {
	[ -x "$AGENT" ] || lab_fail "program not found or not executable: $AGENT"
	LAB_RUNS=$((LAB_RUNS + 1))
	AGENT_LOG=$LAB/logs/agent.$LAB_RUNS.log
	touch "$LAB/logs/run.$LAB_RUNS.start"
	sleep 0.01
	AGENT_RC=0
	(cd "$LAB/run" && exec "$AGENT" -c "$CONF" -v "$@") \
	    >"$AGENT_LOG" 2>&1 </dev/null || AGENT_RC=$?
	lab_log "run $LAB_RUNS: airgap-agent -c CONF -v $* -> exit $AGENT_RC"
}

# lab_ingest: run `airgap-agent ingest $BAK_POOL`.
lab_ingest() {
	lab_agent ingest "$BAK_POOL"
}

# lab_report_file: print the newest report (by mtime), if any.
lab_report_file() {
	[ -n "$LAB" ] && [ -d "$LAB/state/reports" ] || return 0
	find "$LAB/state/reports" -maxdepth 1 -type f -printf '%T@ %p\n' |
	    sort -n | tail -n 1 | cut -d' ' -f2-
}

# ---------------------------------------------------------------------------
# assertions

# assert_eq EXPECTED ACTUAL WHAT
assert_eq() {
	[ "$1" = "$2" ] ||
	    lab_fail "$3: expected '$1', got '$2'"
}

# assert_exit CODE[|CODE...]: the last agent run exited with (one of) CODE.
assert_exit() {
	case "|$1|" in
	*"|$AGENT_RC|"*) ;;
	*) lab_fail "exit status of airgap-agent run $LAB_RUNS: expected $1, got $AGENT_RC" ;;
	esac
}

# assert_exists DATASET_OR_SNAPSHOT
assert_exists() {
	zfs list -H -o name "$1" >/dev/null 2>&1 ||
	    lab_fail "$1 does not exist (zfs list: $(zfs list -H -r -t all -o name "${1%%/*}" 2>&1 | tr '\n' ' '))"
}

# assert_absent DATASET_OR_SNAPSHOT
assert_absent() {
	if zfs list -H -o name "$1" >/dev/null 2>&1; then
		lab_fail "$1 exists but must not"
	fi
}

# assert_no_snapshots POOL: nothing at all was received into POOL.
assert_no_snapshots() {
	local snaps

	snaps=$(zfs list -H -r -t snapshot -o name "$1" 2>&1) ||
	    lab_fail "zfs list -r -t snapshot $1 failed: $snaps"
	[ -z "$snaps" ] ||
	    lab_fail "snapshots exist under $1 but must not: $(echo "$snaps" | tr '\n' ' ')"
}

# assert_guid SNAP [TARGET]: TARGET (default $STORE_ROOT@SNAP) exists and has
# the guid of the source snapshot $LAP_FS@SNAP.
assert_guid() {
	local target=${2:-$STORE_ROOT@$1} want got

	want=$(lab_guid "$LAP_FS@$1") || lab_die "no source snapshot $LAP_FS@$1"
	assert_exists "$target"
	got=$(lab_guid "$target") || lab_fail "zfs get guid $target failed"
	[ "$want" = "$got" ] ||
	    lab_fail "guid of $target is $got, source $LAP_FS@$1 has $want"
}

# assert_content SNAP [TARGET]: the files of TARGET (default $STORE_ROOT@SNAP)
# equal the copy of the source taken by lab_snap SNAP.  Reads TARGET through
# a clone mounted under $LAB.
assert_content() {
	local snap=$1 target=${2:-$STORE_ROOT@$1} pool clone mnt out

	[ -d "$LAB/src/$snap" ] || lab_die "no copy of source snapshot $snap"
	assert_exists "$target"
	pool=${target%%/*}
	LAB_CLONES=$((LAB_CLONES + 1))
	clone=$pool/chk_${BASHPID}_$LAB_CLONES
	mnt=$LAB/chk_${BASHPID}_$LAB_CLONES
	zfs clone "$target" "$clone" || lab_fail "zfs clone $target $clone failed"
	zfs set mountpoint="$mnt" "$clone" || lab_fail "zfs set mountpoint on $clone failed"
	if [ "$(zfs get -H -o value mounted "$clone")" != yes ]; then
		zfs mount "$clone" || lab_fail "zfs mount $clone failed"
	fi
	if ! out=$(diff -r "$LAB/src/$snap" "$mnt" 2>&1); then
		lab_destroy "$clone"
		lab_fail "files of $target differ from the source snapshot $snap:
$(printf '%s\n' "$out" | head -n 20)"
	fi
	lab_destroy "$clone"
}

# lab_destroy DATASET: unmount and destroy DATASET; zfs-fuse may report a
# just-used mount as busy for a moment, so retry.
lab_destroy() {

	for _ in 1 2 3 4 5 6 7 8 9 10; do
		zfs unmount "$1" >/dev/null 2>&1 || true
		zfs destroy "$1" 2>/dev/null && return 0
		sleep 0.2
	done
	zfs destroy "$1" || lab_fail "zfs destroy $1 failed"
}

# assert_received SNAP: guid and contents of $STORE_ROOT@SNAP are right.
assert_received() {
	assert_guid "$1"
	assert_content "$1"
}

# assert_queued NAME [HOST]: the file is still in incoming.
assert_queued() {
	[ -f "$INCOMING/${2:-laptop}/$1" ] ||
	    lab_fail "$1 is no longer in $INCOMING/${2:-laptop}/"
}

# assert_not_queued NAME [HOST]: the file is gone from incoming.
assert_not_queued() {
	if [ -e "$INCOMING/${2:-laptop}/$1" ]; then
		lab_fail "$1 is still in $INCOMING/${2:-laptop}/"
	fi
}

# assert_quarantined NAME [HOST]: the file was moved to the quarantine and
# has a non-empty NAME.reason beside it.  A name too long for ".reason" to
# fit in a file name (255 bytes) may be kept under a shortened name that
# begins like NAME, with its own .reason.
assert_quarantined() {
	local dir=$STATE/quarantine/${2:-laptop} f found=''

	assert_not_queued "$1" "${2:-laptop}"
	if [ $((${#1} + 7)) -le 255 ]; then
		[ -f "$dir/$1" ] || lab_fail "$1 is not in $dir/"
		[ -s "$dir/$1.reason" ] || lab_fail "$dir/$1.reason is missing or empty"
		return 0
	fi
	for f in "$dir/${1:0:100}"*; do
		case $f in
		*.reason) ;;
		*) [ -s "$f.reason" ] && found=$f ;;
		esac
	done
	[ -n "$found" ] ||
	    lab_fail "$1 (${#1} bytes) is not in $dir/ under a name beginning like it, with a .reason"
}

# assert_not_quarantined NAME [HOST]
assert_not_quarantined() {
	if [ -e "$STATE/quarantine/${2:-laptop}/$1" ]; then
		lab_fail "$1 was quarantined but must not be"
	fi
}

# lab_outcome NAME [HOST]: print the outcome of NAME in the newest report
# (the last line for NAME; the name may be written as NAME or HOST/NAME).
lab_outcome() {
	local report

	report=$(lab_report_file)
	[ -n "$report" ] || return 0
	awk -F'\t' -v n="$1" -v hn="${2:-laptop}/$1" \
	    '$1 == n || $1 == hn { o = $2 } END { print o }' "$report"
}

# lab_report_line NAME [HOST]: the newest report's line for NAME (written
# NAME or HOST/NAME); it must come from the last run, be the only line for
# NAME and have the report's five fields.
lab_report_line() {
	local name=$1 host=${2:-laptop} report lines

	report=$(lab_report_file)
	[ -n "$report" ] || lab_fail "no report under $STATE/reports/"
	[ "$report" -nt "$LAB/logs/run.$LAB_RUNS.start" ] ||
	    lab_fail "the newest report $report is older than the last run"
	lines=$(awk -F'\t' -v n="$name" -v hn="$host/$name" \
	    '$1 == n || $1 == hn' "$report")
	[ -n "$lines" ] || lab_fail "no line for $name in report $report"
	[ "$(printf '%s\n' "$lines" | wc -l)" = 1 ] ||
	    lab_fail "more than one line for $name in report $report"
	# NAME OUTCOME BYTES SECONDS REASON
	printf '%s\n' "$lines" | awk -F'\t' 'NF != 5 || $3 !~ /^[0-9]+$/ ||
	    $4 !~ /^[0-9]+(\.[0-9]+)?$/ { exit 1 }' ||
	    lab_fail "report line for $name is not NAME<TAB>OUTCOME<TAB>BYTES<TAB>SECONDS<TAB>REASON: $lines"
	printf '%s\n' "$lines"
}

# assert_outcome NAME OUTCOME[|OUTCOME...] [HOST]: the newest report comes
# from the last run and its line for NAME has one of the outcomes, and the
# file is where that outcome puts it: received and duplicate remove it from
# incoming, waiting, held and failed leave it there, quarantined moves it
# to the quarantine.
assert_outcome() {
	local name=$1 want=$2 host=${3:-laptop} got

	lab_report_line "$name" "$host" >/dev/null
	got=$(lab_outcome "$name" "$host")
	case "|$want|" in
	*"|$got|"*) ;;
	*) lab_fail "outcome of $name: expected $want, got '$got'" ;;
	esac
	case $got in
	received | duplicate)
		assert_not_queued "$name" "$host"
		assert_not_quarantined "$name" "$host"
		;;
	waiting | held | failed)
		assert_queued "$name" "$host"
		assert_not_quarantined "$name" "$host"
		;;
	quarantined)
		assert_quarantined "$name" "$host"
		;;
	esac
}

# assert_no_file PATH...: none of the paths exists (marker files).
assert_no_file() {
	local f

	for f in "$@"; do
		if [ -e "$f" ]; then
			lab_fail "$f exists but must not"
		fi
	done
}

# lab_pass: the end of a scenario that got this far.
lab_pass() {
	lab_log "all checks passed"
}

# ---------------------------------------------------------------------------
# the appliance: NNCP nodes, transport sticks and backup disks on loop
# devices, udev, the light and the beeper
#
# lab_appliance_setup builds the lab of "handle" and "watch": the usual keys
# and laptop pool, three real NNCP nodes (laptop, spooler, backupsvr; the
# agent runs backupsvr's tools as the nncp user), a fake LED folder and a
# beeper file, and a config with the appliance keys.  Sticks are ext4
# images, backup disks zfs-fuse pools on loop devices; udev sees both.
#
# Every media label carries LAB_TAG, and the config's media patterns do too,
# so that a scenario never touches media that another run on the same
# machine has plugged in (and a watch daemon ignores them).
#
# Variables:
#   LAB_TAG            five digits, unique to the scenario
#   STICK_LABEL        label of the sticks (NNCPSTICK${LAB_TAG}1)
#   MOUNT_DIR          the agent's mount_dir ($LAB/media)
#   LED BEEPER         the LED folder and the beeper file of the config
#   NNCP_USER          the user NNCP runs as on the backup server (nncp)
#   NNCP_FOREIGN_UID   owner of a stick's files as written elsewhere (4242)
#   NNCP_BSVR_DIR      backupsvr's NNCP folder (config, spool, log)
#   LAP_ID SPOOLER_ID BSVR_ID          NNCP node ids
#   STICK_IMG STICK_PACKETS            last stick image, packets put on it
#   LAB_DEV            loop device of the last lab_media_attach
#   DISK_DEV DISK_GUID DISK_IMG        the last backup disk; lab_bakdisk also
#                                      sets BAK_POOL and STORE_ROOT
#   LAB_WATCH_PID      the running watch daemon
#   LAB_KILL_PIDS      processes a scenario started; killed at cleanup

LAB_TAG=$(printf '%05d' $(($$ % 100000)))
STICK_LABEL=NNCPSTICK${LAB_TAG}1
NNCP_USER=nncp
NNCP_FOREIGN_UID=4242
MOUNT_DIR=
LED=
BEEPER=
NNCP_BSVR_DIR=
LAP_ID=
SPOOLER_ID=
BSVR_ID=
STICK_IMG=
STICK_PACKETS=
LAB_DEV=
DISK_DEV=
DISK_GUID=
DISK_IMG=
LAB_WATCH_PID=
LAB_UDEVD_PID=
LAB_KILL_PIDS=()
LAB_DISK_POOLS=()

# lab_appliance_setup [HOSTSPEC...]: lab_init, keys, laptop pool, NNCP nodes,
# LED and beeper, udev, and the config (HOSTSPEC as for lab_config).
lab_appliance_setup() {
	lab_init
	# NNCP runs as $NNCP_USER and must reach its folders inside the lab.
	chmod 0711 "$LAB"
	LAB_CLEANUP_FIRST+=(lab_appliance_cleanup)
	LAB_CLEANUP_LAST+=(lab_appliance_check_clean lab_udev_stop)
	MOUNT_DIR=$LAB/media
	lab_udev_start
	lab_keys
	lab_laptop
	lab_nncp_lab
	lab_indicators
	lab_appliance_config "$@"
}

# lab_appliance_cleanup: the first part of lab_cleanup for this section:
# the watch daemon and other processes, stick mounts, backup pools still
# imported.  Loop devices and the rest are left to lab_cleanup.
lab_appliance_cleanup() {
	local pid entry name guid mnt rc=0

	lab_watch_stop
	for pid in "${LAB_KILL_PIDS[@]}"; do
		kill "$pid" 2>/dev/null
	done
	for pid in "${LAB_KILL_PIDS[@]}"; do
		for _ in $(seq 1 50); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$pid" 2>/dev/null
	done
	LAB_KILL_PIDS=()

	# Sticks: mounted by the agent below MOUNT_DIR or by a helper.
	if [ -n "$MOUNT_DIR" ]; then
		awk -v d="$MOUNT_DIR" -v lab="$LAB" 'index($2, d "/") == 1 ||
		    index($2, lab "/stick") == 1 { print $2 }' /proc/self/mounts |
		    sort -r | while read -r mnt; do
			umount "$mnt" 2>/dev/null || umount -l "$mnt"
		done
	fi

	for entry in "${LAB_DISK_POOLS[@]}"; do
		name=${entry% *} guid=${entry#* }
		if [ "$(zpool list -H -o guid "$name" 2>/dev/null)" = "$guid" ]; then
			lab_pool_destroy "$name" || rc=1
		fi
	done
	return "$rc"
}

# lab_appliance_check_clean: after lab_cleanup's own work, nothing of this
# lab may be left: loop devices on its files, mounts, backup pools, agent
# processes using its config.
lab_appliance_check_clean() {
	local left entry

	left=$(losetup -n -l -O NAME,BACK-FILE 2>/dev/null |
	    awk -v lab="$LAB" 'index($2, lab "/") == 1')
	left=$left$(awk -v lab="$LAB" 'index($2, lab "/") == 1 || $2 == lab' \
	    /proc/self/mounts)
	for entry in "${LAB_DISK_POOLS[@]}"; do
		if lab_pool_imported "${entry% *}"; then
			left="$left pool ${entry% *}"
		fi
	done
	left=$left$(pgrep -a -f "airgap-agent -c $CONF " || true)
	[ -z "$left" ] && return 0
	printf '%s: cleanup: left behind: %s\n' "$TS_NAME" "$left" >&2
	return 1
}

# ---------------------------------------------------------------------------
# udev

# lab_udev_start: start systemd-udevd unless one answers already.  Only a
# daemon started here is stopped by lab_udev_stop (at cleanup).
lab_udev_start() {
	local udevd=/lib/systemd/systemd-udevd

	command -v udevadm >/dev/null || lab_die "udevadm not found"
	if udevadm control --ping >/dev/null 2>&1; then
		return 0
	fi
	[ -x "$udevd" ] || lab_die "$udevd not found"
	lab_udev_clear_watches
	"$udevd" --daemon >>"$LAB/logs/udevd.log" 2>&1 ||
	    lab_die "systemd-udevd did not start"
	for _ in $(seq 1 100); do
		if udevadm control --ping >/dev/null 2>&1; then
			LAB_UDEVD_PID=$(pgrep -o -x systemd-udevd) ||
			    lab_die "systemd-udevd runs but has no pid"
			lab_log "started systemd-udevd (pid $LAB_UDEVD_PID)"
			return 0
		fi
		sleep 0.1
	done
	lab_die "systemd-udevd started but does not answer"
}

# lab_udev_clear_watches: remove a dead systemd-udevd's inotify bookkeeping.
# udevd restores /run/udev/watch at start through watch.old, and removes
# watch.old only where /run is a tmpfs; elsewhere (this lab) the leftover
# watch.old stops every later restore, and the stale "WD -> bMAJ:MIN" links
# then make each new watch whose number they hold fail with EEXIST: udev
# stops seeing a loop device's contents change.  Called only while no udevd
# runs, so nothing live is removed.
lab_udev_clear_watches() {
	rm -rf /run/udev/watch /run/udev/watch.old
}

lab_udev_stop() {
	[ -n "$LAB_UDEVD_PID" ] || return 0
	kill "$LAB_UDEVD_PID" 2>/dev/null || return 0
	for _ in $(seq 1 100); do
		kill -0 "$LAB_UDEVD_PID" 2>/dev/null || return 0
		sleep 0.1
	done
	printf '%s: systemd-udevd (pid %s) did not exit\n' "$TS_NAME" \
	    "$LAB_UDEVD_PID" >&2
	return 1
}

lab_settle() {
	udevadm settle -t 30 ||
	    lab_log "warning: udevadm settle timed out"
}

# lab_udev_prop DEV KEY: print the udev property KEY of DEV (empty if none).
lab_udev_prop() {
	udevadm info -q property -n "$1" 2>/dev/null |
	    awk -F= -v k="$2" '$1 == k { sub(/^[^=]*=/, ""); print; exit }'
}

# lab_media_attach IMG: attach IMG to a free loop device, wait for udev to
# have seen it and set LAB_DEV.  Detached by lab_media_detach or cleanup.
lab_media_attach() {
	LAB_DEV=$(losetup -f --show "$1") || lab_die "losetup $1 failed"
	LAB_LOOPS+=("$LAB_DEV")
	lab_settle
}

# lab_media_detach DEV: detach the loop device DEV ("pulling the medium").
lab_media_detach() {
	local dev=$1 i

	losetup -d "$dev" || lab_die "losetup -d $dev failed"
	for i in "${!LAB_LOOPS[@]}"; do
		if [ "${LAB_LOOPS[$i]}" = "$dev" ]; then
			unset 'LAB_LOOPS[i]'
		fi
	done
	lab_settle
}

# ---------------------------------------------------------------------------
# NNCP: laptop -> spooler -> stick -> backupsvr

# lab_nncp NODE TOOL ARGS...: run nncp-TOOL with NODE's config; backupsvr's
# tools run as $NNCP_USER, like the agent runs them.
lab_nncp() {
	local node=$1 tool=$2 cfg

	shift 2
	cfg=$LAB/nncp/$node/cfg.hjson
	if [ "$node" = backupsvr ]; then
		runuser -u "$NNCP_USER" -- "nncp-$tool" -cfg "$cfg" "$@"
	else
		"nncp-$tool" -cfg "$cfg" "$@"
	fi
}

# lab_nncp_new NAME: keys for node NAME from nncp-cfgnew, its id, exchpub
# and signpub in NNCP_<NAME>_{ID,EXCHPUB,SIGNPUB}.
lab_nncp_new() {
	local dir=$LAB/nncp/$1 key val

	mkdir -p "$dir/spool"
	(umask 077 && nncp-cfgnew -nocomments >"$dir/new.hjson") ||
	    lab_die "nncp-cfgnew for $1 failed"
	for key in id exchpub signpub; do
		# The first occurrences are in the top-level "self" block.
		val=$(awk -v k="$key:" '$1 == k { print $2; exit }' "$dir/new.hjson")
		[ -n "$val" ] || lab_die "no $key in the nncp-cfgnew output for $1"
		printf -v "NNCP_${1}_${key^^}" '%s' "$val"
	done
}

# lab_nncp_neigh NAME [LINE...]: a neigh block for NAME (one key per line).
lab_nncp_neigh() {
	local name=$1 v line

	shift
	printf '    %s: {\n' "$name"
	v=NNCP_${name}_ID
	printf '      id: %s\n' "${!v}"
	v=NNCP_${name}_EXCHPUB
	printf '      exchpub: %s\n' "${!v}"
	v=NNCP_${name}_SIGNPUB
	printf '      signpub: %s\n' "${!v}"
	for line in "$@"; do
		printf '      %s\n' "$line"
	done
	printf '    }\n'
}

# lab_nncp_cfg NAME NEIGH_BLOCKS: write $LAB/nncp/NAME/cfg.hjson: the
# nncp-cfgnew output with spool and log in the node's folder and the
# neighbours added to neigh (after neigh.self).
lab_nncp_cfg() {
	local dir=$LAB/nncp/$1

	[ "$(tail -n 2 "$dir/new.hjson" | tr -d ' \n')" = '}}' ] ||
	    lab_die "unexpected end of the nncp-cfgnew output for $1"
	(
		umask 077
		head -n -2 "$dir/new.hjson" |
		    sed -e "s|^  spool: .*|  spool: $dir/spool|" \
		        -e "s|^  log: .*|  log: $dir/log|"
		printf '%s' "$2"
		printf '  }\n}\n'
	) >"$dir/cfg.hjson"
	chmod 0600 "$dir/cfg.hjson"
	rm -f "$dir/new.hjson"
	grep -q "^  spool: $dir/spool\$" "$dir/cfg.hjson" ||
	    lab_die "could not set the spool in $dir/cfg.hjson"
}

# lab_nncp_lab: the three nodes.  The laptop sends to backupsvr via the
# spooler; backupsvr delivers the laptop's files into $INCOMING/laptop.
# backupsvr's folder and that incoming folder belong to $NNCP_USER.
lab_nncp_lab() {
	local n

	for n in nncp-cfgnew nncp-file nncp-xfer nncp-toss nncp-stat runuser \
	    mkfs.ext4 udevadm; do
		command -v "$n" >/dev/null || lab_die "$n not found in PATH"
	done
	id -u "$NNCP_USER" >/dev/null 2>&1 || lab_die "no user $NNCP_USER"
	unset NNCPCFG NNCPSPOOL
	for n in laptop spooler backupsvr; do
		lab_nncp_new "$n"
	done
	# shellcheck disable=SC2034,SC2154 # set by lab_nncp_new; for the scenarios
	LAP_ID=$NNCP_laptop_ID SPOOLER_ID=$NNCP_spooler_ID BSVR_ID=$NNCP_backupsvr_ID
	lab_nncp_cfg laptop "$(lab_nncp_neigh spooler
	    lab_nncp_neigh backupsvr 'via: ["spooler"]')
"
	lab_nncp_cfg spooler "$(lab_nncp_neigh laptop
	    lab_nncp_neigh backupsvr)
"
	lab_nncp_cfg backupsvr "$(lab_nncp_neigh laptop \
	    "incoming: \"$INCOMING/laptop\""
	    lab_nncp_neigh spooler)
"
	NNCP_BSVR_DIR=$LAB/nncp/backupsvr
	mkdir -p "$INCOMING/laptop"
	chown -R "$NNCP_USER:" "$NNCP_BSVR_DIR" "$INCOMING/laptop"
	for n in laptop spooler backupsvr; do
		lab_nncp "$n" stat >/dev/null 2>>"$LAB/logs/nncp.log" ||
		    lab_die "nncp-stat with the config of $n fails (see $LAB/logs/nncp.log)"
	done
}

# lab_nncp_queue [lab_stream options] SNAP: make a queue file as lab_stream
# does and queue it on the laptop with nncp-file for backupsvr:NAME.  A copy
# stays in $LAB/sent/NAME; QF is that copy, QN the name.
lab_nncp_queue() {
	lab_stream "$@"
	mkdir -p "$LAB/sent"
	cp "$QF" "$LAB/sent/$QN"
	lab_nncp laptop file -noprogress -nice B - "backupsvr:$QN" <"$QF" \
	    2>>"$LAB/logs/nncp.log" ||
	    lab_die "nncp-file $QN failed (see $LAB/logs/nncp.log)"
	rm -f "$QF"
	QF=$LAB/sent/$QN
}

# lab_nncp_queue_chunked KIB [lab_stream options] SNAP: as lab_nncp_queue,
# sent with nncp-file -chunked KIB: NAME.nncp.chunk0... and NAME.nncp.meta.
lab_nncp_queue_chunked() {
	local kib=$1

	shift
	lab_stream "$@"
	mkdir -p "$LAB/sent"
	cp "$QF" "$LAB/sent/$QN"
	lab_nncp laptop file -noprogress -nice B -chunked "$kib" - "backupsvr:$QN" \
	    <"$QF" 2>>"$LAB/logs/nncp.log" ||
	    lab_die "nncp-file -chunked $QN failed (see $LAB/logs/nncp.log)"
	rm -f "$QF"
	QF=$LAB/sent/$QN
}

# lab_nncp_laptop_tx: the laptop's packets for the spooler, smallest
# first (a chunked file's meta packet is far smaller than its chunks').
lab_nncp_laptop_tx() {
	local tx=$LAB/nncp/laptop/spool/$SPOOLER_ID/tx

	[ -d "$tx" ] || return 0
	find "$tx" -maxdepth 1 -type f -printf '%s %f\n' | sort -n | cut -d' ' -f2
}

# lab_nncp_hold PKT...: set the laptop's packets PKT aside, so that the
# next trip does not carry them; lab_nncp_unhold puts them back.
lab_nncp_hold() {
	local tx=$LAB/nncp/laptop/spool/$SPOOLER_ID/tx p

	mkdir -p "$LAB/held/hdr"
	for p in "$@"; do
		mv "$tx/$p" "$LAB/held/$p" || lab_die "cannot hold packet $p"
		[ ! -e "$tx/hdr/$p" ] || mv "$tx/hdr/$p" "$LAB/held/hdr/$p"
	done
}

lab_nncp_unhold() {
	local tx=$LAB/nncp/laptop/spool/$SPOOLER_ID/tx p

	mkdir -p "$tx/hdr"
	for p in "$LAB"/held/*; do
		[ -f "$p" ] || continue
		mv "$p" "$tx/" || lab_die "cannot give back packet $p"
		[ ! -e "$LAB/held/hdr/${p##*/}" ] || mv "$LAB/held/hdr/${p##*/}" "$tx/hdr/"
	done
}

# lab_nncp_pending NODE: the inbound packets left in NODE's spool.
lab_nncp_pending() {
	lab_nncp "$1" stat -pkt 2>>"$LAB/logs/nncp.log" | grep -c $'^\trx ' || true
}

# lab_nncp_relay: carry the laptop's packets to the spooler (nncp-xfer
# through a folder) and let the spooler toss them into its queue for
# backupsvr.
lab_nncp_relay() {
	local dir

	dir=$(mktemp -d "$LAB/xfer.XXXXXX")
	if ! lab_nncp laptop xfer -noprogress -tx -mkdir -node spooler "$dir" \
	    2>>"$LAB/logs/nncp.log" ||
	    ! lab_nncp spooler xfer -noprogress -rx "$dir" 2>>"$LAB/logs/nncp.log" ||
	    ! lab_nncp spooler toss -noprogress 2>>"$LAB/logs/nncp.log"; then
		lab_die "moving packets from the laptop to the spooler failed (see $LAB/logs/nncp.log)"
	fi
	[ "$(lab_nncp_pending spooler)" = 0 ] ||
	    lab_die "the spooler could not toss all packets (see $LAB/logs/nncp.log)"
	rm -rf "$dir"
}

# lab_nncp_stick [-l LABEL] [-o UID] IMG: make an ext4 stick image IMG
# (label $STICK_LABEL) and let the spooler write its packets for backupsvr
# onto it (nncp-xfer -tx -mkdir -node backupsvr STICK/nncp).  The stick's
# files are then given to UID (default $NNCP_FOREIGN_UID), as when another
# machine's NNCP user wrote them.  The image is left detached; sets
# STICK_IMG and STICK_PACKETS (how many packets are on it).
lab_nncp_stick() {
	local OPTIND opt label=$STICK_LABEL owner=$NNCP_FOREIGN_UID img mnt

	while getopts 'l:o:' opt; do
		case $opt in
		l) label=$OPTARG ;;
		o) owner=$OPTARG ;;
		*) lab_die "lab_nncp_stick: bad option" ;;
		esac
	done
	shift $((OPTIND - 1))
	img=$1
	truncate -s 32M "$img"
	mkfs.ext4 -q -L "$label" "$img" || lab_die "mkfs.ext4 $img failed"
	lab_media_attach "$img"
	mnt=$LAB/stickw
	mkdir -p "$mnt"
	mount "$LAB_DEV" "$mnt" || lab_die "mount $LAB_DEV failed"
	mkdir "$mnt/nncp"
	lab_nncp spooler xfer -noprogress -tx -mkdir -node backupsvr "$mnt/nncp" \
	    2>>"$LAB/logs/nncp.log" ||
	    lab_die "nncp-xfer -tx onto the stick failed (see $LAB/logs/nncp.log)"
	# shellcheck disable=SC2034 # for the scenario scripts
	STICK_PACKETS=$(find "$mnt/nncp/$BSVR_ID" -type f | wc -l)
	chown -R "$owner:$owner" "$mnt/nncp"
	umount "$mnt" || lab_die "umount $mnt failed"
	rmdir "$mnt"
	lab_media_detach "$LAB_DEV"
	# shellcheck disable=SC2034 # for the scenario scripts
	STICK_IMG=$img
}

# lab_stick_image [-l LABEL] [-t TYPE] IMG: a plain filesystem image
# without NNCP folder (mkfs.TYPE, default ext4), detached.
lab_stick_image() {
	local OPTIND opt label=$STICK_LABEL type=ext4

	while getopts 'l:t:' opt; do
		case $opt in
		l) label=$OPTARG ;;
		t) type=$OPTARG ;;
		*) lab_die "lab_stick_image: bad option" ;;
		esac
	done
	shift $((OPTIND - 1))
	truncate -s 32M "$1"
	"mkfs.$type" -q -L "$label" "$1" >>"$LAB/logs/mkfs.log" 2>&1 ||
	    lab_die "mkfs.$type $1 failed"
}

# lab_stick_open DEV: mount the stick DEV read-only on $LAB/stickchk to
# look at what the agent left on it.  lab_stick_close unmounts it.
lab_stick_open() {
	mkdir -p "$LAB/stickchk"
	mount -o ro,noload "$1" "$LAB/stickchk" ||
	    lab_fail "cannot mount the stick $1 read-only to check it"
}

lab_stick_close() {
	umount "$LAB/stickchk" || lab_fail "cannot unmount $LAB/stickchk"
	rmdir "$LAB/stickchk"
}

# ---------------------------------------------------------------------------
# backup disks: zfs-fuse pools on loop devices, exported like unplugged disks

# lab_bakdisk [NAME [MIB [IMG]]]: a pool NAME (default bakdisk${LAB_TAG}1)
# of MIB MiB (default 128; zfs-fuse wants at least 64) on IMG (default
# $LAB/NAME.img) on a loop device, exported again, so that the agent has
# to import it.  Sets DISK_DEV, DISK_GUID, DISK_IMG, BAK_POOL and
# STORE_ROOT.  At cleanup the pool is destroyed if it is still imported.
lab_bakdisk() {
	local name=${1:-bakdisk${LAB_TAG}1} img

	img=${3:-$LAB/$name.img}
	lab_pool_imported "$name" && lab_die "pool $name already exists"
	truncate -s "${2:-128}M" "$img"
	lab_media_attach "$img"
	DISK_DEV=$LAB_DEV
	zpool create -o cachefile=none -m none "$name" "$DISK_DEV" >>"$LAB/logs/zpool.log" 2>&1 ||
	    lab_die "zpool create $name $DISK_DEV failed (see $LAB/logs/zpool.log)"
	DISK_GUID=$(zpool list -H -o guid "$name") ||
	    lab_die "cannot read the guid of $name"
	LAB_DISK_POOLS+=("$name $DISK_GUID")
	assert_not_cached "$name"
	zpool export "$name" || lab_die "zpool export $name failed"
	lab_udev_wait_pool "$DISK_DEV" "$name" "$DISK_GUID"
	# shellcheck disable=SC2034 # for the scenario scripts
	DISK_IMG=$img
	BAK_POOL=$name
	STORE_ROOT=$BAK_POOL/simplesnap/laptop/$LAP_FS
}

# lab_udev_wait_pool DEV NAME GUID: make udev probe DEV again and wait until
# it sees a member of pool NAME (GUID) there.  Closing the device after
# writing would make udev probe it through its inotify watch; the explicit
# change event does not depend on that watch being in place.
lab_udev_wait_pool() {
	udevadm trigger --action=change "$1" ||
	    lab_die "udevadm trigger $1 failed"
	lab_settle
	for _ in $(seq 1 50); do
		if [ "$(lab_udev_prop "$1" ID_FS_TYPE)" = zfs_member ] &&
		    [ "$(lab_udev_prop "$1" ID_FS_UUID)" = "$3" ]; then
			break
		fi
		sleep 0.1
	done
	[ "$(lab_udev_prop "$1" ID_FS_LABEL)" = "$2" ] ||
	    lab_die "udev does not see $1 as pool $2"
}

# lab_bakdisk_import: import the backup disk's pool (by guid) to look at it.
lab_bakdisk_import() {
	zpool import -o cachefile=none "$DISK_GUID" >>"$LAB/logs/zpool.log" 2>&1 ||
	    lab_fail "zpool import $DISK_GUID ($BAK_POOL) failed"
}

# assert_exported POOL: POOL is not imported.
assert_exported() {
	if lab_pool_imported "$1"; then
		lab_fail "pool $1 is still imported"
	fi
}

# assert_disk_record GUID RESULT: STATE/disks/GUID names the pool and guid
# and has result=RESULT.
assert_disk_record() {
	local f=$STATE/disks/$1 key

	[ -f "$f" ] || lab_fail "no disk record $f"
	for key in "pool=$BAK_POOL" "guid=$1" "result=$2"; do
		grep -qxF "$key" "$f" ||
		    lab_fail "disk record $f has no line $key: $(tr '\n' ' ' <"$f")"
	done
	grep -qx 'last_seen=[0-9][0-9]*' "$f" ||
	    lab_fail "disk record $f has no last_seen time"
}

# ---------------------------------------------------------------------------
# the light and the beeper

# lab_indicators: a fake LED folder (regular files as in sysfs, LED off) and
# an empty beeper file.
lab_indicators() {
	LED=$LAB/led/scrolllock
	BEEPER=$LAB/beeper
	mkdir -p "$LED"
	printf 'none\n' >"$LED/trigger"
	printf '0\n' >"$LED/brightness"
	printf '500\n' >"$LED/delay_on"
	printf '500\n' >"$LED/delay_off"
	printf '1\n' >"$LED/max_brightness"
	: >"$BEEPER"
}

# lab_appliance_config [HOSTSPEC...]: lab_config plus the appliance keys:
# mount_dir, nncp (backupsvr's config), media with the lab's labels,
# status (the fake LED and beeper), short timeouts.
lab_appliance_config() {
	local bin_dir

	lab_config "$@"
	# lab_config's one-line timeouts group is replaced by a complete one.
	grep -q '^timeouts = {.*};$' "$CONF" || lab_die "lab_config wrote no one-line timeouts group"
	sed -i '/^timeouts = {.*};$/d' "$CONF"
	bin_dir=$(dirname "$(command -v nncp-xfer)")
	cat >>"$CONF" <<EOF
mount_dir = "$MOUNT_DIR";
nncp = {
  user = "$NNCP_USER";
  bin_dir = "$bin_dir";
  configs = [ "$NNCP_BSVR_DIR/cfg.hjson" ];
  xfer_dir = "nncp";
};
media = (
  { label = "NNCPSTICK${LAB_TAG}*"; role = "transport"; },
  { label = "bakdisk${LAB_TAG}*"; role = "backup"; power_off = [ ]; }
);
status = {
  leds = [ "$LED" ];
  beeper = "$BEEPER";
  console = false;
};
timeouts = { command = 60; stall = 60; nncp = 60; import = 60; export = 60; };
EOF
	"$AGENT" -c "$CONF" check >"$LAB/logs/check.log" 2>&1 ||
	    lab_fail "airgap-agent check rejects the lab's config: $(cat "$LAB/logs/check.log")"
}

# lab_led: the LED folder's files on one line.
lab_led() {
	local f out=''

	for f in trigger brightness delay_on delay_off; do
		out="$out $f=$(tr -d ' \n' <"$LED/$f")"
	done
	printf '%s\n' "${out# }"
}

# assert_led idle|working|safe|error|needs-reboot: the LED files show the
# pattern (sysfs timer trigger for blinking, trigger none and a brightness
# for on or off).
assert_led() {
	local want got trigger max

	trigger=$(tr -d ' \n' <"$LED/trigger")
	max=$(tr -d ' \n' <"$LED/max_brightness")
	case $1 in
	idle) want="none 0" ;;
	safe) want="none $max" ;;
	working) want="timer 1000 1000" ;;
	error) want="timer 150 150" ;;
	needs-reboot) want="timer 100 1400" ;;
	*) lab_die "assert_led: unknown state $1" ;;
	esac
	case $trigger in
	timer) got="timer $(tr -d ' \n' <"$LED/delay_on") $(tr -d ' \n' <"$LED/delay_off")" ;;
	*) got="$trigger $(tr -d ' \n' <"$LED/brightness")" ;;
	esac
	[ "$want" = "$got" ] ||
	    lab_fail "LED: expected $1 ($want), found $(lab_led)"
}

# lab_beeps: the tones written to the beeper file as "Hz,Hz,...".  Each
# record must be a 24-byte struct input_event with a zero time, EV_SND
# (0x12) and SND_TONE (0x02), and every tone must be stopped (value 0)
# before the next one starts.
lab_beeps() {
	local size

	size=$(stat -c %s "$BEEPER")
	[ $((size % 24)) = 0 ] ||
	    lab_fail "beeper file has $size bytes, not a whole number of 24-byte input_event records"
	od -A n -v -t u2 -w24 "$BEEPER" | awk '
	{
		for (i = 1; i <= 8; i++)
			if ($i != 0)
				bad = bad " record " NR ": time not zero;"
		if ($9 != 18 || $10 != 2)
			bad = bad " record " NR ": type " $9 " code " $10 ", not EV_SND SND_TONE;"
		v = $11 + 65536 * $12
		if (v != 0) {
			if (on)
				bad = bad " record " NR ": tone " v " while a tone is on;"
			tones = tones sep v
			sep = ","
			on = 1
		} else {
			if (!on)
				bad = bad " record " NR ": stop without a tone;"
			on = 0
		}
	}
	END {
		if (on)
			bad = bad " the last tone is never stopped;"
		if (bad != "") {
			print "beeper file:" bad > "/dev/stderr"
			exit 1
		}
		print tones
	}' || lab_fail "the beeper file holds malformed records"
}

# assert_beeps TONES: the beeper file holds exactly TONES ("Hz,Hz,...",
# empty for none).  lab_beeps_reset empties it.
assert_beeps() {
	local got

	got=$(lab_beeps)
	[ "$got" = "$1" ] || lab_fail "beeper: expected tones '$1', got '$got'"
}

lab_beeps_reset() {
	: >"$BEEPER"
}

# ---------------------------------------------------------------------------
# runs, status, mounts

# lab_runs LABEL: the outcomes of the handle runs for LABEL in
# STATE/runs.log, one a line (each line must have its 6 fields).
lab_runs() {
	local log=$STATE/runs.log

	[ -f "$log" ] || return 0
	awk -F'\t' -v l="$1" 'NF != 6 || $1 !~ /^[0-9]+$/ {
		print "bad line in runs.log: " $0 > "/dev/stderr"; exit 1 }
	    $3 == l { print $5 }' "$log" || lab_fail "$log is malformed"
}

# assert_last_run DEV LABEL ROLE OUTCOME: the last line of STATE/runs.log.
assert_last_run() {
	local log=$STATE/runs.log line want

	[ -f "$log" ] || lab_fail "no $log"
	line=$(tail -n 1 "$log")
	want=$(printf '\t%s\t%s\t%s\t%s\t' "$1" "$2" "$3" "$4")
	case $line in
	[0-9]*"$want"*) ;;
	*) lab_fail "last line of runs.log: expected TIME<TAB>$1<TAB>$2<TAB>$3<TAB>$4<TAB>MESSAGE, got: $line" ;;
	esac
}

# lab_status_json: run `status --json` into $LAB/status.json, which must
# parse as JSON.
lab_status_json() {
	"$AGENT" -c "$CONF" status --json >"$LAB/status.json" \
	    2>"$LAB/logs/status.log" ||
	    lab_fail "status --json failed: $(cat "$LAB/logs/status.log")"
	python3 -m json.tool "$LAB/status.json" >/dev/null 2>"$LAB/logs/json.log" ||
	    lab_fail "status --json is not JSON: $(cat "$LAB/logs/json.log"): $(head -c 2000 "$LAB/status.json")"
}

# assert_status_disk GUID RESULT: the last status --json lists the disk.
assert_status_disk() {
	python3 - "$LAB/status.json" "$1" "$BAK_POOL" "$2" <<'EOF' ||
import json, sys
st = json.load(open(sys.argv[1]))
d = [x for x in st.get("disks", []) if x.get("guid") == sys.argv[2]]
sys.exit(0 if len(d) == 1 and d[0].get("pool") == sys.argv[3]
         and d[0].get("result") == sys.argv[4] else 1)
EOF
	    lab_fail "status --json does not show disk $1 ($BAK_POOL) with result $2: $(cat "$LAB/status.json")"
}

# assert_nothing_mounted [DEV...]: nothing below MOUNT_DIR is mounted, no
# mountpoint is left there, and none of the DEVs is mounted anywhere.
assert_nothing_mounted() {
	local m dev

	m=$(awk -v d="$MOUNT_DIR" 'index($2, d "/") == 1 || $2 == d' /proc/self/mounts)
	[ -z "$m" ] || lab_fail "still mounted below $MOUNT_DIR: $m"
	for dev in "$@"; do
		m=$(awk -v d="$dev" '$1 == d' /proc/self/mounts)
		[ -z "$m" ] || lab_fail "$dev is still mounted: $m"
	done
	if [ -d "$MOUNT_DIR" ]; then
		m=$(find "$MOUNT_DIR" -mindepth 1 | head -n 5)
		[ -z "$m" ] || lab_fail "left behind below $MOUNT_DIR: $m"
	fi
}

# ---------------------------------------------------------------------------
# the watch daemon

# lab_watch_start: start `airgap-agent watch` in the background (its log is
# $LAB/logs/watch.log) and wait until it listens.
lab_watch_start() {
	[ -x "$AGENT" ] || lab_fail "program not found or not executable: $AGENT"
	AGENT_LOG=$LAB/logs/watch.log
	AGENT_RC=running
	(cd "$LAB/run" && exec "$AGENT" -c "$CONF" -v watch) \
	    >"$AGENT_LOG" 2>&1 </dev/null &
	LAB_WATCH_PID=$!
	for _ in $(seq 1 100); do
		if grep -q 'state=idle' "$STATE/indicator" 2>/dev/null; then
			lab_log "watch daemon runs (pid $LAB_WATCH_PID)"
			return 0
		fi
		kill -0 "$LAB_WATCH_PID" 2>/dev/null ||
		    lab_fail "the watch daemon exited at start"
		sleep 0.1
	done
	lab_fail "the watch daemon did not show the idle light within 10 s"
}

# lab_watch_stop: SIGTERM to the daemon; its handle child, if any, is
# waited for, and killed when it does not end.
lab_watch_stop() {
	local pid=$LAB_WATCH_PID kids k

	[ -n "$pid" ] || return 0
	LAB_WATCH_PID=
	kids=$(pgrep -P "$pid" || true)
	kill -TERM "$pid" 2>/dev/null || true
	for _ in $(seq 1 100); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	for k in $kids; do
		for _ in $(seq 1 300); do
			kill -0 "$k" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$k" 2>/dev/null || true
	done
	return 0
}

# lab_watch_wait LABEL COUNT [SECONDS]: wait (default 60 s) until runs.log
# has COUNT runs for LABEL and the daemon has no handle child running (so
# the light and the beeps are done).
lab_watch_wait() {
	local label=$1 count=$2 limit=${3:-60} n

	for _ in $(seq 1 $((limit * 5))); do
		kill -0 "$LAB_WATCH_PID" 2>/dev/null ||
		    lab_fail "the watch daemon is gone"
		n=$(lab_runs "$label" | wc -l)
		if [ "$n" -ge "$count" ] && ! pgrep -P "$LAB_WATCH_PID" >/dev/null; then
			return 0
		fi
		sleep 0.2
	done
	lab_fail "after $limit s, runs.log has $n run(s) for $label, expected $count"
}

# lab_watch_flush: wait until the daemon has taken every event udev has
# sent so far, and no handle child runs.  Once udev has settled (every
# event so far processed and sent), a medium that is not ours is plugged
# in: the daemon reads events in order, so when its run for that medium
# is logged, it has seen everything before.  The low "not mine" tone it
# beeps is taken off the beeper file again.
lab_watch_flush() {
	local img=$LAB/flush.img dev size n0

	[ -f "$img" ] || lab_stick_image -l "FLUSH${LAB_TAG}" "$img"
	lab_settle
	size=$(stat -c %s "$BEEPER")
	n0=$(grep -c ": handle exited with 3$" "$LAB/logs/watch.log" || true)
	lab_media_attach "$img"
	dev=$LAB_DEV
	for _ in $(seq 1 600); do
		[ "$(grep -c "watch: $dev: handle exited with 3$" "$LAB/logs/watch.log")" -gt 0 ] &&
		    [ "$(grep -c ": handle exited with 3$" "$LAB/logs/watch.log")" -gt "$n0" ] &&
		    break
		sleep 0.2
	done
	[ "$(grep -c ": handle exited with 3$" "$LAB/logs/watch.log")" -gt "$n0" ] ||
	    lab_fail "the watch daemon did not get to the marker medium $dev within 120 s"
	lab_media_detach "$dev"
	truncate -s "$size" "$BEEPER"
	for _ in $(seq 1 600); do
		pgrep -P "$LAB_WATCH_PID" >/dev/null || return 0
		sleep 0.2
	done
	lab_fail "the watch daemon's handle child does not end"
}
