#!/usr/bin/env bash
# wine-run.sh EXE [ARGS...]: run a Windows program under Wine, for ctest and the demo.
#
# CMake uses this as CMAKE_CROSSCOMPILING_EMULATOR, so every Windows test goes through it.
# Naively running `wine test.exe` under ctest either costs ~2.4 s per test or hangs for
# ever: the first Wine process starts Wine's services (winedevice, plugplay, ...), they
# inherit ctest's output pipe and ctest waits for them. What this script does instead:
#
#   1. Under a flock (tests run in parallel), create the per-checkout prefix if missing
#      (build/wineprefix, about 10 s once), start a persistent wineserver, and if we
#      started it, boot the prefix once. All of it with stdio on /dev/null, and every
#      daemon started inside the lock gets its copy of the lock fd closed (9>&-),
#      otherwise it holds the lock for ever and the next test deadlocks.
#   2. Release the lock and exec wine on the program: a warm test costs 20-40 ms.
#
# Exit codes pass through unchanged. A program that cannot load (missing DLL) exits 53
# and prints nothing; ctest's PASS_REGULAR_EXPRESSION catches that.
#
# Environment:
#   COSOCK_WINEPREFIX          prefix to use (default: <checkout>/build/wineprefix)
#   COSOCK_WINESERVER_PERSIST  seconds the idle wineserver stays up (default 120)
#   COSOCK_WINEDEBUG           Wine's debug channels (default -all: silent), e.g.
#                              +threadpool,+winsock to trace a short run
set -u

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export WINEPREFIX="${COSOCK_WINEPREFIX:-$(dirname "$here")/build/wineprefix}"
export WINEDEBUG=${COSOCK_WINEDEBUG:--all}
# No Mono/Gecko install prompts; a crash prints one line instead of a winedbg dump.
export WINEDLLOVERRIDES="mscoree,mshtml=;winedbg.exe=d"
export WINEARCH=win64
unset DISPLAY WAYLAND_DISPLAY

# The wineserver needs about one fd per socket plus ~180 and keeps the limit in force
# when it started, so raise the soft limit to the hard one before any Wine process.
hard=$(ulimit -Hn)
if [ "$hard" = unlimited ]; then ulimit -n 65536 2>/dev/null || true; else ulimit -n "$hard"; fi

if [ "$#" -lt 1 ]; then
    echo "usage: $0 program.exe [args...]" >&2
    exit 2
fi

mkdir -p "$(dirname "$WINEPREFIX")"
exec 9>"$WINEPREFIX.lock"
flock 9

if [ ! -f "$WINEPREFIX/.cosock-ready" ]; then
    rm -rf "$WINEPREFIX"
    t0=$(date +%s.%N)
    wineboot -i </dev/null >/dev/null 2>&1 9>&-
    # The registry files are written when the (non-persistent) server exits: wait for it.
    wineserver -w </dev/null >/dev/null 2>&1 9>&-
    t1=$(date +%s.%N)
    echo "wine prefix created in $(awk "BEGIN{printf \"%.1f\", $t1-$t0}") s" >"$WINEPREFIX/.cosock-ready"
fi

# Exit status 0: we started the server; 2: one is already running for this prefix.
if wineserver -p"${COSOCK_WINESERVER_PERSIST:-120}" </dev/null >/dev/null 2>&1 9>&-; then
    wine wineboot </dev/null >/dev/null 2>&1 9>&-
fi

exec 9>&-
exec wine "$@"
