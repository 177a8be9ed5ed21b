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
int vb_save_image_open_read(const char *path, GError **error);

/* Where a save image or dump is written for a caller (domain-save-image.c). */
typedef struct {
    int dir_fd;          /* O_PATH descriptor of the target's directory */
    char *path;          /* the target, as the caller gave it */
    char *base;          /* its name in dir_fd */
    guint32 uid;         /* the caller's */
    char *temp_name;     /* nullable: the temporary file in dir_fd */
    char *temp_path;     /* nullable: its path, for the recovery record */
    char *picked_name;   /* nullable: the name vb_save_target_pick_temp() chose */
    gboolean no_replace; /* commit never replaces a file (a snapshot's memory file) */
} VbSaveTarget;

gboolean vb_save_target_open(VbSaveTarget *t, const char *path, guint32 uid, GError **error);
gboolean vb_save_target_check(VbSaveTarget *t, GError **error);
void vb_save_target_pick_temp(VbSaveTarget *t);
int vb_save_target_create_temp(VbSaveTarget *t, GError **error);
gboolean vb_save_target_commit(VbSaveTarget *t, GError **error);
void vb_save_target_discard(VbSaveTarget *t);
void vb_save_target_forget_temp(VbSaveTarget *t);
void vb_save_target_clear(VbSaveTarget *t);

G_END_DECLS
