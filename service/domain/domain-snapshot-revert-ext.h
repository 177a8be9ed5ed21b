/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

#include "domain-list.h"
#include "snapshot-def.h"
#include "snapshot-store.h"

G_BEGIN_DECLS

/* Reverts to external snapshots (issue 15, extrevert; domain-snapshot-revert-ext.c). With
 * the domain's job held (the nested job of the async job `snapshot`); worker threads. */
gboolean vb_snapshot_revert_ext_check(VbDomainObj *dom, const VbSnapshotDef *snap,
                                      guint flags, GError **error);
gboolean vb_snapshot_revert_ext_run(VbDomainList *list, VbDomainObj *dom,
                                    VbSnapshotStore *store, const char *name, guint flags,
                                    GError **error);
gboolean vb_snapshot_revert_ext_check_delete(VbSnapshotStore *store, const VbSnapshotDef *snap,
                                             GError **error);

G_END_DECLS
