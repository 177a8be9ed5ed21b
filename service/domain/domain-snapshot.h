/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

#include "domain-list.h"

G_BEGIN_DECLS

/*
 * Snapshots of a domain (issue 15): the domain's VbSnapshotStore, loaded under the domain's
 * job; internal snapshots taken, reverted and deleted with qemu-img (qemu-img-snapshot.c)
 * or the running QEMU (domain-snapshot-live.c); SnapshotCreateXML and Revert as async jobs
 * `snapshot`. Worker threads only.
 */

/* libvirt's virDomainSnapshotCreateFlags */
typedef enum {
    VB_SNAPSHOT_CREATE_REDEFINE = 1 << 0,
    VB_SNAPSHOT_CREATE_CURRENT = 1 << 1,
    VB_SNAPSHOT_CREATE_NO_METADATA = 1 << 2,
    VB_SNAPSHOT_CREATE_HALT = 1 << 3,
    VB_SNAPSHOT_CREATE_DISK_ONLY = 1 << 4,
    VB_SNAPSHOT_CREATE_REUSE_EXT = 1 << 5,
    VB_SNAPSHOT_CREATE_QUIESCE = 1 << 6,
    VB_SNAPSHOT_CREATE_ATOMIC = 1 << 7,
    VB_SNAPSHOT_CREATE_LIVE = 1 << 8,
    VB_SNAPSHOT_CREATE_VALIDATE = 1 << 9,
} VbSnapshotCreateFlags;

/* libvirt's virDomainSnapshotRevertFlags */
typedef enum {
    VB_SNAPSHOT_REVERT_RUNNING = 1 << 0,
    VB_SNAPSHOT_REVERT_PAUSED = 1 << 1,
    VB_SNAPSHOT_REVERT_FORCE = 1 << 2,
    VB_SNAPSHOT_REVERT_RESET_NVRAM = 1 << 3,
} VbSnapshotRevertFlags;

/* libvirt's virDomainSnapshotDeleteFlags */
typedef enum {
    VB_SNAPSHOT_DELETE_CHILDREN = 1 << 0,
    VB_SNAPSHOT_DELETE_METADATA_ONLY = 1 << 1,
    VB_SNAPSHOT_DELETE_CHILDREN_ONLY = 1 << 2,
} VbSnapshotDeleteFlags;

/* libvirt's virDomainSnapshotListFlags */
typedef enum {
    VB_SNAPSHOT_LIST_ROOTS = 1 << 0,
    VB_SNAPSHOT_LIST_METADATA = 1 << 1,
    VB_SNAPSHOT_LIST_LEAVES = 1 << 2,
    VB_SNAPSHOT_LIST_NO_LEAVES = 1 << 3,
    VB_SNAPSHOT_LIST_NO_METADATA = 1 << 4,
    VB_SNAPSHOT_LIST_INACTIVE = 1 << 5,
    VB_SNAPSHOT_LIST_ACTIVE = 1 << 6,
    VB_SNAPSHOT_LIST_DISK_ONLY = 1 << 7,
    VB_SNAPSHOT_LIST_INTERNAL = 1 << 8,
    VB_SNAPSHOT_LIST_EXTERNAL = 1 << 9,
    VB_SNAPSHOT_LIST_TOPOLOGICAL = 1 << 10,
} VbSnapshotListFlags;
#define VB_SNAPSHOT_LIST_ALL_FLAGS 0x7ffu

/* One snapshot as the bus shows it. */
typedef struct {
    char *name;
    char *parent;   /* nullable */
    gboolean current;
    gint64 creation_time;
    char *state;    /* "shutoff", "disk-snapshot", ... */
    gboolean external;
    guint n_children;
} VbSnapshotInfo;

void vb_snapshot_info_free(VbSnapshotInfo *info);

/* every function returns, in @out_infos (nullable), all snapshots after the call, each
 * after its parent */
gboolean vb_domain_snapshot_query(VbDomainList *list, VbDomainObj *dom, GPtrArray **out_infos,
                                  GError **error);
/* On the job's thread, before the job completes: hands the snapshots after the job's work
 * (@infos taken, nullable) to the bus. Returns (transfer full) the object path of snapshot
 * @name (nullable: on failure), or NULL. */
typedef char *(*VbSnapshotPublishFunc)(VbDomainObj *dom, GPtrArray *infos, const char *name,
                                       gpointer user_data);
VbJob *vb_domain_snapshot_create(VbDomainList *list, VbDomainObj *dom, const char *xml,
                                 guint flags, const char *owner, VbSnapshotPublishFunc publish,
                                 gpointer user_data, GError **error);
char *vb_domain_snapshot_get_xml(VbDomainList *list, VbDomainObj *dom, const char *name,
                                 guint flags, GError **error);
VbJob *vb_domain_snapshot_revert(VbDomainList *list, VbDomainObj *dom, const char *name,
                                 guint flags, const char *owner, VbSnapshotPublishFunc publish,
                                 gpointer user_data, GError **error);
gboolean vb_domain_snapshot_delete(VbDomainList *list, VbDomainObj *dom, const char *name,
                                   guint flags, GPtrArray **out_infos, GError **error);
gboolean vb_domain_snapshot_undefine(VbDomainList *list, VbDomainObj *dom, gboolean remove,
                                     GPtrArray **out_infos, GError **error);

typedef void (*VbSnapshotLoadedFunc)(VbDomainObj *dom, GPtrArray *infos, gpointer user_data);
void vb_domain_snapshot_load_all(VbDomainList *list, VbSnapshotLoadedFunc done,
                                 gpointer user_data);

G_END_DECLS
