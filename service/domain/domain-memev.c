/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <string.h>
#include <unistd.h>

#include "domain-def-cpu.h"
#include "domain-def-priv.h"
#include "domain-hotplug.h"
#include "domain-list-priv.h"
#include "domain-memev.h"
#include "domain-guest2.h" /* SetVcpus GUEST (issue 13, part guest2) */
#include "store.h"
#include "vb-error.h"
#include "vb-log.h"

/*
 * QEMU events a frontend acts on, as libvirt's domain events (issue 13, part memev):
 * each becomes one bus signal with libvirt's detail values (docs/events.md). Handled in
 * the event worker with the domain's job (domain-events.c), in arrival order.
 */

#define QMP_TIMEOUT_MS 30000
#define VB_MAX_VCPUS 4096 /* as <vcpu> allows (docs/domain-xml.md) */

/**
 * vb_domain_emit_signal:
 * @params: (transfer floating): the signal's parameters, a tuple
 *
 * Queues the signal @name of @dom to the bus, after the properties changed so far.
 * Any thread, no lock held.
 */
void
vb_domain_emit_signal(VbDomainList *list, VbDomainObj *dom, const char *name,
                      GVariant *params)
{
    g_autoptr(GVariant) p = g_variant_ref_sink(params);
    g_autofree char *event = g_strconcat(VB_DOMAIN_SIGNAL_PREFIX, name, NULL);
    g_autofree char *detail = g_variant_print(p, TRUE);

    vb_domain_list_notify(list, dom, VB_DOMAIN_NOTIFY_CHANGED, event, detail);
}

static const char *
jstr(JsonObject *o, const char *name)
{
    JsonNode *n = o != NULL ? json_object_get_member(o, name) : NULL;

    if (n == NULL || !JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_STRING)
        return NULL;
    return json_node_get_string(n);
}

static gboolean
jint(JsonObject *o, const char *name, gint64 *out)
{
    JsonNode *n = o != NULL ? json_object_get_member(o, name) : NULL;

    if (n == NULL || !JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_INT64)
        return FALSE;
    *out = json_node_get_int(n);
    return TRUE;
}

static gboolean
jbool(JsonObject *o, const char *name)
{
    JsonNode *n = o != NULL ? json_object_get_member(o, name) : NULL;

    return n != NULL && JSON_NODE_HOLDS_VALUE(n) &&
           json_node_get_value_type(n) == G_TYPE_BOOLEAN && json_node_get_boolean(n);
}

static JsonObject *
jobj(JsonObject *o, const char *name)
{
    JsonNode *n = o != NULL ? json_object_get_member(o, name) : NULL;

    return n != NULL && JSON_NODE_HOLDS_OBJECT(n) ? json_node_get_object(n) : NULL;
}

/* Index of @s in the NULL-terminated @names, or @dflt. */
static guint
lookup(const char *const *names, const char *s, guint dflt)
{
    for (guint i = 0; s != NULL && names[i] != NULL; i++) {
        if (g_str_equal(names[i], s))
            return i;
    }
    return dflt;
}

static VbQemuMonitor *
get_mon(VbDomainObj *dom)
{
    g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&dom->lock);

    return dom->mon != NULL ? vb_qemu_monitor_ref(dom->mon) : NULL;
}

/* BALLOON_CHANGE {actual: bytes}: the live <currentMemory>, CurrentMemory, BalloonChange. */
static void
balloon_change(VbDomainList *list, VbDomainObj *dom, JsonObject *data)
{
    g_autoptr(GError) error = NULL;
    gint64 actual;
    guint64 kib;

    if (!jint(data, "actual", &actual) || actual < 0)
        return;
    kib = (guint64)actual >> 10;
    g_mutex_lock(&dom->lock);
    dom->def->current_memory_kib = kib;
    g_mutex_unlock(&dom->lock);
    if (!vb_domain_status_save(list, dom, &error))
        g_warning("%s", error->message);
    VB_LOG_DOMAIN(G_LOG_LEVEL_INFO, dom->uuid_str, "balloon at %" G_GUINT64_FORMAT " KiB", kib);
    vb_domain_emit_signal(list, dom, "BalloonChange", g_variant_new("(t)", kib));
}

/* The disk whose QEMU node is @node (or whose BlockBackend is @device): its alias (qdev id)
 * and source file, from query-block. */
static void
find_disk(VbDomainObj *dom, const char *device, const char *node, char **out_alias,
          char **out_path)
{
    g_autoptr(VbQemuMonitor) mon = get_mon(dom);
    g_autoptr(JsonNode) r = NULL;
    JsonArray *a;

    *out_alias = NULL;
    *out_path = NULL;
    if (mon == NULL)
        return;
    r = vb_qemu_monitor_command(mon, "query-block", NULL, QMP_TIMEOUT_MS, NULL);
    if (r == NULL || !JSON_NODE_HOLDS_ARRAY(r))
        return;
    a = json_node_get_array(r);
    for (guint i = 0; i < json_array_get_length(a); i++) {
        JsonNode *e = json_array_get_element(a, i);
        JsonObject *o = JSON_NODE_HOLDS_OBJECT(e) ? json_node_get_object(e) : NULL;
        JsonObject *ins = jobj(o, "inserted");
        const char *qdev = jstr(o, "qdev");
        const char *dev = jstr(o, "device");
        gboolean match = (node != NULL && *node != '\0' &&
                          g_strcmp0(jstr(ins, "node-name"), node) == 0) ||
                         (device != NULL && *device != '\0' && g_strcmp0(dev, device) == 0);

        if (!match)
            continue;
        if (qdev != NULL) {
            /* "/machine/peripheral/virtio-disk0/virtio-backend" or "ide0-0-0" */
            const char *p = g_str_has_prefix(qdev, "/machine/peripheral/")
                                ? qdev + strlen("/machine/peripheral/") : qdev;
            const char *slash = strchr(p, '/');

            *out_alias = slash != NULL ? g_strndup(p, slash - p) : g_strdup(p);
        }
        *out_path = g_strdup(jstr(ins, "file"));
        return;
    }
}

/* BLOCK_IO_ERROR: IOError(srcPath, device alias, action, reason); a stop pauses with
 * reason ioerror (the STOP event that follows). */
static void
io_error(VbDomainList *list, VbDomainObj *dom, JsonObject *data)
{
    static const char *const actions[] = { "ignore", "stop", "report", NULL };
    const char *action = jstr(data, "action");
    guint act = lookup(actions, action, 2);
    g_autofree char *alias = NULL;
    g_autofree char *path = NULL;

    find_disk(dom, jstr(data, "device"), jstr(data, "node-name"), &alias, &path);
    vb_domain_disk_error_note(dom, alias, jbool(data, "nospace")); /* issue 13, guest2 */
    if (act == 1) {
        g_mutex_lock(&dom->lock);
        dom->pause_reason = VB_DOMAIN_REASON_IOERROR;
        g_mutex_unlock(&dom->lock);
    }
    vb_domain_emit_signal(list, dom, "IOError",
                          g_variant_new("(ssus)", path != NULL ? path : "",
                                        alias != NULL ? alias : "", act,
                                        jbool(data, "nospace") ? "enospc" : ""));
}

