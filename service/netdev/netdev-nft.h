/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Firewall rules of virtual networks in one nftables table that belongs to
 * virtbus, `inet virtbus`; no other table is ever read or changed. Each
 * network has its own base chains in it (`net-<name>-fwd`, `-in`, `-out`,
 * `-nat`), added and removed together in one `nft -f -` transaction; the
 * table goes with the last network. Calls are serialized inside the
 * process; any thread; acts in the calling thread's network namespace.
 */

#include <glib.h>

#include "netdev-ip.h"

G_BEGIN_DECLS

#define VB_NETDEV_NFT_TABLE "virtbus"

/**
 * VbNetdevFwMode:
 * @VB_NETDEV_FW_NAT: `<forward mode='nat'>`: masquerade the IPv4 subnets to
 *   the outside, let replies in; IPv6 subnets are routed (as libvirt does)
 *   unless @nat_ipv6 is set
 * @VB_NETDEV_FW_ROUTE: `<forward mode='route'>`: forward both ways, no NAT
 * @VB_NETDEV_FW_OPEN: `<forward mode='open'>`: no rules at all
 * @VB_NETDEV_FW_ISOLATED: no `<forward>`: only traffic within the bridge
 * @VB_NETDEV_FW_LAST: the count
 *
 * What a network's forward mode asks of the firewall.
 */
typedef enum {
    VB_NETDEV_FW_NAT,
    VB_NETDEV_FW_ROUTE,
    VB_NETDEV_FW_OPEN,
    VB_NETDEV_FW_ISOLATED,
    VB_NETDEV_FW_LAST
} VbNetdevFwMode;

/**
 * VbNetdevFirewall:
 * @bridge: the network's bridge
 * @mode: the forward mode
 * @subnets: (array length=n_subnets): the network's `<ip>` subnets
 * @n_subnets: how many
 * @forward_dev: (nullable): `<forward dev>`: traffic leaves only through it
 * @nat_port_start: `<nat><port start>`, 0 for libvirt's 1024
 * @nat_port_end: `<nat><port end>`, 0 for libvirt's 65535
 * @nat_addr_start: (nullable): `<nat><address start>`: SNAT to this range
 *   instead of masquerading
 * @nat_addr_end: (nullable): `<nat><address end>` (defaults to the start)
 * @nat_ipv6: `<nat ipv6='yes'>`: masquerade the IPv6 subnets too
 * @dhcp_dns: accept DHCP and DNS from the bridge to the host (dnsmasq runs)
 *
 * The rules vb_netdev_nft_add() installs for one network.
 */
typedef struct {
    const char *bridge;
    VbNetdevFwMode mode;
    const VbNetdevPrefix *subnets;
    guint n_subnets;
    const char *forward_dev;
    guint nat_port_start;
    guint nat_port_end;
    const char *nat_addr_start;
    const char *nat_addr_end;
    gboolean nat_ipv6;
    gboolean dhcp_dns;
} VbNetdevFirewall;

const char *vb_netdev_fw_mode_to_string(VbNetdevFwMode mode);
int vb_netdev_fw_mode_from_string(const char *str);

char *vb_netdev_nft_script(const char *network, const VbNetdevFirewall *fw, GError **error);
gboolean vb_netdev_nft_add(const char *network, const VbNetdevFirewall *fw, GError **error);
gboolean vb_netdev_nft_remove(const char *network, GError **error);
char **vb_netdev_nft_list(GError **error);

gboolean vb_netdev_ip_forward_enable(gboolean ipv6, GError **error);

G_END_DECLS
