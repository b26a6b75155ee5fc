#!/usr/bin/env bash
# Side-by-side accounting benchmark: proisp-loadtest acct against FreeRADIUS 3.2 writing
# into PostgreSQL with rlm_sql (its stock radacct schema and queries) and, optionally, a
# second target; durable requests/s, latency, and the NAS-reboot storm. See
# bench/README.md, section "Accounting".
#
#   bench/compare-acct.sh                          # FreeRADIUS rlm_sql alone (~3 min)
#   bench/compare-acct.sh --second 127.0.0.1:1813  # vs a server you started (~5 min)
#   bench/compare-acct.sh --quick                  # a one-minute smoke run
#
# Every step is bounded: each measurement lasts at most its duration plus the timeout, a
# storm at most --storm-cap plus the timeout, the wait for FreeRADIUS's queue to drain
# after a run at most SETTLE_MAX seconds; the FreeRADIUS instance and its database are
# ours and are removed on exit.
set -euo pipefail

source "$(dirname "$0")/lib.sh"

USERS=30000
DURATION=30
ROUNDS=2
INTERIMS=10
INTERVAL=300
OCTETS=$((1536 << 20))
CONCURRENCY=256
STORM_CONCURRENCY=1024
STORM_CAP=60
RATE_FR=3000
RATE_SECOND=15000
TIMEOUT=10
SECOND=""
SECOND_ROWS=""
THREADS="${THREADS:-32}"
GEN_CPU="${GEN_CPU:-1}"
SERVER_CPUS="${SERVER_CPUS:-0}"
SETTLE_MAX="${SETTLE_MAX:-30}"
PG_HOST="${PG_HOST:-127.0.0.1}"
PG_PORT="${PG_PORT:-5432}"
PG_USER="${PG_USER:-postgres}"
PG_DB="${PG_DB:-proisp_bench_fr_acct}"
FR_AUTH="${FR_AUTH:-24812}"
FR_ACCT=$((FR_AUTH + 1))

usage() {
  cat <<EOF
usage: bench/compare-acct.sh [options]
  --users N              subscribers (sessions) user000001..N (default $USERS)
  --duration S           seconds of each sustained run, closed and open loop (default $DURATION)
  --rounds R             alternations of every measurement (default $ROUNDS)
  --interims K           Interim-Updates per session between Start and Stop (default $INTERIMS)
  --concurrency C        closed-loop requests in flight for the maximum (default $CONCURRENCY)
  --storm-concurrency C  requests in flight during the storm (default $STORM_CONCURRENCY)
  --storm-cap S          longest a storm may send (default $STORM_CAP)
  --rate-fr R            open-loop rate for FreeRADIUS (default $RATE_FR/s)
  --rate-second R        open-loop rate for the second target (default $RATE_SECOND/s)
  --timeout S            seconds a request waits for its reply (default $TIMEOUT)
  --second ADDR:PORT     also measure this accounting server (secret $SECRET, NAS 127.0.0.1)
  --second-rows CMD      shell command printing the second target's stored session count,
                         run after each of its runs (e.g. a psql -Atc 'SELECT count(*) ...')
  --quick                --users 10000 --duration 8 --rounds 1
environment: GEN_CPU ($GEN_CPU) and SERVER_CPUS ($SERVER_CPUS) for taskset, THREADS
($THREADS: FreeRADIUS thread pool and rlm_sql connections), PG_HOST/PG_PORT/PG_USER/PG_DB,
FR_AUTH (FreeRADIUS's auth port; accounting is the next one), SETTLE_MAX ($SETTLE_MAX s)
EOF
}

while [ $# -gt 0 ]; do
  case "$1" in
    --users) USERS=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    --interims) INTERIMS=$2; shift 2 ;;
    --concurrency) CONCURRENCY=$2; shift 2 ;;
    --storm-concurrency) STORM_CONCURRENCY=$2; shift 2 ;;
    --storm-cap) STORM_CAP=$2; shift 2 ;;
    --rate-fr) RATE_FR=$2; shift 2 ;;
    --rate-second) RATE_SECOND=$2; shift 2 ;;
    --timeout) TIMEOUT=$2; shift 2 ;;
    --second) SECOND=$2; shift 2 ;;
    --second-rows) SECOND_ROWS=$2; shift 2 ;;
    --quick) USERS=10000; DURATION=8; ROUNDS=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; die "unknown option $1" ;;
  esac
