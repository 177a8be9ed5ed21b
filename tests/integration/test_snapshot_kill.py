#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""The service SIGKILLed in the middle of a snapshot operation (issue 15, part svckill),
through the real virtbusd, real QEMU (TCG) and the tiny guest writing numbered sectors to
a qcow2 disk. The service kills itself at a named point (VIRTBUS_TEST_SNAPSHOT_KILL, see
docs/snapshots.md), so each case is deterministic:

- an external disk snapshot of the running guest, killed after the overlay's nodes were
  added and before the transaction: after the restart the overlay file and QEMU's nodes are
  gone, every definition names the base;
- the same, killed right after the transaction (the guest writes to the overlay) and before
  any definition was written: after the restart the live XML, the status XML and the
  persistent definition name the overlay QEMU has on top (before the fix they named the
  base: the next start would have lost the guest's writes); the snapshot's metadata is
  written back from the journal (it was lost); killed after the status XML and before the
  persistent definition: that names it too; killed before the metadata: written back;
- an external snapshot of an inactive domain, killed between qemu-img create and the
  definition: the overlay made is removed;
- the Delete of an external snapshot killed after QEMU's pivot to the base: the definitions
  name the base, the overlay file, its nodes and the snapshot's metadata are gone (before the
  fix the definitions still named the overlay QEMU no longer used); killed while its active
  commit runs: the commit is cancelled, the snapshot and its overlay stay, a second Delete
  merges it; killed once the disk is merged, before the metadata goes (running and
  inactive): the metadata goes at the restart, the live XML names the base (before the fix
  the status XML still named the removed overlay);
- a revert of the running guest killed while it is paused for the load: it runs again.

