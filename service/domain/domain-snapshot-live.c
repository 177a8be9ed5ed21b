/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <string.h>

#include "domain-list-priv.h"
#include "domain-snapshot-journal.h"
#include "domain-snapshot-live.h"
#include "vb-error.h"
#include "vb-log.h"

/*
 * Internal snapshots of a running domain with QEMU 7.2's snapshot-save, snapshot-load and
 * snapshot-delete jobs (issue 15). Measured on QEMU 7.2 (docs/snapshots.md): the save and
 * the load run in QEMU's main loop, so the monitor answers the command only once the
 * images are written; the job then goes waiting, pending, concluded (an error is only
 * seen in query-jobs) and stays until job-dismiss. The guest is paused first, as libvirt
 * does (state paused, reason "snapshot"), so QEMU's own stop and resume inside the job
 * emit nothing, and let run again afterwards. The caller holds the domain's job; the end
 * of the job is waited for on the domain's condition (JOB_STATUS_CHANGE, recorded by
 * domain-blockjob.c), never polled.
 */

#define QMP_TIMEOUT_MS 30000
/* the command returns when the images are written: as long as a save to disk may take */
#define SAVE_TIMEOUT_MS (30 * 60 * 1000)
#define JOB_ID "virtbus-snapshot"

static JsonObject *
find_member_object(JsonArray *a, const char *key, const char *value)
{
    for (guint i = 0; a != NULL && i < json_array_get_length(a); i++) {
        JsonNode *n = json_array_get_element(a, i);
        JsonObject *o = JSON_NODE_HOLDS_OBJECT(n) ? json_node_get_object(n) : NULL;
        JsonNode *v = o != NULL ? json_object_get_member(o, key) : NULL;

        if (v != NULL && JSON_NODE_HOLDS_VALUE(v) &&
            json_node_get_value_type(v) == G_TYPE_STRING &&
            g_strcmp0(json_node_get_string(v), value) == 0)
            return o;
    }
    return NULL;
}

static const char *
str_member(JsonObject *o, const char *name)
{
    JsonNode *n = o != NULL ? json_object_get_member(o, name) : NULL;

    return n != NULL && JSON_NODE_HOLDS_VALUE(n) && json_node_get_value_type(n) == G_TYPE_STRING
               ? json_node_get_string(n) : NULL;
}

/**
 * vb_domain_snapshot_disk_nodes:
 *
 * The format node at the top of each disk of @targets (query-block, matched by the
 * device's alias). With the job held.
 *
 * Returns: (transfer full): the node names, in @targets' order, or %NULL
 */
JsonArray *
vb_domain_snapshot_disk_nodes(VbDomainObj *dom, VbQemuMonitor *mon, GPtrArray *targets,
                              GError **error)
{
    g_autoptr(JsonNode) r = vb_qemu_monitor_command(mon, "query-block", NULL, QMP_TIMEOUT_MS,
                                                    error);
    g_autoptr(JsonArray) nodes = json_array_new();
    JsonArray *blocks;

    if (r == NULL)
        return NULL;
    blocks = JSON_NODE_HOLDS_ARRAY(r) ? json_node_get_array(r) : NULL;
    for (guint i = 0; i < targets->len; i++) {
        const char *target = targets->pdata[i];
        g_autoptr(GPtrArray) infos = NULL;
        g_autofree char *alias = NULL;
        g_autofree char *prefix = NULL;
        const char *node = NULL;

        g_mutex_lock(&dom->lock);
        infos = vb_domain_def_get_disk_infos(dom->def);
        g_mutex_unlock(&dom->lock);
        for (guint j = 0; j < infos->len; j++) {
            const VbDomainDiskInfo *d = infos->pdata[j];

            if (g_strcmp0(d->target, target) == 0 && d->alias != NULL)
                alias = g_strdup(d->alias);
        }
        prefix = g_strdup_printf("/machine/peripheral/%s/", alias != NULL ? alias : "");
        for (guint j = 0; alias != NULL && blocks != NULL && j < json_array_get_length(blocks);
             j++) {
            JsonNode *n = json_array_get_element(blocks, j);
            JsonObject *o = JSON_NODE_HOLDS_OBJECT(n) ? json_node_get_object(n) : NULL;
            const char *qdev = str_member(o, "qdev");
            JsonNode *ins;

            if (qdev == NULL || (strcmp(qdev, alias) != 0 && !g_str_has_prefix(qdev, prefix)))
                continue;
            ins = json_object_get_member(o, "inserted");
            if (ins != NULL && JSON_NODE_HOLDS_OBJECT(ins))
                node = str_member(json_node_get_object(ins), "node-name");
        }
        if (node == NULL || !g_str_has_suffix(node, "-format")) {
            g_set_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
                        "disk %s: QEMU shows no image node of its own for it (%s); an internal "
                        "snapshot needs the disk's qcow2 image at the top", target,
                        node != NULL ? node : "no medium");
            return NULL;
        }
        json_array_add_string_element(nodes, node);
    }
    return g_steal_pointer(&nodes);
}

