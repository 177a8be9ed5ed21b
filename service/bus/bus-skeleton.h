/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "bus-service.h"

G_BEGIN_DECLS

#define VB_TYPE_BUS_MANAGER_SKELETON (vb_bus_manager_skeleton_get_type())
G_DECLARE_FINAL_TYPE(VbBusManagerSkeleton, vb_bus_manager_skeleton, VB, BUS_MANAGER_SKELETON,
                     VbDBusManagerSkeleton)
#define VB_TYPE_BUS_DOMAIN_SKELETON (vb_bus_domain_skeleton_get_type())
G_DECLARE_FINAL_TYPE(VbBusDomainSkeleton, vb_bus_domain_skeleton, VB, BUS_DOMAIN_SKELETON,
                     VbDBusDomainSkeleton)

VbDBusManager *vb_bus_manager_skeleton_new(VbBusService *service);
VbDBusDomain *vb_bus_domain_skeleton_new(VbBusService *service, VbDomainObj *dom);
VbDomainObj *vb_bus_domain_skeleton_get_domain(VbDBusDomain *iface);

G_END_DECLS
