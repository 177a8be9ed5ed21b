/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * CPU, memory, NUMA and iothread options (issue 10, part cpu), in libvirt 9.0's shapes for
 * QEMU 7.2 (qemuBuildCpuCommandLine, qemuBuildMemCommandLine, qemuBuildSmpCommandLine,
 * qemuBuildIOThreadCommandLine, qemuBuildNumaCommandLine):
 *
 *   -cpu MODEL[,vendor=..][,feat=on|off...]
 *   -m size=Nk[,slots=S,maxmem=Mk]
 *   -object memory-backend-*,id=pc.ram   (only when <memoryBacking> needs a backend and
 *                                         there are no NUMA cells; -machine memory-backend=)
 *   -overcommit mem-lock=on              (only with <locked/>)
 *   -smp N[,maxcpus=M],sockets=S[,dies=D],cores=C,threads=T
 *   -object iothread,id=iothreadN ...
 *   -object memory-backend-*,id=ram-nodeN + -numa node,nodeid=N,cpus=..,memdev=ram-nodeN
 *   -numa dist,src=,dst=,val=
 *
 * What the definition asks and QEMU cannot give is refused with NotSupported before QEMU
 * runs; what needs the confinement work (cgroups) is listed with vb_qemu_cmd_ignore().
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <libxml/tree.h>

#include "qemu-command-priv.h"
#include "vb-error.h"

#define RES(c) vb_domain_def_get_resources((c)->def)

/* libvirt's feature names that QEMU spells differently (virQEMUCapsCPUFeaturesX86) */
static const char *const feature_names[][2] = {
    {"cmp_legacy", "cmp-legacy"},       {"ds_cpl", "ds-cpl"},
    {"fxsr_opt", "fxsr-opt"},           {"kvm_pv_eoi", "kvm-pv-eoi"},
    {"kvm_pv_unhalt", "kvm-pv-unhalt"}, {"lahf_lm", "lahf-lm"},
    {"nodeid_msr", "nodeid-msr"},       {"pclmuldq", "pclmulqdq"},
    {"perfctr_core", "perfctr-core"},   {"perfctr_nb", "perfctr-nb"},
    {"tsc_adjust", "tsc-adjust"},
};

static const char *
qemu_feature_name(const char *name)
{
    for (guint i = 0; i < G_N_ELEMENTS(feature_names); i++) {
        if (strcmp(feature_names[i][0], name) == 0)
            return feature_names[i][1];
    }
    return name;
}

static gboolean cpu_error(const VbQemuCmd *c, GError **error, int line, const char *fmt, ...)
    G_GNUC_PRINTF(4, 5);

/* NotSupported naming <cpu> (or one of its children) by the caller's line at define */
static gboolean
cpu_error(const VbQemuCmd *c, GError **error, int line, const char *fmt, ...)
{
    g_autofree char *msg = NULL;
    va_list ap;

    va_start(ap, fmt);
    msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    if (c->check_only && line > 0)
        g_set_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED, "line %d: %s", line, msg);
    else
        g_set_error_literal(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED, msg);
    return FALSE;
}

/* whether the caps know what TCG gives (probed with query-cpu-definitions) */
static gboolean
tcg_cpu_known(const VbQemuCmd *c)
{
    return c->def->virt_type != VB_DOMAIN_VIRT_KVM && c->caps->tcg_cpu_models != NULL &&
           g_hash_table_size(c->caps->tcg_cpu_models) > 0;
}

/* A named model under TCG: QEMU must know it, and unless check='none' TCG must provide
 * every feature the model has (QEMU would silently drop them: "TCG doesn't support
 * requested feature"). */
static gboolean
check_tcg_model(const VbQemuCmd *c, const VbDomainCpuDef *cpu, GError **error)
{
    const char *missing;

    if (!tcg_cpu_known(c))
        return TRUE;
    if (!g_hash_table_lookup_extended(c->caps->tcg_cpu_models, cpu->model, NULL,
                                      (gpointer *)&missing))
        return cpu_error(c, error, cpu->line,
                         "<cpu>: CPU model '%s' is not known to %s (see '%s -cpu help')",
                         cpu->model, c->caps->binary, c->caps->binary);
    if (missing == NULL || *missing == '\0' || g_strcmp0(cpu->check, "none") == 0)
        return TRUE;
    /* features the definition turns off do not count */
    {
        g_auto(GStrv) names = g_strsplit(missing, " ", -1);
        g_autoptr(GString) left = g_string_new(NULL);

        for (guint i = 0; names[i] != NULL; i++) {
            gboolean off = FALSE;

            for (guint k = 0; k < cpu->features->len; k++) {
                const VbCpuFeature *f = g_ptr_array_index(cpu->features, k);

                if (strcmp(qemu_feature_name(f->name), names[i]) == 0 &&
                    (g_str_equal(f->policy, "disable") || g_str_equal(f->policy, "forbid") ||
                     g_str_equal(f->policy, "optional")))
                    off = TRUE;
            }
            if (!off && *names[i] != '\0')
                g_string_append_printf(left, "%s%s", left->len ? ", " : "", names[i]);
        }
        if (left->len == 0)
            return TRUE;
        return cpu_error(c, error, cpu->line,
                         "<cpu>: CPU model '%s' needs features TCG cannot provide: %s; turn "
                         "them off with <feature policy='disable'>, pick another model, or "
                         "set check='none' to run without them",
                         cpu->model, left->str);
    }
}

/* A feature this QEMU does not know is off anyway: libvirt drops a disabled one
 * (qemuProcessDropUnknownCPUFeatures); libvirt's migratable XML of an Icelake-Server guest
 * disables 'pconfig', which QEMU 7.2 no longer has ("Property '...pconfig' not found").
 * Unknown caps (an older cache, the golden tests' caps): every feature is known. */
static gboolean
feature_known(const VbQemuCmd *c, const char *name)
{
    return c->caps->cpu_features == NULL || g_hash_table_size(c->caps->cpu_features) == 0 ||
           g_hash_table_contains(c->caps->cpu_features, name);
}

static gboolean
append_features(VbQemuCmd *c, const VbDomainCpuDef *cpu, GString *arg, GError **error)
{
    for (guint i = 0; i < cpu->features->len; i++) {
        const VbCpuFeature *f = g_ptr_array_index(cpu->features, i);
        const char *name = qemu_feature_name(f->name);

        if (g_str_equal(f->policy, "require") && tcg_cpu_known(c) &&
            c->caps->tcg_cpu_features != NULL && g_hash_table_size(c->caps->tcg_cpu_features) > 0 &&
            !g_hash_table_contains(c->caps->tcg_cpu_features, name) &&
            g_strcmp0(cpu->check, "none") != 0)
            return cpu_error(c, error, f->line,
                             "<feature policy='require' name='%s'>: TCG cannot provide this "
                             "CPU feature; use policy='optional' or 'disable', or KVM",
                             f->name);
        if (g_str_equal(f->policy, "require") || g_str_equal(f->policy, "force"))
            g_string_append_printf(arg, ",%s=on", name);
        else if ((g_str_equal(f->policy, "disable") || g_str_equal(f->policy, "forbid")) &&
                 feature_known(c, name))
            g_string_append_printf(arg, ",%s=off", name);
    }
    return TRUE;
}

/* the Hyper-V enlightenments in libvirt's order (virDomainHyperv) */
static const char *const hv_names[] = {
    "relaxed",     "vapic",           "spinlocks", "vpindex", "runtime",
    "synic",       "stimer",          "reset",     "vendor_id", "frequencies",
    "reenlightenment", "tlbflush",    "ipi",       "evmcs",   "avic",
};

