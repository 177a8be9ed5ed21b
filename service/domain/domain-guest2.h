/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Guest calls a frontend makes (issue 13, part guest2; docs/agent.md "More guest calls",
 * docs/guest-peek.md): FSTrim, GetGuestVcpus/SetGuestVcpus and SetVcpus GUEST,
 * PMSuspendForDuration/PMWakeup, GetDiskErrors, MemoryPeek/BlockPeek and Rename.
 * domain-guest2.c (agent and power), domain-guest2-peek.c (disk errors, peeks, Rename).
 * Worker threads.
 */

#include <glib.h>

#include "domain-list.h"

G_BEGIN_DECLS

/* libvirt's virNodeSuspendTarget */
#define VB_SUSPEND_TARGET_MEM 0
#define VB_SUSPEND_TARGET_DISK 1
#define VB_SUSPEND_TARGET_HYBRID 2
/* libvirt's virDomainMemoryFlags */
#define VB_MEMORY_VIRTUAL (1u << 0)
#define VB_MEMORY_PHYSICAL (1u << 1)
/* what one MemoryPeek / BlockPeek returns at most (libvirt's advice to split requests) */
#define VB_PEEK_MAX 65536
/* libvirt's virDomainDiskErrorCode */
#define VB_DISK_ERROR_NONE 0
#define VB_DISK_ERROR_UNSPEC 1
#define VB_DISK_ERROR_NO_SPACE 2

gboolean vb_domain_fstrim(VbDomainList *list, VbDomainObj *dom, const char *mountpoint,
                          guint64 minimum, const char *owner, GError **error);
GVariant *vb_domain_get_guest_vcpus(VbDomainList *list, VbDomainObj *dom, const char *owner,
                                    GError **error);
gboolean vb_domain_set_guest_vcpus(VbDomainList *list, VbDomainObj *dom, GVariant *vcpumap,
                                   int state, const char *owner, GError **error);
gboolean vb_domain_set_vcpus_agent(VbDomainList *list, VbDomainObj *dom, guint n, const char *owner,
                                   GError **error);
gboolean vb_domain_pm_suspend(VbDomainList *list, VbDomainObj *dom, guint target, guint64 duration,
                              const char *owner, GError **error);
gboolean vb_domain_pm_wakeup(VbDomainList *list, VbDomainObj *dom, const char *owner,
                             GError **error);

/* domain-guest2-peek.c */
void vb_domain_disk_error_note(VbDomainObj *dom, const char *alias, gboolean nospace);
GVariant *vb_domain_get_disk_errors(VbDomainList *list, VbDomainObj *dom, const char *owner,
                                    GError **error);
GBytes *vb_domain_memory_peek(VbDomainList *list, VbDomainObj *dom, guint64 offset, guint64 size,
                              guint flags, const char *owner, GError **error);
GBytes *vb_domain_block_peek(VbDomainObj *dom, const char *disk, guint64 offset, guint64 size,
                             GError **error);
gboolean vb_domain_rename(VbDomainList *list, VbDomainObj *dom, const char *name, const char *owner,
                          GError **error);

G_END_DECLS
