#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""kill -9 sweep (docs/reliability.md): crash virtbusd in the middle of random operations.

Each iteration picks a random operation that the state of a random domain allows (define,
redefine, undefine, start, destroy, suspend, resume, save, restore, managed save, start from
a managed save), calls it, waits a random 0-300 ms, SIGKILLs virtbusd, starts it again and
checks the state tree and the service. About one iteration in four is a live peer-to-peer
migration of a running domain to a second virtbusd (host B: its own private bus and state
root, started once), slowed down by a bandwidth limit: "migrate-out" SIGKILLs the source
service, "migrate-in" the destination's, at a random point of the migration: in a phase
picked at random (begin, prepare, perform3 - the transfer -, perform3_done, finish, confirm,
as the source's status file shows it), or 0-2 s after the call. About two iterations in
five (issue 15, part svckill) act on the storage of a domain with a qcow2 disk (every other
domain has one; those do not migrate): an internal snapshot of the running guest, an
external disk-only snapshot of a running or an inactive domain, a revert, a delete, a
BlockCopy or an active BlockCommit, each pivoted once ready. A block job that survives the
restart is cancelled (BlockJobAbort), as an administrator would decide. The checks:

- configs lost: a domain defined before (and not the one being undefined) whose config file
  or bus object is gone; a domain on the bus without its config, or the reverse;
- corrupt files: a config, status or other .xml file of the state tree that does not parse,
  a config that names another domain, a config of a domain the operation did not touch
  that changed;
- orphans: a QEMU of this test that no active domain claims (after 15 s);
- stuck jobs: a domain whose Job property is not "/" (after 15 s);
- temp files: a temporary file (".NAME.XXXXXX", ".NAME.vbpart-XXXXXX", "*.tmp") anywhere
  in the test's directories;
- lost runs: a QEMU alive through the restart whose domain the service no longer reports
  active with that pid, or an active domain whose State disagrees with QEMU's own
  (query-status);
- after a migration (once neither side has a job, at most 60 s): split brains (the domain
  running on both hosts), lost domains (active on neither), paused sources (the source
  paused with a StateReason other than "migration", or beside a copy on B that does not
  run); a source paused/migration is reported, and the sweep decides as an administrator
  would (the running copy wins, else the source resumes), counted as "decided"; host B
  is checked like host A (orphans, stuck jobs, corrupt and temp files), and its incoming
  domains left paused count as orphans;
- chain: a domain's disk image in its config or live XML missing, or without a valid
  qemu-img backing chain (every file of it there), or a running QEMU whose top image
  (query-block) is not the live XML's.

usage: kill9-sweep.py [--seed N] [--iterations N] [--domains N] [--migrations P] [--keep]
                      [--selftest]
Prints the seed first (replay with --seed), one line per iteration on stderr, then one line
of figures; TAP on stdout ("ok 1" only when every figure but the iterations is 0).
"""

import argparse
import json
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import xml.etree.ElementTree as ET

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import vbtest  # noqa: E402
from vbtest import (DOMAIN_IFACE, MANAGER_IFACE, MANAGER_PATH, BUS_NAME,  # noqa: E402
                    Gio, GLib, PrivateBus, Service, connect, qemus_under)

XML = """<domain type='qemu'>
  <name>{name}</name>
  <uuid>{uuid}</uuid>
  <description>{desc}</description>
  <memory unit='MiB'>{mem}</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='q35'>hvm</type></os>
  <devices><emulator>/usr/bin/qemu-system-x86_64</emulator>{disk}</devices>
</domain>
"""
# issue 15, part svckill: every other domain has a qcow2 disk, for snapshots and block jobs
# (the others, without, are the ones that migrate: no storage to copy)
DISK = """<disk type='file' device='disk'><driver name='qemu' type='qcow2'/>
<source file='{path}'/><target dev='vda' bus='virtio'/></disk>"""
SOURCE_RE = re.compile(r"<source file='([^']*)'")
SNAPSHOT_IFACE = "org.virtbus.Virt1.Snapshot"
JOB_IFACE = "org.virtbus.Virt1.Job"
DISK_ONLY, COPY_REUSE_EXT, COMMIT_ACTIVE, ABORT_PIVOT = 16, 2, 4, 2
LIVE, P2P = 1, 2
# the phases of a peer-to-peer migration-out job, in order (service/migration/)
MIG_PHASES = ("begin", "prepare", "perform3", "perform3_done", "finish", "confirm")
TEMP_RE = re.compile(r"^\..+\.(?:vbpart-)?[A-Za-z0-9]{6}$|\.tmp$")
MAX_RUNNING = 3


class CallError(Exception):
    def __init__(self, name, message):
        super().__init__(f"{name}: {message}")
        self.name = name


def call(conn, path, iface, method, sig=None, args=(), timeout=30000):
    params = GLib.Variant(f"({sig})", tuple(args)) if sig else None
    try:
        r = conn.call_sync(BUS_NAME, path, iface, method, params, None,
                           Gio.DBusCallFlags.NONE, timeout, None)
    except GLib.Error as e:
        raise CallError(Gio.DBusError.get_remote_error(e) or str(e), e.message) from None
    r = r.unpack() if r is not None else None
    return r[0] if r and len(r) == 1 else r


def uuid_of(i):
    return f"6b9e3f4a-1c2d-4e5f-8a9b-0c1d2e3f{i:04x}"


class Sweep:
    def __init__(self, args):
        self.args = args
        self.rng = random.Random(args.seed)
        self.tmp = tempfile.mkdtemp(prefix="vbkill9-")
        self.root = os.path.join(self.tmp, "root")
        self.saves = os.path.join(self.tmp, "saves")
        os.makedirs(self.root)
        os.makedirs(self.saves)
        os.chmod(self.tmp, 0o755)
        self.bus = PrivateBus(self.tmp)
        self.service = Service(self.bus, self.root)
        self.conn = None
        # host B, the destination of the migrations: its own bus, state root and virtbusd
        self.dir_b = os.path.join(self.tmp, "hostb")
        self.root_b = os.path.join(self.dir_b, "root")
        os.makedirs(self.root_b)
        self.bus_b = PrivateBus(self.dir_b)
        self.service_b = Service(self.bus_b, self.root_b)
        self.conn_b = None
        self.names = [f"k{i}" for i in range(args.domains)]
        self.disks = os.path.join(self.tmp, "disks")
        os.makedirs(self.disks)
        for i, n in enumerate(self.names):
            if i % 2 == 0:
                subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2",
                                       self.disk_of(n), "16M"], check=True)
        self.figures = dict(iterations=0, configs_lost=0, corrupt_files=0, orphans=0,
                            stuck_jobs=0, temp_files=0, lost_runs=0, split_brains=0,
                            lost_domains=0, paused_sources=0, chain=0)
        self.ops = {}
        # how the migrations ended (moved, stayed, decided) and where the kills landed
        self.mig_outcomes = {}
        self.mig_phases = {}
        self.seen_temps = set()

    def disk_of(self, name):
        """The base image of @name, or None (a domain without a disk)."""
        i = self.names.index(name)
        return os.path.join(self.disks, name + ".qcow2") if i % 2 == 0 else None

    def xml_of(self, name, desc, mem):
        disk = self.disk_of(name)
        return XML.format(name=name, uuid=uuid_of(self.names.index(name)), desc=desc, mem=mem,
                          disk=DISK.format(path=disk) if disk else "")

    def log(self, msg):
        sys.stderr.write(msg + "\n")
        sys.stderr.flush()

    def problem(self, figure, what):
        self.figures[figure] += 1
        self.log(f"  PROBLEM {figure}: {what}")

    # -- the state as the service and the files tell it --
    def config_dir(self):
        return os.path.join(self.root, "etc/virtbus/qemu")

    def configs(self):
        out = {}
        for name in os.listdir(self.config_dir()):
            if name.endswith(".xml") and not name.startswith("."):
                with open(os.path.join(self.config_dir(), name), "rb") as f:
                    out[name[:-4]] = f.read()
        return out

    def domains(self, conn=None):
        """{name: props} of every domain on the bus (host A's, or @conn's)."""
        conn = conn or self.conn
        out = {}
        for path in call(conn, MANAGER_PATH, MANAGER_IFACE, "ListDomains", "u", (0,)):
            try:
                props = call(conn, path, "org.freedesktop.DBus.Properties", "GetAll", "s",
                             (DOMAIN_IFACE,))
            except CallError as e:
                if "UnknownObject" in e.name or "UnknownMethod" in e.name or \
                        "InvalidArgs" in e.name or e.name.endswith("NoDomain"):
                    continue  # a transient domain that went meanwhile
                raise
            props["path"] = path
            out[props["Name"]] = props
        return out

    def status_pid(self, name, root=None):
        try:
            with open(os.path.join(root or self.root, "run/virtbus/qemu", name + ".xml")) as f:
                m = re.search(r"<domstatus\b[^>]*\bpid='(\d+)'", f.read())
            return int(m.group(1)) if m else None
        except FileNotFoundError:
            return None

    def status_phase(self, name):
        """The async job and phase host A's status file of @name records ("-" if none)."""
        try:
            with open(os.path.join(self.root, "run/virtbus/qemu", name + ".xml")) as f:
                m = re.search(r"<job [^>]*\basync='([^']*)'[^>]*\bphase='([^']*)'", f.read())
            return f"{m.group(1)}/{m.group(2)}" if m else "-"
        except FileNotFoundError:
            return "-"

    # -- operations --
    def choose(self, doms):
        """(op, name, function) for a random operation the states allow."""
        running = sum(1 for d in doms.values() if d["Active"])
        movable = sorted(n for n, d in doms.items()
                         if d["State"] == "running" and not self.disk_of(n))
        if movable and self.rng.random() < self.args.migrations:
            # a live peer-to-peer migration to host B at 1 or 2 MiB/s: it lasts a few
            # seconds, so that a kill lands in the transfer often
            op = self.rng.choice(("migrate-out", "migrate-in"))
            name = self.rng.choice(movable)
            path = doms[name]["path"]
            params = {"migrate_uri": GLib.Variant("s", "tcp://127.0.0.1"),
                      "bandwidth": GLib.Variant("t", self.rng.choice((1, 2)))}
            return op, name, lambda c: call(c, path, DOMAIN_IFACE, "Migrate", "sa{sv}u",
                                            (self.bus_b.address, params, LIVE | P2P))
        saves = {n for n in self.names if os.path.exists(os.path.join(self.saves, n + ".save"))}
        ops = ["define", "redefine", "undefine", "start", "destroy", "suspend", "resume",
               "save", "restore", "managedsave"]
        if self.rng.random() < 0.4:
            picked = self.choose_storage(doms)
            if picked is not None:
                return picked
        while True:
            op = self.rng.choice(ops)
            name = self.rng.choice(self.names)
            d = doms.get(name)
            state = d["State"] if d else None
            active = bool(d and d["Active"])
            if op == "define" and d is None:
                break
            if op == "redefine" and d is not None:
                break
            if op == "undefine" and d is not None and not active:
                break
            if op == "start" and d is not None and not active and running < MAX_RUNNING:
                break
            if op in ("destroy", "save", "managedsave") and active:
                break
            if op == "suspend" and state == "running":
                break
            if op == "resume" and state == "paused":
                break
            if op == "restore" and not active and name in saves and running < MAX_RUNNING:
                break
        xml = self.xml_of(name, f"iteration {self.figures['iterations']}",
                          self.rng.choice((512, 768)))
        path = d["path"] if d else None
        save = os.path.join(self.saves, name + ".save")
        fn = {
            "define": lambda c: call(c, MANAGER_PATH, MANAGER_IFACE, "DefineXML", "su", (xml, 0)),
            "redefine": lambda c: call(c, MANAGER_PATH, MANAGER_IFACE, "DefineXML", "su",
                                       (xml, 0)),
            # SNAPSHOTS_METADATA (2): a domain's snapshots do not keep it defined
            "undefine": lambda c: call(c, path, DOMAIN_IFACE, "Undefine", "u", (2,)),
            "start": lambda c: call(c, path, DOMAIN_IFACE, "Start", "u",
                                    (self.rng.choice((0, 0, 1)),), timeout=60000),
            "destroy": lambda c: call(c, path, DOMAIN_IFACE, "Destroy", "u", (0,)),
            "suspend": lambda c: call(c, path, DOMAIN_IFACE, "Suspend"),
            "resume": lambda c: call(c, path, DOMAIN_IFACE, "Resume"),
            "save": lambda c: call(c, path, DOMAIN_IFACE, "Save", "ssu", (save, "", 0)),
            "restore": lambda c: call(c, MANAGER_PATH, MANAGER_IFACE, "Restore", "ssu",
                                      (save, "", 0)),
            "managedsave": lambda c: call(c, path, DOMAIN_IFACE, "ManagedSave", "u", (0,)),
        }[op]
        return op, name, fn

    # -- snapshots and block jobs (issue 15, part svckill) --
    def choose_storage(self, doms):
        """(op, name, function) of a snapshot operation or a block job on a domain with a
        disk, or None when none fits."""
        iteration = self.figures["iterations"]
        withdisk = [n for n in sorted(doms) if self.disk_of(n)]
        if not withdisk:
            return None
        name = self.rng.choice(withdisk)
        d = doms[name]
        path = d["path"]
        running = d["State"] == "running"
        snaps = call(self.conn, path, DOMAIN_IFACE, "ListSnapshots", "u", (0,))
        choices = ["snapshot-ext-off"] if not d["Active"] else []
        if running:
            choices += ["snapshot-live", "snapshot-ext", "blockcopy"]
            live = SOURCE_RE.search(call(self.conn, path, DOMAIN_IFACE, "GetXMLDesc", "u", (0,)))
            info = subprocess.run(["qemu-img", "info", "-U", "--output=json", live.group(1)],
                                  capture_output=True, text=True)
            if info.returncode == 0 and "backing-filename" in json.loads(info.stdout):
                choices.append("blockcommit")  # an active commit needs an image below
        if snaps and d["State"] in ("running", "shutoff"):
            choices += ["revert", "snapshot-delete"]
        if not choices:
            return None
        op = self.rng.choice(choices)
        snap = self.rng.choice(snaps) if snaps else None
        xml = f"<domainsnapshot><name>s{iteration}</name></domainsnapshot>"
        dest = os.path.join(self.disks, f"{name}.copy{iteration}.qcow2")

        def job_wait(c, job):
            return call(c, job, JOB_IFACE, "Wait", timeout=120000)

        def pivot(c, job):
            deadline = time.monotonic() + 60
            while call(c, job, "org.freedesktop.DBus.Properties", "Get", "ss",
                       (JOB_IFACE, "Phase")) != "ready" and time.monotonic() < deadline:
                time.sleep(0.05)
            call(c, path, DOMAIN_IFACE, "BlockJobAbort", "su", ("vda", ABORT_PIVOT))
            return job_wait(c, job)

        def copy(c):
            subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", dest, "16M"],
                                  check=True)
            return pivot(c, call(c, path, DOMAIN_IFACE, "BlockCopy", "ssa{sv}u", (
                "vda", f"<disk type='file'><driver type='qcow2'/><source file='{dest}'/>"
                "</disk>", {}, COPY_REUSE_EXT)))
        fn = {
            "snapshot-live": lambda c: job_wait(c, call(c, path, DOMAIN_IFACE,
                                                        "SnapshotCreateXML", "su", (xml, 0))),
            "snapshot-ext": lambda c: job_wait(c, call(c, path, DOMAIN_IFACE,
                                                       "SnapshotCreateXML", "su",
                                                       (xml, DISK_ONLY))),
            "snapshot-ext-off": lambda c: job_wait(c, call(c, path, DOMAIN_IFACE,
                                                           "SnapshotCreateXML", "su",
                                                           (xml, DISK_ONLY))),
            "revert": lambda c: job_wait(c, call(c, snap, SNAPSHOT_IFACE, "Revert", "u", (0,))),
            "snapshot-delete": lambda c: call(c, snap, SNAPSHOT_IFACE, "Delete", "u", (0,),
                                              timeout=120000),
            "blockcopy": copy,
            "blockcommit": lambda c: pivot(c, call(c, path, DOMAIN_IFACE, "BlockCommit",
                                                   "ssstu", ("vda", "", "", 0, COMMIT_ACTIVE))),
        }[op]
        return op, name, fn

    def chain_ok(self, name, what, image):
        """Whether @image exists and qemu-img reads a valid backing chain from it (every
        file of it there); a problem "chain" if not."""
        if not image or not os.path.exists(image):
            self.problem("chain", f"{name}: the {what} definition's image {image} is missing")
            return False
        p = subprocess.run(["qemu-img", "info", "-U", "--backing-chain",
                                   "--output=json", image], capture_output=True, text=True)
        if p.returncode != 0:
            self.problem("chain", f"{name}: the {what} image {image}: {p.stderr.strip()}")
            return False
        for layer in json.loads(p.stdout):
            if not os.path.exists(layer["filename"]):
                self.problem("chain", f"{name}: {image}'s chain names {layer['filename']}, "
                             "missing")
                return False
        return True

    def check_chains(self, doms):
        """The "chain" check: each disk's image in the config and the live XML exists with
        a valid chain, and a running QEMU's top image is the live XML's."""
        for n, d in doms.items():
            if not self.disk_of(n):
                continue
            try:
                with open(os.path.join(self.config_dir(), n + ".xml")) as f:
                    m = SOURCE_RE.search(f.read())
            except FileNotFoundError:
                continue
            self.chain_ok(n, "persistent", m and m.group(1))
            if not d["Active"]:
                continue
            m = SOURCE_RE.search(call(self.conn, d["path"], DOMAIN_IFACE, "GetXMLDesc", "u",
                                      (0,)))
            live = m and m.group(1)
            self.chain_ok(n, "live", live)
            blocks = json.loads(call(self.conn, d["path"], DOMAIN_IFACE, "QemuMonitorCommand",
                                     "s", ('{"execute": "query-block"}',)))["return"]
            tops = [b["inserted"]["file"] for b in blocks if "inserted" in b]
            if tops != [live]:
                self.problem("chain", f"{n}: the live XML names {live}, QEMU has {tops} on top")

    def end_block_jobs(self, doms, ended):
        """A block job survives the restart (docs/blockjobs.md) and a ready one waits for
        a pivot: the sweep cancels it (once: the Jobs in @ended are left), as an
        administrator would decide. Returns the Jobs it cancelled."""
        cancelled = set()
        for n, d in doms.items():
            if d["Job"] == "/" or d["Job"] in ended or not self.disk_of(n):
                continue
            try:
                opn = call(self.conn, d["Job"], "org.freedesktop.DBus.Properties", "Get", "ss",
                           (JOB_IFACE, "Operation"))
                if opn in ("pull", "commit", "active-commit", "copy"):
                    cancelled.add(d["Job"])
                    call(self.conn, d["path"], DOMAIN_IFACE, "BlockJobAbort", "su", ("vda", 0))
                    self.log(f"  {n}: its block job {d['Job']} is cancelled")
            except CallError as e:
                self.log(f"  {n}: ending its block job: {e}")
        return cancelled

    @staticmethod
    def stays(path):
        """Whether @path is still there a second later: the restarted service writes a
        status atomically now and then (a block job it took back), its temporary file is
        seen in flight; one that a killed service left stays."""
        time.sleep(1)
        return os.path.exists(path)

    def run_in_background(self, fn):
        """Calls fn on a connection of its own in a thread; returns the thread and a list
        that gets the outcome."""
        outcome = []

        def body():
            try:
                c = connect(self.bus.address)
            except GLib.Error as e:
                outcome.append(("connect", str(e)))
                return
            try:
                outcome.append(("ok", fn(c)))
            except CallError as e:
                outcome.append(("error", e.name))
            finally:
                try:
                    c.close_sync(None)
                except GLib.Error:
                    pass
        t = threading.Thread(target=body, daemon=True)
        t.start()
        return t, outcome

    # -- checks after the restart --
    def check(self, op, name, before_configs, before_doms, alive_at_kill):
        # config files: parseable, each of its own domain; the untouched ones unchanged
        after = self.configs()
        for n, data in after.items():
            try:
                root = ET.fromstring(data)
                if root.findtext("name") != n:
                    self.problem("corrupt_files", f"config {n}.xml names {root.findtext('name')}")
            except ET.ParseError as e:
                self.problem("corrupt_files", f"config {n}.xml does not parse: {e}")
                continue
            if n != name and n in before_configs and before_configs[n] != data:
                self.problem("corrupt_files", f"config {n}.xml changed by {op} of {name}")
        for n in before_configs:
            if n not in after and not (n == name and op == "undefine"):
                self.problem("configs_lost", f"config of {n} gone after {op} of {name}")
        # every other .xml of the tree parses (status files, caps, networks)
        for dirpath, _, files in os.walk(self.root):
            for f in files:
                p = os.path.join(dirpath, f)
                if f.endswith(".xml") and not f.startswith(".") and os.path.isfile(p):
                    try:
                        ET.parse(p)
                    except ET.ParseError as e:
                        self.problem("corrupt_files", f"{p} does not parse: {e}")
        # temp files, anywhere in the test's directories
        for top in (self.root, self.saves):
            for dirpath, _, files in os.walk(top):
                for f in files:
                    p = os.path.join(dirpath, f)
                    if TEMP_RE.search(f) and p not in self.seen_temps and self.stays(p):
                        self.seen_temps.add(p)  # counted once, however long it stays
                        self.problem("temp_files", p)
        doms = self.domains()
        # the bus and the files agree: every persistent domain has its config (a restore of
        # an undefined domain's save makes a transient one, without a config)
        persistent = {n for n, d in doms.items() if d["Persistent"]}
        for n in persistent ^ set(after):
            self.problem("configs_lost", f"{n}: on the bus {n in doms} (persistent "
                         f"{n in persistent}), config {n in after}")
        # QEMU: every one claimed by an active domain, the same pid as before the kill
        deadline = time.monotonic() + 15
        ended = set()
        while True:
            doms = self.domains()
            ended |= self.end_block_jobs(doms, ended)
            claimed = {}
            for n, d in doms.items():
                if d["Active"]:
                    claimed[self.status_pid(n)] = n
            orphans = {p: c for p, c in qemus_under(self.root).items() if p not in claimed}
            jobs = [n for n, d in doms.items() if d["Job"] != "/"]
            if (not orphans and not jobs) or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        for pid, cmdline in orphans.items():
            self.problem("orphans", f"QEMU {pid} claimed by no domain: {cmdline[:120]}")
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        for n in jobs:
            self.problem("stuck_jobs", f"{n}: Job {doms[n]['Job']}")
        alive_now = qemus_under(self.root)
        for pid, n in alive_at_kill.items():
            if pid not in alive_now:
                continue  # the service reaped it (an interrupted start or stop)
            d = doms.get(n)
            if d is None or not d["Active"] or self.status_pid(n) != pid:
                self.problem("lost_runs", f"{n}: QEMU {pid} alive, domain "
                             f"{d and (d['State'], d['StateReason'])}")
        for n, d in doms.items():
            if not d["Active"] or d["State"] not in ("running", "paused"):
                continue
            try:
                st = call(self.conn, d["path"], DOMAIN_IFACE, "QemuMonitorCommand", "s",
                          ('{"execute": "query-status"}',))
            except CallError as e:
                self.problem("lost_runs", f"{n}: monitor unusable after restart: {e}")
                continue
            running = json.loads(st)["return"]["running"]
            if running != (d["State"] == "running"):
                self.problem("lost_runs", f"{n}: State {d['State']}, QEMU says {st}")
        self.check_chains(doms)
        return doms

    # -- migrations: host B and the domain's place after the kill --
    def settle(self, name, timeout=60):
        """Waits until neither host has a job on @name (the migration's job on the side
        that was not killed runs on and ends by itself)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            a = self.domains().get(name)
            b = self.domains(self.conn_b).get(name)
            if (a is None or a["Job"] == "/") and (b is None or b["Job"] == "/"):
                return
            time.sleep(0.2)

    def check_host_b(self):
        """Host B as host A: every .xml parses, no temp file, no job, no QEMU that no
        active domain claims, no incoming domain left paused."""
        for dirpath, _, files in os.walk(self.root_b):
            for f in files:
                p = os.path.join(dirpath, f)
                if f.endswith(".xml") and not f.startswith(".") and os.path.isfile(p):
                    try:
                        ET.parse(p)
                    except ET.ParseError as e:
                        self.problem("corrupt_files", f"host B: {p} does not parse: {e}")
                # host B was not killed: a temporary file there is one in flight (the
                # incoming domain's status written as its job ends) unless it stays
                if TEMP_RE.search(f) and p not in self.seen_temps and self.stays(p):
                    self.seen_temps.add(p)
                    self.problem("temp_files", f"host B: {p}")
        deadline = time.monotonic() + 15
        while True:
            doms = self.domains(self.conn_b)
            claimed = {self.status_pid(n, self.root_b) for n, d in doms.items() if d["Active"]}
            orphans = {p: c for p, c in qemus_under(self.root_b).items() if p not in claimed}
            jobs = [n for n, d in doms.items() if d["Job"] != "/"]
            incoming = [n for n, d in doms.items()
                        if (d["State"], d["StateReason"]) == ("paused", "migration")]
            if (not orphans and not jobs and not incoming) or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        for pid, cmdline in orphans.items():
            self.problem("orphans", f"host B: QEMU {pid} claimed by no domain: {cmdline[:120]}")
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        for n in jobs:
            self.problem("stuck_jobs", f"host B: {n}: Job {doms[n]['Job']}")
        for n in incoming:
            self.problem("orphans", f"host B: incoming domain {n} left paused (migration)")
        return doms

    def check_migration(self, op, name):
        """The domain runs on exactly one host; a source left paused says why. Then puts
        things back for the next iteration: nothing on host B, the domain on host A."""
        a = self.domains().get(name)
        b = self.domains(self.conn_b).get(name)
        sa = a["State"] if a and a["Active"] else None
        sb = b["State"] if b and b["Active"] else None
        where = (f"{name}: host A {a and (a['State'], a['StateReason'])}, "
                 f"host B {b and (b['State'], b['StateReason'])}")
        outcome = "moved" if sb == "running" and sa is None else \
            "stayed" if sa == "running" and sb is None else "decided"
        if sa == "running" and sb == "running":
            self.problem("split_brains", where)
            outcome = "failed"
        elif sa is None and sb is None:
            self.problem("lost_domains", where)
            outcome = "failed"
        elif sa == "paused" and (a["StateReason"] != "migration" or sb not in (None, "running")):
            self.problem("paused_sources", where)
            outcome = "failed"
        elif outcome == "decided":
            # the transfer had completed when the service died: the source stays paused
            # (reason "migration") until someone decides; the sweep decides as an
            # administrator would: the copy that runs wins, else the source resumes
            self.log(f"  decided: {where}")
        if sa == "paused" and sb != "running":
            call(self.conn, a["path"], DOMAIN_IFACE, "Resume")
        elif sa == "paused" and sb == "running":
            call(self.conn, a["path"], DOMAIN_IFACE, "Destroy", "u", (0,))
        self.mig_outcomes[outcome] = self.mig_outcomes.get(outcome, 0) + 1
        # host B gives the domain back (its copy is transient: destroyed, it goes)
        if b is not None:
            try:
                call(self.conn_b, b["path"], DOMAIN_IFACE, "Destroy", "u", (0,))
            except CallError as e:
                if not e.name.endswith(("OperationInvalid", "NoDomain")):
                    raise
        deadline = time.monotonic() + 15
        while self.domains(self.conn_b) and time.monotonic() < deadline:
            time.sleep(0.1)
        left = self.domains(self.conn_b)
        if left:
            raise AssertionError(f"host B keeps {sorted(left)} after a Destroy")

    def prepare(self, doms):
        """Keeps some domains running (a start takes longer than most delays): with
        fewer than two running, starts one to its end, without a kill."""
        running = [n for n, d in doms.items() if d["Active"]]
        idle = [n for n, d in doms.items() if not d["Active"]]
        if len(running) < 2 and idle and self.rng.random() < 0.7:
            n = self.rng.choice(idle)
            try:
                call(self.conn, doms[n]["path"], DOMAIN_IFACE, "Start", "u", (0,),
                     timeout=120000)
            except CallError as e:
                raise AssertionError(f"cannot start {n} after the restart: {e}") from None
            return self.domains()
        saves = [n for n in self.names if os.path.exists(os.path.join(self.saves, n + ".save"))]
        if running and not saves and self.rng.random() < 0.3:
            # a save image for the restores, by a save that runs to its end
            n = self.rng.choice(running)
            job = call(self.conn, doms[n]["path"], DOMAIN_IFACE, "Save", "ssu",
                       (os.path.join(self.saves, n + ".save"), "", 0))
            call(self.conn, job, "org.virtbus.Virt1.Job", "Wait", timeout=120000)
            return self.domains()
        return doms

    def iteration(self, i):
        doms = self.prepare(self.domains())
        before_configs = self.configs()
        op, name, fn = self.choose(doms)
        self.ops[op] = self.ops.get(op, 0) + 1
        mig = op.startswith("migrate-")
        delay = self.rng.uniform(0, 0.3)
        t0 = time.monotonic()
        t, outcome = self.run_in_background(fn)
        if mig:
            # the kill lands in a phase picked at random (the source's status file says
            # which one runs), a random moment into it; or 0-2 s after the call
            target = self.rng.choice(MIG_PHASES + ("perform3", "any"))
            extra = self.rng.uniform(0, 1.5 if target == "perform3" else 0.1)
            if target == "any":
                time.sleep(self.rng.uniform(0, 2))
            else:
                self.wait_phase(name, target)
                time.sleep(extra)
            delay = time.monotonic() - t0
            phase = self.status_phase(name)
            self.mig_phases[phase] = self.mig_phases.get(phase, 0) + 1
        else:
            time.sleep(delay)
        victim = self.service_b if op == "migrate-in" else self.service
        victim.proc.send_signal(signal.SIGKILL)
        names_by_pid = {}
        for n in doms:
            pid = self.status_pid(n)
            if pid:
                names_by_pid[pid] = n
        victim.proc.wait()
        alive = qemus_under(self.root)
        # a QEMU of a start in flight has no status yet: it is not a "run" the service
        # could have lost, but it must not become an orphan either
        alive_at_kill = {p: names_by_pid[p] for p in alive if p in names_by_pid}
        t.join(timeout=60)
        if victim is self.service_b:
            self.conn_b.close_sync(None)
            self.service_b.start()
            self.conn_b = connect(self.bus_b.address)
        else:
            self.conn.close_sync(None)
            self.service.start()
            self.conn = connect(self.bus.address)
        before = sum(self.figures[k] for k in self.figures if k != "iterations")
        if mig:
            self.settle(name)
        self.check(op, name, before_configs, doms, alive_at_kill)
        self.check_host_b()
        if mig:
            self.check_migration(op, name)
        if self.args.selftest and i == 0:
            # what the checks must see: a temporary file the service cannot know of, and a
            # broken .xml in the state tree
            with open(os.path.join(self.saves, ".planted.save.vbpart-AbC123"), "w") as f:
                f.write("x")
            with open(os.path.join(self.root, "var/lib/virtbus/planted.xml"), "w") as f:
                f.write("<broken")
            self.check(op, name, before_configs, doms, alive_at_kill)
        after = sum(self.figures[k] for k in self.figures if k != "iterations")
        self.figures["iterations"] += 1
        self.log(f"{i}: {op} {name}, kill after {delay * 1000:.0f} ms "
                 f"{'(' + phase + ') ' if mig else ''}"
                 f"({outcome[0][0] if outcome else 'no answer'}"
                 f"{': ' + str(outcome[0][1]) if outcome and outcome[0][0] == 'error' else ''})"
                 f"{'' if after == before else ' PROBLEMS'}")

    def wait_phase(self, name, target, timeout=30):
        """Waits until host A's status file of @name shows its migration-out job in phase
        @target or a later one, or no job any more once it had one, or @timeout."""
        deadline = time.monotonic() + timeout
        seen = False
        want = MIG_PHASES.index(target)
        while time.monotonic() < deadline:
            job, _, phase = self.status_phase(name).partition("/")
            if job == "migration-out":
                seen = True
                if phase in MIG_PHASES and MIG_PHASES.index(phase) >= want:
                    return
            elif seen:
                return
            time.sleep(0.005)

    def run(self):
        self.service.start()
        self.conn = connect(self.bus.address)
        self.service_b.start()
        self.conn_b = connect(self.bus_b.address)
        for i in range(self.args.domains // 2):
            call(self.conn, MANAGER_PATH, MANAGER_IFACE, "DefineXML", "su",
                 (self.xml_of(self.names[i], "", 512), 0))
        t0 = time.monotonic()
        for i in range(self.args.iterations):
            self.iteration(i)
        return time.monotonic() - t0

    def cleanup(self):
        problems_b, left_b = [], {}
        try:
            if self.conn_b is not None and self.service_b.running():
                for d in self.domains(self.conn_b).values():
                    if d["Active"]:
                        call(self.conn_b, d["path"], DOMAIN_IFACE, "Destroy", "u", (0,))
                self.conn_b.close_sync(None)
        except (CallError, GLib.Error) as e:
            self.log(f"cleanup of host B: {e}")
        finally:
            self.service_b.stop(check=False)
            problems_b = [f"host B: {p}" for p in self.service_b.problems]
            left_b = vbtest.kill_qemus_under(self.root_b)
            self.bus_b.stop()
        try:
            if self.conn is not None and self.service.running():
                for d in self.domains().values():
                    if d["Active"]:
                        call(self.conn, d["path"], DOMAIN_IFACE, "Destroy", "u", (0,))
                self.conn.close_sync(None)
        except (CallError, GLib.Error) as e:
            self.log(f"cleanup: {e}")
        finally:
            self.service.stop(check=False)
            problems = self.service.problems
            left = vbtest.kill_qemus_under(self.root)
            self.bus.stop()
            if not self.args.keep:
                import shutil
                shutil.rmtree(self.tmp, ignore_errors=True)
        return problems + problems_b, {**left, **left_b}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--iterations", type=int, default=int(os.environ.get("VB_KILL9_ITERATIONS",
                                                                          "100")))
    ap.add_argument("--domains", type=int, default=5)
    ap.add_argument("--migrations", type=float, default=0.25,
                    help="the share of iterations that migrate a running domain to host B "
                    "(default 0.25; 0: none)")
    ap.add_argument("--keep", action="store_true", help="keep the state tree")
    ap.add_argument("--selftest", action="store_true",
                    help="plant a temporary and a broken file after the first iteration: "
                    "the sweep must fail")
    args = ap.parse_args()
    if args.seed is None:
        args.seed = int.from_bytes(os.urandom(4), "big")
    print("1..1", flush=True)
    sys.stderr.write(f"kill9-sweep: seed {args.seed} (replay: {sys.argv[0]} --seed "
                     f"{args.seed})\n")
    sweep = Sweep(args)
    error = None
    elapsed = 0.0
    try:
        elapsed = sweep.run()
    except Exception:  # noqa: BLE001 (reported, and the test fails)
        import traceback
        error = traceback.format_exc()
    log_tail = (sweep.service.read_log()[-5000:] + "\n---- host B ----\n"
                + sweep.service_b.read_log()[-5000:]) if error else ""
    problems, left = sweep.cleanup()
    f = sweep.figures
    line = (f"iterations {f['iterations']}, configs lost {f['configs_lost']}, corrupt files "
            f"{f['corrupt_files']}, orphans {f['orphans']}, stuck jobs {f['stuck_jobs']}, "
            f"temp files {f['temp_files']}, lost runs {f['lost_runs']}, split brains "
            f"{f['split_brains']}, lost domains {f['lost_domains']}, paused sources "
            f"{f['paused_sources']}, chain {f['chain']}; migrations: out {sweep.ops.get('migrate-out', 0)}, in "
            f"{sweep.ops.get('migrate-in', 0)} ("
            + ", ".join(f"{k} {v}" for k, v in sorted(sweep.mig_outcomes.items()))
            + "; killed in " + ", ".join(f"{k} {v}" for k, v in sorted(sweep.mig_phases.items()))
            + f") (seed {args.seed}, {elapsed:.0f} s; operations: "
            + ", ".join(f"{k} {v}" for k, v in sorted(sweep.ops.items())) + ")")
    bad = any(v for k, v in f.items() if k != "iterations") or error or problems or left \
        or f["iterations"] < args.iterations
    if error:
        sys.stderr.write(error)
        sys.stderr.write(log_tail)
    for p in problems:
        sys.stderr.write(f"virtbusd: {p}\n")
    if left:
        sys.stderr.write(f"QEMU left after the end: {sorted(left)}\n")
    print(f"{'not ok' if bad else 'ok'} 1 - kill9 sweep: {line}", flush=True)
    sys.stderr.write(line + "\n")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
