#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Disks on the real QEMU with the tiny guest (tests/guest).

- a qcow2 disk on a backing file (the chain read by qemu-img at start) and a cdrom on
  virtio-scsi: the guest sees both ("TINYGUEST: disks sr0 vda"), QEMU has the chain as
  explicit nodes, and the domain shuts down through the ACPI button;
- a broken chain, a backing image whose format is not recorded and a missing mandatory
  medium are refused before QEMU is spawned, naming the file, with nothing left behind;
- startupPolicy='optional' with a missing cdrom medium starts with an empty drive;
- <iotune> is in effect before the guest runs (query-block);
- a disk served by qemu-nbd (started here) over a unix socket, a cdrom read over HTTP from
  a server with byte ranges started here, and a loop device as <disk type='block'>;
- device='lun' on a loop device (no SG_IO) is refused before spawning.
"""

import http.server
import json
import os
import shutil
import socketserver
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
import vbtest  # noqa: E402
from vbtest import DOMAIN_IFACE, eventually, qemus_under  # noqa: E402
from test_lifecycle import UUID1, LifecycleTestCase  # noqa: E402

GUEST_DIR = os.environ.get("VB_TINY_GUEST", "")


class RangeHandler(http.server.BaseHTTPRequestHandler):
    """GET/HEAD of one file with byte ranges (QEMU's curl driver needs them)."""

    data = b""

    def log_message(self, *args):
        pass

    def _head(self, code, length, extra=()):
        self.send_response(code)
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Length", str(length))
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()

    def do_HEAD(self):
        self._head(200, len(self.data))

    def do_GET(self):
        rng = self.headers.get("Range")
        if rng and rng.startswith("bytes="):
            first, _, last = rng[6:].partition("-")
            first = int(first)
            last = min(int(last) if last else len(self.data) - 1, len(self.data) - 1)
            body = self.data[first:last + 1]
            self._head(206, len(body),
                       [("Content-Range", f"bytes {first}-{last}/{len(self.data)}")])
        else:
            body = self.data
            self._head(200, len(body))
        self.wfile.write(body)


class DiskTest(LifecycleTestCase):
    def setUp(self):
        if not os.path.exists(os.path.join(GUEST_DIR, "vmlinux")):
            self.fail(f"the tiny guest is not built in {GUEST_DIR} (ninja -C BUILDDIR tiny-guest)")
        super().setUp()
        self.serial = os.path.join(self.tmp, "serial.log")
        self.img = os.path.join(self.tmp, "images")
        os.makedirs(self.img)
        self.cleanups = []

    def tearDown(self):
        for fn in reversed(self.cleanups):
            try:
                fn()
            except Exception as e:  # noqa: BLE001 - report, go on cleaning
                sys.stderr.write(f"cleanup: {e}\n")
        super().tearDown()

    def qemu_img(self, *args):
        subprocess.run(["qemu-img", *args], check=True, capture_output=True)

    def guest_xml(self, name, disks, extra_devices=""):
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
    <cmdline>{cmdline}</cmdline>
  </os>
  <devices>
{disks}    {extra_devices}
    <serial type='file'>
      <source path='{self.serial}'/>
      <target port='0'/>
    </serial>
  </devices>
</domain>
"""

    def markers(self, what):
        try:
            with open(self.serial, errors="replace") as f:
                return [line.strip() for line in f if what in line]
        except FileNotFoundError:
            return []

    def qmp(self, path, cmd):
        reply = json.loads(self.domain(path, "QemuMonitorCommand", "s",
                                       (json.dumps({"execute": cmd}),)))
        return reply["return"]

    def block(self, path, qdev_suffix):
        for b in self.qmp(path, "query-block"):
            if b.get("qdev", "").endswith(qdev_suffix) or b.get("device") == qdev_suffix:
                return b
        self.fail(f"no block device {qdev_suffix} in query-block")

    def assert_refused(self, name, xml, error, *fragments, uuid=UUID1):
        path = self.define(name, uuid, xml=xml)
        e = self.assertDBusError(error, self.domain, path, "Start", "u", (0,), timeout=60000)
        for frag in fragments:
            self.assertIn(frag, e.message)
        self.assertEqual(self.state(path), ("shutoff", "failed"))
        self.assertEqual(qemus_under(self.tmp), {})
        self.assertEqual(self.runtime_leftovers(name), [])
        self.assertFalse(os.path.exists(self.serial), "QEMU was spawned")
        return e

    def test_backing_chain_and_cdrom_seen_by_guest(self):
        base = os.path.join(self.img, "base.qcow2")
        top = os.path.join(self.img, "top.qcow2")
        iso = os.path.join(self.img, "cd.iso")
        self.qemu_img("create", "-f", "qcow2", base, "16M")
        self.qemu_img("create", "-f", "qcow2", "-b", base, "-F", "qcow2", top)
        with open(iso, "wb") as f:
            f.truncate(2 * 1024 * 1024)
        disks = f"""    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file='{top}'/>
      <target dev='vda' bus='virtio'/>
    </disk>
    <disk type='file' device='cdrom'>
      <driver name='qemu' type='raw'/>
      <source file='{iso}'/>
      <target dev='sda' bus='scsi'/>
      <readonly/>
    </disk>
    <controller type='scsi' index='0' model='virtio-scsi'/>
"""
        path = self.start_vm("disks", UUID1, xml=self.guest_xml("disks", disks))
        eventually(lambda: self.markers("TINYGUEST: READY"), timeout=90, what="the guest")
        self.assertEqual(self.markers("TINYGUEST: disks"), ["TINYGUEST: disks sr0 vda"])
        # the chain is on the command line as explicit nodes, base below top
        vda = self.block(path, "virtio-disk0/virtio-backend")
        self.assertEqual(vda["inserted"]["node-name"], "libvirt-2-format")
        self.assertEqual(vda["inserted"]["file"], top)
        self.assertEqual(vda["inserted"]["image"]["backing-image"]["filename"], base)
        nodes = {n["node-name"]: n for n in self.qmp(path, "query-named-block-nodes")}
        self.assertEqual(nodes["libvirt-3-format"]["file"], base)
        self.assertTrue(nodes["libvirt-3-format"]["ro"])
        cd = self.block(path, "scsi0-0-0-0")
        self.assertEqual(cd["inserted"]["file"], iso)
        self.assertTrue(cd["inserted"]["ro"])
        self.domain(path, "Shutdown", "u", (0,))
        self.wait_state(path, "shutoff", "shutdown", timeout=60)
        self.assertEqual(len(self.markers("TINYGUEST: poweroff (acpi-power-button)")), 1)
        self.assertEqual(self.runtime_leftovers("disks"), [])

    def test_broken_chain_refused_before_spawn(self):
        base = os.path.join(self.img, "base.qcow2")
        top = os.path.join(self.img, "top.qcow2")
        self.qemu_img("create", "-f", "qcow2", base, "16M")
        self.qemu_img("create", "-f", "qcow2", "-b", base, "-F", "qcow2", top)
        os.unlink(base)
        disks = f"""    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file='{top}'/>
      <target dev='vda' bus='virtio'/>
    </disk>
"""
        self.assert_refused("broken", self.guest_xml("broken", disks), "InvalidArgument",
                            f"backing file '{base}' of '{top}' does not exist")

    def test_given_chain_with_missing_file_refused(self):
        top = os.path.join(self.img, "top.qcow2")
        gone = os.path.join(self.img, "gone.qcow2")
        self.qemu_img("create", "-f", "qcow2", top, "16M")
        disks = f"""    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file='{top}'/>
      <backingStore type='file'>
        <format type='qcow2'/>
        <source file='{gone}'/>
        <backingStore/>
      </backingStore>
      <target dev='vda' bus='virtio'/>
    </disk>
"""
        self.assert_refused("given", self.guest_xml("given", disks), "InvalidArgument",
                            f"backing file '{gone}' of '{top}' does not exist")

    def test_unrecorded_backing_format_refused(self):
        # a backing image that itself has a backing image, named without its format:
        # probing it could turn a raw image into a qcow2 pointing at host files
        low = os.path.join(self.img, "low.qcow2")
        mid = os.path.join(self.img, "mid.qcow2")
        top = os.path.join(self.img, "top.qcow2")
        self.qemu_img("create", "-f", "qcow2", low, "16M")
        self.qemu_img("create", "-f", "qcow2", "-b", low, "-F", "qcow2", mid)
        self.qemu_img("create", "-f", "qcow2", top, "16M")
        # qemu-img no longer writes a backing name without its format: put the name into
        # the header by hand (backing_file_offset, backing_file_size; inside cluster 0)
        with open(top, "r+b") as f:
            f.seek(8)
            f.write((0x8000).to_bytes(8, "big") + len(mid).to_bytes(4, "big"))
            f.seek(0x8000)
            f.write(mid.encode())
        info = json.loads(subprocess.run(["qemu-img", "info", "--output=json", "-f", "qcow2",
                                          top], check=True, capture_output=True).stdout)
        self.assertEqual(info["backing-filename"], mid)
        self.assertNotIn("backing-filename-format", info)
        disks = f"""    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file='{top}'/>
      <target dev='vda' bus='virtio'/>
    </disk>
"""
        self.assert_refused("unrecorded", self.guest_xml("unrecorded", disks),
                            "OperationInvalid",
                            f"format of backing image '{mid}' of image '{top}' was not "
                            "specified")

    def cdrom_xml(self, iso, policy):
        return f"""    <disk type='file' device='cdrom'>
      <driver name='qemu' type='raw'/>
      <source file='{iso}' startupPolicy='{policy}'/>
      <target dev='sda' bus='scsi'/>
      <readonly/>
    </disk>
    <controller type='scsi' index='0' model='virtio-scsi'/>
"""

    def test_optional_missing_medium_starts_empty(self):
        iso = os.path.join(self.img, "missing.iso")
        path = self.start_vm("optional", UUID1,
                             xml=self.guest_xml("optional", self.cdrom_xml(iso, "optional")))
        self.assertEqual(self.state(path), ("running", "booted"))
        cd = self.block(path, "scsi0-0-0-0")
        self.assertNotIn("inserted", cd)
        # the live definition shows the empty drive, the persistent one keeps the medium
        live = self.domain(path, "GetXMLDesc", "u", (0,))
        self.assertNotIn(iso, live)
        self.assertIn("startupPolicy='optional'", live)
        self.assertIn(f"<source file='{iso}' startupPolicy='optional'/>",
                      self.domain(path, "GetXMLDesc", "u", (2,)))
        eventually(lambda: self.markers("TINYGUEST: READY"), timeout=90, what="the guest")
        self.assertEqual(self.markers("TINYGUEST: disks"), ["TINYGUEST: disks sr0"])
        self.domain(path, "Destroy", "u", (0,))

    def test_mandatory_and_requisite_missing_medium_refused(self):
        iso = os.path.join(self.img, "missing.iso")
        for i, policy in enumerate(("mandatory", "requisite")):
            with self.subTest(policy=policy):
                self.assert_refused(policy, self.guest_xml(policy, self.cdrom_xml(iso, policy)),
                                    "InvalidArgument", f"source '{iso}' of disk 'sda' does not "
                                    "exist", uuid=f"3d0c6c1e-7a55-4b1e-9a53-7c9bd1a0d00{i}")

    def test_iotune_in_effect(self):
        disk = os.path.join(self.img, "disk.img")
        self.qemu_img("create", "-f", "raw", disk, "8M")
        disks = f"""    <disk type='file' device='disk'>
      <driver name='qemu' type='raw'/>
      <source file='{disk}'/>
      <target dev='vda' bus='virtio'/>
      <iotune>
        <total_bytes_sec>5000000</total_bytes_sec>
        <read_iops_sec>400</read_iops_sec>
        <write_iops_sec>200</write_iops_sec>
        <total_bytes_sec_max>10000000</total_bytes_sec_max>
        <total_bytes_sec_max_length>10</total_bytes_sec_max_length>
        <size_iops_sec>4096</size_iops_sec>
        <group_name>grp0</group_name>
      </iotune>
    </disk>
"""
        path = self.define("iotune", UUID1, xml=self.guest_xml("iotune", disks))
        self.domain(path, "Start", "u", (1,), timeout=60000)  # paused: before the guest runs
        ins = self.block(path, "virtio-disk0/virtio-backend")["inserted"]
        self.assertEqual((ins["bps"], ins["iops_rd"], ins["iops_wr"], ins["bps_max"],
                          ins["bps_max_length"], ins["iops_size"], ins["group"]),
                         (5000000, 400, 200, 10000000, 10, 4096, "grp0"))
        self.assertEqual((ins["bps_rd"], ins["iops"]), (0, 0))
        self.domain(path, "Destroy", "u", (0,))

    def test_nbd_disk_from_qemu_nbd(self):
        img = os.path.join(self.img, "nbd.img")
        sock = os.path.join(self.tmp, "nbd.sock")
        self.qemu_img("create", "-f", "raw", img, "8M")
        nbd = subprocess.Popen(["qemu-nbd", "--persistent", "--shared=4", "-f", "raw",
                                "-x", "disk0", "-k", sock, img],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.cleanups.append(lambda: (nbd.kill(), nbd.wait()))
        eventually(lambda: os.path.exists(sock), timeout=10, what="qemu-nbd's socket")
        disks = f"""    <disk type='network' device='disk'>
      <driver name='qemu' type='raw'/>
      <source protocol='nbd' name='disk0'>
        <host transport='unix' socket='{sock}'/>
      </source>
      <target dev='vda' bus='virtio'/>
    </disk>
"""
        path = self.start_vm("nbd", UUID1, xml=self.guest_xml("nbd", disks))
        ins = self.block(path, "virtio-disk0/virtio-backend")["inserted"]
        self.assertEqual(ins["image"]["virtual-size"], 8 * 1024 * 1024)
        nodes = {n["node-name"]: n for n in self.qmp(path, "query-named-block-nodes")}
        self.assertEqual(nodes["libvirt-1-storage"]["drv"], "nbd")
        eventually(lambda: self.markers("TINYGUEST: READY"), timeout=90, what="the guest")
        self.assertEqual(self.markers("TINYGUEST: disks"), ["TINYGUEST: disks vda"])
        self.domain(path, "Destroy", "u", (0,))

    def test_http_cdrom(self):
        RangeHandler.data = b"CD001" + bytes(1024 * 1024 - 5)
        srv = socketserver.ThreadingTCPServer(("127.0.0.1", 0), RangeHandler)
        srv.daemon_threads = True
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        self.cleanups.append(lambda: (srv.shutdown(), srv.server_close()))
        port = srv.server_address[1]
        disks = f"""    <disk type='network' device='cdrom'>
      <driver name='qemu' type='raw'/>
      <source protocol='http' name='/images/cd.iso'>
        <host name='127.0.0.1' port='{port}'/>
        <timeout seconds='10'/>
      </source>
      <target dev='sda' bus='scsi'/>
      <readonly/>
    </disk>
    <controller type='scsi' index='0' model='virtio-scsi'/>
"""
        path = self.start_vm("http", UUID1, xml=self.guest_xml("http", disks))
        ins = self.block(path, "scsi0-0-0-0")["inserted"]
        self.assertEqual(ins["image"]["virtual-size"], 1024 * 1024)
        self.assertTrue(ins["ro"])
        nodes = {n["node-name"]: n for n in self.qmp(path, "query-named-block-nodes")}
        self.assertEqual(nodes["libvirt-1-storage"]["drv"], "http")
        self.domain(path, "Destroy", "u", (0,))

    def loop_device(self, size_mb=8):
        img = os.path.join(self.img, "loop.img")
        self.qemu_img("create", "-f", "raw", img, f"{size_mb}M")
        dev = subprocess.run(["losetup", "-f", "--show", img], check=True, capture_output=True,
                             text=True).stdout.strip()
        self.cleanups.append(lambda: subprocess.run(["losetup", "-d", dev], check=False))
        return dev

    def test_block_device(self):
        dev = self.loop_device()
        disks = f"""    <disk type='block' device='disk'>
      <driver name='qemu' type='raw' cache='none' io='native'/>
      <source dev='{dev}'/>
      <target dev='vda' bus='virtio'/>
    </disk>
"""
        path = self.start_vm("block", UUID1, xml=self.guest_xml("block", disks))
        nodes = {n["node-name"]: n for n in self.qmp(path, "query-named-block-nodes")}
        self.assertEqual(nodes["libvirt-1-storage"]["drv"], "host_device")
        self.assertEqual(nodes["libvirt-1-storage"]["file"], dev)
        self.assertTrue(nodes["libvirt-1-format"]["cache"]["direct"])
        self.domain(path, "Destroy", "u", (0,))

    def test_lun_without_sg_io_refused(self):
        dev = self.loop_device()
        disks = f"""    <disk type='block' device='lun'>
      <driver name='qemu' type='raw'/>
      <source dev='{dev}'/>
      <target dev='sda' bus='scsi'/>
    </disk>
    <controller type='scsi' index='0' model='virtio-scsi'/>
"""
        self.assert_refused("lun", self.guest_xml("lun", disks), "NotSupported",
                            f"'{dev}' is not a SCSI device")


if __name__ == "__main__":
    vbtest.main()
