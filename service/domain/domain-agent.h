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

char *vb_domain_agent_begin(VbDomainList *list, VbDomainObj *dom, const char *method,
                            const char *owner, char **out_name, GError **error);

/* ---- issue 13, part agent: domain-agent-ops.c ---- */

/* The Lifecycle-notify event that carries an AgentLifecycle signal; detail "STATE REASON" */
#define VB_DOMAIN_AGENT_EVENT "AgentLifecycle"
/* libvirt's VIR_CONNECT_DOMAIN_EVENT_AGENT_LIFECYCLE_STATE_* and _REASON_* */
#define VB_AGENT_STATE_CONNECTED 1
#define VB_AGENT_STATE_DISCONNECTED 2
#define VB_AGENT_REASON_UNKNOWN 0
#define VB_AGENT_REASON_DOMAIN_STARTED 1
#define VB_AGENT_REASON_CHANNEL 2

/* Shutdown/Reboot flags (libvirt's VIR_DOMAIN_SHUTDOWN_* / VIR_DOMAIN_REBOOT_*) */
#define VB_POWER_ACPI_POWER_BTN (1u << 0)
#define VB_POWER_GUEST_AGENT (1u << 1)
/* GetGuestInfo types (libvirt's VIR_DOMAIN_GUEST_INFO_*) */
#define VB_GUEST_INFO_USERS (1u << 0)
#define VB_GUEST_INFO_OS (1u << 1)
#define VB_GUEST_INFO_TIMEZONE (1u << 2)
#define VB_GUEST_INFO_HOSTNAME (1u << 3)
#define VB_GUEST_INFO_FILESYSTEM (1u << 4)
#define VB_GUEST_INFO_DISKS (1u << 5)
#define VB_GUEST_INFO_INTERFACES (1u << 6)
/* QemuAgentCommand timeouts (libvirt's VIR_DOMAIN_QEMU_AGENT_COMMAND_*) */
#define VB_AGENT_TIMEOUT_BLOCK (-2)
#define VB_AGENT_TIMEOUT_DEFAULT (-1)
#define VB_AGENT_TIMEOUT_NOWAIT 0
/* what BLOCK waits at most: a worker is never held for ever (Destroy ends it sooner) */
#define VB_AGENT_BLOCK_MAX_S 300

void vb_domain_agent_vserport_event(VbDomainList *list, VbDomainObj *dom, JsonObject *data);
void vb_domain_agent_refresh(VbDomainList *list, VbDomainObj *dom, VbQemuMonitor *mon,
                             guint reason);
/* the event (queued to the domain's event worker) that thaws at reconnect */
#define VB_DOMAIN_AGENT_THAW_EVENT "virtbus-agent-thaw"
void vb_domain_agent_thaw_if_frozen(VbDomainList *list, VbDomainObj *dom);
void vb_domain_agent_thaw_now(VbDomainList *list, VbDomainObj *dom);
gboolean vb_domain_shutdown_flags(VbDomainList *list, VbDomainObj *dom, guint flags,
                                  gboolean reboot, const char *owner, GError **error);
int vb_domain_agent_freeze(VbDomainList *list, VbDomainObj *dom, const char *const *mountpoints,
                           const char *owner, GError **error);
int vb_domain_agent_thaw(VbDomainList *list, VbDomainObj *dom, const char *const *mountpoints,
                         const char *owner, GError **error);
GPtrArray *vb_domain_agent_fsinfo(VbDomainList *list, VbDomainObj *dom, const char *owner,
                                  GStrv **out_aliases, GError **error);
void vb_domain_agent_aliases_free(GStrv *aliases);
gboolean vb_domain_agent_get_time(VbDomainList *list, VbDomainObj *dom, const char *owner,
                                  gint64 *out_seconds, guint *out_nseconds, GError **error);
gboolean vb_domain_agent_set_time(VbDomainList *list, VbDomainObj *dom, gint64 seconds,
                                  guint nseconds, gboolean sync, const char *owner,
                                  GError **error);
char *vb_domain_agent_hostname(VbDomainList *list, VbDomainObj *dom, const char *owner,
                               GError **error);
GVariant *vb_domain_agent_guest_info(VbDomainList *list, VbDomainObj *dom, guint types,
                                     const char *owner, GError **error);
gboolean vb_domain_agent_set_password(VbDomainList *list, VbDomainObj *dom, const char *user,
                                      const char *password, gboolean crypted,
                                      const char *owner, GError **error);
char *vb_domain_qemu_agent_command(VbDomainList *list, VbDomainObj *dom, const char *json,
                                   int timeout, const char *owner, GError **error);

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

/* One agent session (domain-agent-ops.c): the domain's agent job, a connection, a
 * guest-sync before each command. */
typedef struct {
    VbDomainList *list;
    VbDomainObj *dom;
    char *name;
    VbQemuAgent *agent;
    gint64 deadline;
} VbAgentSession;

gboolean vb_agent_session_begin(VbAgentSession *s, VbDomainList *list, VbDomainObj *dom,
                                const char *method, const char *owner, guint timeout_ms,
                                GError **error);
JsonNode *vb_agent_session_run(VbAgentSession *s, const char *command, JsonObject *args,
                               GError **error);
void vb_agent_session_end(VbAgentSession *s);

G_END_DECLS
