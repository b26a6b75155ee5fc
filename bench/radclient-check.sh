#!/usr/bin/env bash
# Cross-checks proisp-loadtest against FreeRADIUS's own client, radclient: the same logins
# (one in ten with a wrong password) sent by both to a private FreeRADIUS, same
# concurrency, same CPU. The accept and reject counts must be identical, and the rates of
# the same order (radclient is a sequential C program built for correctness, not speed,
# so it is expected to be the slower; a proisp-loadtest far slower than radclient, or far
# faster than the server can be, would mean the tool is wrong).
#
#   bench/radclient-check.sh [--users N] [--requests M] [--concurrency C]
set -euo pipefail

source "$(dirname "$0")/lib.sh"

USERS=2000
REQUESTS=20000
CONCURRENCY=64
THREADS="${THREADS:-8}"
GEN_CPU="${GEN_CPU:-1}"
SERVER_CPUS="${SERVER_CPUS:-0}"
PORT="${PORT:-23812}"

while [ $# -gt 0 ]; do
  case "$1" in
    --users) USERS=$2; shift 2 ;;
    --requests) REQUESTS=$2; shift 2 ;;
    --concurrency) CONCURRENCY=$2; shift 2 ;;
    *) die "usage: bench/radclient-check.sh [--users N] [--requests M] [--concurrency C]" ;;
  esac
done

install_packages
build_loadtest
WORK="$(mktemp -d /tmp/proisp-radclient.XXXXXX)"
PIDS=()
trap 'stop_pids "${PIDS[@]}"; rm -rf "$WORK"' EXIT
trap 'exit 130' INT TERM

pid=$(start_freeradius "$WORK/fr" files "$PORT" $((PORT + 1)) "$USERS" "$THREADS" "$SERVER_CPUS") || exit 1
PIDS+=("$pid")

# The same sequence proisp-loadtest sends: request i logs in subscriber i mod USERS + 1,
# and requests 9, 19, 29… (one in ten, spread evenly) carry a wrong password.
awk -v n="$REQUESTS" -v users="$USERS" 'BEGIN {
  for (i = 0; i < n; i++) {
    u = i % users + 1
    wrong = int((i + 1) * 10 / 100) > int(i * 10 / 100)
    printf "User-Name = \"user%06d\"\n", u
    if (wrong) print "User-Password = \"not-the-password\""
    else printf "User-Password = \"pw%06d\"\n", u
    print "NAS-IP-Address = 127.0.0.1"
    print "Message-Authenticator = 0x00"
    print ""
  }
}' >"$WORK/requests"

log "radclient: $REQUESTS requests, $CONCURRENCY in parallel"
start=$(date +%s.%N)
taskset -c "$GEN_CPU" radclient -f "$WORK/requests" -p "$CONCURRENCY" -q -s -t 5 -r 1 \
  "127.0.0.1:$PORT" auth "$SECRET" >"$WORK/radclient.out" 2>&1 || true
end=$(date +%s.%N)
rc_accept=$(awk '/Accepted/ { print $NF }' "$WORK/radclient.out")
rc_reject=$(awk '/Rejected/ { print $NF }' "$WORK/radclient.out")
rc_lost=$(awk '/Lost/ { print $NF }' "$WORK/radclient.out")
rc_rate=$(awk -v n="$REQUESTS" -v s="$start" -v e="$end" 'BEGIN { printf "%.0f", n / (e - s) }')

log "proisp-loadtest: $REQUESTS requests, $CONCURRENCY in flight"
taskset -c "$GEN_CPU" "$LOADTEST" auth --server "127.0.0.1:$PORT" --secret "$SECRET" \
  --users "$USERS" --requests "$REQUESTS" --concurrency "$CONCURRENCY" \
  --wrong-password-percent 10 --duration 120s --json --quiet >"$WORK/loadtest.json" || true
read -r lt_accept lt_reject lt_lost lt_rate lt_p50 lt_p99 < <(jq -r \
  '"\(.accepts) \(.rejects) \(.timeouts + .bad_replies) \(.answer_rate | floor) \(.latency_us.p50) \(.latency_us.p99)"' \
  "$WORK/loadtest.json")

printf '| | radclient | proisp-loadtest |\n|---|---:|---:|\n'
printf '| accepted | %s | %s |\n' "$rc_accept" "$lt_accept"
printf '| rejected | %s | %s |\n' "$rc_reject" "$lt_reject"
printf '| lost / timed out / bad | %s | %s |\n' "$rc_lost" "$lt_lost"
printf '| requests/s (wall clock) | %s | %s |\n' "$rc_rate" "$lt_rate"
printf '| latency p50 / p99 µs | - | %s / %s |\n' "$lt_p50" "$lt_p99"
expected_reject=$((REQUESTS / 10))
if [ "$rc_accept" = "$lt_accept" ] && [ "$rc_reject" = "$lt_reject" ] \
  && [ "$lt_reject" = "$expected_reject" ]; then
  echo "counts agree: $lt_accept accepted, $lt_reject rejected (expected $expected_reject)"
else
  echo "COUNTS DIFFER"
  exit 1
fi
