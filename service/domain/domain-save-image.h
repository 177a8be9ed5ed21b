/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/*
 * The save image (domain-save-image.c): a fixed header, the domain XML,
 * then QEMU's migration stream (raw, or zstd-compressed).
 *
 *   offset  size  field
 *   0       16    magic "VirtbusSave1", NUL-padded
 *   16      4     version (1), little endian like every field
 *   20      4     XML length in bytes, including its NUL padding
 *   24      4     flags: RUNNING (2) or PAUSED (4), the state after restore
 *   28      4     compression: 0 none, 1 zstd
 *   32      32    reserved, zero
 *   64      len   the migratable domain XML, NUL-padded to a 4 KiB boundary
 *   ...           the migration stream
 */
#define VB_SAVE_IMAGE_MAGIC "VirtbusSave1"
#define VB_SAVE_IMAGE_VERSION 1
#define VB_SAVE_IMAGE_HEADER_SIZE 64

typedef enum {
    VB_SAVE_COMPRESSION_NONE = 0,
    VB_SAVE_COMPRESSION_ZSTD = 1,
} VbSaveCompression;

typedef struct {
    guint32 version;
    guint32 flags;
    guint32 compression;
    char *xml;
    goffset data_offset; /* where the migration stream starts */
} VbSaveImageHeader;

gboolean vb_save_image_write_header(int fd, const char *xml, guint32 flags, gboolean compressed,
                                    GError **error);
gboolean vb_save_image_read_header(int fd, const char *path, VbSaveImageHeader *out,
                                   GError **error);
void vb_save_image_header_clear(VbSaveImageHeader *h);
void vb_save_image_fsync_dir(const char *path);
int vb_save_image_open_read(const char *path, GError **error);
gboolean vb_save_image_check_target(const char *path, guint32 uid, GError **error);
gboolean vb_save_image_commit(const char *temp, const char *path, guint32 uid, GError **error);

G_END_DECLS
