#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""NetnsTestCase: a VirtbusTestCase whose virtbusd (not its bus) runs inside a
network namespace the test makes (`ip netns exec vbt-<pid>-<random>`), so
that the networks it starts (bridges, nft table `inet virtbus`, dnsmasq, IP
forwarding) never touch the host's own namespace. On teardown every process
left in the test's namespaces (dnsmasq outlives the service by design) is
ended by pid and the namespaces are deleted, also when the test failed.
Needs root, ip, nft, busybox and dnsmasq (scripts/install-deps.sh)."""

import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vbhosts  # noqa: E402
import vbtest  # noqa: E402
from vbtest import VirtbusTestCase, connect  # noqa: E402

NET_IFACE = "org.virtbus.Virt1.Network"


def net_path(uuid):
    return "/org/virtbus/Virt1/network/" + uuid.replace("-", "_")


def sh(argv, check=True, **kw):
    p = subprocess.run(argv, capture_output=True, text=True, timeout=60, **kw)
    if check and p.returncode != 0:
        raise AssertionError(f"{' '.join(argv)} failed ({p.returncode}): {p.stderr.strip()}")
    return p


class NetnsTestCase(VirtbusTestCase):
    """virtbusd (not its bus) inside a fresh network namespace."""

    config = None  # text of the service's virtbusd.conf, written before it starts

    def setUp(self):
        missing = [] if os.geteuid() == 0 else ["root"]
        missing += [p for p in ("ip", "nft", "busybox", "/usr/sbin/dnsmasq")
                    if shutil.which(p) is None]
        if missing:
            raise unittest.SkipTest("needs " + ", ".join(missing) + " (scripts/install-deps.sh)")
        self.ns = f"vbt-{os.getpid()}-{random.randrange(1 << 24):06x}"
        sh(["ip", "netns", "add", self.ns])
        self.extra_ns = []
        try:
            sh(["ip", "-n", self.ns, "link", "set", "lo", "up"])
            self._setup_in_ns()
        except BaseException:
            self._drop_namespaces()
            raise

    def _setup_in_ns(self):
        self.tmp = tempfile.mkdtemp(prefix="vbtest-")
        self.bus = vbtest.PrivateBus(self.tmp)
        self.root = os.path.join(self.tmp, "root")
        os.makedirs(self.root)
        if self.config is not None:
            d = os.path.join(self.root, "etc", "virtbus")
            os.makedirs(d)
            with open(os.path.join(d, "virtbusd.conf"), "w") as f:
                f.write("[virtbusd]\n" + self.config)
        self.service = vbtest.Service(self.bus, self.root, self.service_args,
                                      env=self.service_env,
                                      prefix=["ip", "netns", "exec", self.ns])
        self.conn = None
        try:
            self.service.start()
            self.conn = connect(self.bus.address)
        except BaseException:
            self.service.stop(check=False)
            sys.stderr.write(self.service.read_log()[-20000:])
            self.bus.stop()
            shutil.rmtree(self.tmp, ignore_errors=True)
            raise

    def _drop_namespaces(self):
        for ns in [self.ns] + self.extra_ns:
            # dnsmasq outlives the service by design: ended here by pid
            vbhosts._kill_netns_processes(ns, grace=0.5)
            vbhosts._delete_netns(ns)

    def tearDown(self):
        try:
            super().tearDown()
        finally:
            self._drop_namespaces()

    # ---- helpers ----

    def net(self, path, method, sig=None, args=(), **kw):
        r = self.call(path, NET_IFACE, method, sig, args, **kw)
        return r[0] if r and len(r) == 1 else r

    def assertDBusError(self, name, fn, *args, **kw):
        with self.assertRaises(vbtest.DBusCallError) as cm:
            fn(*args, **kw)
        names = name if isinstance(name, tuple) else (name,)
        self.assertIn(cm.exception.name, names, cm.exception.message)
        return cm.exception


    def ns_run(self, argv, ns=None, check=True):
        return sh(["ip", "netns", "exec", ns or self.ns] + argv, check=check)

    def links(self):
        return {link["ifname"]: link for link in
                json.loads(sh(["ip", "-n", self.ns, "-j", "addr", "show"]).stdout)}

    def nft(self):
        """{chain name: [rule texts]} of table inet virtbus, or None without it."""
        p = self.ns_run(["nft", "-j", "list", "table", "inet", "virtbus"], check=False)
        if p.returncode != 0:
            return None
        chains = {}
        for item in json.loads(p.stdout)["nftables"]:
            if "chain" in item:
                chains.setdefault(item["chain"]["name"], [])
            elif "rule" in item:
                chains.setdefault(item["rule"]["chain"], []).append(
                    json.dumps(item["rule"]["expr"]))
        return chains

    def dnsmasq_pids(self, name="net1"):
        conf = os.path.join(self.root, "var", "lib", "virtbus", "dnsmasq", f"{name}.conf")
        return [pid for pid in vbhosts.netns_pids(self.ns)
                if f"--conf-file={conf}" in vbhosts._cmdline(pid)]

    def status_file(self, name="net1"):
        return os.path.join(self.root, "run", "virtbus", "network", f"{name}.xml")

    def assert_nothing_made(self, bridges=("vbt-br1",)):
        links = self.links()
        for b in bridges:
            self.assertNotIn(b, links)
        self.assertIsNone(self.nft())
        self.assertEqual(self.dnsmasq_pids(), [])
        self.assertFalse(os.path.exists(self.status_file()))
