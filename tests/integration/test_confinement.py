# SPDX-License-Identifier: LGPL-2.1-or-later
"""What confines QEMU (issue 14, part launch; docs/confinement.md), read from /proc of the real
QEMU the service started through its launcher: QEMU's seccomp sandbox (Seccomp: 2) unless
seccomp_sandbox=no, no-new-privs, exactly the environment the service gives, none of the
service's sockets or pipes, a session of its own, the private /dev (namespaces=yes, the
default as root), and a
named error, at once, for an emulator that cannot be run."""

import os
import shutil
import signal
import stat
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
import test_lifecycle  # noqa: E402
from test_lifecycle import UUID1, LifecycleTestCase, pid_alive  # noqa: E402
import vbtest  # noqa: E402
from vbtest import domain_xml, eventually  # noqa: E402

QEMU = "/usr/bin/qemu-system-x86_64"
SANDBOX = "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny"


def proc_status(pid):
    with open(f"/proc/{pid}/status") as f:
        return dict(line.rstrip("\n").split(":\t", 1) for line in f if ":\t" in line)


def proc_cmdline(pid):
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        return f.read().decode().split("\0")[:-1]


def child_pids(pid):
    """The children of pid (every thread's)."""
    kids = []
    for tid in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{tid}/children") as f:
            kids += [int(c) for c in f.read().split()]
    return kids


def proc_environ(pid):
    with open(f"/proc/{pid}/environ", "rb") as f:
        return [e.decode() for e in f.read().split(b"\0") if e]


def fd_targets(pid):
    """{fd number: link target} of @pid."""
    out = {}
    d = f"/proc/{pid}/fd"
    for name in os.listdir(d):
        try:
            out[int(name)] = os.readlink(os.path.join(d, name))
        except FileNotFoundError:
            pass
    return out


class ConfinementTestCase(LifecycleTestCase):
    settings = ""
    # the tiny guest's definition, without GuestTest's own test cases
    guest_xml = test_lifecycle.GuestTest.guest_xml
    markers = test_lifecycle.GuestTest.markers

    def setUp(self):
        self.cfgdir = tempfile.mkdtemp(prefix="vbtest-cfg-")
        cfg = os.path.join(self.cfgdir, "virtbusd.conf")
        with open(cfg, "w") as f:
            f.write("[virtbusd]\n" + self.settings)
        self.service_args = ("--config", cfg)
        super().setUp()
        self.serial = os.path.join(self.tmp, "serial.log")

    def tearDown(self):
        super().tearDown()
        shutil.rmtree(self.cfgdir, ignore_errors=True)

    def start_guest(self, name, extra_devices=""):
        xml = self.guest_xml(name).replace("</devices>", extra_devices + "</devices>")
        path = self.start_vm(name, UUID1, xml=xml)
        eventually(lambda: self.markers("TINYGUEST: READY"), timeout=90, what="the guest")
        return path, self.pid_of(name)


