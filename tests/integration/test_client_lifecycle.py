# SPDX-License-Identifier: LGPL-2.1-or-later
"""virtbusctl's lifecycle commands against the real virtbusd and real QEMU (TCG)."""

import json
import os
import re
import signal
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vbtest  # noqa: E402
from vbtest import DOMAIN_IFACE, VIRTBUSCTL, domain_xml, eventually  # noqa: E402

UUID1 = "7e1f0c2a-4b3d-4c8e-9a61-2f5d8c0b1e01"
QUERY_STATUS = '{"execute": "query-status"}'


@unittest.skipUnless(os.access(VIRTBUSCTL, os.X_OK), f"{VIRTBUSCTL} not built")
class CtlLifecycleTestCase(vbtest.CtlTestCase):
    def write_xml(self, name, xml=None):
        path = os.path.join(self.tmp, f"{name}.xml")
        with open(path, "w") as f:
            f.write(xml or domain_xml(name))
        return path

    def props(self, name):
        return self.get_all(self.manager("LookupByName", "s", (name,)), DOMAIN_IFACE)

    def domstate(self, name):
        return self.ctl("domstate", "--reason", name).stdout

    def wait_domstate(self, name, expected, timeout=15):
        eventually(lambda: self.ctl("domstate", "--reason", name, check=False).stdout == expected,
                   timeout=timeout, interval=0.2, what=f"{name} to be {expected!r}")

    def has_lifecycle_match(self):
        """Whether some client of the bus subscribed to Lifecycle signals."""
        r = self.conn.call_sync("org.freedesktop.DBus", "/org/freedesktop/DBus",
                                "org.freedesktop.DBus.Debug.Stats", "GetAllMatchRules", None,
                                None, 0, 5000, None)
        rules = r.unpack()[0]
        return any("member='Lifecycle'" in rule for rs in rules.values() for rule in rs)

    def start_event_watcher(self, *args):
        p = self.ctl_background("event", *args)
        eventually(lambda: p.poll() is not None or self.has_lifecycle_match(), timeout=20,
                   what="virtbusctl event to subscribe")
        self.assertIsNone(p.poll(), p.stderr.read() if p.poll() is not None else "")
        return p


