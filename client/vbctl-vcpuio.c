/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vCPU count, IOThreads and the emulator's threads (issue 13, part vcpuio): vcpucount,
 * iothreadinfo, iothreadadd, iothreaddel, emulatorpin, as virsh has them.
 */
#include "config.h"

#include <glib/gi18n.h>

#include "vbctl.h"

/* libvirt's VIR_DOMAIN_AFFECT_* and VIR_DOMAIN_VCPU_* */
#define AFFECT_LIVE 1
#define AFFECT_CONFIG 2
#define VCPU_MAXIMUM 4
#define VCPU_GUEST 8

static guint
affect_flags(VbctlContext *ctx, GError **error)
{
    if (ctx->flags.mem_current && (ctx->flags.mem_live || ctx->flags.mem_config)) {
        g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                    _("--current cannot be combined with --live or --config"));
        return G_MAXUINT;
    }
    return (ctx->flags.mem_live ? AFFECT_LIVE : 0) | (ctx->flags.mem_config ? AFFECT_CONFIG : 0);
}

static gboolean
parse_id(const char *text, guint *out, GError **error)
{
    char *end = NULL;
    guint64 v;

    if (text == NULL || !g_ascii_isdigit(*text) ||
        (v = g_ascii_strtoull(text, &end, 10)) > G_MAXUINT32 || *end != '\0') {
        g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                    _("invalid IOThread id '%s': give a number"), text != NULL ? text : "");
        return FALSE;
    }
    *out = (guint)v;
    return TRUE;
}

/* `vcpucount NAME|UUID [--maximum] [--active] [--live] [--config] [--current] [--guest]` */
gboolean
vbctl_cmd_vcpucount(VbctlContext *ctx, GError **error)
{
    static const struct {
        guint flags;
        const char *what, *where;
    } rows[] = {
        { VCPU_MAXIMUM | AFFECT_CONFIG, "maximum", "config" },
        { VCPU_MAXIMUM | AFFECT_LIVE, "maximum", "live" },
        { AFFECT_CONFIG, "current", "config" },
        { AFFECT_LIVE, "current", "live" },
    };
    g_autoptr(VbDBusDomain) domain = NULL;
    guint flags = affect_flags(ctx, error);
    guint count = 0;
    gboolean any = FALSE;

    if (flags == G_MAXUINT)
        return FALSE;
    if (ctx->flags.count_maximum && ctx->flags.count_active) {
        g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                    _("--maximum and --active exclude each other"));
        return FALSE;
    }
    if (flags == (AFFECT_LIVE | AFFECT_CONFIG)) {
        g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                    _("--live and --config exclude each other"));
        return FALSE;
    }
    domain = vbctl_lookup_domain(ctx, ctx->args[0], TRUE, error);
    if (domain == NULL)
        return FALSE;
    if (ctx->flags.count_maximum || ctx->flags.count_active || ctx->flags.count_guest ||
        flags != 0 || ctx->flags.mem_current) {
        flags |= (ctx->flags.count_maximum ? VCPU_MAXIMUM : 0) |
                 (ctx->flags.count_guest ? VCPU_GUEST : 0);
        if (!vb_dbus_domain_call_get_vcpus_sync(domain, flags, &count, NULL, error))
            return FALSE;
        g_print("%u\n", count);
        return TRUE;
    }
    /* no flag: every count the domain has (live ones while it runs), as virsh prints */
    for (gsize i = 0; i < G_N_ELEMENTS(rows); i++) {
        g_autoptr(GError) err = NULL;

        if (!vb_dbus_domain_call_get_vcpus_sync(domain, rows[i].flags, &count, NULL, &err))
            continue;
        g_print("%-12s %-12s %3u\n", rows[i].what, rows[i].where, count);
        any = TRUE;
    }
    if (!any)
        return vb_dbus_domain_call_get_vcpus_sync(domain, 0, &count, NULL, error);
    return TRUE;
}

/* `iothreadinfo NAME|UUID [--live] [--config] [--current]` */
gboolean
vbctl_cmd_iothreadinfo(VbctlContext *ctx, GError **error)
{
    g_autoptr(VbDBusDomain) domain = NULL;
    g_autoptr(GVariant) info = NULL;
    guint flags = affect_flags(ctx, error);

    if (flags == G_MAXUINT)
        return FALSE;
    domain = vbctl_lookup_domain(ctx, ctx->args[0], TRUE, error);
    if (domain == NULL ||
        !vb_dbus_domain_call_get_iothread_info_sync(domain, flags, &info, NULL, error))
        return FALSE;
    if (g_variant_n_children(info) == 0) {
        g_print(_("No IOThreads found for the domain\n"));
        return TRUE;
    }
    g_print(" %-12s %s\n", _("IOThread ID"), _("CPU Affinity"));
    g_print("---------------------------------------------------\n");
    for (gsize i = 0; i < g_variant_n_children(info); i++) {
        g_autoptr(GVariant) map = NULL;
        g_autofree char *list = NULL;
        guint32 id;

        g_variant_get_child(info, i, "(u@ab)", &id, &map);
        list = vbctl_format_cpumap(map);
        g_print(" %-12u %s\n", id, list);
    }
    return TRUE;
}

