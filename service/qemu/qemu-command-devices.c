/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Input, video, watchdog, memballoon, rng and panic devices. */
#include "config.h"

#include <string.h>

#include <libxml/parser.h>

#include "qemu-command-priv.h"
#include "vb-error.h"

static gboolean
has_usb(const VbQemuCmd *c)
{
    GPtrArray *devs = c->def->priv->devices;

    for (guint i = 0; i < devs->len; i++) {
        const VbDeviceDef *d = g_ptr_array_index(devs, i);

        if (d->kind == VB_DEV_CONTROLLER && strcmp(d->type, "usb") == 0 && d->index == 0 &&
            g_strcmp0(d->model, "none") != 0)
            return TRUE;
    }
    return FALSE;
}

/* "bus" and "port" of a USB device (also disks on bus='usb') */
gboolean
vb_qemu_cmd_usb_props(VbQemuCmd *c, GString *j, const VbDeviceDef *dev, GError **error)
{
    const VbDeviceAddress *a = &dev->addr;

    if (a->type == VB_ADDR_OTHER && g_strcmp0(a->type_str, "usb") == 0)
        return vb_qemu_cmd_usb_bus_port(c, j, dev, vb_extra_get_attr(&a->extra, "bus"),
                                        vb_extra_get_attr(&a->extra, "port"), error);
    if (a->type != VB_ADDR_NONE)
        return vb_qemu_cmd_unsupported(c, error, dev, "a USB device needs a USB address");
    return vb_qemu_cmd_usb_bus_port(c, j, dev, NULL, NULL, error);
}

/* "bus" and "port" from the bus= and port= of a USB address (either may be NULL) */
gboolean
vb_qemu_cmd_usb_bus_port(VbQemuCmd *c, GString *j, const VbDeviceDef *dev, const char *bus,
                         const char *port, GError **error)
{
    if (!has_usb(c))
        return vb_qemu_cmd_unsupported(c, error, dev, "a USB device needs a USB controller");
    if (bus != NULL && strcmp(bus, "0") != 0)
        return vb_qemu_cmd_unsupported(c, error, dev, "USB bus %s is not supported", bus);
    vb_json_str(j, "bus", "usb.0");
    if (port != NULL)
        vb_json_str(j, "port", port);
    return TRUE;
}

/* the one <source> child of an input, parsed (NULL with @error set when absent) */
static xmlDoc *
input_source(const VbQemuCmd *c, const VbDeviceDef *dev, GError **error)
{
    GPtrArray *ch = dev->extra.children;
    const VbRawElem *src = NULL;

    for (guint i = 0; ch != NULL && i < ch->len; i++) {
        const VbRawElem *raw = g_ptr_array_index(ch, i);

        if (strcmp(raw->name, "source") == 0 && src != NULL) {
            vb_qemu_cmd_unsupported(c, error, dev, "only one <source> is supported");
            return NULL;
        }
        if (strcmp(raw->name, "source") == 0)
            src = raw;
    }
    if (src == NULL) {
        vb_qemu_cmd_unsupported(c, error, dev, "input type '%s' needs a <source>", dev->type);
        return NULL;
    }
    return vb_raw_elem_parse(src);
}

/* <input type='evdev'>: the host device grabbed by QEMU (-object input-linux) */
static gboolean
build_input_evdev(VbQemuCmd *c, const VbDeviceDef *dev, const char *id, xmlNode *src,
                  GError **error)
{
    static const char *const toggles[] = { "ctrl-ctrl", "alt-alt", "shift-shift", "meta-meta",
                                           "scrolllock", "ctrl-scrolllock", NULL };
    g_autofree char *path = vb_xml_prop(src, "dev");
    g_autofree char *grab = vb_xml_prop(src, "grab");
    g_autofree char *repeat = vb_xml_prop(src, "repeat");
    g_autofree char *toggle = vb_xml_prop(src, "grabToggle");
    GString *j;

    if (path == NULL || !g_path_is_absolute(path))
        return vb_qemu_cmd_unsupported(c, error, dev, "<source dev=> must be an absolute "
                                       "path");
    if ((grab != NULL && strcmp(grab, "all") != 0) ||
        (repeat != NULL && strcmp(repeat, "on") != 0 && strcmp(repeat, "off") != 0) ||
        (toggle != NULL && !g_strv_contains(toggles, toggle)))
        return vb_qemu_cmd_unsupported(c, error, dev, "<source> of an evdev input takes "
                                       "grab='all', repeat='on|off' and a grabToggle QEMU "
                                       "knows");
    if (dev->bus != NULL || dev->addr.type != VB_ADDR_NONE)
        return vb_qemu_cmd_unsupported(c, error, dev, "an evdev input has no bus or address");
    j = vb_json_new();
    vb_json_str(j, "qom-type", "input-linux");
    vb_json_str(j, "id", id);
    vb_json_str(j, "evdev", path);
    if (repeat != NULL)
        vb_json_bool(j, "repeat", strcmp(repeat, "on") == 0);
    if (grab != NULL)
        vb_json_bool(j, "grab_all", TRUE);
    if (toggle != NULL)
        vb_json_str(j, "grab-toggle", toggle);
    vb_qemu_cmd_add_json(c, "-object", j);
    return TRUE;
}

