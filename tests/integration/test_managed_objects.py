# SPDX-License-Identifier: LGPL-2.1-or-later
"""GetManagedObjects with many objects (issue 16, part mem): its body is
written in GVariant's serialized form from per-object caches, so every
object's interfaces and properties must be exactly (types and values) what
Properties.GetAll answers for it, before and after changes, with a domain
running, and with objects gone.

Domains are exported through one D-Bus subtree without a GObject each
(issue 16, bus-domain-export.c): a GDBusObjectManagerClient, Introspect,
PropertiesChanged carrying only what changed, and GDBus's own checks of a
call's arguments must all work as they did for exported skeletons."""
import xml.etree.ElementTree as ET

import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
import vbtest  # noqa: E402
from vbtest import (BUS_NAME, DOMAIN_IFACE, MANAGER_PATH, Gio, GLib,  # noqa: E402
                    SignalRecorder, VirtbusTestCase, domain_xml)

N = 300
OM_IFACE = "org.freedesktop.DBus.ObjectManager"


def xml_of(i):
    """Definitions that differ in more than the name (memory, vCPUs, title)."""
    xml = domain_xml(f"many-{i:03d}", f"{i:08x}-0000-4000-8000-{i:012x}")
    xml = xml.replace("<memory unit='MiB'>128", f"<memory unit='MiB'>{64 + i % 5 * 32}")
    xml = xml.replace("<vcpu>1</vcpu>", f"<vcpu>{1 + i % 3}</vcpu>")
    if i % 7 == 0:
        xml = xml.replace("<memory", f"<title>t&lt;{i}&gt; ünï</title>\n  <memory")
    return xml


