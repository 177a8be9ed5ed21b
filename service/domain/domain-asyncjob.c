/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "domain-list-priv.h"
#include "vb-error.h"
#include "vb-log.h"

/*
 * Running an async job (docs/threads.md, "Jobs"): the method's worker
 * begins the async job and makes its checks, then the job gets a record
 * (the bus exports it as a Job object) and a thread of its own, and the
 * method returns the record: no worker of the pool is held for minutes.
 * The job's thread talks to QEMU through nested jobs only, polls progress
 * at least every 500 ms, and ends the async job. Phase changes are
 * written to the status XML so that a restarted service can recover the
 * job (vb_domain_async_recover()).
 */

#define QMP_TIMEOUT_MS 30000
#define POLL_INTERVAL_US (200 * 1000)

typedef struct {
    VbDomainList *list;
    VbDomainObj *dom;
    VbJob *job;
    VbAsyncJobBody body;
    gpointer data;
    GDestroyNotify data_free;
    gboolean keep;      /* on success the async job stays, held for the next bus call */
} JobThread;

/* The status XML of a domain that still runs (what a restart needs). Job threads. */
void
vb_domain_async_save_status(VbDomainList *list, VbDomainObj *dom)
{
    g_autoptr(GError) error = NULL;
    gboolean active;

    g_mutex_lock(&dom->lock);
    active = dom->id >= 0 && !dom->stopping;
    g_mutex_unlock(&dom->lock);
    if (active && !vb_domain_status_save(list, dom, &error))
        g_warning("%s", error->message);
}

static void
run_job(JobThread *t)
{
    g_autoptr(GError) error = NULL;
    GVariant *result = NULL;
    gboolean ok, cancelled, stopping;

    ok = t->body(t->list, t->dom, t->job, t->data, &result, &error);
    if (!ok)
        vb_error_ensure(&error);
    cancelled = !ok && g_error_matches(error, VB_ERROR, VB_ERROR_ABORTED);
    stopping = vb_domain_list_shutting_down(t->list);
    if (ok)
        VB_LOG_DOMAIN(G_LOG_LEVEL_INFO, t->dom->uuid_str, "job %u completed",
                      vb_job_get_id(t->job));
    else
        VB_LOG_DOMAIN(G_LOG_LEVEL_MESSAGE, t->dom->uuid_str, "job %u %s: %s",
                      vb_job_get_id(t->job), cancelled ? "cancelled" : "failed",
                      error->message);
    vb_job_complete(t->job, result, error, cancelled);
    if (ok && t->keep) {
        /* a migration phase: the job stays until the next phase's call */
        g_mutex_lock(&t->dom->lock);
        if (t->dom->job.record == t->job) {
            g_clear_pointer(&t->dom->job.last, vb_job_unref);
            t->dom->job.last = g_steal_pointer(&t->dom->job.record);
        }
        t->dom->job.held = TRUE;
        t->dom->job.transferring = FALSE;
        g_mutex_unlock(&t->dom->lock);
    } else {
        vb_domain_async_job_end(t->dom);
    }
    /* when the service stops, the status XML keeps the job for recovery */
    if (!stopping)
        vb_domain_async_save_status(t->list, t->dom);
    vb_domain_list_notify(t->list, t->dom, VB_DOMAIN_NOTIFY_CHANGED, NULL, NULL);
    vb_domain_list_job_notify(t->list, t->job, VB_JOB_NOTIFY_COMPLETED);
}

static void
job_thread_free(JobThread *t)
{
    if (t->data_free != NULL)
        t->data_free(t->data);
    vb_job_unref(t->job);
    vb_domain_obj_unref(t->dom);
    g_free(t);
}

static gpointer
job_thread_main(gpointer data)
{
    JobThread *t = data;
    VbDomainList *list = t->list;

    run_job(t);
    job_thread_free(t);
    g_mutex_lock(&list->lock);
    list->job_threads--;
    g_cond_broadcast(&list->job_threads_cond);
    g_mutex_unlock(&list->lock);
    return NULL;
}

/**
 * vb_domain_async_job_start:
 * @type: the async job, already begun by the caller (vb_domain_async_job_begin())
 * @operation: static string shown as Job.Operation
 * @body: the work; runs on the job's own thread (or the caller's with @wait)
 * @data: (transfer full): for @body, freed with @data_free
 * @wait: run @body on the calling thread and return when it is done
 *
 * Creates the job's record, publishes it (Job object, then the domain's
 * Job property), writes the status XML and runs @body; at its end the
 * record completes, the async job ends and Completed is published.
 *
 * Returns: (transfer full): the record.
 */
