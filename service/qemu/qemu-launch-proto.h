/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* What the service (qemu-launch.c) and the launcher (qemu-launcher.c) say to each other. */

/*
 * The protocol on the socket (SOCK_SEQPACKET: one message each):
 *   service -> launcher: the spec, a GVariant (SPEC_TYPE) in normal form;
 *   launcher -> service: "R" ready, or "E<errno> <what failed>" and it exits;
 *   service -> launcher: "G" go (anything else, or EOF: the launcher exits);
 *   launcher -> service: nothing (the socket is close-on-exec: EOF means QEMU runs),
 *                        or "X<errno>" when the exec failed.
 * The fds reach the launcher at their final numbers through the spawn itself (GLib's
 * fd mapping, made for multi-threaded parents); the spec names them, the launcher closes
 * every other one.
 */
#define SPEC_TYPE "(aayaayaibuuaubaay)"
#define SPEC_MAX (1024 * 1024)
