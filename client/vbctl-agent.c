/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <glib/gi18n.h>
#include <json-glib/json-glib.h>
#include <string.h>

#include "vbctl-output.h"
#include "vbctl.h"

/*
 * The guest agent (issue 13, part agent), with virsh's names, options and output:
 * domfsfreeze, domfsthaw, domfsinfo, domtime, domhostname, guestinfo, set-user-password,
 * qemu-agent-command, and the --mode of shutdown and reboot.
 */

/* Shutdown/Reboot flags (libvirt's) */
#define POWER_ACPI 1u
#define POWER_AGENT 2u

/**
 * vbctl_power_mode_flags:
 * @mode: (nullable): --mode: a comma-separated list of acpi and agent (virsh's)
 *
 * Returns: the Shutdown/Reboot flags, or -1 with @error for another mode
 */
int
vbctl_power_mode_flags(const char *mode, GError **error)
{
    g_auto(GStrv) parts = NULL;
    int flags = 0;

    if (mode == NULL)
        return 0;
    parts = g_strsplit(mode, ",", -1);
    for (guint i = 0; parts[i] != NULL; i++) {
        if (strcmp(parts[i], "acpi") == 0) {
            flags |= POWER_ACPI;
        } else if (strcmp(parts[i], "agent") == 0) {
            flags |= POWER_AGENT;
        } else {
            g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                        _("unknown --mode '%s': use acpi, agent or both (acpi,agent)"),
                        parts[i]);
            return -1;
        }
    }
    return flags;
}

/* Calls @method on the domain of args[0]; the reply of @type, or NULL with @error. */
static GVariant *
agent_call(VbctlContext *ctx, const char *method, GVariant *params, const char *type,
           GError **error)
{
    g_autoptr(GVariant) p = g_variant_ref_sink(params);
    g_autoptr(VbDBusDomain) domain = vbctl_lookup_domain(ctx, ctx->args[0], FALSE, error);

    if (domain == NULL)
        return NULL;
    /* most need the attach action: the call may ask interactively */
    return vbctl_call_mutating(G_DBUS_PROXY(domain), method, g_steal_pointer(&p),
                               G_VARIANT_TYPE(type), error);
}

static gboolean
fs_freeze_thaw(VbctlContext *ctx, gboolean freeze, GError **error)
{
    g_autoptr(GVariant) reply = NULL;
    guint32 n;

    reply = agent_call(ctx, freeze ? "FSFreeze" : "FSThaw",
                       g_variant_new("(^asu)", ctx->args + 1, 0u), "(u)", error);
    if (reply == NULL)
        return FALSE;
    g_variant_get(reply, "(u)", &n);
    g_print(freeze ? _("Froze %u filesystem(s)\n") : _("Thawed %u filesystem(s)\n"), n);
    return TRUE;
}

/* `domfsfreeze NAME|UUID [MOUNTPOINT...]` */
gboolean
vbctl_cmd_domfsfreeze(VbctlContext *ctx, GError **error)
{
    return fs_freeze_thaw(ctx, TRUE, error);
}

/* `domfsthaw NAME|UUID` */
gboolean
vbctl_cmd_domfsthaw(VbctlContext *ctx, GError **error)
{
    return fs_freeze_thaw(ctx, FALSE, error);
}

