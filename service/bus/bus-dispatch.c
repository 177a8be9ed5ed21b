/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <glib/gi18n.h>
#include <string.h>

#include "bus-errors.h"
#include "bus-names.h"
#include "bus-service.h"
#include "migration.h"
#include "vb-error.h"

/*
 * Every method goes the same way: identify the caller, authorize with
 * polkit (asynchronously, on the main thread), run the method's function
 * on the service's worker pool (or inline when it cannot block), and reply
 * from the main context, after any state changes it published.
 */

static void
call_free(VbBusCall *call)
{
    g_clear_object(&call->invocation);
    g_clear_object(&call->message);
    g_clear_pointer(&call->parameters, g_variant_unref);
    g_clear_pointer(&call->caller, vb_caller_unref);
    g_clear_pointer(&call->dom, vb_domain_obj_unref);
    g_free(call->load_uuid);
    g_clear_pointer(&call->net, vb_network_obj_unref);
    g_clear_pointer(&call->job, vb_job_unref);
    g_free(call->detail_domain);
    g_free(call->detail_uuid);
    g_free(call->detail_path);
    g_free(call->detail_network);
    g_clear_error(&call->load_error);
    g_clear_object(&call->out_fds);
    if (call->prepared != NULL && call->prepared_free != NULL)
        call->prepared_free(call->prepared);
    g_free(call);
}

/*
 * Issue 16: where a call's time goes inside the service, as one debug line of the log
 * domain "virtbus-calls" (G_MESSAGES_DEBUG=virtbus-calls): from the method call's dispatch
 * on the main thread through the checks (caller, polkit) to the queue of the worker pool,
 * the wait for a worker, the method itself, and the way back to the main thread until the
 * reply is handed to GDBus. Nothing is formatted unless the domain is enabled.
 */
static void
call_log_timing(VbBusCall *call, gboolean failed)
{
    gint64 now = g_get_monotonic_time();

    if (g_log_writer_default_would_drop(G_LOG_LEVEL_DEBUG, "virtbus-calls"))
        return;
#define SPAN_MS(a, b) ((a) > 0 && (b) > 0 ? ((b) - (a)) / 1000.0 : 0.0)
    g_log("virtbus-calls", G_LOG_LEVEL_DEBUG,
          "call %s%s (ms): checks %.3f, to a worker %.3f, method %.3f, back to main %.3f; "
          "total %.3f",
          call->method->method, failed ? " failed" : "", SPAN_MS(call->t_new, call->t_checked),
          SPAN_MS(call->t_checked, call->t_run), SPAN_MS(call->t_run, call->t_ran),
          SPAN_MS(call->t_ran, now), SPAN_MS(call->t_new, now));
#undef SPAN_MS
}

static void
call_reply(VbBusCall *call, GVariant *value, GError *error)
{
    g_autoptr(GVariant) owned = value != NULL ? g_variant_ref_sink(value) : NULL;

    call_log_timing(call, error != NULL);

    if (call->invocation != NULL) {
        GDBusMethodInvocation *inv = g_steal_pointer(&call->invocation);

        if (error != NULL)
            vb_bus_error_return(inv, error);
        else if (call->out_fds != NULL)
            g_dbus_method_invocation_return_value_with_unix_fd_list(inv, owned, call->out_fds);
        else
            g_dbus_method_invocation_return_value(inv, owned);
    } else if (call->message != NULL) {
        g_autoptr(GDBusMessage) reply = NULL;
        g_autoptr(GError) copy = NULL;

        if (error != NULL) {
            copy = g_error_copy(error);
            vb_error_convert(&copy);
            reply = g_dbus_message_new_method_error_literal(
                call->message, vb_bus_error_name(copy->code), copy->message);
        } else {
            reply = g_dbus_message_new_method_reply(call->message);
            if (owned != NULL)
                g_dbus_message_set_body(reply, owned);
            if (call->out_fds != NULL)
                g_dbus_message_set_unix_fd_list(reply, call->out_fds);
        }
        g_dbus_connection_send_message(call->service->connection, reply,
                                       G_DBUS_SEND_MESSAGE_FLAGS_NONE, NULL, NULL);
    }
    vb_bus_service_note_activity(call->service);
    call_free(call);
}

