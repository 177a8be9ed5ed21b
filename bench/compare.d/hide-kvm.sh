#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# Run by bench/compare inside `unshare --mount --propagation private`:
#   hide-kvm.sh WORKDIR COMMAND...
# Replaces /dev, in this mount namespace only, by a tmpfs holding the same
# nodes and links except kvm, with fresh devpts and shm mounts, then execs COMMAND (so its pid is
# the one the caller started). The host's /dev is never changed. See
# kvm_confuses_libvirt() in bench/compare for why.
set -eu
work=$1; shift
old="$work/olddev"
mkdir -p "$old"
# drop the host's submounts of /dev in this namespace (fresh ones below), so
# /proc/mounts lists each of /dev/pts, /dev/shm once
while subs=$(awk '$5 ~ "^/dev/" {print $5}' /proc/self/mountinfo | sort -r) && [ -n "$subs" ]; do
    for m in $subs; do umount -l "$m" 2>/dev/null || true; done
done
mount --bind /dev "$old"
mount -t tmpfs -o mode=0755,nosuid vbcmp-dev /dev
cd "$old"
for f in * .[!.]*; do
    [ -e "$f" ] || [ -L "$f" ] || continue
    [ "$f" = kvm ] && continue
    case "$f" in
        pts|shm|mqueue|ptmx) continue ;;    # fresh instances below
    esac
    cp -a "$f" /dev/
done
cd /
umount -l "$old"
rmdir "$old" 2>/dev/null || true
# single, fresh mounts: libvirt moves the submounts of /dev into each QEMU's
# own /dev, which fails (EINVAL) for bind mounts stacked from the host's
mkdir -p /dev/pts /dev/shm
mount -t devpts -o newinstance,ptmxmode=0666,mode=0620 devpts /dev/pts
ln -s pts/ptmx /dev/ptmx
mount -t tmpfs -o mode=1777,nosuid,nodev shm /dev/shm
exec "$@"
