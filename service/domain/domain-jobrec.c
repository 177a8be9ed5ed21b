/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include "domain-obj.h"
#include "store.h"
#include "vb-error.h"

/*
 * The record of an async job: what the bus exports as a Job object and
 * what GetJobStats reports. The job's thread writes it, the main thread
 * reads it; its own lock (a leaf) guards every field. It names its domain
 * by uuid and path and holds no reference on it (the domain keeps the
 * record of its last job).
 */

/*
 * Job ids are never reused, also across restarts of the service: a client that kept a
 * Job's path (to Wait on it, or from GetJobStats) must not find another job there after a
 * restart, a block job taken back included. The ids handed out are reserved ahead, a block
 * at a time, in a file of the runtime directory (vb_job_ids_init()): a restarted service
 * goes on above the last reservation.
 */
#define JOB_ID_BLOCK 256

static GMutex ids_lock;
static guint next_id = 1;  /* under ids_lock */
static guint reserved_to;  /* ids below it are reserved in the file; under ids_lock */
static char *ids_path;     /* NULL: no file (unit tests) */

/* Under ids_lock: reserves the ids below @upto in the file. */
static void
reserve_ids(guint upto)
{
    g_autofree char *text = g_strdup_printf("%u\n", upto);
    g_autoptr(GError) error = NULL;

    if (!vb_store_write_atomic(ids_path, text, -1, 0600, &error))
        g_warning("job ids: %s (ids stay unique until the service restarts)", error->message);
    reserved_to = upto;
}

/**
 * vb_job_ids_init:
 * @path: the file of reserved job ids (STATE/run/job-ids)
 *
 * Start-up, before any job: the next job id is above every one an earlier run of the
 * service may have handed out.
 */
void
vb_job_ids_init(const char *path)
{
    g_autofree char *text = NULL;
    guint64 last = 0;

    g_mutex_lock(&ids_lock);
    g_free(ids_path);
    ids_path = g_strdup(path);
    if (g_file_get_contents(path, &text, NULL, NULL))
        last = g_ascii_strtoull(text, NULL, 10);
    /* a file that says more than a guint holds (or is near the end): begin again */
    if (last < G_MAXUINT - 2 * JOB_ID_BLOCK)
        next_id = MAX(next_id, (guint)last);
    next_id = MAX(next_id, 1);
    reserved_to = 0;
    g_mutex_unlock(&ids_lock);
}

static guint
new_job_id(void)
{
    guint id;

    g_mutex_lock(&ids_lock);
    id = next_id++;
    if (next_id == G_MAXUINT) /* after 4 billion jobs */
        next_id = 1;
    if (ids_path != NULL && next_id >= reserved_to)
        reserve_ids(next_id + JOB_ID_BLOCK);
    g_mutex_unlock(&ids_lock);
    return id;
}

struct _VbJob {
    gint refcount;
    GMutex lock;
    guint id;
    VbAsyncJobType type;
    const char *operation;
    char *domain_uuid;
    char *domain_path;
    char *started_by;
    gint64 started;         /* monotonic µs */
    gint64 ended;           /* monotonic µs, 0 while running */
    const char *phase;
    gboolean cancelable;
    guint64 data_total;
    guint64 data_processed;
    guint64 data_remaining;
    GVariant *stats;        /* a{sv}, nullable */
    gboolean completed;
    gboolean cancelled;
    GError *error;
    GVariant *result;
};

/**
 * vb_job_new:
 * @operation: a static string ("save", "restore", "dump", ...)
 * @started_by: (nullable): the caller's bus name
 *
 * Returns: (transfer full): a running job record with a fresh id, phase
 *   "queued", not cancelable yet.
 */
VbJob *
vb_job_new(VbDomainObj *dom, VbAsyncJobType type, const char *operation,
           const char *started_by)
{
    VbJob *job = g_new0(VbJob, 1);

    job->refcount = 1;
    g_mutex_init(&job->lock);
    job->id = new_job_id();
    job->type = type;
    job->operation = operation;
    job->domain_uuid = g_strdup(dom->uuid_str);
    job->domain_path = g_strdup(dom->object_path);
    job->started_by = g_strdup(started_by != NULL ? started_by : "");
    job->started = g_get_monotonic_time();
    job->phase = "queued";
    return job;
}

VbJob *
vb_job_ref(VbJob *job)
{
    g_atomic_int_inc(&job->refcount);
    return job;
}

void
vb_job_unref(VbJob *job)
{
    if (job == NULL || !g_atomic_int_dec_and_test(&job->refcount))
        return;
    g_free(job->domain_uuid);
    g_free(job->domain_path);
    g_free(job->started_by);
    g_clear_pointer(&job->stats, g_variant_unref);
    g_clear_pointer(&job->result, g_variant_unref);
    g_clear_error(&job->error);
    g_mutex_clear(&job->lock);
    g_free(job);
}

guint
vb_job_get_id(VbJob *job)
{
    return job->id;
}

gboolean
vb_job_is_completed(VbJob *job)
{
    g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&job->lock);

    return job->completed;
}

static double
progress_of(VbJob *job)
{
    if (job->completed)
        return job->error == NULL ? 1.0 : (job->data_total > 0
                                               ? (double)job->data_processed / job->data_total
                                               : 0.0);
    if (job->data_total == 0)
        return 0.0;
    return CLAMP((double)job->data_processed / (double)job->data_total, 0.0, 1.0);
}

