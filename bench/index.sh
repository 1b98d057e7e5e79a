#!/usr/bin/env bash
# The audit index (audit/index) over a generated trail of a million
# records spanning 30 days (kept under $TMPDIR between runs, with the index
# built from it):
#   BenchmarkIndexSync: index the whole trail into an empty index (records/s;
#     one pass is a million records, over a minute on 2 cores)
#   BenchmarkIndexQuery: the first page (50 rows, newest first, with Total)
#     under the console's and `audit query`'s usual filters (target < 1 s)
#   BenchmarkIndexOverview: the overview of 30 days, and of 7 ending mid-hour
#     (target < 1 s)
# Usage: bench/index.sh [COUNT]   (default 1 run of each)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
count=${1:-1}
mkdir -p var
{
  go test -run '^$' -bench 'BenchmarkIndex(Query|Overview)' -benchmem -count "$count" ./audit/index/
  go test -run '^$' -bench 'BenchmarkIndexSync' -benchtime 1x -count "$count" ./audit/index/
} | tee var/bench-index.txt
