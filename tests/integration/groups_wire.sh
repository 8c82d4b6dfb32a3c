#!/usr/bin/env bash
# The group APIs over the raw protocol (groups_wire.py): Kafka's error codes for bad session
# timeouts, group ids, protocols, members and generations, a full group (group.max.size 3),
# 27 while a rebalance is pending, held joins and syncs answered when the group is complete,
# committed offsets read back, ListGroups, DescribeGroups and DeleteGroups; malformed frames
# close only their own connection. Then a JoinGroup held when the broker stops is answered
# COORDINATOR_NOT_AVAILABLE, and the broker exits cleanly, with no sanitizer report.
source "$(dirname "$0")/lib.bash"
need_cmd timeout

start_broker gw --group.initial.rebalance.delay.ms 100 --group.max.size 3 --num.partitions 3
W="$(dirname "$0")/groups_wire.py"
timeout 120 "$PY" "$W" "$BROKER" || fail "groups_wire.py"
kill -0 "$BROKER_PID" 2>/dev/null || fail "the broker died"

# A JoinGroup held when the broker stops is answered (15), and the broker exits 0.
"$PY" "$W" "$BROKER" park >"$T/park.out" 2>&1 &
parker=$!
for _ in $(seq 1 200); do
    grep -q parked "$T/park.out" && break
    kill -0 "$parker" 2>/dev/null || break
    sleep 0.05
done
if grep -q parked "$T/park.out"; then
    kill -TERM "$BROKER_PID"
    wait "$parker" || fail "held JoinGroup at shutdown"
else
    fail "no JoinGroup held"
    kill "$parker" 2>/dev/null
    wait "$parker"
fi
cat "$T/park.out"
stop_broker
check_broker_log
finish
