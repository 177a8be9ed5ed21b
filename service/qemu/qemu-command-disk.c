/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Controllers and disks. Disks are two -blockdev nodes (protocol "libvirt-N-storage", format
 * "libvirt-N-format", N counting down from the number of disks with media, as libvirt
 * numbers them) and a -device on the disk's bus.
 */
#include "config.h"

#include <string.h>

#include "qemu-command-priv.h"
#include "vb-error.h"

static const VbDeviceDef *
find_controller(const VbQemuCmd *c, const char *type, guint index)
{
    GPtrArray *devs = c->def->priv->devices;

    for (guint i = 0; i < devs->len; i++) {
        const VbDeviceDef *dev = g_ptr_array_index(devs, i);

        if (dev->kind == VB_DEV_CONTROLLER && strcmp(dev->type, type) == 0 &&
            dev->index == index)
            return dev;
    }
    return NULL;
}

/* an attribute of the controller's kept <target> child (pcie-root-port chassis/port) */
static int
controller_target_attr(const VbDeviceDef *dev, const char *name, int fallback)
{
    GPtrArray *ch = dev->extra.children;

    for (guint i = 0; ch != NULL && i < ch->len; i++) {
        const VbRawElem *raw = g_ptr_array_index(ch, i);
        g_autofree char *v = NULL;

        if (strcmp(raw->name, "target") == 0 && (v = vb_raw_elem_get_attr(raw, name)) != NULL)
            return (int)g_ascii_strtoll(v, NULL, 0);
    }
    return fallback;
}

/* the text of <node> in the controller's kept <target> (pxb numa_node), or -1 */
static int
controller_target_node(const VbDeviceDef *dev)
{
    GPtrArray *ch = dev->extra.children;

    for (guint i = 0; ch != NULL && i < ch->len; i++) {
        const VbRawElem *raw = g_ptr_array_index(ch, i);
        xmlDoc *doc;
        int node = -1;

        if (strcmp(raw->name, "target") != 0 || (doc = vb_raw_elem_parse(raw)) == NULL)
            continue;
        for (xmlNode *c = xmlDocGetRootElement(doc)->children; c != NULL; c = c->next) {
            if (c->type == XML_ELEMENT_NODE && strcmp((const char *)c->name, "node") == 0) {
                xmlChar *t = xmlNodeGetContent(c);

                node = (int)g_ascii_strtoll((const char *)t, NULL, 10);
                xmlFree(t);
            }
        }
        xmlFreeDoc(doc);
        return node;
    }
    return -1;
}

/* "hotplug" of a root or downstream port's <target hotplug=>: -1 unset */
static int
controller_target_hotplug(const VbDeviceDef *dev)
{
    GPtrArray *ch = dev->extra.children;

    for (guint i = 0; ch != NULL && i < ch->len; i++) {
        const VbRawElem *raw = g_ptr_array_index(ch, i);
        g_autofree char *v = NULL;

        if (strcmp(raw->name, "target") == 0 &&
            (v = vb_raw_elem_get_attr(raw, "hotplug")) != NULL)
            return strcmp(v, "on") == 0 ? 1 : strcmp(v, "off") == 0 ? 0 : -1;
    }
    return -1;
}

