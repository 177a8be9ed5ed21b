/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Input, graphics, video, watchdog, memballoon, rng and panic devices. */
#include "config.h"

#include <string.h>

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
    const char *port = NULL;
    const char *bus = NULL;

    if (!has_usb(c))
        return vb_qemu_cmd_unsupported(c, error, dev, "a USB device needs a USB controller");
    if (a->type == VB_ADDR_OTHER && g_strcmp0(a->type_str, "usb") == 0) {
        bus = vb_extra_get_attr(&a->extra, "bus");
        port = vb_extra_get_attr(&a->extra, "port");
    } else if (a->type != VB_ADDR_NONE) {
        return vb_qemu_cmd_unsupported(c, error, dev, "a USB device needs a USB address");
    }
    if (bus != NULL && strcmp(bus, "0") != 0)
        return vb_qemu_cmd_unsupported(c, error, dev, "USB bus %s is not supported", bus);
    vb_json_str(j, "bus", "usb.0");
    if (port != NULL)
        vb_json_str(j, "port", port);
    return TRUE;
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

/* listen address: listen= or the first <listen type='address'> child, else 127.0.0.1 */
static gboolean
graphics_listen(const VbQemuCmd *c, const VbDeviceDef *dev, char **out_addr, GError **error)
{
    GPtrArray *ch = dev->extra.children;
    g_autofree char *addr = g_strdup(dev->listen);
    guint listens = 0;

    for (guint i = 0; ch != NULL && i < ch->len; i++) {
        const VbRawElem *raw = g_ptr_array_index(ch, i);
        g_autofree char *type = NULL;
        g_autofree char *child_addr = NULL;

        if (strcmp(raw->name, "listen") != 0)
            continue;
        /* QEMU listens on one address; libvirt refuses more for it too */
        if (++listens > 1)
            return vb_qemu_cmd_unsupported(c, error, dev, "only one <listen> is supported");
        type = vb_raw_elem_get_attr(raw, "type");
        if (g_strcmp0(type, "address") != 0)
            return vb_qemu_cmd_unsupported(c, error, dev, "<listen type='%s'> is not supported",
                                           type != NULL ? type : "");
        child_addr = vb_raw_elem_get_attr(raw, "address");
        if (addr != NULL && child_addr != NULL && strcmp(addr, child_addr) != 0)
            return vb_qemu_cmd_unsupported(c, error, dev, "listen='%s' does not match the "
                                           "<listen address='%s'>", addr, child_addr);
        if (addr == NULL)
            addr = g_steal_pointer(&child_addr);
    }
    *out_addr = addr != NULL ? g_steal_pointer(&addr) : g_strdup("127.0.0.1");
    return TRUE;
}

static gboolean
graphics_port(VbQemuCmd *c, const VbDeviceDef *dev, int *out_port, GError **error)
{
    if (dev->autoport == 1 || dev->port < 0) {
        if (c->params->vnc_port < 0)
            return vb_qemu_cmd_unsupported(c, error, dev, "autoport needs a display port "
                                           "allocated by the caller");
        *out_port = c->params->vnc_port;
        return TRUE;
    }
    *out_port = dev->port;
    return TRUE;
}

static gboolean
build_vnc(VbQemuCmd *c, const VbDeviceDef *dev, GError **error)
{
    static const char *const ok_children[] = { "listen", NULL };
    g_autofree char *addr = NULL;
    g_autofree char *e = NULL;
    int port = 0;

    if (!vb_qemu_cmd_check_extra(c, dev, &dev->extra, NULL, NULL, ok_children, error) ||
        !graphics_listen(c, dev, &addr, error) || !graphics_port(c, dev, &port, error))
        return FALSE;
    if (port < 5900)
        return vb_qemu_cmd_unsupported(c, error, dev, "VNC port %d is below 5900", port);
    /* the display is -vnc's implied first value: commas are doubled, and an '=' (which
     * QemuOpts cannot escape there) never passes the parser's address check */
    e = vb_qemu_cmd_escape(addr);
    vb_qemu_cmd_addf(c, "-vnc", "%s%s%s:%d%s", strchr(addr, ':') ? "[" : "", e,
                     strchr(addr, ':') ? "]" : "", port - 5900,
                     dev->passwd != NULL ? ",password=on" : "");
    return TRUE;
}

