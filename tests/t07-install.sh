#!/bin/bash
# make install into a DESTDIR puts every part where it belongs, with
# the paths substituted into the units.
set -o errexit -o nounset -o pipefail
TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dest=$(mktemp -d /tmp/aga-install.XXXXXX)
trap 'rm -rf "$dest"' EXIT
fail() { printf 't07-install: FAILED: %s\n' "$*"; find "$dest" | sort; exit 1; }

make -s -C "$TOP" install DESTDIR="$dest" PREFIX=/opt/aga >/dev/null
for f in opt/aga/sbin/airgap-agent:755 opt/aga/bin/airgap-queue:755 \
    opt/aga/bin/airgap-fanout:755 opt/aga/bin/airgap-receipt:755 opt/aga/bin/airgap-reap:755 etc/udev/rules.d/90-airgap-agent.rules:644 \
    etc/systemd/system/airgap-agent.service:644 \
    etc/systemd/system/airgap-agent@.service:644 \
    etc/modules-load.d/airgap-agent.conf:644 \
    opt/aga/share/airgap-agent/airgap-agent.conf.example:644 \
    opt/aga/share/man/man8/airgap-agent.8:644 \
    opt/aga/share/man/man5/airgap-agent.conf.5:644 \
    opt/aga/share/man/man1/airgap-queue.1:644 \
    opt/aga/share/man/man1/airgap-fanout.1:644 opt/aga/share/man/man1/airgap-reap.1:644 \
    opt/aga/share/man/man1/airgap-receipt.1:644; do
	path=$dest/${f%:*}
	[ -f "$path" ] || fail "${f%:*} not installed"
	[ "$(stat -c %a "$path")" = "${f#*:}" ] || fail "${f%:*} has mode $(stat -c %a "$path")"
done
grep -q '^ExecStart=/opt/aga/sbin/airgap-agent -c /etc/airgap-agent.conf watch$' \
    "$dest/etc/systemd/system/airgap-agent.service" || fail "watch unit ExecStart"
grep -q '^ExecStart=/opt/aga/sbin/airgap-agent -c /etc/airgap-agent.conf handle /dev/%I$' \
    "$dest/etc/systemd/system/airgap-agent@.service" || fail "template unit ExecStart"
! grep -rq '@SBINDIR@' "$dest" || fail "@SBINDIR@ left unsubstituted"
"$dest/opt/aga/sbin/airgap-agent" -c "$dest/opt/aga/share/airgap-agent/airgap-agent.conf.example" check >/dev/null ||
    fail "the installed example configuration does not load"
grep -qx 'ledtrig-timer' "$dest/etc/modules-load.d/airgap-agent.conf" ||
    fail "modules-load.d/airgap-agent.conf does not load ledtrig-timer"
echo "t07-install: tree complete"