/* PCI controllers as libvirt 9.0 builds them (qemuBuildControllerPCIDevProps) */
static gboolean
build_pci_controller(VbQemuCmd *c, const VbDeviceDef *dev, GString *j, GError **error)
{
    const char *model = dev->model != NULL ? dev->model : "";
    g_autofree char *id = g_strdup_printf("pci.%u", dev->index);
    gboolean root_port = strcmp(model, "pcie-root-port") == 0;

    if ((root_port || strcmp(model, "pcie-switch-downstream-port") == 0) &&
        (c->q35 || !root_port)) {
        int port = (int)(dev->addr.slot << 3 | dev->addr.function);
        int hotplug = controller_target_hotplug(dev);

        vb_json_str(j, "driver", root_port ? "pcie-root-port" : "xio3130-downstream");
        vb_json_int(j, "port", controller_target_attr(dev, "port", port));
        vb_json_int(j, "chassis", controller_target_attr(dev, "chassis", (int)dev->index));
        vb_json_str(j, "id", id);
        if (hotplug >= 0)
            vb_json_bool(j, "hotplug", hotplug);
        return TRUE;
    }
    if (strcmp(model, "pci-bridge") == 0) {
        vb_json_str(j, "driver", "pci-bridge");
        vb_json_int(j, "chassis_nr", controller_target_attr(dev, "chassisNr",
                                                            (int)dev->index));
    } else if (strcmp(model, "pci-expander-bus") == 0 ||
               strcmp(model, "pcie-expander-bus") == 0) {
        int node = controller_target_node(dev);
        int bus_nr = controller_target_attr(dev, "busNr", -1);

        if (bus_nr < 0)
            return vb_qemu_cmd_unsupported(error, dev, "a %s needs <target busNr=>", model);
        vb_json_str(j, "driver", model[3] == 'e' ? "pxb-pcie" : "pxb");
        vb_json_int(j, "bus_nr", bus_nr);
        vb_json_str(j, "id", id);
        if (node >= 0)
            vb_json_int(j, "numa_node", node);
        return TRUE;
    } else if (strcmp(model, "pcie-to-pci-bridge") == 0 && c->q35) {
        vb_json_str(j, "driver", "pcie-pci-bridge");
    } else if (strcmp(model, "dmi-to-pci-bridge") == 0 && c->q35) {
        vb_json_str(j, "driver", "i82801b11-bridge");
    } else if (strcmp(model, "pcie-switch-upstream-port") == 0) {
        vb_json_str(j, "driver", "x3130-upstream");
    } else {
        return vb_qemu_cmd_unsupported(error, dev, "PCI controller model '%s' is not "
                                       "supported on this machine type", model);
    }
    vb_json_str(j, "id", id);
    return TRUE;
}

static const char *
usb_device_name(const VbQemuCmd *c, const char *model)
{
    static const char *const map[] = {
        "piix3-uhci", "piix3-usb-uhci", "piix4-uhci", "piix4-usb-uhci",
        "qemu-xhci", "qemu-xhci", "nec-xhci", "nec-usb-xhci", "ich9-ehci1", "ich9-usb-ehci1",
        "ich9-uhci1", "ich9-usb-uhci1", "ich9-uhci2", "ich9-usb-uhci2", "ich9-uhci3",
        "ich9-usb-uhci3", "piix4-uhci", "piix4-usb-uhci", "vt82c686b-uhci", "vt82c686b-usb-uhci",
        "pci-ohci", "pci-ohci", NULL
    };

    if (model == NULL)
        return c->q35 ? "qemu-xhci" : "piix3-usb-uhci";
    for (guint i = 0; map[i] != NULL; i += 2) {
        if (strcmp(map[i], model) == 0)
            return map[i + 1];
    }
    return NULL;
}

/* controllers QEMU's machine type has built in: nothing on the command line */
static gboolean
controller_is_builtin(const VbQemuCmd *c, const VbDeviceDef *dev)
{
    if (dev->index != 0)
        return FALSE;
    if (strcmp(dev->type, "pci") == 0)
        return g_strcmp0(dev->model, c->q35 ? "pcie-root" : "pci-root") == 0;
    if (strcmp(dev->type, "sata") == 0)
        return c->q35 && (dev->addr.type == VB_ADDR_NONE ||
                          (dev->addr.slot == 0x1f && dev->addr.function == 2));
    if (strcmp(dev->type, "ide") == 0 || strcmp(dev->type, "fdc") == 0)
        return !c->q35 || (strcmp(dev->type, "fdc") == 0 &&
                           vb_domain_def_q35_has_builtin_fdc(c->def));
    return FALSE;
}

