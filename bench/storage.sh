#!/usr/bin/env bash
# storage.sh: every storage benchmark of docs/storage.md in one command. Builds zcq and
# bench/store_bench (release), checks the free disk, runs each measurement against the goals of
# the storage issue, and prints a table of results with PASS/FAIL per goal.
#
#   bench/storage.sh            the full run (about 8 minutes; needs about 13 GiB free disk)
#   QUICK=1 bench/storage.sh    small sizes, a smoke test of the script (numbers not meaningful)
#
# Goals, and how each is measured (a reference measured in the same run where there is one):
#   1. 1 MiB appends reach >= 90% of the machine's sequential write rate: store_bench append
#      against dd (and fio when installed), same size, in rounds whose order alternates; each
#      round gives a ratio, the verdict is the median ratio. Page-cache mode with one final
#      fdatasync on both sides (and, informative, neither syncing); Direct I/O mode against
#      dd oflag=direct / fio --direct=1, both ending with a sync.
#   2. flush.messages=1 with 32 appenders on 16 partitions keeps >= 50% of the no-sync
#      throughput: alternating rounds of the same layout, without and with sync on each append.
#   3. A lookup (zcq_log_read at a random offset + release) on a 1M-batch log takes < 2 us.
#   4. A clean open of 10 GiB in ~1,000 segments takes < 0.5 s; an unclean open costs what the
#      unflushed tail costs, whatever the log's size.
#   5. An open partition costs <= 64 KiB of memory beyond its index mappings: the larger of
#      its heap (mallinfo2) and its RSS growth, with 1,000 logs open.
#   6. (informative) read throughput, page cache warm/evicted vs Direct I/O and its cache.
#
# Environment: ROUNDS (default 5), MIB (goal 1 size, default 2048), BIG_GIB (goal 4, default 10,
# scaled down to fit the disk, which is then said), LOGS (goal 5, default 1000), CC (as for
# make). Everything is written under a temporary directory in build/, removed on exit. Exit
# status: 0 every goal passed, 1 a goal failed or something broke, 2 usage.
set -euo pipefail

die() {
    echo "storage: $*" >&2
    exit 1
}

case "${1:-}" in
-h | --help)
    sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
    exit 0
    ;;
"") ;;
*)
    echo "usage: bench/storage.sh   (settings through the environment; --help)" >&2
    exit 2
    ;;
esac

if [ "${QUICK:-0}" = 1 ]; then
    : "${ROUNDS:=2}" "${MIB:=256}" "${BIG_GIB:=1}" "${LOGS:=100}" "${LOOKUP_BATCHES:=100000}"
    : "${GROUP_MIB:=8}" "${SUSTAINED_MIB:=16}" "${READ_MIB:=256}"
fi
ROUNDS=${ROUNDS:-5}
MIB=${MIB:-2048}
BIG_GIB=${BIG_GIB:-10}
LOGS=${LOGS:-1000}
LOOKUP_BATCHES=${LOOKUP_BATCHES:-1000000}
GROUP_MIB=${GROUP_MIB:-64}          # per thread, 32 threads: 2 GiB a run
SUSTAINED_MIB=${SUSTAINED_MIB:-320} # per thread: 10 GiB, past the kernel's dirty limit
READ_MIB=${READ_MIB:-1024}
SEGMENT_MIB=10 # goal 4: 10 GiB in ~1,000 segments
TAIL_MIB=8     # goal 4: the unflushed tail, below a segment (a roll makes a flush due)

