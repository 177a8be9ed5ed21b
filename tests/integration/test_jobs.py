# SPDX-License-Identifier: LGPL-2.1-or-later
"""Async jobs: save/restore, managed save, core dump, Job objects, abort,
recovery after a restart (real virtbusd, real QEMU under TCG, diskless
128 MiB domains).

Cancelling needs a save that lasts: the service reads the test-only
environment variable VIRTBUS_TEST_SAVE_MAX_BANDWIDTH (bytes/s) and, when
set, limits QEMU's migration bandwidth for saves to it instead of
"unlimited" (it logs a warning that saves are throttled). Only the tests
that cancel or interrupt a save set it."""

import os
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
import vbtest  # noqa: E402
from vbtest import (DOMAIN_IFACE, Service, SignalRecorder, VirtbusTestCase,  # noqa: E402
                    domain_xml, eventually)

JOB_IFACE = "org.virtbus.Virt1.Job"
UUID1 = "3d0c6c1e-7a55-4b1e-9a53-7c9bd1a0c0a1"
COMPRESS = 1 << 31
SLOW = {"VIRTBUS_TEST_SAVE_MAX_BANDWIDTH": "65536"}


class JobsTestCase(VirtbusTestCase):
    def start_vm(self, name="vm1", uuid=UUID1, xml=None):
        path = self.define(name, uuid, xml=xml)
        self.domain(path, "Start", "u", (0,), timeout=60000)
        return path

    def state(self, path):
        p = self.get_all(path, DOMAIN_IFACE)
        return p["State"], p["StateReason"]

    def wait_job(self, job, timeout=120):
        return self.call(job, JOB_IFACE, "Wait", timeout=timeout * 1000)[0]

    def restart_with(self, env, args=()):
        self.service.stop()
        self.service = Service(self.bus, self.root, list(args), env=env)
        self.service.start()

    def read_header(self, image):
        with open(image, "rb") as f:
            head = f.read(64)
            magic, version, xml_len, flags, comp = struct.unpack("<16sIIII", head[:32])
            xml = f.read(xml_len).rstrip(b"\0").decode()
        return magic.rstrip(b"\0"), version, flags, comp, xml


class SaveRestoreTest(JobsTestCase):
    def test_save_restore_raw_and_compressed(self):
        path = self.start_vm()
        sizes = {}
        for label, flags in (("raw", 0), ("zstd", COMPRESS)):
            image = os.path.join(self.tmp, f"vm1-{label}.save")
            rec = SignalRecorder(self.conn, iface=JOB_IFACE, member="Completed")
            t0 = time.monotonic()
            job = self.domain(path, "Save", "ssu", (image, "", flags))
            self.assertTrue(job.startswith("/org/virtbus/Virt1/job/"), job)
            result = self.wait_job(job)
            save_s = time.monotonic() - t0
            rec.wait_for(lambda s: s[0] == job and s[3][0] is True)
            self.assertEqual(result["path"], image)
            self.assertEqual(self.state(path), ("shutoff", "saved"))
            magic, version, hflags, comp, xml = self.read_header(image)
            self.assertEqual((magic, version, hflags, comp),
                             (b"VirtbusSave1", 1, 2, 1 if flags else 0))
            self.assertIn(UUID1, xml)
            sizes[label] = os.path.getsize(image)
            self.assertEqual(result["size"], sizes[label])
            # the Job object: final properties, then the grace period
            props = self.get_all(job, JOB_IFACE)
            self.assertEqual((props["Operation"], props["Phase"], props["Progress"]),
                             ("save", "completed", 1.0))
            self.assertEqual(props["Domain"], path)
            self.assertEqual(self.wait_job(job)["path"], image)  # Wait() after completion
            stats = self.domain(path, "GetJobStats", "u", (1,))
            self.assertEqual((stats["type"], stats["operation"]), ("completed", "save"))
            self.assertEqual(self.domain(path, "GetJobStats", "u", (0,))["type"], "none")
            t0 = time.monotonic()
            rjob = self.manager("Restore", "ssu", (image, "", 0))
            r = self.wait_job(rjob)
            restore_s = time.monotonic() - t0
            self.assertEqual(r["domain"], path)
            self.assertEqual(self.state(path), ("running", "restored"))
            self.assertEqual(self.get_prop(path, DOMAIN_IFACE, "UUID"), UUID1)
            sys.stderr.write(f"\n[{label}] save {save_s:.2f} s, restore {restore_s:.2f} s, "
                             f"image {sizes[label]} bytes\n")
        self.assertLess(sizes["zstd"], sizes["raw"])

    def test_restore_abi_mismatch_starts_nothing(self):
        path = self.start_vm()
        image = os.path.join(self.tmp, "vm1.save")
        self.wait_job(self.domain(path, "Save", "ssu", (image, "", 0)))
        bad = domain_xml("vm1", UUID1).replace("<vcpu>1</vcpu>", "<vcpu>2</vcpu>")
        self.assertDBusError("ABIMismatch", self.manager, "Restore", "ssu", (image, bad, 0))
        self.assertEqual(self.state(path), ("shutoff", "saved"))
        self.assertEqual(self.get_prop(path, DOMAIN_IFACE, "Job"), "/")

    def test_managed_save(self):
        path = self.start_vm()
        self.wait_job(self.domain(path, "ManagedSave", "u", (0,)))
        image = os.path.join(self.root, "var/lib/virtbus/save/vm1.save")
        self.assertTrue(self.get_prop(path, DOMAIN_IFACE, "HasManagedSave"))
        self.assertTrue(os.path.exists(image), os.listdir(os.path.dirname(image)))
        self.assertDBusError("OperationInvalid", self.domain, path, "Undefine", "u", (0,))
        self.domain(path, "Start", "u", (0,), timeout=60000)
        self.assertEqual(self.state(path), ("running", "restored"))
        self.assertFalse(self.get_prop(path, DOMAIN_IFACE, "HasManagedSave"))
        self.assertFalse(os.path.exists(image))
        self.wait_job(self.domain(path, "ManagedSave", "u", (0,)))
        self.domain(path, "Undefine", "u", (1,))
        self.assertFalse(os.path.exists(image))

    def test_job_ids_never_reused_across_restarts(self):
        """A restarted service hands out job ids above every earlier one: a client that
        kept a Job's path finds NoJob there, never another job; also after a SIGKILL."""
        path = self.start_vm()
        first = self.domain(path, "ManagedSave", "u", (0,))
        self.wait_job(first)
        n1 = int(first.rsplit("/", 1)[1])
        for how in ("stop", "kill"):
            if how == "stop":
                self.service.stop()
            else:
                self.service.kill()
            self.service.start()
            self.conn = vbtest.connect(self.bus.address)
            self.assertDBusError("NoJob", self.call, first, JOB_IFACE, "Wait")
            self.domain(path, "Start", "u", (0,), timeout=60000)  # restores the save
            job = self.domain(path, "ManagedSave", "u", (0,))
            n2 = int(job.rsplit("/", 1)[1])
            self.assertGreater(n2, n1, (how, first, job))
            self.wait_job(job)
            first, n1 = job, n2
        self.domain(path, "Undefine", "u", (1,))

    def test_core_dump(self):
        path = self.start_vm()
        out = os.path.join(self.tmp, "vm1.core")
        job = self.domain(path, "CoreDump", "su", (out, 0))
        result = self.wait_job(job)
        with open(out, "rb") as f:
            self.assertEqual(f.read(4), b"\x7fELF")
        self.assertEqual(result["format"], "elf")
        self.assertGreater(self.get_prop(job, JOB_IFACE, "DataTotal"), 128 * 1024 * 1024 - 1)
        self.assertEqual(self.state(path)[0], "running")
        self.assertEqual(self.domain(path, "GetJobStats", "u", (1,))["operation"], "dump")


