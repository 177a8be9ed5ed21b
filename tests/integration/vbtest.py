# SPDX-License-Identifier: LGPL-2.1-or-later
"""Test harness: a private system-like dbus-daemon, the real virtbusd on
it with a temporary state root, and helpers to call it as a user would.

Each test file ends with `vbtest.main()`: it reports one TAP line per test
case on stdout (meson runs these files with protocol 'tap') and, under
VB_REQUIRE_ALL=1 (set by scripts/test.sh), reports a skipped test as a
failure.

Beyond what a test asserts, the harness fails a test when
- virtbusd exits with a status other than 0 when stopped (SIGTERM), also
  for a stop in the middle of a test, or dies of anything but the SIGKILL a
  test sends it (an ASan or UBSan report at shutdown ends it with an error);
- virtbusd's log holds a GLib CRITICAL of any log domain, a WARNING of a
  log domain that is not the service's own (GLib-GIO-CRITICAL,
  GLib-WARNING, Json-CRITICAL, ...) or a sanitizer report;
- a QEMU process of the test is left over: at the end of a test the
  harness destroys every running domain through the service, stops it, and
  then no QEMU of the test may remain; when the test stopped the service
  itself, every remaining QEMU must be recorded in a status file (the
  service leaves them for its next start). Leftovers are killed after being
  reported.
"""

import base64 as _base64
import json as _json
import os
import re
import socket as _socket
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

from gi.repository import Gio, GLib

SRCDIR = os.environ.get("VB_SRCDIR", os.path.abspath(os.path.join(os.path.dirname(__file__), "../..")))
BUILDDIR = os.environ.get("VB_BUILDDIR", os.path.join(SRCDIR, "build"))
VIRTBUSD = os.path.join(BUILDDIR, "service", "virtbusd")
VIRTBUSCTL = os.path.join(BUILDDIR, "client", "virtbusctl")

BUS_NAME = "org.virtbus.Virt1"
MANAGER_PATH = "/org/virtbus/Virt1"
MANAGER_IFACE = "org.virtbus.Virt1.Manager"
DOMAIN_IFACE = "org.virtbus.Virt1.Domain"
ERR = "org.virtbus.Virt1.Error."

MINIMAL_XML = """<domain type='qemu'>
  <name>{name}</name>
  {uuid}
  <memory unit='MiB'>128</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='q35'>hvm</type>
  </os>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
  </devices>
</domain>
"""


def domain_xml(name, uuid=None):
    return MINIMAL_XML.format(name=name, uuid=f"<uuid>{uuid}</uuid>" if uuid else "")


