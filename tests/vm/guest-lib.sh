# shellcheck shell=bash
#
# tests/vm/guest-lib.sh: the guest side of a guest scenario (see
# tests/vm/lib.sh).  A guest script (tests/vm/vNN-NAME.guest.sh) starts
# with ". /mnt/host/lib.sh" and runs as root in the booted guest; $VM_BOOT
# is the boot's number (1, 2, ... for the boots of one scenario's disk), $@
# the arguments the host gave vm_boot.  Its output and exit status reach the
# host; a failed check ends it with exit status 1.
#
#   guest_log MESSAGE          a line of output
#   guest_fail MESSAGE         fail the scenario (and show the udev log)
#   guest_step NAME [SECONDS]  hand over to the host (ready.NAME) and wait
#                              until it says go (go.NAME); default 120 s
#   guest_wait SECONDS WHAT COMMAND...
#                              run COMMAND until it succeeds, or fail
#                              saying WHAT did not happen within SECONDS
#   guest_eq WHAT EXPECTED ACTUAL
#                              fail unless ACTUAL is EXPECTED
#   guest_udev_watch           start recording udev's block events
#   guest_udev_seen ACTION DEVNAME
#                              did udev report ACTION for DEVNAME?
#   guest_udev_wait ACTION DEVNAME [SECONDS]
#                              wait for it (default 20 s)
#   guest_usb_dev SERIAL       the by-id path of the USB disk plugged with
#                              SERIAL (vm_plug's third argument)
#
# GUEST_OUT (/mnt/host/out) is the folder for results the host reads.

set -o errexit -o nounset -o pipefail -o errtrace
shopt -s nullglob

GUEST_SHARE=/mnt/host
# shellcheck disable=SC2034 # for the guest scripts
GUEST_OUT=$GUEST_SHARE/out
GUEST_UDEV_LOG=/run/vm-scenario-udev.log
GUEST_UDEV_PID=
VM_BOOT=${VM_BOOT:-1}

guest_log() {
	printf 'guest: %s\n' "$*"
}

# On stderr: a check run inside $(...) must not have its verdict taken
# for the value.
guest_fail() {
	{
		printf 'guest: FAILED: %s\n' "$*"
		if [ -s "$GUEST_UDEV_LOG" ]; then
			printf -- '--- udev block events so far (ACTION DEVNAME ID_FS_TYPE ID_FS_LABEL):\n'
			guest_udev_summary
		fi
	} >&2
	exit 1
}

guest_err_trap() {
	printf 'guest: command failed (exit %s) at line %s: %s\n' "$1" "$2" "$3"
}
trap 'guest_err_trap $? $LINENO "$BASH_COMMAND"' ERR

guest_cleanup() {
	local rc=$?

	[ -z "$GUEST_UDEV_PID" ] || kill "$GUEST_UDEV_PID" 2>/dev/null || true
	exit "$rc"
}
trap guest_cleanup EXIT

# guest_wait SECONDS WHAT COMMAND...: the condition, polled every 0.1 s.
guest_wait() {
	local limit=$1 what=$2 t0=$SECONDS

	shift 2
	until "$@"; do
		[ $((SECONDS - t0)) -lt "$limit" ] || guest_fail "$what: not within $limit s"
		sleep 0.1
	done
}

guest_step() {
	local name=$1 limit=${2:-120}

	: >"$GUEST_SHARE/markers/ready.$name"
	guest_wait "$limit" "the host's go for step $name" \
	    test -e "$GUEST_SHARE/markers/go.$name"
}

guest_eq() {
	[ "$3" = "$2" ] || guest_fail "$1: expected '$2', found '$3'"
}

guest_usb_dev() {
	printf '/dev/disk/by-id/usb-QEMU_QEMU_HARDDISK_%s-0:0\n' "$1"
}

# guest_udev_watch: udevadm monitor in the background, its property blocks
# (one per event, separated by empty lines) in GUEST_UDEV_LOG; it starts
# listening before guest_udev_watch returns.
guest_udev_watch() {
	: >"$GUEST_UDEV_LOG"
	stdbuf -oL udevadm monitor --udev --property --subsystem-match=block \
	    >>"$GUEST_UDEV_LOG" 2>&1 &
	GUEST_UDEV_PID=$!
	guest_wait 10 "udevadm monitor starting" grep -q 'UDEV' "$GUEST_UDEV_LOG"
}

guest_udev_seen() {
	awk -v a="ACTION=$1" -v d="DEVNAME=$2" 'BEGIN { RS = ""; FS = "\n" }
		{
			ha = hd = 0
			for (i = 1; i <= NF; i++) {
				if ($i == a) ha = 1
				if ($i == d) hd = 1
			}
			if (ha && hd) found = 1
		}
		END { exit !found }' "$GUEST_UDEV_LOG"
}

guest_udev_wait() {
	guest_wait "${3:-20}" "udev event $1 for $2" guest_udev_seen "$1" "$2"
}

guest_udev_summary() {
	awk 'BEGIN { RS = ""; FS = "\n" }
		/ACTION=/ {
			a = d = t = l = "-"
			for (i = 1; i <= NF; i++) {
				split($i, kv, "=")
				if (kv[1] == "ACTION") a = kv[2]
				if (kv[1] == "DEVNAME") d = kv[2]
				if (kv[1] == "ID_FS_TYPE") t = kv[2]
				if (kv[1] == "ID_FS_LABEL") l = kv[2]
			}
			print "    " a, d, t, l
		}' "$GUEST_UDEV_LOG"
}
