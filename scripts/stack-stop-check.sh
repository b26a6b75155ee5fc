#!/usr/bin/env bash
# Ctrl-C stops everything `make run` started, whenever it comes (make test runs this,
# about 20 s): scripts/lib-stack.sh's private PostgreSQL and Redis are started by a
# script with make run's traps, which gets SIGINT twice — as a terminal sends it, to its
# whole process group — at several moments of starting up and once everything runs;
# afterwards no PostgreSQL or Redis of it may be left. It runs under make, as make run.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d /tmp/proisp-stack-stop.XXXXXX)
chmod 755 "$work"
var="$work/var"
. "$root/scripts/lib-stack.sh"
pg_port=$(free_port)
redis_port=$(free_port)

# The script under test: lib-stack.sh's servers behind scripts/stack.sh's traps.
cat > "$work/stack.sh" <<SCRIPT
#!/usr/bin/env bash
set -euo pipefail
var=$var pg_port=$pg_port redis_port=$redis_port
. "$root/scripts/lib-stack.sh"
cleanup() { trap '' INT TERM; trap - EXIT; set +e; stop_postgres; stop_redis; }
trap cleanup EXIT
trap 'cleanup; exit 130' INT
trap 'cleanup; exit 143' TERM
start_postgres
start_redis
touch "$work/ready"
sleep 600 & wait \$!
SCRIPT
chmod +x "$work/stack.sh"
# Run by make, as `make run` runs scripts/stack.sh.
printf 'run:\n\t%s\n' "$work/stack.sh" > "$work/Makefile"

left_running() {
  pgrep -f -- "-D $var/pg" >/dev/null 2>&1 || pgrep -f "redis-server 127.0.0.1:$redis_port" >/dev/null 2>&1
}

failed=0
for at in 0.2 0.5 1 2 ready; do
  rm -f "$work/ready"
  # A session of its own with SIGINT at its default (a background job's is ignored).
  if python3 - "$work" "$at" <<'PY'
import os, signal, subprocess, sys, time
work, at = sys.argv[1], sys.argv[2]
def default_signals():
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGQUIT, signal.SIG_DFL)
with open(f"{work}/log", "a") as log:
    p = subprocess.Popen(["make", "-s", "-f", f"{work}/Makefile"], stdout=log, stderr=subprocess.STDOUT,
                         start_new_session=True, preexec_fn=default_signals)
    if at == "ready":
        deadline = time.monotonic() + 120
        while not os.path.exists(f"{work}/ready") and time.monotonic() < deadline:
            time.sleep(0.1)
    else:
        time.sleep(float(at))
    # Ctrl-C, and an impatient second one.
    os.killpg(p.pid, signal.SIGINT)
    time.sleep(0.1)
    try:
        os.killpg(p.pid, signal.SIGINT)
    except ProcessLookupError:
        pass
    try:
        p.wait(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        sys.exit(f"still running 60 s after Ctrl-C at {at}")
PY
  then
    stuck=0
  else
    stuck=1
  fi
  if [ "$stuck" = 1 ] || left_running; then
    echo "FAIL: Ctrl-C at $at s left a server running" >&2
    failed=1
    stop_postgres >/dev/null 2>&1 || true
    stop_redis >/dev/null 2>&1 || true
  else
    echo "ok: Ctrl-C at $at stopped everything"
  fi
done
if [ "$failed" = 1 ]; then
  cat "$work/log" >&2
  exit 1
fi
rm -rf "$work"
