#!/usr/bin/env bash
# The whole ProISP stack on one machine, for `make run`:
#   - installs PostgreSQL, Redis and FreeRADIUS's client tools from Debian if missing;
#   - starts private PostgreSQL and Redis instances and a nats-server with JetStream
#     under ./var on ports of their own;
#   - writes ./var/stack.env (PROISP_DATABASE_URL, PROISP_REDIS_URL, PROISP_NATS_URL, ...);
#   - makes a demo PKI under ./var/pki (scripts/pki.sh: ca.pem, server.pem/.key,
#     nas.pem/.key) for RadSec, and maps the demo NAS to nas.pem's identity;
#   - migrates, seeds demo data, creates the demo admin (role admin: no TOTP needed; its
#     password is made once and kept in ./var/demo-admin.password);
#   - runs proisp-radiusd, proisp-adminapi (the REST API) and proisp-events (the event
#     outbox's relay to NATS) in the foreground, and prints the command that tails events;
#   - with MONITORING=1, Debian's Prometheus on monitoring/prometheus.yml and
#     monitoring/alerts.yml (the shipped files, their targets' ports set to this stack's)
#     beside it, with the PostgreSQL, Redis and node exporters they scrape (node_exporter
#     with only its textfile collector: the demo certificates' expiry), and prints its URL.
# Ctrl-C stops everything it started. Settings (environment):
#   SUBSCRIBERS (1000)  NAS (127.0.0.1)  SECRET (testing123)
#   PG_PORT (55432)  REDIS_PORT (56379)  NATS_PORT (54222)  AUTH_PORT (1812)
#   ACCT_PORT (1813)  METRICS_PORT (9812)  EVENTS_PORT (9813)  API_PORT (8080)  RADSEC_PORT (2083)  DEMO_ADMIN (demo)
#   MONITORING (0)  PROMETHEUS_PORT (9090)  PG_EXPORTER_PORT (9187)
#   REDIS_EXPORTER_PORT (9121)  NODE_EXPORTER_PORT (9100)  SCRAPE_INTERVAL (15s)
#   STACK_DIR (./var: where the instances, keys and logs live)
#   PROFILE (release; debug reuses the build of the tests)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
var=${STACK_DIR:-$root/var}
profile=${PROFILE:-release}
monitoring=${MONITORING:-0}
prometheus_port=${PROMETHEUS_PORT:-9090}
pg_exporter_port=${PG_EXPORTER_PORT:-9187}
redis_exporter_port=${REDIS_EXPORTER_PORT:-9121}
node_exporter_port=${NODE_EXPORTER_PORT:-9100}
scrape_interval=${SCRAPE_INTERVAL:-15s}
pg_port=${PG_PORT:-55432}
redis_port=${REDIS_PORT:-56379}
nats_port=${NATS_PORT:-54222}
events_port=${EVENTS_PORT:-9813}
auth_port=${AUTH_PORT:-1812}
acct_port=${ACCT_PORT:-1813}
metrics_port=${METRICS_PORT:-9812}
api_port=${API_PORT:-8080}
radsec_port=${RADSEC_PORT:-2083}
demo_admin=${DEMO_ADMIN:-demo}
subscribers=${SUBSCRIBERS:-1000}
nas=${NAS:-127.0.0.1}
secret=${SECRET:-testing123}

. "$root/scripts/lib-stack.sh"

radiusd_pid=""
adminapi_pid=""
events_pid=""
monitoring_pids=""
cleanup() {
  # Stop everything even if one step fails, and let a second Ctrl-C not cut it short.
  trap '' INT TERM
  trap - EXIT
  set +e
  say "stopping"
  local pid
  for pid in $monitoring_pids $events_pid $adminapi_pid $radiusd_pid; do
    kill -TERM "$pid" 2>/dev/null
  done
  for pid in $monitoring_pids $events_pid $adminapi_pid $radiusd_pid; do
    wait "$pid" 2>/dev/null
  done
  stop_nats
  stop_postgres
  stop_redis
}