done

[ "$(nproc)" -gt "$GEN_CPU" ] || die "GEN_CPU=$GEN_CPU but this machine has $(nproc) CPUs"

install_packages
build_loadtest

# What we mirror: the stock virtual server must store accounting with rlm_sql, and
# FreeRADIUS answers an Accounting-Request only when its accounting section has run, so
# only after sql returned (checked for real below, with a lock on radacct).
[ -r "$SYSTEM_RADDB/sites-available/default" ] || die "no $SYSTEM_RADDB/sites-available/default to compare with"
STOCK_ACCT="$(sed -n '/^accounting {/,/^}/p' "$SYSTEM_RADDB/sites-available/default" \
  | sed -e 's/#.*//' -e 's/^[[:space:]]*//' | grep -v '^$' | grep -v '^accounting {$' \
  | grep -v '^}$' | tr '\n' ' ')"
grep -qE '(^| )-?sql( |$)' <<<"$STOCK_ACCT" \
  || die "the stock default server's accounting section does not call sql: $STOCK_ACCT"
log "stock accounting section: { $STOCK_ACCT}"

WORK="$(mktemp -d /tmp/proisp-bench-acct.XXXXXX)"
RESULTS="${RESULTS:-$REPO_DIR/var/bench/$(date +%Y%m%d-%H%M%S)-acct}"
mkdir -p "$RESULTS/checks"
PIDS=()
cleanup() {
  stop_pids "${PIDS[@]}"
  rm -rf "$WORK"
  drop_radius_db
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log "creating database $PG_DB (FreeRADIUS's PostgreSQL schema)"
create_radius_db
q() { psql -d "$PG_DB" -AtqX -v ON_ERROR_STOP=1 -c "$1"; }

log "starting FreeRADIUS (rlm_sql accounting into $PG_HOST:$PG_PORT/$PG_DB) on 127.0.0.1:$FR_ACCT, CPUs $SERVER_CPUS"
FR_PID=$(start_freeradius "$WORK/fr-acct" acct "$FR_AUTH" "$FR_ACCT" 0 "$THREADS" "$SERVER_CPUS") || exit 1
PIDS+=("$FR_PID")
TARGETS=("127.0.0.1:$FR_ACCT")
LABELS=("FreeRADIUS rlm_sql")
RATES=("$RATE_FR")
if [ -n "$SECOND" ]; then
  TARGETS+=("$SECOND")
  LABELS+=("$SECOND")
  RATES+=("$RATE_SECOND")
fi

# Durability probe: with radacct locked for 1.5 s, a Start must wait for the lock, i.e.
# FreeRADIUS must not answer before PostgreSQL has the row.
log "probe: is the Accounting-Response sent only after the SQL write?"
psql -d "$PG_DB" -qX -c "BEGIN; LOCK TABLE radacct IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(1.5); COMMIT;" >/dev/null &
LOCKER=$!
sleep 0.3
"$LOADTEST" acct --server "${TARGETS[0]}" --secret "$SECRET" --users 1 --first-user 999999 \
  -n 1 -c 1 --timeout 5s --json --quiet >"$RESULTS/probe.json" || true
wait "$LOCKER" || true
PROBE_MS=$(jq '.latency_us.max / 1000 | floor' "$RESULTS/probe.json")
if [ "$(jq .answered "$RESULTS/probe.json")" = 1 ] && [ "$PROBE_MS" -ge 1000 ]; then
  PROBE="answered after ${PROBE_MS} ms with radacct locked for ~1.2 s: the response waits for the write"
else
  PROBE="FAILED: answered=$(jq .answered "$RESULTS/probe.json") after ${PROBE_MS} ms with radacct locked"
  log "warning: probe $PROBE"
fi
log "probe: $PROBE"

# What a sessions run of SENT requests stored if every request reached the database:
# sessions (rows), how many stopped, and the sums of the last Acct-Session-Time and
# download octets per session. Request seq is (cycle, step, subscriber), subscriber
# fastest (loadtest/src/acct.rs).
expect_sessions() { # SENT
  awk -v S="$1" -v n="$USERS" -v k="$INTERIMS" -v iv="$INTERVAL" -v oc="$OCTETS" 'BEGIN {
    per = n * (k + 2); rows = 0; stops = 0; st = 0; so = 0
    for (c = 0; c * per < S; c++)
      for (u = 0; u < n; u++) {
        base = c * per + u; if (base >= S) break
        m = int((S - 1 - base) / n); if (m > k + 1) m = k + 1
        rows++; if (m == k + 1) stops++; st += iv * m; so += oc * m
      }
    printf "%d %d %.0f %.0f\n", rows, stops, st, so
  }'
}
# The packet mix of SENT requests: Starts, Interim-Updates, Stops.
mix() { # SENT
  awk -v S="$1" -v n="$USERS" -v k="$INTERIMS" 'BEGIN {
    per = n * (k + 2); full = int(S / per); rem = S % per
    starts = full * n + (rem < n ? rem : n)
    stops = full * n + (rem > n * (k + 1) ? rem - n * (k + 1) : 0)
    printf "%d %d %d\n", starts, S - starts - stops, stops
  }'
}

