# Helpers for the CLI tests (sourced). A test script exits 0 (pass), 1 (fail) or 77 (skip).
set -u
ZCQ=${ZCQ_BIN:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/zcq}
PY=/usr/bin/python3
failures=0

fail() {
    echo "  FAIL: $*" >&2
    failures=$((failures + 1))
}

# expect_error "description" args...: the command must exit non-zero and print exactly one
# line on stderr that starts with "zcq ".
expect_error() {
    local what=$1 rc lines
    shift
    "$ZCQ" "$@" >"$T/out" 2>"$T/err"
    rc=$?
    lines=$(wc -l <"$T/err")
    if [ "$rc" -eq 0 ]; then
        fail "$what: exit 0, expected an error"
    elif [ "$lines" -ne 1 ]; then
        fail "$what: $lines lines on stderr, expected one: $(cat "$T/err")"
    elif ! grep -Eq '^zcq[: ]' "$T/err"; then
        fail "$what: message does not start with 'zcq ': $(cat "$T/err")"
    else
        echo "  ok: $what -> exit $rc: $(cat "$T/err")"
    fi
}

# expect_usage "description" args...: one line, and exit 2 exactly.
expect_usage() {
    local what=$1 rc
    expect_error "$@"
    shift
    "$ZCQ" "$@" >/dev/null 2>&1
    rc=$?
    [ "$rc" -eq 2 ] || fail "$what: exit $rc, expected 2 (usage)"
}

# says PATTERN: the last expect_error's line matches PATTERN (the right error, not any error).
says() {
    grep -Eq -- "$1" "$T/err" || fail "expected an error like '$1', got: $(cat "$T/err")"
}

# wait_for "description" command...: poll (bounded, 10 s) until the command succeeds.
wait_for() {
    local what=$1
    shift
    for _ in $(seq 1 100); do
        "$@" && return 0
        sleep 0.1
    done
    fail "timed out waiting for: $what"
    return 1
}

# alive "section", in tests that start a broker (tests/integration/lib.bash): a broker that
# died (a sanitizer report aborts it) fails the test at once, instead of every later step
# waiting for it.
alive() {
    kill -0 "$BROKER_PID" 2>/dev/null && return 0
    fail "the broker died during: $1"
    check_broker_log
    grep -q Sanitizer "$T/$BROKER_NAME.log" || tail -5 "$T/$BROKER_NAME.log" >&2
    BROKER_PID=
    finish
}

# The directory must hold nothing (no temporary file left behind).
expect_empty_dir() {
    local left
    left=$(find "$1" -mindepth 1 | head -5)
    [ -z "$left" ] || fail "$2: left behind: $left"
}

finish() {
    if [ "$failures" -ne 0 ]; then
        echo "  $failures check(s) failed" >&2
        exit 1
    fi
    exit 0
}

# A scratch directory on disk (not tmpfs), removed at exit.
T=$(mktemp -d "${ZCQ_TEST_DIR:-/var/tmp}/zcq-cli-XXXXXX")
trap 'rm -rf "$T"' EXIT
[ -x "$ZCQ" ] || { echo "  no zcq binary at $ZCQ (build it first)" >&2; exit 1; }
