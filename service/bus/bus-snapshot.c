/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <string.h>

#include "bus-names.h"
#include "bus-service.h"
#include "bus-skeleton.h"
#include "domain-snapshot.h"
#include "vb-error.h"

/*
 * Snapshots on the bus (issue 15, part snapbus): org.virtbus.Virt1.Snapshot objects at
 * DOMAIN_PATH/snapshot/N and the Domain's Snapshot* methods. Every call that reads or
 * changes a domain's snapshots gets the full list back (domain-snapshot.c) and publishes
 * it: objects of new snapshots are exported, those of gone ones unexported, the others'
 * properties updated. The name <-> path tables are shared by the workers (under @lock);
 * the objects themselves live on the main thread.
 */

struct _VbBusSnapshots {
    GMutex lock;
    GHashTable *paths;    /* "UUID/name" -> object path */
    GHashTable *names;    /* object path -> name */
    GHashTable *counters; /* UUID -> last N given (GUINT_TO_POINTER) */
};

VbBusSnapshots *
vb_bus_snapshots_new(void)
{
    VbBusSnapshots *s = g_new0(VbBusSnapshots, 1);

    g_mutex_init(&s->lock);
    s->paths = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    s->names = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    s->counters = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    return s;
}

void
vb_bus_snapshots_free(VbBusSnapshots *s)
{
    if (s == NULL)
        return;
    g_hash_table_destroy(s->paths);
    g_hash_table_destroy(s->names);
    g_hash_table_destroy(s->counters);
    g_mutex_clear(&s->lock);
    g_free(s);
}

/* ---- the skeleton: every method goes through the dispatcher with the domain ---- */

#define VB_TYPE_BUS_SNAPSHOT_SKELETON (vb_bus_snapshot_skeleton_get_type())
G_DECLARE_FINAL_TYPE(VbBusSnapshotSkeleton, vb_bus_snapshot_skeleton, VB, BUS_SNAPSHOT_SKELETON,
                     VbDBusSnapshotSkeleton)

struct _VbBusSnapshotSkeleton {
    VbDBusSnapshotSkeleton parent;
    VbBusService *service;
    VbDomainObj *dom;
};

G_DEFINE_TYPE(VbBusSnapshotSkeleton, vb_bus_snapshot_skeleton, VB_DBUS_TYPE_SNAPSHOT_SKELETON)

static void
snapshot_method_call(GDBusConnection *connection, const char *sender, const char *object_path,
                     const char *interface_name, const char *method_name, GVariant *parameters,
                     GDBusMethodInvocation *invocation, gpointer user_data)
{
    VbBusSnapshotSkeleton *self = user_data;
    const VbBusMethod *m = vb_bus_method_lookup(vb_bus_snapshot_methods,
                                                vb_bus_snapshot_n_methods, method_name);

    if (m == NULL) {
        g_dbus_method_invocation_return_error(invocation, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
                                              "method %s is not supported", method_name);
        return;
    }
    vb_bus_dispatch(self->service, m, invocation, NULL, parameters, self->dom);
}

static gboolean
snapshot_refuse_set(GDBusConnection *connection, const char *sender, const char *object_path,
                    const char *interface_name, const char *property_name, GVariant *value,
                    GError **error, gpointer user_data)
{
    g_set_error(error, VB_ERROR, VB_ERROR_NOT_AUTHORIZED, "property %s cannot be set",
                property_name);
    return FALSE;
}

static GDBusInterfaceVTable *
snapshot_get_vtable(GDBusInterfaceSkeleton *skeleton)
{
    static GDBusInterfaceVTable *vt;

    if (g_once_init_enter(&vt)) {
        GDBusInterfaceSkeletonClass *parent =
            G_DBUS_INTERFACE_SKELETON_CLASS(vb_bus_snapshot_skeleton_parent_class);
        GDBusInterfaceVTable *v = g_new0(GDBusInterfaceVTable, 1);

        *v = *parent->get_vtable(skeleton);
        v->method_call = snapshot_method_call;
        v->set_property = snapshot_refuse_set;
        g_once_init_leave(&vt, v);
    }
    return vt;
}

static void
snapshot_skeleton_finalize(GObject *object)
{
    VbBusSnapshotSkeleton *self = (VbBusSnapshotSkeleton *)object;

    g_clear_pointer(&self->dom, vb_domain_obj_unref);
    G_OBJECT_CLASS(vb_bus_snapshot_skeleton_parent_class)->finalize(object);
}

