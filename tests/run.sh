#!/usr/bin/env bash
# Run every test: the unit-test binaries in the directory given (each runs its tests one
# process apiece, see tests/harness.h), then every tests/cli/*.sh and tests/integration/*.sh
# script (exit 0 pass, 1 fail, 77 skip; the integration tests start brokers). Ends with the line "N passed, N failed, N skipped" and exits non-zero on failure.
set -u
bindir=${1:?usage: tests/run.sh BUILD_DIR/tests}
here=$(cd "$(dirname "$0")" && pwd)
pass=0 fail=0 skip=0
log=$(mktemp)
trap 'rm -f "$log"' EXIT

for t in "$bindir"/*_test; do
    [ -x "$t" ] || continue
    echo "== $(basename "$t")"
    # Stream to stdout and keep a copy: the summary is the last line.
    "$t" 2>&1 | tee "$log"
    out=$(tail -n 1 "$log")
    # "# name: P passed, F failed, S skipped"
    if [[ $out =~ ([0-9]+)\ passed,\ ([0-9]+)\ failed,\ ([0-9]+)\ skipped ]]; then
        pass=$((pass + BASH_REMATCH[1]))
        fail=$((fail + BASH_REMATCH[2]))
        skip=$((skip + BASH_REMATCH[3]))
    else
        echo "FAIL $(basename "$t"): runner crashed (no summary line)"
        fail=$((fail + 1))
    fi
done

# Fuzz corpora, replayed under the sanitizers (a crash or a sanitizer report fails).
for r in "$bindir"/fuzz/*_replay; do
    [ -x "$r" ] || continue
    name=$(basename "$r" _replay)
    echo "== fuzz corpus: $name"
    if "$r" "$here/fuzz/corpus/$name"; then
        pass=$((pass + 1)); echo "ok   fuzz/$name"
    else
        fail=$((fail + 1)); echo "FAIL fuzz/$name"
    fi
done

for s in "$here"/cli/*.sh "$here"/integration/*.sh; do
    [ -f "$s" ] || continue
    echo "== $(basename "$s")"
    start=$(date +%s%N)
    timeout 600 bash "$s"
    rc=$?
    ms=$((($(date +%s%N) - start) / 1000000))
    took=$(printf '%d.%02d' $((ms / 1000)) $((ms % 1000 / 10)))
    case $rc in
    0) pass=$((pass + 1)); echo "ok   $(basename "$s") ${took}s" ;;
    77) skip=$((skip + 1)); echo "SKIP $(basename "$s") ${took}s" ;;
    *) fail=$((fail + 1)); echo "FAIL $(basename "$s") (exit $rc) ${took}s" ;;
    esac
done

echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
