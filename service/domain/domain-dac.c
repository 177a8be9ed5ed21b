/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <sys/stat.h>
#include <unistd.h>
#include <string.h>

#include "domain-list-priv.h"
#include "qemu-dac.h"
#include "vb-error.h"

/*
 * issue 14, part dac: QEMU runs as qemu_user/qemu_group; the files it opens by path are
 * given to it for the run and given back when the run ends (qemu-dac.c holds the owner
 * record). See docs/confinement-dac.md.
 */

#define RECORD_NAME "qemu-owners.keyfile"

/* The directory above which the service changes nothing on the way to @dir. */
static char *
stop_dir(VbDomainList *list, const char *dir, int levels)
{
    char *d;

    if (list->paths->root != NULL && *list->paths->root != '\0')
        return g_strdup(list->paths->root);
    d = g_strdup(dir);
    for (int i = 0; i < levels; i++) {
        char *up = g_path_get_dirname(d);

        g_free(d);
        d = up;
    }
    return d;
}

/**
 * vb_domain_list_setup_dac:
 *
 * Start-up, before the running domains are taken back: resolves qemu_user and qemu_group
 * (an unknown name, or a user a non-root service cannot switch to, is an error), reads the
 * owner record (a corrupt one is set aside with a warning: its owners cannot be given back)
 * and lets QEMU's group pass through the run directory.
 */
gboolean
vb_domain_list_setup_dac(VbDomainList *list, GError **error)
{
    g_autofree char *record = g_build_filename(list->paths->run_dir, RECORD_NAME, NULL);
    g_autofree char *stop = stop_dir(list, list->paths->run_dir, 2);
    g_autoptr(GError) local = NULL;

    if (!vb_qemu_ids_resolve(list->config->qemu_user, list->config->qemu_group,
                             &list->qemu_ids, error))
        return FALSE;
    list->dac = vb_qemu_dac_new(record, &list->qemu_ids);
    if (!vb_qemu_dac_load(list->dac, &local)) {
        g_autofree char *aside = g_strdup_printf("%s.corrupt-%" G_GINT64_FORMAT, record,
                                                 g_get_real_time() / G_USEC_PER_SEC);

        g_warning("%s; moved to '%s': the owners it recorded are not given back", local->message,
                  aside);
        if (g_rename(record, aside) < 0)
            g_unlink(record);
    }
    if (list->qemu_ids.set_ids)
        g_message("QEMU runs as user %s (uid %u, gid %u)", list->qemu_ids.user,
                  (guint)list->qemu_ids.uid, (guint)list->qemu_ids.gid);
    return vb_qemu_dac_open_dirs(&list->qemu_ids, list->paths->run_dir, stop, error);
}

/**
 * vb_domain_dac_prepare:
 * @def: the definition QEMU runs
 * @disks: (nullable): vb_qemu_disk_prepare()'s findings
 * @runtime_dir: the run's directory, made by the service
 *
 * Before QEMU and its helpers are spawned: the runtime directory goes to QEMU's user (the
 * sockets of helpers running as root are given in the launch hook, domain-process.c), the
 * service's directories holding its files (NVRAM) let QEMU's group pass, and its files are
 * given to it (vb_qemu_dac_hold()). With the job held.
 */
gboolean
vb_domain_dac_prepare(VbDomainList *list, VbDomainObj *dom, const VbDomainDef *def,
                      GHashTable *disks, const char *runtime_dir, GError **error)
{
    g_autoptr(GPtrArray) files = NULL;
    g_autofree char *data_prefix = g_strconcat(list->paths->data_dir, "/", NULL);
    g_autofree char *stop = stop_dir(list, list->paths->data_dir, 1);

    if (!list->qemu_ids.set_ids)
        return TRUE;
    if (!vb_qemu_dac_give_dir(&list->qemu_ids, runtime_dir, error))
        return FALSE;
    vb_qemu_dac_give_sockets(&list->qemu_ids, runtime_dir);
    files = vb_qemu_dac_files(def, disks);
    for (guint i = 0; i < files->len; i++) {
        const VbQemuDacFile *f = g_ptr_array_index(files, i);
        g_autofree char *dir = NULL;

        if (!g_str_has_prefix(f->path, data_prefix))
            continue;
        dir = g_path_get_dirname(f->path);
        if (!vb_qemu_dac_open_dirs(&list->qemu_ids, dir, stop, error))
            return FALSE;
    }
    return vb_qemu_dac_hold(list->dac, dom->uuid_str, files, error);
}

/* @path and, for a directory, everything below it (no link followed) go to QEMU's user */
static gboolean
give_tree(const VbQemuIds *ids, const char *path, GError **error)
{
    struct stat st;

    if (lstat(path, &st) < 0 || S_ISLNK(st.st_mode))
        return TRUE;
    if ((st.st_uid != ids->uid || st.st_gid != ids->gid) &&
        lchown(path, ids->uid, ids->gid) < 0) {
        g_set_error(error, VB_ERROR, VB_ERROR_IO, "cannot give '%s' to QEMU's user '%s': %s",
                    path, ids->user, g_strerror(errno));
        return FALSE;
    }
    if (S_ISDIR(st.st_mode)) {
        g_autoptr(GDir) d = g_dir_open(path, 0, NULL);
        const char *name;

        while (d != NULL && (name = g_dir_read_name(d)) != NULL) {
            g_autofree char *child = g_build_filename(path, name, NULL);

            if (!give_tree(ids, child, error))
                return FALSE;
        }
    }
    return TRUE;
}

