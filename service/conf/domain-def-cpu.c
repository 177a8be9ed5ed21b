/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Read views of <cpu> (model, features, topology, NUMA cells), <memoryBacking>,
 * <iothreadids>, <vcpus> and <cputune>/<memtune>/<numatune> (issue 10, part cpu).
 *
 * The elements stay kept verbatim in the model (the formatter writes them back as they
 * came); here they are read once more, at parse time, into VbDomainResources for the
 * command line and the start path, and validated the way libvirt 9.0 validates them
 * (virDomainDefPostParse, virDomainNumaDefParseXML, virDomainDefCputuneValidate...).
 */
#include "config.h"

#include <string.h>

#include "domain-def-cpu.h"
#include "domain-def-priv.h"
#include "vb-error.h"

/* libvirt's VIR_DOMAIN_CPUMASK_LEN */
#define VB_CPUMASK_LEN 16384

static const char *const feature_policies[] = {"force",   "require", "optional",
                                               "disable", "forbid",  NULL};
static const char *const cpu_matches[] = {"minimum", "exact", "strict", NULL};
static const char *const cpu_checks[] = {"none", "partial", "full", NULL};
static const char *const onoff[] = {"on", "off", NULL};
static const char *const yesno[] = {"yes", "no", NULL};
static const char *const fallbacks[] = {"allow", "forbid", NULL};
static const char *const mem_accesses[] = {"shared", "private", NULL};
static const char *const source_types[] = {"file", "anonymous", "memfd", NULL};
static const char *const alloc_modes[] = {"immediate", "ondemand", NULL};

static void
cell_free(VbNumaCell *cell)
{
    g_free(cell->cpus);
    g_clear_pointer(&cell->cpu_list, g_array_unref);
    g_free(cell->mem_access);
    g_free(cell->discard);
    g_clear_pointer(&cell->distances, g_array_unref);
    g_free(cell->not_acted_on);
    g_free(cell);
}

static void
feature_free(VbCpuFeature *f)
{
    g_free(f->name);
    g_free(f->policy);
    g_free(f);
}

static void
page_free(VbHugePage *p)
{
    g_free(p->nodeset);
    g_free(p);
}

static void
pin_free(VbPin *pin)
{
    g_free(pin->cpuset);
    g_clear_pointer(&pin->cpus, g_array_unref);
    g_free(pin);
}

static void
not_acted_free(VbNotActedOn *n)
{
    g_free(n->elem);
    g_free(n->why);
    g_free(n);
}

/**
 * vb_domain_resources_new:
 *
 * Returns: (transfer full): empty resources
 */
VbDomainResources *
vb_domain_resources_new(void)
{
    VbDomainResources *r = g_new0(VbDomainResources, 1);

    r->cpu.features = g_ptr_array_new_with_free_func((GDestroyNotify)feature_free);
    r->cpu.cells = g_ptr_array_new_with_free_func((GDestroyNotify)cell_free);
    r->cpu.not_acted_on = g_ptr_array_new_with_free_func(g_free);
    r->iothreadids = g_ptr_array_new_with_free_func(g_free);
    r->backing.pages = g_ptr_array_new_with_free_func((GDestroyNotify)page_free);
    r->pins = g_ptr_array_new_with_free_func((GDestroyNotify)pin_free);
    r->not_acted_on = g_ptr_array_new_with_free_func((GDestroyNotify)not_acted_free);
    return r;
}

/**
 * vb_domain_resources_free:
 * @r: (nullable): resources
 */
void
vb_domain_resources_free(VbDomainResources *r)
{
    VbDomainCpuDef *c;

    if (r == NULL)
        return;
    c = &r->cpu;
    g_free(c->mode);
    g_free(c->match);
    g_free(c->check);
    g_free(c->migratable);
    g_free(c->model);
    g_free(c->fallback);
    g_free(c->vendor_id);
    g_free(c->vendor);
    g_ptr_array_unref(c->features);
    g_ptr_array_unref(c->cells);
    g_ptr_array_unref(c->not_acted_on);
    g_ptr_array_unref(r->iothreadids);
    g_ptr_array_unref(r->backing.pages);
    g_free(r->backing.source_type);
    g_free(r->backing.access_mode);
    g_free(r->backing.alloc_mode);
    g_free(r->vcpu_cpuset);
    g_clear_pointer(&r->vcpu_cpus, g_array_unref);
    g_clear_pointer(&r->vcpus_enabled, g_array_unref);
    g_clear_pointer(&r->vcpus_hotpluggable, g_array_unref);
    g_ptr_array_unref(r->pins);
    g_ptr_array_unref(r->not_acted_on);
    g_free(r);
}

/**
 * vb_domain_def_get_resources:
 * @def: a definition
 *
 * Returns: (transfer none): the CPU, memory, NUMA, iothread and tuning view of @def; valid
 *   as long as @def
 */
const VbDomainResources *
vb_domain_def_get_resources(const VbDomainDef *def)
{
    return def->priv->resources;
}

static gint
cmp_uint(gconstpointer a, gconstpointer b)
{
    guint x = *(const guint *)a;
    guint y = *(const guint *)b;

    return x < y ? -1 : x > y;
}

