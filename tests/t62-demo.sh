#!/bin/bash
#
# t62-demo: scripts/demo, the script behind `make demo`, run whole, so
# that it cannot rot.  It must exit 0 within three minutes, end with the
# line saying the proof passed, show every step of the story with the
# light and the beeps drawn (working, safe, 1000 Hz, 880 + 1320 Hz) and
# `status`, the receipts coming back to the laptop and airgap-reap
# destroying there exactly @monday and @tuesday (the disk that went
# offsite holds @wednesday), and leave nothing behind: no files in its temporary folder,
# no loop devices, mounts, pools or medium labels of its run, no
# processes (watch daemon, gpg-agents, NNCP tools), and the zfs-fuse or
# systemd-udevd it started (if it had to) is gone again.

# shellcheck source=functions.sh
. "$(dirname "$0")/functions.sh"
lab_init
# shellcheck source=lib-demo.sh
. "$(dirname "$0")/lib-demo.sh"

start=$(date +%s)
rc=0
TMPDIR=$DEMO_TMP "$DEMO" >"$DEMO_OUT" 2>"$DEMO_ERR" </dev/null || rc=$?
secs=$(($(date +%s) - start))
lab_log "scripts/demo: exit $rc after $secs s; its output:"
sed 's/^/    /' "$DEMO_OUT"
if [ -s "$DEMO_ERR" ]; then
	lab_log "its standard error:"
	sed 's/^/    /' "$DEMO_ERR"
fi

assert_eq 0 "$rc" "exit status of scripts/demo"
[ "$secs" -lt 180 ] || lab_fail "the demo took $secs s, more than three minutes"
tail -n 1 "$DEMO_OUT" | grep -q '^proof passed: both backup disks hold all 5 snapshots.*; the laptop reaped exactly what both had gone past$' ||
    lab_fail "the last line of the demo does not say the proof passed: $(tail -n 1 "$DEMO_OUT")"
[ ! -s "$DEMO_ERR" ] || lab_fail "the demo wrote to standard error"

tag=$(demo_tag)
[ -n "$tag" ] || lab_fail "the demo did not print its tag"
# The story, step by step.
for want in \
    "laptop: laptop-$tag/home with .* files; snapshot @monday made and queued by airgap-queue --snapshot" \
    "spooler: relayed 3 packets from the laptop and wrote them onto the USB stick NNCPSTICK-$tag" \
    "backupsvr: bakdisk1-$tag plugged in" \
    "backupsvr: USB stick plugged in .*: NNCP import, toss, ingest into bakdisk1-$tag" \
    "-> bakdisk1-$tag: 3 received, 0 waiting; 3 file(s) stay queued for bakdisk2-$tag" \
    "laptop: a receipt signed by backupsvr, kept for bakdisk1-$tag: its newest is @wednesday" \
    "backupsvr: bakdisk1-$tag pulled: it goes offsite" \
    "-> bakdisk2-$tag: 3 received, 0 waiting; 0 file(s) left in the queue" \
    "spooler: relayed 2 packets" \
    "-> bakdisk2-$tag: 2 received, 0 waiting; 2 file(s) stay queued for bakdisk1-$tag" \
    "laptop: a receipt signed by backupsvr, kept for bakdisk2-$tag: its newest is @friday" \
    "backupsvr: bakdisk1-$tag is back from offsite" \
    "-> bakdisk1-$tag: 2 received, 0 waiting; 0 file(s) left in the queue" \
    "@friday: same guid and the same .* files on the laptop, bakdisk1-$tag and bakdisk2-$tag" \
    "airgap-agent status:" \
    "bakdisk2-$tag .*lacks 0 file" \
    "laptop: queued [0-9-]* [0-9:]* UTC: 2 head(s), 0 waiting, 0 quarantined" \
    "keep @wednesday: newest on bakdisk1-$tag" \
    "keep @thursday: after a disk's newest" \
    "destroyed @monday: every disk has gone past it" \
    "destroyed @tuesday: every disk has gone past it" \
    "laptop keeps: @wednesday @thursday @friday$" \
    '\[light blinking 1000/1000 ms | working\] transport stick' \
    '\[light ON | safe\] stick done, unmounted: safe to remove' \
    '\[beep 1000 Hz\]' \
    '\[beep 880 Hz, 1320 Hz\]'; do
	grep -q -- "$want" "$DEMO_OUT" || lab_fail "the demo's output has no line matching: $want"
done
assert_eq 5 "$(grep -c '^      @[a-z]*day: same guid' "$DEMO_OUT")" "snapshots proven"
assert_eq 2 "$(grep -c '^      destroyed @' "$DEMO_OUT")" "snapshots the laptop reaped"
if grep -q 'error\]\|needs-reboot\]\|PROBLEM' "$DEMO_OUT"; then
	lab_fail "the demo shows an error: $(grep 'error\]\|needs-reboot\]\|PROBLEM' "$DEMO_OUT")"
fi

assert_demo_clean
lab_pass
