/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <string.h>

#include <libxml/parser.h>

#include "domain-list-priv.h"
#include "domain-blockops.h"
#include "domain-blockops-priv.h"
#include "domain-def-console.h" /* vb_xml_text_check() */
#include "vb-error.h"
#include "vb-log.h"

/*
 * Block jobs across a restart of the service (issue 15, part bjrestart; docs/blockjobs.md,
 * "Service restarts"). The status XML records the running block job (<blockjob>); a
 * restarted service takes it back as the async job "blockjob" with a new Job whose thread
 * runs the wait and the end of domain-blockops.c (vb_block_wait_finish()), after finding
 * QEMU's job with query-block-jobs, or, when it ended while the service was down, how it
 * ended from the image the disk runs on and its chain.
 */

/**
 * vb_domain_block_op_format:
 *
 * Under lock: the running block job as <blockjob> of the status XML: what a restarted
 * service needs to go on with QEMU's job and finish it as this one would (disk, kind, the
 * nodes and image a commit or copy changes, whether a cancel or pivot was asked, the nodes
 * that leave the chain). Nothing without a block job, or with a name XML 1.0 cannot hold
 * (a restart then cancels QEMU's job, as before).
 */
void
vb_domain_block_op_format(VbDomainObj *dom, GString *buf)
{
    VbBlockOp *op = dom->block_op;
    const char *attrs[][2] = {
        { "target", op != NULL ? op->target : NULL }, { "type", op != NULL ? op->type : NULL },
        { "top", op != NULL ? op->top_node : NULL },
        { "topLayer", op != NULL ? op->top_layer : NULL },
        { "baseNode", op != NULL ? op->base_node : NULL },
        { "basePath", op != NULL ? op->base_path : NULL },
        { "baseFormat", op != NULL ? op->base_format : NULL },
        { "copyNode", op != NULL ? op->copy_format : NULL },
    };

    if (op == NULL || op->job_id == NULL)
        return;
    for (guint i = 0; i < G_N_ELEMENTS(attrs); i++) {
        if (!vb_xml_text_check(attrs[i][1], attrs[i][0], NULL))
            return;
    }
    for (guint i = 0; op->pivot_drop != NULL && i < op->pivot_drop->len; i++) {
        if (!vb_xml_text_check(g_ptr_array_index(op->pivot_drop, i), "node", NULL))
            return;
    }
    g_string_append(buf, "  <blockjob");
    for (guint i = 0; i < G_N_ELEMENTS(attrs); i++) {
        if (attrs[i][1] != NULL)
            vb_domain_status_append_attr(buf, attrs[i][0], attrs[i][1]);
    }
    g_string_append_printf(buf, " speed='%" G_GUINT64_FORMAT "'", op->speed);
    if (op->pivot_sent)
        g_string_append(buf, " pivot='yes'");
    if (op->cancel_sent)
        g_string_append_printf(buf, " cancel='%s'", op->aborted ? "asked" : "yes");
    g_string_append(buf, ">\n");
    for (guint i = 0; op->pivot_drop != NULL && i < op->pivot_drop->len; i++) {
        g_string_append(buf, "    <drop");
        vb_domain_status_append_attr(buf, "node", g_ptr_array_index(op->pivot_drop, i));
        g_string_append(buf, "/>\n");
    }
    g_string_append(buf, "  </blockjob>\n");
}

static char *
xprop(xmlNode *n, const char *name)
{
    xmlChar *v = xmlGetProp(n, (const xmlChar *)name);
    char *out = v != NULL && *v != '\0' ? g_strdup((const char *)v) : NULL;

    xmlFree(v);
    return out;
}

