/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>

#include "domain-list.h"

G_BEGIN_DECLS

/* The host's shutdown: logind inhibitor and on_host_shutdown (issue 14, part cgroup;
 * domain-shutdown.c) */
void vb_domain_host_shutdown_start(VbDomainList *list, GDBusConnection *bus);
void vb_domain_host_shutdown_update(void);
void vb_domain_host_shutdown_stop(void);
gboolean vb_domain_host_shutdown_defer_exit(GSourceFunc exit_cb, gpointer data);

G_END_DECLS
