# shellcheck shell=bash
# v07-restore, the guest's part: see v07-restore.sh.
# shellcheck source=tests/vm/guest-lib.sh
. /mnt/host/lib.sh

W=/run/v07
CONF=$W/airgap-agent.conf
KEY=$W/laptop.key
mkdir -p "$W/state" "$W/gnupg"
chmod 0700 "$W/state" "$W/gnupg"

prop() { # prop DATASET PROPERTY: one property's value
	zfs get -H -p -o value "$2" "$1"
}

agent() { # agent ARGS...: the agent with this scenario's config; RC is its status
	RC=0
	airgap-agent -c "$CONF" -v "$@" >"$W/agent.log" 2>&1 || RC=$?
	guest_log "airgap-agent $* -> exit $RC"
}

agent_fail() {
	sed 's/^/  | /' "$W/agent.log" >&2
	guest_fail "$*"
}

led_state() {
	sed -n 's/^state=//p' "$W/state/indicator"
}

cat >"$CONF" <<EOF
state_dir = "$W/state";
mount_dir = "$W/media";
zfs = {
  zpool = "$(command -v zpool)";
  zfs = "$(command -v zfs)";
  import_args = [ "-N", "-o", "cachefile=none" ];
};
ingest = {
  incoming = "$W/incoming";
  store = "simplesnap";
  gnupg_home = "$W/gnupg";
  hosts = ( { name = "laptop"; signers = [ ]; require_signature = false; } );
  min_free_mb = 0;
};
media = (
  { label = "RSTICK*"; role = "transport"; },
  { label = "bakdisk*"; role = "backup"; power_off = [ ]; }
);
status = { leds = [ ]; beeper = ""; console = false; };
timeouts = { command = 120; stall = 120; import = 120; export = 120; };
EOF
mkdir -p "$W/incoming/laptop"
airgap-agent -c "$CONF" check >"$W/check.log" 2>&1 ||
    { cat "$W/check.log" >&2; guest_fail "the agent rejects the scenario's config"; }

# --- the laptop: an encrypted dataset (raw key in a file) and a plain one
# whose file carries a marker in every 4 KiB block, to be found on the disk
head -c 32 /dev/urandom >"$KEY"
truncate -s 256M /var/tmp/lap.img
zpool create -o cachefile=none -O mountpoint=none -O compression=off lap /var/tmp/lap.img
zfs create -o encryption=on -o keyformat=raw -o keylocation="file://$KEY" \
    -o mountpoint=/lapsecret lap/secret
head -c 2M /dev/urandom >/lapsecret/one
printf 'the laptop keeps this\n' >/lapsecret/two.txt
zfs snapshot lap/secret@s1
zfs create -o mountpoint=/lapplain lap/plain
pad=$(head -c 4082 /dev/zero | tr '\0' x)
for i in $(seq 1 512); do
	printf 'V07MARK-%06d%s' "$i" "$pad"
done >/lapplain/marked
zfs snapshot lap/plain@p1

# --- the backup disk on USB, holding both as the agent would receive them
dev=$(guest_usb_dev BAKDISK1)
guest_wait 60 "the USB disk $dev" test -e "$dev"
sd=$(readlink -f "$dev")
zpool create -o cachefile=none -O mountpoint=none -O compression=off bakdisk1 "$sd"
zfs create -p -o mountpoint=none bakdisk1/simplesnap/laptop/lap
zfs send -w lap/secret@s1 | zfs receive -u -o readonly=on bakdisk1/simplesnap/laptop/lap/secret
zfs send lap/plain@p1 | zfs receive -u -o readonly=on -x mountpoint bakdisk1/simplesnap/laptop/lap/plain
guest_eq "the backup's key status" unavailable "$(prop bakdisk1/simplesnap/laptop/lap/secret keystatus)"
zpool export bakdisk1
# zpool create put a GPT on the whole disk: the member is its first partition.
member=${sd}1
udevadm trigger --action=change "$member"
udevadm settle
guest_wait 30 "udev seeing $member as a member of bakdisk1" \
    sh -c "udevadm info --query=property --name='$member' | grep -qx ID_FS_LABEL=bakdisk1"
stick=$(readlink -f /dev/disk/by-label/RSTICK1)
guest_log "backup disk $sd, stick $stick"

# --- what the disk holds
agent restore list bakdisk1
[ "$RC" = 0 ] || agent_fail "restore list failed"
grep -q '^  laptop/lap/secret (encrypted' "$W/agent.log" ||
    agent_fail "restore list does not mark laptop/lap/secret as encrypted"