/* The block job a status XML's <blockjob> records, checked. */
static VbBlockOp *
block_op_parse(const char *xml, GError **error)
{
    static const char *const types[] = { "pull", "commit", "active-commit", "copy" };
    xmlDoc *doc = xml != NULL ? xmlReadMemory(xml, (int)strlen(xml), "blockjob.xml", NULL,
                                              XML_PARSE_NONET | XML_PARSE_NOERROR |
                                                  XML_PARSE_NOWARNING)
                              : NULL;
    xmlNode *root = doc != NULL ? xmlDocGetRootElement(doc) : NULL;
    VbBlockOp *op = g_new0(VbBlockOp, 1);
    g_autofree char *type = NULL, *speed = NULL, *pivot = NULL, *cancel = NULL;
    gboolean ok = FALSE;

    if (root == NULL || strcmp((const char *)root->name, "blockjob") != 0)
        goto out;
    op->target = xprop(root, "target");
    type = xprop(root, "type");
    op->top_node = xprop(root, "top");
    op->top_layer = xprop(root, "topLayer");
    op->base_node = xprop(root, "baseNode");
    op->base_path = xprop(root, "basePath");
    op->base_format = xprop(root, "baseFormat");
    speed = xprop(root, "speed");
    pivot = xprop(root, "pivot");
    cancel = xprop(root, "cancel");
    for (guint i = 0; type != NULL && i < G_N_ELEMENTS(types); i++) {
        if (strcmp(type, types[i]) == 0)
            op->type = types[i];
    }
    if (op->target == NULL || op->type == NULL || op->top_node == NULL)
        goto out;
    /* what the end of each kind needs */
    if (strcmp(op->type, "pull") != 0 &&
        (op->base_path == NULL || op->base_format == NULL ||
         (strcmp(op->type, "copy") != 0 && op->base_node == NULL) ||
         (strcmp(op->type, "commit") == 0 && op->top_layer == NULL)))
        goto out;
    op->job_id = g_strdup_printf("vbjob-%s", op->target);
    op->speed = speed != NULL ? g_ascii_strtoull(speed, NULL, 10) : 0;
    op->pivot_sent = g_strcmp0(pivot, "yes") == 0;
    op->cancel_sent = cancel != NULL;
    op->aborted = g_strcmp0(cancel, "asked") == 0;
    op->pivot_drop = g_ptr_array_new_with_free_func(g_free);
    for (xmlNode *n = root->children; n != NULL && op->pivot_drop->len < 64; n = n->next) {
        char *node;

        if (n->type != XML_ELEMENT_NODE || strcmp((const char *)n->name, "drop") != 0)
            continue;
        node = xprop(n, "node");
        if (node != NULL)
            g_ptr_array_add(op->pivot_drop, node);
    }
    if (strcmp(op->type, "copy") == 0) {
        /* its destination's nodes: copyNode (and its storage node, as start_copy() names
         * it); a status written before copies had a name of their own: the old one */
        op->copy_format = xprop(root, "copyNode");
        if (op->copy_format == NULL)
            op->copy_format = g_strdup_printf("vbcopy-%s-format", op->target);
        op->copy_storage = vb_block_storage_node(op->copy_format);
        op->copy_added = TRUE;
    }
    ok = TRUE;
out:
    if (doc != NULL)
        xmlFreeDoc(doc);
    if (!ok) {
        g_set_error_literal(error, VB_ERROR, VB_ERROR_INVALID_XML,
                            "the status file's <blockjob> is incomplete");
        vb_block_op_free(op);
        return NULL;
    }
    return op;
}

/*
 * Job thread: how QEMU's job @op ended while the service was down (QEMU no longer lists
 * it: it dismisses a job at its end), from the image the disk runs on and its chain
 * (query-block, query-named-block-nodes). A pivot QEMU made sets @op->pivot_sent. When the
 * job did not complete, the live definition names the image QEMU uses. Sets @out_error to
 * the reason of a job that did not complete and was not cancelled on request.
 */
