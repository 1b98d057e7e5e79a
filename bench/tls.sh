#!/usr/bin/env bash
# TLS against plain HTTP, same gateway build, same run: see bench/README.md.
#
#   bench/tls.sh [--runs N] [--out FILE] [--no-append] [--keep]
#
# Builds .tools/bin/weightgate from the working tree, makes a dir-backend
# store (one 1 GiB file and 16 files of 64 MiB, random bytes, sha256s in
# export.yaml) and a self-signed certificate for 127.0.0.1 under
# var/bench/tls-*/, starts two gateways on 127.0.0.1 (one plain, one with
# tls:), and downloads with curl (--cacert): one 1 GiB download, and 16
# concurrent downloads of the 16 files (1 GiB together), over plain
# HTTP/1.1, TLS HTTP/1.1 and TLS HTTP/2, N runs each (default 3) with the
# sides alternating. Reports MB/s, the ratio to plain, the gateway's CPU
# seconds per GiB (process_cpu_seconds_total from its /metrics) and its peak
# RSS during the 16 downloads; writes FILE (default var/bench/tls-*/RESULTS.md)
# and appends it to bench/RESULTS.md unless --no-append. Both gateways are
# stopped on exit, error or Ctrl-C.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
COMMAND="bench/tls.sh${*:+ $*}"
log() { echo "bench/tls.sh: $*" >&2; }
die() { log "error: $*"; exit 1; }

runs=3 out="" append=1 keep=0
while (($#)); do
  case $1 in
    --runs) runs=${2:?--runs needs a value}; shift ;;
    --out) out=${2:?--out needs a value}; shift ;;
    --no-append) append=0 ;;
    --keep) keep=1 ;;
    -h | --help) sed -n '2,18p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 0 ;;
    *) die "unknown argument: $1" ;;
  esac
  shift
done
[[ $runs =~ ^[1-9][0-9]*$ ]] || die "--runs takes a positive number"
for tool in go curl openssl sha256sum awk; do
  command -v "$tool" >/dev/null 2>&1 || die "$tool is not on PATH"
done

STAMP=$(date -u +%Y%m%d-%H%M%S)
WORK=$ROOT/var/bench/tls-$STAMP
out=${out:-$WORK/RESULTS.md}
mkdir -p "$WORK"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  if ((keep == 0)); then rm -rf "$WORK/store" "$WORK"/audit-*; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log "building weightgate"
mkdir -p .tools/bin
go build -o .tools/bin/weightgate ./cmd/weightgate
WG=$ROOT/.tools/bin/weightgate

log "making the store under $WORK/store (2 GiB of random bytes)"
MODEL=$WORK/store/bench-lab/tls-bench
mkdir -p "$MODEL"
head -c $((1 << 30)) /dev/urandom >"$MODEL/big.safetensors"
for i in $(seq -w 1 16); do
  head -c $((64 << 20)) /dev/urandom >"$MODEL/shard-$i.safetensors"
done
{
  echo "weights: open"
  echo "training_compute_flop: 1.0e20"
  echo "files:"
  (cd "$MODEL" && sha256sum -- *.safetensors) | awk '{print "  " $2 ": {sha256: " $1 "}"}'
} >"$MODEL/export.yaml"

log "making a self-signed certificate for 127.0.0.1"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=localhost \
  -addext "subjectAltName=IP:127.0.0.1,DNS:localhost" \
  -keyout "$WORK/key.pem" -out "$WORK/cert.pem" 2>/dev/null
CA=$WORK/cert.pem

# start NAME TLSSECTION: a gateway; sets URL_NAME, ADMIN_NAME, PID_NAME.
start() {
  local name=$1 tls=$2 cfg=$WORK/$1.yaml logf=$WORK/$1.log
  cat >"$cfg" <<EOF
dev: true
listen: 127.0.0.1:0
admin: {listen: 127.0.0.1:0}
log: {level: info}
storage: {backend: dir, dir: {path: $WORK/store}}
audit: {dir: $WORK/audit-$name}
rate_limit: {per_second: 0, per_address: {per_second: 0}}
$tls
EOF
  "$WG" serve --config "$cfg" 2>"$logf" &
  local pid=$!
  pids+=("$pid")
  local i url="" admin=""
  for ((i = 0; i < 200; i++)); do
    url=$(sed -n 's/.*msg="weightgate listening" url=\([^ ]*\).*/\1/p' "$logf")
    admin=$(sed -n 's/.*msg="admin listening" url=\([^ ]*\).*/\1/p' "$logf")
    [[ -n $url && -n $admin ]] && break
    kill -0 "$pid" 2>/dev/null || die "$name gateway exited: $(tail -5 "$logf")"
    sleep 0.1
  done
  [[ -n $url ]] || die "$name gateway did not report its address in 20s"
  printf -v "URL_$name" %s "$url"
  printf -v "ADMIN_$name" %s "$admin"
  printf -v "PID_$name" %s "$pid"
}
start plain ""
start tls "tls: {cert_file: $WORK/cert.pem, key_file: $WORK/key.pem}"
# shellcheck disable=SC2154
log "plain: $URL_plain (admin $ADMIN_plain), tls: $URL_tls (admin $ADMIN_tls)"

