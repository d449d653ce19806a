#!/bin/sh
# Runs a test program on the oclgrind simulator, which checks every memory
# access of every kernel, data races between work-items and the OpenCL API
# calls; the test fails when the program does or when oclgrind reports
# anything. The meson test setup `oclgrind` runs tests through it:
#   meson test -C build --setup oclgrind test_ops
# (--uninitialized is left out: in oclgrind 21.10 it stops on LLVM's freeze
# instruction, which changes kernels' results, and flags values that are
# correct, as test_gemm's beta = 0 test and the results of those kernels on
# every other implementation show.)
set -u
log=$(mktemp)
trap 'rm -f "$log"' EXIT
oclgrind --data-races --check-api --log "$log" "$@"
status=$?
if [ -s "$log" ]; then
    echo "oclgrind reported:"
    head -n 60 "$log"
    exit 1
fi
exit "$status"
