/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include "bus-service.h"

/*
 * Autodestroy: one bus-name watch per owner, shared by that owner's
 * domains (refcounted). It is set up when a domain's AutodestroyOwner is
 * published — before the reply of the Start that set it — so a caller
 * that is already gone is seen at once ("vanished" fires on a name that
 * has no owner). On vanish, the owner's domains are destroyed on a worker
 * thread (destroy kills QEMU first, so a stuck job does not block it).
 * Main thread only.
 */

typedef struct {
    guint watch_id;
    guint refs;
} OwnerWatch;

typedef struct {
    VbBusService *service;
    char *owner;
} GoneTask;

static void
gone_run(gpointer data, gpointer user_data)
{
    GoneTask *t = data;
    guint n = vb_domain_autodestroy_owner_gone(t->service->domains, t->owner);

    g_message("autodestroy: %s left the bus; destroyed %u domain%s", t->owner, n,
              n == 1 ? "" : "s");
    g_free(t->owner);
    g_free(t);
}

static void
name_vanished(GDBusConnection *connection, const char *name, gpointer user_data)
{
    VbBusService *service = user_data;
    GoneTask *t = g_new0(GoneTask, 1);

    t->service = service;
    t->owner = g_strdup(name);
    g_thread_pool_push(service->aux_pool, t, NULL);
}

static void
owner_watch_free(OwnerWatch *w)
{
    g_bus_unwatch_name(w->watch_id);
    g_free(w);
}

/* Starts watching @owner for one more domain. */
void
vb_bus_autodestroy_add(VbBusService *service, const char *owner)
{
    OwnerWatch *w = g_hash_table_lookup(service->autodestroy, owner);

    if (w == NULL) {
        w = g_new0(OwnerWatch, 1);
        g_hash_table_insert(service->autodestroy, g_strdup(owner), w);
        w->watch_id = g_bus_watch_name_on_connection(service->connection, owner,
                                                     G_BUS_NAME_WATCHER_FLAGS_NONE, NULL,
                                                     name_vanished, service, NULL);
    }
    w->refs++;
}

/* One domain less watches @owner. */
void
vb_bus_autodestroy_remove(VbBusService *service, const char *owner)
{
    OwnerWatch *w = g_hash_table_lookup(service->autodestroy, owner);

    if (w != NULL && --w->refs == 0)
        g_hash_table_remove(service->autodestroy, owner);
}

void
vb_bus_autodestroy_init(VbBusService *service)
{
    service->autodestroy = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                                 (GDestroyNotify)owner_watch_free);
    service->aux_pool = g_thread_pool_new(gone_run, NULL, 2, FALSE, NULL);
}

void
vb_bus_autodestroy_fini(VbBusService *service)
{
    if (service->aux_pool != NULL)
        g_thread_pool_free(service->aux_pool, FALSE, TRUE);
    if (service->autodestroy != NULL)
        g_hash_table_destroy(service->autodestroy);
}
