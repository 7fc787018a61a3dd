#!/bin/bash
#
# t59-hostile-stick: sticks written by an attacker.  Outside the stick sit
# victim files and folders in $LAB (a "secret" file, a folder holding a
# valid packet for backupsvr, folders for outbound packets, a file where
# the report would go); after every run their contents, sizes, times,
# owners and modes are unchanged and nothing new appeared there, no file
# named pwned* exists anywhere in the lab, and nothing is left mounted.
#  1. Links, devices, names: next to a valid packet, in the NNCP folder,
#     symbolic links with packet names to the secret file and to /dev/zero,
#     a hard link to a file elsewhere on the stick, a character device
#     (1,5: /dev/zero) and a block device (7,0) with packet names, names
#     with newline, escape and other control characters, executable
#     scripts named nncp-xfer, nncp-toss, zfs, sh and autorun.sh that would
#     create a marker file if run; the outbound folder for the spooler and
#     the laptop's folder are symbolic links to victim folders; the report
#     file is a symbolic link to a victim file.  The valid packet is
#     imported, the run does not end "safe" (NNCP reports what it could not
#     read), no control character reaches runs.log or the light.
#  2. The recipient folder itself (nncp/<BSVR_ID>) a symbolic link to a
#     victim folder that holds a valid packet: not imported, not deleted.
#  3. A FIFO with a packet name: nncp-xfer would wait for a writer for
#     ever.  The agent keeps it from the NNCP user: the run ends well
#     before timeouts.nncp (here 10 s), not "safe", and the valid packet
#     next to it is imported.
#  4. 105,000 empty files in the NNCP folder (the agent refuses more than
#     100,000 entries): refused, not "safe", and the stick left as it was
#     (owners of the NNCP folder and its entries unchanged).

# shellcheck source=functions.sh
. "$(dirname "$0")/functions.sh"
# shellcheck source=lib-faults.sh
. "$(dirname "$0")/lib-faults.sh"

lab_appliance_setup
lf_timeouts 30 20 10 30 30
IN_DIR=nncp/$BSVR_ID/$SPOOLER_ID

# Victims outside the stick.
V=$LAB/victim
mkdir -p "$V/outdir" "$V/lapdir" "$V/bsvrdir/$SPOOLER_ID"
echo "top secret" >"$V/secret"
echo "not a report" >"$V/report"
chmod 0600 "$V/secret"
touch -d '2001-02-03 04:05:06' "$V/secret" "$V/report"
victims_before=$(lf_tree "$V")

lab_snaps 3

runs=0 notes=''

# hostile WHAT IMG: handle the stick image; it must end, not "safe", and
# leave every victim as it was.
hostile() {
	local what=$1 img=$2 dev t0 t1 left

	lf_reset_light
	lab_media_attach "$img"
	dev=$LAB_DEV
	t0=$(date +%s)
	lf_agent_bg handle "$dev"
	lf_agent_wait 90
	t1=$(date +%s)
	runs=$((runs + 1))
	notes="$notes; $what: exit $AGENT_RC in $((t1 - t0)) s, light $(lf_light)"
	assert_not_safe "$what"
	assert_nothing_mounted "$dev"
	lab_media_detach "$dev"
	[ "$victims_before" = "$(lf_tree "$V")" ] ||
	    lf_bug "$what: something outside the stick changed: $(diff <(printf '%s\n' "$victims_before") <(lf_tree "$V") | grep '^[<>]' | head -n 4 | tr '\n' ' ' || true)"
	left=$(find "$LAB" -maxdepth 3 -name 'pwned*' 2>/dev/null | head -n 3)
	[ -z "$left" ] || lf_bug "$what: something on the stick was executed: $left"
	if LC_ALL=C grep -q '[[:cntrl:]]' <(tr -d '\n\t' <"$STATE/runs.log"; tr -d '\n\t' <"$STATE/indicator"); then
		lf_bug "$what: control characters reached runs.log or the light's state file"
	fi
	LAST_RUN_SECONDS=$((t1 - t0))
}

# --- 1. links, devices, names, scripts
lab_nncp_queue s1
n1=$QN
lab_nncp_relay
lab_nncp_stick "$LAB/s1.img"
mnt=$(lf_mount_image "$LAB/s1.img")
pk=$mnt/$IN_DIR
b32() { printf '%052d' 0 | tr 0 "$1"; }
ln -s "$V/secret" "$pk/$(b32 B)"
ln -s /dev/zero "$pk/$(b32 Z)"
echo "elsewhere on the stick" >"$mnt/elsewhere"
ln "$mnt/elsewhere" "$pk/$(b32 H)"
mknod "$pk/$(b32 C)" c 1 5
mknod "$pk/$(b32 D)" b 7 0
touch "$pk/$(printf 'ctl\nline')" "$pk/$(printf 'esc\033[31mred')" "$pk/$(printf 'bel\a\rcr')"
mkdir "$mnt/nncp/$(printf 'dir\nwith\033newline')"
for s in nncp-xfer nncp-toss zfs sh autorun.sh; do
	for d in "$mnt" "$mnt/nncp" "$pk"; do
		printf '#!/bin/sh\ntouch %s/pwned-%s\n' "$LAB" "$s" >"$d/$s"
		chmod 0755 "$d/$s"
	done
