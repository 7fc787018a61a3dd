#!/bin/bash
#
# t60-airgap-queue: scripts/airgap-queue end to end, used as simplesnap's
# receivecmd: `zfs send` piped into it with the dataset it would have been
# received into (STORE/HOST/DATASET).  It compresses, signs and encrypts
# the stream and queues it with nncp-file as the nncp user; the packet
# goes laptop -> spooler -> stick -> backupsvr, and the agent receives it
# (guid and files).
#
# A stage that fails makes it exit non-zero and say that an incomplete
# packet may be queued: gpg with a recipient it has no key for, and gpg
# dying in the middle of the stream.  A `zfs send` that dies mid-stream
# (upstream of airgap-queue) gives a well-formed message around a cut
# stream.  Whatever was queued is quarantined by the agent and never
# committed: the snapshot is absent, the quarantine holds each file with
# its reason (docs/sender.md).  The next good run sends the snapshot.
# nncp-file failing (an unknown node) queues nothing.  A DEST that is not
# a plain STORE/HOST/DATASET (.., a leading -, no dataset, @, a space)
# and a missing argument or recipient are refused before anything is
# queued.

# shellcheck source=functions.sh
. "$(dirname "$0")/functions.sh"

QUEUE=$TOP/scripts/airgap-queue
AQ_N=0
AQ_RC=
AQ_NAME=
AQ_LOG=

lab_appliance_setup
NNCP_BIN=$(dirname "$(command -v nncp-file)")
DEST=tank/simplesnap/laptop/$LAP_FS
# airgap-queue runs nncp-file as the nncp user (its default): the laptop's
# NNCP folder belongs to that user, as on a real laptop.
chown -R "$NNCP_USER:" "$LAB/nncp/laptop"
if command -v shellcheck >/dev/null; then
	shellcheck "$QUEUE" || lab_fail "shellcheck finds problems in scripts/airgap-queue"
fi

# aq DEST [VAR=VALUE...]: airgap-queue DEST with the lab's settings (the
# VAR=VALUE given replace them), standard input as given.  Sets AQ_RC,
# AQ_LOG (its stderr) and AQ_NAME (the name it said it queues).
aq() {
	local dest=$1

	shift
	AQ_N=$((AQ_N + 1))
	AQ_LOG=$LAB/logs/airgap-queue.$AQ_N.log
	AQ_RC=0
	env AIRGAP_QUEUE_CONF=/dev/null GNUPGHOME="$G_LAP" \
	    AIRGAP_STORE=tank/simplesnap AIRGAP_RECIPIENT="$BSVR_FPR" \
	    AIRGAP_SIGNER="$LAP_FPR" AIRGAP_NODE=backupsvr \
	    AIRGAP_NNCP_USER="$NNCP_USER" \
	    AIRGAP_NNCP_CFG="$LAB/nncp/laptop/cfg.hjson" AIRGAP_NNCP_BIN="$NNCP_BIN" \
	    "$@" "$QUEUE" "$dest" 2>"$AQ_LOG" || AQ_RC=$?
	AQ_NAME=$(sed -n 's/^airgap-queue: queueing .* as \(bakfsfmt2-[^ ]*\) for .*/\1/p' "$AQ_LOG")
	lab_log "airgap-queue $dest${*:+ (${*%%=*} changed)} -> exit $AQ_RC${AQ_NAME:+, $AQ_NAME}"
}

# laptop_packets: packets waiting in the laptop's spool for the spooler.
laptop_packets() {
	local tx=$LAB/nncp/laptop/spool/$SPOOLER_ID/tx

	if [ -d "$tx" ]; then
		find "$tx" -maxdepth 1 -type f | wc -l
	else
		echo 0
	fi
}

# relay: the laptop's NNCP user writes its packets into a folder, the
# spooler reads and tosses them; then the spooler writes a new stick.
relay() {
	local dir

	dir=$(mktemp -d "$LAB/xfer.XXXXXX")
	chown "$NNCP_USER:" "$dir"
	runuser -u "$NNCP_USER" -- nncp-xfer -cfg "$LAB/nncp/laptop/cfg.hjson" \
	    -noprogress -tx -mkdir -node spooler "$dir" 2>>"$LAB/logs/nncp.log" ||
	    lab_die "the laptop's nncp-xfer -tx failed (see $LAB/logs/nncp.log)"
	lab_nncp spooler xfer -noprogress -rx "$dir" 2>>"$LAB/logs/nncp.log" ||
	    lab_die "the spooler's nncp-xfer -rx failed"
	lab_nncp spooler toss -noprogress 2>>"$LAB/logs/nncp.log" ||
	    lab_die "the spooler's nncp-toss failed"
	[ "$(lab_nncp_pending spooler)" = 0 ] ||
	    lab_die "the spooler could not toss everything (see $LAB/logs/nncp.log)"
	rm -rf "$dir"
	lab_nncp_stick "$1"
}

