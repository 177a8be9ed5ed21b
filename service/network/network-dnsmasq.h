/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/*
 * dnsmasq for one virtual network: its configuration (a plain C struct that
 * the caller maps from the network definition), the files generated from it
 * under a state directory, the dnsmasq child process (watched, restarted,
 * reloaded, stopped, adopted after a service restart) and its DHCP leases.
 *
 * Files under the state directory DIR for network NAME (the names libvirt
 * uses, plus dnsmasq's own lease file and a log):
 *   DIR/NAME.conf       the dnsmasq configuration (--conf-file)
 *   DIR/NAME.hostsfile  dhcp-hostsfile: static DHCP hosts
 *   DIR/NAME.addnhosts  addn-hosts: DNS host entries
 *   DIR/NAME.pid        pid-file (written by dnsmasq)
 *   DIR/NAME.leases     dhcp-leasefile (dnsmasq's own format)
 *   DIR/NAME.log        dnsmasq's log (stderr, appended)
 */

/**
 * VbDnsmasqLeaseUnit:
 * @VB_DNSMASQ_LEASE_DEFAULT: no lease time given (dnsmasq's default, 1 h)
 * @VB_DNSMASQ_LEASE_SECONDS: lease time in seconds
 * @VB_DNSMASQ_LEASE_MINUTES: lease time in minutes
 * @VB_DNSMASQ_LEASE_HOURS: lease time in hours
 *
 * The unit of a `<lease expiry unit>`; written as libvirt does (`30m`,
 * `2h`, `infinite` for an expiry of 0).
 */
typedef enum {
    VB_DNSMASQ_LEASE_DEFAULT,
    VB_DNSMASQ_LEASE_SECONDS,
    VB_DNSMASQ_LEASE_MINUTES,
    VB_DNSMASQ_LEASE_HOURS,
} VbDnsmasqLeaseUnit;

/**
 * VbDnsmasqLeaseTime:
 * @unit: the unit, or %VB_DNSMASQ_LEASE_DEFAULT for none
 * @expiry: the length in @unit; 0 means infinite
 */
typedef struct {
    VbDnsmasqLeaseUnit unit;
    guint64 expiry;
} VbDnsmasqLeaseTime;

/**
 * VbDnsmasqRange:
 * @start: first address of the range
 * @end: last address of the range
 * @lease: lease time of the range
 */
typedef struct {
    char *start;
    char *end;
    VbDnsmasqLeaseTime lease;
} VbDnsmasqRange;

/**
 * VbDnsmasqDhcpHost:
 * @mac: MAC address (IPv4), or %NULL
 * @id: DHCP client id / DUID (IPv6), or %NULL
 * @ip: the fixed address
 * @name: host name, or %NULL
 * @lease: lease time for this host
 *
 * A static DHCP host. IPv4 needs @mac or @name; IPv6 needs @id or @name.
 */
typedef struct {
    char *mac;
    char *id;
    char *ip;
    char *name;
    VbDnsmasqLeaseTime lease;
} VbDnsmasqDhcpHost;

/**
 * VbDnsmasqSubnet:
 * @address: the network's own address on the bridge (the gateway)
 * @prefix: the prefix length (an IPv4 netmask is converted by the caller)
 * @ranges: (element-type VbDnsmasqRange): DHCP ranges
 * @hosts: (element-type VbDnsmasqDhcpHost): static DHCP hosts
 *
 * One `<ip>` of the network. The family is that of @address.
 */
typedef struct {
    char *address;
    guint prefix;
    GPtrArray *ranges;
    GPtrArray *hosts;
} VbDnsmasqSubnet;

/**
 * VbDnsmasqForwarder:
 * @domain: only queries for this domain, or %NULL for all
 * @addr: the server, or %NULL: do not forward queries for @domain
 */
typedef struct {
    char *domain;
    char *addr;
} VbDnsmasqForwarder;

/**
 * VbDnsmasqDnsHost:
 * @ip: the address
 * @names: (array zero-terminated=1): its names
 */
typedef struct {
    char *ip;
    GStrv names;
} VbDnsmasqDnsHost;

/**
 * VbDnsmasqTristate:
 * @VB_DNSMASQ_DEFAULT: not given
 * @VB_DNSMASQ_YES: yes
 * @VB_DNSMASQ_NO: no
 */
typedef enum {
    VB_DNSMASQ_DEFAULT,
    VB_DNSMASQ_YES,
    VB_DNSMASQ_NO,
} VbDnsmasqTristate;

/**
 * VbDnsmasqConfig:
 * @network: the network's name (file names, log lines)
 * @bridge: the bridge dnsmasq serves (interface=)
 * @domain: `<domain name>`, or %NULL
 * @domain_local_only: `<domain localOnly='yes'>`: local=/DOMAIN/
 * @dns_enable: `<dns enable>`; %VB_DNSMASQ_NO: no DNS (port=0)
 * @forward_plain_names: `<dns forwardPlainNames>`; %VB_DNSMASQ_NO adds
 *   domain-needed and local=//
 * @isolated: the network has no `<forward>`: no default route handed out,
 *   no upstream DNS, no IPv6 default route in RAs
 * @forwarders: (element-type VbDnsmasqForwarder): `<dns><forwarder>`
 * @dns_hosts: (element-type VbDnsmasqDnsHost): `<dns><host>`
 * @subnets: (element-type VbDnsmasqSubnet): the `<ip>` elements in order
 * @mtu: `<mtu size>`, 0 for none (DHCP option 26)
 *
 * What dnsmasq needs of a network. Made with vb_dnsmasq_config_new(); the
 * arrays own their elements.
 */
