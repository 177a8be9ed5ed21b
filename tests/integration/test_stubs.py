# SPDX-License-Identifier: LGPL-2.1-or-later
"""Inactive domains kept as stubs (issue 16): after a restart, and after DefineXML of a
new domain, the service keeps only the name, uuid and published properties of an
inactive domain; the first call that needs more loads its config. Every call must
behave as it did on a loaded domain: the same XML and properties, lookups and lists
without loading, define/undefine/rename/start/restore of a stub, concurrent first calls
that load it once, and a clear error when its config went behind the service's back."""

import os
import sys
import threading

sys.path.insert(0, os.path.dirname(__file__))
from test_lifecycle import LifecycleTestCase  # noqa: E402
import vbtest  # noqa: E402
from vbtest import DOMAIN_IFACE, DBusCallError, connect, domain_xml, eventually  # noqa: E402

U1 = "5b0e7d2a-16c1-4c55-9b0e-3d2a5b0e7d01"
U2 = "5b0e7d2a-16c1-4c55-9b0e-3d2a5b0e7d02"
U3 = "5b0e7d2a-16c1-4c55-9b0e-3d2a5b0e7d03"
U4 = "5b0e7d2a-16c1-4c55-9b0e-3d2a5b0e7d04"

INACTIVE = 2
LIST_ACTIVE, LIST_INACTIVE, LIST_PERSISTENT, LIST_TRANSIENT = 1, 2, 4, 8
LIST_AUTOSTART, LIST_NO_AUTOSTART = 64, 128


def rich_xml(name, uuid, memory_mib=96, title="a title"):
    """A definition with more than the defaults: title, description, metadata, a disk-less
    machine with two vCPUs."""
    return f"""<domain type='qemu'>
  <name>{name}</name>
  <uuid>{uuid}</uuid>
  <title>{title}</title>
  <description>kept as a stub</description>
  <metadata><app:x xmlns:app='urn:example:stub'>value</app:x></metadata>
  <memory unit='MiB'>{memory_mib}</memory>
  <vcpu>2</vcpu>
  <os><type arch='x86_64' machine='q35'>hvm</type></os>
  <on_reboot>restart</on_reboot>
  <devices><serial type='pty'/><console type='pty'/></devices>
</domain>"""


class StubTestCase(LifecycleTestCase):
    def restart_service(self):
        self.conn.close_sync(None)
        self.assertEqual(self.service.stop(), 0)
        self.service.start()
        self.conn = connect(self.bus.address)

    def config_path(self, name):
        return os.path.join(self.root, "etc/virtbus/qemu", name + ".xml")

    def domain_objects(self):
        return {p: i[DOMAIN_IFACE] for p, i in self.managed_objects().items()
                if DOMAIN_IFACE in i}

    def observe(self, paths):
        """Everything a caller can read of @paths without changing them."""
        seen = {"objects": self.domain_objects()}
        for flags in (0, LIST_ACTIVE, LIST_INACTIVE, LIST_PERSISTENT, LIST_TRANSIENT,
                      LIST_AUTOSTART, LIST_NO_AUTOSTART, LIST_INACTIVE | LIST_NO_AUTOSTART):
            seen[f"list{flags}"] = self.manager("ListDomains", "u", (flags,))
        for p in paths:
            props = self.get_all(p, DOMAIN_IFACE)
            seen[p] = (props,
                       self.domain(p, "GetXMLDesc", "u", (0,)),
                       self.domain(p, "GetXMLDesc", "u", (INACTIVE,)),
                       self.manager("LookupByName", "s", (props["Name"],)),
                       self.manager("LookupByUUID", "s", (props["UUID"].upper(),)))
        return seen


