#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Per-domain cgroups and resource tuning (issue 14, part cgroup; docs/resources.md) with the
real virtbusd and real QEMU (TCG):
- cgroup_mode=direct: QEMU's /proc/PID/cgroup names the domain's cgroup
  (<partition>/qemu-<id>-<name>), <memtune><hard_limit> is its memory limit, <cputune>
  shares its CPU weight and global_quota its CPU quota; SetMemoryParameters and
  SetSchedulerParameters LIVE change the files and the live definition (CONFIG stays), a
  per-thread quota LIVE is NotSupported, bad parameters are InvalidArgument; the cgroup
  directory is gone after Destroy; a service restart keeps the VM, finds its cgroup (status
  XML) and still changes and removes it; virtbusctl memtune / schedinfo / blkiotune.
- cgroup_mode=none: the limits are listed in Unsupported, LIVE tuning is NotSupported,
  CONFIG tuning writes the persistent definition.

This host: cgroup v2 (/sys/fs/cgroup is cgroup2fs) or a hybrid host whose controllers are
cgroup v1 hierarchies under /sys/fs/cgroup/<controller> (the build machine); direct mode
uses what there is, below the service's own placement for v1.
"""

import os
import signal
import sys
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.dirname(__file__))
import vbtest  # noqa: E402
from gi.repository import GLib  # noqa: E402
from vbtest import CtlTestCase, DOMAIN_IFACE, eventually  # noqa: E402

LIVE, CONFIG = 1, 2
INACTIVE = 2  # GetXMLDesc
CG = "/sys/fs/cgroup"
UNLIMITED = 9007199254740991

XML = """<domain type='qemu'>
  <name>{name}</name>
  <memory unit='MiB'>128</memory>
  <memtune>
    <hard_limit unit='MiB'>300</hard_limit>
    <soft_limit unit='MiB'>200</soft_limit>
  </memtune>
  <vcpu>1</vcpu>
  <cputune>
    <shares>512</shares>
    <global_period>100000</global_period>
    <global_quota>50000</global_quota>
  </cputune>
  <resource>
    <partition>{partition}</partition>
  </resource>
  <os>
    <type arch='x86_64' machine='q35'>hvm</type>
  </os>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
  </devices>
</domain>
"""


def unified():
    with open("/proc/self/mounts") as f:
        return f" {CG} cgroup2 " in f.read()


def own_placement(ctrl):
    """The test's (and so virtbusd's) cgroup of @ctrl's v1 hierarchy."""
    with open("/proc/self/cgroup") as f:
        for line in f:
            _, ctrls, path = line.rstrip("\n").split(":", 2)
            if ctrl in ctrls.split(","):
                return path
    return None


def read(path):
    with open(path) as f:
        return f.read().strip()


def cgroup_dirs(root, name):
    """The directories the status XML records for the run of @name."""
    tree = ET.parse(os.path.join(root, "run/virtbus/qemu", f"{name}.xml"))
    cg = tree.getroot().find("cgroup")
    if cg is None:
        return None, []
    return cg.get("mode"), [d.get("path") for d in cg.findall("dir")]


class CgroupTestCase(CtlTestCase):
    mode = "direct"

    def setUp(self):
        self.partition = f"/vbtest-{os.getpid()}"
        self.cfgdir = os.path.join("/tmp", f"vbtest-cgcfg-{os.getpid()}")
        os.makedirs(self.cfgdir, exist_ok=True)
        cfg = os.path.join(self.cfgdir, "virtbusd.conf")
        with open(cfg, "w") as f:
            f.write(f"[virtbusd]\ncgroup_mode={self.mode}\n")
        self.service_args = ("--config", cfg)
        super().setUp()

    def tearDown(self):
        try:
            super().tearDown()
        finally:
            # the partition directories the runs left (the domain cgroups are checked gone)
            for d in self.partition_dirs():
                try:
                    os.rmdir(d)
                except OSError:
                    pass

    def partition_dirs(self):
        if unified():
            return [CG + self.partition]
        out = []
        for ctrl in ("memory", "cpu", "blkio"):
            own = own_placement(ctrl)
            if own is not None and os.path.isdir(os.path.join(CG, ctrl)):
                out.append(os.path.join(CG, ctrl) + own.rstrip("/") + self.partition)
        return out

    def define_start(self, name, start=True):
        path = self.manager("DefineXML", "su", (XML.format(name=name,
                                                           partition=self.partition), 0))
        if start:
            self.domain(path, "Start", "u", (0,), timeout=60000)
        return path

    def pid(self, name):
        return int(read(os.path.join(self.root, "run/virtbus/qemu", f"{name}.pid")))

    def memory_dir(self, dirs):
        if unified():
            return dirs[0]
        return next(d for d in dirs if d.startswith(CG + "/memory/"))

    def cpu_dir(self, dirs):
        if unified():
            return dirs[0]
        return next(d for d in dirs if d.startswith(CG + "/cpu/"))

    def memory_max(self, dirs):
        if unified():
            return int(read(os.path.join(dirs[0], "memory.max")))
        return int(read(os.path.join(self.memory_dir(dirs), "memory.limit_in_bytes")))

    def cpu_weight(self, dirs):
        f = "cpu.weight" if unified() else "cpu.shares"
        return int(read(os.path.join(self.cpu_dir(dirs), f)))

    def cpu_quota(self, dirs):
        if unified():
            return read(os.path.join(dirs[0], "cpu.max"))
        d = self.cpu_dir(dirs)
        return f"{read(os.path.join(d, 'cpu.cfs_quota_us'))} {read(os.path.join(d, 'cpu.cfs_period_us'))}"

    def set_memory(self, path, params, flags):
        self.domain(path, "SetMemoryParameters", "a{sv}u",
                    ({k: GLib.Variant("t", v) for k, v in params.items()}, flags))


