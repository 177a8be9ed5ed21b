/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Interfaces of the tap types while running (issue 13, part hotplug, second session):
 * domain-hotplug-net.c, used by domain-hotplug.c.
 */

#include "domain-list.h"
#include "qemu-monitor.h"
#include "qemu-net.h"

G_BEGIN_DECLS

gboolean vb_hotplug_net_is_tap(const VbDeviceDef *dev);
gboolean vb_hotplug_net_check_mac(const VbDomainDef *def, const VbDeviceDef *dev,
                                  GError **error);
VbQemuNetPrep *vb_hotplug_net_prepare(VbDomainList *list, VbDomainDef *live,
                                      const VbDeviceDef *dev, GPtrArray **out_nets,
                                      GError **error);
gboolean vb_hotplug_net_pass_fds(VbQemuMonitor *mon, const VbQemuNetPrep *prep,
                                 GPtrArray *opts, GPtrArray **out_names, GError **error);
void vb_hotplug_net_closefds(VbQemuMonitor *mon, GPtrArray *names);
void vb_hotplug_net_commit(VbDomainObj *dom, VbQemuNetPrep *prep);
void vb_hotplug_net_release(VbDomainObj *dom, const char *alias);
gboolean vb_hotplug_net_rx_filter_event(VbDomainList *list, VbDomainObj *dom,
                                        const VbDomainEvent *ev);

/* issue 13, part netupd (domain-hotplug-netupd.c) */
gboolean vb_hotplug_net_update(VbDomainList *list, VbDomainObj *dom, VbQemuMonitor *mon,
                               guint64 run, VbDomainDef *live, VbDeviceDef *old,
                               const char *xml, GError **error);
void vb_hotplug_net_rx_sync(const char *uuid, const char *alias, const char *ifname,
                            JsonObject *guest);

G_END_DECLS