/* WATCHDOG {action}: Watchdog(libvirt's action); a pause pauses with reason watchdog. */
static void
watchdog(VbDomainList *list, VbDomainObj *dom, JsonObject *data)
{
    static const char *const actions[] = { "none", "pause", "reset", "poweroff",
                                           "shutdown", "debug", "inject-nmi", NULL };
    guint act = lookup(actions, jstr(data, "action"), 0);

    if (act == 1) {
        g_mutex_lock(&dom->lock);
        dom->pause_reason = VB_DOMAIN_REASON_WATCHDOG;
        g_mutex_unlock(&dom->lock);
    }
    VB_LOG_DOMAIN(G_LOG_LEVEL_MESSAGE, dom->uuid_str, "the watchdog fired: %s",
                  actions[act]);
    vb_domain_emit_signal(list, dom, "Watchdog", g_variant_new("(u)", act));
}

/* (family, node, service) of a VNC or SPICE event's server or client */
static GVariant *
graphics_address(JsonObject *o)
{
    static const char *const families[] = { "ipv4", "ipv6", "unix", NULL };
    const char *service = jstr(o, "service");
    gint64 port = 0;
    g_autofree char *port_str = NULL;

    if (service == NULL && jint(o, "port", &port))
        service = port_str = g_strdup_printf("%" G_GINT64_FORMAT, port);
    else if (service == NULL)
        service = jstr(o, "port"); /* SPICE sends it as a string */
    return g_variant_new("(uss)", lookup(families, jstr(o, "family"), 0),
                         jstr(o, "host") != NULL ? jstr(o, "host") : "",
                         service != NULL ? service : "");
}

/* VNC_* / SPICE_* connection events: Graphics(phase, local, remote, auth, identities). */
static void
graphics(VbDomainList *list, VbDomainObj *dom, guint phase, JsonObject *data)
{
    JsonObject *server = jobj(data, "server");
    JsonObject *client = jobj(data, "client");
    GVariantBuilder ids;
    const char *x509 = jstr(client, "x509_dname");
    const char *sasl = jstr(client, "sasl_username");
    g_autoptr(GVariant) params = NULL;

    g_variant_builder_init(&ids, G_VARIANT_TYPE("a(ss)"));
    if (x509 != NULL)
        g_variant_builder_add(&ids, "(ss)", "x509dname", x509);
    if (sasl != NULL)
        g_variant_builder_add(&ids, "(ss)", "saslUsername", sasl);
    params = g_variant_ref_sink(
        g_variant_new("(u@(uss)@(uss)sa(ss))", phase, graphics_address(server),
                      graphics_address(client),
                      jstr(server, "auth") != NULL ? jstr(server, "auth") : "", &ids));
    vb_domain_emit_signal(list, dom, "Graphics", g_variant_ref(params));
    /* issue 13 names the event GraphicsEvent: the same signal under that name too */
    vb_domain_emit_signal(list, dom, "GraphicsEvent", g_variant_ref(params));
}

/* BLOCK_WRITE_THRESHOLD {node-name, amount-exceeded, write-threshold} */
static void
block_threshold(VbDomainList *list, VbDomainObj *dom, JsonObject *data)
{
    g_autofree char *alias = NULL;
    g_autofree char *path = NULL;
    gint64 threshold = 0, excess = 0;

    jint(data, "write-threshold", &threshold);
    jint(data, "amount-exceeded", &excess);
    find_disk(dom, NULL, jstr(data, "node-name"), &alias, &path);
    if (alias == NULL && jstr(data, "node-name") != NULL &&
        g_str_has_suffix(jstr(data, "node-name"), "-storage")) {
        /* SetBlockThreshold sets it on the top image's storage node (issue 15, part
         * blockjob); its disk is the device of libvirt-N-format */
        const char *n = jstr(data, "node-name");
        g_autofree char *fmt = g_strdup_printf("%.*s-format",
                                               (int)(strlen(n) - strlen("-storage")), n);

        find_disk(dom, NULL, fmt, &alias, &path);
    }
    vb_domain_emit_signal(list, dom, "BlockThreshold",
                          g_variant_new("(sstt)", alias != NULL ? alias
                                                  : jstr(data, "node-name") != NULL
                                                      ? jstr(data, "node-name") : "",
                                        path != NULL ? path : "", (guint64)threshold,
                                        (guint64)excess));
}

/* MEMORY_FAILURE {recipient, action, flags {action-required, recursive}} */
static void
memory_failure(VbDomainList *list, VbDomainObj *dom, JsonObject *data)
{
    static const char *const recipients[] = { "hypervisor", "guest", NULL };
    static const char *const actions[] = { "ignore", "inject", "fatal", "reset", NULL };
    JsonObject *f = jobj(data, "flags");
    guint flags = (jbool(f, "action-required") ? 1 : 0) | (jbool(f, "recursive") ? 2 : 0);

    vb_domain_emit_signal(list, dom, "MemoryFailure",
                          g_variant_new("(uuu)", lookup(recipients, jstr(data, "recipient"), 0),
                                        lookup(actions, jstr(data, "action"), 0), flags));
}

/* RTC_CHANGE {offset}: RTCChange(seconds). QEMU's offset, from the clock base of the
 * start; with <clock offset='variable'> libvirt adds the base's adjustment and keeps the
 * new one in the live XML: not done yet (the offset is QEMU's). */
static void
rtc_change(VbDomainList *list, VbDomainObj *dom, JsonObject *data)
{
    gint64 offset = 0;

    if (!jint(data, "offset", &offset))
        return;
    vb_domain_emit_signal(list, dom, "RTCChange", g_variant_new("(x)", offset));
}

/* SUSPEND / SUSPEND_DISK / WAKEUP: the state pmsuspended and back, and the signal. */
static void
pm_event(VbDomainList *list, VbDomainObj *dom, const char *name)
{
    gboolean wake = g_str_equal(name, "WAKEUP");
    gboolean disk = g_str_equal(name, "SUSPEND_DISK");
    gboolean changed = FALSE;
    g_autoptr(GError) error = NULL;

    g_mutex_lock(&dom->lock);
    if (!wake && !disk && dom->state == VB_DOMAIN_STATE_RUNNING) {
        vb_domain_obj_set_state(dom, VB_DOMAIN_STATE_PMSUSPENDED, VB_DOMAIN_REASON_UNKNOWN);
        changed = TRUE;
    } else if (wake && dom->state == VB_DOMAIN_STATE_PMSUSPENDED) {
        vb_domain_obj_set_state(dom, VB_DOMAIN_STATE_RUNNING, VB_DOMAIN_REASON_WAKEUP);
        changed = TRUE;
    }
    g_mutex_unlock(&dom->lock);
    if (changed) {
        if (!vb_domain_status_save(list, dom, &error))
            g_warning("%s", error->message);
        vb_domain_list_notify(list, dom, VB_DOMAIN_NOTIFY_CHANGED,
                              wake ? "started" : "pmsuspended", wake ? "wakeup" : "memory");
    }
    vb_domain_emit_signal(list, dom, wake ? "PMWakeup" : disk ? "PMSuspendDisk" : "PMSuspend",
                          g_variant_new("(u)", 0));
}

