/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <glib-unix.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "domain-list-priv.h"
#include "domain-save-image.h"
#include "vb-error.h"
#include "vb-log.h"

/*
 * Restore (Manager.Restore, and Start of a domain with a managed save):
 * an async job of type migration-in, operation "restore". The image's
 * header and XML are checked before the caller gets the job, so a bad
 * image or an ABI-incompatible XML starts nothing. QEMU is started with
 * "-incoming defer" and paused, reads the stream from a descriptor passed
 * with getfd (the file, or a pipe from "zstd -d"), and runs again unless
 * the image or the caller asks for paused.
 */

#define FDNAME "vbrestore"

struct _VbRestoreImage {
    char *path;
    int fd;                 /* the image, positioned at the stream */
    VbSaveImageHeader header;
    VbDomainDef *image_def; /* the definition the image holds */
    char uuid[37];
    VbDomainDef *run_def;   /* the definition to run (the image's, or the caller's) */
    guint flags;            /* VbSaveFlags: RUNNING/PAUSED override the image */
    guint start_flags;      /* VbStartFlags of Start (AUTODESTROY) */
    gboolean managed;       /* remove the image once restored */
    gboolean created;       /* a transient domain made for the restore */
};
typedef VbRestoreImage RestoreData;

static void
restore_data_free(RestoreData *d)
{
    if (d->fd >= 0)
        close(d->fd);
    vb_save_image_header_clear(&d->header);
    if (d->image_def != NULL)
        vb_domain_def_free(d->image_def);
    if (d->run_def != NULL)
        vb_domain_def_free(d->run_def);
    g_free(d->path);
    g_free(d);
}

/**
 * vb_restore_image_free:
 *
 * Closes an image opened with vb_restore_image_open() and not handed to
 * vb_domain_restore().
 */
void
vb_restore_image_free(VbRestoreImage *image)
{
    if (image != NULL)
        restore_data_free(image);
}

/**
 * vb_restore_image_open:
 * @path: absolute path of a save image
 * @uid: the caller's uid
 *
 * Opens the image once (a regular file only, never blocking on the open:
 * vb_save_image_open_read()), reads and checks its header and parses the
 * definition it holds. The same descriptor is what the restore later
 * reads: the file checked is the file restored. A caller other than root
 * (and the service's own uid) may only restore an image it owns or root's:
 * the service reads as root, and must not read another user's file for
 * it. Call it only for a caller already authorized to restore from @path.
 * Worker threads.
 *
 * Returns: (transfer full): the open image, or %NULL.
 */
VbRestoreImage *
vb_restore_image_open(const char *path, guint32 uid, GError **error)
{
    RestoreData *d;
    struct stat st;

    if (!g_path_is_absolute(path)) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                    "the save image path must be absolute, not '%s'", path);
        return NULL;
    }
    d = g_new0(RestoreData, 1);
    d->path = g_strdup(path);
    d->fd = vb_save_image_open_read(path, error);
    if (d->fd >= 0 && uid != 0 && uid != (guint32)geteuid() && fstat(d->fd, &st) == 0 &&
        st.st_uid != uid && st.st_uid != 0) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                    "save image '%s' belongs to uid %u, not to the caller (uid %u) or root",
                    path, (guint)st.st_uid, (guint)uid);
        restore_data_free(d);
        return NULL;
    }
    if (d->fd < 0 || !vb_save_image_read_header(d->fd, path, &d->header, error)) {
        restore_data_free(d);
        return NULL;
    }
    d->image_def = vb_domain_parse_config(d->header.xml, error);
    if (d->image_def == NULL) {
        g_prefix_error(error, "the XML in save image '%s': ", path);
        restore_data_free(d);
        return NULL;
    }
    vb_uuid_format(d->image_def->uuid, d->uuid);
    return d;
}

/* The name and uuid of the domain the image holds (for polkit details). */
const char *
vb_restore_image_get_name(VbRestoreImage *image)
{
    return image->image_def->name;
}

const char *
vb_restore_image_get_uuid(VbRestoreImage *image)
{
    return image->uuid;
}

/*
 * Decides the definition to run: the image's, or the caller's XML, which
 * must describe the same domain (name and uuid, as libvirt requires) with
 * the same guest ABI.
 */
