/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <errno.h>
#include <string.h>
#include <linux/if_link.h>
#include <linux/veth.h>

#include "netdev-link.h"
#include "netdev-netlink.h"
#include "netdev-priv.h"
#include "vb-error.h"

/**
 * vb_netdev_name_check:
 * @name: an interface name
 * @error: return location for %VB_ERROR_INVALID_ARG
 *
 * Checks what the kernel accepts as a name: 1 to 15 bytes, no '/', ':' or
 * white space, not "." or "..".
 *
 * Returns: %TRUE when @name is usable.
 */
gboolean
vb_netdev_name_check(const char *name, GError **error)
{
    gsize len = name ? strlen(name) : 0;

    if (len == 0 || len >= IFNAMSIZ || g_str_equal(name, ".") || g_str_equal(name, "..")) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                    "invalid network device name '%s': it must have 1 to %d characters",
                    name ? name : "", IFNAMSIZ - 1);
        return FALSE;
    }
    for (const char *p = name; *p; p++) {
        if (*p == '/' || *p == ':' || g_ascii_isspace(*p) || !g_ascii_isprint(*p)) {
            g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                        "invalid network device name '%s': '/', ':', blanks and control "
                        "characters are not allowed",
                        name);
            return FALSE;
        }
    }
    return TRUE;
}

typedef struct {
    VbNetdevLink *link;
    gboolean found;
} LinkDumpData;

static void
link_parse(const struct nlmsghdr *nlh, gpointer user_data)
{
    LinkDumpData *d = user_data;
    const struct ifinfomsg *ifi = NLMSG_DATA(nlh);
    const struct rtattr *tb[IFLA_MAX + 1];
    const struct rtattr *li[IFLA_INFO_MAX + 1];
    VbNetdevLink *l = d->link;

    if (nlh->nlmsg_type != RTM_NEWLINK || d->found)
        return;
    vb_nl_parse_attrs(IFLA_RTA(ifi), IFLA_PAYLOAD(nlh), tb, IFLA_MAX);
    memset(l, 0, sizeof(*l));
    d->found = TRUE;
    l->ifindex = ifi->ifi_index;
    l->up = (ifi->ifi_flags & IFF_UP) != 0;
    if (tb[IFLA_IFNAME])
        g_strlcpy(l->name, RTA_DATA(tb[IFLA_IFNAME]), sizeof(l->name));
    if (tb[IFLA_MTU])
        l->mtu = *(const guint32 *)RTA_DATA(tb[IFLA_MTU]);
    if (tb[IFLA_MASTER])
        l->master = *(const guint32 *)RTA_DATA(tb[IFLA_MASTER]);
    if (tb[IFLA_ADDRESS] && RTA_PAYLOAD(tb[IFLA_ADDRESS]) == VB_NETDEV_MAC_LEN)
        memcpy(l->mac, RTA_DATA(tb[IFLA_ADDRESS]), VB_NETDEV_MAC_LEN);
    if (tb[IFLA_LINKINFO]) {
        vb_nl_parse_attrs(RTA_DATA(tb[IFLA_LINKINFO]), RTA_PAYLOAD(tb[IFLA_LINKINFO]), li,
                          IFLA_INFO_MAX);
        if (li[IFLA_INFO_KIND])
            g_strlcpy(l->kind, RTA_DATA(li[IFLA_INFO_KIND]),
                      MIN(sizeof(l->kind), RTA_PAYLOAD(li[IFLA_INFO_KIND]) + 1));
    }
}

/* RTM_GETLINK of one link by name or index; FALSE with errno when absent. */
static gboolean
link_get(const char *name, int ifindex, VbNetdevLink *out, int *out_err, GError **error)
{
    struct ifinfomsg ifi = {.ifi_family = AF_UNSPEC, .ifi_index = ifindex};
    g_autoptr(VbNlMsg) msg = vb_nl_msg_new(RTM_GETLINK, 0, &ifi, sizeof(ifi));
    LinkDumpData d = {out, FALSE};
    g_autofree char *reason = NULL;
    int e;

    if (name)
        vb_nl_msg_put_str(msg, IFLA_IFNAME, name);
    vb_nl_msg_put_u32(msg, IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS);
    e = vb_nl_dump(msg, link_parse, &d, &reason);
    if (e == ENODEV) {
        *out_err = ENODEV;
        return FALSE;
    }
    if (e != 0) {
        *out_err = -1;
        vb_netdev_set_error(error, e, reason, "cannot look up network device '%s'",
                            name ? name : "?");
        return FALSE;
    }
    if (!d.found) {
        *out_err = ENODEV;
        return FALSE;
    }
    return TRUE;
}

/**
 * vb_netdev_link_exists:
 * @name: an interface name
 *
 * Returns: %TRUE when a link named @name exists in the calling thread's
 * network namespace.
 */
