# shellcheck shell=bash
#
# tests/vm/guest-box.sh: backupsvr set up as docs/appliance.md tells the
# admin, a laptop beside it, and what the fault scenarios read of the box.
# A guest script sources it after lib.sh: ". /mnt/host/box.sh" (the host's
# box_init, tests/vm/lib-box.sh, puts it on the share).  Everything it
# makes lives on the guest's root disk, so a later boot of the same disk
# (a reboot, a power cut) finds it again.
#
# Setting up (once, in boot 1):
#   box_setup [rotation]      stop the watch daemon; backupsvr's gpg key,
#                             NNCP node and /etc/airgap-agent.conf (media
#                             entries on, the laptop as the signer, short
#                             timeouts, with "rotation" bakdisk1 and
#                             bakdisk2 as the rotation); the laptop's gpg
#                             key, NNCP node and pool
#   box_pool NAME SERIAL      zpool create -m none NAME on the USB disk
#                             SERIAL, exported again (step 7 of the doc)
#   box_start                 (re)start the watch daemon, as the doc says
#                             after editing the configuration
# The laptop (what airgap-queue and NNCP do on the sending side):
#   box_snap NAME MIB         write MIB MiB of random data, snapshot
#                             lap/home@NAME
#   box_queue SNAP [BASE]     zfs send (-i BASE) | zstd | gpg, signed by
#                             the laptop, encrypted to backupsvr, a copy
#                             kept in BOX_SENT; nncp-file to backupsvr;
#                             BOX_QN is the queue file's name
#   box_deliver               carry the laptop's packets to backupsvr
#                             (nncp-xfer through a folder, toss as nncp):
#                             they land in the incoming folder
#   box_stick_write DEV       the laptop's packets onto the stick DEV
#                             (mounted for it, unmounted again)
# Reading the box:
#   box_mark NAME             remember this moment (journal, runs.log,
#                             beeps) as NAME
#   box_runs NAME             runs.log lines since the mark
#   box_wait_runs NAME N SECONDS   until N runs ended since the mark
#   box_states NAME           the light's states the agent set since the
#                             mark (its log), one a line
#   box_beeps NAME            the tones the PC speaker was told to play
#                             since the mark, in Hz
#   box_light                 the LED as sysfs shows it: "off", "on" or
#                             "blink ON/OFF" (ms)
#   box_light_is STATE        does the LED show STATE's pattern?
#   box_agent_procs           the agent's processes (pid, state, args)
#   box_check_no_stuck_agent  fail if a process of the agent is in D state
#                             or waits for a child in D state
#   box_check_queue           every queued file equals the laptop's copy
#   box_snaps POOL            "SNAPSHOT GUID" of the laptop's dataset on an
#                             imported POOL
#   box_import_ro POOL, box_export POOL
#                             look at a backup disk (read-only, mounting
#                             nothing) once the agent is done with it

BOX=/root/box
BOX_LAP=$BOX/laptop
BOX_SENT=$BOX_LAP/sent
BOX_STATE=/var/lib/airgap-agent
BOX_CONF=/etc/airgap-agent.conf
BOX_INCOMING=/var/local/nncp-incoming
BOX_DS=simplesnap/laptop/lap/home
BOX_QN=
BOX_LAP_FPR=
BOX_BSVR_FPR=
# shellcheck source=/dev/null # written by box_gpg
[ ! -f "$BOX/env" ] || . "$BOX/env"

# NNCP's tools print progress lines unless told not to; nncp-stat has
# no such flag.
box_nncp_lap() {
	local quiet=(-noprogress)

	[ "$1" != stat ] || quiet=()
	nncp-"$1" -cfg "$BOX_LAP/nncp.hjson" "${quiet[@]}" "${@:2}"
}

box_nncp_bsvr() {
	local quiet=(-noprogress)

	[ "$1" != stat ] || quiet=()
	runuser -u nncp -- nncp-"$1" -cfg /etc/nncp/nncp.hjson "${quiet[@]}" "${@:2}"
}

