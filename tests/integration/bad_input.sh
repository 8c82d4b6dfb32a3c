#!/usr/bin/env bash
# Malformed and hostile requests (bad_input.py): Kafka error codes where the protocol has
# them, closed connections otherwise, memory that follows the bytes received, in-order
# answers to pipelined requests; and afterwards the broker still serves, with no sanitizer
# report and a clean shutdown.
source "$(dirname "$0")/lib.bash"

start_broker b --socket.request.max.bytes 1048576 --message.max.bytes 10000
"$PY" "$(dirname "$0")/bad_input.py" "$BROKER" "$BROKER_PID" || fail "bad_input.py"
grep -q "exceeds socket.request.max.bytes" "$T/b.log" || fail "no log line for the large frame"
grep -q "unsupported request: api key 12345" "$T/b.log" || fail "no log line for api key 12345"
stop_broker
check_broker_log
finish
