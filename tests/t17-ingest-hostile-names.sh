#!/bin/bash
#
# t17-ingest-hostile-names: queue files whose names try path traversal,
# another host's tree, shell commands, over-long dataset names and names
# that look like options.  Each holds a valid stream signed by laptop, so
# only the name is wrong.  All are quarantined with a reason, no command in
# a name runs, nothing of theirs is received.  A good file in the same run
# is received.

# shellcheck source=functions.sh
. "$(dirname "$0")/functions.sh"

lab_setup
lab_config "laptop true $LAP_FPR" "other true $OTH_FPR $LAP_FPR"
lab_write a.txt one
lab_snap s1
# The same state under a long snapshot name, for a target name that is too
# long only with its snapshot name.
longsnap=snapshot-with-a-name-of-fifty-characters-0123456789
lab_snap "$longsnap"

# $LAB with / written as @: the program turns it back into an absolute path.
at_lab=${LAB//\//@}
# A file name of 255 bytes (the most a file system allows) whose dataset,
# POOL/simplesnap/laptop/aaa.../fs, is longer than ZFS's 255.
long=$(printf 'a%.0s' $(seq 1 228))
# A file name of 248 bytes (NAME.reason still fits) whose dataset name fits
# in 255 but whose snapshot, .../fs@$longsnap, does not.
long2=$(printf 'b%.0s' $(seq 1 221))
long2_name=bakfsfmt2-1.2.21_laptop@${long2}@fs
# shellcheck disable=SC2016 # the $( and ` are meant literally
names=(
	'bakfsfmt2-1.2.3_laptop@..@x'
	'bakfsfmt2-1.2.4_laptop@..@..@..@tmp@x'
	"bakfsfmt2-1.2.5_other@$LAP_POOL@fs"
	"bakfsfmt2-1.2.6_laptop@fs;touch pwned_a"
	"bakfsfmt2-1.2.7_laptop@x;touch ${at_lab}@pwned_b"
	'bakfsfmt2-1.2.8_laptop@$(touch pwned_c)'
	"bakfsfmt2-1.2.9_laptop@\$(touch ${at_lab}@pwned_d)"
	'bakfsfmt2-1.2.10_laptop@`touch pwned_e`'
	"bakfsfmt2-1.2.11_laptop@x|touch pwned_f"
	"bakfsfmt2-1.2.12_laptop@x&&touch pwned_g"
	"bakfsfmt2-1.2.13_laptop@${long}@fs"
	"bakfsfmt2-1.2.14_laptop@-F@fs"
	"bakfsfmt2-1.2.15_laptop@$LAP_POOL@-F"
	"bakfsfmt2-1.2.16_laptop@@fs"
	"bakfsfmt2-1.2.17_laptop@$LAP_POOL@fs@"
	"bakfsfmt2-1.2.18_laptop"
	"bakfsfmt2-1.2.19_"
	"bakfsfmt2-1.2.20_-laptop@$LAP_POOL@fs"
)
[ ${#names[10]} = 255 ] || lab_die "long name has ${#names[10]} chars"
[ ${#long2_name} = 248 ] || lab_die "long name 2 has ${#long2_name} chars"
target=$BAK_POOL/simplesnap/laptop/$long2/fs
if [ ${#target} -gt 255 ] || [ $((${#target} + 1 + ${#longsnap})) -le 255 ]; then
	lab_die "$target@$longsnap has the wrong length"
fi

lab_stream "$longsnap"
mv "$QF" "$INCOMING/laptop/$long2_name"
names+=("$long2_name")

lab_stream s1
for n in "${names[@]}"; do
	[ -e "$INCOMING/laptop/$n" ] || cp "$QF" "$INCOMING/laptop/$n"
done
lab_deliver
good=$QN

lab_ingest
assert_exit 1
assert_outcome "$good" received
assert_received s1
for n in "${names[@]}"; do
	assert_outcome "$n" quarantined
done
assert_no_file "$LAB"/pwned_* "$LAB"/run/pwned_* "$STATE"/pwned_* /pwned_* /tmp/pwned_*
if [ -n "$(find "$LAB" -name 'pwned_*' -print -quit)" ]; then
	lab_fail "a command in a file name ran"
fi
# Only laptop's tree, with only the one good snapshot.
assert_eq "$STORE_ROOT@s1" "$(zfs list -H -r -t snapshot -o name "$BAK_POOL")" \
    "snapshots on the pool"
assert_absent "$BAK_POOL/simplesnap/other"
assert_absent "$BAK_POOL/simplesnap/x"
assert_absent "$BAK_POOL/simplesnap/tmp"
assert_absent "$BAK_POOL/simplesnap/laptop/-F"
assert_absent "$BAK_POOL/simplesnap/laptop/$long"
assert_absent "$BAK_POOL/simplesnap/laptop/$long2/fs"

lab_pass
