/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define _GNU_SOURCE /* O_PATH, AT_EMPTY_PATH */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "domain-def-priv.h"
#include "qemu-command.h"
#include "qemu-dac.h"
#include "store.h"
#include "vb-error.h"

/*
 * issue 14, part dac. QEMU runs as qemu_user; what it opens by path is given to that user for
 * the run (chown), as libvirt's DAC security driver does with remember_owner=1.
 *
 * The owner record is one keyfile beside the status files (the service's run directory,
 * never a directory QEMU owns: a record QEMU could rewrite would make the service chown any
 * file to anyone). One group per file:
 *
 *   [file]                   (groups are numbered: "file 0", "file 1", ...)
 *   path=/var/lib/images/a.qcow2   the resolved path (no symlink)
 *   uid=0 gid=0 mode=0600          the owner and mode before the first run took it
 *   dev=2049 ino=1234              the file it was (a file replaced meanwhile is left alone)
 *   set-uid=994 set-gid=994        the owner the service gave it
 *   holders=<uuid>;<uuid>;         the runs that use it: the reference count
 *
 * The record is written (atomically) before a chown and after a restore, so a crash at any
 * point leaves a record that restores at most what was changed; a restore only touches a
 * file that still has the owner the service gave it, so doing it twice is harmless.
 */

struct _VbQemuDac {
    GMutex lock;
    char *record_path;
    VbQemuIds ids;
    GHashTable *entries; /* under lock: resolved path -> Entry */
};

typedef struct {
    char *path;
    uid_t uid;
    gid_t gid;
    guint mode;
    guint64 dev;
    guint64 ino;
    uid_t set_uid;
    gid_t set_gid;
    GPtrArray *holders; /* char* */
} Entry;

static void
entry_free(Entry *e)
{
    g_free(e->path);
    g_ptr_array_unref(e->holders);
    g_free(e);
}

/* -------- ids -------- */

/**
 * vb_qemu_ids_resolve:
 * @user: (nullable): qemu_user; %NULL: the service's own ids
 * @group: (nullable): qemu_group; %NULL: @user's primary group
 * @out_ids: (out): the ids, with @user's supplementary groups (kvm, ...)
 *
 * Looks the names up (start-up). The service's own user means no switch. A service that
 * is not root cannot run QEMU as anyone else: an error, as is an unknown name.
 */
gboolean
vb_qemu_ids_resolve(const char *user, const char *group, VbQemuIds *out_ids, GError **error)
{
    struct passwd *pw;
    struct group *gr;
    VbQemuIds ids = { 0 };
    int n = VB_QEMU_IDS_MAX_GROUPS;

    if (user == NULL && group == NULL) {
        *out_ids = ids;
        return TRUE;
    }
    if (user == NULL) {
        g_set_error_literal(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                            "setting 'qemu_group' needs 'qemu_user' too");
        return FALSE;
    }
    errno = 0;
    pw = getpwnam(user);
    if (pw == NULL) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                    "qemu_user '%s': no such user; create it (systemd-sysusers with virtbus's "
                    "sysusers.d file) or set another qemu_user", user);
        return FALSE;
    }
    ids.uid = pw->pw_uid;
    ids.gid = pw->pw_gid;
    g_strlcpy(ids.user, user, sizeof(ids.user));
    if (group != NULL) {
        gr = getgrnam(group);
        if (gr == NULL) {
            g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                        "qemu_group '%s': no such group", group);
            return FALSE;
        }
        ids.gid = gr->gr_gid;
    }
    if (getgrouplist(user, ids.gid, ids.groups, &n) < 0) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                    "qemu_user '%s' is in more than %d groups", user, VB_QEMU_IDS_MAX_GROUPS);
        return FALSE;
    }
    ids.n_groups = (gsize)n;
    if (ids.uid == geteuid() && ids.gid == getegid()) {
        *out_ids = (VbQemuIds){ 0 };
        return TRUE;
    }
    if (geteuid() != 0) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                    "virtbusd runs as uid %u and cannot run QEMU as '%s'%s%s; unset qemu_user "
                    "and qemu_group or run the service as root", (guint)geteuid(), user,
                    group != NULL ? ":" : "", group != NULL ? group : "");
        return FALSE;
    }
    ids.set_ids = TRUE;
    *out_ids = ids;
    return TRUE;
}

