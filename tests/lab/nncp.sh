# shellcheck shell=bash disable=SC2034 # the variables are for the other parts and the scenarios
# tests/lab/nncp.sh, sourced by tests/functions.sh:
# NNCP: laptop -> spooler -> stick -> backupsvr

# lab_nncp NODE TOOL ARGS...: run nncp-TOOL with NODE's config; backupsvr's
# tools run as $NNCP_USER, like the agent runs them.
lab_nncp() {
	local node=$1 tool=$2 cfg

	shift 2
	cfg=$LAB/nncp/$node/cfg.hjson
	if [ "$node" = backupsvr ]; then
		runuser -u "$NNCP_USER" -- "nncp-$tool" -cfg "$cfg" "$@"
	else
		"nncp-$tool" -cfg "$cfg" "$@"
	fi
}

# lab_nncp_new NAME: keys for node NAME from nncp-cfgnew, its id, exchpub
# and signpub in NNCP_<NAME>_{ID,EXCHPUB,SIGNPUB}.
lab_nncp_new() {
	local dir=$LAB/nncp/$1 key val

	mkdir -p "$dir/spool"
	(umask 077 && nncp-cfgnew -nocomments >"$dir/new.hjson") ||
	    lab_die "nncp-cfgnew for $1 failed"
	for key in id exchpub signpub; do
		# The first occurrences are in the top-level "self" block.
		val=$(awk -v k="$key:" '$1 == k { print $2; exit }' "$dir/new.hjson")
		[ -n "$val" ] || lab_die "no $key in the nncp-cfgnew output for $1"
		printf -v "NNCP_${1}_${key^^}" '%s' "$val"
	done
}

# lab_nncp_neigh NAME [LINE...]: a neigh block for NAME (one key per line).
lab_nncp_neigh() {
	local name=$1 v line

	shift
	printf '    %s: {\n' "$name"
	v=NNCP_${name}_ID
	printf '      id: %s\n' "${!v}"
	v=NNCP_${name}_EXCHPUB
	printf '      exchpub: %s\n' "${!v}"
	v=NNCP_${name}_SIGNPUB
	printf '      signpub: %s\n' "${!v}"
	for line in "$@"; do
		printf '      %s\n' "$line"
	done
	printf '    }\n'
}

# lab_nncp_cfg NAME NEIGH_BLOCKS: write $LAB/nncp/NAME/cfg.hjson: the
# nncp-cfgnew output with spool and log in the node's folder and the
# neighbours added to neigh (after neigh.self).
lab_nncp_cfg() {
	local dir=$LAB/nncp/$1

	[ "$(tail -n 2 "$dir/new.hjson" | tr -d ' \n')" = '}}' ] ||
	    lab_die "unexpected end of the nncp-cfgnew output for $1"
	(
		umask 077
		head -n -2 "$dir/new.hjson" |
		    sed -e "s|^  spool: .*|  spool: $dir/spool|" \
		        -e "s|^  log: .*|  log: $dir/log|"
		printf '%s' "$2"
		printf '  }\n}\n'
	) >"$dir/cfg.hjson"
	chmod 0600 "$dir/cfg.hjson"
	rm -f "$dir/new.hjson"
	grep -q "^  spool: $dir/spool\$" "$dir/cfg.hjson" ||
	    lab_die "could not set the spool in $dir/cfg.hjson"
}

# lab_nncp_lab: the three nodes.  The laptop sends to backupsvr via the
# spooler; backupsvr delivers the laptop's files into $INCOMING/laptop.
# backupsvr's folder and that incoming folder belong to $NNCP_USER.
lab_nncp_lab() {
	local n

	for n in nncp-cfgnew nncp-file nncp-xfer nncp-toss nncp-stat runuser \
	    mkfs.ext4 udevadm; do
		command -v "$n" >/dev/null || lab_die "$n not found in PATH"
	done
	id -u "$NNCP_USER" >/dev/null 2>&1 || lab_die "no user $NNCP_USER"
	unset NNCPCFG NNCPSPOOL
	for n in laptop spooler backupsvr; do
		lab_nncp_new "$n"
	done
	# shellcheck disable=SC2034,SC2154 # set by lab_nncp_new; for the scenarios
	LAP_ID=$NNCP_laptop_ID SPOOLER_ID=$NNCP_spooler_ID BSVR_ID=$NNCP_backupsvr_ID
	lab_nncp_cfg laptop "$(lab_nncp_neigh spooler
	    lab_nncp_neigh backupsvr 'via: ["spooler"]')
