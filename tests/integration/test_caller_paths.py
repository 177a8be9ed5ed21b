# SPDX-License-Identifier: LGPL-2.1-or-later
"""Paths and definitions that callers give to Save, ManagedSave, CoreDump
and Restore (real virtbusd, real QEMU under TCG): what is not a regular
file is refused at once and never blocks a worker, a save or dump never
replaces what is not the caller's own regular file, a restore's XML must
describe the image's own domain, a damaged compressed image fails at once,
and a second long job is refused at once."""

import os
import stat
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import vbtest  # noqa: E402
from test_jobs import JobsTestCase  # noqa: E402
from vbtest import (DOMAIN_IFACE, DBusCallError,  # noqa: E402
                    connect, domain_xml, eventually, save_image_bytes)

JOB_IFACE = "org.virtbus.Virt1.Job"
UUID1 = "8a1d4f0e-5b1c-4c7e-9d2a-1f0e2d3c4b01"
UUID2 = "8a1d4f0e-5b1c-4c7e-9d2a-1f0e2d3c4b02"
COMPRESS = 1 << 31
SLOW = {"VIRTBUS_TEST_SAVE_MAX_BANDWIDTH": "65536"}
NOBODY = 65534


class PathsTestCase(JobsTestCase):
    """The helpers of the job tests (start_vm, state, wait_job, restart_with),
    with this file's domain uuid."""

    def start_vm(self, name="vm1", uuid=UUID1, xml=None):
        return super().start_vm(name, uuid, xml=xml)

    def assertPromptError(self, name, limit, fn, *args, **kw):
        t0 = time.monotonic()
        e = self.assertDBusError(name, fn, *args, timeout=30000, **kw)
        self.assertLess(time.monotonic() - t0, limit, e.message)
        return e

    def leftovers(self, directory):
        return [f for f in os.listdir(directory) if "vbpart" in f]


class NotRegularTest(PathsTestCase):
    """Item 3: nothing but a regular file is read, and nothing blocks."""

    def test_restore_refuses_fifo_directory_device(self):
        fifo = os.path.join(self.tmp, "fifo")
        os.mkfifo(fifo)
        link = os.path.join(self.tmp, "link-to-fifo")
        os.symlink(fifo, link)
        for p in (fifo, link, self.tmp, "/dev/null", "/dev/zero"):
            e = self.assertPromptError("InvalidArgument", 5, self.manager, "Restore", "ssu",
                                       (p, "", 0))
            self.assertIn(p, e.message)
            self.assertIn("not a regular file", e.message)
        e = self.assertPromptError("InvalidArgument", 5, self.manager, "Restore", "ssu",
                                   (os.path.join(self.tmp, "missing"), "", 0))
        self.assertIn("missing", e.message)
        self.assertEqual(self.manager("ListDomains", "u", (0,)), [])

    def test_managed_save_image_must_be_regular(self):
        path = self.start_vm()
        self.wait_job(self.domain(path, "ManagedSave", "u", (0,)))
        image = os.path.join(self.root, "var/lib/virtbus/save/vm1.save")
        self.assertTrue(os.path.exists(image))
        os.unlink(image)
        os.mkfifo(image)
        e = self.assertPromptError("InvalidArgument", 10, self.domain, path, "Start", "u", (0,))
        self.assertIn(image, e.message)
        self.assertIn("FORCE_BOOT", e.message)
        self.assertEqual(self.state(path)[0], "shutoff")
        self.assertTrue(stat.S_ISFIFO(os.lstat(image).st_mode))


