# shellcheck shell=bash
#
# tests/lib-faults.sh: helpers for the fault and hostile-input scenarios
# (tests/t5N-*.sh).  Source it after functions.sh and call
# lab_appliance_setup first; everything started or created here is
# removed by the cleanup of functions.sh (processes in LAB_KILL_PIDS,
# loop devices on files of $LAB, mounts below $LAB, backup pools in
# LAB_DISK_POOLS) or by lf_cleanup (paths outside $LAB).
#
# Every scenario ends with lf_finish, which prints the scenario's RESULT
# line(s) collected with lf_result and fails when lf_bug recorded a
# defect of the program.  A RESULT line reads
#   RESULT t51 kill-9: 20 kills, 4 files, 12582912 bytes, lost 0
# and is also appended to $LF_RESULTS (tests/logs/faults-results.txt,
# or in TESTS_LOGDIR), which tests/run keeps when it removes the logs of
# passed tests; docs/reliability.md is written from those lines.
#
# Faults are made with real components only:
#   - a stick is "pulled" by setting its loop device's offset beyond the
#     end of its image (LOOP_SET_STATUS64): from then on every read and
#     write of the device fails with EIO, as for a USB stick that is gone,
#     while the image keeps what reached it; the device is then detached
#     (lazily while mounted) and the image attached again to "plug it
#     back in".  This kernel has neither device-mapper nor
#     CONFIG_FAIL_MAKE_REQUEST, and a loop device has no sysfs "delete".
#   - kill -9 of the agent or of one of its children;
#   - pools too small for a stream, busy datasets, read-only devices,
#     filesystems with garbage written over their metadata.

LF_ID=${TS_NAME%%-*}
LF_RESULTS=${TESTS_LOGDIR:-$TOP/tests/logs}/faults-results.txt
LF_BUGS=()
LF_MARK=0
LF_LINES=()
LF_PATHS=()
LF_PID=
LF_HELPER_PID=
LF_HELPER_OUT=
LF_WATCHED=
LF_SAMPLER_PID=

# ---------------------------------------------------------------------------
# results and defects

