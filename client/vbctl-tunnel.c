/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <errno.h>
#include <glib/gi18n.h>
#include <gio/gunixfdlist.h>
#include <poll.h>

#include "vbctl.h"

/*
 * virtbusctl migrate-tunnel-attach DOMAIN_PATH TOKEN (internal; issue 11,
 * part tunnel2): the destination's end of the ssh data path of a
 * tunnelled migration. The source service runs it through ssh with the
 * migration stream on its stdin; it hands stdin (fd 0, sshd's pipe) to
 * Manager.MigrateTunnelAttach, so the service reads the stream itself, and
 * then only waits, without reading, until the writer of stdin closes it:
 * sshd stops writing to a session's stdin once its command has exited, so
 * leaving early would cut the stream.
 */

/* Waits until fd 0 has no writer any more (POLLHUP) or breaks (POLLERR). */
static gboolean
wait_stdin_end(GError **error)
{
    for (;;) {
        /* no events asked: only the end of the pipe (or an error) wakes us */
        struct pollfd pfd = { 0, 0, 0 };

        if (poll(&pfd, 1, -1) < 0) {
            int e = errno;

            if (e == EINTR)
                continue;
            g_set_error(error, G_IO_ERROR, g_io_error_from_errno(e), _("poll on stdin: %s"),
                        g_strerror(e));
            return FALSE;
        }
        if (pfd.revents & POLLNVAL) {
            g_set_error_literal(error, G_IO_ERROR, G_IO_ERROR_FAILED, _("stdin is closed"));
            return FALSE;
        }
        if (pfd.revents & (POLLHUP | POLLERR))
            return TRUE;
    }
}

gboolean
vbctl_cmd_migrate_tunnel_attach(VbctlContext *ctx, GError **error)
{
    const char *path = ctx->args[0];
    const char *token = ctx->args[1];
    VbDBusManager *manager;
    g_autoptr(GUnixFDList) fds = g_unix_fd_list_new();

    if (!g_variant_is_object_path(path)) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                    _("'%s' is not an object path (the incoming domain's, from "
                      "MigratePrepareTunnel)"),
                    path);
        return FALSE;
    }
    manager = vbctl_manager(ctx, error);
    if (manager == NULL)
        return FALSE;
    if (g_unix_fd_list_append(fds, 0, error) < 0)
        return FALSE;
    if (!vb_dbus_manager_call_migrate_tunnel_attach_sync(manager, path, token,
                                                          g_variant_new_handle(0), 0, fds,
                                                          NULL, NULL, error))
        return FALSE;
    return wait_stdin_end(error);
}
