#!/bin/sh
# Builds clgrad (release) into build/ and runs the example on the default
# device. Until the training loop lands, that is the device listing.
set -eu
cd "$(dirname "$0")/.."
if [ -d build/meson-private ]; then
    meson setup --reconfigure build --buildtype=release >/dev/null
else
    meson setup build --buildtype=release >/dev/null
fi
meson compile -C build
build/tools/clgrad-devices
