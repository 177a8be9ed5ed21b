/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include "bus-names.h"
#include "bus-service.h"
#include "bus-skeleton.h"
#include "vb-error.h"

/*
 * The generated skeletons emit one handle-* signal per method. We route
 * every method call instead through one dispatcher and a table per
 * interface (method → polkit action → worker), so authorization and
 * threading are written once. Property reads stay with the generated code.
 */

struct _VbBusManagerSkeleton {
    VbDBusManagerSkeleton parent;
    VbBusService *service;
};

struct _VbBusJobSkeleton {
    VbDBusJobSkeleton parent;
    VbBusService *service;
    VbJob *job;
    GPtrArray *waiters;   /* main thread: VbBusCall* of Wait() calls not answered yet */
    gboolean done;        /* main thread: Completed was emitted */
};

struct _VbBusNetworkSkeleton {
    VbDBusNetworkSkeleton parent;
    VbBusService *service;
    VbNetworkObj *net;
};

G_DEFINE_TYPE(VbBusJobSkeleton, vb_bus_job_skeleton, VB_DBUS_TYPE_JOB_SKELETON)
G_DEFINE_TYPE(VbBusNetworkSkeleton, vb_bus_network_skeleton, VB_DBUS_TYPE_NETWORK_SKELETON)
G_DEFINE_TYPE(VbBusManagerSkeleton, vb_bus_manager_skeleton, VB_DBUS_TYPE_MANAGER_SKELETON)

static void
unknown_method(GDBusMethodInvocation *invocation, const char *method)
{
    g_dbus_method_invocation_return_error(invocation, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
                                          "method %s is not supported", method);
}

static void
manager_method_call(GDBusConnection *connection, const char *sender, const char *object_path,
                    const char *interface_name, const char *method_name, GVariant *parameters,
                    GDBusMethodInvocation *invocation, gpointer user_data)
{
    VbBusManagerSkeleton *self = user_data;
    const VbBusMethod *m = vb_bus_method_lookup(vb_bus_manager_methods,
                                                vb_bus_manager_n_methods, method_name);

    if (m == NULL) {
        unknown_method(invocation, method_name);
        return;
    }
    vb_bus_dispatch(self->service, m, invocation, NULL, parameters, NULL);
}

static void
job_method_call(GDBusConnection *connection, const char *sender, const char *object_path,
                const char *interface_name, const char *method_name, GVariant *parameters,
                GDBusMethodInvocation *invocation, gpointer user_data)
{
    VbBusJobSkeleton *self = user_data;
    const VbBusMethod *m = vb_bus_method_lookup(vb_bus_job_methods, vb_bus_job_n_methods,
                                                method_name);

    if (m == NULL) {
        unknown_method(invocation, method_name);
        return;
    }
    vb_bus_dispatch_job(self->service, m, invocation, NULL, parameters, self->job);
}

/* Writes are taken earlier, by the connection filter (bus-properties.c),
 * to be authorized asynchronously; this is never reached in practice. */
static gboolean
refuse_set_property(GDBusConnection *connection, const char *sender, const char *object_path,
                    const char *interface_name, const char *property_name, GVariant *value,
                    GError **error, gpointer user_data)
{
    g_set_error(error, VB_ERROR, VB_ERROR_NOT_AUTHORIZED, "property %s cannot be set here",
                property_name);
    return FALSE;
}

static GDBusInterfaceVTable *
make_vtable(GDBusInterfaceVTable *parent, GDBusInterfaceMethodCallFunc method_call)
{
    GDBusInterfaceVTable *vt = g_new0(GDBusInterfaceVTable, 1);

    *vt = *parent;
    vt->method_call = method_call;
    vt->set_property = refuse_set_property;
    return vt;
}

static GDBusInterfaceVTable *
manager_get_vtable(GDBusInterfaceSkeleton *skeleton)
{
    static GDBusInterfaceVTable *vt;

    if (g_once_init_enter(&vt)) {
        GDBusInterfaceSkeletonClass *parent =
            G_DBUS_INTERFACE_SKELETON_CLASS(vb_bus_manager_skeleton_parent_class);

        g_once_init_leave(&vt, make_vtable(parent->get_vtable(skeleton), manager_method_call));
    }
    return vt;
}

static void
network_method_call(GDBusConnection *connection, const char *sender, const char *object_path,
                    const char *interface_name, const char *method_name, GVariant *parameters,
                    GDBusMethodInvocation *invocation, gpointer user_data)
{
    VbBusNetworkSkeleton *self = user_data;
    const VbBusMethod *m = vb_bus_method_lookup(vb_bus_network_methods,
                                                vb_bus_network_n_methods, method_name);

    if (m == NULL) {
        unknown_method(invocation, method_name);
        return;
    }
    vb_bus_dispatch_network(self->service, m, invocation, NULL, parameters, self->net);
}

