/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Devices while running (issue 13, part hotplug): the events and the reconnect.
 *
 * - vb_domain_hotplug_wake() runs on the monitor thread and wakes a Detach waiting for
 *   DEVICE_DELETED / DEVICE_UNPLUG_GUEST_ERROR of its device.
 * - vb_domain_hotplug_event() runs in the event worker with the domain's job: a late
 *   DEVICE_DELETED finishes the removal (vb_domain_hotplug_finish_removal()), as do
 *   those of vCPUs and dimms (their own modules), NIC_RX_FILTER_CHANGED.
 * - vb_domain_hotplug_reconnect(), after a service restart: devices of the live
 *   definition QEMU no longer has are removed with their backends (libvirt's
 *   qemuProcessUpdateDevices).
 */
#include "config.h"

#include <string.h>

#include "domain-def-hotplug.h"
#include "domain-hotplug-net.h"
#include "domain-hotplug-priv.h"
#include "domain-hotplug.h"
#include "domain-list-priv.h"
#include "domain-memdev.h"
#include "domain-memev.h"
#include "vb-error.h"
#include "vb-log.h"

/* ---- events ---- */

static const char *
event_device(const VbDomainEvent *ev)
{
    if (ev->data == NULL || !json_object_has_member(ev->data, "device"))
        return NULL;
    return json_object_get_string_member(ev->data, "device");
}

/**
 * vb_domain_hotplug_wake:
 *
 * Wakes a DetachDevice waiting for this DEVICE_DELETED or DEVICE_UNPLUG_GUEST_ERROR as
 * soon as the monitor thread has it, before events queued ahead of it are handled (they
 * may wait for the job the waiting call holds). Any thread; takes dom->lock only.
 */
void
vb_domain_hotplug_wake(VbDomainObj *dom, const VbDomainEvent *ev)
{
    gboolean deleted = g_strcmp0(ev->name, "DEVICE_DELETED") == 0;
    const char *alias;

    if (!deleted && g_strcmp0(ev->name, "DEVICE_UNPLUG_GUEST_ERROR") != 0)
        return;
    alias = event_device(ev);
    if (alias == NULL)
        return;
    g_mutex_lock(&dom->lock);
    if (dom->run == ev->run && g_strcmp0(dom->unplug_alias, alias) == 0 &&
        dom->unplug_status == VB_UNPLUG_WAITING) {
        dom->unplug_status = deleted ? VB_UNPLUG_DELETED : VB_UNPLUG_REJECTED;
        g_cond_broadcast(&dom->cond);
    }
    g_mutex_unlock(&dom->lock);
}

/**
 * vb_domain_hotplug_event:
 *
 * DEVICE_DELETED: wakes the DetachDevice waiting for it, or (no one waits) takes the job
 * and finishes the removal. DEVICE_UNPLUG_GUEST_ERROR: the waiting call fails, and
 * DeviceRemovalFailed is sent. Event worker.
 *
 * Returns: whether @ev was one of these
 */