static gboolean
restore_choose_def(VbDomainList *list, RestoreData *d, const char *xml, GError **error)
{
    g_autoptr(VbDomainDef) given = NULL;

    if (xml == NULL || *xml == '\0') {
        d->run_def = vb_domain_def_copy(d->image_def);
        if (d->run_def == NULL)
            g_set_error_literal(error, VB_ERROR, VB_ERROR_INTERNAL,
                                "cannot copy the definition of the image");
        return d->run_def != NULL;
    }
    given = vb_domain_parse_config(xml, error);
    if (given == NULL)
        return FALSE;
    vb_domain_apply_os_defaults(list, given);
    if (!g_str_equal(given->name, d->image_def->name)) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                    "the XML given for the restore names domain '%s', but save image '%s' "
                    "holds domain '%s'; it must describe the same domain", given->name,
                    d->path, d->image_def->name);
        return FALSE;
    }
    if (!vb_domain_def_check_abi_stability(d->image_def, given, error))
        return FALSE;
    d->run_def = g_steal_pointer(&given);
    return TRUE;
}

/* The domain to restore into: the defined one, or a new transient one. */
static VbDomainObj *
restore_domain(VbDomainList *list, RestoreData *d, GError **error)
{
    char uuid[37];
    VbDomainObj *dom;
    g_autofree char *path = NULL;
    VbDomainDef *copy = NULL;

    vb_uuid_format(d->run_def->uuid, uuid);
    g_mutex_lock(&list->define_lock);
    /* a domain kept as a stub is restored into its loaded object (issue 16) */
    if (!vb_domain_list_load_stub(list, uuid, error)) {
        g_mutex_unlock(&list->define_lock);
        return NULL;
    }
    g_mutex_lock(&list->lock);
    dom = g_hash_table_lookup(list->by_uuid, uuid);
    if (dom != NULL) {
        g_autofree char *name = vb_domain_obj_get_name(dom);

        if (!g_str_equal(name, d->run_def->name)) {
            g_set_error(error, VB_ERROR, VB_ERROR_EXISTS,
                        "uuid %s belongs to domain '%s', not '%s'", uuid, name,
                        d->run_def->name);
            dom = NULL;
        } else {
            vb_domain_obj_ref(dom);
        }
    } else if (vb_domain_list_has_name_locked(list, d->run_def->name)) {
        g_set_error(error, VB_ERROR, VB_ERROR_EXISTS, "domain '%s' exists with another uuid",
                    d->run_def->name);
    } else if ((copy = vb_domain_def_copy(d->run_def)) == NULL) {
        g_set_error_literal(error, VB_ERROR, VB_ERROR_INTERNAL,
                            "cannot copy the definition to restore");
    } else {
        path = list->path_func(uuid);
        dom = vb_domain_obj_new(g_steal_pointer(&copy), path);
        vb_domain_list_insert(list, dom, d->run_def->name);
        d->created = TRUE;
    }
    g_mutex_unlock(&list->lock);
    g_mutex_unlock(&list->define_lock);
    if (d->created)
        vb_domain_list_notify(list, dom, VB_DOMAIN_NOTIFY_ADDED, NULL, NULL);
    return dom;
}

static void
forget_created(VbDomainList *list, VbDomainObj *dom, RestoreData *d)
{
    gboolean still_there;

    if (!d->created)
        return;
    g_mutex_lock(&dom->lock);
    still_there = !dom->removed && dom->id < 0;
    g_mutex_unlock(&dom->lock);
    if (still_there) {
        vb_domain_list_remove(list, dom);
        vb_domain_list_notify(list, dom, VB_DOMAIN_NOTIFY_REMOVED, NULL, NULL);
    }
}

/* Starts QEMU with "-incoming defer" and the definition of the image. */
static gboolean
start_incoming(VbDomainList *list, VbDomainObj *dom, VbJob *job, RestoreData *d,
               GError **error)
{
    gboolean ok;
    const char *owner = NULL;

    if (!vb_domain_use_live_def(dom, d->run_def, "the definition to restore", error))
        return FALSE;
    g_mutex_lock(&dom->lock);
    owner = dom->job.async_owner;
    g_mutex_unlock(&dom->lock);
    if (!vb_domain_job_begin_nested(dom, list->config->job_wait_timeout, error))
        return FALSE;
    ok = vb_domain_start_locked(list, dom, d->start_flags, owner, TRUE, error);
    vb_domain_job_end(dom);
    if (!ok) {
        g_mutex_lock(&dom->lock);
        if (dom->new_def != NULL) {
            vb_domain_def_free(dom->def);
            dom->def = g_steal_pointer(&dom->new_def);
        }
        g_mutex_unlock(&dom->lock);
    }
    return ok;
}

