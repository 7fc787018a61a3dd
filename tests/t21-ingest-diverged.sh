#!/bin/bash
#
# t21-ingest-diverged: the laptop rolled back and took a new snapshot, so
# its next incremental starts from a snapshot that is no longer the newest
# on the backup.  Receiving it would need a rollback (-F), which a backup
# must never do on its own: the file is held for the operator (exit 1,
# still queued) and the received history is unchanged.

# shellcheck source=functions.sh
. "$(dirname "$0")/functions.sh"

lab_setup
lab_snaps 2

lab_queue s1
n1=$QN
lab_queue -i s1 s2
n2=$QN
lab_ingest
assert_exit 0
assert_outcome "$n1" received
assert_outcome "$n2" received
assert_received s2
s2_guid=$(lab_guid "$LAP_FS@s2")

zfs rollback -r "$LAP_FS@s1"
lab_write a.txt other
lab_snap s2b
lab_queue -i s1 s2b
n3=$QN

lab_ingest
assert_exit 1
assert_outcome "$n3" held
assert_absent "$STORE_ROOT@s2b"
assert_eq "$s2_guid" "$(lab_guid "$STORE_ROOT@s2")" "guid of the received s2"
assert_content s1
assert_content s2

# The second run does not change its mind.
lab_ingest
assert_exit 1
assert_outcome "$n3" held
assert_absent "$STORE_ROOT@s2b"

lab_pass