/**
 * vb_domain_memev_event:
 *
 * The events of this part. Event worker, with the domain's job, for the current run.
 *
 * Returns: whether @ev was one of them
 */
gboolean
vb_domain_memev_event(VbDomainList *list, VbDomainObj *dom, const VbDomainEvent *ev)
{
    const char *n = ev->name;

    if (g_str_equal(n, "BALLOON_CHANGE"))
        balloon_change(list, dom, ev->data);
    else if (g_str_equal(n, "BLOCK_IO_ERROR"))
        io_error(list, dom, ev->data);
    else if (g_str_equal(n, "WATCHDOG"))
        watchdog(list, dom, ev->data);
    else if (g_str_equal(n, "DEVICE_TRAY_MOVED"))
        /* libvirt's OPEN 0, CLOSE 1; the device's id is its alias */
        vb_domain_emit_signal(list, dom, "TrayChange",
                              g_variant_new("(su)", jstr(ev->data, "id") != NULL
                                                        ? jstr(ev->data, "id") : "",
                                            jbool(ev->data, "tray-open") ? 0U : 1U));
    else if (g_str_equal(n, "VNC_CONNECTED") || g_str_equal(n, "SPICE_CONNECTED"))
        graphics(list, dom, 0, ev->data);
    else if (g_str_equal(n, "VNC_INITIALIZED") || g_str_equal(n, "SPICE_INITIALIZED"))
        graphics(list, dom, 1, ev->data);
    else if (g_str_equal(n, "VNC_DISCONNECTED") || g_str_equal(n, "SPICE_DISCONNECTED"))
        graphics(list, dom, 2, ev->data);
    else if (g_str_equal(n, "BLOCK_WRITE_THRESHOLD"))
        block_threshold(list, dom, ev->data);
    else if (g_str_equal(n, "MEMORY_FAILURE"))
        memory_failure(list, dom, ev->data);
    else if (g_str_equal(n, "RESET"))
        vb_domain_emit_signal(list, dom, "Reboot", g_variant_new("()"));
    else if (g_str_equal(n, "RTC_CHANGE"))
        rtc_change(list, dom, ev->data);
    else if (g_str_equal(n, "SUSPEND") || g_str_equal(n, "SUSPEND_DISK") ||
             g_str_equal(n, "WAKEUP"))
        pm_event(list, dom, n);
    else
        return FALSE;
    return TRUE;
}

/* ---- SetMemory ---- */

/**
 * vb_domain_memev_setup_balloon:
 * @mon: the run's monitor
 *
 * At start, before the guest runs: a <currentMemory> below <memory> is the balloon's first
 * target (libvirt's qemuProcessSetupBalloon). Starting worker with the job, no lock.
 */
gboolean
vb_domain_memev_setup_balloon(VbDomainObj *dom, VbQemuMonitor *mon, GError **error)
{
    JsonObject *args;
    g_autoptr(JsonNode) r = NULL;
    guint64 cur, max;
    gboolean balloon;

    g_mutex_lock(&dom->lock);
    cur = dom->def->current_memory_kib;
    max = dom->def->max_memory_kib;
    balloon = vb_domain_def_has_virtio_balloon(dom->def);
    g_mutex_unlock(&dom->lock);
    if (!balloon || cur == 0 || cur >= max)
        return TRUE;
    args = json_object_new();
    json_object_set_int_member(args, "value", (gint64)(cur * 1024));
    r = vb_qemu_monitor_command(mon, "balloon", args, QMP_TIMEOUT_MS, error);
    return r != NULL;
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

/**
 * vb_domain_edit_persistent:
 *
 * CONFIG: the persistent definition, changed by @edit and written to disk. Modify job, no
 * dom->lock; the define lock keeps a DefineXML from landing between the copy and its
 * replacement. Also used by domain-vcpuio.c (issue 13, part vcpuio).
 */
gboolean
vb_domain_edit_persistent(VbDomainList *list, VbDomainObj *dom, VbDomainEditFunc edit,
                          gpointer data, GError **error)
{
    g_autoptr(GMutexLocker) define_locker = g_mutex_locker_new(&list->define_lock);
    g_autoptr(VbDomainDef) copy = NULL;
    g_autoptr(VbDomainDef) changed = NULL;
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
        g_set_error(error, VB_ERROR, VB_ERROR_FAILED, "cannot copy the definition");
        return FALSE;
    }
    changed = edit(copy, data, error);
    if (changed == NULL || !write_config(list, changed, error))
        return FALSE;
    g_mutex_lock(&dom->lock);
    if (active) {
        if (dom->new_def != NULL)
            vb_domain_def_free(dom->new_def);
        dom->new_def = g_steal_pointer(&changed);
    } else {
        vb_domain_def_free(dom->def);
        dom->def = g_steal_pointer(&changed);
    }
    g_mutex_unlock(&dom->lock);
    return TRUE;
}

typedef struct {
    guint64 kib;
    gboolean maximum;
} MemEdit;

static VbDomainDef *
edit_memory(const VbDomainDef *def, gpointer data, GError **error)
{
    const MemEdit *m = data;
    VbDomainDef *copy = vb_domain_def_copy(def);

    if (copy == NULL) {
        g_set_error(error, VB_ERROR, VB_ERROR_FAILED, "cannot copy the definition");
        return NULL;
    }
    if (m->maximum && vb_domain_def_get_resources(copy)->cpu.cells->len > 0) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_STATE,
                    "the maximum memory of a domain with NUMA cells is their sum: change "
                    "the cells' memory in <cpu><numa> instead");
        vb_domain_def_free(copy);
        return NULL;
    } else if (m->maximum) {
        copy->max_memory_kib = m->kib;
        if (copy->current_memory_kib > m->kib)
            copy->current_memory_kib = m->kib;
    } else if (m->kib > copy->max_memory_kib) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                    "cannot set memory (%" G_GUINT64_FORMAT " KiB) higher than the "
                    "maximum memory (%" G_GUINT64_FORMAT " KiB) of the persistent "
                    "definition; raise it first (SetMemory with MAXIMUM|CONFIG)",
                    m->kib, copy->max_memory_kib);
        vb_domain_def_free(copy);
        return NULL;
    } else {
        copy->current_memory_kib = m->kib;
    }
    return copy;
}

