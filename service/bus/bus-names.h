/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define VB_BUS_NAME "org.virtbus.Virt1"
#define VB_BUS_MANAGER_PATH "/org/virtbus/Virt1"
#define VB_BUS_DOMAIN_PATH_PREFIX "/org/virtbus/Virt1/domain/"
#define VB_BUS_JOB_PATH_PREFIX "/org/virtbus/Virt1/job/"
#define VB_BUS_NETWORK_PATH_PREFIX "/org/virtbus/Virt1/network/"
#define VB_BUS_MANAGER_IFACE "org.virtbus.Virt1.Manager"
#define VB_BUS_DOMAIN_IFACE "org.virtbus.Virt1.Domain"
#define VB_BUS_JOB_IFACE "org.virtbus.Virt1.Job"
#define VB_BUS_NETWORK_IFACE "org.virtbus.Virt1.Network"

char *vb_bus_domain_path(const char *uuid);
char *vb_bus_domain_path_to_uuid(const char *path);
char *vb_bus_job_path(guint id);
gboolean vb_bus_vanished_error(const char *path, GError **error);

G_END_DECLS
