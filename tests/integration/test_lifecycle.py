# SPDX-License-Identifier: LGPL-2.1-or-later
"""Running domains: the real virtbusd starts real QEMU (TCG) guests."""

import json
import os
import re
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
import vbtest  # noqa: E402
from vbtest import (BUS_NAME, DOMAIN_IFACE, MANAGER_PATH, Gio, GLib,  # noqa: E402
                    SignalRecorder, VirtbusTestCase, domain_xml, eventually)

UUID1 = "3d0c6c1e-7a55-4b1e-9a53-7c9bd1a0c001"


def pid_alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


class LifecycleTestCase(VirtbusTestCase):
    def run_dir(self):
        return os.path.join(self.root, "run/virtbus/qemu")

    def pid_of(self, name):
        with open(os.path.join(self.run_dir(), f"{name}.pid")) as f:
            return int(f.read().strip())

    def state(self, path):
        props = self.get_all(path, DOMAIN_IFACE)
        return props["State"], props["StateReason"]

    def wait_state(self, path, state, reason=None, timeout=15):
        def check():
            s = self.state(path)
            return s[0] == state and (reason is None or s[1] == reason)
        eventually(check, timeout=timeout, what=f"{path} to be {state}/{reason}")

    def runtime_leftovers(self, name):
        left = []
        for entry in os.listdir(self.run_dir()):
            if entry.startswith(f"{name}.") or entry.startswith("domain-"):
                left.append(entry)
        return left

    def start_vm(self, name="vm1", uuid=UUID1, flags=0, xml=None):
        path = self.define(name, uuid, xml=xml)
        self.domain(path, "Start", "u", (flags,), timeout=60000)
        return path