# assert_refused DEST WORDS: airgap-queue DEST exits 1, says WORDS, and
# queues nothing.
assert_refused() {
	local before

	before=$(laptop_packets)
	aq "$1" <"$LAB/s1.zfs"
	assert_eq 1 "$AQ_RC" "exit status of airgap-queue '$1'"
	grep -qF -- "$2" "$AQ_LOG" ||
	    lab_fail "airgap-queue '$1' does not say '$2': $(cat "$AQ_LOG")"
	assert_eq "$before" "$(laptop_packets)" "laptop packets after airgap-queue '$1'"
}

assert_reason() {
	grep -qiE -- "$2" "$STATE/quarantine/laptop/$1.reason" ||
	    lab_fail "the quarantine reason of $1 does not match '$2': $(cat "$STATE/quarantine/laptop/$1.reason")"
}

lab_history 3

# Refused before anything is queued.
zfs send "$LAP_FS@s1" >"$LAB/s1.zfs"
assert_refused "tank/simplesnap/../x/fs" "not a plain HOST/dataset name"
assert_refused "tank/simplesnap/laptop/../x" "not a plain HOST/dataset name"
assert_refused "tank/simplesnap/laptop/$LAP_POOL/../x" "not a plain HOST/dataset name"
assert_refused "tank/simplesnap/-x/fs" "not a plain HOST/dataset name"
assert_refused "tank/simplesnap/laptop/-x" "not a plain HOST/dataset name"
assert_refused "tank/simplesnap/laptop/$LAP_FS@s1" "not a plain HOST/dataset name"
assert_refused "tank/simplesnap/laptop/a b" "not a plain HOST/dataset name"
assert_refused "tank/simplesnap/laptop" "not under tank/simplesnap/HOST/"
before=$(laptop_packets)
aq "$DEST" AIRGAP_RECIPIENT='' </dev/null
assert_eq 1 "$AQ_RC" "exit status without AIRGAP_RECIPIENT"
grep -q 'AIRGAP_RECIPIENT' "$AQ_LOG" || lab_fail "no word about AIRGAP_RECIPIENT: $(cat "$AQ_LOG")"
rc=0
AIRGAP_QUEUE_CONF=/dev/null AIRGAP_RECIPIENT=$BSVR_FPR "$QUEUE" </dev/null \
    2>"$LAB/logs/usage.log" || rc=$?
assert_eq 1 "$rc" "exit status without DEST"
grep -q usage "$LAB/logs/usage.log" || lab_fail "no usage message: $(cat "$LAB/logs/usage.log")"
assert_eq "$before" "$(laptop_packets)" "laptop packets after the refused runs"

# nncp-file fails (no such node): exit 1, nothing queued.
aq "$DEST" AIRGAP_NODE=nosuchnode <"$LAB/s1.zfs"
[ "$AQ_RC" != 0 ] || lab_fail "airgap-queue exited 0 although nncp-file failed"
grep -q 'nncp-file [1-9]' "$AQ_LOG" ||
    lab_fail "airgap-queue does not report nncp-file's failure: $(cat "$AQ_LOG")"
assert_eq "$before" "$(laptop_packets)" "laptop packets after nncp-file failed"

# The receivecmd at work: a full stream and an incremental.
aq "$DEST" < <(zfs send "$LAP_FS@s1")
assert_eq 0 "$AQ_RC" "exit status of airgap-queue for s1 ($(cat "$AQ_LOG"))"
n1=$AQ_NAME
aq "$DEST" < <(zfs send -i s1 "$LAP_FS@s2")
assert_eq 0 "$AQ_RC" "exit status of airgap-queue for s2 ($(cat "$AQ_LOG"))"
n2=$AQ_NAME
for n in "$n1" "$n2"; do
	[[ $n =~ ^bakfsfmt2-[0-9]+\.[0-9]{9}\.[0-9]+_laptop@${LAP_POOL}@fs$ ]] ||
	    lab_fail "queued name '$n' is not bakfsfmt2-SECONDS.NANOS.PID_laptop@$LAP_POOL@fs"
done
assert_eq $((before + 2)) "$(laptop_packets)" "laptop packets after two good runs"
left=$(find "$LAB/nncp/laptop" ! -user "$NNCP_USER" | head -n 5)
[ -z "$left" ] || lab_fail "nncp-file did not run as $NNCP_USER: $left"

