# SPDX-License-Identifier: LGPL-2.1-or-later
"""virtbusctl migrate and migrate-* against the real virtbusd: the command
line (exclusive and required options, numbers), the errors that come before
the service migrates anything (unknown domain, a destination that is not a
bus or has no service, what the service does not support), and end to end
between two services on two private buses of this machine."""

import os
import re
import select
import signal
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vbmigrate  # noqa: E402
import vbtest  # noqa: E402

VIRTBUSCTL = os.path.abspath(vbtest.VIRTBUSCTL)
UUID1 = "5b0c1d2e-3f40-4a51-8b62-7c8d9eaf0b11"


@unittest.skipUnless(os.access(VIRTBUSCTL, os.X_OK), f"{VIRTBUSCTL} not built")
class MigrateCtlTestCase(vbtest.CtlTestCase):
    def path(self, name):
        return os.path.join(self.tmp, name)

    def usage_fails(self, *args, fragment):
        p = self.ctl(*args, check=False)
        self.assertFails(p, 2, fragment)
        self.assertIn("Try 'virtbusctl help ", p.stderr)
        self.assertEqual(p.stdout, "")
        return p


class TestMigrateCommandLine(MigrateCtlTestCase):
    """Refused by virtbusctl itself, before any bus call: exit status 2."""

    start_service = False
    DEST = "unix:path=/nonexistent/bus"

    def test_exclusive_and_required_options(self):
        cases = [
            (["--live", "--offline"], "--live and --offline exclude each other"),
            (["--p2p", "--direct"], "--p2p and --direct exclude each other"),
            (["--copy-storage-all", "--copy-storage-inc"],
             "--copy-storage-all and --copy-storage-inc exclude each other"),
            (["--live", "--postcopy", "--timeout", "5", "--timeout-suspend", "--timeout-postcopy"],
             "--timeout-suspend and --timeout-postcopy exclude each other"),
            (["--p2p", "--tunnelled", "--parallel"], "--tunnelled and --parallel exclude each other"),
            (["--postcopy-after-precopy"], "--postcopy-after-precopy needs --postcopy"),
            (["--live", "--timeout", "5", "--timeout-postcopy"], "--timeout-postcopy needs --postcopy"),
            (["--p2p", "--persistent-xml", "x.xml"], "--persistent-xml needs --persistent"),
            (["--parallel-connections", "4"], "--parallel-connections needs --parallel"),
            (["--comp-methods", "xbzrle"], "--comp-methods needs --compressed"),
            (["--timeout", "5"], "--timeout needs --live"),
            (["--live", "--timeout-suspend"], "--timeout-suspend needs --timeout"),
            (["--tunnelled"], "--tunnelled needs a peer-to-peer migration"),
            (["--persistent", "--persistent-xml", "x.xml"],
             "--persistent-xml needs a peer-to-peer migration"),
        ]
        for opts, fragment in cases:
            with self.subTest(opts=opts):
                self.usage_fails("migrate", *opts, "vm1", self.DEST, fragment=fragment)
        # ssh:// means peer-to-peer: --tunnelled is fine on the command line there; it
        # gets as far as asking the service (not running in these tests)
        p = self.ctl("migrate", "--tunnelled", "nosuchvm", "ssh://host2", check=False)
        self.assertFails(p, 1, "the virtbus service (org.virtbus.Virt1) is not running")

    def test_bad_numbers(self):
        cases = [
            (["--bandwidth", "abc"], "--bandwidth must be a whole number from 0 to 8796093022207, not 'abc'"),
            (["--bandwidth", "-1"], "--bandwidth must be a whole number"),
            (["--bandwidth", "8796093022208"], "not '8796093022208'"),
            (["--postcopy-bandwidth", "1.5"], "--postcopy-bandwidth must be a whole number"),
            (["--parallel", "--parallel-connections", "0"],
             "--parallel-connections must be a whole number from 1 to 255, not '0'"),
            (["--parallel", "--parallel-connections", "256"], "not '256'"),
            (["--compressed", "--comp-methods", "xbzrle,,zlib"], "--comp-methods has an empty item"),
            (["--compressed", "--comp-methods", "zlib,zlib"], "--comp-methods names 'zlib' twice"),
            (["--live", "--timeout", "0"], "--timeout needs a positive number of seconds"),
            (["--live", "--timeout", "soon"], "soon"),
            (["--dname", ""], "--dname is empty"),
            (["--migrateuri", ""], "--migrateuri is empty"),
        ]
        for opts, fragment in cases:
            with self.subTest(opts=opts):
                self.usage_fails("migrate", *opts, "vm1", self.DEST, fragment=fragment)
        self.usage_fails("migrate", "vm1", "", fragment="DEST_URI is empty")
        self.usage_fails("migrate-setspeed", "vm1", "fast",
                         fragment="the bandwidth (MiB/s) must be a whole number from 0 to "
                         "8796093022207, not 'fast'")
        self.usage_fails("migrate-setspeed", "vm1", "1e3", fragment="not '1e3'")
        self.usage_fails("migrate-setmaxdowntime", "vm1", "0",
                         fragment="the downtime (ms) must be a whole number from 1")
        self.usage_fails("migrate-setmaxdowntime", "vm1", "-5", fragment="Unknown option -5")

    def test_missing_and_extra_arguments(self):
        self.usage_fails("migrate", "vm1", fragment="'migrate' needs NAME|UUID DEST_URI")
        self.usage_fails("migrate", "vm1", self.DEST, "extra", fragment="too many arguments")
        self.usage_fails("migrate-setspeed", "vm1", fragment="'migrate-setspeed' needs")
        self.usage_fails("migrate-getspeed", fragment="'migrate-getspeed' needs")
        self.usage_fails("migrate-setmaxdowntime", "vm1", fragment="'migrate-setmaxdowntime' needs")
        self.usage_fails("migrate-getmaxdowntime", fragment="'migrate-getmaxdowntime' needs")
        self.usage_fails("migrate-postcopy", fragment="'migrate-postcopy' needs")
        self.usage_fails("migrate", "--no-such-option", "vm1", self.DEST,
                         fragment="Unknown option --no-such-option")
        self.usage_fails("migrate-getmaxdowntime", "--postcopy", "vm1",
                         fragment="Unknown option --postcopy")

    def test_help_lists_the_commands(self):
        text = self.ctl("help").stdout
        for cmd in ("migrate ", "migrate-setspeed", "migrate-getspeed", "migrate-setmaxdowntime",
                    "migrate-getmaxdowntime", "migrate-postcopy", "domjobabort"):
            self.assertIn(cmd, text)
        text = self.ctl("help", "migrate").stdout
        for opt in ("--live", "--p2p", "--tunnelled", "--copy-storage-all", "--postcopy-after-precopy",
                    "--parallel-connections N", "--bandwidth MiB/s", "--timeout SECONDS",
                    "--timeout-postcopy", "--migrateuri URI", "--dname NAME", "--persistent-xml FILE"):
            self.assertIn(opt, text)


