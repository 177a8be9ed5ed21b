/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store.h"
#include "vb-error.h"

static VbStoreCrashPoint crash_point = VB_STORE_CRASH_NONE;

/**
 * vb_store_test_set_crash_point:
 *
 * For tests only: make the next atomic writes _exit(99) at @point, so a
 * test can fork, "crash" in the middle of a write and check what is left.
 */
void
vb_store_test_set_crash_point(VbStoreCrashPoint point)
{
    crash_point = point;
}

static gboolean
set_errno_error(GError **error, int err, const char *what, const char *path)
{
    g_set_error(error, VB_ERROR, VB_ERROR_IO, "cannot %s '%s': %s", what, path,
                g_strerror(err));
    return FALSE;
}

static gboolean
write_all(int fd, const char *data, gsize len)
{
    while (len > 0) {
        ssize_t n = write(fd, data, len);

        if (n < 0) {
            if (errno == EINTR)
                continue;
            return FALSE;
        }
        data += n;
        len -= (gsize)n;
    }
    return TRUE;
}

static gboolean
fsync_dir(const char *path, GError **error)
{
    g_autofree char *dir = g_path_get_dirname(path);
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

    if (fd < 0)
        return set_errno_error(error, errno, "open directory", dir);
    if (fsync(fd) < 0) {
        int saved = errno;

        close(fd);
        return set_errno_error(error, saved, "sync directory", dir);
    }
    close(fd);
    return TRUE;
}

/**
 * vb_store_write_atomic:
 * @path: the file to (re)place
 * @data: the new contents
 * @len: length of @data, or -1 when NUL-terminated
 * @mode: permission bits of the new file
 *
 * Replaces @path so that a reader or a crash sees either the old or the
 * new contents in full, never a mix: a temporary file in the same
 * directory is written and fsync'ed, renamed over @path, then the
 * directory is fsync'ed. On failure the temporary file is removed and
 * @path is untouched. Blocking: call from a worker thread.
 */
gboolean
vb_store_write_atomic(const char *path, const char *data, gssize len, int mode, GError **error)
{
    g_autofree char *dir = g_path_get_dirname(path);
    g_autofree char *base = g_path_get_basename(path);
    g_autofree char *tmp = g_strdup_printf("%s/.%s.XXXXXX", dir, base);
    gsize size = len < 0 ? strlen(data) : (gsize)len;
    int fd;

    /* the errors name @path, what the caller knows; ENOSPC and EROFS say what to do */
    fd = g_mkstemp_full(tmp, O_WRONLY | O_CLOEXEC, mode);
    if (fd < 0)
        return set_errno_error(error, errno, "write", path);
    if (fchmod(fd, mode) < 0 || !write_all(fd, data, size) || fsync(fd) < 0) {
        int saved = errno;

        close(fd);
        g_unlink(tmp);
        return set_errno_error(error, saved, "write", path);
    }
    if (close(fd) < 0) {
        int saved = errno;

        g_unlink(tmp);
        return set_errno_error(error, saved, "write", path);
    }
    if (crash_point == VB_STORE_CRASH_AFTER_WRITE)
        _exit(99);
    if (rename(tmp, path) < 0) {
        int saved = errno;

        g_unlink(tmp);
        return set_errno_error(error, saved, "rename temporary file to", path);
    }
    if (crash_point == VB_STORE_CRASH_AFTER_RENAME)
        _exit(99);
    return fsync_dir(path, error);
}

/**
 * vb_store_remove:
 *
 * Removes @path and syncs its directory. A file that does not exist is
 * not an error.
 */
gboolean
vb_store_remove(const char *path, GError **error)
{
    if (unlink(path) < 0) {
        if (errno == ENOENT)
            return TRUE;
        return set_errno_error(error, errno, "remove", path);
    }
    return fsync_dir(path, error);
}

/**
 * vb_store_is_temp_name:
 * @name: a file name, without directory
 *
 * Whether @name is one of the service's temporary files: ".NAME.XXXXXX"
 * of vb_store_write_atomic(), or ".NAME.vbpart-XXXXXX" of a partial save
 * or dump image (X: the letters and digits mkstemp() uses).
 */
