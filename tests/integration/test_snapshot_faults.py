#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Snapshots on a full disk (issue 15), with the real virtbusd, QEMU and the tiny guest.

The test process enters a private mount namespace (it runs as root) and puts the guest's
qcow2 disk on a small tmpfs. The guest fills 96 MiB of its memory with random data, so a
live internal snapshot (memory into the image) cannot fit: the snapshot's job fails with
org.virtbus.Virt1.Error.IO (QEMU 7.2 reports the failed VM state write as an I/O error), the guest runs again, no
snapshot metadata is written, the image has no corruption (QEMU leaves the clusters of
the partial VM state leaked). With the file system full, an
external snapshot's overlay cannot be made: IO again, no file left, the disk's source
unchanged. Once space is back, both kinds work.
"""

import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(__file__))
import vbtest  # noqa: E402
from vbtest import eventually  # noqa: E402
from test_disk_full import private_mount_namespace  # noqa: E402
from test_snapshot_live import GuestDiskMixin  # noqa: E402


class SnapshotDiskFullTest(GuestDiskMixin, vbtest.CtlTestCase):
    def setUp(self):
        if os.geteuid() != 0:
            self.skipTest("needs root (a mount namespace and a tmpfs)")
        private_mount_namespace()
        super().setUp()
        self.small = os.path.join(self.tmp, "small")
        os.makedirs(self.small)
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=48m,mode=0755", "vbtest-snapfull",
                        self.small], check=True)
        self.addCleanup(subprocess.run, ["umount", "-l", self.small])
        self.disk = os.path.join(self.small, "live.qcow2")
        self.run_cmd(["qemu-img", "create", "-q", "-f", "qcow2", self.disk, "16M"])

    def source(self, path):
        xml = self.domain(path, "GetXMLDesc", "u", (0,))
        return xml.split("<source file='", 1)[1].split("'", 1)[0]

    def corruptions(self):
        p = subprocess.run(["qemu-img", "check", "-U", "--output=json", self.disk],
                           capture_output=True, text=True)
        return json.loads(p.stdout).get("corruptions", 0)

    def fill_up(self):
        filler = os.path.join(self.small, "filler")
        subprocess.run(["dd", "if=/dev/zero", f"of={filler}", "bs=1M"], capture_output=True)
        return filler

    def test_full_disk(self):
        path = self.manager("DefineXML", "su", (self.guest_xml(256, " tgfillmem=96"), 0))
        self.domain(path, "Start", "u", (0,))
        eventually(lambda: "TINYGUEST: filled 96 MiB" in self.text() and
                   max(self.numbers("tick"), default=0) >= 2, timeout=120,
                   what="the guest to fill its memory")
        # the memory does not fit on the disk's file system: IO, the guest runs on
        e = self.assertDBusError("IO", self.snapshot_create, path,
                                 "<domainsnapshot><name>big</name></domainsnapshot>")
        # QEMU 7.2 says EIO for the vmstate write that hit ENOSPC
        self.assertRegex(e.message, r"writing VM state: (No space left|Input/output error)")
        eventually(lambda: self.state(path) == ("running", "unpaused"), timeout=30,
                   what="the guest running again")
        mark = len(self.text())
        eventually(lambda: len(self.numbers("tick", mark)) >= 2, timeout=30,
                   what="the guest to count on")
        self.assertEqual(self.domain(path, "ListSnapshots", "u", (0,)), [])
        self.assertEqual(self.corruptions(), 0)

        # a full file system: an external snapshot's overlay cannot be made
        filler = self.fill_up()
        e = self.assertDBusError("IO", self.snapshot_create, path,
                                 "<domainsnapshot><name>ext</name></domainsnapshot>", 16)
        self.assertIn("No space left on device", e.message)
        self.assertFalse(os.path.exists(os.path.join(self.small, "live.ext")))
        self.assertEqual(self.source(path), self.disk)
        self.assertEqual(self.domain(path, "ListSnapshots", "u", (0,)), [])

        # space back (the failed VM state write left its clusters leaked in the image, as
        # QEMU does: a bigger file system)
        os.unlink(filler)
        subprocess.run(["mount", "-o", "remount,size=128m", self.small], check=True)
        s = self.snapshot_create(path, "<domainsnapshot><name>ext</name></domainsnapshot>", 16)
        self.assertEqual(self.get_prop(s, "org.virtbus.Virt1.Snapshot", "IsExternal"), True)
        self.assertEqual(self.source(path), os.path.join(self.small, "live.ext"))
        self.domain(path, "Destroy", "u", (0,))
        self.assertEqual(self.corruptions(), 0)


if __name__ == "__main__":
    vbtest.main()