class StartStopTest(LifecycleTestCase):
    def test_start_runs_qemu_and_destroy_cleans_up(self):
        rec = SignalRecorder(self.conn)
        path = self.start_vm()
        props = self.get_all(path, DOMAIN_IFACE)
        self.assertEqual((props["State"], props["StateReason"]), ("running", "booted"))
        self.assertTrue(props["Active"])
        self.assertGreater(props["Id"], 0)
        rec.wait_for(lambda s: s[2] == "Lifecycle" and s[3] == ("started", "booted"))
        pid = self.pid_of("vm1")
        self.assertTrue(pid_alive(pid))
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            argv = f.read().split(b"\0")
        self.assertIn(b"-S", argv)
        self.assertIn(b"-no-shutdown", argv)
        self.assertTrue(os.path.exists(os.path.join(self.run_dir(), "vm1.xml")))
        with open(os.path.join(self.root, "var/log/virtbus/qemu/vm1.log")) as f:
            log = f.read()
        self.assertRegex(log, r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}\+0000: starting up\n.*"
                              r"qemu-system-x86_64 -name guest=vm1")
        # QEMU really runs the guest
        status = json.loads(self.domain(path, "QemuMonitorCommand", "s",
                                        ('{"execute": "query-status"}',)))
        self.assertEqual(status["return"]["status"], "running")
        self.assertEqual(self.get_prop(path, DOMAIN_IFACE, "Tainted"), ["custom-monitor"])
        with open(os.path.join(self.root, "var/log/virtbus/qemu/vm1.log")) as f:
            self.assertIn("Domain is tainted: custom-monitor", f.read())

        self.assertDBusError("OperationInvalid", self.domain, path, "Start", "u", (0,))
        t0 = time.monotonic()
        self.domain(path, "Destroy", "u", (0,))
        elapsed = time.monotonic() - t0
        self.assertEqual(self.state(path), ("shutoff", "destroyed"))
        self.assertEqual(self.get_prop(path, DOMAIN_IFACE, "Id"), -1)
        self.assertFalse(pid_alive(pid))
        self.assertEqual(self.runtime_leftovers("vm1"), [])
        self.assertEqual(self.get_prop(path, DOMAIN_IFACE, "Tainted"), [])
        rec.wait_for(lambda s: s[2] == "Lifecycle" and s[3] == ("stopped", "destroyed"))
        self.assertLess(elapsed, 5, "destroy of an idle QEMU should take well under a second")
        # it can start again, with a new id
        self.domain(path, "Start", "u", (0,))
        self.assertEqual(self.state(path), ("running", "booted"))
        self.domain(path, "Destroy", "u", (0,))

    def test_paused_suspend_resume(self):
        rec = SignalRecorder(self.conn)
        path = self.start_vm(flags=1)
        self.assertEqual(self.state(path), ("paused", "user"))
        self.domain(path, "Resume")
        self.assertEqual(self.state(path), ("running", "unpaused"))
        self.domain(path, "Suspend")
        self.assertEqual(self.state(path), ("paused", "user"))
        rec.wait_for(lambda s: s[2] == "Lifecycle" and s[3] == ("resumed", "unpaused"))
        rec.wait_for(lambda s: s[2] == "Lifecycle" and s[3] == ("suspended", "paused"))
        self.assertDBusError("InvalidArgument", self.domain, path, "Shutdown", "u", (1 << 20,))
        # the guest agent mode (issue 13): a paused guest's agent cannot answer (libvirt)
        e = self.assertDBusError("OperationInvalid", self.domain, path, "Shutdown", "u", (2,))
        self.assertIn("resume it first", e.message)
        # Resume and Suspend in quick succession: the RESUME event handled after the
        # Suspend is stale and never makes the domain "running" again (a Shutdown in agent
        # mode then said NotSupported, no agent configured, instead of the state error)
        for _ in range(8):
            self.domain(path, "Resume")
            self.domain(path, "Suspend")
            e = self.assertDBusError("OperationInvalid", self.domain, path, "Shutdown", "u",
                                     (2,))
            self.assertIn("resume it first", e.message)
            self.assertEqual(self.state(path), ("paused", "user"))
        self.domain(path, "Reset")
        self.domain(path, "Destroy", "u", (0,))
        self.assertDBusError("OperationInvalid", self.domain, path, "Suspend")
        self.assertDBusError("OperationInvalid", self.domain, path, "Destroy", "u", (0,))

    def test_failed_start_leaves_nothing(self):
        xml = domain_xml("bad", UUID1).replace(
            "</os>", "<kernel>/nonexistent/vmlinuz</kernel></os>")
        path = self.define("bad", UUID1, xml=xml)
        e = self.assertDBusError("Qemu", self.domain, path, "Start", "u", (0,))
        self.assertIn("/nonexistent/vmlinuz", e.message)
        self.assertEqual(self.state(path), ("shutoff", "failed"))
        self.assertEqual(self.runtime_leftovers("bad"), [])
        out = subprocess.run(["pgrep", "-f", "guest=bad,"], capture_output=True, text=True)
        self.assertEqual(out.stdout.strip(), "")

    def test_unsupported_device_refused_by_name(self):
        xml = domain_xml("nodev", UUID1).replace(
            "</devices>", "<smartcard mode='passthrough' type='spicevmc'/></devices>")
        path = self.define("nodev", UUID1, xml=xml)
        e = self.assertDBusError("NotSupported", self.domain, path, "Start", "u", (0,))
        self.assertIn("smartcard", e.message)
        self.assertEqual(self.runtime_leftovers("nodev"), [])

    def test_kvm_domain_runs_or_fails_clearly(self):
        # some hosts have a /dev/kvm that opens yet runs no guest: the start
        # must then fail at once with a clear error, never hang
        xml = domain_xml("kvm", UUID1).replace("type='qemu'", "type='kvm'", 1)
        path = self.define("kvm", UUID1, xml=xml)
        caps = self.manager("GetCapabilities")
        t0 = time.monotonic()
        try:
            self.domain(path, "Start", "u", (0,), timeout=60000)
        except Exception as e:
            self.assertEqual(getattr(e, "name", ""), "org.virtbus.Virt1.Error.NotSupported", e)
            self.assertIn("KVM", e.message)
            self.assertNotIn("<domain type='kvm'/>", caps)
        else:
            self.assertIn("<domain type='kvm'/>", caps)
            status = json.loads(self.domain(path, "QemuMonitorCommand", "s",
                                            ('{"execute": "query-kvm"}',)))
            self.assertTrue(status["return"]["enabled"])
            self.domain(path, "Destroy", "u", (0,))
        self.assertLess(time.monotonic() - t0, 20)

    def test_vnc_autoport_and_password(self):
        import re
        import socket
        xml = domain_xml("vnc", UUID1).replace(
            "</devices>", "<graphics type='vnc' autoport='yes' passwd='s3cr3t-pw'>"
                          "<listen type='address' address='127.0.0.1'/></graphics>"
                          "<video><model type='vga'/></video></devices>")
        path = self.start_vm("vnc", UUID1, xml=xml)
        live = self.domain(path, "GetXMLDesc", "u", (0,))
        port = int(re.search(r"<graphics type='vnc' port='(\d+)'", live).group(1))
        self.assertGreaterEqual(port, 5900)
        self.assertNotIn("s3cr3t-pw", live)
        self.assertIn("passwd='s3cr3t-pw'", self.domain(path, "GetXMLDesc", "u", (1,)))
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            self.assertTrue(s.recv(12).startswith(b"RFB "))
            s.sendall(b"RFB 003.008\n")
            n = s.recv(1)[0]
            types = s.recv(n)
            self.assertEqual(types, b"\x02", "VNC must ask for the password")
        with open(f"/proc/{self.pid_of('vnc')}/cmdline", "rb") as f:
            self.assertNotIn(b"s3cr3t-pw", f.read())
        self.domain(path, "Destroy", "u", (0,))
        self.assertNotIn("s3cr3t-pw", self.service.read_log())
        # the port is free again for the next start
        self.domain(path, "Start", "u", (0,))
        live = self.domain(path, "GetXMLDesc", "u", (0,))
        self.assertIn(f"port='{port}'", live)
        self.domain(path, "Destroy", "u", (0,))

    def test_qemu_killed_is_crashed(self):
        rec = SignalRecorder(self.conn)
        path = self.start_vm()
        pid = self.pid_of("vm1")
        os.kill(pid, signal.SIGKILL)
        self.wait_state(path, "shutoff", "crashed", timeout=5)
        rec.wait_for(lambda s: s[2] == "Lifecycle" and s[3] == ("stopped", "crashed"))
        self.assertEqual(self.runtime_leftovers("vm1"), [])

    def test_destroy_releases_stuck_call(self):
        path = self.start_vm()
        pid = self.pid_of("vm1")
        os.kill(pid, signal.SIGSTOP)
        try:
            # a call that waits for QEMU forever (QMP hangs while it is stopped)
            result = {}

            def done(conn, res, *a):
                try:
                    conn.call_finish(res)
                    result["ok"] = True
                except GLib.Error as e:
                    result["error"] = Gio.DBusError.get_remote_error(e) or str(e)
            self.conn.call(BUS_NAME, path, DOMAIN_IFACE, "Suspend", None, None,
                           Gio.DBusCallFlags.NONE, 120000, None, done)
            ctx = GLib.MainContext.default()

            def occupied():
                while ctx.iteration(False):
                    pass
                info = self.domain(path, "GetControlInfo")
                return info["state"] == "occupied" and info
            info = eventually(occupied, timeout=10, what="the call to wait for QEMU")
            self.assertIn("Suspend", info["job"])
            t0 = time.monotonic()
            self.domain(path, "Destroy", "u", (0,), timeout=30000)
            self.assertLess(time.monotonic() - t0, 15)

            def finished():
                while ctx.iteration(False):
                    pass
                return result
            eventually(finished, timeout=15, what="the stuck call to fail")
            self.assertIn("error", result)
            self.assertEqual(self.state(path), ("shutoff", "destroyed"))
            self.assertEqual(self.domain(path, "GetControlInfo")["state"], "ok")
        finally:
            if pid_alive(pid):
                os.kill(pid, signal.SIGKILL)


