/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Runtime-only parts of a definition (issue 10, part live): device aliases (the QEMU ids,
 * one naming function for the command line and the live XML), the <domain id>, the <listen>
 * a display really used, ptys; and their removal from a persistent definition, as libvirt's
 * VIR_DOMAIN_DEF_PARSE_INACTIVE drops them.
 */
#include "config.h"

#include <stdarg.h>
#include <string.h>

#include "domain-def-priv.h"

/* "vda" -> 0, "hdb" -> 1, "sdaa" -> 26 (libvirt's virDiskNameToIndex()); -1 if not a disk name */
static int
disk_name_to_index(const char *name)
{
    static const char *const prefixes[] = { "vd", "hd", "sd", "fd", "xvd", "ubd", NULL };
    const char *p = NULL;
    int idx = 0;

    for (guint i = 0; name != NULL && prefixes[i] != NULL && p == NULL; i++) {
        if (g_str_has_prefix(name, prefixes[i]))
            p = name + strlen(prefixes[i]);
    }
    if (p == NULL || *p == '\0')
        return -1;
    for (; *p >= 'a' && *p <= 'z'; p++) {
        if (idx > 1000000)
            return -1;
        idx = idx * 26 + (*p - 'a' + 1);
    }
    return *p == '\0' ? idx - 1 : -1;
}

/* the <alias> kept on a modelled device, or NULL */
static VbRawElem *
find_alias(const VbDeviceDef *dev, guint *out_index)
{
    GPtrArray *ch = dev->extra.children;

    for (guint i = 0; ch != NULL && i < ch->len; i++) {
        VbRawElem *raw = g_ptr_array_index(ch, i);

        if (strcmp(raw->name, "alias") == 0) {
            if (out_index != NULL)
                *out_index = i;
            return raw;
        }
    }
    return NULL;
}

/*
 * The user alias (<alias name='ua-...'/>, libvirt's VIR_DOMAIN_DEF_FEATURE_USER_ALIAS) of
 * @dev, or NULL. Only the ua- prefix is a user's: any other alias is the service's own and
 * is computed again.
 */
static char *
user_alias(const VbDeviceDef *dev)
{
    g_autofree char *name = NULL;

    if (dev->kind == VB_DEV_UNKNOWN) {
        xmlDoc *doc = dev->raw != NULL ? vb_raw_elem_parse(dev->raw) : NULL;

        for (xmlNode *c = doc != NULL ? xmlDocGetRootElement(doc)->children : NULL;
             c != NULL && name == NULL; c = c->next) {
            if (vb_xml_is(c, "alias"))
                name = vb_xml_prop(c, "name");
        }
        if (doc != NULL)
            xmlFreeDoc(doc);
    } else {
        const VbRawElem *raw = find_alias(dev, NULL);

        name = raw != NULL ? vb_raw_elem_get_attr(raw, "name") : NULL;
    }
    if (name == NULL || !g_str_has_prefix(name, "ua-") || name[3] == '\0')
        return NULL;
    return g_steal_pointer(&name);
}

/* position of @dev among the devices of @def for which @same is TRUE */
static int
position(const VbDomainDef *def, const VbDeviceDef *dev,
         gboolean (*same)(const VbDeviceDef *a, const VbDeviceDef *b))
{
    GPtrArray *devs = def->priv->devices;
    int n = 0;

    for (guint i = 0; i < devs->len; i++) {
        const VbDeviceDef *d = g_ptr_array_index(devs, i);

        if (d == dev)
            return n;
        if (same(d, dev))
            n++;
    }
    return n;
}

static gboolean
same_kind(const VbDeviceDef *a, const VbDeviceDef *b)
{
    return a->kind == b->kind;
}

static gboolean
same_net_kind(const VbDeviceDef *a, const VbDeviceDef *b)
{
    return a->kind == VB_DEV_INTERFACE &&
           (g_strcmp0(a->type, "hostdev") == 0) == (g_strcmp0(b->type, "hostdev") == 0);
}

static const VbDeviceDef *
find_controller(const VbDomainDef *def, const char *type, guint index)
{
    GPtrArray *devs = def->priv->devices;

    for (guint i = 0; i < devs->len; i++) {
        const VbDeviceDef *d = g_ptr_array_index(devs, i);

        if (d->kind == VB_DEV_CONTROLLER && g_strcmp0(d->type, type) == 0 && d->index == index)
            return d;
    }
    return NULL;
}

