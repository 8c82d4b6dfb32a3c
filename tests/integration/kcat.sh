#!/usr/bin/env bash
# kcat (librdkafka) against the broker: 100,000 keyed messages with headers, produced with
# acks 0, 1 and all and with each compression codec (gzip, snappy, lz4, zstd), each run into a
# topic of its own that the producer's Metadata request auto-creates with 3 partitions. Each
# run is consumed back whole (kcat -C -e, CRCs checked by the client), and kcat_msgs.py checks
# that every message came back exactly once, byte for byte (key, value, headers), on the
# partition its key hashes to, with contiguous offsets and the input order kept per partition.
# ListOffsets (kcat -Q) must report log start 0 and the right high watermarks.
source "$(dirname "$0")/lib.bash"
need_cmd "$KCAT"
need_cmd timeout

HERE=$(cd "$(dirname "$0")" && pwd)
N=100000
PARTS=3
# Headers every message carries: an empty value, a null value (kcat -H name), bytes beyond
# ASCII, and a repeated name (Kafka keeps both, in order). %h prints them as below.
UTF8="h$(printf '\xc3\xa9')llo w$(printf '\xc3\xb6')rld"
HDR_ARGS=(-H "src=kcat" -H "empty=" -H "nullv" -H "utf8=$UTF8" -H "dup=1" -H "dup=2")
HDR_WANT="src=kcat,empty=,nullv=NULL,utf8=$UTF8,dup=1,dup=2"

start_broker kcat --num.partitions "$PARTS" --auto.create.topics.enable true
"$PY" "$HERE/kcat_msgs.py" gen "$T/in" "$N" || { fail "could not generate the input"; finish; }

# offsets TOPIC TS: the partitions' offsets for timestamp TS (-2 log start, -1 end), one line
# "P OFFSET" each, by kcat -Q (ListOffsets).
offsets() {
    local args=() p
    for ((p = 0; p < PARTS; p++)); do args+=(-t "$1:$p:$2"); done
    timeout 30 "$KCAT" -Q -b "$BROKER" "${args[@]}" 2>>"$T/query.err" |
        sed -n 's/^.* \[\([0-9]*\)\] offset \(-\{0,1\}[0-9]*\)$/\1 \2/p'
}

sum_end() {
    offsets "$1" -1 | awk '{ s += $2 } END { print s + 0 }'
}

# run NAME CODEC KCAT_PRODUCE_FLAGS...: produce the input into topic kc-NAME, check that the
# stored batches carry CODEC, consume them back, check.
run() {
    local name=$1 codec=$2 topic=kc-$1 rc end starts i stored
    shift 2
    timeout 90 "$KCAT" -P -b "$BROKER" -t "$topic" -K $'\t' "${HDR_ARGS[@]}" "$@" \
        <"$T/in" >"$T/$name.pout" 2>"$T/$name.perr"
    rc=$?
    if [ "$rc" -ne 0 ] || grep -qiE "fail|error" "$T/$name.perr"; then
        fail "$name: kcat -P exited $rc: $(head -5 "$T/$name.perr")"
        return
    fi
    # Acknowledged produces are in the log when kcat exits. acks=0 ones are not acknowledged:
    # the broker may still be appending the last requests, so wait (bounded) for them all.
    end=$(sum_end "$topic")
    if [ "$name" = acks0 ]; then
        for ((i = 0; i < 300 && end < N; i++)); do
            sleep 0.1
            end=$(sum_end "$topic")
        done
    fi
    [ "$end" -eq "$N" ] || fail "$name: the partitions' end offsets add up to $end, expected $N"
    starts=$(offsets "$topic" -2 | awk '{ printf "%s ", $2 }')
    [ "$starts" = "0 0 0 " ] || fail "$name: log start offsets '$starts', expected '0 0 0 '"

    # The log keeps batches as the producer sent them: every one must carry the codec asked
    # for. librdkafka silently sends uncompressed batches when the broker's ApiVersions
    # answer makes it think the broker lacks the codec.
    stored=$("$PY" "$HERE/kcat_msgs.py" codecs "$T/kcat.data/$topic"-*/*.log)
    if ! [[ $stored =~ ^$codec=[0-9]+$ ]]; then
        fail "$name: the log holds batches '$stored', expected only $codec ones (did librdkafka" \
            "fall back to no compression, thinking the broker lacks $codec?)"
    fi

    timeout 90 "$KCAT" -C -b "$BROKER" -t "$topic" -o beginning -e -q -X check.crcs=true \
        -f '%p\t%o\t%k\t%s\t%h\n' >"$T/$name.out" 2>"$T/$name.cerr"
    rc=$?
    [ "$rc" -eq 0 ] || fail "$name: kcat -C exited $rc: $(head -5 "$T/$name.cerr")"
    if "$PY" "$HERE/kcat_msgs.py" check "$T/in" "$T/$name.out" "$HDR_WANT" "$PARTS" \
        >"$T/$name.check"; then
        echo "  ok: $name: $(tail -1 "$T/$name.check" | sed 's/^ *//')"
    else
        fail "$name: consumed messages differ from those produced:"
        cat "$T/$name.check" >&2
    fi
}

run acks0 none -X acks=0
run acks1 none -X acks=1
run acksall none -X acks=all
for codec in gzip snappy lz4 zstd; do
    run "$codec" "$codec" -X acks=all -z "$codec"
done

# The auto-created topics have the partitions the broker was told to give them.
meta=$(timeout 30 "$KCAT" -L -b "$BROKER" -t kc-acks1 2>&1)
grep -q 'topic "kc-acks1" with 3 partitions' <<<"$meta" ||
    fail "kcat -L: expected kc-acks1 with 3 partitions, got: $meta"

stop_broker
check_broker_log
finish
