#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Interfaces of the tap types while running (issue 13, part hotplug, second session):
the real virtbusd in a network namespace (vbhosts, one host), real QEMU, the tiny guest.
- AttachDevice of <interface type='bridge'> to a guest that started without a NIC: the
  service makes the tap (vnet0 on the bridge) with the start path's code, passes its fd
  with getfd and netdev_add fd=NAME; the live XML and status file name vnet0; QEMU has
  net0 (query-rx-filter); the guest finds the NIC, gets a DHCP lease from the test's
  dnsmasq and pings the bridge; DetachDevice: DEVICE_DELETED, netdev_del, the tap is gone
  from the host and net0 from QEMU;
- a bad attach (unknown network, missing bridge, a MAC the domain has, vhostuser) gets a
  named error and leaves no link on the host and nothing in QEMU;
- UpdateDevice: <link state='down'> reaches QEMU (set_link) and the live XML; a move
  to a bridge that does not exist is Failed (libvirt's words);
- NIC_RX_FILTER_CHANGED on a trustGuestRxFilters='yes' interface is handled (query-rx-
  filter, logged) each time the guest changes its MAC: the second change is seen too;
- type='direct' hot-plugged on a veth: a macvtap; with trustGuestRxFilters='yes' the MAC
  the guest sets is set on the macvtap; detach deletes the macvtap."""

import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
import vbguestnet  # noqa: E402
import vbmigrate  # noqa: E402
import vbtest  # noqa: E402
from test_console import Reader, open_stream  # noqa: E402
from vbtest import DOMAIN_IFACE, eventually  # noqa: E402

UUID = "5b7e0c1a-2d3f-4a5b-8c6d-7e8f9a0b1c51"
MAC = "52:54:00:6a:13:01"
BOOT_TIMEOUT = 300  # the tiny guest under TCG on a loaded 2-CPU host

PORTS = ("<controller type='pci' index='0' model='pcie-root'/>" +
         "<controller type='pci' model='pcie-root-port'/>" * 3)


def bridge_nic(br, mac=MAC, extra=""):
    return (f"<interface type='bridge'><mac address='{mac}'/><source bridge='{br}'/>"
            f"<model type='virtio'/>{extra}</interface>")


class HotplugNetTestCase(vbguestnet.GuestNetTestCase):
    UUID = UUID

    def setUp(self):
        super().setUp()
        self._conn = None

    def c(self):
        if self._conn is None:
            self._conn = self.conn(self.a)
        return self._conn

    def dom(self, path, method, sig=None, args=(), **kw):
        r = self.call(path, DOMAIN_IFACE, method, sig, args, conn=self.c(), **kw)
        return r[0] if r and len(r) == 1 else r

    def start_console_guest(self, devices=""):
        """The tiny guest with a shell on its serial console and free root ports."""
        xml = vbmigrate.guest_xml(name="vm1", uuid=UUID, serial=None, tick=False,
                                  extra_cmdline="tgconsole",
                                  devices="<serial type='pty'><target port='0'/></serial>" +
                                  PORTS + devices)
        path = self.manager(self.a, "DefineXML", "su", (xml, 0))
        self.dom(path, "Start", "u", (0,), timeout=60000)
        sock = open_stream(self.c(), path, "OpenConsole", ("s", ""))
        self.addCleanup(sock.close)
        return path, sock, Reader(sock)

    def qmp(self, path, cmd, args=None, ok=True):
        req = {"execute": cmd}
        if args is not None:
            req["arguments"] = args
        reply = json.loads(self.dom(path, "QemuMonitorCommand", "s", (json.dumps(req),)))
        if ok:
            self.assertIn("return", reply, reply)
            return reply["return"]
        return reply

    def peripherals(self, path):
        return sorted(p["name"] for p in self.qmp(path, "qom-list",
                                                  {"path": "/machine/peripheral"})
                      if p["type"].startswith("child<"))

    def guest_carrier(self, sock, reader):
        """/sys/class/net/eth0/carrier in the guest, through its shell."""
        tag = int(time.monotonic() * 1000) % 100000
        n = len(reader.data)
        sock.sendall(b"echo CAR$((%d+0)) $(cat /sys/class/net/eth0/carrier 2>/dev/null) "
                     b"END$((%d+0))\n" % (tag, tag))
        start = b"CAR%d " % tag
        end = b" END%d" % tag
        reader.wait_for(end, 60)
        text = reader.data[n:]
        i = text.rfind(start)
        j = text.find(end, i)
        return text[i + len(start):j].decode(errors="replace").strip() if i >= 0 else None

    def taps(self):
        return sorted(n for n in self.links() if n.startswith("vnet"))

    def attach_refused(self, path, xml, error, *needles):
        before = set(self.links())
        periph = self.peripherals(path)
        with self.assertRaises(vbtest.DBusCallError) as cm:
            self.dom(path, "AttachDevice", "su", (xml, 0))
        e = cm.exception
        if error is not None:
            self.assertEqual(e.name, vbtest.ERR + error, e.message)
        for n in needles:
            self.assertIn(n, e.message)
        self.assertEqual(set(self.links()), before)
        self.assertEqual(self.peripherals(path), periph)
        return e


class HotplugNetTest(HotplugNetTestCase):
    def test_bridge_attach_lease_detach(self):
        br = self.make_bridge(160)
        self.dnsmasq(br, 160)
        path, sock, reader = self.start_console_guest()
        reader.wait_for(b"TINYGUEST: READY", BOOT_TIMEOUT)
        self.assertEqual(self.taps(), [])

        self.dom(path, "AttachDevice", "su", (bridge_nic(br), 0))
        links = self.links()
        self.assertIn("vnet0", links)
        self.assertEqual(links["vnet0"].get("master"), br)
        self.assertEqual(links["vnet0"]["address"], "fe:54:00:6a:13:01")
        live = self.live_xml(path)
        self.assertIn("<target dev='vnet0'/>", live)
        self.assertIn("<alias name='net0'/>", live)
        self.assertIn("name='vnet0'", self.status_text())
        self.assertIn("net0", self.peripherals(path))
        rx = self.qmp(path, "query-rx-filter", {"name": "net0"})
        self.assertEqual(rx[0]["main-mac"], MAC)
        # the fd names were taken over by netdev_add: none is left to close
        err = self.qmp(path, "closefd", {"fdname": "tapfd-net00"}, ok=False)
        self.assertIn("error", err)

        # the guest: PCI rescan (the tiny guest has no hotplug daemon), virtio_net, DHCP
        sock.sendall(b"echo 1 > /sys/bus/pci/rescan; "
                     b"for m in $(cat /etc/modules.net); do insmod /lib/modules/$m "
                     b"2>/dev/null; done; n=0; while [ ! -e /sys/class/net/eth0 ] && "
                     b"[ $n -lt 200 ]; do sleep 0.1; n=$((n+1)); done; ip link set lo up; "
                     b"udhcpc -i eth0 -f -n -q -t 10 -T 2 -A 1 -s /sbin/tg-udhcpc "
                     b">/dev/null 2>&1 || echo TINYGUEST: no lease\n")
        data = reader.wait_for(b"TINYGUEST: ping 10.160.0.1", 180)
        # the line may come in two reads ("... ping 10.160.0.1" then " ok"): wait for its end
        start = data.rindex(b"TINYGUEST: ping 10.160.0.1")
        eventually(lambda: b"\n" in reader.pump()[start:], timeout=30,
                   what="the end of the guest's ping line")
        text = reader.data.decode(errors="replace")
        self.assertIn("TINYGUEST: lease 10.160.0.", text)
        self.assertIn("TINYGUEST: ping 10.160.0.1 ok", text)

        self.dom(path, "DetachDevice", "su", (f"<interface type='bridge'><mac address="
                                              f"'{MAC}'/></interface>", 0))
        eventually(lambda: "net0" not in self.peripherals(path), timeout=120,
                   what="net0 to leave QEMU")
        eventually(lambda: "vnet0" not in self.links(), timeout=60, what="vnet0 to go")
        eventually(lambda: "<interface" not in self.live_xml(path), timeout=60,
                   what="the interface to leave the live XML")
        self.assertIn("error", self.qmp(path, "query-rx-filter", {"name": "net0"}, ok=False))
        self.assertNotIn("vnet0", self.status_text())
        self.destroy(path)

    def test_bad_attach_leaves_nothing(self):
        br = self.make_bridge(161)
        path, sock, reader = self.start_console_guest()
        self.attach_refused(path, "<interface type='network'><mac address='52:54:00:6a:13:"
                            "02'/><source network='vbt-nosuchnet'/><model type='virtio'/>"
                            "</interface>", None, "vbt-nosuchnet")
        self.attach_refused(path, bridge_nic("vbt-nosuchbr", "52:54:00:6a:13:03"),
                            None, "vbt-nosuchbr")
        self.attach_refused(path, "<interface type='vhostuser'><mac address='52:54:00:6a:"
                            "13:05'/><source type='unix' path='/tmp/x' mode='client'/>"
                            "<model type='virtio'/></interface>", "NotSupported",
                            "vhostuser")
        # one that works, then the same MAC again
        self.dom(path, "AttachDevice", "su", (bridge_nic(br), 0))
        self.assertEqual(self.taps(), ["vnet0"])
        self.attach_refused(path, bridge_nic(br), "AlreadyExists", MAC)
        self.assertEqual(self.taps(), ["vnet0"])
        self.assertEqual(self.live_xml(path).count("<interface"), 1)
        self.destroy(path)
        eventually(lambda: self.taps() == [], timeout=30, what="vnet0 to go")

    def test_update_link_state(self):
        br = self.make_bridge(162)
        path, sock, reader = self.start_console_guest(bridge_nic(br))
        self.dom(path, "UpdateDevice", "su",
                 (bridge_nic(br, extra="<link state='down'/>"), 0))
        self.assertIn("<link state='down'/>", self.live_xml(path))
        self.assertIn("<target dev='vnet0'/>", self.live_xml(path))
        reader.wait_for(b"TINYGUEST: READY", BOOT_TIMEOUT)
        eventually(lambda: self.guest_carrier(sock, reader) == "0", timeout=120,
                   what="the guest's eth0 to lose its carrier")
        self.dom(path, "UpdateDevice", "su", (bridge_nic(br), 0))
        self.assertNotIn("state='down'", self.live_xml(path))
        eventually(lambda: self.guest_carrier(sock, reader) == "1", timeout=120,
                   what="the guest's eth0 to get its carrier back")
        # another bridge is possible (issue 13, part netupd), a missing one is not
        with self.assertRaises(vbtest.DBusCallError) as cm:
            self.dom(path, "UpdateDevice", "su", (bridge_nic("otherbr"), 0))
        self.assertEqual(cm.exception.name, vbtest.ERR + "Failed")
        self.assertIn("bridge otherbr doesn't exist", cm.exception.message)
        self.destroy(path)

    def test_rx_filter_changed_handled_each_time(self):
        br = self.make_bridge(163)
        path, sock, reader = self.start_console_guest(
            bridge_nic(br).replace("<interface type='bridge'>",
                                   "<interface type='bridge' trustGuestRxFilters='yes'>"))
        reader.wait_for(b"TINYGUEST: READY", BOOT_TIMEOUT)
        for i, mac in enumerate(("52:54:00:6a:13:a1", "52:54:00:6a:13:a2")):
            sock.sendall(b"n=0; while [ ! -e /sys/class/net/eth0 ] && [ $n -lt 200 ]; do "
                         b"sleep 0.1; n=$((n+1)); done; ip link set eth0 address %s; "
                         b"ip link set eth0 up; echo MACSET$((%d+100))\n" % (mac.encode(), i))
            reader.wait_for(b"MACSET%d" % (i + 100), 120)
            eventually(lambda: f"interface net0: guest rx filter: MAC {mac}"
                       in self.a.read_log(), timeout=60,
                       what=f"NIC_RX_FILTER_CHANGED for {mac} to be handled")
        self.destroy(path)


    def macvtaps(self):
        return {n: link for n, link in self.links().items()
                if link.get("linkinfo", {}).get("info_kind") == "macvtap"
                or n.startswith("macvtap")}

    def test_direct_attach_trusted_mac_follows_guest(self):
        """type='direct' hot-plugged: a macvtap on the test's veth; with
        trustGuestRxFilters='yes' the guest's new MAC is set on the macvtap (libvirt's
        syncNicRxFilterMacAddr); detach deletes the macvtap."""
        peer_ns = self.peer_netns()
        self.ip("link", "add", "vbtv1", "type", "veth", "peer", "name", "vbtv1p")
        self.ip("link", "set", "vbtv1p", "netns", peer_ns)
        self.ip("link", "set", "vbtv1", "up")
        path, sock, reader = self.start_console_guest()
        reader.wait_for(b"TINYGUEST: READY", BOOT_TIMEOUT)
        mac1, mac2 = "52:54:00:6a:13:21", "52:54:00:6a:13:22"
        nic = (f"<interface type='direct' trustGuestRxFilters='yes'><mac address='{mac1}'/>"
               f"<source dev='vbtv1' mode='bridge'/><model type='virtio'/></interface>")
        self.dom(path, "AttachDevice", "su", (nic, 0))
        taps = self.macvtaps()
        self.assertEqual(len(taps), 1, taps)
        name = next(iter(taps))
        self.assertEqual(taps[name]["address"], mac1)
        self.assertIn(f"<target dev='{name}'/>", self.live_xml(path))
        sock.sendall(b"echo 1 > /sys/bus/pci/rescan; "
                     b"for m in $(cat /etc/modules.net); do insmod /lib/modules/$m "
                     b"2>/dev/null; done; n=0; while [ ! -e /sys/class/net/eth0 ] && "
                     b"[ $n -lt 200 ]; do sleep 0.1; n=$((n+1)); done; "
                     b"ip link set eth0 address %s; ip link set eth0 up; "
                     b"echo MACSET$((7+100))\n" % mac2.encode())
        reader.wait_for(b"MACSET107", 180)
        eventually(lambda: self.macvtaps().get(name, {}).get("address") == mac2,
                   timeout=60, what="the macvtap to take the guest's MAC")
        self.dom(path, "DetachDevice", "su", (nic, 0))
        eventually(lambda: not self.macvtaps(), timeout=120, what="the macvtap to go")
        self.assertNotIn("<interface", self.live_xml(path))
        self.destroy(path)


if __name__ == "__main__":
    vbtest.main()