def eventually(fn, timeout=10.0, interval=0.02, what="condition"):
    """Polls fn() until it returns a true value; returns it, or fails."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


class PrivateBus:
    """A system-like dbus-daemon on a socket under @tmpdir/bus. @prefix is
    put before its command line (vbhosts: `ip netns exec NS`)."""

    def __init__(self, tmpdir, prefix=()):
        self.dir = os.path.join(tmpdir, "bus")
        os.makedirs(self.dir)
        os.chmod(tmpdir, 0o755)
        os.chmod(self.dir, 0o755)
        self.socket = os.path.join(self.dir, "system_bus_socket")
        with open(os.path.join(SRCDIR, "tests/bus/system.conf.in")) as f:
            conf = f.read()
        conf = conf.replace("@SOCKET@", self.socket).replace(
            "@POLICY@", os.path.join(SRCDIR, "data/org.virtbus.Virt1.conf"))
        self.conf = os.path.join(self.dir, "system.conf")
        with open(self.conf, "w") as f:
            f.write(conf)
        self.proc = subprocess.Popen(
            list(prefix) + ["dbus-daemon", "--config-file", self.conf, "--nofork",
                            "--print-address=1"],
            stdout=subprocess.PIPE, text=True)
        self.address = self.proc.stdout.readline().strip()
        if not self.address:
            raise RuntimeError("dbus-daemon did not start")

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)
        self.proc.stdout.close()


# GLib's standard log writer: "(prog:pid): DOMAIN-LEVEL **: time: message",
# "** (prog:pid): LEVEL **: ..." without a domain.
GLIB_LOG_RE = re.compile(r"(?:\(\S+:\d+\): )?(?:([A-Za-z][\w.-]*)-)?(CRITICAL|WARNING) \*\*")
SANITIZER_RE = re.compile(r"ERROR: (?:Address|Leak|Thread|Memory)Sanitizer|runtime error: ")
# The rest of a sanitizer report (frames, access, the frame's objects, summary): kept with
# its first line, so that a failure shows where, even with other threads' lines between.
SANITIZER_DETAIL_RE = re.compile(r"^\s+#\d+ 0x|^(?:READ|WRITE) of size|^Address 0x|"
                                 r"^\s+This frame has|^\s+\[\d+, \d+\) '|^SUMMARY: |"
                                 r"^Thread T\d+ created|^0x[0-9a-f]+ is located")


def log_problems(text):
    """The lines of a virtbusd log that fail a test: a GLib CRITICAL of any
    log domain, a WARNING of a domain other than the service's own
    (virtbus, virtbus-*), a sanitizer report."""
    bad = []
    detail = 0
    for line in text.splitlines():
        m = GLIB_LOG_RE.search(line)
        if m:
            domain, level = m.group(1) or "", m.group(2)
            if level == "CRITICAL" or not (domain == "virtbus" or domain.startswith("virtbus-")):
                bad.append(line)
                continue
        if SANITIZER_RE.search(line):
            bad.append(line)
            detail = 60
        elif detail > 0 and SANITIZER_DETAIL_RE.search(line):
            bad.append(line)
            detail = 0 if line.startswith("SUMMARY: ") else detail - 1
    return bad


class ServiceError(AssertionError):
    """virtbusd ended badly or logged what it must not (see the module doc)."""


class Service:
    """virtbusd on @bus with the state root @root. @prefix is put before its
    command line (vbhosts: `ip netns exec NS`)."""

    def __init__(self, bus, root, extra_args=(), env=None, prefix=()):
        self.prefix = list(prefix)
        self.bus = bus
        self.root = root
        self.log_path = os.path.join(root, "virtbusd.log")
        self.extra_args = list(extra_args)
        self.env = env
        self.proc = None
        self.log = None
        self.log_offset = 0
        self.problems = []

    def _check_run(self, rc, expect):
        """Problems of the run that just ended (exit status @rc)."""
        problems = []
        if expect is not None and rc != expect:
            what = (f"was killed by signal {-rc}" if rc < 0 else f"exited with status {rc}")
            problems.append(f"virtbusd {what} (expected {expect})")
        try:
            with open(self.log_path, errors="replace") as f:
                f.seek(self.log_offset)
                bad = log_problems(f.read())
        except FileNotFoundError:
            bad = []
        if bad:
            problems.append("virtbusd logged:\n  " + "\n  ".join(bad[:80]))
        return problems

    def start(self, wait=True):
        if self.proc is not None:
            # a previous run that the test ended itself (or that died): only
            # a SIGKILL sent by the test is a normal end
            rc = self.proc.wait(timeout=20)
            self.log.close()
            self.proc = None
            problems = self._check_run(rc, None if rc == -signal.SIGKILL else 0)
            if problems:
                raise ServiceError("before the restart: " + "; ".join(problems))
        env = dict(os.environ)
        env.update({"G_DEBUG": "fatal-criticals", "G_MESSAGES_DEBUG": "all"})
        if self.env:
            env.update(self.env)
        self.log = open(self.log_path, "a")
        self.log_offset = self.log.tell()
        cmd = self.prefix + list(os.environ.get("VB_WRAPPER", "").split()) + [
            VIRTBUSD, "--bus-address", self.bus.address, "--root", self.root] + self.extra_args
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT, env=env)
        if wait:
            self.wait_ready()

    def wait_ready(self, timeout=60):
        """Waits until virtbusd owns its name; raises if it exits first."""
        conn = connect(self.bus.address)
        try:
            eventually(lambda: self.proc.poll() is not None or name_has_owner(conn, BUS_NAME),
                       timeout=timeout, what="virtbusd to own its name")
        finally:
            conn.close_sync(None)
        if self.proc.poll() is not None:
            raise RuntimeError(f"virtbusd exited with {self.proc.returncode}:\n{self.read_log()}")

    def stop(self, check=True):
        """Stops virtbusd with SIGTERM (SIGKILL after 20 s) and returns its
        exit status (None when it was not started). With @check, raises
        ServiceError unless it exited with 0 (or had died of a SIGKILL the
        test sent before) and its log of this run is clean
        (log_problems())."""
        if self.proc is None:
            return None
        # ended before: by a SIGKILL of the test, or by itself
        ended = self.proc.poll() is not None
        if not ended:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        rc = self.proc.returncode
        self.log.close()
        self.proc = None
        self.problems = self._check_run(rc, None if ended and rc == -signal.SIGKILL else 0)
        if check and self.problems:
            raise ServiceError("; ".join(self.problems) + "\n---- virtbusd log ----\n"
                               + self.read_log()[-20000:])
        return rc

    def kill(self):
        """SIGKILLs virtbusd (a crash the test means) and waits for it."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.log.close()
            self.proc = None
            self.problems = self._check_run(-signal.SIGKILL, None)
            if self.problems:
                raise ServiceError("; ".join(self.problems))

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def read_log(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""


def connect(address):
    return Gio.DBusConnection.new_for_address_sync(
        address,
        Gio.DBusConnectionFlags.AUTHENTICATION_CLIENT | Gio.DBusConnectionFlags.MESSAGE_BUS_CONNECTION,
        None, None)


def name_has_owner(conn, name):
    r = conn.call_sync("org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
                       "NameHasOwner", GLib.Variant("(s)", (name,)), GLib.VariantType("(b)"),
                       Gio.DBusCallFlags.NONE, 5000, None)
    return r.unpack()[0]


def qemus_under(path):
    """{pid: command line} of the QEMU processes whose command line mentions
    @path (zombies left out)."""
    needle = path.encode()
    found = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmdline = f.read()
            with open(f"/proc/{pid}/stat", "rb") as f:
                state = f.read().rpartition(b")")[2].split()[0]
        except (OSError, IndexError):
            continue
        if needle in cmdline and b"qemu-system" in cmdline and state != b"Z":
            found[int(pid)] = cmdline.replace(b"\0", b" ").decode(errors="replace")
    return found


def kill_qemus_under(path):
    """SIGKILLs every QEMU process whose command line mentions @path; returns
    what qemus_under() found."""
    found = qemus_under(path)
    for pid in found:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    return found


STATUS_PID_RE = re.compile(r"<domstatus\b[^>]*\bpid='(\d+)'")


def status_pids(root):
    """The QEMU pids recorded in the status files under @root: the runs a
    stopped virtbusd leaves for its next start."""
    pids = set()
    for dirpath, _, files in os.walk(root):
        for name in files:
            if not name.endswith(".xml"):
                continue
            try:
                with open(os.path.join(dirpath, name), errors="replace") as f:
                    m = STATUS_PID_RE.search(f.read(4096))
            except OSError:
                continue
            if m and int(m.group(1)) > 0:
                pids.add(int(m.group(1)))
    return pids


class DBusCallError(Exception):
    def __init__(self, name, message):
        super().__init__(f"{name}: {message}")
        self.name = name
        self.message = message


class VirtbusTestCase(unittest.TestCase):
    """Each test gets its own bus, state root and virtbusd."""

    service_args = ()
    service_env = None        # environment variables added for virtbusd
    start_service = True

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="vbtest-")
        self.bus = PrivateBus(self.tmp)
        self.root = os.path.join(self.tmp, "root")
        os.makedirs(self.root)
        self.service = Service(self.bus, self.root, self.service_args, env=self.service_env)
        self.conn = None
        try:
            if self.start_service:
                self.service.start()
            self.conn = connect(self.bus.address)
        except BaseException:
            self.service.stop(check=False)
            sys.stderr.write(self.service.read_log()[-20000:])
            self.bus.stop()
            shutil.rmtree(self.tmp, ignore_errors=True)
            raise

    def tearDown(self):
        failed = self._outcome_failed()
        problems = []
        if self.conn is not None and not self.conn.is_closed():
            try:
                self.conn.close_sync(None)
            except GLib.Error:
                pass  # closed meanwhile: the bus and service still get stopped below
        if self.service.running():
            problems += self._destroy_all()
            stopped_by_test = False
        else:
            stopped_by_test = True
        rc = self.service.stop(check=False)
        if rc is not None:
            problems += self.service.problems
        problems += self.check_leftovers(stopped_by_test)
        if failed or problems:
            sys.stderr.write(f"\n---- virtbusd log ({self.id()}, exit {rc}) ----\n")
            sys.stderr.write(self.service.read_log()[-20000:])
            sys.stderr.write("\n---- end of log ----\n")
        self.bus.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)
        if problems:
            self.fail("\n".join(problems))

    def check_leftovers(self, stopped_by_test):
        """Kills every QEMU of this test (virtbusd stopped); returns one
        problem per QEMU that should not have been there: any, after the
        harness destroyed every domain; one that no status file records,
        after the test stopped the service (the others wait for its next
        start)."""
        known = status_pids(self.root) if stopped_by_test else set()
        why = "not in any status file" if stopped_by_test else "after Destroy of every domain"
        problems = []
        for pid, cmdline in sorted(kill_qemus_under(self.tmp).items()):
            if pid not in known:
                problems.append(f"QEMU pid {pid} left over ({why}): {cmdline[:300]}")
        return problems

    def _destroy_all(self):
        """Destroys every running domain through the service (as root);
        returns the problems met."""
        problems = []
        try:
            conn = connect(self.bus.address)
        except GLib.Error as e:
            return [f"cannot connect to the bus at the end of the test: {e.message}"]
        try:
            for path in self.call(MANAGER_PATH, MANAGER_IFACE, "ListDomains", "u", (1,),
                                  conn=conn)[0]:
                try:
                    self.call(path, DOMAIN_IFACE, "Destroy", "u", (0,), conn=conn)
                except DBusCallError as e:
                    # it may have ended (a transient one: gone) by itself meanwhile
                    if e.name not in (ERR + "OperationInvalid", ERR + "NoDomain",
                                      "org.freedesktop.DBus.Error.UnknownMethod",
                                      "org.freedesktop.DBus.Error.UnknownObject"):
                        problems.append(f"Destroy of {path} at the end of the test: {e}")
        except DBusCallError as e:
            problems.append(f"ListDomains at the end of the test: {e}")
        finally:
            conn.close_sync(None)
        return problems

    def _outcome_failed(self):
        outcome = getattr(self, "_outcome", None)
        if outcome is None:
            return False
        result = getattr(outcome, "result", None)
        if result is None:
            return False
        for test, _ in list(result.failures) + list(result.errors):
            if test is self:
                return True
        return False

    # -- calling the service --
    def call(self, path, iface, method, sig=None, args=(), reply=None, conn=None, timeout=30000):
        conn = conn or self.conn
        params = GLib.Variant(f"({sig})", tuple(args)) if sig else None
        try:
            r = conn.call_sync(BUS_NAME, path, iface, method, params,
                               GLib.VariantType(reply) if reply else None,
                               Gio.DBusCallFlags.NONE, timeout, None)
        except GLib.Error as e:
            name = Gio.DBusError.get_remote_error(e) or str(e)
            message = e.message
            prefix = f"GDBus.Error:{name}: "
            if message.startswith(prefix):
                message = message[len(prefix):]
            raise DBusCallError(name, message) from None
        return r.unpack() if r is not None else None

    def manager(self, method, sig=None, args=(), **kw):
        r = self.call(MANAGER_PATH, MANAGER_IFACE, method, sig, args, **kw)
        return r[0] if r and len(r) == 1 else r

    def domain(self, path, method, sig=None, args=(), **kw):
        r = self.call(path, DOMAIN_IFACE, method, sig, args, **kw)
        return r[0] if r and len(r) == 1 else r

    def snapshot_create(self, path, xml, flags=0, timeout=180, conn=None):
        """SnapshotCreateXML and its job to the end: the new snapshot's object path
        ("/" with NO_METADATA); the job's error is raised as the call's."""
        job = self.domain(path, "SnapshotCreateXML", "su", (xml, flags), conn=conn)
        result = self.call(job, "org.virtbus.Virt1.Job", "Wait", conn=conn,
                           timeout=timeout * 1000)[0]
        return result["snapshot"]

    def snapshot_revert(self, snapshot, flags=0, timeout=180, conn=None):
        """Snapshot.Revert and its job to the end; the job's error is raised."""
        job = self.call(snapshot, "org.virtbus.Virt1.Snapshot", "Revert", "u", (flags,),
                        conn=conn)[0]
        self.call(job, "org.virtbus.Virt1.Job", "Wait", conn=conn, timeout=timeout * 1000)

    def get_prop(self, path, iface, name, conn=None):
        return self.call(path, "org.freedesktop.DBus.Properties", "Get", "ss", (iface, name),
                         conn=conn)[0]

    def get_all(self, path, iface, conn=None):
        return self.call(path, "org.freedesktop.DBus.Properties", "GetAll", "s", (iface,),
                         conn=conn)[0]

    def set_prop(self, path, iface, name, value, conn=None):
        return self.call(path, "org.freedesktop.DBus.Properties", "Set", "ssv",
                         (iface, name, value), conn=conn)

    def managed_objects(self, conn=None):
        return self.call(MANAGER_PATH, "org.freedesktop.DBus.ObjectManager",
                         "GetManagedObjects", conn=conn)[0]

    def define(self, name, uuid=None, xml=None):
        return self.manager("DefineXML", "su", (xml or domain_xml(name, uuid), 0))

    def assertDBusError(self, name, fn, *args, **kw):
        with self.assertRaises(DBusCallError) as cm:
            fn(*args, **kw)
        self.assertEqual(cm.exception.name, ERR + name if "." not in name else name,
                         cm.exception.message)
        return cm.exception

    def run_cmd(self, argv, check=True, **kw):
        p = subprocess.run(argv, capture_output=True, text=True, timeout=60, **kw)
        if check and p.returncode != 0:
            self.fail(f"{argv!r} failed ({p.returncode}): {p.stderr}")
        return p


