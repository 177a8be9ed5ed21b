/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include "domain-list-priv.h"
#include "qemu-command.h"
#include "vb-error.h"
#include "vb-log.h"

/*
 * Lifecycle operations on a running domain. Each takes the domain's job,
 * checks the domain is (still) running, talks to QEMU without holding
 * the domain lock, updates the state and publishes it. Worker threads.
 */

#define QMP_TIMEOUT_MS 30000

/**
 * vb_domain_begin_running:
 * @type: the job to take
 * @method: the API call, for the job and the error
 *
 * Takes the domain's job and a reference on the monitor of a running domain; fails naming
 * why the domain does not run (the job released then). Worker threads, no lock held.
 *
 * Returns: (transfer full) (nullable): the monitor; the caller ends the job
 */
VbQemuMonitor *
vb_domain_begin_running(VbDomainList *list, VbDomainObj *dom, VbJobType type,
                        const char *method, const char *owner, GError **error)
{
    VbQemuMonitor *mon = NULL;

    if (!vb_domain_job_begin(dom, type, method, owner, list->config->job_wait_timeout,
                             list->config->max_queued, error))
        return NULL;
    g_mutex_lock(&dom->lock);
    if (dom->id >= 0 && dom->mon != NULL && !dom->stopping)
        mon = vb_qemu_monitor_ref(dom->mon);
    else
        vb_domain_obj_set_not_running_error(dom, method, error);
    g_mutex_unlock(&dom->lock);
    if (mon == NULL)
        vb_domain_job_end(dom);
    return mon;
}

static gboolean
simple_command(VbQemuMonitor *mon, const char *cmd, GError **error)
{
    g_autoptr(JsonNode) r = vb_qemu_monitor_command(mon, cmd, NULL, QMP_TIMEOUT_MS, error);

    return r != NULL;
}

static gboolean
finish(VbDomainList *list, VbDomainObj *dom, gboolean ok, const char *event, const char *detail)
{
    if (ok && event != NULL) {
        g_autoptr(GError) err = NULL;

        if (!vb_domain_status_save(list, dom, &err))
            g_warning("%s", err->message);
        vb_domain_list_notify(list, dom, VB_DOMAIN_NOTIFY_CHANGED, event, detail);
    }
    vb_domain_job_end(dom);
    return ok;
}

/**
 * vb_domain_shutdown:
 *
 * Presses the ACPI power button; the guest decides. Returns at once: the
 * domain becomes shutoff/shutdown when the guest powers off.
 */
gboolean
vb_domain_shutdown(VbDomainList *list, VbDomainObj *dom, const char *owner, GError **error)
{
    g_autoptr(VbQemuMonitor) mon =
        vb_domain_begin_running(list, dom, VB_JOB_MODIFY, "Shutdown", owner, error);

    if (mon == NULL)
        return FALSE;
    g_mutex_lock(&dom->lock);
    dom->fake_reboot = FALSE;
    g_mutex_unlock(&dom->lock);
    return finish(list, dom, simple_command(mon, "system_powerdown", error), NULL, NULL);
}

/**
 * vb_domain_reboot:
 *
 * A fake reboot: the guest is asked to power off (ACPI), and when it does
 * the service resets it and lets it run again instead of ending the
 * process; the domain keeps its process and id.
 */
gboolean
vb_domain_reboot(VbDomainList *list, VbDomainObj *dom, const char *owner, GError **error)
{
    g_autoptr(VbQemuMonitor) mon =
        vb_domain_begin_running(list, dom, VB_JOB_MODIFY, "Reboot", owner, error);
    gboolean ok;

    if (mon == NULL)
        return FALSE;
    g_mutex_lock(&dom->lock);
    dom->fake_reboot = TRUE;
    g_mutex_unlock(&dom->lock);
    ok = simple_command(mon, "system_powerdown", error);
    if (!ok) {
        g_mutex_lock(&dom->lock);
        dom->fake_reboot = FALSE;
        g_mutex_unlock(&dom->lock);
    }
    return finish(list, dom, ok, NULL, NULL);
}

/* vb_domain_reset: a hard reset of the virtual machine, without the guest's consent. */
gboolean
vb_domain_reset(VbDomainList *list, VbDomainObj *dom, const char *owner, GError **error)
{
    g_autoptr(VbQemuMonitor) mon =
        vb_domain_begin_running(list, dom, VB_JOB_MODIFY, "Reset", owner, error);

    if (mon == NULL)
        return FALSE;
    return finish(list, dom, simple_command(mon, "system_reset", error), NULL, NULL);
}

