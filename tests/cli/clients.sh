#!/usr/bin/env bash
# The Kafka client commands (zcq topics, produce, consume, perf) against a real zcq serve: every
# command end to end, records compared exactly (per partition, in order, with keys and headers),
# --follow stopped by SIGTERM, start by timestamp, and the error paths: one line on stderr, exit
# 2 for bad usage and 1 for failures, and no hang when no broker listens.
source "$(dirname "$0")/../integration/lib.bash"

FOLLOW_PID=
trap '[ -n "$FOLLOW_PID" ] && kill -9 "$FOLLOW_PID" 2>/dev/null; stop_broker KILL; rm -rf "$T"' EXIT

start_broker clients
B=$BROKER

# zcq with the broker's address (options may follow the positional arguments).
z() { "$ZCQ" "$@" --bootstrap "$B"; }

# --- help --------------------------------------------------------------------------------------
for c in topics produce consume perf; do
    "$ZCQ" $c --help >"$T/help" 2>&1 || fail "$c --help: non-zero exit"
    grep -q -- '--bootstrap' "$T/help" || fail "$c --help does not document --bootstrap"
    grep -q "^usage: zcq $c" "$T/help" || fail "$c --help has no usage line"
done
"$ZCQ" --help | grep -q '^  produce' || fail "zcq --help does not list produce"

# --- topics ------------------------------------------------------------------------------------
z topics create cli3 --partitions 3 --config retention.ms=3600000 >"$T/out" ||
    fail "topics create cli3"
grep -qx 'created topic cli3' "$T/out" || fail "topics create said: $(cat "$T/out")"
z topics list >"$T/list" || fail "topics list"
grep -qxF $'cli3\t3' "$T/list" || fail "topics list lacks 'cli3<TAB>3': $(cat "$T/list")"
z topics describe cli3 >"$T/desc" || fail "topics describe"
[ "$(grep -c '^  partition: ' "$T/desc")" -eq 3 ] || fail "describe: not 3 partitions"
grep -q 'partitions: 3' "$T/desc" || fail "describe: no partition count"
grep -Eq '^  partition: 2  leader: [0-9]+  replicas: [0-9]+  isr: [0-9]+$' "$T/desc" ||
    fail "describe: partition 2 line: $(grep 'partition: 2' "$T/desc")"
grep -q '^  retention.ms=3600000  (source: DYNAMIC_TOPIC_CONFIG' "$T/desc" ||
    fail "describe: retention.ms set at creation is not shown as the topic's own"
grep -q '^  segment.bytes=[0-9]*  (source: DEFAULT_CONFIG' "$T/desc" ||
    fail "describe: segment.bytes default not shown"
expect_error "create an existing topic" topics create cli3 --bootstrap "$B"
says "already exists"
expect_error "create with an unknown setting" topics create bad --config no.such=1 --bootstrap "$B"
says "no.such"
expect_error "describe a missing topic" topics describe no-such-topic --bootstrap "$B"
says "topic no-such-topic does not exist"
z topics list | grep -q no-such-topic && fail "describe created the topic it was asked about"

alive "topics"

# --- produce and consume: keys and headers, from a file and from stdin -------------------------
for i in $(seq 1 300); do echo "key$((i % 7)):value-$i"; done >"$T/in-file"
for i in $(seq 1 100); do echo "skey$((i % 5)):stdin-$i:with:colons"; done >"$T/in-stdin"
z produce --topic cli3 --file "$T/in-file" --key-separator : --header src=file --header n=1 ||
    fail "produce from a file"
z produce --topic cli3 --key-separator : --header src=stdin <"$T/in-stdin" ||
    fail "produce from stdin"
