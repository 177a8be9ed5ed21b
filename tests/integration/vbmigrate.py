# SPDX-License-Identifier: LGPL-2.1-or-later
"""What the migration tests share (test_migration*.py, test_client_migrate.py,
test_polkit.py): libvirt's flag values, the tiny guest's XML, a second
virtbus host on this machine (its own private bus, state root, host UUID
and virtbusd), qemu-ga over its socket, and the checks every migration test
makes (state and reason, no job left, the guest ticking on without a new
boot). The helpers take the test case and a connection, so they serve the
two-service tests (vbtest) and the namespace hosts (vbhosts) alike."""

import json
import os
import socket
import sys
import time

import vbtest
from vbtest import (DOMAIN_IFACE, ERR, MANAGER_IFACE, MANAGER_PATH, DBusCallError, GLib,
                    eventually)

GUEST_DIR = os.environ.get("VB_TINY_GUEST", "")
JOB_IFACE = "org.virtbus.Virt1.Job"
PROPS_IFACE = "org.freedesktop.DBus.Properties"
UUID = "6a3e1e0e-4d7e-4b8a-9f51-3c2f0d6b7a01"

# libvirt's virDomainMigrateFlags
LIVE, P2P, TUNNELLED, PERSIST_DEST, UNDEFINE_SOURCE, PAUSED = 1, 2, 4, 8, 16, 32
NON_SHARED_DISK, NON_SHARED_INC, OFFLINE = 64, 128, 1024
POSTCOPY, PARALLEL, SYNC_WRITES = 32768, 131072, 1 << 18


def require_guest(tc):
    """Fails @tc when the tiny guest is not built."""
    if not os.path.exists(os.path.join(GUEST_DIR, "vmlinux")):
        tc.fail(f"the tiny guest is not built in {GUEST_DIR} (ninja -C BUILDDIR tiny-guest)")


def guest_xml(name="vm1", uuid=None, serial=None, extra_cmdline="", memory=128, tick=True,
              devices="", features=""):
    """The tiny guest's definition: its kernel and initrd, a 1 Hz serial tick
    (tgtick) into the file @serial, and @devices (and <features> children
    @features) added as they are."""
    with open(os.path.join(GUEST_DIR, "cmdline")) as f:
        cmdline = f.read().strip()
    args = " ".join(a for a in (cmdline, "tgtick" if tick else "", extra_cmdline) if a)
    uuid_elem = f"\n  <uuid>{uuid}</uuid>" if uuid else ""
    features_elem = f"\n  <features>{features}</features>" if features else ""
    serial_elem = f"""
    <serial type='file'>
      <source path='{serial}' append='on'/>
      <target port='0'/>
    </serial>""" if serial else ""
    return f"""<domain type='qemu'>
  <name>{name}</name>{uuid_elem}
  <memory unit='MiB'>{memory}</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='q35'>hvm</type>
    <kernel>{GUEST_DIR}/vmlinux</kernel>
    <initrd>{GUEST_DIR}/initrd.img</initrd>
    <cmdline>{args}</cmdline>
  </os>{features_elem}
  <devices>{serial_elem}{devices}
  </devices>
</domain>
"""


def read_text(path):
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except FileNotFoundError:
        return ""


