#!/bin/bash
#
# t16-ingest-flipped-byte: one changed byte in the middle of the ciphertext
# of a stream of a few MiB.  gpg only reports it at the end, after most of
# the stream went to zfs receive: the file is quarantined and nothing may be
# left on the pool.  An intact copy of the same stream is received after.

# shellcheck source=functions.sh
. "$(dirname "$0")/functions.sh"

lab_setup
lab_write a.txt one
lab_write_random big/r1 2048
lab_write_random big/r2 2048
lab_snap s1

lab_queue s1
n1=$QN
size=$(stat -c %s "$QF")
[ "$size" -gt $((3 * 1024 * 1024)) ] || lab_die "stream too small: $size bytes"
off=$((size / 2))
old=$(od -A n -t x1 -j "$off" -N 1 "$QF" | tr -d ' ')
if [ "$old" = 5a ]; then new='\xa5'; else new='\x5a'; fi
# shellcheck disable=SC2059 # the format is the byte
printf "$new" | dd of="$QF" bs=1 seek="$off" conv=notrunc status=none
[ "$(od -A n -t x1 -j "$off" -N 1 "$QF" | tr -d ' ')" != "$old" ] ||
    lab_die "byte at $off not changed"
lab_log "changed byte $off of $size (was 0x$old)"

lab_ingest_expect 1 quarantined "$n1"
assert_absent "$STORE_ROOT@s1"
assert_nothing_received

lab_queue s1
n2=$QN
lab_ingest_expect 0 received "$n2"
assert_received s1

lab_pass
