/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * UpdateDevice LIVE of an <interface> (issue 13, part netupd), as libvirt 9.0's
 * qemuDomainChangeNet:
 *
 * - what cannot change on a running NIC is refused first, with libvirt's words (MAC,
 *   model, <driver>, <mtu>, <script>, the tap name, the PCI address, <rom>, <boot>), and
 *   what libvirt would need a full reconnect for ("unable to change config on 'TYPE'
 *   network type": a type change other than between network and bridge, a macvtap's
 *   <source dev/mode>, <virtualport>, <tune>);
 * - a tap of type bridge, or network, moves to another bridge (or the new network's
 *   bridge) keeping its fds and link (libvirt's qemuDomainChangeNetBridge: detach from the
 *   old bridge, attach to the new, back to the old when that fails);
 * - <bandwidth> is set again with the start path's tc code, or cleared when dropped;
 * - <link state> with set_link (qemuDomainChangeNetLinkState);
 * - the live definition gets the new device in place (keeping its <target dev>, PCI
 *   address and alias), the run's record of the host side follows (bridge, type), so the
 *   status file names the new bridge.
 *
 * With the domain's modify job; QEMU and the host are changed without dom->lock.
 *
 * And NIC_RX_FILTER_CHANGED on a macvtap with trustGuestRxFilters='yes'
 * (vb_hotplug_net_rx_sync(), libvirt 9.0's qemuDomainSyncRxFilter): the guest's MAC,
 * multicast table and promiscuous/multicast flags are set on the macvtap.
 */
#include "config.h"

#include <net/if.h>
#include <string.h>

#include "domain-def-hotplug.h"
#include "domain-hotplug-net.h"
#include "domain-hotplug-priv.h"
#include "domain-list-priv.h"
#include "netdev-link.h"
#include "netdev-mcast.h"
#include "netdev-tc.h"
#include "vb-error.h"
#include "vb-log.h"

static const VbRawElem *
child(const VbDeviceDef *dev, const char *name)
{
    GPtrArray *ch = dev->extra.children;

    for (guint i = 0; ch != NULL && i < ch->len; i++) {
        const VbRawElem *raw = g_ptr_array_index(ch, i);

        if (strcmp(raw->name, name) == 0)
            return raw;
    }
    return NULL;
}

static char *
child_attr(const VbDeviceDef *dev, const char *name, const char *attr)
{
    const VbRawElem *raw = child(dev, name);

    return raw != NULL ? vb_raw_elem_get_attr(raw, attr) : NULL;
}

/* whether two kept children differ (absent on both: equal) */
static gboolean
child_differs(const VbDeviceDef *a, const VbDeviceDef *b, const char *name)
{
    const VbRawElem *x = child(a, name), *y = child(b, name);

    if (x == NULL || y == NULL)
        return x != y;
    return strcmp(x->xml, y->xml) != 0;
}

/* an attribute @b gives that differs from @a's (libvirt keeps what the new one leaves out) */
static gboolean
given_attr_differs(const VbDeviceDef *a, const VbDeviceDef *b, const char *name,
                   const char *attr)
{
    g_autofree char *x = child_attr(a, name, attr);
    g_autofree char *y = child_attr(b, name, attr);

    return y != NULL && g_strcmp0(x, y) != 0;
}

/* whether the device XML itself has a <@name> child (not one the parser's defaults add) */
static gboolean
xml_has_child(const char *xml, const char *name)
{
    xmlDoc *doc = xmlReadMemory(xml, (int)strlen(xml), "device.xml", NULL,
                                XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    xmlNode *root = doc != NULL ? xmlDocGetRootElement(doc) : NULL;
    gboolean found = FALSE;

    for (xmlNode *n = root != NULL ? root->children : NULL; n != NULL && !found; n = n->next)
        found = n->type == XML_ELEMENT_NODE && strcmp((const char *)n->name, name) == 0;
    if (doc != NULL)
        xmlFreeDoc(doc);
    return found;
}

static gboolean
is_bridged(const char *type)
{
    return g_strcmp0(type, "network") == 0 || g_strcmp0(type, "bridge") == 0;
}

#define REFUSE(...)                                                                       \
    do {                                                                                  \
        g_set_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED, __VA_ARGS__);                \
        return FALSE;                                                                     \
    } while (0)

/*
 * libvirt's checks of qemuDomainChangeNet, in its order, on what virtbus models. The
 * source (bridge, network) is compared by the caller once the new bridge is known.
 */
static gboolean
check_fixed(const VbDeviceDef *old, const VbDeviceDef *neu, const char *xml,
            const char *ifname, GError **error)
{
    static const char *const handled[] = { "link", "bandwidth", "alias", "target", "address",
                                           "driver", "mtu", "script", "rom", "boot", "tune",
                                           "virtualport", "filterref", "mac", "model",
                                           "source", NULL };
    GPtrArray *sets[] = { old->extra.children, neu->extra.children };
    g_autofree char *tap = NULL;

    if (old->mac != NULL && neu->mac != NULL && g_ascii_strcasecmp(old->mac, neu->mac) != 0)
        REFUSE("cannot change network interface mac address from %s to %s", old->mac,
               neu->mac);
    if (g_strcmp0(old->model, neu->model) != 0)
        REFUSE("cannot modify network device model from %s to %s",
               old->model != NULL ? old->model : "(null)",
               neu->model != NULL ? neu->model : "(null)");
    if (child_differs(old, neu, "driver"))
        REFUSE("cannot modify virtio network device driver attributes");
    if (child_differs(old, neu, "tune"))
        REFUSE("unable to change config on '%s' network type", neu->type);
    if (child_differs(old, neu, "script"))
        REFUSE("cannot modify network device script attribute");
    tap = child_attr(neu, "target", "dev");
    if (tap != NULL && g_strcmp0(tap, ifname) != 0)
        REFUSE("cannot modify network device tap name");
    if (xml_has_child(xml, "address") &&
        (old->addr.type != neu->addr.type || old->addr.domain != neu->addr.domain ||
         old->addr.bus != neu->addr.bus || old->addr.slot != neu->addr.slot ||
         old->addr.function != neu->addr.function)) {
        if (old->addr.type != neu->addr.type)
            REFUSE("cannot modify network device address type");
        REFUSE("cannot modify network device guest PCI address");
    }
    if (given_attr_differs(old, neu, "rom", "bar"))
        REFUSE("cannot modify network device rom bar setting");
    if (given_attr_differs(old, neu, "rom", "file"))
        REFUSE("cannot modify network rom file");
    if (given_attr_differs(old, neu, "boot", "order"))
        REFUSE("cannot modify network device boot index setting");
    if (given_attr_differs(old, neu, "rom", "enabled"))
        REFUSE("cannot modify network device rom enabled setting");
    if (child_differs(old, neu, "mtu"))
        REFUSE("cannot modify MTU");
    if (child_differs(old, neu, "virtualport"))
        REFUSE("unable to change config on '%s' network type", neu->type);
    /* what virtbus does not act on at all while running: named */
    for (guint s = 0; s < G_N_ELEMENTS(sets); s++) {
        for (guint i = 0; sets[s] != NULL && i < sets[s]->len; i++) {
            const VbRawElem *raw = g_ptr_array_index(sets[s], i);

            if (!g_strv_contains(handled, raw->name) && child_differs(old, neu, raw->name))
                REFUSE("cannot change <%s> of a running interface (only the bridge or "
                       "network, <bandwidth>, <link state> and <filterref> change while "
                       "the domain runs)", raw->name);
        }
    }
    return TRUE;
}

/* the source attributes but the bridge of a network (the live XML's) and @skip */
static gboolean
source_differs(const VbDeviceDef *old, const VbDeviceDef *neu, const char *skip)
{
    static const char *const attrs[] = { "network", "bridge", "dev", "mode", "portgroup",
                                         "type", "path", "address", "port", NULL };

    for (guint i = 0; attrs[i] != NULL; i++) {
        if (g_strcmp0(attrs[i], skip) == 0 ||
            (strcmp(attrs[i], "bridge") == 0 && g_strcmp0(old->type, "network") == 0 &&
             g_strcmp0(neu->type, "network") == 0))
            continue;
        if (g_strcmp0(vb_extra_get_attr(&old->source.extra, attrs[i]),
                      vb_extra_get_attr(&neu->source.extra, attrs[i])) != 0)
            return TRUE;
    }
    return FALSE;
}

/* What the run knows of the interface's host side. */
typedef struct {
    char *ifname;
    char *kind;
    char *bridge;
    gboolean ovs;
} HostSide;

static void
host_side_clear(HostSide *h)
{
    g_free(h->ifname);
    g_free(h->kind);
    g_free(h->bridge);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(HostSide, host_side_clear)

static gboolean
host_side(VbDomainObj *dom, const char *alias, HostSide *h)
{
    g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&dom->lock);

    for (guint i = 0; dom->nets != NULL && i < dom->nets->len; i++) {
        const VbQemuNetPrep *p = g_ptr_array_index(dom->nets, i);

        if (g_strcmp0(p->alias, alias) != 0)
            continue;
        h->ifname = g_strdup(p->ifname);
        h->kind = g_strdup(p->kind);
        h->bridge = g_strdup(p->bridge);
        h->ovs = p->ovs;
        return TRUE;
    }
    return FALSE;
}

/*
 * The bridge the new definition's tap belongs on: the network's (through the network
 * driver) or the <source bridge>. NULL with @error.
 */
static char *
new_bridge(VbDomainList *list, const VbDeviceDef *neu, const char *alias, GError **error)
{
    if (g_strcmp0(neu->type, "network") == 0) {
        const char *net = vb_extra_get_attr(&neu->source.extra, "network");
        VbQemuNetPort port = { 0 };

        if (list->net_resolve == NULL) {
            g_set_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
                        "interface %s: virtual networks are not available", alias);
            return NULL;
        }
        if (!list->net_resolve(net, &port, list->net_resolve_data, error)) {
            g_prefix_error(error, "interface %s: ", alias);
            return NULL;
        }
        return port.bridge;
    }
    return g_strdup(vb_extra_get_attr(&neu->source.extra, "bridge"));
}

