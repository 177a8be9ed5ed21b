/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Helpers shared by the files of service/netdev/ (not a public API). */

#include <glib.h>

G_BEGIN_DECLS

int vb_netdev_errno_code(int err);
void vb_netdev_set_error(GError **error, int err, const char *reason, const char *fmt, ...)
    G_GNUC_PRINTF(4, 5);
char *vb_netdev_find_tool(const char *name);
gboolean vb_netdev_run_tool(const char *const *argv, const char *stdin_text, char **out_stdout,
                            char **out_stderr, int *out_status, GError **error);

G_END_DECLS
