# SPDX-License-Identifier: LGPL-2.1-or-later
"""README.md's install steps, followed into a DESTDIR.

Takes the commands of README's "Installing it as a system service" section
as written (the `meson setup` line with its options, the `ninja` lines, the
tmpfiles and systemctl lines), runs the build and install ones in a build
directory of its own under the test build directory, with DESTDIR set, and
checks that every file lands where dbus-daemon, polkitd, systemd,
systemd-tmpfiles, man and bash-completion look for it, and that the paths
written inside the installed files point at installed files.

The build directory is kept between runs (configured again only when the
README's options change), so a second run only relinks what changed.
"""

import fcntl
import json
import os
import re
import shlex
import shutil
import stat
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import vbtest  # noqa: E402  (TAP on stdout, skips fail under VB_REQUIRE_ALL)

SRCDIR = os.environ.get("VB_SRCDIR",
                        os.path.abspath(os.path.join(os.path.dirname(__file__), "../..")))
BUILDROOT = os.environ.get("VB_BUILDDIR", os.path.join(SRCDIR, "build"))
WORK = os.path.join(BUILDROOT, "install-check")
BUILD = os.path.join(WORK, "build")
DESTDIR = os.path.join(WORK, "destdir")

# Where the system looks (Debian 12 and every merged-/usr system):
#   dbus-daemon: /usr/share/dbus-1/system.conf <includedir>system.d</includedir>
#     and <standard_system_servicedirs/> = /usr/share/dbus-1/system-services
#   polkitd: /usr/share/polkit-1/actions (polkit-gobject-1.pc policydir)
#   systemd: /usr/lib/systemd/system; systemd-tmpfiles: /usr/lib/tmpfiles.d
#   virtbusd: /etc/virtbus/virtbusd.conf (service/util/vb-paths.c, fixed)
POLICY = "usr/share/dbus-1/system.d/org.virtbus.Virt1.conf"
ACTIVATION = "usr/share/dbus-1/system-services/org.virtbus.Virt1.service"
ACTIONS = "usr/share/polkit-1/actions/org.virtbus.Virt1.policy"
TMPFILES = "usr/lib/tmpfiles.d/virtbusd.conf"
RULES = "usr/share/polkit-1/rules.d/50-virtbus.rules"
SYSUSERS = "usr/lib/sysusers.d/virtbus.conf"
UNIT = "usr/lib/systemd/system/virtbusd.service"
VIRTBUSD = "usr/sbin/virtbusd"
VIRTBUSCTL = "usr/bin/virtbusctl"
# the QEMU launcher virtbusd runs before each QEMU (issue 16; libexecdir, Debian: /usr/libexec)
LAUNCHER = "usr/libexec/virtbus-launch"
CONFIG = "etc/virtbus/virtbusd.conf"
COMPLETION = "usr/share/bash-completion/completions/virtbusctl"
MAN_PAGES = ["usr/share/man/man1/virtbusctl.1", "usr/share/man/man8/virtbusd.8"]
INTERFACES = [f"usr/share/dbus-1/interfaces/org.virtbus.Virt1.{i}.xml"
              for i in ("Manager", "Domain", "Job", "Network", "Snapshot")]
# the Cockpit page (issue 17): Cockpit's bridge finds packages in /usr/share/cockpit/
COCKPIT = [f"usr/share/cockpit/virtbus/{f}"
           for f in ("manifest.json", "index.html", "index.js", "index.css", "po.de.js")]
EXPECTED = {POLICY, ACTIVATION, ACTIONS, TMPFILES, RULES, SYSUSERS, UNIT, VIRTBUSD, VIRTBUSCTL,
            LAUNCHER, CONFIG,
            COMPLETION, *MAN_PAGES, *INTERFACES, *COCKPIT}
# besides those, only documentation and translations
ALLOWED_PREFIXES = ("usr/share/doc/virtbus/", "usr/share/locale/")

# systemd-analyze security's exposure of the built unit, times ten: at most
# this (docs/confinement-unit.md explains the figure and what keeps it there).
EXPOSURE_MAX = 52

