#!/bin/bash
#
# t20-ingest-ignored: an empty queue is fine; NNCP's partial nncpfile*
# files and names without the bakfsfmt2-/backupsfmt2- prefix are left
# alone; a backupsfmt2- file (the articles' other prefix) is received.

# shellcheck source=functions.sh
. "$(dirname "$0")/functions.sh"

lab_setup
lab_write a.txt one
lab_snap s1

lab_ingest
assert_exit 0
assert_no_snapshots "$BAK_POOL"

lab_stream s1
others=(
	nncpfile0123456789abcdef
	"nncpfile89abcdef01234567"
	README.txt
	.hidden
	"bakfsfmt1-1.2.3_laptop@$LAP_POOL@fs"
	"xbakfsfmt2-1.2.3_laptop@$LAP_POOL@fs"
)
# A partial NNCP file holds the first part of a real queue file.
head -c 1000 "$QF" >"$INCOMING/laptop/${others[0]}"
printf 'junk\n' >"$INCOMING/laptop/${others[1]}"
printf 'not a backup\n' >"$INCOMING/laptop/${others[2]}"
printf 'hidden\n' >"$INCOMING/laptop/${others[3]}"
cp "$QF" "$INCOMING/laptop/${others[4]}"
cp "$QF" "$INCOMING/laptop/${others[5]}"
mkdir -p "$LAB/copy"
for n in "${others[@]}"; do
	cp "$INCOMING/laptop/$n" "$LAB/copy/$n"
done

lab_stream -p backupsfmt2 s1
lab_deliver
n1=$QN

lab_ingest
assert_exit 0
assert_outcome "$n1" received
assert_received s1
for n in "${others[@]}"; do
	assert_queued "$n"
	assert_not_quarantined "$n"
	cmp -s "$LAB/copy/$n" "$INCOMING/laptop/$n" || lab_fail "$n was changed"
	case $(lab_outcome "$n") in
	'' | ignored) ;;
	*) lab_fail "$n has outcome $(lab_outcome "$n"), should be left alone" ;;
	esac
done

lab_pass
