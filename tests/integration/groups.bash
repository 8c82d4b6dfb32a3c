# Helpers for the consumer-group tests (sourced after lib.bash). Consumers run in the
# background, each printing "PARTITION OFFSET PAYLOAD" lines to its own file; the messages
# are the numbers 1..N (keys "kN" spread them over the partitions); groups_tool.py checks.
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TOOL="$HERE/groups_tool.py"

# Session timeouts down to 1 s and a short first-rebalance delay: a dead member is noticed in
# seconds and a group forms at once. Members heartbeat every 300 ms, so they hear of a
# rebalance (Heartbeat -> 27) within that. kcat members auto-commit every 5 s (librdkafka's
# default: kcat puts -X auto.commit.interval.ms into the legacy topic configuration, which a
# group consumer ignores), and on every revocation and close.
GROUP_FLAGS=(--group.initial.rebalance.delay.ms 200 --group.min.session.timeout.ms 1000)
SESSION_MS=3000
HEARTBEAT_MS=300
KCAT_GROUP=(-X "session.timeout.ms=$SESSION_MS" -X "heartbeat.interval.ms=$HEARTBEAT_MS"
    -X auto.offset.reset=earliest)

# Background consumers, killed at exit with the broker.
CONSUMERS=()
kill_consumers() {
    local p
    for p in "${CONSUMERS[@]}"; do kill -KILL "$p" 2>/dev/null; done
}
trap 'kill_consumers; stop_broker KILL; rm -rf "$T"' EXIT

# kcat_member NAME GROUP TOPIC [kcat flags...]: a kcat -G member in the background, printing
# its records (unbuffered) to $T/NAME.out and its rebalances ("assigned: ...") to $T/NAME.err.
# Sets PID.
kcat_member() {
    local name=$1 group=$2 topic=$3
    shift 3
    "$KCAT" -b "$BROKER" -G "$group" -u -f '%p %o %s\n' "${KCAT_GROUP[@]}" "$@" "$topic" \
        >"$T/$name.out" 2>"$T/$name.err" &
    PID=$!
    CONSUMERS+=("$PID")
}

# stop_member PID [SIGNAL]: signal a consumer (TERM by default: it commits, leaves the group
# and exits) and wait for it, up to 30 s (then it fails the test and is killed).
stop_member() {
    local pid=$1 sig=${2:-TERM}
    # (stderr off: bash's "Killed" notice for the job)
    {
        kill -"$sig" "$pid"
        for _ in $(seq 1 300); do
            kill -0 "$pid" || break
            sleep 0.1
        done
        if kill -0 "$pid"; then
            fail "consumer $pid still running 30 s after SIG$sig" 2>&3
            kill -KILL "$pid"
        fi
        wait "$pid"
    } 3>&2 2>/dev/null
    return 0
}

# produce_seq TOPIC FIRST LAST: messages FIRST..LAST, acks=all, every one acknowledged.
produce_seq() {
    seq "$2" "$3" | awk '{ print "k" $1 "\t" $1 }' |
        timeout 120 "$KCAT" -P -b "$BROKER" -t "$1" -K $'\t' -X acks=all 2>"$T/produce.err" ||
        fail "kcat -P of $2..$3 into $1 failed: $(head -3 "$T/produce.err")"
}

# log_mark: the broker log's current line count, for wait_log.
log_mark() {
    wc -l <"$T/$BROKER_NAME.log"
}

# wait_log MARK REGEX SECONDS: poll the broker's log, past line MARK, for a line matching the
# extended REGEX; prints the first such line. Returns 1 if none came within SECONDS.
wait_log() {
    local mark=$1 re=$2 end=$((SECONDS + $3)) line
    while :; do
        line=$(tail -n +"$((mark + 1))" "$T/$BROKER_NAME.log" | grep -E -m1 -- "$re")
        [ -n "$line" ] && { echo "$line"; return 0; }
        [ "$SECONDS" -lt "$end" ] || return 1
        sleep 0.05
    done
}

# generation_re GROUP MEMBERS: the log line of a completed rebalance with MEMBERS members.
generation_re() {
    echo "group $1: generation [0-9]+ with $2 member\(s\)"
}

# distinct FILE...: how many distinct payloads the consumers' outputs hold.
distinct() {
    cat "$@" 2>/dev/null | awk 'NF == 3 && !seen[$3]++ { n++ } END { print n + 0 }'
}

# wait_distinct N SECONDS FILE...: poll until the outputs hold N distinct payloads; 1 if not
# within SECONDS.
wait_distinct() {
    local n=$1 end=$((SECONDS + $2))
    shift 2
    while [ "$(distinct "$@")" -lt "$n" ]; do
        [ "$SECONDS" -lt "$end" ] || return 1
        sleep 0.2
    done
}

# assigned NAME: the partitions a kcat member's last rebalance report assigned it ("0 1 2"),
# none when that report was a revocation.
assigned() {
    grep -a "rebalanced (memberid" "$T/$1.err" | tail -1 | grep "assigned:" |
        grep -oE '\[[0-9]+\]' | tr -d '[]' | sort -n | paste -sd' '
}

