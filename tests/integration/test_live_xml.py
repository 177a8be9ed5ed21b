# SPDX-License-Identifier: LGPL-2.1-or-later
"""Issue 10, part live: the live XML shows what libvirt clients read (<domain id>, device
aliases, <listen>, ptys, ports), none of it outlives the run or enters a stored config,
defaults written back at define, and Unsupported. The real virtbusd, real QEMU (TCG)."""

import os
import re
import sys

sys.path.insert(0, os.path.dirname(__file__))
import vbtest  # noqa: E402
from vbtest import (DOMAIN_IFACE, CtlTestCase, SignalRecorder,  # noqa: E402
                    eventually)

INACTIVE = 2

LIVE_XML = """<domain type='qemu'>
  <name>{name}</name>
  <uuid>{uuid}</uuid>
  <memory unit='MiB'>128</memory>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
  </os>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <interface type='user'>
      <mac address='52:54:00:12:34:56'/>
      <model type='virtio'/>
    </interface>
    <interface type='user'>
      <mac address='52:54:00:12:34:57'/>
      <model type='rtl8139'/>
      <alias name='ua-second-nic'/>
    </interface>
    <serial type='pty'>
      <target port='0'/>
    </serial>
    <console type='pty'>
      <target type='serial' port='0'/>
    </console>
    <input type='tablet' bus='usb'/>
    <graphics type='vnc' autoport='yes'/>
    <video/>
    <memballoon model='virtio'/>
  </devices>
</domain>
"""

RUNTIME_ONLY = [r" id='\d+'", r"/dev/pts/", r" tty=", r"<alias name='(?!ua-)",
                r"port='59\d\d'"]


