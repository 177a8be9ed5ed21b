/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Serial ports, consoles and channels: a -chardev backend ("charserial0", "charchannel0",
 * "charconsole0") and a front end (isa-serial, virtserialport, virtconsole), in libvirt's
 * order: serials, channels, consoles.
 */
#include "config.h"

#include <string.h>

#include <libxml/tree.h>

#include "qemu-command-priv.h"
#include "qemu-hotplug.h"
#include "vb-error.h"

/* spicevmc and spiceport chardevs are channels of the SPICE server: QEMU needs -spice */
static gboolean
need_spice(const VbQemuCmd *c, const VbDeviceDef *dev, const char *type, GError **error)
{
    GPtrArray *devs = c->def->priv->devices;

    for (guint i = 0; i < devs->len; i++) {
        const VbDeviceDef *d = g_ptr_array_index(devs, i);

        if (d->kind == VB_DEV_GRAPHICS && strcmp(d->type, "spice") == 0)
            return TRUE;
    }
    return vb_qemu_cmd_unsupported(c, error, dev, "a %s chardev needs a <graphics "
                                   "type='spice'>", type);
}

/* the attributes of an element, name -> value */
static GHashTable *
attrs_of(xmlNode *node)
{
    GHashTable *h = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);

    for (xmlAttr *a = node->properties; a != NULL; a = a->next) {
        if (a->ns == NULL)
            g_hash_table_insert(h, g_strdup((const char *)a->name), vb_xml_prop(node,
                                (const char *)a->name));
    }
    return h;
}

/*
 * The <source> elements (as attribute tables) and <protocol type> of a modelled chardev
 * (its first <source> is modelled, a second one kept) or, with @root, of a kept device.
 */
static void
collect_sources(const VbDeviceDef *dev, xmlNode *root, GPtrArray *sources, char **protocol)
{
    if (root != NULL) {
        for (xmlNode *ch = root->children; ch != NULL; ch = ch->next) {
            if (vb_xml_is(ch, "source"))
                g_ptr_array_add(sources, attrs_of(ch));
            else if (vb_xml_is(ch, "protocol") && *protocol == NULL)
                *protocol = vb_xml_prop(ch, "type");
        }
        return;
    }
    if (dev->source.present) {
        GHashTable *h = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
        GPtrArray *a = dev->source.extra.attrs;

        for (guint i = 0; a != NULL && i + 1 < a->len; i += 2)
            g_hash_table_insert(h, g_strdup(a->pdata[i]), g_strdup(a->pdata[i + 1]));
        if (dev->source_path != NULL)
            g_hash_table_insert(h, g_strdup("path"), g_strdup(dev->source_path));
        g_ptr_array_add(sources, h);
    }
    for (guint i = 0; dev->extra.children != NULL && i < dev->extra.children->len; i++) {
        const VbRawElem *raw = g_ptr_array_index(dev->extra.children, i);
        xmlDoc *doc;

        if (strcmp(raw->name, "source") != 0 && strcmp(raw->name, "protocol") != 0)
            continue;
        if ((doc = vb_raw_elem_parse(raw)) == NULL)
            continue;
        if (strcmp(raw->name, "source") == 0)
            g_ptr_array_add(sources, attrs_of(xmlDocGetRootElement(doc)));
        else if (*protocol == NULL)
            *protocol = vb_xml_prop(xmlDocGetRootElement(doc), "type");
        xmlFreeDoc(doc);
    }
}

/* the <source> with mode=@mode (a missing mode counts as @dflt) */
static GHashTable *
source_by_mode(GPtrArray *sources, const char *mode, const char *dflt)
{
    for (guint i = 0; i < sources->len; i++) {
        GHashTable *h = g_ptr_array_index(sources, i);
        const char *m = g_hash_table_lookup(h, "mode");

        if (g_strcmp0(m != NULL ? m : dflt, mode) == 0)
            return h;
    }
    return NULL;
}

