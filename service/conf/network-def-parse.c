/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Parsing <network> XML (issue 12, part "network XML"). Errors read
 * "line N: <element>: what is wrong and what to write instead".
 */
#include "config.h"

#include <string.h>
#include <sys/socket.h>

#include <libxml/parser.h>

#include "network-def-priv.h"
#include "vb-error.h"

const char *const vb_net_top_ranks[] = {
    "name", "uuid",  "title",       "description", "metadata", "forward",   "bridge",
    "mtu",  "mac",   "domain",      "dns",         "vlan",     "bandwidth", "port",
    "ip",   "route", "virtualport", "portgroup",   NULL};
static const char *const forward_ranks[] = {"driver", "nat", "pf", "interface", "address", NULL};
static const char *const nat_ranks[] = {"address", "port", NULL};
static const char *const dns_ranks[] = {"forwarder", "txt", "srv", "host", NULL};
static const char *const ip_ranks[] = {"tftp", "dhcp", NULL};
static const char *const dhcp_ranks[] = {"range", "host", "bootp", NULL};
static const char *const lease_units[] = {"seconds", "minutes", "hours", NULL};

static xmlNode *
find_child(xmlNode *parent, const char *name)
{
    for (xmlNode *c = parent->children; c != NULL; c = c->next) {
        if (vb_xml_is(c, name))
            return c;
    }
    return NULL;
}

/* collect what is not modelled of @node into a new VbNetKept */
static VbNetKept *
keep(xmlNode *node, const char *const attrs[], const char *const children[],
     const char *const ranks[])
{
    VbNetKept *kept = vb_net_kept_new();

    vb_extra_collect(&kept->x, node, attrs, children, ranks);
    return kept;
}

static gboolean
parse_u64(xmlNode *node, const char *attr, guint64 max, guint64 *out, GError **error)
{
    g_autofree char *v = vb_xml_prop(node, attr);
    char *end = NULL;
    guint64 n;

    if (v != NULL && g_ascii_isdigit(v[0])) {
        n = g_ascii_strtoull(v, &end, 10);
        if (*end == '\0' && n <= max) {
            *out = n;
            return TRUE;
        }
    }
    if (v == NULL)
        vb_set_error_line(error, VB_ERROR_INVALID_XML, node, "missing attribute '%s' (an integer)",
                          attr);
    else
        vb_set_error_line(error, VB_ERROR_INVALID_ARG, node,
                          "attribute '%s' must be an integer between 0 and %" G_GUINT64_FORMAT
                          ", got '%s'",
                          attr, max, v);
    return FALSE;
}

/* an address attribute; @family 0 for either */
static gboolean
parse_addr(xmlNode *node, const char *attr, gboolean required, int family, char **out,
           VbNetAddr *out_addr, GError **error)
{
    g_autofree char *v = vb_xml_prop(node, attr);
    VbNetAddr a;

    *out = NULL;
    if (v == NULL) {
        if (!required)
            return TRUE;
        vb_set_error_line(error, VB_ERROR_INVALID_XML, node, "missing attribute '%s'", attr);
        return FALSE;
    }
    if (!vb_net_addr_parse(v, &a) || (family != 0 && a.family != family)) {
        vb_set_error_line(error, VB_ERROR_INVALID_ARG, node,
                          "attribute '%s': '%s' is not a valid %s address", attr, v,
                          family == AF_INET    ? "IPv4"
                          : family == AF_INET6 ? "IPv6"
                                               : "IPv4 or IPv6");
        return FALSE;
    }
    *out = vb_net_addr_format(&a);
    if (out_addr != NULL)
        *out_addr = a;
    return TRUE;
}

static gboolean
parse_lease(xmlNode *parent, VbNetworkLease *lease, GError **error)
{
    static const char *const lease_attrs[] = {"expiry", "unit", NULL};
    xmlNode *node = find_child(parent, "lease");
    g_autofree char *unit = NULL;
    guint64 expiry;

    if (node == NULL)
        return TRUE;
    if (!parse_u64(node, "expiry", G_MAXUINT32, &expiry, error) ||
        !vb_xml_prop_enum(node, "unit", lease_units, FALSE, &unit, error))
        return FALSE;
    /* dnsmasq's minimum lease time is two minutes */
    if (expiry > 0 && ((unit != NULL && strcmp(unit, "seconds") == 0 && expiry < 120) ||
                       ((unit == NULL || strcmp(unit, "minutes") == 0) && expiry < 2))) {
        vb_set_error_line(error, VB_ERROR_INVALID_ARG, node,
                          "the lease time must be at least 2 minutes (dnsmasq's minimum); "
                          "use expiry='0' for an infinite lease");
        return FALSE;
    }
    lease->present = TRUE;
    lease->expiry = expiry;
    lease->unit = g_steal_pointer(&unit);
    lease->kept = keep(node, lease_attrs, NULL, NULL);
    return TRUE;
}

