#!/bin/bash
#
# t41-rotation-offsite-catch-up: the offsite disk comes back after three
# more snapshots.  s1 goes to both rotation disks A and B.  B is unplugged
# (offsite); s2, s3 and s4 (incrementals) arrive one at a time and go to A
# only: each is received there and kept for B, and A skips the ones it
# already has (kept).  Then B comes back and catches up in one run:
# s2, s3 and s4 received in order, all three files leave the queue, the
# ledger is empty.  A's next run has nothing to do.

# shellcheck source=functions.sh
. "$(dirname "$0")/functions.sh"
# shellcheck source=lib-rotation.sh
. "$(dirname "$0")/lib-rotation.sh"

rot_setup
rot_laptop_snaps 1

rot_two_disks

lab_queue s1
n1=$QN
rot_handle A
assert_exit 0
assert_rot_outcome "$n1" received stays "kept for $poolB"
rot_handle B
assert_exit 0
assert_rot_outcome "$n1" received leaves
assert_ledger_lines 0

# B goes offsite.
rot_unplug B

# s2: received on A, kept for B.
lab_write a.txt two
lab_write_random bin/r2 64
lab_snap s2
lab_queue -i s1 s2
n2=$QN
rot_handle A
assert_exit 0
assert_rot_outcome "$n2" received stays "kept for $poolB"
assert_ledger_has "$(rot_key "$n2")" "$poolA" "$(lab_guid "$LAP_FS@s2")"

# s3: A skips s2 (kept) and receives s3.
lab_write a.txt three
lab_remove bin/r1
lab_snap s3
lab_queue -i s2 s3
n3=$QN
rot_handle A
assert_exit 0
assert_rot_outcome "$n2" kept stays "kept for $poolB"
assert_rot_outcome "$n3" received stays "kept for $poolB"

# s4 likewise.
lab_write c/d.txt four
lab_snap s4
lab_queue -i s3 s4
n4=$QN
rot_handle A
assert_exit 0
assert_rot_outcome "$n2" kept stays "kept for $poolB"
assert_rot_outcome "$n3" kept stays "kept for $poolB"
assert_rot_outcome "$n4" received stays "kept for $poolB"
assert_ledger_lines 3
for n in "$n2" "$n3" "$n4"; do
	assert_ledger_has "$(rot_key "$n")" "$poolA"
	assert_ledger_lacks "$(rot_key "$n")" "$poolB"
done
rot_import A
assert_eq "s1 s2 s3 s4" "$(rot_snaps A)" "snapshots on $poolA"
assert_received s4
rot_export A

# B comes back: it catches up in order, and the queue empties.
rot_plug B
rot_handle B
assert_exit 0
assert_last_run "$DISK_DEV" "$poolB" backup safe
assert_disk_record "$DISK_GUID" ok
grep -qx 'received=3' "$STATE/disks/$DISK_GUID" ||
    lab_fail "disk record of $poolB: expected received=3: $(tr '\n' ' ' <"$STATE/disks/$DISK_GUID")"
assert_rot_outcome "$n2" received leaves
assert_rot_outcome "$n3" received leaves
assert_rot_outcome "$n4" received leaves
assert_ledger_lines 0
# The order in which they were received, from the run's log.
order=$(grep -oE "bakfsfmt2-[^ ]*: received" "$AGENT_LOG" | sed 's/: received$//' |
    paste -sd' ' -)
assert_eq "$n2 $n3 $n4" "$order" "order in which $poolB received the files"
rot_import B
assert_eq "s1 s2 s3 s4" "$(rot_snaps B)" "snapshots on $poolB"
assert_eq 4 "$(rot_receives B)" "receives into $poolB"
for s in s1 s2 s3 s4; do
	assert_received "$s"
done
rot_export B

# A's next run: nothing to do.
rot_handle A
assert_exit 0
assert_report_empty
grep -qx 'received=0' "$STATE/disks/$DISK_GUID" ||
    lab_fail "disk record of $poolA: expected received=0: $(tr '\n' ' ' <"$STATE/disks/$DISK_GUID")"
assert_ledger_lines 0
left=$(find "$INCOMING" -type f | head -n 5)
[ -z "$left" ] || lab_fail "files left in incoming: $left"
rot_import A
assert_eq "s1 s2 s3 s4" "$(rot_snaps A)" "snapshots on $poolA at the end"
assert_eq 4 "$(rot_receives A)" "receives into $poolA"
for s in s1 s2 s3 s4; do
	assert_received "$s"
done
rot_export A

lab_pass
