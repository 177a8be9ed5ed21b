/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The host side of <interface> before QEMU starts (issue 12, part interfaces), as libvirt
 * 9.0's qemuInterface*Connect: a tap for type='network' (on the running network's bridge,
 * through the resolver), 'bridge' (on an existing host bridge, or an Open vSwitch bridge
 * with <virtualport type='openvswitch'>) and 'ethernet' (no bridge; managed='no' opens an
 * existing tap); a macvtap on <source dev> for 'direct'. The tap's host MAC is the guest's
 * with 0xFE first, its MTU the <mtu size> (or the network's, or the bridge's), <bandwidth>
 * is set with tc, and virtio models get vhost-net fds when /dev/vhost-net exists. Blocking
 * (netlink, tc, ovs-vsctl): worker threads only, no lock held.
 */
#include "config.h"

#include <string.h>
#include <unistd.h>

#include "netdev-ip.h"
#include "netdev-link.h"
#include "netdev-tap.h"
#include "netdev-tc.h"
#include "qemu-command-priv.h"
#include "qemu-net.h"
#include "vb-error.h"
#include "vb-log.h"

#define OVS_TIMEOUT "--timeout=5"

void
vb_qemu_net_prep_close_fds(VbQemuNetPrep *prep)
{
    GArray *sets[] = { prep->tapfds, prep->vhostfds };

    for (guint s = 0; s < G_N_ELEMENTS(sets); s++) {
        for (guint i = 0; sets[s] != NULL && i < sets[s]->len; i++) {
            int fd = g_array_index(sets[s], int, i);

            if (fd >= 0)
                close(fd);
        }
        if (sets[s] != NULL)
            g_array_set_size(sets[s], 0);
    }
}

void
vb_qemu_net_prep_free(VbQemuNetPrep *prep)
{
    if (prep == NULL)
        return;
    vb_qemu_net_prep_close_fds(prep);
    g_free(prep->alias);
    g_free(prep->type);
    g_free(prep->ifname);
    g_free(prep->kind);
    g_free(prep->bridge);
    g_clear_pointer(&prep->tapfds, g_array_unref);
    g_clear_pointer(&prep->vhostfds, g_array_unref);
    g_free(prep->lower);
    g_free(prep->lower_mac);
    g_free(prep);
}

static const VbDeviceDef *
nth_interface(const VbDomainDef *def, guint index)
{
    GPtrArray *devs = def->priv->devices;
    guint n = 0;

    for (guint i = 0; i < devs->len; i++) {
        const VbDeviceDef *dev = g_ptr_array_index(devs, i);

        if (dev->kind == VB_DEV_INTERFACE && n++ == index)
            return dev;
    }
    return NULL;
}

/**
 * vb_qemu_net_count:
 *
 * Returns: how many <interface> @def has
 */
guint
vb_qemu_net_count(const VbDomainDef *def)
{
    guint n = 0;

    while (nth_interface(def, n) != NULL)
        n++;
    return n;
}

static char *
child_attr(const VbDeviceDef *dev, const char *child, const char *attr)
{
    GPtrArray *ch = dev->extra.children;

    for (guint i = 0; ch != NULL && i < ch->len; i++) {
        const VbRawElem *raw = g_ptr_array_index(ch, i);

        if (strcmp(raw->name, child) == 0)
            return vb_raw_elem_get_attr(raw, attr);
    }
    return NULL;
}

static const VbRawElem *
child_raw(const VbDeviceDef *dev, const char *child)
{
    GPtrArray *ch = dev->extra.children;

    for (guint i = 0; ch != NULL && i < ch->len; i++) {
        const VbRawElem *raw = g_ptr_array_index(ch, i);

        if (strcmp(raw->name, child) == 0)
            return raw;
    }
    return NULL;
}

static gboolean
parse_u64(const char *what, const char *s, guint64 *out, GError **error)
{
    if (s == NULL)
        return TRUE;
    if (!g_ascii_string_to_unsigned(s, 10, 0, G_MAXUINT32, out, NULL)) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG, "%s='%s' is not a number", what, s);
        return FALSE;
    }
    return TRUE;
}

