# SPDX-License-Identifier: LGPL-2.1-or-later
"""CPU topology, NUMA cells, memory backends, iothreads and pinning on a real guest."""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
import vbtest  # noqa: E402
from vbtest import DOMAIN_IFACE, eventually  # noqa: E402
from test_lifecycle import LifecycleTestCase, pid_alive  # noqa: E402

UUID1 = "3d0c6c1e-7a55-4b1e-9a53-7c9bd1a0c101"
UUID2 = "3d0c6c1e-7a55-4b1e-9a53-7c9bd1a0c102"
GUEST_DIR = os.environ.get("VB_TINY_GUEST", "")


def cpus_allowed(pid, tid):
    with open(f"/proc/{pid}/task/{tid}/status") as f:
        for line in f:
            if line.startswith("Cpus_allowed_list:"):
                return line.split(":", 1)[1].strip()
    return None


def threads_of(pid):
    return sorted(int(t) for t in os.listdir(f"/proc/{pid}/task"))


class CpuNumaTest(LifecycleTestCase):
    def setUp(self):
        if not os.path.exists(os.path.join(GUEST_DIR, "vmlinux")):
            self.fail(f"the tiny guest is not built in {GUEST_DIR} (ninja -C BUILDDIR tiny-guest)")
        super().setUp()
        self.serial = os.path.join(self.tmp, "serial.log")

    def guest_xml(self, name, top="", cpu=""):
        with open(os.path.join(GUEST_DIR, "cmdline")) as f:
            cmdline = f.read().strip()
        return f"""<domain type='qemu'>
  <name>{name}</name>
{top}
  <os>
    <type arch='x86_64' machine='q35'>hvm</type>
    <kernel>{GUEST_DIR}/vmlinux</kernel>
    <initrd>{GUEST_DIR}/initrd.img</initrd>
    <cmdline>{cmdline}</cmdline>
  </os>
{cpu}
  <devices>
    <serial type='file'>
      <source path='{self.serial}'/>
      <target port='0'/>
    </serial>
  </devices>
</domain>
"""

    def markers(self, what):
        try:
            with open(self.serial, errors="replace") as f:
                return f.read().count(what)
        except FileNotFoundError:
            return 0

    def qmp(self, path, command):
        reply = self.domain(path, "QemuMonitorCommand", "s",
                            (json.dumps({"execute": command}),))
        return json.loads(reply)["return"]

    def test_topology_numa_memfd_iothreads_pinning(self):
        # 1 socket x 2 cores, two NUMA cells without <memory> (the cells give it), RAM from
        # shared memfd, two iothreads, every thread pinned
        top = """  <memoryBacking>
    <source type='memfd'/>
    <access mode='shared'/>
  </memoryBacking>
  <vcpu placement='static'>2</vcpu>
  <iothreads>2</iothreads>
  <cputune>
    <vcpupin vcpu='0' cpuset='1'/>
    <vcpupin vcpu='1' cpuset='0'/>
    <emulatorpin cpuset='1'/>
    <iothreadpin iothread='1' cpuset='0'/>
    <iothreadpin iothread='2' cpuset='1'/>
    <shares>512</shares>
  </cputune>"""
        cpu = """  <cpu mode='custom' match='exact' check='partial'>
    <model fallback='forbid'>qemu64</model>
    <topology sockets='1' dies='1' cores='2' threads='1'/>
    <numa>
      <cell id='0' cpus='0' memory='64' unit='MiB'/>
      <cell id='1' cpus='1' memory='64' unit='MiB'/>
    </numa>
  </cpu>"""
        path = self.define("numa", UUID1, xml=self.guest_xml("numa", top, cpu))
        # the cells gave <memory>, written back
        xml = self.domain(path, "GetXMLDesc", "u", (2,))
        self.assertIn("<memory unit='KiB'>131072</memory>", xml)
        self.assertIn("<cell id='0' cpus='0' memory='64' unit='MiB'/>", xml)
        self.domain(path, "Start", "u", (0,), timeout=60000)
        pid = self.pid_of("numa")

        cpus = self.qmp(path, "query-cpus-fast")
        self.assertEqual(len(cpus), 2)
        by_index = {c["cpu-index"]: c for c in cpus}
        for i in (0, 1):
            props = by_index[i]["props"]
            self.assertEqual(props["socket-id"], 0)
            self.assertEqual(props["core-id"], i)
            self.assertEqual(props["node-id"], i)
        memdevs = sorted(self.qmp(path, "query-memdev"), key=lambda m: m["id"])
        self.assertEqual([m["id"] for m in memdevs], ["ram-node0", "ram-node1"])
        for m in memdevs:
            self.assertEqual(m["size"], 64 << 20)
            self.assertTrue(m["share"])
        iothreads = sorted(self.qmp(path, "query-iothreads"), key=lambda t: t["id"])
        self.assertEqual([t["id"] for t in iothreads], ["iothread1", "iothread2"])

        # affinity as asked: vCPUs, iothreads, and every other thread (the emulator)
        vcpu_tids = {by_index[i]["thread-id"]: str(1 - i) for i in (0, 1)}
        io_tids = {iothreads[0]["thread-id"]: "0", iothreads[1]["thread-id"]: "1"}
        for tid, want in list(vcpu_tids.items()) + list(io_tids.items()):
            self.assertEqual(cpus_allowed(pid, tid), want, f"thread {tid}")
        self.assertEqual(cpus_allowed(pid, pid), "1")
        for tid in threads_of(pid):
            if tid not in vcpu_tids and tid not in io_tids:
                self.assertEqual(cpus_allowed(pid, tid), "1", f"emulator thread {tid}")
        # the thread ids are in the service's log; <shares> is not acted on, said so
        with open(os.path.join(self.root, "var/log/virtbus/qemu/numa.log")) as f:
            self.assertIn("not acted on: <cputune><shares>", f.read())
        log = self.service.read_log()
        self.assertRegex(log, rf"threads: vCPU 0={by_index[0]['thread-id']}, "
                              rf"vCPU 1={by_index[1]['thread-id']}; "
                              rf"iothread1={iothreads[0]['thread-id']}, "
                              rf"iothread2={iothreads[1]['thread-id']}")

        # the guest boots and powers off through the ACPI button
        eventually(lambda: self.markers("TINYGUEST: READY"), timeout=90, what="the guest")
        self.domain(path, "Shutdown", "u", (0,))
        self.wait_state(path, "shutoff", "shutdown", timeout=60)
        self.assertFalse(pid_alive(pid))
        self.assertEqual(self.runtime_leftovers("numa"), [])

    def test_memfd_without_numa_and_vcpu_cpuset(self):
        # shared memfd RAM without NUMA is the machine's pc.ram backend (what virtiofs
        # needs); <vcpu cpuset> pins every vCPU and the emulator
        top = """  <memory unit='MiB'>96</memory>
  <memoryBacking>
    <source type='memfd'/>
    <access mode='shared'/>
  </memoryBacking>
  <vcpu placement='static' cpuset='0'>2</vcpu>"""
        path = self.define("memfd", UUID2, xml=self.guest_xml("memfd", top, "<cpu mode='maximum'/>"))
        self.domain(path, "Start", "u", (1,), timeout=60000)  # paused
        pid = self.pid_of("memfd")
        memdevs = self.qmp(path, "query-memdev")
        self.assertEqual(len(memdevs), 1)
        self.assertEqual(memdevs[0]["id"], "pc.ram")
        self.assertTrue(memdevs[0]["share"])
        self.assertEqual(memdevs[0]["size"], 96 << 20)
        for tid in threads_of(pid):
            self.assertEqual(cpus_allowed(pid, tid), "0", f"thread {tid}")
        self.domain(path, "Destroy", "u", (0,))
        self.wait_state(path, "shutoff", "destroyed")

    def test_unknown_disabled_feature_dropped(self):
        # libvirt's migratable XML of an Icelake-Server guest disables 'pconfig', which QEMU
        # 7.2 no longer has: a disabled feature QEMU does not know is left out of -cpu (as
        # libvirt's qemuProcessDropUnknownCPUFeatures), a known one stays
        cpu = """<cpu mode='custom' match='exact' check='none'>
    <model fallback='forbid'>qemu64</model>
    <feature policy='disable' name='pconfig'/>
    <feature policy='disable' name='svm'/>
  </cpu>"""
        path = self.define("icelake", UUID1,
                           xml=self.guest_xml("icelake", "  <memory unit='MiB'>64</memory>", cpu))
        self.domain(path, "Start", "u", (1,), timeout=60000)  # paused
        (cmdline,) = vbtest.qemus_under(self.root).values()
        self.assertIn("-cpu qemu64,svm=off ", cmdline)
        self.assertNotIn("pconfig", cmdline)
        self.assertIn("name='pconfig'", self.domain(path, "GetXMLDesc", "u", (0,)))
        self.domain(path, "Destroy", "u", (0,))

    def test_cpu_and_accel_features(self):
        # libvirt's <features> that become -cpu properties (kvm-pv-eoi, kvm-pv-unhalt, pmu),
        # <timer name='kvmclock'>, <smm><tseg>, <tcg><tb-cache> and <vmcoreinfo>: they were
        # NotSupported
        extra = """<features>
    <acpi/>
    <apic eoi='on'/>
    <pvspinlock state='off'/>
    <pmu state='off'/>
    <vmcoreinfo state='on'/>
    <smm state='on'>
      <tseg unit='MiB'>24</tseg>
    </smm>
    <tcg>
      <tb-cache unit='MiB'>64</tb-cache>
    </tcg>
  </features>
  <clock offset='utc'>
    <timer name='kvmclock' present='no'/>
  </clock>"""
        path = self.define("flags", UUID1,
                           xml=self.guest_xml("flags", "  <memory unit='MiB'>192</memory>", extra))
        self.domain(path, "Start", "u", (0,), timeout=60000)
        (cmdline,) = vbtest.qemus_under(self.root).values()
        self.assertIn(" -accel tcg,tb-size=64 -global mch.extended-tseg-mbytes=24 ", cmdline)
        self.assertIn(" -cpu qemu64,kvmclock=off,kvm-pv-eoi=on,kvm-pv-unhalt=off,pmu=off ",
                      cmdline)
        self.assertIn(",smm=on,", cmdline)
        self.assertIn(' -device {"driver":"vmcoreinfo"} ', cmdline)
        reply = self.domain(path, "QemuMonitorCommand", "s", (json.dumps(
            {"execute": "qom-get", "arguments": {"path": "/machine/q35/mch",
                                                 "property": "extended-tseg-mbytes"}}),))
        self.assertEqual(json.loads(reply)["return"], 24)
        eventually(lambda: self.markers("TINYGUEST: READY"), timeout=90, what="the guest")
        self.domain(path, "Destroy", "u", (0,))
        # a child of <tcg> nothing reads is refused by name
        path = self.define("flags2", UUID2, xml=self.guest_xml(
            "flags2", "  <memory unit='MiB'>64</memory>",
            "<features><tcg><tb-size>1</tb-size></tcg></features>"))
        err = self.assertDBusError("NotSupported", self.domain, path, "Start", "u", (0,),
                                   timeout=60000)
        self.assertIn("<tcg><tb-size> is not supported", err.message)

    def refused_at_start(self, name, uuid, top, cpu, *fragments):
        path = self.define(name, uuid, xml=self.guest_xml(name, top, cpu))
        err = None
        try:
            self.domain(path, "Start", "u", (0,), timeout=60000)
        except vbtest.DBusCallError as e:
            err = e
        self.assertIsNotNone(err, f"{name} started")
        self.assertEqual(err.name, "org.virtbus.Virt1.Error.NotSupported", str(err))
        for frag in fragments:
            self.assertIn(frag, str(err))
        self.assertEqual(self.state(path), ("shutoff", "failed"))
        self.assertEqual(self.runtime_leftovers(name), [])
        self.assertEqual(vbtest.qemus_under(self.root), {})
        self.domain(path, "Undefine", "u", (0,))

    def test_refusals_name_the_element(self):
        mem = "  <memory unit='MiB'>64</memory>"
        self.refused_at_start("passthrough", UUID1, mem, "<cpu mode='host-passthrough'/>",
                              "host-passthrough", "without KVM")
        self.refused_at_start("feature", UUID1, mem, """<cpu mode='custom'>
    <model>qemu64</model>
    <feature policy='require' name='avx512f'/>
  </cpu>""", "avx512f", "TCG cannot provide")
        self.refused_at_start("model", UUID1, mem, """<cpu mode='custom'>
    <model>Haswell-noTSX</model>
  </cpu>""", "Haswell-noTSX", "x2apic")
        self.refused_at_start("huge", UUID1, mem + """
  <memoryBacking>
    <hugepages><page size='1' unit='TiB'/></hugepages>
  </memoryBacking>""", "", "<memoryBacking><hugepages>", "no hugetlbfs")
        # a pinning the host cannot do (CPU 1000 does not exist here)
        self.refused_at_start("pin", UUID1, mem + """
  <cputune><vcpupin vcpu='0' cpuset='1000'/></cputune>""", "", "cannot pin vCPU 0",
                              "1000")


if __name__ == "__main__":
    vbtest.main()
