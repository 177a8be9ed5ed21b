/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Formatting <devices>, and the "implicit controller" rule of the migratable format. */
#include "config.h"

#include <string.h>

#include "domain-def-priv.h"

typedef struct {
    GString *ch; /* children of the device element */
    const VbExtra *extra;
    const char *const *ranks;
    guint cursor;
} ChildCtx;

/* writes the kept children that libvirt puts before @name */
static void
before(ChildCtx *c, const char *name)
{
    vb_fmt_raws_before(c->ch, c->extra, name ? vb_rank_lookup(c->ranks, name) : G_MAXINT, 3,
                       &c->cursor);
}

static void
fmt_disk(ChildCtx *c, const VbDeviceDef *dev)
{
    const char *driver[] = { "name", dev->driver_name, "type", dev->driver_type, NULL };
    const char *attr = strcmp(dev->type, "file") == 0    ? "file"
                       : strcmp(dev->type, "block") == 0 ? "dev"
                                                         : "dir";
    const char *source[] = { attr, dev->source_path, NULL };
    const char *target[] = { "dev", dev->target_dev, "bus", dev->bus, NULL };

    before(c, "driver");
    vb_fmt_sub_elem(c->ch, 3, "driver", &dev->driver, driver);
    before(c, "source");
    vb_fmt_sub_elem(c->ch, 3, "source", &dev->source, source);
    before(c, "target");
    vb_fmt_sub_elem(c->ch, 3, "target", &dev->target, target);
    before(c, "readonly");
    if (dev->readonly)
        vb_fmt_empty_elem(c->ch, 3, "readonly");
    before(c, "shareable");
    if (dev->shareable)
        vb_fmt_empty_elem(c->ch, 3, "shareable");
}

static void
fmt_interface(ChildCtx *c, const VbDeviceDef *dev)
{
    const char *model[] = { "type", dev->model, NULL };
    const char *mac[] = { "address", dev->mac, NULL };
    VbSubElem mac_elem = dev->mac_elem;

    before(c, "mac");
    /* a MAC set in memory has no <mac> element of its own yet */
    mac_elem.present = dev->mac != NULL;
    vb_fmt_sub_elem(c->ch, 3, "mac", &mac_elem, mac);
    before(c, "source");
    vb_fmt_sub_elem(c->ch, 3, "source", &dev->source, NULL);
    before(c, "model");
    vb_fmt_sub_elem(c->ch, 3, "model", &dev->model_elem, model);
}

static void
fmt_chardev(ChildCtx *c, const VbDeviceDef *dev)
{
    g_autofree char *port = dev->target_port >= 0 ? g_strdup_printf("%d", dev->target_port)
                                                  : NULL;
    const char *target[] = { "type", dev->target_type, "port", port, "name", dev->target_name,
                             NULL };

    before(c, "source");
    vb_fmt_sub_elem(c->ch, 3, "source", &dev->source, NULL);
    before(c, "target");
    vb_fmt_sub_elem(c->ch, 3, "target", &dev->target, target);
}

static void
fmt_video(ChildCtx *c, const VbDeviceDef *dev)
{
    static const char *const order[] = { "type", "ram", "vram", "vram64", "vgamem", "heads",
                                         "primary", NULL };
    g_autofree char *vram = dev->vram ? g_strdup_printf("%u", dev->vram) : NULL;
    g_autofree char *heads = dev->heads ? g_strdup_printf("%u", dev->heads) : NULL;
    const char *model[] = { "type", dev->model, "vram", vram, "heads", heads, "primary",
                            dev->primary < 0 ? NULL : dev->primary ? "yes" : "no", NULL };
    g_autoptr(GString) mch = g_string_new(NULL);
    guint cur = 0;

    before(c, "model");
    if (!dev->model_elem.present)
        return;
    vb_fmt_indent(c->ch, 3);
    g_string_append(c->ch, "<model");
    vb_fmt_attrs_ordered(c->ch, order, model, &dev->model_elem.extra);
    vb_fmt_raws_before(mch, &dev->model_elem.extra, G_MAXINT, 4, &cur);
    vb_fmt_close(c->ch, 3, "model", mch);
}

static void
fmt_rng(ChildCtx *c, const VbDeviceDef *dev)
{
    const char *model[] = { "model", dev->backend_model, NULL };

    before(c, "backend");
    if (!dev->backend.present)
        return;
    if (dev->backend_text == NULL) {
        vb_fmt_sub_elem(c->ch, 3, "backend", &dev->backend, model);
        return;
    }
    vb_fmt_indent(c->ch, 3);
    g_string_append(c->ch, "<backend");
    vb_fmt_attrs_ordered(c->ch, (const char *const[]){ "model", NULL }, model,
                         &dev->backend.extra);
    g_string_append_c(c->ch, '>');
    vb_xml_escape(c->ch, dev->backend_text, FALSE, FALSE);
    g_string_append(c->ch, "</backend>\n");
}