/* Starts "zstd -d" reading the image; QEMU reads its stdout (*out_fd). */
static gboolean
spawn_decompressor(RestoreData *d, VbStreamFeeder *f, int *out_fd, GError **error)
{
    const char *argv[] = { "zstd", "-d", "-q", "-c", NULL };
    int out[2] = { -1, -1 };
    int err[2] = { -1, -1 };
    gboolean ok;

    if (!g_unix_open_pipe(out, FD_CLOEXEC, NULL) || !g_unix_open_pipe(err, FD_CLOEXEC, NULL)) {
        g_set_error(error, VB_ERROR, VB_ERROR_IO, "pipe: %s", g_strerror(errno));
        for (int i = 0; i < 2; i++) {
            if (out[i] >= 0)
                close(out[i]);
        }
        return FALSE;
    }
    ok = g_spawn_async_with_fds(NULL, (char **)argv, NULL,
                                G_SPAWN_SEARCH_PATH | G_SPAWN_DO_NOT_REAP_CHILD, NULL, NULL,
                                &f->pid, d->fd, out[1], err[1], error);
    close(out[1]);
    close(err[1]);
    if (!ok) {
        close(out[0]);
        close(err[0]);
        f->pid = 0;
        vb_error_convert(error);
        g_prefix_error(error, "cannot run zstd to decompress save image '%s': ", d->path);
        return FALSE;
    }
    g_unix_set_fd_nonblocking(err[0], TRUE, NULL);
    f->err_fd = err[0];
    *out_fd = out[0];
    return TRUE;
}

/* Feeds QEMU the stream and waits until it has loaded it. */
static gboolean
load_stream(VbDomainList *list, VbDomainObj *dom, VbJob *job, RestoreData *d, GError **error)
{
    JsonObject *fdargs = json_object_new();
    JsonObject *margs = json_object_new();
    g_autoptr(JsonNode) r1 = NULL, r2 = NULL;
    VbStreamFeeder f = { .pid = 0, .err_fd = -1, .image = d->path };
    int qemu_fd = d->fd;
    gboolean ok = FALSE;

    if (d->header.compression == VB_SAVE_COMPRESSION_ZSTD &&
        !spawn_decompressor(d, &f, &qemu_fd, error)) {
        json_object_unref(fdargs);
        json_object_unref(margs);
        return FALSE;
    }
    json_object_set_string_member(fdargs, "fdname", FDNAME);
    json_object_set_string_member(margs, "uri", "fd:" FDNAME);
    r1 = vb_domain_async_monitor(list, dom, "getfd", fdargs, qemu_fd, error);
    if (qemu_fd != d->fd)
        close(qemu_fd);
    if (r1 != NULL)
        r2 = vb_domain_async_monitor(list, dom, "migrate-incoming", margs, -1, error);
    else
        json_object_unref(margs);
    if (r2 != NULL)
        ok = vb_domain_async_wait_migration(list, dom, job, d->fd, &f, error);
    if (f.pid > 0 && !f.exited) {
        if (!ok)
            kill(f.pid, SIGKILL);
        waitpid(f.pid, &f.status, 0);
    }
    if (f.pid > 0 && ok && (!WIFEXITED(f.status) || WEXITSTATUS(f.status) != 0))
        VB_LOG_DOMAIN(G_LOG_LEVEL_WARNING, dom->uuid_str,
                      "zstd ended with status %d after the restore", f.status);
    if (f.err_fd >= 0)
        close(f.err_fd);
    return ok;
}

/* ---- issue 15, extrevert: a restore with the domain's job held (a snapshot's memory) ---- */

#define LOADED_TIMEOUT_US (G_GINT64_CONSTANT(30) * 60 * G_USEC_PER_SEC)

/* query-migrate of the incoming QEMU until the stream is loaded; woken by its MIGRATION
 * events on the domain's condition, else every 200 ms; QEMU silent (no status) for 30 s,
 * a failure or 30 minutes end it. */
