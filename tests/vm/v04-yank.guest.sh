# shellcheck shell=bash
# v04-yank, the guest's part: see v04-yank.sh.
# shellcheck source=tests/vm/guest-lib.sh
. /mnt/host/lib.sh
# shellcheck source=tests/vm/guest-box.sh
. /mnt/host/box.sh

# How long the agent may take to give its verdict on a pulled medium:
# the stall timeout (30 s), the kill grace for a stuck child (10 s), the
# export timeout (30 s), with room for a loaded machine.
DEADLINE=400

# result NAME TEXT: a line for the host's report.
result() {
	printf '%s\n' "$2" >"$GUEST_OUT/$1"
	guest_log "$1: $2"
}

# never_safe MARK: since MARK the light never said "safe".
never_safe() {
	if box_states "$1" | grep -qx safe; then
		guest_fail "the light said safe after the pull: $(box_states "$1" | tr '\n' ' ')"
	fi
}

# hung MARK: a zfs command outlived its timeout since MARK.
hung() {
	box_journal_since "$(cat "/run/box-mark.$1.time")" \
	    grep -qE 'still running after|no answer after|stall timeout|does not die'
}

# light_stays STATE SECONDS: the LED shows STATE's pattern, and still
# does SECONDS later (the daemon has taken the removal by then).
light_stays() {
	guest_wait 20 "the light showing $1 (it shows $(box_light))" box_light_is "$1"
	sleep "$2"
	box_light_is "$1" || guest_fail "the light went from $1 to '$(box_light)' ($(box_states "$3" | tr '\n' ' '))"
}

# disk_pulled MARK COMMAND WHEN: a backup disk was pulled just now (WHEN,
# in words) during the run of MARK.  The run must end without "safe", as
# needs-reboot where COMMAND (in words) outlived its timeout, else as
# needs-reboot or error, and the light must stay so; the result is
# noted.  Sets OUT to the run's outcome.
disk_pulled() {
	local mark=$1 cmd=$2 when=$3 t0=$SECONDS

	box_wait_runs "$mark" 1 "$DEADLINE"
	OUT=$(box_runs "$mark" | box_outcomes)
	never_safe "$mark"
	if hung "$mark"; then
		guest_eq "the outcome once $cmd outlived its timeout" needs-reboot "$OUT"
	fi
	[ "$OUT" = needs-reboot ] || [ "$OUT" = error ] || guest_fail "outcome $OUT for the disk pulled $when"
	light_stays "$OUT" 5 "$mark"
	result "$mark" "outcome $OUT after $((SECONDS - t0)) s; light $(box_light); states $(box_states "$mark" | tr '\n' ' '); beeps $(box_beeps "$mark")"
}

STEPS=" $1 "
wants() {
	case $STEPS in *" $1 "*) return 0 ;; esac
	return 1
}

# --- the stick pulled while nncp-xfer -rx copies from it
step_stick() {
	local t0 out

	box_mark stick
	guest_step plug-stick 600
	box_wait_proc 300 "nncp-xfer -rx reading the stick" 'nncp-xfer .*-rx'
	guest_wait 120 "a packet half copied into the spool" \
	    test -n "$(find /var/spool/nncp/tmp -type f -size +0 2>/dev/null)"
	guest_step pull-stick
	t0=$SECONDS
	box_wait_runs stick 1 "$DEADLINE"
	out=$(box_runs stick | box_outcomes)
	[ "$out" != safe ] || guest_fail "the stick pulled during nncp-xfer was called safe"
	never_safe stick
	light_stays error 3 stick
	result stick "outcome $out after $((SECONDS - t0)) s; light $(box_light); states $(box_states stick | tr '\n' ' '); beeps $(box_beeps stick)"
	guest_eq "beeps for the pulled stick" "$(box_tones working) $(box_tones error)" "$(box_beeps stick)"
	box_check_no_stuck_agent
}

