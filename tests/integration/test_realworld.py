# SPDX-License-Identifier: LGPL-2.1-or-later
"""Real-world domain XML (tests/data/domain-xml/realworld/) through the real virtbusd and
real QEMU (TCG): one test case per document.

define: DefineXML of the document as it is; GetXMLDesc(INACTIVE) must hold every element and
  attribute of the document (tests/xml_nothing_lost.py; for a `*-running.xml` document what
  libvirt itself drops from a live document is not counted), and defining that output again
  must give the same XML back.
start: the document adapted to this machine, defined, started (running, a QEMU process),
  destroyed. The adaptations, and only these:
  - `<domain type='kvm'>` becomes `type='qemu'` (guests run under TCG here);
  - every `<interface>` becomes `type='user'` (its source and tap target dropped, MAC and
    model kept) until virtbus has networks;
  - `<cpu mode='host-passthrough'>` is dropped (it needs KVM, and the domain is TCG's now,
    whether or not this machine has a /dev/kvm);
  - `<hyperv><vpindex state='on'>` becomes `state='off'` (QEMU sets the VP index only
    through KVM);
  - the host paths the document names (/var/lib/libvirt/..., /run/libvirt/..., /srv/...) move
    into the test's directory, where the disk images (qcow2 or raw, by the driver type),
    cdrom media and shared directories are created; the NVRAM file is not (virtbus makes it
    from the template).

start-expected.txt lists, per document and step, the error expected today ("NAME | STEP |
text"); a listed step that succeeds fails the test (move the entry out when the feature
lands), and so does one that fails with another text or an unlisted failure.
"""

import os
import re
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import vbtest  # noqa: E402
import xml_nothing_lost  # noqa: E402
from vbtest import (DOMAIN_IFACE, MANAGER_IFACE, MANAGER_PATH,  # noqa: E402
                    DBusCallError, VirtbusTestCase, eventually)

CORPUS = os.path.join(vbtest.SRCDIR, "tests", "data", "domain-xml", "realworld")
EXPECTED = os.path.join(CORPUS, "start-expected.txt")
STEPS = ("define", "start")
HOST_PREFIXES = ("/var/lib/libvirt/", "/run/libvirt/", "/srv/")
INACTIVE = 2


# processes a start may add beside QEMU (TPM, virtiofs): none may outlive a failed start
HELPERS = (b"swtpm", b"virtiofsd")


def helpers_under(path):
    """{pid: command line} of swtpm/virtiofsd processes whose command line mentions path"""
    found = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
            with open(f"/proc/{pid}/stat", "rb") as f:
                state = f.read().rpartition(b")")[2].split()[0]
        except (OSError, IndexError):
            continue
        if (os.path.basename(argv[0]) in HELPERS and any(path.encode() in a for a in argv)
                and state != b"Z"):
            found[int(pid)] = b" ".join(argv).decode(errors="replace")
    return found


def read_expected():
    """{(name, step): text}"""
    out = {}
    with open(EXPECTED) as f:
        for n, line in enumerate(f, 1):
            if not line.strip() or line.startswith("#"):
                continue
            parts = [p.strip() for p in line.split("|", 2)]
            if len(parts) != 3 or parts[1] not in STEPS or not parts[2]:
                raise SystemExit(f"{EXPECTED}:{n}: want 'NAME | define|start | error text'")
            out[(parts[0], parts[1])] = parts[2]
    return out


def corpus():
    return sorted(f[:-4] for f in os.listdir(CORPUS) if f.endswith(".xml"))


def adapt(xml, root):
    """The document for a start here (see the module's doc); -> (xml, files to create)
    with files [(path, kind, format)] and kind disk, cdrom or dir."""
    xml = re.sub(r"(<domain\b[^>]*\btype=)(['\"])kvm\2", r"\1\2qemu\2", xml, count=1)

    def user_iface(m):
        body = m.group(2)
        body = re.sub(r"\s*<source\b[^>]*/>", "", body)
        body = re.sub(r"\s*<target dev=[^>]*/>", "", body)
        return f"<interface type='user'>{body}</interface>"
    xml = re.sub(r"<interface\b([^>]*)>(.*?)</interface>", user_iface, xml, flags=re.S)
    # the domain is TCG's now: what only KVM does goes, on every machine (one with a
    # /dev/kvm too: the type decides, as in libvirt)
    xml = re.sub(r"\s*<cpu\b[^>]*mode=['\"]host-passthrough['\"][^>]*/>", "", xml)
    # QEMU sets the Hyper-V VP index only through KVM (virtbus refuses it under TCG)
    xml = re.sub(r"<vpindex\s+state=['\"]on['\"]", "<vpindex state='off'", xml)
    files = []
    for m in re.finditer(r"<disk\b[^>]*\bdevice=['\"](\w+)['\"][^>]*>(.*?)</disk>", xml,
                         re.S):
        src = re.search(r"<source\b[^>]*\bfile=['\"]([^'\"]+)['\"]", m.group(2))
        fmt = re.search(r"<driver\b[^>]*\btype=['\"](\w+)['\"]", m.group(2))
        if src:
            files.append((src.group(1), m.group(1), fmt.group(1) if fmt else "raw"))
    for m in re.finditer(r"<source\b[^>]*\bdir=['\"]([^'\"]+)['\"]", xml):
        files.append((m.group(1), "dir", None))
    # the channel sockets libvirt made up stay as written: the define drops them, as
    # libvirt does, and the start makes its own in the domain's runtime directory
    keep = re.findall(r"/(?:run/libvirt/qemu/channel|var/lib/libvirt/qemu/channel/target)/"
                      r"[^'\"]*", xml)
    for i, p in enumerate(keep):
        xml = xml.replace(p, f"@KEEP{i}@")
    for prefix in HOST_PREFIXES:
        xml = xml.replace(prefix, os.path.join(root, prefix.lstrip("/")))
    for i, p in enumerate(keep):
        xml = xml.replace(f"@KEEP{i}@", p)
    for m in re.finditer(r"<nvram\b[^>]*>([^<]+)</nvram>", xml):
        os.makedirs(os.path.dirname(m.group(1)), exist_ok=True)

    def moved(p):
        for prefix in HOST_PREFIXES:
            if p.startswith(prefix):
                return os.path.join(root, p.lstrip("/"))
        return p
    return xml, [(moved(p), kind, fmt) for p, kind, fmt in files]


