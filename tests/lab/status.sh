# shellcheck shell=bash disable=SC2034 # the variables are for the other parts and the scenarios
# tests/lab/status.sh, sourced by tests/functions.sh:
# runs, status, mounts

# lab_runs LABEL: the outcomes of the handle runs for LABEL in
# STATE/runs.log, one a line (each line must have its 6 fields).
lab_runs() {
	local log=$STATE/runs.log

	[ -f "$log" ] || return 0
	awk -F'\t' -v l="$1" 'NF != 6 || $1 !~ /^[0-9]+$/ {
		print "bad line in runs.log: " $0 > "/dev/stderr"; exit 1 }
	    $3 == l { print $5 }' "$log" || lab_fail "$log is malformed"
}

# assert_last_run DEV LABEL ROLE OUTCOME: the last line of STATE/runs.log.
assert_last_run() {
	local log=$STATE/runs.log line want

	[ -f "$log" ] || lab_fail "no $log"
	line=$(tail -n 1 "$log")
	want=$(printf '\t%s\t%s\t%s\t%s\t' "$1" "$2" "$3" "$4")
	case $line in
	[0-9]*"$want"*) ;;
	*) lab_fail "last line of runs.log: expected TIME<TAB>$1<TAB>$2<TAB>$3<TAB>$4<TAB>MESSAGE, got: $line" ;;
	esac
}

# lab_status_json: run `status --json` into $LAB/status.json, which must
# parse as JSON.
lab_status_json() {
	"$AGENT" -c "$CONF" status --json >"$LAB/status.json" \
	    2>"$LAB/logs/status.log" ||
	    lab_fail "status --json failed: $(cat "$LAB/logs/status.log")"
	python3 -m json.tool "$LAB/status.json" >/dev/null 2>"$LAB/logs/json.log" ||
	    lab_fail "status --json is not JSON: $(cat "$LAB/logs/json.log"): $(head -c 2000 "$LAB/status.json")"
}

# assert_status_disk GUID RESULT: the last status --json lists the disk.
assert_status_disk() {
	python3 - "$LAB/status.json" "$1" "$BAK_POOL" "$2" <<'EOF' ||
import json, sys
st = json.load(open(sys.argv[1]))
d = [x for x in st.get("disks", []) if x.get("guid") == sys.argv[2]]
sys.exit(0 if len(d) == 1 and d[0].get("pool") == sys.argv[3]
         and d[0].get("result") == sys.argv[4] else 1)
EOF
	    lab_fail "status --json does not show disk $1 ($BAK_POOL) with result $2: $(cat "$LAB/status.json")"
}

# assert_nothing_mounted [DEV...]: nothing below MOUNT_DIR is mounted, no
# mountpoint is left there, and none of the DEVs is mounted anywhere.
assert_nothing_mounted() {
	local m dev

	m=$(awk -v d="$MOUNT_DIR" 'index($2, d "/") == 1 || $2 == d' /proc/self/mounts)
	[ -z "$m" ] || lab_fail "still mounted below $MOUNT_DIR: $m"
	for dev in "$@"; do
		m=$(awk -v d="$dev" '$1 == d' /proc/self/mounts)
		[ -z "$m" ] || lab_fail "$dev is still mounted: $m"
	done
	if [ -d "$MOUNT_DIR" ]; then
		m=$(find "$MOUNT_DIR" -mindepth 1 | head -n 5)
		[ -z "$m" ] || lab_fail "left behind below $MOUNT_DIR: $m"
	fi
}
