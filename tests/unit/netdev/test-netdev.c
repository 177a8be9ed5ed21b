/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The host network primitives against the real kernel: the program moves
 * itself into a fresh network namespace first (unshare(CLONE_NEWNET)), so
 * every bridge, tap, route and nft table it makes lives there and dies with
 * it, whatever way the test ends. Needs root (as the rest of the suite).
 */
#define _GNU_SOURCE
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>
#include <net/if.h>
#include <linux/if_addr.h>
#include <linux/if_tun.h>
#include <json-glib/json-glib.h>

#include "netdev-ip.h"
#include "netdev-link.h"
#include "netdev-mcast.h"
#include "netdev-nft.h"
#include "netdev-tap.h"
#include "netdev-tc.h"
#include "vb-error.h"

static int host_ns = -1; /* the namespace the test made for itself */

/* Runs a command in the current namespace, returns its stdout; asserts exit 0. */
static char *
run(const char *cmdline)
{
    g_autofree char *out = NULL;
    g_autofree char *err = NULL;
    g_autoptr(GError) error = NULL;
    g_auto(GStrv) argv = NULL;
    int status = 0;

    g_assert_true(g_shell_parse_argv(cmdline, NULL, &argv, NULL));
    g_assert_true(g_spawn_sync(NULL, argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, &out, &err,
                               &status, &error));
    if (!g_spawn_check_wait_status(status, NULL))
        g_error("'%s' failed: %s", cmdline, err);
    return g_steal_pointer(&out);
}

static JsonNode *
run_json(const char *cmdline)
{
    g_autofree char *out = run(cmdline);
    g_autoptr(JsonParser) p = json_parser_new();

    g_assert_true(json_parser_load_from_data(p, out, -1, NULL));
    return json_node_copy(json_parser_get_root(p));
}

/* `ip -j -d link show dev NAME` -> its linkinfo.info_data member @key (int) */
static gint64
link_info_data(const char *name, const char *key)
{
    g_autofree char *cmd = g_strdup_printf("ip -j -d link show dev %s", name);
    g_autoptr(JsonNode) root = run_json(cmd);
    JsonObject *l = json_array_get_object_element(json_node_get_array(root), 0);
    JsonObject *li = json_object_get_object_member(l, "linkinfo");
    JsonObject *d = json_object_get_object_member(li, "info_data");
    JsonNode *v = json_object_get_member(d, key);

    g_assert_nonnull(v);
    if (json_node_get_value_type(v) == G_TYPE_STRING)
        return g_str_equal(json_node_get_string(v), "bridge")     ? 4
               : g_str_equal(json_node_get_string(v), "vepa")     ? 2
               : g_str_equal(json_node_get_string(v), "private")  ? 1
               : g_str_equal(json_node_get_string(v), "passthru") ? 8
                                                                  : -1;
    return json_node_get_int(v);
}

static void
assert_error_names(GError *error, int code, const char *needle)
{
    g_assert_nonnull(error);
    g_assert_true(error->domain == VB_ERROR);
    if (error->code != code || strstr(error->message, needle) == NULL)
        g_error("expected code %d naming '%s', got %d: %s", code, needle, error->code,
                error->message);
}

static void
test_names(void)
{
    guint8 mac[6];
    g_autofree char *s = NULL;
    VbNetdevPrefix a, b;
    g_autoptr(GError) error = NULL;

    g_assert_true(vb_netdev_name_check("vnet0", NULL));
    g_assert_false(vb_netdev_name_check("0123456789abcdef", &error));
    assert_error_names(error, VB_ERROR_INVALID_ARG, "0123456789abcdef");
    g_clear_error(&error);
    g_assert_false(vb_netdev_name_check("a/b", NULL));
    g_assert_false(vb_netdev_name_check("a b", NULL));
    g_assert_false(vb_netdev_name_check("", NULL));
    g_assert_false(vb_netdev_name_check("..", NULL));

    g_assert_true(vb_netdev_mac_parse("52:54:00:AB:cd:0f", mac));
    s = vb_netdev_mac_format(mac);
    g_assert_cmpstr(s, ==, "52:54:00:ab:cd:0f");
    g_assert_false(vb_netdev_mac_parse("52:54:00:ab:cd", mac));
    g_assert_false(vb_netdev_mac_parse("52:54:00:ab:cd:0f:11", mac));
    g_assert_false(vb_netdev_mac_parse("zz:54:00:ab:cd:0f", mac));

    g_assert_true(vb_netdev_prefix_parse("192.168.122.1/24", &a, NULL));
    g_assert_cmpint(a.family, ==, AF_INET);
    g_assert_cmpuint(a.prefix, ==, 24);
    g_assert_true(vb_netdev_prefix_parse("192.168.0.0/16", &b, NULL));
    g_assert_true(vb_netdev_prefix_overlaps(&a, &b));
    g_assert_true(vb_netdev_prefix_parse("192.168.123.0/24", &b, NULL));
    g_assert_false(vb_netdev_prefix_overlaps(&a, &b));
    g_assert_true(vb_netdev_prefix_parse("fd00:1::1/64", &b, NULL));
    g_assert_false(vb_netdev_prefix_overlaps(&a, &b));
    g_assert_false(vb_netdev_prefix_parse("10.0.0.1/33", &a, &error));
    assert_error_names(error, VB_ERROR_INVALID_ARG, "10.0.0.1/33");
    g_assert_false(vb_netdev_prefix_parse("nonsense", &a, NULL));

    g_assert_cmpint(vb_netdev_macvtap_mode_from_string("passthrough"), ==,
                    VB_NETDEV_MACVTAP_PASSTHROUGH);
    for (int m = 0; m < VB_NETDEV_MACVTAP_LAST; m++)
        g_assert_cmpint(vb_netdev_macvtap_mode_from_string(vb_netdev_macvtap_mode_to_string(m)), ==,
                        m);
    for (int m = 0; m < VB_NETDEV_FW_LAST; m++)
        g_assert_cmpint(vb_netdev_fw_mode_from_string(vb_netdev_fw_mode_to_string(m)), ==, m);
    g_assert_cmpint(vb_netdev_fw_mode_from_string("bogus"), ==, -1);
}

static void
test_bridge(void)
{
    guint8 mac[6] = {0x52, 0x54, 0x00, 0x11, 0x22, 0x33};
    VbNetdevBridgeOptions opts = {TRUE, 0, 1400, mac};
    VbNetdevLink l;
    g_autoptr(GError) error = NULL;

    g_assert_true(vb_netdev_bridge_create("vbbr0", &opts, &error));
    g_assert_no_error(error);
    g_assert_true(vb_netdev_link_lookup("vbbr0", &l, &error));
    g_assert_cmpstr(l.kind, ==, "bridge");
    g_assert_cmpuint(l.mtu, ==, 1400);
    g_assert_cmpmem(l.mac, 6, mac, 6);
    g_assert_false(l.up);
    g_assert_cmpint(link_info_data("vbbr0", "stp_state"), ==, 1);
    /* delay 0 with STP: the kernel keeps its 2 s minimum, as under libvirt */
    g_assert_cmpint(link_info_data("vbbr0", "forward_delay"), ==, 200);

    /* a second one of the same name: named error, first one intact */
    g_assert_false(vb_netdev_bridge_create("vbbr0", NULL, &error));
    assert_error_names(error, VB_ERROR_EXISTS, "vbbr0");
    g_clear_error(&error);

    opts = (VbNetdevBridgeOptions){FALSE, 5, 0, NULL};
    g_assert_true(vb_netdev_bridge_create("vbbr1", &opts, &error));
    g_assert_cmpint(link_info_data("vbbr1", "stp_state"), ==, 0);
    g_assert_cmpint(link_info_data("vbbr1", "forward_delay"), ==, 500);
    g_assert_true(vb_netdev_link_set_up("vbbr1", TRUE, &error));
    g_assert_true(vb_netdev_link_lookup("vbbr1", &l, &error));
    g_assert_true(l.up);
    g_assert_true(vb_netdev_bridge_delete("vbbr1", &error));
    g_assert_false(vb_netdev_link_exists("vbbr1"));
    g_assert_false(vb_netdev_bridge_delete("vbbr1", &error));
    assert_error_names(error, VB_ERROR_INVALID_ARG, "vbbr1");
    g_clear_error(&error);
    g_assert_false(vb_netdev_bridge_delete("lo", &error));
    assert_error_names(error, VB_ERROR_INVALID_ARG, "not a bridge");
    g_clear_error(&error);
    opts.delay = 31;
    g_assert_false(vb_netdev_bridge_create("vbbr2", &opts, &error));
    assert_error_names(error, VB_ERROR_INVALID_ARG, "vbbr2");
    g_assert_false(vb_netdev_link_exists("vbbr2"));
}

