#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Test hosts: two or three "hosts" on this machine, for migration tests and
benchmarks. Needs root (network namespaces).

Each host is a network namespace made by the harness (vbh-<pid>-<seq>-<i>),
with loopback up and an address in a private 10.X.Y.0/24 that exists only
inside the namespaces; the hosts are connected by a bridge in a namespace of
its own (vbh-<pid>-<seq>-br). Inside each namespace run:
- its own dbus-daemon (the tests' system-like policy, vbtest.PrivateBus);
- its own `virtbusd --root` (its own host UUID; a config file with
  migration_host=<its address> and ssh_config=<the client config below>);
- its own sshd (Debian's openssh-server) on <its address>:22, with a
  throw-away host key, root allowed with the harness's key only, nothing
  under /etc or /root read or changed (its own sshd_config, pid file,
  authorized_keys file).
Also made: one client key and one client ssh_config (IdentityFile,
UserKnownHostsFile holding every host's key, StrictHostKeyChecking yes,
BatchMode yes, ConnectTimeout), a directory shared by all hosts (the
shared-storage case) and one per host (the copy-storage case).

Everything started is ended by pid, the namespaces are deleted, also on an
exception, at exit (atexit) and on SIGTERM.

As a module:
    hosts = vbhosts.Hosts(2).up()
    a, b = hosts
    a.run(["ip", "addr"]); a.connect(); a.uri()
    problems = hosts.down()
or the MultiHostTestCase base class (per test: hosts up, then at the end
every domain destroyed, each virtbusd stopped and checked as vbtest does,
no QEMU and no process left in any namespace).

As a command:
    vbhosts.py up N DIR      bring N hosts up under DIR (made, must be empty),
                             print their JSON description, stay up until
                             `down DIR` or SIGTERM
    vbhosts.py down DIR      end everything `up DIR` started
    vbhosts.py exec DIR HOST CMD...   run CMD inside HOST's namespace (a, b, c
                             or 0, 1, 2)
"""

import atexit
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vbtest  # noqa: E402

from gi.repository import Gio, GLib  # noqa: E402

SSHD = "/usr/sbin/sshd"
STATE_FILE = "vbhosts.json"
NAMES = "abcdefgh"

_live = []              # Hosts objects that are up in this process
_handlers_installed = False
_seq = 0


def _run(argv, check=True, **kw):
    p = subprocess.run(argv, capture_output=True, text=True, timeout=60, **kw)
    if check and p.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({p.returncode}): {p.stderr.strip()}")
    return p


def _ip_batch(commands, netns=None):
    argv = ["ip"] + (["-n", netns] if netns else []) + ["-batch", "-"]
    _run(argv, input="\n".join(commands) + "\n")


def _start_time(pid):
    """The start time of @pid (field 22 of /proc/PID/stat), or None when it
    is gone (or a zombie): tells a process from a later one with the same
    pid."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rpartition(b")")[2].split()
        return None if fields[0] == b"Z" else int(fields[19])
    except (OSError, IndexError, ValueError):
        return None


def _cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


def netns_pids(netns):
    """Pids of the processes in network namespace @netns."""
    p = _run(["ip", "netns", "pids", netns], check=False)
    return [int(x) for x in p.stdout.split()] if p.returncode == 0 else []


def netns_exists(netns):
    return os.path.exists(os.path.join("/run/netns", netns))


def _kill_netns_processes(netns, grace=3.0):
    """Waits up to @grace s for the processes of @netns to end, then SIGKILLs
    the rest; returns [(pid, cmdline)] of those it had to kill."""
    deadline = time.monotonic() + grace
    pids = netns_pids(netns)
    while pids and time.monotonic() < deadline:
        time.sleep(0.05)
        pids = netns_pids(netns)
    killed = []
    for pid in pids:
        killed.append((pid, _cmdline(pid)))
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    if killed:
        vbtest.eventually(lambda: not netns_pids(netns), timeout=10,
                          what=f"the processes of {netns} to end")
    return killed


def _delete_netns(netns):
    if netns_exists(netns):
        _run(["ip", "netns", "del", netns], check=False)


