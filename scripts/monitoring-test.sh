#!/usr/bin/env bash
# `make monitoring-test`: the shipped monitoring files against a running stack. Starts
# `MONITORING=1 scripts/stack.sh` (what `MONITORING=1 make run` runs: Debian's Prometheus
# on monitoring/prometheus.yml and alerts.yml, the PostgreSQL, Redis and node exporters)
# under var/monitoring-test on free ports, on the debug build the tests made, with a 2 s
# scrape interval; sends logins (radclient) and API requests; then asserts
#   - every scrape target is up;
#   - each of the roadmap's queries returns series:
#       histogram_quantile(0.95, rate(http_request_duration_seconds_bucket[5m]))
#       rate(radius_auth_requests_total[1m])          (and the accepts' rate is above 0)
#       pg_stat_activity_count{state="active"}
#       redis_memory_used_bytes / redis_memory_max_bytes * 100
#   - every metric name that monitoring/alerts.yml and monitoring/grafana/proisp.json use
#     is one Prometheus holds, apart from those only some deployments export (a replica,
#     pgBackRest, a CoA lane): no rule or panel watches a metric nobody exports.
#   - the maintenance SQL the timers run works on the stack's database:
#     sql/maintenance/analyze-partitioned.sql analyzes session_history, and
#     sql/maintenance/security-report.sql lists the failed login the test made;
#   - no secret in any log line: radiusd and adminapi log JSON here (log.format, as
#     shipped for a log pipeline), and neither their lines nor any other log file of the
#     run (PostgreSQL, Redis, Prometheus, the exporters) holds the NAS secret, the demo
#     admin's password, a subscriber's password, the wrong password tried, the access
#     token, the at-rest key, the token key or the RadSec server key;
#   - `proisp-adminapi security-report` (what the weekly timer runs) lists that failed
#     login, and mails the report through a sendmail when told to.
# One line per check, then PASS or FAIL; exit status 0 or 1. Environment: PROFILE
# (debug), KEEP=1 (keep var/monitoring-test).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
var="$root/var/monitoring-test"
. "$root/scripts/lib-stack.sh"
profile=${PROFILE:-debug}
secret=testing123
wrong_password=not-the-demo-password-7f3a

# Metrics a deployment exports only when it has the thing they measure.
conditional=(
  proisp_db_replica_lag_seconds proisp_db_replica_up # adminapi's database.replica_url
  proisp_backup_info_success proisp_backup_last_completion_timestamp_seconds # pgBackRest
  proisp_coa_lane_answers_total proisp_coa_lane_in_flight # a NAS with a CoA lane
  proisp_coa_lane_queued proisp_coa_lane_unreachable
)

"$root/scripts/deps.sh"
rm -rf "$var"
mkdir -p "$var"
pg_port=$(free_port) redis_port=$(free_port) auth_port=$(free_port) acct_port=$(free_port)
metrics_port=$(free_port) api_port=$(free_port) radsec_port=$(free_port)
prom_port=$(free_port) pgx_port=$(free_port) redisx_port=$(free_port) nodex_port=$(free_port)

stack_pid=""
finish() {
  trap - EXIT INT TERM
  if [ -n "$stack_pid" ]; then
    kill -TERM "$stack_pid" 2>/dev/null || true
    wait "$stack_pid" 2>/dev/null || true
  fi
  [ "${KEEP:-0}" = 1 ] || rm -rf "$var"
}
trap finish EXIT INT TERM

say "starting the stack with MONITORING=1 ($profile build, log in $var/stack.log)"
PROISP_LOG__FORMAT=json STACK_DIR="$var" PROFILE="$profile" MONITORING=1 SCRAPE_INTERVAL=2s SUBSCRIBERS=50 \
  PG_PORT=$pg_port REDIS_PORT=$redis_port AUTH_PORT=$auth_port ACCT_PORT=$acct_port \
  METRICS_PORT=$metrics_port API_PORT=$api_port RADSEC_PORT=$radsec_port \
  PROMETHEUS_PORT=$prom_port PG_EXPORTER_PORT=$pgx_port REDIS_EXPORTER_PORT=$redisx_port \
  NODE_EXPORTER_PORT=$nodex_port SECRET=$secret \
  "$root/scripts/stack.sh" >"$var/stack.log" 2>&1 &
stack_pid=$!

prom="http://127.0.0.1:$prom_port"
api="http://127.0.0.1:$api_port"
failures=0
check() { # WHAT OK(0/1) DETAIL
  if [ "$2" = 0 ]; then printf '  ok    %s  %s\n' "$1" "$3"; else
    printf '  FAIL  %s  %s\n' "$1" "$3"; failures=$((failures + 1)); fi
}

