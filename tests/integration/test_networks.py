#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Virtual networks on the bus (issue 12): org.virtbus.Virt1.Network objects
and the Manager's Network* methods of the real virtbusd on a private bus:
define, redefine, lookups, list flags, XML round trip, autostart, Update of
the definition, undefine, persistence across a restart, and the named
errors of bad input. virtbusd runs in a network namespace the test makes
(vbnetns.py): an autostart network starts with the service;
test_network_driver.py tests running networks."""

import os
import sys
import uuid as uuidlib

sys.path.insert(0, os.path.dirname(__file__))
import vbtest  # noqa: E402
from vbnetns import NetnsTestCase  # noqa: E402
from vbtest import ERR, GLib, SignalRecorder, connect, eventually  # noqa: E402

NET_IFACE = "org.virtbus.Virt1.Network"
UUID1 = "8d1c6a3e-5b2f-4e1a-9c7d-2f3e4a5b6c01"
UUID2 = "8d1c6a3e-5b2f-4e1a-9c7d-2f3e4a5b6c02"
INACTIVE, ACTIVE, PERSISTENT, TRANSIENT, AUTOSTART, NO_AUTOSTART = 1, 2, 4, 8, 16, 32
MODIFY, DELETE, ADD_LAST, ADD_FIRST = 1, 2, 3, 4
IP_DHCP_HOST, DNS_HOST = 4, 10


def net_path(uuid):
    return "/org/virtbus/Virt1/network/" + uuid.replace("-", "_")


def net_xml(name="net1", uuid=UUID1, bridge="vbt-br1", third=77, extra=""):
    uuid_elem = f"<uuid>{uuid}</uuid>" if uuid else ""
    bridge_elem = f"<bridge name='{bridge}' stp='on' delay='0'/>" if bridge else ""
    return f"""<network>
  <name>{name}</name>
  {uuid_elem}
  <forward mode='nat'>
    <nat><port start='1024' end='65535'/></nat>
  </forward>
  {bridge_elem}
  <domain name='{name}.test' localOnly='yes'/>
  <ip address='10.{third}.0.1' netmask='255.255.255.0'>
    <dhcp>
      <range start='10.{third}.0.2' end='10.{third}.0.254'/>
      <host mac='52:54:00:00:00:01' name='a' ip='10.{third}.0.10'/>
    </dhcp>
  </ip>
  {extra}
