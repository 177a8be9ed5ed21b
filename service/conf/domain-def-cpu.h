/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

#include "domain-def.h"

G_BEGIN_DECLS

/*
 * CPU, memory, NUMA, iothreads and tuning of a domain, as the command line and the start
 * path need them (issue 10, part cpu). These are read views: <cpu>'s children,
 * <memoryBacking>, <iothreadids>, <vcpus>, <cputune>, <memtune> and <numatune> stay kept
 * verbatim in the model (so a round trip is exact) and are read again into this struct at
 * parse time, where they are also validated as libvirt validates them.
 */

typedef struct {
    char *name;   /* libvirt's feature name */
    char *policy; /* force, require, optional, disable, forbid */
    int line;
} VbCpuFeature;

typedef struct {
    guint id;
    guint value;
} VbNumaDistance;

typedef struct {
    guint id;
    char *cpus;          /* as written (libvirt cpuset syntax); nullable */
    GArray *cpu_list;    /* guint, sorted */
    guint64 memory_kib;
    char *mem_access;    /* shared, private; nullable */
    char *discard;       /* yes, no; nullable */
    GArray *distances;   /* VbNumaDistance */
    char *not_acted_on;  /* first child/attribute of the cell nothing reads ("cache"); nullable */
    int line;
} VbNumaCell;

typedef struct {
    gboolean present;
    char *mode;       /* custom (default), host-model, host-passthrough, maximum */
    char *match;      /* exact, minimum, strict; nullable */
    char *check;      /* none, partial, full; nullable */
    char *migratable; /* on, off; nullable */
    char *model;      /* nullable */
    char *fallback;   /* allow, forbid; nullable */
    char *vendor_id;  /* <model vendor_id=>; nullable */
    char *vendor;     /* <vendor>; nullable */
    int vendor_line;
    GPtrArray *features; /* VbCpuFeature* */
    gboolean has_topology;
    guint sockets, dies, cores, threads;
    GPtrArray *cells;       /* VbNumaCell* */
    GPtrArray *not_acted_on; /* char*: "<cache>", "<numa><interconnects>", ... */
    int line;
} VbDomainCpuDef;

typedef struct {
    guint id;
    int pool_min; /* thread-pool-min, -1 unset */
    int pool_max; /* thread-pool-max, -1 unset */
    int line;
} VbIOThreadId;

typedef struct {
    guint64 size_kib;
    char *nodeset; /* nullable */
} VbHugePage;

typedef struct {
    gboolean present;
    gboolean hugepages;
    GPtrArray *pages; /* VbHugePage* */
    gboolean nosharepages;
    gboolean locked;
    gboolean discard;
    char *source_type; /* file, anonymous, memfd; nullable */
    char *access_mode; /* shared, private; nullable */
    char *alloc_mode;  /* immediate, ondemand; nullable */
    guint alloc_threads; /* 0 unset */
    int line;
} VbMemoryBacking;

typedef enum {
    VB_PIN_VCPU,
    VB_PIN_EMULATOR,
    VB_PIN_IOTHREAD,
} VbPinKind;

typedef struct {
    VbPinKind kind;
    guint id;     /* vCPU index or iothread id */
    char *cpuset; /* as written */
    GArray *cpus; /* guint, sorted */
    int line;
} VbPin;

/* one element (or child) the start does not act on: for Unsupported */
typedef struct {
    char *elem; /* "memtune", "cputune><shares" ... as shown */
    char *why;
    int line;
} VbNotActedOn;

typedef struct {
    VbDomainCpuDef cpu;
    GPtrArray *iothreadids; /* VbIOThreadId*, effective: <iothreadids> + ids added up to
                               <iothreads>, in libvirt's order */
    VbMemoryBacking backing;
    char *vcpu_cpuset;      /* <vcpu cpuset=>; nullable */
    GArray *vcpu_cpus;      /* guint, sorted; NULL when no cpuset */
    int vcpu_line;
    GArray *vcpus_enabled;  /* gboolean per vCPU from <vcpus>; NULL when absent */
    GArray *vcpus_hotpluggable; /* gboolean per vCPU from <vcpus>; NULL when absent */
    int vcpus_line;
    GPtrArray *pins;        /* VbPin* from <cputune> */
    GPtrArray *not_acted_on; /* VbNotActedOn*: cputune/memtune/numatune parts */
} VbDomainResources;

const VbDomainResources *vb_domain_def_get_resources(const VbDomainDef *def);
gboolean vb_cpuset_parse(const char *str, guint max, GArray **out_cpus, GError **error);
char *vb_cpuset_format(const GArray *cpus);
/* domain-def-pin.c (issue 13, part memev) */
VbDomainDef *vb_domain_def_with_pin(const VbDomainDef *def, VbPinKind kind, guint id,
                                    const char *cpuset, GError **error);
/* domain-def-memalign.c */
VbDomainDef *vb_domain_def_with_aligned_memory(const VbDomainDef *def, GError **error);
VbDomainDef *vb_domain_def_with_vcpus(const VbDomainDef *def, guint current, guint max,
                                      GError **error);
/* domain-def-iothread.c (issue 13, part vcpuio) */
VbDomainDef *vb_domain_def_with_iothread(const VbDomainDef *def, guint id, gboolean add,
                                         GError **error);
char *vb_domain_def_iothread_user(const VbDomainDef *def, guint id);
GHashTable *vb_domain_def_get_perf(const VbDomainDef *def);
VbDomainDef *vb_domain_def_with_perf(const VbDomainDef *def, GHashTable *events,
                                     GError **error);

G_END_DECLS