class TestMigrateCompletion(MigrateCtlTestCase):
    COMPLETION = os.path.join(vbtest.SRCDIR, "client", "virtbusctl.bash-completion")

    def complete(self, *words):
        script = (f"source {self.COMPLETION}\n"
                  "COMP_WORDS=(\"$@\"); COMP_CWORD=$(($# - 1))\n"
                  "_virtbusctl\n"
                  "printf '%s\\n' \"${COMPREPLY[@]}\"\n")
        p = subprocess.run(["bash", "-c", script, "bash", VIRTBUSCTL, *words],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 0, p.stderr)
        return sorted(w for w in p.stdout.splitlines() if w)

    def test_commands_options_and_arguments(self):
        self.define("vm-off")
        self.define("vm-run")
        self.ctl("start", "vm-run")
        self.assertEqual(self.complete("migrate"),
                         ["migrate", "migrate-getmaxdowntime", "migrate-getspeed",
                          "migrate-postcopy", "migrate-setmaxdowntime", "migrate-setspeed"])
        self.assertEqual(self.complete("migrate", "--postc"),
                         ["--postcopy", "--postcopy-after-precopy", "--postcopy-bandwidth"])
        bus = ["--address", self.bus.address]
        # offline migration moves shut off domains too; the others need a running one
        self.assertEqual(self.complete(*bus, "migrate", "--live", ""), ["vm-off", "vm-run"])
        self.assertEqual(self.complete(*bus, "migrate", "--bandwidth", "10", "vm-run", ""),
                         ["ssh://", "unix:path="])
        for cmd in ("migrate-setspeed", "migrate-getspeed", "migrate-setmaxdowntime",
                    "migrate-getmaxdowntime", "migrate-postcopy"):
            self.assertEqual(self.complete(*bus, cmd, ""), ["vm-run"], cmd)
        self.assertEqual(self.complete("migrate", "--compressed", "--comp-methods", "z"),
                         ["zlib", "zstd"])
        self.assertEqual(self.complete("migrate-getspeed", "--"),
                         ["--address", "--connect", "--host", "--postcopy", "--session",
                          "--ssh-config", "--system"])
        self.assertIn("--rdma-pin-all", self.complete("migrate", "--"))


