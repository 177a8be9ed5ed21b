#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Starts every golden command line of tests/qemu/xml2argv against the real QEMU.

usage: start-goldens.py [--tap] [--jobs N] [NAME ...]

For each NAME.args (one argument a line, see the README there) this program:

- maps every absolute path the arguments carry into a fresh temporary directory T
  (/var/lib/vb-test/disk0.qcow2 becomes T/var/lib/vb-test/disk0.qcow2). Host files that exist
  under /usr or /dev (firmware, /dev/urandom) are used as they are;
- creates what the arguments need, read from the arguments themselves (nothing is per file):
  images by the format node on top of each protocol node (qcow2 with `qemu-img create`, raw
  files, backing chains from the "backing" links, an ISO-sized file behind a cdrom, a floppy
  image behind a floppy), a loop device (losetup) behind host_device/host_cdrom, the OVMF code
  and variable files behind pflash nodes, the tiny guest's kernel and initrd for -kernel and
  -initrd, SeaBIOS for -bios, directories for sockets, logs, pid files and memory backends;
- provides what the arguments connect to: swtpm for a -tpmdev emulator chardev, virtiofsd for
  a vhost-user-fs-pci chardev, a listener for any other client socket chardev, qemu-nbd for an
  nbd node, an HTTP server for an http node, a bridge (and /etc/qemu/bridge.conf) for a bridge
  netdev, a throw-away CA and server certificate for a tls-creds-x509 or SPICE x509-dir
  directory;
- runs QEMU and its helpers in a private network and mount namespace (unshare): ports such as
  VNC's 5900 cannot collide with parallel runs or other tests, host names a node or display
  names resolve to 127.0.0.1 through the namespace's own /etc/hosts, IPv4 addresses are put
  on the namespace's loopback, and the bridge and /etc/qemu exist only there (/etc is an
  overlay inside the namespace; the host's /etc is never written);
- connects QMP (the -mon control chardev), sends qmp_capabilities, checks the status is
  prelaunch, `cont` to running, `quit`, and checks QEMU exited 0 and printed nothing on stderr.

A file NAME.start beside NAME.args (optional) adds what the arguments alone do not say, one
directive a line ('#' starts a comment); paths are the golden's own, mapped like the arguments:

    copy SRC DEST               copy the host file SRC to DEST (e.g. a given OVMF build)
    image DEST FORMAT [SIZE] [backing=PATH]   create DEST instead of the default image
    dir PATH                    create a directory (e.g. a virtiofs share)
    share SOCKET DIR            the directory virtiofsd serves on SOCKET (default: empty dir)
    file PATH TEXT...           write TEXT into PATH
    stderr REGEX                QEMU may print lines matching REGEX (e.g. the warnings of a
                                CPU with check='none'); anything else on stderr still fails

Files that cannot start here are listed in tests/qemu/xml2argv/not-started.txt with the
error QEMU gives and why; a listed file that starts fails the test (the list stays true), and
a listed file that fails with another error fails too. .err cases are not started.

