#!/usr/bin/env bash
# `make deb`: the Debian package proisp_<version>_<arch>.deb in target/deb/, built with
# dpkg-deb from the workspace's binaries and the repository's files:
#
#   /usr/bin/proisp-radiusd, /usr/bin/proisp-adminapi, /usr/bin/proisp-events (stripped)
#   /lib/systemd/system/          systemd/*.service, *.timer (enabled by no one: the
#                                 operator runs `systemctl enable --now` once configured)
#   /usr/lib/proisp/              the helpers the units run: pgbackrest-verify,
#                                 restore-check, textfile-metrics
#   /usr/lib/sysusers.d/proisp.conf, /usr/lib/tmpfiles.d/proisp.conf (packaging/deb/)
#   /etc/proisp/radiusd.toml, adminapi.toml, events.toml   the examples, as conffiles
#   /usr/share/proisp/sql/        the migrations (compiled into proisp-adminapi too),
#                                 roles/ (readonly.sql, monitoring.sql) and maintenance/
#                                 (what proisp-analyze and proisp-security-report run)
#   /usr/share/proisp/monitoring/ prometheus.yml, alerts.yml, grafana/proisp.json, the
#                                 exporters' defaults
#   /usr/share/proisp/tuning/     postgresql.conf.example, redis.conf.example
#   /usr/share/proisp/{pgbackrest,haproxy}/   their example configs
#   /usr/share/doc/proisp/        README.md, copyright
#
# postinst creates the proisp user (sysusers), applies tmpfiles (/etc/proisp root:proisp,
# keys root-only) and makes /etc/proisp/secret.key and jwt.key once. Environment:
# PROFILE=release|debug (release; debug packages the tests' build, quickly, for
# scripts/deb-test.sh), OUT (target/deb). Prints the package's path.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
profile=${PROFILE:-release}
out=${OUT:-$root/target/deb}
cd "$root"

case $profile in
  release) cargo build --release --locked --quiet -p proisp-radiusd -p proisp-adminapi -p proisp-events ;;
  # The tests' build (lib-stack.sh's debug_build says why not `cargo build -p`).
  debug) cargo test --no-run --locked --quiet --workspace --all-features ;;
  *) echo "PROFILE must be release or debug" >&2; exit 2 ;;
esac
bin="$root/target/$profile"

version=$(sed -n '/^\[workspace.package\]/,/^\[/s/^version = "\(.*\)"/\1/p' Cargo.toml)
arch=$(dpkg --print-architecture)
pkg="$out/proisp_${version}_${arch}"
rm -rf "$pkg"
mkdir -p "$out"

put() { # MODE SOURCE DEST (DEST relative to the package root)
  install -D -m "$1" "$2" "$pkg/$3"
}

put 755 "$bin/proisp-radiusd" usr/bin/proisp-radiusd
put 755 "$bin/proisp-adminapi" usr/bin/proisp-adminapi
put 755 "$bin/proisp-events" usr/bin/proisp-events
# Stripped as dh_strip does (lintian's unstripped-binary-or-object is an error): the
# symbols and debug info stay in target/, which has the unstripped build.
strip --remove-section=.comment --remove-section=.note "$pkg/usr/bin/proisp-radiusd" \
  "$pkg/usr/bin/proisp-adminapi" "$pkg/usr/bin/proisp-events"