/* host= and service= of a <source>, escaped for QemuOpts; the service a port number */
static gboolean
host_service(const VbQemuCmd *c, const VbDeviceDef *dev, GHashTable *src, gboolean need_host,
             char **out_host, char **out_port, GError **error)
{
    const char *host = src != NULL ? g_hash_table_lookup(src, "host") : NULL;
    const char *service = src != NULL ? g_hash_table_lookup(src, "service") : NULL;
    guint64 port;

    if (service == NULL || !g_ascii_string_to_unsigned(service, 10, 0, 65535, &port, NULL))
        return vb_qemu_cmd_unsupported(c, error, dev, "<source service='%s'> must be a port "
                                       "number", service != NULL ? service : "");
    if (host == NULL && need_host)
        return vb_qemu_cmd_unsupported(c, error, dev, "<source> needs host=");
    *out_host = vb_qemu_cmd_escape(host != NULL ? host : "");
    *out_port = g_strdup_printf("%" G_GUINT64_FORMAT, port);
    return TRUE;
}

/*
 * tcp (client or server, raw or telnet) and udp backends, in libvirt's shapes:
 * "socket,id=X,host=H,port=P[,telnet=on][,server=on,wait=off]" and
 * "udp,id=X,host=H,port=P,localaddr=B,localport=Q".
 */
static gboolean
chardev_net(VbQemuCmd *c, const VbDeviceDef *dev, const char *type, GPtrArray *sources,
            const char *protocol, GString *opts, GError **error)
{
    g_autofree char *host = NULL;
    g_autofree char *port = NULL;

    if (strcmp(type, "tcp") == 0) {
        GHashTable *src = sources->len > 0 ? g_ptr_array_index(sources, 0) : NULL;
        const char *mode = src != NULL ? g_hash_table_lookup(src, "mode") : NULL;
        const char *tls = src != NULL ? g_hash_table_lookup(src, "tls") : NULL;

        if (sources->len > 1)
            return vb_qemu_cmd_unsupported(c, error, dev, "a tcp chardev has one <source>");
        if (g_strcmp0(tls, "yes") == 0)
            return vb_qemu_cmd_unsupported(c, error, dev, "<source tls='yes'> is not "
                                           "supported (no x509 certificates configured)");
        if (protocol != NULL && strcmp(protocol, "raw") != 0 &&
            strcmp(protocol, "telnet") != 0)
            return vb_qemu_cmd_unsupported(c, error, dev, "<protocol type='%s'> is not "
                                           "supported (raw, telnet)", protocol);
        /* a server without host= listens on every address */
        if (!host_service(c, dev, src, g_strcmp0(mode, "bind") != 0, &host, &port, error))
            return FALSE;
        g_string_prepend(opts, "socket");
        g_string_append_printf(opts, ",host=%s,port=%s", host, port);
        if (g_strcmp0(protocol, "telnet") == 0)
            g_string_append(opts, ",telnet=on");
        if (g_strcmp0(mode, "bind") == 0)
            g_string_append(opts, ",server=on,wait=off");
        return TRUE;
    }
    {
        GHashTable *conn = source_by_mode(sources, "connect", "connect");
        GHashTable *bind = source_by_mode(sources, "bind", "connect");
        g_autofree char *lhost = NULL;
        g_autofree char *lport = NULL;

        if (conn == NULL)
            return vb_qemu_cmd_unsupported(c, error, dev, "a udp chardev needs a <source "
                                           "mode='connect' host= service=>");
        if (!host_service(c, dev, conn, FALSE, &host, &port, error))
            return FALSE;
        if (bind != NULL && !host_service(c, dev, bind, FALSE, &lhost, &lport, error))
            return FALSE;
        g_string_prepend(opts, "udp");
        g_string_append_printf(opts, ",host=%s,port=%s,localaddr=%s,localport=%s", host, port,
                               lhost != NULL ? lhost : "", lport != NULL ? lport : "0");
        return TRUE;
    }
}

