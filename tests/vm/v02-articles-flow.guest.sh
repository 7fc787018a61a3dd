# shellcheck shell=bash
# v02-articles-flow, the guest's part: see v02-articles-flow.sh.  One Debian
# 12 box plays the laptop (a pool on a file), the spooler (an NNCP node in
# a folder) and backupsvr (the agent from its package, /etc/nncp, root's
# gpg keyring); while the spooler writes a stick, backupsvr's daemon is
# stopped, since on the real network they are two machines.
# shellcheck source=tests/vm/guest-lib.sh
. /mnt/host/lib.sh

L=/var/tmp/lab
LG=$L/gnupg-laptop
STATE=/var/lib/airgap-agent
STORE=bakdisk1/simplesnap/laptop/lap
BEEPER=/dev/input/by-path/platform-pcspkr-event-spkr
mkdir -p "$L"
: >"$GUEST_OUT/report"

prop() { # prop DATASET PROPERTY [FIELD]
	zfs get -H -p -o "${3:-value}" "$2" "$1"
}

# What explains a failure: the agent's runs and log.
diag() {
	printf -- '--- runs.log:\n'
	cat "$STATE/runs.log" 2>/dev/null || true
	printf -- '--- journal of airgap-agent:\n'
	journalctl -q -b --no-pager -o short-monotonic -t airgap-agent | tail -n 60 || true
}
eval "orig_$(declare -f guest_fail)"
guest_fail() {
	diag
	orig_guest_fail "$@"
}

report() {
	printf '%s\n' "$*" >>"$GUEST_OUT/report"
	guest_log "$*"
}

# --- what the box runs
zpool list >/dev/null
zfs version | tee "$GUEST_OUT/zfs-version"
# The spooler's work and the laptop's happen on this box too: backupsvr
# is not serving meanwhile.
systemctl stop airgap-agent.service

# --- the light and the beeper: what the agent writes to the PC speaker's
# evdev node comes back to its readers (EV_SND is passed to all handlers)
guest_wait 120 "the PC speaker $BEEPER" test -e "$BEEPER"
cat "$BEEPER" >/run/beeps &
leds=(/sys/class/leds/input*::scrolllock)
guest_eq "keyboard scroll lock LEDs" 1 "${#leds[@]}"
LED=${leds[0]}
grep -qw timer "$LED/trigger" || guest_fail "ledtrig-timer is not loaded at boot"

# tones [FROM]: the tones (Hz) written to the speaker since record FROM
# (24-byte struct input_event; EV_SND = 18, SND_TONE = 2; 0 = stop).
# The input core hands events on to readers at the next SYN_REPORT (the
# speaker itself plays them at once); the agent, as beep(1), writes none,
# so a SYN_REPORT (24 zero bytes) is written here first.
tones() {
	head -c 24 /dev/zero >"$BEEPER"
	guest_wait 10 "the beeps' SYN_REPORT reaching the recorder" beeps_synced
	od -An -v -w24 -tu2 -j $((${1:-0} * 24)) /run/beeps |
	    awk '$9 == 18 && $10 == 2 && $11 != 0 { printf "%s ", $11 }'
}
beeps_synced() { # the last record read is a SYN_REPORT
	[ "$(tail -c 8 /run/beeps | od -An -tu2 | tr -s ' ')" = " 0 0 0 0" ]
}
beep_records() {
	echo $(($(stat -c %s /run/beeps) / 24))
}

# --- gpg: backupsvr's key in root's keyring, the laptop's in its own
gpg_fpr() {
	gpg --homedir "$1" --with-colons --list-keys | awk -F: '$1 == "fpr" { print $10; exit }'
}
install -d -m 0700 /root/.gnupg "$LG"
gpg --homedir /root/.gnupg --batch -q --passphrase '' \
    --quick-gen-key 'backupsvr <backupsvr@example.org>' future-default default never
gpg --homedir "$LG" --batch -q --passphrase '' \
    --quick-gen-key 'laptop <laptop@example.org>' future-default default never
BFPR=$(gpg_fpr /root/.gnupg)
LFPR=$(gpg_fpr "$LG")
gpg --homedir "$LG" --export | gpg --homedir /root/.gnupg --batch -q --import
gpg --homedir /root/.gnupg --export | gpg --homedir "$LG" --batch -q --import

