/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Writing <network> XML in libvirt's order and spelling (issue 12, part "network XML"):
 * modelled values from the typed fields, everything kept written back in place.
 */
#include "config.h"

#include <string.h>
#include <sys/socket.h>

#include "network-def-priv.h"

static const VbExtra empty_extra = {NULL, NULL};

static const VbExtra *
x_of(const VbNetKept *kept)
{
    return kept != NULL ? &kept->x : &empty_extra;
}

/* <name attrs.../> or with kept children, at @level */
static void
fmt_leaf(GString *buf, int level, const char *name, const char *const order[],
         const char *const modelled[], const VbNetKept *kept)
{
    g_autoptr(GString) ch = g_string_new(NULL);
    guint cursor = 0;

    vb_fmt_indent(buf, level);
    g_string_append_printf(buf, "<%s", name);
    vb_fmt_attrs_ordered(buf, order, modelled, x_of(kept));
    vb_fmt_raws_before(ch, x_of(kept), G_MAXINT, level + 1, &cursor);
    vb_fmt_close(buf, level, name, ch);
}

static const char *
yesno(int v, const char *yes, const char *no)
{
    return v < 0 ? NULL : v ? yes : no;
}

static void
fmt_lease(GString *buf, const VbNetworkLease *lease, int level)
{
    static const char *const order[] = {"expiry", "unit", NULL};
    g_autofree char *expiry = NULL;
    const char *modelled[5] = {NULL};

    if (!lease->present)
        return;
    expiry = g_strdup_printf("%" G_GUINT64_FORMAT, lease->expiry);
    modelled[0] = "expiry";
    modelled[1] = expiry;
    if (lease->expiry > 0) {
        modelled[2] = "unit";
        modelled[3] = lease->unit != NULL ? lease->unit : "minutes";
    }
    fmt_leaf(buf, level, "lease", order, modelled, lease->kept);
}

/* an element whose only modelled child is a <lease> */
static void
fmt_with_lease(GString *buf, int level, const char *name, const char *const order[],
               const char *const modelled[], const VbNetworkLease *lease, const VbNetKept *kept)
{
    g_autoptr(GString) ch = g_string_new(NULL);
    guint cursor = 0;

    vb_fmt_indent(buf, level);
    g_string_append_printf(buf, "<%s", name);
    vb_fmt_attrs_ordered(buf, order, modelled, x_of(kept));
    fmt_lease(ch, lease, level + 1);
    vb_fmt_raws_before(ch, x_of(kept), G_MAXINT, level + 1, &cursor);
    vb_fmt_close(buf, level, name, ch);
}

/**
 * vb_net_fmt_dhcp_host: (skip)
 * @buf: output
 * @host: a DHCP host
 * @level: indentation
 */
void
vb_net_fmt_dhcp_host(GString *buf, const VbNetworkDhcpHost *host, int level)
{
    static const char *const order[] = {"mac", "id", "name", "ip", NULL};
    const char *const modelled[] = {"mac",      host->mac, "id",     host->id, "name",
                                    host->name, "ip",      host->ip, NULL};

    fmt_with_lease(buf, level, "host", order, modelled, &host->lease, host->kept);
}

static void
fmt_dhcp(GString *buf, const VbNetworkIp *ip, int level)
{
    g_autoptr(GString) ch = g_string_new(NULL);
    const VbExtra *x = x_of(ip->dhcp_kept);
    guint cursor = 0;

    if (!ip->has_dhcp_elem && ip->ranges->len == 0 && ip->hosts->len == 0)
        return;
    vb_fmt_raws_before(ch, x, 0, level + 1, &cursor);
    for (guint i = 0; i < ip->ranges->len; i++) {
        static const char *const order[] = {"start", "end", NULL};
        const VbNetworkDhcpRange *r = g_ptr_array_index(ip->ranges, i);
        const char *const modelled[] = {"start", r->start, "end", r->end, NULL};

        fmt_with_lease(ch, level + 1, "range", order, modelled, &r->lease, r->kept);
    }
    vb_fmt_raws_before(ch, x, 1, level + 1, &cursor);
    for (guint i = 0; i < ip->hosts->len; i++)
        vb_net_fmt_dhcp_host(ch, g_ptr_array_index(ip->hosts, i), level + 1);
    vb_fmt_raws_before(ch, x, G_MAXINT, level + 1, &cursor);
    vb_fmt_indent(buf, level);
    g_string_append(buf, "<dhcp");
    vb_fmt_extra_attrs(buf, x);
    vb_fmt_close(buf, level, "dhcp", ch);
}

