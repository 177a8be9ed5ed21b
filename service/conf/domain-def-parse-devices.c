/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Parsing the children of <devices>. */
#include "config.h"

#include <string.h>

#include "domain-def-priv.h"
#include "vb-error.h"

/* libvirt's order of device kinds in <devices>; unknown names go after all of these */
const char *const vb_device_ranks[] = {
    "disk", "controller", "lease", "filesystem", "interface", "smartcard", "serial",
    "parallel", "console", "channel", "input", "tpm", "graphics", "sound", "audio", "video",
    "hostdev", "redirdev", "redirfilter", "hub", "watchdog", "memballoon", "rng", "nvram",
    "panic", "shmem", "memory", "iommu", "vsock", "crypto", NULL
};
/* libvirt's order of children inside one device */
const char *const vb_disk_ranks[] = {
    "driver", "auth", "source", "backingStore", "backenddomain", "geometry", "blockio",
    "mirror", "target", "iotune", "readonly", "shareable", "transient", "serial", "wwn",
    "vendor", "product", "encryption", "boot", "alias", "address", NULL
};
const char *const vb_controller_ranks[] = {
    "model", "target", "pcihole64", "driver", "alias", "master", "address", NULL
};
const char *const vb_interface_ranks[] = {
    "mac", "source", "vlan", "virtualport", "bandwidth", "port", "ip", "route", "portForward",
    "script", "downscript", "backenddomain", "target", "guest", "model", "driver", "backend",
    "filterref", "tune", "teaming", "link", "mtu", "coalesce", "boot", "alias", "rom", "acpi",
    "address", NULL
};
const char *const vb_chardev_ranks[] = {
    "source", "protocol", "log", "target", "alias", "address", NULL
};
const char *const vb_generic_dev_ranks[] = {
    "source", "driver", "model", "stats", "backend", "rate", "alias", "address", NULL
};
const char *const vb_video_ranks[] = { "driver", "model", "alias", "address", NULL };
const char *const vb_filesystem_ranks[] = {
    "driver", "binary", "source", "target", "idmap", "readonly", "space_hard_limit",
    "space_soft_limit", "boot", "alias", "address", NULL
};
const char *const vb_rng_ranks[] = { "rate", "backend", "driver", "alias", "address", NULL };
const char *const vb_sound_ranks[] = { "codec", "audio", "alias", "address", NULL };

static const char *const disk_types[] = { "file", "block", "dir", "network", "volume", "nvme",
                                          "vhostuser", NULL };
static const char *const disk_devices[] = { "disk", "cdrom", "floppy", "lun", NULL };
static const char *const disk_buses[] = { "virtio", "sata", "scsi", "ide", "fdc", "usb",
                                          "sd", "xen", "uml", NULL };
static const char *const controller_types[] = { "pci", "usb", "virtio-serial", "sata", "scsi",
                                                "ide", "fdc", "ccid", "isa", NULL };
static const char *const net_types[] = { "user",   "network", "bridge",    "ethernet",
                                         "direct", "hostdev", "vhostuser", "vdpa",
                                         "server", "client",  "udp",       "mcast",
                                         NULL };
static const char *const chr_types[] = { "pty", "file", "unix", "null", "vc", "stdio", "dev",
                                         "pipe", "tcp", "udp", "spicevmc", "spiceport",
                                         "qemu-vdagent", "dbus", NULL };
static const char *const serial_targets[] = { "isa-serial", "usb-serial", "pci-serial",
                                              "spapr-vio-serial", "system-serial",
                                              "sclp-serial", "isa-debug", NULL };
static const char *const console_targets[] = { "serial", "virtio", "xen", "uml", "sclp",
                                               "sclplm", NULL };
static const char *const channel_targets[] = { "virtio", "guestfwd", "xen", NULL };
static const char *const input_types[] = { "tablet", "mouse", "keyboard", "passthrough",
                                           "evdev", NULL };
static const char *const input_buses[] = { "usb", "ps2", "virtio", "xen", "none", NULL };
static const char *const graphics_types[] = { "vnc", "spice", "sdl", "rdp", "desktop",
                                              "egl-headless", "dbus", NULL };
static const char *const video_models[] = { "vga", "cirrus", "vmvga", "xen", "vbox", "qxl",
                                            "parallels", "virtio", "gop", "none", "bochs",
                                            "ramfb", NULL };
static const char *const watchdog_models[] = { "i6300esb", "ib700", "diag288", "itco", NULL };
static const char *const watchdog_actions[] = { "reset", "shutdown", "poweroff", "pause",
                                                "none", "dump", "inject-nmi", NULL };
