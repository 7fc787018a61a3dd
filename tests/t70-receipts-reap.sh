#!/bin/bash
#
# t70-receipts-reap: the loop closed.  A week of daily snapshots made by
# `airgap-queue --snapshot` travels laptop -> spooler -> stick ->
# backupsvr, into two rotation disks A and B taken in turn: days 1-3 on a
# stick to A, days 4-5 to B (which catches up from day 1), days 6-7 to A.
# After each stick run that changed a disk the agent queues a signed
# receipt for the laptop, which goes back on the same stick through the
# spooler; the laptop's airgap-receipt checks it and keeps the newest per
# disk.  `status` names the last receipt.
#
# At the end A's newest is day 7 and B's day 5: airgap-reap --dry-run
# lists days 1-4 to destroy and says why 5, 6, 7 and a snapshot of
# someone else are kept; airgap-reap destroys exactly days 1-4.  A
# receipt tampered with, unsigned or signed by another key, and a disk
# that stays away, are t71's.

# shellcheck source=functions.sh
. "$(dirname "$0")/functions.sh"
# shellcheck source=lib-rotation.sh
. "$(dirname "$0")/lib-rotation.sh"
# shellcheck source=lib-receipts.sh
. "$(dirname "$0")/lib-receipts.sh"

REAP=$TOP/scripts/airgap-reap

rcpt_setup
rot_disk A
rot_disk B
rot_conf_rotation A B
poolA=${ROT_POOL[A]}
poolB=${ROT_POOL[B]}
lab_write_random bin/r1 64

# trip DAY X: the stick run of DAY into disk X, its receipt back.
trip() {
	rcpt_trip "$1" "$2"
	assert_exit 0
	grep -q "receipts queued for 1 host" "$AGENT_LOG" ||
	    lab_fail "day $1: no receipt queued: $(grep receipt "$AGENT_LOG")"
	[ -f "$RECEIPTS/${ROT_GUID[$2]}.receipt" ] ||
	    lab_fail "day $1: the laptop kept no receipt for disk $2 ($(ls "$RECEIPTS" 2>&1))"
}

rcpt_snap 1
rcpt_snap 2
lab_snap manual-by-someone-else
rcpt_snap 3
trip 3 A
rcpt_snap 4
rcpt_snap 5
trip 5 B
rcpt_snap 6
rcpt_snap 7
trip 7 A
mapfile -t own < <(rcpt_own_snaps | tr ' ' '\n')
assert_eq 7 "${#own[@]}" "airgap-queue snapshots on the laptop"

# Each disk holds the whole chain it was given; the receipts say so.
for x in A B; do
	[ -n "${ROT_DEV[$x]}" ] || rot_plug "$x"
	rot_import "$x"
	want=$([ "$x" = A ] && echo "${own[6]}" || echo "${own[4]}")
	assert_eq "$want" "$(rot_snaps "$x" | awk '{ print $NF }')" "newest snapshot on disk $x"
	guid=$(lab_guid "$LAP_FS@$want")
	grep -qP "^head\t${ROT_GUID[$x]}\t$LAP_FS\t$want\t$guid\t[0-9]+\$" "$RECEIPTS/${ROT_GUID[$x]}.receipt" ||
	    lab_fail "the receipt for $x does not name $want ($guid): $(cat "$RECEIPTS/${ROT_GUID[$x]}.receipt")"
	rot_export "$x"
done
head -n 1 "$RECEIPTS/${ROT_GUID[A]}.asc" | grep -qx -- '-----BEGIN PGP SIGNED MESSAGE-----' ||
    lab_fail "the kept receipt is not clear-signed"
"$AGENT" -c "$CONF" status >"$LAB/logs/status.txt" 2>&1
grep -qE "^  laptop: queued [0-9-]+ [0-9:]+ UTC: 2 head\(s\), 2 waiting, 0 quarantined$" "$LAB/logs/status.txt" ||
    lab_fail "status does not show the last receipt: $(cat "$LAB/logs/status.txt")"

# The dry run: what would go, and why the rest stays.
AIRGAP_QUEUE_CONF=$SENDER_CONF "$REAP" --dry-run >"$LAB/logs/reap-dry.txt" 2>&1 ||
    lab_fail "airgap-reap --dry-run failed: $(cat "$LAB/logs/reap-dry.txt")"
assert_eq "$(printf '%s\n' "${own[@]:0:4}")" \
    "$(sed -n 's/^would destroy [^@]*@\([^:]*\):.*/\1/p' "$LAB/logs/reap-dry.txt")" \
    "snapshots airgap-reap --dry-run would destroy (its output: $(cat "$LAB/logs/reap-dry.txt"))"
grep -qx "keep $LAP_FS@${own[4]}: newest on $poolB" "$LAB/logs/reap-dry.txt" ||
    lab_fail "the dry run does not keep day 5 as B's newest: $(cat "$LAB/logs/reap-dry.txt")"
grep -qx "keep $LAP_FS@${own[5]}: after a disk's newest" "$LAB/logs/reap-dry.txt" ||
    lab_fail "the dry run does not keep day 6 as after B's newest: $(cat "$LAB/logs/reap-dry.txt")"
grep -qx "keep $LAP_FS@${own[6]}: newest on $poolA" "$LAB/logs/reap-dry.txt" ||
    lab_fail "the dry run does not keep day 7 as A's newest: $(cat "$LAB/logs/reap-dry.txt")"
grep -qx "keep $LAP_FS@manual-by-someone-else: not made by airgap-queue" "$LAB/logs/reap-dry.txt" ||
    lab_fail "the dry run does not keep the other snapshot: $(cat "$LAB/logs/reap-dry.txt")"
assert_eq "${own[*]}" "$(rcpt_own_snaps)" "snapshots after the dry run"

# The reap itself: exactly days 1-4.
AIRGAP_QUEUE_CONF=$SENDER_CONF "$REAP" >"$LAB/logs/reap.txt" 2>&1 ||
    lab_fail "airgap-reap failed: $(cat "$LAB/logs/reap.txt")"
assert_eq "${own[4]} ${own[5]} ${own[6]}" "$(rcpt_own_snaps)" "airgap-queue snapshots after the reap"
zfs list -H -o name "$LAP_FS@manual-by-someone-else" >/dev/null 2>&1 ||
    lab_fail "airgap-reap destroyed someone else's snapshot"

lab_pass