static gboolean
build_spice(VbQemuCmd *c, const VbDeviceDef *dev, GError **error)
{
    static const char *const ok_children[] = { "listen", "image", NULL };
    g_autoptr(GString) opts = g_string_new(NULL);
    g_autofree char *addr = NULL;
    g_autofree char *e = NULL;
    GPtrArray *ch = dev->extra.children;
    guint images = 0;
    int port = 0;

    if (!vb_qemu_cmd_check_extra(c, dev, &dev->extra, NULL, NULL, ok_children, error) ||
        !graphics_listen(c, dev, &addr, error) || !graphics_port(c, dev, &port, error))
        return FALSE;
    e = vb_qemu_cmd_escape(addr);
    g_string_printf(opts, "port=%d,addr=%s", port, e);
    if (dev->passwd == NULL)
        g_string_append(opts, ",disable-ticketing=on");
    for (guint i = 0; ch != NULL && i < ch->len; i++) {
        const VbRawElem *raw = g_ptr_array_index(ch, i);
        g_autofree char *comp = NULL;
        g_autofree char *ecomp = NULL;

        if (strcmp(raw->name, "image") != 0)
            continue;
        if (images++ > 0)
            return vb_qemu_cmd_unsupported(c, error, dev, "only one <image> is supported");
        if ((comp = vb_raw_elem_get_attr(raw, "compression")) == NULL)
            continue;
        ecomp = vb_qemu_cmd_escape(comp);
        g_string_append_printf(opts, ",image-compression=%s", ecomp);
    }
    g_string_append(opts, ",seamless-migration=on");
    vb_qemu_cmd_addf(c, "-spice", "%s", opts->str);
    return TRUE;
}

/**
 * vb_qemu_cmd_build_graphics:
 * @c: the command being built
 * @error: error
 *
 * -vnc / -spice; without graphics -display none. VNC and SPICE passwords are not on the
 * command line: the process code sets them over QMP (set_password) before resuming.
 */
gboolean
vb_qemu_cmd_build_graphics(VbQemuCmd *c, GError **error)
{
    GPtrArray *devs = c->def->priv->devices;
    int n = 0;
    int autoports = 0;

    for (guint i = 0; i < devs->len; i++) {
        const VbDeviceDef *dev = g_ptr_array_index(devs, i);
        gboolean ok;

        if (dev->kind != VB_DEV_GRAPHICS)
            continue;
        if ((dev->autoport == 1 || dev->port < 0) && ++autoports > 1)
            return vb_qemu_cmd_unsupported(c, error, dev, "only one graphics device can use "
                                           "autoport");
        if (strcmp(dev->type, "vnc") == 0)
            ok = build_vnc(c, dev, error);
        else if (strcmp(dev->type, "spice") == 0)
            ok = build_spice(c, dev, error);
        else
            ok = vb_qemu_cmd_unsupported(c, error, dev, "graphics type '%s' is not supported",
                                         dev->type);
        if (!ok)
            return FALSE;
        n++;
    }
    if (n == 0)
        vb_qemu_cmd_addf(c, "-display", "none");
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

static gboolean
build_balloon(VbQemuCmd *c, const VbDeviceDef *dev, GError **error)
{
    g_autofree char *name = NULL;
    g_autofree char *id = vb_domain_def_device_alias(c->def, dev);
    GString *j;

    if (!vb_qemu_cmd_check_extra(c, dev, &dev->extra, NULL, NULL, NULL, error))
        return FALSE;
    if (strcmp(dev->model, "none") == 0)
        return TRUE;
    if (!g_str_has_prefix(dev->model, "virtio"))
        return vb_qemu_cmd_unsupported(c, error, dev, "memballoon model '%s' is not supported",
                                       dev->model);
    name = g_strdup_printf("virtio-balloon-pci%s", dev->model + strlen("virtio"));
    j = vb_json_new();
    vb_json_str(j, "driver", name);
    vb_json_str(j, "id", id);
    if (!vb_qemu_cmd_pci_props(c, j, dev, error)) {
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

static gboolean
build_rng(VbQemuCmd *c, const VbDeviceDef *dev, int n, GError **error)
{
    static const char *const ok_children[] = { "rate", NULL };
    const char *backend = dev->backend_model != NULL ? dev->backend_model : "random";
    g_autofree char *id = vb_domain_def_device_alias(c->def, dev);
    g_autofree char *obj = g_strconcat("obj", id, NULL);
    g_autofree char *name = g_strdup_printf("virtio-rng-pci%s", dev->model + strlen("virtio"));
    GString *j;

    if (strcmp(backend, "random") != 0 && strcmp(backend, "builtin") != 0)
        return vb_qemu_cmd_unsupported(c, error, dev, "rng backend '%s' is not supported",
                                       backend);
    if (!vb_qemu_cmd_check_extra(c, dev, &dev->extra, NULL, NULL, ok_children, error) ||
        !vb_qemu_cmd_check_extra(c, dev, &dev->backend.extra, "backend", NULL, NULL, error))
        return FALSE;
    if (!vb_qemu_cmd_need_device(c, dev, name, error))
        return FALSE;
    j = vb_json_new();
    vb_json_str(j, "qom-type", strcmp(backend, "random") == 0 ? "rng-random" : "rng-builtin");
    vb_json_str(j, "id", obj);
    if (strcmp(backend, "random") == 0)
        vb_json_str(j, "filename", dev->backend_text != NULL ? dev->backend_text
                                                             : "/dev/urandom");
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
    if (dev->addr.type != VB_ADDR_NONE && strcmp(model, "pvpanic") != 0)
        return vb_qemu_cmd_unsupported(c, error, dev, "a panic device address is not supported");
    j = vb_json_new();
    if (strcmp(model, "isa") == 0) {
        vb_json_str(j, "driver", "pvpanic");
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
    }
    return TRUE;
}
