/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * <memtune>, <cputune>'s shares/period/quota, <blkiotune> and <resource><partition>
 * (issue 14, part cgroup; docs/resources.md): the read view (domain-def-tune.h), its
 * validation (libvirt's ranges), its format and the edit SetMemoryParameters,
 * SetSchedulerParameters and SetBlkioParameters make with the CONFIG flag. The elements
 * stay kept verbatim in the model, so a definition's round trip is exact.
 */
#include "config.h"

#include <errno.h>
#include <libxml/parser.h>
#include <string.h>

#include "domain-def-priv.h"
#include "domain-def-tune.h"
#include "vb-error.h"

static const char *const item_elements[VB_TUNE_LAST] = {
    "hard_limit", "soft_limit", "swap_hard_limit", "min_guarantee", "shares", "period",
    "quota", "global_period", "global_quota", "emulator_period", "emulator_quota",
    "iothread_period", "iothread_quota", "weight",
};

/* the <cputune> children this view reads, in libvirt's order */
static const char *const cputune_scalars[] = {
    "shares", "period", "quota", "global_period", "global_quota", "emulator_period",
    "emulator_quota", "iothread_period", "iothread_quota", NULL,
};

/**
 * vb_tune_item_element:
 *
 * Returns: the element name of @item ("hard_limit", "shares", "weight", ...)
 */
const char *
vb_tune_item_element(VbTuneItem item)
{
    g_return_val_if_fail(item < VB_TUNE_LAST, NULL);
    return item_elements[item];
}

/**
 * vb_tune_item_parent:
 *
 * Returns: "memtune", "cputune" or "blkiotune"
 */
const char *
vb_tune_item_parent(VbTuneItem item)
{
    if (item <= VB_TUNE_MIN_GUARANTEE)
        return "memtune";
    if (item == VB_TUNE_BLKIO_WEIGHT)
        return "blkiotune";
    return "cputune";
}

static gboolean
is_quota(VbTuneItem item)
{
    return item == VB_TUNE_QUOTA || item == VB_TUNE_GLOBAL_QUOTA ||
           item == VB_TUNE_EMULATOR_QUOTA || item == VB_TUNE_IOTHREAD_QUOTA;
}

static gboolean
is_period(VbTuneItem item)
{
    return item == VB_TUNE_PERIOD || item == VB_TUNE_GLOBAL_PERIOD ||
           item == VB_TUNE_EMULATOR_PERIOD || item == VB_TUNE_IOTHREAD_PERIOD;
}

/**
 * vb_tune_item_check:
 * @value: the value (KiB for memory, µs for periods and quotas)
 * @error: InvalidArgument naming the element and the range
 *
 * libvirt's ranges: periods 1000..1000000 µs, quotas -1 (unlimited) or 1000..17592186044415
 * µs, shares 1..262144, weights 1..10000 (cgroup v2's io.weight range), memory up to
 * libvirt's "unlimited" (9007199254740991 KiB).
 *
 * Returns: whether @value is valid for @item
 */
gboolean
vb_tune_item_check(VbTuneItem item, gint64 value, GError **error)
{
    const char *parent = vb_tune_item_parent(item);
    const char *elem = vb_tune_item_element(item);

    if (is_period(item) && (value < VB_TUNE_PERIOD_MIN || value > VB_TUNE_PERIOD_MAX)) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                    "<%s><%s>: value %" G_GINT64_FORMAT " must be in range [%d, %d]", parent,
                    elem, value, VB_TUNE_PERIOD_MIN, VB_TUNE_PERIOD_MAX);
        return FALSE;
    }
    if (is_quota(item) && value != -1 &&
        (value < VB_TUNE_QUOTA_MIN || value > VB_TUNE_QUOTA_MAX)) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                    "<%s><%s>: value %" G_GINT64_FORMAT " must be -1 (unlimited) or in range "
                    "[%d, %" G_GINT64_FORMAT "]",
                    parent, elem, value, VB_TUNE_QUOTA_MIN, VB_TUNE_QUOTA_MAX);
        return FALSE;
    }
    if (item == VB_TUNE_SHARES && (value < 1 || value > VB_TUNE_SHARES_MAX)) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                    "<cputune><shares>: value %" G_GINT64_FORMAT " must be in range [1, %d]",
                    value, VB_TUNE_SHARES_MAX);
        return FALSE;
    }
    if (item == VB_TUNE_BLKIO_WEIGHT && (value < 1 || value > VB_TUNE_WEIGHT_MAX)) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                    "<blkiotune><weight>: value %" G_GINT64_FORMAT " must be in range [1, %d]",
                    value, VB_TUNE_WEIGHT_MAX);
        return FALSE;
    }
    if (item <= VB_TUNE_MIN_GUARANTEE && (value < 0 || value > VB_TUNE_MEMORY_UNLIMITED)) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                    "<memtune><%s>: value %" G_GINT64_FORMAT " KiB must be in range [0, %"
                    G_GINT64_FORMAT "]", elem, value, VB_TUNE_MEMORY_UNLIMITED);
        return FALSE;
    }
    return TRUE;
}

