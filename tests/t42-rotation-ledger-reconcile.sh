#!/bin/bash
#
# t42-rotation-ledger-reconcile: a disk's own snapshots are the truth, the
# ledger only a record.
#
# Lost entry: s1 is received into rotation disk A, then STATE/ledger is
# deleted.  A's next run finds s1's guid on A: outcome duplicate, nothing
# is received twice (the pool history has one receive, the snapshot's guid
# is the same), the file stays kept for B and the ledger line is written
# again.  B then receives it and it leaves the queue.
#
# False claim: s2 is received into A (ledger line), then A is set back to
# s1 by hand (zfs rollback -r destroys s2, as when a disk is restored from
# an older state).  A's next run drops the ledger's claim and receives s2 again
# (guid and files right, a second receive in the history); B then gets it
# and it leaves.

# shellcheck source=functions.sh
. "$(dirname "$0")/functions.sh"
# shellcheck source=lib-rotation.sh
. "$(dirname "$0")/lib-rotation.sh"

rot_setup
lab_write a.txt one
lab_write_random bin/r1 128
lab_snap s1
lab_write a.txt two
lab_write_random bin/r2 64
lab_snap s2
guid1=$(lab_guid "$LAP_FS@s1")
guid2=$(lab_guid "$LAP_FS@s2")

rot_two_disks
dsA=$poolA/simplesnap/laptop/$LAP_FS

# --- the ledger loses the entry
lab_queue s1
n1=$QN
k1=$(rot_key "$n1")
rot_handle A
assert_exit 0
assert_rot_outcome "$n1" received stays "kept for $poolB"
assert_ledger_has "$k1" "$poolA" "$guid1" "$dsA"
rm "$STATE/ledger"

rot_handle A
assert_exit 0
assert_rot_outcome "$n1" duplicate stays "kept for $poolB"
assert_ledger_lines 1
assert_ledger_has "$k1" "$poolA" "$guid1" "$dsA"
rot_import A
assert_eq 1 "$(rot_receives A)" "receives into $poolA after the duplicate"
assert_eq s1 "$(rot_snaps A)" "snapshots on $poolA"
assert_received s1
rot_export A

rot_handle B
assert_exit 0
assert_rot_outcome "$n1" received leaves
assert_ledger_lines 0
rot_import B
assert_received s1
rot_export B

# Lost again, the other way round: the file is on both disks, the ledger
# knows only B (the agent died before writing A's line).  A plugged in
# first: duplicate, and now both have it, so it leaves.
lab_queue s1
n1b=$QN
k1b=$(rot_key "$n1b")
rot_handle B
assert_exit 0
assert_rot_outcome "$n1b" duplicate stays "kept for $poolA"
assert_ledger_has "$k1b" "$poolB" "$guid1"
rot_handle A
assert_exit 0
assert_rot_outcome "$n1b" duplicate leaves
assert_ledger_lines 0

# --- the ledger claims what the disk no longer has
lab_queue -i s1 s2
n2=$QN
k2=$(rot_key "$n2")
rot_handle A
assert_exit 0
assert_rot_outcome "$n2" received stays "kept for $poolB"
assert_ledger_has "$k2" "$poolA" "$guid2" "$dsA"
rot_import A
assert_eq 2 "$(rot_receives A)" "receives into $poolA after s2"
zfs rollback -r "$dsA@s1" || lab_die "zfs rollback -r $dsA@s1 failed"
assert_absent "$dsA@s2"
rot_export A

rot_handle A
assert_exit 0
grep -q "ledger: $poolA lacks snapshot $guid2" "$AGENT_LOG" ||
    lab_fail "the run on $poolA does not say it dropped the ledger's claim on s2"
assert_rot_outcome "$n2" received stays "kept for $poolB"
assert_ledger_lines 1
assert_ledger_has "$k2" "$poolA" "$guid2" "$dsA"
rot_import A
assert_eq 3 "$(rot_receives A)" "receives into $poolA after s2 came again"
assert_eq "s1 s2" "$(rot_snaps A)" "snapshots on $poolA"
assert_received s1
assert_received s2
rot_export A

rot_handle B
assert_exit 0
assert_rot_outcome "$n2" received leaves
assert_ledger_lines 0
rot_import B
assert_eq "s1 s2" "$(rot_snaps B)" "snapshots on $poolB"
assert_received s2
rot_export B

left=$(find "$INCOMING" -type f | head -n 5)
[ -z "$left" ] || lab_fail "files left in incoming: $left"

lab_pass
