# SPDX-License-Identifier: LGPL-2.1-or-later
"""Test harness: a private system-like dbus-daemon, the real virtbusd on
it with a temporary state root, and helpers to call it as a user would."""

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

from gi.repository import Gio, GLib

SRCDIR = os.environ.get("VB_SRCDIR", os.path.abspath(os.path.join(os.path.dirname(__file__), "../..")))
BUILDDIR = os.environ.get("VB_BUILDDIR", os.path.join(SRCDIR, "build"))
VIRTBUSD = os.path.join(BUILDDIR, "service", "virtbusd")
VIRTBUSCTL = os.path.join(BUILDDIR, "client", "virtbusctl")

BUS_NAME = "org.virtbus.Virt1"
MANAGER_PATH = "/org/virtbus/Virt1"
MANAGER_IFACE = "org.virtbus.Virt1.Manager"
DOMAIN_IFACE = "org.virtbus.Virt1.Domain"
ERR = "org.virtbus.Virt1.Error."

MINIMAL_XML = """<domain type='qemu'>
  <name>{name}</name>
  {uuid}
  <memory unit='MiB'>128</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='q35'>hvm</type>
  </os>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
  </devices>
</domain>
"""


def domain_xml(name, uuid=None):
    return MINIMAL_XML.format(name=name, uuid=f"<uuid>{uuid}</uuid>" if uuid else "")


