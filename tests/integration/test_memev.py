#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Memory and QEMU events on the bus (issue 13, part memev) with real QEMU and the tiny guest:
- SetMemory LIVE: the balloon to 96 MiB, the guest's MemTotal shrinks (read through qemu-ga's
  guest-exec on a channel socket the test owns), BalloonChange signals up to 98304 KiB,
  CurrentMemory and the live <currentMemory> follow, the persistent XML keeps 128 MiB;
- a start with <currentMemory> below <memory> balloons the guest before it runs;
- SetMemory CONFIG / MAXIMUM|CONFIG and SetMaxMemory land in the persistent XML only; the
  errors (above the maximum, MAXIMUM while running, no balloon, LIVE while shut off, flags);
- the Reboot signal (Reset), RTCChange after the guest sets its clock (date -s; hwclock -w),
  both also printed by `virtbusctl event --all --loop --timestamp`;
- Graphics CONNECT, INITIALIZE (an RFB handshake) and DISCONNECT of a VNC client;
- SetVcpus LIVE: a vCPU hot-plugged into <vcpu current='1'>2</vcpu> is seen by the guest
  (/sys/devices/system/cpu/online), CONFIG / MAXIMUM in the persistent XML only;
- PinVcpu / PinIOThread LIVE (the thread's Cpus_allowed_list, the live <cputune>) and CONFIG
  (the persistent one, applied at the next start), GetVcpuPinInfo, virtbusctl vcpupin and
  iothreadpin;
- virtbusctl setmem / setmaxmem with units."""

import base64
import json
import os
import re
import socket
import sys
import time
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.dirname(__file__))
import vbtest  # noqa: E402
import vbmigrate  # noqa: E402
from vbtest import DOMAIN_IFACE, CtlTestCase, SignalRecorder, eventually  # noqa: E402

LIVE, CONFIG, MAXIMUM = 1, 2, 4
INACTIVE = 2  # GetXMLDesc


class Agent:
    """qemu-ga over the channel's unix socket (QEMU listens: mode='bind')."""

    def __init__(self, path):
        self.path = path

    def command(self, cmd, args=None, timeout=20):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(timeout)
        try:
            s.connect(self.path)
            msg = {"execute": cmd}
            if args is not None:
                msg["arguments"] = args
            s.sendall(json.dumps(msg).encode() + b"\n")
            buf = b""
            while b"\n" not in buf:
                chunk = s.recv(65536)
                if not chunk:
                    break
                buf += chunk
            return json.loads(buf.split(b"\n")[0])
        finally:
            s.close()

    def run(self, script, timeout=60):
        """Runs @script with sh in the guest; returns (exit code, stdout)."""
        r = self.command("guest-exec", {"path": "/bin/sh", "arg": ["-c", script],
                                        "capture-output": True})
        pid = r["return"]["pid"]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            st = self.command("guest-exec-status", {"pid": pid})["return"]
            if st.get("exited"):
                out = base64.b64decode(st.get("out-data", "")).decode(errors="replace")
                return st.get("exitcode"), out
            time.sleep(0.2)
        raise AssertionError(f"guest-exec {script!r} did not end in {timeout}s")


class MemevTestCase(CtlTestCase):
    def setUp(self):
        vbmigrate.require_guest(self)
        super().setUp()
        self.serial = os.path.join(self.tmp, "serial.log")
        self.agent_sock = os.path.join(self.tmp, "ga.sock")

    def guest(self, name, balloon=True):
        devices = f"""
    <channel type='unix'>
      <source mode='bind' path='{self.agent_sock}'/>
      <target type='virtio' name='org.qemu.guest_agent.0'/>
    </channel>
    <memballoon model='{"virtio" if balloon else "none"}'/>"""
        return vbmigrate.guest_xml(name=name, serial=self.serial, tick=False, devices=devices)

    def define(self, xml):
        return self.manager("DefineXML", "su", (xml, 0))

    def start(self, xml):
        path = self.define(xml)
        self.domain(path, "Start", "u", (0,), timeout=60000)
        return path

    def wait_agent(self):
        eventually(lambda: "TINYGUEST: qemu-ga started" in vbmigrate.read_text(self.serial)
                   and "TINYGUEST: READY" in vbmigrate.read_text(self.serial),
                   timeout=90, what="qemu-ga")
        return Agent(self.agent_sock)

    def xml_memory(self, path, flags=0):
        root = ET.fromstring(self.domain(path, "GetXMLDesc", "u", (flags,)))

        def kib(tag):
            e = root.find(tag)
            scale = {"KiB": 1, "k": 1, "MiB": 1024, "M": 1024, "GiB": 1 << 20}
            return int(e.text) * scale[e.get("unit", "KiB")]
        return kib("memory"), kib("currentMemory")

    def mem_total(self, agent):
        code, out = agent.run("cat /proc/meminfo")
        self.assertEqual(code, 0, out)
        m = re.search(r"^MemTotal:\s+(\d+) kB", out, re.M)
        self.assertIsNotNone(m, out)
        return int(m.group(1))


class BalloonTest(MemevTestCase):
    def test_balloon_shrinks_the_guest(self):
        rec = SignalRecorder(self.conn, DOMAIN_IFACE, "BalloonChange")
        self.addCleanup(rec.close)
        path = self.start(self.guest("mem1"))
        agent = self.wait_agent()
        self.assertEqual(self.get_prop(path, DOMAIN_IFACE, "CurrentMemory"), 128 * 1024)
        self.assertEqual(self.get_prop(path, DOMAIN_IFACE, "Memory"), 128 * 1024)
        before = self.mem_total(agent)

        self.domain(path, "SetMemory", "tu", (96 * 1024, LIVE))
        rec.wait_for(lambda s: s[0] == path and s[3] == (96 * 1024,), timeout=60,
                     what="BalloonChange(98304)")
        # every step is a size between the two
        for s in rec.pump():
            self.assertTrue(96 * 1024 <= s[3][0] <= 128 * 1024, s)
        eventually(lambda: self.get_prop(path, DOMAIN_IFACE, "CurrentMemory") == 96 * 1024,
                   timeout=10, what="CurrentMemory == 98304")
        # the guest gave 32 MiB back
        after = self.mem_total(agent)
        self.assertLessEqual(after, before - 30 * 1024, (before, after))
        # the live definition follows the balloon, the persistent one does not
        self.assertEqual(self.xml_memory(path), (128 * 1024, 96 * 1024))
        self.assertEqual(self.xml_memory(path, INACTIVE), (128 * 1024, 128 * 1024))

        # and back up: CURRENT is LIVE while running
        self.domain(path, "SetMemory", "tu", (128 * 1024, 0))
        rec.wait_for(lambda s: s[0] == path and s[3] == (128 * 1024,), timeout=60,
                     what="BalloonChange(131072)")
        eventually(lambda: self.mem_total(agent) >= before - 1024, timeout=30,
                   what="MemTotal back")

        # never above the maximum; the maximum of a running guest is fixed
        e = self.assertDBusError("InvalidArgument", self.domain, path, "SetMemory", "tu",
                                 (256 * 1024, LIVE))
        self.assertIn("maximum memory", str(e))
        e = self.assertDBusError("OperationInvalid", self.domain, path, "SetMaxMemory", "t",
                                 (256 * 1024,))
        self.assertIn("running", str(e))
        self.assertDBusError("OperationInvalid", self.domain, path, "SetMemory", "tu",
                             (256 * 1024, LIVE | MAXIMUM))
        self.assertDBusError("InvalidArgument", self.domain, path, "SetMemory", "tu",
                             (0, LIVE))
        self.assertDBusError("InvalidArgument", self.domain, path, "SetMemory", "tu",
                             (64 * 1024, 8))
        self.assertEqual(self.xml_memory(path), (128 * 1024, 128 * 1024))

    def test_config_only_changes_the_persistent_definition(self):
        path = self.start(self.guest("mem2"))
        self.domain(path, "SetMemory", "tu", (64 * 1024, CONFIG))
        self.assertEqual(self.xml_memory(path, INACTIVE), (128 * 1024, 64 * 1024))
        self.assertEqual(self.xml_memory(path), (128 * 1024, 128 * 1024))
        self.assertEqual(self.get_prop(path, DOMAIN_IFACE, "CurrentMemory"), 128 * 1024)
        # the maximum, persistent: current stays below it
        self.domain(path, "SetMemory", "tu", (48 * 1024, CONFIG | MAXIMUM))
        self.assertEqual(self.xml_memory(path, INACTIVE), (48 * 1024, 48 * 1024))
        self.assertEqual(self.xml_memory(path), (128 * 1024, 128 * 1024))
        e = self.assertDBusError("InvalidArgument", self.domain, path, "SetMemory", "tu",
                                 (64 * 1024, CONFIG))
        self.assertIn("MAXIMUM", str(e))
        # on the file too: what the next start uses
        self.domain(path, "Destroy", "u", (0,))
        self.assertEqual(self.xml_memory(path), (48 * 1024, 48 * 1024))
        # shut off: CURRENT is CONFIG, SetMaxMemory works, LIVE does not
        self.domain(path, "SetMaxMemory", "t", (160 * 1024,))
        self.domain(path, "SetMemory", "tu", (150 * 1024, 0))
        self.assertEqual(self.xml_memory(path), (160 * 1024, 150 * 1024))
        self.assertEqual(self.get_prop(path, DOMAIN_IFACE, "CurrentMemory"), 150 * 1024)
        self.assertEqual(self.get_prop(path, DOMAIN_IFACE, "Memory"), 160 * 1024)
        self.assertDBusError("OperationInvalid", self.domain, path, "SetMemory", "tu",
                             (64 * 1024, LIVE))
        # virtbusctl: units, --config
        self.ctl("setmem", "mem2", "100M", "--config")
        self.assertEqual(self.xml_memory(path), (160 * 1024, 100 * 1024))
        self.ctl("setmaxmem", "mem2", "1G")
        self.assertEqual(self.xml_memory(path), (1024 * 1024, 100 * 1024))
        self.assertFails(self.ctl("setmem", "mem2", "12X", check=False), 1, "invalid size")
        self.assertFails(self.ctl("setmem", "mem2", "64M", "--live", check=False), 1)

    def test_start_balloons_to_current_memory(self):
        xml = self.guest("mem4").replace(
            "</memory>", "</memory>\n  <currentMemory unit='MiB'>96</currentMemory>", 1)
        path = self.start(xml)
        agent = self.wait_agent()
        eventually(lambda: self.get_prop(path, DOMAIN_IFACE, "CurrentMemory") == 96 * 1024,
                   timeout=60, what="CurrentMemory == 98304")
        eventually(lambda: self.mem_total(agent) < 96 * 1024, timeout=30,
                   what="the guest's MemTotal below 96 MiB")
        self.assertEqual(self.xml_memory(path), (128 * 1024, 96 * 1024))

    def test_no_balloon_is_not_supported(self):
        path = self.start(self.guest("mem3", balloon=False))
        e = self.assertDBusError("NotSupported", self.domain, path, "SetMemory", "tu",
                                 (64 * 1024, LIVE))
        self.assertIn("memballoon", str(e))
        # nothing changed: the guest runs on
        self.assertEqual(self.get_prop(path, DOMAIN_IFACE, "State"), "running")
        self.assertEqual(self.xml_memory(path), (128 * 1024, 128 * 1024))


class EventTest(MemevTestCase):
    def has_all_match(self):
        r = self.conn.call_sync("org.freedesktop.DBus", "/org/freedesktop/DBus",
                                "org.freedesktop.DBus.Debug.Stats", "GetAllMatchRules", None,
                                None, 0, 5000, None)
        rules = r.unpack()[0]
        return any(f"interface='{DOMAIN_IFACE}'" in rule and "member=" not in rule
                   for rs in rules.values() for rule in rs)

    def test_reboot_and_rtc_change(self):
        rec = SignalRecorder(self.conn, DOMAIN_IFACE)
        self.addCleanup(rec.close)
        path = self.start(self.guest("ev1"))
        agent = self.wait_agent()
        watcher = self.ctl_background("event", "--all", "--loop", "--timestamp", "--timeout",
                                      "120")
        eventually(lambda: watcher.poll() is not None or self.has_all_match(), timeout=20,
                   what="virtbusctl event --all to subscribe")
        self.assertIsNone(watcher.poll())

        # the guest sets its RTC ten years ahead
        code, out = agent.run("date -s '2036-06-01 12:00:00' >/dev/null && hwclock -w -u")
        self.assertEqual(code, 0, out)
        got = rec.wait_for(lambda s: s[0] == path and s[2] == "RTCChange", timeout=30,
                           what="RTCChange")
        offset = got[0][3][0]
        expect = time.mktime((2036, 6, 1, 12, 0, 0, 0, 0, 0)) - time.mktime(time.gmtime())
        self.assertLess(abs(offset - expect), 3 * 86400, (offset, expect))

        self.domain(path, "Reset", None, ())
        rec.wait_for(lambda s: s[0] == path and s[2] == "Reboot" and s[3] == (), timeout=30,
                     what="Reboot")

        def printed():
            lines = [ln for ln in watcher.stdout.readline().splitlines()]
            self.seen.extend(lines)
            return any("event 'reboot' for domain 'ev1'" in ln for ln in self.seen)
        self.seen = []
        eventually(printed, timeout=30, what="virtbusctl to print the reboot")
        stamp = r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}\+0000: "
        rtc = [ln for ln in self.seen if "event 'rtc-change' for domain 'ev1': " in ln]
        self.assertTrue(rtc, self.seen)
        self.assertRegex(rtc[0], stamp + r"event 'rtc-change' for domain 'ev1': -?\d+$")
        self.assertTrue(any(re.match(stamp + r"event 'reboot' for domain 'ev1'$", ln)
                            for ln in self.seen), self.seen)
        watcher.terminate()
        watcher.wait(timeout=10)

    def test_graphics_connect_initialize_disconnect(self):
        rec = SignalRecorder(self.conn, DOMAIN_IFACE, "Graphics")
        self.addCleanup(rec.close)
        xml = self.guest("ev2").replace("</devices>", """  <graphics type='vnc' port='-1' autoport='yes' listen='127.0.0.1'/>
    <video><model type='vga'/></video>
  </devices>""")
        path = self.start(xml)
        # the same event as GraphicsEvent (issue 13's name), printed once by virtbusctl
        rec2 = SignalRecorder(self.conn, DOMAIN_IFACE, "GraphicsEvent")
        self.addCleanup(rec2.close)
        watcher = self.ctl_background("event", "--all", "--loop", "--timeout", "120")
        self.addCleanup(watcher.kill)
        eventually(lambda: watcher.poll() is not None or self.has_all_match(), timeout=20,
                   what="virtbusctl event --all to subscribe")
        port = self.get_prop(path, DOMAIN_IFACE, "Graphics")[0]["port"]
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.addCleanup(s.close)
        client_port = s.getsockname()[1]
        got = rec.wait_for(lambda g: g[0] == path and g[3][0] == 0, timeout=20,
                           what="Graphics(CONNECT)")
        phase, local, remote, auth, ids = got[0][3]
        self.assertEqual(local, (0, "127.0.0.1", str(port)))
        self.assertEqual(remote, (0, "127.0.0.1", str(client_port)))
        self.assertEqual(ids, [])

        # RFB 3.8 with security None, then ClientInit: the client is initialized
        def recv(n):
            buf = b""
            while len(buf) < n:
                chunk = s.recv(n - len(buf))
                self.assertTrue(chunk, "VNC server closed the connection")
                buf += chunk
            return buf
        self.assertEqual(recv(12), b"RFB 003.008\n")
        s.sendall(b"RFB 003.008\n")
        types = recv(recv(1)[0])
        self.assertIn(1, types)
        s.sendall(b"\x01")
        self.assertEqual(recv(4), b"\x00\x00\x00\x00")
        s.sendall(b"\x01")
        recv(24)
        got = rec.wait_for(lambda g: g[0] == path and g[3][0] == 1, timeout=20,
                           what="Graphics(INITIALIZE)")
        self.assertEqual(got[0][3][3], "none")
        self.assertEqual(got[0][3][2], (0, "127.0.0.1", str(client_port)))
        s.close()
        rec.wait_for(lambda g: g[0] == path and g[3][0] == 2, timeout=20,
                     what="Graphics(DISCONNECT)")
        rec2.wait_for(lambda g: g[0] == path and g[3][0] == 2, timeout=20,
                      what="GraphicsEvent(DISCONNECT)")
        self.assertEqual([g[3] for g in rec2.pump() if g[0] == path],
                         [g[3] for g in rec.pump() if g[0] == path])
        seen = []

        def printed():
            seen.append(watcher.stdout.readline())
            return sum("event 'graphics' for domain 'ev2'" in ln for ln in seen) >= 3
        eventually(printed, timeout=60, what="virtbusctl event printing three graphics events")
        self.assertFalse([ln for ln in seen if "graphics-event" in ln], seen)
        watcher.terminate()
        watcher.wait(timeout=10)


