/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

#include "domain-list.h"

G_BEGIN_DECLS

/*
 * The journal of an external snapshot's change of the disks (issue 15, part svckill;
 * domain-snapshot-journal.c): what a service killed in the middle of it needs to make the
 * definitions agree with the files and with what QEMU has open.
 */

void vb_snapshot_test_kill_point(const char *point);

gboolean vb_snapshot_journal_create(VbDomainList *list, VbDomainObj *dom, const char *name,
                                    gboolean active, GPtrArray *disks, const char *metadata,
                                    GError **error);
gboolean vb_snapshot_journal_delete(VbDomainList *list, VbDomainObj *dom, const char *name,
                                    const char *target, const char *overlay, const char *base,
                                    const char *base_format, gboolean top, GError **error);
void vb_snapshot_journal_remove(VbDomainList *list, VbDomainObj *dom);
gboolean vb_snapshot_journal_done(VbDomainList *list, VbDomainObj *dom);
void vb_snapshot_journal_recover(VbDomainList *list);

G_END_DECLS
