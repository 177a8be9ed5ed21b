#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Domain.InterfaceAddresses (issue 12, part addresses) and virtbusctl domifaddr/domiflist,
with real QEMU: the tiny guest's qemu-ga on a type='user' NIC (slirp's DHCP gives
10.0.2.15), an agent that never answers (qemu-ga stopped with SIGSTOP after it opened its
port), and the named errors."""

import os
import re
import shutil
import tempfile
import threading
import time

import vbmigrate
import vbtest
from vbtest import ERR, CtlTestCase, DBusCallError, MINIMAL_XML, eventually

GUEST_DIR = os.environ.get("VB_TINY_GUEST", "")
MAC = "52:54:00:a1:b2:c3"
AGENT_TIMEOUT = 3
LEASE, AGENT, ARP = 0, 1, 2

CHANNEL = """<channel type='unix'>{source}
      <target type='virtio' name='org.qemu.guest_agent.0'/>
    </channel>"""


class IfaddrTestCase(CtlTestCase):
    def setUp(self):
        # a short agent timeout: the "no answer" cases cost it
        self.cfgdir = tempfile.mkdtemp(prefix="vbtest-cfg-")
        cfg = os.path.join(self.cfgdir, "virtbusd.conf")
        with open(cfg, "w") as f:
            f.write(f"[virtbusd]\nagent_timeout={AGENT_TIMEOUT}\n")
        self.service_args = ("--config", cfg)
        super().setUp()
        self.serial = os.path.join(self.tmp, "serial.log")

    def tearDown(self):
        super().tearDown()
        shutil.rmtree(self.cfgdir, ignore_errors=True)

    def guest_xml(self, name, devices):
        return vbmigrate.guest_xml(name=name, serial=self.serial, tick=False, devices=devices)

    def bare_xml(self, name, devices):
        """No kernel: SeaBIOS finds nothing to boot, so nothing answers on the agent port."""
        return MINIMAL_XML.format(name=name, uuid="").replace(
            "</devices>", devices + "\n  </devices>")

    def markers(self, what):
        try:
            with open(self.serial, errors="replace") as f:
                return f.read().count(what)
        except FileNotFoundError:
            return 0

    def start(self, name, xml):
        path = self.manager("DefineXML", "su", (xml, 0))
        self.domain(path, "Start", "u", (0,), timeout=60000)
        return path

    def addrs(self, path, source, **kw):
        return self.domain(path, "InterfaceAddresses", "u", (source,), **kw)


class AgentTest(IfaddrTestCase):
    def setUp(self):
        if not os.path.exists(os.path.join(GUEST_DIR, "vmlinux")):
            self.fail(f"the tiny guest is not built in {GUEST_DIR} (ninja -C BUILDDIR tiny-guest)")
        super().setUp()

    def test_agent_reports_the_guests_address_and_mac(self):
        # no <source path>: the socket is made in the domain's runtime directory
        nic = (f"<interface type='user'><mac address='{MAC}'/><model type='virtio'/>"
               "</interface>")
        path = self.start("g1", self.guest_xml("g1", nic + CHANNEL.format(source="")))
        eventually(lambda: self.markers("TINYGUEST: lease"), timeout=90, what="the DHCP lease")
        self.assertIn("TINYGUEST: lease 10.0.2.15/24", open(self.serial).read())
        ifaces = self.addrs(path, AGENT)
        by_mac = {hw: (name, addrs) for name, hw, addrs in ifaces}
        self.assertIn(MAC, by_mac, ifaces)
        name, addrs = by_mac[MAC]
        self.assertEqual(name, "eth0")
        self.assertIn(("10.0.2.15", 24, "ipv4"), addrs)
        # the loopback is reported too, as libvirt does
        lo = [a for n, hw, a in ifaces if n == "lo"]
        self.assertEqual(len(lo), 1, ifaces)
        self.assertIn(("127.0.0.1", 8, "ipv4"), lo[0])

        # virtbusctl domifaddr --source agent: virsh's table
        p = self.ctl("domifaddr", "g1", "--source", "agent")
        lines = p.stdout.splitlines()
        self.assertRegex(lines[0], r"^ Name\s+MAC address\s+Protocol\s+Address$")
        self.assertTrue(lines[1].startswith("-" * 10), lines[1])
        self.assertTrue(any(re.match(rf"^ eth0\s+{MAC}\s+ipv4\s+10\.0\.2\.15/24$", l)
                            for l in lines), p.stdout)
        self.assertTrue(any(re.match(r"^ lo\s+00:00:00:00:00:00\s+ipv4\s+127\.0\.0\.1/8$", l)
                            for l in lines), p.stdout)

        # LEASE: a type='user' NIC is on no virtual network: nothing, no error
        self.assertEqual(self.addrs(path, LEASE), [])
        self.assertEqual(self.ctl("domifaddr", "g1").stdout.splitlines()[2:], [])
        # ARP: the host never talked to slirp's guest
        self.assertEqual(self.addrs(path, ARP), [])

        # domiflist from the live XML
        out = self.ctl("domiflist", "g1").stdout.splitlines()
        self.assertRegex(out[0], r"^ Interface\s+Type\s+Source\s+Model\s+MAC$")
        self.assertRegex(out[2], rf"^ -\s+user\s+-\s+virtio\s+{MAC}$")

    def test_paused_guest_is_refused_at_once(self):
        path = self.start("g2", self.guest_xml("g2", CHANNEL.format(source="")))
        # issue 13: until qemu-ga opened its port the agent is "not connected (yet)"
        eventually(lambda: self.get_prop(path, vbtest.DOMAIN_IFACE, "AgentConnected"),
                   timeout=60, what="the agent connected")
        self.domain(path, "Suspend")
        t0 = time.monotonic()
        e = self.assertDBusError("OperationInvalid", self.addrs, path, AGENT)
        self.assertLess(time.monotonic() - t0, 1.5)
        self.assertIn("resume it first", e.message)
        self.domain(path, "Resume")
        # and works again once it runs: the guest has no NIC, only lo
        eventually(lambda: [n for n, hw, a in self.addrs(path, AGENT)] == ["lo"], timeout=30,
                   what="the agent after Resume")


class AgentErrorsTest(IfaddrTestCase):
    def test_no_agent_channel_is_not_configured(self):
        path = self.start("n1", self.bare_xml("n1", ""))
        e = self.assertDBusError("NotSupported", self.addrs, path, AGENT)
        self.assertIn("QEMU guest agent is not configured", e.message)
        p = self.ctl("domifaddr", "n1", "--source", "agent", check=False)
        self.assertFails(p, 1, "QEMU guest agent is not configured")

    def stopped_agent(self, name, source=""):
        """The tiny guest whose qemu-ga opened its port and then stopped (SIGSTOP): the
        agent is connected and never answers (issue 13: a port nobody opened is "not
        connected" at once)."""
        serial = self.serial
        self.serial = os.path.join(self.tmp, f"serial-{name}.log")
        path = self.start(name, self.guest_xml(name, CHANNEL.format(source=source)))
        self.serial = serial
        eventually(lambda: self.get_prop(path, vbtest.DOMAIN_IFACE, "AgentConnected"),
                   timeout=90, what="the agent connected")
        self.domain(path, "QemuAgentCommand", "siu", (
            '{"execute":"guest-exec","arguments":{"path":"/bin/sh","arg":["-c",'
            '"sleep 1; killall -STOP qemu-ga"]}}', -1, 0))
        time.sleep(2.5)
        return path

    def test_agent_that_never_answers_times_out_and_frees_the_worker(self):
        sock = os.path.join(self.tmp, "qga.sock")
        path = self.stopped_agent("t1", f"<source mode='bind' path='{sock}'/>")
        result = {}

        def slow_on(target):
            conn = vbtest.connect(self.bus.address)
            t0 = time.monotonic()
            try:
                self.addrs(target, AGENT, conn=conn)
            except DBusCallError as e:
                result["error"] = e
            result["elapsed"] = time.monotonic() - t0
            conn.close_sync(None)

        th = threading.Thread(target=slow_on, args=(path,))
        th.start()
        time.sleep(0.5)
        # the agent has a job of its own: a sync job (Suspend/Resume) and a read go on
        t0 = time.monotonic()
        self.domain(path, "Suspend")
        self.domain(path, "Resume")
        self.assertLess(time.monotonic() - t0, 2.0)
        info = self.domain(path, "GetControlInfo")
        self.assertEqual(info["state"], "ok")
        th.join(AGENT_TIMEOUT + 10)
        self.assertFalse(th.is_alive())
        self.assertEqual(result["error"].name, ERR + "OperationTimeout", result["error"].message)
        self.assertIn("QEMU guest agent timed out", result["error"].message)
        self.assertGreaterEqual(result["elapsed"], AGENT_TIMEOUT - 0.2)
        self.assertLess(result["elapsed"], AGENT_TIMEOUT + 2.0)
        # the agent job was released: the next call times out the same way (not Busy)
        t0 = time.monotonic()
        self.assertDBusError("OperationTimeout", self.addrs, path, AGENT)
        self.assertLess(time.monotonic() - t0, AGENT_TIMEOUT + 2.0)
        # a channel whose socket is gone: not connected
        os.unlink(sock)
        e = self.assertDBusError("AgentUnresponsive", self.addrs, path, AGENT)
        self.assertIn("not connected", e.message)
        # Destroy is not held up by an agent call in flight, and ends it at once
        path2 = self.stopped_agent("t2")
        result.clear()
        th = threading.Thread(target=slow_on, args=(path2,))
        th.start()
        time.sleep(0.5)
        t0 = time.monotonic()
        self.domain(path2, "Destroy", "u", (0,))
        th.join(AGENT_TIMEOUT + 10)
        self.assertLess(time.monotonic() - t0, AGENT_TIMEOUT - 0.5)
        self.assertIn(result["error"].name, (ERR + "AgentUnresponsive",
                                             ERR + "OperationInvalid"), result["error"].message)

    def test_bad_arguments_and_inactive_domain(self):
        path = self.manager("DefineXML", "su", (self.bare_xml("b1", ""), 0))
        e = self.assertDBusError("OperationInvalid", self.addrs, path, LEASE)
        self.assertIn("not running", e.message)
        self.assertDBusError("OperationInvalid", self.addrs, path, AGENT)
        self.assertDBusError("OperationInvalid", self.addrs, path, ARP)
        e = self.assertDBusError("InvalidArgument", self.addrs, path, 3)
        self.assertIn("unknown interface address source 3", e.message)
        p = self.ctl("domifaddr", "b1", "--source", "dhcp", check=False)
        self.assertFails(p, 2, "--source")
        p = self.ctl("domifaddr", "b1", check=False)
        self.assertFails(p, 1, "not running")
        # domiflist of an inactive domain reads its definition
        self.domain(path, "Start", "u", (0,), timeout=60000)
        self.assertEqual(self.addrs(path, LEASE), [])
        self.assertEqual(self.addrs(path, ARP), [])


if __name__ == "__main__":
    vbtest.main()