# trickle TOPIC FIRST LAST RATE: produce FIRST..LAST in the background at about RATE messages
# a second (in ten bursts a second), acks=all. Sets PID (kcat's; not wrapped in timeout, whose
# death would leave kcat running: each message waits 60 s at most).
trickle() {
    "$PY" -c '
import sys, time
first, last, burst = int(sys.argv[1]), int(sys.argv[2]), max(1, int(sys.argv[3]) // 10)
for s in range(first, last + 1, burst):
    sys.stdout.write("".join("k%d\t%d\n" % (i, i) for i in range(s, min(s + burst, last + 1))))
    sys.stdout.flush()
    time.sleep(0.1)' "$2" "$3" "$4" |
        "$KCAT" -P -b "$BROKER" -t "$1" -K $'\t' -X acks=all -X message.timeout.ms=60000 \
            2>"$T/trickle.err" &
    PID=$!
    CONSUMERS+=("$PID")
}

# member_id NAME: the member id a kcat member's last rebalance message names.
member_id() {
    grep -ao "memberid [^)]*" "$T/$1.err" | tail -1 | cut -d' ' -f2
}

# wait_committed GROUP TOPIC PARTS FILE SECONDS: poll OffsetFetch until the group's committed
# offsets are those in FILE ("PARTITION OFFSET" lines, as groups_tool.py ends prints).
wait_committed() {
    local end=$((SECONDS + $5))
    while ! "$PY" "$TOOL" committed "$BROKER" "$1" "$2" "$3" 2>&1 | cmp -s - "$4"; do
        [ "$SECONDS" -lt "$end" ] || return 1
        sleep 0.1
    done
}

# start_members GROUP TOPIC FIRST LAST: kcat members mFIRST..mLAST (client ids kcat-I) in the
# background, their pids in PIDS[I]; then wait for a generation of LAST - FIRST + 1 + OTHERS
# members (OTHERS: members already in the group, 0 by default) and for it to be stable.
# Prints the generation's log line; sets GEN_LINE.
declare -A PIDS
start_members() {
    local group=$1 topic=$2 first=$3 last=$4 mark i n
    n=$((last - first + 1 + ${OTHERS:-0}))
    mark=$(log_mark)
    for ((i = first; i <= last; i++)); do
        kcat_member "m$i" "$group" "$topic" -X client.id="kcat-$i"
        PIDS[$i]=$PID
    done
    if GEN_LINE=$(wait_log "$mark" "$(generation_re "$group" "$n")" 30); then
        echo "  ok: ${GEN_LINE#*INFO  }"
    else
        fail "no generation of $n members within 30 s:" \
            "$(tail -n +"$((mark + 1))" "$T/$BROKER_NAME.log" | grep "group $group" | tail -5)"
    fi
    wait_log "$mark" "group $group: generation [0-9]+ stable" 30 >/dev/null ||
        fail "group $group not stable in 30 s"
}

# check_describe GROUP TOPIC PARTITIONS MEMBERS: DescribeGroups shows the group Stable with
# MEMBERS members that share the partitions, each assigned once (groups_tool.py describe).
check_describe() {
    if "$PY" "$TOOL" describe "$BROKER" "$@" >"$T/describe"; then
        echo "  ok: DescribeGroups: $(tail -1 "$T/describe" | sed 's/^ *//')"
    else
        fail "DescribeGroups of $1 with $4 members:"
        cat "$T/describe" >&2
    fi
}

# check_once N FILE...: groups_tool.py once --split: every message exactly once, and each
# member (file) read partitions of its own.
check_once() {
    local n=$1
    shift
    if "$PY" "$TOOL" once "$n" --split "$@" >"$T/check"; then
        echo "  ok: $(tail -1 "$T/check" | sed 's/^ *//')"
    else
        fail "consumed messages:"
        cat "$T/check" >&2
    fi
}

# create_topic TOPIC PARTITIONS (zcq topics create).
create_topic() {
    "$ZCQ" topics create "$1" --partitions "$2" -b "$BROKER" >/dev/null ||
        fail "zcq topics create $1 --partitions $2 failed"
}

# expect_generation GROUP MEMBERS MARK START_NS BOUND_MS WHAT: a generation of MEMBERS members
# must be logged past line MARK within BOUND_MS of START_NS (date +%s%N) when WHAT happened.
# Sets GEN_LINE (empty if none came).
expect_generation() {
    local group=$1 members=$2 mark=$3 start_ns=$4 bound_ms=$5 what=$6 took
    if GEN_LINE=$(wait_log "$mark" "$(generation_re "$group" "$members")" \
        $(((bound_ms + 1999) / 1000))); then
        took=$((($(date +%s%N) - start_ns) / 1000000))
        if [ "$took" -le "$bound_ms" ]; then
            echo "  ok: ${took} ms after $what (bound ${bound_ms} ms): ${GEN_LINE#*INFO  }"
        else
            fail "a generation of $members came ${took} ms after $what, over ${bound_ms} ms"
        fi
    else
        fail "no generation of $members members within ${bound_ms} ms after $what:" \
            "$(tail -n +"$((mark + 1))" "$T/$BROKER_NAME.log" | grep "group $group" | head -5)"
    fi
}
