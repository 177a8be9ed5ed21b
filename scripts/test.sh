#!/bin/sh
# The test command (README): install what is missing, build with ASan and
# UBSan, run every test suite (unit, integration, slow), then fuzz the
# XML parser for a bounded time. Ends with "N passed, N failed".
set -eu
cd "$(dirname "$0")/.."
SRC=$(pwd)
BUILD=${VB_TEST_BUILDDIR:-$SRC/build-test}
FUZZ_SECONDS=${VB_FUZZ_SECONDS:-60}

./scripts/install-deps.sh

if [ ! -f "$BUILD/build.ninja" ]; then
    meson setup "$BUILD" -Db_sanitize=address,undefined -Db_lundef=false
fi
ninja -C "$BUILD"

# GLib keeps type-system allocations for the life of a process: leak
# reports would be noise. UBSan findings are fatal.
export ASAN_OPTIONS=detect_leaks=0:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

status=0
meson test -C "$BUILD" --print-errorlogs --num-processes 2 || status=$?

fuzz_status=0
if [ "$FUZZ_SECONDS" -gt 0 ] && [ -x fuzz/run-fuzz.sh ]; then
    ./fuzz/run-fuzz.sh "$SRC/build-fuzz" "$FUZZ_SECONDS" || fuzz_status=$?
fi

/usr/bin/python3 - "$BUILD/meson-logs/testlog.json" "$fuzz_status" "$FUZZ_SECONDS" <<'PY'
import json, sys
passed = failed = skipped = 0
for line in open(sys.argv[1]):
    r = json.loads(line)["result"]
    if r in ("OK", "EXPECTEDFAIL"):
        passed += 1
    elif r == "SKIP":
        skipped += 1
    else:
        failed += 1
if int(sys.argv[3]) > 0:
    if int(sys.argv[2]) == 0:
        passed += 1
    else:
        failed += 1
print(f"{passed} passed, {failed} failed, {skipped} skipped")
PY
[ "$status" -eq 0 ] && [ "$fuzz_status" -eq 0 ]
