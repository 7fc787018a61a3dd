# shellcheck shell=bash disable=SC2034 # the variables are for the other parts and the scenarios
# tests/lab/laptop.sh, sourced by tests/functions.sh:
# the laptop: a source pool with a mounted dataset

# lab_laptop: create pool lap$$ with dataset lap$$/fs mounted on $LAB/lapfs.
lab_laptop() {
	LAP_POOL=lap$$
	LAP_FS=$LAP_POOL/fs
	LAP_MNT=$LAB/lapfs
	lab_pool "$LAP_POOL"
	zfs create -o mountpoint="$LAP_MNT" "$LAP_FS" ||
	    lab_die "zfs create $LAP_FS failed"
	if [ "$(zfs get -H -o value mounted "$LAP_FS")" != yes ]; then
		zfs mount "$LAP_FS" || lab_die "zfs mount $LAP_FS failed"
	fi
}

# lab_write PATH TEXT: write TEXT (and a newline) to PATH in the source fs.
lab_write() {
	mkdir -p "$(dirname "$LAP_MNT/$1")"
	printf '%s\n' "$2" >"$LAP_MNT/$1"
}

# lab_write_random PATH KIB: write KIB KiB of random bytes to PATH.
lab_write_random() {
	mkdir -p "$(dirname "$LAP_MNT/$1")"
	head -c "$(($2 * 1024))" /dev/urandom >"$LAP_MNT/$1"
}

# lab_remove PATH: delete PATH from the source fs.
lab_remove() {
	rm -rf "${LAP_MNT:?}/$1"
}

# lab_snap SNAP: snapshot the source dataset as $LAP_FS@SNAP and keep a copy
# of its tree in $LAB/src/SNAP for later comparison.
lab_snap() {
	local snap=$1

	sync
	zfs snapshot "$LAP_FS@$snap" || lab_die "zfs snapshot $LAP_FS@$snap failed"
	mkdir -p "$LAB/src/$snap"
	cp -a "$LAP_MNT/." "$LAB/src/$snap/"
}

# lab_snaps N: snapshots s1..sN of the source dataset, a.txt holding
# "one", "two", ... in each.
lab_snaps() {
	local words=(one two three four five six seven eight nine ten) i

	for ((i = 1; i <= $1; i++)); do
		lab_write a.txt "${words[i - 1]:-$i}"
		lab_snap "s$i"
	done
}

# lab_history N: snapshots s1..sN (N up to 4) of the source dataset whose
# streams carry more than one file: s1 a.txt ("one") and a random bin/r1
# (256 KiB); s2 a.txt changed, bin/r2 (64 KiB) and c/d.txt added; s3
# a.txt changed, bin/r1 removed, bin/r3 (512 KiB) added; s4 a.txt
# changed.
lab_history() {
	lab_write a.txt one
	lab_write_random bin/r1 256
	lab_snap s1
	[ "$1" -ge 2 ] || return 0
	lab_write a.txt two
	lab_write_random bin/r2 64
	lab_write c/d.txt deep
	lab_snap s2
	[ "$1" -ge 3 ] || return 0
	lab_write a.txt three
	lab_remove bin/r1
	lab_write_random bin/r3 512
	lab_snap s3
	[ "$1" -ge 4 ] || return 0
	lab_write a.txt four
	lab_snap s4
}

lab_guid() {
	zfs get -Hp -o value guid "$1" 2>/dev/null
}
