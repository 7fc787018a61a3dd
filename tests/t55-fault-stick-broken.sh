#!/bin/bash
#
# t55-fault-stick-broken: sticks the agent cannot do its job with.  Each
# is a copy of one good stick (one inbound packet, label $STICK_LABEL),
# and backupsvr has 3 outbound packets of 1.5 MiB for the spooler.
#  a. The primary superblock overwritten with garbage: nothing identifies
#     the device any more (no filesystem, no label), so it is not the
#     agent's: exit 3, nothing touched, no light, no beep.
#  b. The group descriptors overwritten with garbage (superblock and label
#     intact): the mount fails; exit 1, the error light, nothing mounted,
#     the mount folder removed, the image unchanged.
#  c. The loop device read-only (losetup -r), and
#  d. the filesystem flagged read-only (tune2fs -O read-only): the agent
#     could at best copy packets it cannot delete and could write neither
#     outbound packets nor its report, so "safe" (done) would be wrong;
#     correct is: a problem reported (exit 1, error light), nothing lost
#     (the packet stays on the stick, the outbound ones in the spool),
#     nothing delivered twice.  (c is not mountable read-write at all; the
#     kernel mounts d read-only by itself, so there the packet is copied
#     and its file delivered once, and the later full stick's copy of the
#     same packet is recognised as seen.)
#  e. A full stick (a filler file takes all its space): the inbound packet
#     is imported, the outbound ones do not fit: exit 1, the error light,
#     every outbound packet still in the spool or whole on the stick.  With
#     room made, the next run puts them all on the stick: "safe".

# shellcheck source=functions.sh
. "$(dirname "$0")/functions.sh"
# shellcheck source=lib-faults.sh
. "$(dirname "$0")/lib-faults.sh"

lab_appliance_setup
lf_timeouts 30 20 30 30 30
lab_write a.txt one
lab_snap s1
lab_nncp_queue s1
n1=$QN
lab_nncp_relay
lab_nncp_stick "$LAB/good.img"
IN_DIR=nncp/$BSVR_ID/$SPOOLER_ID
OUT_DIR=nncp/$SPOOLER_ID/$BSVR_ID
INBOUND=$(lf_stick_packets "$LAB/good.img" "$IN_DIR")
lf_outbound 3 1572864

cases=0 lost=0 notes=''

outbound_in_spool() {
	find "$TX" -maxdepth 1 -type f | wc -l
}

# untouched WHAT IMG SUM: the image is as it was, the packet not
# imported, the outbound packets in the spool, nothing delivered.
untouched() {
	assert_eq "$3" "$(sha256sum <"$2")" "$1: checksum of the stick image"
	[ "$(outbound_in_spool)" = 3 ] || { lost=$((lost + 1)); lf_bug "$1: outbound packets left the spool"; }
	[ ! -e "$INCOMING/laptop/$n1" ] || lf_bug "$1: the packet was delivered"
	[ -z "$(find "$NNCP_BSVR_DIR/spool/$SPOOLER_ID/rx" -type f 2>/dev/null)" ] ||
	    lf_bug "$1: something was imported into the spool"
}

# broken WHAT IMG [lf_attach options]: handle the image, which must not
# end safe; leaves the device detached.
broken() {
	local what=$1 img=$2 dev

	shift 2
	lf_reset_light
	lf_attach "$@" "$img"
	dev=$LAB_DEV
	lf_agent_bg handle "$dev"
	lf_agent_wait 60
	assert_not_safe "$what"
	assert_nothing_mounted "$dev"
	lf_detach "$dev"
	cases=$((cases + 1))
	notes="$notes; $what: exit $AGENT_RC, light $(lf_light)"
}

# --- a. superblock destroyed
cp "$LAB/good.img" "$LAB/a.img"
dd if=/dev/urandom of="$LAB/a.img" bs=1024 seek=1 count=1 conv=notrunc status=none
sum=$(sha256sum <"$LAB/a.img")
lf_reset_light
led_before=$(lab_led)
broken "a (superblock garbage)" "$LAB/a.img"
assert_exit 3
assert_eq none "$(lf_light)" "a: STATE/indicator"
assert_eq "$led_before" "$(lab_led)" "a: the LED"
assert_beeps ""
untouched a "$LAB/a.img" "$sum"

# --- b. group descriptors destroyed
cp "$LAB/good.img" "$LAB/b.img"
dd if=/dev/urandom of="$LAB/b.img" bs=1024 seek=2 count=2 conv=notrunc status=none
[ "$(blkid -p -o value -s LABEL "$LAB/b.img")" = "$STICK_LABEL" ] ||
    lab_die "b.img lost its label"
sum=$(sha256sum <"$LAB/b.img")
broken "b (group descriptors garbage)" "$LAB/b.img"
assert_exit 1
assert_led error
grep -q "stick: mount .*: Structure needs cleaning" "$AGENT_LOG" ||
    lab_fail "b: the log does not say why the stick could not be mounted"
