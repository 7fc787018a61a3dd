#!/bin/bash
#
# t10-ingest-out-of-order: a full stream and two incrementals (-i) arrive
# out of order.  With only the second incremental queued, the run receives
# nothing and leaves the file waiting (exit 0).  Once the others are there,
# one run receives all three in order.

# shellcheck source=functions.sh
. "$(dirname "$0")/functions.sh"

lab_setup
lab_write a.txt one
lab_write_random bin/r1 256
lab_snap s1
lab_write a.txt two
lab_write b.txt new
lab_snap s2
lab_remove bin
lab_write c/d/e.txt deep
lab_write_random c/r2 64
lab_snap s3

lab_stream s1
f1=$QF n1=$QN
lab_stream -i s1 s2
f2=$QF n2=$QN
lab_stream -i s2 s3
lab_deliver
n3=$QN

lab_ingest_expect 0 waiting "$n3"
assert_nothing_received

# The same again: still waiting, nothing changes.
lab_ingest_expect 0 waiting "$n3"
assert_no_snapshots "$BAK_POOL"

lab_deliver "$f2"
lab_deliver "$f1"
lab_ingest_expect 0 received "$n1" "$n2" "$n3"
assert_received s1 s2 s3

# A stream of a snapshot that is already there, queued again: duplicate.
lab_queue -i s1 s2
n4=$QN
lab_ingest_expect 0 duplicate "$n4"
assert_received s3

lab_pass