class CancelTest(JobsTestCase):
    def setUp(self):
        super().setUp()
        # a short job_wait_timeout, so that nothing here can wait long (a second long job
        # is refused at once anyway)
        self.config = os.path.join(self.tmp, "virtbusd.conf")
        with open(self.config, "w") as f:
            f.write("[virtbusd]\njob_wait_timeout=2\n")
        self.restart_with(SLOW, ("--config", self.config))

    def saving(self, job):
        eventually(lambda: self.get_prop(job, JOB_IFACE, "Phase") == "saving", timeout=30,
                   what="the save to write")

    def test_abort_and_cancel_keep_the_guest_running(self):
        path = self.start_vm()
        image = os.path.join(self.tmp, "vm1.save")
        for how in ("AbortJob", "Cancel"):
            job = self.domain(path, "Save", "ssu", (image, "", 0))
            self.saving(job)
            self.assertEqual(self.get_prop(path, DOMAIN_IFACE, "Job"), job)
            # a second long job meanwhile is refused at once, naming the owner of the first
            t0 = time.monotonic()
            e = self.assertDBusError("OperationInvalid", self.domain, path, "CoreDump", "su",
                                     (os.path.join(self.tmp, "c"), 0), timeout=60000)
            self.assertLess(time.monotonic() - t0, 1.5)
            self.assertIn("save: Save from " + self.conn.get_unique_name(), e.message)
            info = self.domain(path, "GetControlInfo")
            self.assertIn("save", info["async_job"])
            self.assertEqual(info["async_owner"], self.conn.get_unique_name())
            stats = self.domain(path, "GetJobStats", "u", (0,))
            self.assertEqual(stats["type"], "unbounded")
            if how == "AbortJob":
                self.domain(path, "AbortJob")
            else:
                self.call(job, JOB_IFACE, "Cancel")
            self.assertDBusError("Aborted", self.wait_job, job)
            self.assertEqual(self.state(path)[0], "running")
            self.assertEqual(self.get_prop(path, DOMAIN_IFACE, "Job"), "/")
            self.assertEqual([f for f in os.listdir(self.tmp) if "vm1" in f], [])
            self.assertEqual(self.domain(path, "GetJobStats", "u", (1,))["type"], "cancelled")

    def test_restart_during_save_resumes_guest(self):
        path = self.start_vm()
        image = os.path.join(self.tmp, "vm1.save")
        job = self.domain(path, "Save", "ssu", (image, "", 0))
        self.saving(job)
        self.restart_with(None, ("--config", self.config))
        eventually(lambda: self.state(path) == ("running", "unpaused"), timeout=30,
                   what="the guest to run again")
        self.assertEqual(self.get_prop(path, DOMAIN_IFACE, "Job"), "/")
        self.assertEqual([f for f in os.listdir(self.tmp) if "vm1" in f], [])
        # and the domain takes jobs again
        self.wait_job(self.domain(path, "Save", "ssu", (image, "", 0)))
        self.assertTrue(os.path.exists(image))


if __name__ == "__main__":
    vbtest.main()
