/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <string.h>

#include "domain-list-priv.h"
#include "domain-snapshot-external.h"
#include "domain-snapshot-journal.h" /* issue 15, part svckill */
#include "domain-snapshot-live.h"
#include "domain-snapshot-memory.h"
#include "domain-snapshot-revert-ext.h"
#include "domain-snapshot-start.h"
#include "domain-snapshot.h"
#include "qemu-img-snapshot.h"
#include "snapshot-store.h"
#include "vb-error.h"

/*
 * Snapshots of a domain (issue 15). dom->snapshots is loaded on the first call that needs
 * it and used only with the domain's job held (QUERY for reads; MODIFY, or the nested job
 * of the async job `snapshot`, for changes), so the store (not thread-safe) is serialized
 * by the job. SnapshotCreateXML and Revert are async jobs: the caller's worker checks
 * everything it can (the D-Bus reply carries those errors), then the job's thread does the
 * work holding its nested job, so Start, a second snapshot and queries of the store wait
 * while qemu-img or QEMU write the images; Destroy may interrupt it.
 */

void
vb_snapshot_info_free(VbSnapshotInfo *info)
{
    if (info == NULL)
        return;
    g_free(info->name);
    g_free(info->parent);
    g_free(info->state);
    g_free(info);
}

static gboolean
def_is_external(const VbSnapshotDef *def)
{
    if (def->memory == VB_SNAPSHOT_LOCATION_EXTERNAL)
        return TRUE;
    for (guint i = 0; def->disks != NULL && i < def->disks->len; i++) {
        const VbSnapshotDiskDef *d = def->disks->pdata[i];

        if (d->snapshot == VB_SNAPSHOT_LOCATION_EXTERNAL)
            return TRUE;
    }
    return FALSE;
}

static GPtrArray *
collect_infos(VbSnapshotStore *store)
{
    g_autoptr(GPtrArray) names = vb_snapshot_store_topological(store);
    GPtrArray *infos = g_ptr_array_new_with_free_func((GDestroyNotify)vb_snapshot_info_free);
    const char *current = vb_snapshot_store_get_current(store);

    for (guint i = 0; i < names->len; i++) {
        const VbSnapshotDef *def = vb_snapshot_store_lookup(store, names->pdata[i]);
        g_autoptr(GPtrArray) children = NULL;
        VbSnapshotInfo *info;

        if (def == NULL)
            continue;
        children = vb_snapshot_store_list_children(store, def->name);
        info = g_new0(VbSnapshotInfo, 1);
        info->name = g_strdup(def->name);
        info->parent = g_strdup(def->parent_name);
        info->current = current != NULL && g_str_equal(current, def->name);
        info->creation_time = def->creation_time;
        info->state = g_strdup(vb_snapshot_state_to_string(def->state));
        info->external = def_is_external(def);
        info->n_children = children != NULL ? children->len : 0;
        g_ptr_array_add(infos, info);
    }
    return infos;
}

/* With the job held: the domain's store, loaded the first time. */
static VbSnapshotStore *
get_store(VbDomainList *list, VbDomainObj *dom, GError **error)
{
    if (dom->snapshots == NULL)
        dom->snapshots = vb_snapshot_store_load(list->paths->snapshot_dir, dom->uuid_str, error);
    return dom->snapshots;
}

static gboolean
begin(VbDomainList *list, VbDomainObj *dom, VbJobType type, const char *method, GError **error)
{
    if (!vb_domain_obj_check_alive(dom, error))
        return FALSE;
    return vb_domain_job_begin(dom, type, method, NULL, list->config->job_wait_timeout,
                               list->config->max_queued, error);
}

static void
finish(VbDomainObj *dom, GPtrArray **out_infos)
{
    if (out_infos != NULL && dom->snapshots != NULL)
        *out_infos = collect_infos(dom->snapshots);
    vb_domain_job_end(dom);
}

/* With the job: a private copy of the inactive definition, or an error when @dom runs. */
static VbDomainDef *
inactive_def(VbDomainObj *dom, const char *what, GError **error)
{
    VbDomainDef *copy = NULL;
    gboolean active;

    g_mutex_lock(&dom->lock);
    active = dom->id >= 0 || dom->starting;
    if (!active)
        copy = vb_domain_def_copy(dom->new_def != NULL ? dom->new_def : dom->def);
    g_mutex_unlock(&dom->lock);
    if (active) {
        g_set_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
                    "%s of a running domain are not implemented yet; shut the domain off "
                    "first", what);
        return NULL;
    }
    if (copy == NULL)
        g_set_error(error, VB_ERROR, VB_ERROR_INTERNAL, "cannot copy the domain definition");
    return copy;
}

/* With the job: a copy of the live definition when @dom runs, else NULL (*@out_active
 * FALSE). */
static VbDomainDef *
live_def(VbDomainObj *dom, gboolean *out_active, GError **error)
{
    VbDomainDef *copy = NULL;

    g_mutex_lock(&dom->lock);
    *out_active = dom->id >= 0 || dom->starting;
    if (*out_active && dom->id >= 0)
        copy = vb_domain_def_copy(dom->def);
    g_mutex_unlock(&dom->lock);
    if (*out_active && copy == NULL)
        g_set_error_literal(error, VB_ERROR, VB_ERROR_INVALID_STATE,
                            "the domain is starting; try again when it runs");
    return copy;
}

/* the target devs of @disks (VbQemuImgDisk) */
static GPtrArray *
disk_targets(GPtrArray *disks)
{
    GPtrArray *targets = g_ptr_array_new_with_free_func(g_free);

    for (guint i = 0; i < disks->len; i++)
        g_ptr_array_add(targets, g_strdup(((VbQemuImgDisk *)disks->pdata[i])->target));
    return targets;
}

static const VbSnapshotDef *
lookup(VbSnapshotStore *store, const char *name, GError **error)
{
    const VbSnapshotDef *def = vb_snapshot_store_lookup(store, name);

    if (def == NULL)
        g_set_error(error, VB_ERROR, VB_ERROR_NO_SNAPSHOT, "no domain snapshot named '%s'",
                    name);
    return def;
}

/**
 * vb_domain_snapshot_disks:
 *
 * Returns: (transfer full) (element-type VbQemuImgDisk): the disks of @def whose images
 *   hold @snap's internal snapshot (those it does not give 'no'), or %NULL
 */
