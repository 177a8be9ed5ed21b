# SPDX-License-Identifier: LGPL-2.1-or-later
"""The unit's device list is enough (issue 14, part unit; docs/confinement-unit.md).

data/virtbusd.service.in has DevicePolicy=closed and a DeviceAllow= list. tests/systemd can
only check the list as systemd loaded it where the container's systemd applies no device
policy (a host with cgroup v1: the devices controller is not delegated to nspawn). Here the
same list is enforced by the kernel: virtbusd runs in a group of the cgroup v1 `devices`
controller that allows what systemd allows for the unit (the pseudo-devices of `closed`,
ProtectClock='s rtc, each DeviceAllow= path or class resolved the way systemd resolves it), and
a guest with a tap on a bridge (/dev/net/tun, opened by the service) and a pty serial (QEMU
opens /dev/ptmx and its /dev/pts slave) starts, is saved to a file and restored, all inside it.
A host block device (a loop device) is hot-plugged as a disk (block-*). A device off the
list is refused in the same group: the group is in force.
"""

import fnmatch
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(__file__))
from gi.repository import GLib  # noqa: E402
from test_confinement import ConfinementTestCase  # noqa: E402
from test_console import open_stream  # noqa: E402
import vbtest  # noqa: E402
from vbtest import eventually  # noqa: E402

DEVCG = "/sys/fs/cgroup/devices"
UNIT = os.path.join(vbtest.SRCDIR, "data", "virtbusd.service.in")
JOB_IFACE = "org.virtbus.Virt1.Job"
# what DevicePolicy=closed always allows (systemd's list), and ProtectClock='s addition
CLOSED = [("/dev/null", "rwm"), ("/dev/zero", "rwm"), ("/dev/full", "rwm"),
          ("/dev/random", "rwm"), ("/dev/urandom", "rwm"), ("/dev/tty", "rwm"),
          ("/dev/ptmx", "rwm"), ("char-rtc", "r")]


def unit_device_allow():
    with open(UNIT) as f:
        lines = [line.strip() for line in f]
    policy = [line.split("=", 1)[1] for line in lines if line.startswith("DevicePolicy=")]
    allow = [tuple(line.split("=", 1)[1].split()) for line in lines
             if line.startswith("DeviceAllow=")]
    return policy, allow


def proc_devices():
    """{'c': {name: major}, 'b': {name: major}} of /proc/devices."""
    out = {"c": {}, "b": {}}
    kind = None
    with open("/proc/devices") as f:
        for line in f:
            if line.startswith("Character"):
                kind = "c"
            elif line.startswith("Block"):
                kind = "b"
            elif line.strip() and kind:
                major, name = line.split(None, 1)
                out[kind][name.strip()] = int(major)
    return out


def v1_rules(entries):
    """devices.allow lines for @entries ((node or class, access)), as systemd resolves them:
    a path that does not exist is left out, a class matches /proc/devices by glob."""
    rules = []
    majors = proc_devices()
    for node, acc in entries:
        if node.startswith("/dev/"):
            try:
                st = os.stat(node)
            except FileNotFoundError:
                continue
            kind = "c" if (st.st_mode & 0o170000) == 0o020000 else "b"
            rules.append(f"{kind} {os.major(st.st_rdev)}:{os.minor(st.st_rdev)} {acc}")
        else:
            kind, pattern = node.split("-", 1)
            kind = kind[0]
            for name, major in majors[kind].items():
                if fnmatch.fnmatchcase(name, pattern):
                    rules.append(f"{kind} {major}:* {acc}")
    return rules


def devices_group(pid):
    with open(f"/proc/{pid}/cgroup") as f:
        for line in f:
            _, ctrl, path = line.rstrip("\n").split(":", 2)
            if "devices" in ctrl.split(","):
                return path
    return None