for v in ROUNDS MIB BIG_GIB LOGS LOOKUP_BATCHES GROUP_MIB SUSTAINED_MIB READ_MIB; do
    [[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive integer, not '${!v}'"
done

repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"

# fio is the second reference (scripts/deps.sh --bench installs it); without it, dd alone.
scripts/deps.sh --bench || echo "storage.sh: could not install fio; dd is the only reference" >&2

# A benchmark of a sanitizer build would measure the sanitizer, so the build is release.
cc_word=${CC:-cc}
cc_word=${cc_word%% *}
make -s BUILD=release zcq bench || die "build failed (make BUILD=release zcq bench)"
bench=build/${cc_word##*/}-release/bench/store_bench
[ -x "$bench" ] || die "$bench is not an executable"

# On the repo's disk (what zcq would use), not /tmp, which may be tmpfs.
mkdir -p build
tmp=$(mktemp -d "$repo/build/storage.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

have_fio=0
command -v fio >/dev/null && command -v python3 >/dev/null && have_fio=1

cpu=$(grep -m1 -E '^model name[[:space:]]*:' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//') || true
fstype=$(findmnt -no FSTYPE -T "$tmp" 2>/dev/null || stat -f -c %T "$tmp")
dev=$(findmnt -no SOURCE -T "$tmp" 2>/dev/null || echo unknown)
memtotal=$(awk '/^MemTotal:/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)
echo "machine: $(nproc) CPUs, ${cpu:-unknown CPU}, $memtotal, Linux $(uname -r) $(uname -m)"
echo "disk:    $fstype on $dev; dirty_ratio $(cat /proc/sys/vm/dirty_ratio)%," \
    "dirty_background_ratio $(cat /proc/sys/vm/dirty_background_ratio)%"
echo "date:    $(date -u +%Y-%m-%dT%H:%M:%SZ)"
echo "zcq:     $(git rev-parse --short HEAD 2>/dev/null || echo no git)$(git diff --quiet HEAD \
    2>/dev/null || echo ', dirty tree'); references: dd$([ $have_fio = 1 ] && echo ", $(fio \
    --version)")"

# Disk: the largest part (goal 4's log) must fit with room to spare; scale it down otherwise.
avail_mib=$(($(df --output=avail -B1M "$tmp" | tail -n 1 | tr -d ' ')))
spare_mib=2048
need_small=$((MIB + 1024 > LOGS * 21 ? MIB + 1024 : LOGS * 21))
need_small=$((need_small > SUSTAINED_MIB * 32 ? need_small : SUSTAINED_MIB * 32))
[ "$avail_mib" -gt $((need_small + spare_mib)) ] ||
    die "$avail_mib MiB free in $tmp; need $((need_small + spare_mib)) MiB"
big_note=""
if [ "$avail_mib" -lt $((BIG_GIB * 1024 + 1024 + spare_mib)) ]; then
    BIG_GIB=$(((avail_mib - 1024 - spare_mib) / 1024))
    [ "$BIG_GIB" -ge 1 ] || die "not enough disk for goal 4"
    big_note=" (scaled down to fit $avail_mib MiB free)"
fi
echo "free:    $avail_mib MiB in $tmp; goal 4 log: $BIG_GIB GiB$big_note"
echo

results=$tmp/results
: >"$results"

# The value of key in a "result ..." line.
field() {
    sed -n "s/.* $2=\([^ ]*\).*/\1/p" <<<"$1"
}

# Run store_bench, keep its result line (stdout), show progress on stderr.
sb() {
    local out
    out=$("$bench" "$@") || die "store_bench $* failed"
    echo "$out" >>"$results"
    echo "  $out" >&2
    printf '%s\n' "$out" | tail -n 1
}

# Everything written so far is on disk, so nothing is left to write back during the next run.
settle() {
    sync
}

# dd: MB/s of writing $MIB MiB of zeros to a new file, with the extra flags given.
dd_mbps() {
    local f=$tmp/dd.dat out line
    out=$(LC_ALL=C dd if=/dev/zero of="$f" bs=1M count="$MIB" "$@" 2>&1) || die "dd $*: $out"
    rm -f "$f"
    line=$(sed -n 's/^\([0-9][0-9]*\) bytes.* copied, \([0-9.e+-]*\) s,.*/\1 \2/p' <<<"$out")
    [ -n "$line" ] || die "cannot read dd's output: $out"
    awk '{ printf "%.1f\n", $1 / $2 / 1e6 }' <<<"$line"
}

# fio: MB/s of a sequential 1 MiB write of $MIB MiB (psync), direct and end_fsync as given. Its
# runtime includes the final fsync.
fio_mbps() {
    local f=$tmp/fio.dat
    fio --name=seqwrite --filename="$f" --rw=write --bs=1M --size="${MIB}m" --ioengine=psync \
        --direct="$1" --end_fsync="$2" --fallocate=none --output-format=json \
        >"$tmp/fio.json" 2>"$tmp/fio.err" || die "fio failed: $(cat "$tmp/fio.err")"
    rm -f "$f"
    python3 -c 'import json, sys
j = json.load(open(sys.argv[1]))["jobs"][0]["write"]
print("%.1f" % (j["bw_bytes"] / 1e6))' "$tmp/fio.json"
}

median() {
    sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "nan"; else if (NR % 2) print v[(NR + 1) / 2];
        else printf "%.4g\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

ratio() {
    awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f\n", a / b }'
}

# ge A B: A >= B (floats)
ge() {
    awk -v a="$1" -v b="$2" 'BEGIN { exit !(a >= b) }'
}

table=$tmp/table
: >"$table"
failed=0
# row GOAL WHAT MEASURED REFERENCE RATIO TARGET VERDICT
row() {
    printf '| %s | %s | %s | %s | %s | %s | %s |\n' "$@" >>"$table"
    [ "$7" != FAIL ] || failed=1
}
verdict() { # verdict CONDITION-EXIT-STATUS
    if [ "$1" -eq 0 ]; then echo PASS; else echo FAIL; fi
}

# --- 1. sequential append rate ------------------------------------------------------------
echo "1. append 1 MiB batches vs dd$([ $have_fio = 1 ] && echo '/fio'), $MIB MiB, $ROUNDS rounds" >&2
declare -A r1
append_seg_mib=$((MIB + 64 < 4095 ? MIB + 64 : 4095))
for ((r = 1; r <= ROUNDS; r++)); do
    for case in pagecache-sync direct-sync pagecache-nosync; do
        case $case in
        pagecache-sync) dd_args=(conv=fdatasync) sb_args=(--sync-end 1) fio_args=(0 1) ;;
        direct-sync) dd_args=(oflag=direct conv=fdatasync) sb_args=(--mode direct --sync-end 1)
            fio_args=(1 1) ;;
        pagecache-nosync) dd_args=() sb_args=(--sync-end 0) fio_args=(0 0) ;;
        esac
        # One segment holds it all: a roll makes the segment it closes due for a sync, which dd never does.
        sb_args+=(--set "segment.bytes=$((append_seg_mib << 20))")
        steps=(dd store)
        [ $have_fio = 1 ] && [ ${#fio_args[@]} -gt 0 ] && steps+=(fio)
        ((r % 2)) || mapfile -t steps < <(printf '%s\n' "${steps[@]}" | tac)
        for step in "${steps[@]}"; do
            settle
            case $step in
            dd) v=$(dd_mbps "${dd_args[@]}") ;;
            fio) v=$(fio_mbps "${fio_args[@]}") ;;
            store) v=$(field "$(sb append --dir "$tmp/append" --mib "$MIB" "${sb_args[@]}")" mbps) ;;
            esac
            echo "  round $r $case $step: $v MB/s" >&2
            r1[$case.$step]+="$v "
            if [ "$step" = store ]; then r1[$case.store_now]=$v; fi
        done
        for ref in dd fio; do
            last=$(tr ' ' '\n' <<<"${r1[$case.$ref]:-}" | grep . | tail -n 1 || true)
            [ -n "$last" ] && r1[$case.ratio_$ref]+="$(ratio "${r1[$case.store_now]}" "$last") "
        done
    done
done
for case in pagecache-sync direct-sync pagecache-nosync; do
    store=$(tr ' ' '\n' <<<"${r1[$case.store]}" | grep . | median)
    for ref in dd fio; do
        [ -n "${r1[$case.$ref]:-}" ] || continue
        refm=$(tr ' ' '\n' <<<"${r1[$case.$ref]}" | grep . | median)
        rat=$(tr ' ' '\n' <<<"${r1[$case.ratio_$ref]}" | grep . | median)
        ge "$rat" 0.90 && ok=0 || ok=1
        v=$(verdict "$ok")
        case $case in
        pagecache-sync) what="1 MiB appends, page-cache mode, one fdatasync at the end (both)" ;;
        direct-sync) what="1 MiB appends, Direct I/O mode, one fdatasync at the end (both)" ;;
        pagecache-nosync)
            what="1 MiB appends, page-cache mode, no sync on either side"
            [ "$ok" = 0 ] && v="(informative)" || v="(informative: below)"
            ;;
        esac
        row 1 "$what" "$store MB/s" "$ref $refm MB/s" "$rat" ">= 0.90" "$v"
    done
