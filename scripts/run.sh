#!/usr/bin/env bash
# The main job: install build dependencies, build zcq, and run the copies lab on a generated
# 1 GiB file with every method (extra arguments go to `zcq copies`, e.g. --cache both).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
make -j"$(nproc)" zcq
exec ./zcq copies --size 1G --method all "$@"
