/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <glib/gi18n.h>
#include <stdlib.h>
#include <string.h>

#include "vbctl-output.h"
#include "vbctl.h"

/*
 * Statistics (issue 13, part stats): domstats (Domain.GetStats, Manager.GetAllDomainStats),
 * domblklist, domblkinfo, domblkstat, domifstat, dommemstat, vcpuinfo, cpu-stats, with
 * virsh's output.
 */

/* libvirt's VIR_DOMAIN_STATS_* and VIR_CONNECT_GET_ALL_DOMAINS_STATS_* values */
#define STATS_STATE 1u
#define STATS_CPU_TOTAL 2u
#define STATS_BALLOON 4u
#define STATS_VCPU 8u
#define STATS_INTERFACE 16u
#define STATS_BLOCK 32u
#define STATS_PERF 64u
#define STATS_IOTHREAD 128u
#define STATS_MEMORY 256u
#define STATS_DIRTYRATE 512u
#define STATS_NOWAIT (1u << 29)
#define STATS_BACKING (1u << 30)
#define STATS_ENFORCE (1u << 31)

/* GetXMLDesc INACTIVE (libvirt's value) */
#define XML_INACTIVE 2u

/* A typed parameter's value as virsh prints it. */
static char *
format_value(GVariant *v)
{
    if (g_variant_is_of_type(v, G_VARIANT_TYPE_STRING))
        return g_variant_dup_string(v, NULL);
    if (g_variant_is_of_type(v, G_VARIANT_TYPE_BOOLEAN))
        return g_strdup(g_variant_get_boolean(v) ? "yes" : "no");
    if (g_variant_is_of_type(v, G_VARIANT_TYPE_INT32))
        return g_strdup_printf("%d", g_variant_get_int32(v));
    if (g_variant_is_of_type(v, G_VARIANT_TYPE_UINT32))
        return g_strdup_printf("%u", g_variant_get_uint32(v));
    if (g_variant_is_of_type(v, G_VARIANT_TYPE_INT64))
        return g_strdup_printf("%" G_GINT64_FORMAT, g_variant_get_int64(v));
    if (g_variant_is_of_type(v, G_VARIANT_TYPE_UINT64))
        return g_strdup_printf("%" G_GUINT64_FORMAT, g_variant_get_uint64(v));
    if (g_variant_is_of_type(v, G_VARIANT_TYPE_DOUBLE))
        return g_strdup_printf("%f", g_variant_get_double(v));
    return g_variant_print(v, FALSE);
}

static void
print_record(const char *name, GVariant *rec)
{
    GVariantIter it;
    const char *key;
    GVariant *val;

    g_print("Domain: '%s'\n", name);
    g_variant_iter_init(&it, rec);
    while (g_variant_iter_next(&it, "{&sv}", &key, &val)) {
        g_autofree char *text = format_value(val);

        g_print("  %s=%s\n", key, text);
        g_variant_unref(val);
    }
    g_print("\n");
}

static guint
stats_types(const VbctlFlags *f)
{
    guint t = 0;

    t |= f->stats_state ? STATS_STATE : 0;
    t |= f->stats_cpu_total ? STATS_CPU_TOTAL : 0;
    t |= f->stats_balloon ? STATS_BALLOON : 0;
    t |= f->stats_vcpu ? STATS_VCPU : 0;
    t |= f->stats_interface ? STATS_INTERFACE : 0;
    t |= f->stats_block ? STATS_BLOCK : 0;
    t |= f->stats_perf ? STATS_PERF : 0;
    t |= f->stats_iothread ? STATS_IOTHREAD : 0;
    t |= f->stats_memory ? STATS_MEMORY : 0;
    t |= f->stats_dirtyrate ? STATS_DIRTYRATE : 0;
    return t;
}

static guint
stats_flags(const VbctlFlags *f)
{
    guint fl = 0;

    fl |= f->stats_nowait ? STATS_NOWAIT : 0;
    fl |= f->stats_backing ? STATS_BACKING : 0;
    fl |= f->stats_enforce ? STATS_ENFORCE : 0;
    return fl;
}

/* The list filters of GetAllDomainStats, from domstats' --list-* options. */
static guint
list_flags(const VbctlFlags *f)
{
    guint fl = 0;

    fl |= f->stats_list_active ? 1u : 0;
    fl |= f->stats_list_inactive ? 2u : 0;
    fl |= f->persistent ? 4u : 0;
    fl |= f->transient ? 8u : 0;
    fl |= f->state_running ? 16u : 0;
    fl |= f->state_paused ? 32u : 0;
    fl |= f->state_shutoff ? 64u : 0;
    fl |= f->state_other ? 128u : 0;
    return fl;
}

