# Shell functions shared by scripts/stack.sh (`make run`) and scripts/faults.sh (`make
# faults`, `make soak`): private PostgreSQL and Redis instances under a directory of their
# own, and bounded waits. Source it after setting:
#   var         the directory (PostgreSQL in $var/pg, Redis in $var/redis, logs in $var/run)
#   pg_port     PostgreSQL's port on 127.0.0.1
#   redis_port  Redis's port on 127.0.0.1
#   nats_port   nats-server's port on 127.0.0.1 (start_nats, stop_nats: make run only)

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# debug_build: the debug binaries (proisp-radiusd, proisp-adminapi, proisp-loadtest in
# target/debug) as `make unit` builds them. The tests' build unifies the dev-dependencies'
# features in (tokio's test-util and process, serde's, regex's …); `cargo build -p …`
# resolves without them and so rebuilds most of the dependency tree a second time, and
# its binaries replace the tests' ones. `cargo test --no-run` is the tests' own build:
# after `make unit` it only checks that all is fresh.
debug_build() { cargo test --no-run --locked --quiet --workspace --all-features; }

# (Every return here names its status: a bare `return` in a function called from a trap
# handler returns the status the shell had before the trap, so on the way out of a failed
# or interrupted run the cleanup took PostgreSQL for absent and left it running.)
pg_bin() {
  local d
  for d in /usr/lib/postgresql/*/bin; do
    [ -x "$d/initdb" ] && { echo "$d"; return 0; }
  done
  return 1
}

# Runs a command in a session of its own and waits for it. Ctrl-C in a terminal signals
# the whole foreground process group: a pg_ctl or redis-cli caught by it half-way (runuser
# answers SIGINT by killing its child) left PostgreSQL running after `make run` stopped.
# Out of that group, and with setsid's waiting parent deaf to it too (else the script's
# cleanup could look for a PostgreSQL still being started), starting and stopping the
# servers always runs to its end; the script's trap runs once it has.
detached() { (trap '' INT QUIT; exec setsid -w "$@"); }

# PostgreSQL refuses to run as root: run it as the postgres user the package creates.
pg_as() {
  if [ "$(id -u)" = 0 ]; then detached runuser -u postgres -- "$@"; else detached "$@"; fi
}

# psql as the cluster's superuser against database $1 (the rest are psql's arguments;
# a client, so root may run it).
pg_sql() {
  local db=$1
  shift
  PGOPTIONS="-c client_min_messages=warning" \
    "$(pg_bin)/psql" -h 127.0.0.1 -p "$pg_port" -U proisp -d "$db" -v ON_ERROR_STOP=1 -qtA "$@"
}

start_postgres() {
  local bin; bin=$(pg_bin)
  mkdir -p "$var/run"
  if [ ! -s "$var/pg/PG_VERSION" ]; then
    say "creating a private PostgreSQL cluster in $var/pg"
    mkdir -p "$var/pg"
    [ "$(id -u)" = 0 ] && chown postgres "$var/pg" "$var/run"
    pg_as "$bin/initdb" -D "$var/pg" -U proisp --auth=trust --encoding=UTF8 >/dev/null
  fi
  [ "$(id -u)" = 0 ] && chown postgres "$var/run"
  # An earlier run killed without its cleanup (SIGKILL, a lost terminal) leaves ours
  # running: stop it, or the start below fails on the lock it holds.
  if pg_as "$bin/pg_ctl" -D "$var/pg" status >/dev/null 2>&1; then
    say "stopping the PostgreSQL an earlier run left in $var/pg"
    pg_as "$bin/pg_ctl" -D "$var/pg" -m fast -w stop >/dev/null
  fi
  say "starting PostgreSQL on 127.0.0.1:$pg_port"
  pg_as "$bin/pg_ctl" -D "$var/pg" -l "$var/run/postgresql.log" -w \
    -o "-p $pg_port -k $var/run -c listen_addresses=127.0.0.1" start >/dev/null
  pg_sql postgres -c "SELECT 1 FROM pg_database WHERE datname = 'proisp'" | grep -q 1 ||
    pg_as "$bin/createdb" -h 127.0.0.1 -p "$pg_port" -U proisp proisp
}

# Stops the private PostgreSQL if it runs (asked of pg_ctl, not guessed from the pid
# file); fails, saying so, only if it still runs afterwards.
stop_postgres() {
  local bin; bin=$(pg_bin) || return 0
  pg_as "$bin/pg_ctl" -D "$var/pg" status >/dev/null 2>&1 || return 0
  say "stopping PostgreSQL"
  pg_as "$bin/pg_ctl" -D "$var/pg" -m fast -w -t 60 stop >/dev/null 2>&1 ||
    pg_as "$bin/pg_ctl" -D "$var/pg" -m immediate -w stop >/dev/null 2>&1
  if pg_as "$bin/pg_ctl" -D "$var/pg" status >/dev/null 2>&1; then
    echo "PostgreSQL in $var/pg still runs: $bin/pg_ctl -D $var/pg stop" >&2
    return 1
  fi
  return 0
}

start_redis() {
  mkdir -p "$var/redis"
  say "starting Redis on 127.0.0.1:$redis_port"
  # A bound and eviction policy as tuning/redis.conf.example ships them (at a test's
  # size): the dashboard's memory panel reads used / max.
  detached redis-server --port "$redis_port" --bind 127.0.0.1 --dir "$var/redis" --daemonize yes \
    --pidfile "$var/redis.pid" --logfile "$var/redis.log" --save "" --appendonly no \
    --maxmemory 256mb --maxmemory-policy volatile-lru
}

# Stops the private Redis if it runs: SHUTDOWN, then its pid from the pid file if it
# did not answer; fails, saying so, only if it still runs afterwards.
stop_redis() {
  local pid
  pid=$(cat "$var/redis.pid" 2>/dev/null) || return 0
  kill -0 "$pid" 2>/dev/null || return 0
  say "stopping Redis"
  detached redis-cli -p "$redis_port" shutdown nosave >/dev/null 2>&1 ||
    kill -TERM "$pid" 2>/dev/null
  wait_for 10 "Redis (pid $pid) to exit" sh -c "! kill -0 $pid" && return 0
  kill -KILL "$pid" 2>/dev/null
  echo "Redis (pid $pid) did not stop in 10 s: killed" >&2
  return 1
}

nats_bin() { command -v nats-server 2>/dev/null || echo /usr/sbin/nats-server; }

# A private nats-server with JetStream (file store in $var/nats), in a session of its own
# so a terminal's Ctrl-C reaches it only through the cleanup.
# The passwords of the NATS users of events/nats-users.conf (relay, billing, adminapi):
# random, generated once into $var/nats-passwords.env (mode 0600) and kept, so the URLs in
# var/stack.env stay valid across runs; exported for nats-server, which reads them. Each
# starts with a letter: nats-server reads a variable's value as a number when it looks
# like one (sixteen decimal digits, `1e2…`), and then refuses to start.
nats_passwords() {
  local f="$var/nats-passwords.env" user
  if [ ! -s "$f" ]; then
    (
      umask 077
      for user in RELAY BILLING ADMINAPI; do
        echo "PROISP_NATS_${user}_PASSWORD=p$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
      done > "$f"
    )
  fi
  set -a; . "$f"; set +a
}

# Beside this file, wherever the sourcing script is (it need not set $root).
nats_users_conf="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/events/nats-users.conf"

start_nats() {
  mkdir -p "$var/nats"
  nats_passwords
  say "starting nats-server (JetStream) on 127.0.0.1:$nats_port"
  # Its configuration: JetStream's store with an explicit budget (left unset, nats-server
  # takes it from the disk's free space, and with less than ~15 GB free it refuses the
  # streams' reservations), then the users and subject permissions of
  # events/nats-users.conf (copied in: nats-server includes only relative paths). The
  # flags after it set the listen address; "-p <port> -js" stays together
  # (stack-stop-check finds the server by it).
  {
    echo "jetstream { store_dir: \"$var/nats\", max_file_store: 64G }"
    cat "$nats_users_conf"
  } > "$var/nats.conf"
  setsid "$(nats_bin)" -c "$var/nats.conf" \
    -a 127.0.0.1 -p "$nats_port" -js \
    -P "$var/nats.pid" -l "$var/nats.log" </dev/null >/dev/null 2>&1 &
  # Its pid at once (nats-server writes the same one when it is up): a Ctrl-C before
  # then must still find it to stop. setsid execs in place here: a background job of a
  # script leads no process group.
  echo $! > "$var/nats.pid"
  wait_for 10 "nats-server on 127.0.0.1:$nats_port" \
    python3 -c "import socket; s=socket.create_connection(('127.0.0.1', $nats_port), 1); assert s.recv(5) == b'INFO '"
}

# Stops the private nats-server if it runs (its pid file); fails, saying so, only if it
# still runs afterwards.
stop_nats() {
  local pid
  pid=$(cat "$var/nats.pid" 2>/dev/null) || return 0
  kill -0 "$pid" 2>/dev/null || return 0
  say "stopping nats-server"
  kill -TERM "$pid" 2>/dev/null
  wait_for 10 "nats-server (pid $pid) to exit" sh -c "! kill -0 $pid" && return 0
  kill -KILL "$pid" 2>/dev/null
  echo "nats-server (pid $pid) did not stop in 10 s: killed" >&2
  return 1
}

# A port free for both UDP and TCP on 127.0.0.1 (the kernel's choice; nothing holds it
# afterwards, so take it soon).
free_port() {
  python3 - <<'PY'
import socket
while True:
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.bind(("127.0.0.1", 0))
    port = u.getsockname()[1]
    t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        t.bind(("127.0.0.1", port))
    except OSError:
        continue
    print(port)
    break
PY
}

# wait_for SECONDS WHAT COMMAND...: runs COMMAND every 100 ms until it succeeds; fails
# (status 1, with a message naming WHAT) when SECONDS pass first.
wait_for() {
  local limit=$1 what=$2
  shift 2
  local deadline=$((SECONDS + limit))
  until "$@" >/dev/null 2>&1; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      echo "timed out after ${limit} s waiting for $what" >&2
      return 1
    fi
    sleep 0.1
  done
}
