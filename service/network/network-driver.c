/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/socket.h>

#include "netdev-ip.h"
#include "netdev-link.h"
#include "netdev-nft.h"
#include "network-driver.h"
#include "store.h"
#include "vb-error.h"

/*
 * The virtual network driver: bridge, addresses, nft chains, forwarding,
 * dnsmasq and status file of each running network (network-driver.h).
 */

typedef struct {
    char *name;
    VbDnsmasq *dm; /* nullable: the network needs no dnsmasq */
} Run;

struct _VbNetworkDriver {
    const VbPaths *paths;
    GMainContext *context;
    GMutex lock;
    GHashTable *runs; /* under lock: name -> Run* */
};

static void
run_free(gpointer p)
{
    Run *run = p;

    /* leaves a running dnsmasq running (the service never ends it on exit) */
    vb_dnsmasq_free(run->dm);
    g_free(run->name);
    g_free(run);
}

/**
 * vb_network_driver_new:
 * @paths: the service's directories (network_run_dir, dnsmasq_dir), kept
 * @context: the main context that watches the dnsmasq children
 *
 * Returns: (transfer full): the driver; nothing runs yet.
 */
VbNetworkDriver *
vb_network_driver_new(const VbPaths *paths, GMainContext *context)
{
    VbNetworkDriver *drv = g_new0(VbNetworkDriver, 1);

    drv->paths = paths;
    drv->context = g_main_context_ref(context);
    g_mutex_init(&drv->lock);
    drv->runs = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, run_free);
    return drv;
}

/**
 * vb_network_driver_free:
 * @drv: (nullable): a driver
 *
 * Drops the driver. Running networks (bridges, dnsmasq, nft chains) stay:
 * the next service takes them back (vb_network_driver_reconnect()).
 */
void
vb_network_driver_free(VbNetworkDriver *drv)
{
    if (drv == NULL)
        return;
    g_hash_table_destroy(drv->runs);
    g_mutex_clear(&drv->lock);
    g_main_context_unref(drv->context);
    g_free(drv);
}

/* ---- what a definition asks for ---- */

static gboolean
makes_bridge(const VbNetworkDef *def)
{
    return vb_network_def_has_bridge(def);
}

static VbNetdevFwMode
fw_mode(const VbNetworkDef *def)
{
    if (!def->forward_present)
        return VB_NETDEV_FW_ISOLATED;
    switch (def->forward_mode) {
    case VB_NETWORK_FORWARD_NAT:
        return VB_NETDEV_FW_NAT;
    case VB_NETWORK_FORWARD_ROUTE:
        return VB_NETDEV_FW_ROUTE;
    default:
        return VB_NETDEV_FW_OPEN;
    }
}

static gboolean
has_ipv6(const VbNetworkDef *def)
{
    for (guint i = 0; i < def->ips->len; i++) {
        const VbNetworkIp *ip = g_ptr_array_index(def->ips, i);

        if (ip->family == AF_INET6)
            return TRUE;
    }
    return FALSE;
}

static char *
ip_prefix_string(const VbNetworkIp *ip)
{
    return g_strdup_printf("%s/%u", ip->address, vb_network_ip_prefix(ip));
}

static VbDnsmasqLeaseTime
lease_time(const VbNetworkLease *l)
{
    VbDnsmasqLeaseTime t = { VB_DNSMASQ_LEASE_DEFAULT, 0 };

    if (!l->present)
        return t;
    t.expiry = l->expiry;
    if (g_strcmp0(l->unit, "seconds") == 0)
        t.unit = VB_DNSMASQ_LEASE_SECONDS;
    else if (g_strcmp0(l->unit, "hours") == 0)
        t.unit = VB_DNSMASQ_LEASE_HOURS;
    else
        t.unit = VB_DNSMASQ_LEASE_MINUTES;
    return t;
}

static VbDnsmasqTristate
tristate(int v)
{
    return v < 0 ? VB_DNSMASQ_DEFAULT : v ? VB_DNSMASQ_YES : VB_DNSMASQ_NO;
}

/**
 * vb_network_dnsmasq_name:
 * @name: a network's name
 *
 * The name of a network's dnsmasq files: @name itself (libvirt's) when it
 * has only letters, digits, '-', '_' and '.' (not first); otherwise every
 * other byte (and a leading '.') written as `_xx` (hex), so that a libvirt name
 * such as `default"with"quotes` still gets files of its own.
 *
 * Returns: (transfer full): the name.
 */
