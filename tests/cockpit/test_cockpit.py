#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""The Cockpit page (issue 17) in a real browser against the real service: Debian's
cockpit-ws and cockpit-bridge serve the page built from cockpit/ to headless Chromium, the
bridge's system bus is the test's private bus where virtbusd runs, and real QEMU runs the
domains. Each test drives the page as a person would (clicks, typing) and checks what the
service did, and what the page shows when the service changes state by itself or goes away.

Screenshots of the main views go to BUILDDIR/tests/cockpit/screenshots/ (kept)."""

import json
import os
import shutil
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.join(os.environ.get("VB_SRCDIR", os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "../..")), "tests", "integration"))

import test_migration_hosts  # noqa: E402
import test_polkit  # noqa: E402
import vbmigrate  # noqa: E402
import vbnetns  # noqa: E402
import vbtest  # noqa: E402
from test_console import Reader, open_stream  # noqa: E402
from test_console import guest_xml as tiny_guest_xml  # noqa: E402
from test_hotplug import guest_xml as hotplug_guest_xml  # noqa: E402
from test_networks import UUID1 as NET_UUID, net_xml  # noqa: E402
from vbtest import VirtbusTestCase, eventually  # noqa: E402
from cdp import Browser, CockpitWS  # noqa: E402

PAGE_DIR = os.path.join(vbtest.BUILDDIR, "cockpit")
GUEST_DIR = os.environ.get("VB_TINY_GUEST", "")
READY = "TINYGUEST: READY"


def open_console(conn, path):
    """OpenConsole(FORCE) as another client would: the descriptor"""
    from gi.repository import Gio, GLib
    r, fds = conn.call_with_unix_fd_list_sync(
        vbtest.BUS_NAME, path, vbtest.DOMAIN_IFACE, "OpenConsole", GLib.Variant("(su)", ("", 1)),
        GLib.VariantType("(h)"), Gio.DBusCallFlags.NONE, 30000, None, None)
    return fds.get(r.unpack()[0])
SHOTS = os.path.join(vbtest.BUILDDIR, "tests", "cockpit", "screenshots")
ERR = vbtest.ERR


def row(name):
    return f'tr.vb-domain[data-name="{name}"]'


class CockpitMixin:
    """cockpit-ws for each test (as ws_user, root by default) on the test's bus, one
    headless Chromium for the class."""
    browser = None
    ws_user = None

    @classmethod
    def setUpClass(cls):
        missing = [p for p in ("/usr/lib/cockpit/cockpit-ws", "/usr/lib/chromium/chromium",
                               os.path.join(PAGE_DIR, "index.js")) if not os.path.exists(p)]
        if missing:
            raise unittest.SkipTest("not installed or not built: " + ", ".join(missing))
        cls.browser = Browser()
        os.makedirs(SHOTS, exist_ok=True)

    @classmethod
    def tearDownClass(cls):
        if cls.browser is not None:
            cls.browser.close()

    def cockpit_bus(self):
        """The bus the page's bridge talks to"""
        return self.bus.address

    def setUp(self):
        super().setUp()
        if getattr(self, "tmp", None) is None:
            self.tmp = tempfile.mkdtemp(prefix="vbtest-cockpit-")
            self.addCleanup(shutil.rmtree, self.tmp, True)
        try:
            self._cockpit_up()
        except BaseException:
            # tearDown() is not called when setUp() fails: stop what the harness started
            super().tearDown()
            raise

    def _cockpit_up(self):
        # the package directory: DATA/cockpit/virtbus -> the build's cockpit/
        self.data = os.path.join(self.tmp, "xdg")
        os.makedirs(os.path.join(self.data, "cockpit"))
        os.symlink(PAGE_DIR, os.path.join(self.data, "cockpit", "virtbus"))
        # the page spawns virtbusctl (the serial console): the build's, found first
        self.bindir = os.path.join(self.tmp, "bin")
        os.makedirs(self.bindir)
        os.symlink(vbtest.VIRTBUSCTL, os.path.join(self.bindir, "virtbusctl"))
        if self.ws_user is not None:
            os.chmod(self.tmp, 0o755)
        self.ws = CockpitWS(self.cockpit_bus(), self.data, os.path.join(self.tmp, "cockpit-ws.log"),
                            user=self.ws_user, bindir=self.bindir)
        self.page = None

    def tearDown(self):
        try:
            if self.page is not None:
                if self._outcome_failed():
                    self.shot("failed-" + self._testMethodName)
                problems = self.page.problems()
                self.page.close()
                self.assertEqual(problems, [], "the page logged problems")
        finally:
            self.ws.stop()
            super().tearDown()

    def open_page(self):
        self.page = self.browser.new_page(self.ws.url("virtbus/index.html"))
        self.assertFalse(self.page.exists("#login"), "cockpit-ws served its login page")
        self.page.wait_js("document.querySelector('#vb-page') &&"
                          " document.querySelector('#vb-page').dataset.status === 'ready'",
                          what="the page to connect to virtbusd")
        return self.page

    def shot(self, name):
        if self.page is not None:
            self.page.screenshot(os.path.join(SHOTS, name + ".png"))

    def wait_state(self, name, state, timeout=30):
        self.page.wait_js(f"(() => {{ const r = document.querySelector({json.dumps(row(name))});"
                          f" return !!r && r.dataset.state === {json.dumps(state)}; }})()",
                          timeout, what=f"{name} shown {state}")

    def domain_path(self, name):
        return self.manager("LookupByName", "s", (name,))

    def menu_action(self, name, action, scope=None):
        self.page.click(f'{scope or row(name)} [data-action="menu"]')
        self.page.click(f'.pf-v5-c-menu [data-action="{action}"]')

    def prop(self, path, name):
        return self.get_prop(path, vbtest.DOMAIN_IFACE, name)

    def save_from_the_page(self, name):
        """Starts @name, opens the page and saves it to a file through the menu's dialog;
        returns (its path, the image's path, the page)."""
        path = self.define(name)
        self.domain(path, "Start", "u", (0,), timeout=60000)
        image = os.path.join(self.tmp, name + ".save")
        p = self.open_page()
        p.wait_present(row(name))
        self.menu_action(name, "save")
        p.wait_present("#vb-save-dialog")
        self.replace_text("#vb-save-path", image)
        p.click("#vb-save-confirm")
        return path, image, p

    def replace_text(self, selector, text):
        """Selects what the field holds and types the text over it."""
        self.page.eval(f"document.querySelector({json.dumps(selector)}).select()")
        self.page.type_into(selector, text)

    def open_details(self, name):
        self.page.click(f"{row(name)} .vb-open")
        self.page.wait_js(f"(() => {{ const d = document.querySelector('#vb-details');"
                          f" return !!d && d.dataset.name === {json.dumps(name)}; }})()",
                          what=f"the details of {name}")


