# SPDX-License-Identifier: LGPL-2.1-or-later
"""Manager and Domain objects of the real virtbusd on a private bus."""

import os
import sys
import uuid as uuidlib

sys.path.insert(0, os.path.dirname(__file__))
import vbtest  # noqa: E402
from vbtest import (DOMAIN_IFACE, ERR, MANAGER_IFACE, MANAGER_PATH, GLib,  # noqa: E402
                    SignalRecorder, VirtbusTestCase, domain_xml, eventually)

UUID1 = "c7a5fdbd-cdaf-9455-926a-d65c16db1809"
UUID2 = "0f0e2a4c-36ff-4d43-9bd0-2a4e5c0e9a11"


def path_of(uuid):
    return "/org/virtbus/Virt1/domain/" + uuid.replace("-", "_")


class DefineTest(VirtbusTestCase):
    def test_define_exports_typed_properties(self):
        rec = SignalRecorder(self.conn)
        path = self.define("vm1", UUID1)
        self.assertEqual(path, path_of(UUID1))
        props = self.get_all(path, DOMAIN_IFACE)
        self.assertEqual(props["Name"], "vm1")
        self.assertEqual(props["UUID"], UUID1)
        self.assertEqual(props["Id"], -1)
        self.assertEqual(props["State"], "shutoff")
        self.assertEqual(props["StateReason"], "unknown")
        self.assertFalse(props["Active"])
        self.assertTrue(props["Persistent"])
        self.assertFalse(props["Autostart"])
        self.assertEqual(props["Memory"], 128 * 1024)
        self.assertEqual(props["VCPUs"], 1)
        self.assertEqual(props["Job"], "/")
        objs = self.managed_objects()
        self.assertIn(path, objs)
        self.assertEqual(objs[path][DOMAIN_IFACE]["Name"], "vm1")
        added = rec.wait_for(lambda s: s[2] == "InterfacesAdded" and s[3][0] == path)
        self.assertIn(DOMAIN_IFACE, added[0][3][1])
        rec.wait_for(lambda s: s[2] == "Lifecycle" and s[0] == path
                     and s[3] == ("defined", "added"))

    def test_uuid_generated_when_absent(self):
        path = self.define("nouuid")
        uuid = self.get_prop(path, DOMAIN_IFACE, "UUID")
        self.assertEqual(str(uuidlib.UUID(uuid)), uuid)
        self.assertEqual(path, path_of(uuid))
        xml = self.domain(path, "GetXMLDesc", "u", (0,))
        self.assertIn(f"<uuid>{uuid}</uuid>", xml)

    def test_redefine_same_uuid_updates(self):
        path = self.define("vm1", UUID1)
        rec = SignalRecorder(self.conn)
        xml = domain_xml("vm1", UUID1).replace("<memory unit='MiB'>128", "<memory unit='MiB'>256")
        self.assertEqual(self.manager("DefineXML", "su", (xml, 0)), path)
        rec.wait_for(lambda s: s[2] == "PropertiesChanged" and s[0] == path
                     and s[3][1].get("Memory") == 256 * 1024, what="Memory change")
        rec.wait_for(lambda s: s[2] == "Lifecycle" and s[3] == ("defined", "updated"))
        self.assertEqual(self.get_prop(path, DOMAIN_IFACE, "Memory"), 256 * 1024)
        with open(os.path.join(self.root, "etc/virtbus/qemu/vm1.xml")) as f:
            self.assertIn("262144", f.read())
        self.assertEqual(len(self.manager("ListDomains", "u", (0,))), 1)

    def test_conflicting_name_or_uuid_refused(self):
        self.define("vm1", UUID1)
        e = self.assertDBusError("AlreadyExists", self.define, "vm1", UUID2)
        self.assertIn("vm1", e.message)
        e = self.assertDBusError("AlreadyExists", self.define, "vm2", UUID1)
        self.assertIn(UUID1, e.message)
        self.assertEqual(len(self.manager("ListDomains", "u", (0,))), 1)
        self.assertFalse(os.path.exists(os.path.join(self.root, "etc/virtbus/qemu/vm2.xml")))

    def test_invalid_xml_names_line(self):
        e = self.assertDBusError("InvalidXML", self.manager, "DefineXML", "su",
                                 ("<domain type='qemu'>\n<name>x</name>\n<memory>", 0))
        self.assertRegex(e.message, r"line \d+")
        bad = domain_xml("vm1").replace("<memory unit='MiB'>128", "<memory unit='MiB'>0")
        e = self.assertDBusError("InvalidXML", self.manager, "DefineXML", "su", (bad, 0))
        self.assertIn("memory", e.message)
        self.assertRegex(e.message, r"line \d+")
        for name in ("a/b", ".hidden", "x" * 256):
            self.assertDBusError("InvalidXML", self.define, name)
        self.assertEqual(self.manager("ListDomains", "u", (0,)), [])
        self.assertEqual([f for f in os.listdir(os.path.join(self.root, "etc/virtbus/qemu"))
                          if f.endswith(".xml")], [])

    def test_unknown_flags_refused(self):
        self.assertDBusError("InvalidArgument", self.manager, "DefineXML", "su",
                             (domain_xml("vm1"), 2))  # 1 is VALIDATE
        self.assertDBusError("InvalidArgument", self.manager, "ListDomains", "u", (1 << 20,))
        path = self.define("vm1")
        self.assertDBusError("InvalidArgument", self.domain, path, "GetXMLDesc", "u", (4,))
        self.assertDBusError("InvalidArgument", self.domain, path, "Undefine", "u", (1 << 30,))
        self.assertTrue(self.get_prop(path, DOMAIN_IFACE, "Persistent"))

    def test_kept_unknown_elements_round_trip(self):
        xml = domain_xml("vm1", UUID1).replace(
            "</devices>", "</devices>\n  <seclabel type='dynamic' model='apparmor' relabel='yes'/>")
        path = self.manager("DefineXML", "su", (xml, 0))
        out = self.domain(path, "GetXMLDesc", "u", (0,))
        self.assertIn("<seclabel type='dynamic' model='apparmor' relabel='yes'", out)
        self.assertIn("<seclabel>", self.service.read_log())


