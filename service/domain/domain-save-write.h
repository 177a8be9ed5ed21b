/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <json-glib/json-glib.h>

#include "domain-list-priv.h"
#include "domain-save-image.h"

G_BEGIN_DECLS

/*
 * Writing a save image of a running QEMU (domain-save-write.c): the header and the XML
 * into a temporary file beside the target, QEMU's migration stream after them (through
 * zstd when compressed), then the rename into place. Used by Save/ManagedSave
 * (domain-save.c) and by external snapshots with memory (domain-snapshot-memory.c).
 */

/* How the writer talks to QEMU: vb_domain_async_monitor() (a nested job per command), or
 * vb_domain_held_monitor() (the caller holds the nested job already). */
typedef JsonNode *(*VbMonitorSendFunc)(VbDomainList *list, VbDomainObj *dom, const char *cmd,
                                       JsonObject *args, int fd, GError **error);

JsonNode *vb_domain_held_monitor(VbDomainList *list, VbDomainObj *dom, const char *cmd,
                                 JsonObject *args, int fd, GError **error);

typedef struct {
    /* set by the caller */
    VbSaveTarget *target;   /* opened (vb_save_target_open()) */
    const char *xml;        /* the XML the image records */
    guint32 header_flags;   /* RUNNING or PAUSED: the state after a restore */
    gboolean compress;      /* through zstd */
    VbMonitorSendFunc send;
    const char *open_phase; /* the job's phase while the file is opened (static) */
    gboolean cancelable;    /* that phase's Cancelable (TRUE unless set otherwise) */
    /* the writer's */
    int file_fd;
    int qemu_fd;            /* what QEMU writes to: file_fd, or the pipe into zstd */
    GPid compressor;
    gboolean opened;        /* a temporary file exists (or may) */
} VbSaveWriter;

void vb_save_writer_init(VbSaveWriter *w, VbSaveTarget *target, const char *xml,
                         guint32 header_flags, gboolean compress, VbMonitorSendFunc send,
                         const char *open_phase);
gboolean vb_save_writer_open(VbDomainList *list, VbDomainObj *dom, VbJob *job, VbSaveWriter *w,
                             GError **error);
gboolean vb_save_writer_migrate(VbDomainList *list, VbDomainObj *dom, VbJob *job,
                                VbSaveWriter *w, GError **error);
gboolean vb_save_writer_commit(VbSaveWriter *w, GError **error);
void vb_save_writer_abort(VbDomainList *list, VbDomainObj *dom, VbSaveWriter *w);
void vb_save_writer_forget(VbSaveWriter *w);
void vb_save_writer_clear(VbSaveWriter *w);
guint64 vb_save_writer_size(VbSaveWriter *w);

G_END_DECLS
