# shellcheck shell=bash
#
# tests/lib-receipts.sh: shared helpers of the receipt scenarios
# (tests/t7N-*.sh).  Sourced after functions.sh and lib-rotation.sh:
#
#   - the way back: backupsvr's NNCP config sends to the laptop through
#     the spooler; the laptop's config runs scripts/airgap-receipt for
#     backupsvr's "airgap-receipt" exec requests, with backupsvr's public
#     key as its only keyring and $RECEIPTS as its folder;
#   - a day: airgap-queue --snapshot on the laptop, the packets to the
#     spooler and onto a stick, the stick through the agent with the
#     plugged disks, and the stick back to the spooler and the laptop.
#
# Variables: RECEIPTS (the laptop's receipt folder), SENDER_CONF (the
# laptop's airgap-queue.conf), RCPT_KEYRING, RCPT_HANDLER_LOG, AQ_LOG.

RECEIPTS=
SENDER_CONF=
RCPT_KEYRING=

# rcpt_setup: the rotation lab (disks made by the scenario), the laptop's
# host with its nncp_node, and the NNCP way back.
rcpt_setup() {
	local cfg line

	rot_setup
	rot_conf_node laptop "$LAP_ID"
	RECEIPTS=$LAB/receipts
	RCPT_KEYRING=$LAB/backupsvr-key.gpg
	gpg --homedir "$G_BSVR" --batch --export "$BSVR_FPR" >"$RCPT_KEYRING" ||
	    lab_die "cannot export backupsvr's public key"
	SENDER_CONF=$LAB/airgap-queue.conf
	cat >"$SENDER_CONF" <<CONF
AIRGAP_STORE=tank/simplesnap
AIRGAP_RECIPIENT=$BSVR_FPR
AIRGAP_SIGNER=$LAP_FPR
AIRGAP_NODE=backupsvr
AIRGAP_NNCP_USER=
AIRGAP_NNCP_CFG=$LAB/nncp/laptop/cfg.hjson
AIRGAP_NNCP_BIN=$(dirname "$(command -v nncp-file)")
AIRGAP_HOST=laptop
AIRGAP_RECEIPTS=$RECEIPTS
AIRGAP_RECEIPT_KEYRING=$RCPT_KEYRING
CONF
	# backupsvr -> laptop goes through the spooler.
	cfg=$NNCP_BSVR_DIR/cfg.hjson
	line="      incoming: \"$INCOMING/laptop\""
	grep -qxF "$line" "$cfg" || lab_die "no incoming line for the laptop in $cfg"
	awk -v l="$line" '{ print } $0 == l { print "      via: [\"spooler\"]" }' \
	    "$cfg" >"$cfg.new" && mv "$cfg.new" "$cfg"
	chown "$NNCP_USER:" "$cfg"
	chmod 0600 "$cfg"
	# The laptop runs the handler for backupsvr's receipts; NNCP gives
	# it no environment, so the settings come in through env(1).
	cfg=$LAB/nncp/laptop/cfg.hjson
	line='      via: ["spooler"]'
	grep -qxF "$line" "$cfg" || lab_die "no via line for backupsvr in $cfg"
	awk -v l="$line" -v ex="      exec: {airgap-receipt: [\"/usr/bin/env\", \"AIRGAP_QUEUE_CONF=$SENDER_CONF\", \"$TOP/scripts/airgap-receipt\"]}" \
	    '{ print } $0 == l && !done { print ex; done = 1 }' "$cfg" >"$cfg.new" &&
	    mv "$cfg.new" "$cfg"
	chmod 0600 "$cfg"
	for n in laptop backupsvr; do
		lab_nncp "$n" stat >/dev/null 2>>"$LAB/logs/nncp.log" ||
		    lab_die "the NNCP config of $n is broken (see $LAB/logs/nncp.log)"
	done
}

