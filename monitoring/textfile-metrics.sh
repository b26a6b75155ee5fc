#!/usr/bin/env bash
# Figures for node_exporter's textfile collector that no daemon exports (installed as
# /usr/lib/proisp/textfile-metrics; proisp-textfile-metrics.timer runs it every 15
# minutes). monitoring/alerts.yml's proisp-operations group alerts on them.
#
#   textfile-metrics certs FILE...   proisp_certificate_expiry_timestamp_seconds{path}: the
#                                    earliest notAfter of the PEM certificates in each FILE
#                                    (RadSec's server certificate and CA)
#   textfile-metrics backup STANZA   proisp_backup_last_completion_timestamp_seconds{stanza}:
#                                    when pgBackRest's newest backup of STANZA ended, and
#                                    proisp_backup_info_success{stanza} (0: `pgbackrest info`
#                                    failed or the repository holds no backup). pgbackrest
#                                    runs as PGBACKREST_USER when that is set and this
#                                    runs as root (the units: postgres), with the
#                                    caller's PGBACKREST_* settings
#
# Each writes one file (proisp-certificates.prom, proisp-backup-STANZA.prom) into
# TEXTFILE_DIR (/var/lib/prometheus/node-exporter, Debian's node_exporter default),
# through a temporary file renamed over it, so node_exporter never reads half of one.
# A file that cannot be read is reported on stderr and the command exits 1; the others
# are still written.
set -euo pipefail

dir=${TEXTFILE_DIR:-/var/lib/prometheus/node-exporter}

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2; }

# A label value in the exposition format: backslash, quote and newline escaped.
label() { local v=${1//\\/\\\\}; v=${v//\"/\\\"}; printf '%s' "${v//$'\n'/\\n}"; }

# Writes stdin to $dir/$1 atomically.
publish() {
  local tmp
  tmp=$(mktemp "$dir/.$1.XXXXXX")
  cat >"$tmp"
  chmod 644 "$tmp"
  mv -f "$tmp" "$dir/$1"
}

# The earliest notAfter (seconds since the epoch) of the certificates in PEM file $1.
earliest_expiry() {
  local block="" line earliest="" end t
  [ -r "$1" ] || { echo "$1: cannot be read" >&2; return 1; }
  while IFS= read -r line; do
    [ "$line" = "-----BEGIN CERTIFICATE-----" ] && block=""
    block+="$line"$'\n'
    if [ "$line" = "-----END CERTIFICATE-----" ]; then
      end=$(openssl x509 -noout -enddate <<<"$block") || return 1
      t=$(date -d "${end#notAfter=}" +%s) || return 1
      if [ -z "$earliest" ] || [ "$t" -lt "$earliest" ]; then earliest=$t; fi
    fi
  done <"$1"
  [ -n "$earliest" ] || { echo "$1: no PEM certificate in it" >&2; return 1; }
  echo "$earliest"
}

certs() {
  [ $# -gt 0 ] || usage
  local f t status=0 out
  out="# HELP proisp_certificate_expiry_timestamp_seconds Earliest notAfter of the certificates in a file.
# TYPE proisp_certificate_expiry_timestamp_seconds gauge
"
  for f in "$@"; do
    if t=$(earliest_expiry "$f"); then
      out+="proisp_certificate_expiry_timestamp_seconds{path=\"$(label "$f")\"} $t"$'\n'
    else
      status=1
    fi
  done
  printf '%s' "$out" | publish proisp-certificates.prom
  return "$status"
}

backup() {
  [ $# -eq 1 ] || usage
  local stanza=$1 json stop="" ok=0
  local run=()
  if [ -n "${PGBACKREST_USER:-}" ] && [ "$(id -u)" = 0 ]; then
    run=(runuser -u "$PGBACKREST_USER" --)
  fi
  if json=$("${run[@]}" pgbackrest --stanza="$stanza" --output=json info); then
    # The newest backup's end; none when the stanza has no backup yet.
    stop=$(python3 -c '
import json, sys
stanzas = json.load(sys.stdin)
stops = [b["timestamp"]["stop"] for s in stanzas for b in s.get("backup", [])]
print(max(stops) if stops else "")' <<<"$json")
    [ -n "$stop" ] && ok=1
  fi
  local l; l=$(label "$stanza")
  {
    echo "# HELP proisp_backup_info_success Whether pgbackrest info read the repository and found a backup."
    echo "# TYPE proisp_backup_info_success gauge"
    echo "proisp_backup_info_success{stanza=\"$l\"} $ok"
    if [ -n "$stop" ]; then
      echo "# HELP proisp_backup_last_completion_timestamp_seconds When the newest backup ended."
      echo "# TYPE proisp_backup_last_completion_timestamp_seconds gauge"
      echo "proisp_backup_last_completion_timestamp_seconds{stanza=\"$l\"} $stop"
    fi
  } | publish "proisp-backup-$stanza.prom"
  [ "$ok" = 1 ] || { echo "pgbackrest info found no backup of stanza $stanza" >&2; return 1; }
}

[ $# -gt 0 ] || usage
cmd=$1
shift
case $cmd in
  certs) certs "$@" ;;
  backup) backup "$@" ;;
  *) usage ;;
esac