def cpus_allowed(pid, tid):
    with open(f"/proc/{pid}/task/{tid}/status") as f:
        for line in f:
            if line.startswith("Cpus_allowed_list:"):
                return line.split(":", 1)[1].strip()
    return None


def thread_named(pid, comm):
    for t in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{t}/comm") as f:
            if f.read().strip() == comm:
                return int(t)
    raise AssertionError(f"no thread {comm!r} in QEMU {pid}")


class PinTest(MemevTestCase):
    def pins(self, path, flags=0):
        root = ET.fromstring(self.domain(path, "GetXMLDesc", "u", (flags,)))
        ct = root.find("cputune")
        if ct is None:
            return {}
        return {(e.tag, e.get("vcpu") or e.get("iothread")): e.get("cpuset") for e in ct}

    def test_pin_vcpu_and_iothread(self):
        n = os.cpu_count()
        self.assertGreaterEqual(n, 2, "pinning needs two host CPUs")
        last = n - 1
        only = lambda c: [i == c for i in range(n)]  # noqa: E731
        every = [True] * n
        xml = self.guest("pin1").replace("<vcpu>1</vcpu>",
                                         "<vcpu>2</vcpu>\n  <iothreads>1</iothreads>")
        path = self.start(xml)
        with open(os.path.join(self.root, "run/virtbus/qemu", "pin1.pid")) as f:
            pid = int(f.read().strip())
        cpu1 = thread_named(pid, "CPU 1/TCG")
        io1 = thread_named(pid, "IO iothread1")
        self.assertEqual(self.domain(path, "GetVcpuPinInfo", "u", (0,)), [every, every])

        # LIVE: the thread and the live XML; the persistent XML does not change
        self.domain(path, "PinVcpu", "uabu", (1, only(0), LIVE))
        self.assertEqual(cpus_allowed(pid, cpu1), "0")
        self.assertEqual(self.pins(path), {("vcpupin", "1"): "0"})
        self.assertEqual(self.pins(path, INACTIVE), {})
        self.assertEqual(self.domain(path, "GetVcpuPinInfo", "u", (LIVE,)), [every, only(0)])
        self.assertEqual(self.domain(path, "GetVcpuPinInfo", "u", (CONFIG,)), [every, every])
        # CONFIG: the persistent XML only
        cpu0 = thread_named(pid, "CPU 0/TCG")
        before = cpus_allowed(pid, cpu0)
        self.domain(path, "PinVcpu", "uabu", (0, only(last), CONFIG))
        self.assertEqual(self.pins(path, INACTIVE), {("vcpupin", "0"): str(last)})
        self.assertEqual(self.pins(path), {("vcpupin", "1"): "0"})
        self.assertEqual(cpus_allowed(pid, cpu0), before)
        # an iothread
        self.domain(path, "PinIOThread", "uabu", (1, only(last), 0))
        self.assertEqual(cpus_allowed(pid, io1), str(last))
        self.assertEqual(self.pins(path), {("vcpupin", "1"): "0",
                                           ("iothreadpin", "1"): str(last)})
        # errors
        self.assertDBusError("InvalidArgument", self.domain, path, "PinVcpu", "uabu",
                             (0, [False] * n, LIVE))
        self.assertDBusError("InvalidArgument", self.domain, path, "PinVcpu", "uabu",
                             (5, only(0), LIVE))
        self.assertDBusError("InvalidArgument", self.domain, path, "PinVcpu", "uabu",
                             (5, only(0), CONFIG))
        self.assertDBusError("InvalidArgument", self.domain, path, "PinIOThread", "uabu",
                             (7, only(0), LIVE))
        self.assertDBusError("InvalidArgument", self.domain, path, "GetVcpuPinInfo", "u",
                             (LIVE | CONFIG,))
        # virtbusctl: print; 'r' (every CPU) removes the pin
        out = self.ctl("vcpupin", "pin1").stdout
        self.assertIn(" 1      0\n", out)
        self.assertIn(f" 0      0-{last}\n", out)
        self.ctl("vcpupin", "pin1", "1", "r", "--live")
        self.assertEqual(cpus_allowed(pid, cpu1), f"0-{last}")
        self.assertEqual(self.pins(path), {("iothreadpin", "1"): str(last)})
        self.ctl("iothreadpin", "pin1", "1", f"{last}", "--config")
        self.assertEqual(self.pins(path, INACTIVE), {("vcpupin", "0"): str(last),
                                                     ("iothreadpin", "1"): str(last)})
        self.assertFails(self.ctl("vcpupin", "pin1", "1", "x-", check=False), 1,
                         "invalid CPU list")
        # the next start applies the persistent pins
        self.domain(path, "Destroy", "u", (0,))
        self.domain(path, "Start", "u", (0,), timeout=60000)
        with open(os.path.join(self.root, "run/virtbus/qemu", "pin1.pid")) as f:
            pid = int(f.read().strip())
        self.assertEqual(cpus_allowed(pid, thread_named(pid, "CPU 0/TCG")), str(last))