gboolean
vb_store_is_temp_name(const char *name)
{
    gsize len = strlen(name);

    if (len < 9 || name[0] != '.' || (name[len - 7] != '.' && name[len - 7] != '-'))
        return FALSE;
    if (name[len - 7] == '-' && (len < 15 || strncmp(name + len - 14, ".vbpart", 7) != 0))
        return FALSE;
    for (gsize i = len - 6; i < len; i++) {
        if (!g_ascii_isalnum(name[i]))
            return FALSE;
    }
    return TRUE;
}

/**
 * vb_store_remove_stale_temps:
 * @dir: a directory only the service writes to
 *
 * Removes what writes interrupted by a crash left in @dir: temporary files
 * of atomic writes (they may hold a domain's XML with its secrets) and
 * partial images. Only regular files are removed, never what a symlink
 * points to. Call at start-up, before anything writes to @dir.
 *
 * Returns: how many files were removed.
 */
guint
vb_store_remove_stale_temps(const char *dir)
{
    g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
    const char *name;
    guint n = 0;

    while (d != NULL && (name = g_dir_read_name(d)) != NULL) {
        g_autofree char *path = NULL;
        GStatBuf st;

        if (!vb_store_is_temp_name(name))
            continue;
        path = g_build_filename(dir, name, NULL);
        if (g_lstat(path, &st) < 0 || !S_ISREG(st.st_mode))
            continue;
        if (g_unlink(path) == 0) {
            g_message("removed '%s', left by an interrupted write", path);
            n++;
        } else {
            g_warning("cannot remove '%s', left by an interrupted write: %s", path,
                      g_strerror(errno));
        }
    }
    return n;
}

void
vb_store_entry_free(VbStoreEntry *entry)
{
    if (entry == NULL)
        return;
    g_free(entry->path);
    g_free(entry->contents);
    g_free(entry);
}

static int
compare_names(gconstpointer a, gconstpointer b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/**
 * vb_store_read_dir:
 * @dir: directory to read
 * @suffix: only files ending with it, e.g. ".xml"
 *
 * Reads every regular file of @dir ending in @suffix, skipping hidden
 * files (temporary files of interrupted writes). A file that cannot be
 * read is logged and skipped. A missing @dir gives an empty array.
 *
 * Returns: (transfer full) (element-type VbStoreEntry): entries sorted by
 *   file name, or %NULL if @dir cannot be listed.
 */
GPtrArray *
vb_store_read_dir(const char *dir, const char *suffix, GError **error)
{
    g_autoptr(GPtrArray) out = g_ptr_array_new_with_free_func(
        (GDestroyNotify)vb_store_entry_free);
    g_autoptr(GDir) d = NULL;
    g_autoptr(GError) local = NULL;
    g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
    const char *name;

    d = g_dir_open(dir, 0, &local);
    if (d == NULL) {
        if (g_error_matches(local, G_FILE_ERROR, G_FILE_ERROR_NOENT))
            return g_steal_pointer(&out);
        g_set_error(error, VB_ERROR, VB_ERROR_IO, "cannot list '%s': %s", dir,
                    local->message);
        return NULL;
    }
    while ((name = g_dir_read_name(d)) != NULL) {
        if (name[0] == '.' || !g_str_has_suffix(name, suffix))
            continue;
        g_ptr_array_add(names, g_strdup(name));
    }
    g_ptr_array_sort(names, compare_names);

    for (guint i = 0; i < names->len; i++) {
        g_autofree char *path = g_build_filename(dir, names->pdata[i], NULL);
        g_autoptr(GError) read_err = NULL;
        char *contents = NULL;
        VbStoreEntry *entry;

        if (!g_file_test(path, G_FILE_TEST_IS_REGULAR))
            continue;
        if (!g_file_get_contents(path, &contents, NULL, &read_err)) {
            g_warning("skipping '%s': %s", path, read_err->message);
            continue;
        }
        entry = g_new0(VbStoreEntry, 1);
        entry->path = g_steal_pointer(&path);
        entry->contents = contents;
        g_ptr_array_add(out, entry);
    }
    return g_steal_pointer(&out);
}
