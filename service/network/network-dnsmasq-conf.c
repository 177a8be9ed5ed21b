/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The dnsmasq configuration of a virtual network: the config struct, its
 * validation, the generated files (libvirt's networkDnsmasqConfContents shape)
 * and the parser of dnsmasq's lease file. No processes here.
 */
#include "config.h"

#include "network-dnsmasq.h"

#include <arpa/inet.h>
#include <string.h>
#include <sys/socket.h>

#include "vb-error.h"

/* ------------------------------------------------------------ the struct */

static void
range_free(gpointer p)
{
    VbDnsmasqRange *r = p;

    g_free(r->start);
    g_free(r->end);
    g_free(r);
}

static void
dhcp_host_free(gpointer p)
{
    VbDnsmasqDhcpHost *h = p;

    g_free(h->mac);
    g_free(h->id);
    g_free(h->ip);
    g_free(h->name);
    g_free(h);
}

static void
subnet_free(gpointer p)
{
    VbDnsmasqSubnet *s = p;

    g_free(s->address);
    g_ptr_array_unref(s->ranges);
    g_ptr_array_unref(s->hosts);
    g_free(s);
}

static void
forwarder_free(gpointer p)
{
    VbDnsmasqForwarder *f = p;

    g_free(f->domain);
    g_free(f->addr);
    g_free(f);
}

static void
dns_host_free(gpointer p)
{
    VbDnsmasqDnsHost *h = p;

    g_free(h->ip);
    g_strfreev(h->names);
    g_free(h);
}

/**
 * vb_dnsmasq_config_new:
 * @network: the network's name
 * @bridge: the bridge's name
 *
 * Returns: (transfer full): an empty configuration (DNS on, no subnets) with
 * element-owning arrays; free with vb_dnsmasq_config_free().
 */
VbDnsmasqConfig *
vb_dnsmasq_config_new(const char *network, const char *bridge)
{
    VbDnsmasqConfig *cfg = g_new0(VbDnsmasqConfig, 1);

    cfg->network = g_strdup(network);
    cfg->bridge = g_strdup(bridge);
    cfg->forwarders = g_ptr_array_new_with_free_func(forwarder_free);
    cfg->dns_hosts = g_ptr_array_new_with_free_func(dns_host_free);
    cfg->subnets = g_ptr_array_new_with_free_func(subnet_free);
    return cfg;
}

/**
 * vb_dnsmasq_config_free:
 * @cfg: (nullable): a configuration
 *
 * Frees @cfg and everything in it.
 */
void
vb_dnsmasq_config_free(VbDnsmasqConfig *cfg)
{
    if (!cfg)
        return;
    g_free(cfg->network);
    g_free(cfg->bridge);
    g_free(cfg->domain);
    g_ptr_array_unref(cfg->forwarders);
    g_ptr_array_unref(cfg->dns_hosts);
    g_ptr_array_unref(cfg->subnets);
    g_free(cfg);
}

/**
 * vb_dnsmasq_config_add_subnet:
 * @cfg: a configuration
 * @address: the bridge's address in this subnet
 * @prefix: the prefix length
 *
 * Appends an `<ip>` without DHCP. Returns: (transfer none): the subnet, to
 * add ranges and hosts to.
 */
VbDnsmasqSubnet *
vb_dnsmasq_config_add_subnet(VbDnsmasqConfig *cfg, const char *address, guint prefix)
{
    VbDnsmasqSubnet *s = g_new0(VbDnsmasqSubnet, 1);

    s->address = g_strdup(address);
    s->prefix = prefix;
    s->ranges = g_ptr_array_new_with_free_func(range_free);
    s->hosts = g_ptr_array_new_with_free_func(dhcp_host_free);
    g_ptr_array_add(cfg->subnets, s);
    return s;
}

/**
 * vb_dnsmasq_subnet_add_range:
 * @subnet: a subnet
 * @start: first address
 * @end: last address
 *
 * Returns: (transfer none): the new range (default lease time; set
 * ->lease to change it).
 */
VbDnsmasqRange *
vb_dnsmasq_subnet_add_range(VbDnsmasqSubnet *subnet, const char *start, const char *end)
{
    VbDnsmasqRange *r = g_new0(VbDnsmasqRange, 1);

    r->start = g_strdup(start);
    r->end = g_strdup(end);
    g_ptr_array_add(subnet->ranges, r);
    return r;
}

/**
 * vb_dnsmasq_subnet_add_host:
 * @subnet: a subnet
 * @mac: (nullable): MAC address
 * @id: (nullable): client id (IPv6 DUID)
 * @ip: (nullable): fixed address (a host without one is left out of the
 *   hostsfile, as libvirt does)
 * @name: (nullable): host name
 *
 * Returns: (transfer none): the new static host.
 */
VbDnsmasqDhcpHost *
vb_dnsmasq_subnet_add_host(VbDnsmasqSubnet *subnet, const char *mac, const char *id, const char *ip,
                           const char *name)
{
    VbDnsmasqDhcpHost *h = g_new0(VbDnsmasqDhcpHost, 1);

    h->mac = g_strdup(mac);
    h->id = g_strdup(id);
    h->ip = g_strdup(ip);
    h->name = g_strdup(name);
    g_ptr_array_add(subnet->hosts, h);
    return h;
}

/**
 * vb_dnsmasq_config_add_forwarder:
 * @cfg: a configuration
 * @domain: (nullable): only for this domain
 * @addr: (nullable): the server; %NULL: do not forward @domain
 *
 * Appends a `<forwarder>`.
 */
void
vb_dnsmasq_config_add_forwarder(VbDnsmasqConfig *cfg, const char *domain, const char *addr)
{
    VbDnsmasqForwarder *f = g_new0(VbDnsmasqForwarder, 1);

    f->domain = g_strdup(domain);
    f->addr = g_strdup(addr);
    g_ptr_array_add(cfg->forwarders, f);
}

/**
 * vb_dnsmasq_config_add_dns_host:
 * @cfg: a configuration
 * @ip: the address
 * @names: (array zero-terminated=1): its host names
 *
 * Appends a `<dns><host>`.
 */
void
vb_dnsmasq_config_add_dns_host(VbDnsmasqConfig *cfg, const char *ip, const char *const *names)
{
    VbDnsmasqDnsHost *h = g_new0(VbDnsmasqDnsHost, 1);

    h->ip = g_strdup(ip);
    h->names = g_strdupv((char **)names);
    g_ptr_array_add(cfg->dns_hosts, h);
}

/**
 * vb_dnsmasq_config_copy:
 * @cfg: a configuration
 *
 * Returns: (transfer full): a deep copy of @cfg.
 */
VbDnsmasqConfig *
vb_dnsmasq_config_copy(const VbDnsmasqConfig *cfg)
{
    VbDnsmasqConfig *c = vb_dnsmasq_config_new(cfg->network, cfg->bridge);

    c->domain = g_strdup(cfg->domain);
    c->domain_local_only = cfg->domain_local_only;
    c->dns_enable = cfg->dns_enable;
    c->forward_plain_names = cfg->forward_plain_names;
    c->isolated = cfg->isolated;
    c->mtu = cfg->mtu;
    for (guint i = 0; i < cfg->forwarders->len; i++) {
        VbDnsmasqForwarder *f = g_ptr_array_index(cfg->forwarders, i);
        vb_dnsmasq_config_add_forwarder(c, f->domain, f->addr);
    }
    for (guint i = 0; i < cfg->dns_hosts->len; i++) {
        VbDnsmasqDnsHost *h = g_ptr_array_index(cfg->dns_hosts, i);
        vb_dnsmasq_config_add_dns_host(c, h->ip, (const char *const *)h->names);
    }
    for (guint i = 0; i < cfg->subnets->len; i++) {
        VbDnsmasqSubnet *s = g_ptr_array_index(cfg->subnets, i);
        VbDnsmasqSubnet *n = vb_dnsmasq_config_add_subnet(c, s->address, s->prefix);
        for (guint j = 0; j < s->ranges->len; j++) {
            VbDnsmasqRange *r = g_ptr_array_index(s->ranges, j);
            vb_dnsmasq_subnet_add_range(n, r->start, r->end)->lease = r->lease;
        }
        for (guint j = 0; j < s->hosts->len; j++) {
            VbDnsmasqDhcpHost *h = g_ptr_array_index(s->hosts, j);
            vb_dnsmasq_subnet_add_host(n, h->mac, h->id, h->ip, h->name)->lease = h->lease;
        }
    }
    return c;
}

/* ------------------------------------------------------------ addresses */

typedef struct {
    int family; /* AF_INET or AF_INET6 */
    guint8 b[16];
} Addr;

static gboolean
addr_parse(const char *s, Addr *out)
{
    memset(out, 0, sizeof(*out));
    if (!s)
        return FALSE;
    if (inet_pton(AF_INET, s, out->b) == 1) {
        out->family = AF_INET;
        return TRUE;
    }
    if (inet_pton(AF_INET6, s, out->b) == 1) {
        out->family = AF_INET6;
        return TRUE;
    }
    return FALSE;
}

static char *
addr_format(const Addr *a)
{
    char buf[INET6_ADDRSTRLEN];

    inet_ntop(a->family, a->b, buf, sizeof(buf));
    return g_strdup(buf);
}

static guint
addr_len(const Addr *a)
{
    return a->family == AF_INET ? 4 : 16;
}

/* TRUE if @a is in @net/@prefix */
static gboolean
addr_in(const Addr *a, const Addr *net, guint prefix)
{
    if (a->family != net->family)
        return FALSE;
    for (guint i = 0; i < addr_len(a); i++) {
        guint bits = prefix > i * 8 ? MIN(prefix - i * 8, 8) : 0;
        guint8 mask = bits ? (guint8)(0xff << (8 - bits)) : 0;
        if ((a->b[i] & mask) != (net->b[i] & mask))
            return FALSE;
    }
    return TRUE;
}

/* the host part of @a is all ones (@ones) or all zeros */
static gboolean
addr_host_all(const Addr *a, guint prefix, gboolean ones)
{
    for (guint i = 0; i < addr_len(a); i++) {
        guint bits = prefix > i * 8 ? MIN(prefix - i * 8, 8) : 0;
        guint8 hostmask = (guint8) ~(bits ? (guint8)(0xff << (8 - bits)) : 0);
        if ((a->b[i] & hostmask) != (ones ? hostmask : 0))
            return FALSE;
    }
    return TRUE;
}

static int
addr_cmp(const Addr *a, const Addr *b)
{
    return memcmp(a->b, b->b, addr_len(a));
}

static char *
netmask_of(guint prefix)
{
    Addr m = {.family = AF_INET};

    for (guint i = 0; i < 4; i++) {
        guint bits = prefix > i * 8 ? MIN(prefix - i * 8, 8) : 0;
        m.b[i] = bits ? (guint8)(0xff << (8 - bits)) : 0;
    }
    return addr_format(&m);
}

/* ------------------------------------------------------------ validation */

/* characters allowed in names written into dnsmasq's files: host and
 * domain names, network and bridge names (no separators of those files) */
static gboolean
name_ok(const char *s, const char *extra)
{
    if (!s || !*s || strlen(s) > 253)
        return FALSE;
    for (const char *p = s; *p; p++) {
        if (!g_ascii_isalnum(*p) && *p != '-' && *p != '.' && *p != '_' &&
            !(extra && strchr(extra, *p)))
            return FALSE;
    }
    return TRUE;
}

static gboolean
mac_ok(const char *s)
{
    if (!s || strlen(s) != 17)
        return FALSE;
    for (int i = 0; i < 17; i++) {
        if (i % 3 == 2 ? s[i] != ':' : !g_ascii_isxdigit(s[i]))
            return FALSE;
    }
    return TRUE;
}

static gboolean
range_check(const VbDnsmasqSubnet *s, const Addr *net, const VbDnsmasqRange *r, guint *out_n,
            GError **error)
{
    Addr a, b;

    if (!addr_parse(r->start, &a) || !addr_parse(r->end, &b)) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                    "DHCP range '%s' - '%s' of %s is not a pair of addresses",
                    r->start ? r->start : "", r->end ? r->end : "", s->address);
        return FALSE;
    }
    if (!addr_in(&a, net, s->prefix) || !addr_in(&b, net, s->prefix)) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                    "DHCP range %s - %s is not entirely within the network %s/%u", r->start, r->end,
                    s->address, s->prefix);
        return FALSE;
    }
    if (a.family == AF_INET && addr_host_all(&a, s->prefix, FALSE)) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                    "start of DHCP range %s - %s is the network address of %s/%u", r->start, r->end,
                    s->address, s->prefix);
        return FALSE;
    }
    if (a.family == AF_INET && addr_host_all(&b, s->prefix, TRUE)) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                    "end of DHCP range %s - %s is the broadcast address of %s/%u", r->start, r->end,
                    s->address, s->prefix);
        return FALSE;
    }
    if (addr_cmp(&a, &b) > 0) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG, "DHCP range %s - %s is reversed",
                    r->start, r->end);
        return FALSE;
    }
    /* libvirt's size rule: the range may differ in the last 16 bits only */
    guint len = addr_len(&a);
    if (memcmp(a.b, b.b, len - 2) != 0) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                    "DHCP range %s - %s is too large (more than 65535 addresses)", r->start,
                    r->end);
        return FALSE;
    }
    *out_n =
        ((guint)b.b[len - 2] << 8 | b.b[len - 1]) - ((guint)a.b[len - 2] << 8 | a.b[len - 1]) + 1;
    return TRUE;
}

