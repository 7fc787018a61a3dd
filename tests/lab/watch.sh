# shellcheck shell=bash disable=SC2034 # the variables are for the other parts and the scenarios
# tests/lab/watch.sh, sourced by tests/functions.sh:
# the watch daemon

# lab_watch_start: start `airgap-agent watch` in the background (its log is
# $LAB/logs/watch.log) and wait until it listens.
lab_watch_start() {
	[ -x "$AGENT" ] || lab_fail "program not found or not executable: $AGENT"
	AGENT_LOG=$LAB/logs/watch.log
	AGENT_RC=running
	(cd "$LAB/run" && exec "$AGENT" -c "$CONF" -v watch) \
	    >"$AGENT_LOG" 2>&1 </dev/null &
	LAB_WATCH_PID=$!
	# It says so once it has set the light, before it looks at the media
	# already plugged in (with one plugged, the idle light lasts no time).
	for _ in $(seq 1 600); do
		if grep -q 'watch: listening for block devices' "$AGENT_LOG"; then
			lab_log "watch daemon runs (pid $LAB_WATCH_PID)"
			return 0
		fi
		kill -0 "$LAB_WATCH_PID" 2>/dev/null ||
		    lab_fail "the watch daemon exited at start"
		sleep 0.1
	done
	lab_fail "the watch daemon did not listen within 60 s"
}

# lab_watch_stop: SIGTERM to the daemon; its handle child, if any, is
# waited for, and killed when it does not end.
lab_watch_stop() {
	local pid=$LAB_WATCH_PID kids k

	[ -n "$pid" ] || return 0
	LAB_WATCH_PID=
	kids=$(pgrep -P "$pid" || true)
	kill -TERM "$pid" 2>/dev/null || true
	for _ in $(seq 1 100); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	for k in $kids; do
		for _ in $(seq 1 300); do
			kill -0 "$k" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$k" 2>/dev/null || true
	done
	return 0
}

# lab_watch_term: a clean stop: SIGTERM to the daemon of lab_watch_start;
# it must exit 0 within 10 s (lab_watch_stop, for the cleanup, only makes
# sure it is gone).
lab_watch_term() {
	local pid=$LAB_WATCH_PID rc=0

	[ -n "$pid" ] || return 0
	kill -TERM "$pid" 2>/dev/null || true
	for _ in $(seq 1 100); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		lab_fail "the watch daemon did not stop within 10 s of SIGTERM"
	fi
	wait "$pid" || rc=$?
	LAB_WATCH_PID=
	assert_eq 0 "$rc" "exit status of the watch daemon after SIGTERM"
}

# lab_watch_wait LABEL COUNT [SECONDS]: wait (default 60 s) until runs.log
# has COUNT runs for LABEL and the daemon has no handle child running (so
# the light and the beeps are done).
lab_watch_wait() {
	local label=$1 count=$2 limit=${3:-60} n

	for _ in $(seq 1 $((limit * 5))); do
		kill -0 "$LAB_WATCH_PID" 2>/dev/null ||
		    lab_fail "the watch daemon is gone"
		n=$(lab_runs "$label" | wc -l)
		if [ "$n" -ge "$count" ] && ! pgrep -P "$LAB_WATCH_PID" >/dev/null; then
			return 0
		fi
		sleep 0.2
	done
	lab_fail "after $limit s, runs.log has $n run(s) for $label, expected $count"
}

# lab_watch_flush: wait until the daemon has taken every event udev has
# sent so far, and no handle child runs.  Once udev has settled (every
# event so far processed and sent), a medium that is not ours is plugged
# in: the daemon reads events in order, so when its run for that medium
# is logged, it has seen everything before.  The low "not mine" tone it
# beeps is taken off the beeper file again.
lab_watch_flush() {
	local img=$LAB/flush.img dev size n0

	[ -f "$img" ] || lab_stick_image -l "FLUSH${LAB_TAG}" "$img"
	lab_settle
	size=$(stat -L -c %s "$BEEPER")
	n0=$(grep -c ": handle exited with 3$" "$LAB/logs/watch.log" || true)
	lab_media_attach "$img"
	dev=$LAB_DEV
	for _ in $(seq 1 600); do
		[ "$(grep -c "watch: $dev: handle exited with 3$" "$LAB/logs/watch.log")" -gt 0 ] &&
		    [ "$(grep -c ": handle exited with 3$" "$LAB/logs/watch.log")" -gt "$n0" ] &&
		    break
		sleep 0.2
	done
	[ "$(grep -c ": handle exited with 3$" "$LAB/logs/watch.log")" -gt "$n0" ] ||
	    lab_fail "the watch daemon did not get to the marker medium $dev within 120 s"
	lab_media_detach "$dev"
	truncate -s "$size" "$BEEPER"
	for _ in $(seq 1 600); do
		pgrep -P "$LAB_WATCH_PID" >/dev/null || return 0
		sleep 0.2
	done
	lab_fail "the watch daemon's handle child does not end"
}
