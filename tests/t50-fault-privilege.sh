#!/bin/bash
#
# t50-fault-privilege: who runs what, and who may steer the agent.
#  1. A stick run with a backup disk plugged in and a rotation of two
#     disks (so that the ledger is written), one good stream and one
#     unsigned (quarantined), delivered through NNCP.  Every NNCP process
#     is sampled from /proc while the run goes on: each runs with the nncp
#     user's uid and gid (real, effective, saved, filesystem) and only its
#     group; what NNCP made belongs to nncp.
#  2. Everything the agent made in the state folder is for root only:
#     folders 0700, files without group or other bits (lock, indicator,
#     runs.log, reports, disk records, ledger, quarantine reasons); a
#     quarantined file sits in a 0700 folder.
#  3. A config others can write (0666, 0620) or that belongs to another
#     user, a state folder others can write (0777, 0770), that belongs to
#     another user, or that is a symbolic link: exit 2 for handle and
#     ingest, and nothing is done (the pool stays exported, runs.log and
#     the light do not change).

# shellcheck source=functions.sh
. "$(dirname "$0")/functions.sh"
# shellcheck source=lib-faults.sh
. "$(dirname "$0")/lib-faults.sh"

lab_appliance_setup
lf_conf "s/^  min_free_mb = 0;/  min_free_mb = 0;\\n  rotation = [ \"bakdisk${LAB_TAG}1\", \"bakdisk${LAB_TAG}9\" ];/"

lab_write a.txt one
lab_write_random r1 512
lab_snap s1
lab_write a.txt two
lab_snap s2
lab_nncp_queue s1
n1=$QN
lab_nncp_queue -s none -i s1 s2
n2=$QN
lab_nncp_relay
lab_nncp_stick "$LAB/stick.img"
lab_bakdisk
lab_media_attach "$STICK_IMG"
stick=$LAB_DEV

nncp_uid=$(id -u "$NNCP_USER")
nncp_gid=$(id -g "$NNCP_USER")
lf_sample_start "$LAB/logs/nncp-procs.txt" nncp- "$NNCP_BSVR_DIR/cfg.hjson"
lab_agent handle "$stick"
sleep 0.2
lf_sample_stop
assert_exit 1
# Received into this disk; kept queued for the other disk of the rotation.
assert_eq received "$(lab_outcome "$n1")" "outcome of $n1"
assert_queued "$n1"
assert_outcome "$n2" quarantined
assert_exported "$BAK_POOL"
assert_nothing_mounted "$stick"

# --- 1. NNCP ran as nncp, never as root
samples=$(grep -c ' cmd=' "$LAB/logs/nncp-procs.txt" || true)
tools=$(sed -n 's/.* cmd=[^ ]*\/\(nncp-[a-z]*\) .*/\1/p' "$LAB/logs/nncp-procs.txt" | sort -u | paste -sd, -)
lab_log "sampled $samples NNCP process states: $tools"
[ "$samples" -gt 0 ] || lab_fail "no NNCP process was seen during the run"
want="uid=$nncp_uid,$nncp_uid,$nncp_uid,$nncp_uid gid=$nncp_gid,$nncp_gid,$nncp_gid,$nncp_gid groups=$nncp_gid"
bad=$(grep ' cmd=' "$LAB/logs/nncp-procs.txt" | grep -v " $want cmd=" || true)
[ -z "$bad" ] || lf_bug "NNCP ran with other credentials than $want: $bad"
left=$(find "$NNCP_BSVR_DIR" "$INCOMING/laptop" ! -user "$NNCP_USER" | head -n 5)
[ -z "$left" ] || lf_bug "made by NNCP, yet not owned by $NNCP_USER: $left"

# --- 2. modes in the state folder
[ -s "$STATE/ledger" ] || lab_fail "no ledger was written (rotation)"
[ -n "$(find "$STATE/quarantine" -name '*.reason')" ] || lab_fail "nothing was quarantined"
for f in lock indicator runs.log ledger "disks/$DISK_GUID"; do
	[ -e "$STATE/$f" ] || lab_fail "$STATE/$f is missing"
done
bad=$(find "$STATE" -type d -perm /077 -printf '%m %p\n')
[ -z "$bad" ] || lf_bug "folders in the state folder others can enter: $bad"
bad=$(find "$STATE" -type f ! -path "$STATE/quarantine/*" -perm /077 -printf '%m %p\n')
bad=$bad$(find "$STATE/quarantine" -type f -name '*.reason' -perm /077 -printf '%m %p\n')
[ -z "$bad" ] || lf_bug "files in the state folder others can read or write: $bad"
qmode=$(find "$STATE/quarantine" -type f ! -name '*.reason' -printf '%m\n' | sort -u | paste -sd, -)
nfiles=$(find "$STATE" -type f | wc -l)
ndirs=$(find "$STATE" -type d | wc -l)

# --- 3. refused configurations and state folders
snapshot_state() {
	printf '%s %s %s\n' "$(wc -l <"$STATE/runs.log")" "$(lf_light)" "$(lab_led)"
}

# refuse WHAT: handle and ingest must exit 2 and change nothing.
refused=0
refuse() {
	local before

	before=$(snapshot_state)
	lab_agent handle "$DISK_DEV"
	[ "$AGENT_RC" = 2 ] || lf_bug "$1: handle exited $AGENT_RC, not 2"
	lab_agent ingest "$BAK_POOL"
	[ "$AGENT_RC" = 2 ] || lf_bug "$1: ingest exited $AGENT_RC, not 2"
	assert_exported "$BAK_POOL"
	[ "$(snapshot_state)" = "$before" ] ||
	    lf_bug "$1: runs.log or the light changed: $before -> $(snapshot_state)"
	refused=$((refused + 1))
}

chmod 0666 "$CONF"
refuse "config mode 0666"
chmod 0620 "$CONF"
refuse "config mode 0620"
chmod 0600 "$CONF"
chown "$NNCP_USER" "$CONF"
refuse "config owned by $NNCP_USER"
chown root "$CONF"

chmod 0777 "$STATE"
refuse "state folder mode 0777"
chmod 0770 "$STATE"
refuse "state folder mode 0770"
chmod 0700 "$STATE"
chown "$NNCP_USER" "$STATE"
refuse "state folder owned by $NNCP_USER"
chown root "$STATE"
mv "$STATE" "$STATE.real"
ln -s "$STATE.real" "$STATE"
refuse "state folder is a symbolic link"
rm "$STATE"
mv "$STATE.real" "$STATE"

# And with everything back in order, it works again.
lab_agent ingest "$BAK_POOL"
assert_exit 1
grep -q "is not imported" "$AGENT_LOG" || lab_fail "ingest did not run once the state folder was fixed"

lf_result "privilege: $samples NNCP process states sampled ($tools), all uid/gid $NNCP_USER ($nncp_uid/$nncp_gid) with no other group; $nfiles files and $ndirs folders in the state folder without group/other access (quarantined payload mode $qmode, in a 0700 folder); $refused unsafe configs/state folders refused with exit 2 by handle and ingest, nothing done; lost 0"
lf_finish
