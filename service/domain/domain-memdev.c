/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Memory DIMMs while running (issue 13, part memev), as libvirt 9.0's
 * qemuDomainAttachMemory / qemuDomainDetachPrepMemory / qemuDomainRemoveMemoryDevice:
 *
 * - attach: object-add memory-backend-* (id memdimmN) + device_add pc-dimm (id dimmN,
 *   node, memdev, the given or first free slot), the command-line builder's options (issue
 *   13, part memcfg), its base address from query-memory-devices; the
 *   live definition gets the <memory> with <alias> and <address type='dimm' slot base>,
 *   <memory> grows by its size (and <currentMemory> with it when it was the whole).
 * - detach: device_del, the DEVICE_DELETED wait of the hotplug part, object-del, the
 *   device leaves the live definition and <memory> shrinks.
 *
 * The dimms given at start are named by position (dimm0, dimm1, ...) as the command line
 * names them; before a change their names are written into the live definition, so they
 * keep them when others go. Worker threads with the modify job; no lock across QMP.
 *
 * CONFIG (issue 13, part memcfg): the device into or out of a copy of the persistent
 * definition with <memory> and <currentMemory> following (libvirt's virDomainMemoryInsert
 * and virDomainMemoryRemove).
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
#include "qemu-hotplug.h"
#include "store.h"
#include "vb-error.h"
#include "vb-log.h"

#define QMP_TIMEOUT_MS 30000

typedef struct {
    guint64 size_kib;
    guint node;
    char *alias;    /* (nullable) */
    int slot;       /* <address type='dimm' slot>, -1: none */
    guint64 base;   /* <address base>, 0: none */
    gboolean has_address;
    guint64 pagesize_kib; /* <source><pagesize> */
    char *nodemask; /* (nullable) <source><nodemask>, as a sorted list "1,2,3" */
} Dimm;

