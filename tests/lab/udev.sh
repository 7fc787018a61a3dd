# shellcheck shell=bash disable=SC2034 # the variables are for the other parts and the scenarios
# tests/lab/udev.sh, sourced by tests/functions.sh:
# udev

# lab_udev_start: start systemd-udevd unless one answers already.  Only a
# daemon started here is stopped by lab_udev_stop (at cleanup).
lab_udev_start() {
	local udevd=/lib/systemd/systemd-udevd

	command -v udevadm >/dev/null || lab_die "udevadm not found"
	if udevadm control --ping >/dev/null 2>&1; then
		return 0
	fi
	[ -x "$udevd" ] || lab_die "$udevd not found"
	lab_udev_clear_watches
	"$udevd" --daemon >>"$LAB/logs/udevd.log" 2>&1 ||
	    lab_die "systemd-udevd did not start"
	for _ in $(seq 1 100); do
		if udevadm control --ping >/dev/null 2>&1; then
			LAB_UDEVD_PID=$(pgrep -o -x systemd-udevd) ||
			    lab_die "systemd-udevd runs but has no pid"
			lab_log "started systemd-udevd (pid $LAB_UDEVD_PID)"
			return 0
		fi
		sleep 0.1
	done
	lab_die "systemd-udevd started but does not answer"
}

# lab_udev_clear_watches: remove a dead systemd-udevd's inotify bookkeeping.
# udevd restores /run/udev/watch at start through watch.old, and removes
# watch.old only where /run is a tmpfs; elsewhere (this lab) the leftover
# watch.old stops every later restore, and the stale "WD -> bMAJ:MIN" links
# then make each new watch whose number they hold fail with EEXIST: udev
# stops seeing a loop device's contents change.  Called only while no udevd
# runs, so nothing live is removed.
lab_udev_clear_watches() {
	rm -rf /run/udev/watch /run/udev/watch.old
}

lab_udev_stop() {
	[ -n "$LAB_UDEVD_PID" ] || return 0
	kit_stop_pid "$LAB_UDEVD_PID" 100 && return 0
	printf '%s: systemd-udevd (pid %s) did not exit\n' "$TS_NAME" \
	    "$LAB_UDEVD_PID" >&2
	return 1
}

lab_settle() {
	udevadm settle -t 30 ||
	    lab_log "warning: udevadm settle timed out"
}

# lab_udev_prop DEV KEY: print the udev property KEY of DEV (empty if none).
lab_udev_prop() {
	udevadm info -q property -n "$1" 2>/dev/null |
	    awk -F= -v k="$2" '$1 == k { sub(/^[^=]*=/, ""); print; exit }'
}

# lab_media_attach IMG: attach IMG to a free loop device, wait for udev to
# have seen it and set LAB_DEV.  Detached by lab_media_detach or cleanup.
lab_media_attach() {
	LAB_DEV=$(losetup -f --show "$1") || lab_die "losetup $1 failed"
	LAB_LOOPS+=("$LAB_DEV")
	lab_settle
}

# lab_media_yank DEV: pull the medium of loop device DEV while something
# still holds it open (a hung pool: losetup -d would wait for the last
# close), as a card pulled from its reader: its image is set aside, the
# loop device shrinks to nothing (LOOP_SET_CAPACITY) and the kernel says
# so with a change event.  lab_media_unyank DEV plugs it in again.
lab_media_yank() {
	local img

	img=$(losetup -n -O BACK-FILE "$1") || lab_die "no loop device $1"
	cp --sparse=always "$img" "$img.yanked" || lab_die "cannot set $img aside"
	truncate -s 0 "$img"
	losetup -c "$1" || lab_die "losetup -c $1 failed"
	lab_settle
}

lab_media_unyank() {
	local img

	img=$(losetup -n -O BACK-FILE "$1") || lab_die "no loop device $1"
	# Into the same file: the loop device holds its inode.
	cp --sparse=always "$img.yanked" "$img" || lab_die "cannot put $img back"
	rm -f "$img.yanked"
	losetup -c "$1" || lab_die "losetup -c $1 failed"
	lab_settle
}

# lab_media_detach DEV: detach the loop device DEV ("pulling the medium").
lab_media_detach() {
	local dev=$1 i

	losetup -d "$dev" || lab_die "losetup -d $dev failed"
	for i in "${!LAB_LOOPS[@]}"; do
		if [ "${LAB_LOOPS[$i]}" = "$dev" ]; then
			unset 'LAB_LOOPS[i]'
		fi
	done
	lab_settle
}