static gboolean
parse_cpu_number(const char **p, guint max, guint *out)
{
    guint64 v;
    char *end = NULL;

    while (g_ascii_isspace(**p))
        (*p)++;
    if (!g_ascii_isdigit(**p))
        return FALSE;
    v = g_ascii_strtoull(*p, &end, 10);
    if (v > max)
        return FALSE;
    *out = (guint)v;
    *p = end;
    while (g_ascii_isspace(**p))
        (*p)++;
    return TRUE;
}

/**
 * vb_cpuset_parse:
 * @str: libvirt's cpuset syntax: "0-3,^2,8"
 * @max: largest CPU number allowed
 * @out_cpus: (out) (transfer full): the CPUs, sorted, each once
 * @error: VB_ERROR_INVALID_ARG naming the text
 *
 * Returns: whether @str is a cpuset naming at least one CPU
 */
gboolean
vb_cpuset_parse(const char *str, guint max, GArray **out_cpus, GError **error)
{
    g_autoptr(GHashTable) set = g_hash_table_new(NULL, NULL);
    g_autoptr(GHashTable) neg = g_hash_table_new(NULL, NULL);
    g_autoptr(GArray) cpus = g_array_new(FALSE, FALSE, sizeof(guint));
    const char *p = str;
    GHashTableIter it;
    gpointer key;

    while (TRUE) {
        gboolean negate = FALSE;
        guint a, b;

        while (g_ascii_isspace(*p))
            p++;
        if (*p == '^') {
            negate = TRUE;
            p++;
        }
        if (!parse_cpu_number(&p, max, &a))
            goto bad;
        b = a;
        if (!negate && *p == '-') {
            p++;
            if (!parse_cpu_number(&p, max, &b) || b < a)
                goto bad;
        }
        for (guint i = a; i <= b; i++)
            g_hash_table_add(negate ? neg : set, GUINT_TO_POINTER(i + 1));
        if (*p == '\0')
            break;
        if (*p != ',')
            goto bad;
        p++;
    }
    g_hash_table_iter_init(&it, set);
    while (g_hash_table_iter_next(&it, &key, NULL)) {
        guint cpu = GPOINTER_TO_UINT(key) - 1;

        if (!g_hash_table_contains(neg, key))
            g_array_append_val(cpus, cpu);
    }
    if (cpus->len == 0)
        goto bad;
    g_array_sort(cpus, cmp_uint);
    *out_cpus = g_steal_pointer(&cpus);
    return TRUE;
bad:
    g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                "invalid cpuset '%s' (expected CPU numbers up to %u, ranges 'N-M' and "
                "exclusions '^N', separated by ',')",
                str, max);
    return FALSE;
}

/**
 * vb_cpuset_format:
 * @cpus: sorted CPU numbers
 *
 * Returns: (transfer full): "0-3,8", as /proc/PID/status writes Cpus_allowed_list
 */
char *
vb_cpuset_format(const GArray *cpus)
{
    GString *s = g_string_new(NULL);

    for (guint i = 0; i < cpus->len;) {
        guint a = g_array_index(cpus, guint, i);
        guint j = i;

        while (j + 1 < cpus->len &&
               g_array_index(cpus, guint, j + 1) == g_array_index(cpus, guint, j) + 1)
            j++;
        if (s->len > 0)
            g_string_append_c(s, ',');
        if (j > i)
            g_string_append_printf(s, "%u-%u", a, g_array_index(cpus, guint, j));
        else
            g_string_append_printf(s, "%u", a);
        i = j + 1;
    }
    return g_string_free(s, FALSE);
}

static xmlNode *
child(xmlNode *parent, const char *name)
{
    for (xmlNode *c = parent != NULL ? parent->children : NULL; c != NULL; c = c->next) {
        if (vb_xml_is(c, name))
            return c;
    }
    return NULL;
}

static gboolean
cpuset_attr(xmlNode *node, const char *attr, char **out_str, GArray **out_cpus, GError **error)
{
    g_autofree char *v = vb_xml_prop(node, attr);
    g_autoptr(GError) local = NULL;

    *out_str = NULL;
    if (v == NULL)
        return TRUE;
    if (!vb_cpuset_parse(v, VB_CPUMASK_LEN - 1, out_cpus, &local)) {
        vb_set_error_line(error, VB_ERROR_INVALID_ARG, node, "attribute '%s': %s", attr,
                          local->message);
        return FALSE;
    }
    *out_str = g_steal_pointer(&v);
    return TRUE;
}

static gboolean
uint_attr(xmlNode *node, const char *attr, gboolean required, guint max, guint *out, GError **error)
{
    g_autofree char *v = vb_xml_prop(node, attr);

    if (v == NULL) {
        if (required)
            vb_set_error_line(error, VB_ERROR_INVALID_XML, node, "missing attribute '%s'", attr);
        return !required;
    }
    return vb_xml_parse_uint(node, attr, v, max, out, error);
}