class TestStartStop(CtlLifecycleTestCase):
    def test_start_state_suspend_resume_destroy(self):
        self.define("vm1", UUID1)
        reason = self.props("vm1")["StateReason"]
        self.assertEqual(self.domstate("vm1"), f"shutoff ({reason})\n" if reason else "shutoff\n")
        self.assertEqual(self.ctl("domstate", "vm1").stdout, "shutoff\n")
        self.assertEqual(self.ctl("domid", "vm1").stdout, "-\n")

        p = self.ctl("start", "vm1")
        self.assertEqual(p.stdout, "Domain 'vm1' started\n")
        props = self.props("vm1")
        self.assertEqual((props["State"], props["StateReason"]), ("running", "booted"))
        self.assertEqual(self.ctl("domstate", "vm1").stdout, "running\n")
        self.assertEqual(self.domstate("vm1"), "running (booted)\n")
        self.assertEqual(self.ctl("domstate", UUID1).stdout, "running\n")
        self.assertGreater(props["Id"], 0)
        self.assertEqual(self.ctl("domid", "vm1").stdout, f"{props['Id']}\n")
        self.assertEqual(self.ctl("domcontrol", "vm1").stdout, "ok\n")

        self.assertEqual(self.ctl("suspend", "vm1").stdout, "Domain 'vm1' suspended\n")
        self.assertEqual(self.domstate("vm1"), "paused (user)\n")
        status = json.loads(self.ctl("qemu-monitor-command", "vm1", QUERY_STATUS).stdout)
        self.assertEqual(status["return"]["status"], "paused")
        self.assertFalse(status["return"]["running"])

        self.assertEqual(self.ctl("resume", "vm1").stdout, "Domain 'vm1' resumed\n")
        self.assertEqual(self.domstate("vm1"), "running (unpaused)\n")
        self.assertEqual(self.ctl("reset", "vm1").stdout, "Domain 'vm1' was reset\n")
        self.assertEqual(self.ctl("domstate", "vm1").stdout, "running\n")

        self.assertEqual(self.ctl("destroy", "vm1").stdout, "Domain 'vm1' destroyed\n")
        self.assertEqual(self.domstate("vm1"), "shutoff (destroyed)\n")
        self.assertEqual(self.ctl("domid", "vm1").stdout, "-\n")
        self.assertEqual(self.ctl("domcontrol", "vm1").stdout, "ok\n")

    def test_start_paused(self):
        self.define("vm1")
        self.assertEqual(self.ctl("start", "--paused", "vm1").stdout, "Domain 'vm1' started\n")
        self.assertEqual(self.domstate("vm1"), "paused (user)\n")
        status = json.loads(self.ctl("qemu-monitor-command", "vm1", QUERY_STATUS).stdout)
        self.assertFalse(status["return"]["running"])
        self.ctl("resume", "vm1")
        self.assertEqual(self.ctl("domstate", "vm1").stdout, "running\n")
        self.ctl("destroy", "--graceful", "vm1")
        self.assertEqual(self.domstate("vm1"), "shutoff (destroyed)\n")

    def test_shutdown_and_reboot_are_requests(self):
        self.define("vm1")
        self.ctl("start", "vm1")
        # the guest has no OS to act on ACPI: the request is sent, the domain keeps running
        self.assertEqual(self.ctl("reboot", "vm1").stdout, "Domain 'vm1' is being rebooted\n")
        self.assertEqual(self.ctl("shutdown", "vm1").stdout, "Domain 'vm1' is being shutdown\n")
        self.assertEqual(self.ctl("domstate", "vm1").stdout, "running\n")
        self.ctl("destroy", "vm1")
        # not running any more: the service's refusal comes through
        self.assertFails(self.ctl("shutdown", "vm1", check=False), 1)

    def test_not_running_refusals_say_why(self):
        """A command needing QEMU on a shut-off domain says it is shut off and
        what that means for the command; never "start it first" for a stop."""
        path = self.define("vm1")
        dump = os.path.join(self.tmp, "vm1.core")
        expected = {
            ("shutdown",): "there is nothing to shut down",
            ("destroy",): "there is nothing to destroy",
            ("reboot",): "Start boots it",
            ("reset",): "Start boots it",
            ("suspend",): "only a running domain can be suspended",
            ("resume",): "only a paused domain can be resumed",
            ("qemu-monitor-command", QUERY_STATUS): "its QEMU monitor exists only while it runs",
            ("dump", dump): "only the memory of a running domain can be dumped",
        }
        for (cmd, *rest), hint in expected.items():
            args = [cmd, "vm1", *rest] if cmd != "dump" else [cmd, "--no-progress", "vm1", *rest]
            p = self.ctl(*args, check=False)
            self.assertFails(p, 1, "domain 'vm1' is not running (shutoff); " + hint)
            self.assertNotIn("first", p.stderr)
        self.assertFalse(os.path.exists(dump))
        # the same text, with its error name, on the bus
        err = self.assertDBusError("OperationInvalid", self.domain, path, "Shutdown", "u", (0,))
        self.assertEqual(err.message, "domain 'vm1' is not running (shutoff); "
                                      "there is nothing to shut down")
        # after a run the state is still named
        self.ctl("start", "vm1")
        self.ctl("destroy", "vm1")
        self.assertFails(self.ctl("shutdown", "vm1", check=False), 1,
                         "domain 'vm1' is not running (shutoff); there is nothing to shut down")
        # and a running domain that is not paused cannot be resumed
        self.ctl("start", "vm1")
        self.assertFails(self.ctl("resume", "vm1", check=False), 1, "domain 'vm1' is not paused")


