#!/usr/bin/env bash
# Stands up the proisp-radiusd side of the accounting benchmark (bench/README.md,
# "Accounting"): a fresh database `proisp_bench_acct` on the machine's PostgreSQL, migrated
# and seeded with USERS subscribers and NAS 127.0.0.1 (secret testing123), and a release
# proisp-radiusd on 127.0.0.1:31813 pinned to SERVER_CPUS, in the foreground until
# Ctrl-C or SIGTERM. Everything else is bench/compare-acct.sh's:
#
#   bench/acct-radiusd.sh &          # wait for "ready"
#   bench/compare-acct.sh --second 127.0.0.1:31813 --second-rows "$(bench/acct-radiusd.sh --rows)"
#
# Environment: USERS (30000), SERVER_CPUS (0), PG_HOST/PG_PORT/PG_USER (127.0.0.1, 5432,
# postgres), REDIS_URL (redis://127.0.0.1:6379), ACCT_PORT (31813), WRITERS / BATCH for
# radiusd's [accounting] writers and batch_size, ACKNOWLEDGE / JOURNAL_MAX_LAG for its
# acknowledge and journal_max_lag (its defaults when unset), SPOOL_DIR for its spool_dir
# (var/bench/acct-radiusd/spool), and BIN: a
# directory holding both binaries already built (default: build them, release).
set -euo pipefail

source "$(dirname "$0")/lib.sh"

USERS="${USERS:-30000}"
SERVER_CPUS="${SERVER_CPUS:-0}"
PG_HOST="${PG_HOST:-127.0.0.1}"
PG_PORT="${PG_PORT:-5432}"
PG_USER="${PG_USER:-postgres}"
REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379}"
ACCT_PORT="${ACCT_PORT:-31813}"
DB=proisp_bench_acct
PSQL=(psql -h "$PG_HOST" -p "$PG_PORT" -U "$PG_USER" -X -q -v ON_ERROR_STOP=1)

if [ "${1:-}" = --rows ]; then
  # The command compare-acct.sh's --second-rows runs: every session stored, open or closed.
  echo "${PSQL[*]} -d $DB -Atc 'SELECT (SELECT count(*) FROM sessions) + (SELECT count(*) FROM session_history)'"
  exit 0
fi

work="$REPO_DIR/var/bench/acct-radiusd"
mkdir -p "$work"
if [ -n "${BIN:-}" ]; then
  bin=$BIN
else
  log "building proisp-radiusd and proisp-adminapi (release)"
  (cd "$REPO_DIR" && cargo build --release -q -p proisp-radiusd -p proisp-adminapi)
  bin="$(cd "$REPO_DIR" && cargo metadata --format-version 1 --no-deps | jq -r .target_directory)/release"
fi

"${PSQL[@]}" -d postgres -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB"
url="postgres://$PG_USER@$PG_HOST:$PG_PORT/$DB"
[ -s "$work/secret.key" ] || { "$bin/proisp-adminapi" gen-key >"$work/secret.key"; chmod 600 "$work/secret.key"; }
cat >"$work/adminapi.toml" <<TOML
key_file = "$work/secret.key"
[database]
url = "$url"
[redis]
url = "$REDIS_URL"
key_prefix = "proisp-bench-acct:"
TOML
accounting="spool_dir = \"${SPOOL_DIR:-$work/spool}\""
[ -z "${WRITERS:-}" ] || accounting+=$'\n'"writers = $WRITERS"
[ -z "${BATCH:-}" ] || accounting+=$'\n'"batch_size = $BATCH"
[ -z "${ACKNOWLEDGE:-}" ] || accounting+=$'\n'"acknowledge = \"$ACKNOWLEDGE\""
[ -z "${JOURNAL_MAX_LAG:-}" ] || accounting+=$'\n'"journal_max_lag = \"$JOURNAL_MAX_LAG\""
cat >"$work/radiusd.toml" <<TOML
key_file = "$work/secret.key"
[listen]
auth = "127.0.0.1:$((ACCT_PORT - 1))"
acct = "127.0.0.1:$ACCT_PORT"
metrics = "127.0.0.1:$((ACCT_PORT + 1))"
[database]
url = "$url"
[redis]
url = "$REDIS_URL"
key_prefix = "proisp-bench-acct:"
[accounting]
$accounting
[log]
level = "warn"
TOML
api() { RUST_LOG=warn "$bin/proisp-adminapi" --config "$work/adminapi.toml" "$@"; }
log "migrating and seeding $USERS subscribers into $DB"
api migrate >/dev/null
api seed --subscribers "$USERS" --nas 127.0.0.1 --secret "$SECRET" >/dev/null
"${PSQL[@]}" -d "$DB" -c "VACUUM ANALYZE"

taskset -c "$SERVER_CPUS" "$bin/proisp-radiusd" --config "$work/radiusd.toml" &
pid=$!
trap 'kill -TERM $pid 2>/dev/null; wait $pid 2>/dev/null' EXIT INT TERM
until curl -sf --max-time 1 "http://127.0.0.1:$((ACCT_PORT + 1))/health" >/dev/null 2>&1; do
  kill -0 "$pid" 2>/dev/null || die "proisp-radiusd exited"
  sleep 0.2
done
log "ready: proisp-radiusd (pid $pid) accounting on 127.0.0.1:$ACCT_PORT, database $DB"
wait "$pid"
