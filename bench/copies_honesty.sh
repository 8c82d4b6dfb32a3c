#!/usr/bin/env bash
# copies_honesty.sh: check that `zcq copies` reports honest numbers. Its copy and sendfile
# throughput (file -> loopback TCP, warm page cache) must agree within 20% with bench/xfer_ref,
# an independent program sharing no code with zcq, measuring the same transfer in the same run.
#
#   bench/copies_honesty.sh [SIZE] [CHUNK] [RUNS]        defaults: 1G 64K 5
#
# SIZE and CHUNK take K/M/G suffixes (powers of 1024). After one uncounted warm-up transfer per
# method, the lab and the reference run in ROUNDS rounds (default 5): each round is one lab
# invocation (--runs RUNS) and one reference invocation per method (--runs RUNS), in an order
# reversed every other round, so that machine noise and drift hit both sides alike.
#
# Verdict: per round and method, ratio = lab median / reference median; the method passes when
# the median of those ratios is within 20% of 1. Pairing the two measurements of one round
# cancels slow drift (a busy neighbour, frequency changes), which on a small shared machine
# moves both sides by more than 20% from one round to the next. The table also gives each
# side's median over rounds. Exit status: 0 all within the bound, 1 outside it or any failure,
# 2 usage.
#
# Environment: ROUNDS (rounds, default 5); CC (compiler, as for make); ZCQ and XFER_REF (the
# binaries to run, default ./zcq and the reference make builds; tests point ZCQ at a fake).
set -euo pipefail

die() {
    echo "copies_honesty: $*" >&2
    exit 1
}

usage() {
    echo "usage: bench/copies_honesty.sh [SIZE] [CHUNK] [RUNS]   (defaults 1G 64K 5)"
}

bad_usage() {
    echo "copies_honesty: $*" >&2
    usage >&2
    exit 2
}

case "${1:-}" in
-h | --help)
    usage
    exit 0
    ;;
