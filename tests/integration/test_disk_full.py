# SPDX-License-Identifier: LGPL-2.1-or-later
"""Disk full and read-only state root (issue 14, crash anywhere; docs/reliability.md).

The test process enters a private mount namespace (it runs as root) and puts the state
root of its virtbusd on a small tmpfs. With the tmpfs full, then remounted read-only:
define and save fail with org.virtbus.Virt1.Error.IO naming the cause ("No space left on
device", "Read-only file system"); the previous config is untouched; no temporary or
partial file stays; a running domain keeps running; its status file, which could not be
written, is written again at its next change once the space is back (a restarted service
then finds the domain in the right state)."""

import ctypes
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from test_lifecycle import LifecycleTestCase  # noqa: E402
import vbtest  # noqa: E402
from vbtest import DOMAIN_IFACE, connect, domain_xml  # noqa: E402

U1 = "5e2d7c1b-3a4f-4b6e-9c8d-7a6b5c4d3e01"
U2 = "5e2d7c1b-3a4f-4b6e-9c8d-7a6b5c4d3e02"
U3 = "5e2d7c1b-3a4f-4b6e-9c8d-7a6b5c4d3e03"
JOB_IFACE = "org.virtbus.Virt1.Job"
TEMP_RE = re.compile(r"^\..+\.(?:vbpart-)?[A-Za-z0-9]{6}$")
CLONE_NEWNS = 0x00020000


def private_mount_namespace():
    """Moves this process into a mount namespace of its own (once)."""
    if getattr(private_mount_namespace, "done", False):
        return
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(CLONE_NEWNS) != 0:
        raise OSError(ctypes.get_errno(), "unshare(CLONE_NEWNS)")
    subprocess.run(["mount", "--make-rprivate", "/"], check=True)
    private_mount_namespace.done = True


class DiskFullTest(LifecycleTestCase):
    start_service = False

    def setUp(self):
        if os.geteuid() != 0:
            self.skipTest("needs root (a mount namespace and a tmpfs)")
        private_mount_namespace()
        super().setUp()
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m,mode=0755", "vbtest-full",
                        self.root], check=True)
        # after tearDown (which removes what it can of self.tmp): unmount, remove the rest
        self.addCleanup(subprocess.run, ["rm", "-rf", self.tmp])
        self.addCleanup(subprocess.run, ["umount", "-R", "-l", self.root])
        self.saves = os.path.join(self.root, "saves")
        os.makedirs(self.saves)
        self.service.start()

    def fill(self):
        """Fills the tmpfs; returns the filler's path."""
        filler = os.path.join(self.root, "filler")
        fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            for size in (1 << 20, 4096, 1):   # the last bytes, page by page
                try:
                    while True:
                        os.write(fd, b"\0" * size)
                except OSError:
                    pass
        finally:
            os.close(fd)
        return filler

    def temp_files(self):
        found = []
        for dirpath, _, files in os.walk(self.root):
            found += [os.path.join(dirpath, f) for f in files if TEMP_RE.search(f)]
        return found

    def config(self, name):
        with open(os.path.join(self.root, "etc/virtbus/qemu", name + ".xml"), "rb") as f:
            return f.read()

    def status(self, name):
        with open(os.path.join(self.run_dir(), name + ".xml")) as f:
            return re.search(r"<domstatus\b[^>]*\bstate='(\w+)'", f.read()).group(1)

    def check_writes_fail(self, path, cause):
        """With the state root unwritable (@cause is strerror()): every write fails with
        a named error and leaves the old files as they were."""
        old_config = self.config("vm1")
        # define of a new domain, redefine of the running one
        e = self.assertDBusError("IO", self.define, "vm2", U2)
        sys.stderr.write(f"DefineXML with '{cause}': {e.name}: {e.message}\n")
        self.assertIn(cause, e.message)
        self.assertIn("/etc/virtbus/qemu/vm2.xml'", e.message)  # not the temporary file
        self.assertFalse(os.path.exists(os.path.join(self.root, "etc/virtbus/qemu/vm2.xml")))
        xml = domain_xml("vm1", U1).replace("<vcpu>", "<description>new</description><vcpu>")
        e = self.assertDBusError("IO", self.define, "vm1", xml=xml)
        self.assertIn(cause, e.message)
        self.assertEqual(self.config("vm1"), old_config)
        # a save image on the full file system: the job fails, the domain runs on
        image = os.path.join(self.saves, "vm1.save")
        job = self.domain(path, "Save", "ssu", (image, "", 0))
        e = self.assertDBusError("IO", self.call, job, JOB_IFACE, "Wait", timeout=120000)
        sys.stderr.write(f"Save with '{cause}': {e.name}: {e.message}\n")
        self.assertIn(image, e.message)
        self.assertIn(cause, e.message)
        self.assertEqual(self.state(path)[0], "running")
        self.assertFalse(os.path.exists(image))
        # a start whose status cannot be written: a named error, nothing left running
        p3 = self.path_vm3
        with self.assertRaises(vbtest.DBusCallError) as cm:
            self.domain(p3, "Start", "u", (0,), timeout=60000)
        e = cm.exception
        sys.stderr.write(f"Start with '{cause}': {e.name}: {e.message}\n")
        self.assertTrue(e.name.startswith(vbtest.ERR), e.name)
        self.assertNotIn(e.name, (vbtest.ERR + "Failed", vbtest.ERR + "Internal"), e.message)
        self.assertIn(cause, e.message)
        self.assertEqual(self.state(p3)[0], "shutoff")
        self.assertEqual(len(vbtest.qemus_under(self.tmp)), 1)
        # a state change whose status cannot be written: done, the domain stays usable
        self.domain(path, "Suspend")
        self.assertEqual(self.state(path), ("paused", "user"))
        self.assertEqual(self.status("vm1"), "running")  # the stale one
        self.assertEqual(self.temp_files(), [])
        self.assertIn("cannot", self.service.read_log())

    def check_space_back(self, path):
        # the next change writes the status again
        self.domain(path, "Resume")
        self.assertEqual(self.status("vm1"), "running")
        self.domain(path, "Suspend")
        self.assertEqual(self.status("vm1"), "paused")
        # a restarted service finds it as it is
        self.conn.close_sync(None)
        self.service.stop()
        self.service.start()
        self.conn = connect(self.bus.address)
        self.assertEqual(self.state(path), ("paused", "user"))
        self.domain(path, "Resume")
        self.define("vm2", U2)
        self.assertEqual(self.temp_files(), [])

    def test_disk_full(self):
        path = self.start_vm("vm1", U1)
        self.path_vm3 = self.define("vm3", U3)
        pid = self.pid_of("vm1")
        filler = self.fill()
        self.check_writes_fail(path, "No space left on device")
        os.unlink(filler)
        self.assertEqual(self.pid_of("vm1"), pid)
        self.check_space_back(path)

    def test_read_only_root(self):
        path = self.start_vm("vm1", U1)
        self.path_vm3 = self.define("vm3", U3)
        # the config, run and save directories read-only: read-only bind mounts of
        # themselves (a remount of the whole tmpfs would be refused, QEMU's log is open)
        dirs = [os.path.join(self.root, d) for d in ("etc", "run", "saves")]
        for d in dirs:
            subprocess.run(["mount", "--bind", d, d], check=True)
            subprocess.run(["mount", "-o", "remount,bind,ro", d], check=True)
        try:
            self.check_writes_fail(path, "Read-only file system")
        finally:
            for d in dirs:
                subprocess.run(["umount", d], check=True)
        time.sleep(0.1)
        self.check_space_back(path)


if __name__ == "__main__":
    vbtest.main()