static void
fmt_ip(GString *buf, const VbNetworkIp *ip, int level)
{
    static const char *const order[] = {"family", "address", "netmask", "prefix", "localPtr", NULL};
    g_autofree char *prefix =
        ip->prefix_given || ip->prefix > 0 ? g_strdup_printf("%u", ip->prefix) : NULL;
    const char *const modelled[] = {
        "family",    ip->family_attr, "address", ip->address, "netmask",
        ip->netmask, "prefix",        prefix,    "localPtr",  yesno(ip->local_ptr, "yes", "no"),
        NULL};
    g_autoptr(GString) ch = g_string_new(NULL);
    guint cursor = 0;

    vb_fmt_indent(buf, level);
    g_string_append(buf, "<ip");
    vb_fmt_attrs_ordered(buf, order, modelled, x_of(ip->kept));
    vb_fmt_raws_before(ch, x_of(ip->kept), 1, level + 1, &cursor);
    fmt_dhcp(ch, ip, level + 1);
    vb_fmt_raws_before(ch, x_of(ip->kept), G_MAXINT, level + 1, &cursor);
    /* libvirt never writes <ip/> */
    g_string_append(buf, ">\n");
    g_string_append_len(buf, ch->str, ch->len);
    vb_fmt_indent(buf, level);
    g_string_append(buf, "</ip>\n");
}

static void
fmt_dns(GString *buf, const VbNetworkDef *def, int level)
{
    static const char *const order[] = {"enable", "forwardPlainNames", NULL};
    const char *const modelled[] = {"enable", yesno(def->dns_enable, "yes", "no"), NULL};
    g_autoptr(GString) ch = g_string_new(NULL);
    const VbExtra *x = x_of(def->dns_kept);
    guint cursor = 0;

    if (!def->dns_present)
        return;
    vb_fmt_raws_before(ch, x, 0, level + 1, &cursor);
    for (guint i = 0; i < def->dns_forwarders->len; i++) {
        static const char *const f_order[] = {"domain", "addr", NULL};
        const VbNetworkDnsForwarder *f = g_ptr_array_index(def->dns_forwarders, i);
        const char *const f_mod[] = {"domain", f->domain, "addr", f->addr, NULL};

        fmt_leaf(ch, level + 1, "forwarder", f_order, f_mod, f->kept);
    }
    vb_fmt_raws_before(ch, x, 3, level + 1, &cursor); /* txt, srv */
    for (guint i = 0; i < def->dns_hosts->len; i++) {
        const VbNetworkDnsHost *h = g_ptr_array_index(def->dns_hosts, i);
        g_autoptr(GString) hch = g_string_new(NULL);
        guint hcursor = 0;

        vb_fmt_indent(ch, level + 1);
        g_string_append(ch, "<host");
        vb_fmt_attr(ch, "ip", h->ip);
        vb_fmt_extra_attrs(ch, x_of(h->kept));
        for (guint j = 0; j < h->names->len; j++)
            vb_fmt_text_elem(hch, level + 2, "hostname", g_ptr_array_index(h->names, j));
        vb_fmt_raws_before(hch, x_of(h->kept), G_MAXINT, level + 2, &hcursor);
        vb_fmt_close(ch, level + 1, "host", hch);
    }
    vb_fmt_raws_before(ch, x, G_MAXINT, level + 1, &cursor);
    vb_fmt_indent(buf, level);
    g_string_append(buf, "<dns");
    vb_fmt_attrs_ordered(buf, order, modelled, x);
    vb_fmt_close(buf, level, "dns", ch);
}

static gboolean
kept_has(const VbNetKept *kept, const char *name)
{
    for (guint i = 0; kept != NULL && kept->x.children != NULL && i < kept->x.children->len; i++) {
        if (strcmp(((VbRawElem *)g_ptr_array_index(kept->x.children, i))->name, name) == 0)
            return TRUE;
    }
    return FALSE;
}

static void
fmt_nat(GString *buf, const VbNetworkDef *def, int level)
{
    static const char *const order[] = {"ipv6", NULL};
    static const char *const r_order[] = {"start", "end", NULL};
    const char *const modelled[] = {"ipv6", yesno(def->nat_ipv6, "yes", "no"), NULL};
    g_autoptr(GString) ch = g_string_new(NULL);
    guint cursor = 0;

    if (!def->nat_present)
        return;
    if (def->nat_addr_start != NULL) {
        const char *const a[] = {"start", def->nat_addr_start, "end", def->nat_addr_end, NULL};

        fmt_leaf(ch, level + 1, "address", r_order, a, def->nat_addr_kept);
    }
    if (def->nat_port_end > 0) {
        g_autofree char *s = g_strdup_printf("%u", def->nat_port_start);
        g_autofree char *e = g_strdup_printf("%u", def->nat_port_end);
        const char *const p[] = {"start", s, "end", e, NULL};

        fmt_leaf(ch, level + 1, "port", r_order, p, def->nat_port_kept);
    }
    vb_fmt_raws_before(ch, x_of(def->nat_kept), G_MAXINT, level + 1, &cursor);
    vb_fmt_indent(buf, level);
    g_string_append(buf, "<nat");
    vb_fmt_attrs_ordered(buf, order, modelled, x_of(def->nat_kept));
    vb_fmt_close(buf, level, "nat", ch);
}

