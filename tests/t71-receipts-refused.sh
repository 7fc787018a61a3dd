#!/bin/bash
#
# t71-receipts-refused: what must not make the laptop reap.  Rotation
# disks A and C; C never comes.  Days 1 and 2 reach A on a stick, and the
# signed receipt comes back (rotation A C, no record of C).
#
# The attacker's versions of it, each saying the rotation is A alone (so
# that day 1 would be reapable): the signed text edited, the text without
# a signature, the text signed by another key.  airgap-receipt refuses
# each (exit 1) and keeps nothing; airgap-reap then has no receipt and
# destroys nothing (exit 1).  The genuine receipt is taken, and
# airgap-reap refuses because C, a rotation disk, has never been seen
# (exit 2, "blocked"): nothing is destroyed.

# shellcheck source=functions.sh
. "$(dirname "$0")/functions.sh"
# shellcheck source=lib-rotation.sh
. "$(dirname "$0")/lib-rotation.sh"
# shellcheck source=lib-receipts.sh
. "$(dirname "$0")/lib-receipts.sh"

REAP=$TOP/scripts/airgap-reap

rcpt_setup
rot_disk A
rot_disk C
rot_unplug C
rot_conf_rotation A C
poolA=${ROT_POOL[A]}
poolC=${ROT_POOL[C]}
lab_write_random bin/r1 64
rcpt_snap 1
rcpt_snap 2
rcpt_trip 2 A
assert_exit 0
genuine=$RECEIPTS/$poolA.asc
[ -f "$genuine" ] || lab_fail "the laptop kept no receipt for A: $(ls "$RECEIPTS" 2>&1)"
grep -qP "^rotation\t$poolA\t$poolC\$" "$genuine" ||
    lab_fail "the receipt does not name the rotation: $(cat "$genuine")"
cp "$genuine" "$LAB/genuine.asc"
rm -rf "$RECEIPTS"
own=$(rcpt_own_snaps)
[ "$(wc -w <<<"$own")" = 2 ] || lab_fail "expected two airgap-queue snapshots: $own"

# receipt FILE: airgap-receipt with FILE on stdin, as NNCP runs it (no
# environment); exit status in RC, output in $LAB/logs/receipt-FILE.log.
receipt() {
	RC=0
	env -i /usr/bin/env AIRGAP_QUEUE_CONF="$SENDER_CONF" \
	    "$TOP/scripts/airgap-receipt" <"$LAB/$1" >"$LAB/logs/receipt-$1.log" 2>&1 ||
	    RC=$?
}

sed "s/^rotation\t.*/rotation\t$poolA/" "$LAB/genuine.asc" >"$LAB/tampered.asc"
cmp -s "$LAB/genuine.asc" "$LAB/tampered.asc" && lab_die "could not tamper with the receipt"
sed -n '/^airgap-receipt 1$/,/^end$/p' "$LAB/tampered.asc" >"$LAB/unsigned.txt"
gpg --homedir "$G_OTH" --batch --clearsign -o "$LAB/other.asc" "$LAB/unsigned.txt" ||
    lab_die "cannot sign with the other key"
for f in tampered.asc unsigned.txt other.asc; do
	receipt "$f"
	assert_eq 1 "$RC" "exit status of airgap-receipt for $f"
	grep -q refused "$LAB/logs/receipt-$f.log" ||
	    lab_fail "airgap-receipt does not say it refused $f: $(cat "$LAB/logs/receipt-$f.log")"
	left=$(find "$RECEIPTS" -name '*.receipt' 2>/dev/null || true)
	[ -z "$left" ] || lab_fail "airgap-receipt kept something of $f: $left"
done
rc=0
AIRGAP_QUEUE_CONF=$SENDER_CONF "$REAP" >"$LAB/logs/reap-none.txt" 2>&1 || rc=$?
assert_eq 1 "$rc" "exit status of airgap-reap without receipts"
assert_eq "$own" "$(rcpt_own_snaps)" "snapshots after the refused receipts"

# Receipts planted in the folder (it belongs to the NNCP user) without
# a signature that verifies are not read: there is no receipt to go by.
mkdir -p "$RECEIPTS"
cp "$LAB/unsigned.txt" "$RECEIPTS/$poolA.receipt"
cp "$LAB/unsigned.txt" "$RECEIPTS/$poolC.receipt"
cp "$LAB/tampered.asc" "$RECEIPTS/$poolA.asc"
rc=0
AIRGAP_QUEUE_CONF=$SENDER_CONF "$REAP" >"$LAB/logs/reap-planted.txt" 2>&1 || rc=$?
assert_eq 1 "$rc" "exit status of airgap-reap with planted receipts ($(cat "$LAB/logs/reap-planted.txt"))"
grep -q "does not verify" "$LAB/logs/reap-planted.txt" ||
    lab_fail "airgap-reap does not say the planted receipt does not verify: $(cat "$LAB/logs/reap-planted.txt")"
assert_eq "$own" "$(rcpt_own_snaps)" "snapshots after the planted receipts"
rm -f "$RECEIPTS/$poolA.receipt" "$RECEIPTS/$poolC.receipt" "$RECEIPTS/$poolA.asc"

# The genuine one is taken; C, never seen, blocks the reap.
receipt genuine.asc
assert_eq 0 "$RC" "exit status of airgap-receipt for the genuine receipt ($(cat "$LAB/logs/receipt-genuine.asc.log"))"
[ -f "$RECEIPTS/$poolA.receipt" ] || lab_fail "the genuine receipt was not kept"
rc=0
AIRGAP_QUEUE_CONF=$SENDER_CONF "$REAP" >"$LAB/logs/reap-blocked.txt" 2>&1 || rc=$?
assert_eq 2 "$rc" "exit status of airgap-reap with disk C away"
grep -q "disk $poolC: no receipt: reaping is blocked" "$LAB/logs/reap-blocked.txt" ||
    lab_fail "airgap-reap does not say that C blocks it: $(cat "$LAB/logs/reap-blocked.txt")"
assert_eq "$own" "$(rcpt_own_snaps)" "snapshots after the blocked reap"

lab_pass
