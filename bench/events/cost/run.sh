#!/usr/bin/env bash
# Where a session event's cost goes (issue 22): pgbench inserting 20 sessions a
# transaction (insert.sql; 4 clients, 10 s) on a scratch database DB (default ev_cost,
# migrated and seeded with 30,000 subscribers by the release proisp-adminapi), three ways:
#   off      session events off;
#   json     session.start written as shipped: the CloudEvent built in SQL by the trigger;
#   compact  the prototype of compact.sql: the event's fields in typed columns of a table
#            of its own, for the relay to build the JSON (the trigger replaced in DB only).
# Prints transactions/s and WAL octets per session for each; off runs again last.
#
#   bench/events/cost/run.sh
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../../.." && pwd)"
db=${DB:-ev_cost}
url=${PG_URL:-postgres://postgres@127.0.0.1:5432}
psql_() { psql -qAtX -v ON_ERROR_STOP=1 "$url/$db" "$@"; }
(cd "$repo" && cargo build --release -q -p proisp-adminapi)
key=$(mktemp)
trap 'rm -f "$key"' EXIT
"$repo/target/release/proisp-adminapi" gen-key > "$key"
psql -qAtX "$url/postgres" -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
export PROISP_DATABASE_URL="$url/$db" PROISP_KEY_FILE="$key"
"$repo/target/release/proisp-adminapi" migrate > /dev/null 2>&1
"$repo/target/release/proisp-adminapi" seed --subscribers 30000 --nas 127.0.0.1 --secret testing123 > /dev/null 2>&1
psql_ -c "CREATE TABLE event_outbox2 (x int)"

run() { # NAME PGOPTIONS
  psql_ -c "TRUNCATE sessions, event_outbox, event_outbox2"
  local a b n tps
  a=$(psql_ -c "SELECT pg_current_wal_lsn()")
  tps=$(PGOPTIONS="$2" pgbench -n -c 4 -j 2 -T 10 -f "$here/insert.sql" "$url/$db" 2>/dev/null \
    | sed -n 's/^tps = \([0-9.]*\).*/\1/p')
  b=$(psql_ -c "SELECT pg_current_wal_lsn()")
  n=$(psql_ -c "SELECT count(*) FROM sessions")
  printf '%s\t%s tx/s\t%s sessions\t%s WAL octets/session\n' "$1" "$tps" "$n" \
    "$(psql_ -c "SELECT round(pg_wal_lsn_diff('$b', '$a') / $n)")"
}
run off "-c proisp.session_events=off"
run json "-c proisp.session_events=start -c proisp.outbox_notify=deferred"
psql_ -c "DROP TABLE event_outbox2" -f "$here/compact.sql"
run compact "-c proisp.session_events=start -c proisp.outbox_notify=deferred"
run off "-c proisp.session_events=off"
