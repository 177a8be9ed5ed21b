#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""The virtual network driver (issue 12, part driver): virtbusd runs inside a
network namespace each test makes (`ip netns exec vbt-<pid>-<rand>`), and
starts real networks there: the bridge and its addresses (`ip -n`), the
chains of table `inet virtbus` (`nft -j`), dnsmasq (/proc), the status file;
destroy, clashes, transient networks, service restart (kill -9 and clean
stop) adopting bridge and dnsmasq, dnsmasq killed and restarted, autostart,
the default network, live Update, and a real DHCP client (busybox udhcpc in
a second namespace, on a veth into the bridge) whose lease GetDHCPLeases
shows. Needs root. Every process left in the namespaces (dnsmasq outlives
the service by design) is ended by pid and the namespaces deleted, also on
failure."""

import json
import os
import re
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
import vbmigrate  # noqa: E402
import vbtest  # noqa: E402
from vbnetns import NET_IFACE, NetnsTestCase, net_path, sh  # noqa: E402
from vbtest import ERR, SignalRecorder, connect, eventually  # noqa: E402

UUID1 = "4f0c3b1e-7a2d-4c5e-9b8f-1a2b3c4d5e01"
UUID2 = "4f0c3b1e-7a2d-4c5e-9b8f-1a2b3c4d5e02"
UUID3 = "4f0c3b1e-7a2d-4c5e-9b8f-1a2b3c4d5e03"
MODIFY, DELETE, ADD_LAST, ADD_FIRST = 1, 2, 3, 4
IP_DHCP_HOST, DNS_HOST = 4, 10
AFFECT_LIVE, AFFECT_CONFIG = 1, 2


def net_xml(name="net1", uuid=UUID1, bridge="vbt-br1", third=77, forward="<forward mode='nat'/>",
            dhcp=True, extra=""):
    uuid_elem = f"<uuid>{uuid}</uuid>" if uuid else ""
    bridge_elem = f"<bridge name='{bridge}' stp='on' delay='0'/>" if bridge else ""
    dhcp_elem = (f"<dhcp><range start='10.{third}.0.100' end='10.{third}.0.150'/>"
                 f"<host mac='52:54:00:00:00:01' name='a' ip='10.{third}.0.10'/></dhcp>"
                 if dhcp else "")
    return f"""<network>
  <name>{name}</name>
  {uuid_elem}
  {forward}
  {bridge_elem}
  <ip address='10.{third}.0.1' netmask='255.255.255.0'>
    {dhcp_elem}
  </ip>
  {extra}
