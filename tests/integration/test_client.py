# SPDX-License-Identifier: LGPL-2.1-or-later
"""virtbusctl against the real virtbusd on a private bus."""

import json
import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vbtest  # noqa: E402
from vbtest import (DOMAIN_IFACE, MANAGER_IFACE, MANAGER_PATH, VIRTBUSCTL,  # noqa: E402
                    domain_xml)

UUID1 = "5c6e2c1a-8f4b-4d59-9f0e-3c1f1b0a7d01"
UUID2 = "5c6e2c1a-8f4b-4d59-9f0e-3c1f1b0a7d02"
COMPLETION = os.path.join(vbtest.SRCDIR, "client", "virtbusctl.bash-completion")


@unittest.skipUnless(os.access(VIRTBUSCTL, os.X_OK), f"{VIRTBUSCTL} not built")
class ClientTestCase(vbtest.VirtbusTestCase):
    def ctl(self, *args, check=True, **kw):
        return self.run_cmd([VIRTBUSCTL, "--address", self.bus.address, *args], check=check, **kw)

    def assertFails(self, p, code, *fragments):
        self.assertEqual(p.returncode, code, f"stdout={p.stdout!r} stderr={p.stderr!r}")
        self.assertTrue(p.stderr.startswith("error: "), p.stderr)
        for f in fragments:
            self.assertIn(f, p.stderr)
        self.assertNotIn("GDBus.Error", p.stderr)

    def write_xml(self, name, uuid=None):
        path = os.path.join(self.tmp, f"{name}.xml")
        with open(path, "w") as f:
            f.write(domain_xml(name, uuid))
        return path

    def props(self, name):
        return self.get_all(self.manager("LookupByName", "s", (name,)), DOMAIN_IFACE)


class TestDefine(ClientTestCase):
    def test_define_from_file(self):
        path = self.write_xml("vm1", UUID1)
        p = self.ctl("define", path)
        self.assertEqual(p.stdout, f"Domain 'vm1' defined from {path}\n")
        self.assertEqual(self.props("vm1")["UUID"], UUID1)

    def test_define_from_stdin(self):
        p = self.ctl("define", "-", input=domain_xml("from-stdin", UUID2))
        self.assertEqual(p.stdout, "Domain 'from-stdin' defined from -\n")
        self.assertEqual(self.props("from-stdin")["UUID"], UUID2)

    def test_define_invalid_xml_reports_parser_message(self):
        bad = "<domain type='qemu'><name>broken</name>\n<memory>12"
        path = os.path.join(self.tmp, "bad.xml")
        with open(path, "w") as f:
            f.write(bad)
        err = self.assertDBusError("InvalidXML", self.manager, "DefineXML", "su", (bad, 0))
        # vbtest keeps the "GDBus.Error:NAME: " prefix in the message
        message = err.message.split(f"{err.name}: ", 1)[-1]
        self.assertIn("line 2", message)
        p = self.ctl("define", path, check=False)
        self.assertFails(p, 1)
        self.assertEqual(p.stderr, f"error: {message}\n")
        self.assertEqual(self.manager("ListDomains", "u", (0,)), [])

    def test_define_missing_file(self):
        path = os.path.join(self.tmp, "does-not-exist.xml")
        self.assertFails(self.ctl("define", path, check=False), 1, "does-not-exist.xml")


