# shellcheck shell=bash
# v03-udev-systemd, the guest's part: see v03-udev-systemd.sh.
# shellcheck source=tests/vm/guest-lib.sh
. /mnt/host/lib.sh

STATE=/var/lib/airgap-agent
UNIT=airgap-agent.service
D1=$(guest_usb_dev BAKDISK1)
D2=$(guest_usb_dev BAKDISK2)

diag() {
	printf -- '--- runs.log:\n'
	cat "$STATE/runs.log" 2>/dev/null || true
	printf -- '--- journal of airgap-agent:\n'
	journalctl -q -b --no-pager -o short-monotonic -t airgap-agent | tail -n 60 || true
	systemctl status --no-pager 'airgap-agent*' || true
}
eval "orig_$(declare -f guest_fail)"
guest_fail() {
	diag
	orig_guest_fail "$@"
}

report() {
	printf '%s\n' "$*" >>"$GUEST_OUT/report"
	guest_log "$*"
}
runs() { # runs LABEL: handle runs for LABEL in runs.log
	awk -F'\t' -v l="$1" '$3 == l { n++ } END { print n + 0 }' "$STATE/runs.log" 2>/dev/null || echo 0
}
last_outcome() {
	awk -F'\t' -v l="$1" '$3 == l { o = $5 } END { print o }' "$STATE/runs.log"
}
handling() {
	pgrep -f 'airgap-agent -c /etc/airgap-agent.conf handle' >/dev/null
}
runs_done() { # runs_done LABEL COUNT [LABEL COUNT]: those runs ended
	while [ $# -gt 0 ]; do
		[ "$(runs "$1")" -ge "$2" ] || return 1
		shift 2
	done
	! handling
}
# expect WHAT LABEL COUNT [LABEL COUNT]: wait for the runs, let udev and
# the daemon settle, and check that there were no more, all safe.
expect() {
	local what=$1 t0=$SECONDS

	shift
	guest_wait 300 "$what" runs_done "$@"
	udevadm settle
	sleep 1 # a late duplicate would start a run within this second
	! handling || guest_fail "$what: one more run started"
	while [ $# -gt 0 ]; do
		guest_eq "$what: runs of $1" "$2" "$(runs "$1")"
		guest_eq "$what: outcome of $1's last run" safe "$(last_outcome "$1")"
		shift 2
	done
	guest_eq "$what: the light" safe "$(sed -n 's/^state=//p' "$STATE/indicator")"
	report "$what: $((SECONDS - t0)) s"
}
main_pid() {
	systemctl show -p MainPID --value "$UNIT"
}

if [ "$VM_BOOT" = 2 ]; then
	# --- both disks plugged while the box was off
	guest_eq "the daemon at boot" active "$(systemctl is-active "$UNIT")"
	guest_wait 120 "the disks at boot" test -e "$D1" -a -e "$D2"
	expect "boot with both disks plugged: one run each" bakdisk1 5 bakdisk2 2
	for p in bakdisk1 bakdisk2; do
		if zpool list -H -o name | grep -qx "$p"; then
			guest_fail "$p is still imported"
		fi
	done
	guest_log "all checks passed"
	exit 0
fi

zpool list >/dev/null
systemctl stop "$UNIT"
sed -i -e '/^media = (/,/^);/s/^#\( \)/\1/' /etc/airgap-agent.conf
airgap-agent check >/run/check.out 2>&1 || {
	cat /run/check.out
	guest_fail "airgap-agent check refused the configuration"
}

# --- two backup disks, as docs/appliance.md step 7 says
guest_step plug-blank 300
guest_wait 120 "the disks" test -e "$D1" -a -e "$D2"
# mkpool NAME DISK: zpool create labels the disk and waits for udev to
# make the partition's node; on a loaded machine that wait can run out
# ("failed to detect device partitions"): settle and try again.
mkpool() {
	local i

	for i in 1 2 3; do
		zpool create -f -o cachefile=none -m none "$1" "$2" && return 0
		guest_log "zpool create $1 failed (try $i); udevadm settle and again"
		udevadm settle
	done
	guest_fail "zpool create $1 $2 failed three times"
}
mkpool bakdisk1 "$D1"
mkpool bakdisk2 "$D2"
zpool export bakdisk1
zpool export bakdisk2
guest_step pull-blank
guest_wait 120 "the disks going" test ! -e "$D1" -a ! -e "$D2"
rm -f "$STATE/indicator"
systemctl start "$UNIT"
guest_wait 120 "the watch daemon listening" grep -qs '^state=idle' "$STATE/indicator"

# --- the daemon: one run per insertion (the import and the export make
# udev "change" events of their own)
guest_step plug-1
expect "daemon, one insertion" bakdisk1 1
pid=$(main_pid)
kill -KILL "$pid"
guest_wait 120 "systemd restarting the daemon" \
    sh -c "p=\$(systemctl show -p MainPID --value $UNIT); [ \"\$p\" != 0 ] && [ \"\$p\" != $pid ]"
guest_eq "the daemon's restarts" 1 "$(systemctl show -p NRestarts --value "$UNIT")"
# At its start it looks at the media already plugged in.
expect "daemon killed, restarted by systemd, the disk still plugged" bakdisk1 2
guest_step pull-1
guest_wait 120 "the disk going" test ! -e "$D1"
guest_step plug-2
expect "the restarted daemon, a new insertion" bakdisk1 3
guest_step pull-2
guest_wait 120 "the disk going" test ! -e "$D1"

# --- the udev rule's way: the daemon disabled, both disks at once
systemctl disable --now "$UNIT"
guest_step plug-3
guest_wait 120 "the disks" test -e "$D1" -a -e "$D2"
expect "udev rule, two disks at once" bakdisk1 4 bakdisk2 1
for d in "$D1" "$D2"; do
	k=$(basename "$(readlink -f "$d")")
	u=airgap-agent@$k.service
	guest_eq "$u's result" success "$(systemctl show -p Result --value "$u")"
	guest_eq "$u's exit status" 0 "$(systemctl show -p ExecMainStatus --value "$u")"
done
guest_eq "the daemon" inactive "$(systemctl is-active "$UNIT" || true)"
guest_step pull-3
guest_wait 120 "the disks going" test ! -e "$D1" -a ! -e "$D2"

# Back to the package's default for the next boot.
systemctl enable "$UNIT"
guest_log "all checks passed"
