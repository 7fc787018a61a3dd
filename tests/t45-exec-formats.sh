#!/bin/bash
#
# t45-exec-formats: the exec variant takes plain, zstd-only and gpg
# streams, and only through `enqueue`, for a host configured for it: its
# nncp_node set and require_signature = false (t49 shows the refusals
# otherwise).
#
# The laptop sends three streams with real `nncp-exec -nice B backupsvr
# zfsreceive laptop/POOL/fs`: s1 as a plain `zfs send` stream, s2 (from s1)
# compressed with zstd only, s3 (from s2) with zstd and gpg (signed and
# encrypted, as simplesnap-queue makes them).  The spooler relays them and
# backupsvr tosses them as the nncp user: all three land in the exec queue
# byte for byte, whatever order NNCP runs them in, and one `ingest POOL`
# receives all three (guids and files).
#
# A plain and a zstd-only stream put straight into INCOMING/laptop (where
# any NNCP sender's files land) are quarantined: only OpenPGP is accepted
# there.  `enqueue` run by hand exits non-zero and leaves nothing behind
# without NNCP_SENDER or with another sender, with garbage or nothing on
# stdin (text, and random bytes that begin with 0x80, a reserved OpenPGP
# tag), and for a DEST that is not a plain HOST/dataset; with NNCP_SENDER
# set right it queues the stream, and ingest receives it.  When an fsync
# fails (injected with strace), enqueue exits non-zero and leaves nothing
# queued.

# shellcheck source=functions.sh
. "$(dirname "$0")/functions.sh"
# shellcheck source=lib-rotation.sh
. "$(dirname "$0")/lib-rotation.sh"

rot_setup
sed -i 's/require_signature = true;/require_signature = false;/' "$CONF"
rot_nncp_handler
rot_conf_node laptop "$LAP_ID"
lab_history 4

mkdir -p "$LAB/streams"
st=$LAB/streams
rot_sent_zfs "$st/plain-s1" s1
zfs send -i "$LAP_FS@s1" "$LAP_FS@s2" 2>>"$LAB/logs/send.log" | zstd -q -8 >"$st/zstd-s2" ||
    lab_die "making the zstd stream failed"
lab_stream -i s2 s3
mv "$QF" "$st/gpg-s3"
head -c 4 "$st/plain-s1" | od -An -tx1 | grep -q '00 00 00 00' ||
    lab_die "$st/plain-s1 does not start with a begin record"

for f in plain-s1 zstd-s2 gpg-s3; do
	rot_nncp_exec "$st/$f"
done
rot_nncp_deliver
assert_eq 3 "$(lab_nncp_pending backupsvr)" "packets in backupsvr's spool before the toss"
rot_nncp_toss
assert_eq 0 "$ROT_TOSS_RC" "exit status of nncp-toss"
assert_eq 0 "$(lab_nncp_pending backupsvr)" "packets left in backupsvr's spool"

