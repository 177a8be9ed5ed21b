#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Snapshots on the bus (issue 15, part snapbus): internal disk-only snapshots of an
inactive domain with real qcow2 images (qemu-img create), data written and checked with
qemu-io, through the real virtbusd:

- create, revert (the data written after the snapshot is gone), delete (the internal
  snapshot gone from the image), list/lookup/current, the XML, the Snapshot objects'
  properties and PropertiesChanged on Current;
- REDEFINE and NO_METADATA; the snapshots and the current one kept over a restart;
- Undefine refused without SNAPSHOTS_METADATA and clean with it;
- bad XML, an unknown name, what a running domain cannot do yet, unimplemented flags:
  named errors; VALIDATE;
- an image held by another process (qemu-io): Busy, no metadata, no partial snapshot.
"""

import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
import vbtest  # noqa: E402
from vbtest import DOMAIN_IFACE, SignalRecorder, connect, eventually  # noqa: E402

SNAP_IFACE = "org.virtbus.Virt1.Snapshot"
UUID = "5a9e1d3c-15aa-4c0e-9b1e-00000000f015"

XML = """<domain type='qemu'>
  <name>{name}</name>
  <uuid>{uuid}</uuid>
  <memory unit='MiB'>128</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='q35'>hvm</type>
  </os>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
{disks}
  </devices>
