/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <glib/gi18n.h>
#include <string.h>

#include "bus-errors.h"
#include "bus-names.h"
#include "bus-service.h"
#include "bus-skeleton.h"
#include "vb-error.h"

/*
 * Job objects (org.virtbus.Virt1.Job): exported through the object
 * manager when domain/ reports a new job, updated from the job's record
 * on every change, and on completion: final properties, flush, Completed,
 * then the pending Wait() calls are answered. The object stays for
 * job_grace_period seconds, then leaves the bus. Main context only,
 * reached through vb_bus_service_queue() from the job's thread.
 *
 * Each change is published as the job was when it was reported (a copy taken by the
 * reporting thread), each with its own PropertiesChanged: a migration's phases that
 * follow each other faster than the main thread runs are all seen on the bus, in order
 * (issue 17: a frontend shows them as they happen).
 */

typedef struct {
    VbBusService *service;
    VbJob *job;
    VbJobNotifyKind kind;
    VbJobInfo info; /* the job when the change was reported */
} JobPublish;

static void
apply_info(VbDBusJob *iface, const VbJobInfo *info)
{
    vb_dbus_job_set_operation(iface, info->operation);
    vb_dbus_job_set_domain(iface, info->domain_path);
    vb_dbus_job_set_started_by(iface, info->started_by);
    vb_dbus_job_set_phase(iface, info->phase);
    vb_dbus_job_set_progress(iface, info->progress);
    vb_dbus_job_set_data_total(iface, info->data_total);
    vb_dbus_job_set_data_processed(iface, info->data_processed);
    vb_dbus_job_set_data_remaining(iface, info->data_remaining);
    vb_dbus_job_set_time_elapsed(iface, info->time_elapsed_ms);
    vb_dbus_job_set_cancelable(iface, info->cancelable);
}

/* Returns: (transfer full) (nullable): the error of a failed job, as a VB_ERROR. */
static GError *
job_error(const VbJobInfo *info)
{
    GError *error;

    if (info->error == NULL)
        return NULL;
    error = g_error_copy(info->error);
    vb_error_convert(&error);
    return error;
}

/* Answers one Wait() with the job's outcome. */
static void
answer_wait(VbBusCall *call, const VbJobInfo *info)
{
    g_autoptr(GError) error = job_error(info);

    if (error != NULL)
        vb_bus_call_return(call, NULL, error);
    else
        vb_bus_call_return(call, g_variant_new("(@a{sv})", info->result), NULL);
}

typedef struct {
    VbBusService *service;
    char *path;
} GraceEnd;

static gboolean
grace_over(gpointer data)
{
    GraceEnd *g = data;

    g_dbus_object_manager_server_unexport(g->service->object_manager, g->path);
    g_hash_table_remove(g->service->domain_objects, g->path);
    g_hash_table_remove(g->service->object_cache, g->path);
    vb_bus_callers_forget_path(g->service, g->path);
    return G_SOURCE_REMOVE;
}

static void
grace_end_free(gpointer data)
{
    GraceEnd *g = data;

    g_free(g->path);
    g_free(g);
}

static void
publish_completed(VbBusService *service, VbDBusJob *iface, const char *path,
                  const VbJobInfo *info)
{
    g_autoptr(GError) error = job_error(info);
    GPtrArray *waiters = vb_bus_job_skeleton_get_waiters(iface);
    GraceEnd *g = g_new0(GraceEnd, 1);
    g_autoptr(GSource) source = NULL;
    GVariant *result = info->result != NULL ? info->result : g_variant_new("a{sv}", NULL);

    vb_dbus_job_emit_completed(iface, error == NULL,
                               error != NULL ? vb_bus_error_name(error->code) : "",
                               error != NULL ? error->message : "", result);
    vb_bus_job_skeleton_done(iface, TRUE);
    for (guint i = 0; i < waiters->len; i++)
        answer_wait(waiters->pdata[i], info);
    g_ptr_array_set_size(waiters, 0);

    g->service = service;
    g->path = g_strdup(path);
    source = g_timeout_source_new_seconds(service->config.job_grace_period);
    g_source_set_callback(source, grace_over, g, grace_end_free);
    g_source_attach(source, service->main_context);
}

