#!/usr/bin/env bash
# A private PostgreSQL for benchmarks, set up as tuning/postgresql.conf.example advises
# (shared_buffers 2 GB, WAL compression, spaced checkpoints, brisker autovacuum), rather
# than the machine's cluster with Debian's defaults: the figures an operator who followed
# the README's tuning would see. Its cluster lives in var/bench/pg-tuned, on 127.0.0.1:PORT
# (55432), superuser `proisp`, trust authentication; the bench scripts take it through
# their PG_URL / PG_PORT / PG_USER settings.
#
#   bench/tuned-postgres.sh start    # prints the URL, e.g. postgres://proisp@127.0.0.1:55432
#   PG_URL=$(bench/tuned-postgres.sh url) bench/history.sh
#   bench/tuned-postgres.sh stop
set -euo pipefail

BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_DIR="$(dirname "$BENCH_DIR")"
var="$REPO_DIR/var/bench/pg-tuned"
pg_port="${PORT:-55432}"
# shellcheck source=../scripts/lib-stack.sh
source "$REPO_DIR/scripts/lib-stack.sh"

url="postgres://proisp@127.0.0.1:$pg_port"
case "${1:-}" in
  start)
    start_postgres >&2
    conf="$var/pg/postgresql.conf"
    if ! grep -q "^include '$REPO_DIR/tuning/postgresql.conf.example'" "$conf"; then
      echo "include '$REPO_DIR/tuning/postgresql.conf.example'" >>"$conf"
      stop_postgres >&2
      start_postgres >&2
    fi
    pg_sql postgres -c "SHOW shared_buffers" | grep -qx 2GB || { echo "the tuning did not apply" >&2; exit 1; }
    echo "$url"
    ;;
  stop) stop_postgres ;;
  url) echo "$url" ;;
  *) echo "usage: bench/tuned-postgres.sh start|stop|url" >&2; exit 2 ;;
esac
