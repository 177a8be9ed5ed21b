#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Console and display hand-off (issue 13, part console), with real QEMU and the tiny
guest: OpenConsole/OpenChannel give a stream the service proxies (one client, FORCE takes
over), OpenGraphicsFD a socket QEMU's VNC server speaks on, Screenshot a PNG, SendKey keys
the guest reads on its keyboard (tgkeys), InjectNMI, and virtbusctl's commands."""

import os
import select
import socket
import stat
import struct
import subprocess
import time

from gi.repository import Gio, GLib

import test_polkit
import vbtest
from vbtest import CtlTestCase, DBusCallError, eventually

GUEST_DIR = os.environ.get("VB_TINY_GUEST", "")
BUS_NAME = "org.virtbus.Virt1"
DOMAIN_IFACE = "org.virtbus.Virt1.Domain"
FORCE = 1
AGENT = "org.qemu.guest_agent.0"
# Linux key codes
KEY_H, KEY_I, KEY_O, KEY_K, KEY_ENTER = 35, 23, 24, 37, 28


def guest_xml(name, extra="", agent_type="unix"):
    with open(os.path.join(GUEST_DIR, "cmdline")) as f:
        cmdline = f.read().strip() + " tgconsole tgkeys"
    return f"""<domain type='qemu'>
  <name>{name}</name>
  <memory unit='MiB'>128</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='q35'>hvm</type>
    <kernel>{GUEST_DIR}/vmlinux</kernel>
    <initrd>{GUEST_DIR}/initrd.img</initrd>
    <cmdline>{cmdline}</cmdline>
  </os>
  <devices>
    <serial type='pty'>
      <target port='0'/>
    </serial>
    <channel type='{agent_type}'>
      <target type='virtio' name='{AGENT}'/>
    </channel>
    <graphics type='vnc' port='-1' autoport='yes' listen='127.0.0.1'/>
    <video>
      <model type='vga'/>
    </video>
    {extra}
  </devices>
</domain>
"""


def open_stream(conn, path, method, args, flags=0, timeout=30000):
    """Calls OpenConsole/OpenChannel/OpenGraphicsFD; returns a socket on the fd."""
    r, fds = conn.call_with_unix_fd_list_sync(
        BUS_NAME, path, DOMAIN_IFACE, method, GLib.Variant("(" + args[0] + "u)",
                                                           (args[1], flags)),
        None, Gio.DBusCallFlags.NONE, timeout, None, None)
    handle = r.unpack()[0]
    fd = fds.get(handle)
    return socket.socket(fileno=fd)


def call_error(fn, *args, **kw):
    try:
        fn(*args, **kw)
    except GLib.Error as e:
        return Gio.DBusError.get_remote_error(e), e.message
    raise AssertionError("the call did not fail")


