/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include "domain-list-priv.h"
#include "domain-snapshot-start.h"
#include "domain-snapshot.h"
#include "qemu-img-snapshot.h"
#include "vb-error.h"
#include "vb-log.h"

/*
 * Reverts that start a new QEMU (issue 15): an inactive domain started from a snapshot with
 * memory (-loadvm) or from a disk-only one (disks reverted, then a fresh boot), and a
 * running domain whose QEMU has to go first (FORCE with a changed definition, or a
 * snapshot without memory). The snapshot to load is passed down the start path
 * (VbStartExtra), never read from the current snapshot; the snapshot's definition is the
 * one QEMU runs and becomes the persistent one only once QEMU runs. A failed start leaves
 * the definition (start_rollback), the current snapshot (the caller sets it on success
 * only) and, for a snapshot with memory, the images as they were (-loadvm loads in QEMU's
 * memory; the images change only when the guest writes). Called with the domain's job held
 * (the nested job of the async job `snapshot`, domain-snapshot.c).
 */

/* A copy of @d named @name (the domain's name now: a rename since keeps its name). */
VbDomainDef *
vb_snapshot_domain_copy_named(const VbDomainDef *d, const char *name, GError **error)
{
    VbDomainDef *copy = vb_domain_def_copy(d);

    if (copy == NULL) {
        g_set_error_literal(error, VB_ERROR, VB_ERROR_INTERNAL,
                            "cannot copy the snapshot's domain definition");
        return NULL;
    }
    g_free(copy->name);
    copy->name = g_strdup(name);
    return copy;
}

/* With the job: the persistent definition's copy, the domain's name, whether persistent. */
static VbDomainDef *
persistent_def(VbDomainObj *dom, char **out_name, gboolean *out_persistent, GError **error)
{
    VbDomainDef *copy;

    g_mutex_lock(&dom->lock);
    copy = vb_domain_def_copy(dom->new_def != NULL ? dom->new_def : dom->def);
    *out_name = g_strdup(dom->def->name);
    *out_persistent = dom->persistent;
    g_mutex_unlock(&dom->lock);
    if (copy == NULL)
        g_set_error_literal(error, VB_ERROR, VB_ERROR_INTERNAL,
                            "cannot copy the domain definition");
    return copy;
}

/* Starts the stopped @dom from @snap (loading its memory when it has some), running or
 * paused; then the snapshot's definition is the persistent one. */
static gboolean
start_from(VbDomainList *list, VbDomainObj *dom, const VbSnapshotDef *snap, const char *name,
           gboolean run, guint flags, GError **error)
{
    g_autoptr(VbDomainDef) run_def = vb_snapshot_domain_copy_named(snap->dom, name, error);
    g_autoptr(VbDomainDef) inactive = NULL;
    g_autoptr(GError) define_error = NULL;
    VbStartExtra extra = { 0 };
    guint start_flags = 0;
    VbDomainObj *defined;

    if (run_def == NULL)
        return FALSE;
    extra.def = run_def;
    extra.loadvm = vb_snapshot_def_is_offline(snap) ? NULL : snap->name;
    extra.from_snapshot = TRUE;
    if (!run)
        start_flags |= VB_START_PAUSED;
    if (flags & VB_SNAPSHOT_REVERT_RESET_NVRAM)
        start_flags |= VB_START_RESET_NVRAM;
    if (!vb_domain_start_locked_full(list, dom, start_flags, NULL, FALSE, &extra, error)) {
        g_prefix_error(error, "revert to snapshot '%s': ", snap->name);
        return FALSE;
    }
    /* QEMU runs: now the snapshot's (inactive) definition is the domain's, on disk too
     * (DefineXML's path: the running domain keeps it aside for its next start) */
    inactive = vb_snapshot_domain_copy_named(
        snap->inactive_dom != NULL ? snap->inactive_dom : snap->dom, name, &define_error);
    defined = inactive != NULL ? vb_domain_define(list, g_steal_pointer(&inactive),
                                                  &define_error)
                               : NULL;
    if (defined == NULL)
        VB_LOG_DOMAIN(G_LOG_LEVEL_WARNING, name,
                      "reverted to snapshot '%s', but its definition could not be made the "
                      "domain's: %s", snap->name, define_error->message);
    else
        vb_domain_obj_unref(defined);
    return TRUE;
}