VbJob *
vb_domain_async_job_start(VbDomainList *list, VbDomainObj *dom, VbAsyncJobType type,
                          const char *operation, const char *owner, VbAsyncJobBody body,
                          gpointer data, GDestroyNotify data_free, gboolean wait)
{
    return vb_domain_async_job_start_full(list, dom, type, operation, owner, body, data,
                                          data_free, wait ? VB_ASYNC_START_WAIT : 0);
}

/**
 * vb_domain_async_job_start_full:
 * @flags: VbAsyncStartFlags: WAIT runs @body on the calling thread; KEEP
 *   keeps the async job after a successful @body (held, for the next call
 *   of a migration; the run's end or that call ends it)
 *
 * As vb_domain_async_job_start().
 */
VbJob *
vb_domain_async_job_start_full(VbDomainList *list, VbDomainObj *dom, VbAsyncJobType type,
                               const char *operation, const char *owner, VbAsyncJobBody body,
                               gpointer data, GDestroyNotify data_free, guint flags)
{
    VbJob *job = vb_job_new(dom, type, operation, owner);
    JobThread *t = g_new0(JobThread, 1);
    gboolean wait = (flags & VB_ASYNC_START_WAIT) != 0;

    t->keep = (flags & VB_ASYNC_START_KEEP) != 0;

    t->list = list;
    t->dom = vb_domain_obj_ref(dom);
    t->job = vb_job_ref(job);
    t->body = body;
    t->data = data;
    t->data_free = data_free;
    g_mutex_lock(&dom->lock);
    g_clear_pointer(&dom->job.record, vb_job_unref);
    dom->job.record = vb_job_ref(job);
    dom->job.held = FALSE;
    g_mutex_unlock(&dom->lock);
    vb_domain_async_save_status(list, dom);
    vb_domain_list_job_notify(list, job, VB_JOB_NOTIFY_ADDED);
    vb_domain_list_notify(list, dom, VB_DOMAIN_NOTIFY_CHANGED, NULL, NULL);
    if (wait) {
        run_job(t);
        job_thread_free(t);
        return job;
    }
    g_mutex_lock(&list->lock);
    list->job_threads++;
    g_mutex_unlock(&list->lock);
    g_thread_unref(g_thread_new("vb-job", job_thread_main, t));
    return job;
}

/**
 * vb_domain_async_job_phase:
 * @phase: static string
 *
 * Moves the job to @phase: records it (status XML) and publishes it. Job
 * thread.
 */
void
vb_domain_async_job_phase(VbDomainList *list, VbDomainObj *dom, VbJob *job, const char *phase,
                          gboolean cancelable)
{
    vb_domain_async_job_set_phase(dom, phase);
    vb_job_set_phase(job, phase, cancelable);
    vb_domain_async_save_status(list, dom);
    vb_domain_list_job_notify(list, job, VB_JOB_NOTIFY_CHANGED);
}

/**
 * vb_domain_async_job_add_record:
 * @operation: static string shown as Job.Operation
 *
 * For an async job that no thread of ours runs (an incoming migration,
 * waiting for the source): creates and publishes its record and marks the
 * job held between calls. Complete it with vb_domain_async_job_complete().
 *
 * Returns: (transfer full): the record.
 */
VbJob *
vb_domain_async_job_add_record(VbDomainList *list, VbDomainObj *dom, VbAsyncJobType type,
                               const char *operation, const char *owner)
{
    VbJob *job = vb_job_new(dom, type, operation, owner);

    g_mutex_lock(&dom->lock);
    g_clear_pointer(&dom->job.record, vb_job_unref);
    dom->job.record = vb_job_ref(job);
    dom->job.held = TRUE;
    g_mutex_unlock(&dom->lock);
    vb_domain_async_save_status(list, dom);
    vb_domain_list_job_notify(list, job, VB_JOB_NOTIFY_ADDED);
    vb_domain_list_notify(list, dom, VB_DOMAIN_NOTIFY_CHANGED, NULL, NULL);
    return job;
}