class StubReadTest(StubTestCase):
    def test_everything_read_is_the_same_after_a_restart(self):
        p1 = self.define("s1", U1, xml=rich_xml("s1", U1))
        p2 = self.define("s2", U2)
        p3 = self.define("s3", U3, xml=rich_xml("s3", U3, memory_mib=128, title="three"))
        before = self.observe([p1, p2, p3])
        self.restart_service()
        after = self.observe([p1, p2, p3])
        self.assertEqual(set(before), set(after))
        for key in before:
            self.assertEqual(before[key], after[key], key)
        # and once more, now that the reads above loaded them
        self.assertEqual(self.observe([p1, p2, p3]), before)

    def test_lists_stats_and_lookups_of_stubs(self):
        p1 = self.define("s1", U1)
        p2 = self.define("s2", U2, xml=rich_xml("s2", U2, memory_mib=200))
        self.restart_service()
        self.assertEqual(self.manager("ListDomains", "u", (LIST_INACTIVE,)), [p1, p2])
        self.assertEqual(self.manager("ListDomains", "u", (LIST_ACTIVE,)), [])
        self.assertEqual(self.manager("ListDomains", "u", (LIST_TRANSIENT,)), [])
        self.assertEqual(self.manager("ListDomains", "u", (LIST_PERSISTENT | LIST_NO_AUTOSTART,)),
                         [p1, p2])
        self.assertDBusError("NoDomain", self.manager, "LookupByName", "s", ("nothere",))
        self.assertDBusError("InvalidArgument", self.manager, "LookupByUUID", "s", ("x-y",))
        # state (1) and balloon (4) of two inactive domains, read from their configs
        recs = dict(self.manager("GetAllDomainStats", "uu", (1 | 4, LIST_INACTIVE)))
        self.assertEqual(sorted(recs), ["s1", "s2"])
        self.assertEqual(recs["s2"]["state.state"], 5)  # shut off
        self.assertEqual(recs["s2"]["balloon.maximum"], 200 * 1024)
        self.assertEqual(recs["s1"]["state.state"], 5)

    def test_a_config_gone_behind_the_services_back(self):
        p1 = self.define("s1", U1)
        p2 = self.define("s2", U2)
        self.restart_service()
        os.unlink(self.config_path("s1"))
        # what is published is still there...
        self.assertEqual(self.get_prop(p1, DOMAIN_IFACE, "Name"), "s1")
        self.assertIn(p1, self.manager("ListDomains", "u", (0,)))
        # ...what needs the definition fails, naming the domain and the file
        for method, sig, args in (("GetXMLDesc", "u", (0,)), ("Start", "u", (0,)),
                                  ("Undefine", "u", (0,))):
            e = self.assertDBusError("IO", self.domain, p1, method, sig, args)
            self.assertIn("cannot load the definition of domain 's1'", e.message)
            self.assertIn("s1.xml", e.message)
            self.assertIn("define the domain again with DefineXML", e.message)
        # a FIFO in its place is refused at once, not read (a worker would block)
        os.mkfifo(self.config_path("s1"))
        e = self.assertDBusError("IO", self.domain, p1, "GetXMLDesc", "u", (0,))
        self.assertIn("not a regular file", e.message)
        os.unlink(self.config_path("s1"))
        # GetAllDomainStats leaves it out and answers for the others
        recs = dict(self.manager("GetAllDomainStats", "uu", (1, 0)))
        self.assertEqual(sorted(recs), ["s2"])
        # the other domain is not affected; the service is still there
        self.assertIn("<name>s2</name>", self.domain(p2, "GetXMLDesc", "u", (0,)))
        # a config of another domain under its name is refused, not taken for it
        with open(self.config_path("s1"), "w") as f:
            f.write(domain_xml("s1", U3))
        e = self.assertDBusError("IO", self.domain, p1, "GetXMLDesc", "u", (0,))
        self.assertIn("changed behind the service's back", e.message)
        # a new definition of the same name and uuid replaces what cannot be loaded
        self.assertEqual(self.define("s1", U1), p1)
        self.assertIn(U1, self.domain(p1, "GetXMLDesc", "u", (0,)))
        self.domain(p1, "Undefine", "u", (0,))
        self.assertEqual(self.manager("ListDomains", "u", (0,)), [p2])

    def test_define_keeps_a_new_domain_as_a_stub(self):
        p1 = self.define("s1", U1)
        # not loaded since DefineXML: its definition comes from the config, so removing
        # that shows
        os.unlink(self.config_path("s1"))
        self.assertDBusError("IO", self.domain, p1, "GetXMLDesc", "u", (0,))
        # a domain loaded by a call stays loaded: the config's removal does not show
        p2 = self.define("s2", U2)
        xml = self.domain(p2, "GetXMLDesc", "u", (0,))
        os.unlink(self.config_path("s2"))
        self.assertEqual(self.domain(p2, "GetXMLDesc", "u", (0,)), xml)


