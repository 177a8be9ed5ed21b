#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""The helpers of a domain (swtpm, virtiofsd, passt) are confined as QEMU is (issue 14, part
helperlaunch; docs/confinement.md), read from /proc of the real processes the service started
through its launcher, with qemu_user=virtbus-qemu and cgroup_mode=direct, the service in a
network namespace of the test's own (passt needs a host interface with a default route):

- each helper has NoNewPrivs: 1, exactly QEMU's environment (HOME and the XDG dirs in the
  domain's runtime directory), stdin /dev/null and the domain log on stdout and stderr, none
  of the service's sockets or pipes and no file of another running domain, a session of its
  own, and is in the domain's cgroup, as QEMU is;
- swtpm and passt run as virtbus-qemu, virtiofsd as root; the TPM state swtpm_setup made
  (as root, through the launcher) belongs to virtbus-qemu;
- a helper binary that cannot be executed (a virtiofs <binary path=> that is not executable)
  fails the start at once with Error.Qemu naming the program and the errno, and nothing is
  left running.
Needs root, the virtbus-qemu user (scripts/install-deps.sh), swtpm, virtiofsd, passt, ip."""

import glob
import os
import pwd
import shutil
import stat
import sys
import tempfile
import time
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.dirname(__file__))
import vbtest  # noqa: E402
from test_lifecycle import pid_alive  # noqa: E402
from vbnetns import NetnsTestCase, sh  # noqa: E402

QEMU_USER = "virtbus-qemu"
U1 = "4e1b0000-7a55-4b1e-9a53-7c9bd1a0d0c1"
U2 = "4e1b0000-7a55-4b1e-9a53-7c9bd1a0d0c2"
ENV_KEYS = ["HOME", "LC_ALL", "PATH", "XDG_CACHE_HOME", "XDG_CONFIG_HOME"]

XML = """<domain type='qemu'>
  <name>{name}</name>
  <uuid>{uuid}</uuid>
  <memory unit='MiB'>128</memory>
  <memoryBacking>
    <source type='memfd'/>
    <access mode='shared'/>
  </memoryBacking>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='q35'>hvm</type>
  </os>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <filesystem type='mount' accessmode='passthrough'>
      <driver type='virtiofs' queue='1024'/>
      <binary {binary}xattr='off'>
        <cache mode='none'/>
      </binary>
      <source dir='{share}'/>
      <target dir='share'/>
    </filesystem>
    <tpm model='tpm-crb'>
      <backend type='emulator' version='2.0'/>
    </tpm>
    <interface type='user'>
      <mac address='52:54:00:c1:b2:01'/>
      <model type='virtio'/>
      <backend type='passt'/>
    </interface>
    <memballoon model='none'/>
  </devices>
</domain>
"""

PLAIN = """<domain type='qemu'>
  <name>{name}</name>
  <uuid>{uuid}</uuid>
  <memory unit='MiB'>64</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='q35'>hvm</type></os>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <serial type='file'><source path='{serial}'/><target port='0'/></serial>
    <memballoon model='none'/>
  </devices>
