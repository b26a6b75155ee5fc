# Shared by bench/compare.sh, bench/compare-acct.sh and bench/radclient-check.sh:
# installing FreeRADIUS and running private instances of it. Sourced, not run.
#
# A private instance is FreeRADIUS 3.2 from Debian with its own configuration under a
# directory of ours (bench/freeradius/radiusd.conf.in), loopback ports of its own, in the
# foreground under our control: never the system service, which we only stop if the
# package started it.
#
# PG_HOST, PG_PORT, PG_USER and PG_DB are the sourcing script's.
# shellcheck shell=bash disable=SC2153

BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_DIR="$(dirname "$BENCH_DIR")"
SYSTEM_RADDB=/etc/freeradius/3.0
SECRET="${SECRET:-testing123}"

log() { printf '%s %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# Installs the Debian packages the harness needs, if missing.
install_packages() {
  local missing=()
  command -v freeradius >/dev/null 2>&1 || missing+=(freeradius)
  command -v radclient >/dev/null 2>&1 || missing+=(freeradius-utils)
  [ -e /usr/lib/freeradius/rlm_sql_postgresql.so ] || missing+=(freeradius-postgresql)
  command -v jq >/dev/null 2>&1 || missing+=(jq)
  command -v psql >/dev/null 2>&1 || missing+=(postgresql-client)
  command -v taskset >/dev/null 2>&1 || missing+=(util-linux)
  if [ ${#missing[@]} -gt 0 ]; then
    log "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y "${missing[@]}" >/dev/null \
      || { apt-get update >/dev/null && apt-get install -y "${missing[@]}" >/dev/null; } \
      || die "cannot install ${missing[*]}"
  fi
  # The package may have started the system service on 1812/1813; it would steal
  # nothing from our ports, but it would steal CPU from the measurement.
  if pgrep -x freeradius >/dev/null 2>&1 && [ -e /run/freeradius/freeradius.pid ]; then
    log "stopping the system FreeRADIUS service"
    systemctl stop freeradius 2>/dev/null || service freeradius stop 2>/dev/null || true
  fi
}

# Builds the load generator (release) and sets LOADTEST to it; a LOADTEST already set to
# an executable is used as it is.
build_loadtest() {
  if [ -n "${LOADTEST:-}" ] && [ -x "$LOADTEST" ]; then return 0; fi
  log "building proisp-loadtest (release)"
  (cd "$REPO_DIR" && cargo build --release --locked -p proisp-loadtest >/dev/null 2>&1) \
    || (cd "$REPO_DIR" && cargo build --release -p proisp-loadtest) \
    || die "cannot build proisp-loadtest"
  LOADTEST="$(cd "$REPO_DIR" && cargo metadata --format-version 1 --no-deps | jq -r .target_directory)/release/proisp-loadtest"
  [ -x "$LOADTEST" ] || die "no binary at $LOADTEST"
}

# The mean of jq expression F over the JSON files given.
avg() { local f=$1; shift; jq -s "map($f) | add / length" "$@"; }
# The same, rounded to an integer.
field() { avg "$1" "${@:2}" | awk '{ printf "%.0f", $1 }'; }
# B ÷ A with two decimals, or - when A is 0.
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a > 0) printf "%.2f", b / a; else print "-" }'; }

# One line about this machine, and the FreeRADIUS version, for result headers.
machine_line() {
  echo "$(nproc) CPUs, $(lscpu | sed -n 's/^Model name: *//p' | head -1), kernel $(uname -r)"
}
freeradius_version() { freeradius -v 2>/dev/null | sed -n '1s/^radiusd: //p'; }

# Stops processes we started (by pid), waiting up to 5 s before SIGKILL.
stop_pids() { # PID...
  [ $# -gt 0 ] || return 0
  kill "$@" 2>/dev/null || true
  for _ in $(seq 1 100); do
    local alive=0
    for pid in "$@"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [ $alive -eq 0 ] && return 0
    sleep 0.05
  done
  kill -9 "$@" 2>/dev/null || true
}

# Writes a users file for the files module: user000001 / pw000001 … userN / pwN.
write_users() { # FILE N
  awk -v n="$2" 'BEGIN { for (i = 1; i <= n; i++) printf "user%06d Cleartext-Password := \"pw%06d\"\n", i, i }' >"$1"
}

# Starts a private FreeRADIUS; prints its pid. MODE is files, sql or acct:
# - files: subscribers in the users file, accounting answered without being stored;
# - sql: subscribers in PostgreSQL (rlm_sql), accounting stored there too;
# - acct: accounting only, as the stock `default` virtual server does it with rlm_sql
#   (preacct: preprocess, acct_unique; accounting: ok, sql,
#   attr_filter.accounting_response; bench/freeradius/acct.conf.in says what was left
#   out and why the `ok`), into PG_DB.
start_freeradius() { # DIR MODE AUTH_PORT ACCT_PORT USERS THREADS CPUS
  local dir=$1 mode=$2 auth=$3 acct=$4 users=$5 threads=$6 cpus=$7
  rm -rf "$dir"
  mkdir -p "$dir/raddb" "$dir/log" "$dir/run" "$dir/radacct"
  ln -s "$SYSTEM_RADDB/dictionary" "$dir/raddb/dictionary"
  ln -s "$SYSTEM_RADDB/mods-config" "$dir/raddb/mods-config"
  local users_module=files acct_module=ok modules="" preacct="" policy="" recv_buff=""
  if [ "$mode" = sql ] || [ "$mode" = acct ]; then
    modules="$(sed -e "s|@PG_HOST@|$PG_HOST|" -e "s|@PG_PORT@|$PG_PORT|" \
      -e "s|@PG_USER@|$PG_USER|" -e "s|@PG_DB@|$PG_DB|" -e "s|@THREADS@|$threads|g" \
      "$BENCH_DIR/freeradius/sql.conf.in")"
    acct_module=sql
  fi
  case "$mode" in
    files) write_users "$dir/users" "$users" ;;
    sql) users_module=sql; : >"$dir/users" ;;
    acct)
      : >"$dir/users"
      modules="$modules"$'\n'"$(cat "$BENCH_DIR/freeradius/acct.conf.in")"
      preacct=$'\t\tpreprocess\n\t\tacct_unique'
      acct_module='ok\n\t\tsql\n\t\tattr_filter.accounting_response'
      # The stock acct_unique policy (Acct-Unique-Session-Id, radacct's unique key).
      policy="policy {"$'\n\t'"\$INCLUDE $SYSTEM_RADDB/policy.d/accounting"$'\n'"}"
      # The stock listener comments say it: raise the UDP receive buffer when many NASes
      # send at once, or the kernel drops what the one reading thread has not taken yet
      # (at 256 in flight the default 208 KiB overflowed here). The kernel caps it at
      # net.core.rmem_max.
      recv_buff=$((4 << 20))
      ;;
    *) die "start_freeradius: unknown mode $mode" ;;
  esac
  # The module blocks span lines, so they go in with awk rather than sed; so do the
  # preacct modules, after the template's (empty) preacct line, and the accounting
  # listener's recv_buff, after its port.
  sed -e "s|@DIR@|$dir|g" -e "s|@SECRET@|$SECRET|" -e "s|@THREADS@|$threads|g" \
    -e "s|@AUTH_PORT@|$auth|" -e "s|@ACCT_PORT@|$acct|" \
    -e "s|@USERS_MODULE@|$users_module|" -e "s|@ACCT_MODULE@|$acct_module|" \
    "$BENCH_DIR/freeradius/radiusd.conf.in" \
    | awk -v block="$modules" -v preacct="$preacct" -v acct="$acct" -v recv_buff="$recv_buff" '
        $0 == "@SQL_MODULE@" { print block; next }
        { print }
        preacct != "" && $0 ~ /^[ \t]*preacct \{$/ { print preacct }
        recv_buff != "" && $0 ~ ("^[ \t]*port = " acct "$") { print "\t\trecv_buff = " recv_buff }' \
      >"$dir/raddb/radiusd.conf"
  [ -z "$policy" ] || printf '\n%s\n' "$policy" >>"$dir/raddb/radiusd.conf"
  launch_freeradius "$dir" "$cpus" "$mode"
}