static char *
disk_alias(const VbDomainDef *def, const VbDeviceDef *dev)
{
    const char *bus = dev->bus != NULL ? dev->bus : "virtio";
    const VbDeviceAddress *a = &dev->addr;
    int idx;

    if (a->type == VB_ADDR_DRIVE) {
        if (strcmp(bus, "scsi") == 0) {
            const VbDeviceDef *ctl = find_controller(def, "scsi", a->controller);
            const char *model = ctl != NULL && ctl->model != NULL ? ctl->model : "lsilogic";

            /* libvirt's qemuAssignDeviceDiskAlias(): lsilogic has no target in the name */
            if (strcmp(model, "lsilogic") != 0)
                return g_strdup_printf("scsi%u-%u-%u-%u", a->controller, a->bus, a->target,
                                       a->unit);
        }
        return g_strdup_printf("%s%u-%u-%u", bus, a->controller, a->bus, a->unit);
    }
    idx = disk_name_to_index(dev->target_dev);
    if (idx < 0)
        return NULL;
    return g_strdup_printf("%s-disk%d", bus, idx);
}

static char *
controller_alias(const VbDomainDef *def, const VbDeviceDef *dev)
{
    const char *type = dev->type != NULL ? dev->type : "";

    if (strcmp(type, "pci") == 0) {
        /* the q35 root bus is hard-coded "pcie.0" in QEMU; other buses are pci.N */
        if (g_strcmp0(dev->model, "pcie-root") == 0)
            return g_strdup_printf("pcie.%u", dev->index);
        return g_strdup_printf("pci.%u", dev->index);
    }
    if (dev->index == 0) {
        /* controllers built into the machine keep QEMU's names */
        if (strcmp(type, "ide") == 0 && !vb_domain_def_is_q35(def))
            return g_strdup("ide");
        if (strcmp(type, "sata") == 0 && vb_domain_def_is_q35(def))
            return g_strdup("ide");
        if (strcmp(type, "usb") == 0)
            return g_strdup("usb");
        if (strcmp(type, "scsi") == 0 && g_strcmp0(dev->model, "ncr53c90") == 0)
            return g_strdup("scsi");
    }
    return g_strdup_printf("%s%u", type, dev->index);
}

/* the console that is the first serial port (libvirt shares the serial's alias) */
static gboolean
console_is_serial(const VbDeviceDef *dev)
{
    return dev->kind == VB_DEV_CONSOLE &&
           (dev->target_type == NULL || strcmp(dev->target_type, "serial") == 0);
}

static char *
chardev_alias(const VbDomainDef *def, const VbDeviceDef *dev)
{
    GPtrArray *devs = def->priv->devices;
    int n = position(def, dev, same_kind);

    switch (dev->kind) {
    case VB_DEV_SERIAL:
        return g_strdup_printf("serial%d", n);
    case VB_DEV_CHANNEL:
        return g_strdup_printf("channel%d", n);
    case VB_DEV_CONSOLE:
        if (n == 0 && console_is_serial(dev)) {
            for (guint i = 0; i < devs->len; i++) {
                const VbDeviceDef *d = g_ptr_array_index(devs, i);

                if (d->kind == VB_DEV_SERIAL)
                    return vb_domain_def_device_alias(def, d);
            }
            return g_strdup("serial0");
        }
        return g_strdup_printf("console%d", n);
    default:
        return NULL;
    }
}

static char *
video_alias(const VbDomainDef *def, const VbDeviceDef *dev)
{
    const VbDeviceDef *primary = vb_domain_def_primary_video(def);
    int n;

    if (dev == primary)
        return g_strdup("video0");
    n = position(def, dev, same_kind);
    /* the primary is video0 wherever it is in the document; the others follow in order */
    if (primary != NULL && n < position(def, primary, same_kind))
        n++;
    return g_strdup_printf("video%d", n);
}