/**
 * vb_domain_dac_prepare_helper:
 * @state_dir: (nullable): swtpm's state directory (STATE_ROOT/swtpm/<uuid>/tpm2)
 * @log_path: (nullable): the helper's own log file
 *
 * Before a helper that runs as QEMU's user (swtpm, passt) starts: the TPM state of the
 * domain (the <uuid> directory, made by swtpm_setup as the service's user) goes to QEMU's
 * user for good, as libvirt gives it to swtpm_user; the helper's log file is made for it when
 * missing (an existing file of someone else is left alone: the helper says it cannot open
 * it); the service directories above both let QEMU's group pass. These are the service's
 * own files of the domain: not in the owner record, never given back.
 */
gboolean
vb_domain_dac_prepare_helper(VbDomainList *list, const char *state_dir, const char *log_path,
                             GError **error)
{
    const VbQemuIds *ids = &list->qemu_ids;
    g_autofree char *log_prefix = g_strconcat(list->paths->log_dir, "/", NULL);

    if (!ids->set_ids)
        return TRUE;
    if (state_dir != NULL) {
        g_autofree char *root = g_path_get_dirname(state_dir);
        g_autofree char *stop = stop_dir(list, list->paths->swtpm_dir, 2);

        if (!give_tree(ids, root, error) ||
            !vb_qemu_dac_open_dirs(ids, list->paths->swtpm_dir, stop, error))
            return FALSE;
    }
    if (log_path != NULL) {
        gboolean ours = g_str_has_prefix(log_path, log_prefix);
        int fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW | O_CLOEXEC |
                                    (ours ? 0 : O_EXCL), 0600);

        if (fd >= 0) {
            struct stat st;

            if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
                (st.st_uid != ids->uid || st.st_gid != ids->gid) &&
                fchown(fd, ids->uid, ids->gid) < 0) {
                int err = errno;

                close(fd);
                g_set_error(error, VB_ERROR, VB_ERROR_IO,
                            "cannot give '%s' to QEMU's user '%s': %s", log_path, ids->user,
                            g_strerror(err));
                return FALSE;
            }
            close(fd);
        }
        if (ours) {
            g_autofree char *stop = stop_dir(list, list->paths->log_dir, 2);

            if (!vb_qemu_dac_open_dirs(ids, list->paths->log_dir, stop, error))
                return FALSE;
        }
    }
    return TRUE;
}

/**
 * vb_domain_dac_hold_disk:
 * @disk: a disk being hot-plugged, or a cdrom's new medium
 * @disks: (nullable): vb_qemu_disk_prepare_one()'s findings
 *
 * Gives the disk's files to QEMU's user before QEMU opens them; they stay held until the
 * run ends (a detach does not give them back early). With the job held.
 */
gboolean
vb_domain_dac_hold_disk(VbDomainList *list, VbDomainObj *dom, const VbDeviceDef *disk,
                        GHashTable *disks, GError **error)
{
    g_autoptr(GPtrArray) files = NULL;

    if (!list->qemu_ids.set_ids)
        return TRUE;
    files = vb_qemu_dac_files_of_disk(disk, disks);
    return vb_qemu_dac_hold(list->dac, dom->uuid_str, files, error);
}

/**
 * vb_domain_dac_hold_image:
 * @path: an image the running QEMU is about to open for writing: an external snapshot's
 *   overlay, a block copy's destination (made by the service, or the caller's REUSE_EXT)
 *
 * As vb_domain_dac_hold_disk() for one image: QEMU's user owns it until the run ends, then
 * its owner gets it back (the service's own user for an image the service made). With the
 * job held.
 */
gboolean
vb_domain_dac_hold_image(VbDomainList *list, VbDomainObj *dom, const char *path,
                         GError **error)
{
    g_autoptr(GPtrArray) files = NULL;
    VbQemuDacFile *f;

    if (!list->qemu_ids.set_ids)
        return TRUE;
    files = g_ptr_array_new_with_free_func((GDestroyNotify)vb_qemu_dac_file_free);
    f = g_new0(VbQemuDacFile, 1);
    f->path = g_strdup(path);
    g_ptr_array_add(files, f);
    return vb_qemu_dac_hold(list->dac, dom->uuid_str, files, error);
}

/**
 * vb_domain_dac_release:
 *
 * The run ended (any way: shutdown, destroy, crash, failed start, migration, save): its
 * files get their owners back, unless another run still holds them.
 */
void
vb_domain_dac_release(VbDomainList *list, VbDomainObj *dom)
{
    if (list->dac != NULL)
        vb_qemu_dac_release(list->dac, dom->uuid_str);
}

/**
 * vb_domain_dac_reconcile:
 *
 * Start-up, after the running domains are taken back: the runs the owner record names
 * that are not running any more (their QEMU ended while the service was away) give their
 * files back; a running one keeps its record.
 */
void
vb_domain_dac_reconcile(VbDomainList *list)
{
    g_autoptr(GPtrArray) all = NULL;
    g_autoptr(GPtrArray) live = g_ptr_array_new_with_free_func(g_free);
    guint n;

    if (list->dac == NULL)
        return;
    all = vb_domain_list_collect_loaded(list, VB_LIST_ACTIVE); /* every active one is loaded */
    for (guint i = 0; i < all->len; i++) {
        VbDomainObj *dom = all->pdata[i];

        g_mutex_lock(&dom->lock);
        if (dom->id >= 0)
            g_ptr_array_add(live, g_strdup(dom->uuid_str));
        g_mutex_unlock(&dom->lock);
    }
    g_ptr_array_add(live, NULL);
    n = vb_qemu_dac_reconcile(list->dac, (const char *const *)live->pdata);
    if (n > 0)
        g_message("gave back the files of %u run%s that ended while the service was away", n,
                  n == 1 ? "" : "s");
}
