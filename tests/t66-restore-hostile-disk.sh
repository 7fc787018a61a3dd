#!/bin/bash
#
# t66-restore-hostile-disk: the restore commands on a backup disk that lies.
# Besides the laptop's dataset it holds datasets with names a shell or an
# option parser would trip on ("-we ird:1" with a snapshot "-x:1", ":.-_";
# zfs allows no more: control bytes, which only a forged pool could hold,
# are escaped by the same code), one whose mountpoint
# points at $LAB/evil with setuid, exec and devices on (and the pool's root
# passing those down), and a dataset already sitting at the name of the
# agent's browse clone.
#  1. `restore list` shows every name as it is, the pool exported after.
#  2. `restore open` refuses while the trap holds the clone's name, and
#     `restore close` does not destroy the trap (it is not the agent's).
#  3. With the trap gone, the hostile dataset's snapshot opens under
#     MOUNT_DIR/browse/POOL with readonly, setuid, exec and devices off;
#     nothing is mounted at $LAB/evil; close takes it away again.
#  4. Names that are not listed snapshots (../, another host's path, a
#     dataset without @) are refused; nothing is opened or written.

# shellcheck source=functions.sh
. "$(dirname "$0")/functions.sh"

lab_appliance_setup
lab_write a.txt one
lab_snap s1
lab_queue s1
lab_bakdisk
lab_agent handle "$DISK_DEV"
assert_exit 0
assert_exported "$BAK_POOL"

# The lies, written onto the disk.
EVIL=$LAB/evil
lab_bakdisk_import
H=$BAK_POOL/simplesnap/laptop
zfs create -o canmount=noauto "$H/-we ird:1" || lab_die "zfs create a weird name"
zfs snapshot "$H/-we ird:1@-x:1"
zfs create -o canmount=noauto "$H/:.-_" || lab_die "zfs create :.-_"
zfs create -o mountpoint="$EVIL" -o canmount=noauto -o setuid=on -o exec=on \
    -o devices=on "$H/evil" || lab_die "zfs create evil"
zfs mount "$H/evil"
printf 'evil\n' >"$EVIL/evil.txt"
sync
zfs snapshot "$H/evil@e1"
zfs unmount "$H/evil"
zfs set setuid=on "$BAK_POOL"
zfs set exec=on "$BAK_POOL"
zfs set devices=on "$BAK_POOL"
zfs create -o mountpoint=none "$BAK_POOL/airgap-agent:browse" || lab_die "zfs create the trap"
lab_pool_export "$BAK_POOL"

# --- 1. list
lab_agent restore list "$BAK_POOL"
assert_exit 0
for want in "  laptop/-we ird:1, 1 snapshot(s)" "  laptop/:.-_, 0 snapshot(s)" \
    "  laptop/evil, 1 snapshot(s)"; do
	grep -qxF "$want" "$AGENT_LOG" || lab_fail "restore list lacks the line '$want'"
done
grep -qF "UTC  laptop/-we ird:1@-x:1" "$AGENT_LOG" || lab_fail "restore list lacks the weird snapshot"
grep -q 'airgap-agent:browse' "$AGENT_LOG" && lab_fail "restore list shows the trap as a backup"
assert_exported "$BAK_POOL"

# --- 2. the trap at the clone's name
lab_agent restore open "$BAK_POOL" laptop/evil@e1
assert_exit 1
assert_exported "$BAK_POOL"
assert_led error
lab_agent restore close "$BAK_POOL"
assert_exit 0
lab_bakdisk_import
zfs list -H -o name "$BAK_POOL/airgap-agent:browse" >/dev/null ||
    lab_fail "restore close destroyed a dataset it did not make"
zfs destroy "$BAK_POOL/airgap-agent:browse"
lab_pool_export "$BAK_POOL"

# --- 3. the hostile dataset, browsed
lab_agent restore open "$BAK_POOL" laptop/evil@e1
assert_exit 0
BROWSE=$MOUNT_DIR/browse/$BAK_POOL
cmp "$BROWSE/evil.txt" <(printf 'evil\n') || lab_fail "the browsed file is not the snapshot's"
clone=$BAK_POOL/airgap-agent:browse
for p in setuid exec devices; do
	assert_eq off "$(zfs get -H -o value "$p" "$clone")" "$p of the browse clone"
done
touch "$BROWSE/x" 2>/dev/null && lab_fail "the browse clone is writable"
m=$(awk -v e="$EVIL" '$2 == e' /proc/self/mounts)
[ -z "$m" ] || lab_fail "the hostile mountpoint was mounted: $m"
lab_agent restore close "$BAK_POOL"
assert_exit 0
assert_exported "$BAK_POOL"
assert_led safe
assert_nothing_mounted "$DISK_DEV"

# --- 4. names that are not listed snapshots
for spec in "laptop/../laptop/evil@e1" "laptop/evil" "laptop/evil@" \
    "../$BAK_POOL/simplesnap/laptop/evil@e1" "other/evil@e1" "laptop/evil@e1@e1"; do
	lab_agent restore open "$BAK_POOL" "$spec"
	assert_exit 1
	grep -q 'the disk has no snapshot' "$AGENT_LOG" || lab_fail "open '$spec': no reason given"
done
assert_exported "$BAK_POOL"
assert_nothing_mounted "$DISK_DEV"
[ ! -e "$STATE/browse/$DISK_GUID" ] || lab_fail "a refused open left a browse record"

lab_pass
