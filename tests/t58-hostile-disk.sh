#!/bin/bash
#
# t58-hostile-disk: backup disks that lie.
#  1. A pool labelled like a backup disk whose datasets carry hostile
#     mountpoint properties: /etc/evil-TAG, $LAB/evil and a store dataset
#     mounted at $LAB/evil-store.  zfs-fuse has no `zpool import -N` (the
#     default import_args, which mounts nothing), so the config imports
#     with `-R ALTROOT`, what zfs-fuse offers.  Every mount of the pool is
#     recorded from /proc/self/mounts while `handle` runs: each must be
#     below the altroot; nothing may appear at /etc/evil-TAG, $LAB/evil or
#     $LAB/evil-store; the stream is received and the pool exported.
#     (A dataset mounted through a symbolic link inside another one does
#     get outside an altroot: tests/stress/t58-hostile-mountpoint-escape.sh
#     shows that limit of zfs-fuse, which has no -N.)
#  2. An ext4 filesystem labelled like a backup disk: "not ours" (exit 3),
#     one 300 Hz beep, the LED unchanged, the image untouched.
#  3. Two disks whose pools have the same name but different guids, both
#     plugged in.  The first is imported (by hand, as if a run had left it
#     so): `handle` on the second refuses (exit 1, error light), does not
#     touch either pool, and leaves the stream queued.  Once the first is
#     exported, `handle` on the second imports it by its own guid and the
#     stream lands there, not on the first.

# shellcheck source=functions.sh
. "$(dirname "$0")/functions.sh"
# shellcheck source=lib-faults.sh
. "$(dirname "$0")/lib-faults.sh"

lab_appliance_setup
lf_timeouts 30 20 30 30 30
lf_altroot
EVIL_ETC=/etc/evil-$LAB_TAG
[ ! -e "$EVIL_ETC" ] || lab_die "$EVIL_ETC exists already"
LF_PATHS+=("$EVIL_ETC")
lab_write a.txt one
lab_snap s1
lab_write a.txt two
lab_snap s2

# --- 1. hostile mountpoints
H=bakdisk${LAB_TAG}1
lf_hostile_pool "$H"
zfs create -o mountpoint="$EVIL_ETC" "$H/e1"
zfs create -o mountpoint="$LAB/evil" "$H/e2"
zfs create -o mountpoint="$LAB/evil-store" "$H/simplesnap"
lab_pool_export "$H"
lab_udev_wait_pool "$hdev" "$H" "$hguid"

lab_queue s1
n1=$QN
b1=$(stat -c %s "$QF")
lf_mounts_start "$LAB/logs/mounts.txt" "$H"
lab_agent handle "$hdev"
sleep 0.2
lf_sample_stop
assert_exit 0
assert_led safe
assert_outcome "$n1" received
assert_exported "$H"
lf_mounts_outside "$H"
escaped=$LF_ESCAPED
for p in "$EVIL_ETC" "$LAB/evil" "$LAB/evil-store"; do
	[ ! -e "$p" ] || escaped="$escaped; $p was created"
done
[ -z "$escaped" ] || lf_bug "a hostile backup disk reached outside the altroot: $escaped"
[ -z "$(lf_mounts_of "$H")" ] || lab_fail "still mounted: $(lf_mounts_of "$H")"
# Look at it without its mountpoints mattering.
zpool import -o cachefile=none -R "$LAB/chk" "$hguid" >>"$LAB/logs/zpool.log" 2>&1 || lab_fail "cannot import $H to look at it"
STORE_ROOT=$H/simplesnap/laptop/$LAP_FS
assert_guid s1
lab_pool_export "$H"
lf_result "hostile mountpoints: $LF_NMOUNTS datasets mounted during the run with import_args -R ALTROOT, $LF_NOUTSIDE of them outside it; 1 file, $b1 bytes, received, pool exported, lost 0"

# --- 2. an ext4 filesystem with a backup label
lf_reset_light
led_before=$(lab_led)
truncate -s 32M "$LAB/fake.img"
mkfs.ext4 -q -L "bakdisk${LAB_TAG}9" "$LAB/fake.img"
sum=$(sha256sum <"$LAB/fake.img")
lab_media_attach "$LAB/fake.img"
fake=$LAB_DEV
lab_agent handle "$fake"
assert_exit 3
assert_beeps 300
assert_eq "$led_before" "$(lab_led)" "the LED after a medium that is not ours"
assert_eq none "$(lf_light)" "STATE/indicator after a medium that is not ours"
assert_nothing_mounted "$fake"
lab_media_detach "$fake"
assert_eq "$sum" "$(sha256sum <"$LAB/fake.img")" "checksum of the ext4 image"
grep -q "backup label on something that is not a zfs pool member" "$AGENT_LOG" ||
    lab_fail "the log does not say why the ext4 disk was refused"
lf_result "ext4 labelled bakdisk: exit 3 (not ours), one 300 Hz beep, light unchanged, image unchanged"

# --- 3. two pools with the same name
lab_bakdisk "bakdisk${LAB_TAG}2" 64 "$LAB/same-a.img"
aguid=$DISK_GUID
lab_bakdisk "bakdisk${LAB_TAG}2" 64 "$LAB/same-b.img"
bdev=$DISK_DEV bguid=$DISK_GUID
same=$BAK_POOL
[ "$aguid" != "$bguid" ] || lab_die "the two pools have the same guid"
lab_queue s2
n2=$QN
b2=$(stat -c %s "$QF")
zpool import -o cachefile=none -R "$LAB/chk" "$aguid" >>"$LAB/logs/zpool.log" 2>&1 || lab_die "cannot import the first $same"
lf_reset_light
lab_agent handle "$bdev"
assert_exit 1
assert_led error
assert_not_safe "second pool of the same name"
assert_eq "$aguid" "$(zpool list -H -o guid "$same")" "guid of the imported $same"
assert_queued "$n2"
assert_no_snapshots "$same"
grep -q "another pool called $same is imported already" "$AGENT_LOG" ||
    lab_fail "the log does not say why the second disk was refused"
lab_pool_export "$same"
lab_agent handle "$bdev"
assert_exit 0
assert_led safe
assert_outcome "$n2" received
assert_exported "$same"
zpool import -o cachefile=none -R "$LAB/chk" "$bguid" >>"$LAB/logs/zpool.log" 2>&1 || lab_fail "cannot import the second $same"
STORE_ROOT=$same/simplesnap/laptop/$LAP_FS
assert_guid s2
lab_pool_export "$same"
zpool import -o cachefile=none -R "$LAB/chk" "$aguid" >>"$LAB/logs/zpool.log" 2>&1 || lab_fail "cannot import the first $same"
assert_no_snapshots "$same"
lab_pool_export "$same"
[ ! -e "$STATE/disks/$aguid" ] || lf_bug "the first $same has a disk record, yet it was never handled"
grep -qx "guid=$bguid" "$STATE/disks/$bguid" || lab_fail "no disk record for the second $same"
lf_result "same pool name, two guids: the second refused while the first is imported (exit 1, error light, nothing received); then imported by its own guid and received the stream, the first untouched; 1 file, $b2 bytes, lost 0"
lf_finish
