/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <signal.h>

#include "domain-agent.h"
#include "domain-hotplug.h"
#include "domain-def-priv.h" /* on_poweroff/on_reboot/on_crash of the model */
#include "domain-list-priv.h"
#include "domain-memev.h"
#include "vb-error.h"
#include "vb-log.h"

/*
 * QEMU events and the end of a run, handled per domain in arrival order by
 * a task of the list's event pool (never on the monitor thread, which
 * must not wait for a job). A handler that changes the domain takes the
 * job; an event of an earlier run is dropped.
 */

#define QMP_TIMEOUT_MS 30000

/**
 * vb_domain_events_queue:
 * @ev: (transfer full): the event
 *
 * Any thread.
 */
void
vb_domain_events_queue(VbDomainList *list, VbDomainObj *dom, VbDomainEvent *ev)
{
    gboolean start;

    vb_domain_hotplug_wake(dom, ev); /* issue 13, part hotplug */
    g_mutex_lock(&dom->lock);
    if (ev->name != NULL && dom->job.owned_event != NULL && ev->run == dom->run &&
        g_str_equal(ev->name, dom->job.owned_event)) {
        /* the Suspend or Resume that caused it sets the state (issue 16) */
        g_mutex_unlock(&dom->lock);
        vb_domain_event_free(ev);
        return;
    }
    g_queue_push_tail(&dom->events, ev);
    start = !dom->events_running;
    dom->events_running = TRUE;
    g_mutex_unlock(&dom->lock);
    if (start)
        g_thread_pool_push(list->event_pool, vb_domain_obj_ref(dom), NULL);
}

static gboolean
begin_event_job(VbDomainList *list, VbDomainObj *dom, const VbDomainEvent *ev)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *what = g_strdup_printf("QEMU event %s", ev->name != NULL ? ev->name : "EOF");

    /* an end of run must be handled whatever holds the job now; an async
     * job does not hold events back (vb_domain_job_begin_event) */
    while (!vb_domain_job_begin_event(dom, what, list->config->job_wait_timeout, &error)) {
        if (ev->name != NULL || g_error_matches(error, VB_ERROR, VB_ERROR_NO_DOMAIN)) {
            g_warning("dropping %s: %s", what, error->message);
            return FALSE;
        }
        g_warning("%s: %s; retrying", what, error->message);
        g_clear_error(&error);
    }
    return TRUE;
}

/* With the job: whether @ev belongs to the current run. */
static gboolean
is_current(VbDomainObj *dom, const VbDomainEvent *ev)
{
    g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&dom->lock);

    return dom->id >= 0 && dom->run == ev->run;
}

static void
handle_end(VbDomainList *list, VbDomainObj *dom)
{
    VbDomainReason reason;

    g_mutex_lock(&dom->lock);
    if (dom->destroying)
        reason = VB_DOMAIN_REASON_DESTROYED;
    else if (dom->state == VB_DOMAIN_STATE_CRASHED)
        reason = VB_DOMAIN_REASON_CRASHED;
    else if (dom->got_shutdown)
        reason = VB_DOMAIN_REASON_SHUTDOWN;
    else
        reason = VB_DOMAIN_REASON_CRASHED;
    g_mutex_unlock(&dom->lock);
    vb_domain_teardown(list, dom, reason);
}

/* Reset the guest and let it run again: a fake reboot's second half. */
static void
restart_guest(VbDomainList *list, VbDomainObj *dom, VbQemuMonitor *mon)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) r1 = vb_qemu_monitor_command(mon, "system_reset", NULL, QMP_TIMEOUT_MS,
                                                     &error);
    g_autoptr(JsonNode) r2 = r1 != NULL ? vb_qemu_monitor_command(mon, "cont", NULL,
                                                                  QMP_TIMEOUT_MS, &error)
                                        : NULL;

    if (r2 == NULL) {
        g_warning("domain %s: fake reboot failed: %s", dom->uuid_str, error->message);
        return;
    }
    g_mutex_lock(&dom->lock);
    dom->got_shutdown = FALSE;
    dom->fake_reboot = FALSE;
    dom->resumed_at = g_get_real_time();
    vb_domain_obj_set_state(dom, VB_DOMAIN_STATE_RUNNING, VB_DOMAIN_REASON_BOOTED);
    g_mutex_unlock(&dom->lock);
    vb_domain_status_save(list, dom, NULL);
    vb_domain_list_notify(list, dom, VB_DOMAIN_NOTIFY_CHANGED, "rebooted", "");
}

