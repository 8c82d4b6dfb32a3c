#!/usr/bin/env bash
# SIGTERM with a long-poll fetch parked: the fetch is answered at once, the broker exits 0
# and leaves every log marked clean, so the next start recovers nothing.
source "$(dirname "$0")/lib.bash"

start_broker s
"$PY" "$(dirname "$0")/shutdown.py" "$BROKER" "$BROKER_PID" || fail "shutdown.py"
stop_broker # already stopping: waits for the exit and checks the status
[ -e "$T/s.data/parked-0/clean-shutdown" ] || fail "no clean-shutdown marker"
start_broker s
grep -q "recovered after an unclean shutdown" "$T/s.log" && fail "a clean restart recovered"
stop_broker
check_broker_log
finish