static void
fmt_open_attrs(GString *buf, const VbDeviceDef *dev, guint flags)
{
    static const char *const graphics_order[] = {
        "type", "port", "tlsPort", "autoport", "websocket", "listen", "keymap", "sharePolicy",
        "defaultMode", "passwd", NULL
    };
    static const char *const none[] = { NULL };
    g_autofree char *a = NULL;

    switch (dev->kind) {
    case VB_DEV_DISK: {
        const char *m[] = { "type", dev->type, "device", dev->device, NULL };
        vb_fmt_attrs_ordered(buf, none, m, &dev->extra);
        break;
    }
    case VB_DEV_CONTROLLER: {
        g_autofree char *ports = dev->ports >= 0 ? g_strdup_printf("%d", dev->ports) : NULL;
        g_autofree char *vectors = dev->vectors >= 0 ? g_strdup_printf("%d", dev->vectors)
                                                     : NULL;
        a = g_strdup_printf("%u", dev->index);
        const char *m[] = { "type", dev->type, "index", a, "model", dev->model, "ports", ports,
                            "vectors", vectors, NULL };
        vb_fmt_attrs_ordered(buf, none, m, &dev->extra);
        break;
    }
    case VB_DEV_GRAPHICS: {
        a = dev->port >= 0 || dev->autoport == 1 ? g_strdup_printf("%d", dev->port) : NULL;
        const char *m[] = { "type", dev->type, "port", a, "autoport",
                            dev->autoport < 0 ? NULL : dev->autoport ? "yes" : "no", "listen",
                            dev->listen, "passwd",
                            (flags & VB_DOMAIN_DEF_FORMAT_SECURE) ? dev->passwd : NULL, NULL };
        vb_fmt_attrs_ordered(buf, graphics_order, m, &dev->extra);
        break;
    }
    case VB_DEV_INPUT: {
        const char *m[] = { "type", dev->type, "bus", dev->bus, NULL };
        vb_fmt_attrs_ordered(buf, none, m, &dev->extra);
        break;
    }
    case VB_DEV_WATCHDOG: {
        const char *m[] = { "model", dev->model, "action", dev->action, NULL };
        vb_fmt_attrs_ordered(buf, none, m, &dev->extra);
        break;
    }
    case VB_DEV_MEMBALLOON:
    case VB_DEV_RNG:
    case VB_DEV_PANIC:
    case VB_DEV_SOUND:
        vb_fmt_attr(buf, "model", dev->model);
        vb_fmt_extra_attrs(buf, &dev->extra);
        break;
    default:
        vb_fmt_attr(buf, "type", dev->type);
        vb_fmt_extra_attrs(buf, &dev->extra);
        break;
    }
}

/* libvirt's order of a device's children, by kind (the generic one for the others) */
const char *const *
vb_device_child_ranks(VbDeviceKind kind)
{
    switch (kind) {
    case VB_DEV_DISK: return vb_disk_ranks;
    case VB_DEV_CONTROLLER: return vb_controller_ranks;
    case VB_DEV_INTERFACE: return vb_interface_ranks;
    case VB_DEV_SERIAL:
    case VB_DEV_CONSOLE:
    case VB_DEV_CHANNEL: return vb_chardev_ranks;
    case VB_DEV_VIDEO: return vb_video_ranks;
    case VB_DEV_RNG: return vb_rng_ranks;
    case VB_DEV_FILESYSTEM: return vb_filesystem_ranks;
    case VB_DEV_SOUND: return vb_sound_ranks;
    default: return vb_generic_dev_ranks;
    }
}

static void
fmt_device(GString *buf, const VbDeviceDef *dev, guint flags)
{
    const char *name = vb_device_kind_names[dev->kind];
    g_autoptr(GString) ch = g_string_new(NULL);
    ChildCtx c = { ch, &dev->extra, vb_device_child_ranks(dev->kind), 0 };

    if (dev->kind == VB_DEV_UNKNOWN) {
        vb_fmt_raw(buf, dev->raw, 2);
        return;
    }
    vb_fmt_indent(buf, 2);
    g_string_append_printf(buf, "<%s", name);
    fmt_open_attrs(buf, dev, flags);
    switch (dev->kind) {
    case VB_DEV_DISK: fmt_disk(&c, dev); break;
    case VB_DEV_INTERFACE: fmt_interface(&c, dev); break;
    case VB_DEV_SERIAL:
    case VB_DEV_CONSOLE:
    case VB_DEV_CHANNEL: fmt_chardev(&c, dev); break;
    case VB_DEV_VIDEO: fmt_video(&c, dev); break;
    case VB_DEV_RNG: fmt_rng(&c, dev); break;
    default: break;
    }
    before(&c, "address");
    vb_fmt_address(ch, &dev->addr, 3);
    before(&c, NULL);
    vb_fmt_close(buf, 2, name, ch);
}

