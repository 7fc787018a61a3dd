#!/bin/bash
#
# t35-handle-export-fails: a backup disk whose pool cannot be exported is
# never called safe.  The pool is imported already (the agent accepts a
# pool imported under the name and guid it expects) and one of its
# datasets is mounted, with a process sitting in it: zfs-fuse's `zpool
# export` then fails for real ("umount: target is busy").  The agent still
# receives the queue, but the export fails: exit 1, the error light (timer
# 150/150) and three 440 Hz tones, runs.log and STATE/disks/GUID say
# error, and the pool is still imported.

# shellcheck source=functions.sh
. "$(dirname "$0")/functions.sh"

lab_appliance_setup
lab_write a.txt one
lab_snap s1
lab_queue s1
n1=$QN

lab_bakdisk
lab_bakdisk_busy

lab_agent handle "$DISK_DEV"
assert_exit 1
assert_led error
assert_beeps 1000,440,440,440
assert_last_run "$DISK_DEV" "$BAK_POOL" backup error
assert_disk_record "$DISK_GUID" error
grep -qx 'state=error' "$STATE/indicator" ||
    lab_fail "STATE/indicator does not say error: $(tr '\n' ' ' <"$STATE/indicator")"
lab_pool_imported "$BAK_POOL" ||
    lab_fail "pool $BAK_POOL is no longer imported, yet the export was to fail"
# The ingest itself went through.
assert_outcome "$n1" received
assert_received s1

lab_status_json
assert_status_disk "$DISK_GUID" error

lab_pass
