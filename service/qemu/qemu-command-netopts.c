/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The virtio-net tuning of an interface's <driver>, as libvirt 9.0's qemuBuildNicDevProps:
 *
 *   <driver txmode='iothread|timer' ioeventfd='on|off' event_idx='on|off' rss='on|off'
 *           rss_hash_report='on|off'>
 *     <host csum gso tso4 tso6 ecn ufo mrg_rxbuf='on|off'/>
 *     <guest csum tso4 tso6 ecn ufo='on|off'/>
 *   </driver>
 *
 * become the virtio-net-pci properties tx (bh, timer), ioeventfd, event_idx, csum, gso,
 * host_tso4, ..., mrg_rxbuf, guest_csum, ..., rss and hash. Values other than on/off, other
 * children or attributes, and these options on a model other than virtio are NotSupported,
 * naming them.
 */
#include "config.h"

#include <string.h>

#include "qemu-command-priv.h"
#include "vb-error.h"

/* <driver> attributes read elsewhere (qemu-command-net.c) */
static const char *const driver_other[] = { "name", "queues", "rx_queue_size",
                                            "tx_queue_size", NULL };
/* attribute -> property, in libvirt's order of the properties */
static const char *const driver_flags[][2] = { { "ioeventfd", "ioeventfd" },
                                               { "event_idx", "event_idx" } };
static const char *const host_flags[][2] = { { "csum", "csum" },      { "gso", "gso" },
                                             { "tso4", "host_tso4" }, { "tso6", "host_tso6" },
                                             { "ecn", "host_ecn" },   { "ufo", "host_ufo" },
                                             { "mrg_rxbuf", "mrg_rxbuf" } };
static const char *const guest_flags[][2] = { { "csum", "guest_csum" },
                                              { "tso4", "guest_tso4" },
                                              { "tso6", "guest_tso6" },
                                              { "ecn", "guest_ecn" },
                                              { "ufo", "guest_ufo" } };
static const char *const rss_flags[][2] = { { "rss", "rss" }, { "rss_hash_report", "hash" } };

static gboolean
unsupported(const VbQemuCmd *c, const VbDeviceDef *dev, GError **error, const char *what)
{
    return vb_qemu_cmd_unsupported(c, error, dev, "%s is not supported", what);
}

/* the flags of @node in @map; Returns: FALSE on an attribute outside @map and @also */
static gboolean
read_flags(const VbQemuCmd *c, const VbDeviceDef *dev, xmlNode *node, const char *where,
           const char *const map[][2], guint n_map, const char *const also[], GString *out,
           GError **error)
{
    for (xmlAttr *a = node->properties; a != NULL; a = a->next) {
        const char *name = (const char *)a->name;
        g_autofree char *v = vb_xml_prop(node, name);
        gboolean known = also != NULL && g_strv_contains(also, name);

        for (guint i = 0; !known && i < n_map; i++) {
            if (strcmp(map[i][0], name) != 0)
                continue;
            known = TRUE;
            if (g_strcmp0(v, "on") != 0 && g_strcmp0(v, "off") != 0)
                return vb_qemu_cmd_unsupported(c, error, dev, "<%s %s='%s'>: on or off",
                                               where, name, v != NULL ? v : "");
        }
        if (!known) {
            g_autofree char *what = g_strdup_printf("<%s %s=>", where, name);

            return unsupported(c, dev, error, what);
        }
    }
    /* written in @map's order, whatever the document's */
    for (guint i = 0; out != NULL && i < n_map; i++) {
        g_autofree char *v = vb_xml_prop(node, map[i][0]);

        if (v != NULL)
            vb_json_bool(out, map[i][1], strcmp(v, "on") == 0);
    }
    return TRUE;
}

/*
 * vb_qemu_cmd_net_driver_opts:
 * @model: the interface's model
 * @j: (nullable): the device's properties; NULL only checks
 * @part: 0: the properties libvirt writes before mq (tx ... guest_ufo); 1: after the queue
 *   sizes (rss, hash)
 *
 * Returns: FALSE with NotSupported naming what is not read
 */
gboolean
vb_qemu_cmd_net_driver_opts(const VbQemuCmd *c, const VbDeviceDef *dev, const VbRawElem *raw,
                            gboolean virtio, GString *j, int part, GError **error)
{
    xmlDoc *doc;
    xmlNode *root;
    gboolean ok = TRUE;
    gboolean any = FALSE;
    static const char *const rss_also[] = { "txmode", "ioeventfd", "event_idx", "name",
                                            "queues", "rx_queue_size", "tx_queue_size",
                                            NULL };
    g_autofree char *txmode = NULL;

    if (raw == NULL)
        return TRUE;
    doc = vb_raw_elem_parse(raw);
    root = doc != NULL ? xmlDocGetRootElement(doc) : NULL;
    if (root == NULL) {
        if (doc != NULL)
            xmlFreeDoc(doc);
        return unsupported(c, dev, error, "an unreadable <driver>");
    }
    txmode = vb_xml_prop(root, "txmode");
    for (xmlAttr *a = root->properties; a != NULL; a = a->next)
        any = any || !g_strv_contains(driver_other, (const char *)a->name);
    for (xmlNode *n = root->children; n != NULL; n = n->next)
        any = any || n->type == XML_ELEMENT_NODE;
    if (any && !virtio) {
        ok = vb_qemu_cmd_unsupported(c, error, dev, "the virtio-net options of <driver> "
                                     "(txmode, ioeventfd, event_idx, rss, <host>, <guest>) "
                                     "need a virtio model");
    } else if (txmode != NULL && strcmp(txmode, "iothread") != 0 &&
               strcmp(txmode, "timer") != 0) {
        ok = vb_qemu_cmd_unsupported(c, error, dev, "<driver txmode='%s'>: iothread or timer",
                                     txmode);
    } else if (part == 0) {
        if (j != NULL && txmode != NULL)
            vb_json_str(j, "tx", strcmp(txmode, "iothread") == 0 ? "bh" : "timer");
        ok = read_flags(c, dev, root, "driver", driver_flags, G_N_ELEMENTS(driver_flags),
                        (const char *const[]){ "txmode", "rss", "rss_hash_report", "name",
                                               "queues", "rx_queue_size", "tx_queue_size",
                                               NULL },
                        j, error);
        for (xmlNode *n = root->children; ok && n != NULL; n = n->next) {
            if (n->type != XML_ELEMENT_NODE)
                continue;
            if (strcmp((const char *)n->name, "host") != 0 &&
                strcmp((const char *)n->name, "guest") != 0) {
                g_autofree char *what = g_strdup_printf("<driver><%s>", n->name);

                ok = unsupported(c, dev, error, what);
            }
        }
        for (xmlNode *n = root->children; ok && n != NULL; n = n->next) {
            if (n->type == XML_ELEMENT_NODE && strcmp((const char *)n->name, "host") == 0)
                ok = read_flags(c, dev, n, "host", host_flags, G_N_ELEMENTS(host_flags), NULL,
                                j, error);
        }
        for (xmlNode *n = root->children; ok && n != NULL; n = n->next) {
            if (n->type == XML_ELEMENT_NODE && strcmp((const char *)n->name, "guest") == 0)
                ok = read_flags(c, dev, n, "guest", guest_flags, G_N_ELEMENTS(guest_flags),
                                NULL, j, error);
        }
    } else {
        ok = read_flags(c, dev, root, "driver", rss_flags, G_N_ELEMENTS(rss_flags), rss_also,
                        j, error);
    }
    xmlFreeDoc(doc);
    return ok;
}
