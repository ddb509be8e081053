#!/usr/bin/env bash
# udp_native_clients.sh RUNNER EXAMPLES_DIR: the examples against clients we did not
# write. udp_echo (under RUNNER, the Wine wrapper, or nothing on Windows) must echo
# what `socat` and `nc -u` (netcat-openbsd) send, byte for byte, and exit 0 at end of
# stdin; resolve must print 127.0.0.1 for localhost. Prints "udp_native_clients: PASS"
# (ctest's pass expression) or says what failed (a missing client too: .ci/setup
# installs both).
set -u
runner=$1
dir=$2
tmp=$(mktemp -d)
trap 'exec 7>&- 2>/dev/null; kill "$srv" 2>/dev/null; rm -rf "$tmp"' EXIT

fail() { echo "udp_native_clients: FAILED: $*"; [ -f "$tmp/err" ] && cat "$tmp/err"; exit 1; }

for tool in socat nc; do
    command -v "$tool" >/dev/null || fail "$tool is missing (run .ci/setup)"
done

mkfifo "$tmp/in"
$runner "$dir/udp_echo.exe" --port 0 --verbose <"$tmp/in" >"$tmp/out" 2>"$tmp/err" &
srv=$!
exec 7>"$tmp/in"
port=
for _ in $(seq 1 200); do
    port=$(tr -d '\r' <"$tmp/out" | sed -n 's/^listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p')
    [ -n "$port" ] && break
    sleep 0.1
done
[ -n "$port" ] || fail "no 'listening on' line"

# socat: a text line, and 1,400 random bytes compared byte for byte.
got=$(echo "hello from socat" | socat -t 2 - "UDP:127.0.0.1:$port")
[ "$got" = "hello from socat" ] || fail "socat got '$got'"
head -c 1400 /dev/urandom >"$tmp/d1400"
socat -t 2 - "UDP:127.0.0.1:$port" <"$tmp/d1400" >"$tmp/e1400"
cmp -s "$tmp/d1400" "$tmp/e1400" || fail "socat: 1,400 random bytes did not come back unchanged"

# nc -u: netcat-openbsd sends the line as one datagram and prints the answer.
got=$(echo "hello from nc" | timeout 5 nc -u -w 2 127.0.0.1 "$port")
[ "$got" = "hello from nc" ] || fail "nc -u got '$got'"

exec 7>&-  # end of stdin: the server stops
wait "$srv"
code=$?
[ "$code" -eq 0 ] || fail "udp_echo exited $code"
grep -q "3 datagrams echoed, 0 errors" "$tmp/err" || fail "udp_echo's statistics"
grep -q "0 sockets, 0 tasks, 0 pending operations" "$tmp/err" || fail "udp_echo's counters"

got=$($runner "$dir/resolve.exe" localhost --family 4 | tr -d '\r')
[ "$got" = "127.0.0.1" ] || fail "resolve localhost printed '$got'"
echo "udp_native_clients: PASS (socat, nc -u, resolve)"
