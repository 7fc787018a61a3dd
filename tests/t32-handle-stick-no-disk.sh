#!/bin/bash
#
# t32-handle-stick-no-disk: `handle` on a transport stick with NNCP
# packets while no backup disk is plugged in.  The files come through NNCP
# into INCOMING/laptop (byte for byte what the laptop sent, owned by the
# nncp user) and stay queued there; the report on the stick says that no
# backup disk was there; the stick is unmounted and the light says "safe".

# shellcheck source=functions.sh
. "$(dirname "$0")/functions.sh"

lab_appliance_setup
lab_write a.txt one
lab_snap s1
lab_write a.txt two
lab_snap s2

lab_nncp_queue s1
n1=$QN
lab_nncp_queue -i s1 s2
n2=$QN
lab_nncp_relay
lab_nncp_stick "$LAB/stick.img"
assert_eq 2 "$STICK_PACKETS" "packets written onto the stick"
lab_media_attach "$STICK_IMG"
stick=$LAB_DEV

lab_agent handle "$stick"
assert_exit 0
assert_led safe
assert_beeps 1000,880,1320
assert_last_run "$stick" "$STICK_LABEL" transport safe
assert_nothing_mounted "$stick"
for n in "$n1" "$n2"; do
	assert_queued "$n"
	assert_not_quarantined "$n"
	cmp "$LAB/sent/$n" "$INCOMING/laptop/$n" ||
	    lab_fail "$n in $INCOMING/laptop differs from what the laptop sent"
	assert_eq "$NNCP_USER" "$(stat -c %U "$INCOMING/laptop/$n")" \
	    "owner of $n, delivered by NNCP"
done
assert_eq 0 "$(lab_nncp_pending backupsvr)" "packets left in backupsvr's spool"
if [ -d "$STATE/disks" ] && [ -n "$(ls -A "$STATE/disks")" ]; then
	lab_fail "a disk record was written without a disk: $(ls "$STATE/disks")"
fi

lab_stick_open "$stick"
left=$(find "$LAB/stickchk/nncp/$BSVR_ID" -type f | head -n 5)
[ -z "$left" ] || lab_fail "packets left on the stick: $left"
report=$LAB/stickchk/airgap-agent-report.txt
[ -f "$report" ] || lab_fail "no airgap-agent-report.txt on the stick"
grep -qi "no backup disk" "$report" ||
    lab_fail "the report on the stick does not say that no backup disk was plugged in: $(cat "$report")"
lab_stick_close

lab_pass
