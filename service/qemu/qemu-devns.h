/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>
#include <sys/types.h>

G_BEGIN_DECLS

/* Device nodes in a running QEMU's private /dev (qemu-devns.c; docs/confinement.md). */

GStrv vb_qemu_devns_paths(const char *const *args);
gboolean vb_qemu_devns_is_private(pid_t pid);
gboolean vb_qemu_devns_add(pid_t pid, const char *const *paths, GError **error);
gboolean vb_qemu_devns_remove(pid_t pid, const char *const *paths, GError **error);

G_END_DECLS