/* `domfsinfo NAME|UUID`: virsh's table Mountpoint, Name, Type, Target. */
gboolean
vbctl_cmd_domfsinfo(VbctlContext *ctx, GError **error)
{
    g_autoptr(GVariant) reply = agent_call(ctx, "GetFSInfo", g_variant_new("(u)", 0u),
                                           "(a(sssas))", error);
    g_autoptr(GVariantIter) iter = NULL;
    const char *mp, *name, *type;
    GVariantIter *disks;

    if (reply == NULL)
        return FALSE;
    g_print("%-36s %-8s %-8s %s\n", _("Mountpoint"), _("Name"), _("Type"), _("Target"));
    g_print("-------------------------------------------------------------------\n");
    g_variant_get(reply, "(a(sssas))", &iter);
    while (g_variant_iter_next(iter, "(&s&s&sas)", &mp, &name, &type, &disks)) {
        g_autoptr(GString) targets = g_string_new("");
        const char *d;

        while (g_variant_iter_next(disks, "&s", &d))
            g_string_append_printf(targets, "%s%s", targets->len > 0 ? "," : "", d);
        g_print("%-36s %-8s %-8s %s\n", mp, name, type, targets->str);
        g_variant_iter_free(disks);
    }
    return TRUE;
}

/* `domtime NAME|UUID [--now | --sync | --time SECONDS] [--pretty]` */
gboolean
vbctl_cmd_domtime(VbctlContext *ctx, GError **error)
{
    const VbctlAgentFlags *f = &ctx->flags.agent;
    g_autoptr(GVariant) reply = NULL;
    guint64 sec;
    guint32 nsec;

    if ((f->now ? 1 : 0) + (f->sync ? 1 : 0) + (f->time != NULL ? 1 : 0) > 1) {
        g_set_error_literal(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                            _("--now, --sync and --time exclude each other"));
        return FALSE;
    }
    if (f->now || f->sync || f->time != NULL) {
        gint64 t = g_get_real_time();
        char *end = NULL;

        sec = (guint64)(t / G_USEC_PER_SEC);
        nsec = (guint32)(t % G_USEC_PER_SEC) * 1000;
        if (f->time != NULL) {
            sec = g_ascii_strtoull(f->time, &end, 10);
            nsec = 0;
            if (end == f->time || *end != '\0') {
                g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                            _("--time needs seconds since the epoch, not '%s'"), f->time);
                return FALSE;
            }
        }
        reply = agent_call(ctx, "SetTime",
                           g_variant_new("(tuu)", f->sync ? 0 : sec, f->sync ? 0 : nsec,
                                         f->sync ? 1u : 0u),
                           "()", error);
        return reply != NULL;
    }
    reply = agent_call(ctx, "GetTime", g_variant_new("(u)", 0u), "((tu))", error);
    if (reply == NULL)
        return FALSE;
    g_variant_get(reply, "((tu))", &sec, &nsec);
    if (ctx->flags.pretty) {
        g_autoptr(GDateTime) dt = g_date_time_new_from_unix_utc((gint64)sec);
        g_autofree char *s = dt != NULL ? g_date_time_format(dt, "%Y-%m-%d %H:%M:%S") : NULL;

        g_print(_("Time: %s\n"), s != NULL ? s : "?");
    } else {
        g_print(_("Time: %" G_GUINT64_FORMAT "\n"), sec);
    }
    return TRUE;
}

/* `domhostname NAME|UUID [--source agent]` */
gboolean
vbctl_cmd_domhostname(VbctlContext *ctx, GError **error)
{
    const char *src = ctx->flags.agent.source;
    g_autoptr(GVariant) reply = NULL;
    guint32 flags;
    const char *host;

    if (src == NULL)
        flags = 0;
    else if (strcmp(src, "agent") == 0)
        flags = 2;
    else if (strcmp(src, "lease") == 0)
        flags = 1;
    else {
        g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                    _("unknown --source '%s': use agent or lease"), src);
        return FALSE;
    }
    reply = agent_call(ctx, "GetHostname", g_variant_new("(u)", flags), "(s)", error);
    if (reply == NULL)
        return FALSE;
    g_variant_get(reply, "(&s)", &host);
    g_print("%s\n", host);
    return TRUE;
}

static int
key_cmp(gconstpointer a, gconstpointer b)
{
    return g_strcmp0(*(const char *const *)a, *(const char *const *)b);
}

