# SPDX-License-Identifier: LGPL-2.1-or-later
"""Nothing is lost or left behind when virtbusd is killed, stopped or raced:
kill -9 in the middle of a start, temporary files of interrupted writes,
DefineXML/Undefine while a start runs, autostart, and the end of a run
while the service stops."""

import os
import signal
import stat
import subprocess
import sys
import threading
import time
sys.path.insert(0, os.path.dirname(__file__))
import vbtest  # noqa: E402
from test_lifecycle import LifecycleTestCase, pid_alive  # noqa: E402
from vbtest import (BUS_NAME, DOMAIN_IFACE, DBusCallError, GLib, MINIMAL_XML,  # noqa: E402
                    connect, eventually)

U1 = "5e1d0c6c-7a55-4b1e-9a53-7c9bd1a0e001"
U2 = "5e1d0c6c-7a55-4b1e-9a53-7c9bd1a0e002"

# An emulator whose capability probe (the first thing a start does with a
# new binary, before it spawns QEMU) takes its time, so that a call can be
# made while a start is in progress. It keeps its own path as argv[0].
SLOW_EMULATOR = """#!/bin/bash
case " $* " in
  *" -uuid "*) ;;
  *) touch "{marker}"; sleep {delay} ;;
esac
exec -a "$0" /usr/bin/qemu-system-x86_64 "$@"
"""


