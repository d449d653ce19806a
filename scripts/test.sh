#!/bin/bash
# Builds and runs the whole test suite twice: in build-tests as configured
# by default, then in build-sanitize with AddressSanitizer (leaks included)
# and UndefinedBehaviorSanitizer, stopping at the first report. Each ends
# with one line, "tests: N passed, M failed" and "sanitized tests: ...".
# CLGRAD_SANITIZE=0 skips the second; arguments go to both `meson test`s
# (a suite, a test name).
set -euo pipefail
cd "$(dirname "$0")/.."

# configure DIR [meson options...]: once, then reconfigure.
configure() {
    local dir=$1
    shift
    if [ -d "$dir/meson-private" ]; then
        meson setup --reconfigure "$dir" "$@" >/dev/null
    else
        meson setup "$dir" "$@" >/dev/null
    fi
}

# suite DIR LABEL [meson test arguments...]: builds, runs, prints the line.
suite() {
    local dir=$1 label=$2 status=0
    shift 2
    meson compile -C "$dir"
    meson test -C "$dir" --print-errorlogs "$@" | tee "$dir/test-summary.txt" || status=$?
    local passed failed
    passed=$(awk '/^Ok:/ {print $2}' "$dir/test-summary.txt")
    failed=$(awk '/^(Fail|Timeout|Unexpected Pass):/ {n += $NF} END {print n + 0}' \
        "$dir/test-summary.txt")
    echo "$label: ${passed:-0} passed, ${failed} failed"
    return "$status"
}

status=0
configure build-tests
suite build-tests tests "$@" || status=$?
if [ "${CLGRAD_SANITIZE:-1}" != 0 ]; then
    configure build-sanitize -Db_sanitize=address,undefined -Db_lundef=false \
        --buildtype=debug
    # On PoCL alone: other drivers leak memory of their own at exit.
    ASAN_OPTIONS=detect_leaks=1 \
        UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
        suite build-sanitize "sanitized tests" --setup pocl --timeout-multiplier 4 "$@" ||
        status=$?
fi
exit "$status"
