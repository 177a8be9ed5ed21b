/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Network definitions (issue 12, part "network XML"): life cycle, address helpers, the
 * default network and subnet overlap checks. Parsing, formatting, validation and updates
 * are in network-def-{parse,format,validate,update}.c.
 */
#include "config.h"

#include <arpa/inet.h>
#include <string.h>
#include <sys/socket.h>

#include "network-def-priv.h"
#include "vb-error.h"

static const char *const forward_modes[] = {"none",    "nat",  "route",       "open",    "bridge",
                                            "private", "vepa", "passthrough", "hostdev", NULL};

/**
 * vb_network_forward_mode_to_string:
 * @mode: a #VbNetworkForwardMode
 *
 * Returns: libvirt's name of @mode ("none" for an isolated network)
 */
const char *
vb_network_forward_mode_to_string(VbNetworkForwardMode mode)
{
    g_return_val_if_fail(mode < VB_NETWORK_FORWARD_LAST, NULL);
    return forward_modes[mode];
}

/**
 * vb_network_forward_mode_from_string:
 * @str: a forward mode name
 *
 * Returns: the #VbNetworkForwardMode, or -1 when unknown
 */
int
vb_network_forward_mode_from_string(const char *str)
{
    return vb_enum_from_string(forward_modes, str);
}

/**
 * vb_net_kept_new: (skip)
 */
VbNetKept *
vb_net_kept_new(void)
{
    return g_new0(VbNetKept, 1);
}

/**
 * vb_net_kept_free: (skip)
 * @kept: (nullable): kept data
 */
void
vb_net_kept_free(VbNetKept *kept)
{
    if (kept == NULL)
        return;
    vb_extra_clear(&kept->x);
    g_clear_pointer(&kept->root_ns, g_ptr_array_unref);
    g_free(kept);
}

static void
lease_clear(VbNetworkLease *lease)
{
    g_free(lease->unit);
    vb_net_kept_free(lease->kept);
    memset(lease, 0, sizeof(*lease));
}

/**
 * vb_network_dhcp_host_free: (skip)
 * @host: (nullable): a DHCP host
 */
void
vb_network_dhcp_host_free(VbNetworkDhcpHost *host)
{
    if (host == NULL)
        return;
    g_free(host->mac);
    g_free(host->id);
    g_free(host->name);
    g_free(host->ip);
    lease_clear(&host->lease);
    vb_net_kept_free(host->kept);
    g_free(host);
}

/**
 * vb_network_dhcp_range_free: (skip)
 * @range: (nullable): a DHCP range
 */
void
vb_network_dhcp_range_free(VbNetworkDhcpRange *range)
{
    if (range == NULL)
        return;
    g_free(range->start);
    g_free(range->end);
    lease_clear(&range->lease);
    vb_net_kept_free(range->kept);
    g_free(range);
}

/**
 * vb_network_ip_free: (skip)
 * @ip: (nullable): an <ip>
 */
void
vb_network_ip_free(VbNetworkIp *ip)
{
    if (ip == NULL)
        return;
    g_free(ip->family_attr);
    g_free(ip->address);
    g_free(ip->netmask);
    g_clear_pointer(&ip->ranges, g_ptr_array_unref);
    g_clear_pointer(&ip->hosts, g_ptr_array_unref);
    vb_net_kept_free(ip->kept);
    vb_net_kept_free(ip->dhcp_kept);
    g_free(ip);
}

/**
 * vb_network_dns_host_free: (skip)
 * @host: (nullable): a DNS host
 */
void
vb_network_dns_host_free(VbNetworkDnsHost *host)
{
    if (host == NULL)
        return;
    g_free(host->ip);
    g_clear_pointer(&host->names, g_ptr_array_unref);
    vb_net_kept_free(host->kept);
    g_free(host);
}

/**
 * vb_network_dns_forwarder_free: (skip)
 * @fwd: (nullable): a DNS forwarder
 */
