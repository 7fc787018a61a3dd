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
#
# Two disks under one name (a disk made anew under an old disk's pool
# name; guids that differ in the last digit), in receipts signed by
# backupsvr's key: the old one, last seen 40 days ago, blocks reaping
# unless AIRGAP_REAP_RETIRED lists it; seen again with day 1 as its
# newest, it keeps day 1, retired or not.  Receipts signed by that key
# but not well-formed (a time bash would run as a command, a date ten
# days ahead) are refused, and not read when planted.

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
guidA=${ROT_GUID[A]}
genuine=$RECEIPTS/$guidA.asc
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
sed -n '/^airgap-receipt 2$/,/^end$/p' "$LAB/tampered.asc" >"$LAB/unsigned.txt"
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
cp "$LAB/unsigned.txt" "$RECEIPTS/$guidA.receipt"
cp "$LAB/unsigned.txt" "$RECEIPTS/${ROT_GUID[C]}.receipt"
cp "$LAB/tampered.asc" "$RECEIPTS/$guidA.asc"
rc=0
AIRGAP_QUEUE_CONF=$SENDER_CONF "$REAP" >"$LAB/logs/reap-planted.txt" 2>&1 || rc=$?
assert_eq 1 "$rc" "exit status of airgap-reap with planted receipts ($(cat "$LAB/logs/reap-planted.txt"))"
grep -q "does not verify" "$LAB/logs/reap-planted.txt" ||
    lab_fail "airgap-reap does not say the planted receipt does not verify: $(cat "$LAB/logs/reap-planted.txt")"
assert_eq "$own" "$(rcpt_own_snaps)" "snapshots after the planted receipts"
rm -f "$RECEIPTS/$guidA.receipt" "$RECEIPTS/${ROT_GUID[C]}.receipt" "$RECEIPTS/$guidA.asc"

# The genuine one is taken; C, never seen, blocks the reap.
receipt genuine.asc
assert_eq 0 "$RC" "exit status of airgap-receipt for the genuine receipt ($(cat "$LAB/logs/receipt-genuine.asc.log"))"
[ -f "$RECEIPTS/$guidA.receipt" ] || lab_fail "the genuine receipt was not kept"
rc=0
AIRGAP_QUEUE_CONF=$SENDER_CONF "$REAP" >"$LAB/logs/reap-blocked.txt" 2>&1 || rc=$?
assert_eq 2 "$rc" "exit status of airgap-reap with disk C away"
grep -q "disk $poolC: never seen by the backup server: reaping is blocked" "$LAB/logs/reap-blocked.txt" ||
    lab_fail "airgap-reap does not say that C blocks it: $(cat "$LAB/logs/reap-blocked.txt")"
assert_eq "$own" "$(rcpt_own_snaps)" "snapshots after the blocked reap"

# twin FILE SEEN SNAP: the genuine text with rotation A alone, made a
# second later, and a second disk named A last seen at SEEN holding SNAP
# as its newest, clear-signed with backupsvr's key.  Its guid ($old)
# differs from A's in the last digit only: as numbers (awk compares
# numeric-looking fields as doubles) the two would be one disk.
old=${guidA%?}$(((${guidA: -1} + 1) % 10))
read -r -a snaps <<<"$own"
twin() {
	local made head
	made=$(awk -F'\t' '$1 == "made" { print $2 + 1 }' "$LAB/unsigned.txt")
	head=$(printf 'head\t%s\t%s\t%s\t%s\t%s' "$old" "$LAP_FS" "$3" "$(lab_guid "$LAP_FS@$3")" "$2")
	awk -F'\t' -v m="$made" -v o="$old" -v p="$poolA" -v s="$2" -v h="$head" '
	    $1 == "made" { print "made\t" m; next }
	    $1 == "disk" { print; print "disk\t" p "\t" o "\t" s; next }
	    $1 == "end" { print h }
	    { print }' "$LAB/unsigned.txt" >"$LAB/$1.txt"
	gpg --homedir "$G_BSVR" --batch --clearsign -o "$LAB/$1" "$LAB/$1.txt" ||
	    lab_die "cannot sign $1 with backupsvr's key"
	receipt "$1"
	assert_eq 0 "$RC" "exit status of airgap-receipt for $1 ($(cat "$LAB/logs/receipt-$1.log"))"
	[ -f "$RECEIPTS/$old.receipt" ] || lab_fail "$1 was not kept for the second disk named A"
}
# reap LOG RC [ARGS]: airgap-reap, its output in LOG, exit status RC expected.
reap() {
	local rc=0 log=$LAB/logs/$1
	shift
	AIRGAP_QUEUE_CONF=$SENDER_CONF "$REAP" "${@:2}" >"$log" 2>&1 || rc=$?
	assert_eq "$1" "$rc" "exit status of airgap-reap ${*:2} ($(cat "$log"))"
}
# The second A, last seen 40 days ago, blocks; retired, it counts no more.
twin twin-old.asc $(($(date +%s) - 40 * 86400)) "${snaps[1]}"
reap reap-twin-old.txt 2
grep -q "disk $poolA ($old): last seen by the backup server 40 day(s) ago" "$LAB/logs/reap-twin-old.txt" ||
    lab_fail "airgap-reap does not say the old disk named A blocks it: $(cat "$LAB/logs/reap-twin-old.txt")"
