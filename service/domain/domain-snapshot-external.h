/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

#include "domain-list.h"
#include "snapshot-def.h"

G_BEGIN_DECLS

/* External disk snapshots (issue 15; domain-snapshot-external.c). */

/* One disk of an external snapshot. */
typedef struct {
    char *target;
    char *base;        /* the disk's image now: the overlay's backing file */
    char *base_format;
    char *overlay;     /* the new image */
    gboolean reuse;    /* REUSE_EXT: @overlay exists and is taken as it is */
    gboolean created;  /* made here: removed again when the snapshot fails */
    guint64 size;      /* running: the virtual size (the overlay's) */
    char *top_node;    /* running: the disk's top node in QEMU */
    char *fmt_node;    /* running: the overlay's nodes, once added */
    char *file_node;
    gboolean added;
    char *snapshot;    /* the snapshot's name (its journal, issue 15 part svckill) */
    char *snap_overlay; /* a revert: the overlay the snapshot made (its <disks>) */
} VbExtDisk;

gboolean vb_snapshot_external_create_overlays(GPtrArray *disks, GError **error);
void vb_snapshot_external_remove_created(GPtrArray *disks);

void vb_ext_disk_free(VbExtDisk *d);

gboolean vb_snapshot_external_wanted(const VbSnapshotDef *snap, gboolean *out_external,
                                     GError **error);
GPtrArray *vb_snapshot_external_disks(VbSnapshotDef *snap, const VbDomainDef *def,
                                      GHashTable *named, gboolean reuse, GError **error);
gboolean vb_snapshot_external_take(VbDomainList *list, VbDomainObj *dom, gboolean active,
                                   GPtrArray *disks, gboolean quiesce, const char *owner,
                                   const char *metadata, GError **error);
gboolean vb_snapshot_external_delete(VbDomainList *list, VbDomainObj *dom, gboolean active,
                                     const VbSnapshotDef *snap, GError **error);

G_END_DECLS