/*
 * Suspend and Resume (issue 16): QEMU emits STOP (RESUME) as soon as the vCPUs
 * stopped (run again), ~0.2 ms before its reply to `stop` (`cont`). The worker
 * holding the job watches for that event and makes the change then: state, published
 * from the worker (VB_DOMAIN_NOTIFY_RUN_STATE), status XML written; the event itself
 * is not queued to the event worker (job.owned_event), which would only wake to find
 * nothing to do. The reply is still waited for before the job ends and the caller is
 * answered.
 */
typedef struct {
    VbDomainList *list;
    VbDomainObj *dom;
    gboolean stop;
    gboolean done; /* the change was made and published */
} RunStateChange;

/* The worker holding the job: the vCPUs stopped (ran again) at @timestamp. */
static void
run_state_change(RunStateChange *c, gint64 timestamp)
{
    VbDomainObj *dom = c->dom;
    g_autoptr(GError) err = NULL;

    if (c->done)
        return;
    c->done = TRUE;
    g_mutex_lock(&dom->lock);
    if (c->stop) {
        vb_domain_obj_set_state(dom, VB_DOMAIN_STATE_PAUSED, VB_DOMAIN_REASON_USER);
        dom->paused_at = timestamp;
    } else {
        vb_domain_obj_set_state(dom, VB_DOMAIN_STATE_RUNNING, VB_DOMAIN_REASON_UNPAUSED);
        dom->resumed_at = timestamp;
    }
    /* as the event's handler would have done */
    dom->pause_reason = VB_DOMAIN_REASON_UNKNOWN;
    g_mutex_unlock(&dom->lock);
    /* published from here first, then on disk: a restart takes the run state from
     * QEMU (query-status), not from the file, and the job (so the reply) ends after
     * the write */
    vb_domain_list_notify(c->list, dom, VB_DOMAIN_NOTIFY_RUN_STATE,
                          c->stop ? "suspended" : "resumed", c->stop ? "paused" : "unpaused");
    if (!vb_domain_status_save(c->list, dom, &err))
        g_warning("%s", err->message);
}

static void
run_state_event_seen(const char *event, gint64 timestamp, gpointer user_data)
{
    run_state_change(user_data, timestamp);
}

/* `stop` or `cont` with the job held; ends the job. */
static gboolean
change_run_state(VbDomainList *list, VbDomainObj *dom, VbQemuMonitor *mon, gboolean stop,
                 GError **error)
{
    RunStateChange c = { list, dom, stop, FALSE };
    g_autoptr(JsonNode) r = NULL;

    g_mutex_lock(&dom->lock);
    dom->job.owned_event = stop ? "STOP" : "RESUME";
    g_mutex_unlock(&dom->lock);
    r = vb_qemu_monitor_command_watch(mon, stop ? "stop" : "cont", stop ? "STOP" : "RESUME",
                                      run_state_event_seen, &c, QMP_TIMEOUT_MS, error);
    g_mutex_lock(&dom->lock);
    dom->job.owned_event = NULL;
    g_mutex_unlock(&dom->lock);
    /* no event before the reply (none is due): the reply tells */
    if (r != NULL)
        run_state_change(&c, g_get_real_time());
    vb_domain_job_end(dom);
    return r != NULL;
}

/* vb_domain_suspend: stops the vCPUs; state paused/user. */
gboolean
vb_domain_suspend(VbDomainList *list, VbDomainObj *dom, const char *owner, GError **error)
{
    g_autoptr(VbQemuMonitor) mon =
        vb_domain_begin_running(list, dom, VB_JOB_SUSPEND, "Suspend", owner, error);

    if (mon == NULL)
        return FALSE;
    g_mutex_lock(&dom->lock);
    if (dom->state == VB_DOMAIN_STATE_PAUSED) {
        g_mutex_unlock(&dom->lock);
        vb_domain_job_end(dom);
        return TRUE;
    }
    dom->pause_reason = VB_DOMAIN_REASON_USER;
    g_mutex_unlock(&dom->lock);
    return change_run_state(list, dom, mon, TRUE, error);
}

