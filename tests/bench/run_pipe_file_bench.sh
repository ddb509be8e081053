#!/usr/bin/env bash
# tests/bench/run_pipe_file_bench.sh: the named pipe and file benchmarks, in one command.
#
#   tests/bench/run_pipe_file_bench.sh [--rounds R] [--messages M] [--mib N] [--no-build]
#
# What it does:
#   1. Builds, Release with no debug checks, with the mingw preset into build/bench-mingw:
#      examples/pipe_echo.c and examples/file_copy.c (cosock), tests/bench's
#      baseline_pipe_echo.c (a pipe echo server written directly on the thread-pool IO API)
#      and baseline_file_copy.c (CopyFileW, and a synchronous ReadFile/WriteFile loop).
#   2. Pipes: for each point CxS (C connections at once, S-byte messages, M messages each,
#      default 6000; points 1x64 8x64 8x4096) and each round, starts the cosock server and
#      the baseline server in turn (A B, then B A in the next round, so that neither always
#      runs first), each on a pipe name of its own, drives it
#      with the same client (pipe_echo --client, every message verified), and records the
#      client's round trips per second, and the server process's CPU time (user + system,
#      all threads, from /proc) per round trip. The client runs under Wine too: a Linux program
#      cannot open a Windows pipe.
#   3. Files: makes one N MiB source file (default 256), then per round copies it with
#      file_copy (8 in flight, 1 MiB chunks), CopyFileW and the synchronous loop (1 MiB
#      reads and writes), alternating (the order reversed every other round), each to a
#      fresh destination, and records MB/s.
#   Before each part, one untimed run of every program warms the caches and Wine.
#   4. Prints a table of medians over the rounds (default 5), the cosock/baseline ratios and
#      the spread between rounds. Raw figures in build/bench-results/pipe-file-<date>/.
#
# Environment: BENCH_WINEPREFIX (default build/bench-wineprefix), BENCH_CMAKE_ARGS.
# A benchmark, not a test: the figures vary with the machine's load; keep the machine quiet.
# The whole run takes about 4 minutes here (about 6.5 with --messages 10000 on a loaded machine).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"

rounds=5
messages=6000
mib=256
do_build=1
points="1x64 8x64 8x4096"
while [ $# -gt 0 ]; do
    case "$1" in
        --rounds) rounds=$2; shift ;;
        --messages) messages=$2; shift ;;
        --mib) mib=$2; shift ;;
        --no-build) do_build=0 ;;
        *) sed -n '2,4p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
    esac
    shift
done

win_dir="$root/build/bench-mingw"
export COSOCK_WINEPREFIX="${BENCH_WINEPREFIX:-$root/build/bench-wineprefix}"
export COSOCK_WINESERVER_PERSIST=300
stamp=$(date -u +%Y-%m-%dT%H:%MZ)
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
results="$root/build/bench-results/pipe-file-$(date -u +%Y%m%d-%H%M%S)"
mkdir -p "$results"
work=$(mktemp -d -p "$root/build")
raw="$results/raw.tsv"
log="$results/log.txt"
: >"$log"
say() { echo "run_pipe_file_bench: $*" | tee -a "$log" >&2; }
wine_run() { "$root/cmake/wine-run.sh" "$@"; }

# ---- 1. build --------------------------------------------------------------------------
targets=(pipe_echo file_copy baseline_pipe_echo baseline_file_copy)
# shellcheck disable=SC2206
extra=(${BENCH_CMAKE_ARGS:-})
if [ "$do_build" = 1 ]; then
    say "building (log in $results/build-mingw.log)"
    if ! { cmake --preset mingw -B "$win_dir" -DCMAKE_BUILD_TYPE=Release -DCOSOCK_DEBUG_CHECKS=OFF \
               -DCOSOCK_BUILD_TESTS=OFF -DCOSOCK_BUILD_BENCH=ON "${extra[@]}" &&
           cmake --build "$win_dir" --target "${targets[@]}"; } >"$results/build-mingw.log" 2>&1; then
        tail -n 30 "$results/build-mingw.log" >&2
        say "FAILED: the mingw build"
        exit 1
    fi
