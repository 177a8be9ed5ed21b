/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/*
 * The options of `migrate` and the `migrate-*` commands (issue 11, part
 * client). Numbers are taken as strings and checked by
 * vbctl_migrate_check_args(), which fills the typed values, so that a bad
 * number gets the same usage error as a bad option.
 */
typedef struct {
    gboolean live;
    gboolean p2p;
    gboolean direct;
    gboolean tunnelled;
    gboolean copy_storage_all;
    gboolean copy_storage_inc;
    gboolean undefinesource;
    gboolean suspend;
    gboolean offline;
    gboolean postcopy;
    gboolean postcopy_after_precopy;
    gboolean parallel;
    gboolean compressed;
    gboolean auto_converge;
    gboolean abort_on_error;
    gboolean rdma_pin_all;
    gboolean timeout_suspend;
    gboolean timeout_postcopy;
    gboolean verbose;
    gboolean wait;
    char *parallel_connections; /* --parallel-connections N */
    char *comp_methods;         /* --comp-methods LIST */
    char *bandwidth;            /* --bandwidth MiB/s */
    char *postcopy_bandwidth;   /* --postcopy-bandwidth MiB/s */
    char *migrateuri;           /* --migrateuri URI */
    char *dname;                /* --dname NAME */
    char *persistent_xml;       /* --persistent-xml FILE */
    /* filled by vbctl_migrate_check_args() */
    gint parallel_connections_value; /* 0 when not given */
    guint64 bandwidth_value;         /* MiB/s; valid when has_bandwidth */
    guint64 postcopy_bandwidth_value;
    guint64 number_arg; /* the numeric positional argument of migrate-set* */
    gboolean has_bandwidth;
    gboolean has_postcopy_bandwidth;
    char **comp_methods_value; /* NULL when not given */
} VbctlMigrateFlags;

void vbctl_migrate_flags_clear(VbctlMigrateFlags *flags);

G_END_DECLS
