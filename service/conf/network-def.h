/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * libvirt-compatible network XML (issue 12, part "network XML").
 *
 * vb_network_def_parse_string() reads, checks and models a <network>;
 * vb_network_def_format() writes it back in libvirt's order. What a network driver needs is
 * in the typed fields below (read them freely; change them only through the functions of
 * this header, or re-validate with vb_network_def_validate()). Everything else (<metadata>,
 * <bandwidth>, <vlan>, <route>, <virtualport>, <portgroup>, <dns><txt>/<srv>, <tftp>,
 * <bootp>, the hostdev parts of <forward>, namespaced elements such as dnsmasq:options,
 * unknown attributes) is kept verbatim in the opaque @kept members and written back in
 * place, so format(parse(x)) loses nothing and is stable.
 *
 * Addresses are held in their canonical text form (inet_ntop(): "192.168.122.1",
 * "2001:db8::1"); MAC addresses lowercase with ':'.
 *
 * Thread safety: a definition is a plain value; callers serialize access to one definition.
 */

#include <glib.h>

G_BEGIN_DECLS

/* what is kept verbatim of one element (private to conf/) */
typedef struct _VbNetKept VbNetKept;

typedef enum {
    VB_NETWORK_FORWARD_NONE, /* no <forward>: isolated network */
    VB_NETWORK_FORWARD_NAT,
    VB_NETWORK_FORWARD_ROUTE,
    VB_NETWORK_FORWARD_OPEN,
    VB_NETWORK_FORWARD_BRIDGE,
    /* parsed and kept; a driver refuses them (macvtap pools and SR-IOV hostdev) */
    VB_NETWORK_FORWARD_PRIVATE,
    VB_NETWORK_FORWARD_VEPA,
    VB_NETWORK_FORWARD_PASSTHROUGH,
    VB_NETWORK_FORWARD_HOSTDEV,
    VB_NETWORK_FORWARD_LAST
} VbNetworkForwardMode;

const char *vb_network_forward_mode_to_string(VbNetworkForwardMode mode);
int vb_network_forward_mode_from_string(const char *str);

/* libvirt's virNetworkUpdateCommand */
typedef enum {
    VB_NETWORK_UPDATE_COMMAND_NONE = 0,
    VB_NETWORK_UPDATE_COMMAND_MODIFY = 1,
    VB_NETWORK_UPDATE_COMMAND_DELETE = 2,
    VB_NETWORK_UPDATE_COMMAND_ADD_LAST = 3,
    VB_NETWORK_UPDATE_COMMAND_ADD_FIRST = 4,
} VbNetworkUpdateCommand;

/* libvirt's virNetworkUpdateSection; only IP_DHCP_HOST and DNS_HOST are supported */
typedef enum {
    VB_NETWORK_SECTION_NONE = 0,
    VB_NETWORK_SECTION_BRIDGE = 1,
    VB_NETWORK_SECTION_DOMAIN = 2,
    VB_NETWORK_SECTION_IP = 3,
    VB_NETWORK_SECTION_IP_DHCP_HOST = 4,
    VB_NETWORK_SECTION_IP_DHCP_RANGE = 5,
    VB_NETWORK_SECTION_FORWARD = 6,
    VB_NETWORK_SECTION_FORWARD_INTERFACE = 7,
    VB_NETWORK_SECTION_FORWARD_PF = 8,
    VB_NETWORK_SECTION_PORTGROUP = 9,
    VB_NETWORK_SECTION_DNS_HOST = 10,
    VB_NETWORK_SECTION_DNS_TXT = 11,
    VB_NETWORK_SECTION_DNS_SRV = 12,
    VB_NETWORK_SECTION_LAST
} VbNetworkUpdateSection;

/* <lease expiry unit/> of a DHCP range or host */
typedef struct {
    gboolean present;
    guint64 expiry; /* 0: infinite */
    char *unit;     /* "seconds" | "minutes" | "hours"; NULL: minutes */
    VbNetKept *kept;
} VbNetworkLease;

/* <range start end> */
typedef struct {
    char *start;
    char *end;
    VbNetworkLease lease;
    VbNetKept *kept;
} VbNetworkDhcpRange;

/* <host mac|id name ip> inside <dhcp> */
typedef struct {
    char *mac;  /* nullable, canonical; IPv4 only */
    char *id;   /* nullable, DHCPv6 client id (hex digits and ':') */
    char *name; /* nullable */
    char *ip;   /* nullable only in an update's DELETE snippet */
    VbNetworkLease lease;
    VbNetKept *kept;
} VbNetworkDhcpHost;