static gboolean
ip_subnet(const VbNetworkIp *ip, VbNetAddr *out_net, guint *out_prefix)
{
    if (!vb_net_addr_parse(ip->address, out_net))
        return FALSE;
    *out_prefix = vb_network_ip_prefix(ip);
    return TRUE;
}

static gboolean
parse_range(VbNetworkIp *ip, xmlNode *node, GError **error)
{
    static const char *const attrs[] = {"start", "end", NULL};
    static const char *const children[] = {"lease", NULL};
    static const char *const unique[] = {"lease", NULL};
    VbNetworkDhcpRange *r = g_new0(VbNetworkDhcpRange, 1);
    VbNetAddr start, end, net;
    guint prefix;

    g_ptr_array_add(ip->ranges, r);
    if (!parse_addr(node, "start", TRUE, 0, &r->start, &start, error) ||
        !parse_addr(node, "end", TRUE, 0, &r->end, &end, error) ||
        !vb_xml_check_unique(node, unique, error) || !parse_lease(node, &r->lease, error))
        return FALSE;
    r->kept = keep(node, attrs, children, NULL);
    if (!ip_subnet(ip, &net, &prefix))
        return TRUE; /* reported by the caller */
    if (start.family != net.family || end.family != net.family) {
        vb_set_error_line(error, VB_ERROR_INVALID_ARG, node,
                          "range %s - %s is not of the address family of <ip address='%s'>",
                          r->start, r->end, ip->address);
        return FALSE;
    }
    if (!vb_net_addr_in_subnet(&start, &net, prefix) ||
        !vb_net_addr_in_subnet(&end, &net, prefix)) {
        vb_set_error_line(error, VB_ERROR_INVALID_ARG, node,
                          "range %s - %s is not entirely within network %s/%u; "
                          "choose addresses of that subnet",
                          r->start, r->end, ip->address, prefix);
        return FALSE;
    }
    if (vb_net_addr_cmp(&start, &end) > 0) {
        vb_set_error_line(error, VB_ERROR_INVALID_ARG, node,
                          "range %s - %s is reversed: start must not be after end", r->start,
                          r->end);
        return FALSE;
    }
    if (net.family == AF_INET && prefix < 31) {
        VbNetAddr netaddr = net, bcast = net;

        vb_net_addr_mask(&netaddr, prefix);
        for (guint i = 0; i < 4; i++) {
            guint bits = prefix > i * 8 ? MIN(prefix - i * 8, 8) : 0;
            bcast.b[i] |= (guint8)(0xff >> bits);
        }
        if (vb_net_addr_cmp(&start, &netaddr) == 0) {
            vb_set_error_line(error, VB_ERROR_INVALID_ARG, node,
                              "start of range %s - %s is the network address of %s/%u", r->start,
                              r->end, ip->address, prefix);
            return FALSE;
        }
        if (vb_net_addr_cmp(&end, &bcast) == 0) {
            vb_set_error_line(error, VB_ERROR_INVALID_ARG, node,
                              "end of range %s - %s is the broadcast address of %s/%u", r->start,
                              r->end, ip->address, prefix);
            return FALSE;
        }
    }
    return TRUE;
}

static gboolean
parse_host_attrs(VbNetworkDhcpHost *h, const VbNetworkIp *ip, xmlNode *node, GError **error)
{
    g_autofree char *mac = vb_xml_prop(node, "mac");

    if (mac != NULL) {
        if (ip->family == AF_INET6) {
            vb_set_error_line(error, VB_ERROR_INVALID_ARG, node,
                              "a MAC address ('%s') is not allowed in an IPv6 static host; "
                              "use id= (DHCPv6 client id) or name=",
                              mac);
            return FALSE;
        }
        if (!vb_mac_parse(mac, &h->mac)) {
            vb_set_error_line(error, VB_ERROR_INVALID_ARG, node,
                              "invalid MAC address '%s': expected a unicast address such as "
                              "52:54:00:12:34:56",
                              mac);
            return FALSE;
        }
    }
    h->id = vb_xml_prop(node, "id");
    if (h->id != NULL) {
        size_t ok = strspn(h->id, "0123456789abcdefABCDEF:");

        if (h->id[ok] != '\0' || h->id[0] == '\0') {
            vb_set_error_line(error, VB_ERROR_INVALID_ARG, node,
                              "invalid id '%s': use hexadecimal digits and ':' only", h->id);
            return FALSE;
        }
    }
    h->name = vb_xml_prop(node, "name");
    if (h->name != NULL && !g_ascii_isalnum(h->name[0])) {
        vb_set_error_line(error, VB_ERROR_INVALID_ARG, node,
                          "cannot use host name '%s': it must start with a letter or digit",
                          h->name);
        return FALSE;
    }
    return TRUE;
}