class MonitorCommandTest(LifecycleTestCase):
    def test_two_objects_refused(self):
        # json-glib would take the last object, drop (and leak) the others
        path = self.start_vm()
        for text in ('{"execute": "query-status"} {"execute": "stop"}',
                     '{"execute": "query-status"}{"execute": "stop"}',
                     '["x"] {"execute": "stop"}',
                     '"x" {"execute": "stop"}'):
            e = self.assertDBusError("InvalidArgument", self.domain, path,
                                     "QemuMonitorCommand", "s", (text,))
            self.assertIn("one JSON object", e.message)
        self.assertEqual(self.state(path), ("running", "booted"))
        status = json.loads(self.domain(path, "QemuMonitorCommand", "s",
                                        (' {"execute": "query-status"}\n',)))
        self.assertEqual(status["return"]["status"], "running")


class RunStateEventTest(LifecycleTestCase):
    def test_suspend_resume_published_at_the_event(self):
        """Issue 16: Suspend and Resume make their change at QEMU's STOP / RESUME event
        (before the reply to stop / cont), published by the thread that saw it, and the
        event is not handled a second time. PropertiesChanged(State) comes before
        Lifecycle; when Lifecycle arrives, Get and GetManagedObjects already answer the
        new state; when the method's reply arrives, the status file holds it. Each change
        is one signal; a pause no Suspend asked for later still gets the event handler's
        reason, not the Suspend's."""
        path = self.start_vm()
        status = os.path.join(self.run_dir(), "vm1.xml")
        seen = []

        def status_file():
            with open(status) as f:
                m = re.search(r"<domstatus state='([\w-]+)' reason='([\w-]+)'", f.read())
            return m.groups() if m else None

        def on_signal(conn, sender, p, iface, member, params):
            if member == "PropertiesChanged":
                name, changed, _ = params.unpack()
                if name == DOMAIN_IFACE and "State" in changed:
                    seen.append(("State", changed["State"]))
                return
            state = self.conn.call_sync(
                BUS_NAME, path, "org.freedesktop.DBus.Properties", "Get",
                GLib.Variant("(ss)", (DOMAIN_IFACE, "State")), None, Gio.DBusCallFlags.NONE,
                10000, None).unpack()[0]
            objects = self.conn.call_sync(
                BUS_NAME, MANAGER_PATH, "org.freedesktop.DBus.ObjectManager",
                "GetManagedObjects", None, None, Gio.DBusCallFlags.NONE, 10000,
                None).unpack()[0]
            seen.append((params.unpack(), state, objects[path][DOMAIN_IFACE]["State"]))

        ctx = GLib.MainContext.default()
        subs = [self.conn.signal_subscribe(BUS_NAME, DOMAIN_IFACE, "Lifecycle", path, None,
                                           Gio.DBusSignalFlags.NONE, on_signal),
                self.conn.signal_subscribe(BUS_NAME, "org.freedesktop.DBus.Properties",
                                           "PropertiesChanged", path, None,
                                           Gio.DBusSignalFlags.NONE, on_signal)]
        try:
            want = []
            for _ in range(5):
                for method, state, event, file_state in (
                        ("Suspend", "paused", ("suspended", "paused"), ("paused", "user")),
                        ("Resume", "running", ("resumed", "unpaused"),
                         ("running", "unpaused"))):
                    self.domain(path, method)
                    # the reply comes after the status write
                    self.assertEqual(status_file(), file_state)
                    want += [("State", state), (event, state, state)]
                    eventually(lambda: (ctx.iteration(False), len(seen) >= len(want))[1],
                               timeout=10, what=f"Lifecycle after {method}")
            # no second signal from the event worker
            end = time.monotonic() + 0.5
            while time.monotonic() < end:
                ctx.iteration(False)
                time.sleep(0.01)
            self.assertEqual(seen, want)
            self.assertEqual(self.state(path), ("running", "unpaused"))
            # a pause that no Suspend asked for: the event handler's reason (the Suspend's
            # "user" must not linger)
            self.domain(path, "QemuMonitorCommand", "s", ('{"execute":"stop"}',))
            eventually(lambda: (ctx.iteration(False), len(seen) >= len(want) + 2)[1],
                       timeout=10, what="Lifecycle after a QMP stop")
            self.assertEqual(seen[len(want):],
                             [("State", "paused"), (("suspended", "paused"), "paused", "paused")])
            eventually(lambda: status_file() == ("paused", "unknown"), timeout=10,
                       what="the status file of the QMP stop")
            self.assertEqual(self.state(path), ("paused", "unknown"))
            self.domain(path, "Resume")
            self.wait_state(path, "running", "unpaused")
        finally:
            for sub in subs:
                self.conn.signal_unsubscribe(sub)
        self.domain(path, "Destroy", "u", (0,))


