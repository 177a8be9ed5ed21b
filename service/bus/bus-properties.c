/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <string.h>

#include "bus-errors.h"
#include "bus-names.h"
#include "bus-service.h"
#include "bus-skeleton.h"
#include "vb-error.h"
#include "vb-objects-writer.h"

/*
 * Property access goes through polkit too: reads need
 * org.virtbus.Virt1.read and writes their method's action. GDBus answers
 * Properties.Get/GetAll/Set and GetManagedObjects itself, synchronously, so
 * a connection filter takes those messages first: a Get or GetAll from a
 * caller that has already passed the read check of the object is answered
 * by the filter itself, on GDBus's worker thread, from the skeleton's
 * cached values (the common, fast path: no hop to the main thread and back,
 * as for Peer.Ping); others, and every write, are answered here after an
 * asynchronous authorization.
 */

#define PROPERTIES_IFACE "org.freedesktop.DBus.Properties"
#define OBJECT_MANAGER_IFACE "org.freedesktop.DBus.ObjectManager"

static GDBusInterfaceSkeleton *
find_interface(VbBusService *service, const char *path, const char *iface, GError **error)
{
    GDBusObject *object;
    GDBusInterface *found = NULL;

    if (g_str_equal(path, VB_BUS_MANAGER_PATH) && g_str_equal(iface, VB_BUS_MANAGER_IFACE))
        return G_DBUS_INTERFACE_SKELETON(g_object_ref(service->manager));
    object = g_hash_table_lookup(service->domain_objects, path);
    if (object == NULL && vb_bus_vanished_error(path, error))
        return NULL;
    if (object != NULL)
        found = g_dbus_object_get_interface(object, iface);
    if (found == NULL) {
        g_set_error(error, VB_ERROR, VB_ERROR_NO_DOMAIN, "no interface %s at %s", iface, path);
        return NULL;
    }
    return G_DBUS_INTERFACE_SKELETON(found);
}

/* A domain's published properties (bus-domain-export.c), or NULL and @error set.
 * Returns FALSE (and nothing set) when @path is no domain's kind of path. */
static gboolean
domain_props(VbBusService *service, const char *path, const char *iface, GVariant **out,
             GError **error)
{
    g_autoptr(GVariant) props = vb_bus_domain_export_props(service, path);

    *out = NULL;
    if (props == NULL)
        return FALSE;
    if (!g_str_equal(iface, VB_BUS_DOMAIN_IFACE)) {
        g_set_error(error, VB_ERROR, VB_ERROR_NO_DOMAIN, "no interface %s at %s", iface, path);
        return TRUE;
    }
    *out = g_steal_pointer(&props);
    return TRUE;
}

static GVariant *
props_get_all(VbBusCall *call, GError **error)
{
    const char *iface;
    g_autoptr(GDBusInterfaceSkeleton) skel = NULL;
    g_autoptr(GVariant) all = NULL;

    g_variant_get(call->parameters, "(&s)", &iface);
    if (domain_props(call->service, g_dbus_message_get_path(call->message), iface, &all,
                     error))
        return all != NULL ? g_variant_new_tuple(&all, 1) : NULL;
    skel = find_interface(call->service, g_dbus_message_get_path(call->message), iface, error);
    if (skel == NULL)
        return NULL;
    /* (transfer full), not floating: a container takes a reference of its own */
    all = g_dbus_interface_skeleton_get_properties(skel);
    return g_variant_new_tuple(&all, 1);
}

static GVariant *
props_get(VbBusCall *call, GError **error)
{
    const char *iface, *name;
    g_autoptr(GDBusInterfaceSkeleton) skel = NULL;
    g_autoptr(GVariant) all = NULL;
    g_autoptr(GVariant) value = NULL;

    g_variant_get(call->parameters, "(&s&s)", &iface, &name);
    if (domain_props(call->service, g_dbus_message_get_path(call->message), iface, &all,
                     error)) {
        if (all == NULL)
            return NULL;
    } else {
        skel = find_interface(call->service, g_dbus_message_get_path(call->message), iface,
                              error);
        if (skel == NULL)
            return NULL;
        /* (transfer full) already: a g_variant_ref_sink() here would leak it */
        all = g_dbus_interface_skeleton_get_properties(skel);
    }
    value = g_variant_lookup_value(all, name, NULL);
    if (value == NULL) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG, "no property %s on %s", name, iface);
        return NULL;
    }
    return g_variant_new("(v)", value);
}