static gboolean hv_error(const VbQemuCmd *c, GError **error, int code, int line, const char *fmt,
                         ...) G_GNUC_PRINTF(5, 6);

static gboolean
hv_error(const VbQemuCmd *c, GError **error, int code, int line, const char *fmt, ...)
{
    g_autofree char *msg = NULL;
    va_list ap;

    va_start(ap, fmt);
    msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    if (c->check_only && line > 0)
        g_set_error(error, VB_ERROR, code, "line %d: %s", line, msg);
    else
        g_set_error_literal(error, VB_ERROR, code, msg);
    return FALSE;
}

/* an attribute as a g_free()-able string */
static char *
prop(xmlNode *n, const char *name)
{
    xmlChar *v = xmlGetProp(n, (const xmlChar *)name);
    char *r = g_strdup((const char *)v);

    xmlFree(v);
    return r;
}

/* an on/off state='' (required, as libvirt's virXMLPropTristateSwitch) */
static gboolean
hv_state(const VbQemuCmd *c, xmlNode *n, const char *where, int line, gboolean *out_on,
         GError **error)
{
    g_autofree char *state = prop(n, "state");

    if (state == NULL)
        return hv_error(c, error, VB_ERROR_INVALID_XML, line,
                        "<%s><%s>: the attribute 'state' is required (on or off)", where,
                        (const char *)n->name);
    if (strcmp(state, "on") != 0 && strcmp(state, "off") != 0)
        return hv_error(c, error, VB_ERROR_INVALID_XML, line,
                        "<%s><%s state='%s'>: state must be 'on' or 'off'", where,
                        (const char *)n->name, state);
    *out_on = g_str_equal(state, "on");
    return TRUE;
}

/*
 * <features><hyperv mode='custom|passthrough'>: the hv-* properties of -cpu, checked as
 * libvirt 9.0 parses them (virDomainFeaturesHyperVDefParse) and written in libvirt's order.
 */
static gboolean
hyperv_flags_root(VbQemuCmd *c, const VbRawElem *raw, xmlNode *root, GString *buf, GError **error)
{
    g_autofree char *mode = NULL;
    int on[G_N_ELEMENTS(hv_names)] = {0};
    g_autofree char *vendor = NULL;
    guint64 retries = 0;
    gboolean direct = FALSE;

    if (root == NULL)
        return hv_error(c, error, VB_ERROR_INVALID_XML, raw->line, "<hyperv> cannot be read");
    mode = prop(root, "mode");
    if (mode != NULL && strcmp(mode, "custom") != 0 && strcmp(mode, "passthrough") != 0)
        return hv_error(c, error, VB_ERROR_INVALID_XML, raw->line,
                        "<hyperv mode='%s'>: mode must be 'custom' or 'passthrough'", mode);
    if (g_strcmp0(mode, "passthrough") == 0) {
        if (c->def->virt_type != VB_DOMAIN_VIRT_KVM)
            return hv_error(c, error, VB_ERROR_NOT_SUPPORTED, raw->line,
                            "<hyperv mode='passthrough'> passes the host's Hyper-V "
                            "enlightenments through and needs KVM (<domain type='kvm'>); use "
                            "mode='custom' with the enlightenments listed");
        g_string_append(buf, ",hv-passthrough=on");
    }
    for (xmlNode *n = root->children; n != NULL; n = n->next) {
        gboolean state = FALSE;
        guint k;

        if (n->type != XML_ELEMENT_NODE)
            continue;
        for (k = 0; k < G_N_ELEMENTS(hv_names); k++) {
            if (strcmp((const char *)n->name, hv_names[k]) == 0)
                break;
        }
        if (k == G_N_ELEMENTS(hv_names))
            return hv_error(c, error, VB_ERROR_NOT_SUPPORTED, raw->line,
                            "<hyperv><%s>: unsupported Hyper-V enlightenment", n->name);
        if (!hv_state(c, n, "hyperv", raw->line, &state, error))
            return FALSE;
        on[k] = state;
        if (!state)
            continue;
        /* QEMU 7.2 sets the VP index through KVM only: under TCG the vCPU reset fails
         * ("kernel doesn't allow setting HyperV VP_INDEX") and QEMU exits */
        if (g_str_equal(hv_names[k], "vpindex") && c->def->virt_type != VB_DOMAIN_VIRT_KVM)
            return hv_error(c, error, VB_ERROR_NOT_SUPPORTED, raw->line,
                            "<hyperv><vpindex state='on'> needs KVM (<domain type='kvm'>): "
                            "QEMU sets the virtual processor index only through KVM; use "
                            "state='off' under TCG");
        if (g_str_equal(hv_names[k], "stimer")) {
            direct = FALSE;
            for (xmlNode *d = n->children; d != NULL; d = d->next) {
                if (d->type != XML_ELEMENT_NODE)
                    continue;
                if (strcmp((const char *)d->name, "direct") != 0)
                    return hv_error(c, error, VB_ERROR_NOT_SUPPORTED, raw->line,
                                    "<hyperv><stimer><%s>: unsupported Hyper-V stimer feature",
                                    d->name);
                if (!hv_state(c, d, "stimer", raw->line, &direct, error))
                    return FALSE;
            }
        } else if (g_str_equal(hv_names[k], "spinlocks")) {
            g_autofree char *r = prop(n, "retries");

            if (r == NULL || !g_ascii_string_to_unsigned(r, 10, 0, G_MAXUINT, &retries, NULL))
                return hv_error(c, error, VB_ERROR_INVALID_XML, raw->line,
                                "<hyperv><spinlocks state='on'> needs retries='N' (a number, "
                                "at least 4095)");
            if (retries < 0xfff)
                return hv_error(c, error, VB_ERROR_INVALID_XML, raw->line,
                                "<hyperv><spinlocks retries='%s'>: the retry count must be at "
                                "least 4095",
                                r);
        } else if (g_str_equal(hv_names[k], "vendor_id")) {
            g_free(vendor);
            vendor = prop(n, "value");
            if (vendor == NULL)
                return hv_error(c, error, VB_ERROR_INVALID_XML, raw->line,
                                "<hyperv><vendor_id state='on'> needs value='...'");
            if (strlen(vendor) > 12)
                return hv_error(c, error, VB_ERROR_INVALID_XML, raw->line,
                                "<hyperv><vendor_id value='%s'>: at most 12 characters", vendor);
            if (strchr(vendor, ',') != NULL)
                return hv_error(c, error, VB_ERROR_INVALID_XML, raw->line,
                                "<hyperv><vendor_id value='%s'>: a comma cannot be passed to "
                                "QEMU",
                                vendor);
        }
    }
    for (guint k = 0; k < G_N_ELEMENTS(hv_names); k++) {
        if (!on[k])
            continue;
        if (g_str_equal(hv_names[k], "spinlocks"))
            g_string_append_printf(buf, ",hv-spinlocks=0x%" G_GINT64_MODIFIER "x", retries);
        else if (g_str_equal(hv_names[k], "vendor_id"))
            g_string_append_printf(buf, ",hv-vendor-id=%s", vendor);
        else
            g_string_append_printf(buf, ",hv-%s=on", hv_names[k]);
        if (g_str_equal(hv_names[k], "stimer") && direct)
            g_string_append(buf, ",hv-stimer-direct=on");
    }
    return TRUE;
}