class TestControl(CtlLifecycleTestCase):
    def pid_of(self, name):
        with open(os.path.join(self.root, "run/virtbus/qemu", f"{name}.pid")) as f:
            return int(f.read().strip())

    def test_domcontrol_occupied_while_qemu_hangs(self):
        self.define("vm1")
        self.ctl("start", "vm1")
        pid = self.pid_of("vm1")
        os.kill(pid, signal.SIGSTOP)
        try:
            stuck = self.ctl_background("suspend", "vm1")

            def occupied():
                out = self.ctl("domcontrol", "vm1").stdout
                return re.fullmatch(r"occupied \((\d+\.\d{3})s\)\n", out)
            first = float(eventually(occupied, timeout=10, interval=0.1,
                                     what="domcontrol to say occupied").group(1))
            time.sleep(0.3)
            later = float(occupied().group(1))
            self.assertGreater(later, first)
            self.ctl("destroy", "vm1")
            # the stuck call is released (how it ends is the service's business)
            stuck.communicate(timeout=20)
        finally:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.assertEqual(self.ctl("domcontrol", "vm1").stdout, "ok\n")


class TestMonitorCommand(CtlLifecycleTestCase):
    def setUp(self):
        super().setUp()
        self.define("vm1")
        self.ctl("start", "vm1")

    def test_reply_pretty_and_taint(self):
        self.assertEqual(self.props("vm1")["Tainted"], [])
        info = json.loads(self.ctl("info", "--json", "vm1").stdout)
        self.assertEqual(info["tainted"], [])
        self.assertEqual(info["autodestroy_owner"], "")
        self.assertIn("Tainted:", self.ctl("info", "vm1").stdout)

        plain = self.ctl("qemu-monitor-command", "vm1", QUERY_STATUS).stdout
        self.assertEqual(plain.count("\n"), 1, plain)
        self.assertTrue(json.loads(plain)["return"]["running"])
        pretty = self.ctl("qemu-monitor-command", "vm1", QUERY_STATUS, "--pretty").stdout
        self.assertGreater(pretty.count("\n"), 2, pretty)
        self.assertEqual(json.loads(pretty), json.loads(plain))

        self.assertIn("custom-monitor", self.props("vm1")["Tainted"])
        info = json.loads(self.ctl("info", "--json", "vm1").stdout)
        self.assertIn("custom-monitor", info["tainted"])
        text = self.ctl("info", "vm1").stdout
        self.assertRegex(text, r"(?m)^Tainted: +.*custom-monitor")
        self.assertRegex(text, r"(?m)^Autodestroy owner: +-$")

    def test_error_reply_fails(self):
        p = self.ctl("qemu-monitor-command", "vm1", '{"execute": "no-such-command"}',
                     check=False)
        self.assertFails(p, 1, "CommandNotFound")
        self.assertIn("error", json.loads(p.stdout))

    def test_invalid_json_is_refused_locally(self):
        p = self.ctl("qemu-monitor-command", "vm1", '{"execute": ', check=False)
        self.assertFails(p, 1, "not valid JSON")
        self.assertEqual(p.stdout, "")


