#!/usr/bin/env bash
# tests/bench/run_udp_bench.sh: the UDP echo benchmark, in one command.
#
#   tests/bench/run_udp_bench.sh [--seconds T] [--rounds R] [--points "NxS ..."] [--no-build]
#
# What it does:
#   1. Builds, Release without debug checks: with the mingw preset into build/bench-mingw
#      the hand-written thread-pool server tests/bench/baseline_udp_echo.c and cosock's
#      examples/udp_echo.c; natively into build/bench-native tests/bench/udp_loadgen.c.
#   2. Starts both servers once under Wine (cmake/wine-run.sh, prefix build/bench-wineprefix),
#      8 receive slots / tasks each, and reads each one's "listening on H:P" line.
#   3. Drives them with the native load generator, alternating A B A B (R rounds, default
#      5; T seconds a run, default 3) at each point NxS: N senders in closed loop, S-byte
#      datagrams (default "1x64 1x1400 64x64 64x1400"). Every echo is checked byte for
#      byte; a datagram not echoed within 1 s is given up: late if its echo comes after, else lost.
#      Around each run it reads the CPU time (utime+stime, /proc/<pid>/stat) of the server
#      process and of the wineserver (shared by both servers; the idle one costs it nothing)
#      and divides by the datagrams echoed: a figure the machine's other load disturbs less
#      than the rate does.
#   4. Prints a table of medians (datagrams per second; CPU microseconds per datagram), the
#      cosock/baseline ratios, the spread between rounds, and the datagrams lost and the
#      errors summed over the runs.
#      Raw figures go to build/bench-results/udp-<date>/.
# A full run of the defaults takes about 2.5 minutes. A benchmark, not a test: the
# figures vary with the machine's load (the spread column says by how much).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"

seconds=3
rounds=5
points="1x64 1x1400 64x64 64x1400"
do_build=1
receivers=8
usage() { sed -n '2,4p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
while [ $# -gt 0 ]; do
    case "$1" in
        --seconds) seconds=$2; shift ;;
        --rounds) rounds=$2; shift ;;
        --points) points=$2; shift ;;
        --no-build) do_build=0 ;;
        -h|--help) usage ;;
        *) echo "run_udp_bench: unknown option $1" >&2; usage ;;
    esac
    shift
done
for p in $points; do
    [[ "$p" =~ ^[0-9]+x[0-9]+$ ]] || { echo "run_udp_bench: bad point $p" >&2; usage; }
done

win_dir="$root/build/bench-mingw"
nat_dir="$root/build/bench-native"
export COSOCK_WINEPREFIX="${BENCH_WINEPREFIX:-$root/build/bench-wineprefix}"
export COSOCK_WINESERVER_PERSIST=300
stamp=$(date -u +%Y-%m-%dT%H:%MZ)
results="$root/build/bench-results/udp-$(date +%Y%m%d-%H%M%S)"
mkdir -p "$results"
work=$(mktemp -d)
raw="$results/raw.tsv"
say() { echo "run_udp_bench: $*" >&2; }

# ---- 1. build --------------------------------------------------------------------------
common=(-DCMAKE_BUILD_TYPE=Release -DCOSOCK_DEBUG_CHECKS=OFF -DCOSOCK_BUILD_TESTS=OFF
        -DCOSOCK_BUILD_BENCH=ON)
if [ "$do_build" = 1 ]; then
    say "building (logs in $results/build-*.log)"
    if ! { cmake --preset mingw -B "$win_dir" "${common[@]}" &&
           cmake --build "$win_dir" --target baseline_udp_echo udp_echo; } \
           >"$results/build-mingw.log" 2>&1; then
        tail -n 30 "$results/build-mingw.log" >&2; say "FAILED: the mingw build"; exit 1
    fi
    if ! { cmake --preset native -B "$nat_dir" "${common[@]}" -DCOSOCK_SANITIZE= \
               -DCOSOCK_BUILD_EXAMPLES=OFF &&
           cmake --build "$nat_dir" --target udp_loadgen; } >"$results/build-native.log" 2>&1; then
        tail -n 30 "$results/build-native.log" >&2; say "FAILED: the native build"; exit 1
    fi
fi
baseline_exe="$win_dir/tests/bench/baseline_udp_echo.exe"
cosock_exe=$(find "$win_dir/examples" -maxdepth 2 -name udp_echo.exe | head -n 1)
loadgen="$nat_dir/tests/bench/udp_loadgen"
for f in "$baseline_exe" "$cosock_exe" "$loadgen"; do
    [ -n "$f" ] && [ -x "$f" ] || { say "FAILED: ${f:-udp_echo.exe} is missing"; exit 1; }
done

