#!/bin/sh
# Usage: fuzz/run-fuzz.sh BUILDDIR SECONDS
# Configures BUILDDIR (a clang build with -Dfuzzing=true) if needed, builds the fuzzers
# (domain XML, QMP stream) and runs them for SECONDS in all (split between them), each on a
# copy of its corpus in fuzz/corpus/ (the repository corpus is never modified). Exits non-zero when the fuzzer finds a crash, leak or mismatch; the
# reproducer is left in the printed artifacts directory.
set -eu

builddir=${1:?usage: $0 BUILDDIR SECONDS}
seconds=${2:?usage: $0 BUILDDIR SECONDS}
srcdir=$(cd "$(dirname "$0")/.." && pwd)

if [ ! -f "$builddir/build.ninja" ]; then
    CC=clang meson setup "$builddir" "$srcdir" -Dfuzzing=true -Dtests=false -Db_lundef=false
elif ! meson introspect "$builddir" --buildoptions | grep -q '"name": "fuzzing", "value": true'; then
    meson configure "$builddir" -Dfuzzing=true -Db_lundef=false
fi
ninja -C "$builddir" fuzz/fuzz-domain-xml fuzz/fuzz-qmp

work=$(mktemp -d "${TMPDIR:-/tmp}/vb-fuzz.XXXXXX")
echo "corpus copies and artifacts in $work"

# run_fuzzer NAME CORPUS SECONDS [libFuzzer options...]
run_fuzzer() {
    name=$1 corpus=$2 secs=$3
    shift 3
    mkdir "$work/$name" "$work/$name/corpus" "$work/$name/artifacts"
    cp "$srcdir"/fuzz/corpus/"$corpus"/* "$work/$name/corpus/"
    status=0
    "$builddir/fuzz/$name" -max_total_time="$secs" -timeout=10 -print_final_stats=1 \
        -artifact_prefix="$work/$name/artifacts/" "$@" "$work/$name/corpus" || status=$?
    if [ "$status" -ne 0 ]; then
        echo "$name failed (exit $status); reproducers:" >&2
        ls -l "$work/$name/artifacts" >&2
        exit "$status"
    fi
}

qmp_seconds=$((seconds / 3))
[ "$qmp_seconds" -ge 1 ] || qmp_seconds=1
xml_seconds=$((seconds - qmp_seconds))
[ "$xml_seconds" -ge 1 ] || xml_seconds=1
run_fuzzer fuzz-domain-xml domain-xml "$xml_seconds" -max_len=16384 \
    -dict="$srcdir/fuzz/domain-xml.dict"
run_fuzzer fuzz-qmp qmp "$qmp_seconds" -max_len=65536 -dict="$srcdir/fuzz/qmp.dict"
rm -rf "$work"
