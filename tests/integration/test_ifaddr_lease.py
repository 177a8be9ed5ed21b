#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""InterfaceAddresses(LEASE) (issue 12, part addresses): type='network' on a NAT network
made with NetworkCreateXML in the namespace of a vbhosts host: the lease the network's
dnsmasq gave, named after the tap, is the address qemu-ga reports (AGENT) and the guest
printed; virtbusctl domifaddr shows it; a network stopped under the domain is a named
error."""

import os
import re
import sys

sys.path.insert(0, os.path.dirname(__file__))
import vbtest  # noqa: E402
from test_ifaddr_net import AGENT, LEASE, MAC, IfaddrNetTestCase  # noqa: E402
from vbtest import eventually  # noqa: E402


class LeaseTest(IfaddrNetTestCase):
    def test_lease_source_on_a_virtual_network(self):
        net_xml = f"""<network>
  <name>addrnet</name>
  <forward mode='nat'/>
  <bridge name='vbln{self.tag}'/>
  <ip address='192.168.163.1' netmask='255.255.255.0'>
    <dhcp><range start='192.168.163.100' end='192.168.163.200'/></dhcp>
  </ip>
</network>"""
        net = self.manager(self.a, "NetworkCreateXML", "su", (net_xml, 0))
        try:
            path = self.start("""
    <interface type='network'>
      <mac address='%s'/>
      <source network='addrnet'/>
      <model type='virtio'/>
    </interface>""" % MAC)
            ip, prefix = self.lease_marker("192.168.163")
            tap = self.live_target(path)
            ifaces = eventually(lambda: self.addrs(path, LEASE), timeout=10,
                                what="the lease")
            self.assertEqual(ifaces, [(tap, MAC, [(ip, prefix, "ipv4")])])
            # qemu-ga sees the same address on the guest's eth0
            agent = {hw: a for n, hw, a in self.addrs(path, AGENT)}
            self.assertIn((ip, prefix, "ipv4"), agent[MAC])
            out = self.ctl(self.a, "--address", self.a.bus_address, "domifaddr", "vm1").stdout
            self.assertRegex(out, rf"\n {re.escape(tap)}\s+{MAC}\s+ipv4\s+"
                                  rf"{re.escape(ip)}/{prefix}\n")
            # the (transient) network destroyed under the running domain is gone: named
            self.call(net, "org.virtbus.Virt1.Network", "Destroy", conn=self.conn(self.a))
            net = None
            e = self.assertDBusError("NoNetwork", self.addrs, path, LEASE)
            self.assertIn("addrnet", e.message)
        finally:
            if net is not None:
                self.call(net, "org.virtbus.Virt1.Network", "Destroy", conn=self.conn(self.a))



if __name__ == "__main__":
    vbtest.main()
