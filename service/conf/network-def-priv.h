/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Private to network-def*.c: the keeping machinery and address helpers. */

#include <libxml/tree.h>

#include "domain-def-priv.h"
#include "network-def.h"

struct _VbNetKept {
    VbExtra x;
    GPtrArray *root_ns; /* root only: char* prefix, href, prefix, href ... */
};

/* an IPv4 or IPv6 address in network byte order */
typedef struct {
    int family; /* AF_INET, AF_INET6 */
    guint8 b[16];
} VbNetAddr;

#define VB_NETWORK_XML_MAX_BYTES (1024 * 1024)

/* libvirt's order of children */
extern const char *const vb_net_top_ranks[];

/* network-def.c */
VbNetKept *vb_net_kept_new(void);
void vb_net_kept_free(VbNetKept *kept);
VbNetKept *vb_net_kept_copy(const VbNetKept *kept);
void vb_network_ip_free(VbNetworkIp *ip);
void vb_network_dhcp_host_free(VbNetworkDhcpHost *host);
void vb_network_dhcp_range_free(VbNetworkDhcpRange *range);
void vb_network_dns_host_free(VbNetworkDnsHost *host);
void vb_network_dns_forwarder_free(VbNetworkDnsForwarder *fwd);
VbNetworkDef *vb_network_def_new(void);
gboolean vb_net_addr_parse(const char *str, VbNetAddr *out);
char *vb_net_addr_format(const VbNetAddr *addr);
int vb_net_addr_cmp(const VbNetAddr *a, const VbNetAddr *b);
gboolean vb_net_addr_in_subnet(const VbNetAddr *addr, const VbNetAddr *net, guint prefix);
void vb_net_addr_mask(VbNetAddr *addr, guint prefix);
gboolean vb_net_netmask_to_prefix(const VbNetAddr *mask, guint *out_prefix);

/* network-def-parse.c */
xmlDoc *vb_net_read_doc(const char *xml, const char *what, GError **error);
VbNetworkDhcpHost *vb_net_parse_dhcp_host(const char *netname, const VbNetworkIp *ip, xmlNode *node,
                                          gboolean partial, GError **error);
VbNetworkDnsHost *vb_net_parse_dns_host(const char *netname, xmlNode *node, gboolean partial,
                                        GError **error);

/* network-def-format.c */
void vb_net_fmt_dhcp_host(GString *buf, const VbNetworkDhcpHost *host, int level);