fi
exe() { find "$win_dir" -maxdepth 3 -name "$1.exe" | head -n 1; }
pipe_echo=$(exe pipe_echo); file_copy=$(exe file_copy)
base_pipe=$(exe baseline_pipe_echo); base_copy=$(exe baseline_file_copy)
for f in "$pipe_echo" "$file_copy" "$base_pipe" "$base_copy"; do
    [ -n "$f" ] && [ -f "$f" ] || { say "FAILED: a program is missing under $win_dir"; exit 1; }
done

say "warming up Wine (prefix $COSOCK_WINEPREFIX; the first time it is created, ~15 s)"
wine_run cmd /c exit </dev/null >/dev/null 2>&1 || true

holder=""; srv=""
clk_tck=$(getconf CLK_TCK)
# CPU ticks (utime + stime, all threads) of a process: the Wine process is the Linux one
# (cmake/wine-run.sh execs wine), so this is the server's own CPU time.
cpu_ticks() {
    local st
    st=$(cat "/proc/$1/stat" 2>/dev/null) || { echo 0; return; }
    st=${st##*) }
    # shellcheck disable=SC2086
    set -- $st
    echo $(( ${12} + ${13} ))
}
# start_server EXE NAME: runs a pipe server under Wine, stdin a FIFO held open by a sleep.
start_server() {
    local fifo="$work/in" out="$work/out-$2" i
    rm -f "$fifo"; mkfifo "$fifo"
    sleep 100000 >"$fifo" &
    holder=$!
    "$root/cmake/wine-run.sh" "$1" --name "$2" --instances 8 <"$fifo" >"$out" 2>"$work/err" &
    srv=$!
    for i in $(seq 300); do
        if tr -d '\r' <"$out" 2>/dev/null | grep -qF "listening on \\\\.\\pipe\\$2"; then return 0; fi
        kill -0 "$srv" 2>/dev/null || break
        sleep 0.1
    done
    say "FAILED: $1 printed no 'listening on' line:"; cat "$work/err" >&2; exit 1
}
stop_server() {
    local i
    [ -n "$srv" ] || return 0
    kill "$holder" 2>/dev/null || true
    for i in $(seq 100); do kill -0 "$srv" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$srv" 2>/dev/null && kill -KILL "$srv" 2>/dev/null || true
    wait "$srv" 2>/dev/null || true
    srv=""
}
cleanup() { stop_server; rm -rf "$work"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

printf 'round\tpart\tpoint\tprogram\tvalue\n' >"$raw"

# ---- 2. pipes ----------------------------------------------------------------------------
n=0
say "warming up the pipe programs (untimed)"
for s in cosock baseline; do
    n=$((n + 1)); name="cosock-bench-$$-$n"
    if [ "$s" = cosock ]; then start_server "$pipe_echo" "$name"; else start_server "$base_pipe" "$name"; fi
    wine_run "$pipe_echo" --client --name "$name" --connections 8 --messages 500 </dev/null >/dev/null 2>>"$log" || true
    stop_server
done
for p in $points; do
    conns=${p%x*}; size=${p#*x}
    for r in $(seq "$rounds"); do
        order="cosock baseline"
        [ $((r % 2)) = 0 ] && order="baseline cosock"  # A B, B A: no program always goes first
        for s in $order; do
            n=$((n + 1))
            name="cosock-bench-$$-$n"
            if [ "$s" = cosock ]; then start_server "$pipe_echo" "$name"; else start_server "$base_pipe" "$name"; fi
            cpu0=$(cpu_ticks "$srv")
            line=$(wine_run "$pipe_echo" --client --name "$name" --connections "$conns" \
                   --messages "$messages" --size "$size" </dev/null 2>>"$log" | tr -d '\r' | tail -n 1 || true)
            cpu1=$(cpu_ticks "$srv")
            stop_server
            cpu_us=$(awk -v t=$((cpu1 - cpu0)) -v hz="$clk_tck" -v n=$((conns * messages)) \
                     'BEGIN {printf "%.1f", t * 1e6 / hz / n}')
            rate=$(echo "$line" | sed -n 's/.*: \([0-9][0-9]*\) round trips\/s$/\1/p')
            [ -n "$rate" ] || { say "FAILED: round $r $p $s: $line"; exit 1; }
            say "round $r pipe $p $s: $rate round trips/s, server CPU $cpu_us us per round trip"
            printf '%s\tpipe\t%s\t%s\t%s\n' "$r" "$p" "$s" "$rate" >>"$raw"
            printf '%s\tcpu\t%s\t%s\t%s\n' "$r" "$p" "$s" "$cpu_us" >>"$raw"
        done
    done
done

# ---- 3. files ----------------------------------------------------------------------------
src="$work/src.bin"
say "making a $mib MiB source file"
head -c $((mib * 1048576)) /dev/urandom >"$src"
say "warming up the file programs (untimed)"
wine_run "$file_copy" "$src" "$work/warm.bin" </dev/null >/dev/null 2>>"$log" || true
wine_run "$base_copy" copyfile "$src" "$work/warm.bin" </dev/null >/dev/null 2>>"$log" || true
wine_run "$base_copy" sync "$src" "$work/warm.bin" </dev/null >/dev/null 2>>"$log" || true
rm -f "$work/warm.bin"
for r in $(seq "$rounds"); do
    order="cosock copyfile sync"
    [ $((r % 2)) = 0 ] && order="sync copyfile cosock"
    for s in $order; do
        dst="$work/dst-$s-$r.bin"
        case $s in
            cosock) line=$(wine_run "$file_copy" "$src" "$dst" --in-flight 8 --chunk 1048576 </dev/null 2>>"$log" || true) ;;
            copyfile) line=$(wine_run "$base_copy" copyfile "$src" "$dst" </dev/null 2>>"$log" || true) ;;
            sync) line=$(wine_run "$base_copy" sync "$src" "$dst" 1048576 </dev/null 2>>"$log" || true) ;;
        esac
        line=$(echo "$line" | tr -d '\r' | tail -n 1)
        mbs=$(echo "$line" | sed -n 's/.*: \([0-9.][0-9.]*\) MB\/s.*/\1/p')
        [ -n "$mbs" ] && cmp -s "$src" "$dst" || { say "FAILED: round $r file $s: $line"; exit 1; }
        rm -f "$dst"
        say "round $r file $s: $mbs MB/s"
        printf '%s\tfile\t%sMiB\t%s\t%s\n' "$r" "$mib" "$s" "$mbs" >>"$raw"
    done