/* <features><kvm>: <hidden state='on'/> hides KVM's signature (kvm=off) */
static gboolean
kvm_flags_root(VbQemuCmd *c, const VbRawElem *raw, xmlNode *root, GString *buf, GError **error)
{
    gboolean hidden = FALSE;

    if (root == NULL)
        return hv_error(c, error, VB_ERROR_INVALID_XML, raw->line, "<kvm> cannot be read");
    for (xmlNode *n = root->children; n != NULL; n = n->next) {
        if (n->type != XML_ELEMENT_NODE)
            continue;
        if (strcmp((const char *)n->name, "hidden") != 0)
            return hv_error(c, error, VB_ERROR_NOT_SUPPORTED, raw->line,
                            "<features><kvm><%s> is not supported (only <hidden>)", n->name);
        if (!hv_state(c, n, "kvm", raw->line, &hidden, error))
            return FALSE;
    }
    if (hidden)
        g_string_append(buf, ",kvm=off");
    return TRUE;
}

static gboolean
raw_flags(VbQemuCmd *c, const VbRawElem *raw, GString *buf, GError **error)
{
    xmlDoc *doc = vb_raw_elem_parse(raw);
    xmlNode *root = doc != NULL ? xmlDocGetRootElement(doc) : NULL;
    gboolean ok = strcmp(raw->name, "hyperv") == 0 ? hyperv_flags_root(c, raw, root, buf, error)
                                                   : kvm_flags_root(c, raw, root, buf, error);

    if (doc != NULL)
        xmlFreeDoc(doc);
    return ok;
}

/**
 * vb_qemu_cmd_cpu_feature_flag:
 * @raw: a kept child of <features>
 * @out_prop: (out) (optional): the -cpu property it sets
 * @out_on: (out) (optional): its value
 *
 * <pmu state>, <pvspinlock state> and <apic eoi>: -cpu properties (libvirt's pmu=,
 * kvm-pv-unhalt= and kvm-pv-eoi=).
 *
 * Returns: whether @raw is one of them, with 'on' or 'off' and no children
 */
gboolean
vb_qemu_cmd_cpu_feature_flag(const VbRawElem *raw, const char **out_prop, gboolean *out_on)
{
    static const char *const map[][3] = { { "pmu", "state", "pmu" },
                                          { "pvspinlock", "state", "kvm-pv-unhalt" },
                                          { "apic", "eoi", "kvm-pv-eoi" } };

    for (guint i = 0; i < G_N_ELEMENTS(map); i++) {
        g_autofree char *v = NULL;

        if (strcmp(raw->name, map[i][0]) != 0 || strstr(raw->xml, "/>") == NULL ||
            strchr(strchr(raw->xml, '>') + 1, '<') != NULL)
            continue;
        v = vb_raw_elem_get_attr(raw, map[i][1]);
        if (g_strcmp0(v, "on") != 0 && g_strcmp0(v, "off") != 0)
            return FALSE;
        if (out_prop != NULL)
            *out_prop = map[i][2];
        if (out_on != NULL)
            *out_on = g_str_equal(v, "on");
        return TRUE;
    }
    return FALSE;
}

/* <features> children that set -cpu properties, of @name, in document order */
static void
feature_flags(const VbQemuCmd *c, const char *name, GString *buf)
{
    GPtrArray *feats = c->def->priv->features_extra.children;

    for (guint i = 0; feats != NULL && i < feats->len; i++) {
        const VbRawElem *raw = g_ptr_array_index(feats, i);
        const char *prop;
        gboolean on;

        if (strcmp(raw->name, name) == 0 && vb_qemu_cmd_cpu_feature_flag(raw, &prop, &on))
            g_string_append_printf(buf, ",%s=%s", prop, on ? "on" : "off");
    }
}

/*
 * The properties libvirt appends to -cpu after the model (qemuBuildCpuCommandLine), in its
 * order: <timer name='kvmclock' present> (kvmclock), <timer name='hypervclock'
 * present='yes'/> (hv-time), <apic eoi>, <pvspinlock>, <hyperv>, <kvm>, <pmu>.
 */
static gboolean
cpu_flags(VbQemuCmd *c, GString *buf, GError **error)
{
    const struct _VbDomainDefPrivate *p = c->def->priv;
    GPtrArray *timers = p->clock.extra.children;
    GPtrArray *feats = p->features_extra.children;

    for (guint i = 0; timers != NULL && i < timers->len; i++) {
        const VbRawElem *raw = g_ptr_array_index(timers, i);
        g_autofree char *name = vb_raw_elem_get_attr(raw, "name");
        g_autofree char *present = vb_raw_elem_get_attr(raw, "present");

        if (strcmp(raw->name, "timer") == 0 && g_strcmp0(name, "hypervclock") == 0 &&
            g_strcmp0(present, "yes") == 0)
            g_string_append(buf, ",hv-time=on");
        else if (strcmp(raw->name, "timer") == 0 && g_strcmp0(name, "kvmclock") == 0 &&
                 present != NULL)
            g_string_append_printf(buf, ",kvmclock=%s", g_str_equal(present, "yes") ? "on"
                                                                                  : "off");
    }
    feature_flags(c, "apic", buf);
    feature_flags(c, "pvspinlock", buf);
    for (guint i = 0; feats != NULL && i < feats->len; i++) {
        const VbRawElem *raw = g_ptr_array_index(feats, i);

        if (strcmp(raw->name, "hyperv") == 0 && !raw_flags(c, raw, buf, error))
            return FALSE;
    }
    for (guint i = 0; feats != NULL && i < feats->len; i++) {
        const VbRawElem *raw = g_ptr_array_index(feats, i);

        if (strcmp(raw->name, "kvm") == 0 && !raw_flags(c, raw, buf, error))
            return FALSE;
    }
    feature_flags(c, "pmu", buf);
    return TRUE;
}

/* -cpu with only the flags: QEMU's default model as libvirt names it */
static gboolean
add_default_cpu(VbQemuCmd *c, const GString *flags)
{
    const char *arch = c->def->priv->os_arch;

    if (flags->len > 0)
        vb_qemu_cmd_addf(c, "-cpu", "%s%s",
                         g_strcmp0(arch, "i686") == 0 ? "qemu32" : "qemu64", flags->str);
    return TRUE;
}

static void
ignore_cpu_rest(VbQemuCmd *c, const VbDomainCpuDef *cpu)
{
    for (guint i = 0; i < cpu->not_acted_on->len; i++)
        vb_qemu_cmd_ignore(c, NULL, "cpu", cpu->line, "child %s is not acted on",
                           (const char *)g_ptr_array_index(cpu->not_acted_on, i));
    if (cpu->vendor != NULL)
        vb_qemu_cmd_ignore(c, NULL, "vendor", cpu->vendor_line,
                           "the vendor '%s' is not checked against the CPU model", cpu->vendor);
    for (guint i = 0; i < cpu->cells->len; i++) {
        const VbNumaCell *cell = g_ptr_array_index(cpu->cells, i);

        if (cell->not_acted_on != NULL)
            vb_qemu_cmd_ignore(c, NULL, "cell", cell->line, "%s of NUMA cell %u is not acted on",
                               cell->not_acted_on, cell->id);
    }
}

/**
 * vb_qemu_cmd_build_cpu:
 *
 * -cpu from <cpu>: mode, model, vendor_id, features, check.
 */
