/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Network interfaces: a -netdev backend ("hostnetN") and a -device front end ("netN"), in
 * libvirt 9.0's JSON shapes for QEMU 7.2.
 *
 * Backends: type='user' is QEMU's slirp. type='network', 'bridge', 'ethernet' and 'direct'
 * get a tap (macvtap for 'direct') the start path made (qemu-net-prepare.c), passed to
 * QEMU as fds: {"type":"tap","fd":"N"} or "fds":"N:M" with <driver queues>, with
 * "vhost":true and "vhostfd(s)" when the host has /dev/vhost-net. The fd numbers are
 * VB_QEMU_NET_FD_BASE upwards in interface order, taps first (vb_qemu_net_fd_map()); the
 * golden tests (no params->nets) get the same numbers for one queue each, no vhost.
 * type='vhostuser' is a socket chardev and -netdev vhost-user. Anything else is
 * NotSupported.
 */
#include "config.h"

#include <string.h>

#include "qemu-command-priv.h"
#include "qemu-net.h"
#include "qemu-portfwd.h"
#include "vb-error.h"

static const char *
nic_device_name(const char *model)
{
    static const char *const map[] = {
        "virtio", "virtio-net-pci", "virtio-transitional", "virtio-net-pci-transitional",
        "virtio-non-transitional", "virtio-net-pci-non-transitional", "e1000", "e1000",
        "e1000e", "e1000e", "rtl8139", "rtl8139", "vmxnet3", "vmxnet3", "ne2k_pci", "ne2k_pci",
        "pcnet", "pcnet", "i82559er", "i82559er", "igb", "igb", NULL
    };

    for (guint i = 0; map[i] != NULL; i += 2) {
        if (strcmp(map[i], model) == 0)
            return map[i + 1];
    }
    return NULL;
}

static gboolean
is_virtio(const char *model)
{
    return g_str_has_prefix(model, "virtio");
}

/* the first kept child <name> of an interface */
static const VbRawElem *
net_child(const VbDeviceDef *dev, const char *name)
{
    GPtrArray *ch = dev->extra.children;

    for (guint i = 0; ch != NULL && i < ch->len; i++) {
        const VbRawElem *raw = g_ptr_array_index(ch, i);

        if (strcmp(raw->name, name) == 0)
            return raw;
    }
    return NULL;
}

/* Refuses attributes of a kept child outside @ok, and any element inside it. */
static gboolean
check_child(const VbQemuCmd *c, const VbDeviceDef *dev, const VbRawElem *raw,
            const char *const ok[], GError **error)
{
    xmlDoc *doc;
    xmlNode *root;
    gboolean ret = TRUE;

    if (raw == NULL)
        return TRUE;
    doc = vb_raw_elem_parse(raw);
    root = doc != NULL ? xmlDocGetRootElement(doc) : NULL;
    for (xmlAttr *a = root != NULL ? root->properties : NULL; ret && a != NULL; a = a->next) {
        if (!g_strv_contains(ok, (const char *)a->name))
            ret = vb_qemu_cmd_unsupported(c, error, dev, "<%s %s=> is not supported",
                                          raw->name, (const char *)a->name);
    }
    for (xmlNode *n = root != NULL ? root->children : NULL; ret && n != NULL; n = n->next) {
        if (n->type == XML_ELEMENT_NODE)
            ret = vb_qemu_cmd_unsupported(c, error, dev, "<%s><%s> is not supported",
                                          raw->name, (const char *)n->name);
    }
    if (doc != NULL)
        xmlFreeDoc(doc);
    return ret;
}

