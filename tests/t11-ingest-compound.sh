#!/bin/bash
#
# t11-ingest-compound: a compound stream (zfs send -I s1 fs@s3) that
# carries s2 and s3 waits for the full stream of s1, then both are
# received.

# shellcheck source=functions.sh
. "$(dirname "$0")/functions.sh"

lab_setup
lab_write a.txt one
lab_snap s1
lab_write a.txt two
lab_write_random r2 128
lab_snap s2
lab_write b.txt three
lab_remove r2
lab_snap s3

lab_stream s1
f1=$QF n1=$QN
lab_queue -I s1 s3
n2=$QN

# The outer begin record of a compound stream has from-guid 0, like a full
# stream; its base is in the first inner record.  Without s1 it waits.
lab_ingest
assert_exit 0
assert_outcome "$n2" waiting
assert_no_snapshots "$BAK_POOL"

lab_deliver "$f1"
lab_ingest
assert_exit 0
assert_outcome "$n1" received
assert_outcome "$n2" received
assert_received s1
assert_received s2
assert_received s3

lab_pass
