# SPDX-License-Identifier: LGPL-2.1-or-later
"""The authorization matrix: every method of every interface and every
property write, for each kind of caller, with the real polkitd.

ACTIONS below is the one table of what each call asks polkit for (the
action, the second action of the calls that bring a definition, and where
the details `domain`/`uuid` or `network` come from). The tests check it
against the interface XML (a new method without a row fails) and against
what polkitd really sees (its trace log, test_polkit.py's tracing rule):

  nobody      the shipped policy's defaults: `read` is allowed, every other
              action needs an administrator (refused: no agent)
  daemon      allowed for domain `allowed` (details domain + uuid) and
              network `allowednet` only, by a .rules file; reads that name
              no domain too (lists, capabilities)
  bin         member of the group `virtbus` (data/50-virtbus.rules)
  root        never asked

A refused call changes nothing: the domain `other` keeps running with the
same QEMU, its config, autostart, title and the networks stay as they were.
Calls that pass authorization get arguments that fail right after it
(unknown flag bits, empty paths, a shut-off domain), so the matrix can walk
every method without side effects.

HygieneTest: configs and status files 0600, runtime directories 0700, the
QMP socket out of reach of another uid, no socket shared between QEMU and
virtbusd (its bus connection above all), and of the state root's files a
QEMU holds only its own domain's (log, pid file), not another domain's.
"""

import os
import re
import stat
import subprocess
import sys
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import test_polkit as tp  # noqa: E402
import vbtest  # noqa: E402
from vbtest import (DOMAIN_IFACE, ERR, MANAGER_PATH, SRCDIR,  # noqa: E402
                    DBusCallError, GLib, domain_xml, eventually)

A_NAME, A_UUID = "allowed", "7d2e9c14-1b6a-4f0e-9a51-5a0c3e2b1f01"
B_NAME, B_UUID = "other", "7d2e9c14-1b6a-4f0e-9a51-5a0c3e2b1f02"
NA_NAME, NA_UUID = "allowednet", "7d2e9c14-1b6a-4f0e-9a51-5a0c3e2b1f11"
NB_NAME, NB_UUID = "othernet", "7d2e9c14-1b6a-4f0e-9a51-5a0c3e2b1f12"
NETWORK_IFACE = "org.virtbus.Virt1.Network"
JOB_IFACE = "org.virtbus.Virt1.Job"
PROPS_IFACE = "org.freedesktop.DBus.Properties"
BOGUS = 1 << 29          # a flag bit no method knows: refused right after the checks
V = "org.virtbus.Virt1."