static const char *const balloon_models[] = { "virtio", "virtio-transitional",
                                              "virtio-non-transitional", "xen", "none", NULL };
static const char *const rng_models[] = { "virtio", "virtio-transitional",
                                          "virtio-non-transitional", NULL };
static const char *const rng_backends[] = { "random", "egd", "builtin", NULL };
static const char *const fs_types[] = { "mount", "block", "file", "template", "ram", "bind",
                                       "volume", NULL };
static const char *const panic_models[] = { "isa", "pseries", "hyperv", "s390", "pvpanic",
                                            NULL };
/* libvirt 9.0's virDomainSoundModel */
static const char *const sound_models[] = { "sb16", "es1370", "pcspk", "ac97", "ich6", "ich9",
                                            "usb", "ich7", NULL };

/* the attribute of <source> that names the disk's path, for the types that have one */
static const char *
disk_source_attr(const char *type)
{
    if (strcmp(type, "file") == 0)
        return "file";
    if (strcmp(type, "block") == 0)
        return "dev";
    if (strcmp(type, "dir") == 0)
        return "dir";
    return NULL; /* network, volume, nvme, vhostuser: <source> is kept as written */
}

/* children libvirt's schema allows once per device kind, which we model as one value */
static const char *const *
unique_children(VbDeviceKind kind)
{
    static const char *const disk[] = { "driver", "source", "target", "readonly", "shareable",
                                        "address", NULL };
    static const char *const interface[] = { "mac", "source", "model", "address", NULL };
    /* a chardev may have two <source> (udp: bind and connect); the others are kept */
    static const char *const chardev[] = { "target", "address", NULL };
    static const char *const video[] = { "model", "address", NULL };
    static const char *const rng[] = { "backend", "address", NULL };
    static const char *const other[] = { "address", NULL };

    switch (kind) {
    case VB_DEV_DISK: return disk;
    case VB_DEV_INTERFACE: return interface;
    case VB_DEV_SERIAL:
    case VB_DEV_CONSOLE:
    case VB_DEV_CHANNEL: return chardev;
    case VB_DEV_VIDEO: return video;
    case VB_DEV_RNG: return rng;
    case VB_DEV_UNKNOWN: return NULL;
    default: return other;
    }
}

static xmlNode *
first_child(xmlNode *parent, const char *name)
{
    for (xmlNode *c = parent->children; c != NULL; c = c->next) {
        if (vb_xml_is(c, name))
            return c;
    }
    return NULL;
}

static gboolean
parse_address_child(VbDeviceDef *dev, xmlNode *node, GError **error)
{
    xmlNode *a = first_child(node, "address");

    if (a == NULL)
        return TRUE;
    return vb_address_parse(&dev->addr, a, error);
}

/* marks @sub present and keeps what of @node is not in @known */
static void
sub_collect(VbSubElem *sub, xmlNode *node, const char *const known[])
{
    sub->present = TRUE;
    vb_extra_collect(&sub->extra, node, known, NULL, NULL);
}

static const char *
disk_bus_from_dev(const char *dev)
{
    if (g_str_has_prefix(dev, "vd"))
        return "virtio";
    if (g_str_has_prefix(dev, "hd"))
        return "ide";
    if (g_str_has_prefix(dev, "fd"))
        return "fdc";
    if (g_str_has_prefix(dev, "sd"))
        return "scsi";
    return NULL;
}

static gboolean
parse_disk_target(VbDeviceDef *dev, xmlNode *t, GError **error)
{
    static const char *const known[] = { "dev", "bus", NULL };

    dev->target_dev = vb_xml_prop(t, "dev");
    if (dev->target_dev == NULL || *dev->target_dev == '\0') {
        vb_set_error_line(error, VB_ERROR_INVALID_XML, t, "missing attribute 'dev'");
        return FALSE;
    }
    if (!vb_xml_prop_enum(t, "bus", disk_buses, FALSE, &dev->bus, error))
        return FALSE;
    if (dev->bus == NULL) {
        dev->bus = g_strdup(disk_bus_from_dev(dev->target_dev));
        if (dev->bus == NULL) {
            vb_set_error_line(error, VB_ERROR_INVALID_ARG, t,
                              "cannot infer the bus of disk '%s'; set attribute 'bus'",
                              dev->target_dev);
            return FALSE;
        }
    }
    sub_collect(&dev->target, t, known);
    return TRUE;
}

