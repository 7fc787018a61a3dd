#!/bin/bash
#
# t18-ingest-unknown-host: a file in the incoming dir of a host that is not
# in the config is quarantined under that host's name; nothing is received.

# shellcheck source=functions.sh
. "$(dirname "$0")/functions.sh"

lab_setup
lab_write a.txt one
lab_snap s1

lab_stream -d "mallory/$LAP_FS" s1
lab_deliver -h mallory
n1=$QN
case $n1 in
*_mallory@"$LAP_POOL"@fs) ;;
*) lab_die "unexpected name $n1" ;;
esac

lab_ingest
assert_exit 1
assert_outcome "$n1" quarantined mallory
assert_absent "$BAK_POOL/simplesnap/mallory"
assert_no_snapshots "$BAK_POOL"

lab_pass