typedef struct {
    char *network;
    char *bridge;
    char *domain;
    gboolean domain_local_only;
    VbDnsmasqTristate dns_enable;
    VbDnsmasqTristate forward_plain_names;
    gboolean isolated;
    GPtrArray *forwarders;
    GPtrArray *dns_hosts;
    GPtrArray *subnets;
    guint mtu;
} VbDnsmasqConfig;

VbDnsmasqConfig *vb_dnsmasq_config_new(const char *network, const char *bridge);
void vb_dnsmasq_config_free(VbDnsmasqConfig *cfg);
VbDnsmasqSubnet *vb_dnsmasq_config_add_subnet(VbDnsmasqConfig *cfg, const char *address,
                                              guint prefix);
VbDnsmasqRange *vb_dnsmasq_subnet_add_range(VbDnsmasqSubnet *subnet, const char *start,
                                            const char *end);
VbDnsmasqDhcpHost *vb_dnsmasq_subnet_add_host(VbDnsmasqSubnet *subnet, const char *mac,
                                              const char *id, const char *ip, const char *name);
void vb_dnsmasq_config_add_forwarder(VbDnsmasqConfig *cfg, const char *domain, const char *addr);
void vb_dnsmasq_config_add_dns_host(VbDnsmasqConfig *cfg, const char *ip, const char *const *names);
VbDnsmasqConfig *vb_dnsmasq_config_copy(const VbDnsmasqConfig *cfg);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VbDnsmasqConfig, vb_dnsmasq_config_free)

gboolean vb_dnsmasq_config_needed(const VbDnsmasqConfig *cfg);
gboolean vb_dnsmasq_config_validate(const VbDnsmasqConfig *cfg, GError **error);

/**
 * VbDnsmasqFiles:
 * @conf: text of DIR/NAME.conf
 * @hostsfile: text of DIR/NAME.hostsfile
 * @addnhosts: text of DIR/NAME.addnhosts
 */
typedef struct {
    char *conf;
    char *hostsfile;
    char *addnhosts;
} VbDnsmasqFiles;

void vb_dnsmasq_files_free(VbDnsmasqFiles *files);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VbDnsmasqFiles, vb_dnsmasq_files_free)

VbDnsmasqFiles *vb_dnsmasq_config_generate(const VbDnsmasqConfig *cfg, const char *state_dir,
                                           GError **error);
char *vb_dnsmasq_path(const char *state_dir, const char *network, const char *suffix);

/**
 * VbDnsmasqLease:
 * @iface: the bridge
 * @expirytime: seconds since the epoch when the lease ends (0: never)
 * @type: 0 IPv4, 1 IPv6 (libvirt's VIR_IP_ADDR_TYPE_*)
 * @mac: MAC address (IPv6: taken from a link-layer DUID), or %NULL
 * @iaid: IPv6 IAID, or %NULL
 * @ipaddr: the address
 * @prefix: the prefix of the subnet the address is in (0 if none matches)
 * @hostname: the client's host name, or %NULL
 * @clientid: DHCP client id (IPv4) or DUID (IPv6), or %NULL
 *
 * One DHCP lease with libvirt's virNetworkDHCPLease fields.
 */
typedef struct {
    char *iface;
    gint64 expirytime;
    guint type;
    char *mac;
    char *iaid;
    char *ipaddr;
    guint prefix;
    char *hostname;
    char *clientid;
} VbDnsmasqLease;

void vb_dnsmasq_lease_free(VbDnsmasqLease *lease);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VbDnsmasqLease, vb_dnsmasq_lease_free)
GPtrArray *vb_dnsmasq_leases_parse(const VbDnsmasqConfig *cfg, const char *text, const char *mac,
                                   gint64 now);
GVariant *vb_dnsmasq_lease_to_variant(const VbDnsmasqLease *lease);

/* ---- the dnsmasq process ---- */

typedef struct _VbDnsmasq VbDnsmasq;

VbDnsmasq *vb_dnsmasq_new(const VbDnsmasqConfig *cfg, const char *state_dir, GMainContext *context);
void vb_dnsmasq_free(VbDnsmasq *dm);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VbDnsmasq, vb_dnsmasq_free)

void vb_dnsmasq_set_binary(VbDnsmasq *dm, const char *path);
gboolean vb_dnsmasq_start(VbDnsmasq *dm, GError **error);
gboolean vb_dnsmasq_update(VbDnsmasq *dm, const VbDnsmasqConfig *cfg, GError **error);
gboolean vb_dnsmasq_stop(VbDnsmasq *dm, GError **error);
GPid vb_dnsmasq_get_pid(VbDnsmasq *dm);
guint vb_dnsmasq_get_restarts(VbDnsmasq *dm);
gboolean vb_dnsmasq_get_adopted(VbDnsmasq *dm);
GPtrArray *vb_dnsmasq_get_leases(VbDnsmasq *dm, const char *mac, GError **error);

G_END_DECLS