static gboolean
dhcp_host_check(const VbDnsmasqSubnet *s, const Addr *net, const VbDnsmasqDhcpHost *h,
                GError **error)
{
    Addr a;
    const char *what = h->ip ? h->ip : h->mac ? h->mac : h->name ? h->name : "?";

    if (h->ip && (!addr_parse(h->ip, &a) || !addr_in(&a, net, s->prefix))) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                    "DHCP host address '%s' is not in the network %s/%u", h->ip, s->address,
                    s->prefix);
        return FALSE;
    }
    if (h->mac && !mac_ok(h->mac)) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                    "DHCP host %s: '%s' is not a MAC address (xx:xx:xx:xx:xx:xx)", what, h->mac);
        return FALSE;
    }
    if (h->name && !name_ok(h->name, NULL)) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                    "DHCP host %s: '%s' is not a valid host name", what, h->name);
        return FALSE;
    }
    if (h->id && !name_ok(h->id, ":")) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                    "DHCP host %s: id '%s' has characters other than letters, digits, "
                    "':', '-', '.', '_'",
                    what, h->id);
        return FALSE;
    }
    if (net->family == AF_INET && !h->mac && !h->name) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                    "IPv4 DHCP host %s needs a mac or a name", what);
        return FALSE;
    }
    if (net->family == AF_INET6 && !h->id && !h->name) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                    "IPv6 DHCP host %s needs an id or a name", what);
        return FALSE;
    }
    return TRUE;
}

