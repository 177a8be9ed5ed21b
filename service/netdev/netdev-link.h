/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Links of the host (rtnetlink, no `ip` command): look up, bring up/down,
 * MTU, MAC, bridge membership, delete; create and delete bridges and veth
 * pairs. Every function acts in the calling thread's network namespace, may
 * be called from any thread and sets a %VB_ERROR naming the device and the
 * kernel's reason on failure.
 */

#include <glib.h>
#include <net/if.h>

G_BEGIN_DECLS

#define VB_NETDEV_MAC_LEN 6

/**
 * VbNetdevLink:
 * @name: the interface name
 * @ifindex: its index
 * @master: index of the bridge (or bond) it is attached to, 0 when none
 * @master_name: the master's name, "" when none
 * @mtu: the MTU
 * @mac: the hardware address (all zero when the link has none)
 * @up: %TRUE when administratively up (IFF_UP)
 * @kind: the link's kind ("bridge", "tun", "macvtap", "veth", ...), "" for
 *   a physical device
 *
 * What vb_netdev_link_lookup() reports about a link.
 */
typedef struct {
    char name[IFNAMSIZ];
    int ifindex;
    int master;
    char master_name[IFNAMSIZ];
    guint mtu;
    guint8 mac[VB_NETDEV_MAC_LEN];
    gboolean up;
    char kind[32];
} VbNetdevLink;

/**
 * VbNetdevBridgeOptions:
 * @stp: enable the spanning tree protocol
 * @delay: forward delay in seconds (libvirt's `<bridge delay>`)
 * @mtu: MTU, 0 for the kernel's default
 * @mac: (nullable): the bridge's MAC, %NULL for a random one
 *
 * Settings of vb_netdev_bridge_create().
 */
typedef struct {
    gboolean stp;
    guint delay;
    guint mtu;
    const guint8 *mac;
} VbNetdevBridgeOptions;

gboolean vb_netdev_name_check(const char *name, GError **error);
gboolean vb_netdev_link_exists(const char *name);
gboolean vb_netdev_link_lookup(const char *name, VbNetdevLink *out_link, GError **error);
int vb_netdev_link_index(const char *name, GError **error);
gboolean vb_netdev_link_set_up(const char *name, gboolean up, GError **error);
gboolean vb_netdev_link_set_mtu(const char *name, guint mtu, GError **error);
gboolean vb_netdev_link_set_mac(const char *name, const guint8 *mac, GError **error);
gboolean vb_netdev_link_set_master(const char *name, const char *bridge, GError **error);
gboolean vb_netdev_link_delete(const char *name, GError **error);

gboolean vb_netdev_bridge_create(const char *name, const VbNetdevBridgeOptions *opts,
                                 GError **error);
gboolean vb_netdev_bridge_delete(const char *name, GError **error);
gboolean vb_netdev_veth_create(const char *name, const char *peer, GError **error);
gboolean vb_netdev_link_set_netns(const char *name, int netns_fd, GError **error);

gboolean vb_netdev_mac_parse(const char *str, guint8 *out_mac);
char *vb_netdev_mac_format(const guint8 *mac);

G_END_DECLS
