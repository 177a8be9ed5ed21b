/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/**
 * VbErrorCode:
 *
 * The one error domain of virtbus. Every code maps to a D-Bus error name
 * `org.virtbus.Virt1.Error.<Name>` in bus/bus-errors.c; keep the two in
 * the same order (a static assert checks the count).
 */
typedef enum {
    VB_ERROR_FAILED,            /* Failed */
    VB_ERROR_INTERNAL,          /* Internal */
    VB_ERROR_INVALID_ARG,       /* InvalidArgument */
    VB_ERROR_INVALID_XML,       /* InvalidXML */
    VB_ERROR_NO_DOMAIN,         /* NoDomain */
    VB_ERROR_EXISTS,            /* AlreadyExists */
    VB_ERROR_INVALID_STATE,     /* OperationInvalid */
    VB_ERROR_NOT_AUTHORIZED,    /* NotAuthorized */
    VB_ERROR_NOT_SUPPORTED,     /* NotSupported */
    VB_ERROR_OPERATION_TIMEOUT, /* OperationTimeout */
    VB_ERROR_BUSY,              /* Busy */
    VB_ERROR_ABORTED,           /* Aborted */
    VB_ERROR_IO,                /* IO */
    VB_ERROR_ABI_MISMATCH,      /* ABIMismatch */
    VB_ERROR_QEMU,              /* Qemu */
    VB_ERROR_MIGRATION,         /* Migration */
    VB_ERROR_NO_NETWORK,        /* NoNetwork */
    VB_ERROR_AGENT_UNRESPONSIVE, /* AgentUnresponsive: the guest agent cannot be reached */
    VB_ERROR_AGENT_COMMAND,     /* AgentCommandFailed: the guest agent answered an error */
    VB_ERROR_NO_SNAPSHOT,       /* NoSnapshot: libvirt's VIR_ERR_NO_DOMAIN_SNAPSHOT (issue 15) */
    VB_ERROR_NO_JOB,            /* NoJob: a call on a Job object that is gone */
    VB_ERROR_LAST
} VbErrorCode;

#define VB_ERROR (vb_error_quark())
GQuark vb_error_quark(void);

gboolean vb_error_ensure(GError **error);

/* Index of @str in the first @n entries of an enum name table, or -1. */
int vb_enum_lookup(const char *const *table, int n, const char *str);
void vb_error_convert(GError **error);

G_END_DECLS
