# SPDX-License-Identifier: LGPL-2.1-or-later
"""Audio, sound, SPICE + VNC, USB redirection and the balloon's statistics on real QEMU 7.2
(TCG) with the tiny guest: what libvirt-exported domains hold starts, QEMU shows the
devices over QMP, and the guest powers off through the ACPI button."""

import json
import os
import socket
import sys

sys.path.insert(0, os.path.dirname(__file__))
import vbtest  # noqa: E402
from vbtest import DOMAIN_IFACE, VirtbusTestCase, eventually  # noqa: E402

GUEST_DIR = os.environ.get("VB_TINY_GUEST", "")
UUID1 = "3c7e8a52-6d0a-4e58-9d3a-5b1f0c2d4e01"
UUID2 = "3c7e8a52-6d0a-4e58-9d3a-5b1f0c2d4e02"
UUID3 = "3c7e8a52-6d0a-4e58-9d3a-5b1f0c2d4e03"

# what `virsh dumpxml` of libvirt 9.0 writes for a domain without sound: <audio> alone
DUMPXML_AUDIO = """<domain type='qemu'>
  <name>{name}</name>
  <uuid>{uuid}</uuid>
  <memory unit='KiB'>131072</memory>
  <currentMemory unit='KiB'>131072</currentMemory>
  <vcpu placement='static'>1</vcpu>
  <os>
    <type arch='x86_64' machine='pc-i440fx-7.2'>hvm</type>
    <boot dev='hd'/>
  </os>
  <features>
    <acpi/>
    <apic/>
  </features>
  <clock offset='utc'/>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>restart</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <controller type='usb' index='0' model='piix3-uhci'>
      <address type='pci' domain='0x0000' bus='0x00' slot='0x01' function='0x2'/>
    </controller>
    <controller type='pci' index='0' model='pci-root'/>
    <audio id='1' type='none'/>
    <memballoon model='virtio'>
      <stats period='5'/>
      <address type='pci' domain='0x0000' bus='0x00' slot='0x03' function='0x0'/>
    </memballoon>
  </devices>
</domain>
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def listening(port):
    with socket.socket() as s:
        s.settimeout(2)
        return s.connect_ex(("127.0.0.1", port)) == 0


class DevicesDisplayTest(VirtbusTestCase):
    def run_dir(self):
        return os.path.join(self.root, "run/virtbus/qemu")

    def pid_of(self, name):
        with open(os.path.join(self.run_dir(), f"{name}.pid")) as f:
            return int(f.read().strip())

    def argv_of(self, name):
        with open(f"/proc/{self.pid_of(name)}/cmdline", "rb") as f:
            return [a.decode() for a in f.read().split(b"\0")[:-1]]

    def qmp(self, path, command, arguments=None):
        cmd = {"execute": command}
        if arguments is not None:
            cmd["arguments"] = arguments
        reply = json.loads(self.domain(path, "QemuMonitorCommand", "s", (json.dumps(cmd),)))
        self.assertIn("return", reply, reply)
        return reply["return"]

    def state(self, path):
        props = self.get_all(path, DOMAIN_IFACE)
        return props["State"], props["StateReason"]

    def wait_state(self, path, state, reason=None, timeout=30):
        eventually(lambda: self.state(path)[0] == state and
                   (reason is None or self.state(path)[1] == reason),
                   timeout=timeout, what=f"{state}/{reason}")

    def markers(self, what):
        try:
            with open(self.serial, errors="replace") as f:
                return f.read().count(what)
        except FileNotFoundError:
            return 0

    def guest_xml(self, name, uuid, devices):
        with open(os.path.join(GUEST_DIR, "cmdline")) as f:
            cmdline = f.read().strip()
        return f"""<domain type='qemu'>
  <name>{name}</name>
  <uuid>{uuid}</uuid>
  <memory unit='MiB'>128</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='q35'>hvm</type>
    <kernel>{GUEST_DIR}/vmlinux</kernel>
    <initrd>{GUEST_DIR}/initrd.img</initrd>
    <cmdline>{cmdline}</cmdline>
  </os>
  <features><acpi/></features>
  <devices>
    <serial type='file'>
      <source path='{self.serial}'/>
      <target port='0'/>
    </serial>
{devices}
  </devices>
