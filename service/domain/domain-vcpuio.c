/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vCPU count, IOThreads and the emulator's threads (issue 13, part vcpuio; docs/tuning.md):
 * libvirt's virDomainGetVcpusFlags, virDomainGetIOThreadInfo, virDomainAddIOThread,
 * virDomainDelIOThread, virDomainPinEmulator and virDomainGetEmulatorPinInfo. Thread
 * affinity is set and read with sched_{set,get}affinity() (no cgroups, as the start does in
 * domain-affinity.c); thread ids come from query-cpus-fast / query-iothreads.
 */
#include "config.h"

#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <string.h>
#include <unistd.h>

#include "domain-agent.h"
#include "domain-def-cpu.h"
#include "domain-list-priv.h"
#include "domain-memev.h"
#include "domain-vcpuio.h"
#include "vb-error.h"
#include "vb-log.h"

#define QMP_TIMEOUT_MS 30000
#define MAX_HOST_CPU 16384

static guint
host_cpus(void)
{
    long n = sysconf(_SC_NPROCESSORS_CONF);

    return n > 0 ? (guint)n : 1;
}

static gboolean
active_locked(VbDomainObj *dom)
{
    return dom->id >= 0 && dom->mon != NULL && !dom->stopping;
}

/*
 * libvirt's virDomainObjGetOneDefState: LIVE and CONFIG exclude each other, CURRENT (0)
 * is LIVE while running. Sets *@out_live. Under dom->lock.
 */
static const VbDomainDef *
one_def_locked(VbDomainObj *dom, guint flags, const char *method, gboolean *out_live,
               GError **error)
{
    gboolean active = dom->id >= 0;

    if ((flags & VB_VCPUIO_LIVE) && (flags & VB_VCPUIO_CONFIG)) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                    "%s: the LIVE and CONFIG flags exclude each other", method);
        return NULL;
    }
    if ((flags & (VB_VCPUIO_LIVE | VB_VCPUIO_CONFIG)) == 0)
        flags |= active ? VB_VCPUIO_LIVE : VB_VCPUIO_CONFIG;
    if ((flags & VB_VCPUIO_LIVE) && !active) {
        vb_domain_obj_set_not_running_error(dom, method, error);
        return NULL;
    }
    if ((flags & VB_VCPUIO_CONFIG) && !dom->persistent) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_STATE,
                    "%s: the domain is transient: it has no persistent configuration", method);
        return NULL;
    }
    *out_live = (flags & VB_VCPUIO_LIVE) != 0;
    if (!*out_live && active && dom->new_def != NULL)
        return dom->new_def;
    return dom->def;
}

/* "ab" of @n host CPUs with the CPUs of @cpus (sorted guint; NULL: all) set */
static GVariant *
map_of_cpus(const GArray *cpus, guint n)
{
    GVariantBuilder b;
    guint k = 0;

    g_variant_builder_init(&b, G_VARIANT_TYPE("ab"));
    for (guint c = 0; c < n; c++) {
        gboolean set = cpus == NULL;

        while (cpus != NULL && k < cpus->len && g_array_index(cpus, guint, k) < c)
            k++;
        if (cpus != NULL && k < cpus->len && g_array_index(cpus, guint, k) == c)
            set = TRUE;
        g_variant_builder_add(&b, "b", set);
    }
    return g_variant_builder_end(&b);
}

/* the host CPUs a thread may run on, as "ab" (libvirt's virProcessGetAffinity) */
static GVariant *
map_of_thread(int tid, GError **error)
{
    guint n = MAX(host_cpus(), 1);
    cpu_set_t *set = CPU_ALLOC(MAX_HOST_CPU);
    size_t size = CPU_ALLOC_SIZE(MAX_HOST_CPU);
    GVariantBuilder b;

    CPU_ZERO_S(size, set);
    if (sched_getaffinity(tid, size, set) < 0) {
        int err = errno;

        CPU_FREE(set);
        g_set_error(error, VB_ERROR, VB_ERROR_FAILED,
                    "cannot read the CPU affinity of thread %d: %s", tid, g_strerror(err));
        return NULL;
    }
    g_variant_builder_init(&b, G_VARIANT_TYPE("ab"));
    for (guint c = 0; c < n; c++)
        g_variant_builder_add(&b, "b", (gboolean)(CPU_ISSET_S(c, size, set) != 0));
    CPU_FREE(set);
    return g_variant_builder_end(&b);
}

