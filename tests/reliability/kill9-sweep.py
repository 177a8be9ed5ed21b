#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""kill -9 sweep (docs/reliability.md): crash virtbusd in the middle of random operations.

Each iteration picks a random operation that the state of a random domain allows (define,
redefine, undefine, start, destroy, suspend, resume, save, restore, managed save, start from
a managed save), calls it, waits a random 0-300 ms, SIGKILLs virtbusd, starts it again and
checks the state tree and the service:

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
  (query-status).

usage: kill9-sweep.py [--seed N] [--iterations N] [--domains N] [--keep] [--selftest]
Prints the seed first (replay with --seed), one line per iteration on stderr, then one line
of figures; TAP on stdout ("ok 1" only when every figure but the iterations is 0).
"""

import argparse
import json
import os
import random
import re
import signal
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
  <devices><emulator>/usr/bin/qemu-system-x86_64</emulator></devices>
</domain>
"""
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
        self.names = [f"k{i}" for i in range(args.domains)]
        self.figures = dict(iterations=0, configs_lost=0, corrupt_files=0, orphans=0,
                            stuck_jobs=0, temp_files=0, lost_runs=0)
        self.ops = {}
        self.seen_temps = set()

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

    def domains(self):
        """{name: props} of every domain on the bus."""
        out = {}
        for path in call(self.conn, MANAGER_PATH, MANAGER_IFACE, "ListDomains", "u", (0,)):
            props = call(self.conn, path, "org.freedesktop.DBus.Properties", "GetAll", "s",
                         (DOMAIN_IFACE,))
            props["path"] = path
            out[props["Name"]] = props
        return out

    def status_pid(self, name):
        try:
            with open(os.path.join(self.root, "run/virtbus/qemu", name + ".xml")) as f:
                m = re.search(r"<domstatus\b[^>]*\bpid='(\d+)'", f.read())
            return int(m.group(1)) if m else None
        except FileNotFoundError:
            return None

    # -- operations --
    def choose(self, doms):
        """(op, name, function) for a random operation the states allow."""
        running = sum(1 for d in doms.values() if d["Active"])
        saves = {n for n in self.names if os.path.exists(os.path.join(self.saves, n + ".save"))}
        ops = ["define", "redefine", "undefine", "start", "destroy", "suspend", "resume",
               "save", "restore", "managedsave"]
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
        i = self.names.index(name)
        xml = XML.format(name=name, uuid=uuid_of(i), desc=f"iteration {self.figures['iterations']}",
                         mem=self.rng.choice((64, 96)))
        path = d["path"] if d else None
        save = os.path.join(self.saves, name + ".save")
        fn = {
            "define": lambda c: call(c, MANAGER_PATH, MANAGER_IFACE, "DefineXML", "su", (xml, 0)),
            "redefine": lambda c: call(c, MANAGER_PATH, MANAGER_IFACE, "DefineXML", "su",
                                       (xml, 0)),
            "undefine": lambda c: call(c, path, DOMAIN_IFACE, "Undefine", "u", (0,)),
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
                    if TEMP_RE.search(f) and p not in self.seen_temps:
                        self.seen_temps.add(p)  # counted once, however long it stays
                        self.problem("temp_files", p)
        doms = self.domains()
        # the bus and the files agree (all domains here are persistent)
        for n in set(doms) ^ set(after):
            self.problem("configs_lost", f"{n}: on the bus {n in doms}, config {n in after}")
        # QEMU: every one claimed by an active domain, the same pid as before the kill
        deadline = time.monotonic() + 15
        while True:
            doms = self.domains()
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
        return doms

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
        delay = self.rng.uniform(0, 0.3)
        t, outcome = self.run_in_background(fn)
        time.sleep(delay)
        self.service.proc.send_signal(signal.SIGKILL)
        names_by_pid = {}
        for n in doms:
            pid = self.status_pid(n)
            if pid:
                names_by_pid[pid] = n
        self.service.proc.wait()
        alive = qemus_under(self.root)
        # a QEMU of a start in flight has no status yet: it is not a "run" the service
        # could have lost, but it must not become an orphan either
        alive_at_kill = {p: names_by_pid[p] for p in alive if p in names_by_pid}
        t.join(timeout=60)
        self.conn.close_sync(None)
        self.service.start()
        self.conn = connect(self.bus.address)
        before = sum(self.figures[k] for k in self.figures if k != "iterations")
        self.check(op, name, before_configs, doms, alive_at_kill)
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
                 f"({outcome[0][0] if outcome else 'no answer'}"
                 f"{': ' + str(outcome[0][1]) if outcome and outcome[0][0] == 'error' else ''})"
                 f"{'' if after == before else ' PROBLEMS'}")

    def run(self):
        self.service.start()
        self.conn = connect(self.bus.address)
        for i in range(self.args.domains // 2):
            call(self.conn, MANAGER_PATH, MANAGER_IFACE, "DefineXML", "su",
                 (XML.format(name=self.names[i], uuid=uuid_of(i), desc="", mem=64), 0))
        t0 = time.monotonic()
        for i in range(self.args.iterations):
            self.iteration(i)
        return time.monotonic() - t0

    def cleanup(self):
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
        return problems, left


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--iterations", type=int, default=int(os.environ.get("VB_KILL9_ITERATIONS",
                                                                          "100")))
    ap.add_argument("--domains", type=int, default=5)
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
    except Exception as e:  # noqa: BLE001 (reported, and the test fails)
        import traceback
        error = traceback.format_exc()
    log_tail = sweep.service.read_log()[-5000:] if error else ""
    problems, left = sweep.cleanup()
    f = sweep.figures
    line = (f"iterations {f['iterations']}, configs lost {f['configs_lost']}, corrupt files "
            f"{f['corrupt_files']}, orphans {f['orphans']}, stuck jobs {f['stuck_jobs']}, "
            f"temp files {f['temp_files']}, lost runs {f['lost_runs']} "
            f"(seed {args.seed}, {elapsed:.0f} s; operations: "
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