/* <input type='passthrough' bus='virtio'>: virtio-input-host-pci on the host's evdev */
static gboolean
build_input_host(VbQemuCmd *c, const VbDeviceDef *dev, int n, GError **error)
{
    g_autofree char *id = g_strdup_printf("input%d", n);
    xmlDoc *doc = input_source(c, dev, error);
    g_autofree char *evdev = NULL;
    GString *j;
    gboolean ok;

    if (doc == NULL)
        return FALSE;
    if (strcmp(dev->type, "evdev") == 0) {
        ok = build_input_evdev(c, dev, id, xmlDocGetRootElement(doc), error);
        xmlFreeDoc(doc);
        return ok;
    }
    evdev = vb_xml_prop(xmlDocGetRootElement(doc), "evdev");
    xmlFreeDoc(doc);
    if (g_strcmp0(dev->bus, "virtio") != 0 && dev->bus != NULL)
        return vb_qemu_cmd_unsupported(c, error, dev, "a passthrough input needs "
                                       "bus='virtio'");
    if (evdev == NULL || !g_path_is_absolute(evdev))
        return vb_qemu_cmd_unsupported(c, error, dev, "<source evdev=> must be an absolute "
                                       "path");
    j = vb_json_new();
    vb_json_str(j, "driver", "virtio-input-host-pci");
    vb_json_str(j, "id", id);
    vb_json_str(j, "evdev", evdev);
    if (!vb_qemu_cmd_pci_props(c, j, dev, error)) {
        g_string_free(j, TRUE);
        return FALSE;
    }
    return vb_qemu_cmd_add_device(c, dev, j, error);
}

static gboolean
build_input(VbQemuCmd *c, const VbDeviceDef *dev, int n, GError **error)
{
    const char *type = dev->type;
    const char *bus = dev->bus != NULL ? dev->bus
                      : strcmp(type, "tablet") == 0 ? "usb" : "ps2";
    g_autofree char *id = vb_domain_def_device_alias(c->def, dev);
    const char *name;
    GString *j;

    if (strcmp(type, "passthrough") == 0 || strcmp(type, "evdev") == 0)
        return vb_qemu_cmd_check_extra(c, dev, &dev->extra, NULL, NULL,
                                       (const char *const[]){ "source", NULL }, error) &&
               build_input_host(c, dev, n, error);
    if (!vb_qemu_cmd_check_extra(c, dev, &dev->extra, NULL, NULL, NULL, error))
        return FALSE;
    if (strcmp(bus, "ps2") == 0 && strcmp(type, "tablet") != 0)
        return TRUE; /* the i8042 of pc and q35 */
    if (strcmp(bus, "usb") == 0)
        name = g_str_equal(type, "tablet") ? "usb-tablet"
               : g_str_equal(type, "mouse") ? "usb-mouse"
               : g_str_equal(type, "keyboard") ? "usb-kbd" : NULL;
    else if (strcmp(bus, "virtio") == 0)
        name = g_str_equal(type, "tablet") ? "virtio-tablet-pci"
               : g_str_equal(type, "mouse") ? "virtio-mouse-pci"
               : g_str_equal(type, "keyboard") ? "virtio-keyboard-pci" : NULL;
    else
        name = NULL;
    if (name == NULL)
        return vb_qemu_cmd_unsupported(c, error, dev, "input type '%s' on bus '%s' is not "
                                       "supported", type, bus);
    j = vb_json_new();
    vb_json_str(j, "driver", name);
    vb_json_str(j, "id", id);
    if (!(strcmp(bus, "usb") == 0 ? vb_qemu_cmd_usb_props(c, j, dev, error)
                                  : vb_qemu_cmd_pci_props(c, j, dev, error))) {
        g_string_free(j, TRUE);
        return FALSE;
    }
    return vb_qemu_cmd_add_device(c, dev, j, error);
}