# box_nncp_key CFG KEY: a public value of the node's own (neigh.self).
box_nncp_key() {
	awk -v k="$2:" '$1 == k { print $2; exit }' "$1"
}

# box_nncp_neigh CFG NAME FROM_CFG [LINE...]: add the node of FROM_CFG to
# CFG's neigh section as NAME (id, exchpub, signpub, one key a line).
box_nncp_neigh() {
	local cfg=$1 name=$2 from=$3 block k

	shift 3
	block="    $name: {"
	for k in id exchpub signpub; do
		block+=$'\n'"      $k: $(box_nncp_key "$from" "$k")"
	done
	for k in "$@"; do
		block+=$'\n'"      $k"
	done
	block+=$'\n'"    }"
	[ "$(tail -n 2 "$cfg" | tr -d ' \n')" = '}}' ] ||
	    guest_fail "unexpected end of $cfg"
	{ head -n -2 "$cfg"; printf '%s\n  }\n}\n' "$block"; } >"$cfg.new"
	cat "$cfg.new" >"$cfg"
	rm -f "$cfg.new"
}

box_gpg_fpr() {
	GNUPGHOME=$1 gpg --batch --with-colons --list-secret-keys |
	    awk -F: '$1 == "fpr" { print $10; exit }'
}

# Step 4 of the doc: backupsvr's key without a passphrase; the laptop's
# signing key on the laptop; each has the other's public key.
box_gpg() {
	local home

	for home in /root/.gnupg "$BOX_LAP/gnupg"; do
		mkdir -p "$home" && chmod 700 "$home"
		GNUPGHOME=$home gpg --batch -q --passphrase '' --quick-gen-key \
		    "$([ "$home" = /root/.gnupg ] && echo backupsvr || echo laptop)" \
		    future-default default never
	done
	BOX_BSVR_FPR=$(box_gpg_fpr /root/.gnupg)
	BOX_LAP_FPR=$(box_gpg_fpr "$BOX_LAP/gnupg")
	GNUPGHOME=$BOX_LAP/gnupg gpg --batch -q --export "$BOX_LAP_FPR" |
	    GNUPGHOME=/root/.gnupg gpg --batch -q --import
	GNUPGHOME=/root/.gnupg gpg --batch -q --export "$BOX_BSVR_FPR" |
	    GNUPGHOME=$BOX_LAP/gnupg gpg --batch -q --import
	# The agent starts its own gpg-agent, as on a box that just booted.
	GNUPGHOME=/root/.gnupg gpgconf --kill gpg-agent
	printf 'BOX_BSVR_FPR=%s\nBOX_LAP_FPR=%s\n' "$BOX_BSVR_FPR" "$BOX_LAP_FPR" >"$BOX/env"
}

# Steps 2 and 3: backupsvr's node as the doc makes it, the laptop's node
# (it writes the sticks itself, as a spooler would).
box_nncp() {
	local lap=$BOX_LAP/nncp.hjson

	mkdir -p /etc/nncp
	nncp-cfgnew -nocomments >/etc/nncp/nncp.hjson
	chown nncp: /etc/nncp/nncp.hjson && chmod 600 /etc/nncp/nncp.hjson
	install -d -o nncp -g nncp /var/spool/nncp "$BOX_INCOMING"
	(umask 077 && nncp-cfgnew -nocomments >"$lap")
	sed -i -e "s|^  spool: .*|  spool: $BOX_LAP/spool|" \
	    -e "s|^  log: .*|  log: $BOX_LAP/log|" "$lap"
	mkdir -p "$BOX_LAP/spool"
	box_nncp_neigh /etc/nncp/nncp.hjson laptop "$lap" \
	    "incoming: \"$BOX_INCOMING/laptop\""
	box_nncp_neigh "$lap" backupsvr /etc/nncp/nncp.hjson
	box_nncp_bsvr stat >/dev/null || guest_fail "backupsvr's NNCP config does not work"
	box_nncp_lap stat >/dev/null || guest_fail "the laptop's NNCP config does not work"
}

