#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""The bus fuzzer (issue 14, "Bad input"): seeded and reproducible.

usage: bus-fuzz.py [--seed N|date] [--clients N] [--seconds S] [--calls N]

Starts the real virtbusd (G_DEBUG=fatal-criticals) on a private bus with a state root of its
own, defines domains, starts two tiny guests, defines a network, makes Job objects and the
path of a vanished domain; introspects every object (manager, domains, networks, jobs) and,
from --clients connections at once, calls every method of every interface with random and
boundary arguments for --seconds (or --calls calls): empty and 1 MB strings, control
characters, deep and entity-expanding XML (billion laughs), external entities and XIncludes
naming a file that holds a unique secret, unknown flag bits, paths of vanished objects, save
paths that are directories, FIFOs, /dev/zero, symlinks, fds of those; bodies of wrong
signatures, unknown members, property Sets with wrong (and right) types. A maintenance step
puts undefined domains back and restarts stopped guests, so running domains stay a target.

Counts and asserts:
- crashes: the service died (or its bus connection went): 0;
- hangs: a call unanswered for more than 2x the job timeout (job_wait_timeout): 0;
- unexpected: an answer that is neither a reply nor org.virtbus.Virt1.Error.* (UnmappedGError
  excluded) nor a D-Bus standard error for a bad signature, unknown method, interface,
  object or property, or a read-only property: 0;
- internal: an org.virtbus.Virt1.Error.Internal or .Failed answer (bad input must get an
  error a person can act on): 0;
- leaks: the secret (or the target of an entity) in any reply or error: 0;
- fifo: a service thread found blocked opening a FIFO (the FIFO is then opened from here,
  which ends the block and shows the opener): 0;
- GLib criticals and warnings in the service log, and its "cannot copy domain definition"
  (a definition changed in memory into one that no longer parses): 0 (the harness checks
  the log too).
Prints one line "bus-fuzz: seed=... calls=... crashes=0 ..." and the reproducer command.
The seed fixes what each client sends; with more than one client the interleaving varies.
"""

import argparse
import errno
import os
import random
import re
import socket
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import vbtest  # noqa: E402
from vbtest import (BUS_NAME, DOMAIN_IFACE, ERR, MANAGER_IFACE, MANAGER_PATH,  # noqa: E402
                    Gio, GLib, Service, VirtbusTestCase)

ARGS = None
JOB_IFACE = "org.virtbus.Virt1.Job"
SNAPSHOT_IFACE = "org.virtbus.Virt1.Snapshot"
NET_IFACE = "org.virtbus.Virt1.Network"
PROPS = "org.freedesktop.DBus.Properties"
JOB_TIMEOUT = 30      # job_wait_timeout written into the service's configuration
HANG_MS = 2 * JOB_TIMEOUT * 1000
# standard errors a bad call may get from GDBus itself
STD_OK = {"org.freedesktop.DBus.Error." + n for n in (
    "InvalidArgs", "UnknownMethod", "UnknownInterface", "UnknownObject", "UnknownProperty",
    "PropertyReadOnly", "InvalidSignature")}
GLIB_COMPLAINT = re.compile(r"-CRITICAL \*\*|(GLib|GLib-GIO|GLib-GObject|Json)-WARNING \*\*")
NET_XML = """<network><name>fuzznet</name><uuid>0c7a1f3e-1d2b-4e5f-8a9b-0c1d2e3f4a99</uuid>
  <bridge name='vbbfz0'/><ip address='10.232.0.1' netmask='255.255.255.0'/></network>"""
# methods never called: they would act on the host's network (a bridge, dnsmasq, firewall)
SKIP = {(NET_IFACE, "Start"), (MANAGER_IFACE, "NetworkCreateXML")}
U32 = 0xFFFFFFFF
U64 = 0xFFFFFFFFFFFFFFFF


def domain_xml(name, uuid, title=None, extra="", disk=None):
    t = f"<title>{title}</title>" if title else ""
    xml = vbtest.domain_xml(name, uuid).replace("<memory", t + extra + "<memory", 1)
    if disk is not None:
        # a qcow2 disk: the snapshot and block job methods have something to work on
        xml = xml.replace("</devices>", "<disk type='file' device='disk'><driver name='qemu' "
                          f"type='qcow2'/><source file='{disk}'/><target dev='vda' "
                          "bus='virtio'/></disk></devices>", 1)
    return xml


def snapshot_xmls(p):
    """<domainsnapshot> and BlockCopy <disk> documents naming the pools' hostile files."""
    url = "file://" + p.secret_path
    hostile = [p.fifo, "/dev/zero", p.dir, p.link_secret, p.dangling, p.secret_path,
               "relative/mem", "/proc/self/mem"]
    out = ["<domainsnapshot/>", "<domainsnapshot><name>fzx</name></domainsnapshot>",
           "<domainsnapshot><name>../../x</name></domainsnapshot>",
           "<domainsnapshot><name>a/b</name></domainsnapshot>",
           "<domainsnapshot><name>fzs</name><parent><name>fzs</name></parent>"
           "</domainsnapshot>",
           f"<!DOCTYPE s [<!ENTITY x SYSTEM '{url}'>]><domainsnapshot><name>&x;</name>"
           "</domainsnapshot>",
           "<domainsnapshot xmlns:xi='http://www.w3.org/2001/XInclude'><name>xi</name>"
           f"<description><xi:include href='{url}' parse='text'/></description>"
           "</domainsnapshot>",
           "<domainsnapshot><name>d</name><disks><disk name='vda' snapshot='internal'/>"
           "<disk name='vda' snapshot='external'/></disks></domainsnapshot>",
           "<domainsnapshot><name>r</name><state>running</state><domain type='qemu'><name>"
           "x</name></domain></domainsnapshot>"]
    for f in hostile:
        out.append(f"<domainsnapshot><name>m</name><memory snapshot='external' file='{f}'/>"
                   "</domainsnapshot>")
        out.append("<domainsnapshot><name>e</name><disks><disk name='vda' "
                   f"snapshot='external'><source file='{f}'/></disk></disks>"
                   "</domainsnapshot>")
        out.append(f"<disk type='file'><driver type='qcow2'/><source file='{f}'/></disk>")
    return out