static gboolean
wait_loaded(VbDomainObj *dom, VbQemuMonitor *mon, const char *path, GError **error)
{
    gint64 start = g_get_monotonic_time();

    for (;;) {
        g_autoptr(JsonNode) r = vb_qemu_monitor_command(mon, "query-migrate", NULL, 30000,
                                                        error);
        JsonObject *o = r != NULL && JSON_NODE_HOLDS_OBJECT(r) ? json_node_get_object(r) : NULL;
        const char *status = o != NULL && json_object_has_member(o, "status")
                                 ? json_object_get_string_member(o, "status") : "none";
        gint64 now = g_get_monotonic_time();
        guint seen;

        if (r == NULL)
            return FALSE;
        if (g_str_equal(status, "completed"))
            return TRUE;
        if (g_str_equal(status, "failed") || g_str_equal(status, "cancelled") ||
            (g_str_equal(status, "none") && now - start > 30 * G_USEC_PER_SEC) ||
            now - start > LOADED_TIMEOUT_US) {
            g_set_error(error, VB_ERROR, VB_ERROR_QEMU, "QEMU could not load the memory "
                        "state from '%s' (migration %s): %s", path, status,
                        o != NULL && json_object_has_member(o, "error-desc")
                            ? json_object_get_string_member(o, "error-desc")
                            : "no details");
            return FALSE;
        }
        g_mutex_lock(&dom->lock);
        seen = dom->job.migration_events;
        while (seen == dom->job.migration_events && dom->id >= 0 &&
               g_cond_wait_until(&dom->job.cond, &dom->lock,
                                 g_get_monotonic_time() + 200 * 1000))
            ;
        g_mutex_unlock(&dom->lock);
    }
}

/**
 * vb_restore_image_load_locked:
 * @image: an image from vb_restore_image_open(); the caller keeps it
 * @run_def: the definition QEMU runs (the caller checked its ABI against the image's)
 * @run: let the guest run once loaded, else it stays paused
 *
 * Issue 15 (a revert to a snapshot with an external memory state): with the domain's job
 * held, as the snapshot job's body holds its nested job, the stopped @dom starts from
 * @image: QEMU with "-incoming defer" running @run_def, the stream passed with getfd
 * (through "zstd -d" for a compressed image) and loaded, then `cont` unless paused;
 * state running or paused, reason and Lifecycle detail "from-snapshot". The monitor is
 * used directly (vb_domain_async_monitor() would take a second nested job). A failure
 * kills the new QEMU: the domain is shut off with its definition as before. Job thread.
 */
gboolean
vb_restore_image_load_locked(VbDomainList *list, VbDomainObj *dom, VbRestoreImage *image,
                             const VbDomainDef *run_def, gboolean run, GError **error)
{
    RestoreData *d = image;
    VbStartExtra extra = { .def = run_def, .from_snapshot = TRUE };
    VbStreamFeeder f = { .pid = 0, .err_fd = -1, .image = d->path };
    g_autoptr(VbQemuMonitor) mon = NULL;
    g_autoptr(JsonNode) r1 = NULL, r2 = NULL, r3 = NULL;
    JsonObject *fdargs, *margs;
    int qemu_fd = d->fd;
    gboolean ok = FALSE;

    if (!vb_domain_start_locked_full(list, dom, VB_START_PAUSED, NULL, TRUE, &extra, error))
        return FALSE;
    g_mutex_lock(&dom->lock);
    if (dom->id >= 0 && dom->mon != NULL && !dom->stopping)
        mon = vb_qemu_monitor_ref(dom->mon);
    g_mutex_unlock(&dom->lock);
    if (mon == NULL)
        g_set_error(error, VB_ERROR, VB_ERROR_QEMU, "QEMU ended before loading '%s'",
                    d->path);
    else if (d->header.compression != VB_SAVE_COMPRESSION_ZSTD ||
             spawn_decompressor(d, &f, &qemu_fd, error)) {
        fdargs = json_object_new();
        json_object_set_string_member(fdargs, "fdname", FDNAME);
        r1 = vb_qemu_monitor_command_with_fd(mon, "getfd", fdargs, qemu_fd, 30000, error);
        if (qemu_fd != d->fd)
            close(qemu_fd);
        if (r1 != NULL) {
            margs = json_object_new();
            json_object_set_string_member(margs, "uri", "fd:" FDNAME);
            r2 = vb_qemu_monitor_command(mon, "migrate-incoming", margs, 30000, error);
        }
        ok = r2 != NULL && wait_loaded(dom, mon, d->path, error);
        if (ok && run)
            ok = (r3 = vb_qemu_monitor_command(mon, "cont", NULL, 30000, error)) != NULL;
    }
    if (f.pid > 0) {
        if (!ok)
            kill(f.pid, SIGKILL);
        waitpid(f.pid, &f.status, 0);
    }
    if (f.err_fd >= 0)
        close(f.err_fd);
    if (!ok) {
        vb_domain_teardown(list, dom, VB_DOMAIN_REASON_FAILED);
        return FALSE;
    }
    g_mutex_lock(&dom->lock);
    vb_domain_obj_set_state(dom, run ? VB_DOMAIN_STATE_RUNNING : VB_DOMAIN_STATE_PAUSED,
                            VB_DOMAIN_REASON_FROM_SNAPSHOT);
    dom->resumed_at = g_get_real_time();
    g_mutex_unlock(&dom->lock);
    {
        g_autoptr(GError) st_err = NULL;

        if (!vb_domain_status_save(list, dom, &st_err))
            VB_LOG_DOMAIN(G_LOG_LEVEL_WARNING, dom->uuid_str, "%s", st_err->message);
    }
    vb_domain_list_notify(list, dom, VB_DOMAIN_NOTIFY_CHANGED, "started", "from-snapshot");
    if (!run)
        vb_domain_list_notify(list, dom, VB_DOMAIN_NOTIFY_CHANGED, "suspended",
                              "from-snapshot");
    return TRUE;
}

