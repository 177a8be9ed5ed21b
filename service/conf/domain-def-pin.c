/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * <cputune> pins changed at run time or in the persistent definition (issue 13, part
 * memev): PinVcpu and PinIOThread. <cputune> is kept verbatim in the model, so the
 * definition is edited as XML and read again (as vb_domain_def_copy() does), which also
 * rebuilds the read view (domain-def-cpu.h).
 */
#include "config.h"

#include <libxml/parser.h>
#include <string.h>

#include "domain-def-cpu.h"
#include "domain-def-priv.h"
#include "vb-error.h"

static gboolean
has_element_child(xmlNode *node)
{
    for (xmlNode *c = node->children; c != NULL; c = c->next) {
        if (c->type == XML_ELEMENT_NODE)
            return TRUE;
    }
    return FALSE;
}

/**
 * vb_domain_def_with_pin:
 * @kind: VB_PIN_VCPU, VB_PIN_IOTHREAD or VB_PIN_EMULATOR (issue 13, part vcpuio)
 * @id: the vCPU index or iothread id (ignored for the emulator)
 * @cpuset: (nullable): libvirt's cpuset syntax; %NULL removes the pin
 *
 * Returns: (transfer full): a copy of @def whose <cputune> has <vcpupin vcpu=@id
 *   cpuset=@cpuset> (or <iothreadpin iothread=...>) instead of the earlier one, or %NULL
 *   with @error
 */
VbDomainDef *
vb_domain_def_with_pin(const VbDomainDef *def, VbPinKind kind, guint id, const char *cpuset,
                       GError **error)
{
    /* libvirt's order of the domain's children before <cputune>, and of <cputune>'s */
    static const char *const before_cputune[] = {
        "name", "uuid", "genid", "title", "description", "metadata", "maxMemory", "memory",
        "currentMemory", "blkiotune", "memtune", "memoryBacking", "vcpu", "vcpus", "iothreads",
        "iothreadids", "defaultiothread", NULL };
    static const char *const before_vcpupin[] = {
        "shares", "period", "quota", "global_period", "global_quota", "emulator_period",
        "emulator_quota", "iothread_period", "iothread_quota", "vcpupin", NULL };
    static const char *const before_emulatorpin[] = {
        "shares", "period", "quota", "global_period", "global_quota", "emulator_period",
        "emulator_quota", "iothread_period", "iothread_quota", "vcpupin", "emulatorpin", NULL };
    static const char *const before_iothreadpin[] = {
        "shares", "period", "quota", "global_period", "global_quota", "emulator_period",
        "emulator_quota", "iothread_period", "iothread_quota", "vcpupin", "emulatorpin",
        "iothreadpin", NULL };
    /* issue 13, part vcpuio: <emulatorpin> has no id attribute */
    const char *elem = kind == VB_PIN_VCPU       ? "vcpupin"
                       : kind == VB_PIN_EMULATOR ? "emulatorpin"
                                                 : "iothreadpin";
    const char *attr = kind == VB_PIN_VCPU ? "vcpu" : kind == VB_PIN_EMULATOR ? NULL : "iothread";
    g_autofree char *xml = NULL;
    g_autofree char *id_str = g_strdup_printf("%u", id);
    xmlDoc *doc;
    xmlNode *root, *cputune, *next;
    xmlChar *out = NULL;
    int len = 0;
    VbDomainDef *copy;

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
    cputune = vb_xml_child(root, "cputune");
    if (cputune == NULL && cpuset == NULL) {
        xmlFreeDoc(doc);
        return vb_domain_def_copy(def);
    }
    if (cputune == NULL)
        cputune = vb_xml_insert_child(root, "cputune", before_cputune);
    for (xmlNode *c = cputune->children; c != NULL; c = next) {
        xmlChar *v;
        gboolean mine;

        next = c->next;
        if (!vb_xml_is(c, elem))
            continue;
        v = attr != NULL ? xmlGetProp(c, (const xmlChar *)attr) : NULL;
        mine = attr == NULL || (v != NULL && g_strcmp0((const char *)v, id_str) == 0);
        xmlFree(v);
        if (mine) {
            xmlUnlinkNode(c);
            xmlFreeNode(c);
        }
    }
    if (cpuset != NULL) {
        xmlNode *pin = vb_xml_insert_child(cputune, elem,
                                    kind == VB_PIN_VCPU       ? before_vcpupin
                                    : kind == VB_PIN_EMULATOR ? before_emulatorpin
                                                              : before_iothreadpin);

        if (attr != NULL)
            xmlSetProp(pin, (const xmlChar *)attr, (const xmlChar *)id_str);
        xmlSetProp(pin, (const xmlChar *)"cpuset", (const xmlChar *)cpuset);
    } else if (!has_element_child(cputune)) {
        xmlUnlinkNode(cputune);
        xmlFreeNode(cputune);
    }
    xmlDocDumpMemory(doc, &out, &len);
    xmlFreeDoc(doc);
    copy = vb_domain_def_parse_string((const char *)out, 0, error);
    xmlFree(out);
    return copy;
}

