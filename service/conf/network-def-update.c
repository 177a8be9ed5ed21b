/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libvirt's virNetworkUpdate() on a definition (issue 12, part "network XML"): DHCP hosts
 * and DNS hosts; the other sections are NotSupported.
 */
#include "config.h"

#include <string.h>
#include <sys/socket.h>

#include <libxml/tree.h>

#include "network-def-priv.h"
#include "vb-error.h"

static const char *const section_names[] = {"none",         "bridge",
                                            "domain",       "ip",
                                            "ip-dhcp-host", "ip-dhcp-range",
                                            "forward",      "forward-interface",
                                            "forward-pf",   "portgroup",
                                            "dns-host",     "dns-txt",
                                            "dns-srv",      NULL};

static VbNetworkIp *
dhcp_parent(VbNetworkDef *def, int parent_index, GError **error)
{
    VbNetworkIp *first4 = NULL, *first6 = NULL;

    if (parent_index >= 0) {
        if ((guint)parent_index < def->ips->len)
            return g_ptr_array_index(def->ips, parent_index);
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_STATE,
                    "couldn't update dhcp host entry - no <ip> element found at index %d in "
                    "network '%s'",
                    parent_index, def->name);
        return NULL;
    }
    /* -1: the <ip> that has DHCP, else the first IPv4, else the first IPv6 */
    for (guint i = 0; i < def->ips->len; i++) {
        VbNetworkIp *ip = g_ptr_array_index(def->ips, i);

        if (ip->ranges->len > 0 || ip->hosts->len > 0)
            return ip;
        if (ip->family == AF_INET && first4 == NULL)
            first4 = ip;
        if (ip->family == AF_INET6 && first6 == NULL)
            first6 = ip;
    }
    if (first4 != NULL || first6 != NULL)
        return first4 != NULL ? first4 : first6;
    g_set_error(error, VB_ERROR, VB_ERROR_INVALID_STATE,
                "couldn't update dhcp host entry - no <ip> element found in network '%s'",
                def->name);
    return NULL;
}

static gboolean
dhcp_host_matches_any(const VbNetworkDhcpHost *a, const VbNetworkDhcpHost *b)
{
    return (a->mac != NULL && g_strcmp0(a->mac, b->mac) == 0) ||
           (a->ip != NULL && g_strcmp0(a->ip, b->ip) == 0) ||
           (a->name != NULL && g_strcmp0(a->name, b->name) == 0);
}

static gboolean
dhcp_host_matches_all(const VbNetworkDhcpHost *a, const VbNetworkDhcpHost *b)
{
    return (a->mac == NULL || b->mac == NULL || strcmp(a->mac, b->mac) == 0) &&
           (a->name == NULL || g_strcmp0(a->name, b->name) == 0) &&
           (a->ip == NULL || g_strcmp0(a->ip, b->ip) == 0);
}

static gboolean
check_single_dhcp(const VbNetworkDef *def, const VbNetworkIp *target, GError **error)
{
    for (guint i = 0; i < def->ips->len; i++) {
        const VbNetworkIp *ip = g_ptr_array_index(def->ips, i);

        if (ip != target && ip->family == target->family &&
            (ip->ranges->len > 0 || ip->hosts->len > 0)) {
            g_set_error(error, VB_ERROR, VB_ERROR_INVALID_STATE,
                        "dhcp is supported only for a single %s address on each network",
                        target->family == AF_INET ? "IPv4" : "IPv6");
            return FALSE;
        }
    }
    return TRUE;
}

