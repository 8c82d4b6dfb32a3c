#!/usr/bin/env bash
# peers.sh: zcq against the systems a user would pick instead (NATS JetStream, Redis streams,
# RabbitMQ stream queues), on this machine, in one run (docs/peers.md).
#
# Installs the peers (scripts/bench-deps.sh), builds zcq and the drivers (bench/peers/), then in
# each round starts every system in turn on free loopback ports with its data under build/peers/,
# runs the same workloads against it with its own C client, and stops it:
#
#   produce100  records of 100 bytes, batched the way a fair user would batch them
#   produce1k   records of 1 KiB, the same; this also writes the backlog that consume reads
#   consume     the 1 GiB backlog of 1 KiB records, from the beginning
#   e2e         1 KiB records at a fixed 50,000 records/s for 10 s; latency from the producer's
#               stamp to the consumer (a separate connection)
#   reqs        one 100-byte record per request, no pipelining, 8 connections: requests/s
#   e2ecold     e2e again while a catch-up reader consumes the whole backlog from the beginning,
#               after the page cache was dropped (root), so that it reads the disk: what a cold
#               reader does to the tail consumer's latency (the catch-up's own result is
#               recorded as "catchup")
#
# and records the broker's CPU time over each (every thread: /proc/PID/task/*/schedstat) and its
# RSS after the last. Each system starts, and each workload but consume runs, after a sync and
# a drop of the page cache (root), so that no workload meets the writeback or the reclaim of
# another's pages (docs/peers.md). The order of the systems alternates between rounds. At the end it prints
# the machine, date and commit, a markdown table per workload with medians over the rounds and
# zcq's ratio to each peer (the median of the per-round ratios), the goal checks, and writes SVG
# bar charts to docs/peers-*.svg.
#
# Environment:
#   ROUNDS=3          rounds (1-3 is sensible; a full round takes about four minutes)
#   QUICK=1           tiny sizes, one round, charts to build/peers/ (a smoke test)
#   TCP_CC=cubic      switch loopback's congestion control for the run (root), restored at exit
#   SYSTEMS="zcq nats redis rabbitmq"   which systems
#   WORKLOADS="produce100 produce1k consume e2e e2ecold reqs"   which workloads
#   BACKLOG_MIB=1024  the 1 KiB-record backlog (produce1k writes it, consume reads it)
#   E2E_RATE=50000 E2E_SECONDS=10 REQS_SECONDS=5 REQS_CONNS=8
#   RECORDS_100_<system>   records of workload produce100 for a system (defaults below: sized
#                     so that each run takes seconds on two cores)
#   PERF=1            also profile zcq (perf record -e cpu-clock -g) during each of its workloads
#                     into build/peers/perf/; the profiler's cost lands in zcq's numbers, so use
#                     it in a separate run (PERF=1 SYSTEMS=zcq ROUNDS=1)
#   CHARTS=DIR        where the SVGs go (default docs; with QUICK=1 build/peers)
#   ZCQ_REV=REV       measure zcq as committed at REV (exported and built under build/peers/),
#                     not the working tree
#
# Exit status 0 when every run completed (the goal checks are reported, not enforced).
set -uo pipefail

ROUNDS=${ROUNDS:-3}
SYSTEMS=${SYSTEMS:-zcq nats redis rabbitmq}
WORKLOADS=${WORKLOADS:-produce100 produce1k consume e2e e2ecold reqs}
BACKLOG_MIB=${BACKLOG_MIB:-1024}
E2E_RATE=${E2E_RATE:-50000}
E2E_SECONDS=${E2E_SECONDS:-10}
REQS_SECONDS=${REQS_SECONDS:-5}
REQS_CONNS=${REQS_CONNS:-8}
CHARTS=${CHARTS:-docs}
declare -A N100=([zcq]=${RECORDS_100_zcq:-5000000} [nats]=${RECORDS_100_nats:-1000000}
    [redis]=${RECORDS_100_redis:-2000000} [rabbitmq]=${RECORDS_100_rabbitmq:-500000})
