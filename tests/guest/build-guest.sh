#!/bin/bash
# build-guest.sh OUTDIR -- build virtbus's tiny Linux test guest into OUTDIR.
#
# Outputs (see README.md in this directory for how tests boot them):
#   vmlinux      Debian 12's stock kernel as an uncompressed ELF.  It has a PVH
#                entry point, so `qemu -kernel vmlinux` boots it directly and
#                the guest does not spend ~2.6 s of TCG time decompressing xz.
#   initrd.img   gzip'd cpio: busybox-static, qemu-ga plus its libraries, iperf3 (+libs), a few
#                kernel modules, /init, /sbin/tg-poweroff, /sbin/shutdown,
#                /sbin/tg-udhcpc (udhcpc's script).
#   cmdline      the kernel command line to boot it with.
#   kernel-version, guest.stamp   bookkeeping.
#
# Nothing guest-side is installed on the host: the kernel, busybox-static,
# qemu-guest-agent and qemu-ga's libraries are fetched with `apt-get download`
# and only unpacked with `dpkg-deb -x`.  Host tools that are missing (cpio,
# kmod, xz-utils, gzip) are apt-installed; `apt-get update` runs only when a
# package cannot be found.  Needs root for that (or everything already present).
#
# Repeated calls are cheap: OUTDIR/guest.stamp records the package versions
# used and a hash of this script and of rootfs/, and when it matches and the
# outputs exist, the script only touches the outputs (for ninja) and exits.
# Downloaded .debs are kept in OUTDIR/.debs so that a rebuild after editing
# /init does not download the kernel again.
set -euo pipefail

OUT=${1:?usage: $0 OUTDIR}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOTFS=$HERE/rootfs               # files copied verbatim into the initramfs
CMDLINE="console=ttyS0 quiet panic=-1 cryptomgr.notests"
OUTPUTS="vmlinux initrd.img cmdline"

mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
T0=$(date +%s.%N)
log() { echo "[tiny-guest] $*" >&2; }
elapsed() { awk -v a="$T0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }

# One build at a time per OUTDIR (meson, a developer and a test may race).
exec 9>"$OUT/.lock"
flock 9

export DEBIAN_FRONTEND=noninteractive
APT_OPTS=(-y -q --no-install-recommends -o DPkg::Lock::Timeout=300)
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'ok installed'; }
UPDATED=
apt_update() {   # at most once per run
  [ -n "$UPDATED" ] && return 0
  log "apt-get update"
  apt-get update -q >/dev/null
  UPDATED=1
}