/* qemu-vdagent: <source><clipboard copypaste/><mouse mode/></source> */
static gboolean
chardev_vdagent(VbQemuCmd *c, const VbDeviceDef *dev, GString *opts, GError **error)
{
    GPtrArray *ch = dev->source.extra.children;

    g_string_prepend(opts, "qemu-vdagent");
    g_string_append(opts, ",name=vdagent");
    for (guint i = 0; ch != NULL && i < ch->len; i++) {
        const VbRawElem *raw = g_ptr_array_index(ch, i);
        g_autofree char *v = NULL;

        if (strcmp(raw->name, "clipboard") == 0) {
            v = vb_raw_elem_get_attr(raw, "copypaste");
            if (g_strcmp0(v, "yes") != 0 && g_strcmp0(v, "no") != 0)
                return vb_qemu_cmd_unsupported(c, error, dev, "<clipboard copypaste> must be "
                                               "yes or no");
            g_string_append_printf(opts, ",clipboard=%s", strcmp(v, "yes") == 0 ? "on" : "off");
        } else if (strcmp(raw->name, "mouse") == 0) {
            v = vb_raw_elem_get_attr(raw, "mode");
            if (g_strcmp0(v, "client") != 0 && g_strcmp0(v, "server") != 0)
                return vb_qemu_cmd_unsupported(c, error, dev, "<mouse mode> must be client or "
                                               "server");
            g_string_append_printf(opts, ",mouse=%s", strcmp(v, "client") == 0 ? "on" : "off");
        } else {
            return vb_qemu_cmd_unsupported(c, error, dev, "element <%s> of <source> is not "
                                           "supported", raw->name);
        }
    }
    return TRUE;
}

/**
 * vb_qemu_cmd_add_chardev_raw:
 * @c: the command being built
 * @dev: a kept device with a chardev (redirdev, smartcard passthrough)
 * @root: its element
 * @id: the chardev id
 * @spicevmc: the spicevmc channel name for type='spicevmc' ("usbredir", "smartcard")
 * @error: error
 *
 * The backends a kept device can have: spicevmc, tcp, udp, unix (path=).
 */
gboolean
vb_qemu_cmd_add_chardev_raw(VbQemuCmd *c, const VbDeviceDef *dev, xmlNode *root,
                            const char *id, const char *spicevmc, GError **error)
{
    g_autoptr(GPtrArray) sources = g_ptr_array_new_with_free_func(
        (GDestroyNotify)g_hash_table_unref);
    g_autoptr(GString) opts = g_string_new(NULL);
    g_autofree char *type = vb_xml_prop(root, "type");
    g_autofree char *protocol = NULL;

    collect_sources(dev, root, sources, &protocol);
    g_string_append_printf(opts, ",id=%s", id);
    if (g_strcmp0(type, "spicevmc") == 0) {
        if (!need_spice(c, dev, type, error))
            return FALSE;
        g_string_prepend(opts, "spicevmc");
        g_string_append_printf(opts, ",name=%s", spicevmc);
    } else if (g_strcmp0(type, "tcp") == 0 || g_strcmp0(type, "udp") == 0) {
        if (!chardev_net(c, dev, type, sources, protocol, opts, error))
            return FALSE;
    } else if (g_strcmp0(type, "unix") == 0 && sources->len == 1 &&
               g_hash_table_lookup(g_ptr_array_index(sources, 0), "path") != NULL) {
        GHashTable *src = g_ptr_array_index(sources, 0);
        g_autofree char *path = vb_qemu_cmd_escape(g_hash_table_lookup(src, "path"));

        g_string_prepend(opts, "socket");
        g_string_append_printf(opts, ",path=%s", path);
        if (g_strcmp0(g_hash_table_lookup(src, "mode"), "bind") == 0)
            g_string_append(opts, ",server=on,wait=off");
    } else {
        return vb_qemu_cmd_unsupported(c, error, dev, "type '%s' is not supported here "
                                       "(spicevmc, tcp, udp, unix with <source path>)",
                                       type != NULL ? type : "");
    }
    vb_qemu_cmd_addf(c, "-chardev", "%s", opts->str);
    return TRUE;
}

