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

char *vbctl_format_fields(const char *const *labels, const char *const *values);
void vbctl_print_json(JsonNode *node);

G_END_DECLS