class CockpitTestCase(CockpitMixin, VirtbusTestCase):
    pass


class TestPolkit(CockpitMixin, test_polkit.PolkitTestCase):
    """Cockpit logged in as an unprivileged user (cockpit-ws and its bridge run as nobody),
    virtbusd asking the real polkitd: what polkit allows (reads) works, what it refuses
    shows the refusal with the action's name."""
    ws_user = "nobody"

    def test_refusal_names_the_action(self):
        path = self.define("pk1")
        p = self.open_page()
        p.wait_present(row("pk1"))
        self.assertEqual(self.prop(path, "State"), "shutoff")
        p.click(f'{row("pk1")} [data-action="start"]')
        p.wait_present(".vb-notice")
        self.assertEqual(p.attr(".vb-notice", "data-error-name"), ERR + "NotAuthorized")
        self.assertIn("org.virtbus.Virt1.manage", p.text(".vb-notice .vb-notice-action"))
        self.shot("polkit-refused")
        self.assertEqual(self.prop(path, "State"), "shutoff")
        self.wait_check(action="org.virtbus.Virt1.manage", user="nobody")
        p.click(".vb-notice .pf-v5-c-alert__action button")
        p.wait_gone(".vb-notice")
        # the create dialog: the define action
        p.click("#vb-create")
        p.type_into("textarea#vb-create-xml", vbtest.domain_xml("pk2"))
        p.click("#vb-create-define")
        p.wait_present("#vb-create-error")
        self.assertEqual(p.attr("#vb-create-error", "data-error-name"), ERR + "NotAuthorized")
        self.assertIn("org.virtbus.Virt1.define", p.text("#vb-create-error"))
        self.assertDBusError(ERR + "NoDomain", self.manager, "LookupByName", "s", ("pk2",))
        p.click("#vb-create-cancel")
        # the display (OpenGraphicsFD through virtbusctl, run as the page's user): the
        # console action refused, said in the Display tab
        xml = vbtest.domain_xml("pk3").replace("</devices>", (
            "<graphics type='vnc'><listen type='socket'/></graphics></devices>"))
        path = self.manager("DefineXML", "su", (xml, 0))
        self.domain(path, "Start", "u", (0,), timeout=60000)
        p.wait_present(row("pk3") + '[data-state="running"]')
        self.open_details("pk3")
        p.click("#vb-tabs [data-tab=display]")
        p.wait_present("#vb-display-error", timeout=30)
        self.assertIn("org.virtbus.Virt1.console", p.text("#vb-display-error"))
        self.shot("polkit-display-refused")
        self.wait_check(action="org.virtbus.Virt1.console", user="nobody")