static gboolean
chardev_props(VbQemuCmd *c, const VbDeviceDef *dev, GString *opts, GError **error)
{
    static const char *const ok_attrs[] = { "path", "mode", "append", NULL };
    const char *type = dev->type;
    const char *mode = vb_extra_get_attr(&dev->source.extra, "mode");
    const char *append = vb_extra_get_attr(&dev->source.extra, "append");
    g_autofree char *path = NULL;

    if (dev->source_path != NULL) {
        path = vb_qemu_cmd_escape(dev->source_path);
    } else if (strcmp(type, "unix") == 0 && dev->kind == VB_DEV_CHANNEL &&
               dev->target_name != NULL && c->params->runtime_dir != NULL) {
        g_autofree char *p = NULL;

        /* the name becomes a file in the domain's runtime directory, and nowhere else */
        if (*dev->target_name == '\0' || strchr(dev->target_name, '/') != NULL ||
            strcmp(dev->target_name, ".") == 0 || strcmp(dev->target_name, "..") == 0)
            return vb_qemu_cmd_unsupported(c, error, dev, "channel name '%s' cannot name a "
                                           "socket in the domain's runtime directory; give "
                                           "<source path=>", dev->target_name);
        p = g_build_filename(c->params->runtime_dir, dev->target_name, NULL);
        path = vb_qemu_cmd_escape(p);
        mode = "bind";
    }
    if (strcmp(type, "pty") == 0 || strcmp(type, "null") == 0) {
        g_string_prepend(opts, type);
    } else if (strcmp(type, "file") == 0 && path != NULL) {
        g_string_prepend(opts, "file");
        g_string_append_printf(opts, ",path=%s", path);
        if (append != NULL)
            g_string_append_printf(opts, ",append=%s", g_str_equal(append, "on") ? "on" : "off");
    } else if (strcmp(type, "unix") == 0 && path != NULL) {
        g_string_prepend(opts, "socket");
        g_string_append_printf(opts, ",path=%s", path);
        if (g_strcmp0(mode, "connect") != 0)
            g_string_append(opts, ",server=on,wait=off");
    } else if (strcmp(type, "spicevmc") == 0 && dev->kind == VB_DEV_CHANNEL) {
        if (!need_spice(c, dev, type, error))
            return FALSE;
        g_string_prepend(opts, "spicevmc");
        g_string_append(opts, ",name=vdagent");
    } else if (strcmp(type, "qemu-vdagent") == 0 && dev->kind == VB_DEV_CHANNEL) {
        return chardev_vdagent(c, dev, opts, error);
    } else if (strcmp(type, "spiceport") == 0) {
        const char *channel = vb_extra_get_attr(&dev->source.extra, "channel");

        if (channel == NULL)
            return vb_qemu_cmd_unsupported(c, error, dev, "a spiceport needs <source "
                                           "channel=>");
        if (!need_spice(c, dev, type, error))
            return FALSE;
        for (const char *p = channel; *p != '\0'; p++) {
            if (!g_ascii_isalnum(*p) && *p != '.' && *p != '-' && *p != '_')
                return vb_qemu_cmd_unsupported(c, error, dev, "invalid spiceport channel "
                                               "'%s'", channel);
        }
        g_string_prepend(opts, "spiceport");
        g_string_append_printf(opts, ",name=%s", channel);
        return TRUE;
    } else if (strcmp(type, "tcp") == 0 || strcmp(type, "udp") == 0) {
        g_autoptr(GPtrArray) sources = g_ptr_array_new_with_free_func(
            (GDestroyNotify)g_hash_table_unref);
        g_autofree char *protocol = NULL;

        if (dev->source.extra.children != NULL)
            return vb_qemu_cmd_unsupported(c, error, dev, "element <%s> in <source> is not "
                                           "supported", ((VbRawElem *)g_ptr_array_index(
                                               dev->source.extra.children, 0))->name);
        collect_sources(dev, NULL, sources, &protocol);
        return chardev_net(c, dev, type, sources, protocol, opts, error);
    } else {
        return vb_qemu_cmd_unsupported(c, error, dev, "character device type '%s'%s is not "
                                       "supported", type,
                                       path == NULL ? " without <source path=>" : "");
    }
    return vb_qemu_cmd_check_extra(c, dev, &dev->source.extra, "source", ok_attrs, NULL, error);
}

