# SPDX-License-Identifier: LGPL-2.1-or-later
"""Authorization of virtbusd with the real polkitd.

polkitd reads its actions and rules from fixed system paths only, so each
test runs it in a private mount namespace (unshare --mount --propagation
private) where a temporary directory holding the project's policy is
bind-mounted over /usr/share/polkit-1/actions, and temporary rules
directories over /etc/polkit-1/rules.d and /usr/share/polkit-1/rules.d. The
host's mounts and files are never touched; the namespace dies with polkitd.

polkitd (Debian's 122) starts as root, drops to the `polkitd` user, loads
actions and rules, then connects to DBUS_SYSTEM_BUS_ADDRESS (the test's
private bus) and owns org.freedesktop.PolicyKit1 within a few tens of
milliseconds. It needs nothing else: no /run state, no logind (without
logind every subject is in no session, so the <allow_any> defaults apply).
It exits (SIGTERM raised by GDBus) when the bus goes away.

Unprivileged callers are a client process run as `nobody` under setpriv,
driven over a pipe; it stands in for a GDBusConnection so the harness's
helpers (get_prop, manager, ...) work with conn=<the client>.

A tracing rule, always installed first, logs every check polkitd sees for
org.virtbus.Virt1.* with its details, so tests can tell which checks
reached polkitd at all.
"""

import atexit
import ctypes
import json
import os
import pwd
import re
import select
import shutil
import signal
import struct
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import vbmigrate  # noqa: E402
import vbtest  # noqa: E402
from vbtest import (BUILDDIR, DOMAIN_IFACE, ERR, MANAGER_IFACE, MANAGER_PATH,  # noqa: E402
                    SRCDIR, Gio, GLib, VirtbusTestCase, connect, domain_xml, eventually,
                    save_image_bytes)

POLKITD = "/usr/lib/polkit-1/polkitd"
POLKIT_NAME = "org.freedesktop.PolicyKit1"
POLKIT_PATH = "/org/freedesktop/PolicyKit1/Authority"
POLKIT_IFACE = "org.freedesktop.PolicyKit1.Authority"
ACTIONS_DIR = "/usr/share/polkit-1/actions"
ETC_RULES_DIR = "/etc/polkit-1/rules.d"
SHARE_RULES_DIR = "/usr/share/polkit-1/rules.d"

NOBODY_UID = pwd.getpwnam("nobody").pw_uid
POLKITD_UID = pwd.getpwnam("polkitd").pw_uid

UUID1 = "6f1c1c52-45a3-4c39-9a0d-3f8c8e1b2a01"
UUID2 = "6f1c1c52-45a3-4c39-9a0d-3f8c8e1b2a02"

# Logs every virtbus check with its details; decides nothing.
TRACE_RULES = r"""
polkit.addRule(function(action, subject) {
    if (action.id.indexOf("org.virtbus.Virt1.") == 0)
        polkit.log("VBTEST-CHECK action=" + action.id + " user=" + subject.user +
                   " domain=" + action.lookup("domain") + " uuid=" + action.lookup("uuid") +
                   " verb=" + action.lookup("verb") + " local=" + subject.local +
                   " active=" + subject.active + " session=" + subject.session +
                   " path=" + action.lookup("path"));
});
"""
TRACE_RE = re.compile(r"VBTEST-CHECK action=(\S+) user=(\S+) domain=(\S+) uuid=(\S+) verb=(\S+)"
                      r" local=(\S+) active=(\S+) session=(\S+) path=(\S+)")


def policy_file():
    """The built policy if there is one, else the source (valid XML as is)."""
    built = os.path.join(BUILDDIR, "data", "org.virtbus.Virt1.policy")
    return built if os.path.exists(built) else os.path.join(SRCDIR, "data",
                                                              "org.virtbus.Virt1.policy.in")


def mount_points(pid="self"):
    with open(f"/proc/{pid}/mountinfo") as f:
        return {line.split()[4] for line in f}


_live_polkitds = set()


def _kill_leftovers():
    for p in list(_live_polkitds):
        p.stop()


atexit.register(_kill_leftovers)     # e.g. after ^C, when no tearDown runs


