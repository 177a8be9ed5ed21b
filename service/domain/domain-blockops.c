/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <errno.h>
#include <string.h>

#include <glib/gstdio.h>

#include <libxml/parser.h>

#include "domain-list-priv.h"
#include "domain-blockops.h"
#include "domain-blockops-priv.h"
#include "domain-chain.h"
#include "qemu-img-snapshot.h"
#include "vb-error.h"
#include "vb-log.h"

/*
 * Block jobs of a running domain on the bus (issue 15, part blockjob;
 * docs/blockjobs.md): BlockPull (block-stream), BlockCommit (block-commit)
 * and BlockCopy (blockdev-mirror) run as an async job of type "blockjob" with
 * a Job object, one per domain at a time. The job's thread starts QEMU's job (id
 * "vbjob-<target>"), then sleeps on the domain's condition, woken by the
 * block job events (domain-blockjob.c), an abort or pivot request and the
 * end of the run; every 500 ms it refreshes the Job's progress from
 * query-block-jobs. BlockJobAbort and BlockJobSetSpeed take the abort sync
 * job (allowed during every async job), GetBlockJobInfo the query job.
 * BlockResize and SetBlockThreshold are plain modify jobs.
 */

#define QMP_TIMEOUT_MS 30000
#define PROGRESS_US (500 * 1000)


void
vb_block_op_free(VbBlockOp *op)
{
    if (op == NULL)
        return;
    g_free(op->target);
    g_free(op->job_id);
    g_free(op->top_node);
    g_free(op->top_layer);
    g_free(op->base_node);
    g_free(op->base_path);
    g_free(op->base_format);
    g_free(op->copy_storage);
    g_free(op->copy_format);
    g_free(op->copy_backing);
    g_free(op->copy_backing_path);
    g_free(op->copy_backing_format);
    if (op->pivot_drop != NULL)
        g_ptr_array_unref(op->pivot_drop);
    g_free(op);
}

const char *
vb_block_jstr(JsonObject *o, const char *name)
{
    JsonNode *n = o != NULL ? json_object_get_member(o, name) : NULL;

    return n != NULL && JSON_NODE_HOLDS_VALUE(n) && json_node_get_value_type(n) == G_TYPE_STRING
               ? json_node_get_string(n) : NULL;
}

/* QEMU's job @job_id in query-block-jobs' reply @r, or NULL. */
JsonObject *
vb_block_qemu_job(JsonNode *r, const char *job_id)
{
    JsonArray *a = r != NULL && JSON_NODE_HOLDS_ARRAY(r) ? json_node_get_array(r) : NULL;

    for (guint i = 0; a != NULL && i < json_array_get_length(a); i++) {
        JsonNode *n = json_array_get_element(a, i);
        JsonObject *o = JSON_NODE_HOLDS_OBJECT(n) ? json_node_get_object(n) : NULL;

        if (g_strcmp0(vb_block_jstr(o, "device"), job_id) == 0)
            return o;
    }
    return NULL;
}

static JsonObject *
jobj(JsonObject *o, const char *name)
{
    JsonNode *n = o != NULL ? json_object_get_member(o, name) : NULL;

    return n != NULL && JSON_NODE_HOLDS_OBJECT(n) ? json_node_get_object(n) : NULL;
}

static guint64
ju64(JsonObject *o, const char *name)
{
    JsonNode *n = o != NULL ? json_object_get_member(o, name) : NULL;

    if (n == NULL || !JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_INT64)
        return 0;
    return json_node_get_int(n) > 0 ? (guint64)json_node_get_int(n) : 0;
}

/*
 * Under lock: the disk of the live definition named by its target (vda) or
 * its source path; its target and QEMU id. Sets InvalidArgument otherwise.
 */
gboolean
vb_block_find_disk_locked(VbDomainObj *dom, const char *name, char **out_target,
                          char **out_alias, GError **error)
{
    g_autoptr(GPtrArray) infos = NULL;

    if (name == NULL || *name == '\0' || !g_utf8_validate(name, -1, NULL)) {
        g_set_error_literal(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                            "no disk given: name it by its target (e.g. vda) or source path");
        return FALSE;
    }
    infos = vb_domain_def_get_disk_infos(dom->def);
    for (guint i = 0; infos != NULL && i < infos->len; i++) {
        VbDomainDiskInfo *d = g_ptr_array_index(infos, i);

        if (g_strcmp0(d->target, name) != 0 && g_strcmp0(d->path, name) != 0)
            continue;
        if (d->alias == NULL || d->path == NULL) {
            g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                        "disk '%s' has no image (an empty drive)", name);
            return FALSE;
        }
        *out_target = g_strdup(d->target);
        *out_alias = g_strdup(d->alias);
        return TRUE;
    }
    g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                "invalid path: '%s' is not a disk of domain '%s' (give its target, e.g. vda, "
                "or its source path)", name, dom->def->name);
    return FALSE;
}

/* The top node of the device with QEMU id @alias, from query-block. */
char *
vb_block_disk_top_node(VbQemuMonitor *mon, const char *alias, GError **error)
{
    g_autoptr(JsonNode) r = vb_qemu_monitor_command(mon, "query-block", NULL, QMP_TIMEOUT_MS,
                                                    error);
    g_autofree char *prefix = g_strdup_printf("/machine/peripheral/%s/", alias);
    JsonArray *a = r != NULL && JSON_NODE_HOLDS_ARRAY(r) ? json_node_get_array(r) : NULL;

    if (r == NULL)
        return NULL;
    for (guint i = 0; a != NULL && i < json_array_get_length(a); i++) {
        JsonNode *n = json_array_get_element(a, i);
        JsonObject *o = JSON_NODE_HOLDS_OBJECT(n) ? json_node_get_object(n) : NULL;
        const char *qdev = vb_block_jstr(o, "qdev");
        const char *node = vb_block_jstr(jobj(o, "inserted"), "node-name");

        if (qdev != NULL && node != NULL &&
            (g_str_equal(qdev, alias) || g_str_has_prefix(qdev, prefix)))
            return g_strdup(node);
    }
    g_set_error(error, VB_ERROR, VB_ERROR_QEMU, "QEMU reports no image for device '%s'", alias);
    return NULL;
}

/*
 * Under no lock, with a job held: resolves @name to the disk's target and
 * top node. Sets the error of a disk that is not there.
 */
static gboolean
resolve_disk(VbDomainObj *dom, VbQemuMonitor *mon, const char *name, char **out_target,
             char **out_node, GError **error)
{
    g_autofree char *target = NULL;
    g_autofree char *alias = NULL;
    gboolean ok;

    g_mutex_lock(&dom->lock);
    ok = vb_block_find_disk_locked(dom, name, &target, &alias, error);
    g_mutex_unlock(&dom->lock);
    if (!ok)
        return FALSE;
    *out_node = vb_block_disk_top_node(mon, alias, error);
    if (*out_node == NULL)
        return FALSE;
    *out_target = g_steal_pointer(&target);
    return TRUE;
}

/* The image chain of the top node @top, from query-named-block-nodes: format node names,
 * top first, with their files in @out_files. */