static gboolean
parse_disk(VbDeviceDef *dev, xmlNode *node, GError **error)
{
    static const char *const known[] = { "type", "device", NULL };
    static const char *const modelled[] = { "driver", "source", "target", "readonly",
                                            "shareable", "address", NULL };
    static const char *const driver_known[] = { "name", "type", NULL };
    xmlNode *c;

    if (!vb_xml_prop_enum(node, "type", disk_types, FALSE, &dev->type, error) ||
        !vb_xml_prop_enum(node, "device", disk_devices, FALSE, &dev->device, error))
        return FALSE;
    if (dev->type == NULL)
        dev->type = g_strdup("file");
    if (dev->device == NULL)
        dev->device = g_strdup("disk");
    if ((c = first_child(node, "driver")) != NULL) {
        dev->driver_name = vb_xml_prop(c, "name");
        dev->driver_type = vb_xml_prop(c, "type");
        sub_collect(&dev->driver, c, driver_known);
    }
    if ((c = first_child(node, "source")) != NULL) {
        const char *attr = disk_source_attr(dev->type);
        const char *const source_known[] = { attr, NULL };

        dev->source_path = attr != NULL ? vb_xml_prop(c, attr) : NULL;
        /* children (<host>, <auth>, <address>, <reconnect>, ...) are kept verbatim */
        sub_collect(&dev->source, c, source_known);
    }
    if ((c = first_child(node, "target")) == NULL) {
        vb_set_error_line(error, VB_ERROR_INVALID_XML, node, "missing <target dev=> element");
        return FALSE;
    }
    if (!parse_disk_target(dev, c, error))
        return FALSE;
    dev->readonly = first_child(node, "readonly") != NULL;
    dev->shareable = first_child(node, "shareable") != NULL;
    vb_extra_collect(&dev->extra, node, known, modelled, vb_disk_ranks);
    return parse_address_child(dev, node, error);
}

static gboolean
parse_opt_int(xmlNode *node, const char *attr, guint max, int *out, GError **error)
{
    g_autofree char *v = vb_xml_prop(node, attr);
    guint u;

    if (v == NULL)
        return TRUE;
    if (!vb_xml_parse_uint(node, attr, v, max, &u, error))
        return FALSE;
    *out = (int)u;
    return TRUE;
}

static gboolean
parse_controller(VbDeviceDef *dev, xmlNode *node, GError **error)
{
    static const char *const known[] = { "type", "index", "model", "ports", "vectors", NULL };
    static const char *const modelled[] = { "address", NULL };
    g_autofree char *index = vb_xml_prop(node, "index");

    if (!vb_xml_prop_enum(node, "type", controller_types, TRUE, &dev->type, error))
        return FALSE;
    /* no index: the lowest free one is given after parsing (assign_controller_indexes) */
    dev->index = VB_CONTROLLER_INDEX_UNSET;
    if (index != NULL &&
        !vb_xml_parse_uint(node, "index", index, VB_CONTROLLER_INDEX_MAX, &dev->index, error))
        return FALSE;
    if (!parse_opt_int(node, "ports", 255, &dev->ports, error) ||
        !parse_opt_int(node, "vectors", 65535, &dev->vectors, error))
        return FALSE;
    dev->model = vb_xml_prop(node, "model");
    vb_extra_collect(&dev->extra, node, known, modelled, vb_controller_ranks);
    return parse_address_child(dev, node, error);
}

static gboolean
parse_interface(VbDeviceDef *dev, xmlNode *node, GError **error)
{
    static const char *const known[] = { "type", NULL };
    static const char *const modelled[] = { "mac", "source", "model", "address", NULL };
    static const char *const model_known[] = { "type", NULL };
    static const char *const mac_known[] = { "address", NULL };
    xmlNode *c;

    if (!vb_xml_prop_enum(node, "type", net_types, TRUE, &dev->type, error))
        return FALSE;
    if ((c = first_child(node, "mac")) != NULL) {
        g_autofree char *mac = vb_xml_prop(c, "address");
        if (mac == NULL) {
            vb_set_error_line(error, VB_ERROR_INVALID_XML, c, "missing attribute 'address'");
            return FALSE;
        }
        if (!vb_mac_parse(mac, &dev->mac)) {
            vb_set_error_line(error, VB_ERROR_INVALID_ARG, c, "malformed MAC address '%s'",
                              mac);
            return FALSE;
        }
        sub_collect(&dev->mac_elem, c, mac_known);
    }
    if ((c = first_child(node, "source")) != NULL)
        sub_collect(&dev->source, c, NULL);
    if ((c = first_child(node, "model")) != NULL) {
        dev->model = vb_xml_prop(c, "type");
        sub_collect(&dev->model_elem, c, model_known);
    }
    vb_extra_collect(&dev->extra, node, known, modelled, vb_interface_ranks);
    return parse_address_child(dev, node, error);
}

