#!/usr/bin/env bash
# The monthly restore test (systemd/proisp-backup-restore-check.timer; README, "Backups and
# disaster recovery"): restores the newest backup of the stanza, and every WAL segment
# archived since, into a scratch directory; starts PostgreSQL on it with a Unix socket in
# that directory only and archiving off (it neither listens on the network nor pushes a
# second timeline into the repository); waits for the end of recovery; reads the restored
# database; stops it and deletes the directory. One line on stdout:
#
#   restore-check  backup=LABEL  restore=Ns  recovery=Ns  last_commit=TIME  age=Ns  subscribers=N  PASS
#
#   restore      seconds `pgbackrest restore` took (files out of the repository)
#   recovery     seconds from PostgreSQL's start to the end of WAL replay
#   last_commit  the last transaction replayed (PostgreSQL's "last completed transaction"),
#                `-` when no transaction was replayed after the backup
#   age          seconds from last_commit to now: what a restore now would lose on a primary
#                that kept writing (at most archive_timeout plus a push when archiving works)
#
# Run it as the user that owns the repository (postgres). Exit status 0 on PASS.
# Environment: STANZA (proisp), RESTORE_DIR (/var/tmp: needs the database's size free),
# RESTORE_DB (proisp), RESTORE_USER (postgres: the cluster's superuser), PG_BIN (the
# newest /usr/lib/postgresql/*/bin), RESTORE_TIMEOUT (3600: seconds allowed for the WAL
# replay), and pgBackRest's own PGBACKREST_* variables (PGBACKREST_CONFIG, …).
set -euo pipefail

stanza=${STANZA:-proisp}
db=${RESTORE_DB:-proisp}
user=${RESTORE_USER:-postgres}
timeout=${RESTORE_TIMEOUT:-3600}
bin=${PG_BIN:-$(find /usr/lib/postgresql -maxdepth 2 -name bin -type d | sort -V | tail -n 1)}
[ -x "$bin/pg_ctl" ] || { echo "restore-check: no PostgreSQL binaries in '$bin' (set PG_BIN)" >&2; exit 1; }

scratch=$(mktemp -d "${RESTORE_DIR:-/var/tmp}/proisp-restore-check.XXXXXX")
data="$scratch/pg"
step=start

cleanup() {
  local rc=$?
  trap - EXIT
  if [ -s "$data/postmaster.pid" ]; then
    "$bin/pg_ctl" -D "$data" -m immediate -w stop >/dev/null 2>&1 || true
  fi
  if [ "$rc" != 0 ]; then
    echo "restore-check  FAIL: $step (status $rc)"
    [ -s "$scratch/postgresql.log" ] && tail -n 20 "$scratch/postgresql.log" >&2
  fi
  rm -rf "$scratch"
  exit "$rc"
}
trap cleanup EXIT
# A stop (systemd's TimeoutStartSec, Ctrl-C) still stops PostgreSQL and deletes the copy.
trap 'exit 143' INT TERM

now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }

step="pgbackrest info"
label=$(pgbackrest --stanza="$stanza" --output=json info | python3 -c '
import json, sys
backups = json.load(sys.stdin)[0]["backup"]
print(backups[-1]["label"] if backups else "")')
[ -n "$label" ] || { step="no backup in the repository"; exit 1; }

step="pgbackrest restore"
t0=$(now)
pgbackrest --stanza="$stanza" --pg1-path="$data" --archive-mode=off --log-level-console=warn \
  restore
t1=$(now)

# Debian keeps postgresql.conf and pg_hba.conf in /etc, outside the backup; a data
# directory from elsewhere brings its own. Either way these are the settings that count:
# the command line wins over both files.
[ -e "$data/postgresql.conf" ] || : >"$data/postgresql.conf"
printf 'local all all trust\n' >"$scratch/hba.conf"
chmod 700 "$scratch"
sql() { "$bin/psql" -h "$scratch" -p 5432 -U "$user" -d "$1" -v ON_ERROR_STOP=1 -qtA -c "$2"; }

# hot_standby off: no connection before the end of recovery, and no check that
# max_connections matches the primary's. (pg_ctl -w returns once replay has begun, then,
# since no connection can be made before its end: the first query to succeed marks it.)
step="PostgreSQL start"
"$bin/pg_ctl" -D "$data" -l "$scratch/postgresql.log" -w -o "\
  -c listen_addresses='' -c port=5432 -c unix_socket_directories='$scratch' \
  -c hba_file='$scratch/hba.conf' -c archive_mode=off -c hot_standby=off \
  -c shared_buffers=128MB -c max_connections=20 -c logging_collector=off \
  -c log_destination=stderr" start >/dev/null
step="WAL replay (RESTORE_TIMEOUT $timeout s)"
deadline=$((SECONDS + timeout))
until [ "$(sql postgres "SELECT NOT pg_is_in_recovery()" 2>/dev/null)" = t ]; do
  "$bin/pg_ctl" -D "$data" status >/dev/null || { step="PostgreSQL exited during WAL replay"; exit 1; }
  [ "$SECONDS" -lt "$deadline" ] || exit 1
  sleep 0.2
done
t2=$(now)

step="reading the restored database $db"
subscribers=$(sql "$db" "SELECT count(*) FROM subscribers")
last=$(sed -n 's/.*last completed transaction was at log time \(.*\)$/\1/p' \
  "$scratch/postgresql.log" | tail -n 1)
age=-
if [ -n "$last" ]; then
  age=$(python3 -c '
import datetime, sys
t = datetime.datetime.fromisoformat(sys.argv[1].replace(" ", "T"))
print(f"{datetime.datetime.now(datetime.timezone.utc).timestamp() - t.timestamp():.0f}")' "$last")
fi

step="PostgreSQL stop"
"$bin/pg_ctl" -D "$data" -m fast -w stop >/dev/null
printf 'restore-check  backup=%s  restore=%ss  recovery=%ss  last_commit=%s  age=%ss  subscribers=%s  PASS\n' \
  "$label" "$(secs "$t0" "$t1")" "$(secs "$t1" "$t2")" "${last:--}" "$age" "$subscribers"
