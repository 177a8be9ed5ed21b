/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Interfaces of the tap types while running (issue 13, part hotplug, second session), as
 * libvirt 9.0's qemuDomainAttachNetDevice / qemuDomainRemoveNetDevice:
 *
 * - the host side (tap, macvtap, bridge port, shaping) is made by the start path's own
 *   vb_qemu_net_prepare_one(), so a hot-plugged interface and a cold-started one cannot
 *   drift apart;
 * - its fds go to QEMU with QMP "getfd" (SCM_RIGHTS) under libvirt's names
 *   ("tapfd-net10", "vhostfd-net10"), and the builder's -netdev gets those names in "fd",
 *   "fds", "vhostfd", "vhostfds" instead of the numbers a start uses; netdev_add takes
 *   the fds over (QEMU drops the names as it does);
 * - when a later step fails, the names QEMU still holds are closed ("closefd"), and the
 *   host side is released (vb_qemu_net_release(): the tap goes with its last fd);
 * - after DEVICE_DELETED and netdev_del, the prep leaves dom->nets and is released as at
 *   the end of a run.
 */
#include "config.h"

#include <string.h>

#include "domain-def-hotplug.h"
#include "domain-hotplug-net.h"
#include "domain-list-priv.h"
#include "netdev-link.h"
#include "vb-error.h"
#include "vb-log.h"

#define QMP_TIMEOUT_MS 30000

/**
 * vb_hotplug_net_is_tap:
 *
 * Whether the interface gets a host device the service makes (and fds QEMU must get).
 */
gboolean
vb_hotplug_net_is_tap(const VbDeviceDef *dev)
{
    return dev->kind == VB_DEV_INTERFACE &&
           g_strv_contains((const char *const[]){ "network", "bridge", "ethernet", "direct",
                                                  NULL },
                           dev->type != NULL ? dev->type : "");
}

/* which <interface> of @def @dev is, or -1 */
static int
interface_index(const VbDomainDef *def, const VbDeviceDef *dev)
{
    GPtrArray *devs = def->priv->devices;
    int n = 0;

    for (guint i = 0; i < devs->len; i++) {
        const VbDeviceDef *d = g_ptr_array_index(devs, i);

        if (d == dev)
            return n;
        n += d->kind == VB_DEV_INTERFACE;
    }
    return -1;
}

/**
 * vb_hotplug_net_check_mac:
 *
 * An interface of @def other than @dev with the same MAC: refused (two NICs with one
 * MAC on one guest; libvirt finds interfaces by MAC, so the second could never be
 * detached by it).
 */
gboolean
vb_hotplug_net_check_mac(const VbDomainDef *def, const VbDeviceDef *dev, GError **error)
{
    GPtrArray *devs = def->priv->devices;

    if (dev->mac == NULL)
        return TRUE;
    for (guint i = 0; i < devs->len; i++) {
        const VbDeviceDef *d = g_ptr_array_index(devs, i);

        if (d != dev && d->kind == VB_DEV_INTERFACE && d->mac != NULL &&
            g_ascii_strcasecmp(d->mac, dev->mac) == 0) {
            g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                        "the domain already has an interface with MAC address %s", dev->mac);
            return FALSE;
        }
    }
    return TRUE;
}

/**
 * vb_hotplug_net_prepare:
 * @live: the copy of the live definition with @dev in it
 * @out_nets: (out): what the builder's params->nets needs: @dev's prep at its index
 *
 * The host side of @dev, by the start path's code. With the job, no lock.
 *
 * Returns: (transfer full): the prep, or %NULL with @error (nothing left behind)
 */
VbQemuNetPrep *
vb_hotplug_net_prepare(VbDomainList *list, VbDomainDef *live, const VbDeviceDef *dev,
                       GPtrArray **out_nets, GError **error)
{
    int n = interface_index(live, dev);
    VbQemuNetPrep *prep;

    if (n < 0) {
        g_set_error_literal(error, VB_ERROR, VB_ERROR_INTERNAL,
                            "the interface is not in the definition");
        return NULL;
    }
    prep = vb_qemu_net_prepare_one(live, (guint)n, list->net_resolve, list->net_resolve_data,
                                   error);
    if (prep == NULL)
        return NULL;
    *out_nets = g_ptr_array_new();
    g_ptr_array_set_size(*out_nets, n + 1);
    g_ptr_array_index(*out_nets, n) = prep;
    /* the live XML shows the tap (<target dev='vnetN'/>) and a network's bridge */
    vb_domain_def_set_interface_live(live, (guint)n, prep->ifname,
                                     g_strcmp0(prep->type, "network") == 0 ? prep->bridge
                                                                            : NULL);
    return prep;
}

