#!/bin/bash
#
# t26-ingest-gpg-local-fault: when gpg fails for backupsvr's own reasons,
# the genuine file stays queued (byte for byte), the run fails and says
# what to mend; once mended the file is received.  Only a fault of the
# file sets it aside.
#   1. backupsvr's secret key wants a passphrase (nobody is there to type it);
#   2. gpg-agent cannot be started;
#   3. the signer's key expired in backupsvr's keyring after it signed;
#   4. a listed signer's public key was never imported;
#   5. and, the file's fault: encrypted to a key that is not backupsvr's,
#      while backupsvr's own key works: quarantined.

# shellcheck source=functions.sh
. "$(dirname "$0")/functions.sh"

lab_init
lab_keys
lab_laptop
lab_backup_pool
# A second laptop key, made in 2020, that signs the files of part 3.
G_OLD=$LAB/g/old
LAB_GNUPGHOMES+=("$G_OLD")
mkdir -m 0700 "$G_OLD"
gpg --homedir "$G_OLD" --batch --no-tty --quiet --faked-system-time 20200101T000000 \
    --passphrase '' --quick-gen-key 'old laptop <old@example.org>' future-default default never \
    2>>"$LAB/logs/gpg.log" || lab_die "cannot make the 2020 key"
OLD_FPR=$(lab_gpg_fpr "$G_OLD")
lab_gpg_copy "$G_BSVR" "$G_OLD"
lab_gpg_copy "$G_OLD" "$G_BSVR"
lab_config "laptop true $LAP_FPR $OLD_FPR"

lab_snaps 5

# 1: a passphrase on backupsvr's key.
cp -a "$G_BSVR/private-keys-v1.d" "$LAB/keys-saved"
printf 'secret\n' | gpg --homedir "$G_BSVR" --batch --no-tty --quiet \
    --pinentry-mode loopback --passphrase-fd 0 --change-passphrase "$BSVR_FPR" ||
    lab_die "cannot set a passphrase"
gpgconf --homedir "$G_BSVR" --kill gpg-agent
lab_queue s1
cp "$QF" "$LAB/copy"
lab_ingest
assert_kept "$LAB/copy" "cannot decrypt even its own test message"
rm -rf "$G_BSVR/private-keys-v1.d"
cp -a "$LAB/keys-saved" "$G_BSVR/private-keys-v1.d"
gpgconf --homedir "$G_BSVR" --kill gpg-agent
lab_ingest_expect 0 received "$QN"
assert_received s1

# 2: no gpg-agent can start.
gpgconf --homedir "$G_BSVR" --kill gpg-agent
printf 'agent-program /bin/false\n' >>"$G_BSVR/gpg.conf"
lab_queue -i s1 s2
cp "$QF" "$LAB/copy"
lab_ingest
assert_kept "$LAB/copy" "cannot decrypt even its own test message"
sed -i '/^agent-program/d' "$G_BSVR/gpg.conf"
lab_ingest_expect 0 received "$QN"
assert_received s2

# 3: signed with the 2020 key while it was valid; then backupsvr learns
# that it expired at the end of 2021.
zfs send -i "$LAP_FS@s2" "$LAP_FS@s3" | zstd -q -8 |
    gpg --homedir "$G_OLD" --batch --no-tty --trust-model always --compress-algo none \
        -e -r "$BSVR_FPR" -s -u "$OLD_FPR" >"$LAB/s3.gpg" 2>>"$LAB/logs/gpg.log" ||
    lab_die "cannot sign s3 with the 2020 key"
gpg --homedir "$G_OLD" --batch --no-tty --quiet --faked-system-time 20210101T000000 \
    --quick-set-expire "$OLD_FPR" 1y 2>>"$LAB/logs/gpg.log" || lab_die "cannot expire the key"
lab_gpg_copy "$G_OLD" "$G_BSVR"
QN=$(lab_qname 3)
QF=$INCOMING/laptop/$QN
cp "$LAB/s3.gpg" "$QF"
cp "$QF" "$LAB/copy"
lab_ingest
assert_kept "$LAB/copy" "expired"
gpg --homedir "$G_OLD" --batch --no-tty --quiet --quick-set-expire "$OLD_FPR" never ||
    lab_die "cannot renew the key"
lab_gpg_copy "$G_OLD" "$G_BSVR"
lab_ingest_expect 0 received "$QN"
assert_received s3

# 4: the laptop's public key is gone from backupsvr's keyring.
gpg --homedir "$G_BSVR" --batch --no-tty --quiet --yes --delete-keys "$LAP_FPR" ||
    lab_die "cannot delete the laptop's key"
lab_queue -i s3 s4
cp "$QF" "$LAB/copy"
lab_ingest
assert_kept "$LAB/copy" "import it"
lab_gpg_copy "$G_LAP" "$G_BSVR"
lab_ingest_expect 0 received "$QN"
assert_received s4

# 5: encrypted to the other key, signed by the laptop.
QN=$(lab_qname 5)
zfs send -i "$LAP_FS@s4" "$LAP_FS@s5" | zstd -q -8 |
    gpg --homedir "$G_LAP" --batch --no-tty --trust-model always --compress-algo none \
        -e -r "$OTH_FPR" -s -u "$LAP_FPR" >"$INCOMING/laptop/$QN" 2>>"$LAB/logs/gpg.log" ||
    lab_die "cannot encrypt s5 to the other key"
lab_ingest_expect 1 quarantined "$QN"
assert_absent "$STORE_ROOT@s5"

lab_pass
