#!/bin/bash
#
# t58-hostile-mountpoint-escape: how far `-R ALTROOT` contains a hostile
# backup disk on zfs-fuse, which has no `zpool import -N`.  The pool has
# a dataset mounted at /sl that holds a symbolic link "out" ->
# $LAB/outside, and a dataset whose mountpoint is /sl/out/evil3.  With the
# lab's import_args = [ "-R", ALTROOT ], every mount of the pool is
# recorded from /proc/self/mounts while `handle` runs; each must be below
# the altroot, and $LAB/outside must not change.
#
# On zfs-fuse this fails: the second dataset is mounted through the link,
# outside the altroot (the mount follows the symbolic link that the first
# dataset, a filesystem the attacker wrote, contains).  On OpenZFS the
# default import_args [ "-N" ] mount nothing at all.  The link points
# into $LAB only; the mount is removed at cleanup.  Not in `make check`
# (it shows a limit of the lab's ZFS, not of the agent); run it by hand:
#     bash tests/stress/t58-hostile-mountpoint-escape.sh

# shellcheck source=../functions.sh
. "$(dirname "$0")/../functions.sh"
# shellcheck source=../lib-faults.sh
. "$(dirname "$0")/../lib-faults.sh"

lab_appliance_setup
lf_timeouts 30 20 30 30 30
lf_altroot
LF_PATHS+=("$LAB/outside/evil3")
lab_write a.txt one
lab_snap s1

H=bakdisk${LAB_TAG}1
lf_hostile_pool "$H" # the escaping dataset is made unmounted
mkdir -p "$LAB/outside"
zfs create -o mountpoint=/sl "$H/sl"
[ -d "$LAB/mk/sl" ] || lab_die "$H/sl is not mounted on $LAB/mk/sl"
ln -s "$LAB/outside" "$LAB/mk/sl/out"
zfs create -o canmount=noauto -o mountpoint=/sl/out/evil3 "$H/e3"
zfs set canmount=on "$H/e3"
lab_pool_export "$H"
rmdir "$LAB/outside/evil3" 2>/dev/null || true
echo keep >"$LAB/outside/keep"
lab_udev_wait_pool "$hdev" "$H" "$hguid"
outside_before=$(lf_tree "$LAB/outside")

lab_queue s1
n1=$QN
lf_mounts_start "$LAB/logs/mounts.txt" "$H"
lab_agent handle "$hdev"
sleep 0.2
lf_sample_stop
assert_exit 0
assert_outcome "$n1" received
assert_exported "$H"
lf_mounts_outside "$H"
escaped=$LF_ESCAPED
[ "$outside_before" = "$(lf_tree "$LAB/outside")" ] ||
    escaped="$escaped; $LAB/outside changed: $(diff <(printf '%s\n' "$outside_before") <(lf_tree "$LAB/outside") | grep '^>' | head -n 3 | tr '\n' ' ' || true)"
[ -z "$escaped" ] || lf_bug "a hostile backup disk reached outside the altroot: $escaped"
rmdir "$LAB/outside/evil3" 2>/dev/null || true
lf_result "mountpoint escape: $LF_NMOUNTS datasets mounted with import_args -R ALTROOT, $LF_NOUTSIDE of them outside it (through a symbolic link inside another dataset)"
lf_finish
