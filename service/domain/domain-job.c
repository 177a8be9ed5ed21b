/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include "domain-obj.h"
#include "vb-error.h"

/*
 * Synchronous jobs: one at a time per domain. A call that changes the
 * domain or talks to QEMU takes the job first, waiting at most the
 * configured time; the queue can be bounded. The asynchronous jobs of
 * long operations (save, migration) arrive with issue 4 on top of this.
 */

static const char *const job_names[VB_JOB_LAST] = {
    "none", "query", "destroy", "suspend", "modify", "abort", "migration-op",
};

const char *
vb_job_type_to_string(VbJobType type)
{
    g_return_val_if_fail(type < VB_JOB_LAST, NULL);
    return job_names[type];
}

static void
set_busy_error(VbDomainObj *dom, GError **error, int code, const char *why)
{
    const char *method = dom->job.method != NULL ? dom->job.method : "an internal job";

    if (dom->job.owner != NULL)
        g_set_error(error, VB_ERROR, code,
                    "%s: cannot acquire state change lock (held by %s from %s)", why, method,
                    dom->job.owner);
    else
        g_set_error(error, VB_ERROR, code, "%s: cannot acquire state change lock (held by %s)",
                    why, method);
}

/**
 * vb_domain_job_begin:
 * @type: what the job does
 * @method: the D-Bus method (or internal task) taking it, for messages
 * @owner: (nullable): the caller's unique bus name
 * @timeout_s: how long to wait for the current job
 * @max_queued: refuse at once when this many already wait (0: no limit)
 *
 * Takes the domain's job. Call without the domain lock held; returns
 * without it. Fails with OperationTimeout, Busy or NoDomain. Worker
 * threads only: it may wait.
 */
gboolean
vb_domain_job_begin(VbDomainObj *dom, VbJobType type, const char *method, const char *owner,
                    guint timeout_s, guint max_queued, GError **error)
{
    gint64 deadline = g_get_monotonic_time() + (gint64)timeout_s * G_USEC_PER_SEC;
    g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&dom->lock);

    if (max_queued > 0 && dom->job.active != VB_JOB_NONE && dom->job.waiters >= max_queued) {
        set_busy_error(dom, error, VB_ERROR_BUSY, "too many calls queued for this domain");
        return FALSE;
    }
    dom->job.waiters++;
    while (dom->job.active != VB_JOB_NONE && !dom->removed) {
        if (!g_cond_wait_until(&dom->job.cond, &dom->lock, deadline)) {
            if (dom->job.active == VB_JOB_NONE)
                break;
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
    dom->job.active = type;
    dom->job.method = g_strdup(method);
    dom->job.owner = g_strdup(owner);
    dom->job.since = g_get_monotonic_time();
    return TRUE;
}

/**
 * vb_domain_job_end:
 *
 * Ends the job taken with vb_domain_job_begin() and wakes the next waiter.
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
 * vb_domain_get_control_info:
 *
 * Whether the domain is idle, inside a job, or waiting for QEMU's reply,
 * and since when. Takes the lock; never waits.
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
}
