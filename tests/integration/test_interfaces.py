#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Interfaces at Start (issue 12, part interfaces): the real virtbusd in a
network namespace the test makes (vbhosts, one host), the tiny guest booting
under TCG and getting a DHCP lease from a dnsmasq the test runs:
- type='bridge' on a bridge the test made: the service makes vnet0 (host MAC
  0xFE..., on the bridge), the guest gets a lease and pings the bridge; the
  live XML shows <target dev='vnet0'/> and <alias name='net0'/>; destroy
  removes the tap;
- type='direct' (macvtap, mode bridge) on a veth whose peer is in another
  namespace with the DHCP server; kill -9 of QEMU removes the macvtap;
- type='ethernet' with an existing tap (managed='no'), addressed by the
  test: the guest pings it; the tap stays after destroy;
- type='ethernet' with host side <source><ip>/<route>: the service's tap has
  the addresses (IPv4, IPv6) and the route (metric, proto boot) after Start, a
  dnsmasq bound to that address gives the guest its lease and the guest pings
  the host's address through the tap; destroy takes tap and route away; on an
  existing tap (managed='no') they stay after destroy (as libvirt) and a second
  start works; a route the kernel refuses fails the start by name, leaving no
  tap (made) or the address it added (existing tap);
- a service restart while running keeps the macvtap; the later destroy
  removes it;
