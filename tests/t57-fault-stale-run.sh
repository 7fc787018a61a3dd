#!/bin/bash
#
# t57-fault-stale-run: what a killed run leaves behind.
#  1. Stale lock: `handle` on a backup disk is killed with SIGKILL while it
#     holds STATE/lock (frozen the moment its receive starts).  The pool it imported
#     is still imported and not in the pool cache.  The lock file stays,
#     but flock(2) went with the process: the next run takes the lock at
#     once (no "waiting"), does not hang, receives the stream, "safe".
#  2. Stale mount: `handle` on a stick is killed with SIGKILL right after
#     it mounted the stick on MOUNT_DIR/DEVICE.  The next run on the same
#     stick must not hang, and either cope (import the packet, leave the
#     stick unmounted, "safe") or say clearly that the stick is still
#     mounted: it must not claim it unmounted the stick while the stick is
#     mounted.  Finally, with the stale mount removed by hand, a run does
#     the whole job; the packet is not lost.
#  3. A stick run killed while the stick's NNCP folder belongs to the
#     NNCP user (it is lent for the import): the next run gives it back
#     to the uid that owned it before (the spooler's), not to the NNCP
#     user, and leaves no record of it behind.

# shellcheck source=functions.sh
. "$(dirname "$0")/functions.sh"
# shellcheck source=lib-faults.sh
. "$(dirname "$0")/lib-faults.sh"

# while_running COND...: poll COND every 10 ms while the run started by
# lf_agent_bg goes on (10 s at most); fails if the run ended first.
while_running() {
	for _ in $(seq 1 1000); do
		"$@" && return 0
		kill -0 "$LF_PID" 2>/dev/null || return 1
		sleep 0.01
	done
	return 1
}

mounted_on() {
	awk -v m="$1" '$2 == m { f = 1 } END { exit !f }' /proc/self/mounts
}

owned_by() {
	[ "$(stat -c %u "$1" 2>/dev/null)" = "$2" ]
}

# stick_run SNAP IMG: queue the stream of SNAP (incremental from the one
# before) through NNCP onto a new stick image IMG, plug it in and start
# `handle` on it in the background.  Sets n (the queue file), stick, mnt.
stick_run() {
	lab_nncp_queue -i "s$((${1#s} - 1))" "$1"
	n=$QN
	lab_nncp_relay
	lab_nncp_stick "$2"
	lab_media_attach "$STICK_IMG"
	stick=$LAB_DEV
	mnt=$MOUNT_DIR/${stick#/dev/}
	lf_reset_light
	lf_agent_bg handle "$stick"
}

lab_appliance_setup
lf_timeouts 30 20 30 30 30
lab_write_random r1 6144
lab_snap s1
lab_write a.txt two
lab_snap s2

# --- 1. stale lock
lab_queue s1
n1=$QN
b1=$(stat -c %s "$QF")
lab_bakdisk
# The run is frozen (SIGSTOP) the moment its receive starts, so the kill
# lands mid-receive however busy the machine is.
lf_watch_start 60 stop proc "zfs receive -u $STORE_ROOT"
lf_agent_bg handle "$DISK_DEV"
lf_watch_end || lab_fail "the receive never started: $LF_WATCHED"
case $LF_WATCHED in
"stopped $LF_PID,"*) ;;
*) lab_die "the watcher did not stop the run ($LF_PID): $LF_WATCHED" ;;
esac
[ -n "$(find "/proc/$LF_PID/fd" -lname "$STATE/lock" 2>/dev/null)" ] ||
    lab_fail "the run does not hold $STATE/lock"
lf_kill_agent
lf_wait_gone "zfs receive -u $BAK_POOL/|zpool import .*$DISK_GUID|zpool export $BAK_POOL" 30
[ -f "$STATE/lock" ] || lab_fail "no stale lock file was left"
# The pool the killed run imported is still imported, and not in the
# pool cache (import_args has -o cachefile=none): a reboot now would not
# import and mount it.
lab_pool_imported "$BAK_POOL" || lab_fail "the killed run left $BAK_POOL exported (killed too late?)"
assert_not_cached "$BAK_POOL"
assert_not_safe "killed while holding the lock"
t0=$(date +%s)
lf_agent_bg handle "$DISK_DEV"
lf_agent_wait 60
t1=$(date +%s)
assert_exit 0
if grep -q 'held by another run' "$AGENT_LOG"; then
	lf_bug "the run after the kill waited for a lock nobody holds"
