#!/bin/bash
#
# tests/deb-install.sh (make check-deb): the Debian packages as an admin
# gets them.  scripts/deb builds airgap-agent and airgap-sender from a
# fresh copy of the committed tree and checks them with lintian (no
# error, no warning); they land in build/deb/.  Then, in a throwaway
# Debian 12 root made with mmdebstrap from this machine's mirror, with
# what the packages depend on installed by apt, dpkg installs them and
# this checks:
#
#  - the binary runs; the state folder is there, root's and 0700;
#  - the shipped /etc/airgap-agent.conf passes "check", the watch daemon
#    starts with it, and it acts on no medium: a real block device
#    labelled as the defaults' transport stick is "not ours" (exit 3),
#    nothing is mounted;
#  - after the edits docs/appliance.md tells the admin to make, "check"
#    accepts the configuration and the media entries are in effect;
#  - udev reads the rule between 60-persistent-storage.rules and
#    99-systemd.rules; systemd finds both units with /usr/sbin's binary;
#    the watch daemon is enabled, and the rule's unit stands down while
#    it is and serves media when it is not;
#  - purge of a box that never held anything (the daemon ran, no medium
#    was ours) leaves the root exactly as it was; purge of a box with reports, a ledger, quarantined files,
#    queued files, keys and a pool image removes the package and leaves
#    every one of those files as it was.
#
# The root is cached in /var/cache/airgap-agent-tests/ (AIRGAP_TEST_CACHE)
# as a tarball keyed by the mirror lines, the package list and the recipe
# below: cold about three minutes, warm seconds.  The few seconds with a
# loop device attached run under the scenario lock of tests/run, so that
# no other suite's watch daemon sees its udev events.

set -o errexit -o nounset -o pipefail
TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${AIRGAP_TEST_CACHE:-/var/cache/airgap-agent-tests}
LOCK=${TESTS_LOCK:-/run/lock/airgap-agent-tests.lock}
SOURCES=/etc/apt/sources.list.d/debian.sources
SUITE=bookworm

work=$(mktemp -d /tmp/aga-debtest.XXXXXX)
root=$work/root
loop=

say() { printf 'deb-install: %s\n' "$*"; }
fail() { printf 'deb-install: FAILED: %s\n' "$*"; exit 1; }

# mounted_below DIR: the mount points at or below DIR, deepest first.
mounted_below() {
	findmnt -rn -o TARGET | awk -v d="$1" '$0 == d || index($0, d "/") == 1' | sort -r
}

