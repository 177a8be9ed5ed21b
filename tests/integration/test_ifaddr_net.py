#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""InterfaceAddresses on real host networking (issue 12, part addresses): the real virtbusd
in a network namespace the test makes (vbhosts, one host) and the tiny guest under TCG:
- ARP: type='bridge' on a bridge the test made, with a dnsmasq the test runs: once the
  guest pinged the bridge, the host's neighbour table has it, and the ARP source reports
  the tap's name (<target dev>), the guest's MAC and address, prefix 0;
- LEASE: test_ifaddr_lease.py."""

import os
import re
import sys

sys.path.insert(0, os.path.dirname(__file__))
import vbguestnet  # noqa: E402
import vbmigrate  # noqa: E402
import vbtest  # noqa: E402
from vbtest import DOMAIN_IFACE, eventually  # noqa: E402

UUID = "5b7e0c1a-2d3f-4a5b-8c6d-7e8f9a0b1c31"
MAC = "52:54:00:6a:20:01"
LEASE, AGENT, ARP = 0, 1, 2
CHANNEL = """
    <channel type='unix'>
      <target type='virtio' name='org.qemu.guest_agent.0'/>
    </channel>"""


class IfaddrNetTestCase(vbguestnet.GuestNetTestCase):
    UUID = UUID

    def start(self, devices, uuid=None):
        return super().start(devices + CHANNEL, uuid)

    def addrs(self, path, source):
        return self.call(path, DOMAIN_IFACE, "InterfaceAddresses", "u", (source,),
                         conn=self.conn(self.a))[0]

    def live_target(self, path):
        xml = self.live_xml(path)
        m = re.search(r"<target dev='([^']+)'", xml)
        self.assertIsNotNone(m, xml)
        return m.group(1)

    def lease_marker(self, prefix):
        eventually(lambda: "TINYGUEST: ping " in vbmigrate.read_text(self.serial)
                   or "TINYGUEST: no lease" in vbmigrate.read_text(self.serial), timeout=90,
                   what="the guest's lease and ping")
        m = re.search(rf"TINYGUEST: lease ({re.escape(prefix)}\.\d+)/(\d+)",
                      vbmigrate.read_text(self.serial))
        self.assertIsNotNone(m, vbmigrate.read_text(self.serial))
        self.assertIn("ok", re.search(r"TINYGUEST: ping \S+ (\w+)",
                                      vbmigrate.read_text(self.serial)).group(0))
        return m.group(1), int(m.group(2))


class ArpTest(IfaddrNetTestCase):
    def test_arp_source_on_a_bridge(self):
        br = self.make_bridge(161, f"vbab{self.tag}")
        self.dnsmasq(br, 161)
        path = self.start(f"""
    <interface type='bridge'>
      <mac address='{MAC}'/>
      <source bridge='{br}'/>
      <model type='virtio'/>
    </interface>""")
        ip, _ = self.lease_marker("10.161.0")
        tap = self.live_target(path)
        # the guest pinged the bridge: the host knows its MAC
        ifaces = eventually(lambda: self.addrs(path, ARP), timeout=10,
                            what="the guest in the neighbour table")
        self.assertEqual(ifaces, [(tap, MAC, [(ip, 0, "ipv4")])])
        # neither a lease of a virtual network (type='bridge')
        self.assertEqual(self.addrs(path, LEASE), [])
        out = self.ctl(self.a, "--address", self.a.bus_address, "domifaddr", "vm1",
                       "--source", "arp").stdout
        self.assertRegex(out, rf"\n {re.escape(tap)}\s+{MAC}\s+ipv4\s+{re.escape(ip)}/0\n")
        out = self.ctl(self.a, "--address", self.a.bus_address, "domiflist", "vm1").stdout
        self.assertRegex(out, rf"\n {re.escape(tap)}\s+bridge\s+{br}\s+virtio\s+{MAC}\n")


if __name__ == "__main__":
    vbtest.main()
