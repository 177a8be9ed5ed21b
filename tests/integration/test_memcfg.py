#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Memory devices in the persistent definition (issue 13, part memcfg), with real QEMU and
the tiny guest:
- AttachDevice CONFIG of a <memory model='dimm'> on a shut-off domain: GetXMLDesc(INACTIVE)
  has it after the other memory devices, <memory>/<currentMemory> grown by its size; the
  errors (no free slot, beyond <maxMemory>, no <maxMemory slots>, a taken <address slot>,
  other models); Start cold-plugs it (query-memory-devices, the guest's MemTotal);
  DetachDevice CONFIG takes it out again and the totals shrink;
- a dimm with access/discard/<source><nodemask> hot-plugged: object-add with the same
  backend as the command line (memory-backend-file, share, discard-data, host-nodes,
  policy, qom-get), its <address slot> honoured; a taken slot refused; a <pagesize> with no
  hugetlbfs of that size mounted refused by name (nothing is left in QEMU);
- a virtio <console> (pty) hot-plugged into the running guest: virtconsole consoleN on the
  virtio-serial bus, its pty in the live XML, the guest's hvc0 runs a shell that
  OpenConsole(consoleN) reaches; detached again (DEVICE_DELETED, chardev-remove); the same for a <serial> with target type usb-serial (QEMU's
  usb-serial device on the USB controller, the guest's ttyUSB0 through ftdi_sio)."""

import json
import os
import re
import sys
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.dirname(__file__))
import vbtest  # noqa: E402
import vbmigrate  # noqa: E402
from vbtest import DOMAIN_IFACE, CtlTestCase, SignalRecorder, eventually  # noqa: E402
from test_console import Reader, open_stream  # noqa: E402

LIVE, CONFIG = 1, 2
INACTIVE = 2  # GetXMLDesc


def dimm(size_mib, node=0, extra_attrs="", inner=""):
    return (f"<memory model='dimm'{extra_attrs}>{inner}<target><size unit='MiB'>{size_mib}"
            f"</size><node>{node}</node></target></memory>")


class MemcfgTestCase(CtlTestCase):
    def setUp(self):
        vbmigrate.require_guest(self)
        super().setUp()
        self.serial = os.path.join(self.tmp, "serial.log")

    def guest(self, name, slots=2, cell_kib=262144, total_mib=256):
        xml = vbmigrate.guest_xml(name=name, serial=self.serial, tick=False,
                                  extra_cmdline="tghotplug memhp_default_state=online_movable")
        xml = xml.replace("<memory unit='MiB'>128</memory>",
                          (f"<maxMemory slots='{slots}' unit='KiB'>1048576</maxMemory>\n"
                           if slots else "") + f"  <memory unit='MiB'>{total_mib}</memory>")
        return xml.replace("</os>", f"</os>\n  <cpu><numa><cell id='0' cpus='0' "
                                    f"memory='{cell_kib}' unit='KiB'/></numa></cpu>")

    def define(self, xml):
        return self.manager("DefineXML", "su", (xml, 0))

    def xml_memory(self, path, flags=0):
        root = ET.fromstring(self.domain(path, "GetXMLDesc", "u", (flags,)))

        def kib(tag):
            e = root.find(tag)
            scale = {"KiB": 1, "k": 1, "MiB": 1024, "M": 1024, "GiB": 1 << 20}
            return int(e.text) * scale[e.get("unit", "KiB")]
        return kib("memory"), kib("currentMemory")

    def memory_devices(self, path):
        return [d["data"] for d in json.loads(self.domain(path, "QemuMonitorCommand", "s", (
            json.dumps({"execute": "query-memory-devices"}),)))["return"]]

    def qmp(self, path, cmd, args=None):
        msg = {"execute": cmd}
        if args is not None:
            msg["arguments"] = args
        return json.loads(self.domain(path, "QemuMonitorCommand", "s", (json.dumps(msg),)))

    def memtotals(self):
        return [int(x) for x in re.findall(r"TINYGUEST: memtotal (\d+) kB",
                                           vbmigrate.read_text(self.serial))]


class ConfigTest(MemcfgTestCase):
    def test_config_attach_start_detach(self):
        """CONFIG attach on a shut-off domain, the start cold-plugs it, CONFIG detach."""
        path = self.define(self.guest("memcfg1"))
        self.assertEqual(self.xml_memory(path, INACTIVE), (256 * 1024, 256 * 1024))
        # CURRENT (0) on a shut-off domain is CONFIG
        self.domain(path, "AttachDevice", "su", (dimm(128), 0))
        self.assertEqual(self.xml_memory(path, INACTIVE), (384 * 1024, 384 * 1024))
        inactive = self.domain(path, "GetXMLDesc", "u", (INACTIVE,))
        root = ET.fromstring(inactive)
        mems = root.findall("./devices/memory")
        self.assertEqual(len(mems), 1, inactive)
        self.assertEqual(mems[0].get("model"), "dimm")
        size = mems[0].find("./target/size")
        self.assertEqual((size.text, size.get("unit")), ("128", "MiB"))  # kept as written
        self.assertIsNone(mems[0].find("alias"), inactive)
        # memory devices come last in <devices>, as libvirt writes them
        self.assertEqual(list(root.find("devices"))[-1].tag, "memory", inactive)
        # a second one with an address; then the slots are full
        self.domain(path, "AttachDevice", "su", (
            dimm(64, inner="").replace("</memory>", "<address type='dimm' slot='1'/></memory>"),
            CONFIG))
        self.assertEqual(self.xml_memory(path, INACTIVE), (448 * 1024, 448 * 1024))
        self.assertDBusError("NotSupported", self.domain, path, "AttachDevice", "su",
                             (dimm(64), CONFIG))
        self.domain(path, "DetachDevice", "su", (dimm(64), CONFIG))
        self.assertEqual(self.xml_memory(path, INACTIVE), (384 * 1024, 384 * 1024))
        # errors: beyond <maxMemory>, a node without cell, other models, no match
        self.assertDBusError("InvalidArgument", self.domain, path, "AttachDevice", "su",
                             (dimm(1024), CONFIG))
        self.assertDBusError("InvalidArgument", self.domain, path, "AttachDevice", "su",
                             (dimm(64, node=2), CONFIG))
        self.assertDBusError("NotSupported", self.domain, path, "AttachDevice", "su",
                             (dimm(64).replace("'dimm'", "'virtio-mem'"), CONFIG))
        self.assertDBusError("NotSupported", self.domain, path, "AttachDevice", "su",
                             (dimm(64, inner="<source><path>/tmp/x</path></source>"), CONFIG))
        self.assertDBusError("InvalidArgument", self.domain, path, "DetachDevice", "su",
                             (dimm(96), CONFIG))
        self.assertDBusError("InvalidArgument", self.domain, path, "AttachDevice", "su",
                             (dimm(64, extra_attrs=" access='bogus'"), CONFIG))
        self.assertEqual(self.xml_memory(path, INACTIVE), (384 * 1024, 384 * 1024))
        # a user alias stays and names it for DetachDeviceAlias; no UpdateDevice
        self.domain(path, "AttachDevice", "su", (dimm(32, inner="<alias name='ua-mem1'/>"),
                                                 CONFIG))
        self.assertEqual(self.xml_memory(path, INACTIVE), (416 * 1024, 416 * 1024))
        self.assertIn("<alias name='ua-mem1'/>", self.domain(path, "GetXMLDesc", "u",
                                                             (INACTIVE,)))
        self.domain(path, "DetachDeviceAlias", "su", ("ua-mem1", CONFIG))
        self.assertEqual(self.xml_memory(path, INACTIVE), (384 * 1024, 384 * 1024))
        self.assertDBusError("NotSupported", self.domain, path, "UpdateDevice", "su",
                             (dimm(128), CONFIG))

        # the start cold-plugs it; the guest sees more than its 256 MiB cell
        self.domain(path, "Start", "u", (0,), timeout=60000)
        try:
            self.check_started(path)
        except AssertionError:
            print(vbmigrate.read_text(self.serial)[-3000:])
            raise
        finally:
            self.domain(path, "Destroy", "u", (0,))

    def check_started(self, path):
        devs = self.memory_devices(path)
        self.assertEqual([(d["id"], d["slot"], d["size"]) for d in devs],
                         [("dimm0", 0, 128 << 20)], devs)
        self.assertEqual(self.xml_memory(path), (384 * 1024, 384 * 1024))
        # more than the 256 MiB cell alone can give (the kernel keeps some of it)
        eventually(lambda: self.memtotals() and max(self.memtotals()) > 260 * 1024,
                   timeout=120, what="a MemTotal above 260 MiB")

        # CONFIG detach while running: the persistent definition only
        self.domain(path, "DetachDevice", "su", (dimm(128), CONFIG))
        self.assertEqual(self.xml_memory(path, INACTIVE), (256 * 1024, 256 * 1024))
        self.assertNotIn("<memory model", self.domain(path, "GetXMLDesc", "u", (INACTIVE,)))
        self.assertEqual(self.xml_memory(path), (384 * 1024, 384 * 1024))
        self.assertEqual(len(self.memory_devices(path)), 1)

    def test_config_needs_max_memory(self):
        """No <maxMemory slots>: refused with libvirt's words, nothing written."""
        path = self.define(self.guest("memcfg2", slots=0))
        before = self.domain(path, "GetXMLDesc", "u", (INACTIVE,))
        err = self.assertDBusError("NotSupported", self.domain, path, "AttachDevice", "su",
                                   (dimm(128), CONFIG))
        self.assertIn("maxMemory", err.message)
        self.assertEqual(self.domain(path, "GetXMLDesc", "u", (INACTIVE,)), before)


class LiveSourceTest(MemcfgTestCase):
    def test_hotplug_dimm_with_source(self):
        """access/discard/nodemask reach object-add; a given slot is honoured or refused."""
        path = self.define(self.guest("memcfg3", slots=3))
        self.domain(path, "Start", "u", (0,), timeout=60000)
        try:
            self.check_hotplug(path)
        finally:
            self.domain(path, "Destroy", "u", (0,))

    def check_hotplug(self, path):
        rec = SignalRecorder(self.conn, DOMAIN_IFACE, None, path)
        self.addCleanup(rec.close)
        # the guest must be up to take the memory movable (and give it back)
        eventually(lambda: self.memtotals(), timeout=120, what="the guest's MemTotal")
        before = self.memtotals()[-1]
        d = dimm(128, extra_attrs=" access='shared' discard='yes'",
                 inner="<source><nodemask>0</nodemask></source>").replace(
                     "</memory>", "<address type='dimm' slot='2'/></memory>")
        self.domain(path, "AttachDevice", "su", (d, LIVE))
        rec.wait_for(lambda s: s[2] == "DeviceAdded" and s[3] == ("dimm0",),
                     what="DeviceAdded dimm0")
        devs = self.memory_devices(path)
        self.assertEqual([(x["id"], x["slot"]) for x in devs], [("dimm0", 2)], devs)
        obj = "/objects/memdimm0"
        names = {p["name"]: p["type"] for p in self.qmp(path, "qom-list", {"path": obj})["return"]}
        self.assertEqual(names.get("type"), "string")
        self.assertEqual(self.qmp(path, "qom-get", {"path": obj, "property": "type"})["return"],
                         "memory-backend-file")
        for prop, want in (("share", True), ("discard-data", True), ("policy", "bind"),
                           ("host-nodes", [0])):
            self.assertEqual(self.qmp(path, "qom-get", {"path": obj, "property": prop})
                             ["return"], want, prop)
        mem_path = self.qmp(path, "qom-get", {"path": obj, "property": "mem-path"})["return"]
        self.assertTrue(mem_path.endswith("/dimm0"), mem_path)
        eventually(lambda: self.memtotals()[-1] > before + 100 * 1024, timeout=60,
                   what=f"the guest's MemTotal to grow by the dimm (from {before})")
        live = self.domain(path, "GetXMLDesc", "u", (0,))
        self.assertRegex(live, r"<memory model='dimm' access='shared' discard='yes'>")
        self.assertRegex(live, r"<address type='dimm' slot='2' base='0x[0-9a-f]+'/>")
        # the slot is taken now; a pagesize no hugetlbfs has; nothing stays in QEMU
        self.assertDBusError("OperationInvalid", self.domain, path, "AttachDevice", "su", (
            dimm(64).replace("</memory>", "<address type='dimm' slot='2'/></memory>"), LIVE))
        mounted = any(l.split()[2] == "hugetlbfs" for l in open("/proc/mounts"))
        if not mounted:
            err = self.assertDBusError("NotSupported", self.domain, path, "AttachDevice", "su", (
                dimm(64, inner="<source><pagesize unit='KiB'>2048</pagesize></source>"), LIVE))
            self.assertIn("hugetlbfs", err.message)
        objs = [o["name"] for o in self.qmp(path, "qom-list", {"path": "/objects"})["return"]]
        self.assertEqual(sorted(o for o in objs if o.startswith("memdimm")), ["memdimm0"])
        self.assertEqual(len(self.memory_devices(path)), 1)
        # detach by the same XML (nodemask and all)
        self.domain(path, "DetachDevice", "su", (d.replace(
            "<address type='dimm' slot='2'/>", ""), LIVE), timeout=60000)
        rec.wait_for(lambda s: s[2] == "DeviceRemoved" and s[3] == ("dimm0",), timeout=90,
                     what="DeviceRemoved dimm0")


class ConsoleHotplugTest(MemcfgTestCase):
    def added(self, rec, before):
        """The alias of the next DeviceAdded after @before signals."""
        got = eventually(lambda: [s for s in rec.pump()[before:] if s[2] == "DeviceAdded"],
                         timeout=10, what="DeviceAdded")
        return got[0][3][0]

    def shell_on(self, path, alias, mark, sock=None):
        sock = sock or open_stream(self.conn, path, "OpenConsole", ("s", alias))
        try:
            r = Reader(sock)
            r.wait_for(f"MARK{mark * 7}".encode(), timeout=60,
                       poke=lambda: sock.sendall(f"echo MARK$(({mark}*7))\n".encode()))
        finally:
            sock.close()

    def test_virtio_console_and_usb_serial(self):
        devices = ("<controller type='virtio-serial' index='0'/>"
                   "<controller type='usb' index='0' model='qemu-xhci'/>")
        xml = vbmigrate.guest_xml(name="memcfg4", serial=self.serial, tick=False,
                                  devices=devices, extra_cmdline="tgtty")
        path = self.define(xml)
        self.domain(path, "Start", "u", (0,), timeout=60000)
        try:
            self.check_consoles(path)
        except AssertionError:
            print(vbmigrate.read_text(self.serial)[-3000:])
            raise
        finally:
            self.domain(path, "Destroy", "u", (0,))

    def peripherals(self, path):
        return [o["name"] for o in self.qmp(path, "qom-list",
                                            {"path": "/machine/peripheral"})["return"]]

    def chardevs(self, path):
        return {c["label"]: c["filename"] for c in self.qmp(path, "query-chardev")["return"]}

    def check_consoles(self, path):
        rec = SignalRecorder(self.conn, DOMAIN_IFACE, None, path)
        self.addCleanup(rec.close)
        eventually(lambda: "TINYGUEST: READY" in vbmigrate.read_text(self.serial), timeout=120,
                   what="the guest's READY")
        con = "<console type='pty'><target type='virtio'/></console>"
        self.domain(path, "AttachDevice", "su", (con, LIVE))
        alias = self.added(rec, 0)
        self.assertRegex(alias, r"^console[0-9]$")
        self.assertIn(alias, self.peripherals(path))
        self.assertEqual(self.qmp(path, "qom-get", {"path": f"/machine/peripheral/{alias}",
                                                   "property": "type"})["return"],
                         "virtconsole")
        self.assertTrue(self.chardevs(path)[f"char{alias}"].startswith("pty:"))
        live = ET.fromstring(self.domain(path, "GetXMLDesc", "u", (0,)))
        c = [e for e in live.findall("./devices/console")
             if e.find("alias") is not None and e.find("alias").get("name") == alias]
        self.assertEqual(len(c), 1)
        self.assertTrue(c[0].get("tty", "").startswith("/dev/pts/"), ET.tostring(c[0]))
        eventually(lambda: "TINYGUEST: tty added hvc0" in vbmigrate.read_text(self.serial),
                   timeout=60, what="the guest's hvc0")
        self.shell_on(path, alias, 6)
        self.domain(path, "DetachDevice", "su", (con, LIVE), timeout=60000)
        rec.wait_for(lambda s: s[2] == "DeviceRemoved" and s[3] == (alias,), timeout=90,
                     what=f"DeviceRemoved {alias}")
        self.assertNotIn(alias, self.peripherals(path))
        self.assertNotIn(f"char{alias}", self.chardevs(path))
        # (the guest's /dev/hvc0 stays while its shell holds it open: not checked)

        ser = "<serial type='pty'><target type='usb-serial'/></serial>"
        n = len(rec.pump())
        self.domain(path, "AttachDevice", "su", (ser, LIVE))
        alias = self.added(rec, n)
        self.assertEqual(alias, "serial1")
        self.assertEqual(self.qmp(path, "qom-get", {"path": "/machine/peripheral/serial1",
                                                   "property": "type"})["return"],
                         "usb-serial")
        # QEMU's usb-serial attaches to the bus only while its chardev is connected: a
        # pty once someone opens it (here the service, for OpenConsole)
        sock = open_stream(self.conn, path, "OpenConsole", ("s", "serial1"))
        eventually(lambda: "TINYGUEST: tty added ttyUSB0" in vbmigrate.read_text(self.serial),
                   timeout=60, what="the guest's ttyUSB0")
        self.shell_on(path, "serial1", 9, sock)
        self.domain(path, "DetachDevice", "su", (ser, LIVE), timeout=60000)
        rec.wait_for(lambda s: s[2] == "DeviceRemoved" and s[3] == ("serial1",), timeout=90,
                     what="DeviceRemoved serial1")
        self.assertNotIn("serial1", self.peripherals(path))
        eventually(lambda: "TINYGUEST: tty removed ttyUSB0" in vbmigrate.read_text(self.serial),
                   timeout=60, what="ttyUSB0 gone in the guest")
        # an ISA serial port still cannot come
        self.assertDBusError("NotSupported", self.domain, path, "AttachDevice", "su", (
            "<serial type='pty'><target type='isa-serial' port='1'/></serial>", LIVE))


if __name__ == "__main__":
    vbtest.main()
