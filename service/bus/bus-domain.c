/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <glib/gi18n.h>

#include "bus-names.h"
#include "bus-service.h"
#include "bus-skeleton.h"
#include "vb-error.h"

/* ---- publishing: the one path from domain/ changes to the bus ---- */

typedef struct {
    VbBusService *service;
    VbDomainObj *dom;
    VbDomainNotifyKind kind;
    char *event;
    char *detail;
} Publish;

static void
apply_snapshot(VbDBusDomain *iface, VbDomainObj *dom)
{
    VbDomainSnapshot s = { 0 };

    vb_domain_obj_snapshot(dom, &s);
    /* generated setters compare and only queue a change when it differs */
    vb_dbus_domain_set_name(iface, s.name);
    vb_dbus_domain_set_uuid(iface, s.uuid);
    vb_dbus_domain_set_id(iface, s.id);
    vb_dbus_domain_set_state(iface, s.state);
    vb_dbus_domain_set_state_reason(iface, s.reason);
    vb_dbus_domain_set_active(iface, s.active);
    vb_dbus_domain_set_persistent(iface, s.persistent);
    vb_dbus_domain_set_autostart(iface, s.autostart);
    vb_dbus_domain_set_memory(iface, s.memory_kib);
    vb_dbus_domain_set_vcpus(iface, s.vcpus);
    if (vb_dbus_domain_get_job(iface) == NULL)
        vb_dbus_domain_set_job(iface, "/");
    vb_domain_snapshot_clear(&s);
}

static void
publish_added(VbBusService *service, VbDomainObj *dom)
{
    g_autoptr(VbDBusObjectSkeleton) object = NULL;
    g_autoptr(VbDBusDomain) iface = NULL;

    if (g_hash_table_contains(service->domain_objects, dom->object_path))
        return;
    object = vb_dbus_object_skeleton_new(dom->object_path);
    iface = vb_bus_domain_skeleton_new(service, dom);
    apply_snapshot(iface, dom);
    vb_dbus_object_skeleton_set_domain(object, iface);
    g_dbus_object_manager_server_export(service->object_manager,
                                        G_DBUS_OBJECT_SKELETON(object));
    g_hash_table_insert(service->domain_objects, g_strdup(dom->object_path),
                        g_steal_pointer(&object));
}

static gboolean
publish_on_main(gpointer data)
{
    Publish *p = data;
    VbDBusObjectSkeleton *object;
    g_autoptr(VbDBusDomain) iface = NULL;

    if (p->kind == VB_DOMAIN_NOTIFY_ADDED)
        publish_added(p->service, p->dom);
    object = g_hash_table_lookup(p->service->domain_objects, p->dom->object_path);
    if (object != NULL) {
        iface = vb_dbus_object_get_domain(VB_DBUS_OBJECT(object));
        if (p->kind != VB_DOMAIN_NOTIFY_REMOVED)
            apply_snapshot(iface, p->dom);
        g_hash_table_remove(p->service->object_cache, p->dom->object_path);
        /* properties first, then the signal that announces them */
        g_dbus_interface_skeleton_flush(G_DBUS_INTERFACE_SKELETON(iface));
        if (p->event != NULL)
            vb_dbus_domain_emit_lifecycle(iface, p->event, p->detail != NULL ? p->detail : "");
        if (p->kind == VB_DOMAIN_NOTIFY_REMOVED) {
            g_dbus_object_manager_server_unexport(p->service->object_manager,
                                                  p->dom->object_path);
            g_hash_table_remove(p->service->domain_objects, p->dom->object_path);
        }
    }
    vb_domain_obj_unref(p->dom);
    g_free(p->event);
    g_free(p->detail);
    g_free(p);
    return G_SOURCE_REMOVE;
}

/**
 * vb_bus_domain_notify:
 *
 * The VbDomainNotifyFunc of the service: queues the change to the main
 * context, where the object is exported, updated or removed and the
 * Lifecycle signal emitted. Any thread.
 */
void
vb_bus_domain_notify(VbDomainObj *dom, VbDomainNotifyKind kind, const char *event,
                     const char *detail, gpointer user_data)
{
    VbBusService *service = user_data;
    Publish *p = g_new0(Publish, 1);

    p->service = service;
    p->dom = vb_domain_obj_ref(dom);
    p->kind = kind;
    p->event = g_strdup(event);
    p->detail = g_strdup(detail);
    g_main_context_invoke(service->main_context, publish_on_main, p);
}

/* ---- methods ---- */

#define GET_XML_ALLOWED_FLAGS \
    (VB_DOMAIN_DEF_FORMAT_SECURE | VB_DOMAIN_DEF_FORMAT_INACTIVE | \
     VB_DOMAIN_DEF_FORMAT_MIGRATABLE)

static GVariant *
get_xml_desc(VbBusCall *call, GError **error)
{
    guint32 flags;
    g_autofree char *xml = NULL;

    g_variant_get(call->parameters, "(u)", &flags);
    if ((flags & ~GET_XML_ALLOWED_FLAGS) != 0) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                    _("GetXMLDesc: unsupported flags 0x%x"), flags & ~GET_XML_ALLOWED_FLAGS);
        return NULL;
    }
    xml = vb_domain_get_xml(call->dom, flags, error);
    if (xml == NULL)
        return NULL;
    return g_variant_new("(s)", xml);
}

static GVariant *
undefine(VbBusCall *call, GError **error)
{
    guint32 flags;

    g_variant_get(call->parameters, "(u)", &flags);
    if (flags != 0) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG, _("Undefine: unsupported flags 0x%x"),
                    flags);
        return NULL;
    }
    if (!vb_domain_undefine(call->service->domains, call->dom, error))
        return NULL;
    return g_variant_new("()");
}

/* Set of Autostart: parameters are (ssv) of Properties.Set. */
static GVariant *
set_autostart(VbBusCall *call, GError **error)
{
    g_autoptr(GVariant) value = NULL;

    g_variant_get(call->parameters, "(&s&sv)", NULL, NULL, &value);
    if (!g_variant_is_of_type(value, G_VARIANT_TYPE_BOOLEAN)) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                    _("Autostart must be a boolean, not '%s'"), g_variant_get_type_string(value));
        return NULL;
    }
    if (!vb_domain_set_autostart(call->service->domains, call->dom,
                                 g_variant_get_boolean(value), error))
        return NULL;
    return g_variant_new("()");
}

const VbBusMethod vb_bus_domain_methods[] = {
    { "GetXMLDesc", VB_ACTION_READ, TRUE, get_xml_desc },
    { "Undefine", VB_ACTION_DEFINE, FALSE, undefine },
    { "Set:Autostart", VB_ACTION_DEFINE, FALSE, set_autostart },
};
const gsize vb_bus_domain_n_methods = G_N_ELEMENTS(vb_bus_domain_methods);