/* an unsigned attribute of a kept child; 0 when absent */
static gboolean
child_uint(const VbQemuCmd *c, const VbDeviceDef *dev, const char *child, const char *attr,
           guint max, guint *out, GError **error)
{
    const VbRawElem *raw = net_child(dev, child);
    g_autofree char *v = raw != NULL ? vb_raw_elem_get_attr(raw, attr) : NULL;
    guint64 n = 0;

    *out = 0;
    if (v == NULL)
        return TRUE;
    if (!g_ascii_string_to_unsigned(v, 10, 1, max, &n, NULL))
        return vb_qemu_cmd_unsupported(c, error, dev, "<%s %s='%s'>: expected a number from "
                                       "1 to %u", child, attr, v, max);
    *out = (guint)n;
    return TRUE;
}

/**
 * vb_qemu_net_queues:
 *
 * The queue count of an interface (<driver queues>, 1 when unset).
 */
guint
vb_qemu_net_queues(const VbDeviceDef *dev)
{
    const VbRawElem *raw = net_child(dev, "driver");
    g_autofree char *v = raw != NULL ? vb_raw_elem_get_attr(raw, "queues") : NULL;
    guint64 n = 0;

    if (v == NULL || !g_ascii_string_to_unsigned(v, 10, 1, 256, &n, NULL))
        return 1;
    return (guint)n;
}

/* the fds of interface @n as QEMU numbers them: "3" or "3:4" */
static char *
fd_list(guint first, guint count)
{
    GString *s = g_string_new(NULL);

    for (guint i = 0; i < count; i++)
        g_string_append_printf(s, "%s%u", i > 0 ? ":" : "", first + i);
    return g_string_free(s, FALSE);
}

static const VbQemuNetPrep *
prep_of(const VbQemuCmd *c, guint n)
{
    const GPtrArray *nets = c->params != NULL ? c->params->nets : NULL;

    return nets != NULL && n < nets->len ? g_ptr_array_index((GPtrArray *)nets, n) : NULL;
}

static gboolean
build_tap(VbQemuCmd *c, const VbDeviceDef *dev, guint n, guint *next_fd, GString *j,
          GError **error)
{
    const VbQemuNetPrep *prep = prep_of(c, n);
    guint ntap = vb_qemu_net_queues(dev);
    guint nvhost = 0;
    g_autofree char *taps = NULL;

    if (prep != NULL) {
        ntap = prep->tapfds != NULL ? prep->tapfds->len : 0;
        nvhost = prep->vhostfds != NULL ? prep->vhostfds->len : 0;
    } else if (c->params != NULL && c->params->nets != NULL) {
        return vb_qemu_cmd_unsupported(c, error, dev, "the interface was not prepared");
    }
    if (ntap == 0)
        return vb_qemu_cmd_unsupported(c, error, dev, "the interface has no tap");
    taps = fd_list(*next_fd, ntap);
    *next_fd += ntap;
    vb_json_str(j, "type", "tap");
    vb_json_str(j, ntap > 1 ? "fds" : "fd", taps);
    if (nvhost > 0) {
        g_autofree char *vh = fd_list(*next_fd, nvhost);

        *next_fd += nvhost;
        vb_json_bool(j, "vhost", TRUE);
        vb_json_str(j, nvhost > 1 ? "vhostfds" : "vhostfd", vh);
    }
    return TRUE;
}

