#!/usr/bin/env bash
# Many partitions (docs/benchmarks.md, "Many partitions"): 2,000 partitions in two topics
# hold one file descriptor each (not four: index files are mapped and closed, the partition
# directory is opened only to sync it) and a few KiB of disk each (indexes grow from one page,
# where each used to take 20 MiB preallocated); records spread over all of them are produced
# and consumed; a restart under an open-file limit too low for them is refused at once with
# the reason, and one that fits them at one descriptor each starts.
source "$(dirname "$0")/lib.bash"

PARTS=1000 # per topic; two topics
hard=$(ulimit -Hn)
if [ "$hard" != unlimited ] && [ "$hard" -lt $((2 * PARTS + 600)) ]; then
    echo "  skip: open files limited to $hard" >&2
    exit 77
fi
start_broker mp
for t in a b; do
    "$ZCQ" topics create "$t" --partitions "$PARTS" --bootstrap "$BROKER" --timeout-ms 120000 \
        >/dev/null || fail "create topic $t"
done
alive "creating the topics"
fds=$(ls "/proc/$BROKER_PID/fd" | wc -l)
[ "$fds" -lt $((2 * PARTS + 100)) ] || fail "$fds open files for $((2 * PARTS)) partitions"
kb=$(du -sk "$T/mp.data" | cut -f1)
[ "$kb" -lt $((2 * PARTS * 64)) ] || fail "$kb KiB on disk for $((2 * PARTS)) empty partitions"
echo "  $((2 * PARTS)) partitions: $fds open files, $kb KiB on disk"

# Records at random over every partition of a (librdkafka's sticky partitioner off).
"$ZCQ" perf produce --bootstrap "$BROKER" --topic a --records 5000 --record-size 50 --acks 1 \
    --json -X sticky.partitioning.linger.ms=0 --timeout-ms 120000 >"$T/produce.json" ||
    fail "produce over $PARTS partitions: $(cat "$T/produce.json")"
"$ZCQ" perf consume --bootstrap "$BROKER" --topic a --records 5000 --json --timeout-ms 60000 \
    >"$T/consume.json" || fail "consume from $PARTS partitions"
grep -q '"records":5000,' "$T/consume.json" || fail "consumed: $(cat "$T/consume.json")"
alive "producing and consuming"
stop_broker

# Too few descriptors for the partitions on disk: refused before opening any, with the reason.
(
    ulimit -n $((PARTS + 200))
    "$ZCQ_BROKER" serve --listen 127.0.0.1:0 --data-dir "$T/mp.data" >"$T/low.out" 2>"$T/low.err"
)
rc=$?
[ "$rc" -eq 1 ] || fail "a broker with too few open files exited $rc: $(cat "$T/low.err")"
grep -q "holds $((2 * PARTS)) partitions" "$T/low.err" ||
    fail "no reason for refusing to start: $(cat "$T/low.err")"

# Enough for one descriptor per partition (four each would need 8,000): it starts, with
# every partition and its records.
ulimit -n $((2 * PARTS + 600))
start_broker mp
grep -q "leave room for fewer than max.connections" "$T/mp.log" ||
    fail "no warning that few connections fit"
"$ZCQ" perf consume --bootstrap "$BROKER" --topic a --records 5000 --json --timeout-ms 60000 \
    >"$T/consume2.json" || fail "consume after the restart"
grep -q '"records":5000,' "$T/consume2.json" || fail "after the restart: $(cat "$T/consume2.json")"
[ "$("$ZCQ" topics list --bootstrap "$BROKER" | grep -c "$PARTS")" -eq 2 ] ||
    fail "topics after the restart: $("$ZCQ" topics list --bootstrap "$BROKER")"
stop_broker
check_broker_log mp
finish
