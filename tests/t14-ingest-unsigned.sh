#!/bin/bash
#
# t14-ingest-unsigned: an encrypt-only file is quarantined while the host
# requires a signature, and received once require_signature is false.

# shellcheck source=functions.sh
. "$(dirname "$0")/functions.sh"

lab_setup
lab_write a.txt one
lab_write_random r 64
lab_snap s1

lab_queue -s none s1
n1=$QN
lab_ingest_expect 1 quarantined "$n1"
assert_nothing_received

lab_config "laptop false $LAP_FPR"
lab_queue -s none s1
n2=$QN
lab_ingest_expect 0 received "$n2"
assert_received s1

lab_pass