static gboolean
in_groups(const VbQemuIds *ids, gid_t gid)
{
    if (gid == ids->gid)
        return TRUE;
    for (gsize i = 0; i < ids->n_groups; i++) {
        if (ids->groups[i] == gid)
            return TRUE;
    }
    return FALSE;
}

/* Whether @ids get @want (a mask of 4 = r, 2 = w, 1 = x) on @st by its mode bits. */
static gboolean
mode_allows(const VbQemuIds *ids, const struct stat *st, guint want)
{
    guint bits;

    if (st->st_uid == ids->uid)
        bits = (st->st_mode >> 6) & 7;
    else if (in_groups(ids, st->st_gid))
        bits = (st->st_mode >> 3) & 7;
    else
        bits = st->st_mode & 7;
    return (bits & want) == want;
}

static gboolean
has_acl(const char *path)
{
    return getxattr(path, "system.posix_acl_access", NULL, 0) > 0;
}

/**
 * vb_qemu_dac_can_reach:
 * @path: a resolved path (no symlink)
 *
 * Whether QEMU's user may search every directory above @path (by mode bits; a directory
 * with an ACL is given the benefit of the doubt). The error names the directory and says
 * what to do.
 */
gboolean
vb_qemu_dac_can_reach(const VbQemuIds *ids, const char *path, GError **error)
{
    g_autofree char *dir = g_path_get_dirname(path);

    while (TRUE) {
        struct stat st;
        char *up;

        if (stat(dir, &st) == 0 && S_ISDIR(st.st_mode) && !mode_allows(ids, &st, 1) &&
            !has_acl(dir)) {
            g_set_error(error, VB_ERROR, VB_ERROR_IO,
                        "QEMU runs as user '%s' (qemu_user), which cannot reach '%s': "
                        "directory '%s' (mode %04o, owner %u:%u) is not searchable by it; "
                        "allow it (chmod o+x, or a group or ACL) or move the file",
                        ids->user, path, dir, st.st_mode & 07777, (guint)st.st_uid,
                        (guint)st.st_gid);
            return FALSE;
        }
        if (strcmp(dir, "/") == 0 || strcmp(dir, ".") == 0)
            return TRUE;
        up = g_path_get_dirname(dir);
        g_free(dir);
        dir = up;
    }
}

/* -------- the files of a definition -------- */

void
vb_qemu_dac_file_free(VbQemuDacFile *file)
{
    if (file == NULL)
        return;
    g_free(file->path);
    g_free(file);
}

static void
add_file(GPtrArray *out, const char *path, gboolean readonly, gboolean create)
{
    VbQemuDacFile *f;

    if (path == NULL || *path != '/')
        return;
    f = g_new0(VbQemuDacFile, 1);
    f->path = g_strdup(path);
    f->readonly = readonly;
    f->create = create;
    g_ptr_array_add(out, f);
}

static void
add_disk(GPtrArray *out, const VbDeviceDef *dev, GHashTable *disks)
{
    const VbQemuDiskPrep *prep = NULL;
    gboolean ro = dev->readonly || g_strcmp0(dev->device, "cdrom") == 0;

    if (g_strcmp0(dev->type, "file") != 0 && g_strcmp0(dev->type, "block") != 0)
        return;
    if (disks != NULL && dev->target_dev != NULL)
        prep = g_hash_table_lookup(disks, dev->target_dev);
    if (prep != NULL && prep->drop_source)
        return;
    add_file(out, dev->source_path, ro, FALSE);
    for (guint i = 0; prep != NULL && prep->backing != NULL && i < prep->backing->len; i++) {
        const VbQemuDiskLayer *l = g_ptr_array_index(prep->backing, i);

        add_file(out, l->path, TRUE, FALSE);
    }
}

