/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "domain-list.h"

G_BEGIN_DECLS

/* Block jobs of a running domain (issue 15, part blockjob; domain-blockops.c). Flags keep
 * libvirt's values. */
typedef enum {
    VB_BLOCK_JOB_INFO_BANDWIDTH_BYTES = 1 << 0,   /* virDomainBlockJobInfoFlags */
} VbBlockJobInfoFlags;
typedef enum {
    VB_BLOCK_JOB_SPEED_BANDWIDTH_BYTES = 1 << 0,  /* virDomainBlockJobSetSpeedFlags */
} VbBlockJobSpeedFlags;
typedef enum {
    VB_BLOCK_JOB_ABORT_ASYNC = 1 << 0,            /* virDomainBlockJobAbortFlags */
    VB_BLOCK_JOB_ABORT_PIVOT = 1 << 1,
} VbBlockJobAbortFlags;
typedef enum {
    VB_BLOCK_PULL_BANDWIDTH_BYTES = 1 << 6,       /* virDomainBlockPullFlags */
} VbBlockPullFlags;
typedef enum {
    VB_BLOCK_COMMIT_SHALLOW = 1 << 0,             /* virDomainBlockCommitFlags */
    VB_BLOCK_COMMIT_DELETE = 1 << 1,
    VB_BLOCK_COMMIT_ACTIVE = 1 << 2,
    VB_BLOCK_COMMIT_RELATIVE = 1 << 3,
    VB_BLOCK_COMMIT_BANDWIDTH_BYTES = 1 << 4,
} VbBlockCommitFlags;
typedef enum {
    VB_BLOCK_RESIZE_BYTES = 1 << 0,               /* virDomainBlockResizeFlags */
    VB_BLOCK_RESIZE_CAPACITY = 1 << 1,
} VbBlockResizeFlags;
typedef enum {
    VB_BLOCK_COPY_SHALLOW = 1 << 0,               /* virDomainBlockCopyFlags */
    VB_BLOCK_COPY_REUSE_EXT = 1 << 1,
    VB_BLOCK_COPY_TRANSIENT_JOB = 1 << 2,
    VB_BLOCK_COPY_SYNCHRONOUS_WRITES = 1 << 3,
} VbBlockCopyFlags;

gboolean vb_domain_block_resize(VbDomainList *list, VbDomainObj *dom, const char *disk,
                                guint64 size, guint flags, const char *owner, GError **error);
gboolean vb_domain_set_block_threshold(VbDomainList *list, VbDomainObj *dom, const char *disk,
                                       guint64 threshold, const char *owner, GError **error);
gboolean vb_domain_get_block_job_info(VbDomainList *list, VbDomainObj *dom, const char *disk,
                                      guint flags, const char *owner, char **out_type,
                                      guint64 *out_bandwidth, guint64 *out_cur,
                                      guint64 *out_end, GError **error);
gboolean vb_domain_block_job_set_speed(VbDomainList *list, VbDomainObj *dom, const char *disk,
                                       guint64 bandwidth, guint flags, const char *owner,
                                       GError **error);
gboolean vb_domain_block_job_abort(VbDomainList *list, VbDomainObj *dom, const char *disk,
                                   guint flags, const char *owner, GError **error);
VbJob *vb_domain_block_pull(VbDomainList *list, VbDomainObj *dom, const char *disk,
                            guint64 bandwidth, guint flags, const char *owner, GError **error);
VbJob *vb_domain_block_commit(VbDomainList *list, VbDomainObj *dom, const char *disk,
                              const char *base, const char *top, guint64 bandwidth,
                              guint flags, const char *owner, GError **error);

VbJob *vb_domain_block_copy(VbDomainList *list, VbDomainObj *dom, const char *disk,
                            const char *dest_xml, GVariant *params, guint flags,
                            const char *owner, GError **error);

/* issue 15, part bjrestart: block jobs across a restart (domain-blockrestart.c) */
void vb_domain_block_op_format(VbDomainObj *dom, GString *buf);
gboolean vb_domain_block_job_adopt(VbDomainList *list, VbDomainObj *dom, const char *xml,
                                   GError **error);

G_END_DECLS
