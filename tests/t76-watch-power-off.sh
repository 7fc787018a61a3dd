#!/bin/bash
#
# t76-watch-power-off: a backup disk with media[].power_off, under the
# watch daemon.  Its run powers it off after the export (here `losetup
# -d %dev`: the device leaves the kernel, as a disk whose USB bridge
# was powered off does), so the daemon sees it go as the run ends, long
# before anyone pulled it.  The light must keep saying how the run
# ended: "safe" after a good run, "error" after a run that quarantined a
# forged stream (exported, then powered off too), not "off" at once.
# While another medium of ours whose run did not end safe is still
# plugged in, the light says "error", not the "safe" of a later run.  A
# disk without power_off pulled by hand after a safe run puts the light
# back to idle; after an error, the error stays until the next medium.
# A run that fails before it can set the light leaves "error".

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

# forged FROM TO: queue the stream FROM..TO with one byte of its
# ciphertext changed; its name in FORGED.
forged() {
	local size off old new

	lab_stream -i "$1" "$2"
	FORGED=$QN
	size=$(stat -c %s "$QF")
	off=$((size / 2))
	old=$(od -A n -t x1 -j "$off" -N 1 "$QF" | tr -d ' ')
	if [ "$old" = 5a ]; then new='\xa5'; else new='\x5a'; fi
	# shellcheck disable=SC2059 # the format is the byte
	printf "$new" | dd of="$QF" bs=1 seek="$off" conv=notrunc status=none
	lab_deliver
}

# pull_by_hand DEV: detach DEV and wait until the daemon took it.
pull_by_hand() {
	local from

	from=$(wc -l <"$LAB/logs/watch.log")
	lab_media_detach "$1"
	wait_removed "$from" "$1"
	lab_watch_flush
}

# 2. A forged stream: the run quarantines it, exports and powers off;
# the light stays "error".
lab_write b.txt two
lab_snap s2
forged s1 s2
n2=$FORGED
plug_powered_off 2
assert_eq "safe error" "$(lab_runs "$pool1" | paste -sd' ' -)" "outcomes of the first disk's runs"
assert_last_run "$DEV1" "$pool1" backup error
assert_led error
assert_quarantined "$n2"

# 3. The second disk (no power_off) gets another forged stream: "error",
# and it stays plugged in.  The first disk then receives a good one and
# its run ends "safe", but the light must keep saying "error" while the
# second disk is there, also once the first has powered itself off.
lab_write c.txt three
lab_snap s3
forged s2 s3
n3=$FORGED
lab_stream -i s1 s3
n4=$QN
lab_deliver
lab_media_attach "$img2"
dev2=$LAB_DEV
lab_watch_wait "$pool2" 1
assert_eq error "$(lab_runs "$pool2")" "outcome of the second disk's run"
assert_led error
assert_quarantined "$n3"
assert_queued "$n4"
plug_powered_off 3
assert_last_run "$DEV1" "$pool1" backup safe
assert_not_queued "$n4"
assert_led error
grep -q "indicator: error: $dev2 is still plugged in and its run did not end safe" "$LAB/logs/watch.log" ||
    lab_fail "the light does not name $dev2 as the reason for the error"

# 4. The second disk pulled by hand after its error: the light keeps
# saying "error" (until the next medium).  Plugged in again, nothing to
# do: "safe"; pulled by hand: back to idle.
pull_by_hand "$dev2"
assert_led error
lab_media_attach "$img2"
dev2=$LAB_DEV
lab_watch_wait "$pool2" 2
assert_eq "error safe" "$(lab_runs "$pool2" | paste -sd' ' -)" "outcomes of the second disk's runs"
assert_led safe
pull_by_hand "$dev2"
assert_led idle

# 5. A run that fails before it can set the light (here the config it
# reads was broken after the daemon started) must not leave it idle.
cp "$CONF" "$CONF.good"
echo 'this is not a setting' >>"$CONF"
from=$(wc -l <"$LAB/logs/watch.log")
lab_media_attach "$img2"
dev2=$LAB_DEV
for _ in $(seq 1 300); do
	tail -n "+$((from + 1))" "$LAB/logs/watch.log" | grep -q "watch: $dev2: handle exited with" && break
	sleep 0.2
done
tail -n "+$((from + 1))" "$LAB/logs/watch.log" | grep -q "watch: $dev2: handle exited with [12]$" ||
    lab_fail "handle with a broken config did not fail: $(tail -n 5 "$LAB/logs/watch.log")"
mv "$CONF.good" "$CONF"
assert_led error
grep -q "indicator: error: $dev2: handle failed (exit [12]) before it said why" "$LAB/logs/watch.log" ||
    lab_fail "the error light does not say that handle failed"
pull_by_hand "$dev2"
assert_led error

lab_watch_term

# What the first disk holds: s1 and s3, nothing of the forged s2.
lab_media_attach "$img1"
DISK_GUID=$guid1 BAK_POOL=$pool1 STORE_ROOT=$pool1/simplesnap/laptop/$LAP_FS
lab_bakdisk_import
assert_received s1 s3
assert_absent "$STORE_ROOT@s2"
lab_pool_export "$BAK_POOL"

lab_pass
