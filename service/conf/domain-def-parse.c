/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Parsing <domain> XML: the document and the top-level elements (devices elsewhere). */
#include "config.h"

#include <string.h>

#include <libxml/parser.h>

#include "domain-def-priv.h"
#include "vb-error.h"

/* refuse documents larger than this before libxml2 sees them */
#define VB_DOMAIN_XML_MAX_BYTES (10 * 1024 * 1024)
#define VB_VCPUS_MAX 4096

const char *const vb_top_ranks[] = {
    "name", "uuid", "genid", "title", "description", "metadata", "maxMemory", "memory",
    "currentMemory", "blkiotune", "memtune", "memoryBacking", "vcpu", "vcpus", "iothreads",
    "iothreadids", "defaultiothread", "cputune", "numatune", "resource", "sysinfo",
    "bootloader", "bootloader_args", "os", "idmap", "features", "cpu", "clock", "on_poweroff",
    "on_reboot", "on_crash", "on_lockfailure", "pm", "perf", "devices", "seclabel", "keywrap",
    "launchSecurity", NULL
};
const char *const vb_os_ranks[] = {
    "type", "firmware", "loader", "nvram", "kernel", "initrd", "cmdline", "dtb", "acpi", "init",
    "initarg", "initenv", "initdir", "inituser", "initgroup", "boot", "bootmenu", "smbios",
    "bios", NULL
};
const char *const vb_features_ranks[] = {
    "acpi", "apic", "pae", "hap", "viridian", "privnet", "hyperv", "kvm", "xen", "pvspinlock",
    "pmu", "vmport", "gic", "smm", "ioapic", "hpt", "htm", "nested-hv", "msrs", "ccf-assist",
    "cfpc", "sbbc", "ibs", "tcg", "async-teardown", "ras", "ps2", NULL
};
const char *const vb_cpu_ranks[] = {
    "model", "vendor", "topology", "cache", "maxphysaddr", "feature", "numa", NULL
};

static const char *const boot_devs[] = { "hd", "fd", "cdrom", "network", NULL };
static const char *const cpu_modes[] = { "custom", "host-model", "host-passthrough",
                                         "maximum", NULL };
static const char *const clock_offsets[] = { "utc", "localtime", "timezone", "variable",
                                             "absolute", NULL };
static const char *const vcpu_placements[] = { "static", "auto", NULL };

static xmlNode *
find_child(xmlNode *parent, const char *name)
{
    for (xmlNode *c = parent->children; c != NULL; c = c->next) {
        if (vb_xml_is(c, name))
            return c;
    }
    return NULL;
}

static char *
child_text(xmlNode *parent, const char *name)
{
    xmlNode *c = find_child(parent, name);

    return c != NULL ? vb_xml_text(c) : NULL;
}

static gboolean
parse_memory_elem(xmlNode *node, VbExtra *extra, guint64 *out_kib, GError **error)
{
    static const char *const known[] = { "unit", "slots", NULL };
    g_autofree char *unit = vb_xml_prop(node, "unit");
    g_autofree char *text = vb_xml_text(node);
    g_autoptr(GError) local = NULL;

    if (!vb_domain_memory_parse_kib(text, unit, out_kib, &local)) {
        vb_set_error_line(error, VB_ERROR_INVALID_ARG, node, "%s", local->message);
        return FALSE;
    }
    if (*out_kib == 0) {
        vb_set_error_line(error, VB_ERROR_INVALID_ARG, node,
                          "value must be a positive integer, got '%s'", g_strstrip(text));
        return FALSE;
    }
    if (extra != NULL)
        vb_extra_collect(extra, node, known, NULL, NULL);
    return TRUE;
}

