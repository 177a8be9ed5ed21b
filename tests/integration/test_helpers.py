# SPDX-License-Identifier: LGPL-2.1-or-later
"""Devices backed by helper processes and firmware (issue 10, part helpers):
swtpm for an emulated TPM and virtiofsd for a virtiofs share live exactly as
long as the domain's QEMU (shutdown by the guest, Destroy, QEMU killed, a
failed start, a service killed during a start) and survive a restart of the
service with their domain; a pflash loader gets its NVRAM file from the
template on the first start and keeps it afterwards."""

import os
import re
import signal
import sys
import time
sys.path.insert(0, os.path.dirname(__file__))
import vbtest  # noqa: E402
from test_lifecycle import pid_alive  # noqa: E402
from vbtest import DOMAIN_IFACE, DBusCallError, connect, eventually  # noqa: E402

U1 = "3c0b8a4e-7d2f-4b61-9a0e-5f1d2c3b4a01"
U2 = "3c0b8a4e-7d2f-4b61-9a0e-5f1d2c3b4a02"
OVMF_CODE = "/usr/share/OVMF/OVMF_CODE_4M.fd"
OVMF_VARS = "/usr/share/OVMF/OVMF_VARS_4M.fd"

HELPERS_XML = """<domain type='qemu'>
  <name>{name}</name>
  <uuid>{uuid}</uuid>
  <memory unit='MiB'>128</memory>
  <memoryBacking>
    <source type='memfd'/>
    <access mode='shared'/>
  </memoryBacking>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='q35'>hvm</type>
  </os>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    {extra}
    <filesystem type='mount' accessmode='passthrough'>
      <driver type='virtiofs' queue='1024'/>
      <binary xattr='off'>
        <cache mode='none'/>
      </binary>
      <source dir='{share}'/>
      <target dir='share'/>
    </filesystem>
    <tpm model='tpm-crb'>
      <backend type='emulator' version='2.0'/>
    </tpm>
  </devices>
</domain>
"""

OVMF_XML = """<domain type='qemu'>
  <name>{name}</name>
  <uuid>{uuid}</uuid>
  <memory unit='MiB'>128</memory>
  <vcpu>1</vcpu>
  <os {firmware}>
    <type arch='x86_64' machine='q35'>hvm</type>
    {loader}
  </os>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
  </devices>
</domain>
"""


def helpers_under(path):
    """{pid: basename} of the swtpm and virtiofsd processes whose command line
    names @path."""
    found = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        base = os.path.basename(argv[0].decode(errors="replace"))
        if base in ("swtpm", "virtiofsd") and any(path.encode() in a for a in argv) \
                and pid_alive(int(pid)):
            found[int(pid)] = base
    return found


def pids_running(path):
    """Pids whose command line names @path."""
    found = []
    for pid in os.listdir("/proc"):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if pid.isdigit() and path.encode() in f.read():
                    found.append(int(pid))
        except OSError:
            pass
    return found


class HelpersTestCase(vbtest.VirtbusTestCase):
    def setUp(self):
        super().setUp()
        self.share = os.path.join(self.tmp, "share")
        os.makedirs(self.share)
        with open(os.path.join(self.share, "marker"), "w") as f:
            f.write("hello from the host\n")

    def tearDown(self):
        try:
            super().tearDown()
        finally:
            # nothing of a test may outlive it (reported above by the assertions)
            for pid in helpers_under(self.tmp):
                os.kill(pid, signal.SIGKILL)

    def helpers(self):
        return helpers_under(self.tmp)

    def define_helpers(self, name="vm1", uuid=U1, extra=""):
        return self.define(name, xml=HELPERS_XML.format(name=name, uuid=uuid, share=self.share,
                                                        extra=extra))

    def state(self, path):
        return (self.get_prop(path, DOMAIN_IFACE, "State"),
                self.get_prop(path, DOMAIN_IFACE, "StateReason"))

    def start(self, path):
        self.domain(path, "Start", "u", (0,), timeout=90000)
        # QEMU 7.2's C virtiofsd forks its sandboxed worker: two processes
        kinds = sorted(set(self.helpers().values()))
        self.assertEqual(kinds, ["swtpm", "virtiofsd"])
        return set(self.helpers())

    def assert_helpers_gone(self, pids):
        eventually(lambda: not self.helpers(), timeout=15, what="helpers to end")
        for pid in pids:
            self.assertFalse(pid_alive(pid))