GPtrArray *
vb_block_chain_nodes(VbQemuMonitor *mon, const char *top, GPtrArray **out_files,
                     GPtrArray **out_drvs, GError **error)
{
    g_autoptr(JsonNode) r = NULL;
    JsonObject *args = json_object_new();
    GPtrArray *nodes = g_ptr_array_new_with_free_func(g_free);
    GPtrArray *files = g_ptr_array_new_with_free_func(g_free);
    GPtrArray *drvs = g_ptr_array_new_with_free_func(g_free);
    JsonArray *a;
    g_autofree char *cur = g_strdup(top);

    /* not flat: each node's image info then holds its backing images */
    json_object_set_boolean_member(args, "flat", FALSE);
    r = vb_qemu_monitor_command(mon, "query-named-block-nodes", args, QMP_TIMEOUT_MS, error);
    if (r == NULL || !JSON_NODE_HOLDS_ARRAY(r)) {
        if (r != NULL)
            g_set_error_literal(error, VB_ERROR, VB_ERROR_QEMU,
                                "query-named-block-nodes did not answer a list");
        g_ptr_array_unref(nodes);
        g_ptr_array_unref(files);
        g_ptr_array_unref(drvs);
        return NULL;
    }
    a = json_node_get_array(r);
    /* follow image.backing-image down from the top node: the node whose "file" is the
     * backing image's filename and whose name ends in -format */
    while (cur != NULL && nodes->len < 64) {
        JsonObject *found = NULL;

        for (guint i = 0; i < json_array_get_length(a); i++) {
            JsonNode *n = json_array_get_element(a, i);
            JsonObject *o = JSON_NODE_HOLDS_OBJECT(n) ? json_node_get_object(n) : NULL;

            if (g_strcmp0(vb_block_jstr(o, "node-name"), cur) == 0) {
                found = o;
                break;
            }
        }
        g_clear_pointer(&cur, g_free);
        if (found == NULL)
            break;
        g_ptr_array_add(nodes, g_strdup(vb_block_jstr(found, "node-name")));
        g_ptr_array_add(files, g_strdup(vb_block_jstr(found, "file")));
        g_ptr_array_add(drvs, g_strdup(vb_block_jstr(found, "drv")));
        {
            const char *bf = vb_block_jstr(jobj(jobj(found, "image"), "backing-image"), "filename");

            for (guint i = 0; bf != NULL && i < json_array_get_length(a); i++) {
                JsonNode *n = json_array_get_element(a, i);
                JsonObject *o = JSON_NODE_HOLDS_OBJECT(n) ? json_node_get_object(n) : NULL;
                const char *nn = vb_block_jstr(o, "node-name");

                if (nn != NULL && g_str_has_suffix(nn, "-format") &&
                    g_strcmp0(vb_block_jstr(o, "file"), bf) == 0 &&
                    !g_ptr_array_find_with_equal_func(nodes, nn, g_str_equal, NULL)) {
                    cur = g_strdup(nn);
                    break;
                }
            }
        }
    }
    *out_files = files;
    *out_drvs = drvs;
    return nodes;
}

/* libvirt's bandwidth: MiB/s unless @bytes; overflow is InvalidArgument. */
static gboolean
bandwidth_bytes(guint64 bandwidth, gboolean bytes, guint64 *out, GError **error)
{
    if (!bytes && bandwidth > (G_MAXINT64 >> 20)) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                    "bandwidth %" G_GUINT64_FORMAT " MiB/s is too large", bandwidth);
        return FALSE;
    }
    if (bytes && bandwidth > G_MAXINT64) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                    "bandwidth %" G_GUINT64_FORMAT " bytes/s is too large", bandwidth);
        return FALSE;
    }
    *out = bytes ? bandwidth : bandwidth << 20;
    return TRUE;
}

/* ---------------- plain calls ---------------- */

/**
 * vb_domain_block_resize:
 * @size: KiB, or bytes with VB_BLOCK_RESIZE_BYTES
 *
 * block_resize of the disk's top node. Worker threads; the modify job.
 */
gboolean
vb_domain_block_resize(VbDomainList *list, VbDomainObj *dom, const char *disk, guint64 size,
                       guint flags, const char *owner, GError **error)
{
    g_autoptr(VbQemuMonitor) mon = NULL;
    g_autofree char *target = NULL;
    g_autofree char *node = NULL;
    g_autoptr(JsonNode) r = NULL;
    JsonObject *args;

    if (!(flags & VB_BLOCK_RESIZE_BYTES)) {
        if (size > (G_MAXINT64 >> 10)) {
            g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                        "size %" G_GUINT64_FORMAT " KiB is too large", size);
            return FALSE;
        }
        size <<= 10;
    }
    /* QEMU's images grow in whole sectors, as libvirt rounds */
    if (size == 0 || size > G_MAXINT64 - 511) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                    "invalid size %" G_GUINT64_FORMAT " bytes", size);
        return FALSE;
    }
    size = (size + 511) & ~(guint64)511;
    mon = vb_domain_begin_running(list, dom, VB_JOB_MODIFY, "BlockResize", owner, error);
    if (mon == NULL)
        return FALSE;
    if (!resolve_disk(dom, mon, disk, &target, &node, error)) {
        vb_domain_job_end(dom);
        return FALSE;
    }
    args = json_object_new();
    json_object_set_string_member(args, "node-name", node);
    json_object_set_int_member(args, "size", (gint64)size);
    r = vb_qemu_monitor_command(mon, "block_resize", args, QMP_TIMEOUT_MS, error);
    vb_domain_job_end(dom);
    if (r == NULL) {
        g_prefix_error(error, "cannot resize disk %s: ", target);
        return FALSE;
    }
    VB_LOG_DOMAIN(G_LOG_LEVEL_INFO, dom->uuid_str, "disk %s resized to %" G_GUINT64_FORMAT
                  " bytes", target, size);
    return TRUE;
}

/**
 * vb_domain_set_block_threshold:
 *
 * block-set-write-threshold on the storage node of the disk's top image (the
 * highest offset written in the image file, as libvirt); 0 clears it.
 * BLOCK_WRITE_THRESHOLD then fires the BlockThreshold signal once
 * (domain-memev.c). Worker threads; the modify job.
 */
gboolean
vb_domain_set_block_threshold(VbDomainList *list, VbDomainObj *dom, const char *disk,
                              guint64 threshold, const char *owner, GError **error)
{
    g_autoptr(VbQemuMonitor) mon = NULL;
    g_autofree char *target = NULL;
    g_autofree char *node = NULL;
    g_autofree char *storage = NULL;
    g_autoptr(JsonNode) r = NULL;
    JsonObject *args;

    if (threshold > G_MAXINT64) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                    "threshold %" G_GUINT64_FORMAT " is too large", threshold);
        return FALSE;
    }
    mon = vb_domain_begin_running(list, dom, VB_JOB_MODIFY, "SetBlockThreshold", owner,
                                  error);
    if (mon == NULL)
        return FALSE;
    if (!resolve_disk(dom, mon, disk, &target, &node, error)) {
        vb_domain_job_end(dom);
        return FALSE;
    }
    /* our nodes are X-format on X-storage (qemu-command-blockdev.c, copies, overlays) */
    if (g_str_has_suffix(node, "-format"))
        storage = vb_block_storage_node(node);
    args = json_object_new();
    json_object_set_string_member(args, "node-name", storage != NULL ? storage : node);
    json_object_set_int_member(args, "write-threshold", (gint64)threshold);
    r = vb_qemu_monitor_command(mon, "block-set-write-threshold", args, QMP_TIMEOUT_MS, error);
    vb_domain_job_end(dom);
    if (r == NULL) {
        g_prefix_error(error, "cannot set the write threshold of disk %s: ", target);
        return FALSE;
    }
    return TRUE;
}