static gboolean
add_chardev(VbQemuCmd *c, const VbDeviceDef *dev, const char *id, GError **error)
{
    g_autoptr(GString) opts = g_string_new(NULL);

    /* <log> would need a logfile= we do not offer yet */
    static const char *const net_children[] = { "protocol", "source", NULL };
    gboolean net = strcmp(dev->type, "tcp") == 0 || strcmp(dev->type, "udp") == 0;

    if (!vb_qemu_cmd_check_extra(c, dev, &dev->extra, NULL, NULL, net ? net_children : NULL,
                                 error))
        return FALSE;
    g_string_append_printf(opts, ",id=%s", id);
    if (!chardev_props(c, dev, opts, error))
        return FALSE;
    vb_qemu_cmd_addf(c, "-chardev", "%s", opts->str);
    return TRUE;
}

static gboolean
build_serial(VbQemuCmd *c, const VbDeviceDef *dev, int n, GError **error)
{
    static const char *const ok_children[] = { "model", NULL };
    const char *ttype = dev->target_type != NULL && dev->kind == VB_DEV_SERIAL
                            ? dev->target_type
                            : "isa-serial";
    int index = dev->target_port >= 0 ? dev->target_port : n;
    g_autofree char *id = vb_domain_def_device_alias(c->def, dev);
    g_autofree char *chr = g_strconcat("char", id, NULL);
    GString *j;

    if (!vb_qemu_cmd_check_extra(c, dev, &dev->target.extra, "target", NULL, ok_children, error))
        return FALSE;
    if (strcmp(ttype, "isa-serial") != 0 && strcmp(ttype, "pci-serial") != 0 &&
        strcmp(ttype, "isa-debug") != 0 && strcmp(ttype, "usb-serial") != 0)
        return vb_qemu_cmd_unsupported(c, error, dev, "serial target type '%s' is not "
                                       "supported", ttype);
    if (!add_chardev(c, dev, chr, error))
        return FALSE;
    j = vb_json_new();
    vb_json_str(j, "driver", strcmp(ttype, "isa-debug") == 0 ? "isa-debugcon" : ttype);
    vb_json_str(j, "chardev", chr);
    vb_json_str(j, "id", id);
    if (strcmp(ttype, "isa-debug") == 0) {
        if (!vb_qemu_cmd_isa_iobase(c, dev, j, "iobase", error)) {
            g_string_free(j, TRUE);
            return FALSE;
        }
    } else if (strcmp(ttype, "isa-serial") == 0) {
        vb_json_int(j, "index", index);
    } else if (strcmp(ttype, "usb-serial") == 0) {
        /* libvirt's shape: {"driver":"usb-serial","chardev":..,"id":..,"bus":"usb.0"[,"port"]}
         * (issue 13, part memcfg) */
        if (!vb_qemu_cmd_usb_props(c, j, dev, error)) {
            g_string_free(j, TRUE);
            return FALSE;
        }
    } else if (!vb_qemu_cmd_pci_props(c, j, dev, error)) {
        g_string_free(j, TRUE);
        return FALSE;
    }
    return vb_qemu_cmd_add_device(c, dev, j, error);
}

