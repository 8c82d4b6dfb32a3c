#!/usr/bin/env bash
# Every test, from a fresh Debian 12 machine: install what the tests need, build with gcc and
# with clang (both must be warning-free: -Werror), then run the unit tests under ASan + UBSan
# and the CLI tests. The last line is "N passed, N failed, N skipped".
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh --test
jobs=$(nproc)
echo "== style: clang-format"
make format-check
echo "== build: gcc release"
make -j"$jobs" CC=gcc zcq
echo "== build: clang release"
make -j"$jobs" CC=clang build/clang-release/zcq
echo "== build: gcc asan tests"
make -j"$jobs" CC=gcc BUILD=asan tests build/gcc-asan/zcq
# The CLI tests drive the release binary built above; the broker tests run the sanitizer
# build of the broker.
ZCQ_BIN="$PWD/zcq" ZCQ_BROKER_BIN="$PWD/build/gcc-asan/zcq" exec tests/run.sh build/gcc-asan/tests