static void
handle_shutdown(VbDomainList *list, VbDomainObj *dom, const VbDomainEvent *ev)
{
    g_autoptr(VbQemuMonitor) mon = NULL;
    g_autoptr(VbQemuProcess) proc = NULL;
    gboolean guest_reset = ev->data != NULL && json_object_has_member(ev->data, "reason") &&
                           g_strcmp0(json_object_get_string_member(ev->data, "reason"),
                                     "guest-reset") == 0;
    VbLifecycleAction action;
    gboolean restart;

    gboolean by_guest = ev->data == NULL || !json_object_has_member(ev->data, "guest") ||
                        json_object_get_boolean_member(ev->data, "guest");

    g_mutex_lock(&dom->lock);
    if (dom->got_shutdown || dom->destroying) {
        /* QEMU may repeat SHUTDOWN after SIGTERM: never loop on it; and a
         * Destroy's own SIGTERM is no guest shutdown */
        g_mutex_unlock(&dom->lock);
        return;
    }
    dom->got_shutdown = TRUE;
    if (!by_guest) {
        /* someone else signalled QEMU: it exits by itself */
        g_mutex_unlock(&dom->lock);
        return;
    }
    action = guest_reset ? dom->def->priv->on_reboot : dom->def->priv->on_poweroff;
    restart = dom->fake_reboot || action == VB_LIFECYCLE_RESTART ||
              action == VB_LIFECYCLE_RENAME_RESTART;
    mon = dom->mon != NULL ? vb_qemu_monitor_ref(dom->mon) : NULL;
    proc = dom->proc != NULL ? vb_qemu_process_ref(dom->proc) : NULL;
    if (!restart && action != VB_LIFECYCLE_PRESERVE)
        vb_domain_obj_set_state(dom, VB_DOMAIN_STATE_SHUTDOWN, VB_DOMAIN_REASON_SHUTTING_DOWN);
    else if (!restart)
        vb_domain_obj_set_state(dom, VB_DOMAIN_STATE_PAUSED, VB_DOMAIN_REASON_SHUTDOWN);
    g_mutex_unlock(&dom->lock);

    if (restart && mon != NULL) {
        restart_guest(list, dom, mon);
        return;
    }
    vb_domain_list_notify(list, dom, VB_DOMAIN_NOTIFY_CHANGED, "shutdown", "finished");
    if (action != VB_LIFECYCLE_PRESERVE && proc != NULL) {
        /* SIGTERM only: QEMU flushes its buffers and exits; EOF tears down */
        vb_qemu_process_signal(proc, SIGTERM);
    }
}

static void
handle_stop_resume(VbDomainList *list, VbDomainObj *dom, const VbDomainEvent *ev,
                   gboolean stop)
{
    gboolean changed = FALSE;
    const char *detail;

    g_mutex_lock(&dom->lock);
    /* issue 13, part memev: libvirt's suspended details for a watchdog or disk error */
    detail = dom->pause_reason == VB_DOMAIN_REASON_WATCHDOG  ? "watchdog"
             : dom->pause_reason == VB_DOMAIN_REASON_IOERROR ? "ioerror"
                                                              : "paused";
    if (stop && dom->state == VB_DOMAIN_STATE_RUNNING && !dom->got_shutdown &&
        ev->timestamp >= dom->resumed_at) {
        vb_domain_obj_set_state(dom, VB_DOMAIN_STATE_PAUSED, dom->pause_reason);
        changed = TRUE;
    } else if (!stop && dom->state == VB_DOMAIN_STATE_PAUSED &&
               dom->reason != VB_DOMAIN_REASON_STARTING_UP && ev->timestamp >= dom->paused_at) {
        /* a RESUME of a Resume that a Suspend followed before this event was handled is
         * stale: it must not make the paused domain "running" for a moment */
        vb_domain_obj_set_state(dom, VB_DOMAIN_STATE_RUNNING, VB_DOMAIN_REASON_UNPAUSED);
        changed = TRUE;
    }
    dom->pause_reason = VB_DOMAIN_REASON_UNKNOWN;
    g_mutex_unlock(&dom->lock);
    if (!changed)
        return;
    /* as a Suspend's (domain-ops.c): published at once, then written */
    vb_domain_list_notify(list, dom, VB_DOMAIN_NOTIFY_RUN_STATE, stop ? "suspended" : "resumed",
                          stop ? detail : "unpaused");
    vb_domain_status_save(list, dom, NULL);
}

