/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Devices while running on the bus (issue 13, part hotplug): AttachDevice, DetachDevice,
 * DetachDeviceAlias and UpdateDevice (service/domain/domain-hotplug.c). Workers.
 */
#include "config.h"

#include "bus-service.h"
#include "domain-hotplug.h"
#include "vb-error.h"

#define MODIFY_FLAGS (VB_DOMAIN_DEVICE_MODIFY_LIVE | VB_DOMAIN_DEVICE_MODIFY_CONFIG)

/* AttachDevice(s xml, u flags) */
GVariant *
vb_bus_attach_device(VbBusCall *call, GError **error)
{
    const char *xml;
    guint32 flags;

    g_variant_get(call->parameters, "(&su)", &xml, &flags);
    if (!vb_bus_check_flags(flags, MODIFY_FLAGS, "AttachDevice", error) ||
        !vb_domain_attach_device(call->service->domains, call->dom, xml, flags, vb_bus_owner(call),
                                 error))
        return NULL;
    return g_variant_new("()");
}

/* DetachDevice(s xml, u flags) */
GVariant *
vb_bus_detach_device(VbBusCall *call, GError **error)
{
    const char *xml;
    guint32 flags;

    g_variant_get(call->parameters, "(&su)", &xml, &flags);
    if (!vb_bus_check_flags(flags, MODIFY_FLAGS, "DetachDevice", error) ||
        !vb_domain_detach_device(call->service->domains, call->dom, xml, flags, vb_bus_owner(call),
                                 error))
        return NULL;
    return g_variant_new("()");
}

/* DetachDeviceAlias(s alias, u flags) */
GVariant *
vb_bus_detach_device_alias(VbBusCall *call, GError **error)
{
    const char *alias;
    guint32 flags;

    g_variant_get(call->parameters, "(&su)", &alias, &flags);
    if (!vb_bus_check_flags(flags, MODIFY_FLAGS, "DetachDeviceAlias", error) ||
        !vb_domain_detach_device_alias(call->service->domains, call->dom, alias, flags,
                                       vb_bus_owner(call), error))
        return NULL;
    return g_variant_new("()");
}

/* UpdateDevice(s xml, u flags) */
GVariant *
vb_bus_update_device(VbBusCall *call, GError **error)
{
    const char *xml;
    guint32 flags;

    g_variant_get(call->parameters, "(&su)", &xml, &flags);
    if (!vb_bus_check_flags(flags, MODIFY_FLAGS | VB_DOMAIN_DEVICE_MODIFY_FORCE,
                            "UpdateDevice", error) ||
        !vb_domain_update_device(call->service->domains, call->dom, xml, flags, vb_bus_owner(call),
                                 error))
        return NULL;
    return g_variant_new("()");
}

/* The signal a notify event carries (main context); FALSE when it is none of these. */
gboolean
vb_bus_hotplug_emit(VbBusService *service, const char *path, const char *event,
                    const char *detail)
{
    const char *alias = detail != NULL ? detail : "";
    const char *signal;

    if (g_str_equal(event, VB_DOMAIN_DEVICE_ADDED_EVENT))
        signal = "DeviceAdded";
    else if (g_str_equal(event, VB_DOMAIN_DEVICE_REMOVED_EVENT))
        signal = "DeviceRemoved";
    else if (g_str_equal(event, VB_DOMAIN_DEVICE_REMOVAL_FAILED_EVENT))
        signal = "DeviceRemovalFailed";
    else
        return FALSE;
    vb_bus_domain_emit(service, path, NULL, signal, g_variant_new("(s)", alias));
    return TRUE;
}
