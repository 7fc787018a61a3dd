#!/bin/bash
#
# t65-restore-whole-machine: a laptop of several datasets (fs, fs/home,
# fs/home/docs, fs/etc), snapshotted recursively twice, reaches a backup
# disk through `handle`; the laptop is then lost.  On a new machine the
# backup disk is imported (zfs-fuse has neither -N nor a readonly pool; on
# OpenZFS docs/restore.md says `zpool import -N -o readonly=on`), and
# `zfs send -R` of the newest snapshot is received into a fresh pool as
# docs/restore.md says, then made writable and mounted where the laptop
# had it.  Every dataset and snapshot has the laptop's guid, every file
# its content; the backup disk holds what it held before.

# shellcheck source=functions.sh
. "$(dirname "$0")/functions.sh"

lab_appliance_setup
for ds in home home/docs etc; do
	zfs create "$LAP_FS/$ds"
done
lab_write a.txt one
lab_write home/h.txt "home one"
lab_write_random home/docs/big 200
lab_write etc/hosts "127.0.0.1 laptop"
sync
zfs snapshot -r "$LAP_FS@s1"
lab_write home/h.txt "home two"
lab_write home/docs/new.txt "a new document"
lab_remove etc/hosts
lab_write etc/fstab "none"
sync
zfs snapshot -r "$LAP_FS@s2"
mkdir -p "$LAB/src/s2"
cp -a "$LAP_MNT/." "$LAB/src/s2/"

# Each dataset's full and incremental stream, queued in order (parents
# first, as the sender sends them).
n=0
for ds in "" /home /home/docs /etc; do
	zfs send "$LAP_FS$ds@s1" >"$LAB/raw" || lab_die "zfs send $LAP_FS$ds@s1"
	n=$((n + 1))
	lab_queue_raw laptop "$LAB/raw" "$n" "laptop/$LAP_FS$ds"
done
for ds in "" /home /home/docs /etc; do
	zfs send -i @s1 "$LAP_FS$ds@s2" >"$LAB/raw" || lab_die "zfs send -i $LAP_FS$ds@s2"
	n=$((n + 1))
	lab_queue_raw laptop "$LAB/raw" "$n" "laptop/$LAP_FS$ds"
done
rm -f "$LAB/raw"

lab_bakdisk
lab_agent handle "$DISK_DEV"
assert_exit 0
assert_exported "$BAK_POOL"
assert_led safe

# The laptop is lost.
gone=
for _ in $(seq 1 60); do
	if zpool destroy -f "$LAP_POOL" 2>/dev/null; then
		gone=1
		break
	fi
	sleep 0.5
done
[ -n "$gone" ] || lab_die "cannot destroy the laptop's pool $LAP_POOL"

# --- the new machine: docs/restore.md, "a whole machine"
lab_bakdisk_import
NEW=new$$
lab_pool "$NEW"
zfs send -R "$STORE_ROOT@s2" | zfs receive -u "$NEW/fs" ||
    lab_fail "zfs send -R | zfs receive of the whole laptop failed"
zfs set mountpoint="$LAB/rebuilt" "$NEW/fs"
for ds in home home/docs etc; do
	zfs inherit mountpoint "$NEW/fs/$ds"
done
zfs list -H -r -o name "$NEW/fs" | while read -r ds; do
	zfs set readonly=off "$ds"
	zfs set canmount=on "$ds"
	zfs mount "$ds" 2>/dev/null || [ "$(zfs get -H -o value mounted "$ds")" = yes ] ||
	    lab_fail "cannot mount $ds"
done

# What the laptop had, dataset by dataset, snapshot by snapshot.
for ds in "" /home /home/docs /etc; do
	for s in s1 s2; do
		assert_eq "$(lab_guid "$STORE_ROOT$ds@$s")" "$(lab_guid "$NEW/fs$ds@$s")" \
		    "guid of $NEW/fs$ds@$s"
		[ -n "$(lab_guid "$NEW/fs$ds@$s")" ] || lab_fail "$NEW/fs$ds@$s is missing"
	done
done
diff -r "$LAB/src/s2" "$LAB/rebuilt" || lab_fail "the rebuilt laptop's files differ from its s2"
[ ! -e "$LAB/rebuilt/etc/hosts" ] || lab_fail "a file deleted before s2 came back"
touch "$LAB/rebuilt/home/writable" || lab_fail "the rebuilt laptop is not writable"

# The backup disk gave and did not take.
for ds in "" /home /home/docs /etc; do
	[ -n "$(lab_guid "$STORE_ROOT$ds@s2")" ] || lab_fail "$STORE_ROOT$ds@s2 went missing"
done
lab_pool_export "$BAK_POOL"

lab_pass