After each restart, the common checks: the live XML's source == the image QEMU has on top
(query-block) == the status XML's; the persistent source exists with a valid qemu-img
backing chain; no QEMU block node outside the disk's chain, no block job; no journal left;
the domain's Job is "/" and the guest writes on; a listed snapshot's images exist.
"""

import glob
import json
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(__file__))
import vbtest  # noqa: E402
from vbtest import eventually  # noqa: E402
from test_snapshot_live import GuestDiskMixin  # noqa: E402

SNAP_IFACE = "org.virtbus.Virt1.Snapshot"
KILL_ENV = "VIRTBUS_TEST_SNAPSHOT_KILL"
DISK_ONLY = 16


class SnapshotKillTest(GuestDiskMixin, vbtest.VirtbusTestCase):
    def qmp(self, path, cmd, args=None):
        msg = {"execute": cmd}
        if args is not None:
            msg["arguments"] = args
        reply = json.loads(self.domain(path, "QemuMonitorCommand", "s", (json.dumps(msg),)))
        self.assertIn("return", reply, reply)
        return reply["return"]

    def source(self, path, flags=0):
        xml = self.domain(path, "GetXMLDesc", "u", (flags,))
        return xml.split("<source file='", 1)[1].split("'", 1)[0]

    def status_source(self):
        files = glob.glob(os.path.join(self.root, "**", "livesnap.xml"), recursive=True)
        files = [f for f in files if "<domstatus" in open(f).read(200)]
        self.assertEqual(len(files), 1, files)
        with open(files[0]) as f:
            return re.search(r"<source file='([^']*)'", f.read()).group(1)

    def chain(self, image):
        """The files of @image's backing chain (qemu-img, read only), top first."""
        p = self.run_cmd(["qemu-img", "info", "-U", "--backing-chain", "--output=json", image])
        return [i["filename"] for i in json.loads(p.stdout)]

    def writes(self):
        return max(self.numbers("tgwrite"), default=-1)

    def start_writing(self):
        path = self.manager("DefineXML", "su", (self.guest_xml(), 0))
        self.domain(path, "Start", "u", (0,))
        eventually(lambda: self.writes() >= 100, timeout=90, what="the guest to write")
        return path

    def lookup(self, path, name):
        return self.domain(path, "SnapshotLookupByName", "su", (name, 0))

    def killed_at(self, point, fn):
        """Restarts the service to die at @point, runs @fn (its call may fail: the
        service is gone), waits for the SIGKILL, and starts the service again."""
        self.service.stop()
        self.service.env = {KILL_ENV: point}
        self.service.start()
        failed = None
        try:
            fn()
        except vbtest.DBusCallError as e:
            failed = e
        try:
            self.service.proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            self.fail(f"the service did not die at {point} (the call: {failed})")
        self.assertEqual(self.service.proc.returncode, -9, f"the service did not die at {point}")
        self.assertIn(f"killing the service at '{point}'", self.service.read_log())
        self.service.env = None
        self.service.start()

    def check_consistent(self, path, top, running=True):
        """What must hold after any restart; @top: the image the disk must run on."""
        self.assertEqual(self.source(path), top)
        cfg = self.source(path, 2)
        self.assertTrue(os.path.exists(cfg), cfg)
        self.chain(cfg)  # a valid chain, or run_cmd fails
        self.assertEqual(self.get_prop(path, vbtest.DOMAIN_IFACE, "Job"), "/")
        for snap in self.domain(path, "ListSnapshots", "u", (0,)):
            xml = self.snap(snap, "GetXMLDesc", "u", (0,))
            for f in re.findall(r"<disk name='[^']*' snapshot='external'[^>]*>\s*"
                                r"<driver[^>]*/>\s*<source file='([^']*)'", xml):
                self.assertTrue(os.path.exists(f), f"a listed snapshot names {f}, gone")
        if running:
            self.check_running(path, top, cfg)
        self.assertEqual(glob.glob(os.path.join(self.root, "**", "*.journal"), recursive=True),
                         [])

    def check_running(self, path, top, cfg):
        self.assertEqual(self.state(path)[0], "running")
        self.assertEqual(self.status_source(), top)
        blocks = [b for b in self.qmp(path, "query-block") if "inserted" in b]
        self.assertEqual([b["inserted"]["file"] for b in blocks], [top])
        self.assertEqual(self.qmp(path, "query-block-jobs"), [])
        self.assertEqual(cfg, top)
        files = set(self.chain(top))
        for n in self.qmp(path, "query-named-block-nodes", {"flat": True}):
            self.assertIn(n["file"], files, f"QEMU node {n['node-name']} outside the chain")
        before = self.writes()
        eventually(lambda: self.writes() >= before + 20, timeout=90,
                   what="the guest to write on after the restart")

    def test_external_killed_before_transaction(self):
        path = self.start_writing()
        overlay = os.path.join(self.tmp, "live.k1")
        self.killed_at("external-nodes-added", lambda: self.domain(
            path, "SnapshotCreateXML", "su",
            ("<domainsnapshot><name>k1</name></domainsnapshot>", DISK_ONLY)))
        self.assertFalse(os.path.exists(overlay), "the unused overlay was left")
        self.check_consistent(path, self.disk)
        self.assertEqual(self.domain(path, "ListSnapshots", "u", (0,)), [])
        self.assertIn("before its disks switched", self.service.read_log())
        # a snapshot of that name can be taken now
        self.snapshot_create(path, "<domainsnapshot><name>k1</name></domainsnapshot>",
                             DISK_ONLY)
        self.check_consistent(path, overlay)

    def test_external_killed_after_transaction(self):
        path = self.start_writing()
        overlay = os.path.join(self.tmp, "live.k2")
        self.killed_at("external-transaction", lambda: self.domain(
            path, "SnapshotCreateXML", "su",
            ("<domainsnapshot><name>k2</name></domainsnapshot>", DISK_ONLY)))
        at_kill = self.disk_max_write(self.disk)
        self.check_consistent(path, overlay)
        self.assertEqual(self.chain(overlay), [overlay, self.disk])
        self.assertIn("after its disks switched", self.service.read_log())
        # the journal held the snapshot's XML: written back, current (it was lost before)
        self.check_written_back(path, "k2", overlay)
        self.assertEqual(self.disk_max_write(self.disk), at_kill,
                         "the guest wrote to the base after the switch")
        # the next start runs on the overlay, with every write the guest made
        self.domain(path, "Destroy", "u", (0,))
        last = self.disk_max_write(overlay)
        self.assertGreater(last, at_kill)
        self.domain(path, "Start", "u", (0,))
        self.assertEqual(self.source(path), overlay)

    def check_written_back(self, path, name, overlay):
        snap = self.lookup(path, name)
        self.assertEqual(self.domain(path, "ListSnapshots", "u", (0,)), [snap])
        self.assertTrue(self.get_prop(snap, SNAP_IFACE, "Current"))
        self.assertEqual(self.get_prop(snap, SNAP_IFACE, "State"), "disk-snapshot")
        xml = self.snap(snap, "GetXMLDesc", "u", (0,))
        self.assertIn(f"<source file='{overlay}'/>", xml)
        self.assertIn(f"<source file='{self.disk}'/>", xml.split("<domain", 1)[1])
        self.assertIn("metadata is written back", self.service.read_log())

    def test_external_killed_before_metadata(self):
        """Killed once every definition names the overlay, before the snapshot's metadata
        is written: the restart writes it back from the journal (it was lost), and the
        snapshot can be deleted as any (its overlay merged back)."""
        path = self.start_writing()
        overlay = os.path.join(self.tmp, "live.k5")
        self.killed_at("external-before-metadata", lambda: self.domain(
            path, "SnapshotCreateXML", "su",
            ("<domainsnapshot><name>k5</name></domainsnapshot>", DISK_ONLY)))
        self.check_consistent(path, overlay)
        self.check_written_back(path, "k5", overlay)
        self.snap(self.lookup(path, "k5"), "Delete", "u", (0,))
        self.assertFalse(os.path.exists(overlay))
        self.check_consistent(path, self.disk)

    def test_external_killed_before_persistent(self):
        """Killed once the live definition and the status XML name the overlay, before the
        persistent definition does: the restart makes it name the overlay too (before the
        fix it named the base, and the next start would have lost the guest's writes)."""
        path = self.start_writing()
        overlay = os.path.join(self.tmp, "live.k4")
        self.killed_at("external-status-written", lambda: self.domain(
            path, "SnapshotCreateXML", "su",
            ("<domainsnapshot><name>k4</name></domainsnapshot>", DISK_ONLY)))
        self.check_consistent(path, overlay)
        self.assertEqual(self.source(path, 2), overlay)

    def test_external_inactive_killed_after_create(self):
        path = self.manager("DefineXML", "su", (self.guest_xml(), 0))
        overlay = os.path.join(self.tmp, "live.k3")
        self.killed_at("external-inactive-created", lambda: self.domain(
            path, "SnapshotCreateXML", "su",
            ("<domainsnapshot><name>k3</name></domainsnapshot>", DISK_ONLY)))
        self.assertFalse(os.path.exists(overlay), "the unused overlay was left")
        self.check_consistent(path, self.disk, running=False)
        self.assertEqual(self.source(path, 2), self.disk)
        self.assertEqual(self.domain(path, "ListSnapshots", "u", (0,)), [])
        self.domain(path, "Start", "u", (0,))
        self.check_consistent(path, self.disk)

    def test_delete_killed_after_pivot(self):
        path = self.start_writing()
        self.snapshot_create(path, "<domainsnapshot><name>e1</name></domainsnapshot>",
                             DISK_ONLY)
        overlay = os.path.join(self.tmp, "live.e1")
        before = self.writes()
        eventually(lambda: self.writes() >= before + 50, timeout=90, what="more writes")
        self.killed_at("delete-pivot", lambda: self.call(self.lookup(path, "e1"), SNAP_IFACE,
                                                         "Delete", "u", (0,), timeout=120000))
        self.check_consistent(path, self.disk)
        self.assertFalse(os.path.exists(overlay), "the merged overlay was left")
        self.assertEqual(self.domain(path, "ListSnapshots", "u", (0,)), [])
        self.assertIn("after disk vda's commit completed", self.service.read_log())

    def test_delete_killed_before_metadata(self):
        """Killed once the disk is merged and its overlay removed, before the snapshot's
        metadata goes: the restart removes the metadata (its image is gone); the live XML
        names the base (before the fix, the status XML still named the removed overlay)."""
        path = self.start_writing()
        self.snapshot_create(path, "<domainsnapshot><name>e1</name></domainsnapshot>",
                             DISK_ONLY)
        overlay = os.path.join(self.tmp, "live.e1")
        self.killed_at("delete-disk-done", lambda: self.call(
            self.lookup(path, "e1"), SNAP_IFACE, "Delete", "u", (0,), timeout=120000))
        self.check_consistent(path, self.disk)
        self.assertFalse(os.path.exists(overlay))
        self.assertEqual(self.domain(path, "ListSnapshots", "u", (0,)), [])
        # inactive: qemu-img commit, the same point
        self.domain(path, "Destroy", "u", (0,))
        self.snapshot_create(path, "<domainsnapshot><name>f1</name></domainsnapshot>",
                             DISK_ONLY)
        off = os.path.join(self.tmp, "live.f1")
        self.assertEqual(self.source(path, 2), off)
        self.killed_at("delete-disk-done", lambda: self.call(
            self.lookup(path, "f1"), SNAP_IFACE, "Delete", "u", (0,), timeout=120000))
        self.check_consistent(path, self.disk, running=False)
        self.assertFalse(os.path.exists(off))
        self.assertEqual(self.domain(path, "ListSnapshots", "u", (0,)), [])

    def test_delete_killed_during_commit(self):
        path = self.start_writing()
        self.snapshot_create(path, "<domainsnapshot><name>e1</name></domainsnapshot>",
                             DISK_ONLY)
        overlay = os.path.join(self.tmp, "live.e1")
        self.killed_at("delete-commit", lambda: self.call(self.lookup(path, "e1"), SNAP_IFACE,
                                                          "Delete", "u", (0,), timeout=120000))
        # the commit is cancelled: the snapshot and its overlay stay as they were
        self.check_consistent(path, overlay)
        self.assertEqual(self.chain(overlay), [overlay, self.disk])
        (snap,) = self.domain(path, "ListSnapshots", "u", (0,))
        # and it can be deleted again
        self.assertIsNone(self.snap(snap, "Delete", "u", (0,)))
        self.check_consistent(path, self.disk)
        self.assertFalse(os.path.exists(overlay))

    def test_revert_killed_while_paused(self):
        path = self.start_writing()
        self.snapshot_create(path, "<domainsnapshot><name>s1</name></domainsnapshot>")
        # the snapshot's object after the restart that arms the kill: looked up by name
        self.killed_at("revert-paused", lambda: self.snap(
            self.domain(path, "SnapshotLookupByName", "su", ("s1", 0)), "Revert", "u", (0,)))
        eventually(lambda: self.state(path) == ("running", "unpaused"), timeout=30,
                   what="the guest running again")
        self.check_consistent(path, self.disk)
        self.assertIn("s1", self.image_snapshots())
        (snap,) = self.domain(path, "ListSnapshots", "u", (0,))
        self.assertEqual(self.get_prop(snap, SNAP_IFACE, "Name"), "s1")


if __name__ == "__main__":
    vbtest.main()