# Checks the configuration in DIR/raddb, starts FreeRADIUS in the foreground on CPUS
# (-f: a TLS listener needs its threads, so never -X) and prints its pid once it says it
# is ready; LABEL names it in errors.
launch_freeradius() {
  local dir=$1 cpus=$2 label=$3
  freeradius -C -d "$dir/raddb" >"$dir/log/check.log" 2>&1 \
    || { cat "$dir/log/check.log" "$dir/log/radius.log" >&2 2>/dev/null; die "FreeRADIUS ($label) configuration does not load"; }
  taskset -c "$cpus" freeradius -f -d "$dir/raddb" >"$dir/log/stdout.log" 2>&1 &
  local pid=$!
  for _ in $(seq 1 200); do
    grep -q "Ready to process requests" "$dir/log/radius.log" 2>/dev/null && { echo "$pid"; return; }
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  cat "$dir/log/radius.log" >&2 2>/dev/null
  die "FreeRADIUS ($label) did not start"
}

# Creates PG_DB afresh with FreeRADIUS's own PostgreSQL schema (radcheck, radacct, …).
create_radius_db() {
  export PGHOST="$PG_HOST" PGPORT="$PG_PORT" PGUSER="$PG_USER"
  psql -d postgres -qc 'select 1' >/dev/null 2>&1 \
    || die "PostgreSQL is not reachable at $PG_HOST:$PG_PORT as $PG_USER (trust auth expected)"
  dropdb --if-exists "$PG_DB" >/dev/null 2>&1
  createdb "$PG_DB"
  psql -d "$PG_DB" -q -v ON_ERROR_STOP=1 -f "$SYSTEM_RADDB/mods-config/sql/main/postgresql/schema.sql" >/dev/null
}

