#!/usr/bin/env bash
# The fault suite of issue 13 (`make faults`; `make faults-short`, which `make test` runs)
# and the soak (`make soak`). Each scenario starts the real stack — private PostgreSQL and
# Redis under ./var/faults on free ports, a fresh database, proisp-radiusd and
# proisp-adminapi — puts it under proisp-loadtest load with a NAS's retransmissions
# (--retries 5 --timeout 2s), injects one fault mid-run, lifts it, waits for recovery and
# then holds PostgreSQL to what radiusd acknowledged. One line per scenario:
#
#   scenario  sent  answered  wrong  missing  twice  recovery  PASS/FAIL (why)
#
#   sent, answered  requests of every load run of the scenario (auth, suspended
#                   subscribers, accounting), first transmissions, and those with a
#                   verified reply
#   wrong           Access-Accepts for a wrong password or a suspended subscriber
#   missing         acknowledged accounting requests PostgreSQL does not reflect
#   twice           subscribers whose usage exceeds their sessions' final counters
#   recovery        seconds from the fault's end until /health is 200, the spool is
#                   empty, the change feed and the Redis subscription are up
#
# See bench/RELIABILITY.md for what each scenario does, what it must show, and figures.
#
# Usage: scripts/faults.sh [--short] [SCENARIO...]     (all scenarios by default)
#        scripts/faults.sh --soak                       (SOAK_SECONDS, default 600)
# Environment: FAULTS=short (as --short), PROFILE=debug|release (debug), AUTH_RATE (200),
# ACCT_RATE (200), SOAK_SECONDS (600), SOAK_WARMUP (120), SOAK_AUTH_RATE (2000),
# SOAK_ACCT_RATE (200), KEEP=1 (keep the databases and var/faults/<scenario>).
# Exit status: 0 when every scenario passed, 1 otherwise.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
var="$root/var/faults"
. "$root/scripts/lib-stack.sh"

all_scenarios=(redis-killed redis-frozen pg-stopped pg-frozen pg-table-locked both-down
  radiusd-kill9-full-spool journal-kill9 spool-disk-full garbage-flood)

mode=${FAULTS:-full}
soak=0
scenarios=()
for arg in "$@"; do
  case $arg in
    --short) mode=short ;;
    --soak) soak=1 ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    -*) echo "unknown option $arg" >&2; exit 2 ;;
    *)
      [[ " ${all_scenarios[*]} " == *" $arg "* ]] || {
        echo "unknown scenario $arg (one of: ${all_scenarios[*]})" >&2
        exit 2
      }
      scenarios+=("$arg")
      ;;
  esac
done
[ ${#scenarios[@]} -gt 0 ] || scenarios=("${all_scenarios[@]}")

secret=testing123
# Subscribers user000001 … : who does what. Apart, so that accounting's open sessions never
# meet the simultaneous-use check of the auth load.
subscribers=2000
auth_first=1 auth_users=1000       # logins, one in ten with a wrong password
susp_first=1001 susp_users=10      # suspended before the load: never to be accepted
late_first=1011 late_users=10      # suspended while the fault is on (when the API can)
acct_first=1101 acct_users=400     # accounting sessions
auth_rate=${AUTH_RATE:-200}
acct_rate=${ACCT_RATE:-200}
# Simulated seconds between a session's updates = the real spacing (users / rate), so a
# session's start time reads the same from its Start and from its updates.
interim_interval=$(((acct_users + acct_rate - 1) / acct_rate))
nas_retries=(--retries 5 --timeout 2s)
recover_limit=60
case $mode in
  short) hold=4 tail=3 ;;
  full) hold=12 tail=8 ;;
  *) echo "FAULTS must be short or full" >&2; exit 2 ;;
esac
# A PostgreSQL hang must outlast the duplicate window (5 s) plus a NAS timeout to show a
# retransmission evaluated again: at least 10 s in either mode.
slow_hold=$((hold > 10 ? hold : 10))
profile=${PROFILE:-debug}
bin="$root/target/$profile"

# What cleanup must undo lives in files, so that it is found whichever shell started it
# (each scenario runs in a subshell of its own): processes started (pid and start time),
# processes stopped with SIGSTOP, the tmpfs mounted.
pids_file="$var/pids"
frozen_file="$var/frozen.pids"
mount_file="$var/mounted"
radiusd_pid="" adminapi_pid="" late_job=""

