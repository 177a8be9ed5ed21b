/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <string.h>

#include "domain-obj.h"
#include "snapshot-store.h"
#include "vb-error.h"

static const char *const state_names[VB_DOMAIN_STATE_LAST] = {
    "nostate", "running", "blocked", "paused", "shutdown", "shutoff", "crashed", "pmsuspended",
};

static const char *const reason_names[VB_DOMAIN_REASON_LAST] = {
    "unknown",  "booted",   "user",        "unpaused",      "shutdown", "destroyed",
    "crashed",  "migrated", "saved",       "restored",      "failed",   "starting-up",
    "shutting-down", "panicked", "saving", "migration",
    "ioerror", "watchdog", "wakeup", /* issue 13, part memev */
    "snapshot", "from-snapshot", /* issue 15 */
};

const char *
vb_domain_state_to_string(VbDomainState state)
{
    g_return_val_if_fail(state < VB_DOMAIN_STATE_LAST, NULL);
    return state_names[state];
}

/* Returns: the state, or -1 for an unknown string. */
int
vb_domain_state_from_string(const char *str)
{
    return vb_enum_lookup(state_names, VB_DOMAIN_STATE_LAST, str);
}

const char *
vb_domain_reason_to_string(VbDomainReason reason)
{
    g_return_val_if_fail(reason < VB_DOMAIN_REASON_LAST, NULL);
    return reason_names[reason];
}

/* Returns: the reason, or -1 for an unknown string. */
int
vb_domain_reason_from_string(const char *str)
{
    return vb_enum_lookup(reason_names, VB_DOMAIN_REASON_LAST, str);
}

/**
 * vb_domain_obj_new:
 * @def: (transfer full): the definition
 * @object_path: where the bus exports it
 *
 * Returns: (transfer full): an inactive, non-persistent domain with one
 *   reference.
 */
VbDomainObj *
vb_domain_obj_new(VbDomainDef *def, const char *object_path)
{
    VbDomainObj *dom = g_new0(VbDomainObj, 1);

    dom->refcount = 1;
    g_mutex_init(&dom->lock);
    vb_uuid_format(def->uuid, dom->uuid_str);
    dom->object_path = g_strdup(object_path);
    dom->def = def;
    dom->state = VB_DOMAIN_STATE_SHUTOFF;
    dom->reason = VB_DOMAIN_REASON_UNKNOWN;
    dom->id = -1;
    dom->display_port = -1;
    dom->websocket_port = -1;
    dom->migration_port = -1;
    g_cond_init(&dom->job.cond);
    g_cond_init(&dom->cond);
    dom->nbd_port = -1;
    dom->job.phase = "none";
    g_queue_init(&dom->events);
    dom->state_since = g_get_monotonic_time();
    return dom;
}

VbDomainObj *
vb_domain_obj_ref(VbDomainObj *dom)
{
    g_atomic_int_inc(&dom->refcount);
    return dom;
}

