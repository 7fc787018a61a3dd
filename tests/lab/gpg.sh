# shellcheck shell=bash disable=SC2034 # the variables are for the other parts and the scenarios
# tests/lab/gpg.sh, sourced by tests/functions.sh:
# gpg: backupsvr decrypts, laptop signs, other signs but is in no config.

lab_gpg() {
	kit_gpg "$@"
}

lab_gpg_fpr() {
	kit_gpg_fpr "$1"
}

lab_gpg_home() {
	LAB_GNUPGHOMES+=("$1")
	kit_gpg_key "$1" "$2" 2>>"$LAB/logs/gpg.log" ||
	    lab_die "gpg key generation in $1 failed (see $LAB/logs/gpg.log)"
}

# lab_gpg_copy FROM TO: import the public key of FROM's keyring into TO.
lab_gpg_copy() {
	kit_gpg_copy "$1" "$2" 2>>"$LAB/logs/gpg.log" ||
	    lab_die "copying a public key from $1 to $2 failed"
}

# lab_keys: make the three keyrings and exchange the public keys.
lab_keys() {
	mkdir -p "$LAB/g"
	G_BSVR=$LAB/g/bsvr
	G_LAP=$LAB/g/lap
	G_OTH=$LAB/g/oth
	lab_gpg_home "$G_BSVR" 'backupsvr <backupsvr@example.org>'
	lab_gpg_home "$G_LAP" 'laptop <laptop@example.org>'
	lab_gpg_home "$G_OTH" 'other <other@example.org>'
	BSVR_FPR=$(lab_gpg_fpr "$G_BSVR")
	LAP_FPR=$(lab_gpg_fpr "$G_LAP")
	OTH_FPR=$(lab_gpg_fpr "$G_OTH")
	if [ ${#BSVR_FPR} != 40 ] || [ ${#LAP_FPR} != 40 ] || [ ${#OTH_FPR} != 40 ]; then
		lab_die "could not read the key fingerprints"
	fi
	lab_gpg_copy "$G_LAP" "$G_BSVR"
	lab_gpg_copy "$G_OTH" "$G_BSVR"
	lab_gpg_copy "$G_BSVR" "$G_LAP"
	lab_gpg_copy "$G_BSVR" "$G_OTH"
}