GPtrArray *
vb_domain_snapshot_disks(const VbSnapshotDef *snap, const VbDomainDef *def, GError **error)
{
    g_autoptr(GPtrArray) skip = g_ptr_array_new();

    for (guint i = 0; snap->disks != NULL && i < snap->disks->len; i++) {
        const VbSnapshotDiskDef *d = snap->disks->pdata[i];

        if (d->snapshot == VB_SNAPSHOT_LOCATION_NO)
            g_ptr_array_add(skip, d->name);
    }
    g_ptr_array_add(skip, NULL);
    return vb_qemu_img_snapshot_disks(def, (const char *const *)skip->pdata, error);
}

/**
 * vb_domain_snapshot_query:
 *
 * Loads the snapshots of @dom if needed and lists them. Worker threads.
 */
gboolean
vb_domain_snapshot_query(VbDomainList *list, VbDomainObj *dom, GPtrArray **out_infos,
                         GError **error)
{
    gboolean ok;

    if (!begin(list, dom, VB_JOB_QUERY, "ListSnapshots", error))
        return FALSE;
    ok = get_store(list, dom, error) != NULL;
    finish(dom, out_infos);
    return ok;
}

static gboolean
check_create_flags(guint flags, GError **error)
{
    guint known = 0x3ff;

    if (flags & ~known) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                    "SnapshotCreateXML: unsupported flags 0x%x", flags & ~known);
        return FALSE;
    }
    if ((flags & VB_SNAPSHOT_CREATE_CURRENT) && !(flags & VB_SNAPSHOT_CREATE_REDEFINE)) {
        g_set_error_literal(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                            "SnapshotCreateXML: CURRENT (2) is only valid with REDEFINE (1)");
        return FALSE;
    }
    if ((flags & VB_SNAPSHOT_CREATE_QUIESCE) && !(flags & VB_SNAPSHOT_CREATE_DISK_ONLY)) {
        g_set_error_literal(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                            "SnapshotCreateXML: QUIESCE (64) needs DISK_ONLY (16)");
        return FALSE;
    }
    if ((flags & VB_SNAPSHOT_CREATE_NO_METADATA) && (flags & VB_SNAPSHOT_CREATE_REDEFINE)) {
        g_set_error_literal(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                            "SnapshotCreateXML: REDEFINE (1) and NO_METADATA (4) exclude "
                            "each other");
        return FALSE;
    }
    return TRUE;
}

/* The disks a new internal snapshot @snap of @def goes to (its <disks> aligned with the
 * domain's, each internal or 'no'), after the checks both kinds of internal snapshot
 * make: a name qemu-img takes, not one the store has, at least one disk. */
static GPtrArray *
internal_disks(VbSnapshotStore *store, VbSnapshotDef *snap, const VbDomainDef *def,
               GError **error)
{
    GPtrArray *disks;

    if (!vb_snapshot_def_align_disks(snap, def, VB_SNAPSHOT_LOCATION_INTERNAL, error))
        return NULL;
    for (guint i = 0; i < snap->disks->len; i++) {
        const VbSnapshotDiskDef *d = snap->disks->pdata[i];

        if (d->snapshot == VB_SNAPSHOT_LOCATION_EXTERNAL ||
            d->snapshot == VB_SNAPSHOT_LOCATION_MANUAL) {
            g_set_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
                        "disk %s: %s snapshots are not implemented yet; only internal "
                        "snapshots of qcow2 disks are", d->name,
                        vb_snapshot_location_to_string(d->snapshot));
            return NULL;
        }
    }
    if (!vb_qemu_img_snapshot_name_validate(snap->name, error))
        return NULL;
    if (vb_snapshot_store_lookup(store, snap->name) != NULL) {
        g_set_error(error, VB_ERROR, VB_ERROR_EXISTS, "domain snapshot '%s' already exists",
                    snap->name);
        return NULL;
    }
    disks = vb_domain_snapshot_disks(snap, def, error);
    if (disks != NULL && disks->len == 0) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                    "snapshot '%s' would hold no disk: every disk has snapshot='no'",
                    snap->name);
        g_clear_pointer(&disks, g_ptr_array_unref);
    }
    return disks;
}

/* ---- SnapshotCreateXML and Revert: checked on the caller's worker, done by an async job ---- */

typedef enum {
    PLAN_REDEFINE,
    PLAN_INACTIVE,        /* a disk-only snapshot of the inactive domain (qemu-img) */
    PLAN_LIVE,            /* memory and disks of the running domain (snapshot-save) */
    PLAN_EXTERNAL,        /* new overlays on the disks (domain-snapshot-external.c) */
    PLAN_REVERT_INACTIVE, /* the inactive domain's disks (qemu-img) */
    PLAN_REVERT_LIVE,     /* the running domain in place (snapshot-load) */
    PLAN_REVERT_START,    /* a new QEMU (domain-snapshot-start.c, issue 15 snapstart) */
    PLAN_REVERT_EXTERNAL, /* new overlays (domain-snapshot-revert-ext.c, issue 15) */
} PlanKind;

/* What an async snapshot job does, decided and checked before its thread starts. */
typedef struct {
    PlanKind kind;
    guint flags;
    char *name;
    VbSnapshotDef *snap;  /* create: the new snapshot's definition */
    VbDomainDef *def;     /* create: the domain's definition now */
    GPtrArray *disks;     /* VbQemuImgDisk: the images that take part */
    GPtrArray *targets;   /* their target devs (running domain) */
    gboolean run;         /* revert live: let the guest run after */
    gboolean active;      /* external: the domain runs */
    GPtrArray *ext;       /* external: VbExtDisk */
    GHashTable *named;    /* create: the disks the XML named */
    VbSnapshotMemory *mem; /* external with memory: the memory file (issue 15, extmem) */
    VbJob *job;           /* the async job (set by plan_body) */
    char *owner;          /* the caller (the agent's job for QUIESCE) */
    VbSnapshotPublishFunc publish;
    gpointer user_data;
} Plan;

static void
plan_free(Plan *p)
{
    if (p == NULL)
        return;
    g_free(p->name);
    vb_snapshot_def_free(p->snap);
    vb_domain_def_free(p->def);
    g_clear_pointer(&p->disks, g_ptr_array_unref);
    g_clear_pointer(&p->targets, g_ptr_array_unref);
    g_clear_pointer(&p->ext, g_ptr_array_unref);
    g_clear_pointer(&p->named, g_hash_table_unref);
    vb_snapshot_memory_free(p->mem);
    g_free(p->owner);
    g_free(p);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Plan, plan_free)