/**
 * vb_bus_call_return:
 * @value: (transfer floating) (nullable): the reply's body
 * @error: (nullable): or the error to reply with
 *
 * Answers a call a deferred method kept, and frees it. Main thread.
 */
void
vb_bus_call_return(VbBusCall *call, GVariant *value, GError *error)
{
    call_reply(call, value, error);
}

typedef struct {
    VbBusCall *call;
    GVariant *value;
    GError *error;
} CallResult;

static gboolean
finish_on_main(gpointer data)
{
    CallResult *r = data;

    call_reply(r->call, r->value, r->error);
    g_clear_error(&r->error);
    g_free(r);
    return G_SOURCE_REMOVE;
}

/**
 * vb_bus_worker_run:
 *
 * The worker pool's function: runs a call's method and hands the result
 * back to the main context. Worker thread.
 */
static gboolean authorize_on_main(gpointer data);
static gboolean loaded_on_main(gpointer data);
static gboolean run_on_main(gpointer data);

/*
 * Issue 16: a call on a domain kept as a stub loads it (its config read and parsed) on a
 * worker, once it passed its checks, before the method runs. Worker thread.
 */
static gboolean
call_load_domain(VbBusCall *call, GError **error)
{
    g_autofree char *uuid = g_steal_pointer(&call->load_uuid);

    if (uuid == NULL || call->dom != NULL)
        return TRUE;
    call->dom = vb_domain_list_find_by_uuid(call->service->domains, uuid, error);
    return call->dom != NULL;
}

void
vb_bus_worker_run(gpointer data, gpointer user_data)
{
    VbBusCall *call = data;
    CallResult *r;
    GError *load_error = NULL;

    switch (call->step) {
    case VB_BUS_STEP_PREPARE:
        call->method->prepare(call);
        vb_bus_service_queue(call->service, authorize_on_main, call);
        return;
    case VB_BUS_STEP_LOAD:
        call->method->load(call);
        vb_bus_service_queue(call->service, loaded_on_main, call);
        return;
    case VB_BUS_STEP_RUN:
        if (call->load_uuid != NULL && call_load_domain(call, &load_error) &&
            call->method->inline_) {
            /* loaded: an inline method runs where it always does */
            vb_bus_service_queue(call->service, run_on_main, call);
            return;
        }
        break;
    }
    r = g_new0(CallResult, 1);
    r->call = call;
    if (load_error != NULL) {
        r->error = load_error;
    } else if (call->dom != NULL && !vb_domain_obj_check_alive(call->dom, &r->error)) {
        /* undefined while the call waited */
    } else {
        call->t_run = g_get_monotonic_time();
        r->value = call->method->func(call, &r->error);
        call->t_ran = g_get_monotonic_time();
        if (r->value == NULL)
            vb_error_ensure(&r->error);
    }
    /* Same priority as the publish path, queued after it: the reply
     * never overtakes the state change it reports. */
    vb_bus_service_queue(call->service, finish_on_main, r);
}

static void
run_call(VbBusCall *call)
{
    g_autoptr(GError) error = NULL;
    GVariant *value;
    gboolean deferred;

    call->step = VB_BUS_STEP_RUN;
    call->t_checked = g_get_monotonic_time();
    /* a domain kept as a stub is loaded on a worker first (disk I/O) */
    if (!call->method->inline_ || call->load_uuid != NULL) {
        g_thread_pool_push(call->service->workers, call, NULL);
        return;
    }
    if (call->dom != NULL && !vb_domain_obj_check_alive(call->dom, &error)) {
        call_reply(call, NULL, error);
        return;
    }
    deferred = call->method->deferred;
    call->t_run = call->t_checked;
    value = call->method->func(call, &error);
    if (value == NULL && error == NULL && deferred)
        return; /* the method kept (and may have answered and freed) the call */
    call->t_ran = g_get_monotonic_time();
    if (value == NULL)
        vb_error_ensure(&error);
    call_reply(call, value, error);
}

static void authorize(VbBusCall *call);

/* Main thread: an inline method whose domain a worker loaded. */
static gboolean
run_on_main(gpointer data)
{
    run_call(data);
    return G_SOURCE_REMOVE;
}

/* The object a call is about (the read checks a caller passed are
 * remembered per object and verb). */
