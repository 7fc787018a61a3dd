#!/bin/bash
# The manuals describe what the code does: every configuration key the
# loader knows appears in airgap-agent.conf(5) and in the example
# configuration, every command in airgap-agent(8), and both pages
# format without warnings.
set -o errexit -o nounset -o pipefail
TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
fail() { printf 't06-docs: FAILED: %s\n' "$*"; exit 1; }

# The key tables of agent/config.c: static const char *const X_keys[] = { ... };
keys=$(awk '/_keys\[\] = \{/,/\};/' "$TOP/agent/config.c" | grep -o '"[a-z_]*"' | tr -d '"' | sort -u)
[ "$(printf '%s\n' "$keys" | wc -l)" -gt 30 ] || fail "could not read the key tables ($keys)"
for k in $keys; do
	grep -Eq "^\.(B|SH) \"?$k\"?( |$)" "$TOP/docs/airgap-agent.conf.5" ||
	    fail "config key '$k' is not described in docs/airgap-agent.conf.5"
	grep -Eq "(^|[^a-z_])$k([^a-z_]|$)" "$TOP/config/airgap-agent.conf" ||
	    fail "config key '$k' is missing from config/airgap-agent.conf"
done

# Every command main.c dispatches on.
cmds=$(grep -o 'strcmp(cmd, "[a-z]*")' "$TOP/agent/main.c" | grep -o '"[a-z]*"' | tr -d '"' | sort -u)
[ -n "$cmds" ] || fail "could not read the commands from agent/main.c"
for c in $cmds help; do
	grep -Eq "^\.(B|BI|BR) $c( |$)" "$TOP/docs/airgap-agent.8" ||
	    fail "command '$c' is not described in docs/airgap-agent.8"
done

# Every setting the sender scripts read, in their manual pages.
nvars=0
for script in airgap-queue airgap-fanout airgap-reap airgap-receipt; do
	vars=$(grep -oE '[{]AIRGAP_[A-Z_]+' "$TOP/scripts/$script" | tr -d '{' | sort -u)
	[ -n "$vars" ] || fail "could not read the settings of scripts/$script"
	for v in $vars; do
		grep -Eq "^\.B $v( |$)" "$TOP/docs/$script.1" ||
		    fail "setting $v of scripts/$script is not described in docs/$script.1"
		nvars=$((nvars + 1))
	done
done

# Every manual page formats without warnings, is listed in README.md and
# installed by make install and the Debian packages.
pages=$(find "$TOP/docs" -maxdepth 1 -name '*.[1-8]' -printf '%f\n' | sort)
[ "$(printf '%s\n' "$pages" | wc -l)" -ge 4 ] || fail "manual pages: $pages"
for page in $pages; do
	out=$(MANWIDTH=80 man --warnings -l "$TOP/docs/$page" 2>&1 >/dev/null) ||
	    fail "$page does not format"
	[ -z "$out" ] || fail "$page: $out"
	grep -q "(docs/$page)" "$TOP/README.md" || fail "README.md does not list docs/$page"
	grep -q "docs/$page" "$TOP/Makefile" || fail "make install does not install docs/$page"
	grep -q "^usr/share/man/man${page##*.}/$page\$" "$TOP"/debian/*.install ||
	    fail "no Debian package installs $page"
done
echo "t06-docs: $(printf '%s\n' "$keys" | wc -l) keys, $(printf '%s\n' "$cmds" | wc -l) commands," \
    "$nvars sender settings, $(printf '%s\n' "$pages" | wc -l) manual pages documented"