# (interface, member) -> (actions asked, in order; where the details come from)
#   dom: the object's domain (or the domain an argument names); xml: the
#   call's XML; none: no domain; net: the network; job: the job's domain
R, M, D, S, G = "read", "manage", "define", "save", "migrate"
A, MON, AG, CON, N = "attach", "monitor", "agent", "console", "network"
SN = "snapshot"  # issue 15, part snapbus
ACTIONS = {
    ("Manager", "DefineXML"): ((D,), "xml"),
    ("Manager", "CreateXML"): ((M, D), "xml"),
    ("Manager", "LookupByName"): ((R,), "dom"),
    ("Manager", "LookupByUUID"): ((R,), "dom"),
    ("Manager", "ListDomains"): ((R,), "none"),
    ("Manager", "GetCapabilities"): ((R,), "none"),
    ("Manager", "Restore"): ((S,), "none"),
    ("Manager", "MigratePrepare"): ((G, D), "xml"),
    ("Manager", "MigrateFinish"): ((G,), "none"),
    ("Manager", "MigratePrepareTunnel"): ((G, D), "xml"),
    ("Manager", "MigrateTunnelData"): ((G,), "dom"),
    ("Manager", "MigrateTunnelAttach"): ((G,), "dom"),
    ("Manager", "MigrateTunnelEnd"): ((G,), "dom"),
    ("Manager", "NetworkDefineXML"): ((N,), "netxml"),
    ("Manager", "NetworkCreateXML"): ((N,), "netxml"),
    ("Manager", "NetworkLookupByName"): ((R,), "net"),
    ("Manager", "NetworkLookupByUUID"): ((R,), "net"),
    ("Manager", "ListNetworks"): ((R,), "none"),
    ("Manager", "GetAllDomainStats"): ((R,), "none"),
    ("Domain", "GetXMLDesc"): ((R,), "dom"),
    ("Domain", "Undefine"): ((D,), "dom"),
    ("Domain", "Start"): ((M,), "dom"),
    ("Domain", "Shutdown"): ((M,), "dom"),
    ("Domain", "Reboot"): ((M,), "dom"),
    ("Domain", "Reset"): ((M,), "dom"),
    ("Domain", "Destroy"): ((M,), "dom"),
    ("Domain", "Suspend"): ((M,), "dom"),
    ("Domain", "Resume"): ((M,), "dom"),
    ("Domain", "GetControlInfo"): ((R,), "dom"),
    ("Domain", "QemuMonitorCommand"): ((MON,), "dom"),
    ("Domain", "InterfaceAddresses"): ((R,), "dom"),
    ("Domain", "GetJobStats"): ((R,), "dom"),
    ("Domain", "AbortJob"): ((M,), "dom"),
    ("Domain", "Save"): ((S,), "dom"),
    ("Domain", "ManagedSave"): ((S,), "dom"),
    ("Domain", "ManagedSaveRemove"): ((S,), "dom"),
    ("Domain", "CoreDump"): ((S,), "dom"),
    ("Domain", "MigrateBegin"): ((G,), "dom"),
    ("Domain", "MigratePerform"): ((G,), "dom"),
    ("Domain", "MigrateConfirm"): ((G,), "dom"),
    ("Domain", "Migrate"): ((G,), "dom"),
    ("Domain", "MigrateStartPostCopy"): ((G,), "dom"),
    ("Domain", "MigrateSetMaxSpeed"): ((G,), "dom"),
    ("Domain", "MigrateGetMaxSpeed"): ((R,), "dom"),
    ("Domain", "MigrateSetMaxDowntime"): ((G,), "dom"),
    ("Domain", "MigrateGetMaxDowntime"): ((R,), "dom"),
    ("Domain", "FSFreeze"): ((A,), "dom"),
    ("Domain", "FSThaw"): ((A,), "dom"),
    ("Domain", "GetFSInfo"): ((A,), "dom"),
    ("Domain", "GetTime"): ((R,), "dom"),
    ("Domain", "SetTime"): ((A,), "dom"),
    ("Domain", "GetHostname"): ((R,), "dom"),
    ("Domain", "GetGuestInfo"): ((A,), "dom"),
    ("Domain", "SetUserPassword"): ((A,), "dom"),
    ("Domain", "QemuAgentCommand"): ((AG,), "dom"),
    ("Domain", "GetStats"): ((R,), "dom"),
    ("Domain", "MemoryStats"): ((R,), "dom"),
    ("Domain", "SetMemoryStatsPeriod"): ((M,), "dom"),
    ("Domain", "InterfaceStats"): ((R,), "dom"),
    ("Domain", "BlockStats"): ((R,), "dom"),
    ("Domain", "GetBlockInfo"): ((R,), "dom"),
    ("Domain", "GetCPUStats"): ((R,), "dom"),
    ("Domain", "OpenConsole"): ((CON,), "dom"),
    ("Domain", "OpenChannel"): ((CON,), "dom"),
    ("Domain", "OpenGraphicsFD"): ((CON,), "dom"),
    ("Domain", "Screenshot"): ((CON,), "dom"),
    ("Domain", "SendKey"): ((M,), "dom"),
    ("Domain", "InjectNMI"): ((M,), "dom"),
    ("Domain", "SendProcessSignal"): ((M,), "dom"),
    ("Domain", "GetMetadata"): ((R,), "dom"),
    ("Domain", "SetMetadata"): ((D,), "dom"),
    ("Domain", "SetMemory"): ((M,), "dom"),
    ("Domain", "SetMaxMemory"): ((D,), "dom"),
    ("Domain", "SetVcpus"): ((M,), "dom"),
    ("Domain", "PinVcpu"): ((M,), "dom"),
    ("Domain", "PinIOThread"): ((M,), "dom"),
    ("Domain", "GetVcpuPinInfo"): ((R,), "dom"),
    ("Domain", "AttachDevice"): ((D,), "dom"),
    ("Domain", "DetachDevice"): ((D,), "dom"),
    ("Domain", "DetachDeviceAlias"): ((D,), "dom"),
    ("Domain", "UpdateDevice"): ((D,), "dom"),
    ("Domain", "GetVcpus"): ((R,), "dom"),
    ("Domain", "GetIOThreadInfo"): ((R,), "dom"),
    ("Domain", "AddIOThread"): ((M,), "dom"),
    ("Domain", "DelIOThread"): ((M,), "dom"),
    ("Domain", "PinEmulator"): ((M,), "dom"),
    ("Domain", "GetEmulatorPinInfo"): ((R,), "dom"),
    ("Domain", "GetPerfEvents"): ((R,), "dom"),
    ("Domain", "SetPerfEvents"): ((M,), "dom"),
    # issue 14, part cgroup: the tuning calls (CONFIG also asks define; called without it here)
    ("Domain", "GetMemoryParameters"): ((R,), "dom"),
    ("Domain", "SetMemoryParameters"): ((M,), "dom"),
    ("Domain", "GetSchedulerParameters"): ((R,), "dom"),
    ("Domain", "SetSchedulerParameters"): ((M,), "dom"),
    ("Domain", "GetBlkioParameters"): ((R,), "dom"),
    ("Domain", "SetBlkioParameters"): ((M,), "dom"),
    ("Domain", "FSTrim"): ((A,), "dom"),
    ("Domain", "GetGuestVcpus"): ((A,), "dom"),
    ("Domain", "SetGuestVcpus"): ((A,), "dom"),
    ("Domain", "PMSuspendForDuration"): ((M,), "dom"),
    ("Domain", "PMWakeup"): ((M,), "dom"),
    ("Domain", "GetDiskErrors"): ((R,), "dom"),
    ("Domain", "Rename"): ((D,), "dom"),
    ("Domain", "MemoryPeek"): ((MON,), "dom"),
    ("Domain", "BlockPeek"): ((MON,), "dom"),
    # issue 15, part blockjob
    ("Domain", "GetBlockJobInfo"): ((R,), "dom"),
    ("Domain", "BlockJobSetSpeed"): ((M,), "dom"),
    ("Domain", "BlockJobAbort"): ((M,), "dom"),
    ("Domain", "BlockPull"): ((M,), "dom"),
    ("Domain", "BlockCommit"): ((M,), "dom"),
    ("Domain", "BlockCopy"): ((M,), "dom"),
    ("Domain", "BlockResize"): ((M,), "dom"),
    ("Domain", "SetBlockThreshold"): ((M,), "dom"),
    ("Domain", "Set:Autostart"): ((D,), "dom"),
    ("Domain", "Set:Title"): ((D,), "dom"),
    ("Domain", "Set:Description"): ((D,), "dom"),
    # issue 15, part snapbus
    ("Domain", "SnapshotCreateXML"): ((SN,), "dom"),
    ("Domain", "ListSnapshots"): ((R,), "dom"),
    ("Domain", "SnapshotLookupByName"): ((R,), "dom"),
    ("Domain", "SnapshotCurrent"): ((R,), "dom"),
    ("Snapshot", "GetXMLDesc"): ((R,), "dom"),
    ("Snapshot", "Revert"): ((SN,), "dom"),
    ("Snapshot", "Delete"): ((SN,), "dom"),
    ("Job", "Cancel"): ((S,), "job"),
    ("Job", "Wait"): ((R,), "job"),
    ("Network", "Start"): ((N,), "net"),
    ("Network", "Destroy"): ((N,), "net"),
    ("Network", "Undefine"): ((N,), "net"),
    ("Network", "GetXMLDesc"): ((R,), "net"),
    ("Network", "GetDHCPLeases"): ((R,), "net"),
    ("Network", "Update"): ((N,), "net"),
    ("Network", "Set:Autostart"): ((N,), "net"),
}

