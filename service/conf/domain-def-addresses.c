/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Define-time defaults and device addresses, so the persistent XML carries everything the
 * guest sees (libvirt's post-parse + qemuDomainAssignAddresses, simplified).
 *
 * Rules, applied in this order (all deterministic except generated MACs):
 *  1. <interface> without <model>: model 'rtl8139' (libvirt's x86 default when the binary
 *     has it, qemuDomainDefaultNetModel()); without <mac>: a random 52:54:00:xx:xx:xx.
 *  2. Drive addresses for ide/sata/scsi/fdc disks without one, from the target name index
 *     (hda=0, sdb=1, ...): ide controller=i/4 bus=(i%4)/2 unit=i%2; sata controller=i/6
 *     unit=i%6; scsi controller=i/7 unit=i%7; fdc controller 0 unit=i.
 *  3. Controllers that the devices need and that are missing: pci-root (pc) / pcie-root
 *     (q35) index 0; scsi (model lsilogic), sata, ide (pc only) for the disks' drive
 *     addresses; fdc index 0 for a floppy on Q35 machines 2.4 and later (and plain 'q35');
 *     usb index 0 for USB input (piix3-uhci on pc, qemu-xhci on q35); virtio-serial when a
 *     virtio channel finds no free port. usb and scsi controllers without a model get the
 *     default model written.
 *  4. virtio-serial ports for virtio channels: the first free port >= 1 (port 0 is the
 *     console's) on the controllers in index order, within each one's ports (default 31).
 *  5. PCI addresses, all on bus 0, function 0, for every PCI device without one. Reserved:
 *     slot 0 (host bridge); pc: slot 1 (PIIX3: ide 01.1 and usb 01.2 are fixed there), slot
 *     2 for the primary video; q35: slot 1 for the primary video, slot 0x1f (ICH9 LPC,
 *     SATA 1f.2, SMBus). Then devices take the lowest free slot in document (= libvirt's
 *     kind) order. Unlike libvirt we do not put q35 devices behind pcie-root-ports.
 * Duplicate addresses are rejected by vb_domain_def_validate() at parse time.
 */
#include "config.h"

#include <string.h>

#include "domain-def-priv.h"
#include "vb-error.h"

#define VIRTIO_SERIAL_DEFAULT_PORTS 31

static int
dev_rank(gconstpointer p)
{
    return ((const VbDeviceDef *)p)->rank;
}

static VbDeviceDef *
find_controller(const VbDomainDef *def, const char *type, guint index)
{
    GPtrArray *devs = def->priv->devices;

    for (guint i = 0; i < devs->len; i++) {
        VbDeviceDef *dev = g_ptr_array_index(devs, i);

        if (dev->kind == VB_DEV_CONTROLLER && strcmp(dev->type, type) == 0 &&
            dev->index == index)
            return dev;
    }
    return NULL;
}

static VbDeviceDef *
add_controller(VbDomainDef *def, const char *type, guint index, const char *model)
{
    VbDeviceDef *dev = find_controller(def, type, index);

    if (dev != NULL)
        return dev;
    dev = vb_device_def_new(VB_DEV_CONTROLLER);
    dev->rank = vb_rank_lookup(vb_device_ranks, "controller");
    dev->type = g_strdup(type);
    dev->index = index;
    dev->model = g_strdup(model);
    g_ptr_array_add(def->priv->devices, dev);
    vb_sort_by_rank(def->priv->devices, dev_rank);
    return dev;
}

static void
set_drive(VbDeviceAddress *addr, guint controller, guint bus, guint unit)
{
    addr->type = VB_ADDR_DRIVE;
    addr->controller = controller;
    addr->bus = bus;
    addr->target = 0;
    addr->unit = unit;
}

static void
assign_interface_defaults(VbDeviceDef *dev)
{
    if (dev->model == NULL) {
        dev->model = g_strdup("rtl8139");
        dev->model_elem.present = TRUE;
    }
    if (dev->mac == NULL) {
        dev->mac = g_strdup_printf("52:54:00:%02x:%02x:%02x", g_random_int_range(0, 256),
                                   g_random_int_range(0, 256), g_random_int_range(0, 256));
        dev->mac_elem.present = TRUE;
    }
}

/* "sdb" -> 1, "hdaa" -> 26; -1 when malformed */
static int
disk_name_index(const char *name)
{
    static const char *const prefixes[] = { "hd", "sd", "vd", "fd", "xvd", NULL };
    const char *p = NULL;
    int idx = 0;

    for (guint i = 0; prefixes[i] != NULL && p == NULL; i++) {
        if (g_str_has_prefix(name, prefixes[i]))
            p = name + strlen(prefixes[i]);
    }
    if (p == NULL || *p == '\0')
        return -1;
    for (; *p >= 'a' && *p <= 'z' && idx < 100000; p++)
        idx = idx * 26 + (*p - 'a' + 1);
    return *p == '\0' ? idx - 1 : -1;
}

static gboolean
assign_drive_address(VbDomainDef *def, VbDeviceDef *dev, GError **error)
{
    int idx = disk_name_index(dev->target_dev);
    gboolean q35 = vb_domain_def_is_q35(def);

    if (dev->addr.type != VB_ADDR_NONE) {
        if (dev->addr.type == VB_ADDR_DRIVE)
            goto controllers;
        return TRUE;
    }
    if (strcmp(dev->bus, "ide") != 0 && strcmp(dev->bus, "sata") != 0 &&
        strcmp(dev->bus, "scsi") != 0 && strcmp(dev->bus, "fdc") != 0)
        return TRUE; /* no drive address on this bus (virtio, usb, sd, ...) */
    if (idx < 0) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                    "line %d: <disk>: cannot derive an address from target dev '%s'",
                    dev->line, dev->target_dev);
        return FALSE;
    }
    if (strcmp(dev->bus, "ide") == 0)
        set_drive(&dev->addr, idx / 4, (idx % 4) / 2, idx % 2);
    else if (strcmp(dev->bus, "sata") == 0)
        set_drive(&dev->addr, idx / 6, 0, idx % 6);
    else if (strcmp(dev->bus, "scsi") == 0)
        set_drive(&dev->addr, idx / 7, 0, idx % 7);
    else if (strcmp(dev->bus, "fdc") == 0)
        set_drive(&dev->addr, 0, 0, idx);
    else
        return TRUE;
controllers:
    /* the controller this address needs must fit a controller index, or the stored
     * definition would not load again */
    if (dev->addr.controller > VB_CONTROLLER_INDEX_MAX &&
        (strcmp(dev->bus, "scsi") == 0 || strcmp(dev->bus, "sata") == 0 ||
         strcmp(dev->bus, "ide") == 0)) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                    "line %d: <disk>: target dev '%s' needs %s controller %u; the largest "
                    "controller index is %u", dev->line, dev->target_dev, dev->bus,
                    dev->addr.controller, VB_CONTROLLER_INDEX_MAX);
        return FALSE;
    }
    if (strcmp(dev->bus, "scsi") == 0)
        add_controller(def, "scsi", dev->addr.controller, NULL);
    else if (strcmp(dev->bus, "sata") == 0)
        add_controller(def, "sata", dev->addr.controller, NULL);
    else if (strcmp(dev->bus, "ide") == 0 && !q35)
        add_controller(def, "ide", dev->addr.controller, NULL);
    else if (strcmp(dev->bus, "fdc") == 0 && q35 && !vb_domain_def_q35_has_builtin_fdc(def))
        add_controller(def, "fdc", 0, NULL);
    return TRUE;
}