/**
 * vb_net_parse_dhcp_host: (skip)
 * @netname: the network's name (messages)
 * @ip: the <ip> the host belongs to
 * @node: the <host> element
 * @partial: an update's DELETE snippet: any one of mac, name, ip is enough
 * @error: error
 */
VbNetworkDhcpHost *
vb_net_parse_dhcp_host(const char *netname, const VbNetworkIp *ip, xmlNode *node, gboolean partial,
                       GError **error)
{
    static const char *const attrs[] = {"mac", "id", "name", "ip", NULL};
    static const char *const children[] = {"lease", NULL};
    static const char *const unique[] = {"lease", NULL};
    VbNetworkDhcpHost *h = g_new0(VbNetworkDhcpHost, 1);
    VbNetAddr a, net;
    guint prefix;

    if (!parse_host_attrs(h, ip, node, error) ||
        !parse_addr(node, "ip", FALSE, 0, &h->ip, &a, error) ||
        !vb_xml_check_unique(node, unique, error) || !parse_lease(node, &h->lease, error))
        goto fail;
    h->kept = keep(node, attrs, children, NULL);
    if (partial) {
        if (h->mac == NULL && h->name == NULL && h->ip == NULL) {
            vb_set_error_line(error, VB_ERROR_INVALID_XML, node,
                              "at least one of name, mac or ip must be given to find a "
                              "static host of network '%s'",
                              netname);
            goto fail;
        }
        return h;
    }
    if (ip->family == AF_INET6 && h->id == NULL && h->name == NULL) {
        vb_set_error_line(error, VB_ERROR_INVALID_XML, node,
                          "a static host in IPv6 network '%s' needs an id or name attribute",
                          netname);
        goto fail;
    }
    if (ip->family == AF_INET && h->mac == NULL && h->name == NULL) {
        vb_set_error_line(error, VB_ERROR_INVALID_XML, node,
                          "a static host in IPv4 network '%s' needs a mac or name attribute",
                          netname);
        goto fail;
    }
    if (h->ip == NULL) {
        vb_set_error_line(error, VB_ERROR_INVALID_XML, node,
                          "missing attribute 'ip' (the address of the static host)");
        goto fail;
    }
    if (ip_subnet(ip, &net, &prefix) && !vb_net_addr_in_subnet(&a, &net, prefix)) {
        vb_set_error_line(error, VB_ERROR_INVALID_ARG, node,
                          "host address %s is not within network %s/%u", h->ip, ip->address,
                          prefix);
        goto fail;
    }
    return h;
fail:
    vb_network_dhcp_host_free(h);
    return NULL;
}

static gboolean
parse_dhcp(const char *netname, VbNetworkIp *ip, xmlNode *dhcp, GError **error)
{
    static const char *const children[] = {"range", "host", NULL};

    ip->has_dhcp_elem = TRUE;
    ip->dhcp_kept = keep(dhcp, NULL, children, dhcp_ranks);
    for (xmlNode *c = dhcp->children; c != NULL; c = c->next) {
        if (vb_xml_is(c, "range")) {
            if (!parse_range(ip, c, error))
                return FALSE;
        } else if (vb_xml_is(c, "host")) {
            VbNetworkDhcpHost *h = vb_net_parse_dhcp_host(netname, ip, c, FALSE, error);

            if (h == NULL)
                return FALSE;
            g_ptr_array_add(ip->hosts, h);
        }
    }
    return TRUE;
}

static gboolean
parse_ip_prefix(VbNetworkIp *ip, xmlNode *node, GError **error)
{
    g_autofree char *prefix = vb_xml_prop(node, "prefix");
    guint64 p = 0;
    guint len;
    VbNetAddr mask;

    if (prefix != NULL && !parse_u64(node, "prefix", 128, &p, error))
        return FALSE;
    ip->prefix = (guint)p;
    ip->prefix_given = prefix != NULL;
    if (ip->netmask != NULL) {
        if (ip->family != AF_INET) {
            vb_set_error_line(
                error, VB_ERROR_INVALID_ARG, node,
                "netmask is not allowed for IPv6 address '%s'; use prefix=", ip->address);
            return FALSE;
        }
        if (p > 0) {
            vb_set_error_line(error, VB_ERROR_INVALID_ARG, node,
                              "an address cannot have both a prefix and a netmask; "
                              "remove one of them");
            return FALSE;
        }
        if (!vb_net_addr_parse(ip->netmask, &mask) || !vb_net_netmask_to_prefix(&mask, &len)) {
            vb_set_error_line(error, VB_ERROR_INVALID_ARG, node,
                              "netmask '%s' is not contiguous (such as 255.255.255.0)",
                              ip->netmask);
            return FALSE;
        }
    } else if (p > (ip->family == AF_INET ? 32u : 128u)) {
        vb_set_error_line(error, VB_ERROR_INVALID_ARG, node,
                          "invalid %s prefix '%" G_GUINT64_FORMAT "' (at most %u)",
                          ip->family == AF_INET ? "IPv4" : "IPv6", p,
                          ip->family == AF_INET ? 32 : 128);
        return FALSE;
    }
    return TRUE;
}