class ManagedObjectsTest(VirtbusTestCase):
    def raw(self, path, iface, method, params=None):
        return self.conn.call_sync(BUS_NAME, path, iface, method, params, None,
                                   Gio.DBusCallFlags.NONE, 60000, None)

    def objects(self):
        """{path: {iface: {name: GLib.Variant}}} of GetManagedObjects, values
        kept as variants so that their types are compared too."""
        reply = self.raw(MANAGER_PATH, OM_IFACE, "GetManagedObjects")
        self.assertEqual(reply.get_type_string(), "(a{oa{sa{sv}}})")
        out = {}
        arr = reply.get_child_value(0)
        for i in range(arr.n_children()):
            entry = arr.get_child_value(i)
            path = entry.get_child_value(0).get_string()
            self.assertNotIn(path, out, "an object listed twice")
            ifaces = {}
            ia = entry.get_child_value(1)
            for j in range(ia.n_children()):
                ie = ia.get_child_value(j)
                ifaces[ie.get_child_value(0).get_string()] = self.props(ie.get_child_value(1))
            out[path] = ifaces
        return out

    @staticmethod
    def props(asv):
        return {asv.get_child_value(k).get_child_value(0).get_string():
                asv.get_child_value(k).get_child_value(1).get_variant()
                for k in range(asv.n_children())}

    def assert_same_as_get_all(self, objs):
        for path, ifaces in objs.items():
            self.assertTrue(ifaces, f"{path} has no interfaces")
            for iface, props in ifaces.items():
                got = self.props(self.raw(path, "org.freedesktop.DBus.Properties", "GetAll",
                                          GLib.Variant("(s)", (iface,))).get_child_value(0))
                self.assertEqual(sorted(props), sorted(got), f"{path} {iface}: property names")
                for name, value in props.items():
                    self.assertEqual(value.get_type_string(), got[name].get_type_string(),
                                     f"{path} {iface}.{name}: type")
                    self.assertTrue(value.equal(got[name]),
                                    f"{path} {iface}.{name}: {value} != {got[name]}")

    def test_many_same_as_get_all(self):
        paths = [self.define(None, xml=xml_of(i)) for i in range(N)]
        objs = self.objects()
        self.assertEqual(set(paths), set(objs))
        self.assertEqual(objs[paths[7]][DOMAIN_IFACE]["Title"].get_string(), "t<7> ünï")
        self.assertEqual(objs[paths[3]][DOMAIN_IFACE]["VCPUs"].get_uint32(), 1)
        self.assertEqual(objs[paths[4]][DOMAIN_IFACE]["Memory"].get_uint64(), 192 * 1024)
        self.assert_same_as_get_all(objs)
        # twice: the second reply comes from the caches the first one filled
        self.assertEqual(objs, self.objects())

    def test_changes_running_and_removed(self):
        paths = [self.define(None, xml=xml_of(i)) for i in range(40)]
        self.objects()  # fills the caches
        rec = SignalRecorder(self.conn)
        # a change of the definition, a running domain, and undefined ones
        xml = xml_of(1).replace("<vcpu>2</vcpu>", "<vcpu>3</vcpu>")
        self.define(None, xml=xml)
        self.domain(paths[2], "Start", "u", (1,))
        for p in paths[30:]:
            self.domain(p, "Undefine", "u", (0,))
        rec.wait_for(lambda s: s[2] == "InterfacesRemoved" and s[3][0] == paths[-1],
                     what="InterfacesRemoved of the last undefined domain")
        rec.wait_for(lambda s: s[2] == "PropertiesChanged" and s[0] == paths[2]
                     and s[3][1].get("State") == "paused", what="the start")
        objs = self.objects()
        self.assertEqual(set(objs), set(paths[:30]))
        self.assertEqual(objs[paths[1]][DOMAIN_IFACE]["VCPUs"].get_uint32(), 3)
        self.assertEqual(objs[paths[2]][DOMAIN_IFACE]["State"].get_string(), "paused")
        self.assertTrue(objs[paths[2]][DOMAIN_IFACE]["Active"].get_boolean())
        self.assertGreater(objs[paths[2]][DOMAIN_IFACE]["Id"].get_int32(), 0)
        self.assert_same_as_get_all(objs)
        self.domain(paths[2], "Destroy", "u", (0,))

    def introspect(self, path):
        xml = self.call(path, "org.freedesktop.DBus.Introspectable", "Introspect")[0]
        return ET.fromstring(xml)

    def test_subtree_as_object_manager_client_sees_it(self):
        ctx = GLib.MainContext.default()
        paths = [self.define(None, xml=xml_of(i)) for i in range(3)]
        client = Gio.DBusObjectManagerClient.new_sync(
            self.conn, Gio.DBusObjectManagerClientFlags.NONE, BUS_NAME, MANAGER_PATH,
            None, None, None)
        seen = {o.get_object_path() for o in client.get_objects()}
        self.assertTrue(set(paths) <= seen, seen)
        proxy = client.get_interface(paths[1], DOMAIN_IFACE)
        self.assertIsNotNone(proxy)
        self.assertEqual(proxy.get_cached_property("Name").unpack(), "many-001")
        self.assertEqual(proxy.get_cached_property("VCPUs").unpack(), 2)
        added, removed = [], []
        client.connect("object-added", lambda c, o: added.append(o.get_object_path()))
        client.connect("object-removed", lambda c, o: removed.append(o.get_object_path()))

        def pump_until(pred, what):
            def step():
                while ctx.iteration(False):
                    pass
                return pred()
            vbtest.eventually(step, what=what)

        # a new domain appears with its properties, and goes again
        path = self.define(None, xml=xml_of(50))
        pump_until(lambda: path in added, "object-added")
        self.assertEqual(client.get_interface(path, DOMAIN_IFACE)
                         .get_cached_property("Name").unpack(), "many-050")
        # a change: PropertiesChanged names only what changed, and the proxy follows
        rec = SignalRecorder(self.conn, iface="org.freedesktop.DBus.Properties",
                             path=paths[1])
        self.set_prop(paths[1], DOMAIN_IFACE, "Autostart", GLib.Variant("b", True))
        sig = rec.wait_for(lambda s: s[2] == "PropertiesChanged", what="PropertiesChanged")[0]
        self.assertEqual(sig[3], (DOMAIN_IFACE, {"Autostart": True}, []))
        pump_until(lambda: proxy.get_cached_property("Autostart").unpack(), "the proxy's value")
        rec.close()
        self.domain(path, "Undefine", "u", (0,))
        pump_until(lambda: path in removed, "object-removed")
        self.assertIsNone(client.get_object(path))

    def test_subtree_introspection_and_argument_checks(self):
        paths = [self.define(None, xml=xml_of(i)) for i in range(3)]
        root = self.introspect(MANAGER_PATH + "/domain")
        nodes = {n.get("name") for n in root.findall("node")}
        self.assertEqual(nodes, {p.rsplit("/", 1)[1] for p in paths})
        node = self.introspect(paths[0])
        ifaces = {i.get("name"): i for i in node.findall("interface")}
        self.assertIn(DOMAIN_IFACE, ifaces)
        self.assertIn("org.freedesktop.DBus.Properties", ifaces)
        dom = ifaces[DOMAIN_IFACE]
        self.assertIn("Start", {m.get("name") for m in dom.findall("method")})
        self.assertEqual({p.get("name"): p.get("type") for p in dom.findall("property")}["State"],
                         "s")
        self.assertIn("Lifecycle", {m.get("name") for m in dom.findall("signal")})
        # GDBus checks a call against the interface before our code sees it
        self.assertDBusError("org.freedesktop.DBus.Error.InvalidArgs",
                             self.domain, paths[0], "Start", "s", ("x",))
        self.assertDBusError("org.freedesktop.DBus.Error.UnknownMethod",
                             self.domain, paths[0], "NoSuchMethod", "u", (0,))
        self.assertDBusError("org.freedesktop.DBus.Error.UnknownMethod",
                             self.call, paths[0], "org.virtbus.Virt1.Job", "Cancel")
        # (GDBus's answer from the filter's way, ours when it was authorized first)
        with self.assertRaises(vbtest.DBusCallError) as cm:
            self.get_prop(paths[0], DOMAIN_IFACE, "NoSuchProperty")
        self.assertIn(cm.exception.name, ("org.freedesktop.DBus.Error.InvalidArgs",
                                          vbtest.ERR + "InvalidArgument"))
        self.assertDBusError("org.freedesktop.DBus.Error.PropertyReadOnly",
                             self.set_prop, paths[0], DOMAIN_IFACE, "Name",
                             GLib.Variant("s", "x"))
        # one gone: a call of ours on it is NoDomain, introspection shows nothing there
        self.domain(paths[2], "Undefine", "u", (0,))
        self.assertDBusError("NoDomain", self.domain, paths[2], "Start", "u", (0,))
        self.assertDBusError("NoDomain", self.get_prop, paths[2], DOMAIN_IFACE, "Name")
        self.assertNotIn(DOMAIN_IFACE,
                         {i.get("name") for i in self.introspect(paths[2]).findall("interface")})
        # a domain's own read still works after all that
        self.assertEqual(self.get_prop(paths[0], DOMAIN_IFACE, "Name"), "many-000")


if __name__ == "__main__":
    vbtest.main()
