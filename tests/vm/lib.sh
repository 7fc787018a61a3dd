# shellcheck shell=bash
#
# tests/vm/lib.sh: the host side of a guest scenario.  A scenario is two
# scripts: tests/vm/vNN-NAME.sh runs on the host, sources this file, calls
# vm_init, prepares media, boots the guest and acts on it over QEMU's
# monitor; tests/vm/vNN-NAME.guest.sh runs as root inside the guest (a
# Debian 12 box with OpenZFS, real udev and systemd) with the helpers of
# tests/vm/guest-lib.sh.  Host and guest hand steps to each other with
# marker files on the shared folder: the guest's guest_step NAME writes
# ready.NAME and waits for go.NAME; the host's vm_wait_ready NAME waits for
# ready.NAME, acts (vm_plug, vm_unplug, vm_power_cut, ...) and vm_go NAME
# lets the guest go on.  Every wait has a deadline.
#
# Each scenario gets a throwaway guest: a qcow2 overlay over the cached
# image, kept across the boots of the scenario (a reboot or a power cut
# boots the same disk again) and removed at the end, with the scenario's
# disk images, sockets and the shared folder, also when the scenario
# fails.  Every boot has a hard deadline after which QEMU is killed.
#
# Functions (the host side):
#   vm_init                 set up; the guest script is $0 with .sh
#                           replaced by .guest.sh
#   vm_need_package         install the airgap-agent Debian package into
#                           the guest at its next boot; without a built
#                           package (build/deb/airgap-agent_*.deb) the
#                           scenario is skipped, loudly (exit 77)
#   vm_disk NAME SIZE       make an empty disk image, print its path
#   vm_stick NAME FSTYPE LABEL [SIZE [whole]]
#                           make a stick image (vfat, exfat or ext4) with
#                           one MBR partition, or the file system on the
#                           whole device with "whole"; print its path
#   vm_plug ID IMAGE [SERIAL]
#                           plug IMAGE in as a USB mass-storage device; a
#                           guest that is not running has it plugged at its
#                           next boot.  In the guest:
#                           /dev/disk/by-id/usb-QEMU_QEMU_HARDDISK_SERIAL-0:0
#   vm_unplug ID            pull it (device_del; QEMU confirms the removal)
#   vm_boot [ARG...]        boot the guest (overlay kept from the last
#                           boot); ARGs go to the guest script; VM_LIMIT
#                           (seconds, default 300) is this boot's deadline
#   vm_wait_ready NAME [SECONDS]
#                           wait until the guest reached guest_step NAME
#   vm_go NAME              let the guest go on after guest_step NAME
#   vm_power_cut            kill QEMU at once (no shutdown; what the guest
#                           had not written to its disks is lost)
#   vm_wait_exit [SECONDS]  wait for the guest to finish and power off;
#                           prints its output; VM_RC is its script's exit
#                           status (empty when it never finished)
#   vm_wait_ok [SECONDS]    vm_wait_exit, failing unless VM_RC is 0
#   vm_report LINE          a line the suite prints for this scenario even
#                           when it passes (what it ran on, figures)
#   vm_log, vm_fail, vm_skip
#
# Variables: TOP (the checkout), VM_WORK (this scenario's scratch folder),
# VM_SHARE (the shared folder, /mnt/host in the guest; VM_SHARE/out is the
# guest's folder for results), VM_BOOTS (boots so far), VM_IMAGE (the
# cached image folder), VM_ACCEL (kvm or tcg).  tests/vm/run sets VM_IMAGE,
# VM_ACCEL, VM_WORK and VM_REPORT; a scenario run on its own builds or
# finds the image and probes KVM itself.  VM_KEEP=1 keeps VM_WORK.

VM_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TOP=$(cd "$VM_DIR/../.." && pwd)
VM_NAME=$(basename "$0" .sh)
VM_BOOTS=0
VM_PID=
VM_TPID=
VM_RC=
VM_OWN_WORK=
VM_MEM=${VM_MEM:-2048}
VM_SMP=${VM_SMP:-2}
declare -A VM_PLUGGED=()

vm_log() {
	printf '%s: %s\n' "$VM_NAME" "$*"
}

