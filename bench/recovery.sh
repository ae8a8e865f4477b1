#!/usr/bin/env bash
# Time from SIGKILL to caught up: preload the embedded cluster, run ad-metrics, kill it with SIGKILL while it is
# working through the backlog, restart it at once and take the engine's own "caught up" line: every assigned
# partition read to its end and the results covering it written to ClickHouse. The figure includes the launcher,
# the process start (.NET + chDB), restoring the partitions' checkpoints, the group join and the rest of the backlog.
#   bench/recovery.sh [events=200000] [runs=5]
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
events=${1:-200000}
runs=${2:-5}
work=$(mktemp -d)
trap 'kill $(cat "$work/kafka.pid" 2>/dev/null) 2>/dev/null || true; [ -n "${KEEP:-}" ] || rm -rf "$work"' EXIT
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
  kill -9 "$engine"; killed=$(date +%s.%N); wait "$engine" 2>/dev/null || true
  launched=$(date +%s.%N)
  ./streamengine run --job ad-metrics --set kafka.bootstrap="$bootstrap" --set "$store" --set clickhouse.http.port=0 \
    --set kafka.group="recovery-$run-b" --until-idle 1 >"$work/restart-$run.log" 2>&1
  # The engine logs when every partition had been read to its end and the results covering it were written,
  # counted from its process start (the launcher execs it, so that is the launch).
  caught_up=$(grep -o 'caught up [0-9.]* s after process start' "$work/restart-$run.log" | grep -o '[0-9][0-9.]*' | head -1)
  resumed=$(grep -o ' [0-9]*@[0-9][0-9]*' "$work/restart-$run.log" | wc -l || true)
  echo "run $run: SIGKILL to caught up: $(echo "$launched - $killed + $caught_up" | bc) s (partitions resumed from checkpoints: $resumed)"
done
