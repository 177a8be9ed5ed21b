/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The options of one device for a running QEMU (issue 13, part hotplug): built by the
 * same functions as the command line, so a hot-plugged device and a cold-started one
 * cannot drift apart.
 */

#include <json-glib/json-glib.h>

#include "domain-def-priv.h"
#include "qemu-command.h"

G_BEGIN_DECLS

GPtrArray *vb_qemu_command_hotplug(const VbDomainDef *def, const VbQemuCaps *caps,
                                   const VbQemuCommandParams *params, const VbDeviceDef *dev,
                                   int node, GError **error);

/* qemu-command-chardev.c: chardev-add's arguments of a -chardev value the builder wrote */
JsonObject *vb_qemu_chardev_opts_to_qmp(const char *opts, GError **error);

/* qemu-disk-prepare.c: vb_qemu_disk_prepare() of one disk */
gboolean vb_qemu_disk_prepare_one(const VbDeviceDef *dev, GHashTable **out_disks,
                                  GError **error);

G_END_DECLS
