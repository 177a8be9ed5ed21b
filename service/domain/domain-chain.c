/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <string.h>

#include "domain-blockops-priv.h"
#include "domain-chain.h"
#include "domain-def-priv.h"
#include "qemu-command.h"

/*
 * The backing chain of each disk in the live XML (issue 15), as libvirt writes it: the
 * images QEMU runs the disk on below its <source>, nearest first, each a
 * <backingStore type= index=> with its <format> and <source>, and an empty <backingStore/>
 * at the end of the chain. The chain is the run's: taken from what the start read of the
 * images (vb_qemu_disk_prepare()), and from QEMU's query-block after anything that changes
 * it (block jobs, external snapshots, a reconnection). It is written only into the live
 * XML a caller asks for (not the persistent, inactive or migratable one, and not into the
 * status, save images or snapshots, which a later start would read as a given chain): a
 * disk whose definition gives its own <backingStore> keeps that one.
 */

/* One layer at nesting @depth: @type "file" or "block", @path, @format. */
static void
append_layer(GString *buf, guint depth, const char *type, const char *path,
             const char *format)
{
    g_autofree char *p = g_markup_escape_text(path, -1);
    g_autofree char *in = g_strnfill(2 * depth, ' ');

    g_string_append_printf(buf, "%s<backingStore type='%s' index='%u'>\n", in,
                           type != NULL ? type : "file", depth + 1);
    if (format != NULL) {
        g_autofree char *f = g_markup_escape_text(format, -1);

        g_string_append_printf(buf, "%s  <format type='%s'/>\n", in, f);
    }
    g_string_append_printf(buf, "%s  <source %s='%s'/>\n", in,
                           g_strcmp0(type, "block") == 0 ? "dev" : "file", p);
}

/* The chain's XML from layers given as (type, path, format) triples, nearest first (level
 * 0 for vb_fmt_raw(), which indents every line to the disk's children). */
static char *
chain_xml(GPtrArray *triples)
{
    g_autoptr(GString) buf = g_string_new(NULL);
    guint n = triples->len / 3;
    g_autofree char *last = g_strnfill(2 * n, ' ');

    for (guint i = 0; i < n; i++)
        append_layer(buf, i, g_ptr_array_index(triples, 3 * i),
                     g_ptr_array_index(triples, 3 * i + 1),
                     g_ptr_array_index(triples, 3 * i + 2));
    g_string_append_printf(buf, "%s<backingStore/>", last);
    for (guint i = n; i > 0; i--) {
        g_autofree char *in = g_strnfill(2 * (i - 1), ' ');

        g_string_append_printf(buf, "\n%s</backingStore>", in);
    }
    return g_string_free(g_steal_pointer(&buf), FALSE);
}

/**
 * vb_domain_chains_from_prep_locked:
 * @disks: (nullable): target dev -> VbQemuDiskPrep*, what the start read of the images
 *
 * At the end of a start: the run's chains are the ones the start found. Under dom->lock.
 */
void
vb_domain_chains_from_prep_locked(VbDomainObj *dom, GHashTable *disks)
{
    GHashTableIter it;
    gpointer key, value;

    g_clear_pointer(&dom->disk_chains, g_hash_table_unref);
    dom->disk_chains = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    if (disks == NULL)
        return;
    g_hash_table_iter_init(&it, disks);
    while (g_hash_table_iter_next(&it, &key, &value)) {
        const VbQemuDiskPrep *prep = value;
        g_autoptr(GPtrArray) triples = g_ptr_array_new();

        if (prep->drop_source)
            continue;
        for (guint i = 0; prep->backing != NULL && i < prep->backing->len; i++) {
            const VbQemuDiskLayer *l = g_ptr_array_index(prep->backing, i);

            g_ptr_array_add(triples, l->type);
            g_ptr_array_add(triples, l->path);
            g_ptr_array_add(triples, l->format);
        }
        g_hash_table_insert(dom->disk_chains, g_strdup(key), chain_xml(triples));
    }
}

static JsonObject *
jobj(JsonObject *o, const char *name)
{
    JsonNode *n = o != NULL ? json_object_get_member(o, name) : NULL;

    return n != NULL && JSON_NODE_HOLDS_OBJECT(n) ? json_node_get_object(n) : NULL;
}

/**
 * vb_domain_chains_update:
 * @query_block: QEMU's answer to query-block
 *
 * After something changed the disks' chains (a block job ended, an external snapshot was
 * taken or deleted, the service reconnected): each disk's chain as QEMU now runs it, from
 * the nested backing-image of its inserted image. Disks QEMU does not report keep what they
 * had. Any thread, no lock held.
 */
