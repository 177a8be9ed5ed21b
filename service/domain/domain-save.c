/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <glib-unix.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "domain-list-priv.h"
#include "domain-save-image.h"
#include "store.h"
#include "vb-error.h"
#include "vb-log.h"

/*
 * Save and ManagedSave (an async job of type save): stop the vCPUs, write
 * the image header and the migratable XML into a temporary file beside
 * the target, hand QEMU a descriptor (the file itself, or a pipe into
 * zstd) with getfd, and migrate to "fd:". On success the file is renamed
 * into place and QEMU stopped (shutoff/saved); on failure or cancel the
 * temporary file goes and the guest runs on as it was.
 */

#define FDNAME "vbsave"

typedef struct {
    char *path;          /* the final image */
    char *xml;           /* migratable XML to record */
    guint flags;         /* VbSaveFlags */
    gboolean managed;
    guint32 uid;         /* the caller's: what it may replace at @path */
    VbSaveTarget target; /* @path's directory, opened and checked at the call */
} SaveData;

static void
save_data_free(SaveData *d)
{
    vb_save_target_clear(&d->target);
    g_free(d->path);
    g_free(d->xml);
    g_free(d);
}

/* What a save runs with while it writes. */
typedef struct {
    VbSaveTarget *target; /* its temporary file */
    int file_fd;
    int qemu_fd;          /* what QEMU writes to: file_fd, or the pipe into zstd */
    GPid compressor;
    gboolean was_running;
} SaveRun;

static void
save_run_clear(SaveRun *r)
{
    if (r->qemu_fd >= 0 && r->qemu_fd != r->file_fd)
        close(r->qemu_fd);
    if (r->file_fd >= 0)
        close(r->file_fd);
    if (r->compressor > 0) {
        kill(r->compressor, SIGKILL);
        waitpid(r->compressor, NULL, 0);
    }
    if (r->target != NULL)
        vb_save_target_discard(r->target);
}

/* The test suite slows saves down with this, to cancel them in flight. */
static gint64
max_bandwidth(void)
{
    const char *v = g_getenv("VIRTBUS_TEST_SAVE_MAX_BANDWIDTH");

    if (v != NULL && *v != '\0') {
        g_warning("VIRTBUS_TEST_SAVE_MAX_BANDWIDTH=%s: saves are throttled (test only)", v);
        return g_ascii_strtoll(v, NULL, 10);
    }
    return G_MAXINT64;
}

/* Stops the vCPUs (if they run); remembers whether they ran. */
static gboolean
stop_cpus(VbDomainList *list, VbDomainObj *dom, SaveRun *r, GError **error)
{
    g_autoptr(JsonNode) res = NULL;

    g_mutex_lock(&dom->lock);
    r->was_running = dom->state == VB_DOMAIN_STATE_RUNNING;
    dom->job.was_running = r->was_running;
    if (r->was_running)
        dom->pause_reason = VB_DOMAIN_REASON_SAVING;
    g_mutex_unlock(&dom->lock);
    if (!r->was_running)
        return TRUE;
    res = vb_domain_async_monitor(list, dom, "stop", NULL, -1, error);
    if (res == NULL)
        return FALSE;
    g_mutex_lock(&dom->lock);
    vb_domain_obj_set_state(dom, VB_DOMAIN_STATE_PAUSED, VB_DOMAIN_REASON_SAVING);
    g_mutex_unlock(&dom->lock);
    vb_domain_list_notify(list, dom, VB_DOMAIN_NOTIFY_CHANGED, NULL, NULL);
    return TRUE;
}

/* Lets the guest run again after a failed or cancelled save. */
static void
resume_cpus(VbDomainList *list, VbDomainObj *dom, SaveRun *r)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) res = NULL;

    if (!r->was_running)
        return;
    res = vb_domain_async_monitor(list, dom, "cont", NULL, -1, &error);
    if (res == NULL) {
        VB_LOG_DOMAIN(G_LOG_LEVEL_WARNING, dom->uuid_str,
                      "cannot resume the guest after the save: %s", error->message);
        return;
    }
    g_mutex_lock(&dom->lock);
    if (dom->id >= 0) {
        vb_domain_obj_set_state(dom, VB_DOMAIN_STATE_RUNNING, VB_DOMAIN_REASON_UNPAUSED);
        dom->resumed_at = g_get_real_time();
    }
    g_mutex_unlock(&dom->lock);
    vb_domain_list_notify(list, dom, VB_DOMAIN_NOTIFY_CHANGED, NULL, NULL);
}