/* ---- GetVcpus ---- */

/* GUEST: the agent's guest-get-vcpus, counting the online ones (or all with MAXIMUM) */
static gboolean
guest_vcpus(VbDomainList *list, VbDomainObj *dom, guint flags, const char *owner,
            guint *out_count, GError **error)
{
    g_autoptr(JsonNode) ret = NULL;
    JsonArray *arr;
    guint online = 0;

    if (flags & VB_VCPUIO_CONFIG) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                    "vCPU count provided by the guest agent can only be requested for live "
                    "domains (GUEST with CONFIG)");
        return FALSE;
    }
    ret = vb_domain_agent_command(list, dom, "GetVcpus", owner, "guest-get-vcpus", NULL, error);
    if (ret == NULL)
        return FALSE;
    if (!JSON_NODE_HOLDS_ARRAY(ret)) {
        g_set_error(error, VB_ERROR, VB_ERROR_AGENT_COMMAND,
                    "guest-get-vcpus: the agent's reply is not a list");
        return FALSE;
    }
    arr = json_node_get_array(ret);
    for (guint i = 0; i < json_array_get_length(arr); i++) {
        JsonObject *o = json_array_get_object_element(arr, i);

        if (o != NULL && json_object_has_member(o, "online") &&
            json_object_get_boolean_member(o, "online"))
            online++;
    }
    *out_count = (flags & VB_VCPUIO_MAXIMUM) ? json_array_get_length(arr) : online;
    return TRUE;
}

/**
 * vb_domain_get_vcpus:
 * @flags: LIVE / CONFIG (not both; 0 CURRENT), MAXIMUM, GUEST
 * @out_count: (out): the count
 *
 * libvirt's virDomainGetVcpusFlags: the current (<vcpu current>) or maximum (<vcpu>) count
 * of the live or persistent definition; GUEST asks the guest agent (guest-get-vcpus) how
 * many vCPUs are online (with MAXIMUM: how many it sees). Worker thread; the agent's job
 * for GUEST, none otherwise (the definition only).
 */
gboolean
vb_domain_get_vcpus(VbDomainList *list, VbDomainObj *dom, guint flags, const char *owner,
                    guint *out_count, GError **error)
{
    const VbDomainDef *def;
    gboolean live = FALSE;

    g_mutex_lock(&dom->lock);
    def = one_def_locked(dom, flags, "GetVcpus", &live, error);
    if (def != NULL && !(flags & VB_VCPUIO_GUEST))
        *out_count = (flags & VB_VCPUIO_MAXIMUM) ? def->vcpus_max : def->vcpus_current;
    g_mutex_unlock(&dom->lock);
    if (def == NULL)
        return FALSE;
    if (flags & VB_VCPUIO_GUEST)
        return guest_vcpus(list, dom, flags, owner, out_count, error);
    return TRUE;
}

/* ---- GetIOThreadInfo, AddIOThread, DelIOThread ---- */

/* query-iothreads: VbThreadId per iothreadN, sorted by id */
static GArray *
query_iothreads(VbQemuMonitor *mon, GError **error)
{
    g_autoptr(JsonNode) r =
        vb_qemu_monitor_command(mon, "query-iothreads", NULL, QMP_TIMEOUT_MS, error);
    g_autoptr(GArray) tids = NULL;
    JsonArray *arr;

    if (r == NULL)
        return NULL;
    tids = g_array_new(FALSE, FALSE, sizeof(VbThreadId));
    arr = JSON_NODE_HOLDS_ARRAY(r) ? json_node_get_array(r) : NULL;
    for (guint i = 0; arr != NULL && i < json_array_get_length(arr); i++) {
        JsonObject *o = json_array_get_object_element(arr, i);
        const char *id = o != NULL && json_object_has_member(o, "id")
                             ? json_object_get_string_member(o, "id")
                             : NULL;
        guint64 num;
        VbThreadId t;

        if (id == NULL || !g_str_has_prefix(id, "iothread") ||
            !json_object_has_member(o, "thread-id") ||
            !g_ascii_string_to_unsigned(id + strlen("iothread"), 10, 1, G_MAXINT, &num, NULL))
            continue;
        t.id = (guint)num;
        t.tid = (int)json_object_get_int_member(o, "thread-id");
        g_array_append_val(tids, t);
    }
    for (guint i = 1; i < tids->len; i++) {
        for (guint j = i; j > 0 && g_array_index(tids, VbThreadId, j - 1).id >
                                       g_array_index(tids, VbThreadId, j).id; j--) {
            VbThreadId t = g_array_index(tids, VbThreadId, j);

            g_array_index(tids, VbThreadId, j) = g_array_index(tids, VbThreadId, j - 1);
            g_array_index(tids, VbThreadId, j - 1) = t;
        }
    }
    return g_steal_pointer(&tids);
}