static void
test_links(void)
{
    guint8 mac[6] = {0x52, 0x54, 0x00, 0xaa, 0xbb, 0x01};
    VbNetdevLink l;
    g_autoptr(GError) error = NULL;

    g_assert_true(vb_netdev_veth_create("vbv0", "vbv1", &error));
    g_assert_no_error(error);
    g_assert_true(vb_netdev_link_lookup("vbv0", &l, NULL));
    g_assert_cmpstr(l.kind, ==, "veth");
    g_assert_cmpint(l.ifindex, >, 0);
    g_assert_cmpint(vb_netdev_link_index("vbv0", NULL), ==, l.ifindex);
    g_assert_true(vb_netdev_link_set_mtu("vbv0", 1280, &error));
    g_assert_true(vb_netdev_link_set_mac("vbv0", mac, &error));
    g_assert_true(vb_netdev_link_set_up("vbv0", TRUE, &error));
    g_assert_true(vb_netdev_link_lookup("vbv0", &l, NULL));
    g_assert_cmpuint(l.mtu, ==, 1280);
    g_assert_cmpmem(l.mac, 6, mac, 6);
    g_assert_true(l.up);
    g_assert_true(vb_netdev_link_set_up("vbv0", FALSE, &error));
    g_assert_true(vb_netdev_link_lookup("vbv0", &l, NULL));
    g_assert_false(l.up);

    /* the kernel's reason reaches the message */
    g_assert_false(vb_netdev_link_set_mtu("vbv0", 10, &error));
    assert_error_names(error, VB_ERROR_INVALID_ARG, "vbv0");
    g_assert_nonnull(strstr(error->message, "MTU 10"));
    g_clear_error(&error);

    /* attach to and detach from the bridge */
    g_assert_true(vb_netdev_link_set_master("vbv0", "vbbr0", &error));
    g_assert_no_error(error);
    g_assert_true(vb_netdev_link_lookup("vbv0", &l, NULL));
    g_assert_cmpint(l.master, ==, vb_netdev_link_index("vbbr0", NULL));
    g_assert_cmpstr(l.master_name, ==, "vbbr0");
    g_assert_true(vb_netdev_link_set_master("vbv0", NULL, &error));
    g_assert_true(vb_netdev_link_lookup("vbv0", &l, NULL));
    g_assert_cmpint(l.master, ==, 0);
    g_assert_cmpstr(l.master_name, ==, "");
    g_assert_false(vb_netdev_link_set_master("vbv0", "vbv1", &error));
    assert_error_names(error, VB_ERROR_INVALID_ARG, "not a bridge");
    g_clear_error(&error);

    /* absent devices are named */
    g_assert_false(vb_netdev_link_exists("vbnone"));
    g_assert_false(vb_netdev_link_lookup("vbnone", &l, &error));
    assert_error_names(error, VB_ERROR_INVALID_ARG, "'vbnone' does not exist");
    g_clear_error(&error);
    g_assert_false(vb_netdev_link_set_up("vbnone", TRUE, &error));
    assert_error_names(error, VB_ERROR_INVALID_ARG, "vbnone");
    g_clear_error(&error);
    g_assert_false(vb_netdev_link_delete("vbnone", &error));
    assert_error_names(error, VB_ERROR_INVALID_ARG, "vbnone");
    g_clear_error(&error);

    g_assert_true(vb_netdev_veth_create("vbv2", "vbv3", &error));
    g_assert_true(vb_netdev_link_delete("vbv2", &error));
    g_assert_false(vb_netdev_link_exists("vbv2"));
    g_assert_false(vb_netdev_link_exists("vbv3"));
}

static gboolean
has_addr(GArray *a, const char *ifname, const char *want)
{
    for (guint i = 0; i < a->len; i++) {
        const VbNetdevAddr *x = &g_array_index(a, VbNetdevAddr, i);
        g_autofree char *s = vb_netdev_prefix_to_string(&x->addr);

        if (g_str_equal(x->ifname, ifname) && g_str_equal(s, want))
            return TRUE;
    }
    return FALSE;
}

static gboolean
has_route(GArray *a, const char *ifname, const char *want, const char *gw)
{
    for (guint i = 0; i < a->len; i++) {
        const VbNetdevRoute *x = &g_array_index(a, VbNetdevRoute, i);
        g_autofree char *s = vb_netdev_prefix_to_string(&x->dest);

        if (g_str_equal(x->ifname, ifname) && g_str_equal(s, want) && x->table == 254 &&
            g_str_equal(x->gateway, gw ? gw : ""))
            return TRUE;
    }
    return FALSE;
}

static void
test_addresses(void)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(GArray) addrs = NULL;
    g_autoptr(GArray) routes = NULL;
    g_autofree char *brd = NULL;

    g_assert_true(vb_netdev_link_set_up("vbbr0", TRUE, &error));
    g_assert_true(vb_netdev_addr_add("vbbr0", "10.77.0.1/24", &error));
    g_assert_no_error(error);
    g_assert_true(vb_netdev_addr_add("vbbr0", "fd00:77::1/64", &error));
    g_assert_no_error(error);
    g_assert_false(vb_netdev_addr_add("vbbr0", "10.77.0.1/24", &error));
    assert_error_names(error, VB_ERROR_EXISTS, "vbbr0");
    g_clear_error(&error);
    g_assert_false(vb_netdev_addr_add("vbbr0", "10.77.0.300/24", &error));
    assert_error_names(error, VB_ERROR_INVALID_ARG, "10.77.0.300");
    g_clear_error(&error);
    g_assert_false(vb_netdev_addr_add("vbnone", "10.78.0.1/24", &error));
    assert_error_names(error, VB_ERROR_INVALID_ARG, "vbnone");
    g_clear_error(&error);

    /* libvirt also sets the broadcast address */
    brd = run("ip -4 addr show dev vbbr0");
    g_assert_nonnull(strstr(brd, "brd 10.77.0.255"));

    addrs = vb_netdev_addr_list(AF_UNSPEC, &error);
    g_assert_nonnull(addrs);
    g_assert_true(has_addr(addrs, "vbbr0", "10.77.0.1/24"));
    g_assert_true(has_addr(addrs, "vbbr0", "fd00:77::1/64"));
    g_assert_true(has_addr(addrs, "lo", "127.0.0.1/8"));

    g_assert_true(vb_netdev_route_add("vbbr0", "10.99.0.0/16", "10.77.0.254", &error));
    g_assert_no_error(error);
    routes = vb_netdev_route_list(AF_UNSPEC, &error);
    g_assert_nonnull(routes);
    g_assert_true(has_route(routes, "vbbr0", "10.77.0.0/24", NULL));
    g_assert_true(has_route(routes, "vbbr0", "10.99.0.0/16", "10.77.0.254"));
    g_assert_true(has_route(routes, "vbbr0", "fd00:77::/64", NULL));
    g_assert_false(vb_netdev_route_add("vbbr0", "10.99.0.0/16", "10.77.0.254", &error));
    assert_error_names(error, VB_ERROR_EXISTS, "10.99.0.0/16");
    g_clear_error(&error);

    /* removal */
    g_assert_true(vb_netdev_addr_add("vbbr0", "10.78.0.1/24", &error));
    g_assert_true(vb_netdev_addr_del("vbbr0", "10.78.0.1/24", &error));
    g_clear_pointer(&addrs, g_array_unref);
    addrs = vb_netdev_addr_list(AF_INET, &error);
    g_assert_false(has_addr(addrs, "vbbr0", "10.78.0.1/24"));
    g_assert_true(has_addr(addrs, "vbbr0", "10.77.0.1/24"));
    g_assert_false(vb_netdev_addr_del("vbbr0", "10.78.0.1/24", &error));
    assert_error_names(error, VB_ERROR_FAILED, "10.78.0.1/24");
}