/* one <inbound>/<outbound> of <bandwidth>; FALSE with @error */
static gboolean
parse_rate(xmlNode *n, const char *alias, VbNetdevRate *out, GError **error)
{
    g_autofree char *avg = (char *)xmlGetProp(n, (const xmlChar *)"average");
    g_autofree char *peak = (char *)xmlGetProp(n, (const xmlChar *)"peak");
    g_autofree char *burst = (char *)xmlGetProp(n, (const xmlChar *)"burst");
    g_autofree char *floor = (char *)xmlGetProp(n, (const xmlChar *)"floor");

    if (floor != NULL) {
        g_set_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED, "interface %s: <bandwidth><%s "
                    "floor=> is not supported (it needs QoS on a virtual network)", alias,
                    (const char *)n->name);
        return FALSE;
    }
    if (!parse_u64("average", avg, &out->average, error) ||
        !parse_u64("peak", peak, &out->peak, error) ||
        !parse_u64("burst", burst, &out->burst, error))
        return FALSE;
    if (out->average == 0) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG, "interface %s: <bandwidth><%s> "
                    "needs average= above 0", alias, (const char *)n->name);
        return FALSE;
    }
    return TRUE;
}

/**
 * vb_qemu_net_set_bandwidth:
 * @dev: the interface
 * @prep: its host side (@prep->alias, @prep->ifname, @prep->kind are read)
 *
 * <bandwidth> with tc on the host device: a tap transmits what the guest receives
 * (libvirt's "swapped"), a macvtap the other way round. Without <inbound>/<outbound>
 * nothing is done (the start path; an UpdateDevice clears first). Also used by
 * UpdateDevice (issue 13, part netupd).
 */
gboolean
vb_qemu_net_set_bandwidth(const VbDeviceDef *dev, VbQemuNetPrep *prep, GError **error)
{
    const VbRawElem *raw = child_raw(dev, "bandwidth");
    VbNetdevRate in = { 0 }, out = { 0 };
    gboolean has_in = FALSE, has_out = FALSE;
    xmlDoc *doc;
    xmlNode *root;
    gboolean ok = TRUE;

    if (raw == NULL)
        return TRUE;
    doc = vb_raw_elem_parse(raw);
    root = doc != NULL ? xmlDocGetRootElement(doc) : NULL;
    for (xmlNode *n = root != NULL ? root->children : NULL; ok && n != NULL; n = n->next) {
        if (n->type != XML_ELEMENT_NODE)
            continue;
        if (strcmp((const char *)n->name, "inbound") == 0) {
            ok = parse_rate(n, prep->alias, &in, error);
            has_in = TRUE;
        } else if (strcmp((const char *)n->name, "outbound") == 0) {
            ok = parse_rate(n, prep->alias, &out, error);
            has_out = TRUE;
        }
    }
    if (doc != NULL)
        xmlFreeDoc(doc);
    if (!ok || (!has_in && !has_out))
        return ok;
    if (!vb_netdev_bandwidth_set(prep->ifname, has_in ? &in : NULL, has_out ? &out : NULL,
                                 g_strcmp0(prep->kind, "macvtap") != 0, error)) {
        g_prefix_error(error, "interface %s: <bandwidth>: ", prep->alias);
        return FALSE;
    }
    return TRUE;
}

static gboolean
run_ovs(const char *const *argv, GError **error)
{
    g_autofree char *err = NULL;
    int status = 0;

    if (!g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_SEARCH_PATH | G_SPAWN_STDOUT_TO_DEV_NULL,
                      NULL, NULL, NULL, &err, &status, error)) {
        vb_error_convert(error);
        return FALSE;
    }
    if (!g_spawn_check_wait_status(status, NULL)) {
        g_set_error(error, VB_ERROR, VB_ERROR_FAILED, "ovs-vsctl failed: %s",
                    err != NULL ? g_strstrip(err) : "");
        return FALSE;
    }
    return TRUE;
}

