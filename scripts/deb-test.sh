#!/usr/bin/env bash
# `make deb-test`: the Debian package installed on this machine and removed again.
# Builds it from the debug build the tests made (PROFILE=debug scripts/deb.sh; DEB=path
# tests a given package instead, `make deb`'s release one), then, as root:
#   1. dpkg -i; the files are where scripts/deb.sh says, /etc/proisp/*.toml are conffiles;
#   2. postinst's work: the proisp user and group, /etc/proisp root:proisp 0750 with the
#      configs 0640, secret.key and jwt.key made, 0600 root;
#   3. proisp-radiusd --check-config on the installed example (the key as the unit passes
#      it: a credential) names the CA files the operator must provide and exits 1; with
#      a CA in their place it exits 0; with a damaged key, or RadSec naming a missing
#      certificate, it exits 1 and names the key; adminapi's check-config likewise;
#   4. systemd-analyze verify on every installed unit and timer;
#   5. dpkg -r leaves the conffiles and removes the rest; dpkg -P removes the conffiles.
# First of all, lintian must find no error in the package (its warnings are printed).
# Refuses to run where a package named proisp is already installed. About 30 s once built.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/scripts/lib-stack.sh"
[ "$(id -u)" = 0 ] || { echo "deb-test installs a package: run it as root" >&2; exit 2; }
if dpkg-query -W -f='${Status}' proisp 2>/dev/null | grep -q installed; then
  echo "a proisp package is installed here already: deb-test would replace it" >&2
  exit 2
fi

deb=${DEB:-}
if [ -z "$deb" ]; then
  say "building the package (debug build)"
  deb=$(PROFILE=debug OUT="$root/target/deb-test" "$root/scripts/deb.sh")
fi
work=$(mktemp -d)
installed=0
keys_before=0
[ -e /etc/proisp/secret.key ] && keys_before=1
finish() {
  set +e
  if [ "$installed" = 1 ]; then dpkg -P proisp >/dev/null 2>&1; fi
  # The keys postinst made (purge keeps them on purpose): not this machine's to keep.
  if [ "$keys_before" = 0 ]; then rm -f /etc/proisp/secret.key /etc/proisp/jwt.key; fi
  rmdir /etc/proisp/pki /etc/proisp 2>/dev/null
  rm -rf "$work"
}
trap finish EXIT

failures=0
check() { # WHAT COMMAND...
  local what=$1
  shift
  if "$@" >"$work/out" 2>&1; then printf '  ok    %s\n' "$what"; else
    printf '  FAIL  %s\n' "$what"; sed 's/^/        /' "$work/out" | head -n 20
    failures=$((failures + 1))
  fi
}
fails_naming() { # WORD COMMAND...: COMMAND exits 1 and its stderr names WORD
  local word=$1
  shift
  local rc=0
  "$@" 2>"$work/err" >/dev/null || rc=$?
  cat "$work/err"
  [ "$rc" = 1 ] && grep -q -- "$word" "$work/err"
}

# lintian, Debian's package checker: an error fails the test; warnings are printed. Those
# left, on purpose: no-manual-page (both binaries answer --help), and
# maintainer-script-calls-systemctl (prerm disables the units as debhelper's snippets
# would; the package is built without debhelper).
command -v lintian >/dev/null || {
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends lintian >/dev/null ||
    { apt-get update >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y \
      --no-install-recommends lintian >/dev/null; }
}
lint() {
  # As root lintian says it would rather not be: that line is no finding.
  lintian --fail-on error --tag-display-limit 0 "$deb" 2>&1 | grep -v 'running with root privileges'
  return "${PIPESTATUS[0]}"
}
failed_before=$failures
check "lintian: no error" lint
# Passed: show its warnings all the same.
[ "$failures" != "$failed_before" ] || sed 's/^/        /' "$work/out"

say "dpkg -i $(basename "$deb") ($(du -h "$deb" | cut -f1))"
dpkg -i "$deb" >"$work/dpkg-i.log" 2>&1 || { cat "$work/dpkg-i.log" >&2; exit 1; }
installed=1

files=(/usr/bin/proisp-radiusd /usr/bin/proisp-adminapi
  /lib/systemd/system/proisp-radiusd.service /lib/systemd/system/proisp-adminapi.service
  /lib/systemd/system/proisp-backup.timer /lib/systemd/system/proisp-certificate-metrics.timer
  /usr/lib/proisp/pgbackrest-verify /usr/lib/proisp/restore-check /usr/lib/proisp/textfile-metrics
  /usr/lib/sysusers.d/proisp.conf /usr/lib/tmpfiles.d/proisp.conf
  /etc/proisp/radiusd.toml /etc/proisp/adminapi.toml
  /usr/share/proisp/sql/0001_plans_subscribers_nas.sql /usr/share/proisp/sql/roles/monitoring.sql
  /usr/share/proisp/sql/maintenance/analyze-partitioned.sql
  /usr/share/proisp/sql/maintenance/security-report.sql /usr/share/proisp/tuning/redis.conf.example
  /usr/share/proisp/monitoring/prometheus.yml /usr/share/proisp/monitoring/alerts.yml
  /usr/share/proisp/monitoring/grafana/proisp.json /usr/share/doc/proisp/README.md)