/* <interface type='ethernet'><source><ip peer><route metric>: a point-to-point address (no
 * broadcast), a route with a metric (proto boot, as libvirt), both removed again */
static void
test_peer_and_metric(void)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *out = NULL;
    g_autofree char *routes = NULL;

    g_assert_true(vb_netdev_addr_add_peer("vbbr0", "10.81.0.1/32", "10.81.0.2", &error));
    g_assert_no_error(error);
    out = run("ip -4 addr show dev vbbr0");
    g_assert_nonnull(strstr(out, "inet 10.81.0.1 peer 10.81.0.2/32"));
    g_assert_null(strstr(out, "brd 10.81"));
    g_assert_false(vb_netdev_addr_add_peer("vbbr0", "10.81.0.1/32", "10.81.0.2", &error));
    assert_error_names(error, VB_ERROR_EXISTS, "peer 10.81.0.2");
    g_clear_error(&error);
    g_assert_false(vb_netdev_addr_add_peer("vbbr0", "10.81.0.1/32", "fd00::2", &error));
    assert_error_names(error, VB_ERROR_INVALID_ARG, "fd00::2");
    g_clear_error(&error);

    /* the peer is reachable: a route through it, with a metric */
    g_assert_true(vb_netdev_route_add_metric("vbbr0", "10.82.0.0/24", "10.81.0.2", 300, &error));
    g_assert_no_error(error);
    routes = run("ip -d -4 route show dev vbbr0");
    g_assert_nonnull(strstr(routes, "10.82.0.0/24 via 10.81.0.2 proto boot scope global "
                                    "metric 300"));
    g_assert_false(vb_netdev_route_add_metric("vbbr0", "10.82.0.0/24", "10.81.0.2", 300, &error));
    assert_error_names(error, VB_ERROR_EXISTS, "10.82.0.0/24 via 10.81.0.2");
    g_clear_error(&error);
    g_assert_true(vb_netdev_route_del("vbbr0", "10.82.0.0/24", "10.81.0.2", 300, &error));
    g_assert_no_error(error);
    g_clear_pointer(&routes, g_free);
    routes = run("ip -4 route show dev vbbr0");
    g_assert_null(strstr(routes, "10.82.0.0/24"));
    g_assert_false(vb_netdev_route_del("vbbr0", "10.82.0.0/24", "10.81.0.2", 300, &error));
    assert_error_names(error, VB_ERROR_FAILED, "remove route to 10.82.0.0/24");
    g_clear_error(&error);

    g_assert_true(vb_netdev_addr_del_peer("vbbr0", "10.81.0.1/32", "10.81.0.2", &error));
    g_assert_no_error(error);
    g_clear_pointer(&out, g_free);
    out = run("ip -4 addr show dev vbbr0");
    g_assert_null(strstr(out, "10.81.0.1"));
}

static gchar *
read_sysctl(const char *dev, const char *key)
{
    g_autofree char *path = g_strdup_printf("/proc/sys/net/ipv6/conf/%s/%s", dev, key);
    char *v = NULL;

    g_assert_true(g_file_get_contents(path, &v, NULL, NULL));
    return g_strstrip(v);
}

static void
test_ipv6(void)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *v = NULL;
    g_autoptr(GArray) addrs = NULL;

    /* duplicate address detection ends on a link with carrier */
    g_assert_true(vb_netdev_link_set_up("vbv1", TRUE, &error));
    g_assert_true(vb_netdev_link_set_up("vbv0", TRUE, &error));
    g_assert_true(vb_netdev_addr_add("vbv0", "fd00:79::1/64", &error));
    g_assert_true(vb_netdev_addr_wait_dad("vbv0", 10000, &error));
    g_assert_no_error(error);
    addrs = vb_netdev_addr_list(AF_INET6, &error);
    for (guint i = 0; i < addrs->len; i++) {
        const VbNetdevAddr *a = &g_array_index(addrs, VbNetdevAddr, i);

        if (g_str_equal(a->ifname, "vbv0"))
            g_assert_cmpuint(a->flags & IFA_F_TENTATIVE, ==, 0);
    }
    /* a bridge without ports has no carrier: its address stays tentative */
    g_assert_false(vb_netdev_addr_wait_dad("vbbr0", 200, &error));
    assert_error_names(error, VB_ERROR_OPERATION_TIMEOUT, "fd00:77::1/64");
    g_assert_nonnull(strstr(error->message, "vbbr0"));
    g_clear_error(&error);
    g_assert_false(vb_netdev_addr_wait_dad("vbnone", 200, &error));
    assert_error_names(error, VB_ERROR_INVALID_ARG, "vbnone");
    g_clear_error(&error);
    g_assert_true(vb_netdev_addr_del("vbv0", "fd00:79::1/64", &error));

    /* libvirt's bridge settings */
    g_assert_true(vb_netdev_ipv6_sysctls("vbv1", FALSE, &error));
    v = read_sysctl("vbv1", "disable_ipv6");
    g_assert_cmpstr(v, ==, "1");
    g_clear_pointer(&v, g_free);
    g_assert_true(vb_netdev_ipv6_sysctls("vbv0", TRUE, &error));
    g_assert_no_error(error);
    v = read_sysctl("vbv0", "accept_ra");
    g_assert_cmpstr(v, ==, "0");
    g_clear_pointer(&v, g_free);
    v = read_sysctl("vbv0", "autoconf");
    g_assert_cmpstr(v, ==, "0");
    g_clear_pointer(&v, g_free);
    v = read_sysctl("vbv0", "disable_ipv6");
    g_assert_cmpstr(v, ==, "0");
    g_assert_false(vb_netdev_ipv6_sysctls("vbnone", TRUE, &error));
    assert_error_names(error, VB_ERROR_NOT_SUPPORTED, "vbnone");
    g_clear_error(&error);
    g_assert_true(vb_netdev_ipv6_sysctls("vbnone", FALSE, &error));
}