/* libvirt's qemuDomainChangeNetBridge: the tap leaves @from and joins @to */
static gboolean
change_bridge(VbDomainObj *dom, const char *alias, const char *ifname, const char *from,
              const char *to, GError **error)
{
    g_autoptr(GError) err = NULL;

    if (!vb_netdev_link_exists(to)) {
        g_set_error(error, VB_ERROR, VB_ERROR_FAILED, "bridge %s doesn't exist", to);
        return FALSE;
    }
    if (from != NULL && !vb_netdev_link_set_master(ifname, NULL, &err))
        /* as libvirt: the old bridge may have gone (its network restarted) */
        VB_LOG_DOMAIN(G_LOG_LEVEL_WARNING, dom->uuid_str, "interface %s: unable to detach "
                      "device %s from bridge %s: %s", alias, ifname, from, err->message);
    if (!vb_netdev_link_set_master(ifname, to, error)) {
        g_clear_error(&err);
        if (from != NULL && !vb_netdev_link_set_master(ifname, from, &err))
            VB_LOG_DOMAIN(G_LOG_LEVEL_WARNING, dom->uuid_str, "interface %s: cannot put %s "
                          "back on bridge %s: %s", alias, ifname, from, err->message);
        return FALSE;
    }
    VB_LOG_DOMAIN(G_LOG_LEVEL_INFO, dom->uuid_str, "interface %s: %s moved from bridge %s "
                  "to %s", alias, ifname, from != NULL ? from : "(none)", to);
    return TRUE;
}

