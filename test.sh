#!/usr/bin/env bash
# Runs the tests after doing its own set-up, in two tiers:
#   ./test.sh           the fast tests, then the system tests (what CI runs)
#   ./test.sh --fast    the fast tests only: unit, job test driver, deterministic simulation; no servers, about a minute
#   ./test.sh --system  the system tests only: real servers (embedded Kafka, chDB, nats-server), processes, a browser
# The last line it prints is "N passed, N failed" summed over the test projects run.
# A skipped test, a test project that reported nothing, or a crashed test host counts as a failure.
set -uo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$root"

fast=(tests/StreamEngine.Core.Tests tests/StreamEngine.Jobs.Tests tests/StreamEngine.UnitTests)
system=(tests/StreamEngine.IntegrationTests)
case "${1:-}" in
  "") tiers=(fast system); setup_args=(--test) ;;
  --fast) tiers=(fast); setup_args=() ;;
  --system) tiers=(system); setup_args=(--test) ;;
  -h|--help) sed -n '2,8p' "${BASH_SOURCE[0]}"; exit 0 ;;
  *) echo "test.sh: unknown option '$1' (allowed: --fast, --system)" >&2; exit 2 ;;
esac

fail_early() { echo "test.sh: $*" >&2; echo "0 passed, 1 failed"; exit 1; }

# Every test project belongs to a tier: a new one left out of both would never run.
for project in $(find tests -name '*Tests.csproj' -printf '%h\n' | sort -u); do
  [[ " ${fast[*]} ${system[*]} " == *" $project "* ]] || fail_early "$project is in neither tier: add it to test.sh"
done

deploy/local/setup.sh "${setup_args[@]}" || fail_early "set-up failed"
dotnet build StreamEngine.sln -c Release --nologo -clp:ErrorsOnly -v quiet || fail_early "build failed"

results=$(mktemp -d)
trap 'rm -rf "$results"' EXIT
test_rc=0
projects=0
for tier in "${tiers[@]}"; do
  declare -n members="$tier"
  projects=$((projects + ${#members[@]}))
  echo "test.sh: the $tier tests (${members[*]})" >&2
  # One project after another, in the foreground: a command this script ran with & would start with SIGINT and
  # SIGQUIT ignored (POSIX, for a shell without job control), and so would every process the tests start from it,
  # so a test that stops a child with Ctrl-C (SIGINT) would wait for nothing.
  for project in "${members[@]}"; do
    dotnet test "$project" -c Release --no-build --nologo --results-directory "$results" \
      --logger "trx;LogFilePrefix=$(basename "$project")" --logger "console;verbosity=normal" -- RunConfiguration.TestSessionTimeout=1800000 || test_rc=$?
  done
  unset -n members
done

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

# CI shows the end of the output: name each failed test there, with the first lines of its message.
for trx in "$results"/*.trx; do
  [ -f "$trx" ] || continue
  awk '
    /<UnitTestResult / && /outcome="Failed"/ { match($0, /testName="[^"]*"/); name = substr($0, RSTART + 10, RLENGTH - 11); failing = 1
      print "test.sh: FAILED " name > "/dev/stderr"; lines = 0; next }
    /<\/UnitTestResult>/ { failing = 0; inmsg = 0 }
    failing && /<Message>/ { inmsg = 1; sub(/.*<Message>/, "") }
    failing && inmsg { done = sub(/<\/Message>.*/, ""); if (lines++ < 12) print "test.sh:   " $0 > "/dev/stderr"; if (done) inmsg = 0 }
  ' "$trx"
done

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
