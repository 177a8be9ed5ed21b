/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Statistics on the bus (issue 13, part stats): Domain.GetStats, MemoryStats,
 * SetMemoryStatsPeriod, InterfaceStats, BlockStats, GetBlockInfo, GetCPUStats and
 * Manager.GetAllDomainStats. The work is in domain/domain-stats.c.
 */
#include "config.h"

#include <glib/gi18n.h>

#include "bus-errors.h"
#include "bus-names.h"
#include "bus-service.h"
#include "domain-stats.h"
#include "vb-error.h"

/* GetStats(u types, u flags) -> a{sv}: virDomainListGetStats of one domain (no list
 * filters, as libvirt: "filtering is not supported by this function"). */
GVariant *
vb_bus_stats_get_stats(VbBusCall *call, GError **error)
{
    guint32 types, flags;
    g_autoptr(GVariant) rec = NULL;

    g_variant_get(call->parameters, "(uu)", &types, &flags);
    if (!vb_bus_check_flags(flags, VB_STATS_CALL_FLAGS, "GetStats", error))
        return NULL;
    rec = vb_domain_get_stats(call->service->domains, call->dom, types, flags,
                              vb_bus_owner(call), error);
    if (rec == NULL)
        return NULL;
    return g_variant_new("(@a{sv})", rec);
}

/* MemoryStats(u flags) -> a{it} (libvirt-dbus's shape). */
GVariant *
vb_bus_stats_memory_stats(VbBusCall *call, GError **error)
{
    guint32 flags;
    g_autoptr(GVariant) stats = NULL;

    g_variant_get(call->parameters, "(u)", &flags);
    if (!vb_bus_check_flags(flags, 0, "MemoryStats", error))
        return NULL;
    stats = vb_domain_memory_stats(call->service->domains, call->dom, vb_bus_owner(call),
                                   error);
    if (stats == NULL)
        return NULL;
    return g_variant_new("(@a{it})", stats);
}

/* SetMemoryStatsPeriod(i period, u flags) */
GVariant *
vb_bus_stats_set_memory_stats_period(VbBusCall *call, GError **error)
{
    gint32 period;
    guint32 flags;

    g_variant_get(call->parameters, "(iu)", &period, &flags);
    if (!vb_bus_check_flags(flags, VB_AFFECT_LIVE | VB_AFFECT_CONFIG, "SetMemoryStatsPeriod",
                            error) ||
        !vb_domain_set_memory_stats_period(call->service->domains, call->dom, period, flags,
                                           vb_bus_owner(call), error))
        return NULL;
    return g_variant_new("()");
}

/* InterfaceStats(s device) -> (xxxxxxxx): virDomainInterfaceStats' struct, in its order. */
GVariant *
vb_bus_stats_interface_stats(VbBusCall *call, GError **error)
{
    const char *device;
    gint64 v[8];

    g_variant_get(call->parameters, "(&s)", &device);
    if (!vb_domain_interface_stats(call->dom, device, v, error))
        return NULL;
    return g_variant_new("((xxxxxxxx))", v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7]);
}

/* The block records of a running domain, from GetStats' block group. */
static GVariant *
block_records(VbBusCall *call, const char *method, GError **error)
{
    g_autoptr(GVariant) rec = NULL;
    gint32 state = 0;

    rec = vb_domain_get_stats(call->service->domains, call->dom,
                              VB_STATS_STATE | VB_STATS_BLOCK, 0, vb_bus_owner(call), error);
    if (rec == NULL)
        return NULL;
    if (!g_variant_lookup(rec, "block.count", "u", NULL)) {
        g_autofree char *name = vb_domain_obj_get_name(call->dom);

        g_variant_lookup(rec, "state.state", "i", &state);
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_STATE,
                    "domain '%s' is not running; %s needs QEMU's figures: start it first",
                    name, method);
        return NULL;
    }
    return g_steal_pointer(&rec);
}

/* The index N of the top image of @disk (target name or source path) in @rec, or -1. */
static int
find_disk(GVariant *rec, const char *disk)
{
    guint32 count = 0;

    g_variant_lookup(rec, "block.count", "u", &count);
    for (guint i = 0; i < count; i++) {
        g_autofree char *kn = g_strdup_printf("block.%u.name", i);
        g_autofree char *kp = g_strdup_printf("block.%u.path", i);
        const char *name = NULL, *path = NULL;

        g_variant_lookup(rec, kn, "&s", &name);
        g_variant_lookup(rec, kp, "&s", &path);
        if (g_strcmp0(name, disk) == 0 || g_strcmp0(path, disk) == 0)
            return (int)i;
    }
    return -1;
}