def reap_stale():
    """Deletes the namespaces of harness runs whose process is gone (a run
    that was SIGKILLed), ending what still runs in them."""
    try:
        names = os.listdir("/run/netns")
    except FileNotFoundError:
        return
    for name in names:
        parts = name.split("-")
        if len(parts) < 3 or parts[0] != "vbh" or not parts[1].isdigit():
            continue
        if os.path.exists(f"/proc/{parts[1]}"):
            continue
        _kill_netns_processes(name, grace=0)
        _delete_netns(name)


class Host:
    """One host: a network namespace with its dbus-daemon, virtbusd, sshd."""

    def __init__(self, hosts, index):
        self.hosts = hosts
        self.index = index
        self.name = NAMES[index]
        self.netns = f"{hosts.prefix}-{index}"
        self.address = f"{hosts.net}.{index + 1}"
        self.dir = os.path.join(hosts.dir, f"host-{self.name}")
        self.root = os.path.join(self.dir, "root")
        self.storage = os.path.join(self.dir, "storage")
        self.shared = hosts.shared
        self.config = os.path.join(self.dir, "virtbusd.conf")
        self.sshd_dir = os.path.join(self.dir, "sshd")
        self.sshd_config = os.path.join(self.sshd_dir, "sshd_config")
        self.sshd_log = os.path.join(self.sshd_dir, "sshd.log")
        self.host_key = os.path.join(self.sshd_dir, "ssh_host_ed25519_key")
        self.host_uuid = str(uuid.uuid4())
        self.bus = None
        self.service = None
        self.sshd = None
        self._sshd_logf = None

    # -- what tests use --
    @property
    def bus_address(self):
        return self.bus.address

    @property
    def log_path(self):
        return os.path.join(self.root, "virtbusd.log")

    def read_log(self):
        return self.service.read_log() if self.service else ""

    def argv(self, argv):
        """@argv run inside this host's namespace."""
        return ["ip", "netns", "exec", self.netns] + list(argv)

    def run(self, argv, check=True, timeout=60, **kw):
        """Runs @argv inside the namespace; returns the CompletedProcess
        (text, output captured unless told otherwise)."""
        kw.setdefault("capture_output", True)
        kw.setdefault("text", True)
        p = subprocess.run(self.argv(argv), timeout=timeout, **kw)
        if check and p.returncode != 0:
            raise RuntimeError(f"{argv!r} on host {self.name} failed ({p.returncode}): "
                               f"{p.stderr}")
        return p

    def popen(self, argv, **kw):
        return subprocess.Popen(self.argv(argv), **kw)

    def connect(self):
        """A Gio connection to this host's bus (from the harness's own
        namespace: the bus is a socket file)."""
        return vbtest.connect(self.bus.address)

    def uri(self, user="root", keys=False, bus=True):
        """ssh://USER@ADDRESS?bus=THIS_BUS, with the client key and known
        hosts file as URI parameters when @keys."""
        params = []
        if bus:
            params.append("bus=" + self.bus.address)
        if keys:
            params += ["keyfile=" + self.hosts.client_key,
                       "known_hosts=" + self.hosts.known_hosts]
        host = f"{user}@{self.address}" if user else self.address
        return f"ssh://{host}" + ("?" + "&".join(params) if params else "")

    def link_down(self):
        self.run(["ip", "link", "set", "eth0", "down"])

    def link_up(self):
        self.run(["ip", "link", "set", "eth0", "up"])

    def describe(self):
        return {
            "name": self.name,
            "netns": self.netns,
            "address": self.address,
            "bus_address": self.bus.address if self.bus else None,
            "uri": self.uri() if self.bus else None,
            "host_uuid": self.host_uuid,
            "dir": self.dir,
            "root": self.root,
            "config": self.config,
            "log": self.log_path,
            "sshd_log": self.sshd_log,
            "storage": self.storage,
            "shared": self.shared,
            "pids": {
                "dbus-daemon": self.bus.proc.pid if self.bus else None,
                "virtbusd": self.service.proc.pid if self.service and self.service.proc else None,
                "sshd": self.sshd.pid if self.sshd else None,
            },
        }

    # -- bring-up --
    def _write_files(self):
        for d in (self.dir, self.root, self.storage, self.sshd_dir):
            os.makedirs(d, exist_ok=True)
        os.chmod(self.dir, 0o755)
        data = os.path.join(self.root, "var", "lib", "virtbus")
        os.makedirs(data, mode=0o700, exist_ok=True)
        with open(os.path.join(data, "host-uuid"), "w") as f:
            f.write(self.host_uuid + "\n")
        with open(self.config, "w") as f:
            f.write("[virtbusd]\n"
                    f"migration_host={self.address}\n"
                    f"ssh_config={self.hosts.ssh_config}\n"
                    # a cut network is noticed within ~3 s (production: 5 x 5 s)
                    "keepalive_interval=1\n"
                    "keepalive_count=3\n"
                    # the ssh data path of a tunnelled migration runs the
                    # build's client on the destination
                    f"tunnel_command={os.path.abspath(vbtest.VIRTBUSCTL)}\n")
        with open(self.sshd_config, "w") as f:
            f.write(f"""# sshd of test host {self.name} ({self.netns})
ListenAddress {self.address}:22
HostKey {self.host_key}
PidFile {self.sshd_dir}/sshd.pid
AuthorizedKeysFile {self.hosts.authorized_keys}
AllowUsers root
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
UseDNS no
PrintMotd no
PrintLastLog no
X11Forwarding no
MaxStartups 100
MaxSessions 100
# what docs/migration.md advises: a source that stops answering (a cut
# network) ends its session, so the destination destroys the incoming domain
# tied to it
ClientAliveInterval 1
ClientAliveCountMax 3
LogLevel INFO
# root's shell reads ~/.bashrc for commands run by sshd when it is the
# top-level shell (Debian's bash); a test host is a clean machine, and this
# one's .bashrc may be slow
SetEnv SHLVL=1
""")

    def _start_bus(self):
        self.bus = vbtest.PrivateBus(self.dir, prefix=["ip", "netns", "exec", self.netns])

    def _start_service(self):
        self.service = vbtest.Service(self.bus, self.root, ["--config", self.config],
                                      prefix=["ip", "netns", "exec", self.netns])
        self.service.start(wait=False)

    def _start_sshd(self):
        self._sshd_logf = open(self.sshd_log, "a")
        self.sshd = subprocess.Popen(
            self.argv([SSHD, "-D", "-e", "-f", self.sshd_config]),
            stdin=subprocess.DEVNULL, stdout=self._sshd_logf, stderr=subprocess.STDOUT)

    def _sshd_ready(self):
        if self.sshd.poll() is not None:
            with open(self.sshd_log, errors="replace") as f:
                raise RuntimeError(f"sshd of host {self.name} exited with "
                                   f"{self.sshd.returncode}: {f.read()[-2000:]}")
        with open(self.sshd_log, errors="replace") as f:
            return "Server listening on" in f.read()

    # -- tear-down --
    def destroy_all(self):
        """Destroys every running domain through the service; returns the
        problems met."""
        problems = []
        try:
            conn = self.connect()
        except GLib.Error as e:
            return [f"host {self.name}: cannot connect to its bus at the end: {e.message}"]
        try:
            r = conn.call_sync(vbtest.BUS_NAME, vbtest.MANAGER_PATH, vbtest.MANAGER_IFACE,
                               "ListDomains", GLib.Variant("(u)", (1,)), None,
                               Gio.DBusCallFlags.NONE, 30000, None)
            for path in r.unpack()[0]:
                try:
                    conn.call_sync(vbtest.BUS_NAME, path, vbtest.DOMAIN_IFACE, "Destroy",
                                   GLib.Variant("(u)", (0,)), None, Gio.DBusCallFlags.NONE,
                                   30000, None)
                except GLib.Error as e:
                    name = Gio.DBusError.get_remote_error(e) or ""
                    if name not in (vbtest.ERR + "OperationInvalid", vbtest.ERR + "NoDomain",
                                    "org.freedesktop.DBus.Error.UnknownMethod",
                                    "org.freedesktop.DBus.Error.UnknownObject"):
                        problems.append(f"host {self.name}: Destroy of {path}: {e.message}")
        except GLib.Error as e:
            problems.append(f"host {self.name}: ListDomains at the end: {e.message}")
        finally:
            conn.close_sync(None)
        return problems

    def _stop(self, destroy):
        """Stops virtbusd (checked as vbtest does), sshd and dbus-daemon by
        pid; returns the problems."""
        problems = []
        stopped_by_test = True
        if self.service is not None and self.service.running():
            stopped_by_test = False
            if destroy:
                problems += self.destroy_all()
        if self.service is not None:
            rc = self.service.stop(check=False)
            if rc is not None:
                problems += [f"host {self.name}: {p}" for p in self.service.problems]
        # QEMUs: none may be left after Destroy of every domain; after a stop
        # the test made, only those a status file records (left for the next
        # start), killed here all the same
        known = vbtest.status_pids(self.root) if stopped_by_test else set()
        for pid, cmdline in sorted(vbtest.kill_qemus_under(self.dir).items()):
            if pid not in known:
                problems.append(f"host {self.name}: QEMU pid {pid} left over: {cmdline[:300]}")
        if self.sshd is not None:
            if self.sshd.poll() is None:
                self.sshd.terminate()
                try:
                    self.sshd.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self.sshd.kill()
                    self.sshd.wait()
            self._sshd_logf.close()
        if self.bus is not None:
            try:
                self.bus.stop()
            except subprocess.TimeoutExpired:
                self.bus.proc.kill()
                self.bus.proc.wait()
        return problems