class CtlTestCase(VirtbusTestCase):
    """Runs the real virtbusctl against the test's service."""

    def setUp(self):
        super().setUp()
        self.procs = []

    def tearDown(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
            p.wait()
            for f in (p.stdout, p.stderr):
                if f is not None:
                    f.close()
        super().tearDown()

    def ctl(self, *args, check=True, **kw):
        p = self.run_cmd([os.path.abspath(VIRTBUSCTL), "--address", self.bus.address, *args],
                         check=check, **kw)
        # the client is held to the same rule as the service
        bad = log_problems(p.stderr or "")
        if bad:
            self.fail(f"virtbusctl {' '.join(args)} logged:\n  " + "\n  ".join(bad))
        return p

    def ctl_background(self, *args, **kw):
        kw.setdefault("stdout", subprocess.PIPE)
        kw.setdefault("stderr", subprocess.PIPE)
        kw.setdefault("text", True)
        p = subprocess.Popen([os.path.abspath(VIRTBUSCTL), "--address", self.bus.address, *args],
                             **kw)
        self.procs.append(p)
        return p

    def assertFails(self, p, code, *fragments):
        self.assertEqual(p.returncode, code, f"stdout={p.stdout!r} stderr={p.stderr!r}")
        self.assertTrue(p.stderr.startswith("error: "), p.stderr)
        for f in fragments:
            self.assertIn(f, p.stderr)
        self.assertNotIn("GDBus.Error", p.stderr)


class SignalRecorder:
    """Records signals on a connection; wait with eventually()."""

    def __init__(self, conn, iface=None, member=None, path=None):
        self.conn = conn
        self.signals = []
        self.ctx = GLib.MainContext.default()
        self.sub = conn.signal_subscribe(BUS_NAME, iface, member, path, None,
                                         Gio.DBusSignalFlags.NONE, self._cb)

    def _cb(self, conn, sender, path, iface, member, params):
        self.signals.append((path, iface, member, params.unpack()))

    def pump(self):
        while self.ctx.iteration(False):
            pass
        return self.signals

    def wait_for(self, pred, timeout=10, what="signal"):
        return eventually(lambda: [s for s in self.pump() if pred(s)], timeout=timeout, what=what)

    def close(self):
        self.conn.signal_unsubscribe(self.sub)


def require_all():
    """Whether skips are failures (VB_REQUIRE_ALL=1, set by scripts/test.sh)."""
    return os.environ.get("VB_REQUIRE_ALL", "") not in ("", "0")


class TapResult(unittest.TextTestResult):
    """unittest's text report (on stderr) plus one TAP line per test case on
    `tap`; under VB_REQUIRE_ALL=1 a skip is recorded as a failure."""

    tap = None

    def __init__(self, *args, **kw):
        super().__init__(*args, **kw)
        self.number = 0
        self.bad = False
        self.skip_reason = None

    @staticmethod
    def _name(test):
        if isinstance(test, unittest.TestCase):
            return f"{type(test).__name__}.{test._testMethodName}"
        return str(test)       # setUpModule / setUpClass errors and skips

    def _report(self, test, ok, directive=""):
        self.number += 1
        line = f"{'ok' if ok else 'not ok'} {self.number} - {self._name(test)}"
        if directive:
            line += " # " + directive.replace("\n", " ")
        self.tap.write(line + "\n")
        self.tap.flush()

    def startTest(self, test):
        self.bad = False
        self.skip_reason = None
        super().startTest(test)

    def stopTest(self, test):
        super().stopTest(test)
        if self.skip_reason is not None:
            self._report(test, True, "SKIP " + self.skip_reason)
        else:
            self._report(test, not self.bad)

    def _holder(self, test):
        return not isinstance(test, unittest.TestCase)

    def addError(self, test, err):
        super().addError(test, err)
        if self._holder(test):
            self._report(test, False)
        self.bad = True

    def addFailure(self, test, err):
        super().addFailure(test, err)
        if self._holder(test):
            self._report(test, False)
        self.bad = True

    def addSubTest(self, test, subtest, err):
        super().addSubTest(test, subtest, err)
        if err is not None:
            self.bad = True

    def addUnexpectedSuccess(self, test):
        super().addUnexpectedSuccess(test)
        self.bad = True

    def addSkip(self, test, reason):
        if require_all():
            try:
                raise AssertionError(f"skipped under VB_REQUIRE_ALL=1: {reason}")
            except AssertionError:
                self.addFailure(test, sys.exc_info())
            return
        super().addSkip(test, reason)
        if self._holder(test):
            self._report(test, True, "SKIP " + reason)
        else:
            self.skip_reason = reason


def main():
    """Runs the tests of the calling script (its __main__ module): unittest's
    verbose report on stderr, TAP on stdout (nothing else is written there:
    the process's stdout is redirected to stderr). Exits 1 on any failure,
    error, unexpected success or, under VB_REQUIRE_ALL=1, skip. VB_TEST_ONLY=TEXT runs
    only the cases whose id contains TEXT (a developer's run; the counts then fail)."""
    tap = os.fdopen(os.dup(sys.stdout.fileno()), "w")
    sys.stdout.flush()
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    sys.stdout = sys.stderr
    TapResult.tap = tap
    suite = unittest.defaultTestLoader.loadTestsFromModule(sys.modules["__main__"])
    only = os.environ.get("VB_TEST_ONLY")
    if only:
        # a developer's run of some cases: those whose id (Class.test_name) has @only
        def flat(s):
            for t in s:
                yield from (flat(t) if isinstance(t, unittest.TestSuite) else (t,))
        suite = unittest.TestSuite(t for t in flat(suite) if only in t.id())
    runner = unittest.TextTestRunner(stream=sys.stderr, verbosity=2, resultclass=TapResult)
    result = runner.run(suite)
    tap.write(f"1..{result.number}\n")
    tap.flush()
    sys.exit(0 if result.wasSuccessful() else 1)


class GuestAgent:
    """qemu-ga over a channel's unix socket (QEMU listens: mode='bind'), for a test to
    check or prepare what the guest sees, next to the service's own agent client."""

    def __init__(self, path):
        self.path = path

    def command(self, cmd, args=None, timeout=20):
        s = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
        s.settimeout(timeout)
        try:
            s.connect(self.path)
            msg = {"execute": cmd}
            if args is not None:
                msg["arguments"] = args
            s.sendall(_json.dumps(msg).encode() + b"\n")
            buf = b""
            while b"\n" not in buf:
                chunk = s.recv(65536)
                if not chunk:
                    break
                buf += chunk
            return _json.loads(buf.split(b"\n")[0])
        finally:
            s.close()

    def run(self, script, timeout=60):
        """Runs @script with sh in the guest and waits for it; returns (exit code, stdout)."""
        r = self.command("guest-exec", {"path": "/bin/sh", "arg": ["-c", script],
                                        "capture-output": True})
        pid = r["return"]["pid"]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            st = self.command("guest-exec-status", {"pid": pid})["return"]
            if st.get("exited"):
                out = _base64.b64decode(st.get("out-data", "")).decode(errors="replace")
                return st.get("exitcode"), out
            time.sleep(0.2)
        raise AssertionError(f"guest-exec {script!r} did not end in {timeout}s")


def save_image_bytes(xml, compression=0, flags=2, body=b""):
    """A save image as virtbusd writes it (service/domain/domain-save-image.h):
    the 64-byte header, the XML NUL-padded to a 4 KiB boundary, then @body
    as the migration stream (raw, or zstd when compression=1)."""
    import struct
    raw = xml.encode() + b"\0"
    padded = ((64 + len(raw) + 4095) // 4096) * 4096 - 64
    head = struct.pack("<16sIIII32x", b"VirtbusSave1", 1, padded, flags, compression)
    return head + raw.ljust(padded, b"\0") + body