static gboolean
change_iothread(VbctlContext *ctx, gboolean add, GError **error)
{
    g_autoptr(VbDBusDomain) domain = NULL;
    guint flags = affect_flags(ctx, error);
    guint id;

    if (flags == G_MAXUINT || !parse_id(ctx->args[1], &id, error))
        return FALSE;
    domain = vbctl_lookup_domain(ctx, ctx->args[0], TRUE, error);
    if (domain == NULL)
        return FALSE;
    if (add)
        return vb_dbus_domain_call_add_iothread_sync(domain, id, flags, NULL, error);
    return vb_dbus_domain_call_del_iothread_sync(domain, id, flags, NULL, error);
}

/* `iothreadadd NAME|UUID ID [--live] [--config] [--current]` */
gboolean
vbctl_cmd_iothreadadd(VbctlContext *ctx, GError **error)
{
    return change_iothread(ctx, TRUE, error);
}

/* `iothreaddel NAME|UUID ID [--live] [--config] [--current]` */
gboolean
vbctl_cmd_iothreaddel(VbctlContext *ctx, GError **error)
{
    return change_iothread(ctx, FALSE, error);
}

/* `emulatorpin NAME|UUID [CPULIST] [--live] [--config] [--current]` */
gboolean
vbctl_cmd_emulatorpin(VbctlContext *ctx, GError **error)
{
    g_autoptr(VbDBusDomain) domain = NULL;
    g_autoptr(GVariant) map = NULL;
    g_autofree char *list = NULL;
    guint flags = affect_flags(ctx, error);

    if (flags == G_MAXUINT)
        return FALSE;
    if (ctx->n_args > 1) {
        map = vbctl_parse_cpulist(ctx->args[1], error);
        if (map == NULL)
            return FALSE;
        g_variant_ref_sink(map);
    }
    domain = vbctl_lookup_domain(ctx, ctx->args[0], TRUE, error);
    if (domain == NULL)
        return FALSE;
    if (map != NULL)
        return vb_dbus_domain_call_pin_emulator_sync(domain, map, flags, NULL, error);
    if (flags == (AFFECT_LIVE | AFFECT_CONFIG)) {
        g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                    _("--live and --config exclude each other when printing"));
        return FALSE;
    }
    if (!vb_dbus_domain_call_get_emulator_pin_info_sync(domain, flags, &map, NULL, error))
        return FALSE;
    list = vbctl_format_cpumap(map);
    g_print("%s %s\n", _("emulator:"), _("CPU Affinity"));
    g_print("----------------------------------\n");
    g_print("       *: %s\n", list);
    return TRUE;
}

static void
add_events(GVariantBuilder *b, const char *list, gboolean on)
{
    g_auto(GStrv) names = g_strsplit(list != NULL ? list : "", ",", -1);

    for (guint i = 0; names[i] != NULL; i++) {
        g_strstrip(names[i]);
        if (names[i][0] != '\0')
            g_variant_builder_add(b, "{sv}", names[i], g_variant_new_boolean(on));
    }
}

/* `perf NAME|UUID [--enable EVENTS] [--disable EVENTS] [--live] [--config] [--current]` */
gboolean
vbctl_cmd_perf(VbctlContext *ctx, GError **error)
{
    g_autoptr(VbDBusDomain) domain = NULL;
    g_autoptr(GVariant) events = NULL;
    guint flags = affect_flags(ctx, error);
    GVariantIter it;
    const char *name;
    GVariant *value;

    if (flags == G_MAXUINT)
        return FALSE;
    domain = vbctl_lookup_domain(ctx, ctx->args[0], TRUE, error);
    if (domain == NULL)
        return FALSE;
    if (ctx->flags.perf_enable != NULL || ctx->flags.perf_disable != NULL) {
        GVariantBuilder b;

        g_variant_builder_init(&b, G_VARIANT_TYPE("a{sv}"));
        add_events(&b, ctx->flags.perf_enable, TRUE);
        add_events(&b, ctx->flags.perf_disable, FALSE);
        if (!vb_dbus_domain_call_set_perf_events_sync(domain, g_variant_builder_end(&b), flags,
                                                      NULL, error))
            return FALSE;
    }
    if (flags == (AFFECT_LIVE | AFFECT_CONFIG))
        flags = AFFECT_LIVE; /* print one of them */
    if (!vb_dbus_domain_call_get_perf_events_sync(domain, flags, &events, NULL, error))
        return FALSE;
    g_variant_iter_init(&it, events);
    while (g_variant_iter_next(&it, "{&sv}", &name, &value)) {
        g_print("%-24s: %s\n", name,
                g_variant_is_of_type(value, G_VARIANT_TYPE_BOOLEAN) &&
                        g_variant_get_boolean(value)
                    ? "enabled"
                    : "disabled");
        g_variant_unref(value);
    }
    return TRUE;
}
