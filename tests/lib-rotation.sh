# shellcheck shell=bash
#
# tests/lib-rotation.sh: shared helpers of the scenarios about rotation
# disks, the ledger, per-disk incoming folders and the NNCP exec variant
# (tests/t4N-*.sh).  Sourced after functions.sh, whose appliance lab it
# extends:
#
#   - several backup disks at once, each a zfs-fuse pool on a loop device,
#     known by a letter (A, B, C...): pool bakdisk${LAB_TAG}1, 2, 3... so
#     that the media pattern of the lab's config matches them;
#   - config edits: keys in the ingest group, a host's nncp_node, a media
#     entry of its own;
#   - the ledger (STATE/ledger) and report lines under a rotation, where a
#     received file may stay queued;
#   - the exec variant: backupsvr's NNCP config gets the handler
#     `airgap-agent -c CONF enqueue` for the laptop, and streams are sent
#     with nncp-exec, relayed through the spooler and tossed as the NNCP
#     user;
#   - the watch daemon: wait for a light (lab_watch_term stops it and
#     checks its exit).
#
# Variables:
#   EXECQ                  the agent's ingest.exec_queue ($LAB/execq),
#                          owned by the NNCP user
#   ROT_POOL[X] ROT_GUID[X] ROT_DEV[X] ROT_IMG[X]
#                          pool name, pool guid, loop device (empty while
#                          unplugged) and image of disk X
#   ROT_TOSS_RC            exit status of the last rot_nncp_toss
#
# rot_use X points the variables of functions.sh (BAK_POOL, STORE_ROOT,
# DISK_DEV, DISK_GUID, DISK_IMG) at disk X, so that assert_received and
# the other checks look at that disk.

EXECQ=
ROT_TOSS_RC=
declare -A ROT_POOL=() ROT_GUID=() ROT_DEV=() ROT_IMG=()
# The disk letters in the order they were made.
ROT_DISKS=()

# ---------------------------------------------------------------------------
# setup and config edits

# rot_laptop_snaps N [KIB]: snapshots s1..sN of the laptop's dataset: s1 holds
# a.txt ("one") and a random bin/r1 of KIB KiB (default 128); each next
# one rewrites a.txt ("two", "three", ...).
rot_laptop_snaps() {
	local words=(one two three four five six) i

	lab_write a.txt one
	lab_write_random bin/r1 "${2:-128}"
	lab_snap s1
	for ((i = 2; i <= $1; i++)); do
		lab_write a.txt "${words[i - 1]}"
		lab_snap "s$i"
	done
}

# rot_setup [HOSTSPEC...]: lab_appliance_setup, plus an exec queue owned by
# the NNCP user (which runs `enqueue`) in the config.
rot_setup() {
	lab_appliance_setup "$@"
	EXECQ=$LAB/execq
	mkdir -p "$EXECQ"
	chown "$NNCP_USER:" "$EXECQ"
	chmod 0700 "$EXECQ"
	rot_conf_ingest "exec_queue = \"$EXECQ\";"
}

# rot_conf_check: the agent accepts the config as it is now.
rot_conf_check() {
	"$AGENT" -c "$CONF" check >"$LAB/logs/check.log" 2>&1 ||
	    lab_fail "airgap-agent check rejects the config: $(cat "$LAB/logs/check.log")"
}

# rot_conf_ingest LINE...: add LINEs (settings) to the ingest group.
rot_conf_ingest() {
	local line add=''

	for line in "$@"; do
		add="$add  $line"$'\n'
	done
	grep -qx 'ingest = {' "$CONF" || lab_die "no 'ingest = {' line in $CONF"
	awk -v add="$add" '{ print } $0 == "ingest = {" { printf "%s", add }' \
	    "$CONF" >"$CONF.new" && mv "$CONF.new" "$CONF"
	rot_conf_check
}

# rot_conf_rotation X...: ingest.rotation = the pools of disks X...
rot_conf_rotation() {
	local x list='' sep=''

	for x in "$@"; do
		[ -n "${ROT_POOL[$x]:-}" ] || lab_die "rot_conf_rotation: no disk $x"
		list="$list$sep\"${ROT_POOL[$x]}\""
		sep=', '
	done
	rot_conf_ingest "rotation = [ $list ];"
}

