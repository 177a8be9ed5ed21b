/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

#include "vb-dbus-generated.h"

G_BEGIN_DECLS

/* A snapshot of one domain's properties, as printed by list and info. */
typedef struct {
    char *name;
    char *uuid;
    gint id;
    char *state;
    char *reason;
    gboolean active;
    gboolean persistent;
    gboolean autostart;
    gboolean managed_save;
    guint64 memory_kib;
    guint vcpus;
    char *autodestroy_owner; /* "" when none */
    char **tainted;          /* never NULL */
    char **unsupported;      /* never NULL */
} VbctlDomainInfo;

VbctlDomainInfo *vbctl_domain_info_new(VbDBusDomain *domain);
void vbctl_domain_info_free(VbctlDomainInfo *info);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VbctlDomainInfo, vbctl_domain_info_free)
JsonNode *vbctl_domain_info_to_json(const VbctlDomainInfo *info);

typedef struct _VbctlTable VbctlTable;

VbctlTable *vbctl_table_new(guint n_columns, const char *const *headers);
void vbctl_table_add_row(VbctlTable *table, const char *const *cells);
char *vbctl_table_format(const VbctlTable *table);
void vbctl_table_free(VbctlTable *table);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VbctlTable, vbctl_table_free)

/* Rows of a domain XML's device elements (domiflist, domblklist; issue 13, part misc):
 * the start function makes @cur (@n_cols + 1 cells) at the item's element, records its
 * depth in @item_depth and fills cells; at the item's end the missing cells get @fill. */
typedef struct {
    GPtrArray *rows; /* GStrv per item */
    char **cur;      /* the item being read, or NULL */
    int depth;       /* of the current element */
    int item_depth;  /* of the item's element */
    guint n_cols;
    const char *const *fill; /* per column, what a missing cell shows */
} VbctlXmlScan;

typedef void (*VbctlXmlStartFunc)(GMarkupParseContext *pc, const char *element,
                                  const char **names, const char **values, gpointer data,
                                  GError **error);
GPtrArray *vbctl_xml_scan_rows(const char *xml, VbctlXmlStartFunc start,
                               guint n_cols, const char *const *fill, GError **error);
const char *vbctl_xml_attr(const char **names, const char **values, const char *name);
void vbctl_print_rows(const char *const *headers, guint n_headers, guint first,
                      GPtrArray *rows);

char *vbctl_format_fields(const char *const *labels, const char *const *values);
void vbctl_print_json(JsonNode *node);

G_END_DECLS
