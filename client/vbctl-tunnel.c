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
 * leaving early would cut the stream. It leaves early (exit 1) only when
 * the incoming domain is gone or shut off: nobody reads the stream then.
 */

#define CHECK_MS 1000

/*
 * Whether the incoming domain went away meanwhile (its QEMU failed the
 * stream, the service ended): then the stream has no reader any more, and
 * only leaving ends the source's ssh (sshd closes the session), so the
 * source's QEMU does not wait on a full pipe for ever.
 */
static gboolean
domain_gone(VbDBusDomain *domain, GError **error)
{
    g_autoptr(GVariant) info = NULL;
    g_autoptr(GError) local = NULL;
    g_autofree char *owner = NULL;
    const char *state;

    while (g_main_context_iteration(NULL, FALSE)) {
        /* PropertiesChanged: the cached State */
    }
    owner = g_dbus_proxy_get_name_owner(G_DBUS_PROXY(domain));
    state = vb_dbus_domain_get_state(domain);
    if (owner == NULL || g_strcmp0(state, "shutoff") == 0) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED,
                    owner == NULL ? _("the service left the bus during the incoming migration")
                                  : _("the incoming domain shut off: its QEMU ended the stream"));
        return TRUE;
    }
    if (!vb_dbus_domain_call_get_control_info_sync(domain, &info, NULL, &local)) {
        if (g_dbus_error_is_remote_error(local))
            g_dbus_error_strip_remote_error(local);
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED,
                    _("the incoming domain is gone (%s): its QEMU ended the stream"),
                    local->message);
        return TRUE;
    }
    return FALSE;
}

/* Waits until fd 0 has no writer any more (POLLHUP) or breaks (POLLERR). */
static gboolean
wait_stdin_end(VbDBusDomain *domain, GError **error)
{
    for (;;) {
        /* no events asked: only the end of the pipe (or an error) wakes us */
        struct pollfd pfd = { 0, 0, 0 };
        int n = poll(&pfd, 1, CHECK_MS);

        if (n < 0) {
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
        if (n == 0 && domain_gone(domain, error))
            return FALSE;
    }
}

gboolean
vbctl_cmd_migrate_tunnel_attach(VbctlContext *ctx, GError **error)
{
    const char *path = ctx->args[0];
    const char *token = ctx->args[1];
    VbDBusManager *manager;
    g_autoptr(VbDBusDomain) domain = NULL;
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
    /* its State is cached from here on (PropertiesChanged) */
    domain = vb_dbus_domain_proxy_new_sync(ctx->connection, G_DBUS_PROXY_FLAGS_NONE,
                                           VBCTL_BUS_NAME, path, NULL, error);
    if (domain == NULL)
        return FALSE;
    if (g_unix_fd_list_append(fds, 0, error) < 0)
        return FALSE;
    if (!vb_dbus_manager_call_migrate_tunnel_attach_sync(manager, path, token,
                                                          g_variant_new_handle(0), 0, fds,
                                                          NULL, NULL, error))
        return FALSE;
    return wait_stdin_end(domain, error);
}
