#!/bin/sh
# The style suite: the rules of STYLE.md that a script can check on every
# C file: no tabs, no trailing blanks, lines of at most 100 columns, files
# of at most 1500 lines. clang-format (.clang-format) is the editor aid.
set -u
cd "${VB_SRCDIR:-$(dirname "$0")/../..}"
fail=0
for f in $(find service client tests fuzz -name '*.[ch]' | sort); do
    if grep -n "$(printf '\t')" "$f" >/dev/null; then
        echo "$f: contains tabs"; fail=1
    fi
    if grep -nE ' +$' "$f" | head -3 | grep . ; then
        echo "$f: trailing blanks"; fail=1
    fi
    awk -v f="$f" 'length($0) > 100 { printf "%s:%d: line longer than 100 columns\n", f, NR; bad=1 }
                   END { exit bad }' "$f" || fail=1
    n=$(wc -l < "$f")
    if [ "$n" -gt 1500 ]; then
        echo "$f: $n lines (split it by concern; limit 1500)"; fail=1
    fi
done
[ $fail -eq 0 ] && echo "style: ok"
exit $fail
