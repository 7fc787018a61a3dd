# shellcheck shell=bash
#
# tests/lib-demo.sh: helpers for the tests that run scripts/demo (t62,
# t63).  Source it after functions.sh and lab_init.  The demo is run with
# TMPDIR=$DEMO_TMP, so its folder is $DEMO_TMP/agdemo.XXXXXX, and
# everything it may leave behind can be found by that path or by the tag
# it prints ("names tagged dNNNN"), which every pool and medium label of
# the run carries.
#
#   DEMO_TMP   the TMPDIR the demo runs with ($LAB/tmp)
#   DEMO_OUT   its standard output, DEMO_ERR its standard error

# shellcheck disable=SC2034 # for the tests that source this file
DEMO=$TOP/scripts/demo DEMO_ERR=$LAB/demo.err
DEMO_TMP=$LAB/tmp
DEMO_OUT=$LAB/demo.out
mkdir -p "$DEMO_TMP"
# The demo's NNCP user must pass through to the demo's folder.
chmod 0711 "$LAB" "$DEMO_TMP"

# demo_tag: the tag the demo printed.
demo_tag() {
	sed -n 's/.*names tagged \(d[0-9][0-9]*\)$/\1/p' "$DEMO_OUT" | head -n 1
}

# demo_started_pids: the pids of the daemons the demo said it started
# (zfs-fuse, systemd-udevd), if any.
demo_started_pids() {
	grep -o '(pid [0-9][0-9]*)' "$DEMO_OUT" | tr -dc '0-9\n' || true
}

# demo_leftovers: print whatever the demo left behind: files in DEMO_TMP,
# loop devices on its files, mounts, pools (imported, or in a pool cache)
# and medium labels with its tag, processes that name its folder, daemons
# it started.
demo_leftovers() {
	local tag pid f out=''

	tag=$(demo_tag)
	out=$out$(find "$DEMO_TMP" -mindepth 1 -maxdepth 1 | sed 's/^/file: /')
	out=$out$(losetup -n -l -O NAME,BACK-FILE 2>/dev/null |
	    awk -v d="$DEMO_TMP/" 'index($2, d) == 1 { print "loop device: " $0 }')
	out=$out$(awk -v d="$DEMO_TMP/" 'index($2, d) == 1 { print "mount: " $2 }' \
	    /proc/self/mounts)
	if [ -n "$tag" ]; then
		out=$out$(zpool list -H -o name 2>/dev/null | grep -- "-$tag\$" |
		    sed 's/^/pool: /' || true)
		for f in "${LAB_POOL_CACHES[@]}"; do
			[ -f "$f" ] || continue
			out=$out$(strings -n 3 "$f" | grep -- "-$tag\$" |
			    sed "s|^|in the pool cache $f: |" || true)
		done
		out=$out$(find /dev/disk/by-label -name "*$tag*" 2>/dev/null |
		    sed 's/^/label: /')
	fi
	out=$out$(pgrep -a -f "$DEMO_TMP/" | sed 's/^/process: /' || true)
	for pid in $(demo_started_pids); do
		if kill -0 "$pid" 2>/dev/null; then
			out="$out
daemon the demo started: $(ps -o pid=,args= -p "$pid")"
		fi
	done
	printf '%s' "$out"
}

# assert_demo_clean: nothing is left behind.
assert_demo_clean() {
	local left

	# zfs-fuse and udev may take a moment to forget a pool or a label.
	for _ in $(seq 1 20); do
		left=$(demo_leftovers)
		[ -n "$left" ] || return 0
		sleep 0.5
	done
	lab_fail "the demo left behind:
$left"
}
