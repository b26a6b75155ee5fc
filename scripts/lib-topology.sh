# Shell functions of the high-availability topology on one machine, shared by
# scripts/topology.sh (`make topology`) and scripts/topology-test.sh (`make
# topology-test`). Source it after scripts/lib-stack.sh, with `root` set. Everything lives
# under $var (./var/topology), on loopback ports of its own:
#
#   PostgreSQL primary ($var/pg-primary) + streaming replica ($var/pg-replica, made with
#     pg_basebackup -R), synchronous: a commit is acknowledged once the replica has it on
#     disk, so a promotion loses nothing acknowledged
#   Redis Cluster: 3 masters + 3 replicas ($var/redis/N)
#   proisp-radiusd a and b (UDP auth/acct, metrics + /health, RadSec behind HAProxy; each
#     its own spool), proisp-adminapi a and b
#   HAProxy (haproxy/haproxy.cfg moved to these ports: the API over HTTP, RadSec over TCP)
#
# Every process started is remembered in $var/pids (name, pid, start time), so that a run
# killed with SIGKILL is cleaned up by the next one (topo_stop).

var=${var:-$root/var/topology}
topo_pids="$var/pids"
nas_name=nas1.proisp.test
secret=${SECRET:-testing123}
subscribers=${SUBSCRIBERS:-2000}
demo_admin=${DEMO_ADMIN:-demo}
# How long a Redis Cluster node may be unreachable before its replica takes over
# (cluster-node-timeout). Redis's default is 15 s; 2 s suits loopback.
redis_node_timeout_ms=${REDIS_NODE_TIMEOUT_MS:-2000}

# scripts/deps.sh when a program the topology runs is missing (it also sets up `make
# api-check`'s Python tools, which the topology does not need).
topo_deps() {
  local c
  for c in haproxy redis-server redis-cli curl python3 openssl; do
    command -v "$c" >/dev/null || { "$root/scripts/deps.sh"; return; }
  done
  pg_bin >/dev/null || "$root/scripts/deps.sh"
}

# Builds the three binaries (PROFILE=release by default; debug for the short test in
# `make test`, which has built them already) and copies them to $var/bin, where they run
# from (sets $bin): a build while the topology runs must not change what a restarted piece
# runs. With BIN set, the binaries in that directory are taken instead of a build.
#
# A target directory shared with another checkout (CARGO_TARGET_DIR) is a trap: cargo
# names a workspace member's build by its path relative to the workspace, so both
# checkouts build to the same files, and judges freshness by modification times, so one
# may take the other's build of a crate it changed for its own. The linked binaries are
# removed first (cargo links them again from its build of this checkout's feature set)
# and the copy is checked for this branch's loadtest option.
topo_build() {
  local profile=${PROFILE:-release} b
  local out="${CARGO_TARGET_DIR:-$root/target}/$profile"
  local bins=(proisp-radiusd proisp-adminapi proisp-loadtest proisp-events)
  local flags=(--locked --quiet -p proisp-radiusd -p proisp-adminapi -p proisp-loadtest
    -p proisp-events)
  case $profile in
    release) flags+=(--release) ;;
    debug) ;;
    *) echo "PROFILE must be release or debug" >&2; return 2 ;;
  esac
  if [ -n "${BIN:-}" ]; then
    out=$BIN
  else
    for b in "${bins[@]}"; do rm -f "$out/$b"; done
    if [ "$profile" = debug ]; then debug_build; else cargo build "${flags[@]}"; fi
  fi
  mkdir -p "$var/bin"
  # Copied aside, then renamed over the old copy: a run killed earlier may still be
  # running it (busy text), and topo_start stops that one only later.
  for b in "${bins[@]}"; do cp "$out/$b" "$var/bin/$b.new" && mv -f "$var/bin/$b.new" "$var/bin/$b"; done
  bin="$var/bin"
  local help; help=$("$bin/proisp-loadtest" auth --help)
  [[ $help == *--fallback* ]] || {
    echo "$out/proisp-loadtest has no --fallback: built from another checkout? (touch" \
      "loadtest/src/main.rs and run again)" >&2
    return 1
  }
}

