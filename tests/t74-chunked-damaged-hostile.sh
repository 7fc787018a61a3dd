#!/bin/bash
#
# t74-chunked-damaged-hostile: NNCP chunked sets that must not be taken.
#  1. A set delivered whole (nncp-file -chunked 1024 through the spooler,
#     tossed as the nncp user) whose chunk1 then has a byte flipped in
#     incoming: nncp-reass refuses it before writing a byte.  Nothing is
#     received, the run fails and says why, every piece stays where it is
#     (the damaged one as it is), nothing is quarantined.  With the byte
#     put back, the next run receives it and the pieces go.
#  2. Names with ".nncp." that are not exactly NAME.nncp.meta or
#     NAME.nncp.chunkN of a valid queue name, pieces that are links, FIFOs
#     or folders, and a set whose meta is garbage: each is reported (in the
#     run's log and by status) and left exactly as it was; none is read
#     through nncp-reass, quarantined or taken for a queue file, and a
#     plain stream beside them is received.

# shellcheck source=functions.sh
. "$(dirname "$0")/functions.sh"
# shellcheck source=lib-rotation.sh
. "$(dirname "$0")/lib-rotation.sh"

rot_setup
rot_laptop_snaps 2 2600
rot_disk A
L=$INCOMING/laptop

assert_nothing_quarantined() {
	local q

	q=$(find "$STATE/quarantine" -type f 2>/dev/null | head -n 3 || true)
	[ -z "$q" ] || lab_fail "quarantined: $q"
}

# 1. a damaged chunk
lab_nncp_queue_chunked 1024 s1
n1=$QN
rot_nncp_deliver
rot_nncp_toss
assert_eq 0 "$ROT_TOSS_RC" "exit status of nncp-toss"
for p in meta chunk0 chunk1 chunk2; do
	[ -f "$L/$n1.nncp.$p" ] || lab_die "$n1.nncp.$p was not delivered"
done
orig=$(od -An -tx1 -j 100 -N 1 "$L/$n1.nncp.chunk1" | tr -d ' ')
flipped=$(printf '%02x' $((0x$orig ^ 0xff)))
# shellcheck disable=SC2059 # the byte is the format on purpose
printf "\\x$flipped" |
    dd of="$L/$n1.nncp.chunk1" bs=1 seek=100 conv=notrunc status=none
[ "$(od -An -tx1 -j 100 -N 1 "$L/$n1.nncp.chunk1" | tr -d ' ')" = "$flipped" ] ||
    lab_die "could not flip a byte of chunk1"
damaged=$(sha256sum "$L"/"$n1".nncp.* | sort)

rot_ingest A
assert_exit 1
assert_outcome "$n1.nncp.meta" failed
reason=$(rot_reason "$n1.nncp.meta")
case $reason in
*nncp-reass*) ;;
*) lab_fail "the report's reason for the damaged set does not name nncp-reass: $reason" ;;
esac
grep -q "chunk 1: checksum is bad" "$AGENT_LOG" ||
    lab_fail "the run's log does not show nncp-reass's complaint about chunk 1"
assert_eq "$damaged" "$(sha256sum "$L"/"$n1".nncp.* | sort)" "the set's pieces after the run"
assert_nothing_quarantined
assert_no_snapshots "$BAK_POOL"

# shellcheck disable=SC2059 # the byte is the format on purpose
printf "\\x$orig" |
    dd of="$L/$n1.nncp.chunk1" bs=1 seek=100 conv=notrunc status=none
rot_ingest A
assert_exit 0
assert_outcome "$n1.nncp.meta" received
left=$(find "$L" -name "$n1.nncp.*")
[ -z "$left" ] || lab_fail "pieces left after the set was received: $left"
assert_received s1

# 2. hostile names
ts=$(date +%s)
base=bakfsfmt2-$ts.000000005.777_laptop@$LAP_FS
base=${base//\//@}
hostile=(
	"$base.nncp.chunk01"
	"$base.nncp.chunk-1"
	"$base.nncp.chunk100000"
	"$base.nncp.meta.0"
	"$base.nncp.chunk0.nncp.meta"
	"$base.nncp.Meta"
	"$base.nncp."
	"$base.nncp.chunk1"$'\n'
	"bakfsfmt2-$ts.000000006.777_other@tank.nncp.meta"
	"bakfsfmt2-$ts.000000007.777_laptop@..@x.nncp.chunk0"
	"bakfsfmt2-$ts.x.777_laptop@tank.nncp.chunk0"
)
for h in "${hostile[@]}"; do
	printf 'hostile piece\n' >"$L/$h"
done
# pieces of good names that are not regular files
lnk=bakfsfmt2-$ts.000000008.777_laptop@tank@l
ln -s /etc/passwd "$L/$lnk.nncp.chunk0"
mkfifo "$L/$lnk.nncp.meta"
mkdir "$L/bakfsfmt2-$ts.000000009.777_laptop@tank@d.nncp.meta"
# a set whose meta is garbage
junk=bakfsfmt2-$ts.000000010.777_laptop@tank@j
printf 'NNCPM\0\0\2 but nothing that adds up\n' >"$L/$junk.nncp.meta"
printf 'chunk\n' >"$L/$junk.nncp.chunk0"
chown -R "$NNCP_USER:" "$L"
before=$(cd "$L" && find . -mindepth 1 -printf '%p %y %s %T@\n' | sort)

lab_queue -i s1 s2
n2=$QN
rot_ingest A
assert_exit 0
assert_outcome "$n2" received
assert_received s2
after=$(cd "$L" && find . -mindepth 1 -printf '%p %y %s %T@\n' | sort)
assert_eq "$before" "$after" "the hostile pieces in incoming after the run"
assert_nothing_quarantined
if grep -q "nncp-reass" "$AGENT_LOG"; then
	lab_fail "nncp-reass ran on a hostile piece"
fi
n=$(grep -c "left alone" "$AGENT_LOG" || true)
[ "$n" -ge $((${#hostile[@]} + 4)) ] ||
    lab_fail "the run reported $n pieces left alone, want at least $((${#hostile[@]} + 4))"
grep -qF "$base.nncp.chunk1\\x0a: " "$AGENT_LOG" ||
    lab_fail "the name with a newline is not reported escaped"
report=$(lab_report_file)
if grep -q "\.nncp\." "$report"; then
	lab_fail "the report lists a hostile piece as a queue file: $(cat "$report")"
fi

"$AGENT" -c "$CONF" status >"$LAB/logs/status.log" 2>/dev/null ||
    lab_fail "airgap-agent status failed"
for h in "$base.nncp.chunk01" "$base.nncp.meta.0" "$lnk.nncp.chunk0"; do
	grep -qF "laptop/$h: left alone: " "$LAB/logs/status.log" ||
	    lab_fail "status does not report $h: $(cat "$LAB/logs/status.log")"
done
grep -qF "laptop/$junk: left alone: " "$LAB/logs/status.log" ||
    lab_fail "status does not report the set with a garbage meta: $(cat "$LAB/logs/status.log")"
"$AGENT" -c "$CONF" status --json >"$LAB/logs/status.json" 2>/dev/null ||
    lab_fail "airgap-agent status --json failed"
python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); assert len(d["chunked"]) >= 10' \
    "$LAB/logs/status.json" || lab_fail "status --json: $(cat "$LAB/logs/status.json")"
rot_export A

lab_pass
