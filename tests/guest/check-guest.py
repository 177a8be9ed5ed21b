#!/usr/bin/python3
"""Smoke test for the tiny test guest (Python standard library only).

usage: check-guest.py [--tap] GUESTDIR [-n N] [TEST ...]

GUESTDIR holds vmlinux, initrd.img and cmdline (made by build-guest.sh).
TESTS (default: all, in this order):
  powerdown   boot, wait for READY, ping qemu-ga, system_powerdown: the SHUTDOWN
              event must arrive, the serial log must show the poweroff marker
              and QEMU must exit
  fakereboot  -no-shutdown: system_powerdown -> SHUTDOWN, QEMU stays; then
              system_reset + cont -> READY appears a second time
  qgareboot   qemu-ga guest-shutdown mode=reboot -> RESET event, READY again
  net         -netdev user + virtio-net-pci: slirp's DHCP gives 10.0.2.15/24 gw
              10.0.2.2 (lease marker), the gateway answers a ping, tgping=10.0.2.3
              pings slirp's DNS address, tgping of an absent address fails, and
              qemu-ga's guest-network-get-interfaces shows eth0 with the MAC and
              10.0.2.15/24
  nolease     a virtio NIC on a QEMU hub nobody else is on: "no lease", and READY
              is not delayed by the DHCP attempts
-n N runs each test N times and prints median/min/max. --tap reports in TAP
(what meson runs).

Every QEMU started here gets PR_SET_PDEATHSIG(SIGKILL) and is killed and
reaped at exit, so none is left behind even if this script is killed.
Exit status 0 if every check passed.
"""
import atexit
import ctypes
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

QEMU = os.environ.get("QEMU", "qemu-system-x86_64")
READY = "TINYGUEST: READY"


class Fail(Exception):
    pass


class QMP:
    """Minimal QMP client on a unix socket; keeps events it reads on the way."""

    def __init__(self, path, timeout=30):
        deadline = time.monotonic() + timeout
        while True:   # QEMU creates the socket shortly after exec
            self.sock = socket.socket(socket.AF_UNIX)
            try:
                self.sock.connect(path)
                break
            except OSError:
                self.sock.close()
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.01)
        self.file = self.sock.makefile("rb")
        self.events = []          # (monotonic time, message)
        self._recv(10)            # greeting
        self.cmd("qmp_capabilities")

    def _recv(self, timeout):
        self.sock.settimeout(max(timeout, 0.001))
        line = self.file.readline()
        if not line:
            raise EOFError("QMP connection closed")
        return json.loads(line)

    def cmd(self, name, timeout=30, **args):
        msg = {"execute": name}
        if args:
            msg["arguments"] = args
        self.sock.sendall(json.dumps(msg).encode() + b"\n")
        while True:
            r = self._recv(timeout)
            if "event" in r:
                self.events.append((time.monotonic(), r))
            elif "error" in r:
                raise Fail("QMP %s: %s" % (name, r["error"]))
            else:
                return r.get("return")

    def wait_event(self, name, timeout=30):
        """Return (time, event) of the first not yet consumed event NAME."""
        deadline = time.monotonic() + timeout
        while True:
            for i, (t, e) in enumerate(self.events):
                if e["event"] == name:
                    del self.events[: i + 1]
                    return t, e
            try:
                r = self._recv(deadline - time.monotonic())
            except socket.timeout:
                raise Fail("no %s event within %d s" % (name, timeout)) from None
            if "event" in r:
                self.events.append((time.monotonic(), r))

    def close(self):
        self.sock.close()


class QGA:
    """Minimal qemu-ga client: guest-sync-delimited, then plain commands."""

    def __init__(self, path, timeout=30):
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.connect(path)
        self.sock.settimeout(timeout)
        self.file = self.sock.makefile("rb")
        token = os.getpid() & 0x7FFFFFFF
        # 0xFF resets the agent's parser; the reply is preceded by 0xFF too
        self.sock.sendall(b"\xff" + json.dumps(
            {"execute": "guest-sync-delimited", "arguments": {"id": token}}).encode() + b"\n")
        while self.file.read(1) not in (b"\xff", b""):
            pass
        r = json.loads(self.file.readline())
        if r.get("return") != token:
            raise Fail("qemu-ga sync failed: %r" % r)

    def cmd(self, name, **args):
        msg = {"execute": name}
        if args:
            msg["arguments"] = args
        self.sock.sendall(json.dumps(msg).encode() + b"\n")
        if name in ("guest-shutdown",):   # no reply on success
            return None
        r = json.loads(self.file.readline())
        if "error" in r:
            raise Fail("QGA %s: %s" % (name, r["error"]))
        return r.get("return")

    def close(self):
        self.sock.close()


def _die_with_parent():
    # runs in the child between fork and exec: SIGKILL QEMU if we die
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)   # PR_SET_PDEATHSIG


_vms = []


def _cleanup():
    for vm in _vms:
        vm.stop()