VbDomainTune *
vb_domain_tune_new(void)
{
    VbDomainTune *t = g_new0(VbDomainTune, 1);

    t->devices = g_ptr_array_new_with_free_func((GDestroyNotify)vb_blkio_device_free);
    return t;
}

void
vb_blkio_device_free(VbBlkioDevice *dev)
{
    if (dev == NULL)
        return;
    g_free(dev->path);
    g_free(dev);
}

void
vb_domain_tune_free(VbDomainTune *t)
{
    if (t == NULL)
        return;
    g_ptr_array_unref(t->devices);
    g_free(t->partition);
    g_free(t);
}

/**
 * vb_domain_tune_copy:
 *
 * Returns: (transfer full): a deep copy of @tune
 */
VbDomainTune *
vb_domain_tune_copy(const VbDomainTune *tune)
{
    VbDomainTune *t = vb_domain_tune_new();

    t->set = tune->set;
    memcpy(t->v, tune->v, sizeof(t->v));
    memcpy(t->line, tune->line, sizeof(t->line));
    for (guint i = 0; i < tune->devices->len; i++) {
        const VbBlkioDevice *d = g_ptr_array_index(tune->devices, i);
        VbBlkioDevice *c = g_memdup2(d, sizeof(*d));

        c->path = g_strdup(d->path);
        g_ptr_array_add(t->devices, c);
    }
    t->devices_line = tune->devices_line;
    t->partition = g_strdup(tune->partition);
    t->partition_line = tune->partition_line;
    return t;
}

/** vb_domain_tune_set: sets @item (a value vb_tune_item_check() accepted) */
void
vb_domain_tune_set(VbDomainTune *tune, VbTuneItem item, gint64 value)
{
    tune->set |= 1u << item;
    tune->v[item] = value;
}

/**
 * vb_domain_tune_device:
 * @create: add an empty entry when @path has none
 *
 * Returns: (transfer none) (nullable): the <device> entry of @path
 */
VbBlkioDevice *
vb_domain_tune_device(VbDomainTune *tune, const char *path, gboolean create)
{
    VbBlkioDevice *d;

    for (guint i = 0; i < tune->devices->len; i++) {
        d = g_ptr_array_index(tune->devices, i);
        if (g_str_equal(d->path, path))
            return d;
    }
    if (!create)
        return NULL;
    d = g_new0(VbBlkioDevice, 1);
    d->path = g_strdup(path);
    g_ptr_array_add(tune->devices, d);
    return d;
}

/**
 * vb_tune_partition_check:
 *
 * A partition becomes a cgroup path and a slice name: absolute, segments of letters,
 * digits and "_.-" (not "." or ".."), at most 255 characters.
 *
 * Returns: whether @partition is acceptable
 */