static gboolean
is_q35(const VbDomainDef *def)
{
    const char *m = def->priv->os_machine;
    return m != NULL && strstr(m, "q35") != NULL;
}

static gboolean
is_i440fx(const VbDomainDef *def)
{
    const char *m = def->priv->os_machine;
    const char *arch = def->priv->os_arch;

    if (arch != NULL && strcmp(arch, "x86_64") != 0 && strcmp(arch, "i686") != 0)
        return FALSE;
    return m == NULL || strcmp(m, "pc") == 0 || g_str_has_prefix(m, "pc-i440fx") ||
           g_str_has_prefix(m, "pc-0") || g_str_has_prefix(m, "pc-1");
}

static gboolean
pci_addr_is(const VbDeviceAddress *a, guint slot, guint function)
{
    if (a->type == VB_ADDR_NONE)
        return TRUE;
    return a->type == VB_ADDR_PCI && a->extra.attrs == NULL && a->domain == 0 && a->bus == 0 &&
           a->slot == slot && a->function == function;
}

/**
 * vb_device_is_implicit_controller:
 * @def: the domain
 * @dev: a device of @def
 *
 * Whether @dev is a controller the machine type has built in, which QEMU (and libvirt on the
 * destination) add on their own. The migratable format leaves these out, as libvirt's
 * qemuDomainDefFormatBufInternal() does for the USB and pci-root controllers:
 *  - i440fx ("pc*"): usb index 0 without model or piix3-uhci at 00:01.2; ide index 0 at
 *    00:01.1; pci-root index 0
 *  - q35: pcie-root index 0; sata index 0 at 00:1f.2
 * Only when nothing else is set on them (extra attributes or children other than <alias>)
 * and their address is the built-in one. virtio-serial controllers are always kept: their
 * PCI slot is guest ABI.
 */
gboolean
vb_device_is_implicit_controller(const VbDomainDef *def, const VbDeviceDef *dev)
{
    if (dev->kind != VB_DEV_CONTROLLER || dev->index != 0 || dev->extra.attrs != NULL ||
        dev->ports >= 0 || dev->vectors >= 0)
        return FALSE;
    for (guint i = 0; dev->extra.children != NULL && i < dev->extra.children->len; i++) {
        VbRawElem *raw = g_ptr_array_index(dev->extra.children, i);
        if (strcmp(raw->name, "alias") != 0)
            return FALSE;
    }
    if (is_i440fx(def)) {
        if (strcmp(dev->type, "usb") == 0)
            return (dev->model == NULL || strcmp(dev->model, "piix3-uhci") == 0) &&
                   pci_addr_is(&dev->addr, 1, 2);
        if (strcmp(dev->type, "ide") == 0)
            return pci_addr_is(&dev->addr, 1, 1);
        if (strcmp(dev->type, "pci") == 0)
            return g_strcmp0(dev->model, "pci-root") == 0 && dev->addr.type == VB_ADDR_NONE;
    } else if (is_q35(def)) {
        if (strcmp(dev->type, "pci") == 0)
            return g_strcmp0(dev->model, "pcie-root") == 0 && dev->addr.type == VB_ADDR_NONE;
        if (strcmp(dev->type, "sata") == 0)
            return pci_addr_is(&dev->addr, 0x1f, 2);
    }
    return FALSE;
}

static int
dev_rank(gconstpointer p)
{
    return ((const VbDeviceDef *)p)->rank;
}

/**
 * vb_domain_def_format_devices:
 * @buf: output
 * @def: the domain
 * @flags: #VbDomainDefFormatFlags
 *
 * Writes <devices>: emulator, then devices in libvirt's order of kinds, input order within
 * a kind; unknown devices at libvirt's position for their name, else last.
 */
void
vb_domain_def_format_devices(GString *buf, const VbDomainDef *def, guint flags)
{
    g_autoptr(GString) ch = g_string_new(NULL);
    g_autoptr(GPtrArray) sorted = g_ptr_array_new();
    GPtrArray *devs = def->priv->devices;

    for (guint i = 0; i < devs->len; i++)
        g_ptr_array_add(sorted, g_ptr_array_index(devs, i));
    vb_sort_by_rank(sorted, dev_rank);
    vb_fmt_text_elem(ch, 2, "emulator", def->priv->emulator);
    for (guint i = 0; i < sorted->len; i++) {
        const VbDeviceDef *dev = g_ptr_array_index(sorted, i);
        if ((flags & VB_DOMAIN_DEF_FORMAT_MIGRATABLE) &&
            vb_device_is_implicit_controller(def, dev))
            continue;
        fmt_device(ch, dev, flags);
    }
    vb_fmt_indent(buf, 1);
    g_string_append(buf, "<devices");
    vb_fmt_extra_attrs(buf, &def->priv->devices_extra);
    vb_fmt_close(buf, 1, "devices", ch);
}
