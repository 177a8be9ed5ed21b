/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include "bus-service.h"
#include "vb-error.h"

/*
 * Answers that list objects (GetManagedObjects, ListDomains) hold only the
 * objects the caller may read: one read check per object, naming its
 * domain, so a polkit rule that limits reads by domain holds for lists too
 * (libvirt filters its lists by ACL the same way). Checks passed are
 * remembered like any read check (per caller, object and verb); root and
 * the service's own uid without polkit are never asked.
 */

typedef struct {
    VbBusCall *call;
    char *verb;
    GHashTable *readable; /* paths */
    guint pending;
    VbBusReadableDone done;
    gpointer user_data;
} Filter;

typedef struct {
    Filter *filter;
    char *path;
} Check;

static void
filter_step_done(Filter *f)
{
    if (--f->pending > 0)
        return;
    f->done(f->call, f->readable, f->user_data);
    g_hash_table_destroy(f->readable);
    g_free(f->verb);
    g_free(f);
}

static void
check_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
    Check *c = user_data;
    Filter *f = c->filter;
    VbBusService *service = f->call->service;
    g_autoptr(GError) error = NULL;

    if (vb_auth_check_finish(service->auth, res, &error)) {
        vb_bus_caller_set_read_allowed(service, f->call->caller->sender, c->path, f->verb);
        g_hash_table_add(f->readable, g_steal_pointer(&c->path));
    } else {
        g_debug("%s of %s leaves out %s: %s", f->call->method->method, f->call->caller->sender,
                c->path, error->message);
    }
    g_free(c->path);
    g_free(c);
    filter_step_done(f);
}

/**
 * vb_bus_call_filters_reads:
 *
 * Whether the answer to @call must be filtered with vb_bus_filter_readable()
 * (its caller is one that polkit decides about). Main thread.
 */
gboolean
vb_bus_call_filters_reads(VbBusCall *call)
{
    return call->caller != NULL && !vb_auth_is_unconditional(call->service->auth, call->caller);
}

/**
 * vb_bus_filter_readable:
 * @verb: the verb of the checks (the method name in lower case)
 * @objects: (transfer full): object path → (GHashTable of polkit details
 *   "domain", "uuid"; the verb is added here)
 * @done: called once, on the main thread, with the set of readable paths
 *   (owned by the filter: valid during the call only); it answers @call
 *
 * Main thread. @done may run before this returns (when every check is
 * remembered).
 */
void
vb_bus_filter_readable(VbBusCall *call, const char *verb, GHashTable *objects,
                       VbBusReadableDone done, gpointer user_data)
{
    g_autoptr(GHashTable) owned = objects;
    VbBusService *service = call->service;
    Filter *f = g_new0(Filter, 1);
    GHashTableIter iter;
    gpointer key, value;

    f->call = call;
    f->verb = g_strdup(verb);
    f->readable = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    f->done = done;
    f->user_data = user_data;
    f->pending = 1; /* until every check is started */
    g_hash_table_iter_init(&iter, objects);
    while (g_hash_table_iter_next(&iter, &key, &value)) {
        GHashTable *details = value;
        Check *c;

        if (vb_bus_caller_read_allowed(service, call->caller->sender, key, verb)) {
            g_hash_table_add(f->readable, g_strdup(key));
            continue;
        }
        g_hash_table_insert(details, "verb", g_strdup(verb));
        c = g_new0(Check, 1);
        c->filter = f;
        c->path = g_strdup(key);
        f->pending++;
        vb_auth_check_async(service->auth, call->caller, VB_ACTION_READ, details, FALSE, NULL,
                            check_cb, c);
    }
    filter_step_done(f);
}

/**
 * vb_bus_read_details_new:
 * @name: (nullable): the domain an object belongs to
 * @uuid: (nullable): its uuid
 *
 * Returns: (transfer full): polkit details naming the domain, for
 *   vb_bus_filter_readable(). Any thread.
 */
GHashTable *
vb_bus_read_details_new(const char *name, const char *uuid)
{
    GHashTable *details = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, g_free);

    if (name != NULL)
        g_hash_table_insert(details, "domain", g_strdup(name));
    if (uuid != NULL)
        g_hash_table_insert(details, "uuid", g_strdup(uuid));
    return details;
}

/**
 * vb_bus_read_details_of:
 * @dom: (nullable): a domain
 *
 * Returns: (transfer full): vb_bus_read_details_new() of @dom. Any thread.
 */
GHashTable *
vb_bus_read_details_of(VbDomainObj *dom)
{
    g_autofree char *name = dom != NULL ? vb_domain_obj_get_name(dom) : NULL;

    return vb_bus_read_details_new(name, dom != NULL ? dom->uuid_str : NULL);
}