/**
 * vb_qemu_dac_files:
 * @def: the definition QEMU runs (firmware resolved)
 * @disks: (nullable): what vb_qemu_disk_prepare() found (backing chains, dropped media)
 *
 * The files QEMU opens by path: disk and cdrom/floppy images with their backing chains,
 * kernel and initrd, firmware loader and NVRAM, file chardevs. Sockets QEMU creates in the
 * runtime directory and fds the service passes are not in it.
 *
 * Returns: (transfer full) (element-type VbQemuDacFile): the files.
 */
GPtrArray *
vb_qemu_dac_files(const VbDomainDef *def, GHashTable *disks)
{
    GPtrArray *out = g_ptr_array_new_with_free_func((GDestroyNotify)vb_qemu_dac_file_free);
    g_auto(VbDomainFirmware) fw = { 0 };
    GPtrArray *devs = def->priv->devices;

    for (guint i = 0; devs != NULL && i < devs->len; i++) {
        const VbDeviceDef *dev = g_ptr_array_index(devs, i);

        if (dev->kind == VB_DEV_DISK)
            add_disk(out, dev, disks);
        else if ((dev->kind == VB_DEV_SERIAL || dev->kind == VB_DEV_CONSOLE ||
                  dev->kind == VB_DEV_CHANNEL) && g_strcmp0(dev->type, "file") == 0)
            add_file(out, dev->source_path, FALSE, TRUE);
    }
    add_file(out, def->priv->kernel, TRUE, FALSE);
    add_file(out, def->priv->initrd, TRUE, FALSE);
    vb_domain_def_get_firmware(def, &fw);
    add_file(out, fw.loader_path, TRUE, FALSE);
    if (!fw.nvram_other)
        add_file(out, fw.nvram_path, FALSE, FALSE);
    return out;
}

/**
 * vb_qemu_dac_files_of_disk:
 * @disk: a disk hot-plugged, or a new medium
 * @disks: (nullable): vb_qemu_disk_prepare_one()'s findings
 *
 * Returns: (transfer full) (element-type VbQemuDacFile): its image and backing chain.
 */
GPtrArray *
vb_qemu_dac_files_of_disk(const VbDeviceDef *disk, GHashTable *disks)
{
    GPtrArray *out = g_ptr_array_new_with_free_func((GDestroyNotify)vb_qemu_dac_file_free);

    if (disk->kind == VB_DEV_DISK)
        add_disk(out, disk, disks);
    return out;
}

/* -------- the record -------- */

/**
 * vb_qemu_dac_new:
 * @record_path: the owner record's file
 * @ids: QEMU's ids (copied); without set_ids nothing is given away, but what a record of an
 *   earlier run holds is still given back
 *
 * Returns: (transfer full): the owner table, empty: vb_qemu_dac_load() reads the record.
 */
VbQemuDac *
vb_qemu_dac_new(const char *record_path, const VbQemuIds *ids)
{
    VbQemuDac *dac = g_new0(VbQemuDac, 1);

    g_mutex_init(&dac->lock);
    dac->record_path = g_strdup(record_path);
    if (ids != NULL)
        dac->ids = *ids;
    dac->entries = g_hash_table_new_full(g_str_hash, g_str_equal, NULL,
                                         (GDestroyNotify)entry_free);
    return dac;
}

void
vb_qemu_dac_free(VbQemuDac *dac)
{
    if (dac == NULL)
        return;
    g_hash_table_destroy(dac->entries);
    g_free(dac->record_path);
    g_mutex_clear(&dac->lock);
    g_free(dac);
}

