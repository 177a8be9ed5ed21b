/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Memory DIMMs while running (issue 13, part memev), as libvirt 9.0's
 * qemuDomainAttachMemory / qemuDomainDetachPrepMemory / qemuDomainRemoveMemoryDevice:
 *
 * - attach: object-add memory-backend-ram (id memdimmN) + device_add pc-dimm (id dimmN,
 *   node, memdev, the first free slot), its base address from query-memory-devices; the
 *   live definition gets the <memory> with <alias> and <address type='dimm' slot base>,
 *   <memory> grows by its size (and <currentMemory> with it when it was the whole).
 * - detach: device_del, the DEVICE_DELETED wait of the hotplug part, object-del, the
 *   device leaves the live definition and <memory> shrinks.
 *
 * The dimms given at start are named by position (dimm0, dimm1, ...) as the command line
 * names them; before a change their names are written into the live definition, so they
 * keep them when others go. Worker threads with the modify job; no lock across QMP.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <libxml/parser.h>

#include "domain-def-hotplug.h"
#include "domain-def-priv.h"
#include "domain-hotplug.h"
#include "domain-list-priv.h"
#include "domain-memdev.h"
#include "store.h"
#include "vb-error.h"
#include "vb-log.h"

#define QMP_TIMEOUT_MS 30000

typedef struct {
    guint64 size_kib;
    guint node;
    char *alias; /* (nullable) */
} Dimm;

static void
dimm_clear(Dimm *d)
{
    g_clear_pointer(&d->alias, g_free);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(Dimm, dimm_clear)

/* whether @xml's root element is <memory> */
gboolean
vb_domain_memdev_is_memory(const char *xml)
{
    const char *p = xml;

    if (p == NULL)
        return FALSE;
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
        p++;
    if (g_str_has_prefix(p, "<?xml")) {
        p = strstr(p, "?>");
        if (p == NULL)
            return FALSE;
        p += 2;
        while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
            p++;
    }
    return g_str_has_prefix(p, "<memory") && (p[7] == ' ' || p[7] == '>' || p[7] == '/' ||
                                              p[7] == '\t' || p[7] == '\n' || p[7] == '\r');
}

/* <memory model='dimm'><target><size/><node/></target>[<alias/>][<address/>]</memory> */
static gboolean
parse_root(xmlNode *root, gboolean for_detach, Dimm *d, GError **error)
{
    g_autofree char *model = vb_xml_prop(root, "model");
    gboolean have_size = FALSE;

    if (g_strcmp0(model, "dimm") != 0) {
        g_set_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
                    "memory device model '%s' is not supported while running (only 'dimm')",
                    model != NULL ? model : "");
        return FALSE;
    }
    for (xmlNode *n = root->children; n != NULL; n = n->next) {
        if (n->type != XML_ELEMENT_NODE)
            continue;
        if (vb_xml_is(n, "alias")) {
            g_free(d->alias);
            d->alias = vb_xml_prop(n, "name");
        } else if (vb_xml_is(n, "address") && for_detach) {
            continue;
        } else if (vb_xml_is(n, "target")) {
            for (xmlNode *t = n->children; t != NULL; t = t->next) {
                g_autofree char *text = NULL;
                g_autofree char *unit = NULL;

                if (t->type != XML_ELEMENT_NODE)
                    continue;
                text = vb_xml_text(t);
                if (vb_xml_is(t, "size")) {
                    unit = vb_xml_prop(t, "unit");
                    if (!vb_domain_memory_parse_kib(text, unit, &d->size_kib, error))
                        return FALSE;
                    have_size = TRUE;
                } else if (vb_xml_is(t, "node")) {
                    char *end = NULL;
                    guint64 v;

                    errno = 0;
                    v = g_ascii_strtoull(g_strstrip(text), &end, 10);
                    if (errno != 0 || end == text || *end != '\0' || v > G_MAXINT) {
                        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                                    "<memory><target><node> '%s' is not a NUMA node number",
                                    text);
                        return FALSE;
                    }
                    d->node = (guint)v;
                } else {
                    g_set_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
                                "<memory><target><%s> is not supported for a dimm",
                                (const char *)t->name);
                    return FALSE;
                }
            }
        } else {
            g_set_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
                        "<memory><%s> is not supported for a dimm while running",
                        (const char *)n->name);
            return FALSE;
        }
    }
    if (!for_detach && (!have_size || d->size_kib == 0)) {
        g_set_error_literal(error, VB_ERROR, VB_ERROR_INVALID_XML,
                            "a <memory model='dimm'> needs a <target><size> above 0");
        return FALSE;
    }
    if (!for_detach && d->size_kib % 1024 != 0) {
        g_set_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
                    "a dimm's size must be a multiple of 1 MiB (%" G_GUINT64_FORMAT " KiB)",
                    d->size_kib);
        return FALSE;
    }
    return TRUE;
}