static gboolean
parse_memory(VbDomainDef *def, xmlNode *root, GError **error)
{
    struct _VbDomainDefPrivate *p = def->priv;
    xmlNode *mem = find_child(root, "memory");
    xmlNode *cur = find_child(root, "currentMemory");
    xmlNode *max = find_child(root, "maxMemory");

    guint64 numa_kib = 0;

    if (!vb_domain_def_numa_memory_kib(root, &numa_kib, error))
        return FALSE;
    if (mem == NULL && numa_kib == 0) {
        vb_set_error_line(error, VB_ERROR_INVALID_XML, root, "missing <memory> element");
        return FALSE;
    }
    if (mem != NULL && !parse_memory_elem(mem, &p->memory_extra, &def->max_memory_kib, error))
        return FALSE;
    /* libvirt: NUMA cells give the initial memory (virDomainDefPostParseMemory), whatever
     * <memory> says or when it is left out, and <memory> is that plus the memory devices;
     * <currentMemory> above it is lowered to it */
    if (numa_kib > 0)
        def->max_memory_kib = numa_kib + vb_domain_def_hotplug_memory_kib(root);
    def->current_memory_kib = def->max_memory_kib;
    if (cur != NULL) {
        if (!parse_memory_elem(cur, &p->current_memory_extra, &def->current_memory_kib, error))
            return FALSE;
        if (numa_kib > 0 && def->current_memory_kib > def->max_memory_kib)
            def->current_memory_kib = def->max_memory_kib;
        if (def->current_memory_kib > def->max_memory_kib) {
            vb_set_error_line(error, VB_ERROR_INVALID_ARG, cur,
                              "current memory %" G_GUINT64_FORMAT
                              " KiB is larger than memory %" G_GUINT64_FORMAT " KiB",
                              def->current_memory_kib, def->max_memory_kib);
            return FALSE;
        }
    }
    if (max != NULL) {
        g_autofree char *slots = vb_xml_prop(max, "slots");

        p->max_memory_elem.present = TRUE;
        if (!parse_memory_elem(max, &p->max_memory_elem.extra, &p->max_memory_limit_kib, error))
            return FALSE;
        if (slots != NULL &&
            !vb_xml_parse_uint(max, "slots", slots, 255, &p->max_memory_slots, error))
            return FALSE;
    }
    return TRUE;
}

static gboolean
parse_vcpu(VbDomainDef *def, xmlNode *root, GError **error)
{
    static const char *const known[] = { "placement", "current", NULL };
    xmlNode *node = find_child(root, "vcpu");
    g_autofree char *text = NULL;
    g_autofree char *current = NULL;

    def->vcpus_max = def->vcpus_current = 1;
    if (node == NULL)
        return TRUE;
    text = vb_xml_text(node);
    current = vb_xml_prop(node, "current");
    if (!vb_xml_prop_enum(node, "placement", vcpu_placements, FALSE, &def->priv->vcpu_placement,
                          error) ||
        !vb_xml_parse_uint(node, NULL, text, VB_VCPUS_MAX, &def->vcpus_max, error))
        return FALSE;
    if (def->vcpus_max == 0) {
        vb_set_error_line(error, VB_ERROR_INVALID_ARG, node,
                          "value must be a positive integer, got '%s'", g_strstrip(text));
        return FALSE;
    }
    def->vcpus_current = def->vcpus_max;
    if (current != NULL) {
        if (!vb_xml_parse_uint(node, "current", current, VB_VCPUS_MAX, &def->vcpus_current,
                               error))
            return FALSE;
        if (def->vcpus_current == 0 || def->vcpus_current > def->vcpus_max) {
            vb_set_error_line(error, VB_ERROR_INVALID_ARG, node,
                              "current vcpus %u must be between 1 and the maximum %u",
                              def->vcpus_current, def->vcpus_max);
            return FALSE;
        }
    }
    vb_extra_collect(&def->priv->vcpu_extra, node, known, NULL, NULL);
    return TRUE;
}

static gboolean
parse_loader(struct _VbDomainDefPrivate *p, xmlNode *node, GError **error)
{
    static const char *const known[] = { "readonly", "type", NULL };
    static const char *const yesno[] = { "yes", "no", NULL };
    static const char *const types[] = { "rom", "pflash", NULL };

    p->loader.present = TRUE;
    if (!vb_xml_prop_enum(node, "readonly", yesno, FALSE, &p->loader_readonly, error) ||
        !vb_xml_prop_enum(node, "type", types, FALSE, &p->loader_type, error))
        return FALSE;
    p->loader_path = vb_xml_text(node);
    vb_extra_collect(&p->loader.extra, node, known, NULL, NULL);
    return TRUE;
}