static gboolean
subnet_check(const VbDnsmasqSubnet *s, GError **error)
{
    Addr net;

    if (!addr_parse(s->address, &net)) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG, "'%s' is not an IP address",
                    s->address ? s->address : "");
        return FALSE;
    }
    if (s->prefix > addr_len(&net) * 8 || s->prefix == 0) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG, "invalid prefix %u for %s", s->prefix,
                    s->address);
        return FALSE;
    }
    for (guint i = 0; i < s->ranges->len; i++) {
        guint n;
        if (!range_check(s, &net, g_ptr_array_index(s->ranges, i), &n, error))
            return FALSE;
    }
    for (guint i = 0; i < s->hosts->len; i++) {
        if (!dhcp_host_check(s, &net, g_ptr_array_index(s->hosts, i), error))
            return FALSE;
    }
    return TRUE;
}

static gboolean
dns_check(const VbDnsmasqConfig *cfg, GError **error)
{
    Addr a;

    for (guint i = 0; i < cfg->forwarders->len; i++) {
        VbDnsmasqForwarder *f = g_ptr_array_index(cfg->forwarders, i);
        if ((f->addr && !addr_parse(f->addr, &a)) || (f->domain && !name_ok(f->domain, NULL)) ||
            (!f->addr && !f->domain)) {
            g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                        "DNS forwarder (domain '%s', addr '%s') needs a valid address, a "
                        "valid domain or both",
                        f->domain ? f->domain : "", f->addr ? f->addr : "");
            return FALSE;
        }
    }
    for (guint i = 0; i < cfg->dns_hosts->len; i++) {
        VbDnsmasqDnsHost *h = g_ptr_array_index(cfg->dns_hosts, i);
        if (!addr_parse(h->ip, &a)) {
            g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                        "DNS host address '%s' is not an IP address", h->ip ? h->ip : "");
            return FALSE;
        }
        if (!h->names || !h->names[0]) {
            g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG, "DNS host %s has no hostname",
                        h->ip);
            return FALSE;
        }
        for (guint j = 0; h->names[j]; j++) {
            if (!name_ok(h->names[j], NULL)) {
                g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                            "DNS host %s: '%s' is not a valid host name", h->ip, h->names[j]);
                return FALSE;
            }
        }
    }
    return TRUE;
}

