#!/bin/bash
#
# t56-fault-two-media: media arriving together, and events arriving more
# than once.
#  1. The watch daemon runs; a backup disk and a stick (one packet) are
#     plugged in at the same moment, and while they are handled, and after,
#     `udevadm trigger --action=change` repeats their events 5 times.  Each
#     medium is handled exactly once, one after the other; the packet's
#     stream ends up received into the disk; everything ends exported,
#     unmounted and "safe".
#  2. Without the daemon (the udev-rule way), three `handle` runs start at
#     once: a second stick (one packet), the disk, and the disk again.  The
#     lock makes them run one at a time (two of them wait); all end "safe",
#     the second stream is received, nothing is left mounted or imported.

# shellcheck source=functions.sh
. "$(dirname "$0")/functions.sh"
# shellcheck source=lib-faults.sh
. "$(dirname "$0")/lib-faults.sh"

lab_appliance_setup
lf_timeouts 30 20 30 30 30
lab_write a.txt one
lab_write_random r1 1024
lab_snap s1
lab_write a.txt two
lab_write_random r2 1024
lab_snap s2
lab_nncp_queue s1
n1=$QN
lab_nncp_relay
lab_nncp_stick "$LAB/stick1.img"
lab_nncp_queue -i s1 s2
n2=$QN
lab_nncp_relay
lab_nncp_stick "$LAB/stick2.img"
BYTES=$(( $(stat -c %s "$LAB/sent/$n1") + $(stat -c %s "$LAB/sent/$n2") ))
lab_bakdisk
lab_media_detach "$DISK_DEV"

# --- 1. the daemon, two media at once, repeated events
lab_watch_start
DISK_DEV=$(losetup -f --show "$DISK_IMG")
LAB_LOOPS+=("$DISK_DEV")
stick=$(losetup -f --show "$LAB/stick1.img")
LAB_LOOPS+=("$stick")
triggers=0
for _ in 1 2 3 4 5; do
	sleep 0.3
	udevadm trigger --action=change "$DISK_DEV" "$stick" || lab_die "udevadm trigger failed"
	triggers=$((triggers + 2))
done
lab_watch_wait "$BAK_POOL" 1 90
lab_watch_wait "$STICK_LABEL" 1 90
lab_settle
lab_watch_flush
assert_eq safe "$(lab_runs "$BAK_POOL")" "runs of the disk"
assert_eq safe "$(lab_runs "$STICK_LABEL")" "runs of the stick"
assert_led safe
assert_exported "$BAK_POOL"
assert_nothing_mounted "$stick"
assert_not_queued "$n1"
# One at a time: each "handing over" is followed by its end before the
# next (other media of this machine may show up in between: ignored).
order=$(awk -v d="$DISK_DEV" -v s="$stick" '
    $0 ~ "watch: handing (" d "|" s ") over" { print "start" }
    $0 ~ "watch: (" d "|" s "): handle " { print "end" }' "$LAB/logs/watch.log" | paste -sd' ' -)
assert_eq "start end start end" "$order" "the daemon's hand-overs of the disk and the stick"
runs1=$(grep -c . "$STATE/runs.log")
lf_watch_daemon_stop

# --- 2. three handle runs at once
stick2=$(losetup -f --show "$LAB/stick2.img")
LAB_LOOPS+=("$stick2")
lab_settle
pids=() logs=()
for dev in "$stick2" "$DISK_DEV" "$DISK_DEV"; do
	lf_agent_bg handle "$dev"
	pids+=("$LF_PID")
	logs+=("$AGENT_LOG")
done
rcs=''
for i in 0 1 2; do
	LF_PID=${pids[$i]}
	lf_agent_wait 120
	rcs="$rcs $AGENT_RC"
done
assert_eq " 0 0 0" "$rcs" "exit status of the three runs"
waited=$(cat "${logs[@]}" | grep -c 'held by another run, waiting' || true)
[ "$waited" = 2 ] || lf_bug "$waited of 3 simultaneous runs waited for the lock, expected 2"
assert_eq "safe safe safe" "$(tail -n 3 "$STATE/runs.log" | cut -f 5 | paste -sd' ' -)" "outcomes of the three runs"
assert_led safe
assert_exported "$BAK_POOL"
assert_nothing_mounted "$stick2" "$stick"
assert_not_queued "$n2"
lab_bakdisk_import
assert_received s1
assert_received s2
lf_result "two media: watch daemon with a disk and a stick plugged in together and $triggers extra change events: $runs1 runs (1 each, one at a time); then 3 handle runs started at once: $waited waited for the lock, all safe; 2 files, $BYTES bytes, lost 0"
lf_finish
