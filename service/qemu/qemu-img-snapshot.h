/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

#include "domain-def.h"

G_BEGIN_DECLS

/*
 * Internal snapshots of the qcow2 disks of an inactive domain, taken with
 * `qemu-img snapshot` (issue 15, part qemuimg). See docs/snapshots-qemu-img.md.
 *
 * Every call that runs qemu-img blocks (each run bounded by a timeout): call them from a
 * job's worker thread with no domain lock held, never from the main thread.
 */

/* One disk whose top image takes the snapshot. */
typedef struct {
    char *target; /* <target dev=>: "vda" */
    char *path;   /* the top image of its chain (internal snapshots never go below it) */
    gboolean block; /* a block device (type='block'), not a file */
} VbQemuImgDisk;

VbQemuImgDisk *vb_qemu_img_disk_new(const char *target, const char *path, gboolean block);
void vb_qemu_img_disk_free(VbQemuImgDisk *disk);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VbQemuImgDisk, vb_qemu_img_disk_free)

/* One internal snapshot of an image, as `qemu-img info --output=json` lists it. */
typedef struct {
    char *id;   /* qcow2's snapshot id ("1", "2", ...), unique in the image */
    char *name; /* the tag; qcow2 itself does not keep tags unique */
    gint64 date_sec;
    guint64 vm_state_size; /* bytes of VM state: 0 for a disk-only snapshot */
    guint64 vm_clock_nsec;
} VbQemuImgSnapshot;

void vb_qemu_img_snapshot_free(VbQemuImgSnapshot *snap);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VbQemuImgSnapshot, vb_qemu_img_snapshot_free)

gboolean vb_qemu_img_snapshot_name_validate(const char *name, GError **error);

GPtrArray *vb_qemu_img_snapshot_disks(const VbDomainDef *def, const char *const *skip,
                                      GError **error);
GPtrArray *vb_qemu_img_snapshot_list(const VbQemuImgDisk *disk, GError **error);
gboolean vb_qemu_img_snapshot_create(GPtrArray *disks, const char *name, GError **error);
gboolean vb_qemu_img_snapshot_apply(GPtrArray *disks, const char *name, GError **error);
gboolean vb_qemu_img_snapshot_delete(GPtrArray *disks, const char *name,
                                     gboolean ignore_missing, GError **error);

/* for tests: the bound on one qemu-img run (default 300 s); 0 restores the default */
gboolean vb_qemu_img_create_overlay(const VbQemuImgDisk *disk, const char *backing,
                                    const char *backing_format, guint64 size, GError **error);
gboolean vb_qemu_img_create(const VbQemuImgDisk *disk, const char *format, guint64 size,
                            GError **error);
gboolean vb_qemu_img_commit(const VbQemuImgDisk *disk, GError **error);
gboolean vb_qemu_img_rebase_unsafe(const VbQemuImgDisk *disk, const char *backing,
                                   const char *backing_format, GError **error);
GPtrArray *vb_qemu_img_backing_chain(const VbQemuImgDisk *disk, GPtrArray **out_formats,
                                     GError **error);

void vb_qemu_img_snapshot_set_timeout_ms(guint timeout_ms);

G_END_DECLS