static Plan *
plan_new(guint flags, const char *owner, VbSnapshotPublishFunc publish, gpointer user_data)
{
    Plan *p = g_new0(Plan, 1);

    p->flags = flags;
    p->owner = g_strdup(owner);
    p->publish = publish;
    p->user_data = user_data;
    return p;
}

/* With the nested job: the snapshots as they are now, handed to the bus; the object path
 * of snapshot @name (NULL: none, or no object). */
static char *
plan_publish(VbDomainObj *dom, const Plan *p, const char *name)
{
    if (p->publish == NULL || dom->snapshots == NULL)
        return NULL;
    return p->publish(dom, collect_infos(dom->snapshots), name, p->user_data);
}

/* A new internal disk-only snapshot of the inactive domain: the checks. */
static gboolean
plan_inactive(VbSnapshotStore *store, Plan *p, GError **error)
{
    VbSnapshotDef *snap = p->snap;

    if (snap->memory == VB_SNAPSHOT_LOCATION_INTERNAL ||
        snap->memory == VB_SNAPSHOT_LOCATION_EXTERNAL) {
        g_set_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
                    "snapshot '%s': a memory snapshot of an inactive domain is not possible "
                    "(it has no memory state); omit <memory> or give snapshot='no'",
                    snap->name);
        return FALSE;
    }
    snap->memory = VB_SNAPSHOT_LOCATION_NO;
    p->disks = internal_disks(store, snap, p->def, error);
    if (p->disks == NULL)
        return FALSE;
    snap->state = (p->flags & VB_SNAPSHOT_CREATE_DISK_ONLY) ? VB_SNAPSHOT_STATE_DISK_SNAPSHOT
                                                            : VB_SNAPSHOT_STATE_SHUTOFF;
    p->kind = PLAN_INACTIVE;
    return TRUE;
}

/* A new internal snapshot of the running domain, memory and disks: the checks. */
static gboolean
plan_live(VbSnapshotStore *store, Plan *p, GError **error)
{
    VbSnapshotDef *snap = p->snap;

    if (p->flags & VB_SNAPSHOT_CREATE_DISK_ONLY) {
        g_set_error_literal(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
                            "DISK_ONLY (16) snapshots of a running domain must be external "
                            "(QEMU takes internal snapshots of the disks only with the "
                            "memory); give the disks snapshot='external' or leave them out");
        return FALSE;
    }
    if (snap->memory == VB_SNAPSHOT_LOCATION_EXTERNAL || snap->memory == VB_SNAPSHOT_LOCATION_NO) {
        g_set_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
                    "snapshot '%s': <memory snapshot='%s'> of a running domain is not "
                    "implemented yet; only internal snapshots (memory in the first qcow2 disk)",
                    snap->name, vb_snapshot_location_to_string(snap->memory));
        return FALSE;
    }
    snap->memory = VB_SNAPSHOT_LOCATION_INTERNAL;
    p->disks = internal_disks(store, snap, p->def, error);
    if (p->disks == NULL)
        return FALSE;
    p->targets = disk_targets(p->disks);
    p->kind = PLAN_LIVE;
    return TRUE;
}

/* The snapshot's disks aligned with the domain's, as libvirt: DISK_ONLY or an external
 * memory state make the disks it does not name external, else internal. */
static gboolean
align_disks(Plan *p, gboolean *out_external, GError **error)
{
    VbSnapshotDef *snap = p->snap;
    /* the given disks (borrowed: a copy would take the array's free function) */
    g_autoptr(GPtrArray) given = g_ptr_array_new();
    VbSnapshotLocation loc = (p->flags & VB_SNAPSHOT_CREATE_DISK_ONLY) ||
                                     snap->memory == VB_SNAPSHOT_LOCATION_EXTERNAL
                                 ? VB_SNAPSHOT_LOCATION_EXTERNAL
                                 : VB_SNAPSHOT_LOCATION_INTERNAL;

    for (guint i = 0; i < snap->disks->len; i++)
        g_ptr_array_add(given, g_ptr_array_index(snap->disks, i));
    if (!vb_snapshot_def_align_disks(snap, p->def, loc, error) ||
        !vb_snapshot_external_wanted(snap, out_external, error))
        return FALSE;
    /* the disks the XML named (align keeps the same objects, renamed to targets) */
    p->named = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    for (guint i = 0; i < given->len; i++)
        g_hash_table_add(p->named,
                         g_strdup(((VbSnapshotDiskDef *)g_ptr_array_index(given, i))->name));
    return TRUE;
}

/* An external disk snapshot: the checks. */
static gboolean
plan_external(VbSnapshotStore *store, Plan *p, gboolean active, GError **error)
{
    VbSnapshotDef *snap = p->snap;
    gboolean disk_only = (p->flags & VB_SNAPSHOT_CREATE_DISK_ONLY) != 0;

    if (snap->memory == VB_SNAPSHOT_LOCATION_EXTERNAL && (!active || disk_only)) {
        g_set_error(error, VB_ERROR, !active ? VB_ERROR_NOT_SUPPORTED : VB_ERROR_INVALID_ARG,
                    "snapshot '%s': <memory snapshot='external'> needs %s; give "
                    "<memory snapshot='no'/> or leave it out", snap->name,
                    !active ? "a running domain (an inactive one has no memory state)"
                            : "a snapshot without DISK_ONLY (16)");
        return FALSE;
    }
    if (snap->memory == VB_SNAPSHOT_LOCATION_INTERNAL ||
        (active && !disk_only && snap->memory == VB_SNAPSHOT_LOCATION_DEFAULT)) {
        g_set_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
                    "snapshot '%s': external disks with an internal memory state are not "
                    "supported (libvirt refuses the mix too); give <memory "
                    "snapshot='external' file='...'/>, DISK_ONLY (16) or <memory "
                    "snapshot='no'/>", snap->name);
        return FALSE;
    }
    if ((p->flags & VB_SNAPSHOT_CREATE_QUIESCE) && !active) {
        g_set_error_literal(error, VB_ERROR, VB_ERROR_INVALID_STATE,
                            "QUIESCE (64) needs a running domain with a guest agent");
        return FALSE;
    }
    if (*snap->name == '\0' || strchr(snap->name, '/') != NULL ||
        g_str_equal(snap->name, ".") || g_str_equal(snap->name, "..")) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                    "snapshot name '%s' cannot name a file: an external snapshot's default "
                    "image is named after it", snap->name);
        return FALSE;
    }
    if (vb_snapshot_store_lookup(store, snap->name) != NULL) {
        g_set_error(error, VB_ERROR, VB_ERROR_EXISTS, "domain snapshot '%s' already exists",
                    snap->name);
        return FALSE;
    }
    if (snap->memory != VB_SNAPSHOT_LOCATION_EXTERNAL)
        snap->memory = VB_SNAPSHOT_LOCATION_NO;
    p->ext = vb_snapshot_external_disks(snap, p->def, p->named,
                                        (p->flags & VB_SNAPSHOT_CREATE_REUSE_EXT) != 0, error);
    if (p->ext == NULL)
        return FALSE;
    snap->state = active || disk_only ? VB_SNAPSHOT_STATE_DISK_SNAPSHOT
                                      : VB_SNAPSHOT_STATE_SHUTOFF;
    if (snap->memory == VB_SNAPSHOT_LOCATION_EXTERNAL) {
        /* issue 15, extmem: the memory file (domain-snapshot-memory.c) */
        p->mem = vb_snapshot_memory_prepare(snap, p->def,
                                            (p->flags & VB_SNAPSHOT_CREATE_LIVE) != 0, error);
        if (p->mem == NULL)
            return FALSE;
    }
    p->active = active;
    p->kind = PLAN_EXTERNAL;
    return TRUE;
}