timers=()
for unit in systemd/*.service systemd/*.timer; do
  put 644 "$unit" "lib/systemd/system/$(basename "$unit")"
  case $unit in *.timer) timers+=("$(basename "$unit")") ;; esac
done
put 755 pgbackrest/verify.sh usr/lib/proisp/pgbackrest-verify
put 755 pgbackrest/restore-check.sh usr/lib/proisp/restore-check
put 755 monitoring/textfile-metrics.sh usr/lib/proisp/textfile-metrics
put 644 packaging/deb/proisp.sysusers usr/lib/sysusers.d/proisp.conf
put 644 packaging/deb/proisp.tmpfiles usr/lib/tmpfiles.d/proisp.conf
put 644 systemd/radiusd.toml.example etc/proisp/radiusd.toml
put 644 systemd/adminapi.toml.example etc/proisp/adminapi.toml
put 644 systemd/events.toml.example etc/proisp/events.toml
put 644 events/asyncapi.json usr/share/proisp/events/asyncapi.json
for f in sql/*.sql sql/roles/*.sql sql/maintenance/*.sql; do put 644 "$f" "usr/share/proisp/$f"; done
for f in monitoring/prometheus.yml monitoring/alerts.yml monitoring/grafana/proisp.json \
  monitoring/*.default tuning/*.example; do
  put 644 "$f" "usr/share/proisp/$f"
done
for f in pgbackrest/*.example haproxy/haproxy.cfg haproxy/README.md; do
  put 644 "$f" "usr/share/proisp/$f"
done
put 644 README.md usr/share/doc/proisp/README.md
mkdir -p "$pkg/DEBIAN"
cat >"$pkg/usr/share/doc/proisp/copyright" <<EOF
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: ProISP

Files: *
Copyright: 2026 ProISP contributors
License: Apache-2.0
 On Debian systems the full text of the license is in
 /usr/share/common-licenses/Apache-2.0.
EOF

# A native package's changelog (lintian's no-changelog is an error), dated by the commit
# the package is built from, so the same commit makes the same file.
when=$(git -C "$root" log -1 --format=%ct 2>/dev/null || date +%s)
printf '%s\n' "proisp ($version) unstable; urgency=medium" "" \
  "  * Built from the workspace by scripts/deb.sh." "" \
  " -- ProISP <proisp@isp.example>  $(date -R -u -d "@$when")" |
  gzip -9n >"$pkg/usr/share/doc/proisp/changelog.gz"
chmod 644 "$pkg/usr/share/doc/proisp/changelog.gz"
(cd "$pkg" && find etc -type f | sed 's#^#/#' | sort) >"$pkg/DEBIAN/conffiles"
(cd "$pkg" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | sort -z |
  xargs -0 md5sum) >"$pkg/DEBIAN/md5sums"
for script in postinst postrm; do
  install -m 755 "packaging/deb/$script" "$pkg/DEBIAN/$script"
done
sed "s/@TIMERS@/${timers[*]}/" packaging/deb/prerm >"$pkg/DEBIAN/prerm"
chmod 755 "$pkg/DEBIAN/prerm"
size=$(du -sk --exclude=DEBIAN "$pkg" | cut -f1)
cat >"$pkg/DEBIAN/control" <<EOF
Package: proisp
Version: $version
Architecture: $arch
Maintainer: ProISP <proisp@isp.example>
Installed-Size: $size
Depends: libc6 (>= 2.34), libgcc-s1, systemd (>= 247)
Recommends: postgresql (>= 15), redis-server, prometheus-node-exporter
Suggests: prometheus, prometheus-postgres-exporter, prometheus-redis-exporter, pgbackrest, haproxy
Section: net
Priority: optional
Description: ISP AAA core: RADIUS server and admin API
 proisp-radiusd answers RADIUS authentication and accounting (UDP and
 RadSec) for PPPoE and Hotspot subscribers from PostgreSQL and Redis;
 proisp-adminapi is the REST API that manages subscribers, plans, NAS
 devices and sessions. With systemd units and timers, Prometheus alert
 rules and a Grafana dashboard.
EOF
# The debug build is big and only installed by the test: store it fast.
case $profile in
  release) compress=(-Zxz) ;;
  debug) compress=(-Zgzip -z1) ;;
esac
dpkg-deb --root-owner-group "${compress[@]}" --build "$pkg" "$pkg.deb" >/dev/null
rm -rf "$pkg"
echo "$pkg.deb"
