#!/bin/bash
#
# t46-rotation-status: what `status` says about the rotation disks, and the
# overdue light.
#
# Rotation A, B; two files are queued and only A is plugged in (handle):
# both received there and kept for B.  `status` shows A as seen, lacking
# nothing and not overdue, and B as never seen, overdue, lacking both
# files (their bytes, and the older file's time); `status --json` has the
# same numbers in its "rotation" array.  A disk record made to look 20 days
# old (last_seen in STATE/disks/GUID) makes A overdue too; 10 days do not
# (rotation_warn_days is 14 by default).  A plugged in while another pool
# of the same name is imported (the import fails): still overdue, its
# record's last_seen unchanged.
#
# The watch daemon, started while a rotation disk is overdue and no medium
# is plugged in, shows the overdue light: LED timer 100 ms on, 4900 ms
# off.  Plugging A in is handled as usual (the light says safe); pulling
# it (the remove event a USB disk makes) brings the overdue light back,
# since B is still overdue.

# shellcheck source=functions.sh
. "$(dirname "$0")/functions.sh"
# shellcheck source=lib-rotation.sh
. "$(dirname "$0")/lib-rotation.sh"

rot_setup
rot_laptop_snaps 2

rot_two_disks
guidA=${ROT_GUID[A]}

t1=1790000000
lab_queue -t "$t1.000000001" s1
n1=$QN
lab_queue -t "$((t1 + 3600)).000000002" -i s1 s2
n2=$QN
bytes=$(($(stat -c %s "$INCOMING/laptop/$n1") + $(stat -c %s "$INCOMING/laptop/$n2")))

t0=$(date +%s)
rot_handle A
assert_exit 0
assert_rot_outcome "$n1" received stays "kept for $poolB"
assert_rot_outcome "$n2" received stays "kept for $poolB"
rot_unplug A
rot_unplug B

# status_text: `status` into $LAB/status.txt.
status_text() {
	"$AGENT" -c "$CONF" status >"$LAB/status.txt" 2>"$LAB/logs/status.log" ||
	    lab_fail "status failed: $(cat "$LAB/logs/status.log")"
}

# status_line POOL: the line for POOL in the rotation section of status.
status_line() {
	awk -v p="$1" '/^rotation:/ { r = 1; next } /^[^ ]/ { r = 0 }
	    r && $1 == p' "$LAB/status.txt"
}

# assert_rotation_json POOL LACKS_FILES LACKS_BYTES OLDEST OVERDUE
#     LAST_SEEN_MIN LAST_SEEN_MAX: the entry for POOL in the last
# status --json ("-" for OLDEST: not checked).
assert_rotation_json() {
	python3 - "$LAB/status.json" "$@" <<'EOF' ||
import json, sys
st = json.load(open(sys.argv[1]))
pool, files, nbytes, oldest, overdue, smin, smax = sys.argv[2:]
rot = st.get("rotation")
if not isinstance(rot, list):
    sys.exit("no rotation array")
e = [x for x in rot if x.get("pool") == pool]
if len(e) != 1:
    sys.exit("%d entries for %s" % (len(e), pool))
e = e[0]
for k in ("pool", "last_seen", "lacks_files", "lacks_bytes", "oldest", "overdue"):
    if k not in e:
        sys.exit("no key %s in %s" % (k, e))
bad = []
if e["lacks_files"] != int(files):
    bad.append("lacks_files %r, expected %s" % (e["lacks_files"], files))
if e["lacks_bytes"] != int(nbytes):
    bad.append("lacks_bytes %r, expected %s" % (e["lacks_bytes"], nbytes))
if oldest != "-" and e["oldest"] != int(oldest):
    bad.append("oldest %r, expected %s" % (e["oldest"], oldest))
if e["overdue"] is not (overdue == "true"):
    bad.append("overdue %r, expected %s" % (e["overdue"], overdue))
if not (isinstance(e["last_seen"], int) and int(smin) <= e["last_seen"] <= int(smax)):
    bad.append("last_seen %r, expected %s..%s" % (e["last_seen"], smin, smax))
if bad:
    sys.exit("; ".join(bad))
EOF
	    lab_fail "status --json, rotation entry for $1: see above; $(cat "$LAB/status.json")"
}

# --- A seen just now, B never
t9=$(date +%s)
status_text
lineA=$(status_line "$poolA")
lineB=$(status_line "$poolB")
if [ -z "$lineA" ] || [ -z "$lineB" ]; then
	lab_fail "status has no rotation lines for $poolA and $poolB: $(cat "$LAB/status.txt")"
