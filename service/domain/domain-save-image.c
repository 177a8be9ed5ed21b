/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define _GNU_SOURCE /* renameat2() */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "domain-save-image.h"
#include "vb-error.h"

/* The save image's header (the layout is in domain-save-image.h). */

#define XML_ALIGN 4096
#define MAX_XML (16 * 1024 * 1024)

static gboolean
write_all(int fd, const void *buf, gsize len, GError **error)
{
    const char *p = buf;

    while (len > 0) {
        gssize n = write(fd, p, len);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            g_set_error(error, VB_ERROR, VB_ERROR_IO, "cannot write the save image: %s",
                        g_strerror(errno));
            return FALSE;
        }
        p += n;
        len -= (gsize)n;
    }
    return TRUE;
}

static void
put_u32(guint8 *p, guint32 v)
{
    v = GUINT32_TO_LE(v);
    memcpy(p, &v, 4);
}

static guint32
get_u32(const guint8 *p)
{
    guint32 v;

    memcpy(&v, p, 4);
    return GUINT32_FROM_LE(v);
}

/**
 * vb_save_image_write_header:
 * @fd: the image, at offset 0
 * @flags: RUNNING (2) or PAUSED (4)
 *
 * Writes the header and the XML; leaves @fd where the stream starts.
 */
gboolean
vb_save_image_write_header(int fd, const char *xml, guint32 flags, gboolean compressed,
                           GError **error)
{
    guint8 header[VB_SAVE_IMAGE_HEADER_SIZE] = { 0 };
    gsize xml_len = strlen(xml) + 1;
    gsize padded = ((VB_SAVE_IMAGE_HEADER_SIZE + xml_len + XML_ALIGN - 1) / XML_ALIGN) *
                       XML_ALIGN - VB_SAVE_IMAGE_HEADER_SIZE;
    g_autofree char *body = g_malloc0(padded);

    memcpy(header, VB_SAVE_IMAGE_MAGIC, strlen(VB_SAVE_IMAGE_MAGIC));
    put_u32(header + 16, VB_SAVE_IMAGE_VERSION);
    put_u32(header + 20, (guint32)padded);
    put_u32(header + 24, flags);
    put_u32(header + 28, compressed ? VB_SAVE_COMPRESSION_ZSTD : VB_SAVE_COMPRESSION_NONE);
    memcpy(body, xml, xml_len);
    return write_all(fd, header, sizeof(header), error) && write_all(fd, body, padded, error);
}

static gboolean
read_all(int fd, void *buf, gsize len, const char *path, GError **error)
{
    char *p = buf;

    while (len > 0) {
        gssize n = read(fd, p, len);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            g_set_error(error, VB_ERROR, n == 0 ? VB_ERROR_INVALID_ARG : VB_ERROR_IO,
                        "'%s' is not a virtbus save image: %s", path,
                        n == 0 ? "too short" : g_strerror(errno));
            return FALSE;
        }
        p += n;
        len -= (gsize)n;
    }
    return TRUE;
}

/**
 * vb_save_image_read_header:
 * @fd: the image, at offset 0
 * @path: for messages
 *
 * Reads and checks the header and XML; leaves @fd where the stream
 * starts. Fails with InvalidArgument for something that is not an image
 * of a version this service reads.
 */
gboolean
vb_save_image_read_header(int fd, const char *path, VbSaveImageHeader *out, GError **error)
{
    guint8 header[VB_SAVE_IMAGE_HEADER_SIZE];
    guint32 xml_len;
    g_autofree char *xml = NULL;

    if (!read_all(fd, header, sizeof(header), path, error))
        return FALSE;
    if (memcmp(header, VB_SAVE_IMAGE_MAGIC, strlen(VB_SAVE_IMAGE_MAGIC)) != 0) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                    "'%s' is not a virtbus save image (bad magic)", path);
        return FALSE;
    }
    out->version = get_u32(header + 16);
    xml_len = get_u32(header + 20);
    out->flags = get_u32(header + 24);
    out->compression = get_u32(header + 28);
    if (out->version != VB_SAVE_IMAGE_VERSION) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                    "save image '%s' has version %u; this service reads version %u", path,
                    out->version, VB_SAVE_IMAGE_VERSION);
        return FALSE;
    }
    if (xml_len == 0 || xml_len > MAX_XML || out->compression > VB_SAVE_COMPRESSION_ZSTD) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG, "save image '%s' is damaged", path);
        return FALSE;
    }
    xml = g_malloc0((gsize)xml_len + 1);
    if (!read_all(fd, xml, xml_len, path, error))
        return FALSE;
    out->xml = g_steal_pointer(&xml);
    out->data_offset = VB_SAVE_IMAGE_HEADER_SIZE + (goffset)xml_len;
    return TRUE;
}

