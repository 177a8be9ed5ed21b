/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Controllers and disks. A disk is its -blockdev nodes (qemu-command-blockdev.c) and a
 * -device on its bus with libvirt's id and properties, in libvirt 9.0's order.
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
    g_autofree char *id = vb_domain_def_device_alias(c->def, dev);
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
            return vb_qemu_cmd_unsupported(c, error, dev, "a %s needs <target busNr=>",
                                           model);
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
        return vb_qemu_cmd_unsupported(c, error, dev, "PCI controller model '%s' is not "
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

/* bootindexA/B of an explicit isa-fdc: its floppies cannot take a bootindex themselves */
static void
fdc_bootindex(VbQemuCmd *c, GString *j)
{
    GPtrArray *devs = c->def->priv->devices;

    for (guint unit = 0; unit < 2; unit++) {
        for (guint i = 0; i < devs->len; i++) {
            const VbDeviceDef *d = g_ptr_array_index(devs, i);
            gpointer v;

            if (d->kind == VB_DEV_DISK && strcmp(d->bus, "fdc") == 0 &&
                d->addr.unit == unit && (v = g_hash_table_lookup(c->bootindex, d)) != NULL)
                vb_json_int(j, unit == 0 ? "bootindexA" : "bootindexB", GPOINTER_TO_INT(v));
        }
    }
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
            return vb_qemu_cmd_unsupported(c, error, dev, "USB model '%s' is not supported",
                                           dev->model);
        vb_json_str(j, "driver", name);
        if (vb_controller_master(dev) != NULL) {
            /* a USB2 companion: no id, on its master's bus (qemuBuildUSBControllerDevProps) */
            g_autofree char *start = vb_raw_elem_get_attr(vb_controller_master(dev),
                                                          "startport");
            g_autofree char *alias = vb_domain_def_device_alias(c->def, dev);
            g_autofree char *bus = g_strdup_printf("%s.0", alias);

            vb_json_str(j, "masterbus", bus);
            vb_json_int(j, "firstport", start != NULL ? (int)g_ascii_strtoll(start, NULL, 0) : 0);
            return TRUE;
        }
        if (strstr(name, "xhci") != NULL && dev->ports > 0) {
            vb_json_int(j, "p2", dev->ports);
            vb_json_int(j, "p3", dev->ports);
        }
        id = vb_domain_def_device_alias(c->def, dev);
    } else if (strcmp(type, "virtio-serial") == 0) {
        vb_json_str(j, "driver", "virtio-serial-pci");
        id = vb_domain_def_device_alias(c->def, dev);
    } else if (strcmp(type, "scsi") == 0) {
        const char *model = dev->model != NULL ? dev->model : "lsilogic";

        if (strcmp(model, "virtio-scsi") != 0 && strcmp(model, "lsilogic") != 0)
            return vb_qemu_cmd_unsupported(c, error, dev, "SCSI model '%s' is not supported",
                                           model);
        vb_json_str(j, "driver", strcmp(model, "lsilogic") == 0 ? "lsi53c895a" : "virtio-scsi-pci");
        id = vb_domain_def_device_alias(c->def, dev);
    } else if (strcmp(type, "sata") == 0) {
        vb_json_str(j, "driver", "ich9-ahci");
        id = vb_domain_def_device_alias(c->def, dev);
    } else if (strcmp(type, "ccid") == 0 && dev->index == 0) {
        /* the smart card reader, a USB device ("ccid0"; its card: qemu-command-usbredir.c) */
        vb_json_str(j, "driver", "usb-ccid");
        vb_json_str(j, "id", "ccid0");
        return vb_qemu_cmd_usb_props(c, j, dev, error);
    } else if (strcmp(type, "fdc") == 0 && dev->index == 0) {
        vb_json_str(j, "driver", "isa-fdc");
        fdc_bootindex(c, j);
        id = vb_domain_def_device_alias(c->def, dev);
        vb_json_str(j, "id", id);
        return TRUE; /* an ISA device: no PCI address */
    } else {
        return vb_qemu_cmd_unsupported(c, error, dev, "%s controller index %u is not supported"
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
    /* <pcihole64>: build_pcihole64() */
    static const char *const ok_children[] = { "model", "target", "master", "pcihole64", NULL };
    GString *j;

    if (!vb_qemu_cmd_check_extra(c, dev, &dev->extra, NULL, NULL, ok_children, error))
        return FALSE;
    if (controller_is_builtin(c, dev) ||
        (strcmp(dev->type, "usb") == 0 && g_strcmp0(dev->model, "none") == 0))
        return TRUE;
    j = vb_json_new();
    if (!build_controller_props(c, dev, j, error) ||
        (strcmp(dev->type, "fdc") != 0 && strcmp(dev->type, "ccid") != 0 &&
         !vb_qemu_cmd_pci_props(c, j, dev, error))) {
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

/*
 * <controller type='pci' index='0'><pcihole64 unit>: the root's 64-bit PCI hole, as
 * libvirt's qemuBuildGlobalControllerCommandLine: -global
 * i440FX-pcihost.pci-hole64-size=NK (pc) or q35-pcihost (q35); on another controller it is
 * NotSupported, as in libvirt.
 */
static gboolean
build_pcihole64(VbQemuCmd *c, GError **error)
{
    GPtrArray *devs = c->def->priv->devices;

    for (guint i = 0; i < devs->len; i++) {
        const VbDeviceDef *dev = g_ptr_array_index(devs, i);
        GPtrArray *ch = dev->extra.children;

        for (guint k = 0; dev->kind == VB_DEV_CONTROLLER && ch != NULL && k < ch->len; k++) {
            const VbRawElem *raw = g_ptr_array_index(ch, k);
            xmlDoc *doc;
            g_autofree char *text = NULL;
            g_autofree char *unit = NULL;
            g_autoptr(GError) local = NULL;
            const char *host;
            guint64 kib = 0;

            if (strcmp(raw->name, "pcihole64") != 0)
                continue;
            host = g_strcmp0(dev->model, "pci-root") == 0    ? "i440FX-pcihost"
                   : g_strcmp0(dev->model, "pcie-root") == 0 ? "q35-pcihost"
                                                             : NULL;
            if (host == NULL)
                return vb_qemu_cmd_unsupported(c, error, dev, "<pcihole64> is only for the "
                                               "root PCI controller (pci-root, pcie-root)");
            doc = vb_raw_elem_parse(raw);
            if (doc != NULL) {
                text = vb_xml_text(xmlDocGetRootElement(doc));
                unit = vb_xml_prop(xmlDocGetRootElement(doc), "unit");
                xmlFreeDoc(doc);
            }
            if (!vb_domain_memory_parse_kib(text != NULL ? g_strstrip(text) : "", unit, &kib,
                                            &local))
                return vb_qemu_cmd_unsupported(c, error, dev, "<pcihole64>: %s",
                                               local->message);
            if (kib > 0)
                vb_qemu_cmd_addf(c, "-global", "%s.pci-hole64-size=%" G_GUINT64_FORMAT "K",
                                 host, kib);
        }
    }
    return TRUE;
}

/**
 * vb_qemu_cmd_build_controllers:
 * @c: the command being built
 * @error: error
 *
 * PCI controllers first (other devices sit on their buses), then the rest in order, the
 * smart card reader (a USB device) last.
 */
gboolean
vb_qemu_cmd_build_controllers(VbQemuCmd *c, GError **error)
{
    GPtrArray *devs = c->def->priv->devices;

    if (!build_pcihole64(c, error))
        return FALSE;
    for (guint pass = 0; pass < 3; pass++) {
        for (guint i = 0; i < devs->len; i++) {
            const VbDeviceDef *dev = g_ptr_array_index(devs, i);
            guint want;

            if (dev->kind != VB_DEV_CONTROLLER)
                continue;
            want = strcmp(dev->type, "pci") == 0 ? 0 : strcmp(dev->type, "ccid") == 0 ? 2 : 1;
            if (want != pass)
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

static gboolean
in_list(const char *const list[], const char *v)
{
    for (guint i = 0; list[i] != NULL; i++) {
        if (strcmp(list[i], v) == 0)
            return TRUE;
    }
    return FALSE;
}

/* <driver> attributes: which values QEMU 7.2 takes */
static gboolean
check_driver(const VbQemuCmd *c, const VbDeviceDef *dev, GError **error)
{
    static const char *const attrs[] = {
        "cache", "discard", "io", "iothread", "detect_zeroes", "copy_on_read", "error_policy",
        "rerror_policy", "ioeventfd", "event_idx", "queues", "queue_size", NULL
    };
    static const struct {
        const char *attr;
        const char *values[8];
    } enums[] = {
        { "cache", { "default", "none", "writethrough", "writeback", "directsync", "unsafe" } },
        { "discard", { "default", "unmap", "ignore" } },
        { "io", { "default", "native", "threads", "io_uring" } },
        { "detect_zeroes", { "default", "off", "on", "unmap" } },
        { "copy_on_read", { "on", "off" } },
        { "error_policy", { "default", "stop", "report", "ignore", "enospace" } },
        { "rerror_policy", { "default", "stop", "report", "ignore" } },
        { "ioeventfd", { "on", "off" } },
        { "event_idx", { "on", "off" } },
    };
    const VbExtra *ex = &dev->driver.extra;
    const char *io = vb_extra_get_attr(ex, "io");
    const char *cache = vb_qemu_cmd_disk_cache(dev);
    gboolean virtio = strcmp(dev->bus, "virtio") == 0;

    if (!vb_qemu_cmd_check_extra(c, dev, ex, "driver", attrs, NULL, error))
        return FALSE;
    for (guint i = 0; i < G_N_ELEMENTS(enums); i++) {
        const char *v = vb_extra_get_attr(ex, enums[i].attr);

        if (v != NULL && !in_list(enums[i].values, v))
            return vb_qemu_cmd_unsupported(c, error, dev, "%s '%s' of <driver> is not "
                                           "supported", enums[i].attr, v);
    }
    if (g_strcmp0(io, "native") == 0 && g_strcmp0(cache, "none") != 0 &&
        g_strcmp0(cache, "directsync") != 0)
        return vb_qemu_cmd_unsupported(c, error, dev, "io='native' needs cache='none' or "
                                       "cache='directsync' (QEMU opens the image with "
                                       "O_DIRECT for it)");
    for (guint i = 0; i < 2; i++) {
        const char *name = i == 0 ? "queues" : "queue_size";
        const char *v = vb_extra_get_attr(ex, name);
        guint64 n;

        if (v != NULL && (!virtio || !g_ascii_string_to_unsigned(v, 10, 1, 1024, &n, NULL)))
            return vb_qemu_cmd_unsupported(c, error, dev, "<driver %s='%s'> needs a virtio "
                                           "disk and a number from 1 to 1024", name, v);
    }
    if ((vb_extra_get_attr(ex, "ioeventfd") != NULL ||
         vb_extra_get_attr(ex, "event_idx") != NULL) && !virtio)
        return vb_qemu_cmd_unsupported(c, error, dev, "ioeventfd and event_idx need a virtio "
                                       "disk");
    if (vb_extra_get_attr(ex, "iothread") != NULL) {
        guint64 n;

        if (!virtio)
            return vb_qemu_cmd_unsupported(c, error, dev, "an iothread needs a virtio disk");
        if (!g_ascii_string_to_unsigned(vb_extra_get_attr(ex, "iothread"), 10, 1,
                                        MAX(c->def->priv->iothreads, 1), &n, NULL) ||
            c->def->priv->iothreads == 0)
            return vb_qemu_cmd_unsupported(c, error, dev, "iothread '%s' is not one of the "
                                           "domain's <iothreads>",
                                           vb_extra_get_attr(ex, "iothread"));
    }
    if (dev->driver_name != NULL && strcmp(dev->driver_name, "qemu") != 0)
        return vb_qemu_cmd_unsupported(c, error, dev, "driver name '%s' is not supported",
                                       dev->driver_name);
    return TRUE;
}

/* <target> attributes and the bus/device combination */
static gboolean
check_target(const VbQemuCmd *c, const VbDeviceDef *dev, GError **error)
{
    static const char *const attrs[] = { "tray", "removable", "rotation_rate", NULL };
    const char *removable = vb_extra_get_attr(&dev->target.extra, "removable");
    const char *rate = vb_extra_get_attr(&dev->target.extra, "rotation_rate");
    guint64 n;

    if (!vb_qemu_cmd_check_extra(c, dev, &dev->target.extra, "target", attrs, NULL, error))
        return FALSE;
    if (strcmp(dev->bus, "sd") == 0 || strcmp(dev->bus, "xen") == 0 ||
        strcmp(dev->bus, "uml") == 0)
        return vb_qemu_cmd_unsupported(c, error, dev, "disk bus '%s' is not supported on "
                                       "x86_64", dev->bus);
    if (removable != NULL && (strcmp(dev->bus, "usb") != 0 ||
                              (strcmp(removable, "on") != 0 && strcmp(removable, "off") != 0)))
        return vb_qemu_cmd_unsupported(c, error, dev, "removable='%s' needs bus='usb' and "
                                       "'on' or 'off'", removable);
    if (rate != NULL && (!g_ascii_string_to_unsigned(rate, 10, 1, 65534, &n, NULL) ||
                         strcmp(dev->device, "disk") != 0 ||
                         (strcmp(dev->bus, "ide") != 0 && strcmp(dev->bus, "sata") != 0 &&
                          strcmp(dev->bus, "scsi") != 0)))
        return vb_qemu_cmd_unsupported(c, error, dev, "rotation_rate='%s' needs an ide, sata "
                                       "or scsi disk and a number from 1 to 65534", rate);
    if (strcmp(dev->device, "lun") == 0 &&
        (strcmp(dev->bus, "scsi") != 0 ||
         (strcmp(dev->type, "block") != 0 &&
          g_strcmp0(vb_extra_get_attr(&dev->source.extra, "protocol"), "iscsi") != 0)))
        return vb_qemu_cmd_unsupported(c, error, dev, "device='lun' needs bus='scsi' and a "
                                       "host SCSI block device or an iscsi source (QEMU 7.2's "
                                       "virtio-blk has no SCSI passthrough)");
    return TRUE;
}

static gboolean
check_children(VbQemuCmd *c, const VbDeviceDef *dev, GError **error)
{
    static const char *const ok_children[] = {
        "boot", "backingStore", "iotune", "serial", "wwn", "vendor", "product", "blockio",
        "geometry", "auth", NULL
    };
    static const char *const ok_attrs[] = { "snapshot", NULL };
    static const char *const source_attrs[] = {
        "index", "startupPolicy", "protocol", "name", "query", "tls", NULL
    };
    static const char *const source_children[] = {
        "host", "ssl", "timeout", "readahead", "initiator", "auth", "cookies", "reconnect",
        "seclabel", NULL
    };
    const VbExtra *ex = &dev->extra;

    if (!vb_qemu_cmd_check_extra(c, dev, ex, NULL, ok_attrs, ok_children, error) ||
        !vb_qemu_cmd_check_extra(c, dev, &dev->source.extra, "source", source_attrs,
                                 source_children, error) ||
        !check_driver(c, dev, error) || !check_target(c, dev, error))
        return FALSE;
    for (guint i = 0; ex->children != NULL && i < ex->children->len; i++) {
        const VbRawElem *raw = g_ptr_array_index(ex->children, i);

        if (strcmp(raw->name, "auth") == 0 && strcmp(dev->type, "network") != 0)
            return vb_qemu_cmd_unsupported(c, error, dev, "<auth> needs a network disk");
        if ((strcmp(raw->name, "vendor") == 0 || strcmp(raw->name, "product") == 0) &&
            strcmp(dev->bus, "scsi") != 0)
            return vb_qemu_cmd_unsupported(c, error, dev, "<%s> needs bus='scsi'", raw->name);
        if (strcmp(raw->name, "wwn") == 0 && strcmp(dev->bus, "scsi") != 0 &&
            strcmp(dev->bus, "ide") != 0 && strcmp(dev->bus, "sata") != 0)
            return vb_qemu_cmd_unsupported(c, error, dev, "<wwn> needs an ide, sata or scsi "
                                           "disk");
    }
    if (vb_extra_get_attr(&dev->source.extra, "tls") != NULL &&
        strcmp(dev->type, "network") != 0)
        return vb_qemu_cmd_unsupported(c, error, dev, "tls= needs a network disk");
    if (vb_extra_get_attr(ex, "snapshot") != NULL)
        vb_qemu_cmd_ignore(c, dev, NULL, 0, "snapshot='%s' is only a default for snapshots, "
                           "which virtbus does not take of disks yet",
                           vb_extra_get_attr(ex, "snapshot"));
    for (guint i = 0; dev->source.extra.children != NULL &&
                      i < dev->source.extra.children->len; i++) {
        const VbRawElem *raw = g_ptr_array_index(dev->source.extra.children, i);

        if (strcmp(raw->name, "seclabel") == 0)
            vb_qemu_cmd_ignore(c, dev, NULL, 0, "<source><seclabel> is not acted on: virtbus "
                               "does not relabel images");
    }
    return TRUE;
}

static gboolean
check_disk(VbQemuCmd *c, const VbDeviceDef *dev, GError **error)
{
    if (strcmp(dev->type, "file") != 0 && strcmp(dev->type, "block") != 0 &&
        strcmp(dev->type, "network") != 0)
        return vb_qemu_cmd_unsupported(c, error, dev, "disk type '%s' is not supported",
                                       dev->type);
    if (!check_children(c, dev, error) || !vb_qemu_cmd_disk_iotune(c, dev, NULL, error))
        return FALSE;
    if (strcmp(dev->type, "network") == 0 && strcmp(dev->device, "cdrom") != 0 &&
        strcmp(dev->device, "floppy") != 0 && !dev->source.present)
        return vb_qemu_cmd_unsupported(c, error, dev, "a network disk needs a <source>");
    if (strcmp(dev->type, "network") != 0 && dev->source_path == NULL &&
        (strcmp(dev->device, "disk") == 0 || strcmp(dev->device, "lun") == 0))
        return vb_qemu_cmd_unsupported(c, error, dev, "a disk needs a <source>");
    return TRUE;
}

/**
 * vb_qemu_cmd_disk_id:
 * @def: the definition
 * @dev: one of its disks
 *
 * Returns: (transfer full) (nullable): libvirt's device id of the disk (virtio-disk0,
 *   ide0-0-1, sata0-0-0, scsi0-0-0-0, fdc0-0-0, usb-disk0); NULL when it has none
 */
char *
vb_qemu_cmd_disk_id(const VbDomainDef *def, const VbDeviceDef *dev)
{
    /* one name for the QEMU id and the live <alias> */
    return vb_domain_def_device_alias(def, dev);
}

static const char *
disk_child_text(const VbDeviceDef *dev, const char *name, char **owned)
{
    const VbExtra *ex = &dev->extra;

    for (guint i = 0; ex->children != NULL && i < ex->children->len; i++) {
        const VbRawElem *raw = g_ptr_array_index(ex->children, i);
        xmlDoc *d;

        if (strcmp(raw->name, name) != 0 || (d = vb_raw_elem_parse(raw)) == NULL)
            continue;
        *owned = (char *)xmlNodeGetContent(xmlDocGetRootElement(d));
        xmlFreeDoc(d);
        return *owned;
    }
    return NULL;
}

static char *
disk_child_attr(const VbDeviceDef *dev, const char *name, const char *attr)
{
    const VbExtra *ex = &dev->extra;

    for (guint i = 0; ex->children != NULL && i < ex->children->len; i++) {
        const VbRawElem *raw = g_ptr_array_index(ex->children, i);

        if (strcmp(raw->name, name) == 0)
            return vb_raw_elem_get_attr(raw, attr);
    }
    return NULL;
}

static gboolean
scsi_props(VbQemuCmd *c, const VbDeviceDef *dev, GString *j, GError **error)
{
    const VbDeviceAddress *a = &dev->addr;
    const VbDeviceDef *ctl = find_controller(c, "scsi", a->controller);
    g_autofree char *bus = g_strdup_printf("scsi%u.0", a->controller);

    if (ctl == NULL)
        return vb_qemu_cmd_unsupported(c, error, dev, "no scsi controller with index %u",
                                       a->controller);
    vb_json_str(j, "bus", bus);
    if (g_strcmp0(ctl->model, "virtio-scsi") == 0) {
        vb_json_int(j, "channel", a->bus);
        vb_json_int(j, "scsi-id", a->target);
        vb_json_int(j, "lun", a->unit);
    } else {
        if (a->bus != 0 || a->target != 0 || a->unit > 6)
            return vb_qemu_cmd_unsupported(c, error, dev, "address %u:%u:%u:%u is not usable "
                                           "on an lsilogic controller", a->controller,
                                           a->bus, a->target, a->unit);
        vb_json_int(j, "scsi-id", a->unit);
    }
    if (strcmp(dev->device, "lun") != 0) {
        g_autofree char *serial = NULL;
        g_autofree char *devid = NULL;
        g_autofree char *alias = vb_domain_def_device_alias(c->def, dev);

        /* the VPD device id QEMU used to take from -drive's id (libvirt keeps it) */
        if (disk_child_text(dev, "serial", &serial) != NULL)
            devid = g_strdup(serial);
        else
            devid = g_strconcat("drive-", alias, NULL);
        vb_json_str(j, "device_id", devid);
    }
    return TRUE;
}

static gboolean
ide_props(VbQemuCmd *c, const VbDeviceDef *dev, GString *j, GError **error)
{
    const VbDeviceAddress *a = &dev->addr;
    g_autofree char *bus = NULL;

    if (strcmp(dev->bus, "ide") == 0) {
        if (c->q35)
            return vb_qemu_cmd_unsupported(c, error, dev, "IDE disks are not supported on Q35 "
                                           "machines; use bus='sata'");
        if (a->controller != 0 || a->bus > 1 || a->unit > 1)
            return vb_qemu_cmd_unsupported(c, error, dev, "IDE address %u:%u:%u is not usable",
                                           a->controller, a->bus, a->unit);
        bus = g_strdup_printf("ide.%u", a->bus);
        vb_json_str(j, "bus", bus);
        vb_json_int(j, "unit", a->unit);
        return TRUE;
    }
    if (find_controller(c, "sata", a->controller) == NULL)
        return vb_qemu_cmd_unsupported(c, error, dev, "no sata controller with index %u",
                                       a->controller);
    if (a->bus != 0 || a->unit > 5)
        return vb_qemu_cmd_unsupported(c, error, dev, "SATA address %u:%u:%u is not usable",
                                       a->controller, a->bus, a->unit);
    if (c->q35 && a->controller == 0)
        bus = g_strdup_printf("ide.%u", a->unit);
    else
        bus = g_strdup_printf("sata%u.%u", a->controller, a->unit);
    vb_json_str(j, "bus", bus);
    return TRUE;
}

/* virtio-blk-pci's own properties, before its address (libvirt's order) */
static gboolean
virtio_props(VbQemuCmd *c, const VbDeviceDef *dev, GString *j, GError **error)
{
    const VbExtra *ex = &dev->driver.extra;
    const char *iothread = vb_extra_get_attr(ex, "iothread");
    const char *queues = vb_extra_get_attr(ex, "queues");
    const char *qsize = vb_extra_get_attr(ex, "queue_size");

    if (strcmp(dev->device, "disk") != 0)
        return vb_qemu_cmd_unsupported(c, error, dev, "a %s cannot be on bus 'virtio'",
                                       dev->device);
    vb_json_str(j, "driver", "virtio-blk-pci");
    if (iothread != NULL) {
        g_autofree char *id = g_strdup_printf("iothread%s", iothread);

        vb_json_str(j, "iothread", id);
    }
    for (guint i = 0; i < 2; i++) {
        const char *v = vb_extra_get_attr(ex, i == 0 ? "ioeventfd" : "event_idx");

        if (v != NULL)
            vb_json_bool(j, i == 0 ? "ioeventfd" : "event_idx", strcmp(v, "on") == 0);
    }
    if (queues != NULL)
        vb_json_int(j, "num-queues", g_ascii_strtoll(queues, NULL, 10));
    if (qsize != NULL)
        vb_json_int(j, "queue-size", g_ascii_strtoll(qsize, NULL, 10));
    return vb_qemu_cmd_pci_props(c, j, dev, error);
}

static gboolean
disk_device_props(VbQemuCmd *c, const VbDeviceDef *dev, GString *j, GError **error)
{
    gboolean cdrom = strcmp(dev->device, "cdrom") == 0;
    const char *bus = dev->bus;

    if (strcmp(dev->device, "floppy") == 0 || strcmp(bus, "fdc") == 0) {
        if (strcmp(bus, "fdc") != 0 || strcmp(dev->device, "floppy") != 0)
            return vb_qemu_cmd_unsupported(c, error, dev, "a floppy needs bus='fdc' and "
                                           "bus='fdc' a floppy");
        if (c->q35 && find_controller(c, "fdc", 0) == NULL)
            return vb_qemu_cmd_unsupported(c, error, dev, "a floppy on Q35 needs a "
                                           "<controller type='fdc'>");
        vb_json_str(j, "driver", "floppy");
        vb_json_int(j, "unit", dev->addr.unit);
        return TRUE;
    }
    if (strcmp(bus, "virtio") == 0)
        return virtio_props(c, dev, j, error);
    if (strcmp(bus, "usb") == 0) {
        if (strcmp(dev->device, "disk") != 0)
            return vb_qemu_cmd_unsupported(c, error, dev, "a %s cannot be on bus 'usb'",
                                           dev->device);
        vb_json_str(j, "driver", "usb-storage");
        return vb_qemu_cmd_usb_props(c, j, dev, error);
    }
    if (dev->addr.type != VB_ADDR_DRIVE)
        return vb_qemu_cmd_unsupported(c, error, dev, "a %s disk needs a drive address", bus);
    if (strcmp(bus, "scsi") == 0) {
        vb_json_str(j, "driver", strcmp(dev->device, "lun") == 0 ? "scsi-block"
                                 : cdrom                         ? "scsi-cd"
                                                                 : "scsi-hd");
        return scsi_props(c, dev, j, error);
    }
    if (strcmp(bus, "ide") == 0 || strcmp(bus, "sata") == 0) {
        if (strcmp(dev->device, "lun") == 0)
            return vb_qemu_cmd_unsupported(c, error, dev, "device='lun' needs bus='scsi'");
        vb_json_str(j, "driver", cdrom ? "ide-cd" : "ide-hd");
        return ide_props(c, dev, j, error);
    }
    return vb_qemu_cmd_unsupported(c, error, dev, "disk bus '%s' is not supported", bus);
}

/* an unsigned <blockio>/<geometry> attribute, 0 when absent */
static guint64
child_uint(const VbDeviceDef *dev, const char *elem, const char *attr)
{
    g_autofree char *v = disk_child_attr(dev, elem, attr);

    return v != NULL ? g_ascii_strtoull(v, NULL, 10) : 0;
}

/* the properties after "id" and "bootindex", in libvirt's order */
static gboolean
disk_tail_props(VbQemuCmd *c, const VbDeviceDef *dev, GString *j, GError **error)
{
    static const char *const blockio[] = { "logical_block_size", "physical_block_size",
                                           "discard_granularity", NULL };
    static const char *const geometry[] = { "cyls", "heads", "secs", NULL };
    const char *cache = vb_qemu_cmd_disk_cache(dev);
    const char *wpolicy = vb_extra_get_attr(&dev->driver.extra, "error_policy");
    const char *rpolicy = vb_extra_get_attr(&dev->driver.extra, "rerror_policy");
    const char *rate = vb_extra_get_attr(&dev->target.extra, "rotation_rate");
    const char *removable = vb_extra_get_attr(&dev->target.extra, "removable");
    g_autofree char *wwn = NULL, *vendor = NULL, *product = NULL, *serial = NULL;
    g_autofree char *trans = disk_child_attr(dev, "geometry", "trans");
    gboolean direct, no_flush, wce;

    for (guint i = 0; blockio[i] != NULL; i++) {
        if (child_uint(dev, "blockio", blockio[i]) > 0)
            vb_json_int(j, blockio[i], (gint64)child_uint(dev, "blockio", blockio[i]));
    }
    if (disk_child_text(dev, "wwn", &wwn) != NULL) {
        guint64 w;

        if (!g_ascii_string_to_unsigned(g_str_has_prefix(wwn, "0x") ? wwn + 2 : wwn, 16, 0,
                                        G_MAXUINT64, &w, NULL))
            return vb_qemu_cmd_unsupported(c, error, dev, "<wwn> '%s' is not a hexadecimal "
                                           "number", wwn);
        g_string_append_printf(j, ",\"wwn\":%" G_GUINT64_FORMAT, w);
    }
    if (rate != NULL)
        vb_json_int(j, "rotation_rate", g_ascii_strtoll(rate, NULL, 10));
    if (disk_child_text(dev, "vendor", &vendor) != NULL)
        vb_json_str(j, "vendor", vendor);
    if (disk_child_text(dev, "product", &product) != NULL)
        vb_json_str(j, "product", product);
    if (strcmp(dev->bus, "usb") == 0)
        vb_json_bool(j, "removable", g_strcmp0(removable, "on") == 0);
    if (cache != NULL && strcmp(dev->device, "lun") != 0 &&
        vb_qemu_cmd_cache_mode(cache, &direct, &no_flush, &wce))
        vb_json_str(j, "write-cache", wce ? "on" : "off");
    for (guint i = 0; geometry[i] != NULL; i++) {
        if (child_uint(dev, "geometry", geometry[i]) > 0)
            vb_json_int(j, geometry[i], (gint64)child_uint(dev, "geometry", geometry[i]));
    }
    if (trans != NULL && strcmp(trans, "default") != 0)
        vb_json_str(j, "bios-chs-trans", trans);
    if (disk_child_text(dev, "serial", &serial) != NULL) {
        g_autoptr(GString) esc = g_string_new(NULL);

        for (const char *p = serial; *p != '\0'; p++) {
            if (*p == ' ')
                g_string_append_c(esc, '\\');
            g_string_append_c(esc, *p);
        }
        vb_json_str(j, "serial", esc->str);
    }
    if (wpolicy != NULL && strcmp(wpolicy, "default") != 0)
        vb_json_str(j, "werror", strcmp(wpolicy, "enospace") == 0 ? "enospc" : wpolicy);
    if (rpolicy != NULL && strcmp(rpolicy, "default") != 0)
        vb_json_str(j, "rerror", rpolicy);
    else if (wpolicy != NULL && strcmp(wpolicy, "default") != 0 &&
             strcmp(wpolicy, "enospace") != 0)
        vb_json_str(j, "rerror", wpolicy);
    return TRUE;
}

static gboolean
build_disk(VbQemuCmd *c, const VbDeviceDef *dev, const VbQemuDiskChain *chain, int node,
           GError **error)
{
    GString *j = vb_json_new();
    g_autofree char *id = vb_qemu_cmd_disk_id(c->def, dev);
    g_autofree char *drive = NULL;

    if (id == NULL && strcmp(dev->bus, "virtio") == 0)
        return g_string_free(j, TRUE),
               vb_qemu_cmd_unsupported(c, error, dev, "target dev '%s' is not a disk name "
                                       "such as 'vda'", dev->target_dev);
    if (!vb_qemu_disk_chain_is_empty(chain) &&
        !vb_qemu_cmd_build_disk_nodes(c, dev, chain, node, &drive, error))
        return g_string_free(j, TRUE), FALSE;
    if (!disk_device_props(c, dev, j, error))
        return g_string_free(j, TRUE), FALSE;
    if (id == NULL)
        return g_string_free(j, TRUE),
               vb_qemu_cmd_unsupported(c, error, dev, "target dev '%s' is not a disk name "
                                       "such as 'sda'", dev->target_dev);
    if (dev->shareable)
        vb_json_bool(j, "share-rw", TRUE);
    if (drive != NULL)
        vb_json_str(j, "drive", drive);
    vb_json_str(j, "id", id);
    /* a floppy boots through the fdc's bootindexA/B */
    if (strcmp(dev->device, "floppy") != 0)
        vb_qemu_cmd_bootindex(c, j, dev);
    if (!disk_tail_props(c, dev, j, error))
        return g_string_free(j, TRUE), FALSE;
    return vb_qemu_cmd_add_device(c, dev, j, error);
}

/* a disk whose medium the start path dropped (startupPolicy='optional') and that is no
 * removable drive is left out altogether, as libvirt leaves it */
static gboolean
disk_left_out(const VbQemuCmd *c, const VbDeviceDef *dev)
{
    const VbQemuDiskPrep *prep =
        c->params->disks != NULL ? g_hash_table_lookup(c->params->disks, dev->target_dev) : NULL;

    return prep != NULL && prep->drop_source && strcmp(dev->device, "cdrom") != 0 &&
           strcmp(dev->device, "floppy") != 0;
}

/* -global isa-fdc.bootindexA/B for floppies on the machine's own fdc (libvirt's shape) */
static void
floppy_boot(VbQemuCmd *c)
{
    GPtrArray *devs = c->def->priv->devices;

    if (c->q35 && !vb_domain_def_q35_has_builtin_fdc(c->def))
        return; /* the explicit isa-fdc carries them */
    for (guint i = 0; i < devs->len; i++) {
        const VbDeviceDef *dev = g_ptr_array_index(devs, i);
        gpointer v;

        if (dev->kind != VB_DEV_DISK || strcmp(dev->bus, "fdc") != 0 ||
            (v = g_hash_table_lookup(c->bootindex, dev)) == NULL)
            continue;
        vb_qemu_cmd_addf(c, "-global", "isa-fdc.bootindex%c=%d", dev->addr.unit ? 'B' : 'A',
                         GPOINTER_TO_INT(v));
    }
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
    g_autoptr(GPtrArray) chains = g_ptr_array_new_with_free_func(
        (GDestroyNotify)vb_qemu_disk_chain_free);
    int nodes = 0;

    floppy_boot(c);
    for (guint i = 0; i < devs->len; i++) {
        const VbDeviceDef *dev = g_ptr_array_index(devs, i);
        VbQemuDiskChain *chain;

        if (dev->kind != VB_DEV_DISK || disk_left_out(c, dev))
            continue;
        if (!check_disk(c, dev, error) || (chain = vb_qemu_cmd_disk_chain(c, dev, error)) == NULL)
            return FALSE;
        g_ptr_array_add(chains, chain);
        nodes += (int)vb_qemu_disk_chain_length(chain);
    }
    for (guint i = 0, k = 0; i < devs->len; i++) {
        const VbDeviceDef *dev = g_ptr_array_index(devs, i);
        const VbQemuDiskChain *chain;
        int top;

        if (dev->kind != VB_DEV_DISK || disk_left_out(c, dev))
            continue;
        chain = g_ptr_array_index(chains, k++);
        top = nodes - (int)vb_qemu_disk_chain_length(chain) + 1;
        if (!build_disk(c, dev, chain, top, error))
            return FALSE;
        nodes -= (int)vb_qemu_disk_chain_length(chain);
    }
    return TRUE;
}

/**
 * vb_qemu_cmd_build_disk_one:
 * @c: a command holding only this device's options (vb_qemu_command_hotplug())
 * @dev: a disk of @c's definition
 * @node: the N of its top image's nodes (libvirt-N-format); the images below take N+1...
 * @error: error
 *
 * The -blockdev nodes and the -device of one disk, with the same checks and shapes as at
 * start (issue 13, part hotplug).
 */
gboolean
vb_qemu_cmd_build_disk_one(VbQemuCmd *c, const VbDeviceDef *dev, int node, GError **error)
{
    g_autoptr(VbQemuDiskChain) chain = NULL;

    if (disk_left_out(c, dev))
        return vb_qemu_cmd_unsupported(c, error, dev, "the disk's source is missing");
    if (!check_disk(c, dev, error) || (chain = vb_qemu_cmd_disk_chain(c, dev, error)) == NULL)
        return FALSE;
    return build_disk(c, dev, chain, node, error);
}

/**
 * vb_qemu_cmd_build_controller_one:
 *
 * The -device of one <controller> for a running QEMU (issue 13, part hotplug, second
 * session): as libvirt 9.0's qemuDomainAttachControllerDevice, SCSI controllers only
 * ("'%s' controller cannot be hot plugged.").
 */
gboolean
vb_qemu_cmd_build_controller_one(VbQemuCmd *c, const VbDeviceDef *dev, GError **error)
{
    if (g_strcmp0(dev->type, "scsi") != 0)
        return vb_qemu_cmd_unsupported(c, error, dev, "'%s' controller cannot be hot plugged "
                                       "(only SCSI controllers, as libvirt)",
                                       dev->type != NULL ? dev->type : "");
    return build_controller(c, dev, error);
}
