/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

#include "domain-def.h"
#include "qemu-caps.h"

G_BEGIN_DECLS

/* A hugetlbfs mount of the host (from /proc/mounts): where huge pages of one size live. */
typedef struct {
    char *path;
    guint64 size_kib;
    gboolean is_default; /* the kernel's default huge page size */
} VbHugetlbfs;

void vb_hugetlbfs_free(VbHugetlbfs *m);
GPtrArray *vb_hugetlbfs_find(void);
/*
 * What the start path learnt about a disk's images before spawning (qemu-disk-prepare.c),
 * by target dev. The builder reads nothing from disk: without this, a disk's backing chain
 * is the one its <backingStore> elements give (or none).
 */
typedef struct {
    char *type;   /* "file" or "block" */
    char *path;
    char *format; /* from the image that names it, never probed for a layer with a backing */
} VbQemuDiskLayer;

typedef struct {
    gboolean drop_source; /* startupPolicy='optional' and the medium is missing: empty drive */
    GPtrArray *backing;   /* VbQemuDiskLayer*, below the top image, nearest first; nullable */
} VbQemuDiskPrep;

void vb_qemu_disk_prep_free(VbQemuDiskPrep *prep);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VbQemuDiskPrep, vb_qemu_disk_prep_free)

/* What the command line needs beyond the definition: the runtime paths. */
typedef struct {
    int id;                   /* the domain's runtime id */
    const char *monitor_path; /* QMP unix socket */
    const char *pidfile;
    const char *runtime_dir;  /* the domain's private runtime directory */
    int vnc_port;             /* allocated display port for autoport VNC, or -1 */
    gboolean incoming;        /* "-incoming defer": the state comes by migrate-incoming */
    const char *loadvm;       /* issue 15: "-loadvm TAG", an internal snapshot to start from */
    const GPtrArray *hugetlbfs; /* VbHugetlbfs*, the host's mounts; nullable (none) */
    GHashTable *disks;        /* target dev -> VbQemuDiskPrep*, nullable */
    int websocket_port;       /* allocated for a VNC websocket='-1', or 0 */
    /* interfaces (issue 12, part interfaces) */
    const GPtrArray *nets;    /* VbQemuNetPrep* (qemu-net.h), one per <interface>, in
                                 order; NULL: fd numbers for one queue each, no vhost */
    gboolean no_sandbox;      /* leave out -sandbox (seccomp_sandbox=no) */
    int monitor_fd;           /* > 0: the service bound and listens on monitor_path itself and
                                 QEMU gets that socket at this fd number ("fd=", issue 16);
                                 0: QEMU creates it ("path=") */
} VbQemuCommandParams;

/* Taint reasons the command line reveals (qemu:commandline, disk probing). */
typedef enum {
    VB_TAINT_CUSTOM_ARGV = 1 << 0,
    VB_TAINT_DISK_PROBING = 1 << 1,
    VB_TAINT_CUSTOM_MONITOR = 1 << 2,
    VB_TAINT_CUSTOM_GA_COMMAND = 1 << 3, /* QemuAgentCommand (issue 13, part agent) */
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

/* qemu-command-blockdev.c: the block_set_io_throttle arguments (JsonObject*) of the disks'
 * <iotune>, to send before the guest runs, as libvirt does with -blockdev */
GPtrArray *vb_qemu_command_disk_throttles(const VbDomainDef *def, GHashTable *disks);

/* qemu-disk-prepare.c: reads the disks' images (blocking: workers only, no lock held) */
gboolean vb_qemu_disk_prepare(const VbDomainDef *def, GHashTable **out_disks, GError **error);

G_END_DECLS
