#!/usr/bin/env bash
# Stops the servers tests/servers/start.sh started, by the PIDs it recorded.
#
#   bash tests/servers/stop.sh [RUN_DIR]     (default: .test-servers in the checkout)
set -uo pipefail
cd "$(dirname "$0")/../.."
run_dir=${1:-$PWD/.test-servers}
for pidfile in "$run_dir"/*.pid; do
  [ -e "$pidfile" ] || continue
  pid=$(cat "$pidfile")
  if kill "$pid" 2>/dev/null; then
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$pidfile"
done
rm -rf "$run_dir/seaweed-data" "$run_dir/fake-gcs-data"