class Hosts:
    """@n hosts under @directory (made; a temporary one when None)."""

    def __init__(self, n=2, directory=None):
        global _seq
        if not 1 <= n <= len(NAMES):
            raise ValueError(f"1 to {len(NAMES)} hosts, not {n}")
        self.n = n
        self.own_dir = directory is None
        self.dir = os.path.abspath(directory or tempfile.mkdtemp(prefix="vbhosts-"))
        self.prefix = f"vbh-{os.getpid()}-{_seq}"
        _seq += 1
        self.bridge_netns = self.prefix + "-br"
        self.net = f"10.{random.randint(1, 254)}.{random.randint(0, 255)}"
        self.subnet = self.net + ".0/24"
        self.shared = os.path.join(self.dir, "shared")
        self.ssh_dir = os.path.join(self.dir, "ssh")
        self.client_key = os.path.join(self.ssh_dir, "id_ed25519")
        self.known_hosts = os.path.join(self.ssh_dir, "known_hosts")
        self.authorized_keys = os.path.join(self.ssh_dir, "authorized_keys")
        self.ssh_config = os.path.join(self.ssh_dir, "config")
        self.hosts = [Host(self, i) for i in range(n)]
        self.namespaces = []
        self.is_up = False
        self.timings = {}

    def __iter__(self):
        return iter(self.hosts)

    def __getitem__(self, i):
        return self.hosts[i]

    def __len__(self):
        return len(self.hosts)

    def host(self, key):
        """A host by index or name ('a', 'b', ...)."""
        if isinstance(key, str) and not key.isdigit():
            return self.hosts[NAMES.index(key)]
        return self.hosts[int(key)]

    # -- up --
    def up(self):
        """Brings every host up (the slow parts in parallel); on any failure
        ends what was started and raises. Returns self."""
        _install_handlers()
        _live.append(self)
        t0 = time.monotonic()
        try:
            self._up()
        except BaseException:
            self.down(destroy=False)
            raise
        self.is_up = True
        self.timings["up"] = time.monotonic() - t0
        self._write_state()
        return self

    def _up(self):
        reap_stale()
        os.makedirs(self.dir, exist_ok=True)
        if os.listdir(self.dir):
            raise RuntimeError(f"{self.dir} is not empty")
        os.chmod(self.dir, 0o755)
        for d in (self.shared, self.ssh_dir):
            os.makedirs(d)
        os.chmod(self.shared, 0o777)
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
        keygens = [subprocess.Popen(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C",
                                     f"vbhosts {self.prefix}", "-f", self.client_key],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)]
        for h in self.hosts:
            h._write_files()
            keygens.append(subprocess.Popen(
                ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"host {h.name}",
                 "-f", h.host_key], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE))
        self._make_network()
        for p in keygens:
            if p.wait() != 0:
                raise RuntimeError(f"ssh-keygen failed: {p.stderr.read().decode()}")
            p.stderr.close()
        self._write_ssh_client_files()
        for h in self.hosts:
            h._start_bus()
        for h in self.hosts:
            h._start_service()
            h._start_sshd()
        vbtest.eventually(lambda: all(h._sshd_ready() for h in self.hosts), timeout=30,
                          what="every sshd to listen")
        for h in self.hosts:
            h.service.wait_ready()

    def _make_network(self):
        self.namespaces = [self.bridge_netns] + [h.netns for h in self.hosts]
        _ip_batch([f"netns add {ns}" for ns in self.namespaces])
        _ip_batch(["link set lo up", "link add br0 type bridge", "link set br0 up"],
                  self.bridge_netns)
        for h in self.hosts:
            _ip_batch(["link set lo up",
                       f"link add eth0 type veth peer name p{h.index} netns {self.bridge_netns}",
                       f"addr add {h.address}/24 dev eth0",
                       "link set eth0 up"], h.netns)
        _ip_batch([cmd for h in self.hosts for cmd in (f"link set p{h.index} master br0",
                                                        f"link set p{h.index} up")],
                  self.bridge_netns)

    def _write_ssh_client_files(self):
        with open(self.client_key + ".pub") as f:
            client_pub = f.read().strip()
        with open(self.authorized_keys, "w") as f:
            f.write(client_pub + "\n")
        with open(self.known_hosts, "w") as f:
            for h in self.hosts:
                with open(h.host_key + ".pub") as k:
                    key = " ".join(k.read().split()[:2])
                f.write(f"{h.address} {key}\n")
        with open(self.ssh_config, "w") as f:
            f.write("# ssh client settings for the test hosts (ssh -F)\n")
            for h in self.hosts:
                f.write(f"Host {h.name}\n    HostName {h.address}\n")
            f.write(f"""Host *
    User root
    IdentityFile {self.client_key}
    IdentitiesOnly yes
    UserKnownHostsFile {self.known_hosts}
    GlobalKnownHostsFile /dev/null
    StrictHostKeyChecking yes
    BatchMode yes
    ConnectTimeout 5
    LogLevel ERROR
""")
        # what an empty ssh config gives (no ~/.ssh/config, nothing written
        # under /root): for tests that pass keys in a URI
        with open(os.path.join(self.ssh_dir, "empty_config"), "w") as f:
            f.write("# nothing: keys and known hosts come from the URI\n")

    def _write_state(self):
        state = self.describe()
        state["pid"] = os.getpid()
        state["start_time"] = _start_time(os.getpid())
        state["processes"] = [
            [pid, _start_time(pid)] for h in self.hosts
            for pid in h.describe()["pids"].values() if pid]
        tmp = os.path.join(self.dir, STATE_FILE + ".tmp")
        with open(tmp, "w") as f:
            json.dump(state, f, indent=2)
        os.rename(tmp, os.path.join(self.dir, STATE_FILE))

    def describe(self):
        return {
            "dir": self.dir,
            "subnet": self.subnet,
            "bridge_netns": self.bridge_netns,
            "shared": self.shared,
            "ssh_config": self.ssh_config,
            "empty_ssh_config": os.path.join(self.ssh_dir, "empty_config"),
            "client_key": self.client_key,
            "known_hosts": self.known_hosts,
            "namespaces": self.namespaces,
            "timings": self.timings,
            "hosts": [h.describe() for h in self.hosts],
        }

    # -- down --
    def down(self, destroy=True):
        """Ends everything (in parallel per host): with @destroy every domain
        is destroyed through its service first; virtbusd is stopped and
        checked, sshd and dbus-daemon are ended by pid, every process still
        in a namespace after a grace period is killed and reported, the
        namespaces are deleted. Returns the list of problems (empty: clean).
        Safe to call twice."""
        t0 = time.monotonic()
        problems = []
        results = {}

        def stop(h):
            try:
                results[h.index] = h._stop(destroy)
            except Exception as e:   # noqa: BLE001 - reported, the rest still goes down
                results[h.index] = [f"host {h.name}: stopping failed: {e!r}"]

        threads = [threading.Thread(target=stop, args=(h,)) for h in self.hosts]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for i in sorted(results):
            problems += results[i]
        for ns in self.namespaces:
            if not netns_exists(ns):
                continue
            for pid, cmdline in _kill_netns_processes(ns):
                problems.append(f"process left in {ns}: pid {pid}: {cmdline[:300]}")
            _delete_netns(ns)
        for ns in self.namespaces:
            if netns_exists(ns):
                problems.append(f"network namespace {ns} could not be deleted")
        self.namespaces = []
        if self in _live:
            _live.remove(self)
        self.is_up = False
        self.timings["down"] = time.monotonic() - t0
        return problems

    def cleanup(self):
        """Removes the directory when the harness made it."""
        if self.own_dir:
            shutil.rmtree(self.dir, ignore_errors=True)