done

# --- 2. group commit ----------------------------------------------------------------------
echo "2. group commit: 16 partitions, 32 threads, $GROUP_MIB MiB each, $ROUNDS rounds" >&2
g_no=() g_no_app=() g_sync=() g_rat=() g_rat_app=() g_aps=()
for ((r = 1; r <= ROUNDS; r++)); do
    order=(0 1)
    ((r % 2)) || order=(1 0)
    for se in "${order[@]}"; do
        settle
        line=$(sb group --dir "$tmp/group" --parts 16 --threads 32 --mib "$GROUP_MIB" \
            --sync-each "$se")
        if [ "$se" = 1 ]; then
            s=$(field "$line" mbps_durable)
            g_sync+=("$s")
            g_aps+=("$(field "$line" appends_per_sync)")
        else
            n=$(field "$line" mbps_durable)
            na=$(field "$line" mbps_appended)
            g_no+=("$n")
            g_no_app+=("$na")
        fi
    done
    g_rat+=("$(ratio "$s" "$n")")
    g_rat_app+=("$(ratio "$s" "$na")")
done
sync_m=$(printf '%s\n' "${g_sync[@]}" | median)
no_m=$(printf '%s\n' "${g_no[@]}" | median)
no_app_m=$(printf '%s\n' "${g_no_app[@]}" | median)
rat=$(printf '%s\n' "${g_rat[@]}" | median)
rat_app=$(printf '%s\n' "${g_rat_app[@]}" | median)
aps=$(printf '%s\n' "${g_aps[@]}" | median)
ge "$rat" 0.5 && ok=0 || ok=1
row 2 "sync each append (flush.messages=1), 16 parts x 32 threads, $((GROUP_MIB * 32)) MiB; $aps appends per fdatasync" \
    "$sync_m MB/s" "no sync + one flush at the end $no_m MB/s" "$rat" ">= 0.50" "$(verdict "$ok")"