</network>
"""


class NetworkTestCase(NetnsTestCase):
    """In a network namespace of its own: an autostart network starts when
    the service restarts."""

    def assertDBusError(self, name, fn, *args, **kw):
        """@name: one error name, or a tuple of the acceptable ones."""
        with self.assertRaises(vbtest.DBusCallError) as cm:
            fn(*args, **kw)
        names = name if isinstance(name, tuple) else (name,)
        self.assertIn(cm.exception.name, names, cm.exception.message)
        return cm.exception

    def net(self, path, method, sig=None, args=(), **kw):
        r = self.call(path, NET_IFACE, method, sig, args, **kw)
        return r[0] if r and len(r) == 1 else r

    def define_net(self, xml=None, **kw):
        return self.manager("NetworkDefineXML", "su", (xml or net_xml(**kw), 0))


class DefineTest(NetworkTestCase):
    def test_define_exports_the_object(self):
        rec = SignalRecorder(self.conn)
        path = self.define_net()
        self.assertEqual(path, net_path(UUID1))
        props = self.get_all(path, NET_IFACE)
        self.assertEqual(props["Name"], "net1")
        self.assertEqual(props["UUID"], UUID1)
        self.assertFalse(props["Active"])
        self.assertTrue(props["Persistent"])
        self.assertFalse(props["Autostart"])
        self.assertEqual(props["Bridge"], "vbt-br1")
        objs = self.managed_objects()
        self.assertEqual(objs[path][NET_IFACE]["Name"], "net1")
        rec.wait_for(lambda s: s[2] == "InterfacesAdded" and s[3][0] == path)
        rec.wait_for(lambda s: s[2] == "Lifecycle" and s[0] == path
                     and s[3] == ("defined", "added"))
        # the lookups
        self.assertEqual(self.manager("NetworkLookupByName", "s", ("net1",)), path)
        self.assertEqual(self.manager("NetworkLookupByUUID", "s", (UUID1.upper(),)), path)

    def test_xml_round_trip_and_generated_parts(self):
        # no uuid, no bridge: libvirt's generated uuid, virbrN and bridge MAC
        path = self.define_net(net_xml(uuid=None, bridge=None))
        uuid = self.get_prop(path, NET_IFACE, "UUID")
        self.assertEqual(str(uuidlib.UUID(uuid)), uuid)
        self.assertEqual(path, net_path(uuid))
        bridge = self.get_prop(path, NET_IFACE, "Bridge")
        self.assertRegex(bridge, r"^virbr[0-9]+$")
        xml = self.net(path, "GetXMLDesc", "u", (0,))
        self.assertIn(f"<uuid>{uuid}</uuid>", xml)
        self.assertIn(f"<bridge name='{bridge}'", xml)
        self.assertRegex(xml, r"<mac address='52:54:00:[0-9a-f:]{8}'/>")
        self.assertIn("<host mac='52:54:00:00:00:01' name='a' ip='10.77.0.10'/>", xml)
        self.assertIn("<port start='1024' end='65535'/>", xml)
        # the written XML defines the same network again (same uuid, bridge)
        self.assertEqual(self.define_net(xml), path)
        self.assertEqual(self.net(path, "GetXMLDesc", "u", (0,)), xml)
        self.assertEqual(self.net(path, "GetXMLDesc", "u", (INACTIVE,)), xml)
        # kept, not modelled: written back
        path2 = self.define_net(net_xml("net2", UUID2, "vbt-br2", 78,
                                        "<metadata><x:a xmlns:x='urn:x'>1</x:a></metadata>"))
        self.assertIn("<x:a xmlns:x=\"urn:x\">1</x:a>",
                      self.net(path2, "GetXMLDesc", "u", (0,)).replace("'", "\""))

    def test_redefine_changes_the_definition(self):
        path = self.define_net()
        rec = SignalRecorder(self.conn)
        self.assertEqual(self.define_net(net_xml(third=79)), path)
        self.assertIn("10.79.0.1", self.net(path, "GetXMLDesc", "u", (0,)))
        rec.wait_for(lambda s: s[2] == "Lifecycle" and s[0] == path
                     and s[3] == ("defined", "updated"))

    def test_clashes_are_refused(self):
        self.define_net()
        # the same name with another uuid, the same uuid with another name
        self.assertDBusError(ERR + "AlreadyExists", self.define_net,
                             net_xml("net1", UUID2, "vbt-br9"))
        self.assertDBusError(ERR + "AlreadyExists", self.define_net,
                             net_xml("other", UUID1, "vbt-br9"))
        # another network's bridge name
        e = self.assertDBusError(ERR + "AlreadyExists", self.define_net,
                                 net_xml("net2", UUID2, "vbt-br1"))
        self.assertIn("vbt-br1", e.message)
        self.assertIn("net1", e.message)
        self.assertEqual(len(self.manager("ListNetworks", "u", (0,))), 1)

    def test_bad_xml_named_errors_and_nothing_left(self):
        bad = [
            ("<network><name>x</name>", ERR + "InvalidXML"),
            (net_xml().replace("netmask='255.255.255.0'", "netmask='255.0.255.0'"), None),
            (net_xml().replace("10.77.0.254", "10.78.0.254"), None),
            (net_xml(bridge="a-bridge-name-too-long"), None),
            (net_xml().replace("<name>net1</name>", "<name>a/b</name>"), None),
            ("<network><name>pt</name><forward mode='passthrough'><interface dev='eth9'/>"
             "</forward></network>", ERR + "NotSupported"),
        ]
        for xml, name in bad:
            with self.subTest(xml=xml[:60]):
                e = self.assertDBusError(name or (ERR + "InvalidArgument", ERR + "InvalidXML"),
                                         self.define_net, xml)
                self.assertTrue(e.message)
        self.assertEqual(self.manager("ListNetworks", "u", (0,)), [])
        self.assertEqual(os.listdir(self.network_dir()), ["autostart"])
        self.assertDBusError(ERR + "InvalidArgument", self.manager, "NetworkDefineXML", "su",
                             (net_xml(), 1))

    def test_lookup_errors(self):
        self.assertDBusError(ERR + "NoNetwork", self.manager, "NetworkLookupByName", "s",
                             ("nope",))
        self.assertDBusError(ERR + "NoNetwork", self.manager, "NetworkLookupByUUID", "s",
                             (UUID2,))
        self.assertDBusError(ERR + "InvalidArgument", self.manager, "NetworkLookupByUUID", "s",
                             ("not-a-uuid",))

    def network_dir(self):
        return os.path.join(self.root, "etc", "virtbus", "qemu", "networks")


class ListAndAutostartTest(NetworkTestCase):
    def test_list_flags_and_autostart(self):
        p1 = self.define_net()
        p2 = self.define_net(net_xml("net2", UUID2, "vbt-br2", 78))
        self.assertEqual(self.manager("ListNetworks", "u", (0,)), [p1, p2])
        self.set_prop(p2, NET_IFACE, "Autostart", GLib.Variant("b", True))
        eventually(lambda: self.get_prop(p2, NET_IFACE, "Autostart"), what="Autostart")
        self.assertEqual(self.manager("ListNetworks", "u", (AUTOSTART,)), [p2])
        self.assertEqual(self.manager("ListNetworks", "u", (NO_AUTOSTART,)), [p1])
        self.assertEqual(self.manager("ListNetworks", "u", (INACTIVE | PERSISTENT,)), [p1, p2])
        self.assertEqual(self.manager("ListNetworks", "u", (ACTIVE,)), [])
        self.assertEqual(self.manager("ListNetworks", "u", (TRANSIENT,)), [])
        self.assertDBusError(ERR + "InvalidArgument", self.manager, "ListNetworks", "u", (64,))
        link = os.path.join(self.root, "etc", "virtbus", "qemu", "networks", "autostart",
                            "net2.xml")
        self.assertTrue(os.path.islink(link))
        self.set_prop(p2, NET_IFACE, "Autostart", GLib.Variant("b", False))
        eventually(lambda: not self.get_prop(p2, NET_IFACE, "Autostart"), what="Autostart off")
        self.assertFalse(os.path.lexists(link))
        self.assertDBusError(ERR + "InvalidArgument", self.set_prop, p2, NET_IFACE,
                             "Autostart", GLib.Variant("s", "yes"))
        self.assertDBusError("org.freedesktop.DBus.Error.PropertyReadOnly", self.set_prop, p2,
                             NET_IFACE, "Name", GLib.Variant("s", "x"))

    def test_persistence_across_a_restart(self):
        p1 = self.define_net()
        self.set_prop(p1, NET_IFACE, "Autostart", GLib.Variant("b", True))
        eventually(lambda: self.get_prop(p1, NET_IFACE, "Autostart"), what="Autostart")
        xml = self.net(p1, "GetXMLDesc", "u", (0,))
        self.conn.close_sync(None)
        self.service.stop()
        self.service.start()
        self.conn = connect(self.bus.address)
        self.assertEqual(self.manager("ListNetworks", "u", (0,)), [p1])
        self.assertEqual(self.net(p1, "GetXMLDesc", "u", (0,)), xml)
        self.assertTrue(self.get_prop(p1, NET_IFACE, "Autostart"))
        self.assertIn("loaded 1 persistent network", self.service.read_log())


class UpdateUndefineTest(NetworkTestCase):
    def test_update_dhcp_and_dns_hosts_of_the_definition(self):
        path = self.define_net()
        self.net(path, "Update", "uuisu",
                 (ADD_LAST, IP_DHCP_HOST, -1,
                  "<host mac='52:54:00:00:00:02' name='b' ip='10.77.0.11'/>", 0))
        xml = self.net(path, "GetXMLDesc", "u", (0,))
        self.assertIn("<host mac='52:54:00:00:00:02' name='b' ip='10.77.0.11'/>", xml)
        # a duplicate MAC, an address outside the subnet: refused, nothing changed
        self.assertDBusError((ERR + "AlreadyExists", ERR + "InvalidArgument",
                              ERR + "OperationInvalid"), self.net, path, "Update", "uuisu",
                             (ADD_LAST, IP_DHCP_HOST, -1,
                              "<host mac='52:54:00:00:00:02' name='c' ip='10.77.0.12'/>", 0))
        self.assertDBusError((ERR + "InvalidArgument", ERR + "OperationInvalid"), self.net,
                             path, "Update", "uuisu",
                             (ADD_LAST, IP_DHCP_HOST, -1,
                              "<host mac='52:54:00:00:00:03' name='c' ip='10.99.0.12'/>", 0))
        self.assertEqual(self.net(path, "GetXMLDesc", "u", (0,)), xml)
        self.net(path, "Update", "uuisu",
                 (DELETE, IP_DHCP_HOST, -1, "<host mac='52:54:00:00:00:02'/>", 0))
        self.net(path, "Update", "uuisu",
                 (ADD_FIRST, DNS_HOST, -1,
                  "<host ip='10.77.0.50'><hostname>www</hostname></host>", 0))
        xml = self.net(path, "GetXMLDesc", "u", (0,))
        self.assertNotIn("52:54:00:00:00:02", xml)
        self.assertIn("<hostname>www</hostname>", xml)
        # the change is on disk
        with open(os.path.join(self.root, "etc", "virtbus", "qemu", "networks",
                               "net1.xml")) as f:
            self.assertIn("<hostname>www</hostname>", f.read())
        # the running network's definition: it does not run
        self.assertDBusError(ERR + "OperationInvalid", self.net, path, "Update", "uuisu",
                             (ADD_LAST, DNS_HOST, -1,
                              "<host ip='10.77.0.51'><hostname>w2</hostname></host>", 1))
        self.assertDBusError(ERR + "NotSupported", self.net, path, "Update", "uuisu",
                             (ADD_LAST, 6, -1, "<forward mode='route'/>", 0))

    def test_undefine_and_inactive_errors(self):
        path = self.define_net()
        self.assertDBusError(ERR + "OperationInvalid", self.net, path, "Destroy")
        # NetworkCreateXML with the name of a defined network: refused before anything is made
        self.assertDBusError(ERR + "AlreadyExists", self.manager, "NetworkCreateXML", "su",
                             (net_xml("net1", UUID2, "vbt-br9", 80), 0))
        self.assertEqual(self.net(path, "GetDHCPLeases", "su", ("", 0)), [])
        self.assertFalse(os.path.exists("/sys/class/net/vbt-br1"))
        rec = SignalRecorder(self.conn)
        self.net(path, "Undefine")
        rec.wait_for(lambda s: s[2] == "InterfacesRemoved" and s[3][0] == path)
        self.assertEqual(self.manager("ListNetworks", "u", (0,)), [])
        self.assertFalse(os.path.exists(os.path.join(
            self.root, "etc", "virtbus", "qemu", "networks", "net1.xml")))
        self.assertDBusError(ERR + "NoNetwork", self.manager, "NetworkLookupByName", "s",
                             ("net1",))


class ClientTest(NetworkTestCase):
    """virtbusctl's net-* commands against the test's service."""

    def ctl(self, *args, check=True):
        return self.run_cmd([vbtest.VIRTBUSCTL, "--address", self.bus.address, *args],
                            check=check)

    def complete(self, *words):
        completion = os.path.join(vbtest.SRCDIR, "client", "virtbusctl.bash-completion")
        script = (f"source {completion}\n"
                  "COMP_WORDS=(\"$@\"); COMP_CWORD=$(($# - 1))\n"
                  "_virtbusctl\n"
                  "printf '%s\\n' \"${COMPREPLY[@]}\"\n")
        p = self.run_cmd(["bash", "-c", script, "bash", vbtest.VIRTBUSCTL, *words])
        return sorted(w for w in p.stdout.splitlines() if w)

    def test_net_commands(self):
        f = os.path.join(self.tmp, "net1.xml")
        with open(f, "w") as out:
            out.write(net_xml())
        p = self.ctl("net-define", f)
        self.assertIn("Network 'net1' defined", p.stdout)
        # active networks by default: none runs
        self.assertNotIn("net1", self.ctl("net-list").stdout)
        listing = self.ctl("net-list", "--all").stdout
        self.assertRegex(listing, r"net1\s+inactive\s+no\s+yes")
        self.assertEqual(self.ctl("net-list", "--inactive", "--name").stdout, "net1\n")
        info = self.ctl("net-info", "net1").stdout
        self.assertIn(UUID1, info)
        self.assertRegex(info, r"Bridge:\s+vbt-br1")
        self.assertIn("<name>net1</name>", self.ctl("net-dumpxml", UUID1).stdout)
        self.ctl("net-autostart", "net1")
        self.assertRegex(self.ctl("net-info", "net1").stdout, r"Autostart:\s+yes")
        self.ctl("net-autostart", "net1", "--disable")
        self.assertRegex(self.ctl("net-info", "net1").stdout, r"Autostart:\s+no")
        self.assertIn("Expiry Time", self.ctl("net-dhcp-leases", "net1").stdout)
        p = self.ctl("net-destroy", "net1", check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("not active", p.stderr)
        p = self.ctl("net-info", "nope", check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("no network with name 'nope'", p.stderr)
        # completion: the commands, and the networks a command can act on
        self.assertIn("net-dhcp-leases", self.complete("net-d"))
        self.assertEqual(self.complete("--address", self.bus.address, "net-info", "n"), ["net1"])
        self.assertEqual(self.complete("--address", self.bus.address, "net-destroy", ""), [])
        self.assertEqual(self.complete("net-dumpxml", "--i"), ["--inactive"])
        self.assertIn("net-list", self.ctl("help").stdout)
        self.assertIn("undefined", self.ctl("net-undefine", "net1").stdout)
        self.assertEqual(self.ctl("net-list", "--all", "--name").stdout, "")


if __name__ == "__main__":
    vbtest.main()