done

# ---- 4. the table ----------------------------------------------------------------------------
median() { sort -g | awk 'BEGIN {OFMT = "%.1f"} {a[NR]=$1} END {if (NR == 0) print "-"; else if (NR % 2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
col() { awk -F'\t' -v part="$1" -v point="$2" -v prog="$3" '$2 == part && $3 == point && $4 == prog {print $5}' "$raw"; }
spread() { sort -g | awk '{a[NR]=$1} END {if (NR < 2) {print "-"; exit} m = (NR % 2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2; printf "%.0f%%", (m > 0 ? 100*(a[NR]-a[1])/m : 0)}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (b > 0) printf "%.2fx", a/b; else print "-"}'; }
{
echo
echo "run_pipe_file_bench: $stamp, $rounds rounds, programs alternated A B / B A within each point (medians);"
echo "load average (1/5/15 min) at the start $load_start, at the end $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| pipe echo (C conns x S bytes, $messages msgs each) | cosock pipe_echo rt/s | baseline rt/s | cosock/baseline | spread cosock / baseline | server CPU us/rt cosock / baseline |"
echo "|---|---:|---:|---:|---:|---:|"
for p in $points; do
    a=$(col pipe "$p" cosock | median); b=$(col pipe "$p" baseline | median)
    echo "| $p | $a | $b | $(ratio "$a" "$b") | $(col pipe "$p" cosock | spread) / $(col pipe "$p" baseline | spread) | $(col cpu "$p" cosock | median) / $(col cpu "$p" baseline | median) |"
done
echo
echo "| file copy, $mib MiB | MB/s | file_copy / this | spread |"
echo "|---|---:|---:|---:|"
c=$(col file "${mib}MiB" cosock | median)
for s in cosock sync copyfile; do
    v=$(col file "${mib}MiB" "$s" | median)
    label=$s
    [ "$s" = cosock ] && label="cosock file_copy (8 in flight, 1 MiB)"
    [ "$s" = sync ] && label="synchronous ReadFile/WriteFile loop (1 MiB)"
    [ "$s" = copyfile ] && label="CopyFileW"
    echo "| $label | $v | $(ratio "$c" "$v") | $(col file "${mib}MiB" "$s" | spread) |"
done
} | tee "$results/table.md"
