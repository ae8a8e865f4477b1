#!/usr/bin/env bash
# The soak of bench/RESULTS.md ("Soak"): the three jobs at a steady rate for a long time, resident memory, heap,
# CPU, open windows, dedup ids, pending rows and lag sampled every 10 s, with a markdown table by minute.
#   bench/soak.sh [--rate 20000] [--minutes 20] [--partitions 12] [--warm-up 3]
# Needs nats-server (deploy/local/setup.sh --test installs it). Not part of the test suite: it takes its minutes.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$root/deploy/local/setup.sh" --test
dotnet build "$root/bench/StreamEngine.Bench" -c Release --nologo -clp:ErrorsOnly
exec dotnet "$root/bench/StreamEngine.Bench/bin/Release/net10.0/StreamEngine.Bench.dll" soak "$@"