gboolean
vb_domain_hotplug_event(VbDomainList *list, VbDomainObj *dom, const VbDomainEvent *ev)
{
    gboolean deleted = g_strcmp0(ev->name, "DEVICE_DELETED") == 0;
    gboolean rejected = g_strcmp0(ev->name, "DEVICE_UNPLUG_GUEST_ERROR") == 0;
    const char *alias = event_device(ev);
    gboolean waited;
    g_autoptr(GError) error = NULL;

    if (vb_hotplug_net_rx_filter_event(list, dom, ev))
        return TRUE; /* NIC_RX_FILTER_CHANGED (domain-hotplug-net.c) */
    if (!deleted && !rejected)
        return FALSE;
    if (alias == NULL || *alias == '\0')
        return TRUE; /* a device without id (a virtio backend) */
    vb_domain_hotplug_wake(dom, ev);
    g_mutex_lock(&dom->lock);
    waited = dom->run == ev->run && g_strcmp0(dom->unplug_alias, alias) == 0;
    g_mutex_unlock(&dom->lock);
    VB_LOG_DOMAIN(G_LOG_LEVEL_INFO, dom->uuid_str, "QEMU event %s for %s", ev->name, alias);
    if (rejected) {
        vb_domain_list_notify(list, dom, VB_DOMAIN_NOTIFY_CHANGED,
                              VB_DOMAIN_DEVICE_REMOVAL_FAILED_EVENT, alias);
        return TRUE;
    }
    if (waited)
        return TRUE;
    if (!vb_domain_job_begin_event(dom, "QEMU event DEVICE_DELETED",
                                   list->config->job_wait_timeout, &error)) {
        VB_LOG_DOMAIN(G_LOG_LEVEL_WARNING, dom->uuid_str,
                      "device %s: cannot finish its removal: %s", alias, error->message);
        return TRUE;
    }
    g_mutex_lock(&dom->lock);
    waited = dom->id >= 0 && dom->run == ev->run;
    g_mutex_unlock(&dom->lock);
    if (waited && g_str_has_prefix(alias, "vcpu"))
        vb_domain_vcpu_deleted(list, dom, alias);
    else if (waited && g_str_has_prefix(alias, "dimm") &&
             vb_domain_memdev_deleted(list, dom, alias))
        ;
    else if (waited)
        vb_domain_hotplug_finish_removal(list, dom, alias);
    vb_domain_job_end(dom);
    return TRUE;
}

/* the devices QEMU has under /machine/peripheral (qom-list), or NULL */
static GHashTable *
peripherals(VbQemuMonitor *mon, GError **error)
{
    g_autoptr(JsonNode) r = NULL;
    GHashTable *names;
    JsonObject *args = json_object_new();
    JsonArray *a;

    json_object_set_string_member(args, "path", "/machine/peripheral");
    r = vb_domain_hotplug_qmp(mon, "qom-list", args, error);
    if (r == NULL)
        return NULL;
    if (!JSON_NODE_HOLDS_ARRAY(r)) {
        g_set_error_literal(error, VB_ERROR, VB_ERROR_QEMU, "qom-list did not return a list");
        return NULL;
    }
    a = json_node_get_array(r);
    names = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    for (guint i = 0; i < json_array_get_length(a); i++) {
        JsonNode *n = json_array_get_element(a, i);
        JsonObject *o = JSON_NODE_HOLDS_OBJECT(n) ? json_node_get_object(n) : NULL;

        if (o != NULL && json_object_has_member(o, "name"))
            g_hash_table_add(names, g_strdup(json_object_get_string_member(o, "name")));
    }
    return names;
}

/* Under dom->lock: whether QEMU lists @dev under /machine/peripheral when it has it (the
 * devices that can be unplugged: their -device carries the alias as id). */
static gboolean
is_unpluggable(const VbDeviceDef *dev)
{
    return vb_domain_hotplug_check_detachable(dev, NULL);
}

/**
 * vb_domain_hotplug_reconnect:
 *
 * After the service took a running QEMU back: devices of the live definition that QEMU
 * no longer has (their DEVICE_DELETED came while the service was down) leave the live
 * definition with their backends (a disk's block nodes, a NIC's netdev, an rng's
 * object, a channel's chardev), with DeviceRemoved (libvirt's qemuProcessUpdateDevices
 * and qemuDomainRemoveDevice). Failures are logged. Before the domain is published, or
 * with the job; dom->lock is not held across QMP.
 */
void
vb_domain_hotplug_reconnect(VbDomainList *list, VbDomainObj *dom)
{
    g_autoptr(VbQemuMonitor) mon = NULL;
    g_autoptr(GHashTable) have = NULL;
    g_autoptr(GError) error = NULL;
    g_autoptr(GPtrArray) gone = g_ptr_array_new_with_free_func(g_free);

    g_mutex_lock(&dom->lock);
    mon = dom->mon != NULL ? vb_qemu_monitor_ref(dom->mon) : NULL;
    g_mutex_unlock(&dom->lock);
    if (mon == NULL)
        return;
    have = peripherals(mon, &error);
    if (have == NULL) {
        VB_LOG_DOMAIN(G_LOG_LEVEL_WARNING, dom->uuid_str, "cannot list QEMU's devices: %s",
                      error->message);
        return;
    }
    g_mutex_lock(&dom->lock);
    for (guint i = 0; i < dom->def->priv->devices->len; i++) {
        VbDeviceDef *dev = g_ptr_array_index(dom->def->priv->devices, i);
        g_autofree char *alias = NULL;

        if (!is_unpluggable(dev))
            continue;
        alias = vb_domain_def_device_alias(dom->def, dev);
        if (alias == NULL || g_hash_table_contains(have, alias))
            continue;
        g_ptr_array_add(gone, g_steal_pointer(&alias));
    }
    g_mutex_unlock(&dom->lock);
    for (guint i = 0; i < gone->len; i++) {
        VB_LOG_DOMAIN(G_LOG_LEVEL_MESSAGE, dom->uuid_str,
                      "device %s was unplugged while the service was down",
                      (const char *)g_ptr_array_index(gone, i));
        vb_domain_hotplug_finish_removal(list, dom, g_ptr_array_index(gone, i));
    }
}

