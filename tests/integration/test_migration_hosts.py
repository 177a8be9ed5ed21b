#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Live migration between test hosts in network namespaces (vbhosts: each
host its own bus, virtbusd and sshd), with the tiny guest under TCG: its
files (serial log, qemu-ga socket) in the directory shared by the hosts.
Peer-to-peer over ssh with qemu-ga answering at the destination,
client-driven from a separate process, the network cut during Perform, a
chain A -> B -> C and a restart of the destination service after Prepare.
The measured times are printed on stderr ("timing: ...")."""

import json
import os
import signal
import subprocess
import sys
import time

import vbhosts
import vbmigrate
import vbtest
from vbmigrate import JOB_IFACE, LIVE, P2P, qga_call
from vbtest import (BUS_NAME, DOMAIN_IFACE, ERR, MANAGER_IFACE, MANAGER_PATH, DBusCallError, Gio,
                    GLib, eventually)

UUID = "0c5e7a52-9a4b-4f0e-8d7e-2b6f4a1c9e33"
TUNNELLED = 4
FIRST_PORT = 49152


def timing(what, seconds):
    sys.stderr.write(f"timing: {what}: {seconds:.2f} s\n")


# a separate client process driving the five phases, connected to both hosts'
# buses from the harness's namespace; prints one JSON line per phase
CLIENT = r"""
import json, sys, time
from gi.repository import Gio, GLib
a, b, path, stop_after, dest_xml = sys.argv[1:6]
def conn(addr):
    return Gio.DBusConnection.new_for_address_sync(addr,
        Gio.DBusConnectionFlags.AUTHENTICATION_CLIENT |
        Gio.DBusConnectionFlags.MESSAGE_BUS_CONNECTION, None, None)
def call(c, p, iface, method, sig, args, timeout=60000):
    return c.call_sync("org.virtbus.Virt1", p, "org.virtbus.Virt1." + iface, method,
                       GLib.Variant("(" + sig + ")", args), None, 0, timeout, None).unpack()
def say(**kw):
    print(json.dumps(kw), flush=True)
ca, cb = conn(a), conn(b)
t0 = time.monotonic()
xml, c1 = call(ca, path, "Domain", "MigrateBegin", "su", ("", 1))
say(phase="begin")
c2, uri, dpath = call(cb, "/org/virtbus/Virt1", "Manager", "MigratePrepare", "saysu",
                      (dest_xml or xml, bytes(c1), "", 1))
say(phase="prepare", uri=uri, domain=dpath)
if stop_after == "prepare":
    sys.stdin.read()
    sys.exit(0)
job, = call(ca, path, "Domain", "MigratePerform", "aysa{sv}u", (bytes(c2), uri, {}, 1))
say(phase="perform", job=job)
res, = ca.call_sync("org.virtbus.Virt1", job, "org.virtbus.Virt1.Job", "Wait", None, None,
                   0, 120000, None).unpack()
say(phase="performed")
d2, c4 = call(cb, "/org/virtbus/Virt1", "Manager", "MigrateFinish", "ayub",
              (bytes(res["cookie"]), 1, False))
