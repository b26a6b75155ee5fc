#!/usr/bin/env bash
# The web console on a million subscribers (issue 19): a release proisp-adminapi with the
# console built in, on the database bench/history.sh left (1,000,000 subscribers and a
# year of history, usage per month) or, when DB does not exist, on a fresh one seeded
# with SUBSCRIBERS; then bench/console.mjs in Debian's chromium: the dashboard's cold
# load and search as you type (bench/console.mjs says how each is timed). The figures
# and adminapi's log go to var/bench/console-<time>/.
#
#   bench/console.sh
#
# Settings (environment): PG_URL (postgres://postgres@127.0.0.1:5432), DB
# (proisp_bench_history), REDIS_URL (redis://127.0.0.1:6379), SUBSCRIBERS (1000000),
# LOADS (20), SEARCHES (200), KEY_DELAY (80), API_PORT (18082), SERVER_CPUS (0: adminapi
# pinned there, the browser on the other CPUs).
set -euo pipefail

BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_DIR="$(dirname "$BENCH_DIR")"
pg_url=${PG_URL:-postgres://postgres@127.0.0.1:5432}
db=${DB:-proisp_bench_history}
subscribers=${SUBSCRIBERS:-1000000}
api_port=${API_PORT:-18082}
server_cpus=${SERVER_CPUS:-0}
out="$REPO_DIR/var/bench/console-$(date -u +%Y%m%d-%H%M%S)"
mkdir -p "$out"
log() { printf '%s %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

log "building the console and a release proisp-adminapi that embeds it"
(cd "$REPO_DIR" && make --quiet console >/dev/null && cargo build --release --quiet -p proisp-adminapi)
bin="$REPO_DIR/target/release"
command -v chromium >/dev/null || { log "chromium is missing: scripts/deps.sh installs it"; exit 1; }

export PROISP_DATABASE_URL="$pg_url/$db"
export PROISP_REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379}
# The keys bench/history.sh made its database with (the subscribers' secrets are
# encrypted under secret.key), made here when missing.
keys="$REPO_DIR/var/bench-history"
mkdir -p "$keys"
export PROISP_KEY_FILE="$keys/secret.key"
export PROISP_TOKENS__JWT_KEY_FILE="$keys/jwt.key"
[ -s "$PROISP_KEY_FILE" ] || "$bin/proisp-adminapi" gen-key > "$PROISP_KEY_FILE"
[ -s "$PROISP_TOKENS__JWT_KEY_FILE" ] || "$bin/proisp-adminapi" gen-key > "$PROISP_TOKENS__JWT_KEY_FILE"
chmod 600 "$PROISP_KEY_FILE" "$PROISP_TOKENS__JWT_KEY_FILE"
export PROISP_HTTP__LISTEN="127.0.0.1:$api_port"
export PROISP_RATE_LIMIT__REQUESTS_PER_MINUTE=100000000
export PROISP_LOG__LEVEL=warn
if [ "$(psql -qtAX "$pg_url/postgres" -c "SELECT count(*) FROM pg_database WHERE datname = '$db'")" = 0 ]; then
  log "no database $db: seeding $subscribers subscribers into a new one"
  psql -qtAX "$pg_url/postgres" -c "CREATE DATABASE $db"
  "$bin/proisp-adminapi" migrate >/dev/null
  "$bin/proisp-adminapi" seed --subscribers "$subscribers" --nas 127.0.0.1 --secret testing123 >/dev/null
  psql -qtAX "$PROISP_DATABASE_URL" -c "VACUUM ANALYZE"
fi
password="Dashboard-Timing-pw1"
# The admin of earlier runs stays; any other refusal stops the run.
refused=$(printf '%s\n' "$password" | "$bin/proisp-adminapi" create-admin --username console-bench \
  --role admin 2>&1 >/dev/null) || case $refused in
  *"already taken"*) ;;
  *) log "create-admin: $refused"; exit 1 ;;
esac

taskset -c "$server_cpus" "$bin/proisp-adminapi" serve > "$out/adminapi.log" 2>&1 &
api_pid=$!
trap 'kill "$api_pid" 2>/dev/null; wait "$api_pid" 2>/dev/null' EXIT
until curl -sf --max-time 1 "http://127.0.0.1:$api_port/health" >/dev/null 2>&1; do
  kill -0 "$api_pid" 2>/dev/null || { cat "$out/adminapi.log" >&2; exit 1; }
  sleep 0.1
done
size=$(for f in "$REPO_DIR"/adminapi/console/dist/index.html "$REPO_DIR"/adminapi/console/dist/assets/*; do
  gzip -9c "$f" | wc -c; done | awk '{s += $1} END {print s}')
{
  echo "# bench/console.sh $(date -u +%Y-%m-%dT%H:%MZ): database $db ($(psql -qtAX "$PROISP_DATABASE_URL" \
    -c "SELECT count(*) FROM subscribers") subscribers), git $(git -C "$REPO_DIR" rev-parse --short HEAD)"
  echo "console assets: $size octets gzipped (gzip -9 of each file in adminapi/console/dist)"
  CONSOLE_URL="http://127.0.0.1:$api_port" CONSOLE_ADMIN=console-bench CONSOLE_PASSWORD="$password" \
    SUBSCRIBERS="$subscribers" node "$BENCH_DIR/console.mjs"
} | tee "$out/summary.txt"