/* <source type='unix' path= mode=>: QEMU's end of the vhost-user socket */
static gboolean
build_vhostuser(VbQemuCmd *c, const VbDeviceDef *dev, const char *alias, GString *j,
                GError **error)
{
    static const char *const ok[] = { "type", "path", "mode", NULL };
    const char *type = vb_extra_get_attr(&dev->source.extra, "type");
    const char *path = vb_extra_get_attr(&dev->source.extra, "path");
    const char *mode = vb_extra_get_attr(&dev->source.extra, "mode");
    g_autofree char *esc = NULL;
    guint queues = vb_qemu_net_queues(dev);

    if (!vb_qemu_cmd_check_extra(c, dev, &dev->source.extra, "source", ok, NULL, error))
        return FALSE;
    if (g_strcmp0(type, "unix") != 0 || path == NULL)
        return vb_qemu_cmd_unsupported(c, error, dev, "type 'vhostuser' needs <source "
                                       "type='unix' path=>");
    if (mode != NULL && strcmp(mode, "server") != 0 && strcmp(mode, "client") != 0)
        return vb_qemu_cmd_unsupported(c, error, dev, "<source mode='%s'> is not supported "
                                       "(server or client)", mode);
    if (dev->model == NULL || !is_virtio(dev->model))
        return vb_qemu_cmd_unsupported(c, error, dev, "type 'vhostuser' needs <model "
                                       "type='virtio'>");
    if (!vb_qemu_cmd_memory_is_shared(c))
        return vb_qemu_cmd_unsupported(c, error, dev, "vhost-user needs shared memory: add "
                                       "<memoryBacking><source type='memfd'/><access "
                                       "mode='shared'/></memoryBacking>");
    esc = vb_qemu_cmd_escape(path);
    vb_qemu_cmd_addf(c, "-chardev", "socket,id=char%s,path=%s%s", alias, esc,
                     g_strcmp0(mode, "server") == 0 ? ",server=on" : "");
    vb_json_str(j, "type", "vhost-user");
    {
        g_autofree char *chr = g_strconcat("char", alias, NULL);

        vb_json_str(j, "chardev", chr);
    }
    if (queues > 1)
        vb_json_int(j, "queues", queues);
    return TRUE;
}

/* "key":[{"str":"v"},...]: a QAPI list of String */
static void
json_str_list(GString *j, const char *key, char **values)
{
    g_string_append_printf(j, "%s\"%s\":[", j->len > 1 ? "," : "", key);
    for (guint i = 0; values[i] != NULL; i++) {
        g_autoptr(GString) o = vb_json_new();
        g_autofree char *v = NULL;

        vb_json_str(o, "str", values[i]);
        v = vb_json_end(g_steal_pointer(&o));
        g_string_append_printf(j, "%s%s", i > 0 ? "," : "", v);
    }
    g_string_append_c(j, ']');
}

/*
 * type='user': SLIRP ({"type":"user"} with libvirt's "net"/"ipv6-prefix" from <ip> and
 * "hostfwd" rules from <portForward>), or with <backend type='passt'> a stream netdev on
 * the socket of the passt the start path runs (qemu-helpers.c), as libvirt's
 * qemuPasstAddNetProps().
 */
static gboolean
build_user(VbQemuCmd *c, const VbDeviceDef *dev, const char *alias, GString *j,
           GError **error)
{
    static const char *const passt_src[] = { "dev", NULL };
    g_autoptr(VbQemuUserNet) u = NULL;
    g_autofree char *why = NULL;
    g_auto(GStrv) fwd = NULL;

    u = vb_qemu_user_net_read(dev, &why);
    if (u == NULL)
        return vb_qemu_cmd_unsupported(c, error, dev, "%s", why);
    if (!vb_qemu_cmd_check_extra(c, dev, &dev->source.extra, "source",
                                 u->passt ? passt_src : NULL, NULL, error))
        return FALSE;
    if (u->passt) {
        g_autofree char *sock = vb_qemu_user_net_passt_socket(c->params->runtime_dir, alias);
        g_autoptr(GString) addr = vb_json_new();
        g_autofree char *a = NULL;

        vb_json_str(j, "type", "stream");
        vb_json_str(addr, "type", "unix");
        vb_json_str(addr, "path", sock);
        a = vb_json_end(g_steal_pointer(&addr));
        g_string_append_printf(j, ",\"addr\":%s", a);
        vb_json_bool(j, "server", FALSE);
        return TRUE;
    }
    if (u->log_file != NULL)
        vb_qemu_cmd_ignore(c, dev, NULL, 0, "<backend logFile=> is only used by the passt "
                           "backend");
    fwd = vb_qemu_user_net_hostfwd(u, &why);
    if (fwd == NULL)
        return vb_qemu_cmd_unsupported(c, error, dev, "%s", why);
    vb_json_str(j, "type", "user");
    if (u->ipv4 != NULL) {
        g_autofree char *net = u->prefix4 > 0 ? g_strdup_printf("%s/%u", u->ipv4, u->prefix4)
                                              : g_strdup(u->ipv4);

        vb_json_str(j, "net", net);
    }
    if (u->ipv6 != NULL) {
        vb_json_str(j, "ipv6-prefix", u->ipv6);
        if (u->prefix6 > 0)
            vb_json_int(j, "ipv6-prefixlen", u->prefix6);
    }
    if (fwd[0] != NULL)
        json_str_list(j, "hostfwd", fwd);
    return TRUE;
}