say(phase="finish", domain=d2)
call(ca, path, "Domain", "MigrateConfirm", "ayub", (bytes(c4), 1, False))
say(phase="confirm", seconds=time.monotonic() - t0)
"""


class HostsMigrationTestCase(vbhosts.MultiHostTestCase):
    def setUp(self):
        vbmigrate.require_guest(self)
        super().setUp()
        self.serial = os.path.join(self.hosts.shared, "serial.log")
        self.clients = []

    def tearDown(self):
        for p in self.clients:
            if p.poll() is None:
                p.kill()
            p.wait()
        super().tearDown()

    # -- helpers --
    def qga_sock(self, host):
        """Each host's QEMU listens on its own path: a QEMU that ends
        unlinks the path of its listening socket, so with one path the
        source's QEMU would remove the destination's socket when it quits
        after the migration (and a killed destination QEMU the source's)."""
        return os.path.join(self.hosts.shared, f"qga-{host.name}.sock")

    def guest_xml(self, host, memory=128):
        return vbmigrate.guest_xml("vm1", UUID, self.serial, memory=memory, devices=f"""
    <channel type='unix'>
      <source mode='bind' path='{self.qga_sock(host)}'/>
      <target type='virtio' name='org.qemu.guest_agent.0'/>
    </channel>""")

    def text(self):
        return vbmigrate.read_text(self.serial)

    def d(self, host, path, method, sig=None, args=(), **kw):
        r = self.call(path, DOMAIN_IFACE, method, sig, args, conn=self.conn(host), **kw)
        return r[0] if r and len(r) == 1 else r

    def props(self, host, path):
        return vbmigrate.props(self, path, conn=self.conn(host))

    def state(self, host, path):
        return vbmigrate.state(self, path, conn=self.conn(host))

    def domains(self, host):
        return self.manager(host, "ListDomains", "u", (0,))

    def start_guest(self, host):
        path = self.manager(host, "DefineXML", "su", (self.guest_xml(host), 0))
        self.d(host, path, "Start", "u", (0,))
        vbmigrate.wait_booted(self.serial)
        self.assertIn("TINYGUEST: qemu-ga started", self.text())
        self.assertEqual(qga_call(self.qga_sock(host), ["guest-ping"]), [{}])
        return path

    def job_prop(self, host, job, name):
        return self.call(job, "org.freedesktop.DBus.Properties", "Get", "ss", (JOB_IFACE, name),
                         conn=self.conn(host))[0]

    def wait_job(self, host, job, timeout=120):
        return vbmigrate.wait_job(self, job, conn=self.conn(host), timeout=timeout)

    def assert_no_job(self, host, path):
        vbmigrate.assert_no_job(self, path, conn=self.conn(host))

    def assert_runs_on(self, host, path):
        """The guest ticks on (without a new boot) on @host, and its QEMU
        is the only one, in @host's namespace."""
        self.assertEqual(self.state(host, path)[0], "running")
        vbmigrate.assert_ticks_on(self, self.serial, timeout=60)
        for h in self.hosts:
            qemus = vbtest.qemus_under(h.dir)
            self.assertEqual(len(qemus), 1 if h is host else 0, (h.name, qemus))
        pid = next(iter(vbtest.qemus_under(host.dir)))
        self.assertEqual(os.stat(f"/proc/{pid}/ns/net").st_ino,
                         os.stat(f"/run/netns/{host.netns}").st_ino)

    def assert_completed_stats(self, src, path, dst, dpath):
        """GetJobStats(COMPLETED) on both sides (@path None: the source was
        transient and is gone)."""
        sa = self.d(src, path, "GetJobStats", "u", (1,)) if path else None
        sb = self.d(dst, dpath, "GetJobStats", "u", (1,))
        if sa is not None:
            self.assertEqual((sa["type"], sa["operation"]), ("completed", "migration-out"), sa)
            self.assertGreater(sa["memory_total"], 0)
        self.assertEqual((sb["type"], sb["operation"]), ("completed", "migration-in"), sb)
        self.assertGreaterEqual(sb["time_elapsed"], sb["downtime"])
        return sa, sb

    def p2p(self, src, path, dst):
        persistent = self.props(src, path)["Persistent"]
        t0 = time.monotonic()
        job = self.d(src, path, "Migrate", "sa{sv}u",
                     (dst.uri(), {"destination_xml": GLib.Variant("s", self.guest_xml(dst))},
                      LIVE | P2P))
        res = self.wait_job(src, job)
        elapsed = time.monotonic() - t0
        dpath = res["domain"]
        if persistent:
            self.assertEqual(self.state(src, path), ("shutoff", "migrated"))
            self.assert_no_job(src, path)
        else:
            self.assertEqual(self.domains(src), [])
        self.assertEqual(self.state(dst, dpath), ("running", "migrated"))
        self.assert_no_job(dst, dpath)
        sa, sb = self.assert_completed_stats(src, path if persistent else None, dst, dpath)
        timing(f"p2p over ssh {src.name} -> {dst.name} (Migrate to the job's end)", elapsed)
        timing(f"  {dst.name}'s completed job: total", sb["time_elapsed"] / 1000)
        timing(f"  {dst.name}'s completed job: downtime", sb["downtime"] / 1000)
        return dpath

    def listening(self, host):
        return host.run(["ss", "-Hltn"]).stdout


class MigrationHostsTest(HostsMigrationTestCase):
    n_hosts = 2

    def test_client_driven_from_separate_process(self):
        path = self.start_guest(self.a)
        p = subprocess.Popen([sys.executable, "-c", CLIENT, self.a.bus_address,
                              self.b.bus_address, path, "", self.guest_xml(self.b)],
                             stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True)
        self.clients.append(p)
        out, _ = p.communicate(timeout=180)
        self.assertEqual(p.returncode, 0, out)
        steps = [json.loads(line) for line in out.splitlines()]
        self.assertEqual([s["phase"] for s in steps],
                         ["begin", "prepare", "perform", "performed", "finish", "confirm"])
        prep = steps[1]
        # the destination picked its own address (migration_host) and a port
        self.assertEqual(prep["uri"], f"tcp:{self.b.address}:{FIRST_PORT}")
        dpath = steps[4]["domain"]
        self.assertEqual(dpath, prep["domain"])
        timing("client-driven a -> b (Begin to Confirm, separate process)", steps[5]["seconds"])
        self.assertEqual(self.state(self.a, path), ("shutoff", "migrated"))
        self.assertEqual(self.state(self.b, dpath), ("running", "migrated"))
        self.assert_no_job(self.a, path)
        self.assert_no_job(self.b, dpath)
        self.assert_completed_stats(self.a, path, self.b, dpath)
        self.assertEqual(qga_call(self.qga_sock(self.b), ["guest-ping"]), [{}])
        self.assert_runs_on(self.b, dpath)
        self.assertNotIn(f":{FIRST_PORT}", self.listening(self.b))

    def test_network_cut_during_perform(self):
        path = self.start_guest(self.a)
        xml, c1 = self.d(self.a, path, "MigrateBegin", "su", ("", LIVE))
        c1 = bytes(c1)
        c2, uri, dpath = self.manager(self.b, "MigratePrepare", "saysu",
                                      (self.guest_xml(self.b), c1, "", LIVE))
        self.assertEqual(uri, f"tcp:{self.b.address}:{FIRST_PORT}")
        job = self.d(self.a, path, "MigratePerform", "aysa{sv}u",
                     (bytes(c2), uri, {"bandwidth": GLib.Variant("t", 1)}, LIVE))
        eventually(lambda: self.job_prop(self.a, job, "DataProcessed") > 0,
                   timeout=30, what="data to move")
        self.b.link_down()
        t_cut = time.monotonic()
        # QEMU's stream to a dead link: does the job end on its own?
        ended_alone = None
        err = None
        deadline = t_cut + 5
        while time.monotonic() < deadline:
            if self.props(self.a, path)["Job"] == "/":
                ended_alone = time.monotonic() - t_cut
                break
            time.sleep(0.1)
        if ended_alone is None:
            sys.stderr.write("network cut: the source's job was still running 5 s after the "
                             "cut (QEMU blocks on the dead TCP stream); cancelling it\n")
            t_cancel = time.monotonic()
            try:
                self.call(job, JOB_IFACE, "Cancel", conn=self.conn(self.a))
            except DBusCallError as e:
                # it may have ended in between
                self.assertIn(e.name, (ERR + "OperationInvalid", ERR + "NoJob",
                                       "org.freedesktop.DBus.Error.UnknownObject",
                                       "org.freedesktop.DBus.Error.UnknownMethod"), e.message)
            eventually(lambda: self.props(self.a, path)["Job"] == "/", timeout=15,
                       what="the cancelled job to end")
            timing("network cut: Cancel to the job's end", time.monotonic() - t_cancel)
        else:
            timing("network cut: the job failed on its own after", ended_alone)
        try:
            self.wait_job(self.a, job, timeout=10)
        except DBusCallError as e:
            err = e
        except Exception:   # noqa: BLE001 - the job object may be gone already
            err = None
        if err is not None:
            sys.stderr.write(f"network cut: the job's error: {err.name}: {err.message}\n")
            self.assertIn(err.name, (ERR + "Aborted", ERR + "Qemu", ERR + "Failed",
                                     ERR + "OperationFailed"), err.message)
        # the source runs again
        eventually(lambda: self.state(self.a, path)[0] == "running", timeout=20,
                   what="the source to run again")
        self.assert_no_job(self.a, path)
        self.b.link_up()
        # the destination's domain goes with Finish(cancelled), or is gone already
        try:
            d, _ = self.manager(self.b, "MigrateFinish", "ayub", (c1, LIVE, True))
            self.assertEqual(d, "/")
            sys.stderr.write("network cut: the incoming domain was still there after "
                             "link_up; Finish(cancelled) killed it\n")
        except DBusCallError as e:
            self.assertEqual(e.name, ERR + "NoDomain", e.message)
            sys.stderr.write("network cut: the incoming domain was gone by itself\n")
        eventually(lambda: self.domains(self.b) == [], timeout=10,
                   what="the incoming domain to go")
        eventually(lambda: vbtest.qemus_under(self.b.dir) == {}, timeout=10,
                   what="the destination's QEMU to end")
        # a Confirm finds nothing to confirm (Perform failed) or resumes
        try:
            self.d(self.a, path, "MigrateConfirm", "ayub", (b"", LIVE, True))
        except DBusCallError as e:
            self.assertEqual(e.name, ERR + "OperationInvalid", e.message)
        self.assert_no_job(self.a, path)
        # no port stays allocated: nothing listens, and a new Prepare gets the first port
        self.assertNotIn(f":{FIRST_PORT}", self.listening(self.b))
        xml, c1 = self.d(self.a, path, "MigrateBegin", "su", ("", LIVE))
        c2, uri, dpath = self.manager(self.b, "MigratePrepare", "saysu",
                                      (self.guest_xml(self.b), bytes(c1), "", LIVE))
        self.assertEqual(uri, f"tcp:{self.b.address}:{FIRST_PORT}")
        self.manager(self.b, "MigrateFinish", "ayub", (bytes(c1), LIVE, True))
        self.d(self.a, path, "MigrateConfirm", "ayub", (b"", LIVE, True))
        self.assertEqual(self.domains(self.b), [])
        self.assert_runs_on(self.a, path)
        self.assertEqual(qga_call(self.qga_sock(self.a), ["guest-ping"]), [{}])

    def test_p2p_network_cut_during_perform(self):
        """Peer-to-peer: the network to the destination goes down during the
        transfer. ssh's keepalive gives up, the source service sees its
        connection to the destination end and cancels the stream QEMU is
        stuck on; the destination's sshd drops the source's session, and the
        incoming domain tied to it goes. No Cancel from anyone."""
        path = self.start_guest(self.a)
        job = self.d(self.a, path, "Migrate", "sa{sv}u",
                     (self.b.uri(), {"destination_xml": GLib.Variant("s", self.guest_xml(self.b)),
                                     "bandwidth": GLib.Variant("t", 1)}, LIVE | P2P))
        eventually(lambda: self.job_prop(self.a, job, "DataProcessed") > 0,
                   timeout=30, what="data to move")
        self.assertEqual(len(self.domains(self.b)), 1)
        self.b.link_down()
        t_cut = time.monotonic()
        with self.assertRaises(DBusCallError) as cm:
            self.wait_job(self.a, job, timeout=40)
        timing("p2p network cut: the job failed on its own after", time.monotonic() - t_cut)
        self.assertEqual(cm.exception.name, ERR + "Failed", cm.exception.message)
        self.assertIn("lost the connection to the destination", cm.exception.message)
        eventually(lambda: self.state(self.a, path)[0] == "running", timeout=20,
                   what="the source to run again")
        self.assert_no_job(self.a, path)
        # the destination, still cut off, drops the incoming domain by itself
        eventually(lambda: self.domains(self.b) == [], timeout=20,
                   what="the incoming domain to go")
        eventually(lambda: vbtest.qemus_under(self.b.dir) == {}, timeout=10,
                   what="the destination's QEMU to end")
        timing("p2p network cut: the destination's domain gone after", time.monotonic() - t_cut)
        self.assertEqual(len(vbtest.qemus_under(self.a.dir)), 1)
        self.assertNotIn(f":{FIRST_PORT}", self.listening(self.b))
        # the job's record says why
        stats = self.d(self.a, path, "GetJobStats", "u", (1,))
        self.assertEqual(stats["type"], "failed", stats)
        # with the link back, the same migration goes through (nothing held)
        self.b.link_up()
        bpath = self.p2p(self.a, path, self.b)
        self.assert_runs_on(self.b, bpath)

    def test_p2p_back_and_forth_reuses_the_connection(self):
        """a -> b -> a -> b: the second migration from a to b reuses a's
        connection to b (no new ssh handshake), and the guest still moves."""
        path = self.start_guest(self.a)
        bpath = self.p2p(self.a, path, self.b)
        self.assertNotIn("reusing the connection to", self.a.read_log())
        apath = self.p2p(self.b, bpath, self.a)
        self.assertEqual(apath, path)
        t0 = time.monotonic()
        bpath = self.p2p(self.a, path, self.b)
        timing("p2p a -> b again, on the kept connection", time.monotonic() - t0)
        self.assertEqual(self.a.read_log().count("reusing the connection to"), 1)
        self.assert_runs_on(self.b, bpath)

    def test_destination_restart_after_prepare(self):
        path = self.start_guest(self.a)
        p = subprocess.Popen([sys.executable, "-c", CLIENT, self.a.bus_address,
                              self.b.bus_address, path, "prepare",
                              self.guest_xml(self.b)],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.clients.append(p)
        self.assertEqual(json.loads(p.stdout.readline())["phase"], "begin")
        prep = json.loads(p.stdout.readline())
        self.assertEqual(prep["phase"], "prepare")
        self.assertEqual(self.state(self.b, prep["domain"]), ("paused", "migration"))
        self.assertEqual(len(vbtest.qemus_under(self.b.dir)), 1)
        # the client stays connected: only the restart ends the incoming domain
        for c in self.conns:
            c.close_sync(None)
        self.conns = []
        self.b.service.stop()
        self.assertEqual(len(vbtest.qemus_under(self.b.dir)), 1,
                         "the incoming QEMU is left for the next start to find")
        self.b.service.start()
        self.assertEqual(self.domains(self.b), [])
        self.assertIn("recovering its migration-in job", self.b.read_log())
        self.assertEqual(vbtest.qemus_under(self.b.dir), {})
        self.assertNotIn(f":{FIRST_PORT}", self.listening(self.b))
        # the source still holds the job for the client; Confirm(cancelled) resumes
        self.assertIn("migration-out", self.d(self.a, path, "GetControlInfo")["async_job"])
        self.d(self.a, path, "MigrateConfirm", "ayub", (b"", LIVE, True))
        p.stdin.close()
        p.wait(timeout=30)
        self.assert_no_job(self.a, path)
        self.assert_runs_on(self.a, path)

    # -- tunnelled over ssh: the ssh data path (MigrateTunnelAttach) --
    def tunnel_processes(self):
        """The data path's processes left on any host: the source's ssh and
        the destination's virtbusctl migrate-tunnel-attach."""
        found = []
        for h in self.hosts:
            for pid in vbhosts.netns_pids(h.netns):
                cmd = vbhosts._cmdline(pid)
                if cmd and "migrate-tunnel-attach" in cmd:
                    found.append((h.name, pid, cmd))
        return found

    def test_p2p_tunnelled_over_ssh(self):
        path = self.start_guest(self.a)
        t0 = time.monotonic()
        job = self.d(self.a, path, "Migrate", "sa{sv}u",
                     (self.b.uri(), {"destination_xml": GLib.Variant("s", self.guest_xml(self.b))},
                      LIVE | P2P | TUNNELLED))
        res = self.wait_job(self.a, job)
        timing("p2p tunnelled over ssh a -> b (Migrate to the job's end)", time.monotonic() - t0)
        dpath = res["domain"]
        self.assertEqual(self.state(self.a, path), ("shutoff", "migrated"))
        self.assertEqual(self.state(self.b, dpath), ("running", "migrated"))
        self.assert_no_job(self.a, path)
        self.assert_no_job(self.b, dpath)
        # the stream took the ssh data path, not data calls nor a port of b
        self.assertIn("prepared on tunnel", self.b.read_log())
        self.assertRegex(self.a.read_log(),
                         r"tunnelled stream: [1-9]\d* bytes \(QEMU's count\), .* over ssh\n")
        self.assertNotRegex(self.a.read_log(), r"bytes in \d+ calls")
        self.assertRegex(self.b.read_log(), r"attached stream ended, [1-9]\d* bytes")
        self.assertEqual(qga_call(self.qga_sock(self.b), ["guest-ping"]), [{}])
        self.assert_runs_on(self.b, dpath)
        eventually(lambda: self.tunnel_processes() == [], timeout=10,
                   what="the data path's ssh and helper to end")

    def test_tunnel_attach_wrong_token(self):
        """A MigrateTunnelAttach with a wrong token is refused and leaves the
        prepared incoming domain as it was."""
        path = self.start_guest(self.a)
        xml, c1 = self.d(self.a, path, "MigrateBegin", "su", ("", LIVE))
        cb = self.conn(self.b)  # prepares, so owns the tunnel and the incoming domain
        c2, dpath = self.call(MANAGER_PATH, MANAGER_IFACE, "MigratePrepareTunnel", "sayu",
                              (self.guest_xml(self.b), bytes(c1), LIVE | TUNNELLED), conn=cb)
        self.assertRegex(bytes(c2), rb"<tunnel token='[0-9a-f]{32}'/>")
        r, w = os.pipe()
        try:
            fds = Gio.UnixFDList.new()
            index = fds.append(r)
            with self.assertRaises(GLib.Error) as cm:
                cb.call_with_unix_fd_list_sync(
                    BUS_NAME, MANAGER_PATH, MANAGER_IFACE, "MigrateTunnelAttach",
                    GLib.Variant("(oshu)", (dpath, "0" * 32, index, 0)), None,
                    Gio.DBusCallFlags.NONE, 30000, fds, None)
            self.assertEqual(Gio.DBusError.get_remote_error(cm.exception), ERR + "NotAuthorized")
            self.assertIn("wrong token", cm.exception.message)
        finally:
            os.close(r)
            os.close(w)
        self.assertEqual(self.state(self.b, dpath), ("paused", "migration"))
        self.assertEqual(len(vbtest.qemus_under(self.b.dir)), 1)
        self.assertIn("migration-in", self.d(self.b, dpath, "GetControlInfo")["async_job"])
        # cleaned up the usual way
        self.call(MANAGER_PATH, MANAGER_IFACE, "MigrateFinish", "ayub",
                  (bytes(c1), LIVE, True), conn=cb)
        self.d(self.a, path, "MigrateConfirm", "ayub", (b"", LIVE, True))
        eventually(lambda: self.domains(self.b) == [], what="the incoming domain to go")
        self.assert_runs_on(self.a, path)

    def test_cancel_tunnelled_over_ssh(self):
        """Job.Cancel during a tunnelled transfer over ssh: no ssh or helper
        process stays, the source runs, the destination has nothing left."""
        path = self.start_guest(self.a)
        job = self.d(self.a, path, "Migrate", "sa{sv}u",
                     (self.b.uri(), {"destination_xml": GLib.Variant("s", self.guest_xml(self.b)),
                                     "bandwidth": GLib.Variant("t", 1)},
                      LIVE | P2P | TUNNELLED))
        ca = self.conn(self.a)  # one connection for the polls (the bus limits them)

        def processed():
            return self.call(job, "org.freedesktop.DBus.Properties", "Get", "ss",
                             (JOB_IFACE, "DataProcessed"), conn=ca)[0]

        eventually(lambda: processed() > 0, timeout=30, what="data to move")
        # both ends of the data path run: ssh on a, the helper on b
        eventually(lambda: {h for h, _, _ in self.tunnel_processes()} == {"a", "b"},
                   timeout=20, what="the data path's processes")
        self.call(job, JOB_IFACE, "Cancel", conn=ca)
        with self.assertRaises(DBusCallError) as cm:
            self.call(job, JOB_IFACE, "Wait", conn=ca, timeout=120000)
        self.assertEqual(cm.exception.name, ERR + "Aborted", cm.exception.message)
        # the job reaped its ssh before it ended; the helper on b ends when b's sshd
        # sees that session go
        self.assertEqual([p for p in self.tunnel_processes() if p[0] == "a"], [])
        eventually(lambda: self.tunnel_processes() == [], timeout=10,
                   what="the destination's helper to end")
        eventually(lambda: self.state(self.a, path)[0] == "running", timeout=20,
                   what="the source to run again")
        self.assert_no_job(self.a, path)
        eventually(lambda: self.domains(self.b) == [], timeout=20,
                   what="the incoming domain to go")
        eventually(lambda: vbtest.qemus_under(self.b.dir) == {}, timeout=10,
                   what="the destination's QEMU to end")
        self.assert_runs_on(self.a, path)

    def test_dest_qemu_killed_tunnelled_over_ssh(self):
        """The destination's QEMU dies during a tunnelled transfer over ssh:
        the helper sees the incoming domain go and leaves, which ends the
        source's ssh; the job fails with that error, the source runs, no
        process of the data path stays."""
        path = self.start_guest(self.a)
        ca = self.conn(self.a)
        job = self.call(path, DOMAIN_IFACE, "Migrate", "sa{sv}u",
                        (self.b.uri(), {"destination_xml": GLib.Variant("s", self.guest_xml(self.b)),
                                        "bandwidth": GLib.Variant("t", 1)},
                         LIVE | P2P | TUNNELLED), conn=ca)[0]
        eventually(lambda: "attached to a stream" in self.b.read_log(), timeout=30,
                   what="the helper to attach the stream")
        self.assertEqual({h for h, _, _ in self.tunnel_processes()}, {"a", "b"})
        qemus = vbtest.qemus_under(self.b.dir)
        self.assertEqual(len(qemus), 1)
        os.kill(next(iter(qemus)), signal.SIGKILL)
        with self.assertRaises(DBusCallError) as cm:
            self.call(job, JOB_IFACE, "Wait", conn=ca, timeout=120000)
        self.assertIn("migrate-tunnel-attach", cm.exception.message)
        self.assertRegex(cm.exception.message, r"incoming domain (is gone|shut off)")
        self.assertEqual([p for p in self.tunnel_processes() if p[0] == "a"], [])
        eventually(lambda: self.tunnel_processes() == [], timeout=10,
                   what="the destination's helper to end")
        eventually(lambda: self.state(self.a, path)[0] == "running", timeout=20,
                   what="the source to run again")
        self.assert_no_job(self.a, path)
        self.assert_runs_on(self.a, path)


class MigrationChainTest(HostsMigrationTestCase):
    n_hosts = 3

    def test_p2p_over_ssh_agent_and_chain(self):
        """a -> b -> c, peer-to-peer over ssh: the tick goes on without a new
        boot, qemu-ga answers through each destination QEMU's socket."""
        path = self.start_guest(self.a)
        bpath = self.p2p(self.a, path, self.b)
        ping, info = qga_call(self.qga_sock(self.b), ["guest-ping", "guest-info"])
        self.assertEqual(ping, {})
        self.assertIn("version", info)
        self.assertIn("guest-ping", [c["name"] for c in info["supported_commands"]])
        self.assert_runs_on(self.b, bpath)
        # the source's persistent definition stays, shut off
        self.assertEqual(self.domains(self.a), [path])
        cpath = self.p2p(self.b, bpath, self.c)
        self.assert_runs_on(self.c, cpath)
        self.assertEqual(self.domains(self.b), [])  # transient on b: gone after Confirm
        self.assertEqual(qga_call(self.qga_sock(self.c), ["guest-ping"]), [{}])

if __name__ == "__main__":
    vbtest.main()
