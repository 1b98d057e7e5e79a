#!/usr/bin/env bash
# Shared S3 test server for weightgate: VersityGW (posix backend) on
# 127.0.0.1, bucket weightgate-test seeded with testdata/store under models/.
#
#   scripts/s3-server.sh start   install versitygw if needed, start it, seed it
#   scripts/s3-server.sh stop    stop it
#   scripts/s3-server.sh env     print `export WEIGHTGATE_TEST_S3_*=...` lines
#   scripts/s3-server.sh status  exit 0 when running and healthy
#   scripts/s3-server.sh install install versitygw if needed and print its path
#
# Typical use:  scripts/s3-server.sh start && eval "$(scripts/s3-server.sh env)"
#
# Settings (environment):
#   WEIGHTGATE_TOOLS          tools dir (default: <repo>/.tools); binary in bin/, state in run/
#   WEIGHTGATE_TEST_S3_PORT   port to use (default: 9000, or the next free one up to 9099)
#   WEIGHTGATE_TEST_S3_META   posix metadata: xattr (default, falls back to sidecar
#                             when the filesystem lacks user xattrs) or sidecar
# Needs: go (to install versitygw), aws CLI (to seed and verify the bucket).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TOOLS=${WEIGHTGATE_TOOLS:-$ROOT/.tools}
RUN=$TOOLS/run
VERSITYGW_VERSION=v1.8.0
VERSITYGW_PKG=github.com/versity/versitygw/cmd/versitygw

BUCKET=weightgate-test
PREFIX=models/
ACCESS_KEY=weightgate-test
SECRET_KEY=weightgate-test-secret-0123456789abcdefghij
REGION=us-east-1
HOST=127.0.0.1
READY_TIMEOUT=30 # seconds

PIDFILE=$RUN/versitygw.pid
PORTFILE=$RUN/port
BINFILE=$RUN/bin
LOG=$RUN/versitygw.log
S3ROOT=$RUN/s3
SIDECAR=$RUN/sidecar # not $RUN/s3-*: versitygw rejects a sidecar path that merely string-prefixes the root

log() { echo "s3-server: $*" >&2; }
die() { log "error: $*"; exit 1; }

# Isolated aws CLI settings: never read the user's profiles, never use a proxy for loopback.
aws_() {
  env -u AWS_PROFILE -u AWS_DEFAULT_PROFILE -u AWS_SESSION_TOKEN -u AWS_SECURITY_TOKEN \
    AWS_ACCESS_KEY_ID="$ACCESS_KEY" AWS_SECRET_ACCESS_KEY="$SECRET_KEY" \
    AWS_DEFAULT_REGION="$REGION" AWS_REGION="$REGION" \
    AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_EC2_METADATA_DISABLED=true \
    NO_PROXY="$HOST,localhost${NO_PROXY:+,$NO_PROXY}" no_proxy="$HOST,localhost${no_proxy:+,$no_proxy}" \
    aws --endpoint-url "http://$HOST:$(cat "$PORTFILE")" "$@"
}