/* <bandwidth> of @neu on the host device, or none when it has none */
static gboolean
set_bandwidth(const VbDeviceDef *neu, const char *alias, const HostSide *h, GError **error)
{
    VbQemuNetPrep tmp = { 0 };

    tmp.alias = (char *)alias;
    tmp.ifname = h->ifname;
    tmp.kind = h->kind;
    if (!vb_netdev_bandwidth_clear(h->ifname, error)) {
        g_prefix_error(error, "interface %s: <bandwidth>: ", alias);
        return FALSE;
    }
    return vb_qemu_net_set_bandwidth(neu, &tmp, error);
}

static gboolean
set_link(VbQemuMonitor *mon, const char *alias, gboolean up, GError **error)
{
    g_autoptr(JsonNode) r = NULL;
    JsonObject *args = json_object_new();

    json_object_set_string_member(args, "name", alias);
    json_object_set_boolean_member(args, "up", up);
    r = vb_domain_hotplug_qmp(mon, "set_link", args, error);
    if (r == NULL)
        g_prefix_error(error, "set_link: ");
    return r != NULL;
}

/* Under dom->lock: @neu replaces @alias's device in place; the run's record follows. */
static void
replace_in_place(VbDomainObj *dom, const char *alias, VbDeviceDef *neu, const char *bridge)
{
    VbDeviceDef *cur = vb_domain_def_find_alias(dom->def, alias);
    GPtrArray *devs = dom->def->priv->devices;
    guint n = 0;

    for (guint i = 0; cur != NULL && i < devs->len; i++) {
        VbDeviceDef *d = g_ptr_array_index(devs, i);

        if (d != cur) {
            n += d->kind == VB_DEV_INTERFACE;
            continue;
        }
        /* in place: the order and so the positional names stay */
        vb_domain_def_remove_device(dom->def, cur);
        g_ptr_array_insert(devs, (gint)i, neu);
        neu = NULL;
        vb_domain_def_set_live(dom->def, dom->id);
        for (guint k = 0; dom->nets != NULL && k < dom->nets->len; k++) {
            VbQemuNetPrep *p = g_ptr_array_index(dom->nets, k);

            if (g_strcmp0(p->alias, alias) != 0)
                continue;
            if (bridge != NULL) {
                g_free(p->bridge);
                p->bridge = g_strdup(bridge);
            }
            g_free(p->type);
            p->type = g_strdup(((VbDeviceDef *)g_ptr_array_index(devs, i))->type);
            vb_domain_def_set_interface_live(dom->def, n, p->ifname,
                                             g_strcmp0(p->type, "network") == 0 ? p->bridge
                                                                                 : NULL);
        }
        break;
    }
    if (neu != NULL)
        vb_device_def_free(neu);
}

