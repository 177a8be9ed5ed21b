#!/bin/sh
# Usage: fuzz/run-fuzz.sh BUILDDIR SECONDS [RESULTS]
#        fuzz/run-fuzz.sh --parallel --seconds SECONDS [--results RESULTS] [--builddir BUILDDIR]
# Configures BUILDDIR (a clang build with -Dfuzzing=true; default build-fuzz in the source
# tree) if needed, builds the fuzzers (domain XML, QMP stream, migration cookie, network XML,
# status file, save image header, snapshot XML) and runs each on a copy of its corpus in fuzz/corpus/ (the
# repository corpus is never modified). The first form (the test command's bounded run)
# runs them one after the other for SECONDS in all, split between them; --parallel runs
# them all at once (niced), each for SECONDS (the slow suite: scripts/test-slow.sh). Each
# fuzzer runs even when another failed. Exits non-zero when a fuzzer finds a crash, a
# leak, a sanitizer report, a GLib warning or critical (fuzz/fuzz-log.h) or a mismatch; the
# reproducer is left in the printed artifacts directory (keep it in fuzz/corpus/NAME with
# the fix). Before fuzzing, each fuzzer must fail on a planted GLib critical, library
# warning and leak (VB_FUZZ_SELFTEST, fuzz/fuzz-log.h).
# With RESULTS, appends one line per fuzzer to that file: "NAME ok|fail EXIT-STATUS"
# (scripts/test.sh counts them), in a fixed order.
#
# The sanitizer options are the fuzz run's own, whatever the caller exported (the test
# suite turns leak detection off for the daemon): leaks are findings here.
set -eu

parallel=0
builddir= seconds= results=
if [ "${1:-}" = "--parallel" ] || [ "${1:-}" = "--seconds" ] || [ "${1:-}" = "--results" ] ||
        [ "${1:-}" = "--builddir" ]; then
    while [ $# -gt 0 ]; do
        case $1 in
        --parallel) parallel=1 ;;
        --seconds) seconds=${2:?--seconds needs a value}; shift ;;
        --results) results=${2:?--results needs a file}; shift ;;
        --builddir) builddir=${2:?--builddir needs a directory}; shift ;;
        *) echo "run-fuzz.sh: unknown option $1" >&2; exit 2 ;;
        esac
        shift
    done
    [ -n "$seconds" ] || { echo "run-fuzz.sh: --seconds is required" >&2; exit 2; }
else
    builddir=${1:?usage: $0 BUILDDIR SECONDS [RESULTS] | --parallel --seconds N [--results F]}
    seconds=${2:?usage: $0 BUILDDIR SECONDS [RESULTS]}
    results=${3:-}
fi
srcdir=$(cd "$(dirname "$0")/.." && pwd)
[ -n "$builddir" ] || builddir=$srcdir/build-fuzz

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
    fuzz/fuzz-network-xml fuzz/fuzz-status-xml fuzz/fuzz-save-image fuzz/fuzz-snapshot-xml

work=$(mktemp -d "${TMPDIR:-/tmp}/vb-fuzz.XXXXXX")
echo "corpus copies and artifacts in $work"

# selftest NAME: the fuzzer must fail on each defect fuzz-log.h plants, or
# the run would miss real ones (e.g. with leak detection turned off)
selftest() {
    printf '{}\n' >"$work/$1.selftest-input"
    for what in critical warning leak; do
        if VB_FUZZ_SELFTEST=$what "$builddir/fuzz/$1" "$work/$1.selftest-input" \
                >"$work/$1.selftest.log" 2>&1; then
            echo "$1: a planted $what went unnoticed:" >&2
            cat "$work/$1.selftest.log" >&2
            echo "$1 fail selftest-$what" >"$work/$1.result"
            return 1
        fi
    done
}

