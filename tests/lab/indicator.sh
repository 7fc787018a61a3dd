# shellcheck shell=bash disable=SC2034 # the variables are for the other parts and the scenarios
# tests/lab/indicator.sh, sourced by tests/functions.sh:
# the light and the beeper

# lab_indicators: a fake LED folder (regular files as in sysfs, LED off) and
# an empty beeper file.  Both are reached through symbolic links, as on a
# real box: /sys/class/leds/NAME and /dev/input/by-path/NAME are links.
lab_indicators() {
	mkdir -p "$LAB/led/devices/scrolllock" "$LAB/input/by-path"
	ln -sfn devices/scrolllock "$LAB/led/scrolllock"
	: >"$LAB/input/event-spkr"
	ln -sfn ../event-spkr "$LAB/input/by-path/platform-pcspkr-event-spkr"
	LED=$LAB/led/scrolllock
	BEEPER=$LAB/input/by-path/platform-pcspkr-event-spkr
	printf 'none\n' >"$LED/trigger"
	printf '0\n' >"$LED/brightness"
	printf '500\n' >"$LED/delay_on"
	printf '500\n' >"$LED/delay_off"
	printf '1\n' >"$LED/max_brightness"
	: >"$BEEPER"
}

# lab_appliance_config [HOSTSPEC...]: lab_config plus the appliance keys:
# mount_dir, nncp (backupsvr's config), media with the lab's labels,
# status (the fake LED, named by a glob pattern as the shipped default
# names the keyboard's, and the beeper), short timeouts.
lab_appliance_config() {
	local bin_dir

	lab_config "$@"
	# lab_config's one-line timeouts group is replaced by a complete one.
	grep -q '^timeouts = {.*};$' "$CONF" || lab_die "lab_config wrote no one-line timeouts group"
	sed -i '/^timeouts = {.*};$/d' "$CONF"
	bin_dir=$(dirname "$(command -v nncp-xfer)")
	cat >>"$CONF" <<EOF
mount_dir = "$MOUNT_DIR";
nncp = {
  user = "$NNCP_USER";
  bin_dir = "$bin_dir";
  configs = [ "$NNCP_BSVR_DIR/cfg.hjson" ];
  xfer_dir = "nncp";
};
media = (
  { label = "NNCPSTICK${LAB_TAG}*"; role = "transport"; },
  { label = "bakdisk${LAB_TAG}*"; role = "backup"; power_off = [ ]; }
);
status = {
  leds = [ "$LAB/led/scroll*" ];
  beeper = "$BEEPER";
  console = false;
};
timeouts = { command = 60; stall = 60; nncp = 60; import = 60; export = 60; };
EOF
	"$AGENT" -c "$CONF" check >"$LAB/logs/check.log" 2>&1 ||
	    lab_fail "airgap-agent check rejects the lab's config: $(cat "$LAB/logs/check.log")"
}

# lab_led: the LED folder's files on one line.
lab_led() {
	local f out=''

	for f in trigger brightness delay_on delay_off; do
		out="$out $f=$(tr -d ' \n' <"$LED/$f")"
	done
	printf '%s\n' "${out# }"
}

# assert_led idle|working|safe|error|needs-reboot: the LED files show the
# pattern (sysfs timer trigger for blinking, trigger none and a brightness
# for on or off).
assert_led() {
	local want got trigger max

	trigger=$(tr -d ' \n' <"$LED/trigger")
	max=$(tr -d ' \n' <"$LED/max_brightness")
	case $1 in
	idle) want="none 0" ;;
	safe) want="none $max" ;;
	working) want="timer 1000 1000" ;;
	error) want="timer 150 150" ;;
	needs-reboot) want="timer 100 1400" ;;
	*) lab_die "assert_led: unknown state $1" ;;
	esac
	case $trigger in
	timer) got="timer $(tr -d ' \n' <"$LED/delay_on") $(tr -d ' \n' <"$LED/delay_off")" ;;
	*) got="$trigger $(tr -d ' \n' <"$LED/brightness")" ;;
	esac
	[ "$want" = "$got" ] ||
	    lab_fail "LED: expected $1 ($want), found $(lab_led)"
}

# lab_beeps: the tones written to the beeper file as "Hz,Hz,...".  Each
# record must be a 24-byte struct input_event with a zero time, EV_SND
# (0x12) and SND_TONE (0x02), and every tone must be stopped (value 0)
# before the next one starts.
lab_beeps() {
	local size

	size=$(stat -L -c %s "$BEEPER")
	[ $((size % 24)) = 0 ] ||
	    lab_fail "beeper file has $size bytes, not a whole number of 24-byte input_event records"
	od -A n -v -t u2 -w24 "$BEEPER" | awk '
	{
		for (i = 1; i <= 8; i++)
			if ($i != 0)
				bad = bad " record " NR ": time not zero;"
		if ($9 != 18 || $10 != 2)
			bad = bad " record " NR ": type " $9 " code " $10 ", not EV_SND SND_TONE;"
		v = $11 + 65536 * $12
		if (v != 0) {
			if (on)
				bad = bad " record " NR ": tone " v " while a tone is on;"
			tones = tones sep v
			sep = ","
			on = 1
		} else {
			if (!on)
				bad = bad " record " NR ": stop without a tone;"
			on = 0
		}
	}
	END {
		if (on)
			bad = bad " the last tone is never stopped;"
		if (bad != "") {
			print "beeper file:" bad > "/dev/stderr"
			exit 1
		}
		print tones
	}' || lab_fail "the beeper file holds malformed records"
}

# assert_beeps TONES: the beeper file holds exactly TONES ("Hz,Hz,...",
# empty for none).  lab_beeps_reset empties it.
assert_beeps() {
	local got

	got=$(lab_beeps)
	[ "$got" = "$1" ] || lab_fail "beeper: expected tones '$1', got '$got'"
}

lab_beeps_reset() {
	: >"$BEEPER"
}