static gboolean
parse_ip(VbNetworkDef *def, xmlNode *node, GError **error)
{
    static const char *const attrs[] = {"family", "address", "netmask", "prefix", "localPtr", NULL};
    static const char *const children[] = {"dhcp", NULL};
    static const char *const unique[] = {"dhcp", "tftp", NULL};
    static const char *const families[] = {"ipv4", "ipv6", NULL};
    VbNetworkIp *ip = g_new0(VbNetworkIp, 1);
    VbNetAddr a;
    xmlNode *dhcp;

    ip->ranges = g_ptr_array_new_with_free_func((GDestroyNotify)vb_network_dhcp_range_free);
    ip->hosts = g_ptr_array_new_with_free_func((GDestroyNotify)vb_network_dhcp_host_free);
    ip->local_ptr = -1;
    g_ptr_array_add(def->ips, ip);
    if (!vb_xml_prop_enum(node, "family", families, FALSE, &ip->family_attr, error) ||
        !parse_addr(node, "address", TRUE, 0, &ip->address, &a, error))
        return FALSE;
    ip->family = a.family;
    if ((ip->family_attr == NULL || strcmp(ip->family_attr, "ipv4") == 0) && a.family != AF_INET) {
        vb_set_error_line(error, VB_ERROR_INVALID_ARG, node,
                          "address '%s' is IPv6: write family='ipv6'", ip->address);
        return FALSE;
    }
    if (ip->family_attr != NULL && strcmp(ip->family_attr, "ipv6") == 0 && a.family != AF_INET6) {
        vb_set_error_line(error, VB_ERROR_INVALID_ARG, node,
                          "family 'ipv6' given for the IPv4 address '%s'", ip->address);
        return FALSE;
    }
    if (!parse_addr(node, "netmask", FALSE, 0, &ip->netmask, NULL, error) ||
        !parse_ip_prefix(ip, node, error) ||
        !vb_xml_prop_yesno(node, "localPtr", "yes", "no", &ip->local_ptr, error) ||
        !vb_xml_check_unique(node, unique, error))
        return FALSE;
    if (find_child(node, "tftp") != NULL && ip->family != AF_INET) {
        vb_set_error_line(error, VB_ERROR_NOT_SUPPORTED, find_child(node, "tftp"),
                          "<tftp> is only supported in an IPv4 <ip>");
        return FALSE;
    }
    ip->kept = keep(node, attrs, children, ip_ranks);
    dhcp = find_child(node, "dhcp");
    return dhcp == NULL || parse_dhcp(def->name, ip, dhcp, error);
}

/**
 * vb_net_parse_dns_host: (skip)
 * @netname: the network's name (messages)
 * @node: a <host> in <dns>
 * @partial: an update's DELETE snippet: an ip or a hostname is enough
 * @error: error
 */
VbNetworkDnsHost *
vb_net_parse_dns_host(const char *netname, xmlNode *node, gboolean partial, GError **error)
{
    static const char *const attrs[] = {"ip", NULL};
    static const char *const children[] = {"hostname", NULL};
    VbNetworkDnsHost *h = g_new0(VbNetworkDnsHost, 1);

    h->names = g_ptr_array_new_with_free_func(g_free);
    if (!parse_addr(node, "ip", !partial, 0, &h->ip, NULL, error))
        goto fail;
    for (xmlNode *c = node->children; c != NULL; c = c->next) {
        g_autofree char *name = NULL;

        if (!vb_xml_is(c, "hostname"))
            continue;
        name = g_strstrip(vb_xml_text(c));
        if (*name == '\0') {
            vb_set_error_line(error, VB_ERROR_INVALID_XML, c,
                              "empty <hostname> in a DNS host of network '%s'", netname);
            goto fail;
        }
        g_ptr_array_add(h->names, g_steal_pointer(&name));
    }
    if (h->names->len == 0 && (!partial || h->ip == NULL)) {
        vb_set_error_line(error, VB_ERROR_INVALID_XML, node,
                          "missing <hostname> in a DNS host of network '%s'", netname);
        goto fail;
    }
    h->kept = keep(node, attrs, children, NULL);
    return h;
fail:
    vb_network_dns_host_free(h);
    return NULL;
}

