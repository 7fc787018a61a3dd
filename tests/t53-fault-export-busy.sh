#!/bin/bash
#
# t53-fault-export-busy: `zpool export` fails because something holds the
# pool (a process whose working directory is inside a mounted dataset of
# it: zfs-fuse's export then fails for real, "target is busy").
#  1. A stick run with that disk plugged in: the stick's packets are
#     imported and received into the disk, but its export fails: exit 1,
#     the error light (not safe), the report on the stick says PROBLEM and
#     "NOT safe to remove" for the disk, the stick itself is unmounted, the
#     pool is still imported.
#  2. `handle` on the disk itself while it is still held: error again.
#  3. The holder goes away: `handle` on the disk exports it, "safe".
# Nothing queued is lost: the file was received before the export.

# shellcheck source=functions.sh
. "$(dirname "$0")/functions.sh"
# shellcheck source=lib-faults.sh
. "$(dirname "$0")/lib-faults.sh"

lab_appliance_setup
lab_write a.txt one
lab_write_random r1 256
lab_snap s1
lab_nncp_queue s1
n1=$QN
lab_nncp_relay
lab_nncp_stick "$LAB/stick.img"

lab_bakdisk
lab_bakdisk_busy
holder=$BUSY_PID

# --- 1. the stick, with the held disk plugged in
lab_media_attach "$STICK_IMG"
stick=$LAB_DEV
lab_agent handle "$stick"
assert_exit 1
assert_not_safe "stick run with a disk that cannot be exported"
assert_led error
assert_beeps 1000,440,440,440
assert_last_run "$stick" "$STICK_LABEL" transport error
assert_nothing_mounted "$stick"
lab_pool_imported "$BAK_POOL" || lab_fail "$BAK_POOL was exported, yet it is held"
assert_disk_record "$DISK_GUID" error
assert_outcome "$n1" received
assert_guid s1
lab_stick_open "$stick"
report=$(cat "$LAB/stickchk/airgap-agent-report.txt")
lab_stick_close
grep -q "PROBLEM: backup disk $BAK_POOL: cannot export pool $BAK_POOL: NOT safe to remove" <<<"$report" ||
    lf_bug "the report on the stick does not say the disk is not safe to remove: $report"
lab_status_json
assert_status_disk "$DISK_GUID" error

# --- 2. the disk itself, still held
lab_beeps_reset
lab_agent handle "$DISK_DEV"
assert_exit 1
assert_not_safe "disk run while held"
assert_led error
assert_beeps 1000,440,440,440
assert_last_run "$DISK_DEV" "$BAK_POOL" backup error
lab_pool_imported "$BAK_POOL" || lab_fail "$BAK_POOL was exported, yet it is held"

# --- 3. the holder is gone
kill "$holder"
wait "$holder" 2>/dev/null || true
lab_destroy "$BAK_POOL/busy"
lab_beeps_reset
lab_agent handle "$DISK_DEV"
assert_exit 0
assert_led safe
assert_beeps 1000,880,1320
assert_exported "$BAK_POOL"
assert_disk_record "$DISK_GUID" ok
lab_bakdisk_import
assert_received s1
lost=0
snaps=$(lf_snaps "$BAK_POOL")
grep -qF "$STORE_ROOT@s1 " <<<"$snaps" || lost=1
lf_result "export fails: 2 runs with the pool held (stick run and disk run): exit 1, light error, not safe, pool left imported, report on the stick says NOT safe; then released: exported, safe; 1 file, $(stat -c %s "$LAB/sent/$n1") bytes, lost $lost"
lf_finish