static void
dimm_clear(Dimm *d)
{
    g_clear_pointer(&d->alias, g_free);
    g_clear_pointer(&d->nodemask, g_free);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(Dimm, dimm_clear)

static gboolean
parse_number(const char *s, guint64 max, guint64 *out)
{
    char *end = NULL;

    if (s == NULL || *s == '\0' || *s == '-')
        return FALSE;
    errno = 0;
    *out = g_ascii_strtoull(s, &end, 0);
    return errno == 0 && end != NULL && *end == '\0' && *out <= max;
}

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

/*
 * <memory model='dimm' [access] [discard]>[<source><pagesize/><nodemask/></source>]
 * <target><size/><node/></target>[<alias/>][<address type='dimm' slot base/>]</memory>;
 * the command-line builder checks the same again when it builds the backend
 */
static gboolean
parse_root(xmlNode *root, gboolean for_detach, Dimm *d, GError **error)
{
    g_autofree char *model = vb_xml_prop(root, "model");
    gboolean have_size = FALSE;

    d->slot = -1;
    if (g_strcmp0(model, "dimm") != 0) {
        g_set_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
                    "memory device model '%s' is not supported (only 'dimm')",
                    model != NULL ? model : "");
        return FALSE;
    }
    for (xmlAttr *a = root->properties; a != NULL; a = a->next) {
        const char *name = (const char *)a->name;
        g_autofree char *v = vb_xml_prop(root, name);

        if (strcmp(name, "model") == 0 ||
            (strcmp(name, "access") == 0 &&
             (g_strcmp0(v, "shared") == 0 || g_strcmp0(v, "private") == 0)) ||
            (strcmp(name, "discard") == 0 &&
             (g_strcmp0(v, "yes") == 0 || g_strcmp0(v, "no") == 0)))
            continue;
        if (strcmp(name, "access") == 0 || strcmp(name, "discard") == 0) {
            g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG, "<memory %s='%s'>: expected %s",
                        name, v != NULL ? v : "",
                        name[0] == 'a' ? "shared or private" : "yes or no");
            return FALSE;
        }
        g_set_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
                    "<memory %s=...> is not supported for a dimm", name);
        return FALSE;
    }
    for (xmlNode *n = root->children; n != NULL; n = n->next) {
        if (n->type != XML_ELEMENT_NODE)
            continue;
        if (vb_xml_is(n, "alias")) {
            g_free(d->alias);
            d->alias = vb_xml_prop(n, "name");
        } else if (vb_xml_is(n, "address")) {
            g_autofree char *type = vb_xml_prop(n, "type");
            g_autofree char *slot = vb_xml_prop(n, "slot");
            g_autofree char *base = vb_xml_prop(n, "base");
            guint64 v;

            if (g_strcmp0(type, "dimm") != 0) {
                g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                            "a dimm's <address> must have type='dimm', not '%s'",
                            type != NULL ? type : "");
                return FALSE;
            }
            if (slot != NULL) {
                if (!parse_number(slot, 255, &v)) {
                    g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                                "dimm address slot '%s' is not a number 0-255", slot);
                    return FALSE;
                }
                d->slot = (int)v;
            }
            if (base != NULL && !parse_number(base, G_MAXUINT64, &d->base)) {
                g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                            "dimm address base '%s' is not a number", base);
                return FALSE;
            }
            d->has_address = TRUE;
        } else if (vb_xml_is(n, "target") || vb_xml_is(n, "source")) {
            gboolean target = vb_xml_is(n, "target");

            for (xmlNode *t = n->children; t != NULL; t = t->next) {
                g_autofree char *text = NULL;
                g_autofree char *unit = NULL;

                if (t->type != XML_ELEMENT_NODE)
                    continue;
                text = vb_xml_text(t);
                if (target && vb_xml_is(t, "size")) {
                    unit = vb_xml_prop(t, "unit");
                    if (!vb_domain_memory_parse_kib(text, unit, &d->size_kib, error))
                        return FALSE;
                    have_size = TRUE;
                } else if (target && vb_xml_is(t, "node")) {
                    guint64 v;

                    if (!parse_number(g_strstrip(text), G_MAXINT, &v)) {
                        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                                    "<memory><target><node> '%s' is not a NUMA node number",
                                    text);
                        return FALSE;
                    }
                    d->node = (guint)v;
                } else if (!target && vb_xml_is(t, "pagesize")) {
                    unit = vb_xml_prop(t, "unit");
                    if (!vb_domain_memory_parse_kib(text, unit, &d->pagesize_kib, error))
                        return FALSE;
                } else if (!target && vb_xml_is(t, "nodemask")) {
                    g_autoptr(GArray) nodes = NULL;
                    GString *list = g_string_new(NULL);

                    if (!vb_cpuset_parse(g_strstrip(text), 1023, &nodes, error)) {
                        g_string_free(list, TRUE);
                        return FALSE;
                    }
                    for (guint i = 0; i < nodes->len; i++)
                        g_string_append_printf(list, "%s%u", i > 0 ? "," : "",
                                               g_array_index(nodes, guint, i));
                    g_free(d->nodemask);
                    d->nodemask = g_string_free(list, FALSE);
                } else {
                    g_set_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
                                "<memory><%s><%s> is not supported for a dimm",
                                (const char *)n->name, (const char *)t->name);
                    return FALSE;
                }
            }
        } else {
            g_set_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
                        "<memory><%s> is not supported for a dimm", (const char *)n->name);
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

/* libvirt's checks of a new memory device (virDomainDefCompatibleDevice,
 * qemuDomainDefValidateMemoryHotplug) */
static gboolean
check_fits(const Dimm *d, gboolean present, guint slots, guint ncells, guint64 total,
           guint64 limit, GError **error)
{
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
    if (d->node >= ncells) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                    "can't add memory backend for guest node '%u' as the guest has only '%u' "
                    "NUMA nodes configured", d->node, ncells);
        return FALSE;
    }
    if (total + d->size_kib > limit) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                    "Attaching memory device with size '%" G_GUINT64_FORMAT "' would exceed "
                    "domain's maxMemory config size '%" G_GUINT64_FORMAT "'", d->size_kib,
                    limit);
        return FALSE;
    }
    return TRUE;
}

