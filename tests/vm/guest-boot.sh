#!/bin/bash
#
# tests/vm/guest-boot.sh: run inside the guest at every boot (as
# /mnt/host/boot.sh, by the image's vm-scenario.service, once the box is
# up; the box powers off when it ends).  Installs the agent's Debian package
# when the scenario put one on the share and this disk does not have that
# very package yet (a second boot of the same disk keeps what the first
# installed), then runs the scenario's guest script with the boot's
# arguments.  Its output goes to out.N.log on the share and its exit status
# to rc.N, N being the boot's number; 98 means the package did not install.

set -o nounset -o pipefail
shopt -s nullglob

SHARE=/mnt/host
n=$(cat "$SHARE/boot")
exec >"$SHARE/out.$n.log" 2>&1 </dev/null
mapfile -t args <"$SHARE/args"

# install_package: dpkg -i, as an admin does; the image holds the
# dependencies the package declares, or dpkg says which one is missing.
install_package() {
	local debs=("$SHARE"/deb/*.deb) sum stamp=/var/lib/vm-scenario/deb.sha256

	[ ${#debs[@]} -gt 0 ] || return 0
	sum=$(sha256sum "${debs[@]}" | sha256sum)
	[ "$(cat "$stamp" 2>/dev/null)" != "$sum" ] || return 0
	printf 'guest: installing %s\n' "${debs[*]##*/}"
	if ! DEBIAN_FRONTEND=noninteractive dpkg -i "${debs[@]}"; then
		printf 'guest: the package did not install (a dependency missing from tests/vm/image?)\n'
		return 1
	fi
	mkdir -p "${stamp%/*}"
	printf '%s\n' "$sum" >"$stamp"
}

uptime_s() {
	cut -d ' ' -f 1 /proc/uptime
}

printf 'guest: boot %s, up %s s\n' "$n" "$(uptime_s)"
rc=0
install_package || rc=98
if [ "$rc" = 0 ]; then
	VM_BOOT=$n bash "$SHARE/scenario.sh" "${args[@]}"
	rc=$?
fi
printf 'guest: boot %s, exit status %s, up %s s\n' "$n" "$rc" "$(uptime_s)"
printf '%s\n' "$rc" >"$SHARE/rc.$n.tmp"
mv "$SHARE/rc.$n.tmp" "$SHARE/rc.$n"
