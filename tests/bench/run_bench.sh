#!/usr/bin/env bash
# tests/bench/run_bench.sh: the echo benchmark, in one command.
#
#   tests/bench/run_bench.sh [--baseline-only] [--seconds T] [--rounds R] [--idle N]
#                            [--no-memory] [--no-build] [--co-steps M] [--points "P..."]
#
# What it does:
#   1. Builds what it needs, in its own build folders (Release, no debug checks, no
#      sanitizers): the Windows servers with the mingw preset into build/bench-mingw
#      (tests/bench's baseline_echo_server and, when examples/echo_server.c exists, the
#      cosock echo server: target $COSOCK_ECHO_SERVER, default echo_server; and, where the
#      toolchain builds it (C++20 coroutines), the co_await version of it: target
#      $COSOCK_ECHO_SERVER_CPP, default echo_server_cpp, measured as "cosock_cpp"), and
#      natively into build/bench-native the load generator and co_resume_bench.
#   2. Starts the servers under Wine (cmake/wine-run.sh, in a prefix of its own:
#      build/bench-wineprefix) with the `ulimit -n` raised, reads each one's
#      "listening on H:P" line for its port.
#   3. Drives them with the native load generator, alternating A B (C), B (C) A, ..., R rounds (default
#      3), T seconds per run (default 5), at the points (--points, default all, in order):
#        CxS      C connections, all open before timing, closed-loop S-byte ping-pong:
#                 1x64 64x64 1000x64 64x4096
#        arrive   1000 connections arriving at 1000/s (loadgen --rate), each starting its
#                 64-byte ping-pong as soon as it is connected; timed for 10 s from the
#                 last connect (not T). Also reports "served": how many of the 1000 had a
#                 round trip echoed by the end, and how long their first echo took.
#        connect  connection rate (8 workers, each connect, one round trip, close)
#      Before/after each run's timed phase it reads the server process's CPU time
#      (utime+stime in /proc/<pid>/stat: the Wine process is the Linux process, all its
#      threads) and the wineserver's, and divides by the round trips the load generator
#      counted.
#   4. Memory: starts each server afresh (both with --idle-friendly: idle connections
#      wait with a zero-byte receive and pin no buffer), opens N idle connections (default 10,000), and
#      reads the server process's private memory and RSS from /proc before and after.
#      The framework bytes per connection are what each server prints on stderr when it
#      exits ("framework bytes per connection: N").
#   5. Runs the co/ resume micro-benchmark (native) and the C++ await micro-benchmark
#      (cpp_await_bench, under Wine, where the mingw toolchain has C++20 coroutines).
#   6. Prints a table of medians, cosock/baseline ratios and the spread between rounds
#      (and one for cosock_cpp: its ratios to the baseline and to cosock).
#      Raw figures go to build/bench-results/<date>/.
#
# Environment:
#   COSOCK_ECHO_SERVER   cosock echo server target (default echo_server, examples/echo_server.c)
#   COSOCK_ECHO_SERVER_CPP  the C++20 co_await server (default echo_server_cpp,
#                        examples/echo_server_cpp.cpp); empty: not measured
#   BENCH_WINEPREFIX     Wine prefix (default build/bench-wineprefix; created once, ~15 s)
#   BENCH_CMAKE_ARGS     extra arguments for both configure steps
#
# The servers stop when their stdin reaches end of file: each reads a FIFO whose only
# writer is a `sleep` this script starts and later kills. Wine makes Ctrl+C awkward.
# This is a benchmark, not a test: figures vary with the machine's load (the script says
# how much they varied between rounds).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"

seconds=5
rounds=3
idle_n=10000
do_memory=1
do_build=1
baseline_only=0
co_steps=20
points="1x64 64x64 1000x64 64x4096 arrive connect"
connect_workers=8
arrive_conns=1000     # the arrive point: this many connections,
arrive_rate=1000      # opened this many per second,
arrive_seconds=10     # timed for this long after the last one is connected

usage() {
    sed -n '2,4p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}
while [ $# -gt 0 ]; do
    case "$1" in
        --baseline-only) baseline_only=1 ;;
        --seconds) seconds=$2; shift ;;
        --rounds) rounds=$2; shift ;;
        --idle) idle_n=$2; shift ;;
        --no-memory) do_memory=0 ;;
        --no-build) do_build=0 ;;
        --co-steps) co_steps=$2; shift ;;
        --points) points=$2; shift ;;
        -h|--help) usage ;;
        *) echo "run_bench: unknown option $1" >&2; usage ;;
    esac
    shift