static gboolean
parse_chardev_target(VbDeviceDef *dev, xmlNode *t, GError **error)
{
    static const char *const known[] = { "type", "port", "name", NULL };
    const char *const *types = dev->kind == VB_DEV_SERIAL    ? serial_targets
                               : dev->kind == VB_DEV_CONSOLE ? console_targets
                                                             : channel_targets;

    if (!vb_xml_prop_enum(t, "type", types, dev->kind == VB_DEV_CHANNEL, &dev->target_type,
                          error) ||
        !parse_opt_int(t, "port", 65535, &dev->target_port, error))
        return FALSE;
    dev->target_name = vb_xml_prop(t, "name");
    sub_collect(&dev->target, t, known);
    return TRUE;
}

static gboolean
parse_chardev(VbDeviceDef *dev, xmlNode *node, GError **error)
{
    static const char *const known[] = { "type", NULL };
    static const char *const modelled[] = { "source", "target", "address", NULL };
    guint sources = 0;
    gboolean udp;
    xmlNode *c;

    if (!vb_xml_prop_enum(node, "type", chr_types, FALSE, &dev->type, error))
        return FALSE;
    if (dev->type == NULL)
        dev->type = g_strdup("pty");
    /* as libvirt's virDomainChrSourceDefParseXML(): one <source>, two for udp (bind and
     * connect); a second one would be kept verbatim and read as the first by the next
     * define */
    for (xmlNode *s = node->children; s != NULL; s = s->next) {
        if (vb_xml_is(s, "source"))
            sources++;
    }
    udp = strcmp(dev->type, "udp") == 0;
    if (sources > (udp ? 2u : 1u)) {
        vb_set_error_line(error, VB_ERROR_INVALID_XML, node,
                          "only %s <source> element%s allowed for a character device of type "
                          "'%s'", udp ? "two" : "one", udp ? "s are" : " is", dev->type);
        return FALSE;
    }
    if ((c = first_child(node, "source")) != NULL) {
        dev->source_path = vb_xml_prop(c, "path");
        sub_collect(&dev->source, c, NULL);
    }
    if ((c = first_child(node, "target")) != NULL) {
        if (!parse_chardev_target(dev, c, error))
            return FALSE;
    } else if (dev->kind == VB_DEV_CHANNEL) {
        vb_set_error_line(error, VB_ERROR_INVALID_XML, node, "missing <target> element");
        return FALSE;
    }
    vb_extra_collect(&dev->extra, node, known, modelled, vb_chardev_ranks);
    vb_extra_keep_repeats(&dev->extra, node, "source", vb_chardev_ranks);
    return parse_address_child(dev, node, error);
}

static const char *const spice_image_compressions[] = { "auto_glz", "auto_lz", "quic", "glz",
                                                        "lz", "off", NULL };

static gboolean
check_listen_address(xmlNode *node, const char *addr, GError **error)
{
    if (addr == NULL || vb_listen_address_valid(addr))
        return TRUE;
    vb_set_error_line(error, VB_ERROR_INVALID_ARG, node,
                      "invalid listen address '%s' (expected an IPv4 or IPv6 address or a host "
                      "name)", addr);
    return FALSE;
}

/*
 * The kept children of <graphics> whose values reach QEMU's command line: the address of
 * each <listen>, SPICE's <image compression>. Checked here so DefineXML refuses them.
 */
static gboolean
check_graphics_children(xmlNode *node, GError **error)
{
    for (xmlNode *c = node->children; c != NULL; c = c->next) {
        g_autofree char *value = NULL;

        if (vb_xml_is(c, "listen")) {
            value = vb_xml_prop(c, "address");
            if (!check_listen_address(c, value, error))
                return FALSE;
        } else if (vb_xml_is(c, "image")) {
            if (!vb_xml_prop_enum(c, "compression", spice_image_compressions, FALSE, &value,
                                  error))
                return FALSE;
        }
    }
    return TRUE;
}

/* libvirt's virDomainGraphicsAuthDefParseXML: passwdValidTo and connected= */
static gboolean
check_graphics_auth(xmlNode *node, const char *type, GError **error)
{
    static const char *const actions[] = { "fail", "disconnect", "keep", NULL };
    g_autofree char *valid_to = vb_xml_prop(node, "passwdValidTo");
    g_autofree char *connected = NULL;
    gint64 t;

    if (valid_to != NULL && !vb_graphics_parse_valid_to(valid_to, &t)) {
        vb_set_error_line(error, VB_ERROR_INVALID_XML, node,
                          "cannot parse password validity time '%s', expect "
                          "YYYY-MM-DDTHH:MM:SS (UTC)", valid_to);
        return FALSE;
    }
    if (!vb_xml_prop_enum(node, "connected", actions, FALSE, &connected, error))
        return FALSE;
    if (connected != NULL && g_strcmp0(type, "vnc") == 0 && strcmp(connected, "keep") != 0) {
        vb_set_error_line(error, VB_ERROR_NOT_SUPPORTED, node,
                          "VNC supports connected='keep' only");
        return FALSE;
    }
    return TRUE;
}