class UnitDevicesTest(ConfinementTestCase):
    start_service = False

    def setUp(self):
        if os.geteuid() != 0:
            self.fail("needs root (a cgroup of the devices controller, a bridge)")
        if not os.access(os.path.join(DEVCG, "devices.allow"), os.W_OK):
            self.skipTest(f"no cgroup v1 devices controller at {DEVCG} (a cgroup v2 host: the "
                          "unit's list is not enforced by this test there)")
        self.group = f"/vbtest-unitdev-{os.getpid()}"
        self.cg = DEVCG + self.group
        os.mkdir(self.cg)
        self.addCleanup(self.remove_group)
        policy, allow = unit_device_allow()
        self.assertEqual(policy, ["closed"])
        self.assertIn(("char-pts", "rw"), allow)
        with open(os.path.join(self.cg, "devices.deny"), "w") as f:
            f.write("a")
        for rule in v1_rules(CLOSED + allow):
            with open(os.path.join(self.cg, "devices.allow"), "w") as f:
                f.write(rule)
        self.bridge = f"vbtud{os.getpid() % 100000}"
        subprocess.run(["ip", "link", "add", self.bridge, "type", "bridge"], check=True)
        self.addCleanup(subprocess.run, ["ip", "link", "del", self.bridge], check=False)
        subprocess.run(["ip", "link", "set", self.bridge, "up"], check=True)
        super().setUp()
        # virtbusd (and all it starts) in the group: the shell moves itself, then execs it
        self.service.prefix = ["/bin/sh", "-c",
                               f'echo $$ > {self.cg}/cgroup.procs && exec "$@"', "sh"]
        self.service.start()

    def remove_group(self):
        def gone():
            try:
                os.rmdir(self.cg)
                return True
            except FileNotFoundError:
                return True
            except OSError:
                return False
        eventually(gone, timeout=30, what=f"{self.cg} to be empty")

    def in_group(self, script):
        return subprocess.run(["/bin/sh", "-c", f"echo $$ > {self.cg}/cgroup.procs && " + script],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def wait_job(self, job):
        return self.call(job, JOB_IFACE, "Wait", timeout=180000)

    def test_guest_under_the_unit_device_list(self):
        # the group is in force: a device off the list is refused, one on it is not
        p = self.in_group("exec 3</dev/kmsg")
        self.assertNotEqual(p.returncode, 0, "/dev/kmsg opened under the device list")
        self.assertIn("not permitted", p.stdout)
        p = self.in_group("exec 3<>/dev/net/tun && echo opened")
        self.assertIn("opened", p.stdout)
        self.assertEqual(devices_group(self.service.proc.pid), self.group)
        nic = (f"<interface type='bridge'><source bridge='{self.bridge}'/>"
               "<model type='virtio'/></interface>")
        pty = "<serial type='pty'><target port='1'/></serial>"
        path, pid = self.start_guest("udev1", nic + pty)
        self.assertEqual(devices_group(pid), self.group)
        # the tap the service made through /dev/net/tun is on the bridge
        self.assertNotEqual(os.listdir(f"/sys/class/net/{self.bridge}/brif"), [])
        live = self.domain(path, "GetXMLDesc", "u", (0,))
        self.assertRegex(live, r"<source path='/dev/pts/\d+'")
        # the service opens the pty for a console client (char-pts)
        open_stream(self.conn, path, "OpenConsole", ("s", "serial1")).close()
        # saved to a file and restored from it, still in the group
        image = os.path.join(self.tmp, "udev1.save")
        self.wait_job(self.domain(path, "Save", "ssu", (image, "", 0)))
        with open(image, "rb") as f:
            self.assertEqual(f.read(12), b"VirtbusSave1")
        self.wait_job(self.manager("Restore", "ssu", (image, "", 0)))
        eventually(lambda: self.state(path)[0] == "running", timeout=60, what="the restore")
        pid = self.pid_of("udev1")
        self.assertEqual(devices_group(pid), self.group)
        self.assertRegex(self.domain(path, "GetXMLDesc", "u", (0,)),
                         r"<source path='/dev/pts/\d+'")
        self.domain(path, "Destroy", "u", (0,))

    def test_without_pts_no_console(self):
        """The check can fail: the same group without char-pts refuses the service the pty
        of a console."""
        pty = "<serial type='pty'><target port='1'/></serial>"
        path, pid = self.start_guest("udev2", pty)
        open_stream(self.conn, path, "OpenConsole", ("s", "serial1")).close()
        pts = proc_devices()["c"]["pts"]
        with open(os.path.join(self.cg, "devices.deny"), "w") as f:
            f.write(f"c {pts}:* rw")
        with self.assertRaises(GLib.Error) as cm:
            open_stream(self.conn, path, "OpenConsole", ("s", "serial1")).close()
        self.assertIn("not permitted", cm.exception.message)
        self.domain(path, "Destroy", "u", (0,))


    def loop_device(self):
        img = os.path.join(self.tmp, "loop.img")
        with open(img, "wb") as f:
            f.truncate(8 << 20)
        dev = subprocess.run(["losetup", "-f", "--show", img], check=True,
                             stdout=subprocess.PIPE, text=True).stdout.strip()
        self.addCleanup(subprocess.run, ["losetup", "-d", dev], check=False)
        return dev

    def test_hotplugged_block_device(self):
        """A host block device hot-plugged as a disk (block-*); the same group without the
        loop major refuses it, and the guest runs on."""
        dev = self.loop_device()
        ports = ("<controller type='pci' index='0' model='pcie-root'/>" +
                 "<controller type='pci' model='pcie-root-port'/>" * 2)
        path, pid = self.start_guest("udev3", ports)
        self.assertEqual(devices_group(pid), self.group)

        def disk(target):
            return (f"<disk type='block' device='disk'><driver name='qemu' type='raw'/>"
                    f"<source dev='{dev}'/><target dev='{target}' bus='virtio'/></disk>")
        self.domain(path, "AttachDevice", "su", (disk("vdb"), 0))
        eventually(lambda: f"source dev='{dev}'" in self.domain(path, "GetXMLDesc", "u", (0,)),
                   timeout=60, what="the attached disk in the live XML")
        self.domain(path, "DetachDevice", "su", (disk("vdb"), 0))
        eventually(lambda: "vdb" not in self.domain(path, "GetXMLDesc", "u", (0,)),
                   timeout=120, what="the detached disk gone from the live XML")
        loop = os.major(os.stat(dev).st_rdev)
        with open(os.path.join(self.cg, "devices.deny"), "w") as f:
            f.write(f"b {loop}:* rwm")
        with self.assertRaises(vbtest.DBusCallError) as cm:
            self.domain(path, "AttachDevice", "su", (disk("vdc"), 0))
        print(f"# refused: {cm.exception.name}: {cm.exception.message}")
        self.assertEqual(cm.exception.name, vbtest.ERR + "InvalidArgument")
        self.assertIn(f"cannot access source '{dev}' of disk 'vdc': Operation not permitted",
                      cm.exception.message)
        self.assertIn("DeviceAllow=", cm.exception.message)
        self.assertNotIn(f"source dev='{dev}'", self.domain(path, "GetXMLDesc", "u", (0,)))
        self.assertEqual(self.state(path)[0], "running")
        self.domain(path, "Destroy", "u", (0,))


if __name__ == "__main__":
    vbtest.main()
