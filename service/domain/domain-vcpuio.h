/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>
#include <sys/types.h>

#include "domain-list.h"

G_BEGIN_DECLS

/*
 * vCPU count, IOThreads and the emulator's threads as a frontend asks for them (issue 13,
 * part vcpuio; docs/tuning.md): GetVcpus, GetIOThreadInfo, AddIOThread, DelIOThread,
 * PinEmulator, GetEmulatorPinInfo. Worker threads unless said otherwise.
 */

/* libvirt's VIR_DOMAIN_AFFECT_* and VIR_DOMAIN_VCPU_* */
#define VB_VCPUIO_LIVE (1u << 0)
#define VB_VCPUIO_CONFIG (1u << 1)
#define VB_VCPUIO_MAXIMUM (1u << 2)
#define VB_VCPUIO_GUEST (1u << 3)

gboolean vb_domain_get_vcpus(VbDomainList *list, VbDomainObj *dom, guint flags,
                             const char *owner, guint *out_count, GError **error);
GVariant *vb_domain_get_iothread_info(VbDomainList *list, VbDomainObj *dom, guint flags,
                                      const char *owner, GError **error);
gboolean vb_domain_change_iothread(VbDomainList *list, VbDomainObj *dom, guint id,
                                   gboolean add, guint flags, const char *owner,
                                   GError **error);
gboolean vb_domain_pin_emulator(VbDomainList *list, VbDomainObj *dom, GVariant *cpumap,
                                guint flags, const char *owner, GError **error);
GVariant *vb_domain_get_emulator_pin_info(VbDomainObj *dom, guint flags, GError **error);

/* domain-perf.c: perf events (<perf>, GetPerfEvents, SetPerfEvents, stats perf.*) */
gboolean vb_domain_perf_start(VbDomainObj *dom, const VbDomainDef *def, pid_t pid,
                              gboolean strict, GError **error);
void vb_domain_perf_stats_locked(VbDomainObj *dom, GVariantBuilder *b);
GVariant *vb_domain_get_perf_events(VbDomainObj *dom, guint flags, GError **error);
gboolean vb_domain_set_perf_events(VbDomainList *list, VbDomainObj *dom, GVariant *params,
                                   guint flags, const char *owner, GError **error);

G_END_DECLS
