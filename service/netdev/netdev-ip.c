/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <string.h>
#include <linux/if_addr.h>
#include <linux/neighbour.h>

#include "netdev-ip.h"
#include "netdev-link.h"
#include "netdev-netlink.h"
#include "netdev-priv.h"
#include "vb-error.h"

static int
family_len(int family)
{
    return family == AF_INET ? 4 : 16;
}

/**
 * vb_netdev_prefix_parse:
 * @str: "192.168.122.1/24", "fd00::1/64", or an address alone (full length)
 * @out_prefix: (out caller-allocates): the result
 * @error: return location for %VB_ERROR_INVALID_ARG
 *
 * Returns: %TRUE when @str is an IPv4 or IPv6 address with a valid prefix.
 */
gboolean
vb_netdev_prefix_parse(const char *str, VbNetdevPrefix *out_prefix, GError **error)
{
    VbNetdevPrefix p = {0};
    g_autofree char *addr = g_strdup(str ? str : "");
    char *slash = strchr(addr, '/');
    guint64 len = 0;

    if (slash)
        *slash = '\0';
    if (inet_pton(AF_INET, addr, p.addr) == 1)
        p.family = AF_INET;
    else if (inet_pton(AF_INET6, addr, p.addr) == 1)
        p.family = AF_INET6;
    else
        goto bad;
    len = family_len(p.family) * 8;
    if (slash && !g_ascii_string_to_unsigned(slash + 1, 10, 0, len, &len, NULL))
        goto bad;
    p.prefix = len;
    *out_prefix = p;
    return TRUE;
bad:
    g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                "'%s' is not an IPv4 or IPv6 address with an optional /prefix", str ? str : "");
    return FALSE;
}

/**
 * vb_netdev_prefix_addr_string:
 * @p: a prefix
 *
 * Returns: (transfer full): the address alone as text.
 */
char *
vb_netdev_prefix_addr_string(const VbNetdevPrefix *p)
{
    char buf[INET6_ADDRSTRLEN];

    inet_ntop(p->family, p->addr, buf, sizeof(buf));
    return g_strdup(buf);
}

/**
 * vb_netdev_prefix_to_string:
 * @p: a prefix
 *
 * Returns: (transfer full): "address/len".
 */
char *
vb_netdev_prefix_to_string(const VbNetdevPrefix *p)
{
    g_autofree char *a = vb_netdev_prefix_addr_string(p);

    return g_strdup_printf("%s/%u", a, p->prefix);
}

/**
 * vb_netdev_prefix_network:
 * @p: a prefix
 * @out_net: (out caller-allocates): @p with the host bits cleared
 */
void
vb_netdev_prefix_network(const VbNetdevPrefix *p, VbNetdevPrefix *out_net)
{
    VbNetdevPrefix n = *p;
    int bytes = family_len(p->family);

    for (int i = 0; i < bytes; i++) {
        int bits = (int)p->prefix - i * 8;

        if (bits <= 0)
            n.addr[i] = 0;
        else if (bits < 8)
            n.addr[i] &= (guint8)(0xff << (8 - bits));
    }
    *out_net = n;
}

/**
 * vb_netdev_prefix_overlaps:
 * @a: a prefix
 * @b: another
 *
 * Returns: %TRUE when the two subnets share an address (one contains the other).
 */
gboolean
vb_netdev_prefix_overlaps(const VbNetdevPrefix *a, const VbNetdevPrefix *b)
{
    VbNetdevPrefix s = *a, t = *b, na, nb;

    if (a->family != b->family)
        return FALSE;
    s.prefix = t.prefix = MIN(a->prefix, b->prefix);
    vb_netdev_prefix_network(&s, &na);
    vb_netdev_prefix_network(&t, &nb);
    return memcmp(na.addr, nb.addr, family_len(a->family)) == 0;
}