def _down_all():
    for hosts in list(_live):
        try:
            hosts.down(destroy=False)
        except Exception as e:   # noqa: BLE001
            sys.stderr.write(f"vbhosts: cleaning up {hosts.dir}: {e!r}\n")


def _on_sigterm(signum, frame):
    _down_all()
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


def _install_handlers():
    global _handlers_installed
    if _handlers_installed:
        return
    _handlers_installed = True
    atexit.register(_down_all)
    if (threading.current_thread() is threading.main_thread()
            and signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None)):
        signal.signal(signal.SIGTERM, _on_sigterm)


def require_root():
    """Raises unittest.SkipTest (a failure under VB_REQUIRE_ALL=1) without
    what the hosts need."""
    missing = []
    if os.geteuid() != 0:
        missing.append("root")
    for prog in (SSHD, "/usr/bin/ssh", "/usr/bin/ssh-keygen", "/usr/bin/systemd-stdio-bridge"):
        if not os.access(prog, os.X_OK):
            missing.append(prog)
    if shutil.which("ip") is None:
        missing.append("ip (iproute2)")
    if missing:
        raise unittest.SkipTest("the test hosts need " + ", ".join(missing)
                                + " (scripts/install-deps.sh)")


class MultiHostTestCase(unittest.TestCase):
    """Each test gets `n_hosts` fresh hosts: self.hosts, self.a, self.b (and
    self.c). At the end every domain is destroyed, each virtbusd is stopped
    and checked (exit status 0, clean log), no QEMU and no process may be
    left in any namespace; each host's log is printed when the test fails."""

    n_hosts = 2

    # borrowed from vbtest.VirtbusTestCase: they only use the connection given
    call = vbtest.VirtbusTestCase.call
    assertDBusError = vbtest.VirtbusTestCase.assertDBusError
    _outcome_failed = vbtest.VirtbusTestCase._outcome_failed

    def setUp(self):
        require_root()
        self.hosts = Hosts(self.n_hosts).up()
        for h in self.hosts:
            setattr(self, h.name, h)
        self.conns = []

    def tearDown(self):
        failed = self._outcome_failed()
        for c in self.conns:
            if not c.is_closed():
                try:
                    c.close_sync(None)
                except GLib.Error:
                    pass
        problems = self.hosts.down()
        if failed or problems:
            for h in self.hosts:
                sys.stderr.write(f"\n---- virtbusd log of host {h.name} ({self.id()}) ----\n")
                sys.stderr.write(h.read_log()[-20000:])
                try:
                    with open(h.sshd_log, errors="replace") as f:
                        sys.stderr.write(f"\n---- sshd log of host {h.name} ----\n")
                        sys.stderr.write(f.read()[-5000:])
                except OSError:
                    pass
            sys.stderr.write("\n---- end of logs ----\n")
        self.hosts.cleanup()
        if problems:
            self.fail("\n".join(problems))

    def conn(self, host):
        """A connection to @host's bus, closed at the end of the test."""
        c = host.connect()
        self.conns.append(c)
        return c

    def manager(self, host, method, sig=None, args=(), **kw):
        kw.setdefault("conn", self.conn(host))
        r = self.call(vbtest.MANAGER_PATH, vbtest.MANAGER_IFACE, method, sig, args, **kw)
        return r[0] if r and len(r) == 1 else r

    def host_prop(self, host, name):
        return self.call(vbtest.MANAGER_PATH, "org.freedesktop.DBus.Properties", "Get", "ss",
                         (vbtest.MANAGER_IFACE, name), conn=self.conn(host))[0]

    def ctl(self, host, *args, check=True, timeout=60, **kw):
        """Runs virtbusctl with @args inside @host's namespace (@host None:
        in the harness's own namespace)."""
        argv = [os.path.abspath(vbtest.VIRTBUSCTL), *args]
        if host is not None:
            argv = host.argv(argv)
        p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, **kw)
        if check and p.returncode != 0:
            self.fail(f"virtbusctl {' '.join(args)} failed ({p.returncode}): {p.stderr}")
        bad = vbtest.log_problems(p.stderr or "")
        if bad:
            self.fail(f"virtbusctl {' '.join(args)} logged:\n  " + "\n  ".join(bad))
        return p