static gboolean
parse_graphics(VbDeviceDef *dev, xmlNode *node, GError **error)
{
    static const char *const known[] = { "type", "port", "autoport", "listen", "passwd", NULL };
    static const char *const modelled[] = { NULL };
    g_autofree char *port = vb_xml_prop(node, "port");

    if (!vb_xml_prop_enum(node, "type", graphics_types, TRUE, &dev->type, error) ||
        !vb_xml_prop_yesno(node, "autoport", "yes", "no", &dev->autoport, error))
        return FALSE;
    if (port != NULL && strcmp(port, "-1") == 0)
        dev->port = -1, dev->autoport = dev->autoport < 0 ? 1 : dev->autoport;
    else if (!parse_opt_int(node, "port", 65535, &dev->port, error))
        return FALSE;
    dev->listen = vb_xml_prop(node, "listen");
    if (!check_listen_address(node, dev->listen, error) ||
        !check_graphics_children(node, error))
        return FALSE;
    dev->passwd = vb_xml_prop(node, "passwd");
    if (!check_graphics_auth(node, dev->type, error))
        return FALSE;
    vb_extra_collect(&dev->extra, node, known, modelled, NULL);
    return TRUE;
}

static gboolean
parse_video(VbDeviceDef *dev, xmlNode *node, GError **error)
{
    static const char *const modelled[] = { "model", "address", NULL };
    static const char *const model_known[] = { "type", "vram", "heads", "primary", NULL };
    xmlNode *m = first_child(node, "model");

    if (m != NULL) {
        g_autofree char *vram = vb_xml_prop(m, "vram");
        g_autofree char *heads = vb_xml_prop(m, "heads");

        if (!vb_xml_prop_enum(m, "type", video_models, TRUE, &dev->model, error) ||
            !vb_xml_prop_yesno(m, "primary", "yes", "no", &dev->primary, error))
            return FALSE;
        if (vram != NULL && !vb_xml_parse_uint(m, "vram", vram, G_MAXINT, &dev->vram, error))
            return FALSE;
        if (heads != NULL && !vb_xml_parse_uint(m, "heads", heads, 16, &dev->heads, error))
            return FALSE;
        sub_collect(&dev->model_elem, m, model_known);
    }
    vb_extra_collect(&dev->extra, node, NULL, modelled, vb_video_ranks);
    return parse_address_child(dev, node, error);
}

static gboolean
parse_simple(VbDeviceDef *dev, xmlNode *node, GError **error)
{
    static const char *const input_known[] = { "type", "bus", NULL };
    static const char *const model_known[] = { "model", NULL };
    static const char *const wd_known[] = { "model", "action", NULL };
    static const char *const modelled[] = { "address", NULL };
    const char *const *known = model_known;
    gboolean ok = TRUE;

    switch (dev->kind) {
    case VB_DEV_INPUT:
        known = input_known;
        ok = vb_xml_prop_enum(node, "type", input_types, TRUE, &dev->type, error) &&
             vb_xml_prop_enum(node, "bus", input_buses, FALSE, &dev->bus, error);
        break;
    case VB_DEV_WATCHDOG:
        known = wd_known;
        ok = vb_xml_prop_enum(node, "model", watchdog_models, TRUE, &dev->model, error) &&
             vb_xml_prop_enum(node, "action", watchdog_actions, FALSE, &dev->action, error);
        break;
    case VB_DEV_MEMBALLOON:
        ok = vb_xml_prop_enum(node, "model", balloon_models, TRUE, &dev->model, error);
        break;
    case VB_DEV_PANIC:
        ok = vb_xml_prop_enum(node, "model", panic_models, FALSE, &dev->model, error);
        break;
    case VB_DEV_SOUND:
        ok = vb_xml_prop_enum(node, "model", sound_models, TRUE, &dev->model, error);
        break;
    default:
        g_assert_not_reached();
    }
    if (!ok)
        return FALSE;
    vb_extra_collect(&dev->extra, node, known, modelled,
                     dev->kind == VB_DEV_SOUND ? vb_sound_ranks : vb_generic_dev_ranks);
    return parse_address_child(dev, node, error);
}