/* "name0:name1" of the fds getfd gave names */
static char *
join_names(GPtrArray *names, guint from, guint count)
{
    GString *s = g_string_new(NULL);

    for (guint i = 0; i < count; i++)
        g_string_append_printf(s, "%s%s", i > 0 ? ":" : "",
                               (const char *)g_ptr_array_index(names, from + i));
    return g_string_free(s, FALSE);
}

static gboolean
getfd(VbQemuMonitor *mon, const char *name, int fd, GError **error)
{
    g_autoptr(JsonNode) r = NULL;
    JsonObject *args = json_object_new();

    json_object_set_string_member(args, "fdname", name);
    r = vb_qemu_monitor_command_with_fd(mon, "getfd", args, fd, QMP_TIMEOUT_MS, error);
    if (r == NULL)
        g_prefix_error(error, "getfd %s: ", name);
    return r != NULL;
}

/**
 * vb_hotplug_net_closefds:
 * @names: (element-type utf8): fd names given with getfd
 *
 * "closefd" of each name QEMU still holds (a netdev_add that took them over makes
 * this fail, which is fine). With the job.
 */
void
vb_hotplug_net_closefds(VbQemuMonitor *mon, GPtrArray *names)
{
    for (guint i = 0; names != NULL && i < names->len; i++) {
        g_autoptr(JsonNode) r = NULL;
        JsonObject *args = json_object_new();

        json_object_set_string_member(args, "fdname", g_ptr_array_index(names, i));
        r = vb_qemu_monitor_command(mon, "closefd", args, QMP_TIMEOUT_MS, NULL);
    }
}

/* sets @key of @o to the names @from..@from+@count when @o has it */
static void
rename_fds(JsonObject *o, const char *single, const char *multi, GPtrArray *names, guint from,
           guint count)
{
    g_autofree char *v = NULL;

    if (count == 0)
        return;
    v = join_names(names, from, count);
    if (json_object_has_member(o, single))
        json_object_set_string_member(o, single, v);
    if (json_object_has_member(o, multi))
        json_object_set_string_member(o, multi, v);
}

/**
 * vb_hotplug_net_pass_fds:
 * @opts: the builder's options of the interface; its -netdev is rewritten to name the fds
 * @out_names: (out) (element-type utf8): the names QEMU got, for vb_hotplug_net_closefds()
 *
 * getfd of every tap and vhost fd of @prep. On failure the names given so far are
 * closed again. With the job, no lock.
 */
gboolean
vb_hotplug_net_pass_fds(VbQemuMonitor *mon, const VbQemuNetPrep *prep, GPtrArray *opts,
                        GPtrArray **out_names, GError **error)
{
    g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
    guint ntap = prep->tapfds != NULL ? prep->tapfds->len : 0;
    guint nvhost = prep->vhostfds != NULL ? prep->vhostfds->len : 0;
    gboolean rewritten = FALSE;

    for (guint i = 0; i < ntap + nvhost; i++) {
        gboolean tap = i < ntap;
        int fd = tap ? g_array_index(prep->tapfds, int, i)
                     : g_array_index(prep->vhostfds, int, i - ntap);
        char *name = g_strdup_printf("%s-%s%u", tap ? "tapfd" : "vhostfd", prep->alias,
                                     tap ? i : i - ntap);

        if (!getfd(mon, name, fd, error)) {
            g_free(name);
            vb_hotplug_net_closefds(mon, names);
            return FALSE;
        }
        g_ptr_array_add(names, name);
    }
    for (guint i = 0; i + 1 < opts->len; i += 2) {
        g_autoptr(JsonNode) node = NULL;
        JsonObject *o;

        if (strcmp(g_ptr_array_index(opts, i), "-netdev") != 0)
            continue;
        node = json_from_string(g_ptr_array_index(opts, i + 1), NULL);
        if (node == NULL || !JSON_NODE_HOLDS_OBJECT(node))
            break;
        o = json_node_get_object(node);
        rename_fds(o, "fd", "fds", names, 0, ntap);
        rename_fds(o, "vhostfd", "vhostfds", names, ntap, nvhost);
        g_free(g_ptr_array_index(opts, i + 1));
        g_ptr_array_index(opts, i + 1) = json_to_string(node, FALSE);
        rewritten = TRUE;
    }
    if (!rewritten && ntap + nvhost > 0) {
        vb_hotplug_net_closefds(mon, names);
        g_set_error_literal(error, VB_ERROR, VB_ERROR_INTERNAL,
                            "the interface's options have no -netdev to give the fds to");
        return FALSE;
    }
    *out_names = g_steal_pointer(&names);
    return TRUE;
}

