/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <glib/gi18n.h>

#include "vbctl.h"

/* A polkit dialog may take the user a while; do not time out under them. */
#define VBCTL_INTERACTIVE_TIMEOUT_MS (5 * 60 * 1000)

/**
 * vbctl_connect:
 * @session: use the session bus instead of the system bus
 * @address: (nullable): a bus address; wins over @session
 * @description: which bus this is, for people ("the system bus", ...)
 *
 * Returns: (transfer full): the connection, or %NULL with @error set; the
 * error names the bus (and for the system bus the address GLib used).
 */
GDBusConnection *
vbctl_connect(gboolean session, const char *address, const char *description, GError **error)
{
    GDBusConnection *conn;
    g_autofree char *system_address = NULL;

    if (address != NULL)
        conn = g_dbus_connection_new_for_address_sync(
            address,
            G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT |
                G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
            NULL, NULL, error);
    else
        conn = g_bus_get_sync(session ? G_BUS_TYPE_SESSION : G_BUS_TYPE_SYSTEM, NULL, error);
    if (conn != NULL)
        return conn;
    /* $DBUS_SYSTEM_BUS_ADDRESS or the well-known socket: say which was tried */
    if (address == NULL && !session)
        system_address = g_dbus_address_get_for_bus_sync(G_BUS_TYPE_SYSTEM, NULL, NULL);
    if (system_address != NULL)
        g_prefix_error(error, _("cannot connect to %s (%s): "), description, system_address);
    else
        g_prefix_error(error, _("cannot connect to %s: "), description);
    return NULL;
}

/**
 * vbctl_set_service_missing_error:
 *
 * Sets the error for "nobody owns org.virtbus.Virt1 on the bus of @ctx",
 * naming that bus.
 */
void
vbctl_set_service_missing_error(VbctlContext *ctx, GError **error)
{
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
                _("the virtbus service (%s) is not running on %s"), VBCTL_BUS_NAME,
                ctx->bus_description);
}

static gboolean
check_owner(VbctlContext *ctx, GDBusProxy *proxy, GError **error)
{
    g_autofree char *owner = g_dbus_proxy_get_name_owner(proxy);

    if (owner != NULL)
        return TRUE;
    vbctl_set_service_missing_error(ctx, error);
    return FALSE;
}

/**
 * vbctl_ensure_properties:
 *
 * GDBusProxy swallows a failed GetAll at construction (for example when
 * polkit refuses org.virtbus.Virt1.read), leaving an empty cache. Repeat the
 * call to report why, and fill the cache if it now works.
 */
gboolean
vbctl_ensure_properties(GDBusProxy *proxy, GError **error)
{
    g_autoptr(GVariant) reply = NULL;
    g_autoptr(GVariant) props = NULL;
    g_auto(GStrv) cached = g_dbus_proxy_get_cached_property_names(proxy);
    GVariantIter iter;
    const char *name;
    GVariant *value;

    if (cached != NULL && cached[0] != NULL)
        return TRUE;
    reply = g_dbus_connection_call_sync(
        g_dbus_proxy_get_connection(proxy), g_dbus_proxy_get_name(proxy),
        g_dbus_proxy_get_object_path(proxy), "org.freedesktop.DBus.Properties", "GetAll",
        g_variant_new("(s)", g_dbus_proxy_get_interface_name(proxy)), G_VARIANT_TYPE("(a{sv})"),
        G_DBUS_CALL_FLAGS_NONE, -1, NULL, error);
    if (reply == NULL)
        return FALSE;
    props = g_variant_get_child_value(reply, 0);
    g_variant_iter_init(&iter, props);
    while (g_variant_iter_next(&iter, "{&sv}", &name, &value)) {
        g_dbus_proxy_set_cached_property(proxy, name, value);
        g_variant_unref(value);
    }
    return TRUE;
}

/**
 * vbctl_manager:
 *
 * Returns: (transfer none): the Manager proxy of @ctx, created (with its
 * properties) on first use, or %NULL with @error set when the service is
 * not reachable.
 */
VbDBusManager *
vbctl_manager(VbctlContext *ctx, GError **error)
{
    g_autoptr(VbDBusManager) manager = NULL;

    if (ctx->manager != NULL)
        return ctx->manager;
    manager = vb_dbus_manager_proxy_new_sync(ctx->connection, G_DBUS_PROXY_FLAGS_NONE,
                                             VBCTL_BUS_NAME, VBCTL_MANAGER_PATH, NULL, error);
    if (manager == NULL || !check_owner(ctx, G_DBUS_PROXY(manager), error))
        return NULL;
    ctx->manager = g_steal_pointer(&manager);
    return ctx->manager;
}

