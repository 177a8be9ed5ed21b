#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Internal snapshots of a running domain (issue 15), through the real virtbusd, with the
tiny guest under TCG and a real qcow2 disk:

- the guest counts (tgtick) and keeps writing numbered sectors to its disk (tgwrite);
  SnapshotCreateXML of the running guest pauses it (reason "snapshot") and lets it run
  again; the snapshot is "running", current, with its memory state in the image
  (qemu-img: a VM state size);
- Revert while it runs: the guest goes on from the snapshot's memory (its counter starts
  again from the value it had), state running, reason "from-snapshot"; Revert with
  PAUSED (virtbusctl snapshot-revert --paused) leaves it paused; after that the disk
  holds no write made after the snapshot;
- Delete while it runs takes the snapshot out of the image through QEMU;
- a snapshot that cannot be taken (a tag QEMU already has in the image) leaves no
  metadata and the guest running; LIVE on an internal snapshot: NotSupported (DISK_ONLY
  is an external disk snapshot: test_snapshot_external.py; an external memory state:
  test_snapshot_extmem.py);
- the service killed (SIGKILL) during a live snapshot: after the restart the guest runs
  again (it was left paused with reason "snapshot").
"""

import os
import re
import sys

sys.path.insert(0, os.path.dirname(__file__))
import vbtest  # noqa: E402
from vbtest import eventually  # noqa: E402

SNAP_IFACE = "org.virtbus.Virt1.Snapshot"
JOB_IFACE = "org.virtbus.Virt1.Job"
GUEST_DIR = os.environ.get("VB_TINY_GUEST", "")
NBLOCKS = 64          # tgwrite=N: sector i at (i % N) * 64 KiB
STRIDE = 64 * 1024


class GuestDiskMixin:
    """The tiny guest counting and writing numbered sectors to a qcow2 disk (also used by
    test_snapshot_external.py)."""

    def setUp(self):
        if not os.path.exists(os.path.join(GUEST_DIR, "vmlinux")):
            self.fail(f"the tiny guest is not built in {GUEST_DIR}")
        super().setUp()
        self.serial = os.path.join(self.tmp, "serial.log")
        self.disk = os.path.join(self.tmp, "live.qcow2")
        self.run_cmd(["qemu-img", "create", "-q", "-f", "qcow2", self.disk, "16M"])

    def guest_xml(self, memory_mib=128, extra="", name="livesnap", head=""):
        """@head: more elements after <name> (a <uuid>, a <description>)."""
        with open(os.path.join(GUEST_DIR, "cmdline")) as f:
            cmdline = f.read().strip()
        return f"""<domain type='qemu'>
  <name>{name}</name>{head}
  <memory unit='MiB'>{memory_mib}</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='q35'>hvm</type>
    <kernel>{GUEST_DIR}/vmlinux</kernel>
    <initrd>{GUEST_DIR}/initrd.img</initrd>
    <cmdline>{cmdline} tgtick tgwrite={NBLOCKS}{extra}</cmdline>
  </os>
  <devices>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file='{self.disk}'/>
      <target dev='vda' bus='virtio'/>
    </disk>
    <serial type='file'>
      <source path='{self.serial}'/>
      <target port='0'/>
    </serial>
  </devices>
</domain>
"""

    def text(self):
        try:
            with open(self.serial, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def numbers(self, what, start=0):
        return [int(n) for n in re.findall(rf"TINYGUEST: {what} (\d+)\r?\n", self.text()[start:])]

    def snap(self, path, method, sig=None, args=()):
        r = self.call(path, SNAP_IFACE, method, sig, args)
        return None if r == () else (r[0] if r and len(r) == 1 else r)

    def image_snapshots(self):
        """name -> VM state size of the image's internal snapshots (read while in use)."""
        p = self.run_cmd(["qemu-img", "info", "-U", "--output=json", self.disk])
        import json
        return {s["name"]: s["vm-state-size"] for s in json.loads(p.stdout).get("snapshots", [])}

    def state(self, path):
        return (self.get_prop(path, vbtest.DOMAIN_IFACE, "State"),
                self.get_prop(path, vbtest.DOMAIN_IFACE, "StateReason"))

    def disk_max_write(self, image=None):
        """The highest tgwrite number on the disk (or on @image, with its backing chain)."""
        raw = os.path.join(self.tmp, "disk.raw")
        self.run_cmd(["qemu-img", "convert", "-U", "-f", "qcow2", "-O", "raw",
                      image or self.disk, raw])
        best = -1
        with open(raw, "rb") as f:
            data = f.read()
        for k in range(NBLOCKS):
            m = re.match(rb"TGW (\d{8})\n", data[k * STRIDE:k * STRIDE + 13])
            if m:
                best = max(best, int(m.group(1)))
        return best