/**
 * vbctl_cmd_domstats:
 *
 * `domstats [--state] [--cpu-total] ... [--list-*] [--nowait] [--backing] [--enforce]
 * [NAME|UUID...]`: virsh's domstats: the named domains one by one (Domain.GetStats), or
 * every domain the filters keep in one call (Manager.GetAllDomainStats).
 */
gboolean
vbctl_cmd_domstats(VbctlContext *ctx, GError **error)
{
    guint types = stats_types(&ctx->flags);
    guint flags = stats_flags(&ctx->flags);

    if (ctx->n_args == 0) {
        VbDBusManager *manager = vbctl_manager(ctx, error);
        g_autoptr(GVariant) recs = NULL;
        GVariantIter it;
        const char *name;
        GVariant *rec;

        if (manager == NULL ||
            !vb_dbus_manager_call_get_all_domain_stats_sync(manager, types,
                                                            flags | list_flags(&ctx->flags),
                                                            &recs, NULL, error))
            return FALSE;
        g_variant_iter_init(&it, recs);
        while (g_variant_iter_next(&it, "(&s@a{sv})", &name, &rec)) {
            print_record(name, rec);
            g_variant_unref(rec);
        }
        return TRUE;
    }
    if (list_flags(&ctx->flags) != 0) {
        g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_FAILED,
                    _("--list-* options and domain names are mutually exclusive"));
        return FALSE;
    }
    for (guint i = 0; i < ctx->n_args; i++) {
        g_autoptr(VbDBusDomain) domain = vbctl_lookup_domain(ctx, ctx->args[i], FALSE, error);
        g_autoptr(GVariant) rec = NULL;
        g_autofree char *name = NULL;

        if (domain == NULL ||
            !vb_dbus_domain_call_get_stats_sync(domain, types, flags, &rec, NULL, error))
            return FALSE;
        name = vb_dbus_domain_dup_name(domain);
        if (name == NULL || *name == '\0') {
            g_free(name);
            name = g_strdup(ctx->args[i]);
        }
        print_record(name, rec);
    }
    return TRUE;
}

/* ---- domblklist: the <disk>s of the XML ---- */

static void
disk_start(GMarkupParseContext *pc, const char *element, const char **names,
           const char **values, gpointer data, GError **error)
{
    static const char *const keys[] = { "file", "dev", "dir", "name", "volume" };
    VbctlXmlScan *s = data;

    s->depth++;
    if (strcmp(element, "disk") == 0 && s->cur == NULL) {
        const char *type = vbctl_xml_attr(names, values, "type");
        const char *device = vbctl_xml_attr(names, values, "device");

        s->cur = g_new0(char *, s->n_cols + 1);
        s->cur[0] = g_strdup(type != NULL ? type : "file");
        s->cur[1] = g_strdup(device != NULL ? device : "disk");
        s->item_depth = s->depth;
    } else if (s->cur != NULL && s->depth == s->item_depth + 1) {
        if (strcmp(element, "target") == 0 && s->cur[2] == NULL) {
            s->cur[2] = g_strdup(vbctl_xml_attr(names, values, "dev"));
        } else if (strcmp(element, "source") == 0 && s->cur[3] == NULL) {
            for (guint i = 0; i < G_N_ELEMENTS(keys) && s->cur[3] == NULL; i++)
                s->cur[3] = g_strdup(vbctl_xml_attr(names, values, keys[i]));
        }
    }
}

/**
 * vbctl_domblklist_rows:
 * @xml: a domain's XML
 *
 * Returns: (transfer full) (element-type GStrv) (nullable): one row per <disk>: Type,
 *   Device, Target, Source ("-" when it has none)
 */
GPtrArray *
vbctl_domblklist_rows(const char *xml, GError **error)
{
    static const char *const fill[] = { "-", "-", "-", "-" };

    return vbctl_xml_scan_rows(xml, disk_start, G_N_ELEMENTS(fill), fill, error);
}

/**
 * vbctl_cmd_domblklist:
 *
 * `domblklist NAME|UUID [--inactive] [--details]`: virsh's columns Target and Source
 * (Type, Device, Target, Source with --details).
 */
