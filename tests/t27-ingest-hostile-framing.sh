#!/bin/bash
#
# t27-ingest-hostile-framing: forged files built to slip past the record
# walk or to stay queued forever, each unsigned and encrypted to
# backupsvr (anyone can make them):
#   1. an end record hidden where OpenZFS has a field and zfs-fuse has
#      padding (an OBJECT's raw bonus length), 3 MiB of zeros, a second
#      end record: zfs-fuse would cut the stream at the hidden end record;
#   2. the same through the begin record's payload length;
#   3. a stream zfs receive gives up on at once (an object type nobody
#      knows), more than the pipeline's first megabyte;
#   4. a 3 KB file whose compressed packet expands, silently, without end:
#      gpg reads all of it and then says nothing;
#   5. that file again, named for a parent of the laptop's dataset, beside
#      the genuine stream of the dataset itself.
# Each must be quarantined with nothing received (before: 1 committed a
# snapshot; 2, 3 and 4 stayed queued as "failed" on every run, and 5 made
# the genuine stream wait for them).  Then:
#   6. backupsvr's clock set before the laptop's key was made: a genuine
#      file stays queued and the reason says to set the clock.

# shellcheck source=functions.sh
. "$(dirname "$0")/functions.sh"

ZCRAFT=$TOP/tests/tools/zcraft.py
lab_setup
sed -i 's/stall = 60;/stall = 5;/' "$CONF"
grep -q 'stall = 5;' "$CONF" || lab_die "cannot set timeouts.stall"
lab_write_random bin/r1 2048
lab_snaps 2
raw=$LAB/raw
mkdir -p "$raw"
zfs send "$LAP_FS@s1" >"$raw/s1" 2>>"$LAB/logs/send.log" || lab_die "zfs send s1"
zfs send -i "$LAP_FS@s1" "$LAP_FS@s2" >"$raw/s2" 2>>"$LAB/logs/send.log" ||
    lab_die "zfs send s2"
python3 "$ZCRAFT" hide-in-object "$raw/s1" "$raw/hide-object" $((3 * 1024 * 1024))
python3 "$ZCRAFT" hide-in-begin "$raw/s1" "$raw/hide-begin" $((3 * 1024 * 1024))
python3 "$ZCRAFT" break-object "$raw/s1" "$raw/broken"
# tests/fixtures/silent-packet.bin: made by "zcraft.py bomb 4095" (40 s).
cp "$TOP/tests/fixtures/silent-packet.bin" "$raw/bomb.pkt"

# bomb N [DEST]: the silent packet, encrypted to backupsvr, queued.
bomb() {
	QN=$(lab_qname "$1" "${2:-}")
	QF=$INCOMING/laptop/$QN
	gpg --homedir "$G_LAP" --batch --no-tty --trust-model always --no-literal \
	    --compress-algo none -e -r "$BSVR_FPR" <"$raw/bomb.pkt" >"$QF" \
	    2>>"$LAB/logs/send.log" || lab_die "cannot encrypt the packet"
	[ "$(stat -c %s "$QF")" -lt 8192 ] || lab_die "the packet is not small"
}

# forged NAME: the last run quarantined $QN and received nothing.
forged() {
	assert_exit 1
	assert_outcome "$QN" quarantined
	assert_no_snapshots "$BAK_POOL"
	lab_log "$1: quarantined, nothing received ($(lab_report_line "$QN" | cut -f5))"
}

n=0
for f in hide-object hide-begin broken; do
	n=$((n + 1))
	lab_queue_raw none "$raw/$f" "$n"
	lab_ingest
	forged "$f"
done
bomb 4
lab_ingest
forged "silent packet"

# 5: the silent packet for the laptop's pool dataset, the genuine stream
# of its child.
bomb 5 "laptop/$LAP_POOL"
fb=$QN
lab_queue_raw laptop "$raw/s1" 6
lab_ingest
assert_exit 1
assert_outcome "$fb" quarantined
assert_outcome "$QN" received
assert_received s1

# 6: the clock.
printf 'faked-system-time 20200101T000000\n' >>"$G_BSVR/gpg.conf"
lab_queue_raw laptop "$raw/s2" 7
cp "$QF" "$LAB/copy"
lab_ingest
assert_kept "$LAB/copy" "set the clock"
sed -i '/^faked-system-time/d' "$G_BSVR/gpg.conf"
lab_ingest_expect 0 received "$QN"
assert_received s2

lab_pass
