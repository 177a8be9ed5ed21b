/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <stdlib.h>
#include <string.h>

#include "qemu-caps.h"
#include "vb-error.h"

/*
 * The caps as XML, for the on-disk cache and each running domain's status
 * file:
 *
 *   <qemuCaps binary='/usr/bin/qemu-system-x86_64' size='N' mtime='N'>
 *     <arch>x86_64</arch> <version>7002022</version> <package>...</package>
 *     <kvm available='no'/> <tcg available='yes'/>
 *     <machine name='pc-q35-7.2' alias='q35' default='no' maxCpus='288' deprecated='no'/>
 *     <command name='cont'/> <event name='STOP'/> <device name='virtio-net-pci'/>
 *   </qemuCaps>
 *
 * No XML declaration: the element is embedded as is. Sets are written sorted.
 */

static void
append_escaped(GString *buf, const char *before, const char *text, const char *after)
{
    g_autofree char *esc = g_markup_escape_text(text != NULL ? text : "", -1);

    g_string_append(buf, before);
    g_string_append(buf, esc);
    g_string_append(buf, after);
}

static int
compare_strings(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void
append_set(GString *buf, const char *element, GHashTable *set)
{
    g_autofree const char **keys = NULL;
    guint n = 0;

    if (set == NULL)
        return;
    keys = (const char **)g_hash_table_get_keys_as_array(set, &n);
    qsort(keys, n, sizeof(char *), compare_strings);
    for (guint i = 0; i < n; i++) {
        g_autofree char *esc = g_markup_escape_text(keys[i], -1);

        g_string_append_printf(buf, "  <%s name='%s'/>\n", element, esc);
    }
}

static void
append_cpu_models(GString *buf, GHashTable *models)
{
    g_autofree const char **keys = NULL;
    guint n = 0;

    if (models == NULL)
        return;
    keys = (const char **)g_hash_table_get_keys_as_array(models, &n);
    qsort(keys, n, sizeof(char *), compare_strings);
    for (guint i = 0; i < n; i++) {
        g_autofree char *name = g_markup_escape_text(keys[i], -1);
        g_autofree char *un = g_markup_escape_text(g_hash_table_lookup(models, keys[i]), -1);

        g_string_append_printf(buf, "  <tcgCpuModel name='%s' unavailable='%s'/>\n", name, un);
    }
}

/**
 * vb_qemu_caps_to_xml:
 *
 * Returns: (transfer full): @caps as a <qemuCaps> element (see above). Any thread.
 */
char *
vb_qemu_caps_to_xml(const VbQemuCaps *caps)
{
    g_autoptr(GString) buf = g_string_new(NULL);

    append_escaped(buf, "<qemuCaps binary='", caps->binary, "'");
    g_string_append_printf(buf, " size='%" G_GINT64_FORMAT "' mtime='%" G_GINT64_FORMAT "'>\n",
                           caps->size, caps->mtime);
    append_escaped(buf, "  <arch>", caps->arch, "</arch>\n");
    g_string_append_printf(buf, "  <version>%u</version>\n", caps->version);
    append_escaped(buf, "  <package>", caps->package, "</package>\n");
    g_string_append_printf(buf, "  <kvm available='%s'/>\n", caps->kvm_available ? "yes" : "no");
    g_string_append_printf(buf, "  <tcg available='%s'/>\n", caps->tcg_available ? "yes" : "no");
    if (caps->sandbox >= 0)
        g_string_append_printf(buf, "  <sandbox available='%s'/>\n",
                               caps->sandbox ? "yes" : "no");
    for (guint i = 0; caps->machines != NULL && i < caps->machines->len; i++) {
        const VbQemuMachine *m = caps->machines->pdata[i];

        append_escaped(buf, "  <machine name='", m->name, "'");
        if (m->alias != NULL)
            append_escaped(buf, " alias='", m->alias, "'");
        g_string_append_printf(buf, " default='%s' maxCpus='%u' deprecated='%s'/>\n",
                               m->is_default ? "yes" : "no", m->max_cpus,
                               m->deprecated ? "yes" : "no");
    }
    append_set(buf, "command", caps->commands);
    append_set(buf, "event", caps->events);
    append_set(buf, "device", caps->devices);
    append_cpu_models(buf, caps->tcg_cpu_models);
    append_set(buf, "tcgCpuFeature", caps->tcg_cpu_features);
    append_set(buf, "cpuFeature", caps->cpu_features);
    append_set(buf, "audiodev", caps->audiodevs);
    g_string_append(buf, "</qemuCaps>\n");
    return g_string_free(g_steal_pointer(&buf), FALSE);
}

/**
 * vb_qemu_caps_get_xml:
 *
 * vb_qemu_caps_to_xml() of caps that no longer change (those a domain runs with),
 * formatted at the first call and kept with @caps: every status write of a running
 * domain embeds them, and formatting them (tens of KB, every set sorted) took most
 * of a Suspend's status write (issue 16). Any thread.
 *
 * Returns: (transfer none): the XML, as long as @caps lives
 */
const char *
vb_qemu_caps_get_xml(VbQemuCaps *caps)
{
    if (g_once_init_enter(&caps->xml))
        g_once_init_leave(&caps->xml, vb_qemu_caps_to_xml(caps));
    return caps->xml;
}

static char *
prop(xmlNode *node, const char *name)
{
    xmlChar *v = xmlGetProp(node, (const xmlChar *)name);
    char *out = v != NULL ? g_strdup((const char *)v) : NULL;

    xmlFree(v);
    return out;
}

static char *
content(xmlNode *node)
{
    xmlChar *v = xmlNodeGetContent(node);
    char *out = g_strdup(v != NULL ? (const char *)v : "");

    xmlFree(v);
    return out;
}

static gboolean
parse_int64(const char *text, gint64 *out_value)
{
    char *end = NULL;
    gint64 v;

    if (text == NULL || *text == '\0')
        return FALSE;
    v = g_ascii_strtoll(text, &end, 10);
    if (*end != '\0')
        return FALSE;
    *out_value = v;
    return TRUE;
}

static gboolean
yes(xmlNode *node, const char *name)
{
    g_autofree char *v = prop(node, name);

    return g_strcmp0(v, "yes") == 0;
}

static gboolean
parse_machine(VbQemuCaps *caps, xmlNode *node)
{
    g_autofree char *max = prop(node, "maxCpus");
    VbQemuMachine *m;
    gint64 n = 0;

    if (max != NULL && (!parse_int64(max, &n) || n < 0 || n > G_MAXUINT))
        return FALSE;
    m = g_new0(VbQemuMachine, 1);
    m->name = prop(node, "name");
    m->alias = prop(node, "alias");
    m->is_default = yes(node, "default");
    m->deprecated = yes(node, "deprecated");
    m->max_cpus = (guint)n;
    g_ptr_array_add(caps->machines, m);
    return m->name != NULL;
}

static gboolean
parse_child(VbQemuCaps *caps, xmlNode *node)
{
    const char *name = (const char *)node->name;
    GHashTable *set = NULL;
    gint64 v;

    if (strcmp(name, "arch") == 0) {
        g_free(caps->arch);
        caps->arch = content(node);
    } else if (strcmp(name, "package") == 0) {
        g_free(caps->package);
        caps->package = content(node);
    } else if (strcmp(name, "version") == 0) {
        g_autofree char *text = content(node);

        if (!parse_int64(text, &v) || v < 0 || v > G_MAXUINT)
            return FALSE;
        caps->version = (guint)v;
    } else if (strcmp(name, "kvm") == 0) {
        caps->kvm_available = yes(node, "available");
    } else if (strcmp(name, "tcg") == 0) {
        caps->tcg_available = yes(node, "available");
    } else if (strcmp(name, "sandbox") == 0) {
        caps->sandbox = yes(node, "available");
    } else if (strcmp(name, "machine") == 0) {
        return parse_machine(caps, node);
    } else if (strcmp(name, "command") == 0) {
        set = caps->commands;
    } else if (strcmp(name, "event") == 0) {
        set = caps->events;
    } else if (strcmp(name, "device") == 0) {
        set = caps->devices;
    } else if (strcmp(name, "tcgCpuFeature") == 0) {
        set = caps->tcg_cpu_features;
    } else if (strcmp(name, "cpuFeature") == 0) {
        set = caps->cpu_features;
    } else if (strcmp(name, "tcgCpuModel") == 0) {
        char *model = prop(node, "name");
        char *un = prop(node, "unavailable");

        if (model == NULL || un == NULL) {
            g_free(model);
            g_free(un);
            return FALSE;
        }
        g_hash_table_replace(caps->tcg_cpu_models, model, un);
    } else if (strcmp(name, "audiodev") == 0) {
        set = caps->audiodevs;
    }
    if (set != NULL) {
        char *item = prop(node, "name");

        if (item == NULL)
            return FALSE;
        g_hash_table_add(set, item);
    }
    return TRUE;
}

static gboolean
parse_root(VbQemuCaps *caps, xmlNode *root)
{
    g_autofree char *size = prop(root, "size");
    g_autofree char *mtime = prop(root, "mtime");

    caps->tcg_available = TRUE; /* written by every version; assumed if absent */
    caps->binary = prop(root, "binary");
    if (caps->binary == NULL || !parse_int64(size, &caps->size) ||
        !parse_int64(mtime, &caps->mtime))
        return FALSE;
    for (xmlNode *n = root->children; n != NULL; n = n->next) {
        if (n->type == XML_ELEMENT_NODE && !parse_child(caps, n))
            return FALSE;
    }
    return caps->arch != NULL;
}

/**
 * vb_qemu_caps_from_xml:
 * @xml: a <qemuCaps> element as written by vb_qemu_caps_to_xml()
 *
 * Any thread.
 *
 * Returns: (transfer full): the caps, or NULL with VB_ERROR_INVALID_XML.
 */
VbQemuCaps *
vb_qemu_caps_from_xml(const char *xml, GError **error)
{
    g_autoptr(VbQemuCaps) caps = vb_qemu_caps_new();
    xmlDoc *doc;
    xmlNode *root;
    gboolean ok;

    g_return_val_if_fail(xml != NULL, NULL);
    doc = xmlReadMemory(xml, (int)MIN(strlen(xml), (gsize)G_MAXINT), "qemuCaps.xml", NULL,
                        XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    root = doc != NULL ? xmlDocGetRootElement(doc) : NULL;
    ok = root != NULL && strcmp((const char *)root->name, "qemuCaps") == 0 &&
         parse_root(caps, root);
    if (doc != NULL)
        xmlFreeDoc(doc);
    if (!ok) {
        g_set_error_literal(error, VB_ERROR, VB_ERROR_INVALID_XML,
                            "invalid QEMU capabilities XML");
        return NULL;
    }
    return g_steal_pointer(&caps);
}