Needs root (unshare, losetup, mount). Each file is one TAP case; a failure prints QEMU's
stderr and what the runner did.
"""

import concurrent.futures
import ipaddress
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

SRCDIR = os.environ.get("VB_SRCDIR",
                        os.path.dirname(os.path.dirname(os.path.dirname(
                            os.path.abspath(__file__)))))
GOLDEN_DIR = os.environ.get("VB_GOLDEN_DIR", os.path.join(SRCDIR, "tests", "qemu", "xml2argv"))
NOT_STARTED = os.path.join(GOLDEN_DIR, "not-started.txt")
# hand-written libvirt-shaped command lines that keep each helper of this runner tested
# (swtpm, virtiofsd, qemu-nbd, HTTP, OVMF, backing chains) also before a golden needs it
HELPER_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "helper-args")
TINY_GUEST = os.environ.get("VB_TINY_GUEST", "")
QEMU = os.environ.get("QEMU", "/usr/bin/qemu-system-x86_64")
SEABIOS = "/usr/share/seabios/bios-256k.bin"
OVMF_DIR = "/usr/share/OVMF"
VIRTIOFSD = ["/usr/libexec/virtiofsd", "/usr/lib/qemu/virtiofsd"]
TIMEOUT = 60
# QEMU's note for each pty chardev (libvirt reads the path from it): not an error
PTY_NOTE = re.compile(r"^char device redirected to /dev/pts/\d+ \(label [^)]+\)$")
# a name Linux takes for a bridge
IFNAME = re.compile(r"^[A-Za-z0-9_.-]{1,15}$")

# QEMU options that take no value (all others take the next line)
FLAGS = {"-S", "-no-user-config", "-nodefaults", "-no-shutdown", "-no-reboot", "-no-hpet",
         "-no-acpi", "-enable-kvm", "-nographic", "-snapshot", "-enable-fips", "-daemonize",
         "-no-fd-bootchk", "-full-screen", "-no-quit", "-only-migratable"}
# options whose value is one path
PATH_OPTIONS = {"-kernel", "-initrd", "-bios", "-pidfile", "-dtb", "-readconfig"}
# options whose value is left alone (a guest command line, ...)
OPAQUE_OPTIONS = {"-append", "-uuid", "-name", "-global", "-incoming", "-watchdog-action"}
PROTOCOL_DRIVERS = {"file", "host_device", "host_cdrom", "nbd", "http", "https", "ftp", "ftps",
                    "iscsi", "gluster", "rbd", "ssh", "null-co", "null-aio", "nvme"}
CDROM_DEVICES = {"ide-cd", "scsi-cd", "usb-storage-cd"}
FLOPPY_DEVICES = {"floppy", "isa-fdc"}
DISK_SIZE = 64 << 20
CDROM_SIZE = 4 << 20
FLOPPY_SIZE = 1474560


class Fail(Exception):
    pass


# ---------------------------------------------------------------- argument parsing

def split_opts(value):
    """QemuOpts 'a=b,,c,d' -> [['a', 'b,c'], ['d', None]] (',,' is a literal comma)"""
    items, cur = [], ""
    i = 0
    while i < len(value):
        ch = value[i]
        if ch == "," and value[i + 1:i + 2] == ",":
            cur += ","
            i += 2
            continue
        if ch == ",":
            items.append(cur)
            cur = ""
        else:
            cur += ch
        i += 1
    items.append(cur)
    out = []
    for it in items:
        k, eq, v = it.partition("=")
        out.append([k, v if eq else None])
    return out


def join_opts(items):
    parts = []
    for k, v in items:
        if v is None:
            parts.append(k.replace(",", ",,"))
        else:
            parts.append(k + "=" + v.replace(",", ",,"))
    return ",".join(parts)


def parse_args(lines):
    """[(option, value or None)] from the argv without the binary"""
    opts, i = [], 0
    while i < len(lines):
        o = lines[i]
        if not o.startswith("-"):
            raise Fail(f"argument {i + 2} '{o}' is not an option")
        if o in FLAGS:
            opts.append((o, None))
            i += 1
        else:
            if i + 1 >= len(lines):
                raise Fail(f"option {o} has no value")
            opts.append((o, lines[i + 1]))
            i += 2
    return opts


class Opt:
    """One option, its value decoded: json (dict), opts (QemuOpts list) or plain (str)."""

    def __init__(self, name, value):
        self.name = name
        self.value = value
        self.kind = "flag"
        self.json = self.opts = None
        if value is None:
            return
        if value.startswith("{"):
            self.kind = "json"
            self.json = json.loads(value)
        elif name in PATH_OPTIONS or name in OPAQUE_OPTIONS:
            self.kind = "plain"
        else:
            self.kind = "opts"
            self.opts = split_opts(value)

    def get(self, key):
        if self.kind == "json":
            return self.json.get(key)
        if self.kind == "opts":
            for k, v in self.opts[1:] if self.first() else self.opts:
                if k == key:
                    return v if v is not None else ""   # a bare key ('server') is on
        return None

    def first(self):
        """the implied first value of QemuOpts (-chardev socket,... -> 'socket')"""
        if self.kind == "opts" and self.opts and self.opts[0][1] is None:
            return self.opts[0][0]
        return None

    def encode(self):
        if self.kind == "json":
            return json.dumps(self.json, separators=(",", ":"))
        if self.kind == "opts":
            return join_opts(self.opts)
        return self.value


# ---------------------------------------------------------------- the plan for one file

class Plan:
    """What one golden needs, read from its arguments (and its .start sidecar)."""

    def __init__(self, name, root):
        self.name = name
        self.root = root
        self.mapped = {}          # golden path -> path in root
        self.opts = []
        self.images = {}          # golden path -> (format, size, backing golden path, kind)
        self.copies = {}          # golden path -> host source
        self.loops = {}           # golden path -> (format, size)
        self.dirs = set()         # golden paths of directories to create
        self.parents = set()      # golden paths whose parent directory must exist
        self.fifos = set()
        self.texts = {}
        self.stderr_ok = []       # re.Pattern: lines QEMU may print
        self.listeners = []       # ('unix', golden path) | ('tcp', host, port)
        self.swtpm = []           # golden socket paths
        self.virtiofsd = {}       # golden socket path -> golden shared dir or None
        self.nbd = []             # (server dict, export, golden image path)
        self.http = []            # (scheme, host, port, url path, golden image path)
        self.x509 = set()         # golden directories that need a CA and server certificate
        self.bridges = set()
        self.taps = []            # per tap netdev: the fd numbers QEMU gets its queues at
        self.hosts = set()        # host names to resolve to 127.0.0.1
        self.addresses = set()    # IPv4 addresses to put on lo
        self.monitor = None       # golden path of the QMP socket

    def host_path(self, p):
        """Where a golden path lives here."""
        if p in self.mapped:
            return self.mapped[p]
        if (p.startswith("/usr/") or p.startswith("/dev/")) and os.path.exists(p):
            self.mapped[p] = p
        else:
            self.mapped[p] = os.path.join(self.root, p.lstrip("/"))
        return self.mapped[p]

    def note_host(self, host):
        if not host:
            return
        host = host.strip("[]")
        try:
            ip = ipaddress.ip_address(host)
        except ValueError:
            self.hosts.add(host)
            return
        if ip.version == 4 and not ip.is_loopback and not ip.is_unspecified:
            self.addresses.add(str(ip))


def is_path(v):
    return isinstance(v, str) and v.startswith("/") and not v.startswith("//")


# JSON keys whose values look like paths but are names (a 9p/virtiofs tag)
NOT_PATHS = {"mount_tag", "tag", "serial", "id"}


def map_json(plan, v):
    if isinstance(v, dict):
        return {k: x if k in NOT_PATHS else map_json(plan, x) for k, x in v.items()}
    if isinstance(v, list):
        return [map_json(plan, x) for x in v]
    if is_path(v):
        return plan.host_path(v)
    return v


def map_opts(plan, opt):
    for item in opt.opts:
        k, v = item
        if is_path(v):
            item[1] = plan.host_path(v)
        elif v is None and is_path(k):
            item[0] = plan.host_path(k)
        elif v is not None and v.startswith("unix:/"):
            item[1] = "unix:" + plan.host_path(v[5:])
        elif v is None and k.startswith("unix:/"):
            item[0] = "unix:" + plan.host_path(k[5:])


def read_sidecar(plan, path):
    if not os.path.exists(path):
        return
    with open(path) as f:
        for n, line in enumerate(f, 1):
            words = line.split("#", 1)[0].split()
            if not words:
                continue
            what, args = words[0], words[1:]
            where = f"{os.path.basename(path)}:{n}"
            if what == "copy" and len(args) == 2:
                plan.copies[args[1]] = args[0]
            elif what == "image" and len(args) >= 2:
                size, backing = None, None
                for a in args[2:]:
                    if a.startswith("backing="):
                        backing = a[8:]
                    else:
                        size = int(a)
                plan.images[args[0]] = (args[1], size or DISK_SIZE, backing, "disk")
            elif what == "dir" and len(args) == 1:
                plan.dirs.add(args[0])
            elif what == "share" and len(args) == 2:
                plan.virtiofsd[args[0]] = args[1]
            elif what == "file" and len(args) >= 1:
                plan.texts[args[0]] = " ".join(args[1:]) + "\n"
            elif what == "stderr" and len(args) >= 1:
                plan.stderr_ok.append(re.compile(line.split(None, 1)[1].strip()))
            else:
                raise Fail(f"{where}: cannot read directive '{line.strip()}'")


def make_plan(name, root, lines, directory=GOLDEN_DIR):
    if not lines or not lines[0].startswith("/"):
        raise Fail("the first line is not the QEMU binary")
    plan = Plan(name, root)
    opts = [Opt(o, v) for o, v in parse_args(lines[1:])]
    plan.opts = opts
    read_sidecar(plan, os.path.join(directory, name + ".start"))

    chardevs = {o.get("id"): o for o in opts if o.name == "-chardev"}
    nodes = {}
    for o in opts:
        if o.name == "-blockdev" and o.kind == "json" and o.json.get("node-name"):
            nodes[o.json["node-name"]] = o.json
    devices = [o.json for o in opts if o.name == "-device" and o.kind == "json"]
    machine = next((o for o in opts if o.name == "-machine"), None)

    # what uses each chardev: the QMP monitor, a TPM emulator, virtiofs, ...
    chardev_use = {}
    for o in opts:
        if o.name == "-mon" and o.get("mode") == "control":
            chardev_use[o.get("chardev")] = "monitor"
        if o.name == "-tpmdev" and (o.first() == "emulator" or o.get("type") == "emulator"):
            chardev_use[o.get("chardev")] = "swtpm"
    for d in devices:
        if d.get("driver") == "vhost-user-fs-pci":
            chardev_use[d.get("chardev")] = "virtiofsd"
    for o in opts:
        if o.name == "-netdev" and o.get("type") == "vhost-user":
            chardev_use[o.get("chardev")] = "vhost-user"   # no backend here: nothing listens

    for cid, o in chardevs.items():
        backend = o.first() or o.get("backend")
        path = o.get("path")
        use = chardev_use.get(cid)
        if o.get("logfile"):
            plan.parents.add(o.get("logfile"))
        if backend == "socket":
            server = o.get("server") in ("on", "yes", "true", "")
            if path:
                plan.parents.add(path)
                if use == "monitor":
                    plan.monitor = path
                elif server:
                    pass
                elif use == "swtpm":
                    plan.swtpm.append(path)
                elif use == "virtiofsd":
                    plan.virtiofsd.setdefault(path, None)
                elif use == "vhost-user":
                    pass
                else:
                    plan.listeners.append(("unix", path))
            elif o.get("host") is not None or o.get("port") is not None:
                plan.note_host(o.get("host"))
                if not server:
                    plan.listeners.append(("tcp", o.get("host") or "127.0.0.1",
                                           int(o.get("port"))))
        elif backend == "file" and path:
            plan.parents.add(path)
        elif backend == "pipe" and path:
            plan.fifos.add(path + ".in")
            plan.fifos.add(path + ".out")
        elif backend == "udp":
            plan.note_host(o.get("host"))
            plan.note_host(o.get("localaddr"))

    # block nodes: which format node sits on which protocol node, and who uses it
    users = {}
    for d in devices:
        if isinstance(d.get("drive"), str):
            users[d["drive"]] = d.get("driver")
    if machine is not None:
        for key in ("pflash0", "pflash1"):
            if machine.get(key):
                users[machine.get(key)] = key
    fmt_of = {}         # protocol node -> its format node
    for nname, n in nodes.items():
        if isinstance(n.get("file"), str) and n["file"] in nodes:
            fmt_of[n["file"]] = nname
    backing_of = {}     # format node -> the format node it has as backing
    for nname, n in nodes.items():
        if isinstance(n.get("backing"), str):
            backing_of[nname] = n["backing"]

    def top_user(fnode):
        """the user of the chain fnode belongs to"""
        seen = set()
        while fnode not in users and fnode not in seen:
            seen.add(fnode)
            up = [k for k, v in backing_of.items() if v == fnode]
            if not up:
                break
            fnode = up[0]
        return users.get(fnode)

    def protocol_path(fnode):
        f = nodes.get(fnode, {}).get("file")
        if isinstance(f, str) and f in nodes:
            return nodes[f].get("filename")
        return None

    for nname, n in nodes.items():
        drv = n.get("driver")
        if drv not in PROTOCOL_DRIVERS:
            continue
        fnode = fmt_of.get(nname)
        fmt = nodes[fnode]["driver"] if fnode else "raw"
        user = top_user(fnode or nname)
        kind = ("cdrom" if user in CDROM_DEVICES else "floppy" if user in FLOPPY_DEVICES
                else user if user in ("pflash0", "pflash1") else "disk")
        size = {"cdrom": CDROM_SIZE, "floppy": FLOPPY_SIZE}.get(kind, DISK_SIZE)
        backing = None
        if fnode and fnode in backing_of:
            backing = protocol_path(backing_of[fnode])
        fname = n.get("filename")
        if drv in ("file",) and fname:
            if fname in plan.images or fname in plan.copies:
                continue
            if kind in ("pflash0", "pflash1"):
                plan.copies.setdefault(fname, ovmf_for(kind, nodes, machine, protocol_path))
            else:
                plan.images[fname] = (fmt, size, backing, kind)
        elif drv in ("host_device", "host_cdrom") and fname:
            plan.loops[fname] = (fmt, size)
        elif drv == "nbd":
            server = n.get("server") or {}
            image = f"/var/lib/vb-test-helpers/nbd-{nname}.img"
            if server.get("type") == "unix":
                plan.parents.add(server.get("path"))
            else:
                plan.note_host(server.get("host"))
            plan.images[image] = (fmt, size, None, kind)
            plan.nbd.append((server, n.get("export") or "", image))
        elif drv in ("http", "https"):
            u = urllib.parse.urlsplit(n.get("url", ""))
            port = u.port or (80 if drv == "http" else 443)
            image = f"/var/lib/vb-test-helpers/{drv}-{nname}.img"
            plan.images[image] = (fmt, size, None, kind)
            plan.note_host(u.hostname)
            plan.http.append((drv, u.hostname, port, u.path, image))

    for o in opts:
        if o.name == "-kernel":
            plan.copies.setdefault(o.value, os.path.join(TINY_GUEST, "vmlinux"))
        elif o.name == "-initrd":
            plan.copies.setdefault(o.value, os.path.join(TINY_GUEST, "initrd.img"))
        elif o.name == "-bios":
            plan.copies.setdefault(o.value, SEABIOS)
        elif o.name == "-pidfile":
            plan.parents.add(o.value)
        elif (o.name == "-netdev" and o.kind == "json" and o.json.get("type") == "stream" and
              o.json.get("addr", {}).get("type") == "unix" and not o.json.get("server")):
            # passt's socket (type='user' with <backend type='passt'>): something listening
            plan.parents.add(o.json["addr"]["path"])
            plan.listeners.append(("unix", o.json["addr"]["path"]))
        elif o.name == "-netdev" and o.get("type") == "bridge":
            plan.bridges.add(o.get("br") or "br0")
        elif o.name == "-netdev" and o.get("type") == "tap" and (o.get("fd") or o.get("fds")):
            plan.taps.append([int(x) for x in (o.get("fd") or o.get("fds")).split(":")])
        elif o.name == "-object" and o.kind == "json":
            t = o.json.get("qom-type", "")
            if t == "memory-backend-file" and is_path(o.json.get("mem-path")):
                plan.dirs.add(o.json["mem-path"])
            elif t == "tls-creds-x509" and is_path(o.json.get("dir")):
                plan.x509.add(o.json["dir"])
            elif t == "rng-random" and is_path(o.json.get("filename")):
                # a device QEMU reads: where it is not one of the host, a file of bytes
                plan.texts.setdefault(o.json["filename"], "entropy " * 512)
        elif o.name == "-fw_cfg" and is_path(o.get("file")):
            plan.texts.setdefault(o.get("file"), "fw_cfg blob")
        elif o.name in ("-fsdev", "-virtfs") and o.get("path"):
            plan.dirs.add(o.get("path"))
        elif o.name == "-audiodev" and o.get("path"):
            plan.parents.add(o.get("path"))
        elif o.name == "-spice":
            if is_path(o.get("x509-dir")):
                plan.x509.add(o.get("x509-dir"))
            if o.get("unix") in ("on", "") and is_path(o.get("addr")):
                plan.parents.add(o.get("addr"))
            else:
                plan.note_host(o.get("addr"))
        elif o.name == "-vnc":
            disp = o.first() or ""
            if disp.startswith("unix:"):
                plan.parents.add(disp[5:])
            elif ":" in disp:
                plan.note_host(disp.rsplit(":", 1)[0])

    # every path of the arguments is mapped; the sidecar's too
    for o in opts:
        if o.kind == "json":
            o.json = map_json(plan, o.json)
        elif o.kind == "opts":
            map_opts(plan, o)
        elif o.kind == "plain" and o.name in PATH_OPTIONS and is_path(o.value):
            o.value = plan.host_path(o.value)
    if plan.monitor is None:
        raise Fail("no QMP monitor (-mon mode=control on a unix socket chardev) in the arguments")
    return plan


def ovmf_for(kind, nodes, machine, protocol_path):
    """The OVMF file for a pflash node: the code for pflash0, matching variables for pflash1"""
    code = protocol_path(machine.get("pflash0")) if machine is not None else None
    code = os.path.basename(code or "OVMF_CODE_4M.fd")
    if kind == "pflash0":
        cand = os.path.join(OVMF_DIR, code)
        return cand if os.path.exists(cand) else os.path.join(OVMF_DIR, "OVMF_CODE_4M.fd")
    four_m = "_4M" in code or not os.path.exists(os.path.join(OVMF_DIR, code))
    ms = ".ms." in code or "secboot" in code
    return os.path.join(OVMF_DIR, "OVMF_VARS%s%s.fd" % ("_4M" if four_m else "",
                                                         ".ms" if ms else ""))


# ---------------------------------------------------------------- running one file

def run(cmd, **kw):
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                       timeout=TIMEOUT, **kw)
    if r.returncode != 0:
        raise Fail(f"{' '.join(cmd)} failed ({r.returncode}): {r.stdout.strip()}")
    return r.stdout


LISTENER_SCRIPT = r"""
import socket, sys
kind = sys.argv[1]
if kind == 'unix':
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(sys.argv[2])
else:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((sys.argv[2], int(sys.argv[3])))
s.listen(8)
print('ready', flush=True)
conns = []
while True:
    c, _ = s.accept()
    conns.append(c)
