#!/usr/bin/env bash
# Consumer groups on the Python clients (groups_py.py), each on a 6-partition topic of its own:
#  a. two confluent-kafka members (JoinGroup v5, MEMBER_ID_REQUIRED first) share the topic;
#  b. two kafka-python members (JoinGroup v2, no member-id round trip) share the topic;
#  each time the messages produced once the group is stable are consumed exactly once, each
#  member reading only its own partitions; closed with SIGTERM, the members commit and leave,
#  and a new member of the group then reads nothing old: only a message produced after them.
#  c. one group of two kcat members, a confluent-kafka member and a kafka-python member, all
#  with the range assignor: one generation of four with every partition assigned once, and
#  every message consumed exactly once across them.
source "$(dirname "$0")/lib.bash"
source "$(dirname "$0")/groups.bash"
need_cmd "$KCAT" timeout
need_py confluent_kafka kafka

P="$HERE/groups_py.py"
PARTS=6
N=6000
start_broker gp "${GROUP_FLAGS[@]}"

# py_member KIND NAME GROUP TOPIC: a Python member in the background (output $T/NAME.out).
py_member() {
    "$PY" "$P" member "$1" "$BROKER" "$3" "$4" "$T/$2.out" "$2" 2>"$T/$2.err" &
    PID=$!
    CONSUMERS+=("$PID")
}

# share GROUP TOPIC MEMBERS NAME:KIND...: start the members (KIND kcat, confluent or kafka),
# wait for one generation of them all, check the assignment, produce 1..N, check that the
# members consumed them exactly once and stop them (SIGTERM).
share() {
    local group=$1 topic=$2 members=$3 mark m name kind pids=()
    shift 3
    create_topic "$topic" "$PARTS"
    mark=$(log_mark)
    for m in "$@"; do
        name=${m%%:*} kind=${m#*:}
        if [ "$kind" = kcat ]; then
            kcat_member "$name" "$group" "$topic" -X client.id="$name" \
                -X partition.assignment.strategy=range
        else
            py_member "$kind" "$name" "$group" "$topic"
        fi
        pids+=("$PID")
    done
    if line=$(wait_log "$mark" "$(generation_re "$group" "$members")" 60); then
        echo "  ok: ${line#*INFO  }"
    else
        fail "$group: no generation of $members members within 60 s:" \
            "$(tail -n +"$((mark + 1))" "$T/gp.log" | grep "group $group" | tail -5)"
    fi
    mark=$(grep -nE "$(generation_re "$group" "$members")" "$T/gp.log" | tail -1 | cut -d: -f1)
    wait_log "$((mark - 1))" "group $group: generation [0-9]+ stable" 30 >/dev/null ||
        fail "$group: not stable"
    check_describe "$group" "$topic" "$PARTS" "$members"
    # client id: partitions, per member
    sed '$d' "$T/describe" | sed -n 's/^  \([^ ]*\) [^ ]*: /    \1: /p'
    produce_seq "$topic" 1 "$N"
    wait_distinct "$N" 90 "$T/$group"-*.out ||
        fail "$group: consumed $(distinct "$T/$group"-*.out) of $N in 90 s"
    for m in "${pids[@]}"; do kill -TERM "$m" 2>/dev/null; done
    for m in "${pids[@]}"; do stop_member "$m"; done
    check_once "$N" "$T/$group"-*.out
    errs=$(grep -h "client error\|consume error\|Traceback\|ERROR" "$T/$group"-*.err | head -5)
    [ -z "$errs" ] || fail "$group: client errors: $errs"
}

# drained KIND GROUP TOPIC: the members committed what they read: a new member reads only
# the message produced after them.
drained() {
    produce_seq "$3" $((N + 1)) $((N + 1))
    "$PY" "$TOOL" ends "$BROKER" "$3" "$PARTS" >"$T/ends" || fail "ListOffsets"
    if ! timeout 90 "$PY" "$P" drain "$1" "$BROKER" "$2" "$3" "$T/ends" "$T/drain.out" \
        2>"$T/drain.err"; then
        fail "$2: a new $1 member did not reach the ends: $(grep -v '^%' "$T/drain.err" | tail -3)"
    elif [ "$(awk '{ print $3 }' "$T/drain.out")" = $((N + 1)) ]; then
        echo "  ok: $2: a new $1 member reads only the message produced after the others left"
    else
        fail "$2: a new $1 member read $(wc -l <"$T/drain.out") records (first:" \
            "$(head -3 "$T/drain.out" | tr '\n' ' ')), expected only message $((N + 1))"
    fi
}

share pa pa 2 pa-1:confluent pa-2:confluent
drained confluent pa pa
share pb pb 2 pb-1:kafka pb-2:kafka
drained kafka pb pb
share pc pc 4 pc-kcat1:kcat pc-kcat2:kcat pc-confluent:confluent pc-kafka:kafka

stop_broker
check_broker_log
finish