static void
fmt_forward(GString *buf, const VbNetworkDef *def, int level)
{
    static const char *const order[] = {"dev", "mode", "managed", NULL};
    gboolean pf = kept_has(def->forward_kept, "pf");
    /* no dev beside <address> children, which the parser refuses with it: with
     * <interface> children too, dev was only derived from the first one */
    const char *dev = kept_has(def->forward_kept, "address") ? NULL
                      : !pf && def->forward_ifaces->len > 0
                          ? g_ptr_array_index(def->forward_ifaces, 0)
                          : def->forward_dev;
    const char *const modelled[] = {"dev", dev, "mode",
                                    vb_network_forward_mode_to_string(def->forward_mode), NULL};
    g_autoptr(GString) ch = g_string_new(NULL);
    const VbExtra *x = x_of(def->forward_kept);
    guint cursor = 0;

    if (!def->forward_present && def->forward_mode == VB_NETWORK_FORWARD_NONE)
        return;
    vb_fmt_raws_before(ch, x, 1, level + 1, &cursor); /* driver */
    fmt_nat(ch, def, level + 1);
    vb_fmt_raws_before(ch, x, 3, level + 1, &cursor); /* pf */
    for (guint i = 0; i < def->forward_ifaces->len; i++) {
        static const char *const i_order[] = {"dev", NULL};
        const char *const i_mod[] = {"dev", g_ptr_array_index(def->forward_ifaces, i), NULL};

        fmt_leaf(ch, level + 1, "interface", i_order, i_mod,
                 g_ptr_array_index(def->forward_ifaces_kept, i));
    }
    vb_fmt_raws_before(ch, x, G_MAXINT, level + 1, &cursor);
    vb_fmt_indent(buf, level);
    g_string_append(buf, "<forward");
    vb_fmt_attrs_ordered(buf, order, modelled, x);
    vb_fmt_close(buf, level, "forward", ch);
}

static void
fmt_bridge(GString *buf, const VbNetworkDef *def, int level)
{
    static const char *const order[] = {"name", "zone", "stp", "delay", "macTableManager", NULL};
    gboolean l3 = vb_network_def_has_bridge(def);
    g_autofree char *delay = NULL;
    const char *modelled[11] = {NULL};
    guint n = 0;

    if (!l3 && !def->bridge_present)
        return;
    modelled[n++] = "name";
    modelled[n++] = def->bridge;
    modelled[n++] = "macTableManager";
    modelled[n++] = def->mac_table_manager;
    /* libvirt writes stp and delay for the bridges it makes */
    if (l3 || def->stp_given) {
        modelled[n++] = "stp";
        modelled[n++] = def->stp ? "on" : "off";
    }
    if (l3 || def->delay_given) {
        delay = g_strdup_printf("%" G_GUINT64_FORMAT, def->delay);
        modelled[n++] = "delay";
        modelled[n++] = delay;
    }
    fmt_leaf(buf, level, "bridge", order, (const char *const *)modelled, def->bridge_kept);
}

static void
fmt_small(GString *buf, const VbNetworkDef *def, int level)
{
    static const char *const mtu_order[] = {"size", NULL};
    static const char *const mac_order[] = {"address", NULL};
    static const char *const dom_order[] = {"name", "localOnly", NULL};

    if (def->mtu > 0) {
        g_autofree char *size = g_strdup_printf("%u", def->mtu);
        const char *const m[] = {"size", size, NULL};

        fmt_leaf(buf, level, "mtu", mtu_order, m, def->mtu_kept);
    }
    if (def->mac != NULL) {
        const char *const m[] = {"address", def->mac, NULL};

        fmt_leaf(buf, level, "mac", mac_order, m, def->mac_kept);
    }
    if (def->domain != NULL) {
        const char *const m[] = {"name", def->domain, "localOnly",
                                 yesno(def->domain_local_only, "yes", "no"), NULL};

        fmt_leaf(buf, level, "domain", dom_order, m, def->domain_kept);
    }
}

