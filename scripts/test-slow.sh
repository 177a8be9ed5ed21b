#!/bin/sh
# Usage: scripts/test-slow.sh [BUILDDIR]
# The slow suite (docs/reliability.md), run by scripts/test.sh after the default suites
# unless VB_SLOW=0; BUILDDIR is configured and built already (test.sh does it).
#
#  1. In the background, when fuzz/run-fuzz.sh has the option --parallel (run-fuzz.sh
#     --parallel --seconds N --builddir DIR --results FILE): the libFuzzer
#     targets for VB_SLOW_FUZZ_SECONDS (default 600) each, niced, results in
#     BUILDDIR/fuzz-slow-results.txt ("NAME ok|fail STATUS", counted as suite slow-fuzz).
#  2. meson test --suite slow: tests that may run beside each other (and beside the
#     fuzzers); log base slowlog.
#  3. meson test --suite slow-alone, one at a time, after the fuzzers ended: the tests
#     that measure time or load; log base slowalonelog. The load test runs the service
#     of BUILDDIR-plain (built here, no sanitizers: VB_LOAD_VIRTBUSD), whose RSS means
#     something.
#
# Adding a slow test is one meson test() entry with suite: 'slow' or 'slow-alone' and
# one line in tests/expected-tests.txt (suite slow or slow-alone).
# test.sh counts the logs (scripts/test-summary.py --slow, --slow-fuzz). Exits non-zero
# when a suite or the fuzz run failed.
set -eu
cd "$(dirname "$0")/.."
SRC=$(pwd)
BUILD=${1:-${VB_TEST_BUILDDIR:-$SRC/build-test}}
FUZZ_SECONDS=${VB_SLOW_FUZZ_SECONDS:-600}
logs=$BUILD/meson-logs
fuzz_results=$BUILD/fuzz-slow-results.txt

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export VB_REQUIRE_ALL=${VB_REQUIRE_ALL:-1}

rm -f "$fuzz_results" "$logs"/slowlog.* "$logs"/slowalonelog.*
start=$(date +%s)

fuzz_pid=
if [ "$FUZZ_SECONDS" -le 0 ]; then
    echo "slow fuzzing skipped: VB_SLOW_FUZZ_SECONDS=$FUZZ_SECONDS"
elif ! grep -q -e '--parallel' fuzz/run-fuzz.sh; then
    echo "slow fuzzing skipped: fuzz/run-fuzz.sh has no --parallel option"
else
    # an empty file marks the run: the expected slow-fuzz lines are required from now on
    : >"$fuzz_results"
    nice -n 10 ./fuzz/run-fuzz.sh --parallel --seconds "$FUZZ_SECONDS" \
        --builddir "$SRC/build-fuzz" --results "$fuzz_results" >"$logs/slow-fuzz.txt" 2>&1 &
    fuzz_pid=$!
    echo "slow fuzzing: $FUZZ_SECONDS s per target in the background (pid $fuzz_pid," \
         "log $logs/slow-fuzz.txt)"
fi

status=0
meson test -C "$BUILD" --print-errorlogs --num-processes 2 --suite slow \
    --logbase slowlog || status=$?

fuzz_status=0
if [ -n "$fuzz_pid" ]; then
    wait "$fuzz_pid" || fuzz_status=$?
    [ "$fuzz_status" -eq 0 ] || tail -n 40 "$logs/slow-fuzz.txt"
fi

# the load test measures the service's RSS on a build without sanitizers (ASan's
# quarantine grows by design): only the service, built beside the test build
plain=$BUILD-plain
if { [ -f "$plain/build.ninja" ] || meson setup "$plain" -Dtests=false \
        >"$logs/plain-build.txt" 2>&1; } &&
   ninja -C "$plain" service/virtbusd >>"$logs/plain-build.txt" 2>&1; then
    export VB_LOAD_VIRTBUSD="$plain/service/virtbusd"
else
    tail -n 40 "$logs/plain-build.txt"
    echo "error: cannot build the service without sanitizers in $plain" >&2
    status=1
fi

meson test -C "$BUILD" --print-errorlogs --num-processes 1 --suite slow-alone \
    --logbase slowalonelog || status=$?

echo "slow suite: $(( $(date +%s) - start )) s wall"
[ "$status" -eq 0 ] && [ "$fuzz_status" -eq 0 ]
