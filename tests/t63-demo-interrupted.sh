#!/bin/bash
#
# t63-demo-interrupted: Ctrl-C in the middle of scripts/demo.  The demo
# runs in a process group of its own, as a terminal's foreground job;
# once the watch daemon is working on the USB stick (the stick mounted,
# NNCP and zfs receive running), SIGINT goes to the whole group, as
# Ctrl-C sends it.  The demo must exit 130 within a minute and leave
# nothing behind: no files, loop devices, mounts, pools, labels or
# processes of its run, and no daemon it started.

# shellcheck source=functions.sh
. "$(dirname "$0")/functions.sh"
lab_init
# shellcheck source=lib-demo.sh
. "$(dirname "$0")/lib-demo.sh"

DEMO_PID=

# If this test is stopped first, the demo (in its own process group) is
# interrupted too.
stop_demo() {
	[ -n "$DEMO_PID" ] || return 0
	kill -INT -- "-$DEMO_PID" 2>/dev/null || return 0
	for _ in $(seq 1 600); do
		kill -0 "$DEMO_PID" 2>/dev/null || return 0
		sleep 0.1
	done
	kill -KILL -- "-$DEMO_PID" 2>/dev/null || true
}
LAB_CLEANUP_FIRST+=(stop_demo)

# Job control: the demo gets a process group of its own, and SIGINT is
# not ignored in it as it would be for a plain background command.
set -m
TMPDIR=$DEMO_TMP "$DEMO" >"$DEMO_OUT" 2>"$DEMO_ERR" </dev/null &
DEMO_PID=$!
set +m

working=''
for _ in $(seq 1 1200); do
	if grep -q 'working\] transport stick' "$DEMO_OUT"; then
		working=1
		break
	fi
	kill -0 "$DEMO_PID" 2>/dev/null || break
	sleep 0.1
done
[ -n "$working" ] || {
	cat "$DEMO_OUT" "$DEMO_ERR"
	lab_fail "the demo did not get to the USB stick"
}
sleep 1
lab_log "the stick is being handled: SIGINT to the demo's process group"
kill -INT -- "-$DEMO_PID"
start=$(date +%s)
rc=0
for _ in $(seq 1 600); do
	kill -0 "$DEMO_PID" 2>/dev/null || break
	sleep 0.1
done
wait "$DEMO_PID" || rc=$?
secs=$(($(date +%s) - start))
DEMO_PID=
lab_log "scripts/demo: exit $rc, $secs s after SIGINT; its output:"
sed 's/^/    /' "$DEMO_OUT" "$DEMO_ERR"

assert_eq 130 "$rc" "exit status of the interrupted demo"
[ "$secs" -lt 60 ] || lab_fail "the demo took $secs s to clean up after SIGINT"
grep -q 'proof passed' "$DEMO_OUT" && lab_fail "the demo went on to the end after SIGINT"
assert_demo_clean
lab_pass
