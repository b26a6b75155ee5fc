#!/usr/bin/env bash
# The admin API under load on 1,000,000 subscribers (issue 6): search, get, list and the
# dashboard at a fixed request rate, p95 of each, measured with oha
# (https://github.com/hatoo/oha, installed with `cargo install oha` if missing).
#
#   bench/adminapi.sh                 # everything: scratch database, seed, runs
#   SKIP_SEED=1 bench/adminapi.sh     # reuse the scratch database of a previous run
#
# Settings (environment): PG_URL (postgres://postgres@127.0.0.1:5432), DB (proisp_bench_api),
# SUBSCRIBERS (1000000), ONLINE (100000 open sessions), RATE (500 requests/s),
# DURATION (20s), API_PORT (18080).
#
# The scratch database gets, beside the seed: 5 % of subscribers suspended and 1 %
# disabled, usage of the current month for every subscriber, and ONLINE open sessions
# on one NAS, so the dashboard has real aggregates to read. Rate limiting is lifted for
# the run (one client address sends everything).
set -euo pipefail

BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_DIR="$(dirname "$BENCH_DIR")"
pg_url=${PG_URL:-postgres://postgres@127.0.0.1:5432}
db=${DB:-proisp_bench_api}
subscribers=${SUBSCRIBERS:-1000000}
online=${ONLINE:-100000}
rate=${RATE:-500}
duration=${DURATION:-20s}
api_port=${API_PORT:-18080}
work=$(mktemp -d)
bin="$REPO_DIR/target/release"

log() { printf '%s %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

command -v oha >/dev/null || [ -x "$HOME/.cargo/bin/oha" ] || {
  log "installing oha (cargo install oha --locked)"
  cargo install oha --locked
}
oha=$(command -v oha || echo "$HOME/.cargo/bin/oha")

log "building proisp-adminapi (release)"
(cd "$REPO_DIR" && cargo build --release --quiet -p proisp-adminapi)

export PROISP_DATABASE_URL="$pg_url/$db"
# Kept beside the scratch database so SKIP_SEED=1 can still decrypt what was seeded.
keys="$REPO_DIR/var/bench-api"
mkdir -p "$keys"
export PROISP_KEY_FILE="$keys/secret.key"
export PROISP_TOKENS__JWT_KEY_FILE="$keys/jwt.key"
export PROISP_HTTP__LISTEN="127.0.0.1:$api_port"
export PROISP_RATE_LIMIT__REQUESTS_PER_MINUTE=100000000
export PROISP_LOG__LEVEL=warn
[ -s "$PROISP_KEY_FILE" ] || "$bin/proisp-adminapi" gen-key > "$PROISP_KEY_FILE"
[ -s "$PROISP_TOKENS__JWT_KEY_FILE" ] || "$bin/proisp-adminapi" gen-key > "$PROISP_TOKENS__JWT_KEY_FILE"
chmod 600 "$PROISP_KEY_FILE" "$PROISP_TOKENS__JWT_KEY_FILE"
sql() { psql -qtAX -v ON_ERROR_STOP=1 "$PROISP_DATABASE_URL" "$@"; }

if [ -z "${SKIP_SEED:-}" ]; then
  log "scratch database $db: $subscribers subscribers, $online sessions online"
  psql -qtAX "$pg_url/postgres" -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
  "$bin/proisp-adminapi" migrate >/dev/null
  /usr/bin/time -f "seed: %e s" "$bin/proisp-adminapi" seed --subscribers "$subscribers" \
    --nas 127.0.0.1 --secret testing123 >/dev/null
  sql <<SQL
UPDATE subscribers SET status = 'suspended' WHERE id % 20 = 0;
UPDATE subscribers SET status = 'disabled' WHERE id % 100 = 1;
UPDATE subscribers SET name = 'Customer ' || id, phone = '+3706' || lpad(id::text, 7, '0');
INSERT INTO usage (subscriber_id, period_start, upload_octets, download_octets)
SELECT id, proisp_period_start('month', now()), (random() * 1e9)::int8, (random() * 1e10)::int8
FROM subscribers;
-- Seeded sessions are not news: no session.start events (sql/0016).
SET proisp.session_events = 'off';
INSERT INTO sessions (nas_id, acct_session_id, username, subscriber_id, started_at, updated_at,
    stale_at, interim_interval_secs, framed_ip)
SELECT (SELECT min(id) FROM nas), to_hex(s.id), s.username, s.id,
    now() - (random() * interval '6 hours'), now(), now() + interval '1 hour', 300,
    '100.64.0.0'::inet + s.id
FROM subscribers s WHERE s.id <= $online;
VACUUM ANALYZE;
SQL
fi

log "starting proisp-adminapi serve on $PROISP_HTTP__LISTEN"
printf 'bench-Admin-password\n' | "$bin/proisp-adminapi" create-admin --username bench \
  --role admin >/dev/null 2>&1 || true
"$bin/proisp-adminapi" serve &
api_pid=$!
trap 'kill "$api_pid" 2>/dev/null; wait "$api_pid" 2>/dev/null; rm -rf "$work"' EXIT
base="http://127.0.0.1:$api_port/api/v1"
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$api_port/health" >/dev/null && break; sleep 0.1; done
token=$(curl -sf "$base/auth/login" -H 'Content-Type: application/json' \
  -d '{"username": "bench", "password": "bench-Admin-password"}' | jq -r .access_token)
auth="Authorization: Bearer $token"
# The same base as a regular expression, for oha's random URLs. Character classes, not
# backslash escapes: oha 1.16 read an escaped dot as any character, and the requests
# went elsewhere.
base_re="http://127[.]0[.]0[.]1:$api_port/api/v1"

# oha: open loop at $rate requests/s (-q), latency measured from each request's
# scheduled send time (--latency-correction), so a stall is not hidden.
run() {
  local name=$1 q=$2; shift 2
  log "$name: $q requests/s for $duration"
  "$oha" --no-tui -z "$duration" -q "$q" --latency-correction -c 32 -H "$auth" \
    --output-format json "$@" > "$work/$name.json"
  jq -r --arg name "$name" \
    '"\($name)\tp50 \(.latencyPercentiles.p50 * 1000 | . * 100 | round / 100) ms\tp95 \(.latencyPercentiles.p95 * 1000 | . * 100 | round / 100) ms\tp99 \(.latencyPercentiles.p99 * 1000 | . * 100 | round / 100) ms\trps \(.summary.requestsPerSec | round)\tsuccess \(.summary.successRate)\tstatus \(.statusCodeDistribution | tostring)"' \
    "$work/$name.json"
  # A figure only counts when every answer was the real one.
  jq -e '.statusCodeDistribution | keys == ["200"]' "$work/$name.json" >/dev/null || {
    log "$name: answers other than 200 — not a valid measurement"
    exit 1
  }
}

# Search as the support desk types it: six digits of a customer number or a phone.
run search "$rate" --rand-regex-url "$base_re/subscribers[?]q=[0-9]{6}"
# The worst case for trigrams: a username with the prefix every username shares
# ("user0" …), whose common trigrams match all million rows before the rare ones narrow
# them; at a rate it can sustain.
run search-common-prefix 100 --rand-regex-url "$base_re/subscribers[?]q=user0[0-9]{4}"
run get "$rate" --rand-regex-url "$base_re/subscribers/[1-9][0-9]{5}"
run list "$rate" "$base/subscribers?status=active&limit=50"
run dashboard "$rate" "$base/dashboard"
# Uncached: every request recomputes (requests queue behind one another: the cache
# computes once at a time), so at a rate it can keep up with.
run dashboard-uncached 20 "$base/dashboard?refresh=true"
run sessions "$rate" "$base/sessions?limit=50"
