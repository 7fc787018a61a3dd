#!/bin/bash
#
# t61-airgap-fanout: scripts/airgap-fanout on a spooler with two backup
# disk nodes (three real NNCP nodes), run as the nncp user.  Queue files
# in INCOMING/HOST/ are queued with nncp-file for each disk node and
# removed once every disk has its packet; carried to the disk nodes, they
# arrive byte for byte in each disk's incoming folder as HOST/NAME.
# Other names are left alone.  When one disk's nncp-file fails (the
# spooler's config lacks that node), the file stays with a NAME.sent-DISK
# marker for the disk that got it, the run exits 1, and the next run
# after the fix sends only the missing packet.  A second run while the
# lock is held exits 0 and touches nothing.  Symbolic links and folders
# with a queue file's name are skipped.  A missing INCOMING is an error.
# The pieces of a file sent with nncp-file -chunked (NAME.nncp.chunkN,
# NAME.nncp.meta) are sent on one by one, and each disk's nncp-reass
# rebuilds the file from them.

# shellcheck source=functions.sh
. "$(dirname "$0")/functions.sh"

FANOUT=
NNCP_USER=nncp
FAN_RC=
FAN_LOG=
FAN_N=0
HOLDER=

lab_init
chmod 0711 "$LAB"
FANOUT=$(lab_user_bin "$TOP/scripts/airgap-fanout")
for t in nncp-cfgnew nncp-file nncp-xfer nncp-toss runuser flock; do
	command -v "$t" >/dev/null || lab_die "$t not found"
done
NNCP_BIN=$(dirname "$(command -v nncp-file)")
unset NNCPCFG NNCPSPOOL

stop_holder() {
	[ -z "$HOLDER" ] || kill "$HOLDER" 2>/dev/null || true
	HOLDER=
}
LAB_CLEANUP_FIRST+=(stop_holder)

# The nodes: the spooler knows both disks; each disk knows the spooler
# and delivers its files into its own incoming folder.
for n in spooler backupdisk1 backupdisk2; do
	lab_nncp_new "$n"
done
lab_nncp_cfg spooler "$(lab_nncp_neigh backupdisk1
    lab_nncp_neigh backupdisk2)
"
for n in backupdisk1 backupdisk2; do
	lab_nncp_cfg "$n" "$(lab_nncp_neigh spooler "incoming: \"$LAB/$n-incoming\"")
"
done
SPOOLER=$LAB/nncp/spooler
# The same config without backupdisk2: nncp-file to it fails.
awk '/^    backupdisk2: \{$/ { skip = 1 } !skip { print } skip && /^    \}$/ { skip = 0 }' \
    "$SPOOLER/cfg.hjson" >"$SPOOLER/cfg-broken.hjson"
if ! grep -q backupdisk1 "$SPOOLER/cfg-broken.hjson" ||
    grep -q backupdisk2 "$SPOOLER/cfg-broken.hjson"; then
	lab_die "could not make the config without backupdisk2"
fi
chmod 0600 "$SPOOLER/cfg-broken.hjson"
FIN=$LAB/fanout-incoming
mkdir -p "$FIN/laptop" "$LAB/copies"
chown -R "$NNCP_USER:" "$SPOOLER" "$FIN"

# fanout [CONFIG]: airgap-fanout as the nncp user with the spooler's
# config (or CONFIG); sets FAN_RC and FAN_LOG (its stderr).
fanout() {
	FAN_N=$((FAN_N + 1))
	FAN_LOG=$LAB/logs/fanout.$FAN_N.log
	FAN_RC=0
	runuser -u "$NNCP_USER" -- env AIRGAP_FANOUT_CONF=/dev/null \
	    AIRGAP_FANOUT_INCOMING="$FIN" AIRGAP_FANOUT_DISKS="backupdisk1 backupdisk2" \
	    AIRGAP_NNCP_CFG="${1:-$SPOOLER/cfg.hjson}" AIRGAP_NNCP_BIN="$NNCP_BIN" \
	    "$FANOUT" </dev/null >"$FAN_LOG" 2>&1 || FAN_RC=$?
	lab_log "airgap-fanout ${1:+with $(basename "$1") }-> exit $FAN_RC"
}

# packets DISK: packets queued in the spooler for DISK.
packets() {
	local id=NNCP_${1}_ID tx

	tx=$SPOOLER/spool/${!id}/tx
	if [ -d "$tx" ]; then
		find "$tx" -maxdepth 1 -type f | wc -l
	else
		echo 0
	fi
}

assert_packets() {
	assert_eq "$2" "$(packets backupdisk1)" "packets for backupdisk1 $1"
	assert_eq "$3" "$(packets backupdisk2)" "packets for backupdisk2 $1"
}

