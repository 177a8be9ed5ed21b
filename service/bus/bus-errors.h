/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>

#include "vb-error.h"

G_BEGIN_DECLS

#define VB_DBUS_ERROR_PREFIX "org.virtbus.Virt1.Error."

void vb_bus_errors_register(void);
void vb_bus_error_return(GDBusMethodInvocation *invocation, GError *error);
const char *vb_bus_error_name(gint code);

G_END_DECLS