done
for p in $points; do
    case "$p" in
        arrive|connect) ;;
        *x*) [[ "$p" =~ ^[0-9]+x[0-9]+$ ]] || { echo "run_bench: bad point $p" >&2; usage; } ;;
        *) echo "run_bench: bad point $p (CxS, arrive or connect)" >&2; usage ;;
    esac
done

cosock_target=${COSOCK_ECHO_SERVER:-echo_server}
cpp_target=${COSOCK_ECHO_SERVER_CPP-echo_server_cpp}
win_dir="$root/build/bench-mingw"
nat_dir="$root/build/bench-native"
export COSOCK_WINEPREFIX="${BENCH_WINEPREFIX:-$root/build/bench-wineprefix}"
export COSOCK_WINESERVER_PERSIST=300
results="$root/build/bench-results/$(date +%Y%m%d-%H%M%S)"
mkdir -p "$results"
work=$(mktemp -d)
raw="$results/raw.tsv"
log="$results/log.txt"
: >"$log"
say() { echo "run_bench: $*" | tee -a "$log" >&2; }

# ---- 1. build --------------------------------------------------------------------------
want_cosock=0
if [ "$baseline_only" = 1 ]; then
    say "--baseline-only: the cosock server is skipped"
elif [ ! -f "$root/examples/echo_server.c" ]; then
    say "examples/echo_server.c does not exist yet: measuring the baseline alone"
else
    want_cosock=1
fi

common=(-DCMAKE_BUILD_TYPE=Release -DCOSOCK_DEBUG_CHECKS=OFF -DCOSOCK_BUILD_TESTS=OFF
        -DCOSOCK_BUILD_BENCH=ON)
# shellcheck disable=SC2206
extra=(${BENCH_CMAKE_ARGS:-})
if [ "$do_build" = 1 ]; then
    say "building (logs in $results/build-*.log)"
    win_targets=(baseline_echo_server)
    [ "$want_cosock" = 1 ] && win_targets+=("$cosock_target")
    # The C++20 server exists only where the toolchain has coroutines: build it if it is a target.
    with_cpp_target() {
        if [ "$want_cosock" = 1 ] && [ -n "$cpp_target" ] &&
           cmake --build "$win_dir" --target help 2>/dev/null | grep -q "^$cpp_target: "; then
            win_targets+=("$cpp_target")
        fi
        if cmake --build "$win_dir" --target help 2>/dev/null | grep -q "^cpp_await_bench: "; then
            win_targets+=(cpp_await_bench)
        fi
    }
    if ! { cmake --preset mingw -B "$win_dir" "${common[@]}" "${extra[@]}" && with_cpp_target &&
           cmake --build "$win_dir" --target "${win_targets[@]}"; } >"$results/build-mingw.log" 2>&1; then
        tail -n 30 "$results/build-mingw.log" >&2
        say "FAILED: the mingw build (is add_subdirectory(tests/bench) in the top-level CMakeLists.txt?)"
        exit 1
    fi
    if ! { cmake --preset native -B "$nat_dir" "${common[@]}" -DCOSOCK_SANITIZE= \
               -DCOSOCK_BUILD_EXAMPLES=OFF "${extra[@]}" &&
           cmake --build "$nat_dir" --target loadgen co_resume_bench; } >"$results/build-native.log" 2>&1; then
        tail -n 30 "$results/build-native.log" >&2
        say "FAILED: the native build"
        exit 1
    fi
fi
baseline_exe="$win_dir/tests/bench/baseline_echo_server.exe"
cosock_exe=$(find "$win_dir/examples" -maxdepth 2 -name "$cosock_target.exe" 2>/dev/null | head -n 1 || true)
cpp_exe=""
if [ "$want_cosock" = 1 ] && [ -n "$cpp_target" ]; then
    cpp_exe=$(find "$win_dir/examples" -maxdepth 2 -name "$cpp_target.exe" 2>/dev/null | head -n 1 || true)
    [ -n "$cpp_exe" ] || say "no $cpp_target.exe under $win_dir/examples (no C++20 there?): cosock_cpp not measured"
