/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <string.h>

#include "bus-names.h"
#include "bus-service.h"
#include "bus-skeleton.h"
#include "domain-def.h"
#include "network-def.h"
#include "network-dnsmasq.h"
#include "vb-error.h"

/* Virtual networks on the bus (issue 12): org.virtbus.Virt1.Network objects
 * and the Manager's Network* methods. */

/**
 * vb_bus_network_path:
 *
 * Returns: (transfer full): /org/virtbus/Virt1/network/UUID ('-' as '_').
 */
char *
vb_bus_network_path(const char *uuid)
{
    g_autofree char *id = g_strdup(uuid);

    g_strdelimit(id, "-", '_');
    return g_strconcat(VB_BUS_NETWORK_PATH_PREFIX, id, NULL);
}

/* ---- publishing ---- */

typedef struct {
    VbBusService *service;
    VbNetworkObj *net;
    VbNetworkNotifyKind kind;
    char *event;
    char *detail;
} Publish;

static void
apply_snapshot(VbDBusNetwork *iface, VbNetworkObj *net)
{
    VbNetworkSnapshot s = { 0 };

    vb_network_obj_snapshot(net, &s);
    vb_dbus_network_set_name(iface, s.name);
    vb_dbus_network_set_uuid(iface, s.uuid);
    vb_dbus_network_set_active(iface, s.active);
    vb_dbus_network_set_persistent(iface, s.persistent);
    vb_dbus_network_set_autostart(iface, s.autostart);
    vb_dbus_network_set_bridge(iface, s.bridge);
    vb_network_snapshot_clear(&s);
}

static gboolean
publish_on_main(gpointer data)
{
    Publish *p = data;
    VbBusService *service = p->service;
    VbDBusObjectSkeleton *object = g_hash_table_lookup(service->domain_objects,
                                                       p->net->object_path);
    g_autoptr(VbDBusNetwork) iface = NULL;

    if (object == NULL && p->kind == VB_NETWORK_NOTIFY_ADDED) {
        g_autoptr(VbDBusObjectSkeleton) o = vb_dbus_object_skeleton_new(p->net->object_path);
        g_autoptr(VbDBusNetwork) i = vb_bus_network_skeleton_new(service, p->net);

        apply_snapshot(i, p->net);
        vb_dbus_object_skeleton_set_network(o, i);
        g_dbus_object_manager_server_export(service->object_manager, G_DBUS_OBJECT_SKELETON(o));
        object = o;
        g_hash_table_insert(service->domain_objects, g_strdup(p->net->object_path),
                            g_steal_pointer(&o));
    }
    if (object != NULL) {
        iface = vb_dbus_object_get_network(VB_DBUS_OBJECT(object));
        if (p->kind != VB_NETWORK_NOTIFY_REMOVED)
            apply_snapshot(iface, p->net);
        g_hash_table_remove(service->object_cache, p->net->object_path);
        /* properties first, then the signal that announces them */
        g_dbus_interface_skeleton_flush(G_DBUS_INTERFACE_SKELETON(iface));
        if (p->event != NULL)
            vb_dbus_network_emit_lifecycle(iface, p->event, p->detail != NULL ? p->detail : "");
        if (p->kind == VB_NETWORK_NOTIFY_REMOVED) {
            g_dbus_object_manager_server_unexport(service->object_manager, p->net->object_path);
            g_hash_table_remove(service->domain_objects, p->net->object_path);
            vb_bus_callers_forget_path(service, p->net->object_path);
        }
    }
    vb_network_obj_unref(p->net);
    g_free(p->event);
    g_free(p->detail);
    g_free(p);
    return G_SOURCE_REMOVE;
}

/**
 * vb_bus_network_notify:
 *
 * The VbNetworkNotifyFunc of the service: queues the change to the main
 * context. Any thread.
 */
void
vb_bus_network_notify(VbNetworkObj *net, VbNetworkNotifyKind kind, const char *event,
                      const char *detail, gpointer user_data)
{
    VbBusService *service = user_data;
    Publish *p;

    if (g_atomic_int_get(&service->stopping))
        return;
    p = g_new0(Publish, 1);
    p->service = service;
    p->net = vb_network_obj_ref(net);
    p->kind = kind;
    p->event = g_strdup(event);
    p->detail = g_strdup(detail);
    vb_bus_service_queue(service, publish_on_main, p);
}

/* ---- Network methods ---- */

static gboolean
check_alive(VbNetworkObj *net, GError **error)
{
    g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&net->lock);

    if (!net->removed)
        return TRUE;
    g_set_error(error, VB_ERROR, VB_ERROR_NO_NETWORK, "network '%s' no longer exists",
                net->def->name);
    return FALSE;
}