static gboolean
has_virtio_serial(const VbQemuCmd *c, guint index)
{
    GPtrArray *devs = c->def->priv->devices;

    for (guint i = 0; i < devs->len; i++) {
        const VbDeviceDef *d = g_ptr_array_index(devs, i);

        if (d->kind == VB_DEV_CONTROLLER && strcmp(d->type, "virtio-serial") == 0 &&
            d->index == index)
            return TRUE;
    }
    return FALSE;
}

static gboolean
build_channel(VbQemuCmd *c, const VbDeviceDef *dev, int n, GError **error)
{
    static const char *const ok_attrs[] = { "state", NULL };
    g_autofree char *id = vb_domain_def_device_alias(c->def, dev);
    g_autofree char *chr = g_strconcat("char", id, NULL);
    const VbDeviceAddress *a = &dev->addr;
    g_autofree char *bus = NULL;
    GString *j;

    if (g_strcmp0(dev->target_type, "virtio") != 0)
        return vb_qemu_cmd_unsupported(c, error, dev, "channel target type '%s' is not "
                                       "supported", dev->target_type);
    if (!vb_qemu_cmd_check_extra(c, dev, &dev->target.extra, "target", ok_attrs, NULL, error))
        return FALSE;
    if (a->type != VB_ADDR_NONE && a->type != VB_ADDR_VIRTIO_SERIAL)
        return vb_qemu_cmd_unsupported(c, error, dev, "a virtio channel needs a virtio-serial "
                                       "address");
    if (!has_virtio_serial(c, a->controller))
        return vb_qemu_cmd_unsupported(c, error, dev, "no virtio-serial controller with "
                                       "index %u", a->controller);
    if (!add_chardev(c, dev, chr, error))
        return FALSE;
    bus = g_strdup_printf("virtio-serial%u.%u", a->controller, a->bus);
    j = vb_json_new();
    vb_json_str(j, "driver", "virtserialport");
    vb_json_str(j, "bus", bus);
    if (a->type == VB_ADDR_VIRTIO_SERIAL)
        vb_json_int(j, "nr", a->port);
    vb_json_str(j, "chardev", chr);
    vb_json_str(j, "id", id);
    if (dev->target_name != NULL)
        vb_json_str(j, "name", dev->target_name);
    return vb_qemu_cmd_add_device(c, dev, j, error);
}

static gboolean
build_console(VbQemuCmd *c, const VbDeviceDef *dev, int n, int nserials, GError **error)
{
    const char *ttype = dev->target_type != NULL ? dev->target_type : "serial";
    g_autofree char *id = vb_domain_def_device_alias(c->def, dev);
    g_autofree char *chr = g_strconcat("char", id, NULL);
    GString *j;

    if (strcmp(ttype, "serial") == 0) {
        /* the first console is serial0 itself; without <serial> it becomes serial0 */
        if (n == 0 && nserials > 0)
            return TRUE;
        if (n == 0)
            return build_serial(c, dev, 0, error);
        return vb_qemu_cmd_unsupported(c, error, dev, "only the first console can be a serial "
                                       "console");
    }
    if (strcmp(ttype, "virtio") != 0)
        return vb_qemu_cmd_unsupported(c, error, dev, "console target type '%s' is not "
                                       "supported", ttype);
    if (!has_virtio_serial(c, 0))
        return vb_qemu_cmd_unsupported(c, error, dev, "a virtio console needs a virtio-serial "
                                       "controller");
    if (!vb_qemu_cmd_check_extra(c, dev, &dev->target.extra, "target", NULL, NULL, error) ||
        !add_chardev(c, dev, chr, error))
        return FALSE;
    j = vb_json_new();
    vb_json_str(j, "driver", "virtconsole");
    vb_json_str(j, "chardev", chr);
    vb_json_str(j, "id", id);
    return vb_qemu_cmd_add_device(c, dev, j, error);
}