static gboolean
parse_features(VbDomainCpuDef *c, xmlNode *cpu, GError **error)
{
    g_autoptr(GHashTable) seen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);

    for (xmlNode *n = cpu->children; n != NULL; n = n->next) {
        VbCpuFeature *f;
        g_autofree char *name = NULL;
        g_autofree char *policy = NULL;

        if (!vb_xml_is(n, "feature"))
            continue;
        name = vb_xml_prop(n, "name");
        if (name == NULL || *name == '\0') {
            vb_set_error_line(error, VB_ERROR_INVALID_XML, n, "missing attribute 'name'");
            return FALSE;
        }
        /* libvirt: policy is required in custom mode, meaningless otherwise */
        if (!vb_xml_prop_enum(n, "policy", feature_policies, FALSE, &policy, error))
            return FALSE;
        if (g_hash_table_contains(seen, name)) {
            vb_set_error_line(error, VB_ERROR_INVALID_ARG, n,
                              "CPU feature '%s' specified more than once", name);
            return FALSE;
        }
        /* QEMU's feature properties (and libvirt's cpu map) are lower case; its property
         * lookup is case-sensitive, so any other name would only fail at start */
        for (const char *p = name; *p != '\0'; p++) {
            if (!g_ascii_islower(*p) && !g_ascii_isdigit(*p) && *p != '_' && *p != '-' &&
                *p != '.') {
                vb_set_error_line(error, VB_ERROR_INVALID_ARG, n,
                                  "invalid CPU feature name '%s': lower-case letters, digits, "
                                  "'_', '-' and '.' only",
                                  name);
                return FALSE;
            }
        }
        g_hash_table_add(seen, g_strdup(name));
        f = g_new0(VbCpuFeature, 1);
        f->name = g_steal_pointer(&name);
        f->policy = policy != NULL ? g_steal_pointer(&policy) : g_strdup("require");
        f->line = xmlGetLineNo(n);
        g_ptr_array_add(c->features, f);
    }
    return TRUE;
}

static gboolean
parse_topology(VbDomainCpuDef *c, xmlNode *cpu, GError **error)
{
    xmlNode *t = child(cpu, "topology");
    const char *names[] = {"sockets", "dies", "cores", "threads"};
    guint *vals[] = {&c->sockets, &c->dies, &c->cores, &c->threads};

    if (t == NULL)
        return TRUE;
    c->has_topology = TRUE;
    c->dies = 1;
    for (guint i = 0; i < G_N_ELEMENTS(names); i++) {
        if (!uint_attr(t, names[i], i != 1, G_MAXUINT, vals[i], error))
            return FALSE;
        if (*vals[i] == 0) {
            vb_set_error_line(error, VB_ERROR_INVALID_ARG, t,
                              "attribute '%s' must be a positive integer", names[i]);
            return FALSE;
        }
    }
    return TRUE;
}

static gboolean
parse_distances(VbNumaCell *cell, xmlNode *cnode, GError **error)
{
    xmlNode *d = child(cnode, "distances");

    if (d == NULL)
        return TRUE;
    cell->distances = g_array_new(FALSE, FALSE, sizeof(VbNumaDistance));
    for (xmlNode *s = d->children; s != NULL; s = s->next) {
        VbNumaDistance dist = {0};

        if (!vb_xml_is(s, "sibling"))
            continue;
        if (!uint_attr(s, "id", TRUE, G_MAXUINT, &dist.id, error) ||
            !uint_attr(s, "value", TRUE, 255, &dist.value, error))
            return FALSE;
        if (dist.value < 10) {
            vb_set_error_line(error, VB_ERROR_INVALID_ARG, s,
                              "'value' %u must be between 10 and 255", dist.value);
            return FALSE;
        }
        g_array_append_val(cell->distances, dist);
    }
    return TRUE;
}

/* what of a cell nothing reads: children other than <distances>, unknown attributes */
static char *
cell_unread(xmlNode *cnode)
{
    static const char *const known[] = {"id",        "cpus",    "memory", "unit",
                                        "memAccess", "discard", NULL};

    for (xmlAttr *a = cnode->properties; a != NULL; a = a->next) {
        if (a->ns != NULL || !g_strv_contains(known, (const char *)a->name))
            return g_strdup_printf("attribute '%s'", (const char *)a->name);
    }
    for (xmlNode *n = cnode->children; n != NULL; n = n->next) {
        if (n->type == XML_ELEMENT_NODE && !vb_xml_is(n, "distances"))
            return g_strdup_printf("<%s>", (const char *)n->name);
    }
    return NULL;
}

static gboolean
parse_cell(VbDomainCpuDef *c, xmlNode *n, guint index, guint ncells, GError **error)
{
    g_autofree char *mem = vb_xml_prop(n, "memory");
    g_autofree char *unit = vb_xml_prop(n, "unit");
    g_autoptr(GError) local = NULL;
    VbNumaCell *cell = g_new0(VbNumaCell, 1);

    g_ptr_array_add(c->cells, cell);
    cell->line = xmlGetLineNo(n);
    cell->id = index;
    if (!uint_attr(n, "id", FALSE, G_MAXUINT, &cell->id, error))
        return FALSE;
    if (cell->id >= ncells) {
        vb_set_error_line(error, VB_ERROR_INVALID_ARG, n,
                          "NUMA cell id %u is out of range: the %u cells are numbered from 0 "
                          "to %u, one <cell> each",
                          cell->id, ncells, ncells - 1);
        return FALSE;
    }
    if (mem == NULL) {
        vb_set_error_line(error, VB_ERROR_INVALID_XML, n, "missing attribute 'memory'");
        return FALSE;
    }
    if (!vb_domain_memory_parse_kib(mem, unit, &cell->memory_kib, &local)) {
        vb_set_error_line(error, VB_ERROR_INVALID_ARG, n, "%s", local->message);
        return FALSE;
    }
    if (!cpuset_attr(n, "cpus", &cell->cpus, &cell->cpu_list, error) ||
        !vb_xml_prop_enum(n, "memAccess", mem_accesses, FALSE, &cell->mem_access, error) ||
        !vb_xml_prop_enum(n, "discard", yesno, FALSE, &cell->discard, error) ||
        !parse_distances(cell, n, error))
        return FALSE;
    cell->not_acted_on = cell_unread(n);
    return TRUE;
}

