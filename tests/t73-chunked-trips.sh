#!/bin/bash
#
# t73-chunked-trips: a stream bigger than one trip, queued on the laptop
# by `airgap-queue -c 1024` (nncp-file -chunked 1024: NAME.nncp.chunk0..2
# and NAME.nncp.meta) as the nncp user, relayed by the spooler, carried
# on three sticks.  After the first trip (one chunk)
# and the second (the meta and another chunk) the set waits: nothing is
# received, quarantined or moved, the run is "safe", and status says
# "NAME: 1 chunk(s), no meta yet" and then "NAME: 2 of 3 chunks, since
# DATE".  An incremental stream on top of it, queued with
# AIRGAP_CHUNK_KIB=1024 (one chunk and its meta) and carried on the first
# trip, waits for it.  After the third trip the set is reassembled by nncp-reass
# as the nncp user, received (guid and files match), then the incremental;
# every piece is gone from incoming and nothing there belongs to root.

# shellcheck source=functions.sh
. "$(dirname "$0")/functions.sh"

lab_appliance_setup
lab_write a.txt one
lab_write_random bin/big 2600
lab_snap s1
lab_write a.txt two
lab_snap s2

QUEUE=$TOP/scripts/airgap-queue
NNCP_BIN=$(dirname "$(command -v nncp-file)")
DEST=tank/simplesnap/laptop/$LAP_FS
# airgap-queue runs nncp-file as the nncp user: the laptop's NNCP folder
# belongs to that user, as on a real laptop.
chown -R "$NNCP_USER:" "$LAB/nncp/laptop"

# aq [VAR=VALUE...] ARGS...: airgap-queue ARGS with the lab's settings
# (the VAR=VALUE given added), the stream on stdin; QN is what it queued.
aq() {
	local log=$LAB/logs/airgap-queue.log

	env AIRGAP_QUEUE_CONF=/dev/null GNUPGHOME="$G_LAP" \
	    AIRGAP_STORE=tank/simplesnap AIRGAP_RECIPIENT="$BSVR_FPR" \
	    AIRGAP_SIGNER="$LAP_FPR" AIRGAP_NODE=backupsvr \
	    AIRGAP_NNCP_USER="$NNCP_USER" \
	    AIRGAP_NNCP_CFG="$LAB/nncp/laptop/cfg.hjson" AIRGAP_NNCP_BIN="$NNCP_BIN" \
	    "$@" 2>"$log" || lab_fail "airgap-queue $* failed: $(cat "$log")"
	QN=$(sed -n 's/^airgap-queue: queueing .* as \(bakfsfmt2-[^ ]*\) for .*/\1/p' "$log")
	[ -n "$QN" ] || lab_fail "airgap-queue did not name what it queued: $(cat "$log")"
	grep -q "in chunks of 1024 KiB" "$log" ||
	    lab_fail "airgap-queue does not say it sends in chunks: $(cat "$log")"
}

# (not in a pipe: aq sets QN in this shell)
aq "$QUEUE" -c 1024 "$DEST" < <(zfs send "$LAP_FS@s1")
n1=$QN
[ -n "$n1" ] || lab_die "no name for the first stream"
mapfile -t pkts < <(lab_nncp_laptop_tx)
assert_eq 4 "${#pkts[@]}" "packets for the chunked stream (3 chunks and the meta)"
meta=${pkts[0]} c2=${pkts[2]} c3=${pkts[3]}
lab_nncp_hold "$meta" "$c2" "$c3"
aq AIRGAP_CHUNK_KIB=1024 "$QUEUE" "$DEST" < <(zfs send -i "$LAP_FS@s1" "$LAP_FS@s2")
n2=$QN
assert_eq 3 "$(lab_nncp_laptop_tx | wc -l)" "packets on the laptop for the first trip"
lab_bakdisk

# trip N: the laptop's packets to the spooler, onto stick N, handled by
# the agent with the backup disk plugged in.
trip() {
	lab_nncp_relay
	lab_nncp_stick -l "$STICK_LABEL" "$LAB/stick$1.img"
	lab_media_attach "$STICK_IMG"
	lab_agent handle "$LAB_DEV"
	lab_media_detach "$LAB_DEV"
	assert_exit 0
	assert_led safe
}

# pieces: NNCP's pieces of n1 in incoming.
pieces() {
	find "$INCOMING/laptop" -maxdepth 1 -name "${1:-$n1}.nncp.*" | wc -l
}

status_line() {
	"$AGENT" -c "$CONF" status >"$LAB/logs/status.log" 2>&1 ||
	    lab_fail "airgap-agent status failed: $(cat "$LAB/logs/status.log")"
	grep -F "laptop/$n1: " "$LAB/logs/status.log" || true
}

assert_nothing_quarantined() {
	local q

	q=$(find "$STATE/quarantine" -type f 2>/dev/null | head -n 3 || true)
	[ -z "$q" ] || lab_fail "quarantined: $q"
}

trip 1
assert_eq 1 "$(pieces)" "pieces of the set in incoming after trip 1"
assert_outcome "$n2.nncp.meta" waiting
assert_nothing_quarantined
line=$(status_line)
case $line in
*"laptop/$n1: 1 chunk(s), no meta yet, since "[0-9]*" UTC") ;;
*) lab_fail "status after trip 1 says '$line'" ;;
esac
grep -q "1 chunk(s), no meta yet; waiting for the rest" "$AGENT_LOG" ||
    lab_fail "the run does not say that the set waits"

lab_nncp_unhold
lab_nncp_hold "$c3"
trip 2
assert_eq 3 "$(pieces)" "pieces of the set in incoming after trip 2"
assert_outcome "$n2.nncp.meta" waiting
assert_nothing_quarantined
line=$(status_line)
case $line in
*"laptop/$n1: 2 of 3 chunks, since "[0-9]*" UTC") ;;
*) lab_fail "status after trip 2 says '$line'" ;;
esac
if grep -qF "nncp-reass -cfg" "$AGENT_LOG" &&
    grep "nncp-reass -cfg" "$AGENT_LOG" | grep -qF "$n1.nncp.meta"; then
	lab_fail "nncp-reass ran on an incomplete set"
fi

lab_nncp_unhold
trip 3
assert_outcome "$n1.nncp.meta" received
assert_outcome "$n2.nncp.meta" received
assert_eq 0 "$(pieces)" "pieces of the set in incoming after it was received"
assert_eq 0 "$(pieces "$n2")" "pieces of the incremental in incoming after it was received"
assert_nothing_quarantined
[ -z "$(status_line)" ] || lab_fail "status still lists the set: $(status_line)"
grep -q "nncp-reass" "$AGENT_LOG" || lab_fail "the run did not use nncp-reass"
left=$(find "$NNCP_BSVR_DIR" "$INCOMING/laptop" ! -user "$NNCP_USER" | head -n 5)
[ -z "$left" ] || lab_fail "not owned by $NNCP_USER after the run: $left"

lab_bakdisk_import
assert_received s1
assert_received s2
lab_pool_export "$BAK_POOL"

lab_pass
