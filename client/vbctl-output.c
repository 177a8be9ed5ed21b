/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <glib/gi18n.h>
#include <string.h>

#include "vbctl-output.h"

struct _VbctlTable {
    guint n_columns;
    GPtrArray *rows; /* of GStrv; row 0 holds the headers */
};

/**
 * vbctl_domain_info_new:
 * @domain: a Domain proxy with its properties cached
 *
 * Returns: (transfer full): a copy of the properties the client prints;
 * missing string properties read as "".
 */
VbctlDomainInfo *
vbctl_domain_info_new(VbDBusDomain *domain)
{
    VbctlDomainInfo *info = g_new0(VbctlDomainInfo, 1);

    info->name = g_strdup(vb_dbus_domain_get_name(domain) ?: "");
    info->uuid = g_strdup(vb_dbus_domain_get_uuid(domain) ?: "");
    info->id = vb_dbus_domain_get_id(domain);
    info->state = g_strdup(vb_dbus_domain_get_state(domain) ?: "");
    info->reason = g_strdup(vb_dbus_domain_get_state_reason(domain) ?: "");
    info->active = vb_dbus_domain_get_active(domain);
    info->persistent = vb_dbus_domain_get_persistent(domain);
    info->autostart = vb_dbus_domain_get_autostart(domain);
    info->managed_save = vb_dbus_domain_get_has_managed_save(domain);
    info->memory_kib = vb_dbus_domain_get_memory(domain);
    info->vcpus = vb_dbus_domain_get_vcpus(domain);
    info->autodestroy_owner = g_strdup(vb_dbus_domain_get_autodestroy_owner(domain) ?: "");
    info->tainted = vb_dbus_domain_dup_tainted(domain);
    if (info->tainted == NULL)
        info->tainted = g_new0(char *, 1);
    info->unsupported = vb_dbus_domain_dup_unsupported(domain);
    if (info->unsupported == NULL)
        info->unsupported = g_new0(char *, 1);
    return info;
}

/**
 * vbctl_domain_info_free:
 */
void
vbctl_domain_info_free(VbctlDomainInfo *info)
{
    if (info == NULL)
        return;
    g_free(info->name);
    g_free(info->uuid);
    g_free(info->state);
    g_free(info->reason);
    g_free(info->autodestroy_owner);
    g_strfreev(info->tainted);
    g_strfreev(info->unsupported);
    g_free(info);
}

/**
 * vbctl_domain_info_to_json:
 *
 * Returns: (transfer full): the JSON object scripts get from list and info.
 * The field names are a stable interface: only add to them.
 */
JsonNode *
vbctl_domain_info_to_json(const VbctlDomainInfo *info)
{
    g_autoptr(JsonBuilder) b = json_builder_new();

    json_builder_begin_object(b);
    json_builder_set_member_name(b, "name");
    json_builder_add_string_value(b, info->name);
    json_builder_set_member_name(b, "uuid");
    json_builder_add_string_value(b, info->uuid);
    json_builder_set_member_name(b, "id");
    if (info->id >= 0)
        json_builder_add_int_value(b, info->id);
    else
        json_builder_add_null_value(b);
    json_builder_set_member_name(b, "state");
    json_builder_add_string_value(b, info->state);
    json_builder_set_member_name(b, "reason");
    json_builder_add_string_value(b, info->reason);
    json_builder_set_member_name(b, "persistent");
    json_builder_add_boolean_value(b, info->persistent);
    json_builder_set_member_name(b, "autostart");
    json_builder_add_boolean_value(b, info->autostart);
    json_builder_set_member_name(b, "memory_kib");
    json_builder_add_int_value(b, (gint64)info->memory_kib);
    json_builder_set_member_name(b, "vcpus");
    json_builder_add_int_value(b, info->vcpus);
    json_builder_set_member_name(b, "autodestroy_owner");
    json_builder_add_string_value(b, info->autodestroy_owner);
    json_builder_set_member_name(b, "tainted");
    json_builder_begin_array(b);
    for (guint i = 0; info->tainted[i] != NULL; i++)
        json_builder_add_string_value(b, info->tainted[i]);
    json_builder_end_array(b);
    json_builder_set_member_name(b, "unsupported");
    json_builder_begin_array(b);
    for (guint i = 0; info->unsupported[i] != NULL; i++)
        json_builder_add_string_value(b, info->unsupported[i]);
    json_builder_end_array(b);
    json_builder_end_object(b);
    return json_builder_get_root(b);
}