# daemon: one domain and one network; reads that name no domain (lists)
RULES = r"""
polkit.addRule(function(action, subject) {
    if (action.id.indexOf("org.virtbus.Virt1.") != 0 || subject.user != "daemon")
        return polkit.Result.NOT_HANDLED;
    if (action.lookup("domain") == "%s" && action.lookup("uuid") == "%s")
        return polkit.Result.YES;
    if (action.lookup("network") == "%s" && action.lookup("uuid") == "%s")
        return polkit.Result.YES;
    if (action.id == "org.virtbus.Virt1.read" && action.lookup("domain") === undefined &&
        action.lookup("network") === undefined)
        return polkit.Result.YES;
    return polkit.Result.NO;
});
""" % (A_NAME, A_UUID, NA_NAME, NA_UUID)


def interface_members():
    """{(interface, member)} of every method and writable property of the
    interface XML."""
    out = set()
    d = os.path.join(SRCDIR, "interfaces")
    for f in sorted(os.listdir(d)):
        if not f.endswith(".xml"):
            continue
        for iface in ET.parse(os.path.join(d, f)).getroot().iter("interface"):
            short = iface.get("name").rsplit(".", 1)[1]
            for m in iface.findall("method"):
                out.add((short, m.get("name")))
            for p in iface.findall("property"):
                if p.get("access") == "readwrite":
                    out.add((short, "Set:" + p.get("name")))
    return out


