/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>
#include <sys/types.h>

#include "domain-def-tune.h"
#include "domain-list.h"
#include "domain-obj.h"
#include "vb-config.h"

G_BEGIN_DECLS

/*
 * Per-domain cgroups (issue 14, part cgroup; docs/resources.md): where a run's QEMU is put
 * and how its <memtune>, <cputune> and <blkiotune> limits are applied, by cgroup_mode:
 * a systemd-machined machine, a transient systemd scope, a cgroup made directly, or none.
 */

void vb_domain_cgroup_init(int configured_mode);
VbCgroupMode vb_domain_cgroup_mode(void);
char *vb_domain_cgroup_machine_name(int id, const char *name);
char *vb_domain_cgroup_scope_name(const char *machine_name);
char *vb_domain_cgroup_slice_name(const char *partition);

gboolean vb_domain_cgroup_attach(VbDomainObj *dom, pid_t pid, GError **error);
gboolean vb_domain_cgroup_join(VbDomainObj *dom, pid_t pid, GError **error);
void vb_domain_cgroup_remove(VbDomainObj *dom);
gboolean vb_domain_cgroup_set_live(VbDomainObj *dom, const VbDomainTune *tune, guint32 items,
                                   gboolean devices, GError **error);
void vb_domain_cgroup_unsupported(const VbDomainDef *def, GStrvBuilder *b);
/* status XML (domain-status.c, domain-reconnect.c); under dom->lock */
void vb_domain_cgroup_format(VbDomainObj *dom, GString *buf);
void vb_domain_cgroup_forget(const char *mode, const char *const *dirs);
void vb_domain_cgroup_adopt(VbDomainObj *dom, const char *mode, const char *unit,
                            const char *const *dirs);

G_END_DECLS
