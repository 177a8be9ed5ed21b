/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * IOThreads added to or removed from a definition (issue 13, part vcpuio): AddIOThread and
 * DelIOThread. <iothreadids> is kept verbatim in the model, so the definition is edited as
 * XML and read again (as domain-def-pin.c does), which rebuilds the read view.
 */
#include "config.h"

#include <libxml/parser.h>
#include <libxml/xpath.h>
#include <string.h>

#include "domain-def-cpu.h"
#include "domain-def-priv.h"
#include "vb-error.h"

static void
drop(xmlNode *node)
{
    xmlUnlinkNode(node);
    xmlFreeNode(node);
}

/* the <iothread id=@id> child of <iothreadids>, or NULL */
static xmlNode *
find_id(xmlNode *ids, guint id)
{
    g_autofree char *want = g_strdup_printf("%u", id);

    for (xmlNode *c = ids->children; c != NULL; c = c->next) {
        xmlChar *v;
        gboolean same;

        if (!vb_xml_is(c, "iothread"))
            continue;
        v = xmlGetProp(c, (const xmlChar *)"id");
        same = v != NULL && strcmp((const char *)v, want) == 0;
        xmlFree(v);
        if (same)
            return c;
    }
    return NULL;
}

static void
add_id(xmlNode *ids, guint id)
{
    g_autofree char *s = g_strdup_printf("%u", id);
    xmlNode *n = xmlNewChild(ids, NULL, (const xmlChar *)"iothread", NULL);

    xmlSetProp(n, (const xmlChar *)"id", (const xmlChar *)s);
}

/* <iothreads>, created after <vcpu>/<vcpus> (libvirt's order) when missing */
static xmlNode *
iothreads_node(xmlNode *root)
{
    static const char *const before[] = { "name", "uuid", "genid", "title", "description",
                                          "metadata", "maxMemory", "memory", "currentMemory",
                                          "blkiotune", "memtune", "memoryBacking", "vcpu",
                                          "vcpus", NULL };
    xmlNode *n = vb_xml_child(root, "iothreads");
    xmlNode *prev = NULL;

    if (n != NULL)
        return n;
    n = xmlNewNode(NULL, (const xmlChar *)"iothreads");
    for (xmlNode *c = root->children; c != NULL; c = c->next) {
        for (guint i = 0; before[i] != NULL; i++) {
            if (vb_xml_is(c, before[i]))
                prev = c;
        }
    }
    if (prev != NULL)
        return xmlAddNextSibling(prev, n);
    return xmlAddChild(root, n);
}

/* drops <cputune><iothreadpin iothread=@id> (and an empty <cputune>) */
static void
drop_pin(xmlNode *root, guint id)
{
    xmlNode *cputune = vb_xml_child(root, "cputune");
    g_autofree char *want = g_strdup_printf("%u", id);
    gboolean left = FALSE;
    xmlNode *next;

    if (cputune == NULL)
        return;
    for (xmlNode *c = cputune->children; c != NULL; c = next) {
        next = c->next;
        if (vb_xml_is(c, "iothreadpin")) {
            xmlChar *v = xmlGetProp(c, (const xmlChar *)"iothread");
            gboolean same = v != NULL && strcmp((const char *)v, want) == 0;

            xmlFree(v);
            if (same) {
                drop(c);
                continue;
            }
        }
        if (c->type == XML_ELEMENT_NODE)
            left = TRUE;
    }
    if (!left)
        drop(cputune);
}

/**
 * vb_domain_def_with_iothread:
 * @id: the IOThread id (not 0)
 * @add: add it (else remove it)
 *
 * libvirt's virDomainIOThreadIDAdd / Del on a copy: <iothreadids> lists every IOThread
 * afterwards (ids <iothreads> filled in are written out, as libvirt does once one id was
 * given), <iothreads> is their count; a removed IOThread's <iothreadpin> goes too.
 *
 * Returns: (transfer full): the changed copy, or %NULL with @error (InvalidArgument: id 0,
 *   an unknown id; AlreadyExists: an id in use)
 */
