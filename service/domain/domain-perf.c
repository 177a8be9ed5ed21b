/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * perf events of a domain's QEMU (issue 13, part vcpuio; docs/tuning.md): libvirt's
 * virDomainGetPerfEvents / virDomainSetPerfEvents and the stats group perf, with libvirt's
 * event names (src/util/virperf.c). An enabled event is one perf_event_open() counter per
 * QEMU thread (with inherit, so threads they create count too), read as their sum.
 * <perf><event name enabled> of the live definition says which are on: applied at start,
 * opened again at reconnect (the counters restart from zero).
 */
#include "config.h"

#define _GNU_SOURCE
#include <errno.h>
#include <linux/perf_event.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "domain-def-cpu.h"
#include "domain-list-priv.h"
#include "domain-memev.h"
#include "domain-vcpuio.h"
#include "vb-error.h"
#include "vb-log.h"

typedef struct {
    const char *name;
    guint32 type; /* PERF_TYPE_*, G_MAXUINT32: a resctrl event this host has not */
    guint64 config;
} PerfEvent;

/* libvirt's order (virPerfEvent) */
static const PerfEvent events[] = {
    { "cmt", G_MAXUINT32, 1 },
    { "mbmt", G_MAXUINT32, 2 },
    { "mbml", G_MAXUINT32, 3 },
    { "cpu_cycles", PERF_TYPE_HARDWARE, PERF_COUNT_HW_CPU_CYCLES },
    { "instructions", PERF_TYPE_HARDWARE, PERF_COUNT_HW_INSTRUCTIONS },
    { "cache_references", PERF_TYPE_HARDWARE, PERF_COUNT_HW_CACHE_REFERENCES },
    { "cache_misses", PERF_TYPE_HARDWARE, PERF_COUNT_HW_CACHE_MISSES },
    { "branch_instructions", PERF_TYPE_HARDWARE, PERF_COUNT_HW_BRANCH_INSTRUCTIONS },
    { "branch_misses", PERF_TYPE_HARDWARE, PERF_COUNT_HW_BRANCH_MISSES },
    { "bus_cycles", PERF_TYPE_HARDWARE, PERF_COUNT_HW_BUS_CYCLES },
    { "stalled_cycles_frontend", PERF_TYPE_HARDWARE, PERF_COUNT_HW_STALLED_CYCLES_FRONTEND },
    { "stalled_cycles_backend", PERF_TYPE_HARDWARE, PERF_COUNT_HW_STALLED_CYCLES_BACKEND },
    { "ref_cpu_cycles", PERF_TYPE_HARDWARE, PERF_COUNT_HW_REF_CPU_CYCLES },
    { "cpu_clock", PERF_TYPE_SOFTWARE, PERF_COUNT_SW_CPU_CLOCK },
    { "task_clock", PERF_TYPE_SOFTWARE, PERF_COUNT_SW_TASK_CLOCK },
    { "page_faults", PERF_TYPE_SOFTWARE, PERF_COUNT_SW_PAGE_FAULTS },
    { "context_switches", PERF_TYPE_SOFTWARE, PERF_COUNT_SW_CONTEXT_SWITCHES },
    { "cpu_migrations", PERF_TYPE_SOFTWARE, PERF_COUNT_SW_CPU_MIGRATIONS },
    { "page_faults_min", PERF_TYPE_SOFTWARE, PERF_COUNT_SW_PAGE_FAULTS_MIN },
    { "page_faults_maj", PERF_TYPE_SOFTWARE, PERF_COUNT_SW_PAGE_FAULTS_MAJ },
    { "alignment_faults", PERF_TYPE_SOFTWARE, PERF_COUNT_SW_ALIGNMENT_FAULTS },
    { "emulation_faults", PERF_TYPE_SOFTWARE, PERF_COUNT_SW_EMULATION_FAULTS },
};

static const PerfEvent *
find_event(const char *name)
{
    for (gsize i = 0; i < G_N_ELEMENTS(events); i++) {
        if (strcmp(events[i].name, name) == 0)
            return &events[i];
    }
    return NULL;
}

static void
fds_free(gpointer data)
{
    GArray *fds = data;

    for (guint i = 0; i < fds->len; i++)
        close(g_array_index(fds, int, i));
    g_array_unref(fds);
}