char *
vb_network_dnsmasq_name(const char *name)
{
    GString *out = g_string_new(NULL);

    for (const char *p = name; *p != '\0'; p++) {
        if (g_ascii_isalnum(*p) || *p == '-' || *p == '_' || (*p == '.' && p != name))
            g_string_append_c(out, *p);
        else
            g_string_append_printf(out, "_%02x", (guchar)*p);
    }
    return g_string_free(out, FALSE);
}

/**
 * vb_network_dnsmasq_config:
 * @def: a running definition (bridge name filled in)
 *
 * Maps a network definition to what dnsmasq needs: the `<ip>` subnets with
 * their DHCP ranges and hosts (lease times), `<dns>` (enable,
 * forwardPlainNames, forwarders, hosts), `<domain>`, `<mtu>`; a network
 * without `<forward>` is isolated.
 *
 * Returns: (transfer full): the configuration.
 */
VbDnsmasqConfig *
vb_network_dnsmasq_config(const VbNetworkDef *def)
{
    g_autofree char *file_name = vb_network_dnsmasq_name(def->name);
    VbDnsmasqConfig *cfg = vb_dnsmasq_config_new(file_name, def->bridge);
    const char *fpn = vb_network_kept_attr(def->dns_kept, "forwardPlainNames");

    g_free(cfg->domain);
    cfg->domain = g_strdup(def->domain);
    cfg->domain_local_only = def->domain_local_only == 1;
    cfg->dns_enable = tristate(def->dns_enable);
    if (fpn != NULL)
        cfg->forward_plain_names = strcmp(fpn, "yes") == 0 ? VB_DNSMASQ_YES : VB_DNSMASQ_NO;
    cfg->isolated = !def->forward_present;
    cfg->mtu = def->mtu;
    for (guint i = 0; def->dns_forwarders != NULL && i < def->dns_forwarders->len; i++) {
        const VbNetworkDnsForwarder *f = g_ptr_array_index(def->dns_forwarders, i);

        vb_dnsmasq_config_add_forwarder(cfg, f->domain, f->addr);
    }
    for (guint i = 0; def->dns_hosts != NULL && i < def->dns_hosts->len; i++) {
        const VbNetworkDnsHost *h = g_ptr_array_index(def->dns_hosts, i);
        g_autoptr(GPtrArray) names = g_ptr_array_new();

        if (h->ip == NULL)
            continue;
        for (guint j = 0; h->names != NULL && j < h->names->len; j++)
            g_ptr_array_add(names, g_ptr_array_index(h->names, j));
        g_ptr_array_add(names, NULL);
        vb_dnsmasq_config_add_dns_host(cfg, h->ip, (const char *const *)names->pdata);
    }
    for (guint i = 0; i < def->ips->len; i++) {
        const VbNetworkIp *ip = g_ptr_array_index(def->ips, i);
        VbDnsmasqSubnet *s = vb_dnsmasq_config_add_subnet(cfg, ip->address,
                                                          vb_network_ip_prefix(ip));

        for (guint j = 0; ip->ranges != NULL && j < ip->ranges->len; j++) {
            const VbNetworkDhcpRange *r = g_ptr_array_index(ip->ranges, j);
            VbDnsmasqRange *dr = vb_dnsmasq_subnet_add_range(s, r->start, r->end);

            dr->lease = lease_time(&r->lease);
        }
        for (guint j = 0; ip->hosts != NULL && j < ip->hosts->len; j++) {
            const VbNetworkDhcpHost *h = g_ptr_array_index(ip->hosts, j);
            VbDnsmasqDhcpHost *dh;

            if (h->ip == NULL)
                continue;
            dh = vb_dnsmasq_subnet_add_host(s, h->mac, h->id, h->ip, h->name);
            dh->lease = lease_time(&h->lease);
        }
    }
    return cfg;
}

/* libvirt runs no dnsmasq for a network without addresses */
static gboolean
needs_dnsmasq(const VbNetworkDef *def, const VbDnsmasqConfig *cfg)
{
    return makes_bridge(def) && def->ips->len > 0 && vb_dnsmasq_config_needed(cfg);
}

/* ---- clashes ---- */

/**
 * vb_network_driver_host_subnets:
 *
 * The subnets the host (the service's network namespace) uses: the
 * prefixes of its routes (default routes left out) and of its addresses.
 *
 * Returns: (transfer full): NULL-terminated "ADDRESS/PREFIX" strings.
 */
