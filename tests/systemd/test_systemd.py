# SPDX-License-Identifier: LGPL-2.1-or-later
"""virtbus under a real systemd: the installed, hardened unit in a container.

One container for the whole file (tests/systemd/harness.py): README's
install (the build directory tests/install uses) laid over its /usr, the
tiny guest bound at /srv/vbtest/guest. The tests run in order, each on
what the previous one left:

  01 D-Bus activation starts virtbusd.service, which owns the name
  02 the service runs confined as the unit says (capabilities, seccomp,
     no_new_privs, its own mount namespace, /proc/sys read-only but
     /proc/sys/net, systemd-analyze security's figure)
  03 a domain defines and starts, gets a lease on the default network; its
     QEMU runs as virtbus-qemu without capabilities, seccomp mode 2, and
     /home is writable in its mount namespace (ProtectHome must not reach it)
  04 the guest survives `systemctl restart virtbusd` (same QEMU pid,
     reconnected, still running and ticking)
  05 a guest with passt (user and network namespaces) gets its lease
  05b a guest's console on a pty (DeviceAllow=char-pts), saved to a file and restored
  06 `machinectl list` shows the guest (cgroup_mode's default, auto, finds machined)
  06b cgroup_mode=systemd: a scope made through StartTransientUnit with <memtune> as its
      MemoryMax; the machined-placed guest keeps running across the restarts
  07 `systemctl poweroff` of the container shuts the guest down cleanly
     first (on_host_shutdown's default for the system service: shutdown)

Run: `meson test -C build-test --suite systemd` (needs root and
systemd-container; about a minute).
"""

import os
import re
import shutil
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
sys.path.insert(0, os.path.join(HERE, "..", "install"))
sys.path.insert(0, HERE)
import check_install  # noqa: E402
import harness  # noqa: E402
import vbtest  # noqa: E402

BUILDDIR = vbtest.BUILDDIR
GUEST_DIR = os.environ.get("VB_TINY_GUEST", os.path.join(BUILDDIR, "tests", "guest"))
WORK = os.path.join(BUILDDIR, "systemd-check")
DESTDIR = os.path.join(WORK, "destdir")
SRV = harness.SRV
UUID = "5c1e7d0a-6b1f-4c7e-8e2a-0d4f1b2c3a14"
NAME = "sysd1"
UUID2 = "5c1e7d0a-6b1f-4c7e-8e2a-0d4f1b2c3a15"
UUID3 = "5c1e7d0a-6b1f-4c7e-8e2a-0d4f1b2c3a16"
UUID4 = "5c1e7d0a-6b1f-4c7e-8e2a-0d4f1b2c3a17"
BUS = ["org.virtbus.Virt1"]
MANAGER = ["/org/virtbus/Virt1", "org.virtbus.Virt1.Manager"]
DOMAIN_IFACE = "org.virtbus.Virt1.Domain"
UNIT = "virtbusd.service"

CAPS = {"CAP_CHOWN": 0, "CAP_DAC_OVERRIDE": 1, "CAP_DAC_READ_SEARCH": 2, "CAP_FOWNER": 3,
        "CAP_FSETID": 4, "CAP_KILL": 5, "CAP_SETGID": 6, "CAP_SETUID": 7, "CAP_SETPCAP": 8,
        "CAP_NET_BIND_SERVICE": 10, "CAP_NET_ADMIN": 12, "CAP_NET_RAW": 13,
        "CAP_IPC_LOCK": 14, "CAP_SYS_CHROOT": 18, "CAP_SYS_PTRACE": 19, "CAP_SYS_ADMIN": 21, "CAP_SYS_NICE": 23,
        "CAP_SYS_RESOURCE": 24, "CAP_MKNOD": 27, "CAP_SETFCAP": 31}

POWEROFF_DELAY = 12  # seconds the main guest takes to power off (tgpoweroffdelay)
C = None             # the container
SETTINGS = {}        # the optional settings the installed default config knows