now() { echo "$EPOCHREALTIME"; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

# The sum of every series of metric $1 on radiusd's metrics port (0 if it does not answer).
metric() {
  { curl -sf --max-time 2 "http://127.0.0.1:$metrics_port/metrics" 2>/dev/null || true; } |
    awk -v name="$1" '$1 !~ /^#/ { n = $1; sub(/\{.*/, "", n); if (n == name) s += $NF }
      END { printf "%d\n", s }'
}
metric_at_least() { [ "$(metric "$1")" -ge "$2" ]; }
# The value of one series, labels and all: `radius_dropped_packets_total{reason="x"}`.
metric_labelled() {
  { curl -sf --max-time 2 "http://127.0.0.1:$metrics_port/metrics" 2>/dev/null || true; } |
    awk -v s="$1" '$1 == s { v = $NF } END { printf "%d\n", v }'
}

# When process $1 started (clock ticks since boot): with the pid, it names one process
# across exec and is never given to another.
started_at() { awk '{ sub(/.*\) /, ""); print $20 }' "/proc/$1/stat" 2>/dev/null; }

remember() { # PID: a process of ours, for cleanup
  printf '%s %s\n' "$1" "$(started_at "$1")" >>"$pids_file"
}

# SIGTERM (then SIGKILL after 5 s) to every process remembered that is still the one that
# was remembered.
kill_remembered() {
  [ -s "$pids_file" ] || return 0
  local pid start alive=()
  while read -r pid start; do
    [ -n "$start" ] && [ "$(started_at "$pid")" = "$start" ] && alive+=("$pid")
  done <"$pids_file"
  : >"$pids_file"
  [ ${#alive[@]} -gt 0 ] || return 0
  kill -TERM "${alive[@]}" 2>/dev/null || true
  local deadline=$((SECONDS + 5)) p
  for p in "${alive[@]}"; do
    while [ "$SECONDS" -lt "$deadline" ] && kill -0 "$p" 2>/dev/null; do sleep 0.1; done
  done
  kill -KILL "${alive[@]}" 2>/dev/null || true
}

# The load runs' reports summed: "sent answered wrong-accepts", then a line per run with
# replies that failed verification, then "timeouts N" of the first report (the logins).
load_totals() {
  python3 - "$@" <<'PY'
import json, os, sys
sent = answered = wrong = 0
reports = {}
for path in sys.argv[1:]:
    if os.path.exists(path) and os.path.getsize(path):
        r = reports[os.path.basename(path)[:-5]] = json.load(open(path))
        sent, answered, wrong = sent + r["sent"], answered + r["answered"], wrong + r["wrong_accepts"]
print(sent, answered, wrong)
for name, r in reports.items():
    if r["bad_replies"]:
        why = ", ".join(f"{k} {v}" for k, v in r["bad"].items() if v)
        print(f"{name}: {r['bad_replies']} replies failed verification ({why})")
print("timeouts", next(iter(reports.values()), {}).get("timeouts", 0))
PY
}

# Runs in the background, remembered for cleanup; the pid is in $last_pid.
spawn() {
  "$@" &
  last_pid=$!
  remember "$last_pid"
}

# Waits for background process $1 up to $2 seconds (then kills it); its exit status.
reap() {
  [ -n "$1" ] || return 0
  local pid=$1 deadline=$((SECONDS + $2)) rc=0
  while kill -0 "$pid" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.1; done
  if kill -0 "$pid" 2>/dev/null; then
    echo "process $pid still running after $2 s: killing it" >&2
    kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || rc=$?
  return "$rc"
}

# Process $1 and, when it is PostgreSQL's postmaster, all its children.
cluster_pids() {
  local pid=$1 d
  echo "$pid"
  for d in /proc/[0-9]*; do
    [ "$(awk '{ print $4 }' "$d/stat" 2>/dev/null)" = "$pid" ] && echo "${d#/proc/}"
  done
  return 0
}
postmaster_pid() { head -n 1 "$var/pg/postmaster.pid"; }
redis_pid() { cat "$var/redis.pid"; }

freeze() { # PIDS...: SIGSTOP, remembered so that cleanup thaws them whatever happens
  printf '%s\n' "$@" >>"$frozen_file"
  kill -STOP "$@"
}
thaw() {
  [ -s "$frozen_file" ] || return 0
  # Children first, the postmaster (first in the file) last.
  tac "$frozen_file" | xargs -r kill -CONT 2>/dev/null || true
  rm -f "$frozen_file"
}

gone() { ! kill -0 "$1" 2>/dev/null; }
kill_redis() {
  local pid; pid=$(redis_pid)
  kill -KILL "$pid"
  wait_for 10 "Redis to die" gone "$pid"
}
restart_redis() {
  start_redis >/dev/null
  wait_for 10 "Redis to answer" redis-cli -p "$redis_port" ping
}

write_config() {
  cat >"$dir/radiusd.toml" <<TOML
# proisp-radiusd for the fault suite (scripts/faults.sh), scenario $name.
key_file = "$var/secret.key"

[listen]
auth = "127.0.0.1:$auth_port"
acct = "127.0.0.1:$acct_port"
metrics = "127.0.0.1:$metrics_port"

[database]
url = "$PROISP_DATABASE_URL"

[redis]
url = "$PROISP_REDIS_URL"

[accounting]
spool_dir = "$spool"
acknowledge = "$([ "$name" = journal-kill9 ] && echo journal || echo commit)"

[log]
level = "info"
TOML
}

start_radiusd() {
  "$bin/proisp-radiusd" --config "$dir/radiusd.toml" >>"$dir/radiusd.log" 2>&1 &
  radiusd_pid=$!
  remember "$radiusd_pid"
  local deadline=$((SECONDS + 30))
  until curl -sf --max-time 1 "http://127.0.0.1:$metrics_port/health" >/dev/null 2>&1; do
    if ! kill -0 "$radiusd_pid" 2>/dev/null; then
      echo "proisp-radiusd exited; its log:" >&2
      tail -n 20 "$dir/radiusd.log" >&2
      return 1
    fi
    [ "$SECONDS" -lt "$deadline" ] || { echo "proisp-radiusd not healthy in 30 s" >&2; return 1; }
    sleep 0.1
  done
}

stop_process() { # PID: SIGTERM, up to 10 s, then SIGKILL
  [ -n "$1" ] || return 0
  kill -TERM "$1" 2>/dev/null || return 0
  reap "$1" 10 || true
}

start_adminapi() {
  PROISP_HTTP__LISTEN="127.0.0.1:$api_port" PROISP_TOKENS__JWT_KEY_FILE="$var/jwt.key" \
    PROISP_RATE_LIMIT__REQUESTS_PER_MINUTE=0 \
    "$bin/proisp-adminapi" serve >>"$dir/adminapi.log" 2>&1 &
  adminapi_pid=$!
  remember "$adminapi_pid"
  wait_for 30 "proisp-adminapi /health" curl -sf --max-time 1 "http://127.0.0.1:$api_port/health"
}

api_login() {
  curl -sf --max-time 5 "http://127.0.0.1:$api_port/api/v1/auth/login" \
    -H 'Content-Type: application/json' \
    -d "{\"username\": \"faults\", \"password\": \"$admin_password\"}" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["access_token"])'
}

# Suspends subscriber number $1 through the admin API (as staff would); status 0 when the
# API said it is done.
api_suspend() {
  local id
  id=$(awk -v u="$(printf 'user%06d' "$1")" '$1 == u { print $2 }' "$dir/ids")
  curl -sf --max-time 20 -o /dev/null -X POST -H "Authorization: Bearer $token" \
    "http://127.0.0.1:$api_port/api/v1/subscribers/$id/suspend"
}

# Whether the stack is whole again: /health 200, nothing spooled, the change feed and the
# Redis invalidation channel up.
recovered() {
  curl -sf --max-time 1 "http://127.0.0.1:$metrics_port/health" >/dev/null 2>&1 || return 1
  curl -sf --max-time 2 "http://127.0.0.1:$metrics_port/metrics" 2>/dev/null | awk '
    $1 ~ /^radius_acct_spooled_records/ { spooled += $NF }
    $1 == "radius_change_feed_up" { feed = $NF }
    $1 == "radius_invalidation_connected" { redis = $NF }
    END { exit !(spooled == 0 && feed == 1 && redis == 1) }'
}

# A fresh database, seeded; radiusd and adminapi on it; caches warm; some subscribers
# suspended.
setup_scenario() {
  dir="$var/$name"
  db="faults_${name//-/_}"
  rm -rf "$dir"
  mkdir -p "$dir"
  spool="$dir/spool"
  pg_sql postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "CREATE DATABASE $db"
  redis-cli -p "$redis_port" flushall >/dev/null
  export PROISP_DATABASE_URL="postgres://proisp@127.0.0.1:$pg_port/$db"
  export PROISP_REDIS_URL="redis://127.0.0.1:$redis_port"
  export PROISP_KEY_FILE="$var/secret.key"
  "$bin/proisp-adminapi" migrate >"$dir/setup.log" 2>&1
  "$bin/proisp-adminapi" seed --subscribers "$subscribers" --nas 127.0.0.1 --secret "$secret" \
    >>"$dir/setup.log" 2>&1
  "$bin/proisp-adminapi" create-admin --username faults --role admin <<<"$admin_password" \
    >>"$dir/setup.log" 2>&1
  pg_sql "$db" -F ' ' -c "SELECT username, id FROM subscribers" >"$dir/ids"
  if [ "$name" = spool-disk-full ]; then
    mkdir -p "$spool"
    mount -t tmpfs -o size=4m proisp-faults "$spool"
    echo "$spool" >"$mount_file"
  fi
  write_config
  start_radiusd
  start_adminapi
  token=$(api_login)
  local i
  for ((i = susp_first; i < susp_first + susp_users; i++)); do api_suspend "$i"; done
  # Warm: every subscriber of the auth load, the suspended ones and the late ones looked
  # up once, as a running system has them.
  local lt="$bin/proisp-loadtest" target=(-s "127.0.0.1:$auth_port" --secret "$secret" -q)
  spawn "$lt" auth "${target[@]}" --users "$auth_users" --first-user "$auth_first" \
    -n "$auth_users" -c 64 --json >"$dir/warm-auth.json"
  local a=$last_pid
  spawn "$lt" auth "${target[@]}" --users "$late_users" --first-user "$late_first" \
    -n "$late_users" -c "$late_users" --json >"$dir/warm-late.json"
  local b=$last_pid
  spawn "$lt" auth "${target[@]}" --users "$susp_users" --first-user "$susp_first" \
    -n "$susp_users" -c "$susp_users" --expect-reject --json >"$dir/warm-suspended.json"
  local c=$last_pid
  reap "$a" 30 && reap "$b" 30 && reap "$c" 30
}

# The load: logins (10 % wrong passwords), suspended subscribers' logins, accounting
# sessions (with the acked log), all with a NAS's retransmissions, for $1 seconds.
start_load() {
  local d=$1 lt="$bin/proisp-loadtest"
  load_end=$((SECONDS + d))
  local common=(--secret "$secret" -d "${d}s" "${nas_retries[@]}" --json -q)
  spawn "$lt" auth -s "127.0.0.1:$auth_port" "${common[@]}" --users "$auth_users" \
    --first-user "$auth_first" -r "$auth_rate" --wrong-password-percent 10 >"$dir/auth.json" \
    2>"$dir/auth.err"
  auth_load=$last_pid
  spawn "$lt" auth -s "127.0.0.1:$auth_port" "${common[@]}" --users "$susp_users" \
    --first-user "$susp_first" -r 10 --expect-reject >"$dir/suspended.json" 2>"$dir/suspended.err"
  susp_load=$last_pid
  spawn "$lt" acct -s "127.0.0.1:$acct_port" "${common[@]}" --users "$acct_users" \
    --first-user "$acct_first" -r "$acct_rate" --interims 3 \
    --interim-interval "$interim_interval" --acked-log "$dir/acked.tsv" >"$dir/acct.json" \
    2>"$dir/acct.err"
  acct_load=$last_pid
}

# While the fault is on: suspends the late subscribers through the API (in the background:
# a locked table holds the API too); those it suspended must never be accepted once the
# API has answered and the second the contract allows has passed, so a login run expecting
# rejects follows them until the load ends.
suspend_late() {
  (
    set +e
    local i ok=0
    : >"$dir/late.txt"
    for ((i = late_first; i < late_first + late_users; i++)); do
      if api_suspend "$i"; then
        printf 'user%06d pw%06d\n' "$i" "$i" >>"$dir/late.txt"
        ok=$((ok + 1))
      fi
    done
    echo "$ok" >"$dir/late.count"
    [ "$ok" -gt 0 ] || exit 0
    sleep 1
    local left=$((load_end - SECONDS))
    [ "$left" -ge 2 ] || left=2
    exec "$bin/proisp-loadtest" auth -s "127.0.0.1:$auth_port" --secret "$secret" \
      --users-file "$dir/late.txt" -r 10 -d "${left}s" "${nas_retries[@]}" --expect-reject \
      --json -q >"$dir/late.json" 2>"$dir/late.err"
  ) &
  late_job=$!
  remember "$late_job"
}

# Counters of radiusd's answers, for "answered while the fault was on".
mark_fault_start() {
  fault_start=$(now)
  acct0=$(metric radius_acct_requests_total)
  auth0=$(metric radius_auth_requests_total)
  drop0=$(metric radius_dropped_packets_total)
  notdurable0=$(metric_labelled 'radius_dropped_packets_total{reason="not_durable"}')
  log0=$(wc -l <"$dir/radiusd.log")
}
mark_fault_end() {
  acct_during=$(($(metric radius_acct_requests_total) - acct0))
  auth_during=$(($(metric radius_auth_requests_total) - auth0))
  drop_during=$(($(metric radius_dropped_packets_total) - drop0))
  notdurable_during=$(($(metric_labelled 'radius_dropped_packets_total{reason="not_durable"}') - notdurable0))
  fault_secs=$(since "$fault_start")
  fault_end=$(now)
}

# Injects the scenario's fault once the accounting load is flowing, holds it, lifts it.
# Sets what the checks below read.
run_fault() {
  wait_for 20 "the accounting load to flow" metric_at_least radius_acct_requests_total "$acct_rate"
  expect_acct=1 expect_auth=1 notes=()
  case $name in
    redis-killed)
      kill_redis
      mark_fault_start
      suspend_late
      sleep "$hold"
      mark_fault_end
      restart_redis
      ;;
    redis-frozen)
      freeze "$(redis_pid)"
      mark_fault_start
      suspend_late
      sleep "$hold"
      mark_fault_end
      thaw
      ;;
    pg-stopped)
      stop_postgres >/dev/null
      mark_fault_start
      suspend_late
      sleep "$hold"
      mark_fault_end
      start_postgres >/dev/null
      ;;
    pg-frozen)
      local pm; pm=$(postmaster_pid)
      # shellcheck disable=SC2046
      freeze $(cluster_pids "$pm")
      mark_fault_start
      suspend_late
      sleep "$slow_hold"
      mark_fault_end
      thaw
      ;;
    pg-table-locked)
      # Held by a session of its own until ended from outside, so that the answers that
      # pour out the moment it ends are not counted as answered while it held.
      PGAPPNAME=faults-locker spawn pg_sql "$db" -c "BEGIN" \
        -c "LOCK TABLE subscribers IN ACCESS EXCLUSIVE MODE" \
        -c "SELECT pg_sleep($slow_hold + 60)" -c "COMMIT" 2>"$dir/locker.log"
      local locker=$last_pid
      wait_for 10 "the table lock" lock_held
      mark_fault_start
      suspend_late
      sleep "$slow_hold"
      mark_fault_end
      pg_sql "$db" -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
        WHERE application_name = 'faults-locker'" >/dev/null
      reap "$locker" 10 2>/dev/null || true
      ;;
    both-down)
      kill_redis
      stop_postgres >/dev/null
      mark_fault_start
      expect_auth=0
      suspend_late
      sleep "$hold"
      mark_fault_end
      start_postgres >/dev/null
      restart_redis
      ;;
    radiusd-kill9-full-spool)
      stop_postgres >/dev/null
      wait_for 20 "records in the spool" metric_at_least radius_acct_spooled_records "$acct_rate"
      local spooled; spooled=$(metric radius_acct_spooled_records)
      kill -KILL "$radiusd_pid"
      reap "$radiusd_pid" 10 || true
      if ! start_radiusd; then
        notes+=("radiusd did not start while PostgreSQL was down")
        start_postgres >/dev/null
        start_radiusd
      fi
      notes_info+=("spooled at the kill $spooled, after the restart $(metric radius_acct_spooled_records)")
      mark_fault_start
      suspend_late
      sleep "$hold"
      mark_fault_end
      start_postgres >/dev/null
      ;;
    journal-kill9)
      # acknowledge = "journal" (write_config): answered once in the journal, applied
      # behind the answers. Killed with whatever it holds, started again, it replays.
      local journaled; journaled=$(metric radius_acct_spooled_records)
      kill -KILL "$radiusd_pid"
      reap "$radiusd_pid" 10 || true
      start_radiusd
      notes_info+=("in the journal at the kill $journaled")
      mark_fault_start
      suspend_late
      sleep "$hold"
      mark_fault_end
      ;;
    spool-disk-full)
      expect_acct=0
      stop_postgres >/dev/null
      wait_for 20 "records in the spool" metric_at_least radius_acct_spooled_records "$acct_rate"
      dd if=/dev/zero of="$spool/filler" bs=64k status=none 2>/dev/null || true
      mark_fault_start
      suspend_late
      sleep "$hold"
      mark_fault_end
      rm -f "$spool/filler"
      start_postgres >/dev/null
      local lines
      lines=$(tail -n +"$((log0 + 1))" "$dir/radiusd.log" | grep -c 'cannot spool' || true)
      notes_info+=("refused while full: $notdurable_during, 'cannot spool' log lines: $lines in ${fault_secs} s")
      [ "$notdurable_during" -gt 0 ] || notes+=("the full disk refused nothing: fault not injected")
      if awk -v n="$lines" -v s="$fault_secs" 'BEGIN { exit !(n > 10 * s) }'; then
        notes+=("spool error log not rate-limited ($lines lines in ${fault_secs} s)")
      fi
      ;;
    garbage-flood)
      expect_acct=0
      mark_fault_start
      local kernel0; kernel0=$(udp_drops)
      timeout 120 python3 "$root/scripts/faults-flood.py" "$auth_port" "$acct_port" 100000 \
        >"$dir/flood.out" || notes+=("the flood generator failed")
      mark_fault_end
      local kernel=$(($(udp_drops) - kernel0))
      notes_info+=("flood: counted by radiusd $drop_during, dropped by the kernel $kernel")
      [ $((drop_during + kernel)) -ge 100000 ] || notes+=("only $((drop_during + kernel)) of 100000 garbage datagrams counted or dropped")
      [ "$drop_during" -gt 0 ] || notes+=("radius_dropped_packets_total did not move")
      ;;
  esac
  notes_info+=("during the fault (${fault_secs} s): acct answered $acct_during, auth answered $auth_during")
  if [ "$expect_acct" = 1 ] && [ "$acct_during" -le 0 ]; then
    notes+=("no Accounting-Response while the fault was on")
  fi
  if [ "$expect_auth" = 1 ] && [ "$auth_during" -le 0 ]; then
    notes+=("no Access-Request answered while the fault was on")
  fi
  return 0
}

