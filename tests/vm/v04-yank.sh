#!/bin/bash
# v04-yank: media pulled while the agent works on them, on the box as
# installed (the Debian package, the watch daemon started by systemd,
# /etc/airgap-agent.conf edited as docs/appliance.md says, bakdisk1 and
# bakdisk2 as the rotation).
#
# Boot 1 pulls media in these steps (make check runs "recv" only,
# make check-stress all of them; V04_STEPS chooses):
#   stick        a vfat transport stick pulled while nncp-xfer -rx
#                copies a packet from it
#   recv         rotation disk bakdisk1 pulled while zfs receive writes
#                to it
#   stick-again  the stick plugged again and read to its end (the daemon
#                goes on serving media)
#   export       rotation disk bakdisk2 pulled during its zpool export
# Each time: within a deadline the agent ends its run, never says "safe",
# says "needs a reboot" if a zfs command outlived its timeout (and keeps
# saying so once the medium is gone), the LED shows the pattern and the
# PC speaker played its tones, no queued file is lost or changed, no
# process of the agent is left in D state or waiting for a child in D
# state.  Media are slowed down (QEMU's I/O limits) so that each pull
# lands in the step it is aimed at.
#
# Then the host kills the guest (the reboot the box asked for) and boots
# the same disks again, both plugged in at power-on: each imports, gets
# s1..s3 with the laptop's guids, and the queue empties.
# shellcheck source=tests/vm/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/vm/lib-box.sh
. "$(dirname "$0")/lib-box.sh"
vm_init
box_init

if [ -n "${V04_STEPS:-}" ]; then
	steps=$V04_STEPS
elif [ -n "${VM_STRESS:-}" ]; then
	steps="stick recv stick-again export"
else
	steps=recv
fi
wants() {
	case " $steps " in *" $1 "*) return 0 ;; esac
	return 1
}

# plug_pull STEP ID IMG LABEL [LIMIT=VALUE...]: when the guest is ready
# for plug-STEP, plug the medium ID (slowed down by the LIMITs, as for
# vm_throttle, if any); when it is ready for pull-STEP, pull it.
plug_pull() {
	local step=$1 id=$2 img=$3 label=$4

	shift 4
	vm_wait_ready "plug-$step" 900
	vm_plug "$id" "$img" "$label"
	[ $# = 0 ] || vm_throttle "$id" "$@"
	vm_go "plug-$step"
	vm_wait_ready "pull-$step" 900
	vm_unplug "$id"
	vm_go "pull-$step"
}

bak1=$(vm_disk bak1 512M)
bak2=$(vm_disk bak2 512M)
stick=$(vm_stick stick vfat NNCPSTICK1 64M)
vm_plug bak1 "$bak1" BAKDISK1
vm_plug bak2 "$bak2" BAKDISK2
wants stick && vm_plug stick "$stick" STICK1

t0=$SECONDS
VM_LIMIT=1800 vm_boot "$steps"
vm_wait_ready unplug-all 900
vm_unplug bak1
vm_unplug bak2
wants stick && vm_unplug stick
vm_go unplug-all

if wants stick; then
	plug_pull stick stick "$stick" STICK1 bps_rd=196608
fi
if wants recv; then
	plug_pull bak1 bak1 "$bak1" BAKDISK1 bps_wr=524288
fi
if wants stick-again; then
	plug_pull stick-again stick "$stick" STICK1
fi
if wants export; then
	plug_pull bak2 bak2 "$bak2" BAKDISK2 bps_wr=2097152 iops_wr=10
fi

box_cut_when reboot 900
t1=$SECONDS
[ -n "${VM_PLUGGED[bak1]:-}" ] || vm_plug bak1 "$bak1" BAKDISK1
[ -n "${VM_PLUGGED[bak2]:-}" ] || vm_plug bak2 "$bak2" BAKDISK2
VM_LIMIT=1200 vm_boot "$steps"
vm_finish 900

for r in stick recv stick-again export after-reboot; do
	[ -z "$(box_say "$r")" ] || vm_report "$r: $(box_say "$r")"
done
vm_report "steps $steps; boot 1 $((t1 - t0)) s, boot 2 $((SECONDS - t1)) s"
vm_log "passed"
