#!/usr/bin/env bash
# zcq and zcq copies on bad input: a one-line message, a non-zero exit, nothing left behind.
source "$(dirname "$0")/lib.bash"

"$ZCQ" --help | grep -q copies || fail "--help does not list copies"
"$ZCQ" --version | grep -Eq '^zcq [0-9]+\.[0-9]+\.[0-9]+' || fail "--version"
"$ZCQ" copies --help | grep -q -- '--method' || fail "copies --help"

mkdir "$T/work"
W="$T/work"
expect_error "unknown command" frobnicate
expect_error "missing file" copies --file "$T/does-not-exist" --dir "$W"
expect_error "a directory as file" copies --file "$T" --dir "$W"
: >"$T/empty"
expect_error "empty file" copies --file "$T/empty" --dir "$W"
expect_error "unknown method" copies --size 1M --method copy,teleport --dir "$W"
expect_error "size 0" copies --size 0 --dir "$W"
expect_error "size junk" copies --size 12Q --dir "$W"
expect_error "chunk 0" copies --size 1M --chunk 0 --dir "$W"
expect_error "runs 0" copies --size 1M --runs 0 --dir "$W"
expect_error "unknown destination" copies --size 1M --to carrier-pigeon --dir "$W"
expect_error "unknown cache state" copies --size 1M --cache lukewarm --dir "$W"
expect_error "file and size" copies --file "$T/empty" --size 1M --dir "$W"
expect_error "plot in a missing directory" copies --size 1M --plot "$T/nope/plot.svg" --dir "$W"
expect_error "plot is a directory" copies --size 1M --plot "$T" --dir "$W"
expect_error "dir is missing" copies --size 1M --dir "$T/nope"
expect_error "unknown option" copies --size 1M --bogus --dir "$W"
expect_error "option without value" copies --size
expect_error "unknown TCP congestion control" copies --size 1M --tcp-cc no-such-cc --dir "$W"
expect_error "stray argument" copies --size 1M extra --dir "$W"
expect_empty_dir "$W" "bad input"
[ -e "$T/nope" ] && fail "created $T/nope"

# A read-only plot destination (root ignores modes, so use a path under /proc).
expect_error "unwritable plot path" copies --size 1M --plot /proc/zcq-plot.svg --dir "$W"

# Killed mid-run, the lab leaves no file behind: its files have no name (O_TMPFILE).
"$ZCQ" copies --size 64M --runs 50 --method copy --to file --dir "$W" --quiet >/dev/null &
pid=$!
for _ in $(seq 1 500); do
    # Wait until it is transferring: the generated file exists (as an unnamed fd).
    if ls -l /proc/$pid/fd 2>/dev/null | grep -q "$W"; then break; fi
    sleep 0.01
done
kill -9 $pid 2>/dev/null
wait $pid 2>/dev/null
expect_empty_dir "$W" "SIGKILL mid-run"

finish