class TestList(ClientTestCase):
    def setUp(self):
        super().setUp()
        self.define("zeta", UUID1)
        self.define("a-much-longer-name", UUID2)

    def test_default_lists_active_only(self):
        p = self.ctl("list")
        lines = p.stdout.splitlines()
        self.assertEqual(lines[0].split(), ["Id", "Name", "State"])
        self.assertTrue(set(lines[1]) == {"-"}, lines[1])
        self.assertEqual(lines[2:], [])

    def test_all_and_inactive_sorted_by_name(self):
        for flag in ("--all", "--inactive"):
            rows = [line.split() for line in self.ctl("list", flag).stdout.splitlines()[2:]]
            self.assertEqual(rows, [["-", "a-much-longer-name", "shutoff"],
                                    ["-", "zeta", "shutoff"]], flag)

    def test_table_columns_aligned(self):
        lines = self.ctl("list", "--all").stdout.splitlines()
        header, rule, rows = lines[0], lines[1], lines[2:]
        name_col = header.index("Name")
        state_col = header.index("State")
        for row, name in zip(rows, ["a-much-longer-name", "zeta"]):
            self.assertEqual(row.index(name), name_col, row)
            self.assertEqual(row.index("shutoff"), state_col, row)
            self.assertEqual(row, row.rstrip())
        # the State column starts after the longest name
        self.assertGreater(state_col, name_col + len("a-much-longer-name"))
        self.assertGreaterEqual(len(rule), max(len(line) for line in lines))

    def test_json_fields(self):
        data = json.loads(self.ctl("list", "--all", "--json").stdout)
        self.assertEqual([d["name"] for d in data], ["a-much-longer-name", "zeta"])
        for d in data:
            props = self.props(d["name"])
            self.assertEqual(set(d), {"name", "uuid", "id", "state", "reason", "persistent",
                                      "autostart", "memory_kib", "vcpus", "autodestroy_owner",
                                      "tainted", "unsupported"})
            self.assertEqual(d["unsupported"], props["Unsupported"])
            self.assertEqual(d["uuid"], props["UUID"])
            self.assertIsNone(d["id"])
            self.assertEqual(d["state"], props["State"])
            self.assertEqual(d["reason"], props["StateReason"])
            self.assertIs(d["persistent"], True)
            self.assertIs(d["autostart"], props["Autostart"])
            self.assertEqual(d["memory_kib"], props["Memory"])
            self.assertEqual(d["memory_kib"], 128 * 1024)
            self.assertEqual(d["vcpus"], 1)
        self.assertEqual(json.loads(self.ctl("list", "--json").stdout), [])

    def test_filters(self):
        names = lambda *a: self.ctl("list", *a, "--name").stdout.split()  # noqa: E731
        self.assertEqual(names("--all", "--persistent"), ["a-much-longer-name", "zeta"])
        self.assertEqual(names("--all", "--transient"), [])
        self.assertEqual(names("--state-shutoff"), ["a-much-longer-name", "zeta"])
        self.assertEqual(names("--state-running"), [])
        self.assertEqual(names("--state-running", "--state-paused", "--state-other"), [])
        self.assertEqual(names("--all", "--with-managed-save"), [])
        self.assertFails(self.ctl("list", "--persistent", "--transient", check=False), 2,
                         "exclude each other")

    def test_names_only(self):
        self.assertEqual(self.ctl("list", "--all", "--name").stdout,
                         "a-much-longer-name\nzeta\n")

    def test_address_from_environment(self):
        env = dict(os.environ, VIRTBUS_BUS_ADDRESS=self.bus.address)
        p = self.run_cmd([VIRTBUSCTL, "list", "--all", "--name"], env=env)
        self.assertEqual(p.stdout.split(), ["a-much-longer-name", "zeta"])


