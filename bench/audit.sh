#!/usr/bin/env bash
# Audited throughput, group commit against one fsync per record, on this
# machine's disk (the audit directory is a temp dir under $TMPDIR):
#   BenchmarkAppend (audit): concurrent writers appending decision-
#     sized records straight to the trail: records/s at 1, 16, 64 writers
#   BenchmarkAuditedDecisions (gateway): concurrent requesters sending HEAD
#     requests through the whole gateway (token, policy, stat, one durable
#     decision record each): decisions/s at 1, 16, 64 requesters; group
#     commit unsigned, with signed checkpoints (group-signed), and with each
#     checkpoint anchored on a private VersityGW with Object Lock
#     (group-anchored; needs versitygw, as scripts/s3-server.sh installs it)
# Usage: bench/audit.sh [COUNT]   (default 3 runs of each)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
count=${1:-3}
mkdir -p var
{
  go test -run '^$' -bench 'BenchmarkAppend' -benchtime 2s -count "$count" ./audit/
  go test -run '^$' -bench 'BenchmarkAuditedDecisions' -benchtime 3s -count "$count" ./test/e2e/
} | tee var/bench-audit.txt