# radacct rows written after id M: rows, stopped, sum of session time, sum of octets.
stored_since() { # M
  q "SELECT count(*), count(acctstoptime), coalesce(sum(acctsessiontime), 0),
            coalesce(sum(acctoutputoctets), 0) FROM radacct WHERE radacctid > $1" | tr '|' ' '
}
# Waits until FreeRADIUS has nothing left to write (requests the generator gave up on
# may still be queued): the stored figures unchanged over a second.
settle() { # M
  local prev="" cur
  for _ in $(seq 1 "$SETTLE_MAX"); do
    cur="$(stored_since "$1") $(q 'SELECT count(*) FROM radacct WHERE acctstoptime IS NULL')"
    [ "$cur" = "$prev" ] && return 0
    prev=$cur
    sleep 1
  done
  log "warning: FreeRADIUS still writing after ${SETTLE_MAX} s"
}
# Compares what radacct holds with what was sent: exact when every request was answered
# ("ok"); with U unanswered, rows and Stops may each fall short by at most U (a request
# FreeRADIUS never took was never written: "ok, U unanswered"); anything else,
# including more than was sent, is a MISMATCH.
judge() { # STORED EXPECTED UNANSWERED
  awk -v got="$1" -v want="$2" -v u="$3" 'BEGIN {
    if (got == want) { print "ok"; exit }
    split(got, g, " "); split(want, w, " ")
    if (u > 0 && w[5] == "" && g[1] <= w[1] && g[1] >= w[1] - u && g[2] <= w[2] && g[2] >= w[2] - u \
        && g[3] <= w[3] && g[4] <= w[4]) { printf "ok, %d unanswered\n", u; exit }
    print "MISMATCH"
  }'
}
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0; }
# CPU ticks of the PostgreSQL backends serving our database (FreeRADIUS's pool).
pg_ticks() {
  local t=0 pid
  for pid in $(q "SELECT pid FROM pg_stat_activity WHERE datname = '$PG_DB' AND pid <> pg_backend_pid()"); do
    t=$((t + $(cpu_ticks "$pid")))
  done
  echo "$t"
}

# CPU time, in ticks, that the machine spent busy (all CPUs): user, nice, system, irq
# and softirq (network receive work lands in the last one, not in any process's times).
machine_ticks() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 }' /proc/stat; }
HZ=$(getconf CLK_TCK)