if [ "${QUICK:-0}" = 1 ]; then
    ROUNDS=1 BACKLOG_MIB=16 E2E_SECONDS=2 E2E_RATE=5000 REQS_SECONDS=1
    N100=([zcq]=50000 [nats]=50000 [redis]=50000 [rabbitmq]=20000)
    CHARTS=${CHARTS_QUICK:-build/peers}
fi

die() {
    echo "peers.sh: $*" >&2
    exit 1
}

repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
PY=/usr/bin/python3

scripts/bench-deps.sh || die "installing the peers failed"
if [ -n "${ZCQ_REV:-}" ]; then
    # A committed revision, built apart from the working tree (which others may be editing).
    rev=$(git rev-parse --short "$ZCQ_REV") || die "no revision $ZCQ_REV"
    src=build/peers/zcq-$rev
    if [ ! -x "$src/zcq" ]; then
        rm -rf "$src" && mkdir -p "$src" && git archive "$rev" | tar -x -C "$src" ||
            die "cannot export $rev"
        make -s -C "$src" -j2 GITREV="$rev" zcq >/dev/null || die "building zcq $rev failed"
    fi
    ZCQ=$src/zcq
    zcq_desc="$rev (ZCQ_REV=$ZCQ_REV, built apart from the working tree)"
else
    make -s -j2 zcq >/dev/null || die "building zcq failed"
    ZCQ=./zcq
    zcq_desc="$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- src || echo ', dirty src')"
