#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""The guest agent on the bus (issue 13, part agent), with real QEMU and the tiny guest's
qemu-ga: AgentConnected and AgentLifecycle from VSERPORT_CHANGE, Shutdown/Reboot in agent
mode, FSFreeze/FSThaw of an ext4 disk the guest mounts on /mnt (a write blocks while
frozen), GetTime/SetTime, GetHostname, GetGuestInfo, GetFSInfo, SetUserPassword,
QemuAgentCommand (taint, timeouts), the errors "not configured" / "not connected", a
service restart while frozen thawing the guest, and an external snapshot with QUIESCE
(issue 15) leaving a clean ext4 below the overlay."""

import json
import os
import shutil
import subprocess
import tempfile
import time

import vbtest
from vbtest import (DOMAIN_IFACE, ERR, CtlTestCase, MINIMAL_XML, SignalRecorder, connect,
                    eventually)

GUEST_DIR = os.environ.get("VB_TINY_GUEST", "")
AGENT_TIMEOUT = 5
CONNECTED, DISCONNECTED = 1, 2
REASON_STARTED, REASON_CHANNEL = 1, 2

CHANNEL = """<channel type='unix'>
      <target type='virtio' name='org.qemu.guest_agent.0'/>
    </channel>"""


class AgentTestCase(CtlTestCase):
    def setUp(self):
        if not os.path.exists(os.path.join(GUEST_DIR, "vmlinux")):
            self.fail(f"the tiny guest is not built in {GUEST_DIR} (ninja -C BUILDDIR tiny-guest)")
        self.cfgdir = tempfile.mkdtemp(prefix="vbtest-cfg-")
        cfg = os.path.join(self.cfgdir, "virtbusd.conf")
        with open(cfg, "w") as f:
            f.write(f"[virtbusd]\nagent_timeout={AGENT_TIMEOUT}\n")
        self.service_args = ("--config", cfg)
        super().setUp()
        self.serial = os.path.join(self.tmp, "serial.log")

    def tearDown(self):
        super().tearDown()
        shutil.rmtree(self.cfgdir, ignore_errors=True)

    def guest_xml(self, name, devices="", cmdline_extra=""):
        with open(os.path.join(GUEST_DIR, "cmdline")) as f:
            cmdline = f.read().strip()
        return f"""<domain type='qemu'>
  <name>{name}</name>
  <memory unit='MiB'>128</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='q35'>hvm</type>
    <kernel>{GUEST_DIR}/vmlinux</kernel>
    <initrd>{GUEST_DIR}/initrd.img</initrd>
    <cmdline>{cmdline} {cmdline_extra}</cmdline>
  </os>
  <devices>
    <serial type='file'>
      <source path='{self.serial}'/>
      <target port='0'/>
    </serial>
    {devices}
  </devices>
