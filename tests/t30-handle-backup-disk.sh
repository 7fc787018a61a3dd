#!/bin/bash
#
# t30-handle-backup-disk: `handle` on a plugged backup disk (a zfs-fuse
# pool on a loop device, exported as an unplugged disk is).  The queue
# holds a full and an incremental stream, and a second incremental whose
# base never arrived.  The agent imports the pool by guid, receives the two
# streams, leaves the third queued, exports the pool, and only then shows
# "safe": LED solid on, tones 880 then 1320.  STATE/disks/GUID and
# `status --json` tell the same.

# shellcheck source=functions.sh
. "$(dirname "$0")/functions.sh"

lab_appliance_setup
lab_history 4

lab_queue s1
n1=$QN
lab_queue -i s1 s2
n2=$QN
lab_queue -i s3 s4
n4=$QN

lab_bakdisk
assert_exported "$BAK_POOL"

lab_agent handle "$DISK_DEV"
assert_exit 0
assert_exported "$BAK_POOL"
assert_led safe
assert_beeps 1000,880,1320
assert_last_run "$DISK_DEV" "$BAK_POOL" backup safe
assert_disk_record "$DISK_GUID" ok
grep -qx 'received=2' "$STATE/disks/$DISK_GUID" ||
    lab_fail "disk record: expected received=2: $(tr '\n' ' ' <"$STATE/disks/$DISK_GUID")"
grep -qx 'state=safe' "$STATE/indicator" ||
    lab_fail "STATE/indicator does not say safe: $(tr '\n' ' ' <"$STATE/indicator")"
assert_outcome "$n1" received
assert_outcome "$n2" received
assert_outcome "$n4" waiting
assert_nothing_mounted "$DISK_DEV"

lab_status_json
assert_status_disk "$DISK_GUID" ok

# What is on the disk: the pool is imported here only to look.
lab_bakdisk_import
assert_received s1
assert_received s2
assert_absent "$STORE_ROOT@s3"
assert_absent "$STORE_ROOT@s4"

lab_pass
