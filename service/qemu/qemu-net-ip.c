/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The host side addresses and routes of an <interface type='ethernet'> (issue 12, part
 * ethernet ip): <source><ip address prefix peer family/><route family address netmask prefix
 * gateway metric/></source>, read and checked as libvirt 9.0 does (virDomainNetIPParseXML,
 * virNetDevIPRouteCreate) into what the start path sets on the tap
 * (vb_qemu_net_prepare_one()). No side effects: the command builder calls it too, so a
 * definition's mistakes are listed by the Unsupported check. Kept in the builder's source
 * list (fuzz-domain-xml compiles it): no netdev calls here.
 */
#include "config.h"

#include <arpa/inet.h>
#include <string.h>
#include <sys/socket.h>

#include "domain-def-priv.h"
#include "qemu-net.h"
#include "vb-error.h"

typedef struct {
    int family;
    guint8 addr[16];
} Addr;

static gboolean
addr_parse(const char *s, int family, Addr *out)
{
    memset(out, 0, sizeof(*out));
    if ((family == AF_UNSPEC || family == AF_INET) && inet_pton(AF_INET, s, out->addr) == 1)
        out->family = AF_INET;
    else if ((family == AF_UNSPEC || family == AF_INET6) && inet_pton(AF_INET6, s, out->addr) == 1)
        out->family = AF_INET6;
    return out->family != 0;
}

static guint
addr_bits(const Addr *a)
{
    return a->family == AF_INET ? 32 : 128;
}

static gboolean
addr_is_zero(const Addr *a)
{
    for (guint i = 0; i < addr_bits(a) / 8; i++) {
        if (a->addr[i] != 0)
            return FALSE;
    }
    return TRUE;
}

/* libvirt's virSocketAddrGetIPPrefix() without prefix or netmask: the classful prefix of an
 * IPv4 address, 64 for IPv6, 0 for the wildcard address; -1 for class D and E */
static int
natural_prefix(const Addr *a)
{
    if (addr_is_zero(a))
        return 0;
    if (a->family == AF_INET6)
        return 64;
    if ((a->addr[0] & 0x80) == 0)
        return 8;
    if ((a->addr[0] & 0xc0) == 0x80)
        return 16;
    if ((a->addr[0] & 0xe0) == 0xc0)
        return 24;
    return -1;
}

/* the prefix length of a contiguous netmask, -1 when it is not one */
static int
netmask_bits(const Addr *m)
{
    guint n = 0;
    gboolean ended = FALSE;

    for (guint i = 0; i < 32; i++) {
        gboolean bit = (m->addr[i / 8] & (0x80 >> (i % 8))) != 0;

        if (bit && ended)
            return -1;
        if (bit)
            n++;
        else
            ended = TRUE;
    }
    return (int)n;
}

static gboolean
has_host_bits(const Addr *a, guint prefix)
{
    for (guint i = prefix; i < addr_bits(a); i++) {
        if (a->addr[i / 8] & (0x80 >> (i % 8)))
            return TRUE;
    }
    return FALSE;
}

static void
vb_qemu_net_ip_free(VbQemuNetIp *ip)
{
    g_free(ip->address);
    g_free(ip->peer);
    g_free(ip);
}

static void
vb_qemu_net_route_free(VbQemuNetRoute *r)
{
    g_free(r->dest);
    g_free(r->gateway);
    g_free(r);
}

/* the attributes of one <ip>/<route>, refusing unknown ones; FALSE with @error */
static gboolean
read_attrs(const VbRawElem *raw, const char *alias, const char *const known[], char **values,
           GError **error)
{
    xmlDoc *doc = vb_raw_elem_parse(raw);
    xmlNode *root = doc != NULL ? xmlDocGetRootElement(doc) : NULL;
    gboolean ok = TRUE;

    for (xmlAttr *a = root != NULL ? root->properties : NULL; ok && a != NULL; a = a->next) {
        if (!g_strv_contains(known, (const char *)a->name)) {
            g_set_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED, "interface %s: <source><%s "
                        "%s=> is not supported", alias, raw->name, (const char *)a->name);
            ok = FALSE;
        }
    }
    for (xmlNode *n = root != NULL ? root->children : NULL; ok && n != NULL; n = n->next) {
        if (n->type == XML_ELEMENT_NODE) {
            g_set_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED, "interface %s: <source><%s>"
                        "<%s> is not supported", alias, raw->name, (const char *)n->name);
            ok = FALSE;
        }
    }
    if (doc != NULL)
        xmlFreeDoc(doc);
    for (guint i = 0; ok && known[i] != NULL; i++)
        values[i] = vb_raw_elem_get_attr(raw, known[i]);
    return ok;
}

