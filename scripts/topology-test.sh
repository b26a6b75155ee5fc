#!/usr/bin/env bash
# The failover tests of the high-availability topology (`make topology-test`; `make
# topology-short`, TOPOLOGY=short, is part of `make test` and stays under ~3 minutes).
# Starts the topology of scripts/topology.sh (scripts/lib-topology.sh), then kills each
# piece in turn under load and measures what the rest does. One line per scenario, its
# figures and PASS or FAIL; exit status 1 if any failed.
#
#   radsec-via-haproxy   logins over RadSec through HAProxy's TCP frontend: all answered
#   change-propagation   a subscriber suspended through HAProxy's API endpoint: ms from the
#                        API's answer until each radiusd rejects them (< 1000)
#   radiusd-killed       logins to radiusd a, retried on radiusd b (the NAS lists both:
#                        proisp-loadtest --fallback), kill -9 of a mid-load: 0 wrong answers,
#                        0 unanswered, answered by b
#   adminapi-killed      API reads through HAProxy, kill -9 of one adminapi: errors while
#                        HAProxy detects it (reported), none once it is marked down
#   redis-master-killed  logins under load, kill -9 of a Redis Cluster master: 0 wrong,
#                        unanswered counted, the replica promoted, then an API change
#                        reaches both radiusd within 1 s
#   nats-node-killed     accounting load, kill -9 of one of the three NATS nodes: the
#                        outbox drains through the other two, and the stream gains exactly
#                        the session events written
#   pg-primary-killed    accounting load with the acked log, kill -9 of the PostgreSQL
#                        primary, `pg_ctl promote` of the replica at once (this script is
#                        the operator); RTO to the first accounting commit and the first
#                        API write on the new primary; acknowledged records missing (0)
#
# Usage: scripts/topology-test.sh [--short] [SCENARIO...]   (all, in this order, by default)
# Environment: TOPOLOGY=short (as --short), AUTH_RATE (200), ACCT_RATE (200),
# PROFILE=release|debug (release; `make topology-short` uses the tests' debug build), BIN
# (run the binaries in this directory instead of building them), KEEP=1 (leave
# the topology running at the end, for a look; stop it with scripts/topology.sh's Ctrl-C or
# by running this again).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/scripts/lib-stack.sh"
. "$root/scripts/lib-topology.sh"

all_scenarios=(radsec-via-haproxy change-propagation radiusd-killed adminapi-killed
  redis-master-killed nats-node-killed pg-primary-killed)
mode=${TOPOLOGY:-full}
scenarios=()
for arg in "$@"; do
  case $arg in
    --short) mode=short ;;
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
case $mode in
  short) load_secs=8 pg_load_secs=12 api_secs=12 ;;
  full) load_secs=30 pg_load_secs=40 api_secs=30 ;;
  *) echo "TOPOLOGY must be short or full" >&2; exit 2 ;;
esac
auth_rate=${AUTH_RATE:-200}
acct_rate=${ACCT_RATE:-200}
# Subscribers user000001 …: logins (one in ten with a wrong password); suspended at the
# start, never to be accepted; the ones the API changes during the scenarios; accounting.
auth_first=1 auth_users=1000
susp_first=1001 susp_users=10
change_first=1101
acct_first=1201 acct_users=400
interim_interval=$(((acct_users + acct_rate - 1) / acct_rate))
# A NAS's timers: a second per try, the retries to the other server.
nas=(--timeout 1s --retries 2)

now() { echo "$EPOCHREALTIME"; }
ms_since() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.0f", (b - a) * 1000 }'; }
secs_since() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }

# The sum of every series of metric $2 on the metrics port $1 (0 if it does not answer).
metric() {
  { curl -sf --max-time 2 "http://127.0.0.1:$1/metrics" 2>/dev/null || true; } |
    awk -v name="$2" '$1 !~ /^#/ { n = $1; sub(/\{.*/, "", n); if (n == name) s += $NF }
      END { printf "%d\n", s }'
}
metric_at_least() { [ "$(metric "$1" "$2")" -ge "$3" ]; }
# adminapi's reads of the routes a replica may serve, on port $1, sent to $2 (replica or
# primary).
db_reads() {
  { curl -sf --max-time 2 "http://127.0.0.1:$1/metrics" 2>/dev/null || true; } |
    awk -v t="target=\"$2\"" '$1 ~ /^proisp_db_reads_total\{/ && index($1, t) { s += $NF }
      END { printf "%d\n", s }'
}