static gboolean
get_u64(GKeyFile *kf, const char *group, const char *key, guint64 max, guint64 *out)
{
    g_autofree char *v = g_key_file_get_string(kf, group, key, NULL);
    char *end = NULL;

    if (v == NULL || !g_ascii_isdigit(*v))
        return FALSE;
    errno = 0;
    *out = g_ascii_strtoull(v, &end, *v == '0' && v[1] != '\0' ? 8 : 10);
    return errno == 0 && end != NULL && *end == '\0' && *out <= max;
}

static Entry *
parse_entry(GKeyFile *kf, const char *group, GError **error)
{
    g_autofree char *path = g_key_file_get_string(kf, group, "path", NULL);
    g_auto(GStrv) holders = g_key_file_get_string_list(kf, group, "holders", NULL, NULL);
    guint64 uid, gid, mode, dev, ino, set_uid, set_gid;
    Entry *e;

    if (path == NULL || *path != '/' || holders == NULL ||
        !get_u64(kf, group, "uid", G_MAXUINT32 - 1, &uid) ||
        !get_u64(kf, group, "gid", G_MAXUINT32 - 1, &gid) ||
        !get_u64(kf, group, "mode", 07777, &mode) ||
        !get_u64(kf, group, "dev", G_MAXUINT64, &dev) ||
        !get_u64(kf, group, "ino", G_MAXUINT64, &ino) ||
        !get_u64(kf, group, "set-uid", G_MAXUINT32 - 1, &set_uid) ||
        !get_u64(kf, group, "set-gid", G_MAXUINT32 - 1, &set_gid)) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                    "entry [%s] lacks a valid path, holders, uid, gid, mode, dev, ino, set-uid "
                    "or set-gid", group);
        return NULL;
    }
    e = g_new0(Entry, 1);
    e->path = g_steal_pointer(&path);
    e->uid = (uid_t)uid;
    e->gid = (gid_t)gid;
    e->mode = (guint)mode;
    e->dev = dev;
    e->ino = ino;
    e->set_uid = (uid_t)set_uid;
    e->set_gid = (gid_t)set_gid;
    e->holders = g_ptr_array_new_with_free_func(g_free);
    for (guint i = 0; holders[i] != NULL; i++) {
        if (*holders[i] != '\0')
            g_ptr_array_add(e->holders, g_strdup(holders[i]));
    }
    return e;
}

/**
 * vb_qemu_dac_load:
 *
 * Reads the owner record (a missing one is empty). A record that does not parse is an
 * error naming the file, and the table stays empty.
 */
gboolean
vb_qemu_dac_load(VbQemuDac *dac, GError **error)
{
    g_autoptr(GKeyFile) kf = g_key_file_new();
    g_autoptr(GError) local = NULL;
    g_autoptr(GHashTable) entries = NULL;
    g_auto(GStrv) groups = NULL;

    if (!g_key_file_load_from_file(kf, dac->record_path, G_KEY_FILE_NONE, &local)) {
        if (g_error_matches(local, G_FILE_ERROR, G_FILE_ERROR_NOENT))
            return TRUE;
        g_set_error(error, VB_ERROR, VB_ERROR_IO, "owner record '%s' is unreadable: %s",
                    dac->record_path, local->message);
        return FALSE;
    }
    entries = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, (GDestroyNotify)entry_free);
    groups = g_key_file_get_groups(kf, NULL);
    for (guint i = 0; groups[i] != NULL; i++) {
        Entry *e = parse_entry(kf, groups[i], &local);

        if (e == NULL) {
            g_set_error(error, VB_ERROR, VB_ERROR_IO, "owner record '%s' is corrupt: %s",
                        dac->record_path, local->message);
            return FALSE;
        }
        if (g_hash_table_contains(entries, e->path)) {
            g_set_error(error, VB_ERROR, VB_ERROR_IO,
                        "owner record '%s' is corrupt: '%s' is recorded twice",
                        dac->record_path, e->path);
            entry_free(e);
            return FALSE;
        }
        g_hash_table_insert(entries, e->path, e);
    }
    g_mutex_lock(&dac->lock);
    g_hash_table_destroy(dac->entries);
    dac->entries = g_steal_pointer(&entries);
    g_mutex_unlock(&dac->lock);
    return TRUE;
}