static guint64
rec_u64(GVariant *rec, int idx, const char *field)
{
    g_autofree char *key = g_strdup_printf("block.%d.%s", idx, field);
    guint64 v = 0;

    g_variant_lookup(rec, key, "t", &v);
    return v;
}

/* BlockStats(s disk, u flags) -> a{sv}: virDomainBlockStatsFlags' fields ("x"); an empty
 * disk sums every disk, as libvirt. */
GVariant *
vb_bus_stats_block_stats(VbBusCall *call, GError **error)
{
    static const struct {
        const char *ours;
        const char *libvirt;
    } map[] = {
        { "rd.reqs", "rd_operations" },  { "rd.bytes", "rd_bytes" },
        { "rd.times", "rd_total_times" }, { "wr.reqs", "wr_operations" },
        { "wr.bytes", "wr_bytes" },      { "wr.times", "wr_total_times" },
        { "fl.reqs", "flush_operations" }, { "fl.times", "flush_total_times" },
    };
    const char *disk;
    guint32 flags, count = 0;
    g_autoptr(GVariant) rec = NULL;
    GVariantBuilder b;
    int idx = -1;

    g_variant_get(call->parameters, "(&su)", &disk, &flags);
    if (!vb_bus_check_flags(flags, 0, "BlockStats", error))
        return NULL;
    rec = block_records(call, "BlockStats", error);
    if (rec == NULL)
        return NULL;
    g_variant_lookup(rec, "block.count", "u", &count);
    if (*disk != '\0' && (idx = find_disk(rec, disk)) < 0) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                    "invalid path: '%s' is not a disk of the domain (give its target, "
                    "e.g. vda, or its source path)", disk);
        return NULL;
    }
    g_variant_builder_init(&b, G_VARIANT_TYPE("a{sv}"));
    for (gsize k = 0; k < G_N_ELEMENTS(map); k++) {
        guint64 sum = 0;

        for (guint i = 0; i < count; i++) {
            if (idx < 0 || (int)i == idx)
                sum += rec_u64(rec, (int)i, map[k].ours);
        }
        g_variant_builder_add(&b, "{sv}", map[k].libvirt,
                              g_variant_new_int64(sum > G_MAXINT64 ? G_MAXINT64 : (gint64)sum));
    }
    return g_variant_new("(a{sv})", &b);
}

/* GetBlockInfo(s disk, u flags) -> (ttt): capacity, allocation, physical (bytes). */
GVariant *
vb_bus_stats_get_block_info(VbBusCall *call, GError **error)
{
    const char *disk;
    guint32 flags;
    g_autoptr(GVariant) rec = NULL;
    int idx;

    g_variant_get(call->parameters, "(&su)", &disk, &flags);
    if (!vb_bus_check_flags(flags, 0, "GetBlockInfo", error))
        return NULL;
    rec = block_records(call, "GetBlockInfo", error);
    if (rec == NULL)
        return NULL;
    idx = find_disk(rec, disk);
    if (idx < 0) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                    "invalid path: '%s' is not a disk of the domain (give its target, "
                    "e.g. vda, or its source path)", disk);
        return NULL;
    }
    /* a file's allocation is what it holds on the host: its physical size (libvirt) */
    return g_variant_new("((ttt))", rec_u64(rec, idx, "capacity"),
                         rec_u64(rec, idx, "physical"), rec_u64(rec, idx, "physical"));
}

/* GetCPUStats(i start_cpu, u ncpus, u flags) -> a{sv}: the total (-1, 1) only. */
GVariant *
vb_bus_stats_get_cpu_stats(VbBusCall *call, GError **error)
{
    gint32 start;
    guint32 ncpus, flags;
    g_autoptr(GVariant) rec = NULL;
    guint64 t = 0, u = 0, s = 0;
    GVariantBuilder b;

    g_variant_get(call->parameters, "(iuu)", &start, &ncpus, &flags);
    if (!vb_bus_check_flags(flags, 0, "GetCPUStats", error))
        return NULL;
    if (start != -1 || ncpus != 1) {
        g_set_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
                    "per host CPU statistics need cgroups, which virtbus does not use: ask "
                    "for the total (start_cpu -1, ncpus 1)");
        return NULL;
    }
    rec = vb_domain_get_stats(call->service->domains, call->dom, VB_STATS_CPU_TOTAL, 0,
                              vb_bus_owner(call), error);
    if (rec == NULL)
        return NULL;
    if (!g_variant_lookup(rec, "cpu.time", "t", &t)) {
        g_autofree char *name = vb_domain_obj_get_name(call->dom);

        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_STATE,
                    "domain '%s' is not running; start it first", name);
        return NULL;
    }
    g_variant_lookup(rec, "cpu.user", "t", &u);
    g_variant_lookup(rec, "cpu.system", "t", &s);
    g_variant_builder_init(&b, G_VARIANT_TYPE("a{sv}"));
    g_variant_builder_add(&b, "{sv}", "cpu_time", g_variant_new_uint64(t));
    g_variant_builder_add(&b, "{sv}", "user_time", g_variant_new_uint64(u));
    g_variant_builder_add(&b, "{sv}", "system_time", g_variant_new_uint64(s));
    return g_variant_new("(a{sv})", &b);
}