/**
 * vb_domain_def_device_alias:
 * @def: the definition @dev belongs to
 * @dev: a device of @def
 *
 * The one naming function for devices: the QEMU id the command-line builder gives @dev and
 * the <alias name=> of the live XML, with libvirt's names (qemu_alias.c): virtio-disk0,
 * sata0-0-0, ide0-0-0, scsi0-0-0-0 (scsi0-0-0 on lsilogic), fdc0-0-0, usb, ide, pci.N,
 * pcie.0, virtio-serial0, net0, serial0, console0, channel0, input0, video0, watchdog0,
 * balloon0, rng0, panic0 (pvpanic-pci). A user alias (ua-*) in the caller's XML wins, as in
 * libvirt, except on controllers (kept in the XML, but the QEMU id stays the generated one,
 * which the buses of other devices are named after). Devices kept verbatim only have their
 * user alias. Any thread.
 *
 * Returns: (transfer full) (nullable): the alias, or %NULL for a device that has none
 *   (graphics, a panic on the ISA port, memballoon model none, ...)
 */
char *
vb_domain_def_device_alias(const VbDomainDef *def, const VbDeviceDef *dev)
{
    /* a controller keeps its generated name as QEMU id: the bus names of the devices on it
     * (pci.N, usb.0, scsi0.0, virtio-serial0.0, ...) are derived from it */
    char *ua = dev->kind != VB_DEV_CONTROLLER ? user_alias(dev) : NULL;

    if (ua != NULL)
        return ua;
    /* devices while running (issue 13, part hotplug): a running domain's device keeps the
     * alias it was given (QEMU knows it by that id), even when devices before it were
     * unplugged and its position changed */
    if (def->priv->id >= 0 && dev->kind != VB_DEV_CONTROLLER && dev->kind != VB_DEV_UNKNOWN) {
        const VbRawElem *raw = find_alias(dev, NULL);

        ua = raw != NULL ? vb_raw_elem_get_attr(raw, "name") : NULL;
        if (ua != NULL && *ua != '\0')
            return ua;
        g_free(ua);
    }
    switch (dev->kind) {
    case VB_DEV_DISK:
        return disk_alias(def, dev);
    case VB_DEV_CONTROLLER:
        return controller_alias(def, dev);
    case VB_DEV_INTERFACE:
        if (g_strcmp0(dev->type, "hostdev") == 0)
            return g_strdup_printf("hostdev%d", position(def, dev, same_net_kind));
        return g_strdup_printf("net%d", position(def, dev, same_net_kind));
    case VB_DEV_SERIAL:
    case VB_DEV_CONSOLE:
    case VB_DEV_CHANNEL:
        return chardev_alias(def, dev);
    case VB_DEV_INPUT:
        return g_strdup_printf("input%d", position(def, dev, same_kind));
    case VB_DEV_VIDEO:
        return video_alias(def, dev);
    case VB_DEV_WATCHDOG:
        return g_strdup("watchdog0");
    case VB_DEV_MEMBALLOON:
        return g_strcmp0(dev->model, "none") == 0 ? NULL : g_strdup("balloon0");
    case VB_DEV_RNG:
        return g_strdup_printf("rng%d", position(def, dev, same_kind));
    case VB_DEV_PANIC:
        return g_strcmp0(dev->model, "pvpanic") == 0 ? g_strdup("panic0") : NULL;
    case VB_DEV_FILESYSTEM:
        return g_strdup_printf("fs%d", position(def, dev, same_kind));
    case VB_DEV_SOUND:
        return g_strdup_printf("sound%d", position(def, dev, same_kind));
    default:
        return NULL;
    }
}

/* where an <alias> goes among the children; NULL for kinds that get none (graphics, kept
 * devices) */
static const char *const *
alias_ranks(VbDeviceKind kind)
{
    if (kind == VB_DEV_GRAPHICS || kind == VB_DEV_UNKNOWN)
        return NULL;
    return vb_device_child_ranks(kind);
}

static int
raw_rank_of(gconstpointer p)
{
    return ((const VbRawElem *)p)->rank;
}

/* a new kept child <name attr='value' .../> (NULL-terminated name/value pairs) */
static VbRawElem *
raw_new(const char *name, int rank, ...)
{
    xmlNode *node = xmlNewNode(NULL, (const xmlChar *)name);
    VbRawElem *raw;
    va_list ap;
    const char *k;

    va_start(ap, rank);
    while ((k = va_arg(ap, const char *)) != NULL) {
        const char *v = va_arg(ap, const char *);

        xmlNewProp(node, (const xmlChar *)k, (const xmlChar *)v);
    }
    va_end(ap);
    raw = vb_raw_elem_new(node, rank);
    raw->line = 0;
    xmlFreeNode(node);
    return raw;
}

