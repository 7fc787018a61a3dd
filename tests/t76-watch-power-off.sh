#!/bin/bash
#
# t76-watch-power-off: a backup disk with media[].power_off, under the
# watch daemon.  Its run powers it off after the export (here `losetup
# -d %dev`: the device leaves the kernel, as a disk whose USB bridge
# was powered off does), so the daemon sees it go as the run ends, long
# before anyone pulled it.  The light must keep saying how the run
# ended: "safe" after a good run, "error" after a run that quarantined a
# forged stream (exported, then powered off too), not "off" at once.
# A second disk without power_off, pulled by hand, still puts the light
# back to idle: the daemon tells the two apart.

# shellcheck source=functions.sh
. "$(dirname "$0")/functions.sh"

lab_appliance_setup
losetup_bin=$(command -v losetup) || lab_die "no losetup"
# The first disk powers off; the others (the bakdisk* entry) do not.
sed -i "s|^  { label = \"bakdisk${LAB_TAG}\\*\"; role = \"backup\"; power_off = \\[ \\]; }|  { label = \"bakdisk${LAB_TAG}1\"; role = \"backup\"; power_off = [ \"$losetup_bin\", \"-d\", \"%dev\" ]; },\n&|" "$CONF"
grep -qF "power_off = [ \"$losetup_bin\", \"-d\", \"%dev\" ]" "$CONF" ||
    lab_die "the lab config has no power_off for bakdisk${LAB_TAG}1"
lab_agent check
assert_exit 0

lab_write a.txt one
lab_write_random bin/r1 256
lab_snap s1
lab_queue s1
n1=$QN

lab_bakdisk
img1=$DISK_IMG guid1=$DISK_GUID pool1=$BAK_POOL
lab_media_detach "$DISK_DEV"
lab_bakdisk "bakdisk${LAB_TAG}2"
img2=$DISK_IMG pool2=$BAK_POOL
lab_media_detach "$DISK_DEV"

lab_watch_start
assert_led idle

# wait_removed FROM DEV: wait until the daemon logged, after line FROM
# of its log, that DEV was removed.
wait_removed() {
	for _ in $(seq 1 300); do
		tail -n "+$(($1 + 1))" "$LAB/logs/watch.log" | grep -q "watch: $2 removed$" &&
		    return 0
		sleep 0.2
	done
	lab_fail "the daemon did not see $2 leave: $(tail -n 5 "$LAB/logs/watch.log")"
}

# plug_powered_off N: plug the first disk in; wait for its Nth run and
# for the daemon to have seen the device leave; the run must have taken
# it away (no loop device on the image any more).
plug_powered_off() {
	local dev from

	from=$(wc -l <"$LAB/logs/watch.log")
	lab_media_attach "$img1"
	dev=$LAB_DEV
	lab_watch_wait "$pool1" "$1"
	wait_removed "$from" "$dev"
	[ -z "$(losetup -j "$img1")" ] ||
	    lab_fail "the run did not power off $dev: $(losetup -j "$img1")"
	# Gone: the lab must not detach it again at cleanup.
	for i in "${!LAB_LOOPS[@]}"; do
		[ "${LAB_LOOPS[$i]}" != "$dev" ] || unset 'LAB_LOOPS[i]'
	done
	lab_watch_flush
	DEV1=$dev
}

# 1. A good run: "safe", and it stays "safe" once the disk is gone.
plug_powered_off 1
assert_eq safe "$(lab_runs "$pool1")" "outcome of the first run"
assert_last_run "$DEV1" "$pool1" backup safe
assert_led safe
assert_not_queued "$n1"

# 2. A forged stream (one byte changed in its ciphertext): the run
# quarantines it, exports and powers off; the light stays "error".
lab_write b.txt two
lab_snap s2
lab_stream -i s1 s2
n2=$QN
size=$(stat -c %s "$QF")
off=$((size / 2))
old=$(od -A n -t x1 -j "$off" -N 1 "$QF" | tr -d ' ')
if [ "$old" = 5a ]; then new='\xa5'; else new='\x5a'; fi
# shellcheck disable=SC2059 # the format is the byte
printf "$new" | dd of="$QF" bs=1 seek="$off" conv=notrunc status=none
lab_deliver
plug_powered_off 2
assert_eq "safe error" "$(lab_runs "$pool1" | paste -sd' ' -)" "outcomes of the first disk's runs"
assert_last_run "$DEV1" "$pool1" backup error
assert_led error
assert_quarantined "$n2"

# 3. The second disk has no power_off: it stays until pulled by hand,
# and then the light goes back to idle.
lab_media_attach "$img2"
dev2=$LAB_DEV
lab_watch_wait "$pool2" 1
assert_led safe
from=$(wc -l <"$LAB/logs/watch.log")
lab_media_detach "$dev2"
wait_removed "$from" "$dev2"
lab_watch_flush
assert_led idle

lab_watch_term

# What the first disk holds: s1, and nothing of the forged s2.
lab_media_attach "$img1"
DISK_GUID=$guid1 BAK_POOL=$pool1 STORE_ROOT=$pool1/simplesnap/laptop/$LAP_FS
lab_bakdisk_import
assert_received s1
assert_absent "$STORE_ROOT@s2"
lab_pool_export "$BAK_POOL"

lab_pass
