#!/usr/bin/env bash
# Gateway overhead against direct-to-storage, side by side on one private
# VersityGW (installed by scripts/s3-server.sh into .tools/ if needed):
#   BenchmarkDownload: 64 MiB through the gateway vs straight from S3 (MB/s)
#   BenchmarkDecision: a HEAD through the gateway vs a bare StatObject (ns/op)
# Usage: bench/download.sh [COUNT]   (default 6 runs of each)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
count=${1:-6}
WEIGHTGATE_TEST_VERSITYGW=${WEIGHTGATE_TEST_VERSITYGW:-$(scripts/s3-server.sh install)}
export WEIGHTGATE_TEST_VERSITYGW
mkdir -p var
go test -run '^$' -bench 'BenchmarkDownload|BenchmarkDecision' -benchtime 2s -count "$count" ./test/e2e/ | tee var/bench.txt