class DefaultConfinementTest(ConfinementTestCase):
    def test_sandbox_nnp_env_fds_session(self):
        path, pid = self.start_guest("conf1")
        st = proc_status(pid)
        self.assertEqual(st["Seccomp"], "2", "QEMU's -sandbox filter must be on")
        self.assertEqual(st["NoNewPrivs"], "1")
        argv = proc_cmdline(pid)
        self.assertEqual(argv[0], QEMU, "the launcher's pid must have become QEMU")
        self.assertEqual(argv[argv.index("-sandbox") + 1], SANDBOX)
        self.assertIn("-no-user-config", argv)
        # the service's child (the launcher exec'd QEMU in place), in a session of its own
        self.assertEqual(int(st["PPid"]), self.service.proc.pid)
        with open(f"/proc/{pid}/stat") as f:
            self.assertEqual(int(f.read().rsplit(")", 1)[1].split()[3]), pid)
        # QEMU was cloned from the kept launcher (issue 16), which is the service's child too
        # and holds nothing of the service's but its own socket
        kept = [c for c in child_pids(self.service.proc.pid)
                if proc_cmdline(c)[1:] == ["--qemu-launch", "z3"]]
        self.assertEqual(len(kept), 1, child_pids(self.service.proc.pid))
        self.assertTrue(proc_cmdline(kept[0])[0].endswith("virtbus-launch"))
        self.assertIn(f"the kept launcher {proc_cmdline(kept[0])[0]} runs as pid {kept[0]}",
                      self.service.read_log())
        self.assertEqual(sorted(os.listdir(f"/proc/{kept[0]}/fd")), ["0", "1", "2", "3"])
        self.assertEqual(proc_status(kept[0])["NoNewPrivs"], "0")

        env = proc_environ(pid)
        keys = sorted(e.split("=", 1)[0] for e in env)
        self.assertEqual(keys, ["HOME", "LC_ALL", "PATH", "XDG_CACHE_HOME", "XDG_CONFIG_HOME"],
                         env)
        home = dict(e.split("=", 1) for e in env)["HOME"]
        self.assertTrue(home.startswith(os.path.join(self.root, "run")), home)
        self.assertIn("LC_ALL=C", env)
        self.assertIn(f"XDG_CONFIG_HOME={home}/.config", env)

        # no fd of the service's bus connection, its other sockets or pipes (by inode: the
        # eventfds of both all read "anon_inode:[eventfd]")
        service_fds = fd_targets(self.service.proc.pid)
        qemu_fds = fd_targets(pid)
        self.assertTrue(any(t.startswith("socket:") for t in service_fds.values()))
        shared = {t for t in qemu_fds.values()
                  if t.startswith(("socket:", "pipe:"))} & set(service_fds.values())
        self.assertEqual(shared, set(), (qemu_fds, service_fds))
        self.assertFalse(any(t.endswith("virtbusd.log") for t in qemu_fds.values()), qemu_fds)
        # stdout and stderr: the domain's log; stdin /dev/null
        self.assertEqual(qemu_fds[0], "/dev/null")
        self.assertTrue(qemu_fds[1].endswith("/conf1.log"), qemu_fds)
        self.assertEqual(qemu_fds[1], qemu_fds[2])
        # namespaces=yes is the default as root (issue 14, part devns): a /dev of its own
        self.assertNotEqual(os.readlink(f"/proc/{pid}/ns/mnt"),
                            os.readlink("/proc/self/ns/mnt"))
        self.domain(path, "Destroy", "u", (0,))

    def test_emulator_not_runnable(self):
        # a directory: refused at once with a named error, nothing left running
        d = os.path.join(self.tmp, "qemu-dir")
        os.mkdir(d)
        path = self.define("baddir", UUID1, xml=domain_xml("baddir", UUID1).replace(QEMU, d))
        t0 = time.monotonic()
        e = self.assertDBusError("Qemu", self.domain, path, "Start", "u", (0,),
                                 timeout=60000)
        self.assertLess(time.monotonic() - t0, 10)
        self.assertIn(d, e.message)
        self.assertEqual(self.state(path)[0], "shutoff")

        # a path the service probed (its caps cached: same size and mtime) that is no longer
        # executable when the domain starts: the launcher's exec fails and says why
        copy = os.path.join(self.tmp, "qemu-copy")
        os.symlink(QEMU, copy)
        p2 = self.define("noexec", "9a1c6c1e-7a55-4b1e-9a53-7c9bd1a0d0e2",
                         xml=domain_xml("noexec", "9a1c6c1e-7a55-4b1e-9a53-7c9bd1a0d0e2")
                         .replace(QEMU, copy))
        self.domain(p2, "Start", "u", (0,), timeout=60000)
        self.domain(p2, "Destroy", "u", (0,))
        fake = os.path.join(self.tmp, "not-executable")
        st = os.stat(QEMU)
        with open(fake, "wb") as f:
            f.truncate(st.st_size)
        os.chmod(fake, 0o644)
        os.utime(fake, ns=(st.st_atime_ns, st.st_mtime_ns))
        os.unlink(copy)
        os.symlink(fake, copy)
        t0 = time.monotonic()
        e = self.assertDBusError("Qemu", self.domain, p2, "Start", "u", (0,), timeout=60000)
        self.assertLess(time.monotonic() - t0, 10)
        self.assertIn(f"cannot run {copy}: Permission denied", e.message)
        self.assertEqual(self.state(p2), ("shutoff", "failed"))
        self.assertEqual(self.runtime_leftovers("noexec"), [])
        self.assertEqual(vbtest.qemus_under(copy), {})


    def kept_launcher(self):
        kept = [c for c in child_pids(self.service.proc.pid)
                if proc_cmdline(c)[1:] == ["--qemu-launch", "z3"]]
        self.assertLessEqual(len(kept), 1, kept)
        return kept[0] if kept else None

    def test_kept_launcher_faults(self):
        """The kept launcher (issue 16) killed, then stopped, under the running service:
        starts go on (a new one, or a launcher of their own), nothing is left behind."""
        path = self.start_vm("zy1", UUID1)
        self.domain(path, "Destroy", "u", (0,))
        first = self.kept_launcher()
        self.assertIsNotNone(first)

        # killed: the next start replaces it, and the dead one is reaped
        os.kill(first, signal.SIGKILL)
        eventually(lambda: proc_status(first)["State"].startswith("Z"), timeout=5,
                   what="the killed launcher to be a zombie")
        self.domain(path, "Start", "u", (0,), timeout=60000)
        self.assertEqual(self.state(path), ("running", "booted"))
        second = self.kept_launcher()
        self.assertIsNotNone(second)
        self.assertNotEqual(second, first)
        self.assertNotIn(first, child_pids(self.service.proc.pid))
        self.assertIn(f"the kept QEMU launcher (pid {first}) is gone", self.service.read_log())
        self.assertEqual(proc_status(self.pid_of("zy1"))["PPid"],
                         str(self.service.proc.pid))
        self.domain(path, "Destroy", "u", (0,))

        # stopped: the start waits for it no more than 5 s, runs a launcher of its own, and
        # the stuck one is ended and reaped; the next start takes a new one
        os.kill(second, signal.SIGSTOP)
        t0 = time.monotonic()
        self.domain(path, "Start", "u", (0,), timeout=60000)
        self.assertLess(time.monotonic() - t0, 20)
        self.assertEqual(self.state(path), ("running", "booted"))
        self.assertNotIn(second, child_pids(self.service.proc.pid))
        self.assertIn(f"the kept QEMU launcher (pid {second}) did not answer",
                      self.service.read_log())
        self.assertEqual(proc_status(self.pid_of("zy1"))["PPid"],
                         str(self.service.proc.pid))
        self.domain(path, "Destroy", "u", (0,))
        self.domain(path, "Start", "u", (0,), timeout=60000)
        third = self.kept_launcher()
        self.assertNotIn(third, (None, first, second))
        self.domain(path, "Destroy", "u", (0,))
        # the service's children: the kept launcher alone
        self.assertEqual(child_pids(self.service.proc.pid), [third])


