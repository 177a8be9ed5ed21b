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

/* Whether the service writes with more rights than the caller has. */
static gboolean
caller_is_weaker(guint32 uid)
{
    return uid != 0 && uid != (guint32)geteuid();
}

/**
 * vb_save_target_open:
 * @t: (out caller-allocates): cleared with vb_save_target_clear()
 * @path: where a save image or dump is to be written (absolute)
 * @uid: the caller's uid
 *
 * Opens the directory of @path (O_PATH; every later step works relative to
 * this descriptor, so swapping a symbolic link in the path afterwards
 * changes nothing) and checks what the service, writing as root, may do
 * there for the caller: a caller of another uid than root and the service
 * writes only into a directory it owns or a sticky world-writable one
 * (like /tmp), where it could create files itself; and what is at @path
 * may be replaced only when it is nothing or a regular file owned by @uid
 * (root's own for root): a symbolic link (never followed), a directory, a
 * FIFO, a device node, a socket or another user's file is refused. Fails
 * with InvalidArgument naming the path. Worker threads.
 */
gboolean
vb_save_target_open(VbSaveTarget *t, const char *path, guint32 uid, GError **error)
{
    g_autofree char *dir = g_path_get_dirname(path);
    struct stat st;

    memset(t, 0, sizeof(*t));
    t->dir_fd = -1;
    t->path = g_strdup(path);
    t->base = g_path_get_basename(path);
    t->uid = uid;
    if (!g_path_is_absolute(path) || g_str_has_suffix(path, "/") ||
        g_str_equal(t->base, ".") || g_str_equal(t->base, "..") ||
        g_str_equal(t->base, "/")) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                    "'%s' is not an absolute path of a file", path);
        return FALSE;
    }
    t->dir_fd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (t->dir_fd < 0 || fstat(t->dir_fd, &st) < 0) {
        g_set_error(error, VB_ERROR, errno == ENOENT || errno == ENOTDIR
                                         ? VB_ERROR_INVALID_ARG : VB_ERROR_IO,
                    "cannot use the directory '%s' of '%s': %s", dir, path, g_strerror(errno));
        return FALSE;
    }
    if (caller_is_weaker(uid) && st.st_uid != uid &&
        !((st.st_mode & S_ISVTX) && (st.st_mode & S_IWOTH))) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                    "cannot write '%s': its directory '%s' belongs to uid %u, not to the caller "
                    "(uid %u); save images and dumps go only into a directory of the caller's "
                    "own or a shared one like /tmp", path, dir, (guint)st.st_uid, (guint)uid);
        return FALSE;
    }
    return vb_save_target_check(t, error);
}

/**
 * vb_save_target_check:
 *
 * Checks again what is at the target (as vb_save_target_open() did). Any
 * thread.
 */
gboolean
vb_save_target_check(VbSaveTarget *t, GError **error)
{
    struct stat st;

    if (fstatat(t->dir_fd, t->base, &st, AT_SYMLINK_NOFOLLOW) < 0) {
        if (errno == ENOENT)
            return TRUE;
        g_set_error(error, VB_ERROR, VB_ERROR_IO, "cannot check '%s': %s", t->path,
                    g_strerror(errno));
        return FALSE;
    }
    return check_replaceable(t->path, &st, t->uid, error);
}