done
mkdir -p "$mnt/nncp/$SPOOLER_ID"
ln -s "$V/outdir" "$mnt/nncp/$SPOOLER_ID/$BSVR_ID"
ln -s "$V/lapdir" "$mnt/nncp/$LAP_ID"
ln -s "$V/report" "$mnt/airgap-agent-report.txt"
chown -R -h "$NNCP_FOREIGN_UID:$NNCP_FOREIGN_UID" "$mnt/nncp"
elsewhere_sum=$(sha256sum <"$mnt/elsewhere")
lf_umount_image "$mnt"
# Something to send back, so that nncp-xfer -tx has work for the
# symlinked folders.
echo "outbound" | lab_nncp backupsvr file -noprogress - "spooler:back.txt" 2>>"$LAB/logs/nncp.log"
hostile "1 (links, devices, control characters, scripts)" "$LAB/s1.img"
[ -f "$INCOMING/laptop/$n1" ] || lf_bug "1: the valid packet next to the hostile entries was not imported"
# shellcheck disable=SC2016 # expanded by the inner shell
lf_ro_look "$LAB/s1.img" sh -c '[ "$(sha256sum <"$1")" = "$2" ]' sh "$LAB/look/elsewhere" "$elsewhere_sum" ||
    lf_bug "1: the hard-linked file on the stick changed"
[ -n "$(find "$NNCP_BSVR_DIR/spool/$SPOOLER_ID/tx" -maxdepth 1 -type f)" ] ||
    lf_bug "1: the outbound packet left the spool, yet its folder on the stick is a symbolic link"

# --- 2. the recipient folder is a symbolic link
lab_nncp_queue -i s1 s2
n2=$QN
lab_nncp_relay
lab_nncp_stick "$LAB/s2.img"
mnt=$(lf_mount_image "$LAB/s2.img")
# The valid packet moves to the victim folder; the stick points there.
mv "$mnt/$IN_DIR/"* "$V/bsvrdir/$SPOOLER_ID/"
rm -r "${mnt:?}/nncp/$BSVR_ID"
ln -s "$V/bsvrdir" "$mnt/nncp/$BSVR_ID"
lf_umount_image "$mnt"
victims_before=$(lf_tree "$V")
hostile "2 (recipient folder is a link)" "$LAB/s2.img"
[ ! -e "$INCOMING/laptop/$n2" ] || lf_bug "2: the packet in the victim folder was imported through the link"

# --- 3. a FIFO with a packet name
lab_nncp_queue -i s2 s3
n3=$QN
lab_nncp_relay
lab_nncp_stick "$LAB/s3.img"
mnt=$(lf_mount_image "$LAB/s3.img")
mkfifo "$mnt/$IN_DIR/$(b32 F)"
chown -h "$NNCP_FOREIGN_UID:$NNCP_FOREIGN_UID" "$mnt/$IN_DIR/$(b32 F)"
lf_umount_image "$mnt"
hostile "3 (FIFO)" "$LAB/s3.img"
# NNCP never opens the FIFO: the run does not wait for timeouts.nncp.
[ "$LAST_RUN_SECONDS" -lt 10 ] || lf_bug "3: the run took $LAST_RUN_SECONDS s with timeouts.nncp = 10: something waited on the FIFO"
[ -e "$INCOMING/laptop/$n3" ] || lf_bug "3: the valid packet next to the FIFO was not imported"
grep -q "FIFO(s), socket(s) or device node(s)" "$AGENT_LOG" ||
    lf_bug "3: the agent did not say that the NNCP folder holds a FIFO"

# --- 4. too many entries
truncate -s 64M "$LAB/s4.img"
mkfs.ext4 -q -O ^has_journal -N 110000 -L "$STICK_LABEL" "$LAB/s4.img"
mnt=$(lf_mount_image "$LAB/s4.img")
mkdir -p "$mnt/nncp/flood"
(cd "$mnt/nncp/flood" && seq -f 'f%06.0f' 1 105000 | xargs touch)
chown -R "$NNCP_FOREIGN_UID:$NNCP_FOREIGN_UID" "$mnt/nncp"
lf_umount_image "$mnt"
hostile "4 (105000 entries)" "$LAB/s4.img"
grep -q "more than 100000 entries" "$AGENT_LOG" || lf_bug "4: the agent did not refuse the flood"
# shellcheck disable=SC2016 # expanded by the inner shell
moved=$(lf_ro_look "$LAB/s4.img" sh -c 'find "$1" ! -uid "$2" | wc -l' sh "$LAB/look/nncp" "$NNCP_FOREIGN_UID")
[ "$moved" = 0 ] ||
    lf_bug "4: the agent refused the NNCP folder ('not touching it'), yet gave $moved of its entries to $NNCP_USER and left them so"

lf_result "hostile sticks: $runs sticks (symlinks to a secret, /dev/zero and victim folders, a hard link, char and block devices, control characters, executable scripts; a symlinked recipient folder; a FIFO; 105000 files), never safe, nothing outside the stick read, written or executed, 3 valid packets, lost 0$notes"
lf_finish