# Runs in the background, remembered for cleanup; the pid is in $last_pid.
spawn() { # NAME COMMAND...
  local name=$1
  shift
  "$@" &
  last_pid=$!
  topo_remember "$name" "$last_pid"
}

# Waits for background process $1 up to $2 seconds (then kills it); its exit status.
reap() {
  local pid=$1 deadline=$((SECONDS + $2)) rc=0
  while kill -0 "$pid" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.1; done
  if kill -0 "$pid" 2>/dev/null; then
    echo "process $pid still running after $2 s: killing it" >&2
    kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || rc=$?
  return "$rc"
}

user() { printf 'user%06d' "$1"; }
sub_id() { awk -v u="$(user "$1")" '$1 == u { print $2 }' "$var/ids"; }

api_login() {
  curl -sf --max-time 5 "http://127.0.0.1:$HAPROXY_API/api/v1/auth/login" \
    -H 'Content-Type: application/json' \
    -d "{\"username\": \"$demo_admin\", \"password\": \"$(cat "$var/demo-admin.password")\"}" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["access_token"])'
}

# POST /api/v1/subscribers/{id}/ACTION for subscriber number $1 through HAProxy; status 0
# when the API said it is done.
api_status() { # N suspend|resume
  curl -sf --max-time 5 -o /dev/null -X POST -H "Authorization: Bearer $token" \
    "http://127.0.0.1:$HAPROXY_API/api/v1/subscribers/$(sub_id "$1")/$2"
}

# One Access-Request for subscriber number $2 (right password) to port $1: accept,
# reject or none.
probe() {
  local file="$var/probe-$1-$2"
  printf '%s pw%06d\n' "$(user "$2")" "$2" >"$file"
  local out
  out=$("$lt" auth -s "127.0.0.1:$1" --secret "$secret" --users-file "$file" -n 1 -c 1 \
    --timeout 2s --json -q 2>/dev/null || true)
  case $out in
    *'"accepts": 1'* | *'"accepts":1'*) echo accept ;;
    *'"rejects": 1'* | *'"rejects":1'*) echo reject ;;
    *) echo none ;;
  esac
}

# Probes port $1 for subscriber $2 until rejected (up to 10 s); prints the time the
# rejected probe was sent.
until_rejected() {
  local deadline=$((SECONDS + 10)) t
  while [ "$SECONDS" -lt "$deadline" ]; do
    t=$(now)
    if [ "$(probe "$1" "$2")" = reject ]; then
      echo "$t"
      return 0
    fi
  done
  echo never
}

# Suspends subscriber $1 through HAProxy's API and measures, on each radiusd, the time from
# the API's answer until a login of theirs is rejected (the probe that was, as sent).
# Sets change_a and change_b (ms, or "never"). Resumes them afterwards.
change_reaches_both() {
  local n=$1 p
  for p in "$RADIUSD_A_AUTH" "$RADIUSD_B_AUTH"; do
    [ "$(probe "$p" "$n")" = accept ] || { change_a=never change_b=never; return 1; }
  done
  api_status "$n" suspend || { change_a=never change_b=never; return 1; }
  local acked; acked=$(now)
  until_rejected "$RADIUSD_A_AUTH" "$n" >"$var/change-a" &
  local pa=$!
  until_rejected "$RADIUSD_B_AUTH" "$n" >"$var/change-b" &
  local pb=$!
  wait "$pa" "$pb"
  local ta tb
  ta=$(cat "$var/change-a") tb=$(cat "$var/change-b")
  change_a=never change_b=never
  [ "$ta" = never ] || change_a=$(ms_since "$acked" "$ta")
  [ "$tb" = never ] || change_b=$(ms_since "$acked" "$tb")
  api_status "$n" resume || true
}
within_1s() { [ "$1" != never ] && [ "$1" -lt 1000 ]; }

