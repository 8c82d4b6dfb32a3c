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