VbDomainDef *
vb_domain_def_with_iothread(const VbDomainDef *def, guint id, gboolean add, GError **error)
{
    const VbDomainResources *r = vb_domain_def_get_resources(def);
    g_autofree char *xml = NULL;
    g_autofree char *count = NULL;
    gboolean exists = FALSE;
    xmlDoc *doc;
    xmlNode *root, *ids, *node;
    xmlChar *out = NULL;
    int len = 0;
    VbDomainDef *copy;

    if (id == 0 || id > G_MAXINT) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                    "invalid value of %u for iothread_id: give 1 to %d", id, G_MAXINT);
        return NULL;
    }
    for (guint i = 0; i < r->iothreadids->len; i++)
        exists |= ((const VbIOThreadId *)g_ptr_array_index(r->iothreadids, i))->id == id;
    if (add && exists) {
        g_set_error(error, VB_ERROR, VB_ERROR_EXISTS,
                    "an IOThread is already using iothread_id '%u'", id);
        return NULL;
    }
    if (!add && !exists) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                    "cannot find IOThread '%u' in iothreadids list", id);
        return NULL;
    }
    xml = vb_domain_def_format(def, VB_DOMAIN_DEF_FORMAT_SECURE, error);
    if (xml == NULL)
        return NULL;
    doc = xmlReadMemory(xml, (int)strlen(xml), "domain.xml", NULL, XML_PARSE_NONET);
    root = doc != NULL ? xmlDocGetRootElement(doc) : NULL;
    if (root == NULL) {
        xmlFreeDoc(doc);
        g_set_error(error, VB_ERROR, VB_ERROR_FAILED, "cannot read back the definition");
        return NULL;
    }
    node = iothreads_node(root);
    ids = vb_xml_child(root, "iothreadids");
    if (ids == NULL)
        ids = xmlAddNextSibling(node, xmlNewNode(NULL, (const xmlChar *)"iothreadids"));
    /* the ids <iothreads> filled in become explicit */
    for (guint i = 0; i < r->iothreadids->len; i++) {
        guint have = ((const VbIOThreadId *)g_ptr_array_index(r->iothreadids, i))->id;

        if (find_id(ids, have) == NULL)
            add_id(ids, have);
    }
    if (add) {
        add_id(ids, id);
    } else {
        drop(find_id(ids, id));
        drop_pin(root, id);
    }
    count = g_strdup_printf("%u", r->iothreadids->len + (add ? 1 : 0) - (add ? 0 : 1));
    if (strcmp(count, "0") == 0) {
        drop(node);
        drop(ids);
    } else {
        xmlNodeSetContent(node, (const xmlChar *)count);
    }
    xmlDocDumpMemory(doc, &out, &len);
    xmlFreeDoc(doc);
    copy = vb_domain_def_parse_string((const char *)out, 0, error);
    xmlFree(out);
    return copy;
}

/**
 * vb_domain_def_iothread_user:
 * @id: an IOThread id
 *
 * Returns: (transfer full) (nullable): which device of @def runs in IOThread @id
 *   (`<driver iothread=@id>` of a disk or controller), as "disk 'vda'" / "controller
 *   'scsi' index 0", or %NULL when none does (libvirt's qemuDomainDelIOThreadCheck)
 */
char *
vb_domain_def_iothread_user(const VbDomainDef *def, guint id)
{
    g_autofree char *xml = vb_domain_def_format(def, VB_DOMAIN_DEF_FORMAT_SECURE, NULL);
    g_autofree char *expr =
        g_strdup_printf("/domain/devices/*[driver[@iothread='%u'] or "
                        "driver/iothreads/iothread[@id='%u']]", id, id);
    xmlDoc *doc;
    xmlXPathContext *ctx;
    xmlXPathObject *res;
    char *user = NULL;

    if (xml == NULL)
        return NULL;
    doc = xmlReadMemory(xml, (int)strlen(xml), "domain.xml", NULL, XML_PARSE_NONET);
    if (doc == NULL)
        return NULL;
    ctx = xmlXPathNewContext(doc);
    res = ctx != NULL ? xmlXPathEvalExpression((const xmlChar *)expr, ctx) : NULL;
    if (res != NULL && res->nodesetval != NULL && res->nodesetval->nodeNr > 0) {
        xmlNode *dev = res->nodesetval->nodeTab[0];
        xmlNode *target = vb_xml_child(dev, "target");
        xmlChar *name = target != NULL ? xmlGetProp(target, (const xmlChar *)"dev") : NULL;
        xmlChar *type = xmlGetProp(dev, (const xmlChar *)"type");
        xmlChar *index = xmlGetProp(dev, (const xmlChar *)"index");

        if (name != NULL)
            user = g_strdup_printf("%s '%s'", (const char *)dev->name, (const char *)name);
        else
            user = g_strdup_printf("%s '%s' index %s", (const char *)dev->name,
                                   type != NULL ? (const char *)type : "?",
                                   index != NULL ? (const char *)index : "?");
        xmlFree(name);
        xmlFree(type);
        xmlFree(index);
    }
    xmlXPathFreeObject(res);
    xmlXPathFreeContext(ctx);
    xmlFreeDoc(doc);
    return user;
}

/**
 * vb_domain_def_get_perf:
 *
 * The events of <perf> (issue 13, part vcpuio): name -> enabled ("yes"), as written.
 *
 * Returns: (transfer full): a table of char* -> GINT_TO_POINTER(enabled); empty when the
 *   definition has no <perf>
 */