"
	lab_nncp_cfg spooler "$(lab_nncp_neigh laptop
	    lab_nncp_neigh backupsvr)
"
	lab_nncp_cfg backupsvr "$(lab_nncp_neigh laptop \
	    "incoming: \"$INCOMING/laptop\""
	    lab_nncp_neigh spooler)
"
	NNCP_BSVR_DIR=$LAB/nncp/backupsvr
	mkdir -p "$INCOMING/laptop"
	chown -R "$NNCP_USER:" "$NNCP_BSVR_DIR" "$INCOMING/laptop"
	for n in laptop spooler backupsvr; do
		lab_nncp "$n" stat >/dev/null 2>>"$LAB/logs/nncp.log" ||
		    lab_die "nncp-stat with the config of $n fails (see $LAB/logs/nncp.log)"
	done
}

# lab_nncp_queue [lab_stream options] SNAP: make a queue file as lab_stream
# does and queue it on the laptop with nncp-file for backupsvr:NAME.  A copy
# stays in $LAB/sent/NAME; QF is that copy, QN the name.
lab_nncp_queue() {
	lab_stream "$@"
	mkdir -p "$LAB/sent"
	cp "$QF" "$LAB/sent/$QN"
	lab_nncp laptop file -noprogress -nice B - "backupsvr:$QN" <"$QF" \
	    2>>"$LAB/logs/nncp.log" ||
	    lab_die "nncp-file $QN failed (see $LAB/logs/nncp.log)"
	rm -f "$QF"
	QF=$LAB/sent/$QN
}

# lab_nncp_queue_chunked KIB [lab_stream options] SNAP: as lab_nncp_queue,
# sent with nncp-file -chunked KIB: NAME.nncp.chunk0... and NAME.nncp.meta.
lab_nncp_queue_chunked() {
	local kib=$1

	shift
	lab_stream "$@"
	mkdir -p "$LAB/sent"
	cp "$QF" "$LAB/sent/$QN"
	lab_nncp laptop file -noprogress -nice B -chunked "$kib" - "backupsvr:$QN" \
	    <"$QF" 2>>"$LAB/logs/nncp.log" ||
	    lab_die "nncp-file -chunked $QN failed (see $LAB/logs/nncp.log)"
	rm -f "$QF"
	QF=$LAB/sent/$QN
}

# lab_nncp_laptop_tx: the laptop's packets for the spooler, smallest
# first (a chunked file's meta packet is far smaller than its chunks').
lab_nncp_laptop_tx() {
	local tx=$LAB/nncp/laptop/spool/$SPOOLER_ID/tx

	[ -d "$tx" ] || return 0
	find "$tx" -maxdepth 1 -type f -printf '%s %f\n' | sort -n | cut -d' ' -f2
}

# lab_nncp_hold PKT...: set the laptop's packets PKT aside, so that the
# next trip does not carry them; lab_nncp_unhold puts them back.
lab_nncp_hold() {
	local tx=$LAB/nncp/laptop/spool/$SPOOLER_ID/tx p

	mkdir -p "$LAB/held/hdr"
	for p in "$@"; do
		mv "$tx/$p" "$LAB/held/$p" || lab_die "cannot hold packet $p"
		[ ! -e "$tx/hdr/$p" ] || mv "$tx/hdr/$p" "$LAB/held/hdr/$p"
	done
}

lab_nncp_unhold() {
	local tx=$LAB/nncp/laptop/spool/$SPOOLER_ID/tx p

	mkdir -p "$tx/hdr"
	for p in "$LAB"/held/*; do
		[ -f "$p" ] || continue
		mv "$p" "$tx/" || lab_die "cannot give back packet $p"
		[ ! -e "$LAB/held/hdr/${p##*/}" ] || mv "$LAB/held/hdr/${p##*/}" "$tx/hdr/"
	done
}

# lab_nncp_pending NODE: the inbound packets left in NODE's spool.
lab_nncp_pending() {
	lab_nncp "$1" stat -pkt 2>>"$LAB/logs/nncp.log" | grep -c $'^\trx ' || true
}