</domain>
"""

    def ext4_disk(self):
        img = os.path.join(self.tmp, "data.img")
        subprocess.run(["mkfs.ext4", "-q", "-F", img, "16M"], check=True,
                       stdout=subprocess.DEVNULL)
        return (f"<disk type='file' device='disk'><driver name='qemu' type='raw'/>"
                f"<source file='{img}'/><target dev='vda' bus='virtio'/></disk>")

    def serial_text(self):
        try:
            with open(self.serial, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def markers(self, what):
        return self.serial_text().count(what)

    def start(self, name, xml):
        path = self.manager("DefineXML", "su", (xml, 0))
        self.domain(path, "Start", "u", (0,), timeout=60000)
        return path

    def status_xml(self, name):
        with open(os.path.join(self.root, "run/virtbus/qemu", name + ".xml")) as f:
            return f.read()

    def wait_connected(self, path, value=True, timeout=90):
        eventually(lambda: self.get_prop(path, DOMAIN_IFACE, "AgentConnected") == value,
                   timeout=timeout, what=f"AgentConnected == {value}")

    def agent(self, path, cmd, args=None, timeout=-1):
        c = {"execute": cmd}
        if args is not None:
            c["arguments"] = args
        return json.loads(self.domain(path, "QemuAgentCommand", "siu",
                                      (json.dumps(c), timeout, 0)))


class AgentTest(AgentTestCase):
    def test_connected_then_disconnected_and_acpi_fallback(self):
        rec = SignalRecorder(self.conn, DOMAIN_IFACE, "AgentLifecycle")
        self.addCleanup(rec.close)
        # libvirt-dbus's name of the same event, with the same arguments
        rec2 = SignalRecorder(self.conn, DOMAIN_IFACE, "AgentEvent")
        self.addCleanup(rec2.close)
        path = self.start("a1", self.guest_xml("a1", CHANNEL))
        rec.wait_for(lambda s: s[0] == path and s[3] == (CONNECTED, REASON_CHANNEL),
                     timeout=90, what="AgentLifecycle(connected, channel)")
        rec2.wait_for(lambda s: s[0] == path and s[3] == (CONNECTED, REASON_CHANNEL),
                      timeout=10, what="AgentEvent(connected, channel)")
        self.assertTrue(self.get_prop(path, DOMAIN_IFACE, "AgentConnected"))
        eventually(lambda: self.markers("TINYGUEST: READY"), timeout=60, what="READY")
        # qemu-ga ends in the guest: the port closes (VSERPORT_CHANGE open=false)
        self.agent(path, "guest-exec", {"path": "/bin/sh",
                                        "arg": ["-c", "sleep 1; killall qemu-ga"]})
        rec.wait_for(lambda s: s[0] == path and s[3] == (DISCONNECTED, REASON_CHANNEL),
                     timeout=30, what="AgentLifecycle(disconnected, channel)")
        self.assertFalse(self.get_prop(path, DOMAIN_IFACE, "AgentConnected"))
        t0 = time.monotonic()
        e = self.assertDBusError("AgentUnresponsive", self.domain, path, "GetHostname", "u",
                                 (0,))
        self.assertIn("QEMU guest agent is not connected", e.message)
        self.assertLess(time.monotonic() - t0, 2)
        self.assertDBusError("AgentUnresponsive", self.domain, path, "Shutdown", "u", (2,))
        # flags 0 without a connected agent: the ACPI power button
        self.domain(path, "Shutdown", "u", (0,))
        eventually(lambda: self.get_prop(path, DOMAIN_IFACE, "State") == "shutoff",
                   timeout=60, what="shutoff")
        self.assertIn("TINYGUEST: poweroff (acpi-power-button)", self.serial_text())
        self.assertFalse(self.get_prop(path, DOMAIN_IFACE, "AgentConnected"))

    def test_reboot_in_agent_mode_keeps_the_domain(self):
        path = self.start("r1", self.guest_xml("r1", CHANNEL))
        self.wait_connected(path)
        eventually(lambda: self.markers("TINYGUEST: READY"), timeout=60, what="READY")
        dom_id = self.get_prop(path, DOMAIN_IFACE, "Id")
        # virsh's --mode agent
        self.ctl("reboot", "r1", "--mode", "agent")
        eventually(lambda: self.markers("TINYGUEST: READY") >= 2, timeout=90,
                   what="the guest booted a second time")
        self.assertIn("TINYGUEST: reboot (qemu-ga)", self.serial_text())
        self.assertEqual(self.get_prop(path, DOMAIN_IFACE, "State"), "running")
        self.assertEqual(self.get_prop(path, DOMAIN_IFACE, "Id"), dom_id)
        # after the reboot qemu-ga is back
        self.wait_connected(path)
        self.assertEqual(self.agent(path, "guest-ping"), {"return": {}})
        # Shutdown with GUEST_AGENT (2): qemu-ga's guest-shutdown powers the guest off
        self.domain(path, "Shutdown", "u", (2,))
        eventually(lambda: self.get_prop(path, DOMAIN_IFACE, "State") == "shutoff",
                   timeout=60, what="shutoff")
        self.assertEqual(self.get_prop(path, DOMAIN_IFACE, "StateReason"), "shutdown")
        self.assertIn("TINYGUEST: poweroff (qemu-ga)", self.serial_text())

    def test_freeze_blocks_writes_until_thaw(self):
        path = self.start("f1", self.guest_xml("f1", CHANNEL + self.ext4_disk()))
        self.wait_connected(path)
        eventually(lambda: self.markers("TINYGUEST: mounted /dev/vda on /mnt"), timeout=60,
                   what="the data disk mounted")
        fss = self.domain(path, "GetFSInfo", "u", (0,))
        mnt = [f for f in fss if f[0] == "/mnt"]
        self.assertEqual(len(mnt), 1, fss)
        self.assertEqual(mnt[0][2], "ext4")
        self.assertEqual(mnt[0][3], ["vda"])
        # the disks group: guest-get-disks, the virtio disk matched to its target by address
        info = self.domain(path, "GetGuestInfo", "uu", (32, 0))
        self.assertEqual({k.split(".")[0] for k in info}, {"disk"}, info)
        self.assertGreaterEqual(info["disk.count"], 1, info)
        vda = [i for i in range(info["disk.count"]) if info[f"disk.{i}.name"] == "/dev/vda"]
        self.assertEqual(len(vda), 1, info)
        self.assertIs(info[f"disk.{vda[0]}.partition"], False)
        self.assertEqual(info[f"disk.{vda[0]}.alias"], "vda", info)
        self.assertRegex(self.ctl("guestinfo", "f1", "--disk").stdout,
                         r"disk\.\d+\.name\s*:\s*/dev/vda")
        # a writer that starts after the freeze: it must block until the thaw
        self.agent(path, "guest-exec", {"path": "/bin/sh", "arg": [
            "-c", "sleep 3; echo 'TGW: start' > /dev/ttyS0; echo hi > /mnt/w; sync; "
                  "echo 'TGW: done' > /dev/ttyS0"]})
        self.assertEqual(self.domain(path, "FSFreeze", "asu", ([], 0)), 1)
        self.assertIn("<agent frozen='yes'/>", self.status_xml("f1"))
        self.assertEqual(self.agent(path, "guest-fsfreeze-status"), {"return": "frozen"})
        eventually(lambda: self.markers("TGW: start"), timeout=30, what="the writer started")
        time.sleep(2)
        self.assertEqual(self.markers("TGW: done"), 0, "the write went through while frozen")
        # FSThaw takes no mount points (libvirt's rule)
        self.assertDBusError("InvalidArgument", self.domain, path, "FSThaw", "asu", (["/mnt"], 0))
        self.assertEqual(self.domain(path, "FSThaw", "asu", ([], 0)), 1)
        eventually(lambda: self.markers("TGW: done"), timeout=30, what="the write after thaw")
        self.assertNotIn("<agent frozen=", self.status_xml("f1"))
        # a list of mount points: guest-fsfreeze-freeze-list
        self.assertEqual(self.domain(path, "FSFreeze", "asu", (["/mnt"], 0)), 1)
        p = self.ctl("domfsthaw", "f1")
        self.assertIn("Thawed 1 filesystem(s)", p.stdout)
        p = self.ctl("domfsinfo", "f1")
        self.assertRegex(p.stdout, r"/mnt\s+\S+\s+ext4\s+vda")

    def test_time_hostname_guest_info_password(self):
        nic = "<interface type='user'><model type='virtio'/></interface>"
        path = self.start("t1", self.guest_xml("t1", CHANNEL + nic, "tghostname=agentvm"))
        self.wait_connected(path)
        eventually(lambda: self.markers("TINYGUEST: lease"), timeout=90, what="the lease")
        self.assertEqual(self.domain(path, "GetHostname", "u", (0,)), "agentvm")
        self.assertEqual(self.ctl("domhostname", "t1").stdout.strip(), "agentvm")
        sec, nsec = self.domain(path, "GetTime", "u", (0,))
        self.assertLess(abs(sec - time.time()), 120)
        self.assertLess(nsec, 10**9)
        # a day ahead, then back from the RTC with SYNC
        target = int(time.time()) + 86400
        self.domain(path, "SetTime", "tuu", (target, 500, 0))
        sec, _ = self.domain(path, "GetTime", "u", (0,))
        self.assertLess(abs(sec - target), 30)
        # SYNC: from the RTC, which guest-set-time wrote (hwclock -w) a moment ago
        self.domain(path, "SetTime", "tuu", (0, 0, 1))
        sec, _ = self.domain(path, "GetTime", "u", (0,))
        self.assertLess(abs(sec - target), 30)
        # virsh domtime --now: back to the host's clock
        self.ctl("domtime", "t1", "--now")
        sec, _ = self.domain(path, "GetTime", "u", (0,))
        self.assertLess(abs(sec - time.time()), 30)
        self.assertDBusError("InvalidArgument", self.domain, path, "SetTime", "tuu",
                             (target, 10**9, 0))
        p = self.ctl("domtime", "t1")
        self.assertIn("Time:", p.stdout)
        # guest info: users (none logged in), os from /etc/os-release and uname, hostname
        info = self.domain(path, "GetGuestInfo", "uu", (0, 0))
        self.assertEqual(info["user.count"], 0)
        self.assertEqual(info["os.id"], "tinyguest")
        self.assertEqual(info["os.name"], "Tiny Guest")
        self.assertEqual(info["os.machine"], "x86_64")
        self.assertTrue(info["os.kernel-release"])
        self.assertEqual(info["hostname"], "agentvm")
        self.assertIn("timezone.offset", info)
        self.assertGreaterEqual(info["if.count"], 2)
        only_os = self.domain(path, "GetGuestInfo", "uu", (2, 0))
        self.assertEqual({k.split(".")[0] for k in only_os}, {"os"})
        self.assertDBusError("InvalidArgument", self.domain, path, "GetGuestInfo", "uu",
                             (128, 0))
        p = self.ctl("guestinfo", "t1", "--os")
        self.assertRegex(p.stdout, r"os\.id\s*:\s*tinyguest")
        # a password: qemu-ga decodes our base64 first (a bad one is "Invalid base64"), then
        # runs the guest's passwd tool, which busybox-static lacks: its error comes back named
        e = self.assertDBusError("AgentCommandFailed", self.domain, path, "SetUserPassword",
                                 "ssu", ("root", "s3cret:\u00e9", 0))
        self.assertIn("passwd", e.message)
        self.assertNotIn("base64", e.message)
        self.assertDBusError("InvalidArgument", self.domain, path, "SetUserPassword", "ssu",
                             ("", "x", 0))
        self.assertDBusError("InvalidArgument", self.domain, path, "SetUserPassword", "ssu",
                             ("root", "x", 2))

    def test_qemu_agent_command_taints_and_times_out(self):
        path = self.start("q1", self.guest_xml("q1", CHANNEL))
        self.wait_connected(path)
        self.assertEqual(self.get_prop(path, DOMAIN_IFACE, "Tainted"), [])
        reply = self.agent(path, "guest-info")
        self.assertIn("version", reply["return"])
        self.assertEqual(self.get_prop(path, DOMAIN_IFACE, "Tainted"), ["custom-ga-command"])
        # virsh's qemu-agent-command
        p = self.ctl("qemu-agent-command", "q1", '{"execute":"guest-ping"}')
        self.assertEqual(json.loads(p.stdout), {"return": {}})
        # the guest's error is AgentCommandFailed with qemu-ga's words
        e = self.assertDBusError("AgentCommandFailed", self.agent, path, "guest-no-such")
        self.assertIn("guest-no-such", e.message)
        for bad in ('[1]', '{"arguments":{}}', "{'execute':'x'}", "nope"):
            self.assertDBusError("InvalidArgument", self.domain, path, "QemuAgentCommand",
                                 "siu", (bad, -1, 0))
        self.assertDBusError("InvalidArgument", self.domain, path, "QemuAgentCommand", "siu",
                             ('{"execute":"guest-ping"}', -3, 0))
        # NOWAIT: sent, not waited for
        self.assertEqual(self.domain(path, "QemuAgentCommand", "siu",
                                     ('{"execute":"guest-ping"}', 0, 0)), "")
        # a guest that stops answering: 1 s timeout frees the call (and the agent job)
        self.agent(path, "guest-exec", {"path": "/bin/sh",
                                        "arg": ["-c", "sleep 1; killall -STOP qemu-ga"]})
        time.sleep(2.5)
        t0 = time.monotonic()
        self.assertDBusError("OperationTimeout", self.domain, path, "QemuAgentCommand", "siu",
                             ('{"execute":"guest-ping"}', 1, 0))
        self.assertLess(time.monotonic() - t0, 3)
        t0 = time.monotonic()
        self.assertDBusError("OperationTimeout", self.domain, path, "GetHostname", "u", (0,))
        self.assertLess(time.monotonic() - t0, AGENT_TIMEOUT + 2)
        # an agent that fails with GUEST_AGENT|ACPI falls back to the power button
        self.domain(path, "Shutdown", "u", (3,), timeout=30000)
        eventually(lambda: self.get_prop(path, DOMAIN_IFACE, "State") == "shutoff",
                   timeout=60, what="shutoff through ACPI")
        self.assertIn("TINYGUEST: poweroff (acpi-power-button)", self.serial_text())


class AgentErrorsTest(AgentTestCase):
    def test_not_configured_vs_not_connected(self):
        # no channel: "not configured" (NotSupported), agent mode refused, flags 0 is ACPI
        path = self.start("n1", MINIMAL_XML.format(name="n1", uuid=""))
        for method, sig, args in (("GetHostname", "u", (0,)), ("FSFreeze", "asu", ([], 0)),
                                  ("GetTime", "u", (0,)), ("Shutdown", "u", (2,)),
                                  ("Reboot", "u", (2,)),
                                  ("QemuAgentCommand", "siu", ('{"execute":"guest-ping"}',
                                                               -1, 0))):
            e = self.assertDBusError("NotSupported", self.domain, path, method, sig, args)
            self.assertIn("QEMU guest agent is not configured", e.message)
        self.assertEqual(self.get_prop(path, DOMAIN_IFACE, "Tainted"), [])
        p = self.ctl("shutdown", "n1", "--mode", "agent", check=False)
        self.assertFails(p, 1, "not configured")
        # a channel the guest never opens (no kernel: SeaBIOS only): "not connected"
        xml = MINIMAL_XML.format(name="c1", uuid="").replace("</devices>",
                                                            CHANNEL + "\n  </devices>")
        path2 = self.start("c1", xml)
        self.assertFalse(self.get_prop(path2, DOMAIN_IFACE, "AgentConnected"))
        t0 = time.monotonic()
        e = self.assertDBusError("AgentUnresponsive", self.domain, path2, "GetHostname", "u",
                                 (0,))
        self.assertIn("QEMU guest agent is not connected", e.message)
        self.assertLess(time.monotonic() - t0, 2)
        self.assertDBusError("AgentUnresponsive", self.domain, path2, "Shutdown", "u", (2,))
        # flags 0 without a connected agent: the ACPI button (accepted; SeaBIOS ignores it)
        self.domain(path2, "Shutdown", "u", (0,))
        # bad flags
        self.assertDBusError("InvalidArgument", self.domain, path2, "Shutdown", "u", (4,))
        self.assertDBusError("InvalidArgument", self.domain, path2, "FSFreeze", "asu", ([], 1))
        # not running
        self.domain(path2, "Destroy", "u", (0,))
        self.assertDBusError("OperationInvalid", self.domain, path2, "GetHostname", "u", (0,))

    def test_restart_while_frozen_thaws(self):
        path = self.start("s1", self.guest_xml("s1", CHANNEL + self.ext4_disk()))
        self.wait_connected(path)
        eventually(lambda: self.markers("TINYGUEST: mounted /dev/vda on /mnt"), timeout=60,
                   what="the data disk mounted")
        self.assertEqual(self.domain(path, "FSFreeze", "asu", ([], 0)), 1)
        self.conn.close_sync(None)
        self.assertEqual(self.service.stop(), 0)
        self.service.start()
        self.conn = connect(self.bus.address)
        self.assertTrue(self.get_prop(path, DOMAIN_IFACE, "AgentConnected"))
        # the reconnect thawed it (in the event worker, so eventually)
        eventually(lambda: self.agent(path, "guest-fsfreeze-status") == {"return": "thawed"},
                   timeout=AGENT_TIMEOUT * 3, what="the guest thawed after the restart")
        eventually(lambda: "<agent frozen=" not in open(os.path.join(
            self.root, "run/virtbus/qemu/s1.xml")).read(), timeout=10, what="status updated")
        self.assertIn("thawed the guest's file systems", self.service.read_log())


class QuiesceTest(AgentTestCase):
    def features(self, img):
        out = subprocess.run(["dumpe2fs", "-h", img], capture_output=True, text=True,
                             check=True).stdout
        return [line for line in out.splitlines() if line.startswith("Filesystem features:")][0]

    def test_quiesced_external_snapshot(self):
        """SnapshotCreateXML with DISK_ONLY|QUIESCE (16|64): the guest's file systems are
        frozen through the agent around the switch to the overlay, so the image left below
        it is a clean ext4 (freezing flushed its journal: no needs_recovery, which the
        mounted file system had before); the guest is thawed and writes on, into the
        overlay."""
        path = self.start("q1", self.guest_xml("q1", CHANNEL + self.ext4_disk()))
        self.wait_connected(path)
        eventually(lambda: self.markers("TINYGUEST: mounted /dev/vda on /mnt"), timeout=60,
                   what="the data disk mounted")
        img = os.path.join(self.tmp, "data.img")
        self.agent(path, "guest-exec", {"path": "/bin/sh", "arg": [
            "-c", "echo before > /mnt/before; echo 'TGW: before' > /dev/ttyS0"]})
        eventually(lambda: self.markers("TGW: before"), timeout=30, what="the first write")
        self.assertIn("needs_recovery", self.features(img))  # mounted, journal in use
        overlay = os.path.join(self.tmp, "data.q1")
        snap = self.snapshot_create(
            path, "<domainsnapshot><name>q1</name><disks><disk name='vda' snapshot='external'>"
            f"<source file='{overlay}'/></disk></disks></domainsnapshot>", 16 | 64)
        self.assertEqual(self.get_prop(snap, "org.virtbus.Virt1.Snapshot", "Name"), "q1")
        self.assertNotIn("needs_recovery", self.features(img))
        self.assertEqual(self.agent(path, "guest-fsfreeze-status"), {"return": "thawed"})
        self.assertNotIn("<agent frozen=", self.status_xml("q1"))
        self.agent(path, "guest-exec", {"path": "/bin/sh", "arg": [
            "-c", "echo after > /mnt/after; sync; echo 'TGW: after' > /dev/ttyS0"]})
        eventually(lambda: self.markers("TGW: after"), timeout=30, what="a write after it")
        # the base did not change since the snapshot: still clean
        self.assertNotIn("needs_recovery", self.features(img))
        self.domain(path, "Destroy", "u", (0,))


if __name__ == "__main__":
    vbtest.main()
