#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""An emulator that speaks broken QMP, for test_qemu_faults.py.

The test copies this file to DIR/qemu-system-MODE and names it as a domain's <emulator>.
The capability probe (-machine none ... -qmp, -audiodev help) runs the real QEMU; a
domain start serves the monitor socket of -chardev ...,fd=N,server=on (the service's
listening socket; path=P: its own) and, by MODE:
  garbage   the greeting, then a line that is not JSON for each command
  wrongid   the greeting, qmp_capabilities answered, then every reply with a wrong id
  endless   the greeting, then one line that never ends
  exit      a message on stderr and exit status 1, before the monitor exists
"""

import os
import socket
import sys
import time

REAL = "/usr/bin/qemu-system-x86_64"
GREETING = (b'{"QMP": {"version": {"qemu": {"micro": 0, "minor": 2, "major": 7}, '
            b'"package": ""}, "capabilities": []}}\r\n')


def arg_after(argv, opt):
    for i, a in enumerate(argv[:-1]):
        if a == opt:
            yield argv[i + 1]


def main():
    argv = sys.argv[1:]
    if "-qmp" in argv or "help" in argv or "-version" in argv or "--version" in argv:
        os.execv(REAL, [REAL] + argv)
    mode = os.path.basename(sys.argv[0]).rpartition("-")[2]
    if mode == "exit":
        sys.stderr.write("fake-emulator: cannot initialise the frobnicator\n")
        sys.exit(1)
    for pidfile in arg_after(argv, "-pidfile"):
        with open(pidfile, "w") as f:
            f.write(f"{os.getpid()}\n")
    path = fd = None
    for spec in arg_after(argv, "-chardev"):
        opts = dict(kv.partition("=")[::2] for kv in spec.split(",")[1:])
        if "id=charmonitor" in spec:
            path = opts.get("path")
            fd = opts.get("fd")
    if path is None and fd is None:
        sys.stderr.write("fake-emulator: no monitor socket on the command line\n")
        sys.exit(1)
    if fd is not None:
        # the service bound and listens on the socket itself (issue 16): fd=N
        srv = socket.socket(fileno=int(fd))
    else:
        srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        srv.bind(path)
        srv.listen(1)
    conn, _ = srv.accept()
    conn.sendall(GREETING)
    f = conn.makefile("rb")
    if mode == "endless":
        chunk = b'{"return": "' + b"a" * 65536
        try:
            while True:
                conn.sendall(chunk)
                chunk = b"a" * 65536
        except OSError:
            return
    n = 0
    for line in f:
        n += 1
        import json
        try:
            cmd = json.loads(line)
        except ValueError:
            continue
        cid = json.dumps(cmd.get("id"))
        if mode == "garbage":
            conn.sendall(b"}}} this is not JSON {{{\r\n")
        elif mode == "wrongid":
            if cmd.get("execute") == "qmp_capabilities":
                conn.sendall(b'{"return": {}, "id": ' + cid.encode() + b"}\r\n")
            else:
                conn.sendall(b'{"return": {}, "id": "wrong-%d"}\r\n' % n)
    time.sleep(0)


if __name__ == "__main__":
    main()
