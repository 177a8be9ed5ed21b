#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Guest calls a frontend makes (issue 13, part guest2), with real QEMU and the tiny guest:
FSTrim of a mounted ext4 disk (the image's allocation shrinks), GetGuestVcpus /
SetGuestVcpus / SetVcpus GUEST on a 2-vCPU guest, PMSuspendForDuration / PMWakeup,
GetDiskErrors after an ENOSPC (qcow2 on a 4 MiB tmpfs), MemoryPeek against HMP's x/xp,
BlockPeek of a raw disk's first sector, Rename (also a crash between its steps), and the
virtbusctl commands (domfstrim, guestvcpus, setvcpus --guest, dompmsuspend, dompmwakeup,
domblkerror, domrename, change-media --print-xml)."""

import glob
import json
import os
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from gi.repository import GLib  # noqa: E402

import vbtest  # noqa: E402
import vbmigrate  # noqa: E402
from test_memev import MemevTestCase  # noqa: E402
from vbtest import DOMAIN_IFACE, SignalRecorder, connect, eventually  # noqa: E402

GUEST = 8  # VIR_DOMAIN_VCPU_GUEST
LIVE, CONFIG = 1, 2
VIRTUAL, PHYSICAL = 1, 2


class Guest2TestCase(MemevTestCase):
    def guest2(self, name, vcpus=1, devices="", extra_cmdline="", pm=""):
        xml = self.guest(name, balloon=False, extra_cmdline=extra_cmdline)
        xml = xml.replace("<vcpu>1</vcpu>", f"<vcpu>{vcpus}</vcpu>")
        if pm:
            xml = xml.replace("<devices>", f"<pm>{pm}</pm>\n  <devices>", 1)
        return xml.replace("</devices>", devices + "\n  </devices>")

    def hmp(self, path, cmd):
        return json.loads(self.domain(path, "QemuMonitorCommand", "s", (json.dumps(
            {"execute": "human-monitor-command", "arguments": {"command-line": cmd}}),)))[
                "return"]

    @staticmethod
    def hmp_bytes(text):
        out = bytearray()
        for line in text.splitlines():
            if ":" not in line:
                continue
            for tok in line.split(":", 1)[1].split():
                out.append(int(tok, 16))
        return bytes(out)

    def state(self, path):
        return self.get_prop(path, DOMAIN_IFACE, "State")

    def wait_agent_on(self, path):
        agent = self.wait_agent()
        eventually(lambda: self.get_prop(path, DOMAIN_IFACE, "AgentConnected"), timeout=60,
                   what="AgentConnected")
        return agent


class AgentCallsTest(Guest2TestCase):
    def test_fstrim_frees_the_image(self):
        img = os.path.join(self.tmp, "data.img")
        subprocess.run(["mkfs.ext4", "-q", "-F", img, "64M"], check=True,
                       stdout=subprocess.DEVNULL)
        disk = (f"<disk type='file' device='disk'><driver name='qemu' type='raw' "
                f"discard='unmap'/><source file='{img}'/><target dev='vda' bus='virtio'/>"
                f"</disk>")
        path = self.start(self.guest2("trim1", devices=disk))
        agent = self.wait_agent_on(path)
        eventually(lambda: "TINYGUEST: mounted /dev/vda on /mnt" in
                   vbmigrate.read_text(self.serial), timeout=60, what="the disk mounted")
        code, out = agent.run("dd if=/dev/urandom of=/mnt/big bs=1M count=24 2>&1 && sync && "
                              "rm /mnt/big && sync")
        self.assertEqual(code, 0, out)
        before = os.stat(img).st_blocks * 512
        self.assertGreater(before, 24 << 20)
        # libvirt's refusals first: a mount point, flags
        self.assertDBusError("NotSupported", self.domain, path, "FSTrim", "stu", ("/mnt", 0, 0))
        self.assertDBusError("InvalidArgument", self.domain, path, "FSTrim", "stu", ("", 0, 1))
        self.domain(path, "FSTrim", "stu", ("", 0, 0), timeout=60000)
        after = os.stat(img).st_blocks * 512
        self.assertLess(after, before - (16 << 20), (before, after))
        # virtbusctl, with a minimum
        self.ctl("domfstrim", "trim1", "--minimum", "4096")
        self.assertFails(self.ctl("domfstrim", "trim1", "--mountpoint", "/mnt", check=False), 1,
                         "mount point")

    def test_guest_vcpus(self):
        path = self.start(self.guest2("gv1", vcpus=2))
        self.wait_agent_on(path)
        info = self.domain(path, "GetGuestVcpus", "u", (0,))
        self.assertEqual((info["vcpus"], info["online"]), ("0-1", "0-1"), info)
        self.assertIn("1", info["offlinable"])
        # vCPU 1 offline through the agent
        self.domain(path, "SetGuestVcpus", "abiu", ([False, True], 0, 0))
        self.assertEqual(self.domain(path, "GetGuestVcpus", "u", (0,))["online"], "0")
        out = self.ctl("guestvcpus", "gv1").stdout
        self.assertIn("online         : 0\n", out)
        self.assertIn("vcpus          : 0-1\n", out)
        # errors: a vCPU the guest lacks, an empty map, a bad state
        self.assertDBusError("InvalidArgument", self.domain, path, "SetGuestVcpus", "abiu",
                             ([False, False, False, True], 1, 0))
        self.assertDBusError("InvalidArgument", self.domain, path, "SetGuestVcpus", "abiu",
                             ([False], 1, 0))
        self.assertDBusError("InvalidArgument", self.domain, path, "SetGuestVcpus", "abiu",
                             ([True], 2, 0))
        # online again with virtbusctl, then SetVcpus GUEST
        self.ctl("guestvcpus", "gv1", "--cpulist", "1", "--enable")
        self.assertEqual(self.domain(path, "GetGuestVcpus", "u", (0,))["online"], "0-1")
        self.domain(path, "SetVcpus", "uu", (1, GUEST))
        self.assertEqual(self.domain(path, "GetGuestVcpus", "u", (0,))["online"], "0")
        self.ctl("setvcpus", "gv1", "2", "--guest")
        self.assertEqual(self.domain(path, "GetGuestVcpus", "u", (0,))["online"], "0-1")
        self.assertDBusError("InvalidArgument", self.domain, path, "SetVcpus", "uu",
                             (3, GUEST))
        self.assertDBusError("InvalidArgument", self.domain, path, "SetVcpus", "uu",
                             (1, GUEST | CONFIG))
        # the domain's own vCPUs did not change
        self.assertEqual(self.get_prop(path, DOMAIN_IFACE, "VCPUs"), 2)

    def test_not_running_and_no_agent(self):
        path = self.define(self.guest2("na1"))
        self.assertDBusError("OperationInvalid", self.domain, path, "GetGuestVcpus", "u", (0,))
        self.assertDBusError("OperationInvalid", self.domain, path, "FSTrim", "stu", ("", 0, 0))
        self.assertDBusError("OperationInvalid", self.domain, path, "GetDiskErrors", "u", (0,))
        self.assertDBusError("OperationInvalid", self.domain, path, "PMWakeup", "u", (0,))
        self.assertDBusError("OperationInvalid", self.domain, path, "MemoryPeek", "ttu",
                             (0, 16, PHYSICAL))
        xml = vbmigrate.guest_xml(name="na2", serial=self.serial, tick=False)
        p2 = self.start(xml)
        self.assertDBusError("NotSupported", self.domain, p2, "FSTrim", "stu", ("", 0, 0))
        self.assertDBusError("NotSupported", self.domain, p2, "PMSuspendForDuration", "utu",
                             (0, 0, 0))
        self.domain(p2, "Destroy", "u", (0,))


class PowerTest(Guest2TestCase):
    def test_suspend_and_wakeup(self):
        sus = SignalRecorder(self.conn, DOMAIN_IFACE, "PMSuspend")
        self.addCleanup(sus.close)
        wake = SignalRecorder(self.conn, DOMAIN_IFACE, "PMWakeup")
        self.addCleanup(wake.close)
        path = self.start(self.guest2("pm1", extra_cmdline="tgtick"))
        self.wait_agent_on(path)
        # libvirt's refusals
        self.assertDBusError("NotSupported", self.domain, path, "PMSuspendForDuration", "utu",
                             (0, 5, 0))
        self.assertDBusError("InvalidArgument", self.domain, path, "PMSuspendForDuration",
                             "utu", (3, 0, 0))
        self.assertDBusError("OperationInvalid", self.domain, path, "PMWakeup", "u", (0,))
        self.ctl("dompmsuspend", "pm1", "mem")
        sus.wait_for(lambda s: s[0] == path, timeout=60, what="PMSuspend")
        eventually(lambda: self.state(path) == "pmsuspended", timeout=20, what="pmsuspended")
        # the guest stands still: no tick while suspended
        ticks = vbmigrate.read_text(self.serial).count("TINYGUEST: tick")
        time.sleep(2)
        self.assertEqual(vbmigrate.read_text(self.serial).count("TINYGUEST: tick"), ticks)
        out = self.ctl("dompmwakeup", "pm1").stdout
        self.assertIn("successfully woken up", out)
        wake.wait_for(lambda s: s[0] == path, timeout=60, what="PMWakeup")
        eventually(lambda: self.state(path) == "running", timeout=20, what="running again")
        eventually(lambda: vbmigrate.read_text(self.serial).count("TINYGUEST: tick") > ticks + 1,
                   timeout=60, what="the guest ticking again")

    def test_pm_disabled_is_refused(self):
        path = self.start(self.guest2("pm2", pm="<suspend-to-mem enabled='no'/>"
                                      "<suspend-to-disk enabled='no'/>"))
        self.wait_agent_on(path)
        for target in (0, 1, 2):
            e = self.assertDBusError("OperationInvalid", self.domain, path,
                                     "PMSuspendForDuration", "utu", (target, 0, 0))
            self.assertIn("S4" if target == 1 else "S3", e.message)
        self.assertEqual(self.state(path), "running")
        # <pm> kept in the definition
        self.assertIn("suspend-to-mem enabled='no'", self.domain(path, "GetXMLDesc", "u", (0,)))


class DiskErrorTest(Guest2TestCase):
    def small_disk_guest(self, name, policy):
        """A guest whose qcow2 disk lies on a 4 MiB tmpfs and that fills it (test_memev's
        set-up)."""
        mnt = os.path.join(self.tmp, "small")
        os.makedirs(mnt)
        self.run_cmd(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", mnt])
        self.addCleanup(self.run_cmd, ["umount", "-l", mnt], check=False)
        img = os.path.join(mnt, "disk.qcow2")
        self.run_cmd(["qemu-img", "create", "-q", "-f", "qcow2", img, "256M"])
        return vbmigrate.guest_xml(name=name, serial=self.serial, tick=False,
                                   extra_cmdline="tgfill=3", devices=f"""
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2' error_policy='{policy}'/>
      <source file='{img}'/>
      <target dev='vda' bus='virtio'/>
    </disk>""")

    def test_reported_error_is_kept(self):
        """error_policy='report': QEMU keeps no io-status, the BLOCK_IO_ERROR counts."""
        rec = SignalRecorder(self.conn, DOMAIN_IFACE, "IOError")
        self.addCleanup(rec.close)
        path = self.start(self.small_disk_guest("ioerr3", "report"))
        self.assertEqual(self.domain(path, "GetDiskErrors", "u", (0,)), [])
        got = rec.wait_for(lambda s: s[0] == path, timeout=120, what="IOError")
        # the action report (2); QEMU may tell ENOSPC or not (qcow2 allocation)
        self.assertEqual(got[0][3][1:3], ("virtio-disk0", 2))
        code = 2 if got[0][3][3] == "enospc" else 1
        self.assertEqual(self.domain(path, "GetDiskErrors", "u", (0,)), [("vda", code)])
        self.assertEqual(self.state(path), "running")
        self.domain(path, "Destroy", "u", (0,))
        # a new run starts without errors
        self.domain(path, "Start", "u", (0,), timeout=60000)
        self.assertEqual(self.domain(path, "GetDiskErrors", "u", (0,)), [])
        self.domain(path, "Destroy", "u", (0,))

    def test_no_space(self):
        path = self.start(self.small_disk_guest("ioerr2", "stop"))
        self.assertEqual(self.domain(path, "GetDiskErrors", "u", (0,)), [])
        self.assertIn("No errors found", self.ctl("domblkerror", "ioerr2").stdout)
        eventually(lambda: self.get_prop(path, DOMAIN_IFACE, "StateReason") == "ioerror",
                   timeout=120, what="paused on the I/O error")
        self.assertEqual(self.domain(path, "GetDiskErrors", "u", (0,)), [("vda", 2)])
        self.assertEqual(self.ctl("domblkerror", "ioerr2").stdout, "vda: no space\n")
        self.assertDBusError("InvalidArgument", self.domain, path, "GetDiskErrors", "u", (1,))
        self.domain(path, "Destroy", "u", (0,))


class PeekTest(Guest2TestCase):
    def test_memory_peek(self):
        path = self.start(self.guest2("mp1"))
        agent = self.wait_agent_on(path)
        # physical: the same bytes as HMP's xp (a different path through QEMU)
        for addr in (0xf0000, 0x100000):
            got = bytes(self.domain(path, "MemoryPeek", "ttu", (addr, 64, PHYSICAL)))
            self.assertEqual(len(got), 64)
            self.assertEqual(got, self.hmp_bytes(self.hmp(path, f"xp /64xb {addr:#x}")))
        # virtual: the kernel's _text as vCPU 0 maps it
        code, out = agent.run("grep ' _text$' /proc/kallsyms")
        self.assertEqual(code, 0, out)
        text = int(out.split()[0], 16)
        self.assertNotEqual(text, 0, "kallsyms hides addresses")
        got = bytes(self.domain(path, "MemoryPeek", "ttu", (text, 32, VIRTUAL)))
        self.assertEqual(got, self.hmp_bytes(self.hmp(path, f"x /32xb {text:#x}")))
        self.assertNotEqual(got, bytes(32))
        # limits and flags, as libvirt
        self.assertEqual(bytes(self.domain(path, "MemoryPeek", "ttu", (0, 65536, PHYSICAL))
                               ).__len__(), 65536)
        for args in ((0, 65537, PHYSICAL), (0, 16, 0), (0, 16, 3), (2 ** 64 - 8, 16, 1)):
            self.assertDBusError("InvalidArgument", self.domain, path, "MemoryPeek", "ttu",
                                 args)
        self.assertDBusError("InvalidArgument", self.domain, path, "MemoryPeek", "ttu",
                             (0, 16, 4))
        # nothing left behind in the service's directories
        self.assertEqual(glob.glob(os.path.join(self.root, "**", "qemu.mem.*"),
                                   recursive=True), [])

    def test_block_peek(self):
        img = os.path.join(self.tmp, "raw.img")
        sector = b"VBPEEK first sector " + bytes(range(256)) + b"\xaa" * 236
        with open(img, "wb") as f:
            f.write(sector)
            f.truncate(1 << 20)
        qcow = os.path.join(self.tmp, "q.qcow2")
        self.run_cmd(["qemu-img", "create", "-q", "-f", "qcow2", qcow, "1M"])
        fifo = os.path.join(self.tmp, "fifo")
        os.mkfifo(fifo)
        disks = (f"<disk type='file' device='disk'><driver name='qemu' type='raw'/>"
                 f"<source file='{img}'/><target dev='vda' bus='virtio'/></disk>"
                 f"<disk type='file' device='disk'><driver name='qemu' type='qcow2'/>"
                 f"<source file='{qcow}'/><target dev='vdb' bus='virtio'/></disk>")
        path = self.define(self.guest2("bp1", devices=disks))
        # inactive: the file as it is
        self.assertEqual(bytes(self.domain(path, "BlockPeek", "sttu", ("vda", 0, 512, 0))),
                         sector)
        self.assertEqual(bytes(self.domain(path, "BlockPeek", "sttu", (img, 20, 4, 0))),
                         bytes(range(4)))
        self.assertDBusError("NotSupported", self.domain, path, "BlockPeek", "sttu",
                             ("vdb", 0, 512, 0))
        self.assertDBusError("InvalidArgument", self.domain, path, "BlockPeek", "sttu",
                             ("vdz", 0, 512, 0))
        e = self.assertDBusError("InvalidArgument", self.domain, path, "BlockPeek", "sttu",
                                 ("vda", (1 << 20) - 100, 512, 0))
        self.assertIn("has only 100 bytes", e.message)
        self.assertDBusError("InvalidArgument", self.domain, path, "BlockPeek", "sttu",
                             ("vda", 0, 65537, 0))
        self.assertDBusError("InvalidArgument", self.domain, path, "BlockPeek", "sttu",
                             ("vda", 0, 512, 1))
        # running: the guest's disk as QEMU sees it
        self.domain(path, "Start", "u", (0,), timeout=60000)
        self.assertEqual(bytes(self.domain(path, "BlockPeek", "sttu", ("vda", 0, 512, 0))),
                         sector)
        self.domain(path, "Destroy", "u", (0,))
        # a FIFO source never pins a worker
        xml = self.guest2("bp2", devices=f"<disk type='file' device='disk'><driver name='qemu' "
                          f"type='raw'/><source file='{fifo}'/><target dev='vda' "
                          f"bus='virtio'/></disk>")
        p2 = self.define(xml)
        t0 = time.monotonic()
        self.assertDBusError("InvalidArgument", self.domain, p2, "BlockPeek", "sttu",
                             ("vda", 0, 16, 0))
        self.assertLess(time.monotonic() - t0, 5)


class RenameTest(Guest2TestCase):
    def config_of(self, name):
        found = glob.glob(os.path.join(self.root, "**", f"{name}.xml"), recursive=True)
        return [f for f in found if "/autostart/" not in f and "/run/" not in f]

    def test_rename(self):
        life = SignalRecorder(self.conn, DOMAIN_IFACE, "Lifecycle")
        self.addCleanup(life.close)
        props = SignalRecorder(self.conn, "org.freedesktop.DBus.Properties",
                               "PropertiesChanged")
        self.addCleanup(props.close)
        path = self.define(self.guest2("old1"))
        other = self.define(vbmigrate.guest_xml(name="taken", tick=False))
        self.set_prop(path, DOMAIN_IFACE, "Autostart", GLib.Variant("b", True))
        old_cfg = self.config_of("old1")
        self.assertEqual(len(old_cfg), 1, old_cfg)
        self.domain(path, "Rename", "su", ("new1", 0))
        self.assertEqual(self.get_prop(path, DOMAIN_IFACE, "Name"), "new1")
        props.wait_for(lambda s: s[0] == path and s[3][0] == DOMAIN_IFACE
                       and s[3][1].get("Name") == "new1", what="PropertiesChanged Name")
        self.assertEqual(self.manager("LookupByName", "s", ("new1",)), path)
        self.assertDBusError("NoDomain", self.manager, "LookupByName", "s", ("old1",))
        self.assertEqual(self.config_of("old1"), [])
        self.assertEqual(len(self.config_of("new1")), 1)
        self.assertIn("<name>new1</name>", self.domain(path, "GetXMLDesc", "u", (0,)))
        self.assertTrue(self.get_prop(path, DOMAIN_IFACE, "Autostart"))
        links = os.listdir(os.path.join(os.path.dirname(self.config_of("new1")[0]),
                                        "autostart"))
        self.assertEqual(links, ["new1.xml"])
        life.wait_for(lambda s: s[0] == path and s[3] == ("defined", "renamed"),
                      what="Lifecycle defined/renamed")
        self.assertTrue(any(s[3] == ("undefined", "renamed") for s in life.signals))
        # refusals: a taken name, the same, an invalid one, flags, a running domain
        self.assertDBusError("AlreadyExists", self.domain, path, "Rename", "su", ("taken", 0))
        self.assertDBusError("OperationInvalid", self.domain, path, "Rename", "su", ("new1", 0))
        self.assertDBusError("InvalidArgument", self.domain, path, "Rename", "su", ("a/b", 0))
        # issue 14 (bus fuzzer): a control character made a definition that no longer parsed
        err = self.assertDBusError("InvalidArgument", self.domain, path, "Rename", "su",
                                   ("a\x01b", 0))
        self.assertIn("XML 1.0", err.message)
        self.assertIn("<name>new1</name>", self.domain(path, "GetXMLDesc", "u", (2,)))
        self.assertDBusError("InvalidArgument", self.domain, path, "Rename", "su", ("x", 1))
        self.domain(other, "Start", "u", (0,), timeout=60000)
        self.assertDBusError("OperationInvalid", self.domain, other, "Rename", "su", ("y", 0))
        self.domain(other, "Destroy", "u", (0,))
        # virtbusctl
        self.assertIn("successfully renamed", self.ctl("domrename", "new1", "new2").stdout)
        self.assertEqual(self.get_prop(path, DOMAIN_IFACE, "Name"), "new2")
        # the service starts again with the renamed domain (autostart off: it would start)
        self.set_prop(path, DOMAIN_IFACE, "Autostart", GLib.Variant("b", False))
        self.conn.close_sync(None)
        self.assertEqual(self.service.stop(), 0)
        self.service.start()
        self.conn = connect(self.bus.address)
        self.assertEqual(self.manager("LookupByName", "s", ("new2",)), path)
        self.assertEqual(self.get_prop(path, DOMAIN_IFACE, "Name"), "new2")

    def test_crash_between_the_steps(self):
        """Both configs exist (the new one written, the old not yet removed): the start-up
        keeps the newer and removes the older."""
        path = self.define(self.guest2("c1"))
        self.conn.close_sync(None)
        self.assertEqual(self.service.stop(), 0)
        [cfg] = self.config_of("c1")
        new = os.path.join(os.path.dirname(cfg), "c2.xml")
        with open(cfg) as f:
            text = f.read()
        time.sleep(0.05)
        with open(new, "w") as f:
            f.write(text.replace("<name>c1</name>", "<name>c2</name>"))
        self.service.start()
        self.conn = connect(self.bus.address)
        self.assertEqual(self.manager("LookupByName", "s", ("c2",)), path)
        self.assertDBusError("NoDomain", self.manager, "LookupByName", "s", ("c1",))
        self.assertFalse(os.path.exists(cfg))
        self.assertIn("interrupted Rename", self.service.read_log())


class ChangeMediaPrintTest(Guest2TestCase):
    def test_print_xml(self):
        iso = os.path.join(self.tmp, "a.iso")
        with open(iso, "wb") as f:
            f.truncate(1 << 20)
        cd = ("<disk type='file' device='cdrom'><driver name='qemu' type='raw'/>"
              "<target dev='sda' bus='sata'/><readonly/></disk>")
        path = self.define(self.guest2("cm1", devices=cd))
        before = self.domain(path, "GetXMLDesc", "u", (0,))
        out = self.ctl("change-media", "cm1", "sda", iso, "--insert", "--print-xml",
                       "--config").stdout
        self.assertTrue(out.startswith("<disk type='file' device='cdrom'>"), out)
        self.assertIn(f"<source file='{iso}'/>", out)
        self.assertIn("<target dev='sda' bus='sata'/>", out)
        self.assertEqual(self.domain(path, "GetXMLDesc", "u", (0,)), before)


if __name__ == "__main__":
    vbtest.main()
