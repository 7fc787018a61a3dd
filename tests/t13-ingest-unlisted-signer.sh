#!/bin/bash
#
# t13-ingest-unlisted-signer: a stream signed by a key that the backup
# server knows but that is not among the host's signers is quarantined and
# nothing is received.

# shellcheck source=functions.sh
. "$(dirname "$0")/functions.sh"

lab_setup
lab_write a.txt one
lab_snap s1

lab_queue -s other s1
n1=$QN

lab_ingest_expect 1 quarantined "$n1"
assert_nothing_received

lab_pass