# Drops PG_DB (on exit; never fails).
drop_radius_db() {
  PGHOST="$PG_HOST" PGPORT="$PG_PORT" PGUSER="$PG_USER" dropdb --if-exists "$PG_DB" >/dev/null 2>&1 || true
}

# Creates the rlm_sql database: FreeRADIUS's own PostgreSQL schema, N users in radcheck.
setup_postgres() { # N
  local n=$1
  log "creating database $PG_DB with $n subscribers"
  create_radius_db
  psql -d "$PG_DB" -q -v ON_ERROR_STOP=1 >/dev/null <<SQL
INSERT INTO radcheck (username, attribute, op, value)
  SELECT format('user%s', lpad(i::text, 6, '0')), 'Cleartext-Password', ':=',
         format('pw%s', lpad(i::text, 6, '0'))
  FROM generate_series(1, $n) AS i;
ANALYZE;
SQL
}

# CPU time, user + system in clock ticks (getconf CLK_TCK), that the processes given have
# used so far: /proc/PID/stat counts the whole thread group, every live thread and the
# ones that have exited. Prints nothing when a pid is gone (or none is given). The comm
# field may hold spaces, so the fields are counted from its closing parenthesis.
proc_cpu_ticks() { # PID...
  [ $# -gt 0 ] || return 0
  local pid stat total=0 f
  for pid in "$@"; do
    stat=$(cat "/proc/$pid/stat" 2>/dev/null) || return 0
    read -r -a f <<<"${stat##*) }"
    # f[0] is field 3 (state): utime (14) and stime (15) are f[11] and f[12].
    [[ "${f[11]:-}" =~ ^[0-9]+$ && "${f[12]:-}" =~ ^[0-9]+$ ]] || return 0
    total=$((total + f[11] + f[12]))
  done
  echo "$total"
}

# The pids of the processes with a UDP socket bound to local port PORT (any address), one
# per line, distinct; nothing when there is none or ss(8) cannot tell (seeing other
# users' processes needs root).
udp_port_pids() { # PORT
  { ss -Hulpn "sport = :$1" 2>/dev/null | grep -o 'pid=[0-9]*' | cut -d= -f2 | sort -un; } || true
}