/* The definition a save image holds (the domain as it was saved). */
const VbDomainDef *
vb_restore_image_get_def(VbRestoreImage *image)
{
    return image->image_def;
}

/* Lets the restored guest run (unless paused was asked or recorded). */
static gboolean
resume_restored(VbDomainList *list, VbDomainObj *dom, RestoreData *d, GError **error)
{
    gboolean run = (d->header.flags & 2) != 0;

    if (d->flags & VB_SAVE_RUNNING)
        run = TRUE;
    if ((d->flags & VB_SAVE_PAUSED) || (d->start_flags & VB_START_PAUSED))
        run = FALSE;
    if (run) {
        g_autoptr(JsonNode) r = vb_domain_async_monitor(list, dom, "cont", NULL, -1, error);

        if (r == NULL)
            return FALSE;
    }
    g_mutex_lock(&dom->lock);
    vb_domain_obj_set_state(dom, run ? VB_DOMAIN_STATE_RUNNING : VB_DOMAIN_STATE_PAUSED,
                            run ? VB_DOMAIN_REASON_RESTORED : VB_DOMAIN_REASON_USER);
    dom->resumed_at = g_get_real_time();
    g_mutex_unlock(&dom->lock);
    return TRUE;
}

static gboolean
restore_body(VbDomainList *list, VbDomainObj *dom, VbJob *job, gpointer data,
             GVariant **out_result, GError **error)
{
    RestoreData *d = data;
    GVariantDict res;

    vb_domain_async_job_phase(list, dom, job, "starting", TRUE);
    if (!start_incoming(list, dom, job, d, error)) {
        forget_created(list, dom, d);
        return FALSE;
    }
    vb_domain_async_job_phase(list, dom, job, "loading", TRUE);
    if (!vb_domain_async_check_abort(dom, error) || !load_stream(list, dom, job, d, error) ||
        (vb_domain_async_job_phase(list, dom, job, "resuming", FALSE),
         !resume_restored(list, dom, d, error))) {
        g_autoptr(GError) end_err = NULL;

        if (vb_domain_list_shutting_down(list))
            return FALSE;
        /* a half-loaded QEMU is of no use: kill it */
        if (vb_domain_job_begin_nested(dom, list->config->job_wait_timeout, &end_err)) {
            vb_domain_teardown(list, dom, VB_DOMAIN_REASON_FAILED);
            vb_domain_job_end(dom);
        }
        return FALSE;
    }
    if (d->managed) {
        g_autoptr(GError) rm_err = NULL;

        if (!vb_domain_managed_save_discard(list, dom, &rm_err))
            VB_LOG_DOMAIN(G_LOG_LEVEL_WARNING, dom->uuid_str, "%s", rm_err->message);
    }
    {
        g_autoptr(GError) st_err = NULL;

        if (!vb_domain_status_save(list, dom, &st_err))
            VB_LOG_DOMAIN(G_LOG_LEVEL_WARNING, dom->uuid_str, "%s", st_err->message);
    }
    VB_LOG_DOMAIN(G_LOG_LEVEL_INFO, dom->uuid_str, "restored from '%s'", d->path);
    vb_domain_list_notify(list, dom, VB_DOMAIN_NOTIFY_CHANGED, "started", "restored");
    g_variant_dict_init(&res, NULL);
    g_variant_dict_insert(&res, "domain", "o", dom->object_path);
    g_variant_dict_insert(&res, "path", "s", d->path);
    *out_result = g_variant_dict_end(&res);
    return TRUE;
}

