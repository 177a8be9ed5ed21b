#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Live migration with storage copy over NBD (NON_SHARED_DISK, NON_SHARED_INC)
between two virtbus services on this machine, with the tiny guest under TCG.
Each host has its own disk directory: the destination's definition names
another path (MigratePrepare's xml, Migrate's destination_xml; the ABI check
ignores source paths). The guest keeps writing numbered sectors to its raw
disk during the migration (tgwrite); after a clean shutdown on the
destination, the destination image must hold every byte: the random data
the image started with plus every write up to the last one the guest
reports."""

import json
import os
import shutil
import subprocess
import sys
import time

import vbtest
from vbmigrate import (JOB_IFACE, LIVE, NON_SHARED_DISK, NON_SHARED_INC, POSTCOPY,
                       SYNC_WRITES, MigrationTestCase, port_free, wait_booted)
from vbmigrate import P2P as PEER2PEER
from vbtest import (DOMAIN_IFACE, ERR, MANAGER_IFACE, MANAGER_PATH, DBusCallError, GLib,
                    eventually)

DISK_MIB = 64
NBLOCKS = 64          # tgwrite=N: sector i at (i % N) * 64 KiB
STRIDE = 64 * 1024


def qemu_img(*args):
    subprocess.run(["qemu-img", *args], check=True, stdout=subprocess.DEVNULL)


def nbd_port_of(cookie):
    """The destination's NBD port in a Prepare cookie."""
    return int(cookie.split(b"<nbd port='")[1].split(b"'")[0])


def expected_image(base, last):
    """The raw bytes of @base after the guest's writes 0..@last."""
    data = bytearray(base)
    for k in range(NBLOCKS):
        if last < k:
            continue
        i = last - ((last - k) % NBLOCKS)   # the last write that hit block k
        sector = (b"TGW %08d\n" % i).ljust(512, b"\0")
        data[k * STRIDE:k * STRIDE + 512] = sector
    return bytes(data)


