#!/bin/bash
#
# t28-ingest-space-unknown: zfs failing once to say how much room the pool
# has is that file's failure, not a full pool.  The config's zfs is the
# real one behind a fault injector that fails the first
# `zfs get -H -p -o value available POOL` and passes everything else on.
# Two files, for two datasets: the first fails ("cannot read the free
# space", stays queued), the second is received (zfs is asked again);
# the next run receives the first.  (It used to say "pool nearly full"
# for every file after one failed query.)

# shellcheck source=functions.sh
. "$(dirname "$0")/functions.sh"

lab_setup
lab_write a.txt one
lab_snap s1
zfs create "$LAP_POOL/fs2"
zfs snapshot "$LAP_POOL/fs2@a"

# The fault injector: the child's environment is empty, so the paths are
# written into the script.
flag=$LAB/fail-free-space
real=$(command -v zfs)
cat >"$LAB/bin/zfs-flaky" <<EOF
#!/bin/sh
if [ "\$*" = "get -H -p -o value available $BAK_POOL" ] && rm "$flag" 2>/dev/null; then
	echo "zfs-flaky: injected failure of the free-space query" >&2
	exit 1
fi
exec $real "\$@"
EOF
chmod 0755 "$LAB/bin/zfs-flaky"
sed -i "s|^  zfs = \"$real\";|  zfs = \"$LAB/bin/zfs-flaky\";|" "$CONF"
grep -qF "zfs = \"$LAB/bin/zfs-flaky\";" "$CONF" || lab_die "could not put zfs-flaky into $CONF"

lab_queue s1
n1=$QN
zfs send "$LAP_POOL/fs2@a" | zstd -q -8 |
    gpg --homedir "$G_LAP" --batch --no-tty --trust-model always \
        --compress-algo none --cipher-algo AES256 -e -r "$BSVR_FPR" \
        -s -u "$LAP_FPR" >"$LAB/outbox/fs2" 2>>"$LAB/logs/send.log"
lab_deliver "$LAB/outbox/fs2" "bakfsfmt2-$(date +%s.%N).$$_laptop@$LAP_POOL@fs2"
n2=$QN

touch "$flag"
lab_ingest
assert_exit 1
[ ! -e "$flag" ] || lab_die "the free-space query was never made"
assert_outcome "$n1" failed
case $(lab_report_line "$n1" | cut -f5) in
*"cannot read the free space of $BAK_POOL"*) ;;
*) lab_fail "reason for $n1: expected 'cannot read the free space', got: $(lab_report_line "$n1")" ;;
esac
assert_outcome "$n2" received
[ "$(lab_guid "$BAK_POOL/simplesnap/laptop/$LAP_POOL/fs2@a")" = "$(lab_guid "$LAP_POOL/fs2@a")" ] ||
    lab_fail "fs2@a on the pool does not have the guid of the source"
assert_absent "$STORE_ROOT"

lab_ingest
assert_exit 0
assert_outcome "$n1" received
assert_received s1
lab_pass