/* Opens the temporary file beside @path and writes the header and XML. The status
 * names the temporary file before it exists (phase "opening"), so a service killed from
 * here on removes it at its next start (domain-reconnect.c). */
static void
record_temp(VbDomainObj *dom, const SaveData *d)
{
    g_mutex_lock(&dom->lock);
    g_free(dom->job.temp_path);
    dom->job.temp_path = g_strdup(d->target.temp_path);
    g_mutex_unlock(&dom->lock);
}

static gboolean
open_image(VbDomainList *list, VbDomainObj *dom, VbJob *job, SaveData *d, SaveRun *r,
           guint header_flags, GError **error)
{
    g_autofree char *picked = NULL;

    r->target = &d->target;
    vb_save_target_pick_temp(&d->target);
    picked = g_strdup(d->target.temp_path);
    record_temp(dom, d);
    vb_domain_async_job_phase(list, dom, job, "opening", TRUE);
    r->file_fd = vb_save_target_create_temp(&d->target, error);
    if (r->file_fd < 0)
        return FALSE;
    if (g_strcmp0(picked, d->target.temp_path) != 0) {
        /* the name was taken meanwhile: record the other one */
        record_temp(dom, d);
        vb_domain_async_job_phase(list, dom, job, "opening", TRUE);
    }
    if (!vb_save_image_write_header(r->file_fd, d->xml, header_flags,
                                    (d->flags & VB_SAVE_COMPRESS) != 0, error)) {
        /* "No space left on device": which file system is full */
        g_prefix_error(error, "'%s': ", d->target.path);
        return FALSE;
    }
    return TRUE;
}

/* QEMU's end of the stream: the file, or a pipe into zstd writing the file. */
static gboolean
open_stream(SaveData *d, SaveRun *r, GError **error)
{
    const char *argv[] = { "zstd", "-q", "-c", "-1", "-T0", NULL };
    int p[2];

    if (!(d->flags & VB_SAVE_COMPRESS)) {
        r->qemu_fd = r->file_fd;
        return TRUE;
    }
    if (!g_unix_open_pipe(p, FD_CLOEXEC, NULL)) {
        g_set_error(error, VB_ERROR, VB_ERROR_IO, "pipe: %s", g_strerror(errno));
        return FALSE;
    }
    if (!g_spawn_async_with_fds(NULL, (char **)argv, NULL,
                                G_SPAWN_SEARCH_PATH | G_SPAWN_DO_NOT_REAP_CHILD |
                                    G_SPAWN_STDERR_TO_DEV_NULL,
                                NULL, NULL, &r->compressor, p[0], r->file_fd, -1, error)) {
        close(p[0]);
        close(p[1]);
        vb_error_convert(error);
        g_prefix_error(error, "cannot run zstd to compress the save image: ");
        return FALSE;
    }
    close(p[0]);
    r->qemu_fd = p[1];
    return TRUE;
}

/* After QEMU completed: the compressor's end, fsync, rename into place. */
static gboolean
commit_image(SaveData *d, SaveRun *r, GError **error)
{
    if (r->qemu_fd != r->file_fd) {
        int status = 0;

        close(r->qemu_fd);
        r->qemu_fd = -1;
        if (waitpid(r->compressor, &status, 0) < 0 || !WIFEXITED(status) ||
            WEXITSTATUS(status) != 0) {
            r->compressor = 0;
            g_set_error_literal(error, VB_ERROR, VB_ERROR_IO, "zstd failed to compress the image");
            return FALSE;
        }
        r->compressor = 0;
    }
    if (fsync(r->file_fd) < 0) {
        g_set_error(error, VB_ERROR, VB_ERROR_IO, "cannot write '%s': %s", d->path,
                    g_strerror(errno));
        return FALSE;
    }
    return vb_save_target_commit(&d->target, error);
}

