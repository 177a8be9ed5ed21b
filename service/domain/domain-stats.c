/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Statistics for charts and monitoring (issue 13, part stats): GetStats with libvirt's
 * groups and field names (virConnectGetAllDomainStats), MemoryStats, SetMemoryStatsPeriod,
 * InterfaceStats.
 *
 * What the definition and the run say is copied under dom->lock; /proc and /sys are read
 * without any lock or job; what needs QEMU (query-balloon, guest-stats, query-blockstats,
 * query-named-block-nodes, query-iothreads, query-dirty-rate) runs under a query job,
 * without dom->lock, as libvirt's query job: it waits for a sync job only, runs during any
 * async job (a migration, a save), and with NOWAIT a busy domain just leaves those out.
 */
#include "config.h"

#include <string.h>

#include "domain-list-priv.h"
#include "domain-stats.h"
#include "domain-vcpuio.h" /* issue 13, part vcpuio */
#include "vb-error.h"
#include "vb-log.h"
#include "vb-paths.h"
#include "store.h"

#define QMP_TIMEOUT_MS 30000
#define BALLOON_PATH "/machine/peripheral/balloon0"

typedef struct {
    char *alias;
    char *ifname; /* nullable: no host device (user mode) */
    gboolean swap; /* the host sees the guest's rx as tx (a tap): libvirt swaps */
} StatsNet;

static void
stats_net_free(StatsNet *n)
{
    g_free(n->alias);
    g_free(n->ifname);
    g_free(n);
}

/* What the stats need, copied under dom->lock. */
typedef struct {
    char *name;
    VbDomainState state;
    VbDomainReason reason;
    gboolean active;
    int pid;
    guint vcpus_cur;
    guint vcpus_max;
    guint64 max_mem_kib;
    guint64 cur_mem_kib;
    gboolean balloon;
    int period;
    GPtrArray *disks; /* VbDomainDiskInfo* */
    GPtrArray *nets;  /* StatsNet*, one per <interface> */
    GArray *vcpus;    /* VbThreadId */
} Snap;

