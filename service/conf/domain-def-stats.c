/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What statistics need from a definition (issue 13, part stats). */
#include "config.h"

#include <string.h>

#include <libxml/parser.h>

#include "domain-def-priv.h"
#include "vb-error.h"

void
vb_domain_disk_info_free(VbDomainDiskInfo *info)
{
    if (info == NULL)
        return;
    g_free(info->target);
    g_free(info->path);
    g_free(info->alias);
    g_free(info->device);
    g_free(info->type);
    g_free(info);
}

/**
 * vb_domain_def_get_disk_infos:
 * @def: a definition
 *
 * The disks of @def in document order, as block statistics name them. Any thread (the
 * caller holds what guards @def).
 *
 * Returns: (transfer full): VbDomainDiskInfo*, possibly empty
 */
GPtrArray *
vb_domain_def_get_disk_infos(const VbDomainDef *def)
{
    GPtrArray *out = g_ptr_array_new_with_free_func((GDestroyNotify)vb_domain_disk_info_free);
    GPtrArray *devs = def->priv->devices;

    for (guint i = 0; i < devs->len; i++) {
        const VbDeviceDef *dev = g_ptr_array_index(devs, i);
        VbDomainDiskInfo *info;

        if (dev->kind != VB_DEV_DISK)
            continue;
        info = g_new0(VbDomainDiskInfo, 1);
        info->target = g_strdup(dev->target_dev);
        info->path = g_strdup(dev->source_path);
        info->alias = vb_domain_def_device_alias(def, dev);
        info->device = g_strdup(dev->device != NULL ? dev->device : "disk");
        info->type = g_strdup(dev->type != NULL ? dev->type : "file");
        g_ptr_array_add(out, info);
    }
    return out;
}

/**
 * vb_domain_def_has_virtio_balloon:
 *
 * Returns: whether @def has a virtio memballoon (one QEMU runs as balloon0)
 */
gboolean
vb_domain_def_has_virtio_balloon(const VbDomainDef *def)
{
    GPtrArray *devs = def->priv->devices;

    for (guint i = 0; i < devs->len; i++) {
        const VbDeviceDef *dev = g_ptr_array_index(devs, i);

        if (dev->kind == VB_DEV_MEMBALLOON && dev->model != NULL &&
            g_str_has_prefix(dev->model, "virtio"))
            return TRUE;
    }
    return FALSE;
}

/**
 * vb_domain_def_set_balloon_period:
 * @period: seconds, 0 to disable
 *
 * Writes <stats period='@period'/> into the virtio memballoon of @def (replacing one that
 * is there), as libvirt does for SetMemoryStatsPeriod with CONFIG or LIVE.
 *
 * Returns: %FALSE with VB_ERROR_NOT_SUPPORTED when @def has no virtio memballoon
 */
gboolean
vb_domain_def_set_balloon_period(VbDomainDef *def, int period, GError **error)
{
    GPtrArray *devs = def->priv->devices;

    for (guint i = 0; i < devs->len; i++) {
        VbDeviceDef *dev = g_ptr_array_index(devs, i);
        g_autofree char *xml = NULL;
        xmlDoc *doc;
        VbRawElem *raw;
        int rank = -1;

        if (dev->kind != VB_DEV_MEMBALLOON || dev->model == NULL ||
            !g_str_has_prefix(dev->model, "virtio"))
            continue;
        if (dev->extra.children == NULL)
            dev->extra.children = g_ptr_array_new_with_free_func(
                (GDestroyNotify)vb_raw_elem_free);
        for (guint k = 0; k < dev->extra.children->len; k++) {
            VbRawElem *old = g_ptr_array_index(dev->extra.children, k);

            if (strcmp(old->name, "stats") == 0) {
                rank = old->rank;
                g_ptr_array_remove_index(dev->extra.children, k);
                break;
            }
        }
        if (rank < 0)
            rank = vb_rank_lookup(vb_device_child_ranks(dev->kind), "stats");
        xml = g_strdup_printf("<stats period='%d'/>", period);
        doc = xmlReadMemory(xml, (int)strlen(xml), NULL, NULL, XML_PARSE_NONET);
        if (doc == NULL) {
            g_set_error(error, VB_ERROR, VB_ERROR_FAILED, "cannot build <stats period>");
            return FALSE;
        }
        raw = vb_raw_elem_new(xmlDocGetRootElement(doc), rank);
        xmlFreeDoc(doc);
        {
            guint at = 0;

            while (at < dev->extra.children->len &&
                   ((VbRawElem *)g_ptr_array_index(dev->extra.children, at))->rank <= rank)
                at++;
            g_ptr_array_insert(dev->extra.children, (gint)at, raw);
        }
        return TRUE;
    }
    g_set_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
                "the domain has no virtio <memballoon>: memory statistics need one");
    return FALSE;
}
