#!/usr/bin/env bash
# A year of accounting history at ISP scale (issue 24): generates it in SQL
# (bench/history/generate.sql) on a scratch database, then measures through the admin
# API, one request at a time:
#   - subscriber search over SEARCHES random patterns (`q=user` + 5 digits, the rare kind
#     whose plan went wrong; 3 to 6 bare digits; `user0` + 3 digits, the common kind):
#     p50, p95, max;
#   - "who had this address" (`GET /sessions/history?ip=…&at=…`) for LOOKUPS random
#     addresses and instants of the year: p50, p95, max, and how many found a session;
#   - a subscriber's history paged 20 pages deep: the first and the last page's time.
# Accounting throughput with a small against a large history, and acks during retention
# with a long reader, need radiusd and proisp-loadtest on top: not measured here yet.
#
#   bench/history.sh                 # everything (the generation is the long part)
#   SKIP_GENERATE=1 bench/history.sh # reuse the scratch database of a previous run
#
# Settings (environment): PG_URL (postgres://postgres@127.0.0.1:5432), DB
# (proisp_bench_history), SUBSCRIBERS (1000000), SESSIONS (50800000), DAYS (365),
# SEARCHES (1000), LOOKUPS (200), API_PORT (18081), PROFILE (release, or debug).
set -euo pipefail

BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_DIR="$(dirname "$BENCH_DIR")"
pg_url=${PG_URL:-postgres://postgres@127.0.0.1:5432}
db=${DB:-proisp_bench_history}
subscribers=${SUBSCRIBERS:-1000000}
sessions=${SESSIONS:-50800000}
days=${DAYS:-365}
searches=${SEARCHES:-1000}
lookups=${LOOKUPS:-200}
api_port=${API_PORT:-18081}
profile=${PROFILE:-release}
work=$(mktemp -d)
bin="$REPO_DIR/target/$profile"

log() { printf '%s %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

log "building proisp-adminapi ($profile)"
if [ "$profile" = release ]; then
  (cd "$REPO_DIR" && cargo build --release --quiet -p proisp-adminapi)
else
  (cd "$REPO_DIR" && cargo build --quiet -p proisp-adminapi)
fi

export PROISP_DATABASE_URL="$pg_url/$db"
keys="$REPO_DIR/var/bench-history"
mkdir -p "$keys"
export PROISP_KEY_FILE="$keys/secret.key"
export PROISP_TOKENS__JWT_KEY_FILE="$keys/jwt.key"
export PROISP_HTTP__LISTEN="127.0.0.1:$api_port"
export PROISP_RATE_LIMIT__REQUESTS_PER_MINUTE=100000000
export PROISP_LOG__LEVEL=warn
[ -s "$PROISP_KEY_FILE" ] || "$bin/proisp-adminapi" gen-key > "$PROISP_KEY_FILE"
[ -s "$PROISP_TOKENS__JWT_KEY_FILE" ] || "$bin/proisp-adminapi" gen-key > "$PROISP_TOKENS__JWT_KEY_FILE"
chmod 600 "$PROISP_KEY_FILE" "$PROISP_TOKENS__JWT_KEY_FILE"

if [ -z "${SKIP_GENERATE:-}" ]; then
  log "scratch database $db: $subscribers subscribers, $sessions sessions over $days days"
  psql -qtAX "$pg_url/postgres" -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
  "$bin/proisp-adminapi" migrate >/dev/null
  "$bin/proisp-adminapi" seed --subscribers "$subscribers" --nas 127.0.0.1 \
    --secret testing123 >/dev/null
  start=$SECONDS
  psql -qX -v ON_ERROR_STOP=1 "$PROISP_DATABASE_URL" -v subscribers="$subscribers" \
    -v sessions="$sessions" -v days="$days" -f "$BENCH_DIR/history/generate.sql"
  log "generated in $((SECONDS - start)) s"
fi

printf 'Year-of-History-pw1\n' | "$bin/proisp-adminapi" create-admin --username historian \
  --role admin >/dev/null 2>&1 || true
"$bin/proisp-adminapi" serve &
api_pid=$!
trap 'kill "$api_pid" 2>/dev/null; wait "$api_pid" 2>/dev/null; rm -rf "$work"' EXIT
base="http://127.0.0.1:$api_port/api/v1"
for _ in $(seq 300); do curl -sf "http://127.0.0.1:$api_port/health" >/dev/null && break; sleep 0.1; done
token=$(curl -sf "$base/auth/login" -H 'Content-Type: application/json' \
  -d '{"username": "historian", "password": "Year-of-History-pw1"}' | jq -r .access_token)

# times NAME < paths: GETs each path in turn; prints p50, p95 and max (ms) of the total
# time, and fails on any answer but 200.
times() {
  local name=$1
  curl -s -o /dev/null -H "Authorization: Bearer $token" -w '%{http_code} %{time_total}\n' \
    --config <(sed "s|^\(.*\)\$|url = \"$base\1\"\noutput = \"/dev/null\"|") > "$work/$name.txt"
  python3 - "$name" "$work/$name.txt" <<'PY'
import sys
name, path = sys.argv[1], sys.argv[2]
rows = [l.split() for l in open(path) if l.strip()]
bad = [c for c, _ in rows if c != "200"]
ms = sorted(float(t) * 1000 for _, t in rows)
pick = lambda q: ms[min(len(ms) - 1, int(q * len(ms)))]
print(f"{name}\tn {len(ms)}\tp50 {pick(0.5):.1f} ms\tp95 {pick(0.95):.1f} ms\tmax {ms[-1]:.1f} ms")
if bad:
    sys.exit(f"{name}: {len(bad)} answers other than 200")
PY
}

python3 - "$searches" "$subscribers" <<'PY' > "$work/search.paths"
import random, sys
n, subs = int(sys.argv[1]), int(sys.argv[2])
rng = random.Random(24)
for i in range(n):
    kind = i % 3
    if kind == 0:
        q = "user" + f"{rng.randrange(subs):06d}"[:5]
    elif kind == 1:
        q = "".join(rng.choice("0123456789") for _ in range(rng.randint(3, 6)))
    else:
        q = "user0" + f"{rng.randrange(1000):03d}"
    print(f"/subscribers?q={q}&limit=50")
PY
times search < "$work/search.paths"

python3 - "$lookups" "$days" <<'PY' > "$work/lookup.paths"
import random, sys, time
n, days = int(sys.argv[1]), int(sys.argv[2])
rng = random.Random(24)
now = int(time.time())
for _ in range(n):
    ip = 100 * 2**24 + 64 * 2**16 + rng.randrange(500000)
    addr = ".".join(str((ip >> s) & 255) for s in (24, 16, 8, 0))
    at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now - rng.randrange(days * 86400)))
    print(f"/sessions/history?ip={addr}&at={at}")