static gboolean
build_controller_props(VbQemuCmd *c, const VbDeviceDef *dev, GString *j, GError **error)
{
    const char *type = dev->type;
    g_autofree char *id = NULL;

    if (strcmp(type, "pci") == 0)
        return build_pci_controller(c, dev, j, error);
    if (strcmp(type, "usb") == 0) {
        const char *name = usb_device_name(c, dev->model);

        if (name == NULL)
            return vb_qemu_cmd_unsupported(error, dev, "USB model '%s' is not supported",
                                           dev->model);
        vb_json_str(j, "driver", name);
        if (vb_controller_master(dev) != NULL) {
            /* a USB2 companion: no id, on its master's bus (qemuBuildUSBControllerDevProps) */
            g_autofree char *start = vb_raw_elem_get_attr(vb_controller_master(dev),
                                                          "startport");
            g_autofree char *bus = dev->index == 0 ? g_strdup("usb.0")
                                                   : g_strdup_printf("usb%u.0", dev->index);

            vb_json_str(j, "masterbus", bus);
            vb_json_int(j, "firstport", start != NULL ? (int)g_ascii_strtoll(start, NULL, 0) : 0);
            return TRUE;
        }
        if (strstr(name, "xhci") != NULL && dev->ports > 0) {
            vb_json_int(j, "p2", dev->ports);
            vb_json_int(j, "p3", dev->ports);
        }
        id = dev->index == 0 ? g_strdup("usb") : g_strdup_printf("usb%u", dev->index);
    } else if (strcmp(type, "virtio-serial") == 0) {
        vb_json_str(j, "driver", "virtio-serial-pci");
        id = g_strdup_printf("virtio-serial%u", dev->index);
    } else if (strcmp(type, "scsi") == 0) {
        const char *model = dev->model != NULL ? dev->model : "lsilogic";

        if (strcmp(model, "virtio-scsi") != 0 && strcmp(model, "lsilogic") != 0)
            return vb_qemu_cmd_unsupported(error, dev, "SCSI model '%s' is not supported",
                                           model);
        vb_json_str(j, "driver", strcmp(model, "lsilogic") == 0 ? "lsi53c895a" : "virtio-scsi-pci");
        id = g_strdup_printf("scsi%u", dev->index);
    } else if (strcmp(type, "sata") == 0) {
        vb_json_str(j, "driver", "ich9-ahci");
        id = g_strdup_printf("sata%u", dev->index);
    } else if (strcmp(type, "fdc") == 0 && dev->index == 0) {
        vb_json_str(j, "driver", "isa-fdc");
        vb_json_str(j, "id", "fdc0");
        return TRUE; /* an ISA device: no PCI address */
    } else {
        return vb_qemu_cmd_unsupported(error, dev, "%s controller index %u is not supported"
                                       " on this machine type", type, dev->index);
    }
    vb_json_str(j, "id", id);
    if (strcmp(type, "virtio-serial") == 0) {
        if (dev->ports >= 0)
            vb_json_int(j, "max_ports", dev->ports);
        if (dev->vectors >= 0)
            vb_json_int(j, "vectors", dev->vectors);
    }
    return TRUE;
}

static gboolean
build_controller(VbQemuCmd *c, const VbDeviceDef *dev, GError **error)
{
    static const char *const ok_children[] = { "model", "target", "master", NULL };
    GString *j;

    if (!vb_qemu_cmd_check_extra(dev, &dev->extra, NULL, NULL, ok_children, error))
        return FALSE;
    if (controller_is_builtin(c, dev) ||
        (strcmp(dev->type, "usb") == 0 && g_strcmp0(dev->model, "none") == 0))
        return TRUE;
    j = vb_json_new();
    if (!build_controller_props(c, dev, j, error) ||
        (strcmp(dev->type, "fdc") != 0 && !vb_qemu_cmd_pci_props(c, j, dev, error))) {
        g_string_free(j, TRUE);
        return FALSE;
    }
    return vb_qemu_cmd_add_device(c, dev, j, error);
}

static const VbDeviceDef *
find_usb_master(const VbQemuCmd *c, guint index)
{
    GPtrArray *devs = c->def->priv->devices;

    for (guint i = 0; i < devs->len; i++) {
        const VbDeviceDef *dev = g_ptr_array_index(devs, i);

        if (dev->kind == VB_DEV_CONTROLLER && strcmp(dev->type, "usb") == 0 &&
            dev->index == index && vb_controller_master(dev) == NULL)
            return dev;
    }
    return NULL;
}