static gboolean
addr_change(const char *ifname, const char *address, const char *peer, gboolean add,
            GError **error)
{
    VbNetdevPrefix p, pe;
    struct ifaddrmsg ifa = {0};
    g_autoptr(VbNlMsg) msg = NULL;
    g_autofree char *reason = NULL;
    int ifindex, e;

    if (!vb_netdev_prefix_parse(address, &p, error))
        return FALSE;
    if (peer && !vb_netdev_prefix_parse(peer, &pe, error))
        return FALSE;
    if (peer && pe.family != p.family) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                    "address %s: peer %s is not of the same address family", address, peer);
        return FALSE;
    }
    ifindex = vb_netdev_link_index(ifname, error);
    if (ifindex < 0)
        return FALSE;
    ifa.ifa_family = p.family;
    ifa.ifa_prefixlen = p.prefix;
    ifa.ifa_index = ifindex;
    msg = vb_nl_msg_new(add ? RTM_NEWADDR : RTM_DELADDR, add ? NLM_F_CREATE | NLM_F_EXCL : 0, &ifa,
                        sizeof(ifa));
    vb_nl_msg_put(msg, IFA_LOCAL, p.addr, family_len(p.family));
    /* a point-to-point address: IFA_ADDRESS is the other end */
    vb_nl_msg_put(msg, IFA_ADDRESS, peer ? pe.addr : p.addr, family_len(p.family));
    if (add && !peer && p.family == AF_INET && p.prefix < 31) {
        /* the broadcast address, as libvirt sets it */
        VbNetdevPrefix b = p;

        for (int i = 0; i < 4; i++) {
            int bits = (int)p.prefix - i * 8;

            if (bits <= 0)
                b.addr[i] = 0xff;
            else if (bits < 8)
                b.addr[i] |= (guint8)(0xff >> bits);
        }
        vb_nl_msg_put(msg, IFA_BROADCAST, b.addr, 4);
    }
    e = vb_nl_request(msg, &reason);
    if (e != 0) {
        vb_netdev_set_error(error, e, reason, "cannot %s address %s%s%s %s network device '%s'",
                            add ? "add" : "remove", address, peer ? " peer " : "",
                            peer ? peer : "", add ? "to" : "from", ifname);
        return FALSE;
    }
    return TRUE;
}

/**
 * vb_netdev_addr_add:
 * @ifname: a link
 * @address: "192.168.122.1/24" or "fd00::1/64"
 * @error: return location; %VB_ERROR_EXISTS when the address is already there
 *
 * Adds an address (with its IPv4 broadcast address, as libvirt does).
 *
 * Returns: %TRUE on success.
 */
gboolean
vb_netdev_addr_add(const char *ifname, const char *address, GError **error)
{
    return addr_change(ifname, address, NULL, TRUE, error);
}

/**
 * vb_netdev_addr_add_peer:
 * @ifname: a link
 * @address: "10.0.0.1/32" (the local address with its prefix length)
 * @peer: (nullable): the other end of a point-to-point link ("10.0.0.2"); %NULL is
 *   vb_netdev_addr_add()
 * @error: return location; %VB_ERROR_EXISTS when the address is already there
 *
 * Adds an address whose IFA_ADDRESS is @peer (`ip addr add A peer P`), as libvirt's
 * virNetDevIPAddrAdd() for `<ip address peer>`: no broadcast address then.
 *
 * Returns: %TRUE on success.
 */
gboolean
vb_netdev_addr_add_peer(const char *ifname, const char *address, const char *peer,
                        GError **error)
{
    return addr_change(ifname, address, peer, TRUE, error);
}

/**
 * vb_netdev_addr_del:
 * @ifname: a link
 * @address: the address with its prefix length, as added
 * @error: return location
 *
 * Returns: %TRUE on success.
 */
gboolean
vb_netdev_addr_del(const char *ifname, const char *address, GError **error)
{
    return addr_change(ifname, address, NULL, FALSE, error);
}