# Step 5: the shipped file, edited.  Short timeouts, so that a hang is
# seen within a minute, and a small min_free_mb for the small disks.
box_configure() {
	local shipped=$BOX/airgap-agent.conf.shipped

	cp "$BOX_CONF" "$shipped"
	# status.beeper names the PC speaker's event node itself rather than
	# udev's by-path link to it: the tests read the tones either way.
	sed -i -e "s/0123456789ABCDEF0123456789ABCDEF01234567/$BOX_LAP_FPR/" \
	    -e "s|^\( *beeper = \).*|\1\"$(readlink -f /dev/input/by-path/platform-pcspkr-event-spkr)\";|" \
	    -e '/^media = (/,/^);/ s/^#//' \
	    -e 's/^\( *min_free_mb = \).*/\116;/' \
	    -e '/^timeouts = {/,/^};/ {
		s/\(command = \)[0-9]*/\130/
		s/\(stall = \)[0-9]*/\130/
		s/\(nncp = \)[0-9]*/\1120/
		s/\(import = \)[0-9]*/\160/
		s/\(export = \)[0-9]*/\130/
		s/\(handle = \)[0-9]*/\1600/
	    }' "$BOX_CONF"
	if [ "${1:-}" = rotation ]; then
		sed -i 's/^\( *rotation = \)\[ \];/\1[ "bakdisk1", "bakdisk2" ];/' "$BOX_CONF"
	fi
	guest_log "the configuration, as edited:"
	diff -u "$shipped" "$BOX_CONF" | sed -n 's/^[-+] /    &/p' || true
	airgap-agent check >"$BOX/check.out" || {
		cat "$BOX/check.out"
		guest_fail "airgap-agent check refuses the edited configuration"
	}
	grep -q 'label = "bakdisk\*"' "$BOX/check.out" ||
	    guest_fail "the media entries did not take: $(cat "$BOX/check.out")"
	grep -q "$BOX_LAP_FPR" "$BOX/check.out" || guest_fail "the laptop's signer did not take"
	grep -q 'stall = 30;' "$BOX/check.out" || guest_fail "the timeouts did not take"
	if [ "${1:-}" = rotation ]; then
		grep -q 'rotation = \[ "bakdisk1", "bakdisk2" \]' "$BOX/check.out" ||
		    guest_fail "the rotation did not take"
	fi
}

box_laptop_pool() {
	truncate -s 384M /var/tmp/lap.img
	zpool create -o cachefile=none -O mountpoint=/lap lap /var/tmp/lap.img
	zfs create lap/home
	mkdir -p "$BOX_SENT"
}

box_setup() {
	mkdir -p "$BOX_LAP"
	# Step 1 of the doc: the ZFS module (a boot on a loaded machine has
	# been seen to give up on loading it).
	modprobe zfs
	systemctl stop airgap-agent
	box_gpg
	box_nncp
	box_light_setup
	box_configure "$@"
	box_laptop_pool
	box_tones_on
}

# The LED blinks through the kernel's timer trigger, which a stock
# Debian 12 does not load: loaded now and at every boot (the package
# does that itself where it ships its modules-load.d entry).
box_light_setup() {
	[ -e /usr/lib/modules-load.d/airgap-agent.conf ] ||
	    echo ledtrig-timer >/etc/modules-load.d/ledtrig-timer.conf
	modprobe ledtrig-timer
	modprobe pcspkr
}

box_pool() {
	local dev

	dev=$(guest_usb_dev "$2")
	guest_wait 120 "the USB disk $2" test -e "$dev"
	zpool create -m none "$1" "$dev"
	zpool export "$1"
}