class TestMigrateErrors(MigrateCtlTestCase):
    """Errors found with the service's help, before any guest moves: exit status 1."""

    def test_unknown_domain(self):
        for args in (["migrate", "nosuchvm", "unix:path=/nonexistent"],
                     ["migrate", "--p2p", "nosuchvm", "ssh://host2"],
                     ["migrate-setspeed", "nosuchvm", "100"],
                     ["migrate-getspeed", "nosuchvm"],
                     ["migrate-setmaxdowntime", "nosuchvm", "300"],
                     ["migrate-getmaxdowntime", "nosuchvm"],
                     ["migrate-postcopy", "nosuchvm"],
                     ["domjobabort", "nosuchvm"]):
            with self.subTest(args=args):
                self.assertFails(self.ctl(*args, check=False), 1, "nosuchvm")

    def test_direct_is_refused(self):
        self.define("vm1", UUID1)
        p = self.ctl("migrate", "--direct", "vm1", "unix:path=/nonexistent", check=False)
        self.assertFails(p, 1, "direct migration is not supported", "use --p2p")

    def test_unreadable_xml_files(self):
        self.define("vm1", UUID1)
        missing = self.path("missing.xml")
        p = self.ctl("migrate", "--xml", missing, "vm1", "unix:path=/nonexistent", check=False)
        self.assertFails(p, 1, missing)
        p = self.ctl("migrate", "--p2p", "--persistent", "--persistent-xml", missing, "vm1",
                     "ssh://host2", check=False)
        self.assertFails(p, 1, missing)

    def test_destination_not_reachable(self):
        self.define("vm1", UUID1)
        p = self.ctl("migrate", "vm1", "qemu+ssh://host2/system", check=False)
        self.assertFails(p, 1, "'qemu+ssh://host2/system' is neither ssh://", "unix:path=")
        sock = self.path("nobus")
        p = self.ctl("migrate", "vm1", f"unix:path={sock}", check=False)
        self.assertFails(p, 1, f"cannot connect to the destination bus at unix:path={sock}")
        # a bus without the service
        other = vbtest.PrivateBus(os.path.join(self.tmp, "other"))
        try:
            p = self.ctl("migrate", "vm1", other.address, check=False)
        finally:
            other.stop()
        self.assertFails(p, 1, "the virtbus service (org.virtbus.Virt1) is not running on "
                         f"the destination bus at {other.address}")
        # nothing was started on the source: no job, still shut off
        self.assertEqual(self.ctl("domstate", "vm1").stdout, "shutoff\n")
        self.assertIn("Job type:", self.ctl("domjobinfo", "vm1").stdout)
        self.assertEqual(self.ctl("domjobinfo", "vm1").stdout.splitlines()[0].split()[-1], "None")


class TwoHostsTestCase(MigrateCtlTestCase):
    """A second virtbusd (its own bus, root and host UUID) as the destination."""

    def setUp(self):
        super().setUp()
        self.dest_host = vbmigrate.SecondHost(self.tmp, "dest")
        try:
            self.dest_host.start()
        except BaseException:
            super().tearDown()
            raise
        self.dest_bus = self.dest_host.bus
        self.dest_root = self.dest_host.root
        self.dest = self.dest_host.service
        self.dest_conn = self.dest_host.conn

    def tearDown(self):
        problems = self.dest_host.stop(self, show_log=self._outcome_failed())
        super().tearDown()
        if problems:
            self.fail("\n".join(problems))

    def dest_ctl(self, *args, check=True):
        return self.run_cmd([VIRTBUSCTL, "--address", self.dest_bus.address, *args], check=check)

    def guest_xml(self, name):
        return vbmigrate.guest_xml(name, UUID1, tick=False, devices="""
    <emulator>/usr/bin/qemu-system-x86_64</emulator>""")

    def start_guest(self, name="vm1"):
        vbmigrate.require_guest(self)
        self.define(name, xml=self.guest_xml(name))
        self.ctl("start", name)
        self.assertEqual(self.ctl("domstate", name).stdout, "running\n")


