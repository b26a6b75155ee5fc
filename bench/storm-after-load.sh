#!/usr/bin/env bash
# The NAS-reboot storm right after a burst of load on a fresh database (issue 17): the
# sequence that found the Start path planned on stale statistics (bench/RESULTS.md,
# "Found: sessions' planner statistics"). Each round stands up bench/acct-radiusd.sh on a
# new proisp_bench_acct, runs LOAD_SECS of `acct --interims INTERIMS -c 256`, then the
# storm (Accounting-On, then USERS Starts, 1,024 in flight), and prints the storm's time.
#
#   bench/storm-after-load.sh            # ROUNDS (3) rounds
#
# Environment: ROUNDS (3), LOAD_SECS (20), INTERIMS (10), USERS (30000), GEN_CPU (1),
# ANALYZE_FIRST=1 to ANALYZE sessions and usage by hand before each storm (the old
# workaround, for an A/B), BIN (a directory with release proisp-radiusd, proisp-adminapi
# and proisp-loadtest; default: build them). Output: var/bench/storm-<time>/.
set -euo pipefail

source "$(dirname "$0")/lib.sh"

ROUNDS="${ROUNDS:-3}"
LOAD_SECS="${LOAD_SECS:-20}"
INTERIMS="${INTERIMS:-10}"
USERS="${USERS:-30000}"
GEN_CPU="${GEN_CPU:-1}"
ACCT_PORT=31813
if [ -z "${BIN:-}" ]; then
  (cd "$REPO_DIR" && cargo build --release -q -p proisp-radiusd -p proisp-adminapi -p proisp-loadtest)
  BIN="$(cd "$REPO_DIR" && cargo metadata --format-version 1 --no-deps | jq -r .target_directory)/release"
fi
out="$REPO_DIR/var/bench/storm-$(date -u +%Y%m%d-%H%M%S)"
mkdir -p "$out"
psql_db() { psql -h 127.0.0.1 -U postgres -X -q -At -d proisp_bench_acct "$@"; }
loadtest() { # NAME ARGS...
  local name=$1; shift
  taskset -c "$GEN_CPU" "$BIN/proisp-loadtest" acct --server "127.0.0.1:$ACCT_PORT" \
    --secret "$SECRET" --users "$USERS" --interim-interval 300 --timeout 10s --json --quiet \
    "$@" >"$out/$name.json" || [ $? -eq 3 ]
}

for r in $(seq "$ROUNDS"); do
  BIN="$BIN" USERS="$USERS" ACCT_PORT=$ACCT_PORT "$BENCH_DIR/acct-radiusd.sh" \
    >"$out/radiusd-$r.log" 2>&1 &
  server=$!
  until grep -q ready "$out/radiusd-$r.log" 2>/dev/null; do
    kill -0 "$server" 2>/dev/null || die "acct-radiusd.sh exited: $(tail -3 "$out/radiusd-$r.log")"
    sleep 0.5
  done
  loadtest "load-$r" --interims "$INTERIMS" --concurrency 256 --duration "${LOAD_SECS}s"
  [ "${ANALYZE_FIRST:-0}" = 1 ] && psql_db -c 'ANALYZE sessions, usage'
  loadtest "storm-$r" --interims 0 --storm --concurrency 1024 --duration 60s
  jq -rn --arg r "$r" --slurpfile load "$out/load-$r.json" --slurpfile storm "$out/storm-$r.json" '
    ($load[0] | .answer_rate | round) as $rate | $storm[0] as $s |
    "round \($r): load \($rate) req/s; storm " +
    (if $s.answered == $s.sent and $s.timeouts == 0
     then "\($s.answered / $s.answer_rate * 100 | round / 100) s" else "incomplete" end) +
    ", \($s.answered) of \($s.sent) answered, p99 \($s.latency_us.p99 / 1000 | round) ms, " +
    "Accounting-On \($s.accounting_on.latency_us.max / 1000 | round) ms"' \
    | tee -a "$out/summary.txt"
  kill -TERM "$server"; wait "$server" 2>/dev/null || true
done
log "results in $out"
