#!/usr/bin/env bash
# How listing scales, side by side in one run: bench/listing.sh [SIZES...]
# (default 1000 10000). For each size it generates a catalog of that many
# models (scripts/genstore -models, three files a model, one model in four
# closed, straight into a private VersityGW's bucket directory with the ETag
# attribute VersityGW reads), starts that VersityGW, then one gateway at a
# time (dir backend on the bucket directory, S3 backend on the bucket), and
# measures with curl and the aws CLI:
#   ready       start-up to the first 200 from /readyz
#   warmed      start-up to the admin /readyz's checks.catalog "ok": the
#               background read of every export.yaml done. Every figure
#               below is measured after it (the gateway serves before it,
#               reading the classifications a listing meets, as round two
#               measured: a cold 1,000-key page 190 ms on S3 at 100,000)
#   page        ListObjectsV2 of 1,000 keys (anonymous): cold, the median of
#               the first request at each of up to 5 positions from half-way,
#               11 orgs (3,300 keys) apart and each with a full page after
#               it, so that none is in what the walk or the others read or
#               read ahead (one position at 1,000 models, where every page
#               is in the cache, five at 10,000 and 100,000); then warm, the
#               median of 5 more at the first (on S3, from the listing-page
#               cache)
#   walk        median page of a walk of 10 pages of 1,000 keys that
#               follows the continuation token (anonymous), from an eighth
#               in, measured first: what a client paging through meets
#               (on S3 the first page is cold, the next read ahead)
#   prefix      one model's prefix (org0/model1/), cold, then warm median
#   api         GET /api/models?limit=100, cold, then warm median
#               and again as a US requester through STS (sees every key),
#               from three quarters in, after the anonymous listing
#               (classifications known)
#   ls          aws s3 ls --recursive through the gateway: anonymous (sees
#               3 models in 4) twice, the first reading every export.yaml,
#               the second with the classifications known; then as a US
#               requester through STS (sees every key, as VersityGW's own
#               listing does; the policy is asked about every closed
#               model). Each with its rate in keys per second over
#               VersityGW's (the faster of its two listings)
#   RSS / peak  the gateway's VmRSS and VmHWM after all of it
# and VersityGW directly, signed: the same page and walk, and aws s3 ls
# --recursive before and after the gateways (the ratio is the gateway's
# time over the faster of the two). Every server it starts is stopped when
# its size is done, and on exit. Needs go, curl, aws, python3 and the
# VersityGW binary (scripts/s3-server.sh install).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
SIZES=("${@:-1000 10000}")
read -r -a SIZES <<<"${SIZES[*]}"
VGW=$(scripts/s3-server.sh install)
WORK=$(mktemp -d /tmp/wglist.XXXXXX)
PIDS=()
stop() { # stop pid $1 and wait for it
  kill "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}
cleanup() {
  for p in "${PIDS[@]}"; do stop "$p"; done
  rm -rf "$WORK"
}
trap cleanup EXIT
go build -o "$WORK/weightgate" ./cmd/weightgate
go build -o "$WORK/genstore" ./scripts/genstore
port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
ms() { awk '{printf "%.0f", $1 * 1000}'; }
AK=wglist SK=wglist-secret-key
export AWS_DEFAULT_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true
SIGN=()
get() { curl -fsS "${SIGN[@]}" -o "$WORK/body" -w '%{time_total}\n' "$1"; }
pages() { # "cold / warm" ms of pages of 1,000 keys at bucket URL $1 (see page above); $2 = enc: start-after encoded, as signed requests need
  local url=$1 o after c=() w
  local first=""
  for ((o = orgs / 2; (o + 4 <= orgs || o == orgs / 2) && ${#c[@]} < 5; o += 11)); do
    after=$(printf 'org%d/model50/' "$o")
    [[ ${2:-} == enc ]] && after=${after//\//%2F}
    first=${first:-$after}
    c+=("$(get "$url?list-type=2&max-keys=1000&start-after=$after" | ms)")
  done
  w=$(for _ in 1 2 3 4 5; do get "$url?list-type=2&max-keys=1000&start-after=$first"; done | median | ms)
  echo "$(printf '%s\n' "${c[@]}" | median) / $w"
}
coldwarm() { # "cold / warm" ms of GET $1: the first request, then the median of 5
  local c w
  c=$(get "$1" | ms)
  w=$(for _ in 1 2 3 4 5; do get "$1"; done | median | ms)
  echo "$c / $w"
}
walk() { # median ms of 10 pages of 1,000 keys from start-after $2 at bucket URL $1, following NextContinuationToken (or, with $3 = keys, the last key: VersityGW's token is that key, which curl's signing would need encoded twice)
  local url="$1" after="$2" tok="" i
  for i in 1 2 3 4 5 6 7 8 9 10; do
    if [[ -n $tok ]]; then
      # Parameters in S3's canonical order: curl's signing (7.88) does
      # not sort them.
      get "$url?continuation-token=$tok&list-type=2&max-keys=1000"
    else
      get "$url?list-type=2&max-keys=1000&start-after=$after"
    fi
    if [[ ${3:-} == keys ]]; then
      after=$(grep -o '<Key>[^<]*</Key>' "$WORK/body" | tail -1 | sed 's:<Key>\(.*\)</Key>:\1:; s:/:%2F:g')
    else
      tok=$(sed -n 's:.*<NextContinuationToken>\([^<]*\)</NextContinuationToken>.*:\1:p' "$WORK/body")
    fi
  done | median | ms
}
lsrec() { # seconds and keys of aws s3 ls --recursive; args: env assignments, then aws arguments
  local t0 t1 n
  t0=$(date +%s.%N)
  n=$(env "$@" s3 ls --recursive s3://models/ | wc -l)
  t1=$(date +%s.%N)
  echo "$(echo "$t1 - $t0" | bc) $n"
}
printf '| models | side | ready / warmed | page of 1,000 keys, cold / warm | walk page: anonymous first visit / US | one model prefix, cold / warm | /api/models?limit=100, cold / warm | aws s3 ls --recursive, anonymous: 1st / 2nd | US requester | RSS / peak |\n'
printf '|---|---|---|---|---|---|---|---|---|---|\n'
for n in "${SIZES[@]}"; do
  d=$WORK/$n
  mkdir -p "$d/root"
  vp=$(port)
  ROOT_ACCESS_KEY=$AK ROOT_SECRET_KEY=$SK "$VGW" --port "127.0.0.1:$vp" --keep-alive --quiet posix "$d/root" >"$d/vgw.log" 2>&1 &
  vpid=$!
  PIDS+=("$vpid")
  for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$vp/" && break; sleep 0.1; done
  AWS_ACCESS_KEY_ID=$AK AWS_SECRET_ACCESS_KEY=$SK aws --endpoint-url "http://127.0.0.1:$vp" s3 mb s3://models >/dev/null
  g0=$(date +%s.%N)
  "$WORK/genstore" -models "$n" -etag-xattr -out "$d/root/models" >/dev/null
  g1=$(date +%s.%N)
  echo "generated $n models in $(echo "$g1 - $g0" | bc) s" >&2
  orgs=$(((n + 99) / 100))
  # The walk starts an eighth in (and reads to about a half), the cold
  # pages half-way and the US walk three quarters in, so that at 10,000
  # models and more none meets pages another read.
  mid=$(printf 'org%d/model50/' $((orgs * 3 / 4)))
  mid2=$(printf 'org%d/model50/' $((orgs / 8)))
  # VersityGW directly, signed.
  SIGN=(--aws-sigv4 "aws:amz:us-east-1:s3" --user "$AK:$SK" -H "x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
  vurl="http://127.0.0.1:$vp/models"
  dwalk=$(walk "$vurl" "${mid2//\//%2F}" keys)
  dpage=$(pages "$vurl" enc)
  dprefix=$(coldwarm "$vurl?list-type=2&prefix=org0%2Fmodel1%2F")
  SIGN=()
  read -r dls1 dkeys < <(lsrec AWS_ACCESS_KEY_ID=$AK AWS_SECRET_ACCESS_KEY=$SK aws --endpoint-url "http://127.0.0.1:$vp")
  rows=()
  for side in dir s3; do
    hp=$(port)
    sp=$(port)
    ap=$(port)
    if [[ $side == dir ]]; then
      st="storage: {backend: dir, dir: {path: $d/root/models}}"
    else
      st="storage: {backend: s3, s3: {endpoint: 127.0.0.1:$vp, bucket: models, region: us-east-1}}"
    fi
    cat >"$d/$side.yaml" <<YAML
dev: true
listen: 127.0.0.1:$hp
log: {level: warn}
$st
audit: {dir: $d/audit-$side}
rate_limit: {per_second: 0, per_address: {per_second: 0}}
auth:
  issuers:
    - {issuer: weightgate-dev, audience: weightgate, algorithms: [EdDSA], public_keys: [$ROOT/testdata/keys/dev-ed25519.pub.pem]}
s3: {listen: 127.0.0.1:$sp, anonymous: true}
admin: {listen: 127.0.0.1:$ap}
YAML
    t0=$(date +%s.%N)
    WEIGHTGATE_S3_ACCESS_KEY=$AK WEIGHTGATE_S3_SECRET_KEY=$SK "$WORK/weightgate" serve --config "$d/$side.yaml" >"$d/$side.log" 2>&1 &
    gp=$!
    PIDS+=("$gp")
    for _ in $(seq 600); do curl -fs -o /dev/null "http://127.0.0.1:$hp/readyz" && break; sleep 0.05; done
    t1=$(date +%s.%N)
    ready=$(echo "$t1 - $t0" | bc | ms)
    for _ in $(seq 12000); do
      curl -fs "http://127.0.0.1:$ap/readyz" | python3 -c 'import json,sys;sys.exit(json.load(sys.stdin)["checks"].get("catalog")!="ok")' && break
      sleep 0.05
    done
    t2=$(date +%s.%N)
    warmed=$(echo "$t2 - $t0" | bc | ms)
    gurl="http://127.0.0.1:$sp/models"
    gwalk=$(walk "$gurl" "$mid2")
    page=$(pages "$gurl")
    one=$(coldwarm "$gurl?list-type=2&prefix=org0/model1/")
    api=$(coldwarm "http://127.0.0.1:$hp/api/models?limit=100")
    read -r lsa keysa < <(lsrec AWS_ACCESS_KEY_ID=x AWS_SECRET_ACCESS_KEY=x aws --no-sign-request --endpoint-url "http://127.0.0.1:$sp")
    read -r lsa2 _ < <(lsrec AWS_ACCESS_KEY_ID=x AWS_SECRET_ACCESS_KEY=x aws --no-sign-request --endpoint-url "http://127.0.0.1:$sp")
    tok=$("$WORK/weightgate" token --key testdata/keys/dev-ed25519.pem --sub bench-us --country US --nationality US --parent-hq US)
    creds=$(AWS_ACCESS_KEY_ID=x AWS_SECRET_ACCESS_KEY=x aws sts assume-role-with-web-identity --endpoint-url "http://127.0.0.1:$sp" \
      --role-arn arn:aws:iam::000000000000:role/weightgate --role-session-name bench --web-identity-token "$tok" --duration-seconds 3600 --output json)
    read -r cak csk cst < <(python3 -c 'import json,sys;c=json.load(sys.stdin)["Credentials"];print(c["AccessKeyId"],c["SecretAccessKey"],c["SessionToken"])' <<<"$creds")
    # The same walk as a US requester (every key visible, as directly),
    # from three quarters in, after the anonymous listing: classifications
    # known, the listing pages not (those it read have expired at 100,000
    # models; at 10,000 some are still cached).
    SIGN=(--aws-sigv4 "aws:amz:us-east-1:s3" --user "$cak:$csk" -H "x-amz-security-token: $cst" -H "x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    uwalk=$(walk "$gurl" "${mid//\//%2F}")
    SIGN=()
    read -r lsu keysu < <(lsrec AWS_ACCESS_KEY_ID=$cak AWS_SECRET_ACCESS_KEY=$csk AWS_SESSION_TOKEN=$cst aws --endpoint-url "http://127.0.0.1:$sp")
    rss=$(awk '/VmRSS|VmHWM/ {printf "%d ", $2/1024}' "/proc/$gp/status" | awk '{printf "%d / %d MiB", $2, $1}')
    stop "$gp"
    rows+=("$side|$ready / $warmed|$page|$gwalk|$uwalk|$one|$api|$lsa|$lsa2|$keysa|$lsu|$keysu|$rss")
  done
  read -r dls2 _ < <(lsrec AWS_ACCESS_KEY_ID=$AK AWS_SECRET_ACCESS_KEY=$SK aws --endpoint-url "http://127.0.0.1:$vp")
  stop "$vpid"
  best=$(printf '%s\n%s\n' "$dls1" "$dls2" | sort -n | head -1)
  rate() { echo "scale=4; ($1 / $2) / ($dkeys / $best)" | bc; } # keys per second, over VersityGW's
  printf '| %d | VersityGW direct (%d keys) | – | %s ms | %s ms | %s ms | – | %.1f s, %.1f s (before, after) | – | – |\n' "$n" "$dkeys" "$dpage" "$dwalk" "$dprefix" "$dls1" "$dls2"
  for r in "${rows[@]}"; do
    IFS='|' read -r side ready page gwalk uwalk one api lsa lsa2 keysa lsu keysu rss <<<"$r"
    printf '| %d | gateway, %s backend | %s ms | %s ms | %s / %s ms | %s ms | %s ms | %.1f s, %.2fx / %.1f s, %.2fx (%d keys) | %.1f s, %.2fx (%d keys) | %s |\n' \
      "$n" "$side" "$ready" "$page" "$gwalk" "$uwalk" "$one" "$api" \
      "$lsa" "$(rate "$keysa" "$lsa")" "$lsa2" "$(rate "$keysa" "$lsa2")" "$keysa" "$lsu" "$(rate "$keysu" "$lsu")" "$keysu" "$rss"
  done
  rm -rf "$d"
done
