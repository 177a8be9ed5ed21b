/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Memory and vCPUs (issue 13, part memev): setmem, setmaxmem, vcpupin, iothreadpin.
 * Events are printed by
 * `event --all` (vbctl-event.c).
 */
#include "config.h"

#include <glib/gi18n.h>
#include <string.h>
#include <unistd.h>

#include "vbctl.h"

/* libvirt's virDomainMemoryModFlags */
#define MEM_LIVE 1
#define MEM_CONFIG 2

/*
 * A size as virsh takes it: a number with an optional unit (b, KiB/k, MiB/M, GiB/G, TiB/T;
 * KB, MB, GB, TB are powers of 1000), KiB when none. Returns KiB (rounded up).
 */
static gboolean
parse_kib(const char *text, guint64 *out_kib, GError **error)
{
    static const struct {
        const char *unit;
        guint64 bytes;
    } units[] = {
        {"", 1024},          {"b", 1},
        {"bytes", 1},        {"k", 1024},
        {"kib", 1024},       {"kb", 1000},
        {"m", 1024 * 1024},  {"mib", 1024 * 1024},
        {"mb", 1000 * 1000}, {"g", 1024 * 1024 * 1024},
        {"gib", 1024 * 1024 * 1024}, {"gb", 1000 * 1000 * 1000},
        {"t", G_GUINT64_CONSTANT(1) << 40}, {"tib", G_GUINT64_CONSTANT(1) << 40},
        {"tb", G_GUINT64_CONSTANT(1000000000000)},
    };
    char *end = NULL;
    guint64 n;

    if (text == NULL || !g_ascii_isdigit(*text))
        goto bad;
    n = g_ascii_strtoull(text, &end, 10);
    for (gsize i = 0; i < G_N_ELEMENTS(units); i++) {
        if (g_ascii_strcasecmp(end, units[i].unit) != 0)
            continue;
        if (n > G_MAXUINT64 / units[i].bytes)
            goto bad;
        *out_kib = (n * units[i].bytes + 1023) / 1024;
        return TRUE;
    }
bad:
    g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                _("invalid size '%s': give a number with an optional unit (KiB when none: "
                  "k, M, G, T or b)"),
                text != NULL ? text : "");
    return FALSE;
}

static guint
mem_flags(VbctlContext *ctx, GError **error)
{
    if (ctx->flags.mem_current && (ctx->flags.mem_live || ctx->flags.mem_config)) {
        g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                    _("--current cannot be combined with --live or --config"));
        return G_MAXUINT;
    }
    return (ctx->flags.mem_live ? MEM_LIVE : 0) | (ctx->flags.mem_config ? MEM_CONFIG : 0);
}

/* `setmem NAME|UUID SIZE [--live] [--config] [--current]` */
gboolean
vbctl_cmd_setmem(VbctlContext *ctx, GError **error)
{
    g_autoptr(VbDBusDomain) domain = NULL;
    guint flags = mem_flags(ctx, error);
    guint64 kib;

    if (flags == G_MAXUINT || !parse_kib(ctx->args[1], &kib, error))
        return FALSE;
    domain = vbctl_lookup_domain(ctx, ctx->args[0], TRUE, error);
    if (domain == NULL)
        return FALSE;
    return vb_dbus_domain_call_set_memory_sync(domain, kib, flags, NULL, error);
}

/* `setmaxmem NAME|UUID SIZE [--config] [--current]`: the persistent maximum */
gboolean
vbctl_cmd_setmaxmem(VbctlContext *ctx, GError **error)
{
    g_autoptr(VbDBusDomain) domain = NULL;
    guint flags = mem_flags(ctx, error);
    guint64 kib;

    if (flags == G_MAXUINT || !parse_kib(ctx->args[1], &kib, error))
        return FALSE;
    domain = vbctl_lookup_domain(ctx, ctx->args[0], TRUE, error);
    if (domain == NULL)
        return FALSE;
    /* as virsh: --config (or a domain that does not run) sets MAXIMUM|CONFIG */
    if (flags != 0)
        return vb_dbus_domain_call_set_memory_sync(domain, kib, flags | 4, NULL, error);
    return vb_dbus_domain_call_set_max_memory_sync(domain, kib, NULL, error);
}