static gboolean
parse_xml(const char *xml, gboolean for_detach, Dimm *d, GError **error)
{
    size_t len = xml != NULL ? strlen(xml) : 0;
    xmlDoc *doc = len > 0 && len < 65536
                      ? xmlReadMemory(xml, (int)len, "device.xml", NULL,
                                      XML_PARSE_NONET | XML_PARSE_NOWARNING | XML_PARSE_NOERROR)
                      : NULL;
    gboolean ok;

    if (doc == NULL || xmlDocGetRootElement(doc) == NULL) {
        if (doc != NULL)
            xmlFreeDoc(doc);
        g_set_error_literal(error, VB_ERROR, VB_ERROR_INVALID_XML,
                            "the <memory> device XML cannot be read");
        return FALSE;
    }
    ok = parse_root(xmlDocGetRootElement(doc), for_detach, d, error);
    xmlFreeDoc(doc);
    return ok;
}

static gboolean
is_memory_dev(const VbDeviceDef *dev)
{
    return dev->kind == VB_DEV_UNKNOWN && strcmp(dev->raw->name, "memory") == 0;
}

/* a live dimm device of the definition: its size, node and alias (NULL when none written) */
static gboolean
parse_dev(const VbDeviceDef *dev, Dimm *d)
{
    xmlDoc *doc = vb_raw_elem_parse(dev->raw);
    gboolean ok;

    if (doc == NULL)
        return FALSE;
    ok = parse_root(xmlDocGetRootElement(doc), TRUE, d, NULL);
    xmlFreeDoc(doc);
    return ok;
}

/*
 * Under lock: the dimms the domain started with get their positional names (dimmN, as
 * the command line gave them) written as <alias>, so that they keep them when others go.
 */
static void
stamp_aliases(VbDomainDef *def)
{
    GPtrArray *devs = def->priv->devices;
    guint pos = 0;

    for (guint i = 0; i < devs->len; i++) {
        VbDeviceDef *dev = g_ptr_array_index(devs, i);
        g_auto(Dimm) d = { 0 };
        xmlDoc *doc;
        xmlNode *root;

        if (!is_memory_dev(dev))
            continue;
        pos++;
        if (!parse_dev(dev, &d) || d.alias != NULL)
            continue;
        doc = vb_raw_elem_parse(dev->raw);
        if (doc == NULL)
            continue;
        root = xmlDocGetRootElement(doc);
        {
            g_autofree char *name = g_strdup_printf("dimm%u", pos - 1);
            xmlNode *a = xmlNewChild(root, NULL, BAD_CAST "alias", NULL);
            VbRawElem *raw;

            xmlNewProp(a, BAD_CAST "name", BAD_CAST name);
            raw = vb_raw_elem_new(root, dev->raw->rank);
            vb_raw_elem_free(dev->raw);
            dev->raw = raw;
        }
        xmlFreeDoc(doc);
    }
}

static JsonNode *
qmp(VbQemuMonitor *mon, const char *cmd, JsonObject *args, GError **error)
{
    return vb_qemu_monitor_command(mon, cmd, args, QMP_TIMEOUT_MS, error);
}

/* query-memory-devices: the dimms' ids -> their data objects (JsonObject, owned by @holder) */
static GHashTable *
memory_devices(VbQemuMonitor *mon, JsonNode **holder, GError **error)
{
    GHashTable *h;
    JsonArray *a;

    *holder = qmp(mon, "query-memory-devices", NULL, error);
    if (*holder == NULL)
        return NULL;
    h = g_hash_table_new(g_str_hash, g_str_equal);
    if (!JSON_NODE_HOLDS_ARRAY(*holder))
        return h;
    a = json_node_get_array(*holder);
    for (guint i = 0; i < json_array_get_length(a); i++) {
        JsonObject *o = json_array_get_object_element(a, i);
        JsonObject *data = o != NULL && json_object_has_member(o, "data")
                               ? json_object_get_object_member(o, "data")
                               : NULL;
        const char *id = data != NULL ? json_object_get_string_member_with_default(data, "id",
                                                                                   NULL)
                                      : NULL;

        if (id != NULL)
            g_hash_table_insert(h, (gpointer)id, data);
    }
    return h;
}

