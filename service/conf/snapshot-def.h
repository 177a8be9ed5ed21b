/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

#include "domain-def.h"

G_BEGIN_DECLS

/*
 * libvirt's <domainsnapshot> XML (issue 15): parse, validate, format. No bus API here;
 * see docs/snapshots.md for the accepted XML and what is kept verbatim.
 */

/* <state>: libvirt's virDomainSnapshotState; "nostate" is never valid in XML */
typedef enum {
    VB_SNAPSHOT_STATE_NOSTATE,
    VB_SNAPSHOT_STATE_RUNNING,
    VB_SNAPSHOT_STATE_BLOCKED,
    VB_SNAPSHOT_STATE_PAUSED,
    VB_SNAPSHOT_STATE_SHUTDOWN,
    VB_SNAPSHOT_STATE_SHUTOFF,
    VB_SNAPSHOT_STATE_CRASHED,
    VB_SNAPSHOT_STATE_PMSUSPENDED,
    VB_SNAPSHOT_STATE_DISK_SNAPSHOT,
    VB_SNAPSHOT_STATE_LAST
} VbSnapshotState;

/* snapshot= of <memory> and <disk>; DEFAULT means "not given" and is never written */
typedef enum {
    VB_SNAPSHOT_LOCATION_DEFAULT,
    VB_SNAPSHOT_LOCATION_NO,
    VB_SNAPSHOT_LOCATION_INTERNAL,
    VB_SNAPSHOT_LOCATION_EXTERNAL,
    VB_SNAPSHOT_LOCATION_MANUAL,
    VB_SNAPSHOT_LOCATION_LAST
} VbSnapshotLocation;

typedef enum {
    /* an existing snapshot (redefinition or our stored copy): name, state and creationTime
     * are required, <parent>, <domain> and <inactiveDomain> are read */
    VB_SNAPSHOT_PARSE_REDEFINE = 1 << 0,
    /* our stored copy: also <active> (whether it is the current snapshot) is required */
    VB_SNAPSHOT_PARSE_INTERNAL = 1 << 1,
    /* SnapshotCreateXML's VALIDATE: refuse (InvalidXML) what the parser would keep verbatim
     * or drop and libvirt's schema does not allow; keep the embedded domains' text for
     * vb_snapshot_def_get_domain_xml() */
    VB_SNAPSHOT_PARSE_VALIDATE = 1 << 2,
} VbSnapshotParseFlags;

typedef enum {
    VB_SNAPSHOT_FORMAT_SECURE = 1 << 0,   /* secrets of the embedded domain */
    VB_SNAPSHOT_FORMAT_INTERNAL = 1 << 1, /* write <active> (the stored copy) */
} VbSnapshotFormatFlags;

typedef struct {
    char *name;                  /* <disk name=>: a target (vda) after alignment */
    VbSnapshotLocation snapshot; /* snapshot= */
    char *type;                  /* type= of the new image: file, block, network; nullable */
    char *driver_type;           /* <driver type=>, nullable */
    char *source_path;           /* <source file=> or <source dev=>, nullable */
    struct _VbSnapshotDiskPrivate *priv;
} VbSnapshotDiskDef;

typedef struct _VbSnapshotDef VbSnapshotDef;

struct _VbSnapshotDef {
    char *name;
    char *description;      /* nullable */
    VbSnapshotState state;  /* NOSTATE when not given (a new snapshot) */
    char *parent_name;      /* <parent><name>, nullable */
    gint64 creation_time;   /* seconds since the epoch */
    VbSnapshotLocation memory;
    char *memory_file;      /* nullable */
    GPtrArray *disks;       /* VbSnapshotDiskDef*, in document order */
    GPtrArray *revert_disks; /* <revertDisks>: the overlays the last revert to this external
                              * snapshot made (VbSnapshotDiskDef*); nullable */
    VbDomainDef *dom;       /* <domain>, nullable */
    char *dom_uuid;         /* an old snapshot's <domain> holding only <uuid>, nullable */
    VbDomainDef *inactive_dom; /* <inactiveDomain>, nullable */
    gboolean current;       /* <active>1</active> (PARSE_INTERNAL only) */
    struct _VbSnapshotDefPrivate *priv;
};

const char *vb_snapshot_state_to_string(VbSnapshotState state);
int vb_snapshot_state_from_string(const char *str);
const char *vb_snapshot_location_to_string(VbSnapshotLocation loc);
int vb_snapshot_location_from_string(const char *str);

gboolean vb_snapshot_name_validate(const char *name, GError **error);

VbSnapshotDef *vb_snapshot_def_parse_string(const char *xml, guint parse_flags, GError **error);
char *vb_snapshot_def_format(const VbSnapshotDef *def, guint format_flags, GError **error);
gboolean vb_snapshot_def_align_disks(VbSnapshotDef *def, const VbDomainDef *dom,
                                     VbSnapshotLocation default_loc, GError **error);
gboolean vb_snapshot_def_is_offline(const VbSnapshotDef *def);
const char *vb_snapshot_def_get_domain_xml(const VbSnapshotDef *def, gboolean inactive);
VbSnapshotDiskDef *vb_snapshot_disk_def_new_file(const char *name, const char *path,
                                                 const char *format);
void vb_snapshot_disk_def_free(VbSnapshotDiskDef *disk);
void vb_snapshot_def_free(VbSnapshotDef *def);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VbSnapshotDef, vb_snapshot_def_free)

G_END_DECLS
