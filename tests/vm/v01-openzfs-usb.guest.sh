# shellcheck shell=bash
# v01-openzfs-usb, the guest's part: see v01-openzfs-usb.sh.
# shellcheck source=tests/vm/guest-lib.sh
. /mnt/host/lib.sh

prop() { # prop DATASET PROPERTY [FIELD]: one property's value (or source)
	zfs get -H -p -o "${3:-value}" "$2" "$1"
}

udev_prop() { # udev_prop DEVICE KEY
	udevadm info --query=property --name="$1" | sed -n "s/^$2=//p"
}

# --- what the box runs: OpenZFS userland and kernel module alike
zpool list >/dev/null # loads the module, as the agent's first zpool does
zfs version | tee "$GUEST_OUT/zfs-version"
uname -r >"$GUEST_OUT/uname"
user=$(zfs version | sed -n 's/^zfs-\([0-9]\)/\1/p')
kmod=$(zfs version | sed -n 's/^zfs-kmod-//p')
[ -n "$user" ] || guest_fail "zfs version names no userland version"
guest_eq "OpenZFS kernel module version" "$user" "$kmod"

guest_udev_watch

# --- the sending side: a laptop pool on a file, two snapshots; its
# mountpoint travels in the stream (send -p) and -x mountpoint must drop it
truncate -s 256M /var/tmp/lap.img
zpool create -o cachefile=none -O mountpoint=/lap lap /var/tmp/lap.img
zfs create -o mountpoint=/lapdata lap/data
head -c 3M /dev/urandom >/lapdata/one
zfs snapshot lap/data@s1
head -c 2M /dev/urandom >/lapdata/two
zfs snapshot lap/data@s2

# --- a backup disk plugged into USB
guest_step plug-disk
dev=$(guest_usb_dev BAKDISK1)
guest_wait 30 "the USB disk's link $dev" test -e "$dev"
sd=$(readlink -f "$dev")
guest_udev_wait add "$sd"
guest_eq "ID_BUS of $sd" usb "$(udev_prop "$sd" ID_BUS)"
guest_log "backup disk is $sd"

zpool create -o cachefile=none -O mountpoint=/bak -O canmount=off v01bak "$sd"
zfs create -o canmount=off v01bak/recv
zfs send -p lap/data@s1 | zstd -q -c | zstd -q -d -c |
    zfs receive -u -o readonly=on -x mountpoint v01bak/recv/data
zfs send -p -i @s1 lap/data@s2 | zstd -q -c | zstd -q -d -c |
    zfs receive -u -o readonly=on -x mountpoint v01bak/recv/data
for s in s1 s2; do
	guest_eq "guid of @$s" "$(prop "lap/data@$s" guid)" "$(prop "v01bak/recv/data@$s" guid)"
done
guest_eq "readonly" on "$(prop v01bak/recv/data readonly)"
guest_eq "mountpoint" /bak/recv/data "$(prop v01bak/recv/data mountpoint)"
guest_eq "mountpoint's source" "inherited from v01bak" "$(prop v01bak/recv/data mountpoint source)"
guest_eq "mounted" no "$(prop v01bak/recv/data mounted)"
if grep -q '^v01bak' /proc/mounts; then
	guest_fail "something of v01bak is mounted: $(grep '^v01bak' /proc/mounts)"
fi

# The control: without -x the stream's mountpoint does arrive, so the
# check above can fail.
zfs send -p lap/data@s1 | zfs receive -u v01bak/control
guest_eq "mountpoint received without -x" /lapdata "$(prop v01bak/control mountpoint)"
guest_eq "its source" received "$(prop v01bak/control mountpoint source)"
zfs destroy -r v01bak/control

# What landed is what was sent: a clone of @s2, its files against the
# laptop's.
zfs clone -o readonly=on -o mountpoint=/mnt/v01check v01bak/recv/data@s2 v01bak/check
for f in one two; do
	guest_eq "content of $f" "$(sha256sum </lapdata/$f)" "$(sha256sum </mnt/v01check/$f)"
done
zfs destroy v01bak/check

zpool export v01bak
if zpool list -H -o name | grep -qx v01bak; then
	guest_fail "v01bak is still imported after zpool export"
fi

# --- pulled
guest_step pull-disk
guest_udev_wait remove "$sd"
guest_wait 10 "the link $dev going" test ! -e "$dev"

# --- a vfat and an exfat stick, made on the host
guest_step plug-sticks
for s in VFATSTICK:vfat:partition:STICKV EXSTICK:exfat:disk:STICKX; do
	IFS=: read -r label fstype devtype serial <<<"$s"
	link=/dev/disk/by-label/$label
	guest_wait 30 "$link" test -e "$link"
	part=$(readlink -f "$link")
	guest_udev_wait add "$part"
	guest_eq "ID_FS_TYPE of $label" "$fstype" "$(udev_prop "$part" ID_FS_TYPE)"
	guest_eq "ID_BUS of $label" usb "$(udev_prop "$part" ID_BUS)"
	guest_eq "DEVTYPE of $label" "$devtype" "$(udev_prop "$part" DEVTYPE)"
	guest_eq "ID_SERIAL_SHORT of $label" "$serial" "$(udev_prop "$part" ID_SERIAL_SHORT)"
	mkdir -p "/mnt/$label"
	mount -t "$fstype" "$part" "/mnt/$label"
	token="v01 token $label $(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"
	printf '%s\n' "$token" >"/mnt/$label/token.txt"
	umount "/mnt/$label"
	mount -t "$fstype" -o ro "$part" "/mnt/$label"
	guest_eq "the file on $label" "$token" "$(cat "/mnt/$label/token.txt")"
	umount "/mnt/$label"
	printf '%s\n' "$token" >"$GUEST_OUT/token-$label"
	printf '%s\n' "$part" >"/run/v01-$label"
	guest_log "$label: $part, $fstype, $devtype"
done
guest_step pull-sticks
for label in VFATSTICK EXSTICK; do
	guest_udev_wait remove "$(cat "/run/v01-$label")"
	guest_wait 10 "/dev/disk/by-label/$label going" test ! -e "/dev/disk/by-label/$label"
done

# --- the beeper and the light
beeper=/dev/input/by-path/platform-pcspkr-event-spkr
guest_wait 10 "the PC speaker's evdev node $beeper" test -e "$beeper"
ev=$(basename "$(readlink -f "$beeper")")
guest_eq "name of $ev" "PC Speaker" "$(cat "/sys/class/input/$ev/device/name")"

leds=(/sys/class/leds/input*::scrolllock)
guest_eq "keyboard scroll lock LEDs" 1 "${#leds[@]}"
led=${leds[0]}
if ! grep -qw timer "$led/trigger"; then
	guest_log "the timer trigger is not loaded at boot: modprobe ledtrig-timer"
	modprobe ledtrig-timer
fi
echo timer >"$led/trigger"
grep -q '\[timer\]' "$led/trigger" || guest_fail "$led: the timer trigger did not take"
echo 150 >"$led/delay_on"
echo 850 >"$led/delay_off"
guest_eq "$led/delay_on" 150 "$(cat "$led/delay_on")"
guest_eq "$led/delay_off" 850 "$(cat "$led/delay_off")"
echo none >"$led/trigger"
printf '%s (timer trigger); beeper %s\n' "$led" "$beeper" >"$GUEST_OUT/led"
zpool export lap
guest_log "all checks passed"