def signatures():
    sigs = {}
    d = os.path.join(SRCDIR, "interfaces")
    for f in sorted(os.listdir(d)):
        if not f.endswith(".xml"):
            continue
        for iface in ET.parse(os.path.join(d, f)).getroot().iter("interface"):
            short = iface.get("name").rsplit(".", 1)[1]
            for m in iface.findall("method"):
                sigs[(short, m.get("name"))] = [a.get("type") for a in m.findall("arg")
                                                if a.get("direction", "in") == "in"]
            for p in iface.findall("property"):
                sigs[(short, "Set:" + p.get("name"))] = [p.get("type")]
    return sigs


def dom_path(uuid):
    return "/org/virtbus/Virt1/domain/" + uuid.replace("-", "_")


def net_path(uuid):
    return "/org/virtbus/Virt1/network/" + uuid.replace("-", "_")


def net_xml(name, uuid, third):
    # forward mode='bridge' to a host bridge that does not exist: starting it
    # creates nothing on the host
    return (f"<network><name>{name}</name><uuid>{uuid}</uuid>"
            f"<forward mode='bridge'/><bridge name='vbm-nobr{third}'/></network>")


DEFAULTS = {"u": BOGUS, "s": "", "t": 0, "i": 0, "x": 0, "b": False, "ay": b"", "a{sv}": {},
            "as": [], "ab": [], "au": [], "h": 0}