class Pools:
    """The values arguments are drawn from (built once per run, in the run's directory)."""

    def __init__(self, tmp, secret):
        self.tmp = tmp
        self.secret = secret
        self.secret_path = os.path.join(tmp, "secret.txt")
        with open(self.secret_path, "w") as f:
            f.write(secret + "\n")
        self.dir = os.path.join(tmp, "a-directory")
        os.mkdir(self.dir)
        self.fifo = os.path.join(tmp, "fifo")
        os.mkfifo(self.fifo)
        self.link_secret = os.path.join(tmp, "link-to-secret")
        os.symlink(self.secret_path, self.link_secret)
        self.link_dir = os.path.join(tmp, "link-to-dir")
        os.symlink(self.dir, self.link_dir)
        self.dangling = os.path.join(tmp, "dangling")
        os.symlink(os.path.join(tmp, "nowhere", "x"), self.dangling)
        self.paths = [self.dir, self.dir + "/", self.fifo, "/dev/zero", "/dev/null",
                      self.link_secret, self.link_dir, self.dangling, self.secret_path,
                      os.path.join(tmp, "nowhere", "save"), os.path.join(tmp, "save-new"),
                      "relative/path", "/", "/proc/self/mem", "/dev/stdin"]
        url = "file://" + self.secret_path
        base = "<os><type arch='x86_64' machine='q35'>hvm</type></os>"
        self.xml = [
            # billion laughs
            "<?xml version='1.0'?><!DOCTYPE domain [<!ENTITY a 'aaaaaaaaaa'>"
            + "".join(f"<!ENTITY {chr(98 + i)} '" + f"&{chr(97 + i)};" * 10 + "'>"
                      for i in range(9))
            + "]><domain type='qemu'><name>&j;</name><memory>131072</memory>" + base
            + "</domain>",
            # external entities: general, parameter, in an attribute
            f"<!DOCTYPE domain [<!ENTITY x SYSTEM '{url}'>]><domain type='qemu'><name>&x;"
            f"</name><memory>131072</memory>{base}</domain>",
            f"<!DOCTYPE domain [<!ENTITY % p SYSTEM '{url}'> %p;]><domain type='qemu'>"
            f"<name>p</name><memory>131072</memory>{base}</domain>",
            f"<!DOCTYPE domain [<!ENTITY x SYSTEM '{self.secret_path}'>]><domain type='qemu'>"
            f"<name>x</name><title>&x;</title><memory>131072</memory>{base}</domain>",
            f"<domain type='qemu' xmlns:xi='http://www.w3.org/2001/XInclude'><name>xi</name>"
            f"<description><xi:include href='{url}' parse='text'/></description>"
            f"<memory>131072</memory>{base}</domain>",
            f"<network><name>n</name><!DOCTYPE x [<!ENTITY x SYSTEM '{url}'>]>&x;</network>",
            f"<!DOCTYPE network [<!ENTITY x SYSTEM '{url}'>]><network><name>&x;</name>"
            "</network>",
            f"<!DOCTYPE disk [<!ENTITY x SYSTEM '{url}'>]><disk type='file' device='disk'>"
            f"<source file='&x;'/><target dev='vdz' bus='virtio'/></disk>",
            # deep
            "<domain type='qemu'><name>d</name><metadata>" + "<a>" * 5000 + "</a>" * 5000
            + "</metadata></domain>",
            "<" * 100000,
            # devices with hostile sources
            f"<disk type='file' device='disk'><source file='{self.fifo}'/>"
            "<target dev='vdy' bus='virtio'/></disk>",
            "<disk type='file' device='cdrom'><source file='/dev/zero'/>"
            "<target dev='sdz' bus='sata'/></disk>",
            f"<disk type='file' device='disk'><source file='{self.link_secret}'/>"
            "<target dev='vdx' bus='virtio'/></disk>",
            f"<disk type='file' device='disk'><source file='{self.dir}'/>"
            "<target dev='vdw' bus='virtio'/></disk>",
            "<interface type='user'><mac address='52:54:00:12:34:56'/></interface>",
            "<serial type='file'><source path='" + self.fifo + "'/></serial>",
            "<domain type='qemu'><name>\x01</name></domain>",
            "<domain/>", "", "<network/>",
            domain_xml("fz-bad-title", None).replace("<memory", "<title>a\tb</title><memory"),
            domain_xml("fz-new", "0c7a1f3e-1d2b-4e5f-8a9b-0c1d2e3f4b00"),
            domain_xml("fz-kernel", None, extra="<os><kernel>" + self.fifo + "</kernel></os>"),
        ]
        self.xml += snapshot_xmls(self)
        self.json = ['{"execute":"query-status"}', "[" * 80000, '{"a":' * 5000,
                     '{"execute":"guest-ping"}', '{"execute":' + '"x' * 1000 + '"}', "{}",
                     '{"execute":"guest-file-open","arguments":{"path":"'
                     + self.secret_path + '"}}']
        self.strings = ["", "x" * (1 << 20), "\x01", "a\x01b", "\x7f\x1b[31m", "\t\n\r",
                        "é/../x", "../../etc/passwd", "x" * 255, "x" * 256, "\ufeff", "\U0001f600",
                        "%s%n%x", "'\"<>&", "vda", "sda", "hda", "serial0", "net0", "ua-x",
                        "virtio-disk0", "org.qemu.guest_agent.0", "tcp://127.0.0.1:1",
                        "tcp://[::1]:1", "unix:///nonexistent", "qemu+tcp://nowhere/system",
                        "http://example.invalid/ns", "fz0", "fz1", "fuzznet",
                        "0c7a1f3e-1d2b-4e5f-8a9b-0c1d2e3f4a99", "ffffffff-ffff-ffff-ffff-"
                        "ffffffffffff", "00000000000000000000000000000000", "root", "nobody",
                        "mem", "disk", "dhcp"]

    def string(self, rnd, small=False):
        r = rnd.random()
        if small:
            # inside arrays and dicts: nothing of a megabyte (a message stays small)
            s = self.string(rnd)
            return s if len(s) <= 4096 else s[:4096]
        if r < 0.15:
            # text with a character XML 1.0 refuses, for what ends up in a definition
            return rnd.choice(("a", "title ", "", "x" * 100)) + chr(rnd.choice(
                (1, 2, 8, 0xb, 0xc, 0x1b, 0x1f, 0xfffe, 0xffff))) + rnd.choice(("", "b"))
        if r < 0.35:
            return rnd.choice(self.strings)
        if r < 0.6:
            return rnd.choice(self.xml)
        if r < 0.8:
            return rnd.choice(self.paths)
        if r < 0.9:
            return rnd.choice(self.json)
        n = rnd.choice((1, 8, 64, 4096))
        return "".join(chr(rnd.choice((rnd.randrange(1, 0x80), rnd.randrange(0x80, 0xD800))))
                       for _ in range(n))