lock_held() {
  [ "$(pg_sql "$db" -c "SELECT count(*) > 0 FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
    WHERE c.relname = 'subscribers' AND l.mode = 'AccessExclusiveLock' AND l.granted")" = t ]
}

# Receive-queue drops of radiusd's sockets on the two RADIUS ports (/proc/net/udp).
udp_drops() {
  awk -v a="$(printf '%04X' "$auth_port")" -v b="$(printf '%04X' "$acct_port")" '
    NR > 1 { split($2, l, ":"); if (l[2] == a || l[2] == b) d += $NF } END { printf "%d\n", d }' \
    /proc/net/udp
}

# The scenario's verdict: one line on stdout and in $var/results.
finish_scenario() {
  local rec=$1 sent answered wrong timeouts totals line
  totals=$(load_totals "$dir"/{auth,suspended,acct,late}.json)
  read -r sent answered wrong <<<"$(head -n 1 <<<"$totals")"
  timeouts=$(sed -n 's/^timeouts //p' <<<"$totals")
  while read -r line; do notes+=("$line"); done < <(sed '1d; /^timeouts /d' <<<"$totals")
  [ "$wrong" = 0 ] || notes+=("$wrong wrong Accepts")
  kill -0 "$radiusd_pid" 2>/dev/null || notes+=("proisp-radiusd died")
  local check missing twice under replaced open
  check=$(pg_sql "$db" -f "$root/scripts/faults-check.sql" <"$dir/acked.tsv")
  echo "$check" >"$dir/check.txt"
  missing=$(sed -n 's/.*missing=\([0-9]*\).*/\1/p' <<<"$check")
  twice=$(sed -n 's/.*twice=\([0-9]*\).*/\1/p' <<<"$check")
  under=$(sed -n 's/.*under=\([0-9]*\).*/\1/p' <<<"$check")
  replaced=$(sed -n 's/.*replaced=\([0-9]*\).*/\1/p' <<<"$check")
  open=$(sed -n 's/.*open=\([0-9]*\).*/\1/p' <<<"$check")
  [ "$missing" = 0 ] || notes+=("$missing acknowledged accounting requests missing")
  [ "$twice" = 0 ] || notes+=("$twice subscribers' usage counted twice")
  [ "$under" = 0 ] || notes+=("$under subscribers' usage short of their sessions")
  [ "$open" = 0 ] || notes+=("$open sessions still open after their Stop was acknowledged")
  [ "$replaced" = 0 ] || notes+=("$replaced sessions closed as replaced (a Start for an open session taken for a new one)")
  if [ "$name" = garbage-flood ] && [ "$timeouts" != 0 ]; then
    notes+=("$timeouts real logins unanswered during the flood")
  fi
  local late="-"
  [ -s "$dir/late.count" ] && late=$(cat "$dir/late.count")
  notes_info+=("suspended during the fault: $late of $late_users; $check")
  local verdict=PASS
  [ ${#notes[@]} -eq 0 ] || verdict="FAIL: $(IFS=';'; echo "${notes[*]}" | sed 's/;/; /g')"
  line=$(printf '%-25s %7s %8s %5s %7s %5s %8s  %s' "$name" "$sent" "$answered" "$wrong" \
    "$missing" "$twice" "$rec" "$verdict")
  echo "$line" | tee -a "$var/results"
  { echo "$name"; printf '    %s\n' "${notes_info[@]}"; } | tee -a "$var/details" >"$dir/details.txt"
  [ "$verdict" = PASS ]
}

run_scenario() {
  name=$1
  notes=() notes_info=()
  say "scenario $name"
  if [ "$name" = spool-disk-full ] && [ "$(id -u)" != 0 ]; then
    printf '%-25s %s\n' "$name" "SKIPPED: mounting the small tmpfs for the spool needs root" |
      tee -a "$var/results"
    return 0
  fi
  setup_scenario
  local hold_here=$hold
  case $name in pg-frozen | pg-table-locked) hold_here=$slow_hold ;; esac
  # Until the fault: about a second (2 s allowed); the fault; then the tail, load still on.
  start_load $((2 + hold_here + tail))
  run_fault
  local rec_start; rec_start=$(now)
  local rec
  if wait_for "$recover_limit" "recovery" recovered; then
    rec=$(since "$rec_start")
  else
    rec=">$recover_limit"
    notes+=("not recovered within $recover_limit s")
  fi
  local pid
  for pid in "$auth_load" "$susp_load" "$acct_load" "$late_job"; do
    reap "$pid" $((load_end - SECONDS + 30)) || true
  done
  # Everything acknowledged is durable; once the spool is empty it is all in PostgreSQL.
  wait_for 60 "the spool to drain" recovered || notes+=("spool not drained after the load")
  local ok=0
  finish_scenario "$rec" || ok=1
  if [ "${KEEP:-0}" != 1 ] && [ "$ok" = 0 ]; then
    stop_process "$adminapi_pid"
    stop_process "$radiusd_pid"
    pg_sql postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)"
  fi
  return "$ok"
}

