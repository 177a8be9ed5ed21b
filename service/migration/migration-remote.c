/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include "migration-remote.h"

/* Interim: bus addresses on this machine only (ssh:// lands with the remote module). */

gboolean
vb_remote_check_uri(const char *uri, gboolean trusted, GError **error)
{
    (void)trusted;
    if (g_dbus_is_address(uri) && g_str_has_prefix(uri, "unix:"))
        return TRUE;
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                "destination '%s' is not a unix: bus address", uri);
    return FALSE;
}

char *
vb_remote_uri_host(const char *uri)
{
    (void)uri;
    return NULL;
}

GDBusConnection *
vb_remote_connect(const char *uri, const VbRemoteOptions *opts, GCancellable *cancellable,
                  GError **error)
{
    (void)opts;
    if (!vb_remote_check_uri(uri, FALSE, error))
        return NULL;
    return g_dbus_connection_new_for_address_sync(
        uri, G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT |
                 G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
        NULL, cancellable, error);
}
