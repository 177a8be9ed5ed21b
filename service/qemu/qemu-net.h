/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The host side of a domain's network interfaces (issue 12, part interfaces): the taps,
 * macvtaps, bridge ports, Open vSwitch ports and tc shaping made for QEMU before it starts
 * (qemu-net-prepare.c), the file descriptors QEMU gets, and their release. One
 * VbQemuNetPrep per <interface>, in the definition's order; the command builder
 * (qemu-command-net.c) writes the fds it was given.
 *
 * File descriptors: QEMU gets the tap (and vhost-net) fds of every interface at fixed
 * numbers, from VB_QEMU_NET_FD_BASE upwards in interface order, taps before vhost fds
 * (vb_qemu_net_fd_map()). The builder writes those numbers; the start path passes the
 * service's fds there (vb_qemu_process_spawn_fds()).
 */

#include <glib.h>

#include "domain-def-priv.h"

G_BEGIN_DECLS

#define VB_QEMU_NET_FD_BASE 3

/**
 * VbQemuNetPort:
 * @bridge: the bridge a tap of the network joins
 * @mtu: the network's MTU, 0 when unset
 *
 * What a running network gives an <interface type='network'>.
 */
typedef struct {
    char *bridge;
    guint mtu;
} VbQemuNetPort;

/**
 * VbQemuNetResolveFunc:
 * @network: the <source network=> name
 * @out: filled on success (the callee allocates @out->bridge)
 *
 * Looks up a running network: the seam to the network driver, set by the bus service.
 * Returns: %FALSE with @error (e.g. the network is not active)
 */
typedef gboolean (*VbQemuNetResolveFunc)(const char *network, VbQemuNetPort *out,
                                         gpointer user_data, GError **error);

/**
 * VbQemuNetPrep:
 * @alias: the interface's QEMU id ("net0")
 * @type: the interface type
 * @ifname: the host device QEMU's fds belong to (tap or macvtap), %NULL for none
 * @kind: "tap", "macvtap" or %NULL
 * @managed: the service made @ifname (it deletes what stays after QEMU: a macvtap)
 * @bridge: the bridge the tap joined, %NULL for none
 * @ovs: the port was added to an Open vSwitch bridge (removed at release)
 * @mtu: the MTU set on the host device (and host_mtu on virtio-net), 0 for none
 * @tapfds: (element-type int): the service's tap/macvtap fds, one per queue
 * @vhostfds: (element-type int): the service's /dev/vhost-net fds, one per queue
 * @lower: the lower device of a passthrough macvtap whose MAC was changed, else %NULL
 * @lower_mac: its MAC before, as "aa:bb:..." (restored at release)
 * @link_down: <link state='down'>: the start path sets the link down (QMP set_link)
 *
 * What was done on the host for one interface. The fds are closed by
 * vb_qemu_net_prep_close_fds() once QEMU holds them.
 */
typedef struct {
    char *alias;
    char *type;
    char *ifname;
    char *kind;
    gboolean managed;
    char *bridge;
    gboolean ovs;
    guint mtu;
    GArray *tapfds;
    GArray *vhostfds;
    char *lower;
    char *lower_mac;
    gboolean link_down;
} VbQemuNetPrep;

/**
 * VbQemuNetIp:
 * @address: "10.0.0.1/24" (the prefix length filled in as libvirt does)
 * @peer: (nullable): the other end of a point-to-point address
 *
 * One <source><ip> of an <interface type='ethernet'>: an address of the host's tap.
 */
typedef struct {
    char *address;
    char *peer;
} VbQemuNetIp;

/**
 * VbQemuNetRoute:
 * @dest: "10.1.0.0/24"
 * @gateway: the next hop
 * @metric: 0 for the kernel's default
 *
 * One <source><route> of an <interface type='ethernet'>: a host route through the tap.
 */
typedef struct {
    char *dest;
    char *gateway;
    guint metric;
} VbQemuNetRoute;

gboolean vb_qemu_net_host_ip_parse(const VbDeviceDef *dev, const char *alias,
                                   GPtrArray **out_ips, GPtrArray **out_routes, GError **error);

void vb_qemu_net_prep_free(VbQemuNetPrep *prep);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VbQemuNetPrep, vb_qemu_net_prep_free)
void vb_qemu_net_prep_close_fds(VbQemuNetPrep *prep);

guint vb_qemu_net_count(const VbDomainDef *def);
VbQemuNetPrep *vb_qemu_net_prepare_one(const VbDomainDef *def, guint index,
                                       VbQemuNetResolveFunc resolve, gpointer resolve_data,
                                       GError **error);
void vb_qemu_net_release(VbQemuNetPrep *prep);
gboolean vb_qemu_net_set_bandwidth(const VbDeviceDef *dev, VbQemuNetPrep *prep, GError **error);
void vb_qemu_net_fd_map(const GPtrArray *preps, GArray *source_fds, GArray *target_fds);

G_END_DECLS
