#!/bin/bash
#
# t43-rotation-kill: kill -9 at any moment leaves a consistent state.  Five
# streams (a full one and four incrementals of about 512 KiB each) are
# queued for rotation disks A and B (both imported, `ingest POOL`).
#
# First the agent is killed exactly at its ledger updates (strace stops
# it with SIGKILL on entering the Nth rename(2), the step that puts the
# new ledger in place): after receiving a file and before recording it,
# and after the last disk got a file and it left the queue.  Then ingest
# runs on A and B in turn and is killed with SIGKILL after a random time,
# ten times.  After every kill:
#   - STATE/ledger parses: KEY<TAB>POOL<TAB>GUID<TAB>DATASET, a decimal
#     guid, no pair twice, and every line is backed by that snapshot on
#     that disk;
#   - every file is either still queued or on both disks;
#   - nothing is half-received: each disk holds s1..sN for some N with
#     the right guids and nothing else (no dataset without snapshots).
# Finally normal runs complete everything: the queue is empty, each disk
# has every snapshot (guid and files) and the ledger keeps no line for a
# file that has left the queue.

# shellcheck source=functions.sh
. "$(dirname "$0")/functions.sh"
# shellcheck source=lib-rotation.sh
. "$(dirname "$0")/lib-rotation.sh"

NSNAP=5

rot_setup
rot_disk A
rot_disk B
rot_conf_rotation A B

names=()
lab_write a.txt s1
lab_write_random bin/r1 512
lab_snap s1
lab_queue -t "1700000001.000000000" s1
names+=("$QN")
for i in $(seq 2 "$NSNAP"); do
	lab_write a.txt "s$i"
	lab_write_random "bin/r$i" 512
	lab_snap "s$i"
	lab_queue -t "170000000$i.000000000" -i "s$((i - 1))" "s$i"
	names+=("$QN")
done
declare -A guid=()
for i in $(seq 1 "$NSNAP"); do
	guid[s$i]=$(lab_guid "$LAP_FS@s$i")
done
rot_import A
rot_import B

# settle_pool POOL: wait until no `zfs receive` into POOL runs any more and
# a dataset of an aborted full receive has gone (zfs-fuse removes it
# shortly after the receiver exits).
settle_pool() {
	local pool=$1 ds=$1/simplesnap/laptop/$LAP_FS

	for _ in $(seq 1 150); do
		if ! pgrep -f "zfs receive .*$pool/" >/dev/null; then
			if ! zfs list -H -o name "$ds" >/dev/null 2>&1 ||
			    [ -n "$(zfs list -H -r -d 1 -t snapshot -o name "$ds" 2>/dev/null)" ]; then
				return 0
			fi
		fi
		sleep 0.1
	done
	lab_fail "15 s after the kill, $pool still has a receiver running or a dataset without snapshots: $(zfs list -H -r -t all -o name "$pool" | tr '\n' ' ')"
}

# check_disk X: X holds s1..sN with the source's guids, the parents of
# the dataset, and nothing else.  Sets DISK_N to N and keeps the names and
# guids of everything on X in $LAB/guids.X (one `zfs get` for all).
DISK_N=0
check_disk() {
	local x=$1 pool=${ROT_POOL[$1]} ds name g

	ds=$pool/simplesnap/laptop/$LAP_FS
	zfs get -H -p -r -o name,value guid "$pool" >"$LAB/guids.$x" ||
	    lab_fail "zfs get guid -r $pool failed"
	DISK_N=0
	while read -r name g; do
		case $name in
		"$pool" | "$pool/simplesnap" | "$pool/simplesnap/laptop" | \
		    "$pool/simplesnap/laptop/$LAP_POOL" | "$ds") ;;
		"$ds@"*)
			DISK_N=$((DISK_N + 1))
			[ "$name" = "$ds@s$DISK_N" ] ||
			    lab_fail "$pool: snapshot $DISK_N is $name, expected $ds@s$DISK_N"
			assert_eq "${guid[s$DISK_N]}" "$g" "guid of $name"
			;;
		*) lab_fail "$pool holds an unexpected dataset or snapshot: $name" ;;
		esac
	done <"$LAB/guids.$x"
	if [ "$DISK_N" = 0 ] && grep -q "^$ds	" "$LAB/guids.$x"; then
		lab_fail "$ds exists without snapshots (half-received)"
	fi
}