/* Begins the async job on @dom (inactive) and runs the restore. */
static VbJob *
restore_begin(VbDomainList *list, VbDomainObj *dom, RestoreData *d, const char *method,
              const char *owner, gboolean wait, GError **error)
{
    gboolean refused = TRUE;

    if (!vb_domain_async_job_begin(dom, VB_ASYNC_JOB_MIGRATION_IN, method, owner,
                                   list->config->job_wait_timeout, list->config->max_queued,
                                   error)) {
        forget_created(list, dom, d);
        restore_data_free(d);
        return NULL;
    }
    g_mutex_lock(&dom->lock);
    /* gone: nothing to destroy, so no advice to; active: destroy is the way */
    if (dom->removed)
        g_set_error(error, VB_ERROR, VB_ERROR_NO_DOMAIN, "domain '%s' (%s) no longer exists",
                    dom->def->name, dom->uuid_str);
    else if (dom->id >= 0)
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_STATE,
                    "domain '%s' is already active (%s); destroy it before restoring",
                    dom->def->name, vb_domain_state_to_string(dom->state));
    else
        refused = FALSE;
    g_mutex_unlock(&dom->lock);
    if (refused) {
        vb_domain_async_job_end(dom);
        restore_data_free(d);
        return NULL;
    }
    return vb_domain_async_job_start(list, dom, VB_ASYNC_JOB_MIGRATION_IN, "restore", owner,
                                     restore_body, d, (GDestroyNotify)restore_data_free, wait);
}

/**
 * vb_domain_restore:
 * @image: (transfer full): the image, from vb_restore_image_open()
 * @xml: (nullable): ABI-compatible XML of the same domain to run instead
 *   of the image's
 * @flags: VbSaveFlags (RUNNING, PAUSED)
 *
 * Checks the image and starts restoring it into the domain of its uuid
 * (a new transient one when none is defined). Worker threads.
 *
 * Returns: (transfer full): the running job, or %NULL.
 */
VbJob *
vb_domain_restore(VbDomainList *list, VbRestoreImage *image, const char *xml, guint flags,
                  const char *owner, GError **error)
{
    RestoreData *d = image;
    g_autoptr(VbDomainObj) dom = NULL;

    if (flags & VB_SAVE_BYPASS_CACHE) {
        g_set_error_literal(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
                            "BYPASS_CACHE (1) is not supported");
        restore_data_free(d);
        return NULL;
    }
    if ((flags & VB_SAVE_RUNNING) && (flags & VB_SAVE_PAUSED)) {
        g_set_error_literal(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                            "RUNNING (2) and PAUSED (4) exclude each other");
        restore_data_free(d);
        return NULL;
    }
    d->flags = flags;
    if (!restore_choose_def(list, d, xml, error)) {
        restore_data_free(d);
        return NULL;
    }
    dom = restore_domain(list, d, error);
    if (dom == NULL) {
        restore_data_free(d);
        return NULL;
    }
    return restore_begin(list, dom, d, "Restore", owner, FALSE, error);
}

/**
 * vb_domain_restore_managed:
 * @flags: VbStartFlags of the Start call
 *
 * Start of a domain with a managed save image: restores it (waiting for
 * the restore) and removes the image. A failed restore keeps the image.
 */
gboolean
vb_domain_restore_managed(VbDomainList *list, VbDomainObj *dom, guint flags, const char *owner,
                          GError **error)
{
    g_autofree char *name = vb_domain_obj_get_name(dom);
    g_autofree char *path = vb_domain_managed_save_path(list, name);
    g_autoptr(VbJob) job = NULL;
    RestoreData *d = vb_restore_image_open(path, (guint32)geteuid(), error);
    VbJobInfo info = { 0 };
    gboolean ok;

    if (d != NULL && !restore_choose_def(list, d, NULL, error))
        g_clear_pointer(&d, restore_data_free);
    if (d == NULL) {
        g_prefix_error(error, "cannot restore the managed save of '%s' (Start with FORCE_BOOT "
                       "to boot afresh): ", name);
        return FALSE;
    }
    d->managed = TRUE;
    d->start_flags = flags & (VB_START_PAUSED | VB_START_AUTODESTROY);
    job = restore_begin(list, dom, d, "Start", owner, TRUE, error);
    if (job == NULL)
        return FALSE;
    vb_job_get_info(job, &info);
    ok = info.error == NULL;
    if (!ok)
        g_propagate_error(error, g_steal_pointer(&info.error));
    vb_job_info_clear(&info);
    return ok;
}
