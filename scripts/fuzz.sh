#!/bin/sh
# Builds the libFuzzer targets for the IDX and CSV readers (clang, with
# AddressSanitizer and UBSan) and runs each for SECONDS (default 600) on
# fuzz/corpus/. Crashing inputs land in fuzz/crashes/; each becomes a
# regression test in tests/test_data.c.
#   usage: scripts/fuzz.sh [SECONDS] [idx|csv|all]
set -eu
cd "$(dirname "$0")/.."
seconds=${1:-600}
which=${2:-all}
out=build-fuzz
mkdir -p "$out" fuzz/crashes
sources="src/data/idx.c src/data/csv.c src/data/dataset.c src/runtime/error.c src/runtime/file.c"
flags="-g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
       -Iinclude -Isrc/runtime -D_POSIX_C_SOURCE=200809L -DCL_TARGET_OPENCL_VERSION=120"
for target in idx csv; do
    [ "$which" = all ] || [ "$which" = "$target" ] || continue
    # shellcheck disable=SC2086
    clang $flags fuzz/fuzz_$target.c $sources -lz -lm -o "$out/fuzz_$target"
    mkdir -p "$out/corpus_$target"
    cp fuzz/corpus/$target/* "$out/corpus_$target/"
    "$out/fuzz_$target" -max_total_time="$seconds" -max_len=4096 -timeout=10 \
        -artifact_prefix=fuzz/crashes/"$target"- "$out/corpus_$target" \
        >"$out/fuzz_$target.log" 2>&1 || { tail -n 30 "$out/fuzz_$target.log"; exit 1; }
    tail -n 3 "$out/fuzz_$target.log"
done