</domain>
"""

DISK = """    <disk type='file' device='disk'>
      <driver name='qemu' type='{fmt}'/>
      <source file='{path}'/>
      <target dev='{dev}' bus='virtio'/>
    </disk>"""


class SnapshotBase(vbtest.VirtbusTestCase):
    """Helpers: images, the domain, qemu-io and qemu-img checks (no tests of its own)."""

    def setUp(self):
        super().setUp()
        self.images = os.path.join(self.tmp, "images")
        os.makedirs(self.images)
        self.holders = []

    def tearDown(self):
        for p in self.holders:
            if p.poll() is None:
                p.stdin.close()
                p.wait(timeout=20)
            p.stdout.close()
        super().tearDown()

    # -- helpers --
    def make_image(self, name, fmt="qcow2"):
        path = os.path.join(self.images, name)
        self.run_cmd(["qemu-img", "create", "-q", "-f", fmt, path, "16M"])
        return path

    def define_with(self, disks, name="snapvm"):
        text = "\n".join(DISK.format(fmt=f, path=p, dev=d) for d, p, f in disks)
        return self.manager("DefineXML", "su", (XML.format(name=name, uuid=UUID, disks=text), 0))

    def qemu_io(self, path, cmd):
        return self.run_cmd(["qemu-io", "-f", "qcow2", "-c", cmd, path], check=False)

    def assert_pattern(self, path, pattern):
        p = self.qemu_io(path, f"read -P {pattern} 0 64k")
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertNotIn("Pattern verification failed", p.stdout + p.stderr)

    def image_snapshots(self, path):
        p = self.run_cmd(["qemu-img", "snapshot", "-U", "-l", path])
        names = []
        for line in p.stdout.splitlines()[2:]:
            fields = line.split()
            if len(fields) >= 2:
                names.append(fields[1])
        return names

    def create(self, dom, xml, flags=0):
        return self.snapshot_create(dom, xml, flags)

    def snap(self, path, method, sig=None, args=()):
        r = self.call(path, SNAP_IFACE, method, sig, args)
        if r == ():
            return None
        return r[0] if r and len(r) == 1 else r

    def props(self, path):
        return self.get_all(path, SNAP_IFACE)

    def find_snapshot_dir(self):
        for top, dirs, _ in os.walk(self.root):
            if os.path.basename(top) == "snapshot" and UUID in dirs:
                return os.path.join(top, UUID)
        return None


class SnapshotTest(SnapshotBase):
    def test_create_revert_delete(self):
        a = self.make_image("a.qcow2")
        b = self.make_image("b.qcow2")
        dom = self.define_with([("vda", a, "qcow2"), ("vdb", b, "qcow2")])
        for img in (a, b):
            self.assertEqual(self.qemu_io(img, "write -P 0xaa 0 64k").returncode, 0)
        self.assertDBusError("NoSnapshot", self.domain, dom, "SnapshotCurrent", "u", (0,))
        self.assertEqual(self.domain(dom, "ListSnapshots", "u", (0,)), [])

        before = int(time.time())
        s1 = self.create(dom, "<domainsnapshot><name>s1</name>"
                              "<description>first</description></domainsnapshot>")
        self.assertTrue(s1.startswith(dom + "/snapshot/"), s1)
        p1 = self.props(s1)
        self.assertEqual(p1["Name"], "s1")
        self.assertEqual(p1["Parent"], "/")
        self.assertTrue(p1["Current"])
        self.assertEqual(p1["State"], "shutoff")
        self.assertTrue(p1["HasMetadata"])
        self.assertFalse(p1["IsExternal"])
        self.assertLessEqual(before, p1["CreationTime"])
        self.assertLessEqual(p1["CreationTime"], int(time.time()))
        for img in (a, b):
            self.assertEqual(self.image_snapshots(img), ["s1"])
        self.assertIn(s1, self.managed_objects())
        self.assertEqual(self.managed_objects()[s1][SNAP_IFACE]["Name"], "s1")

        # other data after the snapshot, then revert: the old data is back on both disks
        for img in (a, b):
            self.assertEqual(self.qemu_io(img, "write -P 0xbb 0 64k").returncode, 0)
            self.assert_pattern(img, "0xbb")
        self.snapshot_revert(s1, 0)
        for img in (a, b):
            self.assert_pattern(img, "0xaa")

        # a second snapshot (DISK_ONLY, internal disks named: DISK_ONLY alone is external, as
        # in libvirt): child of s1, s1 no longer current (signalled)
        rec = SignalRecorder(self.conn, "org.freedesktop.DBus.Properties", "PropertiesChanged",
                             s1)
        s2 = self.create(dom, "<domainsnapshot><name>s2</name><disks>"
                              "<disk name='vda' snapshot='internal'/>"
                              "<disk name='vdb' snapshot='internal'/></disks></domainsnapshot>",
                         16)
        self.assertNotEqual(s1, s2)
        rec.wait_for(lambda s: s[3][0] == SNAP_IFACE and s[3][1].get("Current") is False,
                     what="PropertiesChanged Current=false on s1")
        rec.close()
        p2 = self.props(s2)
        self.assertEqual(p2["Parent"], s1)
        self.assertEqual(p2["State"], "disk-snapshot")
        self.assertTrue(p2["Current"])
        self.assertFalse(self.get_prop(s1, SNAP_IFACE, "Current"))
        self.assertEqual(self.domain(dom, "ListSnapshots", "u", (0,)), [s1, s2])
        self.assertEqual(self.domain(dom, "ListSnapshots", "u", (1,)), [s1])      # ROOTS
        self.assertEqual(self.domain(dom, "ListSnapshots", "u", (4,)), [s2])      # LEAVES
        self.assertEqual(self.domain(dom, "ListSnapshots", "u", (8,)), [s1])      # NO_LEAVES
        self.assertEqual(self.domain(dom, "ListSnapshots", "u", (128,)), [s2])    # DISK_ONLY
        self.assertEqual(self.domain(dom, "ListSnapshots", "u", (32,)), [s1])     # INACTIVE
        self.assertEqual(self.domain(dom, "ListSnapshots", "u", (16,)), [])       # NO_METADATA
        self.assertEqual(self.domain(dom, "SnapshotLookupByName", "su", ("s1", 0)), s1)
        self.assertEqual(self.domain(dom, "SnapshotCurrent", "u", (0,)), s2)
        xml = self.snap(s2, "GetXMLDesc", "u", (0,))
        self.assertIn("<name>s2</name>", xml)
        self.assertIn("<state>disk-snapshot</state>", xml)
        self.assertIn("<name>s1</name>", xml)  # the parent
        self.assertIn("<domain type='qemu'>", xml)
        self.assertIn("<description>first</description>", self.snap(s1, "GetXMLDesc", "u", (0,)))

        # delete s2: gone from both images, its object gone, s1 current again
        self.assertIsNone(self.snap(s2, "Delete", "u", (0,)))
        for img in (a, b):
            self.assertEqual(self.image_snapshots(img), ["s1"])
        eventually(lambda: s2 not in self.managed_objects(), what="s2 unexported")
        self.assertDBusError("NoSnapshot", self.snap, s2, "GetXMLDesc", "u", (0,))
        self.assertEqual(self.domain(dom, "SnapshotCurrent", "u", (0,)), s1)
        self.assertTrue(self.get_prop(s1, SNAP_IFACE, "Current"))
        self.assertDBusError("NoSnapshot", self.domain, dom, "SnapshotLookupByName", "su",
                             ("s2", 0))

    def test_delete_children_and_metadata_only(self):
        a = self.make_image("a.qcow2")
        dom = self.define_with([("vda", a, "qcow2")])
        s1 = self.create(dom, "<domainsnapshot><name>s1</name></domainsnapshot>")
        s2 = self.create(dom, "<domainsnapshot><name>s2</name></domainsnapshot>")
        s3 = self.create(dom, "<domainsnapshot><name>s3</name></domainsnapshot>")
        self.assertEqual(self.image_snapshots(a), ["s1", "s2", "s3"])
        # CHILDREN_ONLY: s2 and s3 go, s1 stays and becomes current
        self.assertIsNone(self.snap(s1, "Delete", "u", (4,)))
        self.assertEqual(self.image_snapshots(a), ["s1"])
        self.assertEqual(self.domain(dom, "ListSnapshots", "u", (0,)), [s1])
        self.assertEqual(self.domain(dom, "SnapshotCurrent", "u", (0,)), s1)
        for gone in (s2, s3):
            eventually(lambda: gone not in self.managed_objects(), what=f"{gone} unexported")
        # METADATA_ONLY: the image keeps it
        self.assertIsNone(self.snap(s1, "Delete", "u", (2,)))
        self.assertEqual(self.image_snapshots(a), ["s1"])
        self.assertEqual(self.domain(dom, "ListSnapshots", "u", (0,)), [])
        self.assertDBusError("InvalidArgument", self.snap,
                             self.create(dom, "<domainsnapshot><name>x</name></domainsnapshot>"),
                             "Delete", "u", (5,))

    def test_redefine_and_no_metadata(self):
        a = self.make_image("a.qcow2")
        dom = self.define_with([("vda", a, "qcow2")])
        # NO_METADATA: in the image only, no object
        self.assertEqual(self.create(dom, "<domainsnapshot><name>bare</name></domainsnapshot>",
                                     4), "/")
        self.assertEqual(self.image_snapshots(a), ["bare"])
        self.assertEqual(self.domain(dom, "ListSnapshots", "u", (0,)), [])
        self.assertDBusError("NoSnapshot", self.domain, dom, "SnapshotCurrent", "u", (0,))
        self.assertIsNone(self.find_snapshot_dir() and
                          [f for f in os.listdir(self.find_snapshot_dir()) if f.endswith(".xml")]
                          or None)

        # a snapshot's metadata dropped, then redefined from its XML (CURRENT)
        s1 = self.create(dom, "<domainsnapshot><name>s1</name>"
                              "<description>kept</description></domainsnapshot>")
        xml = self.snap(s1, "GetXMLDesc", "u", (0,))
        self.assertIsNone(self.snap(s1, "Delete", "u", (2,)))
        self.assertEqual(self.domain(dom, "ListSnapshots", "u", (0,)), [])
        self.assertDBusError("InvalidArgument", self.create, dom, xml, 2)  # CURRENT alone
        r = self.create(dom, xml, 1 | 2)
        self.assertNotEqual(r, s1)  # a new object: N is never reused
        p = self.props(r)
        self.assertEqual(p["Name"], "s1")
        self.assertTrue(p["Current"])
        self.assertEqual(self.snap(r, "GetXMLDesc", "u", (0,)), xml)
        # the data of the redefined snapshot is the image's: revert works
        self.assertEqual(self.qemu_io(a, "write -P 0x11 0 64k").returncode, 0)
        self.snapshot_revert(r, 0)
        self.assert_pattern(a, "0x00")
        # REDEFINE of a broken XML
        self.assertDBusError("InvalidXML", self.create, dom, "<domainsnapshot><name>",
                             1)

    def test_restart_keeps_snapshots(self):
        a = self.make_image("a.qcow2")
        dom = self.define_with([("vda", a, "qcow2")])
        s1 = self.create(dom, "<domainsnapshot><name>s1</name></domainsnapshot>")
        self.create(dom, "<domainsnapshot><name>s2</name></domainsnapshot>")
        self.snapshot_revert(s1, 0)
        self.conn.close_sync(None)
        self.assertEqual(self.service.stop(), 0)
        self.service.start()
        self.conn = connect(self.bus.address)
        # loaded at start: the objects are on the bus before any snapshot call
        objs = eventually(lambda: {p: i[SNAP_IFACE] for p, i in self.managed_objects().items()
                                   if SNAP_IFACE in i} or None, what="snapshot objects")
        self.assertEqual(sorted(v["Name"] for v in objs.values()), ["s1", "s2"])
        self.assertEqual([v["Current"] for v in objs.values() if v["Name"] == "s1"], [True])
        listed = self.domain(dom, "ListSnapshots", "u", (0,))
        self.assertEqual([self.get_prop(p, SNAP_IFACE, "Name") for p in listed], ["s1", "s2"])
        cur = self.domain(dom, "SnapshotCurrent", "u", (0,))
        self.assertEqual(self.get_prop(cur, SNAP_IFACE, "Name"), "s1")
        s2 = self.domain(dom, "SnapshotLookupByName", "su", ("s2", 0))
        self.assertEqual(self.get_prop(s2, SNAP_IFACE, "Parent"), cur)
        self.assertFalse(self.get_prop(s2, SNAP_IFACE, "Current"))
        self.assertIn(s2, self.managed_objects())

    def test_undefine_needs_snapshots_metadata(self):
        a = self.make_image("a.qcow2")
        dom = self.define_with([("vda", a, "qcow2")])
        s1 = self.create(dom, "<domainsnapshot><name>s1</name></domainsnapshot>")
        e = self.assertDBusError("OperationInvalid", self.domain, dom, "Undefine", "u", (0,))
        self.assertIn("SNAPSHOTS_METADATA", e.message)
        self.assertEqual(self.get_prop(dom, DOMAIN_IFACE, "Name"), "snapvm")
        self.assertTrue(os.path.isdir(self.find_snapshot_dir()))
        self.assertEqual(self.domain(dom, "Undefine", "u", (2,)), ())
        self.assertIsNone(self.find_snapshot_dir())
        eventually(lambda: not {dom, s1} & set(self.managed_objects()),
                   what="domain and snapshot unexported")
        # the snapshot stays in the image (metadata only)
        self.assertEqual(self.image_snapshots(a), ["s1"])
        # defined again: no snapshot metadata left over
        dom = self.define_with([("vda", a, "qcow2")])
        self.assertEqual(self.domain(dom, "ListSnapshots", "u", (0,)), [])

    def test_errors(self):
        a = self.make_image("a.qcow2")
        dom = self.define_with([("vda", a, "qcow2")])
        self.assertDBusError("InvalidXML", self.create, dom, "<domainsnapshot><name>x")
        self.assertDBusError("NoSnapshot", self.domain, dom, "SnapshotLookupByName", "su",
                             ("nope", 0))
        e = self.assertDBusError("NotSupported", self.create, dom, "<domainsnapshot/>", 256)
        self.assertIn("LIVE", e.message)
        e = self.assertDBusError("InvalidArgument", self.create, dom, "<domainsnapshot/>", 64)
        self.assertIn("QUIESCE (64) needs DISK_ONLY", e.message)
        e = self.assertDBusError("OperationInvalid", self.create, dom, "<domainsnapshot/>",
                                 16 | 64)
        self.assertIn("running domain", e.message)
        e = self.assertDBusError(
            "NotSupported", self.create, dom,
            "<domainsnapshot><name>x</name>"
            f"<memory snapshot='external' file='{self.images}/x.mem'/></domainsnapshot>")
        self.assertIn("memory", e.message)
        self.assertDBusError("InvalidArgument", self.create, dom, "<domainsnapshot/>", 1 << 20)
        s1 = self.create(dom, "<domainsnapshot><name>s1</name></domainsnapshot>")
        self.assertDBusError("AlreadyExists", self.create, dom,
                             "<domainsnapshot><name>s1</name></domainsnapshot>")
        # (RUNNING/PAUSED start the domain: test_snapshot_start.py) RESET_NVRAM without a
        # start has nothing to act on
        e = self.assertDBusError("NotSupported", self.snapshot_revert, s1, 8)
        self.assertIn("RESET_NVRAM", e.message)
        self.assertDBusError("InvalidArgument", self.domain, dom, "ListSnapshots", "u", (1 << 20,))
        self.assertEqual(self.image_snapshots(a), ["s1"])
        self.assertEqual(len(self.domain(dom, "ListSnapshots", "u", (0,))), 1)

        # a raw disk: refused naming it, nothing taken
        r = self.make_image("r.raw", "raw")
        dom2 = self.manager("DefineXML", "su", (XML.format(
            name="rawvm", uuid="5a9e1d3c-15aa-4c0e-9b1e-00000000f016",
            disks=DISK.format(fmt="raw", path=r, dev="vda")), 0))
        e = self.assertDBusError("NotSupported", self.create, dom2,
                                 "<domainsnapshot><name>s</name></domainsnapshot>")
        self.assertIn("vda", e.message)
        self.assertEqual(self.domain(dom2, "ListSnapshots", "u", (0,)), [])

        # a running domain (its internal snapshots: test_snapshot_live.py): an internal
        # disk-only snapshot of it is refused (as libvirt: it must be external); a revert
        # to a disk-only snapshot stops QEMU (test_snapshot_start.py), RUNNING needs FORCE
        self.domain(dom, "Start", "u", (1,))
        e = self.assertDBusError("NotSupported", self.create, dom,
                                 "<domainsnapshot><name>s2</name><disks>"
                                 "<disk name='vda' snapshot='internal'/></disks>"
                                 "</domainsnapshot>", 16)
        self.assertIn("must be external", e.message)
        e = self.assertDBusError("OperationInvalid", self.snapshot_revert, s1, 1)
        self.assertIn("FORCE", e.message)
        # (Delete of a running domain's snapshot goes through QEMU: test_snapshot_live.py)
        # metadata only: allowed while it runs (METADATA_ONLY, then REDEFINE)
        xml = self.snap(s1, "GetXMLDesc", "u", (0,))
        self.assertIsNone(self.snap(s1, "Delete", "u", (2,)))
        s1 = self.create(dom, xml, 1 | 2)
        self.assertEqual(self.get_prop(s1, SNAP_IFACE, "Name"), "s1")
        self.domain(dom, "Destroy", "u", (0,))
        self.assertEqual(self.image_snapshots(a), ["s1"])

    def test_validate(self):
        """VALIDATE (512): unknown XML is InvalidXML naming it and nothing is taken, a clean
        document is taken; without it the unknown element is kept. With REDEFINE the
        embedded domain is checked as DefineXML's VALIDATE checks one (NotSupported)."""
        a = self.make_image("a.qcow2")
        dom = self.define_with([("vda", a, "qcow2")])
        bad = "<domainsnapshot>\n  <name>v1</name>\n  <foo>x</foo>\n</domainsnapshot>\n"
        e = self.assertDBusError("InvalidXML", self.create, dom, bad, 512)
        self.assertIn("line 3: unknown element <foo> in <domainsnapshot> (VALIDATE)", e.message)
        e = self.assertDBusError(
            "InvalidXML", self.create, dom,
            "<domainsnapshot><name>v1</name><disks><disk name='vda' snapshot='internal' "
            "future='1'/></disks></domainsnapshot>", 512)
        self.assertIn("unknown attribute future= of <disk> (VALIDATE)", e.message)
        self.assertEqual(self.domain(dom, "ListSnapshots", "u", (0,)), [])
        self.assertEqual(self.image_snapshots(a), [])

        # a clean document: taken
        s1 = self.create(dom, "<domainsnapshot><name>v1</name><description>d</description>"
                              "<disks><disk name='vda' snapshot='internal'/></disks>"
                              "</domainsnapshot>", 512)
        self.assertEqual(self.props(s1)["Name"], "v1")
        self.assertEqual(self.image_snapshots(a), ["v1"])

        # without VALIDATE: taken, the unknown element kept
        s2 = self.create(dom, bad.replace("v1", "v2"), 0)
        xml2 = self.snap(s2, "GetXMLDesc", "u", (0,))
        self.assertIn("  <foo>x</foo>\n", xml2)
        self.assertEqual(self.image_snapshots(a), ["v1", "v2"])

        # REDEFINE: the stored XML with <foo> is refused with VALIDATE, not without
        self.assertIsNone(self.snap(s2, "Delete", "u", (2,)))
        e = self.assertDBusError("InvalidXML", self.create, dom, xml2, 1 | 512)
        self.assertIn("unknown element <foo> in <domainsnapshot>", e.message)
        self.assertEqual(self.domain(dom, "ListSnapshots", "u", (0,)), [s1])

        # REDEFINE: an embedded domain holding what a start would not act on
        xml1 = self.snap(s1, "GetXMLDesc", "u", (0,))
        self.assertIn("<domain type='qemu'>", xml1)
        self.assertIsNone(self.snap(s1, "Delete", "u", (2,)))
        vsock = xml1.replace("    <devices>\n", "    <devices>\n      <vsock model='virtio'>\n"
                             "        <cid auto='yes'/>\n      </vsock>\n", 1)
        line = vsock.splitlines().index("      <vsock model='virtio'>") + 1
        e = self.assertDBusError("NotSupported", self.create, dom, vsock, 1 | 512)
        self.assertIn("snapshot 'v1', its <domain>: domain 'snapvm' holds settings", e.message)
        self.assertIn(f"<vsock> at line {line}", e.message)
        self.assertEqual(self.domain(dom, "ListSnapshots", "u", (0,)), [])
        r = self.create(dom, xml1, 1 | 512)
        self.assertEqual(self.snap(r, "GetXMLDesc", "u", (0,)), xml1)
        self.assertIsNone(self.snap(r, "Delete", "u", (2,)))
        r = self.create(dom, vsock, 1)  # without VALIDATE: recorded as written
        self.assertIn("<vsock model='virtio'>", self.snap(r, "GetXMLDesc", "u", (0,)))

    def test_locked_image_leaves_nothing(self):
        a = self.make_image("a.qcow2")
        b = self.make_image("b.qcow2")
        c = self.make_image("c.qcow2")
        dom = self.define_with([("vda", a, "qcow2"), ("vdb", b, "qcow2"), ("vdc", c, "qcow2")])
        holder = subprocess.Popen(["qemu-io", "-f", "qcow2", c], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True)
        self.holders.append(holder)
        holder.stdin.write("read 0 512\n")
        holder.stdin.flush()
        while True:
            line = holder.stdout.readline()
            self.assertNotEqual(line, "", "qemu-io ended before it read")
            if "read 512/512" in line:
                break
        e = self.assertDBusError("Busy", self.create, dom,
                                 "<domainsnapshot><name>s1</name></domainsnapshot>")
        self.assertIn("vdc", e.message)
        for img in (a, b, c):
            self.assertEqual(self.image_snapshots(img), [])
        self.assertEqual(self.domain(dom, "ListSnapshots", "u", (0,)), [])
        d = self.find_snapshot_dir()
        self.assertTrue(d is None or not [f for f in os.listdir(d) if f.endswith(".xml")])
        # let go: the same snapshot is taken on all three
        holder.stdin.close()
        holder.wait(timeout=20)
        s1 = self.create(dom, "<domainsnapshot><name>s1</name></domainsnapshot>")
        self.assertEqual(self.get_prop(s1, SNAP_IFACE, "Name"), "s1")
        for img in (a, b, c):
            self.assertEqual(self.image_snapshots(img), ["s1"])
        # a revert with an image held: Busy, the current snapshot unchanged
        self.create(dom, "<domainsnapshot><name>s2</name></domainsnapshot>")
        holder2 = subprocess.Popen(["qemu-io", "-f", "qcow2", b], stdin=subprocess.PIPE,
                                   stdout=subprocess.PIPE, text=True)
        self.holders.append(holder2)
        holder2.stdin.write("read 0 512\n")
        holder2.stdin.flush()
        while "read 512/512" not in holder2.stdout.readline():
            self.assertIsNone(holder2.poll())
        self.assertDBusError("Busy", self.snapshot_revert, s1, 0)
        self.assertEqual(self.get_prop(self.domain(dom, "SnapshotCurrent", "u", (0,)),
                                       SNAP_IFACE, "Name"), "s2")

    def test_metadata_write_failure_takes_the_snapshot_back(self):
        a = self.make_image("a.qcow2")
        dom = self.define_with([("vda", a, "qcow2")])
        self.assertEqual(self.domain(dom, "ListSnapshots", "u", (0,)), [])  # loaded: empty
        roots = [top for top, dirs, _ in os.walk(self.root) if os.path.basename(top) == "snapshot"]
        self.assertEqual(len(roots), 1, roots)
        # a file where the domain's snapshot directory goes: the metadata cannot be written
        blocker = os.path.join(roots[0], UUID)
        with open(blocker, "w") as f:
            f.write("not a directory\n")
        e = self.assertDBusError("IO", self.create, dom,
                                 "<domainsnapshot><name>s1</name></domainsnapshot>")
        self.assertIn("not taken", e.message)
        self.assertEqual(self.image_snapshots(a), [])  # taken back from the image
        self.assertEqual(self.domain(dom, "ListSnapshots", "u", (0,)), [])
        os.unlink(blocker)
        s1 = self.create(dom, "<domainsnapshot><name>s1</name></domainsnapshot>")
        self.assertEqual(self.get_prop(s1, SNAP_IFACE, "Name"), "s1")
        self.assertEqual(self.image_snapshots(a), ["s1"])


