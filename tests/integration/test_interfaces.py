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
- a service restart while running keeps the macvtap; the later destroy
  removes it;
- a failed start (a missing bridge; <driver name='vhost'> without
  /dev/vhost-net) leaves no link, no QEMU, no status."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
import vbhosts  # noqa: E402
import vbmigrate  # noqa: E402
import vbtest  # noqa: E402
from vbtest import DOMAIN_IFACE, eventually  # noqa: E402

UUID = "5b7e0c1a-2d3f-4a5b-8c6d-7e8f9a0b1c21"
MAC = "52:54:00:6a:10:01"


class InterfaceTestCase(vbhosts.MultiHostTestCase):
    n_hosts = 1

    def setUp(self):
        super().setUp()
        vbmigrate.require_guest(self)
        self.procs = []
        self.extra_netns = []
        self.serial = os.path.join(self.a.dir, "serial.log")
        self.tag = f"{os.getpid() % 10000}"

    def tearDown(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
            p.wait()
        try:
            self.a.destroy_all()
        finally:
            for ns in self.extra_netns:
                vbhosts._kill_netns_processes(ns, grace=0)
                vbhosts._delete_netns(ns)
            super().tearDown()

    # -- helpers --
    def ip(self, *args, ns=None, check=True):
        argv = ["ip"] + (["-n", ns] if ns else []) + list(args)
        if ns is None:
            return self.a.run(argv, check=check)
        return subprocess.run(argv, capture_output=True, text=True, check=check)

    def links(self, ns=None):
        out = self.ip("-j", "link", "show", ns=ns).stdout
        return {link["ifname"]: link for link in json.loads(out or "[]")}

    def dnsmasq(self, iface, third, ns=None):
        """A DHCP server on @iface (10.<third>.0.1/24) in the host's
        namespace or @ns, ended by pid at the end of the test."""
        argv = ["dnsmasq", "--no-daemon", "--conf-file=/dev/null", "--port=0",
                f"--interface={iface}", "--bind-interfaces", "--leasefile-ro",
                "--pid-file=", f"--dhcp-range=10.{third}.0.10,10.{third}.0.50,1h",
                f"--dhcp-option=3,10.{third}.0.1"]
        if ns is None:
            argv = self.a.argv(argv)
        else:
            argv = ["ip", "netns", "exec", ns] + argv
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        self.procs.append(p)
        time.sleep(0.3)
        self.assertIsNone(p.poll(), "dnsmasq did not start")
        return p

    def markers(self):
        return vbmigrate.read_text(self.serial)

    def wait_lease(self, third):
        eventually(lambda: f"TINYGUEST: ping 10.{third}.0.1 " in self.markers()
                   or "TINYGUEST: no lease" in self.markers(), timeout=90,
                   what="the guest's lease and ping")
        text = self.markers()
        self.assertIn(f"TINYGUEST: lease 10.{third}.0.", text)
        self.assertIn(f"TINYGUEST: ping 10.{third}.0.1 ok", text)

    def start(self, iface_xml, uuid=UUID):
        xml = vbmigrate.guest_xml(name="vm1", uuid=uuid, serial=self.serial, tick=False,
                                  devices=iface_xml)
        path = self.manager(self.a, "DefineXML", "su", (xml, 0))
        self.call(path, DOMAIN_IFACE, "Start", "u", (0,), conn=self.conn(self.a),
                  timeout=60000)
        return path

    def live_xml(self, path):
        return self.call(path, DOMAIN_IFACE, "GetXMLDesc", "u", (0,),
                         conn=self.conn(self.a))[0]

    def destroy(self, path):
        self.call(path, DOMAIN_IFACE, "Destroy", "u", (0,), conn=self.conn(self.a))

    def qemu_pid(self):
        pids = vbtest.qemus_under(self.a.dir)
        self.assertEqual(len(pids), 1, pids)
        return next(iter(pids))

    def status_text(self):
        for root, _, files in os.walk(self.a.root):
            for f in files:
                if f == "vm1.xml" and "run" in root:
                    with open(os.path.join(root, f)) as fh:
                        return fh.read()
        return ""

    def peer_netns(self):
        ns = f"vbt-if-{os.getpid()}-{len(self.extra_netns)}"
        subprocess.run(["ip", "netns", "add", ns], check=True)
        self.extra_netns.append(ns)
        self.ip("link", "set", "lo", "up", ns=ns)
        return ns


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

    def make_bridge(self, third):
        br = f"vbtbr{self.tag}"
        self.ip("link", "add", br, "type", "bridge")
        self.ip("addr", "add", f"10.{third}.0.1/24", "dev", br)
        self.ip("link", "set", br, "up")
        return br

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
        xml = vbmigrate.guest_xml(name="vm1", uuid=UUID, serial=self.serial, tick=False,
                                  devices=f"""
    <interface type='bridge'>
      <mac address='52:54:00:6a:10:06'/>
      <source bridge='{br}'/>
      <bandwidth><outbound average='500'/></bandwidth>
      <model type='virtio'/>
    </interface>""")
        path = self.manager(self.a, "DefineXML", "su", (xml, 0))
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
        before = set(self.links())
        xml = vbmigrate.guest_xml(name="vm1", uuid=UUID, serial=self.serial, tick=False,
                                  devices="""
    <interface type='bridge'>
      <mac address='52:54:00:6a:10:02'/>
      <source bridge='vbt-nosuchbr'/>
      <model type='virtio'/>
    </interface>""")
        path = self.manager(self.a, "DefineXML", "su", (xml, 0))
        e = self.assertDBusError("InvalidArgument", self.call, path, DOMAIN_IFACE, "Start", "u",
                                 (0,), conn=self.conn(self.a))
        self.assertIn("vbt-nosuchbr", e.message)
        self.assertEqual(set(self.links()), before)
        self.assertEqual(vbtest.qemus_under(self.a.dir), {})
        self.assertEqual(self.status_text(), "")

    def test_inactive_network_leaves_nothing(self):
        before = set(self.links())
        xml = vbmigrate.guest_xml(name="vm1", uuid=UUID, serial=self.serial, tick=False,
                                  devices="""
    <interface type='network'>
      <mac address='52:54:00:6a:10:04'/>
      <source network='vbt-nosuchnet'/>
      <model type='virtio'/>
    </interface>""")
        path = self.manager(self.a, "DefineXML", "su", (xml, 0))
        with self.assertRaises(vbtest.DBusCallError) as cm:
            self.call(path, DOMAIN_IFACE, "Start", "u", (0,), conn=self.conn(self.a))
        self.assertIn("vbt-nosuchnet", cm.exception.message)
        self.assertIn("net0", cm.exception.message)
        self.assertEqual(set(self.links()), before)
        self.assertEqual(vbtest.qemus_under(self.a.dir), {})
        self.assertEqual(self.status_text(), "")

    def test_vhost_asked_without_vhost_net_leaves_nothing(self):
        if os.path.exists("/dev/vhost-net"):
            self.skipTest("this host has /dev/vhost-net")
        br = f"vbtbr{self.tag}"
        self.ip("link", "add", br, "type", "bridge")
        before = set(self.links())
        xml = vbmigrate.guest_xml(name="vm1", uuid=UUID, serial=self.serial, tick=False,
                                  devices=f"""
    <interface type='bridge'>
      <mac address='52:54:00:6a:10:03'/>
      <source bridge='{br}'/>
      <model type='virtio'/>
      <driver name='vhost' queues='2'/>
    </interface>""")
        path = self.manager(self.a, "DefineXML", "su", (xml, 0))
        e = self.assertDBusError("NotSupported", self.call, path, DOMAIN_IFACE, "Start", "u",
                                 (0,), conn=self.conn(self.a))
        self.assertIn("vhost", e.message)
        self.assertEqual(set(self.links()), before)
        self.assertEqual(vbtest.qemus_under(self.a.dir), {})


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
        before = set(self.links())
        xml = vbmigrate.guest_xml(name="vm1", uuid=UUID, serial=self.serial, tick=False,
                                  devices=self.DIRECT + """
    <interface type='bridge'>
      <mac address='52:54:00:6a:10:12'/>
      <source bridge='vbt-nosuchbr'/>
      <model type='virtio'/>
    </interface>""")
        path = self.manager(self.a, "DefineXML", "su", (xml, 0))
        e = self.assertDBusError("InvalidArgument", self.call, path, DOMAIN_IFACE, "Start",
                                 "u", (0,), conn=self.conn(self.a))
        self.assertIn("net1", e.message)
        self.assertEqual(set(self.links()), before)
        self.assertEqual(vbtest.qemus_under(self.a.dir), {})
        self.assertEqual(self.status_text(), "")

    def test_openvswitch_without_ovs_vsctl(self):
        if shutil.which("ovs-vsctl"):
            self.skipTest("ovs-vsctl is installed here")
        self.ip("link", "add", "vbtovs0", "type", "bridge")
        before = set(self.links())
        xml = vbmigrate.guest_xml(name="vm1", uuid=UUID, serial=self.serial, tick=False,
                                  devices="""
    <interface type='bridge'>
      <mac address='52:54:00:6a:10:13'/>
      <source bridge='vbtovs0'/>
      <virtualport type='openvswitch'/>
      <model type='virtio'/>
    </interface>""")
        path = self.manager(self.a, "DefineXML", "su", (xml, 0))
        e = self.assertDBusError("NotSupported", self.call, path, DOMAIN_IFACE, "Start",
                                 "u", (0,), conn=self.conn(self.a))
        self.assertIn("ovs-vsctl", e.message)
        self.assertEqual(set(self.links()), before)


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


if __name__ == "__main__":
    vbtest.main()
