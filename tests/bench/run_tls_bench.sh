#!/usr/bin/env bash
# tests/bench/run_tls_bench.sh: the TLS benchmark, in one command (a few minutes).
#
#   tests/bench/run_tls_bench.sh [--rounds R] [--mib M] [--pingpong N] [--no-build]
#
# What it does:
#   1. Builds tests/bench/tls_bench.c (cosock's TLS client) and tests/bench/tls_baseline.c (a
#      hand-written blocking Schannel client, no cosock) with the mingw-release preset
#      (Release, -O3, no debug checks) into build/mingw-release.
#   2. Makes a self-signed certificate and an M MiB file of random bytes (default 64) in a
#      temporary folder, and starts natively: `openssl s_server -WWW` serving it,
#      `openssl s_server -rev` (a line echo over TLS) and a plain-TCP echo (a small C program
#      compiled here with the host's gcc),
#      each on a free loopback port.
#   3. Alternates A B C, R rounds (default 11), after one warm-up round:
#        A  cosock   download of the file over TLS (GET, body to close_notify)
#        B  baseline download of the same file (blocking recv + DecryptMessage loop)
#        C  cosock   64-byte ping-pong, N round trips (default 2000) over TLS (s_server -rev)
#                    and N over plain TCP (the native C echo), on two connections of one
#                    process, batches of 100 alternating between them (tls_bench.c): the
#                    medians of the batches, so both see the same load
#      Downloads are timed from the request to the end of the stream, ping-pongs over the N
#      round trips; handshakes are not timed. The clients run under Wine (cmake/wine-run.sh,
#      prefix build/bench-wineprefix).
#   4. Prints a table of medians with the ratios: cosock/baseline MiB/s (target >= 0.95) and
#      the TLS cost of a round trip (C - D, and C/D). Raw figures: build/bench-results/tls-<date>.txt.
# This is a benchmark, not a test: figures vary with the machine's load.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"

rounds=11
mib=64
pingpong=2000
build=1
while [ $# -gt 0 ]; do
    case $1 in
        --rounds) rounds=$2; shift 2 ;;
        --mib) mib=$2; shift 2 ;;
        --pingpong) pingpong=$2; shift 2 ;;
        --no-build) build=0; shift ;;
        -h|--help) sed -n '2,24p' "$0"; exit 0 ;;
        *) echo "run_tls_bench: unknown argument $1" >&2; exit 2 ;;
    esac
done

for tool in openssl gcc; do
    command -v "$tool" >/dev/null || { echo "run_tls_bench: $tool is needed" >&2; exit 1; }
done

bdir=build/mingw-release
if [ "$build" = 1 ]; then
    [ -f "$bdir/CMakeCache.txt" ] || cmake --preset mingw-release >/dev/null
    cmake --build "$bdir" -j 2 --target tls_bench tls_baseline >/dev/null
fi
export COSOCK_WINEPREFIX=${BENCH_WINEPREFIX:-$root/build/bench-wineprefix}
wine=cmake/wine-run.sh
client=$bdir/tests/bench/tls_bench.exe
baseline=$bdir/tests/bench/tls_baseline.exe

work=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 143' TERM INT

openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=localhost -days 2 \
    -keyout "$work/key.pem" -out "$work/cert.pem" 2>/dev/null
head -c $((mib * 1048576)) /dev/urandom > "$work/big.bin"

(cd "$work" && exec openssl s_server -accept 127.0.0.1:0 -cert cert.pem -key key.pem -WWW \
    -no_dhe >"$work/www.out" 2>&1 </dev/null) &
pids+=($!)
(cd "$work" && exec openssl s_server -accept 127.0.0.1:0 -cert cert.pem -key key.pem -rev \
    -no_dhe >"$work/rev.out" 2>&1 </dev/null) &
