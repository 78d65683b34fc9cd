#!/usr/bin/env bash
# Supervisor benchmark: comfyctl against the fake ComfyUI, each figure beside a baseline measured in the same run.
#   status wall time      vs  curl of the same status endpoint, and a bare JVM start
#   start overhead        =   comfyctl's time to ready  minus  the fake launched directly and polled the same way
#   stop, cooperative     vs  kill -TERM of the fake launched directly
#   stop, ignoring TERM   =   stop time minus the grace period
#   daemon idle RSS       (ComfyUI ready, nothing happening)
# Usage: bench/supervisor.sh [runs]   (default 10)
set -euo pipefail
root="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
runs="${1:-10}"
if [ -d /usr/lib/jvm/temurin-25-jdk-amd64 ] && [ -z "${JAVA_HOME:-}" ]; then
  export JAVA_HOME=/usr/lib/jvm/temurin-25-jdk-amd64
fi
java="${JAVA_HOME:+$JAVA_HOME/bin/}java"
(cd "$root" && mvn -B -q -DskipTests package) >&2
comfyctl="$root/comfyctl"
work="$(mktemp -d)"
trap '"$comfyctl" stop >/dev/null 2>&1 || true; rm -rf "$work"' EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
now_ms() { local t="$EPOCHREALTIME"; echo "${t/./}" | sed 's/\(...\)$/.\1/'; }
# Median wall time in ms of a command run N times after one warm-up run, timed from one python process.
wall_ms() {
  python3 - "$@" <<'PY'
import statistics, subprocess, sys, time
runs, command = int(sys.argv[1]), sys.argv[2:]
def once():
    start = time.perf_counter()
    subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return (time.perf_counter() - start) * 1000
once()
print(round(statistics.median(once() for _ in range(runs)), 1))
PY
}
median() { python3 -c 'import sys,statistics; print(round(statistics.median(float(x) for x in sys.argv[1:]),1))' "$@"; }

# A fake ComfyUI install, laid out as the tests do it.
dir="$work/ComfyUI"
mkdir -p "$dir/venv/bin" "$dir/models/checkpoints"
cp "$root/src/test/resources/fake-comfyui/main.py" "$dir/main.py"
ln -s /usr/bin/python3 "$dir/venv/bin/python"
printf 'home = /usr/bin\ninclude-system-site-packages = false\n' > "$dir/venv/pyvenv.cfg"
delay=1.0
printf '{"startup_delay_seconds": %s}\n' "$delay" > "$dir/fake.json"

export COMFYCTL_HOME="$work/state" COMFYUI_DIR="$dir" GPU_MODE=mock COMFYUI_STOP_GRACE_SECONDS=2
# The health server runs too, as by default, on a free port: its default 9090 may be taken on a shared machine.
export MANAGER_PORT="$(free_port)" COMFYUI_PORT="$(free_port)" HEALTH_PORT="$(free_port)"

# Baseline for start: the fake launched directly, polled until /system_stats answers.
direct_ready=()
for _ in $(seq 1 3); do
  port="$(free_port)"
  t0="$(now_ms)"
  (cd "$dir" && exec venv/bin/python main.py --port "$port" >/dev/null 2>&1) & pid=$!
  until curl -sf "http://127.0.0.1:$port/system_stats" >/dev/null; do sleep 0.01; done
  t1="$(now_ms)"
  direct_ready+=("$(python3 -c "print($t1-$t0)")")
  kill -TERM "$pid"; wait "$pid" 2>/dev/null || true
done

# comfyctl's own time to ready (reported by the daemon, from the start request to /system_stats 200).
comfy_ready=()
"$comfyctl" start >/dev/null
for _ in $(seq 1 3); do
  out="$("$comfyctl" restart)"
  comfy_ready+=("$(sed -n 's/.*, \([0-9]*\) ms to ready.*/\1/p' <<<"$out")")
done

