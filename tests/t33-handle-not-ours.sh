#!/bin/bash
#
# t33-handle-not-ours: media the agent must leave alone.  An ext4 stick
# labelled OTHERSTICK and an ext4 filesystem labelled like a backup disk
# (not a zfs pool member) both give exit 3: nothing is mounted or
# imported, the LED files are not touched, and one low tone (300 Hz) says
# "not mine".  A regular file is not a block device: exit 3 as well.

# shellcheck source=functions.sh
. "$(dirname "$0")/functions.sh"

lab_appliance_setup
# A light state the agent never sets, so that any write shows.
printf 'heartbeat\n' >"$LED/trigger"
printf '7\n' >"$LED/delay_on"
led_before=$(lab_led)
ind_before=$(cat "$STATE/indicator" 2>/dev/null || true)

lab_stick_image -l OTHERSTICK "$LAB/other.img"
lab_media_attach "$LAB/other.img"
other=$LAB_DEV
lab_agent handle "$other"
assert_exit 3
assert_eq "$led_before" "$(lab_led)" "LED files after OTHERSTICK"
assert_beeps 300
assert_nothing_mounted "$other"

# The label of a backup disk, on ext4.
fake=bakdisk${LAB_TAG}9
lab_stick_image -l "$fake" "$LAB/fake.img"
lab_media_attach "$LAB/fake.img"
fakedev=$LAB_DEV
lab_beeps_reset
lab_agent handle "$fakedev"
assert_exit 3
assert_eq "$led_before" "$(lab_led)" "LED files after $fake on ext4"
assert_beeps 300
assert_nothing_mounted "$fakedev"
if lab_pool_imported "$fake"; then
	lab_fail "a pool $fake was imported"
fi

# The stick label on a file that is not a block device.
lab_stick_image "$LAB/plain.img"
lab_agent handle "$LAB/plain.img"
assert_exit 3
assert_eq "$led_before" "$(lab_led)" "LED files after a regular file"
assert_nothing_mounted

assert_eq "$ind_before" "$(cat "$STATE/indicator" 2>/dev/null || true)" \
    "STATE/indicator after media that are not ours"
if [ -n "$(lab_runs OTHERSTICK)$(lab_runs "$fake")" ]; then
	lab_fail "runs.log has runs for media that are not ours: $(cat "$STATE/runs.log")"
fi

lab_pass