class TestDomainCommands(ClientTestCase):
    def setUp(self):
        super().setUp()
        self.path = self.define("vm1", UUID1)

    def test_info(self):
        p = self.ctl("info", "vm1")
        fields = dict(line.split(":", 1) for line in p.stdout.splitlines())
        fields = {k: v.strip() for k, v in fields.items()}
        self.assertEqual(fields["Name"], "vm1")
        self.assertEqual(fields["UUID"], UUID1)
        self.assertEqual(fields["Id"], "-")
        self.assertEqual(fields["State"], "shutoff (unknown)")
        self.assertEqual(fields["Persistent"], "yes")
        self.assertEqual(fields["Autostart"], "disable")
        self.assertEqual(fields["Max memory"], "131072 KiB")
        self.assertEqual(fields["CPU(s)"], "1")
        # values aligned in one column
        starts = {len(line) - len(line.split(":", 1)[1].lstrip()) for line in p.stdout.splitlines()}
        self.assertEqual(len(starts), 1, p.stdout)

    def test_info_by_uuid_and_json(self):
        by_uuid = json.loads(self.ctl("info", UUID1, "--json").stdout)
        self.assertEqual(by_uuid["name"], "vm1")
        self.assertEqual(by_uuid, json.loads(self.ctl("list", "--all", "--json").stdout)[0])

    def test_dumpxml(self):
        xml = self.ctl("dumpxml", "vm1").stdout
        self.assertIn("<name>vm1</name>", xml)
        self.assertIn(f"<uuid>{UUID1}</uuid>", xml)
        self.assertEqual(xml.rstrip("\n"),
                         self.domain(self.path, "GetXMLDesc", "u", (0,)).rstrip("\n"))
        inactive = self.ctl("dumpxml", UUID1, "--inactive").stdout
        self.assertIn("<name>vm1</name>", inactive)
        self.assertEqual(inactive.rstrip("\n"),
                         self.domain(self.path, "GetXMLDesc", "u", (2,)).rstrip("\n"))
        self.assertIn("<name>vm1</name>", self.ctl("dumpxml", "vm1", "--migratable").stdout)

    def test_autostart_on_and_off(self):
        p = self.ctl("autostart", "vm1")
        self.assertEqual(p.stdout, "Domain 'vm1' marked as autostarted\n")
        self.assertIs(self.get_prop(self.path, DOMAIN_IFACE, "Autostart"), True)
        self.assertIn("enable", self.ctl("info", "vm1").stdout)
        p = self.ctl("autostart", "--disable", "vm1")
        self.assertEqual(p.stdout, "Domain 'vm1' unmarked as autostarted\n")
        self.assertIs(self.get_prop(self.path, DOMAIN_IFACE, "Autostart"), False)

    def test_undefine(self):
        # virsh's flags reach Undefine: both of a pair are refused by the service
        self.assertFails(self.ctl("undefine", "--nvram", "--keep-nvram", "vm1", check=False), 1,
                         "KEEP_NVRAM")
        self.assertFails(self.ctl("undefine", "--tpm", "--keep-tpm", "vm1", check=False), 1,
                         "KEEP_TPM")
        p = self.ctl("undefine", "vm1")
        self.assertEqual(p.stdout, "Domain 'vm1' has been undefined\n")
        self.assertDBusError("NoDomain", self.manager, "LookupByName", "s", ("vm1",))
        self.assertFails(self.ctl("info", "vm1", check=False), 1, "vm1")
        self.assertEqual(self.ctl("list", "--all", "--name").stdout, "")

    def test_version_and_capabilities(self):
        version = self.get_prop(MANAGER_PATH, MANAGER_IFACE, "Version")
        lines = self.ctl("version").stdout.splitlines()
        self.assertIn(f"Service version: {version}", lines)
        self.assertTrue(any(line.startswith("Client version:") for line in lines))
        caps = self.manager("GetCapabilities")
        out = self.ctl("capabilities").stdout
        self.assertTrue(out.startswith("<capabilities>"), out[:200])
        # the service does not promise an order of the guest entries
        self.assertEqual(sorted(out.splitlines()), sorted(caps.splitlines()))


class TestErrors(ClientTestCase):
    def test_unknown_domain(self):
        for cmd in ("info", "dumpxml", "undefine", "autostart"):
            self.assertFails(self.ctl(cmd, "nosuchvm", check=False), 1, "nosuchvm")
        self.assertFails(self.ctl("info", UUID2, check=False), 1, UUID2)

    def test_unknown_command(self):
        p = self.ctl("frobnicate", check=False)
        self.assertFails(p, 2, "frobnicate", "virtbusctl help")

    def test_usage_errors(self):
        self.assertFails(self.ctl("info", check=False), 2, "NAME|UUID")
        self.assertFails(self.ctl("info", "a", "b", check=False), 2)
        self.assertFails(self.ctl("list", "--bogus", check=False), 2, "--bogus")
        self.assertFails(self.run_cmd([VIRTBUSCTL, "--session", "--address", self.bus.address,
                                       "list"], check=False), 2)
        self.assertFails(self.run_cmd([VIRTBUSCTL], check=False), 2)

    def test_help(self):
        out = self.run_cmd([VIRTBUSCTL, "help"]).stdout
        for cmd in ("list", "define", "undefine", "dumpxml", "info", "autostart",
                    "capabilities", "version"):
            self.assertIn(f"  {cmd} ", out)
        out = self.run_cmd([VIRTBUSCTL, "help", "dumpxml"]).stdout
        self.assertIn("--migratable", out)
        self.assertNotIn("--name", self.run_cmd([VIRTBUSCTL, "help", "list"]).stdout)

    def test_qemu_monitor_command_checks_json_first(self):
        """The client parsed the command with json-glib before anything else:
        deep nesting overflowed its stack (issue 9, item 2)."""
        self.define("vm1")
        for payload, fragment in (("[" * 100000, "deeper than 1024 levels"),
                                  ('{"a":' * 20000, "deeper than 1024 levels"),
                                  ("{'execute': 'query-status'}", "not strict JSON at byte 1")):
            p = self.ctl("qemu-monitor-command", "vm1", payload, check=False)
            self.assertFails(p, 1, "the command", fragment)
        # nothing reached the (shut off) domain: not tainted
        self.assertEqual(self.props("vm1")["Tainted"], [])

    def test_service_not_running(self):
        self.service.stop()
        # the message names the bus that was asked
        for cmd in (["list"], ["info", "vm1"], ["event", "--timeout", "1"]):
            self.assertFails(self.ctl(*cmd, check=False), 1, "org.virtbus.Virt1",
                             f"is not running on the bus at {self.bus.address}")


