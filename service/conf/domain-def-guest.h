/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * What the guest-facing calls need from a definition (issue 12, part addresses): the
 * domain's network interfaces as libvirt's virDomainInterfaceAddresses and virsh domiflist
 * see them, and the guest agent's channel.
 */

#include "domain-def.h"

G_BEGIN_DECLS

/**
 * VbDomainIface:
 * @type: the interface's type= ("network", "bridge", "user", ...)
 * @mac: its MAC, canonical lower case, or %NULL when none was assigned
 * @source: what it plugs into: the network, bridge or device name, or %NULL
 * @model: the <model type=>, or %NULL
 * @target_dev: the <target dev=> (the host side's name, a tap's), or %NULL
 *
 * One <interface> of a definition, in document order.
 */
typedef struct {
    char *type;
    char *mac;
    char *source;
    char *model;
    char *target_dev;
} VbDomainIface;

void vb_domain_iface_free(VbDomainIface *iface);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VbDomainIface, vb_domain_iface_free)
GPtrArray *vb_domain_def_get_ifaces(const VbDomainDef *def);

/* The channel name of the QEMU guest agent (libvirt's and qemu-ga's). */
#define VB_AGENT_CHANNEL_NAME "org.qemu.guest_agent.0"

char *vb_domain_def_find_agent_socket(const VbDomainDef *def, const char *runtime_dir,
                                      GError **error);

G_END_DECLS
