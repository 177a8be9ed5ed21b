/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Shared by the qemu-command*.c files only. Devices are written as JSON (-device '{...}',
 * -blockdev, -netdev, -object), as libvirt 9.x does for QEMU 7.2, with the keys in
 * libvirt's order so the goldens read like libvirt's qemuxmlconfdata *.args.
 */

#include "domain-def-priv.h"
#include "qemu-command.h"

typedef struct {
    GPtrArray *argv;
    const VbDomainDef *def;
    const VbQemuCaps *caps;
    const VbQemuCommandParams *params;
    guint taint;
    gboolean q35;
    GHashTable *bootindex; /* VbDeviceDef* -> bootindex (GINT) */
} VbQemuCmd;

/* qemu-command.c */
void vb_qemu_cmd_add(VbQemuCmd *c, const char *arg);
void vb_qemu_cmd_addf(VbQemuCmd *c, const char *opt, const char *fmt, ...) G_GNUC_PRINTF(3, 4);
char *vb_qemu_cmd_escape(const char *value);
gboolean vb_qemu_cmd_unsupported(GError **error, const VbDeviceDef *dev, const char *fmt, ...)
    G_GNUC_PRINTF(3, 4);
gboolean vb_qemu_cmd_need_device(VbQemuCmd *c, const VbDeviceDef *dev, const char *name,
                                 GError **error);
gboolean vb_qemu_cmd_check_extra(const VbDeviceDef *dev, const VbExtra *extra,
                                 const char *where, const char *const ok_attrs[],
                                 const char *const ok_children[], GError **error);
int vb_qemu_cmd_device_index(const VbQemuCmd *c, const VbDeviceDef *dev);

/* JSON objects with ordered keys */
GString *vb_json_new(void);
void vb_json_str(GString *j, const char *key, const char *value);
void vb_json_int(GString *j, const char *key, gint64 value);
void vb_json_bool(GString *j, const char *key, gboolean value);
char *vb_json_end(GString *j);
void vb_qemu_cmd_add_json(VbQemuCmd *c, const char *opt, GString *j);
gboolean vb_qemu_cmd_add_device(VbQemuCmd *c, const VbDeviceDef *dev, GString *j,
                                GError **error);
gboolean vb_qemu_cmd_pci_props(VbQemuCmd *c, GString *j, const VbDeviceDef *dev,
                               GError **error);
void vb_qemu_cmd_bootindex(VbQemuCmd *c, GString *j, const VbDeviceDef *dev);

/* qemu-command-disk.c */
gboolean vb_qemu_cmd_build_controllers(VbQemuCmd *c, GError **error);
gboolean vb_qemu_cmd_build_disks(VbQemuCmd *c, GError **error);

/* qemu-command-net.c */
gboolean vb_qemu_cmd_build_nets(VbQemuCmd *c, GError **error);

/* qemu-command-chardev.c */
gboolean vb_qemu_cmd_build_chardevs(VbQemuCmd *c, GError **error);

/* qemu-command-devices.c */
gboolean vb_qemu_cmd_build_inputs(VbQemuCmd *c, GError **error);
gboolean vb_qemu_cmd_build_graphics(VbQemuCmd *c, GError **error);
gboolean vb_qemu_cmd_build_video(VbQemuCmd *c, GError **error);
gboolean vb_qemu_cmd_build_misc(VbQemuCmd *c, GError **error);