static gboolean
build_usb_companions(VbQemuCmd *c, guint index, GError **error)
{
    GPtrArray *devs = c->def->priv->devices;

    for (guint i = 0; i < devs->len; i++) {
        const VbDeviceDef *dev = g_ptr_array_index(devs, i);

        if (dev->kind == VB_DEV_CONTROLLER && strcmp(dev->type, "usb") == 0 &&
            dev->index == index && vb_controller_master(dev) != NULL &&
            !build_controller(c, dev, error))
            return FALSE;
    }
    return TRUE;
}

/**
 * vb_qemu_cmd_build_controllers:
 * @c: the command being built
 * @error: error
 *
 * PCI controllers first (other devices sit on their buses), then the rest in order.
 */
gboolean
vb_qemu_cmd_build_controllers(VbQemuCmd *c, GError **error)
{
    GPtrArray *devs = c->def->priv->devices;

    for (guint pass = 0; pass < 2; pass++) {
        for (guint i = 0; i < devs->len; i++) {
            const VbDeviceDef *dev = g_ptr_array_index(devs, i);

            if (dev->kind != VB_DEV_CONTROLLER || (strcmp(dev->type, "pci") == 0) != !pass)
                continue;
            /* USB2 companions come right after their master, as libvirt orders them */
            if (strcmp(dev->type, "usb") == 0 && vb_controller_master(dev) != NULL &&
                find_usb_master(c, dev->index) != NULL)
                continue;
            if (!build_controller(c, dev, error))
                return FALSE;
            if (strcmp(dev->type, "usb") == 0 && vb_controller_master(dev) == NULL &&
                !build_usb_companions(c, dev->index, error))
                return FALSE;
        }
    }
    return TRUE;
}

/* cache= of <driver>: the blockdev "cache" object and the device's write-cache */
static gboolean
cache_mode(const char *mode, gboolean *direct, gboolean *no_flush, gboolean *wce)
{
    static const struct {
        const char *name;
        gboolean direct, no_flush, wce;
    } modes[] = {
        { "none", TRUE, FALSE, TRUE },          { "writeback", FALSE, FALSE, TRUE },
        { "writethrough", FALSE, FALSE, FALSE }, { "directsync", TRUE, FALSE, FALSE },
        { "unsafe", FALSE, TRUE, TRUE },
    };

    for (guint i = 0; i < G_N_ELEMENTS(modes); i++) {
        if (strcmp(modes[i].name, mode) == 0) {
            *direct = modes[i].direct;
            *no_flush = modes[i].no_flush;
            *wce = modes[i].wce;
            return TRUE;
        }
    }
    return FALSE;
}

static void
json_cache(GString *j, const char *cache)
{
    gboolean direct;
    gboolean no_flush;
    gboolean wce;

    if (cache == NULL || !cache_mode(cache, &direct, &no_flush, &wce))
        return;
    g_string_append_printf(j, "%s\"cache\":{\"direct\":%s,\"no-flush\":%s}",
                           j->len > 1 ? "," : "", direct ? "true" : "false",
                           no_flush ? "true" : "false");
}