class SnapshotCtlTest(vbtest.CtlTestCase, SnapshotBase):
    """virtbusctl's snapshot-* commands against the same service."""

    def test_virtbusctl_snapshot_commands(self):
        a = self.make_image("a.qcow2")
        self.define_with([("vda", a, "qcow2")])
        self.assertEqual(self.qemu_io(a, "write -P 0xaa 0 64k").returncode, 0)
        p = self.ctl("snapshot-create-as", "snapvm", "one", "--description", "a <first> one")
        self.assertIn("Domain snapshot one created", p.stdout)
        self.assertEqual(self.qemu_io(a, "write -P 0xbb 0 64k").returncode, 0)
        self.ctl("snapshot-create-as", "snapvm", "two")
        self.assertEqual(self.image_snapshots(a), ["one", "two"])
        out = self.ctl("snapshot-list", "snapvm").stdout
        self.assertIn("one", out)
        self.assertRegex(out, r"two +\S+ \S+ \S+ +shutoff")
        self.assertEqual(self.ctl("snapshot-list", "snapvm", "--tree").stdout,
                         "one\n+- two\n")
        self.assertEqual(self.ctl("snapshot-list", "snapvm", "--roots", "--name").stdout,
                         "one\n")
        info = self.ctl("snapshot-info", "snapvm", "one").stdout
        self.assertRegex(info, r"Current: +no")
        self.assertRegex(info, r"Children: +1")
        self.assertRegex(info, r"State: +shutoff")
        xml = self.ctl("snapshot-dumpxml", "snapvm", "one").stdout
        self.assertIn("<description>a &lt;first&gt; one</description>", xml)
        self.assertEqual(self.ctl("snapshot-current", "snapvm", "--name").stdout, "two\n")
        self.ctl("snapshot-revert", "snapvm", "one")
        self.assert_pattern(a, "0xaa")
        self.assertEqual(self.ctl("snapshot-current", "snapvm", "--name").stdout, "one\n")
        self.assertFails(self.ctl("snapshot-info", "snapvm", "nope", check=False), 1, "nope")
        self.assertFails(self.ctl("undefine", "snapvm", check=False), 1,
                         "SNAPSHOTS_METADATA")
        p = self.ctl("snapshot-delete", "snapvm", "one", "--children")
        self.assertIn("Domain snapshot one deleted", p.stdout)
        self.assertEqual(self.image_snapshots(a), [])
        self.assertEqual(self.ctl("snapshot-list", "snapvm", "--name").stdout, "")
        # from a file, redefined
        self.ctl("snapshot-create-as", "snapvm", "three")
        xml = self.ctl("snapshot-dumpxml", "snapvm", "three").stdout
        self.ctl("snapshot-delete", "snapvm", "three", "--metadata")
        path = os.path.join(self.tmp, "three.xml")
        with open(path, "w") as f:
            f.write(xml)
        self.assertIn("redefined", self.ctl("snapshot-create", "snapvm", path, "--redefine",
                                            "--current").stdout)
        self.assertEqual(self.ctl("snapshot-current", "snapvm").stdout, xml)
        self.ctl("undefine", "snapvm", "--snapshots-metadata")
        self.assertEqual(self.image_snapshots(a), ["three"])


    def test_virtbusctl_validate(self):
        a = self.make_image("a.qcow2")
        self.define_with([("vda", a, "qcow2")])
        path = os.path.join(self.tmp, "bad.xml")
        with open(path, "w") as f:
            f.write("<domainsnapshot>\n  <name>v1</name>\n  <foo/>\n</domainsnapshot>\n")
        self.assertFails(self.ctl("snapshot-create", "snapvm", path, "--validate", check=False),
                         1, "line 3: unknown element <foo> in <domainsnapshot> (VALIDATE)")
        self.assertEqual(self.image_snapshots(a), [])
        self.assertIn("Domain snapshot v2 created",
                      self.ctl("snapshot-create-as", "snapvm", "v2", "--validate").stdout)
        self.assertIn("Domain snapshot v1 created",
                      self.ctl("snapshot-create", "snapvm", path).stdout)
        self.assertIn("<foo/>", self.ctl("snapshot-dumpxml", "snapvm", "v1").stdout)
        self.assertEqual(self.image_snapshots(a), ["v2", "v1"])


if __name__ == "__main__":
    vbtest.main()