/* With the nested job: decides what SnapshotCreateXML does with @p->snap, or why not. */
static gboolean
plan_create(VbDomainList *list, VbDomainObj *dom, Plan *p, GError **error)
{
    VbSnapshotStore *store = get_store(list, dom, error);
    gboolean active = FALSE, external = FALSE;

    if (store == NULL)
        return FALSE;
    p->name = g_strdup(p->snap->name);
    if (p->flags & VB_SNAPSHOT_CREATE_REDEFINE) {
        /* metadata only: the domain may run (libvirt redefines on running domains too) */
        g_mutex_lock(&dom->lock);
        p->def = vb_domain_def_copy(dom->new_def != NULL ? dom->new_def : dom->def);
        g_mutex_unlock(&dom->lock);
        if (p->def == NULL) {
            g_set_error(error, VB_ERROR, VB_ERROR_INTERNAL, "cannot copy the domain definition");
            return FALSE;
        }
        p->kind = PLAN_REDEFINE;
        return TRUE;
    }
    p->def = live_def(dom, &active, error);
    if (!active)
        p->def = inactive_def(dom, "snapshots", error);
    if (p->def == NULL || !align_disks(p, &external, error))
        return FALSE;
    if ((p->flags & VB_SNAPSHOT_CREATE_LIVE) &&
        (!active || p->snap->memory != VB_SNAPSHOT_LOCATION_EXTERNAL)) {
        g_set_error_literal(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
                            "SnapshotCreateXML: LIVE (256) is only for a running domain's "
                            "snapshot with an external memory state (<memory "
                            "snapshot='external' file='...'/>)");
        return FALSE;
    }
    if (external)
        return plan_external(store, p, active, error);
    if (p->flags & VB_SNAPSHOT_CREATE_REUSE_EXT) {
        g_set_error_literal(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                            "REUSE_EXT (32) is for external snapshots; this one is internal");
        return FALSE;
    }
    if (p->flags & VB_SNAPSHOT_CREATE_QUIESCE) {
        g_set_error_literal(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                            "QUIESCE (64) is for external disk snapshots of a running domain");
        return FALSE;
    }
    return active ? plan_live(store, p, error) : plan_inactive(store, p, error);
}

/* Stores the new snapshot @p->snap as the current one; metadata that cannot be written
 * takes the snapshot away from the images again. */
static gboolean
store_new(VbDomainList *list, VbDomainObj *dom, VbSnapshotStore *store, Plan *p,
          GError **error)
{
    g_autoptr(GError) undo_error = NULL;
    gboolean undone;

    g_free(p->snap->parent_name);
    p->snap->parent_name = g_strdup(vb_snapshot_store_get_current(store));
    vb_domain_def_free(p->snap->dom);
    p->snap->dom = g_steal_pointer(&p->def);
    if (vb_snapshot_store_add(store, g_steal_pointer(&p->snap), TRUE, error))
        return TRUE;
    if (p->kind == PLAN_EXTERNAL) {
        /* the disks are on the overlays already: that is not taken back */
        g_prefix_error(error, "snapshot '%s' taken (the disks use its new images), but its "
                       "metadata could not be written: ", p->name);
        return FALSE;
    }
    undone = p->kind == PLAN_LIVE
                 ? vb_domain_snapshot_live_delete(list, dom, p->name, p->targets, &undo_error)
                 : vb_qemu_img_snapshot_delete(p->disks, p->name, TRUE, &undo_error);
    if (!undone)
        g_warning("snapshot '%s': removing it from the disks again failed: %s", p->name,
                  undo_error->message);
    g_prefix_error(error, "snapshot '%s' not taken (its metadata could not be written): ",
                   p->name);
    return FALSE;
}

/* The new snapshot's XML as store_new() will store it, for the journal of an external
 * one (a restart after a kill writes it back; domain-snapshot-journal.c). */
static char *
preview_metadata(VbSnapshotStore *store, Plan *p)
{
    char *parent = p->snap->parent_name;
    VbDomainDef *dom = p->snap->dom;
    char *xml;

    p->snap->parent_name = (char *)vb_snapshot_store_get_current(store);
    p->snap->dom = p->def;
    xml = vb_snapshot_def_format(p->snap, VB_SNAPSHOT_FORMAT_INTERNAL |
                                              VB_SNAPSHOT_FORMAT_SECURE, NULL);
    p->snap->parent_name = parent;
    p->snap->dom = dom;
    return xml;
}

static gboolean
redefine(VbSnapshotStore *store, Plan *p, GError **error)
{
    const char *current = vb_snapshot_store_get_current(store);
    gboolean make_current = (p->flags & VB_SNAPSHOT_CREATE_CURRENT) ||
                            (current != NULL && g_str_equal(current, p->name));

    if (p->snap->dom == NULL && p->snap->dom_uuid == NULL)
        p->snap->dom = g_steal_pointer(&p->def);
    return vb_snapshot_store_add(store, g_steal_pointer(&p->snap), make_current, error);
}