class MatrixTest(tp.PolkitTestCase):
    rules = RULES

    def setUp(self):
        super().setUp()
        self.sigs = signatures()
        # a shut-off domain and network for the allowed calls, a running domain
        # and a network for the refused ones
        self.a = self.manager("DefineXML", "su", (domain_xml(A_NAME, A_UUID), 0))
        self.b = self.manager("DefineXML", "su", (domain_xml(B_NAME, B_UUID), 0))
        self.domain(self.b, "Start", "u", (0,))
        self.na = self.manager("NetworkDefineXML", "su", (net_xml(NA_NAME, NA_UUID, 201), 0))
        self.nb = self.manager("NetworkDefineXML", "su", (net_xml(NB_NAME, NB_UUID, 202), 0))
        # a finished job of each domain (its object stays for job_grace_period)
        self.jobs = {}
        for name, path in ((A_NAME, self.a), (B_NAME, self.b)):
            if name == A_NAME:
                self.domain(path, "Start", "u", (0,))
            job = self.domain(path, "Save", "ssu", (os.path.join(self.tmp, name + ".save"), "", 0))
            self.call(job, JOB_IFACE, "Wait", timeout=120000)
            self.jobs[name] = job
            if name == B_NAME:
                self.manager("Restore", "ssu", (os.path.join(self.tmp, name + ".save"), "", 0))
                eventually(lambda: self.get_prop(self.b, DOMAIN_IFACE, "State") == "running",
                           timeout=60, what="the restore of other")
        # issue 15, part snapbus: a snapshot (metadata only, REDEFINE) of each domain
        self.snaps = {}
        for name, path in ((A_NAME, self.a), (B_NAME, self.b)):
            self.snaps[name] = self.snapshot_create(
                path, "<domainsnapshot><name>m</name><state>shutoff</state>"
                "<creationTime>1</creationTime></domainsnapshot>", 1)
        self.b_pid = self.qemu_pid(B_NAME)
        self.snapshot = self.state()

    # -- what must not change --
    def qemu_pid(self, name):
        with open(os.path.join(self.root, "run/virtbus/qemu", name + ".xml")) as f:
            return int(vbtest.STATUS_PID_RE.search(f.read()).group(1))

    def state(self):
        with open(self.config(B_NAME), "rb") as f:
            conf = f.read()
        with open(os.path.join(self.root, "etc/virtbus/qemu/networks", NB_NAME + ".xml"),
                  "rb") as f:
            net = f.read()
        return {"state": self.get_prop(self.b, DOMAIN_IFACE, "State"),
                "pid": self.qemu_pid(B_NAME),
                "config": conf, "net": net,
                "autostart": os.path.lexists(self.autostart_link(B_NAME)),
                "title": self.get_prop(self.b, DOMAIN_IFACE, "Title"),
                "domains": sorted(self.manager("ListDomains", "u", (0,))),
                "networks": sorted(self.manager("ListNetworks", "u", (0,)))}

    # -- one call --
    def args_for(self, key, who_dom):
        """The call's (object path, interface, member, signature, args) for
        the domain/network of @who_dom ('allowed' or 'other')."""
        iface, member = key
        mine = who_dom == A_NAME
        name, uuid = (A_NAME, A_UUID) if mine else (B_NAME, B_UUID)
        nname, nuuid = (NA_NAME, NA_UUID) if mine else (NB_NAME, NB_UUID)
        dpath = self.a if mine else self.b
        sig = self.sigs[key]
        args = [DEFAULTS.get(t, None) for t in sig]
        for i, t in enumerate(sig):
            if t == "o":
                args[i] = dpath
        over = {
            "DefineXML": [domain_xml(name, uuid), BOGUS],
            "CreateXML": [domain_xml(name, uuid), BOGUS],
            "LookupByName": [name], "LookupByUUID": [uuid],
            "Restore": ["/nonexistent/vbtest.save", "", BOGUS],
            "MigratePrepare": [domain_xml(name, uuid), b"", "", BOGUS],
            "MigratePrepareTunnel": [domain_xml(name, uuid), b"", BOGUS],
            "NetworkDefineXML": [net_xml(nname, nuuid, 203), BOGUS],
            "NetworkCreateXML": [net_xml(nname, nuuid, 203), BOGUS],
            "NetworkLookupByName": [nname], "NetworkLookupByUUID": [nuuid],
        }
        if iface == "Manager" and member in over:
            args = over[member]
        if iface == "Domain" and member in ("Save", "CoreDump"):
            args = ["/nonexistent/vbtest.save"] + args[1:]
        if iface == "Domain" and member == "SetMaxMemory":
            args = [0]
        if iface == "Domain" and member == "SendProcessSignal":
            args = [0, 0, BOGUS]
        if key[1].startswith("Set:"):
            prop = member[4:]
            value = {"b": GLib.Variant("b", False), "s": GLib.Variant("s", "\x01")}[sig[0]]
            if iface == "Domain" and prop == "Autostart" and not mine:
                value = GLib.Variant("b", True)
            obj = dpath if iface == "Domain" else (self.na if mine else self.nb)
            return obj, PROPS_IFACE, "Set", "ssv", (V + iface, prop, value)
        obj = {"Manager": MANAGER_PATH, "Domain": dpath, "Job": self.jobs[name],
               "Network": self.na if mine else self.nb, "Snapshot": self.snaps[name]}[iface]
        return obj, V + iface, member, "".join(sig), tuple(args)

    def attempt(self, key, who_dom, conn):
        """'refused:<action>' when polkit refused, else 'passed' (success or
        any other error)."""
        obj, iface, member, sig, args = self.args_for(key, who_dom)
        try:
            self.call(obj, iface, member, sig or None, args, conn=conn, timeout=60000)
        except DBusCallError as e:
            if e.name == ERR + "NotAuthorized":
                m = re.search(r"org\.virtbus\.Virt1\.([a-z]+)", e.message)
                if m:
                    return "refused:" + m.group(1)
            if e.name.startswith("org.freedesktop.DBus.Error.") and \
                    e.name.rsplit(".", 1)[1] in ("UnknownMethod", "UnknownObject",
                                                 "InvalidArgs", "AccessDenied"):
                return "bus-error:" + e.name + ": " + e.message
        return "passed"

    @staticmethod
    def verb(key):
        return key[1].lower()

    def checks_for(self, user, key):
        return [c for c in self.polkitd.checks() if c["user"] == user
                and c["verb"] == self.verb(key)]

    # -- the matrix --
    def test_table_covers_every_member(self):
        members = interface_members()
        self.assertEqual(sorted(members - set(ACTIONS)), [], "methods without a row")
        self.assertEqual(sorted(set(ACTIONS) - members), [], "rows without a method")

    def run_matrix(self, user, conn, who_dom, expect):
        """Calls every member as @user on @who_dom's objects; @expect(key)
        says whether polkit allows. Returns the mismatches."""
        bad = []
        for key in sorted(ACTIONS):
            actions, _ = ACTIONS[key]
            got = self.attempt(key, who_dom, conn)
            allowed = expect(key)
            if got.startswith("bus-error:"):
                bad.append(f"{key}: {got}")
            elif allowed and got != "passed":
                bad.append(f"{key}: expected allowed, got {got}")
            elif not allowed and got == "passed":
                bad.append(f"{key}: expected refused, but it passed")
            elif not allowed:
                # refused for the first action of the row that this caller lacks
                if got.split(":")[1] not in actions:
                    bad.append(f"{key}: refused for {got}, expected one of {actions}")
        return bad

    def assert_checked(self, user, keys, first_only=False):
        """polkitd saw, for each of @keys, the row's actions with its verb."""
        missing = []
        seen = {}
        for c in self.polkitd.checks():
            if c["user"] == user:
                seen.setdefault(c["verb"], set()).add(c["action"].rsplit(".", 1)[1])
        for key in keys:
            actions = ACTIONS[key][0][:1] if first_only else ACTIONS[key][0]
            got = seen.get(self.verb(key), set())
            if not set(actions) <= got:
                missing.append(f"{key}: polkitd saw {sorted(got)}, expected {actions}")
        self.assertEqual(missing, [])

    def assert_unchanged(self):
        self.assertEqual(self.state(), self.snapshot)
        self.assertEqual(self.qemu_pid(B_NAME), self.b_pid)

    def test_nobody_shipped_defaults(self):
        nobody = self.nobody()
        bad = self.run_matrix("nobody", nobody, B_NAME,
                              lambda key: ACTIONS[key][0][0] == R)
        self.assertEqual(bad, [])
        self.assert_checked("nobody", ACTIONS, first_only=True)
        self.assert_unchanged()

    def test_per_domain_user(self):
        daemon = self.user("daemon", "daemon")

        def allowed(key, mine):
            actions, where = ACTIONS[key]
            if where == "none":
                return actions[0] == R
            return mine

        bad = self.run_matrix("daemon", daemon, B_NAME, lambda key: allowed(key, False))
        self.assertEqual(bad, [])
        self.assert_unchanged()
        # the details name the other domain: refused by the .rules file
        lists = ("listdomains", "getalldomainstats", "getmanagedobjects")
        for c in self.polkitd.checks():
            if c["user"] == "daemon" and c["domain"] != "undefined" and c["verb"] not in lists:
                self.assertEqual((c["domain"], c["uuid"]), (B_NAME, B_UUID), c)
        bad = self.run_matrix("daemon", daemon, A_NAME, lambda key: allowed(key, True))
        self.assertEqual(bad, [])
        self.assert_checked("daemon", [k for k in ACTIONS if ACTIONS[k][1] != "none"])
        self.assert_unchanged()
        # lists hold only what the caller may read
        self.assertEqual(self.manager("ListDomains", "u", (0,), conn=daemon), [self.a])

    def test_group_virtbus_may_manage(self):
        """data/50-virtbus.rules: a member of the group virtbus (bin, in a
        group file polkitd sees in its namespace) may define and manage."""
        self.polkitd.stop()
        shipped = os.path.join(SRCDIR, "data", "50-virtbus.rules")
        with open(shipped) as f:
            tp.Polkitd._write(os.path.join(self.polkitd.rules, "50-virtbus.rules"), f.read())
        self.start_polkitd_with_group("bin")
        bin_ = self.user("bin", "bin")
        nobody = self.nobody()
        self.set_prop(self.a, DOMAIN_IFACE, "Autostart", GLib.Variant("b", True), conn=bin_)
        self.assertTrue(self.get_prop(self.a, DOMAIN_IFACE, "Autostart"))
        self.domain(self.b, "Suspend", conn=bin_)
        self.assertEqual(self.get_prop(self.b, DOMAIN_IFACE, "State"), "paused")
        self.domain(self.b, "Resume", conn=bin_)
        path = self.manager("DefineXML", "su", (domain_xml("grp", None), 0), conn=bin_)
        self.domain(path, "Undefine", "u", (0,), conn=bin_)
        # not a member: refused, nothing changed
        self.assertRefused(V + "manage", self.domain, self.b, "Suspend", conn=nobody)
        self.assertEqual(self.get_prop(self.b, DOMAIN_IFACE, "State"), "running")
        self.assertEqual(self.qemu_pid(B_NAME), self.b_pid)

    def start_polkitd_with_group(self, member):
        """polkitd again, seeing a group file with `virtbus` (members
        @member) bind-mounted over /etc/group in its namespace only."""
        group = os.path.join(self.polkitd.dir, "group")
        with open("/etc/group") as f:
            text = f.read()
        gids = {int(line.split(":")[2]) for line in text.splitlines() if line.count(":") >= 3}
        gid = next(g for g in range(990, 100, -1) if g not in gids)
        with open(group, "w") as f:
            f.write(text.rstrip("\n") + f"\nvirtbus:x:{gid}:{member}\n")
        os.chmod(group, 0o644)
        env = dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS=self.bus.address, LC_ALL="C")
        script = ('mount --bind "$1" ' + tp.ACTIONS_DIR + '\n'
                  'mount --bind "$2" ' + tp.ETC_RULES_DIR + '\n'
                  'mount --bind "$3" ' + tp.SHARE_RULES_DIR + '\n'
                  'mount --bind "$4" /etc/group\n'
                  'exec ' + tp.POLKITD + '\n')
        with open(self.polkitd.log_path, "a") as log:
            self.polkitd.proc = subprocess.Popen(
                ["unshare", "--mount", "--propagation", "private", "--",
                 "/bin/sh", "-ec", script, "sh", self.polkitd.actions, self.polkitd.rules,
                 self.polkitd.no_rules, group],
                stdout=log, stderr=subprocess.STDOUT, env=env, stdin=subprocess.DEVNULL)
        tp._live_polkitds.add(self.polkitd)
        conn = vbtest.connect(self.bus.address)
        try:
            eventually(lambda: tp.owner_pid(conn, tp.POLKIT_NAME) == self.polkitd.proc.pid,
                       timeout=15, what="polkitd to own its name")
        finally:
            conn.close_sync(None)

    def test_root_never_asked(self):
        bad = self.run_matrix("root", self.conn, A_NAME, lambda key: True)
        self.assertEqual(bad, [])
        self.assertEqual([c for c in self.polkitd.checks() if c["user"] == "root"], [])