static void
test_clash(void)
{
    VbNetdevPrefix p;
    g_autoptr(GError) error = NULL;

    g_assert_true(vb_netdev_prefix_parse("10.77.0.1/24", &p, NULL));
    g_assert_false(vb_netdev_subnet_check_free(&p, NULL, &error));
    assert_error_names(error, VB_ERROR_EXISTS, "vbbr0");
    g_assert_nonnull(strstr(error->message, "10.77.0.0/24"));
    g_clear_error(&error);
    /* a network checking its own bridge again */
    g_assert_true(vb_netdev_subnet_check_free(&p, "vbbr0", &error));
    g_assert_no_error(error);
    /* inside a routed /16 and around it */
    g_assert_true(vb_netdev_prefix_parse("10.99.5.0/24", &p, NULL));
    g_assert_false(vb_netdev_subnet_check_free(&p, NULL, &error));
    assert_error_names(error, VB_ERROR_EXISTS, "10.99.0.0/16 via 10.77.0.254");
    g_clear_error(&error);
    g_assert_true(vb_netdev_prefix_parse("10.0.0.0/8", &p, NULL));
    g_assert_false(vb_netdev_subnet_check_free(&p, NULL, &error));
    g_clear_error(&error);
    /* an address of lo: 127/8 */
    g_assert_true(vb_netdev_prefix_parse("127.5.0.0/16", &p, NULL));
    g_assert_false(vb_netdev_subnet_check_free(&p, NULL, &error));
    assert_error_names(error, VB_ERROR_EXISTS, "'lo'");
    g_clear_error(&error);
    /* free ones */
    g_assert_true(vb_netdev_prefix_parse("192.168.122.1/24", &p, NULL));
    g_assert_true(vb_netdev_subnet_check_free(&p, NULL, &error));
    g_assert_true(vb_netdev_prefix_parse("fd00:77::1/64", &p, NULL));
    g_assert_false(vb_netdev_subnet_check_free(&p, NULL, &error));
    assert_error_names(error, VB_ERROR_EXISTS, "fd00:77::/64");
    g_clear_error(&error);
    g_assert_true(vb_netdev_prefix_parse("fd00:78::1/64", &p, NULL));
    g_assert_true(vb_netdev_subnet_check_free(&p, NULL, &error));
    g_assert_no_error(error);
}

static void
test_neighbours(void)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(GArray) n = NULL;
    gboolean found = FALSE;
    g_autofree char *o =
        run("ip neigh add 10.77.0.5 lladdr 52:54:00:aa:bb:cc dev vbbr0 nud permanent");

    n = vb_netdev_neigh_list(AF_UNSPEC, &error);
    g_assert_no_error(error);
    for (guint i = 0; i < n->len; i++) {
        const VbNetdevNeigh *x = &g_array_index(n, VbNetdevNeigh, i);

        if (g_str_equal(x->ip, "10.77.0.5")) {
            g_assert_cmpstr(x->mac, ==, "52:54:00:aa:bb:cc");
            g_assert_cmpstr(x->ifname, ==, "vbbr0");
            g_assert_cmpint(x->family, ==, AF_INET);
            found = TRUE;
        }
    }
    g_assert_true(found);
}

static void
assert_tun_flags(int fd, const char *name, short want)
{
    struct ifreq ifr = {0};

    g_assert_cmpint(ioctl(fd, TUNGETIFF, &ifr), ==, 0);
    g_assert_cmpstr(ifr.ifr_name, ==, name);
    g_assert_cmpint(ifr.ifr_flags & want, ==, want);
}

static void
test_tap(void)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *name = NULL;
    g_autofree char *name2 = NULL;
    guint8 guest[6] = {0x52, 0x54, 0x00, 0x01, 0x02, 0x03};
    guint8 bad[6] = {0xfe, 0x54, 0x00, 0x01, 0x02, 0x03};
    guint8 host[6] = {0xfe, 0x54, 0x00, 0x01, 0x02, 0x03};
    VbNetdevLink l;
    int fd = -1, fd2 = -1;

    g_assert_true(vb_netdev_tap_create(VB_NETDEV_TAP_TEMPLATE, 1, VB_NETDEV_TAP_VNET_HDR, &name,
                                       &fd, &error));
    g_assert_no_error(error);
    g_assert_true(g_str_has_prefix(name, "vnet"));
    g_assert_true(g_ascii_isdigit(name[4]));
    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(fcntl(fd, F_GETFD) & FD_CLOEXEC, !=, 0);
    assert_tun_flags(fd, name, IFF_TAP | IFF_NO_PI | IFF_VNET_HDR);
    g_assert_true(vb_netdev_link_lookup(name, &l, NULL));
    g_assert_cmpstr(l.kind, ==, "tun");

    /* a second one gets another name, never reusing the first at once */
    g_assert_true(vb_netdev_tap_create("vnet%d", 1, 0, &name2, &fd2, &error));
    g_assert_cmpstr(name, !=, name2);

    g_assert_true(vb_netdev_tap_set_host_mac(name, guest, &error));
    g_assert_true(vb_netdev_link_lookup(name, &l, NULL));
    g_assert_cmpmem(l.mac, 6, host, 6);
    g_assert_false(vb_netdev_tap_set_host_mac(name, bad, &error));
    assert_error_names(error, VB_ERROR_INVALID_ARG, "0xFE");
    g_clear_error(&error);

    /* plug: the bridge's MTU (1400), attached, up */
    g_assert_true(vb_netdev_tap_plug(name, "vbbr0", 0, &error));
    g_assert_no_error(error);
    g_assert_true(vb_netdev_link_lookup(name, &l, NULL));
    g_assert_cmpuint(l.mtu, ==, 1400);
    g_assert_cmpstr(l.master_name, ==, "vbbr0");
    g_assert_true(l.up);
    g_assert_true(vb_netdev_tap_plug(name2, NULL, 1300, &error));
    g_assert_true(vb_netdev_link_lookup(name2, &l, NULL));
    g_assert_cmpuint(l.mtu, ==, 1300);
    g_assert_cmpint(l.master, ==, 0);

    /* named taps: in use -> refused; bad names and templates refused */
    g_assert_false(vb_netdev_tap_create(name, 1, 0, NULL, &fd2, &error) && FALSE);
    assert_error_names(error, VB_ERROR_EXISTS, name);
    g_clear_error(&error);
    g_assert_false(vb_netdev_tap_create("vb%d%d", 1, 0, NULL, &fd2, &error));
    assert_error_names(error, VB_ERROR_INVALID_ARG, "vb%d%d");
    g_clear_error(&error);
    g_assert_false(vb_netdev_tap_create("vbtap", 0, 0, NULL, &fd2, &error));
    assert_error_names(error, VB_ERROR_INVALID_ARG, "vbtap");
    g_clear_error(&error);

    /* the device goes with its last fd, as libvirt's taps for QEMU */
    close(fd);
    g_assert_false(vb_netdev_link_exists(name));
    g_assert_true(vb_netdev_tap_delete(name2, &error));
    g_assert_false(vb_netdev_link_exists(name2));
    close(fd2);
}

static void
test_tap_multiqueue(void)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *name = NULL;
    int fds[4];

    gint64 t0, made = 0, closed = 0;

    for (int i = 0; i < 20; i++) {
        g_autofree char *n = NULL;

        t0 = g_get_monotonic_time();
        g_assert_true(vb_netdev_tap_create("vbt%d", 1, VB_NETDEV_TAP_VNET_HDR, &n, fds, &error));
        g_assert_true(vb_netdev_tap_plug(n, "vbbr0", 0, &error));
        made += g_get_monotonic_time() - t0;
        t0 = g_get_monotonic_time();
        close(fds[0]);
        closed += g_get_monotonic_time() - t0;
        g_assert_false(vb_netdev_link_exists(n));
    }
    g_test_message("tap create + plug into a bridge: %.2f ms each; the kernel's close: %.2f ms",
                   made / 20 / 1000.0, closed / 20 / 1000.0);
    t0 = g_get_monotonic_time();
    g_assert_true(vb_netdev_tap_create("vbmq%d", 4, VB_NETDEV_TAP_VNET_HDR, &name, fds, &error));
    g_assert_no_error(error);
    for (int i = 0; i < 4; i++) {
        g_assert_cmpint(fds[i], >=, 0);
        for (int j = 0; j < i; j++)
            g_assert_cmpint(fds[i], !=, fds[j]);
        assert_tun_flags(fds[i], name, IFF_TAP | IFF_MULTI_QUEUE | IFF_VNET_HDR);
    }
    g_test_message("4-queue tap: %.2f ms", (g_get_monotonic_time() - t0) / 1000.0);
    g_assert_true(vb_netdev_link_exists(name));
    vb_netdev_close_fds(fds, 4);
    g_assert_cmpint(fds[0], ==, -1);
    g_assert_false(vb_netdev_link_exists(name));
}