# lf_result TEXT: one RESULT line for the report ("RESULT t5N TEXT"),
# marked FAILED when lf_bug recorded defects since the last lf_result.
lf_result() {
	local n=$((${#LF_BUGS[@]} - LF_MARK)) line="RESULT $LF_ID $*"

	[ "$n" = 0 ] || line="$line, FAILED ($n defect(s))"
	LF_MARK=${#LF_BUGS[@]}
	LF_LINES+=("$line")
}

# lf_bug TEXT: the program did something wrong.  The scenario goes on (so
# that its other cases still run and its RESULT line is printed) and
# fails at lf_finish.
lf_bug() {
	LF_BUGS+=("$*")
	printf '%s: BUG: %s\n' "$TS_NAME" "$*" >&2
}

# lf_finish: print the RESULT lines, keep them in $LF_RESULTS, and end the
# scenario: failed when a defect was recorded.
lf_finish() {
	local line b

	mkdir -p "$(dirname "$LF_RESULTS")" 2>/dev/null || true
	[ "$LF_MARK" = ${#LF_BUGS[@]} ] || lf_result "further checks"
	for line in "${LF_LINES[@]}"; do
		printf '%s\n' "$line"
		printf '%s\n' "$line" >>"$LF_RESULTS" 2>/dev/null || true
	done
	if [ ${#LF_BUGS[@]} -gt 0 ]; then
		for b in "${LF_BUGS[@]}"; do
			printf '%s: defect: %s\n' "$TS_NAME" "$b" >&2
		done
		lab_fail "${#LF_BUGS[@]} defect(s) found (see BUG lines above)"
	fi
	lab_pass
}

# lf_cleanup: remove paths outside $LAB that a scenario registered in
# LF_PATHS (where a hostile medium could make something appear); only
# empty directories that nothing is mounted on are removed.
lf_cleanup() {
	local p

	for p in "${LF_PATHS[@]}"; do
		if awk -v p="$p" '$2 == p { f = 1 } END { exit !f }' /proc/self/mounts; then
			umount "$p" 2>/dev/null || umount -l "$p"
		fi
		[ ! -d "$p" ] || rmdir "$p" 2>/dev/null ||
		    printf '%s: cleanup: %s is not empty, left alone\n' "$TS_NAME" "$p" >&2
	done
	return 0
}
LAB_CLEANUP_LAST+=(lf_cleanup)

# ---------------------------------------------------------------------------
# configuration

# lf_conf SED_EXPRESSION...: edit $CONF with sed and make sure the agent
# still accepts it.
lf_conf() {
	local e args=()

	for e in "$@"; do
		args+=(-e "$e")
	done
	sed -i "${args[@]}" "$CONF"
	"$AGENT" -c "$CONF" check >"$LAB/logs/check.log" 2>&1 ||
	    lab_die "airgap-agent check rejects the edited config: $(cat "$LAB/logs/check.log")"
}

# lf_timeouts COMMAND STALL NNCP IMPORT EXPORT: shorter timeouts, so that
# a fault that makes a tool hang costs seconds, not minutes.
lf_timeouts() {
	lf_conf "s/^timeouts = {.*};\$/timeouts = { command = $1; stall = $2; nncp = $3; import = $4; export = $5; };/"
	grep -q "^timeouts = { command = $1;" "$CONF" || lab_die "lf_timeouts: no timeouts line in $CONF"
}

# ---------------------------------------------------------------------------
# media

# lf_attach [-d] [-r] IMG: attach IMG to a loop device (-d: direct I/O,
# so that reads come from the disk as from a real stick, not from the
# page cache; -r: read-only), wait for udev, set LAB_DEV.
lf_attach() {
	local OPTIND opt args=(-f --show)

	while getopts 'dr' opt; do
		case $opt in
		d) args+=(--direct-io=on) ;;
		r) args+=(-r) ;;
		*) lab_die "lf_attach: bad option" ;;
		esac
	done
	shift $((OPTIND - 1))
	LAB_DEV=$(losetup "${args[@]}" "$1") || lab_die "losetup $1 failed"
	LAB_LOOPS+=("$LAB_DEV")
	lab_settle
}

# lf_detach DEV: detach DEV (lazily if it is still mounted or open).
lf_detach() {
	local i

	losetup -d "$1" 2>/dev/null || true
	for i in "${!LAB_LOOPS[@]}"; do
		if [ "${LAB_LOOPS[$i]}" = "$1" ]; then
			unset 'LAB_LOOPS[i]'
		fi
	done
	lab_settle
}

# lf_altroot: the config imports backup pools with -R $ALT (ALT is
# $LAB/altroot).
lf_altroot() {
	ALT=$LAB/altroot
	lf_conf "s|^  import_args = \\[ \"-o\", \"cachefile=none\" \\];|  import_args = [ \"-o\", \"cachefile=none\", \"-R\", \"$ALT\" ];|"
	grep -q "import_args = \\[ \"-o\", \"cachefile=none\", \"-R\"" "$CONF" ||
	    lab_die "could not set import_args"
}

# lf_hostile_pool NAME: an empty pool NAME on a new loop device, made with
# -R $LAB/mk so that nothing it mounts meanwhile is outside $LAB.  The
# caller adds datasets, exports it and calls lab_udev_wait_pool.  Sets
# hdev and hguid.
lf_hostile_pool() {
	truncate -s 128M "$LAB/$1.img"
	lab_media_attach "$LAB/$1.img"
	hdev=$LAB_DEV
	zpool create -o cachefile=none -m none -R "$LAB/mk" "$1" "$hdev" >>"$LAB/logs/zpool.log" 2>&1 ||
	    lab_die "zpool create $1 failed"
	hguid=$(zpool list -H -o guid "$1")
	LAB_DISK_POOLS+=("$1 $hguid")
}

# lf_mounts_outside POOL: after a run watched by lf_mounts_start, set
# LF_NMOUNTS (mounts of POOL seen), LF_NOUTSIDE (how many of them were
# outside $ALT) and LF_ESCAPED (what those were, empty if none).
lf_mounts_outside() {
	local seen outside

	seen=$(grep -v '^ready$' "$LAB/logs/mounts.txt" || true)
	LF_NMOUNTS=$(grep -c . <<<"$seen" || true)
	lab_log "mounts of $1 during the run: $(tr '\n' ';' <<<"$seen")"
	[ "$LF_NMOUNTS" -gt 0 ] ||
	    lab_fail "no mount of $1 was seen: is the altroot test meaningful?"
	outside=$(awk -v a="$ALT/" 'index($2, a) != 1' <<<"$seen")
	# shellcheck disable=SC2034 # for the scenario scripts
	LF_NOUTSIDE=$(grep -c . <<<"$outside" || true)
	LF_ESCAPED=''
	# shellcheck disable=SC2034 # for the scenario scripts
	[ -z "$outside" ] ||
	    LF_ESCAPED="mounted outside the altroot $ALT: $(tr '\n' ';' <<<"$outside")"
}

# lf_mount_image IMG: attach IMG and mount it read-write on a fresh
# folder below $LAB (printed); lf_umount_image MNT undoes both.
lf_mount_image() {
	local dev mnt

	mnt=$(mktemp -d "$LAB/stickw.XXXXXX")
	dev=$(losetup -f --show "$1") || lab_die "losetup $1 failed"
	mount "$dev" "$mnt" || { losetup -d "$dev"; lab_die "mount $dev failed"; }
	printf '%s\n' "$mnt"
}

lf_umount_image() {
	local dev

	dev=$(awk -v m="$1" '$2 == m { print $1 }' /proc/self/mounts)
	umount "$1" || lab_die "umount $1 failed"
	[ -z "$dev" ] || losetup -d "$dev" || true
	rmdir "$1"
	lab_settle
}

# lf_ro_look IMG CMD...: run CMD with the image IMG mounted read-only on
# $LAB/look, to see what reached the "medium".  The device is writable,
# so the kernel replays the ext4 journal as any later mount would (what
# was committed to the journal is on the stick).
lf_ro_look() {
	local img=$1 dev rc=0

	shift
	mkdir -p "$LAB/look"
	dev=$(losetup -f --show "$img") || lab_die "losetup $img failed"
	mount -o ro,nosuid,nodev,noexec "$dev" "$LAB/look" ||
	    { losetup -d "$dev"; lab_die "cannot mount $img to look at it"; }
	"$@" || rc=$?
	umount "$LAB/look"
	losetup -d "$dev"
	return "$rc"
}

# ---------------------------------------------------------------------------
# pulling a stick



# lf_pull DEV: the stick on DEV is gone from now on (every I/O fails).
lf_pull() {
	python3 "$TOP/tests/tools/lf-loop.py" "$1" pull || lab_die "cannot pull $1"
}

# lf_watch_start SECONDS ACTION [DEV] WHEN...: start lf-watch.py in the
# background (see there) and wait until it watches.  lf_watch_end waits
# for it and puts what it did into LF_WATCHED; its status says whether
# it acted.  (Not in a $(...): the watcher is this shell's child.)
lf_watch_start() {
	LF_HELPER_OUT=$(mktemp "$LAB/logs/watch.XXXXXX")
	lf_tool_start lf-watch.py "$LF_HELPER_OUT" "$@"
	LF_HELPER_PID=$LF_TOOL_PID
}

lf_watch_end() {
	local rc=0

	wait "$LF_HELPER_PID" || rc=$?
	LF_HELPER_PID=
	LF_WATCHED=$(sed -n '2,$p' "$LF_HELPER_OUT" | tr '\n' ' ')
	lab_log "watcher: $LF_WATCHED"
	return "$rc"
}

# lf_mounts_start OUT SOURCE: record the mounts of SOURCE (a pool) and its
# datasets into OUT until lf_sample_stop.
lf_mounts_start() {
	lf_sampler lf-mounts.py "$@"
}

lf_sampler() {
	lf_tool_start "$@"
	LF_SAMPLER_PID=$LF_TOOL_PID
}

# lf_tool_start TOOL OUT ARGS...: start tests/tools/TOOL OUT ARGS in the
# background (its pid in LF_TOOL_PID, its stderr in logs/TOOL.log) and
# wait until it says "ready" in OUT.  (Not in a $(...): the tool is
# this shell's child.)
lf_tool_start() {
	python3 "$TOP/tests/tools/$1" "${@:2}" 2>>"$LAB/logs/$1.log" &
	LF_TOOL_PID=$!
	LAB_KILL_PIDS+=("$LF_TOOL_PID")
	for _ in $(seq 1 200); do
		grep -q ready "$2" 2>/dev/null && return 0
		sleep 0.05
	done
	lab_die "$1 did not start"
}

# lf_sample_start OUT TEXT...: record the processes whose command line
# has all the TEXTs, with their credentials, into OUT until
# lf_sample_stop.
lf_sample_start() {
	lf_sampler lf-sample.py "$@"
}

lf_sample_stop() {
	kill "$LF_SAMPLER_PID" 2>/dev/null || true
	wait "$LF_SAMPLER_PID" 2>/dev/null || true
}

# ---------------------------------------------------------------------------
# the agent in the background

# lf_agent_bg ARGS...: start `airgap-agent -c $CONF -v ARGS` in the
# background, as lab_agent runs it; LF_PID is its pid.
lf_agent_bg() {
	lab_run_begin
	AGENT_RC=running
	(cd "$LAB/run" && exec "$AGENT" -c "$CONF" -v "$@") >"$AGENT_LOG" 2>&1 </dev/null &
	LF_PID=$!
	LAB_KILL_PIDS+=("$LF_PID")
}

# lf_agent_wait [SECONDS]: wait (default 120 s) for the background run;
# sets AGENT_RC.  A run that does not end in time is a hang: recorded as
# a defect, then killed.
lf_agent_wait() {
	local limit=${1:-120} i

	for i in $(seq 1 $((limit * 10))); do
		kill -0 "$LF_PID" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$LF_PID" 2>/dev/null; then
		lf_bug "airgap-agent run $LAB_RUNS did not end within $limit s (hangs)"
		kill -KILL "$LF_PID" 2>/dev/null || true
	fi
	AGENT_RC=0
	wait "$LF_PID" || AGENT_RC=$?
	lab_log "run $LAB_RUNS (background) -> exit $AGENT_RC after about $((i / 10)) s"
}

# lf_kill_agent: kill -9 the background run; AGENT_RC=killed.
lf_kill_agent() {
	kill -KILL "$LF_PID" 2>/dev/null || true
	wait "$LF_PID" 2>/dev/null || true
	AGENT_RC=killed
	lab_log "run $LAB_RUNS: killed with SIGKILL"
}

# lf_wait_gone TEXT [SECONDS]: wait until no process has TEXT in its
# command line (children a killed agent left behind).
lf_wait_gone() {
	local left=''

	for _ in $(seq 1 $((${2:-30} * 10))); do
		left=$(pgrep -a -f -- "$1" || true)
		[ -n "$left" ] || return 0
		sleep 0.1
	done
	lab_fail "still running after ${2:-30} s: $left"
}

# lf_watch_daemon_stop: SIGTERM to the watch daemon started by
# lab_watch_start, which must end within 10 s with exit 0.
lf_watch_daemon_stop() {
	local pid=$LAB_WATCH_PID rc=0

	kill -TERM "$pid"
	for _ in $(seq 1 100); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -0 "$pid" 2>/dev/null && lab_fail "the watch daemon did not stop within 10 s of SIGTERM"
	wait "$pid" || rc=$?
	LAB_WATCH_PID=
	[ "$rc" = 0 ] || lab_fail "the watch daemon exited $rc after SIGTERM"
}

# ---------------------------------------------------------------------------
# the light

# lf_light: the state in STATE/indicator ("none" without one).
lf_light() {
	local s

	s=$(sed -n 's/^state=//p' "$STATE/indicator" 2>/dev/null || true)
	printf '%s\n' "${s:-none}"
}

# assert_not_safe WHAT: neither STATE/indicator nor the LED says "safe"
# (one defect recorded otherwise).
assert_not_safe() {
	local max said=''

	max=$(tr -d ' \n' <"$LED/max_brightness")
	[ "$(lf_light)" != safe ] ||
	    said="STATE/indicator says: $(tr '\n' ' ' <"$STATE/indicator")"
	if [ "$(tr -d ' \n' <"$LED/trigger")" = none ] &&
	    [ "$(tr -d ' \n' <"$LED/brightness")" = "$max" ]; then
		said="${said:+$said; }the LED is steady on ($(lab_led))"
	fi
	[ -z "$said" ] || lf_bug "$1: the light says safe: $said"
}

# lf_reset_light: the light as at the start (idle, no state file).
lf_reset_light() {
	rm -f "$STATE/indicator"
	printf 'none\n' >"$LED/trigger"
	printf '0\n' >"$LED/brightness"
	lab_beeps_reset
}

# ---------------------------------------------------------------------------
# looking at things

# lf_tree PATH...: every entry below the paths, one line each: path,
# type, size, mtime, owner, group, mode, link target, and a checksum of
# regular files; to show that nothing was read into, written, chowned or
# created there.
lf_tree() {
	local p

	for p in "$@"; do
		[ -e "$p" ] || [ -L "$p" ] || { printf '%s absent\n' "$p"; continue; }
		find "$p" -printf '%p %y %s %T@ %U %G %m %l\n' | sort
		find "$p" -type f -exec sha256sum {} + | sort -k 2
	done
}

# lf_mounts_of TEXT: mount lines whose source or mountpoint contains TEXT.
lf_mounts_of() {
	awk -v t="$1" 'index($1, t) || index($2, t)' /proc/self/mounts
}

# lf_queue_count [HOST]: queue-named files in INCOMING/HOST.
lf_queue_count() {
	find "$INCOMING/${1:-laptop}" -maxdepth 1 -type f -name 'bak*' | wc -l
}

# lf_snaps POOL: "name guid" of every snapshot in POOL (zfs-fuse's
# `zfs get` has no -t).
lf_snaps() {
	local out

	out=$(zfs get -H -p -r -o name,value guid "$1") ||
	    lab_fail "zfs get -r guid $1 failed: $out"
	awk -F'\t' 'index($1, "@") { print $1 " " $2 }' <<<"$out"
}

# lf_outbound N BYTES: backupsvr queues N files of BYTES random bytes for
# the spooler (spooler:out-1.bin ...), to go out on the next stick; there
# must be N outbound packets then.  Sets TX (backupsvr's outbound spool
# for the spooler) and OUTSIZE (each outbound packet's size, by name).
lf_outbound() {
	local i f

	TX=$NNCP_BSVR_DIR/spool/$SPOOLER_ID/tx
	for i in $(seq 1 "$1"); do
		head -c "$2" /dev/urandom | lab_nncp backupsvr file -noprogress - "spooler:out-$i.bin" \
		    2>>"$LAB/logs/nncp.log" || lab_die "nncp-file out-$i.bin on backupsvr failed"
	done
	declare -gA OUTSIZE=()
	for f in "$TX"/*; do
		[ -f "$f" ] && OUTSIZE[$(basename "$f")]=$(stat -c %s "$f")
	done
	assert_eq "$1" "${#OUTSIZE[@]}" "outbound packets in backupsvr's spool"
}

# lf_stick_packets IMG DIR: packet files (not nncpxfer temp files) in DIR
# of the stick image IMG ("" when DIR does not exist), one name a line.
lf_stick_packets() {
	# shellcheck disable=SC2016 # expanded by the inner shell
	lf_ro_look "$1" sh -c 'd=$1; [ -d "$d" ] || exit 0; ls -1 "$d" | grep -v "^nncpxfer" || true' sh "$LAB/look/$2"
}
