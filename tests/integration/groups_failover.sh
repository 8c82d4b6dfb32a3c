#!/usr/bin/env bash
# Members die: kcat -G members (session timeout 3 s, heartbeats every 300 ms, offsets
# auto-committed every 5 s: see groups.bash) share a 6-partition topic, and one at a time is
# SIGKILLed. Each time the broker must expire it and complete a generation of the others within
# the session timeout plus one rebalance, and the others take its partitions over from its
# committed offsets.
#  A. m2 dies with everything it read committed: the survivors start its partitions exactly
#     at the committed offsets, and read the messages produced after the kill.
#  B. a new member m4 joins (three again) and is killed while a producer is still writing:
#     every message is consumed (none lost), and the only ones read twice are ones m4 had
#     read (and perhaps not yet committed).
source "$(dirname "$0")/lib.bash"
source "$(dirname "$0")/groups.bash"
need_cmd "$KCAT" timeout

PARTS=6
G=kf
start_broker kf "${GROUP_FLAGS[@]}"
create_topic kf "$PARTS"
produce_seq kf 1 20000

# expect_takeover NAME MARK KILL_NS MEMBERS: after member NAME was SIGKILLed at KILL_NS (log
# line MARK), its session must time out and a generation of MEMBERS members complete within
# the session timeout, the survivors' next heartbeats (which answer 27) and their rejoin; the
# rest of the bound is slack for a slow machine or the sanitizer build. Then it is stable,
# with every partition assigned once.
expect_takeover() {
    local name=$1 mark=$2 kill_ns=$3 members=$4 id
    id=$(member_id "$name")
    expect_generation "$G" "$members" "$mark" "$kill_ns" \
        $((SESSION_MS + 3 * HEARTBEAT_MS + 5000)) "killing $name"
    grep -q "group $G: .*member $id session timed out" "$T/kf.log" ||
        fail "$name: the broker did not log its session ($id) timing out"
    wait_log "$mark" "group $G: generation [0-9]+ stable" 30 >/dev/null || fail "not stable"
    check_describe "$G" kf "$PARTS" "$members"
}

# --- A: a member dies with all it read committed --------------------------------------------
start_members "$G" kf 1 3
wait_distinct 20000 60 "$T"/m?.out || fail "the 3 members consumed $(distinct "$T"/m?.out) of 20000"
"$PY" "$TOOL" ends "$BROKER" kf "$PARTS" >"$T/ends" || fail "ListOffsets: $(cat "$T/ends")"
wait_committed "$G" kf "$PARTS" "$T/ends" 30 ||
    fail "committed offsets did not reach the ends in 30 s: $("$PY" "$TOOL" committed "$BROKER" \
        "$G" kf "$PARTS" | tr '\n' ' ')"
m2_parts=$(assigned m2)
if [ -z "$m2_parts" ] || [ ! -s "$T/m2.out" ]; then fail "m2 got no partition or read nothing"; fi

mark=$(log_mark)
kill_ns=$(date +%s%N)
stop_member "${PIDS[2]}" KILL
echo "  A: m2 (partitions $m2_parts) SIGKILLed, its $(wc -l <"$T/m2.out") records committed"
expect_takeover m2 "$mark" "$kill_ns" 2
produce_seq kf 20001 30000
if wait_distinct 30000 60 "$T"/m?.out; then
    echo "  ok: the survivors consumed the 10000 messages produced after the kill"
else
    fail "after 60 s the members had consumed $(distinct "$T"/m?.out) of 30000 messages"
fi
# The survivors' first record of each of m2's partitions is at its committed offset.
for p in $m2_parts; do
    first=$(awk -v p="$p" '$1 == p { print $2 }' "$T/m1.out" "$T/m3.out" | sort -n | head -1)
    want=$(awk -v p="$p" '$1 == p { print $2 }' "$T/ends")
    if [ "$first" = "$want" ]; then
        echo "  ok: partition $p taken over at its committed offset $want"
    else
        fail "partition $p: the survivors started at offset '${first}', committed was $want"
    fi