/* `guestinfo NAME|UUID [--user] [--os] [--timezone] [--hostname] [--filesystem]
 * [--disk] [--interface]`: virsh's "key : value" lines. */
gboolean
vbctl_cmd_guestinfo(VbctlContext *ctx, GError **error)
{
    const VbctlAgentFlags *f = &ctx->flags.agent;
    guint32 types = (f->user ? 1u : 0) | (f->os ? 2u : 0) | (f->timezone ? 4u : 0) |
                    (f->hostname ? 8u : 0) | (f->filesystem ? 16u : 0) |
                    (f->disk ? 32u : 0) | (f->interface ? 64u : 0);
    g_autoptr(GVariant) reply = agent_call(ctx, "GetGuestInfo",
                                           g_variant_new("(uu)", types, 0u), "(a{sv})", error);
    g_autoptr(GVariant) dict = NULL;
    g_autoptr(GPtrArray) keys = g_ptr_array_new();
    GVariantIter it;
    const char *k;
    GVariant *v;

    if (reply == NULL)
        return FALSE;
    dict = g_variant_get_child_value(reply, 0);
    g_variant_iter_init(&it, dict);
    while (g_variant_iter_next(&it, "{&sv}", &k, &v)) {
        g_ptr_array_add(keys, (gpointer)k);
        g_variant_unref(v);
    }
    g_ptr_array_sort(keys, key_cmp);
    for (guint i = 0; i < keys->len; i++) {
        g_autoptr(GVariant) val = g_variant_lookup_value(dict, keys->pdata[i], NULL);
        g_autofree char *text = g_variant_is_of_type(val, G_VARIANT_TYPE_STRING)
                                    ? g_variant_dup_string(val, NULL)
                                    : g_variant_print(val, FALSE);

        g_print("%-20s: %s\n", (const char *)keys->pdata[i], text);
    }
    return TRUE;
}

/* `set-user-password NAME|UUID USER PASSWORD [--encrypted]` */
gboolean
vbctl_cmd_set_user_password(VbctlContext *ctx, GError **error)
{
    g_autoptr(GVariant) reply = agent_call(ctx, "SetUserPassword",
                                           g_variant_new("(ssu)", ctx->args[1], ctx->args[2],
                                                         ctx->flags.agent.encrypted ? 1u : 0u),
                                           "()", error);

    if (reply == NULL)
        return FALSE;
    g_print(_("Password set successfully for %s in %s\n"), ctx->args[1], ctx->args[0]);
    return TRUE;
}

/* `qemu-agent-command NAME|UUID JSON [--timeout S | --async | --block] [--pretty]` */
gboolean
vbctl_cmd_qemu_agent_command(VbctlContext *ctx, GError **error)
{
    const VbctlAgentFlags *f = &ctx->flags.agent;
    gint32 timeout = -1;
    g_autoptr(GVariant) reply = NULL;
    const char *text;

    if ((f->async ? 1 : 0) + (f->block ? 1 : 0) + (ctx->flags.timeout > 0 ? 1 : 0) > 1) {
        g_set_error_literal(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                            _("--timeout, --async and --block exclude each other"));
        return FALSE;
    }
    if (f->async)
        timeout = 0;
    else if (f->block)
        timeout = -2;
    else if (ctx->flags.timeout > 0)
        timeout = ctx->flags.timeout;
    reply = agent_call(ctx, "QemuAgentCommand",
                       g_variant_new("(siu)", ctx->args[1], timeout, 0u), "(s)", error);
    if (reply == NULL)
        return FALSE;
    g_variant_get(reply, "(&s)", &text);
    if (ctx->flags.pretty && *text != '\0') {
        g_autoptr(JsonParser) parser = json_parser_new();

        if (json_parser_load_from_data(parser, text, -1, NULL)) {
            vbctl_print_json(json_parser_get_root(parser));
            return TRUE;
        }
    }
    if (*text != '\0')
        g_print("%s\n", text);
    return TRUE;
}
