#!/bin/bash
#
# t47-rotation-outsider: a backup disk that matches the media labels but is
# not in ingest.rotation is ingested into, but nothing is kept for it.
#
# Rotation A, B; disk C is a third backup disk.  s1 is queued: C plugged in
# first receives it, but the file stays (kept for A) and the ledger says
# nothing about C.  A then B receive it and it leaves the queue.  s2 is
# queued and goes to A and B: it leaves the queue at once, although C
# lacks it, and C's next run has nothing to do.

# shellcheck source=functions.sh
. "$(dirname "$0")/functions.sh"
# shellcheck source=lib-rotation.sh
. "$(dirname "$0")/lib-rotation.sh"

rot_setup
rot_laptop_snaps 2

rot_two_disks
rot_disk C
poolC=${ROT_POOL[C]}

lab_queue s1
n1=$QN
k1=$(rot_key "$n1")

rot_handle C
assert_exit 0
assert_last_run "$DISK_DEV" "$poolC" backup safe
assert_rot_outcome "$n1" received stays "kept for $poolA"
assert_ledger_lines 0
rot_import C
assert_received s1
rot_export C

rot_handle A
assert_exit 0
assert_rot_outcome "$n1" received stays "kept for $poolB"
assert_ledger_lines 1
assert_ledger_has "$k1" "$poolA"
rot_handle B
assert_exit 0
assert_rot_outcome "$n1" received leaves
assert_ledger_lines 0

lab_queue -i s1 s2
n2=$QN
rot_handle A
assert_exit 0
assert_rot_outcome "$n2" received stays "kept for $poolB"
rot_handle B
assert_exit 0
assert_rot_outcome "$n2" received leaves
assert_ledger_lines 0

rot_handle C
assert_exit 0
assert_report_empty
rot_import C
assert_eq s1 "$(rot_snaps C)" "snapshots on $poolC"
assert_received s1
rot_export C
for x in A B; do
	rot_import "$x"
	assert_eq "s1 s2" "$(rot_snaps "$x")" "snapshots on ${ROT_POOL[$x]}"
	assert_received s2
	rot_export "$x"
done

lab_pass
