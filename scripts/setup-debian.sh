#!/bin/sh
# Installs everything clgrad needs to build and train on Debian 12, and with
# --tests what its test suite needs besides (python3-torch, PyTorch 1.13 for
# /usr/bin/python3, is the reference of the differential test).
# Run as root (or through sudo). Safe to run again: apt-get skips what is there.
#   usage: scripts/setup-debian.sh [--tests]
# --tests also installs every OpenCL implementation the suite runs on
# (scripts/opencl.sh install: Intel's CPU runtime, Rusticl, oclgrind) and
# Open MPI, whose data parallel tests run 2 ranks under mpirun.
set -eu
case ${1:-} in
"" | --tests) ;;
*)
    echo "usage: scripts/setup-debian.sh [--tests]" >&2
    exit 2
    ;;
esac
packages="
  build-essential meson ninja-build pkg-config python3
  ocl-icd-opencl-dev opencl-c-headers ocl-icd-libopencl1 pocl-opencl-icd clinfo
  libclblast-dev zlib1g-dev libcjson-dev libpcre2-dev libpng-dev libjpeg62-turbo-dev
  libcmocka-dev
  dataset-fashion-mnist fortunes
"
# shellcheck disable=SC2086
sh "$(dirname "$0")/apt-install.sh" setup-debian $packages
echo "setup-debian: all packages present"
if [ "${1:-}" = --tests ]; then
    sh "$(dirname "$0")/apt-install.sh" setup-debian openmpi-bin libopenmpi-dev python3-venv \
        python3-torch python3-dev
    sh "$(dirname "$0")/opencl.sh" install
    # transformers over Debian's torch, for the hf_gpt2_check test (a GPT-2
    # directory clgrad saves, loaded by GPT2LMHeadModel): a few MB from PyPI
    # into the git-ignored .venv-hf, not PyTorch's wheels.
    venv="$(dirname "$0")/../.venv-hf"
    if [ ! -x "$venv/bin/python" ] ||
        ! "$venv/bin/python" -c 'import transformers' 2>/dev/null; then
        /usr/bin/python3 -m venv --system-site-packages "$venv"
        "$venv/bin/pip" install -q --disable-pip-version-check \
            transformers==4.40.2 tokenizers==0.19.1
    fi
    # The Python package's build backend and test runner, over Debian's numpy
    # and torch, in the git-ignored .venv-py (scripts/test.sh installs
    # clgrad into it with pip install . and runs tests/python).
    venv="$(dirname "$0")/../.venv-py"
    if [ ! -x "$venv/bin/python" ] ||
        ! "$venv/bin/python" -c 'import mesonpy, pytest' 2>/dev/null; then
        /usr/bin/python3 -m venv --system-site-packages "$venv"
        "$venv/bin/pip" install -q --disable-pip-version-check \
            meson-python==0.22.1 pytest==9.2.0
    fi
fi
