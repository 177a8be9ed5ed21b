/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * IP addresses, routes and neighbours of the host (rtnetlink): add and
 * remove addresses, add routes, list routes/addresses/neighbours and check
 * that a subnet a network wants does not clash with what the host uses. Any
 * thread; acts in the calling thread's network namespace; errors are
 * %VB_ERROR naming the device and the kernel's reason.
 */

#include <glib.h>
#include <net/if.h>

G_BEGIN_DECLS

/**
 * VbNetdevPrefix:
 * @family: AF_INET or AF_INET6
 * @addr: the address, network byte order (4 or 16 bytes used)
 * @prefix: the prefix length
 *
 * An address with its prefix length ("192.168.122.1/24").
 */
typedef struct {
    int family;
    guint8 addr[16];
    guint prefix;
} VbNetdevPrefix;

gboolean vb_netdev_prefix_parse(const char *str, VbNetdevPrefix *out_prefix, GError **error);
char *vb_netdev_prefix_to_string(const VbNetdevPrefix *p);
char *vb_netdev_prefix_addr_string(const VbNetdevPrefix *p);
void vb_netdev_prefix_network(const VbNetdevPrefix *p, VbNetdevPrefix *out_net);
gboolean vb_netdev_prefix_overlaps(const VbNetdevPrefix *a, const VbNetdevPrefix *b);

gboolean vb_netdev_addr_add(const char *ifname, const char *address, GError **error);
gboolean vb_netdev_addr_del(const char *ifname, const char *address, GError **error);
gboolean vb_netdev_addr_add_peer(const char *ifname, const char *address, const char *peer,
                                 GError **error);
gboolean vb_netdev_addr_del_peer(const char *ifname, const char *address, const char *peer,
                                 GError **error);
gboolean vb_netdev_route_add(const char *ifname, const char *dest, const char *gateway,
                             GError **error);
gboolean vb_netdev_route_add_metric(const char *ifname, const char *dest, const char *gateway,
                                    guint metric, GError **error);
gboolean vb_netdev_route_del(const char *ifname, const char *dest, const char *gateway,
                             guint metric, GError **error);

/**
 * VbNetdevRoute:
 * @dest: destination prefix (0.0.0.0/0 or ::/0 for a default route)
 * @gateway: the gateway, "" when none
 * @ifname: the outgoing link, "" when none (blackhole, unreachable)
 * @table: routing table (254 = main)
 * @type: RTN_* (1 = unicast, 2 = local, ...)
 *
 * One route of vb_netdev_route_list().
 */
typedef struct {
    VbNetdevPrefix dest;
    char gateway[64];
    char ifname[IFNAMSIZ];
    guint table;
    guint type;
} VbNetdevRoute;

/**
 * VbNetdevAddr:
 * @ifname: the link it is on
 * @ifindex: its index
 * @addr: address and prefix length
 * @flags: IFA_F_* (IFA_F_TENTATIVE while IPv6 duplicate detection runs)
 *
 * One address of vb_netdev_addr_list().
 */
typedef struct {
    char ifname[IFNAMSIZ];
    int ifindex;
    VbNetdevPrefix addr;
    guint flags;
} VbNetdevAddr;

/**
 * VbNetdevNeigh:
 * @family: AF_INET or AF_INET6
 * @ip: the neighbour's address as text
 * @mac: its MAC as "52:54:00:12:34:56"
 * @ifname: the link it was seen on
 *
 * One entry of the neighbour (ARP/NDP) table, as libvirt's ARP source of
 * InterfaceAddresses reads it.
 */
typedef struct {
    int family;
    char ip[64];
    char mac[18];
    char ifname[IFNAMSIZ];
} VbNetdevNeigh;

GArray *vb_netdev_route_list(int family, GError **error);
GArray *vb_netdev_addr_list(int family, GError **error);
GArray *vb_netdev_neigh_list(int family, GError **error);
gboolean vb_netdev_addr_wait_dad(const char *ifname, guint timeout_ms, GError **error);
gboolean vb_netdev_ipv6_sysctls(const char *ifname, gboolean has_ipv6, GError **error);
gboolean vb_netdev_subnet_check_free(const VbNetdevPrefix *subnet, const char *own_ifname,
                                     GError **error);

G_END_DECLS
