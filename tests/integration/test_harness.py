# SPDX-License-Identifier: LGPL-2.1-or-later
"""The test harness itself (vbtest.py, scripts/test-summary.py): what must
fail a test or a test run does fail it. Each case feeds the harness the
defect it must catch: a GLib critical or a sanitizer report in virtbusd's
log, a bad exit at a mid-test stop, a leftover QEMU, a skipped test, a test
program that vanished from a run."""

import json
import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vbtest  # noqa: E402
from vbtest import ServiceError, VirtbusTestCase, log_problems  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
SUMMARY = os.path.join(vbtest.SRCDIR, "scripts", "test-summary.py")


class LogScanTest(unittest.TestCase):
    def test_glib_criticals_and_foreign_warnings(self):
        bad = [
            "(virtbusd:4242): GLib-CRITICAL **: 17:04:07.123: g_variant_get_child_value: "
            "assertion 'index_ < ...' failed",
            "(virtbusd:4242): GLib-GIO-CRITICAL **: 17:04:07.123: g_dbus_method_invocation_"
            "return_value: assertion failed",
            "(virtbusd:4242): GLib-GObject-WARNING **: 17:04:07.123: invalid cast",
            "(virtbusd:4242): GLib-WARNING **: 17:04:07.123: g_main_context_unref",
            "(virtbusd:4242): Json-CRITICAL **: 17:04:07.123: json_node_get_object",
            "** (virtbusd:4242): CRITICAL **: 17:04:07.123: no domain",
            "** (virtbusd:4242): WARNING **: 17:04:07.123: no domain either",
            "(virtbusd:4242): virtbus-bus-CRITICAL **: 17:04:07.123: ours too",
            "==4242==ERROR: AddressSanitizer: heap-use-after-free on address 0x6020",
            "../service/bus/bus.c:12:5: runtime error: load of null pointer",
            "==4242==ERROR: LeakSanitizer: detected memory leaks",
        ]
        good = [
            "(virtbusd:4242): virtbus-domain-WARNING **: 17:04:07.123: "
            "VIRTBUS_TEST_SAVE_MAX_BANDWIDTH=8192: saves are throttled (test only)",
            "(virtbusd:4242): virtbus-WARNING **: 17:04:07.123: skipping corrupt config",
            "virtbus-bus-DEBUG: 17:04:07.123: CRITICAL section of a message",
            "virtbus-Message: 17:04:07.123: started",
        ]
        self.assertEqual(log_problems("\n".join(bad + good)), bad)

    def test_sanitizer_report_keeps_its_frames(self):
        # a report's frames come with it, other threads' lines between them do not
        report = [
            "==15096==ERROR: AddressSanitizer: stack-buffer-overflow on address 0x7f41 at pc",
            "WRITE of size 8 at 0x7f411fdf1ef0 thread T0",
            "    #0 0x7f412105fea1 in __interceptor_vasprintf ../sanitizer_common.inc:1662",
            "    #1 0x55d0 in zygote_child ../service/qemu/qemu-launcher.c:391",
            "Address 0x7f411fdf1ef0 is located in stack of thread T0",
            "  This frame has 1 object(s):",
            "    [32, 64) 'msg' (line 380) <== Memory access at offset 0 underflows",
            "SUMMARY: AddressSanitizer: stack-buffer-overflow in __interceptor_vasprintf",
        ]
        noise = "(virtbusd:15072): virtbus-qemu-DEBUG: 09:15:18.503: QMP <<< {}"
        text = "\n".join(report[:3] + [noise] + report[3:] + [noise, "    #0 0x1 later"])
        self.assertEqual(log_problems(text), report)


def write_script(path, text):
    with open(path, "w") as f:
        f.write(textwrap.dedent(text))
    os.chmod(path, 0o755)


