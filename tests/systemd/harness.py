# SPDX-License-Identifier: LGPL-2.1-or-later
"""A real systemd, booted in a container, with virtbus installed into it.

`systemd-nspawn -D / --volatile=yes --register=no --keep-unit -b` boots this
machine's own OS tree: / is a fresh tmpfs, /usr this machine's /usr (read
only), so /etc starts empty (systemd-sysusers makes the users of
/usr/lib/sysusers.d, the first boot enables the presets). virtbus is
installed over /usr with an overlay (--overlay-ro=/usr:DESTDIR/usr:/usr),
where DESTDIR is README's install (tests/install's build directory), so
the container holds the very files `ninja install` puts on a system.

Directories of the test are bound below /srv/vbtest (never below /tmp or
/var/tmp, which a unit with PrivateTmp= would not see, and the CI's clone
lives under /tmp).

Commands run inside with `nsenter -t <the container's init> -a` (the
container is not registered with machined, so there is no `machinectl
shell` or `systemd-run -M`). The container ends by its init's pid:
SIGRTMIN+3 (halt), then SIGKILL, which ends every process of its pid
namespace; nothing is left behind.
"""

import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
import uuid as _uuid

NSPAWN = "/usr/bin/systemd-nspawn"
SRV = "/srv/vbtest"
PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

_live = set()


def _children(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(p) for p in f.read().split()]
    except OSError:
        return []