/* <filesystem>: type= and <address> modelled, the rest kept (read by the QEMU builder) */
static gboolean
parse_filesystem(VbDeviceDef *dev, xmlNode *node, GError **error)
{
    static const char *const known[] = { "type", NULL };
    static const char *const modelled[] = { "address", NULL };

    if (!vb_xml_prop_enum(node, "type", fs_types, FALSE, &dev->type, error))
        return FALSE;
    vb_extra_collect(&dev->extra, node, known, modelled, vb_filesystem_ranks);
    return parse_address_child(dev, node, error);
}

static gboolean
parse_rng(VbDeviceDef *dev, xmlNode *node, GError **error)
{
    static const char *const known[] = { "model", NULL };
    static const char *const modelled[] = { "backend", "address", NULL };
    xmlNode *b = first_child(node, "backend");

    if (!vb_xml_prop_enum(node, "model", rng_models, TRUE, &dev->model, error))
        return FALSE;
    if (b != NULL) {
        if (!vb_xml_prop_enum(b, "model", rng_backends, TRUE, &dev->backend_model, error))
            return FALSE;
        sub_collect(&dev->backend, b, known);
        if (dev->backend.extra.children == NULL) {
            dev->backend_text = g_strstrip(vb_xml_text(b));
            if (*dev->backend_text == '\0')
                g_clear_pointer(&dev->backend_text, g_free);
        }
    }
    vb_extra_collect(&dev->extra, node, known, modelled, vb_rng_ranks);
    return parse_address_child(dev, node, error);
}

static gboolean
parse_device(VbDomainDef *def, xmlNode *node, GError **error)
{
    int kind = node->ns == NULL ? vb_enum_from_string(vb_device_kind_names,
                                                      (const char *)node->name)
                                : -1;
    g_autoptr(GPtrArray) holder = g_ptr_array_new_with_free_func(
        (GDestroyNotify)vb_device_def_free);
    VbDeviceDef *dev;
    gboolean ok;

    if (kind < 0 || kind == VB_DEV_UNKNOWN)
        kind = VB_DEV_UNKNOWN;
    dev = vb_device_def_new(kind);
    g_ptr_array_add(holder, dev);
    dev->line = xmlGetLineNo(node);
    dev->rank = node->ns != NULL ? G_MAXINT - 1
                                 : vb_rank_lookup(vb_device_ranks, (const char *)node->name);
    if (unique_children(dev->kind) != NULL &&
        !vb_xml_check_unique(node, unique_children(dev->kind), error))
        return FALSE;
    switch (dev->kind) {
    case VB_DEV_DISK: ok = parse_disk(dev, node, error); break;
    case VB_DEV_CONTROLLER: ok = parse_controller(dev, node, error); break;
    case VB_DEV_INTERFACE: ok = parse_interface(dev, node, error); break;
    case VB_DEV_SERIAL:
    case VB_DEV_CONSOLE:
    case VB_DEV_CHANNEL: ok = parse_chardev(dev, node, error); break;
    case VB_DEV_GRAPHICS: ok = parse_graphics(dev, node, error); break;
    case VB_DEV_VIDEO: ok = parse_video(dev, node, error); break;
    case VB_DEV_RNG: ok = parse_rng(dev, node, error); break;
    case VB_DEV_FILESYSTEM: ok = parse_filesystem(dev, node, error); break;
    case VB_DEV_INPUT:
    case VB_DEV_WATCHDOG:
    case VB_DEV_MEMBALLOON:
    case VB_DEV_PANIC:
    case VB_DEV_SOUND: ok = parse_simple(dev, node, error); break;
    default:
        dev->raw = vb_raw_elem_new(node, dev->rank);
        g_ptr_array_add(def->unknown_elements, g_strdup(dev->raw->name));
        ok = TRUE;
        break;
    }
    if (!ok)
        return FALSE;
    g_ptr_array_add(def->priv->devices, g_ptr_array_steal_index(holder, 0));
    return TRUE;
}

static int
dev_rank(gconstpointer p)
{
    return ((const VbDeviceDef *)p)->rank;
}

/*
 * libvirt's default video model for the architecture (qemuDomainDefaultVideoDevice()):
 * virtio on ARM, RISC-V and s390 machines, vga on ppc64, cirrus elsewhere (x86).
 */
static const char *
default_video_model(const char *arch)
{
    static const char *const virtio_arches[] = { "aarch64", "armv7l", "armv6l", "riscv32",
                                                 "riscv64", "s390x", "loongarch64", NULL };

    if (arch == NULL)
        return "cirrus";
    if (g_str_has_prefix(arch, "ppc64"))
        return "vga";
    if (g_strv_contains(virtio_arches, arch))
        return "virtio";
    return "cirrus";
}