gboolean
vb_tune_partition_check(const char *partition, GError **error)
{
    g_auto(GStrv) parts = NULL;
    gboolean ok = partition != NULL && partition[0] == '/' && strlen(partition) <= 255;

    for (const char *p = partition; ok && *p != '\0'; p++)
        ok = g_ascii_isalnum(*p) || strchr("/_.-", *p) != NULL;
    if (ok && strlen(partition) > 1) {
        parts = g_strsplit(partition + 1, "/", -1);
        for (guint i = 0; ok && parts[i] != NULL; i++)
            ok = *parts[i] != '\0' && strcmp(parts[i], ".") != 0 && strcmp(parts[i], "..") != 0;
    }
    if (!ok) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                    "<resource><partition>: '%s' must be an absolute path like '/machine' of "
                    "letters, digits and '_.-' (no '.' or '..' parts, at most 255 characters)",
                    partition != NULL ? partition : "");
    }
    return ok;
}

/**
 * vb_tune_device_path_check:
 *
 * A <blkiotune><device><path>: absolute, printable ASCII without blanks, commas (the
 * bus parameters separate with them) or XML's special characters, at most 4096 bytes.
 *
 * Returns: whether @path is acceptable
 */
gboolean
vb_tune_device_path_check(const char *path)
{
    if (path == NULL || path[0] != '/' || strlen(path) > 4096)
        return FALSE;
    for (const char *p = path; *p != '\0'; p++) {
        if (!g_ascii_isgraph(*p) || strchr(",<>&'\"", *p) != NULL)
            return FALSE;
    }
    return TRUE;
}

/* a number element: text as libvirt writes it; memory with its unit attribute */
static gboolean
parse_number(xmlNode *n, VbTuneItem item, gint64 *out, GError **error)
{
    g_autofree char *text = vb_xml_text(n);
    g_autoptr(GError) local = NULL;
    const char *t = text != NULL ? g_strstrip(text) : "";

    if (item <= VB_TUNE_MIN_GUARANTEE) {
        g_autofree char *unit = vb_xml_prop(n, "unit");
        guint64 kib;

        if (!vb_domain_memory_parse_kib(t, unit, &kib, &local)) {
            gboolean digits = *t != '\0';

            /* libvirt caps what is above its "unlimited" at unlimited */
            for (const char *p = t; digits && *p != '\0'; p++)
                digits = g_ascii_isdigit(*p);
            if (!digits || strstr(local->message, "too large") == NULL) {
                vb_set_error_line(error, VB_ERROR_INVALID_ARG, n, "%s", local->message);
                return FALSE;
            }
            kib = VB_TUNE_MEMORY_UNLIMITED;
        }
        *out = (gint64)kib;
        return TRUE;
    }
    {
        char *end = NULL;
        gint64 v;

        errno = 0;
        v = g_ascii_strtoll(t, &end, 10);
        if (*t == '\0' || end == NULL || *end != '\0' || errno == ERANGE) {
            vb_set_error_line(error, VB_ERROR_INVALID_ARG, n, "'%s' is not an integer", t);
            return FALSE;
        }
        /* libvirt: any negative quota is unlimited; a period or quota of 0 is not set */
        if (is_quota(item) && v < 0)
            v = -1;
        *out = v;
    }
    return TRUE;
}

static gboolean
take_item(VbDomainTune *t, VbTuneItem item, xmlNode *n, GError **error)
{
    g_autoptr(GError) local = NULL;
    gint64 v;

    if (VB_TUNE_HAS(t, item)) {
        vb_set_error_line(error, VB_ERROR_INVALID_ARG, n, "appears more than once");
        return FALSE;
    }
    if (!parse_number(n, item, &v, error))
        return FALSE;
    if ((is_period(item) || is_quota(item) || item == VB_TUNE_BLKIO_WEIGHT) && v == 0)
        return TRUE;
    /* libvirt's parser takes <shares>0</shares> and writes it back; a start makes it the
     * lowest weight (domain-cgroup.c); the API's cpu_shares keeps the range */
    if (item != VB_TUNE_SHARES || v != 0) {
        if (!vb_tune_item_check(item, v, &local)) {
            vb_set_error_line(error, VB_ERROR_INVALID_ARG, n, "%s", local->message);
            return FALSE;
        }
    }
    vb_domain_tune_set(t, item, v);
    t->line[item] = xmlGetLineNo(n);
    return TRUE;
}

