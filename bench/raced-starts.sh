#!/usr/bin/env bash
# What sql/0023's raced-Start check costs: bench/acct-ab.sh alternating the accounting
# function with and without it, on bench/acct-radiusd.sh's running radiusd. Both sides are
# written from sql/0023 (its wrapper as shipped, and the same wrapper without the check).
#
#   bench/acct-radiusd.sh &               # wait for "ready"
#   bench/raced-starts.sh                 # INTERIMS=1 by default; ROUNDS, DURATION as acct-ab.sh
#
# The "on" side is left in force at the end.
set -euo pipefail

source "$(dirname "$0")/lib.sh"

out="$REPO_DIR/var/bench/raced-starts"
mkdir -p "$out"
wrapper() { # the CREATE FUNCTION proisp_apply_accounting of sql/0023, as CREATE OR REPLACE
  awk '/^CREATE FUNCTION proisp_apply_accounting\(/,/^\$\$;/' "$REPO_DIR/sql/0023_raced_starts.sql" \
    | sed 's/^CREATE FUNCTION/CREATE OR REPLACE FUNCTION/'
}
wrapper | grep -v 'IF 1 = ANY (status) THEN\|PERFORM proisp_drop_raced_starts\|^    END IF;' >"$out/off.sql"
wrapper >"$out/on.sql"
grep -q proisp_drop_raced_starts "$out/off.sql" && die "could not take the check out of the wrapper"
"$BENCH_DIR/acct-ab.sh" "$out/off.sql" "$out/on.sql"