void
vb_save_image_header_clear(VbSaveImageHeader *h)
{
    g_clear_pointer(&h->xml, g_free);
}

/* Makes a rename in the directory of @path durable (best effort). */
void
vb_save_image_fsync_dir(const char *path)
{
    g_autofree char *dir = g_path_get_dirname(path);
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

/**
 * vb_save_image_open_read:
 * @path: a path a caller gave (absolute)
 *
 * Opens @path for reading without ever blocking on it: O_NONBLOCK (a FIFO
 * or a device would otherwise stall the thread until someone writes, and
 * opening a device can have effects of its own), O_NOCTTY, O_CLOEXEC;
 * then refuses anything that is not a regular file, checked on the opened
 * descriptor (fstat), and clears O_NONBLOCK. Any thread.
 *
 * Returns: the descriptor, or -1 with InvalidArgument (not a regular
 *   file) or IO (cannot open it).
 */
int
vb_save_image_open_read(const char *path, GError **error)
{
    struct stat st;
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    int fl;

    if (fd < 0) {
        g_set_error(error, VB_ERROR, errno == ENOENT ? VB_ERROR_INVALID_ARG : VB_ERROR_IO,
                    "cannot open '%s': %s", path, g_strerror(errno));
        return -1;
    }
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                    "'%s' is not a regular file; save images and dumps must be regular files",
                    path);
        close(fd);
        return -1;
    }
    fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0) {
        g_set_error(error, VB_ERROR, VB_ERROR_IO, "cannot use '%s': %s", path,
                    g_strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

/* What may be at @path for a save or dump to replace it. */
static gboolean
check_replaceable(const char *path, const struct stat *st, guint32 uid, GError **error)
{
    const char *what = S_ISLNK(st->st_mode) ? "a symbolic link"
                       : S_ISDIR(st->st_mode) ? "a directory"
                       : S_ISFIFO(st->st_mode) ? "a FIFO"
                       : S_ISSOCK(st->st_mode) ? "a socket"
                       : S_ISCHR(st->st_mode) || S_ISBLK(st->st_mode) ? "a device node"
                       : NULL;

    if (what == NULL && !S_ISREG(st->st_mode))
        what = "not a regular file";
    if (what != NULL) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                    "'%s' is %s; a save image or dump replaces only a regular file of yours "
                    "(choose another path or remove it)", path, what);
        return FALSE;
    }
    if (st->st_uid != uid) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                    "'%s' belongs to uid %u, not to the caller (uid %u); a save image or dump "
                    "replaces only a file of the caller's own", path, (guint)st->st_uid,
                    (guint)uid);
        return FALSE;
    }
    return TRUE;
}

/**
 * vb_save_image_check_target:
 * @path: where a save image or dump is to be written
 * @uid: the caller's uid
 *
 * Whether writing @path may replace what is there: nothing, or a regular
 * file owned by @uid (root's own files for root). A symbolic link (never
 * followed), a directory, a FIFO, a device or another user's file is
 * refused with InvalidArgument naming it. Any thread.
 */
gboolean
vb_save_image_check_target(const char *path, guint32 uid, GError **error)
{
    struct stat st;

    if (lstat(path, &st) < 0) {
        if (errno == ENOENT)
            return TRUE;
        g_set_error(error, VB_ERROR, VB_ERROR_IO, "cannot check '%s': %s", path,
                    g_strerror(errno));
        return FALSE;
    }
    return check_replaceable(path, &st, uid, error);
}

/**
 * vb_save_image_commit:
 * @temp: the finished file, in the directory of @path
 * @path: its final name
 * @uid: the caller's uid
 *
 * Renames @temp to @path. When nothing is at @path the rename must not
 * replace anything (RENAME_NOREPLACE: a file that appears meanwhile is
 * not overwritten); otherwise what is there is checked again as by
 * vb_save_image_check_target() just before it is replaced. Any thread.
 */
gboolean
vb_save_image_commit(const char *temp, const char *path, guint32 uid, GError **error)
{
    if (renameat2(AT_FDCWD, temp, AT_FDCWD, path, RENAME_NOREPLACE) == 0)
        return TRUE;
    /* EEXIST: something is there; EINVAL: a file system without NOREPLACE */
    if (errno == EEXIST || errno == EINVAL || errno == ENOSYS) {
        if (!vb_save_image_check_target(path, uid, error))
            return FALSE;
        if (rename(temp, path) == 0)
            return TRUE;
    }
    g_set_error(error, VB_ERROR, VB_ERROR_IO, "cannot write '%s': %s", path, g_strerror(errno));
    return FALSE;
}
