/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Devices added to and taken out of a definition one at a time (issue 13, part hotplug):
 * AttachDevice, DetachDevice, DetachDeviceAlias and UpdateDevice work on the model with
 * these, the live definition of a running domain or the persistent one alike.
 */

#include "domain-def-priv.h"

G_BEGIN_DECLS

/* the largest device document AttachDevice takes */
#define VB_DEVICE_XML_MAX_BYTES (1024 * 1024)

VbDeviceDef *vb_domain_def_hotplug_parse(VbDomainDef *def, const char *xml, GError **error);
VbDeviceDef *vb_domain_def_hotplug_match(const VbDomainDef *def, const char *xml,
                                         GError **error);
VbDeviceDef *vb_domain_def_find_alias(const VbDomainDef *def, const char *alias);
VbDeviceDef *vb_domain_def_find_disk(const VbDomainDef *def, const char *target_dev);
VbDeviceDef *vb_domain_def_steal_device(VbDomainDef *def, const VbDeviceDef *dev);
void vb_domain_def_insert_device(VbDomainDef *def, VbDeviceDef *dev);
gboolean vb_domain_def_remove_device(VbDomainDef *def, const VbDeviceDef *dev);
gboolean vb_device_def_has_child(const VbDeviceDef *dev, const char *name);
gboolean vb_graphics_auth_get(const VbDeviceDef *dev, VbGraphicsAuth *auth);
void vb_graphics_auth_copy_to(VbDeviceDef *dst, const VbDeviceDef *src);

G_END_DECLS