/* Waits for the job's end (concluded), reads its error, dismisses it. */
static gboolean
finish_job(VbDomainObj *dom, VbQemuMonitor *mon, const char *cmd, GError **error)
{
    gint64 end = g_get_monotonic_time() + (gint64)QMP_TIMEOUT_MS * 1000;
    g_autoptr(JsonNode) jobs = NULL;
    g_autoptr(JsonNode) r = NULL;
    g_autoptr(GError) dismiss_error = NULL;
    JsonObject *args, *job;
    gboolean concluded = FALSE, alive = TRUE;

    g_mutex_lock(&dom->lock);
    while (alive) {
        const VbBlockJob *j = vb_domain_block_job_get_locked(dom, JOB_ID);

        concluded = j != NULL && g_strcmp0(j->status, "concluded") == 0;
        if (concluded || g_get_monotonic_time() >= end)
            break;
        alive = vb_domain_obj_wait_until(dom, end);
    }
    g_mutex_unlock(&dom->lock);
    if (!alive) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_STATE,
                    "%s: the domain stopped running during the snapshot", cmd);
        return FALSE;
    }
    /* a job that did not say it ended in time is asked for (an event may not come) */
    jobs = vb_qemu_monitor_command(mon, "query-jobs", NULL, QMP_TIMEOUT_MS, error);
    if (jobs == NULL)
        return FALSE;
    job = JSON_NODE_HOLDS_ARRAY(jobs) ? find_member_object(json_node_get_array(jobs), "id",
                                                           JOB_ID) : NULL;
    if (job == NULL) {
        g_set_error(error, VB_ERROR, VB_ERROR_QEMU, "%s: QEMU lost its job", cmd);
        return FALSE;
    }
    if (g_strcmp0(str_member(job, "status"), "concluded") != 0) {
        g_set_error(error, VB_ERROR, VB_ERROR_OPERATION_TIMEOUT,
                    "%s: QEMU's job did not end within %d s (status %s)", cmd,
                    QMP_TIMEOUT_MS / 1000, str_member(job, "status"));
        return FALSE;
    }
    if (str_member(job, "error") != NULL) {
        const char *msg = str_member(job, "error");

        /* the storage under the images: IO, as qemu-img's failures */
        g_set_error(error, VB_ERROR,
                    strstr(msg, "No space left") != NULL ||
                            strstr(msg, "Input/output error") != NULL ||
                            strstr(msg, "Disk quota exceeded") != NULL
                        ? VB_ERROR_IO
                        : VB_ERROR_QEMU,
                    "%s: %s", cmd, msg);
    }
    args = json_object_new();
    json_object_set_string_member(args, "id", JOB_ID);
    r = vb_qemu_monitor_command(mon, "job-dismiss", args, QMP_TIMEOUT_MS, &dismiss_error);
    if (r == NULL)
        VB_LOG_DOMAIN(G_LOG_LEVEL_WARNING, dom->uuid_str, "cannot dismiss QEMU's job %s: %s",
                      JOB_ID, dismiss_error->message);
    return str_member(job, "error") == NULL;
}

