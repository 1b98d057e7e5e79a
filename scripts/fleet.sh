#!/usr/bin/env bash
# A fleet of weightgate gateways over distributed storage, proved with real
# clients. On 127.0.0.1 only, on free ports, it starts:
#
#   - a distributed SeaweedFS (master with replication 001, two volume
#     servers, a filer and its S3 gateway): the model store, seeded with
#     testdata/store plus a generated closed shard (FLEET_SHARD_MIB, 256 MiB)
#     in a model of its own whose export.yaml is signed;
#   - VersityGW with versioning: the audit anchor, a bucket with Object Lock
#     and a default COMPLIANCE retention. It is a different store from the
#     models on purpose: whoever can write model storage must not reach the
#     anchor, and killing a SeaweedFS volume server must not stop anchoring;
#   - three gateways (weightgate serve), each with its own generated config,
#     audit directory and anchor instance, sharing the S3 credentials key,
#     the anchor bucket and the policy bundle;
#   - nginx in front of both APIs, from deploy/nginx/weightgate.conf (the
#     file deployments use; only its @PORT@ placeholders are filled in).
#
# and checks, exiting non-zero when any fails:
#   1. a resuming client (curl -C -) downloads the closed shard through the
#      balancer byte-exact while the gateway serving it is SIGKILLed;
#   2. S3 credentials issued (STS) by one gateway work on the other two; a
#      refused requester is refused alike by all three (Hub and S3);
#   3. a SeaweedFS volume server SIGKILLed mid-download: downloads go on
#      from the replica, byte-exact;
#   4. a rolling restart (SIGTERM, restart, /readyz) under steady load loses
#      no request and each request has exactly one decision record in the
#      fleet; then `weightgate audit verify --anchor --strict` per gateway;
#   5. every gateway, directly and through the balancer, answers /readyz
#      with the same policy bundle and revision.
#
# The report is printed and written to .tools/run/fleet/report.txt; the
# logs of every process stay in .tools/run/fleet/logs/. Everything started
# here is stopped on exit (also on failure and Ctrl-C); every wait is
# bounded and so is the whole run (FLEET_TIMEOUT).
#
# Needs: go, curl, the aws CLI, python3 (JSON); nginx and openssl (Debian's
# nginx-light and openssl, installed with apt-get when missing and root).
# Builds what it lacks into .tools/bin: SeaweedFS's weed (once: about
# 4 minutes and 2.7 GB of memory), VersityGW (via scripts/s3-server.sh).
#
# Settings (environment):
#   WEIGHTGATE_TOOLS   tools dir (default <repo>/.tools)
#   FLEET_SHARD_MIB    size of the generated closed shard (default 256)
#   FLEET_TIMEOUT      the whole run's bound in seconds, tools build excluded (default 900)
#   FLEET_KEEP=1       keep the data (store, downloads, audit trails) in the run dir
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TOOLS=${WEIGHTGATE_TOOLS:-$ROOT/.tools}
RUN=$TOOLS/run/fleet
LOGS=$RUN/logs
DATA=$RUN/data
REPORT=$RUN/report.txt
HOST=127.0.0.1

# SeaweedFS is pinned like the other test servers; its go.mod has replace
# directives, so it is built inside its module folder, not go-installed.
WEED_MODULE=github.com/seaweedfs/seaweedfs
WEED_VERSION=v0.0.0-20261109003541-7506e5f91cd6

SHARD_MIB=${FLEET_SHARD_MIB:-256}
RUN_TIMEOUT=${FLEET_TIMEOUT:-900}
REGION=us-east-1

# Credentials of the two stores: fixed and local to this run, like
# scripts/s3-server.sh's. The gateways get them from the environment only.
STORE_KEY=fleet-store
STORE_SECRET=fleet-store-secret-0123456789abcdefghij
STORE_BUCKET=models
ANCHOR_KEY=fleet-anchor
ANCHOR_SECRET=fleet-anchor-secret-0123456789abcdefghij
ANCHOR_BUCKET=fleet-anchor
ANCHOR_URL=s3://$ANCHOR_BUCKET/weightgate
CHECKPOINT_INTERVAL=30s

# The generated model: closed, controlled (4E091), one shard.
SHARD_MODEL=fleet-lab/fleet-closed
SHARD_FILE="model-00001-of-00001.safetensors"
# A small closed file of the fixture, for S3 and the load.
SMALL_MODEL=frontier-lab/frontier-x
SMALL_FILE="model-00001-of-00002.safetensors"

GATEWAYS=(gw1 gw2 gw3)

# ---------------------------------------------------------------------------
# Output, waits and processes