static gboolean
build_netdev(VbQemuCmd *c, const VbDeviceDef *dev, guint n, const char *alias,
             guint *next_fd, GError **error)
{
    g_autoptr(GString) j = vb_json_new();
    g_autofree char *id = g_strconcat("host", alias, NULL);
    const char *t = dev->type;

    if (strcmp(t, "ethernet") != 0 && dev->source.extra.children != NULL) {
        for (guint i = 0; i < dev->source.extra.children->len; i++) {
            const VbRawElem *raw = g_ptr_array_index(dev->source.extra.children, i);

            if (strcmp(raw->name, "ip") == 0 || strcmp(raw->name, "route") == 0)
                return vb_qemu_cmd_unsupported(c, error, dev, "host side <source><%s> is only "
                                               "supported on type 'ethernet' (as libvirt)",
                                               raw->name);
        }
    }
    if (strcmp(t, "user") == 0) {
        if (!build_user(c, dev, alias, j, error))
            return FALSE;
    } else if (strcmp(t, "bridge") == 0) {
        static const char *const ok[] = { "bridge", NULL };

        if (vb_extra_get_attr(&dev->source.extra, "bridge") == NULL)
            return vb_qemu_cmd_unsupported(c, error, dev, "type 'bridge' needs <source "
                                           "bridge=>");
        if (!vb_qemu_cmd_check_extra(c, dev, &dev->source.extra, "source", ok, NULL, error) ||
            !build_tap(c, dev, n, next_fd, j, error))
            return FALSE;
    } else if (strcmp(t, "network") == 0) {
        static const char *const ok[] = { "network", "bridge", "portid", NULL };

        if (vb_extra_get_attr(&dev->source.extra, "network") == NULL)
            return vb_qemu_cmd_unsupported(c, error, dev, "type 'network' needs <source "
                                           "network=>");
        if (!vb_qemu_cmd_check_extra(c, dev, &dev->source.extra, "source", ok, NULL, error) ||
            !build_tap(c, dev, n, next_fd, j, error))
            return FALSE;
    } else if (strcmp(t, "ethernet") == 0) {
        /* <ip>/<route>: the tap's host side addresses and routes (qemu-net-ip.c), set by
         * the start path (qemu-net-prepare.c); checked here for the Unsupported listing */
        static const char *const ok_children[] = { "ip", "route", NULL };
        g_autoptr(GPtrArray) ips = NULL;
        g_autoptr(GPtrArray) routes = NULL;

        if (!vb_qemu_cmd_check_extra(c, dev, &dev->source.extra, "source", NULL, ok_children,
                                     error) ||
            !vb_qemu_net_host_ip_parse(dev, alias, &ips, &routes, error) ||
            !build_tap(c, dev, n, next_fd, j, error))
            return FALSE;
    } else if (strcmp(t, "direct") == 0) {
        static const char *const ok[] = { "dev", "mode", NULL };
        static const char *const modes[] = { "vepa", "private", "bridge", "passthrough", NULL };
        const char *mode = vb_extra_get_attr(&dev->source.extra, "mode");

        if (vb_extra_get_attr(&dev->source.extra, "dev") == NULL)
            return vb_qemu_cmd_unsupported(c, error, dev, "type 'direct' needs <source dev=>");
        if (mode != NULL && !g_strv_contains(modes, mode))
            return vb_qemu_cmd_unsupported(c, error, dev, "<source mode='%s'> is not "
                                           "supported (vepa, private, bridge, passthrough)",
                                           mode);
        if (!vb_qemu_cmd_check_extra(c, dev, &dev->source.extra, "source", ok, NULL, error) ||
            !build_tap(c, dev, n, next_fd, j, error))
            return FALSE;
    } else if (strcmp(t, "vhostuser") == 0) {
        if (!build_vhostuser(c, dev, alias, j, error))
            return FALSE;
    } else {
        return vb_qemu_cmd_unsupported(c, error, dev, "interface type '%s' is not supported "
                                       "(user, network, bridge, ethernet, direct and "
                                       "vhostuser are)", t);
    }
    vb_json_str(j, "id", id);
    vb_qemu_cmd_add_json(c, "-netdev", g_steal_pointer(&j));
    return TRUE;
}