class Client(threading.Thread):
    def __init__(self, run, index):
        super().__init__(name=f"fuzz-client-{index}", daemon=True)
        self.run_ = run
        self.index = index
        self.rnd = random.Random(run.seed * 1000 + index)
        self.conn = vbtest.connect(run.bus_address)
        self.error = None

    # -- values of a D-Bus type --
    def value(self, t, depth=0):
        rnd, pools = self.rnd, self.run_.pools
        c = t[0]
        if c == "s":
            return pools.string(rnd, small=depth > 0)
        if c == "o":
            return rnd.choice(self.run_.object_paths())
        if c == "g":
            return rnd.choice(("", "s", "a{sv}", "(ii)"))
        if c in "uq":
            bits = 32 if c == "u" else 16
            if rnd.random() < 0.3:
                return 0   # CURRENT, no flag: what most methods act on
            return rnd.choice((0, 0, 1, 2, 3, 4, 8, 16, (1 << bits) - 1, 1 << (bits - 1),
                               1 << rnd.randrange(bits), rnd.getrandbits(bits)))
        if c in "in":
            bits = 32 if c == "i" else 16
            return rnd.choice((0, -1, 1, 0, 1, 2, -(1 << (bits - 1)), (1 << (bits - 1)) - 1,
                               rnd.randrange(-(1 << (bits - 1)), 1 << (bits - 1))))
        if c == "t":
            return rnd.choice((0, 1, U64, 1 << 63, U64 // 1024 + 1, rnd.getrandbits(64)))
        if c == "x":
            return rnd.choice((0, -1, -(1 << 63), (1 << 63) - 1, rnd.getrandbits(63)))
        if c == "y":
            return rnd.randrange(256)
        if c == "b":
            return rnd.random() < 0.5
        if c == "d":
            return rnd.choice((0.0, -1.0, 1e308, float("inf"), float("nan"), 0.5))
        if c == "h":
            return 0     # the index into the fd list sent with the call
        if c == "v":
            inner = rnd.choice(("s", "u", "i", "b", "t", "as", "a{sv}", "d", "v"))
            if depth > 3:
                inner = "s"
            return GLib.Variant(inner, self.value(inner, depth + 1))
        if t.startswith("a{"):
            kt, vt = split_types(t[2:-1])
            n = rnd.choice((0, 1, 2, 5))
            if rnd.random() < 0.05 and depth == 0:
                n = 2000
            out = {}
            for _ in range(n):
                k = self.value(kt, depth + 1) if kt != "s" or rnd.random() < 0.5 else \
                    rnd.choice(self.run_.param_names)
                out[k] = self.value(vt, depth + 1)
            return out
        if c == "a":
            et = t[1:]
            n = rnd.choice((0, 1, 3, 17))
            if et in ("y", "b") and rnd.random() < 0.2:
                n = rnd.choice((4096, 1 << 20 if et == "y" else 1 << 16))
            if et == "y":
                return bytes(rnd.getrandbits(8) for _ in range(min(n, 64))) * max(1, n // 64)
            return [self.value(et, depth + 1) for _ in range(n)]
        if c == "(":
            return tuple(self.value(x, depth + 1) for x in split_types(t[1:-1]))
        raise ValueError(t)

    def body(self, sig):
        return GLib.Variant(f"({sig})", tuple(self.value(x) for x in split_types(sig)))

    # -- one call --
    def send(self, path, iface, member, body, fds=None):
        run = self.run_
        msg = Gio.DBusMessage.new_method_call(BUS_NAME, path, iface, member)
        if body is not None:
            msg.set_body(body)
        if fds is not None:
            msg.set_unix_fd_list(fds)
        t0 = time.monotonic()
        try:
            reply, _ = self.conn.send_message_with_reply_sync(
                msg, Gio.DBusSendMessageFlags.NONE, HANG_MS, None)
        except GLib.Error as e:
            what = f"{iface}.{member} on {path} ({body.get_type_string() if body else '()'})"
            if e.matches(Gio.io_error_quark(), Gio.IOErrorEnum.TIMED_OUT):
                run.count("hangs", what)
            elif self.conn.is_closed():
                run.count("crashes", "bus connection lost at " + what)
                raise
            else:
                run.count("unexpected", f"{what}: {e.message}")
            return None
        run.latency(time.monotonic() - t0)
        run.count("calls")
        run.cover(iface, member)
        fdl = reply.get_unix_fd_list()
        if fdl is not None:
            for fd in fdl.steal_fds():
                os.close(fd)
        text = reply.get_body().print_(False) if reply.get_body() is not None else ""
        if run.pools.secret in text:
            run.count("leaks", f"{iface}.{member} on {path}: {text[:300]}")
        if reply.get_message_type() == Gio.DBusMessageType.ERROR:
            name = reply.get_error_name()
            run.count_error(name)
            if name == "org.freedesktop.DBus.Error.NoReply" and not run.service_alive():
                run.count("crashes", f"{iface}.{member} on {path}: {text[:200]}")
            elif (not name.startswith(ERR) or name == ERR + "UnmappedGError") \
                    and name not in STD_OK:
                run.count("unexpected", f"{iface}.{member} on {path}: {name} {text[:300]}")
            elif name in (ERR + "Internal", ERR + "Failed"):
                # bad input must get a named error a person can act on, never an internal one
                run.count("internal", f"{iface}.{member} on {path}: {name} {text[:300]}")
        else:
            # a new Job object or domain becomes a target
            if text.startswith("(objectpath '"):
                run.add_path(text[len("(objectpath '"):].split("'")[0])
        return reply

    def fd_list(self):
        fds = Gio.UnixFDList.new()
        pools, rnd = self.run_.pools, self.rnd
        kind = rnd.choice(("zero", "dir", "fifo", "socket", "secret"))
        if kind == "socket":
            a, b = socket.socketpair()
            fds.append(a.fileno())
            a.close()
            b.close()
        else:
            path = {"zero": "/dev/zero", "dir": pools.dir, "fifo": pools.fifo,
                    "secret": pools.secret_path}[kind]
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
            fds.append(fd)
            os.close(fd)
        return fds

    def one(self):
        run, rnd = self.run_, self.rnd
        path, ifaces = run.pick_object(rnd)
        r = rnd.random()
        if r < 0.12:
            # properties: Get, GetAll, Set with any type (wrong ones mostly)
            iface = rnd.choice(list(ifaces) + ["org.virtbus.Virt1.Nope", ""])
            props = ifaces.get(iface, ({}, {}))[1]
            prop = rnd.choice(list(props) + ["NoSuchProperty"]) if props else "Nope"
            what = rnd.random()
            if what < 0.3:
                self.send(path, PROPS, "Get", GLib.Variant("(ss)", (iface, prop)))
            elif what < 0.4:
                self.send(path, PROPS, "GetAll", GLib.Variant("(s)", (iface,)))
            else:
                t = props.get(prop, "s") if rnd.random() < 0.6 else \
                    rnd.choice(("s", "u", "b", "as", "i", "t", "a{sv}", "v"))
                self.send(path, PROPS, "Set",
                          GLib.Variant("(ssv)", (iface, prop, GLib.Variant(t, self.value(t)))))
            return
        ifaces_m = [i for i in ifaces if ifaces[i][0]]
        if not ifaces_m:
            return
        iface = rnd.choice(ifaces_m)
        methods = ifaces[iface][0]
        member = rnd.choice(list(methods))
        if (iface, member) in SKIP:
            return
        sig = methods[member]
        fds = None
        if r < 0.22:
            # a wrong signature, or an unknown member
            other = rnd.choice(("", "s", "u", "ss", "su", "ssu", "uu", "a{sv}", "v", "(ss)",
                                "as", "isssu", "h"))
            if other == sig:
                other = sig + "u"
            if rnd.random() < 0.2:
                member = rnd.choice(("NoSuchMember", "", "x" * 255))
                if not member:
                    member = "Nope"
            body = self.body(other) if other else None
            if "h" in other:
                fds = self.fd_list()
        else:
            body = self.body(sig) if sig else None
            if "h" in sig:
                fds = self.fd_list()
        self.send(path, iface, member, body, fds)

    def sweep(self):
        """Every method of every interface of every kind of object once, with values of its
        signature (the random calls that follow may miss some)."""
        run = self.run_
        for kind, ifaces in sorted(run.iface_cache.items()):
            path = run.path_of_kind(kind)
            for iface, (methods, _) in sorted(ifaces.items()):
                for member, sig in sorted(methods.items()):
                    if (iface, member) in SKIP or run.done():
                        continue
                    self.send(path, iface, member, self.body(sig) if sig else None,
                              self.fd_list() if "h" in sig else None)

    def run(self):
        try:
            if self.index == 0:
                self.sweep()
            while not self.run_.done():
                self.one()
        except Exception as e:  # noqa: BLE001 - reported by the test
            self.error = e
        finally:
            try:
                self.conn.close_sync(None)
            except GLib.Error:
                pass


def split_types(sig):
    """'sa{sv}(ii)u' -> ['s', 'a{sv}', '(ii)', 'u']"""
    out, i = [], 0
    while i < len(sig):
        j = i
        while sig[j] == "a":
            j += 1
        if sig[j] in "({":
            close = {"(": ")", "{": "}"}[sig[j]]
            depth = 0
            while True:
                if sig[j] in "({":
                    depth += 1
                elif sig[j] in ")}":
                    depth -= 1
                    if depth == 0 and sig[j] == close:
                        break
                j += 1
        out.append(sig[i:j + 1])
        i = j + 1
    return out


def introspect(conn, path):
    r = conn.call_sync(BUS_NAME, path, "org.freedesktop.DBus.Introspectable", "Introspect",
                       None, GLib.VariantType("(s)"), Gio.DBusCallFlags.NONE, 10000, None)
    root = ET.fromstring(r.unpack()[0])
    ifaces, params = {}, set()
    for i in root.findall("interface"):
        methods = {m.get("name"): "".join(a.get("type") for a in m.findall("arg")
                                           if a.get("direction", "in") == "in")
                   for m in i.findall("method")}
        props = {p.get("name"): p.get("type") for p in i.findall("property")}
        ifaces[i.get("name")] = (methods, props)
    return ifaces, params


class BusFuzzTest(VirtbusTestCase):
    """One run of the fuzzer (the module doc)."""

    def setUp(self):
        super().setUp()
        config = os.path.join(self.tmp, "virtbusd.conf")
        with open(config, "w") as f:
            f.write(f"[virtbusd]\njob_grace_period=3600\njob_wait_timeout={JOB_TIMEOUT}\n")
        self.service.stop()
        self.service = Service(self.bus, self.root, ["--config", config])
        self.service.start()
        self.seed = ARGS.seed
        self.bus_address = self.bus.address
        self.lock = threading.Lock()
        self.counts = {k: 0 for k in ("calls", "crashes", "hangs", "unexpected", "leaks",
                                      "fifo", "fifo_readers", "internal", "maintenance")}
        self.examples = {}
        self.errors = {}
        self.latencies = []
        self.deadline = time.monotonic() + ARGS.seconds
        self.stop_now = False
        rnd = random.Random(self.seed)
        self.pools = Pools(self.tmp, f"VBSECRET-{rnd.getrandbits(64):016x}-{os.getpid()}")
        self.param_names = ["flags", "dname", "uri", "bandwidth", "destination_xml",
                            "persistent_xml", "migrate_disks", "listen_address", "graphics_uri",
                            "", "x" * 300, "compression", "parallel.connections", "auto_converge"]
        self.paths = {}    # path -> its interfaces (from introspection)
        self.covered = set()
        self.iface_cache = {}

    # -- shared state (any client thread) --
    def count(self, what, example=None):
        with self.lock:
            self.counts[what] += 1
            if example is not None and what != "calls":
                self.examples.setdefault(what, []).append(example)
                if what in ("crashes", "hangs"):
                    self.stop_now = True

    def count_error(self, name):
        with self.lock:
            self.errors[name] = self.errors.get(name, 0) + 1

    def cover(self, iface, member):
        with self.lock:
            self.covered.add((iface, member))

    def path_of_kind(self, kind):
        with self.lock:
            for path, ifaces in self.paths.items():
                if ifaces is self.iface_cache[kind]:
                    return path
        return self.vanished

    def latency(self, s):
        with self.lock:
            self.latencies.append(s)

    def done(self):
        with self.lock:
            if self.stop_now:
                return True
            if ARGS.calls and self.counts["calls"] >= ARGS.calls:
                return True
        return time.monotonic() >= self.deadline

    def service_alive(self):
        return self.service.proc is not None and self.service.proc.poll() is None

    def object_paths(self):
        with self.lock:
            return list(self.paths) + [MANAGER_PATH + "/domain/vanished", "/",
                                       self.vanished]

    def add_path(self, path):
        if not path.startswith(MANAGER_PATH + "/"):
            return
        kind = path.split("/")[4] if path.count("/") >= 4 else ""
        if kind == "domain" and "/snapshot/" in path:
            kind = "snapshot"
        with self.lock:
            if path in self.paths or len(self.paths) > 200:
                return
            ifaces = self.iface_cache.get(kind)
            if ifaces is not None:
                self.paths[path] = ifaces

    def pick_object(self, rnd):
        with self.lock:
            items = list(self.paths.items())
            vanished = self.vanished
        if rnd.random() < 0.05:
            return vanished, self.iface_cache["domain"]
        return rnd.choice(items)

    # -- the targets --
    def setup_targets(self):
        conn = self.conn
        self.domains = {}
        for i in range(6):
            uuid = f"0c7a1f3e-1d2b-4e5f-8a9b-0c1d2e3f4a{i:02x}"
            disk = None
            if i in (0, 2):
                # fz0 runs with a qcow2 disk (block jobs, live snapshots), fz2 has one and
                # a snapshot (the Snapshot interface)
                disk = os.path.join(self.tmp, f"fz{i}.qcow2")
                subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", disk, "16M"],
                               check=True)
            self.domains[uuid] = domain_xml(f"fz{i}", uuid, disk=disk)
            self.manager("DefineXML", "su", (self.domains[uuid], 0))
        self.running = list(self.domains)[:2]
        for uuid in self.running:
            path = self.manager("LookupByUUID", "s", (uuid,))
            self.domain(path, "Start", "u", (0,), timeout=120000)
        gone = self.define("vanishing", "0c7a1f3e-1d2b-4e5f-8a9b-0c1d2e3f4aff")
        self.vanished = gone
        net = self.manager("NetworkDefineXML", "su", (NET_XML, 0))
        dom0 = self.manager("LookupByUUID", "s", (self.running[0],))
        job = self.domain(dom0, "CoreDump", "su", (os.path.join(self.tmp, "fz.core"), 0))
        self.iface_cache["domain"] = introspect(conn, gone)[0]
        self.domain(gone, "Undefine", "u", (0,))
        self.iface_cache["network"] = introspect(conn, net)[0]
        self.iface_cache["job"] = introspect(conn, job)[0]
        self.iface_cache["manager"] = introspect(conn, MANAGER_PATH)[0]
        fz2 = self.manager("LookupByUUID", "s", ("0c7a1f3e-1d2b-4e5f-8a9b-0c1d2e3f4a02",))
        snap = self.snapshot_create(fz2, "<domainsnapshot><name>fzs</name></domainsnapshot>")
        self.iface_cache["snapshot"] = introspect(conn, snap)[0]
        self.assertIn(SNAPSHOT_IFACE, self.iface_cache["snapshot"])
        self.paths[snap] = self.iface_cache["snapshot"]
        self.assertIn(DOMAIN_IFACE, self.iface_cache["domain"])
        self.assertIn(JOB_IFACE, self.iface_cache["job"])
        self.assertIn(NET_IFACE, self.iface_cache["network"])
        self.assertIn(MANAGER_IFACE, self.iface_cache["manager"])
        self.paths[MANAGER_PATH] = self.iface_cache["manager"]
        self.paths[net] = self.iface_cache["network"]
        self.paths[job] = self.iface_cache["job"]
        for uuid in self.domains:
            self.paths[self.manager("LookupByUUID", "s", (uuid,))] = \
                self.iface_cache["domain"]

    def maintain(self):
        """Puts back what the fuzz took away: undefined domains, stopped guests."""
        for uuid, xml in self.domains.items():
            try:
                path = self.manager("LookupByUUID", "s", (uuid,), timeout=HANG_MS)
            except vbtest.DBusCallError:
                try:
                    path = self.manager("DefineXML", "su", (xml, 0), timeout=HANG_MS)
                except vbtest.DBusCallError:
                    continue   # the name may be taken by a renamed one: next time
                self.add_path(path)
                self.count("maintenance")
            if uuid in self.running:
                try:
                    state = self.get_prop(path, DOMAIN_IFACE, "State")
                    if state in ("shutoff", "crashed"):
                        self.domain(path, "Start", "u", (0,), timeout=HANG_MS)
                        self.count("maintenance")
                    elif state == "paused":
                        self.domain(path, "Resume", "u", (0,), timeout=HANG_MS)
                except vbtest.DBusCallError:
                    pass    # mid-change (a job of the fuzz): next time

    def fifo_check(self):
        """A service thread blocked opening the FIFO is a defect: seen in its threads'
        wait channel; then the FIFO is opened from here, which unblocks it."""
        pid = self.service.proc.pid
        blocked = []
        try:
            for tid in os.listdir(f"/proc/{pid}/task"):
                try:
                    with open(f"/proc/{pid}/task/{tid}/wchan") as f:
                        w = f.read()
                    with open(f"/proc/{pid}/task/{tid}/syscall") as f:
                        nr = f.read().split()[0]
                except (OSError, IndexError):
                    continue
                # in open/openat (2, 257 on x86_64) and waiting in the pipe code: a FIFO
                if nr in ("2", "257") and ("fifo" in w or "partner" in w or "pipe" in w):
                    blocked.append(f"thread {tid} in {w} (syscall {nr})")
        except OSError:
            return
        if blocked:
            self.count("fifo", ", ".join(blocked))
        # unblock: a reader (for a blocked writer) and a writer (for a blocked reader)
        try:
            fd = os.open(self.pools.fifo, os.O_RDONLY | os.O_NONBLOCK)
            try:
                while os.read(fd, 65536):
                    pass
            except BlockingIOError:
                pass
            os.close(fd)
        except OSError:
            pass
        try:
            fd = os.open(self.pools.fifo, os.O_WRONLY | os.O_NONBLOCK)
            os.close(fd)
            self.count("fifo_readers")   # someone had it open for reading: shown, not failed
        except OSError as e:
            if e.errno != errno.ENXIO:
                raise

    def test_fuzz(self):
        self.setup_targets()
        clients = [Client(self, i) for i in range(ARGS.clients)]
        t0 = time.monotonic()
        self.deadline = t0 + ARGS.seconds
        for c in clients:
            c.start()
        last_maint = t0
        while any(c.is_alive() for c in clients):
            time.sleep(0.5)
            if not self.service_alive():
                self.count("crashes", "virtbusd exited with "
                           f"{self.service.proc.returncode}")
                break
            self.fifo_check()
            if time.monotonic() - last_maint > 5 and not self.done():
                self.maintain()
                last_maint = time.monotonic()
        for c in clients:
            c.join(timeout=HANG_MS / 1000 + 30)
            if c.is_alive():
                self.count("hangs", f"{c.name} still in a call at the end")
        elapsed = time.monotonic() - t0
        alive = self.service_alive()
        if alive:
            # still answers, and the guests still run or can run
            self.maintain()
        log = self.service.read_log()
        criticals = [line for line in log.splitlines() if GLIB_COMPLAINT.search(line)
                     or "cannot copy domain definition" in line]
        secret_in_log = self.pools.secret in log
        lat = sorted(self.latencies) or [0.0]
        methods = {(i, m) for ifaces in self.iface_cache.values()
                   for i, (ms, _) in ifaces.items() for m in ms if (i, m) not in SKIP}
        called = methods & self.covered
        c = self.counts
        line = (f"bus-fuzz: seed={self.seed} clients={ARGS.clients} seconds={elapsed:.0f} "
                f"calls={c['calls']} crashes={c['crashes']} hangs={c['hangs']} "
                f"unexpected={c['unexpected']} internal={c['internal']} leaks={c['leaks']} "
                f"fifo={c['fifo']} "
                f"fifo_readers={c['fifo_readers']} "
                f"criticals={len(criticals)} errors={sum(self.errors.values())} "
                f"maintenance={c['maintenance']} methods={len(called)}/{len(methods)} "
                f"p50={lat[len(lat) // 2] * 1000:.1f}ms "
                f"p99={lat[int(len(lat) * 0.99)] * 1000:.1f}ms")
        sys.stderr.write("error names: " + ", ".join(
            f"{k}={v}" for k, v in sorted(self.errors.items(), key=lambda x: -x[1])) + "\n")
        for what, ex in self.examples.items():
            sys.stderr.write(f"{what}: " + "\n  ".join(ex[:10]) + "\n")
        sys.stderr.write(line + "\n")
        sys.stderr.write(f"reproduce: {sys.argv[0]} --seed {self.seed} --clients 1 "
                         f"--seconds {ARGS.seconds}\n")
        with open(os.path.join(os.environ.get("VB_BUILDDIR", "."),
                               "bus-fuzz-results.txt"), "a") as f:
            f.write(line + "\n")
        for cl in clients:
            if cl.error is not None and not isinstance(cl.error, GLib.Error):
                raise cl.error
        self.assertTrue(alive, "virtbusd died:\n" + log[-5000:])
        self.assertEqual(c["crashes"], 0, self.examples.get("crashes"))
        self.assertEqual(c["hangs"], 0, self.examples.get("hangs"))
        self.assertEqual(c["unexpected"], 0, self.examples.get("unexpected", [])[:20])
        self.assertEqual(c["internal"], 0, self.examples.get("internal", [])[:20])
        self.assertEqual(c["leaks"], 0, self.examples.get("leaks", [])[:5])
        self.assertFalse(secret_in_log, "the secret file's content is in the service log")
        self.assertEqual(c["fifo"], 0, self.examples.get("fifo"))
        self.assertEqual(criticals, [], "GLib complained")
        if not ARGS.calls:
            self.assertEqual(sorted(methods - called), [], "methods never called")
        # the run reached the service: enough calls, and both kinds of refusal
        self.assertGreater(c["calls"], 200 if not ARGS.calls else min(ARGS.calls, 200) - 1)
        self.assertIn(ERR + "InvalidArgument", self.errors)
        self.assertIn("org.freedesktop.DBus.Error.InvalidArgs", self.errors)


def parse_args():
    global ARGS
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seed", default="1", help="a number, or 'date': today's (YYYYMMDD, UTC)")
    p.add_argument("--clients", type=int, default=2)
    p.add_argument("--seconds", type=float, default=60)
    p.add_argument("--calls", type=int, default=0, help="stop after this many calls (0: none)")
    ARGS, rest = p.parse_known_args()
    ARGS.seed = int(time.strftime("%Y%m%d", time.gmtime()) if ARGS.seed == "date" else ARGS.seed)
    sys.argv[1:] = rest


if __name__ == "__main__":
    parse_args()
    vbtest.main()
