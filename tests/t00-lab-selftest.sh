#!/bin/bash
#
# t00-lab-selftest: the lab itself works, without the program under test.
# The queue files made by lab_stream are received with the articles' own
# shell pipeline (gpg -d | zstd -d | zfs receive -u), and the assertions are
# checked to fail on wrong data.  The lab's pools are not in the pool
# cache.  When this test fails, the other scenarios tell nothing about the
# program.

# shellcheck source=functions.sh
. "$(dirname "$0")/functions.sh"

# shell_receive FILE DATASET: the articles' processing script, in short.
shell_receive() {
	gpg --homedir "$G_BSVR" --batch --no-tty -q -d --status-fd 3 "$1" \
	    3>"$LAB/status" 2>>"$LAB/logs/selftest.log" |
	    zstd -q -d |
	    zfs receive -u "$2"
}

# must_fail CMD...: CMD (an assertion) must fail, in a subshell.
must_fail() {
	if ("$@") >/dev/null 2>&1; then
		lab_fail "assertion did not fail: $*"
	fi
}

lab_setup
lab_write a.txt one
lab_write_random dir/r.bin 128
lab_snap s1
lab_write a.txt two
lab_snap s2
lab_write b.txt three
lab_remove dir
lab_snap s3

lab_stream s1
full=$QF
lab_stream -i s1 s2
incr=$QF
lab_stream -s none -I s1 s3
comp=$QF
lab_stream -s other -p backupsfmt2 -t 1700000000.123456789 s1
oth=$QF

# Names follow simplesnap-queue: PREFIX-SECONDS.NANOS.PID_DEST.
case $(basename "$full") in
bakfsfmt2-[0-9]*.[0-9]*."$$_laptop@$LAP_POOL@fs") ;;
*) lab_fail "unexpected queue file name $(basename "$full")" ;;
esac
assert_eq "backupsfmt2-1700000000.123456789.$$_laptop@$LAP_POOL@fs" \
    "$(basename "$oth")" "name with -p and -t"

# The lab's pools stay out of the pool cache (the next zfs-fuse start
# would import them, FAULTED once their images are gone).
assert_not_cached "$LAP_POOL"
assert_not_cached "$BAK_POOL"

zfs create "$BAK_POOL/simplesnap"
zfs create "$BAK_POOL/simplesnap/laptop"
zfs create "$BAK_POOL/simplesnap/laptop/$LAP_POOL"

shell_receive "$full" "$STORE_ROOT"
grep -q "VALIDSIG $LAP_FPR" "$LAB/status" || lab_fail "full stream not signed by laptop"
shell_receive "$comp" "$STORE_ROOT"
if grep -q VALIDSIG "$LAB/status"; then
	lab_fail "stream made with -s none is signed"
fi
grep -q "DECRYPTION_OKAY" "$LAB/status" || lab_fail "unsigned stream did not decrypt"
gpg --homedir "$G_BSVR" --batch --no-tty -q -d --status-fd 1 "$oth" 2>/dev/null |
    grep -q "VALIDSIG $OTH_FPR" || lab_fail "stream made with -s other not signed by other"

assert_received s1
assert_received s2
assert_received s3

# -i into a second copy.
lab_stream s1
shell_receive "$QF" "$STORE_ROOT.2"
shell_receive "$incr" "$STORE_ROOT.2"
grep -q "VALIDSIG $LAP_FPR" "$LAB/status" || lab_fail "incremental not signed by laptop"
assert_guid s2 "$STORE_ROOT.2@s2"
assert_content s2 "$STORE_ROOT.2@s2"

# The assertions must catch wrong data.
must_fail assert_content s1 "$STORE_ROOT@s2"
must_fail assert_content s3 "$STORE_ROOT@s1"
must_fail assert_guid s1 "$STORE_ROOT@s2"
must_fail assert_absent "$STORE_ROOT@s1"
must_fail assert_exists "$STORE_ROOT@nosuch"
must_fail assert_no_snapshots "$BAK_POOL"
must_fail assert_eq a b "two strings"
must_fail assert_queued nosuchfile
must_fail assert_quarantined nosuchfile
must_fail assert_outcome nosuchfile received
assert_absent "$STORE_ROOT@nosuch"
must_fail assert_no_snapshots "$LAP_POOL/nosuch"
must_fail assert_content s1 "$STORE_ROOT@s2"
assert_content s1

# The zstd stage is the articles' zstd -8 frame and the zfs stream begins
# with the begin record magic 0x2F5BACBAC (little-endian here).
gpg --homedir "$G_BSVR" --batch --no-tty -q -d "$full" 2>/dev/null |
    zstd -q -d >"$LAB/plain"
magic=$(od -A n -t x8 -j 8 -N 8 "$LAB/plain" | tr -d ' ')
assert_eq 00000002f5bacbac "$magic" "begin record magic"

# The config names the real binaries and the lab's paths.
grep -q "zpool = \"$(command -v zpool)\"" "$CONF" || lab_fail "config: zpool path"
grep -q "signers = \[ \"$LAP_FPR\" \]; require_signature = true;" "$CONF" ||
    lab_fail "config: laptop host"
assert_eq 700 "$(stat -c %a "$STATE")" "mode of the state dir"
lab_config "laptop false $LAP_FPR" "other true $OTH_FPR $LAP_FPR"
grep -q "name = \"other\"; signers = \[ \"$OTH_FPR\", \"$LAP_FPR\" \]; require_signature = true;" \
    "$CONF" || lab_fail "config: two hosts"
[ -d "$INCOMING/other" ] || lab_fail "config: no incoming dir for other"

lab_pass
