/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Formatting a domain definition as libvirt does (`virsh dumpxml`): two-space indentation,
 * single quotes, libvirt's element and attribute order. Kept (unmodelled) elements are
 * written back at libvirt's position for their name, or last among their siblings.
 */
#include "config.h"

#include <string.h>

#include "domain-def-priv.h"
#include "vb-error.h"

#define TOP(name) VB_RANK(vb_top_ranks, name)

static void
fmt_memory(GString *buf, const char *name, guint64 kib, const VbExtra *extra)
{
    vb_fmt_indent(buf, 1);
    g_string_append_printf(buf, "<%s unit='KiB'", name);
    vb_fmt_extra_attrs(buf, extra);
    g_string_append_printf(buf, ">%" G_GUINT64_FORMAT "</%s>\n", kib, name);
}

static void
fmt_vcpu(GString *buf, const VbDomainDef *def)
{
    static const char *const order[] = { "placement", "cpuset", "current", NULL };
    g_autofree char *current = NULL;
    const char *modelled[5] = { "placement", NULL, "current", NULL, NULL };

    modelled[1] = def->priv->vcpu_placement != NULL ? def->priv->vcpu_placement : "static";
    if (def->vcpus_current != def->vcpus_max)
        modelled[3] = current = g_strdup_printf("%u", def->vcpus_current);
    vb_fmt_indent(buf, 1);
    g_string_append(buf, "<vcpu");
    vb_fmt_attrs_ordered(buf, order, modelled, &def->priv->vcpu_extra);
    g_string_append_printf(buf, ">%u</vcpu>\n", def->vcpus_max);
}

static void
fmt_loader(GString *buf, const struct _VbDomainDefPrivate *p)
{
    static const char *const order[] = { "readonly", "secure", "type", NULL };
    const char *modelled[] = { "readonly", p->loader_readonly, "type", p->loader_type, NULL };

    if (!p->loader.present)
        return;
    vb_fmt_indent(buf, 2);
    g_string_append(buf, "<loader");
    vb_fmt_attrs_ordered(buf, order, modelled, &p->loader.extra);
    if (p->loader_path == NULL || *p->loader_path == '\0') {
        g_string_append(buf, "/>\n");
        return;
    }
    g_string_append_c(buf, '>');
    vb_xml_escape(buf, p->loader_path, FALSE, FALSE);
    g_string_append(buf, "</loader>\n");
}

static void
fmt_os(GString *buf, const VbDomainDef *def)
{
    const struct _VbDomainDefPrivate *p = def->priv;
    g_autoptr(GString) ch = g_string_new(NULL);
    guint cur = 0;

    vb_fmt_raws_before(ch, &p->os_extra, VB_RANK(vb_os_ranks, "type"), 2, &cur);
    vb_fmt_indent(ch, 2);
    g_string_append(ch, "<type");
    vb_fmt_attr(ch, "arch", p->os_arch);
    vb_fmt_attr(ch, "machine", p->os_machine);
    vb_fmt_extra_attrs(ch, &p->os_type_extra);
    g_string_append_c(ch, '>');
    vb_xml_escape(ch, p->os_type, FALSE, FALSE);
    g_string_append(ch, "</type>\n");
    vb_fmt_raws_before(ch, &p->os_extra, VB_RANK(vb_os_ranks, "loader"), 2, &cur);
    fmt_loader(ch, p);
    vb_fmt_raws_before(ch, &p->os_extra, VB_RANK(vb_os_ranks, "kernel"), 2, &cur);
    vb_fmt_text_elem(ch, 2, "kernel", p->kernel);
    vb_fmt_text_elem(ch, 2, "initrd", p->initrd);
    vb_fmt_text_elem(ch, 2, "cmdline", p->cmdline);
    vb_fmt_raws_before(ch, &p->os_extra, VB_RANK(vb_os_ranks, "boot"), 2, &cur);
    for (guint i = 0; i < p->boot_devs->len; i++) {
        vb_fmt_indent(ch, 2);
        g_string_append(ch, "<boot");
        vb_fmt_attr(ch, "dev", g_ptr_array_index(p->boot_devs, i));
        g_string_append(ch, "/>\n");
    }
    vb_fmt_raws_before(ch, &p->os_extra, G_MAXINT, 2, &cur);
    vb_fmt_indent(buf, 1);
    g_string_append(buf, "<os");
    vb_fmt_extra_attrs(buf, &p->os_extra);
    vb_fmt_close(buf, 1, "os", ch);
}