# rcpt_queue: airgap-queue --snapshot on the laptop's dataset; its stderr
# in AQ_LOG.
rcpt_queue() {
	AQ_LOG=$LAB/logs/airgap-queue.$RANDOM.log
	AIRGAP_QUEUE_CONF=$SENDER_CONF GNUPGHOME=$G_LAP \
	    "$TOP/scripts/airgap-queue" --snapshot "$LAP_FS" 2>"$AQ_LOG" ||
	    lab_fail "airgap-queue --snapshot failed: $(cat "$AQ_LOG")"
}

# rcpt_own_snaps: the laptop's airgap-queue snapshots (names after @),
# oldest first, on one line.
rcpt_own_snaps() {
	zfs list -H -t snapshot -o name -s createtxg -d 1 "$LAP_FS" |
	    sed 's/.*@//' | grep '^airgap-queue-' | paste -sd' ' - || true
}

# rcpt_stick_back IMG: the stick comes back to the spooler, which tosses
# what backupsvr wrote on it and writes the laptop's packets into a
# folder; the laptop reads and tosses them (running airgap-receipt).
rcpt_stick_back() {
	local mnt=$LAB/stickb dir

	lab_media_attach "$1"
	mkdir -p "$mnt"
	mount "$LAB_DEV" "$mnt" || lab_die "mount $LAB_DEV failed"
	lab_nncp spooler xfer -noprogress -rx "$mnt/nncp" 2>>"$LAB/logs/nncp.log" ||
	    lab_die "the spooler's nncp-xfer -rx from the stick failed"
	umount "$mnt" || lab_die "umount $mnt failed"
	rmdir "$mnt"
	lab_media_detach "$LAB_DEV"
	lab_nncp spooler toss -noprogress 2>>"$LAB/logs/nncp.log" ||
	    lab_die "the spooler's nncp-toss failed (see $LAB/logs/nncp.log)"
	dir=$(mktemp -d "$LAB/back.XXXXXX")
	lab_nncp spooler xfer -noprogress -tx -mkdir -node laptop "$dir" \
	    2>>"$LAB/logs/nncp.log" || lab_die "the spooler's nncp-xfer -tx failed"
	lab_nncp laptop xfer -noprogress -rx "$dir" 2>>"$LAB/logs/nncp.log" ||
	    lab_die "the laptop's nncp-xfer -rx failed"
	(cd / && lab_nncp laptop toss -noprogress) >>"$LAB/logs/laptop-toss.log" 2>&1 ||
	    lab_fail "the laptop's nncp-toss failed: $(tail -n 5 "$LAB/logs/laptop-toss.log")"
	[ "$(lab_nncp_pending laptop)" = 0 ] ||
	    lab_fail "packets are left in the laptop's spool (see $LAB/nncp/laptop/log)"
	rm -rf "$dir"
}

# rcpt_snap N: day N's snapshot: a.txt changed, airgap-queue --snapshot.
rcpt_snap() {
	lab_write a.txt "day $1"
	rcpt_queue
}

# rcpt_trip N X...: the laptop's packets to the spooler and onto stick N,
# the stick through the agent with disks X... plugged in (the others
# unplugged), and back to the laptop.  The agent's exit status is in
# AGENT_RC.
rcpt_trip() {
	local n=$1 y

	shift
	lab_nncp_relay
	for y in "${ROT_DISKS[@]}"; do
		if [[ " $* " == *" $y "* ]]; then
			[ -n "${ROT_DEV[$y]}" ] || rot_plug "$y"
		else
			rot_unplug "$y"
		fi
	done
	lab_nncp_stick "$LAB/stick$n.img"
	lab_media_attach "$STICK_IMG"
	lab_agent handle "$LAB_DEV"
	lab_media_detach "$LAB_DEV"
	rcpt_stick_back "$STICK_IMG"
	rm -f "$STICK_IMG"
}

# rcpt_day N X...: rcpt_snap N, then rcpt_trip N X....
rcpt_day() {
	rcpt_snap "$1"
	rcpt_trip "$@"
}