static void
snap_clear(Snap *s)
{
    g_free(s->name);
    g_clear_pointer(&s->disks, g_ptr_array_unref);
    g_clear_pointer(&s->nets, g_ptr_array_unref);
    g_clear_pointer(&s->vcpus, g_array_unref);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(Snap, snap_clear)

/* Under dom->lock. */
static void
snap_take(VbDomainObj *dom, Snap *s)
{
    const VbDomainDef *def = dom->def;

    s->name = g_strdup(def->name);
    s->state = dom->state;
    s->reason = dom->reason;
    s->active = dom->id >= 0 && dom->proc != NULL && !dom->stopping;
    s->pid = s->active ? (int)vb_qemu_process_get_pid(dom->proc) : 0;
    s->vcpus_cur = def->vcpus_current;
    s->vcpus_max = def->vcpus_max;
    s->max_mem_kib = def->max_memory_kib;
    s->cur_mem_kib = def->current_memory_kib;
    s->balloon = vb_domain_def_has_virtio_balloon(def);
    s->period = vb_domain_def_get_balloon_period(def);
    s->disks = vb_domain_def_get_disk_infos(def);
    s->nets = g_ptr_array_new_with_free_func((GDestroyNotify)stats_net_free);
    for (guint i = 0; s->active && dom->nets != NULL && i < dom->nets->len; i++) {
        const VbQemuNetPrep *prep = g_ptr_array_index(dom->nets, i);
        StatsNet *n = g_new0(StatsNet, 1);

        n->alias = g_strdup(prep->alias);
        n->ifname = g_strdup(prep->ifname);
        n->swap = g_strcmp0(prep->kind, "macvtap") != 0;
        g_ptr_array_add(s->nets, n);
    }
    s->vcpus = g_array_new(FALSE, FALSE, sizeof(VbThreadId));
    if (s->active && dom->vcpu_tids != NULL)
        g_array_append_vals(s->vcpus, dom->vcpu_tids->data, dom->vcpu_tids->len);
}

/* libvirt's per-state reason numbers (virDomain*Reason) for our one reason table. */
static int
libvirt_reason(VbDomainState state, VbDomainReason r)
{
    switch (state) {
    case VB_DOMAIN_STATE_RUNNING:
        return r == VB_DOMAIN_REASON_BOOTED      ? 1
               : r == VB_DOMAIN_REASON_MIGRATED  ? 2
               : r == VB_DOMAIN_REASON_RESTORED  ? 3
               : r == VB_DOMAIN_REASON_UNPAUSED  ? 5
               : r == VB_DOMAIN_REASON_CRASHED   ? 9
                                                 : 0;
    case VB_DOMAIN_STATE_PAUSED:
        return r == VB_DOMAIN_REASON_USER            ? 1
               : r == VB_DOMAIN_REASON_MIGRATION     ? 2
               : r == VB_DOMAIN_REASON_SAVING        ? 3
               : r == VB_DOMAIN_REASON_SHUTTING_DOWN ? 8
               : r == VB_DOMAIN_REASON_CRASHED       ? 10
               : r == VB_DOMAIN_REASON_PANICKED      ? 10
               : r == VB_DOMAIN_REASON_STARTING_UP   ? 11
                                                     : 0;
    case VB_DOMAIN_STATE_SHUTDOWN:
        return r == VB_DOMAIN_REASON_USER ? 1 : 0;
    case VB_DOMAIN_STATE_SHUTOFF:
        return r == VB_DOMAIN_REASON_SHUTDOWN    ? 1
               : r == VB_DOMAIN_REASON_DESTROYED ? 2
               : r == VB_DOMAIN_REASON_CRASHED   ? 3
               : r == VB_DOMAIN_REASON_MIGRATED  ? 4
               : r == VB_DOMAIN_REASON_SAVED     ? 5
               : r == VB_DOMAIN_REASON_FAILED    ? 6
                                                 : 0;
    case VB_DOMAIN_STATE_CRASHED:
        return r == VB_DOMAIN_REASON_PANICKED ? 1 : 0;
    default:
        return 0;
    }
}

/* ---- JSON helpers (replies from QEMU: every member is checked) ---- */

static gboolean
jint(JsonObject *o, const char *name, gint64 *out)
{
    JsonNode *n = o != NULL ? json_object_get_member(o, name) : NULL;

    if (n == NULL || !JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_INT64)
        return FALSE;
    *out = json_node_get_int(n);
    return TRUE;
}

static const char *
jstr(JsonObject *o, const char *name)
{
    JsonNode *n = o != NULL ? json_object_get_member(o, name) : NULL;

    if (n == NULL || !JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_STRING)
        return NULL;
    return json_node_get_string(n);
}

static JsonObject *
jobj(JsonObject *o, const char *name)
{
    JsonNode *n = o != NULL ? json_object_get_member(o, name) : NULL;

    return n != NULL && JSON_NODE_HOLDS_OBJECT(n) ? json_node_get_object(n) : NULL;
}

static JsonArray *
jarr(JsonNode *n)
{
    return n != NULL && JSON_NODE_HOLDS_ARRAY(n) ? json_node_get_array(n) : NULL;
}

/* ---- the builder: libvirt's typed parameters as a{sv} (libvirt-dbus's mapping) ---- */

static void
add_u(GVariantBuilder *b, guint32 v, const char *fmt, ...) G_GNUC_PRINTF(3, 4);
static void
add_t(GVariantBuilder *b, guint64 v, const char *fmt, ...) G_GNUC_PRINTF(3, 4);
static void
add_i(GVariantBuilder *b, gint32 v, const char *fmt, ...) G_GNUC_PRINTF(3, 4);
static void
add_x(GVariantBuilder *b, gint64 v, const char *fmt, ...) G_GNUC_PRINTF(3, 4);
static void
add_s(GVariantBuilder *b, const char *v, const char *fmt, ...) G_GNUC_PRINTF(3, 4);

#define ADD_BODY(variant)                                                                  \
    do {                                                                                   \
        va_list ap;                                                                        \
        g_autofree char *key = NULL;                                                       \
                                                                                           \
        va_start(ap, fmt);                                                                 \
        key = g_strdup_vprintf(fmt, ap);                                                   \
        va_end(ap);                                                                        \
        g_variant_builder_add(b, "{sv}", key, variant);                                    \
    } while (0)

static void
add_u(GVariantBuilder *b, guint32 v, const char *fmt, ...)
{
    ADD_BODY(g_variant_new_uint32(v));
}

static void
add_t(GVariantBuilder *b, guint64 v, const char *fmt, ...)
{
    ADD_BODY(g_variant_new_uint64(v));
}

static void
add_i(GVariantBuilder *b, gint32 v, const char *fmt, ...)
{
    ADD_BODY(g_variant_new_int32(v));
}

static void
add_x(GVariantBuilder *b, gint64 v, const char *fmt, ...)
{
    ADD_BODY(g_variant_new_int64(v));
}

static void
add_s(GVariantBuilder *b, const char *v, const char *fmt, ...)
{
    ADD_BODY(g_variant_new_string(v));
}

/* ---- groups ---- */

static void
stats_state(GVariantBuilder *b, const Snap *s)
{
    add_i(b, (gint32)s->state, "state.state");
    add_i(b, libvirt_reason(s->state, s->reason), "state.reason");
}

static void
stats_cpu_total(GVariantBuilder *b, const Snap *s)
{
    VbProcStat st;

    if (!s->active || !vb_proc_read_stat(s->pid, 0, &st))
        return;
    add_t(b, vb_proc_ticks_to_ns(st.utime + st.stime), "cpu.time");
    add_t(b, vb_proc_ticks_to_ns(st.utime), "cpu.user");
    add_t(b, vb_proc_ticks_to_ns(st.stime), "cpu.system");
}

/* QEMU's guest-stats names, libvirt's tags and the divisor to KiB (1 for counts). */
static const struct {
    const char *qemu;
    VbMemStatTag tag;
    guint64 div;
} guest_stats[] = {
    { "stat-swap-in", VB_MEMSTAT_SWAP_IN, 1024 },
    { "stat-swap-out", VB_MEMSTAT_SWAP_OUT, 1024 },
    { "stat-major-faults", VB_MEMSTAT_MAJOR_FAULT, 1 },
    { "stat-minor-faults", VB_MEMSTAT_MINOR_FAULT, 1 },
    { "stat-free-memory", VB_MEMSTAT_UNUSED, 1024 },
    { "stat-total-memory", VB_MEMSTAT_AVAILABLE, 1024 },
    { "stat-available-memory", VB_MEMSTAT_USABLE, 1024 },
    { "stat-disk-caches", VB_MEMSTAT_DISK_CACHES, 1024 },
    { "stat-htlb-pgalloc", VB_MEMSTAT_HUGETLB_PGALLOC, 1 },
    { "stat-htlb-pgfail", VB_MEMSTAT_HUGETLB_PGFAIL, 1 },
};

static const char *const memstat_names[VB_MEMSTAT_LAST] = {
    "swap_in", "swap_out", "major_fault", "minor_fault", "unused", "available",
    "actual", "rss", "usable", "last-update", "disk_caches", "hugetlb_pgalloc",
    "hugetlb_pgfail",
};

/**
 * vb_memstat_name:
 *
 * Returns: libvirt's name of a memory statistic tag (balloon.<name> in GetStats)
 */
const char *
vb_memstat_name(VbMemStatTag tag)
{
    return tag < VB_MEMSTAT_LAST ? memstat_names[tag] : NULL;
}

/*
 * libvirt's memory statistics (qemuDomainMemoryStatsInternal): the balloon's actual size
 * (query-balloon), the guest's own figures when a period is set (qom-get guest-stats;
 * QEMU leaves what the guest did not report at -1, left out here), and the QEMU process'
 * RSS. @vals[tag] is G_MAXUINT64 for what is not known. Under the job, without the lock.
 */
static void
memory_stats_mon(VbQemuMonitor *mon, const Snap *s, guint64 vals[VB_MEMSTAT_LAST])
{
    VbProcStat st;

    for (guint i = 0; i < VB_MEMSTAT_LAST; i++)
        vals[i] = G_MAXUINT64;
    if (mon != NULL && s->balloon) {
        g_autoptr(JsonNode) r = vb_qemu_monitor_command(mon, "query-balloon", NULL,
                                                        QMP_TIMEOUT_MS, NULL);
        gint64 actual;

        if (r != NULL && JSON_NODE_HOLDS_OBJECT(r) &&
            jint(json_node_get_object(r), "actual", &actual) && actual >= 0)
            vals[VB_MEMSTAT_ACTUAL_BALLOON] = (guint64)actual / 1024;
    }
    if (mon != NULL && s->balloon && s->period > 0) {
        JsonObject *args = json_object_new();
        g_autoptr(JsonNode) r = NULL;
        JsonObject *stats;
        gint64 v;

        json_object_set_string_member(args, "path", BALLOON_PATH);
        json_object_set_string_member(args, "property", "guest-stats");
        r = vb_qemu_monitor_command(mon, "qom-get", args, QMP_TIMEOUT_MS, NULL);
        stats = r != NULL && JSON_NODE_HOLDS_OBJECT(r) ? jobj(json_node_get_object(r), "stats")
                                                        : NULL;
        for (gsize i = 0; stats != NULL && i < G_N_ELEMENTS(guest_stats); i++) {
            if (jint(stats, guest_stats[i].qemu, &v) && v >= 0)
                vals[guest_stats[i].tag] = (guint64)v / guest_stats[i].div;
        }
        if (r != NULL && JSON_NODE_HOLDS_OBJECT(r) &&
            jint(json_node_get_object(r), "last-update", &v) && v > 0)
            vals[VB_MEMSTAT_LAST_UPDATE] = (guint64)v;
    }
    if (s->active && vb_proc_read_stat(s->pid, 0, &st))
        vals[VB_MEMSTAT_RSS] = st.rss * ((guint64)sysconf(_SC_PAGESIZE) / 1024);
}

static void
stats_balloon(GVariantBuilder *b, const Snap *s, VbQemuMonitor *mon)
{
    guint64 vals[VB_MEMSTAT_LAST];

    memory_stats_mon(s->active ? mon : NULL, s, vals);
    if (vals[VB_MEMSTAT_ACTUAL_BALLOON] != G_MAXUINT64)
        add_t(b, vals[VB_MEMSTAT_ACTUAL_BALLOON], "balloon.current");
    else
        add_t(b, s->balloon ? s->cur_mem_kib : s->max_mem_kib, "balloon.current");
    add_t(b, s->max_mem_kib, "balloon.maximum");
    if (!s->active || mon == NULL)
        return;
    for (guint i = 0; i < VB_MEMSTAT_LAST; i++) {
        if (i != VB_MEMSTAT_ACTUAL_BALLOON && vals[i] != G_MAXUINT64)
            add_t(b, vals[i], "balloon.%s", memstat_names[i]);
    }
}

static void
stats_vcpu(GVariantBuilder *b, const Snap *s)
{
    add_u(b, s->vcpus_cur, "vcpu.current");
    add_u(b, s->vcpus_max, "vcpu.maximum");
    for (guint i = 0; s->active && i < s->vcpus->len; i++) {
        const VbThreadId *t = &g_array_index(s->vcpus, VbThreadId, i);
        g_autofree char *sched = g_strdup_printf("/proc/%d/task/%d/sched", s->pid, t->tid);
        g_autofree char *schedstat = g_strdup_printf("/proc/%d/task/%d/schedstat", s->pid,
                                                     t->tid);
        g_autofree char *text = NULL;
        VbProcStat st;
        guint64 ns;

        if (!vb_proc_read_stat(s->pid, t->tid, &st))
            continue;
        add_i(b, 1 /* VIR_VCPU_RUNNING */, "vcpu.%u.state", t->id);
        add_t(b, vb_proc_ticks_to_ns(st.utime + st.stime), "vcpu.%u.time", t->id);
        if (g_file_get_contents(sched, &text, NULL, NULL) && vb_proc_sched_wait_parse(text, &ns))
            add_t(b, ns, "vcpu.%u.wait", t->id);
        g_clear_pointer(&text, g_free);
        if (g_file_get_contents(schedstat, &text, NULL, NULL) &&
            vb_proc_schedstat_delay_parse(text, &ns))
            add_t(b, ns, "vcpu.%u.delay", t->id);
    }
}

/* The 8 counters of a host device, from the guest's point of view when @swap. */
static gboolean
read_net_counters(const char *ifname, gboolean swap, guint64 out[8])
{
    static const char *const names[8] = { "rx_bytes", "rx_packets", "rx_errors", "rx_dropped",
                                          "tx_bytes", "tx_packets", "tx_errors", "tx_dropped" };
    guint64 raw[8];

    if (ifname == NULL || strchr(ifname, '/') != NULL || ifname[0] == '.')
        return FALSE;
    for (guint i = 0; i < 8; i++) {
        g_autofree char *path = g_strdup_printf("/sys/class/net/%s/statistics/%s", ifname,
                                                names[i]);
        gboolean ok;

        raw[i] = vb_proc_read_u64(path, &ok);
        if (!ok)
            return FALSE;
    }
    for (guint i = 0; i < 8; i++)
        out[i] = swap ? raw[(i + 4) % 8] : raw[i];
    return TRUE;
}

static void
stats_interface(GVariantBuilder *b, const Snap *s)
{
    static const char *const fields[8] = { "rx.bytes", "rx.pkts", "rx.errs", "rx.drop",
                                           "tx.bytes", "tx.pkts", "tx.errs", "tx.drop" };

    if (!s->active)
        return;
    add_u(b, s->nets->len, "net.count");
    for (guint i = 0; i < s->nets->len; i++) {
        const StatsNet *n = g_ptr_array_index(s->nets, i);
        guint64 c[8];

        /* user mode and the like have no host device: libvirt leaves them out */
        if (n->ifname == NULL)
            continue;
        add_s(b, n->ifname, "net.%u.name", i);
        if (!read_net_counters(n->ifname, n->swap, c))
            continue;
        for (guint k = 0; k < 8; k++)
            add_t(b, c[k], "net.%u.%s", i, fields[k]);
    }
}

/* The query-blockstats entry of the device @alias (qdev /machine/peripheral/<alias>/...). */
static JsonObject *
find_blockstats(JsonArray *entries, const char *alias)
{
    g_autofree char *prefix = g_strdup_printf("/machine/peripheral/%s", alias);

    for (guint i = 0; entries != NULL && i < json_array_get_length(entries); i++) {
        JsonNode *n = json_array_get_element(entries, i);
        JsonObject *o = JSON_NODE_HOLDS_OBJECT(n) ? json_node_get_object(n) : NULL;
        const char *qdev = jstr(o, "qdev");

        if (qdev == NULL)
            continue;
        if (g_strcmp0(qdev, alias) == 0 ||
            (g_str_has_prefix(qdev, prefix) &&
             (qdev[strlen(prefix)] == '\0' || qdev[strlen(prefix)] == '/')))
            return o;
    }
    return NULL;
}

static JsonObject *
find_node(JsonArray *nodes, const char *name)
{
    for (guint i = 0; name != NULL && nodes != NULL && i < json_array_get_length(nodes); i++) {
        JsonNode *n = json_array_get_element(nodes, i);
        JsonObject *o = JSON_NODE_HOLDS_OBJECT(n) ? json_node_get_object(n) : NULL;

        if (g_strcmp0(jstr(o, "node-name"), name) == 0)
            return o;
    }
    return NULL;
}

static void
add_io_stats(GVariantBuilder *b, guint idx, JsonObject *stats)
{
    static const struct {
        const char *qemu;
        const char *field;
    } map[] = {
        { "rd_operations", "rd.reqs" },        { "rd_bytes", "rd.bytes" },
        { "rd_total_time_ns", "rd.times" },    { "wr_operations", "wr.reqs" },
        { "wr_bytes", "wr.bytes" },            { "wr_total_time_ns", "wr.times" },
        { "flush_operations", "fl.reqs" },     { "flush_total_time_ns", "fl.times" },
    };
    gint64 v;

    for (gsize k = 0; stats != NULL && k < G_N_ELEMENTS(map); k++) {
        if (jint(stats, map[k].qemu, &v) && v >= 0)
            add_t(b, (guint64)v, "block.%u.%s", idx, map[k].field);
    }
}

/* The N of libvirt-N-format, or 0. */
static guint
node_index(const char *node)
{
    guint64 v = 0;
    const char *p;

    if (node == NULL || !g_str_has_prefix(node, "libvirt-"))
        return 0;
    p = node + strlen("libvirt-");
    if (!g_ascii_isdigit(*p))
        return 0;
    v = g_ascii_strtoull(p, NULL, 10);
    return v <= G_MAXUINT ? (guint)v : 0;
}

/* capacity (virtual size), physical (actual size of the storage node) of a format node */
static void
add_sizes(GVariantBuilder *b, guint idx, JsonArray *nodes, const char *format_node,
          JsonObject *entry)
{
    JsonObject *node = find_node(nodes, format_node);
    JsonObject *image = jobj(node, "image");
    JsonObject *parent = jobj(entry, "parent");
    JsonObject *pstats = parent != NULL ? jobj(parent, "stats") : jobj(entry, "stats");
    JsonObject *storage = find_node(nodes, jstr(parent, "node-name"));
    gint64 v;

    if (pstats != NULL && jint(pstats, "wr_highest_offset", &v) && v >= 0)
        add_t(b, (guint64)v, "block.%u.allocation", idx);
    if (image != NULL && jint(image, "virtual-size", &v) && v >= 0)
        add_t(b, (guint64)v, "block.%u.capacity", idx);
    if ((storage != NULL && jint(jobj(storage, "image"), "actual-size", &v) && v >= 0) ||
        (image != NULL && jint(image, "actual-size", &v) && v >= 0))
        add_t(b, (guint64)v, "block.%u.physical", idx);
}

static void
stats_block(GVariantBuilder *b, const Snap *s, VbQemuMonitor *mon, guint flags)
{
    g_autoptr(JsonNode) stats = NULL;
    g_autoptr(JsonNode) nodes_reply = NULL;
    JsonArray *entries, *nodes;
    guint count = 0;
    g_autoptr(GVariantBuilder) inner = g_variant_builder_new(G_VARIANT_TYPE("a{sv}"));

    if (!s->active)
        return;
    if (mon != NULL) {
        JsonObject *args = json_object_new();

        stats = vb_qemu_monitor_command(mon, "query-blockstats", NULL, QMP_TIMEOUT_MS, NULL);
        json_object_set_boolean_member(args, "flat", TRUE);
        nodes_reply = vb_qemu_monitor_command(mon, "query-named-block-nodes", args,
                                              QMP_TIMEOUT_MS, NULL);
    }
    entries = jarr(stats);
    nodes = jarr(nodes_reply);
    for (guint i = 0; i < s->disks->len; i++) {
        const VbDomainDiskInfo *d = g_ptr_array_index(s->disks, i);
        JsonObject *entry = d->alias != NULL ? find_blockstats(entries, d->alias) : NULL;
        const char *node = jstr(entry, "node-name");
        guint top = node_index(node);

        add_s(inner, d->target != NULL ? d->target : "", "block.%u.name", count);
        if (d->path != NULL)
            add_s(inner, d->path, "block.%u.path", count);
        if (top > 0)
            add_u(inner, top, "block.%u.backingIndex", count);
        add_io_stats(inner, count, jobj(entry, "stats"));
        if (entry != NULL)
            add_sizes(inner, count, nodes, node, entry);
        count++;
        /* BACKING: the images below, libvirt-(N+1)-format ... as the command line chains
         * them (their own I/O is not counted apart: names, paths and sizes only) */
        for (guint k = top + 1; (flags & VB_STATS_BACKING) && top > 0; k++) {
            g_autofree char *below = g_strdup_printf("libvirt-%u-format", k);
            g_autofree char *above = g_strdup_printf("libvirt-%u-format", k - 1);
            JsonObject *up = find_node(nodes, above);
            JsonObject *bn = find_node(nodes, below);

            if (bn == NULL || up == NULL || jstr(up, "backing_file") == NULL)
                break;
            add_s(inner, d->target != NULL ? d->target : "", "block.%u.name", count);
            if (jstr(bn, "file") != NULL)
                add_s(inner, jstr(bn, "file"), "block.%u.path", count);
            add_u(inner, k, "block.%u.backingIndex", count);
            {
                JsonObject *image = jobj(bn, "image");
                gint64 v;

                if (jint(image, "virtual-size", &v) && v >= 0)
                    add_t(inner, (guint64)v, "block.%u.capacity", count);
                if (jint(image, "actual-size", &v) && v >= 0)
                    add_t(inner, (guint64)v, "block.%u.physical", count);
            }
            count++;
        }
    }
    add_u(b, count, "block.count");
    {
        g_autoptr(GVariant) v = g_variant_ref_sink(g_variant_builder_end(inner));
        GVariantIter it;
        const char *key;
        GVariant *val;

        g_variant_iter_init(&it, v);
        while (g_variant_iter_next(&it, "{&sv}", &key, &val)) {
            g_variant_builder_add(b, "{sv}", key, val);
            g_variant_unref(val);
        }
    }
}

static void
stats_iothread(GVariantBuilder *b, const Snap *s, VbQemuMonitor *mon)
{
    g_autoptr(JsonNode) r = NULL;
    JsonArray *a;
    guint n;

    if (!s->active || mon == NULL)
        return;
    r = vb_qemu_monitor_command(mon, "query-iothreads", NULL, QMP_TIMEOUT_MS, NULL);
    a = jarr(r);
    n = a != NULL ? json_array_get_length(a) : 0;
    if (n == 0)
        return;
    add_u(b, n, "iothread.count");
    for (guint i = 0; i < n; i++) {
        JsonNode *e = json_array_get_element(a, i);
        JsonObject *o = JSON_NODE_HOLDS_OBJECT(e) ? json_node_get_object(e) : NULL;
        const char *id = jstr(o, "id");
        guint64 num;
        gint64 v;

        /* libvirt's ids are the N of iothreadN */
        if (id == NULL || !g_str_has_prefix(id, "iothread") ||
            !g_ascii_string_to_unsigned(id + strlen("iothread"), 10, 0, G_MAXUINT, &num, NULL))
            continue;
        if (jint(o, "poll-max-ns", &v) && v >= 0)
            add_t(b, (guint64)v, "iothread.%u.poll-max-ns", (guint)num);
        if (jint(o, "poll-grow", &v) && v >= 0 && v <= G_MAXUINT32)
            add_u(b, (guint32)v, "iothread.%u.poll-grow", (guint)num);
        if (jint(o, "poll-shrink", &v) && v >= 0 && v <= G_MAXUINT32)
            add_u(b, (guint32)v, "iothread.%u.poll-shrink", (guint)num);
    }
}

static void
stats_dirtyrate(GVariantBuilder *b, const Snap *s, VbQemuMonitor *mon)
{
    g_autoptr(JsonNode) r = NULL;
    JsonObject *o;
    const char *status, *mode;
    int st;
    gint64 v;

    if (!s->active || mon == NULL)
        return;
    r = vb_qemu_monitor_command(mon, "query-dirty-rate", NULL, QMP_TIMEOUT_MS, NULL);
    o = r != NULL && JSON_NODE_HOLDS_OBJECT(r) ? json_node_get_object(r) : NULL;
    status = jstr(o, "status");
    if (status == NULL)
        return;
    /* VIR_DOMAIN_DIRTYRATE_UNSTARTED, MEASURING, MEASURED */
    st = g_str_equal(status, "measuring") ? 1 : g_str_equal(status, "measured") ? 2 : 0;
    add_i(b, st, "dirtyrate.calc_status");
    if (jint(o, "start-time", &v))
        add_x(b, v, "dirtyrate.calc_start_time");
    if (jint(o, "calc-time", &v) && v >= G_MININT32 && v <= G_MAXINT32)
        add_i(b, (gint32)v, "dirtyrate.calc_period");
    mode = jstr(o, "mode");
    if (mode != NULL)
        add_s(b, mode, "dirtyrate.calc_mode");
    if (st == 2 && jint(o, "dirty-rate", &v))
        add_x(b, v, "dirtyrate.megabytes_per_second");
    if (st == 2) {
        JsonNode *vn = json_object_get_member(o, "vcpu-dirty-rate");
        JsonArray *va = jarr(vn);

        for (guint i = 0; va != NULL && i < json_array_get_length(va); i++) {
            JsonNode *e = json_array_get_element(va, i);
            JsonObject *vo = JSON_NODE_HOLDS_OBJECT(e) ? json_node_get_object(e) : NULL;
            gint64 id, rate;

            if (jint(vo, "id", &id) && jint(vo, "dirty-rate", &rate) && id >= 0 &&
                id <= G_MAXUINT32)
                add_x(b, rate, "dirtyrate.vcpu.%u.megabytes_per_second", (guint)id);
        }
    }
}

/*
 * Takes the query job and a monitor reference when @dom runs; NULL (no error) when it
 * does not or when the job cannot be had (NOWAIT and busy, a timeout): what needs QEMU
 * is then left out, as libvirt does.
 */
static VbQemuMonitor *
begin_query(VbDomainList *list, VbDomainObj *dom, gboolean nowait, const char *method,
            const char *owner)
{
    g_autoptr(GError) err = NULL;
    VbQemuMonitor *mon = NULL;

    if (!vb_domain_job_begin(dom, VB_JOB_QUERY, method, owner,
                             nowait ? 0 : list->config->job_wait_timeout,
                             list->config->max_queued, &err)) {
        g_debug("%s: stats without QEMU's part: %s", method, err->message);
        return NULL;
    }
    g_mutex_lock(&dom->lock);
    if (dom->id >= 0 && dom->mon != NULL && !dom->stopping)
        mon = vb_qemu_monitor_ref(dom->mon);
    g_mutex_unlock(&dom->lock);
    if (mon == NULL)
        vb_domain_job_end(dom);
    return mon;
}

/**
 * vb_domain_get_stats:
 * @types: VbStatsTypes, 0 for every group virtbus reports
 * @flags: VbStatsFlags (NOWAIT, BACKING, ENFORCE_STATS; the list filters are the caller's)
 *
 * libvirt's record of one domain (virDomainListGetStats): the requested groups with
 * libvirt's field names and types (int "i", uint "u", llong "x", ullong "t", string "s").
 * A group virtbus does not report (perf, memory, vm) is left out, or fails the call with
 * VB_ERROR_NOT_SUPPORTED under ENFORCE_STATS. An inactive domain reports its state,
 * balloon.current/maximum and vcpu.current/maximum. Worker thread; takes the query job
 * only when a requested group needs QEMU, never holds dom->lock across QMP.
 *
 * Returns: (transfer full): a{sv}, or %NULL with @error
 */
GVariant *
vb_domain_get_stats(VbDomainList *list, VbDomainObj *dom, guint types, guint flags,
                    const char *owner, GError **error)
{
    g_auto(Snap) s = { 0 };
    g_autoptr(VbQemuMonitor) mon = NULL;
    GVariantBuilder b;

    if ((flags & VB_STATS_ENFORCE_STATS) && (types & ~(guint)VB_STATS_SUPPORTED) != 0) {
        g_set_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
                    "stats types bits 0x%x are not supported by this daemon (virtbus reports "
                    "state, cpu-total, balloon, vcpu, perf, interface, block, iothread, "
                    "dirtyrate)",
                    types & ~(guint)VB_STATS_SUPPORTED);
        return NULL;
    }
    types = types == 0 ? VB_STATS_SUPPORTED : types & VB_STATS_SUPPORTED;
    g_mutex_lock(&dom->lock);
    snap_take(dom, &s);
    g_mutex_unlock(&dom->lock);
    if (s.active &&
        (types & (VB_STATS_BALLOON | VB_STATS_BLOCK | VB_STATS_IOTHREAD | VB_STATS_DIRTYRATE)))
        mon = begin_query(list, dom, (flags & VB_STATS_NOWAIT) != 0, "GetStats", owner);
    g_variant_builder_init(&b, G_VARIANT_TYPE("a{sv}"));
    if (types & VB_STATS_STATE)
        stats_state(&b, &s);
    if (types & VB_STATS_CPU_TOTAL)
        stats_cpu_total(&b, &s);
    if (types & VB_STATS_BALLOON)
        stats_balloon(&b, &s, mon);
    if (types & VB_STATS_VCPU)
        stats_vcpu(&b, &s);
    if (types & VB_STATS_INTERFACE)
        stats_interface(&b, &s);
    if (types & VB_STATS_BLOCK)
        stats_block(&b, &s, mon, flags);
    if (types & VB_STATS_IOTHREAD)
        stats_iothread(&b, &s, mon);
    if (types & VB_STATS_DIRTYRATE)
        stats_dirtyrate(&b, &s, mon);
    if ((types & VB_STATS_PERF) && s.active) { /* issue 13, part vcpuio: domain-perf.c */
        g_mutex_lock(&dom->lock);
        vb_domain_perf_stats_locked(dom, &b);
        g_mutex_unlock(&dom->lock);
    }
    if (mon != NULL)
        vb_domain_job_end(dom);
    return g_variant_ref_sink(g_variant_builder_end(&b));
}