/* Returns: (transfer none): the interfaces and properties of one domain
 * object, kept in serialized form until the object next changes. */
static GVariant *
object_entry(VbBusService *service, const char *path, GDBusObject *object)
{
    GVariant *cached = g_hash_table_lookup(service->object_cache, path);
    GList *ifaces;
    GVariantBuilder b;

    if (cached != NULL)
        return cached;
    ifaces = g_dbus_object_get_interfaces(object);
    g_variant_builder_init(&b, G_VARIANT_TYPE("a{sa{sv}}"));
    for (GList *l = ifaces; l != NULL; l = l->next) {
        GDBusInterfaceSkeleton *skel = l->data;
        /* (transfer full), not floating: the builder takes a reference of its own */
        g_autoptr(GVariant) props = g_dbus_interface_skeleton_get_properties(skel);

        g_variant_builder_add(&b, "{s@a{sv}}", g_dbus_interface_skeleton_get_info(skel)->name,
                              props);
    }
    g_list_free_full(ifaces, g_object_unref);
    cached = g_variant_ref_sink(g_variant_builder_end(&b));
    /* One flat buffer of ~1 KB instead of a tree of GVariants (~10 KB a
     * domain; g_variant_get_normal_form() keeps a trusted tree as it is):
     * serializing a tree replaces its children with their bytes, now, while
     * they are the only short-lived GVariants, not at the first reply. */
    (void)g_variant_get_data(cached);
    g_hash_table_insert(service->object_cache, g_strdup(path), cached);
    return cached;
}

/* The reply, of the objects for which @include says yes (all when NULL). */
static GVariant *
managed_objects_reply(VbBusService *service, GHashTable *include)
{
    g_autoptr(GPtrArray) domains = vb_bus_domain_exports_snapshot(service);
    VbObjectsWriter *w;
    GHashTableIter iter;
    gpointer key, value;
    gsize size = 0;

    /* Two passes: the cache is filled (and the reply's size summed) before
     * the reply's buffer is taken, so it never sits between long-lived
     * entries and the heap can give it back. */
    g_hash_table_iter_init(&iter, service->domain_objects);
    while (g_hash_table_iter_next(&iter, &key, &value)) {
        if (include == NULL || g_hash_table_contains(include, key))
            size += vb_objects_writer_entry_size(
                key, object_entry(service, key, G_DBUS_OBJECT(value)));
    }
    for (guint i = 0; i < domains->len; i++) {
        const VbBusDomainExported *x = g_ptr_array_index(domains, i);

        if (include == NULL || g_hash_table_contains(include, x->path))
            size += vb_objects_writer_entry_size_one(x->path, VB_BUS_DOMAIN_IFACE,
                                                     x->props);
    }

    /* the body in serialized form, one buffer, no GVariant per object:
     * GDBus walks it child by child, each freed before the next; a domain's
     * entry is written around its published properties as they are */
    w = vb_objects_writer_new(size);
    g_hash_table_iter_init(&iter, service->domain_objects);
    while (g_hash_table_iter_next(&iter, &key, &value)) {
        if (include == NULL || g_hash_table_contains(include, key))
            vb_objects_writer_add(w, key, g_hash_table_lookup(service->object_cache, key));
    }
    for (guint i = 0; i < domains->len; i++) {
        const VbBusDomainExported *x = g_ptr_array_index(domains, i);

        if (include == NULL || g_hash_table_contains(include, x->path))
            vb_objects_writer_add_one(w, x->path, VB_BUS_DOMAIN_IFACE, x->props);
    }
    return vb_objects_writer_end(w);
}