static const char *
call_path(VbBusCall *call)
{
    return call->invocation != NULL ? g_dbus_method_invocation_get_object_path(call->invocation)
                                    : g_dbus_message_get_path(call->message);
}

/*
 * The verb under which a read check is remembered: the method's, and for a
 * method whose prepare function named a domain from its arguments (the
 * lookups), that domain too, since the question polkit answered depends on
 * them and not only on the object called.
 */
static char *
call_read_verb(VbBusCall *call)
{
    g_autofree char *verb = g_ascii_strdown(call->method->method, -1);

    if (call->method->prepare == NULL || call->detail_uuid == NULL)
        return g_steal_pointer(&verb);
    return g_strdup_printf("%s\n%s\n%s", verb,
                           call->detail_domain != NULL ? call->detail_domain : "",
                           call->detail_uuid);
}

static void allowed(VbBusCall *call);
static void passed(VbBusCall *call);

static void
auth_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
    VbBusCall *call = user_data;
    g_autoptr(GError) error = NULL;

    if (!vb_auth_check_finish(call->service->auth, res, &error)) {
        g_message("denied %s to %s (uid %u): %s", call->method->method, call->caller->sender,
                  (guint)call->caller->uid, error->message);
        call_reply(call, NULL, error);
        return;
    }
    passed(call);
}

/* The call passed the check of call->action. */
static void
passed(VbBusCall *call)
{
    if (g_str_equal(call->action, VB_ACTION_READ)) {
        g_autofree char *verb = call_read_verb(call);

        vb_bus_caller_set_read_allowed(call->service, call->caller->sender, call_path(call),
                                       verb);
    }
    allowed(call);
}

/* The call passed the check of call->action: the next check, the load step, or the run. */
static void
allowed(VbBusCall *call)
{
    if (call->also_action != NULL) {
        /* every action the call needs, one after the other, the same details */
        call->action = call->also_action;
        call->also_action = NULL;
        authorize(call);
        return;
    }
    if (call->method->load != NULL && !call->loaded) {
        /* authorized on the arguments: now open what they name, then check again */
        call->loaded = TRUE;
        call->step = VB_BUS_STEP_LOAD;
        g_thread_pool_push(call->service->workers, call, NULL);
        return;
    }
    run_call(call);
}

static GHashTable *
auth_details(VbBusCall *call)
{
    GHashTable *details = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, g_free);
    g_autofree char *verb = g_ascii_strdown(call->method->method, -1);

    if (call->dom != NULL) {
        g_hash_table_insert(details, "domain", vb_domain_obj_get_name(call->dom));
        g_hash_table_insert(details, "uuid", g_strdup(call->dom->uuid_str));
    } else if (call->net != NULL) {
        g_hash_table_insert(details, "network", vb_network_obj_get_name(call->net));
        g_hash_table_insert(details, "uuid", g_strdup(call->net->uuid_str));
    } else if (call->detail_domain != NULL) {
        g_hash_table_insert(details, "domain", g_strdup(call->detail_domain));
        if (call->detail_uuid != NULL)
            g_hash_table_insert(details, "uuid", g_strdup(call->detail_uuid));
    } else if (call->detail_network != NULL) {
        g_hash_table_insert(details, "network", g_strdup(call->detail_network));
        if (call->detail_uuid != NULL)
            g_hash_table_insert(details, "uuid", g_strdup(call->detail_uuid));
    }
    if (call->detail_path != NULL)
        g_hash_table_insert(details, "path", g_strdup(call->detail_path));
    g_hash_table_insert(details, "verb", g_steal_pointer(&verb));
    return details;
}

static void
authorize(VbBusCall *call)
{
    g_autoptr(GHashTable) details = NULL;
    VbCaller *caller = call->caller;
    gboolean interactive;

    if (g_str_equal(call->action, VB_ACTION_READ)) {
        g_autofree char *verb = call_read_verb(call);

        /* a read passed before: on to the call's other checks (InterfaceAddresses' agent
         * source needs attach as well), never straight to the run */
        if (vb_bus_caller_read_allowed(call->service, caller->sender, call_path(call), verb)) {
            allowed(call);
            return;
        }
    }
    /* root (or the service's uid without polkit): the answer is known, so the call goes
     * on in this iteration rather than through the GTask's idle (issue 16) */
    if (vb_auth_is_unconditional(call->service->auth, caller)) {
        passed(call);
        return;
    }
    interactive = call->invocation != NULL
                      ? (g_dbus_message_get_flags(g_dbus_method_invocation_get_message(
                             call->invocation)) &
                         G_DBUS_MESSAGE_FLAGS_ALLOW_INTERACTIVE_AUTHORIZATION) != 0
                      : (g_dbus_message_get_flags(call->message) &
                         G_DBUS_MESSAGE_FLAGS_ALLOW_INTERACTIVE_AUTHORIZATION) != 0;
    details = auth_details(call);
    vb_auth_check_async(call->service->auth, caller, call->action, details, interactive, NULL,
                        auth_cb, call);
}