static gboolean
parse_device_value(xmlNode *c, guint64 max, guint64 *out, GError **error)
{
    g_autofree char *text = vb_xml_text(c);
    const char *t = text != NULL ? g_strstrip(text) : "";
    char *end = NULL;
    guint64 v;

    errno = 0;
    v = g_ascii_strtoull(t, &end, 10);
    if (!g_ascii_isdigit(*t) || *end != '\0' || errno == ERANGE || v > max) {
        vb_set_error_line(error, VB_ERROR_INVALID_ARG, c,
                          "'%s' must be an integer from 0 to %" G_GUINT64_FORMAT, t, max);
        return FALSE;
    }
    *out = v;
    return TRUE;
}

static gboolean
parse_device(VbDomainTune *t, xmlNode *dev, GError **error)
{
    g_autofree char *path = NULL;
    VbBlkioDevice *d;
    xmlNode *p = vb_xml_child(dev, "path");

    path = p != NULL ? vb_xml_text(p) : NULL;
    if (path == NULL || !vb_tune_device_path_check(g_strstrip(path))) {
        vb_set_error_line(error, VB_ERROR_INVALID_ARG, dev,
                          "<blkiotune><device> needs a <path> with an absolute device path");
        return FALSE;
    }
    if (vb_domain_tune_device(t, path, FALSE) != NULL) {
        vb_set_error_line(error, VB_ERROR_INVALID_ARG, dev,
                          "<blkiotune>: duplicate <device> for '%s'", path);
        return FALSE;
    }
    d = vb_domain_tune_device(t, path, TRUE);
    d->line = xmlGetLineNo(dev);
    if (t->devices_line == 0)
        t->devices_line = d->line;
    for (xmlNode *c = dev->children; c != NULL; c = c->next) {
        guint64 v;
        gboolean ok = TRUE;

        if (c->type != XML_ELEMENT_NODE || vb_xml_is(c, "path"))
            continue;
        if (vb_xml_is(c, "weight")) {
            ok = parse_device_value(c, VB_TUNE_WEIGHT_MAX, &v, error);
            d->weight = (guint)v;
        } else if (vb_xml_is(c, "read_bytes_sec")) {
            ok = parse_device_value(c, G_MAXINT64, &d->read_bytes_sec, error);
        } else if (vb_xml_is(c, "write_bytes_sec")) {
            ok = parse_device_value(c, G_MAXINT64, &d->write_bytes_sec, error);
        } else if (vb_xml_is(c, "read_iops_sec")) {
            ok = parse_device_value(c, G_MAXINT64, &d->read_iops_sec, error);
        } else if (vb_xml_is(c, "write_iops_sec")) {
            ok = parse_device_value(c, G_MAXINT64, &d->write_iops_sec, error);
        } else {
            vb_set_error_line(error, VB_ERROR_INVALID_ARG, c,
                              "unknown element in <blkiotune><device>");
            ok = FALSE;
        }
        if (!ok)
            return FALSE;
    }
    return TRUE;
}

static gboolean
parse_children(VbDomainTune *t, xmlNode *parent, VbTuneItem first, VbTuneItem last,
               GError **error)
{
    for (xmlNode *n = parent != NULL ? parent->children : NULL; n != NULL; n = n->next) {
        gboolean known = FALSE;

        if (n->type != XML_ELEMENT_NODE)
            continue;
        for (guint i = first; i <= last; i++) {
            if (vb_xml_is(n, item_elements[i])) {
                known = TRUE;
                if (!take_item(t, (VbTuneItem)i, n, error))
                    return FALSE;
            }
        }
        if (!known && first == VB_TUNE_HARD_LIMIT) {
            vb_set_error_line(error, VB_ERROR_INVALID_ARG, n, "unknown element in <memtune>");
            return FALSE;
        }
        if (!known && first == VB_TUNE_BLKIO_WEIGHT) {
            if (!vb_xml_is(n, "device")) {
                vb_set_error_line(error, VB_ERROR_INVALID_ARG, n,
                                  "unknown element in <blkiotune>");
                return FALSE;
            }
            if (!parse_device(t, n, error))
                return FALSE;
        }
    }
    return TRUE;
}