# --- NNCP: backupsvr in /etc/nncp as docs/appliance.md says; the laptop
# and the spooler in folders of their own
nncp_new() { # nncp_new NODE: keys in $L/nncp/NODE/new.hjson; ID_, EXCH_, SIGN_
	local dir=$L/nncp/$1 k v

	mkdir -p "$dir/spool"
	(umask 077 && nncp-cfgnew -nocomments >"$dir/new.hjson")
	for k in id exchpub signpub; do
		v=$(awk -v k="$k:" '$1 == k { print $2; exit }' "$dir/new.hjson")
		[ -n "$v" ] || guest_fail "no $k in nncp-cfgnew's output"
		printf -v "${k^^}_$1" '%s' "$v"
	done
}
neigh() { # neigh NODE [LINE...]
	local node=$1 id=ID_$1 exch=EXCHPUB_$1 sign=SIGNPUB_$1 line

	shift
	printf '    %s: {\n      id: %s\n      exchpub: %s\n      signpub: %s\n' \
	    "$node" "${!id}" "${!exch}" "${!sign}"
	for line in "$@"; do
		printf '      %s\n' "$line"
	done
	printf '    }\n'
}
nncp_cfg() { # nncp_cfg NODE OUT NEIGHS [own]: cfgnew's output plus neighbours
	local dir=$L/nncp/$1

	[ "$(tail -n 2 "$dir/new.hjson" | tr -d ' \n')" = '}}' ] ||
	    guest_fail "unexpected nncp-cfgnew output"
	{
		if [ "${4:-}" = own ]; then
			head -n -2 "$dir/new.hjson" | sed -e "s|^  spool: .*|  spool: $dir/spool|" \
			    -e "s|^  log: .*|  log: $dir/log|"
		else
			head -n -2 "$dir/new.hjson"
		fi
		printf '%s  }\n}\n' "$3"
	} >"$2"
	chmod 0600 "$2"
}
for n in laptop spooler backupsvr; do
	nncp_new "$n"
done
mkdir -p /etc/nncp
nncp_cfg backupsvr /etc/nncp/nncp.hjson "$(neigh laptop 'incoming: "/var/local/nncp-incoming/laptop"'; neigh spooler)
"
chown nncp: /etc/nncp/nncp.hjson
install -d -o nncp -g nncp /var/spool/nncp /var/local/nncp-incoming /var/local/nncp-incoming/laptop
nncp_cfg laptop "$L/nncp/laptop.hjson" "$(neigh spooler; neigh backupsvr 'via: ["spooler"]')
" own
nncp_cfg spooler "$L/nncp/spooler.hjson" "$(neigh laptop; neigh backupsvr)
" own
runuser -u nncp -- nncp-stat -cfg /etc/nncp/nncp.hjson >/dev/null

# --- the agent's configuration, as docs/appliance.md step 5 says: the
# laptop's signer, the two example media entries taken out of comments
# (the shipped LED pattern finds the keyboard's LED whatever its number)
conf=/etc/airgap-agent.conf
sed -i -e "s/0123456789ABCDEF0123456789ABCDEF01234567/$LFPR/" \
    -e '/^media = (/,/^);/s/^#\( \)/\1/' "$conf"
airgap-agent check >"$L/check.out" 2>&1 || {
	cat "$L/check.out"
	guest_fail "airgap-agent check refused the configuration"
}

# --- the laptop: a plain dataset (mounted at a path backupsvr must never
# mount anything on) and one with native encryption whose key only the
# laptop has
head -c 32 /dev/urandom >"$L/lapkey"
truncate -s 512M "$L/lap.img"
zpool create -o cachefile=none -O mountpoint=none lap "$L/lap.img"
zfs create -o mountpoint="$L/home" -o canmount=on lap/home
zfs create -o mountpoint="$L/secret" -o encryption=aes-256-gcm -o keyformat=raw \
    -o keylocation="file://$L/lapkey" lap/secret