class HelperLifetimeTest(HelpersTestCase):
    def test_destroy_stops_helpers_and_tpm_state_persists(self):
        path = self.define_helpers()
        pids = self.start(path)
        found = [os.path.join(d, f) for d, _, fs in os.walk(self.root) for f in fs
                 if f == "tpm2-00.permall"]
        self.assertEqual(len(found), 1, f"one TPM state file, in the domain's dir: {found}")
        self.assertIn(os.path.join("swtpm", U1, "tpm2"), found[0])
        with open(found[0], "rb") as f:
            before = f.read()
        self.assertTrue(before)
        # the status records the helpers for a restarted service
        status = [os.path.join(d, "vm1.xml") for d, _, fs in os.walk(self.root)
                  if "vm1.xml" in fs and "run" in d]
        self.assertEqual(len(status), 1)
        with open(status[0]) as f:
            text = f.read()
        for kind in ("swtpm", "virtiofsd"):
            pid = re.search(f"<helper kind='{kind}' id='[a-z0-9]+' pid='([0-9]+)'", text)
            self.assertIsNotNone(pid, text[:2000])
            self.assertIn(int(pid.group(1)), pids)
        self.domain(path, "Destroy", "u", (0,))
        self.assert_helpers_gone(pids)
        self.assertEqual(self.state(path), ("shutoff", "destroyed"))
        # the second start uses the same state (no new manufacturing)
        self.start(path)
        self.assertTrue(os.path.exists(found[0]))
        self.domain(path, "Destroy", "u", (0,))
        self.assert_helpers_gone(set())

    def test_qemu_killed_stops_helpers(self):
        path = self.define_helpers()
        pids = self.start(path)
        qemu = self.get_prop(path, DOMAIN_IFACE, "Id")
        self.assertGreater(qemu, 0)
        qemus = vbtest.qemus_under(self.tmp)
        self.assertEqual(len(qemus), 1)
        os.kill(list(qemus)[0], signal.SIGKILL)
        eventually(lambda: self.state(path)[0] == "shutoff", timeout=15, what="shutoff")
        self.assertEqual(self.state(path), ("shutoff", "crashed"))
        self.assert_helpers_gone(pids)

    def test_failed_start_leaves_no_helper(self):
        # QEMU refuses the disk only once it runs: the helpers were started. The source
        # exists (the checks before start would refuse a missing one) but is a directory,
        # which QEMU's 'file' driver does not open
        notfile = os.path.join(self.tmp, "not-a-file")
        os.makedirs(notfile, exist_ok=True)
        path = self.define_helpers(extra=f"""<disk type='file' device='disk'>
      <driver name='qemu' type='raw'/>
      <source file='{notfile}'/>
      <target dev='vda' bus='virtio'/>
    </disk>""")
        with self.assertRaises(DBusCallError):
            self.domain(path, "Start", "u", (0,), timeout=90000)
        self.assertEqual(self.state(path), ("shutoff", "failed"))
        self.assertEqual(self.helpers(), {})
        self.assertIn("started swtpm for tpm0", self.service.read_log())

    def test_missing_share_refused_before_anything_runs(self):
        path = self.define("vm1", xml=HELPERS_XML.format(name="vm1", uuid=U1, extra="",
                                                  share=os.path.join(self.tmp, "nope")))
        e = self.assertDBusError("NotSupported", self.domain, path, "Start", "u", (0,))
        self.assertIn("source directory", e.message)
        self.assertEqual(self.helpers(), {})
        self.assertEqual(vbtest.qemus_under(self.tmp), {})

    def test_virtiofs_needs_shared_memory(self):
        xml = HELPERS_XML.format(name="vm1", uuid=U1, extra="", share=self.share)
        xml = xml.replace("<access mode='shared'/>", "")
        path = self.define("vm1", xml=xml)
        e = self.assertDBusError("NotSupported", self.domain, path, "Start", "u", (0,))
        self.assertIn("shared memory", e.message)
        self.assertEqual(self.helpers(), {})

    def test_service_restart_keeps_helpers(self):
        path = self.define_helpers()
        pids = self.start(path)
        self.service.kill()
        self.service.stop(check=False)
        self.assertEqual(set(self.helpers()), pids, "helpers outlive the service")
        self.service.start()
        self.conn.close_sync(None)
        self.conn = connect(self.bus.address)
        self.assertEqual(self.state(path)[0], "running")
        self.assertEqual(set(self.helpers()), pids, "the restarted service keeps them")
        self.assertIn("took back its swtpm for tpm0", self.service.read_log())
        self.domain(path, "Destroy", "u", (0,))
        self.assert_helpers_gone(pids)

    def test_restart_after_qemu_died_kills_helpers(self):
        path = self.define_helpers()
        pids = self.start(path)
        self.service.kill()
        self.service.stop(check=False)
        for q in vbtest.qemus_under(self.tmp):
            os.kill(q, signal.SIGKILL)
        time.sleep(0.5)
        self.service.start()
        self.conn.close_sync(None)
        self.conn = connect(self.bus.address)
        self.assertEqual(self.state(path), ("shutoff", "crashed"))
        self.assert_helpers_gone(pids)

    def test_undefine_tpm_flags(self):
        path = self.define_helpers()
        self.start(path)
        self.domain(path, "Destroy", "u", (0,))
        tpm_dir = [d for d, _, fs in os.walk(self.root) if "tpm2-00.permall" in fs][0]
        uuid_dir = os.path.dirname(tpm_dir)
        self.assertDBusError("InvalidArgument", self.domain, path, "Undefine", "u", (32 | 64,))
        self.domain(path, "Undefine", "u", (64,))  # KEEP_TPM
        self.assertTrue(os.path.exists(tpm_dir))
        path = self.define_helpers()
        self.domain(path, "Undefine", "u", (0,))   # the default removes it
        self.assertFalse(os.path.exists(uuid_dir))