static gboolean
check_disk(const VbQemuCmd *c, const VbDeviceDef *dev, GError **error)
{
    static const char *const ok_children[] = { "boot", "backingStore", NULL };
    static const char *const driver_attrs[] = { "cache", "discard", "io", "iothread", NULL };
    static const char *const source_attrs[] = { "index", NULL };
    const char *cache = vb_extra_get_attr(&dev->driver.extra, "cache");
    const char *discard = vb_extra_get_attr(&dev->driver.extra, "discard");
    gboolean d, n, w;

    if (strcmp(dev->type, "file") != 0 && strcmp(dev->type, "block") != 0)
        return vb_qemu_cmd_unsupported(error, dev, "disk type '%s' is not supported",
                                       dev->type);
    if (!vb_qemu_cmd_check_extra(dev, &dev->extra, NULL, NULL, ok_children, error) ||
        !vb_qemu_cmd_check_extra(dev, &dev->driver.extra, "driver", driver_attrs, NULL,
                                 error) ||
        !vb_qemu_cmd_check_extra(dev, &dev->source.extra, "source", source_attrs, NULL,
                                 error) ||
        !vb_qemu_cmd_check_extra(dev, &dev->target.extra, "target", NULL, NULL, error))
        return FALSE;
    if (dev->driver_name != NULL && strcmp(dev->driver_name, "qemu") != 0)
        return vb_qemu_cmd_unsupported(error, dev, "driver name '%s' is not supported",
                                       dev->driver_name);
    if (cache != NULL && !cache_mode(cache, &d, &n, &w))
        return vb_qemu_cmd_unsupported(error, dev, "cache mode '%s' is not supported", cache);
    if (discard != NULL && strcmp(discard, "unmap") != 0 && strcmp(discard, "ignore") != 0)
        return vb_qemu_cmd_unsupported(error, dev, "discard '%s' is not supported", discard);
    if (dev->source_path == NULL && strcmp(dev->device, "disk") == 0)
        return vb_qemu_cmd_unsupported(error, dev, "a disk needs a <source>");
    if (dev->driver_type != NULL && strcmp(dev->driver_type, "raw") != 0 &&
        strcmp(dev->driver_type, "qcow2") != 0)
        return vb_qemu_cmd_unsupported(error, dev, "disk format '%s' is not supported",
                                       dev->driver_type);
    return TRUE;
}

/*
 * The two nodes. Without <driver type> the image is opened as raw (we never let QEMU
 * probe a format: a guest could turn a raw disk into a qcow2 header pointing at host
 * files) and the domain is tainted VB_TAINT_DISK_PROBING.
 */
static void
build_blockdevs(VbQemuCmd *c, const VbDeviceDef *dev, int node)
{
    const char *cache = vb_extra_get_attr(&dev->driver.extra, "cache");
    const char *discard = vb_extra_get_attr(&dev->driver.extra, "discard");
    const char *io = vb_extra_get_attr(&dev->driver.extra, "io");
    gboolean cdrom = strcmp(dev->device, "cdrom") == 0;
    gboolean ro = dev->readonly || cdrom;
    g_autofree char *storage = g_strdup_printf("libvirt-%d-storage", node);
    g_autofree char *format = g_strdup_printf("libvirt-%d-format", node);
    GString *j = vb_json_new();

    if (strcmp(dev->type, "block") == 0)
        vb_json_str(j, "driver", cdrom ? "host_cdrom" : "host_device");
    else
        vb_json_str(j, "driver", "file");
    vb_json_str(j, "filename", dev->source_path);
    vb_json_str(j, "node-name", storage);
    if (io != NULL)
        vb_json_str(j, "aio", io);
    json_cache(j, cache);
    vb_json_bool(j, "auto-read-only", TRUE);
    if (g_strcmp0(discard, "unmap") == 0)
        vb_json_str(j, "discard", "unmap");
    vb_qemu_cmd_add_json(c, "-blockdev", j);

    if (dev->driver_type == NULL)
        c->taint |= VB_TAINT_DISK_PROBING;
    j = vb_json_new();
    vb_json_str(j, "node-name", format);
    vb_json_bool(j, "read-only", ro);
    if (g_strcmp0(discard, "unmap") == 0)
        vb_json_str(j, "discard", "unmap");
    json_cache(j, cache);
    vb_json_str(j, "driver", dev->driver_type != NULL ? dev->driver_type : "raw");
    vb_json_str(j, "file", storage);
    vb_qemu_cmd_add_json(c, "-blockdev", j);
}