static GVariant *
net_start(VbBusCall *call, GError **error)
{
    if (!check_alive(call->net, error) ||
        !vb_network_start(call->service->networks, call->net, error))
        return NULL;
    return g_variant_new("()");
}

static GVariant *
net_destroy(VbBusCall *call, GError **error)
{
    if (!check_alive(call->net, error) ||
        !vb_network_destroy(call->service->networks, call->net, error))
        return NULL;
    return g_variant_new("()");
}

static GVariant *
net_undefine(VbBusCall *call, GError **error)
{
    if (!check_alive(call->net, error) ||
        !vb_network_undefine(call->service->networks, call->net, error))
        return NULL;
    return g_variant_new("()");
}

static GVariant *
net_get_xml_desc(VbBusCall *call, GError **error)
{
    guint32 flags;
    g_autofree char *xml = NULL;

    g_variant_get(call->parameters, "(u)", &flags);
    if (!check_alive(call->net, error))
        return NULL;
    xml = vb_network_get_xml_desc(call->net, flags, error);
    return xml != NULL ? g_variant_new("(s)", xml) : NULL;
}

static GVariant *
net_get_dhcp_leases(VbBusCall *call, GError **error)
{
    const char *mac;
    guint32 flags;
    gboolean active;
    g_autoptr(GPtrArray) leases = NULL;
    g_autofree char *canon = NULL;
    GVariantBuilder b;

    g_variant_get(call->parameters, "(&su)", &mac, &flags);
    if (!vb_bus_check_flags(flags, 0, "GetDHCPLeases", error) || !check_alive(call->net, error))
        return NULL;
    g_mutex_lock(&call->net->lock);
    active = call->net->active;
    g_mutex_unlock(&call->net->lock);
    /* an inactive network has no dnsmasq and hands out no lease (libvirt: empty) */
    if (!active)
        return g_variant_new("(aa{sv})", NULL);
    if (*mac != '\0')
        canon = g_ascii_strdown(mac, -1);
    leases = vb_network_list_get_leases(call->service->networks, call->net, canon, error);
    if (leases == NULL)
        return NULL;
    g_variant_builder_init(&b, G_VARIANT_TYPE("aa{sv}"));
    for (guint i = 0; i < leases->len; i++)
        g_variant_builder_add_value(&b, vb_dnsmasq_lease_to_variant(leases->pdata[i]));
    return g_variant_new("(aa{sv})", &b);
}

static GVariant *
net_update(VbBusCall *call, GError **error)
{
    guint32 command, section, flags;
    gint32 index;
    const char *xml;

    g_variant_get(call->parameters, "(uui&su)", &command, &section, &index, &xml, &flags);
    if (!check_alive(call->net, error) ||
        !vb_network_update(call->service->networks, call->net, command, section, index, xml,
                           flags, error))
        return NULL;
    return g_variant_new("()");
}

static GVariant *
net_set_autostart(VbBusCall *call, GError **error)
{
    g_autoptr(GVariant) value = NULL;

    g_variant_get(call->parameters, "(&s&sv)", NULL, NULL, &value);
    if (!g_variant_is_of_type(value, G_VARIANT_TYPE_BOOLEAN)) {
        g_set_error_literal(error, VB_ERROR, VB_ERROR_INVALID_ARG, "Autostart is a boolean");
        return NULL;
    }
    if (!check_alive(call->net, error) ||
        !vb_network_set_autostart(call->service->networks, call->net,
                                  g_variant_get_boolean(value), error))
        return NULL;
    return g_variant_new("()");
}

const VbBusMethod vb_bus_network_methods[] = {
    { "Start", VB_ACTION_NETWORK, FALSE, net_start },
    { "Destroy", VB_ACTION_NETWORK, FALSE, net_destroy },
    { "Undefine", VB_ACTION_NETWORK, FALSE, net_undefine },
    { "GetXMLDesc", VB_ACTION_READ, FALSE, net_get_xml_desc },
    { "GetDHCPLeases", VB_ACTION_READ, FALSE, net_get_dhcp_leases },
    { "Update", VB_ACTION_NETWORK, FALSE, net_update },
    { "Set:Autostart", VB_ACTION_NETWORK, FALSE, net_set_autostart },
};
const gsize vb_bus_network_n_methods = G_N_ELEMENTS(vb_bus_network_methods);

/* ---- Manager methods ---- */

static GVariant *
path_reply(VbNetworkObj *net)
{
    return g_variant_new("(o)", net->object_path);
}