/* ---- vcpupin, iothreadpin ---- */

static guint
host_cpu_count(void)
{
    long n = sysconf(_SC_NPROCESSORS_CONF);

    return n > 0 ? (guint)n : 1;
}

/*
 * Sets in @map the CPUs of @text, a cpulist as virsh takes it ("0-3,^2", "1,3"): "^N"
 * clears N; @map grows to the highest CPU named. FALSE on a malformed list or a CPU at
 * or above @limit.
 */
gboolean
vbctl_cpulist_fill(const char *text, guint limit, GArray *map)
{
    g_auto(GStrv) parts = g_strsplit(text, ",", -1);

    for (guint i = 0; parts[i] != NULL; i++) {
        const char *p = parts[i];
        gboolean neg = *p == '^';
        guint64 lo, hi;
        char *end = NULL;

        if (neg)
            p++;
        if (!g_ascii_isdigit(*p))
            return FALSE;
        lo = hi = g_ascii_strtoull(p, &end, 10);
        if (*end == '-' && !neg) {
            if (!g_ascii_isdigit(end[1]))
                return FALSE;
            hi = g_ascii_strtoull(end + 1, &end, 10);
        }
        if (*end != '\0' || hi < lo || hi >= limit)
            return FALSE;
        if (hi >= map->len)
            g_array_set_size(map, (guint)hi + 1);
        for (guint64 c = lo; c <= hi; c++)
            g_array_index(map, gboolean, c) = !neg;
    }
    return TRUE;
}

/* a map of gboolean as "ab" */
GVariant *
vbctl_cpumap_variant(const GArray *map)
{
    GVariantBuilder b;

    g_variant_builder_init(&b, G_VARIANT_TYPE("ab"));
    for (guint i = 0; i < map->len; i++)
        g_variant_builder_add(&b, "b", g_array_index(map, gboolean, i));
    return g_variant_builder_end(&b);
}

/*
 * A cpulist as virsh takes it: "0-3,^2", "1,3", or "r" for every host CPU. Returns the
 * "ab" map, as long as the host's CPU count or the highest CPU named.
 */
GVariant *
vbctl_parse_cpulist(const char *text, GError **error)
{
    guint n_host = host_cpu_count();
    g_autoptr(GArray) map = g_array_new(FALSE, TRUE, sizeof(gboolean));

    g_array_set_size(map, n_host);
    if (g_strcmp0(text, "r") == 0) {
        for (guint i = 0; i < n_host; i++)
            g_array_index(map, gboolean, i) = TRUE;
    } else if (!vbctl_cpulist_fill(text, 16384, map)) {
        g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                    _("invalid CPU list '%s': give host CPUs as in '0-3,^2' or 'r' for all"),
                    text);
        return NULL;
    }
    return vbctl_cpumap_variant(map);
}

/* "0-2,5" of a map */
char *
vbctl_format_cpumap(GVariant *map)
{
    GString *s = g_string_new(NULL);
    gsize n = g_variant_n_children(map);

    for (gsize i = 0; i < n;) {
        gboolean set;
        gsize j = i;

        g_variant_get_child(map, i, "b", &set);
        if (!set) {
            i++;
            continue;
        }
        for (; j + 1 < n; j++) {
            gboolean next;

            g_variant_get_child(map, j + 1, "b", &next);
            if (!next)
                break;
        }
        g_string_append_printf(s, "%s%" G_GSIZE_FORMAT, s->len ? "," : "", i);
        if (j > i)
            g_string_append_printf(s, "-%" G_GSIZE_FORMAT, j);
        i = j + 1;
    }
    return g_string_free(s, FALSE);
}

static gboolean
parse_index(const char *text, const char *what, guint *out, GError **error)
{
    char *end = NULL;
    guint64 v;

    if (text == NULL || !g_ascii_isdigit(*text) ||
        (v = g_ascii_strtoull(text, &end, 10)) > G_MAXUINT32 || *end != '\0') {
        g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                    _("invalid %s '%s': give a number"), what, text != NULL ? text : "");
        return FALSE;
    }
    *out = (guint)v;
    return TRUE;
}