static gboolean
parse_dns(VbNetworkDef *def, xmlNode *node, GError **error)
{
    static const char *const attrs[] = {"enable", NULL};
    static const char *const fwd_attrs[] = {"domain", "addr", NULL};
    static const char *const children[] = {"forwarder", "host", NULL};
    gboolean extra = FALSE;

    def->dns_present = TRUE;
    if (!vb_xml_prop_yesno(node, "enable", "yes", "no", &def->dns_enable, error))
        return FALSE;
    def->dns_kept = keep(node, attrs, children, dns_ranks);
    for (xmlNode *c = node->children; c != NULL; c = c->next) {
        if (vb_xml_is(c, "forwarder")) {
            VbNetworkDnsForwarder *f = g_new0(VbNetworkDnsForwarder, 1);

            g_ptr_array_add(def->dns_forwarders, f);
            if (!parse_addr(c, "addr", FALSE, 0, &f->addr, NULL, error))
                return FALSE;
            f->domain = vb_xml_prop(c, "domain");
            if (f->addr == NULL && f->domain == NULL) {
                vb_set_error_line(error, VB_ERROR_INVALID_XML, c,
                                  "give at least one of addr= and domain=");
                return FALSE;
            }
            f->kept = keep(c, fwd_attrs, NULL, NULL);
            extra = TRUE;
        } else if (vb_xml_is(c, "host")) {
            VbNetworkDnsHost *h = vb_net_parse_dns_host(def->name, c, FALSE, error);

            if (h == NULL)
                return FALSE;
            g_ptr_array_add(def->dns_hosts, h);
            extra = TRUE;
        } else if (vb_xml_is(c, "txt") || vb_xml_is(c, "srv")) {
            extra = TRUE;
        }
    }
    if (def->dns_enable == 0 && extra) {
        vb_set_error_line(error, VB_ERROR_INVALID_ARG, node,
                          "enable='no' but the <dns> of network '%s' lists forwarders, hosts, "
                          "txt or srv records; remove them or enable DNS",
                          def->name);
        return FALSE;
    }
    return TRUE;
}

static gboolean
parse_nat(VbNetworkDef *def, xmlNode *node, GError **error)
{
    static const char *const attrs[] = {"ipv6", NULL};
    static const char *const children[] = {"address", "port", NULL};
    static const char *const range_attrs[] = {"start", "end", NULL};
    xmlNode *addr = find_child(node, "address");
    xmlNode *port = find_child(node, "port");
    VbNetAddr s, e;
    guint64 ps, pe;

    if (def->forward_mode != VB_NETWORK_FORWARD_NAT) {
        vb_set_error_line(error, VB_ERROR_INVALID_XML, node,
                          "<nat> can only be used with <forward mode='nat'>");
        return FALSE;
    }
    if (!vb_xml_check_unique(node, children, error) ||
        !vb_xml_prop_yesno(node, "ipv6", "yes", "no", &def->nat_ipv6, error))
        return FALSE;
    def->nat_present = TRUE;
    def->nat_kept = keep(node, attrs, children, nat_ranks);
    if (addr != NULL) {
        if (!parse_addr(addr, "start", TRUE, AF_INET, &def->nat_addr_start, &s, error) ||
            !parse_addr(addr, "end", TRUE, AF_INET, &def->nat_addr_end, &e, error))
            return FALSE;
        if (vb_net_addr_cmp(&s, &e) > 0) {
            vb_set_error_line(error, VB_ERROR_INVALID_ARG, addr,
                              "range %s - %s is reversed: start must not be after end",
                              def->nat_addr_start, def->nat_addr_end);
            return FALSE;
        }
        def->nat_addr_kept = keep(addr, range_attrs, NULL, NULL);
    }
    if (port != NULL) {
        if (!parse_u64(port, "start", 65535, &ps, error) ||
            !parse_u64(port, "end", 65535, &pe, error))
            return FALSE;
        if (pe < ps || pe == 0) {
            vb_set_error_line(error, VB_ERROR_INVALID_ARG, port,
                              "end port %" G_GUINT64_FORMAT
                              " must not be below start port %" G_GUINT64_FORMAT " (and not 0)",
                              pe, ps);
            return FALSE;
        }
        def->nat_port_kept = keep(port, range_attrs, NULL, NULL);
        def->nat_port_start = (guint)ps;
        def->nat_port_end = (guint)pe;
    }
    return TRUE;
}

