# SPDX-License-Identifier: LGPL-2.1-or-later
"""virtbusctl's job commands (save, restore, managedsave, dump, domjobinfo,
domjobabort) against the real virtbusd and real QEMU (TCG)."""

import json
import os
import pty
import re
import select
import signal
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vbtest  # noqa: E402
from vbtest import DOMAIN_IFACE, domain_xml, eventually  # noqa: E402

# absolute, since some tests run it from another directory
VIRTBUSCTL = os.path.abspath(vbtest.VIRTBUSCTL)

UUID1 = "3c5d7e9f-1a2b-4c3d-8e4f-5a6b7c8d9e01"
SAVE_MAGIC = b"VirtbusSave1"
PROGRESS_LINE = re.compile(r"(?m)^save: \S+")


@unittest.skipUnless(os.access(VIRTBUSCTL, os.X_OK), f"{VIRTBUSCTL} not built")
class CtlJobTestCase(vbtest.CtlTestCase):
    def path(self, name):
        return os.path.join(self.tmp, name)

    def domstate(self, name):
        return self.ctl("domstate", name).stdout.strip()

    def dom_path(self, name):
        return self.manager("LookupByName", "s", (name,))

    def start_vm(self, name="vm1", uuid=None):
        self.define(name, uuid)
        self.ctl("start", name)
        self.assertEqual(self.domstate(name), "running")

    def jobinfo(self, name, *args):
        text = self.ctl("domjobinfo", name, *args).stdout
        fields = {}
        for line in text.splitlines():
            label, _, value = line.partition(":")
            fields[label] = value.strip()
        return text, fields