class TestVersionAndBus(ClientTestCase):
    NOWHERE = "unix:path=/nonexistent/virtbus-test-socket"

    def test_version_option_needs_no_service(self):
        self.service.stop()
        for argv in ([VIRTBUSCTL, "--version"],
                     [VIRTBUSCTL, "--address", self.NOWHERE, "--version"]):
            p = self.run_cmd(argv)
            self.assertRegex(p.stdout, r"^virtbusctl \d+\.\d+\.\d+\n$")
            self.assertEqual(p.stderr, "")
        self.assertIn("--version", self.run_cmd([VIRTBUSCTL, "--help"]).stdout)

    def test_version_command_with_and_without_service(self):
        client = self.run_cmd([VIRTBUSCTL, "--version"]).stdout.split()[1]
        version = self.get_prop(MANAGER_PATH, MANAGER_IFACE, "Version")
        p = self.ctl("version")
        self.assertIn(f"Client version:  {client}", p.stdout.splitlines())
        self.assertIn(f"Service version: {version}", p.stdout.splitlines())
        self.assertEqual(p.stderr, "")
        # no service on the bus: still the client's version, and a note why not the service's
        self.service.stop()
        p = self.ctl("version")
        self.assertEqual(p.stdout.splitlines()[0], f"Client version:  {client}")
        self.assertIn("Service version: unknown (service not reachable)", p.stdout)
        self.assertTrue(p.stderr.startswith("note: "), p.stderr)
        self.assertIn(f"not running on the bus at {self.bus.address}", p.stderr)
        # no bus at all
        p = self.run_cmd([VIRTBUSCTL, "--address", self.NOWHERE, "version"])
        self.assertIn(f"Client version:  {client}", p.stdout)
        self.assertIn(f"cannot connect to the bus at {self.NOWHERE}", p.stderr)

    def test_unreachable_bus_is_named(self):
        env = dict(os.environ)
        env.pop("VIRTBUS_BUS_ADDRESS", None)
        p = self.run_cmd([VIRTBUSCTL, "--address", self.NOWHERE, "list"], check=False, env=env)
        self.assertFails(p, 1, f"cannot connect to the bus at {self.NOWHERE}: ")
        p = self.run_cmd([VIRTBUSCTL, "list"], check=False,
                         env=dict(env, VIRTBUS_BUS_ADDRESS=self.NOWHERE))
        self.assertFails(p, 1, f"cannot connect to the bus at {self.NOWHERE} "
                               "(from $VIRTBUS_BUS_ADDRESS): ")
        p = self.run_cmd([VIRTBUSCTL, "--system", "list"], check=False,
                         env=dict(env, DBUS_SYSTEM_BUS_ADDRESS=self.NOWHERE))
        self.assertFails(p, 1, f"cannot connect to the system bus ({self.NOWHERE}): ")
        p = self.run_cmd([VIRTBUSCTL, "list"], check=False,
                         env=dict(env, DBUS_SYSTEM_BUS_ADDRESS=self.NOWHERE))
        self.assertFails(p, 1, f"cannot connect to the system bus ({self.NOWHERE}): ")
        p = self.run_cmd([VIRTBUSCTL, "--session", "list"], check=False,
                         env=dict(env, DBUS_SESSION_BUS_ADDRESS=self.NOWHERE))
        self.assertFails(p, 1, "cannot connect to the session bus: ")


