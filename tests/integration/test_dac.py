# SPDX-License-Identifier: LGPL-2.1-or-later
"""QEMU as an unprivileged user (issue 14, part dac; docs/confinement-dac.md).

virtbusd runs as root with qemu_user=virtbus-qemu (made by data/virtbus-sysusers.conf;
scripts/install-deps.sh runs systemd-sysusers on it). Checked with the real QEMU:
- QEMU's uids and gids (/proc/PID/status) are virtbus-qemu's, its groups include kvm;
- a disk image owned by root 0600 (and a serial log file the service makes) belong to
  virtbus-qemu during the run and are root's 0600 again after Destroy;
- the same when virtbusd is SIGKILLed while the domain runs, QEMU is killed, and virtbusd
  started again: the owner record gives the image back;
- two domains sharing a read-only image: it goes back when the last one stops;
- an image in a 0700 directory of another user: the start fails with Error.IO naming the
  directory (nothing is left changed);
- an unknown qemu_user: virtbusd refuses to start, naming it.
The test root is under /tmp (0755 directories); a real install needs every directory
above an image searchable by virtbus-qemu, too.
"""

import grp
import os
import pwd
import re
import signal
import stat
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(__file__))
from test_lifecycle import LifecycleTestCase, pid_alive  # noqa: E402
import vbtest  # noqa: E402
from vbtest import VIRTBUSD, connect, eventually, status_pids  # noqa: E402

QEMU_USER = "virtbus-qemu"
U1 = "5dac0000-7a55-4b1e-9a53-7c9bd1a0d001"
U2 = "5dac0000-7a55-4b1e-9a53-7c9bd1a0d002"


def owner(path):
    st = os.stat(path)
    return st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)


