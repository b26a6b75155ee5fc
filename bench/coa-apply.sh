#!/usr/bin/env bash
# Issue 23's end-to-end figure: `POST /api/v1/plans/{id}/apply` through proisp-adminapi
# and PostgreSQL, with 30,000 open sessions over 10 NAS, one of them dead.
#
#   bench/coa-apply.sh                # scratch database, release builds, RUNS applies
#   DEAD=closed bench/coa-apply.sh    # the dead NAS's port closed instead of silent
#
# Settings (environment): PG_URL (postgres://postgres@127.0.0.1:5432), DB
# (proisp_bench_coa, dropped at the end unless KEEP_DB=1), RUNS (20), PER_NAS (3000
# sessions on each NAS), COA_PORT (3799), API_PORT (18083), DEAD (silent or closed),
# POLL (0.05 s between job polls), RUN_CAP (120 s: an apply not done by then fails the run).
#
# The scratch database gets one plan (home-50) with 10 × PER_NAS subscribers on it, 10
# NAS 127.0.0.1 … 127.0.0.10 (MikroTik, CoA port COA_PORT, secret testing123) and an open
# session for every subscriber. NAS 127.0.0.1 … 127.0.0.9 are played by ONE
# `proisp-loadtest null-server` process listening on each one's CoA port, which ACKs every
# CoA-Request at once. 127.0.0.10 is the dead one, and its sessions are opened first
# (lowest ids), so a dispatcher that works through them in order meets it first. DEAD says
# how it is dead: `silent` (default), a socket that takes every request and never answers
# (a router whose CoA server hangs, or gone behind a firewall that drops: the issue's
# case); `closed`, nothing listening (the host answers ICMP port unreachable).
#
# proisp-adminapi runs with the default [coa] settings. Each run: the POST's HTTP latency
# (curl's time_total), then GET /api/v1/jobs/{id} every POLL until totals.ack reaches the
# live sessions' count (9 × PER_NAS) and until the job's state is `done`, both timed from
# just before the POST. The job writes its progress to PostgreSQL every 500 ms
# (adminapi/src/jobs.rs, PROGRESS_INTERVAL), so the ACK time is seen up to 0.5 s + POLL
# late; `done` is written as soon as the last outcome is in. Per-run figures and each
# run's final job JSON are kept under var/bench/<timestamp>-coa-apply/.
set -euo pipefail

BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_DIR="$(dirname "$BENCH_DIR")"
pg_url=${PG_URL:-postgres://postgres@127.0.0.1:5432}
db=${DB:-proisp_bench_coa}
runs=${RUNS:-20}
per_nas=${PER_NAS:-3000}
coa_port=${COA_PORT:-3799}
api_port=${API_PORT:-18083}
dead=${DEAD:-silent}
poll=${POLL:-0.05}
run_cap=${RUN_CAP:-120}
nas_count=10
dead_addr=127.0.0.$nas_count
live=$(((nas_count - 1) * per_nas))
total=$((nas_count * per_nas))
out="$REPO_DIR/var/bench/$(date -u +%Y%m%dT%H%M%SZ)-coa-apply"
work=$(mktemp -d)

log() { printf '%s %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

case "$dead" in silent | closed) ;; *) die "DEAD is silent or closed, not $dead" ;; esac
missing=()
for tool in jq curl psql; do command -v "$tool" >/dev/null || missing+=("$tool"); done
[ "$dead" = silent ] && ! command -v socat >/dev/null && missing+=(socat)
if [ ${#missing[@]} -gt 0 ]; then
  pkgs=("${missing[@]/psql/postgresql-client}")
  log "installing ${pkgs[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y "${pkgs[@]}" >/dev/null \
    || die "cannot install ${pkgs[*]}"
fi

log "building proisp-adminapi and proisp-loadtest (release)"
(cd "$REPO_DIR" && cargo build --release --quiet -p proisp-adminapi -p proisp-loadtest)
bin="$(cd "$REPO_DIR" && cargo metadata --format-version 1 --no-deps | jq -r .target_directory)/release"

pids=()
cleanup() {
  local status=$?
  [ ${#pids[@]} -eq 0 ] || kill "${pids[@]}" 2>/dev/null || true
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  [ -n "${KEEP_DB:-}" ] || psql -qtAX "$pg_url/postgres" -c "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true
  rm -rf "$work"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

export PROISP_DATABASE_URL="$pg_url/$db"
export PROISP_KEY_FILE="$work/secret.key"
export PROISP_TOKENS__JWT_KEY_FILE="$work/jwt.key"
export PROISP_HTTP__LISTEN="127.0.0.1:$api_port"
# One client address polls every POLL: lift the per-address limit.
export PROISP_RATE_LIMIT__REQUESTS_PER_MINUTE=100000000
export PROISP_LOG__LEVEL=warn
"$bin/proisp-adminapi" gen-key >"$PROISP_KEY_FILE"
"$bin/proisp-adminapi" gen-key >"$PROISP_TOKENS__JWT_KEY_FILE"
chmod 600 "$PROISP_KEY_FILE" "$PROISP_TOKENS__JWT_KEY_FILE"
sql() { psql -qtAX -v ON_ERROR_STOP=1 "$PROISP_DATABASE_URL" "$@"; }

log "scratch database $db: $total subscribers on home-50, $total sessions on $nas_count NAS"
psql -qtAX "$pg_url/postgres" -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
"$bin/proisp-adminapi" migrate >/dev/null
nas_args=()
for i in $(seq 1 $nas_count); do nas_args+=(--nas "127.0.0.$i"); done
"$bin/proisp-adminapi" seed --subscribers "$total" --plan home-50 --secret testing123 \
  "${nas_args[@]}" >/dev/null
# The k-th subscriber's session is on the dead NAS for k <= PER_NAS, then PER_NAS each on
# 127.0.0.1, 127.0.0.2 …; inserted in k's order, so the dead NAS's get the lowest ids.
sql <<SQL
UPDATE nas SET coa_port = $coa_port;
-- Seeded sessions are not news: no session.start events (sql/0016).
SET proisp.session_events = 'off';
INSERT INTO sessions (nas_id, acct_session_id, username, subscriber_id, started_at, updated_at,
    stale_at, interim_interval_secs, framed_ip)
SELECT n.id, to_hex(s.k), s.username, s.id, now() - interval '1 hour', now(),
    now() + interval '1 day', 300, '100.64.0.0'::inet + s.k
FROM (SELECT id, username, row_number() OVER (ORDER BY id) AS k FROM subscribers) s
JOIN nas n ON host(n.address) = CASE WHEN s.k <= $per_nas THEN '$dead_addr'
    ELSE '127.0.0.' || ((s.k - 1) / $per_nas) END
ORDER BY s.k;
VACUUM ANALYZE;
SQL
plan_id=$(sql -c "SELECT id FROM plans WHERE name = 'home-50'")
first=$(sql -c "SELECT host(n.address) FROM sessions x JOIN nas n ON n.id = x.nas_id ORDER BY x.id LIMIT 1")
[ "$first" = "$dead_addr" ] || die "the first session is on $first, not on the dead NAS"
sql -c "SELECT host(n.address), count(*) FROM sessions x JOIN nas n ON n.id = x.nas_id \
        GROUP BY 1 ORDER BY min(x.id)" | tr '\n' ' ' | sed 's/^/sessions per NAS: /' >&2
echo >&2

listen=()
for i in $(seq 1 $((nas_count - 1))); do listen+=(--listen "127.0.0.$i:$coa_port"); done
"$bin/proisp-loadtest" null-server --threads 1 "${listen[@]}" 2>"$work/null.log" &
pids+=($!)
if [ "$dead" = silent ]; then
  # Takes every datagram and answers none (UDP-RECV stays unconnected: no ICMP either).
  socat -u "UDP4-RECV:$coa_port,bind=$dead_addr" OPEN:/dev/null &
  pids+=($!)
fi
for _ in $(seq 100); do grep -q "answering on" "$work/null.log" && break; sleep 0.05; done
grep -q "answering on" "$work/null.log" || { cat "$work/null.log" >&2; die "the null server did not start"; }

log "starting proisp-adminapi serve on $PROISP_HTTP__LISTEN (default [coa] settings)"
printf 'Lanes-per-NAS-2026\n' | "$bin/proisp-adminapi" create-admin --username bench \
  --role admin >/dev/null
"$bin/proisp-adminapi" serve 2>"$work/adminapi.log" &
pids+=($!)
base="http://127.0.0.1:$api_port/api/v1"
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$api_port/health" >/dev/null && break; sleep 0.1; done
token=$(curl -sf "$base/auth/login" -H 'Content-Type: application/json' \
  -d '{"username": "bench", "password": "Lanes-per-NAS-2026"}' | jq -r .access_token)
case "$token" in "" | null) die "cannot log in" ;; esac
auth="Authorization: Bearer $token"

now_ms() { date +%s%3N; }
mkdir -p "$out"
printf 'run\tjob\thttp_ms\tall_live_acked_ms\tdone_ms\tack\tdeferred\ttimeout\terror\tskipped\n' >"$out/runs.tsv"
log "$runs applies of plan $plan_id: $live live sessions, $per_nas on the dead NAS ($dead)"
for run in $(seq 1 "$runs"); do
  t0=$(now_ms)
  http=$(curl -s -o "$work/post.json" -w '%{http_code} %{time_total}' -X POST -H "$auth" \
    "$base/plans/$plan_id/apply")
  [ "${http% *}" = 202 ] || die "run $run: POST answered ${http% *}: $(cat "$work/post.json")"
  http_ms=$(awk -v s="${http#* }" 'BEGIN { printf "%.1f", s * 1000 }')
  job=$(jq -r .job_id "$work/post.json")
  acked_ms="" done_ms=""
  while :; do
    curl -sf -H "$auth" "$base/jobs/$job" >"$work/job.json" || die "run $run: GET /jobs/$job failed"
    t=$(now_ms)
    read -r ack state < <(jq -r '"\(.totals.ack) \(.state)"' "$work/job.json")
    [ -z "$acked_ms" ] && [ "$ack" -ge "$live" ] && acked_ms=$((t - t0))
    if [ "$state" != running ]; then
      done_ms=$((t - t0))
      break
    fi
    [ $((t - t0)) -lt $((run_cap * 1000)) ] || die "run $run: job $job not done after ${run_cap} s: $(cat "$work/job.json")"
    sleep "$poll"
  done
  cp "$work/job.json" "$out/job-$run.json"
  [ "$state" = "done" ] || die "run $run: job $job ended $state"
  [ -n "$acked_ms" ] || die "run $run: job $job done with $ack ACKs of $live live sessions: $(jq -c .totals "$work/job.json")"
  jq -r --arg run "$run" --arg http "$http_ms" --arg acked "$acked_ms" --arg "done" "$done_ms" \
    '[$run, .id, $http, $acked, $done, .totals.ack, .totals.deferred, .totals.timeout,
      .totals.error, .totals.skipped] | @tsv' "$work/job.json" >>"$out/runs.tsv"
  log "run $run: POST ${http_ms} ms, every live session ACKed after ${acked_ms} ms, done after ${done_ms} ms: $(jq -c .totals "$work/job.json")"
done

# Nearest-rank percentiles (and min, max) of column C of runs.tsv.
stats() { # C P...
  local c=$1; shift
  tail -n +2 "$out/runs.tsv" | cut -f "$c" | sort -n | awk -v ps="$*" '
    { v[NR] = $1 }
    END { n = split(ps, p, " "); for (i = 1; i <= n; i++) {
      if (p[i] == "min") x = v[1]; else if (p[i] == "max") x = v[NR];
      else { r = int(p[i] / 100 * NR); if (r < p[i] / 100 * NR) r++; if (r < 1) r = 1; x = v[r] }
      printf "%s%s %s", (i > 1 ? ", " : ""), p[i] ~ /^[0-9]+$/ ? "p" p[i] : p[i], x } }'
}
{
  echo "coa-apply: $runs applies, $live live sessions on $((nas_count - 1)) NAS + $per_nas on a dead one ($dead)"
  echo "machine: $(nproc) CPUs, $(lscpu | sed -n 's/^Model name: *//p' | head -1), load $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "every live session ACKed (ms): $(stats 4 min 50 max)"
  echo "job done (ms):                 $(stats 5 min 50 max)"
  echo "POST apply HTTP latency (ms):  $(stats 3 50 95 max)"
  echo "last run per NAS: $(jq -c '[.nas[] | {nas_id, ack, deferred, timeout, error}]' "$out/job-$runs.json")"
  echo "raw: $out"
} | tee "$out/summary.txt"