# vm_show: what explains a failure: the guest's output and console.
vm_show() {
	local f

	[ -n "${VM_SHARE:-}" ] || return 0
	for f in "$VM_SHARE"/out.*.log; do
		printf -- '--- guest output %s:\n' "$(basename "$f")"
		tail -n 60 "$f"
	done
	for f in "$VM_WORK"/serial.*.log; do
		printf -- '--- guest console %s (last 40 lines):\n' "$(basename "$f")"
		tail -n 40 "$f" | tr -d '\r'
	done
	printf -- '--- end\n'
}

vm_fail() {
	printf '%s: FAILED: %s\n' "$VM_NAME" "$*" >&2
	vm_show >&2
	exit 1
}

# vm_skip REASON: this scenario cannot run here; the suite says so loudly.
vm_skip() {
	printf '%s: SKIPPED: %s\n' "$VM_NAME" "$*" >&2
	exit 77
}

vm_report() {
	if [ -n "${VM_REPORT:-}" ]; then
		printf '%s\n' "$*" >>"$VM_REPORT"
	else
		printf '%s: report: %s\n' "$VM_NAME" "$*"
	fi
}

vm_err_trap() {
	printf '%s: command failed (exit %s) at line %s: %s\n' \
	    "$VM_NAME" "$1" "$2" "$3" >&2
}

# vm_accel_probe KERNEL: print "kvm" when a guest kernel boots under KVM
# within seconds (it panics for want of a root disk: that is the end of a
# good probe), else "tcg".  Where /dev/kvm belongs to a paravirtual
# hypervisor, QEMU aborts or crawls, and TCG is the faster choice.
vm_accel_probe() {
	local kernel=$1 log rc

	if [ ! -w /dev/kvm ]; then
		echo tcg
		return 0
	fi
	log=$(mktemp)
	rc=0
	timeout -s KILL 30 qemu-system-x86_64 -accel kvm -cpu host -m 256 \
	    -nodefaults -display none -no-reboot -serial "file:$log" \
	    -kernel "$kernel" -append 'console=ttyS0 panic=-1' \
	    >/dev/null 2>&1 || rc=$?
	if [ "$rc" != 137 ] && grep -q 'Kernel panic' "$log"; then
		echo kvm
	else
		echo tcg
	fi
	rm -f "$log"
}

vm_init() {
	set -o errexit -o nounset -o pipefail -o errtrace
	shopt -s nullglob
	[ "$(id -u)" = 0 ] || vm_skip "the guest suite must run as root"
	for tool in qemu-system-x86_64 qemu-img python3 timeout; do
		command -v "$tool" >/dev/null || vm_skip "$tool not found"
	done
	trap 'vm_err_trap $? $LINENO "$BASH_COMMAND"' ERR
	trap vm_cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM

	if [ -z "${VM_WORK:-}" ]; then
		VM_WORK=$(mktemp -d /var/tmp/airgap-vm.XXXXXX)
		VM_OWN_WORK=1
	fi
	VM_SHARE=$VM_WORK/share
	mkdir -p "$VM_SHARE/out" "$VM_SHARE/markers" "$VM_WORK/disks"
	if [ -z "${VM_IMAGE:-}" ]; then
		VM_IMAGE=$("$VM_DIR/image") || vm_fail "no guest image"
	fi
	[ -f "$VM_IMAGE/ok" ] || vm_fail "$VM_IMAGE is not a complete guest image"
	VM_ACCEL=${VM_ACCEL:-$(vm_accel_probe "$VM_IMAGE/vmlinuz")}

	cp "$VM_DIR/guest-boot.sh" "$VM_SHARE/boot.sh"
	cp "$VM_DIR/guest-lib.sh" "$VM_SHARE/lib.sh"
	[ -f "${0%.sh}.guest.sh" ] || vm_fail "no guest script ${0%.sh}.guest.sh"
	cp "${0%.sh}.guest.sh" "$VM_SHARE/scenario.sh"
	vm_log "work folder $VM_WORK, image $VM_IMAGE, accel $VM_ACCEL"
}

# vm_cleanup: kill the guest, remove the overlay, the disk images, the
# sockets and the shared folder.  Runs on every exit of the scenario.
vm_cleanup() {
	local rc=$?

	trap - ERR
	vm_kill_qemu
	if [ -n "${VM_KEEP:-}" ]; then
		vm_log "kept $VM_WORK"
	elif [ -n "${VM_WORK:-}" ] && [ -d "$VM_WORK" ]; then
		find "$VM_WORK" -mindepth 1 -maxdepth 1 -exec rm -rf --one-file-system {} +
		[ -z "$VM_OWN_WORK" ] || rmdir "$VM_WORK"
	fi
	exit "$rc"
}

