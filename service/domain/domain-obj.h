/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

#include "domain-def.h"

G_BEGIN_DECLS

typedef enum {
    VB_DOMAIN_STATE_NOSTATE,
    VB_DOMAIN_STATE_RUNNING,
    VB_DOMAIN_STATE_BLOCKED,
    VB_DOMAIN_STATE_PAUSED,
    VB_DOMAIN_STATE_SHUTDOWN,
    VB_DOMAIN_STATE_SHUTOFF,
    VB_DOMAIN_STATE_CRASHED,
    VB_DOMAIN_STATE_PMSUSPENDED,
    VB_DOMAIN_STATE_LAST
} VbDomainState;

/* One table of reasons for every state: the bus shows them as strings. */
typedef enum {
    VB_DOMAIN_REASON_UNKNOWN,
    VB_DOMAIN_REASON_BOOTED,
    VB_DOMAIN_REASON_USER,
    VB_DOMAIN_REASON_UNPAUSED,
    VB_DOMAIN_REASON_SHUTDOWN,
    VB_DOMAIN_REASON_DESTROYED,
    VB_DOMAIN_REASON_CRASHED,
    VB_DOMAIN_REASON_MIGRATED,
    VB_DOMAIN_REASON_SAVED,
    VB_DOMAIN_REASON_RESTORED,
    VB_DOMAIN_REASON_FAILED,
    VB_DOMAIN_REASON_LAST
} VbDomainReason;

const char *vb_domain_state_to_string(VbDomainState state);
int vb_domain_state_from_string(const char *str);
const char *vb_domain_reason_to_string(VbDomainReason reason);
int vb_domain_reason_from_string(const char *str);

typedef struct _VbDomainObj VbDomainObj;

/*
 * The runtime domain. Fields marked "under lock" are read and written with
 * @lock held; the lock is never held across disk I/O, QEMU or bus calls.
 */
struct _VbDomainObj {
    gint refcount;
    GMutex lock;

    char uuid_str[37];      /* immutable */
    char *object_path;      /* immutable */

    VbDomainDef *def;       /* under lock: the current (live, when active) definition */
    VbDomainDef *new_def;   /* under lock: persistent definition for the next start */
    VbDomainState state;    /* under lock */
    VbDomainReason reason;  /* under lock */
    int id;                 /* under lock: -1 when inactive */
    gboolean persistent;    /* under lock */
    gboolean autostart;     /* under lock */
    gboolean removed;       /* under lock: gone from the list; calls fail with NoDomain */
};

/* What the bus shows of a domain, copied under the lock. */
typedef struct {
    char *name;
    char uuid[37];
    int id;
    const char *state;
    const char *reason;
    gboolean active;
    gboolean persistent;
    gboolean autostart;
    guint64 memory_kib;
    guint vcpus;
} VbDomainSnapshot;

VbDomainObj *vb_domain_obj_new(VbDomainDef *def, const char *object_path);
VbDomainObj *vb_domain_obj_ref(VbDomainObj *dom);
void vb_domain_obj_unref(VbDomainObj *dom);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VbDomainObj, vb_domain_obj_unref)

gboolean vb_domain_obj_is_active(VbDomainObj *dom);
char *vb_domain_obj_get_name(VbDomainObj *dom);
void vb_domain_obj_snapshot(VbDomainObj *dom, VbDomainSnapshot *out_snap);
void vb_domain_snapshot_clear(VbDomainSnapshot *snap);
gboolean vb_domain_obj_check_alive(VbDomainObj *dom, GError **error);

G_END_DECLS
