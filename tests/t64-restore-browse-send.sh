#!/bin/bash
#
# t64-restore-browse-send: the way back from a plugged backup disk, at the
# box.  The laptop's snapshots s1, s2 reach the disk through `handle`.
#  1. `restore list` names host, dataset and both snapshots, newest (s2)
#     first, with their dates; the pool is exported after, the light safe.
#  2. `restore open` clones s1 read-only under MOUNT_DIR/browse/POOL (never
#     the dataset's own mountpoint): its files equal the laptop's s1, nothing
#     can be written there, the light says working (do not remove) and a
#     `handle` of the same disk meanwhile refuses to export it.  `restore
#     close` unmounts, destroys the clone (the disk holds only what it
#     received), exports the pool: light safe, nothing mounted.
#  3. `restore send` writes s2 as a stream onto a transport stick with a note
#     (guid, sha256); received on a fresh laptop pool it has the laptop's
#     guid and files.  An unknown snapshot is refused, nothing written.
#  4. `drill` reads every newest snapshot: ok, recorded, shown by status.
#  5. `drill --scrub` also scrubs the pool and waits for it: clean.

# shellcheck source=functions.sh
. "$(dirname "$0")/functions.sh"

lab_appliance_setup
lab_write a.txt one
lab_write_random bin/r1 300
lab_snap s1
lab_write a.txt two
lab_write c/d.txt deep
lab_snap s2
lab_queue s1
lab_queue -i s1 s2
lab_bakdisk
lab_agent handle "$DISK_DEV"
assert_exit 0
assert_exported "$BAK_POOL"
DS=laptop/$LAP_FS

# --- 1. list
lab_agent restore list "$BAK_POOL"
assert_exit 0
grep -qx "host laptop" "$AGENT_LOG" || lab_fail "restore list names no host laptop"
grep -q "^  $DS, 2 snapshot(s)" "$AGENT_LOG" || lab_fail "restore list does not name $DS"
order=$(sed -n "s/^    [0-9-]* [0-9:]* UTC  $(printf '%s' "$DS" | sed 's/[\/.]/\\&/g')@//p" "$AGENT_LOG" | tr '\n' ' ')
assert_eq "s2 s1 " "$order" "snapshots listed newest first"
assert_exported "$BAK_POOL"
assert_led safe

# --- 2. browse
lab_agent restore open "$BAK_POOL" "$DS@s1"
assert_exit 0
BROWSE=$MOUNT_DIR/browse/$BAK_POOL
grep -qF "open read-only at $BROWSE" "$AGENT_LOG" || lab_fail "restore open does not say where"
awk -v d="$BROWSE" '$2 == d' /proc/self/mounts | grep -q . || lab_fail "nothing mounted at $BROWSE"
cmp "$LAB/src/s1/a.txt" "$BROWSE/a.txt" || lab_fail "a.txt browsed differs from the laptop's s1"
cmp "$LAB/src/s1/bin/r1" "$BROWSE/bin/r1" || lab_fail "bin/r1 browsed differs from the laptop's s1"
diff -r "$LAB/src/s1" "$BROWSE" >/dev/null || lab_fail "the browsed tree differs from the laptop's s1"
if touch "$BROWSE/new" 2>/dev/null || rm -f "$BROWSE/a.txt" 2>/dev/null; then
	lab_fail "the browsed snapshot is writable"
fi
assert_led working
grep -q 'do not remove' "$STATE/indicator" || lab_fail "light does not say do not remove"
lab_pool_imported "$BAK_POOL" || lab_fail "pool exported while a snapshot is open"
# A second open, and a handle run of the same disk, leave it as it is.
lab_agent restore open "$BAK_POOL" "$DS@s2"
assert_exit 1
lab_agent handle "$DISK_DEV"
assert_exit 1
lab_pool_imported "$BAK_POOL" || lab_fail "handle exported a pool that is open for browsing"
cmp "$LAB/src/s1/a.txt" "$BROWSE/a.txt" || lab_fail "the open snapshot went away"

lab_agent restore close "$BAK_POOL"
assert_exit 0
assert_exported "$BAK_POOL"
assert_led safe
assert_nothing_mounted "$DISK_DEV"
lab_bakdisk_import
assert_absent "$BAK_POOL/airgap-agent:browse"
assert_received s1
assert_received s2
lab_pool_export "$BAK_POOL"