row 2 "the same against the no-sync append rate alone (page cache absorbing $((GROUP_MIB * 32)) MiB, unflushed)" \
    "$sync_m MB/s" "no sync, unflushed $no_app_m MB/s" "$rat_app" "(informative)" "-"
echo "2b. sustained: $((SUSTAINED_MIB * 32)) MiB, past the dirty limit" >&2
settle
line=$(sb group --dir "$tmp/group" --parts 16 --threads 32 --mib "$SUSTAINED_MIB" --sync-each 0)
n=$(field "$line" mbps_appended)
settle
line=$(sb group --dir "$tmp/group" --parts 16 --threads 32 --mib "$SUSTAINED_MIB" --sync-each 1)
s=$(field "$line" mbps_durable)
rat=$(ratio "$s" "$n")
ge "$rat" 0.5 && ok=0 || ok=1
row 2 "sustained, $((SUSTAINED_MIB * 32)) MiB (past the kernel's dirty limit), one round" "$s MB/s" \
    "no sync, unflushed $n MB/s" "$rat" ">= 0.50" "$(verdict "$ok")"

# --- 3. index lookup ----------------------------------------------------------------------
echo "3. lookups on a $LOOKUP_BATCHES-batch log" >&2
line=$(sb lookup --dir "$tmp/lookup" --batches "$LOOKUP_BATCHES" --lookups 1000000 --runs 3)
ns=$(field "$line" ns_per_lookup)
[ "${ns%.*}" -lt 2000 ] && ok=0 || ok=1
row 3 "lookup + release, $LOOKUP_BATCHES batches of $(field "$line" batch_bytes) B, page-cache mode, warm" \
    "$ns ns" "-" "-" "< 2000 ns" "$(verdict "$ok")"
line=$(sb lookup --dir "$tmp/lookup" --batches "$LOOKUP_BATCHES" --lookups 1000000 --runs 3 \
    --mode direct --cache-mib 256)
ns=$(field "$line" ns_per_lookup)
[ "${ns%.*}" -lt 2000 ] && ok=0 || ok=1
row 3 "the same in Direct I/O mode, zcq's cache (256 MiB) holding the log" "$ns ns" "-" "-" \
    "< 2000 ns" "$(verdict "$ok")"

# --- 4. open and recovery -----------------------------------------------------------------
echo "4. open: $BIG_GIB GiB in $SEGMENT_MIB MiB segments" >&2
settle
line=$(sb build --dir "$tmp/big" --mib $((BIG_GIB * 1024)) --segment-mib $SEGMENT_MIB)
segs=$(field "$line" segments)
settle
line=$(sb open --dir "$tmp/big" --segment-mib $SEGMENT_MIB --runs 5)
big_open=$(field "$line" seconds_median)
ge 0.5 "$big_open" && ok=0 || ok=1
row 4 "clean open, $BIG_GIB GiB in $segs segments$big_note, files cached" "$big_open s" "-" "-" \
    "< 0.5 s" "$(verdict "$ok")"