</domain>
"""

    def setUp(self):
        if not os.path.exists(os.path.join(GUEST_DIR, "vmlinux")):
            self.fail(f"the tiny guest is not built in {GUEST_DIR}")
        super().setUp()
        self.serial = os.path.join(self.tmp, "serial.log")

    def test_spice_vnc_sound_usbredir_guest(self):
        """SPICE and VNC both listen, an ich9 plays into <audio type='none'>, a usbredir and
        the SPICE agent channel sit on their buses; the guest powers off by ACPI."""
        spice_port = free_port()
        devices = f"""    <controller type='usb' index='0' model='qemu-xhci'/>
    <controller type='virtio-serial' index='0'/>
    <channel type='spicevmc'>
      <target type='virtio' name='com.redhat.spice.0'/>
    </channel>
    <graphics type='vnc' autoport='yes'>
      <listen type='address' address='127.0.0.1'/>
      <audio id='1'/>
    </graphics>
    <graphics type='spice' port='{spice_port}' autoport='no'>
      <listen type='address' address='127.0.0.1'/>
      <image compression='off'/>
      <mouse mode='client'/>
    </graphics>
    <sound model='ich9'>
      <audio id='1'/>
    </sound>
    <audio id='1' type='none'/>
    <redirdev bus='usb' type='spicevmc'/>
    <video>
      <model type='qxl'/>
    </video>"""
        path = self.manager("DefineXML", "su", (self.guest_xml("disp", UUID1, devices), 0))
        # define placed the ich9 where Q35's own HD audio sits, as libvirt does
        xml = self.domain(path, "GetXMLDesc", "u", (2,))
        self.assertRegex(xml, r"<sound model='ich9'>\s*<audio id='1'/>\s*"
                              r"<address type='pci' domain='0x0000' bus='0x00' slot='0x1b'")
        self.domain(path, "Start", "u", (0,), timeout=60000)
        self.wait_state(path, "running")
        eventually(lambda: self.markers("TINYGUEST: READY"), timeout=90, what="the guest")
        pid = self.pid_of("disp")
        argv = self.argv_of("disp")
        self.assertIn('{"id":"audio1","driver":"none"}', argv)

        spice = self.qmp(path, "query-spice")
        self.assertTrue(spice["enabled"])
        self.assertEqual(spice["port"], spice_port)
        # agent-mouse=on: client mode once a SPICE agent runs (the tiny guest has none)
        self.assertIn("agent-mouse=on", argv[argv.index("-spice") + 1])
        vnc = self.qmp(path, "query-vnc")
        self.assertTrue(vnc["enabled"])
        vnc_port = int(vnc["service"])
        self.assertGreaterEqual(vnc_port, 5900)
        self.assertTrue(listening(spice_port))
        self.assertTrue(listening(vnc_port))
        names = {p["name"] for p in self.qmp(path, "qom-list", {"path": "/machine/peripheral"})}
        for dev in ("sound0", "sound0-codec0", "redir0", "channel0", "usb"):
            self.assertIn(dev, names)
        # the codec plays into audio1 and the HD audio controller is at 00:1b.0
        self.assertEqual(self.qmp(path, "qom-get", {"path": "/machine/peripheral/sound0-codec0",
                                                    "property": "audiodev"}), "audio1")
        self.assertEqual(self.qmp(path, "qom-get", {"path": "/machine/peripheral/sound0",
                                                    "property": "addr"}), 0x1b << 3)

        self.domain(path, "Shutdown", "u", (0,))
        self.wait_state(path, "shutoff", "shutdown", timeout=60)
        self.assertEqual(self.markers("TINYGUEST: poweroff"), 1)
        self.assertFalse(os.path.exists(f"/proc/{pid}"))
        self.assertFalse(listening(spice_port))

    def test_dumpxml_audio_alone_starts(self):
        """libvirt 9.0 writes <audio id='1' type='none'/> into every domain it dumps; it
        starts, and the balloon polls the guest's statistics every <stats period>."""
        path = self.manager("DefineXML", "su",
                            (DUMPXML_AUDIO.format(name="dumped", uuid=UUID2), 0))
        self.domain(path, "Start", "u", (0,), timeout=60000)
        self.wait_state(path, "running")
        argv = self.argv_of("dumped")
        self.assertEqual(argv[argv.index("-audiodev") + 1], '{"id":"audio1","driver":"none"}')
        self.assertEqual(self.qmp(path, "qom-get", {
            "path": "/machine/peripheral/balloon0",
            "property": "guest-stats-polling-interval"}), 5)
        self.domain(path, "Destroy", "u", (0,))
        self.wait_state(path, "shutoff")

    def test_audio_ids_checked_and_missing_driver_refused(self):
        """Audio ids are checked at define; an audio driver this QEMU cannot load stops the
        start with NotSupported naming the element, and nothing is left behind."""
        xml = DUMPXML_AUDIO.format(name="badaudio", uuid=UUID3)
        dup = xml.replace("<audio id='1' type='none'/>",
                          "<audio id='1' type='none'/>\n    <audio id='1' type='file'/>")
        err = self.assertDBusError("InvalidXML", self.manager, "DefineXML", "su",
                                   (dup, 0))
        self.assertRegex(err.message, r"line \d+: <audio>: audio id 1 is already used")
        ref = xml.replace("<audio id='1' type='none'/>",
                          "<sound model='ac97'><audio id='7'/></sound>\n"
                          "    <audio id='1' type='none'/>")
        err = self.assertDBusError("InvalidXML", self.manager, "DefineXML", "su",
                                   (ref, 0))
        self.assertIn("<sound>: no <audio> with id 7", err.message)

        # QEMU's pulseaudio driver is a module of another package (qemu-system-gui)
        with os.popen("qemu-system-x86_64 -audiodev help 2>/dev/null") as p:
            drivers = p.read().split()
        if "pa" in drivers:
            return
        pa = xml.replace("type='none'/>", "type='pulseaudio'/>")
        path = self.manager("DefineXML", "su", (pa, 0))
        err = self.assertDBusError("NotSupported", self.domain, path, "Start", "u", (0,),
                                   timeout=60000)
        self.assertIn("<audio> devices/audio[1]: audio type 'pulseaudio' is not available",
                      err.message)
        self.assertEqual(self.state(path)[0], "shutoff")
        self.assertEqual([e for e in os.listdir(self.run_dir()) if "badaudio" in e], [])


if __name__ == "__main__":
    vbtest.main()