/* the device XML with its alias and address as QEMU got them (and no other alias) */
static char *
stamped_xml(const char *xml, const char *id, guint slot, gboolean has_base, guint64 base)
{
    xmlDoc *doc = xmlReadMemory(xml, (int)strlen(xml), "device.xml", NULL,
                                XML_PARSE_NONET | XML_PARSE_NOWARNING | XML_PARSE_NOERROR);
    xmlNode *root = doc != NULL ? xmlDocGetRootElement(doc) : NULL;
    xmlNode *n, *next;
    xmlChar *out = NULL;
    int len = 0;
    char *ret;

    if (root == NULL) {
        if (doc != NULL)
            xmlFreeDoc(doc);
        return NULL;
    }
    for (n = root->children; n != NULL; n = next) {
        next = n->next;
        if (n->type == XML_ELEMENT_NODE && (vb_xml_is(n, "alias") || vb_xml_is(n, "address"))) {
            xmlUnlinkNode(n);
            xmlFreeNode(n);
        }
    }
    n = xmlNewChild(root, NULL, BAD_CAST "alias", NULL);
    xmlNewProp(n, BAD_CAST "name", BAD_CAST id);
    n = xmlNewChild(root, NULL, BAD_CAST "address", NULL);
    xmlNewProp(n, BAD_CAST "type", BAD_CAST "dimm");
    {
        g_autofree char *sl = g_strdup_printf("%u", slot);

        xmlNewProp(n, BAD_CAST "slot", BAD_CAST sl);
    }
    if (has_base) {
        g_autofree char *b = g_strdup_printf("0x%" G_GINT64_MODIFIER "x", base);

        xmlNewProp(n, BAD_CAST "base", BAD_CAST b);
    }
    xmlDocDumpMemory(doc, &out, &len);
    ret = g_strdup((const char *)out);
    xmlFree(out);
    xmlFreeDoc(doc);
    return ret;
}

/* @xml without its <alias> */
static char *
strip_alias(const char *xml)
{
    xmlDoc *doc = xmlReadMemory(xml, (int)strlen(xml), "device.xml", NULL,
                                XML_PARSE_NONET | XML_PARSE_NOWARNING | XML_PARSE_NOERROR);
    xmlNode *root = doc != NULL ? xmlDocGetRootElement(doc) : NULL;
    xmlNode *next;
    xmlChar *out = NULL;
    int len = 0;
    char *ret;

    if (root == NULL) {
        if (doc != NULL)
            xmlFreeDoc(doc);
        return NULL;
    }
    for (xmlNode *n = root->children; n != NULL; n = next) {
        next = n->next;
        if (n->type == XML_ELEMENT_NODE && vb_xml_is(n, "alias")) {
            xmlUnlinkNode(n);
            xmlFreeNode(n);
        }
    }
    xmlDocDumpMemory(doc, &out, &len);
    ret = g_strdup((const char *)out);
    xmlFree(out);
    xmlFreeDoc(doc);
    return ret;
}

/* parses @xml into @def; returns the new device or NULL */
static VbDeviceDef *
parse_into(VbDomainDef *def, const char *xml, GError **error)
{
    xmlDoc *doc = xml != NULL ? xmlReadMemory(xml, (int)strlen(xml), "dimm.xml", NULL,
                                              XML_PARSE_NONET)
                              : NULL;
    VbDeviceDef *dev = NULL;

    if (doc == NULL) {
        g_set_error_literal(error, VB_ERROR, VB_ERROR_INTERNAL, "cannot read the dimm's XML");
        return NULL;
    }
    dev = vb_domain_def_parse_one_device(def, xmlDocGetRootElement(doc), error);
    xmlFreeDoc(doc);
    return dev;
}

/**
 * vb_domain_memdev_attach:
 * @mon: the domain's monitor
 * @caps: the running QEMU's capabilities
 * @params: the run's command parameters (runtime directory, ...; hugetlbfs is read here)
 * @xml: a <memory model='dimm'> device
 * @out_alias: (out): its alias (dimmN)
 *
 * With the modify job: the dimm into the running QEMU (the command-line builder's -object
 * and -device as object-add and device_add) and the live definition.
 */
