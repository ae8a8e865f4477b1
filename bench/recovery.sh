#!/usr/bin/env bash
# Time from SIGKILL to caught up: preload the embedded cluster, run ad-metrics, kill it with SIGKILL while it is
# working through the backlog, restart it with --until-idle 1 and time it until it has caught up and exited.
# The figure includes the process start (.NET + chDB), the group join, the rest of the backlog and the final flush;
# one quiet second (the --until-idle wait) is subtracted, the up-to-2-second checkpoint cadence is not.
#   bench/recovery.sh [events=200000] [runs=5]
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
events=${1:-200000}
runs=${2:-5}
work=$(mktemp -d)
trap 'kill $(cat "$work/kafka.pid" 2>/dev/null) 2>/dev/null || true; rm -rf "$work"' EXIT
cd "$root"
./streamengine help >/dev/null   # set-up and build, outside the timings
./streamengine kafka serve --bootstrap-file "$work/bootstrap" >"$work/kafka.log" 2>&1 &
echo $! >"$work/kafka.pid"
while [ ! -s "$work/bootstrap" ]; do sleep 0.2; done
bootstrap=$(cat "$work/bootstrap")
./streamengine generate --bootstrap "$bootstrap" --events "$events" --seed 3 >/dev/null 2>&1
for run in $(seq 1 "$runs"); do
  store="clickhouse.path=$work/store-$run"
  ./streamengine run --job ad-metrics --set kafka.bootstrap="$bootstrap" --set "$store" --set clickhouse.http.port=0 \
    --set kafka.group="recovery-$run-a" >"$work/run-$run.log" 2>&1 &
  engine=$!
  sleep "${KILL_AFTER:-3}"                # mid-backlog, with checkpoints behind it
  kill -9 "$engine"; wait "$engine" 2>/dev/null || true
  start=$(date +%s.%N)
  ./streamengine run --job ad-metrics --set kafka.bootstrap="$bootstrap" --set "$store" --set clickhouse.http.port=0 \
    --set kafka.group="recovery-$run-b" --until-idle 1 >"$work/restart-$run.log" 2>&1
  end=$(date +%s.%N)
  # --until-idle 1 exits after a quiet second and at most one checkpoint interval (2 s) more: subtract the second.
  echo "run $run: restart to caught up and flushed: $(echo "$end - $start - 1" | bc) s ($(grep -o 'resuming from checkpoint [0-9]*' "$work/restart-$run.log"))"
done
