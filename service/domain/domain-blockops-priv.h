/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "domain-list-priv.h"

G_BEGIN_DECLS

/* A block job of a running domain, shared by domain-blockops.c (its start, wait and end)
 * and domain-blockrestart.c (taking it back after a restart of the service). */
struct _VbBlockOp {
    char *target;     /* the disk's <target dev> */
    char *job_id;     /* QEMU's job id */
    const char *type; /* "pull", "commit", "active-commit", "copy" */
    char *top_node;   /* the node QEMU's job names as device */
    char *top_layer;  /* block-commit: the top node, NULL for the active layer */
    char *base_node;  /* block-commit: the base node */
    char *base_path;  /* block-commit: the base image's file; BlockCopy: the destination's */
    char *base_format; /* block-commit: the base node's driver (qcow2, raw, ...); BlockCopy:
                          the destination's format (NULL until chosen: the disk's) */
    guint64 speed;    /* bytes/s, 0 for none */
    guint64 granularity; /* BlockCopy: blockdev-mirror's granularity, 0 for QEMU's */
    guint64 buf_size;    /* BlockCopy: blockdev-mirror's buf-size, 0 for QEMU's */
    char *copy_storage;  /* BlockCopy: the destination's nodes */
    char *copy_format;
    gboolean copy_added; /* BlockCopy: the destination's nodes were added */
    gboolean copy_create; /* BlockCopy without REUSE_EXT: the service makes the image */
    gboolean copy_created; /* ... and has made it (removed again if the copy cannot start) */
    char *copy_backing;  /* BlockCopy SHALLOW: the node below the disk's top, the
                            destination's backing (NULL: a full copy) */
    char *copy_backing_path;   /* ... its image and format, for a destination made here */
    char *copy_backing_format;
    GPtrArray *pivot_drop; /* format nodes (top first) that leave the chain: at a pivot,
                              or at the end of an inner commit */
    gboolean pivot_requested; /* under the domain lock */
    gboolean ready;           /* under the domain lock */
    /* issue 15, part bjrestart: set by the job thread under the domain lock, recorded in
     * the status XML (<blockjob>) */
    gboolean pivot_sent;      /* block-job-complete asked */
    gboolean cancel_sent;     /* block-job-cancel asked */
    gboolean aborted;         /* the cancel was asked by a caller */
};

void vb_block_op_free(VbBlockOp *op);
const char *vb_block_jstr(JsonObject *o, const char *name);
JsonObject *vb_block_qemu_job(JsonNode *r, const char *job_id);
gboolean vb_block_find_disk_locked(VbDomainObj *dom, const char *name, char **out_target,
                                   char **out_alias, GError **error);
char *vb_block_disk_top_node(VbQemuMonitor *mon, const char *alias, GError **error);
GPtrArray *vb_block_chain_nodes(VbQemuMonitor *mon, const char *top, GPtrArray **out_files,
                                GPtrArray **out_drvs, GError **error);
void vb_block_drop_op(VbDomainObj *dom, VbBlockOp *op);
char *vb_block_storage_node(const char *format_node);
gboolean vb_block_wait_finish(VbDomainList *list, VbDomainObj *dom, VbJob *job, VbBlockOp *op,
                              GVariant **out_result, GError **error);

G_END_DECLS