static void
handle_panic(VbDomainList *list, VbDomainObj *dom)
{
    g_autoptr(VbQemuMonitor) mon = NULL;
    g_autoptr(VbQemuProcess) proc = NULL;
    VbLifecycleAction action;

    g_mutex_lock(&dom->lock);
    action = dom->def->priv->on_crash;
    mon = dom->mon != NULL ? vb_qemu_monitor_ref(dom->mon) : NULL;
    proc = dom->proc != NULL ? vb_qemu_process_ref(dom->proc) : NULL;
    if (action != VB_LIFECYCLE_RESTART)
        vb_domain_obj_set_state(dom, VB_DOMAIN_STATE_CRASHED, VB_DOMAIN_REASON_PANICKED);
    g_mutex_unlock(&dom->lock);

    vb_domain_list_notify(list, dom, VB_DOMAIN_NOTIFY_CHANGED, "crashed", "panicked");
    if (action == VB_LIFECYCLE_RESTART && mon != NULL)
        restart_guest(list, dom, mon);
    else if (action == VB_LIFECYCLE_DESTROY && proc != NULL)
        vb_qemu_process_signal(proc, SIGKILL);
}

/*
 * The incoming side of a migration reached post-copy: the source stopped for
 * good, so the guest runs here now instead of a MigrateFinish call later
 * (which still comes, waits for the stream's end and finds it running).
 */
static void
run_postcopy_guest(VbDomainList *list, VbDomainObj *dom)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(VbQemuMonitor) mon = NULL;
    g_autoptr(JsonNode) r = NULL;

    g_mutex_lock(&dom->lock);
    mon = dom->mon != NULL ? vb_qemu_monitor_ref(dom->mon) : NULL;
    g_mutex_unlock(&dom->lock);
    if (mon == NULL)
        return;
    /* during the incoming run QEMU only notes it (its autostart) */
    r = vb_qemu_monitor_command(mon, "cont", NULL, QMP_TIMEOUT_MS, &error);
    if (r == NULL) {
        VB_LOG_DOMAIN(G_LOG_LEVEL_WARNING, dom->uuid_str,
                      "cannot resume the guest at the switch to post-copy: %s; "
                      "MigrateFinish does", error->message);
        return;
    }
    VB_LOG_DOMAIN(G_LOG_LEVEL_MESSAGE, dom->uuid_str,
                  "the migration switched to post-copy: the guest runs here");
}

/* A SPICE client followed the guest to the migration's destination. */
static void
note_spice_migrated(VbDomainObj *dom)
{
    g_mutex_lock(&dom->lock);
    dom->job.spice_migrated = TRUE;
    g_cond_broadcast(&dom->job.cond);
    g_mutex_unlock(&dom->lock);
}

/* A guest I/O error: aborts a migration started with ABORT_ON_ERROR. */
static void
note_io_error(VbDomainObj *dom, const VbDomainEvent *ev)
{
    const char *dev = ev->data != NULL && json_object_has_member(ev->data, "device")
                          ? json_object_get_string_member(ev->data, "device") : NULL;
    const char *node = ev->data != NULL && json_object_has_member(ev->data, "node-name")
                           ? json_object_get_string_member(ev->data, "node-name") : NULL;
    gboolean abort;

    g_mutex_lock(&dom->lock);
    abort = dom->job.abort_on_error && dom->job.async != VB_ASYNC_JOB_NONE &&
            !dom->job.abort_requested;
    if (abort)
        dom->job.abort_requested = dom->job.io_error = TRUE;
    g_mutex_unlock(&dom->lock);
    VB_LOG_DOMAIN(abort ? G_LOG_LEVEL_MESSAGE : G_LOG_LEVEL_INFO, dom->uuid_str,
                  "guest I/O error on %s%s", dev != NULL && *dev != '\0' ? dev
                                             : node != NULL ? node : "a disk",
                  abort ? "; aborting the migration (ABORT_ON_ERROR)" : "");
}

