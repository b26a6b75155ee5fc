#!/usr/bin/env bash
# Side-by-side RADIUS benchmark: proisp-loadtest against FreeRADIUS 3.2 (files module) and
# a second target, alternating between them in one run, then a comparison table with
# ratios. See bench/README.md.
#
#   bench/compare.sh                      # FreeRADIUS files vs FreeRADIUS rlm_sql/PostgreSQL
#   bench/compare.sh --second 127.0.0.1:1812   # vs a server you started (same users, secret)
#   bench/compare.sh --quick              # a 2-minute smoke run
#
# Every step is bounded: each measurement lasts --duration plus at most the 2 s timeout,
# the FreeRADIUS instances are ours and are killed on exit, and nothing is left running.
set -euo pipefail

source "$(dirname "$0")/lib.sh"

USERS=10000
DURATION=10
ROUNDS=2
METHOD=pap
CONCURRENCY=128
SECOND=sql
THREADS="${THREADS:-8}"
GEN_CPU="${GEN_CPU:-1}"
SERVER_CPUS="${SERVER_CPUS:-0}"
PG_HOST="${PG_HOST:-127.0.0.1}"
PG_PORT="${PG_PORT:-5432}"
PG_USER="${PG_USER:-postgres}"
PG_DB="${PG_DB:-proisp_bench_fr}"
FILES_AUTH="${FILES_AUTH:-21812}"
SQL_AUTH="${SQL_AUTH:-22812}"

usage() {
  cat <<EOF
usage: bench/compare.sh [options]
  --users N          subscribers user000001..N / pw000001..N (default $USERS)
  --duration S       seconds per measurement (default $DURATION)
  --rounds R         alternations per measurement (default $ROUNDS)
  --method M         pap, chap or mschapv2 (default $METHOD)
  --concurrency C    closed-loop concurrency for the maximum (default $CONCURRENCY)
  --second T         sql (FreeRADIUS rlm_sql on PostgreSQL, default) or ADDRESS:PORT of a
                     running server that knows the same users and secret ($SECRET)
  --quick            --users 2000 --duration 3 --rounds 1
environment: GEN_CPU ($GEN_CPU) and SERVER_CPUS ($SERVER_CPUS) for taskset, THREADS
($THREADS, FreeRADIUS thread pool), PG_HOST/PG_PORT/PG_USER/PG_DB, FILES_AUTH/SQL_AUTH ports
EOF
}

while [ $# -gt 0 ]; do
  case "$1" in
    --users) USERS=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    --method) METHOD=$2; shift 2 ;;
    --concurrency) CONCURRENCY=$2; shift 2 ;;
    --second) SECOND=$2; shift 2 ;;
    --quick) USERS=2000; DURATION=3; ROUNDS=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; die "unknown option $1" ;;
  esac
done

[ "$(nproc)" -gt "$GEN_CPU" ] || die "GEN_CPU=$GEN_CPU but this machine has $(nproc) CPUs"

install_packages
build_loadtest