/* Checks the kept children of an interface the builder or the start path act on. */
static gboolean
check_children(VbQemuCmd *c, const VbDeviceDef *dev, const char *model, GError **error)
{
    static const char *const ok_children[] = {
        "boot", "target", "driver", "link", "mtu", "rom", "bandwidth", "filterref",
        "virtualport", "alias", NULL
    };
    /* type 'user' also reads <ip>, <route>, <portForward>, <backend> (qemu-portfwd.c) */
    static const char *const user_children[] = {
        "boot", "target", "driver", "link", "mtu", "rom", "bandwidth", "filterref",
        "virtualport", "alias", "ip", "route", "portForward", "backend", NULL
    };
    static const char *const target_ok[] = { "dev", "managed", NULL };
    static const char *const link_ok[] = { "state", NULL };
    static const char *const mtu_ok[] = { "size", NULL };
    static const char *const rom_ok[] = { "bar", "file", "enabled", NULL };
    static const char *const boot_ok[] = { "order", "loadparm", NULL };
    /* trustGuestRxFilters: read by the NIC_RX_FILTER_CHANGED handler (domain-hotplug-net.c) */
    static const char *const attrs_ok[] = { "trustGuestRxFilters", NULL };
    const char *trust = vb_extra_get_attr(&dev->extra, "trustGuestRxFilters");
    const VbRawElem *raw;
    const char *t = dev->type;
    gboolean tap = g_strv_contains((const char *const[]){ "network", "bridge", "ethernet",
                                                          "direct", NULL }, t);

    if (strcmp(t, "user") != 0 &&
        ((raw = net_child(dev, "ip")) != NULL || (raw = net_child(dev, "route")) != NULL))
        return vb_qemu_cmd_unsupported(c, error, dev, "<%s> in <interface> sets the guest "
                                       "side, which is supported on type 'user' only (the "
                                       "host side of a type 'ethernet' tap is <source><%s>)",
                                       raw->name, raw->name);
    if (trust != NULL && strcmp(trust, "yes") != 0 && strcmp(trust, "no") != 0)
        return vb_qemu_cmd_unsupported(c, error, dev, "trustGuestRxFilters='%s': yes or no",
                                       trust);
    if (!vb_qemu_cmd_check_extra(c, dev, &dev->extra, NULL, attrs_ok,
                                 strcmp(t, "user") == 0 ? user_children : ok_children, error) ||
        !vb_qemu_cmd_net_driver_opts(c, dev, net_child(dev, "driver"), is_virtio(model), NULL,
                                     0, error) ||
        !vb_qemu_cmd_net_driver_opts(c, dev, net_child(dev, "driver"), is_virtio(model), NULL,
                                     1, error) ||
        !check_child(c, dev, net_child(dev, "target"), target_ok, error) ||
        !check_child(c, dev, net_child(dev, "link"), link_ok, error) ||
        !check_child(c, dev, net_child(dev, "mtu"), mtu_ok, error) ||
        !check_child(c, dev, net_child(dev, "rom"), rom_ok, error) ||
        !check_child(c, dev, net_child(dev, "boot"), boot_ok, error))
        return FALSE;
    if ((raw = net_child(dev, "driver")) != NULL) {
        g_autofree char *name = vb_raw_elem_get_attr(raw, "name");
        guint q;

        if (name != NULL && strcmp(name, "qemu") != 0 && strcmp(name, "vhost") != 0)
            return vb_qemu_cmd_unsupported(c, error, dev, "<driver name='%s'> is not "
                                           "supported (qemu or vhost)", name);
        if (name != NULL && strcmp(name, "vhost") == 0 && (!is_virtio(model) || !tap))
            return vb_qemu_cmd_unsupported(c, error, dev, "<driver name='vhost'> needs a "
                                           "virtio model on a tap (network, bridge, "
                                           "ethernet or direct)");
        if (!child_uint(c, dev, "driver", "queues", 256, &q, error))
            return FALSE;
        if (q > 1 && !is_virtio(model))
            return vb_qemu_cmd_unsupported(c, error, dev, "multiqueue (<driver queues='%u'>) "
                                           "needs a virtio model", q);
        if (q > 1 && strcmp(t, "user") == 0)
            return vb_qemu_cmd_unsupported(c, error, dev, "multiqueue (<driver queues='%u'>) "
                                           "is not supported with type 'user'", q);
    }
    if ((raw = net_child(dev, "link")) != NULL) {
        g_autofree char *state = vb_raw_elem_get_attr(raw, "state");

        if (state != NULL && strcmp(state, "up") != 0 && strcmp(state, "down") != 0)
            return vb_qemu_cmd_unsupported(c, error, dev, "<link state='%s'> is not "
                                           "supported (up or down)", state);
    }
    if ((raw = net_child(dev, "virtualport")) != NULL) {
        g_autofree char *vp = vb_raw_elem_get_attr(raw, "type");

        if (strcmp(t, "bridge") != 0 || g_strcmp0(vp, "openvswitch") != 0)
            return vb_qemu_cmd_unsupported(c, error, dev, "<virtualport type='%s'> is not "
                                           "supported (only openvswitch on type 'bridge')",
                                           vp != NULL ? vp : "");
    }
    if (net_child(dev, "bandwidth") != NULL && !tap)
        return vb_qemu_cmd_unsupported(c, error, dev, "<bandwidth> is not supported with "
                                       "type '%s' (it shapes a tap or macvtap)", t);
    if (net_child(dev, "mtu") != NULL && !tap && !is_virtio(model))
        return vb_qemu_cmd_unsupported(c, error, dev, "<mtu> needs a tap or a virtio model");
    if (net_child(dev, "filterref") != NULL)
        vb_qemu_cmd_ignore(c, dev, NULL, 0, "<filterref> (network filter) is not acted on: "
                           "virtbus has no nwfilter driver");
    return TRUE;
}

