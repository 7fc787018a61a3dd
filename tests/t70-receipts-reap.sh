#!/bin/bash
#
# t70-receipts-reap: the loop closed.  A week of daily snapshots made by
# `airgap-queue --snapshot` travels laptop -> spooler -> stick ->
# backupsvr, into two rotation disks A and B taken in turn (A on odd
# days, B on even ones).  After each stick run that changed a disk the
# agent queues a signed receipt for the laptop, which goes back on the
# same stick through the spooler; the laptop's airgap-receipt checks it
# and keeps the newest per disk.  `status` names the last receipt.
#
# After day 7, A's newest is day 7 and B's day 6: airgap-reap --dry-run
# lists days 1-5 to destroy and says why 6, 7 and a snapshot of someone
# else are kept; airgap-reap destroys exactly days 1-5.
#
# A receipt tampered with, unsigned, or signed by another key is refused
# (exit 1) and changes nothing kept.  Then a third rotation disk C that
# never comes: the next receipt names it, and airgap-reap refuses to reap
# (exit 2, "blocked"), destroying nothing.

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

for day in 1 2 3 4 5 6 7; do
	if [ $((day % 2)) = 1 ]; then disk=A; else disk=B; fi
	rcpt_day "$day" "$disk"
	assert_exit 0
	[ "$day" = 3 ] && lab_snap manual-by-someone-else
	grep -q "receipts queued for 1 host" "$AGENT_LOG" ||
	    lab_fail "day $day: no receipt queued: $(grep receipt "$AGENT_LOG")"
	[ -f "$RECEIPTS/${ROT_POOL[$disk]}.receipt" ] ||
	    lab_fail "day $day: the laptop kept no receipt for disk $disk ($(ls "$RECEIPTS" 2>&1))"
done
mapfile -t own < <(rcpt_own_snaps | tr ' ' '\n')
assert_eq 7 "${#own[@]}" "airgap-queue snapshots on the laptop"

# Each disk holds the whole chain it was given; the receipts say so.
for x in A B; do
	rot_import "$x"
	want=$([ "$x" = A ] && echo "${own[6]}" || echo "${own[5]}")
	assert_eq "$want" "$(rot_snaps "$x" | awk '{ print $NF }')" "newest snapshot on disk $x"
	guid=$(lab_guid "$LAP_FS@$want")
	grep -qP "^head\t${ROT_POOL[$x]}\t$LAP_FS\t$want\t$guid\t[0-9]+\$" "$RECEIPTS/${ROT_POOL[$x]}.receipt" ||
	    lab_fail "the receipt for $x does not name $want ($guid): $(cat "$RECEIPTS/${ROT_POOL[$x]}.receipt")"
	rot_export "$x"
done
head -n 1 "$RECEIPTS/$poolA.asc" | grep -qx -- '-----BEGIN PGP SIGNED MESSAGE-----' ||
    lab_fail "the kept receipt is not clear-signed"
"$AGENT" -c "$CONF" status >"$LAB/logs/status.txt" 2>&1
grep -qE "^  laptop: queued [0-9-]+ [0-9:]+ UTC: 2 head\(s\), 0 waiting, 0 quarantined$" "$LAB/logs/status.txt" ||
    lab_fail "status does not show the last receipt: $(cat "$LAB/logs/status.txt")"

# The dry run: what would go, and why the rest stays.
AIRGAP_QUEUE_CONF=$SENDER_CONF "$REAP" --dry-run >"$LAB/logs/reap-dry.txt" 2>&1 ||
    lab_fail "airgap-reap --dry-run failed: $(cat "$LAB/logs/reap-dry.txt")"
assert_eq "$(printf '%s\n' "${own[@]:0:5}")" \
    "$(sed -n 's/^would destroy [^@]*@\([^:]*\):.*/\1/p' "$LAB/logs/reap-dry.txt")" \
    "snapshots airgap-reap --dry-run would destroy"