z consume --topic cli3 --format '%p\t%k\t%v\t%h\n' >"$T/got" 2>"$T/err" || fail "consume: $(cat "$T/err")"
[ -s "$T/err" ] && fail "consume wrote to stderr: $(cat "$T/err")"
[ "$(wc -l <"$T/got")" -eq 400 ] || fail "consumed $(wc -l <"$T/got") records, expected 400"
# Per partition, the records must be exactly the input lines that went there, in input order;
# a key always goes to the same partition; the headers are those of the record's producer.
cat "$T/in-file" "$T/in-stdin" >"$T/in-all"
awk -F'\t' '
    NR == FNR {
        part[$3] = $1
        got[$1] = got[$1] $2 ":" $3 "\n"
        if ($2 in kp && kp[$2] != $1) { print "key " $2 " in two partitions"; bad++ }
        kp[$2] = $1
        want_h = ($3 ~ /^value-/) ? "src=file,n=1" : "src=stdin"
        if ($4 != want_h) { print "headers of " $3 ": " $4; bad++ }
        next
    }
    {
        i = index($0, ":"); v = substr($0, i + 1)
        if (!(v in part)) { print "missing: " $0; bad++; next }
        want[part[v]] = want[part[v]] $0 "\n"
    }
    END {
        for (p in got) if (got[p] != want[p]) { print "partition " p " differs"; bad++ }
        exit bad != 0
    }' "$T/got" "$T/in-all" >"$T/cmp" || fail "consumed records differ: $(head -5 "$T/cmp")"

# One partition, from an offset, a count.
p1=$(awk -F'\t' '$1 == 1' "$T/got" | wc -l)
[ "$p1" -ge 5 ] || fail "partition 1 holds only $p1 records"
z consume --topic cli3 --partition 1 --from 2 --count 3 --format '%p %o\n' >"$T/got1" ||
    fail "consume --partition --from --count"
[ "$(cat "$T/got1")" = "$(printf '1 2\n1 3\n1 4')" ] || fail "partition 1 from 2: $(cat "$T/got1")"
# An offset past the end is clamped to it: nothing to print, exit 0.
z consume --topic cli3 --partition 1 --from 999999 >"$T/none" || fail "consume past the end"
[ -s "$T/none" ] && fail "consume past the end printed records"

# Compression codecs and acks: what goes in comes out.
z topics create clicodec --partitions 1 >/dev/null || fail "create clicodec"
for codec in none gzip snappy lz4 zstd; do
    for acks in 0 1 all; do echo "$codec-$acks"; done |
        z produce --topic clicodec --compression $codec --acks 1 || fail "produce with $codec"
done
z consume --topic clicodec >"$T/codec" || fail "consume compressed records"
for codec in none gzip snappy lz4 zstd; do for acks in 0 1 all; do echo "$codec-$acks"; done; done |
    diff - "$T/codec" >/dev/null || fail "compressed records differ: $(head -3 "$T/codec")"
for acks in 0 1 all; do
    echo "acks-$acks" | z produce --topic clicodec --acks $acks || fail "produce --acks $acks"
done

alive "produce and consume"

# --- consume --from end --follow, stopped by SIGTERM -------------------------------------------
# Run the binary itself in the background (not through z, a shell function, whose subshell
# would take the signal).
"$ZCQ" consume --topic cli3 --from end --follow --format '%v\n' --bootstrap "$B" \
    >"$T/follow" 2>"$T/follow.err" &
FOLLOW_PID=$!
# The follower settles its start when its first fetch answers; probe until it prints one.
probe=0
followed() {
    probe=$((probe + 1))
    echo "probe-$probe" | z produce --topic cli3 --partition 0 || return 1
    grep -q '^probe-' "$T/follow"
}
wait_for "the follower to print a probe record" followed
seq 1 20 | sed 's/^/new-/' | z produce --topic cli3 || fail "produce while following"
got_new() { [ "$(grep -c '^new-' "$T/follow")" -eq 20 ]; }
wait_for "the follower to print the 20 new records" got_new
kill -TERM "$FOLLOW_PID"
wait "$FOLLOW_PID"
rc=$?
FOLLOW_PID=
[ "$rc" -eq 0 ] || fail "consume --follow exited $rc after SIGTERM"
[ -s "$T/follow.err" ] && fail "consume --follow wrote to stderr: $(cat "$T/follow.err")"
grep -Eq '^(value|stdin)-' "$T/follow" && fail "consume --from end printed old records"
[ "$(grep '^new-' "$T/follow" | sort -V)" = "$(seq 1 20 | sed 's/^/new-/')" ] ||
    fail "the follower printed: $(grep '^new-' "$T/follow" | tr '\n' ' ')"