WORK="$(mktemp -d /tmp/proisp-bench.XXXXXX)"
RESULTS="${RESULTS:-$REPO_DIR/var/bench/$(date +%Y%m%d-%H%M%S)}"
mkdir -p "$RESULTS"
PIDS=()
cleanup() {
  stop_pids "${PIDS[@]}"
  rm -rf "$WORK"
  if [ "$SECOND" = sql ]; then
    PGHOST="$PG_HOST" PGPORT="$PG_PORT" PGUSER="$PG_USER" dropdb --if-exists "$PG_DB" >/dev/null 2>&1 || true
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log "starting FreeRADIUS (files, $USERS users) on 127.0.0.1:$FILES_AUTH, CPUs $SERVER_CPUS"
pid=$(start_freeradius "$WORK/fr-files" files "$FILES_AUTH" $((FILES_AUTH + 1)) "$USERS" "$THREADS" "$SERVER_CPUS") || exit 1
PIDS+=("$pid")
TARGETS=("127.0.0.1:$FILES_AUTH")
LABELS=("FreeRADIUS files")
if [ "$SECOND" = sql ]; then
  setup_postgres "$USERS"
  log "starting FreeRADIUS (rlm_sql on PostgreSQL $PG_HOST:$PG_PORT/$PG_DB) on 127.0.0.1:$SQL_AUTH"
  pid=$(start_freeradius "$WORK/fr-sql" sql "$SQL_AUTH" $((SQL_AUTH + 1)) "$USERS" "$THREADS" "$SERVER_CPUS") || exit 1
  PIDS+=("$pid")
  TARGETS+=("127.0.0.1:$SQL_AUTH")
  LABELS+=("FreeRADIUS rlm_sql")
else
  TARGETS+=("$SECOND")
  LABELS+=("$SECOND")
fi

# One measurement: proisp-loadtest pinned to GEN_CPU, JSON kept under RESULTS.
measure() { # NAME TARGET ARGS...
  local name=$1 target=$2; shift 2
  local out="$RESULTS/$name.json"
  taskset -c "$GEN_CPU" "$LOADTEST" auth --server "$target" --secret "$SECRET" \
    --users "$USERS" --method "$METHOD" --json --quiet "$@" >"$out" || [ $? -eq 3 ]
  jq -r --arg n "$name" '"\($n): \(.answer_rate | floor)/s answered, p50 \(.latency_us.p50) p99 \(.latency_us.p99) µs, timeouts \(.timeouts), bad \(.bad_replies), send lag p99 \(.send_lag_us.p99 // "-") µs"' "$out" >&2
}

{
  echo "# proisp-loadtest side by side, $(date -u +%Y-%m-%dT%H:%MZ)"
  echo "machine: $(machine_line)"
  echo "FreeRADIUS: $(freeradius_version), thread pool $THREADS, on CPUs $SERVER_CPUS"
  echo "generator: proisp-loadtest pinned to CPU $GEN_CPU (taskset); $METHOD, $USERS users, Message-Authenticator on"
  echo "each figure: mean of $ROUNDS alternating run(s) of ${DURATION} s"
  echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
} >"$RESULTS/header.txt"

log "warming up"
for i in "${!TARGETS[@]}"; do
  taskset -c "$GEN_CPU" "$LOADTEST" auth --server "${TARGETS[$i]}" --secret "$SECRET" \
    --users "$USERS" --method "$METHOD" -c 32 -d 2s -q >/dev/null || true
done

log "maximum throughput: closed loop, $CONCURRENCY in flight"
for r in $(seq 1 "$ROUNDS"); do
  for i in "${!TARGETS[@]}"; do
    measure "max-t$i-r$r" "${TARGETS[$i]}" --concurrency "$CONCURRENCY" --duration "${DURATION}s"
  done
done
MAX=()
for i in "${!TARGETS[@]}"; do
  MAX+=("$(field .answer_rate "$RESULTS"/max-t"$i"-r*.json)")
done
SLOWER=$(( MAX[0] < MAX[1] ? MAX[0] : MAX[1] ))

# Open loop at fractions of each target's own maximum, and both at one common rate.
LEVELS=(25 50 75)
for pct in "${LEVELS[@]}"; do
  log "open loop at $pct % of each target's maximum"
  for r in $(seq 1 "$ROUNDS"); do
    for i in "${!TARGETS[@]}"; do
      rate=$(( MAX[i] * pct / 100 )); [ "$rate" -ge 1 ] || rate=1
      measure "open$pct-t$i-r$r" "${TARGETS[$i]}" --rate "$rate" --duration "${DURATION}s"
    done
  done
done
COMMON=$(( SLOWER / 2 )); [ "$COMMON" -ge 1 ] || COMMON=1
log "open loop at one rate for both: $COMMON/s (half the slower maximum)"
for r in $(seq 1 "$ROUNDS"); do
  for i in "${!TARGETS[@]}"; do
    measure "common-t$i-r$r" "${TARGETS[$i]}" --rate "$COMMON" --duration "${DURATION}s"
  done
done

row() { # LABEL VALUE0 VALUE1
  printf '| %s | %s | %s | %s |\n' "$1" "$2" "$3" "$(ratio "$2" "$3")"
}
latency_rows() { # PREFIX LABEL
  local p=$1 label=$2 a b
  for q in p50 p99 p999; do
    a=$(field ".latency_us.$q" "$RESULTS"/"$p"-t0-r*.json)
    b=$(field ".latency_us.$q" "$RESULTS"/"$p"-t1-r*.json)
    row "$label ${q/p999/p99.9} µs" "$a" "$b"
  done
  a=$(field '.timeouts + .bad_replies' "$RESULTS"/"$p"-t0-r*.json)
  b=$(field '.timeouts + .bad_replies' "$RESULTS"/"$p"-t1-r*.json)
  printf '| %s timeouts + bad | %s | %s | |\n' "$label" "$a" "$b"
}

{
  cat "$RESULTS/header.txt"
  echo
  printf '| | %s | %s | ratio |\n|---|---:|---:|---:|\n' "${LABELS[0]}" "${LABELS[1]}"
  row "max auth/s (closed loop, c=$CONCURRENCY)" "${MAX[0]}" "${MAX[1]}"
  latency_rows max "at max:"
  for pct in "${LEVELS[@]}"; do
    row "$pct % of own max: rate/s" "$(( MAX[0] * pct / 100 ))" "$(( MAX[1] * pct / 100 ))"
    latency_rows "open$pct" "$pct %:"
  done
  row "common rate/s" "$COMMON" "$COMMON"
  latency_rows common "common:"
  echo
  echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "ratio: second ÷ first (above 1 means more throughput or more latency for the second)."
  echo "raw JSON: $RESULTS"
} | tee "$RESULTS/summary.md"