class DacTest(LifecycleTestCase):
    def setUp(self):
        if os.geteuid() != 0:
            self.skipTest("virtbusd must run as root to run QEMU as another user")
        try:
            pw = pwd.getpwnam(QEMU_USER)
        except KeyError:
            self.fail(f"user {QEMU_USER} is missing: run systemd-sysusers "
                      f"{vbtest.SRCDIR}/data/virtbus-sysusers.conf (scripts/install-deps.sh)")
        self.quid, self.qgid = pw.pw_uid, pw.pw_gid
        self.cfgdir = tempfile.mkdtemp(prefix="vbtest-cfg-")
        cfg = os.path.join(self.cfgdir, "virtbusd.conf")
        with open(cfg, "w") as f:
            f.write(f"[virtbusd]\nqemu_user={QEMU_USER}\n")
        self.service_args = ("--config", cfg)
        super().setUp()
        # QEMU's user must pass through every directory above its files (self.tmp is
        # 0755 already; the images' directory is made so here)
        self.img = os.path.join(self.tmp, "images")
        os.makedirs(self.img)
        os.chmod(self.img, 0o755)

    def tearDown(self):
        super().tearDown()
        subprocess.run(["rm", "-rf", self.cfgdir], check=False)

    def image(self, name, mode=0o600, where=None):
        path = os.path.join(where or self.img, name)
        with open(path, "wb") as f:
            f.truncate(1 << 20)
        os.chown(path, 0, 0)
        os.chmod(path, mode)
        return path

    def xml(self, name, uuid, disk, readonly=False, serial=None, extra=""):
        ro = "<readonly/>" if readonly else ""
        ser = (f"<serial type='file'><source path='{serial}'/><target port='0'/></serial>"
               if serial else "")
        return f"""<domain type='qemu'>
  <name>{name}</name>
  <uuid>{uuid}</uuid>
  <memory unit='MiB'>128</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='q35'>hvm</type></os>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <disk type='file' device='disk'>
      <driver name='qemu' type='raw'/>
      <source file='{disk}'/>
      <target dev='vda' bus='virtio'/>{ro}
    </disk>
    {ser}
    {extra}
  </devices>
</domain>
"""

    def qemu_pid(self, name):
        """QEMU's pid, from the domain's status file."""
        with open(os.path.join(self.run_dir(), f"{name}.xml")) as f:
            m = vbtest.STATUS_PID_RE.search(f.read())
        self.assertIsNotNone(m, f"no pid in the status of {name}")
        return int(m.group(1))

    def proc_ids(self, pid):
        ids = {}
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key in ("Uid", "Gid", "Groups"):
                    ids[key] = [int(v) for v in value.split()]
        return ids

    def test_qemu_runs_as_qemu_user_and_files_go_back(self):
        disk = self.image("disk.img")
        serial = os.path.join(self.img, "serial.log")
        path = self.define("dac1", U1, xml=self.xml("dac1", U1, disk, serial=serial))
        self.domain(path, "Start", "u", (0,), timeout=60000)
        pid = self.qemu_pid("dac1")
        ids = self.proc_ids(pid)
        self.assertEqual(ids["Uid"], [self.quid] * 4)
        self.assertEqual(ids["Gid"], [self.qgid] * 4)
        kvm = grp.getgrnam("kvm").gr_gid
        self.assertIn(kvm, ids["Groups"])
        self.assertNotIn(0, ids["Groups"])
        # its files are its own for the run
        self.assertEqual(owner(disk), (self.quid, self.qgid, 0o600))
        self.assertEqual(owner(serial), (self.quid, self.qgid, 0o600))
        # its runtime directory is its own, 0700; the run directory lets only its group
        # pass (and lists nothing); the owner record is root's
        rdirs = [e for e in os.listdir(self.run_dir()) if e.startswith("domain-")]
        self.assertEqual(len(rdirs), 1)
        rdir = os.path.join(self.run_dir(), rdirs[0])
        self.assertEqual(owner(rdir), (self.quid, self.qgid, 0o700))
        self.assertTrue(os.path.exists(os.path.join(rdir, "monitor.sock")))
        self.assertEqual(owner(self.run_dir()), (0, self.qgid, 0o710))
        record = os.path.join(self.run_dir(), "qemu-owners.keyfile")
        self.assertEqual(owner(record), (0, 0, 0o600))
        with open(record) as f:
            text = f.read()
        self.assertIn(disk, text)
        self.assertIn(U1, text)
        # other service directories stay root's 0700
        for d in ("etc/virtbus/qemu", "var/log/virtbus/qemu", "var/lib/virtbus/save"):
            self.assertEqual(owner(os.path.join(self.root, d)), (0, 0, 0o700), d)

        self.domain(path, "Destroy", "u", (0,))
        self.assertEqual(self.state(path), ("shutoff", "destroyed"))
        self.assertEqual(owner(disk), (0, 0, 0o600))
        self.assertEqual(owner(serial), (0, 0, 0o600))
        self.assertFalse(os.path.exists(record))
        self.assertFalse(os.path.exists(rdir))
        # and again: a second run takes them again
        self.domain(path, "Start", "u", (0,), timeout=60000)
        self.assertEqual(owner(disk), (self.quid, self.qgid, 0o600))
        self.domain(path, "Destroy", "u", (0,))
        self.assertEqual(owner(disk), (0, 0, 0o600))

    def test_owners_restored_after_service_and_qemu_die(self):
        disk = self.image("crash.img")
        path = self.define("dac2", U1, xml=self.xml("dac2", U1, disk))
        self.domain(path, "Start", "u", (0,), timeout=60000)
        pid = self.qemu_pid("dac2")
        self.assertEqual(owner(disk), (self.quid, self.qgid, 0o600))
        self.conn.close_sync(None)
        self.service.kill()
        os.kill(pid, signal.SIGKILL)
        eventually(lambda: not pid_alive(pid), what="QEMU to die")
        self.assertEqual(owner(disk), (self.quid, self.qgid, 0o600))  # nobody gave it back
        self.service.start()
        self.conn = connect(self.bus.address)
        self.assertEqual(self.state(path), ("shutoff", "crashed"))
        self.assertEqual(owner(disk), (0, 0, 0o600))
        self.assertIn("gave back the files of 1 run", self.service.read_log())
        self.assertFalse(os.path.exists(os.path.join(self.run_dir(), "qemu-owners.keyfile")))

    def test_running_domain_keeps_its_files_across_a_restart(self):
        disk = self.image("keep.img")
        path = self.define("dac3", U1, xml=self.xml("dac3", U1, disk))
        self.domain(path, "Start", "u", (0,), timeout=60000)
        pid = self.qemu_pid("dac3")
        self.conn.close_sync(None)
        self.service.kill()
        self.service.start()
        self.conn = connect(self.bus.address)
        self.assertEqual(self.state(path)[0], "running")
        self.assertEqual(self.qemu_pid("dac3"), pid)
        self.assertEqual(owner(disk), (self.quid, self.qgid, 0o600))
        self.domain(path, "Destroy", "u", (0,))
        self.assertEqual(owner(disk), (0, 0, 0o600))

    def test_shared_readonly_image(self):
        base = self.image("shared.img")
        p1 = self.define("ro1", U1, xml=self.xml("ro1", U1, base, readonly=True))
        p2 = self.define("ro2", U2, xml=self.xml("ro2", U2, base, readonly=True))
        self.domain(p1, "Start", "u", (0,), timeout=60000)
        self.domain(p2, "Start", "u", (0,), timeout=60000)
        self.assertEqual(owner(base), (self.quid, self.qgid, 0o600))
        self.domain(p1, "Destroy", "u", (0,))
        # ro2's QEMU still reads it
        self.assertEqual(owner(base), (self.quid, self.qgid, 0o600))
        self.assertEqual(self.state(p2)[0], "running")
        self.domain(p2, "Destroy", "u", (0,))
        self.assertEqual(owner(base), (0, 0, 0o600))

    def test_unreachable_image_is_a_clear_error(self):
        private = os.path.join(self.tmp, "private")
        os.makedirs(private)
        os.chmod(private, 0o700)  # root's: virtbus-qemu cannot pass
        disk = self.image("hidden.img", where=private)
        path = self.define("dac4", U1, xml=self.xml("dac4", U1, disk))
        e = self.assertDBusError("IO", self.domain, path, "Start", "u", (0,), timeout=60000)
        self.assertIn(private, e.message)
        self.assertIn(QEMU_USER, e.message)
        self.assertEqual(self.state(path), ("shutoff", "failed"))
        self.assertEqual(owner(disk), (0, 0, 0o600))
        self.assertEqual(self.runtime_leftovers("dac4"), [])

    def test_hotplugged_disk_and_new_medium_are_given(self):
        disk = self.image("boot.img")
        iso1 = self.image("one.iso", mode=0o644)
        iso2 = self.image("two.iso")
        extra_disk = self.image("extra.img")
        cdrom = ("<disk type='file' device='cdrom'><driver name='qemu' type='raw'/>"
                 "<source file='{}'/><target dev='sda' bus='sata'/><readonly/></disk>")
        ports = ("<controller type='pci' index='0' model='pcie-root'/>"
                 "<controller type='pci' model='pcie-root-port'/>"
                 "<controller type='pci' model='pcie-root-port'/>")
        path = self.define("hp", U1, xml=self.xml("hp", U1, disk,
                                                   extra=cdrom.format(iso1) + ports))
        self.domain(path, "Start", "u", (0,), timeout=60000)
        self.assertEqual(owner(iso1), (0, 0, 0o644))  # QEMU may read it: left alone
        # a new medium QEMU's user cannot read is given before QEMU opens it
        self.domain(path, "UpdateDevice", "su", (cdrom.format(iso2), 1))
        self.assertEqual(owner(iso2), (self.quid, self.qgid, 0o600))
        self.assertIn(iso2, self.domain(path, "GetXMLDesc", "u", (0,)))
        # and a hot-plugged disk
        self.domain(path, "AttachDevice", "su",
                    ("<disk type='file' device='disk'><driver name='qemu' type='raw'/>"
                     f"<source file='{extra_disk}'/><target dev='vdb' bus='virtio'/></disk>",
                     1))
        self.assertEqual(owner(extra_disk), (self.quid, self.qgid, 0o600))
        self.assertIn(extra_disk, self.domain(path, "GetXMLDesc", "u", (0,)))
        self.domain(path, "Destroy", "u", (0,))
        for f in (disk, iso2, extra_disk):
            self.assertEqual(owner(f), (0, 0, 0o600), f)
        self.assertEqual(owner(iso1), (0, 0, 0o644))

    def test_snapshot_overlay_and_copy_destination_are_given(self):
        """Images made or named while the domain runs (an external snapshot's overlay,
        a block copy's destination) are QEMU's user's for the run, and root's again
        after it."""
        disk = os.path.join(self.img, "base.qcow2")
        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", disk, "16M"], check=True)
        os.chmod(disk, 0o600)
        xml = self.xml("sn", U1, disk).replace("type='raw'", "type='qcow2'")
        path = self.define("sn", U1, xml=xml)
        self.domain(path, "Start", "u", (0,), timeout=60000)
        overlay = os.path.join(self.img, "base.s1")
        self.snapshot_create(path, "<domainsnapshot><name>s1</name><disks><disk name='vda' "
                             f"snapshot='external'><source file='{overlay}'/></disk>"
                             "</disks></domainsnapshot>", 16)  # DISK_ONLY
        self.assertEqual(owner(overlay)[:2], (self.quid, self.qgid))
        dest = self.image("copy.qcow2")
        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", dest, "16M"], check=True)
        os.chown(dest, 0, 0)
        os.chmod(dest, 0o600)
        job = self.domain(path, "BlockCopy", "ssa{sv}u",
                          ("vda", f"<disk type='file'><driver type='qcow2'/><source "
                           f"file='{dest}'/></disk>", {}, 2))  # REUSE_EXT
        eventually(lambda: self.get_prop(job, "org.virtbus.Virt1.Job", "Phase") == "ready",
                   timeout=60, what="the copy ready")
        self.assertEqual(owner(dest)[:2], (self.quid, self.qgid))
        self.domain(path, "BlockJobAbort", "su", ("vda", 2))  # PIVOT
        self.call(job, "org.virtbus.Virt1.Job", "Wait", timeout=60000)
        self.domain(path, "Destroy", "u", (0,))
        for f in (disk, overlay, dest):
            self.assertEqual(owner(f)[:2], (0, 0), f)

    def test_efi_nvram_is_given_and_its_directory_passable(self):
        xml = f"""<domain type='qemu'>
  <name>efi</name>
  <uuid>{U2}</uuid>
  <memory unit='MiB'>128</memory>
  <vcpu>1</vcpu>
  <os firmware='efi'><type arch='x86_64' machine='q35'>hvm</type></os>
  <devices><emulator>/usr/bin/qemu-system-x86_64</emulator></devices>
</domain>"""
        path = self.define("efi", U2, xml=xml)
        self.domain(path, "Start", "u", (0,), timeout=90000)
        nvram = os.path.join(self.root, "var/lib/virtbus/nvram/efi_VARS.fd")
        self.assertEqual(owner(nvram), (self.quid, self.qgid, 0o600))
        # QEMU's group passes through the service's data directory; nobody else does
        for d in ("var/lib/virtbus", "var/lib/virtbus/nvram"):
            self.assertEqual(owner(os.path.join(self.root, d)), (0, self.qgid, 0o710), d)
        self.assertEqual(owner(os.path.join(self.root, "var/lib/virtbus/caps")),
                         (0, 0, 0o700))
        self.domain(path, "Destroy", "u", (0,))
        self.assertEqual(owner(nvram), (0, 0, 0o600))

    def test_swtpm_socket_is_given(self):
        disk = self.image("tpm.img")
        tpm = ("<tpm model='tpm-crb'><backend type='emulator' version='2.0'/></tpm>")
        path = self.define("tpm", U1, xml=self.xml("tpm", U1, disk, extra=tpm))
        # swtpm runs as virtbus-qemu too (issue 14, part helperlaunch); QEMU connects to
        # its socket
        self.domain(path, "Start", "u", (0,), timeout=90000)
        self.assertEqual(self.proc_ids(self.qemu_pid("tpm"))["Uid"], [self.quid] * 4)
        with open(os.path.join(self.run_dir(), "tpm.xml")) as f:
            m = re.search(r"<helper kind='swtpm' id='tpm0' pid='(\d+)'", f.read())
        self.assertIsNotNone(m)
        self.assertEqual(self.proc_ids(int(m.group(1)))["Uid"], [self.quid] * 4)
        self.assertEqual(self.proc_ids(int(m.group(1)))["Gid"], [self.qgid] * 4)
        self.assertIn("tpm", self.domain(path, "GetXMLDesc", "u", (0,)))
        rdir = [os.path.join(self.run_dir(), e) for e in os.listdir(self.run_dir())
                if e.startswith("domain-")][0]
        socks = {e: os.stat(os.path.join(rdir, e)).st_uid for e in os.listdir(rdir)
                 if stat.S_ISSOCK(os.stat(os.path.join(rdir, e)).st_mode)}
        self.assertGreaterEqual(len(socks), 2, socks)  # QMP and swtpm's
        self.assertEqual(set(socks.values()), {self.quid}, socks)
        self.domain(path, "Destroy", "u", (0,))
        self.assertEqual(owner(disk), (0, 0, 0o600))

    def test_unknown_qemu_user_refuses_to_start(self):
        cfg = os.path.join(self.cfgdir, "bad.conf")
        with open(cfg, "w") as f:
            f.write("[virtbusd]\nqemu_user=no-such-user-vbdac\n")
        root = os.path.join(self.tmp, "root2")
        os.makedirs(root)
        p = subprocess.run([VIRTBUSD, "--bus-address", self.bus.address, "--root", root,
                            "--config", cfg], capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("qemu_user 'no-such-user-vbdac': no such user", p.stderr)
        self.assertEqual(status_pids(root), set())


if __name__ == "__main__":
    vbtest.main()