def guest_xml(serial, name=NAME, uuid=UUID, nic=None, args=""):
    with open(os.path.join(GUEST_DIR, "cmdline")) as f:
        cmdline = f.read().strip() + (" " + args if args else "")
    return f"""<domain type='qemu'>
  <name>{name}</name>
  <uuid>{uuid}</uuid>
  <memory unit='MiB'>128</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='q35'>hvm</type>
    <kernel>{SRV}/guest/vmlinux</kernel>
    <initrd>{SRV}/guest/initrd.img</initrd>
    <cmdline>{cmdline} tgtick</cmdline>
  </os>
  <devices>
    <serial type='file'>
      <source path='{serial}' append='on'/>
      <target port='0'/>
    </serial>
    {nic or DEFAULT_NIC}
  </devices>
</domain>
"""


DEFAULT_NIC = """<interface type='network'>
      <source network='default'/>
      <model type='virtio'/>
    </interface>"""
PASST_NIC = """<interface type='user'>
      <backend type='passt'/>
      <model type='virtio'/>
    </interface>"""


def status_field(text, key):
    m = re.search(rf"^{key}:\s*(.*)$", text, re.M)
    return m.group(1).strip() if m else None


def setUpModule():
    global C
    why = harness.available()
    if why:
        raise unittest.SkipTest(why)
    if not os.path.exists(os.path.join(GUEST_DIR, "vmlinux")):
        raise AssertionError(f"the tiny guest is not built in {GUEST_DIR}")
    shutil.rmtree(WORK, ignore_errors=True)
    os.makedirs(os.path.join(WORK, "work"))
    os.chmod(os.path.join(WORK, "work"), 0o755)
    check_install.readme_build(DESTDIR)
    with open(os.path.join(DESTDIR, "etc", "virtbus", "virtbusd.conf")) as f:
        default_conf = f.read()
    for key in ("cgroup_mode", "on_host_shutdown"):
        SETTINGS[key] = re.search(rf"^#?\s*{key}\s*=", default_conf, re.M) is not None
    C = harness.Container(os.path.join(WORK, "container"),
                          binds={os.path.join(WORK, "work"): f"{SRV}/work"},
                          ro_binds={GUEST_DIR: f"{SRV}/guest",
                                    os.path.join(DESTDIR, "etc"): f"{SRV}/etc"},
                          overlays=[f"/usr:{DESTDIR}/usr:/usr"])
    try:
        C.start()
        # README's steps past `ninja install` (the files are in /usr already)
        conf = default_conf
        extra = []
        # cgroup_mode and on_host_shutdown keep their defaults for the system service (auto,
        # which finds machined here, and shutdown): the test checks those defaults
        if extra:
            conf = re.sub(r"^\[virtbusd\]\s*$", "[virtbusd]\n" + "\n".join(extra), conf,
                          count=1, flags=re.M)
        C.run(["mkdir", "-p", "/etc/virtbus"])
        C.run(["/bin/sh", "-c", "cat > /etc/virtbus/virtbusd.conf"], input=conf)
        C.run(["systemd-tmpfiles", "--create", "/usr/lib/tmpfiles.d/virtbusd.conf"])
        C.run(["systemctl", "daemon-reload"])
    except BaseException:
        sys.stderr.write("---- console ----\n" + C.console_log()[-8000:] + "\n")
        C.stop(timeout=10)
        raise


def tearDownModule():
    if C is not None and C.running():
        sys.stderr.write("---- virtbusd's journal ----\n" + C.journal(UNIT) + "\n")
        C.stop()
    harness.stop_all()