class ServiceEndTest(VirtbusTestCase):
    """A stop in the middle of a test checks the exit and the log."""

    start_service = False

    def start_wrapped(self, script):
        wrapper = os.path.join(self.tmp, "wrapper.sh")
        write_script(wrapper, script)
        old = os.environ.get("VB_WRAPPER")
        os.environ["VB_WRAPPER"] = wrapper
        try:
            self.service.start()
        finally:
            if old is None:
                del os.environ["VB_WRAPPER"]
            else:
                os.environ["VB_WRAPPER"] = old

    def test_sanitizer_report_at_shutdown_fails_the_stop(self):
        # what an ASan report at exit looks like from outside: a report on
        # stderr and a non-zero exit after SIGTERM
        self.start_wrapped("""\
            #!/bin/sh
            "$@" & child=$!
            trap 'kill -TERM $child; wait $child
                  echo "==$child==ERROR: AddressSanitizer: heap-use-after-free" >&2
                  exit 1' TERM
            wait $child
            """)
        with self.assertRaises(ServiceError) as cm:
            self.service.stop()
        self.assertIn("exited with status 1", str(cm.exception))
        self.assertIn("ERROR: AddressSanitizer: heap-use-after-free", str(cm.exception))
        # a fresh start is clean again
        self.service.start()
        self.assertEqual(self.service.stop(), 0)

    def test_glib_critical_fails_the_stop(self):
        self.start_wrapped("""\
            #!/bin/sh
            echo "(virtbusd:$$): GLib-GIO-CRITICAL **: 00:00:00.000: injected" >&2
            exec "$@"
            """)
        with self.assertRaises(ServiceError) as cm:
            self.service.stop()
        self.assertIn("GLib-GIO-CRITICAL **: 00:00:00.000: injected", str(cm.exception))

    def test_abort_fails_the_stop_and_a_restart(self):
        self.service.start()
        self.service.proc.send_signal(signal.SIGABRT)
        self.service.proc.wait()
        with self.assertRaises(ServiceError) as cm:
            self.service.start()
        self.assertIn("killed by signal 6", str(cm.exception))
        # a SIGKILL the test sends is a normal end
        self.service.start()
        self.service.kill()
        self.service.start()
        self.service.proc.kill()
        self.service.start()


class LeftoverQemuTest(VirtbusTestCase):
    def test_orphan_qemu_is_reported_and_killed(self):
        # a QEMU of this test that no status file records: what the service
        # would leave behind if it lost track of a process
        qemu = subprocess.Popen(
            ["qemu-system-x86_64", "-machine", "none", "-S", "-display", "none",
             "-nodefaults", "-name", os.path.join(self.tmp, "orphan")],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.addCleanup(qemu.wait)
        vbtest.eventually(lambda: qemu.pid in vbtest.qemus_under(self.tmp),
                          what="QEMU to run")
        problems = self.check_leftovers(stopped_by_test=True)
        self.assertEqual(len(problems), 1, problems)
        self.assertIn(f"QEMU pid {qemu.pid} left over (not in any status file)", problems[0])
        self.assertEqual(qemu.wait(timeout=10), -signal.SIGKILL)
        self.assertEqual(self.check_leftovers(stopped_by_test=True), [])


class RequireAllTest(unittest.TestCase):
    """Under VB_REQUIRE_ALL=1 a skip is a failure, also a module's."""

    def run_module(self, body, require_all):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "test_x.py")
            with open(path, "w") as f:
                f.write(f"import sys, unittest\nsys.path.insert(0, {HERE!r})\nimport vbtest\n"
                        + textwrap.dedent(body) + "\nvbtest.main()\n")
            env = dict(os.environ, VB_REQUIRE_ALL="1" if require_all else "0")
            return subprocess.run([sys.executable, path], capture_output=True, text=True,
                                  env=env, timeout=60)

    def test_skipped_case(self):
        body = """\
            class T(unittest.TestCase):
                def test_a(self):
                    pass
                def test_b(self):
                    self.skipTest("no polkitd")
            """
        p = self.run_module(body, require_all=True)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertEqual(p.stdout, "ok 1 - T.test_a\nnot ok 2 - T.test_b\n1..2\n")
        self.assertIn("skipped under VB_REQUIRE_ALL=1: no polkitd", p.stderr)
        p = self.run_module(body, require_all=False)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout, "ok 1 - T.test_a\nok 2 - T.test_b # SKIP no polkitd\n1..2\n")

    def test_skipped_module(self):
        body = """\
            def setUpModule():
                raise unittest.SkipTest("needs root")
            class T(unittest.TestCase):
                def test_a(self):
                    pass
            """
        p = self.run_module(body, require_all=True)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertRegex(p.stdout, r"^not ok 1 - setUpModule \(__main__\)\n1..1\n$")
        p = self.run_module(body, require_all=False)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertRegex(p.stdout, r"^ok 1 - setUpModule \(__main__\) # SKIP needs root\n")

    def test_stdout_is_tap_only(self):
        body = """\
            import os
            class T(unittest.TestCase):
                def test_a(self):
                    print("chatter")
                    os.system("echo from a child")
            """
        p = self.run_module(body, require_all=True)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout, "ok 1 - T.test_a\n1..1\n")
        self.assertIn("chatter", p.stderr)
        self.assertIn("from a child", p.stderr)


