/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Domain objects on the bus, without a GObject per domain (issue 16).
 *
 * Every domain object lives in one subtree, registered once with
 * g_dbus_connection_register_subtree() at /org/virtbus/Virt1/domain. What a
 * domain shows of itself is one immutable, serialized a{sv} of the Domain
 * interface's properties (~0.8 KB), replaced as a whole when something
 * changes; PropertiesChanged carries the entries that differ from the one
 * it replaces. Property reads (answered in the connection filter, on
 * GDBus's worker thread), GetAll and GetManagedObjects are served from those
 * bytes as they are. InterfacesAdded and InterfacesRemoved are emitted here
 * as the object manager does for its objects.
 *
 * Before, each domain was a generated GDBusObjectSkeleton with a Domain
 * interface skeleton exported through the GDBusObjectManagerServer: ~4 KB of
 * the heap a domain (GObject instances, a GValue per property, the manager's
 * and the connection's tables), 4 of virtbusd's 7.7 MiB of heap with 1,000
 * domains defined (docs/performance.md). Jobs, networks and snapshots (few
 * at a time) stay with the object manager.
 *
 * Threads: the table and each export's properties are read under
 * export_lock from any thread (the filter's reads, a run-state change
 * published where it happened); the main thread adds and removes exports,
 * and every change is published under publish_lock (docs/threads.md).
 */
#include "config.h"

#include <string.h>

#include "bus-errors.h"
#include "bus-names.h"
#include "bus-service.h"
#include "vb-error.h"

#define PROPERTIES_IFACE "org.freedesktop.DBus.Properties"
#define OBJECT_MANAGER_IFACE "org.freedesktop.DBus.ObjectManager"

struct _VbBusDomainExport {
    char *path;            /* the table's key; no domain object is held (issue 16: a
                              domain kept as a stub has none) */
    GVariant *props;       /* export_lock: the published properties, a{sv} */
    char *autodestroy_owner; /* main thread: the owner the autodestroy watch follows */
    char *migration_owner;   /* main thread: the client driving a migration of it */
};

static void
export_free(gpointer data)
{
    VbBusDomainExport *e = data;

    g_clear_pointer(&e->props, g_variant_unref);
    g_free(e->path);
    g_free(e->autodestroy_owner);
    g_free(e->migration_owner);
    g_free(e);
}

/* A path of the subtree's own nodes, /org/virtbus/Virt1/domain/NODE. */
static gboolean
is_domain_path(const char *path)
{
    return path != NULL && g_str_has_prefix(path, VB_BUS_DOMAIN_PATH_PREFIX) &&
           path[strlen(VB_BUS_DOMAIN_PATH_PREFIX)] != '\0' &&
           strchr(path + strlen(VB_BUS_DOMAIN_PATH_PREFIX), '/') == NULL;
}

/* The export at @path, or NULL; under export_lock. */
static VbBusDomainExport *
lookup_locked(VbBusService *service, const char *path)
{
    if (!is_domain_path(path) || service->domain_exports == NULL)
        return NULL;
    return g_hash_table_lookup(service->domain_exports, path);
}

/**
 * vb_bus_domain_export_props:
 *
 * Returns: (transfer full) (nullable): the published properties of the
 *   domain at @path, or %NULL when none is exported there. Any thread.
 */
GVariant *
vb_bus_domain_export_props(VbBusService *service, const char *path)
{
    VbBusDomainExport *e;
    GVariant *props = NULL;

    g_mutex_lock(&service->export_lock);
    e = lookup_locked(service, path);
    if (e != NULL)
        props = g_variant_ref(e->props);
    g_mutex_unlock(&service->export_lock);
    return props;
}

/**
 * vb_bus_domain_export_exists:
 *
 * Returns: whether a domain is exported at @path. Any thread.
 */
gboolean
vb_bus_domain_export_exists(VbBusService *service, const char *path)
{
    gboolean found;

    g_mutex_lock(&service->export_lock);
    found = lookup_locked(service, path) != NULL;
    g_mutex_unlock(&service->export_lock);
    return found;
}

/**
 * vb_bus_domain_exports_snapshot:
 *
 * Returns: (transfer full) (element-type VbBusDomainExported): every
 *   exported domain with its properties, for GetManagedObjects. Any thread.
 */
GPtrArray *
vb_bus_domain_exports_snapshot(VbBusService *service)
{
    GPtrArray *out = g_ptr_array_new_with_free_func(vb_bus_domain_exported_free);
    GHashTableIter iter;
    gpointer value;

    g_mutex_lock(&service->export_lock);
    if (service->domain_exports != NULL) {
        g_hash_table_iter_init(&iter, service->domain_exports);
        while (g_hash_table_iter_next(&iter, NULL, &value)) {
            VbBusDomainExport *e = value;
            VbBusDomainExported *x = g_new(VbBusDomainExported, 1);

            x->path = g_strdup(e->path);
            x->props = g_variant_ref(e->props);
            g_ptr_array_add(out, x);
        }
    }
    g_mutex_unlock(&service->export_lock);
    return out;
}

void
vb_bus_domain_exported_free(gpointer data)
{
    VbBusDomainExported *x = data;

    g_free(x->path);
    g_variant_unref(x->props);
    g_free(x);
}

/* ---- the properties ---- */

/*
 * The Domain interface's properties of @s (and the console's Graphics,
 * Title and Description of @dom), in the interface's order, serialized
 * now: one flat buffer, no tree of GVariants kept.
 */
static GVariant *
props_new(VbDomainObj *dom, const VbDomainSnapshot *s)
{
    g_autofree char *job = s->job_id != 0 ? vb_bus_job_path(s->job_id) : g_strdup("/");
    GVariantBuilder b;
    GVariant *props;

    g_variant_builder_init(&b, G_VARIANT_TYPE_VARDICT);
    g_variant_builder_add(&b, "{sv}", "Name", g_variant_new_string(s->name));
    g_variant_builder_add(&b, "{sv}", "UUID", g_variant_new_string(s->uuid));
    g_variant_builder_add(&b, "{sv}", "Id", g_variant_new_int32(s->id));
    g_variant_builder_add(&b, "{sv}", "State", g_variant_new_string(s->state));
    g_variant_builder_add(&b, "{sv}", "StateReason", g_variant_new_string(s->reason));
    g_variant_builder_add(&b, "{sv}", "Active", g_variant_new_boolean(s->active));
    g_variant_builder_add(&b, "{sv}", "Persistent", g_variant_new_boolean(s->persistent));
    g_variant_builder_add(&b, "{sv}", "Autostart", g_variant_new_boolean(s->autostart));
    g_variant_builder_add(&b, "{sv}", "Memory", g_variant_new_uint64(s->memory_kib));
    g_variant_builder_add(&b, "{sv}", "VCPUs", g_variant_new_uint32(s->vcpus));
    g_variant_builder_add(&b, "{sv}", "Job", g_variant_new_object_path(job));
    g_variant_builder_add(&b, "{sv}", "HasManagedSave",
                          g_variant_new_boolean(s->has_managed_save));
    g_variant_builder_add(&b, "{sv}", "AutodestroyOwner",
                          g_variant_new_string(s->autodestroy_owner));
    g_variant_builder_add(&b, "{sv}", "Tainted",
                          g_variant_new_strv((const char *const *)s->tainted, -1));
    g_variant_builder_add(&b, "{sv}", "Unsupported",
                          g_variant_new_strv((const char *const *)s->unsupported, -1));
    g_variant_builder_add(&b, "{sv}", "AgentConnected",
                          g_variant_new_boolean(s->agent_connected)); /* issue 13, agent */
    vb_bus_console_add_props(&b, dom); /* Graphics, Title, Description (issue 13, console) */
    g_variant_builder_add(&b, "{sv}", "CurrentMemory",
                          g_variant_new_uint64(s->current_memory_kib)); /* issue 13, memev */
    g_variant_builder_add(&b, "{sv}", "StartTime",
                          g_variant_new_uint64((guint64)MAX(s->start_time, 0))); /* issue 17 */
    props = g_variant_ref_sink(g_variant_builder_end(&b));
    (void)g_variant_get_data(props); /* flatten the tree now, while it is short-lived */
    return props;
}

/* @old with State and StateReason replaced. */
static GVariant *
props_with_state(GVariant *old, const char *state, const char *reason)
{
    GVariantBuilder b;
    GVariantIter iter;
    const char *key;
    GVariant *value;
    GVariant *props;

    g_variant_builder_init(&b, G_VARIANT_TYPE_VARDICT);
    g_variant_iter_init(&iter, old);
    while (g_variant_iter_next(&iter, "{&sv}", &key, &value)) {
        if (g_str_equal(key, "State"))
            g_variant_builder_add(&b, "{sv}", key, g_variant_new_string(state));
        else if (g_str_equal(key, "StateReason"))
            g_variant_builder_add(&b, "{sv}", key, g_variant_new_string(reason));
        else
            g_variant_builder_add(&b, "{sv}", key, value);
        g_variant_unref(value);
    }
    props = g_variant_ref_sink(g_variant_builder_end(&b));
    (void)g_variant_get_data(props);
    return props;
}

/*
 * PropertiesChanged with the entries of @now that differ from @before (both
 * made by props_new(), so the same keys in the same order). UUID never
 * changes (EmitsChangedSignal const). Any thread, under publish_lock.
 */
static void
emit_changes(VbBusService *service, const char *path, GVariant *before, GVariant *now)
{
    GVariantBuilder changed, invalidated;
    gsize n = g_variant_n_children(now);
    gboolean any = FALSE;

    g_return_if_fail(g_variant_n_children(before) == n);
    g_variant_builder_init(&changed, G_VARIANT_TYPE_VARDICT);
    for (gsize i = 0; i < n; i++) {
        g_autoptr(GVariant) a = g_variant_get_child_value(before, i);
        g_autoptr(GVariant) b = g_variant_get_child_value(now, i);

        if (g_variant_equal(a, b))
            continue;
        {
            g_autoptr(GVariant) key = g_variant_get_child_value(b, 0);
            g_autoptr(GVariant) value = g_variant_get_child_value(b, 1);

            if (g_str_equal(g_variant_get_string(key, NULL), "UUID"))
                continue;
            g_variant_builder_add(&changed, "{s@v}", g_variant_get_string(key, NULL), value);
            any = TRUE;
        }
    }
    if (!any) {
        g_variant_builder_clear(&changed);
        return;
    }
    g_variant_builder_init(&invalidated, G_VARIANT_TYPE_STRING_ARRAY);
    vb_bus_domain_emit(service, path, PROPERTIES_IFACE, "PropertiesChanged",
                       g_variant_new("(sa{sv}as)", VB_BUS_DOMAIN_IFACE, &changed,
                                     &invalidated));
}

/**
 * vb_bus_domain_emit:
 * @iface: (nullable): the interface, the Domain interface when %NULL
 * @params: (transfer floating): a floating or a held reference (not taken)
 *
 * Emits a signal of the domain object at @path. Any thread.
 */
void
vb_bus_domain_emit(VbBusService *service, const char *path, const char *iface,
                   const char *signal, GVariant *params)
{
    g_autoptr(GError) error = NULL;

    g_variant_ref_sink(params);
    if (service->connection != NULL &&
        !g_dbus_connection_emit_signal(service->connection, NULL, path,
                                       iface != NULL ? iface : VB_BUS_DOMAIN_IFACE, signal,
                                       params, &error))
        g_warning("signal %s of %s: %s", signal, path, error->message);
    g_variant_unref(params);
}

/* The bus-name watches follow the published owners (main thread). */
static void
follow_owner(VbBusService *service, char **field, const char *owner)
{
    if (g_strcmp0(*field != NULL ? *field : "", owner) == 0)
        return;
    if (*field != NULL && **field != '\0')
        vb_bus_autodestroy_remove(service, *field);
    if (*owner != '\0')
        vb_bus_autodestroy_add(service, owner);
    g_free(*field);
    *field = *owner != '\0' ? g_strdup(owner) : NULL;
}

static GVariant *
interfaces_of(GVariant *props)
{
    GVariantBuilder b;

    g_variant_builder_init(&b, G_VARIANT_TYPE("a{sa{sv}}"));
    g_variant_builder_add(&b, "{s@a{sv}}", VB_BUS_DOMAIN_IFACE, props);
    return g_variant_builder_end(&b);
}

/**
 * vb_bus_domain_props_new:
 * @out_autodestroy_owner: (out) (transfer full): the owners the export's watches follow
 * @out_migration_owner: (out) (transfer full)
 *
 * Returns: (transfer full): the Domain interface's properties of @dom now, for
 *   vb_bus_domain_export_add(). Any thread (a new domain's are taken where it was made,
 *   so that the object may go at once: issue 16).
 */
GVariant *
vb_bus_domain_props_new(VbDomainObj *dom, char **out_autodestroy_owner,
                        char **out_migration_owner)
{
    VbDomainSnapshot s = { 0 };
    GVariant *props;

    vb_domain_obj_snapshot(dom, &s);
    props = props_new(dom, &s);
    *out_autodestroy_owner = g_strdup(s.autodestroy_owner);
    *out_migration_owner = g_strdup(s.migration_owner);
    vb_domain_snapshot_clear(&s);
    return props;
}

/**
 * vb_bus_domain_export_add:
 * @props: (transfer none): from vb_bus_domain_props_new()
 *
 * Exports a domain at @path (InterfacesAdded); one already there is published as a
 * change instead. Main thread, under publish_lock.
 */
void
vb_bus_domain_export_add(VbBusService *service, const char *path, GVariant *props,
                         const char *autodestroy_owner, const char *migration_owner)
{
    VbBusDomainExport *e = g_hash_table_lookup(service->domain_exports, path);
    GVariant *old;

    if (e == NULL) {
        e = g_new0(VbBusDomainExport, 1);
        e->path = g_strdup(path);
        e->props = g_variant_ref(props);
        g_mutex_lock(&service->export_lock);
        g_hash_table_insert(service->domain_exports, e->path, e);
        g_mutex_unlock(&service->export_lock);
        follow_owner(service, &e->autodestroy_owner, autodestroy_owner);
        follow_owner(service, &e->migration_owner, migration_owner);
        if (!service->loading)
            vb_bus_domain_emit(service, VB_BUS_MANAGER_PATH, OBJECT_MANAGER_IFACE,
                               "InterfacesAdded",
                               g_variant_new("(o@a{sa{sv}})", path, interfaces_of(props)));
        return;
    }
    follow_owner(service, &e->autodestroy_owner, autodestroy_owner);
    follow_owner(service, &e->migration_owner, migration_owner);
    g_mutex_lock(&service->export_lock);
    old = e->props;
    e->props = g_variant_ref(props);
    g_mutex_unlock(&service->export_lock);
    emit_changes(service, path, old, props);
    g_variant_unref(old);
}

/**
 * vb_bus_domain_export_publish:
 *
 * Publishes what changed of @dom (PropertiesChanged). Main thread, under publish_lock.
 *
 * Returns: whether @dom is exported
 */
gboolean
vb_bus_domain_export_publish(VbBusService *service, VbDomainObj *dom)
{
    VbBusDomainExport *e = g_hash_table_lookup(service->domain_exports, dom->object_path);
    VbDomainSnapshot s = { 0 };
    GVariant *props, *old;

    if (e == NULL)
        return FALSE;
    vb_domain_obj_snapshot(dom, &s);
    props = props_new(dom, &s);
    follow_owner(service, &e->autodestroy_owner, s.autodestroy_owner);
    follow_owner(service, &e->migration_owner, s.migration_owner);
    g_mutex_lock(&service->export_lock);
    old = e->props;
    e->props = props;
    g_mutex_unlock(&service->export_lock);
    emit_changes(service, dom->object_path, old, props);
    g_variant_unref(old);
    vb_domain_snapshot_clear(&s);
    return TRUE;
}

/**
 * vb_bus_domain_export_remove:
 *
 * Takes the domain at @path off the bus (InterfacesRemoved), with its owner watches.
 * Main thread, under publish_lock.
 */
void
vb_bus_domain_export_remove(VbBusService *service, const char *path)
{
    VbBusDomainExport *e = g_hash_table_lookup(service->domain_exports, path);
    const char *ifaces[] = { VB_BUS_DOMAIN_IFACE, NULL };

    if (e == NULL)
        return;
    follow_owner(service, &e->autodestroy_owner, "");
    follow_owner(service, &e->migration_owner, "");
    g_mutex_lock(&service->export_lock);
    g_hash_table_steal(service->domain_exports, path);
    g_mutex_unlock(&service->export_lock);
    vb_bus_domain_emit(service, VB_BUS_MANAGER_PATH, OBJECT_MANAGER_IFACE, "InterfacesRemoved",
                       g_variant_new("(o^as)", path, ifaces));
    export_free(e);
}

/**
 * vb_bus_domain_export_set_state:
 *
 * Publishes a new State and StateReason of an exported domain (a run-state
 * change, from the thread that made it). Any thread, under publish_lock.
 *
 * Returns: %FALSE when @dom is not exported (yet)
 */
gboolean
vb_bus_domain_export_set_state(VbBusService *service, VbDomainObj *dom, const char *state,
                               const char *reason)
{
    VbBusDomainExport *e;
    GVariant *old, *props;

    g_mutex_lock(&service->export_lock);
    e = g_hash_table_lookup(service->domain_exports, dom->object_path);
    old = e != NULL ? g_variant_ref(e->props) : NULL;
    g_mutex_unlock(&service->export_lock);
    if (old == NULL)
        return FALSE;
    /* @e stays: only the main thread removes one, under publish_lock, which we hold */
    props = props_with_state(old, state, reason);
    g_mutex_lock(&service->export_lock);
    g_variant_unref(e->props);
    e->props = g_variant_ref(props);
    g_mutex_unlock(&service->export_lock);
    emit_changes(service, dom->object_path, old, props);
    g_variant_unref(old);
    g_variant_unref(props);
    return TRUE;
}

/* ---- the subtree ---- */

static void
unknown_method(GDBusMethodInvocation *invocation, const char *method)
{
    g_dbus_method_invocation_return_error(invocation, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
                                          "method %s is not supported", method);
}

static void
domain_method_call(GDBusConnection *connection, const char *sender, const char *object_path,
                   const char *interface_name, const char *method_name, GVariant *parameters,
                   GDBusMethodInvocation *invocation, gpointer user_data)
{
    VbBusService *service = user_data;
    const VbBusMethod *m = vb_bus_method_lookup(vb_bus_domain_methods, vb_bus_domain_n_methods,
                                                method_name);

    if (m == NULL) {
        unknown_method(invocation, method_name);
        return;
    }
    /* a domain gone between GDBus's look-up and this call gets NoDomain there */
    vb_bus_dispatch_domain(service, m, invocation, NULL, parameters, object_path, TRUE);
}

/* Reached only when the connection filter let a read pass (it answers every
 * well-formed one): from the published properties, as the filter would. */
static GVariant *
domain_get_property(GDBusConnection *connection, const char *sender, const char *object_path,
                    const char *interface_name, const char *property_name, GError **error,
                    gpointer user_data)
{
    g_autoptr(GVariant) props = vb_bus_domain_export_props(user_data, object_path);
    GVariant *value = props != NULL ? g_variant_lookup_value(props, property_name, NULL) : NULL;

    if (props == NULL)
        vb_bus_vanished_error(object_path, error);
    else if (value == NULL)
        g_set_error(error, G_DBUS_ERROR, G_DBUS_ERROR_INVALID_ARGS, "no property %s",
                    property_name);
    return value;
}

/* Writes are taken earlier, by the connection filter (bus-properties.c),
 * to be authorized asynchronously; this is never reached in practice. */
static gboolean
domain_set_property(GDBusConnection *connection, const char *sender, const char *object_path,
                    const char *interface_name, const char *property_name, GVariant *value,
                    GError **error, gpointer user_data)
{
    g_set_error(error, VB_ERROR, VB_ERROR_NOT_AUTHORIZED, "property %s cannot be set here",
                property_name);
    return FALSE;
}

static const GDBusInterfaceVTable domain_vtable = {
    .method_call = domain_method_call,
    .get_property = domain_get_property,
    .set_property = domain_set_property,
};

/* The nodes below /org/virtbus/Virt1/domain (Introspect of the subtree's root). */
static char **
subtree_enumerate(GDBusConnection *connection, const char *sender, const char *object_path,
                  gpointer user_data)
{
    VbBusService *service = user_data;
    GPtrArray *nodes = g_ptr_array_new();
    GHashTableIter iter;
    gpointer key;

    g_mutex_lock(&service->export_lock);
    if (service->domain_exports != NULL && !g_atomic_int_get(&service->stopping)) {
        g_hash_table_iter_init(&iter, service->domain_exports);
        while (g_hash_table_iter_next(&iter, &key, NULL))
            g_ptr_array_add(nodes,
                            g_strdup((const char *)key + strlen(VB_BUS_DOMAIN_PATH_PREFIX)));
    }
    g_mutex_unlock(&service->export_lock);
    g_ptr_array_add(nodes, NULL);
    return (char **)g_ptr_array_free(nodes, FALSE);
}

/* The Domain interface where a domain is exported, nothing elsewhere (GDBus then answers
 * UnknownMethod; the connection filter answers calls of ours there with NoDomain first). */
static GDBusInterfaceInfo **
subtree_introspect(GDBusConnection *connection, const char *sender, const char *object_path,
                   const char *node, gpointer user_data)
{
    VbBusService *service = user_data;
    g_autofree char *path = NULL;
    GDBusInterfaceInfo **infos;

    if (node == NULL || g_atomic_int_get(&service->stopping))
        return NULL;
    path = g_strconcat(VB_BUS_DOMAIN_PATH_PREFIX, node, NULL);
    if (!vb_bus_domain_export_exists(service, path))
        return NULL;
    infos = g_new0(GDBusInterfaceInfo *, 2);
    infos[0] = g_dbus_interface_info_ref(vb_dbus_domain_interface_info());
    return infos;
}

static const GDBusInterfaceVTable *
subtree_dispatch(GDBusConnection *connection, const char *sender, const char *object_path,
                 const char *interface_name, const char *node, gpointer *out_user_data,
                 gpointer user_data)
{
    if (node == NULL || g_strcmp0(interface_name, VB_BUS_DOMAIN_IFACE) != 0)
        return NULL;
    *out_user_data = user_data;
    return &domain_vtable;
}

static const GDBusSubtreeVTable subtree_vtable = {
    .enumerate = subtree_enumerate,
    .introspect = subtree_introspect,
    .dispatch = subtree_dispatch,
};

/**
 * vb_bus_domain_exports_start:
 *
 * Registers the domains' subtree on the service's connection. Main thread,
 * at start-up.
 */
gboolean
vb_bus_domain_exports_start(VbBusService *service, GError **error)
{
    g_autofree char *root = g_strndup(VB_BUS_DOMAIN_PATH_PREFIX,
                                      strlen(VB_BUS_DOMAIN_PATH_PREFIX) - 1);

    /* dispatched without enumerating every node per call: introspect() says whether a
     * domain is there */
    service->domain_subtree_id = g_dbus_connection_register_subtree(
        service->connection, root, &subtree_vtable,
        G_DBUS_SUBTREE_FLAGS_DISPATCH_TO_UNENUMERATED_NODES, service, NULL, error);
    if (service->domain_subtree_id == 0) {
        vb_error_convert(error);
        return FALSE;
    }
    return TRUE;
}

/**
 * vb_bus_domain_exports_stop:
 *
 * Unregisters the subtree and drops every export (no signal). Main thread,
 * at shutdown, after stopping was set.
 */
void
vb_bus_domain_exports_stop(VbBusService *service)
{
    GHashTable *exports;

    if (service->domain_subtree_id != 0 && service->connection != NULL)
        g_dbus_connection_unregister_subtree(service->connection, service->domain_subtree_id);
    service->domain_subtree_id = 0;
    g_mutex_lock(&service->export_lock);
    exports = g_steal_pointer(&service->domain_exports);
    g_mutex_unlock(&service->export_lock);
    if (exports != NULL)
        g_hash_table_destroy(exports);
}

/**
 * vb_bus_domain_exports_new:
 *
 * Returns: (transfer full): the table of exports (path -> export).
 */
GHashTable *
vb_bus_domain_exports_new(void)
{
    /* keys are the exports' own path strings */
    return g_hash_table_new_full(g_str_hash, g_str_equal, NULL, export_free);
}