static void
test_tap_existing(void)
{
    g_autoptr(GError) error = NULL;
    int fds[2] = {-1, -1};

    /* managed='no': a missing tap is an error, never created */
    g_assert_false(vb_netdev_tap_open("vbtapx", 1, 0, fds, &error));
    assert_error_names(error, VB_ERROR_INVALID_ARG, "'vbtapx' does not exist");
    g_clear_error(&error);
    g_assert_false(vb_netdev_link_exists("vbtapx"));
    g_assert_false(vb_netdev_tap_open("vbv0", 1, 0, fds, &error));
    assert_error_names(error, VB_ERROR_INVALID_ARG, "not a tap");
    g_clear_error(&error);

    /* an administrator's persistent multiqueue tap */
    g_assert_true(vb_netdev_tap_create("vbtapx", 2, VB_NETDEV_TAP_PERSIST, NULL, fds, &error));
    vb_netdev_close_fds(fds, 2);
    g_assert_true(vb_netdev_link_exists("vbtapx"));
    g_assert_true(vb_netdev_tap_open("vbtapx", 2, VB_NETDEV_TAP_VNET_HDR, fds, &error));
    g_assert_no_error(error);
    assert_tun_flags(fds[1], "vbtapx", IFF_TAP | IFF_MULTI_QUEUE | IFF_VNET_HDR);
    vb_netdev_close_fds(fds, 2);
    g_assert_true(vb_netdev_link_exists("vbtapx"));
    g_assert_true(vb_netdev_tap_delete("vbtapx", &error));
    g_assert_false(vb_netdev_link_exists("vbtapx"));
    g_assert_false(vb_netdev_tap_delete("vbv0", &error));
    assert_error_names(error, VB_ERROR_INVALID_ARG, "vbv0");
}

static void
test_macvtap(void)
{
    static const guint32 kernel_mode[] = {2, 1, 4, 8};
    guint8 mac[6] = {0x52, 0x54, 0x00, 0x0a, 0x0b, 0x00};
    g_autoptr(GError) error = NULL;

    g_assert_true(vb_netdev_veth_create("vblow0", "vblow1", &error));
    g_assert_true(vb_netdev_link_set_up("vblow0", TRUE, &error));
    for (int m = 0; m < VB_NETDEV_MACVTAP_LAST; m++) {
        g_autofree char *name = NULL;
        VbNetdevLink l;
        int fds[2] = {-1, -1};

        mac[5] = m;
        g_assert_true(vb_netdev_macvtap_create(NULL, "vblow0", m, mac, &name, &error));
        g_assert_no_error(error);
        g_assert_true(g_str_has_prefix(name, "macvtap"));
        g_assert_true(vb_netdev_link_lookup(name, &l, NULL));
        g_assert_cmpstr(l.kind, ==, "macvtap");
        g_assert_cmpmem(l.mac, 6, mac, 6);
        g_assert_cmpint(link_info_data(name, "mode"), ==, kernel_mode[m]);
        if (m == VB_NETDEV_MACVTAP_PASSTHROUGH) {
            VbNetdevLink lower;

            g_assert_true(vb_netdev_link_lookup("vblow0", &lower, NULL));
            g_assert_cmpmem(lower.mac, 6, mac, 6);
        }
        g_assert_true(vb_netdev_link_set_up(name, TRUE, &error));
        g_assert_true(vb_netdev_macvtap_open(name, 2, TRUE, fds, &error));
        g_assert_no_error(error);
        assert_tun_flags(fds[0], name, IFF_TAP | IFF_VNET_HDR | IFF_MULTI_QUEUE);
        assert_tun_flags(fds[1], name, IFF_TAP | IFF_VNET_HDR | IFF_MULTI_QUEUE);
        if (m == VB_NETDEV_MACVTAP_PASSTHROUGH) {
            g_autofree char *again = NULL;

            g_assert_false(vb_netdev_macvtap_create(NULL, "vblow0", m, NULL, &again, &error));
            assert_error_names(error, error->code, "vblow0");
            g_clear_error(&error);
        }
        vb_netdev_close_fds(fds, 2);
        /* a macvtap stays until deleted */
        g_assert_true(vb_netdev_link_exists(name));
        g_assert_true(vb_netdev_macvtap_delete(name, &error));
        g_assert_false(vb_netdev_link_exists(name));
    }
    g_assert_false(
        vb_netdev_macvtap_create("vbmvt0", "vbnone", VB_NETDEV_MACVTAP_BRIDGE, NULL, NULL, &error));
    assert_error_names(error, VB_ERROR_INVALID_ARG, "vbnone");
    g_clear_error(&error);
    g_assert_false(vb_netdev_macvtap_open("vblow0", 1, FALSE, NULL, &error));
    assert_error_names(error, VB_ERROR_INVALID_ARG, "not a macvtap");
    g_clear_error(&error);
    g_assert_false(vb_netdev_macvtap_delete("vblow0", &error));
    assert_error_names(error, VB_ERROR_INVALID_ARG, "vblow0");
}

/* issue 13, part netupd: the multicast list and receive flags a guest's rx filter sets */
static void
test_mcast_flags(void)
{
    guint8 mac[6] = {0x52, 0x54, 0x00, 0x0a, 0x0c, 0x01};
    g_autoptr(GError) error = NULL;
    g_autoptr(GPtrArray) list = NULL;
    g_autofree char *name = NULL;
    guint flags = 0;

    g_assert_true(vb_netdev_veth_create("vbmc0", "vbmc1", &error));
    g_assert_true(vb_netdev_link_set_up("vbmc0", TRUE, &error));
    g_assert_true(vb_netdev_macvtap_create(NULL, "vbmc0", VB_NETDEV_MACVTAP_BRIDGE, mac, &name,
                                           &error));
    g_assert_no_error(error);
    /* none added from user space yet (the kernel's own entries are not listed) */
    list = vb_netdev_mcast_list(name, &error);
    g_assert_no_error(error);
    g_assert_cmpuint(list->len, ==, 0);
    g_clear_pointer(&list, g_ptr_array_unref);
    g_assert_true(vb_netdev_mcast_add(name, "01:00:5E:01:02:03", &error));
    g_assert_true(vb_netdev_mcast_add(name, "33:33:00:00:00:fb", &error));
    list = vb_netdev_mcast_list(name, &error);
    g_assert_cmpuint(list->len, ==, 2);
    g_assert_true(g_ptr_array_find_with_equal_func(list, "01:00:5e:01:02:03", g_str_equal,
                                                   NULL));
    g_clear_pointer(&list, g_ptr_array_unref);
    g_assert_true(vb_netdev_mcast_del(name, "01:00:5e:01:02:03", &error));
    list = vb_netdev_mcast_list(name, &error);
    g_assert_cmpuint(list->len, ==, 1);
    g_assert_cmpstr(g_ptr_array_index(list, 0), ==, "33:33:00:00:00:fb");
    /* deleting what is not there names the device */
    g_assert_false(vb_netdev_mcast_del(name, "01:00:5e:01:02:03", &error));
    assert_error_names(error, error->code, name);
    g_clear_error(&error);
    g_assert_false(vb_netdev_mcast_add(name, "not-a-mac", &error));
    g_clear_error(&error);
    /* flags: promiscuous and allmulti on and off again */
    g_assert_true(vb_netdev_link_get_flags(name, &flags, &error));
    g_assert_false(flags & IFF_PROMISC);
    g_assert_true(vb_netdev_link_set_flag(name, IFF_PROMISC, TRUE, &error));
    g_assert_true(vb_netdev_link_set_flag(name, IFF_ALLMULTI, TRUE, &error));
    g_assert_true(vb_netdev_link_get_flags(name, &flags, &error));
    g_assert_true((flags & IFF_PROMISC) && (flags & IFF_ALLMULTI));
    g_assert_true(vb_netdev_link_set_flag(name, IFF_PROMISC, FALSE, &error));
    g_assert_true(vb_netdev_link_set_flag(name, IFF_ALLMULTI, FALSE, &error));
    g_assert_true(vb_netdev_link_get_flags(name, &flags, &error));
    g_assert_false(flags & (IFF_PROMISC | IFF_ALLMULTI));
    g_assert_false(vb_netdev_link_get_flags("vbnone", &flags, &error));
    assert_error_names(error, VB_ERROR_INVALID_ARG, "vbnone");
    g_clear_error(&error);
    g_assert_true(vb_netdev_macvtap_delete(name, &error));
}