/**
 * vb_domain_memory_stats:
 *
 * libvirt's virDomainMemoryStats: (tag, value) pairs, KiB or counts, of a running
 * domain. Worker thread; query job.
 *
 * Returns: (transfer full): a{it}, or %NULL with @error (not running)
 */
GVariant *
vb_domain_memory_stats(VbDomainList *list, VbDomainObj *dom, const char *owner,
                       GError **error)
{
    g_autoptr(VbQemuMonitor) mon =
        vb_domain_begin_running(list, dom, VB_JOB_QUERY, "MemoryStats", owner, error);
    g_auto(Snap) s = { 0 };
    guint64 vals[VB_MEMSTAT_LAST];
    GVariantBuilder b;

    if (mon == NULL)
        return NULL;
    g_mutex_lock(&dom->lock);
    snap_take(dom, &s);
    g_mutex_unlock(&dom->lock);
    memory_stats_mon(mon, &s, vals);
    vb_domain_job_end(dom);
    g_variant_builder_init(&b, G_VARIANT_TYPE("a{it}"));
    /* libvirt's order: the guest's figures, then actual, then rss */
    for (guint i = 0; i < VB_MEMSTAT_LAST; i++) {
        if (i != VB_MEMSTAT_ACTUAL_BALLOON && i != VB_MEMSTAT_RSS && vals[i] != G_MAXUINT64)
            g_variant_builder_add(&b, "{it}", (gint32)i, vals[i]);
    }
    if (vals[VB_MEMSTAT_ACTUAL_BALLOON] != G_MAXUINT64)
        g_variant_builder_add(&b, "{it}", (gint32)VB_MEMSTAT_ACTUAL_BALLOON,
                              vals[VB_MEMSTAT_ACTUAL_BALLOON]);
    if (vals[VB_MEMSTAT_RSS] != G_MAXUINT64)
        g_variant_builder_add(&b, "{it}", (gint32)VB_MEMSTAT_RSS, vals[VB_MEMSTAT_RSS]);
    return g_variant_ref_sink(g_variant_builder_end(&b));
}