static gboolean
update_dhcp_host(VbNetworkDef *def, guint command, int parent_index, xmlNode *node, GError **error)
{
    VbNetworkIp *ip = dhcp_parent(def, parent_index, error);
    g_autoptr(GError) local = NULL;
    VbNetworkDhcpHost *host;
    guint i;

    if (ip == NULL)
        return FALSE;
    host = vb_net_parse_dhcp_host(def->name, ip, node, command == VB_NETWORK_UPDATE_COMMAND_DELETE,
                                  error);
    if (host == NULL)
        return FALSE;
    if (command == VB_NETWORK_UPDATE_COMMAND_MODIFY) {
        for (i = 0; i < ip->hosts->len && !dhcp_host_matches_any(host, ip->hosts->pdata[i]); i++)
            ;
        if (i == ip->hosts->len) {
            g_set_error(error, VB_ERROR, VB_ERROR_INVALID_STATE,
                        "couldn't locate an existing dhcp host entry with \"mac='%s'\" "
                        "\"name='%s'\" \"ip='%s'\" in network '%s'",
                        host->mac ? host->mac : "unknown", host->name ? host->name : "",
                        host->ip ? host->ip : "unknown", def->name);
            vb_network_dhcp_host_free(host);
            return FALSE;
        }
        vb_network_dhcp_host_free(ip->hosts->pdata[i]);
        ip->hosts->pdata[i] = host;
        return TRUE;
    }
    if (command == VB_NETWORK_UPDATE_COMMAND_DELETE) {
        for (i = 0; i < ip->hosts->len && !dhcp_host_matches_all(host, ip->hosts->pdata[i]); i++)
            ;
        vb_network_dhcp_host_free(host);
        if (i == ip->hosts->len) {
            g_set_error(error, VB_ERROR, VB_ERROR_INVALID_STATE,
                        "couldn't locate a matching dhcp host entry in network '%s'", def->name);
            return FALSE;
        }
        g_ptr_array_remove_index(ip->hosts, i);
        if (ip->hosts->len == 0 && ip->ranges->len == 0 &&
            (ip->dhcp_kept == NULL ||
             (ip->dhcp_kept->x.children == NULL && ip->dhcp_kept->x.attrs == NULL)))
            ip->has_dhcp_elem = FALSE;
        return TRUE;
    }
    /* ADD_FIRST, ADD_LAST */
    if (!check_single_dhcp(def, ip, &local)) {
        vb_network_dhcp_host_free(host);
        g_propagate_error(error, g_steal_pointer(&local));
        return FALSE;
    }
    for (i = 0; i < ip->hosts->len; i++) {
        if (dhcp_host_matches_any(host, ip->hosts->pdata[i])) {
            g_set_error(error, VB_ERROR, VB_ERROR_INVALID_STATE,
                        "there is an existing dhcp host entry in network '%s' that matches "
                        "\"<host mac='%s' name='%s' ip='%s'/>\"",
                        def->name, host->mac ? host->mac : "unknown", host->name ? host->name : "",
                        host->ip ? host->ip : "unknown");
            vb_network_dhcp_host_free(host);
            return FALSE;
        }
    }
    if (command == VB_NETWORK_UPDATE_COMMAND_ADD_FIRST)
        g_ptr_array_insert(ip->hosts, 0, host);
    else
        g_ptr_array_add(ip->hosts, host);
    ip->has_dhcp_elem = TRUE;
    return TRUE;
}

static gboolean
dns_host_matches(const VbNetworkDnsHost *a, const VbNetworkDnsHost *b, gboolean by_name)
{
    if (a->ip != NULL && g_strcmp0(a->ip, b->ip) == 0)
        return TRUE;
    for (guint j = 0; by_name && j < a->names->len; j++) {
        for (guint k = 0; k < b->names->len; k++) {
            if (strcmp(a->names->pdata[j], b->names->pdata[k]) == 0)
                return TRUE;
        }
    }
    return FALSE;
}

static gboolean
dns_empty(const VbNetworkDef *def)
{
    return def->dns_enable < 0 && def->dns_forwarders->len == 0 && def->dns_hosts->len == 0 &&
           (def->dns_kept == NULL ||
            (def->dns_kept->x.attrs == NULL && def->dns_kept->x.children == NULL));
}

static gboolean
update_dns_host(VbNetworkDef *def, guint command, xmlNode *node, GError **error)
{
    gboolean add = command == VB_NETWORK_UPDATE_COMMAND_ADD_FIRST ||
                   command == VB_NETWORK_UPDATE_COMMAND_ADD_LAST;
    VbNetworkDnsHost *host;
    guint found = 0, found_idx = 0;

    if (command == VB_NETWORK_UPDATE_COMMAND_MODIFY) {
        g_set_error_literal(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
                            "DNS HOST records cannot be modified, only added or deleted");
        return FALSE;
    }
    host = vb_net_parse_dns_host(def->name, node, !add, error);
    if (host == NULL)
        return FALSE;
    /* adding checks only the address: several addresses may share a name */
    for (guint i = 0; i < def->dns_hosts->len; i++) {
        if (dns_host_matches(host, def->dns_hosts->pdata[i], !add)) {
            found++;
            found_idx = i;
        }
    }
    if (add) {
        if (found > 0) {
            g_set_error(error, VB_ERROR, VB_ERROR_INVALID_STATE,
                        "there is already at least one DNS HOST record with a matching field "
                        "in network %s",
                        def->name);
            vb_network_dns_host_free(host);
            return FALSE;
        }
        g_ptr_array_insert(def->dns_hosts, command == VB_NETWORK_UPDATE_COMMAND_ADD_FIRST ? 0 : -1,
                           host);
        def->dns_present = TRUE;
        return TRUE;
    }
    vb_network_dns_host_free(host);
    if (found != 1) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_STATE,
                    found == 0 ? "couldn't locate a matching DNS HOST record in network %s"
                               : "multiple matching DNS HOST records were found in network %s",
                    def->name);
        return FALSE;
    }
    g_ptr_array_remove_index(def->dns_hosts, found_idx);
    if (dns_empty(def))
        def->dns_present = FALSE;
    return TRUE;
}

