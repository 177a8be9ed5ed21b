/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

#include "domain-def.h"

G_BEGIN_DECLS

/*
 * Resource tuning of a domain (issue 14, part cgroup; docs/resources.md): <memtune>, the
 * scalar children of <cputune> (shares, period, quota, global_*, emulator_*, iothread_*),
 * <blkiotune> and <resource><partition>. Like the other tuning elements they stay kept
 * verbatim in the model (a round trip is exact) and are read into this view at parse
 * time, validated as libvirt validates them. domain/domain-cgroup.c applies them.
 */

typedef enum {
    VB_TUNE_HARD_LIMIT,      /* <memtune>, KiB */
    VB_TUNE_SOFT_LIMIT,
    VB_TUNE_SWAP_HARD_LIMIT, /* memory + swap, as libvirt */
    VB_TUNE_MIN_GUARANTEE,
    VB_TUNE_SHARES,          /* <cputune> */
    VB_TUNE_PERIOD,          /* µs */
    VB_TUNE_QUOTA,           /* µs, -1 unlimited */
    VB_TUNE_GLOBAL_PERIOD,
    VB_TUNE_GLOBAL_QUOTA,
    VB_TUNE_EMULATOR_PERIOD,
    VB_TUNE_EMULATOR_QUOTA,
    VB_TUNE_IOTHREAD_PERIOD,
    VB_TUNE_IOTHREAD_QUOTA,
    VB_TUNE_BLKIO_WEIGHT,    /* <blkiotune><weight> */
    VB_TUNE_LAST
} VbTuneItem;

/* libvirt's "unlimited" memory parameter (VIR_DOMAIN_MEMORY_PARAM_UNLIMITED), KiB */
#define VB_TUNE_MEMORY_UNLIMITED G_GINT64_CONSTANT(9007199254740991)
#define VB_TUNE_PERIOD_MIN 1000
#define VB_TUNE_PERIOD_MAX 1000000
#define VB_TUNE_QUOTA_MIN 1000
#define VB_TUNE_QUOTA_MAX G_GINT64_CONSTANT(17592186044415)
#define VB_TUNE_SHARES_MAX 262144
#define VB_TUNE_WEIGHT_MAX 10000

typedef struct {
    char *path;             /* the host block device, absolute */
    guint weight;           /* 0: not set */
    guint64 read_bytes_sec; /* 0: not set */
    guint64 write_bytes_sec;
    guint64 read_iops_sec;
    guint64 write_iops_sec;
    int line;
} VbBlkioDevice;

typedef struct {
    guint32 set;               /* 1 << VbTuneItem of the items present */
    gint64 v[VB_TUNE_LAST];    /* values of the items present */
    int line[VB_TUNE_LAST];    /* their lines in the parsed document */
    GPtrArray *devices;        /* VbBlkioDevice* of <blkiotune><device> */
    int devices_line;          /* the first <device> */
    char *partition;           /* <resource><partition>, nullable */
    int partition_line;
} VbDomainTune;

#define VB_TUNE_HAS(t, item) (((t)->set & (1u << (item))) != 0)

VbDomainTune *vb_domain_tune_new(void);
void vb_domain_tune_free(VbDomainTune *tune);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VbDomainTune, vb_domain_tune_free)
VbDomainTune *vb_domain_tune_copy(const VbDomainTune *tune);
void vb_blkio_device_free(VbBlkioDevice *dev);

const char *vb_tune_item_element(VbTuneItem item);
const char *vb_tune_item_parent(VbTuneItem item);
gboolean vb_tune_item_check(VbTuneItem item, gint64 value, GError **error);
gboolean vb_domain_tune_validate(const VbDomainTune *tune, GError **error);
gboolean vb_tune_partition_check(const char *partition, GError **error);
gboolean vb_tune_device_path_check(const char *path);
void vb_domain_tune_set(VbDomainTune *tune, VbTuneItem item, gint64 value);
VbBlkioDevice *vb_domain_tune_device(VbDomainTune *tune, const char *path, gboolean create);

const VbDomainTune *vb_domain_def_get_tune(const VbDomainDef *def);
const char *vb_domain_tune_partition(const VbDomainTune *tune);
void vb_domain_tune_format(const VbDomainTune *tune, GString *buf, int level);
VbDomainDef *vb_domain_def_with_tune(const VbDomainDef *def, const VbDomainTune *tune,
                                     GError **error);

G_END_DECLS