void
vb_network_dns_forwarder_free(VbNetworkDnsForwarder *fwd)
{
    if (fwd == NULL)
        return;
    g_free(fwd->domain);
    g_free(fwd->addr);
    vb_net_kept_free(fwd->kept);
    g_free(fwd);
}

/**
 * vb_network_def_new: (skip)
 *
 * Returns: (transfer full): an empty definition (isolated, no name)
 */
VbNetworkDef *
vb_network_def_new(void)
{
    VbNetworkDef *def = g_new0(VbNetworkDef, 1);

    def->ipv6 = -1;
    def->nat_ipv6 = -1;
    def->stp = TRUE;
    def->domain_local_only = -1;
    def->dns_enable = -1;
    def->port_isolated = -1;
    def->forward_ifaces = g_ptr_array_new_with_free_func(g_free);
    def->forward_ifaces_kept = g_ptr_array_new_with_free_func((GDestroyNotify)vb_net_kept_free);
    def->dns_forwarders =
        g_ptr_array_new_with_free_func((GDestroyNotify)vb_network_dns_forwarder_free);
    def->dns_hosts = g_ptr_array_new_with_free_func((GDestroyNotify)vb_network_dns_host_free);
    def->ips = g_ptr_array_new_with_free_func((GDestroyNotify)vb_network_ip_free);
    return def;
}

/**
 * vb_network_def_free:
 * @def: (nullable): a network definition
 */
void
vb_network_def_free(VbNetworkDef *def)
{
    if (def == NULL)
        return;
    g_free(def->name);
    g_free(def->forward_dev);
    g_ptr_array_unref(def->forward_ifaces);
    g_ptr_array_unref(def->forward_ifaces_kept);
    g_free(def->nat_addr_start);
    g_free(def->nat_addr_end);
    vb_net_kept_free(def->forward_kept);
    vb_net_kept_free(def->nat_kept);
    vb_net_kept_free(def->nat_addr_kept);
    vb_net_kept_free(def->nat_port_kept);
    g_free(def->bridge);
    g_free(def->mac_table_manager);
    vb_net_kept_free(def->bridge_kept);
    g_free(def->mac);
    g_free(def->domain);
    g_ptr_array_unref(def->dns_forwarders);
    g_ptr_array_unref(def->dns_hosts);
    vb_net_kept_free(def->dns_kept);
    g_ptr_array_unref(def->ips);
    vb_net_kept_free(def->kept);
    vb_net_kept_free(def->mtu_kept);
    vb_net_kept_free(def->mac_kept);
    vb_net_kept_free(def->domain_kept);
    vb_net_kept_free(def->port_kept);
    g_free(def);
}

/**
 * vb_network_def_copy:
 * @def: a valid definition
 * @error: error
 *
 * Deep copy through the XML (the copy keeps the UUID).
 *
 * Returns: (transfer full) (nullable): the copy
 */
VbNetworkDef *
vb_network_def_copy(const VbNetworkDef *def, GError **error)
{
    g_autofree char *xml = vb_network_def_format(def);

    return vb_network_def_parse_string(xml, error);
}

/**
 * vb_network_name_validate:
 * @name: (nullable): a network name
 * @error: error (VB_ERROR_INVALID_ARG)
 *
 * libvirt's rule (non-empty, no '/'), plus what virtbus needs to keep the name in file
 * names and logs: UTF-8, at most 255 bytes, no leading '.', no control characters.
 *
 * Returns: whether @name is usable
 */
gboolean
vb_network_name_validate(const char *name, GError **error)
{
    if (name == NULL || *name == '\0') {
        g_set_error_literal(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                            "network name is empty; give it a <name>");
        return FALSE;
    }
    if (strlen(name) > 255) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                    "network name is %zu bytes long, at most 255 are allowed", strlen(name));
        return FALSE;
    }
    if (!g_utf8_validate(name, -1, NULL)) {
        g_set_error_literal(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                            "network name is not valid UTF-8");
        return FALSE;
    }
    if (strchr(name, '/') != NULL) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                    "invalid character '/' in network name '%s'", name);
        return FALSE;
    }
    if (name[0] == '.') {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                    "network name '%s' must not start with '.'", name);
        return FALSE;
    }
    for (const char *p = name; *p; p++) {
        if ((guchar)*p < 0x20 || *p == 0x7f) {
            g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                        "network name must not contain control characters");
            return FALSE;
        }
    }
    return TRUE;
}