/**
 * vb_domain_async_job_complete:
 * @result: (transfer floating) (nullable)
 * @error: (nullable)
 *
 * Completes @job (unless already completed), ends the async job, saves the
 * status and publishes both. The caller holds no job.
 */
void
vb_domain_async_job_complete(VbDomainList *list, VbDomainObj *dom, VbJob *job, GVariant *result,
                             const GError *error, gboolean cancelled)
{
    if (job != NULL && !vb_job_is_completed(job))
        vb_job_complete(job, result, error, cancelled);
    else if (result != NULL)
        g_variant_unref(g_variant_ref_sink(result));
    vb_domain_async_job_end(dom);
    if (!vb_domain_list_shutting_down(list))
        vb_domain_async_save_status(list, dom);
    vb_domain_list_notify(list, dom, VB_DOMAIN_NOTIFY_CHANGED, NULL, NULL);
    if (job != NULL)
        vb_domain_list_job_notify(list, job, VB_JOB_NOTIFY_COMPLETED);
}

/**
 * vb_domain_async_begin_monitor:
 *
 * Begins a nested job of the async job and refs the domain's monitor, for a few
 * commands in a row; end it with vb_domain_job_end(). Job thread.
 *
 * Returns: (transfer full): the monitor, or %NULL (no job held)
 */
VbQemuMonitor *
vb_domain_async_begin_monitor(VbDomainList *list, VbDomainObj *dom, GError **error)
{
    VbQemuMonitor *mon = NULL;

    if (!vb_domain_job_begin_nested(dom, list->config->job_wait_timeout, error))
        return NULL;
    g_mutex_lock(&dom->lock);
    if (dom->id >= 0 && dom->mon != NULL && !dom->stopping)
        mon = vb_qemu_monitor_ref(dom->mon);
    else
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_STATE,
                    "domain '%s' is no longer running", dom->def->name);
    g_mutex_unlock(&dom->lock);
    if (mon == NULL)
        vb_domain_job_end(dom);
    return mon;
}

/**
 * vb_domain_async_monitor:
 * @args: (transfer full) (nullable)
 * @fd: a file descriptor to pass with the command (getfd), or -1
 *
 * Sends one QMP command on behalf of the async job, inside a nested job.
 * Job thread.
 *
 * Returns: (transfer full): QEMU's "return", or %NULL.
 */
JsonNode *
vb_domain_async_monitor(VbDomainList *list, VbDomainObj *dom, const char *cmd, JsonObject *args,
                        int fd, GError **error)
{
    g_autoptr(VbQemuMonitor) mon = vb_domain_async_begin_monitor(list, dom, error);
    JsonNode *r;

    if (mon == NULL) {
        if (args != NULL)
            json_object_unref(args);
        return NULL;
    }
    if (fd >= 0)
        r = vb_qemu_monitor_command_with_fd(mon, cmd, args, fd, QMP_TIMEOUT_MS, error);
    else
        r = vb_qemu_monitor_command(mon, cmd, args, QMP_TIMEOUT_MS, error);
    vb_domain_job_end(dom);
    return r;
}

/* Fails with Aborted when AbortJob/Cancel was asked. */
gboolean
vb_domain_async_check_abort(VbDomainObj *dom, GError **error)
{
    g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&dom->lock);

    if (!dom->job.abort_requested)
        return TRUE;
    g_set_error(error, VB_ERROR, VB_ERROR_ABORTED, "%s of domain '%s' was cancelled",
                dom->job.phase, dom->def->name);
    return FALSE;
}

static guint64
member_u64(JsonObject *o, const char *name)
{
    if (o == NULL || !json_object_has_member(o, name))
        return 0;
    return (guint64)MAX(json_object_get_int_member(o, name), 0);
}