static gboolean
ovs_add_port(const VbDomainDef *def, const VbDeviceDef *dev, VbQemuNetPrep *prep,
             GError **error)
{
    g_autofree char *mac = g_strconcat("external-ids:attached-mac=", dev->mac, NULL);
    g_autofree char *iid = NULL;
    char uuid[37];
    g_autofree char *vmid = NULL;
    g_autofree char *given = NULL;
    const VbRawElem *vp = child_raw(dev, "virtualport");

    g_autofree char *ovs = g_find_program_in_path("ovs-vsctl");

    vb_uuid_format(def->uuid, uuid);
    vmid = g_strconcat("external-ids:vm-id=", uuid, NULL);
    if (ovs == NULL) {
        g_set_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED, "interface %s: <virtualport "
                    "type='openvswitch'> needs ovs-vsctl, which is not installed (Debian "
                    "package openvswitch-switch)", prep->alias);
        return FALSE;
    }
    if (vp != NULL) {
        xmlDoc *doc = vb_raw_elem_parse(vp);
        xmlNode *root = doc != NULL ? xmlDocGetRootElement(doc) : NULL;

        for (xmlNode *n = root != NULL ? root->children : NULL; n != NULL; n = n->next) {
            if (n->type == XML_ELEMENT_NODE && strcmp((const char *)n->name, "parameters") == 0)
                given = (char *)xmlGetProp(n, (const xmlChar *)"interfaceid");
        }
        if (doc != NULL)
            xmlFreeDoc(doc);
    }
    iid = g_strconcat("external-ids:iface-id=", given != NULL ? given : uuid,
                      NULL);
    {
        const char *argv[] = { "ovs-vsctl", OVS_TIMEOUT, "--", "--if-exists", "del-port",
                               prep->ifname, "--", "add-port", prep->bridge, prep->ifname,
                               "--", "set", "Interface", prep->ifname, mac, "--", "set",
                               "Interface", prep->ifname, iid, "--", "set", "Interface",
                               prep->ifname, vmid, "--", "set", "Interface", prep->ifname,
                               "external-ids:iface-status=active", NULL };

        if (!run_ovs(argv, error)) {
            g_prefix_error(error, "interface %s: cannot add port '%s' to Open vSwitch bridge "
                           "'%s': ", prep->alias, prep->ifname, prep->bridge);
            return FALSE;
        }
    }
    prep->ovs = TRUE;
    return TRUE;
}

/* libvirt's reserved prefixes: such a name was generated and is generated again */
static gboolean
is_generated_name(const char *name)
{
    return g_str_has_prefix(name, "vnet") || g_str_has_prefix(name, "macvtap") ||
           g_str_has_prefix(name, "macvlan");
}

static gboolean
open_vhost(const VbDeviceDef *dev, VbQemuNetPrep *prep, guint queues, GError **error)
{
    g_autofree char *name = child_attr(dev, "driver", "name");
    g_autoptr(GError) local = NULL;
    const char *model = dev->model != NULL ? dev->model : "rtl8139";
    int *fds;

    if (!g_str_has_prefix(model, "virtio") || g_strcmp0(name, "qemu") == 0)
        return TRUE;
    if (!vb_netdev_vhost_check(&local)) {
        if (g_strcmp0(name, "vhost") != 0)
            return TRUE; /* userspace virtio-net, as libvirt without vhost-net */
        g_set_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED, "interface %s: <driver "
                    "name='vhost'> is not possible on this host: %s (use name='qemu' or "
                    "leave name= out)", prep->alias, local->message);
        return FALSE;
    }
    fds = g_new0(int, queues);
    if (!vb_netdev_vhost_open(queues, fds, error)) {
        g_free(fds);
        g_prefix_error(error, "interface %s: ", prep->alias);
        return FALSE;
    }
    g_array_append_vals(prep->vhostfds, fds, queues);
    g_free(fds);
    return TRUE;
}

static gboolean
make_tap(const VbDomainDef *def, const VbDeviceDef *dev, VbQemuNetPrep *prep, guint queues,
         guint mtu, GError **error)
{
    g_autofree char *target = child_attr(dev, "target", "dev");
    g_autofree char *managed = child_attr(dev, "target", "managed");
    const char *model = dev->model != NULL ? dev->model : "rtl8139";
    VbNetdevTapFlags flags = g_str_has_prefix(model, "virtio") ? VB_NETDEV_TAP_VNET_HDR : 0;
    guint8 mac[VB_NETDEV_MAC_LEN];
    g_autofree int *fds = g_new0(int, queues);

    if (dev->mac == NULL || !vb_netdev_mac_parse(dev->mac, mac)) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG, "interface %s has no MAC address",
                    prep->alias);
        return FALSE;
    }
    if (strcmp(prep->type, "ethernet") == 0 && g_strcmp0(managed, "no") == 0) {
        if (target == NULL) {
            g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG, "interface %s: <target "
                        "managed='no'> needs dev= (the existing tap)", prep->alias);
            return FALSE;
        }
        if (!vb_netdev_tap_open(target, queues, flags, fds, error)) {
            g_prefix_error(error, "interface %s: ", prep->alias);
            return FALSE;
        }
        prep->ifname = g_strdup(target);
        prep->kind = g_strdup("tap");
        prep->managed = FALSE;
        g_array_append_vals(prep->tapfds, fds, queues);
        return TRUE; /* left as the administrator set it up */
    }
    if (g_strcmp0(managed, "no") == 0) {
        g_set_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED, "interface %s: <target "
                    "managed='no'> is only supported with type 'ethernet'", prep->alias);
        return FALSE;
    }
    if (target != NULL && (is_generated_name(target) || strchr(target, '%') != NULL))
        g_clear_pointer(&target, g_free);
    if (!vb_netdev_tap_create(target != NULL ? target : VB_NETDEV_TAP_TEMPLATE, queues, flags,
                              &prep->ifname, fds, error)) {
        g_prefix_error(error, "interface %s: ", prep->alias);
        return FALSE;
    }
    prep->kind = g_strdup("tap");
    prep->managed = TRUE;
    g_array_append_vals(prep->tapfds, fds, queues);
    if (!vb_netdev_tap_set_host_mac(prep->ifname, mac, error))
        goto fail;
    if (prep->bridge != NULL && child_raw(dev, "virtualport") != NULL) {
        if (!vb_netdev_tap_plug(prep->ifname, NULL, mtu, error) ||
            !ovs_add_port(def, dev, prep, error))
            goto fail;
    } else if (!vb_netdev_tap_plug(prep->ifname, prep->bridge, mtu, error)) {
        goto fail;
    }
    return TRUE;