static gboolean
parse_forward_ifaces(VbNetworkDef *def, xmlNode *node, GError **error)
{
    static const char *const if_attrs[] = {"dev", NULL};
    g_autoptr(GHashTable) seen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);

    for (xmlNode *c = node->children; c != NULL; c = c->next) {
        g_autofree char *dev = NULL;

        if (!vb_xml_is(c, "interface"))
            continue;
        dev = vb_xml_prop(c, "dev");
        if (dev == NULL || *dev == '\0') {
            vb_set_error_line(error, VB_ERROR_INVALID_XML, c,
                              "missing attribute 'dev' (the host interface to forward to)");
            return FALSE;
        }
        if (def->forward_ifaces->len == 0 && def->forward_dev != NULL &&
            strcmp(dev, def->forward_dev) != 0) {
            vb_set_error_line(error, VB_ERROR_INVALID_ARG, c,
                              "<forward dev='%s'> must match the first <interface dev='%s'/>",
                              def->forward_dev, dev);
            return FALSE;
        }
        if (!g_hash_table_add(seen, g_strdup(dev))) {
            vb_set_error_line(error, VB_ERROR_INVALID_ARG, c,
                              "interface '%s' can only be listed once", dev);
            return FALSE;
        }
        g_ptr_array_add(def->forward_ifaces, g_steal_pointer(&dev));
        g_ptr_array_add(def->forward_ifaces_kept, keep(c, if_attrs, NULL, NULL));
    }
    /* libvirt: <forward dev='x'/> alone means one <interface dev='x'/> */
    if (def->forward_ifaces->len == 0 && def->forward_dev != NULL) {
        g_ptr_array_add(def->forward_ifaces, g_strdup(def->forward_dev));
        g_ptr_array_add(def->forward_ifaces_kept, NULL);
    }
    if (def->forward_ifaces->len > 0 && def->forward_dev == NULL && find_child(node, "pf") == NULL)
        def->forward_dev = g_strdup(g_ptr_array_index(def->forward_ifaces, 0));
    return TRUE;
}

static gboolean
parse_forward(VbNetworkDef *def, xmlNode *node, GError **error)
{
    static const char *const attrs[] = {"mode", "dev", NULL};
    static const char *const children[] = {"nat", "interface", NULL};
    static const char *const unique[] = {"nat", "pf", "driver", NULL};
    g_autofree char *mode = vb_xml_prop(node, "mode");
    xmlNode *nat;

    def->forward_present = TRUE;
    if (mode == NULL) {
        def->forward_mode = VB_NETWORK_FORWARD_NAT;
    } else {
        int m = vb_network_forward_mode_from_string(mode);

        if (m < 0) {
            vb_set_error_line(error, VB_ERROR_INVALID_ARG, node,
                              "unknown forward mode '%s' (expected one of: nat, route, open, "
                              "bridge, private, vepa, passthrough, hostdev, none)",
                              mode);
            return FALSE;
        }
        def->forward_mode = m;
        def->forward_mode_given = TRUE;
    }
    def->forward_dev = vb_xml_prop(node, "dev");
    if (def->forward_dev != NULL && *def->forward_dev == '\0') {
        vb_set_error_line(error, VB_ERROR_INVALID_ARG, node,
                          "attribute 'dev' is empty: name a host interface or remove it");
        return FALSE;
    }
    if (def->forward_dev != NULL &&
        (find_child(node, "address") != NULL || find_child(node, "pf") != NULL)) {
        vb_set_error_line(error, VB_ERROR_INVALID_XML, node,
                          "the 'dev' attribute cannot be used together with <address> or <pf> "
                          "children; remove one of them");
        return FALSE;
    }
    if (!vb_xml_check_unique(node, unique, error) || !parse_forward_ifaces(def, node, error))
        return FALSE;
    def->forward_kept = keep(node, attrs, children, forward_ranks);
    nat = find_child(node, "nat");
    return nat == NULL || parse_nat(def, nat, error);
}

static gboolean
parse_bridge(VbNetworkDef *def, xmlNode *node, GError **error)
{
    static const char *const attrs[] = {"name", "stp", "delay", "macTableManager", NULL};
    static const char *const managers[] = {"kernel", "libvirt", NULL};
    g_autofree char *delay = NULL;
    int stp;

    def->bridge_present = TRUE;
    def->bridge = vb_xml_prop(node, "name");
    if (def->bridge != NULL && !vb_network_bridge_name_valid(def->bridge)) {
        vb_set_error_line(error, VB_ERROR_INVALID_ARG, node,
                          "invalid bridge name '%s': use 1 to 15 characters without '/', ':' "
                          "or white space",
                          def->bridge);
        return FALSE;
    }
    if (!vb_xml_prop_yesno(node, "stp", "on", "off", &stp, error))
        return FALSE;
    def->stp_given = stp >= 0;
    def->stp = stp != 0;
    delay = vb_xml_prop(node, "delay");
    if (delay != NULL) {
        if (!parse_u64(node, "delay", G_MAXUINT32, &def->delay, error))
            return FALSE;
        def->delay_given = TRUE;
    }
    if (!vb_xml_prop_enum(node, "macTableManager", managers, FALSE, &def->mac_table_manager, error))
        return FALSE;
    def->bridge_kept = keep(node, attrs, NULL, NULL);
    return TRUE;
}