/* The statistics GetJobStats shows, from query-migrate's reply. */
GVariant *
vb_domain_migration_stats(JsonObject *r, guint64 *out_total, guint64 *out_remaining)
{
    JsonObject *ram = json_object_has_member(r, "ram") ? json_object_get_object_member(r, "ram")
                                                       : NULL;
    JsonObject *disk = json_object_has_member(r, "disk")
                           ? json_object_get_object_member(r, "disk") : NULL;
    GVariantDict d;

    g_variant_dict_init(&d, NULL);
    *out_total = member_u64(ram, "total") + member_u64(disk, "total");
    *out_remaining = member_u64(ram, "remaining") + member_u64(disk, "remaining");
    if (ram != NULL) {
        g_variant_dict_insert(&d, "memory_total", "t", member_u64(ram, "total"));
        g_variant_dict_insert(&d, "memory_processed", "t", member_u64(ram, "transferred"));
        g_variant_dict_insert(&d, "memory_remaining", "t", member_u64(ram, "remaining"));
        g_variant_dict_insert(&d, "memory_constant", "t", member_u64(ram, "duplicate"));
        g_variant_dict_insert(&d, "memory_normal", "t", member_u64(ram, "normal"));
        g_variant_dict_insert(&d, "memory_normal_bytes", "t", member_u64(ram, "normal-bytes"));
        g_variant_dict_insert(&d, "memory_bps", "t",
                              json_object_has_member(ram, "mbps")
                                  ? (guint64)(json_object_get_double_member(ram, "mbps") *
                                              1000000 / 8)
                                  : 0);
        g_variant_dict_insert(&d, "memory_dirty_rate", "t",
                              member_u64(ram, "dirty-pages-rate"));
        g_variant_dict_insert(&d, "memory_iteration", "u",
                              (guint32)member_u64(ram, "dirty-sync-count"));
        g_variant_dict_insert(&d, "memory_page_size", "t", member_u64(ram, "page-size"));
    }
    if (disk != NULL) {
        g_variant_dict_insert(&d, "disk_total", "t", member_u64(disk, "total"));
        g_variant_dict_insert(&d, "disk_processed", "t", member_u64(disk, "transferred"));
        g_variant_dict_insert(&d, "disk_remaining", "t", member_u64(disk, "remaining"));
    }
    /* the downtime once completed, the expected one while it runs */
    if (json_object_has_member(r, "downtime"))
        g_variant_dict_insert(&d, "downtime", "t", member_u64(r, "downtime"));
    else if (json_object_has_member(r, "expected-downtime"))
        g_variant_dict_insert(&d, "downtime", "t", member_u64(r, "expected-downtime"));
    if (json_object_has_member(r, "cpu-throttle-percentage"))
        g_variant_dict_insert(&d, "auto_converge_throttle", "i",
                              (gint32)member_u64(r, "cpu-throttle-percentage"));
    if (ram != NULL && json_object_has_member(ram, "postcopy-requests"))
        g_variant_dict_insert(&d, "memory_postcopy_requests", "t",
                              member_u64(ram, "postcopy-requests"));
    if (json_object_has_member(r, "setup-time"))
        g_variant_dict_insert(&d, "setup_time", "t", member_u64(r, "setup-time"));
    return g_variant_dict_end(&d);
}

/* Fails when the service stops: the job is left to the next start's recovery. */
static gboolean
check_service(VbDomainList *list, GError **error)
{
    if (!vb_domain_list_shutting_down(list))
        return TRUE;
    g_set_error_literal(error, VB_ERROR, VB_ERROR_FAILED,
                        "the service is stopping; the job is recovered at its next start");
    return FALSE;
}

/*
 * Whether the process feeding QEMU's stream failed: reaps it when it has
 * exited (without waiting). A feeder that ended well just ends the check;
 * one that failed fails the job at once, naming the image and quoting
 * what it wrote on stderr, rather than leaving QEMU waiting for a stream
 * that never comes.
 */
static gboolean
feeder_failed(VbStreamFeeder *f, GError **error)
{
    char msg[512] = "";
    gssize n = 0;
    pid_t r;

    if (f == NULL || f->pid <= 0 || f->exited)
        return FALSE;
    do {
        r = waitpid(f->pid, &f->status, WNOHANG);
    } while (r < 0 && errno == EINTR);
    if (r != f->pid)
        return FALSE;
    f->exited = TRUE;
    if (WIFEXITED(f->status) && WEXITSTATUS(f->status) == 0)
        return FALSE;
    if (f->err_fd >= 0) {
        n = read(f->err_fd, msg, sizeof(msg) - 1);
        msg[MAX(n, 0)] = '\0';
        g_strstrip(msg);
    }
    g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                "cannot decompress save image '%s': zstd %s %d%s%s (the image is damaged "
                "or not compressed as its header says)", f->image,
                WIFEXITED(f->status) ? "exited with status" : "was killed by signal",
                WIFEXITED(f->status) ? WEXITSTATUS(f->status) : WTERMSIG(f->status),
                *msg != '\0' ? ": " : "", msg);
    return TRUE;
}

