#!/usr/bin/env bash
# Runs the BenchmarkDotNet micro-benchmarks and puts each suite's table into bench/RESULTS.md.
#   bench/micro.sh [--full] [--filter '*Window*']
#   bench/micro.sh --no-run        (only copies the last reports into bench/RESULTS.md)
# Short job by default (1 warm-up, 5 iterations, 1 launch: all suites in a few minutes on 2 cores); --full runs
# BenchmarkDotNet's default job. Each suite's GitHub-markdown report replaces the text between
# <!-- micro:SUITE --> and <!-- /micro:SUITE --> in bench/RESULTS.md (suites without markers are left in
# bench/StreamEngine.Benchmarks/BenchmarkDotNet.Artifacts/results/).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
mode=--short
run=1
args=()
for arg in "$@"; do
  case "$arg" in
    --full) mode="" ;;
    --no-run) run=0 ;;
    *) args+=("$arg") ;;
  esac
done
[ ${#args[@]} -eq 0 ] && args=(--filter '*')
project=$root/bench/StreamEngine.Benchmarks
results=$project/BenchmarkDotNet.Artifacts/results
if [ $run -eq 1 ]; then
  rm -f "$results"/*-report-github.md
  (cd "$project" && dotnet run -c Release -- $mode --exporters github "${args[@]}")
fi

for report in "$results"/*-report-github.md; do
  [ -e "$report" ] || continue
  suite=$(basename "$report" -report-github.md); suite=${suite##*.}
  if grep -q "<!-- micro:$suite -->" "$root/bench/RESULTS.md"; then
    SUITE=$suite REPORT=$report perl -0pi -e '
      open(my $f, "<", $ENV{REPORT}) or die; local $/; my $table = <$f>; close $f;
      $table =~ s/\A\s+|\s+\z//g;
      s/(<!-- micro:\Q$ENV{SUITE}\E -->\n)(?:.*?\n)?(<!-- \/micro:\Q$ENV{SUITE}\E -->)/$1$table\n$2/s' "$root/bench/RESULTS.md"
    echo "micro.sh: $suite -> bench/RESULTS.md" >&2
  else
    echo "micro.sh: $suite has no markers in bench/RESULTS.md; its report is $report" >&2
  fi
done