char **
vb_network_driver_host_subnets(void)
{
    g_autoptr(GPtrArray) out = g_ptr_array_new_with_free_func(g_free);
    static const int families[] = { AF_INET, AF_INET6 };

    for (guint f = 0; f < G_N_ELEMENTS(families); f++) {
        g_autoptr(GArray) routes = vb_netdev_route_list(families[f], NULL);
        g_autoptr(GArray) addrs = vb_netdev_addr_list(families[f], NULL);

        for (guint i = 0; routes != NULL && i < routes->len; i++) {
            const VbNetdevRoute *r = &g_array_index(routes, VbNetdevRoute, i);

            if (r->dest.prefix > 0 && r->table == 254)
                g_ptr_array_add(out, vb_netdev_prefix_to_string(&r->dest));
        }
        for (guint i = 0; addrs != NULL && i < addrs->len; i++) {
            const VbNetdevAddr *a = &g_array_index(addrs, VbNetdevAddr, i);

            g_ptr_array_add(out, vb_netdev_prefix_to_string(&a->addr));
        }
    }
    g_ptr_array_add(out, NULL);
    return (char **)g_ptr_array_free(g_steal_pointer(&out), FALSE);
}

/**
 * vb_network_driver_check:
 * @def: the definition to start (bridge name filled in)
 * @active_subnets: (nullable): NULL-terminated "ADDRESS/PREFIX" strings of
 *   the other running networks
 * @error: %VB_ERROR_EXISTS naming the bridge, network, route or address in
 *   the way
 *
 * What must not be there before a network starts: a link with the name of
 * its bridge, a running network or a route or address of the host whose
 * subnet overlaps one of the network's. Nothing is changed.
 *
 * Returns: %TRUE when the network can start.
 */
gboolean
vb_network_driver_check(VbNetworkDriver *drv, const VbNetworkDef *def,
                        const char *const *active_subnets, GError **error)
{
    g_autofree char *clash = NULL;

    (void)drv;
    if (!makes_bridge(def))
        return TRUE;
    if (def->bridge == NULL) {
        g_set_error(error, VB_ERROR, VB_ERROR_INTERNAL, "network '%s' has no bridge name",
                    def->name);
        return FALSE;
    }
    if (vb_netdev_link_exists(def->bridge)) {
        g_set_error(error, VB_ERROR, VB_ERROR_EXISTS,
                    "cannot start network '%s': a network device named '%s' already exists "
                    "on the host; choose another <bridge name=> or remove that device",
                    def->name, def->bridge);
        return FALSE;
    }
    if (active_subnets != NULL && vb_network_def_overlaps(def, active_subnets, &clash)) {
        g_set_error(error, VB_ERROR, VB_ERROR_EXISTS,
                    "cannot start network '%s': its subnet %s of another running network; "
                    "choose another <ip address=>", def->name, clash);
        return FALSE;
    }
    for (guint i = 0; i < def->ips->len; i++) {
        const VbNetworkIp *ip = g_ptr_array_index(def->ips, i);
        g_autofree char *str = ip_prefix_string(ip);
        VbNetdevPrefix p;

        if (!vb_netdev_prefix_parse(str, &p, error) ||
            !vb_netdev_subnet_check_free(&p, NULL, error)) {
            g_prefix_error(error, "cannot start network '%s': ", def->name);
            return FALSE;
        }
    }
    return TRUE;
}

/* ---- status file ---- */

static char *
status_path(VbNetworkDriver *drv, const char *name)
{
    g_autofree char *file = g_strconcat(name, ".xml", NULL);

    return g_build_filename(drv->paths->network_run_dir, file, NULL);
}

/* @starting: written before anything is made, so that a service that dies
 * in the middle of a start leaves a record of what to clean up */
static gboolean
write_status(VbNetworkDriver *drv, const VbNetworkDef *live, GPid pid, gboolean starting,
             GError **error)
{
    g_autofree char *path = status_path(drv, live->name);
    g_autofree char *xml = vb_network_def_format(live);
    g_autofree char *text = g_strdup_printf("<networkstatus%s>\n  <dnsmasq pid='%d'/>\n%s"
                                            "</networkstatus>\n",
                                            starting ? " state='starting'" : "", (int)pid, xml);

    if (g_mkdir_with_parents(drv->paths->network_run_dir, 0755) < 0) {
        int e = errno;

        g_set_error(error, VB_ERROR, VB_ERROR_IO, "cannot create '%s': %s",
                    drv->paths->network_run_dir, g_strerror(e));
        return FALSE;
    }
    return vb_store_write_atomic(path, text, -1, 0600, error);
}