gboolean
vb_domain_memdev_attach(VbDomainList *list, VbDomainObj *dom, VbQemuMonitor *mon,
                        const VbQemuCaps *caps, const VbQemuCommandParams *params,
                        const char *xml, char **out_alias, GError **error)
{
    g_auto(Dimm) d = { 0 };
    g_autoptr(JsonNode) holder = NULL;
    g_autoptr(JsonNode) holder2 = NULL;
    g_autoptr(GHashTable) devs = NULL;
    g_autoptr(GHashTable) after = NULL;
    g_autoptr(VbDomainDef) copy = NULL;
    g_autoptr(GPtrArray) opts = NULL;
    g_autoptr(GPtrArray) hugetlbfs = NULL;
    g_autofree char *id = NULL;
    g_autofree char *mem = NULL;
    g_autofree char *dev_xml = NULL;
    g_autofree char *live_xml = NULL;
    g_autoptr(GError) err = NULL;
    VbQemuCommandParams p = *params;
    gboolean used[256] = { FALSE };
    guint slots, ncells, slot = 0, idx = 0;
    guint64 total, limit, base = 0;
    gboolean present, found_slot = FALSE, object_added = FALSE;
    JsonObject *data;
    VbDeviceDef *dev;
    GHashTableIter it;
    gpointer key, value;

    if (!parse_xml(xml, FALSE, &d, error))
        return FALSE;
    g_mutex_lock(&dom->lock);
    present = dom->def->priv->max_memory_elem.present;
    slots = dom->def->priv->max_memory_slots;
    limit = dom->def->priv->max_memory_limit_kib;
    total = dom->def->max_memory_kib;
    ncells = vb_domain_def_get_resources(dom->def)->cpu.cells->len;
    g_mutex_unlock(&dom->lock);
    if (!check_fits(&d, present, slots, ncells, total, limit, error))
        return FALSE;
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
    if (d.slot >= 0) {
        /* an <address type='dimm' slot> given is honoured or refused (libvirt) */
        if ((guint)d.slot >= slots) {
            g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                        "memory device slot '%d' exceeds slots count '%u'", d.slot, slots);
            return FALSE;
        }
        if (used[d.slot]) {
            g_set_error(error, VB_ERROR, VB_ERROR_INVALID_STATE,
                        "memory device slot '%d' is already being used by another memory "
                        "device", d.slot);
            return FALSE;
        }
        slot = (guint)d.slot;
        found_slot = TRUE;
    }
    for (guint s = 0; !found_slot && s < slots && s < 256; s++) {
        if (!used[s]) {
            slot = s;
            found_slot = TRUE;
        }
    }
    if (!found_slot) {
        g_set_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
                    "no free memory device slot available (all %u are used)", slots);
        return FALSE;
    }
    id = g_strdup_printf("dimm%u", idx);
    mem = g_strdup_printf("memdimm%u", idx);

    /* the builder's options, as at start */
    dev_xml = stamped_xml(xml, id, slot, d.base != 0, d.base);
    g_mutex_lock(&dom->lock);
    copy = vb_domain_def_copy(dom->def);
    g_mutex_unlock(&dom->lock);
    if (copy == NULL || dev_xml == NULL) {
        g_set_error_literal(error, VB_ERROR, VB_ERROR_INTERNAL,
                            "cannot copy the live definition");
        return FALSE;
    }
    dev = parse_into(copy, dev_xml, error);
    if (dev == NULL)
        return FALSE;
    hugetlbfs = vb_hugetlbfs_find();
    p.hugetlbfs = hugetlbfs;
    opts = vb_qemu_command_hotplug(copy, caps, &p, dev, 0, error);
    if (opts == NULL)
        return FALSE;
    for (guint i = 0; i + 1 < opts->len; i += 2) {
        const char *opt = g_ptr_array_index(opts, i);
        g_autoptr(JsonNode) parsed = json_from_string(g_ptr_array_index(opts, i + 1), NULL);
        g_autoptr(JsonNode) r = NULL;
        gboolean object = strcmp(opt, "-object") == 0;

        if (parsed == NULL || !JSON_NODE_HOLDS_OBJECT(parsed) ||
            (!object && strcmp(opt, "-device") != 0)) {
            g_set_error(error, VB_ERROR, VB_ERROR_INTERNAL, "unexpected dimm option %s", opt);
            r = NULL;
        } else {
            r = qmp(mon, object ? "object-add" : "device_add", json_node_dup_object(parsed),
                    error);
            if (r != NULL && object)
                object_added = TRUE;
        }
        if (r == NULL) {
            g_prefix_error(error, "%s: ", object ? "object-add" : "device_add");
            if (object_added)
                object_del(dom, mon, mem);
            return FALSE;
        }
    }
    after = memory_devices(mon, &holder2, NULL);
    data = after != NULL ? g_hash_table_lookup(after, id) : NULL;
    if (data != NULL)
        base = (guint64)json_object_get_int_member_with_default(data, "addr", 0);
    live_xml = stamped_xml(xml, id, slot, TRUE, base);

    g_mutex_lock(&dom->lock);
    if (dom->id >= 0 && live_xml != NULL) {
        guint64 old = dom->def->max_memory_kib;

        stamp_aliases(dom->def);
        if (parse_into(dom->def, live_xml, &err) != NULL) {
            dom->def->max_memory_kib = old + d.size_kib;
            /* libvirt's fix_balloon: a domain not ballooned down stays at the whole */
            if (dom->def->current_memory_kib == old)
                dom->def->current_memory_kib = old + d.size_kib;
            vb_domain_def_set_live(dom->def, dom->id);
        }
    }
    g_mutex_unlock(&dom->lock);
    if (err != NULL)
        VB_LOG_DOMAIN(G_LOG_LEVEL_WARNING, dom->uuid_str, "dimm %s: %s", id, err->message);
    VB_LOG_DOMAIN(G_LOG_LEVEL_INFO, dom->uuid_str,
                  "dimm %s attached: %" G_GUINT64_FORMAT " KiB on node %u, slot %u", id,
                  d.size_kib, d.node, slot);
    *out_alias = g_steal_pointer(&id);
    return TRUE;
}