fi
# Received now, or by the killed run itself when it was killed after it
# had sent the whole verified stream (then it is a duplicate now).
assert_outcome "$n1" "received|duplicate"
o1=$(lab_outcome "$n1")
assert_led safe
assert_exported "$BAK_POOL"
lab_bakdisk_import
assert_received s1
lab_pool_export "$BAK_POOL"
lf_result "stale lock: 1 kill -9 mid-receive, the next run took the lock at once and finished in $((t1 - t0)) s ($o1), 1 file, $b1 bytes, lost 0"

# --- 2. stale mount
stick_run s2 "$LAB/stick.img"
n2=$n
while_running mounted_on "$mnt" || true
lf_kill_agent
lf_wait_gone "nncp-.* -cfg $NNCP_BSVR_DIR/cfg.hjson" 60
stale=$(lf_mounts_of "$mnt")
[ -n "$stale" ] || lab_fail "the killed run left no mount behind (killed too late?)"
lab_log "left mounted by the killed run: $stale"

lf_reset_light
lf_agent_bg handle "$stick"
lf_agent_wait 60
still=$(lf_mounts_of "$mnt")
claim=$(tail -n 1 "$STATE/runs.log" | cut -f 6)
lab_log "second run: exit $AGENT_RC, light $(lf_light), still mounted: ${still:-no}, says: $claim"
if [ -n "$still" ]; then
	assert_not_safe "the stick is still mounted"
	wrong=''
	case $claim in
	*unmounted,* | *"safe to remove"*)
		wrong="it says '$claim'" ;;
	esac
	grep -q "$mnt" <<<"$(cat "$STATE/indicator")$claim" ||
	    wrong="${wrong:+$wrong, and }neither runs.log nor the light names the mount"
	[ -z "$wrong" ] ||
	    lf_bug "the stick is still mounted on $mnt (stale mount of the killed run), yet $wrong"
	coped=no
else
	assert_exit 0
	assert_led safe
	coped=yes
fi
second="exit $AGENT_RC, light $(lf_light), stick still mounted: $([ -n "$still" ] && echo yes || echo no)"

# With the stale mount gone, the whole job is done; nothing was lost.
umount "$mnt" 2>/dev/null || true
lf_reset_light
lab_agent handle "$stick"
assert_exit 0
assert_led safe
assert_nothing_mounted "$stick"
assert_exported "$BAK_POOL"
assert_not_queued "$n2"
lab_bakdisk_import
assert_received s2

lf_result "stale mount: 1 kill -9 after the mount; the next run: $second (coped: $coped); after unmounting by hand: safe, 1 file, $(stat -c %s "$LAB/sent/$n2") bytes, lost 0"
lab_pool_export "$BAK_POOL"
lab_media_detach "$stick"

# --- 3. killed while the NNCP folder belongs to the NNCP user
lab_write a.txt three
lab_snap s3
nncp_uid=$(id -u "$NNCP_USER")
stick_run s3 "$LAB/stick3.img"
n3=$n
while_running owned_by "$mnt/nncp" "$nncp_uid" ||
    lab_fail "the NNCP folder was never given to $NNCP_USER (the run ended first?)"
lf_kill_agent
lf_wait_gone "nncp-.* -cfg $NNCP_BSVR_DIR/cfg.hjson" 60
lf_wait_gone "zfs receive -u $BAK_POOL/|zpool import .*$DISK_GUID|zpool export $BAK_POOL" 30
lf_reset_light
lab_agent handle "$stick"
assert_exit 0
assert_led safe
assert_nothing_mounted "$stick"
assert_not_queued "$n3"
# shellcheck disable=SC2016 # expanded by the inner shell
owners=$(lf_ro_look "$STICK_IMG" sh -c 'find "$1" -printf "%u:%g\n" | sort -u' sh "$LAB/look/nncp")
[ "$owners" = "$NNCP_FOREIGN_UID:$NNCP_FOREIGN_UID" ] ||
    lf_bug "after a run killed while the NNCP folder was lent to $NNCP_USER, the next run left it owned by: $(printf '%s' "$owners" | tr '\n' ' ')"
[ -z "$(ls -A "$STATE/sticks" 2>/dev/null)" ] ||
    lf_bug "the record of the NNCP folder's owner was left in $STATE/sticks"
assert_exported "$BAK_POOL"
lab_bakdisk_import
assert_received s3
lf_result "lent NNCP folder: 1 kill -9 while the folder belonged to $NNCP_USER; the next run gave it back to uid $NNCP_FOREIGN_UID, safe, 1 file, $(stat -c %s "$LAB/sent/$n3") bytes, lost 0"
lf_finish