# check_state WHAT: the invariants, after WHAT.
check_state() {
	local what=$1 nA nB i key line pool g ds x

	settle_pool "${ROT_POOL[A]}"
	settle_pool "${ROT_POOL[B]}"
	assert_ledger_wellformed
	check_disk A
	nA=$DISK_N
	check_disk B
	nB=$DISK_N
	for i in $(seq 1 "$NSNAP"); do
		if [ ! -f "$INCOMING/laptop/${names[i - 1]}" ]; then
			if [ "$nA" -lt "$i" ] || [ "$nB" -lt "$i" ]; then
				lab_fail "after $what: s$i left the queue, but A has s1..s$nA and B s1..s$nB"
			fi
		fi
	done
	# Every claim of the ledger is backed by the disk it names.
	while IFS= read -r line; do
		IFS=$'\t' read -r key pool g ds <<<"$line"
		case $key in
		"$INCOMING/laptop/"bakfsfmt2-*) ;;
		*) lab_fail "after $what: ledger key is not a queue file path: $line" ;;
		esac
		case $pool in
		"${ROT_POOL[A]}") x=A ;;
		"${ROT_POOL[B]}") x=B ;;
		*) lab_fail "after $what: ledger names a pool outside the rotation: $line" ;;
		esac
		assert_eq "$pool/simplesnap/laptop/$LAP_FS" "$ds" "dataset in ledger line $line"
		awk -v g="$g" -v p="$ds@" 'index($1, p) == 1 && $2 == g { f = 1 }
		    END { exit !f }' "$LAB/guids.$x" ||
		    lab_fail "after $what: the ledger says $pool has guid $g, but $ds lacks it: $line"
	done < <(rot_ledger)
	lab_log "after $what: A has s1..s$nA, B s1..s$nB, $(find "$INCOMING/laptop" -type f | wc -l) queued, $(rot_ledger | wc -l) ledger line(s) (${SECONDS} s)"
}

KILLS=0

# kill_run X SECONDS: start `ingest` on disk X, SIGKILL it after SECONDS.
kill_run() {
	local pool=${ROT_POOL[$1]} pid rc=0

	KILLS=$((KILLS + 1))
	(cd "$LAB/run" && exec "$AGENT" -c "$CONF" -v ingest "$pool") \
	    >"$LAB/logs/kill.$KILLS.log" 2>&1 </dev/null &
	pid=$!
	LAB_KILL_PIDS=("$pid")
	sleep "$2"
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" || rc=$?
	LAB_KILL_PIDS=()
	lab_log "kill $KILLS: ingest $pool, SIGKILL after $2 s: exit $rc"
	check_state "kill $KILLS (ingest $pool, $2 s)"
}

# strace_run X N: run `ingest` on disk X under strace, which kills it
# with SIGKILL on entering its Nth rename(2).
strace_run() {
	local pool=${ROT_POOL[$1]} rc=0

	KILLS=$((KILLS + 1))
	(cd "$LAB/run" && exec strace -qq -o /dev/null -e trace=rename,renameat,renameat2 \
	    -e inject=rename,renameat,renameat2:signal=KILL:when="$2" \
	    "$AGENT" -c "$CONF" -v ingest "$pool") \
	    >"$LAB/logs/kill.$KILLS.log" 2>&1 </dev/null || rc=$?
	lab_log "kill $KILLS: ingest $pool, SIGKILL at rename $2: exit $rc"
	assert_eq 137 "$rc" "exit status of the ingest on $pool killed at rename $2"
	check_state "kill $KILLS (ingest $pool, rename $2)"
}

check_state "the start"

if command -v strace >/dev/null; then
	# A receives s1, killed before the ledger records it.
	strace_run A 1
	# B receives s1, killed before recording it.
	strace_run B 1
	# A: s1 is a duplicate (recorded: rename 1), s2 received, killed
	# before recording it.
	strace_run A 2
	# B: s1 duplicate, recorded (rename 1); now both have it: it leaves
	# the queue, killed as the ledger forgets it.
	strace_run B 2
	assert_not_queued "${names[0]}"
else
	lab_log "strace not found: no kills at exact ledger updates"
fi

RANDOM=$$
for k in $(seq 1 10); do
	if [ $((k % 2)) = 1 ]; then x=A; else x=B; fi
	ms=$((50 + RANDOM % 1500))
	kill_run "$x" "$((ms / 1000)).$(printf '%03d' $((ms % 1000)))"
done

# Normal runs finish the work.
rot_ingest A
assert_exit 0
check_state "a normal run on A"
rot_ingest B
assert_exit 0
check_state "a normal run on B"
for n in "${names[@]}"; do
	assert_not_queued "$n"
	assert_not_quarantined "$n"
done
check_disk A
assert_eq "$NSNAP" "$DISK_N" "snapshots on ${ROT_POOL[A]}"
check_disk B
assert_eq "$NSNAP" "$DISK_N" "snapshots on ${ROT_POOL[B]}"
for x in A B; do
	rot_use "$x"
	for i in $(seq 1 "$NSNAP"); do
		assert_received "s$i"
	done
done
# Every file has left the queue: no ledger line may be left for any of
# them, however the runs before were killed.
stale=$(rot_ledger | while IFS=$'\t' read -r key pool _; do
	[ -e "$key" ] || printf '%s on %s; ' "${key##*/}" "$pool"
done)
[ -z "$stale" ] ||
    lab_fail "every file left the queue, but STATE/ledger still has lines for them: $stale"
assert_ledger_lines 0
rot_export A
rot_export B

lab_pass