fi
loadgen="$nat_dir/tests/bench/loadgen"
co_bench="$nat_dir/tests/bench/co_resume_bench"
for f in "$baseline_exe" "$loadgen"; do
    [ -x "$f" ] || { say "FAILED: $f is missing"; exit 1; }
done
if [ "$want_cosock" = 1 ] && [ -z "$cosock_exe" ]; then
    say "FAILED: no $cosock_target.exe under $win_dir/examples"
    exit 1
fi

# ---- Wine and process helpers ---------------------------------------------------------------
hard=$(ulimit -Hn)
if [ "$hard" = unlimited ]; then ulimit -n 65536; else ulimit -n "$hard"; fi
if [ "$(ulimit -n)" -lt $((idle_n + 400)) ]; then
    say "note: ulimit -n is $(ulimit -n): $idle_n idle connections may not fit"
fi
clk_tck=$(getconf CLK_TCK)

say "warming up Wine (prefix $COSOCK_WINEPREFIX; the first time it is created, ~15 s)"
"$root/cmake/wine-run.sh" cmd /c exit </dev/null >/dev/null 2>&1 || true

# The wineserver of our prefix: every Wine socket call goes through it, so its CPU time is
# reported beside the server's own.
wineserver_pid() {
    local p
    for p in $(pgrep -x wineserver64 || true) $(pgrep -x wineserver || true); do
        if tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -qx "WINEPREFIX=$COSOCK_WINEPREFIX"; then
            echo "$p"; return
        fi
    done
}
ws_pid=$(wineserver_pid)
[ -n "$ws_pid" ] || say "note: cannot find the wineserver of $COSOCK_WINEPREFIX; its CPU is not reported"