/**
 * vb_domain_tune_validate:
 *
 * What libvirt checks across items: swap_hard_limit (memory + swap) is not below
 * hard_limit, soft_limit not above hard_limit.
 *
 * Returns: whether @tune is consistent
 */
gboolean
vb_domain_tune_validate(const VbDomainTune *t, GError **error)
{
    if (VB_TUNE_HAS(t, VB_TUNE_HARD_LIMIT) && VB_TUNE_HAS(t, VB_TUNE_SWAP_HARD_LIMIT) &&
        t->v[VB_TUNE_SWAP_HARD_LIMIT] < t->v[VB_TUNE_HARD_LIMIT]) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                    "<memtune><swap_hard_limit>: memory hard_limit tunable value must be lower "
                    "than or equal to swap_hard_limit");
        return FALSE;
    }
    if (VB_TUNE_HAS(t, VB_TUNE_HARD_LIMIT) && VB_TUNE_HAS(t, VB_TUNE_SOFT_LIMIT) &&
        t->v[VB_TUNE_SOFT_LIMIT] > t->v[VB_TUNE_HARD_LIMIT]) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                    "<memtune><soft_limit>: soft_limit must not be above hard_limit");
        return FALSE;
    }
    return TRUE;
}

/**
 * vb_domain_tune_parse:
 * @root: the <domain> element
 * @out_tune: (out) (transfer full): the view
 *
 * Returns: whether the tuning elements are valid; @error names the element and line
 */
gboolean
vb_domain_tune_parse(xmlNode *root, VbDomainTune **out_tune, GError **error)
{
    g_autoptr(VbDomainTune) t = vb_domain_tune_new();
    xmlNode *resource = vb_xml_child(root, "resource");
    xmlNode *part = resource != NULL ? vb_xml_child(resource, "partition") : NULL;

    if (!parse_children(t, vb_xml_child(root, "memtune"), VB_TUNE_HARD_LIMIT,
                        VB_TUNE_MIN_GUARANTEE, error) ||
        !parse_children(t, vb_xml_child(root, "cputune"), VB_TUNE_SHARES,
                        VB_TUNE_IOTHREAD_QUOTA, error) ||
        !parse_children(t, vb_xml_child(root, "blkiotune"), VB_TUNE_BLKIO_WEIGHT,
                        VB_TUNE_BLKIO_WEIGHT, error))
        return FALSE;
    if (part != NULL) {
        g_autofree char *text = vb_xml_text(part);
        g_autoptr(GError) local = NULL;

        t->partition = g_strdup(text != NULL ? g_strstrip(text) : "");
        t->partition_line = xmlGetLineNo(part);
        if (!vb_tune_partition_check(t->partition, &local)) {
            vb_set_error_line(error, VB_ERROR_INVALID_ARG, part, "%s", local->message);
            return FALSE;
        }
    }
    if (!vb_domain_tune_validate(t, error))
        return FALSE;
    *out_tune = g_steal_pointer(&t);
    return TRUE;
}

/**
 * vb_domain_def_get_tune:
 *
 * Returns: (transfer none): the tuning view of @def (empty when it has none); valid as long
 *   as @def
 */
const VbDomainTune *
vb_domain_def_get_tune(const VbDomainDef *def)
{
    return def->priv->tune;
}

/** vb_domain_tune_partition: the partition, "/machine" when not given */
const char *
vb_domain_tune_partition(const VbDomainTune *tune)
{
    return tune->partition != NULL ? tune->partition : "/machine";
}

static void
fmt_item(GString *buf, const VbDomainTune *t, VbTuneItem item, int level)
{
    if (!VB_TUNE_HAS(t, item))
        return;
    vb_fmt_indent(buf, level);
    if (item <= VB_TUNE_MIN_GUARANTEE)
        g_string_append_printf(buf, "<%s unit='KiB'>", item_elements[item]);
    else
        g_string_append_printf(buf, "<%s>", item_elements[item]);
    g_string_append_printf(buf, "%" G_GINT64_FORMAT "</%s>\n", t->v[item], item_elements[item]);
}