class TestCompletion(ClientTestCase):
    def complete(self, *words):
        script = (f"source {COMPLETION}\n"
                  "COMP_WORDS=(\"$@\"); COMP_CWORD=$(($# - 1))\n"
                  "_virtbusctl\n"
                  "printf '%s\\n' \"${COMPREPLY[@]}\"\n")
        p = subprocess.run(["bash", "-c", script, "bash", *words], capture_output=True,
                           text=True, timeout=30)
        self.assertEqual(p.returncode, 0, p.stderr)
        return sorted(w for w in p.stdout.splitlines() if w)

    def test_commands_options_and_domains(self):
        self.define("vm-one")
        self.define("vm-two")
        self.define("other")
        self.assertEqual(self.complete(VIRTBUSCTL, "--v"), ["--version"])
        self.assertEqual(self.complete(VIRTBUSCTL, "d"),
                         ["define", "desc", "destroy", "detach-device", "detach-device-alias",
                          "display-stream", "domblkerror", "domblkinfo", "domblklist", "domblkstat",
                          "domblkthreshold", "domcontrol", "domdisplay", "domfsfreeze",
                          "domfsinfo", "domfsthaw", "domfstrim", "domhostname", "domid",
                          "domifaddr", "domiflist",
                          "domifstat", "domjobabort", "domjobinfo", "dommemstat",
                          "dompmsuspend", "dompmwakeup", "domrename", "domstate", "domstats",
                          "domtime", "dump", "dumpxml"])
        self.assertEqual(self.complete(VIRTBUSCTL, "--address", self.bus.address, "info", "vm"),
                         ["vm-one", "vm-two"])
        self.assertIn("--migratable", self.complete(VIRTBUSCTL, "dumpxml", "--m"))
        # without the bus option the private service is not asked
        env_free = self.complete(VIRTBUSCTL, "--address", "unix:path=/nonexistent", "info", "")
        self.assertEqual(env_free, [])

    def test_each_command_offers_the_domains_it_can_act_on(self):
        # running, paused, shut off (persistent) and a running transient domain
        for name in ("vm-run", "vm-paused", "vm-off"):
            self.define(name)
        self.ctl("start", "vm-run")
        self.ctl("start", "--paused", "vm-paused")
        path = self.write_xml("tr-run")
        self.ctl("create", path)
        everyone = ["tr-run", "vm-off", "vm-paused", "vm-run"]
        active = ["tr-run", "vm-paused", "vm-run"]
        expected = {
            "start": ["vm-off"],
            "shutdown": active, "reboot": active, "reset": active, "destroy": active,
            "domid": active, "console": active, "qemu-monitor-command": active,
            "domifaddr": active, "domiflist": everyone,
            "save": active, "dump": active,
            "suspend": ["tr-run", "vm-run"],
            "resume": ["vm-paused"],
            "managedsave": ["vm-paused", "vm-run"],
            "managedsave-remove": [],
            "undefine": ["vm-off", "vm-paused", "vm-run"],
            "autostart": ["vm-off", "vm-paused", "vm-run"],
            "info": everyone, "dumpxml": everyone, "domstate": everyone,
            "domcontrol": everyone, "domjobinfo": everyone, "domjobabort": everyone,
            "event": everyone,
            # the guest agent (issue 13): a guest that runs
            "domfsfreeze": ["tr-run", "vm-run"], "domtime": ["tr-run", "vm-run"],
            "qemu-agent-command": ["tr-run", "vm-run"],
            # statistics (issue 13, part stats)
            "domstats": everyone, "domblklist": everyone, "dommemstat": everyone,
            "domblkinfo": active, "domblkstat": active, "domifstat": active,
            "vcpuinfo": active, "cpu-stats": active,
            # memory (issue 13, part memev)
            "setmem": everyone, "setmaxmem": everyone, "vcpupin": everyone,
            "iothreadpin": everyone, "setvcpus": everyone,
            # devices (issue 13, part hotplug): CONFIG works on a stopped domain too
            "attach-device": everyone, "detach-device": everyone,
            "detach-device-alias": everyone, "update-device": everyone,
            # guest calls (issue 13, part guest2)
            "domfstrim": ["tr-run", "vm-run"], "guestvcpus": ["tr-run", "vm-run"],
            "dompmsuspend": ["tr-run", "vm-run"], "dompmwakeup": active,
            "domblkerror": active, "domrename": ["vm-off"],
        }
        for cmd, names in expected.items():
            got = self.complete(VIRTBUSCTL, "--address", self.bus.address, cmd, "")
            self.assertEqual(got, names, cmd)
        # the bus options may also follow the command
        self.assertEqual(self.complete(VIRTBUSCTL, "start", "--address", self.bus.address, ""),
                         ["vm-off"])


if __name__ == "__main__":
    vbtest.main()
