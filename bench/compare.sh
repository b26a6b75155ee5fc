#!/usr/bin/env bash
# Side-by-side RADIUS benchmark: proisp-loadtest against FreeRADIUS 3.2 (files module) and
# a second target, alternating between them in one run, then a comparison table with
# ratios, and the servers' CPU time per answered request. See bench/README.md.
#
#   bench/compare.sh                      # FreeRADIUS files vs FreeRADIUS rlm_sql/PostgreSQL
#   bench/compare.sh --second 127.0.0.1:1812   # vs a server you started (same users, secret)
#   bench/compare.sh --quick              # a 2-minute smoke run
#   bench/compare.sh --rate 20000         # also both at 20,000/s, open loop
#
# Every step is bounded: each measurement lasts --duration plus at most the 2 s timeout,
# the FreeRADIUS instances are ours and are killed on exit, and nothing is left running.
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"

USERS=10000
DURATION=10
ROUNDS=2
METHOD=pap
CONCURRENCY=128
SECOND=sql
SECOND_PID=""
RATES=()
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
  --second-pid P     with --second ADDRESS:PORT: the pid(s), comma-separated, whose CPU
                     time is the second target's (default: whatever listens on that UDP
                     port, by ss; none found: its CPU rows show -)
  --rate R           also run both targets open loop at R/s (repeatable or comma-separated)
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
    --second-pid) SECOND_PID=$2; shift 2 ;;
    --rate) IFS=, read -r -a more <<<"$2"; RATES+=("${more[@]}"); shift 2 ;;
    --quick) USERS=2000; DURATION=3; ROUNDS=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; die "unknown option $1" ;;
  esac
done

[ "$(nproc)" -gt "$GEN_CPU" ] || die "GEN_CPU=$GEN_CPU but this machine has $(nproc) CPUs"
for rate in "${RATES[@]}"; do
  [[ "$rate" =~ ^[1-9][0-9]*$ ]] || die "--rate wants whole requests per second, not '$rate'"