gboolean
vb_netdev_link_exists(const char *name)
{
    VbNetdevLink l;
    int e = 0;

    if (!vb_netdev_name_check(name, NULL))
        return FALSE;
    return link_get(name, 0, &l, &e, NULL);
}

/**
 * vb_netdev_link_lookup:
 * @name: an interface name
 * @out_link: (out caller-allocates): what the kernel reports about it
 * @error: return location; %VB_ERROR_INVALID_ARG when there is no such link
 *
 * Returns: %TRUE when the link exists.
 */
gboolean
vb_netdev_link_lookup(const char *name, VbNetdevLink *out_link, GError **error)
{
    VbNetdevLink l;
    int e = 0;

    if (!vb_netdev_name_check(name, error))
        return FALSE;
    if (!link_get(name, 0, &l, &e, error)) {
        if (e > 0)
            g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG, "network device '%s' does not exist",
                        name);
        return FALSE;
    }
    if (l.master > 0) {
        VbNetdevLink m;

        if (link_get(NULL, l.master, &m, &e, NULL))
            g_strlcpy(l.master_name, m.name, sizeof(l.master_name));
    }
    *out_link = l;
    return TRUE;
}

/**
 * vb_netdev_link_index:
 * @name: an interface name
 * @error: return location
 *
 * Returns: the link's ifindex, or -1 when it does not exist.
 */
int
vb_netdev_link_index(const char *name, GError **error)
{
    VbNetdevLink l;

    if (!vb_netdev_link_lookup(name, &l, error))
        return -1;
    return l.ifindex;
}

/* RTM_NEWLINK on an existing link, with attributes added by the caller. */
static VbNlMsg *
link_change_msg(int ifindex, guint flags, guint change)
{
    struct ifinfomsg ifi = {.ifi_family = AF_UNSPEC, .ifi_index = ifindex};

    ifi.ifi_flags = flags;
    ifi.ifi_change = change;
    return vb_nl_msg_new(RTM_NEWLINK, 0, &ifi, sizeof(ifi));
}

/* Sends @msg; on failure "@what: kernel's reason". Takes @what. */
static gboolean
link_request(VbNlMsg *msg, GError **error, char *what_owned)
{
    g_autofree char *what = what_owned;
    g_autofree char *reason = NULL;
    int e = vb_nl_request(msg, &reason);

    if (e != 0) {
        vb_netdev_set_error(error, e, reason, "%s", what);
        return FALSE;
    }
    return TRUE;
}

/**
 * vb_netdev_link_set_up:
 * @name: an interface name
 * @up: %TRUE to bring the link up, %FALSE for down
 * @error: return location
 *
 * Returns: %TRUE on success.
 */
gboolean
vb_netdev_link_set_up(const char *name, gboolean up, GError **error)
{
    int ifindex = vb_netdev_link_index(name, error);
    g_autoptr(VbNlMsg) msg = NULL;

    if (ifindex < 0)
        return FALSE;
    msg = link_change_msg(ifindex, up ? IFF_UP : 0, IFF_UP);
    return link_request(
        msg, error,
        g_strdup_printf("cannot bring network device '%s' %s", name, up ? "up" : "down"));
}

/**
 * vb_netdev_link_set_mtu:
 * @name: an interface name
 * @mtu: the new MTU
 * @error: return location
 *
 * Returns: %TRUE on success.
 */
gboolean
vb_netdev_link_set_mtu(const char *name, guint mtu, GError **error)
{
    int ifindex = vb_netdev_link_index(name, error);
    g_autoptr(VbNlMsg) msg = NULL;

    if (ifindex < 0)
        return FALSE;
    msg = link_change_msg(ifindex, 0, 0);
    vb_nl_msg_put_u32(msg, IFLA_MTU, mtu);
    return link_request(msg, error,
                        g_strdup_printf("cannot set MTU %u on network device '%s'", mtu, name));
}

/**
 * vb_netdev_link_set_mac:
 * @name: an interface name
 * @mac: (array fixed-size=6): the new hardware address
 * @error: return location
 *
 * Returns: %TRUE on success.
 */
gboolean
vb_netdev_link_set_mac(const char *name, const guint8 *mac, GError **error)
{
    int ifindex = vb_netdev_link_index(name, error);
    g_autoptr(VbNlMsg) msg = NULL;
    g_autofree char *macstr = vb_netdev_mac_format(mac);

    if (ifindex < 0)
        return FALSE;
    msg = link_change_msg(ifindex, 0, 0);
    vb_nl_msg_put(msg, IFLA_ADDRESS, mac, VB_NETDEV_MAC_LEN);
    return link_request(msg, error,
                        g_strdup_printf("cannot set MAC %s on network device '%s'", macstr, name));
}