/* "closefd" of the fd names an interrupted attach of @alias gave QEMU (getfd) */
static void
close_fd_names(VbQemuMonitor *mon, const char *alias)
{
    static const char *const prefixes[] = { "tapfd", "vhostfd" };

    for (guint p = 0; p < G_N_ELEMENTS(prefixes); p++) {
        for (guint i = 0; i < 256; i++) {
            g_autoptr(JsonNode) r = NULL;
            JsonObject *args = json_object_new();
            g_autofree char *name = g_strdup_printf("%s-%s%u", prefixes[p], alias, i);

            json_object_set_string_member(args, "fdname", name);
            r = vb_domain_hotplug_qmp(mon, "closefd", args, NULL);
            if (r == NULL)
                break;
        }
    }
}

/**
 * vb_domain_hotplug_reconnect_pending:
 * @alias: the device an AttachDevice was sending to QEMU when the service ended (the
 *   status file's <hotplug pending='attach' alias=>); its live definition has it
 *
 * Issue 13, part netupd: when QEMU has the device (under /machine/peripheral), it is
 * adopted: it stays in the live definition and DeviceAdded is emitted. Else it leaves the
 * live definition with what QEMU has of it (block nodes, netdev, chardev, object, fd
 * names) and its host side (tap, macvtap), without DeviceRemoved (it was never seen).
 * Before the domain is published; dom->lock is not held across QMP.
 */
void
vb_domain_hotplug_reconnect_pending(VbDomainList *list, VbDomainObj *dom, const char *alias)
{
    g_autoptr(VbQemuMonitor) mon = NULL;
    g_autoptr(GHashTable) have = NULL;
    g_autoptr(GError) error = NULL;
    const VbDeviceDef *dev;
    gboolean net;

    g_mutex_lock(&dom->lock);
    mon = dom->mon != NULL ? vb_qemu_monitor_ref(dom->mon) : NULL;
    g_mutex_unlock(&dom->lock);
    if (mon == NULL || alias == NULL)
        return;
    have = peripherals(mon, &error);
    if (have == NULL) {
        VB_LOG_DOMAIN(G_LOG_LEVEL_WARNING, dom->uuid_str, "cannot list QEMU's devices to "
                      "finish the attach of %s: %s", alias, error->message);
        return;
    }
    if (g_hash_table_contains(have, alias)) {
        VB_LOG_DOMAIN(G_LOG_LEVEL_MESSAGE, dom->uuid_str, "device %s was being attached when "
                      "the service stopped; QEMU has it: adopted", alias);
        vb_domain_list_notify(list, dom, VB_DOMAIN_NOTIFY_CHANGED,
                              VB_DOMAIN_DEVICE_ADDED_EVENT, alias);
        return;
    }
    VB_LOG_DOMAIN(G_LOG_LEVEL_MESSAGE, dom->uuid_str, "device %s was being attached when the "
                  "service stopped; QEMU does not have it: its backends are removed", alias);
    g_mutex_lock(&dom->lock);
    dev = vb_domain_def_find_alias(dom->def, alias);
    net = dev != NULL && dev->kind == VB_DEV_INTERFACE;
    g_mutex_unlock(&dom->lock);
    vb_domain_hotplug_remove_device(list, dom, alias, FALSE);
    if (net)
        close_fd_names(mon, alias);
}
