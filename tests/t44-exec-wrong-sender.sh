#!/bin/bash
#
# t44-exec-wrong-sender: the NNCP exec handler refuses a stream whose
# NNCP_SENDER is not the host's nncp_node, and NNCP keeps the packet.
#
# backupsvr's NNCP config runs `airgap-agent -c CONF enqueue` for the
# laptop's `zfsreceive` requests; the agent's config names the spooler's
# node id (a real, different node) as the laptop's nncp_node.  The laptop
# sends its stream with `nncp-exec -nice B backupsvr zfsreceive DEST`, the
# spooler relays it, backupsvr tosses it as the nncp user: the handler
# exits non-zero, the packet stays in backupsvr's spool and nothing is
# written into the exec queue.  With the right nncp_node the next toss
# runs the handler again: the stream lands in the exec queue
# (EXECQ/laptop/bakfsfmt2-SECS.NANOS.PID_DEST, byte for byte what was
# sent, owned by the nncp user), the packet is gone, and `ingest` receives
# it into a backup disk.

# shellcheck source=functions.sh
. "$(dirname "$0")/functions.sh"
# shellcheck source=lib-rotation.sh
. "$(dirname "$0")/lib-rotation.sh"

rot_setup
rot_nncp_handler
rot_conf_node laptop "$SPOOLER_ID"
rot_laptop_snaps 1 256

lab_stream s1
sent=$LAB/sent-s1
mv "$QF" "$sent"
rot_nncp_exec "$sent" "laptop/$LAP_FS"
rot_nncp_deliver
assert_eq 1 "$(lab_nncp_pending backupsvr)" "packets in backupsvr's spool before the toss"

# The wrong node: refused, the packet stays.
rot_nncp_toss
[ "$ROT_TOSS_RC" != 0 ] ||
    lab_fail "nncp-toss exited 0 although the handler must have refused the stream"
assert_eq 1 "$(lab_nncp_pending backupsvr)" "packets in backupsvr's spool after the refused toss"
assert_eq "" "$(rot_execq_files)" "files in the exec queue after the refused toss"
grep -qF "sent by NNCP node $LAP_ID, not by laptop's node" "$NNCP_BSVR_DIR/log" ||
    lab_fail "NNCP's log does not show the handler refusing the sender: $(tail -n 30 "$NNCP_BSVR_DIR/log")"

# Tossing again changes nothing.
rot_nncp_toss
[ "$ROT_TOSS_RC" != 0 ] || lab_fail "the second nncp-toss exited 0"
assert_eq 1 "$(lab_nncp_pending backupsvr)" "packets in backupsvr's spool after the second toss"
assert_eq "" "$(rot_execq_files)" "files in the exec queue after the second toss"

# The right node: the same packet is handled.
rot_conf_node laptop "$LAP_ID"
rot_nncp_toss
assert_eq 0 "$ROT_TOSS_RC" "exit status of nncp-toss with the right nncp_node"
assert_eq 0 "$(lab_nncp_pending backupsvr)" "packets in backupsvr's spool after the toss"
files=$(rot_execq_files)
[ "$(printf '%s\n' "$files" | grep -c .)" = 1 ] ||
    lab_fail "expected one file in the exec queue, found: $files"
case $files in
laptop/bakfsfmt2-[0-9]*.[0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9].[0-9]*_laptop@"${LAP_FS//\//@}") ;;
*) lab_fail "unexpected name in the exec queue: $files" ;;
esac
name=${files#laptop/}
cmp "$sent" "$EXECQ/$files" ||
    lab_fail "the file in the exec queue differs from the stream the laptop sent"
assert_eq "$NNCP_USER" "$(stat -c %U "$EXECQ/$files")" "owner of the queued file"

rot_disk A
rot_import A
lab_agent ingest "$BAK_POOL"
assert_exit 0
assert_rot_outcome -r "$EXECQ" "$name" received leaves "signed by $LAP_FPR"
assert_received s1
rot_export A

lab_pass