static gboolean
set_memory_config(VbDomainList *list, VbDomainObj *dom, guint64 kib, gboolean maximum,
                  GError **error)
{
    MemEdit m = { kib, maximum };

    return vb_domain_edit_persistent(list, dom, edit_memory, &m, error);
}

/* LIVE: the balloon's target; BALLOON_CHANGE updates <currentMemory> when it moves. */
static gboolean
set_memory_live(VbDomainObj *dom, VbQemuMonitor *mon, guint64 kib, GError **error)
{
    JsonObject *args = json_object_new();
    g_autoptr(JsonNode) r = NULL;

    json_object_set_int_member(args, "value", (gint64)(kib * 1024));
    r = vb_qemu_monitor_command(mon, "balloon", args, QMP_TIMEOUT_MS, error);
    if (r == NULL)
        return FALSE;
    VB_LOG_DOMAIN(G_LOG_LEVEL_INFO, dom->uuid_str, "balloon target %" G_GUINT64_FORMAT " KiB",
                  kib);
    return TRUE;
}

/**
 * vb_domain_set_memory:
 * @kib: the new size, KiB
 * @flags: VbMemFlags (CURRENT 0: LIVE when running, else CONFIG)
 *
 * libvirt's virDomainSetMemoryFlags: LIVE moves the balloon (a virtio <memballoon> is
 * needed; never above the maximum); CONFIG sets the persistent <currentMemory>; MAXIMUM
 * sets <memory> instead, for CONFIG only (a running guest's maximum is fixed). Worker
 * thread; modify job.
 */
gboolean
vb_domain_set_memory(VbDomainList *list, VbDomainObj *dom, guint64 kib, guint flags,
                     const char *owner, GError **error)
{
    gboolean maximum = (flags & VB_MEM_MAXIMUM) != 0;
    gboolean active, ok = TRUE;
    g_autoptr(VbQemuMonitor) mon = NULL;
    guint64 max_live = 0;

    if (kib == 0) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                    "invalid memory size 0: give KiB");
        return FALSE;
    }
    /* a size the definition could not hold: written into the persistent XML it would
     * make a file the parser refuses (an Internal error, the definition stuck) */
    if (kib > VB_DOMAIN_MEMORY_MAX_KIB) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                    "invalid memory size %" G_GUINT64_FORMAT " KiB: at most %" G_GUINT64_FORMAT
                    " KiB (8 PiB)", kib, VB_DOMAIN_MEMORY_MAX_KIB);
        return FALSE;
    }
    if (!vb_domain_job_begin(dom, VB_JOB_MODIFY, "SetMemory", owner,
                             list->config->job_wait_timeout, list->config->max_queued, error))
        return FALSE;
    flags &= ~VB_MEM_MAXIMUM;
    g_mutex_lock(&dom->lock);
    active = dom->id >= 0 && dom->mon != NULL && !dom->stopping;
    if (flags == 0)
        flags = active ? VB_MEM_LIVE : VB_MEM_CONFIG;
    if ((flags & VB_MEM_LIVE) && !active) {
        vb_domain_obj_set_not_running_error(dom, "SetMemory", error);
        ok = FALSE;
    } else if ((flags & VB_MEM_LIVE) && maximum) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_STATE,
                    "cannot resize the maximum memory of a running domain; change the "
                    "persistent definition (CONFIG) and restart it");
        ok = FALSE;
    } else if (flags & VB_MEM_LIVE) {
        max_live = dom->def->max_memory_kib;
        if (!vb_domain_def_has_virtio_balloon(dom->def)) {
            g_set_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
                        "the domain has no virtio <memballoon>: changing the memory of a "
                        "running domain needs one");
            ok = FALSE;
        } else if (kib > max_live) {
            g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                        "cannot set memory (%" G_GUINT64_FORMAT " KiB) higher than the "
                        "maximum memory (%" G_GUINT64_FORMAT " KiB)",
                        kib, max_live);
            ok = FALSE;
        }
        mon = dom->mon != NULL ? vb_qemu_monitor_ref(dom->mon) : NULL;
    }
    g_mutex_unlock(&dom->lock);
    /* the persistent side first: a refused CONFIG leaves the guest untouched */
    if (ok && (flags & VB_MEM_CONFIG))
        ok = set_memory_config(list, dom, kib, maximum, error);
    if (ok && (flags & VB_MEM_LIVE))
        ok = set_memory_live(dom, mon, kib, error);
    vb_domain_job_end(dom);
    if (ok)
        vb_domain_list_notify(list, dom, VB_DOMAIN_NOTIFY_CHANGED, NULL, NULL);
    return ok;
}

/* ---- PinVcpu, PinIOThread, GetVcpuPinInfo ---- */

typedef struct {
    VbPinKind kind;
    guint id;
    const char *cpuset; /* NULL: the pin goes */
} PinEdit;

static VbDomainDef *
edit_pin(const VbDomainDef *def, gpointer data, GError **error)
{
    const PinEdit *p = data;

    if (p->kind == VB_PIN_VCPU && p->id >= def->vcpus_max) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                    "vCPU %u is out of range: the domain has %u", p->id, def->vcpus_max);
        return NULL;
    }
    if (p->kind == VB_PIN_IOTHREAD) {
        const VbDomainResources *r = vb_domain_def_get_resources(def);
        gboolean found = FALSE;

        for (guint i = 0; i < r->iothreadids->len && !found; i++)
            found = ((const VbIOThreadId *)g_ptr_array_index(r->iothreadids, i))->id == p->id;
        if (!found) {
            g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                        "the domain has no iothread %u", p->id);
            return NULL;
        }
    }
    return vb_domain_def_with_pin(def, p->kind, p->id, p->cpuset, error);
}

static guint
host_cpus(void)
{
    long n = sysconf(_SC_NPROCESSORS_CONF);

    return n > 0 ? (guint)n : 1;
}

/* The host CPUs of a cpumap (libvirt's "ab"), or NULL with @error when none is set. */
GArray *
vb_domain_cpus_of_map(GVariant *cpumap, GError **error)
{
    g_autoptr(GArray) cpus = g_array_new(FALSE, FALSE, sizeof(guint));
    gsize n = g_variant_n_children(cpumap);

    for (gsize i = 0; i < n; i++) {
        gboolean set;

        g_variant_get_child(cpumap, i, "b", &set);
        if (set && i >= 16384) {
            g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                        "host CPU %" G_GSIZE_FORMAT " is out of range (at most 16383)", i);
            return NULL;
        }
        if (set) {
            guint cpu = (guint)i;

            g_array_append_val(cpus, cpu);
        }
    }
    if (cpus->len == 0) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                    "empty CPU list for pinning: set at least one host CPU in the cpumap");
        return NULL;
    }
    return g_steal_pointer(&cpus);
}

static int
find_tid(const GArray *tids, guint id)
{
    for (guint i = 0; tids != NULL && i < tids->len; i++) {
        if (g_array_index(tids, VbThreadId, i).id == id)
            return g_array_index(tids, VbThreadId, i).tid;
    }
    return -1;
}

