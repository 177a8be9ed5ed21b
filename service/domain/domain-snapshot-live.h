/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

#include "domain-list.h"

G_BEGIN_DECLS

/* Internal snapshots of a running domain with QEMU's snapshot jobs (domain-snapshot-live.c,
 * issue 15). With the domain's job held; worker threads. */
gboolean vb_domain_snapshot_live_save(VbDomainList *list, VbDomainObj *dom, const char *tag,
                                      GPtrArray *targets, gboolean *out_was_running,
                                      GError **error);
gboolean vb_domain_snapshot_live_load(VbDomainList *list, VbDomainObj *dom, const char *tag,
                                      GPtrArray *targets, gboolean run, GError **error);
gboolean vb_domain_snapshot_live_delete(VbDomainList *list, VbDomainObj *dom, const char *tag,
                                        GPtrArray *targets, GError **error);
JsonArray *vb_domain_snapshot_disk_nodes(VbDomainObj *dom, VbQemuMonitor *mon,
                                         GPtrArray *targets, GError **error);
/* With the job: STOP and RESUME events pass (domain-events.c) while @own. */
void vb_domain_snapshot_own_run_state(VbDomainObj *dom, gboolean own);

G_END_DECLS