static void
assign_controller_models(VbDomainDef *def)
{
    GPtrArray *devs = def->priv->devices;
    gboolean q35 = vb_domain_def_is_q35(def);

    for (guint i = 0; i < devs->len; i++) {
        VbDeviceDef *dev = g_ptr_array_index(devs, i);

        if (dev->kind != VB_DEV_CONTROLLER || dev->model != NULL)
            continue;
        if (strcmp(dev->type, "usb") == 0)
            dev->model = g_strdup(q35 ? "qemu-xhci" : "piix3-uhci");
        else if (strcmp(dev->type, "pci") == 0 && dev->index == 0)
            dev->model = g_strdup(q35 ? "pcie-root" : "pci-root");
        else if (strcmp(dev->type, "pci") == 0)
            dev->model = g_strdup(q35 ? "pcie-root-port" : "pci-bridge");
        else if (strcmp(dev->type, "scsi") == 0)
            dev->model = g_strdup("lsilogic");
    }
}

static gboolean
vs_port_used(GPtrArray *devs, guint controller, guint port)
{
    for (guint i = 0; i < devs->len; i++) {
        const VbDeviceDef *d = g_ptr_array_index(devs, i);

        if (d->addr.type == VB_ADDR_VIRTIO_SERIAL && d->addr.controller == controller &&
            d->addr.port == port)
            return TRUE;
    }
    return FALSE;
}