/* the host CPUs of an IOThread by the definition: its pin, else <vcpu cpuset>, else all */
static const GArray *
iothread_cpus(const VbDomainResources *r, guint id)
{
    for (guint i = 0; i < r->pins->len; i++) {
        const VbPin *p = g_ptr_array_index(r->pins, i);

        if (p->kind == VB_PIN_IOTHREAD && p->id == id)
            return p->cpus;
    }
    return r->vcpu_cpus;
}

/**
 * vb_domain_get_iothread_info:
 * @flags: LIVE or CONFIG (not both), 0 CURRENT
 *
 * libvirt's virDomainGetIOThreadInfo: per IOThread its id and host CPUs; LIVE from
 * query-iothreads and each thread's affinity (query job), CONFIG from the persistent
 * definition (<iothreadpin>, else <vcpu cpuset>, else every host CPU). Worker thread.
 *
 * Returns: (transfer full): "a(uab)", or %NULL with @error
 */
GVariant *
vb_domain_get_iothread_info(VbDomainList *list, VbDomainObj *dom, guint flags,
                            const char *owner, GError **error)
{
    g_autoptr(VbQemuMonitor) mon = NULL;
    g_autoptr(GArray) tids = NULL;
    const VbDomainDef *def;
    gboolean live = FALSE;
    GVariantBuilder b;

    g_variant_builder_init(&b, G_VARIANT_TYPE("a(uab)"));
    g_mutex_lock(&dom->lock);
    def = one_def_locked(dom, flags, "GetIOThreadInfo", &live, error);
    if (def != NULL && !live) {
        const VbDomainResources *r = vb_domain_def_get_resources(def);

        for (guint i = 0; i < r->iothreadids->len; i++) {
            guint id = ((const VbIOThreadId *)g_ptr_array_index(r->iothreadids, i))->id;

            g_variant_builder_add(&b, "(u@ab)", id, map_of_cpus(iothread_cpus(r, id),
                                                                host_cpus()));
        }
    }
    g_mutex_unlock(&dom->lock);
    if (def == NULL || !live) {
        if (def == NULL) {
            g_variant_builder_clear(&b);
            return NULL;
        }
        return g_variant_ref_sink(g_variant_builder_end(&b));
    }
    if (!vb_domain_job_begin(dom, VB_JOB_QUERY, "GetIOThreadInfo", owner,
                             list->config->job_wait_timeout, list->config->max_queued, error)) {
        g_variant_builder_clear(&b);
        return NULL;
    }
    g_mutex_lock(&dom->lock);
    if (active_locked(dom))
        mon = vb_qemu_monitor_ref(dom->mon);
    else
        vb_domain_obj_set_not_running_error(dom, "GetIOThreadInfo", error);
    g_mutex_unlock(&dom->lock);
    tids = mon != NULL ? query_iothreads(mon, error) : NULL;
    vb_domain_job_end(dom);
    for (guint i = 0; tids != NULL && i < tids->len; i++) {
        const VbThreadId *t = &g_array_index(tids, VbThreadId, i);
        GVariant *map = map_of_thread(t->tid, error);

        if (map == NULL) {
            g_clear_pointer(&tids, g_array_unref);
            break;
        }
        g_variant_builder_add(&b, "(u@ab)", t->id, map);
    }
    if (tids == NULL) {
        g_variant_builder_clear(&b);
        return NULL;
    }
    return g_variant_ref_sink(g_variant_builder_end(&b));
}

typedef struct {
    guint id;
    gboolean add;
} IOThreadEdit;

static VbDomainDef *
edit_iothread(const VbDomainDef *def, gpointer data, GError **error)
{
    const IOThreadEdit *e = data;

    if (!e->add) {
        g_autofree char *user = vb_domain_def_iothread_user(def, e->id);

        if (user != NULL) {
            g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                        "cannot remove IOThread %u since it is being used by %s; detach it "
                        "or move it to another IOThread first", e->id, user);
            return NULL;
        }
    }
    return vb_domain_def_with_iothread(def, e->id, e->add, error);
}

