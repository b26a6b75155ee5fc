#!/usr/bin/env bash
# The disaster-recovery drill of issue 16 (`make dr-drill`; `make dr-drill-short`): the
# database is destroyed under accounting load and restored from pgBackRest, and what that
# cost is measured. Under ./var/dr, on free ports:
#
#   1. the shipped systemd/proisp-backup* units pass `systemd-analyze verify`;
#   2. a private PostgreSQL with pgbackrest/postgresql.conf.example's lines, archiving
#      into a pgBackRest repository in var/dr/repo with pgbackrest/pgbackrest.conf.example
#      (only its paths overridden); stanza-create, check; migrate, seed; a full backup,
#      whose end monitoring/textfile-metrics.sh backup must report (the backup alert's
#      figure);
#   3. Redis, proisp-radiusd and proisp-adminapi; proisp-loadtest's accounting sessions
#      (Start, interims, Stop, a NAS's retransmissions) with its acked log;
#   4. mid-load the primary is lost: every PostgreSQL process SIGKILLed at once and its
#      data directory deleted. No WAL switch first: a real disaster does not get one;
#   5. at once `pgbackrest restore` (the newest backup, then the archived WAL to its end)
#      and PostgreSQL started on it with hot_standby off (no client before the end of
#      recovery: see start_restored_postgres in scripts/lib-dr.sh); radiusd (spooling
#      meanwhile) and adminapi reconnect;
#   6. the load ends, radiusd's spool drains, and PostgreSQL is held to what radiusd
#      acknowledged (scripts/faults-check.sql);
#   7. pgbackrest/restore-check.sh (the monthly restore test) and pgbackrest/verify.sh
#      (the daily check) run against the repository, and verify.sh against a copy of it
#      with one WAL segment damaged, which it must fail.
#
# One line on stdout, details below it and in var/dr/results:
#
#   dr-drill  backup=Ns  restore=Ns  rto=Ns  acked=N  missing=N  PASS/FAIL (why)
#
#   backup   seconds of the full backup (`pgbackrest backup --type=full`)
#   restore  seconds of `pgbackrest restore`
#   rto      seconds from the destruction until adminapi's /health (a PostgreSQL ping)
#            answers 200 and radiusd writes to the restored database again (/health 200,
#            its spool empty, its change feed polling PostgreSQL). The restore starts the
#            moment the primary is gone: an operator's reaction time comes on top
#   acked    distinct accounting requests radiusd acknowledged
#   missing  acknowledged requests the restored database does not reflect: commits whose
#            WAL had not reached the archive when the primary was lost (the RPO window,
#            bounded by archive_timeout). radiusd's spool holds only what it acknowledged
#            while PostgreSQL was away, never what PostgreSQL had committed
#
# PASS needs: both servers answering from the restored database, which refused none of
# radiusd's acknowledged records; recovery reaching the
# last WAL segment archived before the destruction; the last transaction recovered at most
# archive_timeout + 15 s before the destruction (and so within the roadmap's RPO of
# 5 min); no missing request acknowledged before that last recovered transaction (as far
# as the acked log's write buffer lets us date it); the restore test and verify passing.
#
# Usage: scripts/dr-drill.sh [--short]
# Environment: DR=short (as --short: about a minute, the load 30 s, the primary lost at
# 19 s, archive_timeout 5 s; the default form loads for 150 s and loses the primary at
# 89 s, with the shipped archive_timeout of 60 s), ARCHIVE_TIMEOUT (seconds, to try
# another), HOT_STANDBY=on (start the restored cluster with hot standby, to see what it
# does to radiusd), ACCT_RATE (200 requests/s), PROFILE=debug|release (debug),
# CARGO_TARGET_DIR (where the binaries are built: target).
# Exit status: 0 on PASS, 1 otherwise.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
var="$root/var/dr"
repo="$var/repo"
. "$root/scripts/lib-stack.sh"
. "$root/scripts/lib-dr.sh"

mode=${DR:-full}
for arg in "$@"; do
  case $arg in
    --short) mode=short ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown argument $arg" >&2; exit 2 ;;
  esac
done
# Each accounting session is a Start, 3 interims and a Stop, interim_interval (2 s) apart,
# and the load sends them in waves: Starts, then each interim, then Stops, 2 s each. The
# primary is lost in a wave of Stops, the records whose loss no later record makes good.
case $mode in
  short) load_secs=30 destroy_at=19 ;;
  full) load_secs=150 destroy_at=89 ;;
  *) echo "DR must be short or full" >&2; exit 2 ;;
