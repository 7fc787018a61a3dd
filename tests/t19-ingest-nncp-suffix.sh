#!/bin/bash
#
# t19-ingest-nncp-suffix: NNCP appends .0, .1 ... when a file name is
# already taken in incoming.  Files with the same DEST and such a suffix
# are received into the dataset named by DEST, without the suffix.

# shellcheck source=functions.sh
. "$(dirname "$0")/functions.sh"

lab_setup
lab_write a.txt one
lab_snap s1
lab_write a.txt two
lab_write_random r 64
lab_snap s2
lab_write b.txt three
lab_snap s3

ts=$(date +%s.%N)
lab_stream -t "$ts" s1
lab_deliver
n1=$QN
lab_stream -t "$ts" -i s1 s2
lab_deliver "$QF" "$n1.0"
n2=$QN
lab_stream -t "$ts" -i s2 s3
lab_deliver "$QF" "$n1.1"
n3=$QN

lab_ingest_expect 0 received "$n1" "$n2" "$n3"
assert_received s1 s2 s3
assert_absent "$STORE_ROOT.0"
assert_absent "$STORE_ROOT.1"

lab_pass