/*
 * Sets the affinity of thread @tid to @cpus (from vb_domain_cpus_of_map()); @what names
 * the thread in the error. With @gone_ok a thread that ended meanwhile is no error.
 */
gboolean
vb_domain_set_thread_affinity(int tid, const GArray *cpus, const char *what, gboolean gone_ok,
                              GError **error)
{
    guint max = g_array_index(cpus, guint, cpus->len - 1) + 1;
    cpu_set_t *set = CPU_ALLOC(max);
    size_t size = CPU_ALLOC_SIZE(max);
    int rc, err;

    CPU_ZERO_S(size, set);
    for (guint i = 0; i < cpus->len; i++)
        CPU_SET_S(g_array_index(cpus, guint, i), size, set);
    rc = sched_setaffinity(tid, size, set);
    err = errno;
    CPU_FREE(set);
    if (rc == 0 || (gone_ok && err == ESRCH))
        return TRUE;
    g_set_error(error, VB_ERROR, err == EINVAL ? VB_ERROR_INVALID_ARG : VB_ERROR_FAILED,
                "cannot pin %s (thread %d): %s%s", what, tid, g_strerror(err),
                err == EINVAL ? " (none of these host CPUs is online or allowed here)" : "");
    return FALSE;
}

/**
 * vb_domain_pin:
 * @kind: VB_PIN_VCPU (PinVcpu) or VB_PIN_IOTHREAD (PinIOThread)
 * @id: the vCPU index or iothread id
 * @cpumap: "ab": which host CPUs
 * @flags: VB_MEM_LIVE / VB_MEM_CONFIG (libvirt's AFFECT flags), 0 CURRENT
 *
 * libvirt's virDomainPinVcpuFlags / virDomainPinIOThread: LIVE sets the thread's affinity
 * (sched_setaffinity on the thread id from query-cpus-fast / query-iothreads) and the
 * live <cputune> pin; CONFIG the persistent one. A map of every host CPU removes the pin.
 * Worker thread; modify job.
 */
gboolean
vb_domain_pin(VbDomainList *list, VbDomainObj *dom, VbPinKind kind, guint id,
              GVariant *cpumap, guint flags, const char *owner, GError **error)
{
    const char *method = kind == VB_PIN_VCPU ? "PinVcpu" : "PinIOThread";
    g_autoptr(GArray) cpus = vb_domain_cpus_of_map(cpumap, error);
    g_autofree char *cpuset = NULL;
    g_autofree char *what = NULL;
    gboolean active, ok = TRUE;
    int tid = -1;
    PinEdit edit = { kind, id, NULL };

    if (cpus == NULL)
        return FALSE;
    cpuset = vb_cpuset_format(cpus);
    /* every host CPU: no pin (as libvirt drops a pin to all CPUs) */
    edit.cpuset = cpus->len >= host_cpus() ? NULL : cpuset;
    what = g_strdup_printf(kind == VB_PIN_VCPU ? "vCPU %u" : "iothread %u", id);
    if (!vb_domain_job_begin(dom, VB_JOB_MODIFY, method, owner, list->config->job_wait_timeout,
                             list->config->max_queued, error))
        return FALSE;
    g_mutex_lock(&dom->lock);
    active = dom->id >= 0 && dom->mon != NULL && !dom->stopping;
    if (flags == 0)
        flags = active ? VB_MEM_LIVE : VB_MEM_CONFIG;
    if ((flags & VB_MEM_LIVE) && !active) {
        vb_domain_obj_set_not_running_error(dom, method, error);
        ok = FALSE;
    } else if (flags & VB_MEM_LIVE) {
        tid = find_tid(kind == VB_PIN_VCPU ? dom->vcpu_tids : dom->iothread_tids, id);
        if (tid < 0) {
            g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                        "%s is not online in the running domain", what);
            ok = FALSE;
        }
    }
    g_mutex_unlock(&dom->lock);
    if (ok && (flags & VB_MEM_LIVE)) {
        g_autoptr(VbDomainDef) live = NULL;
        g_autoptr(GError) err = NULL;

        g_mutex_lock(&dom->lock);
        live = edit_pin(dom->def, &edit, error);
        g_mutex_unlock(&dom->lock);
        ok = live != NULL && vb_domain_set_thread_affinity(tid, cpus, what, FALSE, error);
        if (ok) {
            g_mutex_lock(&dom->lock);
            vb_domain_def_free(dom->def);
            dom->def = g_steal_pointer(&live);
            g_mutex_unlock(&dom->lock);
            if (!vb_domain_status_save(list, dom, &err))
                g_warning("%s", err->message);
            VB_LOG_DOMAIN(G_LOG_LEVEL_INFO, dom->uuid_str, "%s pinned to host CPUs %s", what,
                          cpuset);
        }
    }
    if (ok && (flags & VB_MEM_CONFIG))
        ok = vb_domain_edit_persistent(list, dom, edit_pin, &edit, error);
    vb_domain_job_end(dom);
    return ok;
}

/**
 * vb_domain_get_vcpu_pin_info:
 * @flags: VB_MEM_LIVE or VB_MEM_CONFIG (not both), 0 CURRENT
 *
 * libvirt's virDomainGetVcpuPinInfo: for every vCPU up to <vcpu>, its host CPUs (the pin,
 * else <vcpu cpuset>, else all) as a map of the host's CPUs. No job (the definition only).
 *
 * Returns: (transfer full): "aab", or %NULL with @error
 */
GVariant *
vb_domain_get_vcpu_pin_info(VbDomainObj *dom, guint flags, GError **error)
{
    g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&dom->lock);
    gboolean active = dom->id >= 0;
    const VbDomainDef *def;
    const VbDomainResources *r;
    guint n_host = host_cpus();
    GVariantBuilder b;

    if ((flags & VB_MEM_LIVE) && (flags & VB_MEM_CONFIG)) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                    "GetVcpuPinInfo: LIVE and CONFIG exclude each other");
        return NULL;
    }
    if (flags == 0)
        flags = active ? VB_MEM_LIVE : VB_MEM_CONFIG;
    if ((flags & VB_MEM_LIVE) && !active) {
        vb_domain_obj_set_not_running_error(dom, "GetVcpuPinInfo", error);
        return NULL;
    }
    if ((flags & VB_MEM_CONFIG) && active && !dom->persistent) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_STATE,
                    "domain is transient: it has no persistent configuration");
        return NULL;
    }
    def = (flags & VB_MEM_CONFIG) && active && dom->new_def != NULL ? dom->new_def : dom->def;
    r = vb_domain_def_get_resources(def);
    g_variant_builder_init(&b, G_VARIANT_TYPE("aab"));
    for (guint v = 0; v < def->vcpus_max; v++) {
        const GArray *cpus = r->vcpu_cpus;

        for (guint i = 0; i < r->pins->len; i++) {
            const VbPin *p = g_ptr_array_index(r->pins, i);

            if (p->kind == VB_PIN_VCPU && p->id == v)
                cpus = p->cpus;
        }
        g_variant_builder_open(&b, G_VARIANT_TYPE("ab"));
        for (guint c = 0; c < n_host; c++) {
            gboolean set = cpus == NULL;

            for (guint k = 0; cpus != NULL && k < cpus->len && !set; k++)
                set = g_array_index(cpus, guint, k) == c;
            g_variant_builder_add(&b, "b", set);
        }
        g_variant_builder_close(&b);
    }
    return g_variant_ref_sink(g_variant_builder_end(&b));
}

