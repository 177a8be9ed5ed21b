/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include "bus-errors.h"

/* One entry per VbErrorCode, in the same order. */
static const GDBusErrorEntry vb_error_entries[] = {
    { VB_ERROR_FAILED, VB_DBUS_ERROR_PREFIX "Failed" },
    { VB_ERROR_INTERNAL, VB_DBUS_ERROR_PREFIX "Internal" },
    { VB_ERROR_INVALID_ARG, VB_DBUS_ERROR_PREFIX "InvalidArgument" },
    { VB_ERROR_INVALID_XML, VB_DBUS_ERROR_PREFIX "InvalidXML" },
    { VB_ERROR_NO_DOMAIN, VB_DBUS_ERROR_PREFIX "NoDomain" },
    { VB_ERROR_EXISTS, VB_DBUS_ERROR_PREFIX "AlreadyExists" },
    { VB_ERROR_INVALID_STATE, VB_DBUS_ERROR_PREFIX "OperationInvalid" },
    { VB_ERROR_NOT_AUTHORIZED, VB_DBUS_ERROR_PREFIX "NotAuthorized" },
    { VB_ERROR_NOT_SUPPORTED, VB_DBUS_ERROR_PREFIX "NotSupported" },
    { VB_ERROR_OPERATION_TIMEOUT, VB_DBUS_ERROR_PREFIX "OperationTimeout" },
    { VB_ERROR_BUSY, VB_DBUS_ERROR_PREFIX "Busy" },
    { VB_ERROR_ABORTED, VB_DBUS_ERROR_PREFIX "Aborted" },
    { VB_ERROR_IO, VB_DBUS_ERROR_PREFIX "IO" },
    { VB_ERROR_ABI_MISMATCH, VB_DBUS_ERROR_PREFIX "ABIMismatch" },
    { VB_ERROR_QEMU, VB_DBUS_ERROR_PREFIX "Qemu" },
    { VB_ERROR_MIGRATION, VB_DBUS_ERROR_PREFIX "Migration" },
    { VB_ERROR_NO_NETWORK, VB_DBUS_ERROR_PREFIX "NoNetwork" },
    { VB_ERROR_AGENT_UNRESPONSIVE, VB_DBUS_ERROR_PREFIX "AgentUnresponsive" },
    { VB_ERROR_AGENT_COMMAND, VB_DBUS_ERROR_PREFIX "AgentCommandFailed" },
    { VB_ERROR_NO_SNAPSHOT, VB_DBUS_ERROR_PREFIX "NoSnapshot" }, /* issue 15, part snapbus */
    { VB_ERROR_NO_JOB, VB_DBUS_ERROR_PREFIX "NoJob" },
};

G_STATIC_ASSERT(G_N_ELEMENTS(vb_error_entries) == VB_ERROR_LAST);

/**
 * vb_bus_errors_register:
 *
 * Registers the VB_ERROR ↔ D-Bus error name mapping, so that GDBus
 * encodes VB_ERROR codes as their names and clients decode them back.
 * Idempotent, any thread.
 */
void
vb_bus_errors_register(void)
{
    static gsize registered = 0;

    g_dbus_error_register_error_domain("virtbus-error-quark", &registered, vb_error_entries,
                                       G_N_ELEMENTS(vb_error_entries));
}

/**
 * vb_bus_error_name:
 * @code: a VbErrorCode
 *
 * Returns: the D-Bus error name for @code.
 */
const char *
vb_bus_error_name(gint code)
{
    if (code < 0 || code >= VB_ERROR_LAST)
        return vb_error_entries[VB_ERROR_FAILED].dbus_error_name;
    return vb_error_entries[code].dbus_error_name;
}

/**
 * vb_bus_error_return:
 * @invocation: (transfer full): the call to answer
 * @error: (transfer none): any error
 *
 * Answers @invocation with @error, converted to a VB_ERROR first so the
 * caller always sees an org.virtbus.Virt1.Error.* name.
 */
void
vb_bus_error_return(GDBusMethodInvocation *invocation, GError *error)
{
    g_autoptr(GError) copy = g_error_copy(error);

    vb_error_convert(&copy);
    g_dbus_method_invocation_return_dbus_error(invocation, vb_bus_error_name(copy->code),
                                               copy->message);
}
