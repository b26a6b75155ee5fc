#!/bin/sh
# `pgbackrest verify` that fails when the repository is damaged, for
# systemd/proisp-backup-check.service and scripts/dr-drill.sh: pgBackRest 2.45 reports
# damaged files (a backup file or WAL segment whose checksum does not match: `status:
# error`) and still exits 0, which would leave the daily check green on a repository that
# cannot restore. Arguments go to pgbackrest before the command (--stanza=proisp, …).
# Prints pgBackRest's report; exit status 1 when it names an error.
set -eu
out=$(pgbackrest "$@" --output=text verify)
printf '%s\n' "$out"
if printf '%s\n' "$out" | grep -q 'status: error'; then
  echo "pgbackrest verify: the repository holds damaged files (above)" >&2
  exit 1
fi