static int
compare_paths(gconstpointer a, gconstpointer b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Writes the table (under lock), or removes the record when it is empty. */
static gboolean
save_locked(VbQemuDac *dac, GError **error)
{
    g_autoptr(GKeyFile) kf = g_key_file_new();
    g_autofree char *data = NULL;
    g_autofree gpointer *keys = NULL;
    guint n = 0;
    gsize len;

    if (g_hash_table_size(dac->entries) == 0)
        return vb_store_remove(dac->record_path, error);
    keys = g_hash_table_get_keys_as_array(dac->entries, &n);
    qsort(keys, n, sizeof(gpointer), compare_paths);
    for (guint i = 0; i < n; i++) {
        const Entry *e = g_hash_table_lookup(dac->entries, keys[i]);
        g_autofree char *group = g_strdup_printf("file %u", i);
        g_autofree char *mode = g_strdup_printf("0%o", e->mode);

        g_key_file_set_string(kf, group, "path", e->path);
        g_key_file_set_uint64(kf, group, "uid", e->uid);
        g_key_file_set_uint64(kf, group, "gid", e->gid);
        g_key_file_set_string(kf, group, "mode", mode);
        g_key_file_set_uint64(kf, group, "dev", e->dev);
        g_key_file_set_uint64(kf, group, "ino", e->ino);
        g_key_file_set_uint64(kf, group, "set-uid", e->set_uid);
        g_key_file_set_uint64(kf, group, "set-gid", e->set_gid);
        g_key_file_set_string_list(kf, group, "holders",
                                   (const char *const *)e->holders->pdata, e->holders->len);
    }
    data = g_key_file_to_data(kf, &len, NULL);
    if (!vb_store_write_atomic(dac->record_path, data, (gssize)len, 0600, error)) {
        g_prefix_error(error, "cannot record the owners of QEMU's files: ");
        return FALSE;
    }
    return TRUE;
}

static gboolean
has_holder(const Entry *e, const char *holder)
{
    for (guint i = 0; i < e->holders->len; i++) {
        if (strcmp(g_ptr_array_index(e->holders, i), holder) == 0)
            return TRUE;
    }
    return FALSE;
}

/* Gives @e's file back, if it still is the file and has the owner the service gave it. */
static void
restore_entry(const Entry *e)
{
    int fd = open(e->path, O_PATH | O_NOFOLLOW | O_CLOEXEC);
    struct stat st;

    if (fd < 0 || fstat(fd, &st) < 0) {
        g_debug("owner of '%s' not restored: %s", e->path, g_strerror(errno));
    } else if (st.st_uid == e->uid && st.st_gid == e->gid && (st.st_mode & 07777) == e->mode) {
        /* never given (a start that failed first, a crash before the chown) */
    } else if ((guint64)st.st_dev != e->dev || (guint64)st.st_ino != e->ino ||
               st.st_uid != e->set_uid || st.st_gid != e->set_gid) {
        g_message("'%s' was replaced or changed hands during the run; its owner stays "
                  "%u:%u", e->path, (guint)st.st_uid, (guint)st.st_gid);
    } else if (fchownat(fd, "", e->uid, e->gid, AT_EMPTY_PATH) < 0) {
        g_warning("cannot give '%s' back to %u:%u: %s", e->path, (guint)e->uid,
                  (guint)e->gid, g_strerror(errno));
    } else if ((st.st_mode & 07777) != e->mode && !S_ISLNK(st.st_mode)) {
        g_autofree char *proc = g_strdup_printf("/proc/self/fd/%d", fd);

        if (chmod(proc, e->mode) < 0)
            g_warning("cannot restore the mode of '%s': %s", e->path, g_strerror(errno));
    }
    if (fd >= 0)
        close(fd);
}

/* Drops @holder's references (under lock); gives back what nobody holds. */
static gboolean
release_locked(VbQemuDac *dac, const char *holder)
{
    GHashTableIter it;
    gpointer value;
    gboolean changed = FALSE;

    g_hash_table_iter_init(&it, dac->entries);
    while (g_hash_table_iter_next(&it, NULL, &value)) {
        Entry *e = value;

        for (guint i = e->holders->len; i > 0; i--) {
            if (strcmp(g_ptr_array_index(e->holders, i - 1), holder) == 0) {
                g_ptr_array_remove_index(e->holders, i - 1);
                changed = TRUE;
            }
        }
        if (e->holders->len == 0) {
            restore_entry(e);
            g_hash_table_iter_remove(&it);
        }
    }
    return changed;
}

/**
 * vb_qemu_dac_release:
 * @holder: the run's key (the domain's uuid)
 *
 * The run ended: each file it held and no other run holds gets its recorded owner and
 * mode back, then the record is rewritten. Failures are logged. Any worker thread.
 */
void
vb_qemu_dac_release(VbQemuDac *dac, const char *holder)
{
    g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&dac->lock);
    g_autoptr(GError) error = NULL;

    if (release_locked(dac, holder) && !save_locked(dac, &error))
        g_warning("%s", error->message);
}