class TestPage(CockpitTestCase):
    def test_define_from_the_page(self):
        """Paste XML into the create dialog: the domain is defined by the service and shows in
        the list; then run it from the page and watch the state change without a reload."""
        p = self.open_page()
        p.wait_present("#vb-empty")
        self.shot("empty")
        p.click("#vb-create")
        p.wait_present("#vb-create-dialog")
        p.type_into("textarea#vb-create-xml", vbtest.domain_xml("web1"))
        self.shot("create-dialog")
        p.click("#vb-create-define")
        p.wait_present("#vb-create-done")
        path = self.domain_path("web1")
        self.assertEqual(self.prop(path, "State"), "shutoff")
        p.click("#vb-create-close")
        p.wait_gone("#vb-create-dialog")
        p.wait_present(row("web1"))
        self.assertIn("128 MiB", p.text(row("web1")))
        self.wait_state("web1", "shutoff")

        p.click(f'{row("web1")} [data-action="start"]')
        self.wait_state("web1", "running")
        self.assertEqual(self.prop(path, "State"), "running")
        # CPU and memory sparklines fill from GetAllDomainStats (every 3 s): QEMU's CPU
        # use (at most the machine's 2 CPUs) and its resident memory as the service
        # reports it
        p.wait_js(f"Number(document.querySelector({json.dumps(row('web1') + ' .vb-spark-cpu')})"
                  f".dataset.samples) >= 2", timeout=30, what="two CPU samples")
        # (a halted guest's QEMU may use no tick of CPU in 3 s: 0 is a right answer)
        cpu = float(p.attr(row("web1") + " .vb-spark-cpu", "data-last"))
        self.assertGreaterEqual(cpu, 0.0)
        self.assertLess(cpu, 250.0)
        rss = float(p.attr(row("web1") + " .vb-spark-mem", "data-last"))
        service_rss = self.domain(path, "GetStats", "uu", (4, 0))["balloon.rss"]
        self.assertLess(abs(rss - service_rss), service_rss * 0.2, (rss, service_rss))
        self.shot("list-running")

        self.menu_action("web1", "suspend")
        self.wait_state("web1", "paused")
        self.assertEqual(self.prop(path, "State"), "paused")
        p.click(f'{row("web1")} [data-action="resume"]')
        self.wait_state("web1", "running")
        self.menu_action("web1", "destroy")
        self.wait_state("web1", "shutoff")
        self.assertEqual(self.prop(path, "State"), "shutoff")

    def test_upload_xml_file(self):
        """The create dialog's Upload: a domain XML file chosen as from the file dialog fills
        the editor, and Define defines it."""
        xml_file = os.path.join(self.tmp, "up1.xml")
        with open(xml_file, "w") as f:
            f.write(vbtest.domain_xml("up1"))
        p = self.open_page()
        p.click("#vb-create")
        p.wait_present("#vb-create-dialog")
        p.set_files("#vb-create-dialog input[type=file]", [xml_file])
        p.wait_js("document.querySelector('textarea#vb-create-xml').value.includes('<name>up1</name>')",
                  what="the file's XML in the editor")
        self.assertIn("up1.xml", p.eval("document.querySelector('#vb-create-dialog').textContent") +
                      p.eval("Array.from(document.querySelectorAll('#vb-create-dialog input'))"
                             ".map(i => i.value).join(' ')"))
        p.click("#vb-create-define")
        p.wait_present("#vb-create-done")
        self.assertEqual(self.prop(self.domain_path("up1"), "Name"), "up1")

    def test_changes_made_elsewhere_show_live(self):
        """State changes made by another client reach the page through PropertiesChanged
        (no polling, no reload); a domain defined or undefined elsewhere comes and goes."""
        p = self.open_page()
        path = self.define("live1")
        p.wait_present(row("live1"))
        marks = []
        for method, state in (("Start", "running"), ("Suspend", "paused"),
                              ("Resume", "running"), ("Destroy", "shutoff")):
            args = ("u", (0,)) if method in ("Start", "Destroy") else (None, ())
            t0 = time.monotonic()
            self.domain(path, method, *args)
            self.wait_state("live1", state)
            marks.append(time.monotonic() - t0)
        sys.stderr.write("call -> page shows the state (s, incl. the call): "
                         + ", ".join(f"{m:.3f}" for m in marks) + "\n")
        self.domain(path, "Undefine", "u", (0,))
        p.wait_gone(row("live1"))

    def test_errors_named_as_the_service_names_them(self):
        """A refused definition shows the service's error name and message in the dialog; a
        failed action shows them in a notice."""
        p = self.open_page()
        p.click("#vb-create")
        p.wait_present("#vb-create-dialog")
        p.type_into("textarea#vb-create-xml", "<domain type='qemu'><name>bad</name>")
        p.click("#vb-create-define")
        p.wait_present("#vb-create-error")
        self.assertEqual(p.attr("#vb-create-error", "data-error-name"), ERR + "InvalidXML")
        self.assertIn(ERR + "InvalidXML", p.text("#vb-create-error"))
        self.shot("create-error")
        p.click("#vb-create-dialog button[aria-label='Close']")
        p.wait_gone("#vb-create-dialog")

        # a domain whose start fails: its kernel does not exist
        xml = vbtest.domain_xml("broken").replace(
            "<type arch='x86_64' machine='q35'>hvm</type>",
            "<type arch='x86_64' machine='q35'>hvm</type><kernel>/nonexistent/vmlinuz</kernel>")
        self.manager("DefineXML", "su", (xml, 0))
        p.wait_present(row("broken"))
        p.click(f'{row("broken")} [data-action="start"]')
        p.wait_present(".vb-notice")
        name = p.attr(".vb-notice", "data-error-name")
        self.assertTrue(name.startswith(ERR), name)
        self.assertIn(name, p.text(".vb-notice"))
        self.assertIn("broken", p.text(".vb-notice"))
        self.wait_state("broken", "shutoff")

    def test_unsupported_settings_before_and_after_define(self):
        """Settings virtbus would not act on are listed before the define (VALIDATE refuses
        with NotSupported, nothing is stored) and, once defined anyway, from the domain."""
        xml = vbtest.domain_xml("odd").replace(
            "</devices>", "<watchdog model='diag288' action='reset'/></devices>")
        p = self.open_page()
        p.click("#vb-create")
        p.wait_present("#vb-create-dialog")
        p.type_into("textarea#vb-create-xml", xml)
        p.click("#vb-create-define")
        p.wait_present("#vb-create-warnings")
        self.assertIn("watchdog", p.text("#vb-create-warnings"))
        self.assertDBusError(ERR + "NoDomain", self.manager, "LookupByName", "s", ("odd",))
        self.shot("create-unsupported")
        p.click("#vb-create-anyway")
        p.wait_present("#vb-create-unsupported")
        path = self.domain_path("odd")
        unsupported = self.prop(path, "Unsupported")
        self.assertTrue(unsupported)
        for line in unsupported:
            self.assertIn(line, p.text("#vb-create-unsupported"))
        p.click("#vb-create-close")
        p.wait_present(f"{row('odd')} .vb-unsupported-badge")

    def test_german(self):
        """A browser asking for German gets the page's German catalogue (po.de.js through
        Cockpit's po.js): translated texts, plural forms, and English for a text the
        catalogue does not have."""
        self.define("de1")
        self.page = self.browser.new_page("about:blank")
        p = self.page
        p.send("Network.enable")
        p.send("Network.setExtraHTTPHeaders", {"headers": {"Accept-Language": "de-DE,de"}})
        p.goto(self.ws.url("virtbus/index.html"))
        p.wait_present(row("de1"))
        self.assertEqual(p.eval("cockpit.language"), "de")
        self.assertIn("Virtuelle Maschinen", p.text("#vb-page h1"))
        self.assertEqual(p.text(f"{row('de1')} .vb-state"), "Ausgeschaltet")
        self.assertEqual(p.text(f'{row("de1")} [data-action="start"]'), "Starten")
        self.assertEqual(p.eval("cockpit.format(cockpit.ngettext('$0 setting not applied',"
                                " '$0 settings not applied', 2), 2)"),
                         "2 Einstellungen nicht angewendet")
        self.assertEqual(p.eval("cockpit.gettext('Take it over')"), "Übernehmen")
        # a text the catalogue does not have: the English text
        self.assertEqual(p.eval("cockpit.gettext('Not a text of the page')"),
                         "Not a text of the page")
        self.shot("german")

    def test_dark_theme(self):
        """Cockpit's shell keeps the theme in localStorage "shell:style" and changes it while
        pages are open (a storage event in the page): the page follows, light again too."""
        self.define("dark1")
        p = self.open_page()
        p.wait_present(row("dark1"))
        light_bg = p.eval("getComputedStyle(document.querySelector('#vb-domains')).backgroundColor")
        p.eval("localStorage.setItem('shell:style', 'dark');"
               "window.dispatchEvent(new StorageEvent('storage', {key: 'shell:style'}))")
        p.wait_js("document.documentElement.classList.contains('pf-v5-theme-dark')")
        dark_bg = p.eval("getComputedStyle(document.querySelector('#vb-domains')).backgroundColor")
        self.assertNotEqual(light_bg, dark_bg)
        self.shot("dark")
        p.eval("localStorage.setItem('shell:style', 'light');"
               "window.dispatchEvent(new StorageEvent('storage', {key: 'shell:style'}))")
        p.wait_js("!document.documentElement.classList.contains('pf-v5-theme-dark')")
        # a page opened while the shell is dark starts dark
        p.eval("localStorage.setItem('shell:style', 'dark')")
        p.reload()
        p.wait_js("document.documentElement.classList.contains('pf-v5-theme-dark')")
        p.eval("localStorage.removeItem('shell:style')")

    def test_filters(self):
        for name in ("alpha", "beta", "gamma"):
            self.define(name)
        self.domain(self.domain_path("beta"), "Start", "u", (0,))
        p = self.open_page()
        p.wait_js("document.querySelectorAll('tr.vb-domain').length === 3")
        p.type_into("#vb-filter input", "am")
        p.wait_js("document.querySelectorAll('tr.vb-domain').length === 1")
        self.assertTrue(p.exists(row("gamma")))
        p.click("#vb-filter button[aria-label='Reset']")
        p.wait_js("document.querySelectorAll('tr.vb-domain').length === 3")
        p.eval("""(() => { const s = document.querySelector('#vb-state-filter');
                  const set = Object.getOwnPropertyDescriptor(HTMLSelectElement.prototype, 'value').set;
                  set.call(s, 'running'); s.dispatchEvent(new Event('change', {bubbles: true})); })()""")
        p.wait_js("document.querySelectorAll('tr.vb-domain').length === 1")
        self.assertTrue(p.exists(row("beta")))

    def test_delete(self):
        path = self.define("gone1")
        p = self.open_page()
        p.wait_present(row("gone1"))
        self.menu_action("gone1", "delete")
        p.wait_present("#vb-delete-dialog")
        p.click("#vb-delete-confirm")
        p.wait_gone(row("gone1"))
        self.assertDBusError(ERR + "NoDomain", self.get_prop, path, vbtest.DOMAIN_IFACE, "Name")


