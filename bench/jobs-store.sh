#!/usr/bin/env bash
# Job store benchmark: enqueue + claim + succeed per second through the SQLite and the Redis store (4 workers),
# each beside the floor of its own storage measured in the same run. The store's share of bench/jobs.sh.
# Usage: bench/jobs-store.sh [jobs]   (default 3000)
set -euo pipefail
root="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
jobs="${1:-3000}"
if [ -d /usr/lib/jvm/temurin-25-jdk-amd64 ] && [ -z "${JAVA_HOME:-}" ]; then
  export JAVA_HOME=/usr/lib/jvm/temurin-25-jdk-amd64
fi
java="${JAVA_HOME:+$JAVA_HOME/bin/}java"
command -v redis-server >/dev/null || { echo "jobs-store.sh: needs redis-server (apt-get install redis-server)" >&2; exit 2; }
(cd "$root" && mvn -B -q -o -DskipTests package) >&2
work="$(mktemp -d)"
redis_pid=""
trap '[ -n "$redis_pid" ] && kill -KILL "$redis_pid" 2>/dev/null; rm -rf "$work"' EXIT

port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')"
# As the README advises for a fleet: append-only file, fsync every second.
redis-server --port "$port" --bind 127.0.0.1 --dir "$work" --save '' --appendonly yes --appendfsync everysec \
  --daemonize no --logfile "$work/redis.log" & redis_pid=$!
disown "$redis_pid"
until redis-cli -p "$port" ping 2>/dev/null | grep -q PONG; do sleep 0.05; done

echo "job stores: $jobs jobs per run, state in $work ($(df -T "$work" | awk 'NR==2 {print $2}')), $(nproc) cores" >&2
"$java" -Dorg.slf4j.simpleLogger.defaultLogLevel=warn -cp "$root/target/comfyctl.jar" \
  "$root/bench/JobStoreBench.java" "$work" "redis://127.0.0.1:$port/0" "$jobs" 2> >(grep -v ' INFO ' >&2)
