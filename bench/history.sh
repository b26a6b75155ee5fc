#!/usr/bin/env bash
# A year of accounting history at ISP scale (issue 24). On a scratch database with
# SUBSCRIBERS subscribers it measures, in this order:
#   1. accounting with a small history: proisp-radiusd (release, on SERVER_CPUS) and
#      proisp-loadtest acct, Start + 1 Interim-Update + Stop per session, closed loop of
#      256, ACCT_SECS after a warm-up: durable records/s, p50, p99;
#   2. the year of history generated in SQL (bench/history/generate.sh: SESSIONS closed
#      sessions over DAYS days, a partition per month, usage per subscriber and month),
#      after the accounting tables were emptied again; the time it took;
#   3. the same accounting run on top of it;
#   4. acks during retention: an open loop at RETENTION_RATE/s for RETENTION_SECS with
#      nothing due, then again with radiusd's retention due (history and usage older than
#      RETENTION_KEEP_DAYS, default DAYS − 65) while a report holds session_history for
#      READER_SECS from before radiusd starts: p50, p99, max, and which partitions and
#      usage rows went;
# then through the admin API, one request at a time:
#   - subscriber search over SEARCHES random patterns (`q=user` + 5 digits, the rare kind
#     whose plan went wrong; 3 to 6 bare digits; `user0` + 3 digits, the common kind):
#     p50, p95, max;
#   - "who had this address" (`GET /sessions/history?ip=…&at=…`) for LOOKUPS random
#     addresses and instants of the year: p50, p95, max, and how many found a session;
#   - a subscriber's history paged 20 pages deep: the first and the last page's time.
# Every figure is printed and kept (with radiusd's log) under var/bench/history-<time>/.
#
#   bench/history.sh                 # everything (generation and seed are the long part)
#   SKIP_GENERATE=1 bench/history.sh # steps 3, 4 and the API on the previous run's database
#   AB_ROUNDS=3 bench/history.sh     # only step 3 against a database without history, alternated
#
# Settings (environment): PG_URL (postgres://postgres@127.0.0.1:5432), DB
# (proisp_bench_history), REDIS_URL (redis://127.0.0.1:6379), SUBSCRIBERS (1000000),
# SESSIONS (50800000), DAYS (365), JOBS (generation jobs at once, one per CPU),
# ACCT_USERS (100000), ACCT_SECS (20), RETENTION_RATE (2000), RETENTION_SECS (60),
# READER_SECS (20), RETENTION_KEEP_DAYS (DAYS − 65), SEARCHES (1000), LOOKUPS (200),
# API_PORT (18081), ACCT_PORT (31913), SERVER_CPUS (0), GEN_CPU (1), PROFILE (release, or
# debug), AB_ROUNDS and SMALL_DB (proisp_bench_small) for the alternated comparison.
set -euo pipefail

BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_DIR="$(dirname "$BENCH_DIR")"
pg_url=${PG_URL:-postgres://postgres@127.0.0.1:5432}
db=${DB:-proisp_bench_history}
redis_url=${REDIS_URL:-redis://127.0.0.1:6379}
subscribers=${SUBSCRIBERS:-1000000}
sessions=${SESSIONS:-50800000}
days=${DAYS:-365}
acct_users=${ACCT_USERS:-$((subscribers < 100000 ? subscribers : 100000))}
acct_secs=${ACCT_SECS:-20}
retention_rate=${RETENTION_RATE:-2000}
retention_secs=${RETENTION_SECS:-60}
reader_secs=${READER_SECS:-20}
searches=${SEARCHES:-1000}
lookups=${LOOKUPS:-200}
small_db=${SMALL_DB:-proisp_bench_small}
api_port=${API_PORT:-18081}
acct_port=${ACCT_PORT:-31913}
server_cpus=${SERVER_CPUS:-0}
gen_cpu=${GEN_CPU:-1}
profile=${PROFILE:-release}
work=$(mktemp -d)
bin="$REPO_DIR/target/$profile"
out="$REPO_DIR/var/bench/history-$(date -u +%Y%m%d-%H%M%S)"
mkdir -p "$out"

log() { printf '%s %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
# report LINE: printed and kept in the run's summary.
report() { printf '%s\n' "$*" | tee -a "$out/summary.txt"; }

log "building proisp-adminapi, proisp-radiusd and proisp-loadtest ($profile)"
if [ "$profile" = release ]; then
  (cd "$REPO_DIR" && cargo build --release --quiet -p proisp-adminapi -p proisp-radiusd -p proisp-loadtest)
else
  (cd "$REPO_DIR" && cargo build --quiet -p proisp-adminapi -p proisp-radiusd -p proisp-loadtest)
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
sql() { psql -qtAX -v ON_ERROR_STOP=1 "$PROISP_DATABASE_URL" "$@"; }

radiusd_pid=""
api_pid=""
reader_pid=""
cleanup() {
  for p in $radiusd_pid $api_pid $reader_pid; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# start_radiusd NAME HISTORY_RETENTION USAGE_RETENTION: a release radiusd on this
# database, logging to $out/NAME.radiusd.log, until stop_radiusd.
start_radiusd() {
  local name=$1
  cat > "$work/radiusd.toml" <<TOML
key_file = "$PROISP_KEY_FILE"
[listen]
auth = "127.0.0.1:$((acct_port - 1))"
acct = "127.0.0.1:$acct_port"
metrics = "127.0.0.1:$((acct_port + 1))"
[database]
url = "$PROISP_DATABASE_URL"
[redis]
url = "$redis_url"
key_prefix = "proisp-bench-history:"
[accounting]
spool_dir = "$work/spool"
history_retention = "$2"
usage_retention = "$3"
TOML
  # Info, not the warn exported above for adminapi: retention's rounds log at info.
  PROISP_LOG__LEVEL=info taskset -c "$server_cpus" "$bin/proisp-radiusd" --config "$work/radiusd.toml" \
    > "$out/$name.radiusd.log" 2>&1 &
  radiusd_pid=$!
  until curl -sf --max-time 1 "http://127.0.0.1:$((acct_port + 1))/health" >/dev/null 2>&1; do
    kill -0 "$radiusd_pid" 2>/dev/null || { cat "$out/$name.radiusd.log" >&2; exit 1; }
    sleep 0.1
  done
}
stop_radiusd() {
  kill -TERM "$radiusd_pid"
  wait "$radiusd_pid" || true
  radiusd_pid=""
}

# acct NAME ARGS…: one proisp-loadtest acct run (Start, 1 Interim-Update, Stop per
# session) on GEN_CPU; its JSON kept as $out/NAME.json and its second-by-second progress
# lines as $out/NAME.progress; prints records/s and latencies.
acct() {
  local name=$1
  shift
  taskset -c "$gen_cpu" "$bin/proisp-loadtest" acct --server "127.0.0.1:$acct_port" \
    --secret testing123 --users "$acct_users" --interims 1 --json "$@" > "$out/$name.json" \
    2> "$out/$name.progress"
  jq -r --arg n "$name" '"\($n)\t\(.answer_rate | floor) records/s answered of \(.sent) sent, timeouts \(.timeouts)\tp50 \(.latency_us.p50 / 1000) ms\tp99 \(.latency_us.p99 / 1000) ms\tmax \(.latency_us.max / 1000) ms"' \
    "$out/$name.json" | tee -a "$out/summary.txt"
}

# acct_closed_loop NAME: the throughput figure, on a radiusd with nothing to retain,
# after a warm-up run of 10 s, with the database vacuumed and analysed in between.
acct_closed_loop() {
  start_radiusd "$1" 400days 800days
  acct "$1-warm-up" -c 256 -d 10s > /dev/null
  sql -c "VACUUM ANALYZE sessions" -c "VACUUM ANALYZE usage"
  acct "$1" -c 256 -d "${acct_secs}s"
  stop_radiusd
}

# AB_ROUNDS=N: instead of everything above and below, the closed-loop accounting run
# alternated N times between a database with the same subscribers and no history
# (SMALL_DB, seeded on first use) and this one, each run after its own warm-up; the
# history database's records/s as a share of the small one's, round by round.
if [ -n "${AB_ROUNDS:-}" ]; then
  report "# bench/history.sh AB_ROUNDS=$AB_ROUNDS $(date -u +%Y-%m-%dT%H:%MZ), git $(git -C "$REPO_DIR" rev-parse --short HEAD)"
  history_url=$PROISP_DATABASE_URL
  small_url="$pg_url/$small_db"
  if ! psql -qtAX "$small_url" -c "SELECT 1" >/dev/null 2>&1; then
    log "seeding $small_db: $subscribers subscribers, no history"
    psql -qtAX "$pg_url/postgres" -c "CREATE DATABASE $small_db"
    export PROISP_DATABASE_URL=$small_url
    "$bin/proisp-adminapi" migrate >/dev/null
    "$bin/proisp-adminapi" seed --subscribers "$subscribers" --nas 127.0.0.1 --secret testing123 >/dev/null
    sql -c "VACUUM ANALYZE"
  fi
  report "history: $(psql -qtAX "$history_url" -c "SELECT count(*) FROM session_history") sessions against $(psql -qtAX "$small_url" -c "SELECT count(*) FROM session_history")"
  for round in $(seq 1 "$AB_ROUNDS"); do
    export PROISP_DATABASE_URL=$small_url
    acct_closed_loop "ab-$round-small"
    export PROISP_DATABASE_URL=$history_url
    acct_closed_loop "ab-$round-history"
    report "round $round: $(jq -rn --slurpfile s "$out/ab-$round-small.json" --slurpfile h "$out/ab-$round-history.json" \
      '"\($h[0].answer_rate / $s[0].answer_rate * 100 | floor) % of the small history'"'"'s records/s"')"
  done
  exit 0
fi

report "# bench/history.sh $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs, git $(git -C "$REPO_DIR" rev-parse --short HEAD)"
if [ -z "${SKIP_GENERATE:-}" ]; then
  log "scratch database $db: $subscribers subscribers"
  psql -qtAX "$pg_url/postgres" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "CREATE DATABASE $db"
  "$bin/proisp-adminapi" migrate >/dev/null
  start=$SECONDS
  "$bin/proisp-adminapi" seed --subscribers "$subscribers" --nas 127.0.0.1 \
    --secret testing123 >/dev/null
  report "seeded $subscribers subscribers in $((SECONDS - start)) s"
  sql -c "VACUUM ANALYZE"

  log "accounting with a small history"
  acct_closed_loop acct-small-history
  # The generator starts from no history at all; what the run above wrote goes.
  sql -c "TRUNCATE sessions, session_history, usage, event_outbox"

  log "generating $sessions sessions over $days days"
  start=$SECONDS
  JOBS=${JOBS:-$(nproc)} "$BENCH_DIR/history/generate.sh" "$PROISP_DATABASE_URL" \
    -v subscribers="$subscribers" -v sessions="$sessions" -v days="$days" | tee -a "$out/summary.txt"
  report "generated in $((SECONDS - start)) s"
  sql -c "VACUUM ANALYZE"
fi

report "history: $(sql -c "SELECT count(*) FROM session_history") sessions from $(sql -c \
  "SELECT min(stopped_at)::date FROM session_history"), $(sql -c "SELECT count(*) FROM subscribers") subscribers"
log "accounting with a year of history"
acct_closed_loop acct-year-of-history

log "acks at $retention_rate/s without retention due, then with it due and a report reading"
start_radiusd retention-none 400days 800days
acct retention-none --rate "$retention_rate" -d "${retention_secs}s"
stop_radiusd
keep_days=${RETENTION_KEEP_DAYS:-$((days - 65))}
parts_before=$(sql -c "SELECT count(*) FROM pg_inherits WHERE inhparent = 'session_history'::regclass")
usage_before=$(sql -c "SELECT count(*) FROM usage WHERE period_start < now() - interval '$keep_days days'")
# The report: a transaction that has read session_history and goes on for READER_SECS.
psql -qtAX "$PROISP_DATABASE_URL" -c "BEGIN" -c "SELECT count(*) FROM session_history WHERE framed_ip = '100.64.0.1'" \
  -c "SELECT pg_sleep($reader_secs)" -c "COMMIT" > /dev/null &
reader_pid=$!
until [ "$(sql -c "SELECT count(*) FROM pg_locks WHERE relation = 'session_history'::regclass AND pid <> pg_backend_pid() AND granted")" -gt 0 ]; do
  sleep 0.05
done
start_radiusd retention-due "${keep_days}days" "${keep_days}days"
acct retention-due --rate "$retention_rate" -d "${retention_secs}s"
stop_radiusd
wait "$reader_pid"
reader_pid=""
parts_after=$(sql -c "SELECT count(*) FROM pg_inherits WHERE inhparent = 'session_history'::regclass")
usage_after=$(sql -c "SELECT count(*) FROM usage WHERE period_start < now() - interval '$keep_days days'")
report "retention: history partitions $parts_before -> $parts_after, usage rows past $keep_days days $usage_before -> $usage_after; radiusd said:"
{ grep -E 'maintained|postponed|being read' "$out/retention-due.radiusd.log" || echo "(nothing)"; } \
  | sed 's/\x1b\[[0-9;]*m//g; s/^/  /' | tee -a "$out/summary.txt"

# The admin of earlier runs stays; any other refusal stops the run.
refused=$(printf '%s\n' 'Year-of-History-pw1' | "$bin/proisp-adminapi" create-admin --username historian \
  --role admin 2>&1 >/dev/null) || case $refused in
  *"already taken"*) ;;
  *) log "create-admin: $refused"; exit 1 ;;
esac
"$bin/proisp-adminapi" serve &
api_pid=$!
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
times search < "$work/search.paths" | tee -a "$out/summary.txt"

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
times ip-at-time < "$work/lookup.paths" | tee -a "$out/summary.txt"
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
  "$work/pages.txt" | tee -a "$out/summary.txt"
