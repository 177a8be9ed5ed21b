#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""GuestNetTestCase: the tiny guest (tests/guest) on host networking the test
makes, with the real virtbusd of one vbhosts host (its own network namespace):
links and addresses (`ip`), a DHCP server on a link (dnsmasq, ended by pid),
extra namespaces (deleted, their processes ended, also on failure), the guest's
definition (vbmigrate.guest_xml, one domain `vm1`), Start/Destroy, the live XML
and status file, and the check that a refused start left nothing behind. Used
by test_interfaces.py and test_ifaddr_net.py (and test_ifaddr_lease.py)."""

import json
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vbhosts  # noqa: E402
import vbmigrate  # noqa: E402
import vbtest  # noqa: E402
from vbtest import DOMAIN_IFACE  # noqa: E402


class GuestNetTestCase(vbhosts.MultiHostTestCase):
    n_hosts = 1
    UUID = None  # the domain's UUID: set by the test module

    def setUp(self):
        super().setUp()
        vbmigrate.require_guest(self)
        self.procs = []
        self.extra_netns = []
        self.serial = os.path.join(self.a.dir, "serial.log")
        self.tag = f"{os.getpid() % 10000}"

    def tearDown(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
            p.wait()
        try:
            self.a.destroy_all()
        finally:
            for ns in self.extra_netns:
                vbhosts._kill_netns_processes(ns, grace=0)
                vbhosts._delete_netns(ns)
            super().tearDown()

    # -- the host's networking --
    def ip(self, *args, ns=None, check=True):
        argv = ["ip"] + (["-n", ns] if ns else []) + list(args)
        if ns is None:
            return self.a.run(argv, check=check)
        return subprocess.run(argv, capture_output=True, text=True, check=check)

    def links(self, ns=None):
        out = self.ip("-j", "link", "show", ns=ns).stdout
        return {link["ifname"]: link for link in json.loads(out or "[]")}

    def make_bridge(self, third, name=None):
        """A bridge (vbtbr<tag> unless @name) with 10.<third>.0.1/24, up."""
        br = name or f"vbtbr{self.tag}"
        self.ip("link", "add", br, "type", "bridge")
        self.ip("addr", "add", f"10.{third}.0.1/24", "dev", br)
        self.ip("link", "set", br, "up")
        return br

    def dnsmasq(self, iface, third, ns=None):
        """A DHCP server on @iface (10.<third>.0.1/24) in the host's
        namespace or @ns, ended by pid at the end of the test."""
        argv = ["dnsmasq", "--no-daemon", "--conf-file=/dev/null", "--port=0",
                f"--interface={iface}", "--bind-interfaces", "--leasefile-ro",
                "--pid-file=", f"--dhcp-range=10.{third}.0.10,10.{third}.0.50,1h",
                f"--dhcp-option=3,10.{third}.0.1"]
        if ns is None:
            argv = self.a.argv(argv)
        else:
            argv = ["ip", "netns", "exec", ns] + argv
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        self.procs.append(p)
        time.sleep(0.3)
        self.assertIsNone(p.poll(), "dnsmasq did not start")
        return p

    def make_tap(self, third, name=None):
        """A tap (vbttap<tag> unless @name, vnet_hdr) with 10.<third>.0.1/24, up."""
        tap = name or f"vbttap{self.tag}"
        self.ip("tuntap", "add", "dev", tap, "mode", "tap", "vnet_hdr")
        self.ip("addr", "add", f"10.{third}.0.1/24", "dev", tap)
        self.ip("link", "set", tap, "up")
        return tap

    def link_counters(self, dev):
        """The host's rx_/tx_ bytes and packets of @dev (sysfs, in the host's namespace)."""
        out = {}
        for name in ("rx_bytes", "rx_packets", "tx_bytes", "tx_packets"):
            p = self.a.run(["cat", f"/sys/class/net/{dev}/statistics/{name}"])
            out[name] = int(p.stdout.strip())
        return out

    def wait_lease(self, third):
        """Waits for the guest's DHCP lease on 10.<third>.0.0/24 and its ping of
        10.<third>.0.1; returns the guest's address."""
        vbtest.eventually(lambda: f"TINYGUEST: ping 10.{third}.0.1 " in self.markers()
                          or "TINYGUEST: no lease" in self.markers(), timeout=90,
                          what="the guest's lease and ping")
        text = self.markers()
        m = re.search(rf"TINYGUEST: lease (10\.{third}\.0\.\d+)/", text)
        self.assertIsNotNone(m, text[-2000:])
        self.assertIn(f"TINYGUEST: ping 10.{third}.0.1 ok", text)
        return m.group(1)

    def peer_netns(self):
        ns = f"vbt-if-{os.getpid()}-{len(self.extra_netns)}"
        subprocess.run(["ip", "netns", "add", ns], check=True)
        self.extra_netns.append(ns)
        self.ip("link", "set", "lo", "up", ns=ns)
        return ns

    # -- the guest --
    def markers(self):
        return vbmigrate.read_text(self.serial)

    def guest_xml(self, devices, uuid=None):
        return vbmigrate.guest_xml(name="vm1", uuid=uuid or self.UUID, serial=self.serial,
                                   tick=False, devices=devices)

    def define(self, devices, uuid=None):
        return self.manager(self.a, "DefineXML", "su", (self.guest_xml(devices, uuid), 0))

    def start(self, devices, uuid=None):
        path = self.define(devices, uuid)
        self.call(path, DOMAIN_IFACE, "Start", "u", (0,), conn=self.conn(self.a),
                  timeout=60000)
        return path

    def live_xml(self, path):
        return self.call(path, DOMAIN_IFACE, "GetXMLDesc", "u", (0,),
                         conn=self.conn(self.a))[0]

    def destroy(self, path):
        self.call(path, DOMAIN_IFACE, "Destroy", "u", (0,), conn=self.conn(self.a))

    def qemu_pid(self):
        pids = vbtest.qemus_under(self.a.dir)
        self.assertEqual(len(pids), 1, pids)
        return next(iter(pids))

    def status_text(self):
        for root, _, files in os.walk(self.a.root):
            for f in files:
                if f == "vm1.xml" and "run" in root:
                    with open(os.path.join(root, f)) as fh:
                        return fh.read()
        return ""

    def assert_start_refused(self, error, devices, *needles, status=True):
        """Start of @devices fails with @error (a name, or None for any) whose
        message has every needle, leaving no new link, no QEMU and (with
        @status) no status file. Returns the error."""
        before = set(self.links())
        path = self.define(devices)
        with self.assertRaises(vbtest.DBusCallError) as cm:
            self.call(path, DOMAIN_IFACE, "Start", "u", (0,), conn=self.conn(self.a),
                      timeout=60000)
        e = cm.exception
        if error is not None:
            self.assertEqual(e.name, vbtest.ERR + error, e.message)
        for n in needles:
            self.assertIn(n, e.message)
        self.assertEqual(set(self.links()), before)
        self.assertEqual(vbtest.qemus_under(self.a.dir), {})
        if status:
            self.assertEqual(self.status_text(), "")
        return e
