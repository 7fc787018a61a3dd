#!/bin/bash
#
# t05-usage: usage and configuration errors exit 2 and touch no queue file.

# shellcheck source=functions.sh
. "$(dirname "$0")/functions.sh"

lab_setup
lab_write a.txt one
lab_snap s1
lab_queue s1
n1=$QN

lab_agent
assert_exit 2
lab_agent ingest
assert_exit 2
lab_agent nosuchcommand "$BAK_POOL"
assert_exit 2
lab_agent ingest "$BAK_POOL" extra
assert_exit 2

good=$CONF
CONF=$LAB/nosuch.conf
lab_agent ingest "$BAK_POOL"
assert_exit 2
CONF=$LAB/broken.conf
printf 'state_dir = "%s"\ningest = {\n' "$STATE" >"$CONF"
lab_agent ingest "$BAK_POOL"
assert_exit 2
CONF=$good

# state_dir must belong to root and not be writable by others: refused
# (the contract does not say whether this counts as a config error).
chmod 0777 "$STATE"
lab_agent ingest "$BAK_POOL"
assert_exit "1|2"
chmod 0700 "$STATE"

assert_queued "$n1"
assert_not_quarantined "$n1"
assert_no_snapshots "$BAK_POOL"

lab_pass
