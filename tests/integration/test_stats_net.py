#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Interface statistics (issue 13, part stats): the tiny guest on a type='ethernet' tap the
test made in a host namespace (vbhosts), with a DHCP server on the tap. The host's tap sees
the guest's traffic the other way round: GetStats' net.0.rx.* are the tap's tx_* counters
and net.0.tx.* its rx_* (libvirt's swap); they grow with the guest's traffic (its DHCP and
pings); InterfaceStats (by name and by MAC) and virtbusctl domifstat agree."""

import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(__file__))
import vbguestnet  # noqa: E402
import vbtest  # noqa: E402
from vbtest import DOMAIN_IFACE, VIRTBUSCTL  # noqa: E402

UUID = "5b7e0c1a-2d3f-4a5b-8c6d-7e8f9a0b1c53"
MAC = "52:54:00:6a:13:01"
IFACE = 16


class NetStatsTest(vbguestnet.GuestNetTestCase):
    UUID = UUID

    def stats(self, path):
        return self.call(path, DOMAIN_IFACE, "GetStats", "uu", (IFACE, 0),
                         conn=self.conn(self.a))[0]

    def test_tap_counters_seen_from_the_guest(self):
        tap = self.make_tap(153, f"vbsttap{self.tag}")
        self.dnsmasq(tap, 153)
        path = self.start(f"""
    <interface type='ethernet'>
      <mac address='{MAC}'/>
      <target dev='{tap}' managed='no'/>
      <model type='virtio'/>
    </interface>""")
        ip = self.wait_lease(153)
        s1 = self.stats(path)
        self.assertEqual(s1["net.count"], 1)
        self.assertEqual(s1["net.0.name"], tap)
        # the guest sent (DHCP discover/request, ping) and received (offer, ack, reply)
        self.assertGreater(s1["net.0.tx.pkts"], 2)
        self.assertGreater(s1["net.0.rx.pkts"], 2)
        host = self.link_counters(tap)
        # swapped: what the host's tap received is what the guest sent
        self.assertLessEqual(s1["net.0.tx.bytes"], host["rx_bytes"])
        self.assertLessEqual(s1["net.0.rx.bytes"], host["tx_bytes"])
        self.assertGreater(s1["net.0.tx.bytes"], host["rx_bytes"] // 2)
        for k in ("rx.errs", "rx.drop", "tx.errs"):
            self.assertIn(f"net.0.{k}", s1)

        # traffic from the host to the guest: the guest's rx grows by at least the pings
        self.a.run(["busybox", "ping", "-c", "5", "-i", "0.2", "-s", "1000", "-W", "2", ip])
        s2 = self.stats(path)
        self.assertGreaterEqual(s2["net.0.rx.bytes"] - s1["net.0.rx.bytes"], 5 * 1000)
        self.assertGreaterEqual(s2["net.0.tx.bytes"] - s1["net.0.tx.bytes"], 5 * 1000)

        v = self.call(path, DOMAIN_IFACE, "InterfaceStats", "s", (tap,),
                      conn=self.conn(self.a))[0]
        self.assertEqual(len(v), 8)
        self.assertGreaterEqual(v[0], s2["net.0.rx.bytes"])
        self.assertGreaterEqual(v[4], s2["net.0.tx.bytes"])
        by_mac = self.call(path, DOMAIN_IFACE, "InterfaceStats", "s", (MAC,),
                           conn=self.conn(self.a))[0]
        self.assertGreaterEqual(by_mac[0], v[0])
        p = subprocess.run([os.path.abspath(VIRTBUSCTL), "--address", self.a.bus_address,
                            "domifstat", "vm1", tap], capture_output=True, text=True,
                           timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        lines = p.stdout.splitlines()
        self.assertEqual([ln.split()[1] for ln in lines],
                         ["rx_bytes", "rx_packets", "rx_errs", "rx_drop", "tx_bytes",
                          "tx_packets", "tx_errs", "tx_drop"])
        self.assertTrue(all(ln.startswith(tap + " ") for ln in lines))
        self.assertGreaterEqual(int(lines[0].split()[2]), v[0])


if __name__ == "__main__":
    vbtest.main()