/* ---- SetVcpus ---- */

typedef struct {
    guint n;
    gboolean maximum;
} VcpuEdit;

static VbDomainDef *
edit_vcpus(const VbDomainDef *def, gpointer data, GError **error)
{
    const VcpuEdit *e = data;

    if (e->maximum)
        return vb_domain_def_with_vcpus(def, MIN(def->vcpus_current, e->n), e->n, error);
    if (e->n > def->vcpus_max) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                    "cannot set %u vCPUs: the maximum of the persistent definition is %u; "
                    "raise it first (SetVcpus with MAXIMUM|CONFIG)", e->n, def->vcpus_max);
        return NULL;
    }
    return vb_domain_def_with_vcpus(def, e->n, def->vcpus_max, error);
}

static gint64
jint_or(JsonObject *o, const char *name, gint64 dflt)
{
    gint64 v;

    return jint(o, name, &v) ? v : dflt;
}

/* The vCPU index of a hotpluggable CPU's props, as QEMU numbers possible CPUs. */
static guint
vcpu_index(const VbDomainDef *def, JsonObject *props)
{
    const VbDomainCpuDef *cpu = &vb_domain_def_get_resources(def)->cpu;
    guint64 dies = cpu->has_topology ? cpu->dies : 1;
    guint64 cores = cpu->has_topology ? cpu->cores : 1;
    guint64 threads = cpu->has_topology ? cpu->threads : 1;

    return (guint)(((jint_or(props, "socket-id", 0) * dies + jint_or(props, "die-id", 0)) *
                        cores + jint_or(props, "core-id", 0)) * threads +
                   jint_or(props, "thread-id", 0));
}

/* device_add of vCPU @index from query-hotpluggable-cpus (libvirt's id "vcpuN"). */
static gboolean
plug_vcpu(VbQemuMonitor *mon, const VbDomainDef *def, JsonArray *slots, guint index,
          GError **error)
{
    for (guint i = 0; i < json_array_get_length(slots); i++) {
        JsonNode *e = json_array_get_element(slots, i);
        JsonObject *o = JSON_NODE_HOLDS_OBJECT(e) ? json_node_get_object(e) : NULL;
        JsonObject *props = jobj(o, "props");
        JsonObject *args;
        g_autoptr(JsonNode) r = NULL;
        g_autofree char *id = NULL;
        g_autoptr(GList) members = NULL;

        if (props == NULL || jstr(o, "type") == NULL || vcpu_index(def, props) != index)
            continue;
        if (jstr(o, "qom-path") != NULL) {
            g_set_error(error, VB_ERROR, VB_ERROR_INVALID_STATE,
                        "vCPU %u is plugged already", index);
            return FALSE;
        }
        args = json_object_new();
        id = g_strdup_printf("vcpu%u", index);
        json_object_set_string_member(args, "driver", jstr(o, "type"));
        json_object_set_string_member(args, "id", id);
        members = json_object_get_members(props);
        for (GList *l = members; l != NULL; l = l->next)
            json_object_set_member(args, l->data,
                                   json_node_copy(json_object_get_member(props, l->data)));
        r = vb_qemu_monitor_command(mon, "device_add", args, QMP_TIMEOUT_MS, error);
        return r != NULL;
    }
    g_set_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
                "QEMU lists no hotpluggable slot for vCPU %u (the machine type may not "
                "support CPU hotplug)", index);
    return FALSE;
}

/* After a plug: the vCPU threads again, and their pins (<vcpupin>, else <vcpu cpuset>). */
static void
refresh_vcpu_threads(VbDomainObj *dom, VbQemuMonitor *mon, guint from)
{
    g_autoptr(JsonNode) cpus = vb_qemu_monitor_command(mon, "query-cpus-fast", NULL,
                                                       QMP_TIMEOUT_MS, NULL);
    g_autoptr(GArray) tids = g_array_new(FALSE, FALSE, sizeof(VbThreadId));
    g_autoptr(VbDomainDef) def = NULL;
    JsonArray *a;

    if (cpus == NULL || !JSON_NODE_HOLDS_ARRAY(cpus))
        return;
    a = json_node_get_array(cpus);
    for (guint i = 0; i < json_array_get_length(a); i++) {
        JsonNode *e = json_array_get_element(a, i);
        JsonObject *o = JSON_NODE_HOLDS_OBJECT(e) ? json_node_get_object(e) : NULL;
        VbThreadId t;
        gint64 idx, tid;

        if (!jint(o, "cpu-index", &idx) || !jint(o, "thread-id", &tid))
            continue;
        t.id = (guint)idx;
        t.tid = (int)tid;
        g_array_append_val(tids, t);
    }
    g_mutex_lock(&dom->lock);
    def = vb_domain_def_copy(dom->def);
    g_clear_pointer(&dom->vcpu_tids, g_array_unref);
    dom->vcpu_tids = g_array_ref(tids);
    g_mutex_unlock(&dom->lock);
    if (def == NULL)
        return;
    for (guint i = 0; i < tids->len; i++) {
        const VbThreadId *t = &g_array_index(tids, VbThreadId, i);
        const VbDomainResources *r = vb_domain_def_get_resources(def);
        const GArray *want = r->vcpu_cpus;
        g_autoptr(GError) error = NULL;
        g_autofree char *what = NULL;

        if (t->id < from)
            continue;
        for (guint k = 0; k < r->pins->len; k++) {
            const VbPin *p = g_ptr_array_index(r->pins, k);

            if (p->kind == VB_PIN_VCPU && p->id == t->id)
                want = p->cpus;
        }
        what = g_strdup_printf("vCPU %u", t->id);
        if (want != NULL && want->len > 0 &&
            !vb_domain_set_thread_affinity(t->tid, want, what, FALSE, &error))
            VB_LOG_DOMAIN(G_LOG_LEVEL_WARNING, dom->uuid_str, "%s", error->message);
    }
}

