#!/bin/bash
#
# t52-fault-receive-space: the receiving side fails under the agent.
#  1. The `zfs receive` child is killed with SIGKILL while it reads a
#     stream (found with pgrep, as an operator or the OOM killer would):
#     the run ends "failed", exit 1, the error light, the file stays
#     queued, no partial dataset, the pool is exported; the next run
#     receives it (or finds it received: zfs-fuse's daemon, not the zfs
#     command, reads the stream, and may finish it once the agent has
#     sent the verified end).
#  2. A 64 MiB backup disk (about 27 MiB free) and a 30 MiB random stream
#     with min_free_mb = 0: zfs receive runs out of space; "failed", the
#     file stays queued, no partial dataset, error light, pool exported.
#  3. The same disk with min_free_mb above its free space: the agent
#     receives nothing, says "pool nearly full", and the file stays.

# shellcheck source=functions.sh
. "$(dirname "$0")/functions.sh"
# shellcheck source=lib-faults.sh
. "$(dirname "$0")/lib-faults.sh"

lab_appliance_setup
lf_timeouts 30 20 30 30 30
lab_write_random r1 6144
lab_snap s1
lab_write_random r2 24576
lab_snap s2

# partial_of POOL DATASET: what is left of an unfinished receive.
partial_of() {
	local all

	all=$(zfs list -H -t all -r -o name "$1")
	grep '%' <<<"$all" || true
	if grep -qxF "$2" <<<"$all" && ! grep -qF "$2@" <<<"$all"; then
		printf '%s (no snapshot)\n' "$2"
	fi
}

# no_partial POOL DATASET WHAT: nothing left of it within 10 s.
no_partial() {
	local p

	for _ in $(seq 1 50); do
		p=$(partial_of "$1" "$2")
		[ -n "$p" ] || return 0
		sleep 0.2
	done
	lf_bug "$3: a partial receive is left: $p"
}

# --- 1. the receiver is killed
lab_queue s1
n1=$QN
b1=$(stat -c %s "$QF")
lab_bakdisk
# The receiver is killed 0.03 s after it started: in the middle of the
# stream.
lf_watch_start 60 kill proc "zfs receive -u $STORE_ROOT" 0.03
lf_agent_bg handle "$DISK_DEV"
lf_watch_end || lab_fail "zfs receive was not killed while it ran: $LF_WATCHED"
lf_agent_wait 60
assert_exit 1
assert_outcome "$n1" failed
assert_not_safe "receiver killed"
assert_led error
assert_exported "$BAK_POOL"
grep -q 'zfs receive.*killed by SIGKILL\|zfs receive stopped reading' "$(lab_report_file)" ||
    lab_fail "the report does not say the receiver died: $(cat "$(lab_report_file)")"
lab_bakdisk_import
no_partial "$BAK_POOL" "$STORE_ROOT" "receiver killed"
# zfs-fuse receives in its daemon, which reads the stream from the pipe
# itself: killing the zfs command does not always stop it.  So either
# nothing was received, or the whole verified stream (the agent sends
# the held-back end only after gpg and zstd vouched for it): then s1 has
# its source guid and the next run finds it a duplicate.
snaps=$(lf_snaps "$BAK_POOL")
if [ -z "$snaps" ]; then
	after_kill="nothing received"
else
	assert_guid s1
	assert_eq "$STORE_ROOT@s1" "$(cut -d' ' -f1 <<<"$snaps")" "snapshots after the kill"
	after_kill="the zfs-fuse daemon finished the verified stream"
fi
lab_pool_export "$BAK_POOL"
lab_agent handle "$DISK_DEV"
assert_exit 0
assert_outcome "$n1" "received|duplicate"
o1=$(lab_outcome "$n1")
assert_led safe
lab_bakdisk_import
assert_received s1
lab_pool_export "$BAK_POOL"
lf_result "receiver killed: 1 kill of zfs receive mid-stream, 1 file, $b1 bytes, outcome failed, file kept ($after_kill), next run: $o1, light error then safe, lost 0"

# --- 2. the pool fills up
lab_bakdisk "bakdisk${LAB_TAG}2" 64
small=$BAK_POOL
lab_stream s2
lab_deliver
n2=$QN
b2=$(stat -c %s "$QF")
sum2=$(sha256sum <"$QF")
target=$small/simplesnap/laptop/$LAP_FS
zpool import -o cachefile=none "$DISK_GUID"
free=$(zfs get -Hp -o value available "$small")
lab_pool_export "$small"
[ "$b2" -gt "$free" ] || lab_die "the stream ($b2 bytes) fits into $small ($free bytes free)"
lf_reset_light
lab_agent handle "$DISK_DEV"
assert_exit 1
assert_outcome "$n2" failed
assert_not_safe "pool full"
assert_led error
assert_exported "$small"
reason2=$(awk -F'\t' -v n="laptop/$n2" '$1 == n { print $5 }' "$(lab_report_file)")
zpool import -o cachefile=none "$DISK_GUID"
no_partial "$small" "$target" "pool full"
assert_no_snapshots "$small"
lab_pool_export "$small"
assert_eq "$sum2" "$(sha256sum <"$QF")" "checksum of $n2, still queued"
lf_result "pool full: $small with $free bytes free, 1 file, $b2 bytes, outcome failed ($reason2), no partial dataset, light error, lost 0"

# --- 3. min_free_mb above the free space
mib=$((free / 1024 / 1024 + 64))
lf_conf "s/^  min_free_mb = 0;/  min_free_mb = $mib;/"
lf_reset_light
lab_agent handle "$DISK_DEV"
assert_exit 1
assert_outcome "$n2" failed
assert_not_safe "min_free_mb"
assert_exported "$small"
reason3=$(awk -F'\t' -v n="laptop/$n2" '$1 == n { print $5 }' "$(lab_report_file)")
case $reason3 in
*"pool nearly full"*) ;;
*) lf_bug "min_free_mb: the report does not say 'pool nearly full': $reason3" ;;
esac
grep -q "less than min_free_mb" "$AGENT_LOG" ||
    lf_bug "min_free_mb: the log does not say why nothing was received"
zpool import -o cachefile=none "$DISK_GUID"
assert_no_snapshots "$small"
assert_absent "$target"
lab_pool_export "$small"
assert_queued "$n2"
lost2=0
[ "$sum2" = "$(sha256sum <"$QF")" ] || lost2=1
lf_result "min_free_mb $mib above the free space: 1 file, $b2 bytes, outcome failed ($reason3), nothing received, light error, lost $lost2"

lf_finish
