/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <errno.h>
#include <string.h>
#include <json-glib/json-glib.h>
#include <sys/socket.h>

#include "netdev-link.h"
#include "netdev-nft.h"
#include "netdev-priv.h"
#include "vb-error.h"

#define T "inet " VB_NETDEV_NFT_TABLE
#define CHAIN_PREFIX "net-"
#define MAX_NAME 200

static const char *const fw_modes[] = {"nat", "route", "open", "isolated"};
G_STATIC_ASSERT(G_N_ELEMENTS(fw_modes) == VB_NETDEV_FW_LAST);

/* chain roles of one network and their hooks */
static const char *const roles[] = {"fwd", "in", "out", "nat"};

/* nft -f scripts are applied one at a time: list, decide, apply. */
static GMutex nft_lock;

/**
 * vb_netdev_fw_mode_to_string:
 * @mode: a mode
 *
 * Returns: "nat", "route", "open" or "isolated".
 */
const char *
vb_netdev_fw_mode_to_string(VbNetdevFwMode mode)
{
    g_return_val_if_fail(mode < VB_NETDEV_FW_LAST, NULL);
    return fw_modes[mode];
}

/**
 * vb_netdev_fw_mode_from_string:
 * @str: a mode name
 *
 * Returns: the mode, or -1.
 */
int
vb_netdev_fw_mode_from_string(const char *str)
{
    return vb_enum_lookup(fw_modes, VB_NETDEV_FW_LAST, str);
}

/* Network names become chain identifiers nft accepts: letters, digits and
 * '_' stay, any other byte is written ".XX". */
static char *
name_escape(const char *name)
{
    GString *s = g_string_new(NULL);

    for (const guchar *p = (const guchar *)name; *p; p++) {
        if (g_ascii_isalnum(*p) || *p == '_')
            g_string_append_c(s, *p);
        else
            g_string_append_printf(s, ".%02x", *p);
    }
    return g_string_free(s, FALSE);
}

static char *
name_unescape(const char *esc, gsize len)
{
    GString *s = g_string_new(NULL);

    for (gsize i = 0; i < len; i++) {
        if (esc[i] == '.' && i + 2 < len && g_ascii_isxdigit(esc[i + 1]) &&
            g_ascii_isxdigit(esc[i + 2])) {
            g_string_append_c(s, g_ascii_xdigit_value(esc[i + 1]) << 4 |
                                     g_ascii_xdigit_value(esc[i + 2]));
            i += 2;
        } else {
            g_string_append_c(s, esc[i]);
        }
    }
    return g_string_free(s, FALSE);
}

/* "net-<esc>-<role>" -> network name, or NULL for a chain not of ours */
static char *
chain_network(const char *chain)
{
    const char *dash = strrchr(chain, '-');

    if (!g_str_has_prefix(chain, CHAIN_PREFIX) || dash == NULL ||
        dash <= chain + strlen(CHAIN_PREFIX))
        return NULL;
    for (guint i = 0; i < G_N_ELEMENTS(roles); i++) {
        if (g_str_equal(dash + 1, roles[i]))
            return name_unescape(chain + strlen(CHAIN_PREFIX), dash - chain - strlen(CHAIN_PREFIX));
    }
    return NULL;
}

static gboolean
ifname_check(const char *what, const char *name, GError **error)
{
    if (!vb_netdev_name_check(name, error))
        return FALSE;
    if (strpbrk(name, "\"\\")) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                    "%s '%s': quotes and backslashes cannot be written in a firewall rule", what,
                    name);
        return FALSE;
    }
    return TRUE;
}

static void
add_chain(GString *s, const char *esc, const char *role, const char *type, const char *hook,
          const char *prio)
{
    g_string_append_printf(s,
                           "add chain " T " " CHAIN_PREFIX "%s-%s { type %s hook %s priority %s; "
                           "policy accept; }\n",
                           esc, role, type, hook, prio);
}

