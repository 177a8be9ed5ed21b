/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Checks across elements of a <network>, as libvirt's virNetworkDefParseXML() and the
 * network driver's networkValidate() make them (issue 12, part "network XML").
 */
#include "config.h"

#include <string.h>
#include <sys/socket.h>

#include "network-def-priv.h"
#include "vb-error.h"

static gboolean
has_kept_child(const VbNetKept *kept, const char *name)
{
    if (kept == NULL || kept->x.children == NULL)
        return FALSE;
    for (guint i = 0; i < kept->x.children->len; i++) {
        const VbRawElem *raw = g_ptr_array_index(kept->x.children, i);

        if (strcmp(raw->name, name) == 0)
            return TRUE;
    }
    return FALSE;
}

static const char *
bridge_zone(const VbNetworkDef *def)
{
    return def->bridge_kept != NULL ? vb_extra_get_attr(&def->bridge_kept->x, "zone") : NULL;
}

/* libvirt refuses a PCI device listed twice in a hostdev pool */
static gboolean
validate_forward_addresses(const VbNetworkDef *def, GError **error)
{
    GPtrArray *ch = def->forward_kept != NULL ? def->forward_kept->x.children : NULL;

    for (guint i = 0; ch != NULL && i < ch->len; i++) {
        const VbRawElem *a = g_ptr_array_index(ch, i);

        if (strcmp(a->name, "address") != 0)
            continue;
        for (guint j = 0; j < i; j++) {
            const VbRawElem *b = g_ptr_array_index(ch, j);

            if (strcmp(b->name, "address") == 0 && strcmp(a->xml, b->xml) == 0) {
                g_set_error(error, VB_ERROR, VB_ERROR_INVALID_XML,
                            "line %d: <address>: this device is listed twice in the <forward> "
                            "of network '%s' (first at line %d)",
                            a->line, def->name, b->line);
                return FALSE;
            }
        }
    }
    return TRUE;
}

static gboolean
validate_l3_forward(const VbNetworkDef *def, const char *mode, GError **error)
{
    if (def->ips->len == 0) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_XML,
                    "<forward mode='%s'> of network '%s' needs an <ip> address; add one", mode,
                    def->name);
        return FALSE;
    }
    if (def->forward_ifaces->len > 1) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_XML,
                    "<forward> of network '%s' lists %u interfaces; mode '%s' supports only "
                    "one",
                    def->name, def->forward_ifaces->len, mode);
        return FALSE;
    }
    if (def->forward_mode == VB_NETWORK_FORWARD_OPEN && def->forward_ifaces->len > 0) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_XML,
                    "<forward mode='open'> of network '%s' cannot have a forward dev; "
                    "remove dev= and <interface>",
                    def->name);
        return FALSE;
    }
    return TRUE;
}

/* bridge, private, vepa, passthrough, hostdev: guests sit on host devices */
static gboolean
validate_host_forward(const VbNetworkDef *def, const char *mode, GError **error)
{
    gboolean pf = has_kept_child(def->forward_kept, "pf");
    gboolean addr = has_kept_child(def->forward_kept, "address");
    const char *what = NULL;

    if (def->forward_mode != VB_NETWORK_FORWARD_BRIDGE) {
        if (def->bridge != NULL)
            what = "a bridge name";
        else if (bridge_zone(def) != NULL)
            what = "a bridge zone";
        else if (def->mac_table_manager != NULL)
            what = "the bridge macTableManager setting";
        if (what != NULL) {
            g_set_error(error, VB_ERROR, VB_ERROR_INVALID_XML,
                        "%s is not allowed in forward mode '%s' (network '%s')", what, mode,
                        def->name);
            return FALSE;
        }
    }
    if (def->stp_given || def->delay_given || bridge_zone(def) != NULL) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_XML,
                    "<bridge> stp, delay and zone are only allowed in route, nat, open and "
                    "isolated networks, not in forward mode '%s' (network '%s')",
                    mode, def->name);
        return FALSE;
    }
    if (def->bridge != NULL && (def->forward_ifaces->len > 0 || pf)) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_XML,
                    "a network with forward mode '%s' can have a bridge name or a forward "
                    "dev, not both (network '%s')",
                    mode, def->name);
        return FALSE;
    }
    if (def->bridge == NULL && def->forward_ifaces->len == 0 && !pf && !addr) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_XML,
                    "forward mode '%s' of network '%s' needs %s; add one", mode, def->name,
                    def->forward_mode == VB_NETWORK_FORWARD_BRIDGE
                        ? "a <bridge name=> or a <forward dev=>"
                        : "a <forward dev=>, <interface>, <pf> or <address>");
        return FALSE;
    }
    if (def->mac != NULL)
        what = "<mac>";
    else if (def->ips->len > 0)
        what = "<ip>";
    else if (def->dns_hosts->len > 0 || has_kept_child(def->dns_kept, "txt") ||
             has_kept_child(def->dns_kept, "srv"))
        what = "<dns>";
    else if (def->domain != NULL)
        what = "<domain>";
    else if (def->mtu > 0)
        what = "<mtu>";
    if (what != NULL) {
        g_set_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
                    "%s is not supported in network '%s' with forward mode '%s': the host "
                    "side is not virtbus's; remove it",
                    what, def->name, mode);
        return FALSE;
    }
    return TRUE;
}