class LiveXmlTest(CtlTestCase):
    def start_and_wait(self, path):
        self.domain(path, "Start", "u", (0,), timeout=60000)
        eventually(lambda: self.get_prop(path, DOMAIN_IFACE, "State") == "running",
                   timeout=30, what="domain to run")

    def config_file(self, name):
        with open(os.path.join(self.root, "etc/virtbus/qemu", f"{name}.xml")) as f:
            return f.read()

    def assert_no_runtime(self, xml, what):
        for pattern in RUNTIME_ONLY:
            self.assertIsNone(re.search(pattern, xml), f"{what}: {pattern} in\n{xml}")

    def test_live_xml_and_stop(self):
        """Aliases, id, pty and port while running; gone after the stop, never stored."""
        name = "live"
        path = self.manager("DefineXML", "su", (LIVE_XML.format(
            name=name, uuid="5c0e4a53-8b8f-4f0a-9f52-1d4c1d1a0001"), 0))
        self.start_and_wait(path)
        live = self.domain(path, "GetXMLDesc", "u", (0,))
        dom_id = self.get_prop(path, DOMAIN_IFACE, "Id")
        self.assertIn(f"<domain type='qemu' id='{dom_id}'>", live)
        for alias in ("net0", "ua-second-nic", "serial0", "input0", "video0", "balloon0",
                      "usb", "pci.0"):
            self.assertIn(f"<alias name='{alias}'/>", live)
        # the <video/> default written back, and the device it became is named
        self.assertIn("<model type='cirrus'/>\n      <alias name='video0'/>", live)
        m = re.search(r"<console type='pty' tty='(/dev/pts/\d+)'>", live)
        self.assertIsNotNone(m, live)
        self.assertIn(f"<source path='{m.group(1)}'/>", live)
        self.assertTrue(os.path.exists(m.group(1)))
        m = re.search(r"<graphics type='vnc' port='(\d+)' autoport='yes' "
                      r"listen='127.0.0.1'>\n\s*<listen type='address' address='127.0.0.1'/>",
                      live)
        self.assertIsNotNone(m, live)
        self.assertGreaterEqual(int(m.group(1)), 5900)

        # the persistent definition meanwhile
        inactive = self.domain(path, "GetXMLDesc", "u", (INACTIVE,))
        self.assert_no_runtime(inactive, "GetXMLDesc(INACTIVE) while running")
        self.assertIn("<alias name='ua-second-nic'/>", inactive)
        self.assert_no_runtime(self.config_file(name), "stored config while running")

        # dumpxml | define while running: the stored config takes none of it
        self.manager("DefineXML", "su", (live, 0))
        self.assert_no_runtime(self.config_file(name), "config defined from the live XML")
        self.assert_no_runtime(self.domain(path, "GetXMLDesc", "u", (INACTIVE,)),
                               "pending definition")

        self.domain(path, "Destroy", "u", (0,))
        eventually(lambda: self.get_prop(path, DOMAIN_IFACE, "State") == "shutoff",
                   what="domain to stop")
        for flags in (0, INACTIVE):
            after = self.domain(path, "GetXMLDesc", "u", (flags,))
            self.assert_no_runtime(after, f"GetXMLDesc({flags}) after the stop")
            self.assertIn("<graphics type='vnc' port='-1' autoport='yes'", after)
            self.assertIn("<alias name='ua-second-nic'/>", after)

        # a second run gets the same names again (nothing doubled)
        self.start_and_wait(path)
        live = self.domain(path, "GetXMLDesc", "u", (0,))
        self.assertEqual(live.count("<alias name='net0'/>"), 1, live)
        self.assertEqual(live.count("<alias name='serial0'/>"), 2, live)  # serial + console
        self.domain(path, "Destroy", "u", (0,))

    def test_transient_live_xml(self):
        """CreateXML: the same live values, and INACTIVE shows the definition without them."""
        path = self.manager("CreateXML", "su", (LIVE_XML.format(
            name="transient", uuid="5c0e4a53-8b8f-4f0a-9f52-1d4c1d1a0002"), 0),
            timeout=60000)
        eventually(lambda: self.get_prop(path, DOMAIN_IFACE, "State") == "running",
                   timeout=30, what="domain to run")
        live = self.domain(path, "GetXMLDesc", "u", (0,))
        self.assertIn("<alias name='net0'/>", live)
        self.assertIn("/dev/pts/", live)
        self.assert_no_runtime(self.domain(path, "GetXMLDesc", "u", (INACTIVE,)),
                               "transient INACTIVE")
        self.domain(path, "Destroy", "u", (0,))

    def test_floppy_boot_order_starts(self):
        """A floppy with <boot order> used to be -device floppy,bootindex=N (QEMU refuses)."""
        img = os.path.join(self.tmp, "floppy.img")
        with open(img, "wb") as f:
            f.truncate(1474560)
        xml = f"""<domain type='qemu'>
  <name>floppy-boot</name>
  <memory unit='MiB'>64</memory>
  <os><type arch='x86_64' machine='pc'>hvm</type></os>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <disk type='file' device='floppy'>
      <driver name='qemu' type='raw'/>
      <source file='{img}'/>
      <target dev='fda' bus='fdc'/>
      <boot order='1'/>
    </disk>
  </devices>
</domain>"""
        path = self.manager("DefineXML", "su", (xml, 0))
        self.start_and_wait(path)
        live = self.domain(path, "GetXMLDesc", "u", (0,))
        self.assertIn("<alias name='fdc0-0-0'/>", live)
        self.assertIn("<boot order='1'/>", live)
        self.domain(path, "Destroy", "u", (0,))

    def test_memory_aligned_at_start(self):
        """NUMA cells of 109550 KiB (libvirt's cpu-numa1) failed in QEMU: it rounds -m up to
        8 KiB and wants the nodes to add up to it. A new start aligns as libvirt does."""
        xml = """<domain type='qemu'>
  <name>numa-align</name>
  <memory unit='KiB'>219100</memory>
  <vcpu>2</vcpu>
  <cpu>
    <numa>
      <cell id='0' cpus='0' memory='109550' unit='KiB'/>
      <cell id='1' cpus='1' memory='109550' unit='KiB'/>
    </numa>
  </cpu>
  <os><type arch='x86_64' machine='q35'>hvm</type></os>
  <devices><emulator>/usr/bin/qemu-system-x86_64</emulator></devices>
</domain>"""
        path = self.manager("DefineXML", "su", (xml, 0))
        self.start_and_wait(path)
        live = self.domain(path, "GetXMLDesc", "u", (0,))
        self.assertEqual(live.count("memory='109568' unit='KiB'"), 2, live)
        self.assertIn("<memory unit='KiB'>219136</memory>", live)
        self.assertIn("<currentMemory unit='KiB'>219136</currentMemory>", live)
        (cmdline,) = vbtest.qemus_under(self.root).values()
        self.assertIn("-m size=219136k", cmdline)
        # the persistent definition keeps what the user wrote
        inactive = self.domain(path, "GetXMLDesc", "u", (INACTIVE,))
        self.assertEqual(inactive.count("memory='109550' unit='KiB'"), 2, inactive)
        self.assertIn("<memory unit='KiB'>219100</memory>", self.config_file("numa-align"))
        self.domain(path, "Destroy", "u", (0,))
        self.assertIn("<memory unit='KiB'>219100</memory>",
                      self.domain(path, "GetXMLDesc", "u", (0,)))

    def test_refused_start_names_only_its_cause(self):
        """A start refused before QEMU ran used to carry the whole domain log of the earlier
        runs (command lines, QEMU's messages) as "QEMU: ..." in its error."""
        xml = """<domain type='qemu'>
  <name>logged</name>
  <uuid>5c0e4a53-8b8f-4f0a-9f52-1d4c1d1a0042</uuid>
  <memory unit='MiB'>64</memory>
  <os><type arch='x86_64' machine='pc'>hvm</type></os>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>{disk}
  </devices>
</domain>"""
        path = self.manager("DefineXML", "su", (xml.format(disk=""), 0))
        self.start_and_wait(path)
        self.domain(path, "Destroy", "u", (0,))
        missing = os.path.join(self.tmp, "gone.qcow2")
        self.manager("DefineXML", "su", (xml.format(disk=f"""
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file='{missing}'/>
      <target dev='vda' bus='virtio'/>
    </disk>"""), 0))
        err = self.assertDBusError("InvalidArgument", self.domain, path, "Start", "u", (0,))
        self.assertEqual(err.message, f"cannot start domain 'logged': source '{missing}' of "
                                      "disk 'vda' does not exist")

    def test_arch_and_machine_defaults(self):
        """<type>hvm</type> alone used to fail at Start with architecture '(null)'."""
        cases = [
            ("noarch", "<type>hvm</type>", "", "x86_64", "pc-i440fx-7.2"),
            ("q35alias", "<type machine='q35'>hvm</type>", "", "x86_64", "pc-q35-7.2"),
            ("emul", "<type>hvm</type>",
             "<emulator>/usr/bin/qemu-system-x86_64</emulator>", "x86_64", "pc-i440fx-7.2"),
            ("i386", "<type arch='i686'>hvm</type>",
             "<emulator>/usr/bin/qemu-system-i386</emulator>", "i686", "pc-i440fx-7.2"),
        ]
        for name, os_type, emulator, arch, machine in cases:
            xml = (f"<domain type='qemu'><name>{name}</name><memory unit='MiB'>64</memory>"
                   f"<os>{os_type}</os><devices>{emulator}</devices></domain>")
            path = self.manager("DefineXML", "su", (xml, 0), timeout=60000)
            want = f"<type arch='{arch}' machine='{machine}'>hvm</type>"
            self.assertIn(want, self.domain(path, "GetXMLDesc", "u", (INACTIVE,)))
            self.assertIn(want, self.config_file(name))
        path = self.manager("LookupByName", "s", ("noarch",))
        self.start_and_wait(path)
        self.assertIn("<type arch='x86_64' machine='pc-i440fx-7.2'>hvm</type>",
                      self.domain(path, "GetXMLDesc", "u", (0,)))
        self.domain(path, "Destroy", "u", (0,))
        # CreateXML takes the same defaults
        path = self.manager("CreateXML", "su", (
            "<domain type='qemu'><name>created</name><memory unit='MiB'>64</memory>"
            "<os><type>hvm</type></os></domain>", 0), timeout=60000)
        self.assertIn("machine='pc-i440fx-7.2'", self.domain(path, "GetXMLDesc", "u", (0,)))
        self.domain(path, "Destroy", "u", (0,))
        # an architecture nothing is installed for: a named error, nothing defined
        err = self.assertDBusError(
            "NotSupported", self.manager, "DefineXML", "su",
            ("<domain type='qemu'><name>sparc</name><memory unit='MiB'>64</memory>"
             "<os><type arch='sparc64'>hvm</type></os></domain>", 0))
        self.assertIn("architecture 'sparc64' is not supported: virtbus runs x86 guests",
                      err.message)
        self.assertDBusError("NoDomain", self.manager, "LookupByName", "s", ("sparc",))
        # libvirt's aarch64 'virt' machine (PCI Express root): the architecture is named,
        # not an i440fx rule about its PCI controllers
        err = self.assertDBusError(
            "NotSupported", self.manager, "DefineXML", "su",
            ("<domain type='qemu'><name>arm</name><memory unit='MiB'>64</memory>"
             "<os><type arch='aarch64' machine='virt'>hvm</type></os><devices>"
             "<controller type='pci' index='0' model='pcie-root'/></devices></domain>", 0))
        self.assertIn("architecture 'aarch64' is not supported", err.message)
        # other hypervisors' domain types are valid libvirt XML this service cannot run
        err = self.assertDBusError(
            "NotSupported", self.manager, "DefineXML", "su",
            ("<domain type='hvf'><name>mac</name><memory unit='MiB'>64</memory>"
             "<os><type arch='x86_64'>hvm</type></os></domain>", 0))
        self.assertIn("domain type 'hvf' is not supported", err.message)
        self.assertDBusError("NoDomain", self.manager, "LookupByName", "s", ("arm",))

    UNSUPPORTED_XML = """<domain type='qemu'>
  <name>unsup</name>
  <uuid>5c0e4a53-8b8f-4f0a-9f52-1d4c1d1a0003</uuid>
  <memory unit='MiB'>64</memory>
  <memtune>
    <hard_limit unit='MiB'>512</hard_limit>
  </memtune>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
  </os>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <vsock model='virtio'>
      <cid auto='yes'/>
    </vsock>
  </devices>
</domain>
"""

    def test_unsupported_property_and_validate(self):
        """Kept-only settings reach the caller: Unsupported, VALIDATE, virtbusctl."""
        xml = self.UNSUPPORTED_XML
        # VALIDATE refuses, naming every element by the caller's line
        err = self.assertDBusError("NotSupported", self.manager, "DefineXML", "su", (xml, 1))
        self.assertIn("<memtune><hard_limit> at line 6: not applied: cgroup_mode is none", err.message)
        self.assertIn("<vsock> at line 13", err.message)
        self.assertDBusError("NoDomain", self.manager, "LookupByName", "s", ("unsup",))
        err = self.assertDBusError("NotSupported", self.manager, "CreateXML", "su", (xml, 16))
        self.assertIn("<memtune><hard_limit> at line 6", err.message)
        self.assertDBusError("NoDomain", self.manager, "LookupByName", "s", ("unsup",))

        # without it: defined, and listed
        path = self.manager("DefineXML", "su", (xml, 0))
        unsupported = self.get_prop(path, DOMAIN_IFACE, "Unsupported")
        self.assertEqual(len(unsupported), 2, unsupported)
        self.assertTrue(unsupported[0].startswith("<memtune><hard_limit> at line 6: not applied: cgroup_mode is none"), unsupported)
        self.assertTrue(unsupported[1].startswith("<vsock> at line 13: "), unsupported)
        self.assertTrue(unsupported[1].endswith("(the domain will not start)"), unsupported)

        # virtbusctl prints them after define, and info shows them
        f = os.path.join(self.tmp, "unsup.xml")
        with open(f, "w") as fh:
            fh.write(xml)
        out = self.ctl("define", f).stdout
        self.assertIn("  <memtune><hard_limit> at line 6: not applied: cgroup_mode is none", out)
        out = self.ctl("info", "unsup").stdout
        self.assertRegex(out, r"Unsupported: +<memtune><hard_limit> at line 6: not applied: cgroup_mode is none[^\n]*\n  <vsock> at line 13")
        p = self.ctl("define", "--validate", f, check=False)
        self.assertFails(p, 1, "<memtune><hard_limit> at line 6")

        # a service restart keeps the caller's lines
        self.assertEqual(self.service.stop(), 0)
        self.service.start()
        self.assertEqual(self.get_prop(path, DOMAIN_IFACE, "Unsupported"), unsupported)
        # the start refuses the vsock naming it by its path in the stored config, not a line
        err = self.assertDBusError("NotSupported", self.domain, path, "Start", "u", (0,),
                                   timeout=60000)
        self.assertIn("devices/vsock[1]", err.message)
        self.assertNotIn("line", err.message)

        # a new define that acts on everything empties it, with PropertiesChanged
        rec = SignalRecorder(self.conn, "org.freedesktop.DBus.Properties",
                             "PropertiesChanged", path)
        clean = re.sub(r"<memtune>.*?</memtune>\s*", "", xml, flags=re.S)
        clean = re.sub(r"<vsock .*?</vsock>\s*", "", clean, flags=re.S)
        self.manager("DefineXML", "su", (clean, 1))
        rec.wait_for(lambda s: s[3][0] == DOMAIN_IFACE and "Unsupported" in s[3][1] and
                     s[3][1]["Unsupported"] == [], what="Unsupported emptied")
        rec.close()
        self.assertEqual(self.get_prop(path, DOMAIN_IFACE, "Unsupported"), [])
        self.assertFalse(os.path.exists(os.path.join(self.root, "etc/virtbus/qemu",
                                                     "unsup.unsupported")))


if __name__ == "__main__":
    vbtest.main()