static void
fmt_dev_value(GString *buf, const char *name, guint64 v, int level)
{
    if (v == 0)
        return;
    vb_fmt_indent(buf, level);
    g_string_append_printf(buf, "<%s>%" G_GUINT64_FORMAT "</%s>\n", name, v, name);
}

static void
fmt_blkiotune(const VbDomainTune *t, GString *buf, int level)
{
    if (!VB_TUNE_HAS(t, VB_TUNE_BLKIO_WEIGHT) && t->devices->len == 0)
        return;
    vb_fmt_indent(buf, level);
    g_string_append(buf, "<blkiotune>\n");
    fmt_item(buf, t, VB_TUNE_BLKIO_WEIGHT, level + 1);
    for (guint i = 0; i < t->devices->len; i++) {
        const VbBlkioDevice *d = g_ptr_array_index(t->devices, i);

        if (d->weight == 0 && d->read_bytes_sec == 0 && d->write_bytes_sec == 0 &&
            d->read_iops_sec == 0 && d->write_iops_sec == 0)
            continue;
        vb_fmt_indent(buf, level + 1);
        g_string_append(buf, "<device>\n");
        vb_fmt_text_elem(buf, level + 2, "path", d->path);
        fmt_dev_value(buf, "weight", d->weight, level + 2);
        fmt_dev_value(buf, "read_iops_sec", d->read_iops_sec, level + 2);
        fmt_dev_value(buf, "write_iops_sec", d->write_iops_sec, level + 2);
        fmt_dev_value(buf, "read_bytes_sec", d->read_bytes_sec, level + 2);
        fmt_dev_value(buf, "write_bytes_sec", d->write_bytes_sec, level + 2);
        vb_fmt_indent(buf, level + 1);
        g_string_append(buf, "</device>\n");
    }
    vb_fmt_indent(buf, level);
    g_string_append(buf, "</blkiotune>\n");
}

/**
 * vb_domain_tune_format:
 * @level: indentation level of the elements
 *
 * Appends <blkiotune>, <memtune> and <cputune> with the scalar items of @tune (not the
 * pins), in libvirt's order, as libvirt writes them. Nothing for empty parts.
 */
void
vb_domain_tune_format(const VbDomainTune *t, GString *buf, int level)
{
    fmt_blkiotune(t, buf, level);
    if (t->set & 0xfu) {
        vb_fmt_indent(buf, level);
        g_string_append(buf, "<memtune>\n");
        for (guint i = VB_TUNE_HARD_LIMIT; i <= VB_TUNE_MIN_GUARANTEE; i++)
            fmt_item(buf, t, i, level + 1);
        vb_fmt_indent(buf, level);
        g_string_append(buf, "</memtune>\n");
    }
    if (t->set & (((1u << (VB_TUNE_IOTHREAD_QUOTA + 1)) - 1) & ~0xfu)) {
        vb_fmt_indent(buf, level);
        g_string_append(buf, "<cputune>\n");
        for (guint i = VB_TUNE_SHARES; i <= VB_TUNE_IOTHREAD_QUOTA; i++)
            fmt_item(buf, t, i, level + 1);
        vb_fmt_indent(buf, level);
        g_string_append(buf, "</cputune>\n");
    }
}

static void
drop_node(xmlNode *n)
{
    xmlUnlinkNode(n);
    xmlFreeNode(n);
}