/* Main thread: back from a prepare function. */
static gboolean
authorize_on_main(gpointer data)
{
    authorize(data);
    return G_SOURCE_REMOVE;
}

/* Main thread: back from a load function: the second round of checks. */
static gboolean
loaded_on_main(gpointer data)
{
    VbBusCall *call = data;

    if (call->load_error != NULL) {
        g_autoptr(GError) error = g_steal_pointer(&call->load_error);

        call_reply(call, NULL, error);
        return G_SOURCE_REMOVE;
    }
    authorize(call);
    return G_SOURCE_REMOVE;
}

static void
caller_ready(VbCaller *caller, GError *error, gpointer user_data)
{
    VbBusCall *call = user_data;

    if (error != NULL) {
        call_reply(call, NULL, error);
        return;
    }
    call->caller = vb_caller_ref(caller);
    /* root never needs details: skip the prepare step */
    if (call->method->prepare != NULL && caller->uid != 0) {
        call->step = VB_BUS_STEP_PREPARE;
        g_thread_pool_push(call->service->workers, call, NULL);
        return;
    }
    authorize(call);
}

/**
 * vb_bus_dispatch:
 * @method: the table entry of the called method
 * @invocation: (transfer full) (nullable): the call, or
 * @message: (transfer full) (nullable): a raw method call message taken
 *   from the connection filter
 * @parameters: (transfer none): the call's arguments
 * @dom: (transfer none) (nullable): the target domain
 *
 * Starts a call on its way. Main thread.
 */
static void
dispatch_call(VbBusCall *call)
{
    const char *sender;

    sender = call->invocation != NULL ? g_dbus_method_invocation_get_sender(call->invocation)
                                      : g_dbus_message_get_sender(call->message);
    if (sender == NULL) {
        g_autoptr(GError) error = g_error_new_literal(VB_ERROR, VB_ERROR_NOT_AUTHORIZED,
                                                      "calls must come through the bus");

        call_reply(call, NULL, error);
        return;
    }
    vb_bus_caller_lookup(call->service, sender, caller_ready, call);
}

static VbBusCall *
call_new(VbBusService *service, const VbBusMethod *method, GDBusMethodInvocation *invocation,
         GDBusMessage *message, GVariant *parameters)
{
    VbBusCall *call = g_new0(VbBusCall, 1);

    call->t_new = g_get_monotonic_time();
    call->service = service;
    call->method = method;
    call->invocation = invocation;
    call->message = message;
    call->parameters = g_variant_ref_sink(parameters);
    call->action = method->action;
    call->also_action = method->also_action;
    if (method->path_detail)
        g_variant_get_child(call->parameters, 0, "s", &call->detail_path);
    return call;
}