# rot_conf_node HOST NODE_ID: set ingest.hosts[HOST].nncp_node (replacing
# an earlier value).
rot_conf_node() {
	local host=$1 id=$2

	grep -qF "{ name = \"$host\";" "$CONF" || lab_die "no host $host in $CONF"
	awk -v h="{ name = \"$host\";" -v id="$id" '
	index($0, h) {
		comma = ""
		if ($0 ~ /,$/) {
			comma = ","
			sub(/,$/, "")
		}
		gsub(/ nncp_node = "[^"]*";/, "")
		sub(/ *}$/, " nncp_node = \"" id "\"; }")
		$0 = $0 comma
	}
	{ print }' "$CONF" >"$CONF.new" && mv "$CONF.new" "$CONF"
	rot_conf_check
}

# rot_conf_media LINE: add a media entry (a group in libconfig syntax)
# before the others, so that it wins over the lab's bakdisk pattern.
rot_conf_media() {
	grep -qx 'media = (' "$CONF" || lab_die "no 'media = (' line in $CONF"
	awk -v add="  $1," '{ print } $0 == "media = (" { print add }' \
	    "$CONF" >"$CONF.new" && mv "$CONF.new" "$CONF"
	rot_conf_check
}

# ---------------------------------------------------------------------------
# several backup disks

# rot_disk X: make backup disk X (lab_bakdisk: pool bakdisk${LAB_TAG}N on a
# loop device, exported, plugged in) and point the lab at it.
rot_disk() {
	local x=$1

	ROT_DISKS+=("$x")
	lab_bakdisk "bakdisk${LAB_TAG}${#ROT_DISKS[@]}"
	ROT_POOL[$x]=$BAK_POOL
	ROT_GUID[$x]=$DISK_GUID
	ROT_DEV[$x]=$DISK_DEV
	ROT_IMG[$x]=$DISK_IMG
}

# rot_two_disks: the usual rotation of two disks: backup disks A and B
# made (the lab pointing at B) and set as ingest.rotation; sets poolA and
# poolB to their pools.
# shellcheck disable=SC2034 # for the scenario scripts
rot_two_disks() {
	rot_disk A
	rot_disk B
	rot_conf_rotation A B
	poolA=${ROT_POOL[A]}
	poolB=${ROT_POOL[B]}
}

# rot_use X: BAK_POOL, STORE_ROOT, DISK_DEV, DISK_GUID, DISK_IMG of disk X.
rot_use() {
	[ -n "${ROT_POOL[$1]:-}" ] || lab_die "rot_use: no disk $1"
	BAK_POOL=${ROT_POOL[$1]}
	# shellcheck disable=SC2034 # for the assert_* helpers
	STORE_ROOT=$BAK_POOL/simplesnap/laptop/$LAP_FS
	DISK_DEV=${ROT_DEV[$1]}
	DISK_GUID=${ROT_GUID[$1]}
	# shellcheck disable=SC2034 # for the scenario scripts
	DISK_IMG=${ROT_IMG[$1]}
}

rot_imported() {
	[ "$(zpool list -H -o guid "${ROT_POOL[$1]}" 2>/dev/null)" = "${ROT_GUID[$1]}" ]
}

# rot_import X: import disk X's pool (by guid) to look at it or to run
# `ingest` on it, and point the lab at it.
rot_import() {
	rot_use "$1"
	rot_imported "$1" && return 0
	[ -n "${ROT_DEV[$1]}" ] || lab_die "rot_import: disk $1 is unplugged"
	zpool import -o cachefile=none "${ROT_GUID[$1]}" >>"$LAB/logs/zpool.log" 2>&1 ||
	    lab_fail "zpool import ${ROT_GUID[$1]} (${ROT_POOL[$1]}) failed"
}

# rot_export X: export disk X's pool again.
rot_export() {
	rot_imported "$1" || return 0
	lab_pool_export "${ROT_POOL[$1]}"
}

