#!/usr/bin/env bash
# Committed offsets survive the broker: a confluent-kafka group member reads part of a
# 3-partition topic and commits (synchronously; offsets.commit.required.acks is -1, the
# default); the broker restarts on the same data directory, and OffsetFetch must answer the
# acknowledged offsets, and a new member of the group must start each partition exactly at its
# committed offset and read everything after it (groups_commit.py checks).
#  1. a clean restart (SIGTERM);
#  2. SIGKILL right after the acknowledgement, the member still in the group;
#  3. SIGKILL while a member commits after every record (twice), with a journal snapshot due
#     every 64 KiB: every acknowledged commit must survive (what is committed afterwards is at
#     least the last acknowledged offset, and no more than the partition holds).
#  4. live members across a clean restart on the same port: they rejoin and consume on.
source "$(dirname "$0")/lib.bash"
source "$(dirname "$0")/groups.bash"
need_cmd "$KCAT" timeout
need_py confluent_kafka

C="$HERE/groups_commit.py"
PARTS=3
# A snapshot of the committed offsets is due every 64 KiB of journal, checked every 100 ms.
flags=("${GROUP_FLAGS[@]}" --zcq.offsets.snapshot.bytes 65536
    --log.flush.scheduler.interval.ms 100)
start_broker kr "${flags[@]}"
create_topic kr "$PARTS"
produce_seq kr 1 9000
"$PY" "$TOOL" ends "$BROKER" kr "$PARTS" >"$T/ends" || fail "ListOffsets: $(cat "$T/ends")"

# expect_committed GROUP FILE WHEN: OffsetFetch answers the offsets in FILE.
expect_committed() {
    "$PY" "$TOOL" committed "$BROKER" "$1" kr "$PARTS" >"$T/fetched" 2>&1
    if cmp -s "$T/fetched" "$2"; then
        echo "  ok: $3: OffsetFetch answers $(awk '{ printf "%s ", $2 }' "$2")"
    else
        fail "$3: OffsetFetch answers '$(tr '\n' ' ' <"$T/fetched")', committed" \
            "'$(tr '\n' ' ' <"$2")'"
    fi
}

# resume GROUP FILE WHEN: a new member starts at the offsets in FILE and reads to the ends.
resume() {
    if timeout 90 "$PY" "$C" resume "$BROKER" "$1" kr "$PARTS" "$2" "$T/ends" >"$T/resume" \
        2>"$T/resume.err"; then
        echo "  ok: $3: $(sed 's/^ *//' "$T/resume")"
    else
        fail "$3: $(grep -v '^%' "$T/resume.err" | tail -3)"
    fi
}

# 1. A clean restart.
timeout 90 "$PY" "$C" consume "$BROKER" r1 kr "$PARTS" 2000 "$T/r1" >/dev/null 2>"$T/r1.err" ||
    fail "consume r1: $(grep -v '^%' "$T/r1.err" | tail -3)"
expect_committed r1 "$T/r1" "before the restart"
stop_broker
start_broker kr "${flags[@]}"
expect_committed r1 "$T/r1" "after a clean restart"
resume r1 "$T/r1" "after a clean restart"

# 2. SIGKILL once a commit is acknowledged.
# (Helpers in the background run without timeout, whose child outlives a killed timeout:
# they bound their own waits.)
"$PY" "$C" consume "$BROKER" r2 kr "$PARTS" 5000 "$T/r2" --hold >/dev/null 2>"$T/r2.err" &
holder=$!
CONSUMERS+=("$holder")
for _ in $(seq 1 600); do
    [ -e "$T/r2" ] && break
    kill -0 "$holder" 2>/dev/null || break
    sleep 0.05
done
[ -e "$T/r2" ] || fail "consume r2: $(grep -v '^%' "$T/r2.err" | tail -3)"
stop_broker KILL
stop_member "$holder" KILL
start_broker kr "${flags[@]}"
expect_committed r2 "$T/r2" "after SIGKILL"
resume r2 "$T/r2" "after SIGKILL"

