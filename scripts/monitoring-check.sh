#!/usr/bin/env bash
# `make monitoring-check` (part of `make test`; a few seconds): the files of monitoring/
# and the units that feed them, without a running stack.
#   - promtool check config on monitoring/prometheus.yml (and the rule file it loads),
#     promtool check rules on monitoring/alerts.yml, promtool test rules on
#     monitoring/tests/*.yml (series fed in, alerts expected);
#   - monitoring/grafana/proisp.json: valid JSON, unique panel ids, every query on the
#     ${datasource} variable, and every expression parsed by promtool (as recording rules,
#     monitoring/check.py); a dashboard with a broken expression must fail;
#   - monitoring/textfile-metrics.sh certs on the demo PKI: the earliest notAfter of a
#     chain, output promtool check metrics accepts, an unreadable file reported;
#   - systemd-analyze verify on the textfile and maintenance units (ANALYZE, security
#     report);
#   - tuning/: every setting of postgresql.conf.example is one PostgreSQL knows, and
#     Redis starts on redis.conf.example with its eviction policy.
# scripts/monitoring-test.sh checks the same files against a running stack.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
mon="$root/monitoring"
command -v promtool >/dev/null || "$root/scripts/deps.sh"
. "$root/scripts/lib-stack.sh"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "monitoring-check: $*" >&2; exit 1; }

promtool check config --syntax-only "$mon/prometheus.yml" >/dev/null
promtool check rules "$mon/alerts.yml" >/dev/null
promtool test rules "$mon"/tests/*.yml

python3 "$mon/check.py" dashboard "$mon/grafana/proisp.json" "$work/dashboard.rules.yml" >/dev/null
promtool check rules "$work/dashboard.rules.yml" >/dev/null ||
  fail "an expression of monitoring/grafana/proisp.json does not parse: $(promtool check rules "$work/dashboard.rules.yml" 2>&1 | tail -n 3)"
sed 's/radius_auth_requests_total{/radius_auth_requests_total{{/' "$mon/grafana/proisp.json" >"$work/broken.json"
python3 "$mon/check.py" dashboard "$work/broken.json" "$work/broken.rules.yml" >/dev/null
if promtool check rules "$work/broken.rules.yml" >/dev/null 2>&1; then
  fail "promtool accepted a dashboard expression with a syntax error"
fi

# textfile-metrics certs: a file holding the server certificate and its CA reports the
# earlier of the two.
"$root/scripts/pki.sh" "$work/pki" --nas-name nas.monitoring.test >/dev/null 2>&1
cat "$work/pki/ca.pem" "$work/pki/server.pem" >"$work/chain.pem"
mkdir "$work/textfile"
TEXTFILE_DIR="$work/textfile" "$mon/textfile-metrics.sh" certs "$work/chain.pem" "$work/pki/ca.pem"
prom="$work/textfile/proisp-certificates.prom"
promtool check metrics <"$prom" || fail "promtool check metrics refuses $prom"
expiry() { date -d "$(openssl x509 -noout -enddate -in "$1" | cut -d= -f2)" +%s; }
server_end=$(expiry "$work/pki/server.pem")
ca_end=$(expiry "$work/pki/ca.pem")
[ "$server_end" -lt "$ca_end" ] || fail "the demo server certificate outlives its CA"
grep -qx "proisp_certificate_expiry_timestamp_seconds{path=\"$work/chain.pem\"} $server_end" "$prom" ||
  fail "chain.pem's expiry is not the server certificate's ($server_end): $(cat "$prom")"
grep -qx "proisp_certificate_expiry_timestamp_seconds{path=\"$work/pki/ca.pem\"} $ca_end" "$prom" ||
  fail "ca.pem's expiry is not $ca_end: $(cat "$prom")"
if TEXTFILE_DIR="$work/textfile" "$mon/textfile-metrics.sh" certs "$work/missing.pem" 2>/dev/null; then
  fail "textfile-metrics certs succeeded on a missing file"
fi

# The units, with ExecStart pointed at this tree's script (verify wants it to exist), and
# at an executable standing in for proisp-adminapi, which this check does not build
# (adminapi's integration tests verify proisp-security-report.service on the real one).
mkdir "$work/units"
for u in proisp-certificate-metrics proisp-backup-metrics proisp-analyze \
  proisp-security-report; do
  for ext in service timer; do
    sed -e "s#/usr/lib/proisp/textfile-metrics#$mon/textfile-metrics.sh#" \
      -e "s#/usr/bin/proisp-adminapi#/bin/true#" \
      "$root/systemd/$u.$ext" >"$work/units/$u.$ext"
  done
done
if ! out=$(systemd-analyze verify --man=no "$work"/units/* 2>&1) || grep -q proisp <<<"$out"; then
  fail "systemd-analyze verify: $out"
fi
# tuning/: PostgreSQL's own list of settings, and a Redis started on the file (Unix socket
# only).
known=$("$(pg_bin)/postgres" --describe-config | cut -f1)
for setting in $(sed -n 's/^\([a-z_]*\) *=.*/\1/p' "$root/tuning/postgresql.conf.example"); do
  grep -qx "$setting" <<<"$known" || fail "tuning/postgresql.conf.example: PostgreSQL knows no $setting"
done
redis-server "$root/tuning/redis.conf.example" --port 0 --unixsocket "$work/redis.sock" \
  --dir "$work" --daemonize yes --pidfile "$work/redis.pid" --logfile "$work/redis.log"
wait_for 10 "Redis on tuning/redis.conf.example" redis-cli -s "$work/redis.sock" ping ||
  fail "Redis does not start on tuning/redis.conf.example: $(cat "$work/redis.log")"
policy=$(redis-cli -s "$work/redis.sock" config get maxmemory-policy | tail -n 1)
redis-cli -s "$work/redis.sock" shutdown nosave >/dev/null 2>&1 || true
[ "$policy" = volatile-lru ] || fail "Redis on tuning/redis.conf.example evicts by $policy"
echo "monitoring-check: rules, rule tests, dashboard, textfile metrics, units and tuning pass"