/* QEMU writes its state into @r->qemu_fd; returns when it completed. */
static gboolean
migrate_to_fd(VbDomainList *list, VbDomainObj *dom, VbJob *job, SaveRun *r, GError **error)
{
    JsonObject *params = json_object_new();
    JsonObject *fdargs = json_object_new();
    JsonObject *margs = json_object_new();
    g_autoptr(JsonNode) r1 = NULL, r2 = NULL, r3 = NULL;

    json_object_set_int_member(params, "max-bandwidth", max_bandwidth());
    r1 = vb_domain_async_monitor(list, dom, "migrate-set-parameters", params, -1, error);
    if (r1 == NULL)
        return FALSE;
    json_object_set_string_member(fdargs, "fdname", FDNAME);
    r2 = vb_domain_async_monitor(list, dom, "getfd", fdargs, r->qemu_fd, error);
    if (r2 == NULL)
        return FALSE;
    /* QEMU has its own copy; ours would keep the pipe open after QEMU's end */
    if (r->qemu_fd != r->file_fd) {
        close(r->qemu_fd);
        r->qemu_fd = -1;
    }
    json_object_set_string_member(margs, "uri", "fd:" FDNAME);
    r3 = vb_domain_async_monitor(list, dom, "migrate", margs, -1, error);
    if (r3 == NULL)
        return FALSE;
    return vb_domain_async_wait_migration(list, dom, job, -1, NULL, error);
}

/* After a failure: stop QEMU's migration if it still runs (best effort). */
static void
cancel_migration(VbDomainList *list, VbDomainObj *dom)
{
    g_autoptr(JsonNode) c = vb_domain_async_monitor(list, dom, "migrate_cancel", NULL, -1, NULL);

    for (int i = 0; c != NULL && i < 50; i++) {
        g_autoptr(JsonNode) q = vb_domain_async_monitor(list, dom, "query-migrate", NULL, -1,
                                                        NULL);
        JsonObject *o = q != NULL && JSON_NODE_HOLDS_OBJECT(q) ? json_node_get_object(q) : NULL;
        const char *st = o != NULL && json_object_has_member(o, "status")
                             ? json_object_get_string_member(o, "status") : "none";

        if (!g_str_equal(st, "active") && !g_str_equal(st, "setup") &&
            !g_str_equal(st, "cancelling"))
            break;
        g_usleep(100 * 1000);
    }
}

/* Success: QEMU goes, the domain is shutoff/saved. */
static void
finish_saved(VbDomainList *list, VbDomainObj *dom, SaveData *d)
{
    g_autoptr(GError) error = NULL;

    if (d->managed) {
        g_mutex_lock(&dom->lock);
        dom->has_managed_save = TRUE;
        g_mutex_unlock(&dom->lock);
    }
    if (!vb_domain_job_begin_nested(dom, list->config->job_wait_timeout, &error)) {
        VB_LOG_DOMAIN(G_LOG_LEVEL_WARNING, dom->uuid_str, "%s", error->message);
        return;
    }
    vb_domain_teardown(list, dom, VB_DOMAIN_REASON_SAVED);
    vb_domain_job_end(dom);
}

