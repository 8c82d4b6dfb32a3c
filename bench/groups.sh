#!/usr/bin/env bash
# groups.sh: committed-offset benchmarks (docs/benchmarks.md). Builds zcq and
# bench/commit_bench (release), starts a broker on a free port with its data under build/, and
# measures:
#
#   commit   NGROUPS groups (default 200) committing every partition of an 8-partition topic
#            as fast as THREADS connections (8) allow, one commit in flight each, for ROUND_SECONDS
#            (5) a round: commits/s and latency p50/p99/p99.9, with
#            offsets.commit.required.acks=-1 (every commit on disk before its answer) against
#            the reference, commit_bench fsync: the same number of threads each appending 256
#            bytes and fdatasync()ing, in alternating rounds. Then once with acks=1.
#   restart  the broker's start-up time (from its "starting" log line to "listening") with
#            the committed offsets of everything above, after a clean stop and after SIGKILL
#            in the middle of committing, then again after 5 times as many commits: it must not
#            grow with the number of commits (snapshots bound what a restart replays); the
#            reference is the same broker's start-up with no committed offsets.
#
# Environment: ROUNDS (3), NGROUPS (200), THREADS (8), ROUND_SECONDS (5), QUICK=1 (a smoke test).
# Prints the machine, the raw rounds and a table; exit status 0 when every goal passed.
set -uo pipefail

ROUNDS=${ROUNDS:-3}
NGROUPS=${NGROUPS:-200}
THREADS=${THREADS:-8}
SECONDS_PER=${ROUND_SECONDS:-5}
if [ "${QUICK:-0}" = 1 ]; then
    ROUNDS=1 SECONDS_PER=1
fi

die() {
    echo "groups.sh: $*" >&2
    exit 1
}

repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
make -s BUILD=release zcq bench || die "build failed"
cc_word=${CC:-cc}
cc_word=${cc_word%% *}
cb=build/${cc_word##*/}-release/bench/commit_bench
[ -x "$cb" ] || die "no $cb"
mkdir -p build
tmp=$(mktemp -d "$repo/build/groups.XXXXXX")
pid=
cleanup() {
    [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT

echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'),"\
    "$(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo), Linux $(uname -r)"
echo "disk:    $(df -T "$tmp" | awk 'NR == 2 { print $2 " on " $1 }')"
echo "date:    $(date -u +%Y-%m-%dT%H:%M:%SZ)"
echo "zcq:     $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- src || echo ', dirty src')"
echo

# start_broker NAME [flags...]: a release broker on a free port; sets pid and B.
start_broker() {
    local log=$tmp/$1.log
    shift
    rm -f "$tmp/ready"
    ./zcq serve --listen 127.0.0.1:0 --data-dir "$tmp/data" --ready-file "$tmp/ready" \
        --log-level info "$@" >"$log" 2>&1 &
    pid=$!
    for _ in $(seq 1 600); do
        [ -s "$tmp/ready" ] && break
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.05
    done
    [ -s "$tmp/ready" ] || die "broker did not start: $(tail -3 "$log")"
    B=$(cat "$tmp/ready")
}
stop_broker() { # stop_broker [SIGNAL]
    kill -"${1:-TERM}" "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    pid=
}
# startup_ms LOG: milliseconds from the "starting" line to the "listening" line.
startup_ms() {
    awk '/ starting: / { s = $1 } / listening on / { l = $1 }
         function ms(t,  a) { split(substr(t, 12, 12), a, ":"); return (a[1] * 3600 + a[2] * 60 + a[3]) * 1000 }
         END { printf "%.0f\n", ms(l) - ms(s) }' "$1"
}
field() { sed -n "s/.*$2=\([-0-9.]*\).*/\1/p" <<<"$1"; }
median() {
    sort -g | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}
results=()
row() { results+=("| $1 | $2 | $3 | $4 | $5 | $6 |"); }
verdict() { awk -v v="$1" -v op="$2" -v g="$3" 'BEGIN { ok = op == "<=" ? v <= g : v >= g; print ok ? "PASS" : "FAIL" }'; }

# --- a broker with no offsets: the start-up reference ------------------------------------------
start_broker base
"./zcq" topics create ct --partitions 8 --bootstrap "$B" >/dev/null || die "create topic"
stop_broker
start_broker base2
base_ms=$(startup_ms "$tmp/base2.log")

# --- commit latency, acks=-1, against fdatasync ----------------------------------------------
echo "commit: $NGROUPS groups x 8 partitions, $THREADS connections, ${SECONDS_PER}s a round, $ROUNDS rounds" >&2
declare -a c_rate c_p50 c_p99 c_p999 f_p50 f_p99 ratio
total=0
for ((r = 1; r <= ROUNDS; r++)); do
    ref=$("$cb" fsync "$tmp/data" "$THREADS" "$SECONDS_PER") || die "fsync reference failed"
    out=$("$cb" commit "$B" ct 8 "$NGROUPS" "$THREADS" "$SECONDS_PER") || die "commit_bench failed"
    [ "$(field "$out" errors)" = 0 ] || die "commit errors: $out"
    echo "  round $r: commits $out" >&2
    echo "           fsync   $ref" >&2
    total=$((total + $(field "$out" commits)))
    c_rate+=("$(field "$out" per_s)")
    c_p50+=("$(field "$out" p50_ms)")
    c_p99+=("$(field "$out" p99_ms)")
    c_p999+=("$(field "$out" p999_ms)")
    f_p50+=("$(field "$ref" p50_ms)")
    f_p99+=("$(field "$ref" p99_ms)")
    ratio+=("$(awk -v a="$(field "$out" p50_ms)" -v b="$(field "$ref" p50_ms)" 'BEGIN { printf "%.3f", a / b }')")
done
m=$(printf '%s\n' "${ratio[@]}" | median)
row "commit, acks=-1 (on disk before the answer): p50 latency" \
    "$(printf '%s\n' "${c_p50[@]}" | median) ms" \
    "write + fdatasync p50 $(printf '%s\n' "${f_p50[@]}" | median) ms" "$m" "<= 3" "$(verdict "$m" "<=" 3)"
row "... p99 / p99.9" "$(printf '%s\n' "${c_p99[@]}" | median) / $(printf '%s\n' "${c_p999[@]}" | median) ms" \
    "fdatasync p99 $(printf '%s\n' "${f_p99[@]}" | median) ms" "-" "(informative)" "-"
row "... commits/s ($NGROUPS groups x 8 partitions, $THREADS connections)" \
    "$(printf '%s\n' "${c_rate[@]}" | median)" "-" "-" "(informative)" "-"

# --- restart after those commits: clean, then SIGKILL mid-commit -------------------------------
stop_broker
start_broker clean1
clean1_ms=$(startup_ms "$tmp/clean1.log")
loaded1=$(grep -o 'loaded .*' "$tmp/clean1.log" | head -1)
"$cb" commit "$B" ct 8 "$NGROUPS" "$THREADS" 2 >/dev/null 2>&1 &
cbpid=$!
sleep 1
stop_broker KILL
wait "$cbpid" 2>/dev/null
start_broker kill1
kill1_ms=$(startup_ms "$tmp/kill1.log")
echo "restart after $total commits: clean ${clean1_ms} ms ($loaded1), after SIGKILL ${kill1_ms} ms;" \
    "no offsets ${base_ms} ms" >&2

# --- five times as many commits, then restart again --------------------------------------------
more=$((total * 4))
echo "commit: $more more commits" >&2
secs=$(awk -v t="$total" -v m="$more" -v s="$((SECONDS_PER * ROUNDS))" 'BEGIN { printf "%.1f", s * m / t }')
out=$("$cb" commit "$B" ct 8 "$NGROUPS" "$THREADS" "$secs") || die "commit_bench failed"
total2=$((total + $(field "$out" commits)))
stop_broker
start_broker clean2
clean2_ms=$(startup_ms "$tmp/clean2.log")
loaded2=$(grep -o 'loaded .*' "$tmp/clean2.log" | head -1)
"$cb" commit "$B" ct 8 "$NGROUPS" "$THREADS" 2 >/dev/null 2>&1 &
cbpid=$!
sleep 1
stop_broker KILL
wait "$cbpid" 2>/dev/null
start_broker kill2
kill2_ms=$(startup_ms "$tmp/kill2.log")
echo "restart after $total2 commits: clean ${clean2_ms} ms ($loaded2), after SIGKILL ${kill2_ms} ms" >&2
journal=$(du -sk "$tmp/data/zcq-consumer-offsets" | cut -f1)
worst=$(printf '%s\n' "$clean2_ms" "$kill2_ms" | sort -n | tail -1)
grow=$(awk -v a="$worst" -v b="$(printf '%s\n' "$clean1_ms" "$kill1_ms" | sort -n | tail -1)" \
    'BEGIN { printf "%.2f", (a + 1) / (b + 1) }')
row "restart with the offsets of $total commits: clean / after SIGKILL" "$clean1_ms / $kill1_ms ms" \
    "no offsets $base_ms ms" "-" "(informative)" "-"
row "restart with the offsets of $total2 commits: clean / after SIGKILL" "$clean2_ms / $kill2_ms ms" \
    "the $total-commit restart" "$grow" "<= 2 (does not grow with commits)" "$(verdict "$grow" "<=" 2)"
row "... journal on disk after $total2 commits" "$journal KiB" "-" "-" "(informative)" "-"

# --- acks=1 --------------------------------------------------------------------------------
stop_broker
start_broker acks1 --offsets.commit.required.acks 1
out=$("$cb" commit "$B" ct 8 "$NGROUPS" "$THREADS" "$SECONDS_PER") || die "commit_bench failed"
echo "  acks=1: $out" >&2
row "commit, acks=1 (appended, page cache): p50 / p99 latency" \
    "$(field "$out" p50_ms) / $(field "$out" p99_ms) ms" "-" "-" "(informative)" "-"
row "... commits/s" "$(field "$out" per_s)" "-" "-" "(informative)" "-"
stop_broker

echo
echo "| what | measured | reference | ratio | goal | result |"
echo "|---|---|---|---|---|---|"
printf '%s\n' "${results[@]}"
! printf '%s\n' "${results[@]}" | grep -q '| FAIL |'