# ---- 2. servers ----------------------------------------------------------------------------
pids=()
holders=()
cleanup() {
    for h in "${holders[@]}"; do kill "$h" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT

# start NAME EXE: the server reads a FIFO held open by a sleep; its port goes to
# $started_port. (Not in a $(...) subshell: the pids must be this shell's.)
started_port=""
start() {
    local name=$1 exe=$2 port=""
    mkfifo "$work/$name.in"
    sleep 100000 >"$work/$name.in" &
    holders+=($!)
    "$root/cmake/wine-run.sh" "$exe" --port 0 --receivers "$receivers" <"$work/$name.in" \
        >"$work/$name.out" 2>"$results/$name.err" 9>&- &
    pids+=($!)
    for _ in $(seq 1 300); do
        port=$(tr -d '\r' <"$work/$name.out" | sed -n 's/^listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p')
        [ -n "$port" ] && break
        sleep 0.1
    done
    [ -n "$port" ] || { say "FAILED: $name printed no listening line"; exit 1; }
    started_port=$port
}
say "warming up Wine (prefix $COSOCK_WINEPREFIX; the first time it is created, ~15 s)"
"$root/cmake/wine-run.sh" "$baseline_exe" --port 70000 >/dev/null 2>&1 || true
start baseline "$baseline_exe"
port_baseline=$started_port
start cosock "$cosock_exe"
port_cosock=$started_port
say "baseline on port $port_baseline, cosock on port $port_cosock"
pid_baseline=${pids[0]}
pid_cosock=${pids[1]}
clk_tck=$(getconf CLK_TCK)
wineserver_pid() {
    local p
    for p in $(pgrep -x wineserver64 || true) $(pgrep -x wineserver || true); do
        if tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -qx "WINEPREFIX=$COSOCK_WINEPREFIX"; then
            echo "$p"; return
        fi
    done
}
ws_pid=$(wineserver_pid)
[ -n "$ws_pid" ] || say "note: no wineserver of $COSOCK_WINEPREFIX found: its CPU is counted as 0"
# CPU ticks (utime + stime) of one process, all threads.
cpu_ticks() {
    local st
    st=$(cat "/proc/$1/stat" 2>/dev/null) || { echo 0; return; }
    st=${st##*) }
    # shellcheck disable=SC2086
    set -- $st
    echo $(( ${12} + ${13} ))
}

# ---- 3. A B A B ---------------------------------------------------------------------------
printf 'round\tpoint\tserver\tdgram_per_s\tlost\tlate\terrors\tcpu_us\n' >"$raw"
for r in $(seq 1 "$rounds"); do
    for p in $points; do
        n=${p%x*}; s=${p#*x}
        for server in baseline cosock; do
            port=port_$server
            pid=pid_$server
            c0=$(( $(cpu_ticks "${!pid}") + $(cpu_ticks "${ws_pid:-0}") ))
            line=$("$loadgen" --port "${!port}" --senders "$n" --size "$s" --seconds "$seconds" \
                   | grep '^RESULT' || true)
            c1=$(( $(cpu_ticks "${!pid}") + $(cpu_ticks "${ws_pid:-0}") ))
            [ -n "$line" ] || { say "FAILED: no RESULT from the load generator ($server $p)"; exit 1; }
            rate=$(sed -n 's/.*dgram_per_s=\([0-9]*\).*/\1/p' <<<"$line")
            lost=$(sed -n 's/.* lost=\([0-9]*\).*/\1/p' <<<"$line")
            late=$(sed -n 's/.* late=\([0-9]*\).*/\1/p' <<<"$line")
            errors=$(sed -n 's/.* errors=\([0-9]*\).*/\1/p' <<<"$line")
            count=$(sed -n 's/.* datagrams=\([0-9]*\).*/\1/p' <<<"$line")
            cpu=$(awk -v d=$((c1 - c0)) -v t="$clk_tck" -v n="$count" \
                  'BEGIN{printf "%.1f", (n > 0 ? d / t * 1e6 / n : 0)}')
            printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$r" "$p" "$server" "$rate" "$lost" "$late" \
                "$errors" "$cpu" >>"$raw"
            say "round $r $p $server: $rate datagrams/s, $cpu CPU us/datagram, lost $lost, errors $errors"
        done
    done
done

# ---- 4. the servers stop cleanly -----------------------------------------------------------
for h in "${holders[@]}"; do kill "$h" 2>/dev/null || true; done
holders=()
status=0
for p in "${pids[@]}"; do wait "$p" || status=$?; done
pids=()
[ "$status" = 0 ] || say "note: a server exited $status (see $results/*.err)"

# ---- 5. the table ----------------------------------------------------------------------------
{
    echo "UDP echo, datagrams per second (median of $rounds rounds of ${seconds} s, A B A B;"
    echo "run $stamp by tests/bench/run_udp_bench.sh; Wine 8, loopback, $receivers receivers each;"
    echo "$(nproc) cores, load average at the end: $(cut -d' ' -f1-3 /proc/loadavg))"
    echo
    printf '| senders x size | baseline (raw thread pool) | cosock udp_echo | cosock / baseline | spread (max/min) base, cosock | CPU us/datagram base, cosock | CPU cosock / baseline | lost | errors |\n'
    printf '|---|---:|---:|---:|---|---|---:|---:|---:|\n'
    for p in $points; do
        awk -F'\t' -v p="$p" '
            $2 == p { v[$3] = v[$3] " " $4; cpu[$3] = cpu[$3] " " $8; lost += $5; err += $7 }
            function median(list,   a, n, i, j, t) {
                n = split(list, a, " ")
                for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
                return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
            }
            function spread(list,   a, n, i, lo, hi) {
                n = split(list, a, " "); lo = hi = a[1] + 0
                for (i = 2; i <= n; i++) { if (a[i] + 0 < lo) lo = a[i] + 0; if (a[i] + 0 > hi) hi = a[i] + 0 }
                return lo > 0 ? hi / lo : 0
            }
            END {
                b = median(v["baseline"]); c = median(v["cosock"])
                cb = median(cpu["baseline"]); cc = median(cpu["cosock"])
                printf "| %s | %d | %d | %.2fx | %.2f, %.2f | %.1f, %.1f | %.2fx | %d | %d |\n", p, b, c,
                       (b > 0 ? c / b : 0), spread(v["baseline"]), spread(v["cosock"]), cb, cc,
                       (cb > 0 ? cc / cb : 0), lost, err
            }' "$raw"
    done
} | tee "$results/table.md"
say "raw figures: $raw"