class LookupListTest(VirtbusTestCase):
    def test_lookup(self):
        path = self.define("vm1", UUID1)
        self.assertEqual(self.manager("LookupByName", "s", ("vm1",)), path)
        self.assertEqual(self.manager("LookupByUUID", "s", (UUID1,)), path)
        self.assertEqual(self.manager("LookupByUUID", "s", (UUID1.upper(),)), path)
        e = self.assertDBusError("NoDomain", self.manager, "LookupByName", "s", ("nope",))
        self.assertIn("nope", e.message)
        self.assertDBusError("NoDomain", self.manager, "LookupByUUID", "s", (UUID2,))
        self.assertDBusError("InvalidArgument", self.manager, "LookupByUUID", "s", ("zzz",))

    def test_list_filters(self):
        p1 = self.define("b-vm", UUID1)
        p2 = self.define("a-vm", UUID2)
        self.set_prop(p1, DOMAIN_IFACE, "Autostart", GLib.Variant("b", True))
        self.assertEqual(self.manager("ListDomains", "u", (0,)), [p2, p1])  # sorted by name
        self.assertEqual(self.manager("ListDomains", "u", (2,)), [p2, p1])  # inactive
        self.assertEqual(self.manager("ListDomains", "u", (1,)), [])        # active
        self.assertEqual(self.manager("ListDomains", "u", (4,)), [p2, p1])  # persistent
        self.assertEqual(self.manager("ListDomains", "u", (8,)), [])        # transient
        self.assertEqual(self.manager("ListDomains", "u", (64,)), [p1])     # autostart
        self.assertEqual(self.manager("ListDomains", "u", (128,)), [p2])    # no autostart
        self.assertEqual(self.manager("ListDomains", "u", (64 | 128,)), [p2, p1])

    def test_manager_properties(self):
        props = self.get_all(MANAGER_PATH, MANAGER_IFACE)
        self.assertRegex(props["Version"], r"^\d+\.\d+\.\d+")
        self.assertEqual(props["HostName"], os.uname().nodename)
        host_uuid = props["HostUUID"]
        self.assertEqual(str(uuidlib.UUID(host_uuid)), host_uuid)
        self.service.stop()
        self.service.start()
        self.conn.close_sync(None)
        from vbtest import connect
        self.conn = connect(self.bus.address)
        self.assertEqual(self.get_prop(MANAGER_PATH, MANAGER_IFACE, "HostUUID"), host_uuid)

    def test_capabilities(self):
        caps = self.manager("GetCapabilities")
        self.assertIn("<capabilities>", caps)
        self.assertRegex(caps, r"<emulator>[^<]*qemu-system-x86_64</emulator>")
        self.assertRegex(caps, r"<machine[^>]*>q35</machine>|<machine[^>]*>pc-q35-[0-9.]+</machine>")
        host_uuid = self.get_prop(MANAGER_PATH, MANAGER_IFACE, "HostUUID")
        self.assertIn(f"<uuid>{host_uuid}</uuid>", caps)