/**
 * vbctl_print_json:
 * @node: (transfer none): what to print, pretty-printed, on stdout
 */
void
vbctl_print_json(JsonNode *node)
{
    g_autoptr(JsonGenerator) gen = json_generator_new();
    g_autofree char *text = NULL;

    json_generator_set_pretty(gen, TRUE);
    json_generator_set_indent(gen, 2);
    json_generator_set_root(gen, node);
    text = json_generator_to_data(gen, NULL);
    g_print("%s\n", text);
}

/**
 * vbctl_table_new:
 * @headers: @n_columns column titles
 *
 * Returns: (transfer full): an empty table.
 */
VbctlTable *
vbctl_table_new(guint n_columns, const char *const *headers)
{
    VbctlTable *table = g_new0(VbctlTable, 1);

    table->n_columns = n_columns;
    table->rows = g_ptr_array_new_with_free_func((GDestroyNotify)g_strfreev);
    vbctl_table_add_row(table, headers);
    return table;
}

/**
 * vbctl_table_add_row:
 * @cells: the table's number of cells; %NULL cells print empty
 */
void
vbctl_table_add_row(VbctlTable *table, const char *const *cells)
{
    char **row = g_new0(char *, table->n_columns + 1);

    for (guint i = 0; i < table->n_columns; i++)
        row[i] = g_strdup(cells[i] ?: "");
    g_ptr_array_add(table->rows, row);
}

static void
append_padded(GString *out, const char *text, gsize width)
{
    gsize len = g_utf8_strlen(text, -1);

    g_string_append(out, text);
    for (; len < width; len++)
        g_string_append_c(out, ' ');
}

/**
 * vbctl_table_format:
 *
 * Formats the table as virsh does: a header, a rule, one line per row,
 * columns left-aligned to their widest cell and three spaces apart. The
 * last column is not padded, so lines carry no trailing blanks.
 *
 * Returns: (transfer full): the text, ending in a newline.
 */
char *
vbctl_table_format(const VbctlTable *table)
{
    g_autofree gsize *widths = g_new0(gsize, table->n_columns);
    GString *out = g_string_new(NULL);
    gsize total = 1;

    for (guint r = 0; r < table->rows->len; r++) {
        char **row = g_ptr_array_index(table->rows, r);
        for (guint c = 0; c < table->n_columns; c++)
            widths[c] = MAX(widths[c], (gsize)g_utf8_strlen(row[c], -1));
    }
    for (guint c = 0; c < table->n_columns; c++)
        total += widths[c] + (c + 1 < table->n_columns ? 3 : 1);
    for (guint r = 0; r < table->rows->len; r++) {
        char **row = g_ptr_array_index(table->rows, r);
        g_string_append_c(out, ' ');
        for (guint c = 0; c < table->n_columns; c++) {
            if (c + 1 < table->n_columns) {
                append_padded(out, row[c], widths[c] + 3);
            } else {
                g_string_append(out, row[c]);
            }
        }
        g_string_append_c(out, '\n');
        if (r == 0) {
            for (gsize i = 0; i < total; i++)
                g_string_append_c(out, '-');
            g_string_append_c(out, '\n');
        }
    }
    return g_string_free(out, FALSE);
}

/**
 * vbctl_table_free:
 */
void
vbctl_table_free(VbctlTable *table)
{
    if (table == NULL)
        return;
    g_ptr_array_unref(table->rows);
    g_free(table);
}

