#!/usr/bin/env bash
# loop.sh: does an io_uring event loop pay for zcq's request/response traffic? Runs
# bench/loop_bench (release build) with its epoll and its io_uring server alternately, in rounds,
# for 1, 8 and 64 connections in lockstep (a 200-byte request, a 64-byte answer: one-record
# produce requests with acks=1), and prints, per connection count, the median server CPU per
# request and requests/s of each, and io_uring's ratio to epoll (the median of the per-round
# ratios). docs/benchmarks.md records the results and the decision they led to.
#
# Environment: ROUNDS (default 5), SECONDS_EACH (3), CONNS ("1 8 64"), TCP_CC (a congestion
# control for loopback during the run, restored at exit). Exit status 0 when every run worked.
set -euo pipefail

ROUNDS=${ROUNDS:-5}
SECONDS_EACH=${SECONDS_EACH:-3}
CONNS=${CONNS:-1 8 64}
PY=/usr/bin/python3

cd "$(dirname "$0")/.."
make -s -j2 bench >/dev/null
bin=build/cc-release/bench/loop_bench
[ -x "$bin" ] || {
    echo "loop.sh: $bin was not built" >&2
    exit 1
}
old_cc=
restore() { [ -z "$old_cc" ] || sysctl -qw net.ipv4.tcp_congestion_control="$old_cc"; }
trap restore EXIT
if [ -n "${TCP_CC:-}" ]; then
    old_cc=$(sysctl -n net.ipv4.tcp_congestion_control)
    sysctl -qw net.ipv4.tcp_congestion_control="$TCP_CC"
fi

echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), Linux $(uname -r)"
echo "tcp:     $(sysctl -n net.ipv4.tcp_congestion_control) congestion control on loopback"
echo "date:    $(date -u +%Y-%m-%dT%H:%M:%SZ)"
echo "commit:  $(git rev-parse --short HEAD)"
echo "run:     ROUNDS=$ROUNDS SECONDS_EACH=$SECONDS_EACH CONNS=\"$CONNS\""
raw=$(mktemp)
trap 'restore; rm -f "$raw"' EXIT
for ((r = 1; r <= ROUNDS; r++)); do
    for c in $CONNS; do
        # Alternate which backend goes first, so that drift falls on both.
        if ((r % 2)); then order="epoll uring"; else order="uring epoll"; fi
        for how in $order; do
            out=$("$bin" "$how" "$c" "$SECONDS_EACH")
            echo "  round $r $how conns=$c: $out" >&2
            echo "$r $how $c $out" >>"$raw"
        done
    done
done
$PY - "$raw" <<'EOF'
import statistics, sys
runs = {}
for line in open(sys.argv[1]):
    f = line.split()
    r, how, c = int(f[0]), f[1], int(f[2])
    kv = dict(x.split("=") for x in f[3:])
    runs[(how, c, r)] = (float(kv["server_cpu_us_per_req"]), float(kv["per_s"]))
print()
print("| connections | epoll: server CPU us/request | io_uring | io_uring / epoll "
      "| epoll: requests/s | io_uring | io_uring / epoll |")
print("|---|---|---|---|---|---|---|")
for c in sorted({k[1] for k in runs}):
    rs = sorted({k[2] for k in runs if k[1] == c})
    med = lambda how, i: statistics.median(runs[(how, c, r)][i] for r in rs)
    ratio = lambda i: statistics.median(runs[("uring", c, r)][i] / runs[("epoll", c, r)][i]
                                        for r in rs)
    print(f"| {c} | {med('epoll', 0):.2f} | {med('uring', 0):.2f} | {ratio(0):.2f}x "
          f"| {med('epoll', 1):,.0f} | {med('uring', 1):,.0f} | {ratio(1):.2f}x |")
EOF