class TestDetails(CockpitTestCase):
    def test_overview_and_xml(self):
        """The details view: overview from the domain's properties, the XML from GetXMLDesc,
        an edit defined through DefineXML (the service's definition changes, the page
        follows), and the view of a domain undefined under it."""
        path = self.define("det1")
        uuid = self.prop(path, "UUID")
        p = self.open_page()
        p.wait_present(row("det1"))
        self.open_details("det1")
        self.assertEqual(p.text("#vb-ov-uuid"), uuid)
        self.assertIn("128 MiB", p.text("#vb-ov-memory"))
        self.assertIn("#/vm/" + uuid, p.eval("window.location.href") + p.eval(
            "window.parent.location.href"))
        self.shot("details-overview")
        p.click("#vb-tabs [data-tab=xml]")
        p.wait_js("document.querySelector('#vb-xml') &&"
                  " document.querySelector('#vb-xml').textContent.includes('<name>det1</name>')")
        p.click("#vb-xml-edit")
        p.wait_present("#vb-xml-editor")
        xml = p.eval("document.querySelector('#vb-xml-editor').value")
        self.assertIn(uuid, xml)
        self.replace_text("#vb-xml-editor", xml.replace(
            "<memory unit='KiB'>131072</memory>", "<memory unit='KiB'>262144</memory>"))
        self.shot("details-xml-edit")
        p.click("#vb-xml-define")
        p.wait_present("#vb-xml-saved")
        self.assertEqual(self.prop(path, "Memory"), 262144)
        p.click("#vb-tabs [data-tab=overview]")
        p.wait_text("#vb-ov-memory", "256 MiB")
        # a broken edit: the service's error, the definition unchanged
        p.click("#vb-tabs [data-tab=xml]")
        p.click("#vb-xml-edit")
        p.wait_present("#vb-xml-editor")
        self.replace_text("#vb-xml-editor", "<domain type='qemu'><name>det1</name><memory>")
        p.click("#vb-xml-define")
        p.wait_present("#vb-xml-error")
        self.assertEqual(p.attr("#vb-xml-error", "data-error-name"), ERR + "InvalidXML")
        self.assertEqual(self.prop(path, "Memory"), 262144)
        # undefined under the page
        self.domain(path, "Undefine", "u", (0,))
        p.wait_present("#vb-details-gone")

    def test_running_domain_actions_from_the_details(self):
        path = self.define("det2")
        p = self.open_page()
        p.wait_present(row("det2"))
        self.open_details("det2")
        self.assertFalse(p.eval("!!document.querySelector('#vb-ov-uptime')"))
        p.click('#vb-details [data-action="start"]')
        p.wait_js("document.querySelector('#vb-details').dataset.state === 'running'")
        self.assertEqual(self.prop(path, "State"), "running")
        self.assertIn("not connected", p.text("#vb-ov-agent"))
        self.assertIn("booted", p.text("#vb-ov-state"))
        # the uptime, from StartTime, counting by itself
        p.wait_present("#vb-ov-uptime")
        self.assertEqual(int(p.attr("#vb-ov-uptime", "data-start")), self.prop(path, "StartTime"))
        first = p.text("#vb-ov-uptime")
        self.assertRegex(first, r"^0:00:[0-5]\d$")
        p.wait_js("document.querySelector('#vb-ov-uptime').textContent !== %r" % first,
                  what="the uptime to count")
        self.domain(path, "Destroy", "u", (0,))
        p.wait_js("!document.querySelector('#vb-ov-uptime')", what="the uptime to go")


class TestConsole(CockpitTestCase):
    def test_serial_console(self):
        """The serial console tab: the tiny guest's boot messages and READY marker in the
        terminal (started paused, the console opened, then resumed from the page), a
        command typed into the terminal runs in the guest; the console taken by another
        client shows Busy with a way to take it over."""
        if not os.path.exists(os.path.join(GUEST_DIR, "vmlinux")):
            self.skipTest("the tiny guest is not built")
        path = self.manager("DefineXML", "su", (tiny_guest_xml("con1"), 0))
        self.domain(path, "Start", "u", (1,), timeout=60000)   # paused
        p = self.open_page()
        p.wait_present(row("con1"))
        self.open_details("con1")
        p.click("#vb-tabs [data-tab=console]")
        p.wait_js("document.querySelector('#vb-console').dataset.status !== 'closed' &&"
                  " !!document.querySelector('.vb-terminal .xterm')")
        p.click('#vb-details [data-action="resume"]')
        p.wait_js(f"document.querySelector('.vb-terminal .xterm-rows').textContent"
                  f".includes({json.dumps(READY)})", timeout=60, what="the READY marker")
        self.shot("console")
        p.click(".vb-terminal .xterm-screen")
        p.send("Input.insertText", {"text": "echo vb-$((6*7))-ok"})
        p.press("Enter", "Enter", 13, "\r")
        p.wait_text(".vb-terminal .xterm-rows", "vb-42-ok", timeout=30)
        # another client takes the console over: the page's session ends, and says why
        fd = open_console(self.conn, path)
        try:
            p.wait_js("document.querySelector('#vb-console').dataset.status === 'closed'",
                      timeout=20)
            p.wait_present("#vb-console-reconnect")
        finally:
            os.close(fd)
        p.click("#vb-console-reconnect")
        p.wait_js("document.querySelector('#vb-console').dataset.status === 'connected'",
                  timeout=20)