PY
times ip-at-time < "$work/lookup.paths"
found=$(psql -qtAX "$PROISP_DATABASE_URL" -c \
  "SELECT count(*) FROM audit_log WHERE action = 'session.lookup' AND (after->>'found')::int > 0 \
   AND at > now() - interval '1 hour'")
log "ip-at-time: $found lookups (of this and earlier runs in the last hour) found a session"

# One subscriber's history, 20 pages of 5 deep.
sub=$(psql -qtAX "$PROISP_DATABASE_URL" -c \
  "SELECT subscriber_id FROM session_history GROUP BY 1 ORDER BY count(*) DESC LIMIT 1")
before=""
: > "$work/pages.txt"
for page in $(seq 20); do
  url="$base/subscribers/$sub/sessions/history?limit=5${before:+&before=$before}"
  curl -s -H "Authorization: Bearer $token" -w '\n%{time_total}\n' "$url" > "$work/page.json"
  head -1 "$work/page.json" | jq -r .next_before > "$work/next"
  printf '%s %s\n' "$page" "$(tail -1 "$work/page.json")" >> "$work/pages.txt"
  before=$(cat "$work/next")
  [ "$before" = null ] && break
done
awk 'NR == 1 {f = $2} END {printf "history pages\tfirst %.1f ms\tpage %d %.1f ms\n", f * 1000, $1, $2 * 1000}' \
  "$work/pages.txt"