/* `vcpupin NAME|UUID [VCPU [CPULIST]] [--live] [--config] [--current]` */
gboolean
vbctl_cmd_vcpupin(VbctlContext *ctx, GError **error)
{
    g_autoptr(VbDBusDomain) domain = NULL;
    g_autoptr(GVariant) info = NULL;
    guint flags = mem_flags(ctx, error);
    guint vcpu = G_MAXUINT;
    GVariant *map = NULL;

    if (flags == G_MAXUINT)
        return FALSE;
    if (ctx->n_args > 1 && !parse_index(ctx->args[1], _("vCPU"), &vcpu, error))
        return FALSE;
    if (ctx->n_args > 2) {
        map = vbctl_parse_cpulist(ctx->args[2], error);
        if (map == NULL)
            return FALSE;
    }
    domain = vbctl_lookup_domain(ctx, ctx->args[0], TRUE, error);
    if (domain == NULL) {
        if (map != NULL)
            g_variant_unref(g_variant_ref_sink(map));
        return FALSE;
    }
    if (map != NULL)
        return vb_dbus_domain_call_pin_vcpu_sync(domain, vcpu, map, flags, NULL, error);
    if (flags == (MEM_LIVE | MEM_CONFIG)) {
        g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                    _("--live and --config exclude each other when printing"));
        return FALSE;
    }
    if (!vb_dbus_domain_call_get_vcpu_pin_info_sync(domain, flags, &info, NULL, error))
        return FALSE;
    g_print(" %-6s %s\n", _("VCPU"), _("CPU Affinity"));
    g_print("----------------------\n");
    for (gsize i = 0; i < g_variant_n_children(info); i++) {
        g_autoptr(GVariant) m = g_variant_get_child_value(info, i);
        g_autofree char *list = vbctl_format_cpumap(m);

        if (vcpu != G_MAXUINT && i != vcpu)
            continue;
        g_print(" %-6" G_GSIZE_FORMAT " %s\n", i, list);
    }
    if (vcpu != G_MAXUINT && vcpu >= g_variant_n_children(info)) {
        g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                    _("vCPU %u is out of range: the domain has %" G_GSIZE_FORMAT), vcpu,
                    g_variant_n_children(info));
        return FALSE;
    }
    return TRUE;
}

/* `iothreadpin NAME|UUID IOTHREAD CPULIST [--live] [--config] [--current]` */
gboolean
vbctl_cmd_iothreadpin(VbctlContext *ctx, GError **error)
{
    g_autoptr(VbDBusDomain) domain = NULL;
    g_autoptr(GVariant) map = NULL;
    guint flags = mem_flags(ctx, error);
    guint id;

    if (flags == G_MAXUINT || !parse_index(ctx->args[1], _("iothread id"), &id, error))
        return FALSE;
    map = vbctl_parse_cpulist(ctx->args[2], error);
    if (map == NULL)
        return FALSE;
    g_variant_ref_sink(map);
    domain = vbctl_lookup_domain(ctx, ctx->args[0], TRUE, error);
    if (domain == NULL)
        return FALSE;
    return vb_dbus_domain_call_pin_iothread_sync(domain, id, map, flags, NULL, error);
}

/* `setvcpus NAME|UUID COUNT [--live] [--config] [--current] [--maximum]` */
gboolean
vbctl_cmd_setvcpus(VbctlContext *ctx, GError **error)
{
    g_autoptr(VbDBusDomain) domain = NULL;
    guint flags = mem_flags(ctx, error);
    guint n;

    if (flags == G_MAXUINT || !parse_index(ctx->args[1], _("vCPU count"), &n, error))
        return FALSE;
    if (ctx->flags.vcpu_maximum)
        flags |= 4; /* VIR_DOMAIN_VCPU_MAXIMUM */
    if (ctx->flags.guest2.guest)
        flags |= 8; /* VIR_DOMAIN_VCPU_GUEST (issue 13, part guest2) */
    domain = vbctl_lookup_domain(ctx, ctx->args[0], TRUE, error);
    if (domain == NULL)
        return FALSE;
    return vb_dbus_domain_call_set_vcpus_sync(domain, n, flags, NULL, error);
}
