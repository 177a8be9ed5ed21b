/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The firmware of a domain (issue 10, part helpers): <os firmware=>, its <firmware><feature>
 * requests, <loader> and <nvram>, and <features><smm>. Read for the command line and the
 * firmware selection; changed (loader, NVRAM path, SMM) by rewriting the <os> and <features>
 * elements of the formatted XML and parsing it again, so every kept attribute stays.
 */
#include "config.h"

#include <libxml/parser.h>
#include <string.h>

#include "domain-def-priv.h"
#include "vb-error.h"

void
vb_domain_firmware_clear(VbDomainFirmware *fw)
{
    g_free(fw->firmware);
    g_free(fw->loader_path);
    g_free(fw->loader_type);
    g_free(fw->nvram_path);
    g_free(fw->nvram_template);
    memset(fw, 0, sizeof(*fw));
}

static int
tristate(const char *v, const char *yes, const char *no)
{
    if (g_strcmp0(v, yes) == 0)
        return 1;
    if (g_strcmp0(v, no) == 0)
        return 0;
    return -1;
}

static void
read_os_children(const struct _VbDomainDefPrivate *p, VbDomainFirmware *fw)
{
    GPtrArray *ch = p->os_extra.children;

    for (guint i = 0; ch != NULL && i < ch->len; i++) {
        const VbRawElem *raw = g_ptr_array_index(ch, i);
        xmlDoc *doc;
        xmlNode *root;

        if (strcmp(raw->name, "nvram") != 0 && strcmp(raw->name, "firmware") != 0)
            continue;
        doc = vb_raw_elem_parse(raw);
        root = doc != NULL ? xmlDocGetRootElement(doc) : NULL;
        if (root != NULL && strcmp(raw->name, "nvram") == 0) {
            g_autofree char *text = vb_xml_text(root);
            g_autofree char *type = vb_xml_prop(root, "type");

            fw->nvram_present = TRUE;
            fw->nvram_line = raw->line;
            fw->nvram_template = vb_xml_prop(root, "template");
            /* <nvram type='network|file'><source .../></nvram>: only a plain path here */
            fw->nvram_other = type != NULL || xmlFirstElementChild(root) != NULL;
            g_strstrip(text);
            if (*text != '\0')
                fw->nvram_path = g_steal_pointer(&text);
        } else if (root != NULL) {
            for (xmlNode *f = root->children; f != NULL; f = f->next) {
                g_autofree char *name = NULL;
                g_autofree char *enabled = NULL;

                if (!vb_xml_is(f, "feature"))
                    continue;
                name = vb_xml_prop(f, "name");
                enabled = vb_xml_prop(f, "enabled");
                if (g_strcmp0(name, "secure-boot") == 0)
                    fw->secure_boot = tristate(enabled, "yes", "no");
                else if (g_strcmp0(name, "enrolled-keys") == 0)
                    fw->enrolled_keys = tristate(enabled, "yes", "no");
            }
        }
        xmlFreeDoc(doc);
    }
}

/**
 * vb_domain_def_get_firmware:
 * @def: a definition
 * @out: (out caller-allocates): filled; clear with vb_domain_firmware_clear()
 *
 * Reads what the definition says about its firmware.
 */
void
vb_domain_def_get_firmware(const VbDomainDef *def, VbDomainFirmware *out)
{
    const struct _VbDomainDefPrivate *p = def->priv;
    GPtrArray *feats = p->features_extra.children;

    memset(out, 0, sizeof(*out));
    out->secure_boot = out->enrolled_keys = out->loader_secure = out->smm = -1;
    out->firmware = g_strdup(vb_extra_get_attr(&p->os_extra, "firmware"));
    if (p->loader.present) {
        out->loader_path = p->loader_path != NULL && *p->loader_path != '\0'
                               ? g_strdup(p->loader_path) : NULL;
        out->loader_type = g_strdup(p->loader_type);
        out->loader_readonly = g_strcmp0(p->loader_readonly, "yes") == 0;
        out->loader_secure = tristate(vb_extra_get_attr(&p->loader.extra, "secure"), "yes",
                                      "no");
        out->loader_stateless = g_strcmp0(vb_extra_get_attr(&p->loader.extra, "stateless"),
                                          "yes") == 0;
    }
    read_os_children(p, out);
    for (guint i = 0; feats != NULL && i < feats->len; i++) {
        const VbRawElem *raw = g_ptr_array_index(feats, i);
        g_autofree char *state = NULL;

        if (strcmp(raw->name, "smm") != 0)
            continue;
        state = vb_raw_elem_get_attr(raw, "state");
        out->smm = tristate(state != NULL ? state : "on", "on", "off");
    }
}

