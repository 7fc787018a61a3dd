#!/bin/bash
#
# t24-ingest-early-end: streams with an end record before their end.
# zfs receive commits a snapshot at the first end record it reads; a
# genuine stream followed by padding and a second copy of its end record
# must therefore never reach the receiver's first end record before gpg
# and zstd vouched for the whole file.  Each crafted file below must be
# quarantined with nothing received, and the genuine chain must go on
# after it:
#   1. a full stream + 3 MiB of zeros + its end record again, unsigned;
#   2. the same, signed by a key that is not the host's;
#   3. the same, signed by the laptop (genuine signer, malformed stream);
#   4. an incremental (s1 -> s2) padded the same way, unsigned, on top of
#      the genuine s1: s2 must not land, and the genuine s2 and s3 then do;
#   5. through the exec queue (NNCP authenticated the sender, no gpg): a
#      zstd-only stream whose second zstd frame after the end is broken,
#      and a bare zfs stream with data after its end record.

# shellcheck source=functions.sh
. "$(dirname "$0")/functions.sh"
# shellcheck source=lib-rotation.sh
. "$(dirname "$0")/lib-rotation.sh"

lab_setup
lab_write_random bin/r1 512
lab_snaps 3
raw=$LAB/raw
mkdir -p "$raw"

# crafted IN OUT: IN, 3 MiB of zeros, then IN's last record (its end)
# again.
crafted() {
	{
		cat "$1"
		head -c $((3 * 1024 * 1024)) /dev/zero
		tail -c 312 "$1"
	} >"$2"
	[ "$(tail -c 312 "$1" | head -c 4 | od -An -tu4 | tr -d ' ')" = 5 ] ||
	    lab_die "$1 does not end with an end record"
}

# execq_quarantined NAME: the exec queue's file NAME was quarantined.
execq_quarantined() {
	assert_eq quarantined "$(lab_outcome "$1")" "outcome of $1"
	[ ! -e "$EXECQ/laptop/$1" ] || lab_fail "$1 is still in the exec queue"
	[ -n "$(find "$STATE/quarantine/laptop" -name "$1*" ! -name '*.reason')" ] ||
	    lab_fail "$1 is not in $STATE/quarantine/laptop"
}

rot_sent_zfs "$raw/s1" s1
rot_sent_zfs "$raw/s2" -i s1 s2
rot_sent_zfs "$raw/s3" -i s2 s3
crafted "$raw/s1" "$raw/s1-padded"
crafted "$raw/s2" "$raw/s2-padded"

# 1-3: full streams, one run each, so that a commit by one cannot hide
# behind another's quarantine.
i=0
for signer in none other laptop; do
	i=$((i + 1))
	lab_queue_raw "$signer" "$raw/s1-padded" "$i"
	lab_ingest
	assert_exit 1
	assert_outcome "$QN" quarantined
	assert_absent "$STORE_ROOT@s1"
	assert_no_snapshots "$BAK_POOL"
	lab_log "padded full stream signed by $signer: quarantined, nothing received"
done
case $(lab_report_line "$QN" | cut -f5) in
*"data after the end record"*) ;;
*) lab_fail "the laptop-signed padded stream was not refused for its data after the end record: $(lab_report_line "$QN")" ;;
esac

# 4: the genuine s1, then a padded s2 on top of it.
lab_queue_raw laptop "$raw/s1" 10
lab_ingest
assert_exit 0
assert_received s1
lab_queue_raw none "$raw/s2-padded" 11
lab_ingest
assert_exit 1
assert_outcome "$QN" quarantined
assert_absent "$STORE_ROOT@s2"
lab_queue_raw laptop "$raw/s2" 12
n2=$QN
lab_queue_raw laptop "$raw/s3" 13
n3=$QN
lab_ingest
assert_exit 0
assert_outcome "$n2" received
assert_outcome "$n3" received
assert_received s2
assert_received s3

# 5: the exec queue, for a host NNCP authenticates and that does not
# require a signature.
EXECQ=$LAB/execq
mkdir -p "$EXECQ/laptop"
chown -R "$NNCP_USER:" "$EXECQ" 2>/dev/null || chown -R nncp: "$EXECQ"
chmod 0700 "$EXECQ" "$EXECQ/laptop"
sed -i 's/require_signature = true; }/require_signature = false; nncp_node = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"; }/' "$CONF"
rot_conf_ingest "exec_queue = \"$EXECQ\";"
lab_write a.txt four
lab_snap s4
rot_sent_zfs "$raw/s4" -i s3 s4
# A zstd-only stream: the genuine s4 as one frame, then padding and the end
# record again as a second frame whose checksum is broken.
zstd -q -8 <"$raw/s4" >"$raw/s4.zst"
{ head -c $((1024 * 1024)) /dev/zero; tail -c 312 "$raw/s4"; } | zstd -q -8 >"$raw/pad.zst"
sz=$(stat -c %s "$raw/pad.zst")
printf '\xff' | dd of="$raw/pad.zst" bs=1 seek=$((sz - 2)) conv=notrunc status=none
q=$(lab_qname 20)
cat "$raw/s4.zst" "$raw/pad.zst" >"$EXECQ/laptop/$q"
chown "$NNCP_USER:" "$EXECQ/laptop/$q"
lab_ingest
assert_exit 1
execq_quarantined "$q"
assert_absent "$STORE_ROOT@s4"
# A bare zfs stream with data after its end record.
q=$(lab_qname 21)
crafted "$raw/s4" "$EXECQ/laptop/$q"
chown "$NNCP_USER:" "$EXECQ/laptop/$q"
lab_ingest
assert_exit 1
execq_quarantined "$q"
assert_absent "$STORE_ROOT@s4"
# The genuine s4 still lands.
q=$(lab_qname 22)
cp "$raw/s4.zst" "$EXECQ/laptop/$q"
chown "$NNCP_USER:" "$EXECQ/laptop/$q"
lab_ingest
assert_exit 0
assert_received s4

lab_pass
