# Shell functions of the disaster-recovery drill (scripts/dr-drill.sh): a private
# PostgreSQL that archives its WAL into a private pgBackRest repository with the shipped
# pgbackrest/ files, its destruction and restore, and proisp-radiusd and proisp-adminapi
# on it. Source it after scripts/lib-stack.sh, with lib-stack's variables set and:
#   root          the source tree
#   bin           the directory of the proisp binaries
#   repo          the pgBackRest repository directory
#   auth_port, acct_port, metrics_port, api_port   radiusd's and adminapi's ports

# pgBackRest runs the shipped pgbackrest.conf.example itself (retention, compression,
# archive-async off, the stanza): only its paths are pointed at the drill's directories,
# by pgBackRest's environment variables, which take precedence over the file. PostgreSQL
# inherits them, so the shipped archive_command works unchanged.
dr_pgbackrest_env() {
  export PGBACKREST_CONFIG="$root/pgbackrest/pgbackrest.conf.example"
  export PGBACKREST_REPO1_PATH="$repo"
  export PGBACKREST_PG1_PATH="$var/pg"
  export PGBACKREST_PG1_PORT="$pg_port"
  export PGBACKREST_PG1_SOCKET_PATH="$var/run"
  export PGBACKREST_PG1_USER=proisp
  export PGBACKREST_LOG_PATH="$var/pgbackrest-log"
  export PGBACKREST_LOCK_PATH="$var/pgbackrest-lock"
}

# pgBackRest on the drill's stanza as the user PostgreSQL runs as (the repository's owner).
pgbr() { pg_as pgbackrest --stanza=proisp "$@"; }

# Directories that PostgreSQL's user must own (mode 700 where PostgreSQL asks for it).
dr_dirs() {
  mkdir -p "$@"
  if [ "$(id -u)" = 0 ]; then chown postgres:postgres "$@"; fi
  chmod 700 "$@"
}

# A fresh cluster in $var/pg with pgbackrest/postgresql.conf.example's lines as shipped
# (then the arguments, lines of postgresql.conf that override them), running, with its
# stanza created and checked (the check waits for a WAL segment to reach the repository:
# archiving works end to end).
start_archiving_postgres() {
  local bin; bin=$(pg_bin)
  rm -rf "$var/pg" "$repo" "$PGBACKREST_LOG_PATH" "$PGBACKREST_LOCK_PATH"
  dr_dirs "$var/pg" "$var/run" "$repo" "$PGBACKREST_LOG_PATH" "$PGBACKREST_LOCK_PATH"
  pg_as "$bin/initdb" -D "$var/pg" -U proisp --auth=trust --encoding=UTF8 >/dev/null
  {
    echo
    echo "# pgbackrest/postgresql.conf.example, as shipped (scripts/dr-drill.sh)"
    cat "$root/pgbackrest/postgresql.conf.example"
    printf '%s\n' "$@"
  } >>"$var/pg/postgresql.conf"
  start_postgres >/dev/null
  pgbr --log-level-console=warn stanza-create
  pgbr --log-level-console=warn check
}

# Process $1 and all its descendants, from one snapshot of the process table.
process_tree() {
  ps -e -o pid= -o ppid= | awk -v root="$1" '
    { parent[$1] = $2 }
    END {
      tree[root] = 1
      do {
        grew = 0
        for (p in parent) if (!(p in tree) && (parent[p] in tree)) { tree[p] = 1; grew = 1 }
      } while (grew)
      for (p in tree) print p
    }'
}

# Whether process $1 has ended (a zombie waiting for its parent to reap it has).
gone() {
  ! kill -0 "$1" 2>/dev/null || [ "$(awk '{ sub(/.*\) /, ""); print $1 }' "/proc/$1/stat" 2>/dev/null)" = Z ]
}