# queue_file NAME [KIB]: a file as NNCP delivers it to the spooler, and a
# copy to compare with.
queue_file() {
	head -c "$((${2:-64} * 1024))" /dev/urandom >"$LAB/copies/$1"
	cp "$LAB/copies/$1" "$FIN/laptop/$1"
	chown "$NNCP_USER:" "$FIN/laptop/$1"
}

# deliver: carry the spooler's packets to both disk nodes, which toss
# them into their incoming folders.
deliver() {
	local dir n

	dir=$(mktemp -d "$LAB/xfer.XXXXXX")
	chown "$NNCP_USER:" "$dir"
	runuser -u "$NNCP_USER" -- nncp-xfer -cfg "$SPOOLER/cfg.hjson" -noprogress \
	    -tx -mkdir "$dir" 2>>"$LAB/logs/nncp.log" ||
	    lab_die "the spooler's nncp-xfer -tx failed (see $LAB/logs/nncp.log)"
	for n in backupdisk1 backupdisk2; do
		if ! lab_nncp "$n" xfer -noprogress -rx "$dir" 2>>"$LAB/logs/nncp.log" ||
		    ! lab_nncp "$n" toss -noprogress 2>>"$LAB/logs/nncp.log"; then
			lab_die "$n could not take its packets (see $LAB/logs/nncp.log)"
		fi
	done
	rm -rf "$dir"
}

# assert_arrived NAME...: each disk's incoming has laptop/NAME, once,
# equal to the copy.
assert_arrived() {
	local n d

	for n in "$@"; do
		for d in backupdisk1 backupdisk2; do
			cmp -s "$LAB/copies/$n" "$LAB/$d-incoming/laptop/$n" ||
			    lab_fail "$n did not arrive intact in $d's incoming"
			[ ! -e "$LAB/$d-incoming/laptop/$n.0" ] ||
			    lab_fail "$n arrived twice in $d's incoming"
		done
	done
}

if command -v shellcheck >/dev/null; then
	shellcheck "$FANOUT" || lab_fail "shellcheck finds problems in scripts/airgap-fanout"
fi

ts=$(date +%s)
f1=bakfsfmt2-$ts.000000001.111_laptop@tank@home
f2=bakfsfmt2-$ts.000000002.111_laptop@tank@home@docs
f3=backupsfmt2-$ts.000000003.111_laptop@tank@home
f4=bakfsfmt2-$ts.000000004.111_laptop@tank@home
f5=bakfsfmt2-$ts.000000005.111_laptop@tank@home
f6=bakfsfmt2-$ts.000000006.111_laptop@tank@home
f7=bakfsfmt2-$ts.000000007.111_laptop@tank@home

# Every disk gets every file; other names stay.
queue_file "$f1" 300
queue_file "$f2"
queue_file "$f3"
printf 'not a queue file\n' >"$FIN/laptop/notes.txt"
fanout
assert_eq 0 "$FAN_RC" "exit status of airgap-fanout ($(cat "$FAN_LOG"))"
assert_packets "after the first run" 3 3
assert_no_file "$FIN/laptop/$f1" "$FIN/laptop/$f2" "$FIN/laptop/$f3"
left=$(find "$FIN" -name '*.sent-*')
[ -z "$left" ] || lab_fail "markers left behind: $left"
[ -f "$FIN/laptop/notes.txt" ] || lab_fail "airgap-fanout removed notes.txt"
deliver
assert_arrived "$f1" "$f2" "$f3"
assert_packets "after delivery" 0 0

# backupdisk2 fails: the file stays, marked as sent to backupdisk1.
queue_file "$f4"
fanout "$SPOOLER/cfg-broken.hjson"
assert_eq 1 "$FAN_RC" "exit status of airgap-fanout with a failing disk"
grep -q "nncp-file to backupdisk2 failed" "$FAN_LOG" ||
    lab_fail "airgap-fanout does not say that backupdisk2 failed: $(cat "$FAN_LOG")"
[ -f "$FIN/laptop/$f4" ] || lab_fail "$f4 was removed although backupdisk2 does not have it"
[ -f "$FIN/laptop/$f4.sent-backupdisk1" ] || lab_fail "no $f4.sent-backupdisk1 marker"
assert_no_file "$FIN/laptop/$f4.sent-backupdisk2"
assert_packets "after a failing run" 1 0
# Still broken: backupdisk1 is not sent the file again.
fanout "$SPOOLER/cfg-broken.hjson"
assert_eq 1 "$FAN_RC" "exit status of airgap-fanout, still failing"
assert_packets "after a second failing run" 1 0
# Fixed: only the missing packet goes out, then the file is removed.
fanout
assert_eq 0 "$FAN_RC" "exit status of airgap-fanout after the fix ($(cat "$FAN_LOG"))"
assert_packets "after the fix" 1 1
assert_no_file "$FIN/laptop/$f4" "$FIN/laptop/$f4.sent-backupdisk1" "$FIN/laptop/$f4.sent-backupdisk2"
deliver
assert_arrived "$f4"