esac
[ $# -le 3 ] || bad_usage "at most three arguments"

size_arg=${1:-1G}
chunk_arg=${2:-64K}
runs=${3:-5}
rounds=${ROUNDS:-5}
bound_pct=20

repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"

py=/usr/bin/python3
[ -x "$py" ] || die "$py is needed to read the JSON output"

# Sizes go to both programs as plain byte counts, the one form both surely accept.
to_bytes() {
    local v
    v=$(numfmt --from=iec -- "$1" 2>/dev/null) || return 1
    [[ $v =~ ^[1-9][0-9]*$ ]] || return 1
    echo "$v"
}
size=$(to_bytes "$size_arg") || bad_usage "SIZE '$size_arg' is not a size such as 1G or 268435456"
chunk=$(to_bytes "$chunk_arg") || bad_usage "CHUNK '$chunk_arg' is not a size such as 64K or 65536"
[[ $runs =~ ^[1-9][0-9]*$ ]] || bad_usage "RUNS '$runs' is not a positive integer"
[[ $rounds =~ ^[1-9][0-9]*$ ]] || bad_usage "ROUNDS '$rounds' is not a positive integer"

# A benchmark of a sanitizer build would measure the sanitizer, so the build is pinned to release.
cc_word=${CC:-cc}
cc_word=${cc_word%% *}
make -s BUILD=release zcq bench || die "build failed (make BUILD=release zcq bench)"
zcq=${ZCQ:-./zcq}
ref=${XFER_REF:-build/${cc_word##*/}-release/bench/xfer_ref}
[ -x "$zcq" ] || die "$zcq is not an executable"
[ -x "$ref" ] || die "$ref is not an executable"

# The test file lives under build/ on the repo's disk: /tmp may be tmpfs, whose pages behave
# unlike a disk file's page cache.
mkdir -p build
tmp=$(mktemp -d "$repo/build/honesty.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
fstype=$(findmnt -no FSTYPE -T "$tmp" 2>/dev/null || stat -f -c %T "$tmp")
avail=$(df --output=avail -B1 "$tmp" | tail -n 1 | tr -d ' ')
[ "$avail" -gt $((size + (64 << 20))) ] || die "not enough disk for a $size-byte file in $tmp"
memavail=$(awk '/^MemAvailable:/ { print $2 }' /proc/meminfo)
memavail=$((${memavail:-0} * 1024))
if [ "$memavail" -gt 0 ] && [ "$memavail" -lt $((size * 2)) ]; then
    echo "copies_honesty: warning: $size bytes may not stay in a page cache of" \
        "$memavail available bytes; 'warm' may not be warm" >&2
fi

file=$tmp/data
# Random bytes, so nothing along the path (compression, dedup, zero pages) gets a shortcut.
head -c "$size" /dev/urandom >"$file"
[ "$(stat -c %s "$file")" -eq "$size" ] || die "could not write $size bytes to $file"
# Write back now, so no writeback of the test file runs during the measurement.
sync -- "$file"

cpu=$(grep -m1 -E '^(model name|Hardware|cpu model|Processor)[[:space:]]*:' /proc/cpuinfo |
    cut -d: -f2- | sed 's/^ *//') || true
echo "machine: $(nproc) cores, ${cpu:-unknown CPU}, Linux $(uname -r) $(uname -m)"
echo "date:    $(date -u +%Y-%m-%dT%H:%M:%SZ)"
echo "zcq:     $("$zcq" --version 2>/dev/null || echo unknown) ($(git rev-parse --short HEAD \
    2>/dev/null || echo no git)$(git diff --quiet HEAD 2>/dev/null || echo ', dirty tree'))"
echo "test:    $size-byte file on $fstype, chunk $chunk, $runs runs x $rounds rounds," \
    "bound $bound_pct%"

step_timeout=900

run_lab() {
    timeout "$step_timeout" "$zcq" copies --file "$file" --method copy,sendfile --to tcp \
        --cache warm --chunk "$chunk" --runs "$runs" --json >"$tmp/lab.$1.json" ||
        die "round $1: zcq copies failed (exit $?)"
}

run_ref() {
    timeout "$step_timeout" "$ref" --file "$file" --method "$2" --chunk "$chunk" \
        --runs "$runs" >"$tmp/ref-$2.$1.json" || die "round $1: xfer_ref --method $2 failed"
}

# Uncounted: brings the machine to a steady state (CPU clocks, TCP memory, the new file's pages)
# so that round 1 is not the odd one out.
for m in copy sendfile; do
    run_ref warmup "$m"
done

for ((r = 1; r <= rounds; r++)); do
    echo "round $r/$rounds ..." >&2
    if ((r % 2)); then
        run_lab "$r"
        run_ref "$r" copy
        run_ref "$r" sendfile
    else
        run_ref "$r" sendfile
        run_ref "$r" copy
        run_lab "$r"
    fi
done

# Reads every round's output, prints the tables, exits 1 if a method is outside the bound.
IFS= read -r -d '' report <<'EOF' || true
import json, statistics, sys

tmp, rounds, size, chunk, runs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), \
    int(sys.argv[4]), int(sys.argv[5])
bound = float(sys.argv[6]) / 100
methods = ("copy", "sendfile")

def fail(msg):
    print("copies_honesty: " + msg, file=sys.stderr)
    sys.exit(1)

def num(obj, key, where):
    v = obj.get(key)
    if isinstance(v, bool) or not isinstance(v, (int, float)) or v <= 0:
        fail(f"{where}: \"{key}\" is missing or not a positive number: {v!r}")
    return float(v)

def lab(r):
    where = f"round {r}: zcq copies --json"
    try:
        with open(f"{tmp}/lab.{r}.json") as f:
            doc = json.load(f)
    except (OSError, ValueError) as e:
        fail(f"{where}: not JSON: {e}")
    if not isinstance(doc, list):
        fail(f"{where}: expected a JSON array of objects")
    out = {}
    for m in methods:
        hits = [o for o in doc if isinstance(o, dict) and o.get("method") == m
                and o.get("cache") == "warm"]
        if len(hits) != 1:
            fail(f"{where}: expected one object with method {m} and cache warm, got {len(hits)}")
        o = hits[0]
        # Where the lab says what it measured, it must be what was asked for, and a run it
        # marks as failed or unverified has no number worth comparing.
        for key, want in (("chunk", chunk), ("runs", runs), ("size_bytes", size), ("ok", True),
                          ("verified", True)):
            if key in o and o[key] != want:
                fail(f"{where}: {m} reports {key} {o[key]!r}, expected {want!r}"
                     + (f" ({o['error']})" if o.get("error") else ""))
        out[m] = (num(o, "throughput_gbps", where), num(o, "throughput_min_gbps", where),
                  num(o, "throughput_max_gbps", where))
    return out

def ref(r, m):
    where = f"round {r}: xfer_ref --method {m}"
    try:
        with open(f"{tmp}/ref-{m}.{r}.json") as f:
            lines = [json.loads(l) for l in f if l.strip()]
    except (OSError, ValueError) as e:
        fail(f"{where}: bad output: {e}")
    if not lines or "throughput_gbps_median" not in lines[-1]:
        fail(f"{where}: no summary line")
    s = lines[-1]
    return (num(s, "throughput_gbps_median", where), num(s, "min", where), num(s, "max", where))

labs = [lab(r) for r in range(1, rounds + 1)]
refs = [{m: ref(r, m) for m in methods} for r in range(1, rounds + 1)]

print()
print("GB/s = 1e9 bytes/s; median of each invocation's runs (min-max)")
print(f"{'round':<6}{'method':<10}{'lab':>24}{'reference':>24}{'lab/ref':>9}")
for r in range(rounds):
    for m in methods:
        a, b = labs[r][m], refs[r][m]
        print(f"{r + 1:<6}{m:<10}{f'{a[0]:.3f} ({a[1]:.3f}-{a[2]:.3f})':>24}"
              f"{f'{b[0]:.3f} ({b[1]:.3f}-{b[2]:.3f})':>24}{a[0] / b[0]:>9.3f}")

print()
print("medians over rounds; lab/ref is the median of the rounds' ratios")
print(f"{'method':<10}{'lab GB/s':>10}{'ref GB/s':>10}{'lab/ref':>9}  result (bound {bound:.0%})")
bad = 0
for m in methods:
    a = statistics.median(x[m][0] for x in labs)
    b = statistics.median(x[m][0] for x in refs)
    ratio = statistics.median(labs[r][m][0] / refs[r][m][0] for r in range(rounds))
    ok = abs(ratio - 1) <= bound
    bad += not ok
    print(f"{m:<10}{a:>10.3f}{b:>10.3f}{ratio:>9.3f}  {'PASS' if ok else 'FAIL'}")
sys.exit(1 if bad else 0)
EOF

"$py" -c "$report" "$tmp" "$rounds" "$size" "$chunk" "$runs" "$bound_pct"
