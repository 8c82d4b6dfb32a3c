#!/usr/bin/env bash
# 1,000 concurrent idle connections plus active clients (many_conns.py): the broker stays
# responsive and its memory bounded. An idle connection holds no buffer (net/conn.h), so the
# bound is loose on purpose (the sanitizer build's allocator pads every allocation); the
# figure it prints is recorded in docs/broker.md with the release build.
source "$(dirname "$0")/lib.bash"
need_py confluent_kafka

start_broker m
"$PY" "$(dirname "$0")/many_conns.py" "$BROKER" "$BROKER_PID" 64
rc=$?
[ $rc -eq 77 ] && exit 77
[ $rc -eq 0 ] || fail "many_conns.py"
stop_broker
check_broker_log
finish
