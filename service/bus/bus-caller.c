/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <string.h>

#include "bus-service.h"
#include "vb-error.h"

/*
 * Credentials of callers, asked once per unique bus name from the bus
 * daemon (GetConnectionCredentials) and forgotten when the name leaves
 * the bus. Also remembers which read checks a caller passed, per object
 * and verb ("the read check of `get` on /org/virtbus/Virt1/domain/U"): the
 * question polkit answered is a function of the object (its domain's name
 * and uuid, which never change while the object is on the bus) and the
 * verb, so a repeated read costs no polkit round trip, while a rule that
 * limits reads by domain is asked about every other domain. Entries of an
 * object go when it leaves the bus (vb_bus_callers_forget_path()). Callers
 * every check passes for (root, or the service's own uid without polkit:
 * vb_auth_is_unconditional()) share one set (service->shared_reads): per
 * caller, those entries grew with every object each client read, objects x
 * verbs x clients (RSS grew all through the load test). The first read of an
 * object still goes through the check, which also names a vanished object
 * (Error.NoDomain rather than GDBus's UnknownMethod).
 */
typedef struct {
    VbCaller *caller;
    gboolean unconditional; /* its checks are recorded in service->shared_reads */
    GHashTable *reads;      /* "path\nverb" of read checks passed */
} VbCallerEntry;

/* Under callers_lock: where @e's passed read checks are recorded. */
static GHashTable *
reads_of(VbBusService *service, VbCallerEntry *e)
{
    return e->unconditional ? service->shared_reads : e->reads;
}

static void
caller_entry_free(VbCallerEntry *e)
{
    vb_caller_unref(e->caller);
    g_hash_table_destroy(e->reads);
    g_free(e);
}

static char *
read_key(const char *path, const char *verb)
{
    return g_strconcat(path, "\n", verb, NULL);
}

typedef struct {
    VbBusService *service;
    char *sender;
    VbCallerReady ready;
    gpointer user_data;
} LookupData;

static void
credentials_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
    LookupData *ld = user_data;
    g_autoptr(GError) error = NULL;
    g_autoptr(GVariant) reply = NULL;
    g_autoptr(GVariant) dict = NULL;
    g_autoptr(VbCaller) caller = NULL;
    guint32 uid = G_MAXUINT32, pid = 0;
    VbCallerEntry *e;

    reply = g_dbus_connection_call_finish(G_DBUS_CONNECTION(source), res, &error);
    if (reply != NULL) {
        dict = g_variant_get_child_value(reply, 0);
        if (!g_variant_lookup(dict, "UnixUserID", "u", &uid))
            g_set_error(&error, VB_ERROR, VB_ERROR_NOT_AUTHORIZED,
                        "the bus does not know the uid of '%s'", ld->sender);
        g_variant_lookup(dict, "ProcessID", "u", &pid);
    }
    if (error != NULL) {
        g_prefix_error(&error, "cannot identify caller %s: ", ld->sender);
        vb_error_convert(&error);
        ld->ready(NULL, error, ld->user_data);
    } else {
        caller = vb_caller_new(ld->sender, (uid_t)uid, (pid_t)pid);
        g_mutex_lock(&ld->service->callers_lock);
        if (!g_hash_table_contains(ld->service->callers, ld->sender)) {
            e = g_new0(VbCallerEntry, 1);
            e->caller = vb_caller_ref(caller);
            e->unconditional = vb_auth_is_unconditional(ld->service->auth, caller);
            e->reads = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
            g_hash_table_insert(ld->service->callers, g_strdup(ld->sender), e);
        }
        g_mutex_unlock(&ld->service->callers_lock);
        ld->ready(caller, NULL, ld->user_data);
    }
    g_free(ld->sender);
    g_free(ld);
}

/**
 * vb_bus_caller_lookup:
 * @sender: unique bus name of the caller
 * @ready: called on the main thread with the caller or an error
 *
 * Main thread.
 */
void
vb_bus_caller_lookup(VbBusService *service, const char *sender, VbCallerReady ready,
                     gpointer user_data)
{
    g_autoptr(VbCaller) caller = NULL;
    VbCallerEntry *e;
    LookupData *ld;

    g_mutex_lock(&service->callers_lock);
    e = g_hash_table_lookup(service->callers, sender);
    if (e != NULL)
        caller = vb_caller_ref(e->caller);
    g_mutex_unlock(&service->callers_lock);
    if (caller != NULL) {
        ready(caller, NULL, user_data);
        return;
    }

    ld = g_new0(LookupData, 1);
    ld->service = service;
    ld->sender = g_strdup(sender);
    ld->ready = ready;
    ld->user_data = user_data;
    g_dbus_connection_call(service->connection, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                           "org.freedesktop.DBus", "GetConnectionCredentials",
                           g_variant_new("(s)", sender), G_VARIANT_TYPE("(a{sv})"),
                           G_DBUS_CALL_FLAGS_NONE, -1, NULL, credentials_cb, ld);
}