done
if [ ${#RATES[@]} -gt 0 ]; then mapfile -t RATES < <(printf '%s\n' "${RATES[@]}" | sort -un); fi
SECOND_PIDS=()
if [ -n "$SECOND_PID" ]; then
  [ "$SECOND" != sql ] || die "--second-pid goes with --second ADDRESS:PORT"
  IFS=, read -r -a SECOND_PIDS <<<"$SECOND_PID"
  for pid in "${SECOND_PIDS[@]}"; do
    if ! [[ "$pid" =~ ^[0-9]+$ ]] || [ -z "$(proc_cpu_ticks "$pid")" ]; then die "--second-pid: no process $pid"; fi
  done
fi
HZ=$(getconf CLK_TCK)

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
  if [ ${#SECOND_PIDS[@]} -eq 0 ]; then
    mapfile -t SECOND_PIDS < <(udp_port_pids "${SECOND##*:}")
  fi
fi
# Whose CPU time each target's figures count (space-separated pids; empty: unknown).
SERVER_PIDS=("${PIDS[0]}" "${PIDS[1]:-${SECOND_PIDS[*]}}")
describe_pids() { # PID...
  local pid out=""
  for pid in "$@"; do out+="${out:+, }$pid ($(cat "/proc/$pid/comm" 2>/dev/null || echo gone))"; done
  echo "${out:--}"
}
CPU_NOTE=()
for i in "${!TARGETS[@]}"; do
  read -r -a pids <<<"${SERVER_PIDS[i]}"
  CPU_NOTE+=("$(describe_pids "${pids[@]}")")
  if [ ${#pids[@]} -eq 0 ]; then
    log "no process found on UDP port ${TARGETS[i]##*:} (give --second-pid); CPU rows of ${LABELS[i]} will show -"
  else
    log "CPU time of ${LABELS[i]}: pid ${CPU_NOTE[i]}"
  fi
done

# One measurement: proisp-loadtest pinned to GEN_CPU, JSON kept under RESULTS. The target
# server's CPU time (user + system, all threads) over the run goes into the same JSON as
# .server_cpu_s, null when its pid is unknown or it exited during the run.
measure() { # NAME TARGET_INDEX ARGS...
  local name=$1 i=$2; shift 2
  local out="$RESULTS/$name.json" pids c0 c1 cpu=null
  read -r -a pids <<<"${SERVER_PIDS[i]}"
  c0=$(proc_cpu_ticks "${pids[@]}")
  taskset -c "$GEN_CPU" "$LOADTEST" auth --server "${TARGETS[i]}" --secret "$SECRET" \
    --users "$USERS" --method "$METHOD" --json --quiet "$@" >"$out" || [ $? -eq 3 ]
  c1=$(proc_cpu_ticks "${pids[@]}")
  if [ -n "$c0" ] && [ -n "$c1" ]; then cpu=$(awk -v t=$((c1 - c0)) -v hz="$HZ" 'BEGIN { print t / hz }'); fi
  jq --argjson cpu "$cpu" --arg pids "${SERVER_PIDS[i]}" \
    '. + {server_cpu_s: $cpu, server_pids: ($pids | split(" ") | map(select(. != "") | tonumber))}' \
    "$out" >"$out.tmp" && mv "$out.tmp" "$out"
  jq -r --arg n "$name" '"\($n): \(.answer_rate | floor)/s answered, p50 \(.latency_us.p50) p99 \(.latency_us.p99) µs, timeouts \(.timeouts), bad \(.bad_replies), send lag p99 \(.send_lag_us.p99 // "-") µs, server CPU " + (if .server_cpu_s == null then "-" else "\(.server_cpu_s) s (\(.server_cpu_s / .elapsed_s * 100 | round) % of a core), \(if .answered > 0 then .server_cpu_s * 1e7 / .answered | round / 10 else "-" end) µs per answer" end)' "$out" >&2
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
    measure "max-t$i-r$r" "$i" --concurrency "$CONCURRENCY" --duration "${DURATION}s"
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
      measure "open$pct-t$i-r$r" "$i" --rate "$rate" --duration "${DURATION}s"
    done
  done
done
COMMON=$(( SLOWER / 2 )); [ "$COMMON" -ge 1 ] || COMMON=1
log "open loop at one rate for both: $COMMON/s (half the slower maximum)"
for r in $(seq 1 "$ROUNDS"); do
  for i in "${!TARGETS[@]}"; do
    measure "common-t$i-r$r" "$i" --rate "$COMMON" --duration "${DURATION}s"
  done
done
# Extra fixed rates (--rate), both targets at each, whether or not they can keep up.
for rate in "${RATES[@]}"; do
  log "open loop at $rate/s for both (--rate)"
  for r in $(seq 1 "$ROUNDS"); do
    for i in "${!TARGETS[@]}"; do
      measure "rate$rate-t$i-r$r" "$i" --rate "$rate" --duration "${DURATION}s"
    done
  done
done

row() { # LABEL VALUE0 VALUE1 (- for unknown: no ratio)
  local q="-"
  [ "$2" = - ] || [ "$3" = - ] || q=$(ratio "$2" "$3")
  printf '| %s | %s | %s | %s |\n' "$1" "$2" "$3" "$q"
}
# The server's CPU µs per answered request, mean over the runs given, one decimal; - when
# any run lacks the figure.
cpu_us() { # JSON...
  jq -rs 'if all(.[]; .server_cpu_s != null and .answered > 0)
          then map(.server_cpu_s * 1e6 / .answered) | add / length else "-" end' "$@" \
    | awk '$1 == "-" { print; next } { printf "%.1f\n", $1 }'
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
  row "$label CPU µs per request" "$(cpu_us "$RESULTS"/"$p"-t0-r*.json)" "$(cpu_us "$RESULTS"/"$p"-t1-r*.json)"
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
  for rate in "${RATES[@]}"; do
    row "fixed rate/s (--rate)" "$rate" "$rate"
    row "$rate/s: answered/s" "$(field .answer_rate "$RESULTS"/rate"$rate"-t0-r*.json)" \
      "$(field .answer_rate "$RESULTS"/rate"$rate"-t1-r*.json)"
    latency_rows "rate$rate" "$rate/s:"
  done
  echo
  echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "ratio: second ÷ first (above 1 means more throughput or more latency for the second)."
  echo "CPU µs per request: the server process's user + system time over the run (/proc/PID/stat, all its threads; not the generator's, not PostgreSQL's) ÷ answered requests; pids: ${LABELS[0]} ${CPU_NOTE[0]}; ${LABELS[1]} ${CPU_NOTE[1]}."
  echo "raw JSON: $RESULTS"
} | tee "$RESULTS/summary.md"