fi
make -s -C bench/peers >/dev/null || die "building the drivers failed"
cc_word=${CC:-cc}
bin=build/peers/bin/${cc_word##*/}
mkdir -p build/peers
run=$(mktemp -d "$repo/build/peers/run.XXXXXX")
results=$run/results.tsv
: >"$results"

# --- systems: start_<name> sets ADDR and PIDS (the broker processes whose CPU counts) ---------
started=() # "name" of each system running now, for cleanup
script_pid=
old_cc=
cleanup() {
    for s in "${started[@]}"; do stop_system "$s"; done
    [ -n "$old_cc" ] && sysctl -qw net.ipv4.tcp_congestion_control="$old_cc"
    rm -rf "$run"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
if [ -n "${TCP_CC:-}" ]; then
    old_cc=$(sysctl -n net.ipv4.tcp_congestion_control)
    sysctl -qw net.ipv4.tcp_congestion_control="$TCP_CC" || die "cannot set TCP_CC=$TCP_CC"
fi

free_port() {
    $PY -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
wait_for() { # wait_for SECONDS COMMAND...: poll until COMMAND succeeds
    local end=$((SECONDS + $1))
    shift
    until "$@" 2>/dev/null; do
        [ $SECONDS -lt $end ] || return 1
        sleep 0.05
    done
}
kill_wait() { # kill_wait PID: SIGTERM, then SIGKILL after 20 s
    local pid=$1
    [ -n "$pid" ] || return 0
    kill "$pid" 2>/dev/null || return 0
    for _ in $(seq 1 400); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.05
    done
    kill -9 "$pid" 2>/dev/null
}

start_zcq() {
    local d=$run/zcq
    mkdir -p "$d"
    "$ZCQ" serve --listen 127.0.0.1:0 --data-dir "$d/data" --ready-file "$d/ready" \
        --log-level warn >>"$d/log" 2>&1 &
    PIDS=$!
    wait_for 30 test -s "$d/ready" || die "zcq did not start: $(tail -3 "$d/log")"
    ADDR=$(cat "$d/ready")
}

start_nats() {
    local d=$run/nats port
    port=$(free_port)
    mkdir -p "$d"
    cat >"$d/nats.conf" <<EOF
listen: 127.0.0.1:$port
jetstream {
  store_dir: "$d/js"
  max_file_store: 64G
  max_memory_store: 1G
}
EOF
    nats-server -c "$d/nats.conf" >>"$d/log" 2>&1 &
    PIDS=$!
    ADDR=127.0.0.1:$port
    wait_for 30 grep -q "Server is ready" "$d/log" || die "nats-server did not start: $(tail -3 "$d/log")"
}

start_redis() {
    local d=$run/redis port
    port=$(free_port)
    mkdir -p "$d"
    # The append-only file written by every command before its reply, fsync left to the kernel
    # (appendfsync no): the same durability as zcq's acks=1 (docs/peers.md). No RDB snapshots
    # and no AOF rewrites: both fork the server, and neither is part of what is measured.
    redis-server --bind 127.0.0.1 --port "$port" --dir "$d" --daemonize no --protected-mode no \
        --save '' --appendonly yes --appendfsync no --auto-aof-rewrite-percentage 0 \
        --logfile "$d/log" &
    PIDS=$!
    ADDR=127.0.0.1:$port
    wait_for 30 grep -q "Ready to accept connections" "$d/log" ||
        die "redis-server did not start: $(tail -3 "$d/log")"
}

start_rabbitmq() {
    local d=$run/rabbitmq port dist epmd
    port=$(free_port)
    dist=$(free_port)
    epmd=$(free_port)
    mkdir -p "$d"
    cat >"$d/rabbitmq.conf" <<EOF
listeners.tcp.default = 127.0.0.1:$port
loopback_users = none
EOF
    echo '[].' >"$d/enabled_plugins"
    # Its own node name, ports and port mapper (epmd), all on loopback; no plugins.
    (
        export HOME=$d RABBITMQ_NODENAME=zcqpeers@localhost RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 \
            RABBITMQ_NODE_PORT=$port RABBITMQ_DIST_PORT=$dist ERL_EPMD_PORT=$epmd \
            ERL_EPMD_ADDRESS=127.0.0.1 RABBITMQ_MNESIA_BASE=$d/mnesia RABBITMQ_LOG_BASE=$d/log \
            RABBITMQ_CONFIG_FILE=$d/rabbitmq.conf RABBITMQ_ENABLED_PLUGINS_FILE=$d/enabled_plugins \
            RABBITMQ_PID_FILE=$d/pid RABBITMQ_LOGS=$d/rabbit.log \
            RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
        exec /usr/lib/rabbitmq/bin/rabbitmq-server
    ) >>"$d/out.log" 2>&1 &
    script_pid=$!
    echo "$epmd" >"$d/epmd_port"
    ADDR=127.0.0.1:$port
    wait_for 120 grep -q "completed with" "$d/out.log" ||
        die "rabbitmq-server did not start: $(tail -3 "$d/out.log")"
    PIDS=$(cat "$d/pid")
}

stop_system() { # stop_system NAME: stop it (SIGTERM: each shuts down cleanly), remove its data
    local d=$run/$1
    # RabbitMQ: the start script stops the VM; then the port mapper it started.
    kill_wait "$script_pid"
    kill_wait "$PIDS"
    [ -s "$d/epmd_port" ] && ERL_EPMD_PORT=$(cat "$d/epmd_port") epmd -kill >/dev/null 2>&1
    script_pid=
    rm -rf "$d"
}

cpu_s() { # the broker's CPU seconds so far: every thread of every process in PIDS
    local p
    for p in $PIDS; do cat /proc/"$p"/task/*/schedstat 2>/dev/null; done |
        awk '{ ns += $1 } END { printf "%.6f", ns / 1e9 }'
}
busy_s() { # CPU seconds the whole machine has been busy (not idle nor waiting for I/O)
    awk '/^cpu / { printf "%.2f", ($2 + $3 + $4 + $7 + $8 + $9) / 100; exit }' /proc/stat
}
rss_kb() {
    local p
    for p in $PIDS; do awk '/^VmRSS/ { print $2 }' /proc/"$p"/status; done |
        awk '{ kb += $1 } END { print kb + 0 }'
}

echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'),"\
    "$(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo), Linux $(uname -r)"
echo "tcp:     $(sysctl -n net.ipv4.tcp_congestion_control) congestion control on loopback"
echo "date:    $(date -u +%Y-%m-%dT%H:%M:%SZ)"
echo "zcq:     $zcq_desc"
echo "peers:   nats-server $(nats-server --version | sed 's/.*v//'), redis-server" \
    "$(redis-server --version | sed 's/.*v=\([^ ]*\).*/\1/'), rabbitmq-server" \
    "$(dpkg-query -W -f='${Version}' rabbitmq-server | sed 's/-.*//')"
echo "run:     ROUNDS=$ROUNDS SYSTEMS=\"$SYSTEMS\" BACKLOG_MIB=$BACKLOG_MIB E2E_RATE=$E2E_RATE" \
    "E2E_SECONDS=$E2E_SECONDS REQS_SECONDS=$REQS_SECONDS REQS_CONNS=$REQS_CONNS${QUICK:+ QUICK=$QUICK}"
echo

# run_one ROUND SYSTEM WORKLOAD MODE ARGS...: one driver run; appends its line to the results
# with the broker's CPU over it (or why it failed).
run_one() {
    local r=$1 s=$2 w=$3 mode=$4 c0 c1 m0 m1 out err rc perf_pid=
    shift 4
    if [ "${PERF:-0}" = 1 ] && [ "$s" = zcq ]; then
        mkdir -p build/peers/perf
        perf record -q -e cpu-clock -g -p "$PIDS" -o "build/peers/perf/$w.data" >/dev/null 2>&1 &
        perf_pid=$!
        sleep 0.5
    fi
    c0=$(cpu_s)
    m0=$(busy_s)
    out=$("$bin/peer_$s" "$mode" --addr "$ADDR" "$@" 2>"$run/err")
    rc=$?
    m1=$(busy_s)
    c1=$(cpu_s)
    if [ -n "$perf_pid" ]; then
        kill -INT "$perf_pid"
        wait "$perf_pid"
    fi
    err=$(grep -v '^$' "$run/err" | tail -1 | tr '\t' ' ')
    if [ $rc -ne 0 ] && [ -n "$out" ]; then
        # The run finished but lost, duplicated or failed records: say how many.
        err="$(grep -o 'missing=[0-9]* dups=[0-9]* errors=[0-9]*' <<<"$out")${err:+; $err}"
    fi
    if [ $rc -eq 0 ] && [ -n "$out" ]; then
        printf '%s\t%s\t%s\tok\t%s broker_cpu_s=%s machine_busy_s=%s\t\n' "$r" "$s" "$w" \
            "$out" "$(awk -v a="$c0" -v b="$c1" 'BEGIN { printf "%.4f", b - a }')" \
            "$(awk -v a="$m0" -v b="$m1" 'BEGIN { printf "%.2f", b - a }')" >>"$results"
    else
        printf '%s\t%s\t%s\tfail\t%s\t%s\n' "$r" "$s" "$w" "$out" "${err:-exit status $rc}" \
            >>"$results"
    fi
    echo "  round $r $s $w: ${out:-FAILED: ${err:-exit status $rc}}" >&2
}

backlog=$((BACKLOG_MIB * 1024))
backlog_made=
drop_page_cache() { # clean pages only (sync first); needs root, and is skipped without it
    echo 1 >/proc/sys/vm/drop_caches 2>/dev/null || true
}
run_system() { # run_system ROUND SYSTEM: start it, every workload, RSS, stop
    local r=$1 s=$2 w
    PIDS=
    backlog_made=
    started=("$s")
    # Every system starts with the same memory: without this the first one of a run pays for
    # reclaiming the page cache that earlier work filled (one run's first zcq produce1k spent
    # 3.9 s of broker CPU on 1 GiB, the next rounds 0.45 s), and the rest do not.
    sync
    drop_page_cache
    start_"$s"
    for t in p100 p1k e2e e2ec reqs; do
        "$bin/peer_$s" setup --addr "$ADDR" --stream "$t" 2>"$run/err" ||
            die "$s: setting up $t failed: $(tail -1 "$run/err")"
    done
    for w in $WORKLOADS; do
        # No workload starts with another's pages: dirty ones would be written back in the
        # middle of it (the kernel starts 30 s after the writes), and clean ones reclaimed
        # (this VM runs DAMON with a "pageout" scheme that evicts page cache left cold for a
        # while, taking CPU and the page-cache locks). An e2e run right after produce1k's
        # gigabyte measured that, for every system alike: zcq p99 1.8-2.5 ms, Redis 4-11 ms,
        # against 0.5-0.8 ms for both on a fresh start. consume keeps its backlog warm.
        sync
        [ "$w" = consume ] || drop_page_cache
        case $w in
        produce100)
            run_one "$r" "$s" "$w" produce --stream p100 --records "${N100[$s]}" --size 100
            ;;
        produce1k)
            run_one "$r" "$s" "$w" produce --stream p1k --records "$backlog" --size 1024
            ;;
        consume | e2ecold)
            if [[ " $WORKLOADS " != *" produce1k "* ]] && [ "$backlog_made" != "$s" ]; then
                "$bin/peer_$s" produce --addr "$ADDR" --stream p1k \
                    --records "$backlog" --size 1024 >/dev/null 2>&1
                sync
            fi
            backlog_made=$s
            if [ "$w" = consume ]; then
                run_one "$r" "$s" "$w" consume --stream p1k --records "$backlog" --size 1024
                continue
            fi
            # The backlog out of the page cache (clean pages only: sync first), then the
            # catch-up reader and the fixed-rate e2e at the same time.
            sync
            if ! echo 1 >/proc/sys/vm/drop_caches 2>/dev/null; then
                printf '%s\t%s\t%s\tfail\t\tcannot drop the page cache (needs root)\n' \
                    "$r" "$s" "$w" >>"$results"
                continue
            fi
            "$bin/peer_$s" consume --addr "$ADDR" --stream p1k --records "$backlog" \
                --size 1024 >"$run/catchup" 2>"$run/catchup.err" &
            catchup=$!
            run_one "$r" "$s" "$w" e2e --stream e2ec --rate "$E2E_RATE" \
                --seconds "$E2E_SECONDS" --size 1024
            if wait "$catchup" && [ -s "$run/catchup" ]; then
                printf '%s\t%s\tcatchup\tok\t%s\t\n' "$r" "$s" "$(cat "$run/catchup")" \
                    >>"$results"
            else
                printf '%s\t%s\tcatchup\tfail\t\t%s\n' "$r" "$s" \
                    "$(tail -1 "$run/catchup.err" | tr '\t' ' ')" >>"$results"
            fi
            ;;
        e2e)
            run_one "$r" "$s" "$w" e2e --stream e2e --rate "$E2E_RATE" \
                --seconds "$E2E_SECONDS" --size 1024
            ;;
        reqs)
            run_one "$r" "$s" "$w" reqs --stream reqs --conns "$REQS_CONNS" \
                --seconds "$REQS_SECONDS" --size 100
            ;;
        *) die "unknown workload $w" ;;
        esac
    done
    printf '%s\t%s\trss\tok\trss_kb=%s\t\n' "$r" "$s" "$(rss_kb)" >>"$results"
    stop_system "$s"
    started=()
}

read -r -a order <<<"$SYSTEMS"
for ((r = 1; r <= ROUNDS; r++)); do
    # Alternate the order: odd rounds as given, even rounds reversed.
    if ((r % 2)); then seq_=("${order[@]}"); else
        seq_=()
        for ((i = ${#order[@]} - 1; i >= 0; i--)); do seq_+=("${order[$i]}"); done
    fi
    for s in "${seq_[@]}"; do
        echo "round $r: $s" >&2
        run_system "$r" "$s"
    done
done

cp "$results" build/peers/results.tsv
mkdir -p "$CHARTS"
$PY bench/peers_report.py build/peers/results.tsv "$CHARTS" "$E2E_RATE" "$REQS_CONNS"
if [ "${PERF:-0}" = 1 ]; then
    for f in build/peers/perf/*.data; do
        echo
        echo "### perf: zcq during $(basename "$f" .data)"
        perf report -i "$f" --no-children --stdio --percent-limit 1.5 2>/dev/null |
            grep -v '^$' | grep -v '^#' | head -60
    done
fi
! grep -q "	fail	" build/peers/results.tsv