static gboolean
qmp_iothread(VbQemuMonitor *mon, guint id, gboolean add, GError **error)
{
    JsonObject *args = json_object_new();
    g_autofree char *qid = g_strdup_printf("iothread%u", id);
    g_autoptr(JsonNode) r = NULL;

    if (add)
        json_object_set_string_member(args, "qom-type", "iothread");
    json_object_set_string_member(args, "id", qid);
    r = vb_qemu_monitor_command(mon, add ? "object-add" : "object-del", args, QMP_TIMEOUT_MS,
                                error);
    return r != NULL;
}

/* LIVE: object-add / object-del, then the threads again and the live definition */
static gboolean
change_live(VbDomainList *list, VbDomainObj *dom, guint id, gboolean add, GError **error)
{
    IOThreadEdit e = { id, add };
    g_autoptr(VbQemuMonitor) mon = NULL;
    g_autoptr(VbDomainDef) live = NULL;
    g_autoptr(GArray) tids = NULL;
    g_autoptr(GError) err = NULL;
    const GArray *cpus = NULL;
    int tid = -1;

    g_mutex_lock(&dom->lock);
    if (!active_locked(dom)) {
        vb_domain_obj_set_not_running_error(dom, add ? "AddIOThread" : "DelIOThread", error);
        g_mutex_unlock(&dom->lock);
        return FALSE;
    }
    mon = vb_qemu_monitor_ref(dom->mon);
    live = edit_iothread(dom->def, &e, error);
    g_mutex_unlock(&dom->lock);
    if (live == NULL || !qmp_iothread(mon, id, add, error))
        return FALSE;
    tids = query_iothreads(mon, error);
    if (tids == NULL)
        return FALSE;
    for (guint i = 0; i < tids->len; i++) {
        if (g_array_index(tids, VbThreadId, i).id == id)
            tid = g_array_index(tids, VbThreadId, i).tid;
    }
    if (add && tid < 0) {
        g_set_error(error, VB_ERROR, VB_ERROR_QEMU,
                    "QEMU added iothread%u but query-iothreads does not list it", id);
        qmp_iothread(mon, id, FALSE, NULL);
        return FALSE;
    }
    /* a new IOThread runs where <vcpu cpuset> says, as the start puts it */
    cpus = iothread_cpus(vb_domain_def_get_resources(live), id);
    if (add && cpus != NULL &&
        !vb_domain_set_thread_affinity(tid, cpus, "the new IOThread", TRUE, &err))
        g_warning("%s", err->message);
    g_clear_error(&err);
    g_mutex_lock(&dom->lock);
    vb_domain_def_free(dom->def);
    dom->def = g_steal_pointer(&live);
    g_clear_pointer(&dom->iothread_tids, g_array_unref);
    dom->iothread_tids = g_steal_pointer(&tids);
    g_mutex_unlock(&dom->lock);
    if (!vb_domain_status_save(list, dom, &err))
        g_warning("%s", err->message);
    VB_LOG_DOMAIN(G_LOG_LEVEL_INFO, dom->uuid_str, "IOThread %u %s (thread %d)", id,
                  add ? "added" : "removed", tid);
    return TRUE;
}

/**
 * vb_domain_change_iothread:
 * @id: the IOThread id (not 0)
 * @add: AddIOThread (else DelIOThread)
 * @flags: LIVE / CONFIG, 0 CURRENT
 *
 * libvirt's virDomainAddIOThread / virDomainDelIOThread: LIVE adds the iothread object to
 * QEMU (or removes it: refused while a disk or controller uses it) and the live
 * <iothreads>/<iothreadids>; CONFIG changes the persistent definition. Worker thread;
 * modify job.
 */