/* rombar/romfile from <rom bar= file= enabled=>, as libvirt (PCI devices only) */
static gboolean
rom_props(VbQemuCmd *c, GString *j, const VbDeviceDef *dev, GError **error)
{
    const VbRawElem *raw = net_child(dev, "rom");
    g_autofree char *bar = NULL;
    g_autofree char *file = NULL;
    g_autofree char *enabled = NULL;

    if (raw == NULL)
        return TRUE;
    bar = vb_raw_elem_get_attr(raw, "bar");
    file = vb_raw_elem_get_attr(raw, "file");
    enabled = vb_raw_elem_get_attr(raw, "enabled");
    if (bar == NULL && file == NULL && enabled == NULL)
        return TRUE;
    if (dev->addr.type != VB_ADDR_PCI)
        return vb_qemu_cmd_unsupported(c, error, dev, "ROM tuning is only supported for PCI "
                                       "devices");
    if (g_strcmp0(enabled, "no") == 0) {
        vb_json_str(j, "romfile", "");
        return TRUE;
    }
    if (enabled != NULL && strcmp(enabled, "yes") != 0)
        return vb_qemu_cmd_unsupported(c, error, dev, "<rom enabled='%s'>: yes or no", enabled);
    if (bar != NULL && strcmp(bar, "on") != 0 && strcmp(bar, "off") != 0)
        return vb_qemu_cmd_unsupported(c, error, dev, "<rom bar='%s'>: on or off", bar);
    if (bar != NULL)
        vb_json_int(j, "rombar", strcmp(bar, "on") == 0 ? 1 : 0);
    if (file != NULL)
        vb_json_str(j, "romfile", file);
    return TRUE;
}