static gint
cmp_cell(gconstpointer a, gconstpointer b)
{
    guint x = (*(VbNumaCell *const *)a)->id;
    guint y = (*(VbNumaCell *const *)b)->id;

    return x < y ? -1 : x > y;
}

/* libvirt stores cell N at index N: ids are a permutation of 0..n-1, in any order */
static gboolean
parse_numa(VbDomainCpuDef *c, xmlNode *cpu, GError **error)
{
    xmlNode *numa = child(cpu, "numa");
    guint ncells = 0;
    guint index = 0;

    if (numa == NULL)
        return TRUE;
    for (xmlNode *n = numa->children; n != NULL; n = n->next)
        ncells += vb_xml_is(n, "cell");
    for (xmlNode *n = numa->children; n != NULL; n = n->next) {
        if (vb_xml_is(n, "cell")) {
            if (!parse_cell(c, n, index++, ncells, error))
                return FALSE;
        } else if (n->type == XML_ELEMENT_NODE) {
            g_ptr_array_add(c->not_acted_on, g_strdup_printf("<numa><%s>", n->name));
        }
    }
    g_ptr_array_sort(c->cells, cmp_cell);
    for (guint i = 1; i < c->cells->len; i++) {
        const VbNumaCell *cell = g_ptr_array_index(c->cells, i);

        if (cell->id == ((const VbNumaCell *)g_ptr_array_index(c->cells, i - 1))->id) {
            g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                        "line %d: <cell>: duplicate NUMA cell info for cell id '%u'",
                        cell->line, cell->id);
            return FALSE;
        }
    }
    return TRUE;
}

static gboolean
parse_cpu(VbDomainCpuDef *c, xmlNode *cpu, GError **error)
{
    static const char *const read_children[] = {"model",   "vendor", "topology",
                                                "feature", "numa",   NULL};
    xmlNode *model;
    xmlNode *vendor;

    c->present = TRUE;
    c->line = xmlGetLineNo(cpu);
    c->mode = vb_xml_prop(cpu, "mode");
    if (!vb_xml_prop_enum(cpu, "match", cpu_matches, FALSE, &c->match, error) ||
        !vb_xml_prop_enum(cpu, "check", cpu_checks, FALSE, &c->check, error) ||
        !vb_xml_prop_enum(cpu, "migratable", onoff, FALSE, &c->migratable, error))
        return FALSE;
    model = child(cpu, "model");
    if (model != NULL) {
        g_autofree char *text = g_strstrip(vb_xml_text(model));

        if (*text != '\0')
            c->model = g_steal_pointer(&text);
        if (!vb_xml_prop_enum(model, "fallback", fallbacks, FALSE, &c->fallback, error))
            return FALSE;
        c->vendor_id = vb_xml_prop(model, "vendor_id");
        if (c->vendor_id != NULL && strlen(c->vendor_id) != 12) {
            vb_set_error_line(error, VB_ERROR_INVALID_ARG, model,
                              "vendor_id must be exactly 12 characters long");
            return FALSE;
        }
        for (const char *p = c->model; p != NULL && *p != '\0'; p++) {
            if (!g_ascii_isalnum(*p) && strchr("-_.", *p) == NULL) {
                vb_set_error_line(error, VB_ERROR_INVALID_ARG, model, "invalid CPU model name '%s'",
                                  c->model);
                return FALSE;
            }
        }
        for (const char *p = c->vendor_id; p != NULL && *p != '\0'; p++) {
            if (!g_ascii_isprint(*p)) {
                vb_set_error_line(error, VB_ERROR_INVALID_ARG, model, "invalid vendor_id '%s'",
                                  c->vendor_id);
                return FALSE;
            }
        }
    }
    vendor = child(cpu, "vendor");
    if (vendor != NULL) {
        c->vendor = g_strstrip(vb_xml_text(vendor));
        c->vendor_line = xmlGetLineNo(vendor);
    }
    if (!parse_features(c, cpu, error) || !parse_topology(c, cpu, error) ||
        !parse_numa(c, cpu, error))
        return FALSE;
    for (xmlNode *n = cpu->children; n != NULL; n = n->next) {
        if (n->type == XML_ELEMENT_NODE &&
            (n->ns != NULL || !g_strv_contains(read_children, (const char *)n->name)))
            g_ptr_array_add(c->not_acted_on, g_strdup_printf("<%s>", n->name));
    }
    return TRUE;
}

static void
not_acted(VbDomainResources *r, xmlNode *n, const char *elem, const char *why)
{
    VbNotActedOn *e = g_new0(VbNotActedOn, 1);

    e->elem = g_strdup(elem);
    e->why = g_strdup(why);
    e->line = n != NULL ? xmlGetLineNo(n) : 0;
    g_ptr_array_add(r->not_acted_on, e);
}

