# shellcheck shell=bash disable=SC2034 # the variables are for the other parts and the scenarios
# tests/lab/messages.sh, sourced by tests/functions.sh:
# messages and failure

lab_log() {
	printf '%s: %s\n' "$TS_NAME" "$*"
}

# Show what the last agent run printed and the newest report, to explain a
# failure.
lab_show_last_run() {
	local report

	if [ -n "$AGENT_LOG" ] && [ -f "$AGENT_LOG" ]; then
		printf -- '--- output of the last airgap-agent run (%s, exit %s):\n' \
		    "$AGENT_LOG" "$AGENT_RC"
		tail -n 200 "$AGENT_LOG"
		printf -- '--- end of output\n'
	fi
	report=$(lab_report_file)
	if [ -n "$report" ]; then
		printf -- '--- newest report %s:\n' "$report"
		cat -A "$report" | tail -n 100
		printf -- '--- end of report\n'
	fi
	if [ -n "$LAB" ] && [ -d "$LAB/incoming" ]; then
		printf -- '--- files under %s and %s:\n' "$LAB/incoming" "$LAB/state"
		(cd "$LAB" && find incoming state -mindepth 1 2>/dev/null | sort) || true
		printf -- '--- end of list\n'
	fi
}

# lab_fail MESSAGE...: report a failed check and end the test.
lab_fail() {
	printf '%s: FAILED: %s\n' "$TS_NAME" "$*" >&2
	lab_show_last_run >&2
	exit 1
}

# lab_die MESSAGE...: the lab itself could not be set up.
lab_die() {
	printf '%s: lab setup error: %s\n' "$TS_NAME" "$*" >&2
	exit 1
}

lab_err_trap() {
	local rc=$1 line=$2 cmd=$3

	printf '%s: command failed (exit %s) at line %s: %s\n' \
	    "$TS_NAME" "$rc" "$line" "$cmd" >&2
}
