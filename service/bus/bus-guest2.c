/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Guest calls a frontend makes (issue 13, part guest2; docs/agent.md "More guest calls",
 * docs/guest-peek.md): FSTrim, GetGuestVcpus, SetGuestVcpus, PMSuspendForDuration,
 * PMWakeup, GetDiskErrors, Rename, MemoryPeek, BlockPeek. The work is in
 * domain/domain-guest2*.c.
 */
#include "config.h"

#include "bus-service.h"
#include "domain-guest2.h"
#include "vb-error.h"

GVariant *
vb_bus_guest2_fstrim(VbBusCall *call, GError **error)
{
    const char *mountpoint;
    guint64 minimum;
    guint32 flags;

    g_variant_get(call->parameters, "(&stu)", &mountpoint, &minimum, &flags);
    if (!vb_bus_check_flags(flags, 0, "FSTrim", error) ||
        !vb_domain_fstrim(call->service->domains, call->dom, mountpoint, minimum,
                          vb_bus_owner(call), error))
        return NULL;
    return g_variant_new("()");
}

GVariant *
vb_bus_guest2_get_guest_vcpus(VbBusCall *call, GError **error)
{
    guint32 flags;
    g_autoptr(GVariant) info = NULL;

    g_variant_get(call->parameters, "(u)", &flags);
    if (!vb_bus_check_flags(flags, 0, "GetGuestVcpus", error))
        return NULL;
    info = vb_domain_get_guest_vcpus(call->service->domains, call->dom, vb_bus_owner(call), error);
    if (info == NULL)
        return NULL;
    return g_variant_new("(@a{sv})", info);
}

GVariant *
vb_bus_guest2_set_guest_vcpus(VbBusCall *call, GError **error)
{
    g_autoptr(GVariant) map = NULL;
    gint32 state;
    guint32 flags;

    g_variant_get(call->parameters, "(@abiu)", &map, &state, &flags);
    if (!vb_bus_check_flags(flags, 0, "SetGuestVcpus", error) ||
        !vb_domain_set_guest_vcpus(call->service->domains, call->dom, map, state,
                                   vb_bus_owner(call), error))
        return NULL;
    return g_variant_new("()");
}

GVariant *
vb_bus_guest2_pm_suspend(VbBusCall *call, GError **error)
{
    guint32 target, flags;
    guint64 duration;

    g_variant_get(call->parameters, "(utu)", &target, &duration, &flags);
    if (!vb_bus_check_flags(flags, 0, "PMSuspendForDuration", error) ||
        !vb_domain_pm_suspend(call->service->domains, call->dom, target, duration,
                              vb_bus_owner(call), error))
        return NULL;
    return g_variant_new("()");
}

GVariant *
vb_bus_guest2_pm_wakeup(VbBusCall *call, GError **error)
{
    guint32 flags;

    g_variant_get(call->parameters, "(u)", &flags);
    if (!vb_bus_check_flags(flags, 0, "PMWakeup", error) ||
        !vb_domain_pm_wakeup(call->service->domains, call->dom, vb_bus_owner(call), error))
        return NULL;
    return g_variant_new("()");
}

GVariant *
vb_bus_guest2_get_disk_errors(VbBusCall *call, GError **error)
{
    guint32 flags;
    g_autoptr(GVariant) errs = NULL;

    g_variant_get(call->parameters, "(u)", &flags);
    if (!vb_bus_check_flags(flags, 0, "GetDiskErrors", error))
        return NULL;
    errs = vb_domain_get_disk_errors(call->service->domains, call->dom, vb_bus_owner(call), error);
    if (errs == NULL)
        return NULL;
    return g_variant_new("(@a(si))", errs);
}

GVariant *
vb_bus_guest2_rename(VbBusCall *call, GError **error)
{
    const char *name;
    guint32 flags;

    g_variant_get(call->parameters, "(&su)", &name, &flags);
    if (!vb_bus_check_flags(flags, 0, "Rename", error) ||
        !vb_domain_rename(call->service->domains, call->dom, name, vb_bus_owner(call), error))
        return NULL;
    return g_variant_new("()");
}

static GVariant *
bytes_reply(GBytes *bytes)
{
    GVariant *ay;

    if (bytes == NULL)
        return NULL;
    ay = g_variant_new_from_bytes(G_VARIANT_TYPE_BYTESTRING, bytes, TRUE);
    g_bytes_unref(bytes);
    return g_variant_new_tuple(&ay, 1);
}

GVariant *
vb_bus_guest2_memory_peek(VbBusCall *call, GError **error)
{
    guint64 offset, size;
    guint32 flags;

    g_variant_get(call->parameters, "(ttu)", &offset, &size, &flags);
    if (!vb_bus_check_flags(flags, VB_MEMORY_VIRTUAL | VB_MEMORY_PHYSICAL, "MemoryPeek", error))
        return NULL;
    return bytes_reply(vb_domain_memory_peek(call->service->domains, call->dom, offset, size, flags,
                                             vb_bus_owner(call), error));
}

GVariant *
vb_bus_guest2_block_peek(VbBusCall *call, GError **error)
{
    const char *disk;
    guint64 offset, size;
    guint32 flags;

    g_variant_get(call->parameters, "(&sttu)", &disk, &offset, &size, &flags);
    if (!vb_bus_check_flags(flags, 0, "BlockPeek", error))
        return NULL;
    return bytes_reply(vb_domain_block_peek(call->dom, disk, offset, size, error));
}