# Undoes what a scenario did, whatever state it ended in: thaws what it froze, stops what
# it started, unmounts its tmpfs, and brings PostgreSQL and Redis back for the next one.
scenario_cleanup() {
  set +e
  thaw
  kill_remembered
  if [ -s "$mount_file" ]; then
    umount "$(cat "$mount_file")" 2>/dev/null || umount -l "$(cat "$mount_file")"
    rm -f "$mount_file"
  fi
  pg_as "$(pg_bin)/pg_ctl" -D "$var/pg" status >/dev/null 2>&1 || start_postgres >/dev/null
  redis-cli -p "$redis_port" ping >/dev/null 2>&1 || restart_redis
}

# What process $1's open descriptors are: connections to PostgreSQL and to Redis, other
# TCP and UDP sockets, files, and the rest (epoll, eventfd, pipes).
fd_kinds() {
  python3 - "$1" "$pg_port" "$redis_port" <<'PY'
import os, sys
pid, pg, redis = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
remote = {}
for table in ("tcp", "tcp6"):
    for line in open(f"/proc/net/{table}").readlines()[1:]:
        f = line.split()
        remote[f[9]] = int(f[2].split(":")[1], 16)
udp = {line.split()[9] for t in ("udp", "udp6") for line in open(f"/proc/net/{t}").readlines()[1:]}
kinds = dict.fromkeys(["postgres", "redis", "tcp", "udp", "files", "other"], 0)
for fd in os.listdir(f"/proc/{pid}/fd"):
    try:
        target = os.readlink(f"/proc/{pid}/fd/{fd}")
    except OSError:
        continue
    if target.startswith("socket:["):
        inode = target[8:-1]
        port = remote.get(inode)
        kind = ("postgres" if port == pg else "redis" if port == redis else "tcp") \
            if port is not None else "udp" if inode in udp else "other"
    else:
        kind = "files" if target.startswith("/") else "other"
    kinds[kind] += 1
print(" ".join(f"{k} {v}" for k, v in kinds.items()))
PY
}

