# shellcheck shell=bash disable=SC2034 # the variables are for the other parts and the scenarios
# tests/lab/backupsvr.sh, sourced by tests/functions.sh:
# the backup server: pool, config, queue files

# lab_backup_pool: create the receiving pool bak$$ (mountpoint none).
lab_backup_pool() {
	BAK_POOL=bak$$
	lab_pool "$BAK_POOL"
	STORE_ROOT=$BAK_POOL/simplesnap/laptop/$LAP_FS
}

# lab_config [HOSTSPEC...]: write $CONF for this lab.  Each HOSTSPEC is
# "NAME REQUIRE_SIGNATURE [FPR...]", e.g. "laptop false $LAP_FPR".  Without
# arguments the only host is laptop, signed by $LAP_FPR, signature required.
lab_config() {
	local zpool_bin zfs_bin spec name req fpr sep signers hosts=''

	zpool_bin=$(command -v zpool)
	zfs_bin=$(command -v zfs)
	[ $# -gt 0 ] || set -- "laptop true $LAP_FPR"
	for spec in "$@"; do
		# shellcheck disable=SC2086 # split the spec on purpose
		set -- $spec
		name=$1 req=$2
		shift 2
		signers='' sep=''
		for fpr in "$@"; do
			signers="$signers$sep\"$fpr\""
			sep=', '
		done
		[ -z "$hosts" ] || hosts="$hosts,"
		hosts="$hosts
    { name = \"$name\"; signers = [ $signers ]; require_signature = $req; }"
		mkdir -p "$INCOMING/$name"
	done

	mkdir -p "$STATE"
	chmod 0700 "$STATE"
	chown root:root "$STATE"
	cat >"$CONF" <<EOF
# airgap-agent.conf for the test lab $LAB (zfs-fuse)
state_dir = "$STATE";
zfs = {
  zpool = "$zpool_bin";
  zfs = "$zfs_bin";
  import_args = [ "-o", "cachefile=none" ];
  receive_args = [ "-u" ];
  create_args = [ "-o", "mountpoint=none" ];
};
ingest = {
  # the lab's pools are small: only a test of the free-space check sets it
  min_free_mb = 0;
  incoming = "$INCOMING";
  store = "simplesnap";
  gnupg_home = "$G_BSVR";
  hosts = ($hosts
  );
};
timeouts = { command = 60; stall = 60; };
EOF
}

# lab_setup [HOSTSPEC...]: the usual lab in one call: keys, laptop pool,
# backup pool, config.
lab_setup() {
	lab_init
	lab_keys
	lab_laptop
	lab_backup_pool
	lab_config "$@"
}

# lab_dest_name DEST: HOST/dataset/path -> HOST@dataset@path
lab_dest_name() {
	printf '%s\n' "${1//\//@}"
}

# lab_stream [-i FROM | -I FROM] [-s laptop|other|none] [-t SECONDS.NANOS]
#            [-d DEST] [-p PREFIX] [-n NAME] SNAP
# Make a queue file in $LAB/outbox from `zfs send [-i|-I FROM] $LAP_FS@SNAP`,
# the way simplesnap-queue does.  DEST defaults to laptop/$LAP_FS, the
# signer to laptop, the prefix to bakfsfmt2.  -n gives the whole file name.
# Sets QF (path) and QN (file name).
lab_stream() {
	local OPTIND opt incr='' from='' signer=laptop ts='' dest='' name=''
	local prefix=bakfsfmt2 send=()

	while getopts 'i:I:s:t:d:p:n:' opt; do
		case $opt in
		i | I) incr=-$opt from=$OPTARG ;;
		s) signer=$OPTARG ;;
		t) ts=$OPTARG ;;
		d) dest=$OPTARG ;;
		p) prefix=$OPTARG ;;
		n) name=$OPTARG ;;
		*) lab_die "lab_stream: bad option" ;;
		esac
	done
	shift $((OPTIND - 1))
	[ $# = 1 ] || lab_die "lab_stream: need one snapshot"

	[ -n "$ts" ] || ts=$(date +%s.%N)
	[ -n "$dest" ] || dest=laptop/$LAP_FS
	[ -n "$name" ] || name=$prefix-$ts.$$_$(lab_dest_name "$dest")
	send=(zfs send)
	[ -z "$incr" ] || send+=("$incr" "$LAP_FS@$from")
	send+=("$LAP_FS@$1")

	QN=$name
	QF=$LAB/outbox/$name
	"${send[@]}" 2>>"$LAB/logs/send.log" | lab_seal "$signer" >"$QF" ||
	    lab_die "making the stream ${send[*]} failed (see $LAB/logs/send.log)"
}

# lab_seal SIGNER: stdin (a zfs send stream) compressed and encrypted to
# backupsvr as the sender does, onto stdout; signed by SIGNER (laptop,
# other) or not (none).
lab_seal() {
	local home signer=

	case $1 in
	laptop) home=$G_LAP signer=$LAP_FPR ;;
	other) home=$G_OTH signer=$OTH_FPR ;;
	none) home=$G_LAP ;;
	*) lab_die "lab_seal: unknown signer $1" ;;
	esac
	zstd -8 - 2>>"$LAB/logs/send.log" |
	    kit_seal "$home" "$BSVR_FPR" ${signer:+"$signer"} 2>>"$LAB/logs/send.log"
}

# lab_queue_raw SIGNER RAW N [DEST]: the zfs send stream in the file RAW,
# sealed by SIGNER (lab_seal), into $INCOMING/laptop/ named by lab_qname N
# DEST.  Sets QF and QN.
lab_queue_raw() {
	QN=$(lab_qname "$3" "${4:-}")
	QF=$INCOMING/laptop/$QN
	mkdir -p "$INCOMING/laptop"
	lab_seal "$1" <"$2" >"$QF" || lab_die "sealing $2 failed"
}

# lab_qname N [DEST]: a queue file name for DEST (default laptop/$LAP_FS),
# the Nth of this second (N orders files made in the same second).
lab_qname() {
	local dest=${2:-}

	kit_qname "$(date +%s)" "$1" $$ \
	    "$(lab_dest_name "${dest:-laptop/$LAP_FS}")"
}

# lab_deliver [-h HOST] [PATH [NAME]]: move a file from the outbox into
# $INCOMING/HOST/ (default laptop, default PATH $QF), as NAME if given.
# Sets QF and QN to the delivered file.
lab_deliver() {
	local OPTIND opt host=laptop src name

	while getopts 'h:' opt; do
		case $opt in
		h) host=$OPTARG ;;
		*) lab_die "lab_deliver: bad option" ;;
		esac
	done
	shift $((OPTIND - 1))
	src=${1:-$QF}
	name=${2:-$(basename "$src")}
	mkdir -p "$INCOMING/$host"
	mv "$src" "$INCOMING/$host/$name"
	QF=$INCOMING/$host/$name
	# shellcheck disable=SC2034 # for the scenario scripts
	QN=$name
}

# lab_queue [lab_stream options] SNAP: lab_stream, then lab_deliver to laptop.
lab_queue() {
	lab_stream "$@"
	lab_deliver
}