static void
add_child(VbExtra *extra, VbRawElem *raw, gboolean first)
{
    if (extra->children == NULL)
        extra->children = g_ptr_array_new_with_free_func((GDestroyNotify)vb_raw_elem_free);
    if (first)
        g_ptr_array_insert(extra->children, 0, raw);
    else
        g_ptr_array_add(extra->children, raw);
    vb_sort_by_rank(extra->children, raw_rank_of);
}

/* The address a VNC/SPICE display listens on, as the command line uses it: listen=, else
 * the first <listen type='address'>, else 127.0.0.1. Adds the <listen> child libvirt
 * shows in the live XML when the caller gave none. */
static void
set_live_listen(VbDeviceDef *dev)
{
    GPtrArray *ch = dev->extra.children;

    if (g_strcmp0(dev->type, "vnc") != 0 && g_strcmp0(dev->type, "spice") != 0)
        return;
    for (guint i = 0; ch != NULL && i < ch->len; i++) {
        if (strcmp(((VbRawElem *)g_ptr_array_index(ch, i))->name, "listen") == 0)
            return; /* the caller's own (address, socket or none) is what was used */
    }
    if (dev->listen == NULL)
        dev->listen = g_strdup("127.0.0.1");
    add_child(&dev->extra, raw_new("listen", 0, "type", "address", "address", dev->listen, NULL),
              TRUE);
}

/**
 * vb_domain_def_set_live:
 * @def: the live definition of a domain that is starting
 * @id: its runtime id
 *
 * Records what a running domain's XML shows as libvirt's does: <domain id=>, an <alias>
 * on every device that has a QEMU id (vb_domain_def_device_alias()), and the <listen> of
 * VNC/SPICE displays. All of it goes away with vb_domain_def_clear_runtime(). Call on the
 * live copy only, never on a persistent definition. Any thread, @def not shared.
 */
void
vb_domain_def_set_live(VbDomainDef *def, int id)
{
    GPtrArray *devs = def->priv->devices;

    def->priv->id = id;
    for (guint i = 0; i < devs->len; i++) {
        VbDeviceDef *dev = g_ptr_array_index(devs, i);
        const char *const *ranks = alias_ranks(dev->kind);
        g_autofree char *alias = NULL;

        if (dev->kind == VB_DEV_GRAPHICS)
            set_live_listen(dev);
        if (ranks == NULL || find_alias(dev, NULL) != NULL)
            continue;
        alias = vb_domain_def_device_alias(def, dev);
        if (alias != NULL)
            add_child(&dev->extra, raw_new("alias", VB_RANK(ranks, "alias"), "name", alias,
                                           NULL),
                      FALSE);
    }
}

/* Removes attribute @name from @extra; returns whether it was there. */
static gboolean
extra_remove_attr(VbExtra *extra, const char *name)
{
    for (guint i = 0; extra->attrs != NULL && i + 1 < extra->attrs->len; i += 2) {
        if (g_str_equal(g_ptr_array_index(extra->attrs, i), name)) {
            g_ptr_array_remove_range(extra->attrs, i, 2);
            return TRUE;
        }
    }
    return FALSE;
}

/*
 * Edits a kept element: @edit gets its root and returns TRUE when it changed something;
 * the element is then serialized again (same rank and line).
 */
static void
raw_edit(VbRawElem **praw, gboolean (*edit)(xmlNode *root))
{
    xmlDoc *doc = vb_raw_elem_parse(*praw);
    xmlNode *root = doc != NULL ? xmlDocGetRootElement(doc) : NULL;

    if (root != NULL && edit(root)) {
        VbRawElem *fresh = vb_raw_elem_new(root, (*praw)->rank);

        fresh->line = (*praw)->line;
        vb_raw_elem_free(*praw);
        *praw = fresh;
    }
    if (doc != NULL)
        xmlFreeDoc(doc);
}

