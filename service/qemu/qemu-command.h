/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

#include "domain-def.h"
#include "qemu-caps.h"

G_BEGIN_DECLS

/* What the command line needs beyond the definition: the runtime paths. */
typedef struct {
    int id;                   /* the domain's runtime id */
    const char *monitor_path; /* QMP unix socket */
    const char *pidfile;
    const char *runtime_dir;  /* the domain's private runtime directory */
    int vnc_port;             /* allocated display port for autoport VNC, or -1 */
    gboolean incoming;        /* "-incoming defer": the state comes by migrate-incoming */
    int websocket_port;       /* allocated for a VNC websocket='-1', or 0 */
} VbQemuCommandParams;

/* Taint reasons the command line reveals (qemu:commandline, disk probing). */
typedef enum {
    VB_TAINT_CUSTOM_ARGV = 1 << 0,
    VB_TAINT_DISK_PROBING = 1 << 1,
    VB_TAINT_CUSTOM_MONITOR = 1 << 2,
} VbTaintFlags;

GStrv vb_qemu_command_build(const VbDomainDef *def, const VbQemuCaps *caps,
                            const VbQemuCommandParams *params, guint *out_taint,
                            GError **error);
GStrv vb_qemu_command_build_full(const VbDomainDef *def, const VbQemuCaps *caps,
                                 const VbQemuCommandParams *params, guint *out_taint,
                                 GPtrArray **out_ignored, GError **error);
gboolean vb_qemu_command_check(const VbDomainDef *def, const VbQemuCaps *caps,
                               GPtrArray **out_ignored, GError **error);
char *vb_qemu_command_to_string(const char *const *argv);

G_END_DECLS