/**
 * vb_qemu_cmd_build_inputs:
 * @c: the command being built
 * @error: error
 */
gboolean
vb_qemu_cmd_build_inputs(VbQemuCmd *c, GError **error)
{
    GPtrArray *devs = c->def->priv->devices;
    int n = 0;

    for (guint i = 0; i < devs->len; i++) {
        const VbDeviceDef *dev = g_ptr_array_index(devs, i);

        if (dev->kind == VB_DEV_INPUT && !build_input(c, dev, n++, error))
            return FALSE;
    }
    return TRUE;
}

static const char *
video_device_name(const char *model, gboolean primary)
{
    static const char *const map[] = {
        /* model, primary device, secondary device */
        "virtio", "virtio-vga", "virtio-gpu-pci", "vga", "VGA", NULL, "qxl", "qxl-vga", "qxl",
        "bochs", "bochs-display", "bochs-display", "cirrus", "cirrus-vga", NULL,
        "ramfb", "ramfb", NULL, NULL
    };

    for (guint i = 0; map[i] != NULL; i += 3) {
        if (strcmp(map[i], model) == 0)
            return map[primary ? i + 1 : i + 2];
    }
    return NULL;
}

/* a KiB size kept as an attribute of <model> (qxl ram=, vgamem=), or @fallback */
static gboolean
video_kib_attr(const VbQemuCmd *c, const VbDeviceDef *dev, const char *name, guint64 fallback,
               guint64 *out,
               GError **error)
{
    const char *v = vb_extra_get_attr(&dev->model_elem.extra, name);

    *out = fallback;
    if (v != NULL && !g_ascii_string_to_unsigned(v, 10, 0, G_MAXINT, out, NULL))
        return vb_qemu_cmd_unsupported(c, error, dev, "<model %s='%s'> must be a size in KiB "
                                       "between 0 and %d", name, v, G_MAXINT);
    return TRUE;
}

static gboolean
video_sizes(const VbQemuCmd *c, GString *j, const VbDeviceDef *dev, const char *model,
            GError **error)
{
    if (strcmp(model, "qxl") == 0) {
        guint64 vram = dev->vram != 0 ? dev->vram : 65536;
        guint64 ram;
        guint64 vgamem;

        if (!video_kib_attr(c, dev, "ram", 65536, &ram, error) ||
            !video_kib_attr(c, dev, "vgamem", 16384, &vgamem, error))
            return FALSE;
        vb_json_int(j, "ram_size", (gint64)ram * 1024);
        vb_json_int(j, "vram_size", (gint64)vram * 1024);
        vb_json_int(j, "vgamem_mb", (gint64)vgamem / 1024);
    } else if (strcmp(model, "vga") == 0 && dev->vram != 0) {
        vb_json_int(j, "vgamem_mb", dev->vram / 1024);
    } else if (strcmp(model, "bochs") == 0 && dev->vram != 0) {
        vb_json_int(j, "vgamem", (gint64)dev->vram * 1024);
    }
    return TRUE;
}

static gboolean
build_one_video(VbQemuCmd *c, const VbDeviceDef *dev, int n, gboolean primary,
                GError **error)
{
    static const char *const qxl_attrs[] = { "ram", "vgamem", NULL };
    const char *model = dev->model != NULL ? dev->model : "vga";
    const char *name = video_device_name(model, primary);
    g_autofree char *id = vb_domain_def_device_alias(c->def, dev);
    GString *j;

    if (!vb_qemu_cmd_check_extra(c, dev, &dev->extra, NULL, NULL, NULL, error) ||
        !vb_qemu_cmd_check_extra(c, dev, &dev->model_elem.extra, "model",
                                 strcmp(model, "qxl") == 0 ? qxl_attrs : NULL, NULL, error))
        return FALSE;
    if (strcmp(model, "none") == 0)
        return TRUE;
    if (name == NULL)
        return vb_qemu_cmd_unsupported(c, error, dev, "video model '%s' is not supported%s",
                                       model, primary ? "" : " as a secondary video device");
    j = vb_json_new();
    vb_json_str(j, "driver", name);
    vb_json_str(j, "id", id);
    if (dev->heads != 0 && (strcmp(model, "virtio") == 0 || strcmp(model, "qxl") == 0))
        vb_json_int(j, "max_outputs", dev->heads);
    if (!video_sizes(c, j, dev, model, error) ||
        (strcmp(model, "ramfb") != 0 && !vb_qemu_cmd_pci_props(c, j, dev, error))) {
        g_string_free(j, TRUE);
        return FALSE;
    }
    return vb_qemu_cmd_add_device(c, dev, j, error);
}