class UndefineAutostartTest(VirtbusTestCase):
    def test_undefine(self):
        path = self.define("vm1", UUID1)
        config = os.path.join(self.root, "etc/virtbus/qemu/vm1.xml")
        self.assertTrue(os.path.exists(config))
        rec = SignalRecorder(self.conn)
        self.domain(path, "Undefine", "u", (0,))
        rec.wait_for(lambda s: s[2] == "Lifecycle" and s[3] == ("undefined", "removed"))
        rec.wait_for(lambda s: s[2] == "InterfacesRemoved" and s[3][0] == path)
        self.assertFalse(os.path.exists(config))
        self.assertNotIn(path, self.managed_objects())
        self.assertDBusError("NoDomain", self.manager, "LookupByName", "s", ("vm1",))
        # the name and uuid are free again
        self.assertEqual(self.define("vm1", UUID1), path)

    def test_calls_on_vanished_objects_are_named(self):
        """A call on an object that is gone (or never was) gets the named error of its
        kind, from every path a call can take: a method, a property read (first and
        cached), a write; an object of the kind the path names, not GDBus's
        UnknownMethod."""
        path = self.define("vm1", UUID1)
        self.assertEqual(self.get_prop(path, DOMAIN_IFACE, "Name"), "vm1")  # read cached
        self.domain(path, "Undefine", "u", (0,))
        eventually(lambda: path not in self.managed_objects(), what="the object unexported")
        props = "org.freedesktop.DBus.Properties"
        cases = [
            (path, DOMAIN_IFACE, "Start", "u", (0,), "NoDomain", UUID1),
            (path, DOMAIN_IFACE, "GetXMLDesc", "u", (0,), "NoDomain", UUID1),
            (path, props, "Get", "ss", (DOMAIN_IFACE, "Name"), "NoDomain", UUID1),
            (path, props, "GetAll", "s", (DOMAIN_IFACE,), "NoDomain", UUID1),
            (path, props, "Set", "ssv", (DOMAIN_IFACE, "Autostart", GLib.Variant("b", True)),
             "NoDomain", UUID1),
            (path_of(UUID2), DOMAIN_IFACE, "Suspend", None, (), "NoDomain", UUID2),
            (path + "/snapshot/3", "org.virtbus.Virt1.Snapshot", "GetXMLDesc", "u", (0,),
             "NoSnapshot", "/snapshot/3"),
            (path + "/snapshot/3", props, "Get", "ss", ("org.virtbus.Virt1.Snapshot", "Name"),
             "NoSnapshot", UUID1),
            ("/org/virtbus/Virt1/job/4000000", "org.virtbus.Virt1.Job", "Cancel", None, (),
             "NoJob", "4000000"),
            ("/org/virtbus/Virt1/job/4000000", props, "Get", "ss",
             ("org.virtbus.Virt1.Job", "Phase"), "NoJob", "4000000"),
            ("/org/virtbus/Virt1/network/" + UUID2.replace("-", "_"),
             "org.virtbus.Virt1.Network", "Destroy", None, (), "NoNetwork", UUID2),
        ]
        for obj, iface, method, sig, args, error, named in cases:
            with self.subTest(path=obj, method=method):
                with self.assertRaises(vbtest.DBusCallError) as cm:
                    self.call(obj, iface, method, sig, args)
                self.assertEqual(cm.exception.name, ERR + error, cm.exception.message)
                self.assertIn(named, cm.exception.message)
        # the service still answers, and an object of ours that exists is not affected
        self.assertEqual(self.define("vm1", UUID1), path)
        self.assertEqual(self.get_prop(path, DOMAIN_IFACE, "Name"), "vm1")
        # GDBus keeps answering what is not a vanished object of ours
        with self.assertRaises(vbtest.DBusCallError) as cm:
            self.call(path, DOMAIN_IFACE, "NoSuchMethod")
        self.assertEqual(cm.exception.name, "org.freedesktop.DBus.Error.UnknownMethod")

    def test_autostart_persisted(self):
        path = self.define("vm1", UUID1)
        rec = SignalRecorder(self.conn)
        self.set_prop(path, DOMAIN_IFACE, "Autostart", GLib.Variant("b", True))
        rec.wait_for(lambda s: s[2] == "PropertiesChanged" and s[3][1].get("Autostart") is True)
        link = os.path.join(self.root, "etc/virtbus/qemu/autostart/vm1.xml")
        self.assertTrue(os.path.islink(link))
        self.assertDBusError("InvalidArgument", self.set_prop, path, DOMAIN_IFACE, "Autostart",
                             GLib.Variant("s", "yes"))
        self.service.stop()
        self.service.start()
        from vbtest import connect
        self.conn = connect(self.bus.address)
        self.assertTrue(self.get_prop(path, DOMAIN_IFACE, "Autostart"))
        # and the service started it (test_recovery.py has more on this)
        eventually(lambda: self.get_prop(path, DOMAIN_IFACE, "State") == "running",
                   timeout=60, what="the autostart domain to run")
        self.set_prop(path, DOMAIN_IFACE, "Autostart", GLib.Variant("b", False))
        self.assertFalse(os.path.lexists(link))
        self.assertFalse(self.get_prop(path, DOMAIN_IFACE, "Autostart"))
        self.domain(path, "Destroy", "u", (0,))

    def test_read_only_property_refused(self):
        path = self.define("vm1", UUID1)
        with self.assertRaises(Exception):
            self.set_prop(path, DOMAIN_IFACE, "Name", GLib.Variant("s", "other"))
        self.assertEqual(self.get_prop(path, DOMAIN_IFACE, "Name"), "vm1")