/* One snapshot-save / snapshot-load / snapshot-delete job, to its end. */
static gboolean
run_job(VbDomainObj *dom, VbQemuMonitor *mon, const char *cmd, const char *tag,
        GPtrArray *targets, gboolean with_vmstate, GError **error)
{
    g_autoptr(JsonArray) nodes = vb_domain_snapshot_disk_nodes(dom, mon, targets, error);
    g_autoptr(JsonNode) r = NULL;
    JsonObject *args;

    if (nodes == NULL)
        return FALSE;
    if (json_array_get_length(nodes) == 0) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG, "%s: no disk to use", cmd);
        return FALSE;
    }
    g_mutex_lock(&dom->lock);
    vb_domain_block_job_forget_locked(dom, JOB_ID);
    g_mutex_unlock(&dom->lock);
    args = json_object_new();
    json_object_set_string_member(args, "job-id", JOB_ID);
    json_object_set_string_member(args, "tag", tag);
    if (with_vmstate)
        json_object_set_string_member(args, "vmstate", json_array_get_string_element(nodes, 0));
    json_object_set_array_member(args, "devices", json_array_ref(nodes));
    r = vb_qemu_monitor_command(mon, cmd, args, SAVE_TIMEOUT_MS, error);
    if (r == NULL)
        return FALSE;
    return finish_job(dom, mon, cmd, error);
}

/* Pauses the guest if it runs (reason "snapshot"); whether it ran. */
static gboolean
pause_guest(VbDomainList *list, VbDomainObj *dom, VbQemuMonitor *mon, gboolean *was_running,
            GError **error)
{
    g_autoptr(JsonNode) r = NULL;

    g_mutex_lock(&dom->lock);
    *was_running = dom->state == VB_DOMAIN_STATE_RUNNING;
    if (*was_running)
        dom->pause_reason = VB_DOMAIN_REASON_SNAPSHOT;
    g_mutex_unlock(&dom->lock);
    if (!*was_running)
        return TRUE;
    r = vb_qemu_monitor_command(mon, "stop", NULL, QMP_TIMEOUT_MS, error);
    if (r == NULL)
        return FALSE;
    g_mutex_lock(&dom->lock);
    vb_domain_obj_set_state(dom, VB_DOMAIN_STATE_PAUSED, VB_DOMAIN_REASON_SNAPSHOT);
    dom->paused_at = g_get_real_time();
    g_mutex_unlock(&dom->lock);
    vb_domain_status_save(list, dom, NULL);
    vb_domain_list_notify(list, dom, VB_DOMAIN_NOTIFY_CHANGED, "suspended", "snapshot");
    return TRUE;
}

/* Lets the guest run (@run) or leaves it paused, with @reason. */
static gboolean
set_running(VbDomainList *list, VbDomainObj *dom, VbQemuMonitor *mon, gboolean run,
            VbDomainReason reason, GError **error)
{
    g_autoptr(JsonNode) r = NULL;
    gboolean changed;

    if (run) {
        r = vb_qemu_monitor_command(mon, "cont", NULL, QMP_TIMEOUT_MS, error);
        if (r == NULL)
            return FALSE;
    }
    g_mutex_lock(&dom->lock);
    changed = dom->id >= 0;
    if (changed) {
        vb_domain_obj_set_state(dom, run ? VB_DOMAIN_STATE_RUNNING : VB_DOMAIN_STATE_PAUSED,
                                reason);
        if (run)
            dom->resumed_at = g_get_real_time();
    }
    g_mutex_unlock(&dom->lock);
    if (!changed)
        return TRUE;
    vb_domain_status_save(list, dom, NULL);
    vb_domain_list_notify(list, dom, VB_DOMAIN_NOTIFY_CHANGED, run ? "resumed" : "suspended",
                          reason == VB_DOMAIN_REASON_FROM_SNAPSHOT ? "from-snapshot"
                                                                   : run ? "unpaused"
                                                                         : "paused");
    return TRUE;
}

/* With the job: STOP and RESUME events pass (domain-events.c) while @own. */
void
vb_domain_snapshot_own_run_state(VbDomainObj *dom, gboolean own)
{
    g_mutex_lock(&dom->lock);
    dom->job.own_run_state = own;
    if (!own)
        dom->pause_reason = VB_DOMAIN_REASON_UNKNOWN;
    g_mutex_unlock(&dom->lock);
}