/**
 * vb_netdev_link_set_master:
 * @name: an interface name
 * @bridge: (nullable): the bridge to attach @name to, %NULL to detach it
 * @error: return location
 *
 * Attaches a link to a bridge (its master) or detaches it.
 *
 * Returns: %TRUE on success.
 */
gboolean
vb_netdev_link_set_master(const char *name, const char *bridge, GError **error)
{
    int ifindex = vb_netdev_link_index(name, error);
    int brindex = 0;
    g_autoptr(VbNlMsg) msg = NULL;
    char *what;

    if (ifindex < 0)
        return FALSE;
    if (bridge) {
        VbNetdevLink br;

        if (!vb_netdev_link_lookup(bridge, &br, error))
            return FALSE;
        if (!g_str_equal(br.kind, "bridge")) {
            g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                        "cannot attach '%s' to '%s': '%s' is not a bridge", name, bridge, bridge);
            return FALSE;
        }
        brindex = br.ifindex;
    }
    msg = link_change_msg(ifindex, 0, 0);
    vb_nl_msg_put_u32(msg, IFLA_MASTER, brindex);
    if (bridge)
        what = g_strdup_printf("cannot attach network device '%s' to bridge '%s'", name, bridge);
    else
        what = g_strdup_printf("cannot detach network device '%s' from its bridge", name);
    return link_request(msg, error, what);
}

/**
 * vb_netdev_link_delete:
 * @name: an interface name
 * @error: return location; %VB_ERROR_INVALID_ARG when it does not exist
 *
 * Returns: %TRUE when the link was deleted.
 */
gboolean
vb_netdev_link_delete(const char *name, GError **error)
{
    int ifindex = vb_netdev_link_index(name, error);
    struct ifinfomsg ifi = {.ifi_family = AF_UNSPEC};
    g_autoptr(VbNlMsg) msg = NULL;

    if (ifindex < 0)
        return FALSE;
    ifi.ifi_index = ifindex;
    msg = vb_nl_msg_new(RTM_DELLINK, 0, &ifi, sizeof(ifi));
    return link_request(msg, error, g_strdup_printf("cannot delete network device '%s'", name));
}

/**
 * vb_netdev_bridge_create:
 * @name: the new bridge's name
 * @opts: (nullable): STP, forward delay, MTU, MAC (%NULL: STP off, delay 0)
 * @error: return location; %VB_ERROR_EXISTS when @name is in use
 *
 * Creates a bridge (down; bring it up with vb_netdev_link_set_up()); on
 * failure nothing is left. A bridge MTU given here stays when ports come
 * and go (an MTU of 0 follows the ports, as the kernel does). The
 * forward delay is set before STP is enabled, so libvirt's usual
 * `stp='on' delay='0'` is accepted.
 *
 * Returns: %TRUE on success.
 */
gboolean
vb_netdev_bridge_create(const char *name, const VbNetdevBridgeOptions *opts, GError **error)
{
    static const VbNetdevBridgeOptions defaults = {FALSE, 0, 0, NULL};
    struct ifinfomsg ifi = {.ifi_family = AF_UNSPEC};
    g_autoptr(VbNlMsg) msg = NULL;
    gsize linkinfo, data;

    if (!vb_netdev_name_check(name, error))
        return FALSE;
    if (opts == NULL)
        opts = &defaults;
    if (opts->delay > 30) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                    "cannot create bridge '%s': forward delay %u s is above the kernel's "
                    "limit of 30 s",
                    name, opts->delay);
        return FALSE;
    }
    msg = vb_nl_msg_new(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, &ifi, sizeof(ifi));
    vb_nl_msg_put_str(msg, IFLA_IFNAME, name);
    if (opts->mac)
        vb_nl_msg_put(msg, IFLA_ADDRESS, opts->mac, VB_NETDEV_MAC_LEN);
    linkinfo = vb_nl_msg_nest_start(msg, IFLA_LINKINFO);
    vb_nl_msg_put_str(msg, IFLA_INFO_KIND, "bridge");
    data = vb_nl_msg_nest_start(msg, IFLA_INFO_DATA);
    /* centiseconds (USER_HZ); the kernel applies it before IFLA_BR_STP_STATE */
    vb_nl_msg_put_u32(msg, IFLA_BR_FORWARD_DELAY, opts->delay * 100);
    vb_nl_msg_put_u32(msg, IFLA_BR_STP_STATE, opts->stp ? 1 : 0);
    vb_nl_msg_nest_end(msg, data);
    vb_nl_msg_nest_end(msg, linkinfo);
    if (!link_request(msg, error, g_strdup_printf("cannot create bridge '%s'", name)))
        return FALSE;
    /* set afterwards, as a change: the kernel then keeps it when ports come
     * and go instead of following the smallest port's MTU */
    if (opts->mtu && !vb_netdev_link_set_mtu(name, opts->mtu, error)) {
        vb_netdev_link_delete(name, NULL);
        return FALSE;
    }
    return TRUE;
}