static gboolean
job_publish_on_main(gpointer data)
{
    JobPublish *p = data;
    g_autofree char *path = vb_bus_job_path(vb_job_get_id(p->job));
    VbDBusObjectSkeleton *object = g_hash_table_lookup(p->service->domain_objects, path);
    g_autoptr(VbDBusJob) iface = NULL;
    VbJobInfo info = { 0 };

    if (p->kind == VB_JOB_NOTIFY_COMPLETED) {
        /* the final state (the result, the error) as the job holds it now */
        vb_job_get_info(p->job, &info);
    } else {
        info = p->info;
        memset(&p->info, 0, sizeof(p->info));
    }
    if (object == NULL && p->kind == VB_JOB_NOTIFY_ADDED) {
        object = vb_dbus_object_skeleton_new(path);
        iface = vb_bus_job_skeleton_new(p->service, p->job);
        apply_info(iface, &info);
        vb_dbus_object_skeleton_set_job(object, iface);
        g_dbus_object_manager_server_export(p->service->object_manager,
                                            G_DBUS_OBJECT_SKELETON(object));
        g_hash_table_insert(p->service->domain_objects, g_strdup(path), object);
    } else if (object != NULL) {
        iface = vb_dbus_object_get_job(VB_DBUS_OBJECT(object));
        apply_info(iface, &info);
        g_hash_table_remove(p->service->object_cache, path);
        /* properties first, then the signal that announces them */
        g_dbus_interface_skeleton_flush(G_DBUS_INTERFACE_SKELETON(iface));
        if (p->kind == VB_JOB_NOTIFY_COMPLETED && !vb_bus_job_skeleton_done(iface, FALSE))
            publish_completed(p->service, iface, path, &info);
    }
    vb_job_info_clear(&info);
    vb_job_info_clear(&p->info);
    vb_job_unref(p->job);
    g_free(p);
    return G_SOURCE_REMOVE;
}

/**
 * vb_bus_job_notify:
 *
 * The VbJobNotifyFunc of the service: queues the change to the main
 * context. Any thread.
 */
void
vb_bus_job_notify(VbJob *job, VbJobNotifyKind kind, gpointer user_data)
{
    VbBusService *service = user_data;
    JobPublish *p;

    if (g_atomic_int_get(&service->stopping))
        return;
    p = g_new0(JobPublish, 1);

    p->service = service;
    p->job = vb_job_ref(job);
    p->kind = kind;
    if (kind != VB_JOB_NOTIFY_COMPLETED)
        vb_job_get_info(job, &p->info);
    vb_bus_service_queue(service, job_publish_on_main, p);
}

/* ---- methods ---- */

/* Wait(): answered at once after Completed, else kept until it. Main thread. */
static GVariant *
job_wait(VbBusCall *call, GError **error)
{
    g_autofree char *path = vb_bus_job_path(vb_job_get_id(call->job));
    VbDBusObjectSkeleton *object = g_hash_table_lookup(call->service->domain_objects, path);
    g_autoptr(VbDBusJob) iface = NULL;
    VbJobInfo info = { 0 };

    if (object == NULL) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_STATE, _("job %s is gone"), path);
        return NULL;
    }
    iface = vb_dbus_object_get_job(VB_DBUS_OBJECT(object));
    if (!vb_bus_job_skeleton_done(iface, FALSE)) {
        g_ptr_array_add(vb_bus_job_skeleton_get_waiters(iface), call);
        return NULL;
    }
    vb_job_get_info(call->job, &info);
    answer_wait(call, &info);
    vb_job_info_clear(&info);
    return NULL;
}

static GVariant *
job_cancel(VbBusCall *call, GError **error)
{
    g_autoptr(VbDomainObj) dom = NULL;
    VbJobInfo info = { 0 };

    vb_job_get_info(call->job, &info);
    /* a job that runs has its domain loaded */
    dom = info.completed ? NULL : vb_domain_list_peek_by_uuid(call->service->domains,
                                                              info.domain_uuid);
    vb_job_info_clear(&info);
    if (dom == NULL) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_STATE,
                    _("job %u has already completed"), vb_job_get_id(call->job));
        return NULL;
    }
    if (!vb_domain_abort_job(call->service->domains, dom, vb_job_get_id(call->job),
                             vb_bus_owner(call), error))
        return NULL;
    return g_variant_new("()");
}

const VbBusMethod vb_bus_job_methods[] = {
    { "Cancel", VB_ACTION_SAVE, FALSE, job_cancel },
    { "Wait", VB_ACTION_READ, TRUE, job_wait, NULL, TRUE },
};
const gsize vb_bus_job_n_methods = G_N_ELEMENTS(vb_bus_job_methods);