fail:
    g_prefix_error(error, "interface %s: ", prep->alias);
    return FALSE;
}

static gboolean
make_macvtap(const VbDeviceDef *dev, VbQemuNetPrep *prep, guint queues, guint mtu,
             GError **error)
{
    const char *lower = vb_extra_get_attr(&dev->source.extra, "dev");
    const char *mode_str = vb_extra_get_attr(&dev->source.extra, "mode");
    g_autofree char *target = child_attr(dev, "target", "dev");
    int mode = vb_netdev_macvtap_mode_from_string(mode_str != NULL ? mode_str : "vepa");
    const char *model = dev->model != NULL ? dev->model : "rtl8139";
    guint8 mac[VB_NETDEV_MAC_LEN];
    g_autofree int *fds = g_new0(int, queues);
    VbNetdevLink l;

    if (dev->mac == NULL || !vb_netdev_mac_parse(dev->mac, mac)) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG, "interface %s has no MAC address",
                    prep->alias);
        return FALSE;
    }
    if (mode < 0) {
        g_set_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED, "interface %s: <source "
                    "mode='%s'> is not supported", prep->alias, mode_str);
        return FALSE;
    }
    if (!vb_netdev_link_lookup(lower, &l, error)) {
        g_prefix_error(error, "interface %s: <source dev='%s'>: ", prep->alias, lower);
        return FALSE;
    }
    if (mode == VB_NETDEV_MACVTAP_PASSTHROUGH) {
        prep->lower = g_strdup(lower);
        prep->lower_mac = vb_netdev_mac_format(l.mac);
    }
    if (target != NULL && (is_generated_name(target) || strchr(target, '%') != NULL))
        g_clear_pointer(&target, g_free);
    if (!vb_netdev_macvtap_create(target != NULL ? target : VB_NETDEV_MACVTAP_TEMPLATE, lower,
                                  mode, mac, &prep->ifname, error)) {
        g_prefix_error(error, "interface %s: ", prep->alias);
        return FALSE;
    }
    prep->kind = g_strdup("macvtap");
    prep->managed = TRUE;
    if ((mtu > 0 && !vb_netdev_link_set_mtu(prep->ifname, mtu, error)) ||
        !vb_netdev_link_set_up(prep->ifname, TRUE, error) ||
        !vb_netdev_macvtap_open(prep->ifname, queues, g_str_has_prefix(model, "virtio"), fds,
                                error)) {
        g_prefix_error(error, "interface %s: ", prep->alias);
        return FALSE;
    }
    g_array_append_vals(prep->tapfds, fds, queues);
    return TRUE;
}

/* undoes what set_host_ips() added to an existing tap, newest first */
static void
unset_host_ips(const VbQemuNetPrep *prep, GPtrArray *ips, GPtrArray *routes)
{
    for (guint i = routes->len; i > 0; i--) {
        const VbQemuNetRoute *r = g_ptr_array_index(routes, i - 1);
        g_autoptr(GError) err = NULL;

        if (!vb_netdev_route_del(prep->ifname, r->dest, r->gateway, r->metric, &err))
            g_warning("interface %s: %s", prep->alias, err->message);
    }
    for (guint i = ips->len; i > 0; i--) {
        const VbQemuNetIp *ip = g_ptr_array_index(ips, i - 1);
        g_autoptr(GError) err = NULL;

        if (!vb_netdev_addr_del_peer(prep->ifname, ip->address, ip->peer, &err))
            g_warning("interface %s: %s", prep->alias, err->message);
    }
}