static gboolean
save_body(VbDomainList *list, VbDomainObj *dom, VbJob *job, gpointer data,
          GVariant **out_result, GError **error)
{
    SaveData *d = data;
    SaveRun r = { .file_fd = -1, .qemu_fd = -1 };
    guint header_flags;
    gboolean ok;
    struct stat st;
    GVariantDict res;

    vb_domain_async_job_phase(list, dom, job, "stopping", TRUE);
    ok = stop_cpus(list, dom, &r, error) && vb_domain_async_check_abort(dom, error);
    header_flags = d->flags & (VB_SAVE_RUNNING | VB_SAVE_PAUSED);
    if (header_flags == 0)
        header_flags = r.was_running ? VB_SAVE_RUNNING : VB_SAVE_PAUSED;
    ok = ok && open_image(list, dom, job, d, &r, header_flags, error) && open_stream(d, &r, error);
    if (ok) {
        vb_domain_async_job_phase(list, dom, job, "saving", TRUE);
        ok = migrate_to_fd(list, dom, job, &r, error);
    }
    if (ok) {
        vb_domain_async_job_phase(list, dom, job, "finishing", FALSE);
        ok = commit_image(d, &r, error);
    }
    if (!ok) {
        if (!vb_domain_list_shutting_down(list)) {
            /* the compressor first: QEMU may be blocked writing into its pipe */
            save_run_clear(&r);
            cancel_migration(list, dom);
            resume_cpus(list, dom, &r);
        } else {
            /* leave it to the recovery: only our descriptors go */
            if (r.target != NULL)
                vb_save_target_forget_temp(r.target);
            r.compressor = 0;
            save_run_clear(&r);
        }
        return FALSE;
    }
    finish_saved(list, dom, d);
    g_variant_dict_init(&res, NULL);
    g_variant_dict_insert(&res, "path", "s", d->path);
    g_variant_dict_insert(&res, "size", "t",
                          fstat(r.file_fd, &st) == 0 ? (guint64)st.st_size : (guint64)0);
    g_variant_dict_insert(&res, "compressed", "b", (d->flags & VB_SAVE_COMPRESS) != 0);
    save_run_clear(&r);
    *out_result = g_variant_dict_end(&res);
    return TRUE;
}

/* Worker: the checks of Save/ManagedSave, with the async job taken. */
static gboolean
save_check(VbDomainList *list, VbDomainObj *dom, SaveData *d, const char *xml, GError **error)
{
    g_autoptr(VbDomainDef) live = NULL;
    g_autoptr(VbDomainDef) given = NULL;

    g_mutex_lock(&dom->lock);
    if (dom->id < 0 || dom->mon == NULL || dom->stopping) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_STATE,
                    "domain '%s' is not running; only a running domain can be saved",
                    dom->def->name);
        g_mutex_unlock(&dom->lock);
        return FALSE;
    }
    if (d->managed && !dom->persistent) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_STATE,
                    "domain '%s' is transient; a managed save needs a persistent domain "
                    "(use Save with a path)", dom->def->name);
        g_mutex_unlock(&dom->lock);
        return FALSE;
    }
    live = vb_domain_def_copy(dom->def);
    g_mutex_unlock(&dom->lock);
    if (live == NULL) {
        g_set_error_literal(error, VB_ERROR, VB_ERROR_INTERNAL,
                            "cannot copy the live definition");
        return FALSE;
    }
    if (xml != NULL && *xml != '\0') {
        given = vb_domain_parse_config(xml, error);
        if (given == NULL)
            return FALSE;
        vb_domain_apply_os_defaults(list, given);
        /* the image restores into the domain it names: it must be this one */
        if (!g_str_equal(given->name, live->name)) {
            g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                        "the XML given for the save names domain '%s', not '%s'; it must "
                        "describe the same domain", given->name, live->name);
            return FALSE;
        }
        if (!vb_domain_def_check_abi_stability(live, given, error))
            return FALSE;
        d->xml = vb_domain_def_format(given, VB_DOMAIN_DEF_FORMAT_MIGRATABLE |
                                                 VB_DOMAIN_DEF_FORMAT_SECURE, error);
    } else {
        d->xml = vb_domain_def_format(live, VB_DOMAIN_DEF_FORMAT_MIGRATABLE |
                                                VB_DOMAIN_DEF_FORMAT_SECURE, error);
    }
    return d->xml != NULL;
}