class ReplaceTest(PathsTestCase):
    """Item 16: Save and CoreDump replace only a regular file of the caller's."""

    def targets(self):
        victim = os.path.join(self.tmp, "victim")
        with open(victim, "w") as f:
            f.write("victim")
        out = {}
        out["symlink"] = os.path.join(self.tmp, "t-symlink")
        os.symlink(victim, out["symlink"])
        out["directory"] = os.path.join(self.tmp, "t-directory")
        os.mkdir(out["directory"])
        out["FIFO"] = os.path.join(self.tmp, "t-fifo")
        os.mkfifo(out["FIFO"])
        out["device node"] = os.path.join(self.tmp, "t-device")
        os.mknod(out["device node"], stat.S_IFCHR | 0o600, os.makedev(1, 3))   # /dev/null
        out["uid"] = os.path.join(self.tmp, "t-other-user")
        with open(out["uid"], "w") as f:
            f.write("theirs")
        os.chown(out["uid"], NOBODY, NOBODY)
        return victim, out

    def test_save_and_dump_refuse_what_is_not_the_callers_file(self):
        path = self.start_vm()
        victim, targets = self.targets()
        before = {k: os.lstat(p) for k, p in targets.items()}
        for what, target in targets.items():
            for method, sig, args in (("Save", "ssu", (target, "", 0)),
                                      ("Save", "ssu", (target, "", COMPRESS)),
                                      ("CoreDump", "su", (target, 0))):
                e = self.assertPromptError("InvalidArgument", 5, self.domain, path, method, sig,
                                           args)
                self.assertIn(target, e.message)
                self.assertIn(what, e.message)
        # nothing replaced, nothing left, the guest runs on, no job is held
        for k, p in targets.items():
            st = os.lstat(p)
            self.assertEqual((st.st_ino, st.st_mode, st.st_uid),
                             (before[k].st_ino, before[k].st_mode, before[k].st_uid), k)
        with open(victim) as f:
            self.assertEqual(f.read(), "victim")
        with open(targets["uid"]) as f:
            self.assertEqual(f.read(), "theirs")
        self.assertEqual(self.leftovers(self.tmp), [])
        self.assertEqual(self.state(path)[0], "running")
        self.assertEqual(self.get_prop(path, DOMAIN_IFACE, "Job"), "/")
        # the caller's own (root's) regular file is replaced
        own = os.path.join(self.tmp, "own.core")
        with open(own, "w") as f:
            f.write("old")
        self.wait_job(self.domain(path, "CoreDump", "su", (own, 0)))
        with open(own, "rb") as f:
            self.assertEqual(f.read(4), b"\x7fELF")
        own_image = os.path.join(self.tmp, "own.save")
        with open(own_image, "w") as f:
            f.write("old")
        self.wait_job(self.domain(path, "Save", "ssu", (own_image, "", 0)))
        with open(own_image, "rb") as f:
            self.assertEqual(f.read(12), b"VirtbusSave1")
        self.assertEqual(self.leftovers(self.tmp), [])


class SameDomainTest(PathsTestCase):
    """Item 8: the XML given to Restore (or Save) describes the same domain."""

    def test_restore_xml_of_another_domain_refused(self):
        vm1 = self.start_vm("vm1", UUID1)
        vm2 = self.define("vm2", UUID2)
        vm2_config = os.path.join(self.root, "etc/virtbus/qemu/vm2.xml")
        with open(vm2_config) as f:
            vm2_before = f.read()
        image = os.path.join(self.tmp, "vm1.save")
        self.wait_job(self.domain(vm1, "Save", "ssu", (image, "", 0)))
        # another domain altogether; its name with the image's uuid; the image's name with
        # another uuid
        other = domain_xml("vm2", UUID2)
        e = self.assertPromptError("InvalidArgument", 5, self.manager, "Restore", "ssu",
                                   (image, other, 0))
        self.assertIn("'vm2'", e.message)
        self.assertIn("'vm1'", e.message)
        e = self.assertPromptError("InvalidArgument", 5, self.manager, "Restore", "ssu",
                                   (image, domain_xml("vm2", UUID1), 0))
        self.assertIn("same domain", e.message)
        e = self.assertPromptError("ABIMismatch", 5, self.manager, "Restore", "ssu",
                                   (image, domain_xml("vm1", UUID2), 0))
        self.assertIn(f"uuid {UUID2} does not match source {UUID1}", e.message)
        self.assertEqual(self.state(vm2)[0], "shutoff")
        self.assertEqual(self.get_prop(vm2, DOMAIN_IFACE, "Active"), False)
        self.assertEqual(self.get_prop(vm2, DOMAIN_IFACE, "Job"), "/")
        with open(vm2_config) as f:
            self.assertEqual(f.read(), vm2_before)
        self.assertEqual(self.state(vm1), ("shutoff", "saved"))
        # the image's own domain, with a title added: restored
        same = domain_xml("vm1", UUID1).replace("<vcpu>", "<title>again</title><vcpu>")
        self.wait_job(self.manager("Restore", "ssu", (image, same, 0)))
        self.assertEqual(self.state(vm1), ("running", "restored"))
        # Save's XML likewise
        e = self.assertPromptError("InvalidArgument", 5, self.domain, vm1, "Save", "ssu",
                                   (image + "2", domain_xml("vm2", UUID1), 0))
        self.assertIn("same domain", e.message)
        self.assertPromptError("ABIMismatch", 5, self.domain, vm1, "Save", "ssu",
                               (image + "2", domain_xml("vm1", UUID2), 0))
        self.assertEqual(self.state(vm1)[0], "running")
        self.assertFalse(os.path.exists(image + "2"))