/**
 * vb_netdev_addr_del_peer:
 * @ifname: a link
 * @address: the address with its prefix length, as added
 * @peer: (nullable): its peer, as added
 * @error: return location
 *
 * Removes what vb_netdev_addr_add_peer() added.
 *
 * Returns: %TRUE on success.
 */
gboolean
vb_netdev_addr_del_peer(const char *ifname, const char *address, const char *peer,
                        GError **error)
{
    return addr_change(ifname, address, peer, FALSE, error);
}

static gboolean
route_change(const char *ifname, const char *dest, const char *gateway, guint metric,
             guint8 protocol, gboolean add, GError **error)
{
    VbNetdevPrefix d, gw;
    struct rtmsg rtm = {0};
    g_autoptr(VbNlMsg) msg = NULL;
    g_autofree char *reason = NULL;
    int e;

    if (!vb_netdev_prefix_parse(dest, &d, error))
        return FALSE;
    if (gateway && !vb_netdev_prefix_parse(gateway, &gw, error))
        return FALSE;
    if (gateway && gw.family != d.family) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                    "route to %s: gateway %s is not of the same address family", dest, gateway);
        return FALSE;
    }
    rtm.rtm_family = d.family;
    rtm.rtm_dst_len = d.prefix;
    rtm.rtm_table = RT_TABLE_MAIN;
    if (add) {
        rtm.rtm_protocol = protocol;
        rtm.rtm_scope = gateway ? RT_SCOPE_UNIVERSE : RT_SCOPE_LINK;
        rtm.rtm_type = RTN_UNICAST;
    } else {
        rtm.rtm_scope = RT_SCOPE_NOWHERE; /* any scope */
    }
    msg = vb_nl_msg_new(add ? RTM_NEWROUTE : RTM_DELROUTE, add ? NLM_F_CREATE | NLM_F_EXCL : 0,
                        &rtm, sizeof(rtm));
    if (d.prefix > 0)
        vb_nl_msg_put(msg, RTA_DST, d.addr, family_len(d.family));
    if (gateway)
        vb_nl_msg_put(msg, RTA_GATEWAY, gw.addr, family_len(gw.family));
    if (metric > 0)
        vb_nl_msg_put_u32(msg, RTA_PRIORITY, metric);
    if (ifname) {
        int ifindex = vb_netdev_link_index(ifname, error);

        if (ifindex < 0)
            return FALSE;
        vb_nl_msg_put_u32(msg, RTA_OIF, ifindex);
    }
    e = vb_nl_request(msg, &reason);
    if (e != 0) {
        vb_netdev_set_error(error, e, reason, "cannot %s route to %s%s%s%s%s",
                            add ? "add" : "remove", dest, gateway ? " via " : "",
                            gateway ? gateway : "", ifname ? " dev " : "", ifname ? ifname : "");
        return FALSE;
    }
    return TRUE;
}

/**
 * vb_netdev_route_add:
 * @ifname: (nullable): the outgoing link
 * @dest: the destination prefix ("0.0.0.0/0" for a default route)
 * @gateway: (nullable): the next hop
 * @error: return location
 *
 * Adds a route to the main table (for `<route>` of a network and for tests).
 *
 * Returns: %TRUE on success.
 */
gboolean
vb_netdev_route_add(const char *ifname, const char *dest, const char *gateway, GError **error)
{
    return route_change(ifname, dest, gateway, 0, RTPROT_STATIC, TRUE, error);
}

/**
 * vb_netdev_route_add_metric:
 * @ifname: the outgoing link
 * @dest: the destination prefix ("0.0.0.0/0" for a default route)
 * @gateway: the next hop
 * @metric: the route's priority, 0 for the kernel's default
 * @error: return location; %VB_ERROR_EXISTS when the main table has that route
 *
 * Adds a route to the main table as libvirt's virNetDevIPRouteAdd() does for the host
 * side of `<interface type='ethernet'>` (protocol "boot").
 *
 * Returns: %TRUE on success.
 */
