/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Statistics for charts and monitoring (issue 13, part stats): domain-stats*.c */

#include <glib.h>

#include "domain-list.h"

G_BEGIN_DECLS

/* GetStats types: libvirt's VIR_DOMAIN_STATS_* bits */
typedef enum {
    VB_STATS_STATE = 1 << 0,
    VB_STATS_CPU_TOTAL = 1 << 1,
    VB_STATS_BALLOON = 1 << 2,
    VB_STATS_VCPU = 1 << 3,
    VB_STATS_INTERFACE = 1 << 4,
    VB_STATS_BLOCK = 1 << 5,
    VB_STATS_PERF = 1 << 6,
    VB_STATS_IOTHREAD = 1 << 7,
    VB_STATS_MEMORY = 1 << 8,
    VB_STATS_DIRTYRATE = 1 << 9,
    VB_STATS_VM = 1 << 10,
} VbStatsTypes;

/* the groups virtbus reports */
#define VB_STATS_SUPPORTED (VB_STATS_STATE | VB_STATS_CPU_TOTAL | VB_STATS_BALLOON | \
                            VB_STATS_VCPU | VB_STATS_INTERFACE | VB_STATS_BLOCK | \
                            VB_STATS_IOTHREAD | VB_STATS_DIRTYRATE | \
                            VB_STATS_PERF) /* perf: issue 13, part vcpuio */

/* GetStats / GetAllDomainStats flags: libvirt's VIR_CONNECT_GET_ALL_DOMAINS_STATS_* */
typedef enum {
    VB_STATS_ACTIVE = 1 << 0,
    VB_STATS_INACTIVE = 1 << 1,
    VB_STATS_PERSISTENT = 1 << 2,
    VB_STATS_TRANSIENT = 1 << 3,
    VB_STATS_RUNNING = 1 << 4,
    VB_STATS_PAUSED = 1 << 5,
    VB_STATS_SHUTOFF = 1 << 6,
    VB_STATS_OTHER = 1 << 7,
    VB_STATS_NOWAIT = 1 << 29,
    VB_STATS_BACKING = 1 << 30,
    VB_STATS_ENFORCE_STATS = 1u << 31,
} VbStatsFlags;

#define VB_STATS_LIST_FLAGS (VB_STATS_ACTIVE | VB_STATS_INACTIVE | VB_STATS_PERSISTENT | \
                             VB_STATS_TRANSIENT | VB_STATS_RUNNING | VB_STATS_PAUSED | \
                             VB_STATS_SHUTOFF | VB_STATS_OTHER)
#define VB_STATS_CALL_FLAGS (VB_STATS_NOWAIT | VB_STATS_BACKING | VB_STATS_ENFORCE_STATS)

/* SetMemoryStatsPeriod flags: libvirt's VIR_DOMAIN_AFFECT_* */
typedef enum {
    VB_AFFECT_CURRENT = 0,
    VB_AFFECT_LIVE = 1 << 0,
    VB_AFFECT_CONFIG = 1 << 1,
} VbAffectFlags;

/* MemoryStats tags: libvirt's VIR_DOMAIN_MEMORY_STAT_* */
typedef enum {
    VB_MEMSTAT_SWAP_IN,
    VB_MEMSTAT_SWAP_OUT,
    VB_MEMSTAT_MAJOR_FAULT,
    VB_MEMSTAT_MINOR_FAULT,
    VB_MEMSTAT_UNUSED,
    VB_MEMSTAT_AVAILABLE,
    VB_MEMSTAT_ACTUAL_BALLOON,
    VB_MEMSTAT_RSS,
    VB_MEMSTAT_USABLE,
    VB_MEMSTAT_LAST_UPDATE,
    VB_MEMSTAT_DISK_CACHES,
    VB_MEMSTAT_HUGETLB_PGALLOC,
    VB_MEMSTAT_HUGETLB_PGFAIL,
    VB_MEMSTAT_LAST
} VbMemStatTag;

/* domain-stats-proc.c: parsers of /proc and /sys text (no I/O) */
typedef struct {
    guint64 utime; /* clock ticks */
    guint64 stime; /* clock ticks */
    guint64 rss;   /* pages */
    int processor; /* the CPU it last ran on */
} VbProcStat;

gboolean vb_proc_stat_parse(const char *text, VbProcStat *out_stat);
gboolean vb_proc_sched_wait_parse(const char *text, guint64 *out_ns);
gboolean vb_proc_schedstat_delay_parse(const char *text, guint64 *out_ns);
guint64 vb_proc_ticks_to_ns(guint64 ticks);
gboolean vb_proc_read_stat(int pid, int tid, VbProcStat *out_stat);
guint64 vb_proc_read_u64(const char *path, gboolean *out_ok);

/* domain-stats.c */
GVariant *vb_domain_get_stats(VbDomainList *list, VbDomainObj *dom, guint types, guint flags,
                              const char *owner, GError **error);
const char *vb_memstat_name(VbMemStatTag tag);
GVariant *vb_domain_memory_stats(VbDomainList *list, VbDomainObj *dom, const char *owner,
                                 GError **error);
gboolean vb_domain_set_memory_stats_period(VbDomainList *list, VbDomainObj *dom, int period,
                                           guint flags, const char *owner, GError **error);
gboolean vb_domain_interface_stats(VbDomainObj *dom, const char *device, gint64 out_vals[8],
                                   GError **error);

G_END_DECLS
