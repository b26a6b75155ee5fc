#!/usr/bin/env bash
# A/B of two versions of the accounting function on the proisp-radiusd that
# bench/acct-radiusd.sh runs: same binary, same database, only proisp_apply_accounting
# replaced between runs (each side a SQL file holding its CREATE OR REPLACE FUNCTION).
# Per run: durable requests/s, latency, WAL bytes per request, and CPU per request of
# radiusd and of PostgreSQL (the database's backends plus the WAL writer, checkpointer
# and background writer), from /proc/PID/stat.
#
#   bench/acct-radiusd.sh &
#   bench/acct-ab.sh sql/0012_recent_start_lookup.sql sql/0014_accounting_set_wise.sql
#   INTERIMS=10 ROUNDS=3 bench/acct-ab.sh A.sql B.sql
#
# (A migration holding nothing but the function, as those two do, serves as a side.)
#
# The last file given stays in force at the end. Environment: INTERIMS (1), ROUNDS (2),
# DURATION (15 s), CONCURRENCY (256), USERS (30000), GEN_CPU (1), ACCT_PORT (31813),
# PG_HOST/PG_PORT/PG_USER, LOADTEST (an executable; default: build it).
set -euo pipefail

source "$(dirname "$0")/lib.sh"

[ $# -ge 2 ] || { echo "usage: bench/acct-ab.sh A.sql B.sql [C.sql …]" >&2; exit 2; }
INTERIMS="${INTERIMS:-1}" ROUNDS="${ROUNDS:-2}" DURATION="${DURATION:-15}"
CONCURRENCY="${CONCURRENCY:-256}" USERS="${USERS:-30000}" GEN_CPU="${GEN_CPU:-1}"
ACCT_PORT="${ACCT_PORT:-31813}"
PSQL=(psql -h "${PG_HOST:-127.0.0.1}" -p "${PG_PORT:-5432}" -U "${PG_USER:-postgres}"
  -d proisp_bench_acct -X -Atq -v ON_ERROR_STOP=1)
HZ=$(getconf CLK_TCK)

build_loadtest
radiusd=$(pgrep -f "proisp-radiusd --config .*/acct-radiusd/radiusd.toml" | head -1) \
  || die "no proisp-radiusd of bench/acct-radiusd.sh running"
out="$REPO_DIR/var/bench/acct-ab-$(date +%Y%m%d-%H%M%S)"
mkdir -p "$out"
log "radiusd pid $radiusd; raw JSON in $out"

echo "| function | round | req/s | p50 ms | p99 ms | timeouts | WAL B/req | radiusd µs/req | PostgreSQL µs/req |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
for round in $(seq 1 "$ROUNDS"); do
  for sql in "$@"; do
    "${PSQL[@]}" -f "$sql"
    pg=$(pgrep -f "postgres: .*(proisp_bench_acct|walwriter|checkpointer|background writer)" | tr '\n' ' ')
    lsn=$("${PSQL[@]}" -c "SELECT pg_current_wal_lsn()")
    # shellcheck disable=SC2086 # pid lists
    r0=$(proc_cpu_ticks "$radiusd"); p0=$(proc_cpu_ticks $pg)
    json="$out/$(basename "$sql" .sql)-$round.json"
    taskset -c "$GEN_CPU" "$LOADTEST" acct --server "127.0.0.1:$ACCT_PORT" --secret "$SECRET" \
      --users "$USERS" --interims "$INTERIMS" --interim-interval 300 \
      --octets-per-interim 1610612736 --timeout 10s --concurrency "$CONCURRENCY" \
      --duration "${DURATION}s" --json --quiet >"$json" || log "$sql: wrong or missing answers"
    # shellcheck disable=SC2086
    r1=$(proc_cpu_ticks "$radiusd"); p1=$(proc_cpu_ticks $pg)
    wal=$("${PSQL[@]}" -c "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '$lsn')")
    jq -r --arg f "$(basename "$sql")" --arg r "$round" --argjson wal "$wal" \
      --argjson rc $((r1 - r0)) --argjson pc $((p1 - p0)) --argjson hz "$HZ" \
      '"| \($f) | \($r) | \(.answer_rate | floor) | \(.latency_us.p50 / 1000) | \(.latency_us.p99 / 1000) | \(.timeouts + .not_sent) | \($wal / .answered | floor) | \($rc / $hz * 1e6 / .answered | floor) | \($pc / $hz * 1e6 / .answered | floor) |"' "$json"
  done
done