class Reader:
    """What came out of a console socket so far."""

    def __init__(self, sock):
        self.sock = sock
        self.data = b""
        self.eof = False

    def pump(self, timeout=0.2):
        ready, _, _ = select.select([self.sock], [], [], timeout)
        if ready:
            chunk = self.sock.recv(65536)
            if chunk == b"":
                self.eof = True
            self.data += chunk
        return self.data

    def wait_for(self, needle, timeout=60, poke=None, every=2.0):
        deadline = time.monotonic() + timeout
        last = 0
        while time.monotonic() < deadline:
            if poke is not None and time.monotonic() - last > every:
                poke()
                last = time.monotonic()
            if needle in self.pump():
                return self.data
            if self.eof:
                break
        raise AssertionError(f"no {needle!r} on the stream within {timeout} s "
                             f"(eof={self.eof}): {self.data[-2000:]!r}")

    def wait_count(self, needle, count, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not self.eof:
            if self.pump().count(needle) >= count:
                return self.data
        raise AssertionError(f"not {count} times {needle!r} on the stream within {timeout} s: "
                             f"{self.data[-2000:]!r}")

    def wait_eof(self, timeout=10):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not self.eof:
            self.pump()
        return self.eof


class ConsoleTestCase(CtlTestCase):
    def setUp(self):
        if not os.path.exists(os.path.join(GUEST_DIR, "vmlinux")):
            self.fail(f"the tiny guest is not built in {GUEST_DIR}")
        super().setUp()

    def start_guest(self, name, extra="", agent_type="unix"):
        path = self.manager("DefineXML", "su", (guest_xml(name, extra, agent_type), 0))
        self.domain(path, "Start", "u", (0,), timeout=60000)
        return path

    def console(self, path, dev="", flags=0):
        return open_stream(self.conn, path, "OpenConsole", ("s", dev), flags)

    def shell(self, sock, reader, expr, want, timeout=90):
        """Types `echo MARK$((expr))` until the guest's shell answers MARK<want>."""
        cmd = f"echo MARK$(({expr}))\n".encode()
        return reader.wait_for(f"MARK{want}".encode(), timeout,
                               poke=lambda: sock.sendall(cmd))


class ConsoleTest(ConsoleTestCase):
    def test_console_roundtrip_one_client_and_force(self):
        path = self.start_guest("c1")
        s1 = self.console(path)
        r1 = Reader(s1)
        # typed text reaches the guest's shell; its output comes back
        self.shell(s1, r1, "6*7", 42)
        # the alias names the same port
        e = call_error(self.console, path, "serial0")
        self.assertEqual(e[0], "org.virtbus.Virt1.Error.Busy", e)
        self.assertIn("Active console session exists for this domain", e[1])
        self.assertIn("FORCE", e[1])
        # the first client still works
        self.shell(s1, r1, "5*5", 25)
        # FORCE takes over: the first client's stream ends
        s2 = self.console(path, "serial0", FORCE)
        r2 = Reader(s2)
        self.assertTrue(r1.wait_eof(10), "the first client's stream did not end")
        self.shell(s2, r2, "7*8", 56)
        s1.close()
        # closing the client frees the console for a new client without FORCE
        s2.close()
        s3 = eventually(lambda: self._try_console(path), timeout=10,
                        what="the console to be free again")
        r3 = Reader(s3)
        self.shell(s3, r3, "3*3", 9)
        # the domain stops: the stream ends
        self.domain(path, "Destroy", "u", (0,))
        self.assertTrue(r3.wait_eof(10), "the stream did not end with the domain")
        s3.close()

    def test_service_stop_with_open_console(self):
        """The console thread is stopped and joined at shutdown: the service exits 0 with a
        clean log and closed the open stream itself."""
        path = self.start_guest("c9")
        s = self.console(path)
        r = Reader(s)
        self.shell(s, r, "2*21", 42)
        self.conn.close_sync(None)
        self.assertEqual(self.service.stop(), 0)
        self.assertTrue(r.wait_eof(10), "the console stream did not end with the service")
        self.assertIn("console thread joined at shutdown: 1 console stream(s) closed",
                      self.service.read_log())
        s.close()
        self.service.start()
        self.conn = vbtest.connect(self.bus.address)
        self.domain(path, "Destroy", "u", (0,))

    def test_slow_client_loses_nothing_and_blocks_nothing(self):
        """A client that does not read: the proxy's buffer fills, the guest waits; the
        service answers other calls meanwhile; then every line arrives, in order."""
        path = self.start_guest("c8")
        s = self.console(path)
        r = Reader(s)
        self.shell(s, r, "4*4", 16)
        n = 2000
        s.sendall(b"i=0; while [ $i -lt %d ]; do echo L$i-%s; i=$((i+1)); done; "
                  b"echo END$((50+50))\n" % (n, b"x" * 70))
        # do not read for a while: far more than the 64 KiB buffer waits in the guest
        t0 = time.monotonic()
        while time.monotonic() - t0 < 8:
            self.assertEqual(self.get_prop(path, DOMAIN_IFACE, "State"), "running")
            self.assertIn("<name>c8</name>", self.domain(path, "GetXMLDesc", "u", (0,)))
            time.sleep(0.5)
        data = r.wait_for(b"END100", timeout=120)
        lines = [l for l in data.split(b"\r\n") if l.startswith(b"L") and b"-xxx" in l]
        got = [int(l[1:l.index(b"-")]) for l in lines]
        self.assertEqual(got, list(range(n)))
        s.close()

    def _try_console(self, path):
        try:
            return self.console(path)
        except GLib.Error as e:
            if "Busy" in str(e):
                return None
            raise

    def test_errors(self):
        path = self.manager("DefineXML", "su", (guest_xml("c2"), 0))
        e = call_error(self.console, path)
        self.assertEqual(e[0], "org.virtbus.Virt1.Error.OperationInvalid", e)
        self.domain(path, "Start", "u", (0,), timeout=60000)
        e = call_error(self.console, path, "serial7")
        self.assertEqual(e[0], "org.virtbus.Virt1.Error.InvalidArgument", e)
        self.assertIn("cannot find character device serial7", e[1])
        e = call_error(self.console, path, "", 4)
        self.assertEqual(e[0], "org.virtbus.Virt1.Error.InvalidArgument", e)
        e = call_error(open_stream, self.conn, path, "OpenChannel", ("s", "no.such"))
        self.assertEqual(e[0], "org.virtbus.Virt1.Error.InvalidArgument", e)
        self.assertIn("cannot find channel no.such", e[1])
        # the agent's channel is the service's agent client's: QEMU takes one client there
        for name in (AGENT, "channel0", ""):
            e = call_error(open_stream, self.conn, path, "OpenChannel", ("s", name))
            self.assertEqual(e[0], "org.virtbus.Virt1.Error.OperationInvalid", e)
            self.assertIn("in use by the service's QEMU guest agent client", e[1])
        e = call_error(open_stream, self.conn, path, "OpenGraphicsFD", ("u", 3))
        self.assertEqual(e[0], "org.virtbus.Virt1.Error.InvalidArgument", e)
        err = self.assertDBusError("NotSupported", self.domain, path, "SendProcessSignal",
                                   "xuu", (1, 9, 0))
        self.assertIn("LXC", err.message)
        err = self.assertDBusError("InvalidArgument", self.domain, path, "SendKey", "uuauu",
                                   (0, 0, [9999], 0))
        self.assertIn("cannot translate keycode 9999 of codeset linux", err.message)
        self.assertDBusError("InvalidArgument", self.domain, path, "SendKey", "uuauu",
                             (42, 0, [KEY_H], 0))
        self.assertDBusError("InvalidArgument", self.domain, path, "SendKey", "uuauu",
                             (0, 0, [KEY_H] * 17, 0))
        err = self.assertDBusError("InvalidArgument", self.domain, path, "Screenshot", "uu",
                                   (5, 0))
        self.assertIn("no screen with index 5", err.message)
        self.assertDBusError("InvalidArgument", self.domain, path, "InjectNMI", "u", (1,))
        # a domain without a pty serial: OpenConsole says why
        self.domain(path, "Destroy", "u", (0,))

    def test_channel_reaches_the_guest_agent(self):
        # a pty agent channel is not the service's (its agent calls say NotSupported), so a
        # client may have it
        path = self.start_guest("c3", agent_type="pty")
        s = open_stream(self.conn, path, "OpenChannel", ("s", AGENT))
        r = Reader(s)
        r.wait_for(b'"return"', timeout=90,
                   poke=lambda: s.sendall(b'{"execute":"guest-ping"}\n'))
        e = call_error(open_stream, self.conn, path, "OpenChannel", ("s", "channel0"))
        self.assertEqual(e[0], "org.virtbus.Virt1.Error.Busy", e)
        s.close()

    def test_graphics_fd_speaks_vnc(self):
        path = self.start_guest("c4")
        g = self.get_prop(path, DOMAIN_IFACE, "Graphics")
        self.assertEqual(len(g), 1, g)
        self.assertEqual(g[0]["type"], "vnc")
        self.assertEqual(g[0]["listen"], "127.0.0.1")
        self.assertGreaterEqual(g[0]["port"], 5900)
        self.assertTrue(g[0]["autoport"])
        self.assertFalse(g[0]["passwdSet"])
        s = open_stream(self.conn, path, "OpenGraphicsFD", ("u", 0))
        r = Reader(s)
        self.assertEqual(r.wait_for(b"RFB 003.008\n", timeout=10)[:12], b"RFB 003.008\n")
        s.close()
        self.assertEqual(self.ctl("vncdisplay", "c4").stdout,
                         f"127.0.0.1:{g[0]['port'] - 5900}\n")
        self.assertEqual(self.ctl("domdisplay", "c4").stdout,
                         f"vnc://127.0.0.1:{g[0]['port'] - 5900}\n")
        self.domain(path, "Destroy", "u", (0,))
        self.assertEqual(self.get_prop(path, DOMAIN_IFACE, "Graphics"), [])

    def test_display_stream_on_a_unix_socket_display(self):
        """virtbusctl display-stream: a VNC display with no port (a unix socket only) spoken
        to through its standard input and output (OpenGraphicsFD), as the Cockpit page's
        noVNC does; a password skipped with --skip-auth only."""
        xml = guest_xml("c4u").replace(
            "<graphics type='vnc' port='-1' autoport='yes' listen='127.0.0.1'/>",
            "<graphics type='vnc' passwd='pw1'><listen type='socket'/></graphics>")
        path = self.manager("DefineXML", "su", (xml, 0))
        p = self.ctl("display-stream", "c4u", check=False)
        self.assertFails(p, 1, "is not running")
        self.domain(path, "Start", "u", (0,), timeout=60000)
        g = self.get_prop(path, DOMAIN_IFACE, "Graphics")
        # the socket the command line named in the run's directory, published
        self.assertTrue(g[0]["socket"].endswith("/vnc.sock"), g)
        self.assertTrue(stat.S_ISSOCK(os.stat(g[0]["socket"]).st_mode))
        self.assertNotIn("port", g[0])
        self.assertEqual(self.ctl("domdisplay", "c4u").stdout, f"vnc+unix://{g[0]['socket']}\n")

        def handshake(*args):
            """The security types the server offers after the version exchange."""
            p = self.ctl_background("display-stream", "c4u", *args, stdin=subprocess.PIPE,
                                    text=False)
            self.assertEqual(p.stdout.read(12), b"RFB 003.008\n")
            p.stdin.write(b"RFB 003.008\n")
            p.stdin.flush()
            n = p.stdout.read(1)[0]
            types = list(p.stdout.read(n))
            p.stdin.close()   # the viewer leaves: the relay ends
            self.assertEqual(p.wait(timeout=10), 0, p.stderr.read())
            self.assertEqual(p.stdout.read(), b"")
            return types

        self.assertEqual(handshake(), [2])                 # VNC authentication
        self.assertEqual(handshake("--skip-auth"), [1])    # none
        self.assertEqual(handshake("--index", "0", "--skip-auth"), [1])
        p = self.ctl("display-stream", "c4u", "--index", "3", check=False)
        self.assertFails(p, 1, "No graphics backend with index 3")
        self.domain(path, "Destroy", "u", (0,))

    def test_screenshot_is_a_png_of_the_screen(self):
        path = self.start_guest("c5")
        s = self.console(path)
        self.shell(s, Reader(s), "2*2", 4)   # booted
        r, fds = self.conn.call_with_unix_fd_list_sync(
            BUS_NAME, path, DOMAIN_IFACE, "Screenshot", GLib.Variant("(uu)", (0, 0)),
            None, Gio.DBusCallFlags.NONE, 30000, None, None)
        handle, mime = r.unpack()
        self.assertEqual(mime, "image/png")
        with os.fdopen(fds.get(handle), "rb") as f:
            png = f.read()
        self.assertEqual(png[:8], b"\x89PNG\r\n\x1a\n")
        self.assertEqual(png[12:16], b"IHDR")
        width, height = struct.unpack(">II", png[16:24])
        # the same screen as QEMU's own PPM says
        ppm = os.path.join(self.tmp, "screen.ppm")
        self.domain(path, "QemuMonitorCommand", "s",
                    (f'{{"execute":"screendump","arguments":{{"filename":"{ppm}"}}}}',))
        with open(ppm, "rb") as f:
            magic, dims = f.readline(), f.readline().split()
        self.assertEqual(magic, b"P6\n")
        self.assertEqual((width, height), (int(dims[0]), int(dims[1])))
        self.assertGreater(width, 0)
        # nothing stays in the runtime directory
        rundir = os.path.join(self.root, "run")
        left = [f for d, _, fs in os.walk(rundir) for f in fs if f.startswith("screenshot-")]
        self.assertEqual(left, [])
        # virtbusctl screenshot writes the file
        out = os.path.join(self.tmp, "shot.png")
        p = self.ctl("screenshot", "c5", out)
        self.assertEqual(p.stdout, f"Screenshot saved to {out}, with type of image/png\n")
        with open(out, "rb") as f:
            self.assertEqual(f.read(8), b"\x89PNG\r\n\x1a\n")
        s.close()

    def test_send_key_reaches_the_guest_keyboard(self):
        path = self.start_guest("c6")
        s = self.console(path)
        r = Reader(s)
        self.shell(s, r, "1+1", 2)   # booted: tgkeys reads tty1
        # linux codes
        r.wait_for(b"TINYGUEST: keys hi", timeout=60, every=5, poke=lambda: self.domain(
            path, "SendKey", "uuauu", (0, 0, [KEY_H], 0)) or self.domain(
            path, "SendKey", "uuauu", (0, 0, [KEY_I], 0)) or self.domain(
            path, "SendKey", "uuauu", (0, 0, [KEY_ENTER], 0)))
        # usb codes (i=0x0c, h=0x0b, enter=0x28), with a hold time
        for code in (0x0c, 0x0b, 0x28):
            self.domain(path, "SendKey", "uuauu", (7, 50, [code], 0))
        r.wait_for(b"TINYGUEST: keys ih", timeout=30)
        # virtbusctl send-key with Linux key names
        for key in ("KEY_O", "KEY_K", "KEY_ENTER"):
            self.ctl("send-key", "c6", key)
        r.wait_for(b"TINYGUEST: keys ok", timeout=30)
        # an NMI: the guest kernel reports it on its console
        self.ctl("inject-nmi", "c6")
        r.wait_for(b"NMI", timeout=30)
        s.close()

    def test_virtbusctl_console(self):
        path = self.start_guest("c7")
        # virtbusctl console: stdin is not a tty; it pumps until Ctrl-]
        p = subprocess.Popen([os.path.abspath(vbtest.VIRTBUSCTL), "--address", self.bus.address,
                              "console", "c7"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
        self.procs.append(p)
        try:
            out = b""
            deadline = time.monotonic() + 90
            last = 0
            os.set_blocking(p.stdout.fileno(), False)
            while b"MARK99" not in out and time.monotonic() < deadline:
                if time.monotonic() - last > 2:
                    p.stdin.write(b"echo MARK$((9*11))\n")
                    p.stdin.flush()
                    last = time.monotonic()
                select.select([p.stdout], [], [], 0.2)
                out += p.stdout.read() or b""
            self.assertIn(b"MARK99", out)
            self.assertIn(b"Connected to domain 'c7'", out)
            # a second virtbusctl is refused; with --force it takes over and the first ends
            q = self.ctl("console", "c7", check=False, input="\x1d")
            self.assertEqual(q.returncode, 1, q.stderr)
            self.assertIn("Active console session exists", q.stderr)
            q = self.ctl("console", "c7", "--force", input="\x1d")
            self.assertIn("Connected to domain 'c7'", q.stdout)
            self.assertEqual(p.wait(timeout=10), 0)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()


LIVE, CONFIG = 1, 2
DESCRIPTION, TITLE, ELEMENT = 0, 1, 2
NS1, NS2 = "http://frontend.example/ui/1", "http://other.example/2"


class MetadataTest(CtlTestCase):
    """Title, Description, GetMetadata/SetMetadata with LIVE/CONFIG, MetadataChange."""

    def meta(self, path, typ, uri="", flags=0):
        return self.domain(path, "GetMetadata", "isu", (typ, uri, flags))

    def set_meta(self, path, typ, value, key="", uri="", flags=0):
        return self.domain(path, "SetMetadata", "isssu", (typ, value, key, uri, flags))

    def config_file(self, name):
        with open(os.path.join(self.root, "etc/virtbus/qemu", name + ".xml")) as f:
            return f.read()

    def test_inactive_domain_config_round_trip(self):
        path = self.define("m1")
        sig = vbtest.SignalRecorder(self.conn, DOMAIN_IFACE, "MetadataChange", path)
        self.addCleanup(sig.close)
        self.assertEqual(self.get_prop(path, DOMAIN_IFACE, "Title"), "")
        err = self.assertDBusError("InvalidArgument", self.meta, path, TITLE)
        self.assertIn("Requested metadata element is not present", err.message)
        self.set_meta(path, TITLE, "Web server")
        sig.wait_for(lambda s: s[3] == (TITLE, ""), what="MetadataChange(TITLE)")
        self.assertEqual(self.get_prop(path, DOMAIN_IFACE, "Title"), "Web server")
        self.assertEqual(self.meta(path, TITLE), "Web server")
        self.assertIn("<title>Web server</title>", self.config_file("m1"))
        err = self.assertDBusError("InvalidArgument", self.set_meta, path, TITLE, "a\nb")
        self.assertIn("newlines", err.message)
        # the property is writable
        self.set_prop(path, DOMAIN_IFACE, "Description", GLib.Variant("s", "for tests & <x>"))
        self.assertEqual(self.meta(path, DESCRIPTION), "for tests & <x>")
        self.assertIn("<description>for tests &amp; &lt;x&gt;</description>",
                      self.config_file("m1"))
        # elements by namespace: set, a second one, replace the first, remove
        self.set_meta(path, ELEMENT, "<app><zoom>2</zoom></app>", "fe", NS1)
        sig.wait_for(lambda s: s[3] == (ELEMENT, NS1), what="MetadataChange(ELEMENT)")
        self.set_meta(path, ELEMENT, "<other a='1'/>", "ot", NS2)
        got = self.meta(path, ELEMENT, NS1)
        self.assertIn(f'xmlns:fe="{NS1}"', got.replace("'", '"'))
        self.assertIn("<zoom>2</zoom>", got)
        self.assertTrue(got.startswith("<fe:app"), got)
        self.set_meta(path, ELEMENT, "<app><zoom>3</zoom></app>", "fe", NS1)
        self.assertIn("<zoom>3</zoom>", self.meta(path, ELEMENT, NS1))
        self.assertIn("<ot:other", self.meta(path, ELEMENT, NS2))
        xml = self.domain(path, "GetXMLDesc", "u", (0,))
        self.assertEqual(xml.count("<zoom>"), 1, xml)
        self.assertIn("<metadata>", self.config_file("m1"))
        # a redefinition from the XML keeps everything (round trip)
        self.manager("DefineXML", "su", (xml, 0))
        self.assertEqual(self.domain(path, "GetXMLDesc", "u", (0,)), xml)
        self.set_meta(path, ELEMENT, "", "", NS1)
        self.assertDBusError("InvalidArgument", self.meta, path, ELEMENT, NS1)
        self.assertIn("<ot:other", self.meta(path, ELEMENT, NS2))
        # bad input changes nothing
        self.assertDBusError("InvalidXML", self.set_meta, path, ELEMENT, "<a><b></a>", "fe", NS1)
        self.assertDBusError("InvalidArgument", self.set_meta, path, ELEMENT, "<a/>", "", NS1)
        self.assertDBusError("InvalidArgument", self.set_meta, path, ELEMENT, "<a/>", "fe", "")
        self.assertDBusError("InvalidArgument", self.set_meta, path, 7, "x")
        self.assertDBusError("InvalidArgument", self.meta, path, TITLE, "", LIVE | CONFIG)
        # an inactive domain has no live definition
        self.assertDBusError("OperationInvalid", self.set_meta, path, TITLE, "x", flags=LIVE)
        self.assertEqual(self.meta(path, TITLE), "Web server")
        # virtbusctl desc, metadata
        self.assertEqual(self.ctl("desc", "m1").stdout, "for tests & <x>\n")
        self.assertEqual(self.ctl("desc", "m1", "--title", "New", "title").stdout,
                         "Domain title updated successfully\n")
        self.assertEqual(self.ctl("desc", "m1", "--title").stdout, "New title\n")
        self.ctl("metadata", "m1", NS1, "--key", "fe", "--set", "<app/>")
        self.assertIn("<fe:app", self.ctl("metadata", "m1", NS1).stdout)
        self.ctl("metadata", "m1", NS1, "--remove")
        self.assertFails(self.ctl("metadata", "m1", NS1, check=False), 1, "not present")

    def test_live_and_config(self):
        path = self.define("m2")
        self.set_meta(path, TITLE, "persistent title")
        self.domain(path, "Start", "u", (0,), timeout=60000)
        # CURRENT of a running domain: the live definition only
        self.set_meta(path, TITLE, "live title")
        self.assertEqual(self.meta(path, TITLE), "live title")
        self.assertEqual(self.meta(path, TITLE, flags=CONFIG), "persistent title")
        self.assertIn("<title>persistent title</title>", self.config_file("m2"))
        self.assertIn("<title>persistent title</title>",
                      self.domain(path, "GetXMLDesc", "u", (2,)))   # INACTIVE
        eventually(lambda: self.get_prop(path, DOMAIN_IFACE, "Title") == "live title")
        # LIVE and CONFIG: both
        self.set_meta(path, ELEMENT, "<x/>", "k", NS1, LIVE | CONFIG)
        self.assertIn("<k:x", self.meta(path, ELEMENT, NS1, LIVE))
        self.assertIn("<k:x", self.meta(path, ELEMENT, NS1, CONFIG))
        # the property on a running persistent domain: both too
        self.set_prop(path, DOMAIN_IFACE, "Title", GLib.Variant("s", "renamed"))
        self.assertEqual(self.meta(path, TITLE, flags=LIVE), "renamed")
        self.assertEqual(self.meta(path, TITLE, flags=CONFIG), "renamed")
        self.set_meta(path, DESCRIPTION, "only live", flags=LIVE)
        self.domain(path, "Destroy", "u", (0,))
        # stopped: the persistent definition again
        eventually(lambda: self.get_prop(path, DOMAIN_IFACE, "Description") == "")
        self.assertEqual(self.get_prop(path, DOMAIN_IFACE, "Title"), "renamed")
        self.assertIn("<k:x", self.meta(path, ELEMENT, NS1))

    def test_control_characters_are_refused(self):
        """Issue 14 (bus fuzzer): a title or description holding a control character was
        kept in the definition, which then no longer formatted into parseable XML: the next
        copy of the definition failed and the start formatted a NULL copy (a crash). Every
        way in refuses it with InvalidArgument; the domain is unchanged and still starts."""
        path = self.define("m4")
        self.set_meta(path, TITLE, "kept")
        for bad in ("a\x01b", "\x1f", "x\x7f\x08", "tab\tok\x0b"):
            for typ in (TITLE, DESCRIPTION):
                for flags in (0, CONFIG):
                    err = self.assertDBusError("InvalidArgument", self.set_meta, path, typ, bad,
                                               flags=flags)
                    self.assertIn("XML 1.0", err.message)
            for prop in ("Title", "Description"):
                self.assertDBusError("InvalidArgument", self.set_prop, path, DOMAIN_IFACE, prop,
                                     GLib.Variant("s", bad))
        self.assertDBusError("InvalidArgument", self.set_meta, path, ELEMENT, "<a/>", "k",
                             "http://x.example/\x01")
        # tab, newline (description) and carriage return are XML text
        self.set_meta(path, DESCRIPTION, "a\tb\nc\rd")
        self.assertEqual(self.meta(path, TITLE), "kept")
        self.assertNotIn("\x01", self.config_file("m4"))
        # the definition still copies: the domain starts, and refuses on the live one too
        self.domain(path, "Start", "u", (0,), timeout=60000)
        self.assertDBusError("InvalidArgument", self.set_prop, path, DOMAIN_IFACE, "Title",
                             GLib.Variant("s", "\x01"))
        self.assertDBusError("InvalidArgument", self.set_meta, path, TITLE, "\x02", flags=LIVE)
        self.assertEqual(self.meta(path, TITLE, flags=LIVE), "kept")
        self.assertIn("<title>kept</title>", self.domain(path, "GetXMLDesc", "u", (0,)))
        self.domain(path, "Destroy", "u", (0,))
        self.assertIsNone(self.service.proc.poll())

    def test_transient_domain_has_no_config(self):
        path = self.manager("CreateXML", "su", (vbtest.domain_xml("m3"), 0), timeout=60000)
        self.assertDBusError("OperationInvalid", self.set_meta, path, TITLE, "x", flags=CONFIG)
        self.set_meta(path, TITLE, "transient")
        self.assertEqual(self.meta(path, TITLE), "transient")
        self.domain(path, "Destroy", "u", (0,))


def run_as(user, group, argv):
    """virtbusctl as another user (setpriv), stdin/stdout as pipes."""
    env = {"PATH": "/usr/bin:/bin", "HOME": "/nonexistent", "LC_ALL": "C"}
    return subprocess.Popen(["setpriv", f"--reuid={user}", f"--regid={group}",
                             "--clear-groups", *argv], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd="/")


class ConsolePolkitTest(test_polkit.PolkitTestCase):
    """OpenConsole needs org.virtbus.Virt1.console: a rule lets nobody use the console of
    p1; another user (daemon) is refused. Neither can open the pty itself."""
    rules = r"""
polkit.addRule(function(action, subject) {
    if (action.id == "org.virtbus.Virt1.console" && subject.user == "nobody" &&
        action.lookup("domain") == "p1" && action.lookup("verb") == "openconsole")
        return polkit.Result.YES;
});
"""

    def setUp(self):
        if not os.path.exists(os.path.join(GUEST_DIR, "vmlinux")):
            self.fail(f"the tiny guest is not built in {GUEST_DIR}")
        super().setUp()

    def test_console_for_the_allowed_user_only(self):
        path = self.manager("DefineXML", "su", (guest_xml("p1"), 0))
        self.domain(path, "Start", "u", (0,), timeout=60000)
        live = self.domain(path, "GetXMLDesc", "u", (0,))
        pty = live.split("<source path='", 1)[1].split("'", 1)[0]
        self.assertTrue(pty.startswith("/dev/pts/"), live)
        ctl = [os.path.abspath(vbtest.VIRTBUSCTL), "--address", self.bus.address]
        # daemon: refused, a real polkit question with the domain's details
        p = run_as("daemon", "daemon", ctl + ["console", "p1"])
        out, err = p.communicate(b"\x1d", timeout=60)
        self.assertEqual(p.returncode, 1, (out, err))
        self.assertIn(b"org.virtbus.Virt1.console", err)
        self.wait_check(action="org.virtbus.Virt1.console", user="daemon", domain="p1",
                        verb="openconsole")
        # nobody: the rule allows it; typed text reaches the guest's shell and back
        p = run_as("nobody", "nogroup", ctl + ["console", "p1"])
        try:
            os.set_blocking(p.stdout.fileno(), False)
            out, last = b"", 0
            deadline = time.monotonic() + 90
            while b"MARK64" not in out and time.monotonic() < deadline and p.poll() is None:
                if time.monotonic() - last > 2:
                    p.stdin.write(b"echo MARK$((8*8))\n")
                    p.stdin.flush()
                    last = time.monotonic()
                select.select([p.stdout], [], [], 0.2)
                out += p.stdout.read() or b""
            self.assertIn(b"MARK64", out, p.stderr.read() if p.poll() is not None else "")
            p.stdin.write(b"\x1d")
            p.stdin.flush()
            self.assertEqual(p.wait(timeout=10), 0)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
            for f in (p.stdin, p.stdout, p.stderr):
                f.close()
        # nobody could not have opened the pty itself
        r = subprocess.run(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
                            "sh", "-c", f"exec 3<>{pty}"], capture_output=True)
        self.assertNotEqual(r.returncode, 0)
        # the rule is for OpenConsole only: a screenshot stays refused
        nobody = self.nobody()
        self.assertRefused("org.virtbus.Virt1.console", self.domain, path, "Screenshot", "uu",
                           (0, 0), conn=nobody)


if __name__ == "__main__":
    vbtest.main()