static void
test_vhost(void)
{
    g_autoptr(GError) error = NULL;
    gboolean present = access("/dev/vhost-net", F_OK) == 0;
    int fds[2] = {-1, -1};

    if (present) {
        g_assert_true(vb_netdev_vhost_check(&error));
        g_assert_true(vb_netdev_vhost_open(2, fds, &error));
        g_assert_cmpint(fds[0], >=, 0);
        g_assert_cmpint(fds[1], >=, 0);
        vb_netdev_close_fds(fds, 2);
    } else {
        /* this kernel has no vhost_net: a named NotSupported, no fd left */
        g_assert_false(vb_netdev_vhost_check(&error));
        assert_error_names(error, VB_ERROR_NOT_SUPPORTED, "/dev/vhost-net");
        g_clear_error(&error);
        g_assert_false(vb_netdev_vhost_open(2, fds, &error));
        g_assert_cmpint(fds[0], ==, -1);
    }
}

/* kinds of the qdiscs on @dev, from `tc -j qdisc show` */
static char *
qdisc_kinds(const char *dev)
{
    g_autofree char *cmd = g_strdup_printf("tc -j qdisc show dev %s", dev);
    g_autoptr(JsonNode) root = run_json(cmd);
    JsonArray *a = json_node_get_array(root);
    GString *s = g_string_new(NULL);

    for (guint i = 0; i < json_array_get_length(a); i++) {
        JsonObject *q = json_array_get_object_element(a, i);

        g_string_append_printf(s, "%s%s:%s", s->len ? " " : "",
                               json_object_get_string_member(q, "kind"),
                               json_object_get_string_member(q, "handle"));
    }
    return g_string_free(s, FALSE);
}

static void
test_bandwidth(void)
{
    VbNetdevRate in = {1000, 2000, 256};
    VbNetdevRate out = {500, 0, 0};
    VbNetdevRate bad = {0, 10, 0};
    g_autoptr(GError) error = NULL;
    g_autofree char *kinds = NULL;
    g_autofree char *cls = NULL;
    g_autofree char *filters = NULL;
    gboolean ok;

    /* inbound on a tap: htb on what the host sends to the guest */
    g_assert_true(vb_netdev_bandwidth_set("vbv0", &in, NULL, TRUE, &error));
    g_assert_no_error(error);
    kinds = qdisc_kinds("vbv0");
    g_assert_nonnull(strstr(kinds, "htb:1:"));
    cls = run("tc class show dev vbv0");
    /* 1000 KiB/s = 8 Mbit, peak 16 Mbit, burst 256 KiB */
    g_assert_nonnull(strstr(cls, "htb 1:1 root"));
    g_assert_nonnull(strstr(cls, "rate 8Mbit ceil 16Mbit burst 256Kb"));
    g_clear_pointer(&kinds, g_free);

    /* outbound: ingress policing; a kernel without act_police says so by name
     * and is left with no shaping at all */
    ok = vb_netdev_bandwidth_set("vbv0", &in, &out, TRUE, &error);
    kinds = qdisc_kinds("vbv0");
    if (ok) {
        g_assert_nonnull(strstr(kinds, "ingress:ffff:"));
        filters = run("tc filter show dev vbv0 parent ffff:");
        g_assert_nonnull(strstr(filters, "police"));
        g_assert_nonnull(strstr(filters, "rate 4Mbit"));
    } else {
        assert_error_names(error, VB_ERROR_NOT_SUPPORTED, "vbv0");
        g_assert_nonnull(strstr(error->message, "police"));
        g_clear_error(&error);
        g_assert_null(strstr(kinds, "htb"));
        g_assert_null(strstr(kinds, "ingress"));
    }
    g_clear_pointer(&kinds, g_free);

    g_assert_true(vb_netdev_bandwidth_set("vbv0", &in, NULL, TRUE, &error));
    g_assert_true(vb_netdev_bandwidth_clear("vbv0", &error));
    g_assert_no_error(error);
    kinds = qdisc_kinds("vbv0");
    g_assert_null(strstr(kinds, "htb"));
    g_assert_null(strstr(kinds, "ingress"));
    /* twice is fine */
    g_assert_true(vb_netdev_bandwidth_clear("vbv0", &error));

    g_assert_false(vb_netdev_bandwidth_set("vbv0", &bad, NULL, TRUE, &error));
    assert_error_names(error, VB_ERROR_INVALID_ARG, "'vbv0'");
    g_clear_error(&error);
    g_assert_false(vb_netdev_bandwidth_set("vbnone", &in, NULL, TRUE, &error));
    assert_error_names(error, VB_ERROR_INVALID_ARG, "vbnone");
}

/* Names of the chains of table inet virtbus; NULL when there is no table. */
static GHashTable *
nft_chain_names(void)
{
    g_autofree char *out = NULL;
    g_autofree char *err = NULL;
    g_autoptr(JsonParser) p = json_parser_new();
    const char *argv[] = {"nft", "-j", "list", "table", "inet", "virtbus", NULL};
    int status;
    GHashTable *h;
    JsonArray *a;

    g_assert_true(g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, &out,
                               &err, &status, NULL));
    if (!g_spawn_check_wait_status(status, NULL))
        return NULL;
    g_assert_true(json_parser_load_from_data(p, out, -1, NULL));
    a = json_object_get_array_member(json_node_get_object(json_parser_get_root(p)), "nftables");
    h = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    for (guint i = 0; i < json_array_get_length(a); i++) {
        JsonObject *o = json_array_get_object_element(a, i);

        if (json_object_has_member(o, "chain"))
            g_hash_table_add(h, g_strdup(json_object_get_string_member(
                                    json_object_get_object_member(o, "chain"), "name")));
    }
    return h;
}

