#!/usr/bin/env bash
# Reproduces the end-to-end figures of bench/RESULTS.md ("End to end"), printing their markdown tables:
#   bench/e2e.sh [--events 5000000] [--repetitions 3]
# 1. the 5M-event harness: the embedded cluster preloaded, then a raw read, a hand-written loop, a naive Rx
#    pipeline, Streamiz.Kafka.Net 1.8.2 (RocksDB and in-memory stores) and StreamEngine's ad-metrics job (dedup,
#    dead letters, exactly-once to ClickHouse, NATS and SignalR on), each in its own process;
# 2. Nexmark q0, q1, q2, q5, q7 on the core;
# 3. freshness at 100,000 events/s: event to NATS, to a SignalR client, and to results stored in ClickHouse.
# Takes about 30 minutes on 2 cores. Needs nats-server (deploy/local/setup.sh --test installs it).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$root/deploy/local/setup.sh" --test
dotnet build "$root/bench/StreamEngine.Bench" -c Release --nologo -clp:ErrorsOnly
bench=(dotnet "$root/bench/StreamEngine.Bench/bin/Release/net10.0/StreamEngine.Bench.dll")
"${bench[@]}" e2e --partitions 128 "$@"
"${bench[@]}" nexmark --events 10000000 --repetitions 5
"${bench[@]}" latency --rates 100000 --seconds 20