static gboolean
parse_backing(VbMemoryBacking *b, xmlNode *mb, GError **error)
{
    b->present = TRUE;
    b->line = xmlGetLineNo(mb);
    for (xmlNode *n = mb->children; n != NULL; n = n->next) {
        if (vb_xml_is(n, "hugepages")) {
            b->hugepages = TRUE;
            for (xmlNode *p = n->children; p != NULL; p = p->next) {
                g_autofree char *size = NULL;
                g_autofree char *unit = NULL;
                g_autoptr(GError) local = NULL;
                VbHugePage *page;

                if (!vb_xml_is(p, "page"))
                    continue;
                size = vb_xml_prop(p, "size");
                unit = vb_xml_prop(p, "unit");
                if (size == NULL) {
                    vb_set_error_line(error, VB_ERROR_INVALID_XML, p, "missing attribute 'size'");
                    return FALSE;
                }
                page = g_new0(VbHugePage, 1);
                g_ptr_array_add(b->pages, page);
                if (!vb_domain_memory_parse_kib(size, unit, &page->size_kib, &local) ||
                    page->size_kib == 0) {
                    vb_set_error_line(error, VB_ERROR_INVALID_ARG, p, "invalid page size '%s'",
                                      size);
                    return FALSE;
                }
                page->nodeset = vb_xml_prop(p, "nodeset");
            }
        } else if (vb_xml_is(n, "nosharepages")) {
            b->nosharepages = TRUE;
        } else if (vb_xml_is(n, "locked")) {
            b->locked = TRUE;
        } else if (vb_xml_is(n, "discard")) {
            b->discard = TRUE;
        } else if (vb_xml_is(n, "source") && b->source_type == NULL) {
            /* the first of repeated elements counts, as libvirt's XPath lookups */
            if (!vb_xml_prop_enum(n, "type", source_types, FALSE, &b->source_type, error))
                return FALSE;
        } else if (vb_xml_is(n, "access") && b->access_mode == NULL) {
            if (!vb_xml_prop_enum(n, "mode", mem_accesses, FALSE, &b->access_mode, error))
                return FALSE;
        } else if (vb_xml_is(n, "allocation") && b->alloc_mode == NULL) {
            if (!vb_xml_prop_enum(n, "mode", alloc_modes, FALSE, &b->alloc_mode, error) ||
                !uint_attr(n, "threads", FALSE, G_MAXUINT, &b->alloc_threads, error))
                return FALSE;
        }
    }
    /* virDomainMemoryBackingParseXML */
    if (b->hugepages && g_strcmp0(b->source_type, "anonymous") == 0) {
        vb_set_error_line(error, VB_ERROR_INVALID_ARG, mb,
                          "hugepages are not allowed with anonymous memory source");
        return FALSE;
    }
    return TRUE;
}

static gboolean
parse_iothreads(VbDomainDef *def, VbDomainResources *r, xmlNode *root, GError **error)
{
    xmlNode *ids = child(root, "iothreadids");
    g_autoptr(GHashTable) used = g_hash_table_new(NULL, NULL);
    guint next = 1;

    for (xmlNode *n = ids != NULL ? ids->children : NULL; n != NULL; n = n->next) {
        VbIOThreadId *io;
        guint v;

        if (!vb_xml_is(n, "iothread"))
            continue;
        io = g_new0(VbIOThreadId, 1);
        io->pool_min = io->pool_max = -1;
        io->line = xmlGetLineNo(n);
        g_ptr_array_add(r->iothreadids, io);
        if (!uint_attr(n, "id", TRUE, G_MAXINT, &io->id, error))
            return FALSE;
        if (io->id == 0) {
            vb_set_error_line(error, VB_ERROR_INVALID_ARG, n, "invalid iothread 'id' value '0'");
            return FALSE;
        }
        if (g_hash_table_contains(used, GUINT_TO_POINTER(io->id))) {
            vb_set_error_line(error, VB_ERROR_INVALID_ARG, n, "duplicate iothread id '%u'", io->id);
            return FALSE;
        }
        g_hash_table_add(used, GUINT_TO_POINTER(io->id));
        v = 0;
        if (xmlHasProp(n, (const xmlChar *)"thread_pool_min")) {
            if (!uint_attr(n, "thread_pool_min", FALSE, G_MAXINT, &v, error))
                return FALSE;
            io->pool_min = (int)v;
        }
        if (xmlHasProp(n, (const xmlChar *)"thread_pool_max")) {
            if (!uint_attr(n, "thread_pool_max", FALSE, G_MAXINT, &v, error))
                return FALSE;
            io->pool_max = (int)v;
        }
    }
    /* libvirt fills up to <iothreads> with the lowest free ids (virDomainIOThreadIDDefArrayInit) */
    while (r->iothreadids->len < def->priv->iothreads) {
        VbIOThreadId *io = g_new0(VbIOThreadId, 1);

        while (g_hash_table_contains(used, GUINT_TO_POINTER(next)))
            next++;
        io->id = next;
        io->pool_min = io->pool_max = -1;
        g_hash_table_add(used, GUINT_TO_POINTER(next));
        g_ptr_array_add(r->iothreadids, io);
    }
    return TRUE;
}