/**
 * vb_domain_def_with_vcpus:
 * @current: the new <vcpu current>
 * @max: the new <vcpu> count
 *
 * Returns: (transfer full): a copy of @def with those counts; <vcpus> (when present) has
 *   the first @current vCPUs enabled and one entry per vCPU up to @max. %NULL with @error.
 */
VbDomainDef *
vb_domain_def_with_vcpus(const VbDomainDef *def, guint current, guint max, GError **error)
{
    g_autofree char *xml = NULL;
    xmlDoc *doc;
    xmlNode *root, *vcpu, *vcpus, *next;
    xmlChar *out = NULL;
    int len = 0;
    VbDomainDef *copy;

    g_return_val_if_fail(current >= 1 && current <= max, NULL);
    xml = vb_domain_def_format(def, VB_DOMAIN_DEF_FORMAT_SECURE, error);
    if (xml == NULL)
        return NULL;
    doc = xmlReadMemory(xml, (int)strlen(xml), "domain.xml", NULL, XML_PARSE_NONET);
    root = doc != NULL ? xmlDocGetRootElement(doc) : NULL;
    vcpu = root != NULL ? vb_xml_child(root, "vcpu") : NULL;
    if (vcpu == NULL) {
        xmlFreeDoc(doc);
        g_set_error(error, VB_ERROR, VB_ERROR_FAILED, "cannot read back the definition");
        return NULL;
    }
    {
        g_autofree char *max_str = g_strdup_printf("%u", max);
        g_autofree char *cur_str = g_strdup_printf("%u", current);

        xmlNodeSetContent(vcpu, (const xmlChar *)max_str);
        if (current != max)
            xmlSetProp(vcpu, (const xmlChar *)"current", (const xmlChar *)cur_str);
        else
            xmlUnsetProp(vcpu, (const xmlChar *)"current");
    }
    vcpus = vb_xml_child(root, "vcpus");
    if (vcpus != NULL) {
        g_autofree gboolean *seen = g_new0(gboolean, max);

        for (xmlNode *c = vcpus->children; c != NULL; c = next) {
            xmlChar *v;
            guint64 id;

            next = c->next;
            if (!vb_xml_is(c, "vcpu"))
                continue;
            v = xmlGetProp(c, (const xmlChar *)"id");
            id = v != NULL ? g_ascii_strtoull((const char *)v, NULL, 10) : G_MAXUINT64;
            xmlFree(v);
            if (id >= max) {
                xmlUnlinkNode(c);
                xmlFreeNode(c);
                continue;
            }
            seen[id] = TRUE;
            xmlSetProp(c, (const xmlChar *)"enabled",
                       (const xmlChar *)(id < current ? "yes" : "no"));
        }
        for (guint id = 0; id < max; id++) {
            g_autofree char *id_str = g_strdup_printf("%u", id);
            xmlNode *n;

            if (seen[id])
                continue;
            n = xmlNewChild(vcpus, NULL, (const xmlChar *)"vcpu", NULL);
            xmlSetProp(n, (const xmlChar *)"id", (const xmlChar *)id_str);
            xmlSetProp(n, (const xmlChar *)"enabled",
                       (const xmlChar *)(id < current ? "yes" : "no"));
            xmlSetProp(n, (const xmlChar *)"hotpluggable",
                       (const xmlChar *)(id == 0 ? "no" : "yes"));
        }
    }
    xmlDocDumpMemory(doc, &out, &len);
    xmlFreeDoc(doc);
    copy = vb_domain_def_parse_string((const char *)out, 0, error);
    xmlFree(out);
    return copy;
}
