#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Statistics (issue 13, part stats) with real QEMU and the tiny guest:
- Domain.GetStats: every group's fields with libvirt's names and D-Bus types; cpu.time and
  vcpu.0.time grow while the guest works (tgdirty); block rd.bytes/wr.bytes grow when the
  guest reads and writes its disk (dd run through qemu-ga's guest-exec on a channel socket
  the test owns); capacity/physical of the image;
- SetMemoryStatsPeriod: the guest's balloon figures appear (GetStats, MemoryStats), the live
  and persistent XML get <stats period>;
- Manager.GetAllDomainStats over three domains (one inactive: state, balloon and vcpu
  counts only), its list filters, ENFORCE_STATS and flag errors;
- the virtbusctl commands (domstats, domblklist, domblkinfo, domblkstat, dommemstat,
  vcpuinfo, cpu-stats, domifstat);
- interface counters of a type='ethernet' tap in a network namespace: the guest's rx is the
  tap's tx (libvirt's swap), InterfaceStats and domifstat agree."""

import os
import re
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
import vbtest  # noqa: E402
import vbmigrate  # noqa: E402
from vbtest import CtlTestCase, MINIMAL_XML, eventually  # noqa: E402
from gi.repository import Gio, GLib  # noqa: E402

STATE, CPU, BALLOON, VCPU, IFACE, BLOCK, PERF, IOTHREAD, MEMORY, DIRTY = (
    1, 2, 4, 8, 16, 32, 64, 128, 256, 512)
ACTIVE, INACTIVE, PERSISTENT, TRANSIENT, RUNNING, PAUSED, SHUTOFF = 1, 2, 4, 8, 16, 32, 64
NOWAIT, BACKING, ENFORCE = 1 << 29, 1 << 30, 1 << 31
LIVE, CONFIG = 1, 2
IMG_SIZE = 32 * 1024 * 1024


def typed(variant):
    """a{sv} -> {key: (type string, value)}"""
    out = {}
    for i in range(variant.n_children()):
        entry = variant.get_child_value(i)
        key = entry.get_child_value(0).get_string()
        v = entry.get_child_value(1).get_variant()
        out[key] = (v.get_type_string(), v.unpack())
    return out


class StatsTestCase(CtlTestCase):
    def setUp(self):
        vbmigrate.require_guest(self)
        super().setUp()
        self.serial = os.path.join(self.tmp, "serial.log")
        self.agent_sock = os.path.join(self.tmp, "ga.sock")
        self.img = os.path.join(self.tmp, "disk.img")
        with open(self.img, "wb") as f:
            f.truncate(IMG_SIZE)
            f.seek(0)
            f.write(b"\xaa" * (4 * 1024 * 1024))  # 4 MiB allocated, the rest sparse

    def guest(self, name, extra_cmdline="tgdirty=2"):
        devices = f"""
    <disk type='file' device='disk'>
      <driver name='qemu' type='raw'/>
      <source file='{self.img}'/>
      <target dev='vda' bus='virtio'/>
    </disk>
    <interface type='user'>
      <mac address='52:54:00:5a:00:01'/>
      <model type='virtio'/>
    </interface>
    <channel type='unix'>
      <source mode='bind' path='{self.agent_sock}'/>
      <target type='virtio' name='org.qemu.guest_agent.0'/>
    </channel>
    <memballoon model='virtio'/>"""
        return vbmigrate.guest_xml(name=name, serial=self.serial, tick=False,
                                   extra_cmdline=extra_cmdline, devices=devices)

    def start(self, xml):
        path = self.manager("DefineXML", "su", (xml, 0))
        self.domain(path, "Start", "u", (0,), timeout=60000)
        return path

    def markers(self):
        return vbmigrate.read_text(self.serial)

    def wait_agent(self):
        eventually(lambda: "TINYGUEST: qemu-ga started" in self.markers()
                   and "TINYGUEST: READY" in self.markers(), timeout=90, what="qemu-ga")
        return vbtest.GuestAgent(self.agent_sock)

    def stats(self, path, types=0, flags=0):
        r = self.conn.call_sync(vbtest.BUS_NAME, path, vbtest.DOMAIN_IFACE, "GetStats",
                                GLib.Variant("(uu)", (types, flags)), None,
                                Gio.DBusCallFlags.NONE, 30000, None)
        return typed(r.get_child_value(0))

    def all_stats(self, types=0, flags=0):
        r = self.conn.call_sync(vbtest.BUS_NAME, vbtest.MANAGER_PATH, vbtest.MANAGER_IFACE,
                                "GetAllDomainStats", GLib.Variant("(uu)", (types, flags)), None,
                                Gio.DBusCallFlags.NONE, 60000, None)
        recs = r.get_child_value(0)
        out = {}
        for i in range(recs.n_children()):
            rec = recs.get_child_value(i)
            out[rec.get_child_value(0).get_string()] = typed(rec.get_child_value(1))
        return out


class GuestStatsTest(StatsTestCase):
    def test_groups_fields_types_and_growth(self):
        path = self.start(self.guest("st1"))
        agent = self.wait_agent()
        eventually(lambda: "TINYGUEST: dirtying" in self.markers(), timeout=60,
                   what="the guest to work")
        s1 = self.stats(path)
        expect = {
            "state.state": "i", "state.reason": "i",
            "cpu.time": "t", "cpu.user": "t", "cpu.system": "t",
            "balloon.current": "t", "balloon.maximum": "t",
            "vcpu.current": "u", "vcpu.maximum": "u", "vcpu.0.state": "i", "vcpu.0.time": "t",
            "net.count": "u",
            "block.count": "u", "block.0.name": "s", "block.0.path": "s",
            "block.0.backingIndex": "u",
            "block.0.rd.reqs": "t", "block.0.rd.bytes": "t", "block.0.rd.times": "t",
            "block.0.wr.reqs": "t", "block.0.wr.bytes": "t", "block.0.wr.times": "t",
            "block.0.fl.reqs": "t", "block.0.fl.times": "t",
            "block.0.allocation": "t", "block.0.capacity": "t", "block.0.physical": "t",
            "dirtyrate.calc_status": "i",
        }
        for key, sig in expect.items():
            self.assertIn(key, s1, sorted(s1))
            self.assertEqual(s1[key][0], sig, key)
        self.assertEqual(s1["state.state"][1], 1)     # VIR_DOMAIN_RUNNING
        self.assertEqual(s1["state.reason"][1], 1)    # VIR_DOMAIN_RUNNING_BOOTED
        self.assertEqual(s1["balloon.maximum"][1], 128 * 1024)
        self.assertEqual(s1["balloon.current"][1], 128 * 1024)
        self.assertEqual(s1["vcpu.current"][1], 1)
        self.assertEqual(s1["vcpu.0.state"][1], 1)    # VIR_VCPU_RUNNING
        # user mode: one interface, no host device, no counters (as libvirt)
        self.assertEqual(s1["net.count"][1], 1)
        self.assertNotIn("net.0.name", s1)
        self.assertEqual(s1["block.count"][1], 1)
        self.assertEqual(s1["block.0.name"][1], "vda")
        self.assertEqual(s1["block.0.path"][1], self.img)
        self.assertEqual(s1["block.0.capacity"][1], IMG_SIZE)
        # sparse: what the file holds on the host, at least the 4 MiB written
        self.assertGreaterEqual(s1["block.0.physical"][1], 4 * 1024 * 1024)
        self.assertLess(s1["block.0.physical"][1], IMG_SIZE)
        # no calculation was started
        self.assertEqual(s1["dirtyrate.calc_status"][1], 0)
        # no iothreads, no perf/memory groups
        self.assertFalse([k for k in s1 if k.startswith(("iothread.", "perf.", "memory."))])

        # the guest reads 2 MiB of its disk it has not read yet, and writes 1 MiB
        code, _ = agent.run("dd if=/dev/vda of=/dev/null bs=1M skip=20 count=2 && "
                            "dd if=/dev/zero of=/dev/vda bs=64k seek=200 count=16 conv=fsync")
        self.assertEqual(code, 0)
        time.sleep(0.5)
        s2 = self.stats(path)
        self.assertGreater(s2["cpu.time"][1], s1["cpu.time"][1])
        self.assertGreater(s2["vcpu.0.time"][1], s1["vcpu.0.time"][1])
        self.assertGreaterEqual(s2["block.0.rd.bytes"][1] - s1["block.0.rd.bytes"][1],
                                2 * 1024 * 1024)
        self.assertGreater(s2["block.0.rd.reqs"][1], s1["block.0.rd.reqs"][1])
        self.assertGreaterEqual(s2["block.0.wr.bytes"][1] - s1["block.0.wr.bytes"][1],
                                1024 * 1024)
        self.assertGreater(s2["block.0.fl.reqs"][1], s1["block.0.fl.reqs"][1])
        # highest written offset: past 200 * 64 KiB + 1 MiB
        self.assertGreaterEqual(s2["block.0.allocation"][1], 200 * 65536 + 1024 * 1024)

        # one group at a time; BACKING on a raw image adds nothing
        only = self.stats(path, CPU)
        self.assertEqual(set(only), {"cpu.time", "cpu.user", "cpu.system"})
        blk = self.stats(path, BLOCK, BACKING | NOWAIT)
        self.assertEqual(blk["block.count"][1], 1)
        # perf (no event enabled: no field; issue 13, part vcpuio), memory: left out, or
        # memory NotSupported with ENFORCE_STATS
        self.assertEqual(self.stats(path, STATE | PERF | MEMORY).keys(),
                         {"state.state", "state.reason"})
        self.assertEqual(self.stats(path, STATE | PERF, ENFORCE).keys(),
                         {"state.state", "state.reason"})
        e = self.assertDBusError("NotSupported", self.domain, path, "GetStats", "uu",
                                 (STATE | MEMORY, ENFORCE))
        self.assertIn("0x100", e.message)
        # list filters belong to GetAllDomainStats
        self.assertDBusError("InvalidArgument", self.domain, path, "GetStats", "uu",
                             (0, ACTIVE))

        # BlockStats, GetBlockInfo, GetCPUStats
        bs = self.domain(path, "BlockStats", "su", ("vda", 0))
        self.assertGreaterEqual(bs["rd_bytes"], s2["block.0.rd.bytes"][1])
        self.assertEqual(self.domain(path, "BlockStats", "su", (self.img, 0))["wr_operations"],
                         self.domain(path, "BlockStats", "su", ("", 0))["wr_operations"])
        self.assertDBusError("InvalidArgument", self.domain, path, "BlockStats", "su",
                             ("vdz", 0))
        cap, alloc, phys = self.domain(path, "GetBlockInfo", "su", ("vda", 0))
        self.assertEqual(cap, IMG_SIZE)
        self.assertEqual(alloc, phys)
        cpu = self.domain(path, "GetCPUStats", "iuu", (-1, 1, 0))
        self.assertGreater(cpu["cpu_time"], 0)
        self.assertGreaterEqual(cpu["cpu_time"], cpu["user_time"])
        self.assertDBusError("NotSupported", self.domain, path, "GetCPUStats", "iuu", (0, 1, 0))
        e = self.assertDBusError("NotSupported", self.domain, path, "InterfaceStats", "s",
                                 ("52:54:00:5a:00:01",))
        self.assertIn("no host device", e.message)
        self.assertDBusError("InvalidArgument", self.domain, path, "InterfaceStats", "s",
                             ("nosuch0",))

        # virtbusctl, virsh's formats
        out = self.ctl("domstats", "--state", "--cpu-total", "st1").stdout
        self.assertRegex(out, r"^Domain: 'st1'\n  state\.state=1\n  state\.reason=1\n"
                              r"  cpu\.time=\d+\n  cpu\.user=\d+\n  cpu\.system=\d+\n\n$")
        out = self.ctl("domblklist", "st1").stdout.splitlines()
        self.assertRegex(out[0], r"^ Target\s+Source$")
        self.assertRegex(out[2], rf"^ vda\s+{re.escape(self.img)}$")
        out = self.ctl("domblklist", "--details", "st1").stdout.splitlines()
        self.assertRegex(out[2], rf"^ file\s+disk\s+vda\s+{re.escape(self.img)}$")
        out = self.ctl("domblkinfo", "st1", "vda").stdout
        self.assertRegex(out, rf"^Capacity:\s+{IMG_SIZE}\nAllocation:\s+\d+\nPhysical:\s+\d+\n$")
        out = self.ctl("domblkstat", "st1", "vda").stdout
        self.assertRegex(out, r"^vda rd_req \d+\nvda rd_bytes \d+\nvda wr_req \d+\n")
        out = self.ctl("vcpuinfo", "st1").stdout
        self.assertRegex(out, r"^VCPU:\s+0\nState:\s+running\nCPU time:\s+\d+\.\ds\n\n$")
        out = self.ctl("cpu-stats", "--total", "st1").stdout
        self.assertRegex(out, r"^Total:\n\tcpu_time\s+\d+\.\d{9} seconds\n"
                              r"\tuser_time\s+\d+\.\d{9} seconds\n")
        p = self.ctl("domifstat", "st1", "52:54:00:5a:00:01", check=False)
        self.assertFails(p, 1, "no host device")

    def test_balloon_period_guest_figures_and_config(self):
        path = self.start(self.guest("st2", extra_cmdline=""))
        self.wait_agent()
        # no period: actual and rss only
        mem = dict(self.domain(path, "MemoryStats", "u", (0,)))
        self.assertEqual(set(mem), {6, 7}, mem)
        self.assertEqual(mem[6], 128 * 1024)
        self.assertGreater(mem[7], 1024)
        s = self.stats(path, BALLOON)
        self.assertNotIn("balloon.last-update", s)
        self.assertIn("balloon.rss", s)

        self.domain(path, "SetMemoryStatsPeriod", "iu", (1, LIVE | CONFIG))
        eventually(lambda: "balloon.last-update" in self.stats(path, BALLOON), timeout=30,
                   what="the guest's first memory statistics")
        s = self.stats(path, BALLOON)
        for key in ("balloon.unused", "balloon.available", "balloon.usable",
                    "balloon.major_fault", "balloon.minor_fault", "balloon.swap_in",
                    "balloon.last-update", "balloon.rss"):
            self.assertIn(key, s, sorted(s))
            self.assertEqual(s[key][0], "t", key)
        self.assertLessEqual(s["balloon.unused"][1], s["balloon.available"][1])
        self.assertGreater(s["balloon.available"][1], 64 * 1024)
        self.assertLessEqual(s["balloon.available"][1], 128 * 1024)
        # the guest reports again every second: last-update moves
        first = s["balloon.last-update"][1]
        eventually(lambda: self.stats(path, BALLOON)["balloon.last-update"][1] > first,
                   timeout=10, what="a second report")
        mem = dict(self.domain(path, "MemoryStats", "u", (0,)))
        self.assertTrue({4, 5, 6, 7, 8, 9} <= set(mem), mem)
        out = self.ctl("dommemstat", "st2").stdout
        self.assertRegex(out, r"(?m)^actual 131072$")
        self.assertRegex(out, r"(?m)^unused \d+$")
        self.assertRegex(out, r"(?m)^rss \d+$")
        # live and persistent XML keep the period
        live = self.domain(path, "GetXMLDesc", "u", (0,))
        inactive = self.domain(path, "GetXMLDesc", "u", (2,))
        self.assertIn("<stats period='1'/>", live)
        self.assertIn("<stats period='1'/>", inactive)
        # virtbusctl sets it too; 0 turns it off in the definition only (CONFIG)
        self.ctl("dommemstat", "st2", "--period", "0", "--config")
        self.assertIn("<stats period='0'/>", self.domain(path, "GetXMLDesc", "u", (2,)))
        self.assertIn("<stats period='1'/>", self.domain(path, "GetXMLDesc", "u", (0,)))
        # errors
        self.assertDBusError("InvalidArgument", self.domain, path, "SetMemoryStatsPeriod", "iu",
                             (-1, 0))
        self.assertDBusError("InvalidArgument", self.domain, path, "SetMemoryStatsPeriod", "iu",
                             (1, 4))
        self.domain(path, "Destroy", "u", (0,))
        self.assertDBusError("OperationInvalid", self.domain, path, "SetMemoryStatsPeriod", "iu",
                             (1, LIVE))
        self.assertDBusError("OperationInvalid", self.domain, path, "MemoryStats", "u", (0,))
        # CURRENT on an inactive domain: the definition
        self.domain(path, "SetMemoryStatsPeriod", "iu", (7, 0))
        self.assertIn("<stats period='7'/>", self.domain(path, "GetXMLDesc", "u", (0,)))
        # the definition survives a service restart (it was written to disk)
        self.service.stop()
        self.service.start()
        self.assertIn("<stats period='7'/>", self.domain(path, "GetXMLDesc", "u", (0,)))


class AllDomainsTest(StatsTestCase):
    def bare(self, name, iothreads=0):
        xml = MINIMAL_XML.format(name=name, uuid="").replace(
            "</devices>", "<memballoon model='virtio'/>\n  </devices>")
        if iothreads:
            xml = xml.replace("<vcpu>", f"<iothreads>{iothreads}</iothreads>\n  <vcpu>")
        return xml

    def test_three_domains_filters_and_errors(self):
        a = self.start(self.bare("all-a", iothreads=2))
        b = self.start(self.bare("all-b"))
        self.manager("DefineXML", "su", (self.bare("all-c"), 0))
        recs = self.all_stats()
        self.assertEqual(set(recs), {"all-a", "all-b", "all-c"})
        for name in ("all-a", "all-b"):
            self.assertEqual(recs[name]["state.state"][1], 1)
            self.assertIn("cpu.time", recs[name])
            self.assertIn("vcpu.0.time", recs[name])
            self.assertEqual(recs[name]["block.count"][1], 0)
        # the inactive one: its state and the counts from its definition only
        self.assertEqual(set(recs["all-c"]),
                         {"state.state", "state.reason", "balloon.current", "balloon.maximum",
                          "vcpu.current", "vcpu.maximum"})
        self.assertEqual(recs["all-c"]["state.state"][1], 5)   # VIR_DOMAIN_SHUTOFF
        self.assertEqual(set(self.all_stats(STATE, ACTIVE)), {"all-a", "all-b"})
        self.assertEqual(set(self.all_stats(STATE, INACTIVE)), {"all-c"})
        self.assertEqual(set(self.all_stats(STATE, SHUTOFF)), {"all-c"})
        self.domain(b, "Suspend")
        self.assertEqual(set(self.all_stats(STATE, PAUSED)), {"all-b"})
        self.assertEqual(set(self.all_stats(STATE, RUNNING | PAUSED)), {"all-a", "all-b"})
        paused = self.all_stats(STATE, PAUSED)["all-b"]
        self.assertEqual(paused["state.state"][1], 3)           # VIR_DOMAIN_PAUSED
        self.assertEqual(paused["state.reason"][1], 1)          # VIR_DOMAIN_PAUSED_USER
        self.assertEqual(set(self.all_stats(STATE, TRANSIENT)), set())
        self.assertEqual(set(self.all_stats(STATE, PERSISTENT | NOWAIT)),
                         {"all-a", "all-b", "all-c"})
        e = self.assertDBusError("NotSupported", self.manager, "GetAllDomainStats", "uu",
                                 (STATE | MEMORY, ENFORCE))
        self.assertIn("0x100", e.message)
        self.assertDBusError("InvalidArgument", self.manager, "GetAllDomainStats", "uu",
                             (0, 1 << 20))
        # virtbusctl domstats over all, and with filters
        out = self.ctl("domstats", "--state").stdout
        self.assertEqual(re.findall(r"(?m)^Domain: '([^']+)'$", out), ["all-a", "all-b", "all-c"])
        out = self.ctl("domstats", "--state", "--list-inactive").stdout
        self.assertEqual(out, "Domain: 'all-c'\n  state.state=5\n  state.reason=0\n\n")
        p = self.ctl("domstats", "--memory", "--enforce", check=False)
        self.assertFails(p, 1, "not supported")
        # many calls in parallel, all answered
        procs = [self.ctl_background("domstats") for _ in range(6)]
        for p in procs:
            out, err = p.communicate(timeout=60)
            self.assertEqual(p.returncode, 0, err)
            self.assertEqual(out.count("Domain: "), 3)

        # iothreads: QEMU's polling parameters per iothread id
        io = self.stats(a, IOTHREAD)
        self.assertEqual(io["iothread.count"], ("u", 2))
        for n in (1, 2):
            self.assertEqual(io[f"iothread.{n}.poll-max-ns"][0], "t")
            self.assertEqual(io[f"iothread.{n}.poll-grow"][0], "u")
            self.assertEqual(io[f"iothread.{n}.poll-shrink"][0], "u")
        self.assertNotIn("iothread.count", self.stats(b, IOTHREAD))
        # dirtyrate: a calculation started by hand shows once measured
        self.assertEqual(self.stats(a, DIRTY)["dirtyrate.calc_status"], ("i", 0))
        self.domain(a, "QemuMonitorCommand", "s",
                    ('{"execute": "calc-dirty-rate", "arguments": {"calc-time": 1}}',))
        eventually(lambda: self.stats(a, DIRTY)["dirtyrate.calc_status"][1] == 2, timeout=15,
                   what="the dirty rate calculation")
        d = self.stats(a, DIRTY)
        self.assertEqual(d["dirtyrate.calc_period"], ("i", 1))
        self.assertEqual(d["dirtyrate.calc_mode"], ("s", "page-sampling"))
        self.assertEqual(d["dirtyrate.megabytes_per_second"][0], "x")
        self.assertEqual(d["dirtyrate.calc_start_time"][0], "x")
        self.domain(a, "Destroy", "u", (0,))

    def test_nowait_skips_a_busy_domain(self):
        """A QEMU that does not answer (SIGSTOP) holds a call's job: NOWAIT answers at
        once without what needs QEMU; /proc figures are still there; Destroy still works."""
        path = self.start(self.bare("busy"))
        self.assertIn("balloon.rss", self.stats(path, BALLOON))   # query-balloon, /proc
        pid = next(pid for pid, cmd in vbtest.qemus_under(self.root).items() if "busy" in cmd)
        os.kill(pid, signal.SIGSTOP)
        conn = vbtest.connect(self.bus.address)

        def hold():
            try:
                self.domain(path, "QemuMonitorCommand", "s", ('{"execute": "query-status"}',),
                            conn=conn)
            except vbtest.DBusCallError:
                pass

        held = threading.Thread(target=hold)
        try:
            held.start()
            eventually(lambda: self.domain(path, "GetControlInfo")["state"] == "occupied",
                       timeout=15, what="the call waiting for the stopped QEMU")
            t0 = time.monotonic()
            s = self.stats(path, STATE | CPU | BALLOON | VCPU | BLOCK, NOWAIT)
            self.assertLess(time.monotonic() - t0, 3)
            self.assertEqual(s["state.state"], ("i", 1))
            self.assertIn("cpu.time", s)
            self.assertIn("vcpu.0.time", s)
            self.assertEqual(s["balloon.current"], ("t", 128 * 1024))  # the definition's
            self.assertNotIn("balloon.rss", s)        # needs the job: left out
            recs = self.all_stats(BALLOON, NOWAIT)
            self.assertNotIn("balloon.rss", recs["busy"])
        finally:
            os.kill(pid, signal.SIGCONT)
        held.join(60)
        self.domain(path, "Destroy", "u", (0,))


if __name__ == "__main__":
    vbtest.main()