# -- the command line --

def _cmd_up(n, directory):
    hosts = Hosts(n, directory)
    done = threading.Event()

    def on_signal(signum, frame):
        done.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        hosts.up()
    except Exception as e:   # noqa: BLE001
        sys.stderr.write(f"vbhosts: bringing the hosts up failed: {e}\n")
        return 1
    json.dump(hosts.describe(), sys.stdout, indent=2)
    sys.stdout.write("\n")
    sys.stdout.flush()
    while not done.wait(1):
        pass
    problems = hosts.down()
    for p in problems:
        sys.stderr.write(f"vbhosts: {p}\n")
    return 1 if problems else 0


def _cmd_down(directory):
    """Asks `up` to end (SIGTERM) and waits for it; then, whatever happened
    to it, ends every process the state file lists (same pid and start time)
    and deletes its namespaces."""
    path = os.path.join(directory, STATE_FILE)
    try:
        with open(path) as f:
            state = json.load(f)
    except FileNotFoundError:
        sys.stderr.write(f"vbhosts: no {STATE_FILE} in {directory}: nothing is up there\n")
        return 1
    pid = state["pid"]
    if _start_time(pid) == state["start_time"]:
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 120
        while _start_time(pid) == state["start_time"] and time.monotonic() < deadline:
            time.sleep(0.05)
    rc = 0
    for p, start in state["processes"]:
        if _start_time(p) == start:
            sys.stderr.write(f"vbhosts: killing pid {p}: {_cmdline(p)}\n")
            os.kill(p, signal.SIGKILL)
            rc = 1
    for ns in state["namespaces"]:
        if netns_exists(ns):
            for p, cmdline in _kill_netns_processes(ns, grace=0):
                sys.stderr.write(f"vbhosts: killed pid {p} in {ns}: {cmdline}\n")
            _delete_netns(ns)
            rc = 1
    os.unlink(path)
    return rc


def _cmd_exec(directory, host, argv):
    with open(os.path.join(directory, STATE_FILE)) as f:
        state = json.load(f)
    hosts = state["hosts"]
    h = hosts[int(host)] if host.isdigit() else next(x for x in hosts if x["name"] == host)
    os.execvp("ip", ["ip", "netns", "exec", h["netns"]] + argv)


def main(argv):
    usage = ("usage: vbhosts.py up N DIR | down DIR | exec DIR HOST CMD...\n")
    if len(argv) == 3 and argv[0] == "up" and argv[1].isdigit():
        return _cmd_up(int(argv[1]), argv[2])
    if len(argv) == 2 and argv[0] == "down":
        return _cmd_down(argv[1])
    if len(argv) >= 4 and argv[0] == "exec":
        return _cmd_exec(argv[1], argv[2], argv[3:])
    sys.stderr.write(usage)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
