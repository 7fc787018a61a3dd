#!/bin/bash
#
# t08-private-checkout: the suite passes from a checkout that other users
# cannot enter, as root's home is on Debian (0700).  The scenarios that
# run the agent or a sender script as the unprivileged NNCP user (the exec
# handler, enqueue by hand, the spooler's fan-out) run here again from a
# copy of this checkout, program included, under a fresh 0700 folder.
# They must not reach into the checkout as that user.
set -o errexit -o nounset -o pipefail
TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
AGENT=${AIRGAP_AGENT:-$TOP/agent/airgap-agent}
fail() { printf 't08-private-checkout: FAILED: %s\n' "$*"; exit 1; }

home=$(mktemp -d /tmp/aga-home.XXXXXX)
trap 'rm -rf "$home"' EXIT
[ "$(stat -c %a "$home")" = 700 ] || fail "mktemp -d did not make a 0700 folder"
copy=$home/checkout
mkdir "$copy"
tar -C "$TOP" --exclude=./tests/logs --exclude=./build --exclude=./.git -cf - . |
    tar -C "$copy" -xf -
cp "$AGENT" "$copy/agent/airgap-agent.under-test"
if runuser -u nncp -- test -x "$copy/agent/airgap-agent.under-test" 2>/dev/null; then
	fail "the nncp user can reach $copy: the test proves nothing"
fi

rc=0
AIRGAP_AGENT=$copy/agent/airgap-agent.under-test TESTS_LOGDIR=$home/logs \
    "$copy/tests/run" t44 t45 t61 >"$home/run.log" 2>&1 || rc=$?
cat "$home/run.log"
for t in t44 t45 t61; do
	grep -q "^PASS $t-" "$home/run.log" || fail "$t did not pass from $copy"
done
[ "$rc" = 0 ] || fail "tests/run exited $rc"
echo "t08-private-checkout: t44, t45, t61 pass from a 0700 folder"