/* Under lock: the block job op of disk @target, or NULL. */
static VbBlockOp *
op_of_locked(VbDomainObj *dom, const char *target)
{
    return dom->block_op != NULL && g_strcmp0(dom->block_op->target, target) == 0
               ? dom->block_op : NULL;
}

/**
 * vb_domain_get_block_job_info:
 *
 * The block job of @disk: its type ("none" when there is none), speed,
 * and QEMU's offset and length. Worker threads; the query job.
 */
gboolean
vb_domain_get_block_job_info(VbDomainList *list, VbDomainObj *dom, const char *disk,
                             guint flags, const char *owner, char **out_type,
                             guint64 *out_bandwidth, guint64 *out_cur, guint64 *out_end,
                             GError **error)
{
    g_autoptr(VbQemuMonitor) mon = NULL;
    g_autofree char *target = NULL;
    g_autofree char *node = NULL;
    g_autofree char *job_id = NULL;
    g_autoptr(JsonNode) r = NULL;
    const char *type = "none";
    JsonObject *o;

    *out_bandwidth = *out_cur = *out_end = 0;
    mon = vb_domain_begin_running(list, dom, VB_JOB_QUERY, "GetBlockJobInfo", owner, error);
    if (mon == NULL)
        return FALSE;
    if (!resolve_disk(dom, mon, disk, &target, &node, error)) {
        vb_domain_job_end(dom);
        return FALSE;
    }
    g_mutex_lock(&dom->lock);
    if (op_of_locked(dom, target) != NULL) {
        type = op_of_locked(dom, target)->type;
        job_id = g_strdup(op_of_locked(dom, target)->job_id);
    }
    g_mutex_unlock(&dom->lock);
    if (job_id == NULL) {
        vb_domain_job_end(dom);
        *out_type = g_strdup("none");
        return TRUE;
    }
    r = vb_qemu_monitor_command(mon, "query-block-jobs", NULL, QMP_TIMEOUT_MS, error);
    vb_domain_job_end(dom);
    if (r == NULL)
        return FALSE;
    o = vb_block_qemu_job(r, job_id);
    if (o == NULL) {
        /* QEMU's job is gone (it ended a moment ago) */
        *out_type = g_strdup("none");
        return TRUE;
    }
    *out_cur = ju64(o, "offset");
    *out_end = ju64(o, "len");
    *out_bandwidth = ju64(o, "speed");
    if (!(flags & VB_BLOCK_JOB_INFO_BANDWIDTH_BYTES))
        *out_bandwidth >>= 20;
    *out_type = g_strdup(type);
    return TRUE;
}

/**
 * vb_domain_block_job_set_speed:
 *
 * block-job-set-speed of the running block job of @disk. Worker threads;
 * the abort job (it controls the running job, as AbortJob).
 */
gboolean
vb_domain_block_job_set_speed(VbDomainList *list, VbDomainObj *dom, const char *disk,
                              guint64 bandwidth, guint flags, const char *owner,
                              GError **error)
{
    g_autoptr(VbQemuMonitor) mon = NULL;
    g_autofree char *target = NULL;
    g_autofree char *node = NULL;
    g_autofree char *job_id = NULL;
    g_autoptr(JsonNode) r = NULL;
    guint64 speed;
    JsonObject *args;

    if (!bandwidth_bytes(bandwidth, flags & VB_BLOCK_JOB_SPEED_BANDWIDTH_BYTES, &speed, error))
        return FALSE;
    mon = vb_domain_begin_running(list, dom, VB_JOB_ABORT, "BlockJobSetSpeed", owner, error);
    if (mon == NULL)
        return FALSE;
    if (!resolve_disk(dom, mon, disk, &target, &node, error)) {
        vb_domain_job_end(dom);
        return FALSE;
    }
    g_mutex_lock(&dom->lock);
    if (op_of_locked(dom, target) != NULL) {
        job_id = g_strdup(op_of_locked(dom, target)->job_id);
        op_of_locked(dom, target)->speed = speed;
    }
    g_mutex_unlock(&dom->lock);
    if (job_id == NULL) {
        vb_domain_job_end(dom);
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_STATE,
                    "disk %s has no running block job", target);
        return FALSE;
    }
    args = json_object_new();
    json_object_set_string_member(args, "device", job_id);
    json_object_set_int_member(args, "speed", (gint64)speed);
    r = vb_qemu_monitor_command(mon, "block-job-set-speed", args, QMP_TIMEOUT_MS, error);
    vb_domain_job_end(dom);
    return r != NULL;
}

/**
 * vb_domain_block_job_abort:
 * @flags: VB_BLOCK_JOB_ABORT_ASYNC: return once asked; PIVOT: complete an
 *   active commit (or a copy) that is ready instead of cancelling it
 *
 * Asks the job's thread to cancel (or pivot) the block job of @disk and,
 * without ASYNC, waits on the domain's condition until the job has ended.
 * Worker threads; the abort job while asking, no job while waiting.
 */
gboolean
vb_domain_block_job_abort(VbDomainList *list, VbDomainObj *dom, const char *disk, guint flags,
                          const char *owner, GError **error)
{
    g_autoptr(VbQemuMonitor) mon = NULL;
    g_autofree char *target = NULL;
    g_autofree char *node = NULL;
    g_autoptr(VbJob) record = NULL;
    VbBlockOp *op;
    gint64 deadline;

    mon = vb_domain_begin_running(list, dom, VB_JOB_ABORT, "BlockJobAbort", owner, error);
    if (mon == NULL)
        return FALSE;
    if (!resolve_disk(dom, mon, disk, &target, &node, error)) {
        vb_domain_job_end(dom);
        return FALSE;
    }
    g_mutex_lock(&dom->lock);
    op = op_of_locked(dom, target);
    if (op == NULL) {
        g_mutex_unlock(&dom->lock);
        vb_domain_job_end(dom);
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_STATE,
                    "disk %s has no running block job", target);
        return FALSE;
    }
    if (flags & VB_BLOCK_JOB_ABORT_PIVOT) {
        if (!op->ready) {
            g_mutex_unlock(&dom->lock);
            vb_domain_job_end(dom);
            g_set_error(error, VB_ERROR, VB_ERROR_INVALID_STATE,
                        "the %s job of disk %s is not ready to pivot%s", op->type, target,
                        g_str_equal(op->type, "active-commit") ? " yet"
                                                               : " (only an active commit "
                                                                 "or a copy pivots)");
            return FALSE;
        }
        op->pivot_requested = TRUE;
    } else {
        dom->job.abort_requested = TRUE;
    }
    if (dom->job.record != NULL)
        record = vb_job_ref(dom->job.record);
    g_cond_broadcast(&dom->cond);
    g_mutex_unlock(&dom->lock);
    vb_domain_job_end(dom);
    VB_LOG_DOMAIN(G_LOG_LEVEL_MESSAGE, dom->uuid_str, "%s of the block job of disk %s asked "
                  "by %s", flags & VB_BLOCK_JOB_ABORT_PIVOT ? "pivot" : "abort", target,
                  owner != NULL ? owner : "the service");
    if (flags & VB_BLOCK_JOB_ABORT_ASYNC)
        return TRUE;
    /* as libvirt: return when the job is gone */
    deadline = g_get_monotonic_time() + (gint64)list->config->job_wait_timeout * G_USEC_PER_SEC;
    g_mutex_lock(&dom->lock);
    while (op_of_locked(dom, target) != NULL && g_get_monotonic_time() < deadline) {
        if (!vb_domain_obj_wait_until(dom, deadline))
            break;
    }
    op = op_of_locked(dom, target);
    /* then the async job itself (its end signals job.cond), so that the next block job
     * can begin at once */
    while (op == NULL && dom->job.async == VB_ASYNC_JOB_BLOCK && record != NULL &&
           dom->job.record == record && g_get_monotonic_time() < deadline)
        g_cond_wait_until(&dom->job.cond, &dom->lock, deadline);
    g_mutex_unlock(&dom->lock);
    if (op != NULL) {
        g_set_error(error, VB_ERROR, VB_ERROR_OPERATION_TIMEOUT,
                    "the block job of disk %s did not end within %u s", target,
                    list->config->job_wait_timeout);
        return FALSE;
    }
    return TRUE;
}

