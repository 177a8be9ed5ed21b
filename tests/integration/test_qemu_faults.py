# SPDX-License-Identifier: LGPL-2.1-or-later
"""QEMU faults (issue 14, crash anywhere; docs/reliability.md): a QEMU killed, stopped
(a hung monitor), speaking broken QMP, exiting during start, an emulator that is not QEMU
or is a directory. Each gives a named error or the state shutoff/crashed, never a call
hung past its timeout, and leaves no process behind."""

import os
import shutil
import signal
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
from test_lifecycle import LifecycleTestCase, pid_alive  # noqa: E402
import vbtest  # noqa: E402
from vbtest import (DOMAIN_IFACE, ERR, DBusCallError, SignalRecorder,  # noqa: E402
                    eventually, qemus_under)

U1 = "7c1f3e2a-5b4d-4c6e-8f7a-9b0c1d2e3f01"
# QEMU's monitor timeout (domain-process.c, MONITOR_TIMEOUT_MS) and some slack
MONITOR_TIMEOUT = 30

XML = """<domain type='qemu'>
  <name>{name}</name>
  <uuid>{uuid}</uuid>
  <memory unit='MiB'>64</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='q35'>hvm</type></os>
  <devices><emulator>{emulator}</emulator></devices>
</domain>
"""


class QemuFaultsTest(LifecycleTestCase):
    def fake(self, mode):
        """The scripted emulator of @mode (fake_emulator.py), in the test's directory."""
        path = os.path.join(self.tmp, f"qemu-system-{mode}")
        shutil.copy(os.path.join(os.path.dirname(__file__), "fake_emulator.py"), path)
        os.chmod(path, 0o755)
        return path

    def define_with(self, emulator, name="vm1"):
        return self.define(name, xml=XML.format(name=name, uuid=U1, emulator=emulator))

    def timed_start(self, path, limit):
        t0 = time.monotonic()
        with self.assertRaises(DBusCallError) as cm:
            self.domain(path, "Start", "u", (0,), timeout=(limit + 30) * 1000)
        elapsed = time.monotonic() - t0
        self.assertLess(elapsed, limit, f"Start took {elapsed:.1f} s")
        return cm.exception

    def assert_clean_after_failed_start(self, path):
        self.assertEqual(self.state(path)[0], "shutoff")
        self.assertEqual(self.get_prop(path, DOMAIN_IFACE, "Job"), "/")
        eventually(lambda: not qemus_under(self.tmp), timeout=10,
                   what="no emulator process left")
        self.assertEqual(self.runtime_leftovers("vm1"), [])

    def test_sigkill_gives_crashed(self):
        rec = SignalRecorder(self.conn)
        path = self.start_vm("vm1", U1)
        pid = self.pid_of("vm1")
        os.kill(pid, signal.SIGKILL)
        self.wait_state(path, "shutoff", "crashed", timeout=5)
        rec.wait_for(lambda s: s[2] == "Lifecycle" and s[3] == ("stopped", "crashed"))
        self.assertEqual(self.runtime_leftovers("vm1"), [])
        # and it starts again
        self.domain(path, "Start", "u", (0,), timeout=60000)
        self.assertEqual(self.state(path), ("running", "booted"))

    def test_sigstop_hung_monitor_times_out_and_destroy_works(self):
        path = self.start_vm("vm1", U1)
        pid = self.pid_of("vm1")
        os.kill(pid, signal.SIGSTOP)
        try:
            # a lifecycle call fails with a timeout, within the monitor's timeout
            t0 = time.monotonic()
            e = self.assertDBusError("OperationTimeout", self.domain, path, "Suspend",
                                     timeout=(MONITOR_TIMEOUT + 30) * 1000)
            self.assertLess(time.monotonic() - t0, MONITOR_TIMEOUT + 10)
            self.assertIn("QEMU", e.message)
            self.assertEqual(self.get_prop(path, DOMAIN_IFACE, "Job"), "/")
            # a second call, while the stopped QEMU holds a queued command: Destroy
            # does not wait for it
            answers = []
            t = threading.Thread(target=lambda: answers.append(self._try_resume(path)))
            t.start()
            time.sleep(1)
            t0 = time.monotonic()
            self.domain(path, "Destroy", "u", (0,), timeout=30000)
            self.assertLess(time.monotonic() - t0, 10)
            t.join(timeout=MONITOR_TIMEOUT + 10)
            self.assertFalse(t.is_alive(), "Resume hung after Destroy")
            self.assertTrue(answers[0].startswith(ERR), answers)
        finally:
            try:
                os.kill(pid, signal.SIGCONT)
            except ProcessLookupError:
                pass
        self.assertEqual(self.state(path), ("shutoff", "destroyed"))
        eventually(lambda: not pid_alive(pid), what="the stopped QEMU to be gone")

    def _try_resume(self, path):
        try:
            self.domain(path, "Resume", timeout=(MONITOR_TIMEOUT + 30) * 1000)
            return "success"
        except DBusCallError as e:
            return e.name

    def test_malformed_qmp_garbage(self):
        path = self.define_with(self.fake("garbage"))
        e = self.timed_start(path, MONITOR_TIMEOUT)
        self.assertEqual(e.name, ERR + "Qemu", e.message)
        self.assertIn("malformed QMP", e.message)
        self.assert_clean_after_failed_start(path)

    def test_malformed_qmp_endless_line(self):
        path = self.define_with(self.fake("endless"))
        e = self.timed_start(path, MONITOR_TIMEOUT)
        self.assertEqual(e.name, ERR + "Qemu", e.message)
        self.assertIn("too long", e.message)
        self.assert_clean_after_failed_start(path)

    def test_malformed_qmp_wrong_id(self):
        path = self.define_with(self.fake("wrongid"))
        e = self.timed_start(path, MONITOR_TIMEOUT + 10)
        self.assertEqual(e.name, ERR + "OperationTimeout", e.message)
        self.assert_clean_after_failed_start(path)

    def test_exit_during_start_names_the_log(self):
        path = self.define_with(self.fake("exit"))
        e = self.timed_start(path, MONITOR_TIMEOUT)
        self.assertEqual(e.name, ERR + "Qemu", e.message)
        self.assertIn("cannot initialise the frobnicator", e.message)
        self.assert_clean_after_failed_start(path)

    def test_emulator_not_qemu(self):
        path = self.define_with("/bin/true")
        e = self.timed_start(path, MONITOR_TIMEOUT)
        self.assertTrue(e.name.startswith(ERR), e.name)
        self.assertNotIn(e.name, (ERR + "Failed", ERR + "Internal"), e.message)
        self.assertIn("/bin/true", e.message)
        self.assert_clean_after_failed_start(path)

    def test_emulator_is_a_directory(self):
        d = os.path.join(self.tmp, "qemu-dir")
        os.makedirs(d)
        path = self.define_with(d)
        e = self.timed_start(path, 10)
        self.assertTrue(e.name.startswith(ERR), e.name)
        self.assertNotIn(e.name, (ERR + "Failed", ERR + "Internal"), e.message)
        self.assertIn(d, e.message)
        self.assert_clean_after_failed_start(path)


if __name__ == "__main__":
    vbtest.main()
