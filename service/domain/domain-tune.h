/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

#include "domain-list.h"

G_BEGIN_DECLS

/*
 * Memory, scheduler and blkio parameters (issue 14, part cgroup; domain-tune.c,
 * docs/resources.md). Flags are libvirt's VIR_DOMAIN_AFFECT_*.
 */
#define VB_TUNE_LIVE (1u << 0)
#define VB_TUNE_CONFIG (1u << 1)

typedef enum {
    VB_TUNE_GROUP_MEMORY,
    VB_TUNE_GROUP_SCHEDULER,
    VB_TUNE_GROUP_BLKIO,
} VbTuneGroup;

GVariant *vb_domain_get_tune_params(VbDomainObj *dom, VbTuneGroup group, guint flags,
                                    GError **error);
gboolean vb_domain_set_tune_params(VbDomainList *list, VbDomainObj *dom, VbTuneGroup group,
                                   GVariant *params, guint flags, const char *owner,
                                   GError **error);

G_END_DECLS