/**
 * vb_network_bridge_name_valid:
 * @name: an interface name
 *
 * Returns: whether the kernel accepts @name as a network interface name
 *     (1 to 15 bytes, not "." or "..", no '/', ':' or white space)
 */
gboolean
vb_network_bridge_name_valid(const char *name)
{
    size_t len = strlen(name);

    if (len == 0 || len > 15 || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
        return FALSE;
    for (const char *p = name; *p; p++) {
        if (*p == '/' || *p == ':' || g_ascii_isspace(*p) || (guchar)*p < 0x20 ||
            (guchar)*p >= 0x7f)
            return FALSE;
    }
    return TRUE;
}

/**
 * vb_network_def_set_bridge:
 * @def: a definition
 * @bridge: a valid bridge name (the driver's generated virbr%d)
 */
void
vb_network_def_set_bridge(VbNetworkDef *def, const char *bridge)
{
    g_return_if_fail(vb_network_bridge_name_valid(bridge));
    g_free(def->bridge);
    def->bridge = g_strdup(bridge);
    def->bridge_present = TRUE;
}

/**
 * vb_network_def_has_bridge:
 * @def: a definition
 *
 * Returns: whether the network's guests sit on a bridge virtbus makes (isolated, nat,
 *     route, open); such a network gets a bridge name generated when none is given
 */
gboolean
vb_network_def_has_bridge(const VbNetworkDef *def)
{
    return def->forward_mode <= VB_NETWORK_FORWARD_OPEN;
}

/**
 * vb_net_addr_parse: (skip)
 * @str: an IPv4 or IPv6 address
 * @out: (out): the address
 */
gboolean
vb_net_addr_parse(const char *str, VbNetAddr *out)
{
    memset(out, 0, sizeof(*out));
    if (str == NULL)
        return FALSE;
    if (inet_pton(AF_INET, str, out->b) == 1) {
        out->family = AF_INET;
        return TRUE;
    }
    if (inet_pton(AF_INET6, str, out->b) == 1) {
        out->family = AF_INET6;
        return TRUE;
    }
    return FALSE;
}

/**
 * vb_net_addr_format: (skip)
 * @addr: an address
 *
 * Returns: (transfer full): its canonical text
 */
char *
vb_net_addr_format(const VbNetAddr *addr)
{
    char buf[INET6_ADDRSTRLEN];

    if (inet_ntop(addr->family, addr->b, buf, sizeof(buf)) == NULL)
        return g_strdup("");
    return g_strdup(buf);
}

static guint
addr_len(const VbNetAddr *a)
{
    return a->family == AF_INET ? 4 : 16;
}

/**
 * vb_net_addr_cmp: (skip)
 * @a: an address
 * @b: an address of the same family
 *
 * Returns: <0, 0, >0 as memcmp() in network order
 */
int
vb_net_addr_cmp(const VbNetAddr *a, const VbNetAddr *b)
{
    if (a->family != b->family)
        return a->family < b->family ? -1 : 1;
    return memcmp(a->b, b->b, addr_len(a));
}

/**
 * vb_net_addr_mask: (skip)
 * @addr: (inout): an address; host bits are cleared
 * @prefix: prefix length
 */
void
vb_net_addr_mask(VbNetAddr *addr, guint prefix)
{
    guint len = addr_len(addr);

    for (guint i = 0; i < len; i++) {
        guint bits = prefix > i * 8 ? MIN(prefix - i * 8, 8) : 0;
        addr->b[i] &= (guint8)(bits == 0 ? 0 : 0xff << (8 - bits));
    }
}

/**
 * vb_net_addr_in_subnet: (skip)
 * @addr: an address
 * @net: an address in the subnet
 * @prefix: its prefix length
 */
gboolean
vb_net_addr_in_subnet(const VbNetAddr *addr, const VbNetAddr *net, guint prefix)
{
    VbNetAddr a = *addr;
    VbNetAddr n = *net;

    if (addr->family != net->family)
        return FALSE;
    vb_net_addr_mask(&a, prefix);
    vb_net_addr_mask(&n, prefix);
    return vb_net_addr_cmp(&a, &n) == 0;
}

/**
 * vb_net_netmask_to_prefix: (skip)
 * @mask: an IPv4 netmask
 * @out_prefix: (out): its length
 *
 * Returns: whether @mask is contiguous ones then zeros
 */
gboolean
vb_net_netmask_to_prefix(const VbNetAddr *mask, guint *out_prefix)
{
    guint32 m = (guint32)mask->b[0] << 24 | (guint32)mask->b[1] << 16 | (guint32)mask->b[2] << 8 |
                mask->b[3];
    guint n = 0;

    if (mask->family != AF_INET)
        return FALSE;
    while (n < 32 && (m & (1u << (31 - n))))
        n++;
    if (n < 32 && (m << n) != 0)
        return FALSE;
    *out_prefix = n;
    return TRUE;
}

/**
 * vb_network_ip_prefix:
 * @ip: an <ip> of a valid definition
 *
 * libvirt's virNetworkIPDefPrefix(): the netmask's length, else prefix=, else the
 * classful default for IPv4 (8, 16, 24) and 64 for IPv6.
 *
 * Returns: the prefix length of @ip's subnet
 */
guint
vb_network_ip_prefix(const VbNetworkIp *ip)
{
    VbNetAddr a;
    guint p;

    if (ip->netmask != NULL && vb_net_addr_parse(ip->netmask, &a) &&
        vb_net_netmask_to_prefix(&a, &p))
        return p;
    if (ip->prefix > 0)
        return ip->prefix;
    if (ip->family == AF_INET6)
        return 64;
    if (!vb_net_addr_parse(ip->address, &a))
        return 24;
    if (a.b[0] < 128)
        return 8;
    if (a.b[0] < 192)
        return 16;
    return 24;
}

static gboolean
ip_has_dhcp(const VbNetworkIp *ip)
{
    return ip->ranges->len > 0 || ip->hosts->len > 0;
}

/**
 * vb_network_def_dhcp_ip:
 * @def: a valid definition
 * @family: AF_INET or AF_INET6
 *
 * Returns: (nullable) (transfer none): the one <ip> of @family that has DHCP ranges or
 *     hosts (validation allows only one per family, as libvirt)
 */
const VbNetworkIp *
vb_network_def_dhcp_ip(const VbNetworkDef *def, int family)
{
    for (guint i = 0; i < def->ips->len; i++) {
        const VbNetworkIp *ip = g_ptr_array_index(def->ips, i);

        if (ip->family == family && ip_has_dhcp(ip))
            return ip;
    }
    return NULL;
}

/**
 * vb_net_prefix_parse:
 * @str: "ADDRESS/PREFIX" or a bare address (a host: /32 or /128)
 * @out_family: (out): AF_INET or AF_INET6
 * @out_addr: (out): the address, host bits cleared
 * @out_prefix: (out): the prefix length
 *
 * Returns: whether @str is a valid prefix
 */
gboolean
vb_net_prefix_parse(const char *str, int *out_family, guint8 out_addr[16], guint *out_prefix)
{
    g_auto(GStrv) parts = g_strsplit(str, "/", 2);
    VbNetAddr a;
    guint64 p;
    char *end = NULL;

    if (!vb_net_addr_parse(parts[0], &a))
        return FALSE;
    if (parts[1] == NULL) {
        p = a.family == AF_INET ? 32 : 128;
    } else {
        if (!g_ascii_isdigit(parts[1][0]))
            return FALSE;
        p = g_ascii_strtoull(parts[1], &end, 10);
        if (*end != '\0' || p > (a.family == AF_INET ? 32u : 128u))
            return FALSE;
    }
    vb_net_addr_mask(&a, (guint)p);
    *out_family = a.family;
    memcpy(out_addr, a.b, 16);
    *out_prefix = (guint)p;
    return TRUE;
}

/**
 * vb_network_def_overlaps:
 * @def: a valid definition
 * @prefixes: NULL-terminated "ADDRESS/PREFIX" strings in use (host routes, addresses of
 *     other interfaces, other networks' subnets); unparsable entries are skipped
 * @out_clash: (out) (optional) (transfer full): "SUBNET overlaps PREFIX" for the first clash
 *
 * Two prefixes overlap when the shorter one contains the other's network address.
 *
 * Returns: whether any <ip> subnet of @def overlaps one of @prefixes
 */
gboolean
vb_network_def_overlaps(const VbNetworkDef *def, const char *const *prefixes, char **out_clash)
{
    for (guint i = 0; i < def->ips->len; i++) {
        const VbNetworkIp *ip = g_ptr_array_index(def->ips, i);
        VbNetAddr net;
        guint np = vb_network_ip_prefix(ip);

        if (!vb_net_addr_parse(ip->address, &net))
            continue;
        vb_net_addr_mask(&net, np);
        for (guint j = 0; prefixes != NULL && prefixes[j] != NULL; j++) {
            VbNetAddr other = {0};
            guint op;

            if (!vb_net_prefix_parse(prefixes[j], &other.family, other.b, &op) ||
                other.family != net.family)
                continue;
            if (vb_net_addr_in_subnet(&other, &net, MIN(np, op))) {
                if (out_clash != NULL) {
                    g_autofree char *n = vb_net_addr_format(&net);
                    *out_clash = g_strdup_printf("%s/%u overlaps %s", n, np, prefixes[j]);
                }
                return TRUE;
            }
        }
    }
    return FALSE;
}

/**
 * vb_network_default_choose_subnet:
 * @used_subnets: (nullable): NULL-terminated "ADDRESS/PREFIX" strings in use on the host
 * @out_third: (out): the third octet N of the chosen 192.168.N.0/24
 *
 * libvirt's packaging picks 192.168.122.0/24 for its default network, or when that is in
 * use, the first 192.168.N.0/24 with N from 100 to 254 that nothing in @used_subnets
 * overlaps.
 *
 * Returns: %FALSE when all of them are in use
 */
gboolean
vb_network_default_choose_subnet(const char *const *used_subnets, guint *out_third)
{
    for (int n = 99; n <= 254; n++) {
        guint third = n == 99 ? 122 : (guint)n;
        g_autofree char *xml = g_strdup_printf(
            "<network><name>x</name><ip address='192.168.%u.1' prefix='24'/></network>", third);
        g_autoptr(VbNetworkDef) def = vb_network_def_parse_string(xml, NULL);

        if (def != NULL && !vb_network_def_overlaps(def, used_subnets, NULL)) {
            *out_third = third;
            return TRUE;
        }
    }
    return FALSE;
}

/**
 * vb_network_default_xml:
 * @used_subnets: (nullable): NULL-terminated "ADDRESS/PREFIX" strings in use on the host
 *
 * The XML of libvirt's `default` network (name default, bridge virbr0, NAT, DHCP from .2
 * to .254) on the subnet vb_network_default_choose_subnet() picks. No UUID: one is
 * generated when it is parsed.
 *
 * Returns: (transfer full) (nullable): the XML, or %NULL when no subnet is free
 */
char *
vb_network_default_xml(const char *const *used_subnets)
{
    guint n;

    if (!vb_network_default_choose_subnet(used_subnets, &n))
        return NULL;
    return g_strdup_printf("<network>\n"
                           "  <name>default</name>\n"
                           "  <forward mode='nat'/>\n"
                           "  <bridge name='virbr0' stp='on' delay='0'/>\n"
                           "  <ip address='192.168.%u.1' netmask='255.255.255.0'>\n"
                           "    <dhcp>\n"
                           "      <range start='192.168.%u.2' end='192.168.%u.254'/>\n"
                           "    </dhcp>\n"
                           "  </ip>\n"
                           "</network>\n",
                           n, n, n);
}
