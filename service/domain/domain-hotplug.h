/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Devices while running (issue 13, part hotplug): AttachDevice, DetachDevice,
 * DetachDeviceAlias and UpdateDevice as libvirt 9.0's qemuDomainAttachDeviceFlags,
 * qemuDomainDetachDeviceFlags, qemuDomainDetachDeviceAlias and qemuDomainUpdateDeviceFlags
 * (domain-hotplug.c). Worker threads; the DEVICE_DELETED side runs in the event worker.
 */

#include "domain-list.h"

G_BEGIN_DECLS

/* libvirt's virDomainDeviceModifyFlags: AFFECT_CURRENT 0, LIVE 1, CONFIG 2, FORCE 4 */
#define VB_DOMAIN_DEVICE_MODIFY_LIVE 1u
#define VB_DOMAIN_DEVICE_MODIFY_CONFIG 2u
#define VB_DOMAIN_DEVICE_MODIFY_FORCE 4u

/* the notify events that carry the DeviceAdded, DeviceRemoved and DeviceRemovalFailed
 * signals; the detail is the device's alias */
#define VB_DOMAIN_DEVICE_ADDED_EVENT "DeviceAdded"
#define VB_DOMAIN_DEVICE_REMOVED_EVENT "DeviceRemoved"
#define VB_DOMAIN_DEVICE_REMOVAL_FAILED_EVENT "DeviceRemovalFailed"

/* how long DetachDevice waits for DEVICE_DELETED (libvirt's QEMU_UNPLUG_TIMEOUT) */
#define VB_DOMAIN_UNPLUG_TIMEOUT_MS 5000

typedef enum {
    VB_UNPLUG_WAITING,
    VB_UNPLUG_DELETED,  /* DEVICE_DELETED came */
    VB_UNPLUG_REJECTED, /* DEVICE_UNPLUG_GUEST_ERROR came */
} VbUnplugStatus;

gboolean vb_domain_attach_device(VbDomainList *list, VbDomainObj *dom, const char *xml,
                                 guint flags, const char *owner, GError **error);
gboolean vb_domain_detach_device(VbDomainList *list, VbDomainObj *dom, const char *xml,
                                 guint flags, const char *owner, GError **error);
gboolean vb_domain_detach_device_alias(VbDomainList *list, VbDomainObj *dom,
                                       const char *alias, guint flags, const char *owner,
                                       GError **error);
gboolean vb_domain_update_device(VbDomainList *list, VbDomainObj *dom, const char *xml,
                                 guint flags, const char *owner, GError **error);

/* with the job: device_del and the wait for DEVICE_DELETED (vCPUs, memory) */
int vb_domain_hotplug_unplug_wait(VbDomainObj *dom, VbQemuMonitor *mon, const char *alias,
                                  GError **error);
/* after a reconnect: devices QEMU dropped while the service was down */
void vb_domain_hotplug_reconnect(VbDomainList *list, VbDomainObj *dom);
/* issue 13, part netupd: an attach the service's end interrupted */
void vb_domain_hotplug_reconnect_pending(VbDomainList *list, VbDomainObj *dom,
                                         const char *alias);
/* the monitor thread, as it queues an event: wakes a waiting DetachDevice */
void vb_domain_hotplug_wake(VbDomainObj *dom, const VbDomainEvent *ev);
/* the event worker: DEVICE_DELETED and DEVICE_UNPLUG_GUEST_ERROR; TRUE when handled */
gboolean vb_domain_hotplug_event(VbDomainList *list, VbDomainObj *dom,
                                 const VbDomainEvent *ev);

G_END_DECLS
