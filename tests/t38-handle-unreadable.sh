#!/bin/bash
#
# t38-handle-unreadable: a medium the agent cannot read is not "not ours".
# A stick of ours whose every read fails with EIO (strace injects the
# error into the agent's reads of the device, as a dying stick or reader
# gives it): handle exits 1, the light says error (three low beeps), the
# log and runs.log say that the probe failed, and nothing is mounted.
# (It used to end as "not ours", exit 3, with no light.)  The same stick
# read normally afterwards: handled, safe.

# shellcheck source=functions.sh
. "$(dirname "$0")/functions.sh"

command -v strace >/dev/null || lab_die "strace not found"
lab_appliance_setup
lab_stick_image "$LAB/stick.img"
lab_media_attach "$LAB/stick.img"
stick=$LAB_DEV

# The agent under strace, every read of the device failing with EIO.
LAB_RUNS=$((LAB_RUNS + 1))
AGENT_LOG=$LAB/logs/agent.$LAB_RUNS.log
AGENT_RC=0
lab_beeps_reset
strace -f -qq -o "$LAB/logs/strace.log" -e trace=read,pread64 \
    -e inject=read,pread64:error=EIO -P "$stick" \
    env "$LAB_PTRACE_ASAN" "$AGENT" -c "$CONF" -v handle "$stick" >"$AGENT_LOG" 2>&1 </dev/null ||
    AGENT_RC=$?
lab_log "run $LAB_RUNS: strace (EIO on $stick) airgap-agent handle $stick -> exit $AGENT_RC"
grep -q 'EIO.*INJECTED' "$LAB/logs/strace.log" ||
    lab_die "strace injected no read error (see $LAB/logs/strace.log)"
assert_exit 1
assert_led error
assert_beeps 440,440,440
grep -q "probe failed" "$AGENT_LOG" ||
    lab_fail "the log does not say that the probe failed"
assert_last_run "$stick" "" unknown error
case $(tail -n 1 "$STATE/runs.log" | cut -f 6) in
*"cannot read $stick"*"probe failed"*) ;;
*) lab_fail "runs.log does not say that $stick could not be read: $(tail -n 1 "$STATE/runs.log")" ;;
esac
assert_nothing_mounted "$stick"

lab_agent handle "$stick"
assert_exit 0
assert_led safe
assert_last_run "$stick" "$STICK_LABEL" transport safe
assert_nothing_mounted "$stick"
lab_pass
