#!/usr/bin/env bash
# broker.sh: the broker's benchmarks (docs/benchmarks.md). Builds zcq and bench/bare_ref
# (release), starts a broker on a free port with its data under build/, and measures, in
# rounds whose order alternates so that the machine's noise falls on both sides:
#
#   consume  a catch-up read of a 1 GiB backlog of 1 KiB records, warm cache (zcq perf
#            consume): the broker's CPU seconds per GB served, against bare_ref sendfile
#            shipping the same segment file to a socket: goal <= 1.2x; and, informative,
#            against bare_ref fetchloop, the same bytes in lockstep 1 MiB request/response
#            rounds, which is what the Kafka fetch protocol itself costs with no broker in it
#   produce  100-byte records, batched, acks=1 (zcq perf produce): records/s, goal >=
#            1,000,000 with client and broker on this machine; and the broker's CPU per MB
#            appended, against bare_ref recvwrite receiving the same bytes and writing them
#            to a file: goal <= 1.5x
#   transfer the consume workload with zcq.fetch.transfer = sendfile, splice, copy and uring,
#            and with the log in Direct I/O mode (zcq's own cache, small and large)
#            (informative: what each costs inside the broker)
#
# The broker's CPU is the time its threads spent on a CPU (/proc/PID/task/*/schedstat), read
# before and after each client run; the client's CPU is not counted (its own process). Environment:
# ROUNDS (default 3), CONSUME_MIB (1024), PRODUCE_RECORDS (10000000), QUICK=1 (small, a smoke
# test of the script), TCP_CC (a congestion control to switch loopback to for the run, such as
# cubic; the previous one is restored on exit), FETCH_BYTES (the consumer's
# max.partition.fetch.bytes and the bare fetch loop's response size; default 1048576, the
# librdkafka and Java client default). Prints the machine, the raw results and a table with PASS/FAIL; exit
# status 0 when every goal passed.
set -uo pipefail

ROUNDS=${ROUNDS:-3}
CONSUME_MIB=${CONSUME_MIB:-1024}
FETCH_BYTES=${FETCH_BYTES:-1048576}
PRODUCE_RECORDS=${PRODUCE_RECORDS:-10000000}
if [ "${QUICK:-0}" = 1 ]; then
    ROUNDS=1 CONSUME_MIB=64 PRODUCE_RECORDS=500000
fi

die() {
    echo "broker.sh: $*" >&2
    exit 1
}

repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
make -s BUILD=release zcq bench || die "build failed"
cc_word=${CC:-cc}
cc_word=${cc_word%% *}
bare=build/${cc_word##*/}-release/bench/bare_ref
zcq=./zcq
[ -x "$bare" ] || die "no $bare"
mkdir -p build
tmp=$(mktemp -d "$repo/build/broker.XXXXXX")
pid=
old_cc=
cleanup() {
    [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    [ -n "$old_cc" ] && sysctl -qw net.ipv4.tcp_congestion_control="$old_cc"
    rm -rf "$tmp"
}
trap cleanup EXIT
if [ -n "${TCP_CC:-}" ]; then
    old_cc=$(sysctl -n net.ipv4.tcp_congestion_control)
    sysctl -qw net.ipv4.tcp_congestion_control="$TCP_CC" || die "cannot set TCP_CC=$TCP_CC"
fi

echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'),"\
    "$(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo), Linux $(uname -r)"
echo "tcp:     $(sysctl -n net.ipv4.tcp_congestion_control) congestion control on loopback"
echo "date:    $(date -u +%Y-%m-%dT%H:%M:%SZ)"
echo "zcq:     $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- src || echo ', dirty src')"
echo

# start_broker [flags...]: a release broker on a free port; sets pid and B.
start_broker() {
    rm -f "$tmp/ready"
    "$zcq" serve --listen 127.0.0.1:0 --data-dir "$tmp/data" --ready-file "$tmp/ready" \
        --log-level warn "$@" >>"$tmp/broker.log" 2>&1 &
    pid=$!
    for _ in $(seq 1 300); do
        [ -s "$tmp/ready" ] && break
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
cpu_s() { # the broker's CPU seconds so far, every thread (schedstat: nanoseconds, where
    # /proc/PID/stat counts 10 ms ticks, too coarse for a run of a second)
    cat /proc/"$pid"/task/*/schedstat 2>/dev/null | awk '{ ns += $1 } END { printf "%.6f", ns / 1e9 }'
}
field() { # field JSON KEY: a number from zcq perf's one-line JSON
    sed -n "s/.*\"$2\":\([-0-9.e+]*\).*/\1/p" <<<"$1"
}
seg_bytes() { # bytes of every segment of topic $1
    cat "$tmp/data/$1"-*/*.log 2>/dev/null | wc -c
}
median() {
    sort -g | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}

results=()
row() { results+=("| $1 | $2 | $3 | $4 | $5 | $6 |"); }
verdict() { awk -v v="$1" -v op="$2" -v g="$3" 'BEGIN { ok = op == "<=" ? v <= g : v >= g; print ok ? "PASS" : "FAIL" }'; }

# --- consume ---------------------------------------------------------------------------------
echo "consume: a ${CONSUME_MIB} MiB backlog of 1 KiB records, fetches of $FETCH_BYTES bytes," \
    "$ROUNDS rounds" >&2
start_broker
records=$((CONSUME_MIB * 1024))
"$zcq" topics create c --partitions 1 --bootstrap "$B" >/dev/null || die "create topic c"
"$zcq" perf produce --bootstrap "$B" --topic c --records "$records" --record-size 1024 --acks 1 \
    --json >/dev/null || die "filling topic c"
cbytes=$(seg_bytes c)
seg=$(ls "$tmp"/data/c-0/*.log | head -1)
cat "$tmp"/data/c-0/*.log >/dev/null # warm
declare -a zc_ratio zc_cpu bare_cpu zc_rate fl_cpu fl_ratio
consume_once() { # consume_once: prints "cpu_s_per_gb mb_per_s"
    local c0 c1 out
    c0=$(cpu_s)
    out=$("$zcq" perf consume --bootstrap "$B" --topic c --records "$records" --json \
        -X max.partition.fetch.bytes="$FETCH_BYTES") ||
        die "perf consume failed"
    c1=$(cpu_s)
    awk -v a="$c0" -v b="$c1" -v n="$cbytes" -v m="$(field "$out" mb_per_s)" \
        'BEGIN { printf "%.4f %.1f\n", (b - a) / (n / 1e9), m }'
}
for ((r = 1; r <= ROUNDS; r++)); do
    if ((r % 2)); then
        read -r zc rate <<<"$(consume_once)"
        bc=$(sed -n 's/.*cpu_s_per_gb=\([0-9.]*\).*/\1/p' <<<"$("$bare" sendfile "$seg")")
    else
        bc=$(sed -n 's/.*cpu_s_per_gb=\([0-9.]*\).*/\1/p' <<<"$("$bare" sendfile "$seg")")
        read -r zc rate <<<"$(consume_once)"
    fi
    fl=$(sed -n 's/.*cpu_s_per_gb=\([0-9.]*\).*/\1/p' <<<"$("$bare" fetchloop "$seg" "$FETCH_BYTES")")
    echo "  round $r: broker $zc CPU s/GB ($rate MB/s to the client), bare sendfile $bc," \
        "bare fetch loop $fl CPU s/GB" >&2
    fl_cpu+=("$fl")
    fl_ratio+=("$(awk -v a="$zc" -v b="$fl" 'BEGIN { printf "%.3f", a / b }')")
    zc_cpu+=("$zc")
    bare_cpu+=("$bc")
    zc_rate+=("$rate")
    zc_ratio+=("$(awk -v a="$zc" -v b="$bc" 'BEGIN { printf "%.3f", a / b }')")
done
stop_broker
m=$(printf '%s\n' "${zc_ratio[@]}" | median)
row "consume, 1 KiB records, warm, broker CPU per GB served (fetch by sendfile)" \
    "$(printf '%s\n' "${zc_cpu[@]}" | median) s/GB" \
    "bare sendfile $(printf '%s\n' "${bare_cpu[@]}" | median) s/GB" "$m" "<= 1.2" \
    "$(verdict "$m" "<=" 1.2)"
row "... the same against a bare lockstep fetch loop (64-byte request, $FETCH_BYTES bytes by sendfile)" \
    "$(printf '%s\n' "${zc_cpu[@]}" | median) s/GB" \
    "bare fetch loop $(printf '%s\n' "${fl_cpu[@]}" | median) s/GB" \
    "$(printf '%s\n' "${fl_ratio[@]}" | median)" "(informative)" "-"
row "... throughput to the client (librdkafka, parsing every record)" \
    "$(printf '%s\n' "${zc_rate[@]}" | median) MB/s" "-" "-" "(informative)" "-"

# --- transfer strategies (informative) ---------------------------------------------------------
echo "transfer strategies: the same consume with sendfile, splice, copy, uring" >&2
for how in sendfile splice copy uring; do
    start_broker --zcq.fetch.transfer "$how"
    cpus=() rates=()
    for ((r = 1; r <= ROUNDS; r++)); do
        read -r zc rate <<<"$(consume_once)"
        cpus+=("$zc")
        rates+=("$rate")
    done
    stop_broker
    echo "  $how: ${cpus[*]} CPU s/GB" >&2
    row "consume with zcq.fetch.transfer=$how" "$(printf '%s\n' "${cpus[@]}" | median) s/GB" \
        "$(printf '%s\n' "${rates[@]}" | median) MB/s" "-" "(informative)" "-"
done

# --- store modes (informative) ----------------------------------------------------------------
# The same log opened in Direct I/O mode: reads come from zcq's own cache of aligned blocks, as
# memory chunks (written to the socket with writev: one copy), filled with O_DIRECT reads on a
# miss. With the default 64 MiB cache a 1 GiB catch-up read misses on every block (the disk);
# with a cache larger than the backlog, the measured rounds are all hits (one round warms it).
echo "store modes: the same consume from the log opened in Direct I/O mode" >&2
for cache in $((64 << 20)) $((2 << 30)); do
    start_broker --zcq.io.mode direct --zcq.direct.cache.bytes "$cache"
    [ "$cache" -gt $((CONSUME_MIB << 20)) ] && consume_once >/dev/null
    cpus=() rates=()
    for ((r = 1; r <= ROUNDS; r++)); do
        read -r zc rate <<<"$(consume_once)"
        cpus+=("$zc")
        rates+=("$rate")
    done
    stop_broker
    echo "  direct, cache $((cache >> 20)) MiB: ${cpus[*]} CPU s/GB" >&2
    row "consume with zcq.io.mode=direct, cache $((cache >> 20)) MiB ($([ "$cache" -gt $((CONSUME_MIB << 20)) ] && echo "warm: every read a hit" || echo "smaller than the backlog: O_DIRECT reads"))" \
        "$(printf '%s\n' "${cpus[@]}" | median) s/GB" "$(printf '%s\n' "${rates[@]}" | median) MB/s" \
        "-" "(informative)" "-"
done

# --- produce ----------------------------------------------------------------------------------
echo "produce: $PRODUCE_RECORDS records of 100 bytes, acks=1, $ROUNDS rounds" >&2
declare -a p_rate p_ratio p_cpu p_bare p_p50 p_p99
for ((r = 1; r <= ROUNDS; r++)); do
    rm -rf "$tmp/data"
    sync # dirty pages from the previous round would throttle this one's writes
    start_broker
    # One partition: the broker appends to one file, as the bare loop writes one.
    "$zcq" topics create p --partitions 1 --bootstrap "$B" >/dev/null || die "create topic p"
    c0=$(cpu_s)
    out=$("$zcq" perf produce --bootstrap "$B" --topic p --records "$PRODUCE_RECORDS" \
        --record-size 100 --acks 1 --json) || die "perf produce failed"
    c1=$(cpu_s)
    stop_broker
    pbytes=$(seg_bytes p)
    cat "$tmp"/data/p-*/*.log >"$tmp/produced.bin"
    rm -rf "$tmp/data"
    sync
    zc=$(awk -v a="$c0" -v b="$c1" -v n="$pbytes" 'BEGIN { printf "%.6f", (b - a) / (n / 1e6) }')
    bc=$(sed -n 's/.*cpu_s_per_gb=\([0-9.]*\).*/\1/p' <<<"$("$bare" recvwrite "$tmp/produced.bin")")
    bc=$(awk -v g="$bc" 'BEGIN { printf "%.6f", g / 1000 }') # per MB
    rm -f "$tmp/produced.bin"
    rate=$(field "$out" records_per_s)
    echo "  round $r: $rate records/s, p50 $(field "$out" p50) ms, p99 $(field "$out" p99) ms;" \
        "broker $zc CPU s/MB, bare recv+write $bc CPU s/MB ($pbytes bytes appended)" >&2
    p_rate+=("$rate")
    p_cpu+=("$zc")
    p_bare+=("$bc")
    p_p50+=("$(field "$out" p50)")
    p_p99+=("$(field "$out" p99)")
    p_ratio+=("$(awk -v a="$zc" -v b="$bc" 'BEGIN { printf "%.3f", a / b }')")
done
m=$(printf '%s\n' "${p_rate[@]}" | median)
row "produce, 100-byte records, batched (linger 5 ms), acks=1, client on the same 2 cores" \
    "$m records/s" "-" "-" ">= 1000000" "$(verdict "$m" ">=" 1000000)"
m=$(printf '%s\n' "${p_ratio[@]}" | median)
row "... broker CPU per MB appended" "$(printf '%s\n' "${p_cpu[@]}" | median) s/MB" \
    "bare recv+write $(printf '%s\n' "${p_bare[@]}" | median) s/MB" "$m" "<= 1.5" \
    "$(verdict "$m" "<=" 1.5)"
row "... delivery latency p50 / p99 (client-side, under full load)" \
    "$(printf '%s\n' "${p_p50[@]}" | median) / $(printf '%s\n' "${p_p99[@]}" | median) ms" "-" \
    "-" "(informative)" "-"

echo
echo "| what | measured | reference | ratio | goal | result |"
echo "|---|---|---|---|---|---|"
printf '%s\n' "${results[@]}"
! printf '%s\n' "${results[@]}" | grep -q "| FAIL |"