gboolean
vbctl_cmd_domblklist(VbctlContext *ctx, GError **error)
{
    static const char *const headers[] = { N_("Type"), N_("Device"), N_("Target"),
                                           N_("Source") };
    g_autoptr(VbDBusDomain) domain = vbctl_lookup_domain(ctx, ctx->args[0], FALSE, error);
    g_autofree char *xml = NULL;
    g_autoptr(GPtrArray) rows = NULL;
    guint first = ctx->flags.stats_details ? 0 : 2;

    if (domain == NULL ||
        !vb_dbus_domain_call_get_xmldesc_sync(domain, ctx->flags.inactive ? XML_INACTIVE : 0,
                                              &xml, NULL, error))
        return FALSE;
    rows = vbctl_domblklist_rows(xml, error);
    if (rows == NULL)
        return FALSE;
    vbctl_print_rows(headers, G_N_ELEMENTS(headers), first, rows);
    return TRUE;
}

/**
 * vbctl_cmd_domblkinfo:
 *
 * `domblkinfo NAME|UUID DISK`: Capacity, Allocation, Physical in bytes (virsh's form).
 */
gboolean
vbctl_cmd_domblkinfo(VbctlContext *ctx, GError **error)
{
    g_autoptr(VbDBusDomain) domain = vbctl_lookup_domain(ctx, ctx->args[0], FALSE, error);
    g_autoptr(GVariant) info = NULL;
    guint64 cap, alloc, phys;

    if (domain == NULL ||
        !vb_dbus_domain_call_get_block_info_sync(domain, ctx->args[1], 0, &info, NULL, error))
        return FALSE;
    g_variant_get(info, "(ttt)", &cap, &alloc, &phys);
    g_print("%-15s %" G_GUINT64_FORMAT "\n", _("Capacity:"), cap);
    g_print("%-15s %" G_GUINT64_FORMAT "\n", _("Allocation:"), alloc);
    g_print("%-15s %" G_GUINT64_FORMAT "\n", _("Physical:"), phys);
    return TRUE;
}

/**
 * vbctl_cmd_domblkstat:
 *
 * `domblkstat NAME|UUID [DISK]`: "DISK rd_req N" lines as virsh prints them.
 */
gboolean
vbctl_cmd_domblkstat(VbctlContext *ctx, GError **error)
{
    static const struct {
        const char *field;
        const char *label;
    } rows[] = {
        { "rd_operations", "rd_req" },  { "rd_bytes", "rd_bytes" },
        { "wr_operations", "wr_req" },  { "wr_bytes", "wr_bytes" },
        { "flush_operations", "flush_operations" }, { "rd_total_times", "rd_total_times" },
        { "wr_total_times", "wr_total_times" }, { "flush_total_times", "flush_total_times" },
    };
    g_autoptr(VbDBusDomain) domain = vbctl_lookup_domain(ctx, ctx->args[0], FALSE, error);
    const char *disk = ctx->n_args > 1 ? ctx->args[1] : "";
    g_autoptr(GVariant) stats = NULL;

    if (domain == NULL ||
        !vb_dbus_domain_call_block_stats_sync(domain, disk, 0, &stats, NULL, error))
        return FALSE;
    for (gsize i = 0; i < G_N_ELEMENTS(rows); i++) {
        gint64 v;

        if (g_variant_lookup(stats, rows[i].field, "x", &v))
            g_print("%s %s %" G_GINT64_FORMAT "\n", disk, rows[i].label, v);
    }
    return TRUE;
}

/**
 * vbctl_cmd_domifstat:
 *
 * `domifstat NAME|UUID DEVICE`: the eight counters, "DEVICE rx_bytes N" as virsh.
 */
gboolean
vbctl_cmd_domifstat(VbctlContext *ctx, GError **error)
{
    static const char *const labels[8] = { "rx_bytes", "rx_packets", "rx_errs", "rx_drop",
                                           "tx_bytes", "tx_packets", "tx_errs", "tx_drop" };
    g_autoptr(VbDBusDomain) domain = vbctl_lookup_domain(ctx, ctx->args[0], FALSE, error);
    g_autoptr(GVariant) stats = NULL;
    gint64 v[8];

    if (domain == NULL ||
        !vb_dbus_domain_call_interface_stats_sync(domain, ctx->args[1], &stats, NULL, error))
        return FALSE;
    g_variant_get(stats, "(xxxxxxxx)", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]);
    for (guint i = 0; i < 8; i++)
        g_print("%s %s %" G_GINT64_FORMAT "\n", ctx->args[1], labels[i], v[i]);
    return TRUE;
}

/**
 * vbctl_cmd_dommemstat:
 *
 * `dommemstat NAME|UUID [--period N [--live] [--config] [--current]]`: the memory
 * statistics ("actual 1048576" lines, virsh's names), or sets their period.
 */