class RestartTest(VirtbusTestCase):
    def test_configs_reload_and_corrupt_skipped(self):
        p1 = self.define("vm1", UUID1)
        p2 = self.define("vm2", UUID2)
        self.service.stop()
        cdir = os.path.join(self.root, "etc/virtbus/qemu")
        with open(os.path.join(cdir, "vm2.xml"), "w") as f:
            f.write("<domain type='qemu'><name>vm2</name><memory>")  # truncated
        with open(os.path.join(cdir, "mismatch.xml"), "w") as f:
            f.write(domain_xml("other"))
        with open(os.path.join(cdir, ".vm1.xml.AB12CD"), "w") as f:
            f.write("leftover of an interrupted write")
        self.service.start()
        from vbtest import connect
        self.conn = connect(self.bus.address)
        self.assertEqual(self.manager("ListDomains", "u", (0,)), [p1])
        log = self.service.read_log()
        self.assertIn("vm2.xml", log)
        self.assertIn("mismatch.xml", log)
        self.assertEqual(self.get_prop(p1, DOMAIN_IFACE, "Name"), "vm1")
        self.assertNotIn(p2, self.managed_objects())


class CommandLineTest(VirtbusTestCase):
    """What a user types: busctl and gdbus against the service."""

    def test_busctl(self):
        addr = self.bus.address
        p = self.run_cmd(["busctl", "--address", addr, "call", "org.virtbus.Virt1", MANAGER_PATH,
                          MANAGER_IFACE, "DefineXML", "su", domain_xml("cli-vm", UUID1), "0"])
        self.assertEqual(p.stdout.strip(), f'o "{path_of(UUID1)}"')
        p = self.run_cmd(["busctl", "--address", addr, "get-property", "org.virtbus.Virt1",
                          path_of(UUID1), DOMAIN_IFACE, "State"])
        self.assertEqual(p.stdout.strip(), 's "shutoff"')
        p = self.run_cmd(["busctl", "--address", addr, "introspect", "org.virtbus.Virt1",
                          path_of(UUID1), DOMAIN_IFACE])
        self.assertRegex(p.stdout, r"\.GetXMLDesc\s+method\s+u\s+s")
        self.assertRegex(p.stdout, r"\.Autostart\s+property\s+b\s+false\s+emits-change writable")
        p = self.run_cmd(["busctl", "--address", addr, "call", "org.virtbus.Virt1", MANAGER_PATH,
                          MANAGER_IFACE, "LookupByName", "s", "missing"], check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("missing", p.stderr)

    def test_gdbus(self):
        addr = self.bus.address
        self.define("cli-vm", UUID1)
        p = self.run_cmd(["gdbus", "call", "--address", addr, "--dest", "org.virtbus.Virt1",
                          "--object-path", path_of(UUID1), "--method",
                          DOMAIN_IFACE + ".GetXMLDesc", "0"])
        self.assertIn("<name>cli-vm</name>", p.stdout)
        p = self.run_cmd(["gdbus", "call", "--address", addr, "--dest", "org.virtbus.Virt1",
                          "--object-path", MANAGER_PATH, "--method",
                          MANAGER_IFACE + ".DefineXML", "<domain>", "0"], check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn(ERR + "InvalidXML", p.stderr)
        self.assertNotIn("UnmappedGError", p.stderr)


if __name__ == "__main__":
    vbtest.main()