static void
fmt_features(GString *buf, const VbDomainDef *def)
{
    const struct _VbDomainDefPrivate *p = def->priv;
    g_autoptr(GString) ch = g_string_new(NULL);
    const char *names[] = { "acpi", "apic", "pae" };
    gboolean set[] = { p->acpi, p->apic, p->pae };
    guint cur = 0;

    if (!p->has_features && !p->acpi && !p->apic && !p->pae &&
        p->features_extra.children == NULL)
        return;
    for (guint i = 0; i < G_N_ELEMENTS(names); i++) {
        vb_fmt_raws_before(ch, &p->features_extra, VB_RANK(vb_features_ranks, names[i]), 2,
                           &cur);
        if (set[i]) {
            vb_fmt_indent(ch, 2);
            g_string_append_printf(ch, "<%s/>\n", names[i]);
        }
    }
    vb_fmt_raws_before(ch, &p->features_extra, G_MAXINT, 2, &cur);
    vb_fmt_indent(buf, 1);
    g_string_append(buf, "<features");
    vb_fmt_extra_attrs(buf, &p->features_extra);
    vb_fmt_close(buf, 1, "features", ch);
}

static void
fmt_lifecycle(GString *buf, const VbDomainDef *def)
{
    vb_fmt_text_elem(buf, 1, "on_poweroff", vb_lifecycle_names[def->priv->on_poweroff]);
    vb_fmt_text_elem(buf, 1, "on_reboot", vb_lifecycle_names[def->priv->on_reboot]);
    vb_fmt_text_elem(buf, 1, "on_crash", vb_lifecycle_names[def->priv->on_crash]);
}

static void
fmt_metadata(GString *buf, const VbDomainDef *def)
{
    VbRawElem raw = { 0, (char *)"metadata", def->priv->metadata_xml, 0 };

    if (def->priv->metadata_xml != NULL)
        vb_fmt_raw(buf, &raw, 1);
}

static void
fmt_identity(GString *buf, const VbDomainDef *def, guint *cur)
{
    const VbExtra *rx = &def->priv->root_extra;
    char uuid[37];

    vb_fmt_raws_before(buf, rx, TOP("name"), 1, cur);
    vb_fmt_text_elem(buf, 1, "name", def->name);
    vb_fmt_raws_before(buf, rx, TOP("uuid"), 1, cur);
    vb_uuid_format(def->uuid, uuid);
    vb_fmt_text_elem(buf, 1, "uuid", uuid);
    vb_fmt_raws_before(buf, rx, TOP("title"), 1, cur);
    vb_fmt_text_elem(buf, 1, "title", def->title);
    vb_fmt_raws_before(buf, rx, TOP("description"), 1, cur);
    vb_fmt_text_elem(buf, 1, "description", def->description);
    vb_fmt_raws_before(buf, rx, TOP("metadata"), 1, cur);
    fmt_metadata(buf, def);
}

static void
fmt_resources(GString *buf, const VbDomainDef *def, guint *cur)
{
    const struct _VbDomainDefPrivate *p = def->priv;
    const VbExtra *rx = &p->root_extra;

    vb_fmt_raws_before(buf, rx, TOP("maxMemory"), 1, cur);
    if (p->max_memory_elem.present) {
        vb_fmt_indent(buf, 1);
        g_string_append(buf, "<maxMemory");
        if (p->max_memory_slots > 0)
            g_string_append_printf(buf, " slots='%u'", p->max_memory_slots);
        g_string_append(buf, " unit='KiB'");
        vb_fmt_extra_attrs(buf, &p->max_memory_elem.extra);
        g_string_append_printf(buf, ">%" G_GUINT64_FORMAT "</maxMemory>\n",
                               p->max_memory_limit_kib);
    }
    vb_fmt_raws_before(buf, rx, TOP("memory"), 1, cur);
    fmt_memory(buf, "memory", def->max_memory_kib, &p->memory_extra);
    vb_fmt_raws_before(buf, rx, TOP("currentMemory"), 1, cur);
    fmt_memory(buf, "currentMemory", def->current_memory_kib, &p->current_memory_extra);
    vb_fmt_raws_before(buf, rx, TOP("vcpu"), 1, cur);
    fmt_vcpu(buf, def);
    vb_fmt_raws_before(buf, rx, TOP("iothreads"), 1, cur);
    if (p->iothreads > 0) {
        vb_fmt_indent(buf, 1);
        g_string_append_printf(buf, "<iothreads>%u</iothreads>\n", p->iothreads);
    }
}