untouched b "$LAB/b.img" "$sum"

# --- c. read-only device
sum=$(sha256sum <"$LAB/good.img")
broken "c (read-only device)" "$LAB/good.img" -r
assert_exit 1
assert_led error
untouched c "$LAB/good.img" "$sum"

# --- d. read-only filesystem
cp "$LAB/good.img" "$LAB/d.img"
tune2fs -O read-only "$LAB/d.img" >>"$LAB/logs/mkfs.log" 2>&1
sum=$(sha256sum <"$LAB/d.img")
broken "d (read-only filesystem)" "$LAB/d.img"
assert_exit 1
assert_led error
# The kernel mounts such a filesystem read-only by itself: the agent may
# copy the packet (and deliver its file once), but cannot delete it.
assert_eq "$sum" "$(sha256sum <"$LAB/d.img")" "d: checksum of the stick image"
[ "$INBOUND" = "$(lf_stick_packets "$LAB/d.img" "$IN_DIR")" ] ||
    lf_bug "d: the packets on the read-only stick changed"
[ "$(outbound_in_spool)" = 3 ] || { lost=$((lost + 1)); lf_bug "d: outbound packets left the spool"; }
d_delivered=$(find "$INCOMING/laptop" -name "$n1*" | wc -l)
[ "$d_delivered" -le 1 ] || lf_bug "d: $n1 was delivered $d_delivered times"
notes="$notes (mounted read-only by the kernel: packet copied and delivered $d_delivered time(s), left on the stick)"

# --- e. full
cp "$LAB/good.img" "$LAB/e.img"
mnt=$(lf_mount_image "$LAB/e.img")
dd if=/dev/zero of="$mnt/filler" bs=1M status=none 2>/dev/null || true
sync
free_kib=$(df -k --output=avail "$mnt" | tail -n 1 | tr -d ' ')
lf_umount_image "$mnt"
broken "e (full)" "$LAB/e.img"
assert_exit 1
assert_led error
grep -q "no space left on device" "$AGENT_LOG" ||
    lab_fail "e: nncp-xfer -tx did not run out of space: $(grep nncp-xfer "$AGENT_LOG" | tail -n 5)"
[ -f "$INCOMING/laptop/$n1" ] || lf_bug "e: the inbound packet was not delivered"
# shellcheck disable=SC2016 # expanded by the inner shell
on_stick=$(lf_ro_look "$LAB/e.img" sh -c 'cd "$1" 2>/dev/null || exit 0; find . -maxdepth 1 -type f -printf "%f %s\n"' sh "$LAB/look/$OUT_DIR")
temps=$(grep -c '^nncpxfer' <<<"$on_stick" || true)
in_spool=$(outbound_in_spool)
for n in "${!OUTSIZE[@]}"; do
	if [ ! -f "$TX/$n" ] && ! grep -qxF "$n ${OUTSIZE[$n]}" <<<"$on_stick"; then
		lost=$((lost + 1))
		lf_bug "e: outbound packet $n is neither in the spool nor whole on the stick"
	fi
done
lf_report=$(lf_ro_look "$LAB/e.img" cat "$LAB/look/airgap-agent-report.txt" 2>/dev/null || true)
notes="$notes ($in_spool outbound packets stayed in the spool, $temps partial nncpxfer file(s) left on the stick by NNCP, ${free_kib} KiB were free)"

# Room made: everything goes out.
mnt=$(lf_mount_image "$LAB/e.img")
rm -f "$mnt/filler"
lf_umount_image "$mnt"
lf_reset_light
lf_attach "$LAB/e.img"
dev=$LAB_DEV
lab_agent handle "$dev"
assert_exit 0
assert_led safe
[ "$(outbound_in_spool)" = 0 ] || lf_bug "e: outbound packets still in the spool after room was made"
on_stick=$(lf_stick_packets "$LAB/e.img" "$OUT_DIR")
for n in "${!OUTSIZE[@]}"; do
	grep -qxF "$n" <<<"$on_stick" || { lost=$((lost + 1)); lf_bug "e: outbound packet $n never reached the stick"; }
done
# Delivered once, not twice.
assert_eq 1 "$(find "$INCOMING/laptop" -name "$n1*" | wc -l)" "copies of $n1 in the incoming folder"
lab_log "report left on the full stick: ${lf_report:-(none)}"

lf_result "broken sticks: $cases sticks (superblock garbage, group descriptors garbage, read-only device, read-only filesystem, full), 1 inbound + 3 outbound packets, $(( $(stat -c %s "$LAB/sent/$n1") + 3 * 1572864 )) bytes, never safe, lost $lost$notes; full stick with room made: safe, 3 outbound packets on it"
lf_finish