void
vb_domain_obj_unref(VbDomainObj *dom)
{
    if (dom == NULL || !g_atomic_int_dec_and_test(&dom->refcount))
        return;
    vb_domain_def_free(dom->def);
    vb_domain_def_free(dom->new_def);
    vb_snapshot_store_free(dom->snapshots); /* issue 15, part snapbus */
    g_strfreev(dom->unsupported);
    g_free(dom->object_path);
    g_clear_pointer(&dom->proc, vb_qemu_process_unref);
    g_clear_pointer(&dom->mon, vb_qemu_monitor_unref);
    g_clear_pointer(&dom->caps, vb_qemu_caps_unref);
    g_free(dom->runtime_dir);
    g_free(dom->agent_job_method);
    g_free(dom->agent_job_owner);
    g_free(dom->unplug_alias); /* issue 13, part hotplug */
    g_clear_pointer(&dom->unplug_nodes, g_hash_table_unref);
    g_clear_pointer(&dom->disk_errors, g_hash_table_unref); /* issue 13, part guest2 */
    g_clear_pointer(&dom->attach_pending_def, vb_domain_def_free); /* issue 13, part netupd */
    g_clear_pointer(&dom->attach_pending_alias, g_free);
    g_strfreev(dom->cgroup_dirs); /* issue 14, part cgroup */
    g_free(dom->cgroup_unit);
    g_free(dom->monitor_path);
    g_free(dom->pidfile);
    g_clear_pointer(&dom->vcpu_tids, g_array_unref);
    g_clear_pointer(&dom->iothread_tids, g_array_unref);
    g_clear_pointer(&dom->perf, g_hash_table_unref); /* issue 13, part vcpuio */
    g_clear_pointer(&dom->disk_chains, g_hash_table_unref);
    g_clear_pointer(&dom->helpers, g_ptr_array_unref);
    g_clear_pointer(&dom->nets, g_ptr_array_unref);
    g_free(dom->autodestroy_owner);
    if (dom->migration != NULL && dom->migration_free != NULL)
        dom->migration_free(dom->migration);
    g_free(dom->job.method);
    g_free(dom->job.owner);
    g_free(dom->job.async_method);
    g_free(dom->job.async_owner);
    g_free(dom->job.temp_path);
    g_clear_pointer(&dom->job.record, vb_job_unref);
    g_clear_pointer(&dom->job.last, vb_job_unref);
    g_cond_clear(&dom->job.cond);
    g_cond_clear(&dom->cond);
    g_clear_pointer(&dom->block_jobs, g_hash_table_unref);
    g_queue_clear_full(&dom->events, (GDestroyNotify)vb_domain_event_free);
    g_mutex_clear(&dom->lock);
    g_free(dom);
}

/* Takes the lock. */
gboolean
vb_domain_obj_is_active(VbDomainObj *dom)
{
    g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&dom->lock);

    return dom->id >= 0;
}

/* Takes the lock. Returns: (transfer full): the current name. */
char *
vb_domain_obj_get_name(VbDomainObj *dom)
{
    g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&dom->lock);

    return g_strdup(dom->def->name);
}

/**
 * vb_domain_obj_check_alive:
 *
 * Fails with NoDomain when @dom was removed (undefined, or a transient
 * domain that stopped) while the caller held only a reference. Takes the
 * lock.
 */
gboolean
vb_domain_obj_check_alive(VbDomainObj *dom, GError **error)
{
    g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&dom->lock);

    if (dom->removed) {
        g_set_error(error, VB_ERROR, VB_ERROR_NO_DOMAIN, "domain '%s' (%s) no longer exists",
                    dom->def->name, dom->uuid_str);
        return FALSE;
    }
    return TRUE;
}

/* What to tell a caller whose operation needs a running QEMU, per method. */
static const struct {
    const char *method;
    const char *hint;
} not_running_hints[] = {
    {"Shutdown", "there is nothing to shut down"},
    {"Destroy", "there is nothing to destroy"},
    {"Reboot", "Start boots it"},
    {"Reset", "Start boots it"},
    {"Suspend", "only a running domain can be suspended"},
    {"Resume", "only a paused domain can be resumed"},
    {"QemuMonitorCommand", "its QEMU monitor exists only while it runs"},
    {"CoreDump", "only the memory of a running domain can be dumped"},
};

/**
 * vb_domain_obj_set_not_running_error:
 * @method: the bus method that needs a running domain ("Shutdown", ...)
 *
 * Sets an InvalidState error saying why @dom has no QEMU to act on: it is
 * shut off (or crashed), still starting or already stopping; for a domain
 * that is off, also what that means for @method (no "start it first" for
 * a Shutdown). The caller holds dom->lock.
 */
void
vb_domain_obj_set_not_running_error(VbDomainObj *dom, const char *method, GError **error)
{
    const char *hint = NULL;

    if (dom->id >= 0 || dom->starting) {
        /* a QEMU process (or one about to be), but no monitor to talk to
         * (yet, or any more) */
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_STATE,
                    dom->stopping ? "domain '%s' is already stopping"
                                  : "domain '%s' is still starting; try again when it runs",
                    dom->def->name);
        return;
    }
    for (gsize i = 0; i < G_N_ELEMENTS(not_running_hints) && hint == NULL; i++) {
        if (g_strcmp0(not_running_hints[i].method, method) == 0)
            hint = not_running_hints[i].hint;
    }
    if (hint != NULL)
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_STATE, "domain '%s' is not running (%s); %s",
                    dom->def->name, vb_domain_state_to_string(dom->state), hint);
    else
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_STATE, "domain '%s' is not running (%s)",
                    dom->def->name, vb_domain_state_to_string(dom->state));
}