static void
fmt_platform(GString *buf, const VbDomainDef *def, guint *cur)
{
    const struct _VbDomainDefPrivate *p = def->priv;
    const VbExtra *rx = &p->root_extra;
    const char *cpu_attrs[] = { "mode", p->cpu_mode, NULL };
    const char *clock_attrs[] = { "offset", p->clock_offset, NULL };

    vb_fmt_raws_before(buf, rx, TOP("os"), 1, cur);
    fmt_os(buf, def);
    vb_fmt_raws_before(buf, rx, TOP("features"), 1, cur);
    fmt_features(buf, def);
    vb_fmt_raws_before(buf, rx, TOP("cpu"), 1, cur);
    vb_fmt_sub_elem(buf, 1, "cpu", &p->cpu, cpu_attrs);
    vb_fmt_raws_before(buf, rx, TOP("clock"), 1, cur);
    vb_fmt_sub_elem(buf, 1, "clock", &p->clock, clock_attrs);
    vb_fmt_raws_before(buf, rx, TOP("on_poweroff"), 1, cur);
    fmt_lifecycle(buf, def);
}

static char *format_def(const VbDomainDef *def, guint format_flags, GError **error);

/**
 * vb_domain_def_format:
 * @def: (nullable): definition; %NULL (a failed vb_domain_def_copy()) is an Internal error
 * @format_flags: #VbDomainDefFormatFlags
 * @error: error
 *
 * Formats @def as libvirt-compatible XML. Without VB_DOMAIN_DEF_FORMAT_SECURE, graphics
 * passwords are left out. VB_DOMAIN_DEF_FORMAT_INACTIVE leaves out the runtime id.
 * VB_DOMAIN_DEF_FORMAT_INACTIVE also leaves out every other runtime-only value
 * (vb_domain_def_clear_runtime()).
 * VB_DOMAIN_DEF_FORMAT_MIGRATABLE leaves out the controllers QEMU machines have built in
 * (see vb_device_is_implicit_controller()). Any thread.
 *
 * Returns: (transfer full): the XML, or %NULL
 */
char *
vb_domain_def_format(const VbDomainDef *def, guint format_flags, GError **error)
{
    if (def == NULL || def->priv == NULL) {
        /* a vb_domain_def_copy() that failed (it logged why): an error, never a crash */
        g_set_error_literal(error, VB_ERROR, VB_ERROR_INTERNAL,
                            "cannot copy the domain definition");
        return NULL;
    }
    if (format_flags & VB_DOMAIN_DEF_FORMAT_INACTIVE) {
        /* the persistent view of a live definition: without its runtime-only values */
        g_autoptr(VbDomainDef) copy = vb_domain_def_copy(def);

        if (copy == NULL) {
            g_set_error_literal(error, VB_ERROR, VB_ERROR_INTERNAL,
                                "cannot copy the domain definition");
            return NULL;
        }
        vb_domain_def_clear_runtime(copy);
        return format_def(copy, format_flags, error);
    }
    return format_def(def, format_flags, error);
}

static char *
format_def(const VbDomainDef *def, guint format_flags, GError **error)
{
    g_autoptr(GString) buf = g_string_new(NULL);
    guint cur = 0;

    if (def->name == NULL) {
        g_set_error_literal(error, VB_ERROR, VB_ERROR_INVALID_ARG, "domain has no name");
        return NULL;
    }
    g_string_append(buf, "<domain");
    vb_fmt_attr(buf, "type", vb_domain_virt_type_to_string(def->virt_type));
    if (def->priv->id >= 0 && !(format_flags & VB_DOMAIN_DEF_FORMAT_INACTIVE))
        g_string_append_printf(buf, " id='%d'", def->priv->id);
    vb_fmt_extra_attrs(buf, &def->priv->root_extra);
    g_string_append(buf, ">\n");
    fmt_identity(buf, def, &cur);
    fmt_resources(buf, def, &cur);
    fmt_platform(buf, def, &cur);
    vb_fmt_raws_before(buf, &def->priv->root_extra, TOP("devices"), 1, &cur);
    vb_domain_def_format_devices(buf, def, format_flags);
    vb_fmt_raws_before(buf, &def->priv->root_extra, G_MAXINT, 1, &cur);
    g_string_append(buf, "</domain>\n");
    return g_string_free(g_steal_pointer(&buf), FALSE);
}