class Polkitd:
    """The real polkitd, confined to a private mount namespace in which the
    test's actions and rules replace the system's."""

    def __init__(self, bus, workdir, rules=None):
        self.bus = bus
        self.dir = workdir
        self.actions = os.path.join(workdir, "actions")
        self.rules = os.path.join(workdir, "rules")          # over /etc/polkit-1/rules.d
        self.no_rules = os.path.join(workdir, "no-rules")    # over /usr/share/polkit-1/rules.d
        self.log_path = os.path.join(workdir, "polkitd.log")
        self.proc = None
        for d in (workdir, self.actions, self.rules, self.no_rules):
            os.makedirs(d, exist_ok=True)
            os.chmod(d, 0o755)          # polkitd reads them as the polkitd user
        shutil.copy(policy_file(), os.path.join(self.actions, "org.virtbus.Virt1.policy"))
        self._write(os.path.join(self.rules, "00-vbtest-trace.rules"), TRACE_RULES)
        if rules:
            self._write(os.path.join(self.rules, "50-vbtest.rules"), rules)

    @staticmethod
    def _write(path, text):
        with open(path, "w") as f:
            f.write(text)
        os.chmod(path, 0o644)

    def start(self, timeout=15):
        env = dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS=self.bus.address, LC_ALL="C")
        script = ('mount --bind "$1" ' + ACTIONS_DIR + '\n'
                  'mount --bind "$2" ' + ETC_RULES_DIR + '\n'
                  'mount --bind "$3" ' + SHARE_RULES_DIR + '\n'
                  'exec ' + POLKITD + '\n')
        with open(self.log_path, "a") as log:
            # no fork anywhere: unshare execs sh, sh execs polkitd, so
            # self.proc.pid is polkitd's pid
            self.proc = subprocess.Popen(
                ["unshare", "--mount", "--propagation", "private", "--",
                 "/bin/sh", "-ec", script, "sh", self.actions, self.rules, self.no_rules],
                stdout=log, stderr=subprocess.STDOUT, env=env, stdin=subprocess.DEVNULL)
        _live_polkitds.add(self)
        conn = connect(self.bus.address)
        try:
            t0 = time.monotonic()
            eventually(lambda: self.proc.poll() is not None or owner_pid(conn, POLKIT_NAME),
                       timeout=timeout, what="polkitd to own " + POLKIT_NAME)
            self.startup_time = time.monotonic() - t0
            if self.proc.poll() is not None:
                raise RuntimeError(f"polkitd exited with {self.proc.returncode}:\n"
                                   + self.read_log())
            pid = owner_pid(conn, POLKIT_NAME)
            if pid != self.proc.pid:
                raise RuntimeError(f"{POLKIT_NAME} is owned by pid {pid}, not our polkitd "
                                   f"{self.proc.pid}")
        finally:
            conn.close_sync(None)

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self):
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        _live_polkitds.discard(self)
        rc = self.proc.returncode
        self.proc = None
        return rc

    def read_log(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def checks(self):
        """The virtbus checks polkitd has seen, as dicts."""
        keys = ("action", "user", "domain", "uuid", "verb", "local", "active", "session", "path")
        return [dict(zip(keys, m.groups())) for m in TRACE_RE.finditer(self.read_log())]


class OpenWatch:
    """inotify on a directory: reports every open or read of anything in it,
    by any process (IN_OPEN | IN_ACCESS)."""

    IN_ACCESS, IN_OPEN, IN_NONBLOCK, IN_CLOEXEC = 0x1, 0x20, 0o4000, 0o2000000

    def __init__(self, directory):
        libc = ctypes.CDLL(None, use_errno=True)
        self.fd = libc.inotify_init1(self.IN_NONBLOCK | self.IN_CLOEXEC)
        if self.fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1")
        if libc.inotify_add_watch(self.fd, directory.encode(), self.IN_OPEN | self.IN_ACCESS) < 0:
            raise OSError(ctypes.get_errno(), "inotify_add_watch " + directory)

    def events(self):
        """(mask, name) of the events so far."""
        out = []
        try:
            buf = os.read(self.fd, 65536)
        except BlockingIOError:
            return out
        i = 0
        while i < len(buf):
            _, mask, _, length = struct.unpack_from("iIII", buf, i)
            name = buf[i + 16:i + 16 + length].rstrip(b"\0").decode()
            out.append((mask, name))
            i += 16 + length
        return out

    def close(self):
        os.close(self.fd)


def owner_pid(conn, name):
    try:
        r = conn.call_sync("org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
                           "GetConnectionUnixProcessID", GLib.Variant("(s)", (name,)),
                           GLib.VariantType("(u)"), Gio.DBusCallFlags.NONE, 5000, None)
    except GLib.Error:
        return 0
    return r.unpack()[0]


def bus_uid(conn, name):
    r = conn.call_sync("org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
                       "GetConnectionUnixUser", GLib.Variant("(s)", (name,)),
                       GLib.VariantType("(u)"), Gio.DBusCallFlags.NONE, 5000, None)
    return r.unpack()[0]


# Runs as nobody: one bus connection; reads requests (JSON lines with
# GVariant text), answers each on one line.
CLIENT = r"""
import json, os, sys
from gi.repository import Gio, GLib
conn = Gio.DBusConnection.new_for_address_sync(
    sys.argv[1], Gio.DBusConnectionFlags.AUTHENTICATION_CLIENT |
    Gio.DBusConnectionFlags.MESSAGE_BUS_CONNECTION, None, None)
print(json.dumps({"uid": os.getuid(), "euid": os.geteuid(), "gid": os.getgid(),
                  "groups": os.getgroups(), "name": conn.get_unique_name()}), flush=True)
for line in sys.stdin:
    q = json.loads(line)
    params = GLib.Variant.parse(None, q["params"], None, None) if q["params"] else None
    reply_type = GLib.VariantType(q["reply"]) if q["reply"] else None
    try:
        r = conn.call_sync(q["dest"], q["path"], q["iface"], q["method"], params, reply_type,
                           Gio.DBusCallFlags(q["flags"]), q["timeout"], None)
        out = {"reply": r.print_(True) if r is not None else None}
    except GLib.Error as e:
        name = Gio.DBusError.get_remote_error(e)
        msg = e.message
        prefix = "GDBus.Error:%s: " % name
        if name and msg.startswith(prefix):
            msg = msg[len(prefix):]
        out = {"error": name or "local:" + e.domain, "message": msg}
    print(json.dumps(out), flush=True)
"""


class UserClient:
    """A bus client running as another user. Offers call_sync() like a
    Gio.DBusConnection, so it can be passed as conn= to the harness."""

    def __init__(self, address, user="nobody", group="nogroup"):
        env = {"PATH": "/usr/bin:/bin", "HOME": "/nonexistent", "LC_ALL": "C"}
        self.proc = subprocess.Popen(
            ["setpriv", f"--reuid={user}", f"--regid={group}", "--clear-groups",
             "/usr/bin/python3", "-c", CLIENT, address],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True, cwd="/", env=env)
        hello = self._read(30)
        self.uid = hello["uid"]
        self.euid = hello["euid"]
        self.groups = hello["groups"]
        self.unique_name = hello["name"]

    def _read(self, timeout):
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        line = self.proc.stdout.readline() if ready else ""
        if not line:
            self.proc.kill()
            _, err = self.proc.communicate()
            raise RuntimeError(f"client as nobody {'died' if ready else 'timed out'}: {err}")
        return json.loads(line)

    def call_sync(self, dest, path, iface, method, params, reply_type, flags, timeout, cancellable):
        q = {"dest": dest, "path": path, "iface": iface, "method": method,
             "params": params.print_(True) if params is not None else None,
             "reply": reply_type.dup_string() if reply_type is not None else None,
             "flags": int(flags), "timeout": timeout}
        self.proc.stdin.write(json.dumps(q) + "\n")
        self.proc.stdin.flush()
        a = self._read(timeout / 1000 + 10 if timeout > 0 else 60)
        if "error" in a:
            raise Gio.DBusError.new_for_dbus_error(a["error"], a["message"])
        return GLib.Variant.parse(None, a["reply"], None, None) if a["reply"] else None

    def close(self):
        try:
            self.proc.stdin.close()         # its loop ends, it exits
        except OSError:
            pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc.stdout.close()
        self.proc.stderr.close()


class PolkitTestCase(VirtbusTestCase):
    """A private bus, the real polkitd on it (unless run_polkitd is false)
    with `rules`, and virtbusd with --polkit (unless use_polkit is false),
    talking to polkitd through DBUS_SYSTEM_BUS_ADDRESS."""

    start_service = False     # the harness must not start it before polkitd
    use_polkit = True
    run_polkitd = True
    rules = None

    def setUp(self):
        super().setUp()
        self.polkitd = None
        try:
            self.polkitd = Polkitd(self.bus, os.path.join(self.tmp, "polkit"), self.rules)
            if self.run_polkitd:
                self.polkitd.start()
            self.service.extra_args = ["--polkit"] if self.use_polkit else []
            self.service.env = {"DBUS_SYSTEM_BUS_ADDRESS": self.bus.address}
            self.service.start()
        except BaseException:
            # tearDown will not run: undo everything here
            if self.polkitd is not None:
                sys.stderr.write(f"\n---- polkitd log ----\n{self.polkitd.read_log()}\n")
                self.polkitd.stop()
            self.conn.close_sync(None)
            self.service.stop()
            sys.stderr.write(f"\n---- virtbusd log ----\n{self.service.read_log()[-20000:]}\n")
            self.bus.stop()
            shutil.rmtree(self.tmp, ignore_errors=True)
            raise

    def tearDown(self):
        try:
            if self.polkitd is not None:
                if self._outcome_failed():
                    sys.stderr.write(f"\n---- polkitd log ({self.id()}) ----\n"
                                     f"{self.polkitd.read_log()[-20000:]}\n---- end ----\n")
                self.polkitd.stop()
        finally:
            super().tearDown()

    # -- helpers --
    def nobody(self):
        return self.user("nobody", "nogroup")

    def user(self, name, group):
        c = UserClient(self.bus.address, name, group)
        self.addCleanup(c.close)
        # make sure the test means what it says: the bus sees that uid
        uid = pwd.getpwnam(name).pw_uid
        self.assertEqual((c.uid, c.euid, c.groups), (uid, uid, []))
        self.assertEqual(bus_uid(self.conn, c.unique_name), uid)
        return c

    def config(self, name):
        return os.path.join(self.root, "etc/virtbus/qemu", name + ".xml")

    def autostart_link(self, name):
        return os.path.join(self.root, "etc/virtbus/qemu/autostart", name + ".xml")

    def assertRefused(self, action, fn, *args, **kw):
        e = self.assertDBusError("NotAuthorized", fn, *args, **kw)
        self.assertIn(action, e.message)
        return e

    def nobody_checks(self, action=None):
        return [c for c in self.polkitd.checks()
                if c["user"] == "nobody" and (action is None or c["action"] == action)]

    def wait_check(self, **want):
        """Waits for polkitd to have logged a check matching @want."""
        return eventually(lambda: [c for c in self.polkitd.checks()
                                   if all(c[k] == v for k, v in want.items())],
                          timeout=5, what=f"polkitd to log a check {want}")


class PolkitdConfinementTest(PolkitTestCase):
    def test_polkitd_private_and_unprivileged(self):
        host_actions = sorted(os.listdir(ACTIONS_DIR))
        host_rules = sorted(os.listdir(SHARE_RULES_DIR))
        pid = self.polkitd.proc.pid
        # it dropped privileges
        with open(f"/proc/{pid}/status") as f:
            uids = next(line for line in f if line.startswith("Uid:")).split()[1:]
        self.assertEqual(uids, [str(POLKITD_UID)] * 4)
        # the bind mounts exist in its namespace only
        ours = {ACTIONS_DIR, ETC_RULES_DIR, SHARE_RULES_DIR}
        self.assertEqual(mount_points(pid) & ours, ours)
        self.assertEqual(mount_points() & ours, set())
        self.assertNotEqual(os.readlink(f"/proc/{pid}/ns/mnt"), os.readlink("/proc/self/ns/mnt"))
        self.assertEqual(sorted(os.listdir(ACTIONS_DIR)), host_actions)
        self.assertEqual(sorted(os.listdir(SHARE_RULES_DIR)), host_rules)
        # it sees exactly our actions (implicit any: 2 = auth_admin, 5 = yes)
        actions = self.conn.call_sync(
            POLKIT_NAME, POLKIT_PATH, POLKIT_IFACE, "EnumerateActions", GLib.Variant("(s)", ("",)),
            None, Gio.DBusCallFlags.NONE, 10000, None).unpack()[0]
        implicit_any = {a[0]: a[6] for a in actions}
        self.assertEqual(implicit_any, {
            "org.virtbus.Virt1.read": 5, "org.virtbus.Virt1.manage": 2,
            "org.virtbus.Virt1.define": 2, "org.virtbus.Virt1.migrate": 2,
            "org.virtbus.Virt1.save": 2, "org.virtbus.Virt1.attach": 2,
            "org.virtbus.Virt1.monitor": 2, "org.virtbus.Virt1.network": 2,
            "org.virtbus.Virt1.agent": 2, "org.virtbus.Virt1.console": 2,
            "org.virtbus.Virt1.snapshot": 2})
        log = self.polkitd.read_log()
        self.assertIn("Successfully changed to user polkitd", log)
        # our trace rule only: the host's rules are hidden
        self.assertIn("Finished loading, compiling and executing 1 rules", log)
        self.assertLess(self.polkitd.startup_time, 10)


class PolkitEnabledTest(PolkitTestCase):
    def test_unprivileged_may_read_but_not_change(self):
        path = self.define("vm1", UUID1)
        nobody = self.nobody()
        # reads: allow_any yes
        self.assertEqual(self.manager("ListDomains", "u", (0,), conn=nobody), [path])
        self.assertEqual(self.manager("LookupByName", "s", ("vm1",), conn=nobody), path)
        self.assertEqual(self.manager("LookupByUUID", "s", (UUID1,), conn=nobody), path)
        self.assertEqual(self.get_prop(path, DOMAIN_IFACE, "Name", conn=nobody), "vm1")
        props = self.get_all(path, DOMAIN_IFACE, conn=nobody)
        self.assertEqual((props["Name"], props["UUID"], props["Autostart"]), ("vm1", UUID1, False))
        objs = self.managed_objects(conn=nobody)
        self.assertEqual(objs[path][DOMAIN_IFACE]["Name"], "vm1")
        self.assertIn("<name>vm1</name>", self.domain(path, "GetXMLDesc", "u", (0,), conn=nobody))
        # the read check went to polkitd, as nobody, in no session
        check = self.wait_check(action="org.virtbus.Virt1.read", user="nobody")[0]
        self.assertEqual((check["session"], check["local"], check["active"]),
                         ("null", "false", "false"))

        # changes: auth_admin, and no agent, no interaction allowed
        define = "org.virtbus.Virt1.define"
        self.assertRefused(define, self.manager, "DefineXML", "su", (domain_xml("vm2", UUID2), 0),
                           conn=nobody)
        self.assertRefused(define, self.domain, path, "Undefine", "u", (0,), conn=nobody)
        self.assertRefused(define, self.set_prop, path, DOMAIN_IFACE, "Autostart",
                           GLib.Variant("b", True), conn=nobody)
        self.assertRefused(define, self.domain, path, "GetXMLDesc", "u", (1,), conn=nobody)
        # each was a real polkit question, with the domain's details
        want = {("definexml", "vm2", UUID2), ("undefine", "vm1", UUID1),
                ("set:autostart", "vm1", UUID1), ("getxmldesc", "vm1", UUID1)}
        eventually(lambda: {(c["verb"], c["domain"], c["uuid"])
                            for c in self.nobody_checks(define)} == want,
                   timeout=5, what=f"polkitd to log the checks {want}")

        # and changed nothing
        self.assertEqual(self.manager("ListDomains", "u", (0,)), [path])
        self.assertFalse(os.path.exists(self.config("vm2")))
        self.assertDBusError("NoDomain", self.manager, "LookupByName", "s", ("vm2",))
        self.assertTrue(os.path.exists(self.config("vm1")))
        self.assertFalse(self.get_prop(path, DOMAIN_IFACE, "Autostart"))
        self.assertFalse(self.get_prop(path, DOMAIN_IFACE, "Autostart", conn=nobody))
        self.assertFalse(os.path.lexists(self.autostart_link("vm1")))
        self.assertEqual(self.service.proc.poll(), None)

    def test_lifecycle_and_long_operations_refused(self):
        """manage, save and monitor actions: nobody is refused, nothing runs."""
        path = self.define("vm1", UUID1)
        nobody = self.nobody()
        manage, save = "org.virtbus.Virt1.manage", "org.virtbus.Virt1.save"
        self.assertRefused(manage, self.domain, path, "Start", "u", (0,), conn=nobody)
        self.assertRefused(manage, self.manager, "CreateXML", "su",
                           (domain_xml("vm2", UUID2), 0), conn=nobody)
        self.assertEqual(self.get_prop(path, DOMAIN_IFACE, "State"), "shutoff")
        # root starts it; nobody may watch but not touch
        self.domain(path, "Start", "u", (0,), timeout=60000)
        try:
            self.assertEqual(self.get_prop(path, DOMAIN_IFACE, "State", conn=nobody), "running")
            for method, sig, args in (("Suspend", None, ()), ("Destroy", "u", (0,)),
                                      ("Shutdown", "u", (0,)), ("Reset", None, ()),
                                      # issue 13, part memev
                                      ("SetMemory", "tu", (65536, 1)), ("SetVcpus", "uu", (1, 1)),
                                      ("PinVcpu", "uabu", (0, [True], 1)),
                                      ("PinIOThread", "uabu", (1, [True], 1)),
                                      # issue 13, part vcpuio
                                      ("AddIOThread", "uu", (2, 1)),
                                      ("DelIOThread", "uu", (1, 1)),
                                      ("PinEmulator", "abu", ([True], 1)),
                                      ("SetPerfEvents", "a{sv}u", ({}, 1))):
                self.assertRefused(manage, self.domain, path, method, sig, args, conn=nobody)
            self.assertRefused("org.virtbus.Virt1.define", self.domain, path, "SetMaxMemory",
                               "t", (65536,), conn=nobody)
            self.assertRefused(save, self.domain, path, "Save", "ssu",
                               (os.path.join(self.tmp, "img"), "", 0), conn=nobody)
            self.assertRefused("org.virtbus.Virt1.monitor", self.domain, path,
                               "QemuMonitorCommand", "s", ('{"execute":"stop"}',), conn=nobody)
            # guest addresses: a read, but the agent source talks to the guest (attach)
            self.assertEqual(self.domain(path, "InterfaceAddresses", "u", (0,), conn=nobody),
                             [])
            self.assertRefused("org.virtbus.Virt1.attach", self.domain, path,
                               "InterfaceAddresses", "u", (1,), conn=nobody)
            self.wait_check(action="org.virtbus.Virt1.attach", user="nobody", domain="vm1",
                            uuid=UUID1, verb="interfaceaddresses")
            self.assertEqual(self.get_prop(path, DOMAIN_IFACE, "State"), "running")
            self.assertEqual(self.get_prop(path, DOMAIN_IFACE, "Tainted"), [])
            self.assertFalse(os.path.exists(os.path.join(self.tmp, "img")))
            self.wait_check(action=manage, user="nobody", domain="vm1", uuid=UUID1,
                            verb="destroy")
        finally:
            self.domain(path, "Destroy", "u", (0,))

    def test_denied_restore_opens_nothing(self):
        """Restore is checked on its arguments before anything of the path is
        opened: a denied caller's image, FIFO or device is never touched."""
        save, define = "org.virtbus.Virt1.save", "org.virtbus.Virt1.define"
        self.define("vm1", UUID1)
        images = os.path.join(self.tmp, "images")
        os.mkdir(images)
        image = os.path.join(images, "vm1.save")
        with open(image, "wb") as f:
            f.write(save_image_bytes(domain_xml("vm1", UUID1)))
        fifo = os.path.join(images, "fifo")
        os.mkfifo(fifo)
        nobody = self.nobody()
        watch = OpenWatch(images)
        self.addCleanup(watch.close)
        for p in (image, fifo):
            t0 = time.monotonic()
            self.assertRefused(save, self.manager, "Restore", "ssu", (p, "", 0), conn=nobody)
            self.assertLess(time.monotonic() - t0, 10)
        self.assertEqual(watch.events(), [])
        for p in (image, fifo):
            # the check named the path, and no domain: nothing was read to name one
            self.wait_check(action=save, user="nobody", verb="restore", path=p,
                            domain="undefined")
        self.assertEqual(self.nobody_checks(define), [])
        self.assertIsNone(self.service.proc.poll())

    def test_interactive_without_agent_refused_promptly(self):
        path = self.define("vm1", UUID1)
        nobody = self.nobody()
        t0 = time.monotonic()
        with self.assertRaises(GLib.Error) as cm:
            nobody.call_sync("org.virtbus.Virt1", path, DOMAIN_IFACE, "Undefine",
                             GLib.Variant("(u)", (0,)), None,
                             Gio.DBusCallFlags.ALLOW_INTERACTIVE_AUTHORIZATION, 20000, None)
        self.assertLess(time.monotonic() - t0, 10)
        self.assertEqual(Gio.DBusError.get_remote_error(cm.exception), ERR + "NotAuthorized")
        self.assertIn("org.virtbus.Virt1.define", cm.exception.message)
        self.wait_check(action="org.virtbus.Virt1.define", user="nobody", verb="undefine")
        self.assertTrue(os.path.exists(self.config("vm1")))

    def test_root_may_do_all(self):
        path = self.define("vm1", UUID1)
        self.assertTrue(os.path.exists(self.config("vm1")))
        self.set_prop(path, DOMAIN_IFACE, "Autostart", GLib.Variant("b", True))
        self.assertTrue(self.get_prop(path, DOMAIN_IFACE, "Autostart"))
        self.assertTrue(os.path.islink(self.autostart_link("vm1")))
        self.assertIn("<name>vm1</name>", self.domain(path, "GetXMLDesc", "u", (1,)))
        self.assertEqual(self.manager("ListDomains", "u", (0,)), [path])
        self.domain(path, "Undefine", "u", (0,))
        self.assertFalse(os.path.exists(self.config("vm1")))
        self.assertEqual(self.manager("ListDomains", "u", (0,)), [])
        # root never needed to ask polkitd
        self.assertEqual(self.polkitd.checks(), [])
        self.assertTrue(self.polkitd.running())

    def test_networks_need_the_network_action(self):
        """Virtual networks (issue 12): nobody may read them but not define,
        change or remove them; polkit is asked with the network's details,
        and nothing is written."""
        net_iface = "org.virtbus.Virt1.Network"
        xml = ("<network><name>net1</name><uuid>%s</uuid><bridge name='vbp-br1'/>"
               "<ip address='10.66.0.1' prefix='24'/></network>")
        path = self.manager("NetworkDefineXML", "su", (xml % UUID1, 0))
        nobody = self.nobody()
        network = "org.virtbus.Virt1.network"
        self.assertEqual(self.manager("ListNetworks", "u", (0,), conn=nobody), [path])
        self.assertEqual(self.get_prop(path, net_iface, "Name", conn=nobody), "net1")
        self.assertRefused(network, self.manager, "NetworkDefineXML", "su",
                           ((xml % UUID2).replace("net1", "net2").replace("br1", "br2"), 0),
                           conn=nobody)
        for method, sig, args in (("Undefine", None, ()), ("Start", None, ()),
                                  ("Destroy", None, ()),
                                  ("Update", "uuisu", (3, 10, -1,
                                                       "<host ip='10.66.0.9'><hostname>x"
                                                       "</hostname></host>", 0))):
            self.assertRefused(network, self.call, path, net_iface, method, sig, args,
                               conn=nobody)
        self.assertRefused(network, self.set_prop, path, net_iface, "Autostart",
                           GLib.Variant("b", True), conn=nobody)
        self.wait_check(action=network, user="nobody", uuid=UUID1,
                        verb="undefine")
        # nothing changed
        self.assertEqual(self.manager("ListNetworks", "u", (0,)), [path])
        self.assertFalse(self.get_prop(path, net_iface, "Autostart"))
        self.assertNotIn("<hostname>x</hostname>",
                         self.call(path, net_iface, "GetXMLDesc", "u", (0,))[0])
        self.assertDBusError("NoNetwork", self.manager, "NetworkLookupByName", "s", ("net2",))
        self.call(path, net_iface, "Undefine")


class DomainRuleTest(PolkitTestCase):
    rules = r"""
polkit.addRule(function(action, subject) {
    if (action.id == "org.virtbus.Virt1.define" && subject.user == "nobody" &&
        action.lookup("domain") == "allowed-vm")
        return polkit.Result.YES;
});
"""

    def test_rule_sees_domain_details(self):
        allowed = self.define("allowed-vm", UUID1)
        other = self.define("other-vm", UUID2)
        nobody = self.nobody()
        define = "org.virtbus.Virt1.define"
        self.assertRefused(define, self.domain, other, "Undefine", "u", (0,), conn=nobody)
        self.assertRefused(define, self.set_prop, other, DOMAIN_IFACE, "Autostart",
                           GLib.Variant("b", True), conn=nobody)
        self.set_prop(allowed, DOMAIN_IFACE, "Autostart", GLib.Variant("b", True), conn=nobody)
        self.assertTrue(os.path.islink(self.autostart_link("allowed-vm")))
        # DefineXML names its domain too: redefining allowed-vm is allowed, other-vm not
        bigger = domain_xml("allowed-vm", UUID1).replace("<memory unit='MiB'>128",
                                                         "<memory unit='MiB'>256")
        self.assertEqual(self.manager("DefineXML", "su", (bigger, 0), conn=nobody), allowed)
        self.assertEqual(self.get_prop(allowed, DOMAIN_IFACE, "Memory"), 256 * 1024)
        self.assertRefused(define, self.manager, "DefineXML", "su",
                           (domain_xml("other-vm", UUID2).replace("128", "512"), 0), conn=nobody)
        self.assertEqual(self.get_prop(other, DOMAIN_IFACE, "Memory"), 128 * 1024)
        self.wait_check(action=define, user="nobody", domain="allowed-vm", uuid=UUID1,
                        verb="definexml")
        self.assertIn("<name>allowed-vm</name>",
                      self.domain(allowed, "GetXMLDesc", "u", (1,), conn=nobody))
        self.domain(allowed, "Undefine", "u", (0,), conn=nobody)

        self.assertEqual(self.manager("ListDomains", "u", (0,)), [other])
        self.assertFalse(os.path.exists(self.config("allowed-vm")))
        self.assertTrue(os.path.exists(self.config("other-vm")))
        self.assertFalse(self.get_prop(other, DOMAIN_IFACE, "Autostart"))
        self.assertFalse(os.path.lexists(self.autostart_link("other-vm")))
        # the details polkitd saw: domain, uuid and verb of each call
        self.wait_check(action=define, user="nobody", domain="allowed-vm", uuid=UUID1,
                        verb="undefine")
        self.wait_check(action=define, user="nobody", domain="other-vm", uuid=UUID2,
                        verb="undefine")
        self.wait_check(action=define, user="nobody", domain="allowed-vm", uuid=UUID1,
                        verb="set:autostart")


class AgentRuleTest(PolkitTestCase):
    """The guest agent's actions (issue 13, part agent): nobody may talk to the guest
    (attach) but not send raw agent commands (agent, auth_admin by default)."""
    rules = r"""
polkit.addRule(function(action, subject) {
    if (action.id == "org.virtbus.Virt1.attach" && subject.user == "nobody")
        return polkit.Result.YES;
});
"""

    def test_raw_agent_commands_need_their_own_action(self):
        path = self.define("vm1", UUID1)
        nobody = self.nobody()
        agent = "org.virtbus.Virt1.agent"
        # refused before anything runs: no job, no taint, whatever the domain's state
        self.assertRefused(agent, self.domain, path, "QemuAgentCommand", "siu",
                           ('{"execute":"guest-ping"}', -1, 0), conn=nobody)
        self.wait_check(action=agent, user="nobody", domain="vm1", uuid=UUID1,
                        verb="qemuagentcommand")
        # attach passes: the call reaches the domain (not running) and fails there
        for method, sig, args in (("FSFreeze", "asu", ([], 0)), ("FSThaw", "asu", ([], 0)),
                                  ("GetFSInfo", "u", (0,)), ("SetTime", "tuu", (0, 0, 1)),
                                  ("GetGuestInfo", "uu", (0, 0)),
                                  ("SetUserPassword", "ssu", ("root", "x", 0))):
            self.assertDBusError("OperationInvalid", self.domain, path, method, sig, args,
                                 conn=nobody)
        self.wait_check(action="org.virtbus.Virt1.attach", user="nobody", domain="vm1",
                        uuid=UUID1, verb="fsfreeze")
        # reads of the guest's clock and name are read
        self.assertDBusError("OperationInvalid", self.domain, path, "GetTime", "u", (0,),
                             conn=nobody)
        self.assertDBusError("OperationInvalid", self.domain, path, "GetHostname", "u", (0,),
                             conn=nobody)
        # agent-mode shutdown is still manage
        self.assertRefused("org.virtbus.Virt1.manage", self.domain, path, "Shutdown", "u",
                           (2,), conn=nobody)
        self.assertEqual(self.nobody_checks(agent)[0]["verb"], "qemuagentcommand")
        # root may send it (here: the domain is not running)
        self.assertDBusError("OperationInvalid", self.domain, path, "QemuAgentCommand", "siu",
                             ('{"execute":"guest-ping"}', -1, 0))

    def test_snapshots_need_the_snapshot_action(self):
        """issue 15, part snapbus: taking, reverting and deleting need
        org.virtbus.Virt1.snapshot; listing and reading are reads."""
        img = os.path.join(self.tmp, "snap.qcow2")
        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", img, "16M"], check=True)
        xml = domain_xml("vm1", UUID1).replace(
            "</devices>", f"<disk type='file' device='disk'><driver name='qemu' type='qcow2'/>"
            f"<source file='{img}'/><target dev='vda' bus='virtio'/></disk></devices>")
        path = self.manager("DefineXML", "su", (xml, 0))
        nobody = self.nobody()
        snapshot = "org.virtbus.Virt1.snapshot"
        self.assertRefused(snapshot, self.domain, path, "SnapshotCreateXML", "su",
                           ("<domainsnapshot><name>s1</name></domainsnapshot>", 0), conn=nobody)
        self.wait_check(action=snapshot, user="nobody", domain="vm1", uuid=UUID1,
                        verb="snapshotcreatexml")
        self.assertEqual(self.domain(path, "ListSnapshots", "u", (0,), conn=nobody), [])
        s1 = self.snapshot_create(path, "<domainsnapshot><name>s1</name></domainsnapshot>")
        self.assertEqual(self.domain(path, "ListSnapshots", "u", (0,), conn=nobody), [s1])
        self.assertEqual(self.domain(path, "SnapshotCurrent", "u", (0,), conn=nobody), s1)
        snap_iface = "org.virtbus.Virt1.Snapshot"
        self.assertEqual(self.get_prop(s1, snap_iface, "Name", conn=nobody), "s1")
        self.assertIn("<name>s1</name>",
                      self.call(s1, snap_iface, "GetXMLDesc", "u", (0,), conn=nobody)[0])
        self.assertRefused("org.virtbus.Virt1.define", self.call, s1, snap_iface, "GetXMLDesc",
                           "u", (1,), conn=nobody)
        for method in ("Revert", "Delete"):
            self.assertRefused(snapshot, self.call, s1, snap_iface, method, "u", (0,),
                               conn=nobody)
        self.wait_check(action=snapshot, user="nobody", domain="vm1", uuid=UUID1, verb="delete")
        # nothing changed: root still sees it
        self.assertEqual(self.domain(path, "ListSnapshots", "u", (0,)), [s1])
        self.assertEqual(self.domain(path, "Undefine", "u", (2,)), ())


class NewDefinitionRuleTest(PolkitTestCase):
    """nobody may manage and save any domain, but define only allowed-vm:
    whatever brings a new definition (CreateXML, Restore) needs define on
    the domain it brings."""

    rules = r"""
polkit.addRule(function(action, subject) {
    if (subject.user != "nobody")
        return polkit.Result.NOT_HANDLED;
    if (action.id == "org.virtbus.Virt1.manage" || action.id == "org.virtbus.Virt1.save")
        return polkit.Result.YES;
    if (action.id == "org.virtbus.Virt1.define" && action.lookup("domain") == "allowed-vm")
        return polkit.Result.YES;
    return polkit.Result.NOT_HANDLED;
});
"""

    def test_createxml_needs_define(self):
        define, manage = "org.virtbus.Virt1.define", "org.virtbus.Virt1.manage"
        marker = os.path.join(self.tmp, "emulator-ran")
        script = os.path.join(self.tmp, "emulator.sh")
        with open(script, "w") as f:
            f.write(f"#!/bin/sh\ntouch {marker}\nexec /usr/bin/qemu-system-x86_64 \"$@\"\n")
        os.chmod(script, 0o755)
        xml = domain_xml("other-vm", UUID2).replace("/usr/bin/qemu-system-x86_64", script)
        nobody = self.nobody()
        self.assertRefused(define, self.manager, "CreateXML", "su", (xml, 0), conn=nobody)
        # manage passed, define was asked naming the domain, and refused
        self.wait_check(action=manage, user="nobody", domain="other-vm", uuid=UUID2,
                        verb="createxml")
        self.wait_check(action=define, user="nobody", domain="other-vm", uuid=UUID2,
                        verb="createxml")
        self.assertFalse(os.path.exists(marker), "the caller's emulator ran as root")
        self.assertEqual(self.manager("ListDomains", "u", (0,)), [])
        # with define on the domain, CreateXML works for the same caller
        path = self.manager("CreateXML", "su", (domain_xml("allowed-vm", UUID1), 0),
                            conn=nobody, timeout=60000)
        self.assertEqual(self.get_prop(path, DOMAIN_IFACE, "State"), "running")
        self.domain(path, "Destroy", "u", (0,), conn=nobody)

    def test_restore_needs_define_on_the_image_domain(self):
        save, define = "org.virtbus.Virt1.save", "org.virtbus.Virt1.define"
        allowed = self.define("allowed-vm", UUID1)
        other = self.define("other-vm", UUID2)
        nobody = self.nobody()
        self.domain(allowed, "Start", "u", (0,), conn=nobody, timeout=60000)
        # nobody saves only where it could write itself, and replaces only its own files
        shared = os.path.join(self.tmp, "shared")
        os.mkdir(shared)
        os.chmod(shared, 0o1777)
        roots = os.path.join(shared, "roots.save")
        with open(roots, "w") as f:
            f.write("root's")
        for target, words in ((os.path.join(self.tmp, "x.save"), "belongs to uid 0"),
                              (roots, "belongs to uid 0, not to the caller")):
            e = self.assertDBusError("InvalidArgument", self.domain, allowed, "Save", "ssu",
                                     (target, "", 0), conn=nobody)
            self.assertIn(words, e.message)
        self.assertFalse(os.path.exists(os.path.join(self.tmp, "x.save")))
        with open(roots) as f:
            self.assertEqual(f.read(), "root's")
        image = os.path.join(shared, "allowed.save")
        job = self.domain(allowed, "Save", "ssu", (image, "", 0), conn=nobody, timeout=60000)
        self.call(job, "org.virtbus.Virt1.Job", "Wait", conn=nobody, timeout=60000)
        self.assertEqual(os.stat(image).st_uid, NOBODY_UID)
        self.wait_check(action=save, user="nobody", verb="save", path=image,
                        domain="allowed-vm", uuid=UUID1)
        # an image of other-vm, made by hand
        forged = os.path.join(self.tmp, "other.save")
        with open(forged, "wb") as f:
            f.write(save_image_bytes(domain_xml("other-vm", UUID2), body=b"\0" * 4096))
        self.assertRefused(define, self.manager, "Restore", "ssu", (forged, "", 0), conn=nobody)
        # first the arguments (save, the path), then the image's domain (save and define)
        self.wait_check(action=save, user="nobody", verb="restore", path=forged,
                        domain="undefined")
        self.wait_check(action=save, user="nobody", verb="restore", path=forged,
                        domain="other-vm", uuid=UUID2)
        self.wait_check(action=define, user="nobody", verb="restore", path=forged,
                        domain="other-vm", uuid=UUID2)
        self.assertEqual(self.get_prop(other, DOMAIN_IFACE, "State"), "shutoff")
        self.assertEqual(self.get_prop(other, DOMAIN_IFACE, "Job"), "/")
        # another user's image is not read for nobody (root's and its own are)
        theirs = os.path.join(shared, "theirs.save")
        shutil.copy(image, theirs)
        os.chown(theirs, 4242, 4242)
        e = self.assertDBusError("InvalidArgument", self.manager, "Restore", "ssu",
                                 (theirs, "", 0), conn=nobody)
        self.assertIn("belongs to uid 4242", e.message)
        self.assertEqual(self.get_prop(allowed, DOMAIN_IFACE, "State"), "shutoff")
        # allowed-vm's own image: save and define on allowed-vm pass
        job = self.manager("Restore", "ssu", (image, "", 0), conn=nobody)
        self.call(job, "org.virtbus.Virt1.Job", "Wait", conn=nobody, timeout=60000)
        self.assertEqual(self.get_prop(allowed, DOMAIN_IFACE, "State"), "running")
        self.wait_check(action=define, user="nobody", verb="restore", path=image,
                        domain="allowed-vm", uuid=UUID1)
        self.domain(allowed, "Destroy", "u", (0,))


class ReadDeniedTest(PolkitTestCase):
    rules = r"""
polkit.addRule(function(action, subject) {
    if (action.id == "org.virtbus.Virt1.read" && subject.user == "nobody")
        return polkit.Result.NO;
});
"""

    def test_reads_refused_to_nobody_only(self):
        path = self.define("vm1", UUID1)
        nobody = self.nobody()
        read = "org.virtbus.Virt1.read"
        self.assertRefused(read, self.manager, "ListDomains", "u", (0,), conn=nobody)
        self.assertRefused(read, self.manager, "LookupByName", "s", ("vm1",), conn=nobody)
        self.assertRefused(read, self.get_prop, path, DOMAIN_IFACE, "Name", conn=nobody)
        self.assertRefused(read, self.get_all, path, DOMAIN_IFACE, conn=nobody)
        self.assertRefused(read, self.get_prop, MANAGER_PATH, MANAGER_IFACE, "HostUUID",
                           conn=nobody)
        self.assertRefused(read, self.managed_objects, conn=nobody)
        self.assertRefused(read, self.domain, path, "GetXMLDesc", "u", (0,), conn=nobody)
        # refusals are not cached as permissions: still refused
        self.assertRefused(read, self.get_prop, path, DOMAIN_IFACE, "Name", conn=nobody)
        eventually(lambda: len(self.nobody_checks(read)) >= 8, timeout=5,
                   what="polkitd to log 8 read checks")
        # root still reads
        self.assertEqual(self.manager("ListDomains", "u", (0,)), [path])
        self.assertEqual(self.get_prop(path, DOMAIN_IFACE, "Name"), "vm1")
        self.assertIn(path, self.managed_objects())
        self.assertIn("<name>vm1</name>", self.domain(path, "GetXMLDesc", "u", (0,)))


class DomainReadRuleTest(PolkitTestCase):
    """Issue 9 item 14: a rule that lets nobody read one domain only. A
    passed read check used to be remembered per connection, so after one
    read of allowed-vm every read of other-vm went through unasked."""

    rules = r"""
polkit.addRule(function(action, subject) {
    if (action.id == "org.virtbus.Virt1.read" && subject.user == "nobody") {
        var d = action.lookup("domain");
        return d === undefined || d == "allowed-vm" ? polkit.Result.YES : polkit.Result.NO;
    }
});
"""

    def test_reads_limited_by_domain(self):
        allowed = self.define("allowed-vm", UUID1)
        other = self.define("other-vm", UUID2)
        nobody = self.nobody()
        read = "org.virtbus.Virt1.read"
        for _ in range(2):      # the second round: everything remembered must hold
            self.assertEqual(self.get_prop(allowed, DOMAIN_IFACE, "Name", conn=nobody),
                             "allowed-vm")
            self.assertEqual(self.get_all(allowed, DOMAIN_IFACE, conn=nobody)["UUID"], UUID1)
            self.assertIn("<name>allowed-vm</name>",
                          self.domain(allowed, "GetXMLDesc", "u", (0,), conn=nobody))
            # the other domain, after reads that passed
            self.assertRefused(read, self.get_prop, other, DOMAIN_IFACE, "Name", conn=nobody)
            self.assertRefused(read, self.get_prop, other, DOMAIN_IFACE, "Memory", conn=nobody)
            self.assertRefused(read, self.get_all, other, DOMAIN_IFACE, conn=nobody)
            self.assertRefused(read, self.domain, other, "GetXMLDesc", "u", (0,), conn=nobody)
            self.assertRefused(read, self.domain, other, "GetControlInfo", conn=nobody)
            # GetManagedObjects returns only what the caller may read
            objs = self.managed_objects(conn=nobody)
            self.assertEqual(set(objs), {allowed})
            self.assertEqual(objs[allowed][DOMAIN_IFACE]["Name"], "allowed-vm")
            # lists and lookups name their domains too
            self.assertEqual(self.manager("ListDomains", "u", (0,), conn=nobody), [allowed])
            # statistics (issue 13, part stats): per domain, and the Manager's list filtered
            self.assertEqual(self.domain(allowed, "GetStats", "uu", (1, 0), conn=nobody),
                             {"state.state": 5, "state.reason": 0})
            self.assertRefused(read, self.domain, other, "GetStats", "uu", (1, 0), conn=nobody)
            self.assertEqual(self.manager("GetAllDomainStats", "uu", (1, 0), conn=nobody),
                             [("allowed-vm", {"state.state": 5, "state.reason": 0})])
            self.assertEqual(self.manager("LookupByName", "s", ("allowed-vm",), conn=nobody),
                             allowed)
            self.assertEqual(self.manager("LookupByUUID", "s", (UUID1,), conn=nobody), allowed)
            self.assertRefused(read, self.manager, "LookupByName", "s", ("other-vm",),
                               conn=nobody)
            self.assertRefused(read, self.manager, "LookupByUUID", "s", (UUID2,), conn=nobody)
            # reads without a domain (the rule allows them)
            self.assertDBusError("NoDomain", self.manager, "LookupByName", "s", ("none",),
                                 conn=nobody)
            self.assertEqual(self.get_prop(MANAGER_PATH, MANAGER_IFACE, "Version", conn=nobody),
                             self.get_prop(MANAGER_PATH, MANAGER_IFACE, "Version"))
        # polkitd was asked about the other domain by name, for each verb
        for verb in ("get", "getall", "getxmldesc", "getmanagedobjects", "listdomains",
                     "lookupbyname", "lookupbyuuid", "getstats", "getalldomainstats"):
            self.wait_check(action=read, user="nobody", domain="other-vm", uuid=UUID2,
                            verb=verb)
        # root reads everything
        self.assertEqual(set(self.managed_objects()), {allowed, other})
        self.assertEqual(set(self.manager("ListDomains", "u", (0,))), {allowed, other})
        self.assertEqual({n for n, _ in self.manager("GetAllDomainStats", "uu", (1, 0))},
                         {"allowed-vm", "other-vm"})
        self.assertEqual(self.get_prop(other, DOMAIN_IFACE, "Name"), "other-vm")
        self.assertIsNone(self.service.proc.poll())

    def test_reads_answered_in_the_filter_keep_the_rules(self):
        """Issue 16: a Get or GetAll whose read check the caller passed is answered by
        the connection filter (GDBus's worker thread) from the skeleton. The values are
        the current ones, polkit is asked once per object and verb, what was not passed
        (another domain) is still refused, and errors and vanished objects are answered
        as before."""
        allowed = self.define("allowed-vm", UUID1)
        other = self.define("other-vm", UUID2)
        nobody = self.nobody()
        read = "org.virtbus.Virt1.read"
        for _ in range(20):
            self.assertEqual(self.get_prop(allowed, DOMAIN_IFACE, "State", conn=nobody),
                             "shutoff")
            self.assertEqual(self.get_all(allowed, DOMAIN_IFACE, conn=nobody)["Name"],
                             "allowed-vm")
            self.assertRefused(read, self.get_prop, other, DOMAIN_IFACE, "State", conn=nobody)
        self.wait_check(action=read, user="nobody", domain="allowed-vm", verb="getall")
        asked = [(c["domain"], c["verb"]) for c in self.nobody_checks(read)]
        self.assertEqual(asked.count(("allowed-vm", "get")), 1, asked)
        self.assertEqual(asked.count(("allowed-vm", "getall")), 1, asked)
        self.assertGreaterEqual(asked.count(("other-vm", "get")), 20, asked)
        # a change is seen at once by reads answered in the filter
        for value in (True, False, True):
            self.set_prop(allowed, DOMAIN_IFACE, "Autostart", GLib.Variant("b", value))
            self.assertEqual(self.get_prop(allowed, DOMAIN_IFACE, "Autostart", conn=nobody),
                             value)
            self.assertEqual(self.get_all(allowed, DOMAIN_IFACE, conn=nobody)["Autostart"],
                             value)
        # GDBus's own answers to what the skeleton does not have
        self.assertDBusError("org.freedesktop.DBus.Error.InvalidArgs", self.get_prop, allowed,
                             DOMAIN_IFACE, "NoSuchProperty", conn=nobody)
        # an object gone: no value from the filter, the error names the domain's absence
        self.domain(allowed, "Undefine", "u", (0,))
        self.assertDBusError("NoDomain", self.get_prop, allowed, DOMAIN_IFACE, "State",
                             conn=nobody)
        self.assertIsNone(self.service.proc.poll())

    def test_job_reads_name_their_domain(self):
        """A Job object's properties are the domain's: the check names it."""
        other = self.define("other-vm", UUID2)
        self.domain(other, "Start", "u", (0,), timeout=60000)
        try:
            job = self.domain(other, "CoreDump", "su", (os.path.join(self.tmp, "core"), 0))
            self.call(job, "org.virtbus.Virt1.Job", "Wait", timeout=60000)
            nobody = self.nobody()
            read = "org.virtbus.Virt1.read"
            self.assertRefused(read, self.get_prop, job, "org.virtbus.Virt1.Job", "Operation",
                               conn=nobody)
            self.assertRefused(read, self.get_all, job, "org.virtbus.Virt1.Job", conn=nobody)
            self.assertRefused(read, self.call, job, "org.virtbus.Virt1.Job", "Wait",
                               conn=nobody)
            self.assertEqual(self.managed_objects(conn=nobody), {})
            self.wait_check(action=read, user="nobody", domain="other-vm", uuid=UUID2,
                            verb="get")
            # root sees the job
            self.assertEqual(self.get_prop(job, "org.virtbus.Virt1.Job", "Operation"), "dump")
        finally:
            self.domain(other, "Destroy", "u", (0,))


class MigrationRuleTest(PolkitTestCase):
    """The migration methods (issue 11): `daemon` may migrate and define vm1
    only, `sys` may migrate anything but define nothing, `bin` may not read,
    `nobody` has the defaults (read only). Host A (this test's service, with
    --polkit) is the source and then the destination of the tiny guest; host
    B (a second service on its own bus) the other end, driven by root. A
    refused call changes nothing: no job, no domain, no QEMU, no port."""

    rules = r"""
polkit.addRule(function(action, subject) {
    var migrate = action.id == "org.virtbus.Virt1.migrate";
    var define = action.id == "org.virtbus.Virt1.define";
    if (subject.user == "daemon" && (migrate || define))
        return action.lookup("domain") == "vm1" ? polkit.Result.YES : polkit.Result.NO;
    if (subject.user == "sys" && (migrate || define))
        return migrate ? polkit.Result.YES : polkit.Result.NO;
    if (subject.user == "bin" && action.id == "org.virtbus.Virt1.read")
        return polkit.Result.NO;
});
"""
    MIGRATE, DEFINE, READ = ("org.virtbus.Virt1.migrate", "org.virtbus.Virt1.define",
                             "org.virtbus.Virt1.read")
    LIVE, P2P, TUNNELLED, PERSIST_DEST = (vbmigrate.LIVE, vbmigrate.P2P, vbmigrate.TUNNELLED,
                                          vbmigrate.PERSIST_DEST)

    def setUp(self):
        vbmigrate.require_guest(self)
        super().setUp()
        self.host_b = vbmigrate.SecondHost(self.tmp)
        try:
            self.host_b.start()
        except BaseException:
            super().tearDown()
            raise
        self.serial = os.path.join(self.tmp, "serial.log")

    def tearDown(self):
        problems = self.host_b.stop(self, show_log=self._outcome_failed())
        super().tearDown()
        if problems:
            self.fail("host B: " + "\n".join(problems))

    def b(self, path, iface, method, sig=None, args=(), **kw):
        r = self.call(path, iface, method, sig, args, conn=self.host_b.conn, **kw)
        return r[0] if r and len(r) == 1 else r

    def b_domains(self):
        return self.b(MANAGER_PATH, MANAGER_IFACE, "ListDomains", "u", (0,))

    def listening(self, pid):
        """The TCP ports process @pid listens on."""
        inodes = set()
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if link.startswith("socket:["):
                inodes.add(link[8:-1])
        ports = set()
        for table in ("/proc/net/tcp", "/proc/net/tcp6"):
            with open(table) as f:
                for line in f.readlines()[1:]:
                    cols = line.split()
                    if cols[3] == "0A" and cols[9] in inodes:
                        ports.add(int(cols[1].rsplit(":", 1)[1], 16))
        return ports

    def assert_untouched(self, path, want_state):
        """What a refused call must leave: the state, no job, the same QEMU
        (listening on no migration port), nothing on B."""
        self.assertEqual(vbmigrate.state(self, path), want_state)
        vbmigrate.assert_no_job(self, path)
        pids = vbtest.status_pids(self.root)
        self.assertEqual(len(pids), 1 if want_state[0] == "running" else 0, pids)
        for pid in pids:
            self.assertEqual(self.listening(pid), set())
        self.assertEqual(len(self.manager("ListDomains", "u", (0,))), 1)

    def checked(self, action, user, verb):
        self.wait_check(action=action, user=user, verb=verb, domain="vm1", uuid=vbmigrate.UUID)

    def test_migration_methods(self):
        M, D = self.MIGRATE, self.DEFINE
        LIVE, P2P = self.LIVE, self.P2P
        nobody, daemon = self.nobody(), self.user("daemon", "daemon")
        sys_, bin_ = self.user("sys", "sys"), self.user("bin", "bin")
        xml = vbmigrate.guest_xml("vm1", vbmigrate.UUID, self.serial)
        path = self.manager("DefineXML", "su", (xml, 0))
        self.domain(path, "Start", "u", (0,), timeout=60000)
        vbmigrate.wait_booted(self.serial)
        running = ("running", "booted")
        dest = self.host_b.address

        # -- the source's methods, refused: nothing starts, nothing changes --
        speed = self.domain(path, "MigrateGetMaxSpeed", "u", (0,))
        downtime = self.domain(path, "MigrateGetMaxDowntime", "u", (0,))
        for who in (nobody, bin_):
            for method, sig, args in (
                    ("MigrateBegin", "su", ("", LIVE)),
                    ("MigratePerform", "aysa{sv}u", (b"x", "tcp:127.0.0.1:49152", {}, LIVE)),
                    ("MigrateConfirm", "ayub", (b"", LIVE, True)),
                    ("Migrate", "sa{sv}u", (dest, {}, LIVE | P2P)),
                    ("MigrateStartPostCopy", "u", (0,)),
                    ("MigrateSetMaxSpeed", "tu", (1, 0)),
                    ("MigrateSetMaxDowntime", "tu", (7, 0))):
                with self.subTest(user=who.uid, method=method):
                    self.assertRefused(M, self.domain, path, method, sig, args, conn=who)
                    self.checked(M, "nobody" if who is nobody else "bin", method.lower())
        self.assert_untouched(path, running)
        self.assertEqual(self.b_domains(), [])
        # the reads need read: nobody has it, bin not
        self.assertEqual(self.domain(path, "MigrateGetMaxSpeed", "u", (0,), conn=nobody), speed)
        self.assertEqual(self.domain(path, "MigrateGetMaxDowntime", "u", (0,), conn=nobody),
                         downtime)
        for method in ("MigrateGetMaxSpeed", "MigrateGetMaxDowntime"):
            self.assertRefused(self.READ, self.domain, path, method, "u", (0,), conn=bin_)
            self.checked(self.READ, "bin", method.lower())
        # sys may migrate, but a peer-to-peer Migrate with its own XML needs define
        for param in ("destination_xml", "persistent_xml"):
            self.assertRefused(D, self.domain, path, "Migrate", "sa{sv}u",
                               (dest, {param: GLib.Variant("s", xml)}, LIVE | P2P), conn=sys_)
        self.checked(D, "sys", "migrate")
        self.assert_untouched(path, running)
        self.assertEqual(self.b_domains(), [])

        # -- allowed: daemon, on vm1 --
        self.domain(path, "MigrateSetMaxSpeed", "tu", (100, 0), conn=daemon)
        self.domain(path, "MigrateSetMaxDowntime", "tu", (400, 0), conn=daemon)
        self.assertEqual(self.domain(path, "MigrateGetMaxSpeed", "u", (0,), conn=daemon), 100)
        self.assertEqual(self.domain(path, "MigrateGetMaxDowntime", "u", (0,), conn=daemon), 400)
        # past the checks: refused for what it is (no post-copy migration runs)
        self.assertDBusError("OperationInvalid", self.domain, path, "MigrateStartPostCopy", "u",
                             (0,), conn=daemon)
        self.domain(path, "MigrateBegin", "su", ("", LIVE), conn=daemon)
        self.assertNotEqual(self.domain(path, "GetControlInfo").get("async_job", ""), "")
        self.domain(path, "MigrateConfirm", "ayub", (b"", LIVE, True), conn=daemon)
        vbmigrate.assert_no_job(self, path)
        # client-driven A -> B: daemon drives A's phases, root B's
        mxml, c1 = self.domain(path, "MigrateBegin", "su", ("", LIVE), conn=daemon)
        c2, uri, dpath = self.b(MANAGER_PATH, MANAGER_IFACE, "MigratePrepare", "saysu",
                                (mxml, bytes(c1), "tcp://127.0.0.1", LIVE))
        job = self.domain(path, "MigratePerform", "aysa{sv}u", (bytes(c2), uri, {}, LIVE),
                          conn=daemon)
        res = self.call(job, vbmigrate.JOB_IFACE, "Wait", conn=daemon, timeout=120000)[0]
        _, c4 = self.b(MANAGER_PATH, MANAGER_IFACE, "MigrateFinish", "ayub",
                       (bytes(res["cookie"]), LIVE, False))
        self.domain(path, "MigrateConfirm", "ayub", (bytes(c4), LIVE, False), conn=daemon)
        self.assertEqual(vbmigrate.state(self, path), ("shutoff", "migrated"))
        self.assertEqual(vbmigrate.state(self, dpath, conn=self.host_b.conn),
                         ("running", "migrated"))
        vbmigrate.assert_ticks_on(self, self.serial)

        # -- the destination's methods on A, refused --
        shutoff = ("shutoff", "migrated")
        mxml, c1 = self.b(dpath, DOMAIN_IFACE, "MigrateBegin", "su", ("", LIVE))
        c1 = bytes(c1)
        args = (mxml, c1, "tcp://127.0.0.1", LIVE)
        self.assertRefused(M, self.manager, "MigratePrepare", "saysu", args, conn=nobody)
        self.checked(M, "nobody", "migrateprepare")
        # define is asked too, naming the domain of the call's XML
        self.assertRefused(D, self.manager, "MigratePrepare", "saysu", args, conn=sys_)
        self.checked(D, "sys", "migrateprepare")
        self.assertRefused(M, self.manager, "MigratePrepare", "saysu",
                           (mxml.replace("<name>vm1</name>", "<name>vm2</name>"),) + args[1:],
                           conn=daemon)
        self.wait_check(action=M, user="daemon", verb="migrateprepare", domain="vm2")
        tflags = LIVE | self.TUNNELLED
        for who, action in ((nobody, M), (sys_, D)):
            self.assertRefused(action, self.manager, "MigratePrepareTunnel", "sayu",
                               (mxml, c1, tflags), conn=who)
        self.assert_untouched(path, shutoff)
        self.b(dpath, DOMAIN_IFACE, "MigrateConfirm", "ayub", (b"", LIVE, True))

        # the tunnel: only its preparer feeds it, whoever else may migrate
        mxml, c1 = self.b(dpath, DOMAIN_IFACE, "MigrateBegin", "su", ("", LIVE))
        c2, tpath = self.manager("MigratePrepareTunnel", "sayu", (mxml, bytes(c1), tflags),
                                 conn=daemon, timeout=60000)
        self.assertEqual(tpath, path)
        self.assertEqual(vbmigrate.state(self, path), ("paused", "migration"))
        self.checked(D, "daemon", "migratepreparetunnel")
        self.assertRefused(M, self.manager, "MigrateTunnelData", "otay", (tpath, 0, b"QEVM"),
                           conn=nobody)
        for who in (sys_, self.conn):
            e = self.assertDBusError("NotAuthorized", self.manager, "MigrateTunnelData", "otay",
                                     (tpath, 0, b"QEVM"), conn=who)
            self.assertIn("prepared", e.message)
            e = self.assertDBusError("NotAuthorized", self.manager, "MigrateTunnelEnd", "otb",
                                     (tpath, 0, True), conn=who)
            self.assertIn("prepared", e.message)
        self.assertEqual(vbmigrate.state(self, path), ("paused", "migration"))
        self.manager("MigrateTunnelEnd", "otb", (tpath, 0, True), conn=daemon)
        # (QEMU fails the stream and exits: the reason is crashed)
        eventually(lambda: vbmigrate.state(self, path)[0] == "shutoff",
                   what="the incoming domain to be given up")
        eventually(lambda: vbtest.status_pids(self.root) == set(), what="A's QEMU to end")
        self.b(dpath, DOMAIN_IFACE, "MigrateConfirm", "ayub", (b"", LIVE, True))
        vbmigrate.assert_no_job(self, path, conn=None)
        vbmigrate.assert_no_job(self, dpath, conn=self.host_b.conn)

        # -- allowed: B -> A with daemon on A's phases --
        mxml, c1 = self.b(dpath, DOMAIN_IFACE, "MigrateBegin", "su", ("", LIVE))
        c2, uri, path2 = self.manager("MigratePrepare", "saysu",
                                      (mxml, bytes(c1), "tcp://127.0.0.1", LIVE), conn=daemon,
                                      timeout=60000)
        self.assertEqual(path2, path)
        self.checked(D, "daemon", "migrateprepare")
        job = self.b(dpath, DOMAIN_IFACE, "MigratePerform", "aysa{sv}u",
                     (bytes(c2), uri, {}, LIVE))
        res = vbmigrate.wait_job(self, job, conn=self.host_b.conn)
        c3 = bytes(res["cookie"])
        # Finish needs migrate; with PERSIST_DEST (it writes the definition) define too
        self.assertRefused(M, self.manager, "MigrateFinish", "ayub", (c3, LIVE, False),
                           conn=nobody)
        self.checked(M, "nobody", "migratefinish")
        self.assertRefused(D, self.manager, "MigrateFinish", "ayub",
                           (c3, LIVE | self.PERSIST_DEST, False), conn=sys_)
        self.checked(D, "sys", "migratefinish")
        self.assertEqual(vbmigrate.state(self, path), ("paused", "migration"))
        self.assertNotEqual(self.get_prop(path, DOMAIN_IFACE, "Job"), "/")
        fpath, c4 = self.manager("MigrateFinish", "ayub", (c3, LIVE | self.PERSIST_DEST, False),
                                 conn=daemon, timeout=60000)
        self.assertEqual(fpath, path)
        self.b(dpath, DOMAIN_IFACE, "MigrateConfirm", "ayub", (bytes(c4), LIVE, False))
        self.assertEqual(vbmigrate.state(self, path), ("running", "migrated"))
        vbmigrate.assert_no_job(self, path)
        vbmigrate.assert_ticks_on(self, self.serial)

        # -- allowed: peer-to-peer A -> B by daemon, with its own destination XML --
        job = self.domain(path, "Migrate", "sa{sv}u",
                          (dest, {"destination_xml": GLib.Variant("s", xml),
                                  "migrate_uri": GLib.Variant("s", "tcp://127.0.0.1")},
                           LIVE | P2P), conn=daemon)
        res = self.call(job, vbmigrate.JOB_IFACE, "Wait", conn=daemon, timeout=120000)[0]
        self.assertEqual(vbmigrate.state(self, path), ("shutoff", "migrated"))
        self.assertEqual(vbmigrate.state(self, res["domain"], conn=self.host_b.conn),
                         ("running", "migrated"))
        self.checked(D, "daemon", "migrate")
        vbmigrate.assert_ticks_on(self, self.serial)
        # root was never asked about
        self.assertEqual([c for c in self.polkitd.checks() if c["user"] == "root"], [])


class NoPolkitdTest(PolkitTestCase):
    run_polkitd = False

    def test_fails_closed_and_keeps_running(self):
        path = self.define("vm1", UUID1)
        nobody = self.nobody()
        define = "org.virtbus.Virt1.define"
        for fn, args in ((self.manager, ("DefineXML", "su", (domain_xml("vm2", UUID2), 0))),
                         (self.domain, (path, "Undefine", "u", (0,))),
                         (self.set_prop, (path, DOMAIN_IFACE, "Autostart",
                                          GLib.Variant("b", True)))):
            e = self.assertRefused(define, fn, *args, conn=nobody)
            self.assertRegex(e.message, r"\S+.*" + re.escape(define) + r".*\S+")
        # without polkitd even reads are refused (fail closed)
        self.assertRefused("org.virtbus.Virt1.read", self.manager, "ListDomains", "u", (0,),
                           conn=nobody)
        self.assertIsNone(self.service.proc.poll())
        self.assertFalse(os.path.exists(self.config("vm2")))
        self.assertFalse(os.path.lexists(self.autostart_link("vm1")))
        # root still works
        self.set_prop(path, DOMAIN_IFACE, "Autostart", GLib.Variant("b", True))
        self.assertTrue(self.get_prop(path, DOMAIN_IFACE, "Autostart"))
        self.domain(path, "Undefine", "u", (0,))
        self.assertEqual(self.manager("ListDomains", "u", (0,)), [])
        self.assertIsNone(self.service.proc.poll())

    def test_polkitd_started_late_and_restarted(self):
        path = self.define("vm1", UUID1)
        read = "org.virtbus.Virt1.read"
        # fresh connections each time: a passed read check is cached per caller
        self.assertRefused(read, self.manager, "ListDomains", "u", (0,), conn=self.nobody())
        self.polkitd.start()
        self.assertEqual(self.manager("ListDomains", "u", (0,), conn=self.nobody()), [path])
        self.polkitd.stop()
        self.assertRefused(read, self.manager, "ListDomains", "u", (0,), conn=self.nobody())
        self.polkitd.start()
        self.assertEqual(self.manager("ListDomains", "u", (0,), conn=self.nobody()), [path])
        self.assertIsNone(self.service.proc.poll())


class WithoutPolkitFlagTest(PolkitTestCase):
    """Private bus, no --polkit: only the service's uid (root) may call,
    whatever polkit would say; here polkitd would allow nobody anything."""

    use_polkit = False
    rules = r"""
polkit.addRule(function(action, subject) {
    if (subject.user == "nobody")
        return polkit.Result.YES;
});
"""

    def test_only_owner_uid(self):
        path = self.define("vm1", UUID1)
        nobody = self.nobody()
        only = "only uid 0 may use this service"
        for action, fn, args in (
                ("org.virtbus.Virt1.define", self.manager,
                 ("DefineXML", "su", (domain_xml("vm2", UUID2), 0))),
                ("org.virtbus.Virt1.define", self.domain, (path, "Undefine", "u", (0,))),
                ("org.virtbus.Virt1.define", self.set_prop,
                 (path, DOMAIN_IFACE, "Autostart", GLib.Variant("b", True))),
                ("org.virtbus.Virt1.read", self.manager, ("ListDomains", "u", (0,))),
                ("org.virtbus.Virt1.read", self.manager, ("LookupByName", "s", ("vm1",))),
                ("org.virtbus.Virt1.read", self.get_prop, (path, DOMAIN_IFACE, "Name")),
                ("org.virtbus.Virt1.read", self.get_all, (path, DOMAIN_IFACE)),
                ("org.virtbus.Virt1.read", self.managed_objects, ()),
                ("org.virtbus.Virt1.read", self.domain, (path, "GetXMLDesc", "u", (0,)))):
            e = self.assertRefused(action, fn, *args, conn=nobody)
            self.assertIn(only, e.message)
        # polkitd was never asked
        self.assertEqual(self.polkitd.checks(), [])
        self.assertTrue(self.polkitd.running())
        self.assertFalse(os.path.exists(self.config("vm2")))
        self.assertTrue(os.path.exists(self.config("vm1")))
        self.assertFalse(self.get_prop(path, DOMAIN_IFACE, "Autostart"))
        # root: everything
        self.set_prop(path, DOMAIN_IFACE, "Autostart", GLib.Variant("b", True))
        self.domain(path, "Undefine", "u", (0,))
        self.assertEqual(self.manager("ListDomains", "u", (0,)), [])


def setUpModule():
    missing = [p for p in (POLKITD, "/usr/bin/unshare", "/usr/bin/setpriv")
               if not os.path.exists(p)]
    if missing:
        raise unittest.SkipTest("missing " + ", ".join(missing))
    if os.geteuid() != 0:
        raise unittest.SkipTest("needs root (mount namespaces, setpriv, polkitd)")


def tearDownModule():
    _kill_leftovers()


if __name__ == "__main__":
    vbtest.main()