static gboolean
parse_os(VbDomainDef *def, xmlNode *root, GError **error)
{
    static const char *const modelled[] = { "type", "loader", "kernel", "initrd", "cmdline",
                                            "boot", NULL };
    static const char *const type_known[] = { "arch", "machine", NULL };
    /* <boot> may repeat; these may not */
    static const char *const once[] = { "type", "loader", "kernel", "initrd", "cmdline", NULL };
    struct _VbDomainDefPrivate *p = def->priv;
    xmlNode *os = find_child(root, "os");
    xmlNode *type;

    if (os != NULL && !vb_xml_check_unique(os, once, error))
        return FALSE;
    if (os == NULL || (type = find_child(os, "type")) == NULL) {
        vb_set_error_line(error, VB_ERROR_INVALID_XML, os != NULL ? os : root,
                          "missing <os><type> element");
        return FALSE;
    }
    p->os_type = g_strstrip(vb_xml_text(type));
    if (strcmp(p->os_type, "hvm") != 0) {
        vb_set_error_line(error, VB_ERROR_INVALID_ARG, type,
                          "unsupported os type '%s' (expected 'hvm')", p->os_type);
        return FALSE;
    }
    p->os_arch = vb_xml_prop(type, "arch");
    p->os_machine = vb_xml_prop(type, "machine");
    vb_extra_collect(&p->os_type_extra, type, type_known, NULL, NULL);
    for (xmlNode *c = os->children; c != NULL; c = c->next) {
        g_autofree char *dev = NULL;

        if (vb_xml_is(c, "boot")) {
            if (!vb_xml_prop_enum(c, "dev", boot_devs, TRUE, &dev, error))
                return FALSE;
            g_ptr_array_add(p->boot_devs, g_steal_pointer(&dev));
        } else if (vb_xml_is(c, "loader")) {
            if (!parse_loader(p, c, error))
                return FALSE;
        }
    }
    p->kernel = child_text(os, "kernel");
    p->initrd = child_text(os, "initrd");
    p->cmdline = child_text(os, "cmdline");
    vb_extra_collect(&p->os_extra, os, NULL, modelled, vb_os_ranks);
    return TRUE;
}

/* modelled when it carries nothing but layout whitespace; otherwise kept verbatim */
static gboolean
feature_is_plain(xmlNode *c)
{
    if (c->properties != NULL)
        return FALSE;
    for (xmlNode *t = c->children; t != NULL; t = t->next) {
        if (t->type != XML_TEXT_NODE || !xmlIsBlankNode(t))
            return FALSE;
    }
    return TRUE;
}

static gboolean
parse_features(VbDomainDef *def, xmlNode *root, GError **error)
{
    static const char *const once[] = { "acpi", "apic", "pae", NULL };
    struct _VbDomainDefPrivate *p = def->priv;
    xmlNode *node = find_child(root, "features");
    g_autoptr(GPtrArray) modelled = g_ptr_array_new();

    if (node == NULL)
        return TRUE;
    if (!vb_xml_check_unique(node, once, error))
        return FALSE;
    p->has_features = TRUE;
    /* only the plain forms are modelled; <apic eoi='on'/> is kept verbatim (ABI check sees
     * both: features_string() in domain-abi-check.c) */
    for (xmlNode *c = node->children; c != NULL; c = c->next) {
        if (c->type != XML_ELEMENT_NODE || c->ns != NULL || !feature_is_plain(c))
            continue;
        if (vb_xml_is(c, "acpi"))
            p->acpi = TRUE;
        else if (vb_xml_is(c, "apic"))
            p->apic = TRUE;
        else if (vb_xml_is(c, "pae"))
            p->pae = TRUE;
    }
    if (p->acpi)
        g_ptr_array_add(modelled, (gpointer) "acpi");
    if (p->apic)
        g_ptr_array_add(modelled, (gpointer) "apic");
    if (p->pae)
        g_ptr_array_add(modelled, (gpointer) "pae");
    g_ptr_array_add(modelled, NULL);
    vb_extra_collect(&p->features_extra, node, NULL, (const char *const *)modelled->pdata,
                     vb_features_ranks);
    return TRUE;
}

static gboolean
parse_cpu_clock(VbDomainDef *def, xmlNode *root, GError **error)
{
    static const char *const cpu_known[] = { "mode", NULL };
    static const char *const clock_known[] = { "offset", NULL };
    struct _VbDomainDefPrivate *p = def->priv;
    xmlNode *cpu = find_child(root, "cpu");
    xmlNode *clock = find_child(root, "clock");

    if (cpu != NULL) {
        p->cpu.present = TRUE;
        if (!vb_xml_prop_enum(cpu, "mode", cpu_modes, FALSE, &p->cpu_mode, error))
            return FALSE;
        vb_extra_collect(&p->cpu.extra, cpu, cpu_known, NULL, vb_cpu_ranks);
    }
    if (clock != NULL) {
        p->clock.present = TRUE;
        if (!vb_xml_prop_enum(clock, "offset", clock_offsets, FALSE, &p->clock_offset, error))
            return FALSE;
        vb_extra_collect(&p->clock.extra, clock, clock_known, NULL, NULL);
    }
    return TRUE;
}