/* ---- Manager.GetAllDomainStats ---- */

typedef struct {
    VbBusCall *call;
    GPtrArray *doms;   /* VbDomainId*: a domain kept as a stub is read on the stats pool,
                          not loaded (issue 16) */
    GVariant **recs;   /* one per domain, NULL: left out */
    guint types;
    guint flags;
    char *owner;
    gint pending;      /* atomic */
} AllStats;

typedef struct {
    AllStats *all;
    guint index;
} AllStatsItem;

static void
all_stats_free(AllStats *all)
{
    for (guint i = 0; i < all->doms->len; i++)
        g_clear_pointer(&all->recs[i], g_variant_unref);
    g_free(all->recs);
    g_ptr_array_unref(all->doms);
    g_free(all->owner);
    g_free(all);
}

static gboolean
all_stats_reply(gpointer data)
{
    AllStats *all = data;
    GVariantBuilder b;

    g_variant_builder_init(&b, G_VARIANT_TYPE("a(sa{sv})"));
    for (guint i = 0; i < all->doms->len; i++) {
        if (all->recs[i] == NULL)
            continue;
        g_variant_builder_add(&b, "(s@a{sv})", ((VbDomainId *)all->doms->pdata[i])->name,
                              all->recs[i]);
    }
    vb_bus_call_return(all->call, g_variant_new("(a(sa{sv}))", &b), NULL);
    all_stats_free(all);
    return G_SOURCE_REMOVE;
}

/* The stats pool's function: one domain's record. Pool thread. */
static void
all_stats_run(gpointer data, gpointer user_data)
{
    AllStatsItem *item = data;
    AllStats *all = item->all;
    const VbDomainId *id = all->doms->pdata[item->index];
    g_autoptr(GError) err = NULL;
    g_autoptr(VbDomainObj) dom = NULL;
    gboolean removed = TRUE;

    dom = vb_domain_list_find_for_reading(all->call->service->domains, id->uuid_str, &err);
    if (dom != NULL) {
        g_mutex_lock(&dom->lock);
        removed = dom->removed;
        g_mutex_unlock(&dom->lock);
    } else if (g_error_matches(err, VB_ERROR, VB_ERROR_NO_DOMAIN)) {
        g_clear_error(&err);
    }
    /* a domain undefined meanwhile is left out; so is one that fails (it cannot, but a
     * failing domain must not fail the others) */
    if (!removed)
        all->recs[item->index] = vb_domain_get_stats(all->call->service->domains, dom,
                                                     all->types, all->flags, all->owner, &err);
    if (err != NULL)
        g_debug("GetAllDomainStats: %s", err->message);
    g_free(item);
    if (g_atomic_int_dec_and_test(&all->pending))
        vb_bus_service_queue(all->call->service, all_stats_reply, all);
}

/*
 * One pool for the records of GetAllDomainStats, as large as the worker pool: the domains
 * of one call are collected in parallel, and the call's own worker is not held while they
 * are (a domain whose job is busy waits there, not on a bus worker). Made at the first
 * call, ended by vb_bus_stats_fini().
 */
static GMutex stats_pool_lock;
static GThreadPool *stats_pool_threads; /* under stats_pool_lock */

static GThreadPool *
stats_pool(VbBusService *service)
{
    GThreadPool *pool;

    g_mutex_lock(&stats_pool_lock);
    if (stats_pool_threads == NULL) {
        guint n = service->config.worker_threads > 0 ? service->config.worker_threads : 8;

        stats_pool_threads = g_thread_pool_new(all_stats_run, NULL, (gint)n, FALSE, NULL);
    }
    pool = stats_pool_threads;
    g_mutex_unlock(&stats_pool_lock);
    return pool;
}

/**
 * vb_bus_stats_fini:
 *
 * Waits for the records being collected (as for the worker pool) and ends the stats pool,
 * before the service frees its domains. Main thread, at the service's end.
 */
void
vb_bus_stats_fini(void)
{
    GThreadPool *pool;

    g_mutex_lock(&stats_pool_lock);
    pool = g_steal_pointer(&stats_pool_threads);
    g_mutex_unlock(&stats_pool_lock);
    if (pool != NULL)
        g_thread_pool_free(pool, FALSE, TRUE);
}