gboolean
vb_netdev_route_add_metric(const char *ifname, const char *dest, const char *gateway,
                           guint metric, GError **error)
{
    return route_change(ifname, dest, gateway, metric, RTPROT_BOOT, TRUE, error);
}

/**
 * vb_netdev_route_del:
 * @ifname: (nullable): the outgoing link
 * @dest: the destination prefix, as added
 * @gateway: (nullable): the next hop, as added
 * @metric: the metric, as added
 * @error: return location
 *
 * Removes a route of the main table.
 *
 * Returns: %TRUE on success.
 */
gboolean
vb_netdev_route_del(const char *ifname, const char *dest, const char *gateway, guint metric,
                    GError **error)
{
    return route_change(ifname, dest, gateway, metric, 0, FALSE, error);
}

static void
index_name(int ifindex, char *buf)
{
    buf[0] = '\0';
    if (ifindex > 0 && if_indextoname(ifindex, buf) == NULL)
        buf[0] = '\0';
}

static void
route_parse(const struct nlmsghdr *nlh, gpointer user_data)
{
    GArray *out = user_data;
    const struct rtmsg *rtm = NLMSG_DATA(nlh);
    const struct rtattr *tb[RTA_MAX + 1];
    VbNetdevRoute r = {0};

    if (nlh->nlmsg_type != RTM_NEWROUTE)
        return;
    if (rtm->rtm_family != AF_INET && rtm->rtm_family != AF_INET6)
        return;
    vb_nl_parse_attrs(RTM_RTA(rtm), RTM_PAYLOAD(nlh), tb, RTA_MAX);
    r.dest.family = rtm->rtm_family;
    r.dest.prefix = rtm->rtm_dst_len;
    if (tb[RTA_DST])
        memcpy(r.dest.addr, RTA_DATA(tb[RTA_DST]),
               MIN(RTA_PAYLOAD(tb[RTA_DST]), sizeof(r.dest.addr)));
    if (tb[RTA_GATEWAY])
        inet_ntop(rtm->rtm_family, RTA_DATA(tb[RTA_GATEWAY]), r.gateway, sizeof(r.gateway));
    if (tb[RTA_OIF])
        index_name(*(const int *)RTA_DATA(tb[RTA_OIF]), r.ifname);
    r.table = tb[RTA_TABLE] ? *(const guint32 *)RTA_DATA(tb[RTA_TABLE]) : rtm->rtm_table;
    r.type = rtm->rtm_type;
    g_array_append_val(out, r);
}

static GArray *
run_dump(guint16 type, const void *hdr, gsize hdr_len, VbNlDumpFunc fn, gsize elt, const char *what,
         GError **error)
{
    g_autoptr(VbNlMsg) msg = vb_nl_msg_new(type, NLM_F_DUMP, hdr, hdr_len);
    g_autoptr(GArray) out = g_array_new(FALSE, TRUE, elt);
    g_autofree char *reason = NULL;
    int e = vb_nl_dump(msg, fn, out, &reason);

    if (e != 0) {
        vb_netdev_set_error(error, e, reason, "cannot list the host's %s", what);
        return NULL;
    }
    return g_steal_pointer(&out);
}

/**
 * vb_netdev_route_list:
 * @family: AF_INET, AF_INET6 or AF_UNSPEC for both
 * @error: return location
 *
 * Lists the routes of every table.
 *
 * Returns: (transfer full) (element-type VbNetdevRoute): the routes, or %NULL.
 */
GArray *
vb_netdev_route_list(int family, GError **error)
{
    struct rtmsg rtm = {.rtm_family = family};

    return run_dump(RTM_GETROUTE, &rtm, sizeof(rtm), route_parse, sizeof(VbNetdevRoute), "routes",
                    error);
}