# gpg cannot encrypt to this recipient: it fails before writing a byte.
aq "$DEST" AIRGAP_RECIPIENT=0123456789ABCDEF0123456789ABCDEF01234567 \
    < <(zfs send -i s2 "$LAP_FS@s3")
bad_rcpt=$AQ_NAME
[ "$AQ_RC" != 0 ] || lab_fail "airgap-queue exited 0 although gpg had no key for the recipient"
grep -q 'may be queued incomplete' "$AQ_LOG" ||
    lab_fail "airgap-queue does not warn about an incomplete packet: $(cat "$AQ_LOG")"

# gpg dies in the middle of the stream: its output is cut short.
mkdir -p "$LAB/bin"
cat >"$LAB/bin/gpg" <<EOF
#!/bin/bash
# gpg that dies after 30000 bytes of output
set -o pipefail
$(command -v gpg) "\$@" | head -c 30000
exit 2
EOF
chmod 755 "$LAB/bin/gpg"
aq "$DEST" PATH="$LAB/bin:$PATH" < <(zfs send -i s2 "$LAP_FS@s3")
cut_gpg=$AQ_NAME
[ "$AQ_RC" != 0 ] || lab_fail "airgap-queue exited 0 although gpg died mid-stream"
grep -q 'may be queued incomplete' "$AQ_LOG" ||
    lab_fail "airgap-queue does not warn about an incomplete packet: $(cat "$AQ_LOG")"

# zfs send dies mid-stream (broken pipe after 100000 bytes), upstream of
# airgap-queue, which sees an ordinary end of input: the caller
# (simplesnap) sees the failure, and the packet is a well-formed message
# around a cut stream.
size=$(zfs send -i s2 "$LAP_FS@s3" | wc -c)
[ "$size" -gt 200000 ] || lab_die "the s3 stream ($size bytes) is too small to cut"
aq "$DEST" < <(zfs send -i s2 "$LAP_FS@s3" 2>>"$LAB/logs/send.log" | head -c 100000 || true)
cut_zfs=$AQ_NAME
for n in "$bad_rcpt" "$cut_gpg" "$cut_zfs"; do
	[ -n "$n" ] || lab_fail "airgap-queue did not name what it queued"
done
lab_log "airgap-queue after zfs send died mid-stream: exit $AQ_RC"

relay "$LAB/stick1.img"
lab_bakdisk
lab_media_attach "$STICK_IMG"
lab_agent handle "$LAB_DEV"
# The stick is unmounted, but files were rejected: exit 1 and the error
# light, "something needs a look".
assert_exit 1
assert_last_run "$LAB_DEV" "$STICK_LABEL" transport error
assert_led error
assert_nothing_mounted "$LAB_DEV"
assert_exported "$BAK_POOL"
assert_outcome "$bad_rcpt" quarantined
assert_outcome "$cut_gpg" quarantined
assert_outcome "$cut_zfs" quarantined
assert_not_queued "$n1"
assert_not_queued "$n2"
assert_not_quarantined "$n1"
assert_not_quarantined "$n2"
assert_quarantined "$bad_rcpt"
assert_quarantined "$cut_gpg"
assert_quarantined "$cut_zfs"
assert_reason "$bad_rcpt" 'decrypt|gpg|no data|empty'
assert_reason "$cut_gpg" 'decrypt|gpg|integrity|mdc|signature'
assert_reason "$cut_zfs" 'end record|truncat|cut|incomplete'
assert_outcome "$n1" received
assert_outcome "$n2" received
grep -q "signed by $LAP_FPR" "$(lab_report_file)" ||
    lab_fail "the report does not say that the laptop's key signed: $(cat "$(lab_report_file)")"
lab_media_detach "$LAB_DEV"

lab_bakdisk_import
assert_received s1
assert_received s2
assert_absent "$STORE_ROOT@s3"
lab_pool_export "$BAK_POOL"
lab_settle

# The next good run sends s3 whole.
aq "$DEST" < <(zfs send -i s2 "$LAP_FS@s3")
assert_eq 0 "$AQ_RC" "exit status of airgap-queue for s3 ($(cat "$AQ_LOG"))"
n3=$AQ_NAME
relay "$LAB/stick2.img"
lab_media_attach "$STICK_IMG"
lab_agent handle "$LAB_DEV"
assert_exit 0
assert_last_run "$LAB_DEV" "$STICK_LABEL" transport safe
assert_not_queued "$n3"
assert_not_quarantined "$n3"
lab_media_detach "$LAB_DEV"

lab_bakdisk_import
assert_received s1
assert_received s2
assert_received s3

lab_pass
