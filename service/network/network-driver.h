/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

#include "network-def.h"
#include "network-dnsmasq.h"
#include "vb-paths.h"

G_BEGIN_DECLS

/*
 * The virtual network driver (issue 12, part "driver"): what a running
 * network is on the host. For a network whose guests sit on a bridge
 * virtbus makes (isolated, nat, route, open) that is the bridge with its
 * addresses, the network's chains in the nftables table `inet virtbus` (not
 * for open), IP forwarding (nat, route), a dnsmasq child (when the network
 * has DHCP or DNS to serve) and a status file; for `<forward
 * mode='bridge'>` only the status file. docs/networks.md describes it.
 *
 * network-list.c calls it; it knows no network objects, only definitions.
 * Threads: any worker thread; the caller serializes the calls for one
 * network (network-list.c holds its operation lock). The driver's own lock
 * guards its table of running networks (dnsmasq handles); it is a leaf,
 * held across no I/O but the read of a lease file.
 */

typedef struct _VbNetworkDriver VbNetworkDriver;

VbNetworkDriver *vb_network_driver_new(const VbPaths *paths, GMainContext *context);
void vb_network_driver_free(VbNetworkDriver *drv);

gboolean vb_network_driver_check(VbNetworkDriver *drv, const VbNetworkDef *def,
                                 const char *const *active_subnets, GError **error);
gboolean vb_network_driver_start(VbNetworkDriver *drv, const VbNetworkDef *live, GError **error);
gboolean vb_network_driver_stop(VbNetworkDriver *drv, const VbNetworkDef *live, GError **error);
gboolean vb_network_driver_update(VbNetworkDriver *drv, const VbNetworkDef *live, GError **error);
GPtrArray *vb_network_driver_reconnect(VbNetworkDriver *drv);
GPtrArray *vb_network_driver_get_leases(VbNetworkDriver *drv, const char *name, const char *mac,
                                        GError **error);
GPid vb_network_driver_get_dnsmasq_pid(VbNetworkDriver *drv, const char *name);
char **vb_network_driver_host_subnets(void);

VbDnsmasqConfig *vb_network_dnsmasq_config(const VbNetworkDef *def);
char *vb_network_dnsmasq_name(const char *name);

G_END_DECLS