# 3. SIGKILL while commits stream in, twice.
: >"$T/acked"
for cycle in 1 2; do
    have=$(wc -l <"$T/acked")
    "$PY" "$C" flood "$BROKER" r3 kr "$T/acked" >/dev/null 2>"$T/flood.err" &
    flooder=$!
    CONSUMERS+=("$flooder")
    # Kill after 1000 more acknowledged commits; the second time also once a snapshot exists
    # (so the restart loads it and replays the journal past it).
    for _ in $(seq 1 600); do
        [ $(($(wc -l <"$T/acked") - have)) -ge 1000 ] &&
            { [ "$cycle" = 1 ] || [ -e "$T/kr.data/zcq-consumer-offsets.snapshot" ]; } && break
        kill -0 "$flooder" 2>/dev/null || break
        sleep 0.05
    done
    [ $(($(wc -l <"$T/acked") - have)) -ge 1000 ] ||
        fail "cycle $cycle: fewer than 1000 commits acknowledged: $(tail -3 "$T/flood.err")"
    stop_broker KILL
    stop_member "$flooder" KILL
    start_broker kr "${flags[@]}"
    # The last acknowledged commit of each partition, -1 where none was.
    for p in $(seq 0 $((PARTS - 1))); do
        echo "$p $(awk -v p="$p" 'BEGIN { o = -1 } $1 == p { o = $2 } END { print o }' "$T/acked")"
    done >"$T/last"
    "$PY" "$TOOL" committed "$BROKER" r3 kr "$PARTS" >"$T/fetched" 2>&1
    if paste "$T/last" "$T/fetched" "$T/ends" |
        awk '$1 != $3 || $4 < $2 || $4 > $6 { bad = 1 } END { exit bad }'; then
        echo "  ok: cycle $cycle: $(wc -l <"$T/acked") commits acknowledged in all; the last" \
            "ones ($(awk '{ printf "%s ", $2 }' "$T/last")) survive:" \
            "$(awk '{ printf "%s ", $2 }' "$T/fetched")"
    else
        fail "cycle $cycle: committed after SIGKILL '$(tr '\n' ' ' <"$T/fetched")', last" \
            "acknowledged '$(tr '\n' ' ' <"$T/last")'"
    fi
done
loaded=$(grep -E "loaded [0-9]+ committed offset" "$T/kr.log" | tail -1 | sed 's/^.*INFO  //')
if [[ $loaded =~ \(([0-9]+)\ from\ the\ snapshot ]] && [ "${BASH_REMATCH[1]}" -gt 0 ]; then
    echo "  ok: the last restart $loaded"
else
    fail "the last restart did not load a snapshot: '$loaded'"
fi

# 4. Members ride out a clean restart: two confluent-kafka members (auto-commit every 200 ms)
# consume; the broker stops and starts again on the same port; they rejoin, and read every
# message produced before and after (none lost; those read since the last commit before the
# stop may come again).
create_topic kl "$PARTS"
produce_seq kl 1 3000
mark=$(log_mark)
pids=()
for i in 1 2; do
    "$PY" "$HERE/groups_py.py" member confluent "$BROKER" rl kl "$T/rl-$i.out" "rl-$i" \
        2>"$T/rl-$i.err" &
    pids+=("$!")
    CONSUMERS+=("$!")
done
wait_log "$mark" "$(generation_re rl 2)" 30 >/dev/null || fail "rl: no generation of 2 members"
wait_distinct 3000 60 "$T"/rl-?.out || fail "rl: consumed $(distinct "$T"/rl-?.out) of 3000"
addr=$BROKER
stop_broker
mark=$(log_mark)
start_broker kr "${flags[@]}" --listen "$addr"
if line=$(wait_log "$mark" "$(generation_re rl 2)" 30); then
    echo "  ok: the members rejoined after the restart: ${line#*INFO  }"
else
    fail "rl: the two members did not form a generation after the restart"
fi
produce_seq kl 3001 6000
if wait_distinct 6000 60 "$T"/rl-?.out; then
    echo "  ok: all 6000 messages consumed across the restart (records printed:" \
        "$(cat "$T"/rl-?.out | wc -l))"
else
    fail "rl: consumed $(distinct "$T"/rl-?.out) of 6000 across the restart"
fi
for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null; done
for p in "${pids[@]}"; do stop_member "$p"; done

stop_broker
check_broker_log
finish