/* The actions a domain method needs besides its own, from its arguments. */
static void
dispatch_domain_call(VbBusCall *call)
{
    const VbBusMethod *method = call->method;
    GVariant *parameters = call->parameters;

    /* GetXMLDesc(SECURE) reveals secrets: it needs the define action */
    if (g_str_equal(method->method, "GetXMLDesc")) {
        guint32 flags = 0;

        g_variant_get(parameters, "(u)", &flags);
        if (flags & 1)
            call->action = VB_ACTION_DEFINE;
    }
    /* Save with an XML records a definition that a restore will run: define too */
    if (g_str_equal(method->method, "Save")) {
        const char *xml = NULL;

        g_variant_get_child(parameters, 1, "&s", &xml);
        if (*xml != '\0')
            call->also_action = VB_ACTION_DEFINE;
    }
    /* so does a migration that writes a definition the caller brings: Finish making the
     * cookie's definition persistent (or defining it, OFFLINE), a peer-to-peer Migrate with
     * its own destination or persistent XML (the source service hands it on as root) */
    if (g_str_equal(method->method, "MigrateFinish")) {
        guint32 flags = 0;

        g_variant_get_child(parameters, 1, "u", &flags);
        if (flags & (VB_MIGRATE_PERSIST_DEST | VB_MIGRATE_OFFLINE))
            call->also_action = VB_ACTION_DEFINE;
    }
    /* InterfaceAddresses from the guest agent talks to the guest: libvirt's ACL asks
     * domain:write for that source (remote_protocol.x), ours the attach action */
    if (g_str_equal(method->method, "InterfaceAddresses")) {
        guint32 source = 0;

        g_variant_get_child(parameters, 0, "u", &source);
        if (source == 1)
            call->also_action = VB_ACTION_ATTACH;
    }
    /* issue 14, part cgroup: a tuning change of the persistent definition is a define */
    if (g_str_equal(method->method, "SetMemoryParameters") ||
        g_str_equal(method->method, "SetSchedulerParameters") ||
        g_str_equal(method->method, "SetBlkioParameters")) {
        guint32 flags = 0;

        g_variant_get_child(parameters, 1, "u", &flags);
        if (flags & 2)
            call->also_action = VB_ACTION_DEFINE;
    }
    if (g_str_equal(method->method, "Migrate")) {
        g_autoptr(GVariant) params = g_variant_get_child_value(parameters, 1);
        g_autoptr(GVariant) dest_xml = g_variant_lookup_value(params, "destination_xml", NULL);
        g_autoptr(GVariant) persistent = g_variant_lookup_value(params, "persistent_xml", NULL);

        if (dest_xml != NULL || persistent != NULL)
            call->also_action = VB_ACTION_DEFINE;
    }
    dispatch_call(call);
}

void
vb_bus_dispatch(VbBusService *service, const VbBusMethod *method,
                GDBusMethodInvocation *invocation, GDBusMessage *message, GVariant *parameters,
                VbDomainObj *dom)
{
    VbBusCall *call = call_new(service, method, invocation, message, parameters);

    call->dom = dom != NULL ? vb_domain_obj_ref(dom) : NULL;
    dispatch_domain_call(call);
}

/**
 * vb_bus_dispatch_domain:
 * @invocation: (transfer full) (nullable): the call, or
 * @message: (transfer full) (nullable): a raw message from the connection filter
 * @path: the domain's object path
 * @load: whether the method needs the domain object (a property read does not: it is
 *   answered from the published properties)
 *
 * As vb_bus_dispatch(), for the domain at @path: a domain kept as a stub (issue 16) is
 * named to polkit by its name and uuid, and loaded on a worker once the call passed its
 * checks; a domain that is not there gets NoDomain. Main thread.
 */
void
vb_bus_dispatch_domain(VbBusService *service, const VbBusMethod *method,
                       GDBusMethodInvocation *invocation, GDBusMessage *message,
                       GVariant *parameters, const char *path, gboolean load)
{
    g_autofree char *uuid = vb_bus_domain_path_to_uuid(path);
    g_autoptr(VbDomainObj) dom = uuid != NULL ? vb_domain_list_peek_by_uuid(service->domains,
                                                                           uuid)
                                              : NULL;
    VbDomainId id = { 0 };
    VbBusCall *call;

    if (dom != NULL) {
        vb_bus_dispatch(service, method, invocation, message, parameters, dom);
        return;
    }
    if (uuid == NULL || !vb_domain_list_identify(service->domains, NULL, uuid, &id, NULL)) {
        g_autoptr(GError) error = NULL;

        call = call_new(service, method, invocation, message, parameters);
        if (!vb_bus_vanished_error(path, &error))
            g_set_error(&error, VB_ERROR, VB_ERROR_NO_DOMAIN, "no domain at %s", path);
        call_reply(call, NULL, error);
        return;
    }
    call = call_new(service, method, invocation, message, parameters);
    call->detail_domain = g_steal_pointer(&id.name);
    call->detail_uuid = g_strdup(id.uuid_str);
    if (load)
        call->load_uuid = g_strdup(id.uuid_str);
    dispatch_domain_call(call);
}

