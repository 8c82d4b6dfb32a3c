#!/usr/bin/env bash
# cores.sh: how the broker's throughput changes with its worker threads (num.network.threads
# 1 and 2), and what a lock shared by every worker costs as threads are added
# (docs/benchmarks.md "Cores", docs/scaling.md). Builds the release zcq and bench/contend, then
# in ROUNDS rounds, alternating which worker count goes first:
#
#   produce  CLIENTS zcq perf produce processes at once, each to its own topic of PARTS
#            partitions (so there are CLIENTS connections at least, spread over the workers by
#            the listener), RECORDS records of 100 bytes each, acks=1: records/s of all of them
#            together (all records over the wall time from the first start to the last end),
#            and the broker's CPU per MB appended
#   consume  then CLIENTS zcq perf consume processes, each reading one of those topics from
#            the beginning (of 1 KiB records, produced before the round): MB/s together, and
#            the broker's CPU per GB served
#
# The clients run on the same CPUs as the broker: on a 2-CPU machine the broker's second worker
# competes with them, so the ratio says whether a second worker helps when the machine is
# shared, not what it would do on idle cores. bench/contend then measures, with 1 thread and
# one per CPU (each pinned to its own), one shared pthread rwlock (the topic registry's), mutex
# (a partition log's, the group coordinator's) and atomic counter (a partition's references)
# against private ones.
#
# Environment: ROUNDS (3), CLIENTS (4), PARTS (4), RECORDS (2000000 per producer), CONSUME_MIB
# (256 per topic), CONTEND_S (1: seconds per contend run), QUICK=1 (small). Prints the machine,
# every round and tables.
set -uo pipefail

ROUNDS=${ROUNDS:-3}
CLIENTS=${CLIENTS:-4}
PARTS=${PARTS:-4}
RECORDS=${RECORDS:-2000000}
CONSUME_MIB=${CONSUME_MIB:-256}
CONTEND_S=${CONTEND_S:-1}
if [ "${QUICK:-0}" = 1 ]; then
    ROUNDS=1 RECORDS=200000 CONSUME_MIB=16 CONTEND_S=0.2
fi

die() {
    echo "cores.sh: $*" >&2
    exit 1
}

repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
cc_word=${CC:-cc}
cc_word=${cc_word%% *}
contend=build/${cc_word##*/}-release/bench/contend
make -s BUILD=release zcq "$contend" || die "build failed"
zcq=./zcq
mkdir -p build
tmp=$(mktemp -d "$repo/build/cores.XXXXXX")
pid=
cleanup() {
    [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT

echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'),"\
    "$(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo), Linux $(uname -r)"
echo "tcp:     $(sysctl -n net.ipv4.tcp_congestion_control) congestion control on loopback"
echo "date:    $(date -u +%Y-%m-%dT%H:%M:%SZ)"
echo "zcq:     $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- src || echo ', dirty src')"
echo

start_broker() { # start_broker WORKERS
    rm -f "$tmp/ready"
    "$zcq" serve --listen 127.0.0.1:0 --data-dir "$tmp/data" --ready-file "$tmp/ready" \
        --log-level warn --num.network.threads "$1" >>"$tmp/broker.log" 2>&1 &
    pid=$!
    for _ in $(seq 1 600); do
        [ -s "$tmp/ready" ] && break
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.05
    done
    [ -s "$tmp/ready" ] || die "broker did not start: $(tail -3 "$tmp/broker.log")"
    B=$(cat "$tmp/ready")
}
stop_broker() {
    kill "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    pid=
}
cpu_s() {
    cat /proc/"$pid"/task/*/schedstat 2>/dev/null | awk '{ ns += $1 } END { printf "%.6f", ns / 1e9 }'
}
now_s() { date +%s.%N; }
# task_cpu: "TID NS" for each of the broker's threads.
task_cpu() {
    for t in /proc/"$pid"/task/*; do
        echo "${t##*/} $(cut -d' ' -f1 "$t/schedstat" 2>/dev/null || echo 0)"
    done
}
median() {
    sort -g | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}

# at_once PREFIX ARGS...: zcq perf ARGS for topics PREFIX0 .. PREFIX(CLIENTS-1), all at once;
# sets wall (seconds from the first start to the last end), cpu (the broker's CPU seconds
# meanwhile), split (the busiest threads' shares of it, in percent: how evenly the workers
# were loaded) and bytes (of those topics' segments afterwards).
at_once() {
    local prefix=$1 c0 t0 t1 pids=() k before
    shift
    before=$(task_cpu)
    c0=$(cpu_s)
    t0=$(now_s)
    for ((k = 0; k < CLIENTS; k++)); do
        "$zcq" perf "$@" --bootstrap "$B" --topic "$prefix$k" --json >/dev/null &
        pids+=($!)
    done
    for p in "${pids[@]}"; do wait "$p" || die "zcq perf $* ($prefix)"; done
    t1=$(now_s)
    cpu=$(awk -v a="$c0" -v b="$(cpu_s)" 'BEGIN { printf "%.6f", b - a }')
    split=$( (
        echo "$before" | sed 's/^/a /'
        task_cpu | sed 's/^/b /'
    ) | awk '$1 == "a" { a[$2] = $3 } $1 == "b" { print $3 - a[$2] }' | sort -rn |
        awk '{ v[NR] = $1; t += $1 }
             END { for (i = 1; i <= 3 && i <= NR; i++) s = s (i > 1 ? "/" : "") int(100 * v[i] / t + 0.5); print s }')
    wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.6f", b - a }')
    bytes=0
    for ((k = 0; k < CLIENTS; k++)); do
        bytes=$((bytes + $(cat "$tmp/data/$prefix$k"-*/*.log 2>/dev/null | wc -c)))
    done
}

# one_round WORKERS: prints "produce_records_per_s produce_cpu_s_per_mb consume_mb_per_s
# consume_cpu_s_per_gb".
one_round() {
    local w=$1 prod_rps prod_cpu cons_mbs cons_cpu
    rm -rf "$tmp/data"
    sync
    start_broker "$w"
    for ((k = 0; k < CLIENTS; k++)); do
        for t in p c; do
            "$zcq" topics create "$t$k" --partitions "$PARTS" --bootstrap "$B" >/dev/null ||
                die "create $t$k"
        done
    done
    # The consume backlog first, untimed, and read once so that it is warm.
    at_once c produce --records $((CONSUME_MIB * 1024)) --record-size 1024 --acks 1
    cat "$tmp"/data/c*-*/*.log >/dev/null
    at_once p produce --records "$RECORDS" --record-size 100 --acks 1
    echo "    $w worker(s), produce: busiest broker threads' shares of its CPU $split %" >&2
    prod_rps=$(awk -v n=$((RECORDS * CLIENTS)) -v s="$wall" 'BEGIN { printf "%.0f", n / s }')
    prod_cpu=$(awk -v c="$cpu" -v n="$bytes" 'BEGIN { printf "%.6f", c / (n / 1e6) }')
    at_once c consume --records $((CONSUME_MIB * 1024))
    echo "    $w worker(s), consume: busiest broker threads' shares of its CPU $split %" >&2
    cons_mbs=$(awk -v n="$bytes" -v s="$wall" 'BEGIN { printf "%.1f", n / 1e6 / s }')
    cons_cpu=$(awk -v c="$cpu" -v n="$bytes" 'BEGIN { printf "%.4f", c / (n / 1e9) }')
    stop_broker
    echo "$prod_rps $prod_cpu $cons_mbs $cons_cpu"
}

echo "broker: $CLIENTS producers then $CLIENTS consumers at once, each its own topic of $PARTS" \
    "partitions; $ROUNDS rounds" >&2
declare -a p1 p2 pc1 pc2 m1 m2 mc1 mc2 pr mr
for ((r = 1; r <= ROUNDS; r++)); do
    if ((r % 2)); then order="1 2"; else order="2 1"; fi
    for w in $order; do
        read -r a b c d <<<"$(one_round "$w")"
        [ -n "$d" ] || die "round $r with $w worker(s) failed"
        echo "  round $r, $w worker(s): produce $a records/s ($b CPU s/MB); consume $c MB/s" \
            "($d CPU s/GB)" >&2
        if [ "$w" = 1 ]; then p1+=("$a") pc1+=("$b") m1+=("$c") mc1+=("$d"); else
            p2+=("$a") pc2+=("$b") m2+=("$c") mc2+=("$d"); fi
    done
    pr+=("$(awk -v a="${p2[-1]}" -v b="${p1[-1]}" 'BEGIN { printf "%.3f", a / b }')")
    mr+=("$(awk -v a="${m2[-1]}" -v b="${m1[-1]}" 'BEGIN { printf "%.3f", a / b }')")
done
med() { printf '%s\n' "$@" | median; }

echo "contend: $CONTEND_S s per run" >&2
ncpu=$(nproc)
crows=()
for op in rwlock-shared rwlock-private mutex-shared mutex-private atomic-shared atomic-private; do
    line="| $op |"
    for t in 1 "$ncpu"; do
        out=$("$contend" "$op" "$t" "$CONTEND_S") || die "contend $op $t"
        echo "  $out" >&2
        line+=" $(sed -n 's/.*ns_per_op=\([0-9.]*\).*/\1/p' <<<"$out") ns |"
    done
    crows+=("$line")
done

echo
echo "| what | 1 worker | 2 workers | ratio (median of rounds) |"
echo "|---|---|---|---|"
echo "| produce, $CLIENTS clients x $PARTS partitions, 100-byte records, acks=1: records/s |" \
    "$(med "${p1[@]}") | $(med "${p2[@]}") | $(med "${pr[@]}") |"
echo "| ... broker CPU per MB appended | $(med "${pc1[@]}") s | $(med "${pc2[@]}") s | |"
echo "| consume, $CLIENTS clients, 1 KiB records, warm: MB/s | $(med "${m1[@]}") |" \
    "$(med "${m2[@]}") | $(med "${mr[@]}") |"
echo "| ... broker CPU per GB served | $(med "${mc1[@]}") s | $(med "${mc2[@]}") s | |"
echo
echo "| operation, ns per operation per thread (each thread pinned to its own CPU) | 1 thread |" \
    "$ncpu threads |"
echo "|---|---|---|"
printf '%s\n' "${crows[@]}"
