/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <string.h>

#include "domain-list-priv.h"
#include "vb-log.h"

/*
 * Block jobs as QEMU's events tell them, and the domain's condition
 * (issue 11, part nbd). A thread that waits for a block job (the storage
 * copy of a migration) sleeps on dom->cond with the domain lock, as
 * libvirt's virDomainObjWait(); the event worker records JOB_STATUS_CHANGE,
 * BLOCK_JOB_READY, BLOCK_JOB_COMPLETED, BLOCK_JOB_CANCELLED and
 * BLOCK_JOB_ERROR under the lock and wakes it. These events take no job:
 * they change nothing but the record, so they are never held back behind a
 * nested job of the very thread that waits for them. An abort request and
 * the end of the run wake the waiters too.
 */

static void
block_job_free(VbBlockJob *job)
{
    g_free(job->id);
    g_free(job->status);
    g_free(job->error);
    g_free(job);
}

static VbBlockJob *
lookup_or_add_locked(VbDomainObj *dom, const char *id)
{
    VbBlockJob *job;

    if (dom->block_jobs == NULL)
        dom->block_jobs = g_hash_table_new_full(g_str_hash, g_str_equal, NULL,
                                                (GDestroyNotify)block_job_free);
    job = g_hash_table_lookup(dom->block_jobs, id);
    if (job == NULL) {
        job = g_new0(VbBlockJob, 1);
        job->id = g_strdup(id);
        job->state = VB_BLOCK_JOB_RUNNING;
        g_hash_table_insert(dom->block_jobs, job->id, job);
    }
    return job;
}

static const char *
member_str(JsonObject *o, const char *name)
{
    JsonNode *n = o != NULL ? json_object_get_member(o, name) : NULL;

    return n != NULL && JSON_NODE_HOLDS_VALUE(n) && json_node_get_value_type(n) == G_TYPE_STRING
               ? json_node_get_string(n) : NULL;
}

/* Whether a job in @state has ended (nothing more happens to it). */
gboolean
vb_domain_block_job_ended(VbBlockJobState state)
{
    return state == VB_BLOCK_JOB_COMPLETED || state == VB_BLOCK_JOB_CANCELLED ||
           state == VB_BLOCK_JOB_FAILED;
}

/**
 * vb_domain_block_job_event:
 * @ev: an event of the domain's queue
 *
 * Records a block job event of the current run and wakes the waiters.
 * Event workers.
 *
 * Returns: whether @ev was a block job event (handled here, no job taken).
 */
gboolean
vb_domain_block_job_event(VbDomainObj *dom, const VbDomainEvent *ev)
{
    const char *id;
    VbBlockJob *job;

    if (ev->name == NULL ||
        (strcmp(ev->name, "JOB_STATUS_CHANGE") != 0 && !g_str_has_prefix(ev->name, "BLOCK_JOB_")))
        return FALSE;
    id = member_str(ev->data, strcmp(ev->name, "JOB_STATUS_CHANGE") == 0 ? "id" : "device");
    if (id == NULL)
        return TRUE;
    g_mutex_lock(&dom->lock);
    if (dom->id < 0 || dom->run != ev->run) {
        g_mutex_unlock(&dom->lock);
        return TRUE;
    }
    job = lookup_or_add_locked(dom, id);
    if (strcmp(ev->name, "JOB_STATUS_CHANGE") == 0) {
        const char *status = member_str(ev->data, "status");

        g_free(job->status);
        job->status = g_strdup(status);
        if (g_strcmp0(status, "ready") == 0 && job->state == VB_BLOCK_JOB_RUNNING)
            job->state = VB_BLOCK_JOB_READY;
        else if (g_strcmp0(status, "running") == 0 && job->state == VB_BLOCK_JOB_READY)
            job->state = VB_BLOCK_JOB_RUNNING; /* a mirror that fell out of sync */
    } else if (strcmp(ev->name, "BLOCK_JOB_READY") == 0) {
        if (job->state == VB_BLOCK_JOB_RUNNING)
            job->state = VB_BLOCK_JOB_READY;
    } else if (strcmp(ev->name, "BLOCK_JOB_COMPLETED") == 0) {
        const char *err = member_str(ev->data, "error");

        job->state = err != NULL ? VB_BLOCK_JOB_FAILED : VB_BLOCK_JOB_COMPLETED;
        if (err != NULL) {
            g_free(job->error);
            job->error = g_strdup(err);
        }
    } else if (strcmp(ev->name, "BLOCK_JOB_CANCELLED") == 0) {
        job->state = VB_BLOCK_JOB_CANCELLED;
    } else if (strcmp(ev->name, "BLOCK_JOB_ERROR") == 0) {
        const char *op = member_str(ev->data, "operation");

        g_free(job->error);
        job->error = g_strdup_printf("I/O error on %s", op != NULL ? op : "the copy");
    }
    VB_LOG_DOMAIN(G_LOG_LEVEL_DEBUG, dom->uuid_str, "block job %s: %s (state %d)", id, ev->name,
                  job->state);
    g_cond_broadcast(&dom->cond);
    g_mutex_unlock(&dom->lock);
    return TRUE;
}