/**
 * vb_qemu_dac_reconcile:
 * @live_holders: the runs still alive (domain uuids)
 *
 * Start-up, after the running domains are taken back: every other run the record names
 * ended while the service was away; its files are given back.
 *
 * Returns: how many runs were released.
 */
guint
vb_qemu_dac_reconcile(VbQemuDac *dac, const char *const *live_holders)
{
    g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&dac->lock);
    g_autoptr(GPtrArray) gone = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GError) error = NULL;
    GHashTableIter it;
    gpointer value;

    g_hash_table_iter_init(&it, dac->entries);
    while (g_hash_table_iter_next(&it, NULL, &value)) {
        const Entry *e = value;

        for (guint i = 0; i < e->holders->len; i++) {
            const char *h = g_ptr_array_index(e->holders, i);

            if ((live_holders == NULL || !g_strv_contains(live_holders, h)) &&
                !g_ptr_array_find_with_equal_func(gone, h, g_str_equal, NULL))
                g_ptr_array_add(gone, g_strdup(h));
        }
    }
    for (guint i = 0; i < gone->len; i++)
        release_locked(dac, g_ptr_array_index(gone, i));
    if (gone->len > 0 && !save_locked(dac, &error))
        g_warning("%s", error->message);
    return gone->len;
}

/* How many runs hold @path (resolved); 0 when it is not recorded. */
guint
vb_qemu_dac_refcount(VbQemuDac *dac, const char *path)
{
    g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&dac->lock);
    const Entry *e = g_hash_table_lookup(dac->entries, path);

    return e != NULL ? e->holders->len : 0;
}

/* -------- giving files to QEMU -------- */

/* The file QEMU will open for @f, resolved; NULL (no error) when there is nothing to give. */
static char *
resolve_file(const VbQemuDacFile *f, GError **error)
{
    char *real;

    if (f->create) {
        int fd = open(f->path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);

        if (fd >= 0)
            close(fd);
    }
    real = realpath(f->path, NULL);
    if (real == NULL) {
        /* QEMU says what is missing, in its own words, with the path the user wrote */
        g_debug("not giving '%s' to QEMU: %s", f->path, g_strerror(errno));
        return NULL;
    }
    return real;
}

