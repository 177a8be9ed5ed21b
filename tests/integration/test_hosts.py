# SPDX-License-Identifier: LGPL-2.1-or-later
"""The test hosts (vbhosts.py) and virtbusctl over ssh (-H, --connect).

Two hosts in network namespaces, each with its own bus, virtbusd and sshd;
virtbusctl runs inside host a's namespace and talks to host b's service
through `ssh ... systemd-stdio-bridge` (service/migration/migration-remote.c).
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vbhosts  # noqa: E402
import vbtest  # noqa: E402

from gi.repository import Gio, GLib  # noqa: E402

HOSTS_PY = os.path.join(os.path.dirname(os.path.abspath(__file__)), "vbhosts.py")


def children(pid, comm=None):
    """Pids whose parent is @pid (and whose command name is @comm)."""
    found = []
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open(f"/proc/{p}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        name = stat[stat.index(b"(") + 1:stat.rindex(b")")].decode(errors="replace")
        fields = stat.rpartition(b")")[2].split()
        if int(fields[1]) == pid and (comm is None or name == comm):
            found.append(int(p))
    return found


def alive(pid):
    """Whether @pid exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rpartition(b")")[2].split()[0] != b"Z"
    except OSError:
        return False


def in_netns(host, comm):
    """Pids of processes named @comm in @host's namespace."""
    pids = []
    for pid in vbhosts.netns_pids(host.netns):
        try:
            with open(f"/proc/{pid}/comm") as f:
                if f.read().strip() == comm:
                    pids.append(pid)
        except OSError:
            pass
    return pids


