#!/bin/bash
#
# t39-hostile-text: labels and file names are text made by others.  A
# stick labelled N<tag>, a tab, an escape sequence, a newline and X (the
# raw ext4 label the agent reads; a media entry "N<tag>*" makes it a
# transport stick) and queue files whose names carry an escape sequence
# and a newline must not fake a field or a line of runs.log, of the
# report or of a state file, and must not reach the terminal raw:
#  - runs.log has one line per run, six fields each, the label escaped
#    (\x09\x1b[2J\x0aX);
#  - STATE/indicator and STATE/disks/GUID keep one key per line;
#  - the report has one line per file, five fields each;
#  - `status`, `status --json`, `verify` and the agent's own log hold no
#    control character but newlines, and no byte outside ASCII.

# shellcheck source=functions.sh
. "$(dirname "$0")/functions.sh"

lab_appliance_setup

# only_text FILE WHAT [tabs]: FILE holds printable ASCII and newlines
# only (and tabs, the field separators, with "tabs").
only_text() {
	local text

	text=$(if [ "${3:-}" = tabs ]; then tr -d '\t' <"$1"; else cat "$1"; fi)
	if printf '%s\n' "$text" | LC_ALL=C grep -q '[^[:print:]]'; then
		lab_fail "$2 holds a control character or a byte outside ASCII: $(printf '%s\n' "$text" | LC_ALL=C grep -n '[^[:print:]]' | head -n 3 | cat -A)"
	fi
}

# --- a stick whose label holds a tab, an escape sequence and a newline
awk -v add="  { label = \"N${LAB_TAG}*\"; role = \"transport\"; }," \
    '{ print } $0 == "media = (" { print add }' "$CONF" >"$CONF.new"
mv "$CONF.new" "$CONF"
label=N${LAB_TAG}$'\t\e[2J\nX'
shown="N${LAB_TAG}\\x09\\x1b[2J\\x0aX"
lab_stick_image -l "$label" "$LAB/stick.img"
lab_media_attach "$LAB/stick.img"
stick=$LAB_DEV
lab_agent handle "$stick"
assert_exit 0
lines=$(wc -l <"$STATE/runs.log")
assert_eq 1 "$lines" "lines in runs.log after one run"
awk -F'\t' 'NF != 6 { exit 1 }' "$STATE/runs.log" ||
    lab_fail "runs.log line has not six fields: $(cat -A "$STATE/runs.log")"
assert_eq "$shown" "$(cut -f 3 "$STATE/runs.log")" "label in runs.log"
assert_eq "state time message" "$(cut -d= -f1 "$STATE/indicator" | tr '\n' ' ' | sed 's/ $//')" \
    "keys of $STATE/indicator"
grep -qF "$shown" "$AGENT_LOG" ||
    lab_fail "the agent's log does not show the escaped label: $(cat -A "$AGENT_LOG" | head -n 5)"
only_text "$AGENT_LOG" "the agent's log"
only_text "$STATE/runs.log" runs.log tabs
only_text "$STATE/indicator" "$STATE/indicator"
lab_media_detach "$stick"

# --- queue files with an escape sequence and a newline in their names
lab_write a.txt one
lab_snap s1
lab_bakdisk
esc_name=bakfsfmt2-1700000000.000000001.1_laptop@$'\e[2J\e]0;pwned\a'
nl_name=bakfsfmt2-1700000000.000000002.1_laptop@x$'\nlaptop\treceived\t1\t0.1\tfake'
lab_stream s1
cp "$QF" "$INCOMING/laptop/$esc_name"
cp "$QF" "$INCOMING/laptop/$nl_name"
lab_deliver
good=$QN
lab_agent handle "$DISK_DEV"
assert_exit 1
assert_outcome "$good" received
assert_quarantined "$esc_name"
assert_quarantined "$nl_name"
report=$(lab_report_file)
assert_eq 3 "$(wc -l <"$report")" "lines in the report for three files"
awk -F'\t' 'NF != 5 { exit 1 }' "$report" ||
    lab_fail "a report line has not five fields: $(cat -A "$report")"
only_text "$report" "the report" tabs
for f in "$STATE/quarantine/laptop/"*.reason; do
	only_text "$f" "$f"
	assert_eq 2 "$(wc -l <"$f")" "lines of $f"
done
keys=$(cut -d= -f1 "$STATE/disks/$DISK_GUID" | tr '\n' ' ')
assert_eq "pool guid last_seen result received waiting problems message " "$keys" \
    "keys of the disk record"
assert_eq 2 "$(wc -l <"$STATE/runs.log")" "lines in runs.log after two runs"
only_text "$AGENT_LOG" "the agent's log"

"$AGENT" -c "$CONF" status >"$LAB/status.txt" 2>"$LAB/logs/status.log" ||
    lab_fail "status failed: $(cat "$LAB/logs/status.log")"
only_text "$LAB/status.txt" "the output of status"
grep -qF 'laptop@\x1b[2J\x1b]0;pwned\x07' "$LAB/status.txt" ||
    lab_fail "status does not show the escaped name: $(cat "$LAB/status.txt")"
grep -qF "$shown" "$LAB/status.txt" ||
    lab_fail "status does not show the escaped label: $(cat "$LAB/status.txt")"
lab_status_json
only_text "$LAB/status.json" "the output of status --json"

"$AGENT" -c "$CONF" verify "$STATE/quarantine/laptop/$esc_name" \
    >"$LAB/verify.txt" 2>&1 || true
only_text "$LAB/verify.txt" "the output of verify"
lab_pass