# --- bakdisk1 pulled while zfs receive writes to it
step_recv() {
	box_mark recv
	guest_step plug-bak1 600
	box_wait_proc 300 "zfs receive into bakdisk1" 'zfs receive .*bakdisk1/'
	sleep 2
	pgrep -f 'zfs receive .*bakdisk1/' >/dev/null || guest_fail "the receive ended before the pull"
	guest_step pull-bak1
	disk_pulled recv "a zfs command" "while zfs receive wrote to it"
	guest_eq "beeps for the pulled disk" "$(box_tones working) $(box_tones "$OUT")" "$(box_beeps recv)"
	guest_eq "queued files after the pull" "$QUEUED" "$(box_check_queue)"
	box_check_no_stuck_agent
	ps -eo pid,ppid,stat,wchan:30,args | awk '$3 ~ /^D/' | sed 's/^/    D: /'
	box_agent_procs | sed 's/^/    agent: /'
	systemctl is-active --quiet airgap-agent || guest_fail "the watch daemon is not running"
}

# --- the daemon goes on: the stick again, now read to its end
step_stick_again() {
	local out

	box_mark stick2
	guest_step plug-stick-again 600
	box_wait_runs stick2 1 "$DEADLINE"
	out=$(box_runs stick2 | box_outcomes)
	result stick-again "outcome $out; light $(box_light); states $(box_states stick2 | tr '\n' ' ')"
	guest_eq "the stick's second run" safe "$out"
	QUEUED=3
	guest_eq "queued files after the stick" "$QUEUED" "$(box_check_queue)"
	guest_step pull-stick-again
	guest_wait 20 "the daemon taking the stick's removal" box_journal_since \
	    "$(cat /run/box-mark.stick2.time)" grep -q 'removed'
}

# --- bakdisk2 pulled during its export
step_export() {
	box_mark export
	guest_step plug-bak2 600
	box_wait_proc 600 "zpool export of bakdisk2" 'zpool export bakdisk2'
	guest_step pull-bak2
	disk_pulled export "zpool export" "during its export"
	guest_eq "queued files after the export pull" "$QUEUED" "$(box_check_queue)"
	box_check_no_stuck_agent
	ps -eo pid,ppid,stat,wchan:30,args | awk '$3 ~ /^D/' | sed 's/^/    D: /'
}

boot1() {
	box_setup rotation
	box_pool bakdisk1 BAKDISK1
	box_pool bakdisk2 BAKDISK2
	# s1 reached backupsvr earlier; s2 and s3 are on the stick (or, when
	# no stick is pulled, reached backupsvr too).
	box_snap s1 6
	box_queue s1
	box_deliver
	box_snap s2 2
	box_queue s2 s1
	box_snap s3 2
	box_queue s3 s2
	if wants stick; then
		box_stick_write /dev/disk/by-label/NNCPSTICK1
		guest_eq "packets on the stick" 2 "$(wc -l <"$BOX/stick.sha256")"
		QUEUED=1
	else
		box_deliver
		QUEUED=3
	fi
	guest_eq "queued files" "$QUEUED" "$(box_check_queue)"
	guest_step unplug-all
	box_start
	! wants stick || step_stick
	! wants recv || step_recv
	! wants stick-again || step_stick_again
	! wants export || step_export
	sync
	guest_step reboot
}

# After the reboot, both disks plugged in at power-on: each imports and
# gets what it lacks; the queue empties once both have everything.
boot2() {
	local out

	guest_wait "$DEADLINE" "both disks handled after the reboot" box_count_runs_this_boot 2
	out=$(box_runs_this_boot | box_outcomes)
	result after-reboot "outcomes $out; light $(box_light)"
	guest_eq "outcomes after the reboot" "safe safe" "$out"
	box_light_is safe || guest_fail "the light shows '$(box_light)', not safe"
	for p in bakdisk1 bakdisk2; do
		box_import_ro "$p"
		box_check_snaps "$p" s1 s2 s3
		box_export "$p"
	done
	guest_eq "queued files once both disks have them" 0 "$(box_check_queue)"
	guest_eq "ledger lines" 0 "$(wc -l <"$BOX_STATE/ledger")"
	box_check_no_stuck_agent
	box_check_handled_once 2
}

case $VM_BOOT in
1) boot1 ;;
2) boot2 ;;
esac
guest_log "all checks passed"