# The laptop's pool is on a file: a boot imports it again.
box_laptop_import() {
	zpool list lap >/dev/null 2>&1 || zpool import -o cachefile=none -d /var/tmp lap
}

box_start() {
	local t0

	t0=$(date '+%Y-%m-%d %H:%M:%S')
	systemctl restart airgap-agent
	guest_wait 300 "the watch daemon listening" box_journal_since "$t0" \
	    grep -q 'watch: listening for block devices'
}

box_journal_since() {
	local since=$1

	shift
	journalctl -b -u airgap-agent -o cat --no-pager --since "$since" | "$@"
}

box_snap() {
	box_laptop_import
	head -c "$(($2 * 1048576))" /dev/urandom >"/lap/home/$1.bin"
	zfs snapshot "lap/home@$1"
	printf '%s %s\n' "$1" "$(zfs get -H -p -o value guid "lap/home@$1")" >>"$BOX_LAP/snaps"
}

# box_guid SNAP: the laptop snapshot's guid.
box_guid() {
	awk -v s="$1" '$1 == s { print $2 }' "$BOX_LAP/snaps"
}

# As airgap-queue does it (docs/sender.md), with a copy kept.
box_queue() {
	local snap=$1 base=${2:-} from=()

	box_laptop_import
	[ -z "$base" ] || from=(-i "@$base")
	BOX_QN="bakfsfmt2-$(date +%s.%N).$$_laptop@lap@home"
	zfs send "${from[@]}" "lap/home@$snap" | zstd -q -8 - |
	    GNUPGHOME=$BOX_LAP/gnupg gpg --batch --quiet --compress-algo none \
	    --cipher-algo AES256 --trust-model always -e -r "$BOX_BSVR_FPR" \
	    -s -u "$BOX_LAP_FPR" >"$BOX_SENT/$BOX_QN"
	printf '%s %s\n' "$BOX_QN" "$snap" >>"$BOX_LAP/queued"
	box_nncp_lap file -nice B - "backupsvr:$BOX_QN" <"$BOX_SENT/$BOX_QN"
	# The copies the checks compare with must outlive a power cut, as
	# what NNCP wrote (it fsyncs) does.
	sync
}

# box_snap_of NAME: the snapshot a queue file carries.
box_snap_of() {
	awk -v q="$1" '$1 == q { print $2 }' "$BOX_LAP/queued"
}

box_deliver() {
	local dir

	dir=$(mktemp -d /var/tmp/carry.XXXXXX)
	chmod 755 "$dir"
	box_nncp_lap xfer -tx -mkdir -node backupsvr "$dir"
	chown -R nncp: "$dir"
	box_nncp_bsvr xfer -rx "$dir"
	box_nncp_bsvr toss -seen
	rm -rf "$dir"
}

box_stick_write() {
	local dev=$1 mnt=/mnt/stick-write

	mkdir -p "$mnt"
	mount "$dev" "$mnt"
	mkdir -p "$mnt/nncp"
	box_nncp_lap xfer -tx -mkdir -node backupsvr "$mnt/nncp"
	(cd "$mnt/nncp" && find . -type f -exec sha256sum {} +) >"$BOX/stick.sha256"
	umount "$mnt"
	# What the agent reads must come from the stick, not from the cache.
	echo 3 >/proc/sys/vm/drop_caches
}

# --- reading the box

box_mark() {
	local m=/run/box-mark.$1

	date '+%Y-%m-%d %H:%M:%S' >"$m.time"
	cut -d ' ' -f 1 /proc/uptime >"$m.uptime"
	{ wc -l <"$BOX_STATE/runs.log"; } 2>/dev/null >"$m.runs" || echo 0 >"$m.runs"
	# Journal timestamps have seconds: a mark is taken a second after
	# what came before it.
	sleep 1
}

box_runs() {
	tail -n +"$(($(cat "/run/box-mark.$1.runs") + 1))" "$BOX_STATE/runs.log" 2>/dev/null
}

