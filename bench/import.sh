#!/usr/bin/env bash
# The CSV import (issue 19): ROWS new subscribers into a database that already holds BASE,
# through the release proisp-adminapi, once in one request (`POST /subscribers/import`)
# and once as a job (`POST /subscribers/imports`, from the 202 until the job is done,
# its progress read every 100 ms), each with its own fresh names; rows per second of each.
#
#   bench/import.sh
#
# Settings (environment): PG_URL (postgres://postgres@127.0.0.1:5432), DB
# (proisp_bench_import), BASE (100000 subscribers seeded first), ROWS (100000, the most
# one import may hold), API_PORT (18081).
set -euo pipefail

BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_DIR="$(dirname "$BENCH_DIR")"
pg_url=${PG_URL:-postgres://postgres@127.0.0.1:5432}
db=${DB:-proisp_bench_import}
base=${BASE:-100000}
rows=${ROWS:-100000}
api_port=${API_PORT:-18081}
bin="$REPO_DIR/target/release"
work="$REPO_DIR/var/bench-import"
api="http://127.0.0.1:$api_port/api/v1"

log() { printf '%s %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

log "building proisp-adminapi (release)"
(cd "$REPO_DIR" && cargo build --release --quiet -p proisp-adminapi)

mkdir -p "$work"
export PROISP_DATABASE_URL="$pg_url/$db"
export PROISP_KEY_FILE="$work/secret.key"
export PROISP_HTTP__LISTEN="127.0.0.1:$api_port"
export PROISP_RATE_LIMIT__REQUESTS_PER_MINUTE=100000000
export PROISP_LOG__LEVEL=warn
[ -s "$PROISP_KEY_FILE" ] || "$bin/proisp-adminapi" gen-key >"$PROISP_KEY_FILE"
chmod 600 "$PROISP_KEY_FILE"

log "scratch database $db with $base subscribers"
psql -qtAX "$pg_url/postgres" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "CREATE DATABASE $db"
"$bin/proisp-adminapi" migrate >/dev/null
"$bin/proisp-adminapi" seed --subscribers "$base" --nas 127.0.0.1 --secret testing123 >/dev/null
password=Import-timing-Passw0rd
"$bin/proisp-adminapi" create-admin --username bench --role admin <<<"$password" >/dev/null
plan=$(psql -qtAX "$PROISP_DATABASE_URL" -c "SELECT name FROM plans ORDER BY id LIMIT 1")
psql -qtAX "$PROISP_DATABASE_URL" -c "VACUUM ANALYZE" >/dev/null

"$bin/proisp-adminapi" serve &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null || true' EXIT
for _ in $(seq 100); do
  curl -fsS "http://127.0.0.1:$api_port/health" >/dev/null 2>&1 && break
  sleep 0.1
done
token=$(curl -fsS "$api/auth/login" -H 'Content-Type: application/json' \
  -d "{\"username\":\"bench\",\"password\":\"$password\"}" | jq -r .access_token)

# ROWS fresh names under prefix $1.
csv() {
  awk -v n="$rows" -v p="$1" -v plan="$plan" 'BEGIN {
    print "username,password,plan,phone"
    for (i = 1; i <= n; i++) printf "%s%06d,pw-%d-secret,%s,+1555%07d\n", p, i, i, plan, i
  }' >"$work/$1.csv"
}
now() { date +%s.%N; }
rate() { awk -v n="$rows" -v a="$1" -v b="$2" 'BEGIN { printf "%.2f s, %.0f rows/s", b - a, n / (b - a) }'; }

csv sync
t0=$(now)
created=$(curl -fsS "$api/subscribers/import" -H "Authorization: Bearer $token" \
  -H 'Content-Type: text/csv' --data-binary "@$work/sync.csv" | jq '.created | length')
t1=$(now)
echo "POST /subscribers/import: $created of $rows created in $(rate "$t0" "$t1")"

csv job
t0=$(now)
job=$(curl -fsS "$api/subscribers/imports" -H "Authorization: Bearer $token" \
  -H 'Content-Type: text/csv' --data-binary "@$work/job.csv" | jq .job_id)
t1=$(now)
while :; do
  view=$(curl -fsS "$api/subscribers/imports/$job" -H "Authorization: Bearer $token")
  [ "$(jq -r .state <<<"$view")" = running ] || break
  sleep 0.1
done
t2=$(now)
echo "POST /subscribers/imports: 202 after $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f s", b - a }'); $(jq .created <<<"$view") of $rows created, $(jq -r .state <<<"$view"), in $(rate "$t0" "$t2")"
kill $server
wait $server 2>/dev/null || true
psql -qtAX "$pg_url/postgres" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)"
