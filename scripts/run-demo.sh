#!/bin/sh
# The main job (README): install what is missing, build, then run virtbusd
# on a private dbus-daemon with a temporary state root, define a first
# domain and show it through the bus. Nothing outside the temporary
# directory is changed. Ctrl-C stops everything; with --once it stops by
# itself after showing the domain.
set -eu
cd "$(dirname "$0")/.."
SRC=$(pwd)
BUILD=${VB_BUILDDIR:-$SRC/build}
ONCE=0
[ "${1:-}" = "--once" ] && ONCE=1

./scripts/install-deps.sh
[ -f "$BUILD/build.ninja" ] || meson setup "$BUILD"
ninja -C "$BUILD"

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
  </os>
  <devices>
    <emulator>$(command -v qemu-system-x86_64 || echo /usr/bin/qemu-system-x86_64)</emulator>
    <serial type='pty'/>
    <console type='pty'/>
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

if [ "$ONCE" -eq 1 ]; then
    exit 0
fi
echo "== try it: export VIRTBUS_BUS_ADDRESS='$ADDR'; $BUILD/client/virtbusctl list --all"
echo "== Ctrl-C to stop (the temporary state is removed)"
wait "$VB_PID"