static gboolean
config_check(const VbDnsmasqConfig *cfg, GError **error)
{
    gboolean dhcp4 = FALSE, dhcp6 = FALSE;

    if (!cfg->bridge || !name_ok(cfg->bridge, NULL) || strlen(cfg->bridge) > 15) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                    "bridge name '%s' is not a valid interface name (at most 15 letters, "
                    "digits, '-', '_', '.')",
                    cfg->bridge ? cfg->bridge : "");
        return FALSE;
    }
    if (cfg->domain && !name_ok(cfg->domain, NULL)) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG, "'%s' is not a valid domain name",
                    cfg->domain);
        return FALSE;
    }
    if (cfg->mtu > 65535) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG, "MTU %u is too large", cfg->mtu);
        return FALSE;
    }
    if (!dns_check(cfg, error))
        return FALSE;
    for (guint i = 0; i < cfg->subnets->len; i++) {
        VbDnsmasqSubnet *s = g_ptr_array_index(cfg->subnets, i);
        gboolean v6 = s->address && strchr(s->address, ':');
        gboolean dhcp = s->ranges->len || s->hosts->len;

        if (!subnet_check(s, error))
            return FALSE;
        if (dhcp && (v6 ? dhcp6 : dhcp4)) {
            g_set_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
                        "for %s, DHCP can be given on one <ip> only", v6 ? "IPv6" : "IPv4");
            return FALSE;
        }
        if (v6)
            dhcp6 |= dhcp;
        else
            dhcp4 |= dhcp;
    }
    return TRUE;
}

/**
 * vb_dnsmasq_config_validate:
 * @cfg: a configuration
 * @error: return location for a #VB_ERROR_INVALID_ARG or
 *   #VB_ERROR_NOT_SUPPORTED error
 *
 * Checks every value that goes into dnsmasq's files: names (nothing that
 * could break a line of them), addresses, ranges within their subnet (not
 * the network or broadcast address, not reversed, at most 65535 long),
 * static hosts, at most one IPv4 and one IPv6 subnet with DHCP.
 *
 * Returns: %TRUE if @cfg can be written.
 */