- a failed start (a missing bridge; <driver name='vhost'> without
  /dev/vhost-net) leaves no link, no QEMU, no status."""

import json
import os
import shutil
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
import vbguestnet  # noqa: E402
import vbhosts  # noqa: E402
import vbtest  # noqa: E402
from vbtest import DOMAIN_IFACE, eventually  # noqa: E402

UUID = "5b7e0c1a-2d3f-4a5b-8c6d-7e8f9a0b1c21"
MAC = "52:54:00:6a:10:01"


class InterfaceTestCase(vbguestnet.GuestNetTestCase):
    UUID = UUID


class BridgeTest(InterfaceTestCase):
    def test_bridge_lease_ping_and_cleanup(self):
        br = self.make_bridge(150)
        self.dnsmasq(br, 150)
        path = self.start(f"""
    <interface type='bridge'>
      <mac address='{MAC}'/>
      <source bridge='{br}'/>
      <model type='virtio'/>
    </interface>""")
        links = self.links()
        self.assertIn("vnet0", links)
        self.assertEqual(links["vnet0"].get("master"), br)
        self.assertEqual(links["vnet0"]["address"], "fe:54:00:6a:10:01")
        live = self.live_xml(path)
        self.assertIn("<target dev='vnet0'/>", live)
        self.assertIn("<alias name='net0'/>", live)
        self.assertIn("name='vnet0'", self.status_text())
        self.wait_lease(150)
        self.destroy(path)
        eventually(lambda: "vnet0" not in self.links(), what="vnet0 to go")
        # the persistent definition keeps no generated name
        inactive = self.live_xml(path)
        self.assertNotIn("vnet0", inactive)

    def test_link_down_bandwidth_multiqueue(self):
        """<link state='down'>: the guest sees no carrier and gets no lease;
        <bandwidth><inbound> is an htb class on the tap; <driver queues='2'>
        makes a multiqueue tap; <mtu> is set on the tap."""
        br = self.make_bridge(153)
        self.dnsmasq(br, 153)
        path = self.start(f"""
    <interface type='bridge'>
      <mac address='52:54:00:6a:10:05'/>
      <source bridge='{br}'/>
      <bandwidth><inbound average='1000' peak='2000' burst='256'/></bandwidth>
      <model type='virtio'/>
      <driver queues='2'/>
      <link state='down'/>
      <mtu size='1400'/>
    </interface>""")
        links = self.links()
        self.assertEqual(links["vnet0"]["mtu"], 1400)
        qdiscs = json.loads(self.a.run(["tc", "-j", "qdisc", "show", "dev", "vnet0"]).stdout)
        self.assertIn("htb", [q["kind"] for q in qdiscs])
        classes = self.a.run(["tc", "class", "show", "dev", "vnet0"]).stdout
        self.assertIn("rate 8Mbit", classes)
        self.assertIn("multi_queue", self.a.run(["ip", "-d", "link", "show", "vnet0"]).stdout)
        eventually(lambda: "TINYGUEST: no lease" in self.markers()
                   or "TINYGUEST: lease" in self.markers(), timeout=90,
                   what="the guest's DHCP to end")
        self.assertIn("TINYGUEST: no lease", self.markers())
        self.destroy(path)
        eventually(lambda: "vnet0" not in self.links(), what="vnet0 to go")

    def test_outbound_bandwidth_started_or_refused(self):
        """<outbound> polices with act_police: set on the tap's ingress, or
        refused by name on a kernel without it, leaving nothing."""
        br = self.make_bridge(154)
        before = set(self.links())
        path = self.define(f"""
    <interface type='bridge'>
      <mac address='52:54:00:6a:10:06'/>
      <source bridge='{br}'/>
      <bandwidth><outbound average='500'/></bandwidth>
      <model type='virtio'/>
    </interface>""")
        try:
            self.call(path, DOMAIN_IFACE, "Start", "u", (0,), conn=self.conn(self.a),
                      timeout=60000)
        except vbtest.DBusCallError as e:
            self.assertEqual(e.name, vbtest.ERR + "NotSupported", e.message)
            self.assertIn("police", e.message)
            self.assertIn("net0", e.message)
            self.assertEqual(set(self.links()), before)
            self.assertEqual(vbtest.qemus_under(self.a.dir), {})
            return
        qdiscs = json.loads(self.a.run(["tc", "-j", "qdisc", "show", "dev", "vnet0"]).stdout)
        self.assertIn("ingress", [q["kind"] for q in qdiscs])
        self.destroy(path)

    def test_missing_bridge_leaves_nothing(self):
        self.assert_start_refused("InvalidArgument", """
    <interface type='bridge'>
      <mac address='52:54:00:6a:10:02'/>
      <source bridge='vbt-nosuchbr'/>
      <model type='virtio'/>
    </interface>""", "vbt-nosuchbr")

    def test_inactive_network_leaves_nothing(self):
        self.assert_start_refused(None, """
    <interface type='network'>
      <mac address='52:54:00:6a:10:04'/>
      <source network='vbt-nosuchnet'/>
      <model type='virtio'/>
    </interface>""", "vbt-nosuchnet", "net0")

    def test_vhost_asked_without_vhost_net_leaves_nothing(self):
        if os.path.exists("/dev/vhost-net"):
            self.skipTest("this host has /dev/vhost-net")
        br = f"vbtbr{self.tag}"
        self.ip("link", "add", br, "type", "bridge")
        self.assert_start_refused("NotSupported", f"""
    <interface type='bridge'>
      <mac address='52:54:00:6a:10:03'/>
      <source bridge='{br}'/>
      <model type='virtio'/>
      <driver name='vhost' queues='2'/>
    </interface>""", "vhost", status=False)


class DirectTest(InterfaceTestCase):
    def setup_veth(self):
        peer_ns = self.peer_netns()
        self.ip("link", "add", "vbtv0", "type", "veth", "peer", "name", "vbtv0p")
        self.ip("link", "set", "vbtv0p", "netns", peer_ns)
        self.ip("link", "set", "vbtv0", "up")
        self.ip("addr", "add", "10.151.0.1/24", "dev", "vbtv0p", ns=peer_ns)
        self.ip("link", "set", "vbtv0p", "up", ns=peer_ns)
        self.dnsmasq("vbtv0p", 151, ns=peer_ns)

    DIRECT = """
    <interface type='direct'>
      <mac address='52:54:00:6a:10:11'/>
      <source dev='vbtv0' mode='bridge'/>
      <model type='virtio'/>
    </interface>"""

    def macvtaps(self):
        return [n for n, link in self.links().items()
                if link.get("linkinfo", {}).get("info_kind") == "macvtap"
                or n.startswith("macvtap")]

    def test_direct_lease_ping_and_kill9(self):
        self.setup_veth()
        path = self.start(self.DIRECT)
        taps = self.macvtaps()
        self.assertEqual(len(taps), 1, taps)
        self.assertIn(f"<target dev='{taps[0]}'/>", self.live_xml(path))
        self.wait_lease(151)
        os.kill(self.qemu_pid(), signal.SIGKILL)
        eventually(lambda: "state='shutoff'" in self.status_text() or not self.status_text(),
                   timeout=20, what="the crash to be handled")
        eventually(lambda: not self.macvtaps(), timeout=20, what="the macvtap to go")

    def test_restart_keeps_then_destroy_removes(self):
        self.setup_veth()
        path = self.start(self.DIRECT)
        taps = self.macvtaps()
        self.assertEqual(len(taps), 1, taps)
        self.assertIn(f"name='{taps[0]}'", self.status_text())
        self.a.service.stop()
        self.assertEqual(self.macvtaps(), taps)
        self.a.service.start()
        self.assertEqual(self.macvtaps(), taps)
        self.wait_lease(151)
        self.destroy(path)
        eventually(lambda: not self.macvtaps(), what="the macvtap to go")


    def test_qemu_gone_during_restart_removes(self):
        """A service restart that finds QEMU gone releases the run's macvtap."""
        self.setup_veth()
        self.start(self.DIRECT)
        self.assertEqual(len(self.macvtaps()), 1)
        pid = self.qemu_pid()
        self.a.service.stop()
        os.kill(pid, signal.SIGKILL)
        eventually(lambda: not vbhosts._cmdline(pid), what="QEMU to end")
        self.assertEqual(len(self.macvtaps()), 1)
        self.a.service.start()
        eventually(lambda: not self.macvtaps(), what="the macvtap to go")

    def test_failed_start_halfway_removes_macvtap(self):
        """The second interface fails (no such bridge): the first one's
        macvtap is removed, nothing is left."""
        self.setup_veth()
        self.assert_start_refused("InvalidArgument", self.DIRECT + """
    <interface type='bridge'>
      <mac address='52:54:00:6a:10:12'/>
      <source bridge='vbt-nosuchbr'/>
      <model type='virtio'/>
    </interface>""", "net1")

    def test_openvswitch_without_ovs_vsctl(self):
        if shutil.which("ovs-vsctl"):
            self.skipTest("ovs-vsctl is installed here")
        self.ip("link", "add", "vbtovs0", "type", "bridge")
        self.assert_start_refused("NotSupported", """
    <interface type='bridge'>
      <mac address='52:54:00:6a:10:13'/>
      <source bridge='vbtovs0'/>
      <virtualport type='openvswitch'/>
      <model type='virtio'/>
    </interface>""", "ovs-vsctl", status=False)