static void
test_nft(void)
{
    VbNetdevPrefix subnets[2];
    VbNetdevFirewall fw = {.bridge = "vbbr0",
                           .mode = VB_NETDEV_FW_NAT,
                           .subnets = subnets,
                           .n_subnets = 2,
                           .dhcp_dns = TRUE};
    g_autoptr(GError) error = NULL;
    g_autoptr(GHashTable) chains = NULL;
    g_autofree char *script = NULL;
    g_autofree char *listing = NULL;
    g_auto(GStrv) nets = NULL;

    g_assert_true(vb_netdev_prefix_parse("10.77.0.1/24", &subnets[0], NULL));
    g_assert_true(vb_netdev_prefix_parse("fd00:77::1/64", &subnets[1], NULL));
    g_assert_null(nft_chain_names());

    script = vb_netdev_nft_script("default", &fw, &error);
    g_assert_no_error(error);
    g_assert_nonnull(strstr(script, "ip saddr 10.77.0.0/24 ip daddr 224.0.0.0/24 return"));
    g_assert_nonnull(strstr(script, "ip saddr 10.77.0.0/24 ip daddr 255.255.255.255 return"));
    g_assert_nonnull(strstr(script, "ip daddr != 10.77.0.0/24 meta l4proto tcp masquerade to "
                                    ":1024-65535"));
    g_assert_nonnull(strstr(script, "meta l4proto udp masquerade to :1024-65535"));
    /* IPv6 of a NAT network is routed, as libvirt does */
    g_assert_null(strstr(script, "ip6 saddr fd00:77::/64 ip6 daddr != fd00:77::/64"));
    g_assert_nonnull(strstr(script, "oifname \"vbbr0\" ip6 daddr fd00:77::/64 accept"));
    g_assert_nonnull(strstr(script, "ip daddr 10.77.0.0/24 ct state related,established accept"));

    g_assert_true(vb_netdev_nft_add("default", &fw, &error));
    g_assert_no_error(error);
    chains = nft_chain_names();
    g_assert_nonnull(chains);
    g_assert_true(g_hash_table_contains(chains, "net-default-fwd"));
    g_assert_true(g_hash_table_contains(chains, "net-default-nat"));
    g_assert_true(g_hash_table_contains(chains, "net-default-in"));
    g_assert_true(g_hash_table_contains(chains, "net-default-out"));
    g_clear_pointer(&chains, g_hash_table_unref);
    listing = run("nft list table inet virtbus");
    g_assert_nonnull(strstr(listing, "masquerade to :1024-65535"));
    g_assert_nonnull(strstr(listing, "udp dport { 53, 67 } accept"));
    g_clear_pointer(&listing, g_free);

    /* adding again replaces, never doubles */
    fw.nat_port_start = 2000;
    fw.nat_port_end = 3000;
    g_assert_true(vb_netdev_nft_add("default", &fw, &error));
    listing = run("nft list table inet virtbus");
    g_assert_null(strstr(listing, ":1024-65535"));
    g_assert_nonnull(strstr(listing, "masquerade to :2000-3000"));
    g_assert_true(strstr(listing, "ip daddr 224.0.0.0/24 return") ==
                  g_strrstr(listing, "ip daddr 224.0.0.0/24 return"));
    g_clear_pointer(&listing, g_free);

    /* another network, isolated, with a name nft cannot take as it is */
    fw = (VbNetdevFirewall){
        .bridge = "vbv1", .mode = VB_NETDEV_FW_ISOLATED, .subnets = subnets, .n_subnets = 1};
    g_assert_true(vb_netdev_nft_add("my net/2", &fw, &error));
    g_assert_no_error(error);
    listing = run("nft list chain inet virtbus net-my.20net.2f2-fwd");
    g_assert_nonnull(strstr(listing, "iifname \"vbv1\" oifname \"vbv1\" accept"));
    g_assert_nonnull(strstr(listing, "oifname \"vbv1\" reject"));
    g_assert_null(strstr(listing, "daddr"));
    nets = vb_netdev_nft_list(&error);
    g_assert_no_error(error);
    g_assert_cmpuint(g_strv_length(nets), ==, 2);
    g_assert_true(g_strv_contains((const char *const *)nets, "default"));
    g_assert_true(g_strv_contains((const char *const *)nets, "my net/2"));
    g_clear_pointer(&nets, g_strfreev);

    /* bad input: nothing applied */
    fw.bridge = "bad\"name";
    g_assert_false(vb_netdev_nft_add("x", &fw, &error));
    assert_error_names(error, VB_ERROR_INVALID_ARG, "bad\"name");
    g_clear_error(&error);
    fw.bridge = "vbv1";
    fw.mode = VB_NETDEV_FW_NAT;
    fw.nat_addr_start = "10.0.0.1/8";
    g_assert_false(vb_netdev_nft_add("x", &fw, &error));
    assert_error_names(error, VB_ERROR_INVALID_ARG, "10.0.0.1/8");
    g_clear_error(&error);

    {
        g_autofree char *longname = g_strnfill(80, '/');

        fw.nat_addr_start = NULL;
        g_assert_false(vb_netdev_nft_add(longname, &fw, &error));
        assert_error_names(error, VB_ERROR_INVALID_ARG, "too long");
        g_clear_error(&error);
        g_assert_false(vb_netdev_nft_add("", &fw, &error));
        assert_error_names(error, VB_ERROR_INVALID_ARG, "empty");
        g_clear_error(&error);
    }
    nets = vb_netdev_nft_list(&error);
    g_assert_cmpuint(g_strv_length(nets), ==, 2);
    g_clear_pointer(&nets, g_strfreev);

    /* one removed: the other stays, table too */
    g_assert_true(vb_netdev_nft_remove("default", &error));
    g_assert_no_error(error);
    chains = nft_chain_names();
    g_assert_nonnull(chains);
    g_assert_false(g_hash_table_contains(chains, "net-default-fwd"));
    g_assert_false(g_hash_table_contains(chains, "net-default-nat"));
    g_assert_true(g_hash_table_contains(chains, "net-my.20net.2f2-fwd"));
    g_clear_pointer(&chains, g_hash_table_unref);
    g_assert_true(vb_netdev_nft_remove("default", &error));
    /* the last one takes the table with it */
    g_assert_true(vb_netdev_nft_remove("my net/2", &error));
    g_assert_null(nft_chain_names());
    nets = vb_netdev_nft_list(&error);
    g_assert_no_error(error);
    g_assert_cmpuint(g_strv_length(nets), ==, 0);

    /* open: no rules */
    fw = (VbNetdevFirewall){.bridge = "vbbr0", .mode = VB_NETDEV_FW_OPEN};
    g_assert_true(vb_netdev_nft_add("open", &fw, &error));
    g_assert_null(nft_chain_names());
}

static int
netns_new(void)
{
    int fd;

    g_assert_cmpint(unshare(CLONE_NEWNET), ==, 0);
    fd = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(setns(host_ns, CLONE_NEWNET), ==, 0);
    return fd;
}

static void
in_ns(int ns, const char *dev, const char *addr, const char *route, const char *gw)
{
    g_autoptr(GError) error = NULL;

    g_assert_cmpint(setns(ns, CLONE_NEWNET), ==, 0);
    g_assert_true(vb_netdev_link_set_up("lo", TRUE, &error));
    g_assert_true(vb_netdev_addr_add(dev, addr, &error));
    g_assert_true(vb_netdev_link_set_up(dev, TRUE, &error));
    if (route)
        g_assert_true(vb_netdev_route_add(dev, route, gw, &error));
    g_assert_no_error(error);
    g_assert_cmpint(setns(host_ns, CLONE_NEWNET), ==, 0);
}

/* TCP from the guest namespace to the outside one; the peer address the
 * outside sees, or NULL when the connection is refused / times out */