/* With the nested job: what @p says, on the job's thread. */
static gboolean
plan_run(VbDomainList *list, VbDomainObj *dom, Plan *p, GError **error)
{
    VbSnapshotStore *store = get_store(list, dom, error);
    g_autofree char *metadata = NULL;
    gboolean was_running = FALSE, stored;

    if (store == NULL)
        return FALSE;
    switch (p->kind) {
    case PLAN_REDEFINE:
        return redefine(store, p, error);
    case PLAN_INACTIVE:
        if (!vb_qemu_img_snapshot_create(p->disks, p->name, error))
            return FALSE;
        break;
    case PLAN_LIVE:
        if (!vb_domain_snapshot_live_save(list, dom, p->name, p->targets, &was_running, error))
            return FALSE;
        p->snap->state = was_running ? VB_SNAPSHOT_STATE_RUNNING : VB_SNAPSHOT_STATE_PAUSED;
        break;
    case PLAN_EXTERNAL:
        if (p->mem != NULL) {
            /* issue 15, extmem: the memory first, the guest paused after it */
            if (!vb_snapshot_memory_save(list, dom, p->job, p->mem, error))
                return FALSE;
            vb_domain_async_job_phase(list, dom, p->job, "disks", FALSE);
            p->snap->state = vb_snapshot_memory_was_running(p->mem) ? VB_SNAPSHOT_STATE_RUNNING
                                                                    : VB_SNAPSHOT_STATE_PAUSED;
        }
        metadata = (p->flags & VB_SNAPSHOT_CREATE_NO_METADATA)
                       ? NULL
                       : preview_metadata(store, p);
        if (!vb_snapshot_external_take(list, dom, p->active, p->ext,
                                       (p->flags & VB_SNAPSHOT_CREATE_QUIESCE) != 0, p->owner,
                                       metadata, error)) {
            if (p->mem != NULL)
                vb_snapshot_memory_finish(list, dom, p->mem, FALSE, TRUE);
            return FALSE;
        }
        vb_snapshot_test_kill_point("external-before-metadata");
        break;
    case PLAN_REVERT_INACTIVE:
        return vb_qemu_img_snapshot_apply(p->disks, p->name, error) &&
               vb_snapshot_store_set_current(store, p->name, error);
    case PLAN_REVERT_LIVE:
        return vb_domain_snapshot_live_load(list, dom, p->name, p->targets, p->run, error) &&
               vb_snapshot_store_set_current(store, p->name, error);
    case PLAN_REVERT_START: {
        /* current only once the new QEMU runs (or the disks are reverted) */
        const VbSnapshotDef *snap = lookup(store, p->name, error);

        return snap != NULL &&
               vb_domain_snapshot_revert_start(list, dom, snap, p->flags, error) &&
               vb_snapshot_store_set_current(store, p->name, error);
    }
    case PLAN_REVERT_EXTERNAL:
        /* records the new overlays in the snapshot, which becomes current */
        return vb_snapshot_revert_ext_run(list, dom, store, p->name, p->flags, error);
    }
    stored = (p->flags & VB_SNAPSHOT_CREATE_NO_METADATA) || store_new(list, dom, store, p, error);
    if (p->kind == PLAN_EXTERNAL) /* the metadata is written (or cannot be): done */
        vb_snapshot_journal_remove(list, dom);
    if (!stored) {
        if (p->mem != NULL) /* the disks switched: the snapshot stands, the guest runs on */
            vb_snapshot_memory_finish(list, dom, p->mem, TRUE, TRUE);
        return FALSE;
    }
    if (p->mem != NULL)
        vb_snapshot_memory_finish(list, dom, p->mem, TRUE,
                                  !(p->flags & VB_SNAPSHOT_CREATE_HALT));
    /* HALT: the guest stops once its snapshot is taken (shut off, reason from-snapshot) */
    if ((p->flags & VB_SNAPSHOT_CREATE_HALT) &&
        (p->kind == PLAN_LIVE || (p->kind == PLAN_EXTERNAL && p->active)))
        vb_domain_teardown(list, dom, VB_DOMAIN_REASON_FROM_SNAPSHOT);
    return TRUE;
}

static const char *
plan_phase(PlanKind kind)
{
    switch (kind) {
    case PLAN_REDEFINE:
        return "redefine";
    case PLAN_INACTIVE:
    case PLAN_LIVE:
    case PLAN_EXTERNAL:
        return "snapshot";
    case PLAN_REVERT_INACTIVE:
    case PLAN_REVERT_LIVE:
    case PLAN_REVERT_START:
    case PLAN_REVERT_EXTERNAL:
        return "revert";
    }
    return "none";
}

/* The async job's body: @p run with the nested job held, the snapshots published before
 * the job completes (so its Completed signal finds the objects on the bus). */
static gboolean
plan_body(VbDomainList *list, VbDomainObj *dom, VbJob *job, gpointer data,
          GVariant **out_result, GError **error)
{
    Plan *p = data;
    g_autofree char *path = NULL;
    GVariantDict res;
    gboolean ok;

    p->job = job;
    vb_domain_async_job_phase(list, dom, job, plan_phase(p->kind), FALSE);
    if (!vb_domain_job_begin_nested(dom, list->config->job_wait_timeout, error))
        return FALSE;
    ok = plan_run(list, dom, p, error);
    path = plan_publish(dom, p, ok ? p->name : NULL);
    vb_domain_job_end(dom);
    if (!ok)
        return FALSE;
    g_variant_dict_init(&res, NULL);
    g_variant_dict_insert(&res, "name", "s", p->name);
    /* NO_METADATA: the snapshot is in the images only, it has no object */
    g_variant_dict_insert(&res, "snapshot", "o", path != NULL ? path : "/");
    *out_result = g_variant_dict_end(&res);
    return TRUE;
}

/*
 * Begins the async job `snapshot` for @method, lets @check decide @p under a nested job
 * (publishing the snapshots it loaded, also on error), and starts the job. REDEFINE only
 * writes metadata: it runs on the calling worker and the returned job has completed.
 */
static VbJob *
plan_start(VbDomainList *list, VbDomainObj *dom, const char *method, const char *owner,
           Plan *plan, gboolean (*check)(VbDomainList *, VbDomainObj *, Plan *, GError **),
           GError **error)
{
    g_autoptr(Plan) p = plan;
    gboolean ok, wait;

    if (!vb_domain_obj_check_alive(dom, error) ||
        !vb_domain_async_job_begin(dom, VB_ASYNC_JOB_SNAPSHOT, method, owner,
                                   list->config->job_wait_timeout, list->config->max_queued,
                                   error))
        return NULL;
    if (!vb_domain_job_begin_nested(dom, list->config->job_wait_timeout, error)) {
        vb_domain_async_job_end(dom);
        return NULL;
    }
    ok = check(list, dom, p, error);
    if (!ok)
        g_free(plan_publish(dom, p, NULL));
    vb_domain_job_end(dom);
    if (!ok) {
        vb_domain_async_job_end(dom);
        return NULL;
    }
    wait = p->kind == PLAN_REDEFINE;
    return vb_domain_async_job_start(list, dom, VB_ASYNC_JOB_SNAPSHOT, "snapshot", owner,
                                     plan_body, g_steal_pointer(&p), (GDestroyNotify)plan_free,
                                     wait);
}