static VbJob *
save_start(VbDomainList *list, VbDomainObj *dom, SaveData *d, const char *xml,
           const char *method, const char *owner, GError **error)
{
    if (d->flags & VB_SAVE_BYPASS_CACHE) {
        g_set_error_literal(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
                            "BYPASS_CACHE (1) is not supported");
        save_data_free(d);
        return NULL;
    }
    if ((d->flags & VB_SAVE_RUNNING) && (d->flags & VB_SAVE_PAUSED)) {
        g_set_error_literal(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                            "RUNNING (2) and PAUSED (4) exclude each other");
        save_data_free(d);
        return NULL;
    }
    /* refused before anything runs; checked again when the image is renamed */
    if (!vb_save_target_open(&d->target, d->path, d->uid, error)) {
        save_data_free(d);
        return NULL;
    }
    if (!vb_domain_async_job_begin(dom, VB_ASYNC_JOB_SAVE, method, owner,
                                   list->config->job_wait_timeout, list->config->max_queued,
                                   error)) {
        save_data_free(d);
        return NULL;
    }
    if (!save_check(list, dom, d, xml, error)) {
        vb_domain_async_job_end(dom);
        save_data_free(d);
        return NULL;
    }
    return vb_domain_async_job_start(list, dom, VB_ASYNC_JOB_SAVE, "save", owner, save_body, d,
                                     (GDestroyNotify)save_data_free, FALSE);
}

/**
 * vb_domain_save:
 * @path: absolute path of the image
 * @xml: (nullable): ABI-compatible XML to record instead of the live one
 * @flags: VbSaveFlags
 * @uid: the caller's uid: @path may only replace a regular file it owns
 *
 * Starts saving @dom (async job "save"). Worker threads.
 *
 * Returns: (transfer full): the running job, or %NULL.
 */
VbJob *
vb_domain_save(VbDomainList *list, VbDomainObj *dom, const char *path, const char *xml,
               guint flags, const char *owner, guint32 uid, GError **error)
{
    SaveData *d;

    if (!g_path_is_absolute(path)) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                    "the save image path must be absolute, not '%s'", path);
        return NULL;
    }
    d = g_new0(SaveData, 1);
    d->path = g_strdup(path);
    d->flags = flags;
    d->uid = uid;
    return save_start(list, dom, d, xml, "Save", owner, error);
}

/**
 * vb_domain_managed_save:
 *
 * As vb_domain_save(), into the service's own image of @dom; the next
 * Start restores it.
 */
VbJob *
vb_domain_managed_save(VbDomainList *list, VbDomainObj *dom, guint flags, const char *owner,
                       GError **error)
{
    SaveData *d = g_new0(SaveData, 1);
    g_autofree char *name = vb_domain_obj_get_name(dom);

    d->path = vb_domain_managed_save_path(list, name);
    d->flags = flags;
    d->managed = TRUE;
    d->uid = (guint32)geteuid(); /* the service's own image */
    return save_start(list, dom, d, NULL, "ManagedSave", owner, error);
}

/* With a job held: removes the managed save image and publishes it. */
gboolean
vb_domain_managed_save_discard(VbDomainList *list, VbDomainObj *dom, GError **error)
{
    g_autofree char *name = vb_domain_obj_get_name(dom);
    g_autofree char *image = vb_domain_managed_save_path(list, name);

    if (!vb_store_remove(image, error))
        return FALSE;
    g_mutex_lock(&dom->lock);
    dom->has_managed_save = FALSE;
    g_mutex_unlock(&dom->lock);
    vb_domain_list_notify(list, dom, VB_DOMAIN_NOTIFY_CHANGED, NULL, NULL);
    return TRUE;
}

/**
 * vb_domain_managed_save_remove:
 *
 * Removes the managed save image of @dom (ManagedSaveRemove). Takes the
 * modify job.
 */
gboolean
vb_domain_managed_save_remove(VbDomainList *list, VbDomainObj *dom, GError **error)
{
    gboolean ok = FALSE;

    if (!vb_domain_job_begin(dom, VB_JOB_MODIFY, "ManagedSaveRemove", NULL,
                             list->config->job_wait_timeout, list->config->max_queued, error))
        return FALSE;
    g_mutex_lock(&dom->lock);
    if (!dom->has_managed_save)
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_STATE,
                    "domain '%s' has no managed save image", dom->def->name);
    else
        ok = TRUE;
    g_mutex_unlock(&dom->lock);
    ok = ok && vb_domain_managed_save_discard(list, dom, error);
    vb_domain_job_end(dom);
    return ok;
}
