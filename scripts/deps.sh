#!/usr/bin/env bash
# Install what zcq needs from Debian packages. Idempotent: installs only what is missing, and
# runs apt-get update only when something is. Usage: scripts/deps.sh [--test]
#   (no flag)  build dependencies
#   --bench    also the benchmarks' references (fio)
#   --test     also what the test suite needs (clang for the second compiler, clang-format for
#              the style check, python3 for the CLI tests' JSON and SVG checks, mkfs.ext4 for
#              the ENOSPC test, kcat and the Python Kafka clients for the broker's tests)
set -euo pipefail

pkgs=(make gcc libc6-dev liburing-dev libxxhash-dev libisal-dev librdkafka-dev)
case "${1:-}" in
--test) pkgs+=(clang clang-format libclang-rt-dev python3 procps e2fsprogs kcat
            python3-confluent-kafka python3-kafka) ;;
--bench) pkgs+=(fio python3 procps) ;;
esac

missing=()
for p in "${pkgs[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$p")
    fi
done
if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "deps.sh: need root to install: ${missing[*]}" >&2
    exit 1
fi
echo "deps.sh: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
