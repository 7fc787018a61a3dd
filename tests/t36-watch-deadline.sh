#!/bin/bash
#
# t36-watch-deadline: under the watch daemon a whole `handle` run has a
# deadline (timeouts.handle, 8 s here), and nothing a run gets stuck on
# keeps the daemon from the next medium.
#  1. A run that does not go on (its process group stopped with SIGSTOP
#     once the light says "working"): after the deadline it is killed with
#     everything it started, the light says error, runs.log has an
#     "error" line saying it was stopped, and none of its processes is
#     left.
#  2. A run stuck in the kernel (its processes frozen with the cgroup
#     freezer: they show state D and SIGKILL does not end them, as on a
#     hung disk): after the deadline the light says "needs a reboot",
#     runs.log has a "needs-reboot" line, and the daemon handles the next
#     medium (a stick that is not ours) at once.  The hung disk pulled,
#     the light still says "needs a reboot".  Thawed, the stuck
#     processes die.
#  3. The daemon started again with a longer deadline: the disk is
#     handled as usual, safe, the stream received.

# shellcheck source=functions.sh
. "$(dirname "$0")/functions.sh"

FREEZER_TOP=/sys/fs/cgroup/freezer
[ -w "$FREEZER_TOP/cgroup.procs" ] ||
    lab_die "no cgroup v1 freezer at $FREEZER_TOP (needed to make a process unkillable)"
FREEZER=
LAB_CLEANUP_FIRST+=(thaw)

# thaw: let frozen processes go (they die of the SIGKILL waiting for
# them) and remove the freezer group.
thaw() {
	[ -n "$FREEZER" ] && [ -d "$FREEZER" ] || return 0
	echo THAWED >"$FREEZER/freezer.state"
	for _ in $(seq 1 100); do
		[ -z "$(cat "$FREEZER/cgroup.procs")" ] && break
		sleep 0.1
	done
	rmdir "$FREEZER" || printf '%s: cleanup: cannot remove %s\n' "$TS_NAME" "$FREEZER" >&2
	FREEZER=
	return 0
}

lab_appliance_setup
sed -i 's/^timeouts = { \(.*\) };$/timeouts = { \1 handle = 8; };/' "$CONF"
"$AGENT" -c "$CONF" check >"$LAB/logs/check.log" 2>&1 ||
    lab_die "the config with timeouts.handle is refused: $(cat "$LAB/logs/check.log")"
grep -q 'handle = 8;' "$LAB/logs/check.log" || lab_die "timeouts.handle did not reach the config"
lab_write a.txt one
lab_snap s1
lab_queue s1
n1=$QN
lab_bakdisk
pool=$BAK_POOL
lab_media_detach "$DISK_DEV"

# run_of: the pid of the daemon's handle child, once there is one (30 s).
run_of() {
	local pid

	for _ in $(seq 1 3000); do
		pid=$(pgrep -P "$LAB_WATCH_PID" -f ' handle ' | head -n 1)
		[ -n "$pid" ] && { printf '%s\n' "$pid"; return 0; }
		sleep 0.01
	done
	lab_fail "the daemon started no handle run within 30 s"
}

# group_left PGID: the processes of the group, not zombies.
group_left() {
	ps -e -o pgid=,stat=,pid=,args= | awk -v g="$1" '$1 == g && $2 !~ /^Z/'
}

# last_runs N: wait (40 s) until runs.log has N lines for the disk.
last_runs() {
	for _ in $(seq 1 400); do
		[ "$(lab_runs "$pool" | wc -l)" -ge "$1" ] && return 0
		sleep 0.1
	done
	lab_fail "runs.log has $(lab_runs "$pool" | wc -l) lines for $pool, expected $1"
}

lab_watch_start

# --- 1. stopped: killed at the deadline
lab_media_attach "$DISK_IMG"
DISK_DEV=$LAB_DEV
h=$(run_of)
for _ in $(seq 1 100); do
	kill -STOP -- "-$h" 2>/dev/null && break
	sleep 0.01
done
t0=$(date +%s)
last_runs 1
t1=$(date +%s)
assert_last_run "$DISK_DEV" "$pool" backup error
case $(tail -n 1 "$STATE/runs.log" | cut -f 6) in
*"not done after 8 s, stopped"*) ;;
*) lab_fail "runs.log does not say the run was stopped: $(tail -n 1 "$STATE/runs.log")" ;;
esac
assert_led error
left=$(group_left "$h")
[ -z "$left" ] || lab_fail "processes of the stopped run are left: $left"
lab_log "stopped run: killed $((t1 - t0)) s after it was stopped, light error"

# replug: the disk pulled and plugged in again (the killed run may have
# left its pool imported: the loop device stays, its medium goes).
replug() {
	lab_media_yank "$DISK_DEV"
	lab_media_unyank "$DISK_DEV"
}

# --- 2. frozen (state D, unkillable): needs a reboot; the daemon goes on
FREEZER=$FREEZER_TOP/aga-$LAB_TAG
mkdir "$FREEZER"
replug
h=$(run_of)
# The run first: what it starts from now on is born in the group.
echo "$h" >"$FREEZER/cgroup.procs"
for p in $(pgrep -g "$h"); do
	echo "$p" >"$FREEZER/cgroup.procs" 2>/dev/null || true
done
echo FROZEN >"$FREEZER/freezer.state"
last_runs 2
assert_last_run "$DISK_DEV" "$pool" backup needs-reboot
assert_led needs-reboot
stuck=$(group_left "$h")
[ -n "$stuck" ] || lab_die "nothing of the frozen run is left: the freezer did not hold it"
lab_log "frozen run left: $(printf '%s' "$stuck" | tr '\n' ';')"
lab_stick_image -l "OTHER${LAB_TAG}" "$LAB/other.img"
lab_media_attach "$LAB/other.img"
other=$LAB_DEV
for _ in $(seq 1 300); do
	grep -q "watch: $other: handle exited with 3" "$AGENT_LOG" && break
	sleep 0.1
done
grep -q "watch: $other: handle exited with 3" "$AGENT_LOG" ||
    lab_fail "the daemon did not handle the next medium ($other) while a run was stuck"
# The hung disk pulled: its pool stays suspended and the stuck process
# stays, so the light goes on asking for a reboot (it used to go back to
# idle).
removed=$(grep -c "watch: $DISK_DEV removed" "$AGENT_LOG" || true)
lab_media_yank "$DISK_DEV"
for _ in $(seq 1 300); do
	[ "$(grep -c "watch: $DISK_DEV removed" "$AGENT_LOG")" -gt "$removed" ] && break
	sleep 0.1
done
[ "$(grep -c "watch: $DISK_DEV removed" "$AGENT_LOG")" -gt "$removed" ] ||
    lab_fail "the daemon did not take the hung disk's removal"
assert_led needs-reboot
thaw
for _ in $(seq 1 100); do
	[ -z "$(group_left "$h")" ] && break
	sleep 0.1
done
left=$(group_left "$h")
[ -z "$left" ] || lab_fail "thawed, processes of the stuck run are still there: $left"
lab_media_detach "$other"

# --- 3. a longer deadline: the disk as usual
lab_watch_stop
lab_media_unyank "$DISK_DEV"
sed -i 's/handle = 8;/handle = 600;/' "$CONF"
lab_watch_start
lab_watch_wait "$pool" 3 120
assert_last_run "$DISK_DEV" "$pool" backup safe
assert_led safe
assert_exported "$pool"
lab_bakdisk_import
assert_received s1
lab_pool_export "$pool"
assert_not_queued "$n1"
lab_pass