static gboolean
write_config(VbDomainList *list, const VbDomainDef *def, GError **error)
{
    g_autofree char *xml = NULL;
    g_autofree char *path = vb_paths_domain_config(list->paths, def->name);

    xml = vb_domain_def_format(def, VB_DOMAIN_DEF_FORMAT_INACTIVE | VB_DOMAIN_DEF_FORMAT_SECURE,
                               error);
    if (xml == NULL)
        return FALSE;
    return vb_store_write_atomic(path, xml, -1, 0600, error);
}

/* CONFIG part of SetMemoryStatsPeriod: the persistent definition, written to disk. Under
 * the modify job, without dom->lock; the list's define lock keeps a DefineXML of the same
 * domain from landing between the copy and its replacement (nobody takes a job under it). */
static gboolean
set_period_config(VbDomainList *list, VbDomainObj *dom, int period, GError **error)
{
    g_autoptr(GMutexLocker) define_locker = g_mutex_locker_new(&list->define_lock);
    g_autoptr(VbDomainDef) copy = NULL;
    gboolean active;

    g_mutex_lock(&dom->lock);
    active = dom->id >= 0;
    if (!dom->persistent) {
        g_mutex_unlock(&dom->lock);
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_STATE,
                    "domain is transient: it has no persistent configuration to change; use "
                    "the LIVE flag");
        return FALSE;
    }
    copy = vb_domain_def_copy(active && dom->new_def != NULL ? dom->new_def : dom->def);
    g_mutex_unlock(&dom->lock);
    if (copy == NULL) {
        g_set_error_literal(error, VB_ERROR, VB_ERROR_INTERNAL,
                            "cannot copy the persistent definition");
        return FALSE;
    }
    if (!vb_domain_def_set_balloon_period(copy, period, error) ||
        !write_config(list, copy, error))
        return FALSE;
    g_mutex_lock(&dom->lock);
    if (active) {
        if (dom->new_def != NULL)
            vb_domain_def_free(dom->new_def);
        dom->new_def = g_steal_pointer(&copy);
    } else {
        vb_domain_def_free(dom->def);
        dom->def = g_steal_pointer(&copy);
    }
    g_mutex_unlock(&dom->lock);
    return TRUE;
}