class VcpuTest(MemevTestCase):
    def vcpu_elem(self, path, flags=0):
        e = ET.fromstring(self.domain(path, "GetXMLDesc", "u", (flags,))).find("vcpu")
        return int(e.text), e.get("current")

    def test_hotplug_a_vcpu(self):
        xml = self.guest("cpu1").replace("<vcpu>1</vcpu>", "<vcpu current='1'>2</vcpu>")
        path = self.start(xml)
        agent = self.wait_agent()
        self.assertEqual(self.get_prop(path, DOMAIN_IFACE, "VCPUs"), 1)
        code, out = agent.run("cat /sys/devices/system/cpu/online")
        self.assertEqual(out.strip(), "0", out)

        self.domain(path, "SetVcpus", "uu", (2, LIVE))
        self.assertEqual(self.get_prop(path, DOMAIN_IFACE, "VCPUs"), 2)
        self.assertEqual(self.vcpu_elem(path), (2, None))
        self.assertEqual(self.vcpu_elem(path, INACTIVE), (2, "1"))
        with open(os.path.join(self.root, "run/virtbus/qemu", "cpu1.pid")) as f:
            pid = int(f.read().strip())
        thread_named(pid, "CPU 1/TCG")
        # the guest sees it (and brings it online if its kernel does not)
        eventually(lambda: agent.run("echo 1 > /sys/devices/system/cpu/cpu1/online "
                                     "2>/dev/null; cat /sys/devices/system/cpu/online")[1]
                   .strip() == "0-1", timeout=30, what="the guest's CPU 1 online")

        self.assertDBusError("NotSupported", self.domain, path, "SetVcpus", "uu", (1, LIVE))
        self.assertDBusError("InvalidArgument", self.domain, path, "SetVcpus", "uu", (3, LIVE))
        self.assertDBusError("OperationInvalid", self.domain, path, "SetVcpus", "uu",
                             (4, LIVE | MAXIMUM))
        self.assertDBusError("NotSupported", self.domain, path, "SetVcpus", "uu", (2, 8))
        self.assertDBusError("InvalidArgument", self.domain, path, "SetVcpus", "uu", (0, 0))
        # CONFIG only: the persistent definition
        self.domain(path, "SetVcpus", "uu", (4, CONFIG | MAXIMUM))
        self.assertEqual(self.vcpu_elem(path, INACTIVE), (4, "1"))
        self.ctl("setvcpus", "cpu1", "3", "--config")
        self.assertEqual(self.vcpu_elem(path, INACTIVE), (4, "3"))
        self.assertEqual(self.vcpu_elem(path), (2, None))
        self.assertFails(self.ctl("setvcpus", "cpu1", "5", "--config", check=False), 1,
                         "maximum")


if __name__ == "__main__":
    vbtest.main()