static VbBlockJobState
infer_end(VbDomainList *list, VbDomainObj *dom, VbBlockOp *op, char **out_error)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(VbQemuMonitor) mon = NULL;
    g_autofree char *target = NULL, *alias = NULL, *top = NULL;
    g_autoptr(GPtrArray) nodes = NULL;
    g_autoptr(GPtrArray) files = NULL;
    g_autoptr(GPtrArray) drvs = NULL;
    VbBlockJobState state = VB_BLOCK_JOB_FAILED;
    gboolean found;

    g_mutex_lock(&dom->lock);
    found = vb_block_find_disk_locked(dom, op->target, &target, &alias, &err);
    g_mutex_unlock(&dom->lock);
    if (found && (mon = vb_domain_async_begin_monitor(list, dom, &err)) != NULL) {
        top = vb_block_disk_top_node(mon, alias, &err);
        if (top != NULL)
            nodes = vb_block_chain_nodes(mon, top, &files, &drvs, &err);
        vb_domain_job_end(dom);
    }
    if (nodes == NULL || nodes->len == 0) {
        *out_error = g_strdup_printf("QEMU's job ended while the service was down and the "
                                     "disk's images cannot be read: %s",
                                     err != NULL ? err->message : "no image");
        return VB_BLOCK_JOB_FAILED;
    }
    if (g_str_equal(op->type, "pull")) {
        if (nodes->len == 1)
            state = VB_BLOCK_JOB_COMPLETED;
    } else if (g_str_equal(op->type, "commit")) {
        if (!g_ptr_array_find_with_equal_func(nodes, op->top_layer, g_str_equal, NULL))
            state = VB_BLOCK_JOB_COMPLETED;
    } else if (g_strcmp0(top, g_str_equal(op->type, "copy") ? op->copy_format
                                                            : op->base_node) == 0) {
        /* the disk runs on the base (the copy): QEMU pivoted */
        op->pivot_sent = TRUE;
        state = VB_BLOCK_JOB_COMPLETED;
    } else if (op->cancel_sent) {
        /* a ready job that was cancelled ends "completed", not pivoted */
        state = VB_BLOCK_JOB_COMPLETED;
    }
    if (state == VB_BLOCK_JOB_FAILED && op->cancel_sent)
        state = VB_BLOCK_JOB_CANCELLED;
    if (state == VB_BLOCK_JOB_FAILED)
        *out_error = g_strdup_printf("QEMU's job ended while the service was down without "
                                     "completing; the disk runs on %s",
                                     (const char *)g_ptr_array_index(files, 0));
    if (!op->pivot_sent) {
        /* the definition names what QEMU uses (it changes only if the state was lost) */
        g_mutex_lock(&dom->lock);
        if (dom->id >= 0 && g_ptr_array_index(files, 0) != NULL)
            vb_domain_def_set_disk_source(dom->def, op->target, g_ptr_array_index(files, 0),
                                          g_ptr_array_index(drvs, 0));
        g_mutex_unlock(&dom->lock);
    }
    return state;
}

/* Job thread: the body of a block job taken back after a restart: QEMU's job as
 * query-block-jobs shows it, then the wait and the end block_body() has. */