gboolean
vb_dnsmasq_config_validate(const VbDnsmasqConfig *cfg, GError **error)
{
    if (!cfg->network || !name_ok(cfg->network, NULL) || cfg->network[0] == '.') {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                    "network name '%s' cannot name dnsmasq's files: use letters, digits, "
                    "'-', '_' and '.' (not first)",
                    cfg->network ? cfg->network : "");
        return FALSE;
    }
    if (!config_check(cfg, error)) {
        g_prefix_error(error, "network '%s': ", cfg->network);
        return FALSE;
    }
    return TRUE;
}

/**
 * vb_dnsmasq_config_needed:
 * @cfg: a configuration
 *
 * libvirt's rule: dnsmasq runs unless the network has no DHCP and DNS is
 * disabled.
 *
 * Returns: %TRUE if the network needs a dnsmasq.
 */
gboolean
vb_dnsmasq_config_needed(const VbDnsmasqConfig *cfg)
{
    for (guint i = 0; i < cfg->subnets->len; i++) {
        VbDnsmasqSubnet *s = g_ptr_array_index(cfg->subnets, i);
        if (s->ranges->len || s->hosts->len)
            return TRUE;
    }
    return cfg->dns_enable != VB_DNSMASQ_NO;
}

/* ------------------------------------------------------------ generation */

/**
 * vb_dnsmasq_path:
 * @state_dir: the network state directory
 * @network: the network's name
 * @suffix: "conf", "hostsfile", "addnhosts", "pid", "leases" or "log"
 *
 * Returns: (transfer full): STATE_DIR/NETWORK.SUFFIX
 */
char *
vb_dnsmasq_path(const char *state_dir, const char *network, const char *suffix)
{
    g_autofree char *base = g_strdup_printf("%s.%s", network, suffix);

    return g_build_filename(state_dir, base, NULL);
}

void
vb_dnsmasq_files_free(VbDnsmasqFiles *files)
{
    if (!files)
        return;
    g_free(files->conf);
    g_free(files->hostsfile);
    g_free(files->addnhosts);
    g_free(files);
}

static char *
lease_time(const VbDnsmasqLeaseTime *l)
{
    static const char units[] = {0, 's', 'm', 'h'};

    if (l->unit == VB_DNSMASQ_LEASE_DEFAULT || l->unit > VB_DNSMASQ_LEASE_HOURS)
        return NULL;
    if (l->expiry == 0)
        return g_strdup("infinite");
    return g_strdup_printf("%" G_GUINT64_FORMAT "%c", l->expiry, units[l->unit]);
}

static void
add_hostsfile_line(GString *hf, const VbDnsmasqDhcpHost *h, gboolean v6)
{
    g_autofree char *lt = lease_time(&h->lease);
    Addr a;
    g_autofree char *ip = NULL;

    if (!addr_parse(h->ip, &a))
        return; /* no fixed address: not in the file (libvirt) */
    ip = addr_format(&a);
    if (v6) {
        if (h->name && h->id)
            g_string_append_printf(hf, "id:%s,%s", h->id, h->name);
        else if (h->name)
            g_string_append(hf, h->name);
        else if (h->id)
            g_string_append_printf(hf, "id:%s", h->id);
        g_string_append_printf(hf, ",[%s]", ip);
    } else if (h->name && h->mac) {
        g_string_append_printf(hf, "%s,%s,%s", h->mac, ip, h->name);
    } else if (h->name) {
        g_string_append_printf(hf, "%s,%s", h->name, ip);
    } else {
        g_string_append_printf(hf, "%s,%s", h->mac, ip);
    }
    if (lt)
        g_string_append_printf(hf, ",%s", lt);
    g_string_append_c(hf, '\n');
}

/* dhcp-range lines etc. of the one DHCP subnet of a family; adds its range
 * sizes to @nleases and its hosts to @hf */
static void
conf_dhcp(GString *c, const VbDnsmasqSubnet *s, guint *nleases, GString *hf)
{
    Addr net;
    gboolean v6;

    addr_parse(s->address, &net);
    v6 = net.family == AF_INET6;
    for (guint i = 0; i < s->ranges->len; i++) {
        VbDnsmasqRange *r = g_ptr_array_index(s->ranges, i);
        g_autofree char *lt = lease_time(&r->lease);
        Addr a, b;
        g_autofree char *sa = NULL;
        g_autofree char *ea = NULL;
        guint n = 0;

        addr_parse(r->start, &a);
        addr_parse(r->end, &b);
        sa = addr_format(&a);
        ea = addr_format(&b);
        if (v6) {
            g_string_append_printf(c, "dhcp-range=%s,%s,%u", sa, ea, s->prefix);
        } else {
            g_autofree char *mask = netmask_of(s->prefix);
            g_string_append_printf(c, "dhcp-range=%s,%s,%s", sa, ea, mask);
        }
        if (lt)
            g_string_append_printf(c, ",%s", lt);
        g_string_append_c(c, '\n');
        range_check(s, &net, r, &n, NULL);
        *nleases += n;
    }
    if (!s->ranges->len && s->hosts->len) {
        g_autofree char *ba = addr_format(&net);
        g_string_append_printf(c, "dhcp-range=%s,static", ba);
        if (v6)
            g_string_append_printf(c, ",%u", s->prefix);
        g_string_append_c(c, '\n');
    }
    for (guint i = 0; i < s->hosts->len; i++)
        add_hostsfile_line(hf, g_ptr_array_index(s->hosts, i), v6);
    if (!v6 && (s->ranges->len || s->hosts->len))
        g_string_append(c, "dhcp-no-override\n"
                           "dhcp-authoritative\n");
}