</domain>
"""

SETUP_WRAPPER = """#!/bin/sh
fds=$(for fd in /proc/$$/fd/*; do echo "FD ${{fd##*/}} $(readlink "$fd")"; done)
{{
grep -E '^(NoNewPrivs|Uid):' /proc/$$/status
tr '\\0' '\\n' < /proc/$$/environ | sed 's/^/ENV /'
sed 's/^/CG /' /proc/$$/cgroup
echo "$fds"
}} > {out} 2>&1
exec {real} "$@"
"""


def proc_status(pid):
    with open(f"/proc/{pid}/status") as f:
        return dict(line.rstrip("\n").split(":\t", 1) for line in f if ":\t" in line)


def proc_environ(pid):
    with open(f"/proc/{pid}/environ", "rb") as f:
        return [e.decode() for e in f.read().split(b"\0") if e]


def fd_targets(pid):
    out = {}
    d = f"/proc/{pid}/fd"
    for name in os.listdir(d):
        try:
            out[int(name)] = os.readlink(os.path.join(d, name))
        except FileNotFoundError:
            pass
    return out


def session_of(pid):
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[3])


def cgroup_lines(pid):
    with open(f"/proc/{pid}/cgroup") as f:
        return f.read().splitlines()


class HelperTestBase(NetnsTestCase):

    def setUp(self):
        if os.geteuid() != 0:
            self.skipTest("virtbusd must run as root to run helpers as another user")
        for prog in ("swtpm", "swtpm_setup", "passt"):
            if shutil.which(prog) is None:
                self.fail(f"{prog} is not installed (scripts/install-deps.sh)")
        try:
            pw = pwd.getpwnam(QEMU_USER)
        except KeyError:
            self.fail(f"user {QEMU_USER} is missing: run systemd-sysusers "
                      f"{vbtest.SRCDIR}/data/virtbus-sysusers.conf (scripts/install-deps.sh)")
        self.quid, self.qgid = pw.pw_uid, pw.pw_gid
        # a swtpm_setup first in the service's PATH that writes down what it got
        self.bindir = tempfile.mkdtemp(prefix="vbtest-bin-")
        os.chmod(self.bindir, 0o755)
        self.setup_out = os.path.join(self.bindir, "swtpm_setup.seen")
        wrapper = os.path.join(self.bindir, "swtpm_setup")
        with open(wrapper, "w") as f:
            f.write(SETUP_WRAPPER.format(out=self.setup_out,
                                         real=shutil.which("swtpm_setup")))
        os.chmod(wrapper, 0o755)
        self.service_env = {"PATH": self.bindir + ":" + os.environ.get("PATH", "/usr/bin:/bin")}
        self.addCleanup(shutil.rmtree, self.bindir, True)
        super().setUp()
        # QEMU's user passes through the test's directories to the service's
        os.chmod(self.tmp, 0o755)
        self.share = os.path.join(self.tmp, "share")
        os.makedirs(self.share)
        # passt copies the namespace's interface with the default route
        sh(["ip", "-n", self.ns, "link", "add", "vbhca", "type", "veth", "peer", "name",
            "vbhcb"])
        for dev in ("vbhca", "vbhcb"):
            sh(["ip", "-n", self.ns, "link", "set", dev, "up"])
        sh(["ip", "-n", self.ns, "addr", "add", "192.0.2.20/24", "dev", "vbhca"])
        sh(["ip", "-n", self.ns, "route", "add", "default", "via", "192.0.2.1"])

    def _setup_in_ns(self):
        # as NetnsTestCase's, but the service enters only the network namespace (nsenter):
        # `ip netns exec` mounts a sysfs of its own, without the cgroup hierarchies that
        # cgroup_mode=direct needs
        self.tmp = tempfile.mkdtemp(prefix="vbtest-")
        self.bus = vbtest.PrivateBus(self.tmp)
        self.root = os.path.join(self.tmp, "root")
        os.makedirs(os.path.join(self.root, "etc", "virtbus"))
        with open(os.path.join(self.root, "etc", "virtbus", "virtbusd.conf"), "w") as f:
            f.write("[virtbusd]\n" + self.config)
        self.service = vbtest.Service(self.bus, self.root, self.service_args,
                                      env=self.service_env,
                                      prefix=["nsenter", f"--net=/run/netns/{self.ns}"])
        self.conn = None
        try:
            self.service.start()
            self.conn = vbtest.connect(self.bus.address)
        except BaseException:
            self.service.stop(check=False)
            sys.stderr.write(self.service.read_log()[-20000:])
            self.bus.stop()
            shutil.rmtree(self.tmp, ignore_errors=True)
            raise

    def helper_pids(self, name):
        """{kind: pid} of the <helper>s the status XML of @name records."""
        tree = ET.parse(os.path.join(self.root, "run/virtbus/qemu", f"{name}.xml"))
        return {h.get("kind"): int(h.get("pid")) for h in tree.getroot().iter("helper")}

    def cgroup_dirs(self, name):
        tree = ET.parse(os.path.join(self.root, "run/virtbus/qemu", f"{name}.xml"))
        cg = tree.getroot().find("cgroup")
        return [d.get("path") for d in cg.findall("dir")] if cg is not None else []

    def qemu_pid(self, name):
        with open(os.path.join(self.root, "run/virtbus/qemu", f"{name}.xml")) as f:
            return int(vbtest.STATUS_PID_RE.search(f.read()).group(1))

    def runtime_dir(self, pid):
        env = dict(e.split("=", 1) for e in proc_environ(pid))
        return env["HOME"]



class HelperConfinementTest(HelperTestBase):
    config = f"qemu_user={QEMU_USER}\ncgroup_mode=direct\n"

    def test_helpers_confined_like_qemu(self):
        # another running domain: none of its files may reach this one's helpers
        other_serial = os.path.join(self.tmp, "other-serial.log")
        other = self.manager("DefineXML", "su", (PLAIN.format(name="other", uuid=U2,
                                                              serial=other_serial), 0))
        self.domain(other, "Start", "u", (0,), timeout=60000)
        other_pid = self.qemu_pid("other")
        other_home = self.runtime_dir(other_pid)

        path = self.manager("DefineXML", "su", (XML.format(name="hc1", uuid=U1,
                                                           share=self.share, binary=""), 0))
        self.domain(path, "Start", "u", (0,), timeout=90000)
        qpid = self.qemu_pid("hc1")
        home = self.runtime_dir(qpid)
        self.assertNotEqual(home, other_home)
        helpers = self.helper_pids("hc1")
        self.assertEqual(sorted(helpers), ["passt", "swtpm", "virtiofsd"], helpers)

        service_fds = fd_targets(self.service.proc.pid)
        service_ipc = {t for t in service_fds.values() if t.startswith(("socket:", "pipe:"))}
        self.assertTrue(service_ipc)
        # the domain's cgroup (the status XML's directories): the lines of QEMU's
        # /proc/PID/cgroup naming it
        cg_dirs = self.cgroup_dirs("hc1")
        self.assertTrue(cg_dirs)
        leaf = "/" + os.path.basename(cg_dirs[0])
        qemu_cg = [ln for ln in cgroup_lines(qpid) if ln.endswith(leaf)]
        self.assertTrue(qemu_cg, cgroup_lines(qpid))

        for kind, pid in sorted(helpers.items()):
            with self.subTest(helper=kind):
                self.assertTrue(pid_alive(pid))
                st = proc_status(pid)
                self.assertEqual(st["NoNewPrivs"], "1")
                uids = [int(x) for x in st["Uid"].split()]
                gids = [int(x) for x in st["Gid"].split()]
                if kind == "virtiofsd":
                    self.assertEqual(uids, [0] * 4)
                else:
                    self.assertEqual(uids, [self.quid] * 4)
                    self.assertEqual(gids, [self.qgid] * 4)
                    self.assertNotIn("0", st["Groups"].split())
                # exactly QEMU's environment
                env = proc_environ(pid)
                self.assertEqual(sorted(e.split("=", 1)[0] for e in env), ENV_KEYS, env)
                self.assertEqual(sorted(env), sorted(proc_environ(qpid)))
                self.assertIn("LC_ALL=C", env)
                self.assertIn(f"HOME={home}", env)
                # a session of its own, the service's child
                self.assertEqual(session_of(pid), pid)
                self.assertEqual(int(st["PPid"]), self.service.proc.pid)
                # fds: stdin /dev/null, the domain log, nothing of the service or of
                # the other domain
                fds = fd_targets(pid)
                self.assertEqual(fds[0], "/dev/null", fds)
                self.assertTrue(fds[1].endswith("/hc1.log"), fds)
                self.assertEqual(fds[1], fds[2])
                self.assertEqual({t for t in fds.values()} & service_ipc, set(), fds)
                for t in fds.values():
                    self.assertFalse(t.endswith(("virtbusd.log", "/other.log")), fds)
                    self.assertNotIn(other_home, t)
                    self.assertNotIn(other_serial, t)
                # in the domain's cgroup, as QEMU
                lines = cgroup_lines(pid)
                for ln in qemu_cg:
                    self.assertIn(ln, lines)

        # the TPM state swtpm_setup made belongs to QEMU's user (swtpm runs as it)
        state = os.path.join(self.root, "var/lib/virtbus/swtpm", U1)
        for dirpath, dirs, files in os.walk(state):
            for n in [dirpath] + [os.path.join(dirpath, f) for f in files]:
                st = os.lstat(n)
                self.assertEqual((st.st_uid, st.st_gid), (self.quid, self.qgid), n)
        self.assertTrue(os.path.exists(os.path.join(state, "tpm2", "tpm2-00.permall")))
        # the helper sockets QEMU connects to are QEMU's user's
        for e in os.listdir(home):
            p = os.path.join(home, e)
            if stat.S_ISSOCK(os.lstat(p).st_mode):
                self.assertEqual(os.lstat(p).st_uid, self.quid, p)

        self.domain(path, "Destroy", "u", (0,))
        for kind, pid in helpers.items():
            vbtest.eventually(lambda: not pid_alive(pid), timeout=15, what=f"{kind} to end")
        # the cgroup went with them
        for d in cg_dirs:
            vbtest.eventually(lambda: not os.path.exists(d), timeout=10, what=f"{d} to go")

        # a second start: the state exists, swtpm (virtbus-qemu) opens it
        self.domain(path, "Start", "u", (0,), timeout=90000)
        self.assertEqual(sorted(self.helper_pids("hc1")), ["passt", "swtpm", "virtiofsd"])
        self.domain(path, "Destroy", "u", (0,))
        self.domain(other, "Destroy", "u", (0,))

    def test_swtpm_setup_confined(self):
        # swtpm_setup (found in the service's PATH: a wrapper that writes down what it got,
        # then runs the real one) runs through the launcher too: NNP, the exact environment,
        # the domain's cgroup, root (its local CA), only its log
        path = self.manager("DefineXML", "su", (XML.format(name="hc5", uuid=U1,
                                                           share=self.share, binary=""), 0))
        self.domain(path, "Start", "u", (0,), timeout=90000)
        with open(self.setup_out) as f:
            seen = f.read()
        lines = seen.splitlines()
        self.assertIn("NoNewPrivs:\t1", lines, seen)
        self.assertIn("Uid:\t0\t0\t0\t0", lines, seen)
        env = sorted(ln.split("=", 1)[0] for ln in lines if ln.startswith("ENV "))
        self.assertEqual(env, ["ENV " + k for k in ENV_KEYS], seen)
        home = self.runtime_dir(self.qemu_pid("hc5"))
        self.assertIn(f"ENV HOME={home}", lines, seen)
        leaf = "/" + os.path.basename(self.cgroup_dirs("hc5")[0])
        self.assertTrue([ln for ln in lines if ln.startswith("CG ") and ln.endswith(leaf)],
                        seen)
        fds = dict(ln[3:].split(" ", 1) for ln in lines if ln.startswith("FD "))
        self.assertEqual(fds.get("0"), "/dev/null", seen)
        self.assertTrue(fds.get("1", "").endswith("/hc5.log"), seen)
        service_fds = fd_targets(self.service.proc.pid)
        service_ipc = {t for t in service_fds.values() if t.startswith(("socket:", "pipe:"))}
        self.assertEqual(set(fds.values()) & service_ipc, set(), seen)
        self.assertTrue(os.path.exists(os.path.join(self.root, "var/lib/virtbus/swtpm", U1,
                                                    "tpm2", "tpm2-00.permall")))
        self.domain(path, "Destroy", "u", (0,))

    def test_restart_takes_confined_helpers_back(self):
        # virtbusd SIGKILLed: the helpers (in the domain's cgroup, two of them as
        # virtbus-qemu) keep running; the next virtbusd finds them by their pids, and the
        # Destroy after it stops them before it removes the cgroup they are in
        path = self.manager("DefineXML", "su", (XML.format(name="hc3", uuid=U1,
                                                           share=self.share, binary=""), 0))
        self.domain(path, "Start", "u", (0,), timeout=90000)
        helpers = self.helper_pids("hc3")
        cg_dirs = self.cgroup_dirs("hc3")
        self.assertTrue(cg_dirs)
        self.service.kill()
        self.service.stop(check=False)
        for pid in helpers.values():
            self.assertTrue(pid_alive(pid))
        self.service.start()
        self.conn.close_sync(None)
        self.conn = vbtest.connect(self.bus.address)
        log = self.service.read_log()
        for kind, pid in helpers.items():
            self.assertIn(f"took back its {kind} for ", log)
        self.assertEqual(self.helper_pids("hc3"), helpers)
        self.domain(path, "Destroy", "u", (0,))
        for kind, pid in helpers.items():
            vbtest.eventually(lambda: not pid_alive(pid), timeout=15, what=f"{kind} to end")
        for d in cg_dirs:
            vbtest.eventually(lambda: not os.path.exists(d), timeout=10, what=f"{d} to go")
        self.assertNotIn("cannot remove cgroup", self.service.read_log())

    def test_helper_not_executable(self):
        fake = os.path.join(self.tmp, "virtiofsd-not-executable")
        with open(fake, "w") as f:
            f.write("#!/bin/sh\nexit 0\n")
        os.chmod(fake, 0o644)
        path = self.manager("DefineXML", "su",
                            (XML.format(name="hc2", uuid=U1, share=self.share,
                                        binary=f"path='{fake}' "), 0))
        t0 = time.monotonic()
        e = self.assertDBusError(vbtest.ERR + "Qemu", self.domain, path, "Start", "u", (0,),
                                 timeout=90000)
        self.assertLess(time.monotonic() - t0, 60)
        self.assertIn("virtiofsd for fs0", e.message)
        self.assertIn(f"cannot run {fake}: Permission denied", e.message)
        state = self.call(path, "org.freedesktop.DBus.Properties", "Get", "ss",
                          (vbtest.DOMAIN_IFACE, "State"))[0]
        self.assertEqual(state, "shutoff")
        # nothing of the start is left: no QEMU, no helper, no domain cgroup
        self.assertEqual(vbtest.qemus_under(self.root), {})
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    cmd = f.read()
            except OSError:
                continue
            if self.root.encode() in cmd and b"--qemu-launch" not in cmd:
                self.assertFalse(any(h in cmd for h in (b"swtpm", b"passt", b"virtiofsd"))
                                 and pid_alive(int(pid)), cmd)
        self.assertEqual(glob.glob("/sys/fs/cgroup/**/qemu-*-hc2", recursive=True), [])


class HelpersWithoutCgroupTest(HelperTestBase):
    """cgroup_mode=none: nothing to join; the helpers stay where the service is, and the rest
    of their confinement holds."""
    config = f"qemu_user={QEMU_USER}\ncgroup_mode=none\n"

    def test_helpers_confined_like_qemu(self):
        path = self.manager("DefineXML", "su", (XML.format(name="hc4", uuid=U1,
                                                           share=self.share, binary=""), 0))
        self.domain(path, "Start", "u", (0,), timeout=90000)
        self.assertEqual(self.cgroup_dirs("hc4"), [])
        helpers = self.helper_pids("hc4")
        self.assertEqual(sorted(helpers), ["passt", "swtpm", "virtiofsd"], helpers)
        service_cg = cgroup_lines(self.service.proc.pid)
        qpid = self.qemu_pid("hc4")
        for kind, pid in sorted(helpers.items()):
            with self.subTest(helper=kind):
                st = proc_status(pid)
                self.assertEqual(st["NoNewPrivs"], "1")
                self.assertEqual(sorted(proc_environ(pid)), sorted(proc_environ(qpid)))
                self.assertEqual(cgroup_lines(pid), service_cg)
                uid = 0 if kind == "virtiofsd" else self.quid
                self.assertEqual([int(x) for x in st["Uid"].split()], [uid] * 4)
        self.domain(path, "Destroy", "u", (0,))


if __name__ == "__main__":
    vbtest.main()
