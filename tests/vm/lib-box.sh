# shellcheck shell=bash
#
# tests/vm/lib-box.sh: the host side of the scenarios that run the agent
# as installed on backupsvr (tests/vm/guest-box.sh in the guest).  Source
# it after lib.sh and vm_init.
#
#   box_init                 install the package at boot and put the
#                            guest's box.sh on the share
#   box_cut_when NAME [SECONDS]
#                            wait for the guest's step NAME (the condition
#                            it waits for holds), then cut the power at
#                            once; the guest output of the boot so far is
#                            shown
#   box_say FILE             a result the guest left in out/FILE

box_init() {
	vm_need_package
	cp "$VM_DIR/guest-box.sh" "$VM_SHARE/box.sh"
}

box_cut_when() {
	local t0=$SECONDS

	# vm_wait_ready, but looking every 20 ms: the cut should land as
	# close to the guest's moment as it can.
	until [ -e "$VM_SHARE/markers/ready.$1" ]; do
		vm_guest_gone && vm_fail "the guest ended before step $1"
		[ $((SECONDS - t0)) -lt "${2:-300}" ] ||
		    vm_fail "the guest did not reach step $1 within ${2:-300} s"
		sleep 0.02
	done
	vm_power_cut
	printf -- '--- guest output of boot %s up to the cut:\n' "$VM_BOOTS"
	cat "$VM_SHARE/out.$VM_BOOTS.log" 2>/dev/null || true
	printf -- '--- end\n'
}

box_say() {
	cat "$VM_SHARE/out/$1" 2>/dev/null || true
}