/* The vCPU count after a change in QEMU: the live definition and status file follow. */
static void
set_live_vcpus(VbDomainList *list, VbDomainObj *dom, guint count)
{
    g_autoptr(VbDomainDef) live = NULL;
    g_autoptr(GError) err = NULL;

    g_mutex_lock(&dom->lock);
    live = vb_domain_def_with_vcpus(dom->def, count, dom->def->vcpus_max, &err);
    if (live != NULL) {
        vb_domain_def_free(dom->def);
        dom->def = g_steal_pointer(&live);
    }
    g_mutex_unlock(&dom->lock);
    if (err != NULL) {
        VB_LOG_DOMAIN(G_LOG_LEVEL_WARNING, dom->uuid_str, "%s", err->message);
        g_clear_error(&err);
    }
    if (!vb_domain_status_save(list, dom, &err))
        g_warning("%s", err->message);
}

/* whether QEMU still has vCPU @index (query-hotpluggable-cpus: its slot has a qom-path) */
static gboolean
vcpu_plugged(VbQemuMonitor *mon, const VbDomainDef *def, guint index)
{
    g_autoptr(JsonNode) slots = vb_qemu_monitor_command(mon, "query-hotpluggable-cpus", NULL,
                                                        QMP_TIMEOUT_MS, NULL);
    JsonArray *a;

    if (slots == NULL || !JSON_NODE_HOLDS_ARRAY(slots))
        return TRUE;
    a = json_node_get_array(slots);
    for (guint i = 0; i < json_array_get_length(a); i++) {
        JsonNode *e = json_array_get_element(a, i);
        JsonObject *o = JSON_NODE_HOLDS_OBJECT(e) ? json_node_get_object(e) : NULL;
        JsonObject *props = jobj(o, "props");

        if (props != NULL && vcpu_index(def, props) == index)
            return jstr(o, "qom-path") != NULL;
    }
    return TRUE;
}

/*
 * LIVE, fewer vCPUs (libvirt's qemuDomainSelectHotplugVcpuEntities + HotplugDelVcpu): the
 * highest vCPUs that were plugged as devices (id vcpuN, under /machine/peripheral) are
 * unplugged one by one, each waiting for its DEVICE_DELETED; the boot vCPUs cannot go.
 */
static gboolean
unplug_vcpus(VbDomainList *list, VbDomainObj *dom, VbQemuMonitor *mon,
             const VbDomainDef *def, JsonArray *slots, guint n, GError **error)
{
    g_autoptr(GArray) victims = g_array_new(FALSE, FALSE, sizeof(guint));
    guint cur = def->vcpus_current, left = cur, done = 0;
    gboolean ok = TRUE;

    for (guint v = def->vcpus_max; v-- > 0 && left > n;) {
        g_autofree char *want = g_strdup_printf("/machine/peripheral/vcpu%u", v);

        for (guint i = 0; i < json_array_get_length(slots); i++) {
            JsonNode *e = json_array_get_element(slots, i);
            JsonObject *o = JSON_NODE_HOLDS_OBJECT(e) ? json_node_get_object(e) : NULL;
            JsonObject *props = jobj(o, "props");

            if (props == NULL || vcpu_index(def, props) != v ||
                g_strcmp0(jstr(o, "qom-path"), want) != 0)
                continue;
            g_array_append_val(victims, v);
            left--;
            break;
        }
    }
    if (left != n) {
        g_set_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
                    "failed to find appropriate hotpluggable vcpus to reach the desired "
                    "target vcpu count (%u to %u): only vCPUs plugged while running (vcpuN) "
                    "can be unplugged, not the ones the domain started with", cur, n);
        return FALSE;
    }
    for (guint i = 0; i < victims->len && ok; i++) {
        guint v = g_array_index(victims, guint, i);
        g_autofree char *alias = g_strdup_printf("vcpu%u", v);
        int st = vb_domain_hotplug_unplug_wait(dom, mon, alias, error);

        /* QEMU 7.2 sends DEVICE_DELETED for a vCPU only when its object is finalized,
         * which under TCG may not happen (only its lapic's event comes): the slot that
         * lost its qom-path is the answer too */
        if (st == VB_UNPLUG_WAITING && !vcpu_plugged(mon, def, v))
            st = VB_UNPLUG_DELETED;
        if (st == VB_UNPLUG_DELETED) {
            done++;
            continue;
        }
        ok = FALSE;
        if (st == VB_UNPLUG_WAITING)
            g_set_error(error, VB_ERROR, VB_ERROR_OPERATION_TIMEOUT,
                        "vcpu unplug request timed out. Unplug result must be manually "
                        "inspected in the domain (vCPU %u)", v);
        else if (st == VB_UNPLUG_REJECTED)
            g_set_error(error, VB_ERROR, VB_ERROR_FAILED,
                        "unplug of vCPU %u was rejected by the guest", v);
    }
    if (done > 0) {
        g_mutex_lock(&dom->lock);
        if (dom->vcpus_unplugged_run != dom->run) {
            dom->vcpus_unplugged_run = dom->run;
            dom->vcpus_unplugged = 0;
        }
        dom->vcpus_unplugged += done;
        g_mutex_unlock(&dom->lock);
        set_live_vcpus(list, dom, cur - done);
        refresh_vcpu_threads(dom, mon, G_MAXUINT);
        VB_LOG_DOMAIN(G_LOG_LEVEL_INFO, dom->uuid_str, "%u vCPUs (%u unplugged)", cur - done,
                      done);
    }
    return ok;
}

/**
 * vb_domain_vcpu_deleted:
 * @alias: the DEVICE_DELETED's device (vcpuN)
 *
 * With the job (event worker): a vCPU whose unplug timed out has gone after all: the live
 * vCPU count follows QEMU's (query-hotpluggable-cpus), as libvirt's qemuDomainRemoveVcpu.
 */
void
vb_domain_vcpu_deleted(VbDomainList *list, VbDomainObj *dom, const char *alias)
{
    g_autoptr(VbQemuMonitor) mon = NULL;
    g_autoptr(JsonNode) slots = NULL;
    guint count = 0;

    g_mutex_lock(&dom->lock);
    mon = dom->id >= 0 && dom->mon != NULL ? vb_qemu_monitor_ref(dom->mon) : NULL;
    g_mutex_unlock(&dom->lock);
    if (mon == NULL)
        return;
    slots = vb_qemu_monitor_command(mon, "query-hotpluggable-cpus", NULL, QMP_TIMEOUT_MS,
                                    NULL);
    if (slots == NULL || !JSON_NODE_HOLDS_ARRAY(slots))
        return;
    for (guint i = 0; i < json_array_get_length(json_node_get_array(slots)); i++) {
        JsonNode *e = json_array_get_element(json_node_get_array(slots), i);
        JsonObject *o = JSON_NODE_HOLDS_OBJECT(e) ? json_node_get_object(e) : NULL;

        if (jstr(o, "qom-path") != NULL)
            count++;
    }
    if (count == 0)
        return;
    set_live_vcpus(list, dom, count);
    refresh_vcpu_threads(dom, mon, G_MAXUINT);
    VB_LOG_DOMAIN(G_LOG_LEVEL_INFO, dom->uuid_str, "%s unplugged: %u vCPUs", alias, count);
    vb_domain_list_notify(list, dom, VB_DOMAIN_NOTIFY_CHANGED, NULL, NULL);
}