def create(path, kind, fmt):
    if kind == "dir":
        os.makedirs(path, exist_ok=True)
        with open(os.path.join(path, "marker"), "w") as f:
            f.write("shared\n")
        return
    os.makedirs(os.path.dirname(path), exist_ok=True)
    size = 4 << 20 if kind in ("cdrom", "floppy") else 64 << 20
    if fmt in (None, "raw"):
        with open(path, "wb") as f:
            f.truncate(size)
    else:
        subprocess.run(["qemu-img", "create", "-q", "-f", fmt, path, str(size)], check=True,
                       timeout=60)


class RealWorldTest(VirtbusTestCase):
    expected = None

    def define_step(self, name, xml):
        """None when the document defines and comes back whole and stable, else the error"""
        try:
            path = self.manager("DefineXML", "su", (xml, 0))
        except DBusCallError as e:
            return f"{e.name.split('.')[-1]}: {e.message}"
        try:
            out = self.domain(path, "GetXMLDesc", "u", (INACTIVE,))
            # a define parses a persistent definition: what libvirt drops then is not lost
            problems = xml_nothing_lost.lost(xml, out, live=True)
            if problems:
                return "lost: " + "; ".join(problems)
            try:
                path2 = self.manager("DefineXML", "su", (out, 0))
            except DBusCallError as e:
                return f"defining GetXMLDesc's output: {e.name.split('.')[-1]}: {e.message}"
            self.assertEqual(path2, path)
            out2 = self.domain(path, "GetXMLDesc", "u", (INACTIVE,))
            if out2 != out:
                return "unstable: defining GetXMLDesc's output changed it"
            return None
        finally:
            self.domain(path, "Undefine", "u", (0,))

    def start_step(self, name, xml):
        """None when the adapted document starts, runs and is destroyed, else the error"""
        root = os.path.join(self.tmp, "host")
        xml, files = adapt(xml, root)
        for p, kind, fmt in files:
            create(p, kind, fmt)
        try:
            path = self.manager("DefineXML", "su", (xml, 0))
        except DBusCallError as e:
            return f"define: {e.name.split('.')[-1]}: {e.message}"
        try:
            try:
                self.domain(path, "Start", "u", (0,), timeout=120000)
            except DBusCallError as e:
                state = self.get_prop(path, DOMAIN_IFACE, "State")
                self.assertNotEqual(state, "running", "Start failed but the domain runs")
                self.assertEqual(vbtest.qemus_under(self.tmp), {},
                                 "a failed Start left a QEMU behind")
                eventually(lambda: helpers_under(self.tmp) == {}, timeout=10,
                           what=f"no swtpm/virtiofsd left after the failed start of {name}")
                return f"{e.name.split('.')[-1]}: {e.message}"
            eventually(lambda: self.get_prop(path, DOMAIN_IFACE, "State") == "running",
                       timeout=60, what=f"{name} to run")
            self.assertTrue(vbtest.qemus_under(self.tmp), f"{name} runs without a QEMU")
            self.domain(path, "Destroy", "u", (0,), timeout=60000)
            eventually(lambda: self.get_prop(path, DOMAIN_IFACE, "State") == "shutoff",
                       timeout=30, what=f"{name} to stop")
            eventually(lambda: helpers_under(self.tmp) == {}, timeout=10,
                       what=f"no swtpm/virtiofsd left after {name} stopped")
            return None
        finally:
            # NVRAM (4): the variables file the start made from its template goes too
            self.domain(path, "Undefine", "u", (4,))

    def check(self, name):
        with open(os.path.join(CORPUS, name + ".xml")) as f:
            xml = f.read()
        results = {"define": self.define_step(name, xml), "start": self.start_step(name, xml)}
        self.assertTrue(self.get_prop(MANAGER_PATH, MANAGER_IFACE, "Version"))
        wrong = []
        for step in STEPS:
            err, want = results[step], self.expected.get((name, step))
            if want is None and err is not None:
                wrong.append(f"{step} failed: {err}")
            elif want is not None and err is None:
                wrong.append(f"{step} succeeds but start-expected.txt lists '{want}': "
                             f"remove the entry")
            elif want is not None and want not in err:
                wrong.append(f"{step} failed with '{err}', not with the listed '{want}'")
        if wrong:
            self.fail(f"{name}:\n  " + "\n  ".join(wrong))


RealWorldTest.expected = read_expected()
for _name in corpus():
    def _test(self, name=_name):
        self.check(name)
    _test.__doc__ = f"{_name}: define round trip and start as start-expected.txt says"
    setattr(RealWorldTest, "test_" + re.sub(r"\W", "_", _name), _test)


class ManifestTest(unittest.TestCase):
    def test_manifest_names_documents(self):
        """every entry of start-expected.txt names a document of the corpus"""
        names = set(corpus())
        self.assertEqual([k for k in read_expected() if k[0] not in names], [])


if __name__ == "__main__":
    vbtest.main()