/* <ip family address netmask|prefix localPtr> */
typedef struct {
    int family;        /* AF_INET or AF_INET6, from the address */
    char *family_attr; /* as written: NULL, "ipv4" or "ipv6" */
    char *address;
    char *netmask; /* nullable, IPv4 only */
    guint prefix;  /* as written; 0 when absent (libvirt: prefix='0' is absent too) */
    int local_ptr; /* -1 absent, 0 no, 1 yes */
    gboolean has_dhcp_elem;
    GPtrArray *ranges; /* VbNetworkDhcpRange* */
    GPtrArray *hosts;  /* VbNetworkDhcpHost* */
    VbNetKept *kept;
    VbNetKept *dhcp_kept; /* <dhcp>: <bootp> and unknown children */
} VbNetworkIp;

/* <dns><forwarder domain addr/> */
typedef struct {
    char *domain; /* nullable */
    char *addr;   /* nullable */
    VbNetKept *kept;
} VbNetworkDnsForwarder;

/* <dns><host ip><hostname>...</hostname></host> */
typedef struct {
    char *ip;         /* nullable only in an update's DELETE snippet */
    GPtrArray *names; /* char* */
    VbNetKept *kept;
} VbNetworkDnsHost;

typedef struct {
    char *name;
    unsigned char uuid[16];
    gboolean uuid_given;
    int ipv6; /* <network ipv6=>: -1 absent, 0 no, 1 yes */

    /* <forward> */
    gboolean forward_present;
    VbNetworkForwardMode forward_mode;
    gboolean forward_mode_given;    /* mode= written (absent means nat) */
    char *forward_dev;              /* nullable: dev= as written */
    GPtrArray *forward_ifaces;      /* char*: <interface dev=> in order */
    GPtrArray *forward_ifaces_kept; /* VbNetKept*, parallel to forward_ifaces */
    gboolean nat_present;           /* <nat> written */
    int nat_ipv6;                   /* -1 absent, 0 no, 1 yes */
    char *nat_addr_start;           /* nullable, IPv4 */
    char *nat_addr_end;
    guint nat_port_start; /* 0: no <port> */
    guint nat_port_end;
    VbNetKept *forward_kept; /* <driver>, <pf>, <address>, managed= ... */
    VbNetKept *nat_kept;
    VbNetKept *nat_addr_kept;
    VbNetKept *nat_port_kept;

    /* <bridge name stp delay macTableManager> */
    gboolean bridge_present;
    char *bridge; /* nullable: generated by the driver (virbr%d) */
    gboolean stp; /* default on */
    gboolean stp_given;
    guint64 delay;
    gboolean delay_given;
    char *mac_table_manager; /* nullable: "kernel" | "libvirt" */
    VbNetKept *bridge_kept;  /* zone= and unknown */

    guint mtu;             /* 0: absent */
    char *mac;             /* nullable, canonical unicast */
    char *domain;          /* <domain name>, nullable */
    int domain_local_only; /* -1 absent */

    /* <dns> */
    gboolean dns_present;
    int dns_enable;            /* -1 absent, 0 no, 1 yes */
    GPtrArray *dns_forwarders; /* VbNetworkDnsForwarder* */
    GPtrArray *dns_hosts;      /* VbNetworkDnsHost* */
    VbNetKept *dns_kept;       /* forwardPlainNames=, <txt>, <srv> */

    int port_isolated; /* <port isolated=>: -1 absent */

    GPtrArray *ips; /* VbNetworkIp*, in order */

    VbNetKept *kept; /* root: <metadata>, <route>, <bandwidth>, ... */
    VbNetKept *mtu_kept;
    VbNetKept *mac_kept;
    VbNetKept *domain_kept;
    VbNetKept *port_kept;
} VbNetworkDef;

VbNetworkDef *vb_network_def_parse_string(const char *xml, GError **error);
char *vb_network_def_format(const VbNetworkDef *def);
gboolean vb_network_def_validate(const VbNetworkDef *def, GError **error);
VbNetworkDef *vb_network_def_copy(const VbNetworkDef *def, GError **error);
void vb_network_def_free(VbNetworkDef *def);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VbNetworkDef, vb_network_def_free)

gboolean vb_network_name_validate(const char *name, GError **error);
gboolean vb_network_bridge_name_valid(const char *name);
void vb_network_def_set_bridge(VbNetworkDef *def, const char *bridge);
guint vb_network_ip_prefix(const VbNetworkIp *ip);
const VbNetworkIp *vb_network_def_dhcp_ip(const VbNetworkDef *def, int family);
gboolean vb_network_def_has_bridge(const VbNetworkDef *def);

gboolean vb_network_def_update(VbNetworkDef *def, guint command, guint section, int parent_index,
                               const char *xml, guint flags, GError **error);

char *vb_network_default_xml(const char *const *used_subnets);
gboolean vb_network_default_choose_subnet(const char *const *used_subnets, guint *out_third);
gboolean vb_network_def_overlaps(const VbNetworkDef *def, const char *const *prefixes,
                                 char **out_clash);
gboolean vb_net_prefix_parse(const char *str, int *out_family, guint8 out_addr[16],
                             guint *out_prefix);

G_END_DECLS