/* the first free port >= 1 of virtio-serial controller @index (port 0 is a console's) */
static gboolean
vs_find_free_on(VbDomainDef *def, guint index, guint *out_port)
{
    const VbDeviceDef *ctl = find_controller(def, "virtio-serial", index);
    guint ports;

    if (ctl == NULL)
        return FALSE;
    ports = ctl->ports >= 0 ? (guint)ctl->ports : VIRTIO_SERIAL_DEFAULT_PORTS;
    for (guint port = 1; port < ports; port++) {
        if (!vs_port_used(def->priv->devices, index, port)) {
            *out_port = port;
            return TRUE;
        }
    }
    return FALSE;
}

static gboolean
vs_find_free(VbDomainDef *def, guint *out_controller, guint *out_port)
{
    for (guint index = 0; index < 256; index++) {
        if (vs_find_free_on(def, index, out_port)) {
            *out_controller = index;
            return TRUE;
        }
    }
    return FALSE;
}

static guint
next_controller_index(const VbDomainDef *def, const char *type)
{
    guint index = 0;

    while (find_controller(def, type, index) != NULL)
        index++;
    return index;
}

static gboolean
is_virtio_serial_user(const VbDeviceDef *dev)
{
    return (dev->kind == VB_DEV_CHANNEL && g_strcmp0(dev->target_type, "virtio") == 0) ||
           (dev->kind == VB_DEV_CONSOLE && g_strcmp0(dev->target_type, "virtio") == 0);
}

static gboolean
assign_virtio_serial(VbDomainDef *def, GError **error)
{
    GPtrArray *devs = def->priv->devices;

    for (guint i = 0; i < devs->len; i++) {
        VbDeviceDef *dev = g_ptr_array_index(devs, i);
        guint controller;
        guint port;

        if (!is_virtio_serial_user(dev))
            continue;
        if (dev->addr.type == VB_ADDR_VIRTIO_SERIAL &&
            dev->addr.controller > VB_CONTROLLER_INDEX_MAX) {
            g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                        "line %d: <%s>: virtio-serial controller %u does not exist; the "
                        "largest controller index is %u", dev->line, vb_device_def_describe(dev),
                        dev->addr.controller, VB_CONTROLLER_INDEX_MAX);
            return FALSE;
        }
        /* the controller the address names, or 0 (virDomainDefAddImplicitControllers) */
        add_controller(def, "virtio-serial",
                       dev->addr.type == VB_ADDR_VIRTIO_SERIAL ? dev->addr.controller : 0,
                       NULL);
        /* consoles sit on port 0 of controller 0 implicitly, like libvirt */
        if (dev->kind != VB_DEV_CHANNEL)
            continue;
        if (dev->addr.type == VB_ADDR_VIRTIO_SERIAL && dev->addr.port == 0) {
            /* a controller without a port: its first free one (libvirt's
             * virDomainVirtioSerialAddrNextFromController()) */
            if (!vs_find_free_on(def, dev->addr.controller, &dev->addr.port)) {
                g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                            "line %d: <channel>: virtio-serial controller %u has no free port",
                            dev->line, dev->addr.controller);
                return FALSE;
            }
            continue;
        }
        if (dev->addr.type != VB_ADDR_NONE)
            continue;
        if (!vs_find_free(def, &controller, &port)) {
            add_controller(def, "virtio-serial", next_controller_index(def, "virtio-serial"),
                           NULL);
            if (!vs_find_free(def, &controller, &port)) {
                g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                            "line %d: <channel>: no free virtio-serial port", dev->line);
                return FALSE;
            }
        }
        dev->addr.type = VB_ADDR_VIRTIO_SERIAL;
        dev->addr.controller = controller;
        dev->addr.bus = 0;
        dev->addr.port = port;
    }
    return TRUE;
}

/*
 * A sound device without an <audio> backend gets libvirt 9.0's default
 * (qemuDomainDefSuggestDefaultAudioBackend() with the stock qemu.conf): 'spice' when the
 * last VNC or SPICE display is SPICE, else 'none'.
 */
