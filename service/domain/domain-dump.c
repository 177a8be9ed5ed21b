/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "domain-list-priv.h"
#include "domain-save-image.h"
#include "vb-error.h"
#include "vb-log.h"

/*
 * CoreDump (async job "dump"): QEMU writes an ELF memory dump with
 * dump-guest-memory (detach, so the monitor stays usable) into a
 * descriptor passed with getfd; progress comes from query-dump. QEMU
 * stops the vCPUs itself while it dumps and resumes them after; there is
 * no way to cancel a dump in QEMU 7.2, so the job is not cancelable.
 */

#define FDNAME "vbdump"
#define POLL_INTERVAL_US (200 * 1000)

typedef struct {
    char *path;
    guint flags;
    guint32 uid;    /* the caller's: what it may replace at @path */
    VbSaveTarget target; /* @path's directory, opened and checked at the call */
} DumpData;

static void
dump_data_free(DumpData *d)
{
    vb_save_target_clear(&d->target);
    g_free(d->path);
    g_free(d);
}

static guint64
member_u64(JsonObject *o, const char *name)
{
    return o != NULL && json_object_has_member(o, name)
               ? (guint64)MAX(json_object_get_int_member(o, name), 0) : 0;
}

/* Polls query-dump until QEMU's dump ends. */
static gboolean
wait_dump(VbDomainList *list, VbDomainObj *dom, VbJob *job, GError **error)
{
    for (;;) {
        g_autoptr(JsonNode) r = vb_domain_async_monitor(list, dom, "query-dump", NULL, -1,
                                                        error);
        JsonObject *o;
        const char *status;
        guint64 total, done;
        GVariantDict d;

        if (r == NULL)
            return FALSE;
        o = JSON_NODE_HOLDS_OBJECT(r) ? json_node_get_object(r) : NULL;
        status = o != NULL && json_object_has_member(o, "status")
                     ? json_object_get_string_member(o, "status") : "none";
        total = member_u64(o, "total");
        done = member_u64(o, "completed");
        g_variant_dict_init(&d, NULL);
        g_variant_dict_insert(&d, "memory_total", "t", total);
        g_variant_dict_insert(&d, "memory_processed", "t", done);
        g_variant_dict_insert(&d, "memory_remaining", "t", total - MIN(done, total));
        vb_job_set_progress(job, total, done, total - MIN(done, total), g_variant_dict_end(&d));
        vb_domain_list_job_notify(list, job, VB_JOB_NOTIFY_CHANGED);
        if (g_str_equal(status, "completed"))
            return TRUE;
        if (!g_str_equal(status, "active")) {
            g_set_error(error, VB_ERROR, VB_ERROR_QEMU, "QEMU's dump %s", status);
            return FALSE;
        }
        g_usleep(POLL_INTERVAL_US);
    }
}

/* After the dump: CRASH destroys, RESET resets; the guest otherwise runs on. */
static void
after_dump(VbDomainList *list, VbDomainObj *dom, guint flags)
{
    g_autoptr(GError) error = NULL;

    g_mutex_lock(&dom->lock);
    /* QEMU's own STOP/RESUME around the dump are no state change of ours */
    dom->resumed_at = g_get_real_time();
    g_mutex_unlock(&dom->lock);
    if (flags & VB_DUMP_RESET) {
        g_autoptr(JsonNode) r = vb_domain_async_monitor(list, dom, "system_reset", NULL, -1,
                                                        &error);
        if (r == NULL)
            VB_LOG_DOMAIN(G_LOG_LEVEL_WARNING, dom->uuid_str, "%s", error->message);
    }
    if ((flags & VB_DUMP_CRASH) &&
        vb_domain_job_begin_nested(dom, list->config->job_wait_timeout, &error)) {
        vb_domain_teardown(list, dom, VB_DOMAIN_REASON_CRASHED);
        vb_domain_job_end(dom);
    }
}