static gboolean
parse_vcpus(VbDomainDef *def, VbDomainResources *r, xmlNode *root, GError **error)
{
    xmlNode *vcpu = child(root, "vcpu");
    xmlNode *vcpus = child(root, "vcpus");
    guint enabled = 0;

    if (vcpu != NULL) {
        g_autofree char *placement = vb_xml_prop(vcpu, "placement");

        r->vcpu_line = xmlGetLineNo(vcpu);
        if (!cpuset_attr(vcpu, "cpuset", &r->vcpu_cpuset, &r->vcpu_cpus, error))
            return FALSE;
        if (g_strcmp0(placement, "auto") == 0)
            not_acted(r, vcpu, "vcpu",
                      "placement='auto' needs numad, which virtbus does not use; vCPUs are "
                      "not placed");
    }
    if (vcpus == NULL)
        return TRUE;
    r->vcpus_line = xmlGetLineNo(vcpus);
    r->vcpus_enabled = g_array_new(FALSE, TRUE, sizeof(gboolean));
    r->vcpus_hotpluggable = g_array_new(FALSE, TRUE, sizeof(gboolean));
    g_array_set_size(r->vcpus_enabled, def->vcpus_max);
    g_array_set_size(r->vcpus_hotpluggable, def->vcpus_max);
    for (xmlNode *n = vcpus->children; n != NULL; n = n->next) {
        guint id;
        int en = -1;
        int hp = -1;

        if (!vb_xml_is(n, "vcpu"))
            continue;
        if (!uint_attr(n, "id", TRUE, G_MAXUINT, &id, error) ||
            !vb_xml_prop_yesno(n, "enabled", "yes", "no", &en, error) ||
            !vb_xml_prop_yesno(n, "hotpluggable", "yes", "no", &hp, error))
            return FALSE;
        if (id >= def->vcpus_max) {
            vb_set_error_line(error, VB_ERROR_INVALID_ARG, n,
                              "vcpu id %u must be lower than the maximum vcpu count %u", id,
                              def->vcpus_max);
            return FALSE;
        }
        g_array_index(r->vcpus_enabled, gboolean, id) = en == 1;
        g_array_index(r->vcpus_hotpluggable, gboolean, id) = hp == 1;
        enabled += en == 1;
    }
    /* virDomainDefParseXML: the enabled ones are the current count */
    if (enabled != def->vcpus_current) {
        vb_set_error_line(error, VB_ERROR_INVALID_ARG, vcpus,
                          "%u vcpus are enabled but <vcpu current> is %u", enabled,
                          def->vcpus_current);
        return FALSE;
    }
    return TRUE;
}

static gboolean
add_pin(VbDomainResources *r, VbPinKind kind, guint id, xmlNode *n, GError **error)
{
    VbPin *pin = g_new0(VbPin, 1);

    pin->kind = kind;
    pin->id = id;
    pin->line = xmlGetLineNo(n);
    g_ptr_array_add(r->pins, pin);
    if (!cpuset_attr(n, "cpuset", &pin->cpuset, &pin->cpus, error))
        return FALSE;
    if (pin->cpuset == NULL) {
        vb_set_error_line(error, VB_ERROR_INVALID_XML, n, "missing attribute 'cpuset'");
        return FALSE;
    }
    for (guint i = 0; i + 1 < r->pins->len; i++) {
        const VbPin *o = g_ptr_array_index(r->pins, i);

        if (o->kind == kind && o->id == id) {
            vb_set_error_line(error, VB_ERROR_INVALID_ARG, n, "duplicate <%s> for %u",
                              (const char *)n->name, id);
            return FALSE;
        }
    }
    return TRUE;
}

static gboolean
iothread_exists(const VbDomainResources *r, guint id)
{
    for (guint i = 0; i < r->iothreadids->len; i++) {
        if (((VbIOThreadId *)g_ptr_array_index(r->iothreadids, i))->id == id)
            return TRUE;
    }
    return FALSE;
}

static gboolean
parse_cputune(VbDomainDef *def, VbDomainResources *r, xmlNode *root, GError **error)
{
    xmlNode *ct = child(root, "cputune");

    for (xmlNode *n = ct != NULL ? ct->children : NULL; n != NULL; n = n->next) {
        guint id = 0;

        if (n->type != XML_ELEMENT_NODE)
            continue;
        if (vb_xml_is(n, "vcpupin")) {
            if (!uint_attr(n, "vcpu", TRUE, G_MAXUINT, &id, error))
                return FALSE;
            if (id >= def->vcpus_max) {
                vb_set_error_line(error, VB_ERROR_INVALID_ARG, n,
                                  "vcpu %u is out of range (the domain has %u vCPUs)", id,
                                  def->vcpus_max);
                return FALSE;
            }
            if (!add_pin(r, VB_PIN_VCPU, id, n, error))
                return FALSE;
        } else if (vb_xml_is(n, "emulatorpin")) {
            if (!add_pin(r, VB_PIN_EMULATOR, 0, n, error))
                return FALSE;
        } else if (vb_xml_is(n, "iothreadpin")) {
            if (!uint_attr(n, "iothread", TRUE, G_MAXUINT, &id, error))
                return FALSE;
            if (!iothread_exists(r, id)) {
                vb_set_error_line(error, VB_ERROR_INVALID_ARG, n,
                                  "cannot find iothread '%u' for <iothreadpin>", id);
                return FALSE;
            }
            if (!add_pin(r, VB_PIN_IOTHREAD, id, n, error))
                return FALSE;
        } else {
            g_autofree char *elem = g_strdup_printf("cputune><%s", n->name);
            const char *name = (const char *)n->name;

            static const char *const cgroup_items[] = {
                "shares", "period", "quota", "global_period", "global_quota",
                "emulator_period", "emulator_quota", "iothread_period", "iothread_quota", NULL,
            };

            /* issue 14, part cgroup: the scalars are the tuning view's (domain-def-tune.c);
             * what of them is applied depends on cgroup_mode (domain-cgroup.c) */
            if (g_strv_contains(cgroup_items, name))
                continue;
            if (g_str_has_suffix(name, "sched"))
                not_acted(r, n, elem, "scheduler policies are not applied yet");
            else if (g_str_equal(name, "cachetune") || g_str_equal(name, "memorytune"))
                not_acted(r, n, elem, "needs resctrl, which virtbus does not manage");
            else
                not_acted(r, n, elem, "not applied");
        }
    }
    return TRUE;
}