static gboolean
is_runtime_alias(xmlNode *node)
{
    g_autofree char *name = NULL;

    if (!vb_xml_is(node, "alias"))
        return FALSE;
    name = vb_xml_prop(node, "name");
    return name == NULL || !g_str_has_prefix(name, "ua-");
}

/* drops the service's <alias> children of an element kept verbatim */
static gboolean
edit_drop_alias(xmlNode *root)
{
    gboolean changed = FALSE;
    gboolean elements = FALSE;

    for (xmlNode *c = root->children, *next; c != NULL; c = next) {
        next = c->next;
        if (is_runtime_alias(c)) {
            xmlUnlinkNode(c);
            xmlFreeNode(c);
            changed = TRUE;
        } else if (c->type == XML_ELEMENT_NODE) {
            elements = TRUE;
        }
    }
    /* nothing but the indentation left: an empty element, as libvirt writes it */
    if (changed && !elements) {
        for (xmlNode *c = root->children, *next; c != NULL; c = next) {
            next = c->next;
            if (xmlIsBlankNode(c)) {
                xmlUnlinkNode(c);
                xmlFreeNode(c);
            }
        }
    }
    return changed;
}

/* <listen type='network' address=>: the address is the network's, of this run only */
static gboolean
edit_listen_network(xmlNode *root)
{
    g_autofree char *type = vb_xml_prop(root, "type");

    return g_strcmp0(type, "network") == 0 && xmlUnsetProp(root, (const xmlChar *)"address") == 0;
}

/* interface <target dev='vnet0'/>: a name the host made up for this run */
static gboolean
edit_generated_ifname(xmlNode *root)
{
    g_autofree char *name = vb_xml_prop(root, "dev");
    g_autofree char *managed = vb_xml_prop(root, "managed");

    if (name == NULL || g_strcmp0(managed, "no") == 0 ||
        !(g_str_has_prefix(name, "vnet") || g_str_has_prefix(name, "macvtap") ||
          g_str_has_prefix(name, "macvlan")))
        return FALSE;
    xmlUnsetProp(root, (const xmlChar *)"dev");
    return TRUE;
}

/* a dynamic <seclabel>'s <label> and <imagelabel> are given at each start */
static gboolean
edit_seclabel(xmlNode *root)
{
    g_autofree char *type = vb_xml_prop(root, "type");
    gboolean changed = FALSE;

    if (g_strcmp0(type, "dynamic") != 0)
        return FALSE;
    for (xmlNode *c = root->children, *next; c != NULL; c = next) {
        next = c->next;
        if (vb_xml_is(c, "label") || vb_xml_is(c, "imagelabel")) {
            xmlUnlinkNode(c);
            xmlFreeNode(c);
            changed = TRUE;
        }
    }
    return changed;
}

