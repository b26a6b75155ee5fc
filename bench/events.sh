#!/usr/bin/env bash
# Issue 22's performance figures for session events, on the proisp-radiusd that
# bench/acct-radiusd.sh runs (its database proisp_bench_acct), with a proisp-events relay
# of this script's to a NATS server (NATS_URL, default the machine's 127.0.0.1:4222).
#
#   bench/acct-radiusd.sh &      # wait for "ready"
#   bench/events.sh ab           # accounting with session events off, on with the
#                                # CloudEvent built in SQL (before sql/0022), on as shipped
#                                # (bench/acct-ab.sh; SIDES names other bench/events/*.sql,
#                                # e.g. on-notify: the NOTIFY in each transaction, before
#                                # sql/0020)
#   bench/events.sh lag          # Acct-Stop acknowledged → session.stop on the stream, at RATE/s
#   bench/events.sh outage       # NATS stopped for OUTAGE s at OUTAGE_RATE acct/s: outbox
#                                # depth, memory, and the drain afterwards
#
# `ab` switches the session-event triggers off and on between runs (bench/events/off.sql,
# on.sql) with the relay running on both sides, so the relay's reads and deletes count.
# `lag` reads the stream with `proisp-events tail` and takes each session.stop's lag as
# its arrival less its CloudEvents `time`, which is when the batch's transaction began:
# before the commit, so before the acknowledgement — an upper bound.
# `outage` needs NATS_SERVICE_STOP / NATS_SERVICE_START: commands that stop and start the
# NATS server (default: SIGSTOP and SIGCONT of the nats-server listening on NATS_URL's
# port — a frozen server, to the relay a dead one).
#
# Environment: BIN (a directory holding proisp-events and proisp-loadtest; default: build
# them, release), NATS_URL, RATE (10000), DURATION (30), OUTAGE (300), OUTAGE_RATE (3000),
# USERS (30000), ACCT_PORT (31813), PG_HOST/PG_PORT/PG_USER, and for `ab` SIDES
# (off on-json on) and acct-ab.sh's INTERIMS, ROUNDS, DURATION, CONCURRENCY.
set -euo pipefail

source "$(dirname "$0")/lib.sh"

mode="${1:-}"
NATS_URL="${NATS_URL:-nats://127.0.0.1:4222}"
RATE="${RATE:-10000}" DURATION="${DURATION:-30}" OUTAGE="${OUTAGE:-300}"
OUTAGE_RATE="${OUTAGE_RATE:-3000}" USERS="${USERS:-30000}" ACCT_PORT="${ACCT_PORT:-31813}"
PG_HOST="${PG_HOST:-127.0.0.1}" PG_PORT="${PG_PORT:-5432}" PG_USER="${PG_USER:-postgres}"
PSQL=(psql -h "$PG_HOST" -p "$PG_PORT" -U "$PG_USER" -d proisp_bench_acct -X -Atq -v ON_ERROR_STOP=1)

if [ -n "${BIN:-}" ]; then
  bin=$BIN
else
  log "building proisp-events and proisp-loadtest (release)"
  (cd "$REPO_DIR" && cargo build --release -q -p proisp-events -p proisp-loadtest)
  bin="$(cd "$REPO_DIR" && cargo metadata --format-version 1 --no-deps | jq -r .target_directory)/release"
fi
LOADTEST="$bin/proisp-loadtest"
out="$REPO_DIR/var/bench/events-$(date +%Y%m%d-%H%M%S)"
mkdir -p "$out"
pgrep -f "proisp-radiusd --config .*/acct-radiusd/radiusd.toml" >/dev/null \
  || die "no proisp-radiusd of bench/acct-radiusd.sh running"

# The relay, on the benchmark's database; stopped when the script ends.
relay_pid=
start_relay() {
  PROISP_DATABASE_URL="postgres://$PG_USER@$PG_HOST:$PG_PORT/proisp_bench_acct" \
    PROISP_NATS_URL="$NATS_URL" PROISP_RELAY__LISTEN=127.0.0.1:31913 RUST_LOG=warn \
    "$bin/proisp-events" serve >"$out/relay.log" 2>&1 &
  relay_pid=$!
  for _ in $(seq 100); do
    curl -fs http://127.0.0.1:31913/health 2>/dev/null | grep -q leader && return 0
    sleep 0.1
  done
  die "the relay did not become leader (see $out/relay.log)"
}
tail_pid=
cleanup() {
  [ -z "$tail_pid" ] || kill "$tail_pid" 2>/dev/null || true
  pkill -f "proisp-events tail proisp.v1.session.stop" 2>/dev/null || true
  [ -z "$relay_pid" ] || kill "$relay_pid" 2>/dev/null || true
  [ -z "${nats_pid:-}" ] || kill -CONT "$nats_pid" 2>/dev/null || true
}
trap cleanup EXIT
outbox() { "${PSQL[@]}" -c "SELECT count(*) FROM event_outbox"; }
rss_kb() { awk '/VmRSS/ { print $2 }' "/proc/$1/status"; }

