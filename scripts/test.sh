#!/bin/bash
# Builds clgrad and runs the whole test suite on every OpenCL implementation
# installed (scripts/opencl.sh install), each pass ending with one line
# "tests on NAME: N passed, M failed":
#   pocl       the suite, built as by default (build-tests)
#   sanitized  the suite again on PoCL, built with AddressSanitizer (leaks
#              included) and UBSan, stopping at the first report
#              (build-sanitize; CLGRAD_SANITIZE=0 skips it)
#   intel      the suite on Intel's CPU runtime
#   rusticl    the suite on Mesa's Rusticl (llvmpipe), but the tools suite
#   oclgrind   the kernel-level tests on the oclgrind simulator, failing on
#              any out-of-bounds access, data race or API misuse
#   python     the Python package: pip install . into .venv-py (made by
#              scripts/setup-debian.sh --tests), then its pytest suite on PoCL
# Implementations not installed are named as skipped. Arguments go to every
# `meson test` (a suite or test names). Exit status 0 only when all passed.
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

# pass DIR NAME [meson test arguments...]: runs, prints the pass's line.
pass() {
    local dir=$1 name=$2 status=0
    shift 2
    meson test -C "$dir" --print-errorlogs "$@" | tee "$dir/test-summary-$name.txt" ||
        status=$?
    local passed failed
    passed=$(awk '/^Ok:/ {print $2}' "$dir/test-summary-$name.txt")
    failed=$(awk '/^(Fail|Timeout|Unexpected Pass):/ {n += $NF} END {print n + 0}' \
        "$dir/test-summary-$name.txt")
    summary+=("tests on $name: ${passed:-0} passed, ${failed} failed")
    echo "${summary[-1]}"
    return "$status"
}

summary=()
status=0
present=$(sh scripts/opencl.sh list)
# transformers for hf_gpt2_check (scripts/setup-debian.sh --tests); without
# it that test is skipped
hf=()
if [ -x .venv-hf/bin/python ]; then
    hf=(-Dtransformers_python="$PWD/.venv-hf/bin/python")
fi
configure build-tests "${hf[@]}"
meson compile -C build-tests
pass build-tests pocl --setup pocl "$@" || status=$?
if [ "${CLGRAD_SANITIZE:-1}" != 0 ]; then
    # Without MPI: Open MPI's own allocations at exit would read as leaks;
    # the data parallel code runs here through threads (test_dist).
    configure build-sanitize -Db_sanitize=address,undefined -Db_lundef=false \
        --buildtype=debug -Dmpi=disabled "${hf[@]}"
    meson compile -C build-sanitize
    # On PoCL alone: other drivers leak memory of their own at exit.
    # intercept_tls_get_addr=0: GCC 12's leak checker records a bogus
    # dynamic-TLS range for one of PoCL's libraries in about one process in
    # forty and dies scanning it ("Tracer caught signal 11"); without the
    # interception 300 runs of that process passed. Dynamic TLS goes unscanned.
    # use_sigaltstack=0: LLVM (PoCL's compiler) gives a thread that compiles
    # kernels an alternate signal stack of its own, from malloc; when such a
    # thread ends (the data parallel ranks), ASan unmaps it as if it were its
    # own and aborts ("unable to unmap"). ASan's own stack overflow reports
    # are what this gives up.
    ASAN_OPTIONS=detect_leaks=1:intercept_tls_get_addr=0:use_sigaltstack=0 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
        pass build-sanitize sanitized --setup pocl --timeout-multiplier 4 "$@" ||
        status=$?
fi
for impl in intel rusticl; do
    # On Rusticl (llvmpipe) every process and context compiles the kernels
    # for seconds: the tools suite (the CLI driven through dozens of
    # processes, the benchmarks) took 220 s there and adds no kernel the
    # other suites do not run; it runs on PoCL, sanitized, and Intel's.
    skip=()
    if [ "$impl" = rusticl ] && [ $# -eq 0 ]; then
        skip=(--no-suite tools)
    fi
    if echo "$present" | grep -qx "$impl"; then
        pass build-tests "$impl" --setup "$impl" "${skip[@]}" "$@" || status=$?
    else
        summary+=("tests on $impl: skipped (not installed: scripts/opencl.sh install)")
    fi
done
if echo "$present" | grep -qx oclgrind; then
    # Every kernel family runs in these; the tools and the differential test
    # add nothing but hours on a simulator.
    kernel_tests="test_buffer test_program test_gemm test_ops test_torch test_graph
        test_graph_long test_plan test_nn"
    if [ $# -eq 0 ]; then
        # shellcheck disable=SC2086
        pass build-tests oclgrind --setup oclgrind $kernel_tests || status=$?
    fi
else
    summary+=("tests on oclgrind: skipped (not installed: scripts/opencl.sh install)")
fi
# The Python package as a user installs it (pip install .), built in
# build-python, and its tests against build-tests' clgrad-train.
if [ $# -eq 0 ] && [ -x .venv-py/bin/python ]; then
    log=build-tests/python-tests.txt
    if .venv-py/bin/pip install -q --disable-pip-version-check --no-build-isolation \
        --no-deps --force-reinstall --config-settings=builddir=build-python . >"$log" 2>&1; then
        # shellcheck disable=SC2046
        env $(sh scripts/opencl.sh env pocl) \
            CLGRAD_TRAIN_BIN="$PWD/build-tests/tools/clgrad-train" \
            .venv-py/bin/python -m pytest -q -p no:cacheprovider tests/python 2>&1 |
            tee -a "$log" || status=1
    else
        cat "$log"
        status=1
    fi
    # (grep finds nothing when all passed: not an error here)
    passed=$({ grep -oE '[0-9]+ passed' "$log" || true; } | tail -n 1 | cut -d' ' -f1)
    failed=$({ grep -oE '[0-9]+ (failed|error)' "$log" || true; } |
        awk '{n += $1} END {print n + 0}')
    [ -n "$passed" ] || failed=$((failed + 1))
    summary+=("tests on python: ${passed:-0} passed, ${failed} failed")
elif [ $# -eq 0 ]; then
    summary+=("tests on python: skipped (no .venv-py: scripts/setup-debian.sh --tests)")
fi
echo
printf '%s\n' "${summary[@]}"
exit "$status"
