#!/bin/bash
# v07-restore: the way back on real OpenZFS, one boot.  A backup disk (USB)
# holds an encrypted dataset received raw and a plain one; a vfat stick is
# the transport stick.  In the guest: `restore list` marks the encrypted
# dataset, `restore open` refuses it (its key is not on the box), `restore
# send` writes it raw onto the stick, and a fresh laptop pool receives it,
# opens it with the laptop's key, and finds the laptop's guid and files.  A
# drill passes; then blocks of the plain dataset are overwritten under the
# pool, and the next drill says DAMAGED, in its exit status, the light and
# `status`.
# shellcheck source=tests/vm/lib.sh
. "$(dirname "$0")/lib.sh"
vm_init
vm_need_package

disk=$(vm_disk bakdisk 128M)
stick=$(vm_stick rstick vfat RSTICK1 64M)
vm_plug bak "$disk" BAKDISK1
vm_plug stick "$stick" RSTICK1

VM_LIMIT=900 vm_boot
vm_wait_ok 880

for f in drill-ok drill-damaged; do
	[ -s "$VM_SHARE/out/$f" ] || vm_fail "the guest left no $f"
	vm_report "$f: $(cat "$VM_SHARE/out/$f")"
done
vm_log "passed"
