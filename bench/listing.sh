#!/usr/bin/env bash
# How listing scales, side by side in one run: bench/listing.sh [SIZES...]
# (default 1000 10000). For each size it generates a catalog of that many
# models (scripts/genstore -models, straight into a private VersityGW's
# bucket directory, with the ETag attribute VersityGW reads), starts one
# VersityGW and two gateways (dir backend on the bucket directory, S3
# backend on the bucket), and measures with curl and the aws CLI:
#   - a page of 1,000 keys (ListObjectsV2, anonymous, from the middle),
#   - one model's prefix (org0/model1/),
#   - GET /api/models?limit=100,
#   - aws s3 ls --recursive of the whole bucket, through each gateway
#     and from VersityGW directly,
#   - each gateway's VmRSS and VmHWM after all of it.
# Page figures are the median of 5 after a warm-up request. Needs go, curl,
# aws, and the VersityGW binary (scripts/s3-server.sh install).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
SIZES=("${@:-1000 10000}")
read -r -a SIZES <<<"${SIZES[*]}"
VGW=$(scripts/s3-server.sh install)
WORK=$(mktemp -d /tmp/wglist.XXXXXX)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT
go build -o "$WORK/weightgate" ./cmd/weightgate
port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
timeit() { # median seconds of 5 curl GETs of $1 after one warm-up
  curl -fsS -o /dev/null "$1"
  for _ in 1 2 3 4 5; do curl -fsS -o /dev/null -w '%{time_total}\n' "$1"; done | median
}
export AWS_ACCESS_KEY_ID=wglist AWS_SECRET_ACCESS_KEY=wglist-secret-key AWS_DEFAULT_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true
printf '| models | side | page of 1,000 keys | one model prefix | /api/models?limit=100 | aws s3 ls --recursive | RSS / peak |\n|---|---|---|---|---|---|---|\n'
for n in "${SIZES[@]}"; do
  d=$WORK/$n; mkdir -p "$d/root"
  vp=$(port)
  ROOT_ACCESS_KEY=$AWS_ACCESS_KEY_ID ROOT_SECRET_KEY=$AWS_SECRET_ACCESS_KEY "$VGW" --port 127.0.0.1:$vp --keep-alive --quiet posix "$d/root" >"$d/vgw.log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$vp/" && break; sleep 0.1; done
  aws --endpoint-url "http://127.0.0.1:$vp" s3 mb s3://models >/dev/null
  go run ./scripts/genstore -models "$n" -etag-xattr -out "$d/root/models" >/dev/null
  mid=$(printf 'org%d/model%d/' $((n / 200)) 50)
  for side in dir s3; do
    hp=$(port); sp=$(port)
    if [[ $side == dir ]]; then st="storage: {backend: dir, dir: {path: $d/root/models}}"; else st="storage: {backend: s3, s3: {endpoint: 127.0.0.1:$vp, bucket: models, region: us-east-1}}"; fi
    cat >"$d/$side.yaml" <<YAML
dev: true
listen: 127.0.0.1:$hp
log: {level: warn}
$st
audit: {dir: $d/audit-$side}
rate_limit: {per_second: 0}
s3: {listen: 127.0.0.1:$sp, anonymous: true}
YAML
    WEIGHTGATE_S3_ACCESS_KEY=$AWS_ACCESS_KEY_ID WEIGHTGATE_S3_SECRET_KEY=$AWS_SECRET_ACCESS_KEY "$WORK/weightgate" serve --config "$d/$side.yaml" >"$d/$side.log" 2>&1 &
    gp=$!; PIDS+=($gp)
    for _ in $(seq 100); do curl -fs -o /dev/null "http://127.0.0.1:$hp/readyz" && break; sleep 0.1; done
    page=$(timeit "http://127.0.0.1:$sp/models?list-type=2&max-keys=1000&start-after=$mid")
    one=$(timeit "http://127.0.0.1:$sp/models?list-type=2&prefix=org0/model1/")
    api=$(timeit "http://127.0.0.1:$hp/api/models?limit=100")
    t0=$(date +%s.%N); keys=$(aws --endpoint-url "http://127.0.0.1:$sp" --no-sign-request s3 ls --recursive s3://models/ | wc -l); t1=$(date +%s.%N)
    rss=$(awk '/VmRSS|VmHWM/ {printf "%s %d MiB ", $1, $2/1024}' /proc/$gp/status)
    printf '| %d | gateway, %s backend (anonymous: %d keys) | %.3f s | %.3f s | %.3f s | %.2f s | %s|\n' "$n" "$side" "$keys" "$page" "$one" "$api" "$(echo "$t1 - $t0" | bc)" "$rss"
    kill $gp; wait $gp 2>/dev/null || true
  done
  t0=$(date +%s.%N); keys=$(aws --endpoint-url "http://127.0.0.1:$vp" s3 ls --recursive s3://models/ | wc -l); t1=$(date +%s.%N)
  printf '| %d | VersityGW direct (%d keys) | – | – | – | %.2f s | – |\n' "$n" "$keys" "$(echo "$t1 - $t0" | bc)"
done
