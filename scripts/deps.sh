#!/usr/bin/env bash
# Installs from Debian what `make run` and `make test` need and this machine lacks:
# PostgreSQL and Redis (private instances are started from their binaries), FreeRADIUS's
# client tools (radclient, radtest: the interop tests' real clients) and the FreeRADIUS
# server (the load generator's tests and the side-by-side benchmark run against it), and
# HAProxy (haproxy/haproxy.cfg is checked and run in front of two adminapi instances);
# python3 and curl for the fault suite.
# Idempotent and quick when everything is present.
set -euo pipefail

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

pkgs=()
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || pkgs+=(postgresql)
command -v redis-server >/dev/null || pkgs+=(redis-server)
command -v radclient >/dev/null || pkgs+=(freeradius-utils)
[ -x /usr/sbin/freeradius ] || pkgs+=(freeradius)
[ -x /usr/sbin/haproxy ] || pkgs+=(haproxy)
# The fault suite (scripts/faults.sh): its checks and the garbage generator, the API calls.
command -v python3 >/dev/null || pkgs+=(python3)
command -v curl >/dev/null || pkgs+=(curl)
[ ${#pkgs[@]} -eq 0 ] && exit 0

echo "installing ${pkgs[*]}"
# The packages' own services must not start: they would take the standard ports
# (5432, 6379, 1812) that a system's own instances or `make run` may use.
policy=/usr/sbin/policy-rc.d
created_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' | as_root tee "$policy" >/dev/null
  as_root chmod +x "$policy"
  created_policy=1
fi
install() { as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${pkgs[@]}"; }
install || { as_root apt-get update && install; }
[ "$created_policy" = 1 ] && as_root rm -f "$policy"
exit 0
