/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vCPU count, IOThreads and the emulator's threads on the bus (issue 13, part vcpuio;
 * docs/tuning.md): Domain.GetVcpus, GetIOThreadInfo, AddIOThread, DelIOThread,
 * PinEmulator, GetEmulatorPinInfo. The work is in domain/domain-vcpuio.c.
 */
#include "config.h"

#include "bus-service.h"
#include "domain-vcpuio.h"
#include "vb-error.h"

#define AFFECT (VB_VCPUIO_LIVE | VB_VCPUIO_CONFIG)

/* GetVcpus(u flags) -> u: virDomainGetVcpusFlags */
GVariant *
vb_bus_vcpuio_get_vcpus(VbBusCall *call, GError **error)
{
    guint32 flags;
    guint count = 0;

    g_variant_get(call->parameters, "(u)", &flags);
    if (!vb_bus_check_flags(flags, AFFECT | VB_VCPUIO_MAXIMUM | VB_VCPUIO_GUEST, "GetVcpus",
                            error) ||
        !vb_domain_get_vcpus(call->service->domains, call->dom, flags, vb_bus_owner(call),
                             &count, error))
        return NULL;
    return g_variant_new("(u)", count);
}

/* GetIOThreadInfo(u flags) -> a(uab): virDomainGetIOThreadInfo */
GVariant *
vb_bus_vcpuio_get_iothread_info(VbBusCall *call, GError **error)
{
    g_autoptr(GVariant) info = NULL;
    guint32 flags;

    g_variant_get(call->parameters, "(u)", &flags);
    if (!vb_bus_check_flags(flags, AFFECT, "GetIOThreadInfo", error))
        return NULL;
    info = vb_domain_get_iothread_info(call->service->domains, call->dom, flags,
                                       vb_bus_owner(call), error);
    if (info == NULL)
        return NULL;
    return g_variant_new("(@a(uab))", info);
}

static GVariant *
change_iothread(VbBusCall *call, gboolean add, GError **error)
{
    guint32 id, flags;

    g_variant_get(call->parameters, "(uu)", &id, &flags);
    if (!vb_bus_check_flags(flags, AFFECT, add ? "AddIOThread" : "DelIOThread", error) ||
        !vb_domain_change_iothread(call->service->domains, call->dom, id, add, flags,
                                   vb_bus_owner(call), error))
        return NULL;
    return g_variant_new("()");
}

/* AddIOThread(u iothreadId, u flags): virDomainAddIOThread */
GVariant *
vb_bus_vcpuio_add_iothread(VbBusCall *call, GError **error)
{
    return change_iothread(call, TRUE, error);
}

/* DelIOThread(u iothreadId, u flags): virDomainDelIOThread */
GVariant *
vb_bus_vcpuio_del_iothread(VbBusCall *call, GError **error)
{
    return change_iothread(call, FALSE, error);
}

/* PinEmulator(ab cpumap, u flags): virDomainPinEmulator */
GVariant *
vb_bus_vcpuio_pin_emulator(VbBusCall *call, GError **error)
{
    g_autoptr(GVariant) cpumap = NULL;
    guint32 flags;

    g_variant_get(call->parameters, "(@abu)", &cpumap, &flags);
    if (!vb_bus_check_flags(flags, AFFECT, "PinEmulator", error) ||
        !vb_domain_pin_emulator(call->service->domains, call->dom, cpumap, flags,
                                vb_bus_owner(call), error))
        return NULL;
    return g_variant_new("()");
}

/* GetEmulatorPinInfo(u flags) -> ab: virDomainGetEmulatorPinInfo */
GVariant *
vb_bus_vcpuio_get_emulator_pin_info(VbBusCall *call, GError **error)
{
    g_autoptr(GVariant) info = NULL;
    guint32 flags;

    g_variant_get(call->parameters, "(u)", &flags);
    if (!vb_bus_check_flags(flags, AFFECT, "GetEmulatorPinInfo", error))
        return NULL;
    info = vb_domain_get_emulator_pin_info(call->dom, flags, error);
    if (info == NULL)
        return NULL;
    return g_variant_new("(@ab)", info);
}

/* GetPerfEvents(u flags) -> a{sv}: virDomainGetPerfEvents */
GVariant *
vb_bus_vcpuio_get_perf_events(VbBusCall *call, GError **error)
{
    g_autoptr(GVariant) info = NULL;
    guint32 flags;

    g_variant_get(call->parameters, "(u)", &flags);
    if (!vb_bus_check_flags(flags, AFFECT, "GetPerfEvents", error))
        return NULL;
    info = vb_domain_get_perf_events(call->dom, flags, error);
    if (info == NULL)
        return NULL;
    return g_variant_new("(@a{sv})", info);
}

/* SetPerfEvents(a{sv} params, u flags): virDomainSetPerfEvents */
GVariant *
vb_bus_vcpuio_set_perf_events(VbBusCall *call, GError **error)
{
    g_autoptr(GVariant) params = NULL;
    guint32 flags;

    g_variant_get(call->parameters, "(@a{sv}u)", &params, &flags);
    if (!vb_bus_check_flags(flags, AFFECT, "SetPerfEvents", error) ||
        !vb_domain_set_perf_events(call->service->domains, call->dom, params, flags,
                                   vb_bus_owner(call), error))
        return NULL;
    return g_variant_new("()");
}