static gboolean
parse_lifecycle(xmlNode *root, const char *name, VbLifecycleAction *out, GError **error)
{
    xmlNode *node = find_child(root, name);
    g_autofree char *text = NULL;
    int v;

    if (node == NULL)
        return TRUE;
    text = g_strstrip(vb_xml_text(node));
    v = vb_enum_from_string(vb_lifecycle_names, text);
    if (v < 0) {
        g_autofree char *list = g_strjoinv(", ", (char **)vb_lifecycle_names);
        vb_set_error_line(error, VB_ERROR_INVALID_ARG, node,
                          "invalid value '%s' (expected one of: %s)", text, list);
        return FALSE;
    }
    *out = v;
    return TRUE;
}

static gboolean
parse_identity(VbDomainDef *def, xmlNode *root, GError **error)
{
    xmlNode *name = find_child(root, "name");
    xmlNode *uuid = find_child(root, "uuid");
    xmlNode *metadata = find_child(root, "metadata");
    g_autoptr(GError) local = NULL;

    if (name == NULL) {
        vb_set_error_line(error, VB_ERROR_INVALID_XML, root, "missing <name> element");
        return FALSE;
    }
    def->name = vb_xml_text(name);
    if (!vb_domain_def_name_validate(def->name, &local)) {
        vb_set_error_line(error, VB_ERROR_INVALID_ARG, name, "%s", local->message);
        return FALSE;
    }
    if (uuid != NULL) {
        g_autofree char *text = vb_xml_text(uuid);
        if (!vb_uuid_parse(text, def->uuid)) {
            vb_set_error_line(error, VB_ERROR_INVALID_ARG, uuid, "malformed uuid '%s'", text);
            return FALSE;
        }
    } else {
        vb_uuid_generate(def->uuid);
    }
    def->title = child_text(root, "title");
    def->description = child_text(root, "description");
    if (metadata != NULL) {
        VbRawElem *raw = vb_raw_elem_new(metadata, 0);
        def->priv->metadata_xml = g_steal_pointer(&raw->xml);
        vb_raw_elem_free(raw);
    }
    return TRUE;
}

static gboolean
parse_root(VbDomainDef *def, xmlNode *root, guint flags, GError **error)
{
    static const char *const virt_types[] = { "qemu", "kvm", NULL };
    static const char *const root_known[] = { "type", "id", NULL };
    static const char *const modelled[] = {
        "name", "uuid", "title", "description", "metadata", "maxMemory", "memory",
        "currentMemory", "vcpu", "iothreads", "os", "features", "cpu", "clock", "on_poweroff",
        "on_reboot", "on_crash", "devices", NULL
    };
    g_autofree char *type = NULL;
    g_autofree char *id = NULL;
    g_autofree char *iothreads = NULL;
    static const char *const resource_elems[] = { "memoryBacking", "iothreadids", "vcpus",
                                                  "defaultiothread", "cputune", "memtune",
                                                  "numatune", "blkiotune", "resource", NULL };
    xmlNode *devices;

    /* libvirt's other domain types: valid XML for hypervisors virtbus does not drive */
    static const char *const other_types[] = { "none", "kqemu", "xen", "lxc", "uml", "openvz",
                                               "test", "vmware", "hyperv", "vbox", "phyp",
                                               "parallels", "bhyve", "vz", "hvf", NULL };

    type = vb_xml_prop(root, "type");
    if (type != NULL && g_strv_contains(other_types, type)) {
        vb_set_error_line(error, VB_ERROR_NOT_SUPPORTED, root,
                          "domain type '%s' is not supported: virtbus runs QEMU with TCG "
                          "(type='qemu') or KVM (type='kvm')", type);
        return FALSE;
    }
    g_clear_pointer(&type, g_free);
    if (!vb_xml_prop_enum(root, "type", virt_types, TRUE, &type, error) ||
        !vb_xml_check_unique(root, modelled, error))
        return FALSE;
    def->virt_type = vb_domain_virt_type_from_string(type);
    id = vb_xml_prop(root, "id");
    if (id != NULL && !(flags & VB_DOMAIN_DEF_PARSE_INACTIVE)) {
        guint v;
        if (!vb_xml_parse_uint(root, "id", id, G_MAXINT, &v, error))
            return FALSE;
        def->priv->id = v;
    }
    vb_extra_collect(&def->priv->root_extra, root, root_known, modelled, vb_top_ranks);
    if (!parse_identity(def, root, error) || !parse_memory(def, root, error) ||
        !parse_vcpu(def, root, error))
        return FALSE;
    iothreads = child_text(root, "iothreads");
    if (iothreads != NULL &&
        !vb_xml_parse_uint(find_child(root, "iothreads"), NULL, iothreads, 1024,
                           &def->priv->iothreads, error))
        return FALSE;
    if (!parse_os(def, root, error))
        return FALSE;
    if (!parse_features(def, root, error) || !parse_cpu_clock(def, root, error) ||
        !parse_lifecycle(root, "on_poweroff", &def->priv->on_poweroff, error) ||
        !parse_lifecycle(root, "on_reboot", &def->priv->on_reboot, error) ||
        !parse_lifecycle(root, "on_crash", &def->priv->on_crash, error))
        return FALSE;
    if (!vb_domain_def_parse_resources(def, root, error))
        return FALSE;
    devices = find_child(root, "devices");
    if (devices != NULL && !vb_domain_def_parse_devices(def, devices, error))
        return FALSE;
    for (guint i = 0; def->priv->root_extra.children != NULL &&
                      i < def->priv->root_extra.children->len; i++) {
        VbRawElem *raw = g_ptr_array_index(def->priv->root_extra.children, i);

        /* kept verbatim but read (domain-def-cpu.c): what of them is not acted on is
         * listed by the command-line builder, element by element */
        if (g_strv_contains(resource_elems, raw->name))
            continue;
        g_ptr_array_add(def->unknown_elements, g_strdup(raw->name));
    }
    return vb_domain_def_validate(def, error);
}

