/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/*
 * The stack size of every thread of virtbusd (worker pool, monitor,
 * process-watch, event and autodestroy pools, job threads, GDBus's own):
 * the usual glibc default, but fixed rather than taken from RLIMIT_STACK
 * of whoever started the service (`ulimit -s unlimited` gives 2 MiB
 * threads, `ulimit -s 256` 256 KiB ones). Reserved address space only;
 * memory is used as the stack grows. See docs/threads.md.
 */
#define VB_THREAD_STACK_SIZE (8 * 1024 * 1024)

gboolean vb_thread_init_stack_size(GError **error);

G_END_DECLS