/**
 * vb_domain_async_wait_migration:
 *
 * @progress_fd: for an incoming stream (restore), the file QEMU reads
 *   (its offset is the progress); -1 for an outgoing migration
 * @feeder: (nullable): the process that feeds an incoming stream; its
 *   failure fails the wait at its next poll
 *
 * Polls query-migrate (every 200 ms) until the migration QEMU runs for the
 * job completes, publishing its progress; cancels it (migrate_cancel) when
 * an abort is asked, also one asked before the transfer started; an
 * incoming one fails at once with Aborted. Job thread.
 *
 * Returns: whether it completed; Aborted when cancelled.
 */
gboolean
vb_domain_async_wait_migration(VbDomainList *list, VbDomainObj *dom, VbJob *job,
                               int progress_fd, VbStreamFeeder *feeder, GError **error)
{
    return vb_domain_async_wait_migration_full(list, dom, job, progress_fd, feeder,
                                               vb_domain_async_monitor, error);
}

/* As vb_domain_async_wait_migration(), sending through @send (vb_domain_held_monitor() when
 * the job thread holds its nested job already: an external snapshot's memory). */
gboolean
vb_domain_async_wait_migration_full(VbDomainList *list, VbDomainObj *dom, VbJob *job,
                                    int progress_fd, VbStreamFeeder *feeder,
                                    JsonNode *(*send)(VbDomainList *, VbDomainObj *,
                                                      const char *, JsonObject *, int,
                                                      GError **),
                                    GError **error)
{
    gboolean cancel_sent = FALSE;
    gboolean incoming = progress_fd >= 0;
    guint idle_polls = 0;
    struct stat st;
    guint64 file_size = progress_fd >= 0 && fstat(progress_fd, &st) == 0 ? st.st_size : 0;

    g_mutex_lock(&dom->lock);
    dom->job.transferring = TRUE;
    g_mutex_unlock(&dom->lock);
    for (;;) {
        g_autoptr(JsonNode) r = NULL;
        JsonObject *o;
        const char *status;
        guint64 total = 0, remaining = 0;
        GVariant *stats;
        gboolean abort;

        if (!check_service(list, error) || feeder_failed(feeder, error))
            return FALSE;
        g_mutex_lock(&dom->lock);
        abort = dom->job.abort_requested;
        g_mutex_unlock(&dom->lock);
        if (abort && incoming) {
            /* an incoming stream cannot be cancelled: the caller kills QEMU */
            g_set_error(error, VB_ERROR, VB_ERROR_ABORTED, "job cancelled on request");
            return FALSE;
        }
        if (abort && !cancel_sent) {
            g_autoptr(JsonNode) c = send(list, dom, "migrate_cancel", NULL, -1, error);
            if (c == NULL)
                return FALSE;
            cancel_sent = TRUE;
        }
        r = send(list, dom, "query-migrate", NULL, -1, error);
        if (r == NULL)
            return FALSE;
        o = JSON_NODE_HOLDS_OBJECT(r) ? json_node_get_object(r) : NULL;
        status = o != NULL && json_object_has_member(o, "status")
                     ? json_object_get_string_member(o, "status") : "none";
        if (o != NULL) {
            stats = vb_domain_migration_stats(o, &total, &remaining);
            if (total == 0 && file_size > 0) {
                /* the destination reports no RAM figures: how far the file was read */
                off_t pos = lseek(progress_fd, 0, SEEK_CUR);

                total = file_size;
                remaining = pos > 0 ? file_size - MIN((guint64)pos, file_size) : file_size;
            }
            vb_job_set_progress(job, total, total - MIN(remaining, total), remaining, stats);
            vb_domain_list_job_notify(list, job, VB_JOB_NOTIFY_CHANGED);
        }
        if (g_str_equal(status, "completed"))
            return TRUE;
        if (g_str_equal(status, "cancelled") || (cancel_sent && g_str_equal(status, "failed"))) {
            g_set_error(error, VB_ERROR, VB_ERROR_ABORTED, "job cancelled on request");
            return FALSE;
        }
        if (g_str_equal(status, "none") && incoming && ++idle_polls < 150) {
            /* the incoming side reports nothing until the stream starts; a feeder that
             * died is noticed above at the next poll */
            g_usleep(POLL_INTERVAL_US);
            continue;
        }
        if (g_str_equal(status, "none") && incoming && feeder_failed(feeder, error))
            return FALSE;
        if (g_str_equal(status, "failed") || g_str_equal(status, "none")) {
            g_set_error(error, VB_ERROR, VB_ERROR_QEMU, "QEMU's migration %s: %s", status,
                        o != NULL && json_object_has_member(o, "error-desc")
                            ? json_object_get_string_member(o, "error-desc") : "no details");
            return FALSE;
        }
        g_usleep(POLL_INTERVAL_US);
    }
}