static gboolean
parse_small(VbNetworkDef *def, xmlNode *root, GError **error)
{
    static const char *const mtu_attrs[] = {"size", NULL};
    static const char *const mac_attrs[] = {"address", NULL};
    static const char *const domain_attrs[] = {"name", "localOnly", NULL};
    static const char *const port_attrs[] = {"isolated", NULL};
    xmlNode *n;

    if ((n = find_child(root, "mtu")) != NULL) {
        guint64 v;

        if (!parse_u64(n, "size", G_MAXUINT32, &v, error))
            return FALSE;
        if (v < 68 || v > 65535) {
            vb_set_error_line(error, VB_ERROR_INVALID_ARG, n,
                              "MTU size %" G_GUINT64_FORMAT " is out of range: use 68 to 65535", v);
            return FALSE;
        }
        def->mtu = (guint)v;
        def->mtu_kept = keep(n, mtu_attrs, NULL, NULL);
    }
    if ((n = find_child(root, "mac")) != NULL) {
        g_autofree char *mac = vb_xml_prop(n, "address");

        if (mac == NULL || !vb_mac_parse(mac, &def->mac)) {
            vb_set_error_line(error, VB_ERROR_INVALID_ARG, n,
                              "invalid bridge MAC address '%s': expected a unicast address "
                              "such as 52:54:00:12:34:56",
                              mac != NULL ? mac : "");
            return FALSE;
        }
        def->mac_kept = keep(n, mac_attrs, NULL, NULL);
    }
    if ((n = find_child(root, "domain")) != NULL) {
        def->domain = vb_xml_prop(n, "name");
        if (def->domain == NULL || *def->domain == '\0') {
            vb_set_error_line(error, VB_ERROR_INVALID_XML, n,
                              "missing attribute 'name' (the DNS domain of the network)");
            return FALSE;
        }
        if (!vb_xml_prop_yesno(n, "localOnly", "yes", "no", &def->domain_local_only, error))
            return FALSE;
        def->domain_kept = keep(n, domain_attrs, NULL, NULL);
    }
    if ((n = find_child(root, "port")) != NULL) {
        if (!vb_xml_prop_yesno(n, "isolated", "yes", "no", &def->port_isolated, error))
            return FALSE;
        if (def->port_isolated < 0) {
            vb_set_error_line(error, VB_ERROR_INVALID_XML, n,
                              "missing attribute 'isolated' ('yes' or 'no')");
            return FALSE;
        }
        def->port_kept = keep(n, port_attrs, NULL, NULL);
    }
    return TRUE;
}

static gboolean
parse_identity(VbNetworkDef *def, xmlNode *root, GError **error)
{
    xmlNode *name = find_child(root, "name");
    xmlNode *uuid = find_child(root, "uuid");
    g_autoptr(GError) local = NULL;

    if (name == NULL) {
        vb_set_error_line(error, VB_ERROR_INVALID_XML, root, "missing <name> element");
        return FALSE;
    }
    def->name = vb_xml_text(name);
    if (!vb_network_name_validate(def->name, &local)) {
        vb_set_error_line(error, VB_ERROR_INVALID_ARG, name, "%s", local->message);
        return FALSE;
    }
    if (uuid != NULL) {
        g_autofree char *text = g_strstrip(vb_xml_text(uuid));

        if (!vb_uuid_parse(text, def->uuid)) {
            vb_set_error_line(error, VB_ERROR_INVALID_ARG, uuid,
                              "malformed uuid '%s' (expected 8-4-4-4-12 hexadecimal digits)", text);
            return FALSE;
        }
        def->uuid_given = TRUE;
    } else {
        vb_uuid_generate(def->uuid);
    }
    return TRUE;
}