cleanup() {
	local m pid

	set +o errexit
	[ -z "$loop" ] || losetup -d "$loop"
	# Whatever still runs inside the root was started by this test.
	for pid in /proc/[0-9]*; do
		[ "$(readlink "$pid/root" 2>/dev/null)" != "$root" ] || kill -9 "${pid#/proc/}" 2>/dev/null
	done
	for m in $(mounted_below "$work"); do
		umount "$m" || umount -l "$m"
	done
	if [ -n "$(mounted_below "$work")" ]; then
		say "still mounted below $work, not removing it: $(mounted_below "$work")"
		return
	fi
	rm -rf --one-file-system "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# in_root CMD...: run CMD in the root with a clean environment.
in_root() {
	chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
	    HOME=/root LANG=C.UTF-8 "$@"
}

# expect_exit WANT WHAT CMD...: run CMD in the root, its output in
# $work/out; fail unless it exits WANT.
expect_exit() {
	local want=$1 what=$2 rc=0

	shift 2
	in_root "$@" >"$work/out" 2>&1 || rc=$?
	if [ "$rc" != "$want" ]; then
		cat "$work/out"
		fail "$what: exit $rc, not $want"
	fi
}

# --- 1. The packages: built from a fresh copy, lintian-clean. ---
"$TOP/scripts/deb" || fail "scripts/deb"
agent_deb=$(echo "$TOP"/build/deb/airgap-agent_*.deb)
sender_deb=$(echo "$TOP"/build/deb/airgap-sender_*.deb)
if [ ! -f "$agent_deb" ] || [ ! -f "$sender_deb" ]; then
	fail "no packages in build/deb/"
fi

# --- 2. The Debian 12 root, from the cache or made now. ---

# The mirror lines: this machine's sources, with contrib (zfsutils-linux).
mirror_lines() {
	if [ ! -r "$SOURCES" ]; then
		printf 'deb http://deb.debian.org/debian %s main contrib\n' "$SUITE"
		return
	fi
	awk '
	function flush() {
		if (uri != "" && types ~ /(^| )deb( |$)/)
			for (i = 1; i <= n; i++)
				printf "deb %s %s main contrib\n", uri, s[i]
		uri = ""; types = ""; n = 0
	}
	/^[ \t]*$/ { flush(); next }
	/^Types:/ { types = $0; sub(/^Types:[ \t]*/, "", types) }
	/^URIs:/ { uri = $2 }
	/^Suites:/ { n = split(substr($0, 8), t, " "); for (i = 1; i <= n; i++) s[i] = t[i] }
	END { flush() }' "$SOURCES" | sed 's/  */ /g'
}

# The first alternative of every dependency of both packages, and
# systemd (the appliance's init; its systemctl and systemd-analyze are
# what this test asks).
root_packages() {
	{
		dpkg-deb -f "$agent_deb" Depends
		printf ',\n'
		dpkg-deb -f "$sender_deb" Depends
		printf ',systemd\n'
	} | tr ',' '\n' | sed 's/|.*//; s/(.*)//; s/[[:space:]]//g' | grep -v '^$' |
	    LC_ALL=C sort -u | paste -sd, -
}

make_root() {
	local tar=$1 lines=() line

	while IFS= read -r line; do
		lines+=("$line")
	done < <(mirror_lines)
	mmdebstrap --quiet --mode=root --variant=minbase --format=tar \
	    --aptopt='APT::Install-Recommends "false"' \
	    --include="$(root_packages)" "$SUITE" "$tar" "${lines[@]}"
}

mkdir -p "$CACHE"
key=$( { mirror_lines; root_packages; declare -f make_root; } | sha256sum | cut -c1-16)
tarball=$CACHE/deb-root-$key.tar
exec 8>"$CACHE/deb-root.lock"
flock 8
if [ ! -f "$tarball" ]; then
	say "making the Debian 12 root (not cached yet: a few minutes)"
	t0=$SECONDS
	rm -f "$CACHE"/deb-root-*.tar
	make_root "$CACHE/deb-root.tmp.tar" >"$work/mmdebstrap.log" 2>&1 ||
	    { tail -n 40 "$work/mmdebstrap.log"; fail "mmdebstrap"; }
	mv "$CACHE/deb-root.tmp.tar" "$tarball"
	say "root made in $((SECONDS - t0)) s, cached as $tarball"
fi
mkdir "$root"
tar -C "$root" -xf "$tarball"
exec 8>&-
mount -t proc proc "$root/proc"
say "root: $SUITE with $(root_packages)"

# snapshot: every path of the root with its type, mode and owner, and
# the size of files; not what dpkg and apt keep about themselves, nor
# the scratch space, nor /run (a tmpfs on a booted box, where this
# test's own systemd-analyze leaves its marks).
snapshot() {
	(cd "$root" && find . -xdev \( -path ./proc -o -path ./tmp -o -path ./run \
	    -o -path ./var/lib/dpkg -o -path ./var/log -o -path ./var/cache/debconf \) -prune \
	    -o -type d -printf '%p d %m %u:%g\n' -o -printf '%p %y %m %u:%g %s\n') |
	    LC_ALL=C sort
}
snapshot >"$work/before"

# --- 3. Install with dpkg. ---
cp "$agent_deb" "$sender_deb" "$root/tmp/"
install_packages() {
	expect_exit 0 "dpkg -i" dpkg -i "/tmp/$(basename "$agent_deb")" \
	    "/tmp/$(basename "$sender_deb")"
	for p in airgap-agent airgap-sender; do
		# shellcheck disable=SC2016 # a dpkg-query format, not the shell's
		[ "$(in_root dpkg-query -W -f='${db:Status-Abbrev}' "$p")" = "ii " ] ||
		    fail "$p is not installed"
	done
}
install_packages
say "installed $(basename "$agent_deb") and $(basename "$sender_deb")"

# The binary, the man pages, the state folder, the conffile.
expect_exit 0 "airgap-agent help" airgap-agent help
grep -q 'usage: airgap-agent' "$work/out" || fail "help printed no usage"
[ "$(in_root sh -c 'command -v airgap-agent')" = /usr/sbin/airgap-agent ] ||
    fail "airgap-agent is not /usr/sbin/airgap-agent"
for f in /usr/share/man/man8/airgap-agent.8.gz /usr/share/man/man5/airgap-agent.conf.5.gz \
    /usr/share/man/man1/airgap-queue.1.gz /usr/share/man/man1/airgap-fanout.1.gz \
    /usr/share/man/man1/airgap-reap.1.gz /usr/share/man/man1/airgap-receipt.1.gz \
    /usr/bin/airgap-receipt /usr/bin/airgap-reap \
    /usr/bin/airgap-queue /usr/bin/airgap-fanout; do
	[ -f "$root$f" ] || fail "$f is not installed"
done
expect_exit 1 "airgap-queue without arguments" airgap-queue
grep -q 'usage: airgap-queue' "$work/out" || fail "airgap-queue printed no usage"
[ "$(stat -c '%F %a %U:%G' "$root/var/lib/airgap-agent")" = "directory 700 root:root" ] ||
    fail "state folder: $(stat -c '%F %a %U:%G' "$root/var/lib/airgap-agent")"
[ "$(stat -c '%a %U:%G' "$root/etc/airgap-agent.conf")" = "644 root:root" ] ||
    fail "/etc/airgap-agent.conf: $(stat -c '%a %U:%G' "$root/etc/airgap-agent.conf")"
# shellcheck disable=SC2016 # a dpkg-query format, not the shell's
in_root dpkg-query -W -f='${Conffiles}\n' airgap-agent | grep -q '^ /etc/airgap-agent.conf ' ||
    fail "/etc/airgap-agent.conf is not a conffile"

# The shipped configuration loads, and knows no medium.
expect_exit 0 "check of the shipped configuration" airgap-agent check
grep -q '^# effective configuration from /etc/airgap-agent.conf' "$work/out" ||
    fail "check did not read /etc/airgap-agent.conf"
[ "$(sed -n '/^media = (/,/^);/p' "$work/out" | wc -l)" = 2 ] ||
    fail "the shipped configuration has media entries: $(cat "$work/out")"
expect_exit 0 "status" airgap-agent status

# udev: the rule is read where udev reads rules, after the rules that
# set the properties it matches and before the one that acts on
# SYSTEMD_WANTS.
expect_exit 0 "systemd-analyze cat-config udev/rules.d" systemd-analyze cat-config udev/rules.d
order=$(grep -E '^# /.*/rules\.d/(60-persistent-storage|[0-9]+-airgap-agent|99-systemd)\.rules$' \
    "$work/out" | sed 's|.*/||' | paste -sd' ' -)
[ "$order" = "60-persistent-storage.rules 90-airgap-agent.rules 99-systemd.rules" ] ||
    fail "udev reads the rules in this order: '$order'"
grep -q 'ENV{SYSTEMD_WANTS}+="airgap-agent@%k.service"' "$work/out" ||
    fail "the rule udev reads does not start airgap-agent@.service"

# The LED's timer trigger is loaded at boot: systemd-modules-load reads
# the package's file.  (cat-config exits 1 when another package's entry
# is a dangling link, as /etc/modules-load.d/modules.conf is in a root
# without /etc/modules: what counts is that it shows ours.)
in_root systemd-analyze cat-config modules-load.d >"$work/out" 2>&1 || true
sed -n '\|^# /usr/lib/modules-load.d/airgap-agent.conf$|,/^# \//p' "$work/out" |
    grep -qx 'ledtrig-timer' || fail "modules-load.d does not load ledtrig-timer: $(cat "$work/out")"

# systemd: both units found by name where systemd looks, loadable, with
# the packaged binary (verify checks that ExecStart is executable); the
# daemon enabled by the package.
expect_exit 0 "systemctl list-unit-files" systemctl --root=/ list-unit-files 'airgap-agent*'
grep -Eq '^airgap-agent\.service +enabled ' "$work/out" || fail "$(cat "$work/out")"
grep -Eq '^airgap-agent@\.service +static ' "$work/out" || fail "$(cat "$work/out")"
expect_exit 0 "systemd-analyze verify" systemd-analyze verify --man=no airgap-agent.service \
    airgap-agent@sdb1.service
for u in airgap-agent.service airgap-agent@.service; do
	grep -q '^ExecStart=/usr/sbin/airgap-agent -c /etc/airgap-agent.conf ' \
	    "$root/lib/systemd/system/$u" || fail "$u: $(grep ExecStart "$root/lib/systemd/system/$u")"
done
[ "$(in_root systemctl is-enabled airgap-agent.service)" = enabled ] ||
    fail "airgap-agent.service is not enabled"

# The rule's unit stands down while the daemon is enabled: its
# ExecCondition, as installed, exits 1 (skip); with the daemon disabled
# it exits 0 (handle).
cond=$(sed -n 's/^ExecCondition=//p' "$root/lib/systemd/system/airgap-agent@.service")
[ -n "$cond" ] || fail "airgap-agent@.service has no ExecCondition"
expect_exit 1 "the rule's ExecCondition with the daemon enabled" /bin/sh -c "$cond"
expect_exit 0 "systemctl disable" systemctl disable airgap-agent.service
expect_exit 0 "the rule's ExecCondition with the daemon disabled" /bin/sh -c "$cond"
expect_exit 0 "systemctl enable" systemctl enable airgap-agent.service

# --- 4. Media, under the scenario lock (udev events). ---
if [ -z "${AIRGAP_TESTS_LOCKED:-}" ]; then
	mkdir -p "$(dirname "$LOCK")"
	exec 9>>"$LOCK"
	flock 9
fi
# The daemon as its unit starts it, with the shipped configuration: it
# comes up, shows "idle" (STATE/indicator), and stops on SIGTERM.
state=$root/var/lib/airgap-agent
start=$(sed -n 's/^ExecStart=//p' "$root/lib/systemd/system/airgap-agent.service")
read -r -a start <<<"$start"
# Not through in_root: chroot and env exec, so $! is the daemon itself.
chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root \
    "${start[@]}" >"$work/watch.log" 2>&1 &
watch_pid=$!
for _ in $(seq 1 600); do
	if [ -f "$state/indicator" ] || ! kill -0 "$watch_pid" 2>/dev/null; then
		break
	fi
	sleep 0.1
done
[ -f "$state/indicator" ] || { cat "$work/watch.log"; fail "the watch daemon did not start"; }
kill -TERM "$watch_pid"
rc=0
wait "$watch_pid" || rc=$?
[ "$rc" = 0 ] || { cat "$work/watch.log"; fail "the watch daemon exited $rc on SIGTERM"; }
grep -qx 'state=idle' "$state/indicator" || fail "indicator: $(cat "$state/indicator")"

img=$work/stick.img
truncate -s 16M "$img"
mkfs.ext4 -q -L NNCPSTICK1 "$img"
loop=$(losetup -f --show "$img")
dev=/dev/$(basename "$loop")
IFS=: read -r major minor <"/sys/class/block/$(basename "$loop")/dev"
mknod "$root$dev" b "$major" "$minor"

# The shipped configuration: a stick labelled as the defaults' transport
# stick is not ours, and nothing is mounted.
expect_exit 3 "handle of NNCPSTICK1 with the shipped configuration" \
    airgap-agent -v handle "$dev"
grep -q "not ours: label matches no media entry" "$work/out" ||
    fail "handle said: $(cat "$work/out")"
[ -z "$(findmnt -rn -S "$loop")" ] || fail "$loop is mounted: $(findmnt -S "$loop")"
[ ! -e "$state/runs.log" ] || fail "runs.log written for a medium not ours"

# The admin's edits (docs/appliance.md, "Setting up backupsvr"): the
# laptops in ingest.hosts, the "#" taken off the two media entries.
conf=$root/etc/airgap-agent.conf
sed -i -e 's/name = "laptop";/name = "alice";/' \
    -e 's/signers = \[ "0123456789ABCDEF0123456789ABCDEF01234567" \];/signers = [ "6A1F2C3D4E5F60718293A4B5C6D7E8F901234567" ];/' \
    -e '/^media = (/,/^);/ s/^#//' "$conf"
expect_exit 0 "check after the admin's edits" airgap-agent check
for want in 'name = "alice"; require_signature = true;' \
    'signers = \[ "6A1F2C3D4E5F60718293A4B5C6D7E8F901234567" \];' \
    'label = "NNCPSTICK\*"; role = "transport";' 'label = "bakdisk\*"; role = "backup";'; do
	grep -q "$want" "$work/out" || fail "check after the edits lacks '$want': $(cat "$work/out")"
done
# No keys imported yet: check says so, and reading creates no keyring.
grep -q "keyring /root/.gnupg does not exist" "$work/out" ||
    fail "check did not warn of the missing keyring: $(cat "$work/out")"
[ ! -e "$root/root/.gnupg" ] || fail "check created /root/.gnupg"
# Now the media entries are in effect: the same device relabelled as a
# backup disk is refused for not being a pool member.
e2label "$loop" bakdisk1
expect_exit 3 "handle of an ext4 bakdisk1 after the edits" airgap-agent -v handle "$dev"
grep -q "not ours: backup label on something that is not a zfs pool member" "$work/out" ||
    fail "handle said: $(cat "$work/out")"
[ -z "$(findmnt -rn -S "$loop")" ] || fail "$loop is mounted: $(findmnt -S "$loop")"
rm -f "$root$dev"
losetup -d "$loop"
loop=
[ -n "${AIRGAP_TESTS_LOCKED:-}" ] || exec 9>&-
say "shipped configuration: the daemon starts, no medium is ours; edited as documented: check passes"

# --- 5. Purge. ---
# A box that never held anything: the root is as it was before.
expect_exit 0 "dpkg --purge" dpkg --purge airgap-agent airgap-sender
snapshot >"$work/after"
if ! diff -u "$work/before" "$work/after" >"$work/diff"; then
	cat "$work/diff"
	fail "purge left the root different from before the install"
fi
say "purge of an unused box: the root is as before the install"

# A box with a history, and the admin's files beside it.
install_packages
mkdir -p "$state/reports" "$state/quarantine/alice" "$state/disks" "$state/sticks" \
    "$root/var/local/nncp-incoming/alice" "$root/var/local/nncp-exec-queue/alice" \
    "$root/root/.gnupg" "$root/etc/nncp" "$root/srv"
q=bakfsfmt2-1764300000.000000001.42_alice@tank@home
head -c 65536 /dev/urandom >"$root/var/local/nncp-incoming/alice/$q"
head -c 4096 /dev/urandom >"$root/var/local/nncp-exec-queue/alice/${q/42/43}"
head -c 8192 /dev/urandom >"$state/quarantine/alice/${q/42/44}"
printf 'signature by an unlisted key\n' >"$state/quarantine/alice/${q/42/44}.reason"
printf '%s\treceived\t65536\t1\t\n' "$q" >"$state/reports/20261128-030000-42.txt"
printf '/var/local/nncp-incoming/alice/%s\tbakdisk1\t1234567890123456789\tsimplesnap/alice/tank/home\n' \
    "$q" >"$state/ledger"
printf '1764300000\t/dev/sdb\tbakdisk1\tbackup\tsafe\tdone\n' >"$state/runs.log"
printf 'pool=bakdisk1\nguid=1234567890123456789\nlast_seen=1764300000\nresult=ok\n' \
    >"$state/disks/1234567890123456789"
printf '1000 1000\n' >"$state/sticks/0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0"
head -c 2048 /dev/urandom >"$root/root/.gnupg/pubring.kbx"
printf '{ self: {} }\n' >"$root/etc/nncp/nncp.hjson"
truncate -s 64M "$root/srv/bakdisk1.img"
printf 'a pool' | dd of="$root/srv/bakdisk1.img" bs=1 seek=1M conv=notrunc status=none
: >"$state/lock"
printf 'state=safe\ntime=1764300000\nmessage=done\n' >"$state/indicator"
chmod -R go-rwx "$state"
admin=(var/lib/airgap-agent/reports var/lib/airgap-agent/quarantine
    var/lib/airgap-agent/disks var/lib/airgap-agent/sticks
    var/lib/airgap-agent/ledger var/lib/airgap-agent/runs.log
    var/local/nncp-incoming var/local/nncp-exec-queue root/.gnupg etc/nncp srv)
(cd "$root" && find "${admin[@]}" -type f -print0 | xargs -0 sha256sum) >"$work/admin.sha256"
# What must be there after the purge: the root as before, the admin's
# files, and the state folder that holds them (without lock and light).
{
	cat "$work/before"
	(cd "$root" && find ./var/lib/airgap-agent "${admin[@]/#/./}" -type d -printf '%p d %m %u:%g\n' \
	    -o -printf '%p %y %m %u:%g %s\n') |
	    grep -v -e '^\./var/lib/airgap-agent/lock ' -e '^\./var/lib/airgap-agent/indicator '
} | LC_ALL=C sort -u >"$work/expected"

expect_exit 0 "dpkg --remove" dpkg --remove airgap-agent
[ -f "$root/etc/airgap-agent.conf" ] || fail "remove (not purge) took the configuration"
expect_exit 0 "dpkg --purge with a history" dpkg --purge airgap-agent airgap-sender
grep -q "airgap-agent: /var/lib/airgap-agent is kept" "$work/out" ||
    fail "purge did not say that it kept the state folder: $(cat "$work/out")"
(cd "$root" && sha256sum --quiet -c "$work/admin.sha256") || fail "purge changed the admin's files"
snapshot >"$work/after"
if ! diff -u "$work/expected" "$work/after" >"$work/diff"; then
	cat "$work/diff"
	fail "after purge, the root is not as before plus the admin's files"
fi
say "purge of a box with a history: $(wc -l <"$work/admin.sha256") files of the admin's kept as they were"
say "passed"
