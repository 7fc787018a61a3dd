#!/bin/bash
#
# t05-usage: usage and configuration errors exit 2 and touch no queue file.
# Errors reach stderr also when it is not a terminal and -v is not given
# (a script, a pipe, a unit): each command run that way with a broken
# config, and ingest and verify with a wrong argument, say what is wrong.

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

# Without -v, stderr a file: the error is still printed, with file and line.
quiet() {
	local rc=0

	(cd "$LAB/run" && exec "$AGENT" -c "$CONF" "$@") \
	    >"$LAB/logs/quiet.out" 2>"$LAB/logs/quiet.err" </dev/null || rc=$?
	printf '%s\n' "$rc"
}
for cmd in check "ingest $BAK_POOL" "verify $QF" status "handle /dev/null"; do
	# shellcheck disable=SC2086 # split the command on purpose
	assert_eq 2 "$(quiet $cmd)" "exit status of '$cmd' with a broken config"
	grep -qF "$CONF:3: " "$LAB/logs/quiet.err" ||
	    lab_fail "'$cmd' with a broken config, without -v: stderr does not name $CONF and its line: $(cat "$LAB/logs/quiet.err")"
done
CONF=$good
assert_eq 1 "$(quiet ingest nosuchpool$$)" "exit status of ingest into a pool that is not imported"
grep -qF "pool nosuchpool$$ is not imported" "$LAB/logs/quiet.err" ||
    lab_fail "ingest without -v: stderr does not say that the pool is not imported: $(cat "$LAB/logs/quiet.err")"
assert_eq 1 "$(quiet verify "$INCOMING/laptop/nosuchfile")" "exit status of verify of a missing file"
grep -qF "nosuchfile" "$LAB/logs/quiet.err" ||
    lab_fail "verify without -v: stderr does not name the missing file: $(cat "$LAB/logs/quiet.err")"

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