static void
collect_tuning(VbDomainResources *r, xmlNode *root)
{
    xmlNode *nt = child(root, "numatune");

    /* <memtune> and <blkiotune>: the tuning view (issue 14, part cgroup) */
    for (xmlNode *n = nt != NULL ? nt->children : NULL; n != NULL; n = n->next) {
        g_autofree char *elem = NULL;

        if (n->type != XML_ELEMENT_NODE)
            continue;
        elem = g_strdup_printf("numatune><%s", n->name);
        not_acted(r, n, elem, "host NUMA placement is not applied");
    }
}

static gboolean
validate_numa(VbDomainDef *def, VbDomainResources *r, GError **error)
{
    GPtrArray *cells = r->cpu.cells;
    g_autoptr(GHashTable) owner = g_hash_table_new(NULL, NULL);

    for (guint i = 0; i < cells->len; i++) {
        const VbNumaCell *cell = g_ptr_array_index(cells, i);

        for (guint k = 0; cell->cpu_list != NULL && k < cell->cpu_list->len; k++) {
            guint cpu = g_array_index(cell->cpu_list, guint, k);
            gpointer prev;

            if (cpu >= def->vcpus_max) {
                g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                            "line %d: <cell>: vCPU %u of NUMA cell %u is beyond the maximum "
                            "vCPU count %u",
                            cell->line, cpu, cell->id, def->vcpus_max);
                return FALSE;
            }
            prev = g_hash_table_lookup(owner, GUINT_TO_POINTER(cpu + 1));
            if (prev != NULL) {
                g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                            "line %d: <cell>: NUMA cells %u and %u have overlapping vCPU ids",
                            cell->line, GPOINTER_TO_UINT(prev) - 1, cell->id);
                return FALSE;
            }
            g_hash_table_insert(owner, GUINT_TO_POINTER(cpu + 1), GUINT_TO_POINTER(i + 1));
        }
        for (guint k = 0; cell->distances != NULL && k < cell->distances->len; k++) {
            const VbNumaDistance *d = &g_array_index(cell->distances, VbNumaDistance, k);

            if (d->id >= cells->len) {
                g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                            "line %d: <sibling>: 'sibling_id %u' does not refer to a valid "
                            "cell within NUMA 'cell id %u'",
                            cell->line, d->id, cell->id);
                return FALSE;
            }
            if ((d->id == cell->id) != (d->value == 10)) {
                g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                            "line %d: <sibling>: distance %u from cell %u to %u: the local "
                            "distance is 10 and only the local one",
                            cell->line, d->value, cell->id, d->id);
                return FALSE;
            }
        }
    }
    return TRUE;
}

static gboolean
validate_topology(VbDomainDef *def, const VbDomainCpuDef *c, GError **error)
{
    guint64 product;

    if (!c->has_topology)
        return TRUE;
    product = (guint64)c->sockets * c->dies * c->cores * c->threads;
    if (product != def->vcpus_max) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                    "line %d: <cpu>: CPU topology %u sockets x %u dies x %u cores x %u threads "
                    "= %" G_GUINT64_FORMAT " does not match the maximum vCPU count %u",
                    c->line, c->sockets, c->dies, c->cores, c->threads, product, def->vcpus_max);
        return FALSE;
    }
    return TRUE;
}

/**
 * vb_domain_def_parse_resources:
 * @def: the definition being parsed (memory and vCPUs already read, unless @root has no
 *   <memory>: then the NUMA cells give it)
 * @root: the <domain> element
 * @error: error naming the element and line
 *
 * Reads the views described in domain-def-cpu.h into def->priv->resources.
 *
 * Returns: whether everything is valid
 */
gboolean
vb_domain_def_parse_resources(VbDomainDef *def, xmlNode *root, GError **error)
{
    VbDomainResources *r = def->priv->resources;
    xmlNode *cpu = child(root, "cpu");
    xmlNode *mb = child(root, "memoryBacking");

    if (cpu != NULL && !parse_cpu(&r->cpu, cpu, error))
        return FALSE;
    if (mb != NULL && !parse_backing(&r->backing, mb, error))
        return FALSE;
    if (!parse_iothreads(def, r, root, error) || !parse_vcpus(def, r, root, error) ||
        !parse_cputune(def, r, root, error))
        return FALSE;
    {
        /* issue 14, part cgroup: <memtune>, <cputune>'s scalars, <blkiotune>, <resource> */
        VbDomainTune *tune = NULL;

        if (!vb_domain_tune_parse(root, &tune, error))
            return FALSE;
        vb_domain_tune_free(def->priv->tune);
        def->priv->tune = tune;
    }
    collect_tuning(r, root);
    return validate_topology(def, &r->cpu, error) && validate_numa(def, r, error);
}