static void
addr_parse(const struct nlmsghdr *nlh, gpointer user_data)
{
    GArray *out = user_data;
    const struct ifaddrmsg *ifa = NLMSG_DATA(nlh);
    const struct rtattr *tb[IFA_MAX + 1];
    const struct rtattr *a;
    VbNetdevAddr r = {0};

    if (nlh->nlmsg_type != RTM_NEWADDR)
        return;
    if (ifa->ifa_family != AF_INET && ifa->ifa_family != AF_INET6)
        return;
    vb_nl_parse_attrs(IFA_RTA(ifa), IFA_PAYLOAD(nlh), tb, IFA_MAX);
    a = tb[IFA_LOCAL] ? tb[IFA_LOCAL] : tb[IFA_ADDRESS];
    if (a == NULL)
        return;
    r.ifindex = ifa->ifa_index;
    index_name(r.ifindex, r.ifname);
    r.addr.family = ifa->ifa_family;
    r.addr.prefix = ifa->ifa_prefixlen;
    memcpy(r.addr.addr, RTA_DATA(a), MIN(RTA_PAYLOAD(a), sizeof(r.addr.addr)));
    r.flags = tb[IFA_FLAGS] ? *(const guint32 *)RTA_DATA(tb[IFA_FLAGS]) : ifa->ifa_flags;
    g_array_append_val(out, r);
}

/**
 * vb_netdev_addr_list:
 * @family: AF_INET, AF_INET6 or AF_UNSPEC for both
 * @error: return location
 *
 * Returns: (transfer full) (element-type VbNetdevAddr): the host's addresses,
 * or %NULL.
 */
GArray *
vb_netdev_addr_list(int family, GError **error)
{
    struct ifaddrmsg ifa = {.ifa_family = family};

    return run_dump(RTM_GETADDR, &ifa, sizeof(ifa), addr_parse, sizeof(VbNetdevAddr), "addresses",
                    error);
}

static void
neigh_parse(const struct nlmsghdr *nlh, gpointer user_data)
{
    GArray *out = user_data;
    const struct ndmsg *nd = NLMSG_DATA(nlh);
    const struct rtattr *tb[NDA_MAX + 1];
    VbNetdevNeigh n = {0};
    g_autofree char *mac = NULL;

    if (nlh->nlmsg_type != RTM_NEWNEIGH)
        return;
    if (nd->ndm_family != AF_INET && nd->ndm_family != AF_INET6)
        return;
    if (nd->ndm_state & (NUD_INCOMPLETE | NUD_FAILED | NUD_NOARP))
        return;
    vb_nl_parse_attrs((const struct rtattr *)((const char *)nd + NLMSG_ALIGN(sizeof(*nd))),
                      (int)nlh->nlmsg_len - NLMSG_LENGTH(sizeof(*nd)), tb, NDA_MAX);
    if (!tb[NDA_DST] || !tb[NDA_LLADDR] || RTA_PAYLOAD(tb[NDA_LLADDR]) != 6)
        return;
    n.family = nd->ndm_family;
    inet_ntop(nd->ndm_family, RTA_DATA(tb[NDA_DST]), n.ip, sizeof(n.ip));
    mac = vb_netdev_mac_format(RTA_DATA(tb[NDA_LLADDR]));
    g_strlcpy(n.mac, mac, sizeof(n.mac));
    index_name(nd->ndm_ifindex, n.ifname);
    g_array_append_val(out, n);
}

/**
 * vb_netdev_neigh_list:
 * @family: AF_INET, AF_INET6 or AF_UNSPEC for both
 * @error: return location
 *
 * Reads the neighbour table (ARP and NDP), leaving out entries without a
 * MAC (incomplete, failed, no-ARP).
 *
 * Returns: (transfer full) (element-type VbNetdevNeigh): the entries, or %NULL.
 */