static gboolean
block_adopt_body(VbDomainList *list, VbDomainObj *dom, VbJob *job, gpointer data,
                 GVariant **out_result, GError **error)
{
    VbBlockOp *op = data;
    g_autoptr(GError) err = NULL;
    g_autoptr(JsonNode) r = NULL;
    g_autofree char *inferred_error = NULL;
    JsonObject *qjob = NULL;
    const char *status = NULL;
    VbBlockJobState state;

    vb_domain_async_job_phase(list, dom, job, "running", TRUE);
    r = vb_domain_async_monitor(list, dom, "query-block-jobs", NULL, -1, &err);
    if (r == NULL) {
        g_set_error(error, VB_ERROR, VB_ERROR_QEMU, "the %s job of disk %s cannot be taken "
                    "back after the restart: %s", op->type, op->target, err->message);
        vb_block_drop_op(dom, op);
        return FALSE;
    }
    qjob = vb_block_qemu_job(r, op->job_id);
    status = vb_block_jstr(qjob, "status");
    if (qjob != NULL && g_strcmp0(status, "concluded") != 0 &&
        g_strcmp0(status, "null") != 0) {
        state = g_strcmp0(status, "ready") == 0 ? VB_BLOCK_JOB_READY : VB_BLOCK_JOB_RUNNING;
        /* a pivot or cancel recorded but maybe never sent (the service ended in between):
         * asked again while QEMU's job still takes it */
        g_mutex_lock(&dom->lock);
        if (op->pivot_sent && state == VB_BLOCK_JOB_READY) {
            op->pivot_sent = FALSE;
            op->pivot_requested = TRUE;
        }
        if (op->cancel_sent && (state == VB_BLOCK_JOB_READY || g_strcmp0(status, "running") == 0)) {
            op->cancel_sent = FALSE;
            dom->job.abort_requested = TRUE;
        }
        g_mutex_unlock(&dom->lock);
    } else {
        if (qjob != NULL) {
            JsonObject *args = json_object_new();
            g_autoptr(JsonNode) d = NULL;

            json_object_set_string_member(args, "id", op->job_id);
            d = vb_domain_async_monitor(list, dom, "job-dismiss", args, -1, NULL);
        }
        state = infer_end(list, dom, op, &inferred_error);
        if (state == VB_BLOCK_JOB_FAILED && vb_block_jstr(qjob, "error") != NULL) {
            /* a concluded job says why it failed */
            g_free(inferred_error);
            inferred_error = g_strdup(vb_block_jstr(qjob, "error"));
        }
    }
    VB_LOG_DOMAIN(G_LOG_LEVEL_MESSAGE, dom->uuid_str, "the %s job of disk %s is taken back "
                  "after the restart: QEMU's job is %s", op->type, op->target,
                  qjob != NULL && status != NULL ? status : "gone");
    g_mutex_lock(&dom->lock);
    vb_domain_block_job_seed_locked(dom, op->job_id, state, inferred_error);
    g_mutex_unlock(&dom->lock);
    return vb_block_wait_finish(list, dom, job, op, out_result, error);
}

/**
 * vb_domain_block_job_adopt:
 * @xml: the <blockjob> of the status XML
 *
 * After a restart of the service: takes back the block job the status recorded as the
 * domain's async job "blockjob" with a new Job, whose thread goes on with QEMU's job (or
 * finishes one that ended meanwhile) as the original would have. At reconnection, before
 * the bus name is owned.
 *
 * Returns: FALSE when the record is not usable (the caller cancels QEMU's job)
 */
gboolean
vb_domain_block_job_adopt(VbDomainList *list, VbDomainObj *dom, const char *xml,
                          GError **error)
{
    VbBlockOp *op = block_op_parse(xml, error);
    static const char *const methods[] = { "pull", "BlockPull", "commit", "BlockCommit",
                                           "active-commit", "BlockCommit", "copy",
                                           "BlockCopy" };
    const char *method = "BlockJob";
    g_autoptr(VbJob) job = NULL;

    if (op == NULL)
        return FALSE;
    for (guint i = 0; i < G_N_ELEMENTS(methods); i += 2) {
        if (g_str_equal(op->type, methods[i]))
            method = methods[i + 1];
    }
    if (!vb_domain_async_job_begin(dom, VB_ASYNC_JOB_BLOCK, method, NULL,
                                   list->config->job_wait_timeout, list->config->max_queued,
                                   error)) {
        vb_block_op_free(op);
        return FALSE;
    }
    g_mutex_lock(&dom->lock);
    dom->block_op = op;
    g_mutex_unlock(&dom->lock);
    job = vb_domain_async_job_start(list, dom, VB_ASYNC_JOB_BLOCK, op->type, NULL,
                                    block_adopt_body, op, (GDestroyNotify)vb_block_op_free,
                                    FALSE);
    return job != NULL;
}
