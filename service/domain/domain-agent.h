/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The guest agent of a domain and the guest's addresses (issue 12, part addresses):
 * domain-agent.c (the agent job, one agent command) and domain-ifaddr.c
 * (InterfaceAddresses). Worker threads.
 */

#include <json-glib/json-glib.h>

#include "domain-list.h"
#include "network-list.h"
#include "qemu-agent.h"

G_BEGIN_DECLS

JsonNode *vb_domain_agent_command(VbDomainList *list, VbDomainObj *dom, const char *method,
                                  const char *owner, const char *command, JsonObject *args,
                                  GError **error);

/* InterfaceAddresses sources (libvirt's virDomainInterfaceAddressesSource) */
typedef enum {
    VB_IFADDR_SOURCE_LEASE = 0,
    VB_IFADDR_SOURCE_AGENT = 1,
    VB_IFADDR_SOURCE_ARP = 2,
    VB_IFADDR_SOURCE_LAST
} VbIfaddrSource;

GPtrArray *vb_domain_interface_addresses(VbDomainList *list, VbNetworkList *networks,
                                         VbDomainObj *dom, guint source, const char *owner,
                                         GError **error);
GPtrArray *vb_domain_ifaddr_match_neighbours(GPtrArray *ifaces, GArray *neigh);

G_END_DECLS