class SandboxOffTest(ConfinementTestCase):
    settings = "seccomp_sandbox=no\n"

    def test_no_sandbox(self):
        path, pid = self.start_guest("conf2")
        st = proc_status(pid)
        self.assertEqual(st["Seccomp"], "0")
        self.assertEqual(st["NoNewPrivs"], "1")  # the launcher's part stays
        self.assertNotIn("-sandbox", proc_cmdline(pid))
        self.domain(path, "Destroy", "u", (0,))


class PrivateDevTest(ConfinementTestCase):
    settings = "namespaces=yes\n"

    def test_private_dev(self):
        if os.geteuid() != 0:
            self.fail("namespaces=yes needs root")
        path, pid = self.start_guest("conf3", "<serial type='pty'><target port='1'/></serial>")
        self.assertNotEqual(os.readlink(f"/proc/{pid}/ns/mnt"),
                            os.readlink("/proc/self/ns/mnt"))
        dev = sorted(os.listdir(f"/proc/{pid}/root/dev"))
        self.assertEqual(dev, ["fd", "full", "null", "ptmx", "pts", "random", "shm", "stderr",
                               "stdin", "stdout", "tty", "urandom", "zero"])
        st = os.stat(f"/proc/{pid}/root/dev/null")
        self.assertTrue(stat.S_ISCHR(st.st_mode))
        self.assertEqual((os.major(st.st_rdev), os.minor(st.st_rdev)), (1, 3))
        # the pty QEMU made is in the host's devpts: the service and clients reach it
        live = self.domain(path, "GetXMLDesc", "u", (0,))
        pty = live.split("<source path='/dev/pts/", 1)[1].split("'", 1)[0]
        self.assertTrue(os.path.exists(f"/dev/pts/{pty}"), live)
        self.assertEqual(proc_status(pid)["Seccomp"], "2")
        # the host's /dev is untouched
        self.assertTrue(os.path.exists("/dev/loop-control") or len(os.listdir("/dev")) > 13)
        self.domain(path, "Destroy", "u", (0,))
        self.assertFalse(pid_alive(pid))


if __name__ == "__main__":
    vbtest.main()