def qemus_of(uuid, root):
    """Pids of the QEMUs (also under the slow wrapper's name) whose command
    line carries -uuid @uuid and a path under @root."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                raw = f.read()
        except OSError:
            continue
        argv = raw.split(b"\0")
        if (b"-uuid" in argv and uuid.encode() in argv and root.encode() in raw
                and b"-name" in argv and pid_alive(int(pid))):
            found.append(int(pid))
    return found


def traced(pid):
    """Whether every thread of @pid has a tracer attached."""
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except FileNotFoundError:
        return False
    for t in tasks:
        try:
            with open(f"/proc/{pid}/task/{t}/status") as f:
                tracer = [l for l in f if l.startswith("TracerPid:")][0].split()[1]
        except (OSError, IndexError):
            return False
        if tracer == "0":
            return False
    return True


class RecoveryTestCase(LifecycleTestCase):
    def qemus(self, uuid):
        return qemus_of(uuid, self.tmp)

    def tearDown(self):
        left = self.qemus(U1) + self.qemus(U2)
        for pid in left:
            os.kill(pid, signal.SIGKILL)
        super().tearDown()
        self.assertEqual(left, [], "a test left QEMU running")

    def restart_service(self, between=None, expect_rc=0):
        self.conn.close_sync(None)
        self.assertEqual(self.service.stop(), expect_rc, self.service.read_log()[-5000:])
        if between is not None:
            between()
        self.service.start()
        self.conn = connect(self.bus.address)

    def dir_of(self, what):
        return {"config": os.path.join(self.root, "etc/virtbus/qemu"),
                "run": self.run_dir(),
                "save": os.path.join(self.root, "var/lib/virtbus/save"),
                "nvram": os.path.join(self.root, "var/lib/virtbus/nvram")}[what]

    def hidden_files(self, what):
        return sorted(e for e in os.listdir(self.dir_of(what)) if e.startswith("."))

    def slow_xml(self, name, uuid, delay=1.5, memory_mib=128):
        wrapper = os.path.join(self.tmp, "slow-qemu")
        self.marker = os.path.join(self.tmp, "spawned")
        with open(wrapper, "w") as f:
            f.write(SLOW_EMULATOR.format(marker=self.marker, delay=delay))
        os.chmod(wrapper, 0o755)
        return (MINIMAL_XML.format(name=name, uuid=f"<uuid>{uuid}</uuid>")
                .replace("/usr/bin/qemu-system-x86_64", wrapper)
                .replace("<memory unit='MiB'>128</memory>",
                         f"<memory unit='MiB'>{memory_mib}</memory>"))

    def define_slow(self, xml):
        """DefineXML probes the emulator (arch and machine defaults, Unsupported): the
        wrapper gets a new mtime afterwards, so that the start probes it again and a call
        can be made while that start is in progress."""
        path = self.manager("DefineXML", "su", (xml, 0), timeout=60000)
        wrapper = os.path.join(self.tmp, "slow-qemu")
        if os.path.exists(self.marker):
            os.remove(self.marker)
        st = os.stat(wrapper)
        os.utime(wrapper, (st.st_atime, st.st_mtime + 10))
        return path

    def call_in_thread(self, path, method, sig, args):
        """Runs a domain method on its own connection in a thread."""
        result = {}

        def run():
            conn = connect(self.bus.address)
            try:
                result["value"] = self.call(path, DOMAIN_IFACE, method, sig, args, conn=conn,
                                            timeout=90000)
            except DBusCallError as e:
                result["error"] = e
            finally:
                conn.close_sync(None)

        t = threading.Thread(target=run)
        t.start()
        return t, result


class KillDuringStartTest(RecoveryTestCase):
    """kill -9 of virtbusd while it starts QEMU (issue 9, item 6)."""

    def kill_during_start(self, inject_from):
        path = self.define("vm1", U1)
        # a first run fills the capability cache: the renames counted below
        # are the start's status writes only
        self.domain(path, "Start", "u", (0,), timeout=60000)
        self.domain(path, "Destroy", "u", (0,))
        self.assertEqual(self.qemus(U1), [])

        daemon = self.service.proc.pid
        strace = subprocess.Popen(
            ["strace", "-f", "-qq", "-o", "/dev/null", "-p", str(daemon), "-e", "trace=rename",
             "-e", f"inject=rename:delay_enter=3000000:when={inject_from}+"])
        try:
            eventually(lambda: traced(daemon), what="strace to attach to every thread")
            t, _ = self.call_in_thread(path, "Start", "u", (0,))
            if inject_from == 2:
                # the status marked "starting" is written, QEMU spawned, and
                # the service stalls writing the status with the pid
                eventually(lambda: self.qemus(U1), what="QEMU to be spawned")
            else:
                time.sleep(2)  # stalled writing the status before the spawn
            self.service.proc.send_signal(signal.SIGKILL)
            self.service.proc.wait()
        finally:
            strace.kill()
            strace.wait()
        t.join(60)
        self.assertEqual(self.service.stop(), -signal.SIGKILL)
        left = self.qemus(U1)
        if inject_from == 2:
            self.assertEqual(len(left), 1, "the test must kill after the spawn")
        else:
            self.assertEqual(left, [], "nothing may be spawned before the status is on disk")

        self.service.start()
        self.conn.close_sync(None)
        self.conn = connect(self.bus.address)
        # the restarted service killed (never reattached) the unfinished start
        self.assertEqual(self.qemus(U1), [])
        for pid in left:
            self.assertFalse(pid_alive(pid))
        state = self.state(path)
        self.assertEqual(state[0], "shutoff")
        if inject_from == 2:
            self.assertEqual(state[1], "failed")
            self.assertIn("its start was interrupted", self.service.read_log())
        self.assertFalse(self.get_prop(path, DOMAIN_IFACE, "Active"))
        self.assertEqual(self.runtime_leftovers("vm1"), [])
        self.assertEqual(self.hidden_files("run"), [], "temporary files must be removed")
        # and the domain starts normally again
        self.domain(path, "Start", "u", (0,), timeout=60000)
        self.assertEqual(self.state(path), ("running", "booted"))
        self.domain(path, "Destroy", "u", (0,))

    def test_kill_after_spawn_kills_the_orphan(self):
        self.kill_during_start(inject_from=2)

    def test_kill_before_spawn_leaves_no_qemu(self):
        self.kill_during_start(inject_from=1)


class StaleFilesTest(RecoveryTestCase):
    """Temporary files of interrupted writes (issue 9, item 7)."""

    def test_temporaries_removed_at_start_up(self):
        self.define("vm1", U1)
        dead = subprocess.Popen(["true"])
        dead.wait()
        partial = os.path.join(self.tmp, ".vm9.save.vbpart-AbC123")
        planted = {
            "config": [".vm1.xml.Xy12Zq"],
            "run": [".vm1.xml.Qw34Er"],
            "save": [".vm1.save.vbpart-As56Df"],
            # issue 14, part crash: the UEFI variable stores, written atomically too
            "nvram": [".vm1_VARS.fd.Rt56Yu"],
        }

        def plant():
            os.makedirs(self.dir_of("nvram"), exist_ok=True)
            for where, names in planted.items():
                for n in names:
                    with open(os.path.join(self.dir_of(where), n), "w") as f:
                        f.write("<graphics passwd='secret'/>")
            with open(os.path.join(self.dir_of("config"), ".keep-me"), "w") as f:
                f.write("not ours")
            with open(partial, "w") as f:
                f.write("partial image")
            # a save interrupted with the service, whose QEMU is gone since
            with open(os.path.join(self.run_dir(), "vm9.xml"), "w") as f:
                f.write(f"<domstatus state='paused' reason='saving' id='9' pid='{dead.pid}'>"
                        f"<monitor path='{self.run_dir()}/gone.sock'/><runtime dir='' pidfile=''/>"
                        f"<job type='none' async='save' phase='transferring' wasRunning='yes' "
                        f"tempFile='{partial}'/>"
                        + MINIMAL_XML.format(name="vm9", uuid=f"<uuid>{U2}</uuid>")
                        + "</domstatus>")
            os.chmod(self.run_dir(), 0o755)

        self.restart_service(between=plant)
        for where in planted:
            self.assertEqual([e for e in self.hidden_files(where) if e != ".keep-me"], [],
                             where)
        self.assertTrue(os.path.exists(os.path.join(self.dir_of("config"), ".keep-me")))
        self.assertFalse(os.path.exists(partial), "the job's partial file must go")
        self.assertFalse(os.path.exists(os.path.join(self.run_dir(), "vm9.xml")))
        self.assertEqual(stat.S_IMODE(os.stat(self.run_dir()).st_mode), 0o700)
        self.assertIn("left by an interrupted write", self.service.read_log())


class StartRaceTest(RecoveryTestCase):
    """DefineXML and Undefine while a start runs (issue 9, item 10)."""

    def test_undefine_during_start_leaves_it_transient(self):
        path = self.define_slow(self.slow_xml("vm1", U1))
        t, result = self.call_in_thread(path, "Start", "u", (0,))
        eventually(lambda: os.path.exists(self.marker), what="the start to probe the emulator")
        self.domain(path, "Undefine", "u", (0,))
        t.join(90)
        self.assertNotIn("error", result)
        # it runs, as a transient domain that is still on the bus
        self.assertEqual(self.state(path), ("running", "booted"))
        self.assertFalse(self.get_prop(path, DOMAIN_IFACE, "Persistent"))
        self.assertIn(path, self.managed_objects())
        self.assertFalse(os.path.exists(os.path.join(self.dir_of("config"), "vm1.xml")))
        self.assertEqual(len(self.qemus(U1)), 1)
        self.domain(path, "Destroy", "u", (0,))
        eventually(lambda: path not in self.managed_objects(), what="the domain to go")
        self.assertEqual(self.qemus(U1), [])
        self.assertEqual(self.runtime_leftovers("vm1"), [])

    def test_undefine_during_failed_start_removes_it(self):
        xml = (self.slow_xml("vm1", U1)
               .replace("<domain type='qemu'>", "<domain type='qemu' xmlns:qemu="
                        "'http://libvirt.org/schemas/domain/qemu/1.0'>")
               .replace("</devices>", "</devices><qemu:commandline>"
                        "<qemu:arg value='-no-such-option'/></qemu:commandline>"))
        path = self.define_slow(xml)
        t, result = self.call_in_thread(path, "Start", "u", (0,))
        eventually(lambda: os.path.exists(self.marker), what="the start to probe the emulator")
        self.domain(path, "Undefine", "u", (0,))
        t.join(90)
        self.assertIn("error", result, "QEMU refuses the option: the start fails")
        self.assertIn("-no-such-option", result["error"].message)
        eventually(lambda: path not in self.managed_objects(),
                   what="the undefined domain whose start failed to go")
        self.assertDBusError("NoDomain", self.manager, "LookupByName", "s", ("vm1",))
        self.assertEqual(self.qemus(U1), [])

    def test_define_during_start_applies_at_the_next_start(self):
        path = self.define_slow(self.slow_xml("vm1", U1))
        t, result = self.call_in_thread(path, "Start", "u", (0,))
        eventually(lambda: os.path.exists(self.marker), what="the start to probe the emulator")
        again = self.manager("DefineXML", "su", (self.slow_xml("vm1", U1, memory_mib=256), 0))
        self.assertEqual(again, path)
        t.join(90)
        self.assertNotIn("error", result)
        (pid,) = self.qemus(U1)
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            argv = f.read().split(b"\0")
        self.assertEqual(argv[argv.index(b"-m") + 1], b"size=131072k")
        # the live definition is what QEMU runs; the new one waits
        self.assertEqual(self.get_prop(path, DOMAIN_IFACE, "Memory"), 128 * 1024)
        live = self.domain(path, "GetXMLDesc", "u", (0,))
        self.assertIn("<memory unit='KiB'>131072</memory>", live)
        inactive = self.domain(path, "GetXMLDesc", "u", (2,))
        self.assertIn("<memory unit='KiB'>262144</memory>", inactive)
        self.domain(path, "Destroy", "u", (0,))
        self.assertIn("<memory unit='KiB'>262144</memory>",
                      self.domain(path, "GetXMLDesc", "u", (0,)))


class AutostartTest(RecoveryTestCase):
    """Autostart domains start with the service (issue 9, item 17)."""

    def test_autostart_domains_start_after_a_restart(self):
        p1 = self.define("vm1", U1)
        p2 = self.define("vm2", U2)
        self.set_prop(p1, DOMAIN_IFACE, "Autostart", GLib.Variant("b", True))
        self.restart_service()
        self.wait_state(p1, "running", "booted", timeout=60)
        self.assertEqual(self.state(p2)[0], "shutoff")
        self.assertIn("autostarting", self.service.read_log())
        # one that is already running (reconnected) is left alone
        pid = self.pid_of("vm1")
        self.restart_service()
        self.wait_state(p1, "running")
        self.assertEqual(self.pid_of("vm1"), pid)
        self.domain(p1, "Destroy", "u", (0,))


class ShutdownRaceTest(RecoveryTestCase):
    """The end of a run while the service stops (issue 9, item 11): the
    monitor and process-exit callbacks never see the freed domain list."""

    def test_qemu_exit_during_service_stop(self):
        path = self.define("vm1", U1)
        for _ in range(3):
            self.domain(path, "Start", "u", (0,), timeout=60000)
            pid = self.pid_of("vm1")
            os.kill(pid, signal.SIGKILL)
            self.service.proc.send_signal(signal.SIGTERM)
            self.conn.close_sync(None)
            self.conn = None
            self.assertEqual(self.service.stop(), 0, self.service.read_log()[-5000:])
            self.assertNotIn("AddressSanitizer", self.service.read_log())
            self.service.start()
            self.conn = connect(self.bus.address)
            self.assertEqual(self.state(path)[0], "shutoff")
            self.assertEqual(self.runtime_leftovers("vm1"), [])


    def test_qemu_exit_after_the_domain_list_is_freed(self):
        # the service's last step (exit_group) is held back 4 s by strace:
        # QEMU ends in that window, after the domain list was freed; no
        # process-exit or monitor callback may touch it (ASan would report
        # the use after free and the service would not exit 0)
        path = self.define("vm1", U1)
        self.domain(path, "Start", "u", (0,), timeout=60000)
        pid = self.pid_of("vm1")
        daemon = self.service.proc.pid
        strace = subprocess.Popen(
            ["strace", "-f", "-qq", "-o", "/dev/null", "-p", str(daemon), "-e",
             "trace=exit_group", "-e", "inject=exit_group:delay_enter=4000000"])
        try:
            eventually(lambda: traced(daemon), what="strace to attach to every thread")
            self.conn.close_sync(None)
            self.conn = None
            self.service.proc.send_signal(signal.SIGTERM)
            time.sleep(1.5)  # the service has freed everything and waits in exit_group
            self.assertIsNone(self.service.proc.poll(), "the exit must be held back")
            os.kill(pid, signal.SIGKILL)
            self.assertEqual(self.service.stop(), 0, self.service.read_log()[-5000:])
        finally:
            strace.kill()
            strace.wait()
        self.assertNotIn("AddressSanitizer", self.service.read_log())
        self.service.start()
        self.conn = connect(self.bus.address)
        self.assertEqual(self.state(path)[0], "shutoff")


if __name__ == "__main__":
    vbtest.main()