# When process $1 started (clock ticks since boot): with the pid, it names one process
# across exec and is never given to another.
topo_started_at() { awk '{ sub(/.*\) /, ""); print $20 }' "/proc/$1/stat" 2>/dev/null; }

# topo_remember NAME PID
topo_remember() { printf '%s %s %s\n' "$1" "$2" "$(topo_started_at "$2")" >>"$topo_pids"; }

# The pid of process NAME, if it is still the one remembered (status 1 otherwise).
topo_pid() {
  local name pid start
  [ -s "$topo_pids" ] || return 1
  while read -r name pid start; do
    if [ "$name" = "$1" ] && [ -n "$start" ] && [ "$(topo_started_at "$pid")" = "$start" ]; then
      echo "$pid"
      return 0
    fi
  done < <(tac "$topo_pids")
  return 1
}

# N distinct TCP and UDP ports free on 127.0.0.1, all held until every one is chosen;
# below the kernel's ephemeral range, so that no outgoing connection (of the topology's
# own clients, or anyone's) takes one as its source port before its server binds it.
free_ports() {
  python3 - "$1" <<'PY'
import random, socket, sys
low = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
candidates = list(range(10000, low if low > 12000 else 32768))
random.shuffle(candidates)
held, ports = [], []
for port in candidates:
    if len(ports) == int(sys.argv[1]):
        break
    try:
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        u.bind(("127.0.0.1", port))
        t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        t.bind(("127.0.0.1", port))
    except OSError:
        continue
    held += [u, t]
    ports.append(port)
if len(ports) < int(sys.argv[1]):
    sys.exit("not enough free ports below the ephemeral range")
print(" ".join(map(str, ports)))
PY
}

# Chooses every port and writes $var/topology.env (sourced by the test and by a user's
# shell): ports, URLs, paths.
topo_ports() {
  local p
  read -r -a p <<<"$(free_ports 38)"
  cat >"$var/topology.env" <<ENV
PG_PRIMARY_PORT=${p[0]}
PG_REPLICA_PORT=${p[1]}
REDIS_PORTS="${p[2]} ${p[3]} ${p[4]} ${p[5]} ${p[6]} ${p[7]}"
REDIS_BUS_PORTS="${p[8]} ${p[9]} ${p[10]} ${p[11]} ${p[12]} ${p[13]}"
RADIUSD_A_AUTH=${p[14]}
RADIUSD_A_ACCT=${p[15]}
RADIUSD_A_METRICS=${p[16]}
RADIUSD_A_RADSEC=${p[17]}
RADIUSD_B_AUTH=${p[18]}
RADIUSD_B_ACCT=${p[19]}
RADIUSD_B_METRICS=${p[20]}
RADIUSD_B_RADSEC=${p[21]}
ADMINAPI_A=${p[22]}
ADMINAPI_B=${p[23]}
HAPROXY_API=${p[24]}
HAPROXY_RADSEC=${p[25]}
HAPROXY_STATS=${p[26]}
NATS_PORTS="${p[27]} ${p[28]} ${p[29]}"
NATS_CLUSTER_PORTS="${p[30]} ${p[31]} ${p[32]}"
NATS_MONITOR_PORTS="${p[33]} ${p[34]} ${p[35]}"
EVENTS_A=${p[36]}
EVENTS_B=${p[37]}
NATS_URL='nats://127.0.0.1:${p[27]},nats://127.0.0.1:${p[28]},nats://127.0.0.1:${p[29]}'
DATABASE_URL='postgres://proisp@127.0.0.1:${p[0]},127.0.0.1:${p[1]}/proisp?target_session_attrs=read-write'
REPLICA_URL='postgres://proisp_readonly@127.0.0.1:${p[1]}/proisp'
REDIS_URL='redis-cluster://127.0.0.1:${p[2]}?node=127.0.0.1:${p[3]}&node=127.0.0.1:${p[4]}'
TOPOLOGY_VAR=$var
ENV
  topo_load_env
}