/* vb_domain_resume: lets the vCPUs run again; state running/unpaused. */
gboolean
vb_domain_resume(VbDomainList *list, VbDomainObj *dom, const char *owner, GError **error)
{
    g_autoptr(VbQemuMonitor) mon =
        vb_domain_begin_running(list, dom, VB_JOB_SUSPEND, "Resume", owner, error);

    if (mon == NULL)
        return FALSE;
    g_mutex_lock(&dom->lock);
    if (dom->state != VB_DOMAIN_STATE_PAUSED) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_STATE, "domain '%s' is not paused",
                    dom->def->name);
        g_mutex_unlock(&dom->lock);
        vb_domain_job_end(dom);
        return FALSE;
    }
    g_mutex_unlock(&dom->lock);
    return change_run_state(list, dom, mon, FALSE, error);
}

/**
 * vb_domain_qemu_monitor_command:
 * @json: a QMP command as JSON text
 *
 * Passes a raw command to QEMU and taints the domain: the service can no
 * longer vouch for what the guest sees. A command that is not a JSON
 * object with "execute", not strict JSON or nested deeper than
 * VB_QEMU_JSON_MAX_DEPTH levels fails with VB_ERROR_INVALID_ARG before
 * anything else (no job, no taint).
 *
 * Returns: (transfer full): QEMU's reply as JSON text.
 */
char *
vb_domain_qemu_monitor_command(VbDomainList *list, VbDomainObj *dom, const char *json,
                               const char *owner, GError **error)
{
    /* checked and parsed first: a command that cannot be sent takes no
     * job and taints nothing */
    g_autoptr(JsonObject) cmd = vb_qemu_monitor_parse_command(json, error);
    g_autoptr(VbQemuMonitor) mon = NULL;
    g_autofree char *name = NULL;
    char *reply;
    gboolean newly;

    if (cmd == NULL)
        return NULL;
    mon = vb_domain_begin_running(list, dom, VB_JOB_MODIFY, "QemuMonitorCommand", owner, error);
    if (mon == NULL)
        return NULL;
    g_mutex_lock(&dom->lock);
    newly = !(dom->taint & VB_TAINT_CUSTOM_MONITOR);
    dom->taint |= VB_TAINT_CUSTOM_MONITOR;
    name = g_strdup(dom->def->name);
    g_mutex_unlock(&dom->lock);
    if (newly) {
        g_autofree char *line = g_strdup_printf("Domain is tainted: custom-monitor (raw QMP "
                                                "command from %s)",
                                                owner != NULL ? owner : "internal");

        VB_LOG_DOMAIN(G_LOG_LEVEL_MESSAGE, name, "%s", line);
        vb_domain_log_append(list, name, line);
    }
    reply = vb_qemu_monitor_command_object(mon, cmd, QMP_TIMEOUT_MS, error);
    if (newly) {
        g_autoptr(GError) err = NULL;

        if (!vb_domain_status_save(list, dom, &err))
            g_warning("%s", err->message);
        vb_domain_list_notify(list, dom, VB_DOMAIN_NOTIFY_CHANGED, NULL, NULL);
    }
    vb_domain_job_end(dom);
    return reply;
}

/*
 * The client driving a migration of @dom (MigrateBegin's caller) left the
 * bus: a transfer that runs is cancelled (its thread resumes the guest and
 * ends the job); a migration waiting for its next call is abandoned. After
 * a completed transfer the guest stays paused: it may already run on the
 * destination, and two running copies are worse than none (libvirt does
 * the same).
 */