/**
 * vb_netdev_bridge_delete:
 * @name: a bridge
 * @error: return location; %VB_ERROR_INVALID_ARG when @name is not a bridge
 *
 * Deletes a bridge; its ports are detached by the kernel, not deleted.
 *
 * Returns: %TRUE on success.
 */
gboolean
vb_netdev_bridge_delete(const char *name, GError **error)
{
    VbNetdevLink l;

    if (!vb_netdev_link_lookup(name, &l, error))
        return FALSE;
    if (!g_str_equal(l.kind, "bridge")) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                    "cannot delete bridge '%s': it is a '%s' device, not a bridge", name,
                    l.kind[0] ? l.kind : "physical");
        return FALSE;
    }
    return vb_netdev_link_delete(name, error);
}

/**
 * vb_netdev_veth_create:
 * @name: one end
 * @peer: the other end
 * @error: return location
 *
 * Creates a veth pair (both ends down).
 *
 * Returns: %TRUE on success.
 */
gboolean
vb_netdev_veth_create(const char *name, const char *peer, GError **error)
{
    struct ifinfomsg ifi = {.ifi_family = AF_UNSPEC};
    g_autoptr(VbNlMsg) msg = NULL;
    gsize linkinfo, data, p;

    if (!vb_netdev_name_check(name, error) || !vb_netdev_name_check(peer, error))
        return FALSE;
    msg = vb_nl_msg_new(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, &ifi, sizeof(ifi));
    vb_nl_msg_put_str(msg, IFLA_IFNAME, name);
    linkinfo = vb_nl_msg_nest_start(msg, IFLA_LINKINFO);
    vb_nl_msg_put_str(msg, IFLA_INFO_KIND, "veth");
    data = vb_nl_msg_nest_start(msg, IFLA_INFO_DATA);
    p = vb_nl_msg_nest_start(msg, VETH_INFO_PEER);
    g_byte_array_append(msg->buf, (const guint8 *)&ifi, sizeof(ifi));
    vb_nl_msg_put_str(msg, IFLA_IFNAME, peer);
    vb_nl_msg_nest_end(msg, p);
    vb_nl_msg_nest_end(msg, data);
    vb_nl_msg_nest_end(msg, linkinfo);
    return link_request(msg, error, g_strdup_printf("cannot create veth pair '%s'", name));
}

/**
 * vb_netdev_link_set_netns:
 * @name: an interface name
 * @netns_fd: an open /proc/PID/ns/net (or bind mount) of the target namespace
 * @error: return location
 *
 * Moves a link into another network namespace.
 *
 * Returns: %TRUE on success.
 */
gboolean
vb_netdev_link_set_netns(const char *name, int netns_fd, GError **error)
{
    int ifindex = vb_netdev_link_index(name, error);
    g_autoptr(VbNlMsg) msg = NULL;

    if (ifindex < 0)
        return FALSE;
    msg = link_change_msg(ifindex, 0, 0);
    vb_nl_msg_put_u32(msg, IFLA_NET_NS_FD, netns_fd);
    return link_request(
        msg, error, g_strdup_printf("cannot move network device '%s' to another namespace", name));
}

/**
 * vb_netdev_mac_parse:
 * @str: "52:54:00:12:34:56" (also with '-' separators)
 * @out_mac: (out caller-allocates) (array fixed-size=6): the address
 *
 * Returns: %TRUE when @str is a MAC address.
 */
gboolean
vb_netdev_mac_parse(const char *str, guint8 *out_mac)
{
    guint8 mac[VB_NETDEV_MAC_LEN];
    const char *p = str;

    for (int i = 0; i < VB_NETDEV_MAC_LEN; i++) {
        int hi, lo;

        if (!p || !g_ascii_isxdigit(p[0]))
            return FALSE;
        hi = g_ascii_xdigit_value(p[0]);
        if (g_ascii_isxdigit(p[1])) {
            lo = g_ascii_xdigit_value(p[1]);
            mac[i] = hi << 4 | lo;
            p += 2;
        } else {
            mac[i] = hi;
            p += 1;
        }
        if (i < VB_NETDEV_MAC_LEN - 1) {
            if (*p != ':' && *p != '-')
                return FALSE;
            p++;
        }
    }
    if (*p != '\0')
        return FALSE;
    memcpy(out_mac, mac, sizeof(mac));
    return TRUE;
}

/**
 * vb_netdev_mac_format:
 * @mac: (array fixed-size=6): an address
 *
 * Returns: (transfer full): "52:54:00:12:34:56".
 */
char *
vb_netdev_mac_format(const guint8 *mac)
{
    return g_strdup_printf("%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3], mac[4],
                           mac[5]);
}