class StubChangeTest(StubTestCase):
    def test_define_undefine_rename_of_stubs(self):
        p1 = self.define("s1", U1, xml=rich_xml("s1", U1, memory_mib=96))
        p2 = self.define("s2", U2)
        p3 = self.define("s3", U3)
        self.restart_service()
        # a new definition of a stub updates it in place
        self.assertEqual(self.define("s1", U1, xml=rich_xml("s1", U1, memory_mib=160)), p1)
        self.assertEqual(self.get_prop(p1, DOMAIN_IFACE, "Memory"), 160 * 1024)
        self.assertIn("<memory unit='KiB'>163840</memory>",
                      self.domain(p1, "GetXMLDesc", "u", (0,)))
        # a stub's name and uuid are taken
        e = self.assertDBusError("AlreadyExists", self.define, "s2", U4)
        self.assertIn(U2, e.message)
        self.assertDBusError("AlreadyExists", self.manager, "CreateXML", "su",
                             (domain_xml("other", U3), 0))
        self.assertDBusError("AlreadyExists", self.manager, "CreateXML", "su",
                             (domain_xml("s3", U4), 0))
        self.assertDBusError("AlreadyExists", self.domain, p1, "Rename", "su", ("s3", 0))
        # a stub renamed, undefined
        self.domain(p2, "Rename", "su", ("s2b", 0))
        self.assertEqual(self.get_prop(p2, DOMAIN_IFACE, "Name"), "s2b")
        self.assertEqual(self.manager("LookupByName", "s", ("s2b",)), p2)
        self.domain(p3, "Undefine", "u", (0,))
        self.assertNotIn(p3, self.domain_objects())
        self.assertDBusError("NoDomain", self.manager, "LookupByName", "s", ("s3",))
        self.assertDBusError("NoDomain", self.domain, p3, "GetXMLDesc", "u", (0,))
        self.assertFalse(os.path.exists(self.config_path("s3")))
        # the name is free again
        self.assertEqual(self.define("s3", U4), "/org/virtbus/Virt1/domain/" + U4.replace("-", "_"))
        # everything survives one more restart as it is now
        self.restart_service()
        self.assertEqual(self.get_prop(p1, DOMAIN_IFACE, "Memory"), 160 * 1024)
        self.assertEqual(self.get_prop(p2, DOMAIN_IFACE, "Name"), "s2b")
        self.assertNotIn(p3, self.domain_objects())

    def test_autostart_set_on_a_stub(self):
        p1 = self.define("s1", U1)
        self.restart_service()
        self.set_prop(p1, DOMAIN_IFACE, "Autostart", GLibBool(True))
        self.assertTrue(self.get_prop(p1, DOMAIN_IFACE, "Autostart"))
        self.assertEqual(self.manager("ListDomains", "u", (LIST_AUTOSTART,)), [p1])

    def test_concurrent_first_calls_load_it_once(self):
        p1 = self.define("s1", U1, xml=rich_xml("s1", U1))
        expected = self.domain(p1, "GetXMLDesc", "u", (0,))
        self.restart_service()
        results, errors = [], []

        def call():
            conn = connect(self.bus.address)
            try:
                results.append(self.domain(p1, "GetXMLDesc", "u", (0,), conn=conn))
                self.domain(p1, "GetJobStats", "u", (0,), conn=conn)
            except DBusCallError as e:
                errors.append(e)
            finally:
                conn.close_sync(None)
        threads = [threading.Thread(target=call) for _ in range(12)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        self.assertEqual(errors, [])
        self.assertEqual(results, [expected] * 12)
        # one domain: a change through one object is what every later call sees
        self.domain(p1, "Undefine", "u", (0,))
        self.assertDBusError("NoDomain", self.domain, p1, "GetXMLDesc", "u", (0,))
        self.assertEqual(self.manager("ListDomains", "u", (0,)), [])
        self.define("s1", U1)
        self.assertEqual(self.manager("ListDomains", "u", (0,)), [p1])


class StubRunTest(StubTestCase):
    def test_start_and_restore_a_stub(self):
        p1 = self.define("s1", U1)
        self.restart_service()
        self.domain(p1, "Start", "u", (0,), timeout=60000)
        self.assertEqual(self.state(p1)[0], "running")
        image = os.path.join(self.tmp, "s1.save")
        job = self.domain(p1, "Save", "ssu", (image, "", 0))
        self.call(job, "org.virtbus.Virt1.Job", "Wait", timeout=120000)
        self.wait_state(p1, "shutoff", "saved")
        self.restart_service()
        # the restore goes into the stub's domain, at its path
        job = self.manager("Restore", "ssu", (image, "", 0))
        self.call(job, "org.virtbus.Virt1.Job", "Wait", timeout=120000)
        self.wait_state(p1, "running")
        self.assertEqual(self.manager("ListDomains", "u", (LIST_ACTIVE,)), [p1])
        self.domain(p1, "Destroy", "u", (0,))
        eventually(lambda: self.state(p1)[0] == "shutoff", what="shut off")


def GLibBool(v):
    from gi.repository import GLib
    return GLib.Variant("b", v)


if __name__ == "__main__":
    vbtest.main()