static void
nat_rules(GString *s, const char *esc, const VbNetdevFirewall *fw, const VbNetdevPrefix *net)
{
    g_autofree char *sub = vb_netdev_prefix_to_string(net);
    const char *f = net->family == AF_INET ? "ip" : "ip6";
    g_autofree char *oif =
        fw->forward_dev ? g_strdup_printf(" oifname \"%s\"", fw->forward_dev) : g_strdup("");
    g_autofree char *ports =
        g_strdup_printf(":%u-%u", fw->nat_port_start ? fw->nat_port_start : 1024,
                        fw->nat_port_end ? fw->nat_port_end : 65535);
    g_autofree char *to = NULL;
    g_autofree char *to_ports = NULL;
    const char *pre = CHAIN_PREFIX;

    if (fw->nat_addr_start && net->family == AF_INET) {
        const char *end = fw->nat_addr_end ? fw->nat_addr_end : fw->nat_addr_start;

        to = g_strdup_printf("snat ip to %s-%s", fw->nat_addr_start, end);
        to_ports = g_strdup_printf("%s%s", to, ports);
    } else {
        to = g_strdup("masquerade");
        to_ports = g_strdup_printf("masquerade to %s", ports);
    }
    /* multicast and broadcast are never translated (libvirt's exclusions) */
    if (net->family == AF_INET) {
        g_string_append_printf(s,
                               "add rule " T " %s%s-nat ip saddr %s ip daddr 224.0.0.0/24 "
                               "return\n",
                               pre, esc, sub);
        g_string_append_printf(s,
                               "add rule " T " %s%s-nat ip saddr %s ip daddr "
                               "255.255.255.255 return\n",
                               pre, esc, sub);
    } else {
        g_string_append_printf(s,
                               "add rule " T " %s%s-nat ip6 saddr %s ip6 daddr ff00::/8 "
                               "return\n",
                               pre, esc, sub);
    }
    for (int i = 0; i < 2; i++)
        g_string_append_printf(s,
                               "add rule " T " %s%s-nat %s saddr %s %s daddr != %s%s meta "
                               "l4proto %s %s\n",
                               pre, esc, f, sub, f, sub, oif, i == 0 ? "tcp" : "udp", to_ports);
    g_string_append_printf(s, "add rule " T " %s%s-nat %s saddr %s %s daddr != %s%s %s\n", pre, esc,
                           f, sub, f, sub, oif, to);
}

static void
forward_rules(GString *s, const char *esc, const VbNetdevFirewall *fw, const VbNetdevPrefix *net)
{
    g_autofree char *sub = vb_netdev_prefix_to_string(net);
    const char *f = net->family == AF_INET ? "ip" : "ip6";
    const char *br = fw->bridge;
    g_autofree char *oif =
        fw->forward_dev ? g_strdup_printf(" oifname \"%s\"", fw->forward_dev) : g_strdup("");
    g_autofree char *iif =
        fw->forward_dev ? g_strdup_printf(" iifname \"%s\"", fw->forward_dev) : g_strdup("");
    gboolean nat = fw->mode == VB_NETDEV_FW_NAT && (net->family == AF_INET || fw->nat_ipv6);

    /* in: replies only for NAT, anything to the subnet for routing */
    g_string_append_printf(s,
                           "add rule " T " " CHAIN_PREFIX "%s-fwd%s oifname \"%s\" %s daddr %s%s "
                           "accept\n",
                           esc, iif, br, f, sub, nat ? " ct state related,established" : "");
    g_string_append_printf(s,
                           "add rule " T " " CHAIN_PREFIX "%s-fwd iifname \"%s\" %s saddr %s%s "
                           "accept\n",
                           esc, br, f, sub, oif);
}

/**
 * vb_netdev_nft_script:
 * @network: the network's name (any text; it is escaped into chain names)
 * @fw: what to install
 * @error: return location; %VB_ERROR_INVALID_ARG for bad input
 *
 * Writes the nft script that adds @network's chains and rules to the table
 * (creating the table if needed). vb_netdev_nft_add() applies it; exposed for
 * tests and for showing what would be done.
 *
 * Returns: (transfer full): the script, or %NULL.
 */
