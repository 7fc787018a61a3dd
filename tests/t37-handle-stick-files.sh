#!/bin/bash
#
# t37-handle-stick-files: what the agent opens on a stick it opens only as
# a regular file of its own, never blocking, and it mounts a stick only
# where symbolic links on it are not followed.
#  1. The report's name (airgap-agent-report.txt) taken by a FIFO, a
#     folder, and a hard link to another file: handle ends within 60 s (a FIFO
#     opened for writing used to block the root daemon for ever), the
#     stick's packets are imported, the thing in the report's place is
#     left as it was, the light says error (the report could not be
#     written), nothing stays mounted.
#  2. A kernel without nosymfollow (strace makes the first mount(2) fail
#     with EINVAL, as such a kernel does; the mount without the flag
#     works): the stick is refused, exit 1, error light, nothing mounted,
#     its packets not imported (NNCP would have followed its links).
#     Mounted normally afterwards: imported, safe.

# shellcheck source=functions.sh
. "$(dirname "$0")/functions.sh"
# shellcheck source=lib-faults.sh
. "$(dirname "$0")/lib-faults.sh"

command -v strace >/dev/null || lab_die "strace not found"
lab_appliance_setup
lf_timeouts 30 20 30 30 30
lab_write a.txt one
lab_snap s1
REPORT=airgap-agent-report.txt

# report_case WHAT SNAP MAKE: a stick with the packet of SNAP on which
# MAKE (a function, given the mounted stick) puts something in the
# report's place; handle it and check.
report_case() {
	local what=$1 snap=$2 make=$3 mnt dev before after n

	lab_nncp_queue "$snap"
	n=$QN
	lab_nncp_relay
	lab_nncp_stick "$LAB/$snap.img"
	mnt=$(lf_mount_image "$LAB/$snap.img")
	"$make" "$mnt"
	lf_umount_image "$mnt"
	before=$(lf_ro_look "$LAB/$snap.img" stat -c '%F %h %s' "$LAB/look/$REPORT")
	lf_reset_light
	lab_media_attach "$LAB/$snap.img"
	dev=$LAB_DEV
	lf_agent_bg handle "$dev"
	lf_agent_wait 60
	[ "$AGENT_RC" = 1 ] || lf_bug "$what: exit $AGENT_RC, expected 1 (the report could not be written)"
	assert_not_safe "$what"
	assert_nothing_mounted "$dev"
	[ -f "$INCOMING/laptop/$n" ] || lf_bug "$what: the packet on the stick was not imported"
	grep -q "$REPORT is not a regular file of its own\|write .*$REPORT" "$AGENT_LOG" ||
	    lf_bug "$what: the log does not say why the report was not written"
	lab_media_detach "$dev"
	after=$(lf_ro_look "$LAB/$snap.img" stat -c '%F %h %s' "$LAB/look/$REPORT")
	[ "$before" = "$after" ] || lf_bug "$what: the report's place changed: $before -> $after"
	lf_result "report name taken by $what: handle ended, exit $AGENT_RC, light $(lf_light), packet imported, left as it was ($after)"
}

make_fifo() { mkfifo "$1/$REPORT"; }
make_dir() { mkdir "$1/$REPORT"; }
make_link() {
	echo "another file on the stick" >"$1/notes.txt"
	ln "$1/notes.txt" "$1/$REPORT"
}

# --- 1. the report's place taken
report_case "a FIFO" s1 make_fifo
lab_write a.txt two
lab_snap s2
report_case "a folder" s2 make_dir
lab_write a.txt three
lab_snap s3
report_case "a hard link to another file" s3 make_link

# --- 2. no nosymfollow
lab_write a.txt four
lab_snap s4
lab_nncp_queue s4
n4=$QN
lab_nncp_relay
lab_nncp_stick "$LAB/s4.img"
lab_media_attach "$STICK_IMG"
stick=$LAB_DEV
lf_reset_light
LAB_RUNS=$((LAB_RUNS + 1))
AGENT_LOG=$LAB/logs/agent.$LAB_RUNS.log
AGENT_RC=0
strace -f --seccomp-bpf -qq -o "$LAB/logs/strace-mount.log" -e trace=mount \
    -e inject=mount:error=EINVAL:when=1 \
    env "$LAB_PTRACE_ASAN" "$AGENT" -c "$CONF" -v handle "$stick" >"$AGENT_LOG" 2>&1 </dev/null ||
    AGENT_RC=$?
lab_log "run $LAB_RUNS: strace (mount with nosymfollow fails) airgap-agent handle $stick -> exit $AGENT_RC"
grep -q 'MS_NOSYMFOLLOW.*INJECTED' "$LAB/logs/strace-mount.log" ||
    lab_die "strace did not fail the mount with nosymfollow (see $LAB/logs/strace-mount.log)"
[ "$AGENT_RC" = 1 ] || lf_bug "no nosymfollow: exit $AGENT_RC, expected 1"
assert_not_safe "no nosymfollow"
assert_led error
assert_nothing_mounted "$stick"
grep -q "nosymfollow" "$AGENT_LOG" || lf_bug "no nosymfollow: the log does not say so"
[ ! -e "$INCOMING/laptop/$n4" ] || lf_bug "no nosymfollow: the stick's packet was imported"
lf_result "a kernel without nosymfollow: stick refused, exit $AGENT_RC, light $(lf_light), nothing imported"

lf_reset_light
lab_agent handle "$stick"
assert_exit 0
assert_led safe
[ -f "$INCOMING/laptop/$n4" ] || lab_fail "the packet was not imported by the normal run"
lf_finish