class SummaryTest(unittest.TestCase):
    """scripts/test-summary.py: counts cases, compares with the list."""

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="vbsummary-")
        self.addCleanup(subprocess.run, ["rm", "-rf", self.dir])
        self.expected = os.path.join(self.dir, "expected.txt")
        with open(self.expected, "w") as f:
            f.write("unit u 2\nstyle style 1\nfuzz fz 1\n")
        self.fuzz = os.path.join(self.dir, "fuzz.txt")
        with open(self.fuzz, "w") as f:
            f.write("fz ok 0\n")

    def write_logs(self, runs, cases):
        with open(os.path.join(self.dir, "testlog.json"), "w") as f:
            for name, result in runs:
                f.write(json.dumps({"name": name, "result": result, "returncode": 0}) + "\n")
        with open(os.path.join(self.dir, "testlog.junit.xml"), "w") as f:
            f.write("<testsuites>")
            for suite, items in cases.items():
                f.write(f'<testsuite name="{suite}">')
                for name, tag in items:
                    f.write(f'<testcase name="{name}">' + (f"<{tag}/>" if tag else "")
                            + "</testcase>")
                f.write("</testsuite>")
            f.write("</testsuites>")

    def summary(self, seconds="60"):
        return subprocess.run([sys.executable, SUMMARY, self.expected, self.dir, self.fuzz,
                               seconds], capture_output=True, text=True, timeout=60)

    def test_all_ran(self):
        self.write_logs([("virtbus:unit / u", "OK"), ("virtbus:style / style", "OK")],
                        {"virtbus.virtbus:unit / u": [("1 /a", None), ("2 /b", None)],
                         "virtbus": [("virtbus:style / style", None)]})
        p = self.summary()
        self.assertEqual((p.returncode, p.stdout), (0, "4 passed, 0 failed, 0 skipped\n"))

    def test_missing_log(self):
        p = self.summary()
        self.assertEqual(p.returncode, 1)
        self.assertIn("testlog.json is missing", p.stdout)
        self.assertTrue(p.stdout.endswith("1 passed, 2 failed, 0 skipped\n"), p.stdout)

    def test_skip_vanished_program_and_fewer_cases(self):
        self.write_logs([("virtbus:unit / u", "OK"), ("virtbus:unit / new", "OK")],
                        {"virtbus.virtbus:unit / u": [("1 /a", "skipped")],
                         "virtbus": [("virtbus:unit / new", None)]})
        p = self.summary(seconds="0")
        self.assertEqual(p.returncode, 1)
        self.assertIn("unit / u: 1 /a: skipped", p.stdout)
        self.assertIn("unit / u: reported 1 test cases, at least 2 expected", p.stdout)
        self.assertIn("style / style: did not run", p.stdout)
        self.assertIn("unit / new: ran, but is not listed", p.stdout)
        self.assertIn("fuzz / fz: fz (VB_FUZZ_SECONDS=0): skipped", p.stdout)
        self.assertTrue(p.stdout.endswith("1 passed, 3 failed, 2 skipped\n"), p.stdout)

    def test_crash_after_passing_cases(self):
        # a TAP program that died after its cases passed: meson says ERROR
        self.write_logs([("virtbus:unit / u", "ERROR"), ("virtbus:style / style", "OK")],
                        {"virtbus.virtbus:unit / u": [("1 /a", None), ("2 /b", None)],
                         "virtbus": [("virtbus:style / style", None)]})
        p = self.summary()
        self.assertEqual(p.returncode, 1)
        self.assertIn("unit / u: ERROR", p.stdout)
        self.assertTrue(p.stdout.endswith("4 passed, 1 failed, 0 skipped\n"), p.stdout)

    # the slow suite (scripts/test-slow.sh): counted only when it ran
    def write_slow_logs(self, base, runs, cases):
        os.makedirs(os.path.join(self.dir, "slow"), exist_ok=True)
        saved = self.dir
        try:
            self.dir = os.path.join(saved, "slow")
            self.write_logs(runs, cases)
        finally:
            self.dir = saved
        for ext in ("json", "junit.xml"):
            os.rename(os.path.join(self.dir, "slow", "testlog." + ext), f"{base}.{ext}")

    def default_logs(self):
        self.write_logs([("virtbus:unit / u", "OK"), ("virtbus:style / style", "OK")],
                        {"virtbus.virtbus:unit / u": [("1 /a", None), ("2 /b", None)],
                         "virtbus": [("virtbus:style / style", None)]})
        with open(self.expected, "a") as f:
            f.write("slow sweep 1\nslow-alone load 2\nslow-fuzz sf 1\n")

    def test_slow_lines_left_out_when_the_slow_suite_did_not_run(self):
        self.default_logs()
        p = self.summary()
        self.assertEqual(p.returncode, 0, p.stdout)
        self.assertIn("not counted: 3 test programs of the suites slow, slow-alone, "
                      "slow-fuzz", p.stdout)
        self.assertTrue(p.stdout.endswith("4 passed, 0 failed, 0 skipped\n"), p.stdout)

    def test_slow_suite_counted_when_it_ran(self):
        self.default_logs()
        base1, base2 = os.path.join(self.dir, "slowlog"), os.path.join(self.dir, "alone")
        self.write_slow_logs(base1, [("virtbus:slow / sweep", "OK")],
                             {"virtbus.virtbus:slow / sweep": [("1 sweep", None)]})
        self.write_slow_logs(base2, [("virtbus:slow-alone / load", "FAIL")],
                             {"virtbus.virtbus:slow-alone / load": [("1 a", None),
                                                                   ("2 b", "failure")]})
        p = self.summary_args("--slow", base1, "--slow", base2)
        self.assertEqual(p.returncode, 1)
        self.assertIn("slow-alone / load: failed: 2 b", p.stdout)
        self.assertIn("not counted: 1 test programs of the suites slow-fuzz", p.stdout)
        self.assertTrue(p.stdout.endswith("6 passed, 1 failed, 0 skipped\n"), p.stdout)

    def test_slow_suite_ran_without_a_listed_program(self):
        # --slow given, its log missing (no test in that suite ran): the expected line
        # fails as not run; a slow program that is not listed fails too
        self.default_logs()
        base1 = os.path.join(self.dir, "slowlog")
        self.write_slow_logs(base1, [("virtbus:slow / extra", "OK")],
                             {"virtbus.virtbus:slow / extra": [("1 x", None)]})
        p = self.summary_args("--slow", base1, "--slow", os.path.join(self.dir, "none"))
        self.assertEqual(p.returncode, 1)
        self.assertIn("slow / sweep: did not run", p.stdout)
        self.assertIn("slow-alone / load: did not run", p.stdout)
        self.assertIn("slow / extra: ran, but is not listed", p.stdout)
        self.assertTrue(p.stdout.endswith("5 passed, 3 failed, 0 skipped\n"), p.stdout)

    def test_slow_fuzz_results(self):
        self.default_logs()
        results = os.path.join(self.dir, "fuzz-slow-results.txt")
        with open(results, "w") as f:
            f.write("sf fail 77\n")
        p = self.summary_args("--slow-fuzz", results)
        self.assertEqual(p.returncode, 1)
        self.assertIn("slow-fuzz / sf: failed: sf", p.stdout)
        self.assertTrue(p.stdout.endswith("4 passed, 1 failed, 0 skipped\n"), p.stdout)
        # an empty results file (the run started, no fuzzer reported): not run
        with open(results, "w"):
            pass
        p = self.summary_args("--slow-fuzz", results)
        self.assertIn("slow-fuzz / sf: did not run", p.stdout)
        self.assertEqual(p.returncode, 1)

    def summary_args(self, *extra):
        return subprocess.run([sys.executable, SUMMARY, self.expected, self.dir, self.fuzz,
                               "60"] + list(extra), capture_output=True, text=True,
                              timeout=60)


if __name__ == "__main__":
    vbtest.main()