/**
 * vb_qemu_cmd_build_chardevs:
 * @c: the command being built
 * @error: error
 */
gboolean
vb_qemu_cmd_build_chardevs(VbQemuCmd *c, GError **error)
{
    GPtrArray *devs = c->def->priv->devices;
    int counts[VB_DEV_LAST] = { 0 };

    for (VbDeviceKind kind = VB_DEV_SERIAL; kind <= VB_DEV_CHANNEL; kind++) {
        VbDeviceKind k = kind == VB_DEV_CONSOLE ? VB_DEV_CHANNEL
                         : kind == VB_DEV_CHANNEL ? VB_DEV_CONSOLE
                                                  : kind;

        for (guint i = 0; i < devs->len; i++) {
            const VbDeviceDef *dev = g_ptr_array_index(devs, i);
            gboolean ok;

            if (dev->kind != k)
                continue;
            if (k == VB_DEV_SERIAL)
                ok = build_serial(c, dev, counts[k], error);
            else if (k == VB_DEV_CHANNEL)
                ok = build_channel(c, dev, counts[k], error);
            else
                ok = build_console(c, dev, counts[k], counts[VB_DEV_SERIAL], error);
            if (!ok)
                return FALSE;
            counts[k]++;
        }
    }
    return TRUE;
}

/**
 * vb_qemu_cmd_build_channel_one:
 *
 * The -chardev and -device of one virtio <channel>, as at start (issue 13, part hotplug).
 */
gboolean
vb_qemu_cmd_build_channel_one(VbQemuCmd *c, const VbDeviceDef *dev, GError **error)
{
    GPtrArray *devs = c->def->priv->devices;
    int n = 0;

    for (guint i = 0; i < devs->len && g_ptr_array_index(devs, i) != dev; i++)
        n += ((const VbDeviceDef *)g_ptr_array_index(devs, i))->kind == VB_DEV_CHANNEL;
    return build_channel(c, dev, n, error);
}

/**
 * vb_qemu_cmd_build_serial_one:
 *
 * The -chardev and -device of one <serial> for a running QEMU (issue 13, part hotplug,
 * second session): a PCI serial port (pci-serial) only; an ISA port cannot be hot-plugged
 * (QEMU's ISA bus has no hotplug) and is NotSupported naming it; <console> too (the
 * first console is a serial port).
 */
gboolean
vb_qemu_cmd_build_serial_one(VbQemuCmd *c, const VbDeviceDef *dev, GError **error)
{
    GPtrArray *devs = c->def->priv->devices;
    const char *ttype = dev->target_type != NULL ? dev->target_type
                        : dev->kind == VB_DEV_CONSOLE ? "serial"
                                                      : "isa-serial";
    int n = 0;

    if (dev->kind == VB_DEV_CONSOLE) {
        /* a virtio console: virtconsole on the virtio-serial bus, like a channel (issue 13,
         * part memcfg); a serial console is the first serial port */
        if (strcmp(ttype, "virtio") != 0)
            return vb_qemu_cmd_unsupported(c, error, dev, "console target type '%s' cannot "
                                           "be hot-plugged; use <target type='virtio'/>",
                                           ttype);
        for (guint i = 0; i < devs->len && g_ptr_array_index(devs, i) != dev; i++)
            n += ((const VbDeviceDef *)g_ptr_array_index(devs, i))->kind == VB_DEV_CONSOLE;
        return build_console(c, dev, n, 0, error);
    }
    if (strcmp(ttype, "pci-serial") != 0 && strcmp(ttype, "usb-serial") != 0)
        return vb_qemu_cmd_unsupported(c, error, dev, "serial target type '%s' cannot be "
                                       "hot-plugged (%s); use <target type='pci-serial'/> or "
                                       "'usb-serial'",
                                       ttype, g_str_has_prefix(ttype, "isa")
                                                  ? "the ISA bus has no hotplug"
                                                  : "not supported by virtbus");
    for (guint i = 0; i < devs->len && g_ptr_array_index(devs, i) != dev; i++)
        n += ((const VbDeviceDef *)g_ptr_array_index(devs, i))->kind == VB_DEV_SERIAL;
    return build_serial(c, dev, n, error);
}