static void
add_default_audio(VbDomainDef *def)
{
    GPtrArray *devs = def->priv->devices;
    const char *type = "none";
    gboolean sound = FALSE;
    VbDeviceDef *dev;
    xmlNode *node;

    for (guint i = 0; i < devs->len; i++) {
        const VbDeviceDef *d = g_ptr_array_index(devs, i);

        if (d->kind == VB_DEV_UNKNOWN && strcmp(d->raw->name, "audio") == 0)
            return;
        if (d->kind == VB_DEV_SOUND)
            sound = TRUE;
        if (d->kind == VB_DEV_GRAPHICS && strcmp(d->type, "spice") == 0)
            type = "spice";
        else if (d->kind == VB_DEV_GRAPHICS && strcmp(d->type, "vnc") == 0)
            type = "none";
    }
    if (!sound)
        return;
    node = xmlNewNode(NULL, (const xmlChar *)"audio");
    xmlNewProp(node, (const xmlChar *)"id", (const xmlChar *)"1");
    xmlNewProp(node, (const xmlChar *)"type", (const xmlChar *)type);
    dev = vb_device_def_new(VB_DEV_UNKNOWN);
    dev->rank = VB_RANK(vb_device_ranks, "audio");
    dev->raw = vb_raw_elem_new(node, dev->rank);
    dev->raw->line = 0;
    xmlFreeNode(node);
    g_ptr_array_add(devs, dev);
    g_ptr_array_add(def->unknown_elements, g_strdup("audio"));
}

static void
extra_copy(VbExtra *dst, const VbExtra *src)
{
    if (src->attrs != NULL) {
        dst->attrs = g_ptr_array_new_with_free_func(g_free);
        for (guint i = 0; i < src->attrs->len; i++)
            g_ptr_array_add(dst->attrs, g_strdup(g_ptr_array_index(src->attrs, i)));
    }
    if (src->children != NULL) {
        dst->children = g_ptr_array_new_with_free_func((GDestroyNotify)vb_raw_elem_free);
        for (guint i = 0; i < src->children->len; i++) {
            const VbRawElem *r = g_ptr_array_index(src->children, i);
            VbRawElem *c = g_new0(VbRawElem, 1);

            c->rank = r->rank;
            c->name = g_strdup(r->name);
            c->xml = g_strdup(r->xml);
            c->line = r->line;
            g_ptr_array_add(dst->children, c);
        }
    }
}

/*
 * libvirt's virDomainDefAddConsoleCompat(): a serial console without any <serial> is the
 * first serial port, so a <serial> with its source is written next to it.
 */
static void
assign_console_serial(VbDomainDef *def)
{
    GPtrArray *devs = def->priv->devices;
    const VbDeviceDef *con = vb_domain_def_serial_console(def);
    VbDeviceDef *serial;

    if (con == NULL)
        return;
    for (guint i = 0; i < devs->len; i++) {
        if (((const VbDeviceDef *)g_ptr_array_index(devs, i))->kind == VB_DEV_SERIAL)
            return;
    }
    serial = vb_device_def_new(VB_DEV_SERIAL);
    serial->rank = vb_rank_lookup(vb_device_ranks, "serial");
    serial->line = con->line;
    serial->type = g_strdup(con->type);
    serial->source.present = con->source.present;
    extra_copy(&serial->source.extra, &con->source.extra);
    serial->source_path = g_strdup(con->source_path);
    serial->target.present = TRUE;
    serial->target_type = g_strdup("isa-serial");
    serial->target_port = 0;
    g_ptr_array_add(devs, serial);
    vb_sort_by_rank(devs, dev_rank);
}

static gboolean
assign_defaults(VbDomainDef *def, GError **error)
{
    GPtrArray *devs = def->priv->devices;
    gboolean q35 = vb_domain_def_is_q35(def);
    gboolean usb_needed = FALSE;
    gboolean ccid_needed = FALSE;

    if (find_controller(def, "pci", 0) == NULL)
        add_controller(def, "pci", 0, q35 ? "pcie-root" : "pci-root");
    for (guint i = 0; i < devs->len; i++) {
        VbDeviceDef *dev = g_ptr_array_index(devs, i);

        if (dev->kind == VB_DEV_INTERFACE)
            assign_interface_defaults(dev);
        else if (dev->kind == VB_DEV_DISK && !assign_drive_address(def, dev, error))
            return FALSE;
        else if ((dev->kind == VB_DEV_INPUT || dev->kind == VB_DEV_DISK) &&
                 g_strcmp0(dev->bus, "usb") == 0)
            usb_needed = TRUE;
        else if (dev->kind == VB_DEV_SOUND && g_strcmp0(dev->model, "usb") == 0)
            usb_needed = TRUE;
        else if (dev->kind == VB_DEV_UNKNOWN && (strcmp(dev->raw->name, "redirdev") == 0 ||
                                                 strcmp(dev->raw->name, "smartcard") == 0))
            usb_needed = TRUE;
        if (dev->kind == VB_DEV_UNKNOWN && strcmp(dev->raw->name, "smartcard") == 0)
            ccid_needed = TRUE;
    }
    /* libvirt adds the reader a smartcard sits on */
    if (ccid_needed)
        add_controller(def, "ccid", 0, NULL);
    add_default_audio(def);
    if (usb_needed)
        add_controller(def, "usb", 0, NULL);
    assign_console_serial(def);
    assign_controller_models(def);
    return assign_virtio_serial(def, error);
}