grep -q "disk $poolA: 2 disks have that name: .*$old" "$LAB/logs/reap-twin-old.txt" ||
    lab_fail "airgap-reap does not say two disks are named A: $(cat "$LAB/logs/reap-twin-old.txt")"
assert_eq "$own" "$(rcpt_own_snaps)" "snapshots after the reap the old disk blocked"
AIRGAP_REAP_RETIRED=$old reap reap-retired-old.txt 0 --dry-run
grep -qx "would destroy $LAP_FS@${snaps[0]}: every disk has gone past it" "$LAB/logs/reap-retired-old.txt" ||
    lab_fail "with the old A retired, day 1 is not reapable: $(cat "$LAB/logs/reap-retired-old.txt")"

# Seen again with day 1 as its newest: day 1 stays, retired or not (a
# retired disk seen within AIRGAP_REAP_MAX_AGE still counts).
twin twin-new.asc "$(date +%s)" "${snaps[0]}"
reap reap-twin-new.txt 0 --dry-run
grep -qx "keep $LAP_FS@${snaps[0]}: newest on $poolA" "$LAB/logs/reap-twin-new.txt" ||
    lab_fail "airgap-reap does not keep day 1, the second A's newest: $(cat "$LAB/logs/reap-twin-new.txt")"
grep -q '^would destroy' "$LAB/logs/reap-twin-new.txt" &&
    lab_fail "airgap-reap would destroy what the second A needs: $(cat "$LAB/logs/reap-twin-new.txt")"
AIRGAP_REAP_RETIRED=$old reap reap-retired-new.txt 0
grep -q "disk $poolA ($old): listed in AIRGAP_REAP_RETIRED but seen by the backup server 0 day(s) ago: it still counts" \
    "$LAB/logs/reap-retired-new.txt" ||
    lab_fail "airgap-reap does not say the retired disk still counts: $(cat "$LAB/logs/reap-retired-new.txt")"
assert_eq "$own" "$(rcpt_own_snaps)" "snapshots after the reap with a retired disk seen today"

# Signed by backupsvr's key but not well-formed: a time that bash's
# arithmetic would run as a command, and a receipt dated ten days ahead.
# Refused as they come, and not read when planted in the folder.
hostile() {
	awk -F'\t' -v h="$2" -v m="$3" '
	    $1 == "made" { print "made\t" m; next }
	    $1 == "disk" { print; print h; next }
	    { print }' "$LAB/unsigned.txt" >"$LAB/$1.txt"
	gpg --homedir "$G_BSVR" --batch --clearsign -o "$LAB/$1" "$LAB/$1.txt" ||
	    lab_die "cannot sign $1 with backupsvr's key"
	receipt "$1"
	assert_eq 1 "$RC" "exit status of airgap-receipt for $1"
	grep -q 'refused: not a well-formed receipt' "$LAB/logs/receipt-$1.log" ||
	    lab_fail "airgap-receipt does not say why it refused $1: $(cat "$LAB/logs/receipt-$1.log")"
}
now=$(date +%s)
hostile inject.asc "$(printf 'disk\t%s\t%s\t%s' "$poolA" 77 "x[\$(touch $LAB/pwned)0]")" "$now"
hostile ahead.asc "$(printf 'disk\t%s\t%s\t%s' "$poolA" 78 "$now")" $((now + 10 * 86400))
if [ -e "$RECEIPTS/77.receipt" ] || [ -e "$RECEIPTS/78.receipt" ]; then
	lab_fail "a refused receipt was kept: $(ls "$RECEIPTS")"
fi
cp "$LAB/inject.asc" "$RECEIPTS/77.asc"
cp "$LAB/ahead.asc" "$RECEIPTS/78.asc"
AIRGAP_REAP_RETIRED=$old reap reap-planted-hostile.txt 0 --dry-run
for g in 77 78; do
	grep -q "disk $g: the kept receipt does not verify" "$LAB/logs/reap-planted-hostile.txt" ||
	    lab_fail "airgap-reap read the planted receipt $g: $(cat "$LAB/logs/reap-planted-hostile.txt")"
done
[ ! -e "$LAB/pwned" ] || lab_fail "a field of a receipt was run as a command"
assert_eq "$own" "$(rcpt_own_snaps)" "snapshots after the hostile receipts"

lab_pass