static GHashTable *
perf_table_new(void)
{
    return g_hash_table_new_full(g_str_hash, g_str_equal, NULL, fds_free);
}

static const char *
errno_hint(int err)
{
    switch (err) {
    case ENOENT:
    case EOPNOTSUPP:
        return " (this host has no such counter: no PMU, e.g. in a virtual machine)";
    case EACCES:
    case EPERM:
        return " (refused: see /proc/sys/kernel/perf_event_paranoid)";
    case EMFILE:
        return " (too many open files)";
    default:
        return "";
    }
}

/* one counter per thread of @pid, enabled; NULL with @error naming the event and errno */
static GArray *
open_event(const PerfEvent *ev, pid_t pid, GError **error)
{
    g_autofree char *dir = g_strdup_printf("/proc/%d/task", (int)pid);
    g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
    GArray *fds = g_array_new(FALSE, FALSE, sizeof(int));
    const char *entry;

    if (ev->type == G_MAXUINT32) {
        g_array_unref(fds);
        g_set_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
                    "perf event '%s' is not supported: this host has no resctrl (Intel RDT) "
                    "monitoring", ev->name);
        return NULL;
    }
    if (d == NULL) {
        g_array_unref(fds);
        g_set_error(error, VB_ERROR, VB_ERROR_FAILED, "cannot list QEMU's threads in %s", dir);
        return NULL;
    }
    while ((entry = g_dir_read_name(d)) != NULL) {
        struct perf_event_attr attr;
        int tid = (int)g_ascii_strtoll(entry, NULL, 10);
        int fd, err;

        if (tid <= 0)
            continue;
        memset(&attr, 0, sizeof(attr));
        attr.size = sizeof(attr);
        attr.type = ev->type;
        attr.config = ev->config;
        attr.inherit = 1;
        attr.disabled = 1;
        fd = (int)syscall(__NR_perf_event_open, &attr, tid, -1, -1, PERF_FLAG_FD_CLOEXEC);
        err = errno;
        if (fd >= 0 && ioctl(fd, PERF_EVENT_IOC_ENABLE, 0) < 0) {
            err = errno;
            close(fd);
            fd = -1;
        }
        if (fd < 0 && err == ESRCH) /* the thread ended meanwhile */
            continue;
        if (fd < 0) {
            fds_free(fds);
            g_set_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
                        "unable to open host cpu perf event for %s (QEMU thread %d): %s%s",
                        ev->name, tid, g_strerror(err), errno_hint(err));
            return NULL;
        }
        g_array_append_val(fds, fd);
    }
    return fds;
}

static guint64
read_event(const GArray *fds)
{
    guint64 sum = 0;

    for (guint i = 0; i < fds->len; i++) {
        guint64 v = 0;

        if (read(g_array_index(fds, int, i), &v, sizeof(v)) == (ssize_t)sizeof(v))
            sum += v;
    }
    return sum;
}

/**
 * vb_domain_perf_start:
 * @def: the definition QEMU runs
 * @pid: QEMU's pid
 * @strict: fail on an event that cannot be opened (the start, as libvirt's
 *   qemuProcessEnablePerf); else log it and go on (reconnect)
 *
 * Opens the events <perf> enables and keeps them in dom->perf. Worker thread with the job,
 * no lock held.
 */
gboolean
vb_domain_perf_start(VbDomainObj *dom, const VbDomainDef *def, pid_t pid, gboolean strict,
                     GError **error)
{
    g_autoptr(GHashTable) want = vb_domain_def_get_perf(def);
    g_autoptr(GHashTable) open = perf_table_new();
    GHashTableIter it;
    gpointer key, value;

    g_hash_table_iter_init(&it, want);
    while (g_hash_table_iter_next(&it, &key, &value)) {
        const PerfEvent *ev = find_event(key);
        g_autoptr(GError) err = NULL;
        GArray *fds;

        if (!GPOINTER_TO_INT(value) || ev == NULL)
            continue;
        fds = open_event(ev, pid, &err);
        if (fds == NULL && strict) {
            g_propagate_error(error, g_steal_pointer(&err));
            return FALSE;
        }
        if (fds == NULL) {
            g_warning("domain %s: %s", dom->uuid_str, err->message);
            continue;
        }
        g_hash_table_insert(open, (gpointer)ev->name, fds);
    }
    g_mutex_lock(&dom->lock);
    g_clear_pointer(&dom->perf, g_hash_table_unref);
    if (g_hash_table_size(open) > 0)
        dom->perf = g_steal_pointer(&open);
    g_mutex_unlock(&dom->lock);
    return TRUE;
}

