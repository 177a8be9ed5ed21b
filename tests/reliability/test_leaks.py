#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Memory leaks of the service under the calls of a long-lived bus (issue 14, "Load").

The real virtbusd (the ASan build of the test command) with LeakSanitizer on and GLib's
slice allocator off (G_SLICE=always-malloc: otherwise a lost GVariant sits in a slice
magazine and looks reachable), exercised by many short-lived clients (each connection a
new caller: credentials, read checks, caller cache) and by one long-lived one: property
reads, GetAll, GetManagedObjects, GetXMLDesc, ListDomains, lookups, refused calls, a
guest started, suspended, resumed, destroyed, a domain defined and undefined, signal
subscriptions. SIGTERM then; the service's exit runs LeakSanitizer, and any report in its
log fails the test (vbtest's log check). A regression test for the reference leaked by
every Properties.Get/GetAll a first-time caller made (g_dbus_interface_skeleton_
get_properties() is transfer full, not floating: 10 KB per new client on a plain build).
Skipped without AddressSanitizer (VB_REQUIRE_ALL makes that a failure).
"""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import vbtest  # noqa: E402
from vbtest import (BUS_NAME, DOMAIN_IFACE, MANAGER_IFACE, MANAGER_PATH, DBusCallError,  # noqa: E402
                    Gio, GLib, VirtbusTestCase)

PROPS = "org.freedesktop.DBus.Properties"
OM = "org.freedesktop.DBus.ObjectManager"


class LeakTest(VirtbusTestCase):
    service_env = {"G_SLICE": "always-malloc",
                   "ASAN_OPTIONS": "detect_leaks=1:abort_on_error=0:exitcode=23"}

    def asan(self):
        with open(f"/proc/{self.service.proc.pid}/maps") as f:
            return any("libasan" in line or "libclang_rt.asan" in line for line in f)

    def one_client(self, fn):
        conn = vbtest.connect(self.bus.address)
        try:
            return fn(conn)
        finally:
            conn.close_sync(None)

    def reads(self, conn, path):
        for iface, method, sig, args in (
                (PROPS, "Get", "ss", (DOMAIN_IFACE, "State")),
                (PROPS, "Get", "ss", (DOMAIN_IFACE, "Name")),
                (PROPS, "GetAll", "s", (DOMAIN_IFACE,)),
                (DOMAIN_IFACE, "GetXMLDesc", "u", (0,)),
                (OM, "GetManagedObjects", None, ()),
                (MANAGER_IFACE, "ListDomains", "u", (0,)),
                (MANAGER_IFACE, "LookupByName", "s", ("leak0",))):
            target = MANAGER_PATH if iface in (OM, MANAGER_IFACE) else path
            self.call(target, iface, method, sig, args, conn=conn)
        # refused and failing calls too: their errors are built and freed
        for args in (("nope",), ("",)):
            with self.assertRaises(DBusCallError):
                self.call(MANAGER_PATH, MANAGER_IFACE, "LookupByName", "s", args, conn=conn)
        with self.assertRaises(DBusCallError):
            self.call(path, PROPS, "Get", "ss", (DOMAIN_IFACE, "NoSuchProperty"), conn=conn)

    def test_no_leak_under_many_callers(self):
        if not self.asan():
            self.skipTest("virtbusd is not built with AddressSanitizer (LeakSanitizer)")
        paths = [self.define(f"leak{i}", f"0c7a1f3e-1d2b-4e5f-8a9b-{i:012x}")
                 for i in range(4)]
        seen = []
        sid = self.conn.signal_subscribe(BUS_NAME, None, None, None, None,
                                         Gio.DBusSignalFlags.NONE,
                                         lambda *a: seen.append(a[3]))
        # 60 short-lived callers: each one is new to the caller cache
        for i in range(60):
            self.one_client(lambda c, p=paths[i % len(paths)]: self.reads(c, p))
        # a guest's life, with its events and signals
        self.domain(paths[0], "Start", "u", (0,), timeout=60000)
        for _ in range(3):
            self.domain(paths[0], "Suspend")
            self.domain(paths[0], "Resume")
        self.one_client(lambda c: self.reads(c, paths[0]))
        self.domain(paths[0], "Destroy", "u", (0,))
        # a definition that comes and goes, read while it existed
        extra = self.define("leak-extra", "0c7a1f3e-1d2b-4e5f-8a9b-0000000000ff")
        self.one_client(lambda c: self.reads(c, extra))
        self.reads(self.conn, extra)
        self.domain(extra, "Undefine", "u", (0,))
        # root's read checks are shared, not per caller, yet a caller that read an object
        # before it went gets the named error, not GDBus's UnknownMethod
        self.assertDBusError("NoDomain", self.call, extra, PROPS, "Get", "ss",
                             (DOMAIN_IFACE, "State"))
        ctx = GLib.MainContext.default()
        while ctx.iteration(False):
            pass
        self.conn.signal_unsubscribe(sid)
        self.assertTrue(seen, "no signal was seen")
        # SIGTERM: LeakSanitizer runs at the service's exit
        rc = self.service.stop(check=False)
        log = self.service.read_log()
        leak = log.find("LeakSanitizer")
        self.assertEqual(leak, -1, "virtbusd leaked:\n" + log[max(leak - 200, 0):][:12000])
        self.assertEqual(rc, 0, log[-4000:])


if __name__ == "__main__":
    vbtest.main()
