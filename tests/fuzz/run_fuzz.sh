#!/bin/sh
# tests/fuzz/run_fuzz.sh [seconds] - fuzz the HTTP parser of examples/ natively.
#
# Builds tests/fuzz/http_parser_fuzz.c with examples/http_parser.c using clang-14
# (-fsanitize=fuzzer,address,undefined), then runs it for N seconds (default 60) over
# a copy of the seed corpus tests/fuzz/corpus/http/ (new inputs go to
# build/fuzz/corpus, the seeds stay as committed). A crash leaves its input in
# build/fuzz/ (crash-*) and exits non-zero. Installs clang-14 and libclang-rt-14-dev
# if they are missing (apt-get; idempotent). Not part of the default test suite.
set -eu

seconds=${1:-60}
root=$(cd "$(dirname "$0")/../.." && pwd)
out="$root/build/fuzz"

if ! command -v clang-14 >/dev/null 2>&1 ||
   ! ls /usr/lib/llvm-14/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a >/dev/null 2>&1; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo=sudo
    $sudo apt-get update -qq
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq clang-14 libclang-rt-14-dev >/dev/null
fi

mkdir -p "$out/corpus"
cp -n "$root"/tests/fuzz/corpus/http/* "$out/corpus/" 2>/dev/null || true
clang-14 -std=c11 -g -O1 -Wall -Wextra -Werror \
    -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
    -I"$root/examples" \
    "$root/tests/fuzz/http_parser_fuzz.c" "$root/examples/http_parser.c" \
    -o "$out/http_parser_fuzz"

cd "$out"
exec ./http_parser_fuzz -max_total_time="$seconds" -max_len=2048 -print_final_stats=1 \
    -artifact_prefix="$out/" corpus
