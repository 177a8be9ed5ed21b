#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Block jobs across a restart of virtbusd (issue 15, part bjrestart), with real QEMU and
the tiny guest on a qcow2 chain base <- mid <- top (test_blockjob.py's helpers); a
bandwidth limit keeps the job running when the service stops:
- SIGTERM during a BlockPull: after the restart the domain's Job is a new Job object of
  the pull, its progress grows, GetBlockJobInfo answers, the job completes and QEMU's disk
  has no backing image any more (the live XML's chain is empty);
- Job.Cancel and AbortJob on an adopted pull: Aborted, the chain as it was;
- SIGTERM during an inner BlockCommit: the new Job completes, top's backing is base and
  mid left QEMU's graph;
- SIGKILL during an active BlockCommit that is ready: after the restart the new Job
  becomes ready, BlockJobAbort(PIVOT) pivots, the live source is the base;
- SIGTERM during a BlockCopy, then BlockJobAbort: Aborted, the source is unchanged, QEMU
  does not use the destination (no copy nodes vbc*);
- SIGKILL during a BlockPull that then finishes while the service is down: the restarted
  service completes the Job from what QEMU shows;
- SIGKILL during a BlockPull that another client cancels on QEMU's socket while the
  service is down: the Job fails (Qemu) naming the image QEMU uses, nothing stays stuck."""

import json
import os
import re
import socket
import sys
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.dirname(__file__))
import vbtest  # noqa: E402
from test_blockjob import (ABORT_PIVOT, COMMIT_ACTIVE, JOB_IFACE, MIB, REUSE_EXT,  # noqa: E402
                           BlockJobTestCase)
from vbtest import DOMAIN_IFACE, GLib, eventually  # noqa: E402


def qmp_cancel_job(sock_path, job_id, timeout=30):
    """block-job-cancel on QEMU's own QMP socket while the service is down (someone else
    cancelling QEMU's job: a state the status XML does not know), until it is gone."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(sock_path)
    f = s.makefile("rwb")

    def call(cmd, args=None):
        f.write(json.dumps({"execute": cmd, **({"arguments": args} if args else {})})
                .encode() + b"\n")
        f.flush()
        while True:
            r = json.loads(f.readline())
            if "error" in r:
                raise AssertionError(r)
            if "return" in r:
                return r["return"]
    try:
        json.loads(f.readline())  # greeting
        call("qmp_capabilities")
        call("block-job-cancel", {"device": job_id})
        eventually(lambda: job_id not in [j["device"] for j in call("query-block-jobs")],
                   timeout=timeout, what="QEMU's job to be cancelled")
    finally:
        f.close()
        s.close()


class BlockJobRestartTest(BlockJobTestCase):
    def job_of(self, path):
        return self.get_prop(path, DOMAIN_IFACE, "Job")

    def qmp(self, path, cmd):
        return json.loads(self.domain(path, "QemuMonitorCommand", "s", (json.dumps(
            {"execute": cmd}),)))["return"]

    def disk_file(self, path):
        """The image QEMU's vda runs on, and whether it has a backing image."""
        blocks = [b for b in self.qmp(path, "query-block") if "inserted" in b]
        self.assertEqual(len(blocks), 1, blocks)
        return blocks[0]["inserted"]["file"], "backing_file" in blocks[0]["inserted"]

    def live_disk(self, path):
        live = ET.fromstring(self.domain(path, "GetXMLDesc", "u", (0,)))
        return live.find("./devices/disk")

    def assertNoBacking(self, path):
        """The live XML's chain of vda is empty: only the terminating <backingStore/>."""
        bs = self.live_disk(path).find("backingStore")
        self.assertIsNotNone(bs)
        self.assertEqual((bs.attrib, list(bs)), ({}, []))

    def kill_service(self):
        self.service.proc.kill()
        self.service.proc.wait()

    def assertTakenBack(self, kind, qemu_status):
        """The restarted service's log says what it found of QEMU's job."""
        line = f"the {kind} job of disk vda is taken back after the restart: QEMU's job is "
        eventually(lambda: line in self.service.read_log(), timeout=10,
                   what="the adoption's log line")
        self.assertIn(line + qemu_status, self.service.read_log())

    def restarted_job(self, path, operation):
        """The Job the restarted service publishes for the block job (ids start again
        after a restart: its path may be the old one's)."""
        job = eventually(lambda: (lambda j: j if j != "/" else None)(self.job_of(path)),
                         timeout=30, what="the domain's Job after the restart")
        self.assertEqual(self.get_prop(job, JOB_IFACE, "Operation"), operation)
        return job

    def test_pull_survives_sigterm(self):
        base, mid, top = self.make_chain(base_data=(("0x33", 0, 24 * MIB),))
        path = self.start(top)
        job = self.domain(path, "BlockPull", "stu", ("vda", 1, 0))  # 1 MiB/s
        eventually(lambda: self.job_info(path)[2] > 0, timeout=30, what="pull progress")
        self.service.stop()
        self.service.start()
        job2 = self.restarted_job(path, "pull")
        self.assertTakenBack("pull", "running")
        self.assertEqual(self.job_info(path)[:2], ("pull", 1))
        # the progress keeps moving from query-block-jobs
        first = eventually(lambda: self.get_prop(job2, JOB_IFACE, "DataProcessed"),
                           timeout=10, what="progress of the adopted job")
        eventually(lambda: self.get_prop(job2, JOB_IFACE, "DataProcessed") > first,
                   timeout=20, what="the progress to grow")
        self.assertGreater(self.get_prop(job2, JOB_IFACE, "DataTotal"), 0)
        self.domain(path, "BlockJobSetSpeed", "stu", ("vda", 0, 0))
        res = self.wait_job(job2)
        self.assertEqual((res["disk"], res["type"]), ("vda", "pull"), res)
        self.assertEqual(self.job_info(path), ("none", 0, 0, 0))
        self.assertEqual(self.disk_file(path), (top, False))
        self.assertNoBacking(path)
        self.destroy(path)
        self.assertNotIn("backing-filename", self.info(top))
        self.qemu_io(top, f"read -P 0x33 0 {MIB}", f"read -P 0x22 {MIB} {MIB}",
                     f"read -P 0x33 {20 * MIB} {MIB}", readonly=True)

    def test_adopted_job_cancel(self):
        """Job.Cancel on the Job the restarted service published cancels QEMU's job; then
        AbortJob on a second adopted job: both Aborted, the chain as it was."""
        base, mid, top = self.make_chain(base_data=(("0x33", 0, 24 * MIB),))
        path = self.start(top)
        for cancel in ("Job.Cancel", "AbortJob"):
            with self.subTest(cancel=cancel):
                self.domain(path, "BlockPull", "stu", ("vda", 1, 0))
                eventually(lambda: self.job_info(path)[2] > 0, timeout=30,
                           what="pull progress")
                self.service.stop()
                self.service.start()
                job2 = self.restarted_job(path, "pull")
                if cancel == "Job.Cancel":
                    self.call(job2, JOB_IFACE, "Cancel")
                else:
                    self.domain(path, "AbortJob")
                e = self.assertDBusError("Aborted", self.wait_job, job2)
                self.assertIn("cancelled", str(e))
                eventually(lambda: self.job_of(path) == "/", timeout=10,
                           what="the async job to end")
                self.assertEqual(self.job_info(path)[0], "none")
                self.assertEqual(self.disk_file(path), (top, True))
        self.destroy(path)
        self.assertEqual(self.info(top)["backing-filename"], mid)

    def test_inner_commit_survives_sigterm(self):
        base, mid, top = self.make_chain(mid_data=(("0x22", MIB, 24 * MIB),))
        path = self.start(top)
        self.domain(path, "BlockCommit", "ssstu", ("vda", base, mid, 1, 0))  # 1 MiB/s
        eventually(lambda: self.job_info(path)[2] > 0, timeout=30, what="commit progress")
        self.service.stop()
        self.service.start()
        job2 = self.restarted_job(path, "commit")
        self.assertTakenBack("commit", "running")
        self.assertEqual(self.job_info(path)[0], "commit")
        self.domain(path, "BlockJobSetSpeed", "stu", ("vda", 0, 0))
        res = self.wait_job(job2)
        self.assertEqual((res["type"], res["pivoted"]), ("commit", False), res)
        self.assertEqual(self.disk_file(path), (top, True))
        # the committed image left QEMU's graph, as at the end of the original job
        names = [n.get("file") for n in self.qmp(path, "query-named-block-nodes")]
        self.assertNotIn(mid, names)
        self.assertIn(base, names)
        self.destroy(path)
        self.assertEqual(self.info(top)["backing-filename"], base)
        self.qemu_io(base, f"read -P 0x11 0 {MIB}", f"read -P 0x22 {MIB} {24 * MIB}",
                     readonly=True)

    def test_active_commit_sigkill_then_pivot(self):
        base, mid, top = self.make_chain(top_data=(("0x44", 2 * MIB, MIB),))
        path = self.start(top)
        job = self.domain(path, "BlockCommit", "ssstu", ("vda", base, "", 0, COMMIT_ACTIVE))
        eventually(lambda: self.get_prop(job, JOB_IFACE, "Phase") == "ready", timeout=60,
                   what="the active commit ready")
        self.kill_service()
        self.service.start()
        job2 = self.restarted_job(path, "active-commit")
        eventually(lambda: self.get_prop(job2, JOB_IFACE, "Phase") == "ready", timeout=30,
                   what="the adopted commit ready")
        self.assertTakenBack("active-commit", "ready")
        self.assertEqual(self.job_info(path)[0], "active-commit")
        self.domain(path, "BlockJobAbort", "su", ("vda", ABORT_PIVOT))
        res = self.wait_job(job2)
        self.assertTrue(res["pivoted"], res)
        self.assertEqual(self.job_info(path)[0], "none")
        self.assertEqual(self.disk_file(path)[0], base)
        disk = self.live_disk(path)
        self.assertEqual(disk.find("source").get("file"), base)
        self.assertEqual(disk.find("driver").get("type"), "qcow2")
        # the persistent definition too, as after a pivot without the restart
        inactive = ET.fromstring(self.domain(path, "GetXMLDesc", "u", (2,)))
        self.assertEqual(inactive.find("./devices/disk/source").get("file"), base)
        # the images above the base left QEMU
        names = [n.get("file") for n in self.qmp(path, "query-named-block-nodes")]
        self.assertNotIn(top, names)
        self.destroy(path)
        self.qemu_io(base, f"read -P 0x11 0 {MIB}", f"read -P 0x22 {MIB} {MIB}",
                     f"read -P 0x44 {2 * MIB} {MIB}", readonly=True)

    def test_copy_restart_then_abort(self):
        base, mid, top = self.make_chain(base_data=(("0x33", 0, 24 * MIB),))
        dest = self.img("dest")
        self.qemu_img("create", "-q", "-f", "qcow2", dest, "64M")
        path = self.start(top)
        dxml = f"<disk type='file'><driver type='qcow2'/><source file='{dest}'/></disk>"
        job = self.domain(path, "BlockCopy", "ssa{sv}u",
                          ("vda", dxml, {"bandwidth": GLib.Variant("t", MIB)}, REUSE_EXT))
        eventually(lambda: self.job_info(path)[2] > 0, timeout=30, what="copy progress")
        self.service.stop()
        self.service.start()
        job2 = self.restarted_job(path, "copy")
        self.assertEqual(self.job_info(path, flags=1)[:2], ("copy", MIB))
        self.domain(path, "BlockJobAbort", "su", ("vda", 0))
        e = self.assertDBusError("Aborted", self.wait_job, job2)
        self.assertIn("cancelled", str(e))
        self.assertEqual(self.job_info(path)[0], "none")
        self.assertEqual(self.disk_file(path), (top, True))
        self.assertEqual(self.live_disk(path).find("source").get("file"), top)
        nodes = self.qmp(path, "query-named-block-nodes")
        self.assertEqual([n["node-name"] for n in nodes if n["node-name"].startswith("vbc")], [])
        self.assertNotIn(dest, [n.get("file") for n in nodes])
        self.destroy(path)
        self.assertEqual(self.info(top)["backing-filename"], mid)

    def test_pull_finished_while_down(self):
        base, mid, top = self.make_chain(base_data=(("0x33", 0, 4 * MIB),))
        path = self.start(top)
        self.domain(path, "BlockPull", "stu", ("vda", 1, 0))  # 1 MiB/s: ~5 s
        eventually(lambda: self.job_info(path)[2] > 0, timeout=30, what="pull progress")
        self.kill_service()
        # QEMU finishes the pull alone; it rewrites the top image's backing file at the end
        eventually(lambda: "backing-filename" not in self.info(top), timeout=60,
                   interval=0.2, what="the pull to finish while the service is down")
        self.service.start()
        # the Job taken back completes from what QEMU shows (its job is gone)
        jobs = eventually(lambda: [p for p, ifaces in self.managed_objects().items()
                                   if JOB_IFACE in ifaces and
                                   ifaces[JOB_IFACE].get("Domain") == path],
                          timeout=30, what="the Job of the adopted pull")
        self.assertEqual(len(jobs), 1, jobs)
        res = self.wait_job(jobs[0])
        self.assertTakenBack("pull", "gone")
        self.assertEqual((res["disk"], res["type"], res["pivoted"]), ("vda", "pull", False))
        eventually(lambda: self.job_of(path) == "/", timeout=10, what="the async job to end")
        self.assertEqual(self.job_info(path), ("none", 0, 0, 0))
        self.assertEqual(self.disk_file(path), (top, False))
        self.assertEqual(self.live_disk(path).find("source").get("file"), top)
        self.assertNoBacking(path)
        # a new block job can begin (no async job stuck): it only finds nothing to pull
        e = self.assertDBusError("OperationInvalid", self.domain, path, "BlockPull", "stu",
                                 ("vda", 0, 0))
        self.assertIn("no backing image", str(e))
        self.destroy(path)
        self.qemu_io(top, f"read -P 0x33 0 {MIB}", f"read -P 0x22 {MIB} {MIB}",
                     readonly=True)

    def test_pull_cancelled_elsewhere_while_down(self):
        """QEMU's job cancelled by another client while the service is down: the state
        cannot be known from the record; the Job fails with a clear error, the
        definition names what QEMU uses, no async job stays."""
        base, mid, top = self.make_chain(base_data=(("0x33", 0, 24 * MIB),))
        path = self.start(top)
        self.domain(path, "BlockPull", "stu", ("vda", 1, 0))
        eventually(lambda: self.job_info(path)[2] > 0, timeout=30, what="pull progress")
        self.kill_service()
        with open(os.path.join(self.root, "run/virtbus/qemu/bj1.xml")) as f:
            monitor = re.search(r"<monitor path='([^']+)'", f.read()).group(1)
        qmp_cancel_job(monitor, "vbjob-vda")
        self.service.start()
        jobs = eventually(lambda: [p for p, ifaces in self.managed_objects().items()
                                   if JOB_IFACE in ifaces and
                                   ifaces[JOB_IFACE].get("Domain") == path],
                          timeout=30, what="the Job of the adopted pull")
        e = self.assertDBusError("Qemu", self.wait_job, jobs[0])
        self.assertIn("ended while the service was down without completing", str(e))
        self.assertIn(top, str(e))
        eventually(lambda: self.job_of(path) == "/", timeout=10, what="the async job to end")
        self.assertEqual(self.disk_file(path), (top, True))
        self.assertEqual(self.live_disk(path).find("source").get("file"), top)
        # nothing stuck: a new pull runs to its end
        job = self.domain(path, "BlockPull", "stu", ("vda", 0, 0))
        self.assertEqual(self.wait_job(job)["type"], "pull")
        self.destroy(path)
        self.assertNotIn("backing-filename", self.info(top))


if __name__ == "__main__":
    vbtest.main()