static GDBusInterfaceVTable *
network_get_vtable(GDBusInterfaceSkeleton *skeleton)
{
    static GDBusInterfaceVTable *vt;

    if (g_once_init_enter(&vt)) {
        GDBusInterfaceSkeletonClass *parent =
            G_DBUS_INTERFACE_SKELETON_CLASS(vb_bus_network_skeleton_parent_class);

        g_once_init_leave(&vt, make_vtable(parent->get_vtable(skeleton), network_method_call));
    }
    return vt;
}

static void
network_skeleton_finalize(GObject *object)
{
    VbBusNetworkSkeleton *self = (VbBusNetworkSkeleton *)object;

    g_clear_pointer(&self->net, vb_network_obj_unref);
    G_OBJECT_CLASS(vb_bus_network_skeleton_parent_class)->finalize(object);
}

static void
vb_bus_network_skeleton_class_init(VbBusNetworkSkeletonClass *klass)
{
    G_OBJECT_CLASS(klass)->finalize = network_skeleton_finalize;
    G_DBUS_INTERFACE_SKELETON_CLASS(klass)->get_vtable = network_get_vtable;
}

static void
vb_bus_network_skeleton_init(VbBusNetworkSkeleton *self)
{
}

/* Returns: (transfer full): a Network interface for @net. */
VbDBusNetwork *
vb_bus_network_skeleton_new(VbBusService *service, VbNetworkObj *net)
{
    VbBusNetworkSkeleton *self = g_object_new(VB_TYPE_BUS_NETWORK_SKELETON, NULL);

    self->service = service;
    self->net = vb_network_obj_ref(net);
    return VB_DBUS_NETWORK(self);
}

/* Returns: (transfer none): the network behind a Network interface. */
VbNetworkObj *
vb_bus_network_skeleton_get_network(VbDBusNetwork *iface)
{
    g_return_val_if_fail(VB_IS_BUS_NETWORK_SKELETON(iface), NULL);
    return ((VbBusNetworkSkeleton *)iface)->net;
}

static GDBusInterfaceVTable *
job_get_vtable(GDBusInterfaceSkeleton *skeleton)
{
    static GDBusInterfaceVTable *vt;

    if (g_once_init_enter(&vt)) {
        GDBusInterfaceSkeletonClass *parent =
            G_DBUS_INTERFACE_SKELETON_CLASS(vb_bus_job_skeleton_parent_class);

        g_once_init_leave(&vt, make_vtable(parent->get_vtable(skeleton), job_method_call));
    }
    return vt;
}

static void
job_skeleton_finalize(GObject *object)
{
    VbBusJobSkeleton *self = (VbBusJobSkeleton *)object;

    g_clear_pointer(&self->job, vb_job_unref);
    if (self->waiters != NULL)
        g_ptr_array_unref(self->waiters);
    G_OBJECT_CLASS(vb_bus_job_skeleton_parent_class)->finalize(object);
}

static void
vb_bus_job_skeleton_class_init(VbBusJobSkeletonClass *klass)
{
    G_OBJECT_CLASS(klass)->finalize = job_skeleton_finalize;
    G_DBUS_INTERFACE_SKELETON_CLASS(klass)->get_vtable = job_get_vtable;
}

static void
vb_bus_job_skeleton_init(VbBusJobSkeleton *self)
{
    self->waiters = g_ptr_array_new();
}

/* Returns: (transfer full): a Job interface for @job. */
VbDBusJob *
vb_bus_job_skeleton_new(VbBusService *service, VbJob *job)
{
    VbBusJobSkeleton *self = g_object_new(VB_TYPE_BUS_JOB_SKELETON, NULL);

    self->service = service;
    self->job = vb_job_ref(job);
    return VB_DBUS_JOB(self);
}

/* Main thread: the Wait() calls not answered yet (owned by the skeleton). */
GPtrArray *
vb_bus_job_skeleton_get_waiters(VbDBusJob *iface)
{
    return ((VbBusJobSkeleton *)iface)->waiters;
}

/* Main thread: whether Completed was emitted; set it with @set. */
gboolean
vb_bus_job_skeleton_done(VbDBusJob *iface, gboolean set)
{
    VbBusJobSkeleton *self = (VbBusJobSkeleton *)iface;

    if (set)
        self->done = TRUE;
    return self->done;
}

/* Returns: (transfer none): the job record behind a Job interface. */
VbJob *
vb_bus_job_skeleton_get_job(VbDBusJob *iface)
{
    g_return_val_if_fail(VB_IS_BUS_JOB_SKELETON(iface), NULL);
    return ((VbBusJobSkeleton *)iface)->job;
}

static void
vb_bus_manager_skeleton_class_init(VbBusManagerSkeletonClass *klass)
{
    G_DBUS_INTERFACE_SKELETON_CLASS(klass)->get_vtable = manager_get_vtable;
}

static void
vb_bus_manager_skeleton_init(VbBusManagerSkeleton *self)
{
}

/* Returns: (transfer full): the Manager interface, routed to the dispatcher. */
VbDBusManager *
vb_bus_manager_skeleton_new(VbBusService *service)
{
    VbBusManagerSkeleton *self = g_object_new(VB_TYPE_BUS_MANAGER_SKELETON, NULL);

    self->service = service;
    return VB_DBUS_MANAGER(self);
}
