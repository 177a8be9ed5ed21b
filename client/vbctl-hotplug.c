/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Devices while running (issue 13, part hotplug): attach-device, detach-device,
 * detach-device-alias and update-device, with virsh's names and options (--live,
 * --config, --current, --persistent, --force).
 */
#include "config.h"

#include <glib/gi18n.h>

#include "vbctl.h"

#define AFFECT_LIVE 1u
#define AFFECT_CONFIG 2u
#define DEVICE_FORCE 4u

/* virsh's flags: --current alone, or --live/--config; --persistent is LIVE|CONFIG on a
 * running domain, CONFIG on a stopped one */
static gboolean
modify_flags(VbctlContext *ctx, VbDBusDomain *domain, guint *out, GError **error)
{
    guint flags = 0;

    if (ctx->flags.dev_current && (ctx->flags.dev_live || ctx->flags.dev_config ||
                                   ctx->flags.dev_persistent)) {
        g_set_error_literal(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                            _("--current cannot be combined with --live, --config or "
                              "--persistent"));
        return FALSE;
    }
    if (ctx->flags.dev_live)
        flags |= AFFECT_LIVE;
    if (ctx->flags.dev_config)
        flags |= AFFECT_CONFIG;
    if (ctx->flags.dev_persistent) {
        flags |= AFFECT_CONFIG;
        if (vb_dbus_domain_get_active(domain))
            flags |= AFFECT_LIVE;
    }
    *out = flags;
    return TRUE;
}

static char *
read_file_arg(const char *file, GError **error)
{
    char *xml = NULL;

    if (g_strcmp0(file, "-") == 0) {
        g_autoptr(GIOChannel) ch = g_io_channel_unix_new(0);
        gsize len = 0;

        if (g_io_channel_read_to_end(ch, &xml, &len, error) != G_IO_STATUS_NORMAL)
            return NULL;
        return xml;
    }
    if (!g_file_get_contents(file, &xml, NULL, error))
        return NULL;
    return xml;
}

static gboolean
device_call(VbctlContext *ctx, const char *method, gboolean from_file, guint extra,
            const char *done_msg, GError **error)
{
    g_autoptr(VbDBusDomain) domain = vbctl_lookup_domain(ctx, ctx->args[0], TRUE, error);
    g_autofree char *arg = NULL;
    g_autoptr(GVariant) r = NULL;
    guint flags = 0;

    if (domain == NULL || !modify_flags(ctx, domain, &flags, error))
        return FALSE;
    arg = from_file ? read_file_arg(ctx->args[1], error) : g_strdup(ctx->args[1]);
    if (arg == NULL)
        return FALSE;
    r = vbctl_call_mutating(G_DBUS_PROXY(domain), method,
                            g_variant_new("(su)", arg, flags | extra), NULL, error);
    if (r == NULL)
        return FALSE;
    g_print("%s\n\n", done_msg);
    return TRUE;
}

/* `attach-device NAME|UUID FILE [--live] [--config] [--current] [--persistent]` */
gboolean
vbctl_cmd_attach_device(VbctlContext *ctx, GError **error)
{
    return device_call(ctx, "AttachDevice", TRUE, 0, _("Device attached successfully"), error);
}

/* `detach-device NAME|UUID FILE [...]` */
gboolean
vbctl_cmd_detach_device(VbctlContext *ctx, GError **error)
{
    return device_call(ctx, "DetachDevice", TRUE, 0, _("Device detached successfully"), error);
}

/* `detach-device-alias NAME|UUID ALIAS [...]` */
gboolean
vbctl_cmd_detach_device_alias(VbctlContext *ctx, GError **error)
{
    return device_call(ctx, "DetachDeviceAlias", FALSE, 0,
                       _("Device detach request sent successfully"), error);
}

/* `update-device NAME|UUID FILE [--force] [...]` */
gboolean
vbctl_cmd_update_device(VbctlContext *ctx, GError **error)
{
    return device_call(ctx, "UpdateDevice", TRUE, ctx->flags.dev_force ? DEVICE_FORCE : 0,
                       _("Device updated successfully"), error);
}