/* VALIDATE with REDEFINE: the embedded <domain> and <inactiveDomain> by DefineXML's VALIDATE
 * rule (NotSupported naming what a start would not act on, by the snapshot document's
 * lines). Probes QEMU's capabilities: workers. */
static gboolean
check_embedded_domains(VbDomainList *list, const VbSnapshotDef *snap, GError **error)
{
    static const char *const what[] = { "domain", "inactiveDomain" };

    for (guint i = 0; i < G_N_ELEMENTS(what); i++) {
        const char *xml = vb_snapshot_def_get_domain_xml(snap, i == 1);
        g_auto(GStrv) unsupported = NULL;
        g_autoptr(VbDomainDef) def = NULL;

        if (xml == NULL)
            continue;
        def = vb_domain_parse_define(list, xml, &unsupported, error);
        if (def == NULL ||
            !vb_domain_unsupported_check((const char *const *)unsupported, def->name, error)) {
            g_prefix_error(error, "snapshot '%s', its <%s>: ", snap->name, what[i]);
            return FALSE;
        }
    }
    return TRUE;
}

/**
 * vb_domain_snapshot_create:
 * @owner: (nullable): the caller's bus name
 * @publish: hands the snapshots to the bus (on the job's thread, before it completes)
 *
 * SnapshotCreateXML: checks @xml and @flags against the domain (VALIDATE: @xml holds
 * nothing the parser does not know, an embedded domain nothing a start would not act on),
 * then an async job `snapshot` takes a new internal snapshot (disk-only of an inactive
 * @dom with qemu-img, memory and disks of a running one with QEMU), or (REDEFINE) stores
 * the metadata of an existing one. Its result: `name` (s), `snapshot` (o, "/" with
 * NO_METADATA). Workers.
 *
 * Returns: (transfer full): the job, or %NULL when a check failed
 */
VbJob *
vb_domain_snapshot_create(VbDomainList *list, VbDomainObj *dom, const char *xml, guint flags,
                          const char *owner, VbSnapshotPublishFunc publish, gpointer user_data,
                          GError **error)
{
    gboolean re = (flags & VB_SNAPSHOT_CREATE_REDEFINE) != 0;
    gboolean validate = (flags & VB_SNAPSHOT_CREATE_VALIDATE) != 0;
    Plan *p;
    VbSnapshotDef *snap;

    if (!check_create_flags(flags, error))
        return NULL;
    snap = vb_snapshot_def_parse_string(xml, (re ? VB_SNAPSHOT_PARSE_REDEFINE : 0) |
                                                 (validate ? VB_SNAPSHOT_PARSE_VALIDATE : 0),
                                        error);
    if (snap == NULL)
        return NULL;
    if (validate && !check_embedded_domains(list, snap, error)) {
        vb_snapshot_def_free(snap);
        return NULL;
    }
    p = plan_new(flags, owner, publish, user_data);
    p->snap = snap;
    return plan_start(list, dom, "SnapshotCreateXML", owner, p, plan_create, error);
}

/**
 * vb_domain_snapshot_get_xml:
 *
 * Returns: (transfer full): the XML of snapshot @name (flags: SECURE=1), or %NULL
 */
char *
vb_domain_snapshot_get_xml(VbDomainList *list, VbDomainObj *dom, const char *name, guint flags,
                           GError **error)
{
    VbSnapshotStore *store;
    const VbSnapshotDef *def;
    char *xml = NULL;

    if (flags & ~1u) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                    "Snapshot.GetXMLDesc: unsupported flags 0x%x", flags & ~1u);
        return NULL;
    }
    if (!begin(list, dom, VB_JOB_QUERY, "SnapshotGetXMLDesc", error))
        return NULL;
    store = get_store(list, dom, error);
    def = store != NULL ? lookup(store, name, error) : NULL;
    if (def != NULL)
        xml = vb_snapshot_def_format(def, (flags & 1) ? VB_SNAPSHOT_FORMAT_SECURE : 0, error);
    vb_domain_job_end(dom);
    return xml;
}

/* issue 15, snapstart: a revert that starts a new QEMU (domain-snapshot-start.c); what can
 * be checked now: a definition to run, the disks a snapshot without memory reverts. */
static gboolean
plan_revert_start(const VbSnapshotDef *snap, const VbDomainDef *def, Plan *p, GError **error)
{
    gboolean starts = !vb_snapshot_def_is_offline(snap) ||
                      (p->flags & (VB_SNAPSHOT_REVERT_RUNNING | VB_SNAPSHOT_REVERT_PAUSED));

    if (starts && snap->dom == NULL) {
        g_set_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
                    "snapshot '%s' holds no domain definition to start from", snap->name);
        return FALSE;
    }
    if (!starts && (p->flags & VB_SNAPSHOT_REVERT_RESET_NVRAM)) {
        g_set_error_literal(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
                            "Snapshot.Revert: RESET_NVRAM (8) only applies to a revert that "
                            "starts the domain: add RUNNING (1) or PAUSED (2)");
        return FALSE;
    }
    if (vb_snapshot_def_is_offline(snap)) {
        g_autoptr(GPtrArray) disks = vb_domain_snapshot_disks(snap, def, error);

        if (disks == NULL)
            return FALSE;
    }
    p->kind = PLAN_REVERT_START;
    return TRUE;
}

/* With the nested job: decides how the running @dom goes back to the internal snapshot
 * @snap with its memory, in place (snapshot-load), if the snapshot's definition is the
 * guest's ABI. */
