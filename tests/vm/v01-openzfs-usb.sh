#!/bin/bash
# v01-openzfs-usb: what the box is made of, for real.  The guest's OpenZFS
# (its `zfs version` goes into the suite's output) receives a
# zfs send | zstd | zstd -d stream with -u -o readonly=on -x mountpoint
# into a pool on a USB disk plugged through QEMU's monitor, nothing gets
# mounted, the pool exports, and pulling the disk gives udev's remove
# event.  A vfat stick (partitioned) and an exfat stick (file system on
# the whole device), made on the host, appear under /dev/disk/by-label
# with their ID_FS_TYPE and take a file the host then finds on them.  The
# PC speaker's evdev node and a keyboard LED with the timer trigger are
# there.
# shellcheck source=tests/vm/lib.sh
. "$(dirname "$0")/lib.sh"
vm_init

disk=$(vm_disk bakdisk 512M)
vfat=$(vm_stick vfatstick vfat VFATSTICK 64M)
exfat=$(vm_stick exfatstick exfat EXSTICK 64M whole)

VM_LIMIT=600 vm_boot
vm_wait_ready plug-disk 300
vm_plug bak "$disk" BAKDISK1
vm_go plug-disk
vm_wait_ready pull-disk 240
vm_unplug bak
vm_go pull-disk
vm_wait_ready plug-sticks
vm_plug vfat "$vfat" STICKV
vm_plug exfat "$exfat" STICKX
vm_go plug-sticks
vm_wait_ready pull-sticks
vm_unplug vfat
vm_unplug exfat
vm_go pull-sticks
vm_wait_ok 120

# What the guest wrote reached the images the host plugged in.
# (zpool create on a whole disk puts its partition at 1 MiB; grep -c
# reads all, so head gets no SIGPIPE.)
[ "$(head -c 4M "$disk" | grep -ac v01bak)" -gt 0 ] ||
    vm_fail "the USB disk image holds no ZFS label of the pool v01bak"
for s in VFATSTICK:"$vfat" EXSTICK:"$exfat"; do
	token=$(cat "$VM_SHARE/out/token-${s%%:*}")
	[ -n "$token" ] || vm_fail "the guest left no token for ${s%%:*}"
	grep -aq "$token" "${s#*:}" ||
	    vm_fail "the file the guest wrote on ${s%%:*} is not on its image"
done

[ -s "$VM_SHARE/out/zfs-version" ] || vm_fail "the guest did not say its zfs version"
while read -r line; do
	vm_report "zfs version: $line"
done <"$VM_SHARE/out/zfs-version"
vm_report "kernel: $(cat "$VM_SHARE/out/uname")"
vm_report "light: $(cat "$VM_SHARE/out/led")"
vm_log "passed"