static void
conf_dns(GString *c, const VbDnsmasqConfig *cfg, gboolean want_dns)
{
    if (!want_dns)
        g_string_append(c, "port=0\n");
    if (want_dns && cfg->forwarders->len) {
        gboolean no_resolv = FALSE;

        for (guint i = 0; i < cfg->forwarders->len; i++) {
            VbDnsmasqForwarder *f = g_ptr_array_index(cfg->forwarders, i);
            Addr a;

            g_string_append(c, "server=");
            if (f->domain)
                g_string_append_printf(c, "/%s/", f->domain);
            if (addr_parse(f->addr, &a)) {
                g_autofree char *s = addr_format(&a);
                g_string_append_printf(c, "%s\n", s);
                if (!f->domain)
                    no_resolv = TRUE;
            } else {
                g_string_append(c, "#\n");
            }
        }
        if (no_resolv)
            g_string_append(c, "no-resolv\n");
    }
    if (cfg->domain) {
        if (cfg->domain_local_only)
            g_string_append_printf(c, "local=/%s/\n", cfg->domain);
        g_string_append_printf(c, "domain=%s\nexpand-hosts\n", cfg->domain);
    }
    if (want_dns && cfg->forward_plain_names == VB_DNSMASQ_NO)
        g_string_append(c, "domain-needed\nlocal=//\n");
}

static char *
addnhosts_text(const VbDnsmasqConfig *cfg)
{
    GString *t = g_string_new(NULL);
    g_autoptr(GPtrArray) ips = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GPtrArray) lines = g_ptr_array_new_with_free_func(g_free);

    /* one line per address, all its names, in the order first seen; each
     * name followed by a tab (libvirt's addnhostsWrite) */
    for (guint i = 0; i < cfg->dns_hosts->len; i++) {
        VbDnsmasqDnsHost *h = g_ptr_array_index(cfg->dns_hosts, i);
        Addr a;
        g_autofree char *ip = NULL;
        guint idx;

        if (!addr_parse(h->ip, &a))
            continue;
        ip = addr_format(&a);
        if (!g_ptr_array_find_with_equal_func(ips, ip, g_str_equal, &idx)) {
            idx = ips->len;
            g_ptr_array_add(ips, g_strdup(ip));
            g_ptr_array_add(lines, g_strdup_printf("%s\t", ip));
        }
        for (guint j = 0; h->names && h->names[j]; j++) {
            char *old = g_ptr_array_index(lines, idx);
            lines->pdata[idx] = g_strdup_printf("%s%s\t", old, h->names[j]);
            g_free(old);
        }
    }
    for (guint i = 0; i < lines->len; i++)
        g_string_append_printf(t, "%s\n", (char *)g_ptr_array_index(lines, i));
    return g_string_free(t, FALSE);
}

static void
conf_ipv6_ra(GString *c, const VbDnsmasqConfig *cfg, const VbDnsmasqSubnet *dhcp6)
{
    if (dhcp6) {
        g_string_append(c, "enable-ra\n");
        return;
    }
    for (guint i = 0; i < cfg->subnets->len; i++) {
        VbDnsmasqSubnet *s = g_ptr_array_index(cfg->subnets, i);
        Addr a;
        g_autofree char *ba = NULL;

        if (!addr_parse(s->address, &a) || a.family != AF_INET6)
            continue;
        if (s->ranges->len || s->hosts->len)
            continue;
        ba = addr_format(&a);
        g_string_append_printf(c, "dhcp-range=%s,ra-only\n", ba);
    }
}

/**
 * vb_dnsmasq_config_generate:
 * @cfg: a configuration
 * @state_dir: the directory the files will be in
 * @error: return location for a validation error
 *
 * Builds the texts of the dnsmasq configuration file, its dhcp-hostsfile
 * and its addn-hosts file, in the shape of libvirt 9.0's
 * networkDnsmasqConfContents (same options, same order), plus pid-file and
 * dnsmasq's own dhcp-leasefile under @state_dir. Nothing is written.
 *
 * Returns: (transfer full): the texts, or %NULL if @cfg is not valid.
 */