/* moves the children of @from (parsed from our own format) into @doc's <domain> */
static void
graft(xmlDoc *doc, xmlNode *root, xmlNode *from)
{
    static const char *const before_blkiotune[] = {
        "name", "uuid", "genid", "title", "description", "metadata", "maxMemory", "memory",
        "currentMemory", NULL };
    static const char *const before_memtune[] = {
        "name", "uuid", "genid", "title", "description", "metadata", "maxMemory", "memory",
        "currentMemory", "blkiotune", NULL };
    static const char *const before_cputune[] = {
        "name", "uuid", "genid", "title", "description", "metadata", "maxMemory", "memory",
        "currentMemory", "blkiotune", "memtune", "memoryBacking", "vcpu", "vcpus", "iothreads",
        "iothreadids", "defaultiothread", NULL };

    for (xmlNode *n = from->children; n != NULL; n = n->next) {
        xmlNode *copy, *place;

        if (n->type != XML_ELEMENT_NODE)
            continue;
        copy = xmlDocCopyNode(n, doc, 1);
        if (vb_xml_is(n, "cputune")) {
            xmlNode *ct = vb_xml_child(root, "cputune");
            xmlNode *first;

            if (ct == NULL)
                ct = vb_xml_insert_child(root, "cputune", before_cputune);
            /* the scalars come before the pins */
            first = ct->children;
            for (xmlNode *c = copy->children; c != NULL;) {
                xmlNode *next = c->next;

                xmlUnlinkNode(c);
                if (first != NULL)
                    xmlAddPrevSibling(first, c);
                else
                    xmlAddChild(ct, c);
                c = next;
            }
            xmlFreeNode(copy);
            continue;
        }
        place = vb_xml_insert_child(root, (const char *)n->name,
                                    vb_xml_is(n, "memtune") ? before_memtune : before_blkiotune);
        xmlReplaceNode(place, copy);
        xmlFreeNode(place);
    }
}

/**
 * vb_domain_def_with_tune:
 * @tune: the new <memtune>, <blkiotune> and <cputune> scalars (pins and the rest of
 *   <cputune>, and <resource>, stay)
 *
 * Returns: (transfer full): a copy of @def with them, or %NULL with @error
 */
VbDomainDef *
vb_domain_def_with_tune(const VbDomainDef *def, const VbDomainTune *tune, GError **error)
{
    g_autofree char *xml = NULL;
    g_autoptr(GString) frag = g_string_new("<tune>\n");
    xmlDoc *doc, *fdoc;
    xmlNode *root, *ct, *next;
    xmlChar *out = NULL;
    int len = 0;
    VbDomainDef *copy;

    if (!vb_domain_tune_validate(tune, error))
        return NULL;
    xml = vb_domain_def_format(def, VB_DOMAIN_DEF_FORMAT_SECURE, error);
    if (xml == NULL)
        return NULL;
    vb_domain_tune_format(tune, frag, 1);
    g_string_append(frag, "</tune>\n");
    doc = xmlReadMemory(xml, (int)strlen(xml), "domain.xml", NULL, XML_PARSE_NONET);
    fdoc = xmlReadMemory(frag->str, (int)frag->len, "tune.xml", NULL,
                         XML_PARSE_NONET | XML_PARSE_NOBLANKS);
    root = doc != NULL ? xmlDocGetRootElement(doc) : NULL;
    if (root == NULL || fdoc == NULL) {
        xmlFreeDoc(doc);
        xmlFreeDoc(fdoc);
        g_set_error(error, VB_ERROR, VB_ERROR_FAILED, "cannot read back the definition");
        return NULL;
    }
    if (vb_xml_child(root, "memtune") != NULL)
        drop_node(vb_xml_child(root, "memtune"));
    if (vb_xml_child(root, "blkiotune") != NULL)
        drop_node(vb_xml_child(root, "blkiotune"));
    ct = vb_xml_child(root, "cputune");
    for (xmlNode *c = ct != NULL ? ct->children : NULL; c != NULL; c = next) {
        next = c->next;
        if (c->type == XML_ELEMENT_NODE && g_strv_contains(cputune_scalars, (char *)c->name))
            drop_node(c);
    }
    graft(doc, root, xmlDocGetRootElement(fdoc));
    xmlFreeDoc(fdoc);
    ct = vb_xml_child(root, "cputune");
    if (ct != NULL && xmlFirstElementChild(ct) == NULL)
        drop_node(ct);
    xmlDocDumpMemory(doc, &out, &len);
    xmlFreeDoc(doc);
    copy = vb_domain_def_parse_string((const char *)out, 0, error);
    xmlFree(out);
    return copy;
}
