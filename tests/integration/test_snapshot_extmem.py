#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""External snapshots with memory (issue 15, part extmem), through the real virtbusd, with
the tiny guest under TCG counting (tgtick) and writing numbered sectors (tgwrite) to a
real qcow2 disk:

- <memory snapshot='external' file=.../> of the running guest, without and with LIVE
  (256): the memory file is a save image (the header Domain.Save writes, the domain's XML
  with the disk as it was at the snapshot), the disk gets its overlay with the old image
  as backing file, the guest runs on and its writes land in the overlay; the snapshot is
  "running" with its memory file; the job went through the phase "memory" (its statistics are the migration's);
- a copy of the memory file restored with Manager.Restore after Destroy brings the guest
  back, its counter continuing from the snapshot's value (the proof of the format);
- Snapshot.Revert to such a snapshot: a new QEMU on a new overlay of the snapshot's
  image, loaded from the memory file; the branch left keeps its overlay;
- a paused guest's snapshot stays paused (the image says PAUSED); HALT shuts it off;
- an existing memory file: OperationInvalid naming it, nothing created; LIVE without an
  external memory state: NotSupported; an inactive domain: NotSupported;
- a full file system for the memory file: IO, no memory file (nor a temporary one), no
  overlay, the guest running on its old image;
- the service killed (SIGKILL) while the memory file is written: the restarted service
  removes the partial file and lets the guest run again.
"""

import os
import shutil
import struct
import subprocess
import sys

sys.path.insert(0, os.path.dirname(__file__))
import vbtest  # noqa: E402
from vbtest import eventually  # noqa: E402
from test_snapshot_live import GuestDiskMixin  # noqa: E402

SNAP_IFACE = "org.virtbus.Virt1.Snapshot"
JOB_IFACE = "org.virtbus.Virt1.Job"


def read_save_header(path):
    """The save image's header (service/domain/domain-save-image.h) and its XML."""
    with open(path, "rb") as f:
        head = f.read(64)
        magic = head[:16].rstrip(b"\0")
        version, xml_len, flags, compression = struct.unpack("<IIII", head[16:32])
        xml = f.read(xml_len).rstrip(b"\0").decode()
    return magic, version, flags, compression, xml


class ExternalMemorySnapshotTest(GuestDiskMixin, vbtest.CtlTestCase):
    def source(self, path, flags=0):
        xml = self.domain(path, "GetXMLDesc", "u", (flags,))
        return xml.split("<source file='", 1)[1].split("'", 1)[0]

    def backing(self, image):
        import json
        return json.loads(self.run_cmd(["qemu-img", "info", "-U", "--output=json",
                                        image]).stdout).get("backing-filename")

    def start_writing(self):
        path = self.manager("DefineXML", "su", (self.guest_xml(), 0))
        self.domain(path, "Start", "u", (0,))
        eventually(lambda: max(self.numbers("tick"), default=0) >= 3 and
                   max(self.numbers("tgwrite"), default=0) >= 100, timeout=90,
                   what="the guest to count and write")
        return path

    def check_snapshot(self, path, name, mem, overlay, live):
        self.assertEqual(self.state(path), ("running", "unpaused"))
        magic, version, flags, compression, xml = read_save_header(mem)
        self.assertEqual((magic, version, flags, compression), (b"VirtbusSave1", 1, 2, 0))
        # the domain as it was: the disk is the image below the overlay
        self.assertIn(f"<source file='{self.disk}'/>", xml)
        self.assertIn("<name>livesnap</name>", xml)
        self.assertGreater(os.path.getsize(mem), 8 << 20, "the memory state is missing")
        self.assertEqual([f for f in os.listdir(os.path.dirname(mem)) if "vbpart" in f], [])
        self.assertEqual(self.backing(overlay), self.disk)
        self.assertEqual(self.source(path), overlay)
        self.assertEqual(self.source(path, 2), overlay)

    def test_memory_snapshot_and_restore(self):
        path = self.start_writing()
        mem = os.path.join(self.tmp, "s1.mem")
        job = self.domain(path, "SnapshotCreateXML", "su",
                          (f"<domainsnapshot><name>s1</name>"
                           f"<memory snapshot='external' file='{mem}'/></domainsnapshot>", 0))
        result = self.call(job, JOB_IFACE, "Wait", timeout=180000)[0]
        s1 = result["snapshot"]
        mark = len(self.text())
        overlay = os.path.join(self.tmp, "live.s1")
        self.check_snapshot(path, "s1", mem, overlay, False)
        props = self.get_all(s1, SNAP_IFACE)
        self.assertEqual((props["State"], props["IsExternal"], props["Current"]),
                         ("running", True, True))
        sxml = self.snap(s1, "GetXMLDesc", "u", (0,))
        self.assertIn(f"<memory snapshot='external' file='{mem}'/>", sxml)
        self.assertIn(f"<source file='{overlay}'/>", sxml)
        stats = self.domain(path, "GetJobStats", "u", (1,))
        self.assertGreater(stats.get("memory_total", 0), 0, stats)

        # the guest goes on; its writes land in the overlay only
        eventually(lambda: len(self.numbers("tick", mark)) >= 1 and
                   len(self.numbers("tgwrite", mark)) >= 3, timeout=90,
                   what="the guest to go on after the snapshot")
        tick_at = self.numbers("tick", mark)[0]
        at_snapshot = self.disk_max_write(self.disk)
        eventually(lambda: max(self.numbers("tick", mark)) >= tick_at + 6, timeout=120,
                   what="the guest to count well past the snapshot")
        ticks_before = max(self.numbers("tick", mark))
        self.assertEqual(self.disk_max_write(self.disk), at_snapshot,
                         "a write after the snapshot reached the image below the overlay")
        self.assertGreater(self.disk_max_write(overlay), at_snapshot)

        # the proof of the format: Restore of a copy brings the guest back at the snapshot
        self.domain(path, "Destroy", "u", (0,))
        copy = os.path.join(self.tmp, "copy.mem")
        shutil.copy(mem, copy)
        os.rename(self.serial, self.serial + ".before")  # the restored guest's own log
        mark2 = 0
        rjob = self.manager("Restore", "ssu", (copy, "", 0))
        self.call(rjob, JOB_IFACE, "Wait", timeout=180000)
        self.assertEqual(self.get_prop(path, vbtest.DOMAIN_IFACE, "State"), "running")
        eventually(lambda: len(self.numbers("tick", mark2)) >= 2, timeout=60,
                   what="ticks after the restore")
        after = self.numbers("tick", mark2)
        self.assertLessEqual(after[0], tick_at + 1, f"ticks after the restore: {after}")
        self.assertGreaterEqual(after[0], tick_at - 3, f"a fresh boot, not the snapshot: {after}")
        self.assertLess(after[0], ticks_before - 3)
        self.domain(path, "Destroy", "u", (0,))

    def test_memory_snapshot_and_revert(self):
        """The whole round: a memory snapshot the service took, the guest going on, then
        Snapshot.Revert: a new QEMU on a new overlay of the image below the snapshot's,
        loaded from the memory file (the counter continues from the snapshot's value,
        the disk holds no write made after it); the branch left keeps its overlay."""
        path = self.start_writing()
        mem = os.path.join(self.tmp, "r1.mem")
        r1 = self.snapshot_create(path, f"<domainsnapshot><name>r1</name><memory "
                                  f"snapshot='external' file='{mem}'/></domainsnapshot>")
        mark = len(self.text())
        eventually(lambda: len(self.numbers("tick", mark)) >= 1, timeout=90,
                   what="the guest to go on after the snapshot")
        tick_at = self.numbers("tick", mark)[0]
        at_snapshot = self.disk_max_write(self.disk)
        overlay = os.path.join(self.tmp, "live.r1")
        eventually(lambda: self.disk_max_write(overlay) > at_snapshot + 3 and
                   max(self.numbers("tick", mark)) >= tick_at + 6, timeout=120,
                   what="the guest to count and write well past the snapshot")
        left = self.disk_max_write(overlay)

        os.rename(self.serial, self.serial + ".before")  # the new QEMU's own log
        self.snapshot_revert(r1)
        self.assertEqual(self.state(path), ("running", "from-snapshot"))
        new = os.path.join(self.tmp, "live.r1-1")
        self.assertEqual(self.source(path), new)
        self.assertEqual(self.source(path, 2), new)
        self.assertEqual(self.backing(new), self.disk)
        eventually(lambda: len(self.numbers("tick")) >= 2, timeout=90,
                   what="ticks after the revert")
        after = self.numbers("tick")
        self.assertLessEqual(after[0], tick_at + 1, f"ticks after the revert: {after}")
        self.assertGreaterEqual(after[0], tick_at - 3, f"a fresh boot, not the snapshot: {after}")
        # the guest writes on from the snapshot's sector into the new overlay
        eventually(lambda: self.disk_max_write(new) > at_snapshot, timeout=90,
                   what="the reverted guest to write")
        # the guest prints every 100th write: the first after the snapshot's last one
        # (a fresh boot would print 100; start_writing() waited for 100 writes)
        eventually(lambda: self.numbers("tgwrite"), timeout=90, what="a write report")
        self.assertEqual(self.numbers("tgwrite")[0], (at_snapshot // 100 + 1) * 100,
                         f"the snapshot's disk ends at write {at_snapshot}")
        self.assertEqual(self.disk_max_write(self.disk), at_snapshot)
        self.assertGreaterEqual(self.disk_max_write(overlay), left, "the branch left lost writes")
        self.assertEqual(self.get_prop(r1, SNAP_IFACE, "Current"), True)
        self.assertIn(f"<source file='{new}'/>", self.snap(r1, "GetXMLDesc", "u", (0,)))
        self.domain(path, "Destroy", "u", (0,))

    def test_live_memory_snapshot(self):
        path = self.start_writing()
        mem = os.path.join(self.tmp, "l1.mem")
        # virtbusctl, as virsh: --memspec and --live (256)
        p = self.ctl("snapshot-create-as", "livesnap", "l1", "--memspec",
                     f"file={mem},snapshot=external", "--live")
        self.assertIn("Domain snapshot l1 created", p.stdout)
        overlay = os.path.join(self.tmp, "live.l1")
        self.check_snapshot(path, "l1", mem, overlay, True)
        l1 = self.domain(path, "SnapshotLookupByName", "su", ("l1", 0))
        self.assertEqual(self.get_prop(l1, SNAP_IFACE, "State"), "running")
        self.assertIn(f"<memory snapshot='external' file='{mem}'/>",
                      self.ctl("snapshot-dumpxml", "livesnap", "l1").stdout)
        mark = len(self.text())
        at_snapshot = self.disk_max_write(self.disk)
        eventually(lambda: len(self.numbers("tgwrite", mark)) >= 3, timeout=90,
                   what="the guest to write after the live snapshot")
        self.assertEqual(self.disk_max_write(self.disk), at_snapshot)
        self.assertGreater(self.disk_max_write(overlay), at_snapshot)
        self.domain(path, "Destroy", "u", (0,))

    def test_paused_guest_and_halt(self):
        """A paused guest's snapshot: the image says PAUSED (4), the snapshot is "paused"
        and the guest stays paused; HALT (8) shuts the guest off after the snapshot."""
        path = self.start_writing()
        self.domain(path, "Suspend")
        mem = os.path.join(self.tmp, "p.mem")
        p = self.snapshot_create(path, f"<domainsnapshot><name>p</name><memory "
                                 f"snapshot='external' file='{mem}'/></domainsnapshot>")
        self.assertEqual(self.get_prop(p, SNAP_IFACE, "State"), "paused")
        self.assertEqual(read_save_header(mem)[2], 4)
        self.assertEqual(self.state(path), ("paused", "user"))
        self.domain(path, "Resume")
        mem2 = os.path.join(self.tmp, "h.mem")
        h = self.snapshot_create(path, f"<domainsnapshot><name>h</name><memory "
                                 f"snapshot='external' file='{mem2}'/></domainsnapshot>", 8)
        self.assertEqual(self.get_prop(h, SNAP_IFACE, "State"), "running")
        self.assertEqual(read_save_header(mem2)[2], 2)
        self.assertEqual(self.state(path), ("shutoff", "from-snapshot"))
        self.assertEqual(self.backing(os.path.join(self.tmp, "live.h")),
                         os.path.join(self.tmp, "live.p"))

    def test_refusals(self):
        path = self.manager("DefineXML", "su", (self.guest_xml(), 0))
        mem = os.path.join(self.tmp, "x.mem")
        snap = (f"<domainsnapshot><name>x</name><memory snapshot='external' file='{mem}'/>"
                "</domainsnapshot>")
        # an inactive domain has no memory state
        e = self.assertDBusError("NotSupported", self.snapshot_create, path, snap)
        self.assertIn("running domain", e.message)
        self.domain(path, "Start", "u", (0,))
        eventually(lambda: max(self.numbers("tick"), default=0) >= 2, timeout=90,
                   what="the guest")
        # LIVE needs an external memory state
        e = self.assertDBusError("NotSupported", self.snapshot_create, path,
                                 "<domainsnapshot><name>y</name></domainsnapshot>", 256)
        self.assertIn("LIVE (256)", e.message)
        # DISK_ONLY has no memory
        self.assertDBusError("InvalidArgument", self.snapshot_create, path, snap, 16)
        # an existing memory file is never replaced
        with open(mem, "w") as f:
            f.write("keep me")
        e = self.assertDBusError("OperationInvalid", self.snapshot_create, path, snap)
        self.assertIn(mem, e.message)
        with open(mem) as f:
            self.assertEqual(f.read(), "keep me")
        # a missing directory
        e = self.assertDBusError(
            "InvalidArgument", self.snapshot_create, path,
            f"<domainsnapshot><name>x</name><memory snapshot='external' "
            f"file='{self.tmp}/nodir/x.mem'/></domainsnapshot>")
        self.assertIn("nodir", e.message)
        self.assertFalse(os.path.exists(os.path.join(self.tmp, "live.x")))
        self.assertEqual(self.domain(path, "ListSnapshots", "u", (0,)), [])
        self.assertEqual(self.source(path), self.disk)
        self.assertEqual(self.state(path), ("running", "booted"))
        self.domain(path, "Destroy", "u", (0,))


class ExternalMemoryDiskFullTest(GuestDiskMixin, vbtest.CtlTestCase):
    def setUp(self):
        if os.geteuid() != 0:
            self.skipTest("needs root (a mount namespace and a tmpfs)")
        from test_disk_full import private_mount_namespace
        private_mount_namespace()  # before the service starts: it sees the tmpfs
        super().setUp()
        self.small = os.path.join(self.tmp, "small")
        os.makedirs(self.small)
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m,mode=0755", "vbtest-extmem",
                        self.small], check=True)
        self.addCleanup(subprocess.run, ["umount", "-l", self.small])

    source = ExternalMemorySnapshotTest.source
    start_writing = ExternalMemorySnapshotTest.start_writing

    def test_full_file_system(self):
        small = self.small
        path = self.start_writing()
        mem = os.path.join(small, "full.mem")
        e = self.assertDBusError(
            "IO", self.snapshot_create, path,
            f"<domainsnapshot><name>full</name><memory snapshot='external' file='{mem}'/>"
            "</domainsnapshot>")
        self.assertIn("No space left on device", e.message)
        self.assertEqual(os.listdir(small), [])
        self.assertFalse(os.path.exists(os.path.join(self.tmp, "live.full")))
        self.assertEqual(self.source(path), self.disk)
        self.assertEqual(self.domain(path, "ListSnapshots", "u", (0,)), [])
        eventually(lambda: self.state(path) == ("running", "unpaused"), timeout=30,
                   what="the guest running again")
        mark = len(self.text())
        eventually(lambda: len(self.numbers("tick", mark)) >= 2, timeout=60,
                   what="the guest to count on")
        self.domain(path, "Destroy", "u", (0,))


