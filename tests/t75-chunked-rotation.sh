#!/bin/bash
#
# t75-chunked-rotation: with ingest.rotation = [ A, B ], an NNCP chunked
# set (nncp-file -chunked 1024 through the spooler, three chunks and the
# meta) and a plain incremental on top of it.  Disk A: both are received,
# the set stays in incoming piece for piece (byte for byte), the report
# says it is kept for B and the ledger records that A has it, keyed by
# NAME.nncp.meta.  Disk A again: nothing is read (no nncp-reass).  Disk B:
# both are received, every piece leaves, the ledger is empty.  Both disks
# have both snapshots (guid and files).

# shellcheck source=functions.sh
. "$(dirname "$0")/functions.sh"
# shellcheck source=lib-rotation.sh
. "$(dirname "$0")/lib-rotation.sh"

rot_setup
rot_laptop_snaps 2 2600
guid1=$(lab_guid "$LAP_FS@s1")
rot_two_disks
L=$INCOMING/laptop

lab_nncp_queue_chunked 1024 s1
n1=$QN
lab_nncp_queue -i s1 s2
n2=$QN
rot_nncp_deliver
rot_nncp_toss
assert_eq 0 "$ROT_TOSS_RC" "exit status of nncp-toss"
pieces=$(cd "$L" && sha256sum "$n1".nncp.* | sort)
assert_eq 4 "$(printf '%s\n' "$pieces" | wc -l)" "pieces delivered (3 chunks and the meta)"
key=$(rot_key "$n1.nncp.meta")

rot_handle A
assert_exit 0
assert_led safe
assert_rot_outcome "$n1.nncp.meta" received stays "kept for $poolB"
assert_rot_outcome "$n2" received stays "kept for $poolB"
assert_eq "$pieces" "$(cd "$L" && sha256sum "$n1".nncp.* | sort)" \
    "the set's pieces after disk A"
assert_ledger_has "$key" "$poolA" "$guid1" "$poolA/simplesnap/laptop/$LAP_FS"
assert_ledger_lines 2
grep -q "nncp-reass" "$AGENT_LOG" || lab_fail "disk A's run did not use nncp-reass"

rot_handle A
assert_exit 0
assert_rot_outcome "$n1.nncp.meta" kept stays "kept for $poolB"
if grep -q "nncp-reass" "$AGENT_LOG"; then
	lab_fail "the set was read again for a disk that has it"
fi

rot_handle B
assert_exit 0
assert_led safe
assert_rot_outcome "$n1.nncp.meta" received leaves
assert_rot_outcome "$n2" received leaves
left=$(find "$L" -name "$n1.nncp.*")
[ -z "$left" ] || lab_fail "pieces left after every disk has the set: $left"
assert_ledger_lines 0

for x in A B; do
	rot_import "$x"
	assert_received s1
	assert_received s2
	rot_export "$x"
done

lab_pass
