#!/usr/bin/env bash
# Nothing acknowledged with acks=all under the every-append sync policy is lost: across a clean
# restart between produce and consume, and across SIGKILLs of the broker under a producer's
# load (three cycles), after which recovery must serve every acknowledged message, byte for
# byte (durability.py checks).
source "$(dirname "$0")/lib.bash"
need_py confluent_kafka
D="$(dirname "$0")/durability.py"
flags=(--log.flush.interval.messages 1 --num.partitions 3)

start_broker d "${flags[@]}"
"$PY" "$D" produce "$BROKER" t1 5000 "$T/t1.acked" || fail "produce before the restart"
stop_broker
start_broker d "${flags[@]}"
"$PY" "$D" verify "$BROKER" t1 "$T/t1.acked" || fail "messages lost across a clean restart"

: >"$T/t2.acked"
for cycle in 1 2 3; do
    start=$(( (cycle - 1) * 1000000 ))
    have=$(wc -l <"$T/t2.acked")
    "$PY" "$D" flood "$BROKER" t2 "$T/t2.acked" "$start" &
    flooder=$!
    # Kill once the producer has had at least 2,000 more acknowledgements.
    for _ in $(seq 1 600); do
        [ $(($(wc -l <"$T/t2.acked") - have)) -ge 2000 ] && break
        sleep 0.05
    done
    [ $(($(wc -l <"$T/t2.acked") - have)) -ge 2000 ] || fail "cycle $cycle: producer stalled"
    stop_broker KILL
    kill "$flooder" 2>/dev/null
    wait "$flooder" 2>/dev/null
    start_broker d "${flags[@]}"
    "$PY" "$D" verify "$BROKER" t2 "$T/t2.acked" || fail "cycle $cycle: acknowledged messages lost"
done
grep -q "recovered after an unclean shutdown" "$T/d.log" || fail "no recovery reported after SIGKILL"
stop_broker
check_broker_log d
finish