static gboolean
check_request(const VbNetworkDef *def, guint command, guint section, GError **error)
{
    if (section != VB_NETWORK_SECTION_IP_DHCP_HOST && section != VB_NETWORK_SECTION_DNS_HOST) {
        if (section > VB_NETWORK_SECTION_NONE && section < VB_NETWORK_SECTION_LAST)
            g_set_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
                        "can't update '%s' section of network '%s': only ip-dhcp-host (4) "
                        "and dns-host (10) can be updated",
                        section_names[section], def->name);
        else
            g_set_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
                        "can't update unrecognized section %u of network '%s'", section, def->name);
        return FALSE;
    }
    if (command < VB_NETWORK_UPDATE_COMMAND_MODIFY ||
        command > VB_NETWORK_UPDATE_COMMAND_ADD_FIRST) {
        g_set_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
                    "unrecognized network update command code %u (expected 1 modify, "
                    "2 delete, 3 add-last or 4 add-first)",
                    command);
        return FALSE;
    }
    return TRUE;
}

/**
 * vb_network_def_update:
 * @def: a valid definition; changed only on success
 * @command: a #VbNetworkUpdateCommand
 * @section: a #VbNetworkUpdateSection: VB_NETWORK_SECTION_IP_DHCP_HOST or
 *     VB_NETWORK_SECTION_DNS_HOST (others fail with VB_ERROR_NOT_SUPPORTED naming the
 *     section)
 * @parent_index: for DHCP hosts, the index of the <ip>; -1 for the one with DHCP (else the
 *     first IPv4, else the first IPv6)
 * @xml: the snippet: `<host mac= name= ip=/>` (DHCP) or `<host ip=><hostname>..</host>` (DNS)
 * @flags: libvirt's virNetworkUpdateFlags (live/config): the caller's business, unused here
 * @error: error: VB_ERROR_INVALID_STATE (libvirt's OperationInvalid) for a duplicate on ADD,
 *     an unknown entry on MODIFY/DELETE or a missing <ip>; VB_ERROR_INVALID_XML /
 *     VB_ERROR_INVALID_ARG for a bad snippet; VB_ERROR_NOT_SUPPORTED as above
 *
 * Applies one of libvirt's network updates, with libvirt's matching rules: MODIFY finds
 * the DHCP host by mac, ip or name; DELETE by all given attributes (DHCP) or by ip or any
 * hostname (DNS); ADD refuses a DHCP host sharing mac, name or ip, and a DNS host sharing
 * the ip. The result is validated as a whole. Any thread.
 *
 * Returns: whether @def was updated
 */
gboolean
vb_network_def_update(VbNetworkDef *def, guint command, guint section, int parent_index,
                      const char *xml, guint flags, GError **error)
{
    g_autoptr(VbNetworkDef) copy = NULL;
    xmlDoc *doc;
    xmlNode *root;
    gboolean ok;
    VbNetworkDef tmp;

    (void)flags;
    g_return_val_if_fail(def != NULL && xml != NULL, FALSE);
    if (!check_request(def, command, section, error))
        return FALSE;
    doc = vb_net_read_doc(xml, "network update XML", error);
    if (doc == NULL)
        return FALSE;
    root = xmlDocGetRootElement(doc);
    if (root == NULL || !vb_xml_is(root, "host")) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_XML,
                    "unexpected element <%s>, expecting <host>, while updating network '%s'",
                    root != NULL ? (const char *)root->name : "", def->name);
        xmlFreeDoc(doc);
        return FALSE;
    }
    copy = vb_network_def_copy(def, error);
    ok = copy != NULL &&
         (section == VB_NETWORK_SECTION_IP_DHCP_HOST
              ? update_dhcp_host(copy, command, parent_index, root, error)
              : update_dns_host(copy, command, root, error)) &&
         vb_network_def_validate(copy, error);
    xmlFreeDoc(doc);
    if (!ok)
        return FALSE;
    tmp = *def;
    *def = *copy;
    *copy = tmp;
    return TRUE;
}