static void
clear_device(VbDeviceDef *dev)
{
    GPtrArray *ch = dev->extra.children;
    guint idx;

    if (dev->kind == VB_DEV_UNKNOWN) {
        if (dev->raw != NULL)
            raw_edit(&dev->raw, edit_drop_alias);
        return;
    }
    while (find_alias(dev, &idx) != NULL) {
        const VbRawElem *raw = g_ptr_array_index(ch, idx);
        g_autofree char *name = vb_raw_elem_get_attr(raw, "name");

        if (name != NULL && g_str_has_prefix(name, "ua-"))
            break;
        g_ptr_array_remove_index(ch, idx);
    }
    for (guint i = 0; ch != NULL && i < ch->len; i++) {
        VbRawElem **p = (VbRawElem **)&ch->pdata[i];

        if (dev->kind == VB_DEV_GRAPHICS && strcmp((*p)->name, "listen") == 0)
            raw_edit(p, edit_listen_network);
        else if (dev->kind == VB_DEV_INTERFACE && strcmp((*p)->name, "target") == 0)
            raw_edit(p, edit_generated_ifname);
    }
    switch (dev->kind) {
    case VB_DEV_SERIAL:
    case VB_DEV_CONSOLE:
    case VB_DEV_CHANNEL:
        if (g_strcmp0(dev->type, "pty") == 0) {
            /* libvirt parses a pty's path from live XML only */
            g_clear_pointer(&dev->source_path, g_free);
            extra_remove_attr(&dev->source.extra, "path");
            if (dev->source.extra.attrs != NULL && dev->source.extra.attrs->len == 0 &&
                dev->source.extra.children == NULL)
                g_clear_pointer(&dev->source.extra.attrs, g_ptr_array_unref);
            if (dev->source.extra.attrs == NULL && dev->source.extra.children == NULL)
                dev->source.present = FALSE;
            extra_remove_attr(&dev->extra, "tty");
        }
        /* a virtio channel's state='connected' is the guest agent's, now */
        if (dev->kind == VB_DEV_CHANNEL)
            extra_remove_attr(&dev->target.extra, "state");
        /* the socket libvirt made up for a unix channel (qemuDomainChrDefDropDefaultPath):
         * a define from libvirt's dumpxml must not bind in libvirt's directories; the
         * start makes one in the domain's runtime directory instead */
        if (dev->kind == VB_DEV_CHANNEL && g_strcmp0(dev->type, "unix") == 0 &&
            g_strcmp0(dev->target_type, "virtio") == 0 && dev->source_path != NULL &&
            (g_str_has_prefix(dev->source_path, "/run/libvirt/qemu/channel/") ||
             g_str_has_prefix(dev->source_path, "/var/lib/libvirt/qemu/channel/target/"))) {
            g_clear_pointer(&dev->source_path, g_free);
            extra_remove_attr(&dev->source.extra, "path");
        }
        break;
    case VB_DEV_GRAPHICS:
        if (dev->autoport == 1) {
            dev->port = -1;
            extra_remove_attr(&dev->extra, "tlsPort");
        }
        break;
    case VB_DEV_DISK:
        extra_remove_attr(&dev->source.extra, "index");
        break;
    case VB_DEV_INTERFACE:
        extra_remove_attr(&dev->source.extra, "portid");
        /* the bridge of a virtual network is the running network's */
        if (g_strcmp0(dev->type, "network") == 0)
            extra_remove_attr(&dev->source.extra, "bridge");
        break;
    default:
        break;
    }
}

/**
 * vb_domain_def_clear_runtime:
 * @def: a definition
 *
 * Removes what only a running domain has, as libvirt's VIR_DOMAIN_DEF_PARSE_INACTIVE does
 * not read it from a persistent config: <domain id>, device <alias> (user ua- aliases
 * stay), the pty path of pty chardevs (and a console's tty=), the port of autoport
 * VNC/SPICE displays (and SPICE's tlsPort), the address of <listen type='network'>,
 * generated interface names (vnetN, macvtapN, macvlanN), interface <source portid=>, disk
 * <source index=>, a virtio channel's target state= and the socket path libvirt made up
 * for it (under /run/libvirt/qemu/channel/), a dynamic <seclabel>'s labels.
 * Idempotent. Any thread, @def not shared.
 */
void
vb_domain_def_clear_runtime(VbDomainDef *def)
{
    GPtrArray *top = def->priv->root_extra.children;
    GPtrArray *devs = def->priv->devices;

    def->priv->id = -1;
    for (guint i = 0; i < devs->len; i++)
        clear_device(g_ptr_array_index(devs, i));
    for (guint i = 0; top != NULL && i < top->len; i++) {
        VbRawElem **p = (VbRawElem **)&top->pdata[i];

        if (strcmp((*p)->name, "seclabel") == 0)
            raw_edit(p, edit_seclabel);
    }
}

/**
 * vb_domain_def_set_chardev_pty:
 * @def: a live definition
 * @label: the chardev id QEMU reports in query-chardev ("char" + the device's alias)
 * @path: the pty QEMU allocated
 *
 * Records a pty as <source path=> (and tty= on a console) of the pty chardevs whose QEMU
 * chardev is @label: a serial port and the console that is the same port.
 *
 * Returns: whether a device matched
 */