# --- 3. a stream onto a stick, received on the laptop side
lab_stick_image "$LAB/restore-stick.img"
lab_media_attach "$LAB/restore-stick.img"
STICK_DEV=$LAB_DEV
lab_agent restore send "$BAK_POOL" "$DS@nosuch" "$STICK_DEV"
assert_exit 1
assert_exported "$BAK_POOL"
lab_agent restore send "$BAK_POOL" "$DS@s2" "$STICK_DEV"
assert_exit 0
assert_exported "$BAK_POOL"
assert_led safe
assert_nothing_mounted "$STICK_DEV"
lab_stick_open "$STICK_DEV"
f=$(printf '%s@s2' "$DS" | tr / _)
[ -f "$LAB/stickchk/restore/$f" ] || lab_fail "no restore/$f on the stick: $(ls -la "$LAB/stickchk/restore" 2>&1)"
[ -z "$(find "$LAB/stickchk/restore" -mindepth 1 -name '.*')" ] || lab_fail "a partial file is left on the stick"
grep -qx "guid=$(lab_guid "$LAP_FS@s2")" "$LAB/stickchk/restore/$f.txt" ||
    lab_fail "the note on the stick lacks the guid: $(cat "$LAB/stickchk/restore/$f.txt")"
grep -qx "sha256=$(sha256sum <"$LAB/stickchk/restore/$f" | cut -d' ' -f1)" \
    "$LAB/stickchk/restore/$f.txt" || lab_fail "the note's sha256 is not the stream's"
grep -qx "raw=no" "$LAB/stickchk/restore/$f.txt" || lab_fail "a plain dataset was sent raw"
cp "$LAB/stickchk/restore/$f" "$LAB/stream"
lab_stick_close

lab_pool "new$$"
zfs receive -u "new$$/fs" <"$LAB/stream" || lab_fail "zfs receive of the stream from the stick failed"
assert_eq "$(lab_guid "$LAP_FS@s2")" "$(lab_guid "new$$/fs@s2")" "guid of the restored s2"
zfs set mountpoint="$LAB/restored" "new$$/fs"
zfs mount "new$$/fs" 2>/dev/null || true
diff -r "$LAB/src/s2" "$LAB/restored" >/dev/null || lab_fail "the restored files differ from the laptop's s2"

# --- 4. the drill
lab_agent drill "$BAK_POOL"
assert_exit 0
assert_exported "$BAK_POOL"
assert_led safe
f=$STATE/drills/$DISK_GUID
grep -qx result=ok "$f" || lab_fail "drill record: $(tr '\n' ' ' <"$f")"
grep -qx datasets=1 "$f" || lab_fail "drill record: $(tr '\n' ' ' <"$f")"
lab_status_json
python3 - "$LAB/status.json" "$DISK_GUID" <<'EOF' || lab_fail "status --json shows no ok drill: $(cat "$LAB/status.json")"
import json, sys
d = [x for x in json.load(open(sys.argv[1]))["drills"] if x["guid"] == sys.argv[2]]
sys.exit(0 if len(d) == 1 and d[0]["result"] == "ok" and d[0]["datasets"] == 1 and d[0]["time"] > 0 else 1)
EOF
"$AGENT" -c "$CONF" status | grep -A1 '^restore drills:' | grep -q "$BAK_POOL .*: ok in" ||
    lab_fail "status shows no drill: $("$AGENT" -c "$CONF" status)"

# --- 5. the drill with a scrub: zpool scrub, waited for, found clean
lab_agent drill "$BAK_POOL" --scrub
assert_exit 0
assert_exported "$BAK_POOL"
assert_led safe
grep -qx result=ok "$f" || lab_fail "drill record after the scrub: $(tr '\n' ' ' <"$f")"
grep -qx scrub=yes "$f" || lab_fail "drill record has no scrub: $(tr '\n' ' ' <"$f")"
grep -q "restore drill passed: 1 dataset(s) read end to end, [0-9]* bytes, scrub clean" "$AGENT_LOG" ||
    lab_fail "the drill did not say the scrub was clean"

lab_pass