/**
 * vb_job_get_info:
 *
 * Copies the job's state; free with vb_job_info_clear(). Any thread.
 */
void
vb_job_get_info(VbJob *job, VbJobInfo *out)
{
    g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&job->lock);
    gint64 end = job->ended > 0 ? job->ended : g_get_monotonic_time();

    out->id = job->id;
    out->type = job->type;
    out->operation = job->operation;
    out->domain_uuid = g_strdup(job->domain_uuid);
    out->domain_path = g_strdup(job->domain_path);
    out->started_by = g_strdup(job->started_by);
    out->phase = job->phase;
    out->progress = progress_of(job);
    out->data_total = job->data_total;
    out->data_processed = job->data_processed;
    out->data_remaining = job->data_remaining;
    out->time_elapsed_ms = (guint64)(end - job->started) / 1000;
    out->cancelable = job->cancelable && !job->completed;
    out->completed = job->completed;
    out->cancelled = job->cancelled;
    out->error = job->error != NULL ? g_error_copy(job->error) : NULL;
    out->result = job->result != NULL ? g_variant_ref(job->result) : NULL;
    out->stats = job->stats != NULL ? g_variant_ref(job->stats) : NULL;
}

void
vb_job_info_clear(VbJobInfo *info)
{
    g_clear_pointer(&info->domain_uuid, g_free);
    g_clear_pointer(&info->domain_path, g_free);
    g_clear_pointer(&info->started_by, g_free);
    g_clear_error(&info->error);
    g_clear_pointer(&info->result, g_variant_unref);
    g_clear_pointer(&info->stats, g_variant_unref);
}

/* @phase: a static string. */
void
vb_job_set_phase(VbJob *job, const char *phase, gboolean cancelable)
{
    g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&job->lock);

    job->phase = phase;
    job->cancelable = cancelable;
}

/**
 * vb_job_set_progress:
 * @stats: (transfer floating) (nullable): a{sv} of the detailed statistics
 */
void
vb_job_set_progress(VbJob *job, guint64 total, guint64 processed, guint64 remaining,
                    GVariant *stats)
{
    g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&job->lock);

    job->data_total = total;
    job->data_processed = processed;
    job->data_remaining = remaining;
    if (stats != NULL) {
        g_clear_pointer(&job->stats, g_variant_unref);
        job->stats = g_variant_ref_sink(stats);
    }
}

/**
 * vb_job_complete:
 * @result: (transfer floating) (nullable): a{sv} on success
 * @error: (nullable): the failure, copied
 * @cancelled: the failure is a cancel
 *
 * Marks the job completed (once; later calls are ignored).
 */
void
vb_job_complete(VbJob *job, GVariant *result, const GError *error, gboolean cancelled)
{
    g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&job->lock);
    g_autoptr(GVariant) sunk = result != NULL ? g_variant_ref_sink(result) : NULL;

    if (job->completed)
        return;
    job->completed = TRUE;
    job->ended = g_get_monotonic_time();
    job->cancelable = FALSE;
    job->cancelled = error != NULL && cancelled;
    if (error != NULL) {
        job->error = g_error_copy(error);
        job->phase = cancelled ? "cancelled" : "failed";
    } else {
        GVariantDict d;

        g_variant_dict_init(&d, sunk);
        g_variant_dict_insert(&d, "time_elapsed", "t",
                              (guint64)(job->ended - job->started) / 1000);
        if (job->data_total > 0)
            g_variant_dict_insert(&d, "data_total", "t", job->data_total);
        job->result = g_variant_ref_sink(g_variant_dict_end(&d));
        job->phase = "completed";
        if (job->data_total > 0) {
            job->data_processed = MAX(job->data_processed, job->data_total);
            job->data_remaining = 0;
        }
    }
}

static const char *
stats_type(VbJob *job)
{
    if (!job->completed)
        return "unbounded";
    if (job->error == NULL)
        return "completed";
    return job->cancelled ? "cancelled" : "failed";
}

/**
 * vb_job_stats:
 * @completed: whether the caller asked for the last completed job
 *
 * Returns: (transfer full): the a{sv} GetJobStats reports for this job:
 *   type, operation, phase, time_elapsed, data_* and the detailed
 *   statistics the job collected.
 */
GVariant *
vb_job_stats(VbJob *job, gboolean completed)
{
    g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&job->lock);
    gint64 end = job->ended > 0 ? job->ended : g_get_monotonic_time();
    GVariantDict d;

    g_variant_dict_init(&d, job->stats);
    g_variant_dict_insert(&d, "type", "s", stats_type(job));
    g_variant_dict_insert(&d, "operation", "s", job->operation);
    g_variant_dict_insert(&d, "phase", "s", job->phase);
    /* a migration's destination records the whole migration's time instead */
    if (!g_variant_dict_contains(&d, "time_elapsed"))
        g_variant_dict_insert(&d, "time_elapsed", "t", (guint64)(end - job->started) / 1000);
    if (job->data_total > 0 || job->data_processed > 0) {
        g_variant_dict_insert(&d, "data_total", "t", job->data_total);
        g_variant_dict_insert(&d, "data_processed", "t", job->data_processed);
        g_variant_dict_insert(&d, "data_remaining", "t", job->data_remaining);
    }
    if (job->error != NULL)
        g_variant_dict_insert(&d, "error_message", "s", job->error->message);
    (void)completed;
    return g_variant_ref_sink(g_variant_dict_end(&d));
}
