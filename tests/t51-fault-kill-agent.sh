#!/bin/bash
#
# t51-fault-kill-agent: the agent killed with SIGKILL, 20 times, at
# different moments: 15 times (LF_KILLS asks for another number) `ingest`
# on the imported backup pool, at a
# random moment while streams are received (0 to 0.8 s, seeded, after
# the run's first `zfs receive` started; the seed is in the log), and 5
# times `handle` on the disk, aimed at moments a random time rarely hits:
# during
# `zpool import`, while a full stream is received, while an incremental
# stream is received, during `zpool export`, and between the two inner
# snapshots of a compound (zfs send -I) stream.  The queue holds four
# streams of a few MiB (full, two incrementals, a compound one), so that
# kills land in the middle of them.  When a round has received
# everything, the pool's store is destroyed and the queue put back, and
# the next kills hit a new round.
#
# After every kill, once the agent's children are gone: the light does
# not say "safe" unless the pool is exported; the pool is imported and
# healthy or imports cleanly; within a few seconds no partial receive is
# listed (no %recv clone, no dataset without snapshots where a stream was
# being received); every snapshot on the pool has the guid of the source
# snapshot of the same name, and they are a prefix s1..sN of the source;
# every queue file is either still queued or its last snapshot is on the
# pool ("lost" counts the others); nothing is quarantined.
#
# Then one normal run must complete everything: exit 0, "safe", the pool
# exported, every file received and its guid and contents on the pool.

# shellcheck source=functions.sh
. "$(dirname "$0")/functions.sh"
# shellcheck source=lib-faults.sh
. "$(dirname "$0")/lib-faults.sh"

KILLS_RANDOM=${LF_KILLS:-15} # make check-stress sets more
SEED=${LF_SEED:-$$}
RANDOM=$SEED

lab_appliance_setup
lf_timeouts 30 20 30 30 30
lab_log "random seed $SEED (set LF_SEED to repeat it)"

lab_write_random r1 3072
lab_snap s1
lab_write_random r2 3072
lab_snap s2
lab_write_random r3 3072
lab_snap s3
lab_write_random r4 512
lab_snap s4
lab_write_random r5 8192
lab_snap s5
SNAPS=(s1 s2 s3 s4 s5)
declare -A GUID
for s in "${SNAPS[@]}"; do
	GUID[$s]=$(lab_guid "$LAP_FS@$s")
done

NAMES=()
LAST=()
lab_queue s1
NAMES+=("$QN") LAST+=(s1)
lab_queue -i s1 s2
NAMES+=("$QN") LAST+=(s2)
lab_queue -i s2 s3
NAMES+=("$QN") LAST+=(s3)
lab_queue -I s3 s5
NAMES+=("$QN") LAST+=(s5)
mkdir "$LAB/orig"
cp -p "$INCOMING/laptop/"bak* "$LAB/orig/"
BYTES=$(cat "$LAB/orig/"* | wc -c)

lab_bakdisk

MINE=0
kills=0 midrecv=0 random_midrecv=0 rounds=1 completed=0 lost=0 stuck=0

# The pool imported to look at it; MINE says whether this script did it.
pool_up() {
	MINE=0
	lab_pool_imported "$BAK_POOL" && return 0
	zpool import -o cachefile=none "$DISK_GUID" >>"$LAB/logs/zpool.log" 2>&1 || return 1
	MINE=1
}

pool_down() {
	[ "$MINE" = 1 ] || return 0
	lab_pool_export "$BAK_POOL"
	MINE=0
}

has_snap() {
	zfs list -H -o name "$STORE_ROOT@$1" >/dev/null 2>&1
}