/* The running definition in a status file, or NULL (logged). */
static VbNetworkDef *
read_status(const char *path, const char *text, gboolean *out_starting)
{
    const char *start = strstr(text, "\n<network");
    const char *end = g_strrstr(text, "</networkstatus>");
    g_autofree char *xml = NULL;
    g_autoptr(GError) error = NULL;
    VbNetworkDef *def;

    *out_starting = g_str_has_prefix(text, "<networkstatus state='starting'>");
    if ((!g_str_has_prefix(text, "<networkstatus>") && !*out_starting) || start == NULL ||
        end == NULL || end < start) {
        g_warning("ignoring network status file '%s': not a <networkstatus>", path);
        return NULL;
    }
    xml = g_strndup(start + 1, end - start - 1);
    def = vb_network_def_parse_string(xml, &error);
    if (def == NULL)
        g_warning("ignoring network status file '%s': %s", path, error->message);
    return def;
}

/* ---- start and stop ---- */

static VbNetdevFirewall *
firewall_new(const VbNetworkDef *def, gboolean dhcp_dns, GArray *subnets)
{
    VbNetdevFirewall *fw = g_new0(VbNetdevFirewall, 1);

    for (guint i = 0; i < def->ips->len; i++) {
        g_autofree char *s = ip_prefix_string(g_ptr_array_index(def->ips, i));
        VbNetdevPrefix p;

        if (vb_netdev_prefix_parse(s, &p, NULL))
            g_array_append_val(subnets, p);
    }
    fw->bridge = def->bridge;
    fw->mode = fw_mode(def);
    fw->subnets = (const VbNetdevPrefix *)(void *)subnets->data;
    fw->n_subnets = subnets->len;
    fw->forward_dev = def->forward_dev;
    fw->nat_port_start = def->nat_port_start;
    fw->nat_port_end = def->nat_port_end;
    fw->nat_addr_start = def->nat_addr_start;
    fw->nat_addr_end = def->nat_addr_end;
    fw->nat_ipv6 = def->nat_ipv6 == 1;
    fw->dhcp_dns = dhcp_dns;
    return fw;
}

static gboolean
add_firewall(const VbNetworkDef *def, gboolean dhcp_dns, GError **error)
{
    g_autoptr(GArray) subnets = g_array_new(FALSE, TRUE, sizeof(VbNetdevPrefix));
    g_autofree VbNetdevFirewall *fw = firewall_new(def, dhcp_dns, subnets);

    if (fw->mode == VB_NETDEV_FW_OPEN)
        return TRUE;
    return vb_netdev_nft_add(def->name, fw, error);
}

static void
warn_unless(gboolean ok, GError *error, const char *what, const char *name)
{
    if (!ok)
        g_warning("network '%s': %s: %s", name, what, error != NULL ? error->message : "?");
}

/* Undoes what start made, as far as it got; logs what fails. */
static void
teardown(VbNetworkDriver *drv, const VbNetworkDef *def, VbDnsmasq *dm, gboolean firewall,
         gboolean bridge)
{
    g_autoptr(GError) e1 = NULL;
    g_autoptr(GError) e2 = NULL;

    (void)drv;
    if (dm != NULL)
        vb_dnsmasq_stop(dm, NULL);
    if (firewall)
        warn_unless(vb_netdev_nft_remove(def->name, &e1), e1, "removing its nft chains",
                    def->name);
    if (bridge && vb_netdev_link_exists(def->bridge))
        warn_unless(vb_netdev_bridge_delete(def->bridge, &e2), e2, "removing its bridge",
                    def->name);
}

/* "ADDRESS/PREFIX" of a <route>: prefix=, else the netmask's length */
static char *
route_dest(const char *address, const char *prefix, const char *netmask)
{
    guint len = 0;

    if (prefix != NULL) {
        guint64 v;

        if (!g_ascii_string_to_unsigned(prefix, 10, 0, 128, &v, NULL))
            return NULL;
        len = (guint)v;
    } else if (netmask != NULL) {
        VbNetdevPrefix m;
        g_autofree char *s = g_strdup_printf("%s/32", netmask);

        if (!vb_netdev_prefix_parse(s, &m, NULL) || m.family != AF_INET)
            return NULL;
        for (guint i = 0; i < 4; i++)
            for (guint b = 0; b < 8; b++)
                len += (m.addr[i] >> (7 - b)) & 1;
    } else {
        len = strchr(address, ':') != NULL ? 128 : 32;
    }
    return g_strdup_printf("%s/%u", address, len);
}