fi
case $lineA in
*"lacks 0 file(s), 0 bytes"*) ;;
*) lab_fail "status line for $poolA: expected 'lacks 0 file(s), 0 bytes': $lineA" ;;
esac
case $lineA in
*never* | *overdue*) lab_fail "status line for $poolA says never seen or overdue: $lineA" ;;
esac
case $lineB in
*"last here never"*) ;;
*) lab_fail "status line for $poolB: expected 'last here never': $lineB" ;;
esac
case $lineB in
*"lacks 2 file(s), $bytes bytes, oldest from $(date -u -d "@$t1" '+%Y-%m-%d %H:%M:%S UTC')"*) ;;
*) lab_fail "status line for $poolB: expected 'lacks 2 file(s), $bytes bytes, oldest from ...': $lineB" ;;
esac
case $lineB in
*"WARNING: overdue"*) ;;
*) lab_fail "status line for $poolB: no overdue warning: $lineB" ;;
esac

lab_status_json
assert_rotation_json "$poolA" 0 0 - false "$t0" "$t9"
assert_rotation_json "$poolB" 2 "$bytes" "$t1" true 0 0

# --- A's record made 10 days old: not overdue yet; 20 days: overdue.
rec=$STATE/disks/$guidA
grep -q '^last_seen=' "$rec" || lab_fail "no last_seen in $rec"
old10=$(($(date +%s) - 10 * 86400))
sed -i "s/^last_seen=.*/last_seen=$old10/" "$rec"
lab_status_json
assert_rotation_json "$poolA" 0 0 - false "$old10" "$old10"
old20=$(($(date +%s) - 20 * 86400))
sed -i "s/^last_seen=.*/last_seen=$old20/" "$rec"
lab_status_json
assert_rotation_json "$poolA" 0 0 - true "$old20" "$old20"
assert_rotation_json "$poolB" 2 "$bytes" "$t1" true 0 0
status_text
lineA=$(status_line "$poolA")
case $lineA in
*"last here $(date -u -d "@$old20" '+%Y-%m-%d %H:%M:%S UTC'); lacks 0 file(s), 0 bytes"*"WARNING: overdue"*) ;;
*) lab_fail "status line for $poolA 20 days after it was seen: $lineA" ;;
esac

# --- A plugged in while another pool called like it is imported: the
# import fails, A got nothing, so it is as overdue as before (the record
# says so, last_seen unchanged).
truncate -s 128M "$LAB/impostor.img"
LAB_POOLS+=("$poolA")
zpool create -o cachefile=none -m none "$poolA" "$LAB/impostor.img" >>"$LAB/logs/zpool.log" 2>&1 ||
    lab_die "zpool create of a second $poolA failed"
rot_plug A
lab_agent handle "${ROT_DEV[A]}"
assert_exit 1
grep -q "another pool called $poolA is imported already" "$AGENT_LOG" ||
    lab_fail "the failed import is not explained in the log"
grep -qx 'result=error' "$rec" || lab_fail "the record of $poolA does not say error: $(cat "$rec")"
grep -qx "last_seen=$old20" "$rec" ||
    lab_fail "a disk whose import failed counts as seen: $(grep last_seen "$rec")"
lab_status_json
assert_rotation_json "$poolA" 0 0 - true "$old20" "$old20"
zpool destroy "$poolA" || lab_die "zpool destroy of the second $poolA failed"
rot_unplug A

# --- the watch daemon's idle light while a disk is overdue
lab_watch_start
rot_wait_indicator idle-overdue
assert_eq "trigger=timer delay_on=100 delay_off=4900" \
    "$(lab_led | sed 's/ brightness=[0-9]*//')" "the LED of the idle daemon with an overdue disk"
status_text
grep -q "^light: idle-overdue" "$LAB/status.txt" ||
    lab_fail "status does not show the overdue light: $(head -n 3 "$LAB/status.txt")"

# A plugged in: handled as usual, then the light says safe.
rot_plug A
DISK_DEV=${ROT_DEV[A]}
lab_watch_wait "$poolA" 2
assert_last_run "$DISK_DEV" "$poolA" backup safe
assert_led safe
assert_exported "$poolA"
# A was just seen, B never: pulling A brings the overdue light back.  (A
# loop device detached makes a "change" event with no medium behind it,
# what a USB disk pulled makes a "remove" event for.)
rot_unplug A
rot_wait_indicator idle-overdue
assert_eq "trigger=timer delay_on=100 delay_off=4900" \
    "$(lab_led | sed 's/ brightness=[0-9]*//')" "the LED after pulling $poolA"
grep -q "^message=.*$poolB" "$STATE/indicator" ||
    lab_fail "the overdue light does not name $poolB: $(tr '\n' ' ' <"$STATE/indicator")"
lab_watch_term

lab_status_json
assert_rotation_json "$poolA" 0 0 - false "$t9" "$(date +%s)"
assert_rotation_json "$poolB" 2 "$bytes" "$t1" true 0 0
assert_queued "$n1"
assert_queued "$n2"

rot_plug A
rot_import A
assert_received s1
assert_received s2
rot_export A

lab_pass