# Which queued file holds which stream.
declare -A qname=()
for q in $(rot_execq_files); do
	case $q in
	laptop/bakfsfmt2-*_laptop@"${LAP_FS//\//@}") ;;
	*) lab_fail "unexpected file in the exec queue: $q" ;;
	esac
	for f in plain-s1 zstd-s2 gpg-s3; do
		if cmp -s "$st/$f" "$EXECQ/$q"; then
			[ -z "${qname[$f]:-}" ] || lab_fail "$f is in the exec queue twice"
			qname[$f]=${q#laptop/}
		fi
	done
done
for f in plain-s1 zstd-s2 gpg-s3; do
	[ -n "${qname[$f]:-}" ] ||
	    lab_fail "no file in the exec queue equals the stream $f: $(rot_execq_files | tr '\n' ' ')"
done
assert_eq 3 "$(rot_execq_files | wc -l)" "files in the exec queue"

rot_disk A
rot_import A
lab_agent ingest "$BAK_POOL"
assert_exit 0
assert_rot_outcome -r "$EXECQ" "${qname[plain-s1]}" received leaves "not encrypted"
assert_rot_outcome -r "$EXECQ" "${qname[zstd-s2]}" received leaves "not encrypted"
assert_rot_outcome -r "$EXECQ" "${qname[gpg-s3]}" received leaves "signed by $LAP_FPR"
assert_received s1
assert_received s2
assert_received s3
assert_eq "" "$(rot_execq_files)" "files left in the exec queue"

# Straight into the incoming folder: only OpenPGP is accepted there.
rot_sent_zfs "$st/plain-s4" -i s3 s4
zstd -q -8 <"$st/plain-s4" >"$st/zstd-s4"
ts=$(date +%s)
cp "$st/plain-s4" "$INCOMING/laptop/bakfsfmt2-$ts.000000001.$$_laptop@${LAP_FS//\//@}"
np=bakfsfmt2-$ts.000000001.$$_laptop@${LAP_FS//\//@}
cp "$st/zstd-s4" "$INCOMING/laptop/bakfsfmt2-$ts.000000002.$$_laptop@${LAP_FS//\//@}"
nz=bakfsfmt2-$ts.000000002.$$_laptop@${LAP_FS//\//@}
lab_agent ingest "$BAK_POOL"
assert_exit 1
assert_outcome "$np" quarantined
assert_outcome "$nz" quarantined
assert_absent "$STORE_ROOT@s4"
assert_received s3

# enqueue by hand, as the nncp user, with NNCP's empty environment.
enq() {
	local rc=0

	runuser -u "$NNCP_USER" -- env -i "$@" >>"$LAB/logs/enqueue.log" 2>&1 || rc=$?
	printf '%s\n' "$rc"
}

# refused WHAT INPUT DEST [VAR=VALUE...]: enqueue DEST by hand with INPUT
# on stdin and the VAR=VALUE environment: it must exit non-zero and
# queue nothing.
refused() {
	local what=$1 input=$2 dest=$3 rc

	shift 3
	rc=$(enq "$@" "$USER_AGENT" -c "$CONF" enqueue "$dest" <"$input")
	[ "$rc" != 0 ] || lab_fail "enqueue $what exited 0 and queued: $(rot_execq_files)"
	assert_eq "" "$(rot_execq_files)" "files in the exec queue after enqueue $what"
}
dest=laptop/$LAP_FS
refused "without NNCP_SENDER" "$st/plain-s4" "$dest"
{
	printf 'this is not a backup stream\n'
	head -c 200000 /dev/urandom
} >"$st/garbage-text"
refused "of garbage (text first)" "$st/garbage-text" "$dest" NNCP_SENDER="$LAP_ID"
refused "of an empty stdin" /dev/null "$dest" NNCP_SENDER="$LAP_ID"
for bad in "laptop/$LAP_POOL/../fs" "laptop" "other/$LAP_FS" "laptop//fs" "/laptop/fs"; do
	refused "to DEST '$bad'" "$st/plain-s4" "$bad" NNCP_SENDER="$LAP_ID"
done
refused "with a wrong NNCP_SENDER" "$st/plain-s4" "$dest" NNCP_SENDER="$OTH_FPR"

# The same stream with the right sender is queued and received.
rc=$(enq NNCP_SENDER="$LAP_ID" NNCP_SELF="$BSVR_ID" NNCP_NICE=224 \
    "$USER_AGENT" -c "$CONF" enqueue "$dest" <"$st/plain-s4")
assert_eq 0 "$rc" "exit status of enqueue with the right sender (see $LAB/logs/enqueue.log)"
q=$(rot_execq_files)
[ "$(printf '%s\n' "$q" | grep -c .)" = 1 ] || lab_fail "expected one queued file, found: $q"
cmp -s "$st/plain-s4" "$EXECQ/$q" || lab_fail "the queued file differs from stdin"
lab_agent ingest "$BAK_POOL"
assert_exit 0
assert_rot_outcome -r "$EXECQ" "${q#laptop/}" received leaves "not encrypted"
assert_received s4

# Random bytes whose first byte has the top bit set, as in half of all
# random data: 0x80 is an old-format OpenPGP header with tag 0, which
# RFC 4880 reserves (a packet MUST NOT have it), so this cannot be the
# start of any OpenPGP message, nor a zstd frame or a zfs stream.
{
	printf '\200'
	head -c 200000 /dev/urandom
} >"$st/garbage-tag0"
refused "of random bytes beginning with 0x80" "$st/garbage-tag0" "$dest" NNCP_SENDER="$LAP_ID"

# The exit status tells NNCP whether the stream was taken.  With the
# file's fsync (1) or the folder's after the rename (2) failing (strace
# injects EIO), enqueue exits non-zero and leaves nothing queued, so
# NNCP's next run cannot queue the stream twice.
command -v strace >/dev/null || lab_die "strace not found"
for when in 1 2; do
	rc=0
	strace -f -qq -o "$LAB/logs/strace-enqueue.$when.log" -u "$NNCP_USER" \
	    -e trace=fsync -e inject=fsync:error=EIO:when="$when" \
	    env -i NNCP_SENDER="$LAP_ID" "$LAB_PTRACE_ASAN" "$USER_AGENT" -c "$CONF" enqueue "$dest" \
	    <"$st/plain-s4" >>"$LAB/logs/enqueue.log" 2>&1 || rc=$?
	grep -q 'INJECTED' "$LAB/logs/strace-enqueue.$when.log" ||
	    lab_die "strace injected no fsync error (see $LAB/logs/strace-enqueue.$when.log)"
	[ "$rc" != 0 ] || lab_fail "enqueue exited 0 although fsync number $when failed"
	assert_eq "" "$(rot_execq_files)" "files in the exec queue after enqueue exited $rc (fsync number $when failed)"
done
rot_export A

lab_pass
