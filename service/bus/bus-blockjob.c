/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Block jobs of a running domain (issue 15, part blockjob; docs/blockjobs.md):
 * GetBlockJobInfo, BlockJobSetSpeed, BlockJobAbort, BlockPull, BlockCommit,
 * BlockCopy, BlockResize, SetBlockThreshold. The work is in
 * domain/domain-blockops.c.
 */
#include "config.h"

#include "bus-names.h"
#include "bus-service.h"
#include "domain-blockops.h"
#include "vb-error.h"

/* GetBlockJobInfo(s disk, u flags) -> (s type, t bandwidth, t cur, t end) */
GVariant *
vb_bus_get_block_job_info(VbBusCall *call, GError **error)
{
    const char *disk;
    guint32 flags;
    g_autofree char *type = NULL;
    guint64 bw = 0, cur = 0, end = 0;

    g_variant_get(call->parameters, "(&su)", &disk, &flags);
    if (!vb_bus_check_flags(flags, VB_BLOCK_JOB_INFO_BANDWIDTH_BYTES, "GetBlockJobInfo",
                            error) ||
        !vb_domain_get_block_job_info(call->service->domains, call->dom, disk, flags,
                                      vb_bus_owner(call), &type, &bw, &cur, &end, error))
        return NULL;
    return g_variant_new("(sttt)", type, bw, cur, end);
}

/* BlockJobSetSpeed(s disk, t bandwidth, u flags) */
GVariant *
vb_bus_block_job_set_speed(VbBusCall *call, GError **error)
{
    const char *disk;
    guint64 bandwidth;
    guint32 flags;

    g_variant_get(call->parameters, "(&stu)", &disk, &bandwidth, &flags);
    if (!vb_bus_check_flags(flags, VB_BLOCK_JOB_SPEED_BANDWIDTH_BYTES, "BlockJobSetSpeed",
                            error) ||
        !vb_domain_block_job_set_speed(call->service->domains, call->dom, disk, bandwidth,
                                       flags, vb_bus_owner(call), error))
        return NULL;
    return g_variant_new("()");
}

/* BlockJobAbort(s disk, u flags) */
GVariant *
vb_bus_block_job_abort(VbBusCall *call, GError **error)
{
    const char *disk;
    guint32 flags;

    g_variant_get(call->parameters, "(&su)", &disk, &flags);
    if (!vb_bus_check_flags(flags, VB_BLOCK_JOB_ABORT_ASYNC | VB_BLOCK_JOB_ABORT_PIVOT,
                            "BlockJobAbort", error) ||
        !vb_domain_block_job_abort(call->service->domains, call->dom, disk, flags,
                                   vb_bus_owner(call), error))
        return NULL;
    return g_variant_new("()");
}

/* BlockPull(s disk, t bandwidth, u flags) -> o job */
GVariant *
vb_bus_block_pull(VbBusCall *call, GError **error)
{
    const char *disk;
    guint64 bandwidth;
    guint32 flags;

    g_variant_get(call->parameters, "(&stu)", &disk, &bandwidth, &flags);
    if (!vb_bus_check_flags(flags, VB_BLOCK_PULL_BANDWIDTH_BYTES, "BlockPull", error))
        return NULL;
    return vb_bus_job_reply(vb_domain_block_pull(call->service->domains, call->dom, disk,
                                               bandwidth, flags, vb_bus_owner(call),
                                               error));
}

/* BlockCommit(s disk, s base, s top, t bandwidth, u flags) -> o job */
GVariant *
vb_bus_block_commit(VbBusCall *call, GError **error)
{
    const char *disk, *base, *top;
    guint64 bandwidth;
    guint32 flags;

    g_variant_get(call->parameters, "(&s&s&stu)", &disk, &base, &top, &bandwidth, &flags);
    if (!vb_bus_check_flags(flags, VB_BLOCK_COMMIT_SHALLOW | VB_BLOCK_COMMIT_DELETE |
                                       VB_BLOCK_COMMIT_ACTIVE | VB_BLOCK_COMMIT_RELATIVE |
                                       VB_BLOCK_COMMIT_BANDWIDTH_BYTES,
                            "BlockCommit", error))
        return NULL;
    return vb_bus_job_reply(vb_domain_block_commit(call->service->domains, call->dom, disk, base,
                                                 top, bandwidth, flags, vb_bus_owner(call),
                                                 error));
}

/* BlockCopy(s disk, s dest_xml, a{sv} params, u flags) -> o job */
GVariant *
vb_bus_block_copy(VbBusCall *call, GError **error)
{
    const char *disk, *xml;
    g_autoptr(GVariant) params = NULL;
    guint32 flags;

    g_variant_get(call->parameters, "(&s&s@a{sv}u)", &disk, &xml, &params, &flags);
    if (!vb_bus_check_flags(flags, VB_BLOCK_COPY_SHALLOW | VB_BLOCK_COPY_REUSE_EXT |
                                       VB_BLOCK_COPY_TRANSIENT_JOB |
                                       VB_BLOCK_COPY_SYNCHRONOUS_WRITES,
                            "BlockCopy", error))
        return NULL;
    return vb_bus_job_reply(vb_domain_block_copy(call->service->domains, call->dom, disk, xml,
                                               params, flags, vb_bus_owner(call), error));
}

/* BlockResize(s disk, t size, u flags) */
GVariant *
vb_bus_block_resize(VbBusCall *call, GError **error)
{
    const char *disk;
    guint64 size;
    guint32 flags;

    g_variant_get(call->parameters, "(&stu)", &disk, &size, &flags);
    if (!vb_bus_check_flags(flags, VB_BLOCK_RESIZE_BYTES | VB_BLOCK_RESIZE_CAPACITY,
                            "BlockResize", error))
        return NULL;
    if (flags & VB_BLOCK_RESIZE_CAPACITY) {
        g_set_error_literal(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
                            "BlockResize: CAPACITY (2), resizing to the block device's "
                            "capacity, is not supported");
        return NULL;
    }
    if (!vb_domain_block_resize(call->service->domains, call->dom, disk, size, flags,
                                vb_bus_owner(call), error))
        return NULL;
    return g_variant_new("()");
}

/* SetBlockThreshold(s dev, t threshold, u flags) */
GVariant *
vb_bus_set_block_threshold(VbBusCall *call, GError **error)
{
    const char *dev;
    guint64 threshold;
    guint32 flags;

    g_variant_get(call->parameters, "(&stu)", &dev, &threshold, &flags);
    if (!vb_bus_check_flags(flags, 0, "SetBlockThreshold", error) ||
        !vb_domain_set_block_threshold(call->service->domains, call->dom, dev, threshold,
                                       vb_bus_owner(call), error))
        return NULL;
    return g_variant_new("()");
}