token() { # token WHAT: a text that stays uncompressed in a block of noise
	printf 'v02 %s %s\n' "$1" "$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
}
noisy() { # noisy FILE TEXT
	{ head -c 20000 /dev/urandom; printf '%s' "$2"; head -c 20000 /dev/urandom; } >"$1"
}
PLAIN=$(token plain)
SECRET=$(token secret)
printf '%s\n' "$PLAIN" >"$GUEST_OUT/token-plain"
printf '%s\n' "$SECRET" >"$GUEST_OUT/token-secret"
noisy "$L/home/plain.bin" "$PLAIN"
noisy "$L/secret/secret.bin" "$SECRET"
cp /usr/share/doc/airgap-agent/*.md* "$L/home/" 2>/dev/null || cp /etc/airgap-agent.conf "$L/home/"
printf 'monday\n' >"$L/home/notes.txt"
printf 'monday, secret\n' >"$L/secret/notes.txt"

QUEUED=0
queue() { # queue DATASET SEND-ARGS...: zfs send ... | airgap-queue
	local ds=$1

	shift
	zfs send "$@" | GNUPGHOME=$LG AIRGAP_QUEUE_CONF=/dev/null AIRGAP_STORE=tank/simplesnap \
	    AIRGAP_RECIPIENT=$BFPR AIRGAP_SIGNER=$LFPR AIRGAP_NODE=backupsvr AIRGAP_NNCP_USER='' \
	    AIRGAP_NNCP_CFG=$L/nncp/laptop.hjson airgap-queue "tank/simplesnap/laptop/$ds"
	QUEUED=$((QUEUED + 1))
}
snap() { # snap SNAP: both datasets
	sync
	zfs snapshot "lap/home@$1" "lap/secret@$1"
}

# --- the backup disk: a pool whose own mountpoint and canmount are
# hostile (import -N must mount nothing of it)
guest_step plug-blank 300
dev=$(guest_usb_dev BAKDISK1)
guest_wait 120 "the backup disk $dev" test -e "$dev"
zpool create -o cachefile=none -O mountpoint="$L/hostile" -O canmount=on bakdisk1 "$dev"
zfs create -o mountpoint="$L/evil" bakdisk1/evil
printf 'mounted\n' >"$L/evil/flag"
zpool export bakdisk1
guest_step pull-blank
guest_wait 120 "the disk's link going" test ! -e "$dev"

# A mount of anything of the backup disk, however short, is seen here.
( while :; do grep -E "^bakdisk1| $L/(hostile|evil)" /proc/mounts || true; sleep 0.2; done ) \
    >/run/mounts-seen 2>&1 &
MOUNTS_PID=$!

runs() { # runs LABEL: handle runs for LABEL in runs.log
	awk -F'\t' -v l="$1" '$3 == l { n++ } END { print n + 0 }' "$STATE/runs.log" 2>/dev/null || echo 0
}
handling() { # a handle run is going on
	pgrep -f 'airgap-agent -c /etc/airgap-agent.conf handle' >/dev/null
}
runs_done() { # runs_done LABEL COUNT [LABEL COUNT]
	while [ $# -gt 0 ]; do
		[ "$(runs "$1")" -ge "$2" ] || return 1
		shift 2
	done
	! handling
}
outcomes() { # outcomes LABEL: the outcomes of its runs
	awk -F'\t' -v l="$1" '$3 == l { printf "%s ", $5 }' "$STATE/runs.log"
}
start_daemon() {
	rm -f "$STATE/indicator"
	systemctl start airgap-agent.service
	guest_wait 120 "the watch daemon listening" grep -qs '^state=idle' "$STATE/indicator"
}
light_safe() { # the real LED steady on, the indicator "safe"
	guest_eq "indicator" safe "$(sed -n 's/^state=//p' "$STATE/indicator")"
	guest_eq "LED trigger" none "$(sed -n 's/.*\[\([^]]*\)\].*/\1/p' "$LED/trigger")"
	guest_eq "LED brightness" "$(cat "$LED/max_brightness")" "$(cat "$LED/brightness")"
}