/* ---------------- the job ---------------- */

/* Job thread: the Job's progress from query-block-jobs. */
static void
publish_progress(VbDomainList *list, VbDomainObj *dom, VbJob *job, const VbBlockOp *op)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(JsonNode) r = vb_domain_async_monitor(list, dom, "query-block-jobs", NULL, -1,
                                                    &err);
    JsonObject *o = vb_block_qemu_job(r, op->job_id);
    guint64 cur, end;

    if (o == NULL)
        return;
    cur = ju64(o, "offset");
    end = ju64(o, "len");
    vb_job_set_progress(job, end, MIN(cur, end), end - MIN(cur, end), NULL);
    vb_domain_list_job_notify(list, job, VB_JOB_NOTIFY_CHANGED);
}

static gboolean
send_job_command(VbDomainList *list, VbDomainObj *dom, const char *cmd, const char *job_id,
                 GError **error)
{
    JsonObject *args = json_object_new();
    g_autoptr(JsonNode) r = NULL;

    json_object_set_string_member(args, "device", job_id);
    r = vb_domain_async_monitor(list, dom, cmd, args, -1, error);
    return r != NULL;
}

static JsonObject *
start_args(const VbBlockOp *op)
{
    JsonObject *args = json_object_new();

    json_object_set_string_member(args, "job-id", op->job_id);
    json_object_set_string_member(args, "device", op->top_node);
    if (op->speed > 0)
        json_object_set_int_member(args, "speed", (gint64)op->speed);
    if (op->top_layer != NULL)
        json_object_set_string_member(args, "top-node", op->top_layer);
    if (op->base_node != NULL)
        json_object_set_string_member(args, "base-node", op->base_node);
    return args;
}

void
vb_block_drop_op(VbDomainObj *dom, VbBlockOp *op)
{
    g_mutex_lock(&dom->lock);
    if (dom->block_op == op)
        dom->block_op = NULL;
    vb_domain_block_job_forget_locked(dom, op->job_id);
    g_cond_broadcast(&dom->cond);
    g_mutex_unlock(&dom->lock);
}

/**
 * vb_block_storage_node:
 * @format_node: a format node's name ending in "-format"
 *
 * Returns: (transfer full): the name of its storage node ("-storage" instead)
 */
char *
vb_block_storage_node(const char *format_node)
{
    gsize len = strlen(format_node);

    if (g_str_has_suffix(format_node, "-format"))
        len -= strlen("-format");
    return g_strdup_printf("%.*s-storage", (int)len, format_node);
}

/* The virtual size of node @node, or 0 (@error set). */
static guint64
node_size(VbDomainList *list, VbDomainObj *dom, const char *node, GError **error)
{
    JsonObject *args = json_object_new();
    g_autoptr(JsonNode) named = NULL;
    JsonArray *all;

    json_object_set_boolean_member(args, "flat", TRUE);
    named = vb_domain_async_monitor(list, dom, "query-named-block-nodes", args, -1, error);
    if (named == NULL)
        return 0;
    all = JSON_NODE_HOLDS_ARRAY(named) ? json_node_get_array(named) : NULL;
    for (guint i = 0; all != NULL && i < json_array_get_length(all); i++) {
        JsonNode *n = json_array_get_element(all, i);
        JsonObject *o = JSON_NODE_HOLDS_OBJECT(n) ? json_node_get_object(n) : NULL;
        JsonObject *img = o != NULL ? jobj(o, "image") : NULL;

        if (g_strcmp0(vb_block_jstr(o, "node-name"), node) == 0 && img != NULL &&
            ju64(img, "virtual-size") > 0)
            return ju64(img, "virtual-size");
    }
    g_set_error(error, VB_ERROR, VB_ERROR_QEMU, "QEMU does not tell the size of node %s",
                node);
    return 0;
}

/* BlockCopy without REUSE_EXT: the destination made empty, of the disk's size, on the
 * disk's backing image with SHALLOW. */
static gboolean
create_copy_dest(VbDomainList *list, VbDomainObj *dom, VbBlockOp *op, GError **error)
{
    VbQemuImgDisk img = { .target = op->target, .path = op->base_path };
    guint64 size = node_size(list, dom, op->top_node, error);

    if (size == 0)
        return FALSE;
    if (op->copy_backing != NULL ? !vb_qemu_img_create_overlay(&img, op->copy_backing_path,
                                                               op->copy_backing_format, size,
                                                               error)
                                 : !vb_qemu_img_create(&img, op->base_format, size, error))
        return FALSE;
    op->copy_created = TRUE;
    VB_LOG_DOMAIN(G_LOG_LEVEL_INFO, dom->uuid_str,
                  "copy of disk %s: made %s (%s, %" G_GUINT64_FORMAT " bytes%s%s)",
                  op->target, op->base_path, op->base_format, size,
                  op->copy_backing != NULL ? ", over " : "",
                  op->copy_backing != NULL ? op->copy_backing_path : "");
    return TRUE;
}

/* BlockCopy: the destination (made unless REUSE_EXT, given to QEMU's user), its nodes
 * (blockdev-add), then blockdev-mirror. */