/* Under lock: drops what is known of job @id (before a new job of that id starts). */
void
vb_domain_block_job_forget_locked(VbDomainObj *dom, const char *id)
{
    if (dom->block_jobs != NULL)
        g_hash_table_remove(dom->block_jobs, id);
}

/*
 * Under lock: records job @id in @state (with QEMU's @error) as query-block-jobs or the
 * images showed it after a restart of the service, unless an event told its end already
 * (issue 15, part bjrestart). Wakes the waiters.
 */
void
vb_domain_block_job_seed_locked(VbDomainObj *dom, const char *id, VbBlockJobState state,
                                const char *error)
{
    VbBlockJob *job = lookup_or_add_locked(dom, id);

    if (vb_domain_block_job_ended(job->state))
        return;
    if (job->state == VB_BLOCK_JOB_READY && state == VB_BLOCK_JOB_RUNNING)
        return;
    job->state = state;
    if (error != NULL) {
        g_free(job->error);
        job->error = g_strdup(error);
    }
    g_cond_broadcast(&dom->cond);
}

/* Under lock: the job @id as its events told, or NULL when none was seen. */
const VbBlockJob *
vb_domain_block_job_get_locked(VbDomainObj *dom, const char *id)
{
    return dom->block_jobs != NULL ? g_hash_table_lookup(dom->block_jobs, id) : NULL;
}

/* Wakes whoever waits on the domain's condition. Takes the lock. */
void
vb_domain_obj_broadcast(VbDomainObj *dom)
{
    g_mutex_lock(&dom->lock);
    g_cond_broadcast(&dom->cond);
    g_mutex_unlock(&dom->lock);
}

/**
 * vb_domain_obj_wait_until:
 * @end_time: monotonic µs
 *
 * Under lock: waits for the domain's condition (a block job event, an
 * abort request, the end of the run) or @end_time.
 *
 * Returns: FALSE when the run has ended (or is ending).
 */
gboolean
vb_domain_obj_wait_until(VbDomainObj *dom, gint64 end_time)
{
    if (dom->id < 0 || dom->stopping)
        return FALSE;
    g_cond_wait_until(&dom->cond, &dom->lock, end_time);
    return dom->id >= 0 && !dom->stopping;
}

/**
 * vb_domain_block_jobs_wait_locked:
 * @ids: the QEMU job ids, %NULL-terminated
 * @until_ready: wait until every job is ready (a mirror in sync, an active commit),
 *   else until every job has ended
 * @deadline: monotonic µs: when to return anyway (a caller's progress tick or its limit)
 * @abortable: return when the domain's job is asked to abort
 * @out_job: (out) (optional): with %VB_BLOCK_WAIT_ENDED, the job that ended before it was
 *   ready (valid under the lock)
 *
 * Under lock: the one wait for QEMU's block jobs, on the domain's condition, that
 * migration's storage copy, an external snapshot's deletion and the Job of a block job
 * use (issue 15): the event worker records each job's events and wakes it. A job whose
 * events were not seen yet is still pending.
 *
 * Returns: why it returned
 */
VbBlockWait
vb_domain_block_jobs_wait_locked(VbDomainObj *dom, const char *const *ids, gboolean until_ready,
                                 gint64 deadline, gboolean abortable, const VbBlockJob **out_job)
{
    for (;;) {
        gboolean pending = FALSE;

        for (guint i = 0; ids[i] != NULL; i++) {
            const VbBlockJob *j = vb_domain_block_job_get_locked(dom, ids[i]);

            if (j != NULL && until_ready && vb_domain_block_job_ended(j->state)) {
                if (out_job != NULL)
                    *out_job = j;
                return VB_BLOCK_WAIT_ENDED;
            }
            if (j == NULL ||
                (until_ready ? j->state != VB_BLOCK_JOB_READY
                             : !vb_domain_block_job_ended(j->state)))
                pending = TRUE;
        }
        if (!pending)
            return VB_BLOCK_WAIT_DONE;
        if (abortable && dom->job.abort_requested)
            return VB_BLOCK_WAIT_ABORT;
        if (g_get_monotonic_time() >= deadline)
            return VB_BLOCK_WAIT_TIMEOUT;
        if (!vb_domain_obj_wait_until(dom, deadline))
            return VB_BLOCK_WAIT_GONE;
    }
}
