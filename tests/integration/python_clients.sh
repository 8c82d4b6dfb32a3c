#!/usr/bin/env bash
# The Python clients against the broker: confluent-kafka (py_confluent.py) and kafka-python
# (py_kafka.py) each create topics with their admin client, see them in Metadata, produce
# keyed messages with headers (uncompressed and gzip) and consume them back by assignment,
# byte for byte. The gzip topics' batches must really be gzip in the log (kept as producers
# sent them): a client that thinks the broker cannot take gzip sends them uncompressed.
source "$(dirname "$0")/lib.bash"
need_cmd timeout
need_py confluent_kafka kafka

HERE=$(cd "$(dirname "$0")" && pwd)
start_broker py

# client SCRIPT TOPIC: run it (bounded), show its output, check its gzip topic's batches.
client() {
    local script=$1 topic=$2 rc stored
    timeout 150 "$PY" "$HERE/$script" "$BROKER" "$topic" >"$T/$topic.out" 2>"$T/$topic.err"
    rc=$?
    cat "$T/$topic.out"
    if [ "$rc" -ne 0 ]; then
        fail "$script exited $rc:"
        grep -v '^%[0-9]|' "$T/$topic.err" | tail -30 >&2
        grep '^%[0-9]|' "$T/$topic.err" | tail -5 >&2
        return
    fi
    stored=$("$PY" "$HERE/kcat_msgs.py" codecs "$T/py.data/$topic-gzip"-*/*.log)
    if [[ $stored =~ ^gzip=[0-9]+$ ]]; then
        echo "  ok: $topic-gzip: the log holds gzip batches only ($stored)"
    else
        fail "$script: $topic-gzip: the log holds batches '$stored', expected only gzip ones" \
            "(did the client fall back to no compression, thinking the broker lacks gzip?)"
    fi
}

client py_confluent.py confluent
client py_kafka.py kpython

stop_broker
check_broker_log
finish