/**
 * vbctl_format_fields:
 * @labels: %NULL-terminated labels (without the colon)
 * @values: as many values
 *
 * Formats "Label:   value" lines with the values aligned, as virsh dominfo.
 *
 * Returns: (transfer full): the text.
 */
char *
vbctl_format_fields(const char *const *labels, const char *const *values)
{
    GString *out = g_string_new(NULL);
    gsize width = 0;

    for (guint i = 0; labels[i] != NULL; i++)
        width = MAX(width, (gsize)g_utf8_strlen(labels[i], -1) + 1);
    for (guint i = 0; labels[i] != NULL; i++) {
        g_autofree char *label = g_strconcat(labels[i], ":", NULL);
        append_padded(out, label, width + 1);
        g_string_append_printf(out, "%s\n", values[i] ?: "");
    }
    return g_string_free(out, FALSE);
}

/**
 * vbctl_xml_attr:
 *
 * Returns: (nullable): the value of attribute @name of a GMarkup start element
 */
const char *
vbctl_xml_attr(const char **names, const char **values, const char *name)
{
    for (guint i = 0; names[i] != NULL; i++) {
        if (strcmp(names[i], name) == 0)
            return values[i];
    }
    return NULL;
}

static void
xml_scan_end(GMarkupParseContext *pc, const char *element, gpointer data, GError **error)
{
    VbctlXmlScan *s = data;

    if (s->cur != NULL && s->depth == s->item_depth) {
        for (guint i = 0; i < s->n_cols; i++) {
            if (s->cur[i] == NULL)
                s->cur[i] = g_strdup(s->fill[i]);
        }
        g_ptr_array_add(s->rows, s->cur);
        s->cur = NULL;
    }
    s->depth--;
}

/**
 * vbctl_xml_scan_rows:
 * @xml: a domain's XML
 * @start: fills a VbctlXmlScan's row (see the type)
 * @n_cols: cells per row
 * @fill: per column, what a cell nothing filled shows
 *
 * Returns: (transfer full) (element-type GStrv) (nullable): the rows, in document order
 */
GPtrArray *
vbctl_xml_scan_rows(const char *xml, VbctlXmlStartFunc start, guint n_cols,
                    const char *const *fill, GError **error)
{
    const GMarkupParser parser = { start, xml_scan_end, NULL, NULL, NULL };
    VbctlXmlScan s = { g_ptr_array_new_with_free_func((GDestroyNotify)g_strfreev),
                       NULL,
                       0,
                       0,
                       n_cols,
                       fill };
    g_autoptr(GMarkupParseContext) pc = g_markup_parse_context_new(&parser, 0, &s, NULL);

    if (!g_markup_parse_context_parse(pc, xml, -1, error) ||
        !g_markup_parse_context_end_parse(pc, error)) {
        g_strfreev(s.cur);
        g_ptr_array_unref(s.rows);
        return NULL;
    }
    return s.rows;
}

/**
 * vbctl_print_rows:
 * @headers: the column headers, untranslated (N_())
 * @first: the first column printed
 * @rows: (element-type GStrv): rows of @n_headers cells
 *
 * Prints columns @first.. of @rows as a table under the translated headers.
 */
void
vbctl_print_rows(const char *const *headers, guint n_headers, guint first, GPtrArray *rows)
{
    g_autofree const char **translated = g_new0(const char *, n_headers);
    g_autoptr(VbctlTable) table = NULL;
    g_autofree char *text = NULL;

    for (guint i = 0; i < n_headers; i++)
        translated[i] = _(headers[i]);
    table = vbctl_table_new(n_headers - first, translated + first);
    for (guint i = 0; i < rows->len; i++)
        vbctl_table_add_row(table, (const char *const *)g_ptr_array_index(rows, i) + first);
    text = vbctl_table_format(table);
    g_print("%s", text);
}