# One measurement: proisp-loadtest pinned to GEN_CPU, JSON kept under RESULTS; next to
# it, under checks/, where the machine's CPU went and, for FreeRADIUS, whether radacct
# holds what was answered.
measure() { # NAME KIND(sessions|storm) TARGET-INDEX ARGS...
  local name=$1 kind=$2 i=$3; shift 3
  local out="$RESULTS/$name.json" side="$RESULTS/checks/$name.json"
  local before=0 fr0=0 pg0=0 rows0="" m0 t0
  if [ "$i" = 0 ]; then
    before=$(q 'SELECT coalesce(max(radacctid), 0) FROM radacct')
    fr0=$(cpu_ticks "$FR_PID"); pg0=$(pg_ticks)
  elif [ -n "$SECOND_ROWS" ]; then
    rows0=$(bash -c "$SECOND_ROWS" 2>/dev/null || echo "?")
  fi
  local extra=()
  [ "$kind" = storm ] && extra=(--storm)
  m0=$(machine_ticks); t0=$(date +%s.%N)
  # bash's `time` reports the generator's own CPU (user and system seconds).
  local TIMEFORMAT='%3U %3S' gen_cpu
  gen_cpu=$( { time taskset -c "$GEN_CPU" "$LOADTEST" acct --server "${TARGETS[$i]}" --secret "$SECRET" \
    --users "$USERS" --interims "$INTERIMS" --interim-interval "$INTERVAL" \
    --octets-per-interim "$OCTETS" --timeout "${TIMEOUT}s" --json --quiet "${extra[@]}" "$@" \
    >"$out" 2>"$RESULTS/$name.stderr" || [ $? -eq 3 ]; } 2>&1 ) \
    || { cat "$RESULTS/$name.stderr" >&2; die "$name: proisp-loadtest failed"; }
  gen_cpu=$(awk '{ print $1 + $2 }' <<<"$gen_cpu")
  [ -s "$RESULTS/$name.stderr" ] || rm -f "$RESULTS/$name.stderr"
  local sent; sent=$(jq .sent "$out")
  local check="-" got="" want="" open fr1=0 pg1=0
  if [ "$i" = 0 ]; then
    settle "$before"
    fr1=$(cpu_ticks "$FR_PID"); pg1=$(pg_ticks)
    got=$(stored_since "$before")
    if [ "$kind" = storm ]; then
      want="$sent 0 0 0"
    else
      want=$(expect_sessions "$sent")
    fi
    check=$(judge "$got" "$want" "$(jq '.timeouts + .not_sent' "$out")")
    if [ "$kind" = storm ]; then
      # The Accounting-On closed every earlier session of the NAS: only the storm's are open.
      open=$(q 'SELECT count(*) FROM radacct WHERE acctstoptime IS NULL')
      if [ "$open" != "${got%% *}" ]; then
        check="MISMATCH"
        want="$want, and only the storm's sessions open ($open are)"
      fi
    fi
    log "$name: radacct $check (stored: $got; expected: $want)"
  else
    sleep 1
    if [ -n "$SECOND_ROWS" ]; then
      got=$(bash -c "$SECOND_ROWS" 2>/dev/null || echo "?")
      want=$(expect_sessions "$sent" | cut -d' ' -f1)
      [ "$kind" = storm ] && want=$sent
      log "$name: second target's count $rows0 -> $got (new sessions sent: $want)"
      got="$rows0 -> $got"
    fi
  fi
  local m1 wall; m1=$(machine_ticks); wall=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { print b - a }')
  jq -n --arg check "$check" --arg got "$got" --arg want "$want" \
    --argjson wall "$wall" --argjson hz "$HZ" --argjson machine $((m1 - m0)) \
    --argjson fr $((fr1 - fr0)) --argjson pg $((pg1 - pg0)) --argjson gen "$gen_cpu" --argjson fr_target "$([ "$i" = 0 ] && echo true || echo false)" \
    '{check: $check, stored: $got, expected: $want,
      fields: (if $fr_target then "radacct rows, stopped, sum(acctsessiontime), sum(acctoutputoctets) of the run" else "--second-rows before -> after" end),
      wall_s: $wall, machine_cpu_s: ($machine / $hz), generator_cpu_s: $gen}
     + (if $fr_target then {freeradius_cpu_s: ($fr / $hz), postgres_backends_cpu_s: ($pg / $hz),
          others_cpu_s: ((($machine - $fr - $pg) / $hz - $gen) * 1000 | round / 1000)} else {} end)' >"$side"
  jq -r --arg n "$name" '"\($n): sent \(.sent), \(.answer_rate | floor)/s answered, p50 \(.latency_us.p50) p99 \(.latency_us.p99) µs, timeouts \(.timeouts), not sent \(.not_sent), bad \(.bad_replies), send lag p99 \(.send_lag_us.p99 // "-") µs, \(.elapsed_s * 10 | floor / 10) s"' "$out" >&2
}