static JsonNode *
start_copy(VbDomainList *list, VbDomainObj *dom, VbBlockOp *op, GError **error)
{
    JsonObject *args;
    g_autoptr(JsonNode) r1 = NULL;
    g_autoptr(JsonNode) r2 = NULL;

    if (op->copy_create && !create_copy_dest(list, dom, op, error))
        return NULL;
    /* QEMU, as its own user, writes the destination (issue 14, part dac) */
    if (!vb_domain_dac_hold_image(list, dom, op->base_path, error))
        return NULL;
    args = json_object_new();

    /* a name of its own for each copy: the nodes of a pivoted copy stay the disk's, a
     * second copy cannot reuse their names (QEMU's limit: 31 bytes) */
    g_mutex_lock(&dom->lock);
    op->copy_format = g_strdup_printf("vbc%08x-%.10s-format",
                                      (guint32)(g_get_real_time() / 1000), op->target);
    op->copy_storage = vb_block_storage_node(op->copy_format);
    g_mutex_unlock(&dom->lock);
    /* recorded before QEMU has them: a restarted service removes them by these names */
    vb_domain_async_save_status(list, dom);
    json_object_set_string_member(args, "driver", "file");
    json_object_set_string_member(args, "node-name", op->copy_storage);
    json_object_set_string_member(args, "filename", op->base_path);
    json_object_set_boolean_member(args, "auto-read-only", TRUE);
    r1 = vb_domain_async_monitor(list, dom, "blockdev-add", args, -1, error);
    if (r1 == NULL)
        return NULL;
    op->copy_added = TRUE;
    args = json_object_new();
    json_object_set_string_member(args, "driver", op->base_format);
    json_object_set_string_member(args, "node-name", op->copy_format);
    json_object_set_string_member(args, "file", op->copy_storage);
    if (op->copy_backing != NULL)
        json_object_set_string_member(args, "backing", op->copy_backing); /* SHALLOW */
    else if (!g_str_equal(op->base_format, "raw"))
        json_object_set_null_member(args, "backing"); /* a full copy: no backing */
    r2 = vb_domain_async_monitor(list, dom, "blockdev-add", args, -1, error);
    if (r2 == NULL)
        return NULL;
    args = json_object_new();
    json_object_set_string_member(args, "job-id", op->job_id);
    json_object_set_string_member(args, "device", op->top_node);
    json_object_set_string_member(args, "target", op->copy_format);
    json_object_set_string_member(args, "sync", op->copy_backing != NULL ? "top" : "full");
    if (op->speed > 0)
        json_object_set_int_member(args, "speed", (gint64)op->speed);
    if (op->granularity > 0)
        json_object_set_int_member(args, "granularity", (gint64)op->granularity);
    if (op->buf_size > 0)
        json_object_set_int_member(args, "buf-size", (gint64)op->buf_size);
    return vb_domain_async_monitor(list, dom, "blockdev-mirror", args, -1, error);
}

/* After a pivot: the images the disk left (format node, then its storage node, top first)
 * go, as libvirt, so the disk's new top is a root node again (best effort). */
static void
drop_pivoted_nodes(VbDomainList *list, VbDomainObj *dom, VbBlockOp *op)
{
    for (guint i = 0; op->pivot_drop != NULL && i < op->pivot_drop->len; i++) {
        const char *fmt = g_ptr_array_index(op->pivot_drop, i);
        g_autofree char *storage = NULL;

        if (g_str_has_suffix(fmt, "-format"))
            storage = vb_block_storage_node(fmt);
        for (guint k = 0; k < 2; k++) {
            const char *node = k == 0 ? fmt : storage;
            g_autoptr(GError) err = NULL;
            g_autoptr(JsonNode) r = NULL;
            JsonObject *args;

            if (node == NULL)
                continue;
            args = json_object_new();
            json_object_set_string_member(args, "node-name", node);
            r = vb_domain_async_monitor(list, dom, "blockdev-del", args, -1, &err);
            if (r == NULL)
                VB_LOG_DOMAIN(G_LOG_LEVEL_INFO, dom->uuid_str, "after the pivot of disk %s: "
                              "blockdev-del %s: %s", op->target, node, err->message);
        }
    }
}

/* BlockCopy that did not pivot: its destination's nodes go (best effort). */
static void
drop_copy_nodes(VbDomainList *list, VbDomainObj *dom, VbBlockOp *op)
{
    const char *nodes[] = { op->copy_format, op->copy_storage };

    if (!op->copy_added)
        return;
    for (guint i = 0; i < G_N_ELEMENTS(nodes); i++) {
        JsonObject *args = json_object_new();
        g_autoptr(JsonNode) r = NULL;

        json_object_set_string_member(args, "node-name", nodes[i]);
        r = vb_domain_async_monitor(list, dom, "blockdev-del", args, -1, NULL);
    }
    op->copy_added = FALSE;
}

/* Under dom->lock: the image of disk @target of @def. */
static char *
disk_path_locked(const VbDomainDef *def, const char *target)
{
    g_autoptr(GPtrArray) infos = vb_domain_def_get_disk_infos(def);

    for (guint i = 0; infos != NULL && i < infos->len; i++) {
        const VbDomainDiskInfo *d = g_ptr_array_index(infos, i);

        if (g_strcmp0(d->target, target) == 0)
            return g_strdup(d->path);
    }
    return NULL;
}

typedef struct {
    const char *target, *old_path, *path, *format;
    gboolean unchanged; /* the persistent disk names another image: left as it is */
} SourceChange;

static gboolean
change_source(VbDomainDef *def, gpointer data, GError **error)
{
    SourceChange *c = data;
    g_autofree char *cur = disk_path_locked(def, c->target);

    if (g_strcmp0(cur, c->old_path) != 0) {
        c->unchanged = TRUE;
        g_set_error_literal(error, VB_ERROR, VB_ERROR_INVALID_STATE, "unchanged");
        return FALSE;
    }
    return vb_domain_def_set_disk_source(def, c->target, c->path, c->format);
}

/*
 * After a pivot, as libvirt: a persistent definition whose disk still names the image the
 * disk left gets the new one too (its next start would otherwise run on an image that no
 * longer holds the guest's writes: an active commit's top, a copy's source). Best effort.
 */
static void
rewrite_config_source(VbDomainList *list, VbDomainObj *dom, const char *target,
                      const char *old_path, const char *path, const char *format)
{
    SourceChange c = { target, old_path, path, format, FALSE };
    g_autoptr(GError) err = NULL;
    gboolean persistent;

    g_mutex_lock(&dom->lock);
    persistent = dom->persistent;
    g_mutex_unlock(&dom->lock);
    if (!persistent || old_path == NULL ||
        vb_domain_persistent_update(list, dom, change_source, &c, FALSE, &err) || c.unchanged)
        return;
    VB_LOG_DOMAIN(G_LOG_LEVEL_WARNING, dom->uuid_str, "disk %s runs on %s now, but the "
                  "persistent definition could not be changed to it: %s", target, path,
                  err->message);
}

/* Job thread: the end of QEMU's job @op in @state: the nodes that left the disk's chain go,
 * a pivot moves the live definition to the image the disk now runs on; the Job's result. */
