#!/bin/sh
# Install every Debian 12 package virtbus needs to build, test and run.
# Safe to run again; does nothing that is already done.
set -eu
# openssh-server: the sshd of the test hosts (tests/integration/vbhosts.py starts its own,
# with its own config); openssh-client: virtbusctl -H / --connect and peer-to-peer migration
# virtiofsd: Debian 12 ships it in qemu-system-common (/usr/lib/qemu/virtiofsd)
# dnsmasq-base, nftables: virtual networks (DHCP/DNS, NAT); passt: type='user' with
# <portForward>; iperf3: bench/net; busybox: udhcpc and nslookup as DHCP/DNS clients in the
# dnsmasq tests
# systemd-container: systemd-nspawn boots the real systemd of tests/systemd
# iproute2 (tc), nftables (nft): service/netdev's bandwidth and firewall; its links go
# through rtnetlink directly, no library needed
# cockpit-ws, cockpit-bridge, chromium, fonts-dejavu-core: the Cockpit page's browser tests
# (tests/cockpit: Debian's Cockpit serves the page to headless Chromium)
# libpolkit-gobject-1-dev: its polkit-gobject-1.pc names polkit's action directory, which
# tests/install checks the installed actions against
PKGS="
  meson ninja-build pkg-config gcc clang libclang-rt-14-dev
  libglib2.0-dev libglib2.0-bin libxml2-dev libxml2-utils libjson-glib-dev
  polkitd libpolkit-gobject-1-dev
  dbus dbus-daemon python3 python3-dbus python3-gi python3-cryptography
  gettext util-linux procps systemd qemu-system-x86 zstd scdoc strace
  qemu-utils qemu-block-extra swtpm swtpm-tools ovmf openssl iproute2
  openssh-server openssh-client systemd-container
  dnsmasq-base nftables passt iperf3 busybox
  cockpit-ws cockpit-bridge chromium fonts-dejavu-core
"
# virtiofs shares run virtiofsd: Debian's virtiofsd package (/usr/libexec/virtiofsd) where
# the archive has it, else the C one qemu-system-common ships (/usr/lib/qemu/virtiofsd).
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' \
        || missing="$missing $p"
done
if [ -n "$missing" ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "install-deps: need root to install:$missing" >&2
        exit 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q --no-install-recommends $missing
fi
# The user QEMU runs as under the system service (data/virtbus-sysusers.conf): the DAC tests
# (tests/integration/test_dac.py) run QEMU as it. systemd-sysusers works without systemd as
# PID 1; it changes nothing when the user and group exist.
if [ "$(id -u)" -eq 0 ] && ! getent passwd virtbus-qemu >/dev/null; then
    systemd-sysusers "$(cd "$(dirname "$0")/.." && pwd)/data/virtbus-sysusers.conf"
fi
# The Cockpit page's npm packages (React, PatternFly, esbuild; cockpit/package-lock.json)
# for meson's -Dcockpit (auto: the page is built when they are there). Node.js and npm are
# the machine's; without them, or without the npm registry, the page is not built and
# everything else is.
COCKPIT_DIR="$(cd "$(dirname "$0")/.." && pwd)/cockpit"
if command -v npm >/dev/null 2>&1; then
    if [ ! -f "$COCKPIT_DIR/node_modules/.package-lock.json" ] ||
       ! cmp -s "$COCKPIT_DIR/package-lock.json" "$COCKPIT_DIR/node_modules/.vb-lock"; then
        if (cd "$COCKPIT_DIR" && npm ci --no-audit --no-fund --loglevel=error); then
            cp "$COCKPIT_DIR/package-lock.json" "$COCKPIT_DIR/node_modules/.vb-lock"
        else
            echo "install-deps: npm ci in cockpit/ failed: the Cockpit page will not be built" >&2
        fi
    fi
else
    echo "install-deps: no npm: the Cockpit page will not be built" >&2
fi