/* Main thread: the details naming the domain of @object (a job's domain). */
static GHashTable *
object_details(VbBusService *service, GDBusObject *object)
{
    g_autoptr(VbDBusJob) job = vb_dbus_object_get_job(VB_DBUS_OBJECT(object));
    VbDomainId id = { 0 };
    VbJobInfo info = { 0 };
    GHashTable *details;

    g_autoptr(VbDBusNetwork) net = vb_dbus_object_get_network(VB_DBUS_OBJECT(object));
    /* issue 15, part snapbus: a snapshot is read as its domain */
    g_autoptr(VbDBusSnapshot) snap = vb_dbus_object_get_snapshot(VB_DBUS_OBJECT(object));

    if (snap != NULL)
        return vb_bus_read_details_of(vb_bus_snapshot_skeleton_get_domain(snap));
    if (net != NULL) {
        VbNetworkObj *n = vb_bus_network_skeleton_get_network(net);

        details = vb_bus_read_details_new(NULL, NULL);
        g_hash_table_insert(details, "network", vb_network_obj_get_name(n));
        g_hash_table_insert(details, "uuid", g_strdup(n->uuid_str));
        return details;
    }
    if (job == NULL)
        return vb_bus_read_details_new(NULL, NULL);
    vb_job_get_info(vb_bus_job_skeleton_get_job(job), &info);
    /* never loads the domain: main thread */
    vb_domain_list_identify(service->domains, NULL, info.domain_uuid, &id, NULL);
    details = vb_bus_read_details_new(id.name, info.domain_uuid);
    g_free(id.name);
    vb_job_info_clear(&info);
    return details;
}

static void
objects_readable(VbBusCall *call, GHashTable *readable, gpointer user_data)
{
    vb_bus_call_return(call, managed_objects_reply(call->service, readable), NULL);
}

/*
 * ObjectManager.GetManagedObjects, answered here rather than by GDBus:
 * GDBus rebuilds every property of every object as a tree of GVariants
 * on each call (for 10,000 domains, hundreds of MB of short-lived
 * allocations that the heap keeps); this serves each object from its
 * cached serialized form. A caller polkit decides about gets only the
 * objects it may read (one read check per object, each remembered as
 * property reads are): a rule that limits reads by domain holds here too.
 */
static GVariant *
get_managed_objects(VbBusCall *call, GError **error)
{
    GHashTable *objects;
    GHashTableIter iter;
    gpointer key, value;

    if (!vb_bus_call_filters_reads(call))
        return managed_objects_reply(call->service, NULL);
    objects = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                    (GDestroyNotify)g_hash_table_unref);
    g_hash_table_iter_init(&iter, call->service->domain_objects);
    while (g_hash_table_iter_next(&iter, &key, &value))
        g_hash_table_insert(objects, g_strdup(key),
                            object_details(call->service, G_DBUS_OBJECT(value)));
    {
        g_autoptr(GPtrArray) domains = vb_bus_domain_exports_snapshot(call->service);

        for (guint i = 0; i < domains->len; i++) {
            const VbBusDomainExported *x = g_ptr_array_index(domains, i);

            g_autoptr(GVariant) name = g_variant_lookup_value(x->props, "Name",
                                                              G_VARIANT_TYPE_STRING);
            g_autoptr(GVariant) uuid = g_variant_lookup_value(x->props, "UUID",
                                                              G_VARIANT_TYPE_STRING);

            g_hash_table_insert(objects, g_strdup(x->path),
                                vb_bus_read_details_new(
                                    name != NULL ? g_variant_get_string(name, NULL) : NULL,
                                    uuid != NULL ? g_variant_get_string(uuid, NULL) : NULL));
        }
    }
    vb_bus_filter_readable(call, "getmanagedobjects", objects, objects_readable, NULL);
    return NULL; /* kept: answered when the checks are done */
}

static const VbBusMethod property_methods[] = {
    { "Get", VB_ACTION_READ, TRUE, props_get },
    { "GetAll", VB_ACTION_READ, TRUE, props_get_all },
    { "GetManagedObjects", VB_ACTION_READ, TRUE, get_managed_objects, NULL, TRUE },
};