class DirectTest(CgroupTestCase):
    mode = "direct"

    def test_limits_applied_changed_and_removed(self):
        path = self.define_start("cg1")
        pid = self.pid("cg1")
        mode, dirs = cgroup_dirs(self.root, "cg1")
        self.assertEqual(mode, "direct")
        self.assertTrue(dirs, "no cgroup directory in the status XML")
        leaf = f"{self.partition}/qemu-1-cg1"
        for d in dirs:
            self.assertTrue(d.endswith(leaf), d)
            self.assertTrue(os.path.isdir(d), d)
        # QEMU is in it, in every hierarchy the service placed it
        with open(f"/proc/{pid}/cgroup") as f:
            lines = f.read().splitlines()
        placed = [ln for ln in lines if ln.endswith(leaf)]
        self.assertGreaterEqual(len(placed), len(dirs), lines)
        procs = read(os.path.join(self.memory_dir(dirs), "cgroup.procs")).split()
        self.assertIn(str(pid), procs)
        # the definition's limits
        self.assertEqual(self.memory_max(dirs), 300 * 1024 * 1024)
        self.assertEqual(self.cpu_weight(dirs), 512)
        self.assertEqual(self.cpu_quota(dirs), "50000 100000")
        self.assertEqual(self.get_prop(path, DOMAIN_IFACE, "Unsupported"), [])

        # live changes reach the cgroup and the live definition, not the persistent one
        self.set_memory(path, {"hard_limit": 400 * 1024}, LIVE)
        self.assertEqual(self.memory_max(dirs), 400 * 1024 * 1024)
        live = self.domain(path, "GetMemoryParameters", "u", (LIVE,))
        self.assertEqual(live["hard_limit"], 400 * 1024)
        self.assertEqual(live["soft_limit"], 200 * 1024)
        self.assertEqual(live["min_guarantee"], UNLIMITED)
        conf = self.domain(path, "GetMemoryParameters", "u", (CONFIG,))
        self.assertEqual(conf["hard_limit"], 300 * 1024)
        self.domain(path, "SetSchedulerParameters", "a{sv}u",
                    ({"cpu_shares": GLib.Variant("t", 1024),
                      "global_quota": GLib.Variant("x", 20000)}, LIVE))
        self.assertEqual(self.cpu_weight(dirs), 1024)
        self.assertEqual(self.cpu_quota(dirs), "20000 100000")
        sched = self.domain(path, "GetSchedulerParameters", "u", (0,))
        self.assertEqual(sched["cpu_shares"], 1024)
        self.assertEqual(sched["global_quota"], 20000)
        self.assertEqual(sched["vcpu_quota"], 0)
        root = ET.fromstring(self.domain(path, "GetXMLDesc", "u", (0,)))
        self.assertEqual(root.findtext("cputune/shares"), "1024")

        # what cannot be done is a named error, and changes nothing
        err = self.assertDBusError("NotSupported", self.domain, path, "SetSchedulerParameters",
                                   "a{sv}u", ({"vcpu_quota": GLib.Variant("x", 5000)}, LIVE))
        self.assertIn("<cputune><quota>", err.message)
        self.assertDBusError("InvalidArgument", self.domain, path, "SetMemoryParameters",
                             "a{sv}u", ({"hard_limit": GLib.Variant("s", "1G")}, LIVE))
        err = self.assertDBusError("InvalidArgument", self.domain, path,
                                   "SetMemoryParameters", "a{sv}u",
                                   ({"hard_limt": GLib.Variant("t", 1)}, LIVE))
        self.assertIn("hard_limt", err.message)
        err = self.assertDBusError("InvalidArgument", self.domain, path,
                                   "SetSchedulerParameters", "a{sv}u",
                                   ({"global_period": GLib.Variant("t", 10)}, LIVE))
        self.assertIn("[1000, 1000000]", err.message)
        self.assertDBusError("InvalidArgument", self.domain, path, "GetMemoryParameters", "u",
                             (LIVE | CONFIG,))
        self.assertDBusError("InvalidArgument", self.domain, path, "GetMemoryParameters", "u",
                             (4,))
        self.assertEqual(self.memory_max(dirs), 400 * 1024 * 1024)

        # CONFIG: the persistent <memtune>
        self.set_memory(path, {"soft_limit": 100 * 1024}, CONFIG)
        inactive = ET.fromstring(self.domain(path, "GetXMLDesc", "u", (INACTIVE,)))
        self.assertEqual(inactive.findtext("memtune/soft_limit"), str(100 * 1024))
        self.assertEqual(inactive.findtext("memtune/hard_limit"), str(300 * 1024))

        # Destroy removes the cgroup
        self.domain(path, "Destroy", "u", (0,))
        eventually(lambda: not any(os.path.exists(d) for d in dirs), timeout=10,
                   what="the domain's cgroup to be removed")
        self.assertDBusError("OperationInvalid", self.domain, path, "GetMemoryParameters", "u",
                             (LIVE,))

    def test_zero_shares_is_the_lowest_weight(self):
        # libvirt's parser takes <shares>0</shares> and writes it back: it defines, is kept,
        # and starts with the lowest CPU weight (v2: cpu.weight 1; v1: the kernel's minimum)
        xml = XML.format(name="cg0", partition=self.partition).replace(
            "<shares>512</shares>", "<shares>0</shares>")
        path = self.manager("DefineXML", "su", (xml, 0))
        root = ET.fromstring(self.domain(path, "GetXMLDesc", "u", (INACTIVE,)))
        self.assertEqual(root.findtext("cputune/shares"), "0")
        self.domain(path, "Start", "u", (0,), timeout=60000)
        _, dirs = cgroup_dirs(self.root, "cg0")
        self.assertEqual(self.cpu_weight(dirs), 1 if unified() else 2)
        self.assertEqual(self.domain(path, "GetSchedulerParameters", "u", (0,))["cpu_shares"], 0)
        # the API keeps libvirt's range
        self.assertDBusError("InvalidArgument", self.domain, path, "SetSchedulerParameters",
                             "a{sv}u", ({"cpu_shares": GLib.Variant("t", 0)}, LIVE))
        self.domain(path, "Destroy", "u", (0,))

    def test_restart_keeps_vm_and_cgroup(self):
        path = self.define_start("cg2")
        pid = self.pid("cg2")
        _, dirs = cgroup_dirs(self.root, "cg2")
        self.assertEqual(self.service.stop(), 0)
        # the VM runs on in its cgroup while the service is away
        os.kill(pid, 0)
        self.assertTrue(all(os.path.isdir(d) for d in dirs))
        self.service.start()
        self.assertEqual(self.get_prop(path, DOMAIN_IFACE, "State"), "running")
        self.assertEqual(self.pid("cg2"), pid)
        self.assertEqual(cgroup_dirs(self.root, "cg2")[1], dirs)
        self.set_memory(path, {"hard_limit": 350 * 1024}, LIVE)
        self.assertEqual(self.memory_max(dirs), 350 * 1024 * 1024)
        self.domain(path, "Destroy", "u", (0,))
        eventually(lambda: not any(os.path.exists(d) for d in dirs), timeout=10,
                   what="the domain's cgroup to be removed after the restart")

    def test_qemu_gone_while_service_down(self):
        """A QEMU that ended while the service was away: its cgroup goes at the restart."""
        path = self.define_start("cg4")
        pid = self.pid("cg4")
        _, dirs = cgroup_dirs(self.root, "cg4")
        self.assertEqual(self.service.stop(), 0)
        os.kill(pid, signal.SIGKILL)
        eventually(lambda: not os.path.exists(f"/proc/{pid}/cgroup")
                   or read(f"/proc/{pid}/stat").split()[2] == "Z", what="QEMU to die")
        self.service.start()
        self.assertEqual(self.get_prop(path, DOMAIN_IFACE, "State"), "shutoff")
        eventually(lambda: not any(os.path.exists(d) for d in dirs), timeout=10,
                   what="the cgroup of the dead QEMU to be removed")

    def test_start_fails_cleanly(self):
        """A limit that cannot be applied fails the start naming it; nothing is left."""
        xml = XML.format(name="cgf", partition=self.partition).replace(
            "  <vcpu>", "  <blkiotune><device><path>/dev/vbtest-nodev</path>"
                        "<read_iops_sec>100</read_iops_sec></device></blkiotune>\n  <vcpu>")
        path = self.manager("DefineXML", "su", (xml, 0))
        err = self.assertDBusError("InvalidArgument", self.domain, path, "Start", "u", (0,),
                                   timeout=60000)
        self.assertIn("/dev/vbtest-nodev", err.message)
        self.assertIn("cannot start domain 'cgf'", err.message)
        self.assertEqual(self.get_prop(path, DOMAIN_IFACE, "State"), "shutoff")
        self.assertFalse(any(os.path.exists(os.path.join(d, "qemu-1-cgf"))
                             for d in self.partition_dirs()))
        self.assertDBusError("OperationInvalid", self.domain, path, "GetBlkioParameters", "u",
                             (LIVE,))
        conf = self.domain(path, "GetBlkioParameters", "u", (0,))
        self.assertEqual(conf["device_read_iops_sec"], "/dev/vbtest-nodev,100")

    def test_virtbusctl(self):
        self.define_start("cg3")
        _, dirs = cgroup_dirs(self.root, "cg3")
        out = self.ctl("memtune", "cg3").stdout
        self.assertRegex(out, r"hard_limit\s+: 307200\n")
        self.assertRegex(out, r"min_guarantee\s+: unlimited\n")
        self.ctl("memtune", "cg3", "hard_limit=358400", "--live")
        self.assertEqual(self.memory_max(dirs), 350 * 1024 * 1024)
        out = self.ctl("schedinfo", "cg3").stdout
        self.assertRegex(out, r"cpu_shares\s+: 512\n")
        self.assertRegex(out, r"global_quota\s+: 50000\n")
        self.ctl("schedinfo", "cg3", "cpu_shares=256", "--live", "--config")
        self.assertEqual(self.cpu_weight(dirs), 256)
        self.assertRegex(self.ctl("schedinfo", "cg3", "--config").stdout,
                         r"cpu_shares\s+: 256\n")
        out = self.ctl("blkiotune", "cg3", "--config").stdout
        self.assertRegex(out, r"weight\s+: 0\n")
        self.ctl("blkiotune", "cg3", "weight=300", "--config")
        self.assertRegex(self.ctl("blkiotune", "cg3", "--config").stdout, r"weight\s+: 300\n")
        p = self.ctl("memtune", "cg3", "hard_limit", check=False)
        self.assertFails(p, 1, "NAME=VALUE")
        p = self.ctl("schedinfo", "cg3", "global_period=5", check=False)
        self.assertFails(p, 1, "global_period")
        p = self.ctl("blkiotune", "cg3", "device_weight=/nonexistent,100", "--live",
                     check=False)
        self.assertFails(p, 1, "/nonexistent")


