#!/bin/bash
#
# t12-ingest-duplicate: the same full stream queued twice under two names.
# One is received, the other is a duplicate; both leave incoming.  A third
# copy in a later run is a duplicate too.

# shellcheck source=functions.sh
. "$(dirname "$0")/functions.sh"

lab_setup
lab_write a.txt one
lab_write_random r 64
lab_snap s1

lab_queue s1
n1=$QN
lab_queue s1
n2=$QN
[ "$n1" != "$n2" ] || lab_die "two queue files with one name"

lab_ingest
assert_exit 0
o1=$(lab_outcome "$n1")
o2=$(lab_outcome "$n2")
assert_eq "duplicate received" "$(printf '%s\n' "$o1" "$o2" | sort | tr '\n' ' ' | sed 's/ $//')" \
    "outcomes of the two copies ($n1: $o1, $n2: $o2)"
assert_outcome "$n1" "received|duplicate"
assert_outcome "$n2" "received|duplicate"
assert_received s1

lab_queue s1
n3=$QN
lab_ingest
assert_exit 0
assert_outcome "$n3" duplicate
assert_received s1

lab_pass
