#!/bin/bash
# Configures build-tests (once), builds, and runs the whole test suite; ends
# with one line "tests: N passed, M failed".
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -d build-tests/meson-private ]; then
    meson setup --reconfigure build-tests >/dev/null
else
    meson setup build-tests >/dev/null
fi
meson compile -C build-tests
status=0
meson test -C build-tests --print-errorlogs "$@" | tee build-tests/test-summary.txt || status=$?
passed=$(awk '/^Ok:/ {print $2}' build-tests/test-summary.txt)
failed=$(awk '/^(Fail|Timeout|Unexpected Pass):/ {n += $NF} END {print n + 0}' \
    build-tests/test-summary.txt)
echo "tests: ${passed:-0} passed, ${failed} failed"
exit "$status"