"""


HTTP_SCRIPT = r"""
import http.server, os, re, ssl, sys
scheme, host, port, root = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
class H(http.server.BaseHTTPRequestHandler):
    # what QEMU's curl driver asks: HEAD for the size, GET with a byte range
    protocol_version = 'HTTP/1.1'
    def log_message(self, *a):
        pass
    def target(self):
        p = os.path.join(root, self.path.split('?')[0].lstrip('/'))
        return p if os.path.isfile(p) else None
    def do_HEAD(self):
        p = self.target()
        if not p:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header('Content-Length', str(os.path.getsize(p)))
        self.send_header('Accept-Ranges', 'bytes')
        self.end_headers()
    def do_GET(self):
        p = self.target()
        if not p:
            self.send_error(404)
            return
        size = os.path.getsize(p)
        m = re.match(r'bytes=(\d+)-(\d*)', self.headers.get('Range', ''))
        start, end = (int(m.group(1)), int(m.group(2) or size - 1)) if m else (0, size - 1)
        end = min(end, size - 1)
        with open(p, 'rb') as f:
            f.seek(start)
            data = f.read(end - start + 1)
        self.send_response(206 if m else 200)
        if m:
            self.send_header('Content-Range', 'bytes %d-%d/%d' % (start, end, size))
        self.send_header('Content-Length', str(len(data)))
        self.send_header('Accept-Ranges', 'bytes')
        self.end_headers()
        self.wfile.write(data)