pids+=($!)
# The plain-TCP echo: native C, one thread per connection, TCP_NODELAY (as s_server -rev is
# native and single-threaded, so the two ping-pongs differ by TLS only).
cat >"$work/echo.c" <<'ECHO'
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>
static void *serve(void *arg) {
    int c = (int)(long)arg, one = 1; char buf[65536]; ssize_t n;
    setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    while ((n = recv(c, buf, sizeof buf, 0)) > 0)
        for (ssize_t off = 0, k; off < n; off += k)
            if ((k = send(c, buf + off, (size_t)(n - off), 0)) <= 0) goto out;
out:
    close(c);
    return NULL;
}
int main(void) {
    struct sockaddr_in a = {0}; socklen_t len = sizeof a; int s = socket(AF_INET, SOCK_STREAM, 0);
    a.sin_family = AF_INET; a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(s, (struct sockaddr *)&a, sizeof a) || listen(s, 16)) return 1;
    getsockname(s, (struct sockaddr *)&a, &len);
    printf("ACCEPT 127.0.0.1:%d\n", ntohs(a.sin_port)); fflush(stdout);
    for (;;) { pthread_t t; int c = accept(s, NULL, NULL); if (c < 0) return 1;
               pthread_create(&t, NULL, serve, (void *)(long)c); pthread_detach(t); }
}
ECHO
gcc -O2 -pthread -o "$work/echo" "$work/echo.c"
"$work/echo" >"$work/echo.out" 2>&1 </dev/null &
pids+=($!)

port_of() {
    for _ in $(seq 200); do
        p=$(grep -ao 'ACCEPT 127.0.0.1:[0-9]*' "$work/$1.out" 2>/dev/null | sed 's/.*://')
        if [ -n "$p" ]; then echo "$p"; return 0; fi
        sleep 0.05
    done
    echo "run_tls_bench: $1 server did not start" >&2; cat "$work/$1.out" >&2; return 1
}
www=$(port_of www); rev=$(port_of rev); echo_port=$(port_of echo)

stamp=$(date -u +%Y-%m-%dT%H:%MZ)
mkdir -p build/bench-results
raw=build/bench-results/tls-$(date -u +%Y%m%d-%H%M%S).txt
: >"$raw"

field() { sed -n "s/.*$1=\([0-9.]*\).*/\1/p"; }
run() {  # name command...  (a second try if Wine fails to start the exe, which it rarely does)
    local out rc
    for try in 1 2; do
        out=$("${@:2}" 2>&1) && rc=0 || rc=$?
        if [ "$rc" = 0 ] && grep -q '=' <<<"$out"; then
            echo "$1 $(grep '=' <<<"$out" | tail -n1)" >>"$raw"
            return 0
        fi
        echo "run_tls_bench: $1 failed (exit $rc, try $try): $out" >&2
    done
    exit 1
}

echo "TLS benchmark, $stamp: $rounds rounds (+1 warm-up), $mib MiB download, $pingpong x 64-byte round trips"
for r in $(seq 0 "$rounds"); do
    run A "$wine" "$client" --port "$www" --mode download --path /big.bin
    run B "$wine" "$baseline" --port "$www" --path /big.bin
    run C "$wine" "$client" --port "$rev" --tcp-port "$echo_port" --mode pingpong \
        --rounds "$pingpong" --size 64
    if [ "$r" = 0 ]; then : >"$raw"; fi  # the warm-up round is not counted
    echo "  round $r done"
done

median() { sort -g | awk '{a[NR]=$1} END {if (NR == 0) print "-"; else if (NR % 2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
spread() { sort -g | awk '{a[NR]=$1} END {m = (NR % 2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2; printf "%.0f", 100*(a[NR]-a[1])/m}'; }
col() { grep "^$1 " "$raw" | field "$2" | median; }
a=$(col A mib_per_s); b=$(col B mib_per_s); c=$(col C tls_us_per_rt); d=$(col C tcp_us_per_rt)
bytes=$(grep '^A ' "$raw" | head -1 | field bytes)
echo
echo "TLS benchmark $stamp (medians of $rounds rounds, A B C alternating; raw: $raw)"
echo "downloads spread (max-min)/median: cosock $(grep '^A ' "$raw" | field mib_per_s | spread)%," \
     "baseline $(grep '^B ' "$raw" | field mib_per_s | spread)%"
ratio() { awk "BEGIN{printf \"%.2f\", $1/$2}"; }
echo
echo "| download of $mib MiB over TLS 1.2 ($bytes bytes) | cosock | blocking Schannel loop | cosock / loop |"
echo "|---|---|---|---|"
echo "| MiB/s | $a | $b | $(ratio "$a" "$b") |"
echo
echo "| 64-byte ping-pong, cosock, $pingpong round trips each | TLS 1.2 | plain TCP | TLS cost per round trip |"
echo "|---|---|---|---|"
echo "| us per round trip | $c | $d | $(awk "BEGIN{printf \"%+.1f us (x%.2f)\", $c-$d, $c/$d}") |"