esac
hot_standby=${HOT_STANDBY:-off}
profile=${PROFILE:-debug}
bin="${CARGO_TARGET_DIR:-$root/target}/$profile"
secret=testing123
subscribers=1000 acct_users=400
acct_rate=${ACCT_RATE:-200}
interim_interval=$(((acct_users + acct_rate - 1) / acct_rate))
# How long the restored stack may take to answer before the drill gives up.
rto_limit=600
shipped_timeout=$(sed -n 's/^archive_timeout *= *\([0-9]*\).*/\1/p' \
  "$root/pgbackrest/postgresql.conf.example")
# The short form loses the primary 15 s into the load: with the shipped 60 s nothing of
# the load would have been archived yet, and the drill would restore the bare backup. 5 s
# there makes it replay archived load as well; the full form runs the shipped value.
case $mode in
  short) archive_timeout=${ARCHIVE_TIMEOUT:-5} ;;
  full) archive_timeout=${ARCHIVE_TIMEOUT:-$shipped_timeout} ;;
esac

now() { echo "$EPOCHREALTIME"; }
since() { awk -v a="$1" -v b="${2:-$(now)}" 'BEGIN { printf "%.1f", b - a }'; }

notes=() info=()
radiusd_pid="" adminapi_pid="" load_pid="" sampler_pid=""