GUEST_DIR = os.environ.get("VB_TINY_GUEST", "")


class GuestTest(HelpersTestCase):
    """The tiny guest mounts the virtiofs share (tests/guest). No TPM here: with a TPM,
    QEMU 7.2's PVH direct kernel boot puts the initrd over SeaBIOS's ACPI tables (the TPM
    log makes them larger), so the guest would lose ACPI (no power button, no TPM)."""

    def guest_xml(self, fs="virtiofs"):
        with open(os.path.join(GUEST_DIR, "cmdline")) as f:
            cmdline = f.read().strip()
        self.serial = os.path.join(self.tmp, "serial.log")
        return f"""<domain type='qemu'>
  <name>guest</name>
  <uuid>{U1}</uuid>
  <memory unit='MiB'>192</memory>
  <memoryBacking>
    <source type='memfd'/>
    <access mode='shared'/>
  </memoryBacking>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='q35'>hvm</type>
    <kernel>{GUEST_DIR}/vmlinux</kernel>
    <initrd>{GUEST_DIR}/initrd.img</initrd>
    <cmdline>{cmdline} tgmount={fs}:share</cmdline>
  </os>
  <devices>
    <filesystem type='mount' accessmode='passthrough'>
      <driver type='{"virtiofs' queue='1024" if fs == "virtiofs" else "path"}'/>
      <source dir='{self.share}'/>
      <target dir='share'/>
    </filesystem>
    <serial type='file'>
      <source path='{self.serial}'/>
      <target port='0'/>
    </serial>
  </devices>
</domain>
"""

    def serial_text(self):
        try:
            with open(self.serial, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def test_guest_mounts_share_then_acpi_shutdown(self):
        if not os.path.exists(os.path.join(GUEST_DIR, "vmlinux")):
            self.fail(f"the tiny guest is not built in {GUEST_DIR}")
        path = self.define("guest", xml=self.guest_xml())
        self.domain(path, "Start", "u", (0,), timeout=90000)
        pids = set(self.helpers())
        self.assertEqual(set(self.helpers().values()), {"virtiofsd"})
        eventually(lambda: "TINYGUEST: READY" in self.serial_text(), timeout=90,
                   what="the guest")
        text = self.serial_text()
        self.assertIn("TINYGUEST: virtiofs mounted tag=share file=hello from the host", text)
        self.domain(path, "Shutdown", "u", (0,))
        eventually(lambda: self.state(path) == ("shutoff", "shutdown"), timeout=60,
                   what="the guest to power off")
        self.assertIn("TINYGUEST: poweroff", self.serial_text())
        self.assert_helpers_gone(pids)

    def test_guest_mounts_9p_share(self):
        if not os.path.exists(os.path.join(GUEST_DIR, "vmlinux")):
            self.fail(f"the tiny guest is not built in {GUEST_DIR}")
        path = self.define("guest", xml=self.guest_xml("9p"))
        self.domain(path, "Start", "u", (0,), timeout=90000)
        self.assertEqual(self.helpers(), {}, "9p runs in QEMU itself")
        eventually(lambda: "TINYGUEST: READY" in self.serial_text(), timeout=90,
                   what="the guest")
        self.assertIn("TINYGUEST: 9p mounted tag=share file=hello from the host",
                      self.serial_text())
        self.domain(path, "Shutdown", "u", (0,))
        eventually(lambda: self.state(path) == ("shutoff", "shutdown"), timeout=60,
                   what="the guest to power off")


SLOW_VIRTIOFSD = """#!/bin/bash
touch "{marker}"
sleep 4
exec -a /usr/lib/qemu/virtiofsd /usr/lib/qemu/virtiofsd "$@"
"""


class KillDuringStartTest(HelpersTestCase):
    def test_service_killed_while_helper_starts_leaves_nothing(self):
        wrapper = os.path.join(self.tmp, "slow-virtiofsd")
        marker = os.path.join(self.tmp, "helper-spawned")
        with open(wrapper, "w") as f:
            f.write(SLOW_VIRTIOFSD.format(marker=marker))
        os.chmod(wrapper, 0o755)
        xml = HELPERS_XML.format(name="vm1", uuid=U1, extra="", share=self.share)
        path = self.define("vm1", xml=xml.replace("<binary xattr='off'>",
                                                  f"<binary path='{wrapper}' xattr='off'>"))
        result = {}

        def run():
            conn = connect(self.bus.address)
            try:
                self.call(path, DOMAIN_IFACE, "Start", "u", (0,), conn=conn, timeout=90000)
            except DBusCallError as e:
                result["error"] = e
            finally:
                conn.close_sync(None)

        import threading
        t = threading.Thread(target=run)
        t.start()
        eventually(lambda: os.path.exists(marker), timeout=30, what="virtiofsd to be spawned")
        spawned = set(helpers_under(self.tmp)) | set(pids_running(wrapper))
        self.assertTrue(spawned)
        self.service.kill()
        self.service.stop(check=False)
        t.join(60)
        self.service.start()
        self.conn.close_sync(None)
        self.conn = connect(self.bus.address)
        self.assertEqual(self.state(path), ("shutoff", "failed"))
        time.sleep(5)  # the wrapper would have run virtiofsd by now
        self.assertEqual(self.helpers(), {})
        for pid in spawned:
            self.assertFalse(pid_alive(pid))
        self.assertEqual(vbtest.qemus_under(self.tmp), {})
        self.assertIn("killed the helper", self.service.read_log())


class FirmwareTest(vbtest.VirtbusTestCase):
    def nvram_files(self):
        return [os.path.join(d, f) for d, _, fs in os.walk(self.root) for f in fs
                if f.endswith("_VARS.fd")]

    def test_nvram_from_template_kept_on_second_start(self):
        loader = (f"<loader readonly='yes' type='pflash'>{OVMF_CODE}</loader>\n"
                  f"    <nvram template='{OVMF_VARS}'/>")
        path = self.define("ovmf", xml=OVMF_XML.format(name="ovmf", uuid=U2, firmware="",
                                                       loader=loader))
        xml = self.domain(path, "GetXMLDesc", "u", (2,))
        self.assertRegex(xml, r"<nvram template='[^']*'>[^<]*/nvram/ovmf_VARS\.fd</nvram>",
                         "the NVRAM path is defaulted and written to the config")
        self.assertEqual(self.nvram_files(), [])
        self.domain(path, "Start", "u", (0,), timeout=90000)
        self.assertEqual(self.get_prop(path, DOMAIN_IFACE, "State"), "running")
        files = self.nvram_files()
        self.assertEqual(len(files), 1)
        with open(files[0], "rb") as f, open(OVMF_VARS, "rb") as t:
            self.assertEqual(f.read(), t.read())
        self.assertEqual(os.stat(files[0]).st_mode & 0o777, 0o600)
        self.domain(path, "Destroy", "u", (0,))
        # a second start reuses the file as it is
        with open(files[0], "r+b") as f:
            f.seek(-16, os.SEEK_END)
            f.write(b"virtbus-marker!!")
        self.domain(path, "Start", "u", (0,), timeout=90000)
        self.domain(path, "Destroy", "u", (0,))
        with open(files[0], "rb") as f:
            self.assertTrue(f.read().endswith(b"virtbus-marker!!"))
        # RESET_NVRAM (32) makes it again from the template
        self.domain(path, "Start", "u", (32,), timeout=90000)
        self.domain(path, "Destroy", "u", (0,))
        with open(files[0], "rb") as f, open(OVMF_VARS, "rb") as t:
            self.assertEqual(f.read(), t.read())
        # undefine must say what to do with it
        e = self.assertDBusError("OperationInvalid", self.domain, path, "Undefine", "u", (0,))
        self.assertIn("NVRAM", e.message)
        self.domain(path, "Undefine", "u", (4,))
        self.assertEqual(self.nvram_files(), [])

    def test_firmware_efi_secure_boot(self):
        fw = ("<firmware>\n      <feature enabled='yes' name='secure-boot'/>\n"
              "      <feature enabled='yes' name='enrolled-keys'/>\n    </firmware>")
        path = self.define("efi", xml=OVMF_XML.format(name="efi", uuid=U2,
                                                      firmware="firmware='efi'", loader=fw))
        self.domain(path, "Start", "u", (0,), timeout=90000)
        live = self.domain(path, "GetXMLDesc", "u", (0,))
        # Debian's 40-edk2-x86_64-secure-enrolled.json: Secure Boot code, MS keys enrolled
        self.assertIn("OVMF_CODE_4M.ms.fd</loader>", live)
        self.assertIn("secure='yes'", live)
        self.assertIn("<smm state='on'/>", live)
        self.assertIn("template='/usr/share/OVMF/OVMF_VARS_4M.ms.fd'", live)
        inactive = self.domain(path, "GetXMLDesc", "u", (2,))
        self.assertIn("firmware='efi'", inactive)
        self.assertNotIn("<loader", inactive)
        files = self.nvram_files()
        self.assertEqual(len(files), 1)
        self.assertEqual(os.path.getsize(files[0]), os.path.getsize(OVMF_VARS))
        self.domain(path, "Destroy", "u", (0,))
        self.assertIn("firmware='efi'", self.domain(path, "GetXMLDesc", "u", (0,)))
        self.domain(path, "Undefine", "u", (4,))


if __name__ == "__main__":
    vbtest.main()
