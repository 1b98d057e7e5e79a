#!/usr/bin/env bash
# Mutation testing with gremlins: small changes ("mutants") are made to the
# code that decides who gets model weights, one at a time, and the package's
# tests (for refusal, also the end-to-end tests) run against each. A mutant the tests still pass on (LIVED) is a
# change in behaviour no test notices.
#
#   scripts/mutation.sh                     every target
#   scripts/mutation.sh policy identity     only these
#   scripts/mutation.sh --dry-run [target]  count the mutants; the tests run once,
#                                           for the coverage, no mutant is tried
#   scripts/mutation.sh --list              the targets and what they cover
#
# Targets (one package each; the files mutated are listed in target()):
#   identity   identity: JWT verification, claims, keys
#   s3api      gateway/s3api, signature checking only: sigv4.go, creds.go
#   audit      audit: the decision trail, its hashing and recovery
#   screening  screening: denied-party screening (tests run -short)
#   refusal    gateway, the files that refuse a request: error.go, auth.go,
#              resolve.go, s3.go, ratelimit.go, tried against the tests of
#              gateway and test/e2e (-short, minus the slow streaming and
#              memory tests; see target())
#   policy     policy/opa: the OPA engine and its caches (tests run -short)
#
# Results, in var/mutation/ (MUTATION_OUT):
#   <target>.json  gremlins' machine-readable result, every mutant with its status
#   <target>.log   gremlins' output
#   <target>.txt   the summary row, the LIVED mutants with their source line,
#                  the NOT COVERED count per file
#   summary.txt    the table of the targets run
#
# The goals: test efficacy = killed / (killed + lived) >= 90 %, and mutant
# coverage = (killed + lived) / all mutants >= 70 %. The script exits 1 when
# a target run is under either, 2 on any other failure.
#
# Settings (environment):
#   MUTATION_WORKERS     mutants tested at once (default: 2, or 1 on one CPU)
#   MUTATION_OUT         results directory (default: <repo>/var/mutation)
#   WEIGHTGATE_TOOLS     tools dir (default: <repo>/.tools); gremlins goes in bin/
#   WEIGHTGATE_TEST_S3_* the S3 test server (scripts/s3-server.sh env); when
#                        WEIGHTGATE_TEST_S3_ENDPOINT is unset and the refusal
#                        target runs, the script starts the server with
#                        scripts/s3-server.sh and stops it again if it started it
#
# Needs: go, git, jq. Takes long: run it before a release and after changing
# one of the targets (docs/testing.md), not in CI.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TOOLS=${WEIGHTGATE_TOOLS:-$ROOT/.tools}
OUT=${MUTATION_OUT:-$ROOT/var/mutation}
GREMLINS_VERSION=v0.6.0
GREMLINS_PKG=github.com/go-gremlins/gremlins/cmd/gremlins
GOAL_EFFICACY=90
GOAL_MCOVER=70
ALL_TARGETS=(identity s3api audit screening refusal policy)

log() { echo "mutation: $*" >&2; }
die() { log "error: $*"; exit 2; }

# target NAME sets, for one target:
#   DIR    the package directory, relative to the repo
#   KEEP   the files to mutate (empty: every non-test file of the package)
#   FLAGS  go test flags, through GOFLAGS: gremlins has no option to choose
#          the tests, but it passes its environment to every go test it runs
#          (the coverage run and each mutant's run alike)
#   COEF   gremlins' --timeout-coefficient: a mutant's tests are stopped
#          (TIMED OUT) after COEF times the duration of the coverage run.
#          The mutant's run compiles and links its package again and shares
#          the CPUs with the other workers, so it takes several times as long
#          as the coverage run's tests (which reuse the compiled packages);
#          gremlins' default of 3 times out most mutants. Where the coverage
#          run also runs other packages' tests (refusal: TESTS) it
#          is long already and a smaller COEF does.
#   NEEDS_S3  1 when the tests need the S3 test server to cover the target
#   TESTS  the packages whose tests try each mutant, when more than DIR's own:
#          gremlins then runs in integration mode (every package's go test,
#          with coverage counted for DIR from all of them), and -run selects
#          the Test functions of these packages, so the others run none
target() {
  KEEP="" FLAGS="" COEF=10 NEEDS_S3=0 TESTS=""
  case $1 in
    identity) DIR=identity ;;
    s3api)
      DIR=gateway/s3api KEEP="sigv4.go creds.go" ;;
    audit) DIR=audit ;;
    screening)
      # -short: TestScreenMatchesScan and TestSimilarTokens compare with a
      # plain scan on fewer random queries (6 s of 8 s otherwise).
      DIR=screening FLAGS="-short" COEF=8 ;;
    refusal)
      # The Hub API's and S3 API's refusals: authentication (auth.go),
      # rate limiting (ratelimit.go), every check of a download and its
      # error answer (resolve.go, error.go), the S3 API's signature,
      # bucket and key refusals (s3.go). Most refusals are asserted by the
      # attack suite and the other end-to-end tests, so those run too.
      # -short leaves out the soak, the slowloris attack and the JS client
      # tests; -skip the slow tests whose concern is not a refusal: the
      # HTTP parser (TestAttackSmuggling, net/http's), heap use while
      # streaming and hashing, and the write deadline of a stalled client.
      DIR=gateway KEEP="error.go auth.go resolve.go s3.go ratelimit.go"
      TESTS="gateway test/e2e"
      FLAGS="-short -skip=^(TestAttackSmuggling|TestMemoryStaysFlat|TestETagHashingMemoryStaysFlat|TestStalledClientIsCutOff)\$"
      COEF=4 NEEDS_S3=1 ;;
    policy)
      # -short: TestDecide_SameAsPlainEvaluation compares 60 random
      # requests with plain OPA evaluation instead of 400.
      DIR=policy/opa FLAGS="-short" COEF=8 ;;
    *) return 1 ;;
  esac
}