/* With the job: the running domain's monitor, or an error. */
static VbQemuMonitor *
monitor_of(VbDomainObj *dom, const char *what, GError **error)
{
    VbQemuMonitor *mon = NULL;

    g_mutex_lock(&dom->lock);
    if (dom->id >= 0 && dom->mon != NULL && !dom->stopping)
        mon = vb_qemu_monitor_ref(dom->mon);
    else
        vb_domain_obj_set_not_running_error(dom, what, error);
    g_mutex_unlock(&dom->lock);
    return mon;
}

/**
 * vb_domain_snapshot_live_save:
 * @targets: target devs of the disks (qcow2, checked by the caller) that take the snapshot;
 *     the first one also takes the memory state
 * @out_was_running: (out) (optional): whether the guest ran when the snapshot was taken
 *
 * With the domain's job held: takes internal snapshot @tag of the running @dom, memory and
 * disks, the guest paused meanwhile and let run again after (also after a failure).
 * Workers.
 */
gboolean
vb_domain_snapshot_live_save(VbDomainList *list, VbDomainObj *dom, const char *tag,
                             GPtrArray *targets, gboolean *out_was_running, GError **error)
{
    g_autoptr(VbQemuMonitor) mon = monitor_of(dom, "SnapshotCreateXML", error);
    gboolean was_running = FALSE, ok;

    if (mon == NULL)
        return FALSE;
    vb_domain_snapshot_own_run_state(dom, TRUE);
    ok = pause_guest(list, dom, mon, &was_running, error);
    if (out_was_running != NULL)
        *out_was_running = was_running;
    ok = ok && run_job(dom, mon, "snapshot-save", tag, targets, TRUE, error);
    if (was_running) {
        g_autoptr(GError) cont_error = NULL;

        if (!set_running(list, dom, mon, TRUE, VB_DOMAIN_REASON_UNPAUSED, &cont_error))
            VB_LOG_DOMAIN(G_LOG_LEVEL_WARNING, dom->uuid_str,
                          "cannot let the guest run after the snapshot: %s",
                          cont_error->message);
    }
    vb_domain_snapshot_own_run_state(dom, FALSE);
    return ok;
}

/**
 * vb_domain_snapshot_live_load:
 * @run: let the guest run after (else it stays paused)
 *
 * With the domain's job held: loads internal snapshot @tag (memory and disks) into the
 * running @dom in place; the guest is paused during the load and ends running or paused
 * with reason "from-snapshot". A failed load leaves the guest paused (its state is then
 * whatever QEMU could load): the caller reports the error. Workers.
 */
gboolean
vb_domain_snapshot_live_load(VbDomainList *list, VbDomainObj *dom, const char *tag,
                             GPtrArray *targets, gboolean run, GError **error)
{
    g_autoptr(VbQemuMonitor) mon = monitor_of(dom, "Revert", error);
    gboolean was_running = FALSE, ok;

    if (mon == NULL)
        return FALSE;
    vb_domain_snapshot_own_run_state(dom, TRUE);
    ok = pause_guest(list, dom, mon, &was_running, error);
    vb_snapshot_test_kill_point("revert-paused"); /* issue 15, part svckill */
    ok = ok && run_job(dom, mon, "snapshot-load", tag, targets, TRUE, error) &&
         set_running(list, dom, mon, run, VB_DOMAIN_REASON_FROM_SNAPSHOT, error);
    vb_domain_snapshot_own_run_state(dom, FALSE);
    return ok;
}

/**
 * vb_domain_snapshot_live_delete:
 *
 * With the domain's job held: deletes internal snapshot @tag from the disks of the running
 * @dom (the guest keeps running). Workers.
 */
gboolean
vb_domain_snapshot_live_delete(VbDomainList *list, VbDomainObj *dom, const char *tag,
                               GPtrArray *targets, GError **error)
{
    g_autoptr(VbQemuMonitor) mon = monitor_of(dom, "Delete", error);

    (void)list;
    return mon != NULL && run_job(dom, mon, "snapshot-delete", tag, targets, FALSE, error);
}