class StorageMigrationTest(MigrationTestCase):
    def setUp(self):
        super().setUp()
        self.dir_a = os.path.join(self.tmp, "disks-a")
        self.dir_b = os.path.join(self.tmp, "disks-b")
        self.shared = os.path.join(self.tmp, "disks-shared")
        for d in (self.dir_a, self.dir_b, self.shared):
            os.makedirs(d)
        self.base = os.urandom(DISK_MIB << 20)
        self.base_raw = os.path.join(self.tmp, "base.raw")
        with open(self.base_raw, "wb") as f:
            f.write(self.base)

    def disk_guest_xml(self, disk, fmt="qcow2", write=True, extra="", memory=128):
        args = " ".join(a for a in (f"tgwrite={NBLOCKS}" if write else "", extra) if a)
        return self.guest_xml(extra_cmdline=args, memory=memory, devices=f"""
    <disk type='file' device='disk'>
      <driver name='qemu' type='{fmt}'/>
      <source file='{disk}'/>
      <target dev='vda' bus='virtio'/>
    </disk>""")

    def images(self):
        """vm1's qcow2 image on A (the random data) and its path on B."""
        src = os.path.join(self.dir_a, "vm1.qcow2")
        qemu_img("convert", "-f", "raw", "-O", "qcow2", self.base_raw, src)
        return src, os.path.join(self.dir_b, "vm1.qcow2")

    def start_disk_guest(self, disk, write=True, extra="", memory=128):
        path = self.manager("DefineXML", "su",
                            (self.disk_guest_xml(disk, write=write, extra=extra, memory=memory),
                             0))
        self.domain(path, "Start", "u", (0,))
        wait_booted(self.serial)
        if write:
            eventually(lambda: "TINYGUEST: tgwrite 100" in self.text(), timeout=60,
                       what="the guest to write to its disk")
        return path

    def slow_mirror(self, path, src, dst, flags):
        """Begin, Prepare (@dst on B) and Perform at 1 MiB/s: the mirror of
        64 MiB lasts, and its progress shows on the Job. Returns the Begin
        cookie, the job and the destination's NBD port."""
        xml, c1 = self.begin(path, flags)
        c2, uri, _ = self.prepare(xml.replace(src, dst), c1, flags)
        job = self.domain(path, "MigratePerform", "aysa{sv}u",
                          (c2, uri, {"bandwidth": GLib.Variant("t", 1)}, flags))
        eventually(lambda: self.domain(path, "GetJobStats", "u", (0,)).get("disk_processed", 0)
                   > 0, timeout=30, what="the disk copy to progress")
        return c1, job, nbd_port_of(c2)

    def qmp(self, path, command):
        return json.loads(self.domain(path, "QemuMonitorCommand", "s",
                                      (json.dumps({"execute": command}),)))["return"]

    def assert_no_mirror(self, path):
        """The source runs on its own images: no mirror, no NBD node left."""
        self.assertEqual(self.qmp(path, "query-block-jobs"), [])
        nodes = [n["node-name"] for n in self.qmp(path, "query-named-block-nodes")]
        self.assertFalse([n for n in nodes if n.startswith("migration-vda")], nodes)

    def writes(self):
        n = [int(line.split()[2]) for line in self.text().splitlines()
             if line.startswith("TINYGUEST: tgwrite ") and line.split()[2].isdigit()]
        return max(n) if n else -1

    def gone_or_shutoff(self, dpath):
        try:
            return self.state(dpath, conn=self.conn_b)[0] == "shutoff"
        except DBusCallError as e:
            return e.name == ERR + "NoDomain"

    def shutdown_and_check(self, dpath, image):
        """Clean shutdown on the destination, then every byte of @image."""
        before = self.writes()
        eventually(lambda: self.writes() >= before + 100, timeout=60,
                   what="the guest to write on at the destination")
        self.b(dpath, DOMAIN_IFACE, "Shutdown", "u", (0,))
        eventually(lambda: self.gone_or_shutoff(dpath), timeout=60,
                   what="the guest to power off")
        last = [line for line in self.text().splitlines()
                if line.startswith("TINYGUEST: tgwrite last ")]
        self.assertEqual(len(last), 1, self.text()[-2000:])
        n = int(last[0].split()[3])
        self.assertGreater(n, before)
        out = os.path.join(self.tmp, "check.raw")
        qemu_img("convert", "-O", "raw", image, out)
        with open(out, "rb") as f:
            got = f.read()
        want = expected_image(self.base, n)
        self.assertEqual(len(got), len(want))
        if got != want:
            bad = next(i for i in range(len(got)) if got[i] != want[i])
            self.fail(f"the destination image differs first at byte {bad} "
                      f"(block {bad // STRIDE}); last write {n}")
        return n

    def test_copy_all_client_driven(self):
        src, dst = self.images()
        path = self.start_disk_guest(src)
        flags = LIVE | NON_SHARED_DISK
        t0 = time.monotonic()
        xml, c1 = self.begin(path, flags)
        self.assertIn(b"<disk target='vda' capacity='%d'/>" % (DISK_MIB << 20), c1)
        c2, uri, dpath = self.prepare(xml.replace(src, dst), c1, flags)
        # the target was created (qcow2, same size) and is exported on a port of the range
        info = json.loads(subprocess.run(["qemu-img", "info", "-U", "--output=json", dst],
                                         check=True, capture_output=True).stdout)
        self.assertEqual((info["format"], info["virtual-size"]), ("qcow2", DISK_MIB << 20))
        self.assertIn(b"<nbd port=", c2)
        nbd_port = nbd_port_of(c2)
        self.assertFalse(port_free(nbd_port))
        job = self.domain(path, "MigratePerform", "aysa{sv}u", (c2, uri, {}, flags))
        res = self.wait_job(job)
        dpath2, c4 = self.b(MANAGER_PATH, MANAGER_IFACE, "MigrateFinish", "ayub",
                            (bytes(res["cookie"]), flags, False))
        self.domain(path, "MigrateConfirm", "ayub", (bytes(c4), flags, False))
        took = time.monotonic() - t0
        self.assertEqual(dpath2, dpath)
        self.assertEqual(self.state(path), ("shutoff", "migrated"))
        self.assertEqual(self.state(dpath, conn=self.conn_b), ("running", "migrated"))
        # the source stopped before its switch-over and the mirror ended there, while its
        # disks were still active (pause-before-switchover, as libvirt)
        self.assertIn("storage copy ended before the switch-over", self.service.read_log())
        # the mirror's work: the disk, plus what the guest wrote again meanwhile
        stats = self.domain(path, "GetJobStats", "u", (1,))
        self.assertGreaterEqual(stats["disk_total"], DISK_MIB << 20)
        self.assertEqual(stats["disk_processed"], stats["disk_total"])
        self.assertEqual(stats["disk_remaining"], 0)
        # the NBD server stopped and its port went back
        eventually(lambda: port_free(nbd_port), timeout=30, what="the NBD port to be free")
        self.assert_no_job(dpath, conn=self.conn_b)
        sys.stderr.write(f"\nstorage copy migration of a {DISK_MIB} MiB disk: {took:.2f} s\n")
        self.shutdown_and_check(dpath, dst)

        # the same guest back on shared storage, for the figures
        shared = os.path.join(self.shared, "vm1.qcow2")
        shutil.copy(dst, shared)
        open(self.serial, "w").close()
        path = self.start_disk_guest(shared)
        t0 = time.monotonic()
        dpath, _ = self.migrate_client_driven(path)
        sys.stderr.write(f"shared storage migration of the same guest: "
                         f"{time.monotonic() - t0:.2f} s\n")
        self.assertEqual(self.state(dpath, conn=self.conn_b), ("running", "migrated"))

    def test_cancel_while_mirroring(self):
        src, dst = self.images()
        path = self.start_disk_guest(src, write=False)
        with open(src, "rb") as f:
            before = f.read()
        flags = LIVE | NON_SHARED_DISK | SYNC_WRITES
        c1, job, nbd_port = self.slow_mirror(path, src, dst, flags)
        stats = self.domain(path, "GetJobStats", "u", (0,))
        self.assertEqual(stats["disk_total"], DISK_MIB << 20)
        self.assertLess(stats["disk_processed"], DISK_MIB << 20)
        self.assertEqual(self.get_prop(job, JOB_IFACE, "DataTotal"), DISK_MIB << 20)
        self.call(job, JOB_IFACE, "Cancel")
        with self.assertRaises(DBusCallError) as cm:
            self.wait_job(job)
        self.assertEqual(cm.exception.name, ERR + "Aborted", cm.exception.message)
        # the source runs on its own images: no mirror, no NBD node left
        self.assertEqual(self.state(path)[0], "running")
        self.assert_no_mirror(path)
        # the client cancels the destination: no domain, no NBD server or port, no image
        self.b(MANAGER_PATH, MANAGER_IFACE, "MigrateFinish", "ayub", (c1, flags, True))
        # Perform failed: the source's job ended with it (a Confirm finds nothing)
        self.assertDBusError("OperationInvalid", self.domain, path, "MigrateConfirm", "ayub",
                             (b"", flags, True))
        self.assertEqual(self.b(MANAGER_PATH, MANAGER_IFACE, "ListDomains", "u", (0,)), [])
        eventually(lambda: port_free(nbd_port), timeout=30, what="the NBD port to be free")
        self.assertFalse(os.path.exists(dst))
        self.assert_no_job(path)
        self.assert_guest_runs_on(self.conn, path)
        # the source disk is as it was (the guest does not write to it here)
        self.domain(path, "Destroy", "u", (0,))
        with open(src, "rb") as f:
            self.assertEqual(f.read(), before)

    def test_set_speed_relimits_the_mirrors(self):
        """MigrateSetMaxSpeed during the storage copy applies to the running
        mirrors too (block-job-set-speed), not only to QEMU's memory
        migration: lifted to unlimited, the copy that would need a minute
        more at 1 MiB/s ends at once."""
        src, dst = self.images()
        path = self.start_disk_guest(src, write=False)
        flags = LIVE | NON_SHARED_DISK
        c1, job, nbd_port = self.slow_mirror(path, src, dst, flags)
        self.domain(path, "MigrateSetMaxSpeed", "tu", (2, 0))
        self.assertEqual(self.domain(path, "MigrateGetMaxSpeed", "u", (0,)), 2)
        self.assertIn("the disk mirror drive-virtio-disk0 now copies at 2097152 bytes/s",
                      self.service.read_log())
        done = self.domain(path, "GetJobStats", "u", (0,))["disk_processed"]
        self.assertLess(done, 24 << 20)
        t0 = time.monotonic()
        self.domain(path, "MigrateSetMaxSpeed", "tu", (0, 0))
        self.assertIn("the disk mirror drive-virtio-disk0 now copies at 0 bytes/s",
                      self.service.read_log())
        res = self.wait_job(job, timeout=60)
        took = time.monotonic() - t0
        # at 2 MiB/s, the 40 MiB and more still to copy needed 20 s at least
        self.assertLess(took, 15, f"the copy took {took:.1f} s after the limit was lifted")
        dpath, c4 = self.b(MANAGER_PATH, MANAGER_IFACE, "MigrateFinish", "ayub",
                           (bytes(res["cookie"]), flags, False))
        self.domain(path, "MigrateConfirm", "ayub", (bytes(c4), flags, False))
        self.assertEqual(self.state(dpath, conn=self.conn_b), ("running", "migrated"))
        self.assertEqual(self.state(path), ("shutoff", "migrated"))
        eventually(lambda: port_free(nbd_port), timeout=30, what="the NBD port to be free")
        # the guest did not write: the destination's image holds the source's bytes
        subprocess.run(["qemu-img", "compare", "-U", src, dst], check=True,
                       stdout=subprocess.DEVNULL)
        sys.stderr.write(f"\nstorage copy after the limit was lifted: {took:.2f} s\n")

    def test_source_restart_while_mirroring(self):
        src, dst = self.images()
        path = self.start_disk_guest(src, write=False)
        flags = LIVE | NON_SHARED_DISK
        c1, job, nbd_port = self.slow_mirror(path, src, dst, flags)
        self.restart_source(path)
        self.assert_no_job(path)
        log = self.service.read_log()
        self.assertIn("the mirror drive-virtio-disk0 of the storage copy is cancelled", log)
        self.assert_no_mirror(path)
        self.b(MANAGER_PATH, MANAGER_IFACE, "MigrateFinish", "ayub", (c1, flags, True))
        self.assertEqual(self.b(MANAGER_PATH, MANAGER_IFACE, "ListDomains", "u", (0,)), [])
        eventually(lambda: port_free(nbd_port), timeout=30, what="the NBD port to be free")
        self.assertFalse(os.path.exists(dst))
        self.assert_guest_runs_on(self.conn, path)

    def test_destination_dies_while_mirroring(self):
        src, dst = self.images()
        path = self.start_disk_guest(src, write=False)
        flags = LIVE | NON_SHARED_DISK
        c1, job, nbd_port = self.slow_mirror(path, src, dst, flags)
        os.kill(self.qemu_pid(self.root_b), 9)
        # the mirror fails: the migration fails with the disk named, the source runs on
        with self.assertRaises(DBusCallError) as cm:
            self.wait_job(job)
        self.assertIn("migration of disk vda failed", cm.exception.message)
        self.assertEqual(self.state(path)[0], "running")
        self.assert_no_job(path)
        self.assert_no_mirror(path)
        # the destination: domain, port and the image it created are gone
        eventually(lambda: self.b(MANAGER_PATH, MANAGER_IFACE, "ListDomains", "u", (0,)) == [],
                   what="the incoming domain to go")
        eventually(lambda: port_free(nbd_port), timeout=30, what="the NBD port to be free")
        self.assertFalse(os.path.exists(dst))
        self.assert_guest_runs_on(self.conn, path)

    def test_refused(self):
        src, _ = self.images()
        path = self.start_disk_guest(src, write=False)
        for flags, err in ((LIVE | NON_SHARED_DISK | NON_SHARED_INC, "InvalidArgument"),
                           (LIVE | SYNC_WRITES, "InvalidArgument")):
            self.assertDBusError(err, self.domain, path, "MigrateBegin", "su", ("", flags))
        job_params = {"migrate_disks": GLib.Variant("as", ["vdz"])}
        job = self.domain(path, "Migrate", "sa{sv}u",
                          (self.bus_b.address, job_params, LIVE | PEER2PEER | NON_SHARED_DISK))
        with self.assertRaises(DBusCallError) as cm:
            self.wait_job(job)
        self.assertIn("vdz", cm.exception.message)
        self.assertDBusError("InvalidArgument", self.domain, path, "Migrate", "sa{sv}u",
                             (self.bus_b.address, {"migrate_disks": GLib.Variant("s", "vda")},
                              LIVE | PEER2PEER | NON_SHARED_DISK))
        # the destination cannot create the target of a block disk, nor an overlay
        # whose backing file it does not have: nothing is left behind
        xml, c1 = self.begin(path, LIVE | NON_SHARED_DISK)
        bad = xml.replace(f"type='file' device='disk'", "type='block' device='disk'").replace(
            f"file='{src}'", f"dev='{self.dir_b}/nodev'")
        e = self.assertDBusError("NotSupported", self.b, MANAGER_PATH, MANAGER_IFACE,
                                 "MigratePrepare", "saysu",
                                 (bad, c1, "tcp://127.0.0.1", LIVE | NON_SHARED_DISK))
        self.assertIn("block", e.message)
        self.assertEqual(self.b(MANAGER_PATH, MANAGER_IFACE, "ListDomains", "u", (0,)), [])
        self.assertEqual(os.listdir(self.dir_b), [])
        self.domain(path, "MigrateConfirm", "ayub", (b"", LIVE | NON_SHARED_DISK, True))
        self.assertEqual(self.state(path)[0], "running")
        self.assert_no_job(path)

    def test_postcopy_with_storage_copy(self):
        """POSTCOPY with a storage copy: the destination runs the guest from the switch
        to post-copy on, so the mirror must have ended before it (the source stops before
        its switch-over for that); ended after it, as before, it could still write the
        source's older blocks over what the guest wrote on the destination. The guest
        writes all along, dirties memory so that pre-copy never converges at 8 MiB/s,
        and every byte of the destination's image is checked after its shutdown there."""
        src, dst = self.images()
        path = self.start_disk_guest(src, extra="tgdirty=24", memory=192)
        eventually(lambda: "TINYGUEST: dirtying 24 MiB" in self.text(), timeout=60,
                   what="the guest to dirty memory")
        flags = LIVE | NON_SHARED_DISK | POSTCOPY
        xml, c1 = self.begin(path, flags)
        c2, uri, dpath = self.prepare(xml.replace(src, dst), c1, flags)
        job = self.domain(path, "MigratePerform", "aysa{sv}u",
                          (c2, uri, {"bandwidth": GLib.Variant("t", 8)}, flags))

        def start_postcopy():
            # refused until the memory transfer runs (after the mirror is ready)
            try:
                self.domain(path, "MigrateStartPostCopy", "u", (0,))
                return True
            except DBusCallError as e:
                self.assertEqual(e.name, ERR + "OperationInvalid", e.message)
                return False
        eventually(start_postcopy, timeout=60, what="the memory transfer to start")
        res = self.wait_job(job)
        eventually(lambda: self.state(dpath, conn=self.conn_b)[0] == "running", timeout=20,
                   what="the destination to run the guest at the switch to post-copy")
        log = self.service.read_log()
        # asked for post-copy, QEMU stopped before the switch and the mirror ended there
        self.assertLess(log.index("switching the migration to post-copy"),
                        log.index("storage copy ended before the switch-over"))
        self.assertIn("switched to post-copy: the guest runs here", self.service_b.read_log())
        dpath2, c4 = self.b(MANAGER_PATH, MANAGER_IFACE, "MigrateFinish", "ayub",
                            (bytes(res["cookie"]), flags, False))
        self.assertEqual(dpath2, dpath)
        self.domain(path, "MigrateSetMaxSpeed", "tu", (0, 0))
        self.domain(path, "MigrateConfirm", "ayub", (bytes(c4), flags, False))
        self.assertEqual(self.state(path), ("shutoff", "migrated"))
        self.assertEqual(self.state(dpath, conn=self.conn_b)[0], "running")
        self.shutdown_and_check(dpath, dst)

    def test_incremental_p2p(self):
        base = os.path.join(self.shared, "base.raw")
        shutil.copy(self.base_raw, base)
        src = os.path.join(self.dir_a, "top.qcow2")
        dst = os.path.join(self.dir_b, "top.qcow2")
        qemu_img("create", "-q", "-f", "qcow2", "-b", base, "-F", "raw", src)
        path = self.start_disk_guest(src)
        xml = self.domain(path, "GetXMLDesc", "u", (0,))
        t0 = time.monotonic()
        job = self.domain(path, "Migrate", "sa{sv}u",
                          (self.bus_b.address,
                           {"migrate_uri": GLib.Variant("s", "tcp://127.0.0.1"),
                            "destination_xml": GLib.Variant("s", xml.replace(src, dst)),
                            "migrate_disks": GLib.Variant("as", ["vda"])},
                           LIVE | PEER2PEER | NON_SHARED_INC))
        res = self.wait_job(job)
        took = time.monotonic() - t0
        dpath = res["domain"]
        self.assertEqual(self.state(path), ("shutoff", "migrated"))
        self.assertEqual(self.state(dpath, conn=self.conn_b), ("running", "migrated"))
        info = json.loads(subprocess.run(["qemu-img", "info", "-U", "--output=json", dst],
                                         check=True, capture_output=True).stdout)
        self.assertEqual(info["backing-filename"], base)
        # only the top image moved: far less than the disk
        stats = self.domain(path, "GetJobStats", "u", (1,))
        self.assertLess(stats["disk_total"], DISK_MIB << 20)
        sys.stderr.write(f"\nNON_SHARED_INC p2p migration ({DISK_MIB} MiB base, top "
                         f"{stats['disk_total'] >> 10} KiB): {took:.2f} s\n")
        self.shutdown_and_check(dpath, dst)
        # the base was only read
        with open(base, "rb") as f:
            self.assertEqual(f.read(), self.base)


if __name__ == "__main__":
    vbtest.main()
