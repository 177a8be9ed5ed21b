#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Reverts that start a new QEMU (issue 15, snapstart), through the real virtbusd, with the
tiny guest under TCG counting each second (tgtick) and writing numbered sectors to a real
qcow2 disk (tgwrite):

- an inactive domain reverted to a snapshot taken while it ran: QEMU starts with the
  snapshot loaded (-loadvm); the counter goes on from the snapshot's value, not from a
  fresh boot; Started detail "from-snapshot"; the snapshot's definition becomes the
  domain's again; PAUSED leaves it paused;
- a revert whose QEMU cannot load the snapshot: QEMU's words in the error, the domain shut
  off, its definition and current snapshot as before;
- a running domain with another definition (ABI): OperationInvalid without FORCE; with
  FORCE, QEMU stops (Stopped "from-snapshot") and a new one runs the snapshot's (as it is
  after a restart of the service);
- a running domain reverted to a disk-only snapshot: stopped, disks reverted, shut off;
  RUNNING needs FORCE and then boots it afresh from the reverted disk;
- RUNNING with a disk-only snapshot of an inactive domain: the disks reverted, booted;
- RESET_NVRAM on a revert that starts the domain: the NVRAM made again from its template.
"""

import os
import re
import sys

sys.path.insert(0, os.path.dirname(__file__))
import vbtest  # noqa: E402
from vbtest import SignalRecorder, eventually  # noqa: E402
from test_snapshot_live import GuestDiskMixin  # noqa: E402

SNAP_IFACE = "org.virtbus.Virt1.Snapshot"


class SnapshotStartTest(GuestDiskMixin, vbtest.CtlTestCase):
    def guest_xml(self, mib=128, desc="one"):
        return super().guest_xml(mib, name="startsnap", head=(
            "\n  <uuid>5a9e1d3c-15aa-4c0e-9b1e-00000000f151</uuid>"
            f"\n  <description>{desc}</description>"))

    # -- helpers --
    def image_snapshots(self):
        return sorted(super().image_snapshots())

    def memory_kib(self, path, flags=0):
        xml = self.domain(path, "GetXMLDesc", "u", (flags,))
        return int(re.search(r"<memory unit='KiB'>(\d+)</memory>", xml).group(1))

    def current(self, path):
        cur = self.domain(path, "SnapshotCurrent", "u", (0,))
        return self.get_prop(cur, SNAP_IFACE, "Name")

    def lifecycle(self, rec, event):
        return rec.wait_for(lambda s: s[2] == "Lifecycle" and s[3] == event, timeout=30,
                            what=f"Lifecycle {event}")

    def running_snapshot(self, path, name="s1"):
        """Starts the guest, lets it count, takes snapshot @name while it runs; the guest
        counts on well past it. Returns (snapshot path, first tick after it)."""
        self.domain(path, "Start", "u", (0,))
        eventually(lambda: max(self.numbers("tick"), default=0) >= 4, timeout=90,
                   what="the guest to count")
        s = self.snapshot_create(path, f"<domainsnapshot><name>{name}</name></domainsnapshot>")
        mark = len(self.text())
        eventually(lambda: len(self.numbers("tick", mark)) >= 1, timeout=60,
                   what="the guest to go on after the snapshot")
        tick_at = self.numbers("tick", mark)[0]
        eventually(lambda: max(self.numbers("tick", mark)) >= tick_at + 5, timeout=90,
                   what="the guest to count past the snapshot")
        return s, tick_at

    def assert_goes_on_from(self, mark, tick_at):
        eventually(lambda: len(self.numbers("tick", mark)) >= 2, timeout=60,
                   what="ticks after the revert")
        after = self.numbers("tick", mark)
        # the snapshot's memory: the count goes on from there, not from a fresh boot's 1
        self.assertLessEqual(after[0], tick_at + 1, f"ticks after the revert: {after}")
        self.assertGreaterEqual(after[0], tick_at - 2, f"ticks after the revert: {after}")
        self.assertGreater(after[0], 2, f"a fresh boot, not the snapshot: {after}")
        self.assertNotIn("TINYGUEST: tick 1\n", self.text()[mark:].replace("\r", ""))

    # -- tests --
    def test_inactive_revert_loads_memory(self):
        path = self.manager("DefineXML", "su", (self.guest_xml(), 0))
        s1, tick_at = self.running_snapshot(path)
        self.domain(path, "Destroy", "u", (0,))
        # a changed definition since: the revert brings the snapshot's back
        self.manager("DefineXML", "su", (self.guest_xml(mib=192, desc="two"), 0))
        self.assertEqual(self.memory_kib(path), 192 * 1024)

        rec = SignalRecorder(self.conn, member="Lifecycle")
        self.snapshot_revert(s1, 0)
        mark = 0  # a new QEMU: a new serial file
        self.assertEqual(self.state(path), ("running", "from-snapshot"))
        self.lifecycle(rec, ("started", "from-snapshot"))
        self.assertFalse([s for s in rec.pump() if s[3] == ("started", "booted")])
        self.assertTrue(self.get_prop(s1, SNAP_IFACE, "Current"))
        self.assert_goes_on_from(mark, tick_at)
        self.assertEqual(self.memory_kib(path), 128 * 1024)
        self.assertEqual(self.memory_kib(path, 2), 128 * 1024)  # INACTIVE: the snapshot's
        self.assertIn("<description>one</description>", self.domain(path, "GetXMLDesc", "u",
                                                                    (2,)))
        # it stays the definition after the run ends
        self.domain(path, "Destroy", "u", (0,))
        self.assertEqual(self.memory_kib(path), 128 * 1024)

        # PAUSED: started with the snapshot loaded, left paused; it goes on when resumed
        self.snapshot_revert(s1, 2)
        mark = 0
        self.assertEqual(self.state(path), ("paused", "from-snapshot"))
        self.lifecycle(rec, ("suspended", "from-snapshot"))
        self.domain(path, "Resume", "", ())
        self.assert_goes_on_from(mark, tick_at)
        self.domain(path, "Destroy", "u", (0,))
        rec.close()

    def test_failed_start_changes_nothing(self):
        path = self.manager("DefineXML", "su", (self.guest_xml(), 0))
        s1, _ = self.running_snapshot(path)
        self.domain(path, "Destroy", "u", (0,))
        self.snapshot_create(path, "<domainsnapshot><name>s2</name></domainsnapshot>")
        self.manager("DefineXML", "su", (self.guest_xml(mib=192, desc="two"), 0))
        before = self.domain(path, "GetXMLDesc", "u", (2,))
        # the image loses s1 behind the service's back: QEMU cannot load it
        self.run_cmd(["qemu-img", "snapshot", "-d", "s1", self.disk])
        e = self.assertDBusError("Qemu", self.snapshot_revert, s1, 0)
        self.assertIn("revert to snapshot 's1'", e.message)
        self.assertRegex(e.message, r"QEMU: .*Snapshot 's1' does not exist")
        self.assertEqual(self.state(path)[0], "shutoff")
        self.assertEqual(self.domain(path, "GetXMLDesc", "u", (2,)), before)
        self.assertEqual(self.current(path), "s2")
        self.assertFalse(self.get_prop(s1, SNAP_IFACE, "Current"))
        self.assertEqual(self.image_snapshots(), ["s2"])
        # and the domain still starts as it is
        self.domain(path, "Start", "u", (0,))
        self.assertEqual(self.memory_kib(path), 192 * 1024)
        self.domain(path, "Destroy", "u", (0,))

    def test_force_revert_changed_definition(self):
        path = self.manager("DefineXML", "su", (self.guest_xml(), 0))
        s1, tick_at = self.running_snapshot(path)
        self.domain(path, "Destroy", "u", (0,))
        self.manager("DefineXML", "su", (self.guest_xml(mib=192, desc="two"), 0))
        self.domain(path, "Start", "u", (0,))
        eventually(lambda: self.numbers("tick") != [], timeout=90,
                   what="the changed guest to count")
        e = self.assertDBusError("OperationInvalid", self.snapshot_revert, s1, 0)
        self.assertIn("FORCE", e.message)
        self.assertEqual(self.state(path), ("running", "booted"))

        rec = SignalRecorder(self.conn, member="Lifecycle")
        self.snapshot_revert(s1, 4)
        mark = 0
        self.lifecycle(rec, ("stopped", "from-snapshot"))
        self.lifecycle(rec, ("started", "from-snapshot"))
        self.assertEqual(self.state(path), ("running", "from-snapshot"))
        self.assertEqual(self.memory_kib(path), 128 * 1024)
        self.assertEqual(self.memory_kib(path, 2), 128 * 1024)
        self.assert_goes_on_from(mark, tick_at)
        self.assertTrue(self.get_prop(s1, SNAP_IFACE, "Current"))
        rec.close()
        # a restarted service finds it as it was: running from the snapshot, its definitions
        self.conn.close_sync(None)
        self.assertEqual(self.service.stop(), 0)
        self.service.start()
        self.conn = vbtest.connect(self.bus.address)
        self.assertEqual(self.state(path), ("running", "from-snapshot"))
        self.assertEqual(self.memory_kib(path), 128 * 1024)
        self.assertEqual(self.memory_kib(path, 2), 128 * 1024)
        self.assertEqual(self.current(path), "s1")
        self.domain(path, "Destroy", "u", (0,))

    def test_running_to_disk_only(self):
        path = self.manager("DefineXML", "su", (self.guest_xml(), 0))
        d1 = self.snapshot_create(path, "<domainsnapshot><name>d1</name></domainsnapshot>")
        self.domain(path, "Start", "u", (0,))
        eventually(lambda: max(self.numbers("tgwrite"), default=0) >= 100, timeout=90,
                   what="the guest to write")
        self.assertGreaterEqual(self.disk_max_write(), 0)

        rec = SignalRecorder(self.conn, member="Lifecycle")
        self.snapshot_revert(d1, 0)
        self.lifecycle(rec, ("stopped", "from-snapshot"))
        self.assertEqual(self.state(path)[0], "shutoff")
        self.assertEqual(self.disk_max_write(), -1, "writes made after the snapshot survived")
        self.assertTrue(self.get_prop(d1, SNAP_IFACE, "Current"))

        # RUNNING from a running domain needs FORCE; with it, a fresh boot
        self.domain(path, "Start", "u", (0,))
        eventually(lambda: max(self.numbers("tgwrite"), default=0) >= 100, timeout=90,
                   what="the guest to write again")
        e = self.assertDBusError("OperationInvalid", self.snapshot_revert, d1, 1)
        self.assertIn("FORCE", e.message)
        self.assertEqual(self.state(path)[0], "running")
        self.snapshot_revert(d1, 1 | 4)
        mark = 0
        self.assertEqual(self.state(path), ("running", "from-snapshot"))
        eventually(lambda: len(self.numbers("tick", mark)) >= 1, timeout=90,
                   what="the guest to boot again")
        self.assertLessEqual(self.numbers("tick", mark)[0], 2, "not a fresh boot")
        self.domain(path, "Destroy", "u", (0,))
        rec.close()

    def test_inactive_disk_only_running(self):
        path = self.manager("DefineXML", "su", (self.guest_xml(), 0))
        d1 = self.snapshot_create(path, "<domainsnapshot><name>d1</name></domainsnapshot>")
        self.domain(path, "Start", "u", (0,))
        eventually(lambda: max(self.numbers("tgwrite"), default=0) >= 100, timeout=90,
                   what="the guest to write")
        self.domain(path, "Destroy", "u", (0,))
        self.assertGreaterEqual(self.disk_max_write(), 0)

        rec = SignalRecorder(self.conn, member="Lifecycle")
        self.snapshot_revert(d1, 1)
        mark = 0
        self.assertEqual(self.state(path), ("running", "from-snapshot"))
        self.lifecycle(rec, ("started", "from-snapshot"))
        eventually(lambda: len(self.numbers("tick", mark)) >= 1, timeout=90,
                   what="the guest to boot")
        self.assertLessEqual(self.numbers("tick", mark)[0], 2, "not a fresh boot")
        self.domain(path, "Destroy", "u", (0,))
        # PAUSED (virtbusctl): the disks reverted again, the new QEMU left paused
        self.ctl("snapshot-revert", "startsnap", "d1", "--paused")
        self.assertEqual(self.state(path), ("paused", "from-snapshot"))
        self.assertEqual(self.disk_max_write(), -1)
        self.domain(path, "Destroy", "u", (0,))
        rec.close()


    def test_reset_nvram(self):
        """RESET_NVRAM (8) on a revert that starts the domain: the NVRAM is made again from
        its template; on a revert that starts nothing it is NotSupported."""
        code, tmpl = "/usr/share/OVMF/OVMF_CODE_4M.fd", "/usr/share/OVMF/OVMF_VARS_4M.fd"
        if not os.path.exists(code):
            self.fail("OVMF is not installed (ovmf)")
        xml = f"""<domain type='qemu'>
  <name>nvsnap</name>
  <memory unit='MiB'>128</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='q35'>hvm</type>
    <loader readonly='yes' type='pflash'>{code}</loader>
    <nvram template='{tmpl}'/>
  </os>
  <devices>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file='{self.disk}'/>
      <target dev='vda' bus='virtio'/>
    </disk>
  </devices>
</domain>
"""
        path = self.manager("DefineXML", "su", (xml, 0))
        d1 = self.snapshot_create(path, "<domainsnapshot><name>d1</name></domainsnapshot>")
        nvram = re.search(r"<nvram[^>]*>([^<]+)</nvram>",
                          self.domain(path, "GetXMLDesc", "u", (2,))).group(1)
        self.domain(path, "Start", "u", (0,), timeout=90000)
        self.domain(path, "Destroy", "u", (0,))
        with open(nvram, "r+b") as f:
            f.seek(-16, os.SEEK_END)
            f.write(b"virtbus-marker!!")
        e = self.assertDBusError("NotSupported", self.snapshot_revert, d1, 8)
        self.assertIn("RESET_NVRAM", e.message)
        # PAUSED | RESET_NVRAM: started (paused) with a fresh NVRAM
        self.snapshot_revert(d1, 2 | 8)
        self.assertEqual(self.state(path), ("paused", "from-snapshot"))
        with open(nvram, "rb") as f, open(tmpl, "rb") as t:
            self.assertEqual(f.read(), t.read())
        self.domain(path, "Destroy", "u", (0,))


if __name__ == "__main__":
    vbtest.main()