static gboolean
block_finish(VbDomainList *list, VbDomainObj *dom, VbJob *job, VbBlockOp *op,
             VbBlockJobState state, const char *qemu_error, GVariant **out_result,
             GError **error)
{
    publish_progress(list, dom, job, op);
    if (!op->pivot_sent || state != VB_BLOCK_JOB_COMPLETED)
        drop_copy_nodes(list, dom, op);
    if (g_str_equal(op->type, "commit") && state == VB_BLOCK_JOB_COMPLETED && !op->aborted)
        drop_pivoted_nodes(list, dom, op);
    if (op->pivot_sent && state == VB_BLOCK_JOB_COMPLETED && op->base_path != NULL) {
        g_autoptr(GError) err = NULL;
        g_autofree char *old_path = NULL;

        drop_pivoted_nodes(list, dom, op);
        /* the disk runs on the base now: the live definition says so */
        g_mutex_lock(&dom->lock);
        old_path = disk_path_locked(dom->def, op->target);
        if (dom->id >= 0)
            vb_domain_def_set_disk_source(dom->def, op->target, op->base_path,
                                          op->base_format);
        g_mutex_unlock(&dom->lock);
        rewrite_config_source(list, dom, op->target, old_path, op->base_path, op->base_format);
        if (!vb_domain_status_save(list, dom, &err))
            g_warning("%s", err->message);
        vb_domain_list_notify(list, dom, VB_DOMAIN_NOTIFY_CHANGED, NULL, NULL);
    }
    {
        /* the disk's chain for the live XML, as QEMU now runs it (issue 15) */
        g_autoptr(JsonNode) blocks = vb_domain_async_monitor(list, dom, "query-block", NULL,
                                                              -1, NULL);

        vb_domain_chains_update(dom, blocks);
    }
    vb_block_drop_op(dom, op);
    if (state == VB_BLOCK_JOB_FAILED) {
        g_set_error(error, VB_ERROR, VB_ERROR_QEMU, "the %s job of disk %s failed: %s",
                    op->type, op->target, qemu_error != NULL ? qemu_error : "?");
        return FALSE;
    }
    /* a ready job cancelled without pivot ends "completed" in QEMU: not pivoted */
    if (state == VB_BLOCK_JOB_CANCELLED || (op->aborted && !op->pivot_sent)) {
        g_set_error(error, VB_ERROR, VB_ERROR_ABORTED,
                    "the %s job of disk %s was cancelled on request", op->type, op->target);
        return FALSE;
    }
    VB_LOG_DOMAIN(G_LOG_LEVEL_MESSAGE, dom->uuid_str, "%s job of disk %s completed",
                  op->type, op->target);
    *out_result = g_variant_new_parsed("{'disk': <%s>, 'type': <%s>, 'pivoted': <%b>}",
                                       op->target, op->type, op->pivot_sent);
    return TRUE;
}


/*
 * Job thread: waits for QEMU's job @op->job_id on the domain's condition, sends the cancel
 * or pivot asked meanwhile, and finishes the job as it ended (the definition, the nodes
 * that left the chain). The same for a job this thread started and for one adopted after
 * a restart of the service (block_adopt_body()).
 */
gboolean
vb_block_wait_finish(VbDomainList *list, VbDomainObj *dom, VbJob *job, VbBlockOp *op,
                     GVariant **out_result, GError **error)
{
    gint64 next = 0;
    VbBlockJobState state = VB_BLOCK_JOB_RUNNING;
    g_autofree char *qemu_error = NULL;

    for (;;) {
        const VbBlockJob *bj;
        gboolean alive, want_cancel = FALSE, want_pivot = FALSE, now_ready = FALSE;

        if (g_get_monotonic_time() >= next) {
            publish_progress(list, dom, job, op);
            next = g_get_monotonic_time() + PROGRESS_US;
        }
        g_mutex_lock(&dom->lock);
        bj = vb_domain_block_job_get_locked(dom, op->job_id);
        if (bj != NULL && vb_domain_block_job_ended(bj->state)) {
            state = bj->state;
            qemu_error = g_strdup(bj->error);
            g_mutex_unlock(&dom->lock);
            break;
        }
        if (bj != NULL && bj->state == VB_BLOCK_JOB_READY && !op->ready) {
            op->ready = TRUE;
            now_ready = TRUE;
        }
        /* the flags change under the lock: the status XML records them */
        if (dom->job.abort_requested && !op->cancel_sent)
            want_cancel = op->cancel_sent = op->aborted = TRUE;
        else if (op->pivot_requested && !op->pivot_sent && !op->cancel_sent)
            want_pivot = op->pivot_sent = TRUE;
        alive = want_cancel || want_pivot || now_ready || vb_domain_obj_wait_until(dom, next);
        g_mutex_unlock(&dom->lock);
        if (!alive) {
            g_set_error(error, VB_ERROR, VB_ERROR_FAILED,
                        "the domain's QEMU ended during the %s job of disk %s", op->type,
                        op->target);
            vb_block_drop_op(dom, op);
            return FALSE;
        }
        if (vb_domain_list_shutting_down(list)) {
            /* QEMU's job goes on; the status XML keeps it for the next start (issue 15,
             * part bjrestart) */
            g_set_error(error, VB_ERROR, VB_ERROR_FAILED,
                        "the service is stopping; the %s job of disk %s is taken back at its "
                        "next start", op->type, op->target);
            vb_block_drop_op(dom, op);
            return FALSE;
        }
        if (now_ready) {
            vb_domain_async_job_phase(list, dom, job, "ready", TRUE);
            VB_LOG_DOMAIN(G_LOG_LEVEL_MESSAGE, dom->uuid_str, "%s job of disk %s is ready "
                          "(BlockJobAbort with PIVOT completes it)", op->type, op->target);
        }
        if (want_cancel) {
            vb_domain_async_save_status(list, dom);
            if (!send_job_command(list, dom, "block-job-cancel", op->job_id, error)) {
                vb_block_drop_op(dom, op);
                return FALSE;
            }
        } else if (want_pivot) {
            /* recorded first: a restart while QEMU completes knows a pivot was asked */
            vb_domain_async_save_status(list, dom);
            if (!send_job_command(list, dom, "block-job-complete", op->job_id, error)) {
                g_prefix_error(error, "cannot pivot the %s job of disk %s: ", op->type,
                               op->target);
                vb_block_drop_op(dom, op);
                return FALSE;
            }
        }
    }
    return block_finish(list, dom, job, op, state, qemu_error, out_result, error);
}

static gboolean
block_body(VbDomainList *list, VbDomainObj *dom, VbJob *job, gpointer data,
           GVariant **out_result, GError **error)
{
    VbBlockOp *op = data;
    g_autoptr(JsonNode) r = NULL;

    vb_domain_async_job_phase(list, dom, job, "running", TRUE);
    g_mutex_lock(&dom->lock);
    vb_domain_block_job_forget_locked(dom, op->job_id);
    g_mutex_unlock(&dom->lock);
    if (g_str_equal(op->type, "copy"))
        r = start_copy(list, dom, op, error);
    else
        r = vb_domain_async_monitor(list, dom,
                                    g_str_equal(op->type, "pull") ? "block-stream"
                                                                  : "block-commit",
                                    start_args(op), -1, error);
    if (r == NULL) {
        drop_copy_nodes(list, dom, op);
        /* nothing was copied into the image made for it */
        if (op->copy_created && g_unlink(op->base_path) < 0)
            VB_LOG_DOMAIN(G_LOG_LEVEL_WARNING, dom->uuid_str, "cannot remove %s again: %s",
                          op->base_path, g_strerror(errno));
        g_prefix_error(error, "cannot start the %s job of disk %s: ", op->type, op->target);
        vb_block_drop_op(dom, op);
        return FALSE;
    }
    return vb_block_wait_finish(list, dom, job, op, out_result, error);
}

/* The index of @path in @files (a layer of the chain), or -1. */
static int
layer_index(GPtrArray *files, const char *path)
{
    for (guint i = 0; i < files->len; i++) {
        if (g_strcmp0(g_ptr_array_index(files, i), path) == 0)
            return (int)i;
    }
    return -1;
}

/*
 * Begins the async job, checks the disk and fills @op's nodes: for a
 * commit, @top and @base are layers (source paths) of the disk's chain; ""
 * means the active layer and the deepest image.
 */