# check WHAT: everything the header promises after a kill.
check() {
	local what=$1 imported=no all p snaps name g snap gap='' i

	lf_wait_gone "zfs receive -u $BAK_POOL/|zpool import .*$DISK_GUID|zpool export $BAK_POOL" 30
	lab_pool_imported "$BAK_POOL" && imported=yes
	if [ "$(lf_light)" = safe ] && [ "$imported" = yes ]; then
		lf_bug "$what: the light says safe, yet $BAK_POOL is imported"
	fi
	if ! pool_up; then
		lf_bug "$what: $BAK_POOL does not import: $(tail -n 3 "$LAB/logs/zpool.log")"
		return 0
	fi
	[ "$(zpool list -H -o health "$BAK_POOL")" = ONLINE ] ||
	    lf_bug "$what: $BAK_POOL is $(zpool list -H -o health "$BAK_POOL")"
	# A receive that did not finish: a %recv clone, or the stream's new
	# dataset without any snapshot.
	for _ in $(seq 1 50); do
		all=$(zfs list -H -t all -r -o name "$BAK_POOL")
		p=$(grep '%' <<<"$all" || true)
		if grep -qxF "$STORE_ROOT" <<<"$all" && ! grep -qF "$STORE_ROOT@" <<<"$all"; then
			p="$p $STORE_ROOT (no snapshot)"
		fi
		[ -n "${p// /}" ] || break
		sleep 0.2
	done
	[ -z "${p// /}" ] || lf_bug "$what: a partial receive is still listed after 10 s: $p"
	snaps=$(lf_snaps "$BAK_POOL")
	while read -r name g; do
		[ -n "$name" ] || continue
		snap=${name#"$STORE_ROOT@"}
		if [ "$name" != "$STORE_ROOT@$snap" ] || [ "${GUID[$snap]:-}" != "$g" ]; then
			lf_bug "$what: $name (guid $g) is not a snapshot of the source"
		fi
	done <<<"$snaps"
	for s in "${SNAPS[@]}"; do
		if grep -q "^$STORE_ROOT@$s " <<<"$snaps"; then
			[ -z "$gap" ] || lf_bug "$what: $STORE_ROOT@$s exists but @$gap does not"
		else
			gap=${gap:-$s}
		fi
	done
	for i in "${!NAMES[@]}"; do
		[ ! -e "$INCOMING/laptop/${NAMES[$i]}" ] || continue
		if ! grep -q "^$STORE_ROOT@${LAST[$i]} " <<<"$snaps"; then
			lost=$((lost + 1))
			lf_bug "$what: ${NAMES[$i]} left the queue, yet @${LAST[$i]} is not on the pool"
		fi
	done
	if [ -n "$(find "$STATE/quarantine" -type f 2>/dev/null)" ]; then
		lf_bug "$what: files were quarantined: $(find "$STATE/quarantine" -type f)"
	fi
	pool_down
}

# A new round: nothing received, the whole queue back; the pool is left
# imported or exported as it was.
reset_round() {
	pool_up || lab_die "cannot import $BAK_POOL to reset it"
	for _ in $(seq 1 20); do
		zfs list -H -o name "$BAK_POOL/simplesnap" >/dev/null 2>&1 || break
		zfs destroy -r "$BAK_POOL/simplesnap" 2>>"$LAB/logs/zpool.log" && break
		sleep 0.3
	done
	zfs list -H -o name "$BAK_POOL/simplesnap" >/dev/null 2>&1 &&
	    lab_die "cannot destroy $BAK_POOL/simplesnap for a new round"
	rm -f "$INCOMING/laptop/"bak*
	cp -p "$LAB/orig/"* "$INCOMING/laptop/"
	pool_down
	rounds=$((rounds + 1))
}

queue_empty() {
	[ "$(lf_queue_count)" = 0 ]
}

# kill_now WHAT: SIGKILL to the running handle, then the checks.
kill_now() {
	if ! kill -0 "$LF_PID" 2>/dev/null; then
		lf_agent_wait 5
		lab_log "$1: the run ended (exit $AGENT_RC) before the kill"
		return 1
	fi
	if pgrep -f "zfs receive -u $BAK_POOL/" >/dev/null; then
		midrecv=$((midrecv + 1))
	fi
	lf_kill_agent
	kills=$((kills + 1))
	lab_log "kill $kills: $1"
	check "kill $kills ($1)"
	return 0
}

# Random moments while streams are received: `ingest` on the imported
# pool, killed 0 to 0.8 s (random) after its first `zfs receive` started.
pool_up || lab_die "cannot import $BAK_POOL"
iter=0
while [ "$kills" -lt "$KILLS_RANDOM" ] && [ "$iter" -lt $((KILLS_RANDOM * 4)) ]; do
	iter=$((iter + 1))
	! queue_empty || reset_round
	ms=$((RANDOM % 800))
	lf_agent_bg ingest "$BAK_POOL"
	for _ in $(seq 1 3000); do
		pgrep -f "zfs receive -u $BAK_POOL/" >/dev/null && break
		kill -0 "$LF_PID" 2>/dev/null || break
		sleep 0.005
	done
	sleep "$((ms / 1000)).$(printf '%03d' $((ms % 1000)))"
	if ! kill_now "ingest, $ms ms after the first zfs receive started"; then
		completed=$((completed + 1))
		check "uninterrupted run $LAB_RUNS"
		if [ "$AGENT_RC" != 0 ]; then
			# Not complete after a kill: recorded once, then a new
			# round, so that the next kills hit real work again.
			stuck=$((stuck + 1))
			[ "$stuck" != 1 ] ||
			    lf_bug "the run after kill $kills does not complete: exit $AGENT_RC: $(cut -f 1,2,5 "$(lab_report_file)" | tr '\n' ' ')"
			reset_round
		fi
	fi
done
[ "$kills" = "$KILLS_RANDOM" ] || lab_die "only $kills random kills in $iter runs"
random_midrecv=$midrecv
MINE=1
pool_down

# aim WHAT PATTERN: a fresh round, then a kill while a process whose
# command line has PATTERN runs.
aim_proc() {
	reset_round
	lf_watch_start 60 note proc "$2"
	lf_agent_bg handle "$DISK_DEV"
	lf_watch_end || true
	kill_now "$1 ($LF_WATCHED)" || lab_die "aimed kill missed: $1"
}

# aim_snap WHAT SNAP [ABSENT]: a fresh round, then a kill once SNAP is on
# the pool (and, if given, ABSENT is not yet), while a receive runs.
aim_snap() {
	local hit=''

	reset_round
	lf_agent_bg handle "$DISK_DEV"
	for _ in $(seq 1 3000); do
		if { [ "$2" = none ] || has_snap "$2"; } &&
		    pgrep -f "zfs receive -u $BAK_POOL/" >/dev/null; then
			if [ -z "${3:-}" ] || ! has_snap "$3"; then
				hit=1
			fi
			break
		fi
		kill -0 "$LF_PID" 2>/dev/null || break
		sleep 0.01
	done
	if [ -z "$hit" ]; then
		lab_log "aim '$1' missed its moment"
		kill_now "$1 (missed)" || true
		return 1
	fi
	[ -n "${3:-}" ] || sleep 0.1
	kill_now "$1" || lab_die "aimed kill missed: $1"
}

aim_proc "during zpool import" "cachefile=none $DISK_GUID"
aim_snap "during the full receive of s1" none
aim_snap "during the incremental receive of s2" s1
aim_proc "during zpool export" "zpool export $BAK_POOL"
# Between the compound stream's inner snapshots: s4 received, s5 not yet.
compound='missed in 3 tries'
for try in 1 2 3; do
	if aim_snap "between s4 and s5 of the compound stream (try $try)" s4 s5; then
		compound="hit (try $try)"
		break
	fi
done

# One normal run completes everything.
lab_agent handle "$DISK_DEV"
final="exit $AGENT_RC, light $(lf_light)"
left=$(lf_queue_count)
if [ "$AGENT_RC" != 0 ] || [ "$(lf_light)" != safe ] || [ "$left" != 0 ]; then
	lf_bug "after $kills kills, a normal run does not complete: $final, $left file(s) still queued: $(cut -f 1,2,5 "$(lab_report_file)" | tr '\n' ' ')"
fi
assert_exported "$BAK_POOL"
check "the normal run"
lab_bakdisk_import
for s in "${SNAPS[@]}"; do
	if [ "$left" = 0 ] || has_snap "$s"; then
		assert_guid "$s"
	fi
done
[ "$left" != 0 ] || assert_content s5

lf_result "kill-9: $kills kills ($KILLS_RANDOM of ingest at random moments while receiving, $((kills - KILLS_RANDOM)) of handle aimed at import, full receive, incremental receive, export, compound stream), $midrecv with a zfs receive child running ($random_midrecv of the random ones), $rounds rounds, $completed uninterrupted runs ($stuck of them stuck with a held file), ${#NAMES[@]} files, $BYTES bytes, lost $lost; compound window $compound; then a normal run: $final, $left file(s) left queued"
lf_finish