/**
 * vb_bus_dispatch_network:
 * @net: (transfer none): the target network
 *
 * As vb_bus_dispatch(), for a method or property of a Network object: the
 * polkit details name the network ("network", "uuid"). Main thread.
 */
void
vb_bus_dispatch_network(VbBusService *service, const VbBusMethod *method,
                        GDBusMethodInvocation *invocation, GDBusMessage *message,
                        GVariant *parameters, VbNetworkObj *net)
{
    VbBusCall *call = call_new(service, method, invocation, message, parameters);

    call->net = vb_network_obj_ref(net);
    dispatch_call(call);
}

/**
 * vb_bus_dispatch_job:
 * @invocation: (transfer full) (nullable): the call, or
 * @message: (transfer full) (nullable): a property read of the Job object
 *   taken by the connection filter
 * @job: (transfer none): the Job object's record
 *
 * As vb_bus_dispatch(), for a method of a Job object: the polkit details
 * name the job's domain, and a migration's Cancel needs the migrate
 * action, a snapshot's the snapshot action, a block job's the manage action (as the
 * methods that start them; a save's, the save action). Main thread.
 */
void
vb_bus_dispatch_job(VbBusService *service, const VbBusMethod *method,
                    GDBusMethodInvocation *invocation, GDBusMessage *message,
                    GVariant *parameters, VbJob *job)
{
    VbBusCall *call = call_new(service, method, invocation, message, parameters);
    VbDomainId id = { 0 };
    VbJobInfo info = { 0 };

    vb_job_get_info(job, &info);
    call->job = vb_job_ref(job);
    call->detail_uuid = g_strdup(info.domain_uuid);
    /* never loads the domain: main thread */
    if (vb_domain_list_identify(service->domains, NULL, info.domain_uuid, &id, NULL))
        call->detail_domain = g_steal_pointer(&id.name);
    if (g_str_equal(call->action, VB_ACTION_SAVE) &&
        (info.type == VB_ASYNC_JOB_MIGRATION_OUT ||
         (info.type == VB_ASYNC_JOB_MIGRATION_IN && !g_str_equal(info.operation, "restore"))))
        call->action = VB_ACTION_MIGRATE;
    else if (g_str_equal(call->action, VB_ACTION_SAVE) && info.type == VB_ASYNC_JOB_SNAPSHOT)
        call->action = VB_ACTION_SNAPSHOT;
    else if (g_str_equal(call->action, VB_ACTION_SAVE) && info.type == VB_ASYNC_JOB_BLOCK)
        call->action = VB_ACTION_MANAGE;
    vb_job_info_clear(&info);
    dispatch_call(call);
}

/**
 * vb_bus_owner:
 *
 * Returns: (nullable): the bus name of the call's sender (a job's owner, AUTODESTROY)
 */
const char *
vb_bus_owner(VbBusCall *call)
{
    return call->caller != NULL ? call->caller->sender : NULL;
}

/**
 * vb_bus_job_reply:
 * @job: (transfer full) (nullable): the job a method started
 *
 * Returns: (transfer floating) (nullable): the reply "(o)" with the Job's path, or %NULL
 *   when @job is %NULL (the method's error is set)
 */
GVariant *
vb_bus_job_reply(VbJob *job)
{
    g_autofree char *path = NULL;

    if (job == NULL)
        return NULL;
    path = vb_bus_job_path(vb_job_get_id(job));
    vb_job_unref(job);
    return g_variant_new("(o)", path);
}

/**
 * vb_bus_check_flags:
 * @allowed: the flag bits @method knows
 *
 * Refuses unknown flag bits with InvalidArgument naming them. Any thread.
 */
gboolean
vb_bus_check_flags(guint32 flags, guint32 allowed, const char *method, GError **error)
{
    if ((flags & ~allowed) == 0)
        return TRUE;
    g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG, _("%s: unsupported flags 0x%x"), method,
                flags & ~allowed);
    return FALSE;
}

/* Returns: the entry of @table named @name, or %NULL. */
const VbBusMethod *
vb_bus_method_lookup(const VbBusMethod *table, gsize n, const char *name)
{
    for (gsize i = 0; i < n; i++) {
        if (g_str_equal(table[i].method, name))
            return &table[i];
    }
    return NULL;
}