# rot_unplug X: export (if imported) and detach disk X's loop device.
rot_unplug() {
	rot_export "$1"
	[ -n "${ROT_DEV[$1]}" ] || return 0
	lab_media_detach "${ROT_DEV[$1]}"
	ROT_DEV[$1]=
}

# rot_plug X: attach disk X's image again (a new loop device).
rot_plug() {
	[ -z "${ROT_DEV[$1]}" ] || lab_die "rot_plug: disk $1 is plugged in"
	lab_media_attach "${ROT_IMG[$1]}"
	ROT_DEV[$1]=$LAB_DEV
	for _ in $(seq 1 50); do
		[ "$(lab_udev_prop "$LAB_DEV" ID_FS_UUID)" = "${ROT_GUID[$1]}" ] &&
		    return 0
		sleep 0.1
	done
	lab_die "udev does not see $LAB_DEV as pool ${ROT_POOL[$1]}"
}

# rot_handle X: `airgap-agent handle DEV` for the plugged disk X.
rot_handle() {
	rot_use "$1"
	[ -n "$DISK_DEV" ] || lab_die "rot_handle: disk $1 is unplugged"
	assert_exported "$BAK_POOL"
	lab_agent handle "$DISK_DEV"
}

# rot_ingest X: `airgap-agent ingest POOL` for disk X, imported first.
rot_ingest() {
	rot_import "$1"
	lab_agent ingest "$BAK_POOL"
}

# rot_receives X: how many `zfs receive` into STORE_ROOT disk X's pool
# history records (zfs logs each successful receive there).  The pool must
# be imported.
rot_receives() {
	zpool history "${ROT_POOL[$1]}" 2>/dev/null |
	    grep -c " zfs receive .* ${ROT_POOL[$1]}/simplesnap/laptop/$LAP_FS\$" || true
}

# rot_snaps X: the snapshot names (after @) of disk X's STORE_ROOT, oldest
# first, on one line.  The pool must be imported.
rot_snaps() {
	zfs list -H -r -d 1 -t snapshot -o name \
	    "${ROT_POOL[$1]}/simplesnap/laptop/$LAP_FS" 2>/dev/null |
	    sed 's/.*@//' | paste -sd' ' - || true
}

# ---------------------------------------------------------------------------
# the ledger

# rot_key NAME [HOST]: the ledger key of a file in the incoming folder.
rot_key() {
	printf '%s\n' "$INCOMING/${2:-laptop}/$1"
}

# rot_ledger: the ledger's lines (nothing when there is no ledger).
rot_ledger() {
	[ -f "$STATE/ledger" ] || return 0
	cat "$STATE/ledger"
}

# assert_ledger_wellformed: every line of STATE/ledger is
# KEY<TAB>POOL<TAB>GUID<TAB>DATASET with a decimal guid and no empty field,
# and no (KEY, POOL) pair is there twice.
assert_ledger_wellformed() {
	local bad

	[ -f "$STATE/ledger" ] || return 0
	bad=$(awk -F'\t' 'NF != 4 || $1 == "" || $2 == "" || $4 == "" ||
	    $3 !~ /^[1-9][0-9]*$/ { print "line " NR ": " $0; next }
	    seen[$1 FS $2]++ { print "line " NR ": twice: " $0 }' "$STATE/ledger" |
	    cat -A | head -n 5)
	[ -z "$bad" ] || lab_fail "STATE/ledger is malformed: $bad"
	if [ -s "$STATE/ledger" ] && [ "$(tail -c 1 "$STATE/ledger" | od -An -c | tr -d ' ')" != '\n' ]; then
		lab_fail "STATE/ledger does not end with a newline: $(tail -c 200 "$STATE/ledger" | cat -A)"
	fi
}

