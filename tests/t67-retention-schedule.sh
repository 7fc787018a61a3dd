#!/bin/bash
#
# t67-retention-schedule: a laptop dataset of 240 snapshots spanning two
# years (creation times set in the streams, see lib-retention.sh) comes
# in through the agent: one full stream and one -I stream.  Rotation is
# over this pool and another one, so the -I file stays queued, kept for
# the other: its base (the oldest snapshot, two years old) must survive
# although the schedule drops it.  The schedule has no count term, so
# the newest snapshot is dropped by the schedule too and must survive.
#   - prune --dry-run before any thinning lists exactly what goes, and
#     destroys nothing;
#   - after the ingest (which thins), the snapshots left are exactly the
#     schedule's answer computed here, plus the newest, the queued base
#     and the snapshot whose name matches no pattern;
#   - the holds sit on exactly the newest and the queued base;
#   - the next incremental lands on the thinned dataset and is held as
#     the newest; while its file is queued its base stays held too;
#   - once the -I file leaves the queue, its base loses the hold and
#     goes, as the schedule says.

# shellcheck source=functions.sh
. "$(dirname "$0")/functions.sh"
# shellcheck source=lib-retention.sh
. "$(dirname "$0")/lib-retention.sh"

SCHED=1d1w,1w1m,1m1y
N=240

lab_setup
# Received without a schedule: nothing is thinned.
ret_received "$N" 120
first=${RET_NAMES[0]}
last=${RET_NAMES[N - 1]}
assert_eq "${RET_TIMES[0]}" "$(zfs get -Hp -o value creation "$STORE_ROOT@$first")" \
    "creation time of the oldest (the sender's)"

# Now the schedule, with rotation to a pool that is not here.
ret_conf "$SCHED" "$BAK_POOL" other$$
# The -I file again, as it would still be queued for the other pool.
ret_seal_range "$first" "$last" 3
inc=$QN
expected=$(ret_expected "$SCHED" "$first")
lab_agent prune --dry-run "$BAK_POOL"
assert_exit 0
assert_eq "$N" "$(ret_on_pool | wc -l)" "snapshots after the dry run"
assert_eq "$expected" "$(awk '$1 == "keep" { sub(/.*@/, "", $2); print $2 }' "$AGENT_LOG" | sort)" \
    "what the dry run keeps"
assert_eq "$(comm -23 <(printf '%s\n' "${RET_NAMES[@]}" | sort) <(printf '%s\n' "$expected"))" \
    "$(awk '$1 == "destroy" { sub(/.*@/, "", $2); print $2 }' "$AGENT_LOG" | sort)" \
    "what the dry run destroys"
grep -q "keep *$STORE_ROOT@$first  a queued file builds on it (held)" "$AGENT_LOG" ||
    lab_fail "the dry run does not say why the queued base is kept"
grep -q "keep *$STORE_ROOT@$last  newest of its dataset (held)" "$AGENT_LOG" ||
    lab_fail "the dry run does not say why the newest is kept"
grep -qE "keep *$STORE_ROOT@auto-[0-9]+  1m1y$" "$AGENT_LOG" ||
    lab_fail "the dry run names no 1m1y rule"

# The ingest thins: the -I file is a duplicate here, kept for the other.
lab_ingest
assert_exit 0
assert_queued "$inc"
assert_eq "$expected" "$(ret_on_pool)" "snapshots kept"
assert_eq "$(printf '%s\n' "$first" "$last" | sort)" "$(ret_held)" "held snapshots"
kept=$(ret_on_pool | wc -l)
[ "$kept" -lt $((N / 2)) ] || lab_fail "only $((N - kept)) of $N thinned"
# status says what the thinning kept, per pool and dataset.
lab_status_json
row=$(python3 -c '
import json, sys
s = json.load(open(sys.argv[1]))
r = [x for x in s["retention"] if x["pool"] == sys.argv[2] and x["dataset"] == sys.argv[3]]
print(r[0]["kept"] if len(r) == 1 else "rows: %d" % len(r))
' "$LAB/status.json" "$BAK_POOL" "$STORE_ROOT")
assert_eq "$kept" "$row" "snapshots kept, as status says"

# The next incremental lands.  It stays queued too (kept for the
# other pool), so its base, the old newest, stays held with the new one.
zfs snapshot "$LAP_FS@auto-9999"
RET_NAMES+=(auto-9999)
RET_TIMES+=($((RET_NOW - 600)))
ret_seal_range "$last" auto-9999 4
lab_ingest
assert_exit 0
assert_guid auto-9999
assert_eq "$(ret_expected "$SCHED" "$first" "$last")" "$(ret_on_pool)" "snapshots kept after the next"
assert_eq "$(printf '%s\n' "$first" "$last" auto-9999 | sort)" "$(ret_held)" \
    "held snapshots after the next"

# The -I file leaves the queue (the other pool got it): its base loses
# the hold, and goes as the schedule says.
rm "$INCOMING/laptop/$inc"
lab_agent prune "$BAK_POOL"
assert_exit 0
assert_eq "$(ret_expected "$SCHED" "$last")" "$(ret_on_pool)" "snapshots kept at the end"
assert_eq "$(printf '%s\n' "$last" auto-9999 | sort)" "$(ret_held)" "held snapshots at the end"
assert_absent "$STORE_ROOT@$first"

lab_pass
