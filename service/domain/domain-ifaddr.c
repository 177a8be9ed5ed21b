/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <sys/socket.h>

#include "domain-agent.h"
#include "domain-def-guest.h"
#include "domain-list-priv.h"
#include "netdev-ip.h"
#include "network-dnsmasq.h"
#include "vb-error.h"

/*
 * InterfaceAddresses (libvirt's virDomainInterfaceAddresses), from three sources:
 *
 * - LEASE: for each <interface type='network'>, the leases its network's dnsmasq gave
 *   to the interface's MAC; named after the host's tap (<target dev>), as libvirt does;
 *   an interface without a lease is left out.
 * - AGENT: qemu-ga's guest-network-get-interfaces under the agent job (domain-agent.c);
 *   the guest's own names, every interface (loopback too), aliases merged.
 * - ARP: the host's IPv4 neighbour table (rtnetlink, in the service's network namespace),
 *   one entry per neighbour whose MAC is an interface's, prefix 0.
 *
 * LEASE and ARP read the live definition under the domain's lock and take no job (as
 * libvirt); none of them holds the lock across I/O. Worker threads.
 */

#define METHOD "InterfaceAddresses"

/* The interfaces of the running definition, or an error if the domain does not run. */
static GPtrArray *
running_ifaces(VbDomainObj *dom, GError **error)
{
    g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&dom->lock);

    if (dom->id < 0 || dom->stopping) {
        vb_domain_obj_set_not_running_error(dom, METHOD, error);
        return NULL;
    }
    return vb_domain_def_get_ifaces(dom->def);
}

static GPtrArray *
new_result(void)
{
    return g_ptr_array_new_with_free_func((GDestroyNotify)vb_guest_interface_free);
}

static GPtrArray *
from_leases(VbNetworkList *networks, GPtrArray *ifaces, GError **error)
{
    g_autoptr(GPtrArray) out = new_result();

    for (guint i = 0; i < ifaces->len; i++) {
        const VbDomainIface *iface = g_ptr_array_index(ifaces, i);
        g_autoptr(VbNetworkObj) net = NULL;
        g_autoptr(GPtrArray) leases = NULL;
        VbGuestInterface *gi;

        if (g_strcmp0(iface->type, "network") != 0 || iface->source == NULL ||
            iface->mac == NULL)
            continue;
        if (networks == NULL) {
            g_set_error(error, VB_ERROR, VB_ERROR_NO_NETWORK, "no network named '%s'",
                        iface->source);
            return NULL;
        }
        net = vb_network_list_find_by_name(networks, iface->source, error);
        if (net == NULL)
            return NULL;
        leases = vb_network_list_get_leases(networks, net, iface->mac, error);
        if (leases == NULL)
            return NULL;
        if (leases->len == 0)
            continue;
        gi = vb_guest_interface_new(iface->target_dev, iface->mac);
        for (guint j = 0; j < leases->len; j++) {
            const VbDnsmasqLease *l = g_ptr_array_index(leases, j);

            vb_guest_interface_add(gi, l->ipaddr, l->type, l->prefix);
        }
        g_ptr_array_add(out, gi);
    }
    return g_steal_pointer(&out);
}

/**
 * vb_domain_ifaddr_match_neighbours:
 * @ifaces: (element-type VbDomainIface): a domain's interfaces
 * @neigh: (element-type VbNetdevNeigh): the host's neighbour table
 *
 * The ARP source's matching, apart for unit tests: one interface per IPv4 neighbour whose
 * MAC is an interface's (compared without case), named after the interface's <target
 * dev>, with that one address, type 0, prefix 0 (libvirt's qemuARPGetInterfaces).
 *
 * Returns: (transfer full) (element-type VbGuestInterface): the matches
 */
GPtrArray *
vb_domain_ifaddr_match_neighbours(GPtrArray *ifaces, GArray *neigh)
{
    GPtrArray *out = new_result();

    for (guint i = 0; i < ifaces->len; i++) {
        const VbDomainIface *iface = g_ptr_array_index(ifaces, i);

        if (iface->mac == NULL)
            continue;
        for (guint j = 0; j < neigh->len; j++) {
            const VbNetdevNeigh *n = &g_array_index(neigh, VbNetdevNeigh, j);
            VbGuestInterface *gi;

            if (n->family != AF_INET || g_ascii_strcasecmp(n->mac, iface->mac) != 0)
                continue;
            gi = vb_guest_interface_new(iface->target_dev, iface->mac);
            vb_guest_interface_add(gi, n->ip, 0, 0);
            g_ptr_array_add(out, gi);
        }
    }
    return out;
}

static GPtrArray *
from_agent(VbDomainList *list, VbDomainObj *dom, const char *owner, GError **error)
{
    g_autoptr(JsonNode) ret = vb_domain_agent_command(list, dom, METHOD, owner,
                                                      "guest-network-get-interfaces", NULL,
                                                      error);

    if (ret == NULL)
        return NULL;
    return vb_qemu_agent_parse_interfaces(ret, error);
}

/**
 * vb_domain_interface_addresses:
 * @list: the domain list
 * @networks: (nullable): the virtual networks (LEASE)
 * @dom: a running domain
 * @source: a VbIfaddrSource
 * @owner: (nullable): the caller's bus name (the agent job's owner)
 *
 * The guest's interfaces and addresses as one of the sources sees them. Worker threads.
 *
 * Returns: (transfer full) (element-type VbGuestInterface) (nullable): the interfaces, or
 *   NULL with InvalidArgument (unknown source), OperationInvalid (not running), the
 *   network's errors (LEASE), the agent's errors (AGENT), or the neighbour table's (ARP)
 */
GPtrArray *
vb_domain_interface_addresses(VbDomainList *list, VbNetworkList *networks, VbDomainObj *dom,
                              guint source, const char *owner, GError **error)
{
    g_autoptr(GPtrArray) ifaces = NULL;
    g_autoptr(GArray) neigh = NULL;

    if (source >= VB_IFADDR_SOURCE_LAST) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                    "unknown interface address source %u (0 lease, 1 agent, 2 arp)", source);
        return NULL;
    }
    if (source == VB_IFADDR_SOURCE_AGENT)
        return from_agent(list, dom, owner, error);
    ifaces = running_ifaces(dom, error);
    if (ifaces == NULL)
        return NULL;
    if (source == VB_IFADDR_SOURCE_LEASE)
        return from_leases(networks, ifaces, error);
    neigh = vb_netdev_neigh_list(AF_INET, error);
    if (neigh == NULL)
        return NULL;
    return vb_domain_ifaddr_match_neighbours(ifaces, neigh);
}