class TestMigrateNotSupported(TwoHostsTestCase):
    def test_service_refusal_is_a_clean_error(self):
        self.define("vm1", UUID1)
        # a flag the service does not implement: its NotSupported, named, exit status 1
        p = self.ctl("migrate", "--rdma-pin-all", "vm1", self.dest_bus.address, check=False)
        self.assertFails(p, 1, "error: cannot begin the migration of domain 'vm1': ",
                         "RDMA_PIN_ALL (16384)", "not supported")
        p = self.ctl("migrate", "--p2p", "--rdma-pin-all", "vm1", self.dest_bus.address,
                     check=False)
        self.assertFails(p, 1, "error: cannot migrate domain 'vm1': ", "RDMA_PIN_ALL (16384)")
        # nothing stays behind on either side
        self.assertEqual(self.ctl("domstate", "vm1").stdout, "shutoff\n")
        self.assertEqual(self.dest_ctl("list", "--all", "--name").stdout.strip(), "")


def read_until(p, pattern, timeout, text=""):
    """Reads @p's stderr until @pattern matches what was read (or it ends);
    returns all of it."""
    deadline = time.monotonic() + timeout
    fd = p.stderr.fileno()
    while not re.search(pattern, text):
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"no {pattern!r} on stderr within {timeout} s: {text!r}")
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            chunk = os.read(fd, 65536)
            if not chunk:
                raise AssertionError(f"stderr ended before {pattern!r}: {text!r}")
            text += chunk.decode(errors="replace")
    return text


