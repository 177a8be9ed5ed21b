#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""QEMU's private /dev (issue 14, part devns; docs/confinement.md), with real QEMU, the tiny
guest and real loop devices: as root the default gives each QEMU a mount namespace of its
own whose /dev holds only the basic nodes; a loop device hot-plugged as a disk (directly and
through a symlink under /dev) is made in QEMU's /dev before QEMU opens it, the guest reads
it, and its node goes with the unplug; a cdrom's medium changes to a loop device after a
service restart (the status file remembers the private /dev); with namespaces=no QEMU sees
the host's /dev and a loop disk still works. Every loop device and link is removed, also
when a test fails."""

import os
import shutil
import stat
import subprocess
import tempfile
import time

import vbtest
from test_console import Reader, open_stream
from test_hotplug import INACTIVE, LIVE, HotplugTestCase
from vbtest import SignalRecorder, eventually

DOMAIN_IFACE = "org.virtbus.Virt1.Domain"
BASIC = ["fd", "full", "null", "ptmx", "pts", "random", "shm", "stderr", "stdin", "stdout",
         "tty", "urandom", "zero"]


def block_disk_xml(dev, target="vdb"):
    return (f"<disk type='block' device='disk'><driver name='qemu' type='raw'/>"
            f"<source dev='{dev}'/><target dev='{target}' bus='virtio'/></disk>")


class DevnsTestCase(HotplugTestCase):
    settings = ""

    def setUp(self):
        if os.geteuid() != 0:
            self.fail("QEMU's private /dev and loop devices need root")
        if shutil.which("losetup") is None:
            self.fail("losetup (util-linux) is missing")
        self.cfgdir = tempfile.mkdtemp(prefix="vbtest-cfg-")
        self.addCleanup(shutil.rmtree, self.cfgdir, True)
        cfg = os.path.join(self.cfgdir, "virtbusd.conf")
        with open(cfg, "w") as f:
            f.write("[virtbusd]\n" + self.settings)
        self.service_args = ("--config", cfg)
        super().setUp()

    def loop(self, name, head):
        """A loop device over a 1 MiB image whose first sector holds @head; detached at
        the end of the test whatever happens."""
        img = self.image(name, 1 << 20, head)
        dev = subprocess.run(["losetup", "-f", "--show", img], check=True,
                             capture_output=True, text=True).stdout.strip()
        self.addCleanup(subprocess.run, ["losetup", "-d", dev], capture_output=True)
        self.assertTrue(dev.startswith("/dev/loop"), dev)
        return dev

    def host_link(self, target):
        """A symlink under the host's /dev (as /dev/disk/by-id/... are) to @target."""
        link = f"/dev/vbtest-devns-{os.getpid()}-{time.monotonic_ns()}"
        os.symlink(os.path.basename(target), link)
        self.addCleanup(lambda: os.path.lexists(link) and os.unlink(link))
        return link

    def qemu_pid(self, name):
        with open(os.path.join(self.root, "run/virtbus/qemu", f"{name}.pid")) as f:
            return int(f.read().strip())

    def qemu_dev(self, pid, rel=""):
        return sorted(os.listdir(os.path.join(f"/proc/{pid}/root/dev", rel)))

    def status_text(self, name):
        found = []
        for d, _, files in os.walk(self.root):
            found += [os.path.join(d, f) for f in files if f == f"{name}.xml" and
                      "<domstatus" in open(os.path.join(d, f)).read(200)]
        self.assertEqual(len(found), 1, found)
        with open(found[0]) as f:
            return f.read()

    def assert_same_node(self, pid, dev):
        host = os.stat(dev)
        inside = os.lstat(f"/proc/{pid}/root{dev}")
        self.assertTrue(stat.S_ISBLK(inside.st_mode), oct(inside.st_mode))
        self.assertEqual(inside.st_rdev, host.st_rdev)
        self.assertEqual((inside.st_uid, inside.st_gid), (host.st_uid, host.st_gid))
        self.assertEqual(stat.S_IMODE(inside.st_mode), stat.S_IMODE(host.st_mode))

    def attach_block(self, path, reader, dev, mark):
        start = len(reader.pump(0))
        self.domain(path, "AttachDevice", "su", (block_disk_xml(dev), LIVE), timeout=60000)
        self.guest_marker(reader, rb"TINYGUEST: disk added (\w+) head=" + mark.encode() +
                          rb"\r?\n", start)

    def detach_block(self, path, reader, dev, rec):
        start = len(reader.pump(0))
        self.domain(path, "DetachDevice", "su", (block_disk_xml(dev), LIVE), timeout=60000)
        rec.wait_for(lambda s: s[2] == "DeviceRemoved" and s[3] == ("virtio-disk1",),
                     timeout=30, what="DeviceRemoved")
        self.guest_marker(reader, rb"TINYGUEST: disk removed vda\r?\n", start)