class TransientAutodestroyTest(LifecycleTestCase):
    def test_create_xml_transient(self):
        rec = SignalRecorder(self.conn)
        path = self.manager("CreateXML", "su", (domain_xml("tvm", UUID1), 0), timeout=60000)
        props = self.get_all(path, DOMAIN_IFACE)
        self.assertEqual((props["State"], props["Persistent"]), ("running", False))
        self.assertFalse(os.path.exists(os.path.join(self.root, "etc/virtbus/qemu/tvm.xml")))
        self.assertDBusError("AlreadyExists", self.manager, "CreateXML", "su",
                             (domain_xml("tvm", UUID1), 0))
        self.domain(path, "Destroy", "u", (0,))
        rec.wait_for(lambda s: s[2] == "InterfacesRemoved" and s[3][0] == path)
        self.assertNotIn(path, self.managed_objects())

    def test_undefine_running_makes_it_transient(self):
        path = self.start_vm()
        self.domain(path, "Undefine", "u", (0,))
        self.assertFalse(self.get_prop(path, DOMAIN_IFACE, "Persistent"))
        self.assertEqual(self.state(path)[0], "running")
        self.domain(path, "Destroy", "u", (0,))
        eventually(lambda: path not in self.managed_objects(), what="the object to go")

    def test_autodestroy_when_owner_leaves(self):
        path = self.define("ad", UUID1)
        # a client process starts it with AUTODESTROY, then exits
        code = f"""
import sys
from gi.repository import Gio, GLib
c = Gio.DBusConnection.new_for_address_sync({self.bus.address!r},
    Gio.DBusConnectionFlags.AUTHENTICATION_CLIENT | Gio.DBusConnectionFlags.MESSAGE_BUS_CONNECTION,
    None, None)
c.call_sync({BUS_NAME!r}, {path!r}, {DOMAIN_IFACE!r}, "Start", GLib.Variant("(u)", (2,)),
            None, Gio.DBusCallFlags.NONE, 60000, None)
print(c.get_unique_name(), flush=True)
sys.stdin.readline()
"""
        child = subprocess.Popen(["/usr/bin/python3", "-c", code], stdin=subprocess.PIPE,
                                 stdout=subprocess.PIPE, text=True)
        owner = child.stdout.readline().strip()
        self.assertTrue(owner.startswith(":"))
        self.assertEqual(self.get_prop(path, DOMAIN_IFACE, "AutodestroyOwner"), owner)
        self.assertEqual(self.state(path)[0], "running")
        other = self.start_vm("keep", "3d0c6c1e-7a55-4b1e-9a53-7c9bd1a0c002")
        child.stdin.close()
        child.wait(timeout=10)
        t0 = time.monotonic()
        self.wait_state(path, "shutoff", "destroyed", timeout=5)
        self.assertLess(time.monotonic() - t0, 1.5)
        self.assertEqual(self.get_prop(path, DOMAIN_IFACE, "AutodestroyOwner"), "")
        self.assertEqual(self.state(other)[0], "running")  # not tied to that client
        self.domain(other, "Destroy", "u", (0,))