class TestHosts(vbhosts.MultiHostTestCase):
    def uuid_of(self, host):
        return self.host_prop(host, "HostUUID")

    def remote_ctl(self, *args, via="connect", check=True, **kw):
        """virtbusctl in host a's namespace, talking to host b's service."""
        b = self.b
        if via == "connect":
            bus = ["--ssh-config", self.hosts.describe()["empty_ssh_config"],
                   "--connect", b.uri(keys=True)]
        else:
            bus = ["--ssh-config", self.hosts.ssh_config, "-H", via, "--address", b.bus_address]
        return self.ctl(self.a, *bus, *args, check=check, **kw)

    def test_each_host_is_its_own(self):
        """Each host's service answers on its own bus, with its own host
        UUID, runs inside its own namespace, and only there is its address."""
        uuids = set()
        for h in self.hosts:
            self.assertEqual(self.uuid_of(h), h.host_uuid)
            uuids.add(h.host_uuid)
            ns_ino = os.stat(f"/run/netns/{h.netns}").st_ino
            for pid in (h.service.proc.pid, h.sshd.pid, h.bus.proc.pid):
                self.assertEqual(os.stat(f"/proc/{pid}/ns/net").st_ino, ns_ino)
            addrs = h.run(["ip", "-4", "-o", "addr", "show", "dev", "eth0"]).stdout
            self.assertIn(f"inet {h.address}/24", addrs)
            with open(h.config) as f:
                self.assertIn(f"migration_host={h.address}\n", f.read())
            self.assertTrue(os.path.isdir(h.storage))
        self.assertEqual(len(uuids), 2)
        self.assertTrue(os.path.isdir(self.hosts.shared))
        # the hosts reach each other; their addresses exist only in their namespaces
        banner = self.a.run(["bash", "-c", f"exec 3<>/dev/tcp/{self.b.address}/22; "
                             "head -c 4 <&3"]).stdout
        self.assertEqual(banner, "SSH-")
        r = subprocess.run(["ip", "-4", "-o", "addr"], capture_output=True, text=True)
        self.assertNotIn(f"inet {self.b.address}/", r.stdout)
        # a domain defined on a is not on b
        self.manager(self.a, "DefineXML", "su", (vbtest.domain_xml("only-on-a"), 0))
        self.manager(self.a, "LookupByName", "s", ("only-on-a",))
        with self.assertRaises(vbtest.DBusCallError) as cm:
            self.manager(self.b, "LookupByName", "s", ("only-on-a",))
        self.assertEqual(cm.exception.name, vbtest.ERR + "NoDomain")

    def test_connect_uri_with_keys(self):
        """--connect ssh://root@B?bus=..&keyfile=..&known_hosts=.. from host a
        lists, defines and reads host b's domains."""
        b_uuid, a_uuid = self.uuid_of(self.b), self.uuid_of(self.a)
        self.assertNotEqual(a_uuid, b_uuid)
        caps = self.remote_ctl("capabilities").stdout
        self.assertIn(f"<uuid>{b_uuid}</uuid>", caps)
        self.assertNotIn(a_uuid, caps)
        xml = vbtest.domain_xml("remote-vm", "5a0c3e2d-1b7a-4c55-9a61-0d3c2b1a4e5f")
        self.remote_ctl("define", "-", input=xml)
        self.assertIn("remote-vm", self.remote_ctl("list", "--all", "--name").stdout.split())
        # it is b's: on b's bus, not on a's
        self.manager(self.b, "LookupByName", "s", ("remote-vm",))
        self.assertNotIn("remote-vm", self.ctl(None, "--address", self.a.bus_address, "list",
                                               "--all", "--name").stdout.split())
        dump = self.remote_ctl("dumpxml", "remote-vm").stdout
        self.assertIn("<uuid>5a0c3e2d-1b7a-4c55-9a61-0d3c2b1a4e5f</uuid>", dump)
        info = self.remote_ctl("info", "remote-vm").stdout
        self.assertRegex(info, r"State:\s+shutoff")
        # every ssh child of those runs has ended
        self.assertEqual(in_netns(self.a, "ssh"), [])

    def test_host_option_with_ssh_config(self):
        """-H with an ssh config (its IdentityFile and UserKnownHostsFile)
        and --address naming the bus on that host; by alias, by
        USER@ADDRESS and by ADDRESS:PORT."""
        b_uuid = self.uuid_of(self.b)
        for target in ("b", f"root@{self.b.address}", f"root@{self.b.address}:22"):
            with self.subTest(target=target):
                caps = self.remote_ctl("capabilities", via=target).stdout
                self.assertIn(f"<uuid>{b_uuid}</uuid>", caps)
        self.remote_ctl("define", "-", via="b", input=vbtest.domain_xml("by-host"))
        self.manager(self.b, "LookupByName", "s", ("by-host",))
        self.assertIn("by-host", self.remote_ctl("list", "--all", "--name", via="b").stdout)
        self.remote_ctl("undefine", "by-host", via="b")
        self.assertDBusError("NoDomain", self.manager, self.b, "LookupByName", "s", ("by-host",))
        # options also after the command, as the local bus options are
        p = self.ctl(self.a, "list", "--all", "--name", "--ssh-config", self.hosts.ssh_config,
                     "-H", "b", "--address", self.b.bus_address)
        self.assertEqual(p.stdout.split(), [])

    def test_remote_lifecycle_in_host_namespace(self):
        """start/domstate/destroy through -H: b's QEMU runs inside b's
        namespace; the one left running is destroyed by the harness at the
        end (no QEMU left over)."""
        self.remote_ctl("define", "-", via="b", input=vbtest.domain_xml("vm-b"))
        self.remote_ctl("start", "vm-b", via="b")
        self.assertEqual(self.remote_ctl("domstate", "vm-b", via="b").stdout.strip(), "running")
        qemus = vbtest.qemus_under(self.b.dir)
        self.assertEqual(len(qemus), 1, qemus)
        pid = next(iter(qemus))
        self.assertEqual(os.stat(f"/proc/{pid}/ns/net").st_ino,
                         os.stat(f"/run/netns/{self.b.netns}").st_ino)
        self.assertEqual(vbtest.qemus_under(self.a.dir), {})
        self.remote_ctl("destroy", "vm-b", via="b")
        vbtest.eventually(lambda: not alive(pid), timeout=10, what="b's QEMU to end")
        self.remote_ctl("start", "vm-b", via="b")   # left for the harness to destroy

    def test_p2p_migration_over_ssh(self):
        """Domain.Migrate on a's service with ssh://root@B?bus=..: the
        service reaches b's service over ssh with its ssh_config setting (the
        harness's client config) and the QEMU stream goes a -> b between the
        namespaces; a URI naming a key file is refused (the service is not
        a trusted caller), naming the parameter."""
        conn_a = self.conn(self.a)
        path = self.manager(self.a, "DefineXML", "su", (vbtest.domain_xml("mig"), 0))
        self.call(path, vbtest.DOMAIN_IFACE, "Start", "u", (0,), conn=conn_a)
        with self.assertRaises(vbtest.DBusCallError) as cm:
            self.call(path, vbtest.DOMAIN_IFACE, "Migrate", "sa{sv}u",
                      (self.b.uri(keys=True), {}, 1 | 2), conn=conn_a)
        self.assertEqual(cm.exception.name, vbtest.ERR + "InvalidArgument")
        self.assertIn("'keyfile' is not accepted by the service", cm.exception.message)
        job = self.call(path, vbtest.DOMAIN_IFACE, "Migrate", "sa{sv}u",
                        (self.b.uri(), {}, 1 | 2), conn=conn_a)[0]
        res = self.call(job, "org.virtbus.Virt1.Job", "Wait", conn=conn_a, timeout=120000)[0]
        dpath = res["domain"]
        state = self.call(path, "org.freedesktop.DBus.Properties", "Get", "ss",
                          (vbtest.DOMAIN_IFACE, "State"), conn=conn_a)[0]
        self.assertEqual(state, "shutoff")
        conn_b = self.conn(self.b)
        props = self.call(dpath, "org.freedesktop.DBus.Properties", "GetAll", "s",
                          (vbtest.DOMAIN_IFACE,), conn=conn_b)[0]
        self.assertEqual((props["State"], props["StateReason"]), ("running", "migrated"))
        qemus = vbtest.qemus_under(self.b.dir)
        self.assertEqual(len(qemus), 1, qemus)
        self.assertEqual(os.stat(f"/proc/{next(iter(qemus))}/ns/net").st_ino,
                         os.stat(f"/run/netns/{self.b.netns}").st_ino)
        self.assertEqual(vbtest.qemus_under(self.a.dir), {})
        # the connection to b is kept for the next migration there (30 s
        # idle), one ssh; it ends, on both sides, when the service stops
        self.assertEqual(len(in_netns(self.a, "ssh")), 1)
        self.a.service.stop()
        self.assertEqual(in_netns(self.a, "ssh"), [])
        self.a.service.start()
        vbtest.eventually(lambda: not in_netns(self.a, "ssh"), timeout=10,
                          what="a's ssh to end")
        vbtest.eventually(lambda: not in_netns(self.b, "systemd-stdio-b"), timeout=10,
                          what="the bridge on b to end")

    def test_completion_over_ssh(self):
        """Bash completion passes -H, --address and --ssh-config on: the
        domain names come from host b."""
        self.manager(self.b, "DefineXML", "su", (vbtest.domain_xml("far-one"), 0))
        self.manager(self.b, "DefineXML", "su", (vbtest.domain_xml("far-two"), 0))
        self.manager(self.a, "DefineXML", "su", (vbtest.domain_xml("far-near"), 0))
        completion = os.path.join(vbtest.SRCDIR, "client", "virtbusctl.bash-completion")
        script = (f"source {completion}\n"
                  "COMP_WORDS=(\"$@\"); COMP_CWORD=$(($# - 1))\n"
                  "_virtbusctl\n"
                  "printf '%s\\n' \"${COMPREPLY[@]}\"\n")
        words = [os.path.abspath(vbtest.VIRTBUSCTL), "--ssh-config", self.hosts.ssh_config,
                 "-H", "b", "--address", self.b.bus_address, "dumpxml", "far"]
        p = self.a.run(["bash", "-c", script, "bash", *words])
        self.assertEqual(sorted(p.stdout.split()), ["far-one", "far-two"])
        words = [os.path.abspath(vbtest.VIRTBUSCTL), "-H", "b", "--"]
        p = self.a.run(["bash", "-c", script, "bash", *words])
        self.assertIn("--ssh-config", p.stdout.split())

    def test_remote_console_refused(self):
        """console opens the domain's pty, a file on the other host: refused
        with a message that says how to do it instead."""
        self.manager(self.b, "DefineXML", "su", (vbtest.domain_xml("con"), 0))
        p = self.remote_ctl("console", "con", check=False)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("console is not supported over a remote connection (ssh://root@", p.stderr)
        self.assertIn("ssh -t HOST virtbusctl console con", p.stderr)

    def test_unreachable_fails_fast(self):
        """Nothing listening: the error carries ssh's reason, at once, and
        no ssh process is left; a host key that is not the known one and a
        bus that does not exist say so too."""
        addr = self.b.address
        t0 = time.monotonic()
        p = self.ctl(self.a, "--ssh-config", self.hosts.ssh_config, "-H", f"root@{addr}:2222",
                     "list", check=False)
        elapsed = time.monotonic() - t0
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertEqual(p.stderr, f"error: cannot connect to ssh://root@{addr}:2222: ssh: "
                                   f"connect to host {addr} port 2222: Connection refused\n")
        self.assertLess(elapsed, 5)
        self.assertEqual(in_netns(self.a, "ssh"), [])
        # a known_hosts file without b's key: StrictHostKeyChecking refuses
        empty = os.path.join(self.hosts.dir, "no_known_hosts")
        open(empty, "w").close()
        uri = (f"ssh://root@{addr}?bus={self.b.bus_address}&keyfile={self.hosts.client_key}"
               f"&known_hosts={empty}")
        p = self.ctl(self.a, "--ssh-config", self.hosts.describe()["empty_ssh_config"],
                     "--connect", uri, "list", check=False)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn(f"error: cannot connect to ssh://root@{addr}: ", p.stderr)
        self.assertIn("Host key verification failed.", p.stderr)
        # the bus named does not exist on b
        p = self.ctl(self.a, "--ssh-config", self.hosts.ssh_config, "-H", "b", "--address",
                     "unix:path=/nonexistent/bus", "list", check=False)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertEqual(p.stderr, "error: cannot connect to ssh://b: Failed to start bus "
                                   "client: No such file or directory\n")
        # a bus without virtbus: the usual message, naming the remote host
        d = tempfile.mkdtemp(prefix="plainbus-", dir=self.b.dir)
        bus = vbtest.PrivateBus(d, prefix=["ip", "netns", "exec", self.b.netns])
        try:
            p = self.ctl(self.a, "--ssh-config", self.hosts.ssh_config, "-H", "b", "--address",
                         bus.address, "list", check=False)
        finally:
            bus.stop()
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("is not running on ssh://b", p.stderr)
        self.assertEqual(in_netns(self.a, "ssh"), [])
        vbtest.eventually(lambda: not in_netns(self.b, "systemd-stdio-b"), timeout=5,
                          what="the bridges on b to end")

    def test_bad_options(self):
        """Bad URIs and option mixes are usage errors, before any ssh runs."""
        cases = [
            (["-H", "b", "--connect", self.b.uri()], "-H and --connect exclude each other"),
            (["-H", "b", "--system"], "-H and --connect exclude --system and --session"),
            (["--connect", self.b.uri(), "--address", "unix:path=/x"],
             "--connect excludes --address"),
            (["--ssh-config", self.hosts.ssh_config], "--ssh-config needs -H or --connect"),
        ]
        for args, msg in cases:
            with self.subTest(args=args):
                p = self.ctl(self.a, *args, "list", check=False)
                self.assertEqual(p.returncode, 2, p.stderr)
                self.assertIn(msg, p.stderr)
        for target, msg in (("-oProxyCommand=x", "invalid host"),
                            ("b:0", "invalid port '0'"), ("-l@b", "invalid user name '-l'")):
            with self.subTest(target=target):
                p = self.ctl(self.a, "-H", target, "list", check=False)
                self.assertEqual(p.returncode, 1, p.stderr)
                self.assertIn(msg, p.stderr)
        p = self.ctl(self.a, "--connect", self.b.uri() + "&socket=/x", "list", check=False)
        self.assertIn("unknown URI parameter 'socket'", p.stderr)
        self.assertEqual(in_netns(self.a, "ssh"), [])

    def _start_event_client(self):
        """`virtbusctl event --loop` in a's namespace on b's service; returns
        (process, pid of its ssh child) once connected."""
        argv = self.a.argv([os.path.abspath(vbtest.VIRTBUSCTL), "--ssh-config",
                            self.hosts.ssh_config, "-H", "b", "--address", self.b.bus_address,
                            "event", "--loop"])
        p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.addCleanup(lambda: (p.poll() is None and p.kill(), p.wait(), p.stdout.close(),
                                 p.stderr.close()))
        ssh = vbtest.eventually(lambda: children(p.pid, "ssh"), timeout=10,
                                what="virtbusctl's ssh child")[0]
        vbtest.eventually(lambda: in_netns(self.b, "systemd-stdio-b"), timeout=10,
                          what="the bridge on b")
        # it receives b's events through the tunnel
        self.manager(self.b, "DefineXML", "su", (vbtest.domain_xml(f"ev{p.pid}"), 0))
        line = p.stdout.readline()
        self.assertIn(f"ev{p.pid}", line)
        return p, ssh

    def test_killed_client_leaves_no_ssh(self):
        """SIGKILL of virtbusctl: its ssh child ends too (no orphan), and so
        does the bridge on the other host."""
        p, ssh = self._start_event_client()
        p.kill()
        p.wait()
        vbtest.eventually(lambda: not alive(ssh), timeout=5, what="the ssh child to end")
        self.assertEqual(in_netns(self.a, "ssh"), [])
        vbtest.eventually(lambda: not in_netns(self.b, "systemd-stdio-b"), timeout=5,
                          what="the bridge on b to end")

    def test_stopped_client_closes_cleanly(self):
        """SIGTERM: virtbusctl closes the connection and reaps ssh before it
        exits."""
        p, ssh = self._start_event_client()
        p.send_signal(signal.SIGTERM)
        self.assertEqual(p.wait(timeout=10), 0, p.stderr.read())
        self.assertFalse(alive(ssh))
        vbtest.eventually(lambda: not in_netns(self.b, "systemd-stdio-b"), timeout=5,
                          what="the bridge on b to end")

    def test_remote_call_time(self):
        """Figures: one remote call (connect + Ping) and a whole virtbusctl
        run over ssh."""
        best = None
        for _ in range(3):
            t0 = time.monotonic()
            ssh = self.a.popen(["ssh", "-F", self.hosts.ssh_config, "-xT", "b",
                                "systemd-stdio-bridge", "-p" + self.b.bus_address],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE)
            stream = Gio.SimpleIOStream.new(Gio.UnixInputStream.new(ssh.stdout.fileno(), False),
                                            Gio.UnixOutputStream.new(ssh.stdin.fileno(), False))
            conn = Gio.DBusConnection.new_sync(
                stream, None, Gio.DBusConnectionFlags.AUTHENTICATION_CLIENT
                | Gio.DBusConnectionFlags.MESSAGE_BUS_CONNECTION, None, None)
            conn.call_sync(vbtest.BUS_NAME, vbtest.MANAGER_PATH, "org.freedesktop.DBus.Peer",
                           "Ping", None, None, Gio.DBusCallFlags.NONE, 10000, None)
            elapsed = time.monotonic() - t0
            conn.close_sync(None)
            ssh.stdin.close()
            ssh.wait(timeout=10)
            ssh.stdout.close()
            best = elapsed if best is None else min(best, elapsed)
        t0 = time.monotonic()
        self.remote_ctl("version", via="b")
        ctl = time.monotonic() - t0
        sys.stderr.write(f"\nFIGURE remote connect+Ping over ssh: {best * 1000:.0f} ms; "
                         f"virtbusctl -H version: {ctl * 1000:.0f} ms; hosts up: "
                         f"{self.hosts.timings['up'] * 1000:.0f} ms\n")
        self.assertLess(best, 10)


