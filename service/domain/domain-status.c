/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <glib/gstdio.h>

#include "domain-blockops.h" /* issue 15, part bjrestart */
#include "domain-cgroup.h"
#include "domain-list-priv.h"
#include "store.h"
#include "vb-error.h"

/*
 * The status XML of an active domain, <run_dir>/<name>.xml: what a
 * restarted service needs to take the domain back (pid, monitor, state
 * and reason, the capabilities it was started with, taint, the
 * autodestroy owner, the live definition). Rewritten atomically on each
 * state change, never on read-only calls.
 */

char *
vb_domain_status_path(VbDomainList *list, const char *name)
{
    g_autofree char *file = g_strconcat(name, ".xml", NULL);

    return g_build_filename(list->paths->run_dir, file, NULL);
}

/* @name='@value' (escaped) of a status XML element; @value is XML 1.0 text. */
void
vb_domain_status_append_attr(GString *buf, const char *name, const char *value)
{
    g_autofree char *esc = g_markup_escape_text(value, -1);

    g_string_append_printf(buf, " %s='%s'", name, esc);
}

/* Under dom->lock. */
static char *
format_status(VbDomainObj *dom, GError **error)
{
    g_autoptr(GString) buf = g_string_new("<domstatus");
    g_autofree char *def_xml = NULL;
    g_auto(GStrv) taint = vb_domain_taint_to_strv(dom->taint);

    /* an attach in progress: the definition with the device, marked pending (issue 13,
     * part netupd): a restarted service adopts it or removes it with its backends */
    def_xml = vb_domain_def_format(dom->attach_pending_def != NULL ? dom->attach_pending_def
                                                                   : dom->def,
                                   VB_DOMAIN_DEF_FORMAT_SECURE, error);
    if (def_xml == NULL)
        return NULL;
    vb_domain_status_append_attr(buf, "state", vb_domain_state_to_string(dom->state));
    vb_domain_status_append_attr(buf, "reason", vb_domain_reason_to_string(dom->reason));
    g_string_append_printf(buf, " id='%d' pid='%d'", dom->id,
                           dom->proc != NULL ? (int)vb_qemu_process_get_pid(dom->proc) : 0);
    /* a start that has not finished: a restarted service kills its QEMU */
    if (dom->starting)
        g_string_append(buf, " starting='yes'");
    g_string_append(buf, ">\n");
    g_string_append(buf, "  <monitor");
    vb_domain_status_append_attr(buf, "path", dom->monitor_path != NULL ? dom->monitor_path : "");
    g_string_append(buf, "/>\n  <runtime");
    vb_domain_status_append_attr(buf, "dir", dom->runtime_dir != NULL ? dom->runtime_dir : "");
    vb_domain_status_append_attr(buf, "pidfile", dom->pidfile != NULL ? dom->pidfile : "");
    g_string_append(buf, "/>\n");
    vb_domain_helpers_format(dom, buf);
    vb_domain_net_format(dom, buf);
    for (guint i = 0; taint[i] != NULL; i++)
        g_string_append_printf(buf, "  <taint flag='%s'/>\n", taint[i]);
    if (dom->autodestroy_owner != NULL) {
        g_string_append(buf, "  <autodestroy");
        vb_domain_status_append_attr(buf, "owner", dom->autodestroy_owner);
        g_string_append(buf, "/>\n");
    }
    /* issue 13, part agent: a restarted service thaws what FSFreeze froze */
    if (dom->agent_frozen)
        g_string_append(buf, "  <agent frozen='yes'/>\n");
    vb_domain_cgroup_format(dom, buf); /* issue 14, part cgroup */
    if (dom->private_dev) /* issue 14, part devns: hot-plugs make their nodes in it */
        g_string_append(buf, "  <namespace dev='private'/>\n");
    if (dom->attach_pending_def != NULL && dom->attach_pending_alias != NULL) {
        g_string_append(buf, "  <hotplug pending='attach'");
        vb_domain_status_append_attr(buf, "alias", dom->attach_pending_alias);
        g_string_append(buf, "/>\n");
    }
    g_string_append_printf(buf, "  <job type='%s'", vb_job_type_to_string(dom->job.active));
    if (dom->job.async != VB_ASYNC_JOB_NONE) {
        /* what a restarted service needs to recover the async job */
        vb_domain_status_append_attr(buf, "async", vb_async_job_type_to_string(dom->job.async));
        vb_domain_status_append_attr(buf, "phase", dom->job.phase);
        vb_domain_status_append_attr(buf, "wasRunning", dom->job.was_running ? "yes" : "no");
        if (dom->job.temp_path != NULL)
            vb_domain_status_append_attr(buf, "tempFile", dom->job.temp_path);
    }
    g_string_append(buf, "/>\n");
    vb_domain_block_op_format(dom, buf); /* issue 15, part bjrestart */
    if (dom->caps != NULL)
        g_string_append(buf, vb_qemu_caps_get_xml(dom->caps));
    g_string_append(buf, def_xml);
    g_string_append(buf, "</domstatus>\n");
    return g_string_free(g_steal_pointer(&buf), FALSE);
}

/**
 * vb_domain_status_save:
 *
 * Writes the status XML of an active @dom. Takes the domain lock to read;
 * writes without it. Worker threads only.
 */
gboolean
vb_domain_status_save(VbDomainList *list, VbDomainObj *dom, GError **error)
{
    g_autofree char *xml = NULL;
    g_autofree char *path = NULL;

    g_mutex_lock(&dom->lock);
    xml = format_status(dom, error);
    path = vb_domain_status_path(list, dom->def->name);
    g_mutex_unlock(&dom->lock);
    if (xml == NULL)
        return FALSE;
    return vb_store_write_atomic(path, xml, -1, 0600, error);
}

/* Removes the status XML of @dom; logs a failure. */
void
vb_domain_status_remove(VbDomainList *list, VbDomainObj *dom)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *name = vb_domain_obj_get_name(dom);
    g_autofree char *path = vb_domain_status_path(list, name);

    if (!vb_store_remove(path, &error))
        g_warning("%s", error->message);
}