class LiveSnapshotTest(GuestDiskMixin, vbtest.CtlTestCase):
    def test_snapshot_revert_delete_running(self):
        path = self.manager("DefineXML", "su", (self.guest_xml(), 0))
        self.domain(path, "Start", "u", (0,))
        eventually(lambda: max(self.numbers("tick"), default=0) >= 3 and
                   max(self.numbers("tgwrite"), default=0) >= 100, timeout=90,
                   what="the guest to count and write")

        # the snapshot of the running guest
        # the reply is a Job (operation "snapshot"); its result names the new object
        job = self.domain(path, "SnapshotCreateXML", "su",
                          ("<domainsnapshot><name>s1</name></domainsnapshot>", 0))
        self.assertTrue(job.startswith("/org/virtbus/Virt1/job/"), job)
        result = self.call(job, JOB_IFACE, "Wait", timeout=120000)[0]
        self.assertEqual(result["name"], "s1")
        s1 = result["snapshot"]
        self.assertEqual(self.get_prop(s1, SNAP_IFACE, "Name"), "s1")
        mark = len(self.text())
        self.assertEqual(self.state(path), ("running", "unpaused"))
        props = self.get_all(s1, SNAP_IFACE)
        self.assertEqual((props["Name"], props["State"], props["Current"]), ("s1", "running", True))
        self.assertGreater(self.image_snapshots().get("s1", 0), 0, "no VM state in the image")
        xml = self.snap(s1, "GetXMLDesc", "u", (0,))
        self.assertIn("<memory snapshot='internal'/>", xml)
        self.assertIn("<state>running</state>", xml)

        # the guest goes on; what it had at the snapshot is the first value after it
        eventually(lambda: len(self.numbers("tick", mark)) >= 1 and
                   len(self.numbers("tgwrite", mark)) >= 1, timeout=60,
                   what="the guest to go on after the snapshot")
        tick_at = self.numbers("tick", mark)[0]      # >= the tick at the snapshot
        write_at = self.numbers("tgwrite", mark)[0]  # >= the last write before it
        eventually(lambda: max(self.numbers("tick", mark)) >= tick_at + 6 and
                   max(self.numbers("tgwrite", mark)) >= write_at + 300, timeout=120,
                   what="the guest to count and write well past the snapshot")
        ticks_before = max(self.numbers("tick", mark))

        # revert while it runs: the counter starts again from the snapshot's value
        mark2 = len(self.text())
        self.snapshot_revert(s1, 0)
        self.assertEqual(self.state(path), ("running", "from-snapshot"))
        eventually(lambda: len(self.numbers("tick", mark2)) >= 2, timeout=60,
                   what="ticks after the revert")
        after = self.numbers("tick", mark2)
        self.assertLessEqual(after[0], tick_at + 1, f"ticks after the revert: {after}")
        self.assertLess(after[0], ticks_before - 3)
        self.assertTrue(self.get_prop(s1, SNAP_IFACE, "Current"))

        # a second snapshot, deleted while the guest runs: QEMU takes it out of the image
        s2 = self.snapshot_create(path, "<domainsnapshot><name>s2</name></domainsnapshot>")
        self.assertEqual(self.get_prop(s2, SNAP_IFACE, "Parent"), s1)
        self.assertIn("s2", self.image_snapshots())
        self.assertIsNone(self.snap(s2, "Delete", "u", (0,)))
        self.assertEqual(sorted(self.image_snapshots()), ["s1"])
        self.assertEqual(self.state(path), ("running", "unpaused"))

        # revert PAUSED (virtbusctl), then the disk: no write made after the snapshot is on it
        self.ctl("snapshot-revert", "livesnap", "s1", "--paused")
        self.assertEqual(self.state(path), ("paused", "from-snapshot"))
        self.domain(path, "Destroy", "u", (0,))
        on_disk = self.disk_max_write()
        self.assertGreaterEqual(on_disk, 0)
        self.assertLessEqual(on_disk, write_at,
                             f"write {on_disk} made after the snapshot (<= {write_at}) survived")

    def test_failures_leave_nothing(self):
        path = self.manager("DefineXML", "su", (self.guest_xml(), 0))
        # a tag QEMU already finds in the image: its job fails, the guest runs on
        self.run_cmd(["qemu-img", "snapshot", "-c", "taken", self.disk])
        self.domain(path, "Start", "u", (0,))
        eventually(lambda: max(self.numbers("tick"), default=0) >= 2, timeout=90,
                   what="the guest")
        e = self.assertDBusError("Qemu", self.snapshot_create, path,
                                 "<domainsnapshot><name>taken</name></domainsnapshot>")
        self.assertIn("already exists", e.message)
        self.assertEqual(self.domain(path, "ListSnapshots", "u", (0,)), [])
        self.assertEqual(self.state(path), ("running", "unpaused"))
        mark = len(self.text())
        eventually(lambda: len(self.numbers("tick", mark)) >= 1, timeout=30,
                   what="the guest to run on")
        # LIVE is for external memory snapshots only (test_snapshot_extmem.py)
        e = self.assertDBusError(
            "NotSupported", self.domain, path, "SnapshotCreateXML", "su",
            ("<domainsnapshot><name>m</name></domainsnapshot>", 256))
        self.assertIn("LIVE (256)", e.message)
        self.assertEqual(sorted(self.image_snapshots()), ["taken"])
        # NO_METADATA: in the image, not on the bus
        self.assertEqual(self.snapshot_create(
            path, "<domainsnapshot><name>nometa</name></domainsnapshot>", 4), "/")
        self.assertEqual(self.domain(path, "ListSnapshots", "u", (0,)), [])
        self.assertIn("nometa", self.image_snapshots())
        self.domain(path, "Destroy", "u", (0,))

    def test_kill9_during_snapshot(self):
        """The service killed while QEMU saves: the restarted service lets the guest run
        again (it was paused with reason "snapshot"); a snapshot it lists is in the image."""
        import threading
        path = self.manager("DefineXML", "su", (self.guest_xml(), 0))
        self.domain(path, "Start", "u", (0,))
        eventually(lambda: max(self.numbers("tick"), default=0) >= 2, timeout=90,
                   what="the guest")
        errors = []

        def take():
            try:
                self.snapshot_create(path, "<domainsnapshot><name>k</name></domainsnapshot>")
            except vbtest.DBusCallError as e:
                errors.append(e)
        t = threading.Thread(target=take)
        t.start()
        eventually(lambda: self.get_prop(path, vbtest.DOMAIN_IFACE, "StateReason") == "snapshot"
                   or not t.is_alive(), timeout=30, interval=0.005, what="the snapshot")
        self.service.proc.kill()
        self.service.proc.wait()
        t.join()
        self.service.start()
        eventually(lambda: self.state(path) == ("running", "unpaused"), timeout=30,
                   what="the guest running again after the restart")
        mark = len(self.text())
        eventually(lambda: len(self.numbers("tick", mark)) >= 2, timeout=30,
                   what="the guest to count again")
        listed = [self.get_prop(p, SNAP_IFACE, "Name")
                  for p in self.domain(path, "ListSnapshots", "u", (0,))]
        for name in listed:
            self.assertIn(name, self.image_snapshots())
        self.domain(path, "Destroy", "u", (0,))


if __name__ == "__main__":
    vbtest.main()