class TestSnapshots(CockpitTestCase):
    def snap_prop(self, snap, name):
        return self.get_prop(snap, "org.virtbus.Virt1.Snapshot", name)

    def test_create_tree_revert_delete(self):
        """Snapshots of a running machine with a qcow2 disk, from the page: two created one
        after the other (the second a child of the first in the tree), a revert to the
        first (current moves to it on the service), a delete (gone from the service)."""
        disk = os.path.join(self.tmp, "disk.qcow2")
        self.run_cmd(["qemu-img", "create", "-q", "-f", "qcow2", disk, "16M"])
        xml = vbtest.domain_xml("snap1").replace("</devices>", f"""
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file='{disk}'/>
      <target dev='vda' bus='virtio'/>
    </disk>
  </devices>""")
        path = self.manager("DefineXML", "su", (xml, 0))
        self.domain(path, "Start", "u", (0,), timeout=60000)
        p = self.open_page()
        p.wait_present(row("snap1"))
        self.open_details("snap1")
        p.click("#vb-tabs [data-tab=snapshots]")
        for name in ("first", "second"):
            p.click("#vb-snapshot-create")
            p.wait_present("#vb-snapshot-dialog")
            p.type_into("#vb-snapshot-name", name)
            p.click("#vb-snapshot-create-confirm")
            p.wait_gone("#vb-snapshot-dialog", timeout=120)
            p.wait_present(f'.vb-snapshot[data-name="{name}"][data-current="1"]')
        self.assertEqual(p.attr('.vb-snapshot[data-name="second"]', "data-parent"), "first")
        first = self.domain(path, "SnapshotLookupByName", "su", ("first", 0))
        second = self.domain(path, "SnapshotLookupByName", "su", ("second", 0))
        self.assertEqual(self.snap_prop(second, "Parent"), first)
        self.assertTrue(self.snap_prop(second, "Current"))
        self.shot("snapshots")
        p.click('.vb-snapshot-actions[data-snapshot="first"] [data-action="revert"]')
        p.wait_present('.vb-snapshot[data-name="first"][data-current="1"]', timeout=120)
        self.assertTrue(self.snap_prop(first, "Current"))
        self.assertFalse(self.snap_prop(second, "Current"))
        self.assertEqual(self.prop(path, "State"), "running")
        p.click('.vb-snapshot-actions[data-snapshot="second"] [data-action="delete"]')
        p.wait_gone('.vb-snapshot[data-name="second"]', timeout=60)
        self.assertDBusError(ERR + "NoSnapshot", self.domain, path, "SnapshotLookupByName", "su",
                             ("second", 0))