# round N LABEL STICK-RUNS DISK-RUNS: the spooler writes the
# laptop's packets onto the stick; backupsvr gets the stick and the disk
# plugged at once.
round() {
	local n=$1 label=$2 sruns=$3 druns=$4 link mnt=$L/spooler-stick b0 t0 got pk

	# The laptop's packets reach the spooler (a folder stands in for the
	# network), which relays them onto the stick.
	rm -rf "$L/net"
	mkdir -p "$L/net"
	nncp-xfer -cfg "$L/nncp/laptop.hjson" -noprogress -tx -mkdir -node spooler "$L/net"
	nncp-xfer -cfg "$L/nncp/spooler.hjson" -noprogress -rx "$L/net"
	nncp-toss -cfg "$L/nncp/spooler.hjson" -noprogress
	guest_step "spool-$n"
	link=/dev/disk/by-label/$label
	guest_wait 120 "the stick $link" test -e "$link"
	mkdir -p "$mnt"
	mount "$link" "$mnt"
	mkdir -p "$mnt/nncp"
	nncp-xfer -cfg "$L/nncp/spooler.hjson" -noprogress -tx -mkdir -node backupsvr "$mnt/nncp"
	pk=$(find "$mnt/nncp" -type f | wc -l)
	umount "$mnt"
	guest_step "carry-$n"
	guest_wait 120 "$link going" test ! -e "$link"

	start_daemon
	b0=$(beep_records)
	guest_step "plug-$n"
	t0=$SECONDS
	guest_wait 600 "the runs for $label and bakdisk1" runs_done "$label" "$sruns" bakdisk1 "$druns"
	udevadm settle
	! handling || guest_fail "a handle run started after the runs for $label"
	guest_eq "runs for $label (one per insertion)" "$sruns" "$(runs "$label")"
	guest_eq "runs for bakdisk1 (one per insertion)" "$druns" "$(runs bakdisk1)"
	guest_eq "outcome of $label's run" safe "$(outcomes "$label" | awk '{ print $NF }')"
	guest_eq "outcome of bakdisk1's run" safe "$(outcomes bakdisk1 | awk '{ print $NF }')"
	light_safe
	got=$(tones "$b0")
	case $got in
	"1000 "*"880 1320 ") ;;
	*) guest_fail "the beeps of round $n: '$got' (want 1000 Hz first, 880 and 1320 Hz last)" ;;
	esac
	case " $got" in
	*" 440 "* | *" 300 "* | *" 600 "*) guest_fail "error or siren tones in round $n: $got" ;;
	esac
	local queued
	queued=$(find /var/local/nncp-incoming/laptop -type f -name 'bakfsfmt2-*' | wc -l)
	guest_eq "files still queued after round $n" 0 "$queued"
	report "round $n: $label ($(udevadm info --query=property --name="$(readlink -f "$link")" | sed -n 's/^ID_FS_TYPE=//p'), $pk packets) and bakdisk1 plugged at once: one run each, both safe, $((SECONDS - t0)) s; beeps $got"
	guest_step "pull-$n"
	guest_wait 120 "$label going" test ! -e "$link"
	guest_wait 120 "bakdisk1 going" test ! -e "$(guest_usb_dev BAKDISK1)"
	systemctl stop airgap-agent.service
}

# --- round 1: full sends (home with its properties, secret raw) and an
# incremental of home, on a vfat stick
snap s1
queue lap/home -p lap/home@s1
queue lap/secret -w lap/secret@s1
printf 'tuesday\n' >>"$L/home/notes.txt"
noisy "$L/home/photo.bin" "$(token photo)"
zfs snapshot lap/home@s2
queue lap/home -p -i @s1 lap/home@s2
round 1 NNCPSTICK1 1 1

# --- round 2: a compound stream -I @s1 @s4 whose first part (s2) the
# disk has, raw incrementals, on an exfat stick
printf 'wednesday\n' >>"$L/home/notes.txt"
printf 'wednesday, secret\n' >>"$L/secret/notes.txt"
head -c 300000 /dev/urandom >"$L/secret/more.bin"
rm "$L/home/photo.bin"
zfs snapshot lap/home@s3 lap/secret@s2
printf 'thursday\n' >>"$L/home/notes.txt"
printf 'thursday, secret\n' >>"$L/secret/notes.txt"
zfs snapshot lap/home@s4 lap/secret@s3
queue lap/home -p -I @s1 lap/home@s4
queue lap/secret -w -i @s1 lap/secret@s2
queue lap/secret -w -i @s2 lap/secret@s3
round 2 NNCPSTICK2 1 2

