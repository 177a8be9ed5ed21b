/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Shared by domain-hotplug.c and domain-hotplug-events.c (issue 13, part hotplug).
 */
#pragma once

#include <json-glib/json-glib.h>

#include "domain-list.h"
#include "qemu-monitor.h"

G_BEGIN_DECLS

/* A QMP command with the hotplug timeout (30 s). */
JsonNode *vb_domain_hotplug_qmp(VbQemuMonitor *mon, const char *cmd, JsonObject *args,
                                GError **error);

/* With the job: the second half of an unplug, after DEVICE_DELETED (backends, the live
 * definition, the status file, DeviceRemoved). */
void vb_domain_hotplug_finish_removal(VbDomainList *list, VbDomainObj *dom, const char *alias);
/* issue 13, part netupd: the same, DeviceRemoved only with @notify */
void vb_domain_hotplug_remove_device(VbDomainList *list, VbDomainObj *dom, const char *alias,
                                     gboolean notify);

/* Under dom->lock: whether libvirt lets this device be unplugged. */
gboolean vb_domain_hotplug_check_detachable(const VbDeviceDef *dev, GError **error);

/* A display's password over QMP (domain-hotplug-graphics.c): at start and on update. */
gboolean vb_domain_graphics_auth_apply(VbQemuMonitor *mon, const VbGraphicsAuth *auth,
                                       guint timeout_ms, GError **error);
gboolean vb_domain_hotplug_update_graphics(VbDomainObj *dom, VbQemuMonitor *mon,
                                           VbDomainDef *live, guint64 run, VbDeviceDef *old,
                                           const char *xml, GError **error);

/* issue 14, part devns (domain-devns.c): host devices in QEMU's private /dev, with the job */
gboolean vb_domain_devns_add(VbDomainObj *dom, GPtrArray *opts, GError **error);
void vb_domain_devns_drop(VbDomainObj *dom, const char *path);

G_END_DECLS
