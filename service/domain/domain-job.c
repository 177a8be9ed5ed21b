/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include "domain-obj.h"
#include "vb-error.h"

/*
 * The job manager (docs/threads.md, "Jobs"). Per domain:
 *
 * - one synchronous job at a time: a call that changes the domain or
 *   talks to QEMU takes it first, waiting at most the configured time;
 *   the queue can be bounded (max_queued);
 * - one asynchronous job at a time (save, dump, migration, ...): it runs
 *   for long, with named phases, and lets only the sync jobs of its mask
 *   run meanwhile (query, abort, destroy; suspend and migration-op during
 *   migrations). It holds no sync job while it waits or sleeps; to talk
 *   to QEMU it takes a nested job, a sync job that belongs to it, so its
 *   monitor commands never interleave with another call's.
 *
 * One condition (job.cond) is signalled whenever either kind ends.
 */

static const char *const job_names[VB_JOB_LAST] = {
    "none", "query", "destroy", "suspend", "modify", "abort", "migration-op", "async-nested",
};

static const char *const async_job_names[VB_ASYNC_JOB_LAST] = {
    "none", "migration-out", "migration-in", "save", "dump", "snapshot",
    "blockjob", /* issue 15, part blockjob */
};

const char *
vb_job_type_to_string(VbJobType type)
{
    g_return_val_if_fail(type < VB_JOB_LAST, NULL);
    return job_names[type];
}

/* Returns: the type, or -1 for an unknown string. */
int
vb_job_type_from_string(const char *str)
{
    return vb_enum_lookup(job_names, VB_JOB_LAST, str);
}

const char *
vb_async_job_type_to_string(VbAsyncJobType type)
{
    g_return_val_if_fail(type < VB_ASYNC_JOB_LAST, NULL);
    return async_job_names[type];
}

/* Returns: the type, or -1 for an unknown string. */
int
vb_async_job_type_from_string(const char *str)
{
    return vb_enum_lookup(async_job_names, VB_ASYNC_JOB_LAST, str);
}

/**
 * vb_async_job_default_mask:
 *
 * Returns: the sync jobs allowed while an async job of @type runs: query,
 *   abort and destroy always; suspend (Suspend/Resume) and migration-op
 *   during migrations.
 */
guint
vb_async_job_default_mask(VbAsyncJobType type)
{
    guint mask = VB_JOB_MASK(VB_JOB_QUERY) | VB_JOB_MASK(VB_JOB_ABORT) |
                 VB_JOB_MASK(VB_JOB_DESTROY);

    if (type == VB_ASYNC_JOB_MIGRATION_OUT || type == VB_ASYNC_JOB_MIGRATION_IN)
        mask |= VB_JOB_MASK(VB_JOB_SUSPEND) | VB_JOB_MASK(VB_JOB_MIGRATION_OP);
    return mask;
}

/* Under lock: whether a sync job of @type must wait for the async job. */
static gboolean
blocked_by_async(VbDomainObj *dom, VbJobType type, gboolean ignore_async)
{
    if (ignore_async || dom->job.async == VB_ASYNC_JOB_NONE)
        return FALSE;
    return (dom->job.mask & VB_JOB_MASK(type)) == 0;
}

/* Under lock: "held by ..." naming whoever blocks the caller. */
static void
set_busy_error(VbDomainObj *dom, GError **error, int code, const char *why)
{
    const char *method, *owner;

    if (dom->job.active != VB_JOB_NONE) {
        method = dom->job.method != NULL ? dom->job.method : "an internal job";
        owner = dom->job.owner;
        if (dom->job.active == VB_JOB_ASYNC_NESTED && dom->job.async_owner != NULL)
            owner = dom->job.async_owner;
    } else {
        g_set_error(error, VB_ERROR, code,
                    "%s: cannot acquire state change lock (held by async job %s: %s%s%s)", why,
                    async_job_names[dom->job.async],
                    dom->job.async_method != NULL ? dom->job.async_method : "internal",
                    dom->job.async_owner != NULL ? " from " : "",
                    dom->job.async_owner != NULL ? dom->job.async_owner : "");
        return;
    }
    if (owner != NULL)
        g_set_error(error, VB_ERROR, code,
                    "%s: cannot acquire state change lock (held by %s from %s)", why, method,
                    owner);
    else
        g_set_error(error, VB_ERROR, code, "%s: cannot acquire state change lock (held by %s)",
                    why, method);
}