static void
vb_bus_snapshot_skeleton_class_init(VbBusSnapshotSkeletonClass *klass)
{
    G_OBJECT_CLASS(klass)->finalize = snapshot_skeleton_finalize;
    G_DBUS_INTERFACE_SKELETON_CLASS(klass)->get_vtable = snapshot_get_vtable;
}

static void
vb_bus_snapshot_skeleton_init(VbBusSnapshotSkeleton *self)
{
}

/* Returns: (transfer none): the domain of a Snapshot interface (main thread). */
VbDomainObj *
vb_bus_snapshot_skeleton_get_domain(VbDBusSnapshot *iface)
{
    g_return_val_if_fail(VB_IS_BUS_SNAPSHOT_SKELETON(iface), NULL);
    return ((VbBusSnapshotSkeleton *)iface)->dom;
}

/* ---- publishing ---- */

typedef struct {
    char *path;
    char *parent_path;
    VbSnapshotInfo *info; /* borrowed from Publish.infos */
} Entry;

typedef struct {
    VbBusService *service;
    VbDomainObj *dom;
    GPtrArray *infos;   /* VbSnapshotInfo* */
    GArray *entries;    /* Entry */
    GPtrArray *removed; /* object paths */
} Publish;

static void
publish_free(Publish *p)
{
    for (guint i = 0; i < p->entries->len; i++) {
        Entry *e = &g_array_index(p->entries, Entry, i);

        g_free(e->path);
        g_free(e->parent_path);
    }
    g_array_unref(p->entries);
    g_ptr_array_unref(p->infos);
    g_ptr_array_unref(p->removed);
    vb_domain_obj_unref(p->dom);
    g_free(p);
}

static void
apply(VbDBusSnapshot *iface, const Entry *e)
{
    vb_dbus_snapshot_set_name(iface, e->info->name);
    vb_dbus_snapshot_set_parent(iface, e->parent_path != NULL ? e->parent_path : "/");
    vb_dbus_snapshot_set_current(iface, e->info->current);
    vb_dbus_snapshot_set_creation_time(iface, e->info->creation_time);
    vb_dbus_snapshot_set_state(iface, e->info->state);
    vb_dbus_snapshot_set_has_metadata(iface, TRUE);
    vb_dbus_snapshot_set_is_external(iface, e->info->external);
}

static gboolean
publish_on_main(gpointer data)
{
    Publish *p = data;
    VbBusService *service = p->service;

    for (guint i = 0; i < p->removed->len; i++) {
        const char *path = p->removed->pdata[i];

        if (!g_hash_table_contains(service->domain_objects, path))
            continue;
        g_dbus_object_manager_server_unexport(service->object_manager, path);
        g_hash_table_remove(service->domain_objects, path);
        g_hash_table_remove(service->object_cache, path);
        vb_bus_callers_forget_path(service, path);
    }
    for (guint i = 0; i < p->entries->len; i++) {
        const Entry *e = &g_array_index(p->entries, Entry, i);
        VbDBusObjectSkeleton *object = g_hash_table_lookup(service->domain_objects, e->path);
        g_autoptr(VbDBusSnapshot) iface = NULL;

        if (object == NULL) {
            g_autoptr(VbDBusObjectSkeleton) o = vb_dbus_object_skeleton_new(e->path);
            VbBusSnapshotSkeleton *s = g_object_new(VB_TYPE_BUS_SNAPSHOT_SKELETON, NULL);

            s->service = service;
            s->dom = vb_domain_obj_ref(p->dom);
            apply(VB_DBUS_SNAPSHOT(s), e);
            vb_dbus_object_skeleton_set_snapshot(o, VB_DBUS_SNAPSHOT(s));
            g_object_unref(s);
            g_dbus_object_manager_server_export(service->object_manager,
                                                G_DBUS_OBJECT_SKELETON(o));
            g_hash_table_insert(service->domain_objects, g_strdup(e->path),
                                g_steal_pointer(&o));
            continue;
        }
        iface = vb_dbus_object_get_snapshot(VB_DBUS_OBJECT(object));
        if (iface == NULL)
            continue;
        apply(iface, e);
        g_hash_table_remove(service->object_cache, e->path);
        g_dbus_interface_skeleton_flush(G_DBUS_INTERFACE_SKELETON(iface));
    }
    publish_free(p);
    return G_SOURCE_REMOVE;
}