typedef struct {
    VbBusService *service;
    GDBusMessage *message;
} Stolen;

static void
reply_error_message(VbBusService *service, GDBusMessage *message, const char *name,
                    const char *text)
{
    g_autoptr(GDBusMessage) reply = g_dbus_message_new_method_error_literal(message, name, text);

    g_dbus_connection_send_message(service->connection, reply, G_DBUS_SEND_MESSAGE_FLAGS_NONE,
                                   NULL, NULL);
}

/*
 * Answers a call on a path where no object is exported with the named error
 * of its kind (vb_bus_vanished_error()). Any thread. Returns: FALSE (nothing
 * sent) when the path names no kind of object of the service.
 */
static gboolean
reply_vanished(GDBusConnection *connection, GDBusMessage *message)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(GDBusMessage) reply = NULL;

    if (!vb_bus_vanished_error(g_dbus_message_get_path(message), &error))
        return FALSE;
    if ((g_dbus_message_get_flags(message) & G_DBUS_MESSAGE_FLAGS_NO_REPLY_EXPECTED) != 0)
        return TRUE;
    reply = g_dbus_message_new_method_error_literal(message, vb_bus_error_name(error->code),
                                                    error->message);
    g_dbus_connection_send_message(connection, reply, G_DBUS_SEND_MESSAGE_FLAGS_NONE, NULL,
                                   NULL);
    return TRUE;
}

/* Set: the Domain interface's writable properties, after authorization. */
static void
handle_set(VbBusService *service, GDBusMessage *msg, GVariant *body)
{
    const char *path = g_dbus_message_get_path(msg);
    GDBusObject *object = g_hash_table_lookup(service->domain_objects, path);
    gboolean domain = vb_bus_domain_export_exists(service, path);
    g_autofree char *set_name = NULL;
    const VbBusMethod *m;
    const char *iface, *prop;

    if (object == NULL && !domain && reply_vanished(service->connection, msg))
        return;
    g_variant_get(body, "(&s&sv)", &iface, &prop, NULL);
    set_name = g_strconcat("Set:", prop, NULL);
    if (object != NULL && g_str_equal(iface, VB_BUS_NETWORK_IFACE)) {
        g_autoptr(VbDBusNetwork) net = vb_dbus_object_get_network(VB_DBUS_OBJECT(object));

        m = vb_bus_method_lookup(vb_bus_network_methods, vb_bus_network_n_methods, set_name);
        if (net == NULL || m == NULL) {
            reply_error_message(service, msg, "org.freedesktop.DBus.Error.PropertyReadOnly",
                                "property is not writable or does not exist");
            return;
        }
        vb_bus_dispatch_network(service, m, NULL, g_object_ref(msg), body,
                                vb_bus_network_skeleton_get_network(net));
        return;
    }
    m = vb_bus_method_lookup(vb_bus_domain_methods, vb_bus_domain_n_methods, set_name);
    /* only a domain has the Domain interface: nothing on a Job is writable */
    if (!domain || !g_str_equal(iface, VB_BUS_DOMAIN_IFACE) || m == NULL) {
        reply_error_message(service, msg, "org.freedesktop.DBus.Error.PropertyReadOnly",
                            "property is not writable or does not exist");
        return;
    }
    vb_bus_dispatch_domain(service, m, NULL, g_object_ref(msg), body, path, TRUE);
}

/*
 * Get, GetAll, GetManagedObjects: the read check names the domain of the
 * object read (a Job object's domain for a job), so that rules can limit
 * reads by domain.
 */