line=$(sb open --dir "$tmp/big" --segment-mib $SEGMENT_MIB --runs 3 --evict 1)
t=$(field "$line" seconds_median)
ge 0.5 "$t" && ok=0 || ok=1
row 4 "clean open, the same with its files dropped from the page cache" "$t s" "-" "-" "< 0.5 s" \
    "$(verdict "$ok")"
line=$(sb recover --dir "$tmp/big" --segment-mib $SEGMENT_MIB --tail-mib $TAIL_MIB --runs 3)
big_rec=$(field "$line" seconds_median)
big_scan=$(field "$line" scanned_bytes)
rm -rf "$tmp/big"
settle
sb build --dir "$tmp/small" --mib $((SEGMENT_MIB * 2)) --segment-mib $SEGMENT_MIB >/dev/null
line=$(sb recover --dir "$tmp/small" --segment-mib $SEGMENT_MIB --tail-mib $TAIL_MIB --runs 3)
small_rec=$(field "$line" seconds_median)
small_scan=$(field "$line" scanned_bytes)
rm -rf "$tmp/small"
# Recovery of the big log = a clean open's per-segment work + the tail's: it must not exceed
# the big log's clean open plus twice the small log's whole recovery, and both must have scanned
# only the tail.
lim=$(awk -v o="$big_open" -v s="$small_rec" 'BEGIN { printf "%.4f\n", o + 2 * s }')
ge "$lim" "$big_rec" && [ "$big_scan" = "$small_scan" ] && ok=0 || ok=1
row 4 "unclean open after a crash with a $TAIL_MIB MiB unflushed tail, $BIG_GIB GiB log (scanned $big_scan B; its clean open: $big_open s)" \
    "$big_rec s" "2-segment log, same tail: $small_rec s (scanned $small_scan B)" \
    "$(ratio "$big_rec" "$small_rec")" "<= clean open + 2 x small" "$(verdict "$ok")"

# --- 5. memory ----------------------------------------------------------------------------
echo "5. memory: $LOGS open logs" >&2
# Judged on the larger of heap (mallinfo2) and RSS growth per log: heap counts allocations
# never touched, RSS misses none that were touched (the Direct I/O cache is an mmap'd pool).
for mode in pagecache direct; do
    settle
    line=$(sb memory --dir "$tmp/mem" --logs "$LOGS" --mode $mode)
    for when in open used; do
        h=$(field "$line" heap_per_log_$when)
        rs=$(field "$line" rss_per_log_$when)
        worst=$(awk -v a="$h" -v b="$rs" 'BEGIN { printf "%.0f", (a > b ? a : b) }')
        [ "$worst" -le 65536 ] && ok=0 || ok=1
        if [ $when = open ]; then what="heap / RSS per open log, $mode mode, $LOGS logs"
        else what="... after one append + read each"; fi
        row 5 "$what" "$h B / $rs B" "-" "-" "<= 65536 B" "$(verdict "$ok")"
    done
done

# --- 6. modes (informative) ---------------------------------------------------------------
echo "6. read throughput, $READ_MIB MiB; small appends; Direct I/O group commit" >&2
settle
"$bench" read --dir "$tmp/read" --mib "$READ_MIB" --runs 3 | tee -a "$results" |
    grep '^result read ' | while read -r _ _ c rest; do
        line="result read $c $rest"
        row 6 "sequential read into memory, ${c#case=}" "$(field "$line" mbps) MB/s" "-" "-" \
            "(informative)" "-"
    done
for mode in pagecache direct; do
    n=200000
    [ $mode = direct ] && n=20000
    settle
    line=$(sb append --dir "$tmp/small-append" --mode $mode --batch-bytes 120 --batches $n)
    row 6 "append $n batches of $(field "$line" batch_bytes) B, $mode mode, one sync at the end" \
        "$(awk -v b="$(field "$line" batches)" -v s="$(field "$line" seconds)" \
            'BEGIN { printf "%.0f appends/s", b / s }')" "-" "-" "(informative)" "-"
done
for se in 0 1; do
    settle
    line=$(sb group --dir "$tmp/group" --mode direct --parts 16 --threads 32 --mib "$GROUP_MIB" \
        --sync-each $se)
    row 6 "Direct I/O, 16 parts x 32 threads, sync each $se ($(field "$line" appends_per_sync) appends per sync)" \
        "$(field "$line" mbps_durable) MB/s" "-" "-" "(informative)" "-"
done

echo
echo "| goal | what | measured | reference | ratio | target | result |"
echo "|---|---|---|---|---|---|---|"
cat "$table"
exit $failed
