#!/usr/bin/env bash
# tests/sock/tls_servers.sh - runs one TLS test case (a Windows exe, under Wine) against
# native `openssl s_server` processes that this script starts and always stops.
#
#   tls_servers.sh CERT_DIR COMMAND...     (COMMAND: the test exe, after its emulator if any)
#
# CERT_DIR: where the test certificates live (made here on first use, remade when older
# than 12 hours; they are valid for 2 days): a CA, certificates signed by it for
# "localhost" (good), for "wrong.example" (wrong name) and one that has expired, and a
# self-signed "localhost" certificate no CA vouches for. Each server listens on a free
# loopback port (s_server -accept 127.0.0.1:0 says which):
#
#   COSOCK_TLS_PORT_GOOD     -WWW, good certificate (files of COSOCK_TLS_DIR: body.bin, 1 MiB),
#                            ALPN http/1.1
#   COSOCK_TLS_PORT_WRONG    -WWW, certificate for wrong.example
#   COSOCK_TLS_PORT_EXPIRED  -WWW, expired certificate
#   COSOCK_TLS_PORT_SELF     -WWW, self-signed certificate
#   COSOCK_TLS_PORT_REV      -rev (echoes each line reversed), good certificate
#   COSOCK_TLS_PORT_HTTP     -HTTP (files that hold their own response head: notfound.http,
#                            a 404; chunked.http, a chunked 200), good certificate
#   COSOCK_TLS_DIR           the folder (a Unix path: the test maps it to Wine's Z:)
#   COSOCK_TLS_PIN           the SHA-256 fingerprint of the good certificate
#
# Without openssl the case is skipped: exit 77 (ctest's SKIP_RETURN_CODE) with a line
# saying so. The servers are killed on every exit (success, failure, timeout's SIGTERM).
set -u

cert_dir=$1
shift

if ! command -v openssl >/dev/null 2>&1; then
    echo "tls test SKIPPED: no openssl on this machine (the TLS tests need a native openssl s_server)"
    exit 77
fi

pids=()
work=$(mktemp -d)
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 143' TERM INT

make_certs() {
    local d=$1
    rm -rf "$d.new" && mkdir -p "$d.new" && cd "$d.new" || return 1
    local ext_ca="basicConstraints=critical,CA:TRUE
keyUsage=critical,keyCertSign,cRLSign"
    printf '%s\n' "$ext_ca" > ca.ext
    openssl req -x509 -newkey rsa:2048 -nodes -subj "/CN=cosock test CA" -days 2 \
        -keyout ca.key -out ca.pem -addext "basicConstraints=critical,CA:TRUE" \
        -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null || return 1
    leaf() {  # name host days
        printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=DNS:%s\n' "$2" > "$1.ext"
        openssl req -new -newkey rsa:2048 -nodes -subj "/CN=$2" -keyout "$1.key" \
            -out "$1.csr" 2>/dev/null &&
        openssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca.key -CAcreateserial \
            -days "$3" -extfile "$1.ext" -out "$1.pem" 2>/dev/null
    }
    leaf good localhost 2 && leaf wrong wrong.example 2 && leaf expired localhost -1 || return 1
    openssl req -x509 -newkey rsa:2048 -nodes -subj "/CN=localhost" -days 2 \
        -keyout self.key -out self.pem -addext "subjectAltName=DNS:localhost" 2>/dev/null || return 1
    head -c 1048576 /dev/urandom > body.bin
    printf 'HTTP/1.0 404 Not Found\r\nContent-Length: 9\r\n\r\nnot found' > notfound.http
    printf 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n7\r\n, tls!\n\r\n0\r\n\r\n' > chunked.http
    openssl x509 -in good.pem -noout -fingerprint -sha256 | sed 's/.*=//' > good.pin
    cd / && rm -rf "$d" && mv "$d.new" "$d"
}

# One maker at a time (ctest -j): the others wait and use its certificates.
mkdir -p "$(dirname "$cert_dir")"
exec 9>"$cert_dir.lock"
if command -v flock >/dev/null 2>&1; then flock 9; fi
if [ ! -f "$cert_dir/good.pin" ] || [ ! -f "$cert_dir/chunked.http" ] || [ -n "$(find "$cert_dir/good.pin" -mmin +720 2>/dev/null)" ]; then
    make_certs "$cert_dir" || { echo "tls test: FAILED to make certificates in $cert_dir"; exit 1; }
fi
exec 9>&-

# Starts one s_server in the background (a ceiling of 300 s on its life, should this
# script be killed without its trap); its port is read from its first lines.
start_server() {  # name cert mode [more s_server flags]
    local name=$1 cert=$2
    shift 2
    (cd "$cert_dir" && exec timeout 300 openssl s_server -accept 127.0.0.1:0 \
        -cert "$cert.pem" -key "$cert.key" "$@" -no_dhe >"$work/$name.out" 2>&1 </dev/null) &
    pids+=($!)
}
port_of() {  # name
    local port
    for _ in $(seq 200); do
        port=$(grep -ao 'ACCEPT 127.0.0.1:[0-9]*' "$work/$1.out" 2>/dev/null | sed 's/.*://')
        if [ -n "$port" ]; then echo "$port"; return 0; fi
        sleep 0.05
    done
    echo "tls test: FAILED: s_server $1 did not start:" >&2
    cat "$work/$1.out" >&2
    return 1
}

start_server good good -WWW -alpn http/1.1
start_server wrong wrong -WWW
start_server expired expired -WWW
start_server self self -WWW
start_server rev good -rev
start_server http good -HTTP
COSOCK_TLS_PORT_GOOD=$(port_of good) || exit 1
COSOCK_TLS_PORT_WRONG=$(port_of wrong) || exit 1
COSOCK_TLS_PORT_EXPIRED=$(port_of expired) || exit 1
COSOCK_TLS_PORT_SELF=$(port_of self) || exit 1
COSOCK_TLS_PORT_REV=$(port_of rev) || exit 1
COSOCK_TLS_PORT_HTTP=$(port_of http) || exit 1
COSOCK_TLS_DIR=$cert_dir
COSOCK_TLS_PIN=$(cat "$cert_dir/good.pin")
export COSOCK_TLS_PORT_GOOD COSOCK_TLS_PORT_WRONG COSOCK_TLS_PORT_EXPIRED COSOCK_TLS_PORT_SELF
export COSOCK_TLS_PORT_REV COSOCK_TLS_PORT_HTTP COSOCK_TLS_DIR COSOCK_TLS_PIN

"$@"