typedef enum {
    WAIT_SYNC,        /* a sync job: no sync job, and the async job's mask allows it */
    WAIT_SYNC_EVENT,  /* an event handler: no sync job; the async job does not matter */
    WAIT_NESTED,      /* the async job's nested job: no sync job */
    WAIT_ASYNC,       /* an async job: neither kind */
} WaitKind;

/* Under lock: whether a caller of @kind must still wait. */
static gboolean
must_wait(VbDomainObj *dom, WaitKind kind, VbJobType type)
{
    if (dom->job.active != VB_JOB_NONE)
        return TRUE;
    switch (kind) {
    case WAIT_SYNC:
        return blocked_by_async(dom, type, FALSE);
    case WAIT_ASYNC:
        return dom->job.async != VB_ASYNC_JOB_NONE;
    default:
        return FALSE;
    }
}

/*
 * Under lock: a long (async) job in the way refuses the caller at once
 * with OperationInvalid naming it, instead of queueing it: a save or
 * migration lasts minutes, and a caller waiting for it would hold a pool
 * worker all along (enough of them and nothing else is served). That is a
 * second async job, or a sync job the async job's mask does not allow.
 * Waiting is only for a sync job, which is short.
 */
static gboolean
long_job_in_the_way(VbDomainObj *dom, WaitKind kind, VbJobType type, GError **error)
{
    const char *what;

    if (kind == WAIT_ASYNC && dom->job.async != VB_ASYNC_JOB_NONE)
        what = "already runs a long job";
    else if (kind == WAIT_SYNC && blocked_by_async(dom, type, FALSE))
        what = "runs a long job that allows only queries, abort and destroy meanwhile";
    else
        return FALSE;
    g_set_error(error, VB_ERROR, VB_ERROR_INVALID_STATE,
                "domain '%s' %s (async job %s: %s%s%s); wait for it to end or abort it",
                dom->def->name, what, async_job_names[dom->job.async],
                dom->job.async_method != NULL ? dom->job.async_method : "internal",
                dom->job.async_owner != NULL ? " from " : "",
                dom->job.async_owner != NULL ? dom->job.async_owner : "");
    return TRUE;
}

/* Under lock: waits until a caller of @kind may go on. */
static gboolean
wait_for_turn(VbDomainObj *dom, WaitKind kind, VbJobType type, guint timeout_s,
              guint max_queued, GError **error)
{
    gint64 deadline = g_get_monotonic_time() + (gint64)timeout_s * G_USEC_PER_SEC;

    if (long_job_in_the_way(dom, kind, type, error))
        return FALSE;
    if (max_queued > 0 && must_wait(dom, kind, type) && dom->job.waiters >= max_queued) {
        set_busy_error(dom, error, VB_ERROR_BUSY, "too many calls queued for this domain");
        return FALSE;
    }
    dom->job.waiters++;
    while (!dom->removed && must_wait(dom, kind, type)) {
        if (long_job_in_the_way(dom, kind, type, error)) {
            dom->job.waiters--;
            return FALSE;
        }
        if (!g_cond_wait_until(&dom->job.cond, &dom->lock, deadline) &&
            !dom->removed && must_wait(dom, kind, type)) {
            dom->job.waiters--;
            set_busy_error(dom, error, VB_ERROR_OPERATION_TIMEOUT, "timed out");
            return FALSE;
        }
    }
    dom->job.waiters--;
    if (dom->removed) {
        g_set_error(error, VB_ERROR, VB_ERROR_NO_DOMAIN, "domain '%s' no longer exists",
                    dom->def->name);
        return FALSE;
    }
    return TRUE;
}

/* Under lock. */
static void
take_sync(VbDomainObj *dom, VbJobType type, const char *method, const char *owner)
{
    dom->job.active = type;
    dom->job.method = g_strdup(method);
    dom->job.owner = g_strdup(owner);
    dom->job.since = g_get_monotonic_time();
}

/**
 * vb_domain_job_begin:
 * @type: what the job does
 * @method: the D-Bus method (or internal task) taking it, for messages
 * @owner: (nullable): the caller's unique bus name
 * @timeout_s: how long to wait for the current job
 * @max_queued: refuse at once when this many already wait (0: no limit)
 *
 * Takes the domain's sync job, waiting while another sync job runs or an
 * async job runs whose mask does not allow @type. Call without the domain
 * lock held; returns without it. Fails with OperationTimeout ("cannot
 * acquire state change lock (held by ...)"), Busy or NoDomain. Worker
 * threads only: it may wait.
 */
