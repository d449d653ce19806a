#!/bin/sh
# Configures build-tests (once), builds, and runs the whole test suite.
set -eu
cd "$(dirname "$0")/.."
if [ -d build-tests/meson-private ]; then
    meson setup --reconfigure build-tests >/dev/null
else
    meson setup build-tests >/dev/null
fi
meson compile -C build-tests
meson test -C build-tests --print-errorlogs "$@"
