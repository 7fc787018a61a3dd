# shellcheck shell=bash
# v05-powercut, the guest's part: see v05-powercut.sh.  Arguments: the
# number and point of the cut this boot checks ("setup" and "-" in boot
# 1), then the number and point of the cut it aims at next ("-": none).
# shellcheck source=tests/vm/guest-lib.sh
. /mnt/host/lib.sh
# shellcheck source=tests/vm/guest-box.sh
. /mnt/host/box.sh

DEADLINE=600
FORGED=$BOX/forged

result() {
	printf '%s\n' "$2" >"$GUEST_OUT/$1"
	guest_log "$1: $2"
}

# --- aiming at a cut point

# queue_next: the laptop's next snapshot, queued; prints its name.
queue_next() {
	local n prev

	n=$(($(wc -l <"$BOX_LAP/snaps") + 1))
	prev=$(tail -n 1 "$BOX_LAP/snaps" | cut -d ' ' -f 1)
	box_snap "s$n" 3 >&2
	box_queue "s$n" "$prev" >&2
}

# forge: a copy of the newest queued file with one byte changed in its
# middle, queued under a newer name as NNCP would have tossed it; the
# original kept in FORGED and in BOX_SENT (the queue check compares).
forge() {
	local src=$BOX_SENT/$BOX_QN name size

	name="bakfsfmt2-$(date +%s).999999999.$$_laptop@lap@home"
	cp "$src" "$BOX_SENT/$name"
	size=$(stat -c %s "$src")
	printf '\x5a' | dd of="$BOX_SENT/$name" bs=1 seek=$((size / 2)) conv=notrunc status=none
	cmp -s "$src" "$BOX_SENT/$name" && guest_fail "the forged file equals its source"
	install -o nncp -g nncp -m 600 "$BOX_SENT/$name" "$BOX_INCOMING/laptop/$name"
	printf '%s\n' "$name" >>"$FORGED"
	sync # as nncp-toss would have: what it tossed outlives a power cut
}

# spin_until SECONDS WHAT EXPRESSION...: until the test EXPRESSION
# holds, looked at by the shell itself without a pause (no process
# started, so no step of the agent slips by between two looks).
spin_until() {
	local limit=$1 what=$2 t0=$SECONDS

	shift 2
	until [ "$@" ]; do
		[ $((SECONDS - t0)) -lt "$limit" ] || guest_fail "$what: not within $limit s"
	done
}

aim() {
	local i=$1 what medium variant

	IFS=: read -r what medium variant <<<"$2"
	box_mark "aim-$i"
	if [ "$what" = stick ]; then
		systemctl stop airgap-agent
		queue_next
		guest_step "plug-$i"
		box_stick_write /dev/disk/by-label/NNCPSTICK1
		box_start
		if [ "$variant" = toss ]; then
			box_wait_proc 120 "nncp-toss" 'nncp-toss'
		else
			box_wait_proc 120 "nncp-xfer -rx reading the stick" 'nncp-xfer .*-rx'
			guest_wait 60 "a packet being copied into the spool" \
			    test -n "$(find /var/spool/nncp/tmp -type f -size +0 2>/dev/null)"
			sleep "$variant"
		fi
		guest_step "cut-$i" 600
		return
	fi
	queue_next
	box_deliver
	[ "$what" != quarantine ] || forge
	touch "$BOX/aim"
	guest_step "plug-$i"
	case $what:$variant in
	recv:*)
		box_wait_proc 120 "zfs receive into $medium" "zfs receive .*$medium/"
		sleep "$variant"
		pgrep -f "zfs receive .*$medium/" >/dev/null ||
		    guest_fail "the receive ended before the cut"
		;;
	ledger:tmp)
		# The temporary file, or (had it come and gone between two
		# looks) the new ledger.
		spin_until 300 "a ledger update" -e "$BOX_STATE/ledger.tmp" -o \
		    "$BOX_STATE/ledger" -nt "$BOX/aim" ;;
	ledger:renamed)
		spin_until 300 "a new ledger" "$BOX_STATE/ledger" -nt "$BOX/aim" ;;
	quarantine:reason)
		spin_until 300 "a reason in quarantine" \
		    -e "$BOX_STATE/quarantine/laptop/$(tail -n 1 "$FORGED").reason" ;;
	quarantine:moved)
		spin_until 300 "the forged file in quarantine" \
		    -e "$BOX_STATE/quarantine/laptop/$(tail -n 1 "$FORGED")" ;;
	*) guest_fail "no cut point $what:$variant" ;;
	esac
	guest_step "cut-$i" 600
}

# --- after the power came back

