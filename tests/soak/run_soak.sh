#!/usr/bin/env bash
# tests/soak/run_soak.sh [MINUTES]: hours of traffic in minutes, looking for slow leaks.
#
# Runs echo_server, http_server and chat_server (the mingw-release build: Release, no debug
# checks) side by side under Wine for MINUTES (default 10), each under a mix of well-behaved,
# slow, resetting and malformed clients (tests/soak/soak_clients.py, one process per server).
# Beside them runs a control: the hand-written thread-pool echo server of the benchmark
# (tests/bench/baseline_echo_server.c, no cosock code) under the same echo clients, because
# Wine 8 itself keeps some memory per connection served (measured: the control grows too,
# steadily, with no live connection left behind). Every server is sampled every 10 s:
#   private_kb  Private_Clean + Private_Dirty of /proc/<pid>/smaps_rollup: pages the process
#               alone has touched (the closest Linux view of Windows' private bytes);
#   fds         the process's open Unix descriptors: under Wine every socket a process holds
#               has one, so this counts its sockets as the system sees them;
#   handles     GetProcessHandleCount, printed by the server itself (COSOCK_STATS_MS, see
#               examples/cli.h); Wine 8 answers 0 (a stub), Windows the real count;
#   sockets, tasks, pending   the runtime's counters, printed by the server itself.
# Then it stops the clients and the servers (end of stdin) and checks:
#   - no errors on the well-behaved clients, and some traffic;
#   - each server exits 0, which it does only with every counter back at zero after its stop;
#   - after warm-up (the first third of the run, at least 60 s), fds (and handles where the
#     system counts them) grow by less than 5% to the end of the run (the mean of the last
#     three samples against the mean of the first three after warm-up);
#   - private_kb after warm-up: grows by less than 5%, or, where the control grows too (Wine),
#     by no more per connection than the control's growth per connection plus 5%
#     (connections: those the clients opened, spread evenly over the run).
# Samples go to build/soak/<server>.tsv, the verdict to build/soak/summary.txt and stdout.
# Exit status 0 only if every server passed. Self-stopping: every child is ended on exit.
# Not part of .ci/test (it takes minutes by design).
set -uo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
minutes=${1:-10}
case "$minutes" in ''|*[!0-9.]*) echo "usage: $0 [MINUTES]" >&2; exit 2 ;; esac
seconds=$(awk -v m="$minutes" 'BEGIN{printf "%d", m * 60}')
[ "$seconds" -ge 30 ] || { echo "run_soak: at least half a minute" >&2; exit 2; }
interval=10
out="$root/build/soak"
mkdir -p "$out"
say() { echo "run_soak: $*" >&2; }

# ---- build ---------------------------------------------------------------------------
bash "$root/.ci/setup" || { say "setup failed (build/logs/setup.log)"; exit 1; }
if ! command -v python3 >/dev/null; then
    say "installing python3"
    if [ "$(id -u)" -eq 0 ]; then apt-get install -y python3 >/dev/null; else sudo apt-get install -y python3 >/dev/null; fi
fi
(cd "$root" && cmake --preset mingw-release >"$out/configure.log" 2>&1 &&
    cmake --build --preset mingw-release --target echo_server http_server chat_server \
        baseline_echo_server -j 2 \
        >"$out/build.log" 2>&1) || { say "build failed (build/soak/build.log)"; exit 1; }
exe_dir="$root/build/mingw-release/examples"
ulimit -n "$(ulimit -H -n)" 2>/dev/null || true

servers=(echo http chat control)
exe_of() { [ "$1" = control ] && echo "$root/build/mingw-release/tests/bench/baseline_echo_server.exe" ||
           echo "$exe_dir/${1}_server.exe"; }
clients_of() { [ "$1" = control ] && echo echo || echo "$1"; }
declare -A pid holder port err clients

