/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Memory DIMMs while running (issue 13, part memev): AttachDevice/DetachDevice of
 * <memory model='dimm'> (pc-dimm + memory-backend-ram), called by the hotplug part.
 */

#include "domain-list.h"
#include "qemu-command.h"

G_BEGIN_DECLS

gboolean vb_domain_memdev_is_memory(const char *xml);
gboolean vb_domain_memdev_attach(VbDomainList *list, VbDomainObj *dom, VbQemuMonitor *mon,
                                 const VbQemuCaps *caps, const VbQemuCommandParams *params,
                                 const char *xml, char **out_alias, GError **error);
gboolean vb_domain_memdev_detach(VbDomainList *list, VbDomainObj *dom, VbQemuMonitor *mon,
                                 const char *xml, const char *alias, gboolean wait,
                                 GError **error);
gboolean vb_domain_memdev_deleted(VbDomainList *list, VbDomainObj *dom, const char *alias);

/* the persistent definition (issue 13, part memcfg) */
gboolean vb_domain_memdev_config_attach(VbDomainDef *def, const char *xml, GError **error);
gboolean vb_domain_memdev_config_detach(VbDomainDef *def, const char *xml, GError **error);
void vb_domain_memdev_config_remove(VbDomainDef *def, VbDeviceDef *dev);
gboolean vb_domain_memdev_is_memory_dev(const VbDeviceDef *dev);

G_END_DECLS