gboolean
vb_qemu_cmd_build_cpu(VbQemuCmd *c, GError **error)
{
    const VbDomainCpuDef *cpu = &RES(c)->cpu;
    const char *mode = cpu->mode != NULL ? cpu->mode : "custom";
    gboolean kvm = c->def->virt_type == VB_DOMAIN_VIRT_KVM;
    g_autoptr(GString) arg = g_string_new(NULL);
    g_autoptr(GString) flags = g_string_new(NULL);

    if (!cpu_flags(c, flags, error))
        return FALSE;
    if (!cpu->present)
        return add_default_cpu(c, flags); /* QEMU's default CPU model (qemu64) */
    ignore_cpu_rest(c, cpu);
    if (g_str_equal(mode, "host-passthrough")) {
        if (!kvm)
            return cpu_error(c, error, cpu->line,
                             "<cpu mode='host-passthrough'> is not supported without KVM; use "
                             "mode='maximum' or a named model with mode='custom'");
        g_string_append(arg, "host");
    } else if (g_str_equal(mode, "maximum")) {
        g_string_append(arg, "max");
    } else if (g_str_equal(mode, "host-model")) {
        /* KVM: the host's CPU as KVM can give it; TCG: everything TCG can emulate, which
         * is what TCG's host-model is made of (libvirt expands QEMU's "max" under TCG) */
        g_string_append(arg, kvm ? "host" : "max");
    } else if (cpu->model != NULL) {
        if (!check_tcg_model(c, cpu, error))
            return FALSE;
        g_string_append(arg, cpu->model);
    } else {
        if (cpu->features->len > 0)
            return cpu_error(c, error, cpu->line,
                             "<cpu>: CPU features need a <model> in mode 'custom'");
        return add_default_cpu(c, flags); /* only topology or NUMA: QEMU's default model */
    }
    if (cpu->migratable != NULL &&
        (g_str_equal(mode, "host-passthrough") || g_str_equal(mode, "maximum")))
        g_string_append_printf(arg, ",migratable=%s", cpu->migratable);
    if (cpu->vendor_id != NULL) {
        g_autofree char *vendor = vb_qemu_cmd_escape(cpu->vendor_id);

        g_string_append_printf(arg, ",vendor=%s", vendor);
    }
    if (!append_features(c, cpu, arg, error))
        return FALSE;
    /* check='full': the CPU must be exactly as asked, QEMU refuses to start otherwise */
    if (g_strcmp0(cpu->check, "full") == 0)
        g_string_append(arg, ",enforce=on");
    g_string_append(arg, flags->str);
    vb_qemu_cmd_addf(c, "-cpu", "%s", arg->str);
    return TRUE;
}

/* the hugetlbfs mount for pages of @size_kib (0: the default size) */
static const VbHugetlbfs *
find_hugetlbfs(const VbQemuCmd *c, guint64 size_kib)
{
    const GPtrArray *mounts = c->params->hugetlbfs;

    for (guint i = 0; mounts != NULL && i < mounts->len; i++) {
        const VbHugetlbfs *m = g_ptr_array_index(mounts, i);

        if (size_kib == 0 ? m->is_default : m->size_kib == size_kib)
            return m;
    }
    if (size_kib == 0 && mounts != NULL && mounts->len > 0)
        return g_ptr_array_index(mounts, 0);
    return NULL;
}

static gboolean
node_in_set(const char *nodeset, guint node)
{
    g_autoptr(GArray) nodes = NULL;

    if (!vb_cpuset_parse(nodeset, 16383, &nodes, NULL))
        return FALSE;
    for (guint i = 0; i < nodes->len; i++) {
        if (g_array_index(nodes, guint, i) == node)
            return TRUE;
    }
    return FALSE;
}

/* qemuBuildMemoryGetPagesize: the huge page size for NUMA cell @node (-1: all memory);
 * 0 with *out_use: the default huge page size */
static guint64
hugepage_size(const VbMemoryBacking *b, int node, gboolean *out_use)
{
    const VbHugePage *master = NULL;

    *out_use = b->hugepages;
    if (!b->hugepages || b->pages->len == 0)
        return 0;
    for (guint i = 0; i < b->pages->len; i++) {
        const VbHugePage *p = g_ptr_array_index(b->pages, i);

        if (p->nodeset == NULL)
            master = p;
        else if (node >= 0 && node_in_set(p->nodeset, (guint)node))
            return p->size_kib;
    }
    *out_use = master != NULL;
    return master != NULL ? master->size_kib : 0;
}

/* what a memory device (a dimm) sets on its own backend; NULL for cells and pc.ram */
typedef struct {
    const VbDeviceDef *dev;
    const char *alias;    /* dimmN: the file name of a file backend */
    const char *access;   /* access='shared|private' */
    const char *discard;  /* discard='yes|no' */
    guint64 pagesize_kib; /* <source><pagesize> */
    GArray *nodemask;     /* <source><nodemask>: host NUMA nodes (guint) */
} MemDev;

/* the <numatune> mode of guest cell @node (<memnode cellid mode>, else <memory mode>) */
static char *
numatune_mode(const VbQemuCmd *c, guint node)
{
    GPtrArray *raws = c->def->priv->root_extra.children;
    char *mode = NULL;

    for (guint i = 0; raws != NULL && i < raws->len; i++) {
        const VbRawElem *raw = g_ptr_array_index(raws, i);
        xmlDoc *doc;

        if (strcmp(raw->name, "numatune") != 0 || (doc = vb_raw_elem_parse(raw)) == NULL)
            continue;
        for (xmlNode *n = xmlDocGetRootElement(doc)->children; n != NULL; n = n->next) {
            g_autofree char *cell = NULL;

            if (vb_xml_is(n, "memnode") && (cell = vb_xml_prop(n, "cellid")) != NULL &&
                g_ascii_strtoull(cell, NULL, 10) == node && g_ascii_isdigit(*cell)) {
                g_free(mode);
                mode = vb_xml_prop(n, "mode");
                break;
            }
            if (vb_xml_is(n, "memory") && mode == NULL)
                mode = vb_xml_prop(n, "mode");
        }
        xmlFreeDoc(doc);
    }
    return mode;
}

/* "host-nodes" and "policy" of a dimm's <source><nodemask> (libvirt's, after the size) */
static gboolean
host_nodes(VbQemuCmd *c, const MemDev *md, GString *j, guint node, GError **error)
{
    g_autofree char *mode = numatune_mode(c, node);
    g_autoptr(GString) list = g_string_new("[");
    const char *policy;

    for (guint i = 0; i < md->nodemask->len; i++) {
        guint n = g_array_index(md->nodemask, guint, i);
        g_autofree char *sys = g_strdup_printf("/sys/devices/system/node/node%u", n);

        /* libvirt's virNumaNodesetIsAvailable */
        if (n != 0 && !g_file_test(sys, G_FILE_TEST_IS_DIR))
            return vb_qemu_cmd_unsupported(c, error, md->dev, "NUMA node %u is unavailable",
                                           n);
        g_string_append_printf(list, "%s%u", i > 0 ? "," : "", n);
    }
    g_string_append_c(list, ']');
    if (mode == NULL || strcmp(mode, "strict") == 0)
        policy = "bind";
    else if (strcmp(mode, "preferred") == 0 || strcmp(mode, "interleave") == 0)
        policy = mode;
    else /* restrictive: the system's default policy (libvirt leaves both out) */
        return TRUE;
    g_string_append_printf(j, ",\"host-nodes\":%s", list->str); /* after "size" */
    vb_json_str(j, "policy", policy);
    return TRUE;
}

/*
 * One memory backend (libvirt's qemuBuildMemoryBackendProps): @node is the NUMA cell, or -1
 * for the machine's RAM ("pc.ram"). Returns the JSON, or NULL with @error.
 */