/* Under s->lock: the path of snapshot @name of @dom, given now if it has none. */
static const char *
path_for(VbBusSnapshots *s, VbDomainObj *dom, const char *name)
{
    g_autofree char *key = g_strconcat(dom->uuid_str, "/", name, NULL);
    const char *path = g_hash_table_lookup(s->paths, key);
    guint n;

    if (path != NULL)
        return path;
    n = GPOINTER_TO_UINT(g_hash_table_lookup(s->counters, dom->uuid_str)) + 1;
    g_hash_table_replace(s->counters, g_strdup(dom->uuid_str), GUINT_TO_POINTER(n));
    path = g_strdup_printf("%s/snapshot/%u", dom->object_path, n);
    g_hash_table_insert(s->names, g_strdup(path), g_strdup(name));
    g_hash_table_insert(s->paths, g_steal_pointer(&key), (char *)path);
    return path;
}

/*
 * Worker: publishes @infos (taken) as the whole list of @dom's snapshots.
 *
 * Returns: (transfer full): name -> object path of each snapshot
 */
static GHashTable *
publish(VbBusService *service, VbDomainObj *dom, GPtrArray *infos)
{
    VbBusSnapshots *s = service->snapshots; /* freed after the domain threads ended */
    GHashTable *result = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    g_autofree char *prefix = g_strconcat(dom->uuid_str, "/", NULL);
    Publish *p = g_new0(Publish, 1);
    GHashTableIter iter;
    gpointer key, value;

    p->service = service;
    p->dom = vb_domain_obj_ref(dom);
    p->infos = infos != NULL ? infos : g_ptr_array_new();
    p->entries = g_array_new(FALSE, TRUE, sizeof(Entry));
    p->removed = g_ptr_array_new_with_free_func(g_free);
    g_mutex_lock(&s->lock);
    for (guint i = 0; i < p->infos->len; i++) {
        VbSnapshotInfo *info = p->infos->pdata[i];

        g_hash_table_insert(result, g_strdup(info->name),
                            g_strdup(path_for(s, dom, info->name)));
    }
    for (guint i = 0; i < p->infos->len; i++) {
        VbSnapshotInfo *info = p->infos->pdata[i];
        Entry e = { 0 };

        e.info = info;
        e.path = g_strdup(g_hash_table_lookup(result, info->name));
        if (info->parent != NULL)
            e.parent_path = g_strdup(g_hash_table_lookup(result, info->parent));
        g_array_append_val(p->entries, e);
    }
    g_hash_table_iter_init(&iter, s->paths);
    while (g_hash_table_iter_next(&iter, &key, &value)) {
        const char *name = (const char *)key + strlen(prefix);

        if (!g_str_has_prefix(key, prefix) || g_hash_table_contains(result, name))
            continue;
        g_ptr_array_add(p->removed, g_strdup(value));
        g_hash_table_remove(s->names, value);
        g_hash_table_iter_remove(&iter);
    }
    g_mutex_unlock(&s->lock);
    if (g_atomic_int_get(&service->stopping))
        publish_free(p);
    else
        vb_bus_service_queue(service, publish_on_main, p);
    return result;
}

/* Worker: the name of the snapshot whose object the call is for. */
static char *
call_snapshot_name(VbBusCall *call, GError **error)
{
    VbBusSnapshots *s = call->service->snapshots;
    const char *path = call->invocation != NULL
                           ? g_dbus_method_invocation_get_object_path(call->invocation)
                           : g_dbus_message_get_path(call->message);
    char *name;

    g_mutex_lock(&s->lock);
    name = g_strdup(g_hash_table_lookup(s->names, path));
    g_mutex_unlock(&s->lock);
    if (name == NULL)
        g_set_error(error, VB_ERROR, VB_ERROR_NO_SNAPSHOT, "snapshot %s no longer exists",
                    path);
    return name;
}

/* ---- Snapshot methods ---- */

static GVariant *
snap_get_xml_desc(VbBusCall *call, GError **error)
{
    guint32 flags;
    g_autofree char *name = NULL;
    g_autofree char *xml = NULL;

    g_variant_get(call->parameters, "(u)", &flags);
    name = call_snapshot_name(call, error);
    if (name == NULL)
        return NULL;
    xml = vb_domain_snapshot_get_xml(call->service->domains, call->dom, name, flags, error);
    return xml != NULL ? g_variant_new("(s)", xml) : NULL;
}

/* Job thread (VbSnapshotPublishFunc): publishes @infos, the path of snapshot @name. */
static char *
publish_for_job(VbDomainObj *dom, GPtrArray *infos, const char *name, gpointer user_data)
{
    g_autoptr(GHashTable) paths = NULL;

    if (infos == NULL)
        return NULL;
    paths = publish(user_data, dom, infos);
    return name != NULL ? g_strdup(g_hash_table_lookup(paths, name)) : NULL;
}

