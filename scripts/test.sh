#!/bin/sh
# The test command (README): install what is missing, build with ASan and
# UBSan, run every test suite (unit, guest, integration, style), then fuzz
# the XML and QMP parsers for a bounded time, then (unless VB_SLOW=0) the
# slow suite, scripts/test-slow.sh (docs/reliability.md). Counts test cases (every test
# program reports TAP) and compares what ran with tests/expected-tests.txt.
# Ends with "N passed, N failed, N skipped"; exits non-zero when anything
# failed or was skipped, or an expected test program did not run.
set -eu
cd "$(dirname "$0")/.."
SRC=$(pwd)
BUILD=${VB_TEST_BUILDDIR:-$SRC/build-test}
FUZZ_SECONDS=${VB_FUZZ_SECONDS:-60}
EXPECTED=$SRC/tests/expected-tests.txt

./scripts/install-deps.sh

# build_ok: the build directory has the options the test run needs
build_ok() {
    meson introspect "$BUILD" --buildoptions | /usr/bin/python3 -c '
import json, sys
opts = {o["name"]: o["value"] for o in json.load(sys.stdin)}
san = opts.get("b_sanitize")
san = set(san.split(",") if isinstance(san, str) else san or [])
bad = []
if san != {"address", "undefined"}:
    bad.append("b_sanitize=%s" % opts.get("b_sanitize"))
if opts.get("b_lundef") is not False:
    bad.append("b_lundef=%s" % opts.get("b_lundef"))
if opts.get("tests") is not True:
    bad.append("tests=%s" % opts.get("tests"))
if bad:
    print("build directory options: " + ", ".join(bad), file=sys.stderr)
    sys.exit(1)
'
}

# qemu_found: the guest test got the QEMU that configure found
qemu_found() {
    meson introspect "$BUILD" --tests | /usr/bin/python3 -c '
import json, sys
tests = [t for t in json.load(sys.stdin) if t["name"] == "tiny-guest"]
sys.exit(0 if tests and "QEMU" in tests[0]["env"] else 1)
'
}

if [ ! -f "$BUILD/build.ninja" ]; then
    meson setup "$BUILD" -Db_sanitize=address,undefined -Db_lundef=false
elif ! build_ok; then
    echo "reconfiguring $BUILD with the sanitizers"
    meson configure "$BUILD" -Db_sanitize=address,undefined -Db_lundef=false -Dtests=true
    build_ok || { echo "error: cannot configure $BUILD for the tests" >&2; exit 1; }
fi
if ! qemu_found; then
    # QEMU may have been installed since the directory was configured
    meson setup --reconfigure "$BUILD" >/dev/null
    if ! qemu_found; then
        echo "error: qemu-system-x86_64 was not found at configure time" \
             "(see $BUILD/meson-logs/meson-log.txt): the guest and integration" \
             "suites need it" >&2
        exit 1
    fi
fi
ninja -C "$BUILD"

# GLib keeps type-system allocations for the life of a process: leak
# reports of the daemon and the test programs would be noise (the fuzz run
# sets its own options, with leak detection). UBSan findings are fatal.
export ASAN_OPTIONS=detect_leaks=0:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
# a skipped integration test is a failure (tests/integration/vbtest.py)
export VB_REQUIRE_ALL=1

logs=$BUILD/meson-logs
rm -f "$logs/testlog.json" "$logs/testlog.junit.xml" "$logs/testlog.txt"
status=0
# the slow suites run after the fuzzers (scripts/test-slow.sh)
meson test -C "$BUILD" --print-errorlogs --num-processes 2 --no-suite slow \
    --no-suite slow-alone || status=$?

fuzz_results=$BUILD/fuzz-results.txt
rm -f "$fuzz_results"
fuzz_status=0
if [ "$FUZZ_SECONDS" -gt 0 ]; then
    ./fuzz/run-fuzz.sh "$SRC/build-fuzz" "$FUZZ_SECONDS" "$fuzz_results" || fuzz_status=$?
fi

# the slow suite: its logs (and the slow fuzz results, when that ran) are counted, and
# the slow lines of $EXPECTED required, only when it ran
slow_status=0
set --
if [ "${VB_SLOW:-1}" != 0 ]; then
    ./scripts/test-slow.sh "$BUILD" || slow_status=$?
    set -- --slow "$logs/slowlog" --slow "$logs/slowalonelog"
    if [ -f "$BUILD/fuzz-slow-results.txt" ]; then
        set -- "$@" --slow-fuzz "$BUILD/fuzz-slow-results.txt"
    fi
else
    echo "slow suite skipped: VB_SLOW=0"
fi

summary_status=0
/usr/bin/python3 scripts/test-summary.py "$EXPECTED" "$logs" "$fuzz_results" \
    "$FUZZ_SECONDS" "$@" || summary_status=$?
[ "$status" -eq 0 ] && [ "$fuzz_status" -eq 0 ] && [ "$slow_status" -eq 0 ] \
    && [ "$summary_status" -eq 0 ]