/**
 * vb_hotplug_net_update:
 * @live: a copy of the live definition (the new device is parsed into it)
 * @old: the interface of @live the new XML matches
 * @run: the run @live was copied from
 *
 * UpdateDevice LIVE of an interface, libvirt's qemuDomainChangeNet (see the file's
 * comment). With the job, no lock.
 */
gboolean
vb_hotplug_net_update(VbDomainList *list, VbDomainObj *dom, VbQemuMonitor *mon,
                      guint64 run, VbDomainDef *live, VbDeviceDef *old, const char *xml,
                      GError **error)
{
    g_autofree char *alias = vb_domain_def_device_alias(live, old);
    g_autofree char *old_state = NULL, *new_state = NULL, *bridge = NULL;
    g_auto(HostSide) h = { 0 };
    VbDeviceDef *was, *neu;
    VbDeviceAddress addr;
    gboolean bridge_change = FALSE, bw_change, link_change, up, ok;

    host_side(dom, alias, &h);
    was = vb_domain_def_steal_device(live, old);
    neu = vb_domain_def_hotplug_parse(live, xml, error);
    if (neu == NULL) {
        vb_device_def_free(was);
        return FALSE;
    }
    /* libvirt keeps the address the new XML leaves out */
    if (!xml_has_child(xml, "address")) {
        addr = neu->addr;
        neu->addr = was->addr;
        was->addr = addr;
    }
    ok = check_fixed(was, neu, xml, h.ifname, error);
    if (ok && g_strcmp0(was->type, neu->type) != 0 &&
        !(is_bridged(was->type) && is_bridged(neu->type))) {
        g_set_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
                    "unable to change config on '%s' network type", neu->type);
        ok = FALSE;
    }
    if (ok && is_bridged(neu->type)) {
        if (source_differs(was, neu, g_strcmp0(neu->type, "network") == 0 ? "network"
                                                                           : "bridge") &&
            g_strcmp0(was->type, neu->type) == 0) {
            g_set_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
                        "unable to change config on '%s' network type", neu->type);
            ok = FALSE;
        } else {
            bridge = new_bridge(list, neu, alias, error);
            ok = bridge != NULL;
            bridge_change = ok && g_strcmp0(bridge, h.bridge) != 0;
            if (bridge_change && (h.ovs || child(neu, "virtualport") != NULL)) {
                /* an Open vSwitch port is not a bridge port: libvirt reconnects */
                g_set_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
                            "unable to change config on '%s' network type", neu->type);
                ok = FALSE;
            }
        }
    } else if (ok && source_differs(was, neu, NULL)) {
        /* a macvtap's <source dev/mode>, ...: libvirt needs a reconnect */
        g_set_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
                    "unable to change config on '%s' network type", neu->type);
        ok = FALSE;
    }
    if (ok && (bridge_change || child_differs(was, neu, "bandwidth")) && h.ifname == NULL) {
        g_set_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
                    "interface %s: <bandwidth> or another bridge needs a host device (a "
                    "tap or macvtap); type '%s' has none", alias, neu->type);
        ok = FALSE;
    }
    old_state = child_attr(was, "link", "state");
    new_state = child_attr(neu, "link", "state");
    up = g_strcmp0(new_state, "down") != 0;
    link_change = (g_strcmp0(old_state, "down") != 0) != up;
    bw_change = child_differs(was, neu, "bandwidth");
    if (ok && child_differs(was, neu, "filterref"))
        VB_LOG_DOMAIN(G_LOG_LEVEL_MESSAGE, dom->uuid_str, "interface %s: <filterref> is "
                      "recorded, not acted on (virtbus has no nwfilter driver)", alias);
    if (!ok) {
        vb_device_def_free(was);
        return FALSE;
    }

    /* libvirt's order: bandwidth, bridge, link; a failed step undoes the bridge move */
    if (bw_change && !set_bandwidth(neu, alias, &h, error))
        goto fail_bw;
    if (bridge_change && !change_bridge(dom, alias, h.ifname, h.bridge, bridge, error))
        goto fail_bw;
    if (link_change && !set_link(mon, alias, up, error)) {
        if (bridge_change)
            change_bridge(dom, alias, h.ifname, bridge, h.bridge, NULL);
        goto fail_bw;
    }
    if (bw_change)
        VB_LOG_DOMAIN(G_LOG_LEVEL_INFO, dom->uuid_str, "interface %s: bandwidth %s on %s",
                      alias, child(neu, "bandwidth") != NULL ? "set" : "cleared", h.ifname);

    neu = vb_domain_def_steal_device(live, neu);
    g_mutex_lock(&dom->lock);
    if (dom->id >= 0 && dom->run == run)
        replace_in_place(dom, alias, neu, bridge_change ? bridge : NULL);
    else
        vb_device_def_free(neu);
    g_mutex_unlock(&dom->lock);
    vb_device_def_free(was);
    VB_LOG_DOMAIN(G_LOG_LEVEL_INFO, dom->uuid_str, "interface %s updated (link %s%s)", alias,
                  up ? "up" : "down", link_change ? "" : ", unchanged");
    return TRUE;