# CPU ticks (utime + stime) of one process, all threads; fields after the ")" of comm.
cpu_ticks() {
    local s
    s=$(cat "/proc/$1/stat" 2>/dev/null) || { echo 0; return; }
    s=${s##*) }
    # shellcheck disable=SC2086
    set -- $s
    echo $(( ${12} + ${13} ))
}
# Private memory (Private_Clean + Private_Dirty, kB) and RSS (kB) of a process.
private_kb() { awk '/^Private_(Clean|Dirty):/ {s += $2} END {print s+0}' "/proc/$1/smaps_rollup"; }
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

declare -A srv_pid srv_port srv_holder srv_err
# start_server NAME EXE [ARGS...]: runs EXE under Wine, its stdin a FIFO held open by a sleep.
start_server() {
    local name=$1 exe=$2 fifo="$work/$1.in" out="$work/$1.out" i
    shift 2
    rm -f "$fifo"; mkfifo "$fifo"
    srv_err[$name]="$work/$name.err"
    sleep 100000 >"$fifo" &
    srv_holder[$name]=$!
    "$root/cmake/wine-run.sh" "$exe" --host 127.0.0.1 --port 0 "$@" <"$fifo" >"$out" 2>"${srv_err[$name]}" &
    srv_pid[$name]=$!
    for i in $(seq 300); do
        if tr -d '\r' <"$out" | grep -q '^listening on '; then break; fi
        if ! kill -0 "${srv_pid[$name]}" 2>/dev/null; then break; fi
        sleep 0.1
    done
    srv_port[$name]=$(tr -d '\r' <"$out" | sed -n '1s/^listening on .*:\([0-9][0-9]*\)$/\1/p')
    if [ -z "${srv_port[$name]}" ]; then
        say "FAILED: $name printed no 'listening on H:P' line; its stderr:"
        cat "${srv_err[$name]}" >&2
        exit 1
    fi
    say "$name: pid ${srv_pid[$name]}, port ${srv_port[$name]} ($(head -n 1 "$out" | tr -d '\r'))"
}
# stop_server NAME: end of file on stdin; Ctrl+C (SIGINT, which Wine turns into a console
# event) if it does not exit within 10 s; then SIGKILL. Only this server's own pid.
stop_server() {
    local name=$1 pid=${srv_pid[$1]} i
    [ -n "$pid" ] || return 0
    kill "${srv_holder[$name]}" 2>/dev/null || true
    for i in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
        say "$name did not exit at end of stdin: sending SIGINT"
        kill -INT "$pid" 2>/dev/null || true
        for i in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    fi
    if kill -0 "$pid" 2>/dev/null; then
        say "$name still running: SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
    srv_pid[$name]=""
}
framework_bytes() {
    tr -d '\r' <"${srv_err[$1]}" | sed -n 's/.*framework bytes per connection: *\([0-9][0-9]*\).*/\1/p' | tail -n 1
}
cleanup() {
    local n
    for n in "${!srv_pid[@]}"; do stop_server "$n"; done
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

servers=(baseline)
declare -A exe_of=([baseline]="$baseline_exe")
if [ "$want_cosock" = 1 ]; then
    servers=(cosock baseline)   # A = cosock, B = baseline
    exe_of[cosock]="$cosock_exe"
    if [ -n "$cpp_exe" ]; then
        servers+=(cosock_cpp)   # C = the co_await server
        exe_of[cosock_cpp]="$cpp_exe"
    fi
fi

# ---- 3. throughput rounds -------------------------------------------------------------------
for s in "${servers[@]}"; do start_server "$s" "${exe_of[$s]}"; done
printf 'round\tpoint\tserver\trtt_per_s\tp50_us\tp99_us\terrors\tround_trips\tcpu_us_per_rt\twineserver_us_per_rt\tserved\tfirst_p50_us\tfirst_p99_us\n' >"$raw"

wait_line() { # wait_line FILE LINE PID: until FILE has LINE or PID has exited
    while ! grep -qx "$2" "$1" 2>/dev/null && kill -0 "$3" 2>/dev/null; do sleep 0.02; done
}
run_point() { # run_point ROUND POINT SERVER
    local r=$1 p=$2 s=$3 c size args line rts rate p50 p99 err c0 c1 w0=0 w1=0 cpu wcpu
    local secs=$seconds served first50 first99
    if [ "$p" = connect ]; then
        args=(--mode connect --connections "$connect_workers" --size 64)
    elif [ "$p" = arrive ]; then
        args=(--connections "$arrive_conns" --rate "$arrive_rate" --size 64)
        secs=$arrive_seconds
    else
        c=${p%x*}; size=${p#*x}
        args=(--connections "$c" --size "$size")
    fi
    # CPU is read at loadgen's "TIMING start" and "TIMING end" lines, so opening and
    # closing the connections is not charged to the round trips.
    local out="$work/loadgen.out" lg
    : >"$out"
    "$loadgen" --host 127.0.0.1 --port "${srv_port[$s]}" --seconds "$secs" "${args[@]}" \
        </dev/null >"$out" 2>>"$log" &
    lg=$!
    wait_line "$out" "TIMING start" "$lg"
    c0=$(cpu_ticks "${srv_pid[$s]}"); [ -n "$ws_pid" ] && w0=$(cpu_ticks "$ws_pid")
    wait_line "$out" "TIMING end" "$lg"
    c1=$(cpu_ticks "${srv_pid[$s]}"); [ -n "$ws_pid" ] && w1=$(cpu_ticks "$ws_pid")
    wait "$lg" 2>/dev/null || true
    line=$(grep '^RESULT' "$out" || true)
    echo "round $r $p $s: $line" >>"$log"
    get() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$line"; }
    rts=$(get round_trips); rate=$(get rtt_per_s); [ -n "$rate" ] || rate=$(get conn_per_s)
    p50=$(get p50_us); p99=$(get p99_us); err=$(get errors)
    served=$(get served); first50=$(get first_p50_us); first99=$(get first_p99_us)
    if [ -z "$rts" ] || [ "$rts" = 0 ]; then
        say "round $r $p $s: no round trips (${line:-loadgen printed no RESULT})"
        rts=0; rate=0; p50=0; p99=0; err=${err:-1}; cpu=0; wcpu=0
    else
        cpu=$(awk -v d=$((c1 - c0)) -v t="$clk_tck" -v n="$rts" 'BEGIN{printf "%.1f", d / t * 1e6 / n}')
        wcpu=$(awk -v d=$((w1 - w0)) -v t="$clk_tck" -v n="$rts" 'BEGIN{printf "%.1f", d / t * 1e6 / n}')
    fi
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$r" "$p" "$s" "$rate" "$p50" "$p99" \
        "$err" "$rts" "$cpu" "$wcpu" "${served:--}" "${first50:--}" "${first99:--}" >>"$raw"
    printf 'run_bench: round %s %-8s %-10s %9s/s p50 %8s us p99 %9s us errors %s, server CPU %s us/rt, wineserver %s us/rt%s\n' \
        "$r" "$p" "$s" "$rate" "$p50" "$p99" "$err" "$cpu" "$wcpu" \
        "${served:+, served $served of $arrive_conns}" | tee -a "$log" >&2
}

t_start=$(date +%s)
for r in $(seq "$rounds"); do
    for p in $points; do
        # The order turns each round (A B C, B C A, C A B, ...): no server always
        # runs first, or right after the same neighbour.
        n=${#servers[@]}
        for i in $(seq 0 $((n - 1))); do
            run_point "$r" "$p" "${servers[$(( (i + r - 1) % n ))]}"
        done
    done
done
declare -A fw_bytes
for s in "${servers[@]}"; do
    stop_server "$s"
    fw_bytes[$s]=$(framework_bytes "$s")
    cp "${srv_err[$s]}" "$results/$s.stderr" 2>/dev/null || true
done

# ---- 4. memory with idle connections --------------------------------------------------------
declare -A mem_priv0 mem_priv1 mem_rss0 mem_rss1 mem_ws0 mem_ws1 mem_est
if [ "$do_memory" = 1 ]; then
    for s in "${servers[@]}"; do
        # Idle connections pin no receive buffer in either server's idle-friendly mode
        # (a zero-byte receive waits for data); the timed rounds above use the hot path.
        start_server "$s" "${exe_of[$s]}" --idle-friendly
        sleep 1
        pid=${srv_pid[$s]}
        mem_priv0[$s]=$(private_kb "$pid"); mem_rss0[$s]=$(rss_kb "$pid")
        [ -n "$ws_pid" ] && mem_ws0[$s]=$(rss_kb "$ws_pid")
        fifo="$work/idle.in"; rm -f "$fifo"; mkfifo "$fifo"
        sleep 100000 >"$fifo" & holder=$!
        "$loadgen" --host 127.0.0.1 --port "${srv_port[$s]}" --idle "$idle_n" --seconds 300 \
            <"$fifo" >"$work/idle.out" 2>>"$log" &
        lg=$!
        for i in $(seq 1200); do
            grep -q '^IDLE READY' "$work/idle.out" 2>/dev/null && break
            kill -0 "$lg" 2>/dev/null || break
            sleep 0.1
        done
        sleep 2   # let the server settle (thread-pool threads, lazy allocations)
        mem_est[$s]=$(sed -n 's/^IDLE READY connections=\([0-9]*\).*/\1/p' "$work/idle.out")
        mem_priv1[$s]=$(private_kb "$pid"); mem_rss1[$s]=$(rss_kb "$pid")
        [ -n "$ws_pid" ] && mem_ws1[$s]=$(rss_kb "$ws_pid")
        kill "$holder" 2>/dev/null || true
        wait "$lg" 2>/dev/null || true
        say "$s idle: $(tail -n 1 "$work/idle.out")"
        say "$s idle: private ${mem_priv0[$s]} -> ${mem_priv1[$s]} kB, RSS ${mem_rss0[$s]} -> ${mem_rss1[$s]} kB"
        stop_server "$s"
        [ -n "${fw_bytes[$s]}" ] || fw_bytes[$s]=$(framework_bytes "$s")
    done
fi
t_end=$(date +%s)

# ---- 5. co resume micro-benchmark -----------------------------------------------------------
co_out="$results/co_resume_bench.txt"
if [ -x "$co_bench" ]; then
    say "co resume micro-benchmark ($co_steps million steps per round)"
    "$co_bench" "$co_steps" >"$co_out" 2>&1 || say "co_resume_bench failed"
else
    echo "(co_resume_bench not built)" >"$co_out"
fi
cpp_bench="$win_dir/tests/bench/cpp_await_bench.exe"
cpp_bench_out="$results/cpp_await_bench.txt"
if [ -x "$cpp_bench" ]; then
    say "C++ await micro-benchmark (under Wine)"
    "$root/cmake/wine-run.sh" "$cpp_bench" "$co_steps" </dev/null >"$cpp_bench_out" 2>&1 ||
        say "cpp_await_bench failed"
else
    echo "(cpp_await_bench not built: no C++20 coroutines in the mingw toolchain)" >"$cpp_bench_out"
fi

# ---- 6. report ----------------------------------------------------------------------------------
# OFMT: an even number of rounds averages two values; awk would print e.g. 3.47243e+06.
median() { sort -g | awk 'BEGIN {OFMT = "%.1f"} {a[NR]=$1} END {if (NR == 0) print "-"; else if (NR % 2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
col() { # col POINT SERVER FIELD -> the values over rounds
    awk -F'\t' -v p="$1" -v s="$2" -v f="$3" 'NR==1 {for (i=1;i<=NF;i++) if ($i==f) c=i; next}
        $2==p && $3==s {print $c}' "$raw"
}
spread() { # (max - min) / median, in %
    sort -g | awk '{a[NR]=$1} END {if (NR < 2) {print "-"; exit}
        m = (NR % 2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2
        if (m == 0) print "-"; else printf "%.0f%%", (a[NR]-a[1]) / m * 100}'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (a == "-" || b == "-" || b == 0) print "-"; else printf "%.3f", a / b}'; }

{
echo
echo "== cosock echo benchmark: $(date -u +%Y-%m-%dT%H:%MZ)"
echo "machine: $(nproc) cores, $(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -n 1);" \
     "$(uname -sr); $(wine --version 2>/dev/null); load average now: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "runs: $rounds rounds x $seconds s per point, servers alternated (${servers[*]}) within each point;" \
     "loadgen native, servers under Wine; $((t_end - t_start)) s measuring"
echo "columns: medians over rounds; spread = (max-min)/median of rt/s over the rounds;"
echo "  cpu = server process CPU (user+sys, all threads) per round trip; ws = wineserver CPU per round trip"
echo
printf '%-9s | %-44s | %-44s | %s\n' "" "baseline (hand-written thread-pool IO)" "cosock echo_server" "cosock/baseline"
printf '%-9s | %9s %8s %9s %7s %6s | %9s %8s %9s %7s %6s | %6s %6s\n' \
    "C x S" "rt/s" "p50 us" "p99 us" "cpu us" "spread" "rt/s" "p50 us" "p99 us" "cpu us" "spread" "rt/s" "cpu"
for p in $points; do
    label=$p; [ "$p" = connect ] && label="conn/s*"; [ "$p" = arrive ] && label="arrive**"
    declare -A m=()
    for s in baseline cosock; do
        for f in rtt_per_s p50_us p99_us cpu_us_per_rt; do m[$s.$f]=$(col "$p" "$s" "$f" | median); done
        m[$s.spread]=$(col "$p" "$s" rtt_per_s | spread)
    done
    printf '%-9s | %9s %8s %9s %7s %6s | %9s %8s %9s %7s %6s | %6s %6s\n' "$label" \
        "${m[baseline.rtt_per_s]}" "${m[baseline.p50_us]}" "${m[baseline.p99_us]}" "${m[baseline.cpu_us_per_rt]}" "${m[baseline.spread]}" \
        "${m[cosock.rtt_per_s]}" "${m[cosock.p50_us]}" "${m[cosock.p99_us]}" "${m[cosock.cpu_us_per_rt]}" "${m[cosock.spread]}" \
        "$(ratio "${m[cosock.rtt_per_s]}" "${m[baseline.rtt_per_s]}")" \
        "$(ratio "${m[cosock.cpu_us_per_rt]}" "${m[baseline.cpu_us_per_rt]}")"
done
if [ -n "${exe_of[cosock_cpp]:-}" ]; then
    echo
    printf '%-9s | %-44s | %-13s | %s\n' "" "cosock_cpp (echo_server_cpp, C++20 co_await)" \
        "cpp/baseline" "cpp/cosock"
    printf '%-9s | %9s %8s %9s %7s %6s | %6s %6s | %6s %6s\n' \
        "C x S" "rt/s" "p50 us" "p99 us" "cpu us" "spread" "rt/s" "cpu" "rt/s" "cpu"
    for p in $points; do
        label=$p; [ "$p" = connect ] && label="conn/s*"; [ "$p" = arrive ] && label="arrive**"
        declare -A m=()
        for s in baseline cosock cosock_cpp; do
            for f in rtt_per_s p50_us p99_us cpu_us_per_rt; do m[$s.$f]=$(col "$p" "$s" "$f" | median); done
        done
        printf '%-9s | %9s %8s %9s %7s %6s | %6s %6s | %6s %6s\n' "$label" \
            "${m[cosock_cpp.rtt_per_s]}" "${m[cosock_cpp.p50_us]}" "${m[cosock_cpp.p99_us]}" \
            "${m[cosock_cpp.cpu_us_per_rt]}" "$(col "$p" cosock_cpp rtt_per_s | spread)" \
            "$(ratio "${m[cosock_cpp.rtt_per_s]}" "${m[baseline.rtt_per_s]}")" \
            "$(ratio "${m[cosock_cpp.cpu_us_per_rt]}" "${m[baseline.cpu_us_per_rt]}")" \
            "$(ratio "${m[cosock_cpp.rtt_per_s]}" "${m[cosock.rtt_per_s]}")" \
            "$(ratio "${m[cosock_cpp.cpu_us_per_rt]}" "${m[cosock.cpu_us_per_rt]}")"
    done
fi
echo "* conn/s: $connect_workers workers each open a connection, do one 64-byte round trip, close it"
if [[ " $points " == *" arrive "* ]]; then
    echo "** arrive: $arrive_conns connections opened at $arrive_rate/s, each ping-ponging 64 bytes as soon as"
    echo "   it is connected; rt/s, p50/p99 and cpu cover the $arrive_seconds s after the last connect. served ="
    echo "   connections with at least one round trip echoed by then; first = connect to first echo (medians):"
    printf '   %-10s | %14s %13s %13s\n' "server" "served of $arrive_conns" "first p50 us" "first p99 us"
    for s in baseline cosock ${exe_of[cosock_cpp]:+cosock_cpp}; do
        printf '   %-10s | %14s %13s %13s\n' "$s" "$(col arrive "$s" served | median)" \
            "$(col arrive "$s" first_p50_us | median)" "$(col arrive "$s" first_p99_us | median)"
    done
fi
for s in "${servers[@]}"; do
    printf '%-10s wineserver CPU per round trip (median us):' "$s"
    for p in $points; do printf ' %s=%s' "$p" "$(col "$p" "$s" wineserver_us_per_rt | median)"; done
    echo
done
echo
echo "memory per idle connection:"
for s in "${servers[@]}"; do
    line="  $s: framework bytes per connection ${fw_bytes[$s]:-(not reported by the server)}"
    if [ "$do_memory" = 1 ] && [ -n "${mem_est[$s]:-}" ] && [ "${mem_est[$s]}" -gt 0 ]; then
        line+=$(awk -v n="${mem_est[$s]}" -v p0="${mem_priv0[$s]}" -v p1="${mem_priv1[$s]}" \
                    -v r0="${mem_rss0[$s]}" -v r1="${mem_rss1[$s]}" -v w0="${mem_ws0[$s]:-0}" -v w1="${mem_ws1[$s]:-0}" \
            'BEGIN {printf "; with %d idle connections: private %.1f MB (+%.0f B/conn), RSS %.1f MB (+%.0f B/conn), wineserver RSS +%.0f B/conn",
                    n, p1/1024, (p1-p0)*1024/n, r1/1024, (r1-r0)*1024/n, (w1-w0)*1024/n}')
    fi
    echo "$line"
done
echo "  (private = Private_Clean+Private_Dirty of /proc/<pid>/smaps_rollup: pages this process alone"
echo "   has touched, the closest Linux view of Windows' \"private bytes\", which also counts committed"
echo "   but untouched memory; includes each server's receive buffers and Wine's own per-socket state)"
echo
echo "co/ resume cost (native, tests/bench/co_resume_bench.c):"
sed 's/^/  /' "$co_out"
echo
echo "one await of a C++20 coroutine beside the macros' (Windows, under Wine, tests/bench/cpp_await_bench.cpp):"
sed 's/^/  /' "$cpp_bench_out"
echo
echo "raw figures: $raw"
} | tee "$results/report.txt"