cleanup() {
    local s
    for s in "${servers[@]}"; do
        [ -n "${clients[$s]:-}" ] && kill "${clients[$s]}" 2>/dev/null
        [ -n "${holder[$s]:-}" ] && kill "${holder[$s]}" 2>/dev/null
        [ -n "${pid[$s]:-}" ] && kill -KILL "${pid[$s]}" 2>/dev/null
    done
    rm -f "$out"/*.in
}
trap cleanup EXIT
trap 'exit 130' INT TERM

private_kb() { awk '/^Private_(Clean|Dirty):/ {s += $2} END {print s+0}' "/proc/$1/smaps_rollup" 2>/dev/null; }
fds() { ls "/proc/$1/fd" 2>/dev/null | wc -l; }
# The last "stats:" line of a server's stderr, as "handles sockets tasks pending".
stats() { tr -d '\r' <"$1" | grep '^stats: ' | tail -n 1 |
          sed -E 's/stats: handles=([0-9]+) sockets=([0-9-]+) tasks=([0-9-]+) pending=([0-9-]+).*/\1 \2 \3 \4/'; }

# ---- start -----------------------------------------------------------------------------
for s in "${servers[@]}"; do
    fifo="$out/$s.in"
    rm -f "$fifo"; mkfifo "$fifo"
    sleep 100000 >"$fifo" &
    holder[$s]=$!
    err[$s]="$out/$s.err"
    verbose=--verbose; [ "$s" = control ] && verbose=
    COSOCK_STATS_MS=$((interval * 1000)) "$root/cmake/wine-run.sh" "$(exe_of "$s")" \
        --host 127.0.0.1 --port 0 $verbose <"$fifo" >"$out/$s.out" 2>"${err[$s]}" &
    pid[$s]=$!
    for i in $(seq 300); do
        tr -d '\r' <"$out/$s.out" | grep -q '^listening on ' && break
        kill -0 "${pid[$s]}" 2>/dev/null || break
        sleep 0.1
    done
    port[$s]=$(tr -d '\r' <"$out/$s.out" | sed -n '1s/^listening on .*:\([0-9][0-9]*\)$/\1/p')
    [ -n "${port[$s]}" ] || { say "${s}_server did not start:"; cat "${err[$s]}" >&2; exit 1; }
    printf 't_s\tprivate_kb\tfds\thandles\tsockets\ttasks\tpending\n' >"$out/$s.tsv"
    say "${s}_server: pid ${pid[$s]}, port ${port[$s]}"
done
for s in "${servers[@]}"; do
    python3 "$root/tests/soak/soak_clients.py" "$(clients_of "$s")" "${port[$s]}" "$seconds" \
        >"$out/$s.clients" 2>&1 &
    clients[$s]=$!
done
say "running for $minutes min ($seconds s), sampling every $interval s"

# ---- sample ----------------------------------------------------------------------------
t0=$(date +%s)
while :; do
    t=$(( $(date +%s) - t0 ))
    for s in "${servers[@]}"; do
        read -r h so ta pe <<<"$(stats "${err[$s]}")"
        printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$t" "$(private_kb "${pid[$s]}")" "$(fds "${pid[$s]}")" \
            "${h:-?}" "${so:-?}" "${ta:-?}" "${pe:-?}" >>"$out/$s.tsv"
    done
    [ "$t" -ge "$seconds" ] && break
    sleep "$interval"
done

# ---- stop ------------------------------------------------------------------------------
declare -A client_rc server_rc
for s in "${servers[@]}"; do
    wait "${clients[$s]}"; client_rc[$s]=$?; clients[$s]=""
done
for s in "${servers[@]}"; do
    kill "${holder[$s]}" 2>/dev/null; holder[$s]=""
done
for s in "${servers[@]}"; do
    for i in $(seq 300); do kill -0 "${pid[$s]}" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "${pid[$s]}" 2>/dev/null; then
        say "${s}_server did not stop in 30 s"; kill -KILL "${pid[$s]}" 2>/dev/null
    fi
    wait "${pid[$s]}"; server_rc[$s]=$?; pid[$s]=""
done

# ---- verdict ---------------------------------------------------------------------------
# growth FILE COLUMN WARM_S: percent growth of COLUMN from just after warm-up to the end.
growth() {
    awk -F'\t' -v col="$2" -v warm="$3" '
        NR > 1 && $1 >= warm && $col ~ /^[0-9]+$/ { v[n++] = $col }
        END {
            if (n < 2) { print "n/a"; exit }
            k = n >= 6 ? 3 : 1
            for (i = 0; i < k; i++) { a += v[i]; b += v[n - 1 - i] }
            a /= k; b /= k
            if (a == 0) { print (b == 0 ? "0.0" : "inf"); exit }
            printf "%.1f", (b - a) * 100 / a
        }' "$1"
}
first_after() { awk -F'\t' -v col="$2" -v warm="$3" 'NR > 1 && $1 >= warm {print $col; exit}' "$1"; }
last_of() { tail -n 1 "$1" | cut -f "$2"; }
warm=$(( seconds / 3 )); [ "$warm" -ge 60 ] || warm=60; [ "$warm" -lt "$seconds" ] || warm=0
# kb_per_kconn FILE CONNECTIONS: private KB grown after warm-up per 1,000 connections opened
# in that time (the clients open them at a steady rate).
kb_per_kconn() {
    awk -F'\t' -v warm="$warm" -v total="$seconds" -v conns="$2" '
        NR > 1 && $1 >= warm && $2 ~ /^[0-9]+$/ { v[n + 0] = $2; t[n++] = $1 }
        END {
            if (n < 2 || conns == 0) { print "n/a"; exit }
            k = n >= 6 ? 3 : 1
            for (i = 0; i < k; i++) { a += v[i]; b += v[n - 1 - i]; ta += t[i]; tb += t[n - 1 - i] }
            c = conns * ((tb - ta) / k) / total
            printf "%.1f", (b - a) / k / (c / 1000)
        }' "$1"
}
conns_of() { sed -n 's/.*connections=\([0-9]*\).*/\1/p' "$out/$1.clients" | tail -n 1; }
control_rate=$(kb_per_kconn "$out/control.tsv" "$(conns_of control)")
ok_all=1
{
    echo "soak of $minutes min, $(date -u +%Y-%m-%dT%H:%MZ), warm-up $warm s, samples every $interval s"
    echo "private KB grown per 1,000 connections after warm-up: the control (no cosock) $control_rate"
    printf '%-7s %-9s %22s %7s %13s %7s %9s %s\n' server verdict "private KB warm -> end" growth \
        "fds warm->end" growth handles "clients / stop"
    for s in "${servers[@]}"; do
        f="$out/$s.tsv"
        pg=$(growth "$f" 2 "$warm"); fg=$(growth "$f" 3 "$warm"); hg=$(growth "$f" 4 "$warm")
        h_end=$(last_of "$f" 4)
        line=$(grep '^SOAK ' "$out/$s.clients" | tail -n 1)
        why=()
        [ "${client_rc[$s]}" -eq 0 ] || why+=("well-behaved clients failed")
        [ "${server_rc[$s]}" -eq 0 ] || why+=("server exit ${server_rc[$s]} (counters not at zero?)")
        [ "$s" != control ] || fg=n/a-control  # its descriptors and memory are the reference
        [ "$s" = control ] || ! awk -v g="$fg" 'BEGIN{exit !(g == "n/a" || g == "inf" || g + 0 >= 5)}' ||
            why+=("descriptors grew $fg%")
        rate=$(kb_per_kconn "$f" "$(conns_of "$s")")
        if [ "$s" != control ] && awk -v g="$pg" 'BEGIN{exit !(g == "n/a" || g == "inf" || g + 0 >= 5)}'; then
            if ! awk -v r="$rate" -v c="$control_rate" \
                    'BEGIN{exit !(r != "n/a" && c != "n/a" && r + 0 <= (c + 0) * 1.05)}'; then
                why+=("private bytes grew $pg% ($rate KB per 1,000 connections; control $control_rate)")
            fi
        fi
        if [ "$h_end" != 0 ] && [ "$h_end" != "?" ]; then
            awk -v g="$hg" 'BEGIN{exit !(g == "n/a" || g == "inf" || g + 0 >= 5)}' && why+=("handles grew $hg%")
        fi
        verdict=PASS; [ "${#why[@]}" -eq 0 ] || { verdict=FAIL; ok_all=0; }
        printf '%-7s %-9s %10s -> %-9s %6s%% %5s -> %-5s %6s%% %9s %s\n' "$s" "$verdict" \
            "$(first_after "$f" 2 "$warm")" "$(last_of "$f" 2)" "$pg" \
            "$(first_after "$f" 3 "$warm")" "$(last_of "$f" 3)" "$fg" \
            "$([ "$h_end" = 0 ] && echo "0 (stub)" || echo "$h_end")" \
            "${line#SOAK }; exit ${server_rc[$s]}; $rate KB per 1,000 connections"
        [ "${#why[@]}" -eq 0 ] || echo "       ${why[*]}"
        grep '^soak_clients:' "$out/$s.clients" | head -n 5 | sed 's/^/       /'
        tr -d '\r' <"${err[$s]}" | grep -E 'counters at stop|connections accepted' | sed 's/^/       /'
    done
} >"$out/summary.txt"
cat "$out/summary.txt"
[ "$ok_all" -eq 1 ]