void
vb_domain_chains_update(VbDomainObj *dom, JsonNode *query_block)
{
    JsonArray *a = query_block != NULL && JSON_NODE_HOLDS_ARRAY(query_block)
                       ? json_node_get_array(query_block) : NULL;
    g_autoptr(GPtrArray) infos = NULL;
    g_autoptr(GHashTable) found = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);

    if (a == NULL)
        return;
    g_mutex_lock(&dom->lock);
    infos = vb_domain_def_get_disk_infos(dom->def);
    g_mutex_unlock(&dom->lock);
    for (guint i = 0; i < json_array_get_length(a); i++) {
        JsonNode *n = json_array_get_element(a, i);
        JsonObject *o = JSON_NODE_HOLDS_OBJECT(n) ? json_node_get_object(n) : NULL;
        const char *qdev = vb_block_jstr(o, "qdev");
        JsonObject *image = jobj(jobj(o, "inserted"), "image");

        if (qdev == NULL || image == NULL)
            continue;
        for (guint d = 0; infos != NULL && d < infos->len; d++) {
            const VbDomainDiskInfo *info = g_ptr_array_index(infos, d);
            g_autofree char *prefix = NULL;
            g_autoptr(GPtrArray) triples = NULL;

            if (info->alias == NULL)
                continue;
            prefix = g_strdup_printf("/machine/peripheral/%s/", info->alias);
            if (!g_str_equal(qdev, info->alias) && !g_str_has_prefix(qdev, prefix))
                continue;
            triples = g_ptr_array_new();
            for (JsonObject *b = jobj(image, "backing-image"); b != NULL;
                 b = jobj(b, "backing-image")) {
                const char *file = vb_block_jstr(b, "filename");

                if (file == NULL)
                    break;
                g_ptr_array_add(triples, g_str_has_prefix(file, "/dev/") ? "block" : "file");
                g_ptr_array_add(triples, (gpointer)file);
                g_ptr_array_add(triples, (gpointer)vb_block_jstr(b, "format"));
            }
            g_hash_table_insert(found, g_strdup(info->target), chain_xml(triples));
        }
    }
    g_mutex_lock(&dom->lock);
    if (dom->disk_chains == NULL)
        dom->disk_chains = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    {
        GHashTableIter it;
        gpointer key, value;

        g_hash_table_iter_init(&it, found);
        while (g_hash_table_iter_next(&it, &key, &value)) {
            g_hash_table_insert(dom->disk_chains, key, value);
            g_hash_table_iter_steal(&it);
        }
    }
    g_mutex_unlock(&dom->lock);
}

/**
 * vb_domain_chains_apply_locked:
 * @live: a copy of the live definition about to be formatted for a caller
 *
 * Gives each disk of @live its chain as a <backingStore> element, unless its definition
 * gives one. Under dom->lock, the domain active.
 */
void
vb_domain_chains_apply_locked(VbDomainObj *dom, VbDomainDef *live)
{
    GPtrArray *devs = live->priv->devices;
    int rank = 0;

    if (dom->disk_chains == NULL)
        return;
    while (vb_disk_ranks[rank] != NULL && strcmp(vb_disk_ranks[rank], "backingStore") != 0)
        rank++;
    for (guint i = 0; i < devs->len; i++) {
        VbDeviceDef *dev = g_ptr_array_index(devs, i);
        const char *xml;
        gboolean given = FALSE;
        VbRawElem *raw;
        guint pos;

        if (dev->kind != VB_DEV_DISK || dev->target_dev == NULL || dev->source_path == NULL ||
            (xml = g_hash_table_lookup(dom->disk_chains, dev->target_dev)) == NULL)
            continue;
        for (guint c = 0; dev->extra.children != NULL && c < dev->extra.children->len; c++)
            given |= g_str_equal(((VbRawElem *)g_ptr_array_index(dev->extra.children, c))->name,
                                 "backingStore");
        if (given)
            continue;
        raw = g_new0(VbRawElem, 1);
        raw->rank = rank;
        raw->name = g_strdup("backingStore");
        raw->xml = g_strdup(xml);
        if (dev->extra.children == NULL)
            dev->extra.children = g_ptr_array_new_with_free_func((GDestroyNotify)vb_raw_elem_free);
        /* kept children are in rank order (vb_fmt_raws_before()) */
        for (pos = 0; pos < dev->extra.children->len; pos++) {
            if (((VbRawElem *)g_ptr_array_index(dev->extra.children, pos))->rank > rank)
                break;
        }
        g_ptr_array_insert(dev->extra.children, (gint)pos, raw);
    }
}
