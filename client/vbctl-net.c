/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <glib/gi18n.h>

#include "vbctl.h"

/*
 * Virtual networks (issue 12): net-list, net-define, net-undefine,
 * net-dumpxml, net-info, net-autostart, net-start, net-destroy,
 * net-dhcp-leases, with virsh's output.
 */

static VbDBusNetwork *
network_proxy(VbctlContext *ctx, const char *path, GError **error)
{
    g_autoptr(VbDBusNetwork) net = NULL;

    net = vb_dbus_network_proxy_new_sync(ctx->connection, G_DBUS_PROXY_FLAGS_DO_NOT_AUTO_START,
                                         VBCTL_BUS_NAME, path, NULL, error);
    if (net == NULL || !vbctl_ensure_properties(G_DBUS_PROXY(net), error))
        return NULL;
    return g_steal_pointer(&net);
}

/* A network by name, or by UUID when the argument parses as one. */
static VbDBusNetwork *
lookup_network(VbctlContext *ctx, const char *name_or_uuid, GError **error)
{
    VbDBusManager *manager = vbctl_manager(ctx, error);
    g_autofree char *path = NULL;
    gboolean ok;

    if (manager == NULL)
        return NULL;
    if (g_uuid_string_is_valid(name_or_uuid))
        ok = vb_dbus_manager_call_network_lookup_by_uuid_sync(manager, name_or_uuid, &path,
                                                               NULL, error);
    else
        ok = vb_dbus_manager_call_network_lookup_by_name_sync(manager, name_or_uuid, &path,
                                                               NULL, error);
    return ok ? network_proxy(ctx, path, error) : NULL;
}

static const char *
yes_no(gboolean b)
{
    return b ? _("yes") : _("no");
}

/* `net-list [--all|--inactive] [--name]`: active networks by default, like virsh. */
gboolean
vbctl_cmd_net_list(VbctlContext *ctx, GError **error)
{
    VbDBusManager *manager = vbctl_manager(ctx, error);
    g_auto(GStrv) paths = NULL;
    guint flags = ctx->flags.all ? 0 : ctx->flags.inactive ? 1u : 2u;

    if (manager == NULL ||
        !vb_dbus_manager_call_list_networks_sync(manager, flags, &paths, NULL, error))
        return FALSE;
    if (!ctx->flags.names_only) {
        g_print(" %-20s %-10s %-10s %s\n", _("Name"), _("State"), _("Autostart"),
                _("Persistent"));
        g_print("----------------------------------------------------------\n");
    }
    for (guint i = 0; paths[i] != NULL; i++) {
        g_autoptr(VbDBusNetwork) net = network_proxy(ctx, paths[i], error);

        if (net == NULL)
            return FALSE;
        if (ctx->flags.names_only)
            g_print("%s\n", vb_dbus_network_get_name(net));
        else
            g_print(" %-20s %-10s %-10s %s\n", vb_dbus_network_get_name(net),
                    vb_dbus_network_get_active(net) ? _("active") : _("inactive"),
                    yes_no(vb_dbus_network_get_autostart(net)),
                    yes_no(vb_dbus_network_get_persistent(net)));
    }
    return TRUE;
}

/* `net-define FILE`. */
gboolean
vbctl_cmd_net_define(VbctlContext *ctx, GError **error)
{
    g_autofree char *xml = vbctl_read_definition(ctx->args[0], error);
    VbDBusManager *manager;
    g_autoptr(GVariant) reply = NULL;
    g_autoptr(VbDBusNetwork) net = NULL;
    const char *path;

    if (xml == NULL || (manager = vbctl_manager(ctx, error)) == NULL)
        return FALSE;
    reply = vbctl_call_mutating(G_DBUS_PROXY(manager), "NetworkDefineXML",
                                g_variant_new("(su)", xml, 0u), G_VARIANT_TYPE("(o)"), error);
    if (reply == NULL)
        return FALSE;
    g_variant_get(reply, "(&o)", &path);
    net = network_proxy(ctx, path, error);
    if (net == NULL)
        return FALSE;
    g_print(_("Network '%s' defined from %s\n"), vb_dbus_network_get_name(net), ctx->args[0]);
    return TRUE;
}

/* net-undefine, net-start, net-destroy: one call without arguments. */
static gboolean
simple_call(VbctlContext *ctx, const char *method, const char *done_fmt, GError **error)
{
    g_autoptr(VbDBusNetwork) net = lookup_network(ctx, ctx->args[0], error);
    g_autoptr(GVariant) reply = NULL;
    g_autofree char *name = NULL;

    if (net == NULL)
        return FALSE;
    name = g_strdup(vb_dbus_network_get_name(net));
    reply = vbctl_call_mutating(G_DBUS_PROXY(net), method, NULL, G_VARIANT_TYPE_UNIT, error);
    if (reply == NULL)
        return FALSE;
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
    g_print(done_fmt, name);
#pragma GCC diagnostic pop
    return TRUE;
}

gboolean
vbctl_cmd_net_undefine(VbctlContext *ctx, GError **error)
{
    return simple_call(ctx, "Undefine", _("Network '%s' has been undefined\n"), error);
}

