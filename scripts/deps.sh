#!/usr/bin/env bash
# Installs from Debian what `make run` and `make test` need and this machine lacks:
# PostgreSQL and Redis (private instances are started from their binaries), FreeRADIUS's
# client tools (radclient, radtest: the interop tests' real clients) and the FreeRADIUS
# server (the load generator's tests, the side-by-side benchmark, and a RadSec client in the
# interop tests), and
# nats-server (JetStream: the event relay's tests and `make run` start private ones; its
# package's own service does not start, see policy-rc.d below), HAProxy (haproxy/haproxy.cfg is checked and run in front of two adminapi instances, and
# of two radiusd for RadSec); radsecproxy (the RadSec interop tests' real TLS client); the
# openssl CLI (scripts/pki.sh makes the RadSec test and demo certificates); pgBackRest
# (the backups' tool: scripts/dr-drill.sh backs up, destroys and restores a private cluster);
# python3 and curl (the fault suite's checks and garbage generator, the API calls);
# Node.js and npm (the web console's build) where missing, and chromium (its browser
# test, driven headless by Playwright); Prometheus (promtool checks and tests monitoring/;
# `MONITORING=1 make run` and scripts/monitoring-test.sh run the server) with the
# PostgreSQL, Redis and node exporters monitoring/prometheus.yml scrapes; then,
# from PyPI into a virtual environment in var/venv, the pinned schemathesis and
# openapi-spec-validator that `make api-check` runs, and standardwebhooks (the Standard
# Webhooks reference library the webhook tests verify signatures with) (Debian's python3
# with python3-venv).
# Idempotent and quick when everything is present.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
# Pinned: a new release can change what the checks report.
python_pins=(schemathesis==4.32.5 openapi-spec-validator==0.9.0
  # the webhook tests' independent signature check (events/tests/verify_webhooks.py)
  standardwebhooks==1.3.0)

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

pkgs=()
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || pkgs+=(postgresql)
command -v redis-server >/dev/null || pkgs+=(redis-server)
command -v radclient >/dev/null || pkgs+=(freeradius-utils)
[ -x /usr/sbin/freeradius ] || pkgs+=(freeradius)
[ -x /usr/sbin/haproxy ] || pkgs+=(haproxy)
[ -x /usr/sbin/radsecproxy ] || pkgs+=(radsecproxy)
[ -x /usr/sbin/nats-server ] || command -v nats-server >/dev/null || pkgs+=(nats-server)
command -v pgbackrest >/dev/null || pkgs+=(pgbackrest)
command -v curl >/dev/null || pkgs+=(curl)
command -v openssl >/dev/null || pkgs+=(openssl)
command -v python3 >/dev/null || pkgs+=(python3)
command -v promtool >/dev/null || pkgs+=(prometheus)
command -v prometheus-postgres-exporter >/dev/null || pkgs+=(prometheus-postgres-exporter)
command -v prometheus-redis-exporter >/dev/null || pkgs+=(prometheus-redis-exporter)
command -v prometheus-node-exporter >/dev/null || pkgs+=(prometheus-node-exporter)
python3 -c 'import ensurepip' 2>/dev/null || pkgs+=(python3-venv)
command -v node >/dev/null || pkgs+=(nodejs)
command -v npm >/dev/null || pkgs+=(npm)
[ -x /usr/bin/chromium ] || pkgs+=(chromium)

if [ ${#pkgs[@]} -gt 0 ]; then
  echo "installing ${pkgs[*]}"
  # The packages' own services must not start: they would take the standard ports
  # (5432, 6379, 1812, 4222) that a system's own instances or `make run` may use.
  policy=/usr/sbin/policy-rc.d
  created_policy=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | as_root tee "$policy" >/dev/null
    as_root chmod +x "$policy"
    created_policy=1
  fi
  install() { as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${pkgs[@]}"; }
  install || { as_root apt-get update && install; }
  if [ "$created_policy" = 1 ]; then as_root rm -f "$policy"; fi
fi

venv="$root/var/venv"
stamp="$venv/proisp-pins"
if [ "$(cat "$stamp" 2>/dev/null)" != "${python_pins[*]}" ]; then
  echo "installing ${python_pins[*]} into var/venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "${python_pins[@]}"
  echo "${python_pins[*]}" > "$stamp"
fi
exit 0