/**
 * vb_domain_perf_stats:
 * @b: an a{sv} builder
 *
 * Adds libvirt's perf.<name> (ullong) of every open event. Under dom->lock.
 */
void
vb_domain_perf_stats_locked(VbDomainObj *dom, GVariantBuilder *b)
{
    for (gsize i = 0; dom->perf != NULL && i < G_N_ELEMENTS(events); i++) {
        const GArray *fds = g_hash_table_lookup(dom->perf, events[i].name);
        g_autofree char *key = NULL;

        if (fds == NULL)
            continue;
        key = g_strdup_printf("perf.%s", events[i].name);
        g_variant_builder_add(b, "{sv}", key, g_variant_new_uint64(read_event(fds)));
    }
}

/**
 * vb_domain_get_perf_events:
 * @flags: LIVE or CONFIG (not both), 0 CURRENT
 *
 * libvirt's virDomainGetPerfEvents: every event name -> whether it is enabled (LIVE: open
 * now; CONFIG: the persistent <perf>). No job; any thread.
 *
 * Returns: (transfer full): "a{sv}" of booleans, or %NULL with @error
 */
GVariant *
vb_domain_get_perf_events(VbDomainObj *dom, guint flags, GError **error)
{
    g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&dom->lock);
    g_autoptr(GHashTable) conf = NULL;
    gboolean active = dom->id >= 0;
    const VbDomainDef *def;
    GVariantBuilder b;

    if ((flags & VB_VCPUIO_LIVE) && (flags & VB_VCPUIO_CONFIG)) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                    "GetPerfEvents: the LIVE and CONFIG flags exclude each other");
        return NULL;
    }
    if (flags == 0)
        flags = active ? VB_VCPUIO_LIVE : VB_VCPUIO_CONFIG;
    if ((flags & VB_VCPUIO_LIVE) && !active) {
        vb_domain_obj_set_not_running_error(dom, "GetPerfEvents", error);
        return NULL;
    }
    def = (flags & VB_VCPUIO_CONFIG) && active && dom->new_def != NULL ? dom->new_def
                                                                        : dom->def;
    if (flags & VB_VCPUIO_CONFIG)
        conf = vb_domain_def_get_perf(def);
    g_variant_builder_init(&b, G_VARIANT_TYPE("a{sv}"));
    for (gsize i = 0; i < G_N_ELEMENTS(events); i++) {
        gboolean on = conf != NULL
                          ? GPOINTER_TO_INT(g_hash_table_lookup(conf, events[i].name))
                          : dom->perf != NULL && g_hash_table_contains(dom->perf,
                                                                       events[i].name);

        g_variant_builder_add(&b, "{sv}", events[i].name, g_variant_new_boolean(on));
    }
    return g_variant_ref_sink(g_variant_builder_end(&b));
}

static VbDomainDef *
edit_perf(const VbDomainDef *def, gpointer data, GError **error)
{
    return vb_domain_def_with_perf(def, data, error);
}

/* @params a{sv} of booleans -> a table name -> GINT_TO_POINTER(on), checked */
static GHashTable *
parse_params(GVariant *params, GError **error)
{
    g_autoptr(GHashTable) want = g_hash_table_new(g_str_hash, g_str_equal);
    GVariantIter it;
    const char *name;
    GVariant *value;

    g_variant_iter_init(&it, params);
    while (g_variant_iter_next(&it, "{&sv}", &name, &value)) {
        g_autoptr(GVariant) v = value;
        const PerfEvent *ev = find_event(name);

        if (ev == NULL) {
            g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                        "unknown perf event '%s' (libvirt's names: cpu_cycles, instructions, "
                        "task_clock, context_switches, ...)", name);
            return NULL;
        }
        if (!g_variant_is_of_type(v, G_VARIANT_TYPE_BOOLEAN)) {
            g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                        "perf event '%s': the value must be a boolean, not '%s'", name,
                        g_variant_get_type_string(v));
            return NULL;
        }
        if (g_variant_get_boolean(v) && ev->type == G_MAXUINT32) {
            g_set_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
                        "perf event '%s' is not supported: this host has no resctrl (Intel "
                        "RDT) monitoring", name);
            return NULL;
        }
        g_hash_table_insert(want, (gpointer)ev->name,
                            GINT_TO_POINTER(g_variant_get_boolean(v)));
    }
    return g_steal_pointer(&want);
}

