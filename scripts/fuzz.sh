#!/bin/sh
# Builds clgrad's libFuzzer targets (clang, AddressSanitizer and UBSan, in
# build-fuzz) and runs each for SECONDS (default 600) from its seed corpus in
# fuzz/corpus/NAME. A crashing input lands in fuzz/crashes/NAME-*; once the
# bug is fixed, copy it into fuzz/corpus/NAME, where the suite's fuzz tests
# replay it in every build.
#   usage: scripts/fuzz.sh [SECONDS] [idx|csv|spec|safetensors|tokenizer|all]
set -eu
cd "$(dirname "$0")/.."
seconds=${1:-600}
which=${2:-all}
out=build-fuzz
if [ ! -d "$out/meson-private" ]; then
    CC=clang meson setup "$out" -Dfuzz=true -Db_sanitize=address,undefined \
        -Db_lundef=false --buildtype=debugoptimized >/dev/null
fi
ninja -C "$out" >/dev/null
mkdir -p fuzz/crashes
for target in idx csv spec safetensors tokenizer; do
    [ "$which" = all ] || [ "$which" = "$target" ] || continue
    work="$out/corpus_$target" # what the fuzzer learns, kept between runs
    mkdir -p "$work"
    UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
        "$out/fuzz/fuzz_$target" -max_total_time="$seconds" -max_len=8192 -timeout=10 \
        -artifact_prefix=fuzz/crashes/"$target"- "$work" fuzz/corpus/"$target" \
        >"$out/fuzz_$target.log" 2>&1 || { tail -n 40 "$out/fuzz_$target.log"; exit 1; }
    echo "$target: $(grep -E '^#[0-9]+' "$out/fuzz_$target.log" | tail -n 1)"
done