# ------------------------------------------------------------ what to build
# One apt-cache call (~0.7 s; Debian's docker images keep no pkgcache.bin, so
# every call re-reads the package lists) gives all versions the stamp needs.
# linux-image-amd64 is a metapackage that depends on the real kernel package,
# e.g. "Depends: linux-image-6.1.0-56-amd64 (= 6.1.192-2)".
# pkginfo PKG FIELD: FIELD of PKG's candidate version in $INFO
pkginfo() { awk -v p="$1" -v f="$2:" '$1 == "Package:" { cur = $2 } cur == p && $1 == f { sub(/^[^ ]+ /, ""); print; exit }' <<<"$INFO"; }
# iperf3 (bench/net's guest-to-host TCP stream) with its libraries: libiperf0, libsctp1 and
# libcrypto (from libssl3); ~1.9 MiB more gzip'd initrd
IPERF_PKGS="iperf3 libiperf0 libsctp1 libssl3"
query() { INFO=$(apt-cache show --no-all-versions linux-image-amd64 busybox-static qemu-guest-agent $IPERF_PKGS 2>/dev/null || true); }
query
[ -n "$(pkginfo qemu-guest-agent Version)" ] && [ -n "$(pkginfo busybox-static Version)" ] || { apt_update; query; }
KPKG=$(pkginfo linux-image-amd64 Depends | grep -o 'linux-image-[0-9][^ ,]*' | head -1 || true)
[ -n "$KPKG" ] || { log "cannot resolve linux-image-amd64 (apt-cache show)"; exit 1; }
KVERSION=$(pkginfo linux-image-amd64 Version)  # the metapackage pins the kernel package to its own version
KVER=${KPKG#linux-image-}         # the module directory name, e.g. 6.1.0-56-amd64
declare -A VERSION=([$KPKG]=$KVERSION [busybox-static]=$(pkginfo busybox-static Version)
                    [qemu-guest-agent]=$(pkginfo qemu-guest-agent Version))
for p in $IPERF_PKGS; do VERSION[$p]=$(pkginfo "$p" Version); done
GUEST_PKGS="$KPKG busybox-static qemu-guest-agent $IPERF_PKGS"

HASH=$(cd "$HERE" && { cat build-guest.sh; find rootfs -type f | LC_ALL=C sort | while read -r f; do
         echo "$f $(stat -c %a "$f")"; cat "$f"; done; } | sha256sum | cut -d' ' -f1)
STAMP="hash $HASH"
for p in $GUEST_PKGS; do STAMP="$STAMP
$p ${VERSION[$p]}"; done

uptodate=1
for f in $OUTPUTS; do [ -s "$OUT/$f" ] || uptodate=; done
if [ -n "$uptodate" ] && [ "$(cat "$OUT/guest.stamp" 2>/dev/null)" = "$STAMP" ]; then
  (cd "$OUT" && touch $OUTPUTS)   # ninja may have called us because an input's mtime changed
  log "up to date in $OUT"
  exit 0
fi
log "building into $OUT (kernel package $KPKG)"

WORK=$(mktemp -d "$OUT/.work.XXXXXX")   # inside OUT: final files are moved, not copied
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"

# ------------------------------------------------------------ host tools
missing=
for p in cpio kmod xz-utils gzip; do installed "$p" || missing="$missing $p"; done
if [ -n "$missing" ]; then
  log "installing host tools:$missing"
  apt-get install "${APT_OPTS[@]}" $missing >/dev/null 2>&1 ||
    { apt_update; apt-get install "${APT_OPTS[@]}" $missing >/dev/null; }
fi
# depmod/modprobe live in /sbin, which is not always in a non-root PATH
PATH=$PATH:/usr/sbin:/sbin

# ------------------------------------------------------------ guest packages
# fetch PKG...: download each .deb into $OUT/.debs (kept across builds) unless
# that version is already there.  apt-get download warns "Download is
# performed unsandboxed" as root; harmless.
DEBS=$OUT/.debs
mkdir -p "$DEBS"
# (.deb names encode the epoch colon as %3a)
pkg_version() { [ -n "${VERSION[$1]:-}" ] || VERSION[$1]=$(apt-cache show --no-all-versions "$1" 2>/dev/null | awk '/^Version:/ { print $2; exit }'); echo "${VERSION[$1]}"; }
deb_of() { ls "$DEBS/$1"_*.deb 2>/dev/null | grep -F "_$(pkg_version "$1" | sed 's/:/%3a/')_" | head -1; }
fetch() {
  local p
  for p in "$@"; do
    [ -n "$(deb_of "$p")" ] && continue
    rm -f "$DEBS/$p"_*.deb     # an older version
    (cd "$DEBS" && { apt-get download -q "$p" >/dev/null 2>&1 || { apt_update; apt-get download -q "$p" >/dev/null; }; })
    [ -n "$(deb_of "$p")" ] || { log "download of $p failed"; exit 1; }
  done
}
# qemu-ga's libraries: its direct Depends (glib, numa, udev, uring) are
# always taken from their .debs, whatever the host has installed; their own
# dependencies (pcre2, ...) and libc6 (libc, ld.so) come from the host when
# installed there (same Debian 12 build), else from their .debs too.
deps_of() { apt-cache depends "$@" 2>/dev/null | awk '$1 == "Depends:" && $2 !~ /^</ { print $2 }' | sort -u; }
fetch $GUEST_PKGS
QGA_DEPS=$(pkginfo qemu-guest-agent Depends | tr ',' '\n' | sed 's/(.*//; s/|.*//; s/ //g' | grep -vx 'libc6\|' || true)
LIBPKGS=$QGA_DEPS
for p in $(deps_of $QGA_DEPS); do
  case " $QGA_DEPS " in *" $p "*) continue ;; esac
  case "$p" in libc6 | libgcc-s1 | debconf* | dpkg | *-common | *-data) continue ;; esac
  installed "$p" && continue
  LIBPKGS="$LIBPKGS $p"