{
  echo "# proisp-loadtest acct side by side, $(date -u +%Y-%m-%dT%H:%MZ)"
  echo "machine: $(machine_line)"
  echo "FreeRADIUS: $(freeradius_version), thread pool and rlm_sql pool $THREADS, on CPUs $SERVER_CPUS; stock postgresql queries.conf and schema; preacct { preprocess acct_unique }, accounting { ok sql attr_filter.accounting_response } (stock: { $STOCK_ACCT})"
  echo "PostgreSQL: $(q 'SHOW server_version'), synchronous_commit=$(q 'SHOW synchronous_commit'), fsync=$(q 'SHOW fsync'), unpinned"
  echo "durability probe: $PROBE"
  echo "generator: proisp-loadtest acct pinned to CPU $GEN_CPU (taskset); $USERS sessions, Start + $INTERIMS Interim-Updates + Stop, timeout ${TIMEOUT} s, no retransmission"
  echo "each figure: mean of $ROUNDS alternating run(s); sustained runs ${DURATION} s; timeouts: sum over the rounds"
  echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
} >"$RESULTS/header.txt"

log "warming up"
for i in "${!TARGETS[@]}"; do
  taskset -c "$GEN_CPU" "$LOADTEST" acct --server "${TARGETS[$i]}" --secret "$SECRET" \
    --users 1000 --first-user 900001 --interims 1 -c 32 -d 2s --timeout "${TIMEOUT}s" -q >/dev/null || true
done

for r in $(seq 1 "$ROUNDS"); do
  log "round $r/$ROUNDS: sessions, closed loop, $CONCURRENCY in flight, ${DURATION} s"
  for i in "${!TARGETS[@]}"; do
    measure "max-t$i-r$r" sessions "$i" --concurrency "$CONCURRENCY" --duration "${DURATION}s"
  done
  log "round $r/$ROUNDS: sessions, open loop, ${DURATION} s"
  for i in "${!TARGETS[@]}"; do
    measure "open-t$i-r$r" sessions "$i" --rate "${RATES[$i]}" --duration "${DURATION}s"
  done
  log "round $r/$ROUNDS: NAS reboot storm, Accounting-On then $USERS Starts, $STORM_CONCURRENCY in flight"
  for i in "${!TARGETS[@]}"; do
    measure "storm-t$i-r$r" storm "$i" --concurrency "$STORM_CONCURRENCY" --duration "${STORM_CAP}s"
  done
done