static gboolean
parse_family(const char *alias, const char *what, const char *family, int *out, GError **error)
{
    if (family == NULL)
        *out = AF_UNSPEC;
    else if (strcmp(family, "ipv4") == 0)
        *out = AF_INET;
    else if (strcmp(family, "ipv6") == 0)
        *out = AF_INET6;
    else {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG, "interface %s: <source><%s "
                    "family='%s'> is not ipv4 or ipv6", alias, what, family);
        return FALSE;
    }
    return TRUE;
}

static gboolean
parse_prefix(const char *alias, const char *what, const char *s, guint max, guint *out,
             GError **error)
{
    guint64 v = 0;

    if (!g_ascii_string_to_unsigned(s, 10, 0, max, &v, NULL)) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG, "interface %s: <source><%s "
                    "prefix='%s'> is not a prefix length (0 to %u)", alias, what, s, max);
        return FALSE;
    }
    *out = (guint)v;
    return TRUE;
}

static VbQemuNetIp *
parse_ip(const VbRawElem *raw, const char *alias, GError **error)
{
    static const char *const known[] = { "address", "prefix", "peer", "family", NULL };
    char *v[G_N_ELEMENTS(known)] = { 0 };
    VbQemuNetIp *ip = NULL;
    Addr a, p;
    int family = AF_UNSPEC;
    guint prefix = 0;
    int natural;

    if (!read_attrs(raw, alias, known, v, error))
        goto out;
    if (v[0] == NULL) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG, "interface %s: <source><ip> needs "
                    "address=", alias);
        goto out;
    }
    if (!parse_family(alias, "ip", v[3], &family, error))
        goto out;
    if (!addr_parse(v[0], family, &a)) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG, "interface %s: <source><ip "
                    "address='%s'> is not an %s address", alias, v[0],
                    family == AF_INET ? "IPv4" : family == AF_INET6 ? "IPv6" : "IP");
        goto out;
    }
    if (v[1] != NULL && !parse_prefix(alias, "ip", v[1], addr_bits(&a), &prefix, error))
        goto out;
    if (v[2] != NULL && !addr_parse(v[2], a.family, &p)) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG, "interface %s: <source><ip "
                    "peer='%s'> is not an address of the family of '%s'", alias, v[2], v[0]);
        goto out;
    }
    natural = natural_prefix(&a);
    if (prefix == 0 && natural < 0) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG, "interface %s: <source><ip "
                    "address='%s'> needs prefix= (no natural prefix for it)", alias, v[0]);
        goto out;
    }
    ip = g_new0(VbQemuNetIp, 1);
    ip->address = g_strdup_printf("%s/%u", v[0], prefix > 0 ? prefix : (guint)natural);
    ip->peer = g_steal_pointer(&v[2]);
out:
    for (guint i = 0; i < G_N_ELEMENTS(v); i++)
        g_free(v[i]);
    return ip;
}