# The pool's snapshots of the laptop's dataset, with guids, into
# $BOX/has.POOL: the last that is known of a disk once it is pulled.
disk_check() {
	local pool=$1 want=() s guids line key p g

	box_import_ro "$pool"
	while read -r s _; do
		want+=("$s")
	done <"$BOX_LAP/snaps"
	box_check_snaps "$pool" "${want[@]}"
	box_snaps "$pool" | tr '\t' ' ' >"$BOX/has.$pool"
	guids=$(cut -d ' ' -f 2 "$BOX/has.$pool")
	# Every claim the ledger makes for this pool is backed by a snapshot
	# on it, and names a file that is still queued.
	while IFS=$'\t' read -r key p g _; do
		[ -e "$key" ] || guest_fail "the ledger names ${key##*/}, which is no longer queued"
		[ "$p" = "$pool" ] || continue
		grep -qx "$g" <<<"$guids" ||
		    guest_fail "the ledger says $pool has ${key##*/} (guid $g), the disk does not"
	done <"$BOX_STATE/ledger"
	box_export "$pool"
	line="$pool: $(wc -l <"$BOX/has.$pool") snapshots"
	printf '%s\n' "$line"
}

# Nothing lost: each genuine file the laptop queued is still queued, or
# both disks had its snapshot when last seen (only then may it leave);
# each forged one is in quarantine once, byte for byte, and not queued.
lost_check() {
	local q s d n=0 f copies

	while read -r q s; do
		grep -qx "$q" "$FORGED" 2>/dev/null && continue
		[ ! -e "$BOX_INCOMING/laptop/$q" ] || continue
		for d in bakdisk1 bakdisk2; do
			grep -q "^$s $(box_guid "$s")\$" "$BOX/has.$d" 2>/dev/null ||
			    guest_fail "$q ($s) left the queue, but $d did not have $s"
		done
		n=$((n + 1))
	done <"$BOX_LAP/queued"
	while read -r q; do
		[ ! -e "$BOX_INCOMING/laptop/$q" ] || continue
		copies=0
		for f in "$BOX_STATE"/quarantine/laptop/"$q"*; do
			case $f in *.reason) continue ;; esac
			cmp -s "$f" "$BOX_SENT/$q" || guest_fail "quarantined $f differs from the forged file"
			copies=$((copies + 1))
		done
		guest_eq "quarantined copies of $q" 1 "$copies"
	done < <(cat "$FORGED" 2>/dev/null)
	echo "$n"
}

# The outcome a run must give: error when it quarantined a forged file
# (it says so), safe otherwise.
check() {
	local i=$1 what medium variant out want queued left has q t0=$SECONDS

	IFS=: read -r what medium variant <<<"$2"
	guest_wait "$DEADLINE" "the $medium plugged at power-on handled" box_count_runs_this_boot 1
	out=$(box_runs_this_boot | box_outcomes)
	want=safe
	if journalctl -b -u airgap-agent -o cat --no-pager | grep -q 'quarantine: .* moved to'; then
		want=error
	fi
	guest_eq "runs after the power cut ($2)" "$want" "$out"
	guest_wait 20 "the light showing $want (it shows $(box_light))" box_light_is "$want"
	queued=$(box_check_queue)
	if [ "$medium" = stick ]; then
		q=$(tail -n 1 "$BOX_LAP/queued" | cut -d ' ' -f 1)
		[ -e "$BOX_INCOMING/laptop/$q" ] || guest_fail "the stick's file $q is not queued"
		has="stick emptied into the queue"
	else
		has=$(disk_check "$medium")
	fi
	left=$(lost_check)
	box_check_no_stuck_agent
	box_check_handled_once 1
	result "cut-$i" "after the cut: $medium handled in $((SECONDS - t0)) s, outcome $out, light $(box_light); $has; $queued queued, $left left the queue, 0 lost"
	box_mark "unplug-$i"
	guest_step "unplug-$i"
	guest_wait 30 "the daemon taking the removal" box_journal_since \
	    "$(cat "/run/box-mark.unplug-$i.time")" grep -q removed
}

setup() {
	box_setup rotation
	box_pool bakdisk1 BAKDISK1
	box_pool bakdisk2 BAKDISK2
	: >"$FORGED"
	box_snap s1 2
	box_queue s1
	box_deliver
	guest_step setup-done
	box_start
}

case $1 in
setup) setup ;;
*) box_laptop_import; check "$1" "$2" ;;
esac
if [ "$4" = - ]; then
	result summary "$(wc -l <"$BOX_LAP/snaps") snapshots sent, $(box_check_queue) queued at the end, $(wc -l <"$FORGED") forged file(s) quarantined"
else
	aim "$3" "$4"
fi
guest_log "all checks passed"
