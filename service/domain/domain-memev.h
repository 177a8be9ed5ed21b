/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

#include "domain-def-cpu.h"
#include "domain-list.h"

G_BEGIN_DECLS

/*
 * Memory, vCPUs and QEMU events on the bus (issue 13, part memev; docs/events.md).
 *
 * A domain signal other than Lifecycle travels through the list's notify function as
 * event "signal:NAME" with the detail the signal's parameters printed by
 * g_variant_print() (with types); the bus parses them back and emits NAME.
 */
#define VB_DOMAIN_SIGNAL_PREFIX "signal:"

/* SetMemory flags (libvirt's virDomainMemoryModFlags) */
typedef enum {
    VB_MEM_LIVE = 1 << 0,
    VB_MEM_CONFIG = 1 << 1,
    VB_MEM_MAXIMUM = 1 << 2,
} VbMemFlags;
#define VB_MEM_ALL_FLAGS (VB_MEM_LIVE | VB_MEM_CONFIG | VB_MEM_MAXIMUM)

/* SetVcpus flags (libvirt's virDomainVcpuFlags; LIVE 1 and CONFIG 2 as VbMemFlags) */
typedef enum {
    VB_VCPU_MAXIMUM = 1 << 2,
    VB_VCPU_GUEST = 1 << 3,
    VB_VCPU_HOTPLUGGABLE = 1 << 4,
} VbVcpuFlags;
#define VB_VCPU_ALL_FLAGS (VB_MEM_LIVE | VB_MEM_CONFIG | VB_VCPU_MAXIMUM | VB_VCPU_GUEST | \
                           VB_VCPU_HOTPLUGGABLE)

void vb_domain_emit_signal(VbDomainList *list, VbDomainObj *dom, const char *name,
                           GVariant *params);
gboolean vb_domain_memev_event(VbDomainList *list, VbDomainObj *dom, const VbDomainEvent *ev);
gboolean vb_domain_memev_setup_balloon(VbDomainObj *dom, VbQemuMonitor *mon, GError **error);
gboolean vb_domain_set_memory(VbDomainList *list, VbDomainObj *dom, guint64 kib, guint flags,
                              const char *owner, GError **error);

gboolean vb_domain_pin(VbDomainList *list, VbDomainObj *dom, VbPinKind kind, guint id,
                       GVariant *cpumap, guint flags, const char *owner, GError **error);
/* the event worker, with the job: a vCPU's late DEVICE_DELETED */
void vb_domain_vcpu_deleted(VbDomainList *list, VbDomainObj *dom, const char *alias);
gboolean vb_domain_set_vcpus(VbDomainList *list, VbDomainObj *dom, guint n, guint flags,
                             const char *owner, GError **error);
GVariant *vb_domain_get_vcpu_pin_info(VbDomainObj *dom, guint flags, GError **error);

/* Makes the changed copy of a definition, or sets @error. */
typedef VbDomainDef *(*VbDomainEditFunc)(const VbDomainDef *def, gpointer data,
                                         GError **error);
gboolean vb_domain_edit_persistent(VbDomainList *list, VbDomainObj *dom, VbDomainEditFunc edit,
                                   gpointer data, GError **error);

/* Thread affinity, shared by the pinning calls (domain-memev.c, domain-vcpuio.c). */
GArray *vb_domain_cpus_of_map(GVariant *cpumap, GError **error);
gboolean vb_domain_set_thread_affinity(int tid, const GArray *cpus, const char *what,
                                       gboolean gone_ok, GError **error);

G_END_DECLS