class TestErrors(CtlLifecycleTestCase):
    def test_start_twice(self):
        path = self.define("vm1")
        self.ctl("start", "vm1")
        err = self.assertDBusError("OperationInvalid", self.domain, path, "Start", "u", (0,))
        message = err.message.split(f"{err.name}: ", 1)[-1]
        p = self.ctl("start", "vm1", check=False)
        self.assertFails(p, 1)
        self.assertEqual(p.stderr, f"error: {message}\n")
        self.assertEqual(p.stdout, "")
        self.assertEqual(self.ctl("domstate", "vm1").stdout, "running\n")

    def test_unknown_domain(self):
        for cmd in ("domstate", "domid", "domcontrol", "start", "destroy", "suspend", "resume",
                    "shutdown", "reboot", "reset", "console", "event"):
            self.assertFails(self.ctl(cmd, "nosuchvm", check=False), 1, "nosuchvm")
        self.assertFails(self.ctl("qemu-monitor-command", "nosuchvm", QUERY_STATUS, check=False),
                         1, "nosuchvm")

    def test_inactive_domain(self):
        self.define("vm1")
        self.assertFails(self.ctl("resume", "vm1", check=False), 1)
        self.assertFails(self.ctl("destroy", "vm1", check=False), 1)
        self.assertFails(self.ctl("console", "vm1", check=False), 1,
                         "domain 'vm1' is not running (shutoff); its console exists only")

    def test_usage(self):
        self.assertFails(self.ctl("start", check=False), 2, "NAME|UUID")
        self.assertFails(self.ctl("start", "--bogus", "vm1", check=False), 2, "--bogus")
        self.assertFails(self.ctl("event", "--timeout", "0", check=False), 2, "--timeout")
        self.assertFails(self.ctl("event", "--timeout", "soon", check=False), 2)
        self.assertFails(self.ctl("qemu-monitor-command", "vm1", check=False), 2)


class TestConsole(CtlLifecycleTestCase):
    def test_no_pty_known(self):
        self.define("vm1")
        self.ctl("start", "vm1")
        p = self.ctl("console", "vm1", check=False)
        self.assertFails(p, 1, "vm1", "pty")

    def test_attach_and_escape(self):
        xml = domain_xml("vm1").replace("</devices>", "  <serial type='pty'/>\n  </devices>")
        path = self.define("vm1", xml=xml)
        self.domain(path, "Start", "u", (0,), timeout=120000)
        live = self.domain(path, "GetXMLDesc", "u", (0,))
        # the live XML names the pty QEMU allocated
        self.assertRegex(live, r"path='/dev/pts/\d+'")
        # Ctrl-] ends the session at once
        p = self.ctl("console", "vm1", input="\x1d")
        self.assertIn("Connected to domain 'vm1'", p.stdout)
        self.assertIn("Escape character is ^]", p.stdout)


class TestEvent(CtlLifecycleTestCase):
    def test_event_prints_started(self):
        self.define("vm1")
        watcher = self.start_event_watcher("--timeout", "20", "vm1")
        t0 = time.monotonic()
        self.ctl("start", "vm1")
        out, err = watcher.communicate(timeout=25)
        self.assertEqual(watcher.returncode, 0, err)
        self.assertEqual(out, "event 'started' for domain 'vm1': booted\n")
        # without --loop it ends with the first event, not at the timeout
        self.assertLess(time.monotonic() - t0, 15)

    def test_event_loop_all_domains(self):
        self.define("vm1")
        watcher = self.start_event_watcher("--loop", "--timeout", "60")
        self.ctl("start", "vm1")
        self.ctl("suspend", "vm1")
        self.ctl("resume", "vm1")
        self.ctl("destroy", "vm1")
        expected = ["event 'started' for domain 'vm1': booted",
                    "event 'suspended' for domain 'vm1': paused",
                    "event 'resumed' for domain 'vm1': unpaused",
                    "event 'stopped' for domain 'vm1': destroyed"]
        lines = []
        deadline = time.monotonic() + 20
        while len(lines) < len(expected) and time.monotonic() < deadline:
            line = watcher.stdout.readline()
            if not line:
                break
            # QEMU reports a SHUTDOWN on SIGTERM too; whether the service passes it on as
            # 'shutdown' before 'stopped' is not the client's business
            if not line.startswith("event 'shutdown' "):
                lines.append(line.rstrip("\n"))
        self.assertEqual(lines, expected)
        self.assertIsNone(watcher.poll(), "--loop must keep running")
        watcher.send_signal(signal.SIGINT)
        self.assertEqual(watcher.wait(timeout=10), 0)

    def test_timeout_without_events(self):
        t0 = time.monotonic()
        p = self.ctl("event", "--timeout", "1")
        self.assertGreaterEqual(time.monotonic() - t0, 0.9)
        self.assertEqual(p.stdout, "")