gboolean
vb_domain_job_begin(VbDomainObj *dom, VbJobType type, const char *method, const char *owner,
                    guint timeout_s, guint max_queued, GError **error)
{
    g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&dom->lock);

    g_return_val_if_fail(type != VB_JOB_NONE && type != VB_JOB_ASYNC_NESTED, FALSE);
    if (!wait_for_turn(dom, WAIT_SYNC, type, timeout_s, max_queued, error))
        return FALSE;
    take_sync(dom, type, method, owner);
    return TRUE;
}

/**
 * vb_domain_job_begin_event:
 * @method: what the event handler does, for messages
 *
 * A modify job for a QEMU event handler: it waits for the sync job only,
 * not for an async job, so that events (STOP, RESUME, the end of a run)
 * are handled while a save or migration runs, as they happen. No queue
 * limit. Event workers only.
 */
gboolean
vb_domain_job_begin_event(VbDomainObj *dom, const char *method, guint timeout_s,
                          GError **error)
{
    g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&dom->lock);

    if (!wait_for_turn(dom, WAIT_SYNC_EVENT, VB_JOB_MODIFY, timeout_s, 0, error))
        return FALSE;
    take_sync(dom, VB_JOB_MODIFY, method, NULL);
    return TRUE;
}

/**
 * vb_domain_job_begin_nested:
 *
 * Takes the sync job on behalf of the running async job, so that the
 * async job can talk to QEMU: waits only for another sync job to end.
 * End it with vb_domain_job_end(). Only the thread running the async job
 * may call it (the caller must say so: the job manager cannot tell).
 */
gboolean
vb_domain_job_begin_nested(VbDomainObj *dom, guint timeout_s, GError **error)
{
    g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&dom->lock);
    g_autofree char *method = NULL;

    g_return_val_if_fail(dom->job.async != VB_ASYNC_JOB_NONE, FALSE);
    if (!wait_for_turn(dom, WAIT_NESTED, VB_JOB_ASYNC_NESTED, timeout_s, 0, error))
        return FALSE;
    if (dom->job.async == VB_ASYNC_JOB_NONE) {
        g_set_error_literal(error, VB_ERROR, VB_ERROR_INTERNAL, "no async job to nest in");
        return FALSE;
    }
    method = g_strdup_printf("%s (async job %s)",
                             dom->job.async_method != NULL ? dom->job.async_method : "internal",
                             async_job_names[dom->job.async]);
    take_sync(dom, VB_JOB_ASYNC_NESTED, method, dom->job.async_owner);
    return TRUE;
}

/**
 * vb_domain_job_end:
 *
 * Ends the sync (or nested) job and wakes the waiters.
 */
void
vb_domain_job_end(VbDomainObj *dom)
{
    g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&dom->lock);

    dom->job.active = VB_JOB_NONE;
    g_clear_pointer(&dom->job.method, g_free);
    g_clear_pointer(&dom->job.owner, g_free);
    dom->job.since = 0;
    g_cond_broadcast(&dom->job.cond);
}

/**
 * vb_domain_async_job_begin:
 * @type: the async job
 * @method: the D-Bus method (or internal task) starting it
 * @owner: (nullable): the caller's bus name
 *
 * Starts the domain's async job, waiting (at most @timeout_s) while a
 * sync job runs; fails at once with OperationInvalid while another async
 * job runs (also one that began while this call waited). Its mask is the default of
 * @type, its phase "none"; a previous abort request is forgotten. Holds
 * no sync job when it returns. Worker threads only.
 */
gboolean
vb_domain_async_job_begin(VbDomainObj *dom, VbAsyncJobType type, const char *method,
                          const char *owner, guint timeout_s, guint max_queued, GError **error)
{
    g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&dom->lock);

    g_return_val_if_fail(type != VB_ASYNC_JOB_NONE && type < VB_ASYNC_JOB_LAST, FALSE);
    if (!wait_for_turn(dom, WAIT_ASYNC, VB_JOB_NONE, timeout_s, max_queued, error))
        return FALSE;
    dom->job.async = type;
    dom->job.async_method = g_strdup(method);
    dom->job.async_owner = g_strdup(owner);
    dom->job.async_since = g_get_monotonic_time();
    dom->job.mask = vb_async_job_default_mask(type);
    dom->job.phase = "none";
    dom->job.abort_requested = FALSE;
    dom->job.transferring = FALSE;
    dom->job.was_running = FALSE;
    dom->job.held = FALSE;
    dom->job.owner_watched = FALSE;
    dom->job.spice_migrated = FALSE;
    dom->job.abort_on_error = FALSE;
    dom->job.run_on_postcopy = FALSE;
    dom->job.io_error = FALSE;
    g_clear_pointer(&dom->job.temp_path, g_free);
    return TRUE;
}

