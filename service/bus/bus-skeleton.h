/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "bus-service.h"

G_BEGIN_DECLS

#define VB_TYPE_BUS_MANAGER_SKELETON (vb_bus_manager_skeleton_get_type())
G_DECLARE_FINAL_TYPE(VbBusManagerSkeleton, vb_bus_manager_skeleton, VB, BUS_MANAGER_SKELETON,
                     VbDBusManagerSkeleton)

#define VB_TYPE_BUS_JOB_SKELETON (vb_bus_job_skeleton_get_type())
G_DECLARE_FINAL_TYPE(VbBusJobSkeleton, vb_bus_job_skeleton, VB, BUS_JOB_SKELETON,
                     VbDBusJobSkeleton)

#define VB_TYPE_BUS_NETWORK_SKELETON (vb_bus_network_skeleton_get_type())
G_DECLARE_FINAL_TYPE(VbBusNetworkSkeleton, vb_bus_network_skeleton, VB, BUS_NETWORK_SKELETON,
                     VbDBusNetworkSkeleton)

VbDBusNetwork *vb_bus_network_skeleton_new(VbBusService *service, VbNetworkObj *net);
VbNetworkObj *vb_bus_network_skeleton_get_network(VbDBusNetwork *iface);
VbDBusJob *vb_bus_job_skeleton_new(VbBusService *service, VbJob *job);
GPtrArray *vb_bus_job_skeleton_get_waiters(VbDBusJob *iface);
gboolean vb_bus_job_skeleton_done(VbDBusJob *iface, gboolean set);
VbJob *vb_bus_job_skeleton_get_job(VbDBusJob *iface);
VbDBusManager *vb_bus_manager_skeleton_new(VbBusService *service);

G_END_DECLS