class TestCreateAndAutodestroy(CtlLifecycleTestCase):
    def test_create_transient(self):
        path = self.write_xml("tvm")
        p = self.ctl("create", path)
        self.assertEqual(p.stdout, f"Domain 'tvm' created from {path}\n")
        self.assertEqual(self.domstate("tvm"), "running (booted)\n")
        info = json.loads(self.ctl("info", "--json", "tvm").stdout)
        self.assertFalse(info["persistent"])
        self.assertEqual(self.ctl("list", "--name").stdout, "tvm\n")
        self.assertEqual(self.ctl("destroy", "tvm").stdout, "Domain 'tvm' destroyed\n")
        # a transient domain leaves the bus once stopped
        eventually(lambda: self.ctl("domstate", "tvm", check=False).returncode == 1, timeout=10,
                   interval=0.2, what="tvm to disappear")
        self.assertFails(self.ctl("domstate", "tvm", check=False), 1, "tvm")

    def test_create_paused(self):
        path = self.write_xml("tvm")
        self.ctl("create", "--paused", path)
        self.assertEqual(self.domstate("tvm"), "paused (user)\n")

    def read_started(self, proc, name):
        line = proc.stdout.readline()
        if not line:
            self.fail(f"virtbusctl exited ({proc.wait()}): {proc.stderr.read()}")
        waiting = proc.stdout.readline()
        self.assertIn("waiting", waiting)
        self.assertIn("Ctrl-C", waiting)
        return line

    def test_start_autodestroy_killed(self):
        self.define("vm1")
        proc = self.ctl_background("start", "--autodestroy", "vm1")
        self.assertEqual(self.read_started(proc, "vm1"), "Domain 'vm1' started\n")
        props = self.props("vm1")
        self.assertEqual(props["State"], "running")
        owner = props["AutodestroyOwner"]
        self.assertTrue(owner.startswith(":"), owner)
        self.assertRegex(self.ctl("info", "vm1").stdout,
                         rf"(?m)^Autodestroy owner: +{owner}$")
        self.assertEqual(json.loads(self.ctl("info", "--json", "vm1").stdout)
                         ["autodestroy_owner"], owner)
        # it keeps waiting while the domain runs
        time.sleep(1)
        self.assertIsNone(proc.poll())
        proc.kill()
        proc.wait()
        self.wait_domstate("vm1", "shutoff (destroyed)\n", timeout=10)
        self.assertEqual(self.props("vm1")["AutodestroyOwner"], "")

    def test_start_autodestroy_sigterm_exits_cleanly(self):
        self.define("vm1")
        proc = self.ctl_background("start", "--autodestroy", "vm1")
        self.read_started(proc, "vm1")
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=10)
        self.assertEqual(proc.returncode, 0, err)
        self.assertIn("destroyed", out)
        self.wait_domstate("vm1", "shutoff (destroyed)\n", timeout=10)

    def test_start_autodestroy_returns_when_domain_stops(self):
        self.define("vm1")
        proc = self.ctl_background("start", "--autodestroy", "vm1")
        self.read_started(proc, "vm1")
        self.ctl("destroy", "vm1")
        out, err = proc.communicate(timeout=10)
        self.assertEqual(proc.returncode, 0, err)
        self.assertIn("Domain 'vm1' stopped", out)

    def test_create_autodestroy_killed(self):
        path = self.write_xml("tvm")
        proc = self.ctl_background("create", "--autodestroy", path)
        self.assertEqual(self.read_started(proc, "tvm"), f"Domain 'tvm' created from {path}\n")
        self.assertEqual(self.ctl("domstate", "tvm").stdout, "running\n")
        proc.kill()
        proc.wait()
        eventually(lambda: self.ctl("domstate", "tvm", check=False).returncode == 1, timeout=10,
                   interval=0.2, what="transient tvm to be destroyed")


if __name__ == "__main__":
    vbtest.main()