done
LIBPKGS=$(echo $LIBPKGS)
# their candidate versions, in one apt-cache call
while read -r p v; do VERSION[$p]=$v; done < <(apt-cache show --no-all-versions $LIBPKGS 2>/dev/null |
  awk '$1 == "Package:" { p = $2 } $1 == "Version:" { print p, $2 }')
fetch $LIBPKGS
log "packages ready after $(elapsed) s (qemu-ga libraries from: $LIBPKGS)"

# ------------------------------------------------------------ kernel
mkdir k sysroot
dpkg-deb --fsys-tarfile "$(deb_of "$KPKG")" |
  tar -x -C k --wildcards "./boot/vmlinuz-$KVER" "./lib/modules/$KVER/*"
# The bzImage payload is a single xz stream (CONFIG_KERNEL_XZ).  Write it to a
# file first: `tail | xz` fails under pipefail because tail gets SIGPIPE when
# xz stops at the end of the stream.  --single-stream ignores the bytes after.
off=$(LC_ALL=C grep -abo -m1 -P '\xFD7zXZ\x00' "k/boot/vmlinuz-$KVER" | head -1 | cut -d: -f1)
[ -n "$off" ] || { log "no xz stream in vmlinuz-$KVER"; exit 1; }
tail -c +$((off + 1)) "k/boot/vmlinuz-$KVER" > payload.xz
xz -dc --single-stream payload.xz > vmlinux
rm payload.xz
[ "$(head -c 4 vmlinux | od -An -tx1 | tr -d ' ')" = 7f454c46 ] || { log "vmlinux is not an ELF file"; exit 1; }
depmod -b "$WORK/k" "$KVER"      # Debian ships no modules.dep; modprobe needs it

# ------------------------------------------------------------ initramfs tree
R=$WORK/initramfs
mkdir -p "$R"/{bin,sbin,usr/bin,usr/sbin,etc,proc,sys,dev,run,tmp,mnt,root,lib/modules,var}
ln -s ../run "$R/var/run"

# modgroup GROUP MODULE...: copy the modules and everything they need
# (softdeps included) into /lib/modules and list them in load order in
# /etc/modules.GROUP; /init insmods a group with `loadmods GROUP`.
modgroup() {
  local g=$1; shift
  for m in "$@"; do
    modprobe -d "$WORK/k" -S "$KVER" --show-depends "$m" | awk '$1 == "insmod" { print $2 }'
  done | awk '!seen[$0]++' | while read -r ko; do
    cp "$ko" "$R/lib/modules/"
    basename "$ko"
  done > "$R/etc/modules.$g"
}
modgroup input evdev button                          # ACPI power button as /dev/input/eventN
modgroup base virtio_pci virtio_console virtio_blk virtio_balloon  # virtio-serial for qemu-ga; virtio disks; the balloon reports memory statistics
modgroup scsi virtio_scsi sr_mod sd_mod             # cdroms and disks on virtio-scsi
modgroup fs ext4                                     # only loaded when a disk exists
modgroup virtiofs virtiofs                           # only with tgmount=virtiofs:TAG
modgroup 9p 9p 9pnet_virtio                          # only with tgmount=9p:TAG
modgroup net virtio_net                              # only with a virtio NIC (eth0, DHCP)
modgroup watchdog i6300esb                           # only with an i6300esb watchdog device
modgroup usb uhci_hcd ehci_pci xhci_pci ftdi_sio     # only with a USB controller: usb-serial (QEMU's is an FTDI)
# (the TPM drivers tpm_tis and tpm_crb are built into Debian's kernel.)
# (8250 serial, devtmpfs, unix sockets and ACPI are built into Debian's kernel.)