static void
handle_read(VbBusService *service, GDBusMessage *msg, GVariant *body, const VbBusMethod *m)
{
    const char *path = g_dbus_message_get_path(msg);
    GDBusObject *object = g_hash_table_lookup(service->domain_objects, path);
    g_autoptr(VbDBusJob) job = NULL;
    g_autoptr(VbDBusNetwork) net = NULL;
    g_autoptr(VbDBusSnapshot) snap = NULL; /* issue 15, part snapbus */

    if (object != NULL) {
        snap = vb_dbus_object_get_snapshot(VB_DBUS_OBJECT(object));
        job = vb_dbus_object_get_job(VB_DBUS_OBJECT(object));
        net = vb_dbus_object_get_network(VB_DBUS_OBJECT(object));
    }
    if (snap != NULL)
        vb_bus_dispatch(service, m, NULL, g_object_ref(msg), body,
                        vb_bus_snapshot_skeleton_get_domain(snap));
    else if (net != NULL)
        vb_bus_dispatch_network(service, m, NULL, g_object_ref(msg), body,
                                vb_bus_network_skeleton_get_network(net));
    else if (job != NULL)
        vb_bus_dispatch_job(service, m, NULL, g_object_ref(msg), body,
                            vb_bus_job_skeleton_get_job(job));
    else if (vb_bus_domain_export_exists(service, path))
        /* answered from the published properties: a stub is not loaded (issue 16) */
        vb_bus_dispatch_domain(service, m, NULL, g_object_ref(msg), body, path, FALSE);
    else
        vb_bus_dispatch(service, m, NULL, g_object_ref(msg), body, NULL);
}

static gboolean
handle_stolen(gpointer data)
{
    Stolen *s = data;
    GDBusMessage *msg = s->message;
    /* ours for the whole function: a call that ends at once (inline) drops
     * the reference it took before we return */
    g_autoptr(GVariant) body = g_dbus_message_get_body(msg) != NULL
                                   ? g_variant_ref(g_dbus_message_get_body(msg))
                                   : g_variant_ref_sink(g_variant_new("()"));
    const char *member = g_dbus_message_get_member(msg);
    const VbBusMethod *m;

    if (g_str_equal(member, "Set")) {
        handle_set(s->service, msg, body);
    } else {
        m = vb_bus_method_lookup(property_methods, G_N_ELEMENTS(property_methods), member);
        if (m == NULL)
            reply_error_message(s->service, msg, "org.freedesktop.DBus.Error.UnknownMethod",
                                "unknown method");
        else
            handle_read(s->service, msg, body, m);
    }
    g_object_unref(msg);
    g_free(s);
    return G_SOURCE_REMOVE;
}

/*
 * The signature each stolen member must have. Anything else (a body of
 * another type, no body, extra arguments) is left to GDBus, which answers
 * org.freedesktop.DBus.Error.InvalidArgs: the message comes from any
 * caller, before authorization, so nothing is read from a body whose type
 * was not checked first.
 */
static const struct {
    const char *member;
    const char *signature;
} property_signatures[] = {
    { "Get", "(ss)" },
    { "GetAll", "(s)" },
    { "Set", "(ssv)" },
};

static gboolean
body_is(GDBusMessage *message, const char *signature)
{
    GVariant *body = g_dbus_message_get_body(message);

    if (body == NULL)
        return g_str_equal(signature, "()");
    return g_variant_is_of_type(body, G_VARIANT_TYPE(signature));
}

typedef enum {
    FILTER_PASS,       /* GDBus answers it */
    FILTER_STEAL,      /* authorized first, on the main thread */
    FILTER_READ_HERE,  /* a read the caller passed the check of: answered in the filter */
    FILTER_VANISHED,   /* a call on an object that is gone: its named error */
} FilterVerdict;