VbDnsmasqFiles *
vb_dnsmasq_config_generate(const VbDnsmasqConfig *cfg, const char *state_dir, GError **error)
{
    g_autoptr(GString) c = g_string_new(NULL);
    g_autoptr(GString) hf = g_string_new(NULL);
    gboolean want_dns = cfg->dns_enable != VB_DNSMASQ_NO;
    VbDnsmasqSubnet *dhcp4 = NULL, *dhcp6 = NULL;
    guint nleases = 0;
    VbDnsmasqFiles *files;
    g_autofree char *pidfile = NULL;

    if (!vb_dnsmasq_config_validate(cfg, error))
        return NULL;
    pidfile = vb_dnsmasq_path(state_dir, cfg->network, "pid");

    g_string_append_printf(c,
                           "##WARNING:  THIS IS AN AUTO-GENERATED FILE. CHANGES TO IT ARE "
                           "LIKELY TO BE\n"
                           "##OVERWRITTEN AND LOST.  Changes to this configuration should be "
                           "made using:\n"
                           "##    virtbusctl net-define (network %s)\n"
                           "##\n## dnsmasq conf file created by virtbus\n"
                           "strict-order\n",
                           cfg->network);
    conf_dns(c, cfg, want_dns);
    g_string_append_printf(c, "pid-file=%s\n", pidfile);
    g_string_append_printf(c, "except-interface=lo\nbind-dynamic\ninterface=%s\n", cfg->bridge);
    if (cfg->isolated)
        g_string_append(c, "dhcp-option=3\nno-resolv\nra-param=*,0,0\n");

    for (guint i = 0; i < cfg->subnets->len; i++) {
        VbDnsmasqSubnet *s = g_ptr_array_index(cfg->subnets, i);
        if (!s->ranges->len && !s->hosts->len)
            continue;
        if (strchr(s->address, ':'))
            dhcp6 = dhcp6 ? dhcp6 : s;
        else
            dhcp4 = dhcp4 ? dhcp4 : s;
    }
    if (dhcp4)
        conf_dhcp(c, dhcp4, &nleases, hf);
    if (dhcp6)
        conf_dhcp(c, dhcp6, &nleases, hf);
    if (nleases > 0)
        g_string_append_printf(c, "dhcp-lease-max=%u\n", nleases);
    if (dhcp4 || dhcp6) {
        g_autofree char *leases = vb_dnsmasq_path(state_dir, cfg->network, "leases");
        g_autofree char *hosts = vb_dnsmasq_path(state_dir, cfg->network, "hostsfile");
        g_string_append_printf(c, "dhcp-leasefile=%s\ndhcp-hostsfile=%s\n", leases, hosts);
    }
    if (want_dns) {
        g_autofree char *addn = vb_dnsmasq_path(state_dir, cfg->network, "addnhosts");
        g_string_append_printf(c, "addn-hosts=%s\n", addn);
    }
    if (cfg->mtu > 0)
        g_string_append_printf(c, "dhcp-option=option:mtu,%u\n", cfg->mtu);
    conf_ipv6_ra(c, cfg, dhcp6);

    files = g_new0(VbDnsmasqFiles, 1);
    files->conf = g_string_free(g_steal_pointer(&c), FALSE);
    files->hostsfile = g_string_free(g_steal_pointer(&hf), FALSE);
    /* without DNS nothing reads it; written empty for a later update */
    files->addnhosts = want_dns ? addnhosts_text(cfg) : g_strdup("");
    return files;
}

/* ------------------------------------------------------------ leases */

void
vb_dnsmasq_lease_free(VbDnsmasqLease *lease)
{
    if (!lease)
        return;
    g_free(lease->iface);
    g_free(lease->mac);
    g_free(lease->iaid);
    g_free(lease->ipaddr);
    g_free(lease->hostname);
    g_free(lease->clientid);
    g_free(lease);
}

static guint
prefix_for(const VbDnsmasqConfig *cfg, const Addr *a)
{
    for (guint i = 0; i < cfg->subnets->len; i++) {
        VbDnsmasqSubnet *s = g_ptr_array_index(cfg->subnets, i);
        Addr net;
        if (addr_parse(s->address, &net) && addr_in(a, &net, s->prefix))
            return s->prefix;
    }
    return 0;
}

/* the MAC in a DUID-LLT (1) or DUID-LL (3) of hardware type 1 (Ethernet) */
static char *
mac_from_duid(const char *duid)
{
    g_auto(GStrv) b = duid ? g_strsplit(duid, ":", -1) : NULL;
    guint n = b ? g_strv_length(b) : 0;
    guint off;

    if (n < 4 || strcmp(b[0], "00") != 0 || strcmp(b[2], "00") != 0 || strcmp(b[3], "01") != 0)
        return NULL;
    if (strcmp(b[1], "01") == 0)
        off = 8; /* type, hw type, time */
    else if (strcmp(b[1], "03") == 0)
        off = 4;
    else
        return NULL;
    if (n != off + 6)
        return NULL;
    g_autofree char *mac =
        g_strjoin(":", b[off], b[off + 1], b[off + 2], b[off + 3], b[off + 4], b[off + 5], NULL);
    return g_ascii_strdown(mac, -1);
}