class NoneModeTest(CgroupTestCase):
    mode = "none"

    def test_limits_listed_unsupported(self):
        path = self.define_start("cgn", start=False)
        unsupported = self.get_prop(path, DOMAIN_IFACE, "Unsupported")
        why = "not applied: cgroup_mode is none"
        self.assertIn(f"<memtune><hard_limit> at line 5: {why}", unsupported)
        self.assertIn(f"<memtune><soft_limit> at line 6: {why}", unsupported)
        self.assertIn(f"<cputune><shares> at line 10: {why}", unsupported)
        self.assertIn(f"<cputune><global_quota> at line 12: {why}", unsupported)
        self.assertIn(f"<resource><partition> at line 15: {why}", unsupported)
        # VALIDATE refuses it
        err = self.assertDBusError("NotSupported", self.manager, "DefineXML", "su",
                                   (XML.format(name="cgn2", partition="/x"), 1))
        self.assertIn("<memtune><hard_limit> at line 5", err.message)
        # it starts, without a cgroup of its own; LIVE tuning says so
        self.domain(path, "Start", "u", (0,), timeout=60000)
        self.assertEqual(cgroup_dirs(self.root, "cgn"), (None, []))
        pid = self.pid("cgn")
        with open(f"/proc/{pid}/cgroup") as f:
            self.assertNotIn("qemu-1-cgn", f.read())
        err = self.assertDBusError("NotSupported", self.domain, path, "SetMemoryParameters",
                                   "a{sv}u", ({"hard_limit": GLib.Variant("t", 1 << 20)}, LIVE))
        self.assertIn("cgroup_mode is none", err.message)
        # CONFIG still writes the definition
        self.set_memory(path, {"hard_limit": 1 << 20}, CONFIG)
        inactive = ET.fromstring(self.domain(path, "GetXMLDesc", "u", (INACTIVE,)))
        self.assertEqual(inactive.findtext("memtune/hard_limit"), str(1 << 20))


if __name__ == "__main__":
    vbtest.main()