static gboolean
validate_dhcp_hosts(const VbNetworkDef *def, const VbNetworkIp *ip, GError **error)
{
    for (guint i = 0; i < ip->hosts->len; i++) {
        const VbNetworkDhcpHost *a = g_ptr_array_index(ip->hosts, i);

        for (guint j = 0; j < i; j++) {
            const VbNetworkDhcpHost *b = g_ptr_array_index(ip->hosts, j);
            const char *what = NULL, *val = NULL;

            if (a->mac != NULL && g_strcmp0(a->mac, b->mac) == 0)
                what = "MAC address", val = a->mac;
            else if (a->ip != NULL && g_strcmp0(a->ip, b->ip) == 0)
                what = "IP address", val = a->ip;
            else if (a->name != NULL && g_strcmp0(a->name, b->name) == 0)
                what = "name", val = a->name;
            else if (a->id != NULL && b->id != NULL && g_ascii_strcasecmp(a->id, b->id) == 0)
                what = "id", val = a->id;
            if (what != NULL) {
                g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                            "<ip address='%s'><dhcp> of network '%s': static hosts %u and %u "
                            "have the same %s '%s'; each host needs its own",
                            ip->address, def->name, j + 1, i + 1, what, val);
                return FALSE;
            }
        }
    }
    return TRUE;
}

static gboolean
validate_ips(const VbNetworkDef *def, GError **error)
{
    gboolean dhcp4 = FALSE, dhcp6 = FALSE;

    for (guint i = 0; i < def->ips->len; i++) {
        const VbNetworkIp *ip = g_ptr_array_index(def->ips, i);
        gboolean *seen = ip->family == AF_INET ? &dhcp4 : &dhcp6;

        if (ip->ranges->len == 0 && ip->hosts->len == 0)
            continue;
        if (*seen) {
            g_set_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
                        "multiple %s dhcp sections found in network '%s' (at <ip "
                        "address='%s'>): dhcp is supported only for a single %s address on "
                        "each network",
                        ip->family == AF_INET ? "IPv4" : "IPv6", def->name, ip->address,
                        ip->family == AF_INET ? "IPv4" : "IPv6");
            return FALSE;
        }
        *seen = TRUE;
        if (!validate_dhcp_hosts(def, ip, error))
            return FALSE;
    }
    return TRUE;
}

/**
 * vb_network_def_validate:
 * @def: a parsed definition
 * @error: error (VB_ERROR_INVALID_XML, VB_ERROR_INVALID_ARG or VB_ERROR_NOT_SUPPORTED)
 *
 * The checks across elements: forward mode against bridge, <ip>, <mac>, <dns>, <domain>
 * and <mtu>; DHCP on one <ip> per address family; unique static hosts. Per-element checks
 * (addresses, ranges inside their subnet, MACs, names) are made while parsing. Any thread.
 *
 * Returns: whether @def is valid
 */
gboolean
vb_network_def_validate(const VbNetworkDef *def, GError **error)
{
    const char *mode = vb_network_forward_mode_to_string(def->forward_mode);

    if (!vb_network_name_validate(def->name, error) || !validate_forward_addresses(def, error))
        return FALSE;
    switch (def->forward_mode) {
    case VB_NETWORK_FORWARD_NONE:
        break;
    case VB_NETWORK_FORWARD_NAT:
    case VB_NETWORK_FORWARD_ROUTE:
    case VB_NETWORK_FORWARD_OPEN:
        if (!validate_l3_forward(def, mode, error))
            return FALSE;
        break;
    case VB_NETWORK_FORWARD_BRIDGE:
    case VB_NETWORK_FORWARD_PRIVATE:
    case VB_NETWORK_FORWARD_VEPA:
    case VB_NETWORK_FORWARD_PASSTHROUGH:
    case VB_NETWORK_FORWARD_HOSTDEV:
        if (!validate_host_forward(def, mode, error))
            return FALSE;
        break;
    default:
        g_set_error(error, VB_ERROR, VB_ERROR_INTERNAL, "bad forward mode %d", def->forward_mode);
        return FALSE;
    }
    if (def->bridge != NULL && !vb_network_bridge_name_valid(def->bridge)) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                    "invalid bridge name '%s' in network '%s'", def->bridge, def->name);
        return FALSE;
    }
    return validate_ips(def, error);
}