/* libvirt's networkAddRouteToBridge: each <route address prefix|netmask
 * gateway> as a static route through the bridge */
static gboolean
add_routes(const VbNetworkDef *def, GError **error)
{
    g_autoptr(GPtrArray) addrs = vb_network_kept_child_attr(def->kept, "route", "address");
    g_autoptr(GPtrArray) prefixes = vb_network_kept_child_attr(def->kept, "route", "prefix");
    g_autoptr(GPtrArray) masks = vb_network_kept_child_attr(def->kept, "route", "netmask");
    g_autoptr(GPtrArray) gws = vb_network_kept_child_attr(def->kept, "route", "gateway");

    for (guint i = 0; i < addrs->len; i++) {
        const char *addr = addrs->pdata[i];
        const char *gw = gws->pdata[i];
        g_autofree char *dest = addr != NULL ? route_dest(addr, prefixes->pdata[i],
                                                         masks->pdata[i])
                                             : NULL;

        if (dest == NULL || gw == NULL) {
            g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                        "<route> %u of network '%s' needs address=, gateway= and a valid "
                        "prefix= or netmask=", i + 1, def->name);
            return FALSE;
        }
        if (!vb_netdev_route_add(def->bridge, dest, gw, error)) {
            g_prefix_error(error, "<route address='%s' gateway='%s'>: ", addr, gw);
            return FALSE;
        }
    }
    return TRUE;
}

/* @out_made: set once the bridge exists (from then on a failure must delete it) */
static gboolean
make_bridge(const VbNetworkDef *def, gboolean *out_made, GError **error)
{
    VbNetdevBridgeOptions opts = { 0 };
    guint8 mac[VB_NETDEV_MAC_LEN];
    gboolean v6 = has_ipv6(def);

    opts.stp = def->stp_given ? def->stp : TRUE;
    opts.delay = (guint)def->delay;
    opts.mtu = def->mtu;
    if (def->mac != NULL && vb_netdev_mac_parse(def->mac, mac))
        opts.mac = mac;
    if (!vb_netdev_bridge_create(def->bridge, &opts, error))
        return FALSE;
    *out_made = TRUE;
    if (!vb_netdev_ipv6_sysctls(def->bridge, v6, error))
        return FALSE;
    for (guint i = 0; i < def->ips->len; i++) {
        g_autofree char *addr = ip_prefix_string(g_ptr_array_index(def->ips, i));

        if (!vb_netdev_addr_add(def->bridge, addr, error))
            return FALSE;
    }
    if (!vb_netdev_link_set_up(def->bridge, TRUE, error))
        return FALSE;
    if (v6) {
        g_autoptr(GError) local = NULL;

        /* a bridge without ports has no carrier: its IPv6 addresses may stay
         * tentative; dnsmasq (bind-dynamic) binds them once they are usable */
        if (!vb_netdev_addr_wait_dad(def->bridge, 2000, &local))
            g_info("network '%s': %s", def->name, local->message);
    }
    /* routes through the bridge: after its addresses (the gateway is on a subnet of it) */
    return add_routes(def, error);
}

static gboolean
has_kept(const VbNetKept *kept, const char *element)
{
    g_autoptr(GPtrArray) v = vb_network_kept_child_attr(kept, element, "-");

    return v->len > 0;
}

/* What a running network keeps in its XML but does not act on: logged once
 * per start (docs/networks.md lists them). */
static void
log_not_acted_on(const VbNetworkDef *def)
{
    g_autoptr(GString) what = g_string_new(NULL);

    if (has_kept(def->kept, "bandwidth"))
        g_string_append(what, " <bandwidth>");
    if (has_kept(def->dns_kept, "txt"))
        g_string_append(what, " <dns><txt>");
    if (has_kept(def->dns_kept, "srv"))
        g_string_append(what, " <dns><srv>");
    for (guint i = 0; i < def->ips->len; i++) {
        const VbNetworkIp *ip = g_ptr_array_index(def->ips, i);

        if (has_kept(ip->kept, "tftp") && strstr(what->str, "<tftp>") == NULL)
            g_string_append(what, " <ip><tftp>");
        if (has_kept(ip->dhcp_kept, "bootp") && strstr(what->str, "<bootp>") == NULL)
            g_string_append(what, " <dhcp><bootp>");
        if (ip->local_ptr == 1 && strstr(what->str, "localPtr") == NULL)
            g_string_append(what, " <ip localPtr='yes'>");
    }
    if (what->len > 0)
        g_message("network '%s': kept in its XML but not acted on:%s", def->name, what->str);
}