/**
 * vb_domain_set_memory_stats_period:
 * @period: seconds between the guest's memory statistics, 0 to stop them
 * @flags: VbAffectFlags (CURRENT: LIVE when running, else CONFIG)
 *
 * libvirt's virDomainSetMemoryStatsPeriod: LIVE sets the balloon's
 * guest-stats-polling-interval (qom-set) and the live <memballoon><stats period>;
 * CONFIG changes the persistent definition. Worker thread; modify job.
 */
gboolean
vb_domain_set_memory_stats_period(VbDomainList *list, VbDomainObj *dom, int period,
                                  guint flags, const char *owner, GError **error)
{
    g_autoptr(GError) err = NULL;
    gboolean active, ok = TRUE;

    if (period < 0) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                    "invalid statistics period %d: give seconds, 0 to disable", period);
        return FALSE;
    }
    if (!vb_domain_job_begin(dom, VB_JOB_MODIFY, "SetMemoryStatsPeriod", owner,
                             list->config->job_wait_timeout, list->config->max_queued, error))
        return FALSE;
    g_mutex_lock(&dom->lock);
    active = dom->id >= 0 && dom->mon != NULL && !dom->stopping;
    if (flags == VB_AFFECT_CURRENT)
        flags = active ? VB_AFFECT_LIVE : VB_AFFECT_CONFIG;
    if ((flags & VB_AFFECT_LIVE) && !active) {
        vb_domain_obj_set_not_running_error(dom, "SetMemoryStatsPeriod", error);
        g_mutex_unlock(&dom->lock);
        vb_domain_job_end(dom);
        return FALSE;
    }
    if ((flags & VB_AFFECT_LIVE) && !vb_domain_def_has_virtio_balloon(dom->def)) {
        g_mutex_unlock(&dom->lock);
        vb_domain_job_end(dom);
        g_set_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
                    "the domain has no virtio <memballoon>: memory statistics need one");
        return FALSE;
    }
    g_mutex_unlock(&dom->lock);
    if (flags & VB_AFFECT_LIVE) {
        g_autoptr(VbQemuMonitor) mon = NULL;
        JsonObject *args = json_object_new();
        g_autoptr(JsonNode) r = NULL;

        g_mutex_lock(&dom->lock);
        if (dom->mon != NULL)
            mon = vb_qemu_monitor_ref(dom->mon);
        g_mutex_unlock(&dom->lock);
        json_object_set_string_member(args, "path", BALLOON_PATH);
        json_object_set_string_member(args, "property", "guest-stats-polling-interval");
        json_object_set_int_member(args, "value", period);
        r = mon != NULL ? vb_qemu_monitor_command(mon, "qom-set", args, QMP_TIMEOUT_MS, error)
                        : NULL;
        if (mon == NULL) {
            json_object_unref(args);
            g_set_error(error, VB_ERROR, VB_ERROR_INVALID_STATE, "domain stopped meanwhile");
        }
        ok = r != NULL;
        if (ok) {
            g_mutex_lock(&dom->lock);
            ok = vb_domain_def_set_balloon_period(dom->def, period, error);
            g_mutex_unlock(&dom->lock);
        }
        if (ok && !vb_domain_status_save(list, dom, &err))
            g_warning("%s", err->message);
    }
    if (ok && (flags & VB_AFFECT_CONFIG))
        ok = set_period_config(list, dom, period, error);
    vb_domain_job_end(dom);
    return ok;
}