GVariant *
vb_bus_network_define_xml(VbBusCall *call, GError **error)
{
    const char *xml;
    guint32 flags;
    g_autoptr(VbNetworkObj) net = NULL;

    g_variant_get(call->parameters, "(&su)", &xml, &flags);
    if (!vb_bus_check_flags(flags, 0, "NetworkDefineXML", error))
        return NULL;
    net = vb_network_define_xml(call->service->networks, xml, error);
    return net != NULL ? path_reply(net) : NULL;
}

GVariant *
vb_bus_network_create_xml(VbBusCall *call, GError **error)
{
    const char *xml;
    guint32 flags;
    g_autoptr(VbNetworkObj) net = NULL;

    g_variant_get(call->parameters, "(&su)", &xml, &flags);
    if (!vb_bus_check_flags(flags, 0, "NetworkCreateXML", error))
        return NULL;
    net = vb_network_create_xml(call->service->networks, xml, error);
    return net != NULL ? path_reply(net) : NULL;
}

/**
 * vb_bus_network_xml_prepare:
 *
 * Names the network of NetworkDefineXML's or NetworkCreateXML's XML for
 * polkit rules (details "network", and "uuid" when the XML gives one). An
 * XML that does not parse is reported after authorization.
 */
void
vb_bus_network_xml_prepare(VbBusCall *call)
{
    const char *xml;
    g_autoptr(VbNetworkDef) def = NULL;
    char uuid[37];

    g_variant_get(call->parameters, "(&su)", &xml, NULL);
    def = vb_network_def_parse_string(xml, NULL);
    if (def == NULL || def->name == NULL)
        return;
    call->detail_network = g_strdup(def->name);
    if (def->uuid_given) {
        vb_uuid_format(def->uuid, uuid);
        call->detail_uuid = g_strdup(uuid);
    }
}

/**
 * vb_bus_network_lookup_prepare:
 *
 * Names the network NetworkLookupByName or NetworkLookupByUUID finds, so a
 * rule that limits reads by network holds for the lookups too (nothing
 * found: checked without a network, then NoNetwork).
 */
void
vb_bus_network_lookup_prepare(VbBusCall *call)
{
    const char *key;
    g_autoptr(VbNetworkObj) net = NULL;

    g_variant_get(call->parameters, "(&s)", &key);
    net = g_str_equal(call->method->method, "NetworkLookupByName")
              ? vb_network_list_find_by_name(call->service->networks, key, NULL)
              : vb_network_list_find_by_uuid(call->service->networks, key, NULL);
    if (net == NULL)
        return;
    call->detail_network = vb_network_obj_get_name(net);
    call->detail_uuid = g_strdup(net->uuid_str);
}

GVariant *
vb_bus_network_lookup_by_name(VbBusCall *call, GError **error)
{
    const char *name;
    g_autoptr(VbNetworkObj) net = NULL;

    g_variant_get(call->parameters, "(&s)", &name);
    net = vb_network_list_find_by_name(call->service->networks, name, error);
    return net != NULL ? path_reply(net) : NULL;
}

GVariant *
vb_bus_network_lookup_by_uuid(VbBusCall *call, GError **error)
{
    const char *uuid;
    g_autoptr(VbNetworkObj) net = NULL;

    g_variant_get(call->parameters, "(&s)", &uuid);
    net = vb_network_list_find_by_uuid(call->service->networks, uuid, error);
    return net != NULL ? path_reply(net) : NULL;
}

static gint
by_name(gconstpointer a, gconstpointer b)
{
    VbNetworkObj *x = *(VbNetworkObj *const *)a;
    VbNetworkObj *y = *(VbNetworkObj *const *)b;
    g_autofree char *nx = vb_network_obj_get_name(x);
    g_autofree char *ny = vb_network_obj_get_name(y);

    return strcmp(nx, ny);
}

GVariant *
vb_bus_list_networks(VbBusCall *call, GError **error)
{
    guint32 flags;
    g_autoptr(GPtrArray) nets = NULL;
    GVariantBuilder b;

    g_variant_get(call->parameters, "(u)", &flags);
    if (!vb_bus_check_flags(flags, VB_NETWORK_LIST_ALL_FLAGS, "ListNetworks", error))
        return NULL;
    nets = vb_network_list_collect(call->service->networks, flags);
    g_ptr_array_sort(nets, by_name);
    g_variant_builder_init(&b, G_VARIANT_TYPE("ao"));
    for (guint i = 0; i < nets->len; i++)
        g_variant_builder_add(&b, "o", ((VbNetworkObj *)nets->pdata[i])->object_path);
    return g_variant_new("(ao)", &b);
}