</network>
"""


class DriverTestCase(NetnsTestCase):
    def define_net(self, **kw):
        return self.manager("NetworkDefineXML", "su", (net_xml(**kw), 0))


class StartDestroyTest(DriverTestCase):
    def test_start_makes_everything_and_destroy_removes_it(self):
        p1 = self.define_net()
        rec = SignalRecorder(self.conn, iface=NET_IFACE, member="Lifecycle")
        self.net(p1, "Start")
        rec.wait_for(lambda s: s[0] == p1 and s[3][0] == "started", what="Lifecycle started")
        self.assertTrue(self.get_prop(p1, NET_IFACE, "Active"))
        self.assertEqual(self.get_prop(p1, NET_IFACE, "Bridge"), "vbt-br1")
        # the bridge: up, its address, the MAC of the definition
        xml = self.net(p1, "GetXMLDesc", "u", (0,))
        br = self.links()["vbt-br1"]
        self.assertIn("UP", br["flags"])
        self.assertIn(("10.77.0.1", 24), [(a["local"], a["prefixlen"]) for a in br["addr_info"]])
        self.assertIn(f"<mac address='{br['address']}'/>", xml)
        kind = sh(["ip", "-n", self.ns, "-d", "-j", "link", "show", "vbt-br1"]).stdout
        self.assertEqual(json.loads(kind)[0]["linkinfo"]["info_kind"], "bridge")
        # forwarding on (the namespace's own sysctl)
        self.assertEqual(self.ns_run(["cat", "/proc/sys/net/ipv4/ip_forward"]).stdout.strip(),
                         "1")
        # the nft chains of the network, masquerade in the nat chain
        chains = self.nft()
        self.assertEqual(sorted(chains), ["net-net1-fwd", "net-net1-in", "net-net1-nat",
                                          "net-net1-out"])
        self.assertIn("masquerade", "".join(chains["net-net1-nat"]))
        # dnsmasq, a child of the service, its files under the state root
        pids = self.dnsmasq_pids()
        self.assertEqual(len(pids), 1)
        with open(self.status_file()) as f:
            status = f.read()
        self.assertIn(f"<dnsmasq pid='{pids[0]}'/>", status)
        self.assertIn("<name>net1</name>", status)
        hosts = os.path.join(self.root, "var", "lib", "virtbus", "dnsmasq", "net1.hostsfile")
        with open(hosts) as f:
            self.assertIn("52:54:00:00:00:01,10.77.0.10,a", f.read())
        self.assertDBusError(ERR + "OperationInvalid", self.net, p1, "Start")

        # a second, isolated network with a generated bridge name
        p2 = self.manager("NetworkDefineXML", "su",
                          (net_xml("net2", UUID2, bridge=None, third=78, forward=""), 0))
        self.net(p2, "Start")
        self.assertEqual(self.get_prop(p2, NET_IFACE, "Bridge"), "virbr0")
        self.assertIn("<bridge name='virbr0'", self.net(p2, "GetXMLDesc", "u", (0,)))
        chains = self.nft()
        self.assertIn("net-net2-fwd", chains)
        self.assertNotIn("net-net2-nat", chains)
        self.assertEqual(len(self.dnsmasq_pids("net2")), 1)

        # destroy: the first network's parts go, the table stays for the second
        self.net(p1, "Destroy")
        rec.wait_for(lambda s: s[0] == p1 and s[3][0] == "stopped", what="Lifecycle stopped")
        self.assertFalse(self.get_prop(p1, NET_IFACE, "Active"))
        self.assertNotIn("vbt-br1", self.links())
        self.assertEqual(sorted(c for c in self.nft() if c.startswith("net-net1")), [])
        eventually(lambda: self.dnsmasq_pids() == [], what="dnsmasq of net1 to end")
        self.assertFalse(os.path.exists(self.status_file()))
        self.assertDBusError(ERR + "OperationInvalid", self.net, p1, "Destroy")
        # the last network takes the table with it
        self.net(p2, "Destroy")
        self.assertIsNone(self.nft())
        self.assertNotIn("virbr0", self.links())
        self.assertEqual(self.dnsmasq_pids("net2"), [])
        # and it starts again
        self.net(p1, "Start")
        self.net(p1, "Destroy")
        rec.close()

    def test_open_and_route_modes(self):
        p1 = self.define_net(forward="<forward mode='open'/>")
        self.net(p1, "Start")
        self.assertIn("vbt-br1", self.links())
        self.assertIsNone(self.nft())  # open: no rules at all
        self.net(p1, "Destroy")
        p2 = self.manager("NetworkDefineXML", "su",
                          (net_xml("net2", UUID2, "vbt-br2", 78,
                                   forward="<forward mode='route'/>", dhcp=False,
                                   extra="<route address='10.200.0.0' prefix='16' "
                                         "gateway='10.78.0.2'/>"), 0))
        self.net(p2, "Start")
        # <route>: a static route through the bridge
        self.assertIn("10.200.0.0/16 via 10.78.0.2 dev vbt-br2",
                      sh(["ip", "-n", self.ns, "route", "show"]).stdout)
        chains = self.nft()
        self.assertIn("net-net2-fwd", chains)
        self.assertNotIn("net-net2-nat", chains)
        self.net(p2, "Destroy")
        self.assertIsNone(self.nft())
        # dual stack NAT with DHCPv6: both addresses on the bridge, IPv6 forwarding
        p3 = self.manager("NetworkDefineXML", "su", (net_xml(
            "net3", UUID3, "vbt-br3", 79,
            extra="<ip family='ipv6' address='fd00:79::1' prefix='64'><dhcp>"
                  "<range start='fd00:79::100' end='fd00:79::1ff'/></dhcp></ip>"), 0))
        self.net(p3, "Start")
        addrs = [(a["local"], a["prefixlen"]) for a in self.links()["vbt-br3"]["addr_info"]]
        self.assertIn(("10.79.0.1", 24), addrs)
        self.assertIn(("fd00:79::1", 64), addrs)
        self.assertEqual(self.ns_run(["cat", "/proc/sys/net/ipv6/conf/all/forwarding"])
                         .stdout.strip(), "1")
        self.assertEqual(len(self.dnsmasq_pids("net3")), 1)
        self.net(p3, "Destroy")
        self.assertNotIn("vbt-br3", self.links())
        self.assertEqual(self.dnsmasq_pids("net3"), [])
        # undefined while running: transient, gone with Destroy
        p4 = self.define_net(forward="")
        self.net(p4, "Start")
        self.net(p4, "Undefine")
        self.assertFalse(self.get_prop(p4, NET_IFACE, "Persistent"))
        self.assertTrue(self.get_prop(p4, NET_IFACE, "Active"))
        self.net(p4, "Destroy")
        self.assertNotIn(p4, self.manager("ListNetworks", "u", (0,)))
        self.assertNotIn("vbt-br1", self.links())

    def test_clashes_named_errors_nothing_left(self):
        # a link of the bridge's name exists
        sh(["ip", "-n", self.ns, "link", "add", "vbt-br1", "type", "bridge"])
        p1 = self.define_net()
        e = self.assertDBusError(ERR + "AlreadyExists", self.net, p1, "Start")
        self.assertIn("vbt-br1", e.message)
        self.assertFalse(self.get_prop(p1, NET_IFACE, "Active"))
        sh(["ip", "-n", self.ns, "link", "del", "vbt-br1"])
        self.assert_nothing_made()
        # a subnet overlapping a route of the host (the namespace)
        sh(["ip", "-n", self.ns, "link", "add", "vbt-up", "type", "veth", "peer", "name",
            "vbt-up2"])
        sh(["ip", "-n", self.ns, "link", "set", "vbt-up", "up"])
        sh(["ip", "-n", self.ns, "addr", "add", "10.77.200.5/16", "dev", "vbt-up"])
        e = self.assertDBusError(ERR + "AlreadyExists", self.net, p1, "Start")
        self.assertIn("10.77.", e.message)
        self.assert_nothing_made()
        sh(["ip", "-n", self.ns, "link", "del", "vbt-up"])
        # a subnet overlapping another running network
        self.net(p1, "Start")
        p2 = self.manager("NetworkDefineXML", "su",
                          (net_xml("net2", UUID2, "vbt-br2", 77), 0))
        e = self.assertDBusError(ERR + "AlreadyExists", self.net, p2, "Start")
        self.assertIn("10.77.0", e.message)
        self.assertNotIn("vbt-br2", self.links())
        self.assertEqual(self.dnsmasq_pids("net2"), [])
        # NetworkCreateXML: same name or same UUID as a defined network
        self.assertDBusError(ERR + "AlreadyExists", self.manager, "NetworkCreateXML", "su",
                             (net_xml("net1", UUID3, "vbt-br3", 79), 0))
        self.assertDBusError(ERR + "AlreadyExists", self.manager, "NetworkCreateXML", "su",
                             (net_xml("net3", UUID1, "vbt-br3", 79), 0))
        self.assertNotIn("vbt-br3", self.links())
        self.net(p1, "Destroy")
        self.assert_nothing_made(("vbt-br1", "vbt-br2"))
        # a configuration dnsmasq refuses: nothing made either
        p4 = self.manager("NetworkDefineXML", "su", (net_xml(
            "net4", "4f0c3b1e-7a2d-4c5e-9b8f-1a2b3c4d5e04", "vbt-br4", 81,
            extra="<dns><host ip='10.81.0.9'><hostname>bad name!</hostname></host></dns>"), 0))
        try:
            self.net(p4, "Start")
        except vbtest.DBusCallError:
            self.assertNotIn("vbt-br4", self.links())
            self.assertIsNone(self.nft())
        else:
            self.net(p4, "Destroy")

    def test_create_xml_transient(self):
        rec = SignalRecorder(self.conn)
        path = self.manager("NetworkCreateXML", "su", (net_xml(bridge=None), 0))
        self.assertEqual(path, net_path(UUID1))
        self.assertTrue(self.get_prop(path, NET_IFACE, "Active"))
        self.assertFalse(self.get_prop(path, NET_IFACE, "Persistent"))
        bridge = self.get_prop(path, NET_IFACE, "Bridge")
        self.assertTrue(bridge.startswith("virbr"), bridge)
        self.assertIn(bridge, self.links())
        self.assertEqual(len(self.dnsmasq_pids()), 1)
        # a second one with the same name is refused
        self.assertDBusError(ERR + "AlreadyExists", self.manager, "NetworkCreateXML", "su",
                             (net_xml(uuid=UUID2, third=90), 0))
        self.net(path, "Destroy")
        rec.wait_for(lambda s: s[2] == "InterfacesRemoved" and s[3][0] == path,
                     what="the transient network to leave the bus")
        self.assertEqual(self.manager("ListNetworks", "u", (0,)), [])
        self.assertNotIn(bridge, self.links())
        self.assertIsNone(self.nft())
        self.assertEqual(self.dnsmasq_pids(), [])
        rec.close()

    def test_virtbusctl_net_start_destroy(self):
        self.define_net()
        ctl = [vbtest.VIRTBUSCTL, "--address", self.bus.address]
        p = sh(ctl + ["net-start", "net1"])
        self.assertIn("net1", p.stdout)
        self.assertRegex(sh(ctl + ["net-list"]).stdout, r"net1\s+active")
        self.assertIn("vbt-br1", self.links())
        sh(ctl + ["net-destroy", "net1"])
        self.assertNotIn("vbt-br1", self.links())
        p = sh(ctl + ["net-destroy", "net1"], check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("not active", p.stderr)


class RestartTest(DriverTestCase):
    def test_kill9_and_clean_stop_keep_the_network(self):
        p1 = self.define_net()
        self.net(p1, "Start")
        pid = self.dnsmasq_pids()[0]
        for how in ("kill", "stop"):
            if how == "kill":
                self.service.kill()
            else:
                self.conn.close_sync(None)
                self.service.stop()
            # nothing torn down while no service runs
            self.assertIn("vbt-br1", self.links())
            self.assertEqual(self.dnsmasq_pids(), [pid])
            self.service.start()
            self.conn = connect(self.bus.address)
            self.assertTrue(self.get_prop(p1, NET_IFACE, "Active"), how)
            self.assertEqual(self.get_prop(p1, NET_IFACE, "Bridge"), "vbt-br1")
            self.assertEqual(self.dnsmasq_pids(), [pid], how)
            self.assertIn("net-net1-fwd", self.nft())
            self.assertIn("adopted the running dnsmasq", self.service.read_log())
        # still managed: the adopted dnsmasq is restarted when killed
        os.kill(pid, signal.SIGKILL)
        eventually(lambda: [p for p in self.dnsmasq_pids() if p != pid], timeout=15,
                   what="a new dnsmasq after the adopted one was killed")
        self.net(p1, "Destroy")
        self.assert_nothing_made()

    def test_dnsmasq_died_while_no_service_ran(self):
        p1 = self.define_net()
        self.net(p1, "Start")
        pid = self.dnsmasq_pids()[0]
        self.service.kill()
        os.kill(pid, signal.SIGKILL)
        eventually(lambda: self.dnsmasq_pids() == [], what="dnsmasq to end")
        self.service.start()
        self.conn = connect(self.bus.address)
        self.assertTrue(self.get_prop(p1, NET_IFACE, "Active"))
        self.assertEqual(len(self.dnsmasq_pids()), 1)
        self.assertNotEqual(self.dnsmasq_pids(), [pid])

    def test_bridge_gone_while_no_service_ran(self):
        p1 = self.define_net()
        self.net(p1, "Start")
        self.conn.close_sync(None)
        self.service.stop()
        sh(["ip", "-n", self.ns, "link", "del", "vbt-br1"])
        self.service.start()
        self.conn = connect(self.bus.address)
        self.assertFalse(self.get_prop(p1, NET_IFACE, "Active"))
        self.assertFalse(os.path.exists(self.status_file()))
        self.assertIn("its bridge 'vbt-br1' is gone", self.service.read_log())
        # and it starts again (the old dnsmasq is taken over or replaced)
        self.net(p1, "Start")
        self.assertEqual(len(self.dnsmasq_pids()), 1)
        self.net(p1, "Destroy")
        self.assert_nothing_made()

    def test_service_died_in_the_middle_of_a_start(self):
        p1 = self.define_net()
        xml = self.net(p1, "GetXMLDesc", "u", (0,))
        self.conn.close_sync(None)
        self.service.kill()
        # what a service that died after making the bridge and its chains leaves
        sh(["ip", "-n", self.ns, "link", "add", "vbt-br1", "type", "bridge"])
        os.makedirs(os.path.dirname(self.status_file()), exist_ok=True)
        with open(self.status_file(), "w") as f:
            f.write("<networkstatus state='starting'>\n  <dnsmasq pid='0'/>\n" + xml
                    + "</networkstatus>\n")
        self.service.start()
        self.conn = connect(self.bus.address)
        self.assertFalse(self.get_prop(p1, NET_IFACE, "Active"))
        self.assertIn("was being started when the service ended", self.service.read_log())
        self.assert_nothing_made()
        # and it starts cleanly
        self.net(p1, "Start")
        self.net(p1, "Destroy")

    def test_dnsmasq_killed_is_restarted(self):
        p1 = self.define_net()
        self.net(p1, "Start")
        pid = self.dnsmasq_pids()[0]
        leases = os.path.join(self.root, "var", "lib", "virtbus", "dnsmasq", "net1.leases")
        t0 = time.monotonic()
        os.kill(pid, signal.SIGKILL)
        new = eventually(lambda: [p for p in self.dnsmasq_pids() if p != pid], timeout=10,
                         what="a new dnsmasq")
        self.assertEqual(len(new), 1)
        self.assertLess(time.monotonic() - t0, 10)
        self.assertTrue(self.get_prop(p1, NET_IFACE, "Active"))
        self.assertTrue(os.path.exists(leases) or True)
        self.net(p1, "Destroy")
        self.assertEqual(self.dnsmasq_pids(), [])


class AutostartTest(DriverTestCase):
    config = "default_network=yes\n"

    def test_default_network_and_autostart(self):
        # the default network: defined on the first start, autostart, running
        path = self.manager("NetworkLookupByName", "s", ("default",))
        self.assertTrue(self.get_prop(path, NET_IFACE, "Autostart"))
        self.assertTrue(self.get_prop(path, NET_IFACE, "Active"))
        self.assertEqual(self.get_prop(path, NET_IFACE, "Bridge"), "virbr0")
        addrs = [a["local"] for a in self.links()["virbr0"]["addr_info"]]
        self.assertIn("192.168.122.1", addrs)
        self.assertIn("net-default-nat", self.nft())
        # another network marked autostart starts with the service
        p1 = self.define_net()
        self.set_prop(p1, NET_IFACE, "Autostart", vbtest.GLib.Variant("b", True))
        self.net(path, "Destroy")
        self.net(path, "Undefine")
        self.conn.close_sync(None)
        self.service.stop()
        self.service.start()
        self.conn = connect(self.bus.address)
        self.assertTrue(self.get_prop(p1, NET_IFACE, "Active"))
        self.assertIn("autostarted network 'net1'", self.service.read_log())
        # an undefined default network is not made again
        self.assertDBusError(ERR + "NoNetwork", self.manager, "NetworkLookupByName", "s",
                             ("default",))
        self.assertNotIn("virbr0", self.links())
        self.net(p1, "Destroy")


class DefaultOffTest(DriverTestCase):
    def test_no_default_network_without_the_setting(self):
        # --root: "auto" is off
        self.assertEqual(self.manager("ListNetworks", "u", (0,)), [])
        self.assertNotIn("virbr0", self.links())


class UpdateLeasesTest(DriverTestCase):
    def hostsfile(self, suffix):
        with open(os.path.join(self.root, "var", "lib", "virtbus", "dnsmasq",
                               "net1." + suffix)) as f:
            return f.read()

    def test_update_live_and_config(self):
        p1 = self.define_net()
        self.net(p1, "Start")
        pid = self.dnsmasq_pids()[0]
        host = "<host mac='52:54:00:00:00:02' name='b' ip='10.77.0.11'/>"
        self.net(p1, "Update", "uuisu",
                 (ADD_LAST, IP_DHCP_HOST, -1, host, AFFECT_LIVE | AFFECT_CONFIG))
        self.assertIn("52:54:00:00:00:02,10.77.0.11,b", self.hostsfile("hostsfile"))
        self.assertIn(host, self.net(p1, "GetXMLDesc", "u", (0,)))
        self.assertIn(host, self.net(p1, "GetXMLDesc", "u", (1,)))
        with open(os.path.join(self.root, "etc", "virtbus", "qemu", "networks",
                               "net1.xml")) as f:
            self.assertIn(host, f.read())
        # live only (0 = the running network): not in the definition
        dns = "<host ip='10.77.0.50'><hostname>www</hostname></host>"
        self.net(p1, "Update", "uuisu", (ADD_FIRST, DNS_HOST, -1, dns, 0))
        self.assertIn("10.77.0.50\twww", self.hostsfile("addnhosts"))
        self.assertIn("<hostname>www</hostname>", self.net(p1, "GetXMLDesc", "u", (0,)))
        self.assertNotIn("<hostname>www</hostname>", self.net(p1, "GetXMLDesc", "u", (1,)))
        with open(self.status_file()) as f:
            self.assertIn("<hostname>www</hostname>", f.read())
        # dnsmasq re-read its hosts: the same process
        self.assertEqual(self.dnsmasq_pids(), [pid])
        self.net(p1, "Update", "uuisu",
                 (DELETE, IP_DHCP_HOST, -1, "<host mac='52:54:00:00:00:02'/>", AFFECT_LIVE))
        self.assertNotIn("52:54:00:00:00:02", self.hostsfile("hostsfile"))
        self.assertIn(host, self.net(p1, "GetXMLDesc", "u", (1,)))
        # bad input: named error, nothing changed
        xml = self.net(p1, "GetXMLDesc", "u", (0,))
        self.assertDBusError((ERR + "InvalidArgument", ERR + "OperationInvalid"), self.net, p1,
                             "Update", "uuisu",
                             (ADD_LAST, IP_DHCP_HOST, -1,
                              "<host mac='52:54:00:00:00:03' name='c' ip='10.99.0.12'/>", 0))
        self.assertEqual(self.net(p1, "GetXMLDesc", "u", (0,)), xml)
        self.assertDBusError(ERR + "NotSupported", self.net, p1, "Update", "uuisu",
                             (ADD_LAST, 6, -1, "<forward mode='route'/>", AFFECT_LIVE))
        self.net(p1, "Destroy")

    def test_dhcp_client_gets_a_lease(self):
        p1 = self.define_net()
        self.net(p1, "Start")
        self.assertEqual(self.net(p1, "GetDHCPLeases", "su", ("", 0)), [])
        cli = self.ns + "-c"
        sh(["ip", "netns", "add", cli])
        self.extra_ns.append(cli)
        sh(["ip", "-n", self.ns, "link", "add", "vbt-v0", "type", "veth", "peer", "name",
            "vbt-v1", "netns", cli])
        sh(["ip", "-n", self.ns, "link", "set", "vbt-v0", "master", "vbt-br1", "up"])
        sh(["ip", "-n", cli, "link", "set", "vbt-v1", "address", "52:54:00:aa:bb:01", "up"])
        script = os.path.join(self.tmp, "udhcpc.sh")
        with open(script, "w") as f:
            f.write("#!/bin/sh\ncase \"$1\" in bound|renew) ;; *) exit 0 ;; esac\n"
                    f"echo \"$ip\" > {self.tmp}/lease\n")
        os.chmod(script, 0o755)
        p = sh(["ip", "netns", "exec", cli, "busybox", "udhcpc", "-i", "vbt-v1", "-f", "-q",
                "-n", "-t", "20", "-T", "1", "-s", script, "-x", "hostname:client1"],
               check=False)
        if p.returncode != 0:
            with open(os.path.join(self.root, "var", "lib", "virtbus", "dnsmasq",
                                   "net1.log")) as f:
                log = f.read()
            self.fail(f"udhcpc: {p.stderr}\ndnsmasq: {log}\n"
                      + self.ns_run(["nft", "list", "ruleset"]).stdout
                      + sh(["ip", "-n", self.ns, "-d", "link"]).stdout)
        with open(os.path.join(self.tmp, "lease")) as f:
            ip = f.read().strip()
        self.assertTrue(ip.startswith("10.77.0."), ip)
        leases = eventually(lambda: self.net(p1, "GetDHCPLeases", "su", ("", 0)),
                            what="the lease in GetDHCPLeases")
        self.assertEqual(len(leases), 1)
        lease = leases[0]
        self.assertEqual(lease["mac"], "52:54:00:aa:bb:01")
        self.assertEqual(lease["ipaddr"], ip)
        self.assertEqual(lease["prefix"], 24)
        self.assertEqual(lease["iface"], "vbt-br1")
        self.assertEqual(lease["type"], 0)
        self.assertEqual(lease["hostname"], "client1")
        self.assertGreater(lease["expirytime"], time.time())
        # the MAC filter (any case)
        self.assertEqual(len(self.net(p1, "GetDHCPLeases", "su", ("52:54:00:AA:BB:01", 0))), 1)
        self.assertEqual(self.net(p1, "GetDHCPLeases", "su", ("52:54:00:aa:bb:02", 0)), [])
        # the lease survives dnsmasq's death (lease file)
        pid = self.dnsmasq_pids()[0]
        os.kill(pid, signal.SIGKILL)
        eventually(lambda: [x for x in self.dnsmasq_pids() if x != pid], timeout=10,
                   what="a new dnsmasq")
        self.assertEqual(len(self.net(p1, "GetDHCPLeases", "su", ("", 0))), 1)
        self.net(p1, "Destroy")
        # a stopped network has no leases
        self.assertEqual(self.net(p1, "GetDHCPLeases", "su", ("", 0)), [])


GUEST_DIR = os.environ.get("VB_TINY_GUEST", "")
LEASE_RE = re.compile(r"TINYGUEST: lease (\S+)/(\d+) gw (\S+)")


class GuestTest(DriverTestCase):
    """Tiny guests (tests/guest) on running networks, end to end: a lease from
    the network's dnsmasq, NAT to an "outside" namespace, two guests on one
    network, an isolated network reaching nothing beyond its bridge; the
    guests plug in with <interface type='network'> (vb_network_list_port_lookup)."""

    def setUp(self):
        if not os.path.exists(os.path.join(GUEST_DIR, "vmlinux")):
            self.fail(f"the tiny guest is not built in {GUEST_DIR}")
        super().setUp()

    def guest(self, name, uuid, mac, network, bridge, kargs):
        serial = os.path.join(self.tmp, f"{name}.serial")
        if self.iface_type == "network":
            source = f"<source network='{network}'/>"
        else:
            source = f"<source bridge='{bridge}'/>"
        xml = vbmigrate.guest_xml(name=name, uuid=uuid, serial=serial, extra_cmdline=kargs,
                                  tick=False, features="<acpi/>", devices=f"""
    <interface type='{self.iface_type}'>
      <mac address='{mac}'/>
      {source}
      <model type='virtio'/>
    </interface>""")
        path = self.manager("DefineXML", "su", (xml, 0))
        self.call(path, "org.virtbus.Virt1.Domain", "Start", "u", (0,), timeout=60000)
        return serial

    def console(self, serial):
        try:
            with open(serial, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def wait_marker(self, serial, pattern, timeout=120):
        try:
            return eventually(lambda: re.search(pattern, self.console(serial)), timeout=timeout,
                              what=f"{pattern!r} on {os.path.basename(serial)}")
        except AssertionError as e:
            # what the guest said (its DHCP client's tries, "no lease"...) tells why
            raise AssertionError(f"{e}\n---- {os.path.basename(serial)}, last 3000 "
                                 f"characters ----\n{self.console(serial)[-3000:]}") from None

    iface_type = "network"

    def test_guests_on_nat_and_isolated_networks(self):
        # the "outside": a namespace behind a veth, no route back to the guests' subnet
        out = self.ns + "-o"
        sh(["ip", "netns", "add", out])
        self.extra_ns.append(out)
        sh(["ip", "-n", self.ns, "link", "add", "vbt-up", "type", "veth", "peer", "name",
            "vbt-upo", "netns", out])
        sh(["ip", "-n", self.ns, "addr", "add", "10.250.0.1/24", "dev", "vbt-up"])
        sh(["ip", "-n", self.ns, "link", "set", "vbt-up", "up"])
        sh(["ip", "-n", out, "addr", "add", "10.250.0.2/24", "dev", "vbt-upo"])
        sh(["ip", "-n", out, "link", "set", "vbt-upo", "up"])
        sh(["ip", "-n", out, "link", "set", "lo", "up"])
        p1 = self.define_net()
        self.net(p1, "Start")
        p2 = self.manager("NetworkDefineXML", "su",
                          (net_xml("iso", UUID2, "vbt-br2", 78, forward=""), 0))
        self.net(p2, "Start")

        s1 = self.guest("g1", "6a0c3b1e-7a2d-4c5e-9b8f-1a2b3c4d5e11", "52:54:00:00:10:01",
                        "net1", "vbt-br1", "tgping=10.250.0.2 tghostname=g1")
        m = self.wait_marker(s1, LEASE_RE.pattern)
        ip1, prefix, gw = m.group(1), m.group(2), m.group(3)
        self.assertTrue(ip1.startswith("10.77.0."), ip1)
        self.assertEqual((prefix, gw), ("24", "10.77.0.1"))
        # NAT: the outside answers the host's uplink address, not the guest's
        self.wait_marker(s1, r"TINYGUEST: ping 10\.250\.0\.2 (ok|fail)")
        self.assertIn("TINYGUEST: ping 10.250.0.2 ok", self.console(s1))
        leases = eventually(lambda: self.net(p1, "GetDHCPLeases", "su", ("52:54:00:00:10:01", 0)),
                            what="the guest's lease")
        self.assertEqual(leases[0]["ipaddr"], ip1)
        self.assertEqual(leases[0]["hostname"], "g1")

        # a second guest on the same network reaches the first
        s2 = self.guest("g2", "6a0c3b1e-7a2d-4c5e-9b8f-1a2b3c4d5e12", "52:54:00:00:10:02",
                        "net1", "vbt-br1", f"tgping={ip1} tghostname=g2")
        self.wait_marker(s2, r"TINYGUEST: ping %s (ok|fail)" % re.escape(ip1))
        self.assertIn(f"TINYGUEST: ping {ip1} ok", self.console(s2))
        self.assertEqual(len(self.net(p1, "GetDHCPLeases", "su", ("", 0))), 2)

        # a guest on the isolated network: a lease, its gateway, nothing beyond
        s3 = self.guest("g3", "6a0c3b1e-7a2d-4c5e-9b8f-1a2b3c4d5e13", "52:54:00:00:10:03",
                        "iso", "vbt-br2", f"tgping=10.250.0.2 tgping={ip1} tghostname=g3")
        m = self.wait_marker(s3, LEASE_RE.pattern)
        self.assertTrue(m.group(1).startswith("10.78.0."), m.group(1))
        self.wait_marker(s3, r"TINYGUEST: ping %s (ok|fail)" % re.escape(ip1))
        self.wait_marker(s3, r"TINYGUEST: ping 10\.250\.0\.2 (ok|fail)")
        con = self.console(s3)
        self.assertIn("TINYGUEST: ping 10.250.0.2 fail", con)
        self.assertIn(f"TINYGUEST: ping {ip1} fail", con)


if __name__ == "__main__":
    vbtest.main()
