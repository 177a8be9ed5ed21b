/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

#include "domain-list.h"
#include "snapshot-def.h"

G_BEGIN_DECLS

/* Reverts that start a new QEMU (domain-snapshot-start.c, issue 15). With the domain's job
 * held; worker threads. */
gboolean vb_domain_snapshot_revert_start(VbDomainList *list, VbDomainObj *dom,
                                         const VbSnapshotDef *snap, guint flags,
                                         GError **error);

/* domain-snapshot.c */
GPtrArray *vb_domain_snapshot_disks(const VbSnapshotDef *snap, const VbDomainDef *def,
                                    GError **error);

VbDomainDef *vb_snapshot_domain_copy_named(const VbDomainDef *d, const char *name,
                                           GError **error);

G_END_DECLS
