/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The domain's interfaces and its guest agent channel, read from a (live) definition for
 * InterfaceAddresses and the agent client (issue 12, part addresses).
 */
#include "config.h"

#include <string.h>

#include "domain-def-guest.h"
#include "domain-def-priv.h"
#include "vb-error.h"

/**
 * vb_domain_iface_free:
 * @iface: (nullable): an interface
 */
void
vb_domain_iface_free(VbDomainIface *iface)
{
    if (iface == NULL)
        return;
    g_free(iface->type);
    g_free(iface->mac);
    g_free(iface->source);
    g_free(iface->model);
    g_free(iface->target_dev);
    g_free(iface);
}

/* <source network|bridge|dev|...> as virsh domiflist shows it */
static char *
iface_source(const VbDeviceDef *dev)
{
    static const char *const keys[] = { "network", "bridge", "dev", "path", "name", NULL };

    for (guint i = 0; keys[i] != NULL; i++) {
        const char *v = vb_extra_get_attr(&dev->source.extra, keys[i]);

        if (v != NULL)
            return g_strdup(v);
    }
    return NULL;
}

static char *
iface_target_dev(const VbDeviceDef *dev)
{
    GPtrArray *ch = dev->extra.children;

    for (guint i = 0; ch != NULL && i < ch->len; i++) {
        const VbRawElem *raw = g_ptr_array_index(ch, i);

        if (strcmp(raw->name, "target") == 0)
            return vb_raw_elem_get_attr(raw, "dev");
    }
    return NULL;
}

/**
 * vb_domain_def_get_ifaces:
 * @def: a definition (the live one of a running domain names its taps)
 *
 * Returns: (transfer full) (element-type VbDomainIface): the <interface>s, in order
 */
GPtrArray *
vb_domain_def_get_ifaces(const VbDomainDef *def)
{
    GPtrArray *out = g_ptr_array_new_with_free_func((GDestroyNotify)vb_domain_iface_free);
    GPtrArray *devs = def->priv->devices;

    for (guint i = 0; i < devs->len; i++) {
        const VbDeviceDef *dev = g_ptr_array_index(devs, i);
        VbDomainIface *iface;

        if (dev->kind != VB_DEV_INTERFACE)
            continue;
        iface = g_new0(VbDomainIface, 1);
        iface->type = g_strdup(dev->type);
        iface->mac = g_strdup(dev->mac);
        iface->source = iface_source(dev);
        iface->model = g_strdup(dev->model);
        iface->target_dev = iface_target_dev(dev);
        g_ptr_array_add(out, iface);
    }
    return out;
}

/**
 * vb_domain_def_find_agent_socket:
 * @def: the live definition of a running domain
 * @runtime_dir: (nullable): the run's runtime directory, where a channel without
 *   <source path> has its socket (qemu-command-chardev.c makes it there)
 * @error: NotSupported "QEMU guest agent is not configured" when there is no usable
 *   channel (libvirt's words and meaning)
 *
 * Finds the `<channel type='unix'><target type='virtio' name='org.qemu.guest_agent.0'/>`
 * whose socket QEMU listens on (mode bind, the default) and returns that socket's path.
 * Any thread; @def not changed meanwhile.
 *
 * Returns: (transfer full) (nullable): the socket path
 */
char *
vb_domain_def_find_agent_socket(const VbDomainDef *def, const char *runtime_dir,
                                GError **error)
{
    GPtrArray *devs = def->priv->devices;

    for (guint i = 0; i < devs->len; i++) {
        const VbDeviceDef *dev = g_ptr_array_index(devs, i);
        const char *mode;

        if (dev->kind != VB_DEV_CHANNEL || g_strcmp0(dev->target_type, "virtio") != 0 ||
            g_strcmp0(dev->target_name, VB_AGENT_CHANNEL_NAME) != 0)
            continue;
        if (g_strcmp0(dev->type, "unix") != 0) {
            g_set_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
                        "QEMU guest agent is not configured: its channel has type '%s'; only "
                        "type 'unix' can be reached by the service",
                        dev->type != NULL ? dev->type : "");
            return NULL;
        }
        mode = vb_extra_get_attr(&dev->source.extra, "mode");
        if (g_strcmp0(mode, "connect") == 0) {
            g_set_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
                        "QEMU guest agent is not configured: its channel connects to '%s' "
                        "(mode='connect'); the service can reach it only in mode 'bind'",
                        dev->source_path != NULL ? dev->source_path : "");
            return NULL;
        }
        if (dev->source_path != NULL)
            return g_strdup(dev->source_path);
        if (runtime_dir != NULL)
            return g_build_filename(runtime_dir, dev->target_name, NULL);
    }
    g_set_error_literal(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
                        "QEMU guest agent is not configured: add <channel type='unix'><target "
                        "type='virtio' name='" VB_AGENT_CHANNEL_NAME "'/></channel>");
    return NULL;
}