/**
 * vb_hotplug_net_commit:
 * @def: the live definition with the interface in it
 * @prep: (transfer full): the prep of the interface QEMU now has
 *
 * The service's copies of the fds are closed (QEMU holds its own: the tap lives as long
 * as QEMU's netdev), and @prep joins dom->nets at its interface's place (the status XML
 * records it; the end of the run or its unplug releases it). Under dom->lock.
 */
void
vb_hotplug_net_commit(VbDomainObj *dom, VbQemuNetPrep *prep)
{
    guint at = 0;
    GPtrArray *devs = dom->def->priv->devices;

    vb_qemu_net_prep_close_fds(prep);
    if (dom->nets == NULL)
        dom->nets = g_ptr_array_new_with_free_func((GDestroyNotify)vb_qemu_net_prep_free);
    for (guint i = 0; i < devs->len; i++) {
        const VbDeviceDef *d = g_ptr_array_index(devs, i);
        g_autofree char *alias = NULL;

        if (d->kind != VB_DEV_INTERFACE)
            continue;
        alias = vb_domain_def_device_alias(dom->def, d);
        if (g_strcmp0(alias, prep->alias) == 0)
            break;
        at++;
    }
    g_ptr_array_insert(dom->nets, (gint)MIN(at, dom->nets->len), prep);
}

/**
 * vb_hotplug_net_release:
 *
 * After the unplug (DEVICE_DELETED, netdev_del): the interface @alias's host side is
 * undone as at the end of a run and forgotten. With the job, no lock.
 */
void
vb_hotplug_net_release(VbDomainObj *dom, const char *alias)
{
    VbQemuNetPrep *prep = NULL;

    g_mutex_lock(&dom->lock);
    for (guint i = 0; dom->nets != NULL && i < dom->nets->len; i++) {
        VbQemuNetPrep *p = g_ptr_array_index(dom->nets, i);

        if (g_strcmp0(p->alias, alias) == 0) {
            prep = g_ptr_array_steal_index(dom->nets, i);
            break;
        }
    }
    g_mutex_unlock(&dom->lock);
    if (prep == NULL)
        return;
    if (prep->ifname != NULL)
        VB_LOG_DOMAIN(G_LOG_LEVEL_INFO, dom->uuid_str, "interface %s: releasing %s '%s'",
                      alias, prep->kind != NULL ? prep->kind : "device", prep->ifname);
    vb_qemu_net_release(prep);
    vb_qemu_net_prep_free(prep);
}

/* QEMU's rx filter of @alias (query-rx-filter), with its "main-mac", or NULL */
static JsonObject *
guest_filter(VbQemuMonitor *mon, const char *alias, GError **error)
{
    g_autoptr(JsonNode) r = NULL;
    JsonObject *args = json_object_new();
    JsonArray *a;

    json_object_set_string_member(args, "name", alias);
    r = vb_qemu_monitor_command(mon, "query-rx-filter", args, QMP_TIMEOUT_MS, error);
    if (r == NULL)
        return NULL;
    a = JSON_NODE_HOLDS_ARRAY(r) ? json_node_get_array(r) : NULL;
    for (guint i = 0; a != NULL && i < json_array_get_length(a); i++) {
        JsonNode *n = json_array_get_element(a, i);
        JsonObject *o = JSON_NODE_HOLDS_OBJECT(n) ? json_node_get_object(n) : NULL;

        if (o != NULL && json_object_has_member(o, "main-mac"))
            return json_object_ref(o);
    }
    g_set_error(error, VB_ERROR, VB_ERROR_QEMU, "query-rx-filter gave no MAC for %s", alias);
    return NULL;
}