static void
object_del(VbDomainObj *dom, VbQemuMonitor *mon, const char *id)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(JsonNode) r = NULL;
    JsonObject *args = json_object_new();

    json_object_set_string_member(args, "id", id);
    r = qmp(mon, "object-del", args, &err);
    if (r == NULL)
        VB_LOG_DOMAIN(G_LOG_LEVEL_WARNING, dom->uuid_str, "cannot delete object %s: %s", id,
                      err->message);
}

/**
 * vb_domain_memdev_attach:
 * @mon: the domain's monitor
 * @xml: a <memory model='dimm'> device
 * @out_alias: (out): its alias (dimmN)
 *
 * With the modify job: the dimm into the running QEMU and the live definition.
 */
gboolean
vb_domain_memdev_attach(VbDomainList *list, VbDomainObj *dom, VbQemuMonitor *mon,
                        const char *xml, char **out_alias, GError **error)
{
    g_auto(Dimm) d = { 0 };
    g_autoptr(JsonNode) holder = NULL;
    g_autoptr(JsonNode) holder2 = NULL;
    g_autoptr(GHashTable) devs = NULL;
    g_autoptr(GHashTable) after = NULL;
    g_autoptr(JsonNode) r = NULL;
    g_autofree char *id = NULL;
    g_autofree char *mem = NULL;
    g_autofree char *dev_xml = NULL;
    g_autoptr(GError) err = NULL;
    gboolean used[256] = { FALSE };
    guint slots, ncells, slot = 0, idx = 0;
    guint64 total, limit, base = 0;
    gboolean present, found_slot = FALSE;
    JsonObject *args;
    JsonObject *data;
    GHashTableIter it;
    gpointer key, value;
    xmlDoc *doc;

    if (!parse_xml(xml, FALSE, &d, error))
        return FALSE;
    g_mutex_lock(&dom->lock);
    present = dom->def->priv->max_memory_elem.present;
    slots = dom->def->priv->max_memory_slots;
    limit = dom->def->priv->max_memory_limit_kib;
    total = dom->def->max_memory_kib;
    ncells = vb_domain_def_get_resources(dom->def)->cpu.cells->len;
    g_mutex_unlock(&dom->lock);
    if (!present || slots == 0) {
        g_set_error_literal(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
                            "cannot use/hotplug a memory device when domain 'maxMemory' is "
                            "not defined (<maxMemory slots>)");
        return FALSE;
    }
    if (ncells == 0) {
        g_set_error_literal(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
                            "At least one numa node has to be configured when enabling "
                            "memory hotplug (<cpu><numa><cell>)");
        return FALSE;
    }
    if (d.node >= ncells) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                    "can't add memory backend for guest node '%u' as the guest has only '%u' "
                    "NUMA nodes configured", d.node, ncells);
        return FALSE;
    }
    if (total + d.size_kib > limit) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                    "Attaching memory device with size '%" G_GUINT64_FORMAT "' would exceed "
                    "domain's maxMemory config size '%" G_GUINT64_FORMAT "'", d.size_kib, limit);
        return FALSE;
    }
    devs = memory_devices(mon, &holder, error);
    if (devs == NULL)
        return FALSE;
    g_hash_table_iter_init(&it, devs);
    while (g_hash_table_iter_next(&it, &key, &value)) {
        gint64 s = json_object_get_int_member_with_default(value, "slot", -1);
        guint n;

        if (s >= 0 && s < 256)
            used[s] = TRUE;
        if (sscanf(key, "dimm%u", &n) == 1 && n + 1 > idx)
            idx = n + 1;
    }
    for (guint s = 0; s < slots && s < 256; s++) {
        if (!used[s]) {
            slot = s;
            found_slot = TRUE;
            break;
        }
    }
    if (!found_slot) {
        g_set_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
                    "no free memory device slot available (all %u are used)", slots);
        return FALSE;
    }
    id = g_strdup_printf("dimm%u", idx);
    mem = g_strdup_printf("memdimm%u", idx);

    args = json_object_new();
    json_object_set_string_member(args, "qom-type", "memory-backend-ram");
    json_object_set_string_member(args, "id", mem);
    json_object_set_int_member(args, "size", (gint64)(d.size_kib * 1024));
    r = qmp(mon, "object-add", args, error);
    if (r == NULL)
        return FALSE;
    g_clear_pointer(&r, json_node_unref);
    args = json_object_new();
    json_object_set_string_member(args, "driver", "pc-dimm");
    json_object_set_int_member(args, "node", d.node);
    json_object_set_string_member(args, "memdev", mem);
    json_object_set_string_member(args, "id", id);
    json_object_set_int_member(args, "slot", slot);
    r = qmp(mon, "device_add", args, error);
    if (r == NULL) {
        object_del(dom, mon, mem);
        return FALSE;
    }
    after = memory_devices(mon, &holder2, NULL);
    data = after != NULL ? g_hash_table_lookup(after, id) : NULL;
    if (data != NULL)
        base = (guint64)json_object_get_int_member_with_default(data, "addr", 0);

    dev_xml = g_strdup_printf("<memory model='dimm'><target><size unit='KiB'>%" G_GUINT64_FORMAT
                              "</size><node>%u</node></target><alias name='%s'/>"
                              "<address type='dimm' slot='%u' base='0x%" G_GINT64_MODIFIER
                              "x'/></memory>",
                              d.size_kib, d.node, id, slot, base);
    doc = xmlReadMemory(dev_xml, (int)strlen(dev_xml), "dimm.xml", NULL, XML_PARSE_NONET);
    g_mutex_lock(&dom->lock);
    if (dom->id >= 0 && doc != NULL) {
        guint64 old = dom->def->max_memory_kib;

        stamp_aliases(dom->def);
        if (vb_domain_def_parse_one_device(dom->def, xmlDocGetRootElement(doc), &err) != NULL) {
            dom->def->max_memory_kib = old + d.size_kib;
            /* libvirt's fix_balloon: a domain not ballooned down stays at the whole */
            if (dom->def->current_memory_kib == old)
                dom->def->current_memory_kib = old + d.size_kib;
            vb_domain_def_set_live(dom->def, dom->id);
        }
    }
    g_mutex_unlock(&dom->lock);
    if (doc != NULL)
        xmlFreeDoc(doc);
    if (err != NULL)
        VB_LOG_DOMAIN(G_LOG_LEVEL_WARNING, dom->uuid_str, "dimm %s: %s", id, err->message);
    VB_LOG_DOMAIN(G_LOG_LEVEL_INFO, dom->uuid_str,
                  "dimm %s attached: %" G_GUINT64_FORMAT " KiB on node %u, slot %u", id,
                  d.size_kib, d.node, slot);
    *out_alias = g_steal_pointer(&id);
    return TRUE;
}

