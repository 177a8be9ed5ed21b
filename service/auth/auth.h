/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>

#include "vb-caller.h"

G_BEGIN_DECLS

#define VB_ACTION_READ "org.virtbus.Virt1.read"
#define VB_ACTION_MANAGE "org.virtbus.Virt1.manage"
#define VB_ACTION_DEFINE "org.virtbus.Virt1.define"
#define VB_ACTION_MIGRATE "org.virtbus.Virt1.migrate"
#define VB_ACTION_SAVE "org.virtbus.Virt1.save"
#define VB_ACTION_ATTACH "org.virtbus.Virt1.attach"
#define VB_ACTION_MONITOR "org.virtbus.Virt1.monitor"
#define VB_ACTION_NETWORK "org.virtbus.Virt1.network"
#define VB_ACTION_AGENT "org.virtbus.Virt1.agent" /* QemuAgentCommand (issue 13) */
#define VB_ACTION_CONSOLE "org.virtbus.Virt1.console" /* issue 13, part console */
#define VB_ACTION_SNAPSHOT "org.virtbus.Virt1.snapshot" /* issue 15, part snapbus */

typedef struct _VbAuth VbAuth;

VbAuth *vb_auth_new(gboolean use_polkit, uid_t owner_uid, GError **error);
void vb_auth_free(VbAuth *auth);

void vb_auth_check_async(VbAuth *auth, VbCaller *caller, const char *action,
                         GHashTable *details, gboolean interactive, GCancellable *cancellable,
                         GAsyncReadyCallback callback, gpointer user_data);
gboolean vb_auth_check_finish(VbAuth *auth, GAsyncResult *result, GError **error);
gboolean vb_auth_is_unconditional(VbAuth *auth, VbCaller *caller);

G_END_DECLS