class TestNetworks(CockpitMixin, vbnetns.NetnsTestCase):
    """Virtual networks from the page, the service in a network namespace of its own
    (tests/integration/vbnetns.py): define, start (the bridge is made), a real DHCP
    client's lease shown, stop, delete."""

    def test_define_start_lease_stop_delete(self):
        p = self.open_page()
        p.click("#vb-sections [data-section=networks]")
        p.wait_present("#vb-net-empty")
        p.click("#vb-net-define")
        p.wait_present("#vb-net-define-dialog")
        p.type_into("#vb-net-xml", net_xml())
        p.click("#vb-net-define-confirm")
        p.wait_gone("#vb-net-define-dialog")
        net = 'tr.vb-network[data-name="net1"]'
        p.wait_present(net + '[data-active="0"]')
        path = vbnetns.net_path(NET_UUID)
        self.assertFalse(self.get_prop(path, vbnetns.NET_IFACE, "Active"))
        p.click(net + ' [data-action="net-start"]')
        p.wait_present(net + '[data-active="1"]', timeout=30)
        self.assertTrue(self.get_prop(path, vbnetns.NET_IFACE, "Active"))
        self.assertIn("vbt-br1", p.text(net))
        self.assertIn("vbt-br1", self.ns_run(["ip", "link", "show", "vbt-br1"]).stdout)
        p.click(net + " td button")   # expand: leases and XML
        p.wait_text('.vb-leases[data-network="net1"]', "none")
        # a DHCP client on a veth into the bridge, in a namespace of its own
        cli = self.ns + "-c"
        vbnetns.sh(["ip", "netns", "add", cli])
        self.extra_ns.append(cli)
        vbnetns.sh(["ip", "-n", self.ns, "link", "add", "vbt-v0", "type", "veth", "peer", "name",
                    "vbt-v1", "netns", cli])
        vbnetns.sh(["ip", "-n", self.ns, "link", "set", "vbt-v0", "master", "vbt-br1", "up"])
        vbnetns.sh(["ip", "-n", cli, "link", "set", "vbt-v1", "address", "52:54:00:aa:bb:01", "up"])
        vbnetns.sh(["ip", "netns", "exec", cli, "busybox", "udhcpc", "-i", "vbt-v1", "-f", "-q",
                    "-n", "-t", "20", "-T", "1", "-s", "/bin/true", "-x", "hostname:client1"])
        lease = 'tr.vb-lease[data-mac="52:54:00:aa:bb:01"]'
        deadline = time.monotonic() + 30
        while not p.exists(lease):
            self.assertLess(time.monotonic(), deadline, "the lease never showed")
            p.click('.vb-leases[data-network="net1"] .vb-leases-refresh')
            time.sleep(0.5)
        self.assertIn("10.77.0.", p.text(lease))
        self.assertIn("client1", p.text(lease))
        # the static DHCP hosts (Update): the definition's one listed; one added from the
        # page goes to the running dnsmasq (a client with that MAC gets that address) and
        # to the definition; removed again from both
        hosts = '.vb-dhcp-hosts[data-network="net1"]'
        p.wait_present(hosts + ' tr.vb-dhcp-host[data-ip="10.77.0.10"]')
        p.click(hosts + " .vb-host-add")
        p.wait_present("#vb-host-dialog")
        p.type_into("#vb-host-mac", "52:54:00:aa:bb:02")
        p.type_into("#vb-host-ip", "10.77.0.99")
        p.type_into("#vb-host-name", "fixed2")
        p.click("#vb-host-confirm")
        p.wait_gone("#vb-host-dialog")
        added = hosts + ' tr.vb-dhcp-host[data-ip="10.77.0.99"]'
        p.wait_present(added)
        for flags in (0, 1):   # live, inactive
            self.assertIn("<host mac='52:54:00:aa:bb:02' name='fixed2' ip='10.77.0.99'/>",
                          self.call(path, vbnetns.NET_IFACE, "GetXMLDesc", "u", (flags,))[0])
        vbnetns.sh(["ip", "-n", cli, "link", "set", "vbt-v1", "down"])
        vbnetns.sh(["ip", "-n", cli, "link", "set", "vbt-v1", "address", "52:54:00:aa:bb:02", "up"])
        vbnetns.sh(["ip", "netns", "exec", cli, "busybox", "udhcpc", "-i", "vbt-v1", "-f", "-q",
                    "-n", "-t", "20", "-T", "1", "-s", "/bin/true"])
        fixed = 'tr.vb-lease[data-mac="52:54:00:aa:bb:02"]'
        deadline = time.monotonic() + 30
        while not p.exists(fixed):
            self.assertLess(time.monotonic(), deadline, "the static host's lease never showed")
            p.click('.vb-leases[data-network="net1"] .vb-leases-refresh')
            time.sleep(0.5)
        self.assertIn("10.77.0.99/", p.text(fixed))
        self.shot("networks")
        p.click(added + " .vb-host-remove")
        p.wait_gone(added)
        for flags in (0, 1):
            self.assertNotIn("52:54:00:aa:bb:02",
                             self.call(path, vbnetns.NET_IFACE, "GetXMLDesc", "u", (flags,))[0])
        # a DNS host (Update's DNS_HOST section): the running dnsmasq answers for its names
        dns = '.vb-dns-hosts[data-network="net1"]'
        p.click(dns + " .vb-host-add")
        p.wait_present("#vb-host-dialog")
        p.type_into("#vb-host-ip", "10.77.0.98")
        p.type_into("#vb-host-names", "pagehost1 pagehost2")
        p.click("#vb-host-confirm")
        p.wait_gone("#vb-host-dialog")
        dns_row = dns + ' tr.vb-dns-host[data-ip="10.77.0.98"]'
        p.wait_present(dns_row)
        self.assertIn("pagehost1 pagehost2", p.text(dns_row))
        self.assertIn("<host ip='10.77.0.98'>",
                      self.call(path, vbnetns.NET_IFACE, "GetXMLDesc", "u", (1,))[0])
        vbnetns.sh(["ip", "-n", cli, "addr", "add", "10.77.0.97/24", "dev", "vbt-v1"])
        answer = vbnetns.sh(["ip", "netns", "exec", cli, "busybox", "nslookup",
                             "pagehost2.net1.test", "10.77.0.1"])
        self.assertIn("10.77.0.98", answer.stdout)
        p.click(dns_row + " .vb-host-remove")
        p.wait_gone(dns_row)
        self.assertNotIn("10.77.0.98",
                         self.call(path, vbnetns.NET_IFACE, "GetXMLDesc", "u", (0,))[0])
        p.click(net + ' [data-action="net-stop"]')
        p.wait_present(net + '[data-active="0"]', timeout=30)
        self.assertFalse(self.get_prop(path, vbnetns.NET_IFACE, "Active"))
        p.click(net + ' [data-action="net-delete"]')
        p.wait_gone(net)
        self.assertDBusError(ERR + "NoNetwork", self.get_prop, path, vbnetns.NET_IFACE, "Name")


class TestDisplay(CockpitTestCase):
    def test_vnc_in_the_page(self):
        """The Display tab: noVNC in the page speaks to the machine's VNC server through a
        Cockpit channel running `virtbusctl display-stream` (OpenGraphicsFD): a display on
        a unix socket only, with a password the page skips (polkit let it in); the desktop
        QEMU names after the machine, a framebuffer drawn. A display on a port gets the
        remote-viewer link too."""
        xml = vbtest.domain_xml("vnc1").replace("</devices>", """
    <graphics type='vnc' passwd='pw-not-asked'><listen type='socket'/></graphics>
    <video><model type='vga'/></video>
  </devices>""")
        path = self.manager("DefineXML", "su", (xml, 0))
        self.domain(path, "Start", "u", (0,), timeout=60000)
        self.assertIn("socket", self.prop(path, "Graphics")[0])
        p = self.open_page()
        p.wait_present(row("vnc1"))
        self.open_details("vnc1")
        p.click("#vb-tabs [data-tab=display]")
        p.wait_js("document.querySelector('#vb-display').dataset.status === 'connected'",
                  timeout=30, what="noVNC to connect")
        p.wait_js("document.querySelector('#vb-display').dataset.desktopName.includes('vnc1')",
                  what="the desktop name")
        size = p.wait_js("(() => { const c = document.querySelector('.vb-vnc canvas');"
                         " return c && c.width > 0 && c.height > 0 && [c.width, c.height]; })()")
        self.assertGreaterEqual(size[0], 320)
        # the guest's screen (SeaBIOS's text on the VGA) drawn into the canvas: lit pixels
        # (read through a copy: repeated reads of noVNC's own canvas make Chromium warn)
        p.wait_js("""(() => { const src = document.querySelector('.vb-vnc canvas');
            const c = document.createElement('canvas');
            c.width = src.width; c.height = src.height;
            const ctx = c.getContext('2d', {willReadFrequently: true});
            ctx.drawImage(src, 0, 0);
            const d = ctx.getImageData(0, 0, c.width, c.height).data;
            let lit = 0;
            for (let i = 0; i < d.length; i += 4) if (d[i] + d[i + 1] + d[i + 2] > 150) lit++;
            return lit > 50; })()""", timeout=30, what="the guest's screen in the canvas")
        self.assertFalse(p.exists("#vb-display-uri"))
        self.assertFalse(p.exists("#vb-display-error"))
        self.shot("display")
        # the machine forced off under the page: the tab says so
        self.domain(path, "Destroy", "u", (0,))
        p.wait_present("#vb-display-off")

        xml = vbtest.domain_xml("vnc2").replace("</devices>", """
    <graphics type='vnc' port='-1' autoport='yes' listen='127.0.0.1'/>
    <video><model type='vga'/></video>
  </devices>""")
        path = self.manager("DefineXML", "su", (xml, 0))
        self.domain(path, "Start", "u", (0,), timeout=60000)
        p.eval("window.location.hash = '#/'")
        p.wait_present(row("vnc2"))
        self.open_details("vnc2")
        p.click("#vb-tabs [data-tab=display]")
        p.wait_js("document.querySelector('#vb-display').dataset.status === 'connected'",
                  timeout=30, what="noVNC to connect to the display on a port")
        port = self.prop(path, "Graphics")[0]["port"]
        self.assertIn(f"vnc://127.0.0.1:{port}", p.text("#vb-display"))