static VbDnsmasqLease *
lease_from_line(const VbDnsmasqConfig *cfg, char **f, gboolean v6)
{
    VbDnsmasqLease *l;
    Addr a;
    gint64 expiry;
    char *end = NULL;

    expiry = g_ascii_strtoll(f[0], &end, 10);
    if (!end || *end || expiry < 0 || !addr_parse(f[2], &a))
        return NULL;
    if (v6 != (a.family == AF_INET6))
        return NULL;
    l = g_new0(VbDnsmasqLease, 1);
    l->iface = g_strdup(cfg->bridge);
    l->expirytime = expiry;
    l->type = v6 ? 1 : 0;
    l->ipaddr = addr_format(&a);
    l->prefix = prefix_for(cfg, &a);
    if (strcmp(f[3], "*") != 0)
        l->hostname = g_strdup(f[3]);
    if (strcmp(f[4], "*") != 0)
        l->clientid = g_strdup(f[4]);
    if (v6) {
        l->iaid = g_strdup(f[1][0] == 'T' ? f[1] + 1 : f[1]);
        l->mac = mac_from_duid(l->clientid);
    } else {
        l->mac = g_ascii_strdown(f[1], -1);
    }
    return l;
}

/**
 * vb_dnsmasq_leases_parse:
 * @cfg: the network's configuration (bridge name, subnet prefixes)
 * @text: the content of dnsmasq's lease file
 * @mac: (nullable): only the leases of this MAC (any case)
 * @now: the current time (seconds since the epoch); leases that expired
 *   before it are left out, as libvirt does; 0 keeps them all
 *
 * Parses dnsmasq's lease file: IPv4 lines `EXPIRY MAC IP HOSTNAME CLIENTID`,
 * a `duid SERVERDUID` line, then IPv6 lines `EXPIRY [T]IAID IP HOSTNAME DUID`
 * (`*` for none). Lines it cannot read are skipped.
 *
 * Returns: (transfer full) (element-type VbDnsmasqLease): the leases.
 */
GPtrArray *
vb_dnsmasq_leases_parse(const VbDnsmasqConfig *cfg, const char *text, const char *mac, gint64 now)
{
    GPtrArray *out = g_ptr_array_new_with_free_func((GDestroyNotify)vb_dnsmasq_lease_free);
    g_auto(GStrv) lines = g_strsplit(text ? text : "", "\n", -1);
    gboolean v6 = FALSE;

    for (guint i = 0; lines[i]; i++) {
        g_auto(GStrv) f = g_strsplit_set(g_strstrip(lines[i]), " \t", -1);
        VbDnsmasqLease *l;

        if (!f[0] || !*f[0])
            continue;
        if (strcmp(f[0], "duid") == 0) {
            v6 = TRUE;
            continue;
        }
        if (g_strv_length(f) < 5 || !(l = lease_from_line(cfg, f, v6)))
            continue;
        if ((now && l->expirytime && l->expirytime < now) ||
            (mac && *mac && (!l->mac || g_ascii_strcasecmp(mac, l->mac) != 0))) {
            vb_dnsmasq_lease_free(l);
            continue;
        }
        g_ptr_array_add(out, l);
    }
    return out;
}

/**
 * vb_dnsmasq_lease_to_variant:
 * @lease: a lease
 *
 * Returns: (transfer floating): an `a{sv}` with libvirt's keys: `iface` s,
 * `expirytime` x, `type` i, `mac` s, `iaid` s, `ipaddr` s, `prefix` u,
 * `hostname` s, `clientid` s (keys of absent values are left out).
 */
GVariant *
vb_dnsmasq_lease_to_variant(const VbDnsmasqLease *lease)
{
    GVariantBuilder b;

    g_variant_builder_init(&b, G_VARIANT_TYPE_VARDICT);
    g_variant_builder_add(&b, "{sv}", "iface", g_variant_new_string(lease->iface));
    g_variant_builder_add(&b, "{sv}", "expirytime", g_variant_new_int64(lease->expirytime));
    g_variant_builder_add(&b, "{sv}", "type", g_variant_new_int32((gint32)lease->type));
    if (lease->mac)
        g_variant_builder_add(&b, "{sv}", "mac", g_variant_new_string(lease->mac));
    if (lease->iaid)
        g_variant_builder_add(&b, "{sv}", "iaid", g_variant_new_string(lease->iaid));
    g_variant_builder_add(&b, "{sv}", "ipaddr", g_variant_new_string(lease->ipaddr));
    g_variant_builder_add(&b, "{sv}", "prefix", g_variant_new_uint32(lease->prefix));
    if (lease->hostname)
        g_variant_builder_add(&b, "{sv}", "hostname", g_variant_new_string(lease->hostname));
    if (lease->clientid)
        g_variant_builder_add(&b, "{sv}", "clientid", g_variant_new_string(lease->clientid));
    return g_variant_builder_end(&b);
}