alive "consume --follow"

# --- consume from a timestamp ------------------------------------------------------------------
z topics create clits --partitions 2 >/dev/null || fail "create clits"
seq 1 5 | sed 's/^/before-/' | z produce --topic clits || fail "produce before"
last=$(z consume --topic clits --format '%T\n' | sort -n | tail -1)
ts=$((last + 1))
# Records made from now on carry a later clock: wait until the clock has passed ts.
clock_past() { [ "$(date +%s%3N)" -ge "$ts" ]; }
wait_for "the clock to pass $ts" clock_past
seq 1 5 | sed 's/^/after-/' | z produce --topic clits || fail "produce after"
z consume --topic clits --from "@$ts" >"$T/ts" || fail "consume --from @$ts"
[ "$(sort -V "$T/ts")" = "$(seq 1 5 | sed 's/^/after-/')" ] ||
    fail "consume --from @$ts printed: $(tr '\n' ' ' <"$T/ts")"
z consume --topic clits --from "@$((ts + 86400000))" >"$T/ts2" || fail "consume from the future"
[ -s "$T/ts2" ] && fail "consume from a future time printed records"

alive "consume from a timestamp"

# --- delete ------------------------------------------------------------------------------------
z topics delete clits >"$T/out" || fail "topics delete"
grep -qx 'deleted topic clits' "$T/out" || fail "topics delete said: $(cat "$T/out")"
z topics list >"$T/list" || fail "topics list after delete"
grep -q '^clits' "$T/list" && fail "topics list still shows a deleted topic"
expect_error "delete a missing topic" topics delete clits --bootstrap "$B"
says "Unknown topic"

alive "delete"

# --- runtime errors ----------------------------------------------------------------------------
expect_error "consume a missing topic (consumers do not create topics)" \
    consume --topic no-such-topic --bootstrap "$B"
says "topic no-such-topic does not exist"
z topics list | grep -q no-such-topic && fail "consume created the topic"
{
    head -c 1200000 /dev/zero | tr '\0' x
    printf '\nsmall\n'
} >"$T/big"
expect_error "a record over message.max.bytes" produce --topic cli3 --file "$T/big" --bootstrap "$B"
grep -q '1 of 2 records failed' "$T/err" || fail "the failed record is not counted: $(cat "$T/err")"
expect_error "produce to a partition that does not exist" \
    produce --topic cli3 --partition 3 --file "$T/in-file" --bootstrap "$B"
says "partition 3 does not exist"

# No broker: a port nothing listens on. Each must answer within its --timeout-ms.
dead=127.0.0.1:1
for cmd in "topics list" "topics create x" "produce --topic x --file $T/in-file" \
    "consume --topic x" "perf produce --topic x --records 10 --record-size 10" \
    "perf consume --topic x"; do
    start=$SECONDS
    # shellcheck disable=SC2086
    expect_error "no broker: $cmd" $cmd --bootstrap $dead --timeout-ms 3000
    says "cannot reach broker $dead"
    [ $((SECONDS - start)) -le 6 ] || fail "no broker: $cmd took $((SECONDS - start)) s"
done

