#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# Run by bench/compare inside `unshare --mount --propagation private`:
#   runtime-tmpfs.sh DIR COMMAND...
# Mounts a fresh tmpfs on DIR, in this mount namespace only, then execs
# COMMAND (so its pid is the one the caller started). A service's runtime
# files (status XML, sockets, pid files) live on a tmpfs on an installed
# system (/run); this gives the benchmark's services the same without
# touching the host's mounts. The tmpfs goes away with the namespace's last
# process.
set -eu
dir=$1; shift
mkdir -p "$dir"
mount -t tmpfs -o mode=0755,nosuid,nodev,size=1g vbcmp-run "$dir"
exec "$@"