/**
 * vbctl_domain_proxy:
 * @path: object path of a domain
 * @load_properties: whether the caller reads properties
 *
 * Returns: (transfer full): a Domain proxy, or %NULL with @error set.
 */
VbDBusDomain *
vbctl_domain_proxy(VbctlContext *ctx, const char *path, gboolean load_properties, GError **error)
{
    g_autoptr(VbDBusDomain) domain = NULL;
    GDBusProxyFlags flags = G_DBUS_PROXY_FLAGS_DO_NOT_AUTO_START;

    if (!load_properties)
        flags |= G_DBUS_PROXY_FLAGS_DO_NOT_LOAD_PROPERTIES;
    domain =
        vb_dbus_domain_proxy_new_sync(ctx->connection, flags, VBCTL_BUS_NAME, path, NULL, error);
    if (domain == NULL || !check_owner(ctx, G_DBUS_PROXY(domain), error))
        return NULL;
    if (load_properties && !vbctl_ensure_properties(G_DBUS_PROXY(domain), error))
        return NULL;
    return g_steal_pointer(&domain);
}

/**
 * vbctl_lookup_domain:
 * @name_or_uuid: a domain name, or a UUID in the 36-character form
 *
 * Finds a domain with LookupByUUID when @name_or_uuid parses as a UUID,
 * otherwise with LookupByName.
 *
 * Returns: (transfer full): the Domain proxy, or %NULL with @error set.
 */
VbDBusDomain *
vbctl_lookup_domain(VbctlContext *ctx, const char *name_or_uuid, gboolean load_properties,
                    GError **error)
{
    VbDBusManager *manager = vbctl_manager(ctx, error);
    g_autofree char *path = NULL;
    gboolean ok;

    if (manager == NULL)
        return NULL;
    if (g_uuid_string_is_valid(name_or_uuid))
        ok = vb_dbus_manager_call_lookup_by_uuid_sync(manager, name_or_uuid, &path, NULL, error);
    else
        ok = vb_dbus_manager_call_lookup_by_name_sync(manager, name_or_uuid, &path, NULL, error);
    if (!ok)
        return NULL;
    return vbctl_domain_proxy(ctx, path, load_properties, error);
}

/**
 * vbctl_call_mutating:
 * @proxy: a generated proxy
 * @method: a method of the proxy's interface
 * @parameters: (transfer floating): the arguments
 *
 * Calls a method that changes state. The generated *_call_*_sync() functions
 * take no call flags, and these calls must allow interactive authorization
 * so polkit can ask the user.
 *
 * Returns: (transfer full): the reply, or %NULL with @error set.
 */
GVariant *
vbctl_call_mutating(GDBusProxy *proxy, const char *method, GVariant *parameters,
                    const GVariantType *reply_type, GError **error)
{
    g_autoptr(GVariant) reply = NULL;

    reply = g_dbus_proxy_call_sync(proxy, method, parameters,
                                   G_DBUS_CALL_FLAGS_ALLOW_INTERACTIVE_AUTHORIZATION,
                                   VBCTL_INTERACTIVE_TIMEOUT_MS, NULL, error);
    if (reply == NULL)
        return NULL;
    if (reply_type != NULL && !g_variant_is_of_type(reply, reply_type)) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                    _("unexpected reply type '%s' to %s"), g_variant_get_type_string(reply),
                    method);
        return NULL;
    }
    return g_steal_pointer(&reply);
}

/**
 * vbctl_set_property:
 * @value: (transfer floating): the new value
 *
 * Writes a property with org.freedesktop.DBus.Properties.Set. The generated
 * setters write asynchronously and only log failures; a command must report
 * them, and may need interactive authorization.
 */
gboolean
vbctl_set_property(GDBusProxy *proxy, const char *property, GVariant *value, GError **error)
{
    g_autoptr(GVariant) reply = NULL;

    reply = g_dbus_connection_call_sync(
        g_dbus_proxy_get_connection(proxy), g_dbus_proxy_get_name(proxy),
        g_dbus_proxy_get_object_path(proxy), "org.freedesktop.DBus.Properties", "Set",
        g_variant_new("(ssv)", g_dbus_proxy_get_interface_name(proxy), property, value),
        G_VARIANT_TYPE_UNIT, G_DBUS_CALL_FLAGS_ALLOW_INTERACTIVE_AUTHORIZATION,
        VBCTL_INTERACTIVE_TIMEOUT_MS, NULL, error);
    return reply != NULL;
}