/* libvirt's virDomainMemoryFindByDef: the address and alias when given, the target and
 * source always; a request with only an <alias> names the device by it */
static gboolean
dimm_matches(const Dimm *want, const Dimm *have, gboolean addr_fallback)
{
    if (want->alias != NULL && g_strcmp0(want->alias, have->alias) != 0)
        return FALSE;
    if (want->alias != NULL && want->size_kib == 0)
        return TRUE;
    if (addr_fallback) {
        if (have->has_address)
            return FALSE;
    } else if (want->has_address &&
               (!have->has_address || want->slot != have->slot || want->base != have->base)) {
        return FALSE;
    }
    return want->size_kib == have->size_kib && want->node == have->node &&
           want->pagesize_kib == have->pagesize_kib &&
           g_strcmp0(want->nodemask, have->nodemask) == 0;
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
        if (dimm_matches(want, &d, FALSE)) {
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
        Dimm want = { .alias = (char *)alias, .slot = -1 };
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
    Dimm want = { .alias = (char *)alias, .slot = -1 };
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

/* ---- the persistent definition (issue 13, part memcfg) ---- */

/* with the device's size: <memory> and <currentMemory> after an insert or remove */
static void
adjust_totals(VbDomainDef *def, guint64 kib, gboolean add)
{
    if (add) {
        def->max_memory_kib += kib;
        def->current_memory_kib += kib; /* libvirt: cur_balloon += size */
    } else {
        def->max_memory_kib = def->max_memory_kib > kib ? def->max_memory_kib - kib : 0;
        def->current_memory_kib =
            def->current_memory_kib > kib ? def->current_memory_kib - kib : 0;
    }
    /* libvirt's post-parse: no balloon above the whole, none of 0 */
    if (def->current_memory_kib == 0 || def->current_memory_kib > def->max_memory_kib)
        def->current_memory_kib = def->max_memory_kib;
}

/**
 * vb_domain_memdev_config_attach:
 * @def: a copy of the persistent definition
 * @xml: a <memory> device
 *
 * libvirt's qemuDomainAttachDeviceConfig for a memory device: the checks of a define (model,
 * <maxMemory slots>, NUMA cells, the node, a free slot, the total below <maxMemory>, an
 * <address> no other memory device has), then the device after the other memory devices,
 * <memory> and <currentMemory> grown by its size. The next start cold-plugs it.
 */
gboolean
vb_domain_memdev_config_attach(VbDomainDef *def, const char *xml, GError **error)
{
    g_auto(Dimm) d = { 0 };
    GPtrArray *devs = def->priv->devices;
    g_autofree char *clean = NULL;
    guint n = 0;

    if (!parse_xml(xml, FALSE, &d, error))
        return FALSE;
    if (!check_fits(&d, def->priv->max_memory_elem.present, def->priv->max_memory_slots,
                    vb_domain_def_get_resources(def)->cpu.cells->len, def->max_memory_kib,
                    def->priv->max_memory_limit_kib, error))
        return FALSE;
    if (d.slot >= 0 && (guint)d.slot >= def->priv->max_memory_slots) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                    "memory device slot '%d' exceeds slots count '%u'", d.slot,
                    def->priv->max_memory_slots);
        return FALSE;
    }
    for (guint i = 0; i < devs->len; i++) {
        const VbDeviceDef *dev = g_ptr_array_index(devs, i);
        g_auto(Dimm) o = { 0 };

        if (!is_memory_dev(dev))
            continue;
        n++;
        if (d.has_address && parse_dev(dev, &o) && o.has_address && o.slot == d.slot) {
            g_set_error_literal(error, VB_ERROR, VB_ERROR_INVALID_STATE,
                                "Domain already contains a device with the same address");
            return FALSE;
        }
    }
    if (n >= def->priv->max_memory_slots) {
        g_set_error_literal(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
                            "no free memory device slot available");
        return FALSE;
    }
    /* an alias other than a user's is the service's to give (libvirt parses inactive) */
    if (d.alias != NULL && !g_str_has_prefix(d.alias, "ua-")) {
        clean = strip_alias(xml);
        if (clean == NULL) {
            g_set_error_literal(error, VB_ERROR, VB_ERROR_INVALID_XML,
                                "the <memory> device XML cannot be read");
            return FALSE;
        }
    }
    if (parse_into(def, clean != NULL ? clean : xml, error) == NULL)
        return FALSE;
    adjust_totals(def, d.size_kib, TRUE);
    return TRUE;
}