char *
vb_netdev_nft_script(const char *network, const VbNetdevFirewall *fw, GError **error)
{
    g_autoptr(GString) s = g_string_new("add table " T "\n");
    g_autofree char *esc = NULL;
    const char *pre = CHAIN_PREFIX;
    gboolean any_nat = FALSE, v6 = FALSE;

    if (network == NULL || *network == '\0' ||
        (esc = name_escape(network), strlen(esc) > MAX_NAME)) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                    "network name '%s' is empty or too long for firewall chain names",
                    network ? network : "");
        return NULL;
    }
    if ((guint)fw->mode >= VB_NETDEV_FW_LAST) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG, "network '%s': unknown forward mode %d",
                    network, fw->mode);
        return NULL;
    }
    if (!ifname_check("bridge", fw->bridge, error) ||
        (fw->forward_dev && !ifname_check("forward device", fw->forward_dev, error)))
        return NULL;
    if (fw->nat_port_start > 65535 || fw->nat_port_end > 65535 ||
        (fw->nat_port_end && fw->nat_port_start > fw->nat_port_end)) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                    "network '%s': NAT port range %u-%u is not within 1-65535 in order", network,
                    fw->nat_port_start, fw->nat_port_end);
        return NULL;
    }
    for (const char *const *a = (const char *const[]){fw->nat_addr_start, fw->nat_addr_end, NULL};
         *a; a++) {
        VbNetdevPrefix p;

        if (!vb_netdev_prefix_parse(*a, &p, NULL) || p.family != AF_INET || p.prefix != 32) {
            g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                        "network '%s': NAT address '%s' is not an IPv4 address", network, *a);
            return NULL;
        }
    }
    if (fw->mode == VB_NETDEV_FW_OPEN)
        return g_string_free(g_steal_pointer(&s), FALSE);

    for (guint i = 0; i < fw->n_subnets; i++) {
        v6 |= fw->subnets[i].family == AF_INET6;
        any_nat |=
            fw->mode == VB_NETDEV_FW_NAT && (fw->subnets[i].family == AF_INET || fw->nat_ipv6);
    }
    add_chain(s, esc, "fwd", "filter", "forward", "filter");
    /* within the bridge everything goes (libvirt's FWX) */
    g_string_append_printf(s, "add rule " T " %s%s-fwd iifname \"%s\" oifname \"%s\" accept\n", pre,
                           esc, fw->bridge, fw->bridge);
    for (guint i = 0; fw->mode != VB_NETDEV_FW_ISOLATED && i < fw->n_subnets; i++) {
        VbNetdevPrefix net;

        vb_netdev_prefix_network(&fw->subnets[i], &net);
        forward_rules(s, esc, fw, &net);
    }
    /* anything else to or from the bridge is refused (libvirt's FWO/FWI rejects) */
    g_string_append_printf(s, "add rule " T " %s%s-fwd oifname \"%s\" reject\n", pre, esc,
                           fw->bridge);
    g_string_append_printf(s, "add rule " T " %s%s-fwd iifname \"%s\" reject\n", pre, esc,
                           fw->bridge);
    if (fw->dhcp_dns) {
        add_chain(s, esc, "in", "filter", "input", "filter");
        g_string_append_printf(s,
                               "add rule " T " %s%s-in iifname \"%s\" udp dport { 53, 67 } "
                               "accept\n",
                               pre, esc, fw->bridge);
        g_string_append_printf(s,
                               "add rule " T " %s%s-in iifname \"%s\" tcp dport { 53, 67 } "
                               "accept\n",
                               pre, esc, fw->bridge);
        if (v6)
            g_string_append_printf(s,
                                   "add rule " T " %s%s-in iifname \"%s\" udp dport 547 "
                                   "accept\n",
                                   pre, esc, fw->bridge);
        add_chain(s, esc, "out", "filter", "output", "filter");
        g_string_append_printf(s, "add rule " T " %s%s-out oifname \"%s\" udp dport 68 accept\n",
                               pre, esc, fw->bridge);
        if (v6)
            g_string_append_printf(s,
                                   "add rule " T " %s%s-out oifname \"%s\" udp dport 546 "
                                   "accept\n",
                                   pre, esc, fw->bridge);
    }
    if (any_nat) {
        add_chain(s, esc, "nat", "nat", "postrouting", "srcnat");
        for (guint i = 0; i < fw->n_subnets; i++) {
            VbNetdevPrefix net;

            if (fw->subnets[i].family == AF_INET6 && !fw->nat_ipv6)
                continue;
            vb_netdev_prefix_network(&fw->subnets[i], &net);
            nat_rules(s, esc, fw, &net);
        }
    }
    return g_string_free(g_steal_pointer(&s), FALSE);
}