GHashTable *
vb_domain_def_get_perf(const VbDomainDef *def)
{
    g_autofree char *xml = vb_domain_def_format(def, VB_DOMAIN_DEF_FORMAT_SECURE, NULL);
    GHashTable *events = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    xmlDoc *doc;
    xmlNode *root, *perf;

    if (xml == NULL)
        return events;
    doc = xmlReadMemory(xml, (int)strlen(xml), "domain.xml", NULL, XML_PARSE_NONET);
    root = doc != NULL ? xmlDocGetRootElement(doc) : NULL;
    perf = root != NULL ? vb_xml_child(root, "perf") : NULL;
    for (xmlNode *e = perf != NULL ? perf->children : NULL; e != NULL; e = e->next) {
        xmlChar *name, *enabled;

        if (!vb_xml_is(e, "event"))
            continue;
        name = xmlGetProp(e, (const xmlChar *)"name");
        enabled = xmlGetProp(e, (const xmlChar *)"enabled");
        if (name != NULL)
            g_hash_table_insert(events, g_strdup((const char *)name),
                                GINT_TO_POINTER(enabled != NULL &&
                                                strcmp((const char *)enabled, "yes") == 0));
        xmlFree(name);
        xmlFree(enabled);
    }
    xmlFreeDoc(doc);
    return events;
}

/**
 * vb_domain_def_with_perf:
 * @events: char* -> GINT_TO_POINTER(enabled): the events to set
 *
 * Returns: (transfer full): a copy of @def whose <perf> has <event name enabled='yes|no'>
 *   for each of @events (others kept; created after <pm>, libvirt's order), or %NULL with
 *   @error
 */
VbDomainDef *
vb_domain_def_with_perf(const VbDomainDef *def, GHashTable *events, GError **error)
{
    static const char *const before[] = {
        "name", "uuid", "genid", "title", "description", "metadata", "maxMemory", "memory",
        "currentMemory", "blkiotune", "memtune", "memoryBacking", "vcpu", "vcpus", "iothreads",
        "iothreadids", "defaultiothread", "cputune", "numatune", "resource", "sysinfo",
        "bootloader", "bootloader_args", "os", "idmap", "features", "cpu", "clock",
        "on_poweroff", "on_reboot", "on_crash", "on_lockfailure", "pm", NULL };
    g_autofree char *xml = vb_domain_def_format(def, VB_DOMAIN_DEF_FORMAT_SECURE, error);
    GHashTableIter it;
    gpointer key, value;
    xmlDoc *doc;
    xmlNode *root, *perf;
    xmlChar *out = NULL;
    int len = 0;
    VbDomainDef *copy;

    if (xml == NULL)
        return NULL;
    doc = xmlReadMemory(xml, (int)strlen(xml), "domain.xml", NULL, XML_PARSE_NONET);
    root = doc != NULL ? xmlDocGetRootElement(doc) : NULL;
    if (root == NULL) {
        xmlFreeDoc(doc);
        g_set_error(error, VB_ERROR, VB_ERROR_FAILED, "cannot read back the definition");
        return NULL;
    }
    perf = vb_xml_child(root, "perf");
    if (perf == NULL) {
        xmlNode *prev = NULL;

        perf = xmlNewNode(NULL, (const xmlChar *)"perf");
        for (xmlNode *c = root->children; c != NULL; c = c->next) {
            for (guint i = 0; before[i] != NULL; i++) {
                if (vb_xml_is(c, before[i]))
                    prev = c;
            }
        }
        perf = prev != NULL ? xmlAddNextSibling(prev, perf) : xmlAddChild(root, perf);
    }
    g_hash_table_iter_init(&it, events);
    while (g_hash_table_iter_next(&it, &key, &value)) {
        xmlNode *ev = NULL;

        for (xmlNode *e = perf->children; e != NULL && ev == NULL; e = e->next) {
            xmlChar *name = vb_xml_is(e, "event") ? xmlGetProp(e, (const xmlChar *)"name")
                                                  : NULL;

            if (name != NULL && strcmp((const char *)name, key) == 0)
                ev = e;
            xmlFree(name);
        }
        if (ev == NULL) {
            ev = xmlNewChild(perf, NULL, (const xmlChar *)"event", NULL);
            xmlSetProp(ev, (const xmlChar *)"name", key);
        }
        xmlSetProp(ev, (const xmlChar *)"enabled",
                   (const xmlChar *)(GPOINTER_TO_INT(value) ? "yes" : "no"));
    }
    xmlDocDumpMemory(doc, &out, &len);
    xmlFreeDoc(doc);
    copy = vb_domain_def_parse_string((const char *)out, 0, error);
    xmlFree(out);
    return copy;
}