static void
abandon_migration(VbDomainList *list, VbDomainObj *dom, const char *owner)
{
    g_autoptr(VbJob) record = NULL;
    gboolean abandoned = FALSE, cancelled = FALSE, paused = FALSE;
    gpointer migration = NULL;
    GDestroyNotify migration_free = NULL;
    const char *phase;

    g_mutex_lock(&dom->lock);
    if (!dom->job.owner_watched || g_strcmp0(dom->job.async_owner, owner) != 0) {
        g_mutex_unlock(&dom->lock);
        return;
    }
    phase = dom->job.phase;
    if (!dom->job.held) {
        dom->job.abort_requested = TRUE;
        cancelled = TRUE;
    } else {
        paused = dom->state == VB_DOMAIN_STATE_PAUSED && g_str_equal(phase, "perform3_done");
        if (dom->job.record != NULL)
            record = vb_job_ref(dom->job.record);
        vb_domain_async_job_end_locked(dom);
        migration = g_steal_pointer(&dom->migration);
        migration_free = dom->migration_free;
        abandoned = TRUE;
    }
    g_mutex_unlock(&dom->lock);
    if (migration != NULL && migration_free != NULL)
        migration_free(migration);
    if (cancelled)
        VB_LOG_DOMAIN(G_LOG_LEVEL_MESSAGE, dom->uuid_str,
                      "migration: its client %s left the bus; cancelling the transfer", owner);
    if (!abandoned)
        return;
    VB_LOG_DOMAIN(paused ? G_LOG_LEVEL_WARNING : G_LOG_LEVEL_MESSAGE, dom->uuid_str,
                  "migration: its client %s left the bus in phase %s; the migration is "
                  "abandoned%s", owner, phase,
                  paused ? " and the guest stays paused (it may run on the destination: "
                           "resume or destroy it here)" : "");
    if (record != NULL && !vb_job_is_completed(record)) {
        g_autoptr(GError) gone = g_error_new(VB_ERROR, VB_ERROR_ABORTED,
                                             "the client driving the migration (%s) left "
                                             "the bus", owner);

        vb_job_complete(record, NULL, gone, TRUE);
        vb_domain_list_job_notify(list, record, VB_JOB_NOTIFY_COMPLETED);
    }
    {
        g_autoptr(GError) st_err = NULL;

        if (!vb_domain_status_save(list, dom, &st_err))
            VB_LOG_DOMAIN(G_LOG_LEVEL_WARNING, dom->uuid_str, "%s", st_err->message);
    }
    vb_domain_list_notify(list, dom, VB_DOMAIN_NOTIFY_CHANGED, NULL, NULL);
}

/*
 * A start of @dom runs while its owner @owner left the bus: Destroy cannot
 * act before QEMU exists, and the name watch fires once only. Waits until
 * the start ends (bounded by @timeout_s); returns TRUE when it left a QEMU
 * that is still tied to @owner (it must be destroyed now).
 */
static gboolean
wait_start_of_gone_owner(VbDomainObj *dom, const char *owner, guint timeout_s)
{
    gint64 deadline = g_get_monotonic_time() + (gint64)timeout_s * G_USEC_PER_SEC;

    for (;;) {
        gboolean starting, tied;

        g_mutex_lock(&dom->lock);
        starting = dom->starting;
        tied = !dom->removed && dom->id >= 0 && dom->proc != NULL &&
               g_strcmp0(dom->autodestroy_owner, owner) == 0;
        g_mutex_unlock(&dom->lock);
        if (!starting || tied)
            return tied;
        if (g_get_monotonic_time() > deadline)
            return FALSE;
        g_usleep(50 * 1000);
    }
}

/**
 * vb_domain_autodestroy_owner_gone:
 * @owner: a unique bus name that left the bus
 *
 * Destroys every running domain whose life was tied to @owner.
 *
 * Returns: how many were destroyed.
 */
guint
vb_domain_autodestroy_owner_gone(VbDomainList *list, const char *owner)
{
    g_autoptr(GPtrArray) doms = vb_domain_list_collect_loaded(list, VB_LIST_ACTIVE);
    guint n = 0;

    for (guint i = 0; i < doms->len; i++) {
        VbDomainObj *dom = doms->pdata[i];
        g_autoptr(GError) error = NULL;
        gboolean mine;

        g_mutex_lock(&dom->lock);
        mine = g_strcmp0(dom->autodestroy_owner, owner) == 0;
        g_mutex_unlock(&dom->lock);
        abandon_migration(list, dom, owner);
        if (!mine)
            continue;
        VB_LOG_DOMAIN(G_LOG_LEVEL_MESSAGE, dom->uuid_str,
                      "autodestroy: its owner %s left the bus", owner);
        if (vb_domain_destroy(list, dom, 0, NULL, &error)) {
            n++;
            continue;
        }
        /* the owner left while QEMU was being started: destroy it once it exists
         * (an incoming migration prepared for a client that died, issue 14) */
        if (wait_start_of_gone_owner(dom, owner, list->config->job_wait_timeout + 60)) {
            VB_LOG_DOMAIN(G_LOG_LEVEL_MESSAGE, dom->uuid_str,
                          "autodestroy: its start went on after its owner %s left; "
                          "destroying it now", owner);
            g_clear_error(&error);
            abandon_migration(list, dom, owner);
            if (vb_domain_destroy(list, dom, 0, NULL, &error)) {
                n++;
                continue;
            }
        }
        if (error != NULL)
            g_warning("autodestroy of %s failed: %s", dom->uuid_str, error->message);
    }
    return n;
}