/**
 * vb_domain_interface_stats:
 * @device: the host device name (<target dev=>) or the MAC address of an interface
 * @out_vals: rx bytes, packets, errors, drops, tx bytes, packets, errors, drops as the
 *   guest sees them
 *
 * libvirt's virDomainInterfaceStats: no job (the counters are the host device's). Any
 * thread but the main one.
 */
gboolean
vb_domain_interface_stats(VbDomainObj *dom, const char *device, gint64 out_vals[8],
                          GError **error)
{
    g_auto(Snap) s = { 0 };
    g_auto(GStrv) macs = NULL;
    guint64 c[8];

    g_mutex_lock(&dom->lock);
    snap_take(dom, &s);
    macs = vb_domain_def_get_interface_macs(dom->def);
    if (!s.active) {
        vb_domain_obj_set_not_running_error(dom, "InterfaceStats", error);
        g_mutex_unlock(&dom->lock);
        return FALSE;
    }
    g_mutex_unlock(&dom->lock);
    for (guint i = 0; i < s.nets->len; i++) {
        const StatsNet *n = g_ptr_array_index(s.nets, i);
        gboolean match = g_strcmp0(n->ifname, device) == 0 ||
                         (macs != NULL && i < g_strv_length(macs) &&
                          g_ascii_strcasecmp(macs[i], device) == 0);

        if (!match)
            continue;
        if (n->ifname == NULL) {
            g_set_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
                        "interface '%s' (%s) has no host device: statistics are kept for "
                        "tap and macvtap interfaces only",
                        device, n->alias);
            return FALSE;
        }
        if (!read_net_counters(n->ifname, n->swap, c)) {
            g_set_error(error, VB_ERROR, VB_ERROR_FAILED,
                        "cannot read the counters of '%s' in /sys/class/net", n->ifname);
            return FALSE;
        }
        for (guint k = 0; k < 8; k++)
            out_vals[k] = c[k] > G_MAXINT64 ? G_MAXINT64 : (gint64)c[k];
        return TRUE;
    }
    g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                "invalid path, '%s' is not a known interface of domain '%s'", device, s.name);
    return FALSE;
}
