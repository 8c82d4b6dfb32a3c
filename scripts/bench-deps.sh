#!/usr/bin/env bash
# Install the peers bench/peers.sh compares zcq with, and their C client libraries, from Debian
# packages. Idempotent and quiet: installs only what dpkg says is missing, and runs apt-get
# update only when something is.
#
# The brokers' own system services are of no use to the harness (it starts its own instances on
# free loopback ports with their data under build/peers/), and one left running would hold the
# default ports and take CPU from the measurements. So whatever the package's install started is
# stopped and disabled again: with systemctl where systemd runs, else with the init script, else
# by the pid file the service wrote. Debian containers usually have a policy-rc.d that keeps
# services from starting at all; then there is nothing to stop.
#
# Usage: scripts/bench-deps.sh      (as root)
set -euo pipefail

pkgs=(make gcc libc6-dev librdkafka-dev python3 procps
    nats-server redis-server rabbitmq-server
    libnats-dev libhiredis-dev librabbitmq-dev)
services=(nats-server redis-server rabbitmq-server epmd)

missing=()
for p in "${pkgs[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$p")
    fi
done

# stop_services: stop (and disable) what the packages may have started.
stop_services() {
    local s pidfile pid
    if [ -d /run/systemd/system ] && command -v systemctl >/dev/null; then
        for s in "${services[@]}"; do
            systemctl disable --now "$s" >/dev/null 2>&1 || true
            systemctl disable --now "$s.socket" >/dev/null 2>&1 || true
        done
        return
    fi
    for s in "${services[@]}"; do
        [ -x "/etc/init.d/$s" ] && "/etc/init.d/$s" status >/dev/null 2>&1 &&
            "/etc/init.d/$s" stop >/dev/null 2>&1 || true
    done
    # What is still running, by the pid files the Debian packages write.
    for pidfile in /run/redis/redis-server.pid /var/run/redis/redis-server.pid \
        /run/nats-server.pid /var/run/nats-server.pid /run/rabbitmq/pid; do
        [ -s "$pidfile" ] || continue
        pid=$(cat "$pidfile")
        case "$pid" in '' | *[!0-9]*) continue ;; esac
        kill "$pid" 2>/dev/null || true
    done
    # rabbitmq-server's postinst runs rabbitmqctl, which leaves the Erlang port mapper daemon
    # (epmd, port 4369) behind; it has no pid file, and -kill stops it only if no node uses it.
    if command -v epmd >/dev/null && epmd -names >/dev/null 2>&1; then
        epmd -kill >/dev/null 2>&1 || true
    fi
}

if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "bench-deps.sh: need root to install: ${missing[*]}" >&2
    exit 1
fi
echo "bench-deps.sh: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
stop_services