/**
 * vb_domain_def_numa_memory_kib:
 * @root: the <domain> element
 * @out_kib: (out): the sum of <cpu><numa><cell memory=>
 * @error: a bad cell size
 *
 * Returns: whether the cells were read; *out_kib is 0 when there is none
 */
gboolean
vb_domain_def_numa_memory_kib(xmlNode *root, guint64 *out_kib, GError **error)
{
    xmlNode *numa = child(child(root, "cpu"), "numa");
    guint64 sum = 0;

    for (xmlNode *n = numa != NULL ? numa->children : NULL; n != NULL; n = n->next) {
        g_autofree char *mem = NULL;
        g_autofree char *unit = NULL;
        g_autoptr(GError) local = NULL;
        guint64 kib;

        if (!vb_xml_is(n, "cell"))
            continue;
        mem = vb_xml_prop(n, "memory");
        unit = vb_xml_prop(n, "unit");
        if (mem == NULL) {
            vb_set_error_line(error, VB_ERROR_INVALID_XML, n, "missing attribute 'memory'");
            return FALSE;
        }
        if (!vb_domain_memory_parse_kib(mem, unit, &kib, &local)) {
            vb_set_error_line(error, VB_ERROR_INVALID_ARG, n, "%s", local->message);
            return FALSE;
        }
        sum += kib;
    }
    *out_kib = sum;
    return TRUE;
}

/**
 * vb_domain_def_hotplug_memory_kib:
 * @root: the <domain> element
 *
 * Returns: the sum of the <target><size> of the <devices><memory> devices (dimm, nvdimm,
 *   virtio-mem, ...), which libvirt counts into <memory> on top of the NUMA cells; sizes
 *   that do not parse count 0 (the devices are refused at start)
 */
guint64
vb_domain_def_hotplug_memory_kib(xmlNode *root)
{
    xmlNode *devices = child(root, "devices");
    guint64 sum = 0;

    for (xmlNode *n = devices != NULL ? devices->children : NULL; n != NULL; n = n->next) {
        xmlNode *size = vb_xml_is(n, "memory") ? child(child(n, "target"), "size") : NULL;
        g_autofree char *text = NULL;
        g_autofree char *unit = NULL;
        guint64 kib = 0;

        if (size == NULL)
            continue;
        text = vb_xml_text(size);
        unit = vb_xml_prop(size, "unit");
        if (vb_domain_memory_parse_kib(text, unit, &kib, NULL) && sum + kib >= sum)
            sum += kib;
    }
    return sum;
}

/**
 * vb_domain_resources_cpu_abi:
 * @r: resources
 *
 * Returns: (transfer full) (nullable): what of <cpu> the guest sees, for the ABI check:
 *   mode, model, vendor_id, features with their policies, topology (NULL without <cpu>)
 */
char *
vb_domain_resources_cpu_abi(const VbDomainResources *r)
{
    const VbDomainCpuDef *c = &r->cpu;
    GString *s = g_string_new(NULL);

    if (!c->present)
        return g_string_free(s, TRUE);
    g_string_append_printf(s, "mode=%s", c->mode != NULL ? c->mode : "custom");
    if (c->model != NULL)
        g_string_append_printf(s, " model=%s", c->model);
    if (c->vendor_id != NULL)
        g_string_append_printf(s, " vendor_id=%s", c->vendor_id);
    if (c->has_topology)
        g_string_append_printf(s, " topology=%ux%ux%ux%u", c->sockets, c->dies, c->cores,
                               c->threads);
    for (guint i = 0; i < c->features->len; i++) {
        const VbCpuFeature *f = g_ptr_array_index(c->features, i);

        g_string_append_printf(s, " %s=%s", f->name, f->policy);
    }
    return g_string_free(s, FALSE);
}

/**
 * vb_domain_resources_numa_abi:
 * @r: resources
 *
 * Returns: (transfer full) (nullable): the guest NUMA cells as the guest sees them: per
 *   cell its vCPUs, memory and distances (NULL without cells)
 */
char *
vb_domain_resources_numa_abi(const VbDomainResources *r)
{
    GString *s = g_string_new(NULL);

    for (guint i = 0; i < r->cpu.cells->len; i++) {
        const VbNumaCell *cell = g_ptr_array_index(r->cpu.cells, i);
        g_autofree char *cpus = cell->cpu_list != NULL ? vb_cpuset_format(cell->cpu_list)
                                                       : g_strdup("");

        g_string_append_printf(s, "%scell%u[cpus=%s memory=%" G_GUINT64_FORMAT "KiB",
                               i ? " " : "", cell->id, cpus, cell->memory_kib);
        for (guint k = 0; cell->distances != NULL && k < cell->distances->len; k++) {
            const VbNumaDistance *d = &g_array_index(cell->distances, VbNumaDistance, k);

            g_string_append_printf(s, " to%u=%u", d->id, d->value);
        }
        g_string_append_c(s, ']');
    }
    return g_string_free(s, s->len == 0);
}
