#!/usr/bin/env bash
# partitions.sh: what many partitions cost the broker (docs/benchmarks.md, "Many partitions").
# Builds the release zcq, then for each count in PARTS (default "1000 10000") starts a broker on
# a free port with its data under build/, and measures, against the same broker with no
# partition at all (the reference, measured in the same run):
#
#   create    the time to create the partitions (topics of up to 1,000 partitions each, one
#             CreateTopics request per topic, zcq topics create)
#   memory    the broker's VmRSS, and apart its anonymous (RssAnon: heap, stacks) and file-backed
#             (RssFile: the binary, libraries, mapped index pages) parts, from /proc/PID/status:
#             idle; after a few records were produced to every partition (zcq perf produce with
#             librdkafka's sticky partitioner off, so records land on random partitions); and
#             with 100 idle client connections on top (each asked ApiVersions and Metadata for
#             every topic, then left open)
#   files     open file descriptors and memory mappings, and the disk the data directory takes
#   idle CPU  the broker's CPU time per second while nobody talks to it, before and after the
#             partitions have data (the maintenance thread visits every partition every
#             log.flush.scheduler.interval.ms)
#   restart   start-up time (the "starting" log line to "listening") after a clean shutdown and
#             after SIGKILL, and the clean shutdown's own time (SIGTERM to exit)
#
# and then (once, with SPREAD partitions) produce throughput and the broker's CPU per MB with
# records spread over SPREAD partitions against the same records into one partition, in rounds
# of alternating order. The goal is the issue's: RSS under 64 MiB with 1,000 partitions and 100
# connections. The broker's CPU is the time its threads spent on a CPU
# (/proc/PID/task/*/schedstat).
#
# Environment: PARTS ("1000 10000"), RECORDS_PER_PART (10: records of 100 bytes produced per
# partition), IDLE_S (10: seconds of each idle CPU window), CONNS (100), SPREAD (1000; 0 skips
# the produce comparison),
# PRODUCE_RECORDS (2000000), ROUNDS (3), BROKER_FLAGS (extra zcq serve flags, for experiments),
# QUICK=1 (small: a smoke test of the script). Prints the machine, raw numbers and tables;
# exit status 0 when the goal passed.
set -uo pipefail

PARTS=${PARTS:-"1000 10000"}
RECORDS_PER_PART=${RECORDS_PER_PART:-10}
IDLE_S=${IDLE_S:-10}
CONNS=${CONNS:-100}
SPREAD=${SPREAD:-1000}
PRODUCE_RECORDS=${PRODUCE_RECORDS:-2000000}
ROUNDS=${ROUNDS:-3}
BROKER_FLAGS=${BROKER_FLAGS:-}
if [ "${QUICK:-0}" = 1 ]; then
    PARTS=${QUICK_PARTS:-200} IDLE_S=2 CONNS=20 SPREAD=100 PRODUCE_RECORDS=100000 ROUNDS=1
fi

die() {
    echo "partitions.sh: $*" >&2
    exit 1
}

repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
make -s BUILD=release zcq || die "build failed"
zcq=./zcq
py=/usr/bin/python3
mkdir -p build
tmp=$(mktemp -d "$repo/build/partitions.XXXXXX")
pid=
cleanup() {
    [ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT

echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'),"\
    "$(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo), Linux $(uname -r)"
echo "disk:    $(df -hT "$tmp" | awk 'NR == 2 { print $2 " on " $1 ", " $5 " free of " $3 }')"
echo "limits:  open files $(ulimit -Sn) soft / $(ulimit -Hn) hard, vm.max_map_count" \
    "$(cat /proc/sys/vm/max_map_count)"
echo "tcp:     $(sysctl -n net.ipv4.tcp_congestion_control) congestion control on loopback"
echo "date:    $(date -u +%Y-%m-%dT%H:%M:%SZ)"
echo "zcq:     $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- src || echo ', dirty src')"
echo

# start_broker NAME [flags...]: a release broker on a free port, its log in $tmp/NAME.log; sets
# pid and B.
start_broker() {
    local log=$tmp/$1.log
    shift
    rm -f "$tmp/ready"
    # shellcheck disable=SC2086 # BROKER_FLAGS is a list of flags
    "$zcq" serve --listen 127.0.0.1:0 --data-dir "$tmp/data" --ready-file "$tmp/ready" \
        --log-level info $BROKER_FLAGS "$@" >"$log" 2>&1 &
    pid=$!
    for _ in $(seq 1 6000); do
        [ -s "$tmp/ready" ] && break
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.05
    done
    [ -s "$tmp/ready" ] || die "broker did not start: $(tail -3 "$log")"
    B=$(cat "$tmp/ready")
}
# stop_broker [SIGNAL]: sets stop_ms, the milliseconds from the signal to the process's exit
# (not in a subshell: only this shell can wait for its child).
stop_broker() {
    local t0 t1
    t0=$(date +%s%N)
    kill -"${1:-TERM}" "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    t1=$(date +%s%N)
    pid=
    stop_ms=$(((t1 - t0) / 1000000))
}
# startup_ms LOG: milliseconds from the "starting" line to the "listening" line.
startup_ms() {
    awk '/ starting: / { s = $1 } / listening on / { l = $1 }
         function ms(t,  a) { split(substr(t, 12, 12), a, ":"); return (a[1] * 3600 + a[2] * 60 + a[3]) * 1000 }
         END { printf "%.0f\n", ms(l) - ms(s) }' "$1"
}
cpu_s() { # the broker's CPU seconds so far, every thread
    cat /proc/"$pid"/task/*/schedstat 2>/dev/null | awk '{ ns += $1 } END { printf "%.6f", ns / 1e9 }'
}
# mem: "VmRSS RssAnon RssFile" in KiB.
mem() {
    awk '/^VmRSS:/ { r = $2 } /^RssAnon:/ { a = $2 } /^RssFile:/ { f = $2 }
         END { print r, a, f }' /proc/"$pid"/status
}
fds() { ls /proc/"$pid"/fd | wc -l; }
maps() { wc -l <"/proc/$pid/maps"; }
disk_kb() { du -sk "$tmp/data" | cut -f1; }
# idle_ms_per_s: the broker's CPU milliseconds per second over IDLE_S seconds of nothing.
idle_ms_per_s() {
    local c0 c1
    c0=$(cpu_s)
    sleep "$IDLE_S"
    c1=$(cpu_s)
    awk -v a="$c0" -v b="$c1" -v s="$IDLE_S" 'BEGIN { printf "%.3f", (b - a) * 1000 / s }'
}
field() { # field JSON KEY: a number from zcq perf's one-line JSON
    sed -n "s/.*\"$2\":\([-0-9.e+]*\).*/\1/p" <<<"$1"
}
median() {
    sort -g | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}
per() { awk -v a="$1" -v b="$2" -v n="$3" -v f="${4:-%.2f}" 'BEGIN { printf f, (a - b) / n }'; }
kib() { awk -v k="$1" 'BEGIN { printf "%.1f MiB", k / 1024 }'; }

# idle_conns N: open N connections, each served ApiVersions and Metadata (every topic), and print
# the broker's "VmRSS RssAnon RssFile" while they are all open.
idle_conns() {
    "$py" - "$B" "$pid" "$1" <<'EOF'
import os, resource, struct, sys, time
sys.path.insert(0, os.path.join(os.getcwd(), "tests", "integration"))
import kwire as kw
broker, pid, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
conns = []
for i in range(n):
    c = kw.Conn(broker, timeout=60)
    c.send(kw.frame(18, 0, b"", corr=1))
    if c.recv_frame() is None:
        sys.exit("connection %d: no ApiVersions answer" % i)
    c.send(kw.metadata(None, version=4, allow=False, corr=2))
    if c.recv_frame() is None:
        sys.exit("connection %d: no Metadata answer" % i)
    conns.append(c)
time.sleep(1)
f = {}
with open("/proc/%d/status" % pid) as st:
    for line in st:
        k, _, v = line.partition(":")
        f[k] = v.split()[0] if v.split() else "0"
print(f["VmRSS"], f["RssAnon"], f["RssFile"])
for c in conns:
    c.close()
EOF
}

# create_partitions N: topics p0, p1, ... of up to 1,000 partitions, N in all; prints the seconds.
create_partitions() {
    local left=$1 i=0 t0 t1 n
    t0=$(date +%s%N)
    while ((left > 0)); do
        n=$((left > 1000 ? 1000 : left))
        "$zcq" topics create "p$i" --partitions "$n" --bootstrap "$B" --timeout-ms 600000 \
            >/dev/null || die "create topic p$i ($n partitions): $(tail -2 "$tmp"/*.log)"
        if ((i == 0)); then
            # Refuse to fill a shared disk: what this topic took, times the whole count.
            local need free
            need=$(($(disk_kb) * $1 / n))
            free=$(df -k --output=avail "$tmp" | tail -1)
            ((need < free / 2)) || die "$1 partitions would take about $((need / 1024)) MiB of" \
                "disk ($(($(disk_kb) / n)) KiB each); $((free / 1024)) MiB free"
        fi
        left=$((left - n))
        i=$((i + 1))
    done
    t1=$(date +%s%N)
    awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", (b - a) / 1e9 }'
}
# produce_all N: RECORDS_PER_PART records of 100 bytes to every partition of the topics above,
# spread at random (librdkafka's sticky partitioner off).
produce_all() {
    local left=$1 i=0 n
    while ((left > 0)); do
        n=$((left > 1000 ? 1000 : left))
        "$zcq" perf produce --bootstrap "$B" --topic "p$i" --records "$((n * RECORDS_PER_PART))" \
            --record-size 100 --acks 1 --json -X sticky.partitioning.linger.ms=0 \
            --timeout-ms 600000 >/dev/null ||
            die "produce to p$i"
        left=$((left - n))
        i=$((i + 1))
    done
}
# empty_partitions N: how many of the first N partitions hold no record (should be 0).
empty_partitions() {
    local e=0
    for f in "$tmp"/data/p*-*/00000000000000000000.log; do
        [ -s "$f" ] || e=$((e + 1))
    done
    echo "$e"
}

results=()
row() { results+=("| $1 | $2 | $3 | $4 | $5 | $6 | $7 |"); }
goal_ok=1

for N in $PARTS; do
    echo "--- $N partitions" >&2
    rm -rf "$tmp/data"
    start_broker "base-$N"
    read -r rss0 anon0 file0 <<<"$(mem)"
    fds0=$(fds) maps0=$(maps)
    idle0=$(idle_ms_per_s)
    echo "  no partition: RSS $rss0 KiB (anon $anon0, file $file0), $fds0 fds, $maps0 maps," \
        "idle CPU $idle0 ms/s" >&2
    create_s=$(create_partitions "$N")
    sleep 1
    read -r rss1 anon1 file1 <<<"$(mem)"
    fds1=$(fds) maps1=$(maps) disk1=$(disk_kb)
    idle1=$(idle_ms_per_s)
    echo "  created in $create_s s: RSS $rss1 KiB (anon $anon1, file $file1), $fds1 fds," \
        "$maps1 maps, $disk1 KiB on disk, idle CPU $idle1 ms/s" >&2
    produce_all "$N"
    sleep 1
    read -r rss2 anon2 file2 <<<"$(mem)"
    fds2=$(fds) maps2=$(maps) disk2=$(disk_kb)
    idle2=$(idle_ms_per_s)
    empty=$(empty_partitions)
    echo "  after $RECORDS_PER_PART records per partition ($empty partitions empty): RSS $rss2 KiB" \
        "(anon $anon2, file $file2), $fds2 fds, $maps2 maps, $disk2 KiB on disk," \
        "idle CPU $idle2 ms/s" >&2
    read -r rss3 anon3 file3 <<<"$(idle_conns "$CONNS")" || die "idle connections failed"
    echo "  with $CONNS idle connections: RSS $rss3 KiB (anon $anon3, file $file3)" >&2
    stop_broker TERM
    shut_ms=$stop_ms
    start_broker "clean-$N"
    clean_ms=$(startup_ms "$tmp/clean-$N.log")
    read -r rss4 anon4 file4 <<<"$(mem)"
    "$zcq" perf produce --bootstrap "$B" --topic p0 --records 20000 --record-size 100 --acks 1 \
        --json -X sticky.partitioning.linger.ms=0 --timeout-ms 600000 >/dev/null || die "produce before SIGKILL"
    stop_broker KILL
    start_broker "kill-$N"
    kill_ms=$(startup_ms "$tmp/kill-$N.log")
    stop_broker TERM
    base_ms=$(startup_ms "$tmp/base-$N.log")
    echo "  clean shutdown $shut_ms ms; start-up: empty $base_ms ms, clean $clean_ms ms, after" \
        "SIGKILL $kill_ms ms; RSS after the clean restart $rss4 KiB (anon $anon4, file $file4)" >&2

    pass=$(awk -v r="$rss3" 'BEGIN { print r < 65536 ? "PASS" : "FAIL" }')
    [ "$N" -le 1000 ] || pass="-"
    [ "$pass" = FAIL ] && goal_ok=0
    row "$N" "RSS, idle / after records / + $CONNS connections" \
        "$(kib "$rss1") / $(kib "$rss2") / $(kib "$rss3")" "$(kib "$rss0")" \
        "$(per "$rss3" "$rss0" "$N" "%.2f KiB")" "< 64 MiB at 1,000" "$pass"
    row "$N" "... anonymous (RssAnon)" "$(kib "$anon1") / $(kib "$anon2") / $(kib "$anon3")" \
        "$(kib "$anon0")" "$(per "$anon2" "$anon0" "$N" "%.2f KiB")" "" ""
    row "$N" "... file-backed (RssFile)" "$(kib "$file1") / $(kib "$file2") / $(kib "$file3")" \
        "$(kib "$file0")" "$(per "$file2" "$file0" "$N" "%.2f KiB")" "" ""
    row "$N" "RSS after a clean restart (data in every partition)" "$(kib "$rss4")" \
        "$(kib "$rss0")" "$(per "$rss4" "$rss0" "$N" "%.2f KiB")" "" ""
    row "$N" "open file descriptors / memory maps" "$fds2 / $maps2" "$fds0 / $maps0" \
        "$(per "$fds2" "$fds0" "$N") / $(per "$maps2" "$maps0" "$N")" "" ""
    row "$N" "disk (du), empty / after records" "$(kib "$disk1") / $(kib "$disk2")" "-" \
        "$(per "$disk1" 0 "$N" "%.1f KiB") / $(per "$disk2" 0 "$N" "%.1f KiB")" "" ""
    row "$N" "idle CPU, empty partitions / with data" "$idle1 / $idle2 ms/s" "$idle0 ms/s" \
        "$(per "$idle2" "$idle0" "$N" "%.5f ms/s")" "" ""
    row "$N" "create (topics of 1,000 partitions)" "$create_s s" "-" \
        "$(per "$create_s" 0 "$N" "%.5f s")" "" ""
    row "$N" "start-up, clean / after SIGKILL" "$clean_ms / $kill_ms ms" "$base_ms ms" \
        "$(per "$clean_ms" "$base_ms" "$N" "%.3f ms") / $(per "$kill_ms" "$base_ms" "$N" "%.3f ms")" \
        "" ""
    row "$N" "clean shutdown (SIGTERM to exit)" "$shut_ms ms" "-" \
        "$(per "$shut_ms" 0 "$N" "%.3f ms")" "" ""
done

# --- produce: records spread over SPREAD partitions against one partition ----------------------
seg_bytes() { cat "$tmp/data/$1"-*/*.log 2>/dev/null | wc -c; }
# produce_once TOPIC: prints "records_per_s cpu_s_per_mb".
produce_once() {
    local c0 c1 out bytes
    rm -rf "$tmp/data"
    sync # the previous round's dirty pages would throttle this one's writes
    start_broker "produce-$1"
    "$zcq" topics create "$1" --partitions "$2" --bootstrap "$B" --timeout-ms 600000 \
        >/dev/null || die "create $1"
    c0=$(cpu_s)
    out=$("$zcq" perf produce --bootstrap "$B" --topic "$1" --records "$PRODUCE_RECORDS" \
        --record-size 100 --acks 1 --json -X sticky.partitioning.linger.ms=0 --timeout-ms 600000) ||
        die "perf produce to $1"
    c1=$(cpu_s)
    stop_broker TERM
    bytes=$(seg_bytes "$1")
    awk -v r="$(field "$out" records_per_s)" -v a="$c0" -v b="$c1" -v n="$bytes" \
        'BEGIN { printf "%.0f %.6f\n", r, (b - a) / (n / 1e6) }'
}
if ((SPREAD > 0)); then
    echo "--- produce: $PRODUCE_RECORDS records of 100 bytes, acks=1, $SPREAD partitions vs 1," \
        "$ROUNDS rounds" >&2
    declare -a s_rate s_cpu o_rate o_cpu rate_ratio cpu_ratio
    for ((r = 1; r <= ROUNDS; r++)); do
        if ((r % 2)); then
            read -r sr sc <<<"$(produce_once spread "$SPREAD")"
            read -r or oc <<<"$(produce_once one 1)"
        else
            read -r or oc <<<"$(produce_once one 1)"
            read -r sr sc <<<"$(produce_once spread "$SPREAD")"
        fi
        echo "  round $r: $SPREAD partitions $sr records/s, $sc CPU s/MB; 1 partition $or records/s," \
            "$oc CPU s/MB" >&2
        s_rate+=("$sr") s_cpu+=("$sc") o_rate+=("$or") o_cpu+=("$oc")
        rate_ratio+=("$(awk -v a="$sr" -v b="$or" 'BEGIN { printf "%.3f", a / b }')")
        cpu_ratio+=("$(awk -v a="$sc" -v b="$oc" 'BEGIN { printf "%.3f", a / b }')")
    done
    row "$SPREAD" "produce, 100-byte records spread at random, acks=1: records/s" \
        "$(printf '%s\n' "${s_rate[@]}" | median)" "1 partition $(printf '%s\n' "${o_rate[@]}" | median)" \
        "ratio $(printf '%s\n' "${rate_ratio[@]}" | median)" "" ""
    row "$SPREAD" "... broker CPU per MB appended" "$(printf '%s\n' "${s_cpu[@]}" | median) s/MB" \
        "1 partition $(printf '%s\n' "${o_cpu[@]}" | median) s/MB" \
        "ratio $(printf '%s\n' "${cpu_ratio[@]}" | median)" "" ""
fi

echo
echo "| partitions | what | measured | reference (same run: no partition; 1 partition for produce) | per partition | goal | result |"
echo "|---|---|---|---|---|---|---|"
printf '%s\n' "${results[@]}"
((goal_ok))
