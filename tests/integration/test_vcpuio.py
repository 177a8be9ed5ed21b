#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""vCPU count, IOThreads and the emulator's threads (issue 13, part vcpuio) with real QEMU and
the tiny guest:
- GetVcpus: current / maximum of the live and persistent definitions, GUEST through qemu-ga
  (guest-get-vcpus), the flag errors; virtbusctl vcpucount (table and single numbers);
- AddIOThread LIVE: QEMU's iothread2 thread exists, GetIOThreadInfo and GetStats' iothread
  group list it, PinIOThread pins it (Cpus_allowed_list), a virtio disk attached with
  <driver iothread='2'> runs in it (qom-get) and the guest reads it; DelIOThread is refused
  while the disk uses it and works after the detach; errors (id 0, an id in use, an unknown
  id); CONFIG in the persistent XML only; virtbusctl iothreadinfo / iothreadadd / iothreaddel;
- PinEmulator LIVE: every QEMU thread that is no vCPU or IOThread gets the CPU list
  (/proc/PID/task/*/status), the vCPU threads keep theirs, the live <emulatorpin>;
  GetEmulatorPinInfo; CONFIG applied by the next start; virtbusctl emulatorpin."""

import json
import os
import sys
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.dirname(__file__))
import vbtest  # noqa: E402
import vbmigrate  # noqa: E402
from test_memev import MemevTestCase, cpus_allowed, thread_named  # noqa: E402
from vbtest import eventually  # noqa: E402

LIVE, CONFIG, MAXIMUM, GUEST = 1, 2, 4, 8
INACTIVE = 2  # GetXMLDesc
STATS_IOTHREAD = 128


def qemu_pid(tc, name):
    with open(os.path.join(tc.root, "run/virtbus/qemu", f"{name}.pid")) as f:
        return int(f.read().strip())


def threads(pid):
    """{tid: comm} of QEMU's threads."""
    out = {}
    for t in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{t}/comm") as f:
                out[int(t)] = f.read().strip()
        except FileNotFoundError:
            pass
    return out


def is_vcpu_or_iothread(comm):
    return (comm.startswith("CPU ") and comm.endswith("/TCG")) or comm.startswith("IO iothread")


class VcpuCountTest(MemevTestCase):
    def test_vcpu_counts(self):
        xml = self.guest("cnt1").replace("<vcpu>1</vcpu>", "<vcpu current='1'>2</vcpu>")
        path = self.define(xml)
        # shut off: CURRENT is the persistent definition; LIVE is refused
        self.assertEqual(self.domain(path, "GetVcpus", "u", (0,)), 1)
        self.assertEqual(self.domain(path, "GetVcpus", "u", (MAXIMUM,)), 2)
        self.assertEqual(self.domain(path, "GetVcpus", "u", (CONFIG | MAXIMUM,)), 2)
        self.assertDBusError("OperationInvalid", self.domain, path, "GetVcpus", "u", (LIVE,))
        self.assertDBusError("InvalidArgument", self.domain, path, "GetVcpus", "u",
                             (LIVE | CONFIG,))
        self.assertDBusError("InvalidArgument", self.domain, path, "GetVcpus", "u", (64,))
        self.domain(path, "Start", "u", (0,), timeout=60000)
        agent = self.wait_agent()
        self.assertEqual(self.domain(path, "GetVcpus", "u", (LIVE,)), 1)
        self.assertEqual(self.domain(path, "GetVcpus", "u", (LIVE | MAXIMUM,)), 2)
        # the persistent count changes, the live one not
        self.domain(path, "SetVcpus", "uu", (2, CONFIG))
        self.assertEqual(self.domain(path, "GetVcpus", "u", (CONFIG,)), 2)
        self.assertEqual(self.domain(path, "GetVcpus", "u", (0,)), 1)
        # GUEST: the agent's count of online vCPUs
        code, out = agent.run("cat /sys/devices/system/cpu/online")
        self.assertEqual((code, out.strip()), (0, "0"))
        self.assertEqual(self.domain(path, "GetVcpus", "u", (GUEST,)), 1)
        self.assertEqual(self.domain(path, "GetVcpus", "u", (GUEST | MAXIMUM,)), 1)
        self.assertDBusError("InvalidArgument", self.domain, path, "GetVcpus", "u",
                             (GUEST | CONFIG,))
        # virtbusctl: virsh's table, and one number per option set
        out = self.ctl("vcpucount", "cnt1").stdout
        self.assertRegex(out, r"maximum\s+config\s+2\n")
        self.assertRegex(out, r"maximum\s+live\s+2\n")
        self.assertRegex(out, r"current\s+config\s+2\n")
        self.assertRegex(out, r"current\s+live\s+1\n")
        self.assertEqual(self.ctl("vcpucount", "cnt1", "--maximum", "--live").stdout, "2\n")
        self.assertEqual(self.ctl("vcpucount", "cnt1", "--active").stdout, "1\n")
        self.assertEqual(self.ctl("vcpucount", "cnt1", "--guest").stdout, "1\n")
        self.assertFails(self.ctl("vcpucount", "cnt1", "--maximum", "--active", check=False),
                         1, "exclude each other")

    def test_guest_count_needs_an_agent(self):
        xml = vbmigrate.guest_xml(name="cnt2", serial=self.serial, tick=False)
        path = self.start(xml)
        err = self.assertDBusError("NotSupported", self.domain, path, "GetVcpus", "u", (GUEST,))
        self.assertIn("agent", err.message)


class IOThreadTest(MemevTestCase):
    def iothreads_xml(self, path, flags=0):
        root = ET.fromstring(self.domain(path, "GetXMLDesc", "u", (flags,)))
        n = root.find("iothreads")
        ids = root.find("iothreadids")
        return (int(n.text) if n is not None else 0,
                [int(e.get("id")) for e in ids] if ids is not None else [])

    def test_add_pin_use_and_delete_an_iothread(self):
        n = os.cpu_count()
        self.assertGreaterEqual(n, 2, "pinning needs two host CPUs")
        last = n - 1
        only = lambda c: [i == c for i in range(n)]  # noqa: E731
        every = [True] * n
        xml = self.guest("io1").replace("<vcpu>1</vcpu>",
                                        "<vcpu>1</vcpu>\n  <iothreads>1</iothreads>")
        path = self.start(xml)
        agent = self.wait_agent()
        pid = qemu_pid(self, "io1")
        self.assertEqual(self.domain(path, "GetIOThreadInfo", "u", (0,)), [(1, every)])
        self.assertEqual(self.domain(path, "GetIOThreadInfo", "u", (CONFIG,)), [(1, every)])

        # LIVE add: QEMU's thread, the live XML, GetIOThreadInfo, GetStats
        self.domain(path, "AddIOThread", "uu", (2, LIVE))
        io2 = thread_named(pid, "IO iothread2")
        self.assertEqual(self.iothreads_xml(path), (2, [1, 2]))
        self.assertEqual(self.iothreads_xml(path, INACTIVE), (1, []))
        self.assertEqual(self.domain(path, "GetIOThreadInfo", "u", (LIVE,)),
                         [(1, every), (2, every)])
        self.assertEqual(self.domain(path, "GetIOThreadInfo", "u", (CONFIG,)), [(1, every)])
        stats = self.domain(path, "GetStats", "uu", (STATS_IOTHREAD, 0))
        self.assertEqual(stats["iothread.count"], 2)
        self.assertIn("iothread.2.poll-max-ns", stats)
        # pinned like a start-time IOThread
        self.domain(path, "PinIOThread", "uabu", (2, only(last), LIVE))
        self.assertEqual(cpus_allowed(pid, io2), str(last))
        self.assertEqual(self.domain(path, "GetIOThreadInfo", "u", (LIVE,)),
                         [(1, every), (2, only(last))])

        # a disk attached to it runs in it and the guest reads it
        img = os.path.join(self.tmp, "io.img")
        with open(img, "wb") as f:
            f.write(b"VCPUIO-MARKER-2\n".ljust(1 << 20, b"\0"))
        disk = (f"<disk type='file' device='disk'><driver name='qemu' type='raw' "
                f"iothread='2'/><source file='{img}'/><target dev='vdb' bus='virtio'/></disk>")
        self.domain(path, "AttachDevice", "su", (disk, LIVE))
        live = self.domain(path, "GetXMLDesc", "u", (0,))
        self.assertRegex(live, r"<driver name='qemu' type='raw' iothread='2'/>")
        alias = [d.find("alias").get("name") for d in ET.fromstring(live).iter("disk")
                 if d.find("target").get("dev") == "vdb"][0]
        r = json.loads(self.domain(path, "QemuMonitorCommand", "s", (json.dumps({
            "execute": "qom-get", "arguments": {
                "path": f"/machine/peripheral/{alias}/virtio-backend",
                "property": "iothread"}}),)))
        self.assertEqual(r.get("return"), "/objects/iothread2", r)

        def guest_reads():
            code, out = agent.run("for d in /dev/vd?; do head -c 15 $d; echo; done")
            return code == 0 and "VCPUIO-MARKER-2" in out
        eventually(guest_reads, timeout=60, what="the guest reads the disk on iothread2")

        # in use: refused, named; after the detach it goes
        err = self.assertDBusError("InvalidArgument", self.domain, path, "DelIOThread", "uu",
                                   (2, LIVE))
        self.assertIn("disk 'vdb'", err.message)
        self.domain(path, "DetachDevice", "su", (disk, LIVE), timeout=60000)
        eventually(lambda: "vdb" not in self.domain(path, "GetXMLDesc", "u", (0,)),
                   timeout=30, what="vdb gone")
        self.domain(path, "DelIOThread", "uu", (2, LIVE))
        eventually(lambda: "IO iothread2" not in threads(pid).values(), timeout=10,
                   what="iothread2's thread ends")
        self.assertEqual(self.iothreads_xml(path), (1, [1]))
        self.assertNotIn("iothreadpin", self.domain(path, "GetXMLDesc", "u", (0,)))
        self.assertEqual(self.domain(path, "GetIOThreadInfo", "u", (LIVE,)), [(1, every)])

        # errors
        self.assertDBusError("InvalidArgument", self.domain, path, "AddIOThread", "uu",
                             (0, LIVE))
        err = self.assertDBusError("AlreadyExists", self.domain, path, "AddIOThread", "uu",
                                   (1, LIVE))
        self.assertIn("already using iothread_id '1'", err.message)
        self.assertDBusError("InvalidArgument", self.domain, path, "DelIOThread", "uu",
                             (9, LIVE))
        self.assertDBusError("InvalidArgument", self.domain, path, "GetIOThreadInfo", "u",
                             (LIVE | CONFIG,))
        self.assertDBusError("InvalidArgument", self.domain, path, "AddIOThread", "uu",
                             (3, 4))

        # CONFIG: the persistent XML only
        self.domain(path, "AddIOThread", "uu", (5, CONFIG))
        self.assertEqual(self.iothreads_xml(path, INACTIVE), (2, [1, 5]))
        self.assertEqual(self.iothreads_xml(path), (1, [1]))
        self.assertEqual(self.domain(path, "GetIOThreadInfo", "u", (CONFIG,)),
                         [(1, every), (5, every)])

        # virtbusctl
        self.ctl("iothreadadd", "io1", "3", "--live")
        thread_named(pid, "IO iothread3")
        out = self.ctl("iothreadinfo", "io1").stdout
        self.assertRegex(out, r"IOThread ID\s+CPU Affinity")
        self.assertRegex(out, rf"\n 1\s+0-{last}\n")
        self.assertRegex(out, rf"\n 3\s+0-{last}\n")
        self.assertRegex(self.ctl("iothreadinfo", "io1", "--config").stdout, rf"\n 5\s+0-{last}")
        self.ctl("iothreaddel", "io1", "3")
        self.assertEqual(self.iothreads_xml(path), (1, [1]))
        self.ctl("iothreaddel", "io1", "5", "--config")
        self.assertEqual(self.iothreads_xml(path, INACTIVE), (1, [1]))
        self.assertFails(self.ctl("iothreaddel", "io1", "7", check=False), 1,
                         "cannot find IOThread '7'")

        # the next start runs what the persistent definition says
        self.domain(path, "AddIOThread", "uu", (4, CONFIG))
        self.domain(path, "Destroy", "u", (0,))
        self.domain(path, "Start", "u", (0,), timeout=60000)
        pid = qemu_pid(self, "io1")
        thread_named(pid, "IO iothread4")
        self.assertEqual([i for i, _ in self.domain(path, "GetIOThreadInfo", "u", (0,))],
                         [1, 4])


class EmulatorPinTest(MemevTestCase):
    def test_pin_emulator(self):
        n = os.cpu_count()
        self.assertGreaterEqual(n, 2, "pinning needs two host CPUs")
        last = n - 1
        only = lambda c: [i == c for i in range(n)]  # noqa: E731
        every = [True] * n
        xml = self.guest("emu1").replace("<vcpu>1</vcpu>",
                                         "<vcpu>2</vcpu>\n  <iothreads>1</iothreads>")
        path = self.start(xml)
        pid = qemu_pid(self, "emu1")
        self.assertEqual(self.domain(path, "GetEmulatorPinInfo", "u", (0,)), every)
        vcpu_before = {t: cpus_allowed(pid, t) for t, c in threads(pid).items()
                       if is_vcpu_or_iothread(c)}
        self.assertEqual(len(vcpu_before), 3)

        self.domain(path, "PinEmulator", "abu", (only(last), LIVE))
        emu = {t: c for t, c in threads(pid).items() if not is_vcpu_or_iothread(c)}
        self.assertIn(pid, emu)
        self.assertGreater(len(emu), 1, emu)
        for t in emu:
            self.assertEqual(cpus_allowed(pid, t), str(last), f"thread {t} {emu[t]}")
        for t, before in vcpu_before.items():
            self.assertEqual(cpus_allowed(pid, t), before)
        ct = ET.fromstring(self.domain(path, "GetXMLDesc", "u", (0,))).find("cputune")
        self.assertEqual(ct.find("emulatorpin").get("cpuset"), str(last))
        self.assertNotIn("emulatorpin", self.domain(path, "GetXMLDesc", "u", (INACTIVE,)))
        self.assertEqual(self.domain(path, "GetEmulatorPinInfo", "u", (LIVE,)), only(last))
        self.assertEqual(self.domain(path, "GetEmulatorPinInfo", "u", (CONFIG,)), every)

        # errors
        self.assertDBusError("InvalidArgument", self.domain, path, "PinEmulator", "abu",
                             ([False] * n, LIVE))
        self.assertDBusError("InvalidArgument", self.domain, path, "PinEmulator", "abu",
                             (only(0), 8))
        self.assertDBusError("InvalidArgument", self.domain, path, "GetEmulatorPinInfo", "u",
                             (LIVE | CONFIG,))

        # virtbusctl: print, 'r' removes the live pin, --config the persistent one
        out = self.ctl("emulatorpin", "emu1").stdout
        self.assertIn(f"       *: {last}\n", out)
        self.ctl("emulatorpin", "emu1", "r", "--live")
        self.assertEqual(cpus_allowed(pid, pid), f"0-{last}")
        self.assertNotIn("emulatorpin", self.domain(path, "GetXMLDesc", "u", (0,)))
        self.ctl("emulatorpin", "emu1", "0", "--config")
        self.assertIn("<emulatorpin cpuset='0'/>",
                      self.domain(path, "GetXMLDesc", "u", (INACTIVE,)))
        self.assertEqual(self.domain(path, "GetEmulatorPinInfo", "u", (CONFIG,)), only(0))

        # the next start applies it to the emulator threads only
        self.domain(path, "Destroy", "u", (0,))
        self.domain(path, "Start", "u", (0,), timeout=60000)
        pid = qemu_pid(self, "emu1")
        self.assertEqual(cpus_allowed(pid, pid), "0")
        self.assertEqual(cpus_allowed(pid, thread_named(pid, "CPU 1/TCG")), f"0-{last}")


if __name__ == "__main__":
    vbtest.main()
