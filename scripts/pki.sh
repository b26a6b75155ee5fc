#!/usr/bin/env bash
# A demo and test PKI for RadSec (RADIUS over TLS, RFC 6614) made with the openssl CLI:
# one CA, a server certificate for radiusd and a client certificate per NAS. Not for
# production: the CA key sits next to the certificates it signed.
#
#   scripts/pki.sh DIR [--nas-name NAME]... [--expired] [--stranger] [--force]
#
# In DIR:
#   ca.pem, ca.key            the CA (10 years)
#   server.pem, server.key    the server: DNS localhost, IP 127.0.0.1 and ::1, serverAuth
#   nas.pem, nas.key          the first NAS: subject CN and DNS SAN = its name (default
#                             nas1.proisp.test), clientAuth
#   NAME.pem, NAME.key        every further --nas-name, the same way
# and for negative tests, when asked:
#   expired.pem, expired.key  --expired: a client certificate of the first NAS name, signed
#                             by the CA, valid only in 2020
#   stranger.pem, stranger.key  --stranger: a client certificate of the first NAS name
#                             signed by another CA (whose key is thrown away)
#
# Keys are EC P-256 in PKCS#8 PEM, mode 0600. Idempotent: a file that exists is left
# alone (missing certificates are signed by the CA already there); --force starts again
# with a new CA.
set -euo pipefail

usage() {
  sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0" >&2
  exit 2
}

dir=""
names=()
expired=0
stranger=0
force=0
while [ $# -gt 0 ]; do
  case "$1" in
    --nas-name)
      [ $# -ge 2 ] || usage
      [[ "$2" =~ ^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$ ]] \
        || { echo "pki.sh: --nas-name wants a DNS name, not '$2'" >&2; exit 2; }
      names+=("$2"); shift 2 ;;
    --expired) expired=1; shift ;;
    --stranger) stranger=1; shift ;;
    --force) force=1; shift ;;
    -h|--help) usage ;;
    -*) echo "pki.sh: unknown option $1" >&2; usage ;;
    *) [ -z "$dir" ] || usage; dir=$1; shift ;;
  esac
done
[ -n "$dir" ] || usage
[ ${#names[@]} -gt 0 ] || names=(nas1.proisp.test)
command -v openssl >/dev/null || { echo "pki.sh: openssl is missing (scripts/deps.sh installs it)" >&2; exit 1; }

mkdir -p "$dir"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# A new EC P-256 key in PKCS#8 PEM, readable by its owner only.
new_key() { # FILE
  (umask 077 && openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1")
}

# A self-signed CA certificate for KEY.
new_ca() { # KEY CERT CN
  cat >"$tmp/ca.cnf" <<EOF
[req]
distinguished_name = dn
prompt = no
x509_extensions = v3_ca
[dn]
CN = $3
[v3_ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
EOF
  openssl req -x509 -new -config "$tmp/ca.cnf" -key "$1" -days 3650 -sha256 -out "$2"
}

# A leaf certificate: CN, the extensions file and the validity, signed by CA/CA_KEY.
# Validity is a number of days from now, or START:END (YYYYMMDDhhmmssZ) through
# `openssl ca`, the one command of OpenSSL 3.0 that sets dates in the past.
sign() { # CA CA_KEY KEY CERT CN EXTFILE DAYS|START:END
  local ca=$1 ca_key=$2 key=$3 cert=$4 cn=$5 ext=$6 validity=$7
  openssl req -new -key "$key" -subj "/CN=$cn" -out "$tmp/leaf.csr"
  if [[ "$validity" == *:* ]]; then
    rm -rf "$tmp/db" && mkdir "$tmp/db" && : >"$tmp/db/index.txt"
    openssl rand -hex 16 >"$tmp/db/serial"
    cat >"$tmp/db/ca.cnf" <<EOF
[ca]
default_ca = demo
[demo]
database = $tmp/db/index.txt
new_certs_dir = $tmp/db
serial = $tmp/db/serial
default_md = sha256
policy = any
unique_subject = no
[any]
commonName = supplied
EOF
    openssl ca -batch -notext -config "$tmp/db/ca.cnf" -cert "$ca" -keyfile "$ca_key" \
      -in "$tmp/leaf.csr" -out "$cert" -extfile "$ext" \
      -startdate "${validity%%:*}" -enddate "${validity##*:}" 2>"$tmp/ca.log" \
      || { cat "$tmp/ca.log" >&2; return 1; }
  else
    openssl x509 -req -in "$tmp/leaf.csr" -CA "$ca" -CAkey "$ca_key" \
      -set_serial "0x$(openssl rand -hex 16)" -days "$validity" -sha256 \
      -extfile "$ext" -out "$cert" 2>/dev/null
  fi
}

# The extensions of a server or client certificate.
extensions() { # FILE EKU SAN
  cat >"$1" <<EOF
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = $2
subjectAltName = $3
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
EOF
}

# A leaf of ours (key and certificate), unless both exist.
leaf() { # BASENAME CN EKU SAN VALIDITY
  local base=$1
  [ -s "$dir/$base.pem" ] && [ -s "$dir/$base.key" ] && return 0
  extensions "$tmp/$base.ext" "$3" "$4"
  new_key "$dir/$base.key"
  sign "$dir/ca.pem" "$dir/ca.key" "$dir/$base.key" "$dir/$base.pem" "$2" "$tmp/$base.ext" "$5"
  echo "pki.sh: $dir/$base.pem ($2)" >&2
}

if [ "$force" = 1 ] || ! [ -s "$dir/ca.pem" ] || ! [ -s "$dir/ca.key" ]; then
  rm -f "$dir"/*.pem "$dir"/*.key
  new_key "$dir/ca.key"
  new_ca "$dir/ca.key" "$dir/ca.pem" "ProISP demo RadSec CA"
  echo "pki.sh: new CA $dir/ca.pem" >&2
fi

leaf server localhost serverAuth "DNS:localhost,IP:127.0.0.1,IP:::1" 825
leaf nas "${names[0]}" clientAuth "DNS:${names[0]}" 825
for name in "${names[@]:1}"; do
  leaf "$name" "$name" clientAuth "DNS:$name" 825
done
if [ "$expired" = 1 ]; then
  leaf expired "${names[0]}" clientAuth "DNS:${names[0]}" 20200101000000Z:20201231235959Z
fi
if [ "$stranger" = 1 ] && ! { [ -s "$dir/stranger.pem" ] && [ -s "$dir/stranger.key" ]; }; then
  new_key "$tmp/stranger-ca.key"
  new_ca "$tmp/stranger-ca.key" "$tmp/stranger-ca.pem" "Stranger CA"
  extensions "$tmp/stranger.ext" clientAuth "DNS:${names[0]}"
  new_key "$dir/stranger.key"
  sign "$tmp/stranger-ca.pem" "$tmp/stranger-ca.key" "$dir/stranger.key" "$dir/stranger.pem" \
    "${names[0]}" "$tmp/stranger.ext" 825
  echo "pki.sh: $dir/stranger.pem (${names[0]}, another CA)" >&2
fi
chmod 0600 "$dir"/*.key
