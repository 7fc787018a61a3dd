#!/bin/bash
#
# t15-ingest-truncated: a queue file cut at half its size is not received:
# it is quarantined, or failed and still queued, and the dataset does not
# exist afterwards.

# shellcheck source=functions.sh
. "$(dirname "$0")/functions.sh"

lab_setup
lab_write a.txt one
lab_write_random r 512
lab_snap s1

lab_queue s1
n1=$QN
size=$(stat -c %s "$QF")
truncate -s $((size / 2)) "$QF"

lab_ingest
assert_exit 1
assert_outcome "$n1" "quarantined|failed"
assert_absent "$STORE_ROOT@s1"
assert_absent "$STORE_ROOT"
assert_no_snapshots "$BAK_POOL"

lab_pass