static gboolean
plan_revert_live(const VbSnapshotDef *snap, const VbDomainDef *def, Plan *p, GError **error)
{
    g_autoptr(GError) abi_error = NULL;

    if (vb_snapshot_def_is_offline(snap)) {
        /* issue 15, snapstart: QEMU stops, the disks are reverted (domain-snapshot-start.c);
         * starting it again from them needs FORCE, as in libvirt */
        if ((p->flags & (VB_SNAPSHOT_REVERT_RUNNING | VB_SNAPSHOT_REVERT_PAUSED)) &&
            !(p->flags & VB_SNAPSHOT_REVERT_FORCE)) {
            g_set_error(error, VB_ERROR, VB_ERROR_INVALID_STATE,
                        "revert requires FORCE (4): snapshot '%s' holds no memory state (%s); "
                        "running the domain from it means a new QEMU", snap->name,
                        vb_snapshot_state_to_string(snap->state));
            return FALSE;
        }
        return plan_revert_start(snap, def, p, error);
    }
    if (snap->dom != NULL && !vb_domain_def_check_abi_stability(snap->dom, def, &abi_error)) {
        if (p->flags & VB_SNAPSHOT_REVERT_FORCE) /* issue 15, snapstart: a new QEMU */
            return plan_revert_start(snap, def, p, error);
        else
            g_set_error(error, VB_ERROR, VB_ERROR_INVALID_STATE,
                        "revert requires FORCE (4): snapshot '%s' was taken with a definition "
                        "the running guest cannot load: %s", snap->name, abi_error->message);
        return FALSE;
    }
    if (p->flags & VB_SNAPSHOT_REVERT_RESET_NVRAM) {
        g_set_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
                    "Snapshot.Revert: RESET_NVRAM (8) with a revert in place (the running "
                    "guest loads snapshot '%s'): the NVRAM is only made again when a new QEMU "
                    "starts; add FORCE after a definition change, or revert the shut off "
                    "domain", snap->name);
        return FALSE;
    }
    p->disks = vb_domain_snapshot_disks(snap, def, error);
    if (p->disks == NULL)
        return FALSE;
    p->targets = disk_targets(p->disks);
    p->run = (p->flags & VB_SNAPSHOT_REVERT_RUNNING) ? TRUE
             : (p->flags & VB_SNAPSHOT_REVERT_PAUSED) ? FALSE
                                                      : snap->state == VB_SNAPSHOT_STATE_RUNNING;
    p->kind = PLAN_REVERT_LIVE;
    return TRUE;
}

/* With the nested job: decides how @dom goes back to snapshot @p->name, or why not. */
static gboolean
plan_revert(VbDomainList *list, VbDomainObj *dom, Plan *p, GError **error)
{
    g_autoptr(VbDomainDef) def = NULL;
    VbSnapshotStore *store = get_store(list, dom, error);
    const VbSnapshotDef *snap = store != NULL ? lookup(store, p->name, error) : NULL;
    gboolean active = FALSE;

    if (snap == NULL)
        return FALSE;
    def = live_def(dom, &active, error);
    if (!active)
        def = inactive_def(dom, "reverts", error);
    if (def == NULL)
        return FALSE;
    if (def_is_external(snap)) {
        /* issue 15, extrevert: new overlays on the snapshot's images */
        p->kind = PLAN_REVERT_EXTERNAL;
        return vb_snapshot_revert_ext_check(dom, snap, p->flags, error);
    }
    if (active)
        return plan_revert_live(snap, def, p, error);
    /* issue 15, snapstart: started from the snapshot (memory: -loadvm; without: the disks
     * reverted, then a fresh boot) */
    if (!vb_snapshot_def_is_offline(snap) ||
        (p->flags & (VB_SNAPSHOT_REVERT_RUNNING | VB_SNAPSHOT_REVERT_PAUSED)) ||
        (p->flags & VB_SNAPSHOT_REVERT_RESET_NVRAM))
        return plan_revert_start(snap, def, p, error);
    p->disks = vb_domain_snapshot_disks(snap, def, error);
    p->kind = PLAN_REVERT_INACTIVE;
    return p->disks != NULL;
}

/**
 * vb_domain_snapshot_revert:
 * @owner: (nullable): the caller's bus name
 * @publish: as for vb_domain_snapshot_create()
 *
 * Checks, then an async job `snapshot` reverts @dom to snapshot @name: the disks of an
 * inactive domain (all or none, qemu-img), or a running domain in place, memory and disks
 * (snapshot-load); then makes it the current snapshot. Result: `name`, `snapshot`.
 * Workers.
 *
 * Returns: (transfer full): the job, or %NULL when a check failed
 */
VbJob *
vb_domain_snapshot_revert(VbDomainList *list, VbDomainObj *dom, const char *name, guint flags,
                          const char *owner, VbSnapshotPublishFunc publish, gpointer user_data,
                          GError **error)
{
    Plan *p;

    if (flags & ~0xfu) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                    "Snapshot.Revert: unsupported flags 0x%x", flags & ~0xfu);
        return NULL;
    }
    if ((flags & VB_SNAPSHOT_REVERT_RUNNING) && (flags & VB_SNAPSHOT_REVERT_PAUSED)) {
        g_set_error_literal(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                            "Snapshot.Revert: RUNNING (1) and PAUSED (2) exclude each other");
        return NULL;
    }
    p = plan_new(flags, owner, publish, user_data);
    p->name = g_strdup(name);
    return plan_start(list, dom, "SnapshotRevert", owner, p, plan_revert, error);
}

/* Removes snapshot @name from the images (unless @metadata_only) and from the store. */
static gboolean
delete_one(VbDomainList *list, VbDomainObj *dom, gboolean active, VbSnapshotStore *store,
           const VbDomainDef *def, const char *name, gboolean metadata_only, GError **error)
{
    const VbSnapshotDef *snap = lookup(store, name, error);
    g_autoptr(GPtrArray) disks = NULL;

    if (snap == NULL)
        return FALSE;
    if (!metadata_only) {
        if (def_is_external(snap)) {
            if (!vb_snapshot_revert_ext_check_delete(store, snap, error) ||
                !vb_snapshot_external_delete(list, dom, active, snap, error))
                return FALSE;
            /* the journal of the deletion goes with the metadata (issue 15, part svckill) */
            return vb_snapshot_store_remove(store, name, 0, error) &&
                   vb_snapshot_journal_done(list, dom);
        }
        disks = vb_domain_snapshot_disks(snap, def, error);
        if (disks == NULL)
            return FALSE;
        if (active) {
            /* the running QEMU holds the images: it deletes the snapshot from them */
            g_autoptr(GPtrArray) targets = disk_targets(disks);

            if (!vb_domain_snapshot_live_delete(list, dom, name, targets, error))
                return FALSE;
        } else if (!vb_qemu_img_snapshot_delete(disks, name, TRUE, error)) {
            return FALSE;
        }
    }
    return vb_snapshot_store_remove(store, name, 0, error);
}

/**
 * vb_domain_snapshot_delete:
 *
 * Deletes snapshot @name (CHILDREN: with its descendants; CHILDREN_ONLY: only those;
 * METADATA_ONLY: the images are not touched), leaves first. Worker threads.
 */