/**
 * vb_network_driver_start:
 * @live: the running definition (bridge name and MAC filled in); checked
 *   with vb_network_driver_check() first
 * @error: names the step that failed
 *
 * Makes the network, in this order: the bridge (STP, delay, MAC, MTU), its
 * IPv6 settings, its addresses, the bridge up; the nft chains; IP
 * forwarding (nat, route); dnsmasq; the status file. A step that fails
 * undoes the ones before it: nothing is left.
 *
 * Returns: %TRUE when the network runs.
 */
gboolean
vb_network_driver_start(VbNetworkDriver *drv, const VbNetworkDef *live, GError **error)
{
    g_autoptr(VbDnsmasqConfig) cfg = NULL;
    g_autoptr(VbDnsmasq) dm = NULL;
    gboolean bridge = FALSE, firewall = FALSE;
    Run *run;

    if (makes_bridge(live)) {
        VbNetdevFwMode mode = fw_mode(live);

        log_not_acted_on(live);
        cfg = vb_network_dnsmasq_config(live);
        if (!needs_dnsmasq(live, cfg))
            g_clear_pointer(&cfg, vb_dnsmasq_config_free);
        /* refuse a configuration dnsmasq would not take before anything is made */
        if (cfg != NULL && !vb_dnsmasq_config_validate(cfg, error))
            return FALSE;
        if (!write_status(drv, live, 0, TRUE, error)) {
            g_prefix_error(error, "cannot write the status of network '%s': ", live->name);
            return FALSE;
        }
        if (!make_bridge(live, &bridge, error)) {
            g_prefix_error(error, "cannot make bridge '%s' of network '%s': ", live->bridge,
                           live->name);
            goto fail;
        }
        firewall = mode != VB_NETDEV_FW_OPEN;
        if (!add_firewall(live, cfg != NULL, error)) {
            g_prefix_error(error, "cannot add the nft chains of network '%s': ", live->name);
            goto fail;
        }
        if ((mode == VB_NETDEV_FW_NAT || mode == VB_NETDEV_FW_ROUTE) && live->ips->len > 0 &&
            !vb_netdev_ip_forward_enable(has_ipv6(live), error)) {
            g_prefix_error(error, "cannot enable IP forwarding for network '%s': ", live->name);
            goto fail;
        }
        if (cfg != NULL) {
            dm = vb_dnsmasq_new(cfg, drv->paths->dnsmasq_dir, drv->context);
            if (!vb_dnsmasq_start(dm, error)) {
                g_prefix_error(error, "cannot start dnsmasq for network '%s': ", live->name);
                goto fail;
            }
        }
    }
    if (!write_status(drv, live, dm != NULL ? vb_dnsmasq_get_pid(dm) : 0, FALSE, error)) {
        g_prefix_error(error, "cannot write the status of network '%s': ", live->name);
        goto fail;
    }
    run = g_new0(Run, 1);
    run->name = g_strdup(live->name);
    run->dm = g_steal_pointer(&dm);
    g_mutex_lock(&drv->lock);
    g_hash_table_replace(drv->runs, run->name, run);
    g_mutex_unlock(&drv->lock);
    g_message("network '%s' started%s%s", live->name, live->bridge != NULL ? " on bridge " : "",
              live->bridge != NULL ? live->bridge : "");
    return TRUE;

fail:
    teardown(drv, live, dm, firewall, bridge);
    {
        g_autofree char *path = status_path(drv, live->name);

        g_unlink(path);
    }
    return FALSE;
}

/**
 * vb_network_driver_stop:
 * @live: the running definition
 *
 * Ends dnsmasq, removes the nft chains (the table with the last network's),
 * the bridge with its addresses and the status file. What fails is logged
 * and the rest still goes.
 *
 * Returns: %TRUE.
 */