static void
handle_event(VbDomainList *list, VbDomainObj *dom, VbDomainEvent *ev)
{
    if (ev->name != NULL)
        VB_LOG_DOMAIN(G_LOG_LEVEL_DEBUG, dom->uuid_str, "QEMU event %s", ev->name);
    /* issue 13, part agent: a thaw queued at reconnect runs under the agent job only */
    if (ev->name != NULL && g_str_equal(ev->name, VB_DOMAIN_AGENT_THAW_EVENT)) {
        g_mutex_lock(&dom->lock);
        if (dom->id >= 0 && dom->run == ev->run) {
            g_mutex_unlock(&dom->lock);
            vb_domain_agent_thaw_now(list, dom);
        } else {
            g_mutex_unlock(&dom->lock);
        }
        return;
    }
    /* need no job: the migration waiting for them holds one */
    if (ev->name != NULL && g_str_equal(ev->name, "SPICE_MIGRATE_COMPLETED")) {
        note_spice_migrated(dom);
        return;
    }
    /* the IOError signal follows with the job (issue 13, part memev) */
    if (ev->name != NULL && g_str_equal(ev->name, "BLOCK_IO_ERROR"))
        note_io_error(dom, ev);
    if (ev->name != NULL && g_str_equal(ev->name, "MIGRATION")) {
        gboolean run = FALSE;

        /* wakes a migration's wait at once instead of at its next poll */
        g_mutex_lock(&dom->lock);
        dom->job.migration_events++;
        g_cond_broadcast(&dom->job.cond);
        if (dom->job.run_on_postcopy && dom->job.async == VB_ASYNC_JOB_MIGRATION_IN &&
            ev->data != NULL && json_object_has_member(ev->data, "status") &&
            g_strcmp0(json_object_get_string_member(ev->data, "status"),
                      "postcopy-active") == 0) {
            dom->job.run_on_postcopy = FALSE;
            run = TRUE;
        }
        g_mutex_unlock(&dom->lock);
        if (run && begin_event_job(list, dom, ev)) {
            if (is_current(dom, ev))
                run_postcopy_guest(list, dom);
            vb_domain_job_end(dom);
        }
        return;
    }
    /* block job events only wake the thread waiting for them: no job */
    if (vb_domain_block_job_event(dom, ev))
        return;
    /* issue 15: the job holder pauses and resumes the guest itself, and waits for the
     * events behind these ones; waiting for its job here would block them */
    if (ev->name != NULL && (g_str_equal(ev->name, "STOP") || g_str_equal(ev->name, "RESUME"))) {
        gboolean own;

        g_mutex_lock(&dom->lock);
        own = dom->job.own_run_state;
        g_mutex_unlock(&dom->lock);
        if (own)
            return;
    }
    /* issue 13, part hotplug: wakes a DetachDevice, or takes the job to finish the
     * removal itself */
    if (vb_domain_hotplug_event(list, dom, ev))
        return;
    if (!begin_event_job(list, dom, ev))
        return;
    if (!is_current(dom, ev)) {
        vb_domain_job_end(dom);
        return;
    }
    if (ev->name == NULL)
        handle_end(list, dom);
    else if (g_str_equal(ev->name, "SHUTDOWN"))
        handle_shutdown(list, dom, ev);
    else if (g_str_equal(ev->name, "STOP"))
        handle_stop_resume(list, dom, ev, TRUE);
    else if (g_str_equal(ev->name, "RESUME"))
        handle_stop_resume(list, dom, ev, FALSE);
    else if (g_str_equal(ev->name, "GUEST_PANICKED"))
        handle_panic(list, dom);
    else if (g_str_equal(ev->name, "VSERPORT_CHANGE")) /* issue 13, part agent */
        vb_domain_agent_vserport_event(list, dom, ev->data);
    else /* issue 13, part memev: the events that become signals (docs/events.md) */
        vb_domain_memev_event(list, dom, ev);
    vb_domain_job_end(dom);
}

/**
 * vb_domain_events_run:
 * @data: (transfer full): the domain
 *
 * The event pool's function: drains one domain's queue.
 */
void
vb_domain_events_run(gpointer data, gpointer user_data)
{
    VbDomainObj *dom = data;
    VbDomainList *list = user_data;

    for (;;) {
        VbDomainEvent *ev;

        g_mutex_lock(&dom->lock);
        ev = g_queue_pop_head(&dom->events);
        if (ev == NULL)
            dom->events_running = FALSE;
        g_mutex_unlock(&dom->lock);
        if (ev == NULL)
            break;
        handle_event(list, dom, ev);
        vb_domain_event_free(ev);
    }
    vb_domain_obj_unref(dom);
}
