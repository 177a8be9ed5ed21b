/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Serial ports, consoles and channels: a -chardev backend ("charserial0", "charchannel0",
 * "charconsole0") and a front end (isa-serial, virtserialport, virtconsole), in libvirt's
 * order: serials, channels, consoles.
 */
#include "config.h"

#include <string.h>

#include "qemu-command-priv.h"
#include "vb-error.h"

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
        g_string_prepend(opts, "spicevmc");
        g_string_append(opts, ",name=vdagent");
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
    if (!vb_qemu_cmd_check_extra(c, dev, &dev->extra, NULL, NULL, NULL, error))
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
    if (strcmp(ttype, "isa-serial") != 0 && strcmp(ttype, "pci-serial") != 0)
        return vb_qemu_cmd_unsupported(c, error, dev, "serial target type '%s' is not "
                                       "supported", ttype);
    if (!add_chardev(c, dev, chr, error))
        return FALSE;
    j = vb_json_new();
    vb_json_str(j, "driver", ttype);
    vb_json_str(j, "chardev", chr);
    vb_json_str(j, "id", id);
    if (strcmp(ttype, "isa-serial") == 0) {
        vb_json_int(j, "index", index);
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