# The soak (`make soak`): SOAK_SECONDS of logins, accounting and admin API reads against
# one stack, RSS and open descriptors of radiusd and adminapi sampled every 10 s into
# var/faults/soak.csv, then the growth after SOAK_WARMUP and the accounting check.
run_soak() {
  name=soak
  local seconds=${SOAK_SECONDS:-600} warmup=${SOAK_WARMUP:-120}
  local auth_rate=${SOAK_AUTH_RATE:-2000} acct_rate=${SOAK_ACCT_RATE:-200}
  notes=() notes_info=()
  setup_scenario
  local csv="$var/soak.csv"
  say "soak: $seconds s, $auth_rate logins/s, $acct_rate accounting requests/s, admin API reads"
  start_load "$seconds"
  # Admin API traffic: the lists and the dashboard staff keep open, a few requests a second.
  (
    set +e
    local end=$((SECONDS + seconds)) next_login=0 n=0
    while [ "$SECONDS" -lt "$end" ]; do
      if [ "$SECONDS" -ge "$next_login" ]; then
        token=$(api_login) && next_login=$((SECONDS + 300))
      fi
      for path in "subscribers?limit=50&offset=$(((n * 50) % 1000))" "sessions?limit=50" \
        dashboard "subscribers?search=user0011"; do
        curl -s --max-time 5 -o /dev/null -H "Authorization: Bearer $token" \
          "http://127.0.0.1:$api_port/api/v1/$path"
      done
      n=$((n + 1))
      sleep 0.5
    done
  ) &
  local api_load=$!
  remember "$api_load"
  echo "seconds,radiusd_rss_kib,radiusd_fds,adminapi_rss_kib,adminapi_fds" >"$csv"
  local start=$SECONDS t warm_fds=""
  while :; do
    t=$((SECONDS - start))
    if ! kill -0 "$radiusd_pid" 2>/dev/null || ! kill -0 "$adminapi_pid" 2>/dev/null; then
      notes+=("a server died at $t s (see var/faults/soak/*.log)")
      tail -n 30 "$dir/radiusd.log" "$dir/adminapi.log" >&2
      break
    fi
    printf '%s,%s,%s,%s,%s\n' "$t" \
      "$(awk '/^VmRSS/ { print $2 }' "/proc/$radiusd_pid/status")" \
      "$(find "/proc/$radiusd_pid/fd" -mindepth 1 | wc -l)" \
      "$(awk '/^VmRSS/ { print $2 }' "/proc/$adminapi_pid/status")" \
      "$(find "/proc/$adminapi_pid/fd" -mindepth 1 | wc -l)" >>"$csv"
    if [ -z "$warm_fds" ] && [ "$t" -ge "$warmup" ]; then
      warm_fds="radiusd descriptors at $t s: $(fd_kinds "$radiusd_pid")"
    fi
    [ "$t" -lt "$seconds" ] || break
    sleep 10
  done
  # radiusd's large allocations (each its own mapping): the duplicate caches' tables and
  # reply rings, with how much of each is resident.
  awk '/^[0-9a-f]+-[0-9a-f]+ / { range = $1 } /^Size:/ { size = $2 }
    /^Rss:/ && size >= 8192 { printf "%s size %d KiB rss %d KiB\n", range, size, $2 }' \
    "/proc/$radiusd_pid/smaps" >"$var/soak-smaps.txt" 2>/dev/null || true
  local pid
  for pid in "$auth_load" "$susp_load" "$acct_load" "$api_load"; do reap "$pid" 60 || true; done
  wait_for 60 "the spool to drain" recovered || notes+=("spool not drained after the load")
  # Growth after the warm-up, and when RSS came within 2 % of its final value.
  python3 - "$csv" "$warmup" <<'PY' | tee "$var/soak.txt"
import csv, sys
rows = [{k: int(v) for k, v in r.items()} for r in csv.DictReader(open(sys.argv[1]))]
warm = int(sys.argv[2])
base = next((r for r in rows if r["seconds"] >= warm), rows[-1])
last = rows[-1]
minutes = max(last["seconds"] - base["seconds"], 1) / 60
for p in ("radiusd", "adminapi"):
    rss, fds = p + "_rss_kib", p + "_fds"
    level = next(r["seconds"] for r in rows if r[rss] >= 0.98 * last[rss])
    print(f"{p:9} RSS {rows[0][rss] / 1024:6.1f} MiB at start, {base[rss] / 1024:6.1f} after "
          f"{base['seconds']} s warm-up, {last[rss] / 1024:6.1f} at {last['seconds']} s: "
          f"{(last[rss] - base[rss]) / 1024:+.1f} MiB ({(last[rss] - base[rss]) / 1024 / minutes:+.2f} "
          f"MiB/min) after warm-up, within 2 % of the last value from {level} s; "
          f"open fds {base[fds]} -> {last[fds]} (max {max(r[fds] for r in rows)})")
PY
  {
    echo "$warm_fds"
    echo "radiusd descriptors at the end: $(fd_kinds "$radiusd_pid")"
  } | tee -a "$var/soak.txt"
  finish_scenario "-"
}

