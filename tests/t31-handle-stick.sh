#!/bin/bash
#
# t31-handle-stick: `handle` on a transport stick that carries real NNCP
# packets, queued on the laptop with nncp-file and relayed by the spooler,
# with a backup disk plugged in.  The stick's files belong to another uid
# (4242), as when another machine's NNCP user wrote them, and get that uid
# back at the end.  The agent runs
# NNCP as the nncp user: the packets are imported and deleted from the
# stick, the files land in INCOMING/laptop and are received into the
# backup disk, which is exported again; the file whose base never came
# stays queued.  A report is left on the stick, the stick is unmounted and
# only then the light says "safe".

# shellcheck source=functions.sh
. "$(dirname "$0")/functions.sh"

lab_appliance_setup
lab_history 4

lab_nncp_queue s1
n1=$QN
lab_nncp_queue -i s1 s2
n2=$QN
lab_nncp_queue -i s3 s4
n4=$QN
lab_nncp_relay
lab_nncp_stick "$LAB/stick.img"
assert_eq 3 "$STICK_PACKETS" "packets written onto the stick"

lab_bakdisk
lab_media_attach "$STICK_IMG"
stick=$LAB_DEV

lab_agent handle "$stick"
assert_exit 0
assert_led safe
assert_beeps 1000,880,1320
assert_last_run "$stick" "$STICK_LABEL" transport safe
assert_nothing_mounted "$stick" "$DISK_DEV"
assert_exported "$BAK_POOL"
assert_disk_record "$DISK_GUID" ok
assert_outcome "$n1" received
assert_outcome "$n2" received
assert_outcome "$n4" waiting
cmp "$LAB/sent/$n4" "$INCOMING/laptop/$n4" ||
    lab_fail "$n4 in $INCOMING/laptop differs from what the laptop sent"

# NNCP ran as the nncp user: what it made belongs to that user.
assert_eq "$NNCP_USER" "$(stat -c %U "$INCOMING/laptop/$n4")" \
    "owner of the file NNCP delivered"
left=$(find "$NNCP_BSVR_DIR" "$INCOMING/laptop" ! -user "$NNCP_USER" | head -n 5)
[ -z "$left" ] || lab_fail "not owned by $NNCP_USER after the run: $left"
seen=$(find "$NNCP_BSVR_DIR/spool/$SPOOLER_ID/rx/seen" -type f | wc -l)
assert_eq 3 "$seen" "packets marked as seen in backupsvr's spool"
assert_eq 0 "$(lab_nncp_pending backupsvr)" "packets left in backupsvr's spool"

# The stick: packets consumed, report written.
lab_stick_open "$stick"
left=$(find "$LAB/stickchk/nncp/$BSVR_ID" -type f | head -n 5)
[ -z "$left" ] || lab_fail "packets left on the stick: $left"
report=$LAB/stickchk/airgap-agent-report.txt
[ -f "$report" ] || lab_fail "no airgap-agent-report.txt on the stick"
grep -q "backup disk $BAK_POOL" "$report" ||
    lab_fail "the report on the stick does not mention $BAK_POOL: $(cat "$report")"
if grep -q PROBLEM "$report"; then
	lab_fail "the report on the stick lists problems: $(cat "$report")"
fi
# The NNCP folder goes back to the uid that wrote it (the spooler's NNCP
# user), so that machine can still write and clean it.
wrong=$(find "$LAB/stickchk/nncp" ! -uid 4242 | head -n 5)
[ -z "$wrong" ] || lab_fail "stick entries not given back to uid 4242: $wrong"
lab_stick_close

lab_bakdisk_import
assert_received s1
assert_received s2
assert_absent "$STORE_ROOT@s4"

lab_pass
