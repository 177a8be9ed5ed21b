/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Resource tuning on the bus (issue 14, part cgroup; docs/resources.md):
 * Domain.GetMemoryParameters / SetMemoryParameters, GetSchedulerParameters /
 * SetSchedulerParameters, GetBlkioParameters / SetBlkioParameters. The work is in
 * domain/domain-tune.c; a Set with CONFIG also needs the define action (bus-dispatch.c).
 */
#include "config.h"

#include "bus-service.h"
#include "domain-tune.h"
#include "vb-error.h"

#define AFFECT (VB_TUNE_LIVE | VB_TUNE_CONFIG)

static const char *const get_names[] = { "GetMemoryParameters", "GetSchedulerParameters",
                                         "GetBlkioParameters" };
static const char *const set_names[] = { "SetMemoryParameters", "SetSchedulerParameters",
                                         "SetBlkioParameters" };

static GVariant *
get_params(VbBusCall *call, VbTuneGroup group, GError **error)
{
    g_autoptr(GVariant) dict = NULL;
    guint32 flags;

    g_variant_get(call->parameters, "(u)", &flags);
    if (!vb_bus_check_flags(flags, AFFECT, get_names[group], error))
        return NULL;
    dict = vb_domain_get_tune_params(call->dom, group, flags, error);
    if (dict == NULL)
        return NULL;
    return g_variant_new("(@a{sv})", g_steal_pointer(&dict));
}

static GVariant *
set_params(VbBusCall *call, VbTuneGroup group, GError **error)
{
    g_autoptr(GVariant) params = NULL;
    guint32 flags;

    g_variant_get(call->parameters, "(@a{sv}u)", &params, &flags);
    if (!vb_bus_check_flags(flags, AFFECT, set_names[group], error) ||
        !vb_domain_set_tune_params(call->service->domains, call->dom, group, params, flags,
                                   vb_bus_owner(call), error))
        return NULL;
    return g_variant_new("()");
}

/* GetMemoryParameters(u flags) -> a{sv}: virDomainGetMemoryParameters */
GVariant *
vb_bus_tune_get_memory(VbBusCall *call, GError **error)
{
    return get_params(call, VB_TUNE_GROUP_MEMORY, error);
}

/* SetMemoryParameters(a{sv} params, u flags): virDomainSetMemoryParameters */
GVariant *
vb_bus_tune_set_memory(VbBusCall *call, GError **error)
{
    return set_params(call, VB_TUNE_GROUP_MEMORY, error);
}

/* GetSchedulerParameters(u flags) -> a{sv}: virDomainGetSchedulerParametersFlags */
GVariant *
vb_bus_tune_get_scheduler(VbBusCall *call, GError **error)
{
    return get_params(call, VB_TUNE_GROUP_SCHEDULER, error);
}

/* SetSchedulerParameters(a{sv} params, u flags): virDomainSetSchedulerParametersFlags */
GVariant *
vb_bus_tune_set_scheduler(VbBusCall *call, GError **error)
{
    return set_params(call, VB_TUNE_GROUP_SCHEDULER, error);
}

/* GetBlkioParameters(u flags) -> a{sv}: virDomainGetBlkioParameters */
GVariant *
vb_bus_tune_get_blkio(VbBusCall *call, GError **error)
{
    return get_params(call, VB_TUNE_GROUP_BLKIO, error);
}

/* SetBlkioParameters(a{sv} params, u flags): virDomainSetBlkioParameters */
GVariant *
vb_bus_tune_set_blkio(VbBusCall *call, GError **error)
{
    return set_params(call, VB_TUNE_GROUP_BLKIO, error);
}