cleanup() {
  trap '' INT TERM
  trap - EXIT
  set +e
  scenario_cleanup >/dev/null 2>&1
  stop_redis >/dev/null
  stop_postgres >/dev/null
}

"$root/scripts/deps.sh"
mkdir -p "$var"
rm -f "$var/results" "$var/details" "$frozen_file" "$pids_file" "$mount_file"
pg_port=$(free_port) redis_port=$(free_port) auth_port=$(free_port) acct_port=$(free_port)
metrics_port=$(free_port) api_port=$(free_port)
trap cleanup EXIT INT TERM
say "building ($profile)"
if [ "$profile" = release ]; then
  cargo build --release --quiet -p proisp-radiusd -p proisp-adminapi -p proisp-loadtest
else
  debug_build
fi
start_postgres >/dev/null
start_redis >/dev/null
wait_for 10 "Redis to answer" redis-cli -p "$redis_port" ping
[ -s "$var/secret.key" ] || "$bin/proisp-adminapi" gen-key >"$var/secret.key"
[ -s "$var/jwt.key" ] || "$bin/proisp-adminapi" gen-key >"$var/jwt.key"
chmod 600 "$var/secret.key" "$var/jwt.key"
admin_password=$(head -c 18 /dev/urandom | base64 | tr '+/' '-_')

if [ "$soak" = 1 ]; then
  run_soak
  exit
fi

say "fault suite ($mode): ${scenarios[*]}"
header=$(printf '%-25s %7s %8s %5s %7s %5s %8s  %s' scenario sent answered wrong missing twice \
  recovery result)
echo "$header" | tee "$var/results"
failed=0
started=$SECONDS
for s in "${scenarios[@]}"; do
  # A subshell per scenario, with errexit on inside: a step that fails ends the scenario
  # (FAIL, its state undone), not the suite.
  set +e
  (
    set -e
    trap scenario_cleanup EXIT
    run_scenario "$s"
  )
  rc=$?
  set -e
  if [ "$rc" != 0 ]; then
    failed=1
    grep -q "^$s " "$var/results" ||
      printf '%-25s %s\n' "$s" "FAIL: the harness stopped (status $rc); see var/faults/$s" |
      tee -a "$var/results"
  fi
done
echo
say "fault suite ($mode) done in $((SECONDS - started)) s; details in var/faults/details"
cat "$var/results"
exit "$failed"
