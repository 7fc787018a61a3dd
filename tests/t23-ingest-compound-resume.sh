#!/bin/bash
#
# t23-ingest-compound-resume: a compound stream (zfs send -I s1 fs@s5)
# whose receive stopped after s3 (the agent killed, the power gone: zfs
# receive commits each snapshot of a compound stream as it reads it).
# The pool then has s1..s3.  Received whole again, the stream would fail
# (its first base, s1, is no longer the newest snapshot); the agent
# receives only s4 and s5 on top of s3.  While the pool's newest snapshot
# is one the stream does not carry, the file is held and nothing changes.

# shellcheck source=functions.sh
. "$(dirname "$0")/functions.sh"

lab_setup
lab_write a.txt one
lab_snap s1
lab_write a.txt two
lab_write_random r2 256
lab_snap s2
lab_write b.txt three
lab_snap s3
lab_remove r2
lab_write_random r4 256
lab_snap s4
lab_write a.txt five
lab_snap s5

lab_queue s1
n1=$QN
lab_ingest
assert_exit 0
assert_outcome "$n1" received

# What a compound receive stopped after s3 leaves behind: s2 and s3
# committed by zfs receive, nothing of s4.
for s in s2 s3; do
	prev=s$((${s#s} - 1))
	zfs send -i "@$prev" "$LAP_FS@$s" | zfs receive -u "$STORE_ROOT" ||
	    lab_die "receiving $s by hand failed"
done
assert_received s3

# A snapshot the stream does not carry is the newest: held, untouched.
zfs snapshot "$STORE_ROOT@operator" || lab_die "zfs snapshot failed"
lab_queue -I s1 s5
n5=$QN
lab_ingest
assert_exit 1
assert_outcome "$n5" held
assert_absent "$STORE_ROOT@s4"
assert_absent "$STORE_ROOT@s5"

# Without it, s4 and s5 are received on top of s3.
zfs destroy "$STORE_ROOT@operator" || lab_die "zfs destroy failed"
lab_ingest
assert_exit 0
assert_outcome "$n5" received
case $(lab_report_line "$n5" | cut -f5) in
"resumed after the 2 snapshots already received;"*) ;;
*) lab_fail "reason for $n5: $(lab_report_line "$n5" | cut -f5)" ;;
esac
for s in s1 s2 s3; do
	assert_guid "$s"
done
assert_received s4
assert_received s5

# The same stream again: everything is there, a duplicate.
lab_queue -I s1 s5
n6=$QN
lab_ingest
assert_exit 0
assert_outcome "$n6" duplicate

lab_pass
