#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Counts the test cases of a run of scripts/test.sh and compares what ran
with tests/expected-tests.txt.

usage: test-summary.py EXPECTED MESON-LOGDIR FUZZ-RESULTS FUZZ-SECONDS
                       [--slow LOGBASE]... [--slow-fuzz SLOW-FUZZ-RESULTS]

MESON-LOGDIR holds meson's testlog.json (one line per test program, its
overall result) and testlog.junit.xml (one <testcase> per TAP line of each
program). FUZZ-RESULTS holds one line per fuzzer, "NAME ok|fail STATUS", as
fuzz/run-fuzz.sh writes them (empty when FUZZ-SECONDS is 0).

The slow suite (scripts/test-slow.sh): each --slow LOGBASE names the log base
of one of its meson runs (LOGBASE.json, LOGBASE.junit.xml; a missing pair
means that run had no test). The lines of EXPECTED in the suites slow and
slow-alone are required only when --slow is given, those of suite slow-fuzz
only with --slow-fuzz (its results file, in the format of FUZZ-RESULTS);
otherwise they are left out of the count.

Prints what went wrong, then "N passed, N failed, N skipped" (test cases;
a program that failed without a failing case, a program listed in EXPECTED
that did not run or reported fewer cases than listed there, or one that ran but
is not listed counts as one failed case). Exits 0 only when nothing failed
and nothing was skipped.
"""

import json
import os
import re
import sys
import xml.etree.ElementTree as et

PROJECT = "virtbus"


def read_expected(path):
    """{(suite, name): minimum number of test cases}"""
    expected = {}
    with open(path) as f:
        for n, line in enumerate(f, 1):
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            suite, name, minimum = line.split()
            expected[(suite, name)] = int(minimum)
    return expected


def split_name(full):
    """'virtbus:unit / store' -> ('unit', 'store')"""
    head, _, name = full.partition(" / ")
    return head.partition(":")[2], name


# what XML 1.0 does not allow even as a character reference; meson writes a failed test's
# output into the junit file as it is (a container's console: terminal escapes)
XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def parse_junit(path):
    """The root of meson's junit log, without the characters XML forbids."""
    with open(path, encoding="utf-8", errors="replace") as f:
        text = XML_INVALID.sub("\ufffd", f.read())
    return et.fromstring(text.encode("utf-8"))


def read_logs(json_log, junit_log, runs):
    """Adds the programs of one meson test run to @runs."""
    with open(json_log) as f:
        for line in f:
            r = json.loads(line)
            runs[split_name(r["name"])] = {"result": r["result"], "cases": [],
                                           "returncode": r.get("returncode")}
    for suite in parse_junit(junit_log).iter("testsuite"):
        sname = suite.get("name")
        for case in suite.iter("testcase"):
            if sname.startswith(PROJECT + "."):
                key, cname = split_name(sname[len(PROJECT) + 1:]), case.get("name")
            else:
                key, cname = split_name(case.get("name")), "(exit status)"
            if case.find("skipped") is not None:
                status = "skipped"
            elif case.find("failure") is not None or case.find("error") is not None:
                status = "failed"
            else:
                status = "passed"
            runs.setdefault(key, {"result": "?", "cases": [], "returncode": None})
            runs[key]["cases"].append((cname, status))


def read_fuzz(path, suite, runs):
    """The fuzzers of a results file, one case each, as runs of @suite."""
    ran = {}
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                if line.strip():
                    name, verdict, status = line.split()
                    ran[name] = (verdict, status)
    for name, (verdict, status) in ran.items():
        runs[(suite, name)] = {
            "result": "OK" if verdict == "ok" else "FAIL", "returncode": status,
            "cases": [(name, "passed" if verdict == "ok" else "failed")]}


def parse_args(argv):
    if len(argv) < 4:
        sys.exit(__doc__)
    slow_logs, slow_fuzz = [], None
    rest = argv[4:]
    while rest:
        opt = rest.pop(0)
        if opt == "--slow" and rest:
            slow_logs.append(rest.pop(0))
        elif opt == "--slow-fuzz" and rest:
            slow_fuzz = rest.pop(0)
        else:
            sys.exit(f"unknown argument {opt!r}\n" + __doc__)
    return argv[:4] + [slow_logs, slow_fuzz]