# --- the restore, by hand, from the disk plugged once more: the daemon
# handles it (nothing queued: safe), then the admin imports it
start_daemon
guest_step plug-restore
guest_wait 300 "the run for bakdisk1" runs_done bakdisk1 3
light_safe
systemctl stop airgap-agent.service
zpool import -N -o cachefile=none bakdisk1

for s in s1 s2 s3 s4; do
	guest_eq "guid of home@$s" "$(prop "lap/home@$s" guid)" "$(prop "$STORE/home@$s" guid)"
done
for s in s1 s2 s3; do
	guest_eq "guid of secret@$s" "$(prop "lap/secret@$s" guid)" "$(prop "$STORE/secret@$s" guid)"
done
# What the disk holds of the hostile properties: nothing mounts.
src=$(prop "$STORE/home" mountpoint source)
case $src in
"inherited from bakdisk1/simplesnap"*) ;;
*) guest_fail "home's mountpoint source (-x mountpoint): $src" ;;
esac
guest_eq "home's mountpoint" none "$(prop "$STORE/home" mountpoint)"
guest_eq "home's canmount (received)" on "$(prop "$STORE/home" canmount)"
guest_eq "home's readonly (-o readonly=on)" on:local \
    "$(prop "$STORE/home" readonly):$(prop "$STORE/home" readonly source)"
guest_eq "the disk's own mountpoint" "$L/hostile" "$(prop bakdisk1 mountpoint)"
while read -r ds m; do
	guest_eq "mounted of $ds" no "$m"
done < <(zfs list -H -r -o name,mounted bakdisk1)
kill -0 "$MOUNTS_PID" || guest_fail "the watcher of /proc/mounts died"
kill "$MOUNTS_PID"
[ ! -s /run/mounts-seen ] || guest_fail "something of the backup disk was mounted: $(sort -u /run/mounts-seen)"
# Raw: backupsvr holds ciphertext and no key.
guest_eq "secret's encryption" aes-256-gcm "$(prop "$STORE/secret" encryption)"
guest_eq "secret's keystatus on backupsvr" unavailable "$(prop "$STORE/secret" keystatus)"
guest_eq "secret's encryption root" "$STORE/secret" "$(prop "$STORE/secret" encryptionroot)"
# The plain dataset's files, through its snapshot.
zfs clone -o mountpoint="$L/check" "$STORE/home@s4" bakdisk1/check
diff -r "$L/home/.zfs/snapshot/s4" "$L/check" || guest_fail "home@s4 differs from the laptop's"
zfs destroy bakdisk1/check

# The laptop gets its encrypted dataset back: zfs send -w from the
# backup disk, zfs receive on its pool, its own key.
t0=$SECONDS
zfs send -w "$STORE/secret@s1" | zfs receive -u lap/restored
zfs send -w -I @s1 "$STORE/secret@s3" | zfs receive -u lap/restored
guest_eq "restored keystatus before load-key" unavailable "$(prop lap/restored keystatus)"
zfs set mountpoint="$L/restored" lap/restored
zfs load-key -L "file://$L/lapkey" lap/restored
zfs mount lap/restored
diff -r "$L/secret/.zfs/snapshot/s3" "$L/restored" || guest_fail "the restored files differ"
grep -qF "$SECRET" "$L/restored/secret.bin" || guest_fail "the restored secret.bin lacks its text"
for s in s1 s2 s3; do
	guest_eq "guid of restored@$s" "$(prop "lap/secret@$s" guid)" "$(prop "lap/restored@$s" guid)"
done
report "restore by hand: zfs send -w -I from the disk, zfs receive on the laptop, load-key with the laptop's key: files equal, $((SECONDS - t0)) s"
zfs unmount lap/restored
zpool export bakdisk1
guest_step pull-restore

guest_eq "queued files at the end" 0 "$(find /var/local/nncp-incoming/laptop -type f | wc -l)"
report "landed: home @s1..@s4 (-p, the compound -I @s1 @s4 resumed after @s2), secret @s1..@s3 raw (keystatus unavailable); guids equal; $QUEUED streams queued, 0 left; nothing of the disk mounted; runs: NNCPSTICK1 1, NNCPSTICK2 1, bakdisk1 3, all safe"
zpool export lap
guest_log "all checks passed"