# systemd-analyze verify on the shipped backup units (where systemd-analyze exists), with
# the install paths of pgbackrest/'s scripts and of monitoring/textfile-metrics.sh (which
# proisp-backup-metrics runs) pointed at this tree's copies: verify checks
# that ExecStart's program exists. Any complaint naming one of ours fails the drill.
check_units() {
  if ! command -v systemd-analyze >/dev/null; then
    info+=("units: systemd-analyze not installed, not verified")
    return 0
  fi
  local d="$var/units" out
  rm -rf "$d"
  mkdir -p "$d"
  cp "$root"/systemd/proisp-backup* "$d/"
  sed -i -e "s#/usr/lib/proisp/restore-check#$root/pgbackrest/restore-check.sh#" \
    -e "s#/usr/lib/proisp/pgbackrest-verify#$root/pgbackrest/verify.sh#" \
    -e "s#/usr/lib/proisp/textfile-metrics#$root/monitoring/textfile-metrics.sh#" "$d"/*.service
  out=$(systemd-analyze verify --man=no "$d"/proisp-backup* 2>&1) || notes+=("systemd-analyze verify failed")
  if grep -q 'proisp-backup' <<<"$out"; then
    notes+=("systemd-analyze verify: $(grep 'proisp-backup' <<<"$out" | head -n 3 | tr '\n' ' ')")
  fi
  info+=("units: $(ls "$d" | wc -l) proisp-backup units verified")
}

cleanup() {
  trap '' INT TERM
  trap - EXIT
  set +e
  local pid
  for pid in $sampler_pid $load_pid; do kill -TERM "$pid" 2>/dev/null; done
  stop_dr_process "$adminapi_pid"
  stop_dr_process "$radiusd_pid"
  stop_redis >/dev/null
  stop_postgres >/dev/null
}

# The acked log's length every 200 ms: when each acknowledged line had been written, to
# date a missing record (a line is written when its answer arrives, through a 64 KB buffer).
sample_acked() {
  while :; do
    printf '%s %s\n' "$EPOCHREALTIME" "$({ wc -l <"$dir/acked.tsv"; } 2>/dev/null || echo 0)"
    sleep 0.2
  done >"$dir/acked-timeline"
}

command -v pgbackrest >/dev/null || "$root/scripts/deps.sh"
mkdir -p "$var"
rm -rf "$var/stack" "$var/results"
dir="$var/stack"
dr_dirs "$var"
mkdir -p "$dir"
pg_port=$(free_port) redis_port=$(free_port) auth_port=$(free_port) acct_port=$(free_port)
metrics_port=$(free_port) api_port=$(free_port)
trap cleanup EXIT INT TERM

check_units

say "building ($profile)"
if [ "$profile" = release ]; then
  cargo build --release --quiet -p proisp-radiusd -p proisp-adminapi -p proisp-loadtest
else
  debug_build
fi
drill_start=$SECONDS

say "PostgreSQL archiving into pgBackRest's repository $repo"
dr_pgbackrest_env
if [ "$archive_timeout" = "$shipped_timeout" ]; then
  start_archiving_postgres
else
  start_archiving_postgres "archive_timeout = $archive_timeout  # scripts/dr-drill.sh --short"
fi
export PROISP_DATABASE_URL="postgres://proisp@127.0.0.1:$pg_port/proisp"
export PROISP_REDIS_URL="redis://127.0.0.1:$redis_port"
export PROISP_KEY_FILE="$var/secret.key"
[ -s "$var/secret.key" ] || "$bin/proisp-adminapi" gen-key >"$var/secret.key"
[ -s "$var/jwt.key" ] || "$bin/proisp-adminapi" gen-key >"$var/jwt.key"
chmod 600 "$var/secret.key" "$var/jwt.key"
"$bin/proisp-adminapi" migrate >"$dir/setup.log" 2>&1
"$bin/proisp-adminapi" seed --subscribers "$subscribers" --nas 127.0.0.1 --secret "$secret" \
  >>"$dir/setup.log" 2>&1

say "full backup"
t=$(now)
pgbr --log-level-console=warn --type=full backup
backup_secs=$(since "$t")
read -r backup_stop backup_mib repo_mib < <(pgbr --output=json info | python3 -c '
import json, sys
b = json.load(sys.stdin)[0]["backup"][-1]
print(b["timestamp"]["stop"], round(b["info"]["size"] / 2**20), round(b["info"]["repository"]["delta"] / 2**20, 1))')
# proisp-backup-metrics.service's command on this repository: the backup's end for the
# ProISPBackupTooOld alert (monitoring/alerts.yml).
mkdir -p "$dir/textfile"
metrics_prom="$dir/textfile/proisp-backup-proisp.prom"
if TEXTFILE_DIR="$dir/textfile" PGBACKREST_USER=postgres \
  "$root/monitoring/textfile-metrics.sh" backup proisp 2>"$dir/textfile.err" &&
  grep -qx "proisp_backup_last_completion_timestamp_seconds{stanza=\"proisp\"} $backup_stop" "$metrics_prom" &&
  grep -qx 'proisp_backup_info_success{stanza="proisp"} 1' "$metrics_prom"; then
  info+=("textfile-metrics backup: the full backup's end ($backup_stop) for node_exporter")
else
  notes+=("textfile-metrics backup did not report the backup ending at $backup_stop ($(cat "$metrics_prom" "$dir/textfile.err" 2>/dev/null | tr '\n' ' '))")
fi

start_redis >/dev/null
wait_for 10 "Redis to answer" redis-cli -p "$redis_port" ping
start_dr_radiusd
start_dr_adminapi

say "accounting load: $acct_rate requests/s for $load_secs s, the primary lost at $destroy_at s"
load_start=$(now)
"$bin/proisp-loadtest" acct -s "127.0.0.1:$acct_port" --secret "$secret" -d "${load_secs}s" \
  --retries 5 --timeout 2s --json -q --users "$acct_users" --first-user 1 -r "$acct_rate" \
  --interims 3 --interim-interval "$interim_interval" --acked-log "$dir/acked.tsv" \
  >"$dir/acct.json" 2>"$dir/acct.err" &
load_pid=$!
sample_acked &
sampler_pid=$!
wait_for 20 "the accounting load to flow" metric_at_least radius_acct_requests_total "$acct_rate"
load_ran() { awk -v a="$load_start" -v d="$1" -v n="$(now)" 'BEGIN { exit !(a + d <= n) }'; }
wait_for $((destroy_at + 30)) "$destroy_at s of load" load_ran "$destroy_at"

read -r archived_seg archived_age written_lsn <<<"$(archiver_state)"
archived_seg=${archived_seg:0:24}
say "destroying the primary (last archived segment $archived_seg, ${archived_age} s ago)"
destroyed=$(now)
destroy_primary

say "restoring from pgBackRest"
t=$(now)
restore_primary
restore_secs=$(since "$t")
start_restored_postgres
wait_for "$rto_limit" "the restored PostgreSQL to take writes" pg_writable
pg_up=$(since "$destroyed")
rto=">$rto_limit"
if wait_for "$rto_limit" "adminapi on the restored database" adminapi_healthy &&
  wait_for "$rto_limit" "radiusd on the restored database" radiusd_on_postgres; then
  rto=$(since "$destroyed")
else
  notes+=("radiusd or adminapi not answering from the restored database after $rto_limit s")
fi

say "waiting for the load to end and radiusd's spool to drain"
wait "$load_pid" || true
load_pid=""
load=$(python3 -c '
import json, sys
print("load: sent %(sent)s, answered %(answered)s, timeouts %(timeouts)s" % json.load(open(sys.argv[1])))' \
  "$dir/acct.json" 2>/dev/null) || notes+=("proisp-loadtest wrote no report: $(tail -n 3 "$dir/acct.err" | tr '\n' ' ')")
info+=("${load:-load: no report}")
kill -TERM "$sampler_pid" 2>/dev/null || true
wait "$sampler_pid" 2>/dev/null || true
sampler_pid=""
wait_for 120 "the spool to drain" radiusd_on_postgres || notes+=("spool not drained after the load")

check=$(pg_sql proisp -f "$root/scripts/faults-check.sql" <"$dir/acked.tsv")
echo "$check" >"$dir/check.txt"
acked=$(sed -n 's/.*acked=\([0-9]*\).*/\1/p' <<<"$check")
missing=$(sed -n 's/.*missing=\([0-9]*\).*/\1/p' <<<"$check")
twice=$(sed -n 's/.*twice=\([0-9]*\).*/\1/p' <<<"$check")
[ "$twice" = 0 ] || notes+=("$twice subscribers' usage counted twice")
rejected=$(metric radius_acct_rejected_records_total)
[ "$rejected" = 0 ] || notes+=("$rejected acknowledged records refused by the restored database (radiusd's rejected.jsonl)")

# Where recovery ended: the last WAL record replayed and the last transaction in it
# (PostgreSQL's own log of the restored instance), against what had been archived.
log="$var/run/postgresql.log"
redo_lsn=$(sed -n 's/.*redo done at \([0-9A-F]*\/[0-9A-F]*\).*/\1/p' "$log" | tail -n 1)
last_commit=$(sed -n 's/.*last completed transaction was at log time \(.*\)$/\1/p' "$log" |
  tail -n 1)
seg_lsn=$(python3 -c '
import sys
s = sys.argv[1]
print(f"{int(s[8:16], 16):X}/{int(s[16:24], 16) * 0x1000000:X}" if len(s) == 24 else "0/0")' \
  "$archived_seg")
if [ -z "$redo_lsn" ]; then
  notes+=("no 'redo done' in PostgreSQL's log: no WAL replayed after the backup")
elif [ "$(pg_sql postgres -c "SELECT '$redo_lsn'::pg_lsn >= '$seg_lsn'::pg_lsn")" != t ]; then
  notes+=("recovery stopped at $redo_lsn, before the last archived segment $archived_seg")
fi
# The point recovered: the last transaction replayed or, with none replayed, the backup's
# end. RPO = the destruction's time less that point.
if [ -n "$last_commit" ]; then
  recovered_at=$(python3 -c '
import datetime, sys
print(datetime.datetime.fromisoformat(sys.argv[1].replace(" ", "T")).timestamp())' "$last_commit")
  recovered_what="the last transaction replayed ($last_commit)"
else
  recovered_at=$backup_stop
  recovered_what="the backup's end (no transaction replayed after it)"
fi
rpo_secs=$(since "$recovered_at" "$destroyed")
if awk -v r="$rpo_secs" -v b="$archive_timeout" 'BEGIN { exit !(r > b + 15) }'; then
  notes+=("RPO $rpo_secs s: more than archive_timeout ($archive_timeout s) + 15 s")
fi

# The missing requests dated by their place in the acked log: none may have been
# acknowledged before the point recovered.
if [ "${missing:-0}" != 0 ]; then
  awk '{ print NR "\t" $0 }' "$dir/acked.tsv" >"$dir/acked-numbered.tsv"
  pg_sql proisp -F ' ' -c "CREATE TEMP TABLE a (n bigint, sid text, username text,
      status text, step bigint, up bigint, down bigint)" \
    -c "\\copy a FROM '$dir/acked-numbered.tsv'" \
    -c "SELECT min(n), max(n) FROM a WHERE NOT EXISTS (
      SELECT 1 FROM (SELECT acct_session_id, username, upload_octets, download_octets,
          NULL::text AS closed_by FROM sessions
        UNION ALL SELECT acct_session_id, username, upload_octets, download_octets, closed_by
          FROM session_history) s (sid, username, up, down, closed_by)
      WHERE s.sid = a.sid AND s.username = a.username AND s.up >= a.up AND s.down >= a.down
        AND (a.status <> 'stop' OR s.closed_by IS NOT NULL))" >"$dir/missing-lines"
  read -r first_missing last_missing <"$dir/missing-lines"
  dating=$(python3 - "$dir/acked-timeline" "$first_missing" "$last_missing" "$recovered_at" \
    "$destroyed" <<'PY'
import sys
timeline = [tuple(map(float, l.split())) for l in open(sys.argv[1]) if len(l.split()) == 2]
first, last = int(sys.argv[2]), int(sys.argv[3])
recovered, destroyed = float(sys.argv[4]), float(sys.argv[5])
def written(n):  # the first sample that had line n: no earlier than its answer
    return next((t for t, count in timeline if count >= n), timeline[-1][0])
verdict = "early" if written(first) < recovered else "ok"
def when(t):
    return f"{abs(destroyed - t):.1f} s {'before' if t <= destroyed else 'after'} the destruction"
print(f"{verdict} missing: acked-log lines {first}..{last}, the first on file {when(written(first))}; "
      f"the point recovered {when(recovered)} (the log is written 64 KB at a time)")
PY
  )
  info+=("${dating#* }")
  [ "${dating%% *}" = ok ] || notes+=("a missing request was acknowledged before the point recovered")
fi

say "the restore test (pgbackrest/restore-check.sh) and verify (pgbackrest/verify.sh)"
dr_dirs "$var/scratch"
if restore_check=$(pg_as env STANZA=proisp RESTORE_DIR="$var/scratch" RESTORE_DB=proisp \
  RESTORE_USER=proisp PG_BIN="$(pg_bin)" "$root/pgbackrest/restore-check.sh" 2>"$dir/restore-check.err"); then
  info+=("$restore_check")
else
  notes+=("restore-check failed: $restore_check $(tail -n 3 "$dir/restore-check.err" | tr '\n' ' ')")
fi
pg_as "$root/pgbackrest/verify.sh" --stanza=proisp --log-level-console=warn >"$dir/verify.log" 2>&1 ||
  notes+=("pgbackrest verify failed (var/dr/stack/verify.log)")
# The check must be able to fail: a copy of the repository with one archived WAL segment
# damaged has to be reported.
rm -rf "$var/repo-damaged"
cp -a "$repo" "$var/repo-damaged"
damaged=$(find "$var/repo-damaged/archive" -name '0*.zst' | sort | head -n 1)
printf 'damage' | dd of="$damaged" bs=1 seek=100 conv=notrunc status=none
if PGBACKREST_REPO1_PATH="$var/repo-damaged" pg_as "$root/pgbackrest/verify.sh" \
  --stanza=proisp --log-level-console=warn >"$dir/verify-damaged.log" 2>&1; then
  notes+=("verify passed a repository with a damaged WAL segment")
else
  info+=("verify: the repository passes; a copy with one WAL segment damaged fails")
fi
rm -rf "$var/repo-damaged"

segments=$(find "$repo/archive" -name '0*.zst' | wc -l)
seg_kib=$(find "$repo/archive" -name '0*.zst' -printf '%s\n' |
  awk '{ s += $1 } END { printf "%.0f", NR ? s / NR / 1024 : 0 }')
info+=("backup: a cluster of $backup_mib MiB, $repo_mib MiB in the repository (zstd)")
info+=("mode $mode: $acct_rate accounting requests/s for $load_secs s, primary lost at $destroy_at s; drill $((SECONDS - drill_start)) s")
# WAL written into the segment after the last one archived: what was lost.
lost_kib=$(pg_sql postgres -c \
  "SELECT round((pg_wal_lsn_diff('$written_lsn', '$seg_lsn') - 16777216) / 1024)")
info+=("at the destruction: last archived segment $archived_seg, archived ${archived_age} s before; ${lost_kib} KiB of WAL written after it (to $written_lsn), lost")
info+=("recovery: redo done at ${redo_lsn:--}; recovered to $recovered_what: RPO ${rpo_secs} s (archive_timeout ${archive_timeout} s)")
info+=("PostgreSQL restored and taking writes ${pg_up} s after the destruction")
info+=("repository: $segments WAL segments archived, ${seg_kib} KiB each on average (zstd)")
info+=("check: $check")

verdict=PASS
[ ${#notes[@]} -eq 0 ] || verdict="FAIL: $(IFS=';'; echo "${notes[*]}" | sed 's/;/; /g')"
{
  printf 'dr-drill  backup=%ss  restore=%ss  rto=%ss  acked=%s  missing=%s  %s\n' \
    "$backup_secs" "$restore_secs" "$rto" "${acked:--}" "${missing:--}" "$verdict"
  printf '    %s\n' "${info[@]}"
} | tee "$var/results"
[ "$verdict" = PASS ]