static gboolean
nft_apply(const char *script, const char *what, GError **error)
{
    const char *argv[] = {"nft", "-f", "-", NULL};
    g_autofree char *err = NULL;
    int status;

    g_debug("nft script for %s:\n%s", what, script);
    if (!vb_netdev_run_tool(argv, script, NULL, &err, &status, error))
        return FALSE;
    if (status != 0) {
        g_set_error(error, VB_ERROR, VB_ERROR_FAILED, "cannot %s in nftables table '" T "': %s",
                    what, err && *err ? err : "nft failed without a reason");
        return FALSE;
    }
    return TRUE;
}

/* The chain names of table inet virtbus; an empty array when there is none. */
static GPtrArray *
nft_chains(GError **error)
{
    const char *argv[] = {"nft", "-j", "list", "table", "inet", VB_NETDEV_NFT_TABLE, NULL};
    g_autofree char *out = NULL;
    g_autofree char *err = NULL;
    g_autoptr(GPtrArray) chains = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(JsonParser) parser = json_parser_new();
    g_autoptr(GError) perr = NULL;
    JsonNode *root;
    JsonArray *items;
    int status;

    if (!vb_netdev_run_tool(argv, NULL, &out, &err, &status, error))
        return NULL;
    if (status != 0) {
        /* nft runs with LC_ALL=C: "Error: No such file or directory" */
        if (err && strstr(err, "No such file or directory"))
            return g_steal_pointer(&chains);
        g_set_error(error, VB_ERROR, VB_ERROR_FAILED, "cannot list nftables table '" T "': %s",
                    err && *err ? err : "nft failed without a reason");
        return NULL;
    }
    if (!json_parser_load_from_data(parser, out, -1, &perr) ||
        !JSON_NODE_HOLDS_OBJECT(root = json_parser_get_root(parser)) ||
        !json_object_has_member(json_node_get_object(root), "nftables")) {
        g_set_error(error, VB_ERROR, VB_ERROR_FAILED,
                    "cannot read the listing of nftables table '" T "': %s",
                    perr ? perr->message : "no 'nftables' array");
        return NULL;
    }
    items = json_object_get_array_member(json_node_get_object(root), "nftables");
    for (guint i = 0; items && i < json_array_get_length(items); i++) {
        JsonObject *o = json_array_get_object_element(items, i);
        JsonObject *c = o && json_object_has_member(o, "chain")
                            ? json_object_get_object_member(o, "chain")
                            : NULL;

        if (c && json_object_has_member(c, "name"))
            g_ptr_array_add(chains, g_strdup(json_object_get_string_member(c, "name")));
    }
    return g_steal_pointer(&chains);
}

/* "flush + delete" lines for @network's chains found in @chains; counts others */
static void
delete_lines(GString *s, GPtrArray *chains, const char *network, guint *out_others)
{
    *out_others = 0;
    for (guint i = 0; i < chains->len; i++) {
        const char *c = chains->pdata[i];
        g_autofree char *net = chain_network(c);

        if (net && g_str_equal(net, network)) {
            g_string_append_printf(s, "flush chain " T " %s\ndelete chain " T " %s\n", c, c);
        } else {
            (*out_others)++;
        }
    }
}

/**
 * vb_netdev_nft_add:
 * @network: the network's name
 * @fw: its rules
 * @error: return location
 *
 * Installs @network's chains in table `inet virtbus`, replacing any it had,
 * in one transaction: either all of them are in place or none changed.
 * %VB_NETDEV_FW_OPEN installs nothing (and removes what was there).
 *
 * Returns: %TRUE on success.
 */