class TestDevices(CockpitTestCase):
    def test_hotplug_media_memory_vcpus(self):
        """Disks and interfaces from the page on the running tiny guest: a disk added live
        is seen by the guest (its "disk added" line on the serial console, read by the test
        through OpenConsole), detached again (the guest's "disk removed"); a CD-ROM's medium
        changed and ejected; an interface added; the definition's memory and vCPUs changed
        from the overview (more vCPUs than its maximum: the page raises the maximum)."""
        if not os.path.exists(os.path.join(GUEST_DIR, "vmlinux")):
            self.skipTest("the tiny guest is not built")
        a = os.path.join(self.tmp, "a.iso")
        b = os.path.join(self.tmp, "b.iso")
        for img in (a, b):
            with open(img, "wb") as f:
                f.truncate(1 << 20)
        cdrom = ("<controller type='scsi' model='virtio-scsi'/>"
                 "<disk type='file' device='cdrom'><driver name='qemu' type='raw'/>"
                 f"<source file='{a}'/><target dev='sda' bus='scsi'/><readonly/></disk>")
        path = self.manager("DefineXML", "su", (hotplug_guest_xml("dev1", cdrom), 0))
        self.domain(path, "Start", "u", (0,), timeout=60000)
        sock = open_stream(self.conn, path, "OpenConsole", ("s", ""))
        self.addCleanup(sock.close)
        reader = Reader(sock)
        reader.wait_for(b"TINYGUEST: READY", 90)
        data = os.path.join(self.tmp, "data.raw")
        with open(data, "wb") as f:
            f.write(b"HPDISK-page\n")
            f.truncate(1 << 20)

        p = self.open_page()
        p.wait_present(row("dev1"))
        self.open_details("dev1")
        p.click("#vb-tabs [data-tab=devices]")
        p.wait_present('tr.vb-disk[data-target="sda"]')
        # a disk, live
        p.click("#vb-disk-add")
        p.wait_present("#vb-disk-add-dialog")
        p.type_into("#vb-disk-source", data)
        p.click("#vb-disk-add-confirm")
        p.wait_gone("#vb-disk-add-dialog", timeout=60)
        p.wait_present('tr.vb-disk[data-target="vda"]')
        self.assertIn(data, self.domain(path, "GetXMLDesc", "u", (0,)))
        reader.wait_for(b"TINYGUEST: disk added vda head=HPDISK-page", 60)
        self.shot("devices")
        start = len(reader.data)
        p.click('tr.vb-disk[data-target="vda"] [data-action="detach"]')
        p.wait_gone('tr.vb-disk[data-target="vda"]', timeout=60)
        eventually(lambda: b"TINYGUEST: disk removed vda" in reader.pump()[start:], timeout=60,
                   what="the guest's disk removed line")
        self.assertNotIn(data, self.domain(path, "GetXMLDesc", "u", (0,)))
        # the CD-ROM's medium: changed, then ejected
        p.click('tr.vb-disk[data-target="sda"] [data-action="media"]')
        p.wait_present("#vb-media-dialog")
        self.replace_text("#vb-media-source", b)
        p.click("#vb-media-confirm")
        p.wait_present(f'tr.vb-disk[data-target="sda"][data-source="{b}"]', timeout=60)
        self.assertIn(b, self.domain(path, "GetXMLDesc", "u", (0,)))
        p.click('tr.vb-disk[data-target="sda"] [data-action="media"]')
        p.wait_present("#vb-media-dialog")
        p.click("#vb-media-eject")
        p.wait_present('tr.vb-disk[data-target="sda"][data-source=""]', timeout=60)
        self.assertNotIn(b, self.domain(path, "GetXMLDesc", "u", (0,)))
        # an interface (user mode), live
        nics = p.eval("document.querySelectorAll('tr.vb-nic').length")
        p.click("#vb-nic-add")
        p.wait_present("#vb-nic-add-dialog")
        p.click("#vb-nic-add-confirm")
        p.wait_js(f"document.querySelectorAll('tr.vb-nic').length === {nics + 1}", timeout=60)
        self.assertEqual(self.domain(path, "GetXMLDesc", "u", (0,)).count("<interface"),
                         nics + 1)
        # memory and vCPUs (the definition)
        p.click("#vb-tabs [data-tab=overview]")
        p.click("#vb-memory-change")
        p.wait_present("#vb-resource-dialog")
        self.replace_text("#vb-resource-value", "96")
        p.click("#vb-resource-live")          # the definition only
        p.click("#vb-resource-confirm")
        p.wait_gone("#vb-resource-dialog")
        self.assertIn("<currentMemory unit='KiB'>98304</currentMemory>",
                      self.domain(path, "GetXMLDesc", "u", (2,)))
        p.click("#vb-vcpus-change")
        p.wait_present("#vb-resource-dialog")
        self.replace_text("#vb-resource-value", "2")
        p.click("#vb-resource-live")          # the definition only
        p.wait_present("#vb-resource-raise")
        p.click("#vb-resource-confirm")
        p.wait_gone("#vb-resource-dialog")
        self.assertIn(">2</vcpu>", self.domain(path, "GetXMLDesc", "u", (2,)))