topo_load_env() {
  # shellcheck disable=SC1091
  . "$var/topology.env"
  read -r -a redis_ports <<<"$REDIS_PORTS"
  read -r -a redis_bus_ports <<<"$REDIS_BUS_PORTS"
  read -r -a nats_ports <<<"$NATS_PORTS"
  read -r -a nats_cluster_ports <<<"$NATS_CLUSTER_PORTS"
  read -r -a nats_monitor_ports <<<"$NATS_MONITOR_PORTS"
}

# SIGTERM (then SIGKILL after 5 s) to every process remembered that is still the one
# remembered (Redis nodes included), then PostgreSQL's two clusters stopped by pg_ctl.
topo_stop() {
  local name pid start alive=()
  if [ -s "$topo_pids" ]; then
    while read -r name pid start; do
      [ -n "$start" ] && [ "$(topo_started_at "$pid")" = "$start" ] && alive+=("$pid")
    done <"$topo_pids"
  fi
  if [ ${#alive[@]} -gt 0 ]; then
    kill -TERM "${alive[@]}" 2>/dev/null || true
    local deadline=$((SECONDS + 5)) p
    for p in "${alive[@]}"; do
      while [ "$SECONDS" -lt "$deadline" ] && kill -0 "$p" 2>/dev/null; do sleep 0.1; done
    done
    kill -KILL "${alive[@]}" 2>/dev/null || true
  fi
  : >"$topo_pids"
  local bin d
  bin=$(pg_bin) || return 0
  for d in "$var/pg-primary" "$var/pg-replica"; do
    if [ -s "$d/postmaster.pid" ] && pg_as "$bin/pg_ctl" -D "$d" status >/dev/null 2>&1; then
      pg_as "$bin/pg_ctl" -D "$d" -m fast -w stop >/dev/null 2>&1 || true
    fi
  done
  return 0
}

# psql as the superuser against the cluster on port $1, database $2.
topo_sql() {
  local port=$1 db=$2
  shift 2
  PGOPTIONS="-c client_min_messages=warning" \
    "$(pg_bin)/psql" -h 127.0.0.1 -p "$port" -U proisp -d "$db" -v ON_ERROR_STOP=1 -qtA "$@"
}

topo_pg_start() { # DATADIR PORT
  pg_as "$(pg_bin)/pg_ctl" -D "$1" -l "$var/run/$(basename "$1").log" -w -t 60 \
    -o "-p $2 -k $var/run -c listen_addresses=127.0.0.1" start >/dev/null
}

replica_streaming() {
  [ "$(topo_sql "$PG_PRIMARY_PORT" postgres -c \
    "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming' AND sync_state = 'sync'")" = 1 ]
}

# The primary, then the replica as a copy of it (pg_basebackup -R: standby.signal and
# primary_conninfo), then synchronous replication switched on at the primary only (set
# after the copy, so the replica, once promoted, does not wait for a standby of its own).
topo_postgres() {
  local bin; bin=$(pg_bin)
  mkdir -p "$var/run" "$var/pg-primary" "$var/pg-replica"
  chmod 700 "$var/pg-primary" "$var/pg-replica"
  # PostgreSQL refuses to run as root: as root, its directories go to the postgres user.
  [ "$(id -u)" != 0 ] || chown postgres "$var/run" "$var/pg-primary" "$var/pg-replica"
  say "PostgreSQL primary on 127.0.0.1:$PG_PRIMARY_PORT"
  pg_as "$bin/initdb" -D "$var/pg-primary" -U proisp --auth=trust --encoding=UTF8 >/dev/null
  cat >>"$var/pg-primary/postgresql.conf" <<CONF
# ProISP topology (scripts/lib-topology.sh)
wal_level = replica
max_wal_senders = 5
hot_standby = on
wal_keep_size = '256MB'
max_connections = 200
CONF
  topo_pg_start "$var/pg-primary" "$PG_PRIMARY_PORT"
  pg_as "$bin/createdb" -h 127.0.0.1 -p "$PG_PRIMARY_PORT" -U proisp proisp
  say "PostgreSQL replica on 127.0.0.1:$PG_REPLICA_PORT (pg_basebackup -R)"
  pg_as "$bin/pg_basebackup" -h 127.0.0.1 -p "$PG_PRIMARY_PORT" -U proisp \
    -D "$var/pg-replica" -R -X stream -c fast
  topo_pg_start "$var/pg-replica" "$PG_REPLICA_PORT"
  topo_sql "$PG_PRIMARY_PORT" postgres -c "ALTER SYSTEM SET synchronous_standby_names = '*'" \
    -c "SELECT pg_reload_conf()" >/dev/null
  wait_for 30 "the replica to stream synchronously" replica_streaming
}

# The read-only role of adminapi's replica URL (trust authentication on loopback: no
# password to set).
topo_readonly_role() {
  topo_sql "$PG_PRIMARY_PORT" proisp -f "$root/sql/roles/readonly.sql" >/dev/null
}

redis_cluster_ok() {
  [ "$(redis-cli -p "$1" cluster info 2>/dev/null | tr -d '\r' |
    sed -n 's/^cluster_state://p')" = ok ]
}

# Every node says ok and sees three masters (the roles spread by gossip after the
# cluster is made).
redis_all_ok() {
  local port
  for port in "${redis_ports[@]}"; do
    redis_cluster_ok "$port" || return 1
    [ "$(redis_masters "$port" | wc -l)" = 3 ] || return 1
  done
}

# Six nodes, cluster-enabled, their bus on ports of their own (cluster-port: the default,
# port + 10000, may be taken or past 65535); then redis-cli --cluster create with one
# replica per master.
topo_redis() {
  say "Redis Cluster on 127.0.0.1:${redis_ports[*]} (3 masters, 3 replicas)"
  local i port dir
  for i in 0 1 2 3 4 5; do
    port=${redis_ports[$i]}
    dir="$var/redis/$port"
    mkdir -p "$dir"
    cat >"$dir/redis.conf" <<CONF
port $port
bind 127.0.0.1
cluster-enabled yes
cluster-port ${redis_bus_ports[$i]}
cluster-config-file $dir/nodes.conf
cluster-node-timeout $redis_node_timeout_ms
dir $dir
save ""
appendonly no
logfile $dir/redis.log
CONF
    redis-server "$dir/redis.conf" >/dev/null 2>&1 &
    topo_remember "redis-$port" "$!"
  done
  for port in "${redis_ports[@]}"; do
    wait_for 10 "Redis on $port" redis-cli -p "$port" ping
  done
  local nodes=()
  for port in "${redis_ports[@]}"; do nodes+=("127.0.0.1:$port"); done
  redis-cli --cluster create "${nodes[@]}" --cluster-replicas 1 --cluster-yes >"$var/redis/create.log" 2>&1
  wait_for 30 "the Redis Cluster to be ok on every node" redis_all_ok
}

# The ports of the Redis Cluster's masters that are up, from CLUSTER NODES as node $1 sees it.
redis_masters() {
  redis-cli -p "$1" cluster nodes 2>/dev/null |
    awk '$3 ~ /master/ && $3 !~ /fail/ { split($2, a, "[:@]"); print a[2] }' | sort -n
}

write_radiusd_config() { # NAME AUTH ACCT METRICS RADSEC
  local name=$1
  mkdir -p "$var/spool-$name"
  cat >"$var/radiusd-$name.toml" <<TOML
# proisp-radiusd $name of the topology (scripts/lib-topology.sh)
key_file = "$var/secret.key"

[listen]
auth = "127.0.0.1:$2"
acct = "127.0.0.1:$3"
metrics = "127.0.0.1:$4"

[database]
url = "$DATABASE_URL"

[redis]
url = "$REDIS_URL"

[accounting]
spool_dir = "$var/spool-$name"

[radsec]
listen = "127.0.0.1:$5"
ca = "$var/pki/ca.pem"
certificate = "$var/pki/server.pem"
key = "$var/pki/server.key"
# HAProxy, which sends a PROXY v2 header naming the NAS.
proxy_from = ["127.0.0.1/32"]

[log]
level = "info"
TOML
}

write_adminapi_config() { # NAME PORT
  cat >"$var/adminapi-$1.toml" <<TOML
# proisp-adminapi $1 of the topology (scripts/lib-topology.sh)
key_file = "$var/secret.key"

[database]
url = "$DATABASE_URL"
# Reports, search and the dashboard: from the replica while it is at most
# replica_max_lag (5 s) behind, else from the primary.
replica_url = "$REPLICA_URL"

[redis]
url = "$REDIS_URL"

[http]
listen = "127.0.0.1:$2"
# HAProxy: its X-Forwarded-For is believed.
trusted_proxies = ["127.0.0.1/32"]

[tokens]
jwt_key_file = "$var/jwt.key"

[rate_limit]
# Every client of the test comes from 127.0.0.1.
requests_per_minute = 0

[log]
level = "info"
TOML
}

# A NATS cluster of three with JetStream (the stream PROISP_EVENTS at 3 replicas, made by
# the relays): node N (1-3) on ${nats_ports[N-1]}, routes to the other two, monitoring on
# ${nats_monitor_ports[N-1]}. Loopback only, without accounts (make run's single server
# has the users and permissions).
write_nats_config() { # N
  local n=$1 i routes=()
  for i in 0 1 2; do
    [ "$i" = $((n - 1)) ] || routes+=("\"nats-route://127.0.0.1:${nats_cluster_ports[$i]}\"")
  done
  cat >"$var/nats-$n.conf" <<CONF
# nats-server $n of the topology (scripts/lib-topology.sh)
server_name: proisp-nats-$n
listen: 127.0.0.1:${nats_ports[$((n - 1))]}
http: 127.0.0.1:${nats_monitor_ports[$((n - 1))]}
# An explicit JetStream budget: unset, it follows the free disk (scripts/lib-stack.sh).
jetstream { store_dir: "$var/nats-$n", max_file_store: 64G }
cluster {
  name: proisp
  listen: 127.0.0.1:${nats_cluster_ports[$((n - 1))]}
  routes: [$(IFS=,; echo "${routes[*]}")]
}
CONF
}

# Node N answers /healthz with JetStream up (in a cluster: its meta group has a leader).
nats_healthy() { curl -sf --max-time 1 "http://127.0.0.1:${nats_monitor_ports[$(($1 - 1))]}/healthz" >/dev/null; }

start_nats_node() { # N
  mkdir -p "$var/nats-$1"
  "$(nats_bin)" -c "$var/nats-$1.conf" >>"$var/nats-$1.log" 2>&1 &
  topo_remember "nats-$1" "$!"
}

topo_nats() {
  local n
  say "NATS cluster of three (JetStream) on 127.0.0.1:${nats_ports[*]}"
  for n in 1 2 3; do
    write_nats_config "$n"
    start_nats_node "$n"
  done
  for n in 1 2 3; do
    wait_for 60 "nats-server $n healthy" nats_healthy "$n" || {
      tail -n 20 "$var/nats-$n.log" >&2
      return 1
    }
  done
}

# Messages in the stream PROISP_EVENTS, as node N's monitoring reports it.
stream_messages() { # N
  curl -sf --max-time 2 "http://127.0.0.1:${nats_monitor_ports[$(($1 - 1))]}/jsz?streams=true" |
    python3 -c '
import json, sys
jsz = json.load(sys.stdin)
for account in jsz.get("account_details") or []:
    for stream in account.get("stream_detail") or []:
        if stream["name"] == "PROISP_EVENTS":
            print(stream["state"]["messages"])
            sys.exit(0)
sys.exit(1)'
}

events_healthy() { curl -sf --max-time 1 "http://127.0.0.1:$1/health" >/dev/null; }

# proisp-events a or b: both relay the outbox (one publishes, one waits as a standby).
start_events() { # a|b
  local name=$1 port
  [ "$name" = a ] && port=$EVENTS_A || port=$EVENTS_B
  PROISP_DATABASE_URL="$DATABASE_URL" PROISP_NATS_URL="$NATS_URL" PROISP_STREAM__REPLICAS=3 \
    PROISP_KEY_FILE="$var/secret.key" \
    PROISP_RELAY__LISTEN="127.0.0.1:$port" RUST_LOG=info \
    "$bin/proisp-events" serve >>"$var/events-$name.log" 2>&1 &
  topo_remember "events-$name" "$!"
  wait_for 60 "proisp-events $name /health" events_healthy "$port" || {
    tail -n 20 "$var/events-$name.log" >&2
    return 1
  }
}

radiusd_healthy() { curl -sf --max-time 1 "http://127.0.0.1:$1/health" >/dev/null; }
adminapi_healthy() { curl -sf --max-time 1 "http://127.0.0.1:$1/health" >/dev/null; }

start_radiusd() { # a|b
  local name=$1 metrics
  [ "$name" = a ] && metrics=$RADIUSD_A_METRICS || metrics=$RADIUSD_B_METRICS
  "$bin/proisp-radiusd" --config "$var/radiusd-$name.toml" >>"$var/radiusd-$name.log" 2>&1 &
  topo_remember "radiusd-$name" "$!"
  wait_for 30 "proisp-radiusd $name /health" radiusd_healthy "$metrics" || {
    tail -n 20 "$var/radiusd-$name.log" >&2
    return 1
  }
}

start_adminapi() { # a|b
  local name=$1 port
  [ "$name" = a ] && port=$ADMINAPI_A || port=$ADMINAPI_B
  "$bin/proisp-adminapi" --config "$var/adminapi-$name.toml" serve >>"$var/adminapi-$name.log" 2>&1 &
  topo_remember "adminapi-$name" "$!"
  wait_for 30 "proisp-adminapi $name /health" adminapi_healthy "$port" || {
    tail -n 20 "$var/adminapi-$name.log" >&2
    return 1
  }
}

# haproxy/haproxy.cfg with its addresses moved to the topology's ports, its log to
# standard error and its admin socket under $var: every edit must apply exactly once, so
# a change to the shipped file that this copy would miss stops the topology instead.
write_haproxy_config() {
  python3 - "$root/haproxy/haproxy.cfg" "$var/haproxy.cfg" <<PY
import sys
cfg = open(sys.argv[1]).read()
edits = [
    ("    log /dev/log local0\n", "    log stderr format short local0\n"),
    ("    chroot /var/lib/haproxy\n", ""),
    ("    user haproxy\n", ""),
    ("    group haproxy\n", ""),
    ("    stats socket /run/haproxy/admin.sock mode 660 level admin\n",
     "    stats socket $var/run/haproxy.sock mode 600 level admin\n"),
    # Every check result in the log: when a server went down, and why.
    ("    option httpchk GET /health\n", "    option httpchk GET /health\n    option log-health-checks\n"),
    ("    bind :8080\n", "    bind 127.0.0.1:$HAPROXY_API\n"),
    ("    bind 127.0.0.1:8404\n", "    bind 127.0.0.1:$HAPROXY_STATS\n"),
    (" adminapi1 10.0.0.11:8080 ", " adminapi1 127.0.0.1:$ADMINAPI_A "),
    (" adminapi2 10.0.0.12:8080 ", " adminapi2 127.0.0.1:$ADMINAPI_B "),
    ("    bind :2083\n", "    bind 127.0.0.1:$HAPROXY_RADSEC\n"),
    (" radiusd1 10.0.0.11:2083 send-proxy-v2 check port 9812\n",
     " radiusd1 127.0.0.1:$RADIUSD_A_RADSEC send-proxy-v2 check port $RADIUSD_A_METRICS\n"),
    (" radiusd2 10.0.0.12:2083 send-proxy-v2 check port 9812\n",
     " radiusd2 127.0.0.1:$RADIUSD_B_RADSEC send-proxy-v2 check port $RADIUSD_B_METRICS\n"),
]
for old, new in edits:
    if cfg.count(old) != 1:
        sys.exit(f"haproxy/haproxy.cfg changed: the topology expects {old.strip()!r} once")
    cfg = cfg.replace(old, new)
open(sys.argv[2], "w").write("# Written by scripts/lib-topology.sh from haproxy/haproxy.cfg\n" + cfg)
PY
  haproxy -c -q -f "$var/haproxy.cfg"
}

# HAProxy's view of server $1/$2 (backend/server): UP, DOWN, ...
haproxy_status() {
  curl -sf --max-time 1 "http://127.0.0.1:$HAPROXY_STATS/stats;csv" |
    awk -F, -v b="$1" -v s="$2" '$1 == b && $2 == s { print $18 }'
}
haproxy_is() { [ "$(haproxy_status "$1" "$2")" = "$3" ]; }

start_haproxy() {
  haproxy -db -f "$var/haproxy.cfg" >>"$var/haproxy.log" 2>&1 &
  topo_remember haproxy "$!"
  local s
  for s in adminapi/adminapi1 adminapi/adminapi2 radsec/radiusd1 radsec/radiusd2; do
    wait_for 30 "HAProxy to see $s UP" haproxy_is "${s%/*}" "${s#*/}" UP || {
      tail -n 5 "$var/haproxy.log" >&2
      return 1
    }
  done
}

# Migrations, demo data (NAS 127.0.0.1 and its RadSec identity), the demo admin and the
# read-only role, on the primary.
topo_seed() {
  local env=(env PROISP_DATABASE_URL="$DATABASE_URL" PROISP_KEY_FILE="$var/secret.key")
  say "migrating and seeding ($subscribers subscribers, NAS 127.0.0.1)"
  "${env[@]}" "$bin/proisp-adminapi" migrate >"$var/setup.log" 2>&1
  "${env[@]}" "$bin/proisp-adminapi" seed --subscribers "$subscribers" --nas 127.0.0.1 \
    --secret "$secret" --tls-identity "$nas_name" >>"$var/setup.log" 2>&1
  if [ ! -s "$var/demo-admin.password" ]; then
    (umask 077; head -c 18 /dev/urandom | base64 | tr '+/' '-_' >"$var/demo-admin.password")
  fi
  "${env[@]}" "$bin/proisp-adminapi" create-admin --username "$demo_admin" --role admin \
    <"$var/demo-admin.password" >>"$var/setup.log" 2>&1
  topo_readonly_role
}

# The whole topology, started and healthy. Needs $bin (the release binaries).
topo_start() {
  mkdir -p "$var"
  touch "$topo_pids"
  topo_stop
  rm -rf "$var/pg-primary" "$var/pg-replica" "$var/redis" "$var"/spool-* "$var/run" "$var"/*.log \
    "$var"/nats-*
  topo_ports
  [ -s "$var/secret.key" ] || "$bin/proisp-adminapi" gen-key >"$var/secret.key"
  [ -s "$var/jwt.key" ] || "$bin/proisp-adminapi" gen-key >"$var/jwt.key"
  chmod 600 "$var/secret.key" "$var/jwt.key"
  "$root/scripts/pki.sh" "$var/pki" --nas-name "$nas_name" >/dev/null
  topo_postgres
  topo_redis
  topo_nats
  topo_seed
  write_radiusd_config a "$RADIUSD_A_AUTH" "$RADIUSD_A_ACCT" "$RADIUSD_A_METRICS" "$RADIUSD_A_RADSEC"
  write_radiusd_config b "$RADIUSD_B_AUTH" "$RADIUSD_B_ACCT" "$RADIUSD_B_METRICS" "$RADIUSD_B_RADSEC"
  write_adminapi_config a "$ADMINAPI_A"
  write_adminapi_config b "$ADMINAPI_B"
  write_haproxy_config
  say "proisp-radiusd a and b, proisp-adminapi a and b"
  start_radiusd a
  start_radiusd b
  start_adminapi a
  start_adminapi b
  say "proisp-events a and b (the outbox's relays; one publishes)"
  start_events a
  start_events b
  say "HAProxy: API on 127.0.0.1:$HAPROXY_API, RadSec on 127.0.0.1:$HAPROXY_RADSEC"
  start_haproxy
}

# What runs where.
topo_table() {
  local fmt='  %-24s %-34s %s\n'
  printf "$fmt" piece address notes
  printf "$fmt" "PostgreSQL primary" "127.0.0.1:$PG_PRIMARY_PORT" "$var/pg-primary (synchronous_standby_names = '*')"
  printf "$fmt" "PostgreSQL replica" "127.0.0.1:$PG_REPLICA_PORT" "$var/pg-replica (hot standby; promote: pg_ctl promote -D …)"
  local port role
  for port in "${redis_ports[@]}"; do
    role=$(redis-cli -p "$port" role 2>/dev/null | head -n 1)
    printf "$fmt" "Redis Cluster node" "127.0.0.1:$port" "$role"
  done
  local n
  for n in 1 2 3; do
    printf "$fmt" "NATS node $n" "nats://127.0.0.1:${nats_ports[$((n - 1))]}" "JetStream, monitoring :${nats_monitor_ports[$((n - 1))]}, $var/nats-$n.log"
  done
  printf "$fmt" "proisp-events a" "http://127.0.0.1:$EVENTS_A/health" "$(curl -s --max-time 1 "http://127.0.0.1:$EVENTS_A/health"), $var/events-a.log"
  printf "$fmt" "proisp-events b" "http://127.0.0.1:$EVENTS_B/health" "$(curl -s --max-time 1 "http://127.0.0.1:$EVENTS_B/health"), $var/events-b.log"
  printf "$fmt" "proisp-radiusd a" "udp 127.0.0.1:$RADIUSD_A_AUTH/$RADIUSD_A_ACCT" "metrics+health :$RADIUSD_A_METRICS, RadSec :$RADIUSD_A_RADSEC, $var/radiusd-a.log"
  printf "$fmt" "proisp-radiusd b" "udp 127.0.0.1:$RADIUSD_B_AUTH/$RADIUSD_B_ACCT" "metrics+health :$RADIUSD_B_METRICS, RadSec :$RADIUSD_B_RADSEC, $var/radiusd-b.log"
  printf "$fmt" "proisp-adminapi a" "http://127.0.0.1:$ADMINAPI_A" "$var/adminapi-a.log"
  printf "$fmt" "proisp-adminapi b" "http://127.0.0.1:$ADMINAPI_B" "$var/adminapi-b.log"
  printf "$fmt" "HAProxy admin API" "http://127.0.0.1:$HAPROXY_API" "round robin over adminapi a, b"
  printf "$fmt" "HAProxy RadSec" "tcp 127.0.0.1:$HAPROXY_RADSEC" "leastconn over radiusd a, b (PROXY v2)"
  printf "$fmt" "HAProxy stats" "http://127.0.0.1:$HAPROXY_STATS/stats" ""
}
