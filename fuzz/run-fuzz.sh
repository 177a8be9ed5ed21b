#!/bin/sh
# Usage: fuzz/run-fuzz.sh BUILDDIR SECONDS
# Configures BUILDDIR (a clang build with -Dfuzzing=true) if needed, builds the domain XML
# fuzzer and runs it for SECONDS on a copy of fuzz/corpus/domain-xml (the repository corpus
# is never modified). Exits non-zero when the fuzzer finds a crash, leak or mismatch; the
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
ninja -C "$builddir" fuzz/fuzz-domain-xml

work=$(mktemp -d "${TMPDIR:-/tmp}/vb-fuzz.XXXXXX")
mkdir "$work/corpus" "$work/artifacts"
cp "$srcdir"/fuzz/corpus/domain-xml/* "$work/corpus/"
echo "corpus copy and artifacts in $work"

status=0
"$builddir/fuzz/fuzz-domain-xml" -max_total_time="$seconds" -max_len=16384 -timeout=10 \
    -dict="$srcdir/fuzz/domain-xml.dict" -print_final_stats=1 \
    -artifact_prefix="$work/artifacts/" "$work/corpus" || status=$?
if [ "$status" -ne 0 ]; then
    echo "fuzzer failed (exit $status); reproducers:" >&2
    ls -l "$work/artifacts" >&2
    exit "$status"
fi
rm -rf "$work"
