#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Reverts to external snapshots (issue 15, extrevert), through the real virtbusd, with the
tiny guest under TCG counting (tgtick) and writing numbered sectors (tgwrite) to a real
qcow2 disk:

- inactive domain, disk-only snapshot S: data written after S (qemu-io on S's overlay) is
  gone after the revert; the definition names a new overlay (S's overlay name + "-1")
  whose backing file is S's image; S's own overlay stays with its data; S records the new
  overlay as <revertDisks> and is current; Delete of S is refused (METADATA_ONLY named),
  and so is Delete of the snapshot whose overlay is S's image; a second revert makes
  "-2"; virtbusctl snapshot-revert works;
- running domain, disk-only S: RUNNING needs FORCE; with PAUSED|FORCE QEMU stops
  (Stopped "from-snapshot") and a new one runs paused from the new overlay, which holds
  the disk as it was at S (none of the guest's later writes); resumed, the guest boots
  afresh from it; RUNNING|FORCE runs it at once;
- a snapshot with an external memory state (redefined: its memory file made by
  Domain.Save, its <domain> naming the disk's image at the save): the running domain is
  stopped, QEMU restores the memory onto a new overlay over that image, and the guest's
  counter goes on from the save's value, reason "from-snapshot"; the image is not written;
- failures: a snapshot whose image is gone is refused at the call (OperationInvalid),
  before anything changes, and so are a missing memory file and another domain's save
  image; a revert whose qemu-img fails (the image is no qcow2 any more) or whose QEMU
  cannot start (a redefined <domain> with a missing kernel) fails in the job and leaves
  no overlay, the definition, the current snapshot and the state as they were;
- <revertDisks> is kept in the stored metadata over a restart of the service.
"""

import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
import vbtest  # noqa: E402
from vbtest import SignalRecorder, eventually  # noqa: E402
from test_snapshot_live import GuestDiskMixin  # noqa: E402

SNAP_IFACE = "org.virtbus.Virt1.Snapshot"
RUNNING, PAUSED, FORCE = 1, 2, 4
DISK_ONLY, REDEFINE = 16, 1
COMPRESS = 1 << 31  # Domain.Save: a zstd-compressed image


class ExternalRevertTest(GuestDiskMixin, vbtest.CtlTestCase):
    def guest_xml(self, memory_mib=128, extra="", name="extrev", head=""):
        return super().guest_xml(memory_mib, extra, name=name, head=(
            "\n  <uuid>3c1f6a2e-15ee-4b7a-8d2c-0000000e7e15</uuid>" + head))

    def info(self, image):
        return json.loads(self.run_cmd(["qemu-img", "info", "-U", "--output=json",
                                        image]).stdout)

    def source(self, path, flags=0):
        xml = self.domain(path, "GetXMLDesc", "u", (flags,))
        return xml.split("<source file='", 1)[1].split("'", 1)[0]

    def current(self, path):
        cur = self.domain(path, "SnapshotCurrent", "u", (0,))
        return self.get_prop(cur, SNAP_IFACE, "Name")

    def qemu_io(self, image, *cmds, check=True):
        argv = ["qemu-io", "-f", "qcow2"]
        for c in cmds:
            argv += ["-c", c]
        return self.run_cmd(argv + [image], check=check)

    def test_inactive_disk_only(self):
        path = self.manager("DefineXML", "su", (self.guest_xml(), 0))
        self.qemu_io(self.disk, "write -P 0x11 0 64k")
        s = self.snapshot_create(path, "<domainsnapshot><name>s</name></domainsnapshot>",
                                 DISK_ONLY)
        overlay = os.path.join(self.tmp, "live.s")
        self.assertEqual(self.source(path, 2), overlay)
        # written after the snapshot, into its overlay
        self.qemu_io(overlay, "write -P 0x5a 0 64k", "write -P 0x6b 1M 64k")
        self.snapshot_create(path, "<domainsnapshot><name>t</name></domainsnapshot>",
                             DISK_ONLY)
        self.assertEqual(self.current(path), "t")

        rec = SignalRecorder(self.conn, member="Lifecycle")
        self.snapshot_revert(s)
        new = overlay + "-1"
        self.assertEqual(self.state(path)[0], "shutoff")
        self.assertEqual(self.source(path, 2), new)
        info = self.info(new)
        self.assertEqual((info["format"], info["backing-filename"],
                          info.get("backing-filename-format")), ("qcow2", self.disk, "qcow2"))
        # the data of the branch left is gone from the disk, and kept in the old overlay
        self.qemu_io(new, "read -P 0x11 0 64k", "read -P 0 1M 64k")
        self.qemu_io(overlay, "read -P 0x5a 0 64k", "read -P 0x6b 1M 64k")
        self.assertTrue(os.path.exists(os.path.join(self.tmp, "live.t")))
        self.assertEqual(self.current(path), "s")
        self.assertTrue(self.get_prop(s, SNAP_IFACE, "Current"))
        rec.wait_for(lambda m: m[3] == ("defined", "updated"), timeout=30,
                     what="Lifecycle defined/updated")
        rec.close()
        xml = self.snap(s, "GetXMLDesc", "u", (0,))
        self.assertIn("<revertDisks>\n    <disk name='vda' snapshot='external' type='file'>\n"
                      "      <driver type='qcow2'/>\n"
                      f"      <source file='{new}'/>\n    </disk>\n  </revertDisks>", xml)
        self.assertIn(f"<source file='{overlay}'/>", xml)

        # the images two branches sit on are not merged
        e = self.assertDBusError("OperationInvalid", self.snap, s, "Delete", "u", (0,))
        self.assertIn("was reverted to", e.message)
        self.assertIn("METADATA_ONLY", e.message)
        self.assertTrue(os.path.exists(new) and os.path.exists(overlay))
        self.qemu_io(new, "read -P 0x11 0 64k")

        # writes on the new overlay, then a second revert: "-2", "-1" stays
        self.qemu_io(new, "write -P 0x77 0 64k")
        p = self.ctl("snapshot-revert", "extrev", "s")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(self.source(path, 2), overlay + "-2")
        self.qemu_io(overlay + "-2", "read -P 0x11 0 64k")
        self.qemu_io(new, "read -P 0x77 0 64k")
        self.assertIn(f"<source file='{overlay}-2'/>", self.snap(s, "GetXMLDesc", "u", (0,)))
        # metadata only: the images stay
        self.snap(s, "Delete", "u", (2,))
        for f in (overlay, new, overlay + "-2"):
            self.assertTrue(os.path.exists(f), f)

    def test_delete_of_the_reverted_snapshots_base(self):
        path = self.manager("DefineXML", "su", (self.guest_xml(), 0))
        a = self.snapshot_create(path, "<domainsnapshot><name>a</name></domainsnapshot>",
                                 DISK_ONLY)
        b = self.snapshot_create(path, "<domainsnapshot><name>b</name></domainsnapshot>",
                                 DISK_ONLY)
        self.snapshot_revert(b)
        # b's image is a's overlay: it is now the base of b's overlay and of the revert's
        self.assertEqual(self.info(os.path.join(self.tmp, "live.b-1"))["backing-filename"],
                         os.path.join(self.tmp, "live.a"))
        e = self.assertDBusError("OperationInvalid", self.snap, a, "Delete", "u", (0,))
        self.assertIn("snapshot 'b', which was reverted to", e.message)
        self.assertTrue(os.path.exists(os.path.join(self.tmp, "live.a")))
        # <revertDisks> is kept in the stored metadata: the same after a restart
        self.conn.close_sync(None)
        self.assertEqual(self.service.stop(), 0)
        self.service.start()
        self.conn = vbtest.connect(self.bus.address)
        b = self.domain(path, "SnapshotLookupByName", "su", ("b", 0))
        self.assertTrue(self.get_prop(b, SNAP_IFACE, "Current"))
        self.assertIn(f"<source file='{self.tmp}/live.b-1'/>\n    </disk>\n  </revertDisks>",
                      self.snap(b, "GetXMLDesc", "u", (0,)))
        e = self.assertDBusError("OperationInvalid", self.snap, b, "Delete", "u", (0,))
        self.assertIn("was reverted to", e.message)
        self.assertEqual(self.source(path, 2), os.path.join(self.tmp, "live.b-1"))

    def test_running_disk_only(self):
        path = self.manager("DefineXML", "su", (self.guest_xml(), 0))
        self.domain(path, "Start", "u", (0,))
        eventually(lambda: max(self.numbers("tgwrite"), default=0) >= 100, timeout=90,
                   what="the guest to write")
        s = self.snapshot_create(path, "<domainsnapshot><name>r</name></domainsnapshot>",
                                 DISK_ONLY)
        overlay = os.path.join(self.tmp, "live.r")
        at_snapshot = self.disk_max_write(self.disk)
        self.assertGreaterEqual(at_snapshot, 100)
        before = max(self.numbers("tgwrite"))
        eventually(lambda: max(self.numbers("tgwrite")) >= before + 200, timeout=90,
                   what="the guest to write after the snapshot")
        self.assertGreater(self.disk_max_write(overlay), at_snapshot + 100)

        e = self.assertDBusError("OperationInvalid", self.call, s, SNAP_IFACE, "Revert", "u",
                                 (RUNNING,))
        self.assertIn("FORCE", e.message)
        self.assertEqual(self.state(path)[0], "running")

        rec = SignalRecorder(self.conn, member="Lifecycle")
        self.snapshot_revert(s, PAUSED | FORCE)
        for event in (("stopped", "from-snapshot"), ("started", "from-snapshot"),
                      ("suspended", "from-snapshot")):
            rec.wait_for(lambda m: m[3] == event, timeout=30, what=f"Lifecycle {event}")
        rec.close()
        self.assertEqual(self.state(path), ("paused", "from-snapshot"))
        new = overlay + "-1"
        self.assertEqual(self.source(path), new)
        self.assertEqual(self.source(path, 2), new)
        self.assertEqual(self.info(new)["backing-filename"], self.disk)
        # the disk as it was at the snapshot: none of the later writes
        self.assertEqual(self.disk_max_write(new), at_snapshot)
        self.domain(path, "Resume")
        # a new QEMU writes a new serial file: the guest boots afresh there
        eventually(lambda: self.numbers("tick"), timeout=90,
                   what="the guest to boot afresh from the reverted disk")
        self.assertLessEqual(self.numbers("tick")[0], 1, self.text())  # from 0: a boot
        self.assertEqual(self.disk_max_write(self.disk), at_snapshot)
        self.assertTrue(os.path.exists(overlay))

        self.snapshot_revert(s, RUNNING | FORCE)
        self.assertEqual(self.state(path), ("running", "from-snapshot"))
        self.assertEqual(self.source(path), overlay + "-2")
        self.assertEqual(self.current(path), "r")
        # without RUNNING/PAUSED: QEMU stops, the domain stays shut off on a new overlay
        self.snapshot_revert(s)
        self.assertEqual(self.state(path), ("shutoff", "from-snapshot"))
        self.assertEqual(self.source(path), overlay + "-3")
        self.assertEqual(self.disk_max_write(overlay + "-3"), at_snapshot)

    def test_memory_from_save_image(self):
        self.memory_revert(0)

    def test_memory_from_compressed_save_image(self):
        self.memory_revert(COMPRESS)  # QEMU reads it through zstd -d

    def memory_revert(self, save_flags):
        path = self.manager("DefineXML", "su", (self.guest_xml(), 0))
        self.domain(path, "Start", "u", (0,))
        eventually(lambda: max(self.numbers("tick"), default=0) >= 4, timeout=90,
                   what="the guest to count")
        inactive = self.domain(path, "GetXMLDesc", "u", (2,))
        save = os.path.join(self.tmp, "m1.save")
        job = self.domain(path, "Save", "ssu", (save, "", save_flags))
        self.call(job, "org.virtbus.Virt1.Job", "Wait", timeout=180000)
        self.assertEqual(self.state(path)[0], "shutoff")
        tick_at = max(self.numbers("tick"))
        disk_at = self.disk_max_write(self.disk)
        # S: its memory is the save image; its disks were the image (A) at the save
        body = inactive.split("<domain", 1)[1]
        snap_xml = (
            "<domainsnapshot>\n  <name>m1</name>\n  <state>running</state>\n"
            f"  <creationTime>{int(time.time())}</creationTime>\n"
            f"  <memory snapshot='external' file='{save}'/>\n"
            "  <disks>\n    <disk name='vda' snapshot='external' type='file'>\n"
            "      <driver type='qcow2'/>\n"
            f"      <source file='{os.path.join(self.tmp, 'live.m1')}'/>\n"
            "    </disk>\n  </disks>\n  <domain" + body + "</domainsnapshot>\n")
        m1 = self.snapshot_create(path, snap_xml, REDEFINE)
        self.assertTrue(self.get_prop(m1, SNAP_IFACE, "IsExternal"))
        # the domain runs on an overlay of its own meanwhile (a fresh boot)
        other = os.path.join(self.tmp, "other.qcow2")
        self.run_cmd(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b",
                      self.disk, other])
        self.manager("DefineXML", "su", (inactive.replace(self.disk, other), 0))
        self.domain(path, "Start", "u", (0,))
        eventually(lambda: len(self.numbers("tick")) >= 2, timeout=90,
                   what="the fresh boot to count")
        self.assertIn("TINYGUEST: tick 1", self.text())

        self.snapshot_revert(m1)
        mark = 0  # a new QEMU: a new serial file
        self.assertEqual(self.state(path), ("running", "from-snapshot"))
        new = os.path.join(self.tmp, "live.m1-1")
        self.assertEqual(self.source(path), new)
        self.assertEqual(self.source(path, 2), new)
        self.assertEqual(self.info(new)["backing-filename"], self.disk)
        eventually(lambda: len(self.numbers("tick", mark)) >= 2, timeout=90,
                   what="ticks after the revert")
        after = self.numbers("tick", mark)
        self.assertLessEqual(after[0], tick_at + 2, f"ticks after the revert: {after}")
        self.assertGreaterEqual(after[0], tick_at, f"ticks after the revert: {after}")
        self.assertNotIn("TINYGUEST: tick 1\n", self.text()[mark:].replace("\r", ""))
        self.assertEqual(self.current(path), "m1")
        if save_flags:
            self.domain(path, "Destroy", "u", (0,))
            return
        # PAUSED overrides the snapshot's state; a new overlay again, the last one stays
        self.snapshot_revert(m1, PAUSED)
        self.assertEqual(self.state(path), ("paused", "from-snapshot"))
        self.assertEqual(self.source(path), os.path.join(self.tmp, "live.m1-2"))
        self.assertTrue(os.path.exists(new))
        self.domain(path, "Destroy", "u", (0,))
        self.assertEqual(self.disk_max_write(self.disk), disk_at)
        self.assertTrue(os.path.exists(save))

    def test_failures_change_nothing(self):
        path = self.manager("DefineXML", "su", (self.guest_xml(), 0))
        inactive = self.domain(path, "GetXMLDesc", "u", (2,))
        s = self.snapshot_create(path, "<domainsnapshot><name>s</name></domainsnapshot>",
                                 DISK_ONLY)
        self.snapshot_create(path, "<domainsnapshot><name>t</name></domainsnapshot>",
                             DISK_ONLY)
        top = os.path.join(self.tmp, "live.t")
        before = (self.domain(path, "GetXMLDesc", "u", (2,)), self.current(path),
                  self.state(path), sorted(os.listdir(self.tmp)))
        # the image the snapshot holds the disk in is gone: refused at the call
        os.rename(self.disk, self.disk + ".away")
        e = self.assertDBusError("OperationInvalid", self.call, s, SNAP_IFACE, "Revert", "u",
                                 (0,))
        self.assertIn("does not exist", e.message)
        self.assertIn(self.disk, e.message)
        os.rename(self.disk + ".away", self.disk)
        self.assertEqual((self.domain(path, "GetXMLDesc", "u", (2,)), self.current(path),
                          self.state(path), sorted(os.listdir(self.tmp))), before)

        # qemu-img cannot make the overlay (the image is no qcow2 any more): the job fails
        os.rename(self.disk, self.disk + ".away")
        with open(self.disk, "wb") as f:
            f.write(b"not an image" * 100)
        with self.assertRaises(vbtest.DBusCallError) as cm:
            self.snapshot_revert(s)
        self.assertIn("revert to snapshot 's'", cm.exception.message)
        os.rename(self.disk + ".away", self.disk)
        self.assertEqual((self.domain(path, "GetXMLDesc", "u", (2,)), self.current(path),
                          self.state(path), sorted(os.listdir(self.tmp))), before)

        # QEMU cannot start from the snapshot's definition: the job fails, nothing stays
        bad = ("<domainsnapshot>\n  <name>bad</name>\n  <state>disk-snapshot</state>\n"
               "  <creationTime>1700000000</creationTime>\n  <memory snapshot='no'/>\n"
               "  <disks>\n    <disk name='vda' snapshot='external' type='file'>\n"
               "      <driver type='qcow2'/>\n"
               f"      <source file='{os.path.join(self.tmp, 'live.bad')}'/>\n"
               "    </disk>\n  </disks>\n  <domain"
               + inactive.split("<domain", 1)[1].replace(
                   "/vmlinux</kernel>", "/no-such-vmlinux</kernel>")
               + "</domainsnapshot>\n")
        b = self.snapshot_create(path, bad, REDEFINE)
        with self.assertRaises(vbtest.DBusCallError) as cm:
            self.snapshot_revert(b, RUNNING)
        self.assertIn("bad", cm.exception.message)
        self.assertFalse(os.path.exists(os.path.join(self.tmp, "live.bad-1")))
        self.assertEqual(self.source(path, 2), top)
        self.assertEqual(self.current(path), "t")
        self.assertEqual(self.state(path)[0], "shutoff")
        self.assertNotIn("<revertDisks>", self.snap(b, "GetXMLDesc", "u", (0,)))

        # a missing memory file is refused at the call
        snap_with_memory = bad.replace("<name>bad</name>", "<name>mem</name>").replace(
            "<state>disk-snapshot</state>", "<state>running</state>").replace(
            "<memory snapshot='no'/>",
            f"<memory snapshot='external' file='{self.tmp}/no-such.save'/>")
        m = self.snapshot_create(path, snap_with_memory, REDEFINE)
        with self.assertRaises(vbtest.DBusCallError) as cm:
            self.call(m, SNAP_IFACE, "Revert", "u", (0,))
        self.assertIn("memory state cannot be restored", cm.exception.message)
        # a save image of another domain: refused at the call too
        own = os.path.join(self.tmp, "own.qcow2")
        self.run_cmd(["qemu-img", "create", "-q", "-f", "qcow2", own, "16M"])
        other = self.manager("DefineXML", "su", (
            super().guest_xml(name="other").replace(self.disk, own), 0))
        self.domain(other, "Start", "u", (0,))
        eventually(lambda: max(self.numbers("tick"), default=0) >= 1, timeout=90,
                   what="the other guest to run")
        save = os.path.join(self.tmp, "other.save")
        self.call(self.domain(other, "Save", "ssu", (save, "", 0)), "org.virtbus.Virt1.Job",
                  "Wait", timeout=180000)
        m2 = self.snapshot_create(path, snap_with_memory.replace(
            "<name>mem</name>", "<name>mem2</name>").replace(
            f"{self.tmp}/no-such.save", save), REDEFINE)
        with self.assertRaises(vbtest.DBusCallError) as cm:
            self.call(m2, SNAP_IFACE, "Revert", "u", (0,))
        self.assertIn("holds domain", cm.exception.message)
        self.assertEqual(self.current(path), "t")
        self.assertEqual(self.source(path, 2), top)


if __name__ == "__main__":
    vbtest.main()