static VbJob *
start_block_job(VbDomainList *list, VbDomainObj *dom, const char *method, const char *disk,
                VbBlockOp *op, const char *top, const char *base, gboolean shallow,
                gboolean active_ok, const char *owner, GError **error)
{
    g_autoptr(VbQemuMonitor) mon = NULL;
    g_autoptr(GPtrArray) nodes = NULL;
    g_autoptr(GPtrArray) files = NULL;
    g_autoptr(GPtrArray) drvs = NULL;
    gboolean running;

    if (!vb_domain_async_job_begin(dom, VB_ASYNC_JOB_BLOCK, method, owner,
                                   list->config->job_wait_timeout, list->config->max_queued,
                                   error)) {
        vb_block_op_free(op);
        return NULL;
    }
    if (!vb_domain_job_begin_nested(dom, list->config->job_wait_timeout, error)) {
        vb_domain_async_job_end(dom);
        vb_block_op_free(op);
        return NULL;
    }
    g_mutex_lock(&dom->lock);
    running = dom->id >= 0 && dom->mon != NULL && !dom->stopping;
    if (running)
        mon = vb_qemu_monitor_ref(dom->mon);
    else
        vb_domain_obj_set_not_running_error(dom, method, error);
    g_mutex_unlock(&dom->lock);
    if (!running || !resolve_disk(dom, mon, disk, &op->target, &op->top_node, error))
        goto fail;
    nodes = vb_block_chain_nodes(mon, op->top_node, &files, &drvs, error);
    if (nodes == NULL)
        goto fail;
    if (g_str_equal(op->type, "copy")) {
        /* the destination was checked by vb_domain_block_copy(); a new one has the disk's
         * format */
        if (op->base_format == NULL)
            op->base_format = g_strdup(g_ptr_array_index(drvs, 0));
        if (shallow && nodes->len > 1) {
            /* SHALLOW: the top image only; the destination goes on the same backing */
            if (g_str_equal(op->base_format, "raw")) {
                g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                            "BlockCopy: SHALLOW (1) of disk %s, which has a backing image, "
                            "needs a destination that can have one (qcow2), not raw",
                            op->target);
                goto fail;
            }
            op->copy_backing = g_strdup(g_ptr_array_index(nodes, 1));
            op->copy_backing_path = g_strdup(g_ptr_array_index(files, 1));
            op->copy_backing_format = g_strdup(g_ptr_array_index(drvs, 1));
            /* a pivot leaves the top image only */
            op->pivot_drop = g_ptr_array_new_with_free_func(g_free);
            g_ptr_array_add(op->pivot_drop, g_strdup(g_ptr_array_index(nodes, 0)));
        } else {
            /* a pivot leaves the whole chain */
            op->pivot_drop = g_ptr_array_ref(nodes);
        }
        if (op->copy_create && !g_str_equal(op->base_format, "raw") &&
            !g_str_equal(op->base_format, "qcow2")) {
            g_set_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
                        "BlockCopy: disk %s is a %s image; name the destination's format "
                        "(<driver type='qcow2'/> or 'raw')", op->target, op->base_format);
            goto fail;
        }
    } else if (g_str_equal(op->type, "pull")) {
        if (nodes->len < 2) {
            g_set_error(error, VB_ERROR, VB_ERROR_INVALID_STATE,
                        "disk %s has no backing image to pull", op->target);
            goto fail;
        }
    } else {
        int t = top != NULL && *top != '\0' ? layer_index(files, top) : 0;
        int b = base != NULL && *base != '\0' ? layer_index(files, base)
                                              : shallow ? t + 1 : (int)nodes->len - 1;

        if (t < 0 || b < 0 || b >= (int)nodes->len) {
            g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                        "'%s' is not an image of the backing chain of disk %s",
                        t < 0 ? top : b < 0 && base != NULL && *base != '\0' ? base
                                                                            : "(base)",
                        op->target);
            goto fail;
        }
        if (t == 0 && !active_ok) {
            g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                        "top '%s' is the active layer of disk %s: commit it with the "
                        "ACTIVE flag (4)", (const char *)g_ptr_array_index(files, 0),
                        op->target);
            goto fail;
        }
        if (b <= t) {
            g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                        "base '%s' is not below top '%s' in the chain of disk %s",
                        (const char *)g_ptr_array_index(files, b),
                        (const char *)g_ptr_array_index(files, t), op->target);
            goto fail;
        }
        if (shallow && b != t + 1) {
            g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                        "SHALLOW: base must be the image right below top");
            goto fail;
        }
        if (t == 0) {
            op->type = "active-commit";
            /* a pivot leaves the images above the base */
            op->pivot_drop = g_ptr_array_new_with_free_func(g_free);
            for (int i = 0; i < b; i++)
                g_ptr_array_add(op->pivot_drop, g_strdup(g_ptr_array_index(nodes, i)));
        } else {
            op->top_layer = g_strdup(g_ptr_array_index(nodes, t));
            /* the images committed leave the chain: their nodes go at the end */
            op->pivot_drop = g_ptr_array_new_with_free_func(g_free);
            for (int i = t; i < b; i++)
                g_ptr_array_add(op->pivot_drop, g_strdup(g_ptr_array_index(nodes, i)));
        }
        op->base_node = g_strdup(g_ptr_array_index(nodes, b));
        op->base_path = g_strdup(g_ptr_array_index(files, b));
        op->base_format = g_strdup(g_ptr_array_index(drvs, b));
    }
    vb_domain_job_end(dom);
    op->job_id = g_strdup_printf("vbjob-%s", op->target);
    g_mutex_lock(&dom->lock);
    dom->block_op = op;
    g_mutex_unlock(&dom->lock);
    return vb_domain_async_job_start(list, dom, VB_ASYNC_JOB_BLOCK, op->type, owner, block_body,
                                     op, (GDestroyNotify)vb_block_op_free, FALSE);
fail:
    vb_domain_job_end(dom);
    vb_domain_async_job_end(dom);
    vb_block_op_free(op);
    return NULL;
}

/**
 * vb_domain_block_pull:
 * @bandwidth: MiB/s, or bytes/s with VB_BLOCK_PULL_BANDWIDTH_BYTES; 0 for none
 *
 * block-stream of the whole backing chain into the disk's top image, as a
 * Job. Worker threads.
 *
 * Returns: (transfer full): the job's record, or NULL
 */
VbJob *
vb_domain_block_pull(VbDomainList *list, VbDomainObj *dom, const char *disk,
                     guint64 bandwidth, guint flags, const char *owner, GError **error)
{
    VbBlockOp *op = g_new0(VbBlockOp, 1);

    op->type = "pull";
    if (!bandwidth_bytes(bandwidth, flags & VB_BLOCK_PULL_BANDWIDTH_BYTES, &op->speed,
                         error)) {
        vb_block_op_free(op);
        return NULL;
    }
    return start_block_job(list, dom, "BlockPull", disk, op, NULL, NULL, FALSE, FALSE, owner,
                           error);
}

/**
 * vb_domain_block_commit:
 * @top: a layer's source path, "" for the active layer (needs ACTIVE)
 * @base: a layer below @top, "" for the deepest one (or the one below
 *   @top with SHALLOW)
 *
 * block-commit as a Job; an active commit becomes ready and waits for
 * BlockJobAbort with PIVOT. Worker threads.
 */