/* LIVE: open what is enabled (all or nothing), close what is disabled, the live <perf> */
static gboolean
set_live(VbDomainList *list, VbDomainObj *dom, GHashTable *want, GError **error)
{
    g_autoptr(GHashTable) opened = perf_table_new();
    g_autoptr(VbDomainDef) live = NULL;
    g_autoptr(GError) err = NULL;
    GHashTableIter it;
    gpointer key, value;
    pid_t pid;

    g_mutex_lock(&dom->lock);
    if (dom->id < 0 || dom->mon == NULL || dom->stopping || dom->proc == NULL) {
        vb_domain_obj_set_not_running_error(dom, "SetPerfEvents", error);
        g_mutex_unlock(&dom->lock);
        return FALSE;
    }
    pid = vb_qemu_process_get_pid(dom->proc);
    live = edit_perf(dom->def, want, error);
    g_mutex_unlock(&dom->lock);
    if (live == NULL)
        return FALSE;
    g_hash_table_iter_init(&it, want);
    while (g_hash_table_iter_next(&it, &key, &value)) {
        GArray *fds;
        gboolean have;

        g_mutex_lock(&dom->lock);
        have = dom->perf != NULL && g_hash_table_contains(dom->perf, key);
        g_mutex_unlock(&dom->lock);
        if (!GPOINTER_TO_INT(value) || have)
            continue;
        fds = open_event(find_event(key), pid, error);
        if (fds == NULL)
            return FALSE; /* @opened closes what this call opened */
        g_hash_table_insert(opened, key, fds);
    }
    g_mutex_lock(&dom->lock);
    if (dom->perf == NULL)
        dom->perf = perf_table_new();
    g_hash_table_iter_init(&it, want);
    while (g_hash_table_iter_next(&it, &key, &value)) {
        if (!GPOINTER_TO_INT(value))
            g_hash_table_remove(dom->perf, key);
        else if (g_hash_table_steal_extended(opened, key, NULL, &value))
            g_hash_table_insert(dom->perf, key, value);
    }
    if (g_hash_table_size(dom->perf) == 0)
        g_clear_pointer(&dom->perf, g_hash_table_unref);
    vb_domain_def_free(dom->def);
    dom->def = g_steal_pointer(&live);
    g_mutex_unlock(&dom->lock);
    if (!vb_domain_status_save(list, dom, &err))
        g_warning("%s", err->message);
    return TRUE;
}

/**
 * vb_domain_set_perf_events:
 * @params: "a{sv}": libvirt's event name -> boolean
 * @flags: LIVE / CONFIG, 0 CURRENT
 *
 * libvirt's virDomainSetPerfEvents: LIVE opens (all threads of QEMU, inherit) or closes the
 * counters and writes <perf> in the live definition; CONFIG in the persistent one. An event
 * the host cannot count fails the call naming the event and errno, and nothing changes.
 * Worker thread; modify job.
 */
gboolean
vb_domain_set_perf_events(VbDomainList *list, VbDomainObj *dom, GVariant *params, guint flags,
                          const char *owner, GError **error)
{
    g_autoptr(GHashTable) want = parse_params(params, error);
    gboolean ok = TRUE;

    if (want == NULL)
        return FALSE;
    if (!vb_domain_job_begin(dom, VB_JOB_MODIFY, "SetPerfEvents", owner,
                             list->config->job_wait_timeout, list->config->max_queued, error))
        return FALSE;
    g_mutex_lock(&dom->lock);
    if (flags == 0)
        flags = dom->id >= 0 ? VB_VCPUIO_LIVE : VB_VCPUIO_CONFIG;
    g_mutex_unlock(&dom->lock);
    if (flags & VB_VCPUIO_LIVE)
        ok = set_live(list, dom, want, error);
    if (ok && (flags & VB_VCPUIO_CONFIG))
        ok = vb_domain_edit_persistent(list, dom, edit_perf, want, error);
    vb_domain_job_end(dom);
    return ok;
}