box_count_runs() {
	[ "$(box_runs "$1" | wc -l)" -ge "$2" ]
}

box_wait_runs() {
	guest_wait "$3" "$2 run(s) of the agent since $1" box_count_runs "$1" "$2"
}

box_states() {
	box_journal_since "$(cat "/run/box-mark.$1.time")" \
	    sed -n 's/.*indicator: \([a-z-]*\).*/\1/p'
}

# The PC speaker: a kprobe on the driver's event function records every
# tone the agent asks it to play (the driver has no other trace).
box_tones_on() {
	local t=/sys/kernel/tracing

	modprobe pcspkr
	grep -q '^beep ' <(sed 's/^p:kprobes\///' "$t/kprobe_events") ||
	    echo 'p:beep pcspkr_event type=%si:u32 code=%dx:u32 value=%cx:s32' \
	    >>"$t/kprobe_events"
	echo 1 >"$t/events/kprobes/beep/enable"
	echo 1 >"$t/tracing_on"
}

box_beeps() {
	local since

	since=$(cat "/run/box-mark.$1.uptime")
	awk -v s="$since" '/ beep: / && / type=18 / {
		t = $0; sub(/: beep:.*/, "", t); n = split(t, a, " "); t = a[n] + 0
		v = $0; sub(/.*value=/, "", v); v += 0
		if (t >= s && v != 0) printf "%s%d", sep++ ? " " : "", v
	} END { print "" }' /sys/kernel/tracing/trace
}

# box_light: the keyboard's scroll-lock LED as sysfs shows it (its
# input number is the kernel's choice at each boot).
box_light() {
	local trig leds=(/sys/class/leds/input*::scrolllock)
	local led=${leds[0]}

	trig=$(sed -n 's/.*\[\([^]]*\)\].*/\1/p' "$led/trigger")
	case $trig in
	timer) echo "blink $(cat "$led/delay_on")/$(cat "$led/delay_off")" ;;
	none) if [ "$(cat "$led/brightness")" -gt 0 ]; then echo on; else echo off; fi ;;
	*) echo "$trig" ;;
	esac
}

# The patterns of docs/appliance.md.
box_pattern() {
	case $1 in
	idle) echo off ;;
	working) echo "blink 1000/1000" ;;
	safe) echo on ;;
	error) echo "blink 150/150" ;;
	needs-reboot) echo "blink 100/1400" ;;
	idle-overdue) echo "blink 100/4900" ;;
	*) guest_fail "box_pattern: no state $1" ;;
	esac
}

box_tones() {
	case $1 in
	working) echo 1000 ;;
	safe) echo 880 1320 ;;
	error) echo 440 440 440 ;;
	needs-reboot) echo 1200 600 1200 600 1200 600 1200 600 ;;
	not-mine) echo 300 ;;
	*) echo ;;
	esac
}

box_light_is() {
	[ "$(box_light)" = "$(box_pattern "$1")" ]
}

box_agent_procs() {
	ps -eo pid=,ppid=,stat=,args= | awk '$4 ~ /airgap-agent$/ || $5 ~ /airgap-agent$/'
}

# No process of the agent sits in D state, and none has a child in D
# state it would wait for: a child stuck in the kernel must have been
# given up (it is then init's).
box_check_no_stuck_agent() {
	local pid ppid stat args pcomm

	while read -r pid ppid stat args; do
		case $stat in D*) ;; *) continue ;; esac
		pcomm=$(cat "/proc/$ppid/comm" 2>/dev/null || echo gone)
		guest_log "in D state: $pid ($args), parent $ppid ($pcomm)"
		case $args in
		*airgap-agent*) guest_fail "a process of the agent is in D state: $pid $args" ;;
		esac
		[ "$pcomm" != airgap-agent ] ||
		    guest_fail "the agent ($ppid) still has its child $pid ($args) in D state"
	done < <(ps -eo pid=,ppid=,stat=,args=)
}