/*
 * <source><ip>/<route> of type 'ethernet' on the host's tap, as libvirt 9.0's
 * virNetDevIPInfoAddToDev(): every address (with its peer, else the IPv4 broadcast address),
 * then every route (via its gateway, out of the tap, proto boot, its metric). On a tap the
 * service made they go with the tap (no record needed). On an existing tap (managed='no'),
 * as libvirt, they are added and stay after the domain stops; what is already there counts
 * as done (libvirt fails the next start with "File exists" instead); on failure what this
 * call added is removed again.
 */
static gboolean
set_host_ips(const VbDeviceDef *dev, VbQemuNetPrep *prep, GError **error)
{
    g_autoptr(GPtrArray) ips = NULL;
    g_autoptr(GPtrArray) routes = NULL;
    g_autoptr(GPtrArray) added_ips = g_ptr_array_new();
    g_autoptr(GPtrArray) added_routes = g_ptr_array_new();

    if (!vb_qemu_net_host_ip_parse(dev, prep->alias, &ips, &routes, error))
        return FALSE;
    for (guint i = 0; i < ips->len; i++) {
        VbQemuNetIp *ip = g_ptr_array_index(ips, i);
        g_autoptr(GError) err = NULL;

        if (vb_netdev_addr_add_peer(prep->ifname, ip->address, ip->peer, &err)) {
            g_ptr_array_add(added_ips, ip);
        } else if (prep->managed || !g_error_matches(err, VB_ERROR, VB_ERROR_EXISTS)) {
            g_propagate_prefixed_error(error, g_steal_pointer(&err), "interface %s: <source>"
                                       "<ip>: ", prep->alias);
            goto fail;
        }
    }
    for (guint i = 0; i < routes->len; i++) {
        VbQemuNetRoute *r = g_ptr_array_index(routes, i);
        g_autoptr(GError) err = NULL;

        if (vb_netdev_route_add_metric(prep->ifname, r->dest, r->gateway, r->metric, &err)) {
            g_ptr_array_add(added_routes, r);
        } else if (prep->managed || !g_error_matches(err, VB_ERROR, VB_ERROR_EXISTS)) {
            g_propagate_prefixed_error(error, g_steal_pointer(&err), "interface %s: <source>"
                                       "<route>: ", prep->alias);
            goto fail;
        }
    }
    return TRUE;
fail:
    if (!prep->managed)
        unset_host_ips(prep, added_ips, added_routes);
    return FALSE;
}

/**
 * vb_qemu_net_prepare_one:
 * @def: the definition QEMU will run
 * @index: which <interface> (0 for the first)
 * @resolve: (nullable): looks up a running network for type='network'
 *
 * Does the host side of one interface: what its type needs (see the file's comment) and
 * the fds QEMU gets. Types without host side (user, vhostuser) get a prep without fds.
 *
 * Returns: (transfer full): the prep, or %NULL with @error; on failure nothing is left
 *   behind (vb_qemu_net_release() was done)
 */