gboolean
vb_domain_def_set_chardev_pty(VbDomainDef *def, const char *label, const char *path)
{
    GPtrArray *devs = def->priv->devices;
    gboolean found = FALSE;

    for (guint i = 0; i < devs->len; i++) {
        VbDeviceDef *dev = g_ptr_array_index(devs, i);
        g_autofree char *alias = NULL;

        if (dev->kind != VB_DEV_SERIAL && dev->kind != VB_DEV_CONSOLE &&
            dev->kind != VB_DEV_CHANNEL)
            continue;
        alias = vb_domain_def_device_alias(def, dev);
        if (alias == NULL || !g_str_has_prefix(label, "char") || strcmp(label + 4, alias) != 0 ||
            g_strcmp0(dev->type, "pty") != 0)
            continue;
        g_free(dev->source_path);
        dev->source_path = g_strdup(path);
        dev->source.present = TRUE;
        extra_remove_attr(&dev->source.extra, "path");
        if (dev->source.extra.attrs == NULL)
            dev->source.extra.attrs = g_ptr_array_new_with_free_func(g_free);
        g_ptr_array_insert(dev->source.extra.attrs, 0, g_strdup(path));
        g_ptr_array_insert(dev->source.extra.attrs, 0, g_strdup("path"));
        if (dev->kind == VB_DEV_CONSOLE) {
            extra_remove_attr(&dev->extra, "tty");
            if (dev->extra.attrs == NULL)
                dev->extra.attrs = g_ptr_array_new_with_free_func(g_free);
            g_ptr_array_insert(dev->extra.attrs, 0, g_strdup(path));
            g_ptr_array_insert(dev->extra.attrs, 0, g_strdup("tty"));
        }
        found = TRUE;
    }
    return found;
}

/**
 * vb_domain_def_set_os_defaults:
 * @def: a definition being defined
 * @arch: (nullable): the architecture to write back when <type arch=> is missing
 * @machine: (nullable): the machine type to write back (a missing one, or the versioned
 *   name of an alias such as 'pc')
 *
 * Writes define-time defaults into <os><type>, as libvirt's post-parse does. Any thread,
 * @def not shared.
 */
void
vb_domain_def_set_os_defaults(VbDomainDef *def, const char *arch, const char *machine)
{
    if (arch != NULL && def->priv->os_arch == NULL)
        def->priv->os_arch = g_strdup(arch);
    if (machine != NULL && g_strcmp0(def->priv->os_machine, machine) != 0) {
        g_free(def->priv->os_machine);
        def->priv->os_machine = g_strdup(machine);
    }
}

/**
 * vb_domain_def_drop_line:
 * @def: a definition parsed from a caller's document
 * @line: a line of that document
 *
 * Removes the device (or kept top-level element) that starts at @line, so that a define-time
 * check can go on past the first thing it refuses and list every one. Any thread, @def not
 * shared.
 *
 * Returns: whether something was removed
 */
gboolean
vb_domain_def_drop_line(VbDomainDef *def, int line)
{
    GPtrArray *devs = def->priv->devices;
    GPtrArray *top = def->priv->root_extra.children;

    if (line <= 0)
        return FALSE;
    for (guint i = 0; i < devs->len; i++) {
        if (((VbDeviceDef *)g_ptr_array_index(devs, i))->line == line) {
            g_ptr_array_remove_index(devs, i);
            return TRUE;
        }
    }
    for (guint i = 0; top != NULL && i < top->len; i++) {
        if (((VbRawElem *)g_ptr_array_index(top, i))->line == line) {
            g_ptr_array_remove_index(top, i);
            return TRUE;
        }
    }
    return FALSE;
}

/**
 * vb_domain_def_set_disk_source:
 * @def: a live definition
 * @target_dev: the disk's <target dev>
 * @path: the image the disk now runs on
 * @format: (nullable): its format (<driver type>), or NULL to keep it
 *
 * Records the new image of a file disk after an active block commit's pivot (issue 15,
 * part blockjob).
 *
 * Returns: whether a file disk matched
 */
gboolean
vb_domain_def_set_disk_source(VbDomainDef *def, const char *target_dev, const char *path,
                              const char *format)
{
    GPtrArray *devs = def->priv->devices;

    for (guint i = 0; i < devs->len; i++) {
        VbDeviceDef *dev = g_ptr_array_index(devs, i);

        if (dev->kind != VB_DEV_DISK || g_strcmp0(dev->target_dev, target_dev) != 0 ||
            g_strcmp0(dev->type, "file") != 0)
            continue;
        g_free(dev->source_path);
        dev->source_path = g_strdup(path);
        extra_remove_attr(&dev->source.extra, "file");
        if (format != NULL) {
            g_free(dev->driver_type);
            dev->driver_type = g_strdup(format);
        }
        return TRUE;
    }
    return FALSE;
}