class LongJobTest(PathsTestCase):
    """Item 4: a damaged compressed image fails at once, naming it; a second
    long job is refused at once."""

    def test_damaged_compressed_image_fails_at_once(self):
        path = self.define("vm1", UUID1)
        image = os.path.join(self.tmp, "damaged.save")
        with open(image, "wb") as f:
            f.write(save_image_bytes(domain_xml("vm1", UUID1), compression=1,
                                     body=b"this is not a zstd stream\n" * 4096))
        t0 = time.monotonic()
        job = self.manager("Restore", "ssu", (image, "", 0))
        with self.assertRaises(DBusCallError) as cm:
            self.wait_job(job)
        took = time.monotonic() - t0
        sys.stderr.write(f"\n[damaged zstd image] restore failed after {took:.2f} s\n")
        self.assertLess(took, 10, cm.exception.message)
        self.assertIn(image, cm.exception.message)
        self.assertIn("decompress", cm.exception.message)
        self.assertEqual(self.state(path)[0], "shutoff")
        self.assertEqual(self.get_prop(path, DOMAIN_IFACE, "Job"), "/")
        self.assertEqual(self.domain(path, "GetJobStats", "u", (1,))["type"], "failed")

    def test_damaged_raw_image_fails_at_once(self):
        path = self.define("vm1", UUID1)
        image = os.path.join(self.tmp, "damaged-raw.save")
        with open(image, "wb") as f:
            f.write(save_image_bytes(domain_xml("vm1", UUID1), compression=0,
                                     body=b"this is not a migration stream\n" * 4096))
        t0 = time.monotonic()
        job = self.manager("Restore", "ssu", (image, "", 0))
        with self.assertRaises(DBusCallError):
            self.wait_job(job)
        self.assertLess(time.monotonic() - t0, 10)
        self.assertEqual(self.state(path)[0], "shutoff")
        self.assertEqual(self.get_prop(path, DOMAIN_IFACE, "Job"), "/")

    def test_second_long_job_refused_at_once(self):
        # default job_wait_timeout (30 s): refusing must not wait for it
        self.restart_with(SLOW)
        path = self.start_vm()
        image = os.path.join(self.tmp, "vm1.save")
        job = self.domain(path, "Save", "ssu", (image, "", 0))
        eventually(lambda: self.get_prop(job, JOB_IFACE, "Phase") == "saving", timeout=30,
                   what="the save to write")
        for method, sig, args in (("ManagedSave", "u", (0,)),
                                  ("Save", "ssu", (image + "2", "", 0)),
                                  ("CoreDump", "su", (os.path.join(self.tmp, "core"), 0))):
            e = self.assertPromptError("OperationInvalid", 2, self.domain, path, method, sig,
                                       args)
            self.assertIn("save: Save from " + self.conn.get_unique_name(), e.message)
        self.domain(path, "AbortJob")
        self.assertDBusError("Aborted", self.wait_job, job)
        self.assertEqual(self.state(path)[0], "running")
        self.assertEqual(self.leftovers(self.tmp), [])


