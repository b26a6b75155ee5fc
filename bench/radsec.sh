#!/usr/bin/env bash
# RadSec side by side: proisp-loadtest's RadSec mode (mutual TLS, pipelined connections)
# against FreeRADIUS 3.2's TLS listener on this machine and, with --radiusd, against
# proisp-radiusd's [radsec] listener, with the same certificates (scripts/pki.sh) and the
# same subscribers. Reports requests/s, latency and each server's CPU time per answered
# request (user + system from /proc/PID/stat before and after, as bench/compare.sh does).
#
#   bench/radsec.sh                                  # FreeRADIUS only, 20 s
#   bench/radsec.sh --radiusd target/release/proisp-radiusd
#   bench/radsec.sh --duration 10 --connections 16 --pipeline 64
#
# radiusd runs as bench/ab.sh runs it: PostgreSQL at 127.0.0.1:5432 (postgres, trust) and
# Redis at 127.0.0.1:6379, a database of its own (proisp_bench_radsec, seeded once with
# --users subscribers and NAS 127.0.0.1), configured through PROISP_* variables, with
# [radsec] listen/ca/certificate/key pointing at the PKI. Over TLS the NAS is found by its
# certificate identity or else its source address (sql/0007) and signs with "radsec".
#
# Every step is bounded (each measurement lasts --duration plus at most the 2 s timeout);
# the servers are ours, pinned to SERVER_CPUS, and stopped on exit; the generator is
# pinned to GEN_CPU.
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"

USERS=10000
DURATION=20
CONNECTIONS=8
PIPELINE=32
METHOD=pap
RADIUSD=""
IDLE=0
THREADS="${THREADS:-8}"
GEN_CPU="${GEN_CPU:-1}"
SERVER_CPUS="${SERVER_CPUS:-0}"
FR_PORT="${FR_PORT:-22083}"
FR_AUTH="${FR_AUTH:-23812}"
RD_PORT="${RD_PORT:-24083}"
RD_AUTH="${RD_AUTH:-24812}"
DB="${RADSEC_DB:-proisp_bench_radsec}"
RADSEC_SECRET=radsec

usage() {
  cat <<EOF
usage: bench/radsec.sh [options]
  --duration S       seconds per measurement (default $DURATION)
  --connections N    TLS connections (default $CONNECTIONS)
  --pipeline K       requests in flight per connection (default $PIPELINE)
  --users N          subscribers user000001..N / pw000001..N (default $USERS)
  --method M         pap, chap or mschapv2 (default $METHOD)
  --radiusd BINARY   also measure this proisp-radiusd's RadSec listener
  --idle N           then hold N idle RadSec connections to radiusd (15 s) and report
                     its memory per connection
environment: GEN_CPU ($GEN_CPU) and SERVER_CPUS ($SERVER_CPUS) for taskset, THREADS
($THREADS, FreeRADIUS thread pool), FR_PORT/RD_PORT (RadSec ports), RADSEC_DB ($DB)
EOF
}

while [ $# -gt 0 ]; do
  case "$1" in
    --duration) DURATION=$2; shift 2 ;;
    --connections) CONNECTIONS=$2; shift 2 ;;
    --pipeline) PIPELINE=$2; shift 2 ;;
    --users) USERS=$2; shift 2 ;;
    --method) METHOD=$2; shift 2 ;;
    --radiusd) RADIUSD=$2; shift 2 ;;
    --idle) IDLE=$2; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; die "unknown option $1" ;;
  esac
done
[ -z "$RADIUSD" ] || [ -x "$RADIUSD" ] || die "--radiusd: not an executable: $RADIUSD"
[ "$(nproc)" -gt "$GEN_CPU" ] || die "GEN_CPU=$GEN_CPU but this machine has $(nproc) CPUs"
HZ=$(getconf CLK_TCK)

install_packages
command -v openssl >/dev/null || die "openssl is missing (scripts/deps.sh installs it)"
build_loadtest