static gboolean
build_net(VbQemuCmd *c, const VbDeviceDef *dev, guint n, guint *next_fd, GError **error)
{
    g_autofree char *id = vb_domain_def_device_alias(c->def, dev);
    g_autofree char *netdev = g_strconcat("host", id, NULL);
    const char *model = dev->model != NULL ? dev->model : "rtl8139";
    const char *name = nic_device_name(model);
    const VbQemuNetPrep *prep = prep_of(c, n);
    guint mtu = 0;
    guint rxq = 0;
    guint txq = 0;
    GString *j;

    if (!vb_qemu_cmd_check_extra(c, dev, &dev->model_elem.extra, "model", NULL, NULL, error) ||
        !vb_qemu_cmd_check_extra(c, dev, &dev->mac_elem.extra, "mac", NULL, NULL, error))
        return FALSE;
    if (name == NULL)
        return vb_qemu_cmd_unsupported(c, error, dev, "NIC model '%s' is not supported", model);
    if (!check_children(c, dev, model, error) ||
        !child_uint(c, dev, "mtu", "size", 65535, &mtu, error) ||
        !child_uint(c, dev, "driver", "rx_queue_size", 1024, &rxq, error) ||
        !child_uint(c, dev, "driver", "tx_queue_size", 1024, &txq, error))
        return FALSE;
    if ((rxq > 0 || txq > 0) && !is_virtio(model))
        return vb_qemu_cmd_unsupported(c, error, dev, "rx_queue_size/tx_queue_size need a "
                                       "virtio model");
    if (prep != NULL && prep->mtu > 0)
        mtu = prep->mtu;
    if (!vb_qemu_cmd_need_device(c, dev, name, error) ||
        !build_netdev(c, dev, n, id, next_fd, error))
        return FALSE;
    j = vb_json_new();
    vb_json_str(j, "driver", name);
    if (is_virtio(model)) {
        guint queues = vb_qemu_net_queues(dev);

        /* checked by check_children() */
        vb_qemu_cmd_net_driver_opts(c, dev, net_child(dev, "driver"), TRUE, j, 0, NULL);
        if (queues > 1) {
            vb_json_bool(j, "mq", TRUE);
            vb_json_int(j, "vectors", 2 * queues + 2);
        }
        if (rxq > 0)
            vb_json_int(j, "rx_queue_size", rxq);
        if (txq > 0)
            vb_json_int(j, "tx_queue_size", txq);
        vb_qemu_cmd_net_driver_opts(c, dev, net_child(dev, "driver"), TRUE, j, 1, NULL);
        if (mtu > 0)
            vb_json_int(j, "host_mtu", mtu);
    }
    vb_json_str(j, "netdev", netdev);
    vb_json_str(j, "id", id);
    if (dev->mac != NULL)
        vb_json_str(j, "mac", dev->mac);
    vb_qemu_cmd_bootindex(c, j, dev);
    if (!vb_qemu_cmd_pci_props(c, j, dev, error) || !rom_props(c, j, dev, error)) {
        g_string_free(j, TRUE);
        return FALSE;
    }
    return vb_qemu_cmd_add_device(c, dev, j, error);
}