VbJob *
vb_domain_block_commit(VbDomainList *list, VbDomainObj *dom, const char *disk,
                       const char *base, const char *top, guint64 bandwidth, guint flags,
                       const char *owner, GError **error)
{
    VbBlockOp *op;

    if (flags & VB_BLOCK_COMMIT_DELETE) {
        g_set_error_literal(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
                            "BlockCommit: DELETE (2), deleting the committed images, is not "
                            "supported");
        return NULL;
    }
    if (flags & VB_BLOCK_COMMIT_RELATIVE) {
        g_set_error_literal(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
                            "BlockCommit: RELATIVE (8), relative backing names, is not "
                            "supported");
        return NULL;
    }
    if ((flags & VB_BLOCK_COMMIT_SHALLOW) && base != NULL && *base != '\0') {
        g_set_error_literal(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                            "BlockCommit: SHALLOW (1) names the base itself: give no base");
        return NULL;
    }
    op = g_new0(VbBlockOp, 1);
    op->type = "commit";
    if (!bandwidth_bytes(bandwidth, flags & VB_BLOCK_COMMIT_BANDWIDTH_BYTES, &op->speed,
                         error)) {
        vb_block_op_free(op);
        return NULL;
    }
    return start_block_job(list, dom, "BlockCommit", disk, op, top, base,
                           flags & VB_BLOCK_COMMIT_SHALLOW, flags & VB_BLOCK_COMMIT_ACTIVE,
                           owner, error);
}

/* BlockCopy's <disk type='file'><driver type=/><source file=/></disk>: path and format */
static gboolean
parse_copy_dest(const char *xml, char **out_path, char **out_format, GError **error)
{
    xmlDoc *doc = NULL;
    xmlNode *root;
    g_autofree char *type = NULL;
    gboolean ok = FALSE;

    if (g_utf8_validate(xml, -1, NULL))
        doc = xmlReadMemory(xml, (int)strlen(xml), "disk.xml", NULL,
                            XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    root = doc != NULL ? xmlDocGetRootElement(doc) : NULL;
    if (root == NULL || strcmp((const char *)root->name, "disk") != 0) {
        g_set_error_literal(error, VB_ERROR, VB_ERROR_INVALID_XML,
                            "BlockCopy: the destination is not a <disk> element");
        goto out;
    }
    type = (char *)xmlGetProp(root, (const xmlChar *)"type");
    if (type != NULL && strcmp(type, "file") != 0) {
        g_set_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
                    "BlockCopy: a destination of type '%s' is not supported (file is)", type);
        goto out;
    }
    for (xmlNode *n = root->children; n != NULL; n = n->next) {
        if (n->type != XML_ELEMENT_NODE)
            continue;
        if (strcmp((const char *)n->name, "source") == 0 && *out_path == NULL)
            *out_path = (char *)xmlGetProp(n, (const xmlChar *)"file");
        else if (strcmp((const char *)n->name, "driver") == 0 && *out_format == NULL)
            *out_format = (char *)xmlGetProp(n, (const xmlChar *)"type");
    }
    if (*out_path == NULL || !g_path_is_absolute(*out_path)) {
        g_set_error_literal(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                            "BlockCopy: the destination needs <source file='/absolute/path'/>");
        goto out;
    }
    /* no format: the disk's for an image made here, raw for an existing one */
    if (*out_format != NULL && strcmp(*out_format, "raw") != 0 &&
        strcmp(*out_format, "qcow2") != 0) {
        g_set_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
                    "BlockCopy: destination format '%s' is not supported (raw, qcow2 are)",
                    *out_format);
        goto out;
    }
    ok = TRUE;
out:
    if (doc != NULL)
        xmlFreeDoc(doc);
    return ok;
}

/**
 * vb_domain_block_copy:
 * @dest_xml: the destination's <disk> (a file, raw or qcow2)
 * @params: (nullable): a{sv}: bandwidth (t, bytes/s), granularity (u), buf-size (t)
 *
 * blockdev-mirror of the disk as a Job, into a new image the service makes (of the
 * disk's size and, unless the destination names one, format), or with REUSE_EXT into an
 * existing one; with SHALLOW only the top image is copied and the destination sits on
 * the disk's backing image. The job becomes ready and runs until BlockJobAbort; with
 * PIVOT the disk goes on with the copy and the live <source> names it. Worker threads.
 */
VbJob *
vb_domain_block_copy(VbDomainList *list, VbDomainObj *dom, const char *disk,
                     const char *dest_xml, GVariant *params, guint flags, const char *owner,
                     GError **error)
{
    VbBlockOp *op;
    GVariantIter iter;
    const char *key;
    GVariant *value;

    if (flags & VB_BLOCK_COPY_SYNCHRONOUS_WRITES) {
        g_set_error_literal(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
                            "BlockCopy: SYNCHRONOUS_WRITES (8) is not supported");
        return NULL;
    }
    op = g_new0(VbBlockOp, 1);
    op->type = "copy";
    op->copy_create = !(flags & VB_BLOCK_COPY_REUSE_EXT);
    g_variant_iter_init(&iter, params);
    while (g_variant_iter_next(&iter, "{&sv}", &key, &value)) {
        g_autoptr(GVariant) v = value;
        guint64 *field = g_str_equal(key, "bandwidth")     ? &op->speed
                         : g_str_equal(key, "granularity") ? &op->granularity
                         : g_str_equal(key, "buf-size")    ? &op->buf_size : NULL;

        if (field == NULL) {
            g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                        "BlockCopy: unknown parameter '%s' (bandwidth, granularity, "
                        "buf-size)", key);
            vb_block_op_free(op);
            return NULL;
        }
        if (g_variant_is_of_type(v, G_VARIANT_TYPE_UINT64))
            *field = g_variant_get_uint64(v);
        else if (g_variant_is_of_type(v, G_VARIANT_TYPE_UINT32))
            *field = g_variant_get_uint32(v);
        else {
            g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                        "BlockCopy: parameter '%s' must be a number (t or u)", key);
            vb_block_op_free(op);
            return NULL;
        }
        if (*field > G_MAXINT64) {
            g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                        "BlockCopy: parameter '%s' is too large", key);
            vb_block_op_free(op);
            return NULL;
        }
    }
    if (!parse_copy_dest(dest_xml, &op->base_path, &op->base_format, error)) {
        vb_block_op_free(op);
        return NULL;
    }
    if (op->base_format == NULL && !op->copy_create)
        op->base_format = g_strdup("raw");
    if (op->copy_create) {
        g_autofree char *dir = g_path_get_dirname(op->base_path);

        /* as libvirt: a file that is there is used only when the caller says so */
        if (g_file_test(op->base_path, G_FILE_TEST_EXISTS) ||
            g_file_test(op->base_path, G_FILE_TEST_IS_SYMLINK)) {
            g_set_error(error, VB_ERROR, VB_ERROR_INVALID_STATE,
                        "BlockCopy: the destination '%s' already exists: remove it, name "
                        "another file, or give REUSE_EXT (2) to copy into it", op->base_path);
            vb_block_op_free(op);
            return NULL;
        }
        if (!g_file_test(dir, G_FILE_TEST_IS_DIR)) {
            g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                        "BlockCopy: the destination's directory '%s' does not exist", dir);
            vb_block_op_free(op);
            return NULL;
        }
    } else if (!g_file_test(op->base_path, G_FILE_TEST_IS_REGULAR)) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                    "BlockCopy: '%s' is not an existing regular file (REUSE_EXT)",
                    op->base_path);
        vb_block_op_free(op);
        return NULL;
    }
    return start_block_job(list, dom, "BlockCopy", disk, op, NULL, NULL,
                           flags & VB_BLOCK_COPY_SHALLOW, FALSE, owner, error);
}