/* the value of a QemuOpts string up to the next single ',' (",," is a literal ',') */
static char *
opts_value(const char **p)
{
    GString *v = g_string_new(NULL);

    while (**p != '\0') {
        if (**p == ',' && (*p)[1] == ',') {
            g_string_append_c(v, ',');
            *p += 2;
        } else if (**p == ',') {
            break;
        } else {
            g_string_append_c(v, **p);
            (*p)++;
        }
    }
    return g_string_free(v, FALSE);
}

/**
 * vb_qemu_chardev_opts_to_qmp:
 * @opts: a -chardev value the builder wrote ("socket,id=X,path=P,server=on,wait=off")
 * @error: NotSupported for a backend QMP's chardev-add is not given here yet
 *
 * The chardev-add arguments of the same character device (issue 13, part hotplug):
 * socket (unix path), pty, file, null.
 *
 * Returns: (transfer full) (nullable): {"id": X, "backend": {"type": T, "data": {...}}}
 */
JsonObject *
vb_qemu_chardev_opts_to_qmp(const char *opts, GError **error)
{
    g_autofree char *backend = NULL;
    g_autoptr(GHashTable) kv = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    const char *p = opts;
    const char *id, *path;
    JsonObject *data, *b, *out;

    backend = opts_value(&p);
    while (*p == ',') {
        g_autofree char *pair = NULL;
        char *eq;

        p++;
        pair = opts_value(&p);
        eq = strchr(pair, '=');
        if (eq == NULL)
            continue;
        *eq = '\0';
        g_hash_table_replace(kv, g_strdup(pair), g_strdup(eq + 1));
    }
    id = g_hash_table_lookup(kv, "id");
    path = g_hash_table_lookup(kv, "path");
    if (id == NULL) {
        g_set_error(error, VB_ERROR, VB_ERROR_INTERNAL, "chardev '%s' has no id", opts);
        return NULL;
    }
    data = json_object_new();
    if (strcmp(backend, "socket") == 0 && path != NULL) {
        JsonObject *addr = json_object_new();
        JsonObject *unix_data = json_object_new();
        gboolean server = g_strcmp0(g_hash_table_lookup(kv, "server"), "on") == 0;

        json_object_set_string_member(unix_data, "path", path);
        json_object_set_string_member(addr, "type", "unix");
        json_object_set_object_member(addr, "data", unix_data);
        json_object_set_object_member(data, "addr", addr);
        json_object_set_boolean_member(data, "server", server);
        if (server)
            json_object_set_boolean_member(data, "wait",
                                           g_strcmp0(g_hash_table_lookup(kv, "wait"), "off") != 0);
    } else if (strcmp(backend, "file") == 0 && path != NULL) {
        json_object_set_string_member(data, "out", path);
        if (g_hash_table_contains(kv, "append"))
            json_object_set_boolean_member(
                data, "append", g_strcmp0(g_hash_table_lookup(kv, "append"), "on") == 0);
    } else if (strcmp(backend, "pty") != 0 && strcmp(backend, "null") != 0) {
        json_object_unref(data);
        g_set_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
                    "a %s character device cannot be added to a running domain yet (unix "
                    "sockets, pty, file and null can)", backend);
        return NULL;
    }
    b = json_object_new();
    json_object_set_string_member(b, "type", backend);
    json_object_set_object_member(b, "data", data);
    out = json_object_new();
    json_object_set_string_member(out, "id", id);
    json_object_set_object_member(out, "backend", b);
    return out;
}