VbQemuNetPrep *
vb_qemu_net_prepare_one(const VbDomainDef *def, guint index, VbQemuNetResolveFunc resolve,
                        gpointer resolve_data, GError **error)
{
    const VbDeviceDef *dev = nth_interface(def, index);
    g_autoptr(VbQemuNetPrep) prep = NULL;
    g_autofree char *mtu_str = NULL;
    guint queues;
    guint mtu = 0;
    gboolean ok;

    if (dev == NULL) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG, "no interface #%u", index);
        return NULL;
    }
    queues = vb_qemu_net_queues(dev);
    prep = g_new0(VbQemuNetPrep, 1);
    prep->alias = vb_domain_def_device_alias(def, dev);
    prep->type = g_strdup(dev->type);
    prep->tapfds = g_array_new(FALSE, FALSE, sizeof(int));
    prep->vhostfds = g_array_new(FALSE, FALSE, sizeof(int));
    {
        g_autofree char *state = child_attr(dev, "link", "state");

        prep->link_down = g_strcmp0(state, "down") == 0;
    }
    mtu_str = child_attr(dev, "mtu", "size");
    if (mtu_str != NULL) {
        guint64 v = 0;

        if (!g_ascii_string_to_unsigned(mtu_str, 10, 68, 65535, &v, NULL)) {
            g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG, "interface %s: <mtu size='%s'> "
                        "is not an MTU (68 to 65535)", prep->alias, mtu_str);
            return NULL;
        }
        mtu = (guint)v;
    }
    if (strcmp(dev->type, "network") == 0) {
        const char *net = vb_extra_get_attr(&dev->source.extra, "network");
        VbQemuNetPort port = { 0 };

        if (resolve == NULL) {
            g_set_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED, "interface %s: virtual "
                        "networks are not available", prep->alias);
            return NULL;
        }
        if (!resolve(net, &port, resolve_data, error)) {
            g_prefix_error(error, "interface %s: ", prep->alias);
            return NULL;
        }
        prep->bridge = port.bridge;
        if (mtu == 0)
            mtu = port.mtu;
    } else if (strcmp(dev->type, "bridge") == 0) {
        const char *br = vb_extra_get_attr(&dev->source.extra, "bridge");

        if (!vb_netdev_link_exists(br)) {
            g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG, "interface %s: bridge '%s' "
                        "does not exist on the host", prep->alias, br);
            return NULL;
        }
        prep->bridge = g_strdup(br);
    }
    prep->mtu = mtu;
    if (strcmp(dev->type, "network") == 0 || strcmp(dev->type, "bridge") == 0 ||
        strcmp(dev->type, "ethernet") == 0)
        ok = make_tap(def, dev, prep, queues, mtu, error);
    else if (strcmp(dev->type, "direct") == 0)
        ok = make_macvtap(dev, prep, queues, mtu, error);
    else
        return g_steal_pointer(&prep); /* user, vhostuser: QEMU does it all */
    if (ok)
        ok = vb_qemu_net_set_bandwidth(dev, prep, error) && open_vhost(dev, prep, queues, error);
    /* last, as libvirt sets them last (when the CPUs start) */
    if (ok && strcmp(dev->type, "ethernet") == 0)
        ok = set_host_ips(dev, prep, error);
    if (!ok) {
        vb_qemu_net_release(prep);
        return NULL;
    }
    VB_LOG_DOMAIN(G_LOG_LEVEL_INFO, def->name, "interface %s: %s '%s'%s%s", prep->alias, prep->kind,
           prep->ifname, prep->bridge != NULL ? " on bridge " : "",
           prep->bridge != NULL ? prep->bridge : "");
    return g_steal_pointer(&prep);
}

/**
 * vb_qemu_net_release:
 * @prep: what vb_qemu_net_prepare_one() did (or a record of it from the status XML)
 *
 * Undoes the host side: closes the service's fds (a tap made for QEMU goes with the last
 * of them), deletes a macvtap the service made, removes an Open vSwitch port, restores the
 * MAC of a passthrough macvtap's lower device. A tap opened with managed='no' is left as
 * it is. Failures are logged. Idempotent.
 */
void
vb_qemu_net_release(VbQemuNetPrep *prep)
{
    g_autoptr(GError) error = NULL;

    vb_qemu_net_prep_close_fds(prep);
    if (prep->ifname == NULL)
        return;
    if (prep->ovs) {
        const char *argv[] = { "ovs-vsctl", OVS_TIMEOUT, "--", "--if-exists", "del-port",
                               prep->ifname, NULL };

        if (!run_ovs(argv, &error))
            g_warning("interface %s: cannot remove Open vSwitch port '%s': "
                   "%s", prep->alias, prep->ifname, error->message);
        g_clear_error(&error);
        prep->ovs = FALSE;
    }
    if (prep->managed && g_strcmp0(prep->kind, "macvtap") == 0 &&
        vb_netdev_link_exists(prep->ifname)) {
        VbNetdevLink l;

        if (vb_netdev_link_lookup(prep->ifname, &l, NULL) && strcmp(l.kind, "macvtap") == 0 &&
            !vb_netdev_macvtap_delete(prep->ifname, &error))
            g_warning("interface %s: %s", prep->alias, error->message);
        g_clear_error(&error);
    }
    if (prep->lower != NULL && prep->lower_mac != NULL) {
        guint8 mac[VB_NETDEV_MAC_LEN];

        if (vb_netdev_mac_parse(prep->lower_mac, mac) &&
            !vb_netdev_link_set_mac(prep->lower, mac, &error))
            g_warning("interface %s: cannot restore the MAC of '%s': %s",
                   prep->alias, prep->lower, error->message);
        g_clear_pointer(&prep->lower_mac, g_free);
    }
    prep->managed = FALSE;
}