GUEST_DIR = os.environ.get("VB_TINY_GUEST", "")


class GuestTest(LifecycleTestCase):
    """With the tiny guest (tests/guest): the guest itself reacts."""

    def setUp(self):
        if not os.path.exists(os.path.join(GUEST_DIR, "vmlinux")):
            self.fail(f"the tiny guest is not built in {GUEST_DIR} (ninja -C BUILDDIR tiny-guest)")
        super().setUp()
        self.serial = os.path.join(self.tmp, "serial.log")

    def guest_xml(self, name, extra=""):
        with open(os.path.join(GUEST_DIR, "cmdline")) as f:
            cmdline = f.read().strip()
        return f"""<domain type='qemu'>
  <name>{name}</name>
  <memory unit='MiB'>128</memory>
  <vcpu>1</vcpu>
  {extra}
  <os>
    <type arch='x86_64' machine='q35'>hvm</type>
    <kernel>{GUEST_DIR}/vmlinux</kernel>
    <initrd>{GUEST_DIR}/initrd.img</initrd>
    <cmdline>{cmdline}</cmdline>
  </os>
  <devices>
    <serial type='file'>
      <source path='{self.serial}'/>
      <target port='0'/>
    </serial>
  </devices>
</domain>
"""

    def markers(self, what):
        try:
            with open(self.serial, errors="replace") as f:
                return f.read().count(what)
        except FileNotFoundError:
            return 0

    def test_acpi_shutdown(self):
        rec = SignalRecorder(self.conn)
        path = self.start_vm("guest", UUID1, xml=self.guest_xml("guest"))
        pid = self.pid_of("guest")
        eventually(lambda: self.markers("TINYGUEST: READY"), timeout=60, what="the guest")
        self.domain(path, "Shutdown", "u", (0,))
        self.wait_state(path, "shutoff", "shutdown", timeout=30)
        self.assertFalse(pid_alive(pid))
        self.assertEqual(self.markers("TINYGUEST: poweroff"), 1)
        rec.wait_for(lambda s: s[2] == "Lifecycle" and s[3] == ("shutdown", "finished"))
        rec.wait_for(lambda s: s[2] == "Lifecycle" and s[3] == ("stopped", "shutdown"))
        self.assertEqual(self.runtime_leftovers("guest"), [])

    def test_on_poweroff_restart(self):
        # the guest powers off, the domain's policy says restart: it boots again
        path = self.start_vm("guest", UUID1, xml=self.guest_xml(
            "guest", "<on_poweroff>restart</on_poweroff>"))
        pid = self.pid_of("guest")
        eventually(lambda: self.markers("TINYGUEST: READY"), timeout=60, what="the guest")
        self.domain(path, "Shutdown", "u", (0,))
        eventually(lambda: self.markers("TINYGUEST: READY") == 2, timeout=60,
                   what="the guest to boot again")
        self.assertEqual(self.markers("TINYGUEST: poweroff"), 1)
        self.assertEqual(self.state(path), ("running", "booted"))
        self.assertEqual(self.pid_of("guest"), pid)
        self.domain(path, "Destroy", "u", (0,))

    def test_on_poweroff_preserve(self):
        # preserve: the guest is off but QEMU stays, for inspection
        path = self.start_vm("guest", UUID1, xml=self.guest_xml(
            "guest", "<on_poweroff>preserve</on_poweroff>"))
        pid = self.pid_of("guest")
        eventually(lambda: self.markers("TINYGUEST: READY"), timeout=60, what="the guest")
        self.domain(path, "Shutdown", "u", (0,))
        self.wait_state(path, "paused", "shutdown", timeout=30)
        self.assertTrue(pid_alive(pid))
        time.sleep(0.5)  # nothing else must happen to it by itself
        self.assertEqual(self.state(path), ("paused", "shutdown"))
        self.assertTrue(pid_alive(pid))
        self.domain(path, "Destroy", "u", (0,))
        self.assertEqual(self.state(path), ("shutoff", "destroyed"))

    def test_fake_reboot_keeps_process(self):
        rec = SignalRecorder(self.conn)
        path = self.start_vm("guest", UUID1, xml=self.guest_xml("guest"))
        pid = self.pid_of("guest")
        dom_id = self.get_prop(path, DOMAIN_IFACE, "Id")
        eventually(lambda: self.markers("TINYGUEST: READY"), timeout=60, what="the guest")
        self.domain(path, "Reboot", "u", (0,))
        eventually(lambda: self.markers("TINYGUEST: READY") == 2, timeout=60,
                   what="the guest to boot a second time")
        rec.wait_for(lambda s: s[2] == "Lifecycle" and s[3][0] == "rebooted")
        self.assertEqual(self.state(path), ("running", "booted"))
        self.assertEqual(self.pid_of("guest"), pid)
        self.assertTrue(pid_alive(pid))
        self.assertEqual(self.get_prop(path, DOMAIN_IFACE, "Id"), dom_id)
        # and a real power-off afterwards still ends the run
        self.domain(path, "Shutdown", "u", (0,))
        self.wait_state(path, "shutoff", "shutdown", timeout=30)


if __name__ == "__main__":
    vbtest.main()