gboolean
vb_domain_snapshot_delete(VbDomainList *list, VbDomainObj *dom, const char *name, guint flags,
                          GPtrArray **out_infos, GError **error)
{
    gboolean metadata_only = (flags & VB_SNAPSHOT_DELETE_METADATA_ONLY) != 0;
    g_autoptr(VbDomainDef) def = NULL;
    g_autoptr(GPtrArray) victims = NULL;
    VbSnapshotStore *store;
    gboolean ok = FALSE, active = FALSE;

    if (flags & ~0x7u) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                    "Snapshot.Delete: unsupported flags 0x%x", flags & ~0x7u);
        return FALSE;
    }
    if ((flags & VB_SNAPSHOT_DELETE_CHILDREN) && (flags & VB_SNAPSHOT_DELETE_CHILDREN_ONLY)) {
        g_set_error_literal(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                            "Snapshot.Delete: CHILDREN (1) and CHILDREN_ONLY (4) exclude "
                            "each other");
        return FALSE;
    }
    if (!begin(list, dom, VB_JOB_MODIFY, "SnapshotDelete", error))
        return FALSE;
    store = get_store(list, dom, error);
    if (store == NULL || lookup(store, name, error) == NULL)
        goto out;
    if (!metadata_only) {
        def = live_def(dom, &active, error);
        if (!active)
            def = inactive_def(dom, "snapshot deletions", error);
        if (def == NULL)
            goto out;
    }
    victims = vb_snapshot_store_list_descendants(store, name);
    if (!(flags & VB_SNAPSHOT_DELETE_CHILDREN_ONLY))
        g_ptr_array_insert(victims, 0, g_strdup(name));
    if (!(flags & (VB_SNAPSHOT_DELETE_CHILDREN | VB_SNAPSHOT_DELETE_CHILDREN_ONLY)))
        g_ptr_array_set_size(victims, 1);
    ok = TRUE;
    /* parents first in the list: delete from the end, leaves first */
    for (guint i = victims->len; ok && i > 0; i--)
        ok = delete_one(list, dom, active, store, def, victims->pdata[i - 1], metadata_only,
                        error);
out:
    finish(dom, out_infos);
    return ok;
}

/**
 * vb_domain_snapshot_undefine:
 *
 * Before Undefine: refuses (OperationInvalid) when @dom has snapshot metadata and
 * @remove (SNAPSHOTS_METADATA) is not given, removes the metadata when it is.
 */
gboolean
vb_domain_snapshot_undefine(VbDomainList *list, VbDomainObj *dom, gboolean remove,
                            GPtrArray **out_infos, GError **error)
{
    VbSnapshotStore *store;
    gboolean ok = FALSE;
    g_autofree char *name = NULL;
    g_autofree char *dir = vb_snapshot_store_dir(list->paths->snapshot_dir, dom->uuid_str);

    /* no snapshot ever stored: no job, Undefine goes on as it always did */
    if (!g_file_test(dir, G_FILE_TEST_IS_DIR))
        return TRUE;
    if (!begin(list, dom, VB_JOB_MODIFY, "Undefine", error))
        return FALSE;
    store = get_store(list, dom, error);
    if (store != NULL && vb_snapshot_store_count(store) > 0 && !remove) {
        g_mutex_lock(&dom->lock);
        name = g_strdup(dom->def->name);
        g_mutex_unlock(&dom->lock);
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_STATE,
                    "cannot undefine domain '%s': it has %u snapshots; delete them or "
                    "undefine with flag SNAPSHOTS_METADATA (2) to remove their metadata",
                    name, vb_snapshot_store_count(store));
    } else if (store != NULL) {
        ok = vb_snapshot_store_count(store) == 0 || vb_snapshot_store_remove_all(store, error);
    }
    finish(dom, out_infos);
    return ok;
}

typedef struct {
    VbDomainList *list;
    VbSnapshotLoadedFunc done;
    gpointer user_data;
} LoadAll;

static gpointer
load_all_thread(gpointer data)
{
    LoadAll *l = data;
    VbDomainList *list = l->list;
    g_autoptr(GPtrArray) ids = vb_domain_list_collect_ids(list, VB_LIST_PERSISTENT);

    for (guint i = 0; i < ids->len; i++) {
        const VbDomainId *id = ids->pdata[i];
        g_autofree char *dir = vb_snapshot_store_dir(list->paths->snapshot_dir, id->uuid_str);
        g_autoptr(GError) error = NULL;
        g_autoptr(VbDomainObj) dom = NULL;
        GPtrArray *infos = NULL;

        if (!g_file_test(dir, G_FILE_TEST_IS_DIR))
            continue;
        /* only a domain with snapshots is loaded for them (issue 16) */
        dom = vb_domain_list_find_by_uuid(list, id->uuid_str, &error);
        if (dom == NULL) {
            if (!g_error_matches(error, VB_ERROR, VB_ERROR_NO_DOMAIN))
                g_message("domain %s: snapshots not loaded at start: %s", id->uuid_str,
                          error->message);
            continue;
        }
        if (!vb_domain_snapshot_query(list, dom, &infos, &error))
            g_message("domain %s: snapshots not loaded at start (they are on the first "
                      "snapshot call): %s", dom->uuid_str, error->message);
        if (infos != NULL && infos->len > 0)
            l->done(dom, g_steal_pointer(&infos), l->user_data);
        if (infos != NULL)
            g_ptr_array_unref(infos);
    }
    g_mutex_lock(&list->lock);
    list->job_threads--;
    g_cond_broadcast(&list->job_threads_cond);
    g_mutex_unlock(&list->lock);
    g_free(l);
    return NULL;
}

/**
 * vb_domain_snapshot_load_all:
 * @done: called (on a thread of its own) with the snapshots of each persistent domain that
 *   has some; it takes the array
 *
 * Loads the snapshots of every persistent domain in the background, at service start, so
 * their objects are on the bus before anyone asks. vb_domain_list_free() waits for it.
 */
void
vb_domain_snapshot_load_all(VbDomainList *list, VbSnapshotLoadedFunc done, gpointer user_data)
{
    LoadAll *l = g_new0(LoadAll, 1);

    l->list = list;
    l->done = done;
    l->user_data = user_data;
    g_mutex_lock(&list->lock);
    list->job_threads++;
    g_mutex_unlock(&list->lock);
    g_thread_unref(g_thread_new("vb-snapshots", load_all_thread, l));
}