/* Takes @f for @holder (under lock): a reference, or a new entry in @taken (to chown). */
static gboolean
take_locked(VbQemuDac *dac, const char *holder, const VbQemuDacFile *f, GPtrArray *taken,
            gboolean *changed, GError **error)
{
    g_autofree char *real = NULL;
    g_autoptr(GError) local = NULL;
    struct stat st;
    Entry *e;

    real = resolve_file(f, &local);
    if (real == NULL)
        return TRUE;
    if (!vb_qemu_dac_can_reach(&dac->ids, real, error))
        return FALSE;
    if (lstat(real, &st) < 0 || !(S_ISREG(st.st_mode) || S_ISBLK(st.st_mode)))
        return TRUE; /* never a directory, a socket or a character device */
    e = g_hash_table_lookup(dac->entries, real);
    if (e != NULL) {
        if (!has_holder(e, holder)) {
            g_ptr_array_add(e->holders, g_strdup(holder));
            *changed = TRUE;
        }
        return TRUE;
    }
    if (mode_allows(&dac->ids, &st, f->readonly ? 4 : 6))
        return TRUE;
    e = g_new0(Entry, 1);
    e->path = g_steal_pointer(&real);
    e->uid = st.st_uid;
    e->gid = st.st_gid;
    e->mode = st.st_mode & 07777;
    e->dev = (guint64)st.st_dev;
    e->ino = (guint64)st.st_ino;
    e->set_uid = dac->ids.uid;
    e->set_gid = dac->ids.gid;
    e->holders = g_ptr_array_new_with_free_func(g_free);
    g_ptr_array_add(e->holders, g_strdup(holder));
    g_hash_table_insert(dac->entries, e->path, e);
    g_ptr_array_add(taken, e->path);
    *changed = TRUE;
    return TRUE;
}

static gboolean
give_file(VbQemuDac *dac, const Entry *e, GError **error)
{
    int fd = open(e->path, O_PATH | O_NOFOLLOW | O_CLOEXEC);
    struct stat st;
    gboolean ok = FALSE;

    if (fd >= 0 && fstat(fd, &st) == 0 && (guint64)st.st_dev == e->dev &&
        (guint64)st.st_ino == e->ino &&
        fchownat(fd, "", dac->ids.uid, dac->ids.gid, AT_EMPTY_PATH) == 0) {
        ok = TRUE;
        /* the owner's bits must allow what QEMU does (a 0000 or 0200 file) */
        if ((e->mode & 0600) != 0600) {
            g_autofree char *proc = g_strdup_printf("/proc/self/fd/%d", fd);

            ok = chmod(proc, e->mode | 0600) == 0;
        }
    }
    if (!ok)
        g_set_error(error, VB_ERROR, VB_ERROR_IO,
                    "cannot give '%s' to QEMU's user '%s' (qemu_user): %s", e->path,
                    dac->ids.user, errno != 0 ? g_strerror(errno) : "the file changed");
    if (fd >= 0)
        close(fd);
    return ok;
}

/**
 * vb_qemu_dac_hold:
 * @holder: the run's key (the domain's uuid)
 * @files: (element-type VbQemuDacFile): what QEMU opens (vb_qemu_dac_files())
 *
 * Before QEMU starts: each file QEMU's user cannot already use (a directory above it that
 * it cannot search is an error) is recorded with its owner, the record written, and then
 * given to QEMU's user and group. A file another run holds just gets a reference. On
 * failure what this call took is given back. Nothing happens without set_ids. Worker
 * threads.
 */
gboolean
vb_qemu_dac_hold(VbQemuDac *dac, const char *holder, GPtrArray *files, GError **error)
{
    g_autoptr(GMutexLocker) locker = NULL;
    g_autoptr(GPtrArray) taken = g_ptr_array_new();
    gboolean changed = FALSE;

    if (!dac->ids.set_ids)
        return TRUE;
    locker = g_mutex_locker_new(&dac->lock);
    for (guint i = 0; i < files->len; i++) {
        if (!take_locked(dac, holder, g_ptr_array_index(files, i), taken, &changed, error))
            goto fail;
    }
    if (changed && !save_locked(dac, error))
        goto fail;
    for (guint i = 0; i < taken->len; i++) {
        errno = 0;
        if (!give_file(dac, g_hash_table_lookup(dac->entries, taken->pdata[i]), error))
            goto fail;
    }
    return TRUE;

fail:
    /* multi-step rollback: what this call took goes back (restore_entry() checks owners) */
    if (release_locked(dac, holder)) {
        g_autoptr(GError) save_err = NULL;

        if (!save_locked(dac, &save_err))
            g_warning("%s", save_err->message);
    }
    return FALSE;
}

