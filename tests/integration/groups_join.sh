#!/usr/bin/env bash
# A member joins a stable group: two kcat -G members share a 6-partition topic (3 partitions
# each); a third starts. The two must hear of the rebalance by their heartbeats (27) and
# rejoin, and a generation of three complete within a few heartbeats; then every partition is
# assigned exactly once, as both DescribeGroups (the leader's assignment bytes, decoded) and
# each member's own rebalance report say, and messages produced afterwards are consumed
# exactly once, each member reading only its own partitions.
source "$(dirname "$0")/lib.bash"
source "$(dirname "$0")/groups.bash"
need_cmd "$KCAT" timeout

PARTS=6
G=kj
start_broker kj "${GROUP_FLAGS[@]}"
create_topic kj "$PARTS"

start_members "$G" kj 1 2
check_describe "$G" kj "$PARTS" 2
gen2=$(echo "$GEN_LINE" | grep -oE "generation [0-9]+" | awk '{ print $2 }')

mark=$(log_mark)
start_ns=$(date +%s%N)
kcat_member m3 "$G" kj -X client.id=kcat-3
PIDS[3]=$PID
# Bound: the newcomer's start and joins, the others' next heartbeats and rejoins; the rest is
# slack for a slow machine or the sanitizer build.
expect_generation "$G" 3 "$mark" "$start_ns" $((3 * HEARTBEAT_MS + 10000)) "starting m3"
gen3=$(echo "$GEN_LINE" | grep -oE "generation [0-9]+" | awk '{ print $2 }')
[ "${gen3:-0}" -eq $((gen2 + 1)) ] ||
    fail "generation '$gen3' follows $gen2: expected one rebalance"
grep -q "group $G: rebalancing (generation $gen2, a member joined)" "$T/kj.log" ||
    fail "the broker did not log the rebalance for the new member"
wait_log "$mark" "group $G: generation [0-9]+ stable" 30 >/dev/null || fail "group not stable"
check_describe "$G" kj "$PARTS" 3

# Each member's own view: its last rebalance report (after the revocation the old two report
# first) assigned it partitions, and together they are 0..5, each once.
views_ok() {
    local i
    for i in 1 2 3; do [ -n "$(assigned "m$i")" ] || return 1; done
    [ "$(for i in 1 2 3; do assigned "m$i"; done | tr ' ' '\n' | sort -n | paste -sd' ')" = \
        "0 1 2 3 4 5" ]
}
for _ in $(seq 1 100); do
    views_ok && break
    sleep 0.1
done
views=$(for i in 1 2 3; do echo "m$i [$(assigned "m$i")]"; done | paste -sd' ')
if views_ok; then
    echo "  ok: the members report their assignments: $views"
else
    fail "the members' last assignments: $views; expected 0..5, each once"
fi

N=6000
produce_seq kj 1 "$N"
wait_distinct "$N" 60 "$T"/m?.out || fail "consumed $(distinct "$T"/m?.out) of $N in 60 s"
for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
for p in "${PIDS[@]}"; do stop_member "$p"; done
check_once "$N" "$T"/m?.out

stop_broker
check_broker_log
finish
