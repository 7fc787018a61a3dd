#!/bin/bash
#
# t34-watch: the daemon reacting to real udev events.  `airgap-agent watch`
# runs in the background; attaching a backup disk image and then a stick
# image (losetup makes the kernel's "change" events, udev probes them)
# makes it run "handle" for each, once: the stick's NNCP packets end up
# received into the disk.  More change events for the same insertions
# (udevadm trigger, and the ones udev makes itself when a tool closes a
# device it wrote to) are not handled again: the insertion is known by its
# DISKSEQ; nor are remove and add events while the medium stays.
# Pulling the stick and plugging it in again gives it a new
# DISKSEQ, and it is handled again.  SIGTERM stops the daemon.

# shellcheck source=functions.sh
. "$(dirname "$0")/functions.sh"

# tones TONES: TONES without the 300 Hz "not mine" tones, which media of
# other users of this machine may cause.
tones() {
	printf '%s\n' "$1" | tr ',' '\n' | grep -vx 300 | paste -sd, -
}

lab_appliance_setup
lab_write a.txt one
lab_write_random bin/r1 128
lab_snap s1
lab_nncp_queue s1
n1=$QN
lab_nncp_relay
lab_nncp_stick "$LAB/stick.img"
assert_eq 1 "$STICK_PACKETS" "packets written onto the stick"

# The disk is made now and unplugged until the daemon runs.
lab_bakdisk
lab_media_detach "$DISK_DEV"

lab_watch_start
assert_led idle

lab_media_attach "$DISK_IMG"
DISK_DEV=$LAB_DEV
lab_watch_wait "$BAK_POOL" 1
assert_eq safe "$(lab_runs "$BAK_POOL")" "outcome of the disk's run"
assert_last_run "$DISK_DEV" "$BAK_POOL" backup safe
assert_exported "$BAK_POOL"
assert_led safe

lab_media_attach "$STICK_IMG"
stick=$LAB_DEV
seq1=$(lab_udev_prop "$stick" DISKSEQ)
lab_watch_wait "$STICK_LABEL" 1
assert_eq safe "$(lab_runs "$STICK_LABEL")" "outcome of the stick's run"
assert_last_run "$stick" "$STICK_LABEL" transport safe
assert_led safe
assert_nothing_mounted "$stick" "$DISK_DEV"
assert_exported "$BAK_POOL"
assert_not_queued "$n1"
assert_disk_record "$DISK_GUID" ok

# The same insertions again: no new runs.
udevadm trigger --action=change "$DISK_DEV" "$stick" ||
    lab_die "udevadm trigger failed"
lab_settle
lab_watch_flush
assert_eq 1 "$(lab_runs "$BAK_POOL" | wc -l)" "runs for the disk after more change events"
assert_eq 1 "$(lab_runs "$STICK_LABEL" | wc -l)" "runs for the stick after more change events"

# What a disk does of its own while it stays plugged in: OpenZFS's
# import and export read its partitions again (remove, then add) and
# race udev's probe of its labels (a change that shows no filesystem).
# The medium is still there: no new runs, and the light still says
# "safe" (the daemon did not take it for a removal).
udevadm trigger --action=remove "$DISK_DEV" "$stick" ||
    lab_die "udevadm trigger failed"
lab_settle
udevadm trigger --action=add "$DISK_DEV" "$stick" ||
    lab_die "udevadm trigger failed"
lab_settle
lab_watch_flush
assert_eq 1 "$(lab_runs "$BAK_POOL" | wc -l)" "runs for the disk after remove and add events while it stays"
assert_eq 1 "$(lab_runs "$STICK_LABEL" | wc -l)" "runs for the stick after remove and add events while it stays"
assert_led safe
grep -q "watch: remove $stick: the medium is still there" "$LAB/logs/watch.log" ||
    lab_fail "the daemon did not say the stick is still there: $(grep "$stick" "$LAB/logs/watch.log" | tail -n 5)"

# Pull the stick, plug it in again: a new insertion.
lab_media_detach "$stick"
lab_media_attach "$STICK_IMG"
stick=$LAB_DEV
seq2=$(lab_udev_prop "$stick" DISKSEQ)
if [ -z "$seq1" ] || [ -z "$seq2" ] || [ "$seq1" = "$seq2" ]; then
	lab_die "the stick did not get a new DISKSEQ ($seq1, then $seq2)"
fi
lab_watch_wait "$STICK_LABEL" 2
assert_eq "safe safe" "$(lab_runs "$STICK_LABEL" | paste -sd' ' -)" \
    "outcomes of the stick's runs"
assert_eq 1 "$(lab_runs "$BAK_POOL" | wc -l)" "runs for the disk (not plugged in again)"
assert_led safe
assert_nothing_mounted "$stick" "$DISK_DEV"
assert_eq "1000,880,1320,1000,880,1320,1000,880,1320" "$(tones "$(lab_beeps)")" \
    "tones of the three runs"

lab_watch_term

lab_bakdisk_import
assert_received s1

lab_pass