atexit.register(_cleanup)
signal.signal(signal.SIGTERM, lambda *a: sys.exit(1))   # run atexit on SIGTERM too


class VM:
    """One QEMU running the tiny guest, serial console to a file, QMP + QGA sockets."""

    def __init__(self, guestdir, no_shutdown=False, extra_args=(), append=""):
        self.dir = tempfile.mkdtemp(prefix="tinyguest-")
        self.serial_path = os.path.join(self.dir, "serial.log")
        qmp_path = os.path.join(self.dir, "qmp.sock")
        self.qga_path = os.path.join(self.dir, "qga.sock")
        with open(os.path.join(guestdir, "cmdline")) as f:
            cmdline = f.read().strip()
        if append:
            cmdline += " " + append
        argv = [QEMU, "-machine", "q35,accel=tcg", "-m", "128", "-smp", "1",
                "-nodefaults", "-no-user-config", "-display", "none",
                "-kernel", os.path.join(guestdir, "vmlinux"),
                "-initrd", os.path.join(guestdir, "initrd.img"),
                "-append", cmdline,
                "-serial", "file:" + self.serial_path,
                "-qmp", "unix:%s,server=on,wait=off" % qmp_path,
                "-device", "virtio-serial-pci,id=vser0",
                "-chardev", "socket,id=qga0,path=%s,server=on,wait=off" % self.qga_path,
                "-device", "virtserialport,bus=vser0.0,chardev=qga0,id=qgaport,"
                           "name=org.qemu.guest_agent.0"]
        if no_shutdown:
            argv.append("-no-shutdown")
        argv += list(extra_args)
        self.t0 = time.monotonic()
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, preexec_fn=_die_with_parent)
        _vms.append(self)
        self.qmp = QMP(qmp_path)

    def serial(self):
        try:
            with open(self.serial_path, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def wait_serial(self, needle, count=1, timeout=60):
        """Wait until NEEDLE occurs COUNT times in the serial log; return the time."""
        deadline = time.monotonic() + timeout
        while self.serial().count(needle) < count:
            if self.proc.poll() is not None:
                raise Fail("QEMU exited (%s) while waiting for %r" % (self.proc.returncode, needle))
            if time.monotonic() > deadline:
                raise Fail("no %r (#%d) on the serial console within %d s" % (needle, count, timeout))
            time.sleep(0.01)
        return time.monotonic()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()          # only the QEMU we started, by its pid
        self.proc.wait()
        self.qmp.close()
        shutil.rmtree(self.dir, ignore_errors=True)
        if self in _vms:
            _vms.remove(self)


def t_powerdown(guestdir):
    vm = VM(guestdir)
    try:
        t_ready = vm.wait_serial(READY)
        # qemu-ga is started before READY; it answers once it has opened its port
        g = QGA(vm.qga_path)
        g.cmd("guest-ping")
        g.close()
        t = time.monotonic()
        vm.qmp.cmd("system_powerdown")
        t_ev, ev = vm.qmp.wait_event("SHUTDOWN", 30)
        if ev.get("data", {}).get("reason") != "guest-shutdown":
            raise Fail("unexpected SHUTDOWN event %r" % ev)
        try:
            vm.proc.wait(30)
        except subprocess.TimeoutExpired:
            raise Fail("QEMU did not exit after SHUTDOWN") from None
        t_exit = time.monotonic()
        if "TINYGUEST: poweroff" not in vm.serial():
            raise Fail("no poweroff marker on the serial console")
        if vm.proc.returncode != 0:
            raise Fail("QEMU exit status %d" % vm.proc.returncode)
        if "TINYGUEST: lease" in vm.serial() or "TINYGUEST: no lease" in vm.serial():
            raise Fail("a guest without a NIC ran DHCP")
        return {"boot -> READY": t_ready - vm.t0, "powerdown -> SHUTDOWN": t_ev - t,
                "powerdown -> QEMU exit": t_exit - t}
    finally:
        vm.stop()


def t_fakereboot(guestdir):
    vm = VM(guestdir, no_shutdown=True)
    try:
        t_ready = vm.wait_serial(READY)
        t = time.monotonic()
        vm.qmp.cmd("system_powerdown")
        t_ev, _ = vm.qmp.wait_event("SHUTDOWN", 30)
        vm.wait_serial("TINYGUEST: poweroff", timeout=5)
        status = vm.qmp.cmd("query-status")["status"]
        if status != "shutdown" or vm.proc.poll() is not None:
            raise Fail("after SHUTDOWN with -no-shutdown: status %s, QEMU alive %s"
                       % (status, vm.proc.poll() is None))
        t_reset = time.monotonic()
        vm.qmp.cmd("system_reset")
        vm.qmp.cmd("cont")
        t_ready2 = vm.wait_serial(READY, count=2)
        status = vm.qmp.cmd("query-status")["status"]
        if status != "running":
            raise Fail("after reset: status %s" % status)
        return {"boot -> READY": t_ready - vm.t0, "powerdown -> SHUTDOWN": t_ev - t,
                "reset+cont -> READY": t_ready2 - t_reset}
    finally:
        vm.stop()


def t_qgareboot(guestdir):
    vm = VM(guestdir)
    try:
        vm.wait_serial(READY)
        g = QGA(vm.qga_path)
        t = time.monotonic()
        g.cmd("guest-shutdown", mode="reboot")
        t_ev, _ = vm.qmp.wait_event("RESET", 30)
        g.close()
        t_ready2 = vm.wait_serial(READY, count=2)
        if "TINYGUEST: reboot" not in vm.serial():
            raise Fail("no reboot marker on the serial console")
        return {"guest-shutdown reboot -> RESET": t_ev - t, "guest-shutdown reboot -> READY": t_ready2 - t}
    finally:
        vm.stop()


NET_MAC = "52:54:00:4e:45:54"


def t_net(guestdir):
    vm = VM(guestdir, append="tgping=10.0.2.3 tgping=10.0.2.77",
            extra_args=["-netdev", "user,id=hostnet0",
                        "-device", "virtio-net-pci,netdev=hostnet0,id=net0,mac=" + NET_MAC])
    try:
        t_ready = vm.wait_serial(READY)
        t_lease = vm.wait_serial("TINYGUEST: lease 10.0.2.15/24 gw 10.0.2.2", timeout=30)
        vm.wait_serial("TINYGUEST: ping 10.0.2.2 ok", timeout=15)
        vm.wait_serial("TINYGUEST: ping 10.0.2.3 ok", timeout=15)
        # nothing answers there: proves the ping marker can say fail
        vm.wait_serial("TINYGUEST: ping 10.0.2.77 fail", timeout=15)
        g = QGA(vm.qga_path)
        ifaces = g.cmd("guest-network-get-interfaces")
        g.close()
        eth0 = [i for i in ifaces if i.get("name") == "eth0"]
        if not eth0 or eth0[0].get("hardware-address") != NET_MAC:
            raise Fail("qemu-ga: no eth0 with MAC %s in %r" % (NET_MAC, ifaces))
        addrs = [(a["ip-address"], a["prefix"]) for a in eth0[0].get("ip-addresses", [])
                 if a.get("ip-address-type") == "ipv4"]
        if addrs != [("10.0.2.15", 24)]:
            raise Fail("qemu-ga: eth0 IPv4 addresses %r, expected 10.0.2.15/24" % addrs)
        if vm.serial().count("TINYGUEST: lease") != 1:
            raise Fail("lease marker printed more than once")
        return {"boot -> READY": t_ready - vm.t0, "boot -> lease": t_lease - vm.t0}
    finally:
        vm.stop()


def t_nolease(guestdir):
    # a hub port with no other member: every DHCP request is lost
    vm = VM(guestdir, extra_args=["-netdev", "hubport,id=hostnet0,hubid=7",
                                  "-device", "virtio-net-pci,netdev=hostnet0,id=net0"])
    try:
        t_ready = vm.wait_serial(READY)
        t_none = vm.wait_serial("TINYGUEST: no lease", timeout=60)
        if "TINYGUEST: lease" in vm.serial():
            raise Fail("a lease without a DHCP server")
        return {"boot -> READY": t_ready - vm.t0, "boot -> no lease": t_none - vm.t0}
    finally:
        vm.stop()


TESTS = {"powerdown": t_powerdown, "fakereboot": t_fakereboot, "qgareboot": t_qgareboot,
         "net": t_net, "nolease": t_nolease}


def main():
    args = sys.argv[1:]
    n = 1
    tap = "--tap" in args
    if tap:
        args.remove("--tap")
    if "-n" in args:
        i = args.index("-n")
        n = int(args[i + 1])
        del args[i:i + 2]
    if not args or args[0].startswith("-"):
        sys.exit(__doc__)
    guestdir, names = args[0], args[1:] or list(TESTS)
    # --tap: TAP for meson (protocol 'tap'), the rest as TAP comments
    note = "# " if tap else "       "
    if tap:
        print("1..%d" % len(names), flush=True)
    failed = False
    for number, name in enumerate(names, 1):
        times = {}
        try:
            for _ in range(n):
                for k, v in TESTS[name](guestdir).items():
                    times.setdefault(k, []).append(v)
        except (Fail, OSError) as e:
            if tap:
                print("not ok %d - %s" % (number, name))
                for line in str(e).splitlines():
                    print("# " + line)
                sys.stdout.flush()
            else:
                print("FAIL %s: %s" % (name, e), flush=True)
            failed = True
            continue
        print("ok %d - %s" % (number, name) if tap else "ok   %s" % name)
        for k, xs in times.items():
            if n == 1:
                print("%s%-32s %.2f s" % (note, k, xs[0]))
            else:
                print("%s%-32s median %.2f s (min %.2f, max %.2f, n=%d)"
                      % (note, k, statistics.median(xs), min(xs), max(xs), n))
        sys.stdout.flush()
    sys.exit(1 if failed else 0)

if __name__ == "__main__":
    main()