# find_bin prints the versitygw binary to use, installing it when missing.
find_bin() {
  if [[ -x $TOOLS/bin/versitygw ]]; then
    echo "$TOOLS/bin/versitygw"; return
  fi
  if command -v versitygw >/dev/null 2>&1; then
    local p; p=$(command -v versitygw)
    [[ $p == /* ]] || p=$(cd "$(dirname "$p")" && pwd)/$(basename "$p")
    echo "$p"; return
  fi
  command -v go >/dev/null 2>&1 || die "versitygw not found and go not on PATH to install it"
  log "installing versitygw $VERSITYGW_VERSION into $TOOLS/bin (go install; first time takes a few minutes)"
  mkdir -p "$TOOLS/bin"
  local t0=$SECONDS
  # go install pkg@version ignores the current module; clear GOFLAGS such as -mod=vendor.
  (cd "$TOOLS" && GOFLAGS= GOBIN="$TOOLS/bin" go install "$VERSITYGW_PKG@$VERSITYGW_VERSION") >&2 \
    || die "go install $VERSITYGW_PKG@$VERSITYGW_VERSION failed"
  log "installed versitygw in $((SECONDS - t0))s"
  echo "$TOOLS/bin/versitygw"
}

# http_ok PORT: 0 when GET /health answers 200 (bash /dev/tcp, no curl needed).
http_ok() {
  local port=$1 line=
  { exec 3<>"/dev/tcp/$HOST/$port"; } 2>/dev/null || return 1
  printf 'GET /health HTTP/1.1\r\nHost: %s:%s\r\nConnection: close\r\n\r\n' "$HOST" "$port" >&3 || { exec 3>&-; return 1; }
  IFS= read -r -t 2 line <&3 || true
  exec 3>&-
  [[ $line == "HTTP/1."[01]" 200"* ]]
}

port_in_use() { { exec 3<>"/dev/tcp/$HOST/$1"; } 2>/dev/null && { exec 3>&-; return 0; }; return 1; }

running() {
  [[ -f $PIDFILE && -f $PORTFILE ]] || return 1
  local pid; pid=$(cat "$PIDFILE")
  kill -0 "$pid" 2>/dev/null || return 1
  # Make sure the pid is still versitygw (not a recycled pid).
  [[ -r /proc/$pid/cmdline ]] && ! tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q versitygw && return 1
  http_ok "$(cat "$PORTFILE")"
}

# launch PORT META: start versitygw in the background; 0 once healthy.
launch() {
  local port=$1 meta=$2 bin; bin=$(cat "$BINFILE")
  rm -rf "$S3ROOT" "$SIDECAR"
  mkdir -p "$S3ROOT"
  local extra=()
  if [[ $meta == sidecar ]]; then mkdir -p "$SIDECAR"; extra=(--sidecar "$SIDECAR"); fi
  echo "$port" >"$PORTFILE"
  echo "=== $(date -u +%FT%TZ) starting versitygw on $HOST:$port (meta: $meta)" >>"$LOG"
  # Credentials through the environment keep them off `ps`. setsid: not tied
  # to the caller's terminal/process group.
  ROOT_ACCESS_KEY=$ACCESS_KEY ROOT_SECRET_KEY=$SECRET_KEY \
    setsid "$bin" \
      --port "$HOST:$port" --region "$REGION" --health /health --keep-alive --quiet \
      posix "${extra[@]}" "$S3ROOT" </dev/null >>"$LOG" 2>&1 &
  local pid=$!
  echo "$pid" >"$PIDFILE"
  local deadline=$((SECONDS + READY_TIMEOUT))
  while ((SECONDS < deadline)); do
    kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; rm -f "$PIDFILE"; return 1; }
    http_ok "$port" && return 0
    sleep 0.2
  done
  log "versitygw not healthy after ${READY_TIMEOUT}s"
  kill "$pid" 2>/dev/null || true
  rm -f "$PIDFILE"
  return 1
}

seed() {
  command -v aws >/dev/null 2>&1 || die "aws CLI not found (apt-get install awscli); needed to seed the bucket"
  local port; port=$(cat "$PORTFILE")
  if ! aws_ s3api head-bucket --bucket "$BUCKET" >/dev/null 2>&1; then
    aws_ s3api create-bucket --bucket "$BUCKET" >/dev/null || die "create-bucket $BUCKET failed"
  fi
  # sync --delete: the prefix mirrors testdata/store exactly, also on a re-start.
  aws_ s3 sync --only-show-errors --delete "$ROOT/testdata/store/" "s3://$BUCKET/$PREFIX" \
    || die "seeding s3://$BUCKET/$PREFIX failed"
  local want got
  want=$(find "$ROOT/testdata/store" -type f | wc -l)
  got=$(aws_ s3 ls --recursive "s3://$BUCKET/$PREFIX" | wc -l)
  [[ $got -eq $want ]] || die "bucket has $got objects under $PREFIX, testdata/store has $want"
  aws_ s3 ls "s3://$BUCKET/${PREFIX}frontier-lab/frontier-x/export.yaml" >/dev/null \
    || die "seed check failed: ${PREFIX}frontier-lab/frontier-x/export.yaml missing"
  log "bucket $BUCKET seeded: $got objects under $PREFIX on $HOST:$port"
}

cmd_start() {
  mkdir -p "$RUN"
  if running; then
    log "already running (pid $(cat "$PIDFILE"), $HOST:$(cat "$PORTFILE")); re-syncing"
    seed
    return
  fi
  if [[ -f $PIDFILE ]]; then cmd_stop; fi
  find_bin >"$BINFILE.tmp" && mv "$BINFILE.tmp" "$BINFILE"
  local meta=${WEIGHTGATE_TEST_S3_META:-xattr}
  local port=${WEIGHTGATE_TEST_S3_PORT:-9000} tries=0
  : >"$LOG"
  while :; do
    tries=$((tries + 1))
    if [[ -z ${WEIGHTGATE_TEST_S3_PORT:-} ]]; then
      while port_in_use "$port"; do
        port=$((port + 1))
        ((port < 9100)) || die "no free port in 9000-9099"
      done
    fi
    if launch "$port" "$meta"; then break; fi
    ((tries < 4)) || die "versitygw failed to start; log: $LOG"$'\n'"$(tail -n 20 "$LOG")"
    if grep -q "xattr" "$LOG" && [[ $meta == xattr && -z ${WEIGHTGATE_TEST_S3_META:-} ]]; then
      log "filesystem of $S3ROOT lacks user xattrs; retrying with --sidecar"
      meta=sidecar
    elif grep -q "address already in use" "$LOG" && [[ -z ${WEIGHTGATE_TEST_S3_PORT:-} ]]; then
      port=$((port + 1))
    else
      die "versitygw failed to start; log: $LOG"$'\n'"$(tail -n 20 "$LOG")"
    fi
  done
  log "versitygw running: pid $(cat "$PIDFILE"), http://$HOST:$port, meta $meta, log $LOG"
  seed
}

cmd_stop() {
  if [[ -f $PIDFILE ]]; then
    local pid; pid=$(cat "$PIDFILE")
    if kill -0 "$pid" 2>/dev/null; then
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null || true
      log "stopped versitygw (pid $pid)"
    fi
    rm -f "$PIDFILE"
  else
    log "not running"
  fi
}

cmd_env() {
  running || die "not running; run: scripts/s3-server.sh start"
  local bin; bin=$(cat "$BINFILE")
  cat <<EOF
export WEIGHTGATE_TEST_S3_ENDPOINT=$HOST:$(cat "$PORTFILE")
export WEIGHTGATE_TEST_S3_BUCKET=$BUCKET
export WEIGHTGATE_TEST_S3_PREFIX=$PREFIX
export WEIGHTGATE_TEST_S3_ACCESS_KEY=$ACCESS_KEY
export WEIGHTGATE_TEST_S3_SECRET_KEY=$SECRET_KEY
export WEIGHTGATE_TEST_S3_REGION=$REGION
export WEIGHTGATE_TEST_VERSITYGW=$bin
EOF
}

case ${1:-} in
  start) cmd_start ;;
  stop) cmd_stop ;;
  env) cmd_env ;;
  install) find_bin ;;
  status) if running; then echo "running on $HOST:$(cat "$PORTFILE")"; else echo "not running"; exit 1; fi ;;
  *) echo "usage: $0 start|stop|env|status|install" >&2; exit 2 ;;
esac
