/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/*
 * Deepest array/object nesting accepted in JSON from a caller or from QEMU.
 * json-glib's parser (and its generator, json_node_copy() and the node
 * destructors) recurse once per level, ~160 bytes of stack each (measured
 * with json-glib 1.6: "[" * 58000 overflows an 8 MiB stack), so
 * unbounded input overflows any thread's stack. 1024 is the limit QEMU
 * itself applies to what it reads (MAX_NESTING in qobject/json-streamer.c),
 * so no command QEMU would accept is refused; no QMP reply or event of QEMU
 * 7.2's schema nests deeper than about ten levels. 1024 levels need about
 * 170 KiB of stack; every thread of virtbusd has 8 MiB (docs/threads.md).
 */
#define VB_QEMU_JSON_MAX_DEPTH 1024

typedef enum {
    VB_QEMU_JSON_CHECK_OK,
    VB_QEMU_JSON_CHECK_TOO_DEEP,   /* nested deeper than the limit */
    VB_QEMU_JSON_CHECK_NOT_STRICT, /* a byte outside strings that strict JSON does not allow */
} VbQemuJsonCheck;

VbQemuJsonCheck vb_qemu_json_check(const char *text, gsize len, guint max_depth,
                                   gsize *out_offset);

G_END_DECLS