gboolean
vbctl_cmd_dommemstat(VbctlContext *ctx, GError **error)
{
    static const char *const names[] = { "swap_in", "swap_out", "major_fault", "minor_fault",
                                         "unused", "available", "actual", "rss", "usable",
                                         "last_update", "disk_caches", "hugetlb_pgalloc",
                                         "hugetlb_pgfail" };
    g_autoptr(VbDBusDomain) domain = vbctl_lookup_domain(ctx, ctx->args[0], FALSE, error);
    g_autoptr(GVariant) stats = NULL;
    GVariantIter it;
    gint32 tag;
    guint64 val;

    if (domain == NULL)
        return FALSE;
    if (ctx->flags.stats_period >= 0) {
        guint flags = (ctx->flags.stats_live ? 1u : 0) | (ctx->flags.stats_config ? 2u : 0);

        return vb_dbus_domain_call_set_memory_stats_period_sync(
            domain, ctx->flags.stats_period, flags, NULL, error);
    }
    if (!vb_dbus_domain_call_memory_stats_sync(domain, 0, &stats, NULL, error))
        return FALSE;
    g_variant_iter_init(&it, stats);
    while (g_variant_iter_next(&it, "{it}", &tag, &val)) {
        if (tag >= 0 && (gsize)tag < G_N_ELEMENTS(names))
            g_print("%s %" G_GUINT64_FORMAT "\n", names[tag], val);
    }
    return TRUE;
}

/**
 * vbctl_cmd_vcpuinfo:
 *
 * `vcpuinfo NAME|UUID`: VCPU, State, CPU time per vCPU (from GetStats' vcpu group), in
 * virsh's layout.
 */
gboolean
vbctl_cmd_vcpuinfo(VbctlContext *ctx, GError **error)
{
    g_autoptr(VbDBusDomain) domain = vbctl_lookup_domain(ctx, ctx->args[0], FALSE, error);
    g_autoptr(GVariant) rec = NULL;
    guint32 cur = 0;

    if (domain == NULL ||
        !vb_dbus_domain_call_get_stats_sync(domain, STATS_VCPU, 0, &rec, NULL, error))
        return FALSE;
    g_variant_lookup(rec, "vcpu.current", "u", &cur);
    for (guint n = 0, shown = 0; shown < cur && n < 4096; n++) {
        g_autofree char *ks = g_strdup_printf("vcpu.%u.state", n);
        g_autofree char *kt = g_strdup_printf("vcpu.%u.time", n);
        gint32 state;
        guint64 t = 0;

        if (!g_variant_lookup(rec, ks, "i", &state))
            continue;
        g_variant_lookup(rec, kt, "t", &t);
        g_print("%-15s %u\n", _("VCPU:"), n);
        g_print("%-15s %s\n", _("State:"),
                state == 1 ? _("running") : state == 2 ? _("blocked") : _("offline"));
        g_print("%-15s %.1fs\n", _("CPU time:"), (double)t / 1e9);
        g_print("\n");
        shown++;
    }
    if (cur > 0 && !g_variant_lookup(rec, "vcpu.0.state", "i", NULL)) {
        g_autofree char *name = vb_dbus_domain_dup_name(domain);

        g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED,
                    _("domain '%s' is not running: no vCPU threads to show"), name);
        return FALSE;
    }
    return TRUE;
}

/**
 * vbctl_cmd_cpu_stats:
 *
 * `cpu-stats NAME|UUID [--total]`: the QEMU process' total, virsh's "Total:" block (per
 * host CPU figures need cgroups, which virtbus does not use: always the total).
 */
gboolean
vbctl_cmd_cpu_stats(VbctlContext *ctx, GError **error)
{
    static const char *const keys[] = { "cpu_time", "user_time", "system_time" };
    g_autoptr(VbDBusDomain) domain = vbctl_lookup_domain(ctx, ctx->args[0], FALSE, error);
    g_autoptr(GVariant) stats = NULL;

    /* only the total: per host CPU figures need cgroups (NotSupported) */
    if (domain == NULL ||
        !vb_dbus_domain_call_get_cpustats_sync(domain, -1, 1, 0, &stats, NULL, error))
        return FALSE;
    g_print("%s\n", _("Total:"));
    for (guint i = 0; i < G_N_ELEMENTS(keys); i++) {
        guint64 v;

        if (g_variant_lookup(stats, keys[i], "t", &v))
            g_print("\t%-12s %10" G_GUINT64_FORMAT ".%09" G_GUINT64_FORMAT " seconds\n", keys[i],
                    v / G_GUINT64_CONSTANT(1000000000), v % G_GUINT64_CONSTANT(1000000000));
    }
    return TRUE;
}
