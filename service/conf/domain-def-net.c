/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What a running domain's XML shows about its interfaces (issue 12, part interfaces), as
 * libvirt's: <target dev='vnet0'/> (the host device) and, for type='network', the bridge
 * the tap joined in <source network= bridge=>. vb_domain_def_clear_runtime() removes both
 * (a generated name and the bridge of a network).
 */
#include "config.h"

#include <string.h>

#include "domain-def-priv.h"

static VbDeviceDef *
nth_interface(const VbDomainDef *def, guint index)
{
    GPtrArray *devs = def->priv->devices;
    guint n = 0;

    for (guint i = 0; i < devs->len; i++) {
        VbDeviceDef *dev = g_ptr_array_index(devs, i);

        if (dev->kind == VB_DEV_INTERFACE && n++ == index)
            return dev;
    }
    return NULL;
}

static int
raw_rank_of(gconstpointer p)
{
    return ((const VbRawElem *)p)->rank;
}

static void
set_attr(VbExtra *extra, const char *name, const char *value)
{
    if (extra->attrs == NULL)
        extra->attrs = g_ptr_array_new_with_free_func(g_free);
    for (guint i = 0; i + 1 < extra->attrs->len; i += 2) {
        if (strcmp(g_ptr_array_index(extra->attrs, i), name) == 0) {
            g_free(extra->attrs->pdata[i + 1]);
            extra->attrs->pdata[i + 1] = g_strdup(value);
            return;
        }
    }
    g_ptr_array_add(extra->attrs, g_strdup(name));
    g_ptr_array_add(extra->attrs, g_strdup(value));
}

/* <target dev=>: the existing element gets dev=, or a new one is added */
static void
set_target(VbDeviceDef *dev, const char *ifname)
{
    GPtrArray *ch = dev->extra.children;
    int rank = VB_RANK(vb_interface_ranks, "target");
    xmlNode *node = NULL;
    xmlDoc *doc = NULL;
    VbRawElem *fresh;
    guint pos = G_MAXUINT;

    for (guint i = 0; ch != NULL && i < ch->len; i++) {
        const VbRawElem *raw = g_ptr_array_index(ch, i);

        if (strcmp(raw->name, "target") == 0) {
            doc = vb_raw_elem_parse(raw);
            node = doc != NULL ? xmlDocGetRootElement(doc) : NULL;
            pos = i;
            break;
        }
    }
    if (node == NULL)
        node = xmlNewNode(NULL, (const xmlChar *)"target");
    xmlSetProp(node, (const xmlChar *)"dev", (const xmlChar *)ifname);
    fresh = vb_raw_elem_new(node, rank);
    if (pos != G_MAXUINT) {
        fresh->line = ((VbRawElem *)g_ptr_array_index(ch, pos))->line;
        vb_raw_elem_free(ch->pdata[pos]);
        ch->pdata[pos] = fresh;
    } else {
        fresh->line = 0;
        if (dev->extra.children == NULL)
            dev->extra.children = g_ptr_array_new_with_free_func(
                (GDestroyNotify)vb_raw_elem_free);
        g_ptr_array_add(dev->extra.children, fresh);
        vb_sort_by_rank(dev->extra.children, raw_rank_of);
    }
    if (doc != NULL)
        xmlFreeDoc(doc);
    else
        xmlFreeNode(node);
}

/**
 * vb_domain_def_set_interface_live:
 * @def: the live definition of a domain that is starting
 * @index: which <interface> (0 for the first)
 * @ifname: (nullable): the host device QEMU's fds belong to
 * @bridge: (nullable): for type='network', the bridge the tap joined
 *
 * Records the host side of an interface in the live XML. Any thread, @def not shared.
 */
void
vb_domain_def_set_interface_live(VbDomainDef *def, guint index, const char *ifname,
                                 const char *bridge)
{
    VbDeviceDef *dev = nth_interface(def, index);

    if (dev == NULL)
        return;
    if (ifname != NULL)
        set_target(dev, ifname);
    if (bridge != NULL && g_strcmp0(dev->type, "network") == 0) {
        set_attr(&dev->source.extra, "bridge", bridge);
        dev->source.present = TRUE;
    }
}
