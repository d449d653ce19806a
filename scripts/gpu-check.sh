#!/bin/bash
# Proves clgrad on a machine with an NVIDIA GPU that has no package registry.
#
#   bash scripts/gpu-check.sh pack   here, on Debian 12 with its registry: puts
#                                    into .gpu/ (git-ignored) every Debian
#                                    package such a machine may lack: the OpenCL
#                                    ICD loader and headers, CLBlast, cJSON,
#                                    cmocka, zlib, pkg-config, clinfo, and the
#                                    Fashion-MNIST data (about 35 MiB)
#   bash scripts/gpu-check.sh run    there, in the project root (the working tree
#                                    and .gpu/ copied over): unpacks the packages
#                                    into .gpu/prefix, registers NVIDIA's OpenCL
#                                    driver wherever it is installed, builds
#                                    clgrad into build-gpu, and runs, each step
#                                    timed and its exit status kept: the device
#                                    list with --bench, the test suite,
#                                    clgrad-devices --tune (the native GEMM's
#                                    tuner and, on a GPU, CLBlast's; effort
#                                    CLGRAD_TUNE_EFFORT, 0.1) and --bench again,
#                                    clgrad-bench train against the PyTorch
#                                    found there on CUDA, clgrad-bench ops, and
#                                    two epochs of the example CNN. One report,
#                                    .gpu/report.txt ($OUT/gpu-report.txt when
#                                    $OUT is set).
#
# Without an NVIDIA driver, `run` uses the OpenCL platforms the machine has
# (PoCL here), so the whole path can be tried before the GPU is at hand.
# `run` needs a C compiler and python3 there; meson and ninja may come from
# pip (python3 -m mesonbuild.mesonmain, python3 -m ninja).
set -u
cd "$(dirname "$0")/.." || exit 1
root=$PWD
gpu=$root/.gpu

packages="ocl-icd-libopencl1 ocl-icd-opencl-dev opencl-c-headers opencl-clhpp-headers
  libclblast1 libclblast-dev libcmocka0 libcmocka-dev libcjson1 libcjson-dev
  zlib1g zlib1g-dev pkgconf pkgconf-bin libpkgconf3 clinfo dataset-fashion-mnist"

