#!/usr/bin/env bash
# The main job: install build dependencies, build zcq, and start the broker on 127.0.0.1:9092
# with its data in ./data (extra arguments go to `zcq serve`, e.g. --listen 0.0.0.0:9092).
# Ctrl-C (SIGINT) or SIGTERM stops it cleanly. The copies lab is `./zcq copies`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
make -j"$(nproc)" zcq
exec ./zcq serve "$@"
