#!/usr/bin/env bash
# Runs every test, unit and integration, against real servers, after doing its own set-up.
# The last line it prints is "N passed, N failed" summed over all test projects.
# A skipped test, a test project that reported nothing, or a crashed test host counts as a failure.
set -uo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$root"

fail_early() { echo "test.sh: $*" >&2; echo "0 passed, 1 failed"; exit 1; }

deploy/local/setup.sh --test || fail_early "set-up failed"
dotnet build StreamEngine.sln -c Release --nologo -clp:ErrorsOnly -v quiet || fail_early "build failed"

results=$(mktemp -d)
trap 'rm -rf "$results"' EXIT
dotnet test StreamEngine.sln -c Release --no-build --nologo --results-directory "$results" \
  --logger "trx" --logger "console;verbosity=normal" -- RunConfiguration.TestSessionTimeout=1800000
test_rc=$?

projects=$(find tests -name '*.Tests.csproj' -o -name '*Tests.csproj' | sort -u | wc -l)
passed=0; failed=0; skipped=0; reports=0
for trx in "$results"/*.trx; do
  [ -f "$trx" ] || continue
  reports=$((reports + 1))
  counters=$(grep -o '<Counters [^>]*>' "$trx" | head -n1)
  get() { echo "$counters" | sed -n "s/.* $1=\"\([0-9]*\)\".*/\1/p"; }
  total=$(get total); executed=$(get executed); p=$(get passed); f=$(get failed)
  passed=$((passed + ${p:-0}))
  failed=$((failed + ${f:-0}))
  skipped=$((skipped + ${total:-0} - ${executed:-0}))
done

if [ "$reports" -lt "$projects" ]; then
  echo "test.sh: $projects test projects but $reports reports: a test host crashed or reported nothing" >&2
  failed=$((failed + projects - reports))
fi
if [ "$skipped" -gt 0 ]; then
  echo "test.sh: $skipped test(s) did not run; integration tests must not skip" >&2
  failed=$((failed + skipped))
fi
if [ "$test_rc" -ne 0 ] && [ "$failed" -eq 0 ]; then
  echo "test.sh: dotnet test exited $test_rc without a failed test: counting it as one" >&2
  failed=1
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