class WorkerPoolTest(PathsTestCase):
    """Item 5: slow callers do not take the worker pool: with 2 workers,
    12 calls on caller-controlled FIFOs and devices, and calls on a domain
    busy with a long job (a second long job, lifecycle calls its mask does
    not allow), leave DefineXML answering at once."""

    def test_slow_calls_leave_define_answering(self):
        config = os.path.join(self.tmp, "virtbusd.conf")
        with open(config, "w") as f:
            f.write("[virtbusd]\nworker_threads=2\n")
        self.restart_with(SLOW, ("--config", config))
        path = self.start_vm()
        job = self.domain(path, "Save", "ssu", (os.path.join(self.tmp, "vm1.save"), "", 0))
        eventually(lambda: self.get_prop(job, JOB_IFACE, "Phase") == "saving", timeout=30,
                   what="the save to write")
        fifos = []
        for i in range(4):
            p = os.path.join(self.tmp, f"fifo{i}")
            os.mkfifo(p)
            fifos.append(p)
        calls = [("/org/virtbus/Virt1", "org.virtbus.Virt1.Manager", "Restore", "ssu",
                  (fifos[0], "", 0)),
                 ("/org/virtbus/Virt1", "org.virtbus.Virt1.Manager", "Restore", "ssu",
                  (fifos[1], "", 0)),
                 ("/org/virtbus/Virt1", "org.virtbus.Virt1.Manager", "Restore", "ssu",
                  ("/dev/zero", "", 0)),
                 (path, DOMAIN_IFACE, "CoreDump", "su", (fifos[2], 0)),
                 (path, DOMAIN_IFACE, "Save", "ssu", (fifos[3], "", 0)),
                 (path, DOMAIN_IFACE, "ManagedSave", "u", (0,)),
                 (path, DOMAIN_IFACE, "ManagedSave", "u", (0,)),
                 (path, DOMAIN_IFACE, "CoreDump", "su", (os.path.join(self.tmp, "c"), 0)),
                 (path, DOMAIN_IFACE, "Suspend", None, ()),
                 (path, DOMAIN_IFACE, "Shutdown", "u", (0,)),
                 (path, DOMAIN_IFACE, "Reset", None, ()),
                 (path, DOMAIN_IFACE, "ManagedSaveRemove", "u", (0,))]
        self.assertGreaterEqual(len(calls), 2 * 2 * 2)
        results = [None] * len(calls)

        def run(i, call):
            conn = connect(self.bus.address)
            t0 = time.monotonic()
            try:
                self.call(*call[:3], sig=call[3], args=call[4], conn=conn, timeout=60000)
                results[i] = ("ok", time.monotonic() - t0)
            except DBusCallError as e:
                results[i] = (e.name, time.monotonic() - t0)
            finally:
                conn.close_sync(None)

        threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
        for t in threads:
            t.start()
        t0 = time.monotonic()
        self.define("vm2", UUID2)
        define_s = time.monotonic() - t0
        for t in threads:
            t.join(70)
        sys.stderr.write(f"\n[2 workers, {len(calls)} slow calls] DefineXML {define_s:.2f} s; calls "
                         f"{[(r[0].split('.')[-1], round(r[1], 2)) for r in results]}\n")
        self.assertLess(define_s, 3)
        for call, r in zip(calls, results):
            self.assertIsNotNone(r, call)
            self.assertNotEqual(r[0], "ok", call)
            self.assertLess(r[1], 5, (call, r))
        self.domain(path, "AbortJob")
        self.assertDBusError("Aborted", self.wait_job, job)
        self.assertEqual(self.state(path)[0], "running")
        for p in fifos:
            self.assertTrue(stat.S_ISFIFO(os.lstat(p).st_mode))


if __name__ == "__main__":
    vbtest.main()