static VbQemuNetRoute *
parse_route(const VbRawElem *raw, const char *alias, GError **error)
{
    static const char *const known[] = { "family", "address", "netmask", "prefix", "gateway",
                                         "metric", NULL };
    char *v[G_N_ELEMENTS(known)] = { 0 };
    VbQemuNetRoute *r = NULL;
    int family = AF_UNSPEC;
    Addr a, gw, m;
    guint prefix = 0;
    guint64 metric = 0;
    int natural;

    if (!read_attrs(raw, alias, known, v, error))
        goto out;
    if (v[1] == NULL || v[4] == NULL) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG, "interface %s: <source><route> "
                    "needs address= and gateway=", alias);
        goto out;
    }
    if (!parse_family(alias, "route", v[0], &family, error))
        goto out;
    if (family == AF_UNSPEC)
        family = AF_INET; /* as libvirt: an IPv6 route says family='ipv6' */
    if (!addr_parse(v[1], family, &a) || !addr_parse(v[4], family, &gw)) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG, "interface %s: <source><route "
                    "address='%s' gateway='%s'> are not %s addresses%s", alias, v[1], v[4],
                    family == AF_INET ? "IPv4" : "IPv6",
                    family == AF_INET && v[0] == NULL ? " (an IPv6 route needs family='ipv6')"
                                                      : "");
        goto out;
    }
    if (v[2] != NULL && v[3] != NULL) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG, "interface %s: <source><route> "
                    "cannot have both netmask= and prefix=", alias);
        goto out;
    }
    if (v[2] != NULL) {
        int bits;

        if (family != AF_INET || !addr_parse(v[2], AF_INET, &m) || (bits = netmask_bits(&m)) < 0) {
            g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG, "interface %s: <source><route "
                        "netmask='%s'> is not an IPv4 netmask", alias, v[2]);
            goto out;
        }
        prefix = (guint)bits;
    } else if (v[3] != NULL) {
        if (!parse_prefix(alias, "route", v[3], addr_bits(&a), &prefix, error))
            goto out;
    }
    natural = natural_prefix(&a);
    if (v[2] == NULL && v[3] == NULL) {
        if (natural < 0) {
            g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG, "interface %s: <source><route "
                        "address='%s'> needs prefix=", alias, v[1]);
            goto out;
        }
        prefix = (guint)natural;
    } else if (prefix == 0 && v[3] != NULL && !addr_is_zero(&a)) {
        prefix = natural < 0 ? 0 : (guint)natural; /* libvirt: prefix='0' is "none given" */
    }
    if (has_host_bits(&a, prefix)) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG, "interface %s: <source><route "
                    "address='%s'> is not a network address for prefix %u", alias, v[1], prefix);
        goto out;
    }
    if (v[5] != NULL && (!g_ascii_string_to_unsigned(v[5], 10, 1, G_MAXUINT32, &metric, NULL))) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG, "interface %s: <source><route "
                    "metric='%s'> is not a number above 0", alias, v[5]);
        goto out;
    }
    r = g_new0(VbQemuNetRoute, 1);
    r->dest = g_strdup_printf("%s/%u", v[1], prefix);
    r->gateway = g_steal_pointer(&v[4]);
    r->metric = (guint)metric;
out:
    for (guint i = 0; i < G_N_ELEMENTS(v); i++)
        g_free(v[i]);
    return r;
}

/**
 * vb_qemu_net_host_ip_parse:
 * @dev: an <interface>
 * @alias: its alias ("net0"), for the messages
 * @out_ips: (out) (transfer full) (element-type VbQemuNetIp): its <source><ip>, in order
 * @out_routes: (out) (transfer full) (element-type VbQemuNetRoute): its <source><route>
 * @error: return location: %VB_ERROR_INVALID_ARG naming the attribute (no address=, a bad
 *   address, prefix, netmask or metric, a route's address with host bits, families that do
 *   not match), %VB_ERROR_NOT_SUPPORTED for an attribute or child libvirt does not have
 *
 * Reads the host side addresses and routes of @dev as libvirt does: no prefix= (or 0) on
 * <ip> is the natural one (8/16/24 by IPv4 class, 64 for IPv6); a route without family= is
 * IPv4, its prefix from prefix=, netmask= (IPv4 only) or the natural one. Any interface
 * type; only 'ethernet' may have them (the command builder refuses them elsewhere).
 *
 * Returns: %TRUE with both arrays set (maybe empty).
 */
gboolean
vb_qemu_net_host_ip_parse(const VbDeviceDef *dev, const char *alias, GPtrArray **out_ips,
                          GPtrArray **out_routes, GError **error)
{
    g_autoptr(GPtrArray) ips =
        g_ptr_array_new_with_free_func((GDestroyNotify)vb_qemu_net_ip_free);
    g_autoptr(GPtrArray) routes =
        g_ptr_array_new_with_free_func((GDestroyNotify)vb_qemu_net_route_free);
    GPtrArray *ch = dev->source.extra.children;

    for (guint i = 0; ch != NULL && i < ch->len; i++) {
        const VbRawElem *raw = g_ptr_array_index(ch, i);

        if (strcmp(raw->name, "ip") == 0) {
            VbQemuNetIp *ip = parse_ip(raw, alias, error);

            if (ip == NULL)
                return FALSE;
            g_ptr_array_add(ips, ip);
        } else if (strcmp(raw->name, "route") == 0) {
            VbQemuNetRoute *r = parse_route(raw, alias, error);

            if (r == NULL)
                return FALSE;
            g_ptr_array_add(routes, r);
        }
    }
    *out_ips = g_steal_pointer(&ips);
    *out_routes = g_steal_pointer(&routes);
    return TRUE;
}