/**
 * vb_domain_get_job_stats:
 * @flags: VbJobStatsFlags
 * @out_job: (out) (optional) (transfer full) (nullable): the job reported
 *
 * Statistics of the running async job, or with COMPLETED of the last
 * completed one; {type: none} when there is none. Takes the lock; never
 * waits: any thread.
 *
 * Returns: (transfer full): a{sv}.
 */
GVariant *
vb_domain_get_job_stats(VbDomainObj *dom, guint flags, VbJob **out_job)
{
    g_autoptr(VbJob) job = NULL;
    GVariantDict d;

    g_mutex_lock(&dom->lock);
    if (flags & VB_JOB_STATS_COMPLETED)
        job = dom->job.last != NULL ? vb_job_ref(dom->job.last) : NULL;
    else
        job = dom->job.record != NULL ? vb_job_ref(dom->job.record) : NULL;
    g_mutex_unlock(&dom->lock);
    if (job != NULL && (flags & VB_JOB_STATS_COMPLETED) == 0 && vb_job_is_completed(job))
        g_clear_pointer(&job, vb_job_unref);
    if (job == NULL) {
        if (out_job != NULL)
            *out_job = NULL;
        g_variant_dict_init(&d, NULL);
        g_variant_dict_insert(&d, "type", "s", "none");
        return g_variant_ref_sink(g_variant_dict_end(&d));
    }
    if (out_job != NULL)
        *out_job = vb_job_ref(job);
    return vb_job_stats(job, (flags & VB_JOB_STATS_COMPLETED) != 0);
}

/**
 * vb_domain_abort_job:
 * @job_id: the job to abort (Job.Cancel), or 0 for whatever runs (AbortJob)
 *
 * Records an abort request for the running async job. The job acts on it
 * at its next step: at once while data moves (within one poll interval),
 * or as soon as the transfer starts. Takes the abort job (allowed during
 * every async job). Worker threads.
 */
gboolean
vb_domain_abort_job(VbDomainList *list, VbDomainObj *dom, guint job_id, const char *owner,
                    GError **error)
{
    g_autoptr(VbJob) record = NULL;
    g_autofree char *name = NULL;
    gboolean cancelable = FALSE;

    if (!vb_domain_job_begin(dom, VB_JOB_ABORT, job_id != 0 ? "Cancel" : "AbortJob", owner,
                             list->config->job_wait_timeout, list->config->max_queued, error))
        return FALSE;
    g_mutex_lock(&dom->lock);
    name = g_strdup(dom->def->name);
    if (dom->job.async != VB_ASYNC_JOB_NONE && dom->job.record != NULL)
        record = vb_job_ref(dom->job.record);
    g_mutex_unlock(&dom->lock);
    if (record != NULL && job_id != 0 && vb_job_get_id(record) != job_id)
        g_clear_pointer(&record, vb_job_unref);
    if (record != NULL) {
        VbJobInfo info = { 0 };

        vb_job_get_info(record, &info);
        cancelable = info.cancelable || g_str_equal(info.phase, "queued");
        vb_job_info_clear(&info);
    }
    if (record == NULL || !cancelable) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_STATE,
                    record == NULL ? "domain '%s' has no running job to abort"
                                   : "the job of domain '%s' cannot be cancelled now",
                    name);
        vb_domain_job_end(dom);
        return FALSE;
    }
    g_mutex_lock(&dom->lock);
    dom->job.abort_requested = TRUE;
    g_cond_broadcast(&dom->cond); /* a job waiting for block jobs acts at once */
    g_mutex_unlock(&dom->lock);
    VB_LOG_DOMAIN(G_LOG_LEVEL_MESSAGE, name, "abort of job %u requested by %s",
                  vb_job_get_id(record), owner != NULL ? owner : "the service");
    vb_domain_job_end(dom);
    return TRUE;
}