"$root/scripts/deps.sh"
mkdir -p "$var"
# After a signal's cleanup the script ends there: carrying on with the next command
# would start servers against the PostgreSQL just stopped.
trap cleanup EXIT
trap 'cleanup; exit 130' INT
trap 'cleanup; exit 143' TERM
start_postgres
start_redis
start_nats

say "building ($profile)"
case $profile in
  release) cargo build --release --quiet -p proisp-radiusd -p proisp-adminapi -p proisp-events ;;
  debug) debug_build ;;
  *) echo "PROFILE must be release or debug" >&2; exit 2 ;;
esac
bin="$root/target/$profile"
[ -s "$var/secret.key" ] || "$bin/proisp-adminapi" gen-key > "$var/secret.key"
chmod 600 "$var/secret.key"
# The access-token key: kept, so tokens survive a restart of adminapi.
[ -s "$var/jwt.key" ] || "$bin/proisp-adminapi" gen-key > "$var/jwt.key"
chmod 600 "$var/jwt.key"

# RadSec's demo PKI: kept, so a NAS or radsecproxy configured with it keeps working.
pki="$var/pki"
nas_name=nas1.proisp.test
"$root/scripts/pki.sh" "$pki" --nas-name "$nas_name" >/dev/null

cat > "$var/stack.env" <<ENV
PROISP_DATABASE_URL=postgres://proisp@127.0.0.1:$pg_port/proisp
PROISP_REDIS_URL=redis://127.0.0.1:$redis_port
PROISP_KEY_FILE=$var/secret.key
PROISP_PG_DATA=$var/pg
PROISP_PG_PORT=$pg_port
PROISP_REDIS_DIR=$var/redis
PROISP_REDIS_PORT=$redis_port
PROISP_NATS_URL=nats://relay:$PROISP_NATS_RELAY_PASSWORD@127.0.0.1:$nats_port
PROISP_NATS_BILLING_URL=nats://billing:$PROISP_NATS_BILLING_PASSWORD@127.0.0.1:$nats_port
PROISP_COMMANDS__NATS_URL=nats://adminapi:$PROISP_NATS_ADMINAPI_PASSWORD@127.0.0.1:$nats_port
PROISP_COMMANDS__CREDENTIAL=billing
PROISP_NATS_DIR=$var/nats
PROISP_RELAY__LISTEN=127.0.0.1:$events_port
PROISP_LISTEN__AUTH=0.0.0.0:$auth_port
PROISP_LISTEN__ACCT=0.0.0.0:$acct_port
PROISP_ACCOUNTING__SPOOL_DIR=$var/spool
PROISP_LISTEN__METRICS=127.0.0.1:$metrics_port
PROISP_HTTP__LISTEN=127.0.0.1:$api_port
PROISP_DASHBOARD__RADIUSD_HEALTH='["127.0.0.1:$metrics_port"]'
PROISP_TOKENS__JWT_KEY_FILE=$var/jwt.key
PROISP_RADSEC__LISTEN=127.0.0.1:$radsec_port
PROISP_RADSEC__CA=$pki/ca.pem
PROISP_RADSEC__CERTIFICATE=$pki/server.pem
PROISP_RADSEC__KEY=$pki/server.key
# Issue 22's webhooks: the demo delivers to receivers on 127.0.0.1 (adminapi and
# proisp-events both read this).
PROISP_WEBHOOKS__ALLOW_PRIVATE_DESTINATIONS=true
ENV
set -a; . "$var/stack.env"; set +a

say "migrating and seeding ($subscribers subscribers, NAS $nas)"
"$bin/proisp-adminapi" migrate
"$bin/proisp-adminapi" seed --subscribers "$subscribers" --nas "$nas" --secret "$secret" \
  --tls-identity "$nas_name"

# The demo admin: role admin, which login.totp_required_roles (["superadmin"] by
# default) does not hold to two-factor login. Created once; its password is kept.
if [ ! -s "$var/demo-admin.password" ]; then
  (umask 077; head -c 18 /dev/urandom | base64 | tr '+/' '-_' > "$var/demo-admin.password")
fi
demo_password=$(cat "$var/demo-admin.password")
if ! out=$("$bin/proisp-adminapi" create-admin --username "$demo_admin" --role admin \
    < "$var/demo-admin.password" 2>&1); then
  case "$out" in
    *"already taken"*) ;;
    *) echo "$out" >&2; exit 1 ;;
  esac