/**
 * vb_qemu_cmd_build_video:
 * @c: the command being built
 * @error: error
 */
gboolean
vb_qemu_cmd_build_video(VbQemuCmd *c, GError **error)
{
    GPtrArray *devs = c->def->priv->devices;
    const VbDeviceDef *primary = vb_domain_def_primary_video(c->def);
    int n = 0;

    if (primary != NULL && !build_one_video(c, primary, n++, TRUE, error))
        return FALSE;
    for (guint i = 0; i < devs->len; i++) {
        const VbDeviceDef *dev = g_ptr_array_index(devs, i);

        if (dev->kind == VB_DEV_VIDEO && dev != primary &&
            !build_one_video(c, dev, n++, FALSE, error))
            return FALSE;
    }
    return TRUE;
}

static gboolean
build_watchdog(VbQemuCmd *c, const VbDeviceDef *dev, const char **action, GError **error)
{
    const char *act = dev->action != NULL ? dev->action : "reset";
    g_autofree char *id = vb_domain_def_device_alias(c->def, dev);
    GString *j;

    if (!vb_qemu_cmd_check_extra(c, dev, &dev->extra, NULL, NULL, NULL, error))
        return FALSE;
    if (strcmp(act, "dump") == 0)
        return vb_qemu_cmd_unsupported(c, error, dev, "watchdog action 'dump' is not supported");
    if (*action != NULL && strcmp(*action, act) != 0)
        return vb_qemu_cmd_unsupported(c, error, dev, "all watchdogs must have the same action");
    *action = act;
    if (strcmp(dev->model, "itco") == 0) {
        if (!c->q35)
            return vb_qemu_cmd_unsupported(c, error, dev, "model 'itco' needs a Q35 machine");
        vb_qemu_cmd_addf(c, "-global", "ICH9-LPC.noreboot=off");
        return TRUE;
    }
    if (strcmp(dev->model, "i6300esb") != 0 && strcmp(dev->model, "ib700") != 0)
        return vb_qemu_cmd_unsupported(c, error, dev, "watchdog model '%s' is not supported",
                                       dev->model);
    j = vb_json_new();
    vb_json_str(j, "driver", dev->model);
    vb_json_str(j, "id", id);
    if (strcmp(dev->model, "i6300esb") == 0 && !vb_qemu_cmd_pci_props(c, j, dev, error)) {
        g_string_free(j, TRUE);
        return FALSE;
    }
    return vb_qemu_cmd_add_device(c, dev, j, error);
}

/* autodeflate= / freePageReporting= on|off → a bool property, absent when unset */
static gboolean
balloon_switch(const VbQemuCmd *c, const VbDeviceDef *dev, GString *j, const char *attr,
               const char *key, GError **error)
{
    const char *v = vb_extra_get_attr(&dev->extra, attr);

    if (v == NULL)
        return TRUE;
    if (strcmp(v, "on") != 0 && strcmp(v, "off") != 0)
        return vb_qemu_cmd_unsupported(c, error, dev, "%s='%s' must be on or off", attr, v);
    vb_json_bool(j, key, strcmp(v, "on") == 0);
    return TRUE;
}

