#!/bin/bash
#
# t54-fault-stick-pulled: the transport stick goes away in the middle of
# a run.  The stick (an ext4 image on a loop device with direct I/O, so
# that reads and writes really reach the image) carries 10 inbound
# packets of about 1.2 MiB (two queue streams and eight other files), and
# backupsvr has 6 outbound packets of 1 MiB for the spooler.  The stick
# is "pulled" (every I/O on its device fails from then on, and the
# device is detached as soon as it is released) at three moments:
#   A. in the middle of `nncp-xfer -rx` (some inbound packets imported),
#   B. in the middle of `nncp-xfer -tx` (some outbound packets written),
#   C. after NNCP, while a backup disk plugged in is being written.
# After each pull, with the image as the stick kept it (its journal
# replayed, as the next mount does): the run ended
# (no hang), the light does not say "safe", every inbound packet is
# still on the stick, in the spool or tossed (and each tossed one's file
# is in the incoming folder or on the disk), every outbound packet is
# still in the spool or whole on the stick.  Finally the stick is plugged
# in again and a normal run finishes the job: "safe", all 10 files
# delivered (the two streams received into the disk), all 6 outbound
# packets on the stick.

# shellcheck source=functions.sh
. "$(dirname "$0")/functions.sh"
# shellcheck source=lib-faults.sh
. "$(dirname "$0")/lib-faults.sh"

lab_appliance_setup
lf_timeouts 30 20 30 30 30

lab_write_random r1 1200
lab_snap s1
lab_write_random r2 1200
lab_snap s2
lab_nncp_queue s1
q1=$QN
lab_nncp_queue -i s1 s2
q2=$QN
FILES=("$q1" "$q2")
for i in $(seq 1 8); do
	head -c 1200000 /dev/urandom >"$LAB/sent/pad-$i.bin"
	lab_nncp laptop file -noprogress "$LAB/sent/pad-$i.bin" "backupsvr:pad-$i.bin" \
	    2>>"$LAB/logs/nncp.log" || lab_die "nncp-file pad-$i.bin failed"
	FILES+=("pad-$i.bin")
done
lab_nncp_relay
lab_nncp_stick -s 64 "$LAB/stick.img"
assert_eq 10 "$STICK_PACKETS" "inbound packets on the stick"
IN_DIR=nncp/$BSVR_ID/$SPOOLER_ID
OUT_DIR=nncp/$SPOOLER_ID/$BSVR_ID
mapfile -t INBOUND < <(lf_stick_packets "$STICK_IMG" "$IN_DIR")
lf_outbound 6 1048576
BYTES=$(( $(cat "$LAB/sent/"* | wc -c) + 6 * 1048576 ))
RX=$NNCP_BSVR_DIR/spool/$SPOOLER_ID/rx
DISK_PLUGGED=
# What lab_bakdisk sets, once the disk is made (for C).
STORE_ROOT=bakdisk${LAB_TAG}1/simplesnap/laptop/$LAP_FS

lost_in=0 lost_out=0 pulls=0 safe_wrong=0 summary=''

