# shellcheck shell=bash disable=SC2034 # the variables are for the other parts and the scenarios
# tests/lab/disks.sh, sourced by tests/functions.sh:
# backup disks: zfs-fuse pools on loop devices, exported like unplugged disks

# lab_bakdisk [NAME [MIB [IMG]]]: a pool NAME (default bakdisk${LAB_TAG}1)
# of MIB MiB (default 128; zfs-fuse wants at least 64) on IMG (default
# $LAB/NAME.img) on a loop device, exported again, so that the agent has
# to import it.  Sets DISK_DEV, DISK_GUID, DISK_IMG, BAK_POOL and
# STORE_ROOT.  At cleanup the pool is destroyed if it is still imported.
lab_bakdisk() {
	local name=${1:-bakdisk${LAB_TAG}1} img

	img=${3:-$LAB/$name.img}
	lab_pool_imported "$name" && lab_die "pool $name already exists"
	truncate -s "${2:-128}M" "$img"
	lab_media_attach "$img"
	DISK_DEV=$LAB_DEV
	zpool create -o cachefile=none -m none "$name" "$DISK_DEV" >>"$LAB/logs/zpool.log" 2>&1 ||
	    lab_die "zpool create $name $DISK_DEV failed (see $LAB/logs/zpool.log)"
	DISK_GUID=$(zpool list -H -o guid "$name") ||
	    lab_die "cannot read the guid of $name"
	LAB_DISK_POOLS+=("$name $DISK_GUID")
	assert_not_cached "$name"
	lab_pool_export "$name"
	lab_udev_wait_pool "$DISK_DEV" "$name" "$DISK_GUID"
	# shellcheck disable=SC2034 # for the scenario scripts
	DISK_IMG=$img
	BAK_POOL=$name
	STORE_ROOT=$BAK_POOL/simplesnap/laptop/$LAP_FS
}

# lab_udev_wait_pool DEV NAME GUID: make udev probe DEV again and wait until
# it sees a member of pool NAME (GUID) there.  Closing the device after
# writing would make udev probe it through its inotify watch; the explicit
# change event does not depend on that watch being in place.
lab_udev_wait_pool() {
	udevadm trigger --action=change "$1" ||
	    lab_die "udevadm trigger $1 failed"
	lab_settle
	for _ in $(seq 1 50); do
		if [ "$(lab_udev_prop "$1" ID_FS_TYPE)" = zfs_member ] &&
		    [ "$(lab_udev_prop "$1" ID_FS_UUID)" = "$3" ]; then
			break
		fi
		sleep 0.1
	done
	[ "$(lab_udev_prop "$1" ID_FS_LABEL)" = "$2" ] ||
	    lab_die "udev does not see $1 as pool $2"
}

# lab_bakdisk_import: import the backup disk's pool (by guid) to look at it.
lab_bakdisk_import() {
	zpool import -o cachefile=none "$DISK_GUID" >>"$LAB/logs/zpool.log" 2>&1 ||
	    lab_fail "zpool import $DISK_GUID ($BAK_POOL) failed"
}

# lab_pool_export POOL: export POOL after looking at it.  zfs-fuse may
# call a pool busy for a moment after its datasets were mounted by an
# import: retry until it is gone (up to 40 tries).
lab_pool_export() {
	for _ in $(seq 1 40); do
		zpool export "$1" >>"$LAB/logs/zpool.log" 2>&1 && return 0
		lab_pool_imported "$1" || return 0
		sleep 0.25
	done
	lab_fail "zpool export $1 keeps failing (see $LAB/logs/zpool.log)"
}

# lab_bakdisk_busy: import the backup disk's pool and keep it busy: a
# dataset $BAK_POOL/busy mounted on $LAB/busy and a process (BUSY_PID,
# killed at cleanup) whose working folder is in it, so that the pool
# cannot be exported while it runs.
lab_bakdisk_busy() {
	lab_bakdisk_import
	zfs create -o mountpoint="$LAB/busy" "$BAK_POOL/busy" ||
	    lab_die "zfs create $BAK_POOL/busy failed"
	if [ "$(zfs get -H -o value mounted "$BAK_POOL/busy")" != yes ]; then
		zfs mount "$BAK_POOL/busy" || lab_die "zfs mount $BAK_POOL/busy failed"
	fi
	(cd "$LAB/busy" && exec sleep 1000) &
	BUSY_PID=$!
	LAB_KILL_PIDS+=("$BUSY_PID")
	for _ in $(seq 1 50); do
		[ "$(readlink "/proc/$BUSY_PID/cwd")" = "$LAB/busy" ] && break
		sleep 0.1
	done
	assert_eq "$LAB/busy" "$(readlink "/proc/$BUSY_PID/cwd")" \
	    "cwd of the process keeping the pool busy"
}

# assert_exported POOL: POOL is not imported.
assert_exported() {
	if lab_pool_imported "$1"; then
		lab_fail "pool $1 is still imported"
	fi
}

# assert_disk_record GUID RESULT: STATE/disks/GUID names the pool and guid
# and has result=RESULT.
assert_disk_record() {
	local f=$STATE/disks/$1 key

	[ -f "$f" ] || lab_fail "no disk record $f"
	for key in "pool=$BAK_POOL" "guid=$1" "result=$2"; do
		grep -qxF "$key" "$f" ||
		    lab_fail "disk record $f has no line $key: $(tr '\n' ' ' <"$f")"
	done
	grep -qx 'last_seen=[0-9][0-9]*' "$f" ||
	    lab_fail "disk record $f has no last_seen time"
}
