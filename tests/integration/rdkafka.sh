#!/usr/bin/env bash
# librdkafka's C API against the broker: rdkafka_client.c (built into $BIN_DIR by `make tests`)
# creates a topic with the admin API, produces keyed, timestamped messages with headers,
# consumes them back by assignment, seeks, looks offsets up by time, checks the watermarks and
# deletes the topic. It prints the reason for every failed check.
source "$(dirname "$0")/lib.bash"
need_cmd timeout
prog="$BIN_DIR/rdkafka_client"
[ -x "$prog" ] || { echo "  no $prog (build it: make BUILD=asan tests)" >&2; exit 1; }

start_broker rdkafka
timeout 120 "$prog" "$BROKER" >"$T/out" 2>"$T/err"
rc=$?
cat "$T/out"
if [ "$rc" -ne 0 ]; then
    fail "rdkafka_client exited $rc:"
    grep -v '^%[0-9]|' "$T/err" | head -40 >&2
    # librdkafka's own log lines, when they may tell why
    grep '^%[0-9]|' "$T/err" | tail -10 >&2
fi

stop_broker
check_broker_log
finish
