/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

#include "domain-def-priv.h"
#include "qemu-process.h"

G_BEGIN_DECLS

/*
 * QEMU as an unprivileged user (issue 14, part dac; libvirt's DAC driver with "remember
 * owner"): the files QEMU opens by path are given to its user for the run, their owners
 * recorded on disk first, and given back when the last run that uses them ends, also after
 * a crash of the service. See docs/confinement-dac.md.
 */

gboolean vb_qemu_ids_resolve(const char *user, const char *group, VbQemuIds *out_ids,
                             GError **error);

/* A file QEMU opens itself. */
typedef struct {
    char *path;        /* as the definition names it */
    gboolean readonly; /* QEMU only reads it */
    gboolean create;   /* QEMU would create it (a chardev's file): made empty, 0600, first */
} VbQemuDacFile;

void vb_qemu_dac_file_free(VbQemuDacFile *file);
GPtrArray *vb_qemu_dac_files(const VbDomainDef *def, GHashTable *disks);
GPtrArray *vb_qemu_dac_files_of_disk(const VbDeviceDef *disk, GHashTable *disks);

/* The owner record: one per service, shared by every domain (a reference per path). */
typedef struct _VbQemuDac VbQemuDac;

VbQemuDac *vb_qemu_dac_new(const char *record_path, const VbQemuIds *ids);
void vb_qemu_dac_free(VbQemuDac *dac);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VbQemuDac, vb_qemu_dac_free)
gboolean vb_qemu_dac_load(VbQemuDac *dac, GError **error);
gboolean vb_qemu_dac_hold(VbQemuDac *dac, const char *holder, GPtrArray *files,
                          GError **error);
void vb_qemu_dac_release(VbQemuDac *dac, const char *holder);
guint vb_qemu_dac_reconcile(VbQemuDac *dac, const char *const *live_holders);
guint vb_qemu_dac_refcount(VbQemuDac *dac, const char *path);

gboolean vb_qemu_dac_give_dir(const VbQemuIds *ids, const char *dir, GError **error);
gboolean vb_qemu_dac_open_dirs(const VbQemuIds *ids, const char *dir, const char *stop,
                               GError **error);
gboolean vb_qemu_dac_can_reach(const VbQemuIds *ids, const char *path, GError **error);
void vb_qemu_dac_give_sockets(const VbQemuIds *ids, const char *dir);

G_END_DECLS
