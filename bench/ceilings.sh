#!/usr/bin/env bash
# Reproduces the "Ceilings" table of bench/RESULTS.md: embedded Kafka produce/consume, chDB inserts, NATS.
#   bench/ceilings.sh [--repetitions 5] [--scale 1.0] [--only kafka|chdb|nats]
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$root/deploy/local/setup.sh" --test
dotnet build "$root/bench/StreamEngine.Bench" -c Release --nologo -clp:ErrorsOnly -v quiet
exec dotnet "$root/bench/StreamEngine.Bench/bin/Release/net10.0/StreamEngine.Bench.dll" ceilings "$@"