class TestSaveRestore(CtlJobTestCase):
    def test_save_then_restore(self):
        self.start_vm("vm1", UUID1)
        image = self.path("vm1.save")
        p = self.ctl("save", "vm1", image, "--no-progress")
        self.assertEqual(p.stdout, f"Domain 'vm1' saved to {image}\n")
        self.assertEqual(p.stderr, "")
        self.assertTrue(os.path.isfile(image))
        with open(image, "rb") as f:
            self.assertEqual(f.read(len(SAVE_MAGIC)), SAVE_MAGIC)
        self.assertGreater(os.path.getsize(image), 4096)
        # no temporary file is left beside the image
        self.assertEqual(sorted(n for n in os.listdir(self.tmp) if n.startswith("vm1.save")),
                         ["vm1.save"])
        self.assertEqual(self.ctl("domstate", "--reason", "vm1").stdout, "shutoff (saved)\n")

        p = self.ctl("restore", image, "--no-progress")
        self.assertEqual(p.stdout, f"Domain 'vm1' restored from {image}\n")
        self.assertEqual(self.domstate("vm1"), "running")
        status = json.loads(self.ctl("qemu-monitor-command", "vm1",
                                     '{"execute": "query-status"}').stdout)
        self.assertTrue(status["return"]["running"])
        self.assertTrue(os.path.isfile(image), "restore keeps the image")
        # a second restore while it runs: refused with the state, and what to do
        self.assertFails(self.ctl("restore", image, "--no-progress", check=False), 1,
                         "domain 'vm1' is already active (running); destroy it before restoring")

    def test_relative_path_is_made_absolute(self):
        self.start_vm()
        p = self.ctl("save", "vm1", "rel.save", "--no-progress", cwd=self.tmp)
        self.assertEqual(p.stdout, "Domain 'vm1' saved to rel.save\n")
        self.assertTrue(os.path.isfile(self.path("rel.save")))
        self.ctl("restore", "--paused", "rel.save", "--no-progress", cwd=self.tmp)
        self.assertEqual(self.domstate("vm1"), "paused")

    def test_restore_running_overrides_paused_image(self):
        self.start_vm()
        image = self.path("p.save")
        self.ctl("save", "--paused", "vm1", image, "--no-progress")
        self.ctl("restore", image, "--no-progress")
        self.assertEqual(self.domstate("vm1"), "paused")
        self.ctl("destroy", "vm1")
        self.ctl("restore", "--running", image, "--no-progress")
        self.assertEqual(self.domstate("vm1"), "running")

    def test_compress(self):
        self.start_vm()
        plain, packed = self.path("plain.save"), self.path("packed.save")
        self.ctl("save", "vm1", plain, "--no-progress")
        self.ctl("restore", plain, "--no-progress")
        p = self.ctl("save", "--compress", "vm1", packed, "--no-progress")
        self.assertEqual(p.stdout, f"Domain 'vm1' saved to {packed}\n")
        with open(packed, "rb") as f:
            self.assertEqual(f.read(len(SAVE_MAGIC)), SAVE_MAGIC)
        self.assertLess(os.path.getsize(packed), os.path.getsize(plain))
        self.ctl("restore", packed, "--no-progress")
        self.assertEqual(self.domstate("vm1"), "running")

    def test_save_with_xml(self):
        self.start_vm()
        xml_file = self.path("vm1.xml")
        with open(xml_file, "w") as f:
            f.write(self.ctl("dumpxml", "--migratable", "vm1").stdout)
        image = self.path("x.save")
        self.ctl("save", "vm1", image, "--xml", xml_file, "--no-progress")
        self.ctl("restore", image, "--xml", xml_file, "--no-progress")
        self.assertEqual(self.domstate("vm1"), "running")

    def test_errors(self):
        self.define("vm1")
        image = self.path("never.save")
        # not running: the service's refusal, exit 1, no file
        self.assertFails(self.ctl("save", "vm1", image, "--no-progress", check=False), 1)
        self.assertFalse(os.path.exists(image))
        # not a save image: refused before any job starts
        junk = self.path("junk.save")
        with open(junk, "wb") as f:
            f.write(b"this is not a save image\n" * 100)
        self.assertFails(self.ctl("restore", junk, "--no-progress", check=False), 1)
        self.assertEqual(self.domstate("vm1"), "shutoff")
        self.assertFails(self.ctl("save", "--running", "--paused", "vm1", image, check=False), 2,
                         "--running and --paused")
        self.assertFails(self.ctl("save", "vm1", check=False), 2)
        self.assertFails(self.ctl("restore", image, "--xml", self.path("nope.xml"),
                                  check=False), 1)

    def test_domjobinfo_completed_after_save(self):
        self.start_vm()
        text, fields = self.jobinfo("vm1")
        self.assertEqual(fields["Job type"], "None", text)
        self.ctl("save", "vm1", self.path("s.save"), "--no-progress")
        text, fields = self.jobinfo("vm1", "--completed")
        self.assertEqual(fields["Job type"], "Completed", text)
        self.assertEqual(fields["Operation"], "Save", text)
        m = re.fullmatch(r"(\d+) +ms", fields["Time elapsed"])
        self.assertIsNotNone(m, text)
        m = re.fullmatch(r"(\d+\.\d{3}) MiB", fields["Data processed"])
        self.assertIsNotNone(m, text)
        self.assertGreater(float(m.group(1)), 0.0, text)
        stats = json.loads(self.ctl("domjobinfo", "--completed", "--json", "vm1").stdout)
        self.assertEqual(stats["type"], "completed")
        self.assertEqual(stats["operation"], "save")
        self.assertGreater(stats["data_processed"], 0)
        self.assertTrue(stats["job"].startswith("/org/virtbus/Virt1/job/"), stats)


class TestProgress(CtlJobTestCase):
    def test_lines_without_tty(self):
        self.start_vm()
        image = self.path("a.save")
        p = self.ctl("save", "vm1", image)
        self.assertEqual(p.stdout, f"Domain 'vm1' saved to {image}\n")
        self.assertRegex(p.stderr, PROGRESS_LINE)
        self.assertRegex(p.stderr, r"(?m)^save: completed, \d+\.\d MiB in \d+\.\d s$")
        # lines, not a redrawn bar
        self.assertNotIn("\r", p.stderr)
        self.assertNotIn("\033[", p.stderr)

        p = self.ctl("restore", image)
        self.assertRegex(p.stderr, r"(?m)^restore: completed")
        p = self.ctl("save", "vm1", image, "--no-progress")
        self.assertEqual(p.stderr, "")

    def test_bar_on_tty(self):
        self.start_vm()
        image = self.path("t.save")
        master, slave = pty.openpty()
        try:
            p = self.ctl_background("save", "vm1", image, stderr=slave)
            os.close(slave)
            slave = None
            out = b""
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                r, _, _ = select.select([master], [], [], 1)
                if not r:
                    if p.poll() is not None:
                        break
                    continue
                try:
                    chunk = os.read(master, 4096)
                except OSError:
                    break
                if not chunk:
                    break
                out += chunk
            p.wait(timeout=30)
        finally:
            os.close(master)
            if slave is not None:
                os.close(slave)
        self.assertEqual(p.returncode, 0, out)
        text = out.decode(errors="replace")
        self.assertIn("\r", text)
        self.assertRegex(text, r"save: \S+ +\[[#-]{24}\]")
        self.assertIn("save: completed", text)