/**
 * vb_domain_memdev_config_remove:
 * @def: a copy of the persistent definition
 * @dev: its memory device
 *
 * Takes @dev out of @def with <memory> and <currentMemory> shrunk by its size.
 */
void
vb_domain_memdev_config_remove(VbDomainDef *def, VbDeviceDef *dev)
{
    g_auto(Dimm) d = { 0 };

    parse_dev(dev, &d);
    vb_domain_def_remove_device(def, dev);
    adjust_totals(def, d.size_kib, FALSE);
}

/**
 * vb_domain_memdev_config_detach:
 * @def: a copy of the persistent definition
 * @xml: the <memory> device to take out
 *
 * libvirt's virDomainMemoryFindInactiveByDef (address, alias, target and source; then a
 * device without address by target and source) and virDomainMemoryRemove.
 */
gboolean
vb_domain_memdev_config_detach(VbDomainDef *def, const char *xml, GError **error)
{
    g_auto(Dimm) want = { 0 };
    GPtrArray *devs = def->priv->devices;

    if (!parse_xml(xml, TRUE, &want, error))
        return FALSE;
    for (int pass = 0; pass < 2; pass++) {
        for (guint i = 0; i < devs->len; i++) {
            VbDeviceDef *dev = g_ptr_array_index(devs, i);
            g_auto(Dimm) d = { 0 };

            if (!is_memory_dev(dev) || !parse_dev(dev, &d) || !dimm_matches(&want, &d, pass))
                continue;
            vb_domain_memdev_config_remove(def, dev);
            return TRUE;
        }
    }
    g_set_error_literal(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                        "matching memory device was not found");
    return FALSE;
}

/* vb_domain_memdev_is_memory_dev: whether @dev is a <memory> device the model keeps */
gboolean
vb_domain_memdev_is_memory_dev(const VbDeviceDef *dev)
{
    return is_memory_dev(dev);
}
