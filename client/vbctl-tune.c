/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Resource tuning (issue 14, part cgroup; docs/resources.md): memtune, schedinfo and
 * blkiotune, as virsh has them, with the parameters given as NAME=VALUE arguments
 * (libvirt's names: hard_limit=KiB, cpu_shares=N, device_weight=/dev/sda,500, ...).
 * Without any, the command prints the parameters.
 */
#include "config.h"

#include <glib/gi18n.h>
#include <string.h>

#include "vbctl.h"

/* libvirt's VIR_DOMAIN_AFFECT_* */
#define AFFECT_LIVE 1
#define AFFECT_CONFIG 2
/* libvirt's VIR_DOMAIN_MEMORY_PARAM_UNLIMITED, KiB */
#define MEMORY_UNLIMITED G_GUINT64_CONSTANT(9007199254740991)

typedef enum { GROUP_MEMORY, GROUP_SCHED, GROUP_BLKIO } Group;

static guint
tune_affect(VbctlContext *ctx, GError **error)
{
    if (ctx->flags.mem_current && (ctx->flags.mem_live || ctx->flags.mem_config)) {
        g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                    _("--current cannot be combined with --live or --config"));
        return G_MAXUINT;
    }
    return (ctx->flags.mem_live ? AFFECT_LIVE : 0) | (ctx->flags.mem_config ? AFFECT_CONFIG : 0);
}

/* the D-Bus type libvirt gives a parameter: t, x (quotas), u (blkio weight), s (devices) */
static char
param_type(Group group, const char *name)
{
    if (group == GROUP_BLKIO)
        return g_str_equal(name, "weight") ? 'u' : 's';
    if (group == GROUP_SCHED && g_str_has_suffix(name, "_quota"))
        return 'x';
    return 't';
}

static GVariant *
param_value(Group group, const char *name, const char *text, GError **error)
{
    char type = param_type(group, name);
    guint64 u;
    gint64 x;

    if (type == 's')
        return g_variant_new_string(text);
    if (group == GROUP_MEMORY && (g_str_equal(text, "unlimited") || g_str_equal(text, "-1")))
        return g_variant_new_uint64(MEMORY_UNLIMITED);
    if (type == 'x' && g_ascii_string_to_signed(text, 10, G_MININT64, G_MAXINT64, &x, NULL))
        return g_variant_new_int64(x);
    if (type != 'x' && g_ascii_string_to_unsigned(text, 10, 0, type == 'u' ? G_MAXUINT32
                                                                          : G_MAXUINT64,
                                                  &u, NULL))
        return type == 'u' ? g_variant_new_uint32((guint32)u) : g_variant_new_uint64(u);
    g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                _("invalid value '%s' for %s: give a number%s"), text, name,
                group == GROUP_MEMORY ? _(" of KiB or 'unlimited'") : "");
    return NULL;
}

static void
print_params(Group group, GVariant *params)
{
    GVariantIter it;
    const char *name;
    GVariant *v;

    g_variant_iter_init(&it, params);
    while (g_variant_iter_next(&it, "{&sv}", &name, &v)) {
        if (g_variant_is_of_type(v, G_VARIANT_TYPE_UINT64) && group == GROUP_MEMORY &&
            g_variant_get_uint64(v) >= MEMORY_UNLIMITED)
            g_print("%-15s: %s\n", name, _("unlimited"));
        else if (g_variant_is_of_type(v, G_VARIANT_TYPE_UINT64))
            g_print("%-15s: %" G_GUINT64_FORMAT "\n", name, g_variant_get_uint64(v));
        else if (g_variant_is_of_type(v, G_VARIANT_TYPE_INT64))
            g_print("%-15s: %" G_GINT64_FORMAT "\n", name, g_variant_get_int64(v));
        else if (g_variant_is_of_type(v, G_VARIANT_TYPE_UINT32))
            g_print("%-15s: %u\n", name, g_variant_get_uint32(v));
        else if (g_variant_is_of_type(v, G_VARIANT_TYPE_STRING))
            g_print("%-15s: %s\n", name, g_variant_get_string(v, NULL));
        g_variant_unref(v);
    }
}

static gboolean
tune_command(VbctlContext *ctx, Group group, GError **error)
{
    g_autoptr(VbDBusDomain) domain = NULL;
    g_autoptr(GVariant) params = NULL;
    guint flags = tune_affect(ctx, error);
    GVariantBuilder b;
    gboolean ok;

    if (flags == G_MAXUINT)
        return FALSE;
    g_variant_builder_init(&b, G_VARIANT_TYPE("a{sv}"));
    for (guint i = 1; i < ctx->n_args; i++) {
        const char *eq = strchr(ctx->args[i], '=');
        g_autofree char *name = NULL;
        GVariant *v;

        if (eq == NULL || eq == ctx->args[i]) {
            g_variant_builder_clear(&b);
            g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                        _("'%s': give parameters as NAME=VALUE"), ctx->args[i]);
            return FALSE;
        }
        name = g_strndup(ctx->args[i], eq - ctx->args[i]);
        v = param_value(group, name, eq + 1, error);
        if (v == NULL) {
            g_variant_builder_clear(&b);
            return FALSE;
        }
        g_variant_builder_add(&b, "{sv}", name, v);
    }
    domain = vbctl_lookup_domain(ctx, ctx->args[0], TRUE, error);
    if (domain == NULL) {
        g_variant_builder_clear(&b);
        return FALSE;
    }
    if (ctx->n_args > 1) {
        GVariant *set = g_variant_builder_end(&b);

        if (group == GROUP_MEMORY)
            return vb_dbus_domain_call_set_memory_parameters_sync(domain, set, flags, NULL,
                                                                  error);
        if (group == GROUP_SCHED)
            return vb_dbus_domain_call_set_scheduler_parameters_sync(domain, set, flags, NULL,
                                                                     error);
        return vb_dbus_domain_call_set_blkio_parameters_sync(domain, set, flags, NULL, error);
    }
    g_variant_builder_clear(&b);
    if (flags == (AFFECT_LIVE | AFFECT_CONFIG)) {
        g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                    _("--live and --config exclude each other when printing"));
        return FALSE;
    }
    if (group == GROUP_MEMORY)
        ok = vb_dbus_domain_call_get_memory_parameters_sync(domain, flags, &params, NULL, error);
    else if (group == GROUP_SCHED)
        ok = vb_dbus_domain_call_get_scheduler_parameters_sync(domain, flags, &params, NULL,
                                                               error);
    else
        ok = vb_dbus_domain_call_get_blkio_parameters_sync(domain, flags, &params, NULL, error);
    if (!ok)
        return FALSE;
    print_params(group, params);
    return TRUE;
}

/* `memtune NAME|UUID [hard_limit=KIB] [soft_limit=KIB] [swap_hard_limit=KIB]
 *  [min_guarantee=KIB] [--live] [--config] [--current]` */
gboolean
vbctl_cmd_memtune(VbctlContext *ctx, GError **error)
{
    return tune_command(ctx, GROUP_MEMORY, error);
}

/* `schedinfo NAME|UUID [cpu_shares=N] [global_quota=US] ... [--live] [--config]` */
gboolean
vbctl_cmd_schedinfo(VbctlContext *ctx, GError **error)
{
    return tune_command(ctx, GROUP_SCHED, error);
}

/* `blkiotune NAME|UUID [weight=N] [device_weight=PATH,N,...] ... [--live] [--config]` */
gboolean
vbctl_cmd_blkiotune(VbctlContext *ctx, GError **error)
{
    return tune_command(ctx, GROUP_BLKIO, error);
}