# The primary's server is lost: every process of the cluster (the archiver and a push in
# flight included) stopped where it stands, then killed with SIGKILL, then its data
# directory and socket deleted. Stopped first, so that nothing forks a child unseen meanwhile.
destroy_primary() {
  local pm pids=() more p
  pm=$(head -n 1 "$var/pg/postmaster.pid")
  while :; do
    mapfile -t more < <(process_tree "$pm")
    [ ${#more[@]} -gt ${#pids[@]} ] || break
    pids=("${more[@]}")
    kill -STOP "${pids[@]}" 2>/dev/null || true
  done
  kill -KILL "${pids[@]}" 2>/dev/null || true
  for p in "${pids[@]}"; do wait_for 10 "process $p to die" gone "$p"; done
  # The socket's lock file names the dead postmaster's pid, which another process may have
  # by now; it went with the server.
  rm -rf "$var/pg" "$var/run/.s.PGSQL.$pg_port" "$var/run/.s.PGSQL.$pg_port.lock"
}

# `pgbackrest restore` of the newest backup into the (re-created, empty) $var/pg; recovery
# replays to the end of the archived WAL, PostgreSQL's default recovery target.
restore_primary() {
  dr_dirs "$var/pg"
  pgbr --log-level-console=warn restore
}

# Starts the restored cluster. hot_standby off (unless $hot_standby is on): no client
# connects before the end of recovery. With it on, radiusd connects to the read-only
# server during the replay and its spool replay is refused ("cannot execute UPDATE in a
# read-only transaction", SQLSTATE 25006), which radiusd takes for a refusal for good:
# acknowledged records end in rejected.jsonl instead of the database.
start_restored_postgres() {
  local bin; bin=$(pg_bin)
  [ "$(id -u)" = 0 ] && chown postgres "$var/run"
  # pg_ctl -w returns once replay has begun when hot standby is off: pg_writable waits
  # for the rest.
  pg_as "$bin/pg_ctl" -D "$var/pg" -l "$var/run/postgresql.log" -w \
    -o "-p $pg_port -k $var/run -c listen_addresses=127.0.0.1 -c hot_standby=${hot_standby:-off}" \
    start >/dev/null
}

# Whether PostgreSQL has left recovery and takes writes.
pg_writable() { [ "$(pg_sql postgres -c "SELECT NOT pg_is_in_recovery()")" = t ]; }

# pg_stat_archiver's last archived segment, its age in seconds, and where WAL is being
# written now: "SEGMENT AGE LSN".
archiver_state() {
  pg_sql postgres -F ' ' -c "SELECT coalesce(last_archived_wal, '-'),
    coalesce(round(extract(epoch FROM now() - last_archived_time))::text, '-'),
    pg_current_wal_lsn() FROM pg_stat_archiver"
}

# The sum of every series of metric $1 on radiusd's metrics port (0 if it does not answer).
metric() {
  { curl -sf --max-time 2 "http://127.0.0.1:$metrics_port/metrics" 2>/dev/null || true; } |
    awk -v name="$1" '$1 !~ /^#/ { n = $1; sub(/\{.*/, "", n); if (n == name) s += $NF }
      END { printf "%d\n", s }'
}
metric_at_least() { [ "$(metric "$1")" -ge "$2" ]; }

# radiusd writes to PostgreSQL again: /health 200, nothing spooled, the change feed (a
# PostgreSQL poll) up.
radiusd_on_postgres() {
  curl -sf --max-time 1 "http://127.0.0.1:$metrics_port/health" >/dev/null 2>&1 || return 1
  curl -sf --max-time 2 "http://127.0.0.1:$metrics_port/metrics" 2>/dev/null | awk '
    $1 ~ /^radius_acct_spooled_records/ { spooled += $NF }
    $1 == "radius_change_feed_up" { feed = $NF }
    END { exit !(spooled == 0 && feed == 1) }'
}

# adminapi's /health: 200 only when its PostgreSQL ping answers.
adminapi_healthy() { curl -sf --max-time 1 "http://127.0.0.1:$api_port/health" >/dev/null 2>&1; }

# Waits up to $2 seconds for `$3...` to succeed while process $1 lives; status 1 if the
# process exits or the time runs out.
wait_while_alive() {
  local pid=$1 deadline=$((SECONDS + $2))
  shift 2
  until "$@" >/dev/null 2>&1; do
    kill -0 "$pid" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ] || return 1
    sleep 0.1
  done
}

radiusd_healthy() { curl -sf --max-time 1 "http://127.0.0.1:$metrics_port/health" >/dev/null 2>&1; }

# proisp-radiusd on $dir/radiusd.toml, healthy; its pid in $radiusd_pid. A free port may
# be taken by someone else before radiusd binds it (free_port holds nothing): then new
# ports, up to 3 tries.
start_dr_radiusd() {
  local try
  for try in 1 2 3; do
    [ "$try" = 1 ] || { auth_port=$(free_port) acct_port=$(free_port) metrics_port=$(free_port); }
    cat >"$dir/radiusd.toml" <<TOML
# proisp-radiusd for the disaster-recovery drill (scripts/dr-drill.sh).
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
spool_dir = "$dir/spool"

[log]
level = "info"
TOML
    "$bin/proisp-radiusd" --config "$dir/radiusd.toml" >>"$dir/radiusd.log" 2>&1 &
    radiusd_pid=$!
    wait_while_alive "$radiusd_pid" 30 radiusd_healthy && return 0
    stop_dr_process "$radiusd_pid"
  done
  echo "proisp-radiusd did not become healthy; its log:" >&2
  grep -v '^  ' "$dir/radiusd.log" | tail -n 10 >&2
  return 1
}

# proisp-adminapi serve, healthy; its pid in $adminapi_pid (new ports as for radiusd).
start_dr_adminapi() {
  local try
  for try in 1 2 3; do
    [ "$try" = 1 ] || api_port=$(free_port)
    PROISP_HTTP__LISTEN="127.0.0.1:$api_port" PROISP_TOKENS__JWT_KEY_FILE="$var/jwt.key" \
      "$bin/proisp-adminapi" serve >>"$dir/adminapi.log" 2>&1 &
    adminapi_pid=$!
    wait_while_alive "$adminapi_pid" 30 adminapi_healthy && return 0
    stop_dr_process "$adminapi_pid"
  done
  echo "proisp-adminapi did not become healthy; its log:" >&2
  grep -v '^  ' "$dir/adminapi.log" | tail -n 10 >&2
  return 1
}

# SIGTERM to process $1, SIGKILL if it is still there after 10 s.
stop_dr_process() {
  [ -n "$1" ] || return 0
  kill -TERM "$1" 2>/dev/null || return 0
  wait_for 10 "process $1 to stop" gone "$1" || kill -KILL "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}