# shellcheck disable=SC2154 # URL_*, ADMIN_*, PID_*, HTTPV_* are set by printf -v.
# The sides: name, gateway, curl's protocol flag.
SIDES=(plain tls-h1 tls-h2)
gw_of() { case $1 in plain) echo plain ;; *) echo tls ;; esac; }
proto_of() { case $1 in plain | tls-h1) echo --http1.1 ;; tls-h2) echo --http2 ;; esac; }
CURL=(curl -sS --fail --cacert "$CA" --max-time 600 -H "Accept-Encoding: identity")

# cpu GATEWAY: its process_cpu_seconds_total.
cpu() {
  local admin=ADMIN_$1
  "${CURL[@]}" "${!admin}/metrics" | awk '$1 == "process_cpu_seconds_total" {print $2}'
}

# Before timing: each side serves each file's bytes (sha256) over the
# protocol it is measured with.
log "checking every side's bytes"
for side in "${SIDES[@]}"; do
  gw=$(gw_of "$side") url=URL_$(gw_of "$side")
  for f in big shard-01 shard-16; do
    want=$(awk -v f="$f.safetensors:" '$1 == f {print $3}' "$MODEL/export.yaml" | tr -d '}')
    got=$("${CURL[@]}" "$(proto_of "$side")" "${!url}/bench-lab/tls-bench/resolve/main/$f.safetensors" | sha256sum | cut -d' ' -f1)
    [[ $got == "$want" ]] || die "$side served $f with sha256 $got, want $want"
  done
  v=$("${CURL[@]}" "$(proto_of "$side")" -o /dev/null -w '%{http_version}' "${!url}/bench-lab/tls-bench/resolve/main/shard-01.safetensors")
  log "$side: bytes verified, HTTP/$v"
  printf -v "HTTPV_${side//-/_}" %s "$v"
done

# one SIDE: one 1 GiB download; prints MB/s and CPU s/GiB.
one() {
  local side=$1 gw url
  gw=$(gw_of "$side") url=URL_$(gw_of "$side")
  local c0 c1 r
  c0=$(cpu "$gw")
  r=$("${CURL[@]}" "$(proto_of "$side")" -o /dev/null -w '%{http_code} %{size_download} %{time_total}' \
    "${!url}/bench-lab/tls-bench/resolve/main/big.safetensors")
  c1=$(cpu "$gw")
  read -r code size secs <<<"$r"
  [[ $code == 200 && $size == $((1 << 30)) ]] || die "$side: one download: status $code, $size bytes"
  awk -v s="$size" -v t="$secs" -v a="$c0" -v b="$c1" 'BEGIN {printf "%.0f %.2f\n", s / t / 1e6, (b - a) / (s / 2^30)}'
}

# many SIDE: 16 concurrent downloads of the 16 shards; prints aggregate
# MB/s, CPU s/GiB and the gateway's peak RSS (MiB, VmRSS sampled every
# 20 ms).
many() {
  local side=$1 gw url pid
  gw=$(gw_of "$side") url=URL_$(gw_of "$side") pid=PID_$(gw_of "$side")
  local c0 c1 t0 t1 i sampler peakf=$WORK/peak.$side
  echo 0 >"$peakf"
  (
    peak=0
    while :; do
      rss=$(awk '/^VmRSS:/ {print $2}' "/proc/${!pid}/status" 2>/dev/null || echo 0)
      ((rss > peak)) && peak=$rss && echo "$peak" >"$peakf"
      sleep 0.02
    done
  ) &
  sampler=$!
  c0=$(cpu "$gw")
  t0=$(date +%s.%N)
  local cpids=()
  for i in $(seq -w 1 16); do
    "${CURL[@]}" "$(proto_of "$side")" -o /dev/null -w '%{http_code} %{size_download}\n' \
      "${!url}/bench-lab/tls-bench/resolve/main/shard-$i.safetensors" >"$WORK/many.$side.$i" &
    cpids+=($!)
  done
  for p in "${cpids[@]}"; do wait "$p" || { kill "$sampler"; die "$side: a concurrent download failed"; }; done
  t1=$(date +%s.%N)
  c1=$(cpu "$gw")
  kill "$sampler"; wait "$sampler" 2>/dev/null || true
  for i in $(seq -w 1 16); do
    [[ $(cat "$WORK/many.$side.$i") == "200 $((64 << 20))" ]] || die "$side: shard $i: $(cat "$WORK/many.$side.$i")"
  done
  awk -v t="$(awk -v a="$t0" -v b="$t1" 'BEGIN {print b - a}')" -v a="$c0" -v b="$c1" -v r="$(cat "$peakf")" \
    'BEGIN {s = 16 * 64 * 2^20; printf "%.0f %.2f %.1f\n", s / t / 1e6, (b - a) / (s / 2^30), r / 1024}'
}

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
STARTED=$(date +%s)
TLS_PARAMS=$("${CURL[@]}" -v -o /dev/null "$URL_tls/healthz" 2>&1 | sed -n 's/.*SSL connection using \(.*\)/\1/p' | head -1)
log "TLS: $TLS_PARAMS"
log "warm-up: one run of each case on each side, discarded"
for side in "${SIDES[@]}"; do one "$side" >/dev/null; many "$side" >/dev/null; done
declare -A ONE MANY
for ((run = 1; run <= runs; run++)); do
  for side in "${SIDES[@]}"; do
    r=$(one "$side"); ONE[$side]+="$r;"
    log "run $run, $side, one 1 GiB: $r (MB/s, CPU s/GiB)"
  done
  for side in "${SIDES[@]}"; do
    r=$(many "$side"); MANY[$side]+="$r;"
    log "run $run, $side, 16 concurrent: $r (MB/s, CPU s/GiB, peak RSS MiB)"
  done
