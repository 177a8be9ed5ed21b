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
#include "domain-save-write.h"
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
    VbSaveWriter w;
    gboolean was_running;
} SaveRun;

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
    SaveRun r = { 0 };
    guint header_flags;
    gboolean ok;
    GVariantDict res;

    vb_domain_async_job_phase(list, dom, job, "stopping", TRUE);
    ok = stop_cpus(list, dom, &r, error) && vb_domain_async_check_abort(dom, error);
    header_flags = d->flags & (VB_SAVE_RUNNING | VB_SAVE_PAUSED);
    if (header_flags == 0)
        header_flags = r.was_running ? VB_SAVE_RUNNING : VB_SAVE_PAUSED;
    vb_save_writer_init(&r.w, &d->target, d->xml, header_flags,
                        (d->flags & VB_SAVE_COMPRESS) != 0, vb_domain_async_monitor,
                        "opening");
    ok = ok && vb_save_writer_open(list, dom, job, &r.w, error);
    if (ok) {
        vb_domain_async_job_phase(list, dom, job, "saving", TRUE);
        ok = vb_save_writer_migrate(list, dom, job, &r.w, error);
    }
    if (ok) {
        vb_domain_async_job_phase(list, dom, job, "finishing", FALSE);
        ok = vb_save_writer_commit(&r.w, error);
    }
    if (!ok) {
        if (!vb_domain_list_shutting_down(list)) {
            vb_save_writer_abort(list, dom, &r.w);
            resume_cpus(list, dom, &r);
        } else {
            /* leave it to the recovery: only our descriptors go */
            vb_save_writer_forget(&r.w);
        }
        vb_save_writer_clear(&r.w);
        return FALSE;
    }
    finish_saved(list, dom, d);
    g_variant_dict_init(&res, NULL);
    g_variant_dict_insert(&res, "path", "s", d->path);
    g_variant_dict_insert(&res, "size", "t", vb_save_writer_size(&r.w));
    g_variant_dict_insert(&res, "compressed", "b", (d->flags & VB_SAVE_COMPRESS) != 0);
    vb_save_writer_clear(&r.w);
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