static void
set_text(xmlNode *node, const char *text)
{
    xmlNodeSetContent(node, NULL);
    if (text != NULL) {
        xmlChar *esc = xmlEncodeSpecialChars(node->doc, (const xmlChar *)text);

        xmlNodeSetContent(node, esc);
        xmlFree(esc);
    }
}

static void
edit_os(xmlNode *os, const VbDomainFirmware *fw)
{
    static const char *const before_loader[] = { "type", "firmware", NULL };
    static const char *const before_nvram[] = { "type", "firmware", "loader", NULL };
    xmlNode *loader = vb_xml_child(os, "loader");
    xmlNode *nvram = vb_xml_child(os, "nvram");

    if (fw->firmware == NULL)
        xmlUnsetProp(os, (const xmlChar *)"firmware");
    if (fw->loader_path != NULL) {
        if (loader == NULL)
            loader = vb_xml_insert_child(os, "loader", before_loader);
        xmlSetProp(loader, (const xmlChar *)"readonly",
                   (const xmlChar *)(fw->loader_readonly ? "yes" : "no"));
        if (fw->loader_secure >= 0)
            xmlSetProp(loader, (const xmlChar *)"secure",
                       (const xmlChar *)(fw->loader_secure ? "yes" : "no"));
        if (fw->loader_type != NULL)
            xmlSetProp(loader, (const xmlChar *)"type", (const xmlChar *)fw->loader_type);
        set_text(loader, fw->loader_path);
    }
    if (fw->nvram_path != NULL || fw->nvram_template != NULL) {
        if (nvram == NULL)
            nvram = vb_xml_insert_child(os, "nvram", before_nvram);
        if (fw->nvram_template != NULL)
            xmlSetProp(nvram, (const xmlChar *)"template", (const xmlChar *)fw->nvram_template);
        if (fw->nvram_path != NULL && !fw->nvram_other)
            set_text(nvram, fw->nvram_path);
    }
}

/**
 * vb_domain_def_with_firmware:
 * @def: a definition
 * @fw: what its <os> should say: firmware= (removed when %NULL), loader (when a path is
 *   set), NVRAM path and template (when set), and <smm state='on'/> (when @fw->smm is 1 and
 *   the definition has no <smm>)
 * @error: error
 *
 * Returns: (transfer full): a new definition with these changes, everything else as in @def
 */
VbDomainDef *
vb_domain_def_with_firmware(const VbDomainDef *def, const VbDomainFirmware *fw,
                            GError **error)
{
    g_autofree char *xml = vb_domain_def_format(def, VB_DOMAIN_DEF_FORMAT_SECURE, error);
    xmlDoc *doc;
    xmlNode *root;
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
    for (xmlNode *c = root->children; c != NULL; c = c->next) {
        if (vb_xml_is(c, "os"))
            edit_os(c, fw);
    }
    if (fw->smm == 1) {
        static const char *const before_features[] = { "os", "bootloader_args", "idmap",
                                                       "sysinfo", "bootloader", NULL };
        xmlNode *features = vb_xml_child(root, "features");

        if (features == NULL)
            features = vb_xml_insert_child(root, "features", before_features);
        if (vb_xml_child(features, "smm") == NULL)
            xmlSetProp(xmlAddChild(features, xmlNewNode(NULL, (const xmlChar *)"smm")),
                       (const xmlChar *)"state", (const xmlChar *)"on");
    }
    xmlDocDumpMemory(doc, &out, &len);
    xmlFreeDoc(doc);
    copy = vb_domain_def_parse_string((const char *)out, 0, error);
    xmlFree(out);
    return copy;
}