/**
 * vb_qemu_cmd_build_nets:
 * @c: the command being built
 * @error: error
 */
gboolean
vb_qemu_cmd_build_nets(VbQemuCmd *c, GError **error)
{
    GPtrArray *devs = c->def->priv->devices;
    guint n = 0;
    guint next_fd = VB_QEMU_NET_FD_BASE;

    for (guint i = 0; i < devs->len; i++) {
        const VbDeviceDef *dev = g_ptr_array_index(devs, i);

        if (dev->kind != VB_DEV_INTERFACE)
            continue;
        if (!build_net(c, dev, n++, &next_fd, error))
            return FALSE;
    }
    return TRUE;
}

/**
 * vb_qemu_net_fd_map:
 * @preps: (element-type VbQemuNetPrep): one per interface, in order
 * @source_fds: (element-type int): gets the service's fds
 * @target_fds: (element-type int): gets the numbers QEMU sees them at
 *
 * The fds QEMU gets for the interfaces, at the numbers the command line names
 * (VB_QEMU_NET_FD_BASE upwards, per interface its taps then its vhost fds).
 */
void
vb_qemu_net_fd_map(const GPtrArray *preps, GArray *source_fds, GArray *target_fds)
{
    int next = VB_QEMU_NET_FD_BASE;

    for (guint i = 0; preps != NULL && i < preps->len; i++) {
        const VbQemuNetPrep *p = g_ptr_array_index((GPtrArray *)preps, i);
        GArray *sets[] = { p->tapfds, p->vhostfds };

        for (guint s = 0; s < G_N_ELEMENTS(sets); s++) {
            for (guint k = 0; sets[s] != NULL && k < sets[s]->len; k++) {
                g_array_append_val(source_fds, g_array_index(sets[s], int, k));
                g_array_append_val(target_fds, next);
                next++;
            }
        }
    }
}

/**
 * vb_qemu_cmd_build_net_one:
 * @c: a command holding only this device's options (vb_qemu_command_hotplug())
 * @dev: an interface of @c's definition
 * @error: NotSupported for a type whose host side a running domain cannot get yet
 *
 * The -netdev and -device of one interface, as at start (issue 13, part hotplug). Types
 * with a tap (network, bridge, ethernet, direct) need their prep in @c->params->nets (at
 * the interface's index); the fd numbers written are replaced by getfd names by the
 * caller (domain-hotplug-net.c).
 */
gboolean
vb_qemu_cmd_build_net_one(VbQemuCmd *c, const VbDeviceDef *dev, GError **error)
{
    static const char *const ok[] = { "user", "network", "bridge", "ethernet", "direct", NULL };
    GPtrArray *devs = c->def->priv->devices;
    guint n = 0;
    guint next_fd = VB_QEMU_NET_FD_BASE;

    if (!g_strv_contains(ok, dev->type != NULL ? dev->type : ""))
        return vb_qemu_cmd_unsupported(c, error, dev, "attaching <interface type='%s'> to a "
                                       "running domain is not supported (user, network, "
                                       "bridge, ethernet and direct are)",
                                       dev->type != NULL ? dev->type : "");
    if (strcmp(dev->type, "user") != 0 && (c->params == NULL || c->params->nets == NULL))
        return vb_qemu_cmd_unsupported(c, error, dev, "the interface's host side was not "
                                       "prepared");
    for (guint i = 0; i < devs->len && g_ptr_array_index(devs, i) != dev; i++)
        n += ((const VbDeviceDef *)g_ptr_array_index(devs, i))->kind == VB_DEV_INTERFACE;
    return build_net(c, dev, n, &next_fd, error);
}