srv = http.server.ThreadingHTTPServer((host, port), H)
if scheme == 'https':
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(sys.argv[6], sys.argv[5])
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
print('ready', flush=True)
srv.serve_forever()
"""


class Runner:
    def __init__(self, name):
        self.name = name
        self.root = tempfile.mkdtemp(prefix="vbg-")
        self.procs = []           # (what, Popen) helpers, stopped at the end
        self.loops = []
        self.log = []
        self.ns = None
        self.qemu = None
        self.stderr_path = os.path.join(self.root, "qemu.stderr")
        self.stderr_ok = []

    def note(self, msg):
        self.log.append(msg)

    def nsenter(self, cmd):
        return ["nsenter", "-t", str(self.ns.pid), "--net", "--mount", "--"] + cmd

    def spawn(self, what, cmd, ready=None, stdout=subprocess.DEVNULL):
        logf = open(os.path.join(self.root, f"{what}.log"), "w")
        p = subprocess.Popen(self.nsenter(cmd), stdout=stdout, stderr=logf,
                             stdin=subprocess.DEVNULL, text=True, start_new_session=True)
        logf.close()
        self.procs.append((what, p))
        self.note(f"started {what}: {' '.join(a if len(a) < 80 else '...' for a in cmd)}")
        if ready == "line":
            line = p.stdout.readline()
            if "ready" not in line:
                raise Fail(f"{what} did not start: {self.helper_log(what)}")
        elif isinstance(ready, str):
            wait_for(lambda: os.path.exists(ready) or p.poll() is not None,
                     f"{what} to create {ready}")
            if p.poll() is not None:
                raise Fail(f"{what} exited {p.returncode}: {self.helper_log(what)}")
        return p

    def helper_log(self, what):
        try:
            with open(os.path.join(self.root, f"{what}.log")) as f:
                return f.read().strip()
        except OSError:
            return ""

    def namespace(self, plan):
        """a private network and mount namespace, held by a sleeping process"""
        setup = ["ip link set lo up"]
        for a in sorted(plan.addresses):
            setup.append(f"ip addr add {a}/32 dev lo")
        for br in sorted(plan.bridges):
            if not IFNAME.match(br):
                self.note(f"no bridge '{br}': not an interface name")
                continue
            setup.append(f"ip link add '{br}' type bridge && ip link set '{br}' up")
        if plan.hosts or plan.bridges:
            up, work = os.path.join(self.root, "etc-up"), os.path.join(self.root, "etc-work")
            os.makedirs(up)
            os.makedirs(work)
            setup.append(f"mount -t overlay overlay -o lowerdir=/etc,upperdir={up},"
                         f"workdir={work} /etc")
            if plan.bridges:
                setup.append("mkdir -p /etc/qemu")
                for br in sorted(b for b in plan.bridges if IFNAME.match(b)):
                    setup.append(f"echo 'allow {br}' >> /etc/qemu/bridge.conf")
            for h in sorted(plan.hosts):
                setup.append(f"echo '127.0.0.1 {h}' >> /etc/hosts")
        script = " && ".join(setup) + " && echo ready && exec sleep 100000"
        self.ns = subprocess.Popen(["unshare", "--net", "--mount", "--propagation", "private",
                                    "--", "sh", "-c", script],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                   start_new_session=True)
        line = self.ns.stdout.readline()
        if "ready" not in line:
            raise Fail(f"cannot make the namespace: {self.ns.stderr.read().strip()}")
        self.note("namespace: " + "; ".join(setup))

    def prepare(self, plan):
        hp = plan.host_path
        for p in sorted(plan.parents):
            os.makedirs(os.path.dirname(hp(p)), exist_ok=True)
        for p in sorted(plan.dirs):
            os.makedirs(hp(p), exist_ok=True)
        for p in sorted(plan.fifos):
            os.makedirs(os.path.dirname(hp(p)), exist_ok=True)
            os.mkfifo(hp(p))
        for p, text in plan.texts.items():
            if hp(p) == p:
                continue
            os.makedirs(os.path.dirname(hp(p)), exist_ok=True)
            with open(hp(p), "w") as f:
                f.write(text)
        for p, src in plan.copies.items():
            if not os.path.exists(src):
                raise Fail(f"{src} (for {p}) does not exist")
            if hp(p) == p:
                continue        # a host file used as it is
            os.makedirs(os.path.dirname(hp(p)), exist_ok=True)
            shutil.copyfile(src, hp(p))
            self.note(f"copied {src} to {p}")
        for d in sorted(plan.x509):
            self.make_x509(hp(d))
            self.note(f"CA and server certificate in {d}")
        # images: backing files first
        done = set()

        def make(p):
            if p in done:
                return
            done.add(p)
            fmt, size, backing, kind = plan.images[p]
            if backing and backing in plan.images:
                make(backing)
            self.make_image(hp(p), fmt, size, hp(backing) if backing else None,
                            plan.images.get(backing, ("raw",))[0] if backing else None)
            self.note(f"created {kind} {p} ({fmt}{', backing ' + backing if backing else ''})")
        for p in sorted(plan.images):
            if hp(p) != p:
                make(p)
        for p, (fmt, size) in sorted(plan.loops.items()):
            img = os.path.join(self.root, "loop-" + os.path.basename(p) + ".img")
            self.make_image(img, fmt, size, None, None)
            dev = run(["losetup", "--find", "--show", img]).strip()
            self.loops.append(dev)
            os.makedirs(os.path.dirname(hp(p)), exist_ok=True)
            if hp(p) != p:
                os.symlink(dev, hp(p))
            self.note(f"loop device {dev} ({fmt}) for {p}")

    def make_x509(self, d):
        """ca-cert.pem, server-cert.pem, server-key.pem as QEMU's TLS credentials and SPICE
        read them from a directory (a throw-away CA)"""
        if not d.startswith(self.root + "/"):
            return                  # a host directory used as it is
        os.makedirs(d, exist_ok=True)
        j = os.path.join
        run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
             "-subj", "/CN=vb-test CA", "-keyout", j(d, "ca-key.pem"), "-out",
             j(d, "ca-cert.pem")])
        run(["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost",
             "-keyout", j(d, "server-key.pem"), "-out", j(d, "server.csr")])
        run(["openssl", "x509", "-req", "-days", "1", "-in", j(d, "server.csr"), "-CA",
             j(d, "ca-cert.pem"), "-CAkey", j(d, "ca-key.pem"), "-CAcreateserial", "-out",
             j(d, "server-cert.pem")])

    def make_image(self, path, fmt, size, backing, backing_fmt):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        if fmt == "raw" and not backing:
            with open(path, "wb") as f:
                f.truncate(size)
            return
        cmd = ["qemu-img", "create", "-q", "-f", fmt]
        if backing:
            cmd += ["-b", backing, "-F", backing_fmt or "raw"]
        cmd += [path]
        if not backing:
            cmd += [str(size)]
        run(cmd)

    def helpers(self, plan):
        hp = plan.host_path
        for kind, *where in plan.listeners:
            if kind == "unix":
                self.spawn("listener", [sys.executable, "-c", LISTENER_SCRIPT,
                                        "unix", hp(where[0])], ready="line",
                           stdout=subprocess.PIPE)
            else:
                self.spawn("listener", [sys.executable, "-c", LISTENER_SCRIPT,
                                        "tcp", where[0], str(where[1])], ready="line",
                           stdout=subprocess.PIPE)
        for i, sock in enumerate(plan.swtpm):
            state = os.path.join(self.root, f"swtpm{i}")
            os.makedirs(state)
            self.spawn(f"swtpm{i}", ["swtpm", "socket", "--tpm2", "--tpmstate",
                                     f"dir={state}", "--ctrl", f"type=unixio,path={hp(sock)}",
                                     "--terminate"], ready=hp(sock))
        virtiofsd = next((v for v in VIRTIOFSD if os.path.exists(v)), None)
        for i, (sock, share) in enumerate(sorted(plan.virtiofsd.items())):
            if virtiofsd is None:
                raise Fail("virtiofsd is not installed")
            shared = hp(share) if share else os.path.join(self.root, f"share{i}")
            os.makedirs(shared, exist_ok=True)
            self.spawn(f"virtiofsd{i}", [virtiofsd, f"--socket-path={hp(sock)}",
                                         "-o", f"source={shared}"], ready=hp(sock))
        for i, (server, export, image) in enumerate(plan.nbd):
            # the image's bytes as they are: the format node on top of the nbd node reads them
            cmd = ["qemu-nbd", "--persistent", "--shared=4", "-f", "raw", "-x", export]
            if server.get("type") == "unix":
                cmd += ["-k", hp(server["path"])]
                ready = hp(server["path"])
            else:
                cmd += ["-b", (server.get("host") or "127.0.0.1").strip("[]"),
                        "-p", str(server.get("port") or 10809)]
                ready = None
            self.spawn(f"qemu-nbd{i}", cmd + [hp(image)], ready=ready)
            if ready is None:
                self.wait_tcp(server.get("host") or "127.0.0.1",
                              int(server.get("port") or 10809), f"qemu-nbd{i}")
        for i, (scheme, host, port, upath, image) in enumerate(plan.http):
            root = os.path.join(self.root, f"http{i}")
            target = os.path.join(root, urllib.parse.unquote(upath).lstrip("/"))
            os.makedirs(os.path.dirname(target), exist_ok=True)
            shutil.copyfile(hp(image), target)
            cmd = [sys.executable, "-c", HTTP_SCRIPT, scheme, host, str(port), root]
            if scheme == "https":
                key, crt = os.path.join(root, "..", "key.pem"), os.path.join(root, "..",
                                                                             "crt.pem")
                run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                     "-subj", f"/CN={host}", "-keyout", key, "-out", crt])
                cmd += [key, crt]
            self.spawn(f"http{i}", cmd, ready="line", stdout=subprocess.PIPE)

    def wait_tcp(self, host, port, what):
        def up():
            r = subprocess.run(self.nsenter([sys.executable, "-c",
                                             "import socket,sys; socket.create_connection("
                                             "(sys.argv[1], int(sys.argv[2])), 1).close()",
                                             host.strip("[]"), str(port)]),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            return r.returncode == 0
        wait_for(up, f"{what} to listen on {host}:{port}")

    def start_qemu(self, plan, binary):
        # taps the service would pass as fds: made in the namespace by a small wrapper that
        # opens each queue of a tap (vbgtapN) at the fd number the arguments name, then
        # execs QEMU
        argv = [sys.executable, "-c", TAP_WRAPPER, json.dumps(plan.taps), binary] \
            if plan.taps else [binary]
        for o in plan.opts:
            argv.append(o.name)
            if o.value is not None:
                argv.append(o.encode())
        with open(os.path.join(self.root, "argv"), "w") as f:
            f.write("\n".join(argv) + "\n")
        err = open(self.stderr_path, "w")
        self.qemu = subprocess.Popen(self.nsenter(argv), stdin=subprocess.DEVNULL,
                                     stdout=err, stderr=err, cwd=self.root,
                                     start_new_session=True)
        err.close()

    def qmp(self, plan):
        path = plan.host_path(plan.monitor)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(TIMEOUT)

        def connected():
            if self.qemu.poll() is not None:
                return True
            try:
                sock.connect(path)
                return True
            except OSError:
                return False
        wait_for(connected, "the QMP socket")
        if self.qemu.poll() is not None:
            raise Fail(f"QEMU exited {self.qemu.returncode} before QMP answered")
        f = sock.makefile("rw")

        def cmd(name, **args):
            msg = {"execute": name}
            if args:
                msg["arguments"] = args
            f.write(json.dumps(msg) + "\n")
            f.flush()
            while True:
                line = f.readline()
                if not line:
                    raise Fail(f"QMP closed while waiting for the answer to {name}")
                r = json.loads(line)
                if "event" in r:
                    continue
                if "error" in r:
                    raise Fail(f"QMP {name}: {r['error']}")
                return r.get("return")

        try:
            greeting = json.loads(f.readline())
        except (OSError, ValueError):
            self.qemu.wait(TIMEOUT)
            raise Fail(f"QEMU exited {self.qemu.returncode} before QMP answered")
        if "QMP" not in greeting:
            raise Fail(f"no QMP greeting: {greeting}")
        cmd("qmp_capabilities")
        st = cmd("query-status")["status"]
        if st != "prelaunch":
            raise Fail(f"status is {st}, not prelaunch")
        cmd("cont")
        st = cmd("query-status")["status"]
        if st != "running":
            raise Fail(f"status after cont is {st}, not running")
        cmd("quit")
        try:
            self.qemu.wait(TIMEOUT)
        finally:
            sock.close()
        if self.qemu.returncode != 0:
            raise Fail(f"QEMU exited {self.qemu.returncode} after quit")
        if self.stderr():
            raise Fail("QEMU printed on stderr")

    def stderr(self):
        """what QEMU printed, less the notes about pty chardevs that QEMU always prints"""
        try:
            with open(self.stderr_path) as f:
                lines = f.read().splitlines()
        except OSError:
            return ""
        return "\n".join(x for x in lines if not PTY_NOTE.match(x) and
                         not any(p.search(x) for p in self.stderr_ok)).strip()

    def cleanup(self):
        for p in [self.qemu] + [p for _, p in reversed(self.procs)] + [self.ns]:
            if p is None or p.poll() is not None:
                continue
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            p.wait()
        for p in [self.ns] + [p for _, p in self.procs]:
            if p is not None:
                for s in (p.stdout, p.stderr):
                    if s:
                        s.close()
        for dev in self.loops:
            subprocess.run(["losetup", "-d", dev], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
        shutil.rmtree(self.root, ignore_errors=True)


def wait_for(cond, what, timeout=TIMEOUT):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return
        time.sleep(0.02)
    raise Fail(f"timed out waiting for {what}")


TAP_WRAPPER = """
import fcntl, json, os, struct, sys
taps = json.loads(sys.argv[1])
opened = []
for i, targets in enumerate(taps):
    flags = 0x0002 | 0x1000 | 0x4000 | (0x0100 if len(targets) > 1 else 0)
    for t in targets:
        fd = os.open("/dev/net/tun", os.O_RDWR)
        fcntl.ioctl(fd, 0x400454ca, struct.pack("16sH", b"vbgtap%d" % i, flags))
        high = fcntl.fcntl(fd, fcntl.F_DUPFD, 200)
        os.close(fd)
        opened.append((high, t))
