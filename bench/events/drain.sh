#!/usr/bin/env bash
# The relay's throughput on session events as radiusd writes them (sql/0022's columns,
# the CloudEvent built by proisp-events): a backlog made by LOAD_SECS of accounting
# (`acct --interims 1 -c 256`, events on, no relay) on a fresh bench/acct-radiusd.sh
# database, then a relay started against a private nats-server (JetStream, a fresh store
# under var/bench/) and timed from its first publish until the outbox is empty.
#
#   bench/events/drain.sh                 # prints "N events drained in S s: R/s"
#
# `proisp-events bench` measures the same with JSON events appended by itself.
# Environment: BIN (a directory with release proisp-radiusd, proisp-adminapi,
# proisp-loadtest and proisp-events; default: build them), RELAY (the proisp-events to
# time; default $BIN's), LOAD_SECS (15), NATS_PORT (24222).
set -euo pipefail

source "$(dirname "$0")/../lib.sh"

LOAD_SECS="${LOAD_SECS:-15}"
NATS_PORT="${NATS_PORT:-24222}"
if [ -z "${BIN:-}" ]; then
  (cd "$REPO_DIR" && cargo build --release -q -p proisp-radiusd -p proisp-adminapi \
    -p proisp-loadtest -p proisp-events)
  BIN="$(cd "$REPO_DIR" && cargo metadata --format-version 1 --no-deps | jq -r .target_directory)/release"
fi
RELAY="${RELAY:-$BIN/proisp-events}"
work="$REPO_DIR/var/bench/events-drain"
rm -rf "$work"; mkdir -p "$work"
outbox() { psql -h 127.0.0.1 -U postgres -X -At -d proisp_bench_acct -c 'SELECT count(*) FROM event_outbox'; }
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true' EXIT

BIN="$BIN" "$BENCH_DIR/acct-radiusd.sh" >"$work/radiusd.log" 2>&1 &
pids+=($!)
until grep -q ready "$work/radiusd.log"; do
  kill -0 "${pids[0]}" 2>/dev/null || die "acct-radiusd.sh exited: $(tail -3 "$work/radiusd.log")"
  sleep 0.5
done
"$BIN/proisp-loadtest" acct --server 127.0.0.1:31813 --secret "$SECRET" --users 30000 \
  --interims 1 --concurrency 256 --duration "${LOAD_SECS}s" --json --quiet >"$work/load.json" || [ $? -eq 3 ]
kill -TERM "${pids[0]}"; wait "${pids[0]}" 2>/dev/null || true

nats-server -js -p "$NATS_PORT" -sd "$work/nats" >"$work/nats.log" 2>&1 &
pids+=($!)
until (exec 3<>"/dev/tcp/127.0.0.1/$NATS_PORT") 2>/dev/null; do sleep 0.1; done
n=$(outbox)
PROISP_DATABASE_URL=postgres://postgres@127.0.0.1:5432/proisp_bench_acct \
  PROISP_NATS_URL="nats://127.0.0.1:$NATS_PORT" PROISP_RELAY__LISTEN=127.0.0.1:31913 \
  RUST_LOG=warn "$RELAY" serve >"$work/relay.log" 2>&1 &
pids+=($!)
until curl -fs http://127.0.0.1:31913/metrics 2>/dev/null | grep -q '^proisp_events_published_total [1-9]'; do
  sleep 0.01
done
t1=$(date +%s.%N)
while [ "$(outbox)" != 0 ]; do sleep 0.05; done
t2=$(date +%s.%N)
awk -v n="$n" -v s="$(echo "$t2 - $t1" | bc)" \
  'BEGIN { printf "%d session events drained in %.2f s: %.0f/s\n", n, s, n / s }'
