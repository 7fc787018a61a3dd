# shellcheck shell=bash disable=SC2034 # the variables are for the other parts and the scenarios
# tests/lab/run.sh, sourced by tests/functions.sh:
# running the program

# What the program under strace runs with: the sanitizer build's leak
# check cannot work under ptrace and would end the run with exit 134.
# shellcheck disable=SC2034 # for the scenario scripts
LAB_PTRACE_ASAN=ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0

# lab_run_begin: the next run's log ($AGENT_LOG) and its start mark,
# which lab_show_last_run and the report lookups go by.
lab_run_begin() {
	[ -x "$AGENT" ] || lab_fail "program not found or not executable: $AGENT"
	LAB_RUNS=$((LAB_RUNS + 1))
	AGENT_LOG=$LAB/logs/agent.$LAB_RUNS.log
	touch "$LAB/logs/run.$LAB_RUNS.start"
	sleep 0.01
}

# lab_agent ARGS...: run `airgap-agent -c $CONF -v ARGS` in $LAB/run with
# stdout and stderr in a log of its own.  Sets AGENT_RC and AGENT_LOG; never
# fails by itself.
lab_agent() {
	lab_run_begin
	AGENT_RC=0
	(cd "$LAB/run" && exec "$AGENT" -c "$CONF" -v "$@") \
	    >"$AGENT_LOG" 2>&1 </dev/null || AGENT_RC=$?
	lab_log "run $LAB_RUNS: airgap-agent -c CONF -v $* -> exit $AGENT_RC"
}

# lab_ingest: run `airgap-agent ingest $BAK_POOL`.
lab_ingest() {
	lab_agent ingest "$BAK_POOL"
}

# lab_report_file: print the newest report (by mtime), if any.
lab_report_file() {
	[ -n "$LAB" ] && [ -d "$LAB/state/reports" ] || return 0
	find "$LAB/state/reports" -maxdepth 1 -type f -printf '%T@ %p\n' |
	    sort -n | tail -n 1 | cut -d' ' -f2-
}
