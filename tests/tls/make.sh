#!/bin/sh
# Makes the test certificates for the emulator's TLS front (checked in; rerun only to replace
# them): ca.pem, a CA (CA:TRUE), and server.pem/server.key, a leaf for IP:127.0.0.1 and
# DNS:localhost signed by it, both valid 100 years. rustls refuses a CA certificate used as the
# server's own, hence two certificates. The CA's key is thrown away.
set -eu
cd "$(dirname "$0")"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
days=36500

openssl req -x509 -newkey rsa:2048 -nodes -days "$days" -sha256 \
  -keyout "$tmp/ca.key" -out ca.pem -subj "/CN=ustb-openai test CA" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"

openssl req -newkey rsa:2048 -nodes -keyout "$tmp/server.key" -out "$tmp/server.csr" \
  -subj "/CN=localhost"
cat > "$tmp/leaf.ext" <<'EXT'
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=IP:127.0.0.1,DNS:localhost
EXT
openssl x509 -req -in "$tmp/server.csr" -CA ca.pem -CAkey "$tmp/ca.key" -CAserial "$tmp/ca.srl" -CAcreateserial \
  -days "$days" -sha256 -extfile "$tmp/leaf.ext" -out server.pem
# PKCS#8 PEM ("BEGIN PRIVATE KEY"), which rustls reads.
openssl pkey -in "$tmp/server.key" -out server.key
openssl verify -CAfile ca.pem server.pem