class ExternalMemoryKillTest(GuestDiskMixin, vbtest.CtlTestCase):
    # the memory phase takes long enough to kill the service in it
    service_env = {"VIRTBUS_TEST_SAVE_MAX_BANDWIDTH": "262144"}

    source = ExternalMemorySnapshotTest.source
    start_writing = ExternalMemorySnapshotTest.start_writing

    def partial(self):
        return [f for f in os.listdir(self.tmp) if ".vbpart-" in f]

    def test_kill9_during_memory(self):
        """The service killed while QEMU writes the memory file: the restarted service
        cancels the migration, removes the partial file and lets the guest run again."""
        import threading
        path = self.start_writing()
        mem = os.path.join(self.tmp, "k.mem")
        errors = []

        def take():
            try:
                self.snapshot_create(
                    path, f"<domainsnapshot><name>k</name><memory snapshot='external' "
                    f"file='{mem}'/></domainsnapshot>")
            except vbtest.DBusCallError as e:
                errors.append(e)
        t = threading.Thread(target=take)
        t.start()
        eventually(lambda: self.partial() and
                   self.get_prop(path, vbtest.DOMAIN_IFACE, "StateReason") == "snapshot",
                   timeout=60, interval=0.05, what="the memory phase")
        # the snapshot's Job shows the migration's progress in phase "memory"
        job = self.get_prop(path, vbtest.DOMAIN_IFACE, "Job")
        self.assertEqual(self.get_prop(job, JOB_IFACE, "Operation"), "snapshot")
        self.assertEqual(self.get_prop(job, JOB_IFACE, "Phase"), "memory")
        self.assertFalse(self.get_prop(job, JOB_IFACE, "Cancelable"))
        eventually(lambda: self.get_prop(job, JOB_IFACE, "DataTotal") > 0 and
                   self.get_prop(job, JOB_IFACE, "DataProcessed") > 0, timeout=30,
                   what="the migration's progress on the Job")
        self.service.proc.kill()
        self.service.proc.wait()
        t.join()
        self.assertTrue(errors, "the snapshot's job did not fail with the service")
        self.service.start()
        eventually(lambda: self.state(path) == ("running", "unpaused"), timeout=60,
                   what="the guest running again after the restart")
        self.assertEqual(self.partial(), [])
        self.assertFalse(os.path.exists(mem))
        self.assertFalse(os.path.exists(os.path.join(self.tmp, "live.k")))
        self.assertEqual(self.source(path), self.disk)
        self.assertEqual(self.domain(path, "ListSnapshots", "u", (0,)), [])
        mark = len(self.text())
        eventually(lambda: len(self.numbers("tick", mark)) >= 2, timeout=60,
                   what="the guest to count again")
        # the domain takes snapshots again (its job was released): a disk-only one
        self.snapshot_create(path, "<domainsnapshot><name>k2</name></domainsnapshot>", 16)
        self.assertEqual(self.source(path), os.path.join(self.tmp, "live.k2"))
        self.domain(path, "Destroy", "u", (0,))


if __name__ == "__main__":
    vbtest.main()
