/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "vbctl.h"

G_BEGIN_DECLS

typedef struct _VbctlMigrateFollow VbctlMigrateFollow;

/* One run of `virtbusctl migrate`: its interrupts and the job it follows. */
typedef struct {
    VbctlContext *ctx;
    const char *domain_name;
    guint n_interrupts;         /* SIGINT/SIGTERM seen */
    VbctlMigrateFollow *follow; /* the job being followed, NULL between phases */
    guint signal_ids[2];
} VbctlMigrateRun;

void vbctl_migrate_run_init(VbctlMigrateRun *run, VbctlContext *ctx, const char *domain_name);
void vbctl_migrate_run_clear(VbctlMigrateRun *run);
gboolean vbctl_migrate_run_interrupted(VbctlMigrateRun *run);
GVariant *vbctl_migrate_follow_job(VbctlMigrateRun *run, VbDBusDomain *source, const char *job_path,
                                   GError **error);
void vbctl_migrate_strip_remote(GError *error);

G_END_DECLS