/**
 * vb_bus_caller_read_allowed:
 * @sender: (nullable): unique bus name of the caller
 * @path: the object read
 * @verb: the verb of the read check (the method name in lower case)
 *
 * Whether @sender already passed the read check of @verb on @path. Any
 * thread (also the GDBus worker thread, from the connection filter).
 */
gboolean
vb_bus_caller_read_allowed(VbBusService *service, const char *sender, const char *path,
                           const char *verb)
{
    g_autofree char *key = NULL;
    VbCallerEntry *e;
    gboolean allowed;

    if (sender == NULL || path == NULL)
        return FALSE;
    key = read_key(path, verb);
    g_mutex_lock(&service->callers_lock);
    e = g_hash_table_lookup(service->callers, sender);
    allowed = e != NULL && g_hash_table_contains(reads_of(service, e), key);
    g_mutex_unlock(&service->callers_lock);
    return allowed;
}

/**
 * vb_bus_caller_set_read_allowed:
 *
 * Remembers that @sender passed the read check of @verb on @path. Any thread.
 */
void
vb_bus_caller_set_read_allowed(VbBusService *service, const char *sender, const char *path,
                               const char *verb)
{
    VbCallerEntry *e;

    if (path == NULL)
        return;
    g_mutex_lock(&service->callers_lock);
    e = g_hash_table_lookup(service->callers, sender);
    if (e != NULL)
        g_hash_table_add(reads_of(service, e), read_key(path, verb));
    g_mutex_unlock(&service->callers_lock);
}

static gboolean
key_has_path(gpointer key, gpointer value, gpointer user_data)
{
    const char *k = key, *path = user_data;
    gsize len = strlen(path);

    return strncmp(k, path, len) == 0 && k[len] == '\n';
}

/**
 * vb_bus_callers_forget_path:
 * @path: an object that leaves the bus
 *
 * Drops every remembered read check of @path: an object later exported at
 * the same path (a domain defined again) is asked about anew. Main thread.
 */
void
vb_bus_callers_forget_path(VbBusService *service, const char *path)
{
    GHashTableIter iter;
    VbCallerEntry *e;

    if (service->callers == NULL)
        return;
    g_mutex_lock(&service->callers_lock);
    g_hash_table_iter_init(&iter, service->callers);
    while (g_hash_table_iter_next(&iter, NULL, (gpointer *)&e))
        g_hash_table_foreach_remove(e->reads, key_has_path, (gpointer)path);
    g_hash_table_foreach_remove(service->shared_reads, key_has_path, (gpointer)path);
    g_mutex_unlock(&service->callers_lock);
}

static void
name_owner_changed(GDBusConnection *connection, const char *sender_name,
                   const char *object_path, const char *interface_name,
                   const char *signal_name, GVariant *parameters, gpointer user_data)
{
    VbBusService *service = user_data;
    const char *name, *old_owner, *new_owner;

    if (!g_variant_is_of_type(parameters, G_VARIANT_TYPE("(sss)")))
        return;
    g_variant_get(parameters, "(&s&s&s)", &name, &old_owner, &new_owner);
    if (name[0] != ':' || new_owner[0] != '\0')
        return;
    g_mutex_lock(&service->callers_lock);
    g_hash_table_remove(service->callers, name);
    g_mutex_unlock(&service->callers_lock);
}

/**
 * vb_bus_callers_watch:
 *
 * Starts forgetting callers when they leave the bus. Main thread, once.
 */
void
vb_bus_callers_watch(VbBusService *service)
{
    service->callers = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                             (GDestroyNotify)caller_entry_free);
    service->shared_reads = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    service->name_owner_sub = g_dbus_connection_signal_subscribe(
        service->connection, "org.freedesktop.DBus", "org.freedesktop.DBus",
        "NameOwnerChanged", "/org/freedesktop/DBus", NULL, G_DBUS_SIGNAL_FLAGS_NONE,
        name_owner_changed, service, NULL);
}