# busybox-static, with a link for every applet except shutdown (ours is below)
dpkg-deb -x "$(deb_of busybox-static)" bb
cp bb/bin/busybox "$R/bin/busybox"
for a in $(bb/bin/busybox --list); do
  case "$a" in busybox | shutdown) ;; *) ln -sf busybox "$R/bin/$a" ;; esac
done
# qemu-ga's guest-set-time runs /sbin/hwclock (-w after setting the time, -s for SYNC)
ln -sf ../bin/busybox "$R/sbin/hwclock"

# qemu-ga and the shared libraries it needs: resolved with ldd, preferring the
# unpacked library packages, else the host's (libc, ld.so and base libraries).
dpkg-deb -x "$(deb_of qemu-guest-agent)" qga
for p in $LIBPKGS; do dpkg-deb -x "$(deb_of "$p")" sysroot; done
cp qga/usr/sbin/qemu-ga "$R/usr/sbin/qemu-ga"
LIBPATH=$WORK/sysroot/lib/x86_64-linux-gnu:$WORK/sysroot/usr/lib/x86_64-linux-gnu
if LD_LIBRARY_PATH=$LIBPATH ldd qga/usr/sbin/qemu-ga | grep 'not found'; then
  log "qemu-ga: unresolved libraries"; exit 1
fi
LD_LIBRARY_PATH=$LIBPATH ldd qga/usr/sbin/qemu-ga |
  awk '/=> \// { print $3 } /^\t\/.*ld-linux/ { print $1 }' | while read -r lib; do
    dest=${lib#"$WORK/sysroot"}        # library from an unpacked package: its guest path
    mkdir -p "$R$(dirname "$dest")"
    cp -L "$lib" "$R$dest"
  done
# iperf3 the same way, its libraries from their unpacked .debs
for p in $IPERF_PKGS; do dpkg-deb -x "$(deb_of "$p")" sysroot; done
cp sysroot/usr/bin/iperf3 "$R/usr/bin/iperf3"
if LD_LIBRARY_PATH=$LIBPATH ldd sysroot/usr/bin/iperf3 | grep 'not found'; then
  log "iperf3: unresolved libraries"; exit 1
fi
LD_LIBRARY_PATH=$LIBPATH ldd sysroot/usr/bin/iperf3 |
  awk '/=> \// { print $3 }' | while read -r lib; do
    dest=${lib#"$WORK/sysroot"}
    [ -e "$R$dest" ] && continue
    mkdir -p "$R$(dirname "$dest")"
    cp -L "$lib" "$R$dest"
  done
# the loader path baked into the binary
[ -e "$R/lib64/ld-linux-x86-64.so.2" ] || { mkdir -p "$R/lib64"; cp -L /lib64/ld-linux-x86-64.so.2 "$R/lib64/"; }

# /init, /sbin/tg-poweroff, /sbin/shutdown, /sbin/tg-udhcpc
cp -a "$ROOTFS/." "$R/"
echo 'root:x:0:0:root:/root:/bin/sh' > "$R/etc/passwd"
echo 'root:x:0:' > "$R/etc/group"

(cd "$R" && find . -print0 | LC_ALL=C sort -z | cpio --null -o -H newc --owner=0:0 --quiet) |
  gzip -6 -n > initrd.img
echo "$CMDLINE" > cmdline
echo "$KPKG" > kernel-version

# ------------------------------------------------------------ publish
# Move the results in place, the stamp last: an interrupted build is redone.
rm -f "$OUT/guest.stamp"
mv vmlinux initrd.img cmdline kernel-version "$OUT/"
echo "$STAMP" > "$OUT/guest.stamp"
log "done in $(elapsed) s: vmlinux $(du -h --apparent-size "$OUT/vmlinux" | cut -f1), initrd.img $(du -h "$OUT/initrd.img" | cut -f1)"