class DefaultPrivateDevTest(DevnsTestCase):
    def test_hotplug_loop_disk(self):
        path, sock, reader = self.start_guest("dn1")
        pid = self.qemu_pid("dn1")
        rec = SignalRecorder(self.conn, DOMAIN_IFACE, None, path)
        self.addCleanup(rec.close)
        # the default as root: a namespace of its own, only the basic nodes
        self.assertNotEqual(os.readlink(f"/proc/{pid}/ns/mnt"),
                            os.readlink("/proc/self/ns/mnt"))
        self.assertEqual(self.qemu_dev(pid), BASIC)
        self.assertIn("<namespace dev='private'/>", self.status_text("dn1"))

        dev = self.loop("dn1.raw", b"DEVNS-LOOP-A\n")
        name = os.path.basename(dev)
        self.attach_block(path, reader, dev, "DEVNS-LOOP-A")
        self.assertEqual(self.qemu_dev(pid), sorted(BASIC + [name]))
        self.assert_same_node(pid, dev)
        self.assertIn(f"<source dev='{dev}'/>", self.domain(path, "GetXMLDesc", "u", (0,)))
        # the unplug takes the node away again
        self.detach_block(path, reader, dev, rec)
        eventually(lambda: self.qemu_dev(pid) == BASIC, timeout=15,
                   what=f"{name} gone from QEMU's /dev")
        self.assertTrue(os.path.exists(dev), "the host's node must stay")

        # through a link under /dev (as /dev/disk/by-id/...): the link and its target
        dev2 = self.loop("dn1b.raw", b"DEVNS-LOOP-B\n")
        link = self.host_link(dev2)
        lname = os.path.basename(link)
        self.attach_block(path, reader, link, "DEVNS-LOOP-B")
        self.assertEqual(self.qemu_dev(pid), sorted(BASIC + [lname, os.path.basename(dev2)]))
        self.assertEqual(os.readlink(f"/proc/{pid}/root{link}"), os.path.basename(dev2))
        self.assert_same_node(pid, dev2)
        self.detach_block(path, reader, link, rec)
        eventually(lambda: self.qemu_dev(pid) == BASIC, timeout=15,
                   what="the link and its node gone from QEMU's /dev")

        # QEMU refuses the node (not a vpc image): a named error, the node made for it
        # leaves QEMU's /dev again
        err = self.assertDBusError("Qemu", self.domain, path, "AttachDevice", "su",
                                   (block_disk_xml(dev).replace("type='raw'", "type='vpc'"),
                                    LIVE), timeout=60000)
        self.assertIn("blockdev-add", err.message)
        self.assertEqual(self.qemu_dev(pid), BASIC)

        # a source that is not on the host: a named error, nothing attached
        err = self.assertDBusError("InvalidArgument", self.domain, path, "AttachDevice", "su",
                                   (block_disk_xml("/dev/vbtest-devns-missing"), LIVE))
        self.assertIn("/dev/vbtest-devns-missing", err.message)
        self.assertNotIn("vdb", self.domain(path, "GetXMLDesc", "u", (0,)))
        self.assertEqual(self.qemu_dev(pid), BASIC)
        self.domain(path, "Destroy", "u", (0,))

    def test_restart_then_cdrom_and_hotplug(self):
        a = self.image("a.iso", 1 << 20, b"MEDIUM-AAAA\n")
        cdrom = ("<controller type='scsi' model='virtio-scsi'/>"
                 "<disk type='file' device='cdrom'><driver name='qemu' type='raw'/>"
                 f"<source file='{a}'/><target dev='sda' bus='scsi'/><readonly/></disk>")
        path, sock, reader = self.start_guest("dn2", cdrom)
        pid = self.qemu_pid("dn2")
        self.assertEqual(self.qemu_dev(pid), BASIC)

        # the service restarts: it reconnects and still knows QEMU's /dev is private
        sock.close()
        self.conn.close_sync(None)
        self.assertEqual(self.service.stop(), 0)
        self.service.start()
        self.conn = vbtest.connect(self.bus.address)
        eventually(lambda: self.get_prop(path, DOMAIN_IFACE, "State") == "running",
                   timeout=30, what="the domain running after the reconnect")
        self.assertEqual(self.qemu_pid("dn2"), pid)
        self.assertIn("<namespace dev='private'/>", self.status_text("dn2"))

        # a cdrom medium on a loop device
        dev = self.loop("dn2.iso", b"MEDIUM-LOOP\n")
        name = os.path.basename(dev)
        blk = ("<disk type='block' device='cdrom'><driver name='qemu' type='raw'/>"
               f"<source dev='{dev}'/><target dev='sda' bus='scsi'/><readonly/></disk>")
        self.domain(path, "UpdateDevice", "su", (blk, LIVE), timeout=60000)
        self.assertIn(f"<source dev='{dev}'", self.domain(path, "GetXMLDesc", "u", (0,)))
        self.assertIn(a, self.domain(path, "GetXMLDesc", "u", (INACTIVE,)))
        self.assertEqual(self.qemu_dev(pid), sorted(BASIC + [name]))
        self.assert_same_node(pid, dev)
        blocks = [b for b in self.qmp(path, "query-block") if b.get("inserted")]
        self.assertIn(dev, [b["inserted"]["file"] for b in blocks], blocks)
        # back to the file: the loop node leaves QEMU's /dev
        self.domain(path, "UpdateDevice", "su", ("<disk" + cdrom.split("<disk", 1)[1], LIVE),
                    timeout=60000)
        eventually(lambda: self.qemu_dev(pid) == BASIC, timeout=15,
                   what=f"{name} gone from QEMU's /dev after the medium change")

        # and a disk hot-plug after the restart: made in QEMU's /dev, read by the guest
        sock, reader = open_console(self, path)
        dev2 = self.loop("dn2b.raw", b"DEVNS-LOOP-C\n")
        self.attach_block(path, reader, dev2, "DEVNS-LOOP-C")
        self.assertEqual(self.qemu_dev(pid), sorted(BASIC + [os.path.basename(dev2)]))
        self.assert_same_node(pid, dev2)
        self.domain(path, "Destroy", "u", (0,))


def open_console(tc, path):
    sock = open_stream(tc.conn, path, "OpenConsole", ("s", ""))
    tc.addCleanup(sock.close)
    reader = Reader(sock)
    return sock, reader


class NamespacesOffTest(DevnsTestCase):
    settings = "namespaces=no\n"

    def test_host_dev(self):
        path, sock, reader = self.start_guest("dn3")
        pid = self.qemu_pid("dn3")
        self.assertEqual(os.readlink(f"/proc/{pid}/ns/mnt"), os.readlink("/proc/self/ns/mnt"))
        self.assertNotIn("<namespace", self.status_text("dn3"))
        dev = self.loop("dn3.raw", b"DEVNS-LOOP-D\n")
        self.attach_block(path, reader, dev, "DEVNS-LOOP-D")
        # QEMU's /dev is the host's: every host node is there
        self.assertIn("loop-control", self.qemu_dev(pid))
        self.assertIn(os.path.basename(dev), self.qemu_dev(pid))
        self.domain(path, "Destroy", "u", (0,))


if __name__ == "__main__":
    vbtest.main()
