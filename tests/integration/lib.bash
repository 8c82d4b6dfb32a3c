# Helpers for the broker's integration tests (sourced). Each test starts its own broker on a
# free port, with its own data directory, and stops it at exit. A test exits 0 (pass), 1
# (fail) or 77 (skip: a client it needs is not installed).
source "$(dirname "${BASH_SOURCE[0]}")/../cli/lib.bash"

KCAT=$(command -v kcat || command -v kafkacat || true)
# The broker under test: the sanitizer build when the test command built one (it catches
# memory errors under real client traffic), else the zcq binary the CLI tests use.
ZCQ_BROKER=${ZCQ_BROKER_BIN:-$ZCQ}
BIN_DIR=${ZCQ_TEST_BIN_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/build/gcc-asan/tests}

# need_cmd CMD...: skip the test unless every command exists.
need_cmd() {
    for c in "$@"; do
        command -v "$c" >/dev/null || { echo "  skip: $c is not installed" >&2; exit 77; }
    done
}

# need_py MODULE...: skip unless /usr/bin/python3 imports every module.
need_py() {
    for m in "$@"; do
        "$PY" -c "import $m" 2>/dev/null || { echo "  skip: python module $m" >&2; exit 77; }
    done
}

BROKER_PID=
BROKER=   # host:port once started
# start_broker NAME [zcq serve flags...]: start a broker on a free port with data in
# $T/NAME.data and its log in $T/NAME.log; sets BROKER and BROKER_PID; waits until it
# accepts clients (its ready file), failing the test if it does not within 30 s.
start_broker() {
    local name=$1
    shift
    rm -f "$T/$name.ready"
    "$ZCQ_BROKER" serve --listen 127.0.0.1:0 --data-dir "$T/$name.data" --ready-file "$T/$name.ready" \
        "$@" >>"$T/$name.log" 2>&1 &
    BROKER_PID=$!
    BROKER_NAME=$name
    for _ in $(seq 1 300); do
        if [ -s "$T/$name.ready" ]; then
            BROKER=$(cat "$T/$name.ready")
            return 0
        fi
        kill -0 "$BROKER_PID" 2>/dev/null || break
        sleep 0.1
    done
    echo "  broker did not start:" >&2
    cat "$T/$name.log" >&2
    exit 1
}

# stop_broker [SIGNAL]: SIGTERM by default (a clean shutdown, which must exit 0), or KILL.
stop_broker() {
    local sig=${1:-TERM} rc=0
    [ -n "$BROKER_PID" ] || return 0
    kill -"$sig" "$BROKER_PID" 2>/dev/null
    wait "$BROKER_PID" 2>/dev/null || rc=$?
    if [ "$sig" = TERM ] && [ "$rc" -ne 0 ]; then
        fail "broker exited $rc after SIGTERM; its log:"
        tail -20 "$T/$BROKER_NAME.log" >&2
    fi
    BROKER_PID=
    return 0
}

# A broker's log must hold no sanitizer report (ASan/UBSan builds print them there).
check_broker_log() {
    local f="$T/${1:-$BROKER_NAME}.log"
    if grep -qE "ERROR: (Address|Leak|Undefined)Sanitizer|runtime error:" "$f"; then
        fail "sanitizer report in the broker's log:"
        grep -A20 -E "Sanitizer|runtime error" "$f" | head -40 >&2
    fi
}

trap 'stop_broker KILL; rm -rf "$T"' EXIT
