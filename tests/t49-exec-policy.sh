#!/bin/bash
#
# t49-exec-policy: the exec queue does not bypass a host's signature
# policy, and it is taken only when nobody but root and the NNCP user
# can put files there.
#
# The NNCP user, who handles hostile sticks, can write into the exec
# queue; so a plain or zstd-only stream found there is received only for
# a host with an nncp_node (NNCP authenticated the sender) and
# require_signature = false.  Streams queued by a real `enqueue` (as the
# NNCP user, with NNCP_SENDER right):
#  1. laptop requires a signature (the shipped example): the plain and
#     the zstd-only stream are quarantined, nothing is received; a signed
#     gpg stream is received.
#  2. require_signature = false but no nncp_node (files put there by the
#     NNCP user without enqueue): quarantined too.
#  3. require_signature = false and nncp_node set: a plain stream is
#     received (the exec variant, as t45 shows in full).
#  4. The exec queue (or a host folder in it) writable by group or
#     others, owned by another user, or a symbolic link: ingest exits 1,
#     names the folder, and receives nothing, also not from incoming;
#     the queued files stay.  Put right, the next run receives them.

# shellcheck source=functions.sh
. "$(dirname "$0")/functions.sh"
# shellcheck source=lib-rotation.sh
. "$(dirname "$0")/lib-rotation.sh"

rot_setup
rot_conf_node laptop "$LAP_ID"
rot_laptop_snaps 5 64
mkdir -p "$LAB/streams"
st=$LAB/streams
dest=laptop/$LAP_FS

# enq FILE: `enqueue` as the NNCP user with NNCP's environment; prints
# the new file's name in the exec queue.
enq() {
	local before rc=0

	before=$(rot_execq_files)
	runuser -u "$NNCP_USER" -- env -i NNCP_SENDER="$LAP_ID" "$USER_AGENT" \
	    -c "$CONF" enqueue "$dest" <"$1" >>"$LAB/logs/enqueue.log" 2>&1 || rc=$?
	[ "$rc" = 0 ] || lab_fail "enqueue of $1 exited $rc (see $LAB/logs/enqueue.log)"
	comm -13 <(printf '%s\n' "$before") <(rot_execq_files) | sed 's|^laptop/||'
}

rot_disk A
rot_import A

# --- 1. signature required: plain and zstd-only refused
rot_sent_zfs "$st/plain-s1" s1
zstd -q -8 <"$st/plain-s1" >"$st/zstd-s1"
p1=$(enq "$st/plain-s1")
z1=$(enq "$st/zstd-s1")
lab_agent ingest "$BAK_POOL"
assert_exit 1
assert_absent "$STORE_ROOT"
assert_quarantined "$p1"
assert_quarantined "$z1"
for f in "$p1" "$z1"; do
	lab_report_line "$f" | grep -q $'\tquarantined\t' ||
	    lab_fail "$f from the exec queue is not quarantined in the report: $(lab_report_line "$f")"
	case $(lab_report_line "$f" | cut -f5) in
	"not encrypted: "*"require_signature = false") ;;
	*) lab_fail "reason for $f does not say what is missing: $(lab_report_line "$f")" ;;
	esac
done
lab_stream s1
g1=$(enq "$QF")
lab_agent ingest "$BAK_POOL"
assert_exit 0
assert_rot_outcome -r "$EXECQ" "$g1" received leaves "signed by $LAP_FPR"
assert_received s1

# --- 2. no signature required, but no nncp_node: nothing vouches
sed -i -e 's/require_signature = true;/require_signature = false;/' \
    -e 's/ nncp_node = "[^"]*";//' "$CONF"
rot_conf_check
rot_sent_zfs "$st/plain-s2" -i s1 s2
p2=bakfsfmt2-$(date +%s).000000001.1_laptop@${LAP_FS//\//@}
install -o "$NNCP_USER" -m 0600 "$st/plain-s2" "$EXECQ/laptop/$p2"
lab_agent ingest "$BAK_POOL"
assert_exit 1
assert_quarantined "$p2"
assert_absent "$STORE_ROOT@s2"

# --- 3. the exec variant as configured for it: received
rot_conf_node laptop "$LAP_ID"
p3=$(enq "$st/plain-s2")
lab_agent ingest "$BAK_POOL"
assert_exit 0
assert_rot_outcome -r "$EXECQ" "$p3" received leaves "not encrypted"
assert_received s2

# --- 4. an exec queue others could write to is not taken
rot_sent_zfs "$st/plain-s3" -i s2 s3
p4=$(enq "$st/plain-s3")
lab_stream -i s2 s3
lab_deliver
n4=$QN

# refused ISSUE: ingest exits 1, says why, receives nothing.
refused() {
	lab_agent ingest "$BAK_POOL"
	assert_exit 1
	grep -qF "$2" "$AGENT_LOG" ||
	    lab_fail "$1: the log does not name $2: $(grep -i 'exec queue' "$AGENT_LOG" || tail -n 5 "$AGENT_LOG")"
	assert_absent "$STORE_ROOT@s3"
	[ -f "$EXECQ/laptop/$p4" ] || lab_fail "$1: $p4 left the exec queue"
	assert_queued "$n4"
	lab_log "refused: $1"
}
chmod 0770 "$EXECQ"
refused "exec queue group-writable" "$EXECQ"
chmod 0702 "$EXECQ"
refused "exec queue writable by others" "$EXECQ"
chmod 0700 "$EXECQ"
chown "$NNCP_FOREIGN_UID" "$EXECQ"
refused "exec queue owned by another user" "$EXECQ"
chown "$NNCP_USER" "$EXECQ"
chmod 0720 "$EXECQ/laptop"
refused "host folder group-writable" "$EXECQ/laptop"
chmod 0700 "$EXECQ/laptop"
mv "$EXECQ" "$LAB/execq.real"
ln -s "$LAB/execq.real" "$EXECQ"
refused "exec queue a symbolic link" "$EXECQ"
rm "$EXECQ"
mv "$LAB/execq.real" "$EXECQ"

lab_agent ingest "$BAK_POOL"
assert_exit 0
assert_rot_outcome -r "$EXECQ" "$p4" received leaves "not encrypted"
assert_outcome "$n4" duplicate
assert_received s3
rot_export A
lab_pass