class EthernetTest(InterfaceTestCase):
    def test_unmanaged_tap_kept(self):
        tap = f"vbttap{self.tag}"
        self.ip("tuntap", "add", "dev", tap, "mode", "tap", "vnet_hdr")
        self.ip("addr", "add", "10.152.0.1/24", "dev", tap)
        self.ip("link", "set", tap, "up")
        self.dnsmasq(tap, 152)
        path = self.start(f"""
    <interface type='ethernet'>
      <mac address='52:54:00:6a:10:21'/>
      <target dev='{tap}' managed='no'/>
      <model type='virtio'/>
    </interface>""")
        self.assertIn(f"<target dev='{tap}' managed='no'/>", self.live_xml(path))
        self.wait_lease(152)
        self.destroy(path)
        time.sleep(0.5)
        self.assertIn(tap, self.links())
        self.assertIn(f"<target dev='{tap}' managed='no'/>", self.live_xml(path))


class EthernetIpTest(InterfaceTestCase):
    """<interface type='ethernet'><source><ip/><route/></source>: the host side."""

    def addrs_of(self, dev):
        out = self.ip("-j", "addr", "show", "dev", dev).stdout
        return {(a["local"], a["prefixlen"], a.get("address"))
                for link in json.loads(out) for a in link["addr_info"]}

    def routes_of(self, dev):
        return self.ip("-d", "route", "show", "dev", dev, check=False).stdout

    def test_managed_tap_addresses_route_and_guest_ping(self):
        tap = f"vbteth{self.tag}"
        path = self.start(f"""
    <interface type='ethernet'>
      <mac address='52:54:00:6a:10:31'/>
      <source>
        <ip address='10.155.0.1' prefix='24'/>
        <ip address='fd00:155::1' prefix='64' family='ipv6'/>
        <route address='10.156.0.0' prefix='24' gateway='10.155.0.2' metric='7'/>
      </source>
      <target dev='{tap}'/>
      <model type='virtio'/>
    </interface>""")
        addrs = {(a, p) for a, p, _ in self.addrs_of(tap)}
        self.assertIn(("10.155.0.1", 24), addrs)
        self.assertIn(("fd00:155::1", 64), addrs)
        self.assertIn("10.156.0.0/24 via 10.155.0.2 proto boot scope global metric 7",
                      self.routes_of(tap))
        # what the host serves on that address reaches the guest: its lease and its ping
        self.dnsmasq(tap, 155)
        self.wait_lease(155)
        # the definition keeps them as written (libvirt's place: inside <source>)
        live = self.live_xml(path)
        self.assertIn("<route address='10.156.0.0' prefix='24' gateway='10.155.0.2' "
                      "metric='7'/>", live)
        self.destroy(path)
        eventually(lambda: tap not in self.links(), what="the tap to go")
        self.assertNotIn("10.156.0.0/24", self.a.run(["ip", "route", "show"]).stdout)

    def test_unmanaged_tap_keeps_them_and_starts_again(self):
        tap = f"vbtetu{self.tag}"
        self.ip("tuntap", "add", "dev", tap, "mode", "tap", "vnet_hdr")
        self.ip("link", "set", tap, "up")
        xml = f"""
    <interface type='ethernet'>
      <mac address='52:54:00:6a:10:32'/>
      <source>
        <ip address='10.157.0.1' prefix='32' peer='10.157.0.2'/>
        <route address='10.158.0.0' prefix='16' gateway='10.157.0.2'/>
      </source>
      <target dev='{tap}' managed='no'/>
      <model type='virtio'/>
    </interface>"""
        path = self.start(xml)
        self.assertIn(("10.157.0.1", 32, "10.157.0.2"), self.addrs_of(tap))
        self.assertIn("10.158.0.0/16 via 10.157.0.2 proto boot scope global", self.routes_of(tap))
        self.destroy(path)
        time.sleep(0.5)
        # as libvirt: the administrator's tap keeps what was set on it
        self.assertIn(tap, self.links())
        self.assertIn(("10.157.0.1", 32, "10.157.0.2"), self.addrs_of(tap))
        # and the next start does not fail on what is already there
        self.call(path, DOMAIN_IFACE, "Start", "u", (0,), conn=self.conn(self.a),
                  timeout=60000)
        self.assertIn("10.158.0.0/16 via 10.157.0.2 proto boot scope global", self.routes_of(tap))
        self.destroy(path)

    def test_refused_route_leaves_nothing(self):
        # the gateway is on no subnet of the tap: the kernel refuses the route
        tap = f"vbtetf{self.tag}"
        iface = f"""
    <interface type='ethernet'>
      <mac address='52:54:00:6a:10:33'/>
      <source>
        <ip address='10.159.0.1' prefix='24'/>
        <route address='10.160.0.0' prefix='24' gateway='10.99.99.1'/>
      </source>
      <target dev='{tap}'/>
      <model type='virtio'/>
    </interface>"""
        self.assert_start_refused("Failed", iface, "net0", "route to 10.160.0.0/24 via "
                                  "10.99.99.1")
        # an existing tap: the address this start added is taken away again
        self.ip("tuntap", "add", "dev", tap, "mode", "tap", "vnet_hdr")
        self.ip("link", "set", tap, "up")
        self.assert_start_refused("Failed", iface.replace(f"<target dev='{tap}'/>",
                                                          f"<target dev='{tap}' managed='no'/>"),
                                  "10.99.99.1")
        self.assertEqual([a for a in self.addrs_of(tap) if not a[0].startswith("fe80:")], [])

    def test_guest_side_ip_refused(self):
        self.assert_start_refused("NotSupported", """
    <interface type='ethernet'>
      <mac address='52:54:00:6a:10:34'/>
      <ip address='10.161.0.5' prefix='24'/>
      <model type='virtio'/>
    </interface>""", "guest side", "devices/interface[1]")


if __name__ == "__main__":
    vbtest.main()