# Every file in the incoming folder is one the laptop queued, byte for
# byte; prints how many there are.
box_check_queue() {
	local f n=0

	for f in "$BOX_INCOMING"/laptop/*; do
		[ -f "$BOX_SENT/${f##*/}" ] || guest_fail "queued file ${f##*/} is none the laptop sent"
		cmp -s "$f" "$BOX_SENT/${f##*/}" || guest_fail "queued file ${f##*/} differs from what was sent"
		n=$((n + 1))
	done
	echo "$n"
}

box_queued() {
	local f

	for f in "$BOX_INCOMING"/laptop/*; do
		echo "${f##*/}"
	done
}

box_import_ro() {
	zpool import -N -o readonly=on -o cachefile=none "$1"
}

box_export() {
	zpool export "$1"
}

box_snaps() {
	zfs list -H -p -t snapshot -o name,guid -s createtxg -r "$1/$BOX_DS" 2>/dev/null |
	    sed 's/^[^@]*@//'
}

# Runs that ended in this boot (a power cut may have lost the end of
# runs.log, so lines are told apart by their time, not counted).
box_runs_this_boot() {
	awk -F '\t' -v b="$(awk '$1 == "btime" { print $2 }' /proc/stat)" \
	    '$1 >= b' "$BOX_STATE/runs.log" 2>/dev/null
}

# box_check_handled_once N: the daemon handed media over N times this
# boot, no more: the events a disk makes of its own while it stays
# plugged in (OpenZFS's import and export) are not taken for a pull and
# a new insertion, and no run is still going.
box_check_handled_once() {
	local n

	n=$(journalctl -b -u airgap-agent -o cat --no-pager | grep -c 'watch: handing .* over' || true)
	guest_eq "media handed over this boot" "$1" "$n"
	! pgrep -af 'airgap-agent .*handle ' ||
	    guest_fail "a handle run is going though the media were not touched"
}

box_count_runs_this_boot() {
	[ "$(box_runs_this_boot | wc -l)" -ge "$1" ]
}

# box_wait_proc SECONDS WHAT PATTERN: until a process whose command line
# matches PATTERN (pgrep -f) runs.
box_wait_proc() {
	guest_wait "$1" "$2" box_proc_runs "$3"
}

box_proc_runs() {
	pgrep -f "$1" >/dev/null
}

# box_outcomes: the outcome column of runs.log lines on stdin.
box_outcomes() {
	cut -f 5 | tr '\n' ' ' | sed 's/ $//'
}

# box_check_snaps POOL SNAP...: POOL (imported) holds exactly these
# snapshots of the laptop's dataset, with the laptop's guids.
box_check_snaps() {
	local pool=$1 want="" s

	shift
	for s in "$@"; do
		want+="$s $(box_guid "$s")"$'\n'
	done
	guest_eq "the snapshots (and guids) on $pool" "${want%$'\n'}" "$(box_snaps "$pool" | tr '\t' ' ')"
}

# What explains a failure: the agent's log of this boot, its last runs,
# what NNCP holds.  guest_fail shows it first.
box_show() {
	printf -- '--- the agent'"'"'s log (this boot, last 80 lines):\n'
	journalctl -b -u airgap-agent -o short-monotonic --no-pager 2>&1 | tail -n 80
	printf -- '--- runs.log (last 5):\n'
	tail -n 5 "$BOX_STATE/runs.log" 2>/dev/null
	printf -- '--- light: %s; processes of the agent:\n' "$(box_light 2>&1)"
	box_agent_procs
	printf -- '--- NNCP spool and incoming:\n'
	find /var/spool/nncp "$BOX_INCOMING" -type f -printf '%s\t%p\n' 2>/dev/null | grep -v '/log$' | head -n 20
}

eval "box_guest_fail_$(declare -f guest_fail)"
guest_fail() {
	box_show
	box_guest_fail_guest_fail "$@"
}