# The load runs' reports summed: "sent answered wrong timeouts".
load_totals() {
  python3 - "$@" <<'PY'
import json, os, sys
t = [0, 0, 0, 0]
for path in sys.argv[1:]:
    if os.path.exists(path) and os.path.getsize(path):
        r = json.load(open(path))
        for i, k in enumerate(("sent", "answered", "wrong_accepts", "timeouts")):
            t[i] += r[k]
        t[2] += r["bad_replies"]
print(*t)
PY
}

# NAS-style logins to radiusd a with retries to radiusd b, for $1 seconds: right and
# wrong passwords, and suspended subscribers (who must never be accepted). Reports in $dir.
start_auth_load() {
  local d=$1
  local common=(-s "127.0.0.1:$RADIUSD_A_AUTH" --fallback "127.0.0.1:$RADIUSD_B_AUTH"
    --secret "$secret" -d "${d}s" "${nas[@]}" --json -q)
  spawn load-auth "$lt" auth "${common[@]}" --users "$auth_users" --first-user "$auth_first" \
    -r "$auth_rate" --wrong-password-percent 10 >"$dir/auth.json" 2>"$dir/auth.err"
  auth_load=$last_pid
  spawn load-suspended "$lt" auth "${common[@]}" --users "$susp_users" \
    --first-user "$susp_first" -r 10 --expect-reject >"$dir/suspended.json" 2>"$dir/suspended.err"
  susp_load=$last_pid
}