static FilterVerdict
classify(VbBusService *service, GDBusMessage *message)
{
    const char *path = g_dbus_message_get_path(message);
    const char *iface = g_dbus_message_get_interface(message);
    const char *member = g_dbus_message_get_member(message);
    const char *target = NULL;
    const char *signature = NULL;

    if (path == NULL || iface == NULL || member == NULL ||
        !g_str_has_prefix(path, VB_BUS_MANAGER_PATH))
        return FILTER_PASS;
    if (g_str_equal(iface, OBJECT_MANAGER_IFACE))
        return g_str_equal(member, "GetManagedObjects") &&
                       g_str_equal(path, VB_BUS_MANAGER_PATH) && body_is(message, "()")
                   ? FILTER_STEAL
                   : FILTER_PASS;
    if (g_str_has_prefix(iface, "org.virtbus.Virt1.") && !g_str_equal(path, VB_BUS_MANAGER_PATH)) {
        g_autoptr(GDBusObject) object = NULL;

        /* a method of ours on an object that is not (or no longer) there; the manager
         * is NULL once the service is stopping */
        if (service->object_manager == NULL || g_atomic_int_get(&service->stopping))
            return FILTER_PASS;
        if (g_str_has_prefix(path, VB_BUS_DOMAIN_PATH_PREFIX) &&
            strchr(path + strlen(VB_BUS_DOMAIN_PATH_PREFIX), '/') == NULL) {
            return vb_bus_domain_export_exists(service, path) ? FILTER_PASS : FILTER_VANISHED;
        }
        object = g_dbus_object_manager_get_object(G_DBUS_OBJECT_MANAGER(service->object_manager),
                                                  path);
        return object == NULL ? FILTER_VANISHED : FILTER_PASS;
    }
    if (!g_str_equal(iface, PROPERTIES_IFACE))
        return FILTER_PASS;
    for (gsize i = 0; i < G_N_ELEMENTS(property_signatures); i++) {
        if (g_str_equal(member, property_signatures[i].member))
            signature = property_signatures[i].signature;
    }
    if (signature == NULL || !body_is(message, signature))
        return FILTER_PASS;
    /* every accepted signature starts with the interface name */
    g_variant_get_child(g_dbus_message_get_body(message), 0, "&s", &target);
    if (!g_str_has_prefix(target, "org.virtbus.Virt1."))
        return FILTER_PASS;
    if (g_str_equal(member, "Set"))
        return FILTER_STEAL;
    return vb_bus_caller_read_allowed(service, g_dbus_message_get_sender(message), path,
                                      g_str_equal(member, "Get") ? "get" : "getall")
               ? FILTER_READ_HERE
               : FILTER_STEAL;
}

/* The reply to a read answered in the filter. Returns: TRUE */
static gboolean
send_read_reply(GDBusConnection *connection, GDBusMessage *message, GVariant *value)
{
    g_autoptr(GDBusMessage) reply = NULL;

    if ((g_dbus_message_get_flags(message) & G_DBUS_MESSAGE_FLAGS_NO_REPLY_EXPECTED) != 0)
        return TRUE;
    reply = g_dbus_message_new_method_reply(message);
    g_dbus_message_set_body(reply, value);
    g_dbus_connection_send_message(connection, reply, G_DBUS_SEND_MESSAGE_FLAGS_NONE, NULL,
                                   NULL);
    return TRUE;
}

/*
 * GDBus's worker thread: answers a Get or GetAll of a domain from its
 * published properties (a reference taken under export_lock,
 * bus-domain-export.c), and of an object of the object manager (jobs,
 * networks, snapshots) from its skeleton, the way GDBus would on the main
 * thread. Everything here is thread-safe: the object manager and the object
 * skeleton look up under their own locks and return references; a generated
 * skeleton reads its values under its lock (the main thread sets them under
 * it). A domain or object gone is answered with its named error; whatever
 * else is not plainly there (an interface, an unknown property) returns
 * FALSE: GDBus then answers it as before, errors included.
 */