GArray *
vb_netdev_neigh_list(int family, GError **error)
{
    struct ndmsg nd = {.ndm_family = family};

    return run_dump(RTM_GETNEIGH, &nd, sizeof(nd), neigh_parse, sizeof(VbNetdevNeigh),
                    "neighbour table", error);
}

/**
 * vb_netdev_addr_wait_dad:
 * @ifname: a link (the network's bridge)
 * @timeout_ms: how long to wait
 * @error: return location; %VB_ERROR_OPERATION_TIMEOUT naming the address
 *   still tentative, %VB_ERROR_FAILED for one that failed detection
 *
 * Waits until no IPv6 address of @ifname is tentative, as libvirt waits
 * before starting dnsmasq (which cannot bind a tentative address). A link
 * that is down keeps its addresses tentative: bring it up first.
 *
 * Returns: %TRUE when every IPv6 address is usable.
 */
gboolean
vb_netdev_addr_wait_dad(const char *ifname, guint timeout_ms, GError **error)
{
    gint64 deadline = g_get_monotonic_time() + (gint64)timeout_ms * 1000;

    if (!vb_netdev_link_exists(ifname)) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG, "network device '%s' does not exist",
                    ifname);
        return FALSE;
    }
    for (;;) {
        g_autoptr(GArray) addrs = vb_netdev_addr_list(AF_INET6, error);
        const VbNetdevAddr *pending = NULL;

        if (addrs == NULL)
            return FALSE;
        for (guint i = 0; i < addrs->len && pending == NULL; i++) {
            const VbNetdevAddr *a = &g_array_index(addrs, VbNetdevAddr, i);

            if (g_str_equal(a->ifname, ifname) && (a->flags & (IFA_F_TENTATIVE | IFA_F_DADFAILED)))
                pending = a;
        }
        if (pending == NULL)
            return TRUE;
        if (pending->flags & IFA_F_DADFAILED || g_get_monotonic_time() >= deadline) {
            g_autofree char *as = vb_netdev_prefix_to_string(&pending->addr);
            gboolean failed = (pending->flags & IFA_F_DADFAILED) != 0;

            g_set_error(error, VB_ERROR, failed ? VB_ERROR_FAILED : VB_ERROR_OPERATION_TIMEOUT,
                        failed ? "address %s on '%s' is a duplicate of another host's"
                               : "address %s on '%s' is still tentative (duplicate address "
                                 "detection did not end in time)",
                        as, ifname);
            return FALSE;
        }
        g_usleep(50 * 1000);
    }
}

static gboolean
sysctl_write(const char *ifname, const char *key, const char *value, GError **error)
{
    g_autofree char *path = g_strdup_printf("/proc/sys/net/ipv6/conf/%s/%s", ifname, key);
    g_autoptr(GError) err = NULL;

    if (!g_file_set_contents_full(path, value, -1, G_FILE_SET_CONTENTS_NONE, 0644, &err)) {
        g_set_error(error, VB_ERROR, VB_ERROR_FAILED, "cannot set %s of network device '%s': %s",
                    key, ifname, err->message);
        return FALSE;
    }
    return TRUE;
}

/**
 * vb_netdev_ipv6_sysctls:
 * @ifname: a network's bridge
 * @has_ipv6: whether the network has an IPv6 subnet
 * @error: return location
 *
 * What libvirt does to a bridge's IPv6 settings: without an IPv6 subnet the
 * bridge gets no IPv6 at all (disable_ipv6=1, so guests see no link-local
 * address of the host); with one it neither takes router advertisements nor
 * autoconfigures (accept_ra=0, autoconf=0), as dnsmasq advertises there. A
 * host without IPv6 is left alone when @has_ipv6 is %FALSE.
 *
 * Returns: %TRUE on success.
 */
