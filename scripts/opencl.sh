#!/bin/sh
# The OpenCL implementations clgrad is tested on, installed side by side and
# selected one at a time through the ICD loader (OCL_ICD_VENDORS), without
# changing the system's list:
#   pocl      PoCL (Debian pocl-opencl-icd): CPUs, the default
#   intel     Intel's CPU runtime (PyPI intel-opencl-rt and intel-cmplr-lib-rt,
#             in the git-ignored .opencl/intel): the fastest CPU device here
#   rusticl   Mesa's Rusticl on llvmpipe (Debian mesa-opencl-icd): OpenCL C
#             1.2, no fp64, 32 KiB of local memory, as a GPU driver stack
#   oclgrind  the oclgrind simulator (Debian oclgrind), which checks every
#             memory access, data races and API use: the meson test setup
#             oclgrind, through tests/oclgrind_wrap.sh
#
#   scripts/opencl.sh install     installs them all (as root; safe to repeat)
#   scripts/opencl.sh list        names the implementations present, one a line
#   scripts/opencl.sh env NAME    prints NAME's environment, VAR=value lines
#
# The meson test setups of the same names (`meson test -C build --setup
# intel`) use the same environment.
set -eu
cd "$(dirname "$0")/.."
root=$(pwd)
intel="$root/.opencl/intel"

install_all() {
    sh scripts/apt-install.sh opencl pocl-opencl-icd mesa-opencl-icd oclgrind python3-venv
    if [ ! -f "$intel/vendors/intel.icd" ]; then
        echo "opencl: installing Intel's CPU runtime from PyPI into .opencl/intel"
        /usr/bin/python3 -m venv "$intel/venv"
        "$intel/venv/bin/pip" install -q --disable-pip-version-check \
            intel-opencl-rt intel-cmplr-lib-rt
        lib=$(find "$intel/venv" -name 'libintelocl.so' | head -n 1)
        [ -n "$lib" ] || { echo "opencl: libintelocl.so not found in $intel/venv"; exit 1; }
        mkdir -p "$intel/vendors"
        echo "$lib" >"$intel/vendors/intel.icd"
    fi
    echo "opencl: $(list | tr '\n' ' ')"
}

list() {
    [ -f /etc/OpenCL/vendors/pocl.icd ] && echo pocl
    [ -f "$intel/vendors/intel.icd" ] && echo intel
    [ -f /etc/OpenCL/vendors/rusticl.icd ] && echo rusticl
    command -v oclgrind >/dev/null && echo oclgrind
    return 0
}

environment() {
    case $1 in
    pocl) echo "OCL_ICD_VENDORS=/etc/OpenCL/vendors/pocl.icd" ;;
    intel) echo "OCL_ICD_VENDORS=$intel/vendors" ;;
    rusticl)
        echo "OCL_ICD_VENDORS=/etc/OpenCL/vendors/rusticl.icd"
        echo "RUSTICL_ENABLE=llvmpipe"
        ;;
    oclgrind)
        echo "opencl: oclgrind is not an ICD here: run programs as 'oclgrind PROGRAM'" >&2
        exit 2
        ;;
    *)
        echo "opencl: unknown implementation '$1' (pocl, intel, rusticl, oclgrind)" >&2
        exit 2
        ;;
    esac
}

case ${1:-} in
install) install_all ;;
list) list ;;
env) environment "${2:?usage: scripts/opencl.sh env NAME}" ;;
*)
    echo "usage: scripts/opencl.sh install | list | env NAME" >&2
    exit 2
    ;;
esac