static gboolean
answer_read(VbBusService *service, GDBusConnection *connection, GDBusMessage *message)
{
    GDBusObjectManagerServer *manager = service->object_manager;
    const char *path = g_dbus_message_get_path(message);
    gboolean get = g_str_equal(g_dbus_message_get_member(message), "Get");
    const char *iface, *name = NULL;
    g_autoptr(GDBusObject) object = NULL;
    g_autoptr(GDBusInterface) found = NULL;
    g_autoptr(GVariant) value = NULL;
    GDBusInterfaceSkeleton *skel;

    /* shutting down: GDBus may run a filter after its removal; the main thread's path
     * (which no longer answers) is the safe one then */
    if (manager == NULL || g_atomic_int_get(&service->stopping))
        return FALSE;
    if (get)
        g_variant_get(g_dbus_message_get_body(message), "(&s&s)", &iface, &name);
    else
        g_variant_get(g_dbus_message_get_body(message), "(&s)", &iface);
    /* any caller's text: GLib's lookups take valid names only (a critical otherwise) */
    if (!g_dbus_is_interface_name(iface))
        return FALSE;
    if (g_str_has_prefix(path, VB_BUS_DOMAIN_PATH_PREFIX) &&
        strchr(path + strlen(VB_BUS_DOMAIN_PATH_PREFIX), '/') == NULL) {
        /* a domain (issue 16): its published properties as they are */
        g_autoptr(GVariant) props = vb_bus_domain_export_props(service, path);

        if (props == NULL)
            return reply_vanished(connection, message);
        if (!g_str_equal(iface, VB_BUS_DOMAIN_IFACE))
            return FALSE;
        if (get) {
            g_autoptr(GVariant) v = g_variant_lookup_value(props, name, NULL);

            if (v == NULL)
                return FALSE;
            value = g_variant_ref_sink(g_variant_new("(v)", v));
        } else {
            value = g_variant_ref_sink(g_variant_new_tuple(&props, 1));
        }
        return send_read_reply(connection, message, value);
    }
    object = g_dbus_object_manager_get_object(G_DBUS_OBJECT_MANAGER(manager), path);
    if (object == NULL)
        return reply_vanished(connection, message);
    found = g_dbus_object_get_interface(object, iface);
    if (found == NULL || !G_IS_DBUS_INTERFACE_SKELETON(found))
        return FALSE;
    skel = G_DBUS_INTERFACE_SKELETON(found);
    if (!g_dbus_interface_skeleton_has_connection(skel, connection))
        return FALSE;
    if (get) {
        GDBusPropertyInfo *info =
            g_dbus_interface_info_lookup_property(g_dbus_interface_skeleton_get_info(skel), name);
        GDBusInterfaceVTable *vt = g_dbus_interface_skeleton_get_vtable(skel);
        g_autoptr(GError) error = NULL;
        GVariant *v;

        if (info == NULL || (info->flags & G_DBUS_PROPERTY_INFO_FLAGS_READABLE) == 0 ||
            vt == NULL || vt->get_property == NULL)
            return FALSE;
        v = vt->get_property(connection, g_dbus_message_get_sender(message), path, iface, name,
                             &error, skel);
        if (v == NULL)
            return FALSE;
        g_variant_take_ref(v); /* floating or not, as GDBus takes it */
        value = g_variant_ref_sink(g_variant_new("(v)", v));
        g_variant_unref(v);
    } else {
        /* (transfer full), not floating */
        g_autoptr(GVariant) all = g_dbus_interface_skeleton_get_properties(skel);

        value = g_variant_ref_sink(g_variant_new_tuple(&all, 1));
    }
    return send_read_reply(connection, message, value);
}

/**
 * vb_bus_properties_filter:
 *
 * GDBusConnection filter; runs on GDBus's worker thread, so it only
 * decides, cheaply, answers the reads a caller was already authorized for
 * (answer_read()) and hands what else it takes to the main context.
 */
GDBusMessage *
vb_bus_properties_filter(GDBusConnection *connection, GDBusMessage *message, gboolean incoming,
                         gpointer user_data)
{
    VbBusService *service = user_data;
    Stolen *s;

    if (!incoming || g_dbus_message_get_message_type(message) != G_DBUS_MESSAGE_TYPE_METHOD_CALL)
        return message;
    switch (classify(service, message)) {
    case FILTER_PASS:
        return message;
    case FILTER_READ_HERE:
        if (!answer_read(service, connection, message))
            return message;
        g_object_unref(message); /* the filter owns it */
        return NULL;
    case FILTER_VANISHED:
        if (!reply_vanished(connection, message))
            return message;
        g_object_unref(message);
        return NULL;
    case FILTER_STEAL:
        break;
    }
    s = g_new0(Stolen, 1);
    s->service = service;
    s->message = message; /* the filter passes ownership to us */
    vb_bus_service_queue(service, handle_stolen, s);
    return NULL;
}