static xmlDoc *
read_doc(const char *xml, GError **error)
{
    return vb_xml_read_memory(xml, VB_DOMAIN_XML_MAX_BYTES, "domain XML", "XML", "domain.xml",
                              error);
}

/*
 * libxml2 keeps namespace URIs as written (character references are not decoded), so we
 * can only write them back unchanged if they need no escaping. Real URIs never do.
 */
static gboolean
check_namespaces(xmlNode *node, GError **error)
{
    for (; node != NULL; node = node->next) {
        if (node->type != XML_ELEMENT_NODE)
            continue;
        for (xmlNs *ns = node->nsDef; ns != NULL; ns = ns->next) {
            const char *href = (const char *)ns->href;
            if (href == NULL || strpbrk(href, "&<>'\"\t\r\n") != NULL) {
                vb_set_error_line(error, VB_ERROR_INVALID_XML, node,
                                  "invalid namespace URI '%s'", href ? href : "");
                return FALSE;
            }
        }
        if (!check_namespaces(node->children, error))
            return FALSE;
    }
    return TRUE;
}

/* libxml2 keeps no line for the DTD node: find it in the text */
static guint
line_of(const char *xml, const char *needle)
{
    const char *end = strstr(xml, needle);
    guint line = 1;

    for (const char *p = xml; end != NULL && p < end; p++)
        line += *p == '\n';
    return line;
}

/**
 * vb_domain_def_parse_string:
 * @xml: domain XML (libvirt compatible)
 * @parse_flags: #VbDomainDefParseFlags
 * @error: error: VB_ERROR_INVALID_XML for malformed or incomplete XML, VB_ERROR_INVALID_ARG
 *     for bad values; messages name the line and element
 *
 * Parses and validates a domain definition. Elements that are not modelled are kept
 * verbatim and their names listed in ->unknown_elements. Any thread.
 *
 * Returns: (transfer full): the definition, or %NULL
 */
VbDomainDef *
vb_domain_def_parse_string(const char *xml, guint parse_flags, GError **error)
{
    g_autoptr(VbDomainDef) def = NULL;
    xmlDoc *doc;
    xmlNode *root;
    gboolean ok;

    g_return_val_if_fail(xml != NULL, NULL);
    doc = read_doc(xml, error);
    if (doc == NULL)
        return NULL;
    root = xmlDocGetRootElement(doc);
    if (doc->intSubset != NULL || doc->extSubset != NULL) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_XML,
                    "line %u: DOCTYPE declarations are not allowed in domain XML",
                    line_of(xml, "<!DOCTYPE"));
        xmlFreeDoc(doc);
        return NULL;
    }
    if (root == NULL || !vb_xml_is(root, "domain")) {
        vb_set_error_line(error, VB_ERROR_INVALID_XML, root,
                          "root element must be <domain>");
        xmlFreeDoc(doc);
        return NULL;
    }
    if (!check_namespaces(root, error)) {
        xmlFreeDoc(doc);
        return NULL;
    }
    def = vb_domain_def_new();
    ok = parse_root(def, root, parse_flags, error);
    xmlFreeDoc(doc);
    /* a persistent config holds no runtime-only value (libvirt's PARSE_INACTIVE) */
    if (ok && (parse_flags & VB_DOMAIN_DEF_PARSE_INACTIVE))
        vb_domain_def_clear_runtime(def);
    return ok ? g_steal_pointer(&def) : NULL;
}