/*
 * Post-parse defaults: what libvirt fills in when it parses, so that every later user of
 * the model (command line, ABI check, address assignment) finds a value and the formatted
 * XML shows it. Written back: a <video/> comes out as <video><model type='cirrus'/>.
 */
static void
fill_device_defaults(VbDomainDef *def)
{
    GPtrArray *devs = def->priv->devices;

    for (guint i = 0; i < devs->len; i++) {
        VbDeviceDef *dev = g_ptr_array_index(devs, i);

        if (dev->kind == VB_DEV_VIDEO && dev->model == NULL) {
            dev->model = g_strdup(default_video_model(def->priv->os_arch));
            dev->model_elem.present = TRUE;
        }
    }
}

/**
 * vb_controller_is_usb2:
 * @dev: a device
 *
 * Returns: whether @dev is one controller of an ICH9 USB2 set (ich9-ehci1 and its
 * ich9-uhci1/2/3 companions), the controllers that may share one index
 */
gboolean
vb_controller_is_usb2(const VbDeviceDef *dev)
{
    static const char *const usb2[] = { "ich9-ehci1", "ich9-uhci1", "ich9-uhci2", "ich9-uhci3",
                                        NULL };

    return dev->kind == VB_DEV_CONTROLLER && strcmp(dev->type, "usb") == 0 &&
           dev->model != NULL && g_strv_contains(usb2, dev->model);
}

/**
 * vb_controller_master:
 * @dev: a controller
 *
 * Returns: (nullable): the kept <master> child of a USB companion controller
 */
const VbRawElem *
vb_controller_master(const VbDeviceDef *dev)
{
    GPtrArray *ch = dev->extra.children;

    for (guint i = 0; ch != NULL && i < ch->len; i++) {
        const VbRawElem *raw = g_ptr_array_index(ch, i);

        if (strcmp(raw->name, "master") == 0)
            return raw;
    }
    return NULL;
}

static gboolean
index_used(GPtrArray *devs, const char *type, guint index)
{
    for (guint i = 0; i < devs->len; i++) {
        const VbDeviceDef *d = g_ptr_array_index(devs, i);

        if (d->kind == VB_DEV_CONTROLLER && strcmp(d->type, type) == 0 && d->index == index)
            return TRUE;
    }
    return FALSE;
}

/* the index a USB2 controller without one shares with the USB2 controller before it, as
 * libvirt's virDomainAssignControllerIndexes(): the previous USB controller must be USB2 and
 * no controller of this model may have that index yet */
static gboolean
usb2_companion_index(GPtrArray *devs, guint pos, guint *out_index)
{
    const VbDeviceDef *cont = g_ptr_array_index(devs, pos);
    const VbDeviceDef *prev = NULL;

    for (guint i = pos; i-- > 0 && prev == NULL;) {
        const VbDeviceDef *d = g_ptr_array_index(devs, i);

        if (d->kind == VB_DEV_CONTROLLER && strcmp(d->type, "usb") == 0)
            prev = d;
    }
    if (prev == NULL || !vb_controller_is_usb2(prev) || prev->index == VB_CONTROLLER_INDEX_UNSET)
        return FALSE;
    for (guint i = 0; i < devs->len; i++) {
        const VbDeviceDef *d = g_ptr_array_index(devs, i);

        if (d->kind == VB_DEV_CONTROLLER && strcmp(d->type, "usb") == 0 &&
            d->index == prev->index && g_strcmp0(d->model, cont->model) == 0)
            return FALSE;
    }
    *out_index = prev->index;
    return TRUE;
}

static int
raw_rank(gconstpointer p)
{
    return ((const VbRawElem *)p)->rank;
}

/* libvirt's parser: an ICH9 UHCI companion without <master> is on its EHCI's ports 0-1,
 * 2-3 or 4-5 (uhci1, uhci2, uhci3), written back as <master startport=> */
static void
usb_companion_master(VbDeviceDef *dev)
{
    static const char *const companions[] = { "ich9-uhci1", "ich9-uhci2", "ich9-uhci3", NULL };
    xmlNode *node;
    char port[2] = { 0 };

    if (strcmp(dev->type, "usb") != 0 || dev->model == NULL ||
        !g_strv_contains(companions, dev->model) || vb_controller_master(dev) != NULL)
        return;
    port[0] = (char)('0' + 2 * (dev->model[strlen(dev->model) - 1] - '1'));
    node = xmlNewNode(NULL, (const xmlChar *)"master");
    xmlSetProp(node, (const xmlChar *)"startport", (const xmlChar *)port);
    if (dev->extra.children == NULL)
        dev->extra.children = g_ptr_array_new_with_free_func((GDestroyNotify)vb_raw_elem_free);
    g_ptr_array_add(dev->extra.children,
                    vb_raw_elem_new(node, VB_RANK(vb_controller_ranks, "master")));
    xmlFreeNode(node);
    vb_sort_by_rank(dev->extra.children, raw_rank);
}