fi

cat > "$var/radsecproxy.conf" <<CONF
# radsecproxy in front of ProISP's RadSec listener (written by make run).
ListenUDP 127.0.0.1:11812
client local {
    host 127.0.0.1
    type udp
    secret $secret
}
tls demo {
    CACertificateFile $pki/ca.pem
    CertificateFile $pki/nas.pem
    CertificateKeyFile $pki/nas.key
}
server proisp {
    host 127.0.0.1
    port $radsec_port
    type tls
    tls demo
    secret radsec
    StatusServer on
}
realm * {
    server proisp
}
CONF

cat <<MSG

ProISP is starting. Try it from another terminal:

  echo 'User-Name = "user000001", User-Password = "pw000001", Message-Authenticator = 0x00' \\
    | radclient -x 127.0.0.1:$auth_port auth $secret

  echo 'Acct-Status-Type = Start, User-Name = "user000001", Acct-Session-Id = "demo-1"' \\
    | radclient -x 127.0.0.1:$acct_port acct $secret

RadSec (RADIUS over TLS) on 127.0.0.1:$radsec_port for the demo NAS's certificate
$pki/nas.pem (secret radsec inside TLS). radsecproxy turns radclient's UDP into RadSec
with the config written to var/radsecproxy.conf (radsecproxy's UDP side on port 11812):

  radsecproxy -f -c $var/radsecproxy.conf
  echo 'User-Name = "user000001", User-Password = "pw000001", Message-Authenticator = 0x00' \\
    | radclient -x 127.0.0.1:11812 auth $secret

Metrics: curl http://127.0.0.1:$metrics_port/metrics    Health: curl http://127.0.0.1:$metrics_port/health

Events (CloudEvents on NATS JetStream, stream PROISP_EVENTS, nats://127.0.0.1:$nats_port):
every subscriber and plan change made through the API, live, read as the demo billing
account (PROISP_NATS_BILLING_URL in var/stack.env):

  PROISP_NATS_URL=$PROISP_NATS_BILLING_URL $bin/proisp-events tail 'proisp.v1.>'

Commands from billing (stream PROISP_COMMANDS; README "Commands from billing"): suspend
user000001 with the nats CLI (github.com/nats-io/natscli; or over REST, below) and see its
proisp.v1.command.result above:

  nats --server $PROISP_NATS_BILLING_URL pub proisp.v1.command.subscriber.suspend \\
    '{"specversion":"1.0","id":"demo-1","source":"/billing","type":"com.example.suspend","subject":"user000001","data":{}}'

  Relay: curl http://127.0.0.1:$events_port/health    curl http://127.0.0.1:$events_port/metrics

  Signed webhooks (destinations on 127.0.0.1 allowed in this demo): with a token from the
  login below, register one (the answer shows its secret once), then test it:
    curl -s -H "Authorization: Bearer \$TOKEN" -H 'Content-Type: application/json' \\
      -d '{"url": "http://127.0.0.1:9000/hook", "events": ["session.stop", "subscriber.suspended"]}' \\
      http://127.0.0.1:$api_port/api/v1/webhooks
    curl -s -X POST -H "Authorization: Bearer \$TOKEN" http://127.0.0.1:$api_port/api/v1/webhooks/1/test

Web console on http://127.0.0.1:$api_port/
Admin API on http://127.0.0.1:$api_port (OpenAPI: /api/v1/openapi.json)
  admin: $demo_admin   password: $demo_password   (role admin; kept in var/demo-admin.password)
  Log in and list subscribers:

  TOKEN=\$(curl -s http://127.0.0.1:$api_port/api/v1/auth/login -H 'Content-Type: application/json' \\
    -d '{"username": "$demo_admin", "password": "$demo_password"}' \\
    | sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p')
  curl -s -H "Authorization: Bearer \$TOKEN" 'http://127.0.0.1:$api_port/api/v1/subscribers?limit=5'

  Billing's commands over REST (a retry with the same Idempotency-Key changes nothing):

  curl -s -H "Authorization: Bearer \$TOKEN" -H 'Idempotency-Key: demo-2' \\
    -H 'Content-Type: application/json' -d '{"username": "user000001", "data": {}}' \\
    http://127.0.0.1:$api_port/api/v1/commands/subscriber/resume

The private instances' URLs are in var/stack.env. Ctrl-C stops everything.

MSG
# Each server runs under a supervisor that starts it again when it exits, as systemd's
# Restart=on-failure does in production: one process ending (a crash, a kill -9 in a fault
# drill) must not take the others down. Ctrl-C or SIGTERM stops everything.
supervise() {
  local name=$1 child="" stopping=0
  shift
  trap 'stopping=1; [ -n "$child" ] && kill -TERM "$child" 2>/dev/null' TERM INT
  while [ "$stopping" = 0 ]; do
    "$@" &
    child=$!
    wait "$child"
    local rc=$?
    # A signal interrupts `wait` before the child has exited: wait for it.
    wait "$child" 2>/dev/null
    rc=${rc:-0}
    [ "$stopping" = 1 ] && break
    say "$name exited ($rc); starting it again in 1 s"
    sleep 1
  done
}
supervise proisp-radiusd "$bin/proisp-radiusd" &
radiusd_pid=$!
supervise proisp-adminapi "$bin/proisp-adminapi" serve &
adminapi_pid=$!
supervise proisp-events "$bin/proisp-events" serve &
events_pid=$!

# Prometheus on the shipped scrape config and rules, and the exporters they scrape, on
# this stack's ports.
start_monitoring() {
  local mon="$var/monitoring"
  mkdir -p "$mon/textfile" "$mon/data"
  sed -e "s/^\(  scrape_interval:\).*/\1 $scrape_interval/" \
    -e "s/127.0.0.1:9812/127.0.0.1:$metrics_port/" -e "s/127.0.0.1:8080/127.0.0.1:$api_port/" \
    -e "s/127.0.0.1:9187/127.0.0.1:$pg_exporter_port/" \
    -e "s/127.0.0.1:9121/127.0.0.1:$redis_exporter_port/" \
    -e "s/127.0.0.1:9100/127.0.0.1:$node_exporter_port/" \
    "$root/monitoring/prometheus.yml" >"$mon/prometheus.yml"
  cp "$root/monitoring/alerts.yml" "$mon/alerts.yml"
  TEXTFILE_DIR="$mon/textfile" "$root/monitoring/textfile-metrics.sh" certs \
    "$pki/server.pem" "$pki/ca.pem"
  DATA_SOURCE_NAME="postgresql://proisp@127.0.0.1:$pg_port/proisp?sslmode=disable" \
    prometheus-postgres-exporter --web.listen-address="127.0.0.1:$pg_exporter_port" \
    >"$mon/postgres-exporter.log" 2>&1 &
  monitoring_pids+=" $!"
  prometheus-redis-exporter -redis.addr="redis://127.0.0.1:$redis_port" \
    -web.listen-address="127.0.0.1:$redis_exporter_port" >"$mon/redis-exporter.log" 2>&1 &
  monitoring_pids+=" $!"
  prometheus-node-exporter --web.listen-address="127.0.0.1:$node_exporter_port" \
    --collector.disable-defaults --collector.textfile \
    --collector.textfile.directory="$mon/textfile" >"$mon/node-exporter.log" 2>&1 &
  monitoring_pids+=" $!"
  prometheus --config.file="$mon/prometheus.yml" --storage.tsdb.path="$mon/data" \
    --web.listen-address="127.0.0.1:$prometheus_port" >"$mon/prometheus.log" 2>&1 &
  monitoring_pids+=" $!"
  cat <<MSG

Prometheus on http://127.0.0.1:$prometheus_port (targets: /targets, alerts: /alerts), on
monitoring/prometheus.yml and alerts.yml as copied to $mon with this stack's ports;
logs in $mon. Try: rate(radius_auth_requests_total[1m])

MSG
}
[ "$monitoring" = 1 ] && start_monitoring
wait "$radiusd_pid" "$adminapi_pid" "$events_pid"