class TestMigration(CockpitMixin, test_migration_hosts.HostsMigrationTestCase):
    """A live migration between two test hosts (network namespaces, each with its bus,
    virtbusd and sshd: tests/integration/vbhosts.py) from the page on host a: the Job shows
    the five phases as they happen; the guest runs on at host b."""
    tmp = None

    def cockpit_bus(self):
        return self.a.bus_address

    def prop(self, path, name):
        return self.props(self.a, path)[name]

    def test_migrate_phase_by_phase(self):
        path = self.manager(self.a, "DefineXML", "su",
                            (vbmigrate.guest_xml("vm1", test_migration_hosts.UUID, self.serial), 0))
        self.d(self.a, path, "Start", "u", (0,))
        vbmigrate.wait_booted(self.serial)
        p = self.open_page()
        p.wait_present(row("vm1"))
        self.open_details("vm1")
        self.menu_action("vm1", "migrate", scope="#vb-details .vb-details-head")
        p.wait_present("#vb-migrate-dialog")
        self.replace_text("#vb-migrate-uri", self.b.uri())
        p.click("#vb-migrate-confirm")
        p.wait_gone("#vb-migrate-dialog", timeout=30)
        job = '.vb-job[data-operation="migration-out"]'
        p.wait_present(job, timeout=30)
        p.wait_js(f"document.querySelector({json.dumps(job)}).dataset.phase === 'completed'",
                  timeout=180, what="the migration to complete")
        seen = [x for x in p.attr(job, "data-phases-seen").split(",") if x != "queued"]
        phases = ["begin", "prepare", "perform", "finish", "confirm"]
        # the service's phases as the page saw them, in order (the bus delivers every one,
        # test_migration.py checks that; the page must at least have seen the transfer)
        expected = ["begin", "prepare", "perform3", "finish", "confirm", "completed"]
        self.assertEqual([x for x in expected if x in seen], seen, seen)
        self.assertIn("perform3", seen)
        self.assertEqual(seen[-1], "completed")
        steps = p.attr(job, "data-steps-seen").split(",")
        self.assertEqual([x for x in phases if x in steps], steps, steps)
        self.assertIn("perform", steps)
        for ph in phases:
            self.assertEqual(p.attr(f'{job} .vb-migration-phase[data-phase="{ph}"]',
                                    "data-variant"), "success")
        self.shot("migration")
        self.assertEqual(self.state(self.a, path), ("shutoff", "migrated"))
        dpath = self.manager(self.b, "LookupByName", "s", ("vm1",))
        self.assertEqual(self.state(self.b, dpath), ("running", "migrated"))
        vbmigrate.assert_ticks_on(self, self.serial, timeout=60)
        p.wait_present("#vb-details[data-state='shutoff']")


class TestJobs(CockpitTestCase):
    # saves throttled to 64 KiB/s (a test-only switch of the service, tests/integration/test_jobs.py)
    service_env = {"VIRTBUS_TEST_SAVE_MAX_BANDWIDTH": "65536"}

    def test_save_progress_and_cancel(self):
        """Save to a file from the page: the Job shows, its progress bar moves, Cancel on the
        page cancels it on the service, and the guest runs on."""
        path, image, p = self.save_from_the_page("job1")
        p.wait_gone("#vb-save-dialog")
        job = p.wait_js("(() => { const j = document.querySelector('.vb-job');"
                        " return j && j.dataset.job; })()", what="the job on the page")
        self.assertEqual(self.get_prop(path, vbtest.DOMAIN_IFACE, "Job"), job)
        p.wait_js("document.querySelector('.vb-job').dataset.phase === 'saving'", timeout=30)
        first = float(p.attr(".vb-job", "data-progress"))
        p.wait_js(f"Number(document.querySelector('.vb-job').dataset.progress) > {first}",
                  timeout=30, what="the progress bar to move")
        self.shot("job-progress")
        p.click(".vb-job-cancel")
        p.wait_js("document.querySelector('.vb-job') === null ||"
                  " document.querySelector('.vb-job').dataset.phase === 'cancelled'", timeout=30)
        self.assertEqual(self.prop(path, "State"), "running")
        self.assertFalse(os.path.exists(image))
        self.wait_state("job1", "running")


class TestSaveRestore(CockpitTestCase):
    def test_save_then_restore_from_the_page(self):
        """Save to a file from the page (the machine stops, "saved"), then Restore from the
        list's toolbar: it runs again; a bad path is refused with the service's error."""
        path, image, p = self.save_from_the_page("sr1")
        self.wait_state("sr1", "shutoff", timeout=120)
        self.assertEqual(self.prop(path, "StateReason"), "saved")
        self.assertTrue(os.path.exists(image))
        p.click("#vb-restore")
        p.wait_present("#vb-restore-dialog")
        self.replace_text("#vb-restore-path", os.path.join(self.tmp, "missing.save"))
        p.click("#vb-restore-confirm")
        p.wait_present("#vb-restore-error")
        self.assertTrue(p.attr("#vb-restore-error", "data-error-name").startswith(ERR))
        self.replace_text("#vb-restore-path", image)
        p.click("#vb-restore-confirm")
        p.wait_gone("#vb-restore-dialog", timeout=60)
        self.wait_state("sr1", "running", timeout=120)
        self.assertEqual(self.prop(path, "State"), "running")


class TestServiceComesAndGoes(CockpitTestCase):
    def test_service_restart(self):
        """virtbusd stopped under the page: it says so; started again: the list comes back
        by itself."""
        self.define("stay1")
        p = self.open_page()
        p.wait_present(row("stay1"))
        self.service.stop()
        p.wait_js("document.querySelector('#vb-page').dataset.status === 'absent'",
                  what="the page to notice the service left")
        p.wait_present("#vb-absent")
        self.shot("service-absent")
        self.service.start()
        p.wait_js("document.querySelector('#vb-page').dataset.status === 'ready'", timeout=30,
                  what="the page to reconnect")
        p.wait_present(row("stay1"))

    def test_page_opened_before_the_service(self):
        self.service.stop()
        self.page = self.browser.new_page(self.ws.url("virtbus/index.html"))
        p = self.page
        p.wait_present("#vb-absent")
        self.service.start()
        self.define("late1")
        p.wait_present(row("late1"), timeout=30)


if __name__ == "__main__":
    vbtest.main()