class TestHostsCli(unittest.TestCase):
    """vbhosts.py as a command: up prints the description and stays up,
    down (or SIGTERM) ends every process and namespace."""

    def setUp(self):
        vbhosts.require_root()
        self.tmp = tempfile.mkdtemp(prefix="vbhosts-test-")
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def up(self, n, directory):
        env = dict(os.environ)
        p = subprocess.Popen([sys.executable, HOSTS_PY, "up", str(n), directory],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        self.addCleanup(lambda: (p.poll() is None and p.kill(), p.wait(), p.stdout.close(),
                                 p.stderr.close()))
        out = ""
        while True:
            line = p.stdout.readline()
            if not line:
                self.fail(f"vbhosts.py up ended: {p.stderr.read()}")
            out += line
            if line == "}\n":
                return p, json.loads(out)

    def check_gone(self, desc):
        for h in desc["hosts"]:
            for name, pid in h["pids"].items():
                self.assertFalse(alive(pid), f"{name} of host {h['name']} still runs")
        for ns in desc["namespaces"]:
            self.assertFalse(vbhosts.netns_exists(ns), ns)
        self.assertEqual(vbtest.qemus_under(desc["dir"]), {})

    def test_up_down(self):
        """Three hosts up (timed), each answers; `down DIR` ends all."""
        d = os.path.join(self.tmp, "hosts")
        t0 = time.monotonic()
        p, desc = self.up(3, d)
        t_up = time.monotonic() - t0
        self.assertEqual([h["name"] for h in desc["hosts"]], ["a", "b", "c"])
        self.assertEqual(len({h["host_uuid"] for h in desc["hosts"]}), 3)
        self.assertEqual(len({h["address"] for h in desc["hosts"]}), 3)
        for h in desc["hosts"]:
            conn = vbtest.connect(h["bus_address"])
            try:
                r = conn.call_sync(vbtest.BUS_NAME, vbtest.MANAGER_PATH,
                                   "org.freedesktop.DBus.Properties", "Get",
                                   GLib.Variant("(ss)", (vbtest.MANAGER_IFACE, "HostUUID")),
                                   None, Gio.DBusCallFlags.NONE, 10000, None)
                self.assertEqual(r.unpack()[0], h["host_uuid"])
            finally:
                conn.close_sync(None)
        # exec: a command inside host c's namespace
        r = subprocess.run([sys.executable, HOSTS_PY, "exec", d, "c", "ip", "-4", "-o", "addr",
                            "show", "dev", "eth0"], capture_output=True, text=True, timeout=30)
        self.assertIn(desc["hosts"][2]["address"] + "/24", r.stdout)
        t0 = time.monotonic()
        r = subprocess.run([sys.executable, HOSTS_PY, "down", d], capture_output=True,
                           text=True, timeout=120)
        t_down = time.monotonic() - t0
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(p.wait(timeout=30), 0, p.stderr.read())
        self.check_gone(desc)
        sys.stderr.write(f"\nFIGURE 3 hosts: up {t_up * 1000:.0f} ms (CLI, all ready), down "
                         f"{t_down * 1000:.0f} ms\n")

    def test_sigterm_and_killed_up(self):
        """SIGTERM to `up` ends everything; after a SIGKILLed `up`, `down`
        still ends what it left (by pid, namespaces deleted)."""
        d1 = os.path.join(self.tmp, "h1")
        p, desc = self.up(2, d1)
        p.send_signal(signal.SIGTERM)
        self.assertEqual(p.wait(timeout=60), 0, p.stderr.read())
        self.check_gone(desc)
        d2 = os.path.join(self.tmp, "h2")
        p, desc = self.up(2, d2)
        p.kill()
        p.wait()
        r = subprocess.run([sys.executable, HOSTS_PY, "down", d2], capture_output=True,
                           text=True, timeout=120)
        self.assertEqual(r.returncode, 1, r.stderr)   # it had to kill
        self.assertIn("killing pid", r.stderr)
        self.check_gone(desc)

    def test_module_up_down_timed(self):
        """Hosts(2) as a module: up and down timed; down leaves no process,
        no namespace, and reports nothing."""
        t0 = time.monotonic()
        hosts = vbhosts.Hosts(2, os.path.join(self.tmp, "m")).up()
        t_up = time.monotonic() - t0
        desc = hosts.describe()
        pids = [pid for h in desc["hosts"] for pid in h["pids"].values()]
        t0 = time.monotonic()
        problems = hosts.down()
        t_down = time.monotonic() - t0
        self.assertEqual(problems, [])
        self.assertEqual([p for p in pids if alive(p)], [])
        self.check_gone(desc)
        self.assertEqual(hosts.down(), [])      # twice is harmless
        sys.stderr.write(f"\nFIGURE 2 hosts: up {t_up * 1000:.0f} ms, down "
                         f"{t_down * 1000:.0f} ms\n")


if __name__ == "__main__":
    vbtest.main()