done

# --- B: a member dies while a producer writes -----------------------------------------------
"$PY" "$TOOL" ends "$BROKER" kf "$PARTS" >"$T/ends" || fail "ListOffsets: $(cat "$T/ends")"
wait_committed "$G" kf "$PARTS" "$T/ends" 30 || fail "committed offsets did not reach the ends"
OTHERS=2 start_members "$G" kf 4 4
trickle kf 30001 60000 3000
producer=$PID
# Kill m4 once it has read some of the new messages and committed some of them (past what
# phase A left committed on its partitions) ...
m4_parts=$(assigned m4)
m4_committed() {
    local p
    "$PY" "$TOOL" committed "$BROKER" "$G" kf "$PARTS" >"$T/now" || return 1
    for p in $m4_parts; do
        [ "$(awk -v p="$p" '$1 == p { print $2 }' "$T/now")" -gt \
            "$(awk -v p="$p" '$1 == p { print $2 }' "$T/ends")" ] && return 0
    done
    return 1
}
for _ in $(seq 1 100); do
    [ "$(distinct "$T/m4.out")" -ge 200 ] && m4_committed && break
    sleep 0.1
done
m4_committed || fail "m4 (partitions '$m4_parts') committed nothing in 10 s"
# ... and has read on past that commit (its next auto-commit is 5 s away): those records it
# read but did not commit are the ones the others may read again.
seen=$(wc -l <"$T/m4.out")
for _ in $(seq 1 50); do
    [ "$(wc -l <"$T/m4.out")" -ge $((seen + 100)) ] && break
    sleep 0.1
done
mark=$(log_mark)
kill_ns=$(date +%s%N)
stop_member "${PIDS[4]}" KILL
"$PY" "$TOOL" committed "$BROKER" "$G" kf "$PARTS" >"$T/killed"
echo "  B: m4 (partitions $m4_parts) SIGKILLed after $(wc -l <"$T/m4.out") records;" \
    "committed then: $(tr '\n' ' ' <"$T/killed")"
expect_takeover m4 "$mark" "$kill_ns" 2
wait "$producer" || fail "the producer failed: $(head -3 "$T/trickle.err")"
if wait_distinct 60000 60 "$T"/m?.out; then
    echo "  ok: all 60000 messages consumed"
else
    fail "after 60 s the members had consumed $(distinct "$T"/m?.out) of 60000 messages"
fi
for i in 1 3; do kill -TERM "${PIDS[$i]}" 2>/dev/null; done
for i in 1 3; do stop_member "${PIDS[$i]}"; done
# The survivors took m4's partitions over no earlier than what it had committed when it died
# (a commit of its still in flight then may have moved them further) and no later than the
# first record it had not read.
for p in $m4_parts; do
    start=$(awk -v p="$p" '$1 == p { print $2 }' "$T/ends")
    first=$(awk -v p="$p" -v s="$start" '$1 == p && $2 >= s { print $2 }' "$T/m1.out" \
        "$T/m3.out" | sort -n | head -1)
    low=$(awk -v p="$p" '$1 == p { print $2 }' "$T/killed")
    high=$(awk -v p="$p" -v s="$start" 'BEGIN { h = s } $1 == p && $2 >= h { h = $2 + 1 }
        END { print h }' "$T/m4.out")
    if [ -n "$first" ] && [ "$first" -ge "$low" ] && [ "$first" -le "$high" ]; then
        echo "  ok: partition $p taken over at offset $first (committed $low, m4 read to $high)"
    else
        fail "partition $p: taken over at offset '${first}', expected $low..$high"
    fi
done
if "$PY" "$TOOL" failover 60000 "$T/m4.out" "$T/m1.out" "$T/m2.out" "$T/m3.out" >"$T/check"
then
    echo "  ok: $(tail -1 "$T/check" | sed 's/^ *//')"
else
    fail "consumed messages:"
    cat "$T/check" >&2
fi

stop_broker
check_broker_log
finish