# vm_kill_qemu: SIGKILL to QEMU (its pid file names it even before
# vm_boot read it); timeout, its parent, then ends on its own.
vm_kill_qemu() {
	local pid=$VM_PID

	if [ -z "$pid" ] && [ -n "${VM_WORK:-}" ]; then
		pid=$(cat "$VM_WORK/qemu.pid" 2>/dev/null || true)
	fi
	[ -z "$pid" ] || kill -KILL "$pid" 2>/dev/null || true
	if [ -n "$VM_TPID" ]; then
		# QEMU not started far enough to write its pid: timeout
		# passes TERM on to it.
		[ -n "$pid" ] || kill -TERM "$VM_TPID" 2>/dev/null || true
		wait "$VM_TPID" 2>/dev/null || true
	fi
	VM_PID=
	VM_TPID=
}

vm_need_package() {
	local debs=("$TOP"/build/deb/airgap-agent_*.deb)

	if [ ${#debs[@]} = 0 ]; then
		vm_skip "no Debian package of the agent (build/deb/airgap-agent_*.deb): build it first"
	fi
	# Several builds: the newest.
	mapfile -t debs < <(ls -t "${debs[@]}")
	mkdir -p "$VM_SHARE/deb"
	rm -f "$VM_SHARE"/deb/*.deb
	cp "${debs[0]}" "$VM_SHARE/deb/"
	vm_log "the guest installs $(basename "${debs[0]}")"
}

vm_disk() {
	local f=$VM_WORK/disks/$1.img

	rm -f "$f"
	truncate -s "$2" "$f"
	printf '%s\n' "$f"
}

# vm_stick NAME FSTYPE LABEL [SIZE [whole]]: a stick as shops sell them
# (one MBR partition, from 1 MiB) or, with "whole", a file system on the
# whole device.  Made with the host's mkfs tools on files: no loop device.
vm_stick() {
	local name=$1 fstype=$2 label=$3 size=${4:-64M} layout=${5:-part}
	local f part mbr_type

	f=$(vm_disk "$name" "$size")
	part=$f
	if [ "$layout" != whole ]; then
		part=$VM_WORK/disks/$name.part
		truncate -s "$(($(stat -c %s "$f") - 1048576))" "$part"
	fi
	case $fstype in
	vfat) mkfs.vfat -n "$label" "$part" >/dev/null; mbr_type=c ;;
	exfat) mkfs.exfat -L "$label" "$part" >/dev/null; mbr_type=7 ;;
	ext4) mke2fs -q -t ext4 -L "$label" "$part"; mbr_type=83 ;;
	*) vm_fail "vm_stick: unknown file system $fstype" ;;
	esac
	if [ "$layout" != whole ]; then
		printf 'label: dos\nstart=2048, type=%s\n' "$mbr_type" | sfdisk -q "$f"
		dd if="$part" of="$f" bs=1M seek=1 conv=notrunc,sparse status=none
		rm -f "$part"
	fi
	printf '%s\n' "$f"
}

vm_qmp() {
	python3 "$VM_DIR/qmp.py" "$VM_WORK/qmp.sock" "$@"
}

vm_plug() {
	local id=$1 image=$2 serial=${3:-$1}

	[ -z "${VM_PLUGGED[$id]:-}" ] || vm_fail "vm_plug: $id is plugged already"
	if [ -n "$VM_PID" ]; then
		vm_qmp plug "$id" "$image" "$serial" || vm_fail "could not plug $id"
		vm_log "plugged $id ($serial, $(basename "$image"))"
	fi
	VM_PLUGGED[$id]="$image $serial"
}

vm_unplug() {
	local id=$1

	[ -n "${VM_PLUGGED[$id]:-}" ] || vm_fail "vm_unplug: $id is not plugged"
	if [ -n "$VM_PID" ]; then
		vm_qmp unplug "$id" || vm_fail "could not pull $id"
		vm_log "pulled $id"
	fi
	unset "VM_PLUGGED[$id]"
}

# vm_running: is QEMU still there?
vm_running() {
	[ -n "$VM_TPID" ] && kill -0 "$VM_TPID" 2>/dev/null
}

vm_boot() {
	local n limit=${VM_LIMIT:-300} accel=() usb=() id image serial t0

	[ -z "$VM_PID" ] || vm_fail "vm_boot: the guest is running"
	VM_BOOTS=$((VM_BOOTS + 1))
	n=$VM_BOOTS
	VM_RC=
	if [ ! -f "$VM_WORK/root.qcow2" ]; then
		qemu-img create -q -f qcow2 -b "$VM_IMAGE/root.img" -F raw "$VM_WORK/root.qcow2"
	fi
	rm -f "$VM_SHARE"/markers/* "$VM_WORK/qmp.sock" "$VM_WORK/qemu.pid"
	printf '%s\n' "$n" >"$VM_SHARE/boot"
	printf '%s\n' "$@" >"$VM_SHARE/args"
	[ $# -gt 0 ] || : >"$VM_SHARE/args"

	if [ "$VM_ACCEL" = kvm ]; then
		accel=(-accel kvm -cpu host)
	else
		accel=(-accel 'tcg,thread=multi' -cpu max)
	fi
	for id in "${!VM_PLUGGED[@]}"; do
		read -r image serial <<<"${VM_PLUGGED[$id]}"
		usb+=(-blockdev "driver=raw,node-name=$id,file.driver=file,file.filename=$image")
		usb+=(-device "usb-storage,bus=xhci.0,drive=$id,id=$id,serial=$serial,removable=on")
	done

	t0=$SECONDS
	# The hard deadline: SIGKILL, whatever the guest does.  no_timer_check:
	# on a loaded host TCG's emulated timer can miss the kernel's IO-APIC
	# check at boot, which then panics ("IO-APIC + timer doesn't work").
	timeout -s KILL "$limit" qemu-system-x86_64 "${accel[@]}" \
	    -m "$VM_MEM" -smp "$VM_SMP" -nodefaults -no-user-config \
	    -machine pc,pcspk-audiodev=snd0 -audiodev none,id=snd0 \
	    -kernel "$VM_IMAGE/vmlinuz" -initrd "$VM_IMAGE/initrd.img" \
	    -append 'root=/dev/vda rw console=ttyS0 quiet panic=-1 no_timer_check' \
	    -drive "file=$VM_WORK/root.qcow2,format=qcow2,if=virtio" \
	    -virtfs "local,path=$VM_SHARE,mount_tag=host,security_model=none,id=host" \
	    -device qemu-xhci,id=xhci,p2=8,p3=8 "${usb[@]}" \
	    -qmp "unix:$VM_WORK/qmp.sock,server=on,wait=off" \
	    -pidfile "$VM_WORK/qemu.pid" -display none -vga none \
	    -serial "file:$VM_WORK/serial.$n.log" -no-reboot \
	    </dev/null >"$VM_WORK/qemu.$n.log" 2>&1 &
	VM_TPID=$!
	until [ -S "$VM_WORK/qmp.sock" ] && [ -s "$VM_WORK/qemu.pid" ]; do
		vm_running || vm_fail "QEMU did not start: $(cat "$VM_WORK/qemu.$n.log")"
		[ $((SECONDS - t0)) -lt 30 ] || vm_fail "QEMU did not start within 30 s"
		sleep 0.1
	done
	VM_PID=$(cat "$VM_WORK/qemu.pid")
	VM_BOOT_T0=$t0
	vm_log "boot $n (pid $VM_PID, deadline $limit s${1:+, args: $*})"
}

# vm_guest_gone: the guest powered off or its script ended.
vm_guest_gone() {
	! vm_running || [ -f "$VM_SHARE/rc.$VM_BOOTS" ]
}

vm_wait_ready() {
	local name=$1 limit=${2:-120} t0=$SECONDS

	until [ -e "$VM_SHARE/markers/ready.$name" ]; do
		if vm_guest_gone; then
			vm_fail "the guest ended before step $name"
		fi
		[ $((SECONDS - t0)) -lt "$limit" ] ||
		    vm_fail "the guest did not reach step $name within $limit s"
		sleep 0.2
	done
}

vm_go() {
	: >"$VM_SHARE/markers/go.$1"
}

vm_power_cut() {
	[ -n "$VM_PID" ] || vm_fail "vm_power_cut: no guest running"
	vm_kill_qemu
	vm_log "power cut (boot $VM_BOOTS, $((SECONDS - VM_BOOT_T0)) s after its start)"
}

vm_wait_exit() {
	local limit=${1:-300} t0=$SECONDS n=$VM_BOOTS

	[ -n "$VM_TPID" ] || vm_fail "vm_wait_exit: no guest running"
	while vm_running; do
		if [ $((SECONDS - t0)) -ge "$limit" ]; then
			vm_kill_qemu
			vm_fail "the guest did not power off within $limit s"
		fi
		sleep 0.2
	done
	wait "$VM_TPID" || true
	VM_PID=
	VM_TPID=
	vm_guest_output "$n"
}

# vm_guest_output N: VM_RC from boot N's exit status file (empty when
# the guest's script did not finish), and that boot's guest output,
# printed.
vm_guest_output() {
	local n=$1

	VM_RC=
	[ ! -f "$VM_SHARE/rc.$n" ] || VM_RC=$(cat "$VM_SHARE/rc.$n")
	printf -- '--- guest output, boot %s (exit status %s, %s s):\n' \
	    "$n" "${VM_RC:-none}" "$((SECONDS - VM_BOOT_T0))"
	cat "$VM_SHARE/out.$n.log" 2>/dev/null || true
	printf -- '--- end of guest output\n'
}

# vm_rc_ok N: boot N's guest script finished and exited 0 (VM_RC).
vm_rc_ok() {
	[ -n "$VM_RC" ] || vm_fail "the guest's script did not finish (boot $1)"
	[ "$VM_RC" = 0 ] || vm_fail "the guest's script failed (boot $1, exit $VM_RC)"
}

vm_wait_ok() {
	vm_wait_exit "$@"
	vm_rc_ok "$VM_BOOTS"
}

# vm_throttle ID [LIMIT=VALUE...]: make a medium (vm_plug's ID) or the
# guest's root disk (ID "root") as slow as a cheap stick or a tired disk,
# so that a step of the agent lasts long enough for the host to act in
# its middle.  LIMITs are QEMU's block_set_io_throttle keys (bps, bps_rd,
# bps_wr in bytes per second; iops, iops_rd, iops_wr); none lifts them.
vm_throttle() {
	local id=$1 target args

	shift
	if [ "$id" = root ]; then
		target='"device": "virtio0"'
	else
		target=$(vm_qmp run query-block | python3 -c '
import json, sys
for b in json.load(sys.stdin):
    if b.get("inserted", {}).get("node-name") == sys.argv[1]:
        print(json.dumps(b["qdev"]))
' "$id") || vm_fail "vm_throttle: cannot query QEMU's block devices"
		[ -n "$target" ] || vm_fail "vm_throttle: $id is not plugged"
		target="\"id\": $target"
	fi
	args=$(python3 -c '
import json, sys
t = dict.fromkeys(("bps", "bps_rd", "bps_wr", "iops", "iops_rd", "iops_wr"), 0)
for a in sys.argv[1:]:
    k, v = a.split("=", 1)
    if k not in t:
        sys.exit("unknown limit " + k)
    t[k] = int(v)
print(json.dumps(t)[1:-1])
' "$@") || vm_fail "vm_throttle: bad limits: $*"
	vm_qmp run block_set_io_throttle "{$target, $args}" >/dev/null ||
	    vm_fail "vm_throttle $id $*: QEMU refused"
	vm_log "throttled $id: ${*:-no limits}"
}

# vm_finish [SECONDS]: vm_wait_ok, but once the guest's script has ended
# the guest is switched off at once: its orderly shutdown (20 s and more
# under TCG) is no part of any scenario.
vm_finish() {
	local limit=${1:-300} t0=$SECONDS n=$VM_BOOTS

	[ -n "$VM_TPID" ] || vm_fail "vm_finish: no guest running"
	until [ -f "$VM_SHARE/rc.$n" ] || ! vm_running; do
		if [ $((SECONDS - t0)) -ge "$limit" ]; then
			vm_kill_qemu
			vm_fail "the guest's script did not end within $limit s"
		fi
		sleep 0.2
	done
	vm_kill_qemu
	vm_guest_output "$n"
	vm_rc_ok "$n"
}
