# shellcheck shell=bash disable=SC2034 # the variables are for the other parts and the scenarios
# tests/lab/setup.sh, sourced by tests/functions.sh:
# setup and teardown

# lab_init: create $LAB, install the cleanup trap, make sure zfs-fuse runs.
lab_init() {
	[ "$(id -u)" = 0 ] || lab_die "must run as root (zfs, mounts)"
	for tool in zpool zfs zstd gpg gpgconf losetup; do
		command -v "$tool" >/dev/null || lab_die "$tool not found in PATH"
	done

	LAB=$(mktemp -d /tmp/aga.XXXXXX) || lab_die "mktemp failed"
	trap lab_cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	trap 'lab_err_trap $? $LINENO "$BASH_COMMAND"' ERR

	STATE=$LAB/state
	INCOMING=$LAB/incoming
	CONF=$LAB/airgap-agent.conf
	mkdir -p "$LAB/outbox" "$LAB/src" "$LAB/logs" "$LAB/run" "$INCOMING"
	lab_log "lab is $LAB"
	# shellcheck disable=SC2034 # for the scenario scripts
	USER_AGENT=$(lab_user_bin "$AGENT")
	lab_zfs_start
}

# lab_user_bin FILE: copy the program FILE into $LAB/bin, print the copy's
# path.  What the lab runs as the unprivileged NNCP user must not depend on
# the checkout: it may sit under a folder only root can enter (root's home,
# 0700 on Debian).  The lab folder is made enterable (0711) by the
# scenarios that need it.
lab_user_bin() {
	local dst

	mkdir -p "$LAB/bin"
	chmod 0755 "$LAB/bin"
	dst=$LAB/bin/$(basename "$1")
	if ! cp "$1" "$dst" || ! chmod 0755 "$dst"; then
		lab_die "cannot copy $1 into $LAB/bin"
	fi
	printf '%s\n' "$dst"
}