# lab_nncp_relay: carry the laptop's packets to the spooler (nncp-xfer
# through a folder) and let the spooler toss them into its queue for
# backupsvr.
lab_nncp_relay() {
	local dir

	dir=$(mktemp -d "$LAB/xfer.XXXXXX")
	if ! lab_nncp laptop xfer -noprogress -tx -mkdir -node spooler "$dir" \
	    2>>"$LAB/logs/nncp.log" ||
	    ! lab_nncp spooler xfer -noprogress -rx "$dir" 2>>"$LAB/logs/nncp.log" ||
	    ! lab_nncp spooler toss -noprogress 2>>"$LAB/logs/nncp.log"; then
		lab_die "moving packets from the laptop to the spooler failed (see $LAB/logs/nncp.log)"
	fi
	[ "$(lab_nncp_pending spooler)" = 0 ] ||
	    lab_die "the spooler could not toss all packets (see $LAB/logs/nncp.log)"
	rm -rf "$dir"
}

# lab_nncp_stick [-l LABEL] [-s MIB] IMG: make an ext4 stick image IMG
# (label $STICK_LABEL, 32 MiB; the options as for lab_stick_image) and
# let the spooler write its packets for backupsvr onto it (nncp-xfer -tx
# -mkdir -node backupsvr STICK/nncp).  The stick's files are then given to
# $NNCP_FOREIGN_UID, as when another machine's NNCP user wrote them.  The
# image is left detached; sets STICK_IMG and STICK_PACKETS (how many
# packets are on it).
lab_nncp_stick() {
	local img=${!#} mnt=$LAB/stickw

	lab_stick_image "$@"
	lab_media_attach "$img"
	mkdir -p "$mnt"
	mount "$LAB_DEV" "$mnt" || lab_die "mount $LAB_DEV failed"
	lab_nncp_fill "$mnt" "$NNCP_FOREIGN_UID"
	umount "$mnt" || lab_die "umount $mnt failed"
	rmdir "$mnt"
	lab_media_detach "$LAB_DEV"
	# shellcheck disable=SC2034 # for the scenario scripts
	STICK_IMG=$img
}

# lab_nncp_fill MNT OWNER: the spooler writes its packets for backupsvr
# into MNT/nncp (nncp-xfer -tx), then gives them to OWNER.  Sets
# STICK_PACKETS.
lab_nncp_fill() {
	mkdir "$1/nncp"
	lab_nncp spooler xfer -noprogress -tx -mkdir -node backupsvr "$1/nncp" \
	    2>>"$LAB/logs/nncp.log" ||
	    lab_die "nncp-xfer -tx onto the stick failed (see $LAB/logs/nncp.log)"
	STICK_PACKETS=$(find "$1/nncp/$BSVR_ID" -type f | wc -l)
	chown -R "$2:$2" "$1/nncp"
}

# lab_stick_image [-l LABEL] [-t TYPE] [-s MIB] IMG: a plain filesystem
# image without NNCP folder (mkfs.TYPE, default ext4, label
# $STICK_LABEL, 32 MiB), detached.
lab_stick_image() {
	local OPTIND opt label=$STICK_LABEL type=ext4 size=32

	while getopts 'l:t:s:' opt; do
		case $opt in
		l) label=$OPTARG ;;
		t) type=$OPTARG ;;
		s) size=$OPTARG ;;
		*) lab_die "lab_stick_image: bad option" ;;
		esac
	done
	shift $((OPTIND - 1))
	truncate -s "${size}M" "$1"
	"mkfs.$type" -q -L "$label" "$1" >>"$LAB/logs/mkfs.log" 2>&1 ||
	    lab_die "mkfs.$type $1 failed"
}

# lab_stick_open DEV: mount the stick DEV read-only on $LAB/stickchk to
# look at what the agent left on it.  lab_stick_close unmounts it.
lab_stick_open() {
	mkdir -p "$LAB/stickchk"
	mount -o ro,noload "$1" "$LAB/stickchk" ||
	    lab_fail "cannot mount the stick $1 read-only to check it"
}

lab_stick_close() {
	umount "$LAB/stickchk" || lab_fail "cannot unmount $LAB/stickchk"
	rmdir "$LAB/stickchk"
}