# The build comes first in stack.sh: allow for it.
wait_for 600 "the stack (adminapi /health; $var/stack.log)" curl -sf "$api/health" ||
  { tail -n 20 "$var/stack.log" >&2; exit 1; }
wait_for 30 "radiusd /health" curl -sf "http://127.0.0.1:$metrics_port/health"
wait_for 30 "Prometheus /-/ready" curl -sf "$prom/-/ready"

targets_up() {
  curl -sf "$prom/api/v1/targets" | python3 -c '
import json, sys
active = json.load(sys.stdin)["data"]["activeTargets"]
down = [t["labels"]["job"] for t in active if t["health"] != "up"]
print(" ".join(sorted(down)) or "none")
sys.exit(1 if down or len(active) < 5 else 0)'
}
if wait_for 30 "every scrape target up" targets_up; then
  check "targets" 0 "5 jobs up: proisp-radiusd proisp-adminapi postgres redis node"
else
  check "targets" 1 "down: $(targets_up || true)"
fi

say "traffic: logins over RADIUS, requests to the API"
for i in 1 2 3 4 5 6 7 8 9 10; do
  n=$(printf '%06d' "$i")
  printf 'User-Name = "user%s", User-Password = "pw%s", Message-Authenticator = 0x00\n' "$n" "$n" |
    radclient -q -r 2 -t 2 "127.0.0.1:$auth_port" auth "$secret" >/dev/null || true
done
printf 'User-Name = "user000001", User-Password = "wrong", Message-Authenticator = 0x00\n' |
  radclient -q -r 2 -t 2 "127.0.0.1:$auth_port" auth "$secret" >/dev/null 2>&1 || true
password=$(cat "$var/demo-admin.password")
token=$(curl -sf "$api/api/v1/auth/login" -H 'Content-Type: application/json' \
  -d "{\"username\": \"demo\", \"password\": \"$password\"}" |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["access_token"])')
curl -sf -o /dev/null -H "Authorization: Bearer $token" "$api/api/v1/subscribers?limit=5"
curl -sf -o /dev/null "$api/api/v1/openapi.json"
curl -s -o /dev/null "$api/api/v1/auth/login" -H 'Content-Type: application/json' \
  -d "{\"username\": \"demo\", \"password\": \"$wrong_password\"}"

# query EXPR: the result's series as "labels=value" lines (none: empty).
query() {
  curl -sf --get "$prom/api/v1/query" --data-urlencode "query=$1" | python3 -c '
import json, sys
for r in json.load(sys.stdin)["data"]["result"]:
    labels = ",".join(f"{k}={v}" for k, v in sorted(r["metric"].items()) if k != "__name__")
    value = r["value"][1]
    print(f"{{{labels}}}={value}")'
}
has_series() { [ -n "$(query "$1")" ]; }

say "the roadmap's queries"
for q in 'histogram_quantile(0.95, rate(http_request_duration_seconds_bucket[5m]))' \
  'rate(radius_auth_requests_total[1m])' \
  'pg_stat_activity_count{state="active"}' \
  'redis_memory_used_bytes / redis_memory_max_bytes * 100'; do
  if wait_for 30 "series from $q" has_series "$q"; then
    out=$(query "$q")
    check "$q" 0 "$(wc -l <<<"$out") series, e.g. $(head -n 1 <<<"$out")"
  else
    check "$q" 1 "no series after 30 s"
  fi
done
accepts() { query 'rate(radius_auth_requests_total{result="accept"}[1m]) > 0' | grep -q .; }
if wait_for 30 "a positive accept rate" accepts; then
  check "accept rate" 0 "$(query 'rate(radius_auth_requests_total{result="accept"}[1m])')"
else
  check "accept rate" 1 "the logins sent are not in rate(radius_auth_requests_total[1m])"
fi

say "metric names used by alerts.yml and the dashboard"
used=$({ python3 "$root/monitoring/check.py" names "$root/monitoring/alerts.yml"
  python3 "$root/monitoring/check.py" dashboard "$root/monitoring/grafana/proisp.json" \
    "$var/dashboard.rules.yml"; } | sort -u)