static gboolean
build_balloon(VbQemuCmd *c, const VbDeviceDef *dev, GError **error)
{
    static const char *const ok_attrs[] = { "autodeflate", "freePageReporting", NULL };
    static const char *const ok_children[] = { "stats", NULL };
    g_autofree char *name = NULL;
    g_autofree char *id = vb_domain_def_device_alias(c->def, dev);
    GString *j;

    if (!vb_qemu_cmd_check_extra(c, dev, &dev->extra, NULL, ok_attrs, ok_children, error))
        return FALSE;
    if (strcmp(dev->model, "none") == 0)
        return TRUE;
    if (!g_str_has_prefix(dev->model, "virtio"))
        return vb_qemu_cmd_unsupported(c, error, dev, "memballoon model '%s' is not supported",
                                       dev->model);
    /* <stats period>: set over QMP once QEMU runs (qom-set guest-stats-polling-interval) */
    if (vb_domain_def_get_balloon_period(c->def) < 0)
        return vb_qemu_cmd_unsupported(c, error, dev, "<stats period> must be an integer "
                                       "between 0 and %d (seconds)", G_MAXINT);
    name = g_strdup_printf("virtio-balloon-pci%s", dev->model + strlen("virtio"));
    j = vb_json_new();
    vb_json_str(j, "driver", name);
    vb_json_str(j, "id", id);
    if (!balloon_switch(c, dev, j, "autodeflate", "deflate-on-oom", error) ||
        !balloon_switch(c, dev, j, "freePageReporting", "free-page-reporting", error) ||
        !vb_qemu_cmd_pci_props(c, j, dev, error)) {
        g_string_free(j, TRUE);
        return FALSE;
    }
    return vb_qemu_cmd_add_device(c, dev, j, error);
}

/* <rate bytes= period=>: at most one, both unsigned (QEMU's max-bytes is a uint64) */
static gboolean
rng_rate(const VbQemuCmd *c, const VbDeviceDef *dev, GString *j, GError **error)
{
    guint rates = 0;

    for (guint i = 0; dev->extra.children != NULL && i < dev->extra.children->len; i++) {
        const VbRawElem *raw = g_ptr_array_index(dev->extra.children, i);
        g_autofree char *bytes = NULL;
        g_autofree char *period = NULL;
        guint64 b;
        guint64 p = 1000;

        if (strcmp(raw->name, "rate") != 0)
            continue;
        if (++rates > 1)
            return vb_qemu_cmd_unsupported(c, error, dev, "only one <rate> is supported");
        bytes = vb_raw_elem_get_attr(raw, "bytes");
        period = vb_raw_elem_get_attr(raw, "period");
        if (bytes == NULL || !g_ascii_string_to_unsigned(bytes, 10, 1, G_MAXINT64, &b, NULL) ||
            (period != NULL &&
             !g_ascii_string_to_unsigned(period, 10, 1, G_MAXUINT32, &p, NULL)))
            return vb_qemu_cmd_unsupported(c, error, dev, "<rate> needs bytes= and an optional "
                                           "period= (milliseconds), positive integers");
        vb_json_int(j, "max-bytes", (gint64)b);
        vb_json_int(j, "period", (gint64)p);
    }
    return TRUE;
}

/* <backend model='egd' type='tcp|udp|unix'> and its <source>/<protocol> as one element */
static gboolean
rng_egd_chardev(VbQemuCmd *c, const VbDeviceDef *dev, const char *chr, GError **error)
{
    const char *type = vb_extra_get_attr(&dev->backend.extra, "type");
    GPtrArray *ch = dev->backend.extra.children;
    g_autoptr(GString) xml = g_string_new("<backend");
    xmlDoc *doc;
    gboolean ok;

    if (type == NULL)
        return vb_qemu_cmd_unsupported(c, error, dev, "an egd backend needs type=");
    vb_fmt_attr(xml, "type", type);
    g_string_append_c(xml, '>');
    for (guint i = 0; ch != NULL && i < ch->len; i++)
        g_string_append(xml, ((const VbRawElem *)g_ptr_array_index(ch, i))->xml);
    g_string_append(xml, "</backend>");
    doc = xmlReadMemory(xml->str, (int)xml->len, "backend.xml", NULL, XML_PARSE_NONET);
    if (doc == NULL)
        return vb_qemu_cmd_unsupported(c, error, dev, "cannot read <backend>");
    ok = vb_qemu_cmd_add_chardev_raw(c, dev, xmlDocGetRootElement(doc), chr, "vdagent",
                                     error);
    xmlFreeDoc(doc);
    return ok;
}