static GVariant *
job_reply(VbJob *job)
{
    g_autofree char *path = NULL;

    if (job == NULL)
        return NULL;
    path = vb_bus_job_path(vb_job_get_id(job));
    vb_job_unref(job);
    return g_variant_new("(o)", path);
}

static const char *
caller_name(VbBusCall *call)
{
    return call->caller != NULL ? call->caller->sender : NULL;
}

/* Revert(u flags) -> o job */
static GVariant *
snap_revert(VbBusCall *call, GError **error)
{
    guint32 flags;
    g_autofree char *name = NULL;

    g_variant_get(call->parameters, "(u)", &flags);
    name = call_snapshot_name(call, error);
    if (name == NULL)
        return NULL;
    return job_reply(vb_domain_snapshot_revert(call->service->domains, call->dom, name, flags,
                                               caller_name(call), publish_for_job,
                                               call->service, error));
}

static GVariant *
snap_delete(VbBusCall *call, GError **error)
{
    guint32 flags;
    g_autofree char *name = NULL;
    GPtrArray *infos = NULL;
    gboolean ok;

    g_variant_get(call->parameters, "(u)", &flags);
    name = call_snapshot_name(call, error);
    if (name == NULL)
        return NULL;
    ok = vb_domain_snapshot_delete(call->service->domains, call->dom, name, flags, &infos,
                                   error);
    if (infos != NULL)
        g_hash_table_unref(publish(call->service, call->dom, infos));
    return ok ? g_variant_new("()") : NULL;
}

const VbBusMethod vb_bus_snapshot_methods[] = {
    { "GetXMLDesc", VB_ACTION_READ, FALSE, snap_get_xml_desc },
    { "Revert", VB_ACTION_SNAPSHOT, FALSE, snap_revert },
    { "Delete", VB_ACTION_SNAPSHOT, FALSE, snap_delete },
};
const gsize vb_bus_snapshot_n_methods = G_N_ELEMENTS(vb_bus_snapshot_methods);

/* ---- Domain methods ---- */

/* SnapshotCreateXML(s xml, u flags) -> o job */
GVariant *
vb_bus_snapshot_create_xml(VbBusCall *call, GError **error)
{
    const char *xml;
    guint32 flags;

    g_variant_get(call->parameters, "(&su)", &xml, &flags);
    return job_reply(vb_domain_snapshot_create(call->service->domains, call->dom, xml, flags,
                                               caller_name(call), publish_for_job,
                                               call->service, error));
}

/* Worker: the snapshots of the call's domain, published; NULL on error. */
static GPtrArray *
query(VbBusCall *call, GHashTable **out_paths, GError **error)
{
    GPtrArray *infos = NULL;
    g_autoptr(GPtrArray) copy = NULL;

    if (!vb_domain_snapshot_query(call->service->domains, call->dom, &infos, error)) {
        if (infos != NULL)
            g_ptr_array_unref(infos);
        return NULL;
    }
    /* publish() takes @infos; the caller gets a reference of its own */
    copy = g_ptr_array_ref(infos);
    *out_paths = publish(call->service, call->dom, infos);
    return g_steal_pointer(&copy);
}

static gboolean
list_match(const VbSnapshotInfo *info, guint flags)
{
    guint leaves = flags & (VB_SNAPSHOT_LIST_LEAVES | VB_SNAPSHOT_LIST_NO_LEAVES);
    guint states = flags & (VB_SNAPSHOT_LIST_INACTIVE | VB_SNAPSHOT_LIST_ACTIVE |
                            VB_SNAPSHOT_LIST_DISK_ONLY);
    guint location = flags & (VB_SNAPSHOT_LIST_INTERNAL | VB_SNAPSHOT_LIST_EXTERNAL);
    gboolean disk_only = g_str_equal(info->state, "disk-snapshot");
    gboolean inactive = g_str_equal(info->state, "shutoff");

    if ((flags & VB_SNAPSHOT_LIST_ROOTS) && info->parent != NULL)
        return FALSE;
    if (leaves == VB_SNAPSHOT_LIST_LEAVES && info->n_children > 0)
        return FALSE;
    if (leaves == VB_SNAPSHOT_LIST_NO_LEAVES && info->n_children == 0)
        return FALSE;
    /* every known snapshot has metadata */
    if ((flags & (VB_SNAPSHOT_LIST_METADATA | VB_SNAPSHOT_LIST_NO_METADATA)) ==
        VB_SNAPSHOT_LIST_NO_METADATA)
        return FALSE;
    if (states != 0 && !(((states & VB_SNAPSHOT_LIST_INACTIVE) && inactive) ||
                         ((states & VB_SNAPSHOT_LIST_DISK_ONLY) && disk_only) ||
                         ((states & VB_SNAPSHOT_LIST_ACTIVE) && !inactive && !disk_only)))
        return FALSE;
    if (location != 0 && !(((location & VB_SNAPSHOT_LIST_INTERNAL) && !info->external) ||
                           ((location & VB_SNAPSHOT_LIST_EXTERNAL) && info->external)))
        return FALSE;
    return TRUE;
}