all_there() { local f; for f in "${files[@]}"; do [ -e "$f" ] || { echo "missing $f"; return 1; }; done; }
check "the package's files are installed" all_there
migrations_all_there() {
  local f
  for f in "$root"/sql/*.sql; do
    cmp "$f" "/usr/share/proisp/sql/$(basename "$f")" || return 1
  done
}
check "every migration of sql/ under /usr/share/proisp/sql" migrations_all_there
conffiles() {
  local c; c=$(dpkg-query -W -f='${Conffiles}\n' proisp)
  echo "$c"
  grep -q '^ /etc/proisp/radiusd.toml ' <<<"$c" && grep -q '^ /etc/proisp/adminapi.toml ' <<<"$c"
}
check "/etc/proisp/*.toml are conffiles" conffiles
owner() { [ "$(stat -c '%U:%G %a' "$1")" = "$2" ] || { stat -c "$1: %U:%G %a, not $2" "$1"; return 1; }; }
postinst_done() {
  getent passwd proisp && getent group proisp &&
    owner /etc/proisp "root:proisp 750" && owner /etc/proisp/radiusd.toml "root:proisp 640" &&
    owner /etc/proisp/adminapi.toml "root:proisp 640" &&
    owner /etc/proisp/secret.key "root:root 600" && owner /etc/proisp/jwt.key "root:root 600" &&
    [ "$(tr -d '\n' </etc/proisp/secret.key | wc -c)" = 64 ]
}
check "postinst: proisp user, /etc/proisp permissions, keys made" postinst_done

# The example leaves key_file to the unit's credential: give it the way systemd would.
creds="$work/credentials"
mkdir "$creds"
cp /etc/proisp/secret.key "$creds/secret.key"
# As shipped, the examples name the CA files of a PostgreSQL and a Redis on other hosts
# (/etc/proisp/postgres-ca.pem, redis-ca.pem), which the operator provides: the check
# must say so. With a real CA in their place (the demo PKI's) it must pass.
radiusd_check() { env -i PATH="$PATH" CREDENTIALS_DIRECTORY="$creds" "$@" \
  /usr/bin/proisp-radiusd --config /etc/proisp/radiusd.toml --check-config; }
adminapi_check() { env -i PATH="$PATH" CREDENTIALS_DIRECTORY="$creds" "$@" \
  /usr/bin/proisp-adminapi --config /etc/proisp/adminapi.toml check-config; }
"$root/scripts/pki.sh" "$work/pki" --nas-name nas.deb.test >/dev/null 2>&1
cas=(PROISP_DATABASE__SSLROOTCERT="$work/pki/ca.pem" PROISP_REDIS__TLS_CA="$work/pki/ca.pem")
check "proisp-radiusd --check-config on the example as installed names the missing CA" \
  fails_naming "sslrootcert: /etc/proisp/postgres-ca.pem" radiusd_check
check "proisp-radiusd --check-config on the installed example, CA files provided" \
  radiusd_check "${cas[@]}"
printf 'not a key\n' >"$work/bad.key"
check "--check-config fails on a damaged key, naming key_file" fails_naming key_file \
  radiusd_check "${cas[@]}" PROISP_KEY_FILE="$work/bad.key"
radsec=(PROISP_RADSEC__LISTEN=127.0.0.1:2083 PROISP_RADSEC__CA="$work/pki/ca.pem"
  PROISP_RADSEC__KEY="$work/pki/server.key")
check "--check-config with RadSec's demo PKI" \
  radiusd_check "${cas[@]}" "${radsec[@]}" PROISP_RADSEC__CERTIFICATE="$work/pki/server.pem"
check "--check-config fails on a missing RadSec certificate, naming it" \
  fails_naming radsec.certificate \
  radiusd_check "${cas[@]}" "${radsec[@]}" PROISP_RADSEC__CERTIFICATE="$work/pki/missing.pem"
cp /etc/proisp/jwt.key "$creds/jwt.key"
check "proisp-adminapi check-config on the installed example, CA files provided" \
  adminapi_check "${cas[@]}"
check "adminapi check-config fails on a damaged key, naming key_file" fails_naming key_file \
  adminapi_check "${cas[@]}" PROISP_KEY_FILE="$work/bad.key"

units=$(dpkg -L proisp | grep -E '^/lib/systemd/system/.*\.(service|timer)$')
verify_units() {
  # verify wants what ExecStart runs to exist: everything the package runs is installed
  # now; pgBackRest, which the backup units run, may not be (a Recommends).
  local out ignore='^$'
  command -v pgbackrest >/dev/null ||
    ignore='Command /usr/bin/pgbackrest is not executable: No such file or directory'
  out=$(systemd-analyze verify --man=no $units 2>&1 | grep proisp | grep -v -- "$ignore" || true)
  echo "$out"
  [ -z "$out" ]
}
check "systemd-analyze verify on the $(wc -w <<<"$units") installed units" verify_units

dpkg -r proisp >"$work/dpkg-r.log" 2>&1
removed() {
  [ ! -e /usr/bin/proisp-radiusd ] && [ ! -e /lib/systemd/system/proisp-radiusd.service ] &&
    [ ! -e /usr/share/proisp ] && [ -e /etc/proisp/radiusd.toml ] &&
    dpkg-query -W -f='${Status}\n' proisp | grep -q config-files
}
check "dpkg -r: files gone, conffiles kept" removed
dpkg -P proisp >"$work/dpkg-p.log" 2>&1
installed=0
purged() {
  [ ! -e /etc/proisp/radiusd.toml ] && [ ! -e /etc/proisp/adminapi.toml ] &&
    ! dpkg-query -W proisp >/dev/null 2>&1
}
check "dpkg -P: conffiles gone, package unknown" purged

if [ "$failures" = 0 ]; then echo "deb-test: PASS ($(basename "$deb"))"; else
  echo "deb-test: FAIL ($failures checks)"; exit 1; fi
