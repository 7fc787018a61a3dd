#!/bin/bash
#
# t25-ingest-forged-heads: what a file's begin record says is believed
# only once the whole file proved genuine.  Anyone can encrypt to
# backupsvr; unsigned files whose heads claim to wait for a base, to be
# held, to be duplicates, or to need parent datasets must end in
# quarantine and leave nothing behind that stands in a genuine stream's
# way:
#   1. a forged incremental whose base is missing (would wait forever)
#      is quarantined; a genuine one beside it waits, verified once
#      (remembered in STATE/verified), and lands once its base arrives;
#   2. a forged incremental from an older snapshot (would be held as
#      diverged, a red light forever) is quarantined;
#   3. a forged copy of a snapshot the pool has (would leave as a
#      duplicate) is quarantined; a genuine copy leaves as a duplicate;
#   4. a forged stream for a child dataset: the parents made for it go
#      again, and the parent's genuine full stream is then received
#      (not held for "exists without snapshots");
#   5. a forged stream for a parent does not make a queued child wait;
#   6. an empty parent left by a killed run (marked as made by the agent)
#      gives way to its genuine stream; an empty dataset the admin made
#      does not, and the stream is held.

# shellcheck source=functions.sh
. "$(dirname "$0")/functions.sh"

lab_setup
lab_snaps 3
raw=$LAB/raw
mkdir -p "$raw"
send() {
	local out=$1

	shift
	zfs send "$@" >"$raw/$out" 2>>"$LAB/logs/send.log" || lab_die "zfs send $* failed"
}
send s1 "$LAP_FS@s1"
send s2 -i "$LAP_FS@s1" "$LAP_FS@s2"
send s3 -i "$LAP_FS@s2" "$LAP_FS@s3"

# 1: nothing on the pool yet.
lab_queue_raw laptop "$raw/s3" 1
g3=$QN
lab_queue_raw none "$raw/s2" 2
f2=$QN
lab_ingest
assert_exit 1
assert_outcome "$f2" quarantined
assert_outcome "$g3" waiting
grep -q "$g3: reading it through to verify it before it counts as waiting" \
    "$AGENT_LOG" || lab_fail "the genuine waiting file was not verified"
grep -qF "$INCOMING/laptop/$g3" "$STATE/verified" ||
    lab_fail "the genuine waiting file is not remembered as verified: $(cat "$STATE/verified" 2>&1)"
assert_absent "$STORE_ROOT"
lab_ingest
assert_exit 0
assert_outcome "$g3" waiting
grep -q "$g3.*waiting" "$AGENT_LOG" || lab_fail "no waiting line for $g3"
if grep -q "reading it through to verify it" "$AGENT_LOG"; then
	lab_fail "a file remembered as verified was read through again"
fi
lab_queue_raw laptop "$raw/s1" 3
lab_queue_raw laptop "$raw/s2" 4
lab_ingest
assert_exit 0
assert_outcome "$g3" received
assert_received s3
assert_eq "" "$(cat "$STATE/verified")" "verdicts left for files that left the queue"

# 2: a forged incremental s1 -> s2 while the pool is at s3 (diverged).
lab_queue_raw none "$raw/s2" 5
lab_ingest
assert_exit 1
assert_outcome "$QN" quarantined
assert_eq "$STORE_ROOT@s1 $STORE_ROOT@s2 $STORE_ROOT@s3" \
    "$(zfs list -H -t snapshot -o name -r "$STORE_ROOT" | tr '\n' ' ' | sed 's/ $//')" \
    "snapshots on the pool"
assert_received s3

# 3: forged and genuine copies of s1.
lab_queue_raw none "$raw/s1" 6
f1=$QN
lab_queue_raw laptop "$raw/s1" 7
d1=$QN
lab_ingest
assert_exit 1
assert_outcome "$f1" quarantined
assert_outcome "$d1" duplicate

# 4: a child's forged stream; then the parent's and the child's genuine ones.
zfs create -o mountpoint="$LAB/h" "$LAP_POOL/h"
zfs create "$LAP_POOL/h/x"
for d in h h/x; do
	[ "$(zfs get -H -o value mounted "$LAP_POOL/$d")" = yes ] || zfs mount "$LAP_POOL/$d"
done
printf 'h\n' >"$LAB/h/h.txt"
printf 'x\n' >"$LAB/h/x/x.txt"
zfs snapshot -r "$LAP_POOL/h@a"
send h "$LAP_POOL/h@a"
send hx "$LAP_POOL/h/x@a"
H=$BAK_POOL/simplesnap/laptop/$LAP_POOL/h
lab_queue_raw none "$raw/hx" 10 "laptop/$LAP_POOL/h/x"
lab_ingest
assert_exit 1
assert_outcome "$QN" quarantined
grep -q "created $H" "$AGENT_LOG" || lab_fail "no parent was created for the forged child stream"
assert_absent "$H"
lab_queue_raw laptop "$raw/h" 11 "laptop/$LAP_POOL/h"
lab_queue_raw laptop "$raw/hx" 12 "laptop/$LAP_POOL/h/x"
lab_ingest
assert_exit 0
assert_eq "$(lab_guid "$LAP_POOL/h@a")" "$(lab_guid "$H@a")" "guid of the parent's snapshot"
assert_eq "$(lab_guid "$LAP_POOL/h/x@a")" "$(lab_guid "$H/x@a")" "guid of the child's snapshot"

# 5: a forged parent and a genuine child in one run.
zfs create "$LAP_POOL/k"
zfs create "$LAP_POOL/k/y"
zfs snapshot -r "$LAP_POOL/k@a"
send k "$LAP_POOL/k@a"
send ky "$LAP_POOL/k/y@a"
K=$BAK_POOL/simplesnap/laptop/$LAP_POOL/k
lab_queue_raw none "$raw/k" 20 "laptop/$LAP_POOL/k"
fk=$QN
lab_queue_raw laptop "$raw/ky" 21 "laptop/$LAP_POOL/k/y"
gy=$QN
lab_ingest
assert_exit 1
assert_outcome "$fk" quarantined
assert_outcome "$gy" received
assert_eq "$(lab_guid "$LAP_POOL/k/y@a")" "$(lab_guid "$K/y@a")" "guid of the child's snapshot"

# 6: an empty placeholder left behind, and an empty dataset of the admin's.
for d in m n; do
	zfs create "$LAP_POOL/$d"
	zfs snapshot "$LAP_POOL/$d@a"
	send "$d" "$LAP_POOL/$d@a"
done
M=$BAK_POOL/simplesnap/laptop/$LAP_POOL/m
N=$BAK_POOL/simplesnap/laptop/$LAP_POOL/n
zfs create -o mountpoint=none -o airgap-agent:placeholder=on "$M"
zfs create -o mountpoint=none "$N"
lab_queue_raw laptop "$raw/m" 30 "laptop/$LAP_POOL/m"
gm=$QN
lab_queue_raw laptop "$raw/n" 31 "laptop/$LAP_POOL/n"
gn=$QN
lab_ingest
assert_exit 1
assert_outcome "$gm" received
assert_eq "$(lab_guid "$LAP_POOL/m@a")" "$(lab_guid "$M@a")" "guid of m's snapshot"
assert_outcome "$gn" held
assert_exists "$N"

lab_pass