gboolean
vb_network_driver_stop(VbNetworkDriver *drv, const VbNetworkDef *live, GError **error)
{
    g_autofree char *path = status_path(drv, live->name);
    g_autoptr(GError) local = NULL;
    Run *run;
    VbDnsmasq *dm = NULL;

    (void)error;
    g_mutex_lock(&drv->lock);
    run = g_hash_table_lookup(drv->runs, live->name);
    if (run != NULL)
        dm = g_steal_pointer(&run->dm);
    g_hash_table_remove(drv->runs, live->name);
    g_mutex_unlock(&drv->lock);
    if (makes_bridge(live))
        teardown(drv, live, dm, fw_mode(live) != VB_NETDEV_FW_OPEN, TRUE);
    else if (dm != NULL)
        vb_dnsmasq_stop(dm, NULL);
    vb_dnsmasq_free(dm);
    warn_unless(vb_store_remove(path, &local), local, "removing its status file", live->name);
    g_message("network '%s' stopped", live->name);
    return TRUE;
}

/**
 * vb_network_driver_update:
 * @live: the changed running definition (DHCP hosts, DNS hosts)
 *
 * Rewrites dnsmasq's hosts files and makes it re-read them (SIGHUP; a
 * changed conf file restarts it), starts dnsmasq when the network did not
 * need it before, and rewrites the status file.
 *
 * Returns: %TRUE on success.
 */
gboolean
vb_network_driver_update(VbNetworkDriver *drv, const VbNetworkDef *live, GError **error)
{
    g_autoptr(VbDnsmasqConfig) cfg = vb_network_dnsmasq_config(live);
    VbDnsmasq *dm = NULL;
    gboolean need = needs_dnsmasq(live, cfg);
    Run *run;

    if (!vb_dnsmasq_config_validate(cfg, error))
        return FALSE;
    g_mutex_lock(&drv->lock);
    run = g_hash_table_lookup(drv->runs, live->name);
    if (run == NULL) {
        g_mutex_unlock(&drv->lock);
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_STATE, "network '%s' is not running",
                    live->name);
        return FALSE;
    }
    dm = run->dm;
    g_mutex_unlock(&drv->lock);
    /* the caller serializes calls for one network: run->dm stays */
    if (dm != NULL) {
        if (!vb_dnsmasq_update(dm, cfg, error))
            return FALSE;
    } else if (need) {
        g_autoptr(VbDnsmasq) fresh = vb_dnsmasq_new(cfg, drv->paths->dnsmasq_dir,
                                                    drv->context);

        if (!vb_dnsmasq_start(fresh, error))
            return FALSE;
        g_mutex_lock(&drv->lock);
        run->dm = g_steal_pointer(&fresh);
        dm = run->dm;
        g_mutex_unlock(&drv->lock);
    }
    return write_status(drv, live, dm != NULL ? vb_dnsmasq_get_pid(dm) : 0, FALSE, error);
}

/* A start the previous service did not finish (it died): remove what it made. */
static void
undo_start(VbNetworkDriver *drv, const VbNetworkDef *def, const char *status)
{
    g_autoptr(VbDnsmasqConfig) cfg = vb_network_dnsmasq_config(def);
    g_autofree char *pid_file = vb_dnsmasq_path(drv->paths->dnsmasq_dir, cfg->network, "pid");
    g_autoptr(VbDnsmasq) dm = NULL;

    g_message("network '%s' was being started when the service ended: removing what was "
              "made", def->name);
    if (g_file_test(pid_file, G_FILE_TEST_EXISTS)) {
        /* adopts the dnsmasq it names (when ours), then ends it */
        dm = vb_dnsmasq_new(cfg, drv->paths->dnsmasq_dir, drv->context);
        if (!vb_dnsmasq_start(dm, NULL))
            g_clear_pointer(&dm, vb_dnsmasq_free);
    }
    if (makes_bridge(def) && def->bridge != NULL)
        teardown(drv, def, dm, fw_mode(def) != VB_NETDEV_FW_OPEN,
                 vb_netdev_link_exists(def->bridge));
    else if (dm != NULL)
        vb_dnsmasq_stop(dm, NULL);
    g_unlink(status);
}

/**
 * vb_network_driver_reconnect:
 *
 * At service start: takes back the networks the status files name. A
 * network whose bridge is gone has its status file removed (nothing else
 * touched). For the others the nft chains are added again (a replace) and
 * dnsmasq adopted when it still runs with the same configuration, else
 * started again. Blocks (dnsmasq start); main thread before the bus name is
 * owned.
 *
 * Returns: (transfer full) (element-type VbNetworkDef): the running
 *   definitions taken back.
 */
