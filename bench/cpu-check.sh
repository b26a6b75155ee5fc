#!/usr/bin/env bash
# Cross-checks the auth path's CPU per request three ways over the same window, at the
# same offered rates for FreeRADIUS 3.2 (files) and a second server (issue 17): the
# server's utime + stime from /proc/PID/stat (what compare.sh reports), `perf stat -e
# task-clock -p PID` (the same threads, counted by the scheduler in ns); and the
# generator's own task-clock beside them: on loopback the kernel's receive work for a
# packet (softirq) mostly runs in the sender's context, so it is charged to whoever sent.
#
#   bench/cpu-check.sh --second 127.0.0.1:18120 --second-pid "$(pgrep -x proisp-radiusd)"
#   bench/cpu-check.sh --second … --rates "5000 20000" --duration 10
#
# Every run is bounded by --duration; FreeRADIUS is ours and stopped on exit.
set -euo pipefail

source "$(dirname "$0")/lib.sh"

USERS=10000
DURATION=10
RATES="5000 20000"
SECOND=""
SECOND_PID=""
GEN_CPU="${GEN_CPU:-1}"
SERVER_CPUS="${SERVER_CPUS:-0}"
THREADS="${THREADS:-32}"
FR_AUTH="${FR_AUTH:-24712}"
PG_HOST="${PG_HOST:-127.0.0.1}" PG_PORT="${PG_PORT:-5432}" PG_USER="${PG_USER:-postgres}" PG_DB="${PG_DB:-unused}"

usage() {
  cat <<EOF
usage: bench/cpu-check.sh --second ADDR:PORT --second-pid PID [options]
  --rates "R1 R2 …"   offered rates, requests/s, the same for both servers (default "$RATES")
  --duration S        seconds per run (default $DURATION)
  --users N           user000001..N (default $USERS; the second server must know them)
environment: GEN_CPU ($GEN_CPU), SERVER_CPUS ($SERVER_CPUS), THREADS ($THREADS), FR_AUTH ($FR_AUTH)
EOF
}

while [ $# -gt 0 ]; do
  case "$1" in
    --second) SECOND=$2; shift 2 ;;
    --second-pid) SECOND_PID=$2; shift 2 ;;
    --rates) RATES=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --users) USERS=$2; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; exit 2 ;;
  esac
done
[ -n "$SECOND" ] && [ -n "$SECOND_PID" ] || { usage >&2; exit 2; }
command -v perf >/dev/null || die "perf is missing (Debian: linux-perf)"

install_packages
build_loadtest
HZ=$(getconf CLK_TCK)
WORK="$REPO_DIR/var/bench/cpu-check-$(date +%Y%m%d-%H%M%S)"
mkdir -p "$WORK"

fr_pid=$(start_freeradius "$WORK/fr-files" files "$FR_AUTH" $((FR_AUTH + 1)) "$USERS" "$THREADS" "$SERVER_CPUS")
trap 'stop_pids "$fr_pid"' EXIT

# One run: TARGET PID RATE. Prints a table row.
measure() {
  local label=$1 target=$2 pid=$3 rate=$4 out="$WORK/$1-$4"
  local p0 p1
  perf stat -e task-clock -x, -o "$out.perf" -p "$pid" -- sleep "$DURATION" &
  local perf_pid=$!
  p0=$(proc_cpu_ticks "$pid")
  # The generator under perf stat too.
  perf stat -e task-clock -x, -o "$out.gen-perf" -- taskset -c "$GEN_CPU" "$LOADTEST" auth \
    --server "$target" --secret "$SECRET" --users "$USERS" --rate "$rate" \
    --duration "${DURATION}s" --json --quiet >"$out.json" \
    || log "$label at $rate/s: the generator saw wrong or missing answers (see $out.json)"
  p1=$(proc_cpu_ticks "$pid")
  wait "$perf_pid" || true
  local answered task_ms gen_ms
  answered=$(jq -r .answered "$out.json")
  task_ms=$(awk -F, '$3 == "task-clock" { print $1 }' "$out.perf")
  gen_ms=$(awk -F, '$3 == "task-clock" { print $1 }' "$out.gen-perf")
  awk -v l="$label" -v r="$rate" -v a="$answered" -v p=$((p1 - p0)) -v t="$task_ms" \
      -v g="$gen_ms" -v hz="$HZ" -v d="$DURATION" 'BEGIN {
    if (a == 0) { printf "| %s | %d | 0 | – | – | – |\n", l, r; exit }
    printf "| %s | %d | %.0f | %.1f | %.1f | %.1f |\n", l, r, a / d, p / hz * 1e6 / a,
      t * 1e3 / a, g * 1e3 / a
  }'
}

{
  echo "machine: $(machine_line); FreeRADIUS $(freeradius_version) files on CPUs $SERVER_CPUS; generator on CPU $GEN_CPU; $DURATION s per run"
  echo
  echo "| server | offered/s | answered/s | /proc µs/req | perf task-clock µs/req | generator task-clock µs/req |"
  echo "|---|---:|---:|---:|---:|---:|"
  for rate in $RATES; do
    measure freeradius "127.0.0.1:$FR_AUTH" "$fr_pid" "$rate"
    measure second "$SECOND" "$SECOND_PID" "$rate"
  done
} | tee "$WORK/table.md"
log "raw files in $WORK"