GVariant *
vb_bus_snapshot_list(VbBusCall *call, GError **error)
{
    guint32 flags;
    g_autoptr(GHashTable) paths = NULL;
    g_autoptr(GPtrArray) infos = NULL;
    GVariantBuilder b;

    g_variant_get(call->parameters, "(u)", &flags);
    if (!vb_bus_check_flags(flags, VB_SNAPSHOT_LIST_ALL_FLAGS, "ListSnapshots", error))
        return NULL;
    infos = query(call, &paths, error);
    if (infos == NULL)
        return NULL;
    g_variant_builder_init(&b, G_VARIANT_TYPE("ao"));
    for (guint i = 0; i < infos->len; i++) {
        const VbSnapshotInfo *info = infos->pdata[i];

        if (list_match(info, flags))
            g_variant_builder_add(&b, "o", g_hash_table_lookup(paths, info->name));
    }
    return g_variant_new("(ao)", &b);
}

GVariant *
vb_bus_snapshot_lookup_by_name(VbBusCall *call, GError **error)
{
    const char *name;
    guint32 flags;
    g_autoptr(GHashTable) paths = NULL;
    g_autoptr(GPtrArray) infos = NULL;
    const char *path;

    g_variant_get(call->parameters, "(&su)", &name, &flags);
    if (!vb_bus_check_flags(flags, 0, "SnapshotLookupByName", error))
        return NULL;
    infos = query(call, &paths, error);
    if (infos == NULL)
        return NULL;
    path = g_hash_table_lookup(paths, name);
    if (path == NULL) {
        g_set_error(error, VB_ERROR, VB_ERROR_NO_SNAPSHOT, "no domain snapshot named '%s'",
                    name);
        return NULL;
    }
    return g_variant_new("(o)", path);
}

GVariant *
vb_bus_snapshot_current(VbBusCall *call, GError **error)
{
    guint32 flags;
    g_autoptr(GHashTable) paths = NULL;
    g_autoptr(GPtrArray) infos = NULL;

    g_variant_get(call->parameters, "(u)", &flags);
    if (!vb_bus_check_flags(flags, 0, "SnapshotCurrent", error))
        return NULL;
    infos = query(call, &paths, error);
    if (infos == NULL)
        return NULL;
    for (guint i = 0; i < infos->len; i++) {
        const VbSnapshotInfo *info = infos->pdata[i];

        if (info->current)
            return g_variant_new("(o)", (const char *)g_hash_table_lookup(paths, info->name));
    }
    g_set_error_literal(error, VB_ERROR, VB_ERROR_NO_SNAPSHOT,
                        "the domain has no current snapshot");
    return NULL;
}

/**
 * vb_bus_snapshot_undefine:
 *
 * Worker, before Undefine: refuses a domain with snapshot metadata without
 * SNAPSHOTS_METADATA, removes the metadata (and the objects) with it.
 */
gboolean
vb_bus_snapshot_undefine(VbBusCall *call, guint flags, GError **error)
{
    GPtrArray *infos = NULL;
    gboolean ok;

    ok = vb_domain_snapshot_undefine(call->service->domains, call->dom,
                                     (flags & VB_UNDEFINE_SNAPSHOTS_METADATA) != 0, &infos,
                                     error);
    if (infos != NULL)
        g_hash_table_unref(publish(call->service, call->dom, infos));
    return ok;
}

static void
loaded(VbDomainObj *dom, GPtrArray *infos, gpointer user_data)
{
    g_hash_table_unref(publish(user_data, dom, infos));
}

/**
 * vb_bus_snapshots_load_all:
 *
 * At start: the snapshots of every persistent domain loaded in the background and their
 * objects exported.
 */
void
vb_bus_snapshots_load_all(VbBusService *service)
{
    vb_domain_snapshot_load_all(service->domains, loaded, service);
}