/**
 * vb_domain_async_job_set_phase:
 * @phase: a static string
 *
 * Takes the lock. The caller rewrites the status XML (async phases are
 * recorded there).
 */
void
vb_domain_async_job_set_phase(VbDomainObj *dom, const char *phase)
{
    g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&dom->lock);

    dom->job.phase = phase;
}

/**
 * vb_domain_async_job_end:
 *
 * Ends the async job and wakes the waiters. The running record moves to
 * "last" (GetJobStats COMPLETED).
 */
void
vb_domain_async_job_end(VbDomainObj *dom)
{
    g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&dom->lock);

    vb_domain_async_job_end_locked(dom);
}

/* As vb_domain_async_job_end(), with the domain's lock held. */
void
vb_domain_async_job_end_locked(VbDomainObj *dom)
{
    dom->job.held = FALSE;
    dom->job.owner_watched = FALSE;
    /* the migration's state goes with its job (the free function takes no lock) */
    if (dom->migration != NULL && dom->migration_free != NULL)
        dom->migration_free(dom->migration);
    dom->migration = NULL;
    dom->job.async = VB_ASYNC_JOB_NONE;
    g_clear_pointer(&dom->job.async_method, g_free);
    g_clear_pointer(&dom->job.async_owner, g_free);
    g_clear_pointer(&dom->job.temp_path, g_free);
    dom->job.async_since = 0;
    dom->job.mask = 0;
    dom->job.phase = "none";
    dom->job.abort_requested = FALSE;
    dom->job.transferring = FALSE;
    if (dom->job.record != NULL) {
        g_clear_pointer(&dom->job.last, vb_job_unref);
        dom->job.last = g_steal_pointer(&dom->job.record);
    }
    g_cond_broadcast(&dom->job.cond);
}

/**
 * vb_domain_get_control_info:
 *
 * Whether the domain is idle, inside a job, or waiting for QEMU's reply,
 * and since when; and the async job with its owner. Takes the lock;
 * never waits.
 */
void
vb_domain_get_control_info(VbDomainObj *dom, VbDomainControlInfo *out)
{
    g_autoptr(VbQemuMonitor) mon = NULL;
    gint64 waiting_since = 0;

    g_mutex_lock(&dom->lock);
    out->state = "ok";
    out->job = NULL;
    out->owner = NULL;
    out->since = 0;
    out->waiters = dom->job.waiters;
    out->async_job = NULL;
    out->async_owner = NULL;
    out->async_since = 0;
    out->async_phase = dom->job.phase;
    if (dom->job.async != VB_ASYNC_JOB_NONE) {
        out->state = "job";
        out->async_job = g_strdup_printf("%s (%s)", async_job_names[dom->job.async],
                                         dom->job.async_method != NULL ? dom->job.async_method
                                                                       : "internal");
        out->async_owner = g_strdup(dom->job.async_owner);
        out->async_since = dom->job.async_since;
        out->since = dom->job.async_since;
    }
    if (dom->job.active != VB_JOB_NONE) {
        out->state = "job";
        out->job = g_strdup_printf("%s (%s)", job_names[dom->job.active],
                                   dom->job.method != NULL ? dom->job.method : "internal");
        out->owner = g_strdup(dom->job.owner);
        out->since = dom->job.since;
    }
    if (dom->mon != NULL)
        mon = vb_qemu_monitor_ref(dom->mon);
    g_mutex_unlock(&dom->lock);

    if (mon != NULL && vb_qemu_monitor_get_waiting(mon, &waiting_since)) {
        out->state = "occupied";
        out->since = waiting_since;
    }
}

void
vb_domain_control_info_clear(VbDomainControlInfo *info)
{
    g_clear_pointer(&info->job, g_free);
    g_clear_pointer(&info->owner, g_free);
    g_clear_pointer(&info->async_job, g_free);
    g_clear_pointer(&info->async_owner, g_free);
}