static char *
random_temp_name(const VbSaveTarget *t)
{
    static const char chars[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    char rnd[7];

    for (int i = 0; i < 6; i++)
        rnd[i] = chars[g_random_int_range(0, sizeof(chars) - 1)];
    rnd[6] = '\0';
    return g_strdup_printf(".%s.vbpart-%s", t->base, rnd);
}

/**
 * vb_save_target_pick_temp:
 *
 * Chooses the name of the temporary file without creating it and sets @t->temp_path,
 * so that the caller can record it (the status XML) before the file exists: a service
 * killed between the creation and the record would leave the file behind (issue 14,
 * the kill -9 sweep). vb_save_target_create_temp() then creates that file, or another
 * one when the name was taken meanwhile.
 */
void
vb_save_target_pick_temp(VbSaveTarget *t)
{
    g_autofree char *dir = g_path_get_dirname(t->path);

    g_free(t->picked_name);
    t->picked_name = random_temp_name(t);
    g_free(t->temp_path);
    t->temp_path = g_build_filename(dir, t->picked_name, NULL);
}

/**
 * vb_save_target_create_temp:
 *
 * Creates the temporary file (".NAME.vbpart-XXXXXX", mode 0600, owned by
 * the caller's uid) in the target's directory, the one vb_save_target_pick_temp()
 * chose if it was called; its path is @t->temp_path.
 *
 * Returns: the descriptor (write only), or -1.
 */
int
vb_save_target_create_temp(VbSaveTarget *t, GError **error)
{
    g_autofree char *dir = NULL;

    for (int attempt = 0; attempt < 100; attempt++) {
        g_autofree char *name = NULL;
        int fd;

        name = attempt == 0 && t->picked_name != NULL ? g_strdup(t->picked_name)
                                                       : random_temp_name(t);
        fd = openat(t->dir_fd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                    0600);
        if (fd < 0 && errno == EEXIST)
            continue;
        if (fd < 0)
            break;
        /* the caller's file: the caller may read and later replace it */
        if (caller_is_weaker(t->uid) && fchown(fd, t->uid, (gid_t)-1) < 0) {
            g_set_error(error, VB_ERROR, VB_ERROR_IO, "cannot give '%s' to uid %u: %s",
                        t->path, (guint)t->uid, g_strerror(errno));
            unlinkat(t->dir_fd, name, 0);
            close(fd);
            return -1;
        }
        t->temp_name = g_steal_pointer(&name);
        dir = g_path_get_dirname(t->path);
        g_free(t->temp_path);
        t->temp_path = g_build_filename(dir, t->temp_name, NULL);
        g_clear_pointer(&t->picked_name, g_free);
        return fd;
    }
    g_set_error(error, VB_ERROR, VB_ERROR_IO, "cannot create a file beside '%s': %s", t->path,
                g_strerror(errno));
    return -1;
}

/**
 * vb_save_target_commit:
 *
 * Renames the temporary file to the target. When nothing is there the
 * rename must not replace anything (RENAME_NOREPLACE: a file that appeared
 * meanwhile is not overwritten); otherwise what is there is checked again
 * right before it is replaced. Then makes the rename durable.
 */
gboolean
vb_save_target_commit(VbSaveTarget *t, GError **error)
{
    int dfd;

    g_return_val_if_fail(t->temp_name != NULL, FALSE);
    if (renameat2(t->dir_fd, t->temp_name, t->dir_fd, t->base, RENAME_NOREPLACE) < 0) {
        /* EEXIST: something is there; EINVAL: a file system without NOREPLACE */
        struct stat st;

        if (errno != EEXIST && errno != EINVAL) {
            g_set_error(error, VB_ERROR, VB_ERROR_IO, "cannot write '%s': %s", t->path,
                        g_strerror(errno));
            return FALSE;
        }
        if (t->no_replace && (errno == EEXIST ||
                              fstatat(t->dir_fd, t->base, &st, AT_SYMLINK_NOFOLLOW) == 0)) {
            g_set_error(error, VB_ERROR, VB_ERROR_INVALID_STATE,
                        "'%s' was created meanwhile by someone else; it is not replaced",
                        t->path);
            return FALSE;
        }
        if (!vb_save_target_check(t, error))
            return FALSE;
        if (renameat(t->dir_fd, t->temp_name, t->dir_fd, t->base) < 0) {
            g_set_error(error, VB_ERROR, VB_ERROR_IO, "cannot write '%s': %s", t->path,
                        g_strerror(errno));
            return FALSE;
        }
    }
    g_clear_pointer(&t->temp_name, g_free);
    g_clear_pointer(&t->temp_path, g_free);
    dfd = openat(t->dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    return TRUE;
}

/* Removes the temporary file, if any (a failed or cancelled job). */
void
vb_save_target_discard(VbSaveTarget *t)
{
    if (t->temp_name != NULL && t->dir_fd >= 0)
        unlinkat(t->dir_fd, t->temp_name, 0);
    g_clear_pointer(&t->picked_name, g_free);
    g_clear_pointer(&t->temp_name, g_free);
    g_clear_pointer(&t->temp_path, g_free);
}

/* Forgets the temporary file without removing it (left to the recovery). */
void
vb_save_target_forget_temp(VbSaveTarget *t)
{
    g_clear_pointer(&t->picked_name, g_free);
    g_clear_pointer(&t->temp_name, g_free);
    g_clear_pointer(&t->temp_path, g_free);
}

/* Frees what @t holds (the temporary file is left as it is). */
void
vb_save_target_clear(VbSaveTarget *t)
{
    /* a zeroed, never opened target has no descriptor (not fd 0) */
    if (t->path != NULL && t->dir_fd >= 0)
        close(t->dir_fd);
    t->dir_fd = -1;
    g_clear_pointer(&t->path, g_free);
    g_clear_pointer(&t->base, g_free);
    vb_save_target_forget_temp(t);
}
