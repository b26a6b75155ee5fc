#!/usr/bin/env bash
# The high-availability topology on one machine, for `make topology`: under ./var/topology,
# on loopback ports of its own (free ones, chosen at start),
#   - PostgreSQL primary + streaming replica (synchronous), a 3-master Redis Cluster with
#     a replica per master;
#   - two proisp-radiusd (UDP auth and accounting each on ports of its own, RadSec behind
#     HAProxy), two proisp-adminapi;
#   - HAProxy: the admin API (HTTP, round robin) and RadSec (TCP, PROXY v2), its config
#     made from haproxy/haproxy.cfg;
#   - migrated and seeded (SUBSCRIBERS, default 2000; NAS 127.0.0.1, secret testing123),
#     the demo admin (its password kept in var/topology/demo-admin.password);
# then prints what runs where and stays in the foreground until Ctrl-C, which stops it
# all. A run killed with SIGKILL is cleaned up by the next one. Ports and URLs are in
# var/topology/topology.env. scripts/topology-test.sh (`make topology-test`) kills each
# piece in turn and measures the recovery; scripts/lib-topology.sh holds the functions.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/scripts/lib-stack.sh"
. "$root/scripts/lib-topology.sh"

cleanup() {
  trap '' INT TERM
  trap - EXIT
  set +e
  say "stopping the topology"
  topo_stop
}

topo_deps
say "building (release)"
topo_build
trap cleanup EXIT INT TERM
topo_start
demo_password=$(cat "$var/demo-admin.password")

cat <<MSG

The ProISP topology is up:

$(topo_table)

Auth through radiusd a, then b (a NAS lists both; secret $secret):

  echo 'User-Name = "user000001", User-Password = "pw000001", Message-Authenticator = 0x00' \\
    | radclient -x 127.0.0.1:$RADIUSD_A_AUTH auth $secret
  $bin/proisp-loadtest auth -s 127.0.0.1:$RADIUSD_A_AUTH --fallback 127.0.0.1:$RADIUSD_B_AUTH \\
    --retries 2 --timeout 1s -r 100 -d 10s

RadSec through HAProxy (the demo NAS's certificate):

  $bin/proisp-loadtest auth -t radsec -s 127.0.0.1:$HAPROXY_RADSEC --ca $var/pki/ca.pem \\
    --cert $var/pki/nas.pem --key $var/pki/nas.key -n 1000

The admin API through HAProxy (admin: $demo_admin, password: $demo_password):

  TOKEN=\$(curl -s http://127.0.0.1:$HAPROXY_API/api/v1/auth/login -H 'Content-Type: application/json' \\
    -d '{"username": "$demo_admin", "password": "$demo_password"}' \\
    | sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p')
  curl -s -H "Authorization: Bearer \$TOKEN" 'http://127.0.0.1:$HAPROXY_API/api/v1/subscribers?limit=5'

PostgreSQL: psql -h 127.0.0.1 -p $PG_PRIMARY_PORT -U proisp proisp   (replica: -p $PG_REPLICA_PORT)
Redis:      redis-cli -c -p ${redis_ports[0]} cluster nodes
Failover by hand: kill -9 a piece (pids in $var/pids); promote the replica with
  $(pg_bin)/pg_ctl promote -D $var/pg-replica   (run as postgres when root)
Ports and URLs: $var/topology.env. Ctrl-C stops everything.

MSG
# Until Ctrl-C (or every server started here has ended): `wait` returns to run the trap.
wait
