/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The threads of a run and their CPU affinity (issue 10, part cpu).
 *
 * After QMP connects, the vCPU threads (query-cpus-fast) and iothreads (query-iothreads)
 * are read and kept; <cputune>'s <vcpupin>, <emulatorpin> and <iothreadpin> (and
 * <vcpu cpuset=> for whatever they leave out, as libvirt does) are applied with
 * sched_setaffinity(), which needs no cgroups: the emulator's threads are all of QEMU's
 * threads that are neither vCPUs nor iothreads. Runs on the starting worker with the job
 * held and without the domain lock.
 */
#include "config.h"

#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <string.h>
#include <unistd.h>

#include "domain-def-cpu.h"
#include "domain-list-priv.h"
#include "vb-error.h"
#include "vb-log.h"

#define QMP_TIMEOUT_MS 30000

/* @cpus: (nullable): the return of a query-cpus-fast already made, or NULL to make it */
static gboolean
read_vcpus(VbQemuMonitor *mon, JsonNode *cpus_done, GArray *tids, GError **error)
{
    g_autoptr(JsonNode) cpus =
        cpus_done != NULL ? json_node_ref(cpus_done)
                          : vb_qemu_monitor_command(mon, "query-cpus-fast", NULL, QMP_TIMEOUT_MS,
                                                    error);
    JsonArray *arr;

    if (cpus == NULL)
        return FALSE;
    if (!JSON_NODE_HOLDS_ARRAY(cpus))
        return TRUE;
    arr = json_node_get_array(cpus);
    for (guint i = 0; i < json_array_get_length(arr); i++) {
        JsonObject *cpu = json_array_get_object_element(arr, i);
        VbThreadId t;

        if (cpu == NULL || !json_object_has_member(cpu, "thread-id") ||
            !json_object_has_member(cpu, "cpu-index"))
            continue;
        t.id = (guint)json_object_get_int_member(cpu, "cpu-index");
        t.tid = (int)json_object_get_int_member(cpu, "thread-id");
        g_array_append_val(tids, t);
    }
    return TRUE;
}

static gboolean
read_iothreads(VbQemuMonitor *mon, GArray *tids, GError **error)
{
    g_autoptr(JsonNode) ios =
        vb_qemu_monitor_command(mon, "query-iothreads", NULL, QMP_TIMEOUT_MS, error);
    JsonArray *arr;

    if (ios == NULL)
        return FALSE;
    if (!JSON_NODE_HOLDS_ARRAY(ios))
        return TRUE;
    arr = json_node_get_array(ios);
    for (guint i = 0; i < json_array_get_length(arr); i++) {
        JsonObject *io = json_array_get_object_element(arr, i);
        const char *id;
        VbThreadId t;

        if (io == NULL || !json_object_has_member(io, "id") ||
            !json_object_has_member(io, "thread-id"))
            continue;
        id = json_object_get_string_member(io, "id");
        if (id == NULL || !g_str_has_prefix(id, "iothread"))
            continue;
        t.id = (guint)g_ascii_strtoull(id + strlen("iothread"), NULL, 10);
        t.tid = (int)json_object_get_int_member(io, "thread-id");
        g_array_append_val(tids, t);
    }
    return TRUE;
}

static gint
cmp_thread(gconstpointer a, gconstpointer b)
{
    guint x = ((const VbThreadId *)a)->id;
    guint y = ((const VbThreadId *)b)->id;

    return x < y ? -1 : x > y;
}

static char *
tids_to_string(const GArray *tids, const char *prefix)
{
    GString *s = g_string_new(NULL);

    for (guint i = 0; i < tids->len; i++) {
        const VbThreadId *t = &g_array_index(tids, VbThreadId, i);

        g_string_append_printf(s, "%s%s%u=%d", i ? ", " : "", prefix, t->id, t->tid);
    }
    return g_string_free(s, FALSE);
}

static gboolean
set_affinity(int tid, const GArray *cpus, const char *what, const char *cpuset, GError **error)
{
    guint max = g_array_index(cpus, guint, cpus->len - 1) + 1;
    cpu_set_t *set = CPU_ALLOC(max);
    size_t size = CPU_ALLOC_SIZE(max);
    int rc;

    CPU_ZERO_S(size, set);
    for (guint i = 0; i < cpus->len; i++)
        CPU_SET_S(g_array_index(cpus, guint, i), size, set);
    rc = sched_setaffinity(tid, size, set);
    CPU_FREE(set);
    if (rc < 0) {
        int err = errno;

        /* a thread that ended meanwhile is not an error */
        if (err == ESRCH)
            return TRUE;
        g_set_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
                    "cannot pin %s (thread %d) to host CPUs '%s': %s%s", what, tid, cpuset,
                    g_strerror(err),
                    err == EINVAL ? " (none of these CPUs is online or allowed here)" : "");
        return FALSE;
    }
    return TRUE;
}