usage() { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"; }

dry_run=0
targets=()
for a in "$@"; do
  case $a in
    --dry-run) dry_run=1 ;;
    --list)
      for t in "${ALL_TARGETS[@]}"; do
        target "$t"
        printf '%-10s %-18s %s%s%s\n' "$t" "$DIR" "${KEEP:-all files}" "${TESTS:+  (tests of $TESTS)}" "${FLAGS:+  (go test $FLAGS)}"
      done
      exit 0 ;;
    -h | --help) usage; exit 0 ;;
    -*) die "unknown option $a (see --help)" ;;
    *) target "$a" || die "unknown target $a; targets: ${ALL_TARGETS[*]}"; targets+=("$a") ;;
  esac
done
((${#targets[@]})) || targets=("${ALL_TARGETS[@]}")

for c in go git jq; do command -v "$c" >/dev/null 2>&1 || die "$c is needed"; done

# gremlins, pinned. `go install` leaves version "dev" in its --version; the
# module version is in the binary's build information.
GREMLINS=$TOOLS/bin/gremlins
if [[ ! -x $GREMLINS ]] || [[ $(go version -m "$GREMLINS" 2>/dev/null | awk '$1 == "mod" {print $3}') != "$GREMLINS_VERSION" ]]; then
  log "installing gremlins $GREMLINS_VERSION into $TOOLS/bin"
  mkdir -p "$TOOLS/bin"
  # go install pkg@version ignores the current module; clear GOFLAGS such
  # as -mod=vendor, which would fail it.
  (cd "$TOOLS" && GOFLAGS='' GOBIN=$TOOLS/bin go install "$GREMLINS_PKG@$GREMLINS_VERSION")
fi

cpus=$(nproc 2>/dev/null || echo 1)
WORKERS=${MUTATION_WORKERS:-$((cpus > 1 ? 2 : 1))}
# Not gremlins' --test-cpu: v0.6.0 passes it to go test as one argument,
# "-cpu N", which go test takes for a package pattern and fails on, so every
# mutant would count as KILLED.

# gremlins mutates copies, never the tree it is given, but it takes those
# copies (one per worker, of the whole module) and runs the coverage in that
# tree while the run goes on. A snapshot of the working tree (tracked and
# untracked files, not ignored ones: no .tools, var or node_modules) keeps
# edits made meanwhile out of the run and keeps the copies small.
tmp_root=${TMPDIR:-/tmp}
SNAP=$(mktemp -d "$tmp_root/weightgate-mutation.XXXXXX")
# gremlins builds each mutant's test binary in a temporary directory, and
# on a timeout stops go test, not the binary: a mutant that loops in a
# package's init() never reaches the test timeout and would run on after
# the run. Its temporary directory is this one, so that reap can find what
# is left of it.
RUN_TMP=$(mktemp -d "$tmp_root/weightgate-mutation-tmp.XXXXXX")
reap() { pkill -9 -f "^$RUN_TMP/" 2>/dev/null || true; }
# watchdog kills, while the run goes on, a test binary of the run that has
# outlived twice its own -test.timeout: one that loops in init() would
# otherwise hold a CPU until the run ends and slow every later mutant.
watchdog() {
  local re='-test\.timeout=(([0-9]+)h)?(([0-9]+)m)?([0-9]+)(\.[0-9]+)?s'
  while sleep 10; do
    ps -eo pid=,etimes=,args= | while read -r pid secs bin args; do
      [[ $bin == "$RUN_TMP"/* && $args =~ $re ]] || continue
      local limit=$((${BASH_REMATCH[2]:-0} * 3600 + ${BASH_REMATCH[4]:-0} * 60 + BASH_REMATCH[5]))
      if ((secs > 2 * limit + 60)); then kill -9 "$pid" 2>/dev/null || true; fi
    done
  done
}
started_s3=0
cleanup() {
  reap
  rm -rf "$SNAP" "$RUN_TMP"
  if ((started_s3)); then "$ROOT/scripts/s3-server.sh" stop || true; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
if git -C "$ROOT" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  (cd "$ROOT" && git ls-files -z --cached --others --exclude-standard |
    while IFS= read -r -d '' f; do [[ -f $f ]] && printf '%s\0' "$f"; done |
    tar --null -T - -cf -) | tar -C "$SNAP" -xf -
else
  tar -C "$ROOT" --exclude=./.git --exclude=./.tools --exclude=./var --exclude=node_modules -cf - . | tar -C "$SNAP" -xf -
fi
log "snapshot of $ROOT in $SNAP"

# The S3 test server, for the targets whose tests need it (a dry run too:
# it runs the tests once, for the coverage).
need_s3=0
for t in "${targets[@]}"; do target "$t"; ((NEEDS_S3)) && need_s3=1; done
if ((need_s3)); then
  if [[ -z ${WEIGHTGATE_TEST_S3_ENDPOINT:-} ]]; then
    if ! "$ROOT/scripts/s3-server.sh" status >/dev/null 2>&1; then
      "$ROOT/scripts/s3-server.sh" start
      started_s3=1
    fi
    eval "$("$ROOT/scripts/s3-server.sh" env)"
  fi
  # A test that cannot reach the server fails instead of skipping: without
  # it, the tests that need it would skip, and their mutants read as not
  # covered or lived.
  export WEIGHTGATE_TEST_S3_REQUIRED=1
fi

mkdir -p "$OUT"
pct() { awk -v n="$1" -v d="$2" 'BEGIN { if (d > 0) printf "%.1f", 100 * n / d; else printf "n/a" }'; }
header='| target | mutants | killed | lived | not covered | timed out | not viable | efficacy % | mutant coverage % | time | goals |'
rule='|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|'
rows=()
under=()

run_target() {
  local name=$1
  target "$name"
  local dir=$SNAP/$DIR
  [[ -d $dir ]] || die "$name: no directory $DIR"
  # Only this package's files: a subdirectory is another package (another
  # target, or none). Then, when KEEP names the files, every other one;
  # a KEEP file that is gone is an error, not a smaller run.
  local -a excl=(--exclude-files '/')
  if [[ -n $KEEP ]]; then
    local f base
    for f in $KEEP; do [[ -f $dir/$f ]] || die "$name: $DIR/$f does not exist; update target() in $0"; done
    for f in "$dir"/*.go; do
      base=${f##*/}
      [[ $base == *_test.go || " $KEEP " == *" $base "* ]] && continue
      excl+=(--exclude-files "^${base//./\\.}\$")
    done
  fi
  local json=$OUT/$name.json logf=$OUT/$name.log
  local -a args=(unleash --workers "$WORKERS" --timeout-coefficient "$COEF" "${excl[@]}" -o "$json")
  ((dry_run)) && args+=(--dry-run)
  # -count=1: gremlins times the coverage run to set each mutant's timeout;
  # a test result replayed from Go's cache makes that run last a second
  # and every mutant time out.
  local goflags="${GOFLAGS:+$GOFLAGS }-count=1${FLAGS:+ $FLAGS}"
  if [[ -n $TESTS ]]; then
    local module names p
    module=$(cd "$SNAP" && go list -m)
    for p in $TESTS; do [[ -d $SNAP/$p ]] || die "$name: no directory $p; update target() in $0"; done
    names=$(cd "$SNAP" && for p in $TESTS; do grep -ho '^func Test[A-Za-z0-9_]*' "$p"/*_test.go; done |
      sed 's/^func //' | sort -u | paste -sd'|')
    [[ -n $names ]] || die "$name: no tests in $TESTS"
    args+=(--integration --coverpkg "$module/$DIR")
    goflags+=" -run=^($names)\$"
  fi
  log "$name: $DIR${KEEP:+ ($KEEP)}, GOFLAGS='$goflags', workers $WORKERS, timeout coefficient $COEF"
  rm -f "$json"
  local start=$SECONDS rc=0
  watchdog &
  local dog=$!
  (cd "$SNAP" && TMPDIR=$RUN_TMP GOFLAGS=$goflags "$GREMLINS" "${args[@]}" "$dir") >"$logf" 2>&1 || rc=$?
  kill "$dog" 2>/dev/null || true
  reap
  local secs=$((SECONDS - start))
  if ((rc != 0)) || [[ ! -s $json ]]; then
    tail -n 20 "$logf" >&2
    die "$name: gremlins failed (exit $rc); its output is in $logf"
  fi

  local counts killed lived notcov timedout notviable runnable total
  counts=$(jq -r '[.files[].mutations[].status] as $s
    | ["KILLED", "LIVED", "NOT COVERED", "TIMED OUT", "NOT VIABLE", "RUNNABLE"]
    | map(. as $k | $s | map(select(. == $k)) | length) | @tsv' "$json")
  read -r killed lived notcov timedout notviable runnable <<<"$counts"
  total=$((killed + lived + notcov + timedout + notviable + runnable))
  local eff mcov goals time
  time=$(printf '%dm%02ds' $((secs / 60)) $((secs % 60)))
  if ((dry_run)); then
    eff=n/a mcov=$(pct "$runnable" "$total") goals="dry run: $runnable runnable"
  else
    eff=$(pct "$killed" $((killed + lived)))
    mcov=$(pct $((killed + lived)) "$total")
    # Integer arithmetic, exact: killed/(killed+lived) >= 90/100.
    if ((killed + lived > 0 && 100 * killed >= GOAL_EFFICACY * (killed + lived) && 100 * (killed + lived) >= GOAL_MCOVER * total)); then
      goals=met
    else
      goals=UNDER
      under+=("$name")
    fi
  fi
  local row="| $name | $total | $killed | $lived | $notcov | $timedout | $notviable | $eff | $mcov | $time | $goals |"
  rows+=("$row")
  {
    echo "$header"
    echo "$rule"
    echo "$row"
    echo
    echo "LIVED (file:line:column type: source line), in $DIR:"
    jq -r '.files[] | .file_name as $f | .mutations[] | select(.status == "LIVED")
      | [$f, .line, .column, .type] | @tsv' "$json" | sort -t$'\t' -k1,1 -k2,2n -k3,3n |
      while IFS=$'\t' read -r f line col type; do
        printf '  %s:%s:%s %s: %s\n' "$f" "$line" "$col" "$type" "$(sed -n "${line}{s/^[[:space:]]*//;p}" "$dir/$f")"
      done
    echo
    # Go's coverage profile has no block for a switch's case expressions,
    # so gremlins counts a mutant there NOT COVERED even when the tests run
    # that case: those are counted apart, to look at by hand.
    echo "NOT COVERED per file (of which on a case line):"
    jq -r '.files[] | .file_name as $f | .mutations[] | select(.status == "NOT COVERED")
      | [$f, .line] | @tsv' "$json" |
      while IFS=$'\t' read -r f line; do
        if sed -n "${line}p" "$dir/$f" | grep -qE '^[[:space:]]*case[[:space:]]'; then echo "$f case"; else echo "$f other"; fi
      done | sort | awk '{ n[$1]++; if ($2 == "case") c[$1]++ } END { for (f in n) printf "  %s %d (%d)\n", f, n[f], c[f] }' | sort
    if ((timedout)); then
      echo
      echo "TIMED OUT:"
      jq -r '.files[] | .file_name as $f | .mutations[] | select(.status == "TIMED OUT")
        | "  \($f):\(.line):\(.column) \(.type)"' "$json" | sort -V
    fi
  } >"$OUT/$name.txt"
  cat "$OUT/$name.txt"
  echo
}

for t in "${targets[@]}"; do run_target "$t"; done

{
  echo "$header"
  echo "$rule"
  printf '%s\n' "${rows[@]}"
} | tee "$OUT/summary.txt"
if ((${#under[@]})); then
  log "under the goals (efficacy >= $GOAL_EFFICACY %, mutant coverage >= $GOAL_MCOVER %): ${under[*]}"
  exit 1
fi
