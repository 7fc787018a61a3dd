# shellcheck shell=bash disable=SC2034 # the variables are for the other parts and the scenarios
# tests/lab/assert.sh, sourced by tests/functions.sh:
# assertions

# assert_eq EXPECTED ACTUAL WHAT
assert_eq() {
	[ "$1" = "$2" ] ||
	    lab_fail "$3: expected '$1', got '$2'"
}

# assert_exit CODE[|CODE...]: the last agent run exited with (one of) CODE.
assert_exit() {
	case "|$1|" in
	*"|$AGENT_RC|"*) ;;
	*) lab_fail "exit status of airgap-agent run $LAB_RUNS: expected $1, got $AGENT_RC" ;;
	esac
}

# assert_exists DATASET_OR_SNAPSHOT
assert_exists() {
	zfs list -H -o name "$1" >/dev/null 2>&1 ||
	    lab_fail "$1 does not exist (zfs list: $(zfs list -H -r -t all -o name "${1%%/*}" 2>&1 | tr '\n' ' '))"
}

# assert_absent DATASET_OR_SNAPSHOT
assert_absent() {
	if zfs list -H -o name "$1" >/dev/null 2>&1; then
		lab_fail "$1 exists but must not"
	fi
}

# assert_no_snapshots POOL: nothing at all was received into POOL.
assert_no_snapshots() {
	local snaps

	snaps=$(zfs list -H -r -t snapshot -o name "$1" 2>&1) ||
	    lab_fail "zfs list -r -t snapshot $1 failed: $snaps"
	[ -z "$snaps" ] ||
	    lab_fail "snapshots exist under $1 but must not: $(echo "$snaps" | tr '\n' ' ')"
}

# assert_guid SNAP [TARGET]: TARGET (default $STORE_ROOT@SNAP) exists and has
# the guid of the source snapshot $LAP_FS@SNAP.
assert_guid() {
	local target=${2:-$STORE_ROOT@$1} want got

	want=$(lab_guid "$LAP_FS@$1") || lab_die "no source snapshot $LAP_FS@$1"
	assert_exists "$target"
	got=$(lab_guid "$target") || lab_fail "zfs get guid $target failed"
	[ "$want" = "$got" ] ||
	    lab_fail "guid of $target is $got, source $LAP_FS@$1 has $want"
}

# assert_content SNAP [TARGET]: the files of TARGET (default $STORE_ROOT@SNAP)
# equal the copy of the source taken by lab_snap SNAP.  Reads TARGET through
# a clone mounted under $LAB.
assert_content() {
	local snap=$1 target=${2:-$STORE_ROOT@$1} pool clone mnt out

	[ -d "$LAB/src/$snap" ] || lab_die "no copy of source snapshot $snap"
	assert_exists "$target"
	pool=${target%%/*}
	LAB_CLONES=$((LAB_CLONES + 1))
	clone=$pool/chk_${BASHPID}_$LAB_CLONES
	mnt=$LAB/chk_${BASHPID}_$LAB_CLONES
	zfs clone "$target" "$clone" || lab_fail "zfs clone $target $clone failed"
	zfs set mountpoint="$mnt" "$clone" || lab_fail "zfs set mountpoint on $clone failed"
	if [ "$(zfs get -H -o value mounted "$clone")" != yes ]; then
		zfs mount "$clone" || lab_fail "zfs mount $clone failed"
	fi
	if ! out=$(diff -r "$LAB/src/$snap" "$mnt" 2>&1); then
		lab_destroy "$clone"
		lab_fail "files of $target differ from the source snapshot $snap:
$(printf '%s\n' "$out" | head -n 20)"
	fi
	lab_destroy "$clone"
}

# lab_destroy DATASET: unmount and destroy DATASET; zfs-fuse may report a
# just-used mount as busy for a moment, so retry.
lab_destroy() {

	for _ in 1 2 3 4 5 6 7 8 9 10; do
		zfs unmount "$1" >/dev/null 2>&1 || true
		zfs destroy "$1" 2>/dev/null && return 0
		sleep 0.2
	done
	zfs destroy "$1" || lab_fail "zfs destroy $1 failed"
}

# assert_received SNAP...: guid and contents of each $STORE_ROOT@SNAP are
# right.
assert_received() {
	local snap

	for snap in "$@"; do
		assert_guid "$snap"
		assert_content "$snap"
	done
}

# assert_nothing_received: nothing at all landed on the backup pool (no
# $STORE_ROOT, no snapshot anywhere under $BAK_POOL).
assert_nothing_received() {
	assert_absent "$STORE_ROOT"
	assert_no_snapshots "$BAK_POOL"
}

# assert_queued NAME [HOST]: the file is still in incoming.
assert_queued() {
	[ -f "$INCOMING/${2:-laptop}/$1" ] ||
	    lab_fail "$1 is no longer in $INCOMING/${2:-laptop}/"
}

# assert_not_queued NAME [HOST]: the file is gone from incoming.
assert_not_queued() {
	if [ -e "$INCOMING/${2:-laptop}/$1" ]; then
		lab_fail "$1 is still in $INCOMING/${2:-laptop}/"
	fi
}

# assert_quarantined NAME [HOST]: the file was moved to the quarantine and
# has a non-empty NAME.reason beside it.  A name too long for ".reason" to
# fit in a file name (255 bytes) may be kept under a shortened name that
# begins like NAME, with its own .reason.
assert_quarantined() {
	local dir=$STATE/quarantine/${2:-laptop} f found=''

	assert_not_queued "$1" "${2:-laptop}"
	if [ $((${#1} + 7)) -le 255 ]; then
		[ -f "$dir/$1" ] || lab_fail "$1 is not in $dir/"
		[ -s "$dir/$1.reason" ] || lab_fail "$dir/$1.reason is missing or empty"
		return 0
	fi
	for f in "$dir/${1:0:100}"*; do
		case $f in
		*.reason) ;;
		*) [ -s "$f.reason" ] && found=$f ;;
		esac
	done
	[ -n "$found" ] ||
	    lab_fail "$1 (${#1} bytes) is not in $dir/ under a name beginning like it, with a .reason"
}

# assert_not_quarantined NAME [HOST]
assert_not_quarantined() {
	if [ -e "$STATE/quarantine/${2:-laptop}/$1" ]; then
		lab_fail "$1 was quarantined but must not be"
	fi
}

# lab_outcome NAME [HOST]: print the outcome of NAME in the newest report
# (the last line for NAME; the name may be written as NAME or HOST/NAME).
lab_outcome() {
	local report

	report=$(lab_report_file)
	[ -n "$report" ] || return 0
	awk -F'\t' -v n="$1" -v hn="${2:-laptop}/$1" \
	    '$1 == n || $1 == hn { o = $2 } END { print o }' "$report"
}

# lab_report_line NAME [HOST]: the newest report's line for NAME (written
# NAME or HOST/NAME); it must come from the last run, be the only line for
# NAME and have the report's five fields.
lab_report_line() {
	local name=$1 host=${2:-laptop} report lines

	report=$(lab_report_file)
	[ -n "$report" ] || lab_fail "no report under $STATE/reports/"
	[ "$report" -nt "$LAB/logs/run.$LAB_RUNS.start" ] ||
	    lab_fail "the newest report $report is older than the last run"
	lines=$(awk -F'\t' -v n="$name" -v hn="$host/$name" \
	    '$1 == n || $1 == hn' "$report")
	[ -n "$lines" ] || lab_fail "no line for $name in report $report"
	[ "$(printf '%s\n' "$lines" | wc -l)" = 1 ] ||
	    lab_fail "more than one line for $name in report $report"
	# NAME OUTCOME BYTES SECONDS REASON
	printf '%s\n' "$lines" | awk -F'\t' 'NF != 5 || $3 !~ /^[0-9]+$/ ||
	    $4 !~ /^[0-9]+(\.[0-9]+)?$/ { exit 1 }' ||
	    lab_fail "report line for $name is not NAME<TAB>OUTCOME<TAB>BYTES<TAB>SECONDS<TAB>REASON: $lines"
	printf '%s\n' "$lines"
}

# assert_outcome NAME OUTCOME[|OUTCOME...] [HOST]: the newest report comes
# from the last run and its line for NAME has one of the outcomes, and the
# file is where that outcome puts it: received and duplicate remove it from
# incoming, waiting, held and failed leave it there, quarantined moves it
# to the quarantine.
assert_outcome() {
	local name=$1 want=$2 host=${3:-laptop} got

	lab_report_line "$name" "$host" >/dev/null
	got=$(lab_outcome "$name" "$host")
	case "|$want|" in
	*"|$got|"*) ;;
	*) lab_fail "outcome of $name: expected $want, got '$got'" ;;
	esac
	case $got in
	received | duplicate)
		assert_not_queued "$name" "$host"
		assert_not_quarantined "$name" "$host"
		;;
	waiting | held | failed)
		assert_queued "$name" "$host"
		assert_not_quarantined "$name" "$host"
		;;
	quarantined)
		assert_quarantined "$name" "$host"
		;;
	esac
}

# lab_ingest_expect CODE OUTCOME NAME...: run the ingest (lab_ingest); it
# must exit CODE and give every NAME the OUTCOME (assert_outcome).
lab_ingest_expect() {
	local code=$1 outcome=$2 name

	shift 2
	lab_ingest
	assert_exit "$code"
	for name in "$@"; do
		assert_outcome "$name" "$outcome"
	done
}

# assert_kept COPY REASON: the last run exited 1 and kept the queue file
# $QN as failed, byte for byte COPY (taken before the run), with a
# reason that says REASON.
assert_kept() {
	assert_exit 1
	assert_outcome "$QN" failed
	cmp -s "$QF" "$1" || lab_fail "$QN changed while it was kept"
	case $(lab_report_line "$QN" | cut -f5) in
	*"$2"*) ;;
	*) lab_fail "reason for $QN does not say '$2': $(lab_report_line "$QN")" ;;
	esac
}

# assert_no_file PATH...: none of the paths exists (marker files).
assert_no_file() {
	local f

	for f in "$@"; do
		if [ -e "$f" ]; then
			lab_fail "$f exists but must not"
		fi
	done
}

# lab_pass: the end of a scenario that got this far.
lab_pass() {
	lab_log "all checks passed"
}