gboolean
vb_domain_change_iothread(VbDomainList *list, VbDomainObj *dom, guint id, gboolean add,
                          guint flags, const char *owner, GError **error)
{
    const char *method = add ? "AddIOThread" : "DelIOThread";
    IOThreadEdit e = { id, add };
    gboolean ok = TRUE;

    if (id == 0) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                    "invalid value of 0 for iothread_id: IOThread ids start at 1");
        return FALSE;
    }
    if (!vb_domain_job_begin(dom, VB_JOB_MODIFY, method, owner, list->config->job_wait_timeout,
                             list->config->max_queued, error))
        return FALSE;
    g_mutex_lock(&dom->lock);
    if (flags == 0)
        flags = dom->id >= 0 ? VB_VCPUIO_LIVE : VB_VCPUIO_CONFIG;
    if ((flags & VB_VCPUIO_LIVE) && !active_locked(dom)) {
        vb_domain_obj_set_not_running_error(dom, method, error);
        ok = FALSE;
    }
    g_mutex_unlock(&dom->lock);
    /* the persistent side is checked first: a refused CONFIG leaves the guest untouched */
    if (ok && (flags & VB_VCPUIO_CONFIG)) {
        g_autoptr(VbDomainDef) check = NULL;
        g_autoptr(GError) err = NULL;

        g_mutex_lock(&dom->lock);
        if (dom->persistent)
            check = edit_iothread(dom->id >= 0 && dom->new_def != NULL ? dom->new_def
                                                                        : dom->def,
                                  &e, &err);
        g_mutex_unlock(&dom->lock);
        if (err != NULL) {
            g_propagate_error(error, g_steal_pointer(&err));
            ok = FALSE;
        }
    }
    if (ok && (flags & VB_VCPUIO_LIVE))
        ok = change_live(list, dom, id, add, error);
    if (ok && (flags & VB_VCPUIO_CONFIG))
        ok = vb_domain_edit_persistent(list, dom, edit_iothread, &e, error);
    vb_domain_job_end(dom);
    if (ok)
        vb_domain_list_notify(list, dom, VB_DOMAIN_NOTIFY_CHANGED, NULL, NULL);
    return ok;
}

/* ---- PinEmulator, GetEmulatorPinInfo ---- */

static gboolean
has_tid(const GArray *tids, int tid)
{
    for (guint i = 0; tids != NULL && i < tids->len; i++) {
        if (g_array_index(tids, VbThreadId, i).tid == tid)
            return TRUE;
    }
    return FALSE;
}

/* query-cpus-fast: the vCPU threads now (a hot-plugged vCPU included) */
static GArray *
query_vcpus(VbQemuMonitor *mon, GError **error)
{
    g_autoptr(JsonNode) r =
        vb_qemu_monitor_command(mon, "query-cpus-fast", NULL, QMP_TIMEOUT_MS, error);
    GArray *tids;
    JsonArray *arr;

    if (r == NULL)
        return NULL;
    tids = g_array_new(FALSE, FALSE, sizeof(VbThreadId));
    arr = JSON_NODE_HOLDS_ARRAY(r) ? json_node_get_array(r) : NULL;
    for (guint i = 0; arr != NULL && i < json_array_get_length(arr); i++) {
        JsonObject *o = json_array_get_object_element(arr, i);
        VbThreadId t;

        if (o == NULL || !json_object_has_member(o, "thread-id"))
            continue;
        t.id = i;
        t.tid = (int)json_object_get_int_member(o, "thread-id");
        g_array_append_val(tids, t);
    }
    return tids;
}

/* every thread of QEMU that is neither a vCPU nor an IOThread, the main thread first */
static gboolean
pin_emulator_threads(VbQemuMonitor *mon, pid_t pid, const GArray *cpus, GError **error)
{
    g_autoptr(GArray) vcpus = query_vcpus(mon, error);
    g_autoptr(GArray) ios = vcpus != NULL ? query_iothreads(mon, error) : NULL;
    g_autofree char *dir = g_strdup_printf("/proc/%d/task", (int)pid);
    g_autoptr(GDir) d = NULL;
    const char *entry;
    guint n = 0;

    if (ios == NULL ||
        !vb_domain_set_thread_affinity(pid, cpus, "the emulator", TRUE, error))
        return FALSE;
    d = g_dir_open(dir, 0, NULL);
    while (d != NULL && (entry = g_dir_read_name(d)) != NULL) {
        int tid = (int)g_ascii_strtoll(entry, NULL, 10);

        if (tid <= 0 || tid == pid || has_tid(vcpus, tid) || has_tid(ios, tid))
            continue;
        if (!vb_domain_set_thread_affinity(tid, cpus, "an emulator thread", TRUE, error))
            return FALSE;
        n++;
    }
    g_debug("emulator pinned: main thread %d and %u more", (int)pid, n);
    return TRUE;
}

static VbDomainDef *
edit_emulatorpin(const VbDomainDef *def, gpointer data, GError **error)
{
    return vb_domain_def_with_pin(def, VB_PIN_EMULATOR, 0, data, error);
}