static GString *
memory_backend(VbQemuCmd *c, const char *id, int node, guint64 size_kib, const MemDev *md,
               GError **error)
{
    const VbDomainResources *r = RES(c);
    const VbMemoryBacking *b = &r->backing;
    const VbNumaCell *cell = node >= 0 && (guint)node < r->cpu.cells->len
                                 ? g_ptr_array_index(r->cpu.cells, node)
                                 : NULL;
    const char *access =
        md != NULL && md->access != NULL ? md->access
        : cell != NULL && cell->mem_access != NULL ? cell->mem_access
                                                    : b->access_mode;
    gboolean discard = md != NULL && md->discard != NULL ? g_str_equal(md->discard, "yes")
                       : cell != NULL && cell->discard != NULL
                           ? g_str_equal(cell->discard, "yes")
                           : b->discard;
    gboolean discard_set = (md != NULL && md->discard != NULL) ||
                           (cell != NULL && cell->discard != NULL) || b->discard;
    gboolean use_huge = FALSE;
    guint64 page_kib = md != NULL && md->pagesize_kib != 0 ? md->pagesize_kib
                                                            : hugepage_size(b, node, &use_huge);
    gboolean prealloc = g_strcmp0(b->alloc_mode, "immediate") == 0;
    const VbHugetlbfs *mount = NULL;
    GString *j = vb_json_new();
    const char *type;

    if (md != NULL && md->pagesize_kib != 0)
        use_huge = TRUE;
    if (page_kib == 4) /* the system page size: as if no huge pages were asked */
        use_huge = FALSE;
    if (use_huge) {
        mount = find_hugetlbfs(c, page_kib);
        if (mount == NULL && md != NULL && md->pagesize_kib != 0) {
            g_string_free(j, TRUE);
            return vb_qemu_cmd_unsupported(c, error, md->dev, "<memory><source><pagesize> "
                                           "%" G_GUINT64_FORMAT " KiB: no hugetlbfs with pages "
                                           "of that size is mounted on this host",
                                           page_kib),
                   NULL;
        }
        if (mount == NULL) {
            g_string_free(j, TRUE);
            if (page_kib != 0)
                return cpu_error(c, error, b->line,
                                 "<memoryBacking><hugepages>: no hugetlbfs with %" G_GUINT64_FORMAT
                                 " KiB pages is mounted on this host",
                                 page_kib),
                       NULL;
            return cpu_error(c, error, b->line,
                             "<memoryBacking><hugepages>: no hugetlbfs is mounted on this host "
                             "(mount one, e.g. on /dev/hugepages, and reserve pages)"),
                   NULL;
        }
        page_kib = mount->size_kib;
        prealloc = TRUE;
    }
    if (g_strcmp0(b->source_type, "memfd") == 0) {
        type = "memory-backend-memfd";
        vb_json_str(j, "qom-type", type);
        vb_json_str(j, "id", id);
        if (use_huge) {
            vb_json_bool(j, "hugetlb", TRUE);
            vb_json_int(j, "hugetlbsize", (gint64)page_kib << 10);
        }
        if (access != NULL)
            vb_json_bool(j, "share", g_str_equal(access, "shared"));
        if (node < 0)
            vb_json_bool(j, "x-use-canonical-path-for-ramblock-id", FALSE);
    } else if (use_huge || access != NULL || g_strcmp0(b->source_type, "file") == 0) {
        /* a dimm's file is named by its alias, as libvirt's qemuGetMemoryBackingPath */
        g_autofree char *path =
            use_huge ? g_strdup(mount->path)
                     : g_build_filename(c->params->runtime_dir, md != NULL ? md->alias : id,
                                        NULL);

        type = "memory-backend-file";
        vb_json_str(j, "qom-type", type);
        vb_json_str(j, "id", id);
        vb_json_str(j, "mem-path", path);
        if (discard_set)
            vb_json_bool(j, "discard-data", discard);
        if (access != NULL)
            vb_json_bool(j, "share", g_str_equal(access, "shared"));
        if (node < 0)
            vb_json_bool(j, "x-use-canonical-path-for-ramblock-id", FALSE);
    } else {
        type = "memory-backend-ram";
        vb_json_str(j, "qom-type", type);
        vb_json_str(j, "id", id);
    }
    if (prealloc) {
        vb_json_bool(j, "prealloc", TRUE);
        if (b->alloc_threads > 0)
            vb_json_int(j, "prealloc-threads", b->alloc_threads);
    }
    vb_json_int(j, "size", (gint64)(size_kib * 1024));
    if (md != NULL && md->nodemask != NULL && !host_nodes(c, md, j, (guint)MAX(node, 0), error)) {
        g_string_free(j, TRUE);
        return NULL;
    }
    return j;
}

/* whether the machine's RAM needs its own backend object (no NUMA cells) */
static gboolean
needs_ram_backend(const VbQemuCmd *c)
{
    const VbDomainResources *r = RES(c);
    const VbMemoryBacking *b = &r->backing;

    return r->cpu.cells->len == 0 &&
           (b->hugepages || b->source_type != NULL || b->access_mode != NULL ||
            g_strcmp0(b->alloc_mode, "immediate") == 0 || b->discard);
}

/**
 * vb_qemu_cmd_memory_is_shared:
 *
 * Whether all guest RAM is in shared, fd-backed memory that a vhost-user process
 * (virtiofsd) can map: <memoryBacking> memfd or file (or huge pages) with
 * <access mode='shared'/>, or every NUMA cell with memAccess='shared' (libvirt's rule).
 */
gboolean
vb_qemu_cmd_memory_is_shared(const VbQemuCmd *c)
{
    const VbDomainResources *r = RES(c);
    const VbMemoryBacking *b = &r->backing;
    gboolean fd_backed = b->hugepages || g_strcmp0(b->source_type, "memfd") == 0 ||
                         g_strcmp0(b->source_type, "file") == 0;

    if (r->cpu.cells->len == 0)
        return g_strcmp0(b->access_mode, "shared") == 0 &&
               (fd_backed || b->source_type == NULL);
    for (guint i = 0; i < r->cpu.cells->len; i++) {
        const VbNumaCell *cell = g_ptr_array_index(r->cpu.cells, i);
        const char *access = cell->mem_access != NULL ? cell->mem_access : b->access_mode;

        if (g_strcmp0(access, "shared") != 0 || g_strcmp0(b->source_type, "anonymous") == 0)
            return FALSE;
    }
    return TRUE;
}

/**
 * vb_qemu_cmd_machine_memory_opts:
 * @opts: the -machine value so far
 *
 * Appends ",mem-merge=off" (<nosharepages/>).
 */
void
vb_qemu_cmd_machine_memory_opts(VbQemuCmd *c, GString *opts)
{
    if (RES(c)->backing.nosharepages)
        g_string_append(opts, ",mem-merge=off");
}

/**
 * vb_qemu_cmd_machine_memory_backend:
 * @opts: the -machine value so far
 *
 * Appends ",memory-backend=pc.ram" when the RAM has its own backend object.
 */
void
vb_qemu_cmd_machine_memory_backend(VbQemuCmd *c, GString *opts)
{
    if (needs_ram_backend(c))
        g_string_append(opts, ",memory-backend=pc.ram");
}

static guint64 dimms_kib(const VbQemuCmd *c);

static gboolean
build_mem(VbQemuCmd *c, GError **error)
{
    const VbDomainDef *def = c->def;
    const struct _VbDomainDefPrivate *p = def->priv;
    const VbMemoryBacking *b = &RES(c)->backing;

    /* the initial memory: the dimms are added as devices (libvirt's
     * virDomainDefGetMemoryInitial) */
    guint64 dimms = dimms_kib(c);
    guint64 initial = dimms < def->max_memory_kib ? def->max_memory_kib - dimms
                                                  : def->max_memory_kib;

    if (p->max_memory_elem.present && p->max_memory_slots > 0)
        vb_qemu_cmd_addf(c, "-m",
                         "size=%" G_GUINT64_FORMAT "k,slots=%u,maxmem=%" G_GUINT64_FORMAT "k",
                         initial, p->max_memory_slots, p->max_memory_limit_kib);
    else
        vb_qemu_cmd_addf(c, "-m", "size=%" G_GUINT64_FORMAT "k", def->max_memory_kib);
    if (needs_ram_backend(c)) {
        GString *j = memory_backend(c, "pc.ram", -1, def->max_memory_kib, NULL, error);

        if (j == NULL)
            return FALSE;
        vb_qemu_cmd_add_json(c, "-object", j);
    }
    if (b->locked)
        vb_qemu_cmd_addf(c, "-overcommit", "mem-lock=on");
    if (b->present)
        vb_qemu_cmd_consume(c, "memoryBacking");
    return TRUE;
}

