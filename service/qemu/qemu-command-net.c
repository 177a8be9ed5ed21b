/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Network interfaces: a -netdev backend ("hostnetN") and a -device front end ("netN").
 *
 * Backends: type='user' is QEMU's slirp; type='bridge' uses QEMU's own bridge helper
 * (-netdev bridge,br=NAME: qemu-bridge-helper must be setuid and the bridge allowed in
 * /etc/qemu/bridge.conf). type='network', 'ethernet' and 'direct' need a tap device
 * created for QEMU (libvirt passes fds), which virtbus does not do yet: NotSupported.
 */
#include "config.h"

#include <string.h>

#include "qemu-command-priv.h"
#include "vb-error.h"

static const char *
nic_device_name(const char *model)
{
    static const char *const map[] = {
        "virtio", "virtio-net-pci", "virtio-transitional", "virtio-net-pci-transitional",
        "virtio-non-transitional", "virtio-net-pci-non-transitional", "e1000", "e1000",
        "e1000e", "e1000e", "rtl8139", "rtl8139", "vmxnet3", "vmxnet3", NULL
    };

    for (guint i = 0; map[i] != NULL; i += 2) {
        if (strcmp(map[i], model) == 0)
            return map[i + 1];
    }
    return NULL;
}

static gboolean
build_netdev(VbQemuCmd *c, const VbDeviceDef *dev, const char *id, GError **error)
{
    GString *j;

    if (strcmp(dev->type, "user") == 0) {
        if (!vb_qemu_cmd_check_extra(c, dev, &dev->source.extra, "source", NULL, NULL, error))
            return FALSE;
        j = vb_json_new();
        vb_json_str(j, "type", "user");
    } else if (strcmp(dev->type, "bridge") == 0) {
        static const char *const ok[] = { "bridge", NULL };
        const char *br = vb_extra_get_attr(&dev->source.extra, "bridge");

        if (br == NULL)
            return vb_qemu_cmd_unsupported(c, error, dev, "type 'bridge' needs <source bridge=>");
        if (!vb_qemu_cmd_check_extra(c, dev, &dev->source.extra, "source", ok, NULL, error))
            return FALSE;
        j = vb_json_new();
        vb_json_str(j, "type", "bridge");
        vb_json_str(j, "br", br);
    } else {
        return vb_qemu_cmd_unsupported(c, error, dev, "interface type '%s' is not supported "
                                       "(it needs a tap device set up for QEMU); use "
                                       "type='user' or type='bridge'", dev->type);
    }
    vb_json_str(j, "id", id);
    vb_qemu_cmd_add_json(c, "-netdev", j);
    return TRUE;
}

static gboolean
build_net(VbQemuCmd *c, const VbDeviceDef *dev, int n, GError **error)
{
    static const char *const ok_children[] = { "boot", "target", NULL };
    g_autofree char *id = vb_domain_def_device_alias(c->def, dev);
    g_autofree char *netdev = g_strconcat("host", id, NULL);
    const char *model = dev->model != NULL ? dev->model : "rtl8139";
    const char *name = nic_device_name(model);
    GString *j;

    if (!vb_qemu_cmd_check_extra(c, dev, &dev->extra, NULL, NULL, ok_children, error) ||
        !vb_qemu_cmd_check_extra(c, dev, &dev->model_elem.extra, "model", NULL, NULL, error) ||
        !vb_qemu_cmd_check_extra(c, dev, &dev->mac_elem.extra, "mac", NULL, NULL, error))
        return FALSE;
    if (name == NULL)
        return vb_qemu_cmd_unsupported(c, error, dev, "NIC model '%s' is not supported", model);
    if (!vb_qemu_cmd_need_device(c, dev, name, error) || !build_netdev(c, dev, netdev, error))
        return FALSE;
    j = vb_json_new();
    vb_json_str(j, "driver", name);
    vb_json_str(j, "netdev", netdev);
    vb_json_str(j, "id", id);
    if (dev->mac != NULL)
        vb_json_str(j, "mac", dev->mac);
    if (!vb_qemu_cmd_pci_props(c, j, dev, error)) {
        g_string_free(j, TRUE);
        return FALSE;
    }
    vb_qemu_cmd_bootindex(c, j, dev);
    return vb_qemu_cmd_add_device(c, dev, j, error);
}

/**
 * vb_qemu_cmd_build_nets:
 * @c: the command being built
 * @error: error
 */
gboolean
vb_qemu_cmd_build_nets(VbQemuCmd *c, GError **error)
{
    GPtrArray *devs = c->def->priv->devices;
    int n = 0;

    for (guint i = 0; i < devs->len; i++) {
        const VbDeviceDef *dev = g_ptr_array_index(devs, i);

        if (dev->kind != VB_DEV_INTERFACE)
            continue;
        if (!build_net(c, dev, n++, error))
            return FALSE;
    }
    return TRUE;
}