static const VbPin *
find_pin(const VbDomainResources *r, VbPinKind kind, guint id)
{
    for (guint i = 0; i < r->pins->len; i++) {
        const VbPin *p = g_ptr_array_index(r->pins, i);

        if (p->kind == kind && p->id == id)
            return p;
    }
    return NULL;
}

static gboolean
contains_tid(const GArray *tids, int tid)
{
    for (guint i = 0; i < tids->len; i++) {
        if (g_array_index(tids, VbThreadId, i).tid == tid)
            return TRUE;
    }
    return FALSE;
}

/* every thread of @pid that is neither a vCPU nor an iothread */
static gboolean
pin_emulator(const VbDomainResources *r, pid_t pid, const GArray *vcpus, const GArray *ios,
             GError **error)
{
    const VbPin *pin = find_pin(r, VB_PIN_EMULATOR, 0);
    const GArray *cpus = pin != NULL ? pin->cpus : r->vcpu_cpus;
    const char *cpuset = pin != NULL ? pin->cpuset : r->vcpu_cpuset;
    g_autofree char *dir = g_strdup_printf("/proc/%d/task", (int)pid);
    g_autoptr(GDir) d = NULL;
    const char *entry;

    if (cpus == NULL)
        return TRUE;
    if (!set_affinity(pid, cpus, "the emulator", cpuset, error))
        return FALSE;
    d = g_dir_open(dir, 0, NULL);
    while (d != NULL && (entry = g_dir_read_name(d)) != NULL) {
        int tid = (int)g_ascii_strtoll(entry, NULL, 10);

        if (tid > 0 && tid != pid && !contains_tid(vcpus, tid) && !contains_tid(ios, tid) &&
            !set_affinity(tid, cpus, "an emulator thread", cpuset, error))
            return FALSE;
    }
    return TRUE;
}

static gboolean
pin_threads(const VbDomainResources *r, const GArray *tids, VbPinKind kind, GError **error)
{
    for (guint i = 0; i < tids->len; i++) {
        const VbThreadId *t = &g_array_index(tids, VbThreadId, i);
        const VbPin *pin = find_pin(r, kind, t->id);
        const GArray *cpus = pin != NULL ? pin->cpus : r->vcpu_cpus;
        g_autofree char *what =
            g_strdup_printf(kind == VB_PIN_VCPU ? "vCPU %u" : "iothread %u", t->id);

        if (cpus != NULL &&
            !set_affinity(t->tid, cpus, what, pin != NULL ? pin->cpuset : r->vcpu_cpuset, error))
            return FALSE;
    }
    return TRUE;
}

/**
 * vb_domain_threads_setup:
 * @def: the definition QEMU runs (not the domain's: no lock is needed)
 * @name: the domain's name, for the log
 * @mon: the run's monitor
 * @pid: QEMU's pid
 * @cpus: (nullable): the return of the run's query-cpus-fast when the start made it
 *   already (behind qmp_capabilities), or NULL to make it here
 * @out_vcpus: (out) (transfer full): VbThreadId per vCPU (id = cpu-index)
 * @out_iothreads: (out) (transfer full): VbThreadId per iothread (id = iothread id)
 * @error: a failed query, or a pinning the host refuses (NotSupported naming it)
 *
 * Reads the run's vCPU and iothread thread ids, logs them, and applies the CPU affinity
 * the definition asks for. Worker thread, with the job held and no lock.
 */
gboolean
vb_domain_threads_setup(const VbDomainDef *def, const char *name, VbQemuMonitor *mon, pid_t pid,
                        JsonNode *cpus, GArray **out_vcpus, GArray **out_iothreads,
                        GError **error)
{
    const VbDomainResources *r = vb_domain_def_get_resources(def);
    g_autoptr(GArray) vcpus = g_array_new(FALSE, FALSE, sizeof(VbThreadId));
    g_autoptr(GArray) ios = g_array_new(FALSE, FALSE, sizeof(VbThreadId));
    g_autofree char *vcpu_str = NULL;
    g_autofree char *io_str = NULL;

    if (!read_vcpus(mon, cpus, vcpus, error) ||
        (r->iothreadids->len > 0 && !read_iothreads(mon, ios, error)))
        return FALSE;
    g_array_sort(vcpus, cmp_thread);
    g_array_sort(ios, cmp_thread);
    vcpu_str = tids_to_string(vcpus, "vCPU ");
    io_str = tids_to_string(ios, "iothread");
    VB_LOG_DOMAIN(G_LOG_LEVEL_INFO, name, "threads: %s%s%s", vcpu_str, ios->len ? "; " : "",
                  io_str);
    if (!pin_emulator(r, pid, vcpus, ios, error) || !pin_threads(r, vcpus, VB_PIN_VCPU, error) ||
        !pin_threads(r, ios, VB_PIN_IOTHREAD, error))
        return FALSE;
    *out_vcpus = g_steal_pointer(&vcpus);
    *out_iothreads = g_steal_pointer(&ios);
    return TRUE;
}