/* The vCPUs QEMU starts are 0..current-1; <vcpus> may only say that. */
static gboolean
check_vcpus(VbQemuCmd *c, GError **error)
{
    const VbDomainResources *r = RES(c);
    gboolean hotpluggable = FALSE;

    if (r->vcpus_enabled == NULL)
        return TRUE;
    vb_qemu_cmd_consume(c, "vcpus");
    for (guint i = 0; i < r->vcpus_enabled->len; i++) {
        gboolean en = g_array_index(r->vcpus_enabled, gboolean, i);

        if (en != (i < c->def->vcpus_current))
            return cpu_error(c, error, r->vcpus_line,
                             "<vcpus>: enabled vCPUs other than the first %u (vCPU %u is %s) "
                             "are not supported",
                             c->def->vcpus_current, i, en ? "enabled" : "disabled");
        if (en && g_array_index(r->vcpus_hotpluggable, gboolean, i))
            hotpluggable = TRUE;
    }
    if (hotpluggable)
        vb_qemu_cmd_ignore(c, NULL, "vcpus", r->vcpus_line,
                           "enabled hotpluggable vCPUs start as boot vCPUs (they cannot be "
                           "unplugged)");
    return TRUE;
}

static gboolean
build_smp(VbQemuCmd *c, GError **error)
{
    const VbDomainDef *def = c->def;
    const VbDomainCpuDef *cpu = &RES(c)->cpu;
    g_autoptr(GString) s = g_string_new(NULL);

    if (!check_vcpus(c, error))
        return FALSE;
    g_string_append_printf(s, "%u", def->vcpus_current);
    if (def->vcpus_current != def->vcpus_max)
        g_string_append_printf(s, ",maxcpus=%u", def->vcpus_max);
    if (cpu->has_topology)
        g_string_append_printf(s, ",sockets=%u,dies=%u,cores=%u,threads=%u", cpu->sockets,
                               cpu->dies, cpu->cores, cpu->threads);
    else
        g_string_append_printf(s, ",sockets=%u,cores=1,threads=1", def->vcpus_max);
    vb_qemu_cmd_addf(c, "-smp", "%s", s->str);
    return TRUE;
}

static void
build_iothreads(VbQemuCmd *c)
{
    const VbDomainResources *r = RES(c);
    GPtrArray *raws = c->def->priv->root_extra.children;

    for (guint i = 0; i < r->iothreadids->len; i++) {
        const VbIOThreadId *io = g_ptr_array_index(r->iothreadids, i);
        g_autofree char *id = g_strdup_printf("iothread%u", io->id);
        GString *j = vb_json_new();

        vb_json_str(j, "qom-type", "iothread");
        vb_json_str(j, "id", id);
        if (io->pool_min >= 0)
            vb_json_int(j, "thread-pool-min", io->pool_min);
        if (io->pool_max >= 0)
            vb_json_int(j, "thread-pool-max", io->pool_max);
        vb_qemu_cmd_add_json(c, "-object", j);
    }
    vb_qemu_cmd_consume(c, "iothreadids");
    /* issue 13, part vcpuio: <perf> events are opened on QEMU after it started
     * (domain-perf.c), nothing on the command line */
    vb_qemu_cmd_consume(c, "perf");
    for (guint i = 0; raws != NULL && i < raws->len; i++) {
        const VbRawElem *raw = g_ptr_array_index(raws, i);
        g_autofree char *min = NULL;
        g_autofree char *max = NULL;
        GString *j;

        if (strcmp(raw->name, "defaultiothread") != 0)
            continue;
        min = vb_raw_elem_get_attr(raw, "thread_pool_min");
        max = vb_raw_elem_get_attr(raw, "thread_pool_max");
        j = vb_json_new();
        vb_json_str(j, "qom-type", "main-loop");
        vb_json_str(j, "id", "main-loop");
        if (min != NULL)
            vb_json_int(j, "thread-pool-min", g_ascii_strtoll(min, NULL, 10));
        if (max != NULL)
            vb_json_int(j, "thread-pool-max", g_ascii_strtoll(max, NULL, 10));
        vb_qemu_cmd_add_json(c, "-object", j);
        vb_qemu_cmd_consume(c, "defaultiothread");
    }
}

static gboolean
build_numa(VbQemuCmd *c, GError **error)
{
    const GPtrArray *cells = RES(c)->cpu.cells;

    for (guint i = 0; i < cells->len; i++) {
        const VbNumaCell *cell = g_ptr_array_index(cells, i);
        g_autofree char *id = g_strdup_printf("ram-node%u", i);
        g_autoptr(GString) node = g_string_new(NULL);
        GString *j = memory_backend(c, id, (int)i, cell->memory_kib, NULL, error);

        if (j == NULL)
            return FALSE;
        vb_qemu_cmd_add_json(c, "-object", j);
        g_string_append_printf(node, "node,nodeid=%u", i);
        /* one cpus= per range, as libvirt writes them */
        for (guint k = 0; cell->cpu_list != NULL && k < cell->cpu_list->len;) {
            guint a = g_array_index(cell->cpu_list, guint, k);
            guint e = k;

            while (e + 1 < cell->cpu_list->len && g_array_index(cell->cpu_list, guint, e + 1) ==
                                                      g_array_index(cell->cpu_list, guint, e) + 1)
                e++;
            if (e > k)
                g_string_append_printf(node, ",cpus=%u-%u", a,
                                       g_array_index(cell->cpu_list, guint, e));
            else
                g_string_append_printf(node, ",cpus=%u", a);
            k = e + 1;
        }
        g_string_append_printf(node, ",memdev=%s", id);
        vb_qemu_cmd_addf(c, "-numa", "%s", node->str);
    }
    for (guint i = 0; i < cells->len; i++) {
        const VbNumaCell *cell = g_ptr_array_index(cells, i);

        for (guint k = 0; cell->distances != NULL && k < cell->distances->len; k++) {
            const VbNumaDistance *d = &g_array_index(cell->distances, VbNumaDistance, k);

            vb_qemu_cmd_addf(c, "-numa", "dist,src=%u,dst=%u,val=%u", cell->id, d->id, d->value);
        }
    }
    return TRUE;
}

static void
ignore_tuning(VbQemuCmd *c)
{
    const VbDomainResources *r = RES(c);

    for (guint i = 0; i < r->not_acted_on->len; i++) {
        const VbNotActedOn *n = g_ptr_array_index(r->not_acted_on, i);

        vb_qemu_cmd_ignore(c, NULL, n->elem, n->line, "%s", n->why);
    }
    /* pinning is applied after QEMU starts (domain-process.c); the rest is listed above */
    vb_qemu_cmd_consume(c, "cputune");
    vb_qemu_cmd_consume(c, "memtune");
    vb_qemu_cmd_consume(c, "numatune");
    vb_qemu_cmd_consume(c, "blkiotune");
    /* issue 14, part cgroup: these and <resource> are the cgroup's (domain-cgroup.c) */
    vb_qemu_cmd_consume(c, "resource");
}

/**
 * vb_qemu_cmd_build_cpu_memory:
 *
 * -m, the RAM backend, -overcommit, -smp, iothreads and NUMA nodes, in libvirt's order.
 */