/**
 * vb_domain_snapshot_revert_start:
 * @flags: libvirt's virDomainSnapshotRevertFlags
 *
 * With the domain's job held: a revert that starts a new QEMU. A running @dom is stopped
 * first (Stopped detail "from-snapshot"). A snapshot with memory: QEMU starts from the
 * snapshot's definition with it loaded (-loadvm), running or paused as the snapshot was
 * (RUNNING/PAUSED override). A snapshot without memory: the disks are reverted
 * (qemu-img), then, with RUNNING or PAUSED, QEMU boots from them afresh; without, the
 * domain stays shut off. Started/Suspended detail and reason "from-snapshot". The caller
 * makes the snapshot current on success. Workers.
 */
gboolean
vb_domain_snapshot_revert_start(VbDomainList *list, VbDomainObj *dom,
                                const VbSnapshotDef *snap, guint flags, GError **error)
{
    gboolean offline = vb_snapshot_def_is_offline(snap);
    gboolean want_start = !offline || (flags & (VB_SNAPSHOT_REVERT_RUNNING |
                                                VB_SNAPSHOT_REVERT_PAUSED));
    gboolean active, persistent = FALSE, run;
    g_autofree char *name = NULL;
    g_autoptr(VbDomainDef) def = NULL;
    g_autoptr(GPtrArray) disks = NULL;

    if (want_start && snap->dom == NULL) {
        g_set_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
                    "snapshot '%s' holds no domain definition to start from", snap->name);
        return FALSE;
    }
    if (!want_start && (flags & VB_SNAPSHOT_REVERT_RESET_NVRAM)) {
        g_set_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
                    "Snapshot.Revert: RESET_NVRAM (8) only applies to a revert that starts "
                    "the domain (snapshot '%s' has no memory: add RUNNING or PAUSED)",
                    snap->name);
        return FALSE;
    }
    def = persistent_def(dom, &name, &persistent, error);
    if (def == NULL)
        return FALSE;
    g_mutex_lock(&dom->lock);
    active = dom->id >= 0 || dom->starting;
    g_mutex_unlock(&dom->lock);
    if (active && !persistent) {
        g_set_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
                    "domain '%s' is transient: a revert to snapshot '%s' would stop its QEMU, "
                    "and a transient domain is gone when it stops", name, snap->name);
        return FALSE;
    }
    if (offline) {
        /* checked before QEMU stops: a snapshot the disks cannot take leaves it running */
        disks = vb_domain_snapshot_disks(snap, def, error);
        if (disks == NULL)
            return FALSE;
    }
    if (active) {
        VB_LOG_DOMAIN(G_LOG_LEVEL_INFO, name, "revert to snapshot '%s': stopping QEMU",
                      snap->name);
        vb_domain_teardown(list, dom, VB_DOMAIN_REASON_FROM_SNAPSHOT);
    }
    if (offline && !vb_qemu_img_snapshot_apply(disks, snap->name, error)) {
        if (active)
            g_prefix_error(error, "domain '%s' was stopped for the revert, but its disks were "
                           "not reverted: ", name);
        return FALSE;
    }
    if (!want_start)
        return TRUE;
    run = (flags & VB_SNAPSHOT_REVERT_RUNNING) ? TRUE
          : (flags & VB_SNAPSHOT_REVERT_PAUSED) ? FALSE
                                                : snap->state == VB_SNAPSHOT_STATE_RUNNING;
    if (!start_from(list, dom, snap, name, run, flags, error)) {
        if (offline)
            g_prefix_error(error, "the disks were reverted, the domain did not start: ");
        return FALSE;
    }
    return TRUE;
}