/*
 * Controllers without index= get the lowest index not used by a controller of the same type
 * (libvirt's virDomainAssignControllerIndexes()), in document order; USB2 companions join
 * the set before them. Then libvirt's USB rules: model 'none' excludes any other USB
 * controller, and USB controllers need one without <master>.
 */
static gboolean
assign_controller_indexes(GPtrArray *devs, GError **error)
{
    gboolean usb_none = FALSE, usb_other = FALSE, usb_master = FALSE;
    int usb_line = 0;

    for (guint i = 0; i < devs->len; i++) {
        VbDeviceDef *dev = g_ptr_array_index(devs, i);
        guint index = 0;

        if (dev->kind != VB_DEV_CONTROLLER)
            continue;
        usb_companion_master(dev);
        if (dev->index == VB_CONTROLLER_INDEX_UNSET) {
            if (!vb_controller_is_usb2(dev) || !usb2_companion_index(devs, i, &index)) {
                index = 0;
                while (index_used(devs, dev->type, index))
                    index++;
            }
            if (index > VB_CONTROLLER_INDEX_MAX) {
                g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                            "line %d: <controller>: no free %s controller index (the largest "
                            "is %u)", dev->line, dev->type, VB_CONTROLLER_INDEX_MAX);
                return FALSE;
            }
            dev->index = index;
        }
        if (strcmp(dev->type, "usb") != 0)
            continue;
        if ((g_strcmp0(dev->model, "none") == 0 && (usb_other || usb_none)) ||
            (g_strcmp0(dev->model, "none") != 0 && usb_none)) {
            g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                        "line %d: <controller>: cannot add another USB controller: USB is "
                        "disabled for this domain (model='none')", dev->line);
            return FALSE;
        }
        if (usb_line == 0)
            usb_line = dev->line;
        if (g_strcmp0(dev->model, "none") == 0)
            usb_none = TRUE;
        else
            usb_other = TRUE;
        if (vb_controller_master(dev) == NULL)
            usb_master = TRUE;
    }
    if (usb_other && !usb_master) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                    "line %d: <controller>: no master USB controller: every USB controller has "
                    "<master> (a companion controller needs one without)", usb_line);
        return FALSE;
    }
    return TRUE;
}

/**
 * vb_domain_def_parse_devices:
 * @def: the definition being parsed
 * @devices: the <devices> element
 * @error: error
 */
gboolean
vb_domain_def_parse_devices(VbDomainDef *def, xmlNode *devices, GError **error)
{
    static const char *const once[] = { "emulator", NULL };

    if (!vb_xml_check_unique(devices, once, error))
        return FALSE;
    vb_extra_collect(&def->priv->devices_extra, devices, NULL, NULL, NULL);
    /* children are handled below, not kept as extra */
    g_clear_pointer(&def->priv->devices_extra.children, g_ptr_array_unref);
    for (xmlNode *c = devices->children; c != NULL; c = c->next) {
        if (c->type != XML_ELEMENT_NODE)
            continue;
        if (vb_xml_is(c, "emulator")) {
            def->priv->emulator = g_strstrip(vb_xml_text(c));
            continue;
        }
        if (!parse_device(def, c, error))
            return FALSE;
    }
    /* keep the model in the order it is formatted in, so copies compare equal */
    vb_sort_by_rank(def->priv->devices, dev_rank);
    fill_device_defaults(def);
    return assign_controller_indexes(def->priv->devices, error);
}

/**
 * vb_domain_def_parse_one_device:
 * @def: a complete definition (issue 13, part hotplug)
 * @node: one device element (<disk>, <interface>, ...)
 * @error: error
 *
 * Parses @node as a device of <devices> and adds it to @def, with the defaults and
 * controller indexes a whole parse gives. On error @def may hold a half-added device:
 * callers work on a copy and drop it.
 *
 * Returns: (transfer none) (nullable): the new device
 */
VbDeviceDef *
vb_domain_def_parse_one_device(VbDomainDef *def, xmlNode *node, GError **error)
{
    VbDeviceDef *dev;

    if (!parse_device(def, node, error))
        return NULL;
    dev = g_ptr_array_index(def->priv->devices, def->priv->devices->len - 1);
    vb_sort_by_rank(def->priv->devices, dev_rank);
    fill_device_defaults(def);
    if (!assign_controller_indexes(def->priv->devices, error))
        return NULL;
    return dev;
}