/* Under lock: the dimm of the live definition that @want names (alias, else size and node) */
static VbDeviceDef *
find_dimm(VbDomainDef *def, const Dimm *want, char **out_alias, guint64 *out_kib)
{
    GPtrArray *devs = def->priv->devices;

    for (guint i = 0; i < devs->len; i++) {
        VbDeviceDef *dev = g_ptr_array_index(devs, i);
        g_auto(Dimm) d = { 0 };

        if (!is_memory_dev(dev) || !parse_dev(dev, &d) || d.alias == NULL)
            continue;
        if (want->alias != NULL ? g_strcmp0(want->alias, d.alias) == 0
                                : want->size_kib == d.size_kib && want->node == d.node) {
            *out_alias = g_steal_pointer(&d.alias);
            *out_kib = d.size_kib;
            return dev;
        }
    }
    return NULL;
}

/*
 * With the job: after DEVICE_DELETED, the backend goes, the device leaves the live
 * definition and <memory> shrinks (libvirt's qemuDomainRemoveMemoryDevice).
 */
static void
finish(VbDomainList *list, VbDomainObj *dom, VbQemuMonitor *mon, const char *alias)
{
    g_autofree char *mem = g_strconcat("mem", alias, NULL);
    g_autoptr(GError) err = NULL;
    gboolean removed = FALSE;

    object_del(dom, mon, mem);
    g_mutex_lock(&dom->lock);
    if (dom->id >= 0) {
        Dimm want = { 0, 0, (char *)alias };
        g_autofree char *found = NULL;
        guint64 kib = 0;
        VbDeviceDef *dev = find_dimm(dom->def, &want, &found, &kib);

        if (dev != NULL) {
            guint64 old = dom->def->max_memory_kib;

            vb_domain_def_remove_device(dom->def, dev);
            dom->def->max_memory_kib = old > kib ? old - kib : old;
            if (dom->def->current_memory_kib == old ||
                dom->def->current_memory_kib > dom->def->max_memory_kib)
                dom->def->current_memory_kib = dom->def->max_memory_kib;
            removed = TRUE;
        }
    }
    g_mutex_unlock(&dom->lock);
    if (!removed)
        return;
    if (!vb_domain_status_save(list, dom, &err))
        VB_LOG_DOMAIN(G_LOG_LEVEL_WARNING, dom->uuid_str, "%s", err->message);
    VB_LOG_DOMAIN(G_LOG_LEVEL_INFO, dom->uuid_str, "dimm %s removed", alias);
    vb_domain_list_notify(list, dom, VB_DOMAIN_NOTIFY_CHANGED, VB_DOMAIN_DEVICE_REMOVED_EVENT,
                          alias);
}