gboolean
vb_netdev_nft_add(const char *network, const VbNetdevFirewall *fw, GError **error)
{
    g_autofree char *script = vb_netdev_nft_script(network, fw, error);
    g_autoptr(GMutexLocker) locker = NULL;
    g_autoptr(GPtrArray) chains = NULL;
    g_autoptr(GString) s = NULL;
    g_autofree char *what = NULL;
    guint others;

    if (script == NULL)
        return FALSE;
    if (fw->mode == VB_NETDEV_FW_OPEN)
        return vb_netdev_nft_remove(network, error);
    locker = g_mutex_locker_new(&nft_lock);
    chains = nft_chains(error);
    if (chains == NULL)
        return FALSE;
    s = g_string_new("add table " T "\n");
    delete_lines(s, chains, network, &others);
    g_string_append(s, script);
    what = g_strdup_printf("add the rules of network '%s'", network);
    return nft_apply(s->str, what, error);
}

/**
 * vb_netdev_nft_remove:
 * @network: the network's name
 * @error: return location
 *
 * Removes @network's chains (nothing to do when it has none) and the table
 * when no other network's chains are left, in one transaction.
 *
 * Returns: %TRUE on success.
 */
gboolean
vb_netdev_nft_remove(const char *network, GError **error)
{
    g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&nft_lock);
    g_autoptr(GPtrArray) chains = nft_chains(error);
    g_autoptr(GString) s = g_string_new(NULL);
    g_autofree char *what = NULL;
    guint others;

    if (chains == NULL)
        return FALSE;
    delete_lines(s, chains, network, &others);
    if (others == 0 && chains->len > 0) {
        g_string_assign(s, "delete table " T "\n");
    } else if (s->len == 0) {
        if (chains->len == 0 && others == 0) {
            /* an empty table of ours is left from a crash: drop it too */
            g_string_assign(s, "add table " T "\ndelete table " T "\n");
        } else {
            return TRUE;
        }
    }
    what = g_strdup_printf("remove the rules of network '%s'", network);
    return nft_apply(s->str, what, error);
}

/**
 * vb_netdev_nft_list:
 * @error: return location
 *
 * Lists the networks that have chains in table `inet virtbus`, to reconnect
 * to them after a restart of the service (and remove those of networks that
 * no longer run).
 *
 * Returns: (transfer full): the network names (empty when there is no
 * table), or %NULL on error.
 */
char **
vb_netdev_nft_list(GError **error)
{
    g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&nft_lock);
    g_autoptr(GPtrArray) chains = nft_chains(error);
    g_autoptr(GPtrArray) out = g_ptr_array_new_with_free_func(g_free);

    if (chains == NULL)
        return NULL;
    for (guint i = 0; i < chains->len; i++) {
        g_autofree char *net = chain_network(chains->pdata[i]);

        if (net && !g_ptr_array_find_with_equal_func(out, net, g_str_equal, NULL))
            g_ptr_array_add(out, g_steal_pointer(&net));
    }
    g_ptr_array_add(out, NULL);
    return (char **)g_ptr_array_free(g_steal_pointer(&out), FALSE);
}

static gboolean
sysctl_enable(const char *path, GError **error)
{
    g_autofree char *cur = NULL;
    g_autoptr(GError) err = NULL;

    if (g_file_get_contents(path, &cur, NULL, NULL) && g_str_has_prefix(cur, "1"))
        return TRUE;
    if (!g_file_set_contents_full(path, "1\n", -1, G_FILE_SET_CONTENTS_NONE, 0644, &err)) {
        g_set_error(error, VB_ERROR, VB_ERROR_FAILED, "cannot enable IP forwarding: %s",
                    err->message);
        return FALSE;
    }
    return TRUE;
}

/**
 * vb_netdev_ip_forward_enable:
 * @ipv6: also enable IPv6 forwarding (a network with an IPv6 subnet)
 * @error: return location
 *
 * Turns on forwarding in the calling thread's network namespace, as libvirt
 * does when a NAT or routed network starts (never turned off again: other
 * users of the host may rely on it by then).
 *
 * Returns: %TRUE on success.
 */
gboolean
vb_netdev_ip_forward_enable(gboolean ipv6, GError **error)
{
    if (!sysctl_enable("/proc/sys/net/ipv4/ip_forward", error))
        return FALSE;
    return !ipv6 || sysctl_enable("/proc/sys/net/ipv6/conf/all/forwarding", error);
}