# conserve WHAT: nothing inbound or outbound is lost (see the header).
conserve() {
	local what=$1 look on_stick out_stick p n f seen=0 pending=0 delivered=0 lin=0 lout=0
	local snaps=''

	# One look at the stick: "in NAME" and "out NAME SIZE" lines.
	# shellcheck disable=SC2016 # expanded by the inner shell
	look=$(lf_ro_look "$STICK_IMG" sh -c '
	    for d in in:"$1" out:"$2"; do
		    cd "${d#*:}" 2>/dev/null || continue
		    find . -maxdepth 1 -type f ! -name "nncpxfer*" -printf "${d%%:*} %f %s\n"
	    done' sh "$LAB/look/$IN_DIR" "$LAB/look/$OUT_DIR")
	on_stick=$(awk '$1 == "in" { print $2 }' <<<"$look")
	out_stick=$(awk '$1 == "out" { print $2, $3 }' <<<"$look")
	for p in "${INBOUND[@]}"; do
		if [ -e "$RX/seen/$p" ]; then
			seen=$((seen + 1))
		elif grep -qxF "$p" <<<"$on_stick" || [ -e "$RX/$p" ]; then
			pending=$((pending + 1))
		else
			lin=$((lin + 1))
			lf_bug "$what: inbound packet $p is neither on the stick, nor in the spool, nor tossed"
		fi
	done
	if [ -n "$DISK_PLUGGED" ]; then
		if lab_pool_imported "$BAK_POOL"; then
			snaps=$(lf_snaps "$BAK_POOL")
		else
			lab_bakdisk_import
			snaps=$(lf_snaps "$BAK_POOL")
			lab_pool_export "$BAK_POOL"
		fi
	fi
	for f in "${FILES[@]}"; do
		if [ -f "$INCOMING/laptop/$f" ]; then
			cmp -s "$INCOMING/laptop/$f" "$LAB/sent/$f" ||
			    lf_bug "$what: $f in the incoming folder differs from what was sent"
			delivered=$((delivered + 1))
		elif [ "$f" = "$q1" ] && grep -q "^$STORE_ROOT@s1 " <<<"$snaps"; then
			delivered=$((delivered + 1))
		elif [ "$f" = "$q2" ] && grep -q "^$STORE_ROOT@s2 " <<<"$snaps"; then
			delivered=$((delivered + 1))
		fi
	done
	[ "$delivered" = "$seen" ] ||
	    lf_bug "$what: $seen packets tossed, but $delivered files delivered"
	for n in "${!OUTSIZE[@]}"; do
		if [ -f "$TX/$n" ]; then
			continue
		elif grep -qxF "$n ${OUTSIZE[$n]}" <<<"$out_stick"; then
			continue
		fi
		lout=$((lout + 1))
		lf_bug "$what: outbound packet $n is neither in the spool nor whole on the stick"
	done
	lost_in=$((lost_in + lin)) lost_out=$((lost_out + lout))
	summary="$summary; $what: inbound $seen tossed/$pending pending, outbound $(find "$TX" -maxdepth 1 -type f | wc -l) in the spool/$(grep -c . <<<"$out_stick" || true) on the stick, exit $AGENT_RC, light $(lf_light)"
	lab_log "$what: inbound tossed $seen, pending $pending, lost $lin; delivered $delivered; outbound lost $lout"
}

# pull WHAT WHEN...: plug the stick in, start handle, pull the stick at
# the moment WHEN (as for lf_watch_start), wait for the run to end.
pull() {
	local what=$1 stick

	shift
	lf_reset_light
	lf_attach -d "$STICK_IMG"
	stick=$LAB_DEV
	# The mount folder is named after the device.
	set -- "${@//@MNT@/$MOUNT_DIR/${stick#/dev/}}"
	lf_watch_start 60 pull "$stick" "$@"
	lf_agent_bg handle "$stick"
	lf_watch_end || lab_fail "$what: the moment to pull the stick never came ($LF_WATCHED)"
	pulls=$((pulls + 1))
	lf_detach "$stick"
	lf_agent_wait 120
	lab_log "$what: exit $AGENT_RC, light $(lf_light)"
	[ "$(lf_light)" != safe ] || safe_wrong=$((safe_wrong + 1))
	assert_not_safe "$what (handle exited $AGENT_RC)"
	assert_nothing_mounted
	conserve "$what"
}

pull "A (pulled during nncp-xfer -rx)" dir "@MNT@/$IN_DIR" 10
pull "B (pulled during nncp-xfer -tx)" dir "@MNT@/$OUT_DIR" 6
lab_bakdisk
DISK_PLUGGED=1
pull "C (pulled while the backup disk was written)" proc "zfs receive -u $BAK_POOL/"

# Plugged in again: a normal run finishes the job.
lf_reset_light
lf_attach "$STICK_IMG"
stick=$LAB_DEV
lab_agent handle "$stick"
assert_exit 0
assert_led safe
assert_nothing_mounted "$stick"
assert_exported "$BAK_POOL"
conserve "after a normal run"
for f in "${FILES[@]:2}"; do
	cmp -s "$INCOMING/laptop/$f" "$LAB/sent/$f" || lf_bug "$f was not delivered"
done
assert_not_queued "$q1"
assert_not_queued "$q2"
left=$(find "$TX" -maxdepth 1 -type f | wc -l)
[ "$left" = 0 ] || lf_bug "$left outbound packet(s) still in the spool after the normal run"
lab_bakdisk_import
assert_received s2

lf_result "stick pulled: $pulls pulls (mid -rx, mid -tx, during the disk), 10 inbound + 6 outbound packets, $BYTES bytes, said safe after a pull $safe_wrong time(s), lost $((lost_in + lost_out))$summary"
lf_finish
