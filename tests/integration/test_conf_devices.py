# SPDX-License-Identifier: LGPL-2.1-or-later
"""Definitions the parser used to take and Start could not survive, and values that reach
QEMU's command line: the real virtbusd, real QEMU (TCG)."""

import json
import os
import shutil
import sys

sys.path.insert(0, os.path.dirname(__file__))
import vbtest  # noqa: E402
from vbtest import (DOMAIN_IFACE, MANAGER_IFACE, MANAGER_PATH,  # noqa: E402
                    VirtbusTestCase, eventually)

VIDEO_ONLY_XML = """<domain type='qemu'>
  <name>{name}</name>
  <uuid>{uuid}</uuid>
  <memory unit='MiB'>128</memory>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
  </os>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <video/>
  </devices>
</domain>
"""

# the BIOS QEMU 7.2 loads for machine pc (package seabios, which qemu-system-x86 needs)
SEABIOS = "/usr/share/seabios/bios-256k.bin"


def qemu_cmdline(pid):
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        return [a.decode() for a in f.read().split(b"\0")[:-1]]


class ConfDevicesTest(VirtbusTestCase):
    def run_dir(self):
        return os.path.join(self.root, "run/virtbus/qemu")

    def pid_of(self, name):
        with open(os.path.join(self.run_dir(), f"{name}.pid")) as f:
            return int(f.read().strip())

    def assert_service_answers(self):
        self.assertIsNone(self.service.proc.poll(), "virtbusd died")
        self.assertTrue(self.get_prop(MANAGER_PATH, MANAGER_IFACE, "Version"))
        self.manager("ListDomains", "u", (0,))

    def start_and_wait(self, path):
        self.domain(path, "Start", "u", (0,), timeout=60000)
        eventually(lambda: self.get_prop(path, DOMAIN_IFACE, "State") == "running",
                   timeout=30, what="domain to run")

    def test_virtio_net_driver_options(self):
        # libvirt's <driver> tuning of a virtio NIC (txmode, ioeventfd, event_idx, <host>,
        # <guest>, rss) was NotSupported at start; it becomes virtio-net-pci properties
        xml = VIDEO_ONLY_XML.format(name="nicopts", uuid="8d3c4b8e-5a52-4d36-9d44-7a35f3a7b001")
        nic = """<interface type='user'>
      <model type='virtio'/>
      <driver txmode='timer' ioeventfd='off' event_idx='off' rss='on'>
        <host csum='off' tso4='off' mrg_rxbuf='off'/>
        <guest tso6='off'/>
      </driver>
    </interface>
    <video/>"""
        path = self.manager("DefineXML", "su", (xml.replace("<video/>", nic), 0))
        self.domain(path, "Start", "u", (1,), timeout=60000)  # paused
        line = " ".join(qemu_cmdline(self.pid_of("nicopts")))
        self.assertIn('{"driver":"virtio-net-pci","tx":"timer","ioeventfd":false,'
                      '"event_idx":false,"csum":false,"host_tso4":false,"mrg_rxbuf":false,'
                      '"guest_tso6":false,"rss":true,"netdev":"hostnet0"', line)
        for prop, want in (("csum", False), ("event_idx", False), ("tx", "timer"),
                           ("guest_tso6", False), ("rss", True)):
            reply = self.domain(path, "QemuMonitorCommand", "s", (json.dumps(
                {"execute": "qom-get", "arguments": {"path": "/machine/peripheral/net0",
                                                     "property": prop}}),))
            self.assertEqual(json.loads(reply)["return"], want, prop)
        self.domain(path, "Destroy", "u", (0,))
        # an option QEMU has no property for, and the options on a model that is not virtio
        for bad, what in (("<host csum='maybe'/>", "<host csum='maybe'>: on or off"),
                          ("<foo/>", "<driver><foo> is not supported")):
            self.manager("DefineXML", "su", (xml.replace("<video/>", nic.replace(
                "<guest tso6='off'/>", bad)), 0))
            err = self.assertDBusError("NotSupported", self.domain, path, "Start", "u", (1,),
                                       timeout=60000)
            self.assertIn(what, err.message)
        self.manager("DefineXML", "su", (xml.replace("<video/>", nic.replace(
            "type='virtio'", "type='e1000'")), 0))
        err = self.assertDBusError("NotSupported", self.domain, path, "Start", "u", (1,),
                                   timeout=60000)
        self.assertIn("need a virtio model", err.message)

    def test_pcihole64(self):
        # libvirt's <pcihole64> of the root PCI controller (pcihole64.xml) was NotSupported
        xml = VIDEO_ONLY_XML.format(name="hole", uuid="8d3c4b8e-5a52-4d36-9d44-7a35f3a7b002")
        root = """<controller type='pci' index='0' model='pci-root'>
      <pcihole64 unit='GiB'>1</pcihole64>
    </controller>
    <video/>"""
        path = self.manager("DefineXML", "su", (xml.replace("<video/>", root), 0))
        self.domain(path, "Start", "u", (1,), timeout=60000)  # paused
        args = qemu_cmdline(self.pid_of("hole"))
        self.assertIn("i440FX-pcihost.pci-hole64-size=1048576K", args)
        self.assertEqual(args[args.index("i440FX-pcihost.pci-hole64-size=1048576K") - 1],
                         "-global")
        reply = self.domain(path, "QemuMonitorCommand", "s", (json.dumps(
            {"execute": "qom-get", "arguments": {"path": "/machine/i440fx",
                                                 "property": "pci-hole64-size"}}),))
        self.assertEqual(json.loads(reply)["return"], 1 << 30)
        self.domain(path, "Destroy", "u", (0,))

    def test_video_without_model_starts(self):
        """Issue 9 item 1: <video/> alone used to kill virtbusd with SIGSEGV on Start."""
        path = self.manager("DefineXML", "su", (VIDEO_ONLY_XML.format(
            name="video-only", uuid="9a1c6c1e-7a55-4b1e-9a53-7c9bd1a0c101"), 0))
        # the default model is written back into the persistent definition
        xml = self.domain(path, "GetXMLDesc", "u", (2,))
        self.assertIn("<model type='cirrus'/>", xml)
        self.start_and_wait(path)
        self.assert_service_answers()
        argv = qemu_cmdline(self.pid_of("video-only"))
        devices = [argv[i + 1] for i, a in enumerate(argv[:-1]) if a == "-device"]
        self.assertTrue(any('"driver":"cirrus-vga"' in d for d in devices), argv)
        self.domain(path, "Destroy", "u", (0,))
        self.assert_service_answers()

    def test_listen_address_with_comma_refused(self):
        """Issue 9 item 15: a comma in a listen address injected options into -vnc/-spice."""
        cases = [
            ("<graphics type='vnc' port='5911' listen='127.0.0.1,to=99'/>",
             "invalid listen address '127.0.0.1,to=99'"),
            ("<graphics type='vnc' port='5911'><listen type='address' "
             "address='websocket=5700'/></graphics>",
             "invalid listen address 'websocket=5700'"),
            ("<graphics type='spice' port='5911' listen='0.0.0.0,disable-ticketing=on'/>",
             "invalid listen address '0.0.0.0,disable-ticketing=on'"),
            ("<graphics type='spice' port='5911'><image "
             "compression='off,seamless-migration=off'/></graphics>",
             "invalid value 'off,seamless-migration=off' for attribute 'compression'"),
        ]
        for i, (graphics, message) in enumerate(cases):
            xml = VIDEO_ONLY_XML.format(
                name=f"bad-listen-{i}", uuid=f"9a1c6c1e-7a55-4b1e-9a53-7c9bd1a0c2{i:02d}")
            xml = xml.replace("<video/>", graphics)
            err = self.assertDBusError("InvalidXML", self.manager, "DefineXML", "su", (xml, 0))
            self.assertRegex(err.message, r"^line \d+: <(graphics|listen|image)>: ")
            self.assertIn(message, err.message)
        self.assertEqual(self.manager("ListDomains", "u", (0,)), [])
        self.assert_service_answers()

    def test_commas_in_names_and_paths_reach_qemu_intact(self):
        """Issue 9 item 15: each value arrives in QEMU as written, in its own option."""
        files = os.path.join(self.tmp, "fi,les=x")
        os.makedirs(files)
        os.chmod(self.tmp, 0o755)
        bios = os.path.join(files, "bi,os=1.bin")
        shutil.copyfile(SEABIOS, bios)
        serial = os.path.join(files, "ser,ial=x,append=on.log")
        name = "co,mma=name,debug-threads=off"
        xml = VIDEO_ONLY_XML.format(name=name, uuid="9a1c6c1e-7a55-4b1e-9a53-7c9bd1a0c301")
        xml = xml.replace("</type>", f"</type>\n    <loader type='rom'>{bios}</loader>")
        xml = xml.replace("<video/>", f"""<video/>
    <serial type='file'><source path='{serial}'/></serial>""")
        path = self.manager("DefineXML", "su", (xml, 0))
        self.start_and_wait(path)
        self.assert_service_answers()
        # -chardev file,path= with the commas doubled: QEMU created the file by its full name
        eventually(lambda: os.path.exists(serial), what="serial log file")
        self.assertEqual(sorted(os.listdir(files)), sorted(["bi,os=1.bin",
                                                            "ser,ial=x,append=on.log"]))
        argv = qemu_cmdline(self.pid_of(name))
        self.assertEqual(argv[argv.index("-bios") + 1], bios)
        self.assertEqual(argv[argv.index("-name") + 1],
                         "guest=co,,mma=name,,debug-threads=off,debug-threads=on")
        self.domain(path, "Destroy", "u", (0,))
        self.assert_service_answers()


if __name__ == "__main__":
    vbtest.main()
