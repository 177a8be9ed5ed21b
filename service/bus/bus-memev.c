/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Memory, vCPUs and QEMU events on the bus (issue 13, part memev; docs/events.md):
 * Domain.SetMemory, SetMaxMemory, the CurrentMemory property and the event signals.
 * The work is in domain/domain-memev.c.
 */
#include "config.h"

#include <glib/gi18n.h>
#include <string.h>

#include "bus-errors.h"
#include "bus-names.h"
#include "bus-service.h"
#include "domain-memev.h"
#include "vb-error.h"

/**
 * vb_bus_memev_emit:
 * @event: "signal:NAME"
 * @detail: the parameters as g_variant_print() wrote them
 *
 * Emits a domain signal queued by vb_domain_emit_signal(). Main thread.
 *
 * Returns: whether @event was such a signal
 */
gboolean
vb_bus_memev_emit(VbBusService *service, const char *path, const char *event,
                  const char *detail)
{
    g_autoptr(GVariant) params = NULL;
    g_autoptr(GError) error = NULL;

    if (event == NULL || !g_str_has_prefix(event, VB_DOMAIN_SIGNAL_PREFIX))
        return FALSE;
    params = g_variant_parse(NULL, detail != NULL ? detail : "()", NULL, NULL, &error);
    if (params == NULL || !g_variant_is_of_type(params, G_VARIANT_TYPE_TUPLE)) {
        g_warning("signal %s: bad parameters %s: %s", event, detail,
                  error != NULL ? error->message : "not a tuple");
        return TRUE;
    }
    vb_bus_domain_emit(service, path, NULL, event + strlen(VB_DOMAIN_SIGNAL_PREFIX),
                       params);
    return TRUE;
}

/* SetMemory(t memory, u flags): virDomainSetMemoryFlags, KiB. */
GVariant *
vb_bus_memev_set_memory(VbBusCall *call, GError **error)
{
    guint64 kib;
    guint32 flags;

    g_variant_get(call->parameters, "(tu)", &kib, &flags);
    if (!vb_bus_check_flags(flags, VB_MEM_ALL_FLAGS, "SetMemory", error) ||
        !vb_domain_set_memory(call->service->domains, call->dom, kib, flags,
                              vb_bus_owner(call), error))
        return NULL;
    return g_variant_new("()");
}

/* SetMaxMemory(t memory): virDomainSetMaxMemory (MAXIMUM of the current definition). */
GVariant *
vb_bus_memev_set_max_memory(VbBusCall *call, GError **error)
{
    guint64 kib;

    g_variant_get(call->parameters, "(t)", &kib);
    if (!vb_domain_set_memory(call->service->domains, call->dom, kib, VB_MEM_MAXIMUM,
                              vb_bus_owner(call), error))
        return NULL;
    return g_variant_new("()");
}

/* PinVcpu(u vcpu, ab cpumap, u flags), PinIOThread(u iothread, ab cpumap, u flags) */
static GVariant *
pin(VbBusCall *call, VbPinKind kind, const char *method, GError **error)
{
    g_autoptr(GVariant) cpumap = NULL;
    guint32 id, flags;

    g_variant_get(call->parameters, "(u@abu)", &id, &cpumap, &flags);
    if (!vb_bus_check_flags(flags, VB_MEM_LIVE | VB_MEM_CONFIG, method, error) ||
        !vb_domain_pin(call->service->domains, call->dom, kind, id, cpumap, flags,
                       vb_bus_owner(call), error))
        return NULL;
    return g_variant_new("()");
}

GVariant *
vb_bus_memev_pin_vcpu(VbBusCall *call, GError **error)
{
    return pin(call, VB_PIN_VCPU, "PinVcpu", error);
}

GVariant *
vb_bus_memev_pin_iothread(VbBusCall *call, GError **error)
{
    return pin(call, VB_PIN_IOTHREAD, "PinIOThread", error);
}

/* GetVcpuPinInfo(u flags) -> aab */
GVariant *
vb_bus_memev_get_vcpu_pin_info(VbBusCall *call, GError **error)
{
    g_autoptr(GVariant) info = NULL;
    guint32 flags;

    g_variant_get(call->parameters, "(u)", &flags);
    if (!vb_bus_check_flags(flags, VB_MEM_LIVE | VB_MEM_CONFIG, "GetVcpuPinInfo", error))
        return NULL;
    info = vb_domain_get_vcpu_pin_info(call->dom, flags, error);
    if (info == NULL)
        return NULL;
    return g_variant_new("(@aab)", info);
}

/* SetVcpus(u vcpus, u flags): virDomainSetVcpusFlags */
GVariant *
vb_bus_memev_set_vcpus(VbBusCall *call, GError **error)
{
    guint32 n, flags;

    g_variant_get(call->parameters, "(uu)", &n, &flags);
    if (!vb_bus_check_flags(flags, VB_VCPU_ALL_FLAGS, "SetVcpus", error) ||
        !vb_domain_set_vcpus(call->service->domains, call->dom, n, flags, vb_bus_owner(call),
                             error))
        return NULL;
    return g_variant_new("()");
}
