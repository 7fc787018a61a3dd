#!/bin/bash
# v03-udev-systemd: udev and systemd for real, with the agent installed
# from its Debian package.  Under the watch daemon: one run per insertion
# of a USB backup disk (the change events of its own import and export
# start nothing more); the daemon killed with SIGKILL is restarted by
# systemd, handles the disk still plugged in, and then a new insertion
# once.  With the daemon disabled, the udev rule's airgap-agent@.service
# runs once per insertion, two disks plugged at the same moment one after
# the other, both "safe".  Then a second boot with both disks plugged
# before the box starts: each is handled once.
# shellcheck source=tests/vm/lib.sh
. "$(dirname "$0")/lib.sh"
vm_init
vm_need_package

d1=$(vm_disk bakdisk1 1G)
d2=$(vm_disk bakdisk2 1G)

t0=$SECONDS
VM_LIMIT=1200 vm_boot
vm_wait_ready plug-blank 1200
vm_plug bak1 "$d1" BAKDISK1
vm_plug bak2 "$d2" BAKDISK2
vm_go plug-blank
vm_wait_ready pull-blank 300
vm_unplug bak1
vm_unplug bak2
vm_go pull-blank

# The daemon: one insertion, a kill, one more insertion.
vm_wait_ready plug-1 300
vm_plug bak1 "$d1" BAKDISK1
vm_go plug-1
vm_wait_ready pull-1 600
vm_unplug bak1
vm_go pull-1
vm_wait_ready plug-2 300
vm_plug bak1 "$d1" BAKDISK1
vm_go plug-2
vm_wait_ready pull-2 600
vm_unplug bak1
vm_go pull-2

# The udev rule: both disks at once.
vm_wait_ready plug-3 300
vm_plug bak1 "$d1" BAKDISK1
vm_plug bak2 "$d2" BAKDISK2
vm_go plug-3
vm_wait_ready pull-3 600
vm_unplug bak1
vm_unplug bak2
vm_go pull-3
vm_wait_ok 600
boot1=$((SECONDS - t0))

# Plugged while the box is off: there at boot.
t0=$SECONDS
vm_plug bak1 "$d1" BAKDISK1
vm_plug bak2 "$d2" BAKDISK2
VM_LIMIT=900 vm_boot
vm_wait_ok 900
boot2=$((SECONDS - t0))

while read -r line; do
	vm_report "$line"
done < <(cat "$VM_SHARE/out/report")
vm_report "guest time ${boot1} s (boot 1) + ${boot2} s (boot 2)"
vm_log "passed"