for high, t in opened:
    os.dup2(high, t)
    os.close(high)
os.execv(sys.argv[2], sys.argv[2:])
"""


def start_one(directory, name):
    """-> (ok, details, helpers used): starts NAME.args; ok False with the reason."""
    with open(os.path.join(directory, name + ".args")) as f:
        lines = f.read().splitlines()
    r = Runner(name)
    helpers = []
    try:
        plan = make_plan(name, r.root, lines, directory)
        r.stderr_ok = plan.stderr_ok
        helpers = (["listener"] * len(plan.listeners) +
                   ["swtpm"] * len(plan.swtpm) + ["virtiofsd"] * len(plan.virtiofsd) +
                   ["qemu-nbd"] * len(plan.nbd) + ["http"] * len(plan.http) +
                   ["bridge"] * len(plan.bridges) + ["tap"] * len(plan.taps) +
                   ["loop"] * len(plan.loops))
        r.namespace(plan)
        r.prepare(plan)
        r.helpers(plan)
        r.start_qemu(plan, QEMU if lines[0] == "/usr/bin/qemu-system-x86_64" else lines[0])
        r.qmp(plan)
        return True, "", helpers
    except (Fail, OSError, subprocess.SubprocessError, ValueError) as e:
        details = [f"{type(e).__name__}: {e}" if not isinstance(e, Fail) else str(e)]
        err = r.stderr()
        if err:
            details.append("QEMU's stderr:\n" + err)
        for what, _ in r.procs:
            log = r.helper_log(what)
            if log:
                details.append(f"{what}'s log:\n{log}")
        details.append("runner: " + "; ".join(r.log))
        return False, "\n".join(details), helpers
    finally:
        r.cleanup()


def free_hugepages():
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("HugePages_Free:"):
                return int(line.split()[1])
    return 0


# What QEMU says when this host's KVM cannot give a guest what its command line asks for:
# a machine may have a /dev/kvm whose (often nested) KVM lacks CPU features, MSRs or
# Hyper-V enlightenments that a -cpu host or a named model needs
KVM_HOST_LIMITS = ("failed to set MSR", "host doesn't support requested feature",
                   "kernel doesn't allow setting HyperV", "failed to initialize kvm",
                   "kvm_buf_set_msrs")


def read_not_started():
    """{name: (expected error text, reason, kvm_host)} from not-started.txt; an entry whose
    condition is false (no-hugepages: where huge pages are reserved) is not in force. A
    [no-kvm] entry where /dev/kvm can be opened is in force with kvm_host True: the file
    starts, or fails with one of KVM_HOST_LIMITS (this host's KVM lacks what it needs)."""
    entries = {}
    with open(NOT_STARTED) as f:
        for n, line in enumerate(f, 1):
            if not line.strip() or line.startswith("#"):
                continue
            parts = [p.strip() for p in line.rstrip("\n").split("|")]
            if len(parts) != 3 or not all(parts):
                raise SystemExit(f"{NOT_STARTED}:{n}: want 'NAME | error text | reason'")
            name, cond = parts[0], None
            if " " in name:
                name, cond = name.split(None, 1)
            kvm_host = False
            if cond == "[no-kvm]":
                kvm_host = os.access("/dev/kvm", os.R_OK | os.W_OK)
            elif cond == "[no-hugepages]":
                if free_hugepages() > 0:
                    continue
            elif cond is not None:
                raise SystemExit(f"{NOT_STARTED}:{n}: unknown condition {cond}")
            entries[name] = (parts[1], parts[2], kvm_host)
    return entries


def main():
    args = sys.argv[1:]
    jobs = 3
    if "--tap" in args:
        args.remove("--tap")
    if "--jobs" in args:
        i = args.index("--jobs")
        jobs = int(args[i + 1])
        del args[i:i + 2]
    names = sorted(f[:-5] for f in os.listdir(GOLDEN_DIR) if f.endswith(".args"))
    not_started = read_not_started()
    problems = [n for n in not_started if n not in names]
    files = [(GOLDEN_DIR, n) for n in names]
    if os.path.isdir(HELPER_DIR) and not os.environ.get("VB_GOLDEN_DIR"):
        files += [(HELPER_DIR, f[:-5]) for f in sorted(os.listdir(HELPER_DIR))
                  if f.endswith(".args")]
    if args:
        files = [(d, n) for d, n in files if n in args]
    if os.geteuid() != 0:
        print("1..1\nnot ok 1 - start-goldens needs root (unshare, losetup, mount)")
        return 1
    print(f"1..{len(files) + 1}", flush=True)
    t0 = time.monotonic()
    failed = 0
    started = helped = 0
    lock = threading.Lock()
    count = [0]

    def report(ok, text, details=""):
        nonlocal failed
        with lock:
            count[0] += 1
            if not ok:
                failed += 1
            print(f"{'ok' if ok else 'not ok'} {count[0]} - {text}")
            for line in details.splitlines():
                print("# " + line)
            sys.stdout.flush()

    def one(item):
        nonlocal started, helped
        directory, name = item
        t = time.monotonic()
        ok, details, helpers = start_one(directory, name)
        if directory != GOLDEN_DIR:
            name = os.path.basename(directory) + "/" + name
        took = f"({time.monotonic() - t:.1f} s)"
        if name in not_started and not_started[name][2]:
            limit = [x for x in KVM_HOST_LIMITS if x in details]
            if ok:
                report(True, f"{name} started, ran and quit under KVM {took}")
            elif limit:
                report(True, f"{name} does not start: this host's KVM cannot run it "
                       f"('{limit[0]}') {took}")
            else:
                report(False, f"{name} failed, and not for a limit of this host's KVM",
                       details)
            return
        if name in not_started:
            text, reason, _ = not_started[name]
            if ok:
                report(False, f"{name} is listed in not-started.txt but started: remove it "
                       f"{took}")
            elif text not in details:
                report(False, f"{name} failed, but not with the listed error '{text}'",
                       details)
            else:
                report(True, f"{name} does not start, as listed: {reason} {took}")
            return
        with lock:
            if ok:
                started += 1
                if helpers:
                    helped += 1
        extra = f" [{', '.join(sorted(set(helpers)))}]" if helpers else ""
        report(ok, f"{name} started, ran and quit{extra} {took}", details)

    with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as ex:
        list(ex.map(one, files))
    report(not problems, "every entry of not-started.txt names a golden",
           "\n".join(f"not-started.txt lists {n}, which has no .args" for n in problems))
    print(f"# {started} started ({helped} with a helper), "
          f"{len([n for d, n in files if d == GOLDEN_DIR and n in not_started])} listed as "
          f"not started, "
          f"{failed} failed, {time.monotonic() - t0:.1f} s with {jobs} in parallel")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
