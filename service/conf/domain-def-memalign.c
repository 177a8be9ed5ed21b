/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The memory sizes of a definition aligned for a new start, as libvirt's
 * qemuDomainAlignMemorySizes() does before it builds a command line: QEMU rounds -m up to
 * whole 8 KiB blocks but wants the NUMA nodes to add up to it exactly, so a definition with
 * cells of 109550 KiB did not start ("total memory for NUMA nodes (0xd5f7000) should equal RAM
 * size (0xd5f8000)"). The live definition shows the aligned sizes, as libvirt's does; the
 * persistent one keeps what the user wrote.
 */
#include "config.h"

#include <string.h>

#include <libxml/parser.h>
#include <libxml/tree.h>

#include "domain-def-cpu.h"
#include "domain-def-priv.h"
#include "vb-error.h"

#define ALIGN_KIB        1024 /* NUMA cells, the initial memory, <maxMemory> (x86) */
#define ALIGN_MODULE_KIB 2048 /* memory devices: dimms want 2 MiB */

/* vb_xml_child() that takes a missing parent */
static xmlNode *
child(xmlNode *parent, const char *name)
{
    return parent != NULL ? vb_xml_child(parent, name) : NULL;
}

static guint64
round_up(guint64 kib, guint64 align)
{
    return (kib + align - 1) / align * align;
}

/* the KiB of a value with an optional unit attribute, rounded up to @align; 0 if it does not
 * parse (the parser already refused such a definition) */
static guint64
aligned(const char *value, const char *unit, guint64 align, gboolean *changed)
{
    guint64 kib = 0;

    if (value == NULL || !vb_domain_memory_parse_kib(value, unit, &kib, NULL))
        return 0;
    if (kib % align != 0)
        *changed = TRUE;
    return round_up(kib, align);
}

static void
set_kib(xmlNode *node, const char *attr, guint64 kib)
{
    g_autofree char *v = g_strdup_printf("%" G_GUINT64_FORMAT, kib);

    if (attr != NULL)
        xmlSetProp(node, (const xmlChar *)attr, (const xmlChar *)v);
    else
        xmlNodeSetContent(node, (const xmlChar *)v);
    xmlSetProp(node, (const xmlChar *)"unit", (const xmlChar *)"KiB");
}

/* rounds the NUMA cells; Returns: their new sum (0 without cells) */
static guint64
align_cells(xmlNode *root, gboolean *changed)
{
    xmlNode *numa = child(child(root, "cpu"), "numa");
    guint64 sum = 0;

    for (xmlNode *n = numa != NULL ? numa->children : NULL; n != NULL; n = n->next) {
        g_autofree char *mem = NULL;
        g_autofree char *unit = NULL;
        guint64 kib;

        if (!vb_xml_is(n, "cell"))
            continue;
        mem = vb_xml_prop(n, "memory");
        unit = vb_xml_prop(n, "unit");
        kib = aligned(mem, unit, ALIGN_KIB, changed);
        set_kib(n, "memory", kib);
        sum += kib;
    }
    return sum;
}

/* rounds the memory devices' <target><size>; Returns: their sums before and after */
static void
align_modules(xmlNode *root, guint64 *out_before, guint64 *out_after, gboolean *changed)
{
    xmlNode *devices = child(root, "devices");

    *out_before = vb_domain_def_hotplug_memory_kib(root);
    *out_after = 0;
    for (xmlNode *n = devices != NULL ? devices->children : NULL; n != NULL; n = n->next) {
        xmlNode *size = vb_xml_is(n, "memory") ? child(child(n, "target"), "size") : NULL;
        g_autofree char *text = NULL;
        g_autofree char *unit = NULL;
        guint64 kib;

        if (size == NULL)
            continue;
        text = vb_xml_text(size);
        unit = vb_xml_prop(size, "unit");
        kib = aligned(text != NULL ? g_strstrip(text) : NULL, unit, ALIGN_MODULE_KIB, changed);
        set_kib(size, NULL, kib);
        *out_after += kib;
    }
}

/**
 * vb_domain_def_with_aligned_memory:
 * @def: the definition a new start runs (not a restore or an incoming migration: their sizes
 *   are the ones the saved state has)
 * @error: error
 *
 * libvirt's alignment for x86: each NUMA cell up to 1 MiB and the initial memory as their sum
 * (without cells: the initial memory up to 1 MiB), each memory device up to 2 MiB,
 * <maxMemory> up to 1 MiB; <memory> becomes the initial memory plus the devices, and so does
 * a <currentMemory> that was <memory> (libvirt keeps it and balloons the guest by the
 * difference).
 *
 * Returns: (transfer full) (nullable): the aligned definition, or %NULL when nothing changes
 *   (no error) or with an error
 */
VbDomainDef *
vb_domain_def_with_aligned_memory(const VbDomainDef *def, GError **error)
{
    g_autofree char *xml = NULL;
    xmlDoc *doc;
    xmlNode *root, *memory, *max;
    xmlChar *out = NULL;
    int len = 0;
    gboolean changed = FALSE;
    guint64 cells, modules_before, modules_after, initial;
    VbDomainDef *copy;

    xml = vb_domain_def_format(def, VB_DOMAIN_DEF_FORMAT_SECURE, error);
    if (xml == NULL)
        return NULL;
    doc = xmlReadMemory(xml, (int)strlen(xml), "domain.xml", NULL, XML_PARSE_NONET);
    root = doc != NULL ? xmlDocGetRootElement(doc) : NULL;
    memory = root != NULL ? vb_xml_child(root, "memory") : NULL;
    if (memory == NULL) {
        xmlFreeDoc(doc);
        g_set_error(error, VB_ERROR, VB_ERROR_FAILED, "cannot read back the definition");
        return NULL;
    }
    cells = align_cells(root, &changed);
    align_modules(root, &modules_before, &modules_after, &changed);
    initial = cells;
    if (initial == 0) {
        guint64 total = def->max_memory_kib;

        initial = round_up(total > modules_before ? total - modules_before : 0, ALIGN_KIB);
        if (initial + modules_before != total)
            changed = TRUE;
    }
    max = vb_xml_child(root, "maxMemory");
    if (max != NULL) {
        g_autofree char *text = vb_xml_text(max);
        g_autofree char *unit = vb_xml_prop(max, "unit");

        set_kib(max, NULL, aligned(text != NULL ? g_strstrip(text) : NULL, unit, ALIGN_KIB,
                                   &changed));
    }
    if (!changed || initial + modules_after > VB_DOMAIN_MEMORY_MAX_KIB) {
        xmlFreeDoc(doc);
        if (changed)
            g_set_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
                        "the memory size overflows when aligned to whole MiB");
        return NULL;
    }
    set_kib(memory, NULL, initial + modules_after);
    /* a guest without a balloon target keeps none (libvirt would balloon the difference) */
    if (def->current_memory_kib == def->max_memory_kib && child(root, "currentMemory") != NULL)
        set_kib(child(root, "currentMemory"), NULL, initial + modules_after);
    xmlDocDumpMemory(doc, &out, &len);
    xmlFreeDoc(doc);
    copy = vb_domain_def_parse_string((const char *)out, 0, error);
    xmlFree(out);
    return copy;
}