gboolean
vb_netdev_ipv6_sysctls(const char *ifname, gboolean has_ipv6, GError **error)
{
    g_autofree char *dir = NULL;

    if (!vb_netdev_name_check(ifname, error))
        return FALSE;
    dir = g_strdup_printf("/proc/sys/net/ipv6/conf/%s", ifname);
    if (!g_file_test(dir, G_FILE_TEST_IS_DIR)) {
        if (!has_ipv6)
            return TRUE;
        g_set_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
                    "cannot use IPv6 on network device '%s': %s is missing (IPv6 is disabled "
                    "on this host, or the device does not exist)",
                    ifname, dir);
        return FALSE;
    }
    if (!has_ipv6)
        return sysctl_write(ifname, "disable_ipv6", "1\n", error);
    return sysctl_write(ifname, "disable_ipv6", "0\n", error) &&
           sysctl_write(ifname, "accept_ra", "0\n", error) &&
           sysctl_write(ifname, "autoconf", "0\n", error);
}

static gboolean
is_link_local6(const VbNetdevPrefix *p)
{
    return p->family == AF_INET6 && p->addr[0] == 0xfe && (p->addr[1] & 0xc0) == 0x80;
}

/**
 * vb_netdev_subnet_check_free:
 * @subnet: the subnet a network wants ("192.168.122.1/24")
 * @own_ifname: (nullable): the network's own bridge, whose routes and
 *   addresses do not count (a running network checked again)
 * @error: return location; %VB_ERROR_EXISTS naming the clashing route or address
 *
 * Refuses a subnet that overlaps a route of the main table (default routes
 * and IPv6 link-local ones aside) or an address of another link: a network
 * there would take traffic from, or hide, what the host already reaches.
 *
 * Returns: %TRUE when nothing on the host uses the subnet.
 */
gboolean
vb_netdev_subnet_check_free(const VbNetdevPrefix *subnet, const char *own_ifname, GError **error)
{
    g_autoptr(GArray) routes = vb_netdev_route_list(subnet->family, error);
    g_autoptr(GArray) addrs = NULL;
    g_autofree char *want = NULL;
    VbNetdevPrefix net;

    if (routes == NULL)
        return FALSE;
    vb_netdev_prefix_network(subnet, &net);
    want = vb_netdev_prefix_to_string(&net);
    for (guint i = 0; i < routes->len; i++) {
        const VbNetdevRoute *r = &g_array_index(routes, VbNetdevRoute, i);
        g_autofree char *rs = NULL;

        if (r->table != RT_TABLE_MAIN || r->dest.prefix == 0 || is_link_local6(&r->dest))
            continue;
        if (own_ifname && g_str_equal(r->ifname, own_ifname))
            continue;
        if (!vb_netdev_prefix_overlaps(&r->dest, &net))
            continue;
        rs = vb_netdev_prefix_to_string(&r->dest);
        g_set_error(error, VB_ERROR, VB_ERROR_EXISTS,
                    "subnet %s is already in use on the host: it overlaps the route to %s%s%s%s%s",
                    want, rs, r->gateway[0] ? " via " : "", r->gateway, r->ifname[0] ? " on " : "",
                    r->ifname);
        return FALSE;
    }
    addrs = vb_netdev_addr_list(subnet->family, error);
    if (addrs == NULL)
        return FALSE;
    for (guint i = 0; i < addrs->len; i++) {
        const VbNetdevAddr *a = &g_array_index(addrs, VbNetdevAddr, i);
        g_autofree char *as = NULL;

        if (is_link_local6(&a->addr) || (own_ifname && g_str_equal(a->ifname, own_ifname)))
            continue;
        if (!vb_netdev_prefix_overlaps(&a->addr, &net))
            continue;
        as = vb_netdev_prefix_to_string(&a->addr);
        g_set_error(error, VB_ERROR, VB_ERROR_EXISTS,
                    "subnet %s is already in use on the host: address %s on '%s' is in it", want,
                    as, a->ifname);
        return FALSE;
    }
    return TRUE;
}
