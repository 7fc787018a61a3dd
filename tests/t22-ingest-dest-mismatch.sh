#!/bin/bash
#
# t22-ingest-dest-mismatch: the dataset named in a queue file's DEST must
# be, whole, the dataset named in the stream's begin record.  A signed
# stream of lapNNN/other queued as laptop/lapNNN/fs is quarantined and fs
# is not touched; so is a stream of lapNNN/fs queued as
# laptop/elsewhere/fs (the same last component, another path), and
# nothing appears under laptop/elsewhere.

# shellcheck source=functions.sh
. "$(dirname "$0")/functions.sh"

lab_setup
lab_write a.txt one
lab_snap s1
zfs create "$LAP_POOL/other"
zfs snapshot "$LAP_POOL/other@s1"

# wrong_stream: a signed stream of lapNNN/other@s1, queued under fs's DEST.
wrong_stream() {
	zfs send "$LAP_POOL/other@s1" | zstd -8 - 2>/dev/null |
	    gpg --homedir "$G_LAP" --batch --no-tty --trust-model always \
	        --compress-algo none --cipher-algo AES256 \
	        -e -r "$BSVR_FPR" -s -u "$LAP_FPR" >"$LAB/outbox/wrong" 2>/dev/null
	lab_deliver "$LAB/outbox/wrong" "bakfsfmt2-$(date +%s.%N).$$_laptop@$LAP_POOL@fs"
}

# Nothing received yet: the stream must not become fs.
wrong_stream
n1=$QN
lab_ingest_expect 1 quarantined "$n1"
assert_nothing_received

# After fs@s1 was received, the same.
lab_queue s1
n2=$QN
lab_ingest_expect 0 received "$n2"
assert_received s1

wrong_stream
n3=$QN
lab_ingest_expect 1 quarantined "$n3"
assert_eq "$STORE_ROOT@s1" "$(zfs list -H -r -t snapshot -o name "$BAK_POOL")" \
    "snapshots on the pool"
assert_received s1
assert_absent "$BAK_POOL/simplesnap/laptop/$LAP_POOL/other"

# The same last component under another path: not the stream's dataset.
lab_write a.txt two
lab_snap s2
lab_queue -d laptop/elsewhere/fs s1
n4=$QN
lab_queue -d laptop/elsewhere/fs -i s1 s2
n5=$QN
lab_ingest_expect 1 quarantined "$n4" "$n5"
assert_absent "$BAK_POOL/simplesnap/laptop/elsewhere"
assert_absent "$STORE_ROOT@s2"

lab_pass
