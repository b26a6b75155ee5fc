#!/usr/bin/env bash
# `make api-check`: the admin API against its own OpenAPI document.
#   1. openapi-spec-validator on the served document (must report nothing);
#   2. schemathesis with an authenticated superadmin session, every check, a bounded
#      number of examples per operation: 0 server errors, 0 schema violations.
# It runs its own adminapi on a free loopback port, with a database and a Redis key prefix
# of its own: PostgreSQL on 127.0.0.1:5432 and Redis on 127.0.0.1:6379 when they answer
# (as on a developer's machine), else private instances under var/api-check (as on a fresh
# CI machine; PROISP_TEST_PRIVATE=1 forces these, as it does for the tests). Everything it
# started is stopped, and its database dropped, on exit.
# Settings (environment): MAX_EXAMPLES (per operation, default 50).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
work="$root/var/api-check"
venv="$root/var/venv"
max_examples=${MAX_EXAMPLES:-50}

say() { printf '==> %s\n' "$*"; }

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

pg_bin() {
  local d
  for d in /usr/lib/postgresql/*/bin; do
    [ -x "$d/initdb" ] && { echo "$d"; return; }
  done
  return 1
}

# PostgreSQL refuses to run as root: run it as the postgres user the package creates.
pg_as() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

pg_private="" redis_pid="" api_pid="" admin_url="" database=""
cleanup() {
  set +e
  [ -n "$api_pid" ] && kill -TERM "$api_pid" 2>/dev/null && wait "$api_pid" 2>/dev/null
  [ -n "$database" ] && "$bin/psql" -q "$admin_url" -c "DROP DATABASE IF EXISTS $database WITH (FORCE)" >/dev/null 2>&1
  [ -n "$redis_pid" ] && kill -TERM "$redis_pid" 2>/dev/null && wait "$redis_pid" 2>/dev/null
  [ -n "$pg_private" ] && pg_as "$bin/pg_ctl" -D "$work/pg" -m immediate stop >/dev/null 2>&1
}
trap cleanup EXIT

for tool in st openapi-spec-validator; do
  [ -x "$venv/bin/$tool" ] || { echo "$venv/bin/$tool is missing: run scripts/deps.sh" >&2; exit 1; }
done
bin=$(pg_bin) || { echo "PostgreSQL's binaries are missing: run scripts/deps.sh" >&2; exit 1; }
rm -rf "$work"
mkdir -p "$work"

# The tests' debug build (lib-stack.sh's debug_build says why not `cargo build -p`).
say "building proisp-adminapi (the tests' debug build)"
cargo test --no-run --locked --quiet --workspace --all-features
api="$root/target/debug/proisp-adminapi"

private=${PROISP_TEST_PRIVATE:-0}
if [ "$private" != 1 ] &&
  "$bin/psql" -q "postgres://postgres@127.0.0.1:5432/postgres" -c 'SELECT 1' >/dev/null 2>&1; then
  admin_url="postgres://postgres@127.0.0.1:5432/postgres"
  say "PostgreSQL: 127.0.0.1:5432, a database of our own"
else
  port=$(free_port)
  say "PostgreSQL: a private instance on 127.0.0.1:$port"
  mkdir -p "$work/pg" "$work/run"
  [ "$(id -u)" = 0 ] && chown postgres "$work/pg" "$work/run"
  pg_as "$bin/initdb" -D "$work/pg" -U postgres --auth=trust --encoding=UTF8 >/dev/null
  pg_as "$bin/pg_ctl" -D "$work/pg" -l "$work/run/postgresql.log" -w \
    -o "-p $port -k $work/run -c listen_addresses=127.0.0.1 -c fsync=off" start >/dev/null
  pg_private=1
  admin_url="postgres://postgres@127.0.0.1:$port/postgres"
fi
database="proisp_apicheck_$(date +%s)_$$"
"$bin/psql" -q "$admin_url" -c "CREATE DATABASE $database" >/dev/null
database_url="${admin_url%/postgres}/$database"

if [ "$private" != 1 ] && [ "$(redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null)" = PONG ]; then
  redis_url="redis://127.0.0.1:6379"
  say "Redis: 127.0.0.1:6379, a key prefix of our own"
else
  port=$(free_port)
  say "Redis: a private instance on 127.0.0.1:$port"
  redis-server --port "$port" --bind 127.0.0.1 --dir "$work" --save "" --appendonly no \
    --logfile "$work/redis.log" &
  redis_pid=$!
  until [ "$(redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null)" = PONG ]; do
    kill -0 "$redis_pid" || { cat "$work/redis.log" >&2; exit 1; }
    sleep 0.1
  done
  redis_url="redis://127.0.0.1:$port"
fi

"$api" gen-key > "$work/secret.key"
"$api" gen-key > "$work/jwt.key"
chmod 600 "$work/secret.key" "$work/jwt.key"
api_port=$(free_port)
cat > "$work/adminapi.toml" <<TOML
key_file = "$work/secret.key"

[database]
url = "$database_url"

[redis]
url = "$redis_url"
key_prefix = "proisp-apicheck-$$:"

[http]
listen = "127.0.0.1:$api_port"
workers = 2

[tokens]
jwt_key_file = "$work/jwt.key"

[login]
# The session schemathesis uses is a superadmin's (every operation is reachable) that has
# not enrolled in TOTP: no role requires it here.
totp_required_roles = []

[rate_limit]
# Hundreds of requests a minute from one address: the limit would answer 429 (a
# documented answer) instead of exercising the operations.
requests_per_minute = 0
TOML
run_api() { RUST_LOG=warn "$api" --config "$work/adminapi.toml" "$@"; }

run_api migrate >/dev/null
# Demo plans, a NAS and a few subscribers (ids from 1): generated ids find something.
run_api seed --subscribers 20 >/dev/null
password="$(head -c 18 /dev/urandom | base64 | tr '+/' '-_')"
echo "$password" | run_api create-admin --username api-check --role superadmin >/dev/null

# The binary itself in the background, not run_api: $! of a function is the subshell
# running it, and stopping that one would leave adminapi running after the check.
RUST_LOG=warn "$api" --config "$work/adminapi.toml" serve 2> "$work/adminapi.log" &
api_pid=$!
base="http://127.0.0.1:$api_port"
until curl -fsS "$base/health" >/dev/null 2>&1; do
  kill -0 "$api_pid" || { cat "$work/adminapi.log" >&2; exit 1; }
  sleep 0.1
done

say "openapi-spec-validator on $base/api/v1/openapi.json"
curl -fsS "$base/api/v1/openapi.json" > "$work/openapi.json"
"$venv/bin/openapi-spec-validator" --subschema-errors all "$work/openapi.json"

token=$(curl -fsS "$base/api/v1/auth/login" -H 'Content-Type: application/json' \
  -d "{\"username\": \"api-check\", \"password\": \"$password\"}" |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["access_token"])')

# Every check, on every operation but four. Three log the session out, which every later
# request depends on: logout revokes the token it is called with, and a new password or a
# TOTP reset of the session's own admin (PATCH /admins/{id}, POST /admins/{id}/reset-totp)
# revokes that admin's tokens by design; schemathesis learns the admin's id from responses
# (GET /auth/me), so it does reach it. The integration tests cover all three. The fourth,
# GET /events/stream (streamEvents), answers with an event stream that lasts as long as
# the access token, whose end schemathesis would wait for; the integration test
# (adminapi/tests/integration/api/events.rs) reads it event by event. Strings
# without NUL: the server refuses NUL in every string (the document says so).
say "schemathesis: $max_examples examples per operation"
# From var/api-check: schemathesis keeps a cache in its working directory.
cd "$work"
"$venv/bin/st" --no-color run "$base/api/v1/openapi.json" \
  --url "$base" \
  --header "Authorization: Bearer $token" \
  --checks not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance,response_headers_conformance \
  --exclude-operation-id logout \
  --exclude-operation-id updateAdmin \
  --exclude-operation-id resetAdminTotp \
  --exclude-operation-id streamEvents \
  --generation-allow-x00 false \
  --generation-database none \
  --max-examples "$max_examples" \
  --workers 2 \
  --seed 1 \
  --wait-for-schema 10 || {
    echo "adminapi's log: $work/adminapi.log" >&2
    exit 1
  }
