#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Devices while running (issue 13, part hotplug), with real QEMU and the tiny guest:
a virtio disk attached to the running guest appears in it (the guest prints the marker
it reads from the disk's first sector),
DeviceAdded is sent; DetachDevice waits for DEVICE_DELETED, the block nodes go and
DeviceRemoved is sent; a CONFIG-only attach lands in the persistent XML only; a bad device
gets a named error and leaves nothing in QEMU; a cdrom's medium changes (UpdateDevice) and
the guest reads the new one."""

import json
import os
import re
import socket
import time

import vbtest
from test_console import Reader, open_stream
from vbtest import CtlTestCase, SignalRecorder, eventually

GUEST_DIR = os.environ.get("VB_TINY_GUEST", "")
DOMAIN_IFACE = "org.virtbus.Virt1.Domain"
LIVE, CONFIG = 1, 2
INACTIVE = 2  # GetXMLDesc


def guest_xml(name, extra="", machine="q35"):
    with open(os.path.join(GUEST_DIR, "cmdline")) as f:
        cmdline = f.read().strip() + " tgconsole"
    # free PCIe root ports: where q35 hot-plugs PCI devices (as with libvirt)
    ports = ("<controller type='pci' index='0' model='pcie-root'/>" +
             "<controller type='pci' model='pcie-root-port'/>" * 3) if machine == "q35" else ""
    return f"""<domain type='qemu'>
  <name>{name}</name>
  <memory unit='MiB'>128</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='{machine}'>hvm</type>
    <kernel>{GUEST_DIR}/vmlinux</kernel>
    <initrd>{GUEST_DIR}/initrd.img</initrd>
    <cmdline>{cmdline}</cmdline>
  </os>
  <devices>
    <serial type='pty'>
      <target port='0'/>
    </serial>
    {ports}
    {extra}
  </devices>
</domain>
"""


def qmp_direct(sock_path, cmd, args, wait_event, timeout=30):
    """One command on QEMU's own QMP socket (the service is down), then waits for an
    event."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(sock_path)
    f = s.makefile("rwb")
    try:
        json.loads(f.readline())  # greeting

        def call(c, a=None):
            msg = {"execute": c}
            if a is not None:
                msg["arguments"] = a
            f.write(json.dumps(msg).encode() + b"\n")
            f.flush()
            while True:
                r = json.loads(f.readline())
                if "return" in r or "error" in r:
                    return r

        call("qmp_capabilities")
        r = call(cmd, args)
        assert "return" in r, r
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            r = json.loads(f.readline())
            if r.get("event") == wait_event and \
                    r.get("data", {}).get("device") == args.get("id"):
                return r
        raise AssertionError(f"no {wait_event} within {timeout} s")
    finally:
        f.close()
        s.close()


def disk_xml(path, dev="vdb", fmt="raw", bus="virtio"):
    return (f"<disk type='file' device='disk'><driver name='qemu' type='{fmt}'/>"
            f"<source file='{path}'/><target dev='{dev}' bus='{bus}'/></disk>")


class HotplugTestCase(CtlTestCase):
    def setUp(self):
        if not os.path.exists(os.path.join(GUEST_DIR, "vmlinux")):
            self.fail(f"the tiny guest is not built in {GUEST_DIR}")
        super().setUp()

    def image(self, name, size=1 << 20, head=b""):
        path = os.path.join(self.tmp, name)
        with open(path, "wb") as f:
            f.write(head)
            f.truncate(size)
        return path

    def start_guest(self, name, extra="", machine="q35"):
        path = self.manager("DefineXML", "su", (guest_xml(name, extra, machine), 0))
        self.domain(path, "Start", "u", (0,), timeout=60000)
        sock = open_stream(self.conn, path, "OpenConsole", ("s", ""))
        reader = Reader(sock)
        self.addCleanup(sock.close)
        reader.wait_for(b"TINYGUEST: READY", 90)
        return path, sock, reader

    def qmp(self, path, cmd, args=None):
        req = {"execute": cmd}
        if args is not None:
            req["arguments"] = args
        reply = json.loads(self.domain(path, "QemuMonitorCommand", "s", (json.dumps(req),)))
        self.assertIn("return", reply, reply)
        return reply["return"]

    def peripherals(self, path):
        return sorted(p["name"] for p in self.qmp(path, "qom-list", {"path": "/machine/peripheral"})
                      if p["type"].startswith("child<"))

    def node_names(self, path):
        return sorted(n["node-name"] for n in self.qmp(path, "query-named-block-nodes",
                                                      {"flat": True}))

    def guest_marker(self, reader, pattern, start, timeout=60):
        """The first match of @pattern (bytes regex) in the console output after offset
        @start: the guest's "disk added/removed" lines (tests/guest/README.md)."""
        pat = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            m = pat.search(reader.pump(), start)
            if m:
                return m
            if reader.eof:
                break
        raise AssertionError(f"no {pattern!r} from the guest within {timeout} s: "
                             f"{reader.data[start:][-2000:]!r}")

    def attach_seen(self, path, reader, name, dev="vdb", flags=LIVE):
        """Attaches a raw disk whose first sector holds a marker; returns its image and
        the name the guest gave it, once the guest has read the marker from it."""
        mark = f"HPDISK-{name}"
        img = self.image(f"{name}.raw", head=mark.encode() + b"\n")
        start = len(reader.pump(0))
        self.domain(path, "AttachDevice", "su", (disk_xml(img, dev), flags))
        m = self.guest_marker(reader, rb"TINYGUEST: disk added (\w+) head=" +
                              re.escape(mark.encode()) + rb"\r?\n", start)
        return img, m.group(1)


class HotplugTest(HotplugTestCase):
    def test_virtio_disk_attach_detach(self):
        path, sock, reader = self.start_guest("hp1")
        rec = SignalRecorder(self.conn, DOMAIN_IFACE, None, path)
        self.addCleanup(rec.close)
        nodes0 = self.node_names(path)

        img, gname = self.attach_seen(path, reader, "hp1")
        # the guest has no other disk: it calls the first one vda whatever the target
        self.assertEqual(gname, b"vda")
        live = self.domain(path, "GetXMLDesc", "u", (0,))
        self.assertIn("<target dev='vdb' bus='virtio'/>", live)
        self.assertIn("<alias name='virtio-disk1'/>", live)
        self.assertRegex(live, r"(?s)<target dev='vdb'.*<address type='pci'")
        self.assertNotIn("vdb", self.domain(path, "GetXMLDesc", "u", (INACTIVE,)))
        self.assertIn("virtio-disk1", self.peripherals(path))
        self.assertEqual(len(self.node_names(path)), len(nodes0) + 2)
        rec.wait_for(lambda s: s[2] == "DeviceAdded" and s[3] == ("virtio-disk1",),
                     what="DeviceAdded")

        # a second disk with the same target is refused by name, QEMU unchanged
        err = self.assertDBusError("AlreadyExists", self.domain, path, "AttachDevice", "su",
                                   (disk_xml(self.image("other.raw")), LIVE))
        self.assertIn("target vdb already exists", err.message)
        self.assertEqual(len(self.node_names(path)), len(nodes0) + 2)

        start = len(reader.pump(0))
        self.domain(path, "DetachDevice", "su", (disk_xml(img), LIVE), timeout=60000)
        rec.wait_for(lambda s: s[2] == "DeviceRemoved" and s[3] == ("virtio-disk1",),
                     timeout=30, what="DeviceRemoved")
        self.guest_marker(reader, rb"TINYGUEST: disk removed vda\r?\n", start)
        eventually(lambda: "vdb" not in self.domain(path, "GetXMLDesc", "u", (0,)),
                   timeout=30, what="vdb gone from the live XML")
        self.assertNotIn("virtio-disk1", self.peripherals(path))
        eventually(lambda: self.node_names(path) == nodes0, timeout=10,
                   what="the disk's block nodes deleted")

        # attached again under the same target: the guest reads the new image
        img2, gname = self.attach_seen(path, reader, "hp1b")
        self.assertIn(img2, self.domain(path, "GetXMLDesc", "u", (0,)))

    def test_config_only_and_errors(self):
        path, sock, reader = self.start_guest("hp2", "<controller type='virtio-serial'/>")
        img = self.image("cfg.raw")
        periph0, nodes0 = self.peripherals(path), self.node_names(path)

        self.domain(path, "AttachDevice", "su", (disk_xml(img, "vdc"), CONFIG))
        self.assertIn("<target dev='vdc' bus='virtio'/>",
                      self.domain(path, "GetXMLDesc", "u", (INACTIVE,)))
        self.assertNotIn("vdc", self.domain(path, "GetXMLDesc", "u", (0,)))
        conf = os.path.join(self.root, "etc", "qemu", "hp2.xml")
        for d, _, files in os.walk(self.root):
            if "hp2.xml" in files and "run" not in d:
                conf = os.path.join(d, "hp2.xml")
        with open(conf) as f:
            self.assertIn("vdc", f.read())
        self.assertEqual(self.peripherals(path), periph0)

        # a missing image: a named error, nothing added to QEMU
        try:
            self.domain(path, "AttachDevice", "su",
                        (disk_xml(os.path.join(self.tmp, "missing.raw"), "vdd"), LIVE))
            self.fail("attaching a missing image succeeded")
        except vbtest.DBusCallError as e:
            err = e
        self.assertIn("missing.raw", err.message)
        self.assertEqual(self.peripherals(path), periph0)
        self.assertEqual(self.node_names(path), nodes0)
        self.assertNotIn("vdd", self.domain(path, "GetXMLDesc", "u", (0,)))
        # QEMU refuses the image (qcow2 claimed for a raw file): rolled back
        try:
            self.domain(path, "AttachDevice", "su", (disk_xml(img, "vde", "qcow2"), LIVE))
            self.fail("attaching a raw file as qcow2 succeeded")
        except vbtest.DBusCallError as e:
            err = e
        self.assertTrue(err.name.startswith("org.virtbus.Virt1.Error."), err.name)
        self.assertIn("qcow2", err.message)
        self.assertEqual(self.peripherals(path), periph0)
        self.assertEqual(self.node_names(path), nodes0)
        # malformed XML, unknown elements, bad flags, detaching what is not there
        self.assertDBusError("InvalidXML", self.domain, path, "AttachDevice", "su",
                             ("<disk", LIVE))
        self.assertDBusError("NotSupported", self.domain, path, "AttachDevice", "su",
                             ("<hostdev mode='subsystem'/>", LIVE))
        self.assertDBusError("InvalidArgument", self.domain, path, "AttachDevice", "su",
                             (disk_xml(img, "vdf"), 8))
        err = self.assertDBusError("InvalidArgument", self.domain, path, "DetachDevice", "su",
                                   (disk_xml(img, "vdq"), LIVE))
        self.assertIn("disk vdq not found", err.message)
        err = self.assertDBusError("InvalidArgument", self.domain, path, "DetachDeviceAlias",
                                   "su", ("virtio-disk9", LIVE))
        self.assertIn("no device found with alias virtio-disk9", err.message)
        # an interface of type user: -netdev and -device from the builder, detached by MAC
        rec = SignalRecorder(self.conn, DOMAIN_IFACE, None, path)
        self.addCleanup(rec.close)
        nic = ("<interface type='user'><mac address='52:54:00:12:34:99'/>"
               "<model type='virtio'/></interface>")
        self.domain(path, "AttachDevice", "su", (nic, LIVE))
        self.assertIn("net0", self.peripherals(path))
        self.assertIn("<alias name='net0'/>", self.domain(path, "GetXMLDesc", "u", (0,)))
        self.domain(path, "DetachDevice", "su", (nic, LIVE), timeout=60000)
        rec.wait_for(lambda s: s[2] == "DeviceRemoved" and s[3] == ("net0",), timeout=30,
                     what="DeviceRemoved net0")
        self.assertEqual(self.peripherals(path), periph0)
        self.assertNotIn("52:54:00:12:34:99", self.domain(path, "GetXMLDesc", "u", (0,)))
        # an rng: -object and -device; both go with the unplug
        rng = "<rng model='virtio'><backend model='random'>/dev/urandom</backend></rng>"
        self.domain(path, "AttachDevice", "su", (rng, LIVE))
        self.assertIn("rng0", self.peripherals(path))
        objs = [o["name"] for o in self.qmp(path, "qom-list", {"path": "/objects"})]
        self.assertIn("objrng0", objs)
        self.domain(path, "DetachDeviceAlias", "su", ("rng0", LIVE))
        rec.wait_for(lambda s: s[2] == "DeviceRemoved" and s[3] == ("rng0",), timeout=30,
                     what="DeviceRemoved rng0")
        eventually(lambda: "objrng0" not in [o["name"] for o in self.qmp(
            path, "qom-list", {"path": "/objects"})], timeout=10, what="objrng0 deleted")
        self.assertEqual(self.peripherals(path), periph0)
        # the agent's channel: chardev-add (a unix socket QEMU listens on) and a
        # virtserialport; the detach removes both
        chan = ("<channel type='unix'><target type='virtio' name='org.qemu.guest_agent.0'/>"
                "</channel>")
        self.domain(path, "AttachDevice", "su", (chan, LIVE))
        self.assertIn("channel0", self.peripherals(path))
        self.assertIn("charchannel0", [c["label"] for c in self.qmp(path, "query-chardev")])
        self.assertIn("org.qemu.guest_agent.0", self.domain(path, "GetXMLDesc", "u", (0,)))
        self.domain(path, "DetachDevice", "su", (chan, LIVE), timeout=60000)
        rec.wait_for(lambda s: s[2] == "DeviceRemoved" and s[3] == ("channel0",), timeout=30,
                     what="DeviceRemoved channel0")
        eventually(lambda: "charchannel0" not in [c["label"] for c in self.qmp(
            path, "query-chardev")], timeout=10, what="charchannel0 removed")
        self.assertEqual(self.peripherals(path), periph0)
        # a tap-backed type on a bridge the host lacks (test_hotplug_net.py attaches real
        # ones in a network namespace), and vhostuser: named, nothing left
        self.assertDBusError("InvalidArgument", self.domain, path, "AttachDevice", "su",
                             ("<interface type='bridge'><source bridge='nobr0'/>"
                              "<model type='virtio'/></interface>", LIVE))
        self.assertEqual(self.peripherals(path), periph0)
        self.assertDBusError("NotSupported", self.domain, path, "AttachDevice", "su",
                             ("<interface type='vhostuser'><source type='unix' path='/x' "
                              "mode='client'/><model type='virtio'/></interface>", LIVE))
        self.assertEqual(self.peripherals(path), periph0)
        # the config-only disk goes with CONFIG
        self.domain(path, "DetachDevice", "su", (disk_xml(img, "vdc"), CONFIG))
        self.assertNotIn("vdc", self.domain(path, "GetXMLDesc", "u", (INACTIVE,)))
        # LIVE on a stopped domain
        self.domain(path, "Destroy", "u", (0,))
        self.assertDBusError("OperationInvalid", self.domain, path, "AttachDevice", "su",
                             (disk_xml(img, "vdc"), LIVE))
        # CURRENT on a stopped domain is CONFIG
        self.domain(path, "AttachDevice", "su", (disk_xml(img, "vdc"), 0))
        self.assertIn("vdc", self.domain(path, "GetXMLDesc", "u", (0,)))

    def test_detach_alias_async(self):
        """DetachDeviceAlias returns at once; the removal finishes from the event worker
        when DEVICE_DELETED arrives. On pc (i440fx): ACPI hot plug on bus 0."""
        path, sock, reader = self.start_guest("hp3", machine="pc")
        rec = SignalRecorder(self.conn, DOMAIN_IFACE, None, path)
        self.addCleanup(rec.close)
        nodes0 = self.node_names(path)
        # CURRENT on a running domain is LIVE
        img, gname = self.attach_seen(path, reader, "hp3", flags=0)
        self.assertNotIn("vdb", self.domain(path, "GetXMLDesc", "u", (INACTIVE,)))
        self.assertRegex(self.domain(path, "GetXMLDesc", "u", (0,)),
                         r"(?s)<target dev='vdb'.*<address type='pci' domain='0x0000' bus='0x00'")
        nodes_with = self.node_names(path)
        self.assertEqual(len(nodes_with), len(nodes0) + 2)
        start = len(reader.pump(0))
        t0 = time.monotonic()
        self.domain(path, "DetachDeviceAlias", "su", ("virtio-disk1", LIVE))
        returned = time.monotonic() - t0
        rec.wait_for(lambda s: s[2] == "DeviceRemoved" and s[3] == ("virtio-disk1",),
                     timeout=30, what="DeviceRemoved")
        self.guest_marker(reader, rb"TINYGUEST: disk removed " + gname + rb"\r?\n", start)
        eventually(lambda: "vdb" not in self.domain(path, "GetXMLDesc", "u", (0,)),
                   timeout=10, what="vdb gone from the live XML")
        self.assertEqual(self.node_names(path), nodes0)
        self.assertNotIn("virtio-disk1", self.peripherals(path))
        # it did not wait for the guest (DetachDevice waits up to 5 s)
        self.assertLess(returned, 5.0)

    def test_unplugged_while_service_down(self):
        """A device QEMU dropped while the service was down leaves the live XML when the
        service reconnects, and its backends leave QEMU: the disk's block nodes, a NIC's
        netdev, an rng's object."""
        extra = ("<interface type='user'><mac address='52:54:00:12:34:98'/>"
                 "<model type='virtio'/></interface>"
                 "<rng model='virtio'><backend model='random'>/dev/urandom</backend></rng>")
        path, sock, reader = self.start_guest("hp5", extra)
        nodes0 = self.node_names(path)
        img, gname = self.attach_seen(path, reader, "hp5")
        self.assertEqual(len(self.node_names(path)), len(nodes0) + 2)
        sock.close()
        self.conn.close_sync(None)
        self.assertEqual(self.service.stop(), 0)
        mons = [os.path.join(d, "monitor.sock") for d, _, files in os.walk(self.root)
                if "monitor.sock" in files]
        self.assertEqual(len(mons), 1, mons)
        for dev in ("virtio-disk1", "net0", "rng0"):
            ev = qmp_direct(mons[0], "device_del", {"id": dev}, "DEVICE_DELETED")
            self.assertEqual(ev["data"]["device"], dev)
        self.service.start()
        self.conn = vbtest.connect(self.bus.address)
        eventually(lambda: "vdb" not in self.domain(path, "GetXMLDesc", "u", (0,)),
                   timeout=30, what="vdb gone from the live XML after the reconnect")
        live = self.domain(path, "GetXMLDesc", "u", (0,))
        self.assertNotIn("52:54:00:12:34:98", live)
        self.assertNotIn("<rng", live)
        periph = self.peripherals(path)
        for dev in ("virtio-disk1", "net0", "rng0"):
            self.assertNotIn(dev, periph)
        self.assertEqual(self.node_names(path), nodes0)
        self.assertNotIn("objrng0", [o["name"] for o in self.qmp(path, "qom-list",
                                                                   {"path": "/objects"})])
        self.assertNotIn("hostnet0", self.qmp(path, "human-monitor-command",
                                              {"command-line": "info network"}))
        self.assertEqual(self.get_prop(path, DOMAIN_IFACE, "State"), "running")
        # the persistent definition keeps its devices
        inactive = self.domain(path, "GetXMLDesc", "u", (INACTIVE,))
        self.assertIn("52:54:00:12:34:98", inactive)
        self.assertIn("<rng", inactive)

    def test_virtbusctl_commands(self):
        """attach-device, detach-device, detach-device-alias and update-device with virsh's
        options, on a stopped domain (CONFIG)."""
        self.manager("DefineXML", "su", (guest_xml("hp6"), 0))
        img, img2 = self.image("c1.raw"), self.image("c2.raw")
        f = os.path.join(self.tmp, "disk.xml")
        with open(f, "w") as out:
            out.write(disk_xml(img, "vdb"))
        p = self.ctl("attach-device", "hp6", f, "--config")
        self.assertIn("Device attached successfully", p.stdout)
        self.assertIn(img, self.ctl("dumpxml", "--inactive", "hp6").stdout)
        # the same target again: a named error, exit status 1
        p = self.ctl("attach-device", "hp6", f, "--persistent", check=False)
        self.assertFails(p, 1, "target vdb already exists")
        # LIVE on a stopped domain
        p = self.ctl("detach-device-alias", "hp6", "virtio-disk1", "--live", check=False)
        self.assertFails(p, 1, "not running")
        # --current with --live is refused by the client
        p = self.ctl("detach-device", "hp6", f, "--current", "--live", check=False)
        self.assertEqual(p.returncode, 1, p.stderr)
        # update-device replaces the device of the persistent definition
        f2 = os.path.join(self.tmp, "disk2.xml")
        with open(f2, "w") as out:
            out.write(disk_xml(img2, "vdb"))
        self.assertIn("Device updated successfully",
                      self.ctl("update-device", "hp6", f2, "--config").stdout)
        xml = self.ctl("dumpxml", "hp6").stdout
        self.assertIn(img2, xml)
        self.assertNotIn(img + "'", xml)
        p = self.ctl("detach-device", "hp6", f2)
        self.assertIn("Device detached successfully", p.stdout)
        self.assertNotIn("vdb", self.ctl("dumpxml", "hp6").stdout)

    def test_cdrom_media_change(self):
        a = self.image("a.iso", 1 << 20, b"MEDIUM-AAAA\n")
        b = self.image("b.iso", 1 << 20, b"MEDIUM-BBBB\n")
        cdrom = ("<controller type='scsi' model='virtio-scsi'/>"
                 "<disk type='file' device='cdrom'><driver name='qemu' type='raw'/>"
                 f"<source file='{a}'/><target dev='sda' bus='scsi'/><readonly/></disk>")
        path, sock, reader = self.start_guest("hp4", cdrom)

        def medium():
            n = len(reader.data)
            sock.sendall(b"echo MED$((1+1)) $(dd if=/dev/sr0 bs=2048 count=1 2>/dev/null | "
                         b"head -c 11) END\n")
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                m = re.search(rb"MED2 ([^\r\n]*) END", reader.pump()[n:])
                if m:
                    return m.group(1).strip()
            return None

        eventually(lambda: medium() == b"MEDIUM-AAAA", timeout=60, interval=0.5,
                   what="the first medium in the guest")
        new = cdrom.split("<disk", 1)[1].replace(a, b)
        self.domain(path, "UpdateDevice", "su", ("<disk" + new, LIVE), timeout=60000)
        self.assertIn(b, self.domain(path, "GetXMLDesc", "u", (0,)))
        self.assertIn(a, self.domain(path, "GetXMLDesc", "u", (INACTIVE,)))
        eventually(lambda: medium() == b"MEDIUM-BBBB", timeout=60, interval=0.5,
                   what="the new medium in the guest")
        # eject: no <source>
        ejected = "<disk type='file' device='cdrom'><target dev='sda' bus='scsi'/><readonly/></disk>"
        self.domain(path, "UpdateDevice", "su", (ejected, LIVE), timeout=60000)
        self.assertNotIn(b, self.domain(path, "GetXMLDesc", "u", (0,)))
        blocks = [x for x in self.qmp(path, "query-block")
                  if x.get("qdev", "").split("/")[:4] in (["scsi0-0-0-0"],
                                                         ["", "machine", "peripheral",
                                                          "scsi0-0-0-0"])]
        self.assertTrue(blocks and "inserted" not in blocks[0], blocks)

        # virtbusctl change-media (virsh's): by target or source, insert/update/eject
        p = self.ctl("change-media", "hp4", "sda", a, "--eject", check=False)
        self.assertEqual(p.returncode, 1, p.stderr)
        p = self.ctl("change-media", "hp4", "sda", "--eject", check=False)
        self.assertFails(p, 1, "doesn't have media")
        p = self.ctl("change-media", "hp4", "sda", "--insert", check=False)
        self.assertFails(p, 1, "New disk media source was not specified")
        p = self.ctl("change-media", "hp4", "sda", a, "--insert", "--live")
        self.assertIn("Successfully inserted media.", p.stdout)
        eventually(lambda: medium() == b"MEDIUM-AAAA", timeout=60, interval=0.5,
                   what="the medium inserted by change-media in the guest")
        p = self.ctl("change-media", "hp4", "sda", b, "--insert", check=False)
        self.assertFails(p, 1, "already has media")
        # found by its current source; --update is the default
        p = self.ctl("change-media", "hp4", a, b)
        self.assertIn("Successfully updated media.", p.stdout)
        eventually(lambda: medium() == b"MEDIUM-BBBB", timeout=60, interval=0.5,
                   what="the medium updated by change-media in the guest")
        self.assertIn(b, self.domain(path, "GetXMLDesc", "u", (0,)))
        self.assertIn(a, self.domain(path, "GetXMLDesc", "u", (INACTIVE,)))
        p = self.ctl("change-media", "hp4", "sdz", a, check=False)
        self.assertFails(p, 1, "No disk found whose source path or target is sdz")
        # --config changes the persistent definition only
        p = self.ctl("change-media", "hp4", "sda", b, "--config")
        self.assertIn("Successfully updated media.", p.stdout)
        self.assertIn(b, self.domain(path, "GetXMLDesc", "u", (INACTIVE,)))
        self.assertNotIn(a, self.domain(path, "GetXMLDesc", "u", (INACTIVE,)))
        p = self.ctl("change-media", "hp4", "sda", "--update", "--force")
        self.assertIn("Successfully ejected media.", p.stdout)
        self.assertNotIn(b, self.domain(path, "GetXMLDesc", "u", (0,)))


class AgentChannelTest(HotplugTestCase):
    def test_agent_channel_hotplug(self):
        """An agent channel attached to a running guest becomes connected: the guest's
        init starts qemu-ga when the port appears (VSERPORT_CHANGE); the detach ends it."""
        path, sock, reader = self.start_guest("hpga", "<controller type='virtio-serial'/>")
        rec = SignalRecorder(self.conn, DOMAIN_IFACE, None, path)
        self.addCleanup(rec.close)
        self.assertFalse(self.get_prop(path, DOMAIN_IFACE, "AgentConnected"))
        err = self.assertDBusError("NotSupported", self.domain, path, "GetHostname", "u", (0,))
        self.assertIn("not configured", err.message)

        chan = ("<channel type='unix'><target type='virtio' name='org.qemu.guest_agent.0'/>"
                "</channel>")
        self.domain(path, "AttachDevice", "su", (chan, LIVE))
        rec.wait_for(lambda s: s[2] == "DeviceAdded" and s[3] == ("channel0",),
                     what="DeviceAdded channel0")
        reader.wait_for(b"TINYGUEST: qemu-ga started", 60)
        eventually(lambda: self.get_prop(path, DOMAIN_IFACE, "AgentConnected"), timeout=60,
                   what="AgentConnected after the attach")
        self.assertTrue(self.domain(path, "GetHostname", "u", (0,)))  # qemu-ga answers

        self.domain(path, "DetachDevice", "su", (chan, LIVE), timeout=60000)
        rec.wait_for(lambda s: s[2] == "DeviceRemoved" and s[3] == ("channel0",), timeout=30,
                     what="DeviceRemoved channel0")
        eventually(lambda: not self.get_prop(path, DOMAIN_IFACE, "AgentConnected"),
                   timeout=30, what="AgentConnected false after the detach")
        reader.wait_for(b"TINYGUEST: qemu-ga stopped", 60)
        err = self.assertDBusError("NotSupported", self.domain, path, "GetHostname", "u", (0,))
        self.assertIn("not configured", err.message)
        # attached again: qemu-ga starts again
        n = len(reader.data)
        self.domain(path, "AttachDevice", "su", (chan, LIVE))
        eventually(lambda: b"TINYGUEST: qemu-ga started" in reader.pump()[n:], timeout=60,
                   what="qemu-ga started again")
        eventually(lambda: self.get_prop(path, DOMAIN_IFACE, "AgentConnected"), timeout=60,
                   what="AgentConnected after the second attach")


class HotplugDevicesTest(HotplugTestCase):
    def test_watchdog_attach_detach(self):
        """i6300esb (libvirt's only hot-pluggable model): set-action + device_add, then
        device_del; ib700 and a second watchdog refused by name, leaving nothing."""
        # i6300esb is conventional PCI: on i440fx it goes on pci.0 (ACPI hotplug); a q35
        # guest would need a pcie-to-pci-bridge
        path, sock, reader = self.start_guest("hpwd", machine="pc")
        periph0 = self.peripherals(path)
        err = self.assertDBusError("NotSupported", self.domain, path, "AttachDevice", "su",
                                   ("<watchdog model='ib700' action='reset'/>", LIVE))
        self.assertIn("ib700", err.message)
        self.assertEqual(self.peripherals(path), periph0)
        rec = SignalRecorder(self.conn, DOMAIN_IFACE, None, path)
        self.addCleanup(rec.close)
        self.domain(path, "AttachDevice", "su",
                    ("<watchdog model='i6300esb' action='poweroff'/>", LIVE))
        rec.wait_for(lambda s: s[2] == "DeviceAdded" and s[3] == ("watchdog0",), timeout=30,
                     what="DeviceAdded watchdog0")
        self.assertIn("watchdog0", self.peripherals(path))
        pci = json.dumps(self.qmp(path, "query-pci"))
        self.assertIn('"qdev_id": "watchdog0"', pci)
        live = self.domain(path, "GetXMLDesc", "u", (0,))
        self.assertIn("<watchdog model='i6300esb' action='poweroff'>", live)
        err = self.assertDBusError("OperationInvalid", self.domain, path, "AttachDevice", "su",
                                   ("<watchdog model='i6300esb'/>", LIVE))
        self.assertIn("already has a watchdog", err.message)
        self.domain(path, "DetachDevice", "su", ("<watchdog model='i6300esb'/>", LIVE),
                    timeout=60000)
        rec.wait_for(lambda s: s[2] == "DeviceRemoved" and s[3] == ("watchdog0",),
                     timeout=120, what="DeviceRemoved watchdog0")
        self.assertEqual(self.peripherals(path), periph0)
        self.assertNotIn("<watchdog", self.domain(path, "GetXMLDesc", "u", (0,)))


    def test_scsi_controller_attach_detach(self):
        """A virtio-scsi controller (libvirt hot-plugs SCSI controllers only), busy while a
        disk is on it; virtio-serial refused by name."""
        path, sock, reader = self.start_guest("hpctl")
        periph0 = self.peripherals(path)
        err = self.assertDBusError("NotSupported", self.domain, path, "AttachDevice", "su",
                                   ("<controller type='virtio-serial' index='0'/>", LIVE))
        self.assertIn("'virtio-serial' controller cannot be hot plugged", err.message)
        self.assertEqual(self.peripherals(path), periph0)
        rec = SignalRecorder(self.conn, DOMAIN_IFACE, None, path)
        self.addCleanup(rec.close)
        ctl = "<controller type='scsi' index='0' model='virtio-scsi'/>"
        self.domain(path, "AttachDevice", "su", (ctl, LIVE))
        self.assertIn("scsi0", self.peripherals(path))
        img = self.image("s.img")
        self.domain(path, "AttachDevice", "su", (disk_xml(img, "sda", bus="scsi"), LIVE))
        err = self.assertDBusError("Failed", self.domain, path, "DetachDevice", "su",
                                   (ctl, LIVE))
        self.assertIn("busy", err.message)
        self.domain(path, "DetachDevice", "su", (disk_xml(img, "sda", bus="scsi"), LIVE),
                    timeout=60000)
        eventually(lambda: "sda" not in self.domain(path, "GetXMLDesc", "u", (0,)),
                   timeout=60, what="sda to leave the live XML")
        self.domain(path, "DetachDevice", "su", (ctl, LIVE), timeout=60000)
        rec.wait_for(lambda s: s[2] == "DeviceRemoved" and s[3] == ("scsi0",),
                     timeout=120, what="DeviceRemoved scsi0")
        self.assertEqual(self.peripherals(path), periph0)


    def test_pci_serial_attach_detach(self):
        """A pci-serial port (chardev-add + device_add, chardev-remove after the unplug);
        isa-serial cannot be hot-plugged: NotSupported naming it."""
        path, sock, reader = self.start_guest("hpser", machine="pc")
        periph0 = self.peripherals(path)
        err = self.assertDBusError("NotSupported", self.domain, path, "AttachDevice", "su",
                                   ("<serial type='null'><target type='isa-serial'/></serial>",
                                    LIVE))
        self.assertIn("isa-serial", err.message)
        self.assertEqual(self.peripherals(path), periph0)
        rec = SignalRecorder(self.conn, DOMAIN_IFACE, None, path)
        self.addCleanup(rec.close)
        log = os.path.join(self.tmp, "ser1.log")
        ser = (f"<serial type='file'><source path='{log}'/><target type='pci-serial'/>"
               f"</serial>")
        self.domain(path, "AttachDevice", "su", (ser, LIVE))
        rec.wait_for(lambda s: s[2] == "DeviceAdded" and s[3] == ("serial1",), timeout=30,
                     what="DeviceAdded serial1")
        self.assertIn("serial1", self.peripherals(path))
        self.assertIn("charserial1", [c["label"] for c in self.qmp(path, "query-chardev")])
        self.assertTrue(os.path.exists(log))
        self.domain(path, "DetachDevice", "su", (ser, LIVE), timeout=60000)
        rec.wait_for(lambda s: s[2] == "DeviceRemoved" and s[3] == ("serial1",),
                     timeout=120, what="DeviceRemoved serial1")
        self.assertEqual(self.peripherals(path), periph0)
        self.assertNotIn("charserial1", [c["label"] for c in self.qmp(path, "query-chardev")])


if __name__ == "__main__":
    vbtest.main()
