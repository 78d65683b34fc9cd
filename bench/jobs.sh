#!/usr/bin/env bash
# Job queue benchmark (issue 6): jobs/s and per-job dispatch overhead through the embedded queue (1 daemon) and
# Redis (1 daemon with 4 workers, then 4 daemons), against fake ComfyUIs that complete prompts at once
# (bench/FastComfy.java), beside the same fakes driven directly in the same run; then a soak on Redis with worker
# processes killed at random, counting lost and doubled jobs.
# Usage: bench/jobs.sh [jobs] [soak jobs]   (default 2000 and 10000; 0 soak jobs skips the soak)
# JOBS_FIGURES="workers" (or any of embedded, workers, fleet) runs only those figures.
set -euo pipefail
root="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
jobs="${1:-2000}"
soak="${2:-10000}"
if [ -d /usr/lib/jvm/temurin-25-jdk-amd64 ] && [ -z "${JAVA_HOME:-}" ]; then
  export JAVA_HOME=/usr/lib/jvm/temurin-25-jdk-amd64
fi
java="${JAVA_HOME:+$JAVA_HOME/bin/}java"
command -v redis-server >/dev/null || { echo "jobs.sh: needs redis-server (apt-get install redis-server)" >&2; exit 2; }
(cd "$root" && mvn -B -q -o -DskipTests package) >&2
work="$(mktemp -d)"
redis_pid=""
trap '[ -n "$redis_pid" ] && kill -KILL "$redis_pid" 2>/dev/null; rm -rf "$work"' EXIT

port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')"
redis-server --port "$port" --bind 127.0.0.1 --dir "$work" --save '' --appendonly yes --appendfsync everysec \
  --daemonize no --logfile "$work/redis.log" & redis_pid=$!
disown "$redis_pid"  # killed by the trap; no "Killed" line from the shell
until redis-cli -p "$port" ping 2>/dev/null | grep -q PONG; do sleep 0.05; done

jar="$root/target/comfyctl.jar"
classes="$work/classes"
"${JAVA_HOME:+$JAVA_HOME/bin/}javac" -nowarn -cp "$jar" -d "$classes" "$root/bench/FastComfy.java" "$root/bench/JobsBench.java"
# The daemons run in the bench's JVM, which gets the JVM options a daemon runs with (DaemonLauncher.JVM_OPTIONS).
read -r -a daemon_options <<< "$("$java" -cp "$jar:$classes" JobsBench jvm-options)"
echo "job queue: $jobs jobs per figure, soak $soak jobs, state in $work, $(nproc) cores, JVM options ${daemon_options[*]}" >&2
# One JVM per figure: each daemon's JIT profile is of its own backend only, as in a real daemon.
figures="${JOBS_FIGURES:-embedded workers fleet}"
[ "$soak" -gt 0 ] && figures="$figures soak"
for figure in $figures; do
  COMFYCTL_LOG_LEVEL=WARN "$java" "${daemon_options[@]}" -cp "$jar:$classes" JobsBench "$work" \
    "redis://127.0.0.1:$port/0" "$jobs" "$soak" "$redis_pid" "$figure"
done