/* "vdb" -> 1, "vdaa" -> 26; -1 unless the name is a prefix and letters (and fits an int) */
static int
disk_index(const char *name)
{
    static const char *const prefixes[] = { "vd", "hd", "sd", "fd", "xvd", NULL };
    const char *p = NULL;
    int idx = 0;

    for (guint i = 0; prefixes[i] != NULL && p == NULL; i++) {
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

static gboolean
scsi_props(VbQemuCmd *c, const VbDeviceDef *dev, GString *j, GError **error)
{
    const VbDeviceAddress *a = &dev->addr;
    const VbDeviceDef *ctl = find_controller(c, "scsi", a->controller);
    g_autofree char *bus = g_strdup_printf("scsi%u.0", a->controller);
    g_autofree char *devid = NULL;

    if (ctl == NULL)
        return vb_qemu_cmd_unsupported(error, dev, "no scsi controller with index %u",
                                       a->controller);
    vb_json_str(j, "bus", bus);
    if (g_strcmp0(ctl->model, "virtio-scsi") == 0) {
        vb_json_int(j, "channel", a->bus);
        vb_json_int(j, "scsi-id", a->target);
        vb_json_int(j, "lun", a->unit);
    } else {
        if (a->bus != 0 || a->target != 0 || a->unit > 6)
            return vb_qemu_cmd_unsupported(error, dev, "address %u:%u:%u:%u is not usable "
                                           "on an lsilogic controller", a->controller,
                                           a->bus, a->target, a->unit);
        vb_json_int(j, "scsi-id", a->unit);
    }
    devid = g_strdup_printf("drive-scsi%u-%u-%u-%u", a->controller, a->bus, a->target,
                            a->unit);
    vb_json_str(j, "device_id", devid);
    return TRUE;
}

static gboolean
ide_props(VbQemuCmd *c, const VbDeviceDef *dev, GString *j, char **out_id, GError **error)
{
    const VbDeviceAddress *a = &dev->addr;
    g_autofree char *bus = NULL;

    if (strcmp(dev->bus, "ide") == 0) {
        if (c->q35)
            return vb_qemu_cmd_unsupported(error, dev, "IDE disks are not supported on Q35 "
                                           "machines; use bus='sata'");
        if (a->controller != 0 || a->bus > 1 || a->unit > 1)
            return vb_qemu_cmd_unsupported(error, dev, "IDE address %u:%u:%u is not usable",
                                           a->controller, a->bus, a->unit);
        bus = g_strdup_printf("ide.%u", a->bus);
        vb_json_str(j, "bus", bus);
        vb_json_int(j, "unit", a->unit);
        *out_id = g_strdup_printf("ide0-%u-%u", a->bus, a->unit);
        return TRUE;
    }
    if (find_controller(c, "sata", a->controller) == NULL)
        return vb_qemu_cmd_unsupported(error, dev, "no sata controller with index %u",
                                       a->controller);
    if (a->bus != 0 || a->unit > 5)
        return vb_qemu_cmd_unsupported(error, dev, "SATA address %u:%u:%u is not usable",
                                       a->controller, a->bus, a->unit);
    if (c->q35 && a->controller == 0)
        bus = g_strdup_printf("ide.%u", a->unit);
    else
        bus = g_strdup_printf("sata%u.%u", a->controller, a->unit);
    vb_json_str(j, "bus", bus);
    *out_id = g_strdup_printf("sata%u-%u-%u", a->controller, a->bus, a->unit);
    return TRUE;
}

static gboolean
disk_device_props(VbQemuCmd *c, const VbDeviceDef *dev, GString *j, char **out_id,
                  GError **error)
{
    gboolean cdrom = strcmp(dev->device, "cdrom") == 0;
    const char *bus = dev->bus;

    if (strcmp(dev->device, "lun") == 0)
        return vb_qemu_cmd_unsupported(error, dev, "disk device 'lun' (SCSI passthrough to a "
                                       "host block device) is not supported");
    if (strcmp(bus, "sd") == 0)
        return vb_qemu_cmd_unsupported(error, dev, "disk bus 'sd' is not supported: QEMU's "
                                       "x86 machines have no SD card controller");
    if (strcmp(dev->device, "floppy") == 0 || strcmp(bus, "fdc") == 0) {
        if (strcmp(bus, "fdc") != 0 || strcmp(dev->device, "floppy") != 0)
            return vb_qemu_cmd_unsupported(error, dev, "a floppy needs bus='fdc' and "
                                           "bus='fdc' a floppy");
        if (c->q35 && find_controller(c, "fdc", 0) == NULL)
            return vb_qemu_cmd_unsupported(error, dev, "a floppy on Q35 needs a "
                                           "<controller type='fdc'>");
        vb_json_str(j, "driver", "floppy");
        vb_json_int(j, "unit", dev->addr.unit);
        *out_id = g_strdup_printf("fdc0-0-%u", dev->addr.unit);
        return TRUE;
    }
    if (strcmp(bus, "virtio") == 0) {
        const char *iothread = vb_extra_get_attr(&dev->driver.extra, "iothread");

        if (cdrom)
            return vb_qemu_cmd_unsupported(error, dev, "a cdrom cannot be on bus 'virtio'");
        vb_json_str(j, "driver", "virtio-blk-pci");
        if (iothread != NULL) {
            g_autofree char *id = g_strdup_printf("iothread%s", iothread);
            vb_json_str(j, "iothread", id);
        }
        if (disk_index(dev->target_dev) < 0)
            return vb_qemu_cmd_unsupported(error, dev, "target dev '%s' is not a disk name "
                                           "such as 'vda'", dev->target_dev);
        *out_id = g_strdup_printf("virtio-disk%d", disk_index(dev->target_dev));
        return vb_qemu_cmd_pci_props(c, j, dev, error);
    }
    if (dev->addr.type != VB_ADDR_DRIVE)
        return vb_qemu_cmd_unsupported(error, dev, "a %s disk needs a drive address", bus);
    if (strcmp(bus, "scsi") == 0) {
        vb_json_str(j, "driver", cdrom ? "scsi-cd" : "scsi-hd");
        *out_id = g_strdup_printf("scsi%u-%u-%u-%u", dev->addr.controller, dev->addr.bus,
                                  dev->addr.target, dev->addr.unit);
        return scsi_props(c, dev, j, error);
    }
    if (strcmp(bus, "ide") == 0 || strcmp(bus, "sata") == 0) {
        vb_json_str(j, "driver", cdrom ? "ide-cd" : "ide-hd");
        return ide_props(c, dev, j, out_id, error);
    }
    return vb_qemu_cmd_unsupported(error, dev, "disk bus '%s' is not supported", bus);
}

static gboolean
build_disk(VbQemuCmd *c, const VbDeviceDef *dev, int node, GError **error)
{
    GString *j = vb_json_new();
    g_autofree char *id = NULL;
    g_autofree char *format = g_strdup_printf("libvirt-%d-format", node);
    const char *cache = vb_extra_get_attr(&dev->driver.extra, "cache");
    gboolean direct, no_flush, wce;

    if (!disk_device_props(c, dev, j, &id, error)) {
        g_string_free(j, TRUE);
        return FALSE;
    }
    if (dev->shareable)
        vb_json_bool(j, "share-rw", TRUE);
    if (dev->source_path != NULL)
        vb_json_str(j, "drive", format);
    vb_json_str(j, "id", id);
    vb_qemu_cmd_bootindex(c, j, dev);
    if (cache != NULL && cache_mode(cache, &direct, &no_flush, &wce))
        vb_json_str(j, "write-cache", wce ? "on" : "off");
    if (dev->source_path != NULL)
        build_blockdevs(c, dev, node);
    return vb_qemu_cmd_add_device(c, dev, j, error);
}

/**
 * vb_qemu_cmd_build_disks:
 * @c: the command being built
 * @error: error
 */
gboolean
vb_qemu_cmd_build_disks(VbQemuCmd *c, GError **error)
{
    GPtrArray *devs = c->def->priv->devices;
    int nodes = 0;

    for (guint i = 0; i < devs->len; i++) {
        const VbDeviceDef *dev = g_ptr_array_index(devs, i);

        if (dev->kind == VB_DEV_DISK && dev->source_path != NULL)
            nodes++;
    }
    for (guint i = 0; i < devs->len; i++) {
        const VbDeviceDef *dev = g_ptr_array_index(devs, i);

        if (dev->kind != VB_DEV_DISK)
            continue;
        if (!check_disk(c, dev, error) || !build_disk(c, dev, nodes, error))
            return FALSE;
        if (dev->source_path != NULL)
            nodes--;
    }
    return TRUE;
}
