#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Interface updates, rx-filter sync and crash-safe attach (issue 13, part netupd): the
real virtbusd in a network namespace (vbhosts, one host), real QEMU, the tiny guest.
- UpdateDevice LIVE of a bridge NIC (libvirt's qemuDomainChangeNet): the guest pings the
  address of bridge A and not B; after the update to bridge B it pings B and not A; a
  type change to a virtual network moves the tap onto the network's bridge; the live
  XML and status file follow, the persistent XML does not (no CONFIG); <bandwidth> added
  shows in `tc` with the new rate, changed shows the changed rate, dropped leaves none;
  what libvirt refuses live (model, <mtu>, <driver>, a type change to user, the tap
  name) is NotSupported with libvirt's words, a missing bridge Failed;
- NIC_RX_FILTER_CHANGED on a macvtap with trustGuestRxFilters='yes': the guest's
  multicast table (its own groups when eth0 is up) shows on the host's macvtap
  (/proc/net/dev_mcast, added from user space), promisc and allmulti set in the guest set
  PROMISC and ALLMULTI on the macvtap, and cleared again;
- a service SIGKILLed (VIRTBUS_TEST_HOTPLUG_KILL) during an AttachDevice of a disk and of
  a bridge NIC: before device_add the restarted service removes what QEMU got (block
  nodes, netdev, fd names, the tap) and the live XML lacks the device; after device_add
  it adopts the device (live XML, status file, QEMU agree)."""

import json
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
import vbtest  # noqa: E402
from test_hotplug_net import BOOT_TIMEOUT, HotplugNetTestCase, bridge_nic  # noqa: E402
from vbtest import DOMAIN_IFACE, eventually  # noqa: E402

MAC = "52:54:00:6a:13:01"
KILL_ENV = "VIRTBUS_TEST_HOTPLUG_KILL"


class NetUpdTestCase(HotplugNetTestCase):
    def live_xml(self, path):
        # one connection for the whole test (the bus limits them per user)
        return self.dom(path, "GetXMLDesc", "u", (0,))

    def guest_sh(self, sock, reader, cmd, timeout=90):
        """Runs @cmd in the guest's shell; its output on one line."""
        tag = int(time.monotonic() * 1000) % 100000
        n = len(reader.data)
        sock.sendall(b"echo R%d$((0)) $( (%s) 2>&1 | tr '\\n' ' ') Z$((%d+0))\n"
                     % (tag, cmd.encode(), tag))
        start, end = b"R%d0 " % tag, b" Z%d" % tag
        reader.wait_for(end, timeout)
        text = reader.data[n:]
        i = text.rfind(start)
        j = text.find(end, i)
        return text[i + len(start):j].decode(errors="replace").strip() if i >= 0 else ""

    def pings(self, sock, reader, addr):
        out = self.guest_sh(sock, reader, f"ping -c 2 -W 2 {addr} >/dev/null 2>&1 && "
                            f"echo yes || echo no")
        return out.endswith("yes")

    def eth0_up(self, sock, reader, *addrs):
        cmd = ("echo 1 > /sys/bus/pci/rescan; for m in $(cat /etc/modules.net); do "
               "insmod /lib/modules/$m 2>/dev/null; done; n=0; while [ ! -e "
               "/sys/class/net/eth0 ] && [ $n -lt 200 ]; do sleep 0.1; n=$((n+1)); done; "
               + "".join(f"ip addr add {a} dev eth0; " for a in addrs)
               + "ip link set eth0 up; echo up")
        self.assertIn("up", self.guest_sh(sock, reader, cmd, timeout=180))

    def update(self, path, xml, flags=0):
        return self.dom(path, "UpdateDevice", "su", (xml, flags))

    def update_refused(self, path, xml, error, *needles):
        with self.assertRaises(vbtest.DBusCallError) as cm:
            self.update(path, xml)
        self.assertEqual(cm.exception.name, vbtest.ERR + error, cm.exception.message)
        for n in needles:
            self.assertIn(n, cm.exception.message)

    def qdiscs(self, dev):
        out = self.a.run(["tc", "-j", "qdisc", "show", "dev", dev]).stdout
        return {q["kind"] for q in json.loads(out or "[]")}

    def htb_rate(self, dev):
        """The rate of @dev's htb class as tc prints it ("8Mbit"; tc has no JSON here)."""
        out = self.a.run(["tc", "class", "show", "dev", dev]).stdout
        m = re.search(r"class htb \S+ .*?\brate (\S+)", out)
        return m.group(1) if m else None


class UpdateTest(NetUpdTestCase):
    def test_move_bridge_network_bandwidth(self):
        bra = self.make_bridge(170, name=f"vbtba{self.tag}")
        brb = self.make_bridge(171, name=f"vbtbb{self.tag}")
        brn = f"vbtbn{self.tag}"
        self.manager(self.a, "NetworkCreateXML", "su", (
            f"<network><name>vbtnet</name><bridge name='{brn}' stp='off'/>"
            f"<dns enable='no'/><ip address='10.172.0.1' netmask='255.255.255.0'/>"
            "</network>", 0))
        path, sock, reader = self.start_console_guest(bridge_nic(bra))
        reader.wait_for(b"TINYGUEST: READY", BOOT_TIMEOUT)
        # the guest's own DHCP client gives up first (its deconfig flushes addresses)
        reader.wait_for(b"TINYGUEST: no lease", 120)
        self.eth0_up(sock, reader, "10.170.0.5/24", "10.171.0.5/24", "10.172.0.5/24")
        eventually(lambda: self.pings(sock, reader, "10.170.0.1"), timeout=120,
                   what="the guest to ping bridge A")
        self.assertFalse(self.pings(sock, reader, "10.171.0.1"))

        # refused as libvirt refuses them; nothing changes
        self.update_refused(path, bridge_nic(bra).replace("virtio", "e1000"), "NotSupported",
                            "cannot modify network device model from virtio to e1000")
        self.update_refused(path, bridge_nic(bra, extra="<mtu size='1400'/>"),
                            "NotSupported", "cannot modify MTU")
        self.update_refused(path, bridge_nic(bra, extra="<driver queues='2'/>"),
                            "NotSupported", "cannot modify virtio network device driver")
        self.update_refused(path, bridge_nic(bra, extra="<target dev='vbtother'/>"),
                            "NotSupported", "cannot modify network device tap name")
        self.update_refused(path, f"<interface type='user'><mac address='{MAC}'/>"
                            "<model type='virtio'/></interface>", "NotSupported",
                            "unable to change config on 'user' network type")
        self.update_refused(path, bridge_nic("vbt-nosuchbr"), "Failed",
                            "bridge vbt-nosuchbr doesn't exist")
        self.assertEqual(self.links()["vnet0"].get("master"), bra)

        # to bridge B: the same tap, now on B; live XML and status, not the persistent XML
        self.update(path, bridge_nic(brb))
        self.assertEqual(self.links()["vnet0"].get("master"), brb)
        live = self.live_xml(path)
        self.assertIn(f"<source bridge='{brb}'/>", live)
        self.assertIn("<target dev='vnet0'/>", live)
        self.assertIn(f"bridge='{brb}'", self.status_text())
        inactive = self.dom(path, "GetXMLDesc", "u", (2,))
        self.assertIn(f"<source bridge='{bra}'/>", inactive)
        eventually(lambda: self.pings(sock, reader, "10.171.0.1"), timeout=120,
                   what="the guest to ping bridge B")
        self.assertFalse(self.pings(sock, reader, "10.170.0.1"))

        # <bandwidth>: set, changed, dropped (the start path's tc shapes; <inbound> only:
        # <outbound> polices, and not every test kernel has act_police)
        bw = "<bandwidth><inbound average='1000' peak='2000' burst='256'/></bandwidth>"
        self.update(path, bridge_nic(brb, extra=bw))
        self.assertIn("htb", self.qdiscs("vnet0"))
        self.assertEqual(self.htb_rate("vnet0"), "8Mbit")  # average='1000' kB/s
        self.assertIn("<bandwidth>", self.live_xml(path))
        # a bad one is refused, the shaping stays
        self.update_refused(path, bridge_nic(brb, extra=bw.replace("1000", "3000")),
                            "InvalidArgument", "peak 2000 is below its average 3000")
        self.assertEqual(self.htb_rate("vnet0"), "8Mbit")
        self.update(path, bridge_nic(brb, extra="<bandwidth><inbound average='3000' "
                                     "peak='4000'/></bandwidth>"))
        self.assertEqual(self.htb_rate("vnet0"), "24Mbit")
        self.update(path, bridge_nic(brb))
        self.assertNotIn("htb", self.qdiscs("vnet0"))
        self.assertNotIn("<bandwidth>", self.live_xml(path))

        # to a virtual network (type change bridge -> network): its bridge
        self.update(path, f"<interface type='network'><mac address='{MAC}'/>"
                    "<source network='vbtnet'/><model type='virtio'/></interface>")
        self.assertEqual(self.links()["vnet0"].get("master"), brn)
        live = self.live_xml(path)
        self.assertIn("<interface type='network'>", live)
        self.assertIn(f"<source network='vbtnet' bridge='{brn}'/>", live)
        eventually(lambda: self.pings(sock, reader, "10.172.0.1"), timeout=120,
                   what="the guest to ping the network's bridge")
        self.assertFalse(self.pings(sock, reader, "10.171.0.1"))
        self.destroy(path)
        eventually(lambda: "vnet0" not in self.links(), timeout=30, what="vnet0 to go")


class RxFilterTest(NetUpdTestCase):
    def host_mcast(self, dev):
        """The multicast MACs added to @dev from user space (/proc/net/dev_mcast)."""
        out = self.a.run(["cat", "/proc/net/dev_mcast"]).stdout
        macs = set()
        for line in out.splitlines():
            f = line.split()
            if len(f) >= 5 and f[1] == dev and f[3] != "0":
                h = f[4]
                macs.add(":".join(h[i:i + 2] for i in range(0, 12, 2)))
        return macs

    def flags(self, dev):
        return set(self.links()[dev].get("flags", []))

    def test_macvtap_follows_guest_filter(self):
        self.ip("link", "add", "vbtv2", "type", "veth", "peer", "name", "vbtv2p")
        self.ip("link", "set", "vbtv2", "up")
        mac = "52:54:00:6a:13:31"
        path, sock, reader = self.start_console_guest(
            f"<interface type='direct' trustGuestRxFilters='yes'><mac address='{mac}'/>"
            "<source dev='vbtv2' mode='bridge'/><model type='virtio'/></interface>")
        taps = [n for n in self.links() if n.startswith("macvtap")]
        self.assertEqual(len(taps), 1, taps)
        tap = taps[0]
        reader.wait_for(b"TINYGUEST: READY", BOOT_TIMEOUT)
        self.eth0_up(sock, reader)

        def guest_table():
            rx = self.qmp(path, "query-rx-filter", {"name": "net0"})[0]
            return set(m.lower() for m in rx["multicast-table"])

        # the guest's groups (IPv4 all-hosts, IPv6 all-nodes, solicited-node) on the host
        eventually(lambda: guest_table() and guest_table() <= self.host_mcast(tap),
                   timeout=90, what="the guest's multicast table on the macvtap")
        self.assertIn("01:00:5e:00:00:01", self.host_mcast(tap))
        self.assertNotIn("PROMISC", self.flags(tap))
        self.guest_sh(sock, reader, "ip link set eth0 promisc on")
        eventually(lambda: "PROMISC" in self.flags(tap), timeout=60,
                   what="PROMISC on the macvtap")
        self.guest_sh(sock, reader, "ip link set eth0 promisc off; ifconfig eth0 allmulti")
        eventually(lambda: "PROMISC" not in self.flags(tap) and "ALLMULTI" in self.flags(tap),
                   timeout=60, what="PROMISC off and ALLMULTI on on the macvtap")
        self.guest_sh(sock, reader, "ifconfig eth0 -allmulti")
        eventually(lambda: "ALLMULTI" not in self.flags(tap), timeout=60,
                   what="ALLMULTI off on the macvtap")
        self.assertIn(f"interface net0: guest rx filter: MAC {mac} set on {tap}",
                      self.a.read_log())
        self.destroy(path)


class CrashAttachTest(NetUpdTestCase):
    def restart_with(self, env):
        self.a.service.stop()
        self.a.service.env = env
        self.a.service.start()

    def attach_killed(self, path, xml):
        """AttachDevice with the service SIGKILLing itself; then a plain restart."""
        with self.assertRaises(vbtest.DBusCallError):
            self.dom(path, "AttachDevice", "su", (xml, 0), timeout=60000)
        self.a.service.proc.wait(timeout=60)
        self.assertEqual(self.a.service.proc.returncode, -9)
        self.a.service.env = None
        self.a.service.start()

    def nodes(self, path):
        return sorted(n["node-name"] for n in self.qmp(path, "query-named-block-nodes")
                      if n["node-name"].startswith("libvirt-"))

    def test_disk_and_nic(self):
        br = self.make_bridge(173)
        img = os.path.join(self.a.dir, "extra.img")
        with open(img, "wb") as f:
            f.truncate(8 << 20)
        disk = (f"<disk type='file' device='disk'><driver name='qemu' type='raw'/>"
                f"<source file='{img}'/><target dev='vdb' bus='virtio'/></disk>")
        path, sock, reader = self.start_console_guest()
        # the detaches at the end need the guest's ACPI eject
        reader.wait_for(b"TINYGUEST: READY", BOOT_TIMEOUT)
        nodes0 = self.nodes(path)
        periph0 = self.peripherals(path)

        # killed before device_add: QEMU had the disk's nodes, not the device
        self.restart_with({KILL_ENV: "device_add"})
        self.attach_killed(path, disk)
        self.assertIn("was being attached when the service stopped; QEMU does not have it",
                      self.a.read_log())
        self.assertNotIn("virtio-disk", self.live_xml(path))
        self.assertEqual(self.nodes(path), nodes0)
        self.assertEqual(self.peripherals(path), periph0)
        self.assertNotIn("<hotplug pending=", self.status_text())

        # killed after device_add, before the live XML had it: adopted
        self.restart_with({KILL_ENV: "status"})
        self.attach_killed(path, disk)
        self.assertIn("QEMU has it: adopted", self.a.read_log())
        self.assertIn("<alias name='virtio-disk1'/>", self.live_xml(path))
        self.assertIn("virtio-disk1", self.peripherals(path))
        self.assertEqual(len(self.nodes(path)), len(nodes0) + 2)
        self.assertNotIn("<hotplug pending=", self.status_text())
        # and it detaches as any other disk, leaving no node
        self.dom(path, "DetachDevice", "su", (disk, 0))
        eventually(lambda: "virtio-disk1" not in self.live_xml(path), timeout=120,
                   what="the disk to be detached")
        eventually(lambda: self.nodes(path) == nodes0, timeout=30, what="its nodes to go")

        # a NIC killed before device_add: netdev, fd names and tap go
        nic = bridge_nic(br)
        self.restart_with({KILL_ENV: "device_add"})
        self.attach_killed(path, nic)
        self.assertNotIn("<interface", self.live_xml(path))
        self.assertEqual(self.peripherals(path), periph0)
        err = self.qmp(path, "netdev_del", {"id": "hostnet0"}, ok=False)
        self.assertIn("error", err)
        eventually(lambda: self.taps() == [], timeout=30, what="the tap to go")
        self.assertNotIn("<netdev", self.status_text())

        # a NIC killed after device_add: adopted with its tap
        self.restart_with({KILL_ENV: "status"})
        self.attach_killed(path, nic)
        live = self.live_xml(path)
        self.assertIn("<alias name='net0'/>", live)
        self.assertIn("net0", self.peripherals(path))
        self.assertEqual(len(self.taps()), 1)
        self.assertEqual(self.links()[self.taps()[0]].get("master"), br)
        self.assertIn(f"<target dev='{self.taps()[0]}'/>", live)
        self.assertIn("<netdev", self.status_text())
        self.dom(path, "DetachDevice", "su", (nic, 0))
        eventually(lambda: self.taps() == [], timeout=120, what="the tap to go after detach")
        self.destroy(path)


if __name__ == "__main__":
    vbtest.main()