FINAL_ROWS=$(q 'SELECT count(*) FROM radacct')
MISMATCHES=$(cat "$RESULTS"/checks/*.json 2>/dev/null | jq -s '[.[] | select(.check == "MISMATCH")] | length')

ms() { awk -v v="$1" 'BEGIN { printf "%.1f", v / 1000 }'; }
# Time until every Start was acknowledged: from the first send to the last verified
# reply (answered ÷ answer_rate); "incomplete" when some were never answered.
storm_time() { # JSON
  jq -r 'if .answered == .sent and .timeouts == 0 and .not_sent == 0
         then (.answered / .answer_rate * 100 | round / 100 | tostring) else "incomplete" end' "$1"
}
storm_times() { # TARGET-INDEX
  local f out=()
  for f in "$RESULTS"/storm-t"$1"-r*.json; do out+=("$(storm_time "$f")"); done
  local IFS=/; echo "${out[*]}"
}
losses() { jq -s 'map(.timeouts + .not_sent + .bad_replies) | add' "$@"; }
checks() {
  local f out=()
  for f in "$@"; do out+=("$(jq -r .check "$RESULTS/checks/$(basename "$f")" 2>/dev/null || echo -)"); done
  local IFS=/; echo "${out[*]}"
}

{
  cat "$RESULTS/header.txt"
  echo
  echo "| target | scenario | req/s | p50 ms | p99 ms | timeouts | storm time s | radacct |"
  echo "|---|---|---:|---:|---:|---:|---:|---|"
  for i in "${!TARGETS[@]}"; do
    for s in max open storm; do
      files=("$RESULTS"/"$s"-t"$i"-r*.json)
      case $s in
        max) label="sessions, closed loop c=$CONCURRENCY (max)" ;;
        open) label="sessions, open loop ${RATES[$i]}/s" ;;
        storm) label="storm: On + $USERS Starts, c=$STORM_CONCURRENCY" ;;
      esac
      st="-"; [ $s = storm ] && st=$(storm_times "$i")
      ck="-"; [ "$i" = 0 ] && ck=$(checks "${files[@]}")
      printf '| %s | %s | %s | %s | %s | %s | %s | %s |\n' "${LABELS[$i]}" "$label" \
        "$(field .answer_rate "${files[@]}")" "$(ms "$(field .latency_us.p50 "${files[@]}")")" \
        "$(ms "$(field .latency_us.p99 "${files[@]}")")" "$(losses "${files[@]}")" "$st" "$ck"
    done
  done
  if [ ${#TARGETS[@]} -gt 1 ]; then
    echo
    echo "| ratio (second ÷ FreeRADIUS) | req/s | p99 |"
    echo "|---|---:|---:|"
    for s in max open storm; do
      a=("$RESULTS"/"$s"-t0-r*.json); b=("$RESULTS"/"$s"-t1-r*.json)
      printf '| %s | %s | %s |\n' "$s" "$(ratio "$(field .answer_rate "${a[@]}")" "$(field .answer_rate "${b[@]}")")" \
        "$(ratio "$(field .latency_us.p99 "${a[@]}")" "$(field .latency_us.p99 "${b[@]}")")"
    done
  fi
  echo
  for i in "${!TARGETS[@]}"; do
    for s in max open; do
      for f in "$RESULTS"/"$s"-t"$i"-r*.json; do
        read -r st in sp <<<"$(mix "$(jq .sent "$f")")"
        printf -- '- %s %s: sent %s = %s Starts, %s Interim-Updates, %s Stops; send lag p99 %s µs\n' \
          "${LABELS[$i]}" "$(basename "$f" .json)" "$(jq .sent "$f")" "$st" "$in" "$sp" \
          "$(jq -r '.send_lag_us.p99 // "-"' "$f")"
      done
    done
    for f in "$RESULTS"/storm-t"$i"-r*.json; do
      printf -- '- %s %s: Accounting-On answered %s in %s ms\n' "${LABELS[$i]}" "$(basename "$f" .json)" \
        "$(jq .accounting_on.answered "$f")" "$(ms "$(jq .accounting_on.latency_us.max "$f")")"
    done
  done
  for f in "$RESULTS"/checks/*.json; do
    jq -r --arg n "$(basename "$f" .json)" '"- CPU during \($n) (\(.wall_s * 10 | round / 10) s wall, \(.machine_cpu_s) s busy in all): generator \(.generator_cpu_s) s" + (if .freeradius_cpu_s then ", FreeRADIUS \(.freeradius_cpu_s) s, its PostgreSQL backends \(.postgres_backends_cpu_s) s, everything else (other processes, PostgreSQL background work, interrupts) \(.others_cpu_s * 100 | round / 100) s" else ", the rest (server and everything else) \((.machine_cpu_s - .generator_cpu_s) * 100 | round / 100) s" end)' "$f"
  done
  echo
  echo "radacct: $FINAL_ROWS rows at the end; $MISMATCHES run(s) whose stored rows, Stops and counters did not match what was answered"
  echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "storm time: first send to last verified reply; req/s: verified replies per second; p50/p99 open loop from the scheduled send time, closed loop from the send"
  echo "raw JSON: $RESULTS"
} | tee "$RESULTS/summary.md"

[ "$MISMATCHES" = 0 ] || { log "error: radacct does not hold what FreeRADIUS acknowledged (see $RESULTS/checks/)"; exit 4; }
