/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

#include "domain-list.h"
#include "snapshot-def.h"

G_BEGIN_DECLS

/* External snapshots with memory (issue 15, part extmem; domain-snapshot-memory.c). */

typedef struct _VbSnapshotMemory VbSnapshotMemory;

VbSnapshotMemory *vb_snapshot_memory_prepare(const VbSnapshotDef *snap, const VbDomainDef *def,
                                             gboolean live, GError **error);
void vb_snapshot_memory_free(VbSnapshotMemory *m);
gboolean vb_snapshot_memory_save(VbDomainList *list, VbDomainObj *dom, VbJob *job,
                                 VbSnapshotMemory *m, GError **error);
gboolean vb_snapshot_memory_was_running(const VbSnapshotMemory *m);
void vb_snapshot_memory_finish(VbDomainList *list, VbDomainObj *dom, VbSnapshotMemory *m,
                               gboolean ok, gboolean halt);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(VbSnapshotMemory, vb_snapshot_memory_free)

G_END_DECLS