grep -q '^  laptop/lap/plain, 1 snapshot' "$W/agent.log" ||
    agent_fail "restore list does not show laptop/lap/plain"
guest_eq "light after the list" safe "$(led_state)"
if zpool list bakdisk1 >/dev/null 2>&1; then
	guest_fail "bakdisk1 is still imported after restore list"
fi

# An encrypted dataset cannot be browsed here: its key is not on the box.
agent restore open bakdisk1 laptop/lap/secret@s1
[ "$RC" = 1 ] || agent_fail "restore open of an encrypted dataset: exit $RC, not 1"
grep -q 'encrypted' "$W/agent.log" || agent_fail "restore open does not say why"

# --- raw onto the stick, received and opened on a new laptop
agent restore send bakdisk1 laptop/lap/secret@s1 "$stick"
[ "$RC" = 0 ] || agent_fail "restore send failed"
guest_eq "light after the send" safe "$(led_state)"
if grep -q " $W/media" /proc/mounts; then
	guest_fail "something is left mounted under $W/media"
fi
mkdir -p /mnt/rstick
mount -o ro "$stick" /mnt/rstick
note=/mnt/rstick/restore/laptop_lap_secret@s1.txt
grep -qx raw=yes "$note" || guest_fail "the encrypted dataset was not sent raw: $(cat "$note")"
guest_eq "sha256 in the note" "$(sed -n 's/^sha256=//p' "$note")" \
    "$(sha256sum </mnt/rstick/restore/laptop_lap_secret@s1 | cut -d' ' -f1)"
truncate -s 256M /var/tmp/new.img
zpool create -o cachefile=none -O mountpoint=none new /var/tmp/new.img
zfs receive -u new/secret </mnt/rstick/restore/laptop_lap_secret@s1
umount /mnt/rstick
guest_eq "guid of the restored snapshot" "$(prop lap/secret@s1 guid)" "$(prop new/secret@s1 guid)"
guest_eq "restored key status before load-key" unavailable "$(prop new/secret keystatus)"
zfs load-key -L "file://$KEY" new/secret
zfs set mountpoint=/restored new/secret # mounts it, the key being loaded
[ "$(prop new/secret mounted)" = yes ] || zfs mount new/secret
for f in one two.txt; do
	guest_eq "content of $f" "$(sha256sum </lapsecret/$f)" "$(sha256sum </restored/$f)"
done
guest_log "encrypted dataset restored raw and opened with the laptop's key"

# --- a drill on the healthy disk
agent drill bakdisk1
[ "$RC" = 0 ] || agent_fail "drill of a healthy disk: exit $RC"
grep -qx result=ok "$W/state/drills/"* || guest_fail "drill record: $(cat "$W/state/drills/"*)"
grep -qx datasets=2 "$W/state/drills/"* || guest_fail "drill record: $(cat "$W/state/drills/"*)"
sed -n 's/^message=//p' "$W/state/drills/"* >"$GUEST_OUT/drill-ok"

# --- damage: the plain dataset's blocks overwritten under the pool
guest_log "looking for the marked blocks on $sd"
offsets=$(grep -obaF 'V07MARK-' "$sd" | cut -d: -f1 | head -n 64 || true)
[ -n "$offsets" ] || guest_fail "no marked block found on $sd"
for off in $offsets; do
	head -c 512 /dev/urandom | dd of="$sd" bs=512 seek=$((off / 512)) conv=notrunc status=none
done
sync
echo 3 >/proc/sys/vm/drop_caches
guest_log "overwrote $(wc -w <<<"$offsets") blocks of laptop/lap/plain on $sd"
agent drill bakdisk1
[ "$RC" = 1 ] || agent_fail "drill of a damaged disk: exit $RC, not 1"
guest_eq "light after the damaged drill" error "$(led_state)"
grep -qx result=damaged "$W/state/drills/"* || guest_fail "drill record: $(cat "$W/state/drills/"*)"
airgap-agent -c "$CONF" status >"$W/status.txt"
grep -A1 '^restore drills:' "$W/status.txt" | grep -q 'bakdisk1 .*: damaged in .*DAMAGED.*laptop/lap/plain' ||
    guest_fail "status does not show the damage: $(cat "$W/status.txt")"
airgap-agent -c "$CONF" status --json | grep -q '"result":"damaged"' ||
    guest_fail "status --json does not show the damage"
sed -n 's/^message=//p' "$W/state/drills/"* >"$GUEST_OUT/drill-damaged"
if zpool list bakdisk1 >/dev/null 2>&1; then
	guest_fail "bakdisk1 is still imported after the drill"
fi

zfs unmount new/secret
zpool export new
zpool export lap
guest_log "all checks passed"