# assert_ledger_has KEY POOL [GUID [DATASET]]: exactly one line for KEY and
# POOL, with that guid and dataset.
assert_ledger_has() {
	local lines

	assert_ledger_wellformed
	lines=$(rot_ledger | awk -F'\t' -v k="$1" -v p="$2" '$1 == k && $2 == p')
	[ -n "$lines" ] ||
	    lab_fail "STATE/ledger has no line for $1 on $2: $(rot_ledger | cat -A)"
	[ "$(printf '%s\n' "$lines" | wc -l)" = 1 ] ||
	    lab_fail "STATE/ledger has more than one line for $1 on $2: $lines"
	if [ $# -ge 3 ]; then
		[ "$(printf '%s\n' "$lines" | cut -f3)" = "$3" ] ||
		    lab_fail "STATE/ledger: guid for $1 on $2: expected $3: $lines"
	fi
	if [ $# -ge 4 ]; then
		[ "$(printf '%s\n' "$lines" | cut -f4)" = "$4" ] ||
		    lab_fail "STATE/ledger: dataset for $1 on $2: expected $4: $lines"
	fi
}

# assert_ledger_lacks KEY [POOL]: no line for KEY (on POOL).
assert_ledger_lacks() {
	local lines

	assert_ledger_wellformed
	lines=$(rot_ledger | awk -F'\t' -v k="$1" -v p="${2:-}" \
	    '$1 == k && (p == "" || $2 == p)')
	[ -z "$lines" ] ||
	    lab_fail "STATE/ledger still has a line for $1${2:+ on $2}: $lines"
}

# assert_ledger_lines N: the ledger has N lines.
assert_ledger_lines() {
	assert_ledger_wellformed
	assert_eq "$1" "$(rot_ledger | wc -l)" "lines in STATE/ledger ($(rot_ledger | tr '\t\n' ' |'))"
}

# ---------------------------------------------------------------------------
# reports under a rotation

# rot_reason NAME [HOST]: the reason in the newest report's line for NAME.
rot_reason() {
	lab_report_line "$@" | cut -f5
}

# assert_rot_outcome [-r ROOT] NAME OUTCOME stays|leaves [REASON_TEXT]: the
# newest report (from the last run) has one line for NAME with OUTCOME and
# a reason containing REASON_TEXT, and the file is still in ROOT/laptop
# (ROOT: default $INCOMING) or gone from it, and not in the quarantine.
assert_rot_outcome() {
	local OPTIND opt root=$INCOMING line got

	while getopts 'r:' opt; do
		case $opt in
		r) root=$OPTARG ;;
		*) lab_die "assert_rot_outcome: bad option" ;;
		esac
	done
	shift $((OPTIND - 1))
	line=$(lab_report_line "$1")
	got=$(printf '%s\n' "$line" | cut -f2)
	[ "$got" = "$2" ] ||
	    lab_fail "outcome of $1: expected $2, got '$got' ($line)"
	case $3 in
	stays)
		[ -f "$root/laptop/$1" ] ||
		    lab_fail "$1 ($2) must stay queued, but is no longer in $root/laptop/"
		;;
	leaves)
		if [ -e "$root/laptop/$1" ]; then
			lab_fail "$1 ($2) must leave the queue, but is still in $root/laptop/"
		fi
		;;
	*) lab_die "assert_rot_outcome: stays or leaves, not $3" ;;
	esac
	assert_not_quarantined "$1"
	if [ $# -ge 4 ]; then
		case $(printf '%s\n' "$line" | cut -f5) in
		*"$4"*) ;;
		*) lab_fail "reason for $1 does not contain '$4': $line" ;;
		esac
	fi
}

# assert_report_empty: the last run wrote a report without any line.
assert_report_empty() {
	local report

	report=$(lab_report_file)
	[ -n "$report" ] || lab_fail "no report under $STATE/reports/"
	[ "$report" -nt "$LAB/logs/run.$LAB_RUNS.start" ] ||
	    lab_fail "the newest report $report is older than the last run"
	[ ! -s "$report" ] || lab_fail "the report of the last run is not empty: $(cat "$report")"
}

# ---------------------------------------------------------------------------
# NNCP: the exec variant

