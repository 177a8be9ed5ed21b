/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

#include "snapshot-def.h"

G_BEGIN_DECLS

/*
 * One domain's snapshots on disk (issue 15, part snapxml): <snapshot dir>/<uuid>/<name>.xml,
 * each the libvirt-style internal copy (with <active>), written atomically. In memory a
 * tree by <parent>. Not thread-safe: the caller serializes (the domain's job). Blocking
 * file I/O: call from a worker thread. See docs/snapshots.md.
 */

typedef struct _VbSnapshotStore VbSnapshotStore;

typedef enum {
    VB_SNAPSHOT_REMOVE_CHILDREN = 1 << 0, /* remove the whole subtree */
} VbSnapshotRemoveFlags;

char *vb_snapshot_store_dir(const char *snapshot_root, const char *domain_uuid);
VbSnapshotStore *vb_snapshot_store_load(const char *snapshot_root, const char *domain_uuid,
                                        GError **error);
void vb_snapshot_store_free(VbSnapshotStore *store);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VbSnapshotStore, vb_snapshot_store_free)

guint vb_snapshot_store_count(const VbSnapshotStore *store);
const VbSnapshotDef *vb_snapshot_store_lookup(const VbSnapshotStore *store, const char *name);
const char *vb_snapshot_store_get_current(const VbSnapshotStore *store);
const char *const *vb_snapshot_store_get_skipped(const VbSnapshotStore *store);

gboolean vb_snapshot_store_add(VbSnapshotStore *store, VbSnapshotDef *def, gboolean make_current,
                               GError **error);
gboolean vb_snapshot_store_remove(VbSnapshotStore *store, const char *name, guint flags,
                                  GError **error);
gboolean vb_snapshot_store_remove_all(VbSnapshotStore *store, GError **error);
gboolean vb_snapshot_store_set_current(VbSnapshotStore *store, const char *name,
                                       GError **error);

GPtrArray *vb_snapshot_store_list_children(const VbSnapshotStore *store, const char *name);
GPtrArray *vb_snapshot_store_list_descendants(const VbSnapshotStore *store, const char *name);
GPtrArray *vb_snapshot_store_topological(const VbSnapshotStore *store);

G_END_DECLS
