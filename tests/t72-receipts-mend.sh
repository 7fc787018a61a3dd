#!/bin/bash
#
# t72-receipts-mend: a lost stick is mended by the next queue run.  Day 1
# goes to both rotation disks A and B.  Day 2's packets are lost (deleted
# from the spooler's spool before they reach a stick).  Day 3's
# incremental reaches backupsvr and waits for its base on both disks.
# It is made to look as if it arrived eight days ago (its time in the
# incoming folder), and day 4's run sends a receipt saying it still waits
# (not on A, B).  airgap-queue --snapshot on day 5 then queues, besides
# day 5's incremental, one compound stream from the disks' newest (day
# 1) to day 5; the agent receives it, the waiting files become duplicates
# and leave the queue, and both disks end with the laptop's whole chain
# (the guids of every airgap-queue snapshot).  Nothing is rolled back.

# shellcheck source=functions.sh
. "$(dirname "$0")/functions.sh"
# shellcheck source=lib-rotation.sh
. "$(dirname "$0")/lib-rotation.sh"
# shellcheck source=lib-receipts.sh
. "$(dirname "$0")/lib-receipts.sh"

rcpt_setup
rot_disk A
rot_disk B
rot_conf_rotation A B
lab_write_random bin/r1 64

rcpt_day 1 A B
assert_exit 0

# Day 2: the packets never reach a stick.
rcpt_snap 2
lab_nncp_relay
lab_nncp spooler rm -node backupsvr -tx 2>>"$LAB/logs/nncp.log" ||
    lab_die "cannot delete the spooler's packets for backupsvr"

rcpt_day 3 A B
waiting=$(find "$INCOMING/laptop" -name 'bakfsfmt2-*' | wc -l)
assert_eq 1 "$waiting" "files waiting on backupsvr after day 3"
touch -d '8 days ago' "$INCOMING"/laptop/bakfsfmt2-*
rcpt_day 4 A B
grep -qP "^waiting\t[^\t]*\t$LAP_FS\t" "$RECEIPTS/${ROT_GUID[A]}.receipt" ||
    lab_fail "the receipt does not say what waits: $(cat "$RECEIPTS/${ROT_GUID[A]}.receipt")"
assert_eq 2 "$(find "$INCOMING/laptop" -name 'bakfsfmt2-*' | wc -l)" \
    "files waiting on backupsvr after day 4"

rcpt_day 5 A B
grep -q "mending $LAP_FS" "$AQ_LOG" ||
    lab_fail "airgap-queue did not mend the chain: $(cat "$AQ_LOG")"
assert_exit 0
assert_eq 0 "$(find "$INCOMING/laptop" -name 'bakfsfmt2-*' | wc -l)" \
    "files waiting on backupsvr after the mending"

want=$(for s in $(rcpt_own_snaps); do lab_guid "$LAP_FS@$s"; done | paste -sd' ' -)
[ "$(wc -w <<<"$want")" = 5 ] || lab_fail "expected 5 airgap-queue snapshots: $want"
for x in A B; do
	rot_import "$x"
	got=$(zfs get -H -p -o name,value guid -r \
	    "${ROT_POOL[$x]}/simplesnap/laptop/$LAP_FS" |
	    awk -F'\t' 'index($1, "@") { print $2 }' | paste -sd' ' -)
	assert_eq "$want" "$got" "snapshot guids on disk $x"
	rot_export "$x"
done

# The next run does not mend again.
rcpt_queue
grep -q "mending" "$AQ_LOG" && lab_fail "airgap-queue mended twice: $(cat "$AQ_LOG")"

lab_pass
