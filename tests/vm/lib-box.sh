# shellcheck shell=bash
#
# tests/vm/lib-box.sh: the host side of the scenarios that run the agent
# as installed on backupsvr (tests/vm/guest-box.sh in the guest).  Source
# it after lib.sh and vm_init.
#
#   box_init                 install the package at boot and put the
#                            guest's box.sh on the share
#   box_cut_when NAME        wait for the guest's step NAME (the condition
#                            it waits for holds), then cut the power; the
#                            guest output of the boot so far is shown
#   box_say FILE             a result the guest left in out/FILE

box_init() {
	vm_need_package
	cp "$VM_DIR/guest-box.sh" "$VM_SHARE/box.sh"
}

box_cut_when() {
	vm_wait_ready "$1" "${2:-300}"
	vm_power_cut
	printf -- '--- guest output of boot %s up to the cut:\n' "$VM_BOOTS"
	cat "$VM_SHARE/out.$VM_BOOTS.log" 2>/dev/null || true
	printf -- '--- end\n'
}

box_say() {
	cat "$VM_SHARE/out/$1" 2>/dev/null || true
}