GPtrArray *
vb_network_driver_reconnect(VbNetworkDriver *drv)
{
    GPtrArray *out = g_ptr_array_new_with_free_func((GDestroyNotify)vb_network_def_free);
    g_autoptr(GError) error = NULL;
    g_autoptr(GPtrArray) entries = NULL;

    if (!g_file_test(drv->paths->network_run_dir, G_FILE_TEST_IS_DIR))
        return out;
    vb_store_remove_stale_temps(drv->paths->network_run_dir);
    entries = vb_store_read_dir(drv->paths->network_run_dir, ".xml", &error);
    if (entries == NULL) {
        g_warning("cannot read network status files: %s", error->message);
        return out;
    }
    for (guint i = 0; i < entries->len; i++) {
        VbStoreEntry *e = entries->pdata[i];
        gboolean starting = FALSE;
        g_autoptr(VbNetworkDef) def = read_status(e->path, e->contents, &starting);
        g_autoptr(VbDnsmasqConfig) cfg = NULL;
        g_autoptr(VbDnsmasq) dm = NULL;
        g_autoptr(GError) err = NULL;
        Run *run;

        if (def == NULL)
            continue;
        if (starting) {
            undo_start(drv, def, e->path);
            continue;
        }
        if (makes_bridge(def)) {
            if (def->bridge == NULL || !vb_netdev_link_exists(def->bridge)) {
                g_message("network '%s' is no longer running: its bridge '%s' is gone",
                          def->name, def->bridge != NULL ? def->bridge : "?");
                g_unlink(e->path);
                continue;
            }
            cfg = vb_network_dnsmasq_config(def);
            /* idempotent: a re-add replaces the chains in one transaction */
            if (!add_firewall(def, needs_dnsmasq(def, cfg), &err)) {
                g_warning("network '%s': cannot add its nft chains again: %s", def->name,
                          err->message);
                g_clear_error(&err);
            }
            if (needs_dnsmasq(def, cfg)) {
                dm = vb_dnsmasq_new(cfg, drv->paths->dnsmasq_dir, drv->context);
                if (!vb_dnsmasq_start(dm, &err)) {
                    g_warning("network '%s': dnsmasq does not run: %s", def->name,
                              err->message);
                    g_clear_error(&err);
                }
            }
        }
        run = g_new0(Run, 1);
        run->name = g_strdup(def->name);
        run->dm = g_steal_pointer(&dm);
        g_mutex_lock(&drv->lock);
        g_hash_table_replace(drv->runs, run->name, run);
        g_mutex_unlock(&drv->lock);
        g_message("network '%s' is running: taken back", def->name);
        g_ptr_array_add(out, g_steal_pointer(&def));
    }
    return out;
}

/**
 * vb_network_driver_get_leases:
 * @name: a running network
 * @mac: (nullable): only the leases of this MAC
 *
 * Returns: (transfer full) (element-type VbDnsmasqLease): dnsmasq's leases
 *   (none when the network has no dnsmasq), or %NULL on a read error.
 */
GPtrArray *
vb_network_driver_get_leases(VbNetworkDriver *drv, const char *name, const char *mac,
                             GError **error)
{
    Run *run;
    GPtrArray *leases;

    /* held while the (small, local) lease file is read: a stop cannot free
     * the handle meanwhile */
    g_mutex_lock(&drv->lock);
    run = g_hash_table_lookup(drv->runs, name);
    if (run == NULL || run->dm == NULL)
        leases = g_ptr_array_new_with_free_func((GDestroyNotify)vb_dnsmasq_lease_free);
    else
        leases = vb_dnsmasq_get_leases(run->dm, mac, error);
    g_mutex_unlock(&drv->lock);
    return leases;
}

/**
 * vb_network_driver_get_dnsmasq_pid:
 *
 * Returns: the pid of the running network @name's dnsmasq, 0 when none.
 */
GPid
vb_network_driver_get_dnsmasq_pid(VbNetworkDriver *drv, const char *name)
{
    Run *run;
    GPid pid = 0;

    g_mutex_lock(&drv->lock);
    run = g_hash_table_lookup(drv->runs, name);
    if (run != NULL && run->dm != NULL)
        pid = vb_dnsmasq_get_pid(run->dm);
    g_mutex_unlock(&drv->lock);
    return pid;
}
