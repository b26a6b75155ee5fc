#!/usr/bin/env bash
# Ctrl-C stops everything `make run` started, whenever it comes (make test runs this,
# about 30 s): scripts/lib-stack.sh's private PostgreSQL, Redis and nats-server are started by a
# script with make run's traps, which gets SIGINT twice — as a terminal sends it, to its
# whole process group — at once, as each stage of starting up begins, and once
# everything runs;
# afterwards no PostgreSQL, Redis or nats-server of it may be left. It runs under make, as make run.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d /tmp/proisp-stack-stop.XXXXXX)
chmod 755 "$work"
var="$work/var"
. "$root/scripts/lib-stack.sh"
pg_port=$(free_port)
redis_port=$(free_port)
nats_port=$(free_port)

# The script under test: lib-stack.sh's servers behind scripts/stack.sh's traps.
cat > "$work/stack.sh" <<SCRIPT
#!/usr/bin/env bash
set -euo pipefail
var=$var pg_port=$pg_port redis_port=$redis_port nats_port=$nats_port
. "$root/scripts/lib-stack.sh"
cleanup() { trap '' INT TERM; trap - EXIT; set +e; stop_nats; stop_postgres; stop_redis; }
trap cleanup EXIT
trap 'cleanup; exit 130' INT
trap 'cleanup; exit 143' TERM
start_postgres
start_redis
start_nats
echo "==> stack ready"
sleep 600 & wait \$!
SCRIPT
chmod +x "$work/stack.sh"
# Run by make, as `make run` runs scripts/stack.sh.
printf 'run:\n\t%s\n' "$work/stack.sh" > "$work/Makefile"

left_running() {
  pgrep -f -- "-D $var/pg" >/dev/null 2>&1 || pgrep -f "redis-server 127.0.0.1:$redis_port" >/dev/null 2>&1 ||
    pgrep -f -- "-p $nats_port -js" >/dev/null 2>&1
}

# When the Ctrl-C comes: at once, and as each stage of starting up begins (the lines
# lib-stack.sh prints, read from the output as they come), and once everything runs.
failed=0
for at in now "creating a private PostgreSQL cluster" "starting PostgreSQL on" \
  "starting Redis on" "starting nats-server" "stack ready"; do
  # A new cluster up to PostgreSQL's start (so initdb's stage comes, and no cluster an
  # interrupted initdb left is reused); the last two stages follow one that got past it.
  case "$at" in "starting Redis on" | "starting nats-server" | "stack ready") ;; *) rm -rf "$var" ;; esac
  # A session of its own with SIGINT at its default (a background job's is ignored).
  if python3 - "$work" "$at" <<'PY'
import os, signal, subprocess, sys, threading
work, at = sys.argv[1], sys.argv[2]
def default_signals():
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGQUIT, signal.SIG_DFL)
reached, stopping = threading.Event(), threading.Event()
p = subprocess.Popen(["make", "-s", "-f", f"{work}/Makefile"], stdout=subprocess.PIPE,
                     stderr=subprocess.STDOUT, start_new_session=True,
                     preexec_fn=default_signals, text=True)
def copy():
    # Every line to the log; the stage asked for, and the cleanup starting, as events.
    with open(f"{work}/log", "a") as log:
        log.write(f"--- Ctrl-C at: {at}\n")
        for line in p.stdout:
            log.write(line)
            log.flush()
            if at in line:
                reached.set()
            if "==> stopping" in line:
                stopping.set()
    reached.set()
    stopping.set()
def waiter():
    p.wait()
    reached.set()
    stopping.set()
threading.Thread(target=copy, daemon=True).start()
threading.Thread(target=waiter, daemon=True).start()
if at != "now" and not reached.wait(120):
    sys.exit(f"no {at!r} within 120 s")
if p.poll() is not None:
    sys.exit(f"the script ended before the Ctrl-C at {at!r}")
# Ctrl-C, and an impatient second one once the cleanup has begun (or it has ended).
os.killpg(p.pid, signal.SIGINT)
stopping.wait(60)
try:
    os.killpg(p.pid, signal.SIGINT)
except ProcessLookupError:
    pass
try:
    p.wait(timeout=60)
except subprocess.TimeoutExpired:
    os.killpg(p.pid, signal.SIGKILL)
    sys.exit(f"still running 60 s after Ctrl-C at {at!r}")
PY
  then
    stuck=0
  else
    stuck=1
  fi
  if [ "$stuck" = 1 ] || left_running; then
    echo "FAIL: Ctrl-C at '$at' left a server running" >&2
    failed=1
    stop_postgres >/dev/null 2>&1 || true
    stop_redis >/dev/null 2>&1 || true
    stop_nats >/dev/null 2>&1 || true
  else
    echo "ok: Ctrl-C at '$at' stopped everything"
  fi
done
if [ "$failed" = 1 ]; then
  cat "$work/log" >&2
  exit 1
fi
rm -rf "$work"