# rot_nncp_handler: backupsvr's NNCP config runs the agent's enqueue for
# the laptop's `zfsreceive` exec requests.
rot_nncp_handler() {
	local cfg=$NNCP_BSVR_DIR/cfg.hjson inc="      incoming: \"$INCOMING/laptop\""

	grep -qxF "$inc" "$cfg" || lab_die "no incoming line for the laptop in $cfg"
	awk -v inc="$inc" -v ex="      exec: {zfsreceive: [\"$USER_AGENT\", \"-c\", \"$CONF\", \"enqueue\"]}" \
	    '{ print } $0 == inc { print ex }' "$cfg" >"$cfg.new" &&
	    mv "$cfg.new" "$cfg"
	chown "$NNCP_USER:" "$cfg"
	chmod 0600 "$cfg"
	lab_nncp backupsvr stat >/dev/null 2>>"$LAB/logs/nncp.log" ||
	    lab_die "backupsvr's NNCP config is broken after adding exec (see $LAB/logs/nncp.log)"
}

# rot_nncp_exec FILE [DEST]: on the laptop, `nncp-exec -nice B backupsvr
# zfsreceive DEST` (default laptop/$LAP_FS) with FILE on stdin.
rot_nncp_exec() {
	lab_nncp laptop exec -noprogress -nice B backupsvr zfsreceive \
	    "${2:-laptop/$LAP_FS}" <"$1" 2>>"$LAB/logs/nncp.log" ||
	    lab_die "nncp-exec of $1 failed (see $LAB/logs/nncp.log)"
}

# rot_nncp_deliver: laptop -> spooler (lab_nncp_relay), then the spooler's
# packets for backupsvr through a folder into backupsvr's spool (nncp-xfer,
# backupsvr's side as the NNCP user).  Nothing is tossed on backupsvr yet.
rot_nncp_deliver() {
	local dir left

	lab_nncp_relay
	dir=$(mktemp -d "$LAB/xfer.XXXXXX")
	lab_nncp spooler xfer -noprogress -tx -mkdir -node backupsvr "$dir" \
	    2>>"$LAB/logs/nncp.log" ||
	    lab_die "nncp-xfer -tx from the spooler failed (see $LAB/logs/nncp.log)"
	chown -R "$NNCP_USER:" "$dir"
	lab_nncp backupsvr xfer -noprogress -rx "$dir" 2>>"$LAB/logs/nncp.log" ||
	    lab_die "nncp-xfer -rx on backupsvr failed (see $LAB/logs/nncp.log)"
	left=$(find "$dir" -type f | head -n 3)
	[ -z "$left" ] || lab_die "nncp-xfer -rx left packets behind: $left"
	rm -rf "$dir"
}

# rot_nncp_toss: nncp-toss on backupsvr as the NNCP user, from /; its exit
# status in ROT_TOSS_RC, its output appended to $LAB/logs/toss.log.
rot_nncp_toss() {
	ROT_TOSS_RC=0
	(cd / && lab_nncp backupsvr toss -noprogress) >>"$LAB/logs/toss.log" 2>&1 ||
	    ROT_TOSS_RC=$?
	lab_log "nncp-toss on backupsvr -> exit $ROT_TOSS_RC"
}

# rot_execq_files: the files in the exec queue (hidden ones too), one a
# line, relative to $EXECQ.
rot_execq_files() {
	(cd "$EXECQ" && find . -type f | sed 's|^\./||' | sort)
}

# rot_sent_zfs FILE [-i FROM] SNAP: a plain `zfs send` stream into FILE.
rot_sent_zfs() {
	local out=$1

	shift
	zfs send "${@:1:$#-1}" "$LAP_FS@${*: -1}" >"$out" 2>>"$LAB/logs/send.log" ||
	    lab_die "zfs send $* failed (see $LAB/logs/send.log)"
}

# ---------------------------------------------------------------------------
# the watch daemon

# rot_wait_indicator STATE: wait up to 10 s until STATE/indicator says
# state=STATE.
rot_wait_indicator() {
	for _ in $(seq 1 100); do
		grep -qx "state=$1" "$STATE/indicator" 2>/dev/null && return 0
		sleep 0.1
	done
	lab_fail "STATE/indicator does not say state=$1 within 10 s: $(tr '\n' ' ' <"$STATE/indicator")"
}