# Another run holds the lock: this one leaves the work to it.
queue_file "$f5"
lock=$FIN/.airgap-fanout.lock
[ -f "$lock" ] || lab_fail "no lock file $lock"
(
	exec 9>>"$lock"
	flock -n 9 || exit 1
	: >"$LAB/holding"
	exec sleep 120
) &
HOLDER=$!
for _ in $(seq 1 50); do
	[ -e "$LAB/holding" ] && break
	sleep 0.1
done
[ -e "$LAB/holding" ] || lab_die "could not take the lock"
fanout
assert_eq 0 "$FAN_RC" "exit status of airgap-fanout while the lock is held"
grep -q "another run holds" "$FAN_LOG" ||
    lab_fail "airgap-fanout does not say that another run holds the lock: $(cat "$FAN_LOG")"
[ -f "$FIN/laptop/$f5" ] || lab_fail "$f5 was touched while another run held the lock"
assert_packets "while the lock is held" 0 0
stop_holder
wait 2>/dev/null || true
fanout
assert_eq 0 "$FAN_RC" "exit status of airgap-fanout after the lock is free"
assert_packets "after the lock is free" 1 1
assert_no_file "$FIN/laptop/$f5"

# Links and folders with a queue file's name are skipped.
printf 'secret\n' >"$LAB/secret"
ln -s "$LAB/secret" "$FIN/laptop/$f6"
mkdir "$FIN/laptop/$f7"
fanout
assert_eq 0 "$FAN_RC" "exit status of airgap-fanout with a link and a folder"
assert_eq 2 "$(grep -c 'not a regular file, skipped' "$FAN_LOG")" \
    "'not a regular file' messages"
[ -L "$FIN/laptop/$f6" ] || lab_fail "the link $f6 was removed"
[ -d "$FIN/laptop/$f7" ] || lab_fail "the folder $f7 was removed"
assert_eq secret "$(cat "$LAB/secret")" "the link's target"
assert_packets "after the link and the folder" 1 1
left=$(find "$FIN" -name '*.sent-*')
[ -z "$left" ] || lab_fail "markers for skipped entries: $left"

# No incoming folder: an error, nothing else.
FIN_SAVED=$FIN
FIN=$LAB/nonexistent
fanout
assert_eq 1 "$FAN_RC" "exit status of airgap-fanout without its incoming folder"
grep -q "does not exist" "$FAN_LOG" ||
    lab_fail "airgap-fanout does not say that the folder is missing: $(cat "$FAN_LOG")"
FIN=$FIN_SAVED
assert_packets "at the end" 1 1
deliver
assert_arrived "$f5"

# Chunked pieces, as NNCP delivers them from a laptop that used
# nncp-file -chunked 64 (made here by the spooler's own nncp-file for
# backupdisk1, then put where the laptop's files land).
fc=bakfsfmt2-$ts.000000008.111_laptop@tank@home
head -c 200000 /dev/urandom >"$LAB/copies/$fc"
runuser -u "$NNCP_USER" -- nncp-file -cfg "$SPOOLER/cfg.hjson" -noprogress \
    -chunked 64 "$LAB/copies/$fc" "backupdisk1:laptop/$fc" 2>>"$LAB/logs/nncp.log" ||
    lab_die "nncp-file -chunked failed (see $LAB/logs/nncp.log)"
deliver
mv "$LAB/backupdisk1-incoming/laptop/$fc".nncp.* "$FIN/laptop/"
chown "$NNCP_USER:" "$FIN/laptop/$fc".nncp.*
assert_eq 5 "$(find "$FIN/laptop" -name "$fc.nncp.*" | wc -l)" "pieces of the chunked file"
fanout
assert_eq 0 "$FAN_RC" "exit status of airgap-fanout with chunked pieces ($(cat "$FAN_LOG"))"
assert_packets "after the chunked pieces" 5 5
left=$(find "$FIN" -name "$fc*")
[ -z "$left" ] || lab_fail "pieces or markers left on the spooler: $left"
deliver
for d in backupdisk1 backupdisk2; do
	lab_nncp "$d" reass -noprogress -keep -stdout \
	    "$LAB/$d-incoming/laptop/$fc.nncp.meta" 2>>"$LAB/logs/nncp.log" |
	    cmp -s - "$LAB/copies/$fc" ||
	    lab_fail "$d cannot rebuild the chunked file from the pieces it got"
done

lab_pass