# One result line, on stdout and in $var/results; status 1 on FAIL.
verdict() { # NAME FIGURES [PROBLEM...]
  local name=$1 figures=$2
  shift 2
  local v=PASS
  [ $# -eq 0 ] || v="FAIL: $(IFS=';'; echo "$*" | sed 's/;/; /g')"
  printf '%-21s %s  %s\n' "$name" "$figures" "$v" | tee -a "$var/results"
  [ "$v" = PASS ]
}

scenario_radsec_via_haproxy() {
  local out="$dir/radsec.json" problems=()
  local a0 b0
  a0=$(metric "$RADIUSD_A_METRICS" radius_auth_requests_total)
  b0=$(metric "$RADIUSD_B_METRICS" radius_auth_requests_total)
  "$lt" auth -t radsec -s "127.0.0.1:$HAPROXY_RADSEC" --ca "$var/pki/ca.pem" \
    --cert "$var/pki/nas.pem" --key "$var/pki/nas.key" --connections 4 --users "$auth_users" \
    -n 2000 --json -q >"$out" 2>"$dir/radsec.err" || problems+=("proisp-loadtest failed")
  local sent answered wrong timeouts
  read -r sent answered wrong timeouts <<<"$(load_totals "$out")"
  local a=$(($(metric "$RADIUSD_A_METRICS" radius_auth_requests_total) - a0))
  local b=$(($(metric "$RADIUSD_B_METRICS" radius_auth_requests_total) - b0))
  [ "$answered" = "$sent" ] && [ "$sent" -gt 0 ] || problems+=("$((sent - answered)) unanswered")
  [ "$wrong" = 0 ] || problems+=("$wrong wrong or bad replies")
  [ "$a" -gt 0 ] && [ "$b" -gt 0 ] || problems+=("HAProxy used one radiusd only")
  verdict radsec-via-haproxy "sent $sent answered $answered wrong $wrong; by radiusd a $a, b $b" \
    "${problems[@]}"
}

scenario_change_propagation() {
  local problems=()
  change_reaches_both "$change_first" || problems+=("the API change did not go through")
  within_1s "$change_a" || problems+=("radiusd a: $change_a ms")
  within_1s "$change_b" || problems+=("radiusd b: $change_b ms")
  verdict change-propagation "in force on radiusd a after $change_a ms, b after $change_b ms" \
    "${problems[@]}"
}

scenario_radiusd_killed() {
  local problems=() start; start=$(metric "$RADIUSD_A_METRICS" radius_auth_requests_total)
  start_auth_load "$load_secs"
  wait_for 30 "a third of the logins to reach radiusd a" metric_at_least "$RADIUSD_A_METRICS" \
    radius_auth_requests_total $((start + auth_rate * load_secs / 3))
  local b0; b0=$(metric "$RADIUSD_B_METRICS" radius_auth_requests_total)
  local pid; pid=$(topo_pid radiusd-a)
  kill -KILL "$pid"
  reap "$auth_load" $((load_secs + 30)) || true
  reap "$susp_load" $((load_secs + 30)) || true
  local by_b=$(($(metric "$RADIUSD_B_METRICS" radius_auth_requests_total) - b0))
  local sent answered wrong timeouts
  read -r sent answered wrong timeouts <<<"$(load_totals "$dir/auth.json" "$dir/suspended.json")"
  [ "$wrong" = 0 ] || problems+=("$wrong wrong answers")
  [ "$timeouts" = 0 ] || problems+=("$timeouts unanswered")
  [ "$by_b" -gt 0 ] || problems+=("radiusd b answered nothing")
  start_radiusd a || problems+=("radiusd a did not start again")
  verdict radiusd-killed "sent $sent answered $answered (by b after the kill: $by_b) wrong $wrong unanswered $timeouts" \
    "${problems[@]}"
}

# Reads through HAProxy's API endpoint at $2 requests/s for $1 s, a new connection each
# (as curl makes); one line per request: when it was sent, when it ended, and the HTTP
# status (0: no answer).
http_load() {
  python3 - "$1" "$2" "http://127.0.0.1:$HAPROXY_API/api/v1/subscribers?limit=1" "$token" <<'PY'
import sys, time, urllib.request, urllib.error
secs, rate, url, token = float(sys.argv[1]), float(sys.argv[2]), sys.argv[3], sys.argv[4]
start = time.time()
i = 0
while True:
    due = start + i / rate
    if due - start >= secs:
        break
    time.sleep(max(0.0, due - time.time()))
    sent = time.time()
    try:
        req = urllib.request.Request(url, headers={"Authorization": "Bearer " + token})
        with urllib.request.urlopen(req, timeout=10) as r:
            r.read()
            code = r.status
    except urllib.error.HTTPError as e:
        code = e.code
    except Exception:
        code = 0
    print(f"{sent:.6f} {time.time():.6f} {code}", flush=True)
    i += 1
PY
}

scenario_adminapi_killed() {
  local problems=() log="$dir/http.log"
  local rep0 pri0
  rep0=$(db_reads "$ADMINAPI_B" replica) pri0=$(db_reads "$ADMINAPI_B" primary)
  spawn load-http http_load "$api_secs" 50 >"$log"
  local load=$last_pid
  wait_for 10 "API reads to flow" awk 'END { exit NR < 25 }' "$log"
  local t_kill; t_kill=$(now)
  kill -KILL "$(topo_pid adminapi-a)"
  local t_down=""
  if wait_for 30 "HAProxy to mark adminapi a down" haproxy_is adminapi adminapi1 DOWN; then
    t_down=$(now)
  else
    problems+=("HAProxy did not mark adminapi a down within 30 s")
    t_down=$(now)
  fi
  reap "$load" $((api_secs + 30)) || true
  local counts
  # During the detection: requests that ended after the kill and were sent before HAProxy
  # marked the instance down (one in flight at the kill included).
  counts=$(awk -v k="$t_kill" -v d="$t_down" '
    { n++; bad = ($3 != 200) }
    $2 >= k && $1 < d { during++; if (bad) ed++ }
    $1 >= d { after++; if (bad) ea++ }
    bad { e++ }
    END { printf "%d %d %d %d %d %d", n, e, during, ed, after, ea }' "$log")
  local n e during ed after ea
  read -r n e during ed after ea <<<"$counts"
  local rep=$(($(db_reads "$ADMINAPI_B" replica) - rep0))
  local pri=$(($(db_reads "$ADMINAPI_B" primary) - pri0))
  [ "$ea" = 0 ] || problems+=("$ea errors after adminapi a was marked down")
  [ "$after" -gt 0 ] || problems+=("no request after adminapi a was marked down")
  start_adminapi a || problems+=("adminapi a did not start again")
  wait_for 30 "HAProxy to see adminapi a UP again" haproxy_is adminapi adminapi1 UP ||
    problems+=("adminapi a not UP again in HAProxy")
  verdict adminapi-killed "requests $n errors $e: detection $(secs_since "$t_kill" "$t_down") s ($during requests, $ed errors), after it $after requests, $ea errors; adminapi b read $rep from the replica, $pri from the primary" \
    "${problems[@]}"
}

# Whether the cluster is whole again: every surviving node says ok and sees 3 masters
# up, the killed one not among them (a replica promoted in its place).
cluster_recovered() {
  local port masters
  for port in "${redis_ports[@]}"; do
    [ "$port" = "$killed_redis" ] && continue
    redis_cluster_ok "$port" || return 1
    masters=$(redis_masters "$port")
    [ "$(wc -l <<<"$masters")" = 3 ] || return 1
    ! grep -qx "$killed_redis" <<<"$masters" || return 1
  done
}

scenario_redis_master_killed() {
  local problems=() start; start=$(metric "$RADIUSD_A_METRICS" radius_auth_requests_total)
  start_auth_load "$load_secs"
  wait_for 20 "logins to reach radiusd a" metric_at_least "$RADIUSD_A_METRICS" \
    radius_auth_requests_total $((start + auth_rate))
  # The first master of the URL's seed nodes: the clients must find the cluster without it.
  killed_redis=$(redis_masters "${redis_ports[1]}" | head -n 1)
  local a0; a0=$(metric "$RADIUSD_A_METRICS" radius_auth_requests_total)
  local b0; b0=$(metric "$RADIUSD_B_METRICS" radius_auth_requests_total)
  local t_kill; t_kill=$(now)
  kill -KILL "$(topo_pid "redis-$killed_redis")"
  local failover=">30"
  if wait_for 30 "the Redis Cluster to promote a replica" cluster_recovered; then
    failover=$(secs_since "$t_kill" "$(now)")
  else
    problems+=("no replica promoted within 30 s")
  fi
  local during=$(($(metric "$RADIUSD_A_METRICS" radius_auth_requests_total) - a0 +
    $(metric "$RADIUSD_B_METRICS" radius_auth_requests_total) - b0))
  reap "$auth_load" $((load_secs + 30)) || true
  reap "$susp_load" $((load_secs + 30)) || true
  local sent answered wrong timeouts
  read -r sent answered wrong timeouts <<<"$(load_totals "$dir/auth.json" "$dir/suspended.json")"
  [ "$wrong" = 0 ] || problems+=("$wrong wrong answers")
  [ "$during" -gt 0 ] || problems+=("no login answered until the failover")
  change_reaches_both $((change_first + 1)) || problems+=("the API change did not go through")
  within_1s "$change_a" || problems+=("radiusd a: change after $change_a ms")
  within_1s "$change_b" || problems+=("radiusd b: change after $change_b ms")
  local ia ib
  ia=$(metric "$RADIUSD_A_METRICS" radius_invalidation_connected)
  ib=$(metric "$RADIUSD_B_METRICS" radius_invalidation_connected)
  [ "$ia" = 1 ] && [ "$ib" = 1 ] || problems+=("invalidation channel down (a $ia, b $ib)")
  # Back as a replica of the promoted one, for whatever runs next.
  redis-server "$var/redis/$killed_redis/redis.conf" >/dev/null 2>&1 &
  topo_remember "redis-$killed_redis" "$!"
  verdict redis-master-killed "sent $sent answered $answered wrong $wrong unanswered $timeouts; failover $failover s; change on a $change_a ms, b $change_b ms; invalidations connected a $ia b $ib" \
    "${problems[@]}"
}

# What the replica holds of accounting: changes once a write commits on it as a primary.
acct_fingerprint() {
  topo_sql "$PG_REPLICA_PORT" proisp -c "SELECT (SELECT count(*) FROM sessions) || ':' ||
    (SELECT coalesce(sum(upload_octets + download_octets), 0) FROM sessions) || ':' ||
    (SELECT count(*) FROM session_history)" 2>/dev/null
}
acct_committed() { local f; f=$(acct_fingerprint) && [ -n "$f" ] && [ "$f" != "$1" ]; }
spools_empty() {
  [ "$(metric "$RADIUSD_A_METRICS" radius_acct_spooled_records)" = 0 ] &&
    [ "$(metric "$RADIUSD_B_METRICS" radius_acct_spooled_records)" = 0 ] &&
    radiusd_healthy "$RADIUSD_A_METRICS" && radiusd_healthy "$RADIUSD_B_METRICS"
}

# Session events written so far: a session's start, and its stop once it is in history
# (a closed session counts twice). Exact while no session is closed twice or opened
# again, as in the scenario's load, and no history is dropped.
session_events() {
  topo_sql "$PG_PRIMARY_PORT" proisp -c \
    "SELECT (SELECT count(*) FROM sessions) + 2 * (SELECT count(*) FROM session_history)"
}
outbox_empty() { [ "$(topo_sql "$PG_PRIMARY_PORT" proisp -c "SELECT count(*) FROM event_outbox")" = 0 ]; }

# Accounting while one of the three NATS nodes is killed: the relay goes on publishing to
# the other two (the stream has 3 replicas), the outbox drains, and the stream gains
# exactly the session events written — none lost, none twice.
scenario_nats_node_killed() {
  local problems=()
  wait_for 30 "the outbox to drain before the load" outbox_empty || problems+=("outbox not empty before")
  local e0 m0
  e0=$(session_events)
  m0=$(stream_messages 2) || problems+=("no stream PROISP_EVENTS on node 2")
  spawn load-acct "$lt" acct -s "127.0.0.1:$RADIUSD_A_ACCT" --fallback "127.0.0.1:$RADIUSD_B_ACCT" \
    --secret "$secret" -d "${load_secs}s" --timeout 2s --retries 5 --json -q \
    --users "$acct_users" --first-user "$acct_first" -r "$acct_rate" --interims 1 \
    --interim-interval "$interim_interval" >"$dir/acct.json" 2>"$dir/acct.err"
  local load=$last_pid
  wait_for 20 "accounting to flow" metric_at_least "$RADIUSD_A_METRICS" \
    radius_acct_requests_total "$acct_rate"
  kill -KILL "$(topo_pid nats-1)"
  reap "$load" $((load_secs + 30)) || problems+=("the accounting load failed")
  local t0; t0=$(now)
  local drained=">30"
  if wait_for 30 "the outbox to drain with a node down" outbox_empty; then
    drained=$(secs_since "$t0" "$(now)")
  else
    problems+=("the outbox did not drain with two nodes of three")
  fi
  local e1 m1
  e1=$(session_events)
  m1=$(stream_messages 2) || m1=0
  [ $((m1 - m0)) = $((e1 - e0)) ] ||
    problems+=("the stream gained $((m1 - m0)) events for $((e1 - e0)) written")
  [ $((e1 - e0)) -gt 0 ] || problems+=("no session event written")
  start_nats_node 1
  wait_for 60 "nats-server 1 back" nats_healthy 1 || problems+=("node 1 did not come back")
  verdict nats-node-killed "events written $((e1 - e0)), in the stream $((m1 - m0)); outbox drained $drained s after the load" \
    "${problems[@]}"
}

scenario_pg_primary_killed() {
  local problems=() bin_pg; bin_pg=$(pg_bin)
  spawn load-acct "$lt" acct -s "127.0.0.1:$RADIUSD_A_ACCT" --fallback "127.0.0.1:$RADIUSD_B_ACCT" \
    --secret "$secret" -d "${pg_load_secs}s" --timeout 2s --retries 5 --json -q \
    --users "$acct_users" --first-user "$acct_first" -r "$acct_rate" --interims 3 \
    --interim-interval "$interim_interval" --acked-log "$dir/acked.tsv" >"$dir/acct.json" \
    2>"$dir/acct.err"
  local load=$last_pid
  wait_for 20 "accounting to flow" metric_at_least "$RADIUSD_A_METRICS" \
    radius_acct_requests_total "$acct_rate"
  # The primary's whole process tree at once, as when its machine dies.
  local pm; pm=$(head -n 1 "$var/pg-primary/postmaster.pid")
  local t_kill; t_kill=$(now)
  # shellcheck disable=SC2046
  kill -KILL $(pgrep -P "$pm") "$pm"
  local before; before=$(acct_fingerprint)
  pg_as "$bin_pg/pg_ctl" -D "$var/pg-replica" -w -t 60 promote >/dev/null
  local t_promoted; t_promoted=$(now)
  local rto_acct=">60" rto_api=">60"
  if wait_for 60 "an accounting write on the new primary" acct_committed "$before"; then
    rto_acct=$(secs_since "$t_kill" "$(now)")
  else
    problems+=("no accounting write on the new primary within 60 s")
  fi
  if wait_for 60 "an API write through HAProxy" api_status $((change_first + 2)) suspend; then
    rto_api=$(secs_since "$t_kill" "$(now)")
    api_status $((change_first + 2)) resume || true
  else
    problems+=("no API write within 60 s")
  fi
  reap "$load" $((pg_load_secs + 60)) || true
  wait_for 60 "both spools to drain" spools_empty || problems+=("spool not drained after the load")
  local check missing twice
  check=$(topo_sql "$PG_REPLICA_PORT" proisp -f "$root/scripts/faults-check.sql" <"$dir/acked.tsv")
  echo "$check" >"$dir/check.txt"
  missing=$(sed -n 's/.*missing=\([0-9]*\).*/\1/p' <<<"$check")
  twice=$(sed -n 's/.*twice=\([0-9]*\).*/\1/p' <<<"$check")
  local acked; acked=$(sed -n 's/.*acked=\([0-9]*\).*/\1/p' <<<"$check")
  [ "$missing" = 0 ] || problems+=("$missing acknowledged records missing")
  [ "$twice" = 0 ] || problems+=("$twice subscribers' usage counted twice")
  [ "${acked:-0}" -gt 0 ] || problems+=("nothing acknowledged")
  verdict pg-primary-killed "acked $acked missing $missing twice $twice; promoted after $(secs_since "$t_kill" "$t_promoted") s; RTO accounting $rto_acct s, API write $rto_api s" \
    "${problems[@]}"
}

cleanup() {
  trap '' INT TERM
  trap - EXIT
  set +e
  if [ "${KEEP:-0}" = 1 ]; then
    say "KEEP=1: the topology is left running (scripts/topology-test.sh or topology.sh stops it)"
  else
    topo_stop
  fi
}

topo_deps
say "building (${PROFILE:-release})"
topo_build
lt="$bin/proisp-loadtest"
trap cleanup EXIT INT TERM
started=$SECONDS
topo_start
topo_sql "$PG_PRIMARY_PORT" proisp -F ' ' -c "SELECT username, id FROM subscribers" >"$var/ids"
token=$(api_login)
for ((i = susp_first; i < susp_first + susp_users; i++)); do api_status "$i" suspend; done
# Warm, as a running system is: each radiusd has looked up every subscriber of the loads
# once (a cold lookup past auth.backend_timeout is dropped, and RadSec does not retry).
for port in "$RADIUSD_A_AUTH" "$RADIUSD_B_AUTH"; do
  warm=(-s "127.0.0.1:$port" --secret "$secret" --timeout 3s --retries 2 --json -q)
  "$lt" auth "${warm[@]}" --users "$auth_users" --first-user "$auth_first" -n "$auth_users" \
    -c 32 >"$var/warm-$port.json"
  "$lt" auth "${warm[@]}" --users "$susp_users" --first-user "$susp_first" -n "$susp_users" \
    -c "$susp_users" --expect-reject >"$var/warm-suspended-$port.json"
done
say "topology up in $((SECONDS - started)) s; scenarios ($mode): ${scenarios[*]}"
: >"$var/results"
failed=0
for s in "${scenarios[@]}"; do
  dir="$var/$s"
  rm -rf "$dir"
  mkdir -p "$dir"
  say "scenario $s"
  set +e
  (
    set -e
    "scenario_${s//-/_}"
  )
  rc=$?
  set -e
  if [ "$rc" != 0 ]; then
    failed=1
    grep -q "^$s " "$var/results" ||
      printf '%-21s FAIL: the harness stopped (status %s); see %s\n' "$s" "$rc" "$dir" |
      tee -a "$var/results"
  fi
done
echo
say "topology tests ($mode) done in $((SECONDS - started)) s"
cat "$var/results"
exit "$failed"