# lab_zfs_start: start the zfs-fuse daemon when `zpool list` does not work.
# Only a daemon started here is stopped again by lab_cleanup.
lab_zfs_start() {
	local pid

	pid=$(kit_zfs_start "$LAB/zfs-fuse.pid") || lab_die "zfs-fuse: see above"
	if [ -n "$pid" ]; then
		LAB_ZFS_PID=${pid#\?}
		lab_log "started zfs-fuse (pid $pid)"
	fi
}

lab_zfs_stop() {
	[ -n "$LAB_ZFS_PID" ] || return 0
	kit_stop_pid "$LAB_ZFS_PID" 300 && return 0
	printf '%s: zfs-fuse (pid %s) did not exit\n' "$TS_NAME" "$LAB_ZFS_PID" >&2
}

lab_pool_imported() {
	zpool list -H -o name "$1" >/dev/null 2>&1
}

# The pool caches of zfs-fuse and of OpenZFS.  A pool listed there is
# imported again (and mounted) when zfs-fuse starts next or the box
# boots, even after its image is long gone (then FAULTED): the lab's
# pools never go there (-o cachefile=none on every create and import,
# and in the agent's import_args).
LAB_POOL_CACHES=(/var/lib/zfs/zpool.cache /etc/zfs/zpool.cache)

# lab_cached POOL: POOL is in a pool cache file.
lab_cached() {
	local f

	for f in "${LAB_POOL_CACHES[@]}"; do
		[ -f "$f" ] || continue
		strings -n 3 "$f" | grep -qE -- "(^|[^[:alnum:]_.:-])$1\$" && return 0
	done
	return 1
}

# assert_not_cached POOL: POOL is in no pool cache, and if it is imported
# its cachefile property says none.
assert_not_cached() {
	local cf

	if lab_cached "$1"; then
		lab_fail "pool $1 is in a pool cache (${LAB_POOL_CACHES[*]}): the next start would import it"
	fi
	lab_pool_imported "$1" || return 0
	# zfs-fuse's zpool get has no -H.
	cf=$(zpool get cachefile "$1" 2>/dev/null | awk 'NR == 2 { print $3 }')
	[ "$cf" = none ] || lab_fail "pool $1 is imported with cachefile '$cf', not none"
}

# lab_pool_destroy POOL: destroy POOL if it exists.  zfs-fuse says "pool is
# busy" for a while after heavy writes or an aborted receive: retry.
lab_pool_destroy() {
	local pool=$1 ds

	if ! lab_pool_imported "$pool"; then
		# The program under test may have exported it.
		zpool import -o cachefile=none -d "$LAB" "$pool" >/dev/null 2>&1 || return 0
	fi
	for _ in $(seq 1 60); do
		zfs list -H -r -o name "$pool" 2>/dev/null | sort -r |
		    while read -r ds; do
			zfs unmount "$ds" >/dev/null 2>&1
		done
		zpool destroy -f "$pool" 2>/dev/null && return 0
		sleep 0.5
	done
	zpool destroy -f "$pool" && return 0
	printf '%s: cleanup: zpool destroy %s failed, pool left behind\n' \
	    "$TS_NAME" "$pool" >&2
	return 1
}

# lab_cleanup: the EXIT trap.  Undo everything, whatever state the test
# left behind, then keep the exit status of the test.
lab_cleanup() {
	local rc=$? pool loop home mnt file hook

	set +o errexit
	trap - ERR
	# A TERM or INT now (the runner's timeout signals the whole process
	# group) must not cut the cleanup short.
	trap '' INT TERM
	[ -n "$LAB" ] || exit "$rc"

	for hook in "${LAB_CLEANUP_FIRST[@]}"; do
		"$hook" || rc=1
	done

	for pool in "${LAB_POOLS[@]}"; do
		lab_pool_destroy "$pool" || rc=1
	done

	# Mounts left under $LAB (clones, anything else), deepest first.
	awk -v lab="$LAB" 'index($2, lab "/") == 1 || $2 == lab { print $2 }' \
	    /proc/self/mounts | sort -r | while read -r mnt; do
		umount "$mnt" 2>/dev/null || umount -l "$mnt"
	done

	for loop in "${LAB_LOOPS[@]}"; do
		losetup -d "$loop" 2>/dev/null
	done
	# Loop devices on files of this lab, whoever attached them.
	losetup -n -l -O NAME,BACK-FILE 2>/dev/null | while read -r loop file; do
		case $file in
		"$LAB"/*) losetup -d "$loop" ;;
		esac
	done

	for home in "${LAB_GNUPGHOMES[@]}"; do
		gpgconf --homedir "$home" --kill all 2>/dev/null
	done

	for hook in "${LAB_CLEANUP_LAST[@]}"; do
		"$hook" || rc=1
	done

	for pool in "${LAB_POOLS[@]}" "${LAB_DISK_POOLS[@]%% *}"; do
		if lab_cached "$pool"; then
			printf '%s: cleanup: pool %s left behind in the pool cache\n' \
			    "$TS_NAME" "$pool" >&2
			rc=1
		fi
	done

	lab_zfs_stop

	case $LAB in
	/tmp/aga.*)
		if [ "$rc" != 0 ] && [ -n "${LAB_KEEP:-}" ]; then
			printf '%s: LAB_KEEP set, keeping %s\n' "$TS_NAME" "$LAB" >&2
		else
			rm -rf "$LAB"
		fi
		;;
	esac
	exit "$rc"
}

# lab_loop_attach FILE: attach FILE to a free loop device, print its name.
# The device is detached by lab_cleanup.
lab_loop_attach() {
	local dev

	dev=$(losetup -f --show "$1") || lab_die "losetup $1 failed"
	LAB_LOOPS+=("$dev")
	printf '%s\n' "$dev"
}

# lab_pool NAME: create a zfs-fuse pool NAME on a 128 MiB file in $LAB,
# without a mountpoint.  lab_cleanup destroys it.
lab_pool() {
	local name=$1

	if lab_pool_imported "$name"; then
		lab_die "pool $name already exists"
	fi
	LAB_POOLS+=("$name")
	kit_pool "$name" "$LAB/$name.img" 128 || lab_die "zpool create $name failed"
	assert_not_cached "$name"
}