gboolean
vb_qemu_cmd_build_cpu_memory(VbQemuCmd *c, GError **error)
{
    if (!build_mem(c, error) || !build_smp(c, error))
        return FALSE;
    build_iothreads(c);
    if (!build_numa(c, error))
        return FALSE;
    ignore_tuning(c);
    return TRUE;
}

/* ---- memory devices (issue 13, part memev): <memory model='dimm'> at start ---- */

typedef struct {
    guint64 size_kib;
    guint node;
    int slot; /* -1: none given */
    guint64 base;
    gboolean has_base;
    char alias[32]; /* a written <alias name='dimmN'/> (a live definition), or "" */
    char access[8]; /* access='shared|private', or "" */
    char discard[4]; /* discard='yes|no', or "" */
    guint64 pagesize_kib; /* <source><pagesize>, or 0 */
    GArray *nodemask;     /* (nullable) <source><nodemask> */
} Dimm;

static void
dimm_clear(gpointer p)
{
    Dimm *d = p;

    g_clear_pointer(&d->nodemask, g_array_unref);
}

static gboolean
is_memory_device(const VbDeviceDef *dev)
{
    return dev->kind == VB_DEV_UNKNOWN && strcmp(dev->raw->name, "memory") == 0;
}

static gboolean
parse_hex_or_dec(const char *s, guint64 *out)
{
    char *end = NULL;

    if (s == NULL || *s == '\0' || *s == '-')
        return FALSE;
    errno = 0;
    *out = g_ascii_strtoull(s, &end, 0);
    return errno == 0 && end != NULL && *end == '\0';
}

/* <target><size unit> and <node>, <address type='dimm' slot base>; the rest is refused */
static gboolean
parse_dimm(const VbQemuCmd *c, const VbDeviceDef *dev, Dimm *d, GError **error)
{
    xmlDoc *doc = vb_raw_elem_parse(dev->raw);
    xmlNode *root = doc != NULL ? xmlDocGetRootElement(doc) : NULL;
    g_autofree char *model = root != NULL ? vb_xml_prop(root, "model") : NULL;
    gboolean ok = FALSE, have_size = FALSE;

    d->size_kib = 0;
    d->node = 0;
    d->slot = -1;
    d->has_base = FALSE;
    d->alias[0] = '\0';
    d->access[0] = '\0';
    d->discard[0] = '\0';
    d->pagesize_kib = 0;
    d->nodemask = NULL;
    if (root == NULL) {
        vb_qemu_cmd_unsupported(c, error, dev, "the <memory> device cannot be read");
        goto out;
    }
    if (g_strcmp0(model, "dimm") != 0) {
        vb_qemu_cmd_unsupported(c, error, dev, "memory device model '%s' is not supported "
                                "(only 'dimm')", model != NULL ? model : "");
        goto out;
    }
    for (xmlAttr *a = root->properties; a != NULL; a = a->next) {
        const char *name = (const char *)a->name;
        g_autofree char *v = vb_xml_prop(root, name);

        if (strcmp(name, "access") == 0 && (g_strcmp0(v, "shared") == 0 ||
                                             g_strcmp0(v, "private") == 0)) {
            g_strlcpy(d->access, v, sizeof(d->access));
        } else if (strcmp(name, "discard") == 0 && (g_strcmp0(v, "yes") == 0 ||
                                                    g_strcmp0(v, "no") == 0)) {
            g_strlcpy(d->discard, v, sizeof(d->discard));
        } else if (strcmp(name, "access") == 0 || strcmp(name, "discard") == 0) {
            g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                        "<memory %s='%s'>: expected %s", name, v != NULL ? v : "",
                        name[0] == 'a' ? "shared or private" : "yes or no");
            goto out;
        } else if (strcmp(name, "model") != 0) {
            vb_qemu_cmd_unsupported(c, error, dev, "<memory %s=...> is not supported", name);
            goto out;
        }
    }
    for (xmlNode *n = root->children; n != NULL; n = n->next) {
        if (n->type != XML_ELEMENT_NODE)
            continue;
        if (vb_xml_is(n, "alias")) {
            g_autofree char *name = vb_xml_prop(n, "name");
            guint idx;
            char end;

            /* the name a running domain gave it (a restore, an incoming migration) */
            if (name != NULL && sscanf(name, "dimm%u%c", &idx, &end) == 1)
                g_snprintf(d->alias, sizeof(d->alias), "dimm%u", idx);
            continue;
        }
        if (vb_xml_is(n, "target")) {
            for (xmlNode *t = n->children; t != NULL; t = t->next) {
                g_autofree char *text = NULL;
                g_autofree char *unit = NULL;

                if (t->type != XML_ELEMENT_NODE)
                    continue;
                text = vb_xml_text(t);
                if (vb_xml_is(t, "size")) {
                    unit = vb_xml_prop(t, "unit");
                    if (!vb_domain_memory_parse_kib(text, unit, &d->size_kib, error))
                        goto out;
                    have_size = TRUE;
                } else if (vb_xml_is(t, "node")) {
                    guint64 v;

                    if (!parse_hex_or_dec(g_strstrip(text), &v) || v > G_MAXINT) {
                        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                                    "<memory><target><node> '%s' is not a NUMA node number",
                                    text);
                        goto out;
                    }
                    d->node = (guint)v;
                } else {
                    vb_qemu_cmd_unsupported(c, error, dev, "<memory><target><%s> is not "
                                            "supported for a dimm", (const char *)t->name);
                    goto out;
                }
            }
        } else if (vb_xml_is(n, "source")) {
            for (xmlNode *t = n->children; t != NULL; t = t->next) {
                g_autofree char *text = NULL;
                g_autofree char *unit = NULL;

                if (t->type != XML_ELEMENT_NODE)
                    continue;
                text = vb_xml_text(t);
                if (vb_xml_is(t, "pagesize")) {
                    unit = vb_xml_prop(t, "unit");
                    if (!vb_domain_memory_parse_kib(text, unit, &d->pagesize_kib, error))
                        goto out;
                } else if (vb_xml_is(t, "nodemask")) {
                    g_clear_pointer(&d->nodemask, g_array_unref);
                    if (!vb_cpuset_parse(g_strstrip(text), 1023, &d->nodemask, error))
                        goto out;
                } else {
                    vb_qemu_cmd_unsupported(c, error, dev, "<memory><source><%s> is not "
                                            "supported for a dimm", (const char *)t->name);
                    goto out;
                }
            }
        } else if (vb_xml_is(n, "address")) {
            g_autofree char *type = vb_xml_prop(n, "type");
            g_autofree char *slot = vb_xml_prop(n, "slot");
            g_autofree char *base = vb_xml_prop(n, "base");
            guint64 v;

            if (g_strcmp0(type, "dimm") != 0) {
                g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                            "a dimm's <address> must have type='dimm', not '%s'",
                            type != NULL ? type : "");
                goto out;
            }
            if (slot != NULL) {
                if (!parse_hex_or_dec(slot, &v) || v > 255) {
                    g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                                "dimm address slot '%s' is not a number 0-255", slot);
                    goto out;
                }
                d->slot = (int)v;
            }
            if (base != NULL) {
                if (!parse_hex_or_dec(base, &d->base)) {
                    g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                                "dimm address base '%s' is not a number", base);
                    goto out;
                }
                d->has_base = TRUE;
            }
        } else {
            vb_qemu_cmd_unsupported(c, error, dev, "<memory><%s> is not supported for a dimm",
                                    (const char *)n->name);
            goto out;
        }
    }
    if (!have_size || d->size_kib == 0) {
        g_set_error_literal(error, VB_ERROR, VB_ERROR_INVALID_XML,
                            "a <memory model='dimm'> needs a <target><size> above 0");
        goto out;
    }
    if (d->size_kib % 1024 != 0) {
        vb_qemu_cmd_unsupported(c, error, dev, "a dimm's size must be a multiple of 1 MiB "
                                "(%" G_GUINT64_FORMAT " KiB)", d->size_kib);
        goto out;
    }
    ok = TRUE;