/**
 * vb_device_needs_pci:
 * @def: the domain
 * @dev: one of its devices
 *
 * Returns: whether @dev is a PCI device on x86 (and so gets a PCI address)
 */
gboolean
vb_device_needs_pci(const VbDomainDef *def, const VbDeviceDef *dev)
{
    switch (dev->kind) {
    case VB_DEV_DISK:
        return g_strcmp0(dev->bus, "virtio") == 0;
    case VB_DEV_CONTROLLER:
        if (strcmp(dev->type, "pci") == 0)
            return g_strcmp0(dev->model, "pci-root") != 0 &&
                   g_strcmp0(dev->model, "pcie-root") != 0;
        if (strcmp(dev->type, "usb") == 0)
            return g_strcmp0(dev->model, "none") != 0;
        if (strcmp(dev->type, "ide") == 0)
            return !vb_domain_def_is_q35(def);
        return strcmp(dev->type, "virtio-serial") == 0 || strcmp(dev->type, "scsi") == 0 ||
               strcmp(dev->type, "sata") == 0;
    case VB_DEV_INTERFACE:
        return TRUE;
    case VB_DEV_VIDEO:
        return g_strcmp0(dev->model, "none") != 0 && g_strcmp0(dev->model, "ramfb") != 0;
    case VB_DEV_WATCHDOG:
        return g_strcmp0(dev->model, "i6300esb") == 0;
    case VB_DEV_MEMBALLOON:
        return g_strcmp0(dev->model, "none") != 0;
    case VB_DEV_RNG:
        return TRUE;
    case VB_DEV_INPUT:
        return g_strcmp0(dev->bus, "virtio") == 0;
    case VB_DEV_PANIC:
        return g_strcmp0(dev->model, "pvpanic") == 0;
    case VB_DEV_FILESYSTEM:
        /* virtio-9p-pci and vhost-user-fs-pci; other types do not start */
        return dev->type == NULL || strcmp(dev->type, "mount") == 0;
    case VB_DEV_SOUND:
        /* the ISA (sb16, pcspk) and USB ones have no PCI address */
        return g_strcmp0(dev->model, "es1370") == 0 || g_strcmp0(dev->model, "ac97") == 0 ||
               g_strcmp0(dev->model, "ich6") == 0 || g_strcmp0(dev->model, "ich9") == 0;
    default:
        return FALSE;
    }
}

/**
 * vb_domain_def_primary_video:
 * @def: the domain
 *
 * Returns: (nullable): the primary <video> (primary='yes', else the first one)
 */
const VbDeviceDef *
vb_domain_def_primary_video(const VbDomainDef *def)
{
    const VbDeviceDef *first = NULL;

    for (guint i = 0; i < def->priv->devices->len; i++) {
        const VbDeviceDef *dev = g_ptr_array_index(def->priv->devices, i);

        if (dev->kind != VB_DEV_VIDEO)
            continue;
        if (dev->primary == 1)
            return dev;
        if (first == NULL)
            first = dev;
    }
    return first;
}

/**
 * vb_domain_def_assign_addresses:
 * @def: a definition being defined (persistent)
 * @error: error
 *
 * Fills in defaults and addresses as described at the top of this file, so the persistent
 * XML carries them. Idempotent: a second call changes nothing. Call it once when a domain
 * is defined, before it is stored.
 */
gboolean
vb_domain_def_assign_addresses(VbDomainDef *def, GError **error)
{
    if (!assign_defaults(def, error) || !vb_domain_def_assign_pci(def, error))
        return FALSE;
    return vb_domain_def_validate(def, error);
}
