#!/bin/bash
#
# t48-per-disk-incoming: a backup disk with its own incoming folder (one
# NNCP installation per disk: `incoming = "/path"` in its media entry)
# ingests only from that folder, and no rotation applies to it.
#
# Rotation A, B as usual; disk D has the media entry with its own folder.
# The shared incoming folder and the exec queue hold s1 (for the
# rotation); D's folder holds s1 and s2 for D.  D plugged in receives s1
# and s2 from its folder, and both leave it at once (nothing is kept for
# other disks, the ledger is not touched); the shared queue and the exec
# queue stay as they were.  A's and B's runs never look at D's folder:
# a later s3 there stays until D comes back.

# shellcheck source=functions.sh
. "$(dirname "$0")/functions.sh"
# shellcheck source=lib-rotation.sh
. "$(dirname "$0")/lib-rotation.sh"

rot_setup
rot_laptop_snaps 3

rot_two_disks
rot_disk D
poolD=${ROT_POOL[D]}
INC_D=$LAB/incoming-d
mkdir -p "$INC_D/laptop"
rot_conf_media "{ label = \"$poolD\"; role = \"backup\"; power_off = [ ]; incoming = \"$INC_D\"; }"

# The shared queue: s1 in incoming and, as a copy, in the exec queue.
lab_queue s1
n1=$QN
mkdir -p "$EXECQ/laptop"
lab_stream s1
e1=$QN
mv "$QF" "$EXECQ/laptop/$e1"
# D's own folder: s1 and s2.
lab_stream s1
d1=$QN
mv "$QF" "$INC_D/laptop/$d1"
lab_stream -i s1 s2
d2=$QN
mv "$QF" "$INC_D/laptop/$d2"

rot_handle D
assert_exit 0
assert_last_run "$DISK_DEV" "$poolD" backup safe
assert_rot_outcome -r "$INC_D" "$d1" received leaves
assert_rot_outcome -r "$INC_D" "$d2" received leaves
report=$(lab_report_file)
assert_eq 2 "$(wc -l <"$report")" "lines in D's report"
assert_queued "$n1"
[ -f "$EXECQ/laptop/$e1" ] || lab_fail "$e1 left the exec queue during D's run"
assert_ledger_lines 0
rot_import D
assert_eq "s1 s2" "$(rot_snaps D)" "snapshots on $poolD"
assert_received s1
assert_received s2
rot_export D

# s3 for D arrives while D is away.
lab_stream -i s2 s3
d3=$QN
mv "$QF" "$INC_D/laptop/$d3"

rot_handle A
assert_exit 0
assert_rot_outcome "$n1" received stays "kept for $poolB"
assert_rot_outcome -r "$EXECQ" "$e1" duplicate stays "kept for $poolB"
report=$(lab_report_file)
assert_eq 2 "$(wc -l <"$report")" "lines in A's report"
[ -f "$INC_D/laptop/$d3" ] || lab_fail "$d3 left D's folder during A's run"
rot_handle B
assert_exit 0
assert_rot_outcome "$n1" received leaves
assert_rot_outcome -r "$EXECQ" "$e1" duplicate leaves
[ -f "$INC_D/laptop/$d3" ] || lab_fail "$d3 left D's folder during B's run"
assert_ledger_lines 0
for x in A B; do
	rot_import "$x"
	assert_eq s1 "$(rot_snaps "$x")" "snapshots on ${ROT_POOL[$x]}"
	assert_received s1
	rot_export "$x"
done

rot_handle D
assert_exit 0
assert_rot_outcome -r "$INC_D" "$d3" received leaves
assert_ledger_lines 0
rot_import D
assert_eq "s1 s2 s3" "$(rot_snaps D)" "snapshots on $poolD"
assert_received s3
rot_export D

lab_pass
