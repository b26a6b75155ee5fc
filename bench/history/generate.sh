#!/usr/bin/env bash
# Generates a year of accounting history on a migrated and seeded ProISP database with no
# history yet (bench/history/generate.sql says how): the plan, then its fill jobs on JOBS
# connections at once (default: one per CPU), then the checks and ANALYZE of finish.sql.
#
#   bench/history/generate.sh postgres://postgres@127.0.0.1:5432/DB [psql -v settings…]
#   bench/history/generate.sh "$url" -v subscribers=20000 -v sessions=1000000
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
url=${1:?usage: generate.sh DATABASE_URL [-v name=value]…}
shift
jobs_at_once=${JOBS:-$(nproc)}
work_mem=${MAINTENANCE_WORK_MEM:-1GB}

jobs=$(psql -qtAX -v ON_ERROR_STOP=1 "$url" "$@" -f "$here/generate.sql" | sed -n 's/^jobs //p')
[ -n "$jobs" ] || { echo "generate.sql planned no jobs" >&2; exit 1; }
# Each job on a connection of its own: synchronous_commit off (a crash here means
# generating again), index builds sorting in memory, parallelism across jobs rather than
# within one.
printf '%s\n' $jobs | xargs -P "$jobs_at_once" -I{} psql -qX -v ON_ERROR_STOP=1 "$url" \
  -c "SET synchronous_commit = off" -c "SET maintenance_work_mem = '$work_mem'" \
  -c "SET max_parallel_maintenance_workers = 0" -c "SET statement_timeout = 0" \
  -c "CALL bench_history_fill({})"
psql -qX -v ON_ERROR_STOP=1 "$url" -f "$here/finish.sql"
