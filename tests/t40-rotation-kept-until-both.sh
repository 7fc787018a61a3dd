#!/bin/bash
#
# t40-rotation-kept-until-both: with ingest.rotation = [ A, B ], a file
# stays queued until both disks have it.  Disk A is plugged in (handle):
# the stream is received into A, but the file stays in incoming, the
# report says it is kept for B, and STATE/ledger records that A has it
# (key = the queue file's path, A's pool, the snapshot's guid, the
# dataset).  A second run on A does not read it again (outcome kept).
# Then disk B: received, the file leaves the queue and its ledger line
# goes.  Both disks have the snapshot (guid and files).

# shellcheck source=functions.sh
. "$(dirname "$0")/functions.sh"
# shellcheck source=lib-rotation.sh
. "$(dirname "$0")/lib-rotation.sh"

rot_setup
rot_laptop_snaps 1 256
guid1=$(lab_guid "$LAP_FS@s1")

rot_two_disks

lab_queue s1
n1=$QN
key=$(rot_key "$n1")

# Disk A: received, kept for B.
rot_handle A
assert_exit 0
assert_exported "$poolA"
assert_led safe
assert_last_run "$DISK_DEV" "$poolA" backup safe
assert_disk_record "$DISK_GUID" ok
assert_rot_outcome "$n1" received stays "kept for $poolB"
cmp -s "$QF" "$key" || lab_fail "the queued file changed"
assert_ledger_lines 1
assert_ledger_has "$key" "$poolA" "$guid1" "$poolA/simplesnap/laptop/$LAP_FS"
rot_import A
assert_received s1
assert_eq 1 "$(rot_receives A)" "receives into $poolA"
rot_export A

# Disk A again: nothing to read, the file is still kept for B.
rot_handle A
assert_exit 0
assert_rot_outcome "$n1" kept stays "kept for $poolB"
assert_ledger_lines 1
assert_ledger_has "$key" "$poolA" "$guid1"
rot_import A
assert_eq 1 "$(rot_receives A)" "receives into $poolA after the second run"
assert_eq s1 "$(rot_snaps A)" "snapshots on $poolA"
rot_export A

# Disk B: received, the file leaves, the ledger forgets it.
rot_handle B
assert_exit 0
assert_exported "$poolB"
assert_led safe
assert_last_run "$DISK_DEV" "$poolB" backup safe
assert_disk_record "$DISK_GUID" ok
assert_rot_outcome "$n1" received leaves
assert_ledger_lacks "$key"
assert_ledger_lines 0
rot_import B
assert_received s1
rot_export B

# A still has it, untouched.
rot_import A
assert_received s1
assert_eq 1 "$(rot_receives A)" "receives into $poolA at the end"
rot_export A

lab_pass
