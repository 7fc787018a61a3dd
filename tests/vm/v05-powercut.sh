#!/bin/bash
# v05-powercut: the power plug pulled while the box works, on the box as
# installed (the Debian package, the watch daemon started by systemd,
# /etc/airgap-agent.conf edited as docs/appliance.md says, bakdisk1 and
# bakdisk2 as the rotation).  A power cut is SIGKILL to QEMU: no
# shutdown, nothing the guest had not written to its disks survives.
#
# Boot 1 sets the box up and aims at the first cut point.  Each later
# boot is the box powered on again with the media that were plugged at
# the cut still plugged: the watch daemon handles them at its start, and
# the guest checks that nothing queued was lost, nothing was received
# twice (each disk holds the laptop's snapshots once, with its guids),
# the ledger agrees with the disk, the light and runs.log say what is
# true; then it aims at the next cut point.
#
# A cut point is WHAT:MEDIUM:VARIANT:
#   recv:DISK:SECONDS        SECONDS into a zfs receive into DISK
#   ledger:DISK:tmp          while the ledger's temporary file is written
#   ledger:DISK:renamed      just after the ledger was renamed into place
#   quarantine:DISK:reason   a forged file's reason written, the file not
#                            yet moved into quarantine
#   quarantine:DISK:moved    just after the forged file was moved
#   stick:stick:SECONDS      SECONDS into nncp-xfer -rx reading a stick
#   stick:stick:toss         while nncp-toss runs
# Media are slowed down with QEMU's I/O limits (and the root disk's
# writes for the ledger and quarantine points) so that the cut lands in
# the step it is aimed at.  make check runs three cuts: in the ledger
# update that follows a receive (the receive committed, the queue and
# the ledger not yet told: the case that could receive twice or lose a
# file), one second into a receive, and just after a forged file was
# moved into quarantine; make check-stress runs VM_STRESS's 24;
# V05_POINTS="POINT..." picks others.
# shellcheck source=tests/vm/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/vm/lib-box.sh
. "$(dirname "$0")/lib-box.sh"
vm_init
box_init

if [ -n "${V05_POINTS:-}" ]; then
	read -r -a points <<<"$V05_POINTS"
elif [ -n "${VM_STRESS:-}" ]; then
	points=()
	for round in 1 2 3; do
		d=$((round % 2 + 1))
		o=$((3 - d))
		points+=("recv:bakdisk$d:$((round - 1))" "ledger:bakdisk$o:tmp"
		    "stick:stick:$((round - 1))" "quarantine:bakdisk$d:reason"
		    "recv:bakdisk$o:$((round + 1))" "ledger:bakdisk$d:renamed"
		    "stick:stick:toss" "quarantine:bakdisk$o:moved")
	done
else
	points=(ledger:bakdisk1:tmp recv:bakdisk2:1 quarantine:bakdisk1:moved)
fi

declare -A image serial
image[bakdisk1]=$(vm_disk bak1 512M)
image[bakdisk2]=$(vm_disk bak2 512M)
image[stick]=$(vm_stick stick vfat NNCPSTICK1 64M)
serial=([bakdisk1]=BAKDISK1 [bakdisk2]=BAKDISK2 [stick]=STICK1)

# plug_for WHAT MEDIUM: plug the medium, slowed down for the step.
plug_for() {
	vm_plug "$2" "${image[$2]}" "${serial[$2]}"
	case $1 in
	stick) vm_throttle "$2" bps_rd=262144 ;;
	recv) vm_throttle "$2" bps_wr=262144 ;;
	ledger | quarantine) vm_throttle root iops_wr=4 ;;
	esac
}

t0=$SECONDS
vm_plug bakdisk1 "${image[bakdisk1]}" BAKDISK1
vm_plug bakdisk2 "${image[bakdisk2]}" BAKDISK2
VM_LIMIT=1500 vm_boot setup - 0 "${points[0]}"
vm_wait_ready setup-done 900
vm_unplug bakdisk1
vm_unplug bakdisk2
vm_go setup-done
times=()
for i in "${!points[@]}"; do
	IFS=: read -r what medium _ <<<"${points[$i]}"
	vm_wait_ready "plug-$i" 900
	plug_for "$what" "$medium"
	vm_go "plug-$i"
	box_cut_when "cut-$i" 900
	times+=("$((SECONDS - t0))")
	t0=$SECONDS
	next=-
	[ $((i + 1)) = ${#points[@]} ] || next=${points[$((i + 1))]}
	VM_LIMIT=1500 vm_boot "$i" "${points[$i]}" "$((i + 1))" "$next"
	vm_wait_ready "unplug-$i" 900
	vm_unplug "$medium"
	vm_go "unplug-$i"
done
vm_finish 900
times+=("$((SECONDS - t0))")

for i in "${!points[@]}"; do
	vm_report "cut $i ${points[$i]}: $(box_say "cut-$i")"
done
vm_report "${#points[@]} power cuts, boots of ${times[*]} s; $(box_say summary)"
vm_log "passed"