pack() {
    set -e
    mkdir -p "$gpu/debs"
    grep -qx '/.gpu/' .gitignore 2>/dev/null ||
        grep -qx '/.gpu/' .git/info/exclude 2>/dev/null ||
        echo '/.gpu/' >>.git/info/exclude
    apt-get update -qq >/dev/null 2>&1 || true
    rm -f "$gpu"/debs/*.deb
    # shellcheck disable=SC2086
    (cd "$gpu/debs" && apt-get download -qq $packages)
    echo "gpu-check pack: $(ls "$gpu/debs" | wc -l) packages, $(du -sh "$gpu" | cut -f1) in .gpu/"
    echo "on the GPU machine, in the project root: bash scripts/gpu-check.sh run"
}

# ---- run ------------------------------------------------------------------

# The report goes straight into $OUT where that is set, so that a run cut
# off by a time limit still returns what it had done.
report=${OUT:+$OUT/gpu-report.txt}
report=${report:-$gpu/report.txt}
say() { echo "$*" | tee -a "$report"; }

# step NAME SECONDS COMMAND...: runs it with a time limit, its output into
# the report, and notes its exit status and wall time.
failed=0
step() {
    local name=$1 limit=$2
    shift 2
    say ""
    say "==== $name"
    say "\$ $*"
    local start=$SECONDS
    timeout "$limit" "$@" 2>&1 | tee -a "$report"
    local rc=${PIPESTATUS[0]}
    say "---- $name: exit $rc, $((SECONDS - start)) s"
    [ "$rc" = 0 ] || failed=$((failed + 1))
    return 0
}

unpack() {
    local prefix=$1
    mkdir -p "$prefix"
    for deb in "$gpu"/debs/*.deb; do
        if command -v dpkg-deb >/dev/null; then
            dpkg-deb -x "$deb" "$prefix"
        else # no dpkg: a .deb is an ar archive holding data.tar.*
            (cd "$prefix" && ar p "$deb" "$(ar t "$deb" | grep '^data.tar')" | tar -x -f - -a 2>/dev/null ||
                ar p "$deb" "$(ar t "$deb" | grep '^data.tar')" | tar -xJf -)
        fi
    done
    # Links to absolute paths (zlib1g-dev's libz.so -> /lib/...) would leave
    # the prefix, where the target may not exist: point them into it.
    local link target
    find "$prefix" -type l | while read -r link; do
        target=$(readlink "$link")
        case "$target" in /*) ln -sfn "$prefix$target" "$link" ;; esac
    done
    # The .pc files say prefix=/usr: point them at the private prefix.
    sed -i "s|^prefix=/usr\$|prefix=$prefix/usr|" \
        "$prefix"/usr/lib/x86_64-linux-gnu/pkgconfig/*.pc "$prefix"/usr/share/pkgconfig/*.pc 2>/dev/null
}

# NVIDIA's OpenCL driver, wherever the driver put it.
nvidia_opencl() {
    local d
    for d in /usr/lib/x86_64-linux-gnu /usr/local/nvidia/lib64 /usr/local/nvidia/lib \
        /usr/lib64 /usr/lib /usr/local/cuda/lib64; do
        [ -e "$d/libnvidia-opencl.so.1" ] && { echo "$d/libnvidia-opencl.so.1"; return; }
    done
    find / \( -path /proc -o -path /sys -o -path "$root" \) -prune -o \
        -name 'libnvidia-opencl.so*' -print 2>/dev/null | sort | head -n 1
}

run() {
    mkdir -p "$gpu"
    : >"$report"
    [ -n "$(ls "$gpu"/debs/*.deb 2>/dev/null)" ] ||
        { say "gpu-check run: no packages in .gpu/debs: run 'scripts/gpu-check.sh pack' first"; exit 2; }
    local prefix=$gpu/prefix
    rm -rf "$prefix"
    unpack "$prefix"
    local libs="$prefix/usr/lib/x86_64-linux-gnu:$prefix/lib/x86_64-linux-gnu"
    export LD_LIBRARY_PATH="$libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    export PKG_CONFIG_PATH="$prefix/usr/lib/x86_64-linux-gnu/pkgconfig:$prefix/usr/share/pkgconfig"
    export CPATH="$prefix/usr/include" LIBRARY_PATH="$libs"
    export PATH="$PATH:$prefix/usr/bin"
    mkdir -p "$gpu/bin"
    if ! command -v ninja >/dev/null; then
        printf '#!/bin/sh\nexec python3 -m ninja "$@"\n' >"$gpu/bin/ninja"
        chmod +x "$gpu/bin/ninja"
        export PATH="$PATH:$gpu/bin"
    fi
    local meson="meson"
    command -v meson >/dev/null || meson="python3 -m mesonbuild.mesonmain"

    say "clgrad gpu-check, $(date -u '+%Y-%m-%d %H:%M UTC'), commit ${CLGRAD_COMMIT:-$(git rev-parse --short HEAD 2>/dev/null || echo "?")}"
    say "host: $(uname -srm); $(nproc) cores; $(python3 --version 2>&1)"
    if command -v nvidia-smi >/dev/null; then
        say "GPU: $(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1)"
    fi
    local lib
    lib=$(nvidia_opencl)
    local device=""
    if [ -n "$lib" ]; then
        mkdir -p "$prefix/vendors"
        echo "$lib" >"$prefix/vendors/nvidia.icd"
        export OCL_ICD_VENDORS="$prefix/vendors"
        export CLGRAD_DEVICE=gpu
        device=gpu
        say "NVIDIA OpenCL driver: $lib (the only platform registered)"
    else
        say "no libnvidia-opencl here: the machine's own OpenCL platforms, default device"
    fi
    local torch_device=cpu
    if python3 -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
        torch_device=cuda
        say "PyTorch: $(python3 -c 'import torch; print(torch.__version__, torch.cuda.get_device_name(0))' 2>&1)"
    fi

    step "configure and build" 180 sh -c "$meson setup --wipe build-gpu . -Dtorch_python=$(command -v python3) >$gpu/setup.log 2>&1 || $meson setup build-gpu . -Dtorch_python=$(command -v python3) >$gpu/setup.log 2>&1 || { tail -n 30 $gpu/setup.log; exit 1; }; ninja -C build-gpu >$gpu/build.log 2>&1 || { tail -n 40 $gpu/build.log; exit 1; }; echo built"
    if [ ! -x build-gpu/tools/clgrad-devices ]; then
        say "gpu-check: the build failed; see above"
        [ -n "${OUT:-}" ] && cp "$gpu"/*.log "$OUT/" 2>/dev/null
        exit 1
    fi
    local tools=build-gpu/tools
    step "devices" 60 "$tools/clgrad-devices" --bench
    step "test suite" 240 $meson test -C build-gpu --print-errorlogs --num-processes 4
    # The native kernels' tuner, and CLBlast's (the GPU's GEMM path), cached
    # for the steps after it; then the same measurement as above.
    step "tuning" 200 "$tools/clgrad-devices" --tune --tune-effort "${CLGRAD_TUNE_EFFORT:-0.1}" \
        ${device:+--device $device}
    step "devices, tuned" 60 "$tools/clgrad-devices" --bench ${device:+--device $device}
    step "training benchmark" 90 "$tools/clgrad-bench" train --python "$(command -v python3)" --torch-device "$torch_device"
    step "op benchmark" 90 "$tools/clgrad-bench" ops --python "$(command -v python3)"
    local data=$prefix/usr/share/datasets/fashion-mnist
    step "example CNN, 2 epochs" 150 "$tools/clgrad-train" examples/fashion_cnn.spec \
        --data "$data" --epochs 2 --augment flip,crop ${device:+--device $device}
    say ""
    say "gpu-check: $failed step(s) failed"
    if [ -n "${OUT:-}" ] && [ -d "${OUT:-}" ]; then
        cp build-gpu/meson-logs/testlog.txt "$OUT/gpu-testlog.txt" 2>/dev/null
        cp "$gpu/setup.log" "$gpu/build.log" "$OUT/" 2>/dev/null
    fi
    [ "$failed" = 0 ]
}

case "${1:-}" in
pack) pack ;;
run) run ;;
*)
    echo "usage: bash scripts/gpu-check.sh pack|run (see the top of the script)" >&2
    exit 2
    ;;
esac