static gboolean
state_matches(VbBusService *service, const VbDomainId *id, guint flags)
{
    guint sf = flags & (VB_STATS_RUNNING | VB_STATS_PAUSED | VB_STATS_SHUTOFF | VB_STATS_OTHER);
    g_autoptr(VbDomainObj) dom = NULL;
    VbDomainState st = VB_DOMAIN_STATE_SHUTOFF; /* a stub's */

    if (sf == 0)
        return TRUE;
    dom = vb_domain_list_peek_by_uuid(service->domains, id->uuid_str);
    if (dom != NULL) {
        g_mutex_lock(&dom->lock);
        st = dom->state;
        g_mutex_unlock(&dom->lock);
    }
    if (st == VB_DOMAIN_STATE_RUNNING)
        return (sf & VB_STATS_RUNNING) != 0;
    if (st == VB_DOMAIN_STATE_PAUSED)
        return (sf & VB_STATS_PAUSED) != 0;
    if (st == VB_DOMAIN_STATE_SHUTOFF)
        return (sf & VB_STATS_SHUTOFF) != 0;
    return (sf & VB_STATS_OTHER) != 0;
}

/* Main thread: hands every readable domain to the stats pool. */
static void
all_stats_start(VbBusCall *call, GHashTable *readable, gpointer user_data)
{
    AllStats *all = user_data;
    GPtrArray *keep = g_ptr_array_new_with_free_func((GDestroyNotify)vb_domain_id_free);

    for (guint i = 0; i < all->doms->len; i++) {
        g_autofree char *path = vb_bus_domain_path(((VbDomainId *)all->doms->pdata[i])->uuid_str);

        if (readable == NULL || g_hash_table_contains(readable, path))
            g_ptr_array_add(keep, g_steal_pointer(&all->doms->pdata[i]));
    }
    g_ptr_array_unref(all->doms);
    all->doms = keep;
    all->recs = g_new0(GVariant *, keep->len + 1);
    if (keep->len == 0) {
        all_stats_reply(all);
        return;
    }
    all->pending = (gint)keep->len;
    for (guint i = 0; i < keep->len; i++) {
        AllStatsItem *item = g_new0(AllStatsItem, 1);

        item->all = all;
        item->index = i;
        g_thread_pool_push(stats_pool(call->service), item, NULL);
    }
}

/* Manager.GetAllDomainStats(u types, u flags) -> a(sa{sv}): (name, record) per domain, as
 * libvirt-dbus. Inline, deferred: answered once every record is in. */
GVariant *
vb_bus_stats_get_all_domain_stats(VbBusCall *call, GError **error)
{
    guint32 types, flags;
    g_autoptr(GPtrArray) doms = NULL;
    AllStats *all;

    g_variant_get(call->parameters, "(uu)", &types, &flags);
    if (!vb_bus_check_flags(flags, VB_STATS_LIST_FLAGS | VB_STATS_CALL_FLAGS,
                            "GetAllDomainStats", error))
        return NULL;
    if ((flags & VB_STATS_ENFORCE_STATS) && (types & ~(guint)VB_STATS_SUPPORTED) != 0) {
        g_set_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
                    "stats types bits 0x%x are not supported by this daemon (virtbus reports "
                    "state, cpu-total, balloon, vcpu, perf, interface, block, iothread, "
                    "dirtyrate)",
                    types & ~(guint)VB_STATS_SUPPORTED);
        return NULL;
    }
    doms = vb_domain_list_collect_ids(call->service->domains,
                                      flags & (VB_STATS_ACTIVE | VB_STATS_INACTIVE |
                                               VB_STATS_PERSISTENT | VB_STATS_TRANSIENT));
    all = g_new0(AllStats, 1);
    all->call = call;
    all->types = types;
    all->flags = flags;
    all->owner = g_strdup(vb_bus_owner(call));
    all->doms = g_ptr_array_new_with_free_func((GDestroyNotify)vb_domain_id_free);
    for (guint i = 0; i < doms->len; i++) {
        if (state_matches(call->service, doms->pdata[i], flags))
            g_ptr_array_add(all->doms, g_steal_pointer(&doms->pdata[i]));
    }
    if (vb_bus_call_filters_reads(call)) {
        GHashTable *objects = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                                    (GDestroyNotify)g_hash_table_unref);

        for (guint i = 0; i < all->doms->len; i++) {
            const VbDomainId *id = all->doms->pdata[i];

            g_hash_table_insert(objects, vb_bus_domain_path(id->uuid_str),
                                vb_bus_read_details_new(id->name, id->uuid_str));
        }
        vb_bus_filter_readable(call, "getalldomainstats", objects, all_stats_start, all);
    } else {
        all_stats_start(call, NULL, all);
    }
    return NULL; /* kept: answered when every record is in */
}
