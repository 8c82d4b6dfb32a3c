#!/usr/bin/env bash
# Three kcat -G members of one group share a 6-partition topic that already holds 60,000
# messages (1..60000, keyed to spread over the partitions). They land in one generation of
# three; DescribeGroups shows each partition assigned to exactly one member and every member
# given some; the members' outputs hold every message exactly once, each member's from
# partitions no other member read. Stopped with SIGTERM, each commits and leaves: the group
# ends Empty with its committed offsets at the partitions' ends.
source "$(dirname "$0")/lib.bash"
source "$(dirname "$0")/groups.bash"
need_cmd "$KCAT" timeout

N=60000
PARTS=6
G=kg
# The first rebalance waits 1 s (each joiner extends it), so the three start in one generation.
start_broker kg "${GROUP_FLAGS[@]}" --group.initial.rebalance.delay.ms 1000
create_topic kg "$PARTS"
produce_seq kg 1 "$N"
"$PY" "$TOOL" ends "$BROKER" kg "$PARTS" >"$T/ends" || fail "ListOffsets: $(cat "$T/ends")"
total=$(awk '{ s += $2 } END { print s + 0 }' "$T/ends")
[ "$total" -eq "$N" ] || fail "the partitions hold $total messages, expected $N"
awk '$2 == 0 { bad = 1 } END { exit bad }' "$T/ends" || fail "a partition got no message"

mark=$(log_mark)
start_members "$G" kg 1 3
check_describe "$G" kg "$PARTS" 3

if wait_distinct "$N" 120 "$T"/m?.out; then
    echo "  ok: the three members consumed all $N messages"
else
    fail "after 120 s the members had consumed $(distinct "$T"/m?.out) of $N messages"
fi
gens=$(tail -n +"$((mark + 1))" "$T/kg.log" | grep -cE "group $G: generation [0-9]+ with")
[ "$gens" -eq 1 ] || fail "$gens rebalances while consuming, expected one: the members" \
    "did not start in one generation"

mark=$(log_mark)
for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
for p in "${PIDS[@]}"; do stop_member "$p"; done
check_once "$N" "$T"/m?.out
wait_log "$mark" "group $G: empty" 10 >/dev/null || fail "the group is not empty after SIGTERM"
left=$(tail -n +"$((mark + 1))" "$T/kg.log" | grep -cE "group $G: .*member .* left the group")
[ "$left" -eq 3 ] || fail "$left members left the group, expected 3 (LeaveGroup on close)"
"$PY" "$TOOL" committed "$BROKER" "$G" kg "$PARTS" >"$T/committed" ||
    fail "OffsetFetch: $(cat "$T/committed")"
if cmp -s "$T/committed" "$T/ends"; then
    echo "  ok: committed offsets at the partitions' ends: $(awk '{ printf "%s ", $2 }' "$T/ends")"
else
    fail "committed offsets $(tr '\n' ' ' <"$T/committed"), ends $(tr '\n' ' ' <"$T/ends")"
fi
errs=$(grep -h "ERROR" "$T"/m?.err | head -5)
[ -z "$errs" ] || fail "kcat reported errors: $errs"

stop_broker
check_broker_log
finish