fail_bw:
    if (bw_change) {
        /* back to the old shaping */
        g_autoptr(GError) err = NULL;

        if (!set_bandwidth(was, alias, &h, &err))
            VB_LOG_DOMAIN(G_LOG_LEVEL_WARNING, dom->uuid_str, "interface %s: cannot restore "
                          "its bandwidth: %s", alias, err->message);
    }
    vb_device_def_free(was);
    return FALSE;
}

/* ---- NIC_RX_FILTER_CHANGED (libvirt's syncNicRxFilter*) ---- */

static gboolean
in_list(GPtrArray *list, const char *mac)
{
    for (guint i = 0; list != NULL && i < list->len; i++) {
        if (g_ascii_strcasecmp(g_ptr_array_index(list, i), mac) == 0)
            return TRUE;
    }
    return FALSE;
}

static GPtrArray *
string_array(JsonObject *o, const char *member)
{
    JsonArray *a = json_object_has_member(o, member) ? json_object_get_array_member(o, member)
                                                     : NULL;
    GPtrArray *out = g_ptr_array_new_with_free_func(g_free);

    for (guint i = 0; a != NULL && i < json_array_get_length(a); i++) {
        JsonNode *n = json_array_get_element(a, i);

        if (JSON_NODE_HOLDS_VALUE(n) && json_node_get_value_type(n) == G_TYPE_STRING)
            g_ptr_array_add(out, g_ascii_strdown(json_node_get_string(n), -1));
    }
    return out;
}

