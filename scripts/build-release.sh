#!/bin/sh
# Configures (once; reconfigures after) and builds clgrad's release build in
# build/, for the example scripts.
set -eu
cd "$(dirname "$0")/.."
if [ -d build/meson-private ]; then
    meson setup --reconfigure build --buildtype=release >/dev/null
else
    meson setup build --buildtype=release >/dev/null
fi
meson compile -C build >/dev/null