/* -------- directories -------- */

/**
 * vb_qemu_dac_give_dir:
 * @dir: the domain's runtime directory, just made by the service (0700)
 *
 * QEMU's user owns its runtime directory (sockets, pidfile, HOME); the service, root,
 * still reaches it. Nothing without set_ids.
 */
gboolean
vb_qemu_dac_give_dir(const VbQemuIds *ids, const char *dir, GError **error)
{
    if (!ids->set_ids)
        return TRUE;
    if (fchownat(AT_FDCWD, dir, ids->uid, ids->gid, AT_SYMLINK_NOFOLLOW) < 0 ||
        chmod(dir, 0700) < 0) {
        g_set_error(error, VB_ERROR, VB_ERROR_IO, "cannot give '%s' to QEMU's user '%s': %s",
                    dir, ids->user, g_strerror(errno));
        return FALSE;
    }
    return TRUE;
}

/**
 * vb_qemu_dac_open_dirs:
 * @dir: a service directory QEMU must pass through (the run directory, the NVRAM one)
 * @stop: (nullable): the directory above which nothing is changed
 *
 * Makes @dir and each directory above it, up to @stop, searchable by QEMU's group: a
 * directory the service owns that QEMU cannot search gets group qemu_group and g+x (0710
 * for the service's 0700), so only QEMU's group may pass and nobody else may even list
 * it. A directory of someone else is left alone (vb_qemu_dac_can_reach() says so later).
 */
gboolean
vb_qemu_dac_open_dirs(const VbQemuIds *ids, const char *dir, const char *stop,
                      GError **error)
{
    g_autofree char *d = g_strdup(dir);

    if (!ids->set_ids)
        return TRUE;
    while (strcmp(d, "/") != 0 && strcmp(d, ".") != 0 &&
           (stop == NULL || *stop == '\0' || strcmp(d, stop) != 0)) {
        struct stat st;
        char *up;

        if (lstat(d, &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid == geteuid() &&
            !mode_allows(ids, &st, 1)) {
            if (lchown(d, (uid_t)-1, ids->gid) < 0 || chmod(d, (st.st_mode & 07777) | 0010) < 0) {
                g_set_error(error, VB_ERROR, VB_ERROR_IO,
                            "cannot let QEMU's group pass through '%s': %s", d,
                            g_strerror(errno));
                return FALSE;
            }
        }
        up = g_path_get_dirname(d);
        g_free(d);
        d = up;
    }
    return TRUE;
}

/**
 * vb_qemu_dac_give_sockets:
 * @dir: the domain's runtime directory
 *
 * The sockets helpers (swtpm, virtiofsd, running as the service's user) made in @dir go
 * to QEMU's user, which must connect to them. Failures are logged.
 */
void
vb_qemu_dac_give_sockets(const VbQemuIds *ids, const char *dir)
{
    g_autoptr(GDir) d = NULL;
    const char *name;

    if (!ids->set_ids || (d = g_dir_open(dir, 0, NULL)) == NULL)
        return;
    while ((name = g_dir_read_name(d)) != NULL) {
        g_autofree char *p = g_build_filename(dir, name, NULL);
        struct stat st;

        if (lstat(p, &st) == 0 && S_ISSOCK(st.st_mode) && st.st_uid != ids->uid &&
            fchownat(AT_FDCWD, p, ids->uid, ids->gid, AT_SYMLINK_NOFOLLOW) < 0)
            g_warning("cannot give socket '%s' to QEMU's user: %s", p, g_strerror(errno));
    }
}