/**
 * vb_domain_obj_snapshot:
 *
 * Copies what the bus publishes of @dom into @out_snap under the lock.
 * Free with vb_domain_snapshot_clear().
 */
void
vb_domain_obj_snapshot(VbDomainObj *dom, VbDomainSnapshot *out_snap)
{
    g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&dom->lock);

    out_snap->name = g_strdup(dom->def->name);
    memcpy(out_snap->uuid, dom->uuid_str, sizeof(out_snap->uuid));
    out_snap->id = dom->id;
    out_snap->state = state_names[dom->state];
    out_snap->reason = reason_names[dom->reason];
    out_snap->active = dom->id >= 0;
    out_snap->persistent = dom->persistent;
    out_snap->autostart = dom->autostart;
    out_snap->memory_kib = dom->def->max_memory_kib;
    out_snap->vcpus = dom->def->vcpus_current;
    out_snap->autodestroy_owner = g_strdup(dom->autodestroy_owner != NULL
                                               ? dom->autodestroy_owner : "");
    out_snap->tainted = vb_domain_taint_to_strv(dom->taint);
    out_snap->migration_owner = g_strdup(dom->job.owner_watched && dom->job.async_owner != NULL
                                             ? dom->job.async_owner : "");
    out_snap->job_method = g_strdup(dom->job.method != NULL ? dom->job.method : "");
    out_snap->job_id = dom->job.record != NULL ? vb_job_get_id(dom->job.record) : 0;
    out_snap->has_managed_save = dom->has_managed_save;
    out_snap->agent_connected = dom->id >= 0 && dom->agent_connected;
    out_snap->current_memory_kib = dom->def->current_memory_kib; /* issue 13, part memev */
    out_snap->start_time = dom->id >= 0 && dom->proc != NULL
                               ? vb_qemu_process_get_start_time(dom->proc)
                               : 0;
    out_snap->unsupported = dom->unsupported != NULL ? g_strdupv(dom->unsupported)
                                                     : g_new0(char *, 1);
}

/**
 * vb_domain_obj_set_state:
 *
 * Under the lock.
 */
void
vb_domain_obj_set_state(VbDomainObj *dom, VbDomainState state, VbDomainReason reason)
{
    dom->state = state;
    dom->reason = reason;
    dom->state_since = g_get_monotonic_time();
}

/* Returns: (transfer full): the names of the taint flags, as the bus shows them. */
GStrv
vb_domain_taint_to_strv(guint taint)
{
    static const char *const names[] = { "custom-argv", "disk-probing", "custom-monitor",
                                         "custom-ga-command" };
    GStrvBuilder *b = g_strv_builder_new();
    GStrv out;

    for (guint i = 0; i < G_N_ELEMENTS(names); i++) {
        if (taint & (1u << i))
            g_strv_builder_add(b, names[i]);
    }
    out = g_strv_builder_end(b);
    g_strv_builder_unref(b);
    return out;
}

void
vb_domain_snapshot_clear(VbDomainSnapshot *snap)
{
    g_clear_pointer(&snap->name, g_free);
    g_clear_pointer(&snap->autodestroy_owner, g_free);
    g_clear_pointer(&snap->tainted, g_strfreev);
    g_clear_pointer(&snap->job_method, g_free);
    g_clear_pointer(&snap->migration_owner, g_free);
    g_clear_pointer(&snap->unsupported, g_strfreev);
}

void
vb_domain_event_free(VbDomainEvent *ev)
{
    if (ev == NULL)
        return;
    g_free(ev->name);
    if (ev->data != NULL)
        json_object_unref(ev->data);
    g_free(ev);
}
