#!/usr/bin/env bash
# Runs every benchmark. Each prints its figures beside a baseline measured in the same run.
set -euo pipefail
here="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")" && pwd)"
command -v curl >/dev/null || { apt-get update -q && apt-get install -y -q curl; }
"$here/supervisor.sh" "$@"
"$here/proxy.sh"
"$here/jobs-store.sh"
"$here/jobs.sh"