/* LIVE: plugs vCPUs current..n-1. */
static gboolean
set_vcpus_live(VbDomainList *list, VbDomainObj *dom, VbQemuMonitor *mon, guint n,
               GError **error)
{
    g_autoptr(VbDomainDef) def = NULL;
    g_autoptr(VbDomainDef) live = NULL;
    g_autoptr(JsonNode) slots = NULL;
    g_autoptr(GError) err = NULL;
    guint cur, plugged;
    gboolean ok = TRUE;

    g_mutex_lock(&dom->lock);
    def = vb_domain_def_copy(dom->def);
    g_mutex_unlock(&dom->lock);
    if (def == NULL) {
        g_set_error(error, VB_ERROR, VB_ERROR_FAILED, "cannot copy the definition");
        return FALSE;
    }
    cur = def->vcpus_current;
    if (n > def->vcpus_max) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                    "cannot set %u vCPUs: the running domain has at most %u", n,
                    def->vcpus_max);
        return FALSE;
    }
    if (n == cur)
        return TRUE;
    slots = vb_qemu_monitor_command(mon, "query-hotpluggable-cpus", NULL, QMP_TIMEOUT_MS,
                                    error);
    if (slots == NULL)
        return FALSE;
    if (!JSON_NODE_HOLDS_ARRAY(slots)) {
        g_set_error(error, VB_ERROR, VB_ERROR_FAILED, "query-hotpluggable-cpus gave no list");
        return FALSE;
    }
    if (n < cur)
        return unplug_vcpus(list, dom, mon, def, json_node_get_array(slots), n, error);
    if (def->virt_type == VB_DOMAIN_VIRT_QEMU) {
        guint gone;

        /* QEMU 7.2's TCG keeps the context of an unplugged vCPU: a run can create at
         * most <vcpu> vCPUs in all, and one more aborts QEMU (tcg_register_thread) */
        g_mutex_lock(&dom->lock);
        gone = dom->vcpus_unplugged_run == dom->run ? dom->vcpus_unplugged : 0;
        g_mutex_unlock(&dom->lock);
        if (n + gone > def->vcpus_max) {
            g_set_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
                        "cannot plug vCPUs up to %u: %u were unplugged in this run, and QEMU "
                        "under TCG (domain type 'qemu') cannot create more than %u vCPUs in "
                        "one run; restart the domain", n, gone, def->vcpus_max);
            return FALSE;
        }
    }
    for (plugged = cur; plugged < n && ok; plugged++)
        ok = plug_vcpu(mon, def, json_node_get_array(slots), plugged, error);
    if (!ok)
        plugged--;
    if (plugged == cur)
        return FALSE;
    /* what was plugged stays: the live definition shows it */
    live = vb_domain_def_with_vcpus(def, plugged, def->vcpus_max, &err);
    if (live != NULL) {
        g_mutex_lock(&dom->lock);
        vb_domain_def_free(dom->def);
        dom->def = g_steal_pointer(&live);
        g_mutex_unlock(&dom->lock);
    } else {
        VB_LOG_DOMAIN(G_LOG_LEVEL_WARNING, dom->uuid_str, "%s", err->message);
        g_clear_error(&err);
    }
    refresh_vcpu_threads(dom, mon, cur);
    if (!vb_domain_status_save(list, dom, &err))
        g_warning("%s", err->message);
    VB_LOG_DOMAIN(G_LOG_LEVEL_INFO, dom->uuid_str, "%u vCPUs (%u plugged)", plugged,
                  plugged - cur);
    return ok;
}

/**
 * vb_domain_set_vcpus:
 * @n: the vCPU count
 * @flags: VbVcpuFlags (libvirt's virDomainVcpuFlags; CURRENT 0)
 *
 * libvirt's virDomainSetVcpusFlags: LIVE plugs vCPUs (query-hotpluggable-cpus, device_add
 * of the listed type with id vcpuN) and updates <vcpu current> / <vcpus> of the live
 * definition; fewer vCPUs unplug the highest plugged ones (device_del, DEVICE_DELETED);
 * CONFIG sets the persistent current count; MAXIMUM (CONFIG only) the maximum. GUEST
 * (the agent) is not implemented. Worker thread; modify job.
 */
gboolean
vb_domain_set_vcpus(VbDomainList *list, VbDomainObj *dom, guint n, guint flags,
                    const char *owner, GError **error)
{
    VcpuEdit e = { n, (flags & VB_VCPU_MAXIMUM) != 0 };
    g_autoptr(VbQemuMonitor) mon = NULL;
    gboolean active, ok = TRUE;

    if (n == 0 || n > VB_MAX_VCPUS) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                    "invalid vCPU count %u: give 1 to %u", n, VB_MAX_VCPUS);
        return FALSE;
    }
    if (flags & VB_VCPU_GUEST) {
        /* issue 13, part guest2: libvirt's qemuDomainSetVcpusAgent; GUEST excludes CONFIG
         * and MAXIMUM (virDomainSetVcpusFlags) */
        if (flags & (VB_MEM_CONFIG | VB_VCPU_MAXIMUM)) {
            g_set_error_literal(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                                "SetVcpus: GUEST cannot be combined with CONFIG or MAXIMUM");
            return FALSE;
        }
        return vb_domain_set_vcpus_agent(list, dom, n, owner, error);
    }
    if (!vb_domain_job_begin(dom, VB_JOB_MODIFY, "SetVcpus", owner,
                             list->config->job_wait_timeout, list->config->max_queued, error))
        return FALSE;
    flags &= VB_MEM_LIVE | VB_MEM_CONFIG;
    g_mutex_lock(&dom->lock);
    active = dom->id >= 0 && dom->mon != NULL && !dom->stopping;
    if (flags == 0)
        flags = active ? VB_MEM_LIVE : VB_MEM_CONFIG;
    if ((flags & VB_MEM_LIVE) && !active) {
        vb_domain_obj_set_not_running_error(dom, "SetVcpus", error);
        ok = FALSE;
    } else if ((flags & VB_MEM_LIVE) && e.maximum) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_STATE,
                    "cannot change the maximum vCPU count of a running domain; change the "
                    "persistent definition (CONFIG) and restart it");
        ok = FALSE;
    }
    if (ok && (flags & VB_MEM_LIVE))
        mon = vb_qemu_monitor_ref(dom->mon);
    g_mutex_unlock(&dom->lock);
    if (ok && (flags & VB_MEM_CONFIG))
        ok = vb_domain_edit_persistent(list, dom, edit_vcpus, &e, error);
    if (ok && (flags & VB_MEM_LIVE))
        ok = set_vcpus_live(list, dom, mon, n, error);
    vb_domain_job_end(dom);
    vb_domain_list_notify(list, dom, VB_DOMAIN_NOTIFY_CHANGED, NULL, NULL);
    return ok;
}