static char *
connect_out(int guest_ns, int outside_ns)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(5555)};
    struct sockaddr_in peer;
    socklen_t plen = sizeof(peer);
    struct timeval tv = {3, 0};
    int l, c, a, one = 1;
    char buf[INET_ADDRSTRLEN];

    g_assert_cmpint(setns(outside_ns, CLONE_NEWNET), ==, 0);
    l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    inet_pton(AF_INET, "198.51.100.2", &sa.sin_addr);
    g_assert_cmpint(bind(l, (struct sockaddr *)&sa, sizeof(sa)), ==, 0);
    g_assert_cmpint(listen(l, 4), ==, 0);
    g_assert_cmpint(setns(guest_ns, CLONE_NEWNET), ==, 0);
    c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    setsockopt(c, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    g_assert_cmpint(setns(host_ns, CLONE_NEWNET), ==, 0);
    /* the handshake completes in the kernel: one thread suffices */
    if (connect(c, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        close(c);
        close(l);
        return NULL;
    }
    a = accept(l, (struct sockaddr *)&peer, &plen);
    g_assert_cmpint(a, >=, 0);
    inet_ntop(AF_INET, &peer.sin_addr, buf, sizeof(buf));
    close(a);
    close(c);
    close(l);
    return g_strdup(buf);
}

static void
test_nat_forwarding(void)
{
    VbNetdevPrefix subnet;
    VbNetdevFirewall fw = {.bridge = "vbnat0",
                           .mode = VB_NETDEV_FW_NAT,
                           .subnets = &subnet,
                           .n_subnets = 1,
                           .dhcp_dns = TRUE};
    g_autoptr(GError) error = NULL;
    g_autofree char *peer = NULL;
    g_autofree char *fwd = NULL;
    g_autoptr(GArray) neigh = NULL;
    gboolean seen = FALSE;
    gint64 t0, t1, t2;
    int guest = netns_new(), outside = netns_new();

    /* bridge 10.88.0.1/24 <- veth -> "guest" 10.88.0.2; uplink 198.51.100.1 <-> "outside" .2
     * with no route back to 10.88.0.0/24: only NAT lets the guest through */
    g_assert_true(vb_netdev_prefix_parse("10.88.0.1/24", &subnet, NULL));
    t0 = g_get_monotonic_time();
    g_assert_true(vb_netdev_bridge_create("vbnat0", NULL, &error));
    g_assert_true(vb_netdev_addr_add("vbnat0", "10.88.0.1/24", &error));
    g_assert_true(vb_netdev_link_set_up("vbnat0", TRUE, &error));
    g_assert_true(vb_netdev_veth_create("vbg0", "vbg1", &error));
    g_assert_true(vb_netdev_tap_plug("vbg0", "vbnat0", 0, &error));
    g_assert_true(vb_netdev_link_set_netns("vbg1", guest, &error));
    g_assert_true(vb_netdev_veth_create("vbup0", "vbup1", &error));
    g_assert_true(vb_netdev_addr_add("vbup0", "198.51.100.1/24", &error));
    g_assert_true(vb_netdev_link_set_up("vbup0", TRUE, &error));
    g_assert_true(vb_netdev_link_set_netns("vbup1", outside, &error));
    g_assert_no_error(error);
    in_ns(guest, "vbg1", "10.88.0.2/24", "198.51.100.0/24", "10.88.0.1");
    in_ns(outside, "vbup1", "198.51.100.2/24", NULL, NULL);

    /* off first (this namespace only), so the enable is what turns it on */
    g_assert_true(g_file_set_contents_full("/proc/sys/net/ipv4/ip_forward", "0\n", -1,
                                           G_FILE_SET_CONTENTS_NONE, 0644, NULL));
    t1 = g_get_monotonic_time();
    peer = connect_out(guest, outside);
    g_assert_null(peer);
    t0 += g_get_monotonic_time() - t1;
    g_assert_true(vb_netdev_ip_forward_enable(FALSE, &error));
    g_assert_no_error(error);
    g_assert_true(g_file_get_contents("/proc/sys/net/ipv4/ip_forward", &fwd, NULL, NULL));
    g_assert_cmpstr(g_strstrip(fwd), ==, "1");

    t1 = g_get_monotonic_time();
    g_assert_true(vb_netdev_nft_add("natnet", &fw, &error));
    g_assert_no_error(error);
    t2 = g_get_monotonic_time();
    g_test_message("network setup without dnsmasq: %.1f ms (links, addresses, ip_forward), "
                   "nft rules %.1f ms",
                   (t1 - t0) / 1000.0, (t2 - t1) / 1000.0);
    peer = connect_out(guest, outside);
    g_assert_cmpstr(peer, ==, "198.51.100.1");
    g_clear_pointer(&peer, g_free);

    /* the host saw the guest: its neighbour table has it on the bridge */
    neigh = vb_netdev_neigh_list(AF_INET, &error);
    for (guint i = 0; i < neigh->len; i++) {
        const VbNetdevNeigh *n = &g_array_index(neigh, VbNetdevNeigh, i);

        seen |= g_str_equal(n->ip, "10.88.0.2") && g_str_equal(n->ifname, "vbnat0");
    }
    g_assert_true(seen);

    /* isolated: the same guest reaches nothing outside */
    fw.mode = VB_NETDEV_FW_ISOLATED;
    g_assert_true(vb_netdev_nft_add("natnet", &fw, &error));
    peer = connect_out(guest, outside);
    g_assert_null(peer);

    /* routed: no translation, so no way back from the outside */
    fw.mode = VB_NETDEV_FW_ROUTE;
    g_assert_true(vb_netdev_nft_add("natnet", &fw, &error));
    peer = run("nft list table inet virtbus");
    g_assert_null(strstr(peer, "masquerade"));
    g_assert_nonnull(strstr(peer, "ip daddr 10.88.0.0/24 accept"));
    g_clear_pointer(&peer, g_free);

    g_assert_true(vb_netdev_nft_remove("natnet", &error));
    g_assert_null(nft_chain_names());
    close(guest);
    close(outside);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    /* before anything else: all that follows lives in a namespace of ours */
    if (unshare(CLONE_NEWNET) < 0)
        g_error("unshare(CLONE_NEWNET): %s (the test runs as root)", g_strerror(errno));
    host_ns = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    g_assert_cmpint(host_ns, >=, 0);
    g_assert_true(vb_netdev_link_set_up("lo", TRUE, NULL));

    g_test_add_func("/netdev/names", test_names);
    g_test_add_func("/netdev/bridge", test_bridge);
    g_test_add_func("/netdev/links", test_links);
    g_test_add_func("/netdev/addresses-routes", test_addresses);
    g_test_add_func("/netdev/peer-address-route-metric", test_peer_and_metric);
    g_test_add_func("/netdev/ipv6-dad-sysctls", test_ipv6);
    g_test_add_func("/netdev/subnet-clash", test_clash);
    g_test_add_func("/netdev/neighbours", test_neighbours);
    g_test_add_func("/netdev/tap", test_tap);
    g_test_add_func("/netdev/tap-multiqueue", test_tap_multiqueue);
    g_test_add_func("/netdev/tap-existing", test_tap_existing);
    g_test_add_func("/netdev/macvtap", test_macvtap);
    g_test_add_func("/netdev/mcast-flags", test_mcast_flags); /* issue 13, part netupd */
    g_test_add_func("/netdev/vhost", test_vhost);
    g_test_add_func("/netdev/bandwidth", test_bandwidth);
    g_test_add_func("/netdev/nft", test_nft);
    g_test_add_func("/netdev/nat-forwarding", test_nat_forwarding);
    return g_test_run();
}
