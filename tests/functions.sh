# shellcheck shell=bash
#
# tests/functions.sh: shared setup, teardown and checks for the scenario
# tests.  Every tests/tNN-*.sh script sources this file, calls lab_init,
# builds what it needs with the lab_* helpers and checks the result with the
# assert_* helpers.  A failed assertion prints what it expected and what it
# found, shows the log of the last airgap-agent run and ends the script with
# exit status 1.  The EXIT trap installed by lab_init removes everything the
# script created (pools, mounts, loop devices, gpg-agents, the lab
# directory), also when the script fails or is interrupted.
#
# The lab uses real components only: zfs-fuse pools on files, throwaway gpg
# keyrings and zstd, with the queue files made exactly as the sender side
# (simplesnap-queue) makes them:
#   zfs send ... | zstd -8 - | gpg --compress-algo none --cipher-algo AES256 \
#       -e -r BACKUPSVR [-s -u SIGNER] > INCOMING/HOST/bakfsfmt2-S.N.PID_DEST
#
# Variables set by lab_init and the helpers:
#   TOP        repository root
#   AGENT      the program under test (${AIRGAP_AGENT:-$TOP/agent/airgap-agent})
#   TS_NAME    name of the running scenario
#   LAB        scratch directory (/tmp/aga.XXXXXX)
#   STATE      the agent's state_dir ($LAB/state)
#   INCOMING   the agent's incoming dir ($LAB/incoming)
#   CONF       the agent's config file ($LAB/airgap-agent.conf)
#   G_BSVR G_LAP G_OTH                 GNUPGHOMEs of backupsvr, laptop, other
#   BSVR_FPR LAP_FPR OTH_FPR           their primary key fingerprints
#   LAP_POOL LAP_FS LAP_MNT            source pool, dataset, mountpoint
#   BAK_POOL                           the backup pool (receiving side)
#   STORE_ROOT                         $BAK_POOL/simplesnap/laptop/$LAP_FS
#   QF QN                              path and name of the last queue file
#   AGENT_RC AGENT_LOG                 exit status and log of the last run
#   USER_AGENT  a copy of $AGENT that other users can run (lab_user_bin)

set -o errexit -o nounset -o pipefail -o errtrace
shopt -s nullglob

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
AGENT=${AIRGAP_AGENT:-$TOP/agent/airgap-agent}
TS_NAME=$(basename "$0" .sh)

LAB=
LAB_POOLS=()
LAB_LOOPS=()
LAB_GNUPGHOMES=()
LAB_ZFS_PID=
LAB_CLONES=0
LAB_RUNS=0
# Functions lab_cleanup calls first (before the pools) and last (after the
# loop devices), added by the appliance section at the end of this file.
LAB_CLEANUP_FIRST=()
LAB_CLEANUP_LAST=()
AGENT_RC=
AGENT_LOG=
QF=
QN=

# The lab, one file per concern (tests/lab/), in the order they build on
# each other; tests/lab/kit.sh holds the pieces scripts/demo and
# scripts/bench share with it.
# shellcheck source=lab/kit.sh
source "$TOP/tests/lab/kit.sh"
# shellcheck source=lab/messages.sh
source "$TOP/tests/lab/messages.sh"
# shellcheck source=lab/setup.sh
source "$TOP/tests/lab/setup.sh"
# shellcheck source=lab/gpg.sh
source "$TOP/tests/lab/gpg.sh"
# shellcheck source=lab/laptop.sh
source "$TOP/tests/lab/laptop.sh"
# shellcheck source=lab/backupsvr.sh
source "$TOP/tests/lab/backupsvr.sh"
# shellcheck source=lab/run.sh
source "$TOP/tests/lab/run.sh"
# shellcheck source=lab/assert.sh
source "$TOP/tests/lab/assert.sh"
# shellcheck source=lab/appliance.sh
source "$TOP/tests/lab/appliance.sh"
# shellcheck source=lab/udev.sh
source "$TOP/tests/lab/udev.sh"
# shellcheck source=lab/nncp.sh
source "$TOP/tests/lab/nncp.sh"
# shellcheck source=lab/disks.sh
source "$TOP/tests/lab/disks.sh"
# shellcheck source=lab/indicator.sh
source "$TOP/tests/lab/indicator.sh"
# shellcheck source=lab/status.sh
source "$TOP/tests/lab/status.sh"
# shellcheck source=lab/watch.sh
source "$TOP/tests/lab/watch.sh"