held=$(curl -sf "$prom/api/v1/label/__name__/values" | python3 -c '
import json, sys
print("\n".join(json.load(sys.stdin)["data"]))')
missing=() absent_ok=()
for name in $used; do
  grep -qx "$name" <<<"$held" && continue
  if [[ " ${conditional[*]} " == *" $name "* ]]; then absent_ok+=("$name"); else missing+=("$name"); fi
done
ok=1
[ ${#missing[@]} -eq 0 ] && ok=0
check "metric names" "$ok" \
  "$(wc -w <<<"$used") used; missing: ${missing[*]:-none}; not in this stack, as expected: ${absent_ok[*]:-none}"

say "maintenance SQL on the stack's database"
psql_run() { # FILE [psql options]: as the units run it (notices shown), output and errors
  local file=$1
  shift
  "$(pg_bin)/psql" -X -h 127.0.0.1 -p "$pg_port" -U proisp -d proisp -v ON_ERROR_STOP=1 \
    "$@" -f "$file" 2>&1
}
out=$(psql_run "$root/sql/maintenance/analyze-partitioned.sql" || true)
if grep -q 'NOTICE:  ANALYZE session_history' <<<"$out"; then ok=0; else ok=1; fi
check "analyze-partitioned.sql" "$ok" "$(tr '\n' ' ' <<<"$out")"
out=$(psql_run "$root/sql/maintenance/security-report.sql" -v days=7 || true)
# The failed login above: demo, from 127.0.0.1, once.
if grep -qE '^ *demo +\| 127\.0\.0\.1 +\| +1 ' <<<"$out"; then ok=0; else ok=1; fi
check "security-report.sql" "$ok" "$(grep -E '^ *demo +\|' <<<"$out" || echo "no failed login of demo in: $out")"

say "the weekly security report (proisp-adminapi security-report)"
report() { # [options]: the subcommand with the stack's settings
  (set -a; . "$var/stack.env"; set +a; "$root/target/$profile/proisp-adminapi" security-report "$@") 2>&1
}
out=$(report --days 7 || true)
if grep -qE '^  demo +127\.0\.0\.1 +1 ' <<<"$out"; then ok=0; else ok=1; fi
check "security-report" "$ok" "$(grep -E '^  demo ' <<<"$out" || echo "no failed login of demo in: $out")"
# Mailed: handed to sendmail as every MTA's takes it (a script here plays the MTA's
# sendmail program, which this machine does not have).
printf '#!/bin/sh\necho "$*" > "%s/mail.args"\ncat > "%s/mail.txt"\n' "$var" "$var" > "$var/sendmail"
chmod +x "$var/sendmail"
out=$(PROISP_SECURITY_REPORT__SENDMAIL="$var/sendmail" report --mail-to noc@isp.test || true)
ok=1
[ "$(cat "$var/mail.args" 2>/dev/null)" = "-i -- noc@isp.test" ] &&
  grep -qx 'To: noc@isp.test' "$var/mail.txt" &&
  grep -q '^Subject: ProISP security report' "$var/mail.txt" &&
  grep -qE '^  demo +127\.0\.0\.1 +1 ' "$var/mail.txt" && ok=0
check "security-report --mail-to" "$ok" "$out"

say "secrets in the logs"
# The daemons' lines of the stack's output (the rest is stack.sh's banner, which shows
# the demo password on purpose) and every log file of the run: PostgreSQL, Redis,
# Prometheus and the exporters.
logs=$(grep -h '^{' "$var/stack.log" || true)
lines=$(grep -c . <<<"$logs" || true)
other_logs=()
while IFS= read -r -d '' f; do other_logs+=("$f"); done \
  < <(find "$var" -name '*.log' ! -path "$var/stack.log" -print0)
# Every secret the run used: the NAS secret, the demo admin's password, subscribers'
# passwords, a wrong password tried, the access token, the at-rest and token keys, the
# RadSec server key's first line of base64.
radsec_key=$(sed -n 2p "$var/pki/server.key" 2>/dev/null || true)
secrets=("$secret" "$password" "$wrong_password" pw000001 pw000002 pw000010 "$token"
  "$(cat "$var/secret.key")" "$(cat "$var/jwt.key")" ${radsec_key:+"$radsec_key"})
leaks=()
for i in "${!secrets[@]}"; do
  s=${secrets[$i]}
  # Named by position, not printed: a leak report must not spread the secret further.
  if grep -qF -- "$s" <<<"$logs" ||
    { [ ${#other_logs[@]} -gt 0 ] && grep -qF -- "$s" "${other_logs[@]}"; }; then
    leaks+=("secret #$i")
  fi
done
logged_failure=$(grep -c '"login failed"' <<<"$logs" || true)
ok=1
[ ${#leaks[@]} -eq 0 ] && [ "$lines" -gt 10 ] && [ "$logged_failure" -ge 1 ] && ok=0
check "no secret in $lines JSON log lines and ${#other_logs[@]} log files" "$ok" \
  "${#secrets[@]} secrets looked for; leaked: ${leaks[*]:-none}; the failed login logged: $logged_failure"

if [ "$failures" = 0 ]; then echo "monitoring-test: PASS"; else
  echo "monitoring-test: FAIL ($failures checks)"; exit 1; fi
