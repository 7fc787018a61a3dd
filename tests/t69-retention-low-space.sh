#!/bin/bash
#
# t69-retention-low-space: a backup pool below min_free_mb recovers by
# thinning before the ingest.  24 daily snapshots, each holding 3 MiB of
# its own, fill much of the pool; min_free_mb is then set above what is
# free.  With the schedule "3" the ingest thins first, frees the room,
# and the next incremental lands.  When no schedule can free enough
# (min_free_mb far above the pool's size), the error says how much
# history is left and what to change, and the file stays queued.

# shellcheck source=functions.sh
. "$(dirname "$0")/functions.sh"
# shellcheck source=lib-retention.sh
. "$(dirname "$0")/lib-retention.sh"

N=24

lab_setup
RET_NOW=$(date +%s)
for ((i = 1; i <= N; i++)); do
	lab_write_random a.bin 3072
	sync
	zfs snapshot "$LAP_FS@auto-$i"
	RET_NAMES+=("auto-$i")
	RET_TIMES+=($((RET_NOW - (N - i) * 86400 - 1800)))
done
ret_seal_range - auto-1 1
ret_seal_range auto-1 "auto-$N" 2
lab_ingest
assert_exit 0
assert_eq "$N" "$(ret_on_pool | wc -l)" "snapshots received"

free_mb=$(($(zfs get -Hp -o value available "$BAK_POOL") / 1048576))
min=$((free_mb + 20))
sed -i "s|^  min_free_mb = 0;|  min_free_mb = $min;|" "$CONF"
ret_conf 3
lab_log "pool has $free_mb MiB free; min_free_mb = $min"

lab_write_random a.bin 64
sync
zfs snapshot "$LAP_FS@auto-25"
RET_NAMES+=(auto-25)
RET_TIMES+=($((RET_NOW - 600)))
ret_seal_range "auto-$N" auto-25 3
next=$QN
lab_ingest
assert_exit 0
grep -q "below min_free_mb .*thinning before the ingest" "$AGENT_LOG" ||
    lab_fail "no thinning before the ingest in the log"
assert_guid auto-25
assert_not_queued "$next"
assert_eq "$(printf '%s\n' auto-23 auto-24 auto-25)" "$(ret_on_pool)" "snapshots kept"
free_after=$(($(zfs get -Hp -o value available "$BAK_POOL") / 1048576))
[ "$free_after" -ge "$min" ] || lab_fail "only $free_after MiB free after thinning"

# No schedule can free this much: the error says what is left.
sed -i "s|^  min_free_mb = $min;|  min_free_mb = 100000;|" "$CONF"
lab_write_random a.bin 64
sync
zfs snapshot "$LAP_FS@auto-26"
RET_NAMES+=(auto-26)
RET_TIMES+=($((RET_NOW - 300)))
ret_seal_range auto-25 auto-26 4
last=$QN
lab_ingest
assert_exit 1
grep -q "still below min_free_mb after thinning: .* 3 snapshot(s) left, .* shorten retention.schedule" "$AGENT_LOG" ||
    lab_fail "the error does not say how much history is left and what to change"
assert_queued "$last"
assert_eq "$(printf '%s\n' auto-23 auto-24 auto-25)" "$(ret_on_pool)" "snapshots kept at the end"

lab_pass