class TestManagedSave(CtlJobTestCase):
    def test_managedsave_start_restores(self):
        self.start_vm()
        self.assertRegex(self.ctl("info", "vm1").stdout, r"(?m)^Managed save: +no$")
        p = self.ctl("managedsave", "vm1", "--no-progress")
        self.assertEqual(p.stdout, "Domain 'vm1' state saved by the virtbus service\n")
        self.assertEqual(self.domstate("vm1"), "shutoff")
        self.assertRegex(self.ctl("info", "vm1").stdout, r"(?m)^Managed save: +yes$")

        self.ctl("start", "vm1")
        self.assertEqual(self.ctl("domstate", "--reason", "vm1").stdout, "running (restored)\n")
        self.assertRegex(self.ctl("info", "vm1").stdout, r"(?m)^Managed save: +no$")

    def test_managedsave_paused_and_remove(self):
        self.start_vm()
        self.ctl("managedsave", "--paused", "vm1", "--no-progress")
        self.assertRegex(self.ctl("info", "vm1").stdout, r"(?m)^Managed save: +yes$")
        p = self.ctl("managedsave-remove", "vm1")
        self.assertEqual(p.stdout, "Removed the managed save image of domain 'vm1'\n")
        self.assertRegex(self.ctl("info", "vm1").stdout, r"(?m)^Managed save: +no$")
        # nothing left to remove: the service's refusal
        self.assertFails(self.ctl("managedsave-remove", "vm1", check=False), 1)
        # boots afresh, not restored
        self.ctl("start", "vm1")
        self.assertEqual(self.ctl("domstate", "--reason", "vm1").stdout, "running (booted)\n")


class TestDump(CtlJobTestCase):
    def test_dump_writes_elf(self):
        self.start_vm()
        core = self.path("vm1.core")
        p = self.ctl("dump", "vm1", core, "--no-progress")
        self.assertEqual(p.stdout, f"Domain 'vm1' dumped to {core}\n")
        with open(core, "rb") as f:
            self.assertEqual(f.read(4), b"\x7fELF")
        # a 128 MiB guest's memory is in it
        self.assertGreater(os.path.getsize(core), 64 * 1024 * 1024)
        self.assertEqual(self.domstate("vm1"), "running")
        text, fields = self.jobinfo("vm1", "--completed")
        self.assertEqual(fields["Operation"], "Dump", text)

    def test_dump_inactive_fails(self):
        self.define("vm1")
        core = self.path("no.core")
        self.assertFails(self.ctl("dump", "vm1", core, check=False), 1)
        self.assertFalse(os.path.exists(core))


class TestAbort(CtlJobTestCase):
    def test_domjobabort_without_job(self):
        self.start_vm()
        err = self.assertDBusError("OperationInvalid", self.domain, self.dom_path("vm1"),
                                   "AbortJob")
        p = self.ctl("domjobabort", "vm1", check=False)
        self.assertFails(p, 1)
        self.assertEqual(p.stderr, f"error: {err.message}\n")
        self.assertEqual(self.domstate("vm1"), "running")


class TestCtrlC(CtlJobTestCase):
    # saves are throttled (docs/threads.md): a save of the 128 MiB guest
    # lasts far longer than the test waits, so the interrupt always comes
    # while it runs
    service_env = {"VIRTBUS_TEST_SAVE_MAX_BANDWIDTH": "8192"}

    def test_ctrl_c_cancels_save(self):
        self.start_vm("vm1", UUID1)
        image = self.path("vm1.save")
        dom = self.dom_path("vm1")
        p = self.ctl_background("save", "vm1", image)
        eventually(lambda: p.poll() is not None or self.get_prop(dom, DOMAIN_IFACE, "Job") != "/",
                   timeout=20, interval=0.01, what="the save job to start")
        self.assertIsNone(p.poll(), "virtbusctl save ended before the interrupt")
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=60)
        self.assertEqual(p.returncode, 1, err)
        self.assertRegex(err, r"(?m)^error: cancelled$")
        self.assertEqual(out, "")
        self.assertFalse(os.path.exists(image))
        self.assertEqual(self.domstate("vm1"), "running")
        text, fields = self.jobinfo("vm1", "--completed")
        self.assertEqual(fields["Job type"], "Cancelled", text)


if __name__ == "__main__":
    vbtest.main()
