#!/bin/bash
#
# t68-retention-kill: the agent is killed with SIGKILL while it thins
# (prune POOL), after some snapshots went and before all the doomed ones
# did.  Nothing the schedule keeps is gone, the only hold is the one on
# the newest snapshot (no hold dangles), and the next run finishes the
# job: exactly the schedule's answer is left, with the same one hold.

# shellcheck source=functions.sh
. "$(dirname "$0")/functions.sh"
# shellcheck source=lib-retention.sh
. "$(dirname "$0")/lib-retention.sh"

SCHED=2,1d1w,1m1y
N=200

lab_setup
ret_received "$N"
first=${RET_NAMES[0]}
last=${RET_NAMES[N - 1]}

ret_conf "$SCHED"
expected=$(ret_expected "$SCHED")
nexp=$(printf '%s\n' "$expected" | wc -l)
[ "$nexp" -lt $((N - 20)) ] || lab_die "the schedule thins too little ($nexp of $N kept)"

# Killed once a few snapshots are gone.
"$AGENT" -c "$CONF" -v prune "$BAK_POOL" >"$LAB/logs/prune-killed.log" 2>&1 &
pid=$!
for _ in $(seq 1 3000); do
	left=$(ret_on_pool | wc -l)
	[ "$left" -gt $((N - 5)) ] || break
	kill -0 "$pid" 2>/dev/null || break
	sleep 0.05
done
kill -KILL "$pid" 2>/dev/null || lab_fail "the agent finished before it could be killed"
wait "$pid" || true
# The zfs command it had started finishes on its own.
for _ in $(seq 1 600); do
	pgrep -f "zfs destroy $STORE_ROOT@" >/dev/null || break
	sleep 0.1
done
left=$(ret_on_pool | wc -l)
lab_log "killed with $left of $N snapshots left ($nexp to be kept)"
[ "$left" -gt "$nexp" ] || lab_fail "the kill came after thinning finished ($left left)"
missing=$(comm -23 <(printf '%s\n' "$expected") <(ret_on_pool))
[ -z "$missing" ] || lab_fail "kept snapshots lost by the kill: $missing"
assert_eq "$last" "$(ret_held)" "holds after the kill"

# The next run finishes.
lab_agent prune "$BAK_POOL"
assert_exit 0
assert_eq "$expected" "$(ret_on_pool)" "snapshots kept after the next run"
assert_eq "$last" "$(ret_held)" "holds after the next run"

lab_pass
