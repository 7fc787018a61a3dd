# shellcheck shell=bash
# tests/lab/kit.sh: the pieces of the lab that the scenario tests
# (tests/functions.sh), the demo (scripts/demo) and the benchmark
# (scripts/bench) share: gpg keyrings, zfs-fuse, pools on image files,
# and queue files sealed exactly as the sender's queue script seals
# them.  Nothing here knows a scenario's variables: each function takes
# what it needs and returns 1 with a message on stderr when it fails,
# so that each caller dies in its own way.

# kit_gpg HOME ARGS...: gpg on the keyring HOME, quietly and never asking.
kit_gpg() {
	local home=$1

	shift
	gpg --homedir "$home" --batch --no-tty --quiet "$@"
}

# kit_gpg_fpr HOME: the fingerprint of the first key in HOME.
kit_gpg_fpr() {
	kit_gpg "$1" --with-colons --list-keys |
	    awk -F: '$1 == "fpr" { print $10; exit }'
}

# kit_gpg_key HOME UID [ed|rsa]: a new keyring HOME (mode 0700) with a
# passphrase-less key for UID: ed25519/cv25519 (gpg's future-default), or
# RSA 3072 with an encryption subkey.  gpg's chatter goes to stderr.
kit_gpg_key() {
	local home=$1 uid=$2 algo=${3:-ed}

	mkdir -p "$home" && chmod 0700 "$home" || return 1
	case $algo in
	ed)
		kit_gpg "$home" --passphrase '' --quick-gen-key "$uid" \
		    future-default default never
		;;
	rsa)
		kit_gpg "$home" --passphrase '' --quick-gen-key "$uid" rsa3072 \
		    cert,sign never &&
		    kit_gpg "$home" --passphrase '' --quick-add-key \
		    "$(kit_gpg_fpr "$home")" rsa3072 encr never
		;;
	*)
		echo "kit_gpg_key: unknown algorithm $algo" >&2
		return 1
		;;
	esac
}

# kit_gpg_copy FROM TO: FROM's public keys into the keyring TO.
kit_gpg_copy() {
	kit_gpg "$1" --export | kit_gpg "$2" --import
}

# kit_seal HOME RECIPIENT [SIGNER]: encrypts (and signs) stdin to stdout
# with the options of the articles' pipeline:
#   zfs send ... | zstd -8 | gpg --compress-algo none --cipher-algo AES256 -e -r R [-s -u S]
kit_seal() {
	local home=$1 rcpt=$2 kit_sign=()

	[ $# -lt 3 ] || kit_sign=(-s -u "$3")
	gpg --homedir "$home" --batch --no-tty --quiet --trust-model always \
	    --compress-algo none --cipher-algo AES256 -e -r "$rcpt" "${kit_sign[@]}"
}

# kit_qname SECONDS SEQ PID DEST: a queue file name as the sender's
# queue script makes it; DEST is HOST@DATASET@… already escaped.
kit_qname() {
	printf 'bakfsfmt2-%s.%09d.%s_%s\n' "$1" "$2" "$3" "$4"
}

# kit_zfs_start PIDFILE: start zfs-fuse unless `zpool list` already
# works, and wait until it does.  Prints zfs-fuse's pid when it started it.
kit_zfs_start() {
	local pidfile=$1 pid=

	if zpool list >/dev/null 2>&1; then
		return 0
	fi
	command -v zfs-fuse >/dev/null || {
		echo "zfs-fuse not found" >&2
		return 1
	}
	zfs-fuse -p "$pidfile" || {
		echo "zfs-fuse did not start" >&2
		return 1
	}
	for _ in $(seq 1 100); do
		if [ -z "$pid" ] && [ -s "$pidfile" ]; then
			pid=$(cat "$pidfile")
		fi
		if zpool list >/dev/null 2>&1; then
			echo "${pid:-?}"
			return 0
		fi
		sleep 0.1
	done
	echo "zfs-fuse started but zpool list still fails" >&2
	return 1
}

# kit_pool NAME IMG MIB: a pool NAME on a new image file IMG of MIB MiB,
# kept out of ZFS's pool cache (so that the next start of zfs-fuse does
# not import it again, faulted once IMG is gone), mounting nothing.
kit_pool() {
	truncate -s "$3M" "$2" &&
	    zpool create -o cachefile=none -m none "$1" "$2"
}

# kit_stop_pid PID TENTHS: SIGTERM to PID, then wait up to TENTHS tenths
# of a second for it to be gone; 1 if it is still there.
kit_stop_pid() {
	kill "$1" 2>/dev/null || return 0
	for _ in $(seq 1 "$2"); do
		kill -0 "$1" 2>/dev/null || return 0
		sleep 0.1
	done
	return 1
}
