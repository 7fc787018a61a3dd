# shellcheck shell=bash
#
# tests/lib-retention.sh: a laptop dataset whose snapshots span two years,
# and the schedule's answer computed here, apart from the agent.
#
# zfs-fuse stamps a snapshot with its own clock, and a received snapshot
# takes the creation time its stream's begin record carries (the
# sender's).  So the snapshots are made now and their streams get the
# creation times the scenario needs (zcraft.py set-creation) before they
# are sealed: what lands on the backup pool is what a laptop that had
# been snapshotting for two years would have sent.
#
# Ages are whole hours plus half an hour: no snapshot is within half an
# hour of a rule's reach (7 days, 30 days, 365.25 days are whole hours),
# so the agent's clock a few minutes after RET_NOW gives the same answer.
#
# Variables: RET_NOW (the reference time), RET_NAMES (snapshot names,
# oldest first), RET_TIMES (their creation times), RET_SCHED.

RET_NAMES=()
RET_TIMES=()

# ret_ages N: the ages in hours of N snapshots, newest first: hourly for
# two days, every seven hours for a month, then evenly over two years.
ret_ages() {
	python3 - "$1" <<'PY'
import sys
n = int(sys.argv[1])
ages, a = [], 0
for k in range(n):
    ages.append(a)
    a += 1 if k < 48 else 7 if k < 48 + 100 else max(1, (17520 - 750) // (n - 148))
print(' '.join(str(x) for x in ages))
PY
}

# ret_history N [FOREIGN_AT]: N snapshots auto-0001..auto-N of $LAP_FS
# (oldest first), one of them (index FOREIGN_AT) named manual-keep
# instead; sets RET_NOW, RET_NAMES and RET_TIMES.
ret_history() {
	local n=$1 foreign=${2:-0} i name ages

	RET_NOW=$(date +%s)
	read -r -a ages <<<"$(ret_ages "$n")"
	for ((i = 1; i <= n; i++)); do
		name=$(printf 'auto-%04d' "$i")
		[ "$i" != "$foreign" ] || name=manual-keep
		zfs snapshot "$LAP_FS@$name" || lab_die "zfs snapshot $name failed"
		RET_NAMES+=("$name")
		RET_TIMES+=($((RET_NOW - ages[n - i] * 3600 - 1800)))
	done
}

# ret_seal_range FIRST LAST N: queue `zfs send -I FIRST LAST` (or a full
# stream of LAST when FIRST is "-") with the creation times of its
# snapshots, as the Nth file of this second.
ret_seal_range() {
	local first=$1 last=$2 i lo=-1 hi=-1 raw=$LAB/ret.raw times=()

	for i in "${!RET_NAMES[@]}"; do
		[ "${RET_NAMES[i]}" != "$first" ] || lo=$i
		[ "${RET_NAMES[i]}" != "$last" ] || hi=$i
	done
	if [ "$first" = - ]; then
		zfs send "$LAP_FS@$last" >"$raw" || lab_die "zfs send failed"
		lo=$((hi - 1))
	else
		zfs send -I "@$first" "$LAP_FS@$last" >"$raw" || lab_die "zfs send failed"
	fi
	for ((i = lo + 1; i <= hi; i++)); do
		times+=("${RET_TIMES[i]}")
	done
	python3 "$TOP/tests/tools/zcraft.py" set-creation "$raw" "$raw.t" "${times[@]}" ||
	    lab_die "zcraft set-creation failed"
	lab_queue_raw laptop "$raw.t" "$3"
}

# ret_received N [FOREIGN_AT]: ret_history N [FOREIGN_AT], its streams
# queued as two files (the oldest snapshot in full, then the rest as one
# -I stream) and received by one ingest, which exits 0 with all N
# snapshots on the pool.
ret_received() {
	local n=$1 first last

	ret_history "$@"
	first=${RET_NAMES[0]}
	last=${RET_NAMES[n - 1]}
	ret_seal_range - "$first" 1
	ret_seal_range "$first" "$last" 2
	lab_ingest
	assert_exit 0
	assert_eq "$n" "$(ret_on_pool | wc -l)" "snapshots received"
}

# ret_expected SCHEDULE PROTECTED...: the names the schedule keeps at
# RET_NOW among the auto-* snapshots received, with the newest and each
# PROTECTED name added, and every other name; one a line, sorted.
# Written from zfs-autobackup's description, not from the agent's code.
ret_expected() {
	local sched=$1

	shift
	printf '%s\n' "${RET_NAMES[@]}" >"$LAB/ret.names"
	printf '%s\n' "${RET_TIMES[@]}" >"$LAB/ret.times"
	python3 - "$sched" "$RET_NOW" "$LAB/ret.names" "$LAB/ret.times" "$@" <<'PY'
import sys
unit = {'s': 1, 'min': 60, 'h': 3600, 'd': 86400, 'w': 604800,
        'm': 2592000, 'y': 31557600}
def dur(s):
    for u in sorted(unit, key=len, reverse=True):
        if s.endswith(u):
            return int(s[:-len(u)]) * unit[u]
    raise SystemExit('bad duration ' + s)
def rule(term):
    import re
    m = re.fullmatch(r'(\d+[a-z]+?)(\d+[a-z]+|forever)', term)
    p = m.group(1)
    for u in sorted(unit, key=len, reverse=True):
        if p.endswith(u) and p[:-len(u)].isdigit():
            break
    t = m.group(2)
    return dur(p), (10**18 if t == 'forever' else dur(t))
sched, now = sys.argv[1], int(sys.argv[2])
names = open(sys.argv[3]).read().split()
times = [int(x) for x in open(sys.argv[4]).read().split()]
protected = set(sys.argv[5:])
count, rules = 0, []
for term in sched.split(','):
    if term.isdigit():
        count = int(term)
    else:
        rules.append(rule(term))
ours = sorted((t, n) for n, t in zip(names, times) if n.startswith('auto-'))
keep = set(n for n in names if not n.startswith('auto-'))
keep.add(names[-1])
keep |= protected
keep |= set(n for _, n in ours[len(ours) - count:]) if count else set()
for period, ttl in rules:
    seen = set()
    for t, n in ours:
        if now - t <= ttl and t // period not in seen:
            seen.add(t // period)
            keep.add(n)
print('\n'.join(sorted(keep)))
PY
}

# ret_on_pool: the snapshot names under $STORE_ROOT, sorted.
ret_on_pool() {
	zfs list -H -o name -t snapshot -r "$STORE_ROOT" | sed 's/.*@//' | sort
}

# ret_held: the snapshot names under $STORE_ROOT with holds, sorted.
ret_held() {
	zfs get -H -o name,value userrefs -r "$STORE_ROOT" |
	    awk -F'\t' '$1 ~ /@/ && $2 != "0" { sub(/.*@/, "", $1); print $1 }' | sort
}

# ret_conf SCHEDULE [ROTATION...]: retention with SCHEDULE and the auto-*
# pattern; the pools to rotate over, if given.
ret_conf() {
	local sched=$1 rot='' p

	shift
	for p in "$@"; do
		rot="$rot${rot:+, }\"$p\""
	done
	[ -z "$rot" ] || sed -i "s|^  min_free_mb = 0;|&\n  rotation = [ $rot ];|" "$CONF"
	printf 'retention = { schedule = "%s"; patterns = [ "auto-*" ]; };\n' \
	    "$sched" >>"$CONF"
}