/* a kept top-level element declares namespaces the root declared already: drop those */
static void
fmt_top_raw(GString *buf, const VbRawElem *raw, const VbNetKept *kept)
{
    g_autofree char *first_tag = NULL;
    g_autoptr(GString) xml = NULL;
    VbRawElem copy = *raw;
    const char *gt;

    if (kept->root_ns == NULL) {
        vb_fmt_raw(buf, raw, 1);
        return;
    }
    gt = strchr(raw->xml, '>');
    first_tag = g_strndup(raw->xml, gt != NULL ? (gsize)(gt - raw->xml) : strlen(raw->xml));
    xml = g_string_new(raw->xml);
    for (guint i = 0; i + 1 < kept->root_ns->len; i += 2) {
        g_autofree char *decl =
            g_strdup_printf(" xmlns:%s='%s'", (char *)g_ptr_array_index(kept->root_ns, i),
                            (char *)g_ptr_array_index(kept->root_ns, i + 1));
        const char *at = strstr(first_tag, decl);

        if (at != NULL) {
            gsize off = (gsize)(at - first_tag);

            g_string_erase(xml, (gssize)off, (gssize)strlen(decl));
            g_free(first_tag);
            first_tag = g_strndup(xml->str, strchr(xml->str, '>') != NULL
                                                ? (gsize)(strchr(xml->str, '>') - xml->str)
                                                : xml->len);
        }
    }
    copy.xml = xml->str;
    vb_fmt_raw(buf, &copy, 1);
}

static void
fmt_top_raws_before(GString *buf, const VbNetworkDef *def, const char *name, guint *cursor)
{
    GPtrArray *ch = def->kept->x.children;
    int rank = name != NULL ? vb_rank_lookup(vb_net_top_ranks, name) : G_MAXINT;

    while (ch != NULL && *cursor < ch->len) {
        const VbRawElem *raw = g_ptr_array_index(ch, *cursor);

        if (raw->rank >= rank)
            break;
        fmt_top_raw(buf, raw, def->kept);
        (*cursor)++;
    }
}

/**
 * vb_network_def_format:
 * @def: a valid definition
 *
 * Writes @def as libvirt does (its order of elements and attributes, stp and delay of the
 * bridges it makes, the first forward interface as dev=), with everything kept in place.
 * Any thread.
 *
 * Returns: (transfer full): the XML, ending in a newline
 */
char *
vb_network_def_format(const VbNetworkDef *def)
{
    static const char *const root_order[] = {"connections", "ipv6", "trustGuestRxFilters", NULL};
    const char *const root_mod[] = {"ipv6", yesno(def->ipv6, "yes", "no"), NULL};
    static const char *const port_order[] = {"isolated", NULL};
    GString *buf = g_string_new("<network");
    char uuid[37];
    guint cursor = 0;

    for (guint i = 0; def->kept->root_ns != NULL && i + 1 < def->kept->root_ns->len; i += 2)
        g_string_append_printf(buf, " xmlns:%s='%s'",
                               (char *)g_ptr_array_index(def->kept->root_ns, i),
                               (char *)g_ptr_array_index(def->kept->root_ns, i + 1));
    vb_fmt_attrs_ordered(buf, root_order, root_mod, &def->kept->x);
    g_string_append(buf, ">\n");
    vb_fmt_text_elem(buf, 1, "name", def->name);
    vb_uuid_format(def->uuid, uuid);
    vb_fmt_text_elem(buf, 1, "uuid", uuid);
    fmt_top_raws_before(buf, def, "forward", &cursor);
    fmt_forward(buf, def, 1);
    fmt_top_raws_before(buf, def, "bridge", &cursor);
    fmt_bridge(buf, def, 1);
    fmt_top_raws_before(buf, def, "mtu", &cursor);
    fmt_small(buf, def, 1);
    fmt_top_raws_before(buf, def, "dns", &cursor);
    fmt_dns(buf, def, 1);
    fmt_top_raws_before(buf, def, "port", &cursor);
    if (def->port_isolated >= 0) {
        const char *const m[] = {"isolated", yesno(def->port_isolated, "yes", "no"), NULL};

        fmt_leaf(buf, 1, "port", port_order, m, def->port_kept);
    }
    fmt_top_raws_before(buf, def, "ip", &cursor);
    for (guint i = 0; i < def->ips->len; i++)
        fmt_ip(buf, g_ptr_array_index(def->ips, i), 1);
    fmt_top_raws_before(buf, def, NULL, &cursor);
    g_string_append(buf, "</network>\n");
    return g_string_free(buf, FALSE);
}