def port_free(port):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        s.bind(("0.0.0.0", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


# -- checks on one service, through @conn (None: the test case's own) --

def props(tc, path, conn=None):
    return tc.call(path, PROPS_IFACE, "GetAll", "s", (DOMAIN_IFACE,), conn=conn)[0]


def state(tc, path, conn=None):
    p = props(tc, path, conn=conn)
    return p["State"], p["StateReason"]


def wait_job(tc, job, conn=None, timeout=120):
    return tc.call(job, JOB_IFACE, "Wait", conn=conn, timeout=timeout * 1000)[0]


def assert_no_job(tc, path, conn=None):
    """No job on the domain: none on the bus, no async job inside."""
    tc.assertEqual(props(tc, path, conn=conn)["Job"], "/")
    info = tc.call(path, DOMAIN_IFACE, "GetControlInfo", conn=conn)[0]
    tc.assertEqual(info.get("async_job", ""), "", info)


def assert_ticks_on(tc, serial, timeout=90):
    """The guest writing to @serial ticks on, without a new boot."""
    n = read_text(serial).count("TINYGUEST: tick")
    eventually(lambda: read_text(serial).count("TINYGUEST: tick") >= n + 2, timeout=timeout,
               what="the guest to tick on")
    tc.assertEqual(read_text(serial).count("TINYGUEST: READY"), 1, "the guest booted again")


def wait_booted(serial, timeout=60):
    try:
        eventually(lambda: "TINYGUEST: tick 1" in read_text(serial), timeout=timeout,
                   what="the guest")
    except AssertionError as e:
        # what the guest printed (nothing, a panic, a boot cut short) tells why
        raise AssertionError(f"{e}\n---- {serial}, last 3000 characters ----\n"
                             f"{read_text(serial)[-3000:]}") from None


class SecondHost:
    """Another virtbus host on this machine: a private bus, a state root and
    a virtbusd of its own (its own host UUID), below @tmp/@name."""

    def __init__(self, tmp, name="hostb"):
        self.dir = os.path.join(tmp, name)
        os.makedirs(self.dir)
        self.bus = vbtest.PrivateBus(self.dir)
        self.root = os.path.join(self.dir, "root")
        os.makedirs(self.root)
        self.service = vbtest.Service(self.bus, self.root)
        self.conn = None

    @property
    def address(self):
        return self.bus.address

    def start(self):
        try:
            self.service.start()
            self.conn = vbtest.connect(self.bus.address)
        except BaseException:
            self.service.stop(check=False)
            self.bus.stop()
            raise

    def reconnect(self):
        self.conn = vbtest.connect(self.bus.address)
        return self.conn

    def stop(self, tc, show_log=False):
        """Destroys what runs there, stops the service and the bus; returns
        the problems met (and prints the log when there were any)."""
        problems = []
        if self.conn is not None and not self.conn.is_closed():
            self.conn.close_sync(None)
        if self.service.running():
            conn = vbtest.connect(self.bus.address)
            try:
                for path in tc.call(MANAGER_PATH, MANAGER_IFACE, "ListDomains", "u", (1,),
                                    conn=conn)[0]:
                    try:
                        tc.call(path, DOMAIN_IFACE, "Destroy", "u", (0,), conn=conn)
                    except DBusCallError as e:
                        if e.name not in (ERR + "OperationInvalid", ERR + "NoDomain"):
                            problems.append(f"Destroy of {path} on {self.dir}: {e}")
            except DBusCallError as e:
                problems.append(f"ListDomains on {self.dir}: {e}")
            finally:
                conn.close_sync(None)
        self.service.stop(check=False)
        problems += self.service.problems
        if problems or show_log:
            sys.stderr.write(f"\n---- {self.dir}'s virtbusd log ----\n" +
                             self.service.read_log()[-20000:])
        self.bus.stop()
        return problems


class QgaError(Exception):
    pass


def qga_call(sock_path, commands, timeout=20):
    """Connects to qemu-ga's socket, synchronises (guest-sync-delimited) and
    runs @commands; returns their "return" values."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    deadline = time.monotonic() + timeout
    try:
        s.connect(sock_path)
        buf = b""

        def read_reply():
            nonlocal buf
            while b"\n" not in buf:
                if time.monotonic() > deadline:
                    raise QgaError(f"no reply from qemu-ga (got {buf!r})")
                chunk = s.recv(4096)
                if not chunk:
                    raise QgaError("qemu-ga's socket closed")
                buf += chunk
            line, buf = buf.split(b"\n", 1)
            return line

        sync_id = int(time.monotonic() * 1000) % 1000000 + 1
        s.sendall(json.dumps({"execute": "guest-sync-delimited",
                              "arguments": {"id": sync_id}}).encode() + b"\n")
        while True:
            line = read_reply()
            # the reply of the delimited sync starts with 0xff; skip what
            # an earlier client left behind
            line = line.rsplit(b"\xff", 1)[-1].strip()
            if not line:
                continue
            try:
                if json.loads(line).get("return") == sync_id:
                    break
            except ValueError:
                continue
        results = []
        for cmd in commands:
            s.sendall(json.dumps({"execute": cmd}).encode() + b"\n")
            reply = json.loads(read_reply())
            if "return" not in reply:
                raise QgaError(f"{cmd}: {reply}")
            results.append(reply["return"])
        return results
    finally:
        s.close()


class MigrationTestCase(vbtest.VirtbusTestCase):
    """Host A is the harness's own service; host B a second bus and service."""

    def setUp(self):
        require_guest(self)
        super().setUp()
        self.host_b = SecondHost(self.tmp)
        try:
            self.host_b.start()
        except BaseException:
            super().tearDown()
            raise
        self.bus_b = self.host_b.bus
        self.root_b = self.host_b.root
        self.service_b = self.host_b.service
        self.serial = os.path.join(self.tmp, "serial.log")
        self.clients = []

    @property
    def conn_b(self):
        return self.host_b.conn

    @conn_b.setter
    def conn_b(self, conn):
        self.host_b.conn = conn

    def tearDown(self):
        for p in self.clients:
            if p.poll() is None:
                p.kill()
            p.wait()
        problems = self.host_b.stop(self, show_log=self._outcome_failed())
        super().tearDown()
        if problems:
            self.fail("host B: " + "\n".join(problems))

    # -- helpers --
    def b(self, path, iface, method, sig=None, args=(), **kw):
        r = self.call(path, iface, method, sig, args, conn=self.conn_b, **kw)
        return r[0] if r and len(r) == 1 else r

    def guest_xml(self, extra_cmdline="", memory=128, name="vm1", uuid=None, devices=""):
        return guest_xml(name, uuid or UUID, self.serial, extra_cmdline, memory,
                         devices=devices)

    def text(self):
        return read_text(self.serial)

    def ticks(self):
        return self.text().count("TINYGUEST: tick")

    def start_guest(self, persistent=True, **kw):
        xml = self.guest_xml(**kw)
        if persistent:
            path = self.manager("DefineXML", "su", (xml, 0))
            self.domain(path, "Start", "u", (0,))
        else:
            path = self.manager("CreateXML", "su", (xml, 0))
        wait_booted(self.serial)
        return path

    def props(self, path, conn=None):
        return props(self, path, conn=conn)

    def state(self, path, conn=None):
        return state(self, path, conn=conn)

    def wait_job(self, job, conn=None, timeout=120):
        return wait_job(self, job, conn=conn, timeout=timeout)

    def begin(self, path, flags=LIVE, xml=""):
        xml_out, cookie = self.domain(path, "MigrateBegin", "su", (xml, flags))
        return xml_out, bytes(cookie)

    def prepare(self, xml, cookie, flags=LIVE, uri="tcp://127.0.0.1"):
        cookie2, uri_out, dpath = self.b(MANAGER_PATH, MANAGER_IFACE, "MigratePrepare", "saysu",
                                         (xml, cookie, uri, flags))
        return bytes(cookie2), uri_out, dpath

    def migrate_client_driven(self, path, flags=LIVE, params=None):
        xml, c1 = self.begin(path, flags)
        c2, uri, dpath = self.prepare(xml, c1, flags)
        job = self.domain(path, "MigratePerform", "aysa{sv}u", (c2, uri, params or {}, flags))
        res = self.wait_job(job)
        c3 = bytes(res["cookie"])
        dpath2, c4 = self.b(MANAGER_PATH, MANAGER_IFACE, "MigrateFinish", "ayub",
                            (c3, flags, False))
        self.assertEqual(dpath2, dpath)
        self.domain(path, "MigrateConfirm", "ayub", (bytes(c4), flags, False))
        return dpath, job

    def slow_perform(self, path, flags=LIVE, bandwidth=1):
        """Begin, Prepare and Perform at @bandwidth MiB/s, until data moves:
        the transfer lasts. Returns the Begin cookie, the job and B's domain."""
        xml, c1 = self.begin(path, flags)
        c2, uri, dpath = self.prepare(xml, c1, flags)
        job = self.domain(path, "MigratePerform", "aysa{sv}u",
                          (c2, uri, {"bandwidth": GLib.Variant("t", bandwidth)}, flags))
        eventually(lambda: self.get_prop(job, JOB_IFACE, "DataProcessed") > 0, timeout=30,
                   what="data to move")
        return c1, job, dpath

    def restart_source(self, path):
        """Stops and starts host A's service; waits for @path to run again."""
        self.conn.close_sync(None)
        self.service.stop()
        self.service.start()
        self.conn = vbtest.connect(self.bus.address)
        eventually(lambda: self.state(path)[0] == "running", timeout=20,
                   what="the source to run again")

    def qemu_pid(self, root):
        pids = vbtest.status_pids(root)
        self.assertEqual(len(pids), 1, pids)
        return pids.pop()

    def assert_no_job(self, path, conn=None):
        assert_no_job(self, path, conn=conn)

    def assert_guest_runs_on(self, conn, path):
        """The guest ticks on (without a new boot) on the domain at @path."""
        self.assertEqual(self.state(path, conn=conn)[0], "running")
        assert_ticks_on(self, self.serial)

