#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""External disk snapshots (issue 15), through the real virtbusd, with the tiny guest under
TCG writing numbered sectors to a real qcow2 disk:

- DISK_ONLY of the running guest: a new qcow2 overlay (libvirt's default name: the image's
  suffix replaced by the snapshot's name) backed by the disk's image, put on top with
  blockdev-snapshot; the live and the persistent definitions name it; the guest's writes
  after the snapshot go to the overlay only (the image below stays as it was); the
  snapshot is external, state disk-snapshot, its XML names the overlay; the next start
  runs on the overlay;
- an existing overlay without REUSE_EXT, a relative path, a mix of internal and external
  disks: refused with a named error before anything is made; REUSE_EXT takes an existing
  overlay; QUIESCE without a guest agent fails in the job and leaves nothing (no overlay
  file, no node, the disk's source as it was);
- DISK_ONLY of an inactive domain: qemu-img makes the overlay, the definition names it;
- an external snapshot, then an active BlockCommit back into the base (pivot), a second
  one and a BlockPull into its overlay, then a BlockCopy to a new image (pivot), the guest
  writing all along: after its clean power-off the final image holds exactly every write
  the guest made (computed from its numbered sectors), and both definitions name it;
- Delete of external snapshots merges their overlays into the images below: running, the
  first of two (a commit of the inner layer, the second's overlay relinked to the base),
  then the second (an active commit with pivot: both definitions name the base again);
  inactive, the same with qemu-img commit and rebase; the overlays are removed and every
  write of the guest is in the base;
- a snapshot whose overlay left the disk's chain is refused (METADATA_ONLY named).
"""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
import vbtest  # noqa: E402
from vbtest import eventually  # noqa: E402
from test_snapshot_live import GuestDiskMixin  # noqa: E402

SNAP_IFACE = "org.virtbus.Virt1.Snapshot"
JOB_IFACE = "org.virtbus.Virt1.Job"
COMMIT_ACTIVE, ABORT_PIVOT, COPY_REUSE_EXT = 4, 2, 2
NBLOCKS, STRIDE = 64, 64 * 1024


class ExternalSnapshotTest(GuestDiskMixin, vbtest.CtlTestCase):
    def info(self, image):
        return json.loads(self.run_cmd(["qemu-img", "info", "-U", "--output=json",
                                        image]).stdout)

    def source(self, path, flags=0):
        xml = self.domain(path, "GetXMLDesc", "u", (flags,))
        return xml.split("<source file='", 1)[1].split("'", 1)[0]

    def start_writing(self):
        path = self.manager("DefineXML", "su", (self.guest_xml(), 0))
        self.domain(path, "Start", "u", (0,))
        eventually(lambda: max(self.numbers("tgwrite"), default=0) >= 100, timeout=90,
                   what="the guest to write")
        return path

    def test_disk_only_running(self):
        path = self.start_writing()
        job = self.domain(path, "SnapshotCreateXML", "su",
                          ("<domainsnapshot><name>e1</name></domainsnapshot>", 16))
        result = self.call(job, "org.virtbus.Virt1.Job", "Wait", timeout=120000)[0]
        s1 = result["snapshot"]
        mark = len(self.text())
        overlay = os.path.join(self.tmp, "live.e1")
        info = self.info(overlay)
        self.assertEqual(info["format"], "qcow2")
        self.assertEqual(info["backing-filename"], self.disk)
        self.assertEqual(info.get("backing-filename-format"), "qcow2")
        self.assertEqual(self.source(path), overlay)
        self.assertEqual(self.source(path, 2), overlay)  # the persistent definition
        props = self.get_all(s1, SNAP_IFACE)
        self.assertEqual((props["State"], props["IsExternal"], props["Current"]),
                         ("disk-snapshot", True, True))
        xml = self.call(s1, SNAP_IFACE, "GetXMLDesc", "u", (0,))[0]
        self.assertIn("<disk name='vda' snapshot='external' type='file'>", xml)
        self.assertIn(f"<source file='{overlay}'/>", xml)
        self.assertIn("<memory snapshot='no'/>", xml)
        self.assertIn(f"<source file='{self.disk}'/>", xml)  # the domain at the snapshot

        # the guest writes on, into the overlay only
        at_snapshot = self.disk_max_write(self.disk)
        eventually(lambda: len(self.numbers("tgwrite", mark)) >= 3, timeout=90,
                   what="more writes after the snapshot")
        self.assertEqual(self.disk_max_write(self.disk), at_snapshot,
                         "a write after the snapshot reached the image below the overlay")
        self.assertGreater(self.disk_max_write(overlay), at_snapshot)
        self.domain(path, "Destroy", "u", (0,))
        self.domain(path, "Start", "u", (0,))
        self.assertEqual(self.source(path), overlay)
        self.domain(path, "Destroy", "u", (0,))

    def test_refusals_and_failures_leave_nothing(self):
        path = self.start_writing()
        overlay = os.path.join(self.tmp, "taken.qcow2")
        with open(overlay, "w") as f:
            f.write("keep me")
        snap = ("<domainsnapshot><name>x</name><disks><disk name='vda'>"
                f"<source file='{overlay}'/></disk></disks></domainsnapshot>")
        e = self.assertDBusError("OperationInvalid", self.domain, path, "SnapshotCreateXML",
                                 "su", (snap, 16))
        self.assertIn("already exists", e.message)
        with open(overlay) as f:
            self.assertEqual(f.read(), "keep me")
        e = self.assertDBusError(
            "InvalidArgument", self.domain, path, "SnapshotCreateXML", "su",
            ("<domainsnapshot><name>r</name><disks><disk name='vda'>"
             "<source file='rel.qcow2'/></disk></disks></domainsnapshot>", 16))
        self.assertIn("absolute", e.message)
        # QUIESCE needs the agent: the job fails, nothing is left
        try:
            self.snapshot_create(path, "<domainsnapshot><name>q</name></domainsnapshot>",
                                 16 | 64)
            self.fail("QUIESCE without a guest agent succeeded")
        except vbtest.DBusCallError as err:
            self.assertIn("QUIESCE", err.message)
        self.assertFalse(os.path.exists(os.path.join(self.tmp, "live.q")))
        self.assertEqual(self.source(path), self.disk)
        self.assertEqual(self.domain(path, "ListSnapshots", "u", (0,)), [])
        # REUSE_EXT: an overlay made beforehand is taken as it is
        reuse = os.path.join(self.tmp, "mine.qcow2")
        self.run_cmd(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b",
                      self.disk, reuse])
        s = self.snapshot_create(path, "<domainsnapshot><name>u</name><disks><disk name='vda'>"
                                 f"<source file='{reuse}'/></disk></disks></domainsnapshot>",
                                 16 | 32)
        self.assertEqual(self.get_prop(s, SNAP_IFACE, "IsExternal"), True)
        self.assertEqual(self.source(path), reuse)
        # HALT (8): the guest stops once the snapshot is taken
        self.snapshot_create(path, "<domainsnapshot><name>h</name></domainsnapshot>", 16 | 8)
        self.assertEqual(self.state(path), ("shutoff", "from-snapshot"))
        self.assertEqual(self.source(path), os.path.join(self.tmp, "mine.h"))

    def test_disk_only_inactive(self):
        path = self.manager("DefineXML", "su", (self.guest_xml(), 0))
        s = self.snapshot_create(path, "<domainsnapshot><name>off</name></domainsnapshot>", 16)
        overlay = os.path.join(self.tmp, "live.off")
        self.assertEqual(self.info(overlay)["backing-filename"], self.disk)
        self.assertEqual(self.source(path), overlay)
        self.assertEqual(self.get_prop(s, SNAP_IFACE, "State"), "disk-snapshot")
        # mixing kinds is refused
        self.assertDBusError(
            "NotSupported", self.domain, path, "SnapshotCreateXML", "su",
            ("<domainsnapshot><name>mix</name><disks><disk name='vda' snapshot='internal'/>"
             "</disks><memory snapshot='external' file='/tmp/x'/></domainsnapshot>", 0))
        self.domain(path, "Start", "u", (0,))
        eventually(lambda: max(self.numbers("tgwrite"), default=0) >= 100, timeout=90,
                   what="the guest to write on the overlay")
        self.assertEqual(self.disk_max_write(self.disk), -1)
        self.domain(path, "Destroy", "u", (0,))
        # virtbusctl: --disk-only with a --diskspec naming the overlay
        mine = os.path.join(self.tmp, "mine.qcow2")
        p = self.ctl("snapshot-create-as", "livesnap", "c1", "--disk-only", "--diskspec",
                     f"vda,file={mine}")
        self.assertIn("Domain snapshot c1 created", p.stdout)
        self.assertEqual(self.info(mine)["backing-filename"], overlay)
        self.assertEqual(self.source(path), mine)
        self.assertFails(self.ctl("snapshot-create-as", "livesnap", "c2", "--diskspec",
                                  "vda,bogus=1", check=False), 1, "unknown item")

    def writes(self):
        return max(self.numbers("tgwrite"), default=-1)

    def more_writes(self, n=100):
        before = self.writes()
        eventually(lambda: self.writes() >= before + n, timeout=90,
                   what=f"{n} more writes of the guest")

    def power_off(self, path):
        """A clean power-off (ACPI): the number of the guest's last completed write."""
        self.domain(path, "Shutdown", "u", (0,))
        eventually(lambda: self.state(path)[0] == "shutoff", timeout=90,
                   what="the guest to power off")
        last = [int(line.split()[3]) for line in self.text().splitlines()
                if line.startswith("TINYGUEST: tgwrite last ")]
        self.assertEqual(len(last), 1, self.text()[-2000:])
        return last[0]

    def pivot(self, path, job):
        eventually(lambda: self.get_prop(job, JOB_IFACE, "Phase") == "ready", timeout=90,
                   what="the block job ready")
        self.domain(path, "BlockJobAbort", "su", ("vda", ABORT_PIVOT))
        result = self.call(job, JOB_IFACE, "Wait", timeout=120000)[0]
        self.assertTrue(result["pivoted"], result)

    def test_snapshot_then_commit_pull_copy(self):
        path = self.start_writing()
        # an external snapshot, committed back into the base while the guest writes
        self.snapshot_create(path, "<domainsnapshot><name>e1</name></domainsnapshot>", 16)
        # the live XML's chain: the overlay over the disk's image (issue 15)
        live = self.domain(path, "GetXMLDesc", "u", (0,))
        self.assertIn("<backingStore type='file' index='1'>", live)
        self.assertIn(f"<source file='{self.disk}'/>", live.split("<backingStore", 1)[1])
        self.assertNotIn("<backingStore", self.domain(path, "GetXMLDesc", "u", (2,)))
        self.more_writes()
        job = self.domain(path, "BlockCommit", "ssstu", ("vda", self.disk, "", 0, COMMIT_ACTIVE))
        self.pivot(path, job)
        self.assertEqual(self.source(path), self.disk)
        self.assertEqual(self.source(path, 2), self.disk)
        self.more_writes()
        # a second one, its base pulled into the overlay
        self.snapshot_create(path, "<domainsnapshot><name>e2</name></domainsnapshot>", 16)
        overlay = os.path.join(self.tmp, "live.e2")
        self.more_writes()
        job = self.domain(path, "BlockPull", "stu", ("vda", 0, 0))
        self.call(job, JOB_IFACE, "Wait", timeout=120000)
        self.assertNotIn("backing-filename", self.info(overlay))
        self.more_writes()
        # a copy to a new image, pivoted to
        dest = os.path.join(self.tmp, "copy.qcow2")
        self.run_cmd(["qemu-img", "create", "-q", "-f", "qcow2", dest, "16M"])
        job = self.domain(path, "BlockCopy", "ssa{sv}u",
                          ("vda", f"<disk type='file'><driver type='qcow2'/><source file='{dest}'/>"
                           "</disk>", {}, COPY_REUSE_EXT))
        self.pivot(path, job)
        self.assertEqual(self.source(path), dest)
        self.assertEqual(self.source(path, 2), dest)
        self.more_writes()
        # a clean power-off: every write up to the last one the guest names is on the image
        last = [self.power_off(path)]
        raw = os.path.join(self.tmp, "final.raw")
        self.run_cmd(["qemu-img", "convert", "-O", "raw", dest, raw])
        with open(raw, "rb") as f:
            got = f.read()
        want = bytearray(16 * 1024 * 1024)
        for k in range(NBLOCKS):
            if last[0] >= k:
                i = last[0] - ((last[0] - k) % NBLOCKS)
                want[k * STRIDE:k * STRIDE + 512] = (b"TGW %08d\n" % i).ljust(512, b"\0")
        if got != bytes(want):
            bad = next(i for i in range(len(got)) if got[i] != want[i])
            self.fail(f"the final image differs first at byte {bad} (block {bad // STRIDE}); "
                      f"last write {last[0]}")

    def test_delete_merges_overlays(self):
        path = self.start_writing()
        e1 = self.snapshot_create(path, "<domainsnapshot><name>e1</name></domainsnapshot>", 16)
        self.more_writes()
        e2 = self.snapshot_create(path, "<domainsnapshot><name>e2</name></domainsnapshot>", 16)
        o1, o2 = (os.path.join(self.tmp, n) for n in ("live.e1", "live.e2"))
        self.more_writes()
        # the first: an inner layer, committed; e2's overlay now sits on the base
        self.snap(e1, "Delete", "u", (0,))
        self.assertFalse(os.path.exists(o1))
        self.assertEqual(self.info(o2)["backing-filename"], self.disk)
        self.assertEqual(self.source(path), o2)
        self.assertEqual(self.get_prop(e2, SNAP_IFACE, "Parent"), "/")
        self.more_writes()
        # the second: the top, an active commit and a pivot back to the base
        self.snap(e2, "Delete", "u", (0,))
        self.assertFalse(os.path.exists(o2))
        self.assertEqual(self.source(path), self.disk)
        self.assertEqual(self.source(path, 2), self.disk)
        self.assertEqual(self.domain(path, "ListSnapshots", "u", (0,)), [])
        self.more_writes()
        last = self.power_off(path)
        self.assertEqual(self.disk_max_write(self.disk), last)

        # inactive: the same with qemu-img (the top first this time)
        f1 = self.snapshot_create(path, "<domainsnapshot><name>f1</name></domainsnapshot>", 16)
        p1 = os.path.join(self.tmp, "live.f1")
        self.run_cmd(["qemu-io", "-f", "qcow2", "-c", "write -P 0x5a 0 64k", p1])
        f2 = self.snapshot_create(path, "<domainsnapshot><name>f2</name></domainsnapshot>", 16)
        p2 = os.path.join(self.tmp, "live.f2")
        self.run_cmd(["qemu-io", "-f", "qcow2", "-c", "write -P 0x6b 64k 64k", p2])
        self.snap(f2, "Delete", "u", (0,))
        self.assertFalse(os.path.exists(p2))
        self.assertEqual(self.source(path), p1)
        self.snap(f1, "Delete", "u", (0,))
        self.assertFalse(os.path.exists(p1))
        self.assertEqual(self.source(path), self.disk)
        self.run_cmd(["qemu-io", "-f", "qcow2", "-c", "read -P 0x5a 0 64k",
                      "-c", "read -P 0x6b 64k 64k", self.disk])

    def test_delete_refused_when_the_chain_moved(self):
        path = self.manager("DefineXML", "su", (self.guest_xml(), 0))
        e1 = self.snapshot_create(path, "<domainsnapshot><name>e1</name></domainsnapshot>", 16)
        # the definition is pointed back at the base by hand: the overlay left the chain
        xml = self.domain(path, "GetXMLDesc", "u", (2,))
        self.manager("DefineXML", "su", (xml.replace(os.path.join(self.tmp, "live.e1"),
                                                     self.disk), 0))
        e = self.assertDBusError("OperationInvalid", self.snap, e1, "Delete", "u", (0,))
        self.assertIn("METADATA_ONLY", e.message)
        self.assertTrue(os.path.exists(os.path.join(self.tmp, "live.e1")))
        self.snap(e1, "Delete", "u", (2,))
        self.assertEqual(self.domain(path, "ListSnapshots", "u", (0,)), [])


if __name__ == "__main__":
    vbtest.main()
