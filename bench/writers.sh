#!/usr/bin/env bash
# Accounting throughput by number of writers: bench/acct-radiusd.sh started afresh (a new
# database) for each side in turn, `[accounting] writers` set to each number given, then
# a 10-s warm-up, VACUUM ANALYZE and RUNS closed-loop runs. Per run: durable requests/s,
# p99, and CPU per request of PostgreSQL (the database's backends plus the WAL writer,
# checkpointer and background writer, from /proc/PID/stat).
#
#   bench/writers.sh 4 2              # INTERIMS=1 ROUNDS=2 RUNS=2 DURATION=15 by default
#   INTERIMS=10 bench/writers.sh 4 2 1
#   RATE=15000 DURATION=20 bench/writers.sh 4 2   # the open loop at 15,000/s instead
#
# Environment: BIN (a directory holding release builds of proisp-radiusd and
# proisp-adminapi; default: build them), LOADTEST, CONCURRENCY (256), USERS (30000),
# GEN_CPU (1), ACCT_PORT (31813).
set -euo pipefail

source "$(dirname "$0")/lib.sh"

[ $# -ge 1 ] || { echo "usage: bench/writers.sh N [N …]" >&2; exit 2; }
INTERIMS="${INTERIMS:-1}" ROUNDS="${ROUNDS:-2}" RUNS="${RUNS:-2}" DURATION="${DURATION:-15}"
CONCURRENCY="${CONCURRENCY:-256}" USERS="${USERS:-30000}" GEN_CPU="${GEN_CPU:-1}"
ACCT_PORT="${ACCT_PORT:-31813}"
HZ=$(getconf CLK_TCK)

build_loadtest
if [ -z "${BIN:-}" ]; then
  log "building proisp-radiusd and proisp-adminapi (release)"
  (cd "$REPO_DIR" && cargo build --release -q -p proisp-radiusd -p proisp-adminapi)
  BIN="$(cd "$REPO_DIR" && cargo metadata --format-version 1 --no-deps | jq -r .target_directory)/release"
fi
export BIN
out="$REPO_DIR/var/bench/writers-$(date +%Y%m%d-%H%M%S)"
mkdir -p "$out"
log "raw JSON and radiusd's logs in $out"

server=""
stop_server() { [ -z "$server" ] || { kill -TERM "$server" 2>/dev/null; wait "$server" 2>/dev/null || true; }; server=""; }
trap stop_server EXIT INT TERM

acct() { # SECONDS [LOAD…]: a run, closed loop unless LOAD says otherwise; the JSON on stdout
  local seconds=$1
  shift
  taskset -c "$GEN_CPU" "$LOADTEST" acct --server "127.0.0.1:$ACCT_PORT" --secret "$SECRET" \
    --users "$USERS" --interims "$INTERIMS" --interim-interval 300 \
    --octets-per-interim 1610612736 --timeout 10s --duration "${seconds}s" --json --quiet "${@:---concurrency=$CONCURRENCY}"
}
load=()
[ -z "${RATE:-}" ] || load=(--rate "$RATE")

echo "| writers | round | run | req/s | p99 ms | timeouts | PostgreSQL µs/req |"
echo "|---:|---:|---:|---:|---:|---:|---:|"
for round in $(seq 1 "$ROUNDS"); do
  for writers in "$@"; do
    stop_server
    WRITERS=$writers USERS=$USERS ACCT_PORT=$ACCT_PORT "$BENCH_DIR/acct-radiusd.sh" \
      >"$out/radiusd-$writers-$round.log" 2>&1 &
    server=$!
    until grep -q "ready:" "$out/radiusd-$writers-$round.log"; do
      kill -0 "$server" 2>/dev/null || die "bench/acct-radiusd.sh exited: $out/radiusd-$writers-$round.log"
      sleep 0.5
    done
    acct 10 >/dev/null || log "warm-up: wrong or missing answers"
    psql -h "${PG_HOST:-127.0.0.1}" -p "${PG_PORT:-5432}" -U "${PG_USER:-postgres}" \
      -d proisp_bench_acct -X -q -c "VACUUM ANALYZE"
    for run in $(seq 1 "$RUNS"); do
      pg=$(pgrep -f "postgres: .*(proisp_bench_acct|walwriter|checkpointer|background writer)" | tr '\n' ' ')
      # shellcheck disable=SC2086 # pid list
      p0=$(proc_cpu_ticks $pg)
      json="$out/$writers-$round-$run.json"
      acct "$DURATION" "${load[@]}" >"$json" || log "writers=$writers: wrong or missing answers"
      # shellcheck disable=SC2086
      p1=$(proc_cpu_ticks $pg)
      jq -r --arg w "$writers" --arg r "$round" --arg n "$run" --argjson pc $((p1 - p0)) \
        --argjson hz "$HZ" \
        '"| \($w) | \($r) | \($n) | \(.answer_rate | floor) | \(.latency_us.p99 / 1000) | \(.timeouts + .not_sent) | \($pc / $hz * 1e6 / .answered | floor) |"' "$json"
    done
  done
done