def main():
    expected_path, logdir, fuzz_results, fuzz_seconds, slow_logs, slow_fuzz = \
        parse_args(sys.argv[1:])
    expected = read_expected(expected_path)
    # the slow suites count only when they ran
    left_out = set()
    if not slow_logs:
        left_out |= {"slow", "slow-alone"}
    if slow_fuzz is None:
        left_out.add("slow-fuzz")
    dropped = [k for k in expected if k[0] in left_out]
    for key in dropped:
        del expected[key]
    problems = []
    runs = {}     # (suite, name) -> {"result": str, "cases": [(case, status)]}

    json_log = os.path.join(logdir, "testlog.json")
    junit_log = os.path.join(logdir, "testlog.junit.xml")
    for path in (json_log, junit_log):
        if not os.path.exists(path):
            problems.append(f"{path} is missing: meson test did not run to its end")
    if not problems:
        read_logs(json_log, junit_log, runs)
    for base in slow_logs:
        json_log, junit_log = base + ".json", base + ".junit.xml"
        if os.path.exists(json_log) != os.path.exists(junit_log):
            problems.append(f"{base}.*: one of the two logs is missing: meson test "
                            "did not run to its end")
        elif os.path.exists(json_log):
            read_logs(json_log, junit_log, runs)

    if slow_fuzz is not None:
        read_fuzz(slow_fuzz, "slow-fuzz", runs)

    # the fuzzers, one case each
    fuzz_ran = {}
    if int(fuzz_seconds) > 0 and os.path.exists(fuzz_results):
        with open(fuzz_results) as f:
            for line in f:
                name, verdict, status = line.split()
                fuzz_ran[name] = (verdict, status)
    for (suite, name) in expected:
        if suite != "fuzz":
            continue
        if name in fuzz_ran:
            verdict, status = fuzz_ran[name]
            runs[(suite, name)] = {
                "result": "OK" if verdict == "ok" else "FAIL", "returncode": status,
                "cases": [(name, "passed" if verdict == "ok" else "failed")]}
        elif int(fuzz_seconds) == 0:
            runs[(suite, name)] = {"result": "SKIP", "returncode": None,
                                   "cases": [(name + " (VB_FUZZ_SECONDS=0)", "skipped")]}

    passed = failed = skipped = 0
    for key in sorted(set(runs) | set(expected)):
        label = f"{key[0]} / {key[1]}"
        run = runs.get(key)
        if run is None:
            problems.append(f"{label}: did not run (listed in {expected_path})")
            failed += 1
            continue
        counts = {"passed": 0, "failed": 0, "skipped": 0}
        for cname, status in run["cases"]:
            counts[status] += 1
            if status == "skipped":
                problems.append(f"{label}: {cname}: skipped")
        if run["result"] not in ("OK", "SKIP") and counts["failed"] == 0:
            problems.append(f"{label}: {run['result']} (exit status {run['returncode']}) "
                            "with no failing test case")
            counts["failed"] += 1
        elif counts["failed"]:
            names = [c for c, s in run["cases"] if s == "failed"]
            problems.append(f"{label}: failed: " + ", ".join(names[:10]))
        if key not in expected:
            problems.append(f"{label}: ran, but is not listed in {expected_path} (add it)")
            counts["failed"] += 1
        elif len(run["cases"]) < expected[key]:
            problems.append(f"{label}: reported {len(run['cases'])} test cases, "
                            f"at least {expected[key]} expected")
            counts["failed"] += 1
        passed += counts["passed"]
        failed += counts["failed"]
        skipped += counts["skipped"]

    for p in problems:
        print(p)
    if dropped:
        print(f"not counted: {len(dropped)} test programs of the suites "
              f"{', '.join(sorted(left_out & {k[0] for k in dropped}))}, which did not run")
    print(f"{passed} passed, {failed} failed, {skipped} skipped")
    sys.exit(0 if failed == 0 and skipped == 0 and not problems else 1)


if __name__ == "__main__":
    main()
