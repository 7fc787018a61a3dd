# shellcheck shell=bash disable=SC2034 # the variables are for the other parts and the scenarios
# tests/lab/appliance.sh, sourced by tests/functions.sh:
# the appliance: NNCP nodes, transport sticks and backup disks on loop
# devices, udev, the light and the beeper
#
# lab_appliance_setup builds the lab of "handle" and "watch": the usual keys
# and laptop pool, three real NNCP nodes (laptop, spooler, backupsvr; the
# agent runs backupsvr's tools as the nncp user), a fake LED folder and a
# beeper file, and a config with the appliance keys.  Sticks are ext4
# images, backup disks zfs-fuse pools on loop devices; udev sees both.
#
# Every media label carries LAB_TAG, and the config's media patterns do too,
# so that a scenario never touches media that another run on the same
# machine has plugged in (and a watch daemon ignores them).
#
# Variables:
#   LAB_TAG            five digits, unique to the scenario
#   STICK_LABEL        label of the sticks (NNCPSTICK${LAB_TAG}1)
#   MOUNT_DIR          the agent's mount_dir ($LAB/media)
#   LED BEEPER         the LED folder and the beeper file of the config
#   NNCP_USER          the user NNCP runs as on the backup server (nncp)
#   NNCP_FOREIGN_UID   owner of a stick's files as written elsewhere (4242)
#   NNCP_BSVR_DIR      backupsvr's NNCP folder (config, spool, log)
#   LAP_ID SPOOLER_ID BSVR_ID          NNCP node ids
#   STICK_IMG STICK_PACKETS            last stick image, packets put on it
#   LAB_DEV            loop device of the last lab_media_attach
#   DISK_DEV DISK_GUID DISK_IMG        the last backup disk; lab_bakdisk also
#                                      sets BAK_POOL and STORE_ROOT
#   LAB_WATCH_PID      the running watch daemon
#   LAB_KILL_PIDS      processes a scenario started; killed at cleanup

LAB_TAG=$(printf '%05d' $(($$ % 100000)))
STICK_LABEL=NNCPSTICK${LAB_TAG}1
NNCP_USER=nncp
NNCP_FOREIGN_UID=4242
MOUNT_DIR=
LED=
BEEPER=
NNCP_BSVR_DIR=
LAP_ID=
SPOOLER_ID=
BSVR_ID=
STICK_IMG=
STICK_PACKETS=
LAB_DEV=
DISK_DEV=
DISK_GUID=
DISK_IMG=
LAB_WATCH_PID=
LAB_UDEVD_PID=
LAB_KILL_PIDS=()
LAB_DISK_POOLS=()

# lab_appliance_setup [HOSTSPEC...]: lab_init, keys, laptop pool, NNCP nodes,
# LED and beeper, udev, and the config (HOSTSPEC as for lab_config).
lab_appliance_setup() {
	lab_init
	# NNCP runs as $NNCP_USER and must reach its folders inside the lab.
	chmod 0711 "$LAB"
	LAB_CLEANUP_FIRST+=(lab_appliance_cleanup)
	LAB_CLEANUP_LAST+=(lab_appliance_check_clean lab_udev_stop)
	MOUNT_DIR=$LAB/media
	lab_udev_start
	lab_keys
	lab_laptop
	lab_nncp_lab
	lab_indicators
	lab_appliance_config "$@"
}

# lab_appliance_cleanup: the first part of lab_cleanup for this section:
# the watch daemon and other processes, stick mounts, backup pools still
# imported.  Loop devices and the rest are left to lab_cleanup.
lab_appliance_cleanup() {
	local pid entry name guid mnt rc=0

	lab_watch_stop
	for pid in "${LAB_KILL_PIDS[@]}"; do
		kill "$pid" 2>/dev/null
	done
	for pid in "${LAB_KILL_PIDS[@]}"; do
		for _ in $(seq 1 50); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$pid" 2>/dev/null
	done
	LAB_KILL_PIDS=()

	# Sticks: mounted by the agent below MOUNT_DIR or by a helper.
	if [ -n "$MOUNT_DIR" ]; then
		awk -v d="$MOUNT_DIR" -v lab="$LAB" 'index($2, d "/") == 1 ||
		    index($2, lab "/stick") == 1 { print $2 }' /proc/self/mounts |
		    sort -r | while read -r mnt; do
			umount "$mnt" 2>/dev/null || umount -l "$mnt"
		done
	fi

	for entry in "${LAB_DISK_POOLS[@]}"; do
		name=${entry% *} guid=${entry#* }
		if [ "$(zpool list -H -o guid "$name" 2>/dev/null)" = "$guid" ]; then
			lab_pool_destroy "$name" || rc=1
		fi
	done
	return "$rc"
}

# lab_appliance_check_clean: after lab_cleanup's own work, nothing of this
# lab may be left: loop devices on its files, mounts, backup pools, agent
# processes using its config.
lab_appliance_check_clean() {
	local left entry

	left=$(losetup -n -l -O NAME,BACK-FILE 2>/dev/null |
	    awk -v lab="$LAB" 'index($2, lab "/") == 1')
	left=$left$(awk -v lab="$LAB" 'index($2, lab "/") == 1 || $2 == lab' \
	    /proc/self/mounts)
	for entry in "${LAB_DISK_POOLS[@]}"; do
		if lab_pool_imported "${entry% *}"; then
			left="$left pool ${entry% *}"
		fi
	done
	left=$left$(pgrep -a -f "airgap-agent -c $CONF " || true)
	[ -z "$left" ] && return 0
	printf '%s: cleanup: left behind: %s\n' "$TS_NAME" "$left" >&2
	return 1
}