def _nspid(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("NSpid:"):
                    return [int(x) for x in line.split()[1:]]
    except OSError:
        pass
    return []


class CommandError(AssertionError):
    pass


class Container:
    """One booted container. @binds: {host path: path inside}, read-write;
    @overlays: nspawn --overlay-ro arguments; @args: more init arguments."""

    def __init__(self, workdir, binds=None, overlays=(), ro_binds=None, args=()):
        self.workdir = workdir
        self.name = "vbtest-" + _uuid.uuid4().hex[:8]
        self.binds = dict(binds or {})
        self.ro_binds = dict(ro_binds or {})
        self.overlays = list(overlays)
        self.args = list(args)
        self.proc = None
        self.leader = None
        self.console_path = os.path.join(workdir, "console.log")

    # -- life --
    def start(self, timeout=120):
        os.makedirs(self.workdir, exist_ok=True)
        argv = [NSPAWN, "-D", "/", "--volatile=yes", "--register=no", "--keep-unit",
                "--machine=" + self.name, "--console=read-only", "--quiet",
                # its own network namespace (only lo): what the service does to
                # networks (bridges, nft, sysctls) stays in there; with it
                # comes CAP_NET_ADMIN, and CAP_IPC_LOCK for locked guest memory
                "--private-network", "--capability=CAP_IPC_LOCK"]
        for host, inside in self.binds.items():
            argv.append(f"--bind={host}:{inside}")
        for host, inside in self.ro_binds.items():
            argv.append(f"--bind-ro={host}:{inside}")
        for o in self.overlays:
            argv.append("--overlay-ro=" + o)
        # basic.target: journald, dbus, tmpfiles and sysusers, not the
        # services the first boot's presets enable; logind and machined
        # come by D-Bus activation. No first-boot questions. The container
        # has no network of its own: nothing may wait for one to be "online"
        # (a socket unit of the host, such as cockpit.socket, pulls in a
        # service that wants network-online.target, and the boot then waits
        # for systemd-networkd-wait-online, with no limit).
        argv += ["-b", "systemd.firstboot=off", "systemd.unit=basic.target",
                 "systemd.mask=systemd-networkd-wait-online.service", *self.args]
        self.console = open(self.console_path, "w")
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=self.console,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        _live.add(self)
        t0 = time.monotonic()
        while self.leader is None:
            self._check_alive()
            self.leader = self._find_leader()
            if self.leader is None:
                if time.monotonic() - t0 > 30:
                    raise RuntimeError("the container's init did not appear:\n"
                                       + self.console_log())
                time.sleep(0.05)
        state = ""
        while True:
            self._check_alive()
            p = self.run(["systemctl", "is-system-running"], check=False, timeout=20)
            state = p.stdout.strip()
            if state in ("running", "degraded"):
                break
            if time.monotonic() - t0 > timeout:
                raise RuntimeError(f"the container did not finish booting ({state}):\n"
                                   + self.console_log()[-5000:])
            time.sleep(0.2)
        self.boot_time = time.monotonic() - t0
        return state

    def _check_alive(self):
        if self.proc.poll() is not None:
            raise RuntimeError(f"systemd-nspawn exited with {self.proc.returncode}:\n"
                               + self.console_log()[-5000:])

    def _find_leader(self):
        """The container's init: the descendant of nspawn that is pid 1 in
        its own pid namespace."""
        todo = [self.proc.pid]
        while todo:
            pid = todo.pop()
            ns = _nspid(pid)
            if len(ns) >= 2 and ns[-1] == 1:
                return pid
            todo += _children(pid)
        return None

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def wait_exit(self, timeout):
        try:
            self.proc.wait(timeout=timeout)
            return True
        except subprocess.TimeoutExpired:
            return False

    def stop(self, timeout=30):
        """Halts the container (SIGRTMIN+3 to its init), then kills what is
        left. Returns True when it halted by itself."""
        if self.proc is None:
            return True
        clean = True
        if self.proc.poll() is None:
            try:
                os.kill(self.leader, signal.SIGRTMIN + 3)
            except (OSError, TypeError):
                pass
            if not self.wait_exit(timeout):
                clean = False
                for pid in (self.leader, self.proc.pid):
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except (OSError, TypeError):
                        pass
                self.proc.wait(timeout=30)
        self.console.close()
        _live.discard(self)
        # what nspawn keeps on the host for mount propagation
        shutil.rmtree(f"/run/systemd/nspawn/propagate/{self.name}", ignore_errors=True)
        self.proc = None
        return clean

    # -- inside --
    def run(self, argv, check=True, timeout=60, input=None, env=()):
        """Runs @argv inside the container (all its namespaces, its root)."""
        if self.leader is None:
            raise RuntimeError("the container is not running")
        cmd = ["nsenter", "-t", str(self.leader), "-a", "--", "/usr/bin/env", "-i", PATH,
               "LANG=C.UTF-8", "SYSTEMD_COLORS=0", "SYSTEMD_PAGER=", *env, *argv]
        p = subprocess.run(cmd, input=input, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True, timeout=timeout)
        if check and p.returncode != 0:
            raise CommandError(f"in the container: {shlex.join(argv)} failed ({p.returncode})"
                               f":\n{p.stdout}{p.stderr}")
        return p

    def sh(self, script, **kw):
        return self.run(["/bin/sh", "-ec", script], **kw)

    def busctl_json(self, *args, timeout=120):
        """busctl --json=short ARGS inside; the reply's data."""
        p = self.run(["busctl", "--json=short", f"--timeout={timeout}", *args],
                     timeout=timeout + 10)
        out = p.stdout.strip()
        return json.loads(out)["data"] if out else None

    def unit_property(self, unit, prop):
        return self.run(["systemctl", "show", "-P", prop, unit]).stdout.strip()

    def journal(self, unit=None, lines=400):
        argv = ["journalctl", "-b", "--no-pager", "-o", "short-monotonic", "-n", str(lines)]
        if unit:
            argv += ["-u", unit]
        return self.run(argv, check=False, timeout=30).stdout

    def console_log(self):
        try:
            with open(self.console_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def host_pid(self, inner_pid):
        """The host's pid of the container's process @inner_pid."""
        todo = [self.leader]
        while todo:
            pid = todo.pop()
            ns = _nspid(pid)
            if len(ns) >= 2 and ns[-1] == inner_pid:
                return pid
            todo += _children(pid)
        return None


def stop_all():
    for c in list(_live):
        sys.stderr.write(f"# stopping leftover container {c.name}\n")
        c.stop(timeout=10)


def available():
    """None when a container can boot here, else why not."""
    if os.geteuid() != 0:
        return "needs root (systemd-nspawn)"
    for p in (NSPAWN, "/usr/bin/nsenter", "/usr/lib/systemd/systemd"):
        if not os.path.exists(p):
            return f"missing {p} (scripts/install-deps.sh installs systemd-container)"
    return None