/**
 * vb_domain_memdev_detach:
 * @xml: (nullable): the dimm (<target><size> and <node>, or an <alias>)
 * @alias: (nullable): its alias, for DetachDeviceAlias
 * @wait: whether to wait for DEVICE_DELETED (DetachDevice) or not (DetachDeviceAlias)
 *
 * With the modify job: device_del of the dimm; when DEVICE_DELETED comes in time the
 * removal finishes here, else in the event worker (vb_domain_memdev_deleted()).
 */
gboolean
vb_domain_memdev_detach(VbDomainList *list, VbDomainObj *dom, VbQemuMonitor *mon,
                        const char *xml, const char *alias, gboolean wait, GError **error)
{
    g_auto(Dimm) want = { 0 };
    g_autofree char *found = NULL;
    guint64 kib = 0;
    VbDeviceDef *dev;
    int st;

    if (xml != NULL && !parse_xml(xml, TRUE, &want, error))
        return FALSE;
    if (xml == NULL)
        want.alias = g_strdup(alias);
    g_mutex_lock(&dom->lock);
    stamp_aliases(dom->def);
    dev = find_dimm(dom->def, &want, &found, &kib);
    g_mutex_unlock(&dom->lock);
    if (dev == NULL) {
        g_set_error_literal(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                            "matching memory device was not found");
        return FALSE;
    }
    if (!wait) {
        g_autoptr(JsonNode) r = NULL;
        JsonObject *args = json_object_new();

        json_object_set_string_member(args, "id", found);
        r = qmp(mon, "device_del", args, error);
        return r != NULL;
    }
    st = vb_domain_hotplug_unplug_wait(dom, mon, found, error);
    if (st < 0)
        return FALSE;
    if (st == VB_UNPLUG_REJECTED) {
        g_set_error_literal(error, VB_ERROR, VB_ERROR_FAILED,
                            "unplug of device was rejected by the guest");
        vb_domain_list_notify(list, dom, VB_DOMAIN_NOTIFY_CHANGED,
                              VB_DOMAIN_DEVICE_REMOVAL_FAILED_EVENT, found);
        return FALSE;
    }
    if (st == VB_UNPLUG_DELETED)
        finish(list, dom, mon, found);
    else
        VB_LOG_DOMAIN(G_LOG_LEVEL_INFO, dom->uuid_str,
                      "dimm %s: unplug requested; the guest has not released it yet", found);
    return TRUE;
}

/**
 * vb_domain_memdev_deleted:
 * @alias: the DEVICE_DELETED's device (dimmN)
 *
 * The event worker, with the job: a dimm the guest released after the call returned.
 *
 * Returns: whether @alias is a dimm of the live definition (then handled)
 */
gboolean
vb_domain_memdev_deleted(VbDomainList *list, VbDomainObj *dom, const char *alias)
{
    g_autoptr(VbQemuMonitor) mon = NULL;
    Dimm want = { 0, 0, (char *)alias };
    g_autofree char *found = NULL;
    guint64 kib = 0;
    gboolean mine;

    g_mutex_lock(&dom->lock);
    mine = dom->id >= 0 && find_dimm(dom->def, &want, &found, &kib) != NULL;
    mon = mine && dom->mon != NULL ? vb_qemu_monitor_ref(dom->mon) : NULL;
    g_mutex_unlock(&dom->lock);
    if (!mine)
        return FALSE;
    if (mon != NULL)
        finish(list, dom, mon, alias);
    return TRUE;
}
