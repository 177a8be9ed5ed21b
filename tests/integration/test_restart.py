# SPDX-License-Identifier: LGPL-2.1-or-later
"""Restarting virtbusd leaves QEMU running and takes every domain back."""

import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from test_lifecycle import LifecycleTestCase, pid_alive  # noqa: E402
import vbtest  # noqa: E402
from vbtest import (BUS_NAME, DOMAIN_IFACE, SignalRecorder, connect, domain_xml,  # noqa: E402
                    eventually)

U1 = "9a1c6c1e-7a55-4b1e-9a53-7c9bd1a0d001"
U2 = "9a1c6c1e-7a55-4b1e-9a53-7c9bd1a0d002"
U3 = "9a1c6c1e-7a55-4b1e-9a53-7c9bd1a0d003"


class RestartTest(LifecycleTestCase):
    def restart_service(self, between=None):
        self.conn.close_sync(None)
        self.assertEqual(self.service.stop(), 0)
        if between is not None:
            between()
        self.service.start()
        self.conn = connect(self.bus.address)

    def test_running_domains_survive_a_restart(self):
        t0 = time.time()
        p1 = self.start_vm("vm1", U1)
        t1 = time.time()
        p3 = self.start_vm("vm3", U3, flags=1)  # paused
        pt = self.manager("CreateXML", "su", (domain_xml("tvm", U2), 0), timeout=60000)
        before = {n: self.pid_of(n) for n in ("vm1", "vm3", "tvm")}
        ids = {p: self.get_prop(p, DOMAIN_IFACE, "Id") for p in (p1, p3, pt)}
        # StartTime: when QEMU started, on the wall clock (µs)
        started = {p: self.get_prop(p, DOMAIN_IFACE, "StartTime") for p in (p1, p3, pt)}
        self.assertTrue(t0 * 1e6 <= started[p1] <= t1 * 1e6, (t0, started[p1], t1))
        self.assertLess(started[p1], started[p3])

        self.restart_service(between=lambda: self.assertTrue(
            all(pid_alive(pid) for pid in before.values()), "QEMU must outlive the service"))

        self.assertIn("reconnected to 3 running domains", self.service.read_log())
        self.assertEqual(self.state(p1)[0], "running")
        self.assertEqual(self.state(p3)[0], "paused")
        self.assertEqual(self.state(pt)[0], "running")
        self.assertFalse(self.get_prop(pt, DOMAIN_IFACE, "Persistent"))
        for p, i in ids.items():
            self.assertEqual(self.get_prop(p, DOMAIN_IFACE, "Id"), i)
            # found again from /proc: to the clock tick (10 ms), not the service's start
            self.assertAlmostEqual(self.get_prop(p, DOMAIN_IFACE, "StartTime"), started[p],
                                   delta=30000)
        self.assertEqual({n: self.pid_of(n) for n in before}, before)
        # the monitor works again, and new ids never collide with old ones
        self.domain(p3, "Resume")
        self.assertEqual(self.state(p3), ("running", "unpaused"))
        # destroy works on a QEMU that is no longer our child (pidfd)
        t0 = time.monotonic()
        self.domain(p1, "Destroy", "u", (0,))
        self.assertLess(time.monotonic() - t0, 3)
        self.assertEqual(self.state(p1), ("shutoff", "destroyed"))
        self.assertFalse(pid_alive(before["vm1"]))
        self.assertEqual(self.get_prop(p1, DOMAIN_IFACE, "StartTime"), 0)
        self.domain(p1, "Start", "u", (0,))
        self.assertGreater(self.get_prop(p1, DOMAIN_IFACE, "Id"), max(ids.values()))
        self.assertGreater(self.get_prop(p1, DOMAIN_IFACE, "StartTime"), started[pt])
        self.domain(pt, "Destroy", "u", (0,))
        eventually(lambda: pt not in self.managed_objects(), what="the transient domain to go")
        for p in (p1, p3):
            self.domain(p, "Destroy", "u", (0,))

    def test_qemu_dead_while_service_down(self):
        p1 = self.start_vm("vm1", U1)
        pt = self.manager("CreateXML", "su", (domain_xml("tvm", U2), 0), timeout=60000)
        pids = [self.pid_of("vm1"), self.pid_of("tvm")]

        def kill_them():
            for pid in pids:
                os.kill(pid, signal.SIGKILL)
            eventually(lambda: not any(pid_alive(p) for p in pids), what="QEMU to die")
        self.restart_service(between=kill_them)
        self.assertEqual(self.state(p1), ("shutoff", "crashed"))
        self.assertEqual(self.runtime_leftovers("vm1"), [])
        self.assertEqual(self.runtime_leftovers("tvm"), [])
        self.assertNotIn(pt, self.managed_objects())
        self.domain(p1, "Start", "u", (0,))
        self.domain(p1, "Destroy", "u", (0,))

    def test_unreadable_status_kept_aside_and_its_qemu_killed(self):
        """A status file damaged while the service was down (not by the service: its
        writes are atomic) is kept aside, its QEMU killed rather than left an orphan, the
        domain shut off and startable; the other running domain is taken back as usual.
        Also for a transient domain (found by its -name, it has no definition)."""
        p1 = self.start_vm("vm1", U1)
        p2 = self.start_vm("vm,2", U3)  # a comma: QEMU's -name doubles it
        pt = self.manager("CreateXML", "su", (domain_xml("tvm", U2), 0), timeout=60000)
        pids = {n: self.pid_of(n) for n in ("vm1", "vm,2", "tvm")}
        run = self.run_dir()

        def damage():
            for n in ("vm,2", "tvm"):
                with open(os.path.join(run, f"{n}.xml"), "w") as f:
                    f.write("<domstatus state='running'><domain")  # cut short
        self.restart_service(between=damage)
        log = self.service.read_log()
        for n in ("vm,2", "tvm"):
            self.assertIn(f"status file '{os.path.join(run, n)}.xml' of domain '{n}' cannot "
                          "be read", log)
            self.assertTrue(os.path.exists(os.path.join(run, f"{n}.xml.unreadable")))
            self.assertFalse(os.path.exists(os.path.join(run, f"{n}.xml")))
            eventually(lambda: not pid_alive(pids[n]), what=f"the QEMU of {n} killed")
        self.assertTrue(pid_alive(pids["vm1"]))
        self.assertEqual(self.state(p1)[0], "running")
        self.assertEqual(self.state(p2)[0], "shutoff")
        self.assertNotIn(pt, self.managed_objects())
        self.domain(p2, "Start", "u", (0,))
        self.assertEqual(self.state(p2)[0], "running")
        for p in (p1, p2):
            self.domain(p, "Destroy", "u", (0,))

    def test_qemu_exit_seen_after_reconnect(self):
        p1 = self.start_vm("vm1", U1)
        pid = self.pid_of("vm1")
        self.restart_service()
        rec = SignalRecorder(self.conn)
        os.kill(pid, signal.SIGKILL)
        self.wait_state(p1, "shutoff", "crashed", timeout=3)
        rec.wait_for(lambda s: s[2] == "Lifecycle" and s[3] == ("stopped", "crashed"))
        self.assertEqual(self.runtime_leftovers("vm1"), [])

    def test_autodestroy_owner_gone_while_down(self):
        p1 = self.define("ad", U1)
        code = f"""
import sys
from gi.repository import Gio, GLib
c = Gio.DBusConnection.new_for_address_sync({self.bus.address!r},
    Gio.DBusConnectionFlags.AUTHENTICATION_CLIENT | Gio.DBusConnectionFlags.MESSAGE_BUS_CONNECTION,
    None, None)
c.call_sync({BUS_NAME!r}, {p1!r}, {DOMAIN_IFACE!r}, "Start", GLib.Variant("(u)", (2,)),
            None, Gio.DBusCallFlags.NONE, 60000, None)
print("started", flush=True)
sys.stdin.readline()
"""
        child = subprocess.Popen(["/usr/bin/python3", "-c", code], stdin=subprocess.PIPE,
                                 stdout=subprocess.PIPE, text=True)
        self.assertEqual(child.stdout.readline().strip(), "started")

        def owner_leaves():
            child.stdin.close()
            child.wait(timeout=10)
        self.restart_service(between=owner_leaves)
        self.wait_state(p1, "shutoff", "destroyed", timeout=5)


if __name__ == "__main__":
    vbtest.main()
