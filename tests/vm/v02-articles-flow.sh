#!/bin/bash
# v02-articles-flow: the articles' whole flow on OpenZFS, in one boot, with
# the agent installed from its Debian package and configured as
# docs/appliance.md says.  A laptop pool (a plain dataset sent with its
# properties, hostile mountpoint and canmount included, and a dataset with
# native encryption sent raw, `zfs send -w`) -> airgap-queue -> NNCP ->
# the spooler -> a vfat stick; later, more snapshots (a compound -I stream
# whose first part the disk already has, raw incrementals) -> an exfat
# stick.  Each stick and the backup disk (a pool with a hostile mountpoint
# of its own) are plugged in as USB devices at the same moment; the watch
# daemon handles each once and ingests; the real LED says "safe" and the
# PC speaker beeps; guids and files match the laptop's, nothing stays
# queued.  Then a restore by hand: `zfs send -w` from the backup disk,
# `zfs receive` on the laptop's pool, and the laptop reads its files with
# its own key, which backupsvr never had.  The host checks that the
# encrypted dataset's text is nowhere on the disk image while the plain
# one's is.
# shellcheck source=tests/vm/lib.sh
. "$(dirname "$0")/lib.sh"
vm_init
vm_need_package
# The laptop and the spooler use airgap-queue from the sender package.
sender=("$TOP"/build/deb/airgap-sender_*.deb)
[ ${#sender[@]} -gt 0 ] || vm_skip "no airgap-sender package in build/deb"
mapfile -t sender < <(ls -t "${sender[@]}")
cp "${sender[0]}" "$VM_SHARE/deb/"

disk=$(vm_disk bakdisk 2G)
vfat=$(vm_stick vfatstick vfat NNCPSTICK1 64M)
exfat=$(vm_stick exfatstick exfat NNCPSTICK2 64M whole)

t0=$SECONDS
VM_LIMIT=2400 vm_boot
# backupsvr is not yet serving: the disk gets its pool, the sticks the
# spooler's packets (the guest stops the daemon meanwhile).
vm_wait_ready plug-blank 1200
vm_plug bak "$disk" BAKDISK1
vm_go plug-blank
vm_wait_ready pull-blank 300
vm_unplug bak
vm_go pull-blank

# $1: the stick's id, $2 its image, $3 its serial, $4 the step's suffix
round() {
	vm_wait_ready "spool-$4" 600
	vm_plug "$1" "$2" "$3"
	vm_go "spool-$4"
	vm_wait_ready "carry-$4" 300
	vm_unplug "$1"
	vm_go "carry-$4"
	vm_wait_ready "plug-$4" 300
	# Both at once: a stick and the backup disk.
	vm_plug "$1" "$2" "$3"
	vm_plug bak "$disk" BAKDISK1
	vm_go "plug-$4"
	vm_wait_ready "pull-$4" 900
	vm_unplug "$1"
	vm_unplug bak
	vm_go "pull-$4"
}
round vfat "$vfat" STICKV 1
round exfat "$exfat" STICKX 2
# The restore: the disk plugged once more.
vm_wait_ready plug-restore 300
vm_plug bak "$disk" BAKDISK1
vm_go plug-restore
vm_wait_ready pull-restore 600
vm_unplug bak
vm_go pull-restore
vm_wait_ok 600
guest_s=$((SECONDS - t0))

# The disk image: the plain dataset's text is there (so the search can
# find it), the encrypted dataset's is not.
plain=$(cat "$VM_SHARE/out/token-plain")
secret=$(cat "$VM_SHARE/out/token-secret")
if [ ${#plain} -le 20 ] || [ ${#secret} -le 20 ]; then
	vm_fail "the guest left no tokens"
fi
grep -aqF "$plain" "$disk" ||
    vm_fail "the plain dataset's text is not on the disk image (the search cannot work)"
if grep -aqF "$secret" "$disk"; then
	vm_fail "the encrypted dataset's text is in clear on the backup disk"
fi
for s in "$vfat" "$exfat"; do
	if grep -aqF -e "$plain" -e "$secret" "$s"; then
		vm_fail "a file's text is in clear on the stick $(basename "$s")"
	fi
done

[ -s "$VM_SHARE/out/zfs-version" ] || vm_fail "the guest did not say its zfs version"
vm_report "zfs version: $(tr '\n' ' ' <"$VM_SHARE/out/zfs-version")"
while read -r line; do
	vm_report "$line"
done <"$VM_SHARE/out/report"
vm_report "guest time ${guest_s} s (one boot); no clear text of the raw-sent dataset on the backup disk image"
vm_log "passed"