# status: the CLI, against curl of the same endpoint and a bare JVM start.
status_med="$(wall_ms "$runs" "$comfyctl" status)"
curl_med="$(wall_ms "$runs" curl -sf "http://127.0.0.1:$MANAGER_PORT/manager/status")"
jvm_med="$(wall_ms "$runs" "$java" -XX:TieredStopAtLevel=1 -XX:+UseSerialGC -version)"

# Idle RSS of the daemon with ComfyUI ready.
sleep 3
daemon_pid="$(python3 -c "import json; print(json.load(open('$COMFYCTL_HOME/daemon.json'))['pid'])")"
rss_mb="$(awk '/VmRSS/ {printf "%.1f", $2/1024}' "/proc/$daemon_pid/status")"

# Stop, cooperative: the daemon's own measurement, against kill -TERM of the fake launched directly.
coop_ms=()
for _ in $(seq 1 3); do
  "$comfyctl" start >/dev/null
  out="$(curl -sf -X POST "http://127.0.0.1:$MANAGER_PORT/manager/stop")"
  coop_ms+=("$(python3 -c "import json,sys; print(json.loads(sys.argv[1])['tookMs'])" "$out")")
done
direct_stop=()
for _ in $(seq 1 3); do
  port="$(free_port)"
  (cd "$dir" && exec venv/bin/python main.py --port "$port" >/dev/null 2>&1) & pid=$!
  until curl -sf "http://127.0.0.1:$port/system_stats" >/dev/null; do sleep 0.01; done
  t0="$(now_ms)"; kill -TERM "$pid"; wait "$pid" 2>/dev/null || true; t1="$(now_ms)"
  direct_stop+=("$(python3 -c "print($t1-$t0)")")
done

# Stop, ignoring SIGTERM: killed after the grace period.
printf '{"startup_delay_seconds": %s, "ignore_sigterm": true}\n' "$delay" > "$dir/fake.json"
stubborn_ms=()
for _ in $(seq 1 2); do
  "$comfyctl" start >/dev/null
  out="$(curl -sf -X POST "http://127.0.0.1:$MANAGER_PORT/manager/stop")"
  stubborn_ms+=("$(python3 -c "import json,sys; print(json.loads(sys.argv[1])['tookMs'])" "$out")")
done
"$comfyctl" stop >/dev/null

direct_med="$(median "${direct_ready[@]}")"; comfy_med="$(median "${comfy_ready[@]}")"
coop_med="$(median "${coop_ms[@]}")"; dstop_med="$(median "${direct_stop[@]}")"; stub_med="$(median "${stubborn_ms[@]}")"
python3 - "$status_med" "$curl_med" "$jvm_med" "$direct_med" "$comfy_med" "$coop_med" "$dstop_med" "$stub_med" "$rss_mb" <<'PY'
import sys
status, curl, jvm, direct, comfy, coop, dstop, stub, rss = map(float, sys.argv[1:])
grace = 2000.0
rows = [
    ("comfyctl status wall time", f"{status:.0f} ms", f"curl {curl:.0f} ms, bare JVM {jvm:.0f} ms", f"{status/jvm:.2f}x JVM start", "< 300 ms", status < 300),
    ("start overhead (to ready)", f"{comfy-direct:.0f} ms", f"fake alone {direct:.0f} ms, via comfyctl {comfy:.0f} ms", f"{comfy/direct:.3f}x", "< 100 ms", comfy - direct < 100),
    ("stop, cooperative", f"{coop:.0f} ms", f"kill -TERM {dstop:.0f} ms", f"{coop/max(dstop,1):.2f}x", "< 1000 ms", coop < 1000),
    ("stop, SIGTERM ignored", f"grace + {stub-grace:.0f} ms", f"grace {grace:.0f} ms", "", "grace + < 500 ms", stub - grace < 500),
    ("daemon idle RSS", f"{rss:.0f} MB", "", "", "< 100 MB", rss < 100),
]
print(f"{'figure':28} {'measured':>14}  {'baseline':44} {'ratio':16} {'goal':18} met")
for name, value, base, ratio, goal, met in rows:
    print(f"{name:28} {value:>14}  {base:44} {ratio:16} {goal:18} {'yes' if met else 'NO'}")
PY