def eventually(fn, timeout=10.0, interval=0.02, what="condition"):
    """Polls fn() until it returns a true value; returns it, or fails."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


class PrivateBus:
    def __init__(self, tmpdir):
        self.dir = os.path.join(tmpdir, "bus")
        os.makedirs(self.dir)
        os.chmod(tmpdir, 0o755)
        os.chmod(self.dir, 0o755)
        self.socket = os.path.join(self.dir, "system_bus_socket")
        with open(os.path.join(SRCDIR, "tests/bus/system.conf.in")) as f:
            conf = f.read()
        conf = conf.replace("@SOCKET@", self.socket).replace(
            "@POLICY@", os.path.join(SRCDIR, "data/org.virtbus.Virt1.conf"))
        self.conf = os.path.join(self.dir, "system.conf")
        with open(self.conf, "w") as f:
            f.write(conf)
        self.proc = subprocess.Popen(
            ["dbus-daemon", "--config-file", self.conf, "--nofork", "--print-address=1"],
            stdout=subprocess.PIPE, text=True)
        self.address = self.proc.stdout.readline().strip()
        if not self.address:
            raise RuntimeError("dbus-daemon did not start")

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)
        self.proc.stdout.close()


class Service:
    def __init__(self, bus, root, extra_args=(), env=None):
        self.bus = bus
        self.root = root
        self.log_path = os.path.join(root, "virtbusd.log")
        self.extra_args = list(extra_args)
        self.env = env
        self.proc = None

    def start(self, wait=True):
        env = dict(os.environ)
        env.update({"G_DEBUG": "fatal-criticals", "G_MESSAGES_DEBUG": "all"})
        if self.env:
            env.update(self.env)
        self.log = open(self.log_path, "a")
        cmd = list(os.environ.get("VB_WRAPPER", "").split()) + [
            VIRTBUSD, "--bus-address", self.bus.address, "--root", self.root] + self.extra_args
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT, env=env)
        if wait:
            conn = connect(self.bus.address)
            eventually(lambda: self.proc.poll() is not None or name_has_owner(conn, BUS_NAME),
                       timeout=60, what="virtbusd to own its name")
            if self.proc.poll() is not None:
                raise RuntimeError(f"virtbusd exited with {self.proc.returncode}:\n{self.read_log()}")
            conn.close_sync(None)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        rc = self.proc.returncode if self.proc else 0
        if self.proc:
            self.log.close()
        self.proc = None
        return rc

    def read_log(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""


def connect(address):
    return Gio.DBusConnection.new_for_address_sync(
        address,
        Gio.DBusConnectionFlags.AUTHENTICATION_CLIENT | Gio.DBusConnectionFlags.MESSAGE_BUS_CONNECTION,
        None, None)


def name_has_owner(conn, name):
    r = conn.call_sync("org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
                       "NameHasOwner", GLib.Variant("(s)", (name,)), GLib.VariantType("(b)"),
                       Gio.DBusCallFlags.NONE, 5000, None)
    return r.unpack()[0]


def kill_qemus_under(path):
    """SIGKILLs every process whose command line mentions @path."""
    needle = path.encode()
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmdline = f.read()
        except OSError:
            continue
        if needle in cmdline and b"qemu-system" in cmdline:
            try:
                os.kill(int(pid), signal.SIGKILL)
            except OSError:
                pass


class DBusCallError(Exception):
    def __init__(self, name, message):
        super().__init__(f"{name}: {message}")
        self.name = name
        self.message = message


class VirtbusTestCase(unittest.TestCase):
    """Each test gets its own bus, state root and virtbusd."""

    service_args = ()
    start_service = True

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="vbtest-")
        self.bus = PrivateBus(self.tmp)
        self.root = os.path.join(self.tmp, "root")
        os.makedirs(self.root)
        self.service = Service(self.bus, self.root, self.service_args)
        self.conn = None
        try:
            if self.start_service:
                self.service.start()
            self.conn = connect(self.bus.address)
        except BaseException:
            self.service.stop()
            sys.stderr.write(self.service.read_log()[-20000:])
            self.bus.stop()
            shutil.rmtree(self.tmp, ignore_errors=True)
            raise

    def tearDown(self):
        failed = self._outcome_failed()
        if self.conn is not None:
            self.conn.close_sync(None)
        rc = self.service.stop()
        # virtbusd leaves QEMU running when it stops (by design): end the
        # test's own guests, found by the state root in their command line
        kill_qemus_under(self.tmp)
        if failed or rc not in (0, None):
            sys.stderr.write(f"\n---- virtbusd log ({self.id()}, exit {rc}) ----\n")
            sys.stderr.write(self.service.read_log()[-20000:])
            sys.stderr.write("\n---- end of log ----\n")
        self.bus.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)
        if rc not in (0, None) and not failed:
            self.fail(f"virtbusd exited with status {rc}")

    def _outcome_failed(self):
        outcome = getattr(self, "_outcome", None)
        if outcome is None:
            return False
        result = getattr(outcome, "result", None)
        if result is None:
            return False
        for test, _ in list(result.failures) + list(result.errors):
            if test is self:
                return True
        return False

    # -- calling the service --
    def call(self, path, iface, method, sig=None, args=(), reply=None, conn=None, timeout=30000):
        conn = conn or self.conn
        params = GLib.Variant(f"({sig})", tuple(args)) if sig else None
        try:
            r = conn.call_sync(BUS_NAME, path, iface, method, params,
                               GLib.VariantType(reply) if reply else None,
                               Gio.DBusCallFlags.NONE, timeout, None)
        except GLib.Error as e:
            name = Gio.DBusError.get_remote_error(e) or str(e)
            message = e.message
            prefix = f"GDBus.Error:{name}: "
            if message.startswith(prefix):
                message = message[len(prefix):]
            raise DBusCallError(name, message) from None
        return r.unpack() if r is not None else None

    def manager(self, method, sig=None, args=(), **kw):
        r = self.call(MANAGER_PATH, MANAGER_IFACE, method, sig, args, **kw)
        return r[0] if r and len(r) == 1 else r

    def domain(self, path, method, sig=None, args=(), **kw):
        r = self.call(path, DOMAIN_IFACE, method, sig, args, **kw)
        return r[0] if r and len(r) == 1 else r

    def get_prop(self, path, iface, name, conn=None):
        return self.call(path, "org.freedesktop.DBus.Properties", "Get", "ss", (iface, name),
                         conn=conn)[0]

    def get_all(self, path, iface, conn=None):
        return self.call(path, "org.freedesktop.DBus.Properties", "GetAll", "s", (iface,),
                         conn=conn)[0]

    def set_prop(self, path, iface, name, value, conn=None):
        return self.call(path, "org.freedesktop.DBus.Properties", "Set", "ssv",
                         (iface, name, value), conn=conn)

    def managed_objects(self, conn=None):
        return self.call(MANAGER_PATH, "org.freedesktop.DBus.ObjectManager",
                         "GetManagedObjects", conn=conn)[0]

    def define(self, name, uuid=None, xml=None):
        return self.manager("DefineXML", "su", (xml or domain_xml(name, uuid), 0))

    def assertDBusError(self, name, fn, *args, **kw):
        with self.assertRaises(DBusCallError) as cm:
            fn(*args, **kw)
        self.assertEqual(cm.exception.name, ERR + name if "." not in name else name,
                         cm.exception.message)
        return cm.exception

    def run_cmd(self, argv, check=True, **kw):
        p = subprocess.run(argv, capture_output=True, text=True, timeout=60, **kw)
        if check and p.returncode != 0:
            self.fail(f"{argv!r} failed ({p.returncode}): {p.stderr}")
        return p


class CtlTestCase(VirtbusTestCase):
    """Runs the real virtbusctl against the test's service."""

    def setUp(self):
        super().setUp()
        self.procs = []

    def tearDown(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
            p.wait()
            for f in (p.stdout, p.stderr):
                if f is not None:
                    f.close()
        super().tearDown()

    def ctl(self, *args, check=True, **kw):
        return self.run_cmd([os.path.abspath(VIRTBUSCTL), "--address", self.bus.address, *args],
                            check=check, **kw)

    def ctl_background(self, *args, **kw):
        kw.setdefault("stdout", subprocess.PIPE)
        kw.setdefault("stderr", subprocess.PIPE)
        p = subprocess.Popen([os.path.abspath(VIRTBUSCTL), "--address", self.bus.address, *args],
                             text=True, **kw)
        self.procs.append(p)
        return p

    def assertFails(self, p, code, *fragments):
        self.assertEqual(p.returncode, code, f"stdout={p.stdout!r} stderr={p.stderr!r}")
        self.assertTrue(p.stderr.startswith("error: "), p.stderr)
        for f in fragments:
            self.assertIn(f, p.stderr)
        self.assertNotIn("GDBus.Error", p.stderr)


class SignalRecorder:
    """Records signals on a connection; wait with eventually()."""

    def __init__(self, conn, iface=None, member=None, path=None):
        self.conn = conn
        self.signals = []
        self.ctx = GLib.MainContext.default()
        self.sub = conn.signal_subscribe(BUS_NAME, iface, member, path, None,
                                         Gio.DBusSignalFlags.NONE, self._cb)

    def _cb(self, conn, sender, path, iface, member, params):
        self.signals.append((path, iface, member, params.unpack()))

    def pump(self):
        while self.ctx.iteration(False):
            pass
        return self.signals

    def wait_for(self, pred, timeout=10, what="signal"):
        return eventually(lambda: [s for s in self.pump() if pred(s)], timeout=timeout, what=what)

    def close(self):
        self.conn.signal_unsubscribe(self.sub)


def save_image_bytes(xml, compression=0, flags=2, body=b""):
    """A save image as virtbusd writes it (service/domain/domain-save-image.h):
    the 64-byte header, the XML NUL-padded to a 4 KiB boundary, then @body
    as the migration stream (raw, or zstd when compression=1)."""
    import struct
    raw = xml.encode() + b"\0"
    padded = ((64 + len(raw) + 4095) // 4096) * 4096 - 64
    head = struct.pack("<16sIIII32x", b"VirtbusSave1", 1, padded, flags, compression)
    return head + raw.ljust(padded, b"\0") + body