static gboolean
build_rng(VbQemuCmd *c, const VbDeviceDef *dev, int n, GError **error)
{
    static const char *const ok_children[] = { "rate", NULL };
    const char *backend = dev->backend_model != NULL ? dev->backend_model : "random";
    g_autofree char *id = vb_domain_def_device_alias(c->def, dev);
    g_autofree char *obj = g_strconcat("obj", id, NULL);
    g_autofree char *name = g_strdup_printf("virtio-rng-pci%s", dev->model + strlen("virtio"));
    GString *j;

    static const char *const egd_attrs[] = { "type", NULL };
    static const char *const egd_children[] = { "source", "protocol", NULL };
    gboolean egd = strcmp(backend, "egd") == 0;
    g_autofree char *chr = g_strdup_printf("charrng%d", n);

    if (strcmp(backend, "random") != 0 && strcmp(backend, "builtin") != 0 && !egd)
        return vb_qemu_cmd_unsupported(c, error, dev, "rng backend '%s' is not supported",
                                       backend);
    if (!vb_qemu_cmd_check_extra(c, dev, &dev->extra, NULL, NULL, ok_children, error) ||
        !vb_qemu_cmd_check_extra(c, dev, &dev->backend.extra, "backend",
                                 egd ? egd_attrs : NULL, egd ? egd_children : NULL, error))
        return FALSE;
    if (!vb_qemu_cmd_need_device(c, dev, name, error))
        return FALSE;
    /* egd: the daemon is reached through a chardev, "charrngN" */
    if (egd && !rng_egd_chardev(c, dev, chr, error))
        return FALSE;
    j = vb_json_new();
    vb_json_str(j, "qom-type", egd ? "rng-egd"
                               : strcmp(backend, "random") == 0 ? "rng-random" : "rng-builtin");
    vb_json_str(j, "id", obj);
    if (strcmp(backend, "random") == 0)
        vb_json_str(j, "filename", dev->backend_text != NULL ? dev->backend_text
                                                             : "/dev/urandom");
    if (egd)
        vb_json_str(j, "chardev", chr);
    vb_qemu_cmd_add_json(c, "-object", j);
    j = vb_json_new();
    vb_json_str(j, "driver", name);
    vb_json_str(j, "rng", obj);
    if (!rng_rate(c, dev, j, error)) {
        g_string_free(j, TRUE);
        return FALSE;
    }
    vb_json_str(j, "id", id);
    if (!vb_qemu_cmd_pci_props(c, j, dev, error)) {
        g_string_free(j, TRUE);
        return FALSE;
    }
    return vb_qemu_cmd_add_device(c, dev, j, error);
}

static gboolean
build_panic(VbQemuCmd *c, const VbDeviceDef *dev, GError **error)
{
    const char *model = dev->model != NULL ? dev->model : "isa";
    g_autofree char *id = vb_domain_def_device_alias(c->def, dev);
    GString *j;

    if (!vb_qemu_cmd_check_extra(c, dev, &dev->extra, NULL, NULL, NULL, error))
        return FALSE;
    if (dev->addr.type != VB_ADDR_NONE && strcmp(model, "pvpanic") != 0 &&
        strcmp(model, "isa") != 0)
        return vb_qemu_cmd_unsupported(c, error, dev, "a panic device address is not supported");
    j = vb_json_new();
    if (strcmp(model, "isa") == 0) {
        vb_json_str(j, "driver", "pvpanic");
        if (!vb_qemu_cmd_isa_iobase(c, dev, j, "ioport", error)) {
            g_string_free(j, TRUE);
            return FALSE;
        }
    } else if (strcmp(model, "pvpanic") == 0) {
        vb_json_str(j, "driver", "pvpanic-pci");
        vb_json_str(j, "id", id);
        if (!vb_qemu_cmd_pci_props(c, j, dev, error)) {
            g_string_free(j, TRUE);
            return FALSE;
        }
    } else {
        g_string_free(j, TRUE);
        return vb_qemu_cmd_unsupported(c, error, dev, "panic model '%s' is not supported", model);
    }
    return vb_qemu_cmd_add_device(c, dev, j, error);
}

/* <features><vmcoreinfo state='on'/>: -device vmcoreinfo (libvirt, after the RNGs), which
 * lets a guest kernel hand QEMU what a dump of it needs */
