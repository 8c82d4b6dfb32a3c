#!/usr/bin/env bash
# A cold read does not stall the event loop (cold_read.py): with the read pool slowed on
# purpose by the test-only fault hook ZCQ_TEST_WARM_DELAY_MS and a single worker thread, a
# produce/fetch round trip on another connection completes while a consumer waits for its cold
# range. The test asserts that order of events, not a time.
source "$(dirname "$0")/lib.bash"
need_cmd fincore

ZCQ_TEST_WARM_DELAY_MS=2000 start_broker b --num.network.threads 1 --log-level debug
"$PY" "$(dirname "$0")/cold_read.py" "$BROKER" "$T/b.data" "$T/b.log"
rc=$?
[ $rc -eq 77 ] && exit 77
[ $rc -eq 0 ] || fail "cold_read.py"
stop_broker
check_broker_log
finish
