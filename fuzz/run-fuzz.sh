#!/bin/sh
# Usage: fuzz/run-fuzz.sh BUILDDIR SECONDS [RESULTS]
# Configures BUILDDIR (a clang build with -Dfuzzing=true) if needed, builds the fuzzers
# (domain XML, QMP stream, migration cookie, network XML) and runs them for SECONDS in all (split
# between them), each on a copy of its corpus in fuzz/corpus/ (the repository corpus is
# never modified). Each fuzzer runs even when the one before failed. Exits non-zero when a
# fuzzer finds a crash, a leak, a sanitizer report, a GLib warning or critical
# (fuzz/fuzz-log.h) or a mismatch; the reproducer is left in the printed artifacts directory. Before fuzzing, each fuzzer must fail
# on a planted GLib critical, library warning and leak (VB_FUZZ_SELFTEST, fuzz/fuzz-log.h).
# With RESULTS, appends one line per fuzzer to that file: "NAME ok|fail EXIT-STATUS"
# (scripts/test.sh counts them).
#
# The sanitizer options are the fuzz run's own, whatever the caller exported (the test
# suite turns leak detection off for the daemon): leaks are findings here.
set -eu

builddir=${1:?usage: $0 BUILDDIR SECONDS [RESULTS]}
seconds=${2:?usage: $0 BUILDDIR SECONDS [RESULTS]}
results=${3:-}
srcdir=$(cd "$(dirname "$0")/.." && pwd)

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:detect_stack_use_after_return=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export LSAN_OPTIONS=print_suppressions=0
# GLib's slice allocator keeps freed blocks for reuse: it would hide leaks from LSan
export G_SLICE=always-malloc
unset G_DEBUG

if [ ! -f "$builddir/build.ninja" ]; then
    CC=clang meson setup "$builddir" "$srcdir" -Dfuzzing=true -Dtests=false -Db_lundef=false
elif ! meson introspect "$builddir" --buildoptions | grep -q '"name": "fuzzing", "value": true'; then
    meson configure "$builddir" -Dfuzzing=true -Db_lundef=false
fi
ninja -C "$builddir" fuzz/fuzz-domain-xml fuzz/fuzz-qmp fuzz/fuzz-migration-cookie \
    fuzz/fuzz-network-xml

work=$(mktemp -d "${TMPDIR:-/tmp}/vb-fuzz.XXXXXX")
echo "corpus copies and artifacts in $work"

failed=0
# selftest NAME: the fuzzer must fail on each defect fuzz-log.h plants, or
# the run would miss real ones (e.g. with leak detection turned off)
selftest() {
    printf '{}\n' >"$work/selftest-input"
    for what in critical warning leak; do
        if VB_FUZZ_SELFTEST=$what "$builddir/fuzz/$1" "$work/selftest-input" \
                >"$work/selftest.log" 2>&1; then
            echo "$1: a planted $what went unnoticed:" >&2
            cat "$work/selftest.log" >&2
            failed=1
            [ -z "$results" ] || echo "$1 fail selftest-$what" >>"$results"
            return 1
        fi
    done
}

# run_fuzzer NAME CORPUS SECONDS [libFuzzer options...]
run_fuzzer() {
    name=$1 corpus=$2 secs=$3
    shift 3
    selftest "$name" || return 0
    mkdir "$work/$name" "$work/$name/corpus" "$work/$name/artifacts"
    cp "$srcdir"/fuzz/corpus/"$corpus"/* "$work/$name/corpus/"
    status=0
    "$builddir/fuzz/$name" -max_total_time="$secs" -timeout=10 -print_final_stats=1 \
        -detect_leaks=1 -artifact_prefix="$work/$name/artifacts/" "$@" \
        "$work/$name/corpus" || status=$?
    if [ "$status" -ne 0 ]; then
        echo "$name failed (exit $status); reproducers:" >&2
        ls -l "$work/$name/artifacts" >&2
        # again with full allocation stacks (GLib has no frame pointers)
        for a in "$work/$name/artifacts"/*; do
            [ -f "$a" ] || continue
            echo "---- $a with full stacks ----" >&2
            ASAN_OPTIONS=$ASAN_OPTIONS:fast_unwind_on_malloc=0 \
                "$builddir/fuzz/$name" "$a" >&2 2>&1 || true
        done
        failed=1
        [ -z "$results" ] || echo "$name fail $status" >>"$results"
    else
        [ -z "$results" ] || echo "$name ok 0" >>"$results"
    fi
}

qmp_seconds=$((seconds / 4))
[ "$qmp_seconds" -ge 1 ] || qmp_seconds=1
cookie_seconds=$((seconds / 4))
[ "$cookie_seconds" -ge 1 ] || cookie_seconds=1
network_seconds=$((seconds / 6))
[ "$network_seconds" -ge 1 ] || network_seconds=1
xml_seconds=$((seconds - qmp_seconds - cookie_seconds - network_seconds))
[ "$xml_seconds" -ge 1 ] || xml_seconds=1
run_fuzzer fuzz-domain-xml domain-xml "$xml_seconds" -max_len=16384 \
    -dict="$srcdir/fuzz/domain-xml.dict"
run_fuzzer fuzz-qmp qmp "$qmp_seconds" -max_len=65536 -dict="$srcdir/fuzz/qmp.dict"
run_fuzzer fuzz-migration-cookie migration-cookie "$cookie_seconds" -max_len=16384 \
    -dict="$srcdir/fuzz/migration-cookie.dict"
run_fuzzer fuzz-network-xml network-xml "$network_seconds" -max_len=16384 \
    -dict="$srcdir/fuzz/network-xml.dict"
if [ "$failed" -ne 0 ]; then
    exit 1
fi
rm -rf "$work"
