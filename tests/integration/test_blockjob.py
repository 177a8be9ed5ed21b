#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Block jobs of a running domain (issue 15, part blockjob) with real QEMU and the tiny
guest on a qcow2 chain base <- mid <- top made with qemu-img, data written by qemu-io:
- BlockPull: the Job completes, the top image has no backing file any more and holds the
  data of base and mid; GetBlockJobInfo says none after;
- BlockCommit of mid into base (non-active): top's backing is base, base holds mid's data;
- active BlockCommit: phase ready, BlockJobAbort PIVOT, result pivoted, base holds top's data;
- a speed-limited pull: GetBlockJobInfo shows cur < end and the bandwidth (MiB/s and
  bytes/s), BlockJobSetSpeed changes it, BlockJobAbort cancels it (Job: Aborted), the chain
  is unchanged;
- BlockResize grows the image (KiB and BYTES);
- SetBlockThreshold (by source path) and the BlockThreshold signal when the guest writes
  beyond it (tgwrite);
- BlockCopy into an existing qcow2: ready, PIVOT (the live <source> names it), abort;
- BlockCopy into a new image the service makes: full (the chain's data, no backing) and
  SHALLOW (top only, over the disk's backing, kept at the pivot);
- errors: bad disk, not running, flags, DELETE and SYNCHRONOUS_WRITES NotSupported, active commit
  without ACTIVE, abort without a job."""

import json
import os
import re
import signal
import subprocess
import sys
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.dirname(__file__))
import vbtest  # noqa: E402
import vbmigrate  # noqa: E402
from vbtest import DOMAIN_IFACE, CtlTestCase, GLib, SignalRecorder, eventually  # noqa: E402

JOB_IFACE = "org.virtbus.Virt1.Job"
MIB = 1 << 20
ABORT_ASYNC, ABORT_PIVOT = 1, 2
COMMIT_SHALLOW, COMMIT_DELETE, COMMIT_ACTIVE = 1, 2, 4
PULL_BYTES = 64
RESIZE_BYTES = 1
REUSE_EXT = 2


class BlockJobTestCase(CtlTestCase):
    def setUp(self):
        vbmigrate.require_guest(self)
        super().setUp()
        self.serial = os.path.join(self.tmp, "serial.log")

    def img(self, name):
        return os.path.join(self.tmp, name + ".qcow2")

    def qemu_img(self, *args):
        return subprocess.run(["qemu-img", *args], check=True, capture_output=True,
                              text=True).stdout

    def qemu_io(self, image, *cmds, readonly=False):
        argv = ["qemu-io", "-f", "qcow2"] + (["-r"] if readonly else [])
        for c in cmds:
            argv += ["-c", c]
        p = subprocess.run(argv + [image], capture_output=True, text=True)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertNotIn("Pattern verification failed", p.stdout + p.stderr)
        return p.stdout

    def info(self, image):
        return json.loads(self.qemu_img("info", "-U", "--output=json", image))

    def make_chain(self, base_data=(("0x11", 0, MIB),), mid_data=(("0x22", MIB, MIB),),
                   top_data=(), size="64M"):
        base, mid, top = self.img("base"), self.img("mid"), self.img("top")
        self.qemu_img("create", "-q", "-f", "qcow2", base, size)
        for pat, off, ln in base_data:
            self.qemu_io(base, f"write -P {pat} {off} {ln}")
        self.qemu_img("create", "-q", "-f", "qcow2", "-b", base, "-F", "qcow2", mid)
        for pat, off, ln in mid_data:
            self.qemu_io(mid, f"write -P {pat} {off} {ln}")
        self.qemu_img("create", "-q", "-f", "qcow2", "-b", mid, "-F", "qcow2", top)
        for pat, off, ln in top_data:
            self.qemu_io(top, f"write -P {pat} {off} {ln}")
        return base, mid, top

    def start(self, top, name="bj1", extra_cmdline=""):
        xml = vbmigrate.guest_xml(name=name, serial=self.serial, tick=False,
                                  extra_cmdline=extra_cmdline, devices=f"""
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file='{top}'/>
      <target dev='vda' bus='virtio'/>
    </disk>""")
        path = self.manager("DefineXML", "su", (xml, 0))
        self.domain(path, "Start", "u", (0,), timeout=60000)
        return path

    def wait_job(self, job, timeout=120):
        return self.call(job, JOB_IFACE, "Wait", timeout=timeout * 1000)[0]

    def destroy(self, path):
        self.domain(path, "Destroy", "u", (0,))

    def job_info(self, path, disk="vda", flags=0):
        return self.domain(path, "GetBlockJobInfo", "su", (disk, flags))

    def chain(self, path, flags=0):
        """The live XML's backing chain of vda: [(index, format, file)] nearest first;
        None without a <backingStore> at all. The chain ends with an empty one."""
        disk = ET.fromstring(self.domain(path, "GetXMLDesc", "u", (flags,))).find(
            "./devices/disk")
        bs = disk.find("backingStore")
        if bs is None:
            return None
        out = []
        while bs is not None and bs.get("type") is not None:
            out.append((bs.get("index"), bs.find("format").get("type"),
                        bs.find("source").get("file")))
            bs = bs.find("backingStore")
        self.assertIsNotNone(bs, "the chain ends with an empty <backingStore/>")
        self.assertEqual(list(bs), [])
        return out


class PullTest(BlockJobTestCase):
    def test_pull_flattens_the_chain(self):
        base, mid, top = self.make_chain()
        self.assertEqual(self.info(top)["backing-filename"], mid)
        path = self.start(top)
        self.assertEqual(self.job_info(path)[0], "none")
        # the live XML names the chain QEMU runs the disk on; the inactive one does not
        self.assertEqual(self.chain(path), [("1", "qcow2", mid), ("2", "qcow2", base)])
        self.assertIsNone(self.chain(path, 2))
        job = self.domain(path, "BlockPull", "stu", ("vda", 0, 0))
        self.assertTrue(job.startswith("/org/virtbus/Virt1/job/"), job)
        res = self.wait_job(job)
        self.assertEqual(self.chain(path), [])  # pulled: no backing image
        self.assertEqual((res["disk"], res["type"]), ("vda", "pull"), res)
        self.assertEqual(self.get_prop(job, JOB_IFACE, "Operation"), "pull")
        self.assertEqual(self.job_info(path), ("none", 0, 0, 0))
        # QEMU's view while running: the top node has no backing any more
        blocks = json.loads(self.domain(path, "QemuMonitorCommand", "s", (json.dumps(
            {"execute": "query-block"}),)))["return"]
        vda = [b for b in blocks if b.get("inserted", {}).get("file") == top]
        self.assertEqual(len(vda), 1, blocks)
        self.assertNotIn("backing_file", vda[0]["inserted"], vda[0])
        self.destroy(path)
        info = self.info(top)
        self.assertNotIn("backing-filename", info, info)
        self.qemu_io(top, f"read -P 0x11 0 {MIB}", f"read -P 0x22 {MIB} {MIB}",
                     readonly=True)
        # the same disk by its source path; a second pull has nothing to pull
        self.domain(path, "Start", "u", (0,), timeout=60000)
        e = self.assertDBusError("OperationInvalid", self.domain, path, "BlockPull", "stu",
                             (top, 0, 0))
        self.assertIn("no backing image", str(e))
        self.destroy(path)


class CommitTest(BlockJobTestCase):
    def test_commit_mid_into_base(self):
        base, mid, top = self.make_chain()
        path = self.start(top)
        job = self.domain(path, "BlockCommit", "ssstu", ("vda", base, mid, 0, 0))
        res = self.wait_job(job)
        self.assertEqual(res["type"], "commit", res)
        self.assertFalse(res["pivoted"])
        self.assertEqual(self.chain(path), [("1", "qcow2", base)])
        # a restart of the service finds the chain in QEMU
        self.conn.close_sync(None)
        self.service.stop()
        self.service.start()
        self.conn = vbtest.connect(self.bus.address)
        self.assertEqual(self.chain(path), [("1", "qcow2", base)])
        self.destroy(path)
        self.assertEqual(self.info(top)["backing-filename"], base)
        # mid's data is in base now
        self.qemu_io(base, f"read -P 0x11 0 {MIB}", f"read -P 0x22 {MIB} {MIB}",
                     readonly=True)
        self.qemu_io(top, f"read -P 0x22 {MIB} {MIB}", readonly=True)

    def test_active_commit_pivots(self):
        base, mid, top = self.make_chain(top_data=(("0x44", 2 * MIB, MIB),))
        path = self.start(top)
        # the active layer needs ACTIVE
        e = self.assertDBusError("InvalidArgument", self.domain, path, "BlockCommit", "ssstu",
                                 ("vda", "", "", 0, 0))
        self.assertIn("ACTIVE", str(e))
        job = self.domain(path, "BlockCommit", "ssstu", ("vda", base, "", 0, COMMIT_ACTIVE))
        eventually(lambda: self.get_prop(job, JOB_IFACE, "Phase") == "ready", timeout=60,
                   what="the active commit ready")
        self.assertEqual(self.job_info(path)[0], "active-commit")
        self.domain(path, "BlockJobAbort", "su", ("vda", ABORT_PIVOT))
        res = self.wait_job(job)
        self.assertTrue(res["pivoted"], res)
        self.assertEqual(self.job_info(path)[0], "none")
        blocks = json.loads(self.domain(path, "QemuMonitorCommand", "s", (json.dumps(
            {"execute": "query-block"}),)))["return"]
        self.assertIn(base, [b.get("inserted", {}).get("file") for b in blocks], blocks)
        # the live definition names the image the disk runs on, and so does the persistent
        # one (as libvirt: the top holds no current data any more)
        live = ET.fromstring(self.domain(path, "GetXMLDesc", "u", (0,)))
        src = live.findall("./devices/disk/source")
        self.assertEqual([e.get("file") for e in src], [base])
        self.assertEqual(live.find("./devices/disk/driver").get("type"), "qcow2")
        inactive = ET.fromstring(self.domain(path, "GetXMLDesc", "u", (2,)))
        self.assertEqual(inactive.find("./devices/disk/source").get("file"), base)
        self.assertEqual(self.chain(path), [])
        # the disk is found by its new path
        self.assertEqual(self.job_info(path, disk=base)[0], "none")
        self.destroy(path)
        self.qemu_io(base, f"read -P 0x11 0 {MIB}", f"read -P 0x22 {MIB} {MIB}",
                     f"read -P 0x44 {2 * MIB} {MIB}", readonly=True)


class SpeedAbortTest(BlockJobTestCase):
    def test_limited_pull_then_abort(self):
        base, mid, top = self.make_chain(base_data=(("0x33", 0, 48 * MIB),))
        path = self.start(top)
        job = self.domain(path, "BlockPull", "stu", ("vda", 1, 0))  # 1 MiB/s
        eventually(lambda: self.job_info(path)[2] > 0, timeout=30, what="pull progress")
        typ, bw, cur, end = self.job_info(path)
        self.assertEqual((typ, bw), ("pull", 1))
        self.assertLess(cur, end)
        self.assertEqual(self.job_info(path, flags=1)[1], MIB)
        # another async job is refused meanwhile
        self.assertDBusError("OperationInvalid", self.domain, path, "BlockCommit", "ssstu",
                             ("vda", base, mid, 0, 0))
        self.domain(path, "BlockJobSetSpeed", "stu", ("vda", 2 * MIB, 1))
        self.assertEqual(self.job_info(path)[1], 2)
        self.assertGreater(self.get_prop(job, JOB_IFACE, "DataTotal"), 0)
        self.domain(path, "BlockJobAbort", "su", ("vda", 0))
        # synchronous: the job is gone when the call returns
        self.assertEqual(self.job_info(path)[0], "none")
        e = self.assertDBusError("Aborted", self.wait_job, job)
        self.assertIn("cancelled", str(e))
        self.assertDBusError("OperationInvalid", self.domain, path, "BlockJobAbort", "su",
                             ("vda", 0))
        self.destroy(path)
        self.assertEqual(self.info(top)["backing-filename"], mid)


class CopyTest(BlockJobTestCase):
    def dest_xml(self, dest, fmt="qcow2"):
        return f"<disk type='file'><driver type='{fmt}'/><source file='{dest}'/></disk>"

    def test_copy_pivots_to_the_destination(self):
        base, mid, top = self.make_chain(top_data=(("0x44", 2 * MIB, MIB),))
        dest = self.img("dest")
        self.qemu_img("create", "-q", "-f", "qcow2", dest, "64M")
        path = self.start(top)
        job = self.domain(path, "BlockCopy", "ssa{sv}u",
                          ("vda", self.dest_xml(dest), {}, REUSE_EXT))
        eventually(lambda: self.get_prop(job, JOB_IFACE, "Phase") == "ready", timeout=60,
                   what="the copy ready")
        self.assertEqual(self.job_info(path)[0], "copy")
        self.domain(path, "BlockJobAbort", "su", ("vda", ABORT_PIVOT))
        res = self.wait_job(job)
        self.assertTrue(res["pivoted"], res)
        live = ET.fromstring(self.domain(path, "GetXMLDesc", "u", (0,)))
        self.assertEqual(live.find("./devices/disk/source").get("file"), dest)
        inactive = ET.fromstring(self.domain(path, "GetXMLDesc", "u", (2,)))
        self.assertEqual(inactive.find("./devices/disk/source").get("file"), dest)
        # a second copy of the disk now on the first copy's nodes (each copy names its own)
        dest2 = self.img("dest2")
        self.qemu_img("create", "-q", "-f", "qcow2", dest2, "64M")
        job = self.domain(path, "BlockCopy", "ssa{sv}u",
                          ("vda", self.dest_xml(dest2), {}, REUSE_EXT))
        eventually(lambda: self.get_prop(job, JOB_IFACE, "Phase") == "ready", timeout=60,
                   what="the second copy ready")
        self.domain(path, "BlockJobAbort", "su", ("vda", ABORT_PIVOT))
        self.assertTrue(self.wait_job(job)["pivoted"])
        live = ET.fromstring(self.domain(path, "GetXMLDesc", "u", (0,)))
        self.assertEqual(live.find("./devices/disk/source").get("file"), dest2)
        self.destroy(path)
        self.qemu_io(dest2, f"read -P 0x11 0 {MIB}", f"read -P 0x22 {MIB} {MIB}",
                     f"read -P 0x44 {2 * MIB} {MIB}", readonly=True)
        self.assertNotIn("backing-filename", self.info(dest))
        self.qemu_io(dest, f"read -P 0x11 0 {MIB}", f"read -P 0x22 {MIB} {MIB}",
                     f"read -P 0x44 {2 * MIB} {MIB}", readonly=True)

    def test_copy_to_a_new_image_full_and_shallow(self):
        """Without REUSE_EXT the service makes the destination: of the disk's size and
        format, holding the whole chain's data after a full copy; with SHALLOW only the top
        image, on the disk's backing image, and the pivot keeps that backing. A copy that
        cannot start leaves no image behind."""
        base, mid, top = self.make_chain(top_data=(("0x44", 2 * MIB, MIB),))
        path = self.start(top)
        full, shallow = self.img("full"), self.img("shallow")
        job = self.domain(path, "BlockCopy", "ssa{sv}u",
                          ("vda", f"<disk type='file'><source file='{full}'/></disk>", {}, 0))
        eventually(lambda: self.get_prop(job, JOB_IFACE, "Phase") == "ready", timeout=60,
                   what="the full copy ready")
        info = self.info(full)
        self.assertEqual((info["format"], info["virtual-size"]), ("qcow2", 64 * MIB), info)
        self.assertNotIn("backing-filename", info)
        self.domain(path, "BlockJobAbort", "su", ("vda", 0))  # no pivot: stays on top
        self.assertDBusError("Aborted", self.wait_job, job)
        self.qemu_io(full, f"read -P 0x11 0 {MIB}", f"read -P 0x22 {MIB} {MIB}",
                     f"read -P 0x44 {2 * MIB} {MIB}", readonly=True)
        # SHALLOW: the top image only, over mid (the disk's backing), pivoted
        job = self.domain(path, "BlockCopy", "ssa{sv}u",
                          ("vda", self.dest_xml(shallow), {}, 1))
        eventually(lambda: self.get_prop(job, JOB_IFACE, "Phase") == "ready", timeout=60,
                   what="the shallow copy ready")
        self.domain(path, "BlockJobAbort", "su", ("vda", ABORT_PIVOT))
        self.assertTrue(self.wait_job(job)["pivoted"])
        live = ET.fromstring(self.domain(path, "GetXMLDesc", "u", (0,)))
        self.assertEqual(live.find("./devices/disk/source").get("file"), shallow)
        # QEMU's chain: shallow -> mid -> base, the backing nodes kept
        blocks = json.loads(self.domain(path, "QemuMonitorCommand", "s", (json.dumps(
            {"execute": "query-block"}),)))["return"]
        vda = [b["inserted"] for b in blocks if b.get("inserted", {}).get("file") == shallow]
        self.assertEqual(len(vda), 1, blocks)
        self.assertEqual(vda[0].get("backing_file"), mid, vda[0])
        # only top's data was copied into it: what it holds itself (depth 0) is top's MiB
        own = [(e["start"], e["length"]) for e in json.loads(self.qemu_img(
            "map", "-U", "--output=json", shallow)) if e["depth"] == 0 and e["data"]]
        self.assertEqual(own, [(2 * MIB, MIB)])
        # the guest still reads every layer through the new top: a pull works on it
        self.wait_job(self.domain(path, "BlockPull", "stu", ("vda", 0, 0)))
        self.destroy(path)
        self.qemu_io(shallow, f"read -P 0x11 0 {MIB}", f"read -P 0x22 {MIB} {MIB}",
                     f"read -P 0x44 {2 * MIB} {MIB}", readonly=True)
        # a copy that cannot start (not running) leaves no file
        never = self.img("never")
        self.assertDBusError("OperationInvalid", self.domain, path, "BlockCopy", "ssa{sv}u",
                             ("vda", self.dest_xml(never), {}, 0))
        self.assertFalse(os.path.exists(never))

    def test_copy_abort_and_errors(self):
        base, mid, top = self.make_chain()
        dest = self.img("dest")
        self.qemu_img("create", "-q", "-f", "qcow2", dest, "64M")
        path = self.start(top)
        for xml, flags, err in ((self.dest_xml(dest), 0, "OperationInvalid"),  # exists
                                (self.dest_xml(self.img("nodir/x")), 0, "InvalidArgument"),
                                (self.dest_xml(dest), REUSE_EXT | 8, "NotSupported"),
                                (self.dest_xml(self.img("r"), "raw"), 1, "InvalidArgument"),
                                ("<disk", REUSE_EXT, "InvalidXML"),
                                ("<disk><source file='rel.qcow2'/></disk>", REUSE_EXT,
                                 "InvalidArgument"),
                                (self.dest_xml(self.img("nope")), REUSE_EXT,
                                 "InvalidArgument"),
                                (self.dest_xml(dest, "vmdk"), REUSE_EXT, "NotSupported")):
            with self.subTest(xml=xml, flags=flags):
                self.assertDBusError(err, self.domain, path, "BlockCopy", "ssa{sv}u",
                                     ("vda", xml, {}, flags))
        self.assertDBusError("InvalidArgument", self.domain, path, "BlockCopy", "ssa{sv}u",
                             ("vda", self.dest_xml(dest), {"frob": GLib.Variant("t", 1)},
                              REUSE_EXT))
        job = self.domain(path, "BlockCopy", "ssa{sv}u",
                          ("vda", self.dest_xml(dest),
                           {"bandwidth": GLib.Variant("t", MIB)}, REUSE_EXT))
        eventually(lambda: self.job_info(path)[0] == "copy", timeout=30, what="the copy")
        self.assertEqual(self.job_info(path, flags=1)[1], MIB)
        self.domain(path, "BlockJobAbort", "su", ("vda", 0))
        self.assertDBusError("Aborted", self.wait_job, job)
        live = ET.fromstring(self.domain(path, "GetXMLDesc", "u", (0,)))
        self.assertEqual(live.find("./devices/disk/source").get("file"), top)
        nodes = json.loads(self.domain(path, "QemuMonitorCommand", "s", (json.dumps(
            {"execute": "query-named-block-nodes"}),)))["return"]
        self.assertEqual([n["node-name"] for n in nodes if n["node-name"].startswith("vbc")], [])
        self.destroy(path)
        self.assertEqual(self.info(top)["backing-filename"], mid)


class CancelRestartTest(BlockJobTestCase):
    def test_job_cancel(self):
        """Job.Cancel of a pull (the Job object's own cancel) ends it Aborted."""
        base, mid, top = self.make_chain(base_data=(("0x33", 0, 48 * MIB),))
        path = self.start(top)
        job = self.domain(path, "BlockPull", "stu", ("vda", MIB, PULL_BYTES))
        eventually(lambda: self.get_prop(job, JOB_IFACE, "Cancelable"), timeout=10,
                   what="Cancelable")
        eventually(lambda: self.job_info(path)[2] > 0, timeout=30, what="pull progress")
        self.call(job, JOB_IFACE, "Cancel")
        self.assertDBusError("Aborted", self.wait_job, job)
        self.assertEqual(self.job_info(path)[0], "none")
        # the domain takes a new block job at once
        job = self.domain(path, "BlockPull", "stu", ("vda", 0, 0))
        self.wait_job(job)
        self.destroy(path)
        self.assertNotIn("backing-filename", self.info(top))
        self.qemu_io(top, f"read -P 0x33 0 {MIB}", f"read -P 0x22 {MIB} {MIB}",
                     f"read -P 0x33 {2 * MIB} {46 * MIB}", readonly=True)

    def test_restart_cancels_a_running_job(self):
        """A service restarted during a pull whose status XML has no <blockjob> (written by
        an older service; test_blockjob_restart.py has the job taken back) cancels QEMU's
        job at reconnect: no job left, the chain as it was, the domain still running."""
        base, mid, top = self.make_chain(base_data=(("0x33", 0, 48 * MIB),))
        path = self.start(top)
        self.domain(path, "BlockPull", "stu", ("vda", 1, 0))
        eventually(lambda: self.job_info(path)[2] > 0, timeout=30, what="pull progress")
        self.conn.close_sync(None)
        self.assertEqual(self.service.stop(), 0)
        status = os.path.join(self.root, "run/virtbus/qemu/bj1.xml")
        with open(status) as f:
            text = f.read()
        self.assertIn("<blockjob ", text)
        with open(status, "w") as f:
            f.write(re.sub(r"  <blockjob .*?</blockjob>\n", "", text, flags=re.S))
        self.service.start()
        self.conn = vbtest.connect(self.bus.address)
        self.assertEqual(self.get_prop(path, DOMAIN_IFACE, "State"), "running")
        self.assertEqual(self.job_info(path), ("none", 0, 0, 0))
        jobs = json.loads(self.domain(path, "QemuMonitorCommand", "s", (json.dumps(
            {"execute": "query-block-jobs"}),)))["return"]
        self.assertEqual(jobs, [])
        self.assertIn("job recovery", self.service.read_log())
        # a new job runs
        job = self.domain(path, "BlockCommit", "ssstu", ("vda", base, mid, 0, 0))
        self.wait_job(job)
        self.destroy(path)
        self.assertEqual(self.info(top)["backing-filename"], base)


class ResizeThresholdTest(BlockJobTestCase):
    def test_resize_grows_the_image(self):
        base, mid, top = self.make_chain()
        path = self.start(top)
        self.domain(path, "BlockResize", "stu", ("vda", 96 * 1024, 0))
        self.assertEqual(self.info(top)["virtual-size"], 96 * MIB)
        self.domain(path, "BlockResize", "stu", (top, 100 * MIB + 1, RESIZE_BYTES))
        self.assertEqual(self.info(top)["virtual-size"], 100 * MIB + 512)
        self.assertDBusError("NotSupported", self.domain, path, "BlockResize", "stu",
                             ("vda", 0, 2))
        self.destroy(path)

    def test_threshold_signal(self):
        base, mid, top = self.make_chain()
        rec = SignalRecorder(self.conn, DOMAIN_IFACE, "BlockThreshold")
        self.addCleanup(rec.close)
        path = self.start(top, extra_cmdline="tgwrite=64")
        self.domain(path, "SetBlockThreshold", "stu", (top, 2 * MIB, 0))
        got = rec.wait_for(lambda s: s[0] == path, timeout=120, what="BlockThreshold")
        dev, src, threshold, excess = got[0][3]
        self.assertEqual((dev, src, threshold), ("virtio-disk0", top, 2 * MIB), got)
        self.assertGreater(excess, 0)
        self.destroy(path)


class ClientTest(BlockJobTestCase):
    def test_virtbusctl_block_commands(self):
        base, mid, top = self.make_chain(top_data=(("0x44", 2 * MIB, MIB),))
        path = self.start(top, name="bjctl")
        p = self.ctl("blockjob", "bjctl", "vda")
        self.assertIn("No current block job for vda", p.stdout)
        p = self.ctl("blockresize", "bjctl", "vda", "80M")
        self.assertIn("resized", p.stdout)
        self.assertEqual(self.info(top)["virtual-size"], 80 * MIB)
        self.ctl("domblkthreshold", "bjctl", "vda", "4M")
        p = self.ctl("blockcommit", "bjctl", "vda", "--top", mid, "--base", base,
                     "--no-progress")
        self.assertIn("Successfully committed", p.stdout)
        self.assertEqual(self.info(top)["backing-filename"], base)
        # --keep-overlay: followed until synchronized, then ended: top stays the disk's
        p = self.ctl("blockcommit", "bjctl", "vda", "--active", "--keep-overlay")
        self.assertIn("overlay image kept", p.stdout)
        self.assertIn("active-commit: ready", p.stderr)
        live = ET.fromstring(self.domain(path, "GetXMLDesc", "u", (0,)))
        self.assertEqual(live.find("./devices/disk/source").get("file"), top)
        p = self.ctl("blockcommit", "bjctl", "vda", "--active")
        self.assertIn("--pivot", p.stdout)
        job = self.domain(path, "GetJobStats", "u", (0,)).get("job")
        eventually(lambda: "active-commit" in self.ctl("blockjob", "bjctl", "vda").stdout
                   and self.get_prop(job, JOB_IFACE, "Phase") == "ready", timeout=60,
                   what="the active commit ready")
        self.ctl("blockjob", "bjctl", "vda", "--pivot")
        self.assertIn("No current block job", self.ctl("blockjob", "bjctl", "vda").stdout)
        # blockcopy (raw destination), then abort it
        dest = os.path.join(self.tmp, "copy.raw")
        # the disk runs on base since the pivot: a copy of its size
        self.qemu_img("create", "-q", "-f", "raw", dest, str(self.info(base)["virtual-size"]))
        p = self.ctl("blockcopy", "bjctl", "vda", dest, check=False)
        self.assertFails(p, 1, "already exists", "REUSE_EXT")
        p = self.ctl("blockcopy", "bjctl", "vda", dest, "--reuse-external", "--bandwidth", "1")
        self.assertIn("--pivot", p.stdout)
        eventually(lambda: "copy" in self.ctl("blockjob", "bjctl", "vda").stdout, timeout=30,
                   what="the copy in blockjob")
        self.assertIn("Bandwidth limit: 1 MiB/s", self.ctl("blockjob", "bjctl", "vda").stdout)
        self.ctl("blockjob", "bjctl", "vda", "--abort")
        self.assertIn("No current block job", self.ctl("blockjob", "bjctl", "vda").stdout)
        # into a new image the service makes, of the disk's format (qcow2)
        made = os.path.join(self.tmp, "made.qcow2")
        p = self.ctl("blockcopy", "bjctl", "vda", made, "--shallow")
        self.assertIn("--pivot", p.stdout)
        eventually(lambda: "copy" in self.ctl("blockjob", "bjctl", "vda").stdout, timeout=30,
                   what="the copy into a new image")
        self.assertEqual(self.info(made)["format"], "qcow2")
        self.ctl("blockjob", "bjctl", "vda", "--abort")
        # --wait: followed to "ready" (progress lines on stderr), then left mirroring
        waited = os.path.join(self.tmp, "waited.qcow2")
        p = self.ctl("blockcopy", "bjctl", "vda", waited, "--wait")
        self.assertIn("Now in mirroring phase", p.stdout)
        self.assertIn("copy: ready", p.stderr)
        self.assertIn("copy", self.ctl("blockjob", "bjctl", "vda").stdout)
        self.ctl("blockjob", "bjctl", "vda", "--abort")
        # --finish: once ready, ended keeping the copy; the disk stays where it was
        p = self.ctl("blockcopy", "bjctl", "vda", waited, "--reuse-external", "--format",
                     "qcow2", "--finish", "--no-progress")
        self.assertIn("Successfully copied", p.stdout)
        self.assertEqual(p.stderr, "")
        self.assertIn("No current block job", self.ctl("blockjob", "bjctl", "vda").stdout)
        # --pivot: once ready, the disk goes on with the copy
        pivoted = os.path.join(self.tmp, "pivoted.qcow2")
        p = self.ctl("blockcopy", "bjctl", "vda", pivoted, "--pivot")
        self.assertIn("Successfully pivoted", p.stdout)
        live = ET.fromstring(self.domain(path, "GetXMLDesc", "u", (0,)))
        self.assertEqual(live.find("./devices/disk/source").get("file"), pivoted)
        p = self.ctl("blockcopy", "bjctl", "vda", waited, "--pivot", "--finish", check=False)
        self.assertFails(p, 1, "exclude")
        p = self.ctl("blockcommit", "bjctl", "vda", "--pivot", check=False)
        self.assertFails(p, 1, "--active")
        p = self.ctl("blockpull", "bjctl", "vda", check=False)
        self.assertFails(p, 1, "no backing image")
        p = self.ctl("blockjob", "bjctl", "vda", "--abort", "--pivot", check=False)
        self.assertFails(p, 1, "exclude")
        p = self.ctl("blockresize", "bjctl", "vda", "12Q", check=False)
        self.assertFails(p, 1, "invalid size")
        self.destroy(path)
        self.qemu_io(base, f"read -P 0x44 {2 * MIB} {MIB}", readonly=True)
        # bash completion knows the commands and their options
        completion = os.path.join(vbtest.SRCDIR, "client", "virtbusctl.bash-completion")
        script = (f"source {completion}\n"
                  "COMP_WORDS=(\"$@\"); COMP_CWORD=$(($# - 1))\n"
                  "_virtbusctl\n"
                  "printf '%s\\n' \"${COMPREPLY[@]}\"\n")

        def complete(*words):
            p = subprocess.run(["bash", "-c", script, "bash", *words], capture_output=True,
                               text=True, timeout=30)
            self.assertEqual(p.returncode, 0, p.stderr)
            return sorted(w for w in p.stdout.splitlines() if w)
        self.assertEqual(complete("virtbusctl", "block"),
                         ["blockcommit", "blockcopy", "blockjob", "blockpull", "blockresize"])
        self.assertIn("--pivot", complete("virtbusctl", "blockjob", "bjctl", "vda", "--"))


class ErrorTest(BlockJobTestCase):
    def test_errors(self):
        base, mid, top = self.make_chain()
        xml = vbmigrate.guest_xml(name="bjerr", serial=self.serial, tick=False, devices=f"""
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file='{top}'/>
      <target dev='vda' bus='virtio'/>
    </disk>""")
        path = self.manager("DefineXML", "su", (xml, 0))
        # not running
        for method, sig, args in (("BlockPull", "stu", ("vda", 0, 0)),
                                  ("BlockCommit", "ssstu", ("vda", "", "", 0, 0)),
                                  ("GetBlockJobInfo", "su", ("vda", 0)),
                                  ("BlockResize", "stu", ("vda", 1024, 0)),
                                  ("SetBlockThreshold", "stu", ("vda", 1024, 0)),
                                  ("BlockJobAbort", "su", ("vda", 0))):
            with self.subTest(method=method):
                self.assertDBusError("OperationInvalid", self.domain, path, method, sig, args)
        self.domain(path, "Start", "u", (0,), timeout=60000)
        for method, sig, args in (("BlockPull", "stu", ("vdz", 0, 0)),
                                  ("BlockPull", "stu", ("", 0, 0)),
                                  ("GetBlockJobInfo", "su", ("/no/such.qcow2", 0)),
                                  ("BlockResize", "stu", ("hda", 1024, 0)),
                                  ("SetBlockThreshold", "stu", ("vdb", 1024, 0)),
                                  ("BlockJobSetSpeed", "stu", ("x", 1, 0)),
                                  ("BlockCommit", "ssstu", ("vda", "/nope", "", 0, 0)),
                                  ("BlockCommit", "ssstu", ("vda", mid, base, 0, 0)),
                                  ("BlockPull", "stu", ("vda", 0, 1)),
                                  ("BlockJobAbort", "su", ("vda", 4))):
            with self.subTest(method=method, args=args):
                e = self.assertDBusError("InvalidArgument", self.domain, path, method, sig,
                                         args)
                self.assertTrue(str(e), e)
        e = self.assertDBusError("NotSupported", self.domain, path, "BlockCommit", "ssstu",
                                 ("vda", base, mid, 0, COMMIT_DELETE))
        self.assertIn("DELETE", str(e))
        e = self.assertDBusError("NotSupported", self.domain, path, "BlockCopy", "ssa{sv}u",
                                 ("vda", "<disk/>", {}, 8))  # SYNCHRONOUS_WRITES
        self.assertIn("SYNCHRONOUS_WRITES", str(e))
        e = self.assertDBusError("InvalidArgument", self.domain, path, "BlockCopy", "ssa{sv}u",
                                 ("vda", "<disk/>", {}, 0))
        self.assertIn("absolute", str(e))
        self.assertDBusError("OperationInvalid", self.domain, path, "BlockJobAbort", "su",
                             ("vda", 0))
        self.assertDBusError("OperationInvalid", self.domain, path, "BlockJobSetSpeed", "stu",
                             ("vda", 1, 0))
        # nothing changed
        self.assertEqual(self.job_info(path), ("none", 0, 0, 0))
        self.destroy(path)
        self.assertEqual(self.info(top)["backing-filename"], mid)


class QemuKilledTest(BlockJobTestCase):
    """QEMU killed during a block job: the job fails with a named error, the domain is shut
    off (crashed), both definitions still name the disk's image and its chain is sound."""

    def test_qemu_killed_during_pull(self):
        base, mid, top = self.make_chain(base_data=(("0x33", 0, 48 * MIB),))
        path = self.start(top)
        job = self.domain(path, "BlockPull", "stu", ("vda", 1, 0))  # 1 MiB/s
        eventually(lambda: self.job_info(path)[2] > 0, timeout=30, what="pull progress")
        with open(os.path.join(self.root, "run/virtbus/qemu/bj1.pid")) as f:
            pid = int(f.read().strip())
        os.kill(pid, signal.SIGKILL)
        e = self.assertDBusError("Failed", self.wait_job, job)
        self.assertIn("ended during the pull", str(e))
        eventually(lambda: self.get_prop(path, vbtest.DOMAIN_IFACE, "State") == "shutoff",
                   timeout=30, what="the domain shut off")
        self.assertEqual(self.get_prop(path, vbtest.DOMAIN_IFACE, "StateReason"), "crashed")
        for flags in (0, 2):
            xml = ET.fromstring(self.domain(path, "GetXMLDesc", "u", (flags,)))
            self.assertEqual(xml.find("./devices/disk/source").get("file"), top)
        check = json.loads(subprocess.run(["qemu-img", "check", "--output=json", top],
                                          capture_output=True, text=True).stdout)
        self.assertEqual(check.get("corruptions", 0), 0, check)
        self.assertEqual(self.info(top)["backing-filename"], mid)
        # what the pull had copied and what it had not: the guest's view is whole
        self.qemu_io(top, f"read -P 0x33 0 {MIB}", f"read -P 0x22 {MIB} {MIB}",
                     f"read -P 0x33 {47 * MIB} {MIB}", readonly=True)


if __name__ == "__main__":
    vbtest.main()
