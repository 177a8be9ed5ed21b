/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <glib/gi18n.h>
#include <string.h>

#include "vbctl.h"

/*
 * Guest calls a frontend makes (issue 13, part guest2), with virsh's names, options and
 * output: domfstrim, guestvcpus, dompmsuspend, dompmwakeup, domblkerror, domrename
 * (setvcpus --guest and change-media --print-xml live with their commands).
 */

static GVariant *
domain_call(VbctlContext *ctx, const char *method, GVariant *params, const char *type,
            GError **error)
{
    g_autoptr(GVariant) p = g_variant_ref_sink(params);
    g_autoptr(VbDBusDomain) domain = vbctl_lookup_domain(ctx, ctx->args[0], FALSE, error);

    if (domain == NULL)
        return NULL;
    return vbctl_call_mutating(G_DBUS_PROXY(domain), method, g_steal_pointer(&p),
                               type != NULL ? G_VARIANT_TYPE(type) : NULL, error);
}

/* `domfstrim NAME|UUID [--minimum BYTES] [--mountpoint PATH]` */
gboolean
vbctl_cmd_domfstrim(VbctlContext *ctx, GError **error)
{
    const VbctlGuest2Flags *f = &ctx->flags.guest2;
    guint64 minimum = 0;
    g_autoptr(GVariant) r = NULL;

    if (f->minimum != NULL &&
        !g_ascii_string_to_unsigned(f->minimum, 10, 0, G_MAXINT64, &minimum, NULL)) {
        g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                    _("invalid --minimum '%s': give a number of bytes"), f->minimum);
        return FALSE;
    }
    r = domain_call(ctx, "FSTrim",
                    g_variant_new("(stu)", f->mountpoint != NULL ? f->mountpoint : "", minimum, 0u),
                    NULL, error);
    return r != NULL;
}

/* A guest cpulist as virsh's --cpulist: "0-2,^1,5" (at most 4096 vCPUs) */
static GVariant *
parse_guest_cpulist(const char *text, GError **error)
{
    g_autoptr(GArray) map = g_array_new(FALSE, TRUE, sizeof(gboolean));

    if (!vbctl_cpulist_fill(text, 4096, map)) {
        g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                    _("invalid vCPU list '%s': give the guest's vCPUs as in '0-3,^2'"), text);
        return NULL;
    }
    return vbctl_cpumap_variant(map);
}

/* `guestvcpus NAME|UUID [--cpulist LIST --enable|--disable]` */
gboolean
vbctl_cmd_guestvcpus(VbctlContext *ctx, GError **error)
{
    const VbctlGuest2Flags *f = &ctx->flags.guest2;
    g_autoptr(GVariant) r = NULL;
    g_autoptr(GVariant) info = NULL;
    static const char *const keys[] = {"vcpus", "online", "offlinable"};

    if (f->enable && f->disable) {
        g_set_error_literal(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                            _("--enable and --disable exclude each other"));
        return FALSE;
    }
    if ((f->enable || f->disable) != (f->cpulist != NULL)) {
        g_set_error_literal(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                            _("--cpulist needs --enable or --disable, and they need --cpulist"));
        return FALSE;
    }
    if (f->cpulist != NULL) {
        GVariant *map = parse_guest_cpulist(f->cpulist, error);

        if (map == NULL)
            return FALSE;
        r = domain_call(ctx, "SetGuestVcpus", g_variant_new("(@abiu)", map, f->enable ? 1 : 0, 0u),
                        NULL, error);
        return r != NULL;
    }
    r = domain_call(ctx, "GetGuestVcpus", g_variant_new("(u)", 0u), "(a{sv})", error);
    if (r == NULL)
        return FALSE;
    g_variant_get(r, "(@a{sv})", &info);
    for (gsize i = 0; i < G_N_ELEMENTS(keys); i++) {
        const char *v = NULL;

        if (g_variant_lookup(info, keys[i], "&s", &v))
            g_print("%-15s: %s\n", keys[i], v);
    }
    return TRUE;
}

/* `dompmsuspend NAME|UUID TARGET [--duration SECONDS]`, TARGET mem|disk|hybrid */
gboolean
vbctl_cmd_dompmsuspend(VbctlContext *ctx, GError **error)
{
    static const char *const targets[] = {"mem", "disk", "hybrid"};
    const VbctlGuest2Flags *f = &ctx->flags.guest2;
    g_autoptr(GVariant) r = NULL;
    guint target = G_N_ELEMENTS(targets);

    for (guint i = 0; i < G_N_ELEMENTS(targets); i++) {
        if (g_str_equal(ctx->args[1], targets[i]))
            target = i;
    }
    if (target == G_N_ELEMENTS(targets)) {
        g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                    _("invalid target '%s': give mem, disk or hybrid"), ctx->args[1]);
        return FALSE;
    }
    if (f->duration < 0) {
        g_set_error_literal(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                            _("invalid --duration: give seconds (0)"));
        return FALSE;
    }
    r = domain_call(ctx, "PMSuspendForDuration",
                    g_variant_new("(utu)", target, (guint64)f->duration, 0u), NULL, error);
    if (r == NULL)
        return FALSE;
    g_print(_("Domain '%s' successfully suspended\n"), ctx->args[0]);
    return TRUE;
}

/* `dompmwakeup NAME|UUID` */
gboolean
vbctl_cmd_dompmwakeup(VbctlContext *ctx, GError **error)
{
    g_autoptr(GVariant) r = domain_call(ctx, "PMWakeup", g_variant_new("(u)", 0u), NULL, error);

    if (r == NULL)
        return FALSE;
    g_print(_("Domain '%s' successfully woken up\n"), ctx->args[0]);
    return TRUE;
}

/* `domblkerror NAME|UUID`: virsh's words for libvirt's error codes */
gboolean
vbctl_cmd_domblkerror(VbctlContext *ctx, GError **error)
{
    static const char *const words[] = {N_("no error"), N_("unspecified error"), N_("no space")};
    g_autoptr(GVariant) r = NULL;
    g_autoptr(GVariantIter) it = NULL;
    const char *disk;
    gint32 code;
    guint n = 0;

    r = domain_call(ctx, "GetDiskErrors", g_variant_new("(u)", 0u), "(a(si))", error);
    if (r == NULL)
        return FALSE;
    g_variant_get(r, "(a(si))", &it);
    while (g_variant_iter_next(it, "(&si)", &disk, &code)) {
        g_print("%s: %s\n", disk,
                code >= 0 && code < (gint32)G_N_ELEMENTS(words) ? _(words[code]) : "?");
        n++;
    }
    if (n == 0)
        g_print(_("No errors found\n"));
    return TRUE;
}

/* `domrename NAME|UUID NEW_NAME` */
gboolean
vbctl_cmd_domrename(VbctlContext *ctx, GError **error)
{
    g_autoptr(GVariant) r =
        domain_call(ctx, "Rename", g_variant_new("(su)", ctx->args[1], 0u), NULL, error);

    if (r == NULL)
        return FALSE;
    g_print(_("Domain successfully renamed\n"));
    return TRUE;
}