static gboolean
dump_body(VbDomainList *list, VbDomainObj *dom, VbJob *job, gpointer data,
          GVariant **out_result, GError **error)
{
    DumpData *d = data;
    JsonObject *fdargs = json_object_new();
    JsonObject *args = json_object_new();
    g_autoptr(JsonNode) r1 = NULL, r2 = NULL;
    gboolean ok = FALSE;
    struct stat st;
    GVariantDict res;
    int fd;

    /* the status names the temporary file before it exists (domain-save.c) */
    vb_save_target_pick_temp(&d->target);
    g_mutex_lock(&dom->lock);
    g_free(dom->job.temp_path);
    dom->job.temp_path = g_strdup(d->target.temp_path);
    g_mutex_unlock(&dom->lock);
    vb_domain_async_job_phase(list, dom, job, "opening", FALSE);
    fd = vb_save_target_create_temp(&d->target, error);
    if (fd < 0) {
        vb_domain_async_job_phase(list, dom, job, "dumping", FALSE);
        json_object_unref(fdargs);
        json_object_unref(args);
        return FALSE;
    }
    g_mutex_lock(&dom->lock);
    g_free(dom->job.temp_path);
    dom->job.temp_path = g_strdup(d->target.temp_path);
    g_mutex_unlock(&dom->lock);
    vb_domain_async_job_phase(list, dom, job, "dumping", FALSE);
    json_object_set_string_member(fdargs, "fdname", FDNAME);
    json_object_set_boolean_member(args, "paging", FALSE);
    json_object_set_string_member(args, "protocol", "fd:" FDNAME);
    json_object_set_boolean_member(args, "detach", TRUE);
    json_object_set_string_member(args, "format", "elf");
    r1 = vb_domain_async_monitor(list, dom, "getfd", fdargs, fd, error);
    if (r1 != NULL)
        r2 = vb_domain_async_monitor(list, dom, "dump-guest-memory", args, -1, error);
    else
        json_object_unref(args);
    ok = r2 != NULL && wait_dump(list, dom, job, error);
    if (ok && fsync(fd) < 0) {
        g_set_error(error, VB_ERROR, VB_ERROR_IO, "cannot write '%s': %s", d->path,
                    g_strerror(errno));
        ok = FALSE;
    }
    if (ok && !vb_save_target_commit(&d->target, error))
        ok = FALSE;
    if (!ok && !vb_domain_list_shutting_down(list))
        vb_save_target_discard(&d->target);
    if (ok) {
        g_variant_dict_init(&res, NULL);
        g_variant_dict_insert(&res, "path", "s", d->path);
        g_variant_dict_insert(&res, "size", "t", fstat(fd, &st) == 0 ? (guint64)st.st_size : 0);
        g_variant_dict_insert(&res, "format", "s", "elf");
        *out_result = g_variant_dict_end(&res);
    }
    close(fd);
    if (ok || !vb_domain_list_shutting_down(list))
        after_dump(list, dom, ok ? d->flags : 0);
    return ok;
}

/**
 * vb_domain_core_dump:
 * @path: absolute path of the ELF file to write
 * @flags: VbDumpFlags: CRASH, RESET, MEMORY_ONLY
 * @uid: the caller's uid: @path may only replace a regular file it owns
 *
 * Starts an ELF memory dump of @dom (async job "dump"). Worker threads.
 *
 * Returns: (transfer full): the running job, or %NULL.
 */
VbJob *
vb_domain_core_dump(VbDomainList *list, VbDomainObj *dom, const char *path, guint flags,
                    const char *owner, guint32 uid, GError **error)
{
    DumpData *d;
    gboolean running;

    if (!g_path_is_absolute(path)) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                    "the dump path must be absolute, not '%s'", path);
        return NULL;
    }
    if (flags & (VB_DUMP_LIVE | VB_DUMP_BYPASS_CACHE)) {
        g_set_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
                    "CoreDump: %s is not supported (QEMU stops the vCPUs while it dumps)",
                    (flags & VB_DUMP_LIVE) ? "LIVE (2)" : "BYPASS_CACHE (4)");
        return NULL;
    }
    if ((flags & VB_DUMP_CRASH) && (flags & VB_DUMP_RESET)) {
        g_set_error_literal(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                            "CRASH (1) and RESET (8) exclude each other");
        return NULL;
    }
    d = g_new0(DumpData, 1);
    d->path = g_strdup(path);
    d->flags = flags;
    d->uid = uid;
    if (!vb_save_target_open(&d->target, path, uid, error)) {
        dump_data_free(d);
        return NULL;
    }
    if (!vb_domain_async_job_begin(dom, VB_ASYNC_JOB_DUMP, "CoreDump", owner,
                                   list->config->job_wait_timeout, list->config->max_queued,
                                   error)) {
        dump_data_free(d);
        return NULL;
    }
    g_mutex_lock(&dom->lock);
    running = dom->id >= 0 && dom->mon != NULL && !dom->stopping;
    if (!running)
        vb_domain_obj_set_not_running_error(dom, "CoreDump", error);
    g_mutex_unlock(&dom->lock);
    if (!running) {
        vb_domain_async_job_end(dom);
        dump_data_free(d);
        return NULL;
    }
    return vb_domain_async_job_start(list, dom, VB_ASYNC_JOB_DUMP, "dump", owner, dump_body, d,
                                     (GDestroyNotify)dump_data_free, FALSE);
}