static gboolean
build_vmcoreinfo(VbQemuCmd *c, GError **error)
{
    GPtrArray *feats = c->def->priv->features_extra.children;

    for (guint i = 0; feats != NULL && i < feats->len; i++) {
        const VbRawElem *raw = g_ptr_array_index(feats, i);
        g_autofree char *state = vb_raw_elem_get_attr(raw, "state");

        if (strcmp(raw->name, "vmcoreinfo") != 0 || g_strcmp0(state, "on") != 0)
            continue;
        if (!vb_qemu_caps_has_device(c->caps, "vmcoreinfo")) {
            g_set_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
                        "line %d: <vmcoreinfo>: %s has no vmcoreinfo device", raw->line,
                        c->caps->binary);
            return FALSE;
        }
        GString *j = vb_json_new();

        vb_json_str(j, "driver", "vmcoreinfo");
        vb_qemu_cmd_add_json(c, "-device", j);
        return TRUE;
    }
    return TRUE;
}

/**
 * vb_qemu_cmd_build_misc:
 * @c: the command being built
 * @error: error
 *
 * Watchdogs (and -watchdog-action), memballoon, rng, panic, in libvirt's order.
 */
gboolean
vb_qemu_cmd_build_misc(VbQemuCmd *c, GError **error)
{
    static const VbDeviceKind order[] = { VB_DEV_WATCHDOG, VB_DEV_MEMBALLOON, VB_DEV_RNG,
                                          VB_DEV_PANIC };
    GPtrArray *devs = c->def->priv->devices;
    const char *action = NULL;
    int nrng = 0;

    for (guint k = 0; k < G_N_ELEMENTS(order); k++) {
        if (order[k] == VB_DEV_PANIC && !build_vmcoreinfo(c, error))
            return FALSE;
        for (guint i = 0; i < devs->len; i++) {
            const VbDeviceDef *dev = g_ptr_array_index(devs, i);
            gboolean ok = TRUE;

            if (dev->kind != order[k])
                continue;
            if (dev->kind == VB_DEV_WATCHDOG)
                ok = build_watchdog(c, dev, &action, error);
            else if (dev->kind == VB_DEV_MEMBALLOON)
                ok = build_balloon(c, dev, error);
            else if (dev->kind == VB_DEV_RNG)
                ok = build_rng(c, dev, nrng++, error);
            else
                ok = build_panic(c, dev, error);
            if (!ok)
                return FALSE;
        }
        if (order[k] == VB_DEV_WATCHDOG && action != NULL)
            vb_qemu_cmd_addf(c, "-watchdog-action", "%s", action);
        /* libvirt: redirected USB devices after the watchdogs */
        if (order[k] == VB_DEV_WATCHDOG && !vb_qemu_cmd_build_redirdevs(c, error))
            return FALSE;
    }
    return TRUE;
}

/* the position of @dev among the devices of its kind */
static int
kind_index(const VbQemuCmd *c, const VbDeviceDef *dev)
{
    GPtrArray *devs = c->def->priv->devices;
    int n = 0;

    for (guint i = 0; i < devs->len && g_ptr_array_index(devs, i) != dev; i++)
        n += ((const VbDeviceDef *)g_ptr_array_index(devs, i))->kind == dev->kind;
    return n;
}

/**
 * vb_qemu_cmd_build_rng_one:
 *
 * The -object and -device of one <rng>, as at start (issue 13, part hotplug).
 */
gboolean
vb_qemu_cmd_build_rng_one(VbQemuCmd *c, const VbDeviceDef *dev, GError **error)
{
    return build_rng(c, dev, kind_index(c, dev), error);
}

/**
 * vb_qemu_cmd_build_input_one:
 *
 * The -device of one <input>, as at start (issue 13, part hotplug); none for the
 * machine's own PS/2 devices.
 */
gboolean
vb_qemu_cmd_build_input_one(VbQemuCmd *c, const VbDeviceDef *dev, GError **error)
{
    return build_input(c, dev, kind_index(c, dev), error);
}

/**
 * vb_qemu_cmd_build_watchdog_one:
 *
 * The -device of one <watchdog> for a running QEMU (issue 13, part hotplug, second
 * session): libvirt 9.0 hot-plugs the PCI i6300esb only ("hotplug of watchdog of model %s
 * is not supported"); its action goes with QMP set-action (the caller).
 */
gboolean
vb_qemu_cmd_build_watchdog_one(VbQemuCmd *c, const VbDeviceDef *dev, GError **error)
{
    const char *action = NULL;

    if (g_strcmp0(dev->model, "i6300esb") != 0)
        return vb_qemu_cmd_unsupported(c, error, dev, "hotplug of watchdog of model %s is "
                                       "not supported (only i6300esb, as libvirt)",
                                       dev->model != NULL ? dev->model : "");
    return build_watchdog(c, dev, &action, error);
}