start_relay
case "$mode" in
  ab)
    # on-json: sql/0016's session-event functions (the CloudEvent built in SQL, before
    # sql/0022) under bench_ names, the two statement triggers pointed at them;
    # bench/events/on.sql points them back.
    {
      echo "\\ir $REPO_DIR/sql/0020_outbox_deferred_notify.sql"
      for f in proisp_session_event_data proisp_session_started proisp_session_closed; do
        awk "/^CREATE FUNCTION $f/,/^\\\$\\\$;/" "$REPO_DIR/sql/0016_session_events.sql"
      done | sed 's/^CREATE FUNCTION/CREATE OR REPLACE FUNCTION/; s/proisp_session_\(event_data\|started\|closed\)/bench_session_\1/g'
      sed 's/proisp_session_\(started\|closed\)()/bench_session_\1()/' "$BENCH_DIR/events/on.sql" \
        | grep -v '^\\ir\|^--'
    } >"$out/on-json.sql"
    sides=()
    for side in ${SIDES:-off on-json on}; do
      if [ "$side" = on-json ]; then sides+=("$out/on-json.sql"); else sides+=("$BENCH_DIR/events/$side.sql"); fi
    done
    LOADTEST="$LOADTEST" "$BENCH_DIR/acct-ab.sh" "${sides[@]}"
    ;;
  lag)
    "${PSQL[@]}" -f "$BENCH_DIR/events/on.sql"
    PROISP_NATS_URL="$NATS_URL" "$bin/proisp-events" tail 'proisp.v1.session.stop' |
      jq --unbuffered -r '.time as $t
        | ((($t[0:19] + "Z") | fromdate) + ($t[20:23] | tonumber) / 1000) as $at
        | (now - $at) * 1000 | floor' >"$out/lag-ms.txt" &
    tail_pid=$!
    "$LOADTEST" acct --server "127.0.0.1:$ACCT_PORT" --secret "$SECRET" --users "$USERS" \
      --interims 1 --rate "$RATE" --duration "${DURATION}s" --timeout 10s --json --quiet \
      >"$out/load.json" || log "wrong or missing answers"
    for _ in $(seq 300); do [ "$(outbox)" = 0 ] && break; sleep 0.1; done
    sleep 1
    kill "$tail_pid" 2>/dev/null || true
    pkill -f "proisp-events tail proisp.v1.session.stop" 2>/dev/null || true
    tail_pid=
    sort -n "$out/lag-ms.txt" >"$out/lag-sorted.txt"
    n=$(wc -l <"$out/lag-sorted.txt")
    [ "$n" -gt 0 ] || die "no session.stop arrived"
    pct() { sed -n "$(( ($1 * n + 99) / 100 ))p" "$out/lag-sorted.txt"; }
    jq -r --arg n "$n" --arg p50 "$(pct 50)" --arg p99 "$(pct 99)" --arg max "$(tail -1 "$out/lag-sorted.txt")" \
      '"offered \(.offered_rate // "-")/s, answered \(.answer_rate | floor)/s, ack p99 \(.latency_us.p99 / 1000) ms; \($n) session.stop events: lag p50 \($p50) ms, p99 \($p99) ms, max \($max) ms"' \
      "$out/load.json"
    ;;
  outage)
    "${PSQL[@]}" -f "$BENCH_DIR/events/on.sql"
    port=${NATS_URL##*:}
    nats_pid=$(pgrep -f "nats-server.* -p $port" | head -1) || die "no nats-server on port $port"
    radiusd=$(pgrep -f "proisp-radiusd --config .*/acct-radiusd/radiusd.toml" | head -1)
    "$LOADTEST" acct --server "127.0.0.1:$ACCT_PORT" --secret "$SECRET" --users "$USERS" \
      --interims 1 --rate "$OUTAGE_RATE" --duration "$((OUTAGE + 20))s" --timeout 10s \
      --json --quiet >"$out/load.json" &
    load=$!
    sleep 10
    log "NATS frozen for ${OUTAGE}s"
    kill -STOP "$nats_pid"
    echo "second outbox_rows radiusd_rss_kb relay_rss_kb" >"$out/outage.txt"
    for s in $(seq "$OUTAGE"); do
      [ $((s % 10)) -ne 0 ] || echo "$s $(outbox) $(rss_kb "$radiusd") $(rss_kb "$relay_pid")" >>"$out/outage.txt"
      sleep 1
    done
    kill -CONT "$nats_pid"
    log "NATS back; draining"
    t0=$(date +%s.%N)
    peak=$(outbox)
    wait "$load" || log "wrong or missing answers"
    while [ "$(outbox)" != 0 ]; do sleep 0.2; done
    t1=$(date +%s.%N)
    cat "$out/outage.txt"
    jq -r --arg peak "$peak" --arg drain "$(echo "$t1 - $t0" | bc)" \
      '"answered \(.answer_rate | floor)/s, ack p99 \(.latency_us.p99 / 1000) ms, timeouts \(.timeouts); outbox at the thaw \($peak) rows, drained in \($drain) s"' \
      "$out/load.json"
    ;;
  *) echo "usage: bench/events.sh ab|lag|outage" >&2; exit 2 ;;
esac
log "raw output in $out"