# --- usage errors: exit 2, one line ------------------------------------------------------------
expect_usage "no subcommand" topics
expect_usage "unknown subcommand" topics frobnicate
expect_usage "create without a name" topics create
expect_usage "create option given to list" topics list --partitions 3
expect_usage "zero partitions" topics create x --partitions 0
expect_usage "produce without a topic" produce
expect_usage "unknown option" produce --topic x --bogus
expect_usage "option without value" produce --topic x --partition
expect_usage "bad acks" produce --topic x --acks 2
expect_usage "bad compression" produce --topic x --compression brotli
expect_usage "bad header" produce --topic x --header novalue
expect_usage "bad --from" consume --topic x --from yesterday
expect_usage "bad format directive" consume --topic x --format '%q'
expect_usage "zero count" consume --topic x --count 0
expect_usage "stray argument" consume --topic x extra
expect_usage "bad timeout" consume --topic x --timeout-ms 0
expect_usage "unknown librdkafka property" consume --topic x -X no.such.property=1
expect_usage "perf without mode" perf
expect_usage "perf produce without sizes" perf produce --topic x
expect_usage "produce-only option to perf consume" perf consume --topic x --rate 5

alive "errors"

# --- perf --------------------------------------------------------------------------------------
# json_num FILE KEY: the number after "KEY": in a one-line JSON object.
json_num() { grep -o "\"$2\":[0-9.]*" "$1" | head -1 | cut -d: -f2; }
z perf produce --topic cliperf --records 200000 --record-size 100 --json >"$T/pp" 2>"$T/pp.err" ||
    fail "perf produce: $(cat "$T/pp.err")"
[ -s "$T/pp.err" ] && fail "perf produce --json wrote to stderr: $(cat "$T/pp.err")"
[ "$(json_num "$T/pp" records)" = 200000 ] || fail "perf produce: $(cat "$T/pp")"
[ "$(json_num "$T/pp" failed)" = 0 ] || fail "perf produce failures: $(cat "$T/pp")"
[ "$(json_num "$T/pp" bytes)" = 20000000 ] || fail "perf produce bytes: $(cat "$T/pp")"
awk -v r="$(json_num "$T/pp" records_per_s)" -v m="$(json_num "$T/pp" mb_per_s)" \
    -v e="$(json_num "$T/pp" elapsed_s)" -v p50="$(json_num "$T/pp" p50)" \
    -v p99="$(json_num "$T/pp" p99)" -v p999="$(json_num "$T/pp" p99_9)" \
    -v max="$(json_num "$T/pp" max)" \
    'BEGIN { ok = r > 0 && m > 0 && e > 0 && p50 > 0 && p50 <= p99 && p99 <= p999 &&
                  p999 <= max && (r * 100 / 1048576 - m) ^ 2 < 0.01 * m * m;
             exit !ok }' || fail "perf produce numbers are not sane: $(cat "$T/pp")"
z perf produce --topic cliperf --records 1000 --record-size 10 >"$T/pt" 2>/dev/null ||
    fail "perf produce (text)"
grep -Eq '^1000 records sent in [0-9.]+ s: [0-9.]+ records/s \([0-9.]+ MB/s\)$' "$T/pt" ||
    fail "perf produce text: $(head -1 "$T/pt")"
grep -Eq '^latency ms: avg [0-9.]+, p50 [0-9.]+, p99 [0-9.]+, p99.9 [0-9.]+, max [0-9.]+$' \
    "$T/pt" || fail "perf produce latency line: $(tail -1 "$T/pt")"
z perf consume --topic cliperf --json >"$T/pc" 2>"$T/pc.err" || fail "perf consume: $(cat "$T/pc.err")"
[ "$(json_num "$T/pc" records)" = 201000 ] || fail "perf consume counted: $(cat "$T/pc")"
[ "$(json_num "$T/pc" bytes)" = 20010000 ] || fail "perf consume bytes: $(cat "$T/pc")"
z perf consume --topic cliperf --records 5000 >"$T/pc2" 2>/dev/null || fail "perf consume --records"
grep -Eq '^5000 records \([0-9.]+ MB\) read in ' "$T/pc2" || fail "perf consume: $(cat "$T/pc2")"
expect_error "perf consume of more records than there are" \
    perf consume --topic cliperf --records 300000 --json --timeout-ms 1000 --bootstrap "$B"
says "only 201000 of 300000 records"

alive "perf"
stop_broker
check_broker_log
finish