class HygieneTest(vbtest.VirtbusTestCase):
    """Who can reach the service's files and QEMU's sockets."""

    def test_files_sockets_and_fds(self):
        path = self.define("hyg", None)
        self.domain(path, "Start", "u", (0,))
        run = os.path.join(self.root, "run/virtbus/qemu")
        conf = os.path.join(self.root, "etc/virtbus/qemu/hyg.xml")
        status = os.path.join(run, "hyg.xml")
        self.assertEqual(stat.S_IMODE(os.stat(conf).st_mode), 0o600)
        self.assertEqual(stat.S_IMODE(os.stat(status).st_mode), 0o600)
        for d in ("etc/virtbus/qemu", "run/virtbus/qemu", "var/lib/virtbus",
                  "var/log/virtbus/qemu"):
            mode = stat.S_IMODE(os.stat(os.path.join(self.root, d)).st_mode)
            self.assertEqual(mode & 0o077, 0, f"{d}: {mode:o}")
        with open(status) as f:
            text = f.read()
        m = re.search(r"<monitor path='([^']+)'", text)
        self.assertIsNotNone(m, text[:2000])
        qmp = m.group(1)
        self.assertTrue(stat.S_ISSOCK(os.stat(qmp).st_mode))
        # another uid cannot connect to QEMU's monitor
        probe = ("import socket,sys\ns=socket.socket(socket.AF_UNIX)\n"
                 "try:\n  s.connect(sys.argv[1]); print('connected')\n"
                 "except OSError as e: print(e.errno)\n")
        out = subprocess.run(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
                              "/usr/bin/python3", "-c", probe, qmp],
                             capture_output=True, text=True, timeout=30).stdout.strip()
        self.assertIn(out, ("13",), f"nobody's connect to {qmp}: {out}")
        # QEMU holds none of virtbusd's descriptors (its bus connection above all)
        qemu = self.qemu_of("hyg")

        def socket_inodes(pid):
            out = set()
            for fd in os.listdir(f"/proc/{pid}/fd"):
                try:
                    t = os.readlink(f"/proc/{pid}/fd/{fd}")
                except OSError:
                    continue
                if t.startswith("socket:"):
                    out.add(t)
            return out

        shared = socket_inodes(qemu) & socket_inodes(self.service.proc.pid)
        self.assertEqual(shared, set())
        # and no file but its own: the files it holds under the state root are
        # its domain's (log, pid file), never another domain's or the service's
        other = self.define("hyg2", None)
        self.domain(other, "Start", "u", (0,))
        for pid in vbtest.qemus_under(self.root):
            cmd = vbtest.qemus_under(self.root)[pid]
            mine = "hyg2" if "guest=hyg2" in cmd else "hyg"
            files = 0
            for fd in os.listdir(f"/proc/{pid}/fd"):
                try:
                    t = os.readlink(f"/proc/{pid}/fd/{fd}")
                except OSError:
                    continue
                if not t.startswith("/"):
                    continue            # sockets, pipes, anon inodes
                if t.startswith("/dev/"):
                    continue
                self.assertTrue(t.startswith(self.root + "/"), f"QEMU {mine} holds {t}")
                base = os.path.basename(t)
                self.assertTrue(base.startswith(mine + ".") or f"/{mine}/" in t,
                                f"QEMU of {mine} holds {t}")
                files += 1
            self.assertGreater(files, 0, f"QEMU of {mine} holds not even its log")

    def qemu_of(self, name):
        pids = [p for p, cmd in vbtest.qemus_under(self.root).items() if f"guest={name}," in cmd
                or f"guest={name} " in cmd]
        self.assertEqual(len(pids), 1, vbtest.qemus_under(self.root))
        return pids[0]


def setUpModule():
    tp.setUpModule()


def tearDownModule():
    tp.tearDownModule()


if __name__ == "__main__":
    vbtest.main()