static gboolean
parse_root(VbNetworkDef *def, xmlNode *root, GError **error)
{
    static const char *const root_known[] = {"ipv6", NULL};
    static const char *const modelled[] = {"name",   "uuid", "forward", "bridge", "mtu", "mac",
                                           "domain", "dns",  "port",    "ip",     NULL};
    static const char *const unique[] = {"name",   "uuid", "forward", "bridge",   "mtu", "mac",
                                         "domain", "dns",  "port",    "metadata", NULL};
    xmlNode *n;

    if (!vb_xml_check_unique(root, unique, error) ||
        !vb_xml_prop_yesno(root, "ipv6", "yes", "no", &def->ipv6, error))
        return FALSE;
    def->kept = keep(root, root_known, modelled, vb_net_top_ranks);
    for (xmlNs *ns = root->nsDef; ns != NULL; ns = ns->next) {
        if (ns->prefix == NULL)
            continue; /* a default namespace would move <network> out of no namespace */
        if (def->kept->root_ns == NULL)
            def->kept->root_ns = g_ptr_array_new_with_free_func(g_free);
        g_ptr_array_add(def->kept->root_ns, g_strdup((const char *)ns->prefix));
        g_ptr_array_add(def->kept->root_ns, g_strdup((const char *)ns->href));
    }
    if (!parse_identity(def, root, error) || !parse_small(def, root, error))
        return FALSE;
    if ((n = find_child(root, "forward")) != NULL && !parse_forward(def, n, error))
        return FALSE;
    if ((n = find_child(root, "bridge")) != NULL && !parse_bridge(def, n, error))
        return FALSE;
    if ((n = find_child(root, "dns")) != NULL && !parse_dns(def, n, error))
        return FALSE;
    for (n = root->children; n != NULL; n = n->next) {
        if (vb_xml_is(n, "ip") && !parse_ip(def, n, error))
            return FALSE;
    }
    return vb_network_def_validate(def, error);
}

/* libxml2 keeps no line for the DTD node: find it in the text */
static guint
line_of(const char *xml, const char *needle)
{
    const char *end = strstr(xml, needle);
    guint line = 1;

    for (const char *p = xml; end != NULL && p < end; p++)
        line += *p == '\n';
    return line;
}

static gboolean
check_namespaces(xmlNode *node, GError **error)
{
    for (; node != NULL; node = node->next) {
        if (node->type != XML_ELEMENT_NODE)
            continue;
        for (xmlNs *ns = node->nsDef; ns != NULL; ns = ns->next) {
            const char *href = (const char *)ns->href;
            if (href == NULL || strpbrk(href, "&<>'\"\t\r\n") != NULL) {
                vb_set_error_line(error, VB_ERROR_INVALID_XML, node, "invalid namespace URI '%s'",
                                  href ? href : "");
                return FALSE;
            }
        }
        if (!check_namespaces(node->children, error))
            return FALSE;
    }
    return TRUE;
}

/**
 * vb_net_read_doc: (skip)
 * @xml: the text
 * @what: what it is, for messages ("network XML")
 * @error: error (VB_ERROR_INVALID_XML)
 *
 * The same hardening as the domain XML: a size limit, no DTD (so no entities), no network,
 * libxml2's nesting limit, UTF-8 checked by libxml2, the first error with its line.
 *
 * Returns: (transfer full) (nullable): the document
 */
xmlDoc *
vb_net_read_doc(const char *xml, const char *what, GError **error)
{
    xmlDoc *doc = vb_xml_read_memory(xml, VB_NETWORK_XML_MAX_BYTES, what, what, "network.xml",
                                     error);

    if (doc != NULL && (doc->intSubset != NULL || doc->extSubset != NULL)) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_XML,
                    "line %u: DOCTYPE declarations are not allowed in %s",
                    line_of(xml, "<!DOCTYPE"), what);
        g_clear_pointer(&doc, xmlFreeDoc);
    }
    if (doc != NULL && !check_namespaces(xmlDocGetRootElement(doc), error))
        g_clear_pointer(&doc, xmlFreeDoc);
    return doc;
}

/**
 * vb_network_def_parse_string:
 * @xml: network XML (libvirt compatible)
 * @error: error: VB_ERROR_INVALID_XML for malformed or incomplete XML, VB_ERROR_INVALID_ARG
 *     for bad values, VB_ERROR_NOT_SUPPORTED for what libvirt refuses too; messages name the
 *     line and element ("line 7: <range>: ...")
 *
 * Parses and validates a network definition (vb_network_def_validate()). A missing <uuid>
 * is generated. Elements and attributes that are not modelled are kept verbatim. Any
 * thread.
 *
 * Returns: (transfer full) (nullable): the definition
 */
VbNetworkDef *
vb_network_def_parse_string(const char *xml, GError **error)
{
    g_autoptr(VbNetworkDef) def = NULL;
    xmlDoc *doc;
    xmlNode *root;
    gboolean ok;

    g_return_val_if_fail(xml != NULL, NULL);
    doc = vb_net_read_doc(xml, "network XML", error);
    if (doc == NULL)
        return NULL;
    root = xmlDocGetRootElement(doc);
    if (root == NULL || !vb_xml_is(root, "network")) {
        vb_set_error_line(error, VB_ERROR_INVALID_XML, root, "root element must be <network>");
        xmlFreeDoc(doc);
        return NULL;
    }
    def = vb_network_def_new();
    ok = parse_root(def, root, error);
    xmlFreeDoc(doc);
    return ok ? g_steal_pointer(&def) : NULL;
}
