#!/usr/bin/env bash
# A/B of proisp-radiusd builds on one machine, one day: each binary in turn against the
# same database, the same generator and the same pinning, rounds alternating so drift on
# the machine hits every build alike. See bench/README.md.
#
#   bench/ab.sh OLD_BINARY NEW_BINARY            # warm: max (c=128) twice, then 20,000/s
#   bench/ab.sh --cold OLD_BINARY NEW_BINARY     # every lookup a Redis miss and a PG hit
#   bench/ab.sh --warm-redis OLD NEW             # restarted radiusd, Redis still warm
#
# Keep copies of the binaries (cp target/release/proisp-radiusd /tmp/new) so a rebuild
# does not change them under the run. Needs PostgreSQL at 127.0.0.1:5432 (postgres, trust)
# and Redis at 127.0.0.1:6379; creates and seeds database proisp_bench_ab (30,000
# subscribers) on first use. Every step is bounded; every radiusd it starts is stopped.
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"

MODE=warm
ROUNDS=2
USERS=30000
DB="${AB_DB:-proisp_bench_ab}"
PORT="${AB_PORT:-18120}"
usage() {
  echo "usage: bench/ab.sh [--cold | --warm-redis] [--rounds R] BINARY..." >&2
}
while [ $# -gt 0 ]; do
  case "$1" in
    --cold) MODE=cold; shift ;;
    --warm-redis) MODE=warm-redis; shift ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    -*) usage; die "unknown option $1" ;;
    *) break ;;
  esac
done
[ $# -gt 0 ] || { usage; exit 2; }
for bin in "$@"; do [ -x "$bin" ] || die "not an executable: $bin"; done
command -v jq >/dev/null || die "jq is missing (apt-get install jq)"

build_loadtest
ADMIN="$(dirname "$LOADTEST")/proisp-adminapi"
(cd "$REPO_DIR" && cargo build --release -p proisp-adminapi >/dev/null 2>&1) || die "cannot build proisp-adminapi"
WORK="$REPO_DIR/var/bench/ab"
mkdir -p "$WORK/spool"
export PROISP_DATABASE_URL="postgres://postgres@127.0.0.1/$DB" PROISP_KEY_FILE="$WORK/key" \
  PROISP_REDIS_URL=redis://127.0.0.1:6379 PROISP_LISTEN__AUTH="127.0.0.1:$PORT" \
  PROISP_LISTEN__ACCT="127.0.0.1:$((PORT + 10))" PROISP_LISTEN__METRICS="127.0.0.1:$((PORT + 1692))" \
  PROISP_AUTH__REJECT_DELAY=0s PROISP_ACCOUNTING__SPOOL_DIR="$WORK/spool"
if [ ! -s "$WORK/key" ] || ! psql -h 127.0.0.1 -U postgres -d "$DB" -c 'select 1' >/dev/null 2>&1; then
  log "creating database $DB with $USERS subscribers"
  PGOPTIONS="-c client_min_messages=warning" psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB" >/dev/null
  (umask 077 && "$ADMIN" gen-key >"$WORK/key")
  "$ADMIN" migrate >/dev/null 2>&1
  "$ADMIN" seed --subscribers "$USERS" --nas 127.0.0.1 --secret "$SECRET" >/dev/null 2>&1
fi

PID=""
trap '[ -z "$PID" ] || kill "$PID" 2>/dev/null || true' EXIT
ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
# One load run: prints "rate/s p99 lost cpu" with CPU µs per answer of $PID.
run() {
  local before out after n
  before=$(ticks "$PID")
  out=$(taskset -c "$GEN" "$LOADTEST" auth -s "127.0.0.1:$PORT" --users "$USERS" --json "$@" 2>/dev/null)
  after=$(ticks "$PID")
  n=$(jq .answered <<<"$out")
  printf '%s/s p99 %s µs lost %s cpu %s µs' "$(jq '.answer_rate | floor' <<<"$out")" \
    "$(jq .latency_us.p99 <<<"$out")" "$(jq .timeouts <<<"$out")" \
    "$(awk -v t=$((after - before)) -v n="$n" -v hz="$(getconf CLK_TCK)" \
      'BEGIN { if (n > 0) printf "%.2f", t * 1e6 / hz / n; else print "-" }')"
}
start() { # BINARY CPUS
  if [ "$2" = all ]; then "$1" >"$WORK/radiusd.log" 2>&1 & else taskset -c "$2" "$1" >"$WORK/radiusd.log" 2>&1 & fi
  PID=$!
  for _ in $(seq 50); do
    ss -uln | grep -q "127.0.0.1:$PORT " && return 0
    kill -0 "$PID" 2>/dev/null || die "radiusd exited: $(tail -3 "$WORK/radiusd.log")"
    sleep 0.1
  done
  die "radiusd did not bind 127.0.0.1:$PORT"
}
stop() { kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; PID=""; }
forget_redis() {
  redis-cli --scan --pattern 'proisp:sub:*' | xargs -r -n 1000 redis-cli del >/dev/null
}

ss -uln | grep -q "127.0.0.1:$PORT " && die "something already listens on 127.0.0.1:$PORT"
log "mode $MODE, $ROUNDS rounds, builds: $*"
if [ "$MODE" = warm-redis ]; then
  log "filling Redis with the first build"
  start "$1" all
  taskset -c 1 "$LOADTEST" auth -s "127.0.0.1:$PORT" --users "$USERS" -n "$USERS" -c 256 >/dev/null 2>&1
  stop
fi
for round in $(seq "$ROUNDS"); do
  for bin in "$@"; do
    case "$MODE" in
      warm)
        GEN=1
        start "$bin" 0
        taskset -c 1 "$LOADTEST" auth -s "127.0.0.1:$PORT" --users "$USERS" -c 128 -d 3 >/dev/null 2>&1
        echo "round $round $(basename "$bin"): max $(run -c 128 -d 5) | max $(run -c 128 -d 5) | 20000/s $(run -r 20000 -d 10)"
        ;;
      cold | warm-redis)
        GEN=0,1
        [ "$MODE" = warm-redis ] || forget_redis
        start "$bin" all
        echo "round $round $(basename "$bin"): $MODE $(run -n "$USERS" -c 256)"
        ;;
    esac
    stop
  done
done