class TestMigrateEndToEnd(TwoHostsTestCase):
    """A running tiny guest moves from one service to the other."""

    def migrate_args(self, *opts):
        return ["migrate", *opts, "vm1", self.dest_bus.address, "--migrateuri", "tcp:127.0.0.1"]

    def assert_moved(self, dest_reason="running (migrated)"):
        self.assertEqual(self.ctl("domstate", "--reason", "vm1").stdout, "shutoff (migrated)\n")
        self.assertEqual(self.dest_ctl("domstate", "--reason", "vm1").stdout, dest_reason + "\n")
        self.assertEqual(self.dest_ctl("domjobinfo", "vm1").stdout.split()[2], "None")

    def assert_stayed(self):
        self.assertEqual(self.ctl("domstate", "--reason", "vm1").stdout.split()[0], "running")
        vbtest.eventually(lambda: self.dest_ctl("list", "--all", "--name").stdout.strip() == "",
                          timeout=5, what="the incoming domain to go")
        vbtest.eventually(lambda: self.ctl("domjobinfo", "vm1").stdout.split()[2] == "None",
                          timeout=5, what="the source's job to end")

    def test_client_driven_live_migration(self):
        self.start_guest()
        p = self.ctl(*self.migrate_args("--live", "--persistent", "--verbose", "--bandwidth", "50"))
        self.assertEqual(p.stdout, f"Domain 'vm1' migrated to {self.dest_bus.address}\n")
        for phase in ("Begin: ", "Prepare: the destination waits at tcp:", "Perform: ",
                      "Finish: ", "Confirm: "):
            self.assertIn(phase, p.stderr)
        # progress with figures while data moved, then the summary
        self.assertRegex(p.stderr, r"(?m)^migration: \S+ +\d+% [0-9.]+/[0-9.]+ MiB, [0-9.]+ MiB/s")
        self.assertRegex(p.stderr, r"(?m)^migration: completed, [0-9.]+ MiB in [0-9.]+ s")
        self.assertNotIn("warning", p.stderr)
        self.assert_moved()
        self.assertEqual(self.dest_ctl("list", "--persistent", "--name").stdout, "vm1\n")
        # the source keeps its (shut off) definition without --undefinesource
        self.assertEqual(self.ctl("list", "--all", "--name").stdout, "vm1\n")

    def test_p2p_persistent_undefinesource(self):
        self.start_guest()
        p = self.ctl(*self.migrate_args("--live", "--p2p", "--persistent", "--undefinesource",
                                        "--no-progress"))
        self.assertEqual(p.stdout, f"Domain 'vm1' migrated to {self.dest_bus.address}\n")
        self.assertEqual(p.stderr, "")
        self.assertEqual(self.dest_ctl("domstate", "--reason", "vm1").stdout,
                         "running (migrated)\n")
        self.assertEqual(self.dest_ctl("list", "--persistent", "--name").stdout, "vm1\n")
        self.assertFails(self.ctl("domstate", "vm1", check=False), 1, "vm1")

    def test_cancel_or_failure_during_the_transfer_keeps_the_guest(self):
        self.start_guest()
        p = self.ctl_background(*self.migrate_args("--live", "--bandwidth", "1"))
        err = read_until(p, r"MiB/s", timeout=30)
        p.send_signal(signal.SIGINT)
        out, rest = p.communicate(timeout=30)
        err += rest
        self.assertEqual(p.returncode, 1, err)
        self.assertEqual(out, "")
        self.assertIn("Cancelling the migration...", err)
        self.assertIn("error: migration of domain 'vm1' cancelled", err)
        self.assertNotIn("warning", err)
        self.assert_stayed()
        # again, and the destination's QEMU dies during the transfer
        p = self.ctl_background(*self.migrate_args("--live", "--verbose", "--bandwidth", "1"))
        err = read_until(p, r"MiB/s", timeout=30)
        dest_qemus = vbtest.qemus_under(os.path.join(self.tmp, "dest"))
        self.assertEqual(len(dest_qemus), 1, dest_qemus)
        os.kill(next(iter(dest_qemus)), signal.SIGKILL)
        out, rest = p.communicate(timeout=30)
        err += rest
        self.assertEqual(p.returncode, 1, err)
        # the first error is the transfer's; the clean-up found it undone
        self.assertRegex(err, r"(?m)^error: migration of domain 'vm1' failed: ")
        self.assertEqual(err.count("error: "), 1, err)
        self.assertNotIn("warning", err)
        self.assert_stayed()

    def test_prepare_refused_gives_the_domain_back(self):
        # the source's own service as destination: Prepare refuses the same host
        self.start_guest()
        p = self.ctl("migrate", "--live", "--verbose", "vm1", self.bus.address, check=False)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertRegex(p.stderr, "(?m)^error: cannot prepare the migration on "
                         f"{re.escape(self.bus.address)}: .*same host")
        self.assertIn("Confirm: the source took the domain back", p.stderr)
        self.assertNotIn("warning", p.stderr)
        self.assertEqual(self.ctl("domstate", "--reason", "vm1").stdout.split()[0], "running")
        self.assertEqual(self.ctl("domjobinfo", "vm1").stdout.split()[2], "None")
        # it can migrate afterwards; here to the destination's default address and port
        # (no --migrateuri), renamed, and undefined on the source
        p = self.ctl("migrate", "--live", "--undefinesource", "--dname", "vm2", "--no-progress",
                     "vm1", self.dest_bus.address)
        self.assertEqual(p.stdout, f"Domain 'vm1' migrated to {self.dest_bus.address}\n")
        self.assertEqual(p.stderr, "")
        self.assertEqual(self.dest_ctl("domstate", "--reason", "vm2").stdout,
                         "running (migrated)\n")
        self.assertEqual(self.dest_ctl("list", "--transient", "--name").stdout, "vm2\n")
        self.assertFails(self.ctl("domstate", "vm1", check=False), 1, "vm1")

    def test_migrate_postcopy_switches_a_slow_migration(self):
        self.start_guest()
        p = self.ctl_background(*self.migrate_args("--live", "--postcopy", "--bandwidth", "1"))
        err = read_until(p, r"MiB/s", timeout=30)
        p2 = self.ctl("migrate-postcopy", "vm1")
        self.assertEqual(p2.stdout, "Domain 'vm1': switch to post-copy requested\n")
        out, rest = p.communicate(timeout=60)
        self.assertEqual(p.returncode, 0, err + rest)
        self.assertEqual(out, f"Domain 'vm1' migrated to {self.dest_bus.address}\n")
        self.assert_moved()

    def test_timeout_suspends_and_speed_changes_while_it_runs(self):
        self.start_guest()
        p = self.ctl_background(*self.migrate_args("--live", "--bandwidth", "1", "--timeout", "1"))
        err = read_until(p, r"suspending the guest", timeout=30)
        self.assertIn("Migration not done after 1 s; suspending the guest", err)
        vbtest.eventually(lambda: self.ctl("domstate", "vm1").stdout == "paused\n", timeout=10,
                          what="the guest to be suspended")
        self.assertEqual(self.ctl("migrate-getspeed", "vm1").stdout, "1\n")
        self.ctl("migrate-setmaxdowntime", "vm1", "400")
        self.assertEqual(self.ctl("migrate-getmaxdowntime", "vm1").stdout, "400\n")
        self.ctl("migrate-setspeed", "vm1", "0")
        out, rest = p.communicate(timeout=60)
        self.assertEqual(p.returncode, 0, err + rest)
        self.assertNotIn("warning", err + rest)
        self.assertEqual(self.ctl("domstate", "--reason", "vm1").stdout, "shutoff (migrated)\n")


if __name__ == "__main__":
    vbtest.main()