out:
    if (doc != NULL)
        xmlFreeDoc(doc);
    if (!ok)
        dimm_clear(d);
    return ok;
}

/* the sum of the dimms' sizes (what -m size leaves out); sizes that do not parse count 0 */
static guint64
dimms_kib(const VbQemuCmd *c)
{
    GPtrArray *devs = c->def->priv->devices;
    guint64 sum = 0;

    for (guint i = 0; i < devs->len; i++) {
        const VbDeviceDef *dev = g_ptr_array_index(devs, i);
        Dimm d;

        if (is_memory_device(dev) && parse_dimm(c, dev, &d, NULL)) {
            sum += d.size_kib;
            dimm_clear(&d);
        }
    }
    return sum;
}

/* -object memory-backend-* (memdimmN, its own settings over the cell's) + -device pc-dimm */
static gboolean
build_dimm(VbQemuCmd *c, const VbDeviceDef *dev, const Dimm *d, const char *id,
           GError **error)
{
    g_autofree char *mem = g_strconcat("mem", id, NULL);
    MemDev md = {
        .dev = dev,
        .alias = id,
        .access = d->access[0] != '\0' ? d->access : NULL,
        .discard = d->discard[0] != '\0' ? d->discard : NULL,
        .pagesize_kib = d->pagesize_kib,
        .nodemask = d->nodemask,
    };
    GString *j = memory_backend(c, mem, (int)d->node, d->size_kib, &md, error);

    if (j == NULL)
        return FALSE;
    vb_qemu_cmd_add_json(c, "-object", j);
    j = vb_json_new();
    vb_json_str(j, "driver", "pc-dimm");
    vb_json_int(j, "node", d->node);
    vb_json_str(j, "memdev", mem);
    vb_json_str(j, "id", id);
    vb_json_int(j, "slot", d->slot);
    if (d->has_base)
        vb_json_int(j, "addr", (gint64)d->base);
    vb_qemu_cmd_add_json(c, "-device", j);
    vb_qemu_cmd_consume_device(c, dev);
    return TRUE;
}

/**
 * vb_qemu_cmd_build_memdevs:
 *
 * libvirt's qemuBuildMemoryDeviceCommandLine for dimms, after the controllers: per
 * <memory model='dimm'> (alias dimmN, N its position among them) `-object
 * memory-backend-ram` (the cell's backing, id memdimmN, size in bytes) and `-device
 * pc-dimm` with node, memdev, id (a written <alias name='dimmN'/> wins: a restore of a
 * domain with hot-plugged dimms) and slot (the given one, else the first free, as
 * libvirt's qemuDomainAssignMemorySlots) and addr from <address base>. Needs NUMA cells and
 * <maxMemory slots> as libvirt (qemuDomainDefValidateMemoryHotplug).
 */
gboolean
vb_qemu_cmd_build_memdevs(VbQemuCmd *c, GError **error)
{
    const struct _VbDomainDefPrivate *p = c->def->priv;
    GPtrArray *devs = p->devices;
    g_autoptr(GArray) dimms = g_array_new(FALSE, TRUE, sizeof(Dimm));
    g_autoptr(GPtrArray) which = g_ptr_array_new();
    gboolean used[256] = { FALSE };
    guint ncells = RES(c)->cpu.cells->len;

    g_array_set_clear_func(dimms, dimm_clear);

    for (guint i = 0; i < devs->len; i++) {
        const VbDeviceDef *dev = g_ptr_array_index(devs, i);
        Dimm d;

        if (!is_memory_device(dev))
            continue;
        if (!parse_dimm(c, dev, &d, error))
            return FALSE;
        g_array_append_val(dimms, d); /* owns d.nodemask from here */
        if (!p->max_memory_elem.present || p->max_memory_slots == 0)
            return vb_qemu_cmd_unsupported(c, error, dev, "cannot use a memory device when "
                                           "the domain's <maxMemory slots> is not defined");
        if (ncells == 0)
            return vb_qemu_cmd_unsupported(c, error, dev, "At least one numa node has to be "
                                           "configured when enabling memory hotplug "
                                           "(<cpu><numa><cell>)");
        if (d.node >= ncells)
            return vb_qemu_cmd_unsupported(c, error, dev, "can't add memory backend for guest "
                                           "node '%u' as the guest has only '%u' NUMA nodes "
                                           "configured", d.node, ncells);
        if (d.slot >= (int)p->max_memory_slots)
            return vb_qemu_cmd_unsupported(c, error, dev, "memory device slot '%d' exceeds "
                                           "slots count '%u'", d.slot, p->max_memory_slots);
        if (d.slot >= 0 && used[d.slot])
            return vb_qemu_cmd_unsupported(c, error, dev, "memory device slot '%d' is "
                                           "already being used by another memory device",
                                           d.slot);
        if (d.slot >= 0)
            used[d.slot] = TRUE;
        g_ptr_array_add(which, (gpointer)dev);
    }
    if (dimms->len == 0)
        return TRUE;
    if (dimms->len > p->max_memory_slots)
        return vb_qemu_cmd_unsupported(c, error, g_ptr_array_index(which, 0),
                                       "memory device count '%u' exceeds slots count '%u'",
                                       dimms->len, p->max_memory_slots);
    if (c->def->max_memory_kib > p->max_memory_limit_kib)
        return vb_qemu_cmd_unsupported(c, error, g_ptr_array_index(which, 0),
                                       "the total memory %" G_GUINT64_FORMAT " KiB (NUMA cells "
                                       "and memory devices) exceeds <maxMemory> %" G_GUINT64_FORMAT
                                       " KiB", c->def->max_memory_kib, p->max_memory_limit_kib);
    for (guint i = 0; i < dimms->len; i++) {
        Dimm *d = &g_array_index(dimms, Dimm, i);
        g_autofree char *id = d->alias[0] != '\0' ? g_strdup(d->alias)
                                                   : g_strdup_printf("dimm%u", i);

        if (d->slot < 0) {
            for (guint s = 0; s < p->max_memory_slots; s++) {
                if (!used[s]) {
                    used[s] = TRUE;
                    d->slot = (int)s;
                    break;
                }
            }
        }
        if (!build_dimm(c, g_ptr_array_index(which, i), d, id, error))
            return FALSE;
    }
    return TRUE;
}

/**
 * vb_qemu_cmd_build_memdev_one:
 * @dev: a <memory model='dimm'> with its <alias name='dimmN'/> and <address type='dimm'
 *   slot> written (the hotplug part picks them from QEMU's state)
 *
 * The -object and -device of one dimm for a running QEMU (object-add, device_add), the
 * same as at start (issue 13, part memcfg).
 */
gboolean
vb_qemu_cmd_build_memdev_one(VbQemuCmd *c, const VbDeviceDef *dev, GError **error)
{
    Dimm d;
    gboolean ok;

    if (!parse_dimm(c, dev, &d, error))
        return FALSE;
    if (d.alias[0] == '\0' || d.slot < 0)
        ok = vb_qemu_cmd_unsupported(c, error, dev, "the dimm has no alias or slot yet");
    else if (d.node >= RES(c)->cpu.cells->len)
        ok = vb_qemu_cmd_unsupported(c, error, dev, "can't add memory backend for guest node "
                                     "'%u' as the guest has only '%u' NUMA nodes configured",
                                     d.node, RES(c)->cpu.cells->len);
    else
        ok = build_dimm(c, dev, &d, d.alias, error);
    dimm_clear(&d);
    return ok;
}