# DevicePolicy=closed: each /dev path the service's sources name, and the
# DeviceAllow= entry of the unit that lets the service and QEMU open it
# (None: no host device, or one of the pseudo-devices `closed` always allows).
DEVICE_ALLOW = {
    "/dev/kvm": "/dev/kvm", "/dev/net/tun": "/dev/net/tun", "/dev/vhost-net": "/dev/vhost-net",
    "/dev/vhost-vsock": "/dev/vhost-vsock", "/dev/tap%d": "char-macvtap",
    "/dev/tpm0": "char-tpm*", "/dev/dri": "char-drm", "/dev/sda": "block-*",
    # DevicePolicy=closed's standard pseudo-devices (the launcher's minimal /dev has them)
    "/dev/null": None, "/dev/urandom": None, "/dev/zero": None, "/dev/full": None,
    "/dev/random": None, "/dev/tty": None, "/dev/ptmx": None,
    # QEMU's fd sets, the launcher's /dev/fd links, disks as the guest names them
    "/dev/fdset/": None, "/dev/fd": None, "/dev/fd/": None, "/dev/stdin": None, "/dev/stdout": None,
    "/dev/stderr": None, "/dev/vda": None, "/dev/vda1": None, "/dev/": None,
}

# The service's fixed system layout (service/util/vb-paths.c, DESIGN.md).
LAYOUT_DIRS = ["/etc/virtbus/qemu", "/etc/virtbus/qemu/autostart", "/run/virtbus/qemu",
               "/var/lib/virtbus", "/var/lib/virtbus/caps", "/var/lib/virtbus/save",
               "/var/lib/virtbus/snapshot", "/var/log/virtbus/qemu"]


def readme_install_commands():
    """The shell lines of README's install section (indented code)."""
    with open(os.path.join(SRCDIR, "README.md")) as f:
        text = f.read()
    m = re.search(r"^## Installing it as a system service\n(.*?)(?=^## )", text, re.M | re.S)
    if m is None:
        raise AssertionError("README.md has no section 'Installing it as a system service'")
    cmds = []
    for line in m.group(1).splitlines():
        if line.startswith("    ") and line.strip():
            for part in line.strip().split("&&"):
                cmds.append(shlex.split(part))
    return cmds, m.group(1)


def dest(rel):
    return os.path.join(DESTDIR, rel)


def read(rel):
    with open(dest(rel)) as f:
        return f.read()


def ini_values(text, key):
    return [line.split("=", 1)[1].strip() for line in text.splitlines()
            if line.startswith(key + "=")]


def run(argv, **kw):
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kw)
    if p.returncode != 0:
        raise AssertionError(f"{shlex.join(argv)} failed ({p.returncode}):\n{p.stdout}")
    return p.stdout