class SystemdTest(unittest.TestCase):
    serial = f"{SRV}/work/serial.log"
    host_serial = os.path.join(WORK, "work", "serial.log")

    def setUp(self):
        if C is None or not C.running():
            self.fail("the container is gone")

    def _outcome_failed(self):
        outcome = getattr(self, "_outcome", None)
        result = getattr(outcome, "result", None)
        if result is not None and any(t is self for t, _ in result.errors + result.failures):
            return True
        return any(e for _, e in getattr(outcome, "errors", []) if e) or \
            not getattr(outcome, "success", True)

    def tearDown(self):
        if self._outcome_failed() and C is not None and C.running():
            sys.stderr.write(f"---- journal ({self.id()}) ----\n{C.journal()[-15000:]}\n")

    # -- helpers --
    def manager(self, method, sig, *args, timeout=120):
        return C.busctl_json("call", *BUS, *MANAGER, method, sig, *map(str, args),
                             timeout=timeout)

    def domain(self, path, method, sig="", *args, timeout=120):
        return C.busctl_json("call", *BUS, path, DOMAIN_IFACE, method, sig, *map(str, args),
                             timeout=timeout)

    def prop(self, path, name):
        return C.busctl_json("get-property", *BUS, path, DOMAIN_IFACE, name)

    def main_pid(self):
        return int(C.unit_property(UNIT, "MainPID"))

    def proc(self, pid, what):
        return C.run(["cat", f"/proc/{pid}/{what}"]).stdout

    def qemu_pid(self):
        p = C.run(["pgrep", "-f", f"qemu-system.*guest={NAME}"], check=False)
        if p.returncode != 0:
            p = C.run(["pgrep", "-f", f"qemu-system.*{UUID}"], check=False)
        pids = [int(x) for x in p.stdout.split()]
        return pids[0] if len(pids) == 1 else None

    def serial_text(self):
        try:
            with open(self.host_serial, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def ticks(self):
        return self.serial_text().count("TINYGUEST: tick")

    def wait_ticks(self, n, timeout=90):
        vbtest.eventually(lambda: self.ticks() >= n, timeout=timeout,
                          what=f"{n} ticks of the guest")

    # -- the tests, in order --
    def test_01_dbus_activation(self):
        self.assertEqual(C.run(["systemctl", "is-active", UNIT], check=False).stdout.strip(),
                         "inactive")
        self.assertEqual(self.manager("ListDomains", "u", 0), [[]])
        self.assertEqual(C.run(["systemctl", "is-active", UNIT]).stdout.strip(), "active")
        pid = self.main_pid()
        self.assertGreater(pid, 1)
        self.assertEqual(os.path.basename(C.run(["readlink", f"/proc/{pid}/exe"]).stdout.strip()),
                         "virtbusd")
        owner = C.busctl_json("call", "org.freedesktop.DBus", "/org/freedesktop/DBus",
                              "org.freedesktop.DBus", "GetConnectionUnixProcessID", "s", BUS[0])
        self.assertEqual(owner, [pid])
        # the unit systemd loaded is the installed one
        # (/lib is /usr/lib on a merged-/usr system)
        self.assertIn(C.unit_property(UNIT, "FragmentPath"),
                      ("/usr/lib/systemd/system/virtbusd.service",
                       "/lib/systemd/system/virtbusd.service"))

    def test_02_runs_confined(self):
        pid = self.main_pid()
        status = self.proc(pid, "status")
        self.assertEqual(status_field(status, "NoNewPrivs"), "1")
        self.assertEqual(status_field(status, "Seccomp"), "2")
        # the unit's bounding set (of what the container has at all)
        with open(os.path.join(DESTDIR, "usr/lib/systemd/system", UNIT)) as f:
            names = " ".join(check_install.ini_values(f.read(), "CapabilityBoundingSet")).split()
        unknown = [n for n in names if n not in CAPS]
        self.assertEqual(unknown, [], "capabilities this test does not know")
        want = sum(1 << CAPS[n] for n in names)
        container = int(status_field(self.proc(1, "status"), "CapBnd"), 16)
        bnd = int(status_field(status, "CapBnd"), 16)
        self.assertEqual(bnd, want & container, f"{bnd:#x} != {want:#x} & {container:#x}")
        self.assertTrue(bnd & (1 << CAPS["CAP_NET_ADMIN"]), hex(bnd))
        self.assertEqual(status_field(status, "Uid").split(), ["0"] * 4)
        # its own mount namespace: /proc/sys read-only, /proc/sys/net not,
        # /usr read-only (ProtectSystem=full), /home as it is (no ProtectHome)
        self.assertNotEqual(C.run(["readlink", f"/proc/{pid}/ns/mnt"]).stdout,
                            C.run(["readlink", "/proc/1/ns/mnt"]).stdout)
        mounts = {}
        for line in self.proc(pid, "mountinfo").splitlines():
            f = line.split()
            mounts[f[4]] = f[5].split(",")
        self.assertIn("ro", mounts.get("/proc/sys", []), mounts.get("/proc/sys"))
        self.assertIn("rw", mounts.get("/proc/sys/net", []), mounts.get("/proc/sys/net"))
        self.assertIn("ro", mounts.get("/usr", []))
        self.assertNotIn("/home", mounts)
        # what the unit says, as systemd applies it
        self.assertEqual(C.unit_property(UNIT, "ProtectHome"), "no")
        self.assertEqual(C.unit_property(UNIT, "PrivateTmp"), "no")
        self.assertEqual(C.unit_property(UNIT, "KillMode"), "process")
        # a device list instead of all of /dev (DevicePolicy=closed), as systemd loaded it
        self.assertEqual(C.unit_property(UNIT, "DevicePolicy"), "closed")
        allow = C.unit_property(UNIT, "DeviceAllow")
        for entry in ("/dev/kvm rwm", "/dev/net/tun rwm", "/dev/vhost-net rwm", "char-pts rw",
                      "char-macvtap rwm", "block-* rwm"):
            self.assertIn(entry, allow)
        # the modules behind the list's nodes and classes are loaded before the list is
        # resolved (modprobe@ itself skips here: no CAP_SYS_MODULE in the container)
        wants, after = C.unit_property(UNIT, "Wants").split(), C.unit_property(UNIT, "After")
        for mod in ("tun", "vhost_net", "vhost_vsock", "macvtap"):
            self.assertIn(f"modprobe@{mod}.service", wants)
            self.assertIn(f"modprobe@{mod}.service", after.split())
        # nothing the service starts reads or writes another process's memory
        denied = C.unit_property(UNIT, "SystemCallFilter")
        self.assertTrue(denied.startswith("~"), denied[:80])
        for call in ("ptrace", "process_vm_writev", "process_vm_readv", "init_module"):
            self.assertIn(call, denied.split())
        self.assertNotIn("perf_event_open", denied.split())
        # whether this container's systemd enforces a device policy at all (a host with the
        # cgroup v1 devices controller does not delegate it to nspawn): when it does, every
        # test below runs under the unit's list
        probe = C.run(["systemd-run", "-q", "--wait", "-P", "-p", "DevicePolicy=closed",
                       "/bin/sh", "-c", "exec 3<>/dev/net/tun && echo opened"], check=False)
        SETTINGS["devices_enforced"] = "opened" not in probe.stdout
        print("# device policies are " + ("enforced" if SETTINGS["devices_enforced"] else
              "not enforced in this container: DeviceAllow= checked as loaded only"))
        # the service's directories: nothing for others but passing through
        # the run directories (0710 to QEMU's group once QEMU has its own user)
        for d in ("/run/virtbus", "/run/virtbus/qemu", "/var/lib/virtbus", "/var/log/virtbus",
                  "/etc/virtbus"):
            mode = int(C.run(["stat", "-c", "%a", d]).stdout.strip(), 8)
            self.assertEqual(mode & 0o067, 0, f"{d}: {mode:o}")
        # the networks work under it: the default network (autostarted at the
        # first start) has its bridge, dnsmasq, nft rules and IP forwarding
        # (CAP_NET_ADMIN, /proc/sys/net writable, dnsmasq as a child)
        net = C.busctl_json("call", *BUS, *MANAGER, "NetworkLookupByName", "s", "default")[0]
        self.assertIs(C.busctl_json("get-property", *BUS, net, "org.virtbus.Virt1.Network",
                                    "Active"), True)
        self.assertEqual(C.run(["cat", "/proc/sys/net/ipv4/ip_forward"]).stdout.strip(), "1")
        self.assertEqual(C.run(["pgrep", "-x", "dnsmasq"], check=False).returncode, 0)
        # the figure, for the loaded unit on this systemd
        out = C.run(["systemd-analyze", "security", "--no-pager", UNIT], check=False).stdout
        m = re.search(r"Overall exposure level for \S+: (\d+\.\d)", out)
        self.assertIsNotNone(m, out)
        print(f"# systemd-analyze security {UNIT} in the container: {m.group(1)}")
        self.assertLessEqual(float(m.group(1)) * 10, check_install.EXPOSURE_MAX)

    def test_03_domain_runs(self):
        with open(self.host_serial, "w"):
            pass
        os.chmod(self.host_serial, 0o666)       # QEMU may run as its own user
        # slow to power off (12 s, past logind's 5 s delay): test_07
        path = self.manager("DefineXML", "su",
                            guest_xml(self.serial, args=f"tgpoweroffdelay={POWEROFF_DELAY}"),
                            0)[0]
        self.domain(path, "Start", "u", 0)
        self.wait_ticks(2)
        self.assertEqual(self.prop(path, "State"), "running")
        # its NIC on the default network: a tap (CAP_NET_ADMIN, /dev/net/tun),
        # a DHCP lease from dnsmasq and the gateway answering, all under the unit
        vbtest.eventually(lambda: re.search(r"TINYGUEST: (no lease|ping \S+ \w+)",
                                            self.serial_text()), timeout=60,
                          what="the guest's DHCP lease and ping")
        text = self.serial_text()
        m = re.search(r"TINYGUEST: lease (\S+) gw (\S+)", text)
        self.assertIsNotNone(m, text[-2000:])
        self.assertIn(f"TINYGUEST: ping {m.group(2)} ok", text)
        pid = self.qemu_pid()
        self.assertIsNotNone(pid, C.run(["ps", "axo", "pid,user,args"]).stdout)
        status = self.proc(pid, "status")
        cmdline = self.proc(pid, "cmdline").split("\0")
        # its user: virtbus-qemu, made by the installed sysusers.d file at boot
        uids = status_field(status, "Uid").split()
        qemu_user = C.run(["getent", "passwd", "virtbus-qemu"]).stdout
        print(f"# QEMU runs as uid {uids[0]} ({qemu_user.strip()})")
        self.assertEqual(uids, [qemu_user.split(":")[2]] * 4)
        self.assertEqual(status_field(status, "CapEff"), "0000000000000000")
        # seccomp: the unit's filter reaches QEMU; -sandbox stacks its own
        self.assertEqual(status_field(status, "Seccomp"), "2")
        svc = self.proc(self.main_pid(), "status")
        filters = int(status_field(status, "Seccomp_filters") or 0)
        svc_filters = int(status_field(svc, "Seccomp_filters") or 0)
        if "-sandbox" in cmdline:
            self.assertGreater(filters, svc_filters, "QEMU's -sandbox added no filter")
        else:
            print("# QEMU has no -sandbox on its command line: its own filter not checked")
        # ProtectHome= must not reach QEMU: /home is writable in its namespace
        p = C.run(["nsenter", "-t", str(pid), "-m", "--", "/bin/sh", "-c",
                   "mkdir -p /home/vbtest && touch /home/vbtest/img && rm /home/vbtest/img"],
                  check=False)
        self.assertEqual(p.returncode, 0, p.stderr)
        SystemdTest.path, SystemdTest.pid = path, pid

    def test_04_survives_restart(self):
        path, pid = self.path, self.pid
        before = self.main_pid()
        C.run(["systemctl", "restart", UNIT], timeout=90)
        after = self.main_pid()
        self.assertNotEqual(after, before)
        self.assertEqual(self.qemu_pid(), pid)
        self.assertEqual(self.prop(path, "State"), "running")
        self.assertGreater(self.prop(path, "Id"), 0)
        n = self.ticks()
        self.wait_ticks(n + 2)
        # reconnected: the monitor answers (a QMP round trip)
        self.domain(path, "Suspend")
        self.assertEqual(self.prop(path, "State"), "paused")
        self.domain(path, "Resume")
        self.assertEqual(self.prop(path, "State"), "running")

    def test_05_passt_under_unit(self):
        """passt (type='user' with the passt backend) sandboxes itself in user
        and network namespaces: RestrictNamespaces= must leave them to it."""
        # passt takes its addresses from an interface with a default route
        C.sh("ip link add vbpa type veth peer name vbpb && ip link set vbpa up && "
             "ip link set vbpb up && ip addr add 192.0.2.10/24 dev vbpa && "
             "ip route add default via 192.0.2.1")
        serial = f"{SRV}/work/passt.log"
        host = os.path.join(WORK, "work", "passt.log")
        with open(host, "w"):
            pass
        os.chmod(host, 0o666)
        path = self.manager("DefineXML", "su",
                            guest_xml(serial, "sysd2", UUID2, PASST_NIC), 0)[0]
        self.domain(path, "Start", "u", 0)

        def text():
            with open(host, errors="replace") as f:
                return f.read()
        vbtest.eventually(lambda: re.search(r"TINYGUEST: (lease|no lease)", text()),
                          timeout=90, what="the passt guest's DHCP")
        self.assertIn("TINYGUEST: lease 192.0.2.10/24", text())
        self.assertEqual(C.run(["pgrep", "passt"], check=False).returncode, 0)  # passt.avx2
        self.domain(path, "Destroy", "u", 0)
        self.domain(path, "Undefine", "u", 0)

    def test_05b_console_save_restore(self):
        """What DeviceAllow= (ptys: char-pts), UMask= and ProtectSystem= could break: a
        guest's console on a pty, saved to a file and restored from it."""
        xml = guest_xml("unused", "sysd4", UUID4, "<!-- no NIC -->")
        xml = re.sub(r"<serial type='file'>.*?</serial>",
                     "<serial type='pty'><target port='0'/></serial>", xml, flags=re.S)
        path = self.manager("DefineXML", "su", xml, 0)[0]
        save = f"{SRV}/work/sysd4.save"

        def pty_ticks():
            desc = self.domain(path, "GetXMLDesc", "u", 0)[0]
            m = re.search(r"<source path='(/dev/pts/\d+)'", desc)
            self.assertIsNotNone(m, desc)
            # raw and without echo: what is read must not go back to the guest as input
            p = C.run(["/bin/sh", "-c", f"stty -F {m.group(1)} raw -echo && "
                       f"timeout 60 grep -a -m1 'TINYGUEST: tick' {m.group(1)}"],
                      check=False, timeout=70)
            self.assertIn("TINYGUEST: tick", p.stdout, p.stderr)

        def wait_job(job):
            return C.busctl_json("call", *BUS, job, "org.virtbus.Virt1.Job", "Wait",
                                 timeout=180)

        try:
            self.domain(path, "Start", "u", 0)
            pty_ticks()
            job = self.domain(path, "Save", "ssu", save, "", 0)[0]
            wait_job(job)
            self.assertEqual(self.prop(path, "State"), "shutoff")
            host = os.path.join(WORK, "work", "sysd4.save")
            self.assertGreater(os.path.getsize(host), 4096)
            # UMask=0077: the image is nobody else's to read
            self.assertEqual(os.stat(host).st_mode & 0o077, 0, oct(os.stat(host).st_mode))
            job = self.manager("Restore", "ssu", save, "", 0)[0]
            wait_job(job)
            self.assertEqual(self.prop(path, "State"), "running")
            pty_ticks()     # the restored guest goes on, on a new pty
            self.domain(path, "Destroy", "u", 0)
        finally:
            if self.prop(path, "Active"):
                self.domain(path, "Destroy", "u", 0)
            self.domain(path, "Undefine", "u", 0)

    def test_06_machinectl(self):
        if not SETTINGS["cgroup_mode"]:
            self.skipTest("the installed virtbusd.conf knows no cgroup_mode (issue 14, "
                          "part cgroup): no machined registration to check")
        out = C.run(["machinectl", "list", "--no-legend", "--no-pager"]).stdout
        self.assertIn(NAME, out)
        cg = self.proc(self.pid, "cgroup")
        self.assertIn("machine.slice", cg)

    def test_06b_systemd_scope(self):
        """cgroup_mode=systemd: the scope made through systemd's StartTransientUnit, with the
        domain's <memtune> as the scope's MemoryMax; the running guest of machined mode keeps
        its placement across the restarts."""
        pid = self.pid
        C.sh("sed -i 's/^\\[virtbusd\\]$/[virtbusd]\\ncgroup_mode=systemd/' "
             "/etc/virtbus/virtbusd.conf")
        C.run(["systemctl", "restart", UNIT], timeout=90)
        host = os.path.join(WORK, "work", "sysd3.log")
        with open(host, "w"):
            pass
        os.chmod(host, 0o666)
        xml = guest_xml(f"{SRV}/work/sysd3.log", "sysd3", UUID3, "<!-- no NIC -->")
        xml = xml.replace("<vcpu>1</vcpu>", "<vcpu>1</vcpu><memtune><hard_limit unit='MiB'>"
                          "512</hard_limit></memtune>")
        path = self.manager("DefineXML", "su", xml, 0)[0]
        try:
            self.domain(path, "Start", "u", 0)
            dom_id = self.prop(path, "Id")
            unit = f"machine-qemu\\x2d{dom_id}\\x2dsysd3.scope"
            qpid = int(C.run(["pgrep", "-f", "qemu-system.*guest=sysd3"]).stdout.split()[0])
            self.assertIn(f"/{unit}", self.proc(qpid, "cgroup").replace("\\\\", "\\"))
            self.assertEqual(C.unit_property(unit, "MemoryMax"), str(512 << 20))
            self.domain(path, "Destroy", "u", 0)
        finally:
            self.domain(path, "Undefine", "u", 0)
            C.sh("sed -i '/^cgroup_mode=systemd$/d' /etc/virtbus/virtbusd.conf")
            C.run(["systemctl", "restart", UNIT], timeout=90)
        self.assertEqual(self.qemu_pid(), pid)
        self.assertEqual(self.prop(self.path, "State"), "running")

    def test_07_poweroff_shuts_guest_down(self):
        if not SETTINGS["on_host_shutdown"]:
            self.skipTest("the installed virtbusd.conf knows no on_host_shutdown (issue 14, "
                          "part cgroup): no clean shutdown on poweroff to check")
        # the journal of the way down, kept where the host can read it afterwards
        C.run(["/bin/sh", "-c", f"journalctl -f -n 0 -o short-monotonic "
               f"> {SRV}/work/poweroff-journal.txt 2>&1 &"])
        time.sleep(1)
        C.run(["systemctl", "poweroff", "--no-block"])
        self.assertTrue(C.wait_exit(120), "the container did not power off")
        with open(self.host_serial, errors="replace") as f:
            text = f.read()
        with open(os.path.join(WORK, "work", "poweroff-journal.txt"), errors="replace") as f:
            journal = f.read()
        self.assertIn("TINYGUEST: poweroff", text, journal[-6000:])
        # the guest finished its slow poweroff: logind's 5 s delay was not the limit (the
        # service, stopped first, waited; the domain's scope is ordered Before= it)
        self.assertIn(f"TINYGUEST: poweroff delay {POWEROFF_DELAY} done", text,
                      journal[-6000:])
        C.stop()


if __name__ == "__main__":
    vbtest.main()
