#!/bin/sh
# The main job (README): install what is missing, build (with the tiny test
# guest), then run virtbusd on a private dbus-daemon with a temporary state
# root, define the guest, boot it, show it running through virtbusctl and
# busctl, and shut it down through ACPI. Nothing outside the temporary
# directory is changed. Then it keeps serving until Ctrl-C; with --once it
# stops by itself.
set -eu
cd "$(dirname "$0")/.."
SRC=$(pwd)
BUILD=${VB_BUILDDIR:-$SRC/build}
ONCE=0
[ "${1:-}" = "--once" ] && ONCE=1

./scripts/install-deps.sh
[ -f "$BUILD/build.ninja" ] || meson setup "$BUILD"
ninja -C "$BUILD"
ninja -C "$BUILD" tests/guest/vmlinux
GUEST="$BUILD/tests/guest"

TMP=$(mktemp -d /tmp/virtbus-demo.XXXXXX)
chmod 755 "$TMP"
mkdir -p "$TMP/bus" "$TMP/root"
sed -e "s|@SOCKET@|$TMP/bus/system_bus_socket|" \
    -e "s|@POLICY@|$SRC/data/org.virtbus.Virt1.conf|" \
    tests/bus/system.conf.in > "$TMP/bus/system.conf"

cleanup() {
    [ -n "${VB_PID:-}" ] && kill "$VB_PID" 2>/dev/null && wait "$VB_PID" 2>/dev/null
    [ -n "${BUS_PID:-}" ] && kill "$BUS_PID" 2>/dev/null
    rm -rf "$TMP"
}
trap cleanup EXIT INT TERM

dbus-daemon --config-file "$TMP/bus/system.conf" --nofork --print-address=3 \
    3>"$TMP/bus/address" &
BUS_PID=$!
while [ ! -s "$TMP/bus/address" ]; do sleep 0.05; done
ADDR=$(head -n1 "$TMP/bus/address")
export VIRTBUS_BUS_ADDRESS="$ADDR"

"$BUILD/service/virtbusd" --bus-address "$ADDR" --root "$TMP/root" \
    >"$TMP/virtbusd.log" 2>&1 &
VB_PID=$!
i=0
until busctl --address "$ADDR" status org.virtbus.Virt1 >/dev/null 2>&1; do
    i=$((i + 1))
    if [ $i -gt 200 ] || ! kill -0 "$VB_PID" 2>/dev/null; then
        echo "virtbusd did not start:" >&2
        cat "$TMP/virtbusd.log" >&2
        exit 1
    fi
    sleep 0.05
done

cat > "$TMP/demo.xml" <<XML
<domain type='qemu'>
  <name>demo</name>
  <memory unit='MiB'>128</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='q35'>hvm</type>
    <kernel>$GUEST/vmlinux</kernel>
    <initrd>$GUEST/initrd.img</initrd>
    <cmdline>$(cat "$GUEST/cmdline")</cmdline>
  </os>
  <devices>
    <emulator>$(command -v qemu-system-x86_64 || echo /usr/bin/qemu-system-x86_64)</emulator>
    <serial type='file'>
      <source path='$TMP/demo-serial.log'/>
    </serial>
  </devices>
</domain>
XML

echo "== virtbusd serving on $ADDR (state under $TMP/root)"
echo "== busctl call ... DefineXML"
busctl --address "$ADDR" call org.virtbus.Virt1 /org/virtbus/Virt1 \
    org.virtbus.Virt1.Manager DefineXML su "$(cat "$TMP/demo.xml")" 0
if [ -x "$BUILD/client/virtbusctl" ]; then
    echo "== virtbusctl list --all"
    "$BUILD/client/virtbusctl" --address "$ADDR" list --all
    echo "== virtbusctl info demo"
    "$BUILD/client/virtbusctl" --address "$ADDR" info demo
fi
echo "== busctl tree / introspect"
busctl --address "$ADDR" tree org.virtbus.Virt1
P=$(busctl --address "$ADDR" call org.virtbus.Virt1 /org/virtbus/Virt1 \
    org.virtbus.Virt1.Manager LookupByName s demo | cut -d'"' -f2)
busctl --address "$ADDR" introspect org.virtbus.Virt1 "$P" org.virtbus.Virt1.Domain

CTL="$BUILD/client/virtbusctl --address $ADDR"
echo "== virtbusctl start demo"
$CTL start demo
i=0
until grep -q "TINYGUEST: READY" "$TMP/demo-serial.log" 2>/dev/null; do
    i=$((i + 1)); [ $i -gt 600 ] && { echo "the guest did not boot" >&2; exit 1; }
    sleep 0.1
done
echo "== the guest booted:"; grep TINYGUEST "$TMP/demo-serial.log"
$CTL list
$CTL domstate --reason demo
echo "== virtbusctl shutdown demo (ACPI power button)"
$CTL shutdown demo
i=0
until [ "$($CTL domstate demo)" = "shutoff" ]; do
    i=$((i + 1)); [ $i -gt 300 ] && { echo "the guest did not power off" >&2; exit 1; }
    sleep 0.1
done
$CTL domstate --reason demo
$CTL list --all

if [ "$ONCE" -eq 1 ]; then
    exit 0
fi
echo "== try it: export VIRTBUS_BUS_ADDRESS='$ADDR'; $BUILD/client/virtbusctl list --all"
echo "== Ctrl-C to stop (the temporary state is removed)"
wait "$VB_PID"
