/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "domain-list.h"

G_BEGIN_DECLS

/*
 * Lock order: define_lock, then lock, then a domain's lock.
 * @lock guards only the two tables and is held for hash operations; the
 * main thread may take it. @define_lock serializes the changes that write
 * configs to disk (define, undefine, autostart) and is taken by workers
 * only, so the main thread never waits for disk I/O.
 */
struct _VbDomainList {
    GMutex lock;
    GMutex define_lock;
    GHashTable *by_uuid; /* under lock: uuid string -> VbDomainObj (ref) */
    GHashTable *by_name; /* under lock: name -> VbDomainObj (borrowed from by_uuid) */
    const VbPaths *paths;
    VbDomainPathFunc path_func;
    VbDomainNotifyFunc notify;
    gpointer notify_data;
};

void vb_domain_list_notify(VbDomainList *list, VbDomainObj *dom, VbDomainNotifyKind kind,
                           const char *event, const char *detail);
void vb_domain_list_insert(VbDomainList *list, VbDomainObj *dom, const char *name);
void vb_domain_def_warn_unknown(const VbDomainDef *def);

G_END_DECLS
