#!/usr/bin/env bash
# Runs the BenchmarkDotNet micro-benchmarks (short job by default; pass --full for BenchmarkDotNet's default job).
#   bench/micro.sh [--full] [--filter '*Window*']
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
mode=--short
args=()
for arg in "$@"; do
  if [ "$arg" = "--full" ]; then mode=""; else args+=("$arg"); fi
done
[ ${#args[@]} -eq 0 ] && args=(--filter '*')
cd "$root/bench/StreamEngine.Benchmarks"
dotnet run -c Release -- $mode "${args[@]}"