/**
 * vb_domain_pin_emulator:
 * @cpumap: "ab": which host CPUs
 * @flags: LIVE / CONFIG, 0 CURRENT
 *
 * libvirt's virDomainPinEmulator: LIVE sets the affinity of QEMU's emulator threads (the
 * main thread and every thread that is no vCPU or IOThread) and the live
 * <cputune><emulatorpin>; CONFIG the persistent one. A map of every host CPU removes the
 * pin. Worker thread; modify job.
 */
gboolean
vb_domain_pin_emulator(VbDomainList *list, VbDomainObj *dom, GVariant *cpumap, guint flags,
                       const char *owner, GError **error)
{
    g_autoptr(GArray) cpus = vb_domain_cpus_of_map(cpumap, error);
    g_autoptr(VbQemuMonitor) mon = NULL;
    g_autofree char *cpuset = NULL;
    const char *pin;
    gboolean ok = TRUE;
    pid_t pid = -1;

    if (cpus == NULL)
        return FALSE;
    cpuset = vb_cpuset_format(cpus);
    pin = cpus->len >= host_cpus() ? NULL : cpuset;
    if (!vb_domain_job_begin(dom, VB_JOB_MODIFY, "PinEmulator", owner,
                             list->config->job_wait_timeout, list->config->max_queued, error))
        return FALSE;
    g_mutex_lock(&dom->lock);
    if (flags == 0)
        flags = dom->id >= 0 ? VB_VCPUIO_LIVE : VB_VCPUIO_CONFIG;
    if ((flags & VB_VCPUIO_LIVE) && !active_locked(dom)) {
        vb_domain_obj_set_not_running_error(dom, "PinEmulator", error);
        ok = FALSE;
    } else if (flags & VB_VCPUIO_LIVE) {
        mon = vb_qemu_monitor_ref(dom->mon);
        pid = dom->proc != NULL ? vb_qemu_process_get_pid(dom->proc) : -1;
    }
    g_mutex_unlock(&dom->lock);
    if (ok && (flags & VB_VCPUIO_LIVE)) {
        g_autoptr(VbDomainDef) live = NULL;
        g_autoptr(GError) err = NULL;

        g_mutex_lock(&dom->lock);
        live = edit_emulatorpin(dom->def, (gpointer)pin, error);
        g_mutex_unlock(&dom->lock);
        ok = live != NULL && pid > 0 && pin_emulator_threads(mon, pid, cpus, error);
        if (ok) {
            g_mutex_lock(&dom->lock);
            vb_domain_def_free(dom->def);
            dom->def = g_steal_pointer(&live);
            g_mutex_unlock(&dom->lock);
            if (!vb_domain_status_save(list, dom, &err))
                g_warning("%s", err->message);
            VB_LOG_DOMAIN(G_LOG_LEVEL_INFO, dom->uuid_str,
                          "emulator threads pinned to host CPUs %s", cpuset);
        } else if (live != NULL && pid <= 0 && error != NULL && *error == NULL) {
            g_set_error(error, VB_ERROR, VB_ERROR_FAILED, "QEMU's process id is not known");
        }
    }
    if (ok && (flags & VB_VCPUIO_CONFIG))
        ok = vb_domain_edit_persistent(list, dom, edit_emulatorpin, (gpointer)pin, error);
    vb_domain_job_end(dom);
    return ok;
}

/**
 * vb_domain_get_emulator_pin_info:
 * @flags: LIVE or CONFIG (not both), 0 CURRENT
 *
 * libvirt's virDomainGetEmulatorPinInfo: <emulatorpin>, else <vcpu cpuset>, else every
 * host CPU, as a map of the host's CPUs. No job (the definition only); any thread.
 *
 * Returns: (transfer full): "ab", or %NULL with @error
 */
GVariant *
vb_domain_get_emulator_pin_info(VbDomainObj *dom, guint flags, GError **error)
{
    g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&dom->lock);
    const VbDomainDef *def;
    const VbDomainResources *r;
    const GArray *cpus;
    gboolean live = FALSE;

    def = one_def_locked(dom, flags, "GetEmulatorPinInfo", &live, error);
    if (def == NULL)
        return NULL;
    r = vb_domain_def_get_resources(def);
    cpus = r->vcpu_cpus;
    for (guint i = 0; i < r->pins->len; i++) {
        const VbPin *p = g_ptr_array_index(r->pins, i);

        if (p->kind == VB_PIN_EMULATOR)
            cpus = p->cpus;
    }
    return g_variant_ref_sink(map_of_cpus(cpus, host_cpus()));
}
