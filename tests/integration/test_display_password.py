#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""A running display's password (issue 13): passwd=, passwdValidTo and connected= of a
VNC display reach QEMU at start, UpdateDevice changes them while the domain runs, as
libvirt's qemuDomainChangeGraphics; a VNC client (RFB 3.8, VNC authentication) over
OpenGraphicsFD proves what QEMU asks for. Changes libvirt refuses (listen address, port,
keymap) are NotSupported and leave the password as it was; the new password survives a
service restart (it is in the status)."""

import os
import re
import signal
import struct
import time

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

import vbtest
from test_console import open_stream
from test_devices_display import free_port
from vbtest import DOMAIN_IFACE, CtlTestCase

LIVE, CONFIG = 1, 2
SECURE, INACTIVE = 1, 2  # GetXMLDesc


def domain_xml(name, graphics):
    return f"""<domain type='qemu'>
  <name>{name}</name>
  <memory unit='MiB'>64</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type></os>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    {graphics}
  </devices>
</domain>
"""


def utc(offset_s):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(time.time() + offset_s))


def recv_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise AssertionError(f"VNC server closed the connection after {buf!r}")
        buf += chunk
    return buf


def des_key(password):
    """VNC's DES key: the password in 8 bytes, each byte's bits reversed."""
    raw = (password.encode() + b"\0" * 8)[:8]
    return bytes(int(f"{b:08b}"[::-1], 2) for b in raw)


def vnc_login(sock, password):
    """RFB 3.8 with VNC authentication; returns (True, "") or (False, reason), or
    (None, types) when the display asks for no VNC authentication."""
    sock.settimeout(20)
    assert recv_exact(sock, 12) == b"RFB 003.008\n"
    sock.sendall(b"RFB 003.008\n")
    n = recv_exact(sock, 1)[0]
    if n == 0:
        length = struct.unpack(">I", recv_exact(sock, 4))[0]
        return False, recv_exact(sock, length).decode()
    types = recv_exact(sock, n)
    if 2 not in types:
        return None, f"security types {list(types)}"
    sock.sendall(b"\x02")
    challenge = recv_exact(sock, 16)
    enc = Cipher(algorithms.TripleDES(des_key(password)), modes.ECB()).encryptor()
    sock.sendall(enc.update(challenge) + enc.finalize())
    result = struct.unpack(">I", recv_exact(sock, 4))[0]
    if result == 0:
        return True, ""
    length = struct.unpack(">I", recv_exact(sock, 4))[0]
    return False, recv_exact(sock, length).decode(errors="replace")


class DisplayPasswordTest(CtlTestCase):
    def start(self, name, graphics):
        path = self.manager("DefineXML", "su", (domain_xml(name, graphics), 0))
        self.domain(path, "Start", "u", (1,), timeout=60000)   # paused: the display works
        return path

    def login(self, path, password):
        s = open_stream(self.conn, path, "OpenGraphicsFD", ("u", 0))
        try:
            return vnc_login(s, password)
        finally:
            s.close()

    def assertLogin(self, path, password, ok):
        got, reason = self.login(path, password)
        self.assertEqual(got, ok, f"login with {password!r}: {reason}")

    def graphics_elem(self, path, flags):
        xml = self.domain(path, "GetXMLDesc", "u", (flags,))
        m = re.search(r"<graphics [^>]*>", xml)
        self.assertIsNotNone(m, xml)
        return m.group(0)

    def test_password_at_start_and_live_update(self):
        path = self.start("g1", "<graphics type='vnc' autoport='yes' passwd='secret1'/>")
        self.assertTrue(self.get_prop(path, DOMAIN_IFACE, "Graphics")[0]["passwdSet"])
        self.assertLogin(path, "secret1", True)
        self.assertLogin(path, "wrong", False)
        self.assertNotIn("passwd", self.graphics_elem(path, 0))
        self.assertIn("passwd='secret1'", self.graphics_elem(path, SECURE))

        # what a client sends: the live element with a new password
        live = self.graphics_elem(path, SECURE).replace("secret1", "secret2")
        if not live.endswith("/>"):
            live = live[:-1] + "/>"
        self.domain(path, "UpdateDevice", "su", (live, LIVE))
        self.assertLogin(path, "secret2", True)
        self.assertLogin(path, "secret1", False)
        self.assertIn("passwd='secret2'", self.graphics_elem(path, SECURE))
        self.assertIn("passwd='secret1'", self.graphics_elem(path, SECURE | INACTIVE))

        # a lifetime in the past: the right password no longer opens the display
        past = utc(-3600)
        self.domain(path, "UpdateDevice", "su",
                    (f"<graphics type='vnc' passwd='secret3' passwdValidTo='{past}'/>", LIVE))
        self.assertLogin(path, "secret3", False)
        self.assertIn(f"passwdValidTo='{past}'", self.graphics_elem(path, SECURE))
        # one in the future: it does; without passwdValidTo the lifetime is gone
        self.domain(path, "UpdateDevice", "su",
                    (f"<graphics type='vnc' passwd='secret3' passwdValidTo='{utc(3600)}'/>",
                     LIVE))
        self.assertLogin(path, "secret3", True)
        self.domain(path, "UpdateDevice", "su", ("<graphics type='vnc' passwd='secret4'/>", LIVE))
        self.assertNotIn("passwdValidTo", self.graphics_elem(path, SECURE))
        self.assertLogin(path, "secret4", True)

        # the new password is in the status: a restarted service still knows it
        self.service.proc.send_signal(signal.SIGKILL)
        self.service.start()
        self.conn = vbtest.connect(self.bus.address)
        self.assertIn("passwd='secret4'", self.graphics_elem(path, SECURE))
        self.assertLogin(path, "secret4", True)

        # an empty password locks the display
        self.domain(path, "UpdateDevice", "su", ("<graphics type='vnc' passwd=''/>", LIVE))
        self.assertLogin(path, "", False)
        self.assertLogin(path, "secret4", False)

    def test_changes_libvirt_refuses(self):
        path = self.start("g2", "<graphics type='vnc' autoport='yes' keymap='en-us' "
                                "passwd='keep1'/>")
        refused = [
            ("<graphics type='vnc' listen='0.0.0.0' passwd='x'/>", "listen address"),
            ("<graphics type='vnc' passwd='x'><listen type='address' address='0.0.0.0'/>"
             "</graphics>", "listen address"),
            ("<graphics type='vnc' passwd='x'><listen type='address'/><listen type='address'/>"
             "</graphics>", "number of listen addresses"),
            ("<graphics type='vnc' passwd='x'><listen type='socket'/></graphics>",
             "type of listen address"),
            ("<graphics type='vnc' autoport='no' port='5999' passwd='x'/>", "port settings"),
            ("<graphics type='vnc' keymap='de' passwd='x'/>", "keymap"),
            ("<graphics type='vnc'/>", "cannot be removed"),
        ]
        for xml, words in refused:
            with self.subTest(xml=xml):
                e = self.assertDBusError("NotSupported", self.domain, path, "UpdateDevice", "su",
                                         (xml, LIVE))
                self.assertIn(words, e.message)
        self.assertDBusError("InvalidArgument", self.domain, path, "UpdateDevice", "su",
                             ("<graphics type='spice' passwd='x'/>", LIVE))
        self.assertLogin(path, "keep1", True)
        self.assertIn("passwd='keep1'", self.graphics_elem(path, SECURE))

        # CONFIG: the persistent definition only
        self.domain(path, "UpdateDevice", "su", ("<graphics type='vnc' autoport='yes' "
                                                 "keymap='en-us' passwd='next'/>", CONFIG))
        self.assertIn("passwd='next'", self.graphics_elem(path, SECURE | INACTIVE))
        self.assertLogin(path, "keep1", True)

    def test_display_started_without_password(self):
        path = self.start("g3", "<graphics type='vnc' autoport='yes'/>")
        got, reason = self.login(path, "")
        self.assertIsNone(got, reason)    # no VNC authentication offered (type None only)
        self.assertEqual(reason, "security types [1]")
        e = self.assertDBusError("Qemu", self.domain, path, "UpdateDevice", "su",
                                 ("<graphics type='vnc' passwd='x'/>", LIVE))
        self.assertIn("set_password", e.message)
        self.assertNotIn("passwd", self.graphics_elem(path, SECURE))

    def test_expired_at_start_and_bad_values(self):
        path = self.start("g4", "<graphics type='vnc' autoport='yes' passwd='old' "
                                "passwdValidTo='2001-02-03T04:05:06'/>")
        self.assertLogin(path, "old", False)
        self.assertIn("passwdValidTo='2001-02-03T04:05:06'", self.graphics_elem(path, SECURE))
        bad = [
            ("<graphics type='vnc' passwd='a' passwdValidTo='tomorrow'/>", "InvalidXML",
             "YYYY-MM-DDTHH:MM:SS"),
            ("<graphics type='vnc' passwd='a' passwdValidTo='2020-13-01T00:00:00'/>",
             "InvalidXML", "YYYY-MM-DDTHH:MM:SS"),
            ("<graphics type='vnc' passwd='a' connected='fail'/>", "NotSupported",
             "connected='keep' only"),
            ("<graphics type='spice' passwd='a' connected='sometimes'/>", "InvalidXML",
             "connected"),
        ]
        for graphics, err, words in bad:
            with self.subTest(graphics=graphics):
                e = self.assertDBusError(err, self.manager, "DefineXML", "su",
                                         (domain_xml("bad", graphics), 0))
                self.assertIn(words, e.message)

    def test_spice_password_with_connected_action(self):
        port = free_port()
        path = self.start("g5", f"<graphics type='spice' port='{port}' autoport='no' "
                                "passwd='sp1' connected='disconnect'/>")
        self.domain(path, "UpdateDevice", "su",
                    (f"<graphics type='spice' passwd='sp2' connected='fail' "
                     f"passwdValidTo='{utc(600)}'/>", LIVE))
        g = self.graphics_elem(path, SECURE)
        self.assertIn("passwd='sp2'", g)
        self.assertIn("connected='fail'", g)


if __name__ == "__main__":
    vbtest.main()