gboolean
vbctl_cmd_net_start(VbctlContext *ctx, GError **error)
{
    return simple_call(ctx, "Start", _("Network '%s' started\n"), error);
}

gboolean
vbctl_cmd_net_destroy(VbctlContext *ctx, GError **error)
{
    return simple_call(ctx, "Destroy", _("Network '%s' destroyed\n"), error);
}

/* `net-dumpxml NAME|UUID [--inactive]`. */
gboolean
vbctl_cmd_net_dumpxml(VbctlContext *ctx, GError **error)
{
    g_autoptr(VbDBusNetwork) net = lookup_network(ctx, ctx->args[0], error);
    g_autofree char *xml = NULL;

    if (net == NULL ||
        !vb_dbus_network_call_get_xmldesc_sync(net, ctx->flags.inactive ? 1u : 0u, &xml, NULL,
                                                error))
        return FALSE;
    g_print("%s%s", xml, g_str_has_suffix(xml, "\n") ? "" : "\n");
    return TRUE;
}

/* `net-info NAME|UUID`: virsh's fields. */
gboolean
vbctl_cmd_net_info(VbctlContext *ctx, GError **error)
{
    g_autoptr(VbDBusNetwork) net = lookup_network(ctx, ctx->args[0], error);

    if (net == NULL)
        return FALSE;
    g_print("%-15s %s\n", _("Name:"), vb_dbus_network_get_name(net));
    g_print("%-15s %s\n", _("UUID:"), vb_dbus_network_get_uuid(net));
    g_print("%-15s %s\n", _("Active:"), yes_no(vb_dbus_network_get_active(net)));
    g_print("%-15s %s\n", _("Persistent:"), yes_no(vb_dbus_network_get_persistent(net)));
    g_print("%-15s %s\n", _("Autostart:"), yes_no(vb_dbus_network_get_autostart(net)));
    g_print("%-15s %s\n", _("Bridge:"), vb_dbus_network_get_bridge(net));
    return TRUE;
}

/* `net-autostart NAME|UUID [--disable]`. */
gboolean
vbctl_cmd_net_autostart(VbctlContext *ctx, GError **error)
{
    g_autoptr(VbDBusNetwork) net = lookup_network(ctx, ctx->args[0], error);
    gboolean enable = !ctx->flags.disable;

    if (net == NULL ||
        !vbctl_set_property(G_DBUS_PROXY(net), "Autostart", g_variant_new_boolean(enable), error))
        return FALSE;
    if (enable)
        g_print(_("Network '%s' marked as autostarted\n"), vb_dbus_network_get_name(net));
    else
        g_print(_("Network '%s' unmarked as autostarted\n"), vb_dbus_network_get_name(net));
    return TRUE;
}

/* `net-dhcp-leases NAME|UUID [--mac MAC]`: virsh's table. */
gboolean
vbctl_cmd_net_dhcp_leases(VbctlContext *ctx, GError **error)
{
    g_autoptr(VbDBusNetwork) net = lookup_network(ctx, ctx->args[0], error);
    g_autoptr(GVariant) leases = NULL;
    GVariantIter it;
    GVariant *lease;

    if (net == NULL ||
        !vb_dbus_network_call_get_dhcpleases_sync(net, ctx->flags.mac != NULL ? ctx->flags.mac
                                                                               : "",
                                                   0, &leases, NULL, error))
        return FALSE;
    g_print(" %-20s %-18s %-9s %-20s %-15s %s\n", _("Expiry Time"), _("MAC address"),
            _("Protocol"), _("IP address"), _("Hostname"), _("Client ID or DUID"));
    g_print("---------------------------------------------------------------------------------"
            "--------------------\n");
    g_variant_iter_init(&it, leases);
    while ((lease = g_variant_iter_next_value(&it)) != NULL) {
        GVariantDict d;
        gint64 expiry = 0;
        gint32 type = 0;
        guint32 prefix = 0;
        const char *mac = "", *ip = "", *host = "-", *client = "-";
        g_autoptr(GDateTime) t = NULL;
        g_autofree char *when = NULL;
        g_autofree char *addr = NULL;

        g_variant_dict_init(&d, lease);
        g_variant_dict_lookup(&d, "expirytime", "x", &expiry);
        g_variant_dict_lookup(&d, "type", "i", &type);
        g_variant_dict_lookup(&d, "prefix", "u", &prefix);
        g_variant_dict_lookup(&d, "mac", "&s", &mac);
        g_variant_dict_lookup(&d, "ipaddr", "&s", &ip);
        g_variant_dict_lookup(&d, "hostname", "&s", &host);
        g_variant_dict_lookup(&d, "clientid", "&s", &client);
        t = g_date_time_new_from_unix_local(expiry);
        when = t != NULL ? g_date_time_format(t, "%Y-%m-%d %H:%M:%S") : g_strdup("-");
        addr = g_strdup_printf("%s/%u", ip, prefix);
        g_print(" %-20s %-18s %-9s %-20s %-15s %s\n", when, mac, type == 1 ? "ipv6" : "ipv4",
                addr, host, client);
        g_variant_dict_clear(&d);
        g_variant_unref(lease);
    }
    return TRUE;
}