def readme_build(destdir):
    """Configures (when README's options changed) and builds the README's
    build directory (BUILD), then installs it into @destdir as README's ninja
    lines do. A lock serializes the callers (the install suite and
    tests/systemd share this build). Returns (commands, section, README's
    build directory name, its setup options, its ninja lines)."""
    cmds, section = readme_install_commands()
    setups = [c for c in cmds if c[:2] == ["meson", "setup"]]
    if len(setups) != 1:
        raise AssertionError(f"README's install section needs one 'meson setup': {setups}")
    readme_builddir = setups[0][2]
    setup_options = setups[0][3:]
    ninja = [c for c in cmds if c[0] == "ninja"]
    os.makedirs(WORK, exist_ok=True)
    with open(os.path.join(WORK, "lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        stamp = os.path.join(WORK, "setup-options")
        wanted = shlex.join(setup_options)
        try:
            with open(stamp) as f:
                same = f.read() == wanted
        except FileNotFoundError:
            same = False
        if not same or not os.path.exists(os.path.join(BUILD, "build.ninja")):
            shutil.rmtree(BUILD, ignore_errors=True)
            run(["meson", "setup", BUILD, SRCDIR, *setup_options])
            with open(stamp, "w") as f:
                f.write(wanted)
        shutil.rmtree(destdir, ignore_errors=True)
        env = dict(os.environ, DESTDIR=destdir)
        # the README's ninja lines, in its build directory's place ours
        for c in ninja:
            argv = [BUILD if a == readme_builddir else a for a in c]
            run(argv, env=env, cwd=SRCDIR)
    return cmds, section, readme_builddir, setup_options, ninja


class InstallSteps(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        (cls.cmds, cls.section, cls.readme_builddir, cls.setup_options,
         cls.ninja) = readme_build(DESTDIR)
        cls.installed = set()
        for top, _dirs, files in os.walk(DESTDIR):
            for name in files:
                cls.installed.add(os.path.relpath(os.path.join(top, name), DESTDIR))

    # -- the steps themselves ------------------------------------------------

    def test_own_build_directory(self):
        # the quick start (scripts/run-demo.sh) configures build/; a second
        # `meson setup build ...` exits 0 and keeps that directory's options
        self.assertNotEqual(os.path.normpath(self.readme_builddir), "build")
        self.assertTrue(self.ninja, "no ninja lines")
        for c in self.ninja:
            self.assertEqual(c[1:3], ["-C", self.readme_builddir], c)
        self.assertIn(["ninja", "-C", self.readme_builddir, "install"], self.ninja)
        self.assertIn("--prefix=/usr", self.setup_options)

    def test_configured_prefix(self):
        info = run(["meson", "introspect", "--buildoptions", BUILD])
        opts = {o["name"]: o["value"] for o in json.loads(info)}
        self.assertEqual(opts["prefix"], "/usr")
        self.assertEqual(opts["sysconfdir"], "/etc")
        self.assertEqual(opts["localstatedir"], "/var")

    def test_tmpfiles_step_names_installed_file(self):
        lines = [c for c in self.cmds if c[0] == "systemd-tmpfiles"]
        self.assertEqual(len(lines), 1, lines)
        path = lines[0][-1]
        self.assertEqual(path, "/" + TMPFILES)
        self.assertTrue(os.path.isfile(dest(path.lstrip("/"))), path)
        # the snippet is valid and creates the service's whole layout
        run(["systemd-tmpfiles", "--create", f"--root={DESTDIR}", dest(TMPFILES)])
        for d in LAYOUT_DIRS:
            st = os.stat(dest(d.lstrip("/")))
            self.assertTrue(stat.S_ISDIR(st.st_mode), d)
            self.assertEqual(stat.S_IMODE(st.st_mode), 0o700, d)

    def test_systemctl_step_enables_installed_unit(self):
        lines = [c for c in self.cmds if c[0] == "systemctl" and "enable" in c]
        self.assertEqual(len(lines), 1, lines)
        unit = lines[0][-1]
        self.assertEqual(unit + ".service", os.path.basename(UNIT))
        run(["systemctl", f"--root={DESTDIR}", "enable", unit])
        # links inside the root, to the unit where systemd finds it
        wants = dest("etc/systemd/system/multi-user.target.wants/virtbusd.service")
        self.assertEqual(os.readlink(wants), "/" + UNIT)
        alias = dest("etc/systemd/system/dbus-org.virtbus.Virt1.service")
        self.assertEqual(os.readlink(alias), "/" + UNIT)

    # -- every file where the system looks -------------------------------------

    def test_every_file_where_the_system_looks(self):
        missing = sorted(EXPECTED - self.installed)
        self.assertEqual(missing, [], f"installed: {sorted(self.installed)}")

    def test_nothing_elsewhere(self):
        stray = sorted(f for f in self.installed - EXPECTED
                       if not f.startswith(ALLOWED_PREFIXES) and not f.startswith("etc/systemd/")
                       and not f.startswith(("run/", "var/", "etc/virtbus/qemu")))
        self.assertEqual(stray, [])

    def test_system_configuration_agrees(self):
        with open("/usr/share/dbus-1/system.conf") as f:
            conf = f.read()
        self.assertIn("<includedir>system.d</includedir>", conf)
        self.assertIn("<standard_system_servicedirs/>", conf)
        for pc, var, rel in (("polkit-gobject-1", "policydir", ACTIONS),
                             ("systemd", "tmpfiles_dir", TMPFILES)):
            where = run(["pkg-config", f"--variable={var}", pc]).strip()
            self.assertEqual(where, "/" + os.path.dirname(rel), f"{pc} {var}")

    def test_programs_run(self):
        for rel in (VIRTBUSD, VIRTBUSCTL):
            self.assertTrue(os.access(dest(rel), os.X_OK), rel)
        out = run([dest(VIRTBUSCTL), "--version"])
        version = run(["meson", "introspect", "--projectinfo", BUILD])
        self.assertEqual(out, f"virtbusctl {json.loads(version)['version']}\n")
        self.assertIn("--system", run([dest(VIRTBUSD), "--help"]))

    # -- paths written inside the installed files ------------------------------

    def test_unit_paths(self):
        unit = read(UNIT)
        execs = ini_values(unit, "ExecStart")
        self.assertEqual(len(execs), 1, execs)
        self.assertEqual(shlex.split(execs[0])[0], "/" + VIRTBUSD)
        self.assertEqual(ini_values(unit, "BusName"), ["org.virtbus.Virt1"])
        self.assertNotRegex(unit, r"@[A-Za-z_]+@")      # every @var@ substituted
        # the layout is writable: ProtectSystem=full makes /usr, /boot, /efi
        # and /etc read-only, ReadWritePaths= gives back what it names
        self.assertEqual(ini_values(unit, "ProtectSystem"), ["full"])
        rw = " ".join(ini_values(unit, "ReadWritePaths")).split()
        for d in LAYOUT_DIRS:
            ro = any(d.startswith(p + "/") for p in ("/usr", "/boot", "/efi", "/etc"))
            self.assertTrue(not ro or any(d == p or d.startswith(p + "/") for p in rw), (d, rw))

    def test_unit_hardening(self):
        """The built unit's exposure (systemd-analyze security) stays at or
        below the figure of docs/confinement-unit.md, and nothing of the
        hardening takes away what QEMU needs (images under /home, /tmp)."""
        p = subprocess.run(["systemd-analyze", "security", "--offline=yes", "--no-pager",
                            f"--threshold={EXPOSURE_MAX}", dest(UNIT)],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        m = re.search(r"Overall exposure level for \S+: (\d+\.\d)", p.stdout)
        self.assertIsNotNone(m, p.stdout)
        print(f"# systemd-analyze security: {m.group(1)}")
        self.assertEqual(p.returncode, 0,
                         f"exposure {m.group(1)} is above {EXPOSURE_MAX / 10}:\n{p.stdout}")
        # the check can fail: the unit without its hardening is refused
        bare = os.path.join(WORK, "bare-virtbusd.service")
        with open(bare, "w") as f:
            f.write("".join(line + "\n" for line in read(UNIT).splitlines()
                            if line.startswith(("[", "Type=", "BusName=", "ExecStart="))))
        p = subprocess.run(["systemd-analyze", "security", "--offline=yes", "--no-pager",
                            f"--threshold={EXPOSURE_MAX}", bare],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.assertNotEqual(p.returncode, 0, p.stdout)
        unit = read(UNIT)
        # children (QEMU) inherit the service's mount namespace: no ProtectHome
        # (images under /home), no PrivateTmp (a save to /tmp is the caller's /tmp)
        for key in ("ProtectHome", "PrivateTmp", "MemoryDenyWriteExecute", "PrivateDevices"):
            self.assertEqual(ini_values(unit, key), [], key)
        self.assertEqual(ini_values(unit, "KillMode"), ["process"])
        self.assertEqual(ini_values(unit, "ProtectSystem"), ["full"])
        caps = set(" ".join(ini_values(unit, "CapabilityBoundingSet")).split())
        for cap in ("CAP_NET_ADMIN", "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_SETUID",
                    "CAP_SETGID", "CAP_KILL", "CAP_SYS_ADMIN"):
            self.assertIn(cap, caps)
        self.assertNotIn("CAP_SYS_MODULE", caps)
        # a device list, not all of /dev: each device the sources open is on it
        self.assertEqual(ini_values(unit, "DevicePolicy"), ["closed"])
        allow = {v.split()[0]: v.split()[1] for v in ini_values(unit, "DeviceAllow")}
        for entry in ("char-pts", "block-*", "/dev/kvm", "/dev/net/tun", "char-macvtap"):
            self.assertIn("rw", allow.get(entry, ""), entry)
        named = set()
        for top, _, files in os.walk(os.path.join(SRCDIR, "service")):
            for name in files:
                if name.endswith((".c", ".h")):
                    with open(os.path.join(top, name), errors="replace") as f:
                        named |= set(re.findall(r'"(/dev/[A-Za-z0-9_/%-]*)', f.read()))
        self.assertIn("/dev/kvm", named)
        unknown = sorted(named - set(DEVICE_ALLOW))
        self.assertEqual(unknown, [], "device paths in service/ that DEVICE_ALLOW (and the "
                         "unit's DeviceAllow=, docs/confinement-unit.md) do not cover")
        for path, entry in DEVICE_ALLOW.items():
            if entry is not None and path in named:
                self.assertIn(entry, allow, path)
        # the directories systemd makes agree with tmpfiles.d
        tmpfiles = {line.split()[1]: line.split()[2] for line in read(TMPFILES).splitlines()
                    if line.strip() and not line.startswith("#")}
        for key, path in (("RuntimeDirectory", "/run/virtbus"),
                          ("StateDirectory", "/var/lib/virtbus"),
                          ("LogsDirectory", "/var/log/virtbus")):
            self.assertEqual(ini_values(unit, key), ["virtbus"], key)
            self.assertEqual(ini_values(unit, key + "Mode"), [tmpfiles[path]], key)

    def test_activation_file_paths(self):
        svc = read(ACTIVATION)
        self.assertEqual(ini_values(svc, "Name"), ["org.virtbus.Virt1"])
        self.assertEqual(shlex.split(ini_values(svc, "Exec")[0])[0], "/" + VIRTBUSD)
        self.assertEqual(ini_values(svc, "SystemdService"), [os.path.basename(UNIT)])
        self.assertEqual(ini_values(svc, "User"), ["root"])

    def test_tmpfiles_paths_are_the_layout(self):
        paths = [line.split()[1] for line in read(TMPFILES).splitlines()
                 if line.strip() and not line.startswith("#")]
        for p in paths:
            self.assertTrue(any(p == d or d.startswith(p + "/") for d in LAYOUT_DIRS), p)
        for d in LAYOUT_DIRS:
            self.assertIn(d, paths)

    def test_bus_policy_and_actions(self):
        run(["xmllint", "--noout", dest(POLICY), dest(ACTIONS), *map(dest, INTERFACES)])
        self.assertIn('<allow own="org.virtbus.Virt1"/>', read(POLICY))
        ids = sorted(re.findall(r'<action id="([^"]+)"', read(ACTIONS)))
        self.assertEqual(len(ids), 11, ids)  # issue 15, part snapbus: snapshot
        # README and docs/authorization.md name every action
        short = {i.rsplit(".", 1)[1] for i in ids}
        m = re.search(r"org\.virtbus\.Virt1\.\{([a-z,]+)\}", self.section.replace("\n", ""))
        self.assertIsNotNone(m, "README lists the polkit actions as org.virtbus.Virt1.{...}")
        self.assertEqual(set(m.group(1).split(",")), short)
        with open(os.path.join(SRCDIR, "docs", "authorization.md")) as f:
            auth = f.read()
        for s in short:
            self.assertTrue(f"org.virtbus.Virt1.{s}`" in auth or f"`.{s}`" in auth, s)
        # and so does the installed virtbusd(8)
        man = read("usr/share/man/man8/virtbusd.8").replace("\\&", "")  # scdoc's "\&."
        for i in ids:
            self.assertIn(f"\\fB{i}\\fR", man, i)

    def test_dbus_daemon_reads_installed_files(self):
        """A system-type dbus-daemon that reads the DESTDIR's system.d and
        system-services (as the real one reads /usr/share/dbus-1) accepts the
        policy and offers org.virtbus.Virt1 for activation."""
        busdir = os.path.join(WORK, "bus")
        shutil.rmtree(busdir, ignore_errors=True)
        os.makedirs(busdir)
        conf = os.path.join(busdir, "system.conf")
        # the tests' system-like bus, reading the installed files instead of the source's policy
        with open(os.path.join(SRCDIR, "tests", "bus", "system.conf.in")) as f:
            text = f.read()
        text = text.replace("@SOCKET@", os.path.join(busdir, "socket")).replace(
            "<include>@POLICY@</include>",
            f"<servicedir>{dest(os.path.dirname(ACTIVATION))}</servicedir>\n"
            f"  <includedir>{dest(os.path.dirname(POLICY))}</includedir>")
        self.assertIn("<includedir>", text)
        with open(conf, "w") as f:
            f.write(text)
        daemon = subprocess.Popen(["dbus-daemon", "--config-file", conf, "--nofork",
                                   "--print-address=1"], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
        try:
            address = daemon.stdout.readline().strip()
            self.assertTrue(address, daemon.stderr.read() if daemon.poll() is not None else "")
            out = run(["busctl", "--address", address, "call", "org.freedesktop.DBus",
                       "/org/freedesktop/DBus", "org.freedesktop.DBus",
                       "ListActivatableNames"])
            self.assertIn('"org.virtbus.Virt1"', out)
        finally:
            daemon.terminate()
            daemon.wait(timeout=10)
            daemon.stdout.close()
            daemon.stderr.close()

    def test_config_man_pages_and_completion(self):
        self.assertIn("[virtbusd]", read(CONFIG))
        for page in MAN_PAGES:
            text = read(page)
            self.assertTrue(text.startswith('.\\" Generated by scdoc'), page)
            self.assertIn(".SH NAME", text)
        p = subprocess.run(["bash", "-c", f"source {dest(COMPLETION)} && complete -p virtbusctl"],
                           capture_output=True, text=True)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("-F _virtbusctl virtbusctl", p.stdout)


if __name__ == "__main__":
    vbtest.main()