/**
 * vb_hotplug_net_rx_filter_event:
 *
 * NIC_RX_FILTER_CHANGED, as libvirt 9.0's processNicRxFilterChangedEvent, with the
 * domain's job: on an interface with trustGuestRxFilters='yes' the guest's filter is read
 * (query-rx-filter, which also lets QEMU send the next event) and, on a macvtap (type
 * 'direct'), the guest's MAC, multicast table and promiscuous/multicast flags are set on
 * the host device (libvirt's qemuDomainSyncRxFilter; vb_hotplug_net_rx_sync()). Taps keep their
 * MAC, as in libvirt. Without trust the event is only logged and QEMU sends no more (as
 * libvirt). Event worker.
 *
 * Returns: whether @ev was NIC_RX_FILTER_CHANGED
 */
gboolean
vb_hotplug_net_rx_filter_event(VbDomainList *list, VbDomainObj *dom, const VbDomainEvent *ev)
{
    g_autoptr(VbQemuMonitor) mon = NULL;
    g_autoptr(GError) error = NULL;
    g_autofree char *type = NULL;
    g_autofree char *ifname = NULL;
    g_autoptr(JsonObject) filter = NULL;
    const char *alias;
    const VbDeviceDef *dev;
    gboolean trust = FALSE, current;

    if (g_strcmp0(ev->name, "NIC_RX_FILTER_CHANGED") != 0)
        return FALSE;
    alias = ev->data != NULL && json_object_has_member(ev->data, "name")
                ? json_object_get_string_member(ev->data, "name") : NULL;
    if (alias == NULL)
        return TRUE;
    if (!vb_domain_job_begin_event(dom, "QEMU event NIC_RX_FILTER_CHANGED",
                                   list->config->job_wait_timeout, &error)) {
        VB_LOG_DOMAIN(G_LOG_LEVEL_WARNING, dom->uuid_str, "interface %s: rx filter change "
                      "not handled: %s", alias, error->message);
        return TRUE;
    }
    g_mutex_lock(&dom->lock);
    current = dom->id >= 0 && dom->run == ev->run && dom->mon != NULL;
    dev = current ? vb_domain_def_find_alias(dom->def, alias) : NULL;
    if (dev != NULL && dev->kind == VB_DEV_INTERFACE) {
        trust = g_strcmp0(vb_extra_get_attr(&dev->extra, "trustGuestRxFilters"), "yes") == 0;
        type = g_strdup(dev->type);
        mon = vb_qemu_monitor_ref(dom->mon);
        for (guint i = 0; dom->nets != NULL && i < dom->nets->len; i++) {
            const VbQemuNetPrep *p = g_ptr_array_index(dom->nets, i);

            if (g_strcmp0(p->alias, alias) == 0)
                ifname = g_strdup(p->ifname);
        }
    }
    g_mutex_unlock(&dom->lock);
    if (current && mon == NULL)
        VB_LOG_DOMAIN(G_LOG_LEVEL_WARNING, dom->uuid_str, "NIC_RX_FILTER_CHANGED for %s, "
                      "which is not a network interface of the domain", alias);
    if (mon == NULL)
        goto out;
    if (!trust) {
        /* not asking QEMU keeps it from sending more for this NIC (libvirt's behaviour) */
        VB_LOG_DOMAIN(G_LOG_LEVEL_INFO, dom->uuid_str, "interface %s: guest rx filter "
                      "change ignored (no trustGuestRxFilters='yes')", alias);
        goto out;
    }
    filter = guest_filter(mon, alias, &error);
    if (filter == NULL) {
        VB_LOG_DOMAIN(G_LOG_LEVEL_WARNING, dom->uuid_str, "interface %s: %s", alias,
                      error->message);
        goto out;
    }
    if (g_strcmp0(type, "direct") == 0 && ifname != NULL) {
        /* issue 13, part netupd: MAC, multicast table, promiscuous/allmulti flags */
        vb_hotplug_net_rx_sync(dom->uuid_str, alias, ifname, filter);
    } else {
        VB_LOG_DOMAIN(G_LOG_LEVEL_MESSAGE, dom->uuid_str, "interface %s: guest rx filter: "
                      "MAC %s (a %s interface's tap keeps its own MAC, as libvirt)", alias,
                      json_object_get_string_member(filter, "main-mac"), type);
    }
out:
    vb_domain_job_end(dom);
    return TRUE;
}