started=$SECONDS
REPORT_LINES=()
FAILED=()
log() { printf 'fleet: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }
# report adds a line to the final report (and shows it now).
report() { REPORT_LINES+=("$*"); log "$*"; }
# fail records a failed check and goes on: the report names every failure.
fail() { FAILED+=("$1"); report "FAIL $1: $2"; }
pass() { report "PASS $1: $2"; }

# wait_for DESC SECONDS CMD...: run CMD until it succeeds, at most SECONDS.
wait_for() {
  local desc=$1 secs=$2 deadline
  shift 2
  deadline=$((SECONDS + secs))
  until "$@"; do
    ((SECONDS < deadline)) || { log "timed out after ${secs}s waiting for $desc"; return 1; }
    sleep 0.2
  done
}

declare -A PID=()   # name -> pid of every process started here
ORDER=()            # names in start order, for stopping in reverse

# start_proc NAME CMD...: start CMD in the background, its output in
# logs/NAME.log. setsid keeps a terminal's Ctrl-C from reaching it directly:
# the EXIT trap stops it, in order.
start_proc() {
  local name=$1
  shift
  echo "=== $(date -u +%FT%TZ) $*" >>"$LOGS/$name.log"
  setsid "$@" </dev/null >>"$LOGS/$name.log" 2>&1 &
  PID[$name]=$!
  ORDER+=("$name")
}

alive() { [[ -n ${PID[$1]:-} ]] && kill -0 "${PID[$1]}" 2>/dev/null; }

# stop_proc NAME [SIGNAL] [SECONDS]: signal it and wait (bounded) for it to
# exit; SIGKILL after the bound. Returns 1 if it had to be killed.
stop_proc() {
  local name=$1 sig=${2:-TERM} secs=${3:-15} pid=${PID[$1]:-} deadline rc=0
  [[ -n $pid ]] || return 0
  if kill -0 "$pid" 2>/dev/null; then
    kill -s "$sig" "$pid" 2>/dev/null || true
    deadline=$((SECONDS + secs))
    while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
      log "$name (pid $pid) still running ${secs}s after SIG$sig; killing it"
      kill -s KILL "$pid" 2>/dev/null || true
      rc=1
    fi
  fi
  wait "$pid" 2>/dev/null || true
  unset "PID[$name]"
  return "$rc"
}

tail_log() { tail -n "${2:-20}" "$LOGS/$1.log" 2>/dev/null | sed "s/^/  $1| /" >&2 || true; }

BG_JOBS=()   # client loops started here (downloads, load), stopped on exit
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  # Stopping must not stop half-way on a failing kill or wait.
  set +e
  if [[ -n ${WATCHDOG:-} ]]; then kill "$WATCHDOG" 2>/dev/null; wait "$WATCHDOG" 2>/dev/null; fi
  local j
  for j in "${BG_JOBS[@]}"; do kill "$j" 2>/dev/null || true; done
  # All at once, bounded: SIGTERM to each (newest first), 15 s for all of
  # them to exit, then SIGKILL to what is left.
  local i name left deadline=$((SECONDS + 15))
  for ((i = ${#ORDER[@]} - 1; i >= 0; i--)); do
    alive "${ORDER[i]}" && kill -s TERM "${PID[${ORDER[i]}]}" 2>/dev/null
  done
  while :; do
    left=()
    for name in "${ORDER[@]}"; do alive "$name" && left+=("$name"); done
    ((${#left[@]} && SECONDS < deadline)) || break
    sleep 0.2
  done
  for name in "${left[@]}"; do
    log "$name still running 15s after SIGTERM; killing it"
    kill -s KILL "${PID[$name]}" 2>/dev/null
  done
  for name in "${ORDER[@]}"; do [[ -n ${PID[$name]:-} ]] && wait "${PID[$name]}" 2>/dev/null; done
  if [[ ${FLEET_KEEP:-} != 1 ]]; then rm -rf "$DATA"; fi
  if ((${#REPORT_LINES[@]})); then
    {
      echo "weightgate fleet report, $(date -u +%FT%TZ), $((SECONDS - started))s"
      printf '%s\n' "${REPORT_LINES[@]}"
      if [[ $rc -eq 0 ]]; then echo "RESULT: PASS (all 5 checks)"; else echo "RESULT: FAIL (exit $rc)${FAILED[*]:+: ${FAILED[*]}}"; fi
    } >"$REPORT"
    echo "----- fleet report ($REPORT) -----"
    cat "$REPORT"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT
trap 'log "terminated (FLEET_TIMEOUT=${RUN_TIMEOUT}s?)"; exit 124' TERM

# Isolated aws CLI: never the user's profiles, one attempt (the checks count
# requests), no proxy for loopback. aws_as KEY SECRET TOKEN ARGS...
aws_as() {
  local ak=$1 sk=$2 st=$3
  shift 3
  env -u AWS_PROFILE -u AWS_DEFAULT_PROFILE -u AWS_SESSION_TOKEN -u AWS_SECURITY_TOKEN \
    AWS_ACCESS_KEY_ID="$ak" AWS_SECRET_ACCESS_KEY="$sk" ${st:+AWS_SESSION_TOKEN="$st"} \
    AWS_DEFAULT_REGION=$REGION AWS_REGION=$REGION AWS_MAX_ATTEMPTS=1 AWS_RETRY_MODE=standard \
    AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_EC2_METADATA_DISABLED=true \
    NO_PROXY="$HOST,localhost" no_proxy="$HOST,localhost" \
    aws --cli-connect-timeout 5 --cli-read-timeout 60 "$@"
}
curl_() { curl --noproxy '*' --connect-timeout 5 "$@"; }
sha() { sha256sum "$1" | cut -d' ' -f1; }
size() { stat -c %s "$1" 2>/dev/null || echo 0; }

# ---------------------------------------------------------------------------
# Tools

# install_tools finds or builds every binary the fleet runs, and prints
# their versions into the report.
install_tools() {
  local c
  for c in go curl aws python3 sha256sum setsid; do
    command -v "$c" >/dev/null 2>&1 || die "$c not found (see the header of $0)"
  done
  mkdir -p "$TOOLS/bin"
  install_packages
  install_weed
  VERSITYGW=$("$ROOT/scripts/s3-server.sh" install) || die "versitygw unavailable"
  WG=$RUN/bin/weightgate
  log "building weightgate"
  # -buildvcs=auto (go build's default, stated against a GOFLAGS that
  # turns it off) puts the revision in the binary for `weightgate version`.
  (cd "$ROOT" && go build -buildvcs=auto -o "$WG" ./cmd/weightgate) || die "go build ./cmd/weightgate failed"
  report "versions: $("$WG" version 2>&1 | head -n 2 | tr '\n' ' ')$(go version | cut -d' ' -f3)"
  report "versions: seaweedfs $("$WEED" version 2>&1 | head -n 1 | sed 's/^version //'); versitygw $("$VERSITYGW" --version 2>&1 | awk '/Version/{print $3; exit}')"
  report "versions: $("$NGINX" -v 2>&1); $(curl --version | head -n 1 | cut -d' ' -f1-2); $(aws --version 2>&1 | cut -d' ' -f1)"
}

# install_packages: Debian's nginx-light and openssl when missing (CI starts
# from a clean machine, as root). policy-rc.d keeps nginx's package from
# starting a system daemon (on port 80) that this script did not ask for.
install_packages() {
  local missing=() prc=/usr/sbin/policy-rc.d made=0
  [[ -x /usr/sbin/nginx ]] || command -v nginx >/dev/null 2>&1 || missing+=(nginx-light)
  command -v openssl >/dev/null 2>&1 || missing+=(openssl)
  if ((${#missing[@]})); then
    [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1 ||
      die "${missing[*]} missing: install (Debian: apt-get install ${missing[*]})"
    log "installing ${missing[*]} (apt-get)"
    if [[ ! -e $prc ]]; then printf '#!/bin/sh\nexit 101\n' >"$prc" && chmod +x "$prc" && made=1; fi
    DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null || made=$((made + 2))
    if ((made & 1)); then rm -f "$prc"; fi
    ((made < 2)) || die "apt-get install ${missing[*]} failed"
  fi
  NGINX=$(command -v nginx || echo /usr/sbin/nginx)
  [[ -x $NGINX ]] || die "nginx not found"
}

# weed: built once into .tools/bin from the pinned module.
install_weed() {
  WEED=$TOOLS/bin/weed
  [[ -x $WEED ]] && return
  log "building SeaweedFS ($WEED_MODULE@$WEED_VERSION) into $WEED: about 4 minutes and 2.7 GB the first time"
  local t0=$SECONDS dir
  # Outside the repository's module, so that nothing touches its go.mod.
  dir=$(cd "$TOOLS" && GOFLAGS=-mod=mod GO111MODULE=on go mod download -json "$WEED_MODULE@$WEED_VERSION" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])') || die "go mod download $WEED_MODULE failed"
  (cd "$dir" && GOFLAGS=-mod=mod go build -o "$WEED.tmp" ./weed) || die "building weed failed"
  mv "$WEED.tmp" "$WEED"
  log "built weed in $((SECONDS - t0))s"
}

# ---------------------------------------------------------------------------
# Ports: every port is picked free from the kernel, all at once so that they
# differ; nothing here uses a fixed port.
declare -A P=()
alloc_ports() {
  local names=(sw_master sw_master_grpc sw_vol1 sw_vol1_grpc sw_vol2 sw_vol2_grpc sw_filer sw_filer_grpc
    sw_s3 sw_s3_grpc anchor lb_hub lb_s3) g ports i
  for g in "${GATEWAYS[@]}"; do names+=("${g}_hub" "${g}_s3" "${g}_admin"); done
  read -r -a ports < <(python3 - "${#names[@]}" <<'EOF'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
EOF
  )
  ((${#ports[@]} == ${#names[@]})) || die "could not allocate ports"
  for i in "${!names[@]}"; do P[${names[i]}]=${ports[i]}; done
}

http_code() { curl_ -s -o /dev/null -w '%{http_code}' --max-time 3 "$1" 2>/dev/null || true; }

# ---------------------------------------------------------------------------
# SeaweedFS

start_seaweedfs() {
  local sw=$DATA/seaweedfs m
  mkdir -p "$sw/master" "$sw/vol1" "$sw/vol2" "$sw/filer"
  # One identity, the gateways' and the seeder's.
  cat >"$RUN/seaweedfs-s3.json" <<EOF
{"identities":[{"name":"fleet","credentials":[{"accessKey":"$STORE_KEY","secretKey":"$STORE_SECRET"}],"actions":["Admin","Read","List","Tagging","Write"]}]}
EOF
  # host:port.grpcport: SeaweedFS otherwise assumes grpc = port + 10000,
  # which would not be a port picked free.
  m=$HOST:${P[sw_master]}.${P[sw_master_grpc]}
  # 001: each volume has a copy on another volume server of the same rack.
  start_proc sw-master "$WEED" master -ip=$HOST -ip.bind=$HOST -port="${P[sw_master]}" -port.grpc="${P[sw_master_grpc]}" \
    -mdir="$sw/master" -defaultReplication=001 -volumeSizeLimitMB=256 -telemetry=false
  wait_for "SeaweedFS master" 30 sw_leader || { tail_log sw-master; return 1; }
  local v
  for v in 1 2; do
    start_proc "sw-vol$v" "$WEED" volume -ip=$HOST -ip.bind=$HOST -port="${P[sw_vol$v]}" -port.grpc="${P[sw_vol${v}_grpc]}" \
      -master="$m" -dir="$sw/vol$v" -max=30 -index=memory
  done
  wait_for "two SeaweedFS volume servers" 60 sw_nodes 2 || { tail_log sw-vol1; tail_log sw-vol2; return 1; }
  start_proc sw-filer "$WEED" filer -ip=$HOST -ip.bind=$HOST -port="${P[sw_filer]}" -port.grpc="${P[sw_filer_grpc]}" \
    -master="$m" -defaultStoreDir="$sw/filer" -localSocket="$sw/filer.sock"
  # The filer answers HTTP at once, but takes S3 writes only once the
  # master has given it the lock ring (about 15 s): writes before that
  # retry "no lock server found" and can outlast a client's timeout.
  wait_for "SeaweedFS filer" 90 grep -q "LockRing: applying master ring update" "$LOGS/sw-filer.log" ||
    { tail_log sw-filer; return 1; }
  # Iceberg and Lance listeners off: they would take fixed ports.
  start_proc sw-s3 "$WEED" s3 -ip.bind=$HOST -port="${P[sw_s3]}" -port.grpc="${P[sw_s3_grpc]}" -port.iceberg=0 -port.lance=0 \
    -filer="$HOST:${P[sw_filer]}.${P[sw_filer_grpc]}" -config="$RUN/seaweedfs-s3.json" -localSocket="$sw/s3.sock"
  wait_for "SeaweedFS S3 gateway" 60 sw_s3_up || { tail_log sw-s3; return 1; }
  report "seaweedfs: master $HOST:${P[sw_master]} (replication 001), volume servers $HOST:${P[sw_vol1]} and $HOST:${P[sw_vol2]}, filer $HOST:${P[sw_filer]}, S3 $HOST:${P[sw_s3]}"
}
sw_leader() { curl_ -sf --max-time 2 "http://$HOST:${P[sw_master]}/cluster/status" 2>/dev/null | grep -q '"IsLeader":true'; }
sw_nodes() {
  local n
  n=$(curl_ -sf --max-time 2 "http://$HOST:${P[sw_master]}/dir/status" 2>/dev/null | python3 -c '
import json, sys
t = json.load(sys.stdin)["Topology"]
print(sum(len(r.get("DataNodes") or []) for dc in t.get("DataCenters") or [] for r in dc.get("Racks") or []))' 2>/dev/null) || return 1
  [[ $n == "$1" ]]
}
sw_http_up() { [[ $(http_code "http://$HOST:$1/") =~ ^[2-4] ]]; }
# The S3 gateway is up when it answers a signed request.
sw_s3_up() { aws_as "$STORE_KEY" "$STORE_SECRET" "" --endpoint-url "http://$HOST:${P[sw_s3]}" s3api list-buckets >/dev/null 2>&1; }
sw_s3() { aws_as "$STORE_KEY" "$STORE_SECRET" "" --endpoint-url "http://$HOST:${P[sw_s3]}" "$@"; }

# seed_store: the fixture and the generated closed shard, whose export.yaml
# declares its sha256 and is signed with the (development) compliance key.
seed_store() {
  local shard=$DATA/shard/$SHARD_MODEL
  mkdir -p "$shard"
  log "generating the ${SHARD_MIB} MiB closed shard"
  head -c "$((SHARD_MIB * 1024 * 1024))" /dev/urandom >"$shard/$SHARD_FILE"
  SHARD_SHA=$(sha "$shard/$SHARD_FILE")
  SHARD_BYTES=$(size "$shard/$SHARD_FILE")
  printf '{"architectures":["FleetForCausalLM"],"model_type":"fleet"}\n' >"$shard/config.json"
  cat >"$shard/export.yaml" <<EOF
weights: closed
training_compute_flop: 3.0e26
eccn: 4E091
files:
  $SHARD_FILE: {sha256: $SHARD_SHA}
EOF
  "$WG" classify sign --key "$ROOT/testdata/keys/classify-ed25519.pem" --model "$SHARD_MODEL" \
    --by "scripts/fleet.sh (development key)" "$shard/export.yaml" >/dev/null || die "classify sign failed"
  sw_s3 s3api create-bucket --bucket "$STORE_BUCKET" >/dev/null || die "create-bucket $STORE_BUCKET on SeaweedFS failed"
  local t0=$SECONDS
  # Empty files go one per connection: after the CLI's PUT of an empty body
  # SeaweedFS's S3 gateway garbles the next answer on the connection (the
  # client then waits out its read timeout), as VersityGW does in
  # internal/s3test.
  local empty=() f
  while IFS= read -r f; do empty+=("${f#"$ROOT/testdata/store/"}"); done < <(find "$ROOT/testdata/store" -type f -size 0)
  local ex=()
  for f in "${empty[@]}"; do ex+=(--exclude "$f"); done
  sw_s3 s3 sync --only-show-errors "${ex[@]}" "$ROOT/testdata/store/" "s3://$STORE_BUCKET/" || die "seeding testdata/store failed"
  for f in "${empty[@]}"; do
    sw_s3 s3api put-object --bucket "$STORE_BUCKET" --key "$f" >/dev/null || die "seeding $f failed"
  done
  sw_s3 s3 sync --only-show-errors "$DATA/shard/" "s3://$STORE_BUCKET/" || die "seeding the shard failed"
  local want got
  want=$(($(find "$ROOT/testdata/store" -type f | wc -l) + 3))
  got=$(sw_s3 s3 ls --recursive "s3://$STORE_BUCKET/" | wc -l)
  [[ $got -eq $want ]] || die "SeaweedFS holds $got objects, expected $want"
  report "store: $got objects in s3://$STORE_BUCKET on SeaweedFS ($((SECONDS - t0))s), among them $SHARD_MODEL/$SHARD_FILE: $SHARD_BYTES bytes, sha256 $SHARD_SHA"
}

# check_replication proves replication is real before the kill test: every
# volume holding a chunk of the shard is located on both volume servers
# (the master's view), and each such volume's data file is on both volume
# servers' disks with the same size (each server's own copy).
check_replication() {
  local out
  out=$(python3 - "$HOST" "${P[sw_filer]}" "${P[sw_master]}" "$STORE_BUCKET/$SHARD_MODEL/$SHARD_FILE" \
    "$HOST:${P[sw_vol1]}" "$HOST:${P[sw_vol2]}" "$DATA/seaweedfs/vol1" "$DATA/seaweedfs/vol2" <<'EOF'
import glob, json, os, sys, urllib.request
host, filer, master, path, n1, n2, d1, d2 = sys.argv[1:]
op = urllib.request.build_opener(urllib.request.ProxyHandler({}))
meta = json.load(op.open(f"http://{host}:{filer}/buckets/{path}?metadata=true", timeout=10))
chunks = meta.get("chunks") or []
vids = sorted({int(c["file_id"].split(",")[0]) for c in chunks})
size = sum(int(c["size"]) for c in chunks)
bad = []
for v in vids:
    loc = json.load(op.open(f"http://{host}:{master}/dir/lookup?volumeId={v}", timeout=10))
    urls = sorted(l["url"] for l in loc.get("locations") or [])
    if urls != sorted([n1, n2]):
        bad.append(f"volume {v} located on {urls}")
    files = [glob.glob(os.path.join(d, f"*_{v}.dat")) + glob.glob(os.path.join(d, f"{v}.dat")) for d in (d1, d2)]
    sizes = [os.path.getsize(f[0]) if f else None for f in files]
    if None in sizes or sizes[0] != sizes[1]:
        bad.append(f"volume {v} data files: {sizes}")
print(f"{len(chunks)} chunks ({size} bytes) in volumes {','.join(map(str, vids))}")
for b in bad:
    print("BAD", b)
EOF
  ) || { fail replication "could not read the shard's chunks: $out"; return 1; }
  if grep -q '^BAD' <<<"$out" || [[ $out != *chunks* ]]; then
    fail replication "$(tr '\n' ';' <<<"$out")"
    return 1
  fi
  report "replication: the shard's $out, each on both volume servers with same-size data files"
}

# ---------------------------------------------------------------------------
# The anchor: VersityGW with versioning, so that Object Lock works.

start_anchor() {
  local d=$DATA/anchor
  mkdir -p "$d/root" "$d/versions" "$d/iam"
  ROOT_ACCESS_KEY=$ANCHOR_KEY ROOT_SECRET_KEY=$ANCHOR_SECRET start_proc anchor "$VERSITYGW" \
    --port "$HOST:${P[anchor]}" --region $REGION --health /health --keep-alive --quiet --iam-dir "$d/iam" \
    posix --versioning-dir "$d/versions" "$d/root"
  wait_for "VersityGW (anchor)" 30 sw_http_up "${P[anchor]}" || { tail_log anchor; return 1; }
  anchor_s3 s3api create-bucket --bucket $ANCHOR_BUCKET --object-lock-enabled-for-bucket >/dev/null ||
    { tail_log anchor; die "creating the anchor bucket failed"; }
  # A default retention as a second guard: an object written without one
  # is still locked. COMPLIANCE, which nobody can shorten (the gateways
  # refuse GOVERNANCE); one day is enough for a test bucket.
  anchor_s3 s3api put-object-lock-configuration --bucket $ANCHOR_BUCKET --object-lock-configuration \
    '{"ObjectLockEnabled":"Enabled","Rule":{"DefaultRetention":{"Mode":"COMPLIANCE","Days":1}}}' >/dev/null ||
    die "setting the anchor bucket's default retention failed"
  local mode
  mode=$(anchor_s3 s3api get-object-lock-configuration --bucket $ANCHOR_BUCKET \
    --query 'ObjectLockConfiguration.[ObjectLockEnabled,Rule.DefaultRetention.Mode]' --output text) || die "reading the lock configuration failed"
  [[ $mode == $'Enabled\tCOMPLIANCE' ]] || die "anchor bucket lock configuration: $mode"
  report "anchor: VersityGW $HOST:${P[anchor]}, bucket $ANCHOR_BUCKET with Object Lock (default COMPLIANCE, 1 day), $ANCHOR_URL"
}
anchor_s3() { aws_as "$ANCHOR_KEY" "$ANCHOR_SECRET" "" --endpoint-url "http://$HOST:${P[anchor]}" "$@"; }

# ---------------------------------------------------------------------------
# Gateways

# write_gateway_configs: one file per gateway, the same but for its audit
# directory and anchor instance. Addresses come from the serve flags.
write_gateway_configs() {
  head -c 32 /dev/urandom >"$RUN/s3-credentials.key"
  chmod 600 "$RUN/s3-credentials.key"
  # One checkpoint key for the fleet; each instance signs its own chain.
  openssl genpkey -algorithm ed25519 -out "$RUN/checkpoint.pem" 2>/dev/null || die "openssl genpkey failed"
  openssl pkey -in "$RUN/checkpoint.pem" -pubout -out "$RUN/checkpoint.pub.pem" 2>/dev/null || die "openssl pkey failed"
  local g
  for g in "${GATEWAYS[@]}"; do
    mkdir -p "$DATA/$g/audit"
    cat >"$RUN/$g.yaml" <<EOF
# Written by scripts/fleet.sh for gateway $g of the fleet test.
dev: true   # it trusts the development keys and registry under testdata/
shutdown_timeout: 30s
log:
  format: text
  level: info
storage:
  backend: s3
  s3:
    endpoint: $HOST:${P[sw_s3]}   # SeaweedFS's S3 gateway; credentials from WEIGHTGATE_S3_*
    bucket: $STORE_BUCKET
    region: $REGION
    timeout: 30s
catalog:
  classification_keys:
    - $ROOT/testdata/keys/classify-ed25519.pub.pem
auth:
  issuers:
    - issuer: weightgate-dev
      audience: weightgate
      algorithms: [EdDSA]
      public_keys:
        - $ROOT/testdata/keys/dev-ed25519.pub.pem
policy:
  bundle: ""
  registry: $ROOT/testdata/registry
audit:
  dir: $DATA/$g/audit
  # Small files, so that rotation and the anchoring of sealed files happen
  # within the run and audit verify checks them.
  max_file_bytes: 1048576
  checkpoint:
    key: $RUN/checkpoint.pem
    every: 1000
    interval: $CHECKPOINT_INTERVAL
  anchor:
    url: $ANCHOR_URL
    endpoint: $HOST:${P[anchor]}   # credentials from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY
    region: $REGION
    tls: false
    instance: $g
    retention: 24h
    required: true
location:
  trusted_proxies: [$HOST]   # nginx
s3:
  bucket: models
  region: $REGION
  bucket_created: 2025-01-15
  credentials_key: $RUN/s3-credentials.key   # shared: credentials hold on every gateway
# Off: the load check counts lost requests, not limits.
rate_limit:
  per_second: 0
  per_address:
    per_second: 0
EOF
  done
}

start_gateway() {
  local g=$1
  WEIGHTGATE_S3_ACCESS_KEY=$STORE_KEY WEIGHTGATE_S3_SECRET_KEY=$STORE_SECRET \
    AWS_ACCESS_KEY_ID=$ANCHOR_KEY AWS_SECRET_ACCESS_KEY=$ANCHOR_SECRET \
    start_proc "$g" "$WG" serve --config "$RUN/$g.yaml" --listen "$HOST:${P[${g}_hub]}" \
    --s3-listen "$HOST:${P[${g}_s3]}" --admin-listen "$HOST:${P[${g}_admin]}"
  wait_for "$g /readyz" 60 gateway_ready "$g" || { tail_log "$g" 30; return 1; }
}
gateway_ready() { alive "$1" && [[ $(http_code "http://$HOST:${P[${1}_admin]}/readyz") == 200 ]]; }

start_gateways() {
  write_gateway_configs
  local g
  for g in "${GATEWAYS[@]}"; do start_gateway "$g" || die "gateway $g did not become ready"; done
  for g in "${GATEWAYS[@]}"; do
    report "gateway $g: Hub $HOST:${P[${g}_hub]}, S3 $HOST:${P[${g}_s3]}, admin $HOST:${P[${g}_admin]}, audit $DATA/$g/audit, anchor instance $g"
  done
}

# ---------------------------------------------------------------------------
# nginx, from the repository's config with the ports filled in.

start_nginx() {
  local prefix=$RUN/nginx conf
  rm -rf "$prefix"
  mkdir -p "$prefix/logs" "$prefix/tmp"
  conf=$prefix/weightgate.conf
  sed -e "s/@GW1_HUB@/${P[gw1_hub]}/; s/@GW2_HUB@/${P[gw2_hub]}/; s/@GW3_HUB@/${P[gw3_hub]}/" \
    -e "s/@GW1_S3@/${P[gw1_s3]}/; s/@GW2_S3@/${P[gw2_s3]}/; s/@GW3_S3@/${P[gw3_s3]}/" \
    -e "s/@LB_HUB@/${P[lb_hub]}/; s/@LB_S3@/${P[lb_s3]}/" \
    "$ROOT/deploy/nginx/weightgate.conf" >"$conf"
  ! grep -v '^[[:space:]]*#' "$conf" | grep '@[A-Z0-9_]*@' || die "deploy/nginx/weightgate.conf has a placeholder this script does not fill"
  "$NGINX" -t -q -p "$prefix" -c "$conf" -e "$prefix/logs/error.log" -g 'daemon off;' 2>>"$LOGS/nginx.log" ||
    { tail_log nginx; die "nginx -t refused deploy/nginx/weightgate.conf"; }
  start_proc nginx "$NGINX" -p "$prefix" -c "$conf" -e "$prefix/logs/error.log" -g 'daemon off;'
  wait_for "nginx" 20 lb_ready || { tail_log nginx; cat "$prefix/logs/error.log" >&2; return 1; }
  report "nginx: Hub $HOST:${P[lb_hub]}, S3 $HOST:${P[lb_s3]} (deploy/nginx/weightgate.conf; access log $prefix/logs/access.log)"
}
lb_ready() { alive nginx && [[ $(http_code "http://$HOST:${P[lb_hub]}/readyz") == 200 && $(http_code "http://$HOST:${P[lb_s3]}/readyz") == 200 ]]; }

# ---------------------------------------------------------------------------
# Clients

token() { "$WG" token --key "$ROOT/testdata/keys/dev-ed25519.pem" --ttl 2h "$@"; }

# The audit records of the whole fleet, as "kind request_id subject gateway"
# lines: what the checks count.
fleet_records() {
  python3 - "$DATA" "${GATEWAYS[@]}" <<'EOF'
import glob, json, os, sys
data, gws = sys.argv[1], sys.argv[2:]
for g in gws:
    for f in sorted(glob.glob(os.path.join(data, g, "audit", "audit-*.jsonl"))):
        with open(f, encoding="utf-8") as fh:
            for line in fh:
                try:
                    j = json.loads(line)
                except ValueError:
                    continue  # a torn tail left by SIGKILL; audit verify judges it
                r = j.get("record") or {}
                print(j.get("kind", "-"), r.get("request_id") or "-", r.get("subject") or "-", g)
EOF
}

# gateway_of REQUEST_ID: the gateway whose trail has that request's decision.
gateway_of() {
  local rid=$1 g
  for g in "${GATEWAYS[@]}"; do
    if grep -qs "\"request_id\":\"$rid\"" "$DATA/$g/audit"/audit-*.jsonl; then echo "$g"; return 0; fi
  done
  return 1
}

# resume_download URL OUT RATE TRIES: curl -C - until the file is complete,
# at most TRIES attempts; each attempt's headers in OUT.hdr.N. --fail keeps an
# error page out of the file; a cut transfer (exit 18, 56) is resumed.
resume_download() {
  local url=$1 out=$2 rate=$3 tries=$4 i rc=1
  rm -f "$out" "$out".hdr.*
  for ((i = 1; i <= tries; i++)); do
    rc=0
    curl_ -sS --fail --max-time 120 --limit-rate "$rate" -C - -o "$out" -D "$out.hdr.$i" \
      -H "Authorization: Bearer $TIER1_TOKEN" "$url" 2>>"$out.err" || rc=$?
    echo "attempt $i: exit $rc, file $(size "$out") bytes" >>"$out.err"
    ((rc == 0)) && return 0
    sleep 0.5
  done
  return "$rc"
}
count_files() { local n=0 f; for f in "$@"; do [[ -e $f ]] && n=$((n + 1)); done; echo "$n"; }
status_of() { tr -d '\r' <"$1" 2>/dev/null | awk 'toupper($1) ~ /^HTTP\// {s = $2} END {print s}'; }
header_of() { tr -d '\r' <"$2" 2>/dev/null | awk -v h="$(tr 'A-Z' 'a-z' <<<"$1"):" 'tolower($1) == h {print $2}' | tail -n 1; }

# wait_pid PID SECONDS: wait for a background job, bounded; 124 on timeout.
wait_pid() {
  local pid=$1 deadline=$((SECONDS + $2)) rc=0
  while kill -0 "$pid" 2>/dev/null; do
    ((SECONDS < deadline)) || { kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; return 124; }
    sleep 0.2
  done
  wait "$pid" 2>/dev/null || rc=$?
  return "$rc"
}

SHARD_URL_PATH=/$SHARD_MODEL/resolve/main/$SHARD_FILE

# ---------------------------------------------------------------------------
# Check 1: the gateway serving the shard is SIGKILLed mid-transfer.

check_gateway_kill() {
  local out=$DATA/dl-gwkill.bin job rid g at attempts got
  # Throttled so that the kill lands mid-file: 256 MiB at 24 MiB/s is ~11 s.
  resume_download "http://$HOST:${P[lb_hub]}$SHARD_URL_PATH" "$out" 24M 10 &
  job=$!
  BG_JOBS+=("$job")
  if ! wait_for "the first quarter of the shard" 60 bytes_at_least "$out" $((SHARD_BYTES / 4)); then
    fail 1 "the download did not reach a quarter of the shard: $(tail -n 3 "$out.err" 2>/dev/null | tr '\n' ' ')"
    return
  fi
  rid=$(header_of X-Request-Id "$out.hdr.1")
  g=$(gateway_of "$rid") || { fail 1 "no gateway recorded request $rid"; return; }
  at=$(size "$out")
  # (stderr: bash's own "Killed" line for its job.)
  { kill -s KILL "${PID[$g]}"; wait_pid "${PID[$g]}" 5 || true; } 2>/dev/null
  report "check 1: SIGKILLed $g (serving request $rid) at $at of $SHARD_BYTES bytes downloaded, $((SECONDS - started))s into the run"
  unset "PID[$g]"
  local rc=0
  wait_pid "$job" 120 || rc=$?
  attempts=$(count_files "$out".hdr.*)
  got=$(sha "$out" 2>/dev/null || echo none)
  local served=()
  local i r
  for ((i = 1; i <= attempts; i++)); do
    r=$(header_of X-Request-Id "$out.hdr.$i")
    served+=("$(status_of "$out.hdr.$i"):$(gateway_of "$r" || echo '?')")
  done
  # Restart it: the rest of the run needs the whole fleet.
  start_gateway "$g" || die "restarting $g failed"
  report "check 1: restarted $g: ready again"
  if ((rc != 0)); then
    fail 1 "the resuming download failed (exit $rc): $(tail -n 3 "$out.err" | tr '\n' ' ')"
  elif [[ $got != "$SHARD_SHA" ]]; then
    fail 1 "the shard downloaded has sha256 $got, want $SHARD_SHA ($(size "$out") bytes)"
  elif ((attempts < 2)); then
    fail 1 "the download finished in one attempt: the kill did not land mid-transfer"
  else
    pass 1 "$(size "$out") bytes, sha256 matches, in $attempts attempts (status:gateway ${served[*]}) across the kill of $g"
  fi
  rm -f "$out"
}
bytes_at_least() { (($(size "$1") >= $2)); }
lines_at_least() { (($(wc -l <"$1" 2>/dev/null || echo 0) >= $2)); }

# ---------------------------------------------------------------------------
# Check 2: credentials from one gateway hold on the others; a refusal is the
# same everywhere.

sts() { # sts ENDPOINT JWT SESSION -> "key secret token"
  aws_as x x "" --endpoint-url "$1" sts assume-role-with-web-identity \
    --role-arn arn:aws:iam::000000000000:role/weightgate --role-session-name "$3" --web-identity-token "$2" \
    --query 'Credentials.[AccessKeyId,SecretAccessKey,SessionToken]' --output text
}

check_credentials() {
  local ok=1 creds ak sk st g want got out
  want=$(sha "$ROOT/testdata/store/$SMALL_MODEL/$SMALL_FILE")
  creds=$(sts "http://$HOST:${P[gw1_s3]}" "$TIER1_TOKEN" fleet-alice) || { fail 2 "STS on gw1 failed"; return; }
  read -r ak sk st <<<"$creds"
  local done_on=()
  for g in gw2 gw3 lb; do
    local ep
    if [[ $g == lb ]]; then ep="http://$HOST:${P[lb_s3]}"; else ep="http://$HOST:${P[${g}_s3]}"; fi
    out=$DATA/s3-$g.bin
    if ! aws_as "$ak" "$sk" "$st" --endpoint-url "$ep" s3api get-object --bucket models --key "$SMALL_MODEL/$SMALL_FILE" "$out" >/dev/null 2>"$out.err"; then
      ok=0; fail 2 "credentials from gw1 refused by $g: $(tail -n 1 "$out.err")"; continue
    fi
    got=$(sha "$out")
    if [[ $got != "$want" ]]; then ok=0; fail 2 "$g served $SMALL_FILE with sha256 $got, want $want"; continue; fi
    done_on+=("$g")
  done
  ((ok)) && report "check 2: credentials issued by gw1 (STS) fetched $SMALL_MODEL/$SMALL_FILE byte-exact ($(size "$out") bytes) from ${done_on[*]} (lb: through nginx)"

  # Absolute links through the balancer: the Hub pages a model's tree with
  # Link: <absolute URL>; rel="next", which must name the balancer (Host is
  # passed through), not the gateway behind it, and work when followed.
  local hdr=$DATA/tree.hdr next status
  curl_ -s --max-time 20 -o /dev/null -D "$hdr" -H "Authorization: Bearer $TIER1_TOKEN" \
    "http://$HOST:${P[lb_hub]}/api/models/$SMALL_MODEL/tree/main?limit=2" || true
  next=$(tr -d '\r' <"$hdr" | sed -n 's/^[Ll]ink: *<\([^>]*\)>; *rel="next".*/\1/p' | head -n 1)
  status=000
  [[ -n $next ]] && status=$(curl_ -s --max-time 20 -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TIER1_TOKEN" "$next" || true)
  if [[ $next == "http://$HOST:${P[lb_hub]}/"* && $status == 200 ]]; then
    report "check 2: the tree's next-page link through the balancer names it ($next) and answers 200"
  else
    ok=0
    fail 2 "the tree's next-page link through the balancer is \"$next\" (answered $status); want one on http://$HOST:${P[lb_hub]}/"
  fi

  local r1 r2
  r1=$(refusals "$REFUSED_TOKEN" fleet-ravi) || ok=0
  report "check 2: refused requester (India, Tier 2): $r1"
  r2=$(refusals "$HIDDEN_TOKEN" fleet-mallory) || ok=0
  report "check 2: refused requester (China, D:5): $r2"
  if ((ok)); then
    pass 2 "gw1's credentials accepted by gw2, gw3 and the balancer byte-exact; each refusal identical on all three gateways, Hub and S3"
  elif [[ " ${FAILED[*]} " != *" 2 "* ]]; then
    fail 2 "the gateways did not answer alike (above)"
  fi
}

# refusals JWT SESSION: the same refused download on every gateway, on the
# Hub (status, X-Error-Code, and the policy's code in its decision record)
# and on S3 (the requester's own STS credentials from that gateway, then
# GetObject: status, S3 code, policy code in the message). Prints the answers;
# fails unless every gateway gave the same refusal (a 4xx with codes).
refusals() {
  local jwt=$1 session=$2 g hdr status rid creds ak sk st out code pcode answers=()
  for g in "${GATEWAYS[@]}"; do
    hdr=$DATA/refused-$g.hdr
    status=$(curl_ -s --max-time 20 -o /dev/null -D "$hdr" -w '%{http_code}' \
      -H "Authorization: Bearer $jwt" "http://$HOST:${P[${g}_hub]}/$SMALL_MODEL/resolve/main/$SMALL_FILE") || status=000
    rid=$(header_of X-Request-Id "$hdr")
    pcode=$(record_code "$g" "$rid")
    local hub
    hub="Hub $status/$(header_of X-Error-Code "$hdr")/${pcode:-?}"
    creds=$(sts "http://$HOST:${P[${g}_s3]}" "$jwt" "$session") || { answers+=("$g: $hub, S3 sts-failed"); continue; }
    read -r ak sk st <<<"$creds"
    out=$DATA/refused-$g.s3
    rm -f "$out"
    # --debug: the CLI prints the HTTP status it got only there.
    if aws_as "$ak" "$sk" "$st" --endpoint-url "http://$HOST:${P[${g}_s3]}" --debug s3api get-object \
      --bucket models --key "$SMALL_MODEL/$SMALL_FILE" "$out" >/dev/null 2>"$out.err"; then
      answers+=("$g: $hub, S3 served $(size "$out") bytes")
      continue
    fi
    status=$(grep -oE '"GET /models/[^"]*" [0-9]{3}' "$out.err" | tail -n 1 | awk '{print $NF}')
    code=$(grep -oE 'An error occurred \([A-Za-z]+\)' "$out.err" | tail -n 1 | sed 's/.*(\(.*\))/\1/')
    pcode=$(grep -E 'An error occurred' "$out.err" | tail -n 1 | grep -oE 'code[ :=]+[a-z_]+' | head -n 1 | grep -oE '[a-z_]+$' || true)
    # A hidden model's NoSuchKey names no policy code: "-" then.
    answers+=("$g: $hub, S3 ${status:-?}/${code:-?}/${pcode:--}")
    [[ -e $out ]] && answers+=("(S3 left $(size "$out") bytes)")
  done
  printf '%s; ' "${answers[@]}"
  # Identical once the gateway's name is taken off; a 4xx with codes.
  local distinct
  distinct=$(printf '%s\n' "${answers[@]}" | sed 's/^gw[0-9]*: //' | sort -u)
  [[ $(wc -l <<<"$distinct") -eq 1 && $distinct =~ ^Hub\ 4[0-9][0-9]/[A-Za-z]+/[a-z_]+,\ S3\ 4[0-9][0-9]/[A-Za-z]+/ && $distinct != *'?'* ]]
}

# record_code GATEWAY REQUEST_ID: the code of that request's decision record.
record_code() {
  [[ -n $2 ]] || return 0
  grep -hs "\"request_id\":\"$2\"" "$DATA/$1/audit"/audit-*.jsonl | head -n 1 |
    python3 -c 'import json, sys; print((json.loads(sys.stdin.read()).get("record") or {}).get("code", ""))' 2>/dev/null || true
}

# ---------------------------------------------------------------------------
# Check 3: a volume server SIGKILLed mid-download.

check_volume_kill() {
  check_replication || return 0
  local out=$DATA/dl-volkill.bin job rc=0 at
  resume_download "http://$HOST:${P[lb_hub]}$SHARD_URL_PATH" "$out" 24M 10 &
  job=$!
  BG_JOBS+=("$job")
  if ! wait_for "the first quarter of the shard" 60 bytes_at_least "$out" $((SHARD_BYTES / 4)); then
    fail 3 "the download did not reach a quarter of the shard"
    return
  fi
  at=$(size "$out")
  { kill -s KILL "${PID[sw-vol1]}"; wait_pid "${PID[sw-vol1]}" 5 || true; } 2>/dev/null
  unset "PID[sw-vol1]"
  report "check 3: SIGKILLed SeaweedFS volume server $HOST:${P[sw_vol1]} at $at of $SHARD_BYTES bytes downloaded, $((SECONDS - started))s into the run"
  wait_pid "$job" 120 || rc=$?
  local attempts got
  attempts=$(count_files "$out".hdr.*)
  got=$(sha "$out" 2>/dev/null || echo none)
  if ((rc != 0)) || [[ $got != "$SHARD_SHA" ]]; then
    fail 3 "the download in progress did not complete byte-exact (exit $rc, $(size "$out") bytes): $(tail -n 2 "$out.err" | tr '\n' ' ')"
    return
  fi
  report "check 3: the download in progress completed byte-exact in $attempts attempt(s)"
  rm -f "$out"
  # After the kill: the whole shard again, unthrottled, and every small file
  # of two models (one closed, one open), all from the one replica left.
  out=$DATA/dl-after.bin
  rc=0
  resume_download "http://$HOST:${P[lb_hub]}$SHARD_URL_PATH" "$out" 1000M 3 || rc=$?
  got=$(sha "$out" 2>/dev/null || echo none)
  if ((rc != 0)) || [[ $got != "$SHARD_SHA" ]]; then
    fail 3 "the shard after the kill: exit $rc, sha256 $got"
    return
  fi
  rm -f "$out"
  local f n=0 bytes=0 bad=()
  while IFS= read -r f; do
    local rel=${f#"$ROOT/testdata/store/"} model file
    model=$(cut -d/ -f1-2 <<<"$rel")
    file=$(cut -d/ -f3- <<<"$rel")
    out=$DATA/small.bin
    if curl_ -sS --fail --max-time 30 -o "$out" -H "Authorization: Bearer $TIER1_TOKEN" \
      "http://$HOST:${P[lb_hub]}/$model/resolve/main/$file" 2>/dev/null && cmp -s "$out" "$f"; then
      n=$((n + 1)); bytes=$((bytes + $(size "$f")))
    else
      bad+=("$rel")
    fi
  done < <(find "$ROOT/testdata/store/frontier-lab/frontier-x" "$ROOT/testdata/store/open-lab/tiny-open" -type f | sort)
  if ((${#bad[@]})); then
    fail 3 "after the kill, not byte-exact: ${bad[*]}"
  else
    pass 3 "with one volume server dead: the download in progress completed, the shard again ($SHARD_BYTES bytes) and $n small files ($bytes bytes) byte-exact"
  fi
}

# ---------------------------------------------------------------------------
# Check 4: rolling restart under load; one decision record per request.

LOAD_FILES=(config.json model.safetensors.index.json README.md model-00002-of-00002.safetensors)
load_worker() { # load_worker N OUT STOPFILE
  local w=$1 out=$2 stop=$3 i=0 f hdr res rc rid
  hdr=$(mktemp -p "$DATA")
  while [[ ! -e $stop ]] && ((i < 20000)); do
    f=${LOAD_FILES[i % ${#LOAD_FILES[@]}]}
    i=$((i + 1))
    rc=0
    : >"$hdr"
    res=$(curl_ -s --max-time 30 -o /dev/null -D "$hdr" -w '%{http_code} %{size_download}' \
      -H "Authorization: Bearer $LOAD_TOKEN" "http://$HOST:${P[lb_hub]}/$SMALL_MODEL/resolve/main/$f") || rc=$?
    rid=$(header_of X-Request-Id "$hdr")
    echo "$w $i $rc ${res:-- -} ${rid:--} $f" >>"$out"
  done
  rm -f "$hdr"
}

check_rolling_restart() {
  local out=$DATA/load.txt stop=$DATA/load.stop w jobs=() g t0 lb_from
  rm -f "$out" "$stop"
  lb_from=$(($(wc -l <"$RUN/nginx/logs/access.log") + 1))
  for w in 1 2 3; do
    load_worker "$w" "$out" "$stop" &
    jobs+=($!)
    BG_JOBS+=($!)
  done
  sleep 2
  for g in "${GATEWAYS[@]}"; do
    t0=$SECONDS
    # SIGTERM: the gateway stops accepting, finishes what it has read,
    # writes its final checkpoint and anchors it.
    stop_proc "$g" TERM 40 || { fail 4 "$g did not exit within 40s of SIGTERM"; }
    start_gateway "$g" || die "restarting $g failed"
    report "check 4: rolling restart: $g stopped (SIGTERM) and ready again in $((SECONDS - t0))s, $(wc -l <"$out") requests so far"
    # nginx left this gateway out for fail_timeout (2 s) after its refused
    # connections: wait that out, so that the next one stops only once it
    # is back in rotation (else all three can be out at once: 502).
    sleep 3
  done
  # Go on to 1800 requests (about 30 s): with decision and transfer records
  # that is over audit.max_file_bytes on each gateway, so every trail
  # rotates and audit verify checks sealed files in the anchor too.
  wait_for "1800 load requests" 90 lines_at_least "$out" 1800 || true
  touch "$stop"
  for w in "${jobs[@]}"; do wait_pid "$w" 60 || true; done

  # Every request: curl exit 0, status 200, the file's full size, a request
  # id. And each request id exactly once in the fleet's decision records,
  # and as many decision records for the load's subject as requests.
  local summary
  fleet_records >"$DATA/records.txt"
  summary=$(python3 - "$out" "$ROOT/testdata/store/$SMALL_MODEL" "$DATA/records.txt" <<'EOF'
import collections, os, sys
load, model, records = sys.argv[1:]
decisions = collections.Counter()
subject = 0
for line in open(records):
    kind, rid, subj, gw = line.split()
    if kind != "decision":
        continue
    decisions[rid] += 1
    if subj == "fleet-load":
        subject += 1
reqs, bad, ids = 0, [], collections.Counter()
for line in open(load):
    w, i, rc, status, got, rid, name = line.split()
    reqs += 1
    path = os.path.join(model, name)
    want = os.path.getsize(path) if os.path.exists(path) else -1
    if rc != "0" or status != "200" or got != str(want) or rid == "-":
        bad.append(f"worker {w} request {i} ({name}): curl exit {rc}, status {status}, {got} of {want} bytes, id {rid}")
        continue
    ids[rid] += 1
dup_resp = [r for r, n in ids.items() if n > 1]
not_once = [f"{r}:{decisions[r]}" for r in ids if decisions[r] != 1]
print(f"requests={reqs} ok={sum(ids.values())} bad={len(bad)} subject_records={subject} dup_ids={len(dup_resp)} not_once={len(not_once)}")
for b in bad[:5]:
    print("BAD", b)
for r in not_once[:5]:
    print("NOTONCE", r)
EOF
  ) || { fail 4 "could not count the records: $summary"; return; }
  local retried
  retried=$(tail -n "+$lb_from" "$RUN/nginx/logs/access.log" | grep -c 'upstream=[^ ]*, ' || true)
  report "check 4: load $(head -n 1 <<<"$summary"); nginx passed $retried request(s) to a second gateway"
  local reqs ok subj
  reqs=$(sed -n 's/.*requests=\([0-9]*\).*/\1/p' <<<"$summary" | head -n 1)
  ok=$(sed -n 's/.* ok=\([0-9]*\).*/\1/p' <<<"$summary" | head -n 1)
  subj=$(sed -n 's/.*subject_records=\([0-9]*\).*/\1/p' <<<"$summary" | head -n 1)
  if grep -q '^BAD\|^NOTONCE' <<<"$summary" || [[ $summary != *"dup_ids=0 not_once=0"* ]]; then
    fail 4 "$(tr '\n' ';' <<<"$summary")"
  elif ((reqs < 30)); then
    fail 4 "only $reqs requests ran during the rolling restart"
  elif [[ $ok != "$reqs" || $subj != "$reqs" ]]; then
    fail 4 "$reqs requests, $ok answered as expected, $subj decision records for the load's subject"
  else
    LOAD_OK="$reqs requests through the balancer during the rolling restart, each 200 and whole, each with exactly one decision record in the fleet ($subj for the load's subject)"
  fi
}

# audit verify --anchor --strict of every instance, once every gateway has
# stopped (SIGTERM: its last checkpoint is anchored, so nothing is left
# unanchored for --strict to refuse).
verify_trails() {
  local g res ok=1 all=()
  for g in "${GATEWAYS[@]}"; do stop_proc "$g" TERM 40 || ok=0; done
  for g in "${GATEWAYS[@]}"; do
    res=$(AWS_ACCESS_KEY_ID=$ANCHOR_KEY AWS_SECRET_ACCESS_KEY=$ANCHOR_SECRET AWS_REGION=$REGION "$WG" audit verify \
      --anchor "$ANCHOR_URL" --anchor-endpoint "http://$HOST:${P[anchor]}" --anchor-instance "$g" \
      --key "$RUN/checkpoint.pub.pem" --interval "$CHECKPOINT_INTERVAL" --strict "$DATA/$g/audit" 2>&1) || ok=0
    report "check 4: audit verify --strict $g: $(tr '\n' ' ' <<<"$res")"
    all+=("$(head -c 12 <<<"$res")")
  done
  # The whole fleet from the anchor alone (what survives the hosts).
  res=$(AWS_ACCESS_KEY_ID=$ANCHOR_KEY AWS_SECRET_ACCESS_KEY=$ANCHOR_SECRET AWS_REGION=$REGION "$WG" audit verify \
    --anchor "$ANCHOR_URL" --anchor-endpoint "http://$HOST:${P[anchor]}" --key "$RUN/checkpoint.pub.pem" \
    --interval "$CHECKPOINT_INTERVAL" 2>&1) || ok=0
  report "check 4: audit verify from the anchor alone: $(tr '\n' ' ' <<<"$res")"
  if [[ -z ${LOAD_OK:-} ]]; then
    return # the load half already failed
  elif ((ok)); then
    pass 4 "$LOAD_OK; every instance's trail verified --strict against the anchor"
  else
    fail 4 "audit verify failed (see above)"
  fi
}

# ---------------------------------------------------------------------------
# Check 5: one policy bundle revision across the fleet.

policy_of() { # policy_of URL -> "bundle@revision"
  curl_ -s --max-time 5 "$1" | python3 -c '
import json, sys
p = json.load(sys.stdin).get("policy") or {}
print("%s@%s" % (p.get("bundle", "?"), p.get("revision", "?")))' 2>/dev/null || echo "unreadable"
}

check_policy_revision() {
  local seen=() g l i
  for g in "${GATEWAYS[@]}"; do
    for l in hub s3 admin; do seen+=("$g/$l=$(policy_of "http://$HOST:${P[${g}_${l}]}/readyz")"); done
  done
  # Through the balancer: several times, so that round robin reaches each.
  for i in 1 2 3 4 5 6; do
    seen+=("lb/hub=$(policy_of "http://$HOST:${P[lb_hub]}/readyz")")
    seen+=("lb/s3=$(policy_of "http://$HOST:${P[lb_s3]}/readyz")")
  done
  local distinct
  distinct=$(printf '%s\n' "${seen[@]}" | cut -d= -f2 | sort -u)
  if [[ $(wc -l <<<"$distinct") -ne 1 || $distinct == *'?'* || $distinct == unreadable ]]; then
    fail 5 "policy answers differ or are missing: ${seen[*]}"
  else
    pass 5 "$distinct on every listener of the 3 gateways (9 answers) and through the balancer (12 answers)"
  fi
}

# ---------------------------------------------------------------------------

main() {
  case ${1:-} in
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    "") ;;
    *) echo "usage: $0 [--help]" >&2; exit 2 ;;
  esac
  mkdir -p "$RUN/bin"
  install_tools
  # The run itself is bounded; the one-time tool build above is not in it.
  # Its sleep is its own child, stopped with it.
  (
    sleep "$RUN_TIMEOUT" &
    s=$!
    trap 'kill "$s" 2>/dev/null; exit 0' TERM
    if wait "$s"; then log "FLEET_TIMEOUT: ${RUN_TIMEOUT}s passed"; kill -s TERM $$; fi
  ) &
  WATCHDOG=$!
  started=$SECONDS
  rm -rf "$LOGS" "$DATA"
  mkdir -p "$LOGS" "$DATA"
  alloc_ports
  start_seaweedfs || die "SeaweedFS did not start"
  start_anchor || die "the anchor did not start"
  seed_store
  start_gateways
  start_nginx || die "nginx did not start"
  TIER1_TOKEN=$(token --sub fleet-alice --country US --nationality US --parent-hq US)
  LOAD_TOKEN=$(token --sub fleet-load --country US --nationality US --parent-hq US)
  # Refused: a Tier 2 destination (India) for 4E091 weights, and a D:5 one
  # (China), from which the default policy hides the model altogether.
  REFUSED_TOKEN=$(token --sub fleet-ravi --country IN --nationality IN --parent-hq IN)
  HIDDEN_TOKEN=$(token --sub fleet-mallory --country CN --nationality CN --parent-hq CN)
  report "setup done in $((SECONDS - started))s"

  check_gateway_kill
  check_credentials
  check_volume_kill
  check_rolling_restart
  check_policy_revision
  verify_trails
  report "run time: $((SECONDS - started))s (tool build excluded)"
  if ((${#FAILED[@]})); then
    log "FAILED checks: ${FAILED[*]}"
    exit 1
  fi
}

main "$@"