done
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
ELAPSED=$(($(date +%s) - STARTED))

# spread "a b;c d;..." FIELD: median (min–max) of that field over the runs.
spread() {
  tr ';' '\n' <<<"$1" | awk -v f="$2" 'NF {print $f}' | sort -g |
    awk '{v[NR] = $1} END {m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "%s (%s–%s)", m, v[1], v[NR]}'
}
median() { spread "$1" "$2" | cut -d' ' -f1; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }

commit=$(git rev-parse --short HEAD)
dirty=$(git status --porcelain --untracked-files=no | awk '{print $2}' | paste -sd, -)
{
  echo
  echo "## TLS against plain HTTP (bench/tls.sh)"
  echo
  echo "- date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "- command: \`$COMMAND\`"
  echo "- weightgate: $commit${dirty:+ dirty ($dirty)} (branch $(git rev-parse --abbrev-ref HEAD)), one build for both gateways"
  echo "- machine: $(nproc) cores, $(awk '/^model name/ {sub(/.*: /, ""); print; exit}' /proc/cpuinfo), $(go version | cut -d' ' -f3), $(curl --version | head -1 | cut -d' ' -f1-2,5-)"
  echo "- load average (1, 5, 15 min): $LOAD_BEFORE before, $LOAD_AFTER after; measured part ${ELAPSED}s"
  echo "- setup: two gateways of the same build on 127.0.0.1, dir backend on one store, \`config\` as in the script (log level info, audit with group commit, metrics), one plain, one with \`tls:\` (a self-signed ECDSA P-256 certificate; negotiated with curl: $TLS_PARAMS); client: curl, one process per download, \`-o /dev/null\`, status and length checked on every download, sha256 of three files per side checked before timing"
  # shellcheck disable=SC2154
  echo "- sides: plain HTTP/1.1 (sendfile), TLS HTTP/1.1 (\`--http1.1\`), TLS HTTP/2 (\`--http2\`, negotiated HTTP/$HTTPV_tls_h2); a discarded warm-up, then $runs runs alternating the sides; median (min–max)"
  echo "- CPU: the gateway's \`process_cpu_seconds_total\` from its /metrics before and after, per GiB sent; peak RSS: the gateway's VmRSS sampled every 20 ms during the 16 downloads"
  echo
  echo "| case | side | MB/s | ratio to plain | gateway CPU s/GiB | peak RSS MiB |"
  echo "| --- | --- | --- | --- | --- | --- |"
  for side in "${SIDES[@]}"; do
    echo "| one 1 GiB download | $side | $(spread "${ONE[$side]}" 1) | $(ratio "$(median "${ONE[$side]}" 1)" "$(median "${ONE[plain]}" 1)") | $(spread "${ONE[$side]}" 2) | – |"
  done
  for side in "${SIDES[@]}"; do
    echo "| 16 concurrent × 64 MiB (aggregate) | $side | $(spread "${MANY[$side]}" 1) | $(ratio "$(median "${MANY[$side]}" 1)" "$(median "${MANY[plain]}" 1)") | $(spread "${MANY[$side]}" 2) | $(spread "${MANY[$side]}" 3) |"
  done
  echo
  echo "The client decrypts on the same 2 cores as the gateway encrypts, so the TLS figures are a floor for what a gateway with its cores to itself sends."
} >"$out"
cat "$out"
if ((append)); then
  cat "$out" >>bench/RESULTS.md
  log "appended to bench/RESULTS.md"
fi
log "report: $out"