WORK="$(mktemp -d /tmp/proisp-radsec.XXXXXX)"
RESULTS="${RESULTS:-$REPO_DIR/var/bench/radsec-$(date +%Y%m%d-%H%M%S)}"
mkdir -p "$RESULTS"
PIDS=()
cleanup() { stop_pids "${PIDS[@]}"; rm -rf "$WORK"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

PKI="$WORK/pki"
"$REPO_DIR/scripts/pki.sh" "$PKI" 2>/dev/null

# A private FreeRADIUS (files module) with the RadSec listener of
# bench/freeradius/radsec.conf.in; prints its pid once it is ready.
start_freeradius_radsec() {
  local dir="$WORK/freeradius"
  mkdir -p "$dir/raddb" "$dir/log" "$dir/run" "$dir/radacct"
  ln -s "$SYSTEM_RADDB/dictionary" "$dir/raddb/dictionary"
  ln -s "$SYSTEM_RADDB/mods-config" "$dir/raddb/mods-config"
  write_users "$dir/users" "$USERS"
  {
    sed -e "s|@DIR@|$dir|g" -e "s|@SECRET@|$SECRET|" -e "s|@THREADS@|$THREADS|g" \
      -e "s|@AUTH_PORT@|$FR_AUTH|" -e "s|@ACCT_PORT@|$((FR_AUTH + 1))|" \
      -e "s|@USERS_MODULE@|files|" -e "s|@ACCT_MODULE@|ok|" -e "/@SQL_MODULE@/d" \
      "$BENCH_DIR/freeradius/radiusd.conf.in"
    sed -e "s|@RADSEC_PORT@|$FR_PORT|" -e "s|@PKI@|$PKI|g" -e "s|@RADSEC_SECRET@|$RADSEC_SECRET|" \
      "$BENCH_DIR/freeradius/radsec.conf.in"
  } >"$dir/raddb/radiusd.conf"
  launch_freeradius "$dir" "$SERVER_CPUS" RadSec
}

# proisp-radiusd with its [radsec] listener, as bench/ab.sh starts it; prints its pid.
start_radiusd_radsec() {
  local admin state="$REPO_DIR/var/bench/radsec"
  admin="$(dirname "$LOADTEST")/proisp-adminapi"
  (cd "$REPO_DIR" && cargo build --release -p proisp-adminapi >/dev/null 2>&1) || die "cannot build proisp-adminapi"
  mkdir -p "$state/spool"
  export PROISP_DATABASE_URL="postgres://postgres@127.0.0.1/$DB" PROISP_KEY_FILE="$state/key" \
    PROISP_REDIS_URL=redis://127.0.0.1:6379 PROISP_LISTEN__AUTH="127.0.0.1:$RD_AUTH" \
    PROISP_LISTEN__ACCT="127.0.0.1:$((RD_AUTH + 1))" PROISP_LISTEN__METRICS="127.0.0.1:$((RD_AUTH + 2))" \
    PROISP_AUTH__REJECT_DELAY=0s PROISP_ACCOUNTING__SPOOL_DIR="$state/spool" \
    PROISP_RADSEC__LISTEN="127.0.0.1:$RD_PORT" PROISP_RADSEC__CA="$PKI/ca.pem" \
    PROISP_RADSEC__CERTIFICATE="$PKI/server.pem" PROISP_RADSEC__KEY="$PKI/server.key" \
    PROISP_RADSEC__MAX_CONNECTIONS=$((IDLE + 1024)) PROISP_RADSEC__MAX_CONNECTIONS_PER_NAS=$((IDLE + 1024))
  if [ ! -s "$state/key" ] || ! psql -h 127.0.0.1 -U postgres -d "$DB" -c 'select 1' >/dev/null 2>&1; then
    log "creating database $DB with $USERS subscribers"
    PGOPTIONS="-c client_min_messages=warning" psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB" >/dev/null
    (umask 077 && "$admin" gen-key >"$state/key")
    "$admin" migrate >/dev/null 2>&1 || die "proisp-adminapi migrate failed"
    "$admin" seed --subscribers "$USERS" --nas 127.0.0.1 --secret "$SECRET" >/dev/null 2>&1 || die "proisp-adminapi seed failed"
  fi
  taskset -c "$SERVER_CPUS" "$RADIUSD" >"$state/radiusd.log" 2>&1 &
  local pid=$!
  for _ in $(seq 1 100); do
    ss -tln | grep -q "127.0.0.1:$RD_PORT " && { echo "$pid"; return; }
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  tail -5 "$state/radiusd.log" >&2
  die "radiusd did not listen on 127.0.0.1:$RD_PORT"
}

# One measurement: RadSec auth against TARGET, server CPU of PID over it; JSON to FILE.
measure() { # NAME TARGET PID
  local name=$1 target=$2 pid=$3 out="$RESULTS/$1.json" c0 c1 cpu=null
  c0=$(proc_cpu_ticks "$pid")
  taskset -c "$GEN_CPU" "$LOADTEST" auth --transport radsec --server "$target" \
    --ca "$PKI/ca.pem" --cert "$PKI/nas.pem" --key "$PKI/nas.key" --secret "$RADSEC_SECRET" \
    --users "$USERS" --method "$METHOD" --connections "$CONNECTIONS" --pipeline "$PIPELINE" \
    --duration "${DURATION}s" --json --quiet >"$out" || [ $? -eq 3 ]
  c1=$(proc_cpu_ticks "$pid")
  if [ -n "$c0" ] && [ -n "$c1" ]; then cpu=$(awk -v t=$((c1 - c0)) -v hz="$HZ" 'BEGIN { print t / hz }'); fi
  jq --argjson cpu "$cpu" '. + {server_cpu_s: $cpu}' "$out" >"$out.tmp" && mv "$out.tmp" "$out"
  jq -r --arg n "$name" '"| \($n) | \(.answer_rate | floor) | \(.latency_us.p50) | \(.latency_us.p99) | " + (if .server_cpu_s == null or .answered == 0 then "-" else "\(.server_cpu_s * 1e7 / .answered | round / 10)" end) + " | \(.radsec.opened)/\(.radsec.connections) | \(.timeouts + .bad_replies + .radsec.errors.tcp + .radsec.errors.tls + .radsec.errors.timeout + .radsec.errors.lost) |"' "$out"
}

ROWS=()
log "starting FreeRADIUS ($USERS users, RadSec on 127.0.0.1:$FR_PORT, CPUs $SERVER_CPUS)"
pid=$(start_freeradius_radsec) || exit 1
PIDS+=("$pid")
log "warming up (every subscriber looked up twice: the caches, not PostgreSQL, are measured)"
taskset -c "$GEN_CPU" "$LOADTEST" auth --transport radsec --server "127.0.0.1:$FR_PORT" \
  --ca "$PKI/ca.pem" --cert "$PKI/nas.pem" --key "$PKI/nas.key" --users "$USERS" -n "$((USERS * 2))" -q >/dev/null || true
log "measuring FreeRADIUS for ${DURATION} s"
ROWS+=("$(measure "FreeRADIUS $(freeradius_version | awk '{ print $3 }' | tr -d ,) files" "127.0.0.1:$FR_PORT" "$pid")")
stop_pids "$pid"

if [ -n "$RADIUSD" ]; then
  log "starting $RADIUSD (RadSec on 127.0.0.1:$RD_PORT, CPUs $SERVER_CPUS)"
  pid=$(start_radiusd_radsec) || exit 1
  PIDS+=("$pid")
  taskset -c "$GEN_CPU" "$LOADTEST" auth --transport radsec --server "127.0.0.1:$RD_PORT" \
    --ca "$PKI/ca.pem" --cert "$PKI/nas.pem" --key "$PKI/nas.key" --users "$USERS" -n "$((USERS * 2))" -q >/dev/null || true
  log "measuring proisp-radiusd for ${DURATION} s"
  ROWS+=("$(measure "proisp-radiusd" "127.0.0.1:$RD_PORT" "$pid")")
  if [ "$IDLE" -gt 0 ]; then
    log "holding $IDLE idle RadSec connections to proisp-radiusd"
    rss_before=$(awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status")
    taskset -c "$GEN_CPU" "$LOADTEST" idle --server "127.0.0.1:$RD_PORT" --ca "$PKI/ca.pem" \
      --cert "$PKI/nas.pem" --key "$PKI/nas.key" --connections "$IDLE" --hold 15s --json \
      >"$RESULTS/idle.json" 2>"$RESULTS/idle.log" &
    idle_pid=$!
    # The generator says so on stderr once every connection has been tried.
    for _ in $(seq 1 1200); do
      grep -q "holding them" "$RESULTS/idle.log" && break
      kill -0 "$idle_pid" 2>/dev/null || break
      sleep 0.1
    done
    rss_held=$(awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status")
    open=$(curl -s "http://127.0.0.1:$((RD_AUTH + 2))/metrics" \
      | awk '$1 == "radius_stream_connections{listener=\"tls\"}" { print $2 }')
    wait "$idle_pid" || true
    IDLE_ROW="proisp-radiusd held ${open:-?} of $IDLE idle RadSec connections: RSS ${rss_before} KiB before, ${rss_held} KiB while held, $(( (rss_held - rss_before) * 1024 / IDLE )) bytes per connection"
  fi
fi

{
  echo "# RadSec side by side, $(date -u +%Y-%m-%dT%H:%MZ)"
  echo "machine: $(machine_line); load average at start of report: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "generator: proisp-loadtest auth --transport radsec, $METHOD, $USERS users, $CONNECTIONS connections × $PIPELINE in flight, ${DURATION} s, pinned to CPU $GEN_CPU; servers on CPUs $SERVER_CPUS"
  echo
  echo "| server | answered/s | p50 µs | p99 µs | server CPU µs per request | connections | timeouts + bad + connection errors |"
  echo "|---|---:|---:|---:|---:|---:|---:|"
  printf '%s\n' "${ROWS[@]}"
  echo
  [ -z "${IDLE_ROW:-}" ] || { echo "$IDLE_ROW"; echo; }
  echo "raw JSON: $RESULTS"
} | tee "$RESULTS/summary.md"