static gboolean
member_bool(JsonObject *o, const char *member)
{
    return json_object_get_boolean_member_with_default(o, member, FALSE);
}

#define WARN_IF(cond, ...)                                                                \
    do {                                                                                  \
        if (cond) {                                                                       \
            VB_LOG_DOMAIN(G_LOG_LEVEL_WARNING, uuid, __VA_ARGS__);                        \
            g_clear_error(&err);                                                          \
        }                                                                                 \
    } while (0)

/**
 * vb_hotplug_net_rx_sync:
 * @guest: QEMU's query-rx-filter object of @alias
 *
 * libvirt 9.0's qemuDomainSyncRxFilter for a macvtap @ifname: its MAC becomes the guest's
 * main-mac; the guest's multicast-table MACs missing on the host are added, host ones the
 * guest dropped deleted (SIOCADDMULTI/SIOCDELMULTI); IFF_PROMISC follows "promiscuous" (on
 * while the guest has VLANs); "multicast" all/normal/none (and "multicast-overflow") set
 * IFF_ALLMULTI and IFF_MULTICAST. Failures are logged (as libvirt's warnings). Event
 * worker, with the job.
 */
void
vb_hotplug_net_rx_sync(const char *uuid, const char *alias, const char *ifname,
                       JsonObject *guest)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(GPtrArray) want = string_array(guest, "multicast-table");
    g_autoptr(GPtrArray) have = vb_netdev_mcast_list(ifname, &err);
    JsonArray *vlans = json_object_has_member(guest, "vlan-table")
                           ? json_object_get_array_member(guest, "vlan-table") : NULL;
    const char *mac = json_object_get_string_member_with_default(guest, "main-mac", NULL);
    const char *mode = json_object_get_string_member_with_default(guest, "multicast",
                                                                  "normal");
    gboolean overflow = member_bool(guest, "multicast-overflow");
    gboolean promisc = member_bool(guest, "promiscuous") ||
                       (vlans != NULL && json_array_get_length(vlans) > 0);
    const char *host_mode;
    guint8 bytes[VB_NETDEV_MAC_LEN];
    guint flags = 0;
    VbNetdevLink host;
    guint added = 0, deleted = 0;

    WARN_IF(have == NULL, "interface %s: cannot read the multicast table of %s: %s", alias,
            ifname, err->message);
    if (have == NULL || !vb_netdev_link_lookup(ifname, &host, &err) ||
        !vb_netdev_link_get_flags(ifname, &flags, &err)) {
        WARN_IF(err != NULL, "interface %s: cannot read the rx filter of %s: %s", alias,
                ifname, err->message);
        return;
    }
    /* syncNicRxFilterMacAddr */
    if (mac != NULL && vb_netdev_mac_parse(mac, bytes) &&
        memcmp(host.mac, bytes, VB_NETDEV_MAC_LEN) != 0)
        WARN_IF(!vb_netdev_link_set_mac(ifname, bytes, &err), "interface %s: couldn't set new "
                "MAC address %s to device %s: %s", alias, mac, ifname, err->message);
    /* syncNicRxFilterGuestMulticast / HostMulticast */
    for (guint i = 0; i < want->len; i++) {
        const char *m = g_ptr_array_index(want, i);

        if (in_list(have, m))
            continue;
        if (vb_netdev_mcast_add(ifname, m, &err))
            added++;
        WARN_IF(err != NULL, "interface %s: couldn't add new multicast MAC address %s to "
                "device %s: %s", alias, m, ifname, err->message);
    }
    for (guint i = 0; i < have->len; i++) {
        const char *m = g_ptr_array_index(have, i);

        if (in_list(want, m))
            continue;
        if (vb_netdev_mcast_del(ifname, m, &err))
            deleted++;
        WARN_IF(err != NULL, "interface %s: couldn't delete multicast MAC address %s from "
                "device %s: %s", alias, m, ifname, err->message);
    }
    /* syncNicRxFilterPromiscMode */
    if (((flags & IFF_PROMISC) != 0) != promisc)
        WARN_IF(!vb_netdev_link_set_flag(ifname, IFF_PROMISC, promisc, &err),
                "interface %s: couldn't set PROMISC flag to %s for device %s: %s", alias,
                promisc ? "true" : "false", ifname, err->message);
    /* syncNicRxFilterMultiMode */
    host_mode = (flags & IFF_ALLMULTI) ? "all" : (flags & IFF_MULTICAST) ? "normal" : "none";
    if (strcmp(host_mode, mode) != 0 || (overflow && strcmp(mode, "normal") == 0)) {
        if (strcmp(mode, "all") == 0) {
            WARN_IF(!vb_netdev_link_set_flag(ifname, IFF_ALLMULTI, TRUE, &err),
                    "interface %s: couldn't set allmulticast flag to 'on' for device %s: %s",
                    alias, ifname, err->message);
        } else if (strcmp(mode, "normal") == 0) {
            if (!(overflow && strcmp(host_mode, "all") == 0)) {
                WARN_IF(!vb_netdev_link_set_flag(ifname, IFF_MULTICAST, TRUE, &err),
                        "interface %s: couldn't set multicast flag to 'on' for device %s: %s",
                        alias, ifname, err->message);
                WARN_IF(!vb_netdev_link_set_flag(ifname, IFF_ALLMULTI, overflow, &err),
                        "interface %s: couldn't set allmulticast flag for device %s: %s",
                        alias, ifname, err->message);
            }
        } else {
            WARN_IF(!vb_netdev_link_set_flag(ifname, IFF_ALLMULTI, FALSE, &err),
                    "interface %s: couldn't set allmulticast flag to 'off' for device %s: "
                    "%s", alias, ifname, err->message);
            WARN_IF(!vb_netdev_link_set_flag(ifname, IFF_MULTICAST, FALSE, &err),
                    "interface %s: couldn't set multicast flag to 'off' for device %s: %s",
                    alias, ifname, err->message);
        }
    }
    VB_LOG_DOMAIN(G_LOG_LEVEL_MESSAGE, uuid, "interface %s: guest rx filter: MAC %s set on "
                  "%s (multicast %s, %u added, %u deleted, promiscuous %s)", alias,
                  mac != NULL ? mac : "?", ifname, mode, added, deleted,
                  promisc ? "on" : "off");
}