grep -qx "keep $LAP_FS@${own[5]}: newest on $poolB" "$LAB/logs/reap-dry.txt" ||
    lab_fail "the dry run does not keep day 6 as B's newest: $(cat "$LAB/logs/reap-dry.txt")"
grep -qx "keep $LAP_FS@${own[6]}: newest on $poolA" "$LAB/logs/reap-dry.txt" ||
    lab_fail "the dry run does not keep day 7 as A's newest: $(cat "$LAB/logs/reap-dry.txt")"
grep -qx "keep $LAP_FS@manual-by-someone-else: not made by airgap-queue" "$LAB/logs/reap-dry.txt" ||
    lab_fail "the dry run does not keep the other snapshot: $(cat "$LAB/logs/reap-dry.txt")"
assert_eq "${own[*]}" "$(rcpt_own_snaps)" "snapshots after the dry run"

# Refused receipts change nothing.
before=$(cat "$RECEIPTS"/*.receipt | sha256sum)
sed 's/^made\t/made\t9/' "$RECEIPTS/$poolA.asc" >"$LAB/tampered.asc"
grep -q "^made	9" "$LAB/tampered.asc" || lab_die "could not tamper with the receipt"
sed -n '/^airgap-receipt 1$/,/^end$/p' "$RECEIPTS/$poolA.asc" | sed 's/^made\t/made\t9/' >"$LAB/unsigned.txt"
gpg --homedir "$G_OTH" --batch --clearsign -o "$LAB/other.asc" "$LAB/unsigned.txt" ||
    lab_die "cannot sign with the other key"
for f in tampered.asc unsigned.txt other.asc; do
	rc=0
	env -i AIRGAP_QUEUE_CONF="$SENDER_CONF" "$TOP/scripts/airgap-receipt" \
	    <"$LAB/$f" >"$LAB/logs/refused-$f.log" 2>&1 || rc=$?
	assert_eq 1 "$rc" "exit status of airgap-receipt for $f"
	grep -q refused "$LAB/logs/refused-$f.log" ||
	    lab_fail "airgap-receipt does not say it refused $f: $(cat "$LAB/logs/refused-$f.log")"
done
assert_eq "$before" "$(cat "$RECEIPTS"/*.receipt | sha256sum)" "kept receipts after the refused ones"

# The reap itself: exactly days 1-5.
AIRGAP_QUEUE_CONF=$SENDER_CONF "$REAP" >"$LAB/logs/reap.txt" 2>&1 ||
    lab_fail "airgap-reap failed: $(cat "$LAB/logs/reap.txt")"
assert_eq "${own[5]} ${own[6]}" "$(rcpt_own_snaps)" "airgap-queue snapshots after the reap"
zfs list -H -o name "$LAP_FS@manual-by-someone-else" >/dev/null 2>&1 ||
    lab_fail "airgap-reap destroyed someone else's snapshot"

# A third rotation disk that stays away blocks reaping.
rot_disk C
rot_unplug C
sed -i "s/^  rotation = .*/  rotation = [ \"$poolA\", \"$poolB\", \"${ROT_POOL[C]}\" ];/" "$CONF"
rot_conf_check
rcpt_day 8 A
assert_exit 0
rcpt_day 9 B
assert_exit 0
before=$(rcpt_own_snaps)
rc=0
AIRGAP_QUEUE_CONF=$SENDER_CONF "$REAP" >"$LAB/logs/reap-blocked.txt" 2>&1 || rc=$?
assert_eq 2 "$rc" "exit status of airgap-reap with disk C away"
grep -q "disk ${ROT_POOL[C]}: no receipt: reaping is blocked" "$LAB/logs/reap-blocked.txt" ||
    lab_fail "airgap-reap does not say that C blocks it: $(cat "$LAB/logs/reap-blocked.txt")"
assert_eq "$before" "$(rcpt_own_snaps)" "snapshots after the blocked reap"

lab_pass