# run_fuzzer NAME CORPUS SECONDS [libFuzzer options...]: writes $work/NAME.result (the
# results line) and returns non-zero when the fuzzer failed
run_fuzzer() {
    name=$1 corpus=$2 secs=$3
    shift 3
    selftest "$name" || return 1
    mkdir "$work/$name" "$work/$name/corpus" "$work/$name/artifacts"
    cp "$srcdir"/fuzz/corpus/"$corpus"/* "$work/$name/corpus/"
    status=0
    "$builddir/fuzz/$name" -max_total_time="$secs" -timeout=10 -print_final_stats=1 \
        -detect_leaks=1 -artifact_prefix="$work/$name/artifacts/" "$@" \
        "$work/$name/corpus" </dev/null || status=$?
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
        echo "$name fail $status" >"$work/$name.result"
        return 1
    fi
    echo "$name ok 0" >"$work/$name.result"
}

# NAME CORPUS SHARE-OF-THE-SERIAL-RUN (in 1/90ths; domain-xml takes the rest) OPTIONS
targets='fuzz-qmp qmp 15 -max_len=65536 -dict=@/fuzz/qmp.dict
fuzz-migration-cookie migration-cookie 12 -max_len=16384 -dict=@/fuzz/migration-cookie.dict
fuzz-network-xml network-xml 12 -max_len=16384 -dict=@/fuzz/network-xml.dict
fuzz-status-xml status-xml 10 -max_len=65536 -dict=@/fuzz/status-xml.dict
fuzz-save-image save-image 10 -max_len=32768 -dict=@/fuzz/domain-xml.dict
fuzz-snapshot-xml snapshot-xml 8 -max_len=32768 -dict=@/fuzz/snapshot-xml.dict'
names="fuzz-domain-xml $(echo "$targets" | cut -d' ' -f1 | tr '\n' ' ')"

failed=0
if [ "$parallel" -eq 1 ]; then
    # every fuzzer for the whole time, at once, niced (the machine stays usable)
    # this shell first: every fuzzer it starts inherits the nice value
    renice -n 10 -p $$ >/dev/null 2>&1 || true
    pids=
    (run_fuzzer fuzz-domain-xml domain-xml "$seconds" -max_len=16384 \
        -dict="$srcdir/fuzz/domain-xml.dict" >"$work/fuzz-domain-xml.log" 2>&1) &
    pids="$pids $!"
    echo "$targets" >"$work/targets"
    while read -r name corpus share opts; do
        opts=$(echo "$opts" | sed "s|@/|$srcdir/|g")
        # shellcheck disable=SC2086 # the options are words
        (run_fuzzer "$name" "$corpus" "$seconds" $opts >"$work/$name.log" 2>&1) &
        pids="$pids $!"
    done <"$work/targets"
    for pid in $pids; do
        wait "$pid" || failed=1
    done
    for name in $names; do
        if ! grep -q " ok " "$work/$name.result" 2>/dev/null; then
            echo "==== $name ====" >&2
            tail -n 200 "$work/$name.log" >&2
        fi
    done
else
    used=0
    echo "$targets" >"$work/targets"
    while read -r name corpus share opts; do
        secs=$((seconds * share / 90))
        [ "$secs" -ge 1 ] || secs=1
        used=$((used + secs))
        opts=$(echo "$opts" | sed "s|@/|$srcdir/|g")
        # shellcheck disable=SC2086 # the options are words
        run_fuzzer "$name" "$corpus" "$secs" $opts || failed=1
    done <"$work/targets"
    xml_seconds=$((seconds - used))
    [ "$xml_seconds" -ge 1 ] || xml_seconds=1
    run_fuzzer fuzz-domain-xml domain-xml "$xml_seconds" -max_len=16384 \
        -dict="$srcdir/fuzz/domain-xml.dict" || failed=1
fi
if [ -n "$results" ]; then
    for name in $names; do
        if [ -f "$work/$name.result" ]; then
            cat "$work/$name.result" >>"$results"
        else
            echo "$name fail no-result" >>"$results"
            failed=1
        fi
    done
fi
if [ "$failed" -ne 0 ]; then
    exit 1
fi
rm -rf "$work"
